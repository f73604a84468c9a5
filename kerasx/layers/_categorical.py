"""CategoryEncoding: integer category ids as one-hot, multi-hot or count vectors (Keras 3's
`keras.layers.CategoryEncoding`, which runs on JAX in Keras too: same results, jittable)."""

import jax
import jax.numpy as jnp
import numpy as np

from ._base import Layer

_MODES = ("one_hot", "multi_hot", "count")


def encode_categories(inputs, output_mode, depth, dtype, count_weights=None):
    """Keras's dense categorical encodings of integer ids `inputs` (what the JAX backend of
    Keras computes): ids outside `[0, depth)` encode to zeros.

    - "one_hot": one vector per id; a last axis of size 1 is replaced by the encoding.
    - "multi_hot"/"count": the ids of each sample (axis 1 of a rank-2 input; the whole input
      when it has rank 1) become one vector of 0/1 (multi_hot) or of counts, weighted by
      `count_weights` (same shape as `inputs`) when given.
    """
    x = jnp.asarray(inputs)
    if x.ndim == 0:
        x = x[None]
    if output_mode == "one_hot":
        if x.ndim > 1 and x.shape[-1] == 1:
            x = x.reshape(x.shape[:-1])
        return jax.nn.one_hot(x, depth, dtype=dtype)
    axis = 1 if x.ndim > 1 else 0
    if output_mode == "multi_hot":
        return jnp.max(jax.nn.one_hot(x.astype(jnp.int32), depth, dtype=dtype), axis=axis)
    if count_weights is not None:
        weights = jnp.asarray(count_weights)
        hot = jax.nn.one_hot(x, depth, dtype=weights.dtype) * weights.reshape(x.shape)[..., None]
        return jnp.sum(hot, axis=axis)
    return jnp.sum(jax.nn.one_hot(x, depth, dtype=dtype), axis=axis)


class CategoryEncoding(Layer):
    """Encodes integer category ids as one-hot, multi-hot or count vectors.

    Args:
        num_tokens: the number of categories; ids must lie in `[0, num_tokens)` (others
            encode to zeros).
        output_mode: "one_hot" (a vector per id), "multi_hot" (default; a 0/1 vector per
            sample marking the ids it holds) or "count" (like multi_hot, with counts).
        sparse: must be False (sparse outputs are a TensorFlow-backend feature).

    Call arguments:
        inputs: integer ids, of rank 1 or 2 (Keras supports outputs up to rank 2).
        count_weights: for "count" only: weights of the same shape as `inputs`, summed
            instead of counting 1 per id.

    Input shape:
        `(batch,)` or `(batch, length)`.

    Output shape:
        "one_hot": `(batch, num_tokens)` for `(batch,)` or `(batch, 1)` inputs, else
        `(batch, length, num_tokens)`. "multi_hot"/"count": `(batch, num_tokens)` for
        `(batch, length)`, `(num_tokens,)` for `(batch,)` (the whole input is one sample).

    Example:
        layer = kerasx.layers.CategoryEncoding(num_tokens=4, output_mode="multi_hot")
        layer(np.array([[0, 1], [0, 0], [1, 2], [3, 1]]))   # (4, 4) of 0/1
    """

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if output_mode == "binary":  # Keras's deprecated name
            output_mode = "multi_hot"
        if output_mode not in _MODES:
            raise ValueError(f"Layer CategoryEncoding expects `output_mode` to be one of "
                             f"{_MODES}. Received: output_mode={output_mode!r}")
        if num_tokens is None:
            raise ValueError(
                "Layer CategoryEncoding needs `num_tokens`, the number of categories. If it "
                "is not known beforehand, use the IntegerLookup layer instead.")
        if (isinstance(num_tokens, bool) or not isinstance(num_tokens, (int, np.integer))
                or num_tokens < 1):
            raise ValueError("Layer CategoryEncoding expects `num_tokens` to be an integer >= "
                             f"1. Received: num_tokens={num_tokens!r}")
        if sparse:
            raise ValueError(
                "Layer CategoryEncoding: `sparse=True` is not supported (sparse outputs need "
                f"the TensorFlow backend). Received: sparse={sparse!r}")
        self.num_tokens = int(num_tokens)
        self.output_mode = output_mode
        self.sparse = False

    def init(self, rng, input_spec, count_weights=None):
        if not hasattr(input_spec, "shape"):
            raise ValueError(f"Layer '{self.name}' (CategoryEncoding) expects one tensor of "
                             f"integer ids. Received: {input_spec!r}")
        return {}, {}

    def apply(self, params, state, inputs, *, training=False, rng=None, count_weights=None):
        if count_weights is not None:
            if self.output_mode != "count":
                raise ValueError(
                    f"Layer '{self.name}' (CategoryEncoding): `count_weights` is only used when "
                    f"output_mode='count'. Received output_mode={self.output_mode!r} and "
                    "count_weights.")
            count_weights = jnp.asarray(count_weights, self.compute_dtype)
            if count_weights.shape != jnp.shape(inputs):
                raise ValueError(
                    f"Layer '{self.name}' (CategoryEncoding): `count_weights` must have the "
                    f"shape of the inputs {tuple(jnp.shape(inputs))}. Received: "
                    f"{tuple(count_weights.shape)}")
        out = encode_categories(inputs, self.output_mode, self.num_tokens, self.compute_dtype,
                                count_weights)
        return out, state

    def get_config(self):
        return {**super().get_config(), "num_tokens": self.num_tokens,
                "output_mode": self.output_mode}
