"""Text and categorical preprocessing: TextVectorization, StringLookup, IntegerLookup, Hashing,
HashedCrossing (Keras 3's `keras.layers`, with Keras's arguments, defaults and config keys).

Where they run:
- Strings cannot enter a compiled JAX program, so the layers that take or give strings
  (TextVectorization, StringLookup, and Hashing/HashedCrossing called on strings) run on the
  host, in NumPy, when called eagerly on arrays or lists: use them on the data, before `fit`:

      vectorizer = kerasx.layers.TextVectorization(max_tokens=1000, output_sequence_length=20)
      vectorizer.adapt(train_texts)
      x_train = vectorizer(train_texts)          # int32 token ids, on the host
      model.fit(x_train, y_train)

  Placed inside a model (called on `kerasx.Input` tensors, or traced by `jit`), they raise a
  ValueError that names the layer and says this.
- IntegerLookup, and Hashing/HashedCrossing of integers, are jittable: their vocabulary is a
  constant table, so they also work inside a model.

Vocabularies follow Keras's `IndexLookup`: `adapt` sorts tokens by count (most frequent first),
ties broken by the token in descending order (bytes for strings, numbers for integers); the mask
token (index 0, in "int" mode) and the OOV indices come first. TF-IDF weights are
`log(1 + num_documents / (1 + document_count))`, with the mean weight for the OOV indices.

Hashing differs from Keras by design: Keras hashes with TensorFlow's FarmHash64 (or SipHash64
with a `salt`), which kerasx does not have. kerasx uses one documented, stable 32-bit hash,
the same on the host and under `jit`:

    h = FNV-1a-32(seed, UTF-8 bytes of the value)  # integers (and floats, truncated to
    bucket = fmix32(h) % num_bins                    # integers) hash their decimal string

with seed 0x811C9DC5 (FNV-1a's offset basis), or with `salt=[a, b]`:
`seed = fmix32((fmix32((0x811C9DC5 ^ a) * 0x01000193) ^ b) * 0x01000193)` (32-bit arithmetic;
fmix32 is MurmurHash3's finalizer). With a `mask_value`, bucket 0 is the mask's and the
others are `fmix32(h) % (num_bins - 1) + 1`. So bucket numbers differ from Keras's: a model
trained with Keras's Hashing must be retrained (or its hashing redone) with kerasx's. As in
Keras, the integer 7 and the string "7" fall in the same bucket. The same hash picks the OOV
index of StringLookup (and of IntegerLookup with oov_method="farmhash") when
num_oov_indices > 1, and HashedCrossing mixes the hashes of its features.

Other differences from Keras: integer outputs are int32 (Keras: int64; JAX computes without
x64); `sparse=True` and `ragged=True` are refused (TensorFlow-only outputs); StringLookup with
`invert=True` returns a NumPy array of `str` (Keras: bytes); `get_config()` holds an adapted
vocabulary (and IDF weights) under "vocabulary"/"idf_weights", where Keras writes them to a
separate asset file; `adapt` on an empty dataset raises.
"""

import collections
import os
import re
from typing import Any, List, Optional

import jax
import jax.numpy as jnp
import numpy as np

from ._base import KerasTensor, Layer

# ---------------------------------------------------------------------------------- hashing
_M32 = 0xFFFFFFFF
_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_DROPPED = np.iinfo(np.int32).max  # an index that encodes to nothing (masked, non-int modes)


def _fmix32_int(h: int) -> int:
    """MurmurHash3's 32-bit finalizer on a Python int."""
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    h ^= h >> 16
    return h


def _fmix32(h):
    """MurmurHash3's 32-bit finalizer on a NumPy or JAX uint32 array (wrapping arithmetic)."""
    t = h.dtype.type
    h = h ^ (h >> t(16))
    h = h * t(0x85EBCA6B)
    h = h ^ (h >> t(13))
    h = h * t(0xC2B2AE35)
    return h ^ (h >> t(16))


def _seed_of(salt) -> int:
    """The hash's initial state for `salt` (None, or Keras's `[a, b]`)."""
    if salt is None:
        return _FNV_OFFSET
    a, b = (int(s) & _M32 for s in salt)
    h = _fmix32_int(((_FNV_OFFSET ^ a) * _FNV_PRIME) & _M32)
    return _fmix32_int(((h ^ b) * _FNV_PRIME) & _M32)


def _token_bytes(value) -> bytes:
    """The bytes a value hashes as: UTF-8 for strings, the decimal string for numbers."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (float, np.floating)):
        return str(int(value)).encode("ascii")
    return str(int(value)).encode("ascii")


def _hash_value(value, seed: int) -> int:
    """FNV-1a-32 from `seed` over the value's bytes, then fmix32 (host, one value)."""
    h = seed
    for byte in _token_bytes(value):
        h = ((h ^ byte) * _FNV_PRIME) & _M32
    return _fmix32_int(h)


def _host_hash(values: np.ndarray, seed: int) -> np.ndarray:
    """`_hash_value` of every element (host): a uint32 array of the same shape."""
    flat = values.reshape(-1)
    if flat.size == 0:
        return np.zeros(values.shape, np.uint32)
    uniques, inverse = np.unique(flat, return_inverse=True)
    hashes = np.array([_hash_value(u, seed) for u in uniques.tolist()], np.uint32)
    return hashes[inverse.reshape(-1)].reshape(values.shape)


def _hash_ints(x, seed: int, xp=jnp):
    """`_hash_value` of integers (their decimal strings) as array code: a uint32 array.

    Jittable with `xp=jax.numpy`; with `xp=numpy` the same computation on the host. Floats
    are truncated to integers first; values must fit in int32 (JAX's integers without x64).
    """
    x = xp.asarray(x)
    shape = x.shape
    x = x.reshape(-1).astype(xp.int32)  # 1D: NumPy wraps array (not scalar) arithmetic quietly
    u32 = np.uint32
    prime = u32(_FNV_PRIME)
    negative = x < 0
    bits = x.astype(xp.uint32)
    magnitude = xp.where(negative, (~bits) + u32(1), bits)  # |x|, also for INT32_MIN
    h = xp.full(x.shape, seed, xp.uint32)
    h = xp.where(negative, (h ^ u32(ord("-"))) * prime, h)
    num_digits = xp.ones(x.shape, xp.int32)
    for k in range(1, 10):
        num_digits = num_digits + (magnitude >= u32(10 ** k)).astype(xp.int32)
    for place in range(9, -1, -1):  # the most significant digit first
        digit = (magnitude // u32(10 ** place)) % u32(10)
        h = xp.where(place < num_digits, (h ^ (digit + u32(48))) * prime, h)
    return _fmix32(h).reshape(shape)


def _hash_numbers(values, seed: int, xp=jnp):
    """`_hash_value` of numbers: array code, or per value on the host for integers beyond
    int32 (which JAX cannot hold anyway)."""
    if xp is np:
        values = np.asarray(values)
        if values.dtype.kind == "f":
            values = np.trunc(values)
        if values.size and (values.min() < -2 ** 31 or values.max() > 2 ** 31 - 1):
            return _host_hash(values.astype(np.int64), seed)
    return _hash_ints(values, seed, xp)


# ---------------------------------------------------------------------------------- helpers
def _is_traced(x) -> bool:
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(x))


def _is_string_array(x) -> bool:
    """Whether `x` (an array, a list, a string) holds strings."""
    if isinstance(x, (str, bytes)):
        return True
    if isinstance(x, (jax.Array, jax.ShapeDtypeStruct)) or _is_traced(x):
        return False
    if isinstance(x, np.ndarray):
        return x.dtype.kind in "USO"
    if isinstance(x, (list, tuple)):
        try:
            return np.asarray(x).dtype.kind in "USO"
        except ValueError:  # ragged nested lists
            return True
    return False


def _to_str(v) -> str:
    return v.decode("utf-8") if isinstance(v, bytes) else str(v)


def _host_strings(x) -> np.ndarray:
    """`x` as a NumPy object array of Python `str` (bytes decoded as UTF-8)."""
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.dtype.kind == "U":
        return arr.astype(object)
    if arr.dtype.kind == "S":
        return np.char.decode(arr, "utf-8").astype(object)
    arr = np.asarray(x, dtype=object)
    out = np.empty(arr.shape, dtype=object)
    flat_in, flat_out = arr.reshape(-1), out.reshape(-1)
    for i, v in enumerate(flat_in.tolist()):
        if isinstance(v, (list, tuple, np.ndarray)):
            raise ValueError("Expected a rectangular array or list of strings (every row the "
                             f"same length). Received a nested sequence: {v!r}")
        flat_out[i] = _to_str(v)
    return out


def _string_layer_error(layer) -> ValueError:
    kind = type(layer).__name__
    return ValueError(
        f"Layer '{layer.name}' ({kind}) works on strings, which cannot enter a compiled JAX "
        "computation (a model's `fit`/`predict`/`evaluate`, `jax.jit`, or a model built from "
        "`kerasx.Input` tensors). Apply it to the data before `fit`, outside the model: "
        "`x_train = layer(texts)` gives an array of ids; then `model.fit(x_train, y_train)` "
        "with a model that starts after this layer.")


def _check_name(layer_cls: str, arg: str, value, allowed, allow_none=False,
                allow_callable=False):
    if value is None and allow_none:
        return
    if callable(value) and allow_callable:
        return
    if value not in allowed:
        extra = (" or None" if allow_none else "") + (" or a callable" if allow_callable else "")
        raise ValueError(f"Layer {layer_cls} expects `{arg}` to be one of {tuple(allowed)}"
                         f"{extra}. Received: {arg}={value!r}")


def _adapt_batches(layer, data, steps):
    """Keras's adapt input protocol: an array or list is one batch (rank 1 becomes `(n, 1)`:
    one document per element); any other iterable yields batches (a tuple `(x, y)` gives x)."""
    if steps is not None and (isinstance(steps, bool) or not isinstance(
            steps, (int, np.integer)) or steps < 1):
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): `steps` of `adapt` "
                         f"must be a positive integer. Received: steps={steps!r}")
    if isinstance(data, (str, bytes)):
        raise TypeError(f"Layer '{layer.name}' ({type(layer).__name__}): `adapt` takes an "
                        "array or list of samples, or an iterable of batches. Received a "
                        "single string; wrap it in a list.")
    if isinstance(data, (list, tuple, np.ndarray, jax.Array)):
        arr = np.asarray(data) if not isinstance(data, np.ndarray) else data
        if arr.ndim == 1:
            arr = arr[:, None]
        return [arr], True
    if not hasattr(data, "__iter__"):
        raise TypeError(
            f"Layer '{layer.name}' ({type(layer).__name__}): `adapt` takes a NumPy or JAX "
            "array, a list, or an iterable of batches (a generator, a dataset yielding `x` or "
            f"`(x, y)`). Received: {type(data).__name__}")

    def gen():
        for i, batch in enumerate(data):
            if steps is not None and i >= steps:
                break
            if isinstance(batch, tuple) and batch and not isinstance(batch[0], (str, bytes)):
                batch = batch[0]
            yield np.asarray(batch)

    return gen(), False


def _encode(indices, output_mode, depth, idf_weights=None, xp=jnp):
    """TensorFlow-Keras's encodings of lookup indices (`encode_categorical_inputs` with its
    bincount fast path): indices outside `[0, depth)` (masked tokens) encode to nothing.
    Array code: jittable with `xp=jax.numpy`, host NumPy with `xp=numpy`.

    - "one_hot": a last axis of size 1 is replaced by the encoding, otherwise one is added.
    - "multi_hot"/"count"/"tf_idf": the last axis is the sample (rank 1: one sample; rank 2:
      a batch of samples); rank > 2 is an error, as in Keras.
    """
    x = xp.asarray(indices).astype(xp.int32)
    if x.ndim == 0:
        x = x[None]
    classes = xp.arange(depth, dtype=xp.int32)
    if output_mode == "one_hot":
        if x.shape[-1] == 1:
            x = x[..., 0]
        return (x[..., None] == classes).astype(xp.float32)
    if x.ndim > 2:
        raise ValueError(
            f"When output_mode is not 'int', the maximum supported output rank is 2. Received "
            f"output_mode={output_mode!r} and inputs of shape {tuple(x.shape)}, which would "
            f"result in output rank {x.ndim}.")
    # counts per sample by a scatter-add (no (samples, tokens, depth) one-hot in memory)
    rows = x.reshape(1, -1) if x.ndim == 1 else x
    rows = xp.where((rows >= 0) & (rows < depth), rows, depth)  # out of range: dropped
    if xp is np:
        flat = (np.arange(rows.shape[0])[:, None] * (depth + 1) + rows).reshape(-1)
        counts = np.bincount(flat, minlength=rows.shape[0] * (depth + 1)).reshape(
            rows.shape[0], depth + 1)[:, :depth].astype(np.float32)
    else:
        counts = jnp.zeros((rows.shape[0], depth), jnp.float32).at[
            jnp.arange(rows.shape[0])[:, None], rows].add(1.0, mode="drop")
    if x.ndim == 1:
        counts = counts[0]
    if output_mode == "multi_hot":
        return (counts > 0).astype(xp.float32)
    if output_mode == "tf_idf":
        return counts * xp.asarray(idf_weights, xp.float32)
    return counts


def _to_jax(x):
    """Host results as JAX arrays (what Keras returns on the JAX backend); strings stay NumPy."""
    return jax.tree.map(lambda a: a if np.asarray(a).dtype.kind in "USO" else jnp.asarray(a), x)


# ---------------------------------------------------------------------------------- host layers
class _HostLayer(Layer):
    """A layer that runs on the host (NumPy) for strings and on JAX for numbers.

    Subclasses set `_strings_only` (the layer always takes or gives strings) and implement
    `_host_call(inputs)` (concrete data with strings) and `_numeric_call(inputs, xp)`
    (numbers, as array code: jittable with `xp=jax.numpy`; run with NumPy on concrete data,
    which is exact and compiles nothing, then handed back as JAX arrays).
    """

    _strings_only = False

    def _needs_host(self, inputs) -> bool:
        leaves = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        return self._strings_only or any(_is_string_array(v) for v in leaves)

    def __call__(self, inputs, *args, **kwargs):
        leaves = jax.tree.leaves(inputs, is_leaf=lambda t: isinstance(t, KerasTensor))
        if any(isinstance(t, KerasTensor) for t in leaves):
            if self._strings_only:
                raise _string_layer_error(self)
            return super().__call__(inputs, *args, **kwargs)
        if not _is_traced(inputs) and self._needs_host(inputs):
            kwargs.pop("training", None)
            return self._host_call(inputs, *args, **kwargs)
        return super().__call__(inputs, *args, **kwargs)

    def init(self, rng, input_spec, *args, **kwargs):
        return {}, {}

    def apply(self, params, state, inputs, *, training=False, rng=None, **kwargs):
        if _is_traced(inputs):
            if self._strings_only:
                raise _string_layer_error(self)
            return self._numeric_call(inputs, xp=jnp, **kwargs), state
        if self._needs_host(inputs):
            return self._host_call(inputs, **kwargs), state
        return _to_jax(self._numeric_call(inputs, xp=np, **kwargs)), state

    def _numeric_call(self, inputs, xp, **kwargs):
        raise _string_layer_error(self)

    def _host_call(self, inputs, **kwargs):
        raise NotImplementedError


# ---------------------------------------------------------------------------------- lookups
_LOOKUP_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


class _IndexLookup(_HostLayer):
    """The shared machinery of StringLookup and IntegerLookup (Keras's `IndexLookup`)."""

    _is_string = True
    _owner = None  # the class name errors give (TextVectorization for its inner lookup)

    @property
    def _kind(self) -> str:
        return self._owner or type(self).__name__

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=None,
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, oov_method="floormod", salt=None,
                 vocabulary_size=None, has_input_vocabulary=None, **kwargs):
        super().__init__(**kwargs)
        cls = self._kind
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(
                max_tokens, (int, np.integer)) or max_tokens <= 1):
            raise ValueError(f"Layer {cls}: if set, `max_tokens` must be an integer greater "
                             f"than 1. Received: max_tokens={max_tokens!r}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"Layer {cls}: if pad_to_max_tokens is True, `max_tokens` must "
                             f"be set. Received: max_tokens={max_tokens}")
        if (isinstance(num_oov_indices, bool) or not isinstance(num_oov_indices, (int, np.integer))
                or num_oov_indices < 0):
            raise ValueError(f"Layer {cls}: `num_oov_indices` must be an integer >= 0. "
                             f"Received: num_oov_indices={num_oov_indices!r}")
        _check_name(cls, "oov_method", oov_method, ("floormod", "farmhash"))
        if salt is not None:
            if not self._is_string and oov_method != "farmhash":
                raise ValueError(f"Layer {cls}: `salt` can only be used when "
                                 f"oov_method='farmhash'. Received: oov_method={oov_method!r}")
            if isinstance(salt, (tuple, list)) and len(salt) == 2:
                salt = [int(s) for s in salt]
            elif isinstance(salt, (int, np.integer)) and not isinstance(salt, bool):
                salt = [int(salt), int(salt)]
            else:
                raise ValueError(f"Layer {cls}: `salt` must be a tuple of 2 integers or a "
                                 f"single integer. Received: salt={salt!r}")
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        _check_name(cls, "output_mode", output_mode, _LOOKUP_MODES)
        if invert and output_mode != "int":
            raise ValueError(f"Layer {cls}: `output_mode` must be 'int' when `invert` is true. "
                             f"Received: output_mode={output_mode!r}")
        if sparse:
            raise ValueError(
                f"Layer {cls}: `sparse=True` is not supported (sparse outputs need the "
                f"TensorFlow backend). Received: sparse={sparse!r}")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(f"Layer {cls}: `idf_weights` should only be set if `output_mode` "
                             f"is 'tf_idf'. Received: output_mode={output_mode!r}")
        self.max_tokens = None if max_tokens is None else int(max_tokens)
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.invert = bool(invert)
        self.output_mode = output_mode
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.sparse = False
        self.oov_method = oov_method
        self.salt = salt
        self._tokens: Optional[List[Any]] = None   # the learned/set tokens, specials excluded
        self._idf: Optional[np.ndarray] = None     # full-length idf weights (tf_idf)
        self._config_vocabulary = None             # what get_config writes
        self._config_idf = None
        self._has_input_vocabulary = (vocabulary is not None if has_input_vocabulary is None
                                      else bool(has_input_vocabulary))
        if output_mode == "tf_idf" and vocabulary is not None and idf_weights is None:
            raise ValueError(f"Layer {cls}: with the `vocabulary` argument in 'tf_idf' output "
                             "mode, the `idf_weights` argument must also be provided.")
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # -- indices
    def _oov_start_index(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self) -> int:
        return self._oov_start_index() + self.num_oov_indices

    def vocabulary_size(self) -> int:
        """The size of the vocabulary, mask and OOV indices included."""
        return len(self._tokens or []) + self._token_start_index()

    def get_vocabulary(self, include_special_tokens=True):
        """The vocabulary: a list whose i-th entry is the token of index i (the mask and OOV
        tokens first), or, with `include_special_tokens=False`, the learned tokens only."""
        vocab = [self.oov_token] * self._token_start_index() + list(self._tokens or [])
        if self.mask_token is not None and self.output_mode == "int":
            vocab[0] = self.mask_token
        if not include_special_tokens:
            vocab = vocab[self._token_start_index():]
        return vocab

    def _convert_vocab(self, values) -> List[Any]:
        raise NotImplementedError

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Sets the vocabulary (and, for "tf_idf", the IDF weights) directly.

        Args:
            vocabulary: a list, tuple or 1D array of tokens, or the path of a text file with
                one token per line. It may start with the special tokens (mask, then OOV) in
                the layer's order; otherwise they are added.
            idf_weights: for output_mode="tf_idf" (required there): one weight per entry of
                `vocabulary`.
        """
        cls, name = self._kind, self.name
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError(f"Layer '{name}' ({cls}): `idf_weights` must be set if "
                                 "output_mode is 'tf_idf'.")
        elif idf_weights is not None:
            raise ValueError(f"Layer '{name}' ({cls}): `idf_weights` should only be set if "
                             f"output_mode is 'tf_idf'. Received: output_mode="
                             f"{self.output_mode!r} and idf_weights={idf_weights!r}")
        if isinstance(vocabulary, str):
            if not os.path.exists(vocabulary):
                raise ValueError(f"Layer '{name}' ({cls}): vocabulary file {vocabulary} does "
                                 "not exist.")
            if self.output_mode == "tf_idf":
                raise ValueError(f"Layer '{name}' ({cls}): output_mode 'tf_idf' does not "
                                 "support loading a vocabulary from a file.")
            with open(vocabulary, encoding="utf-8") as f:
                lines = f.read().splitlines()
            while lines and lines[-1] == "":
                lines.pop()
            vocabulary = lines if self._is_string else [int(v) for v in lines]
        values = self._convert_vocab(np.asarray(vocabulary).reshape(-1).tolist()
                                     if not isinstance(vocabulary, (list, tuple))
                                     else list(vocabulary))
        if not values:
            raise ValueError(f"Layer '{name}' ({cls}): cannot set an empty vocabulary. "
                             f"Received: vocabulary={vocabulary!r}")
        token_start = self._token_start_index()
        specials = ([self.mask_token] * self._oov_start_index()
                    + [self.oov_token] * self.num_oov_indices)
        found_specials = values[:token_start] == specials
        tokens = values[token_start:] if found_specials else values
        repeated = [t for t, c in collections.Counter(tokens).items() if c > 1]
        if repeated:
            raise ValueError(f"Layer '{name}' ({cls}): the vocabulary has repeated terms. "
                             f"Please uniquify it. The repeated terms are: {repeated}")
        if self.mask_token is not None and self.mask_token in tokens:
            raise ValueError(
                f"Layer '{name}' ({cls}): found the reserved mask token {self.mask_token!r} at "
                "an unexpected location in `vocabulary`. The vocabulary does not need the mask "
                "and OOV tokens; either remove them all or put them at the start in exactly "
                f"this order: {specials}.")
        if self.oov_token is not None and self.invert and self.oov_token in tokens:
            raise ValueError(
                f"Layer '{name}' ({cls}): found the reserved OOV token {self.oov_token!r} at "
                "an unexpected location in `vocabulary`. The vocabulary does not need the mask "
                "and OOV tokens; either remove them all or put them at the start in exactly "
                f"this order: {specials}.")
        size = token_start + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(
                f"Layer '{name}' ({cls}): attempted to set a vocabulary larger than the maximum "
                f"vocabulary size. Received vocabulary size {size}; `max_tokens` is "
                f"{self.max_tokens}.")
        idf = None
        if self.output_mode == "tf_idf":
            idf = np.asarray(idf_weights, np.float64)
            if idf.ndim != 1:
                raise ValueError(f"Layer '{name}' ({cls}): `idf_weights` must be a 1D array. "
                                 f"Received shape {idf.shape}")
            if len(idf) != len(values):
                raise ValueError(
                    f"Layer '{name}' ({cls}): `idf_weights` must have the length of the "
                    f"vocabulary. len(idf_weights) is {len(idf)}; len(vocabulary) is "
                    f"{len(values)}")
            front = 0 if found_specials else token_start
            front_value = 0.0 if found_specials else float(np.average(idf))
            back = (self.max_tokens - front - len(idf)) if self.pad_to_max_tokens else 0
            idf = np.pad(idf, (front, back), constant_values=(front_value, 0.0)).astype(
                np.float32)
        self._tokens = list(tokens)
        self._idf = idf
        self._config_vocabulary = list(values)
        self._config_idf = None if idf_weights is None else np.asarray(
            idf_weights, np.float64).tolist()

    # -- adapt
    def adapt(self, data, steps=None):
        """Learns the vocabulary from `data`: tokens sorted by count (most frequent first,
        ties broken by the token, descending), at most `max_tokens` entries in all.

        Args:
            data: an array or list of tokens (each element of a 1D array is one document
                for "tf_idf"), or an iterable of batches (a generator, a dataset yielding
                batches or `(x, y)` tuples).
            steps: the number of batches to use from an iterable (default: all).
        """
        self._adapt_rows(self._rows_of(batch, first) for batch, first in self._batches(
            data, steps))

    def _batches(self, data, steps):
        batches, whole = _adapt_batches(self, data, steps)
        for batch in batches:
            yield batch, whole

    def _rows_of(self, batch, whole):
        """One adapt batch as a list of documents (lists of tokens), Keras's way: a rank-1
        batch from an iterable is one document; rank 2 is a batch of documents."""
        batch = np.asarray(batch)
        if batch.ndim == 0:
            batch = batch[None]
        if batch.ndim == 1:
            batch = batch[None]
        rows = batch.reshape(batch.shape[0], int(np.prod(batch.shape[1:])))
        return [self._convert_vocab(r.tolist()) for r in rows]

    def _adapt_rows(self, batches_of_rows):
        cls, name = self._kind, self.name
        if self._has_input_vocabulary:
            raise ValueError(
                f"Cannot adapt layer '{name}' ({cls}) after setting a static vocabulary via "
                "the `vocabulary` argument. Create the layer without `vocabulary` to adapt it.")
        counts, doc_counts = collections.Counter(), collections.Counter()
        num_docs = num_samples = 0
        for rows in batches_of_rows:
            for row in rows:
                num_samples += 1
                counts.update(row)
                if self.output_mode == "tf_idf":
                    doc_counts.update(set(row))
                    num_docs += 1
        if num_samples == 0:
            raise ValueError(f"Layer '{name}' ({cls}): `adapt` received an empty dataset (no "
                             "samples). Pass at least one non-empty batch.")
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                counts.pop(special, None)
        if not counts:  # as Keras: nothing learned, the vocabulary stays as it was
            if self._tokens is None:
                self._tokens = []
            return
        # counts descending, ties by the token descending (Keras: lexsort(...)[::-1])
        key = ((lambda t: t.encode("utf-8")) if self._is_string else (lambda t: t))
        tokens = sorted(counts, key=lambda t: (counts[t], key(t)), reverse=True)
        if self.max_tokens:
            tokens = tokens[:self.max_tokens - self._token_start_index()]
        self._tokens = tokens
        self._config_vocabulary = list(tokens)
        self._idf = None
        self._config_idf = None
        if self.output_mode == "tf_idf":
            df = np.array([doc_counts[t] for t in tokens], np.float64)
            idf = np.log(1.0 + num_docs / (1.0 + df))
            self._config_idf = idf.astype(np.float32).astype(np.float64).tolist()
            full = np.pad(idf, (self._token_start_index(), 0), constant_values=idf.mean())
            if self.pad_to_max_tokens:
                full = np.pad(full, (0, self.max_tokens - len(full)))
            self._idf = full.astype(np.float32)

    # -- calling
    def _depth(self) -> int:
        if self.pad_to_max_tokens:
            return self.max_tokens
        if self._tokens is None:
            raise RuntimeError(
                f"Layer '{self.name}' ({self._kind}) with output_mode="
                f"{self.output_mode!r} and pad_to_max_tokens=False needs its vocabulary before "
                "it is called. Pass a `vocabulary` argument to the layer, or call `adapt` "
                "with some sample data.")
        return self.vocabulary_size()

    def _oov_buckets_host(self, values: np.ndarray) -> np.ndarray:
        """OOV index offsets in `[0, num_oov_indices)` (host)."""
        if not self._is_string and self.oov_method == "floormod":
            return np.mod(values.astype(np.int64), self.num_oov_indices)
        return (_host_hash(values, _seed_of(self.salt)) % np.uint32(
            self.num_oov_indices)).astype(np.int64)

    def _lookup_host(self, values: np.ndarray) -> np.ndarray:
        """Forward lookup of tokens on the host: int64 indices (masked tokens: 0 in "int"
        mode, `_DROPPED` otherwise); raises on OOV tokens when num_oov_indices is 0."""
        cached = self.__dict__.get("_table_cache")
        start = self._token_start_index()
        if cached is None or cached[0] is not self._tokens or cached[1] != start:
            cached = (self._tokens, start,
                      {t: i + start for i, t in enumerate(self._tokens or [])})
            object.__setattr__(self, "_table_cache", cached)
        table = cached[2]
        flat = values.reshape(-1)
        get = table.get
        out = np.fromiter((get(t, -1) for t in flat.tolist()), np.int64, count=flat.size)
        found = out >= 0
        if self.num_oov_indices == 1:
            out[~found] = self._oov_start_index()
        elif self.num_oov_indices > 1 and (~found).any():
            out[~found] = self._oov_start_index() + self._oov_buckets_host(
                np.asarray(flat[~found]))
        if self.mask_token is not None:
            is_mask = np.asarray(flat == self.mask_token, bool).reshape(flat.shape)
            out[is_mask] = 0 if self.output_mode == "int" else _DROPPED
            found |= is_mask
        if self.num_oov_indices == 0 and not found.all():
            raise ValueError(
                f"Layer '{self.name}' ({self._kind}): when `num_oov_indices=0` all "
                f"inputs should be in the vocabulary; found OOV values "
                f"{sorted(set(flat[~found].tolist()), key=str)[:10]}. Consider setting "
                "`num_oov_indices=1`.")
        return out.reshape(values.shape)

    def _finish(self, indices, xp=np):
        """Lookup indices -> the layer's output (int32 ids or float32 encodings), as `xp`
        array code."""
        if self.output_mode == "int":
            return xp.asarray(indices).astype(xp.int32)
        return _encode(indices, self.output_mode, self._depth(), self._idf, xp)

    def _inverse_table(self):
        return self.get_vocabulary(include_special_tokens=True)

    def get_config(self):
        return {**super().get_config(), "invert": self.invert, "max_tokens": self.max_tokens,
                "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token,
                "mask_token": self.mask_token, "output_mode": self.output_mode,
                "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
                "idf_weights": self._config_idf, "vocabulary": self._config_vocabulary,
                "vocabulary_size": (None if self._tokens is None else self.vocabulary_size()),
                "oov_method": self.oov_method, "salt": self.salt}


_LOOKUP_ARGS_DOC = """
        max_tokens: the largest vocabulary size, mask and OOV indices included (None: no
            limit); `adapt` keeps the most frequent tokens.
        num_oov_indices: the number of indices for out-of-vocabulary tokens (default 1). With
            more than one, an OOV token goes to an index chosen by {oov_rule}; with 0, an OOV
            token is an error.
        mask_token: the token that means "masked" (index 0 in "int" mode; encodes to nothing in
            the other modes); None (default) for no mask index.
        oov_token: the token `invert=True` gives for OOV indices ({oov_default}).
        vocabulary: a list or 1D array of tokens, or a text file with one per line; or call
            `adapt`. Kept in the config, so a saved model keeps it.
        idf_weights: for output_mode="tf_idf" with `vocabulary`: the IDF weight of each token.
        invert: map indices back to tokens (output_mode "int" only).
        output_mode: "int" (indices, default), "one_hot", "multi_hot", "count" or "tf_idf".
        pad_to_max_tokens: make the encodings `max_tokens` wide whatever the vocabulary size.
        sparse: must be False (sparse outputs need the TensorFlow backend).
"""


class StringLookup(_IndexLookup):
    __doc__ = """Maps strings to integer indices from a vocabulary (or back, with `invert=True`).

    Runs on the host (NumPy): apply it to the data before `fit`, not inside a model (it raises
    there, naming the layer).

    Args:{args}        encoding: the text encoding of byte strings (default "utf-8").
        salt: a seed for the OOV hashing ([a, b] or one int); see the module docstring.

    Input shape:
        Strings of any shape (an array or a list); with `invert=True`, integer indices.

    Output shape:
        "int": the input's (int32 indices, or strings with `invert=True`). "one_hot": the
        input's plus a last axis of the vocabulary size (replacing a last axis of size 1).
        "multi_hot"/"count"/"tf_idf": `(batch, vocabulary size)` for `(batch, tokens)`.

    Example:
        layer = kerasx.layers.StringLookup(vocabulary=["a", "b", "c"])
        layer([["a", "c"], ["d", "b"]])    # [[1, 3], [0, 2]]: 0 is the OOV index
    """.format(args=_LOOKUP_ARGS_DOC.format(
        oov_rule="a stable hash (not Keras's FarmHash, so not Keras's index)",
        oov_default='"[UNK]"'))

    _is_string = True
    _strings_only = True

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]",
                 vocabulary=None, idf_weights=None, invert=False, output_mode="int",
                 pad_to_max_tokens=False, sparse=False, encoding="utf-8", name=None, salt=None,
                 **kwargs):
        self.encoding = encoding
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=mask_token, oov_token=oov_token, vocabulary=vocabulary,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode,
                         pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, name=name,
                         salt=salt, **kwargs)

    def _convert_vocab(self, values):
        return [v.decode(self.encoding) if isinstance(v, bytes) else str(v) for v in values]

    def _host_call(self, inputs):
        if self.invert:
            indices = np.asarray(inputs)
            if indices.dtype.kind not in "iu":
                raise ValueError(f"Layer '{self.name}' (StringLookup) with invert=True maps "
                                 f"integer indices to strings. Received dtype {indices.dtype}")
            table = np.array(self._inverse_table(), dtype=object)
            inside = (indices >= 0) & (indices < len(table))
            out = np.where(inside, table[np.clip(indices, 0, len(table) - 1)], self.oov_token)
            return out.astype(str)
        values = _host_strings(inputs)
        return jnp.asarray(self._finish(self._lookup_host(values)))

    def _needs_host(self, inputs):
        return True

    def get_config(self):
        return {**super().get_config(), "encoding": self.encoding}


class IntegerLookup(_IndexLookup):
    __doc__ = """Maps integers to contiguous indices from a vocabulary (or back: `invert=True`).

    Jittable: the vocabulary is a constant table, so it works inside a model as well as on
    the data. Eager calls compute with NumPy in int64; compiled ones in int32 (JAX without
    x64), where tokens beyond the int32 range cannot be told apart.

    Args:{args}        vocabulary_dtype: must be "int64" (Keras's only choice; kerasx computes
            in int32, as JAX does without x64).
        oov_method: "floormod" (default: OOV index = token mod num_oov_indices, as Keras) or
            "farmhash" (a stable hash of the token's decimal string; not Keras's FarmHash).
        salt: a seed for oov_method="farmhash" ([a, b] or one int).

    Input shape:
        Integers of any shape.

    Output shape:
        "int": the input's (int32). "one_hot": the input's plus a last axis of the vocabulary
        size (replacing a last axis of size 1). "multi_hot"/"count"/"tf_idf":
        `(batch, vocabulary size)` for `(batch, tokens)`.

    Example:
        layer = kerasx.layers.IntegerLookup(vocabulary=[12, 36, 1138, 42])
        layer(np.array([[12, 1138, 42], [42, 1000, 36]]))   # [[1, 3, 4], [4, 0, 2]]
    """.format(args=_LOOKUP_ARGS_DOC.format(
        oov_rule="`oov_method`", oov_default="-1"))

    _is_string = False
    _strings_only = False

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1,
                 vocabulary=None, vocabulary_dtype="int64", idf_weights=None, invert=False,
                 output_mode="int", sparse=False, pad_to_max_tokens=False,
                 oov_method="floormod", salt=None, name=None, **kwargs):
        if vocabulary_dtype != "int64":
            raise ValueError("Layer IntegerLookup: only vocabulary_dtype='int64' is supported. "
                             f"Received: vocabulary_dtype={vocabulary_dtype!r}")
        self.vocabulary_dtype = "int64"
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices,
                         mask_token=None if mask_token is None else int(mask_token),
                         oov_token=None if oov_token is None else int(oov_token),
                         vocabulary=vocabulary, idf_weights=idf_weights, invert=invert,
                         output_mode=output_mode, pad_to_max_tokens=pad_to_max_tokens,
                         sparse=sparse, oov_method=oov_method, salt=salt, name=name, **kwargs)

    def _convert_vocab(self, values):
        out = []
        for v in values:
            if isinstance(v, (str, bytes)) or (isinstance(v, float) and not float(v).is_integer()):
                raise ValueError(f"Layer IntegerLookup expects integer tokens. Received: {v!r}")
            out.append(int(v))
        return out

    def _needs_host(self, inputs):
        return False

    def _host_call(self, inputs):  # (not reached: integers are numeric)
        return _to_jax(self._numeric_call(inputs, np))

    def _numeric_call(self, inputs, xp):
        x = xp.asarray(inputs)
        if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
            raise ValueError(f"Layer '{self.name}' (IntegerLookup) expects integer inputs. "
                             f"Received dtype {x.dtype}")
        x = x.astype(np.int64 if xp is np else jnp.int32)
        if self.invert:
            table = np.array(self._inverse_table(), np.int64).astype(x.dtype)
            inside = (x >= 0) & (x < table.shape[0])
            oov = -1 if self.oov_token is None else self.oov_token
            return xp.where(inside, xp.asarray(table)[xp.clip(x, 0, table.shape[0] - 1)],
                            oov).astype(x.dtype)
        tokens = np.asarray(self._tokens or [], np.int64)
        start = self._token_start_index()
        if tokens.size:
            order = np.argsort(tokens, kind="stable")
            keys = xp.asarray(tokens[order].astype(x.dtype))
            values = xp.asarray((order + start).astype(np.int32))
            pos = xp.clip(xp.searchsorted(keys, x), 0, keys.shape[0] - 1)
            found = keys[pos] == x
            idx = values[pos]
        else:
            found = xp.zeros(x.shape, bool)
            idx = xp.zeros(x.shape, xp.int32)
        if self.num_oov_indices == 0:
            default = xp.full(x.shape, -1, xp.int32)
        elif self.num_oov_indices == 1:
            default = xp.full(x.shape, self._oov_start_index(), xp.int32)
        elif self.oov_method == "floormod":
            default = (xp.mod(x, self.num_oov_indices) + self._oov_start_index()).astype(xp.int32)
        else:
            default = (_hash_numbers(x, _seed_of(self.salt), xp) % np.uint32(
                self.num_oov_indices)).astype(xp.int32) + self._oov_start_index()
        out = xp.where(found, idx, default)
        if self.mask_token is not None:
            is_mask = x == self.mask_token
            out = xp.where(is_mask, 0 if self.output_mode == "int" else _DROPPED, out)
            found = found | is_mask
        if self.num_oov_indices == 0 and xp is np and not found.all():
            bad = sorted(set(x[~found].tolist()))[:10]
            raise ValueError(
                f"Layer '{self.name}' (IntegerLookup): when `num_oov_indices=0` all inputs "
                f"should be in the vocabulary; found OOV values {bad}. Consider setting "
                "`num_oov_indices=1`.")
        return self._finish(out, xp)

    def get_config(self):
        config = super().get_config()
        config["vocabulary_dtype"] = self.vocabulary_dtype
        return config


# ------------------------------------------------------------------------------ TextVectorization
class _TextLookup(StringLookup):
    """TextVectorization's vocabulary: a StringLookup whose errors name TextVectorization."""

    _owner = "TextVectorization"


_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")


class TextVectorization(_HostLayer):
    """Turns raw strings into token ids (or multi-hot, count or TF-IDF vectors).

    Each string is standardized (lowercased, punctuation stripped), split into tokens (on
    whitespace), optionally combined into n-grams, and looked up in a vocabulary learned with
    `adapt(texts)` or passed as `vocabulary=`. Index 0 is padding (the mask token "") and
    index 1 is "[UNK]" (out of vocabulary) in "int" mode.

    Runs on the host (NumPy): apply it to the data before `fit`, not inside a model (it raises
    there, naming the layer):

        vectorizer = kerasx.layers.TextVectorization(max_tokens=5000,
                                                     output_sequence_length=32)
        vectorizer.adapt(train_texts)
        model.fit(vectorizer(train_texts), y_train)

    Args:
        max_tokens: the largest vocabulary size, padding and OOV included (None: no limit).
        standardize: "lower_and_strip_punctuation" (default), "lower", "strip_punctuation",
            None, or a callable that takes a NumPy array of `str` and returns one (Keras's
            non-TensorFlow behaviour). Lowercasing is ASCII-only, as TensorFlow's.
        split: "whitespace" (default; ASCII whitespace, runs of it count once), "character",
            None (the inputs are tokens already), or a callable that takes a 1D NumPy array of
            `str` and returns one sequence of tokens per element.
        ngrams: None, an int n (all 1..n-grams) or a tuple of ints (those n-gram sizes);
            n-grams join tokens with a space, all 1-grams first, then 2-grams, ...
        output_mode: "int" (default), "multi_hot", "count", "tf_idf" (or "one_hot").
        output_sequence_length: for "int": pad with 0 or cut every row to this length (None:
            pad to the longest row of the batch).
        pad_to_max_tokens: make the vectors of the non-int modes `max_tokens` wide.
        vocabulary: a list of tokens (or a file with one token per line); kept in the
            config, so a saved model keeps it. An adapted vocabulary is kept there too.
        idf_weights: for "tf_idf" with `vocabulary`: one weight per token.
        sparse, ragged: must be False (TensorFlow-only outputs).
        encoding: the text encoding of byte strings (default "utf-8").

    Input shape:
        `(batch,)` or `(batch, 1)` strings (an array or a list), or one string.

    Output shape:
        "int": `(batch, output_sequence_length)` int32. Other modes: `(batch, depth)` float32,
        where depth is the vocabulary size (or `max_tokens` with pad_to_max_tokens).
    """

    _strings_only = True

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation",
                 split="whitespace", ngrams=None, output_mode="int",
                 output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None,
                 **kwargs):
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", None)
        kwargs.pop("vocabulary_size", None)  # derived from the vocabulary
        super().__init__(name=name, **kwargs)
        _check_name("TextVectorization", "standardize", standardize, _STANDARDIZE,
                    allow_none=True, allow_callable=True)
        _check_name("TextVectorization", "split", split, _SPLIT, allow_none=True,
                    allow_callable=True)
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        _check_name("TextVectorization", "output_mode", output_mode, _LOOKUP_MODES)
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        if not (ngrams is None or (isinstance(ngrams, int) and not isinstance(ngrams, bool)
                                   and ngrams >= 1)
                or (isinstance(ngrams, tuple) and ngrams and all(
                    isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in ngrams))):
            raise ValueError("Layer TextVectorization expects `ngrams` to be None, a positive "
                             "integer or a tuple of positive integers. Received: "
                             f"ngrams={ngrams!r}")
        if output_mode == "int" and not (output_sequence_length is None or (
                isinstance(output_sequence_length, (int, np.integer))
                and not isinstance(output_sequence_length, bool) and output_sequence_length >= 0)):
            raise ValueError(
                "Layer TextVectorization expects `output_sequence_length` to be None or a "
                "non-negative integer when `output_mode` is 'int'. Received: "
                f"output_sequence_length={output_sequence_length!r}")
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError(
                "Layer TextVectorization: `output_sequence_length` must not be set if "
                f"`output_mode` is not 'int'. Received: output_mode={output_mode!r} and "
                f"output_sequence_length={output_sequence_length!r}")
        if sparse or ragged:
            raise ValueError(
                "Layer TextVectorization: `sparse=True` and `ragged=True` are not supported "
                "(they need the TensorFlow backend, as in Keras). Received: "
                f"sparse={sparse!r}, ragged={ragged!r}")
        self.standardize = standardize
        self.split = split
        self.ngrams = ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self.output_mode = output_mode
        self.output_sequence_length = (None if output_sequence_length is None
                                       else int(output_sequence_length))
        self.encoding = encoding
        self.sparse = False
        self.ragged = False
        # the vocabulary: a StringLookup held as a plain attribute (no sublayer: no weights)
        lookup = _TextLookup(max_tokens=max_tokens, vocabulary=vocabulary,
                              idf_weights=idf_weights, pad_to_max_tokens=pad_to_max_tokens,
                              mask_token="", output_mode=output_mode, encoding=encoding,
                              has_input_vocabulary=has_input_vocabulary,
                              name=self.name)
        object.__setattr__(self, "_lookup_layer", lookup)

    @property
    def max_tokens(self):
        return self._lookup_layer.max_tokens

    @property
    def pad_to_max_tokens(self):
        return self._lookup_layer.pad_to_max_tokens

    # -- vocabulary
    def get_vocabulary(self, include_special_tokens=True):
        """The vocabulary: entry i is the token of index i ("" padding and "[UNK]" first in
        "int" mode), or only the learned tokens with `include_special_tokens=False`."""
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        """The vocabulary size, padding and OOV indices included."""
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Sets the vocabulary (a list, 1D array or file of tokens) and, for "tf_idf", the IDF
        weights (one per token), replacing any vocabulary the layer holds."""
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights=idf_weights)

    def adapt(self, data, batch_size=None, steps=None):
        """Learns the vocabulary of `data`'s tokens: sorted by count (most frequent first,
        ties broken by the token, descending), at most `max_tokens` in all.

        Args:
            data: an array or list of strings, or an iterable of batches of strings (a
                generator, a dataset yielding batches or `(x, y)` tuples).
            batch_size: accepted for Keras compatibility; unused.
            steps: the number of batches to use from an iterable (default: all).
        """
        batches, _ = _adapt_batches(self, data, steps)
        lookup = self._lookup_layer

        def rows():
            for batch in batches:
                tokens = self._preprocess(batch)
                if isinstance(tokens, np.ndarray):  # split=None: tokens as they are
                    yield lookup._rows_of(tokens, False)
                else:
                    yield tokens

        if self._lookup_layer._has_input_vocabulary:
            raise ValueError(
                f"Cannot adapt layer '{self.name}' (TextVectorization) after setting a static "
                "vocabulary via the `vocabulary` argument. Create the layer without "
                "`vocabulary` to adapt it.")
        lookup._adapt_rows(rows())

    # -- preprocessing
    def _standardize(self, strings: np.ndarray) -> np.ndarray:
        if self.standardize is None:
            return strings
        if callable(self.standardize):
            out = np.asarray(self.standardize(strings.astype(str)))
            return _host_strings(out)
        out = np.empty(strings.shape, dtype=object)
        flat_in, flat_out = strings.reshape(-1), out.reshape(-1)
        for i, s in enumerate(flat_in.tolist()):
            if self.standardize in ("lower", "lower_and_strip_punctuation"):
                s = s.encode("utf-8").lower().decode("utf-8")  # ASCII-only, as TensorFlow
            if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
                s = _PUNCTUATION.sub("", s)
            flat_out[i] = s
        return out

    def _preprocess(self, inputs):
        """Strings -> a list of token lists (one per sample) or, with split=None, an array."""
        strings = self._standardize(_host_strings(inputs))
        if self.split is None:
            if self._ngrams is not None:
                raise ValueError(
                    f"Layer '{self.name}' (TextVectorization): `ngrams` needs a `split` (the "
                    "tokens of a string); with split=None, join n-grams yourself.")
            return strings
        if strings.ndim > 1:
            if strings.shape[-1] != 1:
                raise ValueError(
                    f"Layer '{self.name}' (TextVectorization): to split strings, the input "
                    "rank must be 1 or the last dimension must be 1. Received: inputs of "
                    f"shape {strings.shape}")
            strings = strings[..., 0]
        strings = strings.reshape(-1)
        if self.split == "whitespace":
            rows = [[t.decode("utf-8") for t in s.encode("utf-8").split()]
                    for s in strings.tolist()]
        elif self.split == "character":
            rows = [list(s) for s in strings.tolist()]
        else:
            rows = [[_to_str(t) for t in row] for row in self.split(strings.astype(str))]
        if self._ngrams is not None:
            rows = [[" ".join(row[i:i + n]) for n in self._ngrams
                     for i in range(len(row) - n + 1)] for row in rows]
        return rows

    def _host_call(self, inputs):
        lookup = self._lookup_layer
        if lookup._tokens is None:
            raise ValueError(
                f"Layer '{self.name}' (TextVectorization) has no vocabulary yet. Call "
                "`layer.adapt(texts)` before using it, or pass `vocabulary=` to the "
                "constructor (or `set_vocabulary`).")
        scalar = isinstance(inputs, (str, bytes)) or np.ndim(inputs) == 0
        if scalar:
            inputs = [inputs]
        tokens = self._preprocess(inputs)
        if isinstance(tokens, np.ndarray):  # split=None
            if self.output_mode != "int" and tokens.ndim <= 1:
                tokens = tokens.reshape(-1, 1)
            indices = lookup._lookup_host(tokens)
            if self.output_mode == "int" and self.output_sequence_length is not None:
                length = self.output_sequence_length
                indices = indices[..., :length]
                pad = [(0, 0)] * (indices.ndim - 1) + [(0, length - indices.shape[-1])]
                indices = np.pad(indices, pad)
        else:
            lengths = [len(r) for r in tokens]
            width = max(lengths, default=0)
            if self.output_mode == "int" and self.output_sequence_length is not None:
                width = self.output_sequence_length
            fill = 0 if self.output_mode == "int" else _DROPPED
            indices = np.full((len(tokens), width), fill, np.int64)
            flat = np.array([t for r in tokens for t in r], dtype=object)
            if flat.size:
                looked = lookup._lookup_host(flat)
                start = 0
                for i, n in enumerate(lengths):
                    k = min(n, width)
                    indices[i, :k] = looked[start:start + k]
                    start += n
        out = jnp.asarray(lookup._finish(indices, np))
        return out[0] if scalar else out

    # -- config
    def get_config(self):
        lookup = self._lookup_layer
        standardize, split = self.standardize, self.split
        if callable(standardize) or callable(split):
            from ..saving._serialization import serialize
            standardize = serialize(standardize) if callable(standardize) else standardize
            split = serialize(split) if callable(split) else split
        return {**super().get_config(), "max_tokens": lookup.max_tokens,
                "standardize": standardize, "split": split, "ngrams": self.ngrams,
                "output_mode": self.output_mode,
                "output_sequence_length": self.output_sequence_length,
                "pad_to_max_tokens": lookup.pad_to_max_tokens, "sparse": self.sparse,
                "ragged": self.ragged, "vocabulary": lookup._config_vocabulary,
                "idf_weights": lookup._config_idf, "encoding": self.encoding,
                "vocabulary_size": self.vocabulary_size()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("standardize", "split"):
            if isinstance(config.get(key), dict):
                from ..saving._serialization import deserialize
                config[key] = deserialize(config[key])
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return super().from_config(config)


# ---------------------------------------------------------------------------------- hashing layers
_HASH_MODES = ("int", "one_hot", "multi_hot", "count")


class Hashing(_HostLayer):
    """Hashes integers or strings into `num_bins` buckets (bucket ids, or their encodings).

    Bucket numbers differ from Keras's (Keras uses TensorFlow's FarmHash64/SipHash64); kerasx
    uses a documented, stable 32-bit hash (FNV-1a over the value's UTF-8 bytes or decimal
    string, MurmurHash3's fmix32 finalizer; see this module's docstring), identical on the host
    and under `jit`. Integers are jittable (Hashing works inside a model); strings run on the
    host. Integers and their decimal strings hash alike, as in Keras; floats are truncated to
    integers first.

    Args:
        num_bins: the number of buckets, the mask bucket included.
        mask_value: a value that goes to bucket 0 (then the others hash into
            `[1, num_bins)`); None (default) for no mask bucket.
        salt: None, an int, or a pair of ints: changes the hash (Keras's SipHash key).
        output_mode: "int" (default), "one_hot", "multi_hot" or "count".
        sparse: must be False.

    Input shape:
        Integers, floats or strings of any shape.

    Output shape:
        "int": the input's (int32). "one_hot": the input's plus a last axis of `num_bins`
        (replacing a last axis of size 1). "multi_hot"/"count": `(batch, num_bins)` for
        `(batch, n)`.
    """

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False,
                 **kwargs):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "int64" if output_mode == "int" else "float32"
        super().__init__(**kwargs)
        if (num_bins is None or isinstance(num_bins, bool)
                or not isinstance(num_bins, (int, np.integer)) or num_bins <= 0):
            raise ValueError("Layer Hashing: `num_bins` must be a positive integer. Received: "
                             f"num_bins={num_bins!r}")
        if output_mode == "int" and self.compute_dtype not in ("int32", "int64"):
            raise ValueError("Layer Hashing: when output_mode='int', `dtype` must be 'int32' "
                             f"or 'int64'. Received: dtype={kwargs['dtype']!r}")
        _check_name("Hashing", "output_mode", output_mode, _HASH_MODES)
        if sparse:
            raise ValueError(
                "Layer Hashing: `sparse=True` is not supported (sparse outputs need the "
                f"TensorFlow backend). Received: sparse={sparse!r}")
        if salt is not None:
            if isinstance(salt, (tuple, list)) and len(salt) == 2:
                salt = [int(s) for s in salt]
            elif isinstance(salt, (int, np.integer)) and not isinstance(salt, bool):
                salt = [int(salt), int(salt)]
            else:
                raise ValueError("Layer Hashing: `salt` must be a tuple of 2 integers or a "
                                 f"single integer. Received: salt={salt!r}")
        self.num_bins = int(num_bins)
        self.mask_value = mask_value
        self.salt = salt
        self.strong_hash = salt is not None
        self.output_mode = output_mode
        self.sparse = False

    def _bins(self, hashes, is_mask, xp):
        bins = self.num_bins
        masked = self.mask_value is not None and bins > 1
        if masked:
            bins -= 1
        out = (hashes % hashes.dtype.type(bins)).astype(xp.int32)
        if masked:
            out = xp.where(is_mask, 0, out + 1)
        return out

    def _output(self, indices, xp):
        if self.output_mode == "int":
            return indices.astype(xp.int32)
        if self.output_mode == "one_hot" and indices.ndim >= 1 and indices.shape[-1] == 1:
            indices = indices[..., 0]
        return _encode(indices, self.output_mode, self.num_bins, xp=xp).astype(
            self.compute_dtype)

    def _host_call(self, inputs):
        values = _host_strings(inputs)
        is_mask = (values == self.mask_value) if self.mask_value is not None else None
        hashes = _host_hash(values, _seed_of(self.salt))
        return _to_jax(self._output(self._bins(hashes, is_mask, np), np))

    def _numeric_call(self, inputs, xp):
        x = xp.asarray(inputs)
        is_mask = (x == self.mask_value) if self.mask_value is not None else None
        hashes = _hash_numbers(x, _seed_of(self.salt), xp)
        return self._output(self._bins(hashes, is_mask, xp), xp)

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins, "salt": self.salt,
                "mask_value": self.mask_value, "output_mode": self.output_mode,
                "sparse": self.sparse}


class HashedCrossing(_HostLayer):
    """Crosses two or more categorical features by hashing each combination into
    `num_bins` buckets.

    Bucket numbers differ from Keras's (Keras uses TensorFlow's `sparse.cross_hashed`);
    kerasx hashes each feature value as Hashing does (see this module's docstring) and mixes
    them in order: `h = fmix32((h ^ hash(feature_i)) * 0x01000193)` from `h = 0x811C9DC5`,
    bucket = `h % num_bins`. Integer features are jittable; any string feature runs on the host.

    Args:
        num_bins: the number of buckets.
        output_mode: "int" (default; bucket ids) or "one_hot".
        sparse: must be False.

    Input shape:
        A list or tuple of at least two tensors of equal shape `()`, `(batch,)` or
        `(batch, 1)`, of integers or strings.

    Output shape:
        "int": the inputs' shape (int32). "one_hot": `(batch, num_bins)`.
    """

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None,
                 **kwargs):
        if output_mode == "int" and dtype is None:
            dtype = "int64"
        super().__init__(name=name, dtype=dtype, **kwargs)
        if (num_bins is None or isinstance(num_bins, bool)
                or not isinstance(num_bins, (int, np.integer)) or num_bins <= 0):
            raise ValueError("Layer HashedCrossing: `num_bins` must be a positive integer. "
                             f"Received: num_bins={num_bins!r}")
        _check_name("HashedCrossing", "output_mode", output_mode, ("int", "one_hot"))
        if sparse:
            raise ValueError(
                "Layer HashedCrossing: `sparse=True` is not supported (sparse outputs need the "
                f"TensorFlow backend). Received: sparse={sparse!r}")
        self.num_bins = int(num_bins)
        self.output_mode = output_mode
        self.sparse = False

    def _check(self, inputs):
        name = f"Layer '{self.name}' (HashedCrossing)"
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{name} should be called on a list or tuple of inputs. "
                             f"Received: {type(inputs).__name__}")
        if len(inputs) < 2:
            raise ValueError(f"{name} should be called on at least two inputs. Received "
                             f"{len(inputs)}.")
        shapes = [tuple(x.shape) if hasattr(x, "shape") else tuple(np.shape(x)) for x in inputs]
        if len(shapes[0]) > 2 or (len(shapes[0]) == 2 and shapes[0][-1] != 1):
            raise ValueError(f"{name}: all inputs should have shape `()`, `(batch_size,)` or "
                             f"`(batch_size, 1)`. Received shapes {shapes}")
        if any(s != shapes[0] for s in shapes[1:]):
            raise ValueError(f"{name}: all inputs should have equal shape. Received shapes "
                             f"{shapes}")

    def init(self, rng, input_spec, *args, **kwargs):
        self._check(input_spec)
        return {}, {}

    def _needs_host(self, inputs):
        return any(_is_string_array(x) for x in inputs)

    def _cross(self, hashes, xp):
        t = np.uint32
        h = xp.full(hashes[0].shape, _FNV_OFFSET, xp.uint32)
        for hi in hashes:
            h = _fmix32((h ^ hi) * t(_FNV_PRIME))
        indices = (h % t(self.num_bins)).astype(xp.int32)
        if self.output_mode == "int":
            return indices
        return _encode(indices, "one_hot", self.num_bins, xp=xp).astype(self.compute_dtype)

    def _host_call(self, inputs):
        self._check(inputs)
        hashes = []
        for x in inputs:
            arr = np.asarray(x)
            values = _host_strings(arr) if arr.dtype.kind in "USO" else arr
            hashes.append(_host_hash(values, _FNV_OFFSET))
        return _to_jax(self._cross(hashes, np))

    def _numeric_call(self, inputs, xp):
        self._check(inputs)
        inputs = [xp.asarray(x) for x in inputs]
        for x in inputs:
            if not np.issubdtype(x.dtype, np.integer):
                raise ValueError(f"Layer '{self.name}' (HashedCrossing): all inputs should "
                                 f"have an integer or string dtype. Received {x.dtype}")
        return self._cross([_hash_numbers(x, _FNV_OFFSET, xp) for x in inputs], xp)

    def get_config(self):
        return {**super().get_config(), "num_bins": self.num_bins,
                "output_mode": self.output_mode, "sparse": self.sparse}
