"""Attention layers: MultiHeadAttention, GroupQueryAttention, Attention, AdditiveAttention
(Keras 3's `keras.layers`).

MultiHeadAttention and GroupQueryAttention hold their projections as sublayers named as in
Keras ("query", "key", ["gate",] "value", "attention_output"), each with a `kernel` and a `bias`
in Keras's layout (query kernel `(dim, num_heads, key_dim)`, bias `(num_heads, key_dim)`,
output kernel `(num_heads, value_dim, *output_shape)`), so `set_weights` takes Keras's lists.
"""

import math
import string
from typing import Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import _settings, activations, constraints, initializers, regularizers
from .._jit import quick_jit
from .._seeding import next_rng_key
from .._variables import current_scope
from . import _tree
from ._base import (Layer, _is_tensor_like, _spec_from_shapes, apply_layer, as_spec,
                    batch_of_one, shape_str)

_letters = string.ascii_lowercase


# ------------------------------------------------------------------------------ helpers
def _positive_int(cls: str, arg: str, value, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        also = " or `None`" if allow_none else ""
        raise ValueError(
            f"Received an invalid value for argument `{arg}` of {cls}, expected a positive "
            f"integer{also}. Received: {arg}={value!r}")
    return int(value)


def _rate(cls: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ValueError(
            f"Received an invalid value for argument `dropout` of {cls}, expected a float in "
            f"[0, 1). Received: dropout={value!r}")
    return float(value)


def _sliding_window(cls: str, value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
        raise ValueError(f"{cls}: `sliding_window` must be `None` or a positive integer. "
                         f"Received: sliding_window={value!r}")
    return value


def _large_negative(dtype) -> float:
    return -3e4 if jnp.dtype(dtype) == jnp.float16 else -1e9


def _dropout(x, rate: float, rng):
    keep = jax.random.bernoulli(rng, 1.0 - rate, x.shape)
    return jnp.where(keep, x / jnp.asarray(1.0 - rate, x.dtype), jnp.zeros_like(x))


def _causal_mask(t: int, s: int):
    """`(1, T, S)`: position i attends to positions j <= i."""
    return (jnp.arange(t)[:, None] >= jnp.arange(s)[None, :])[None]


def _window_mask(t: int, s: int, window: int):
    """`(1, T, S)`: the symmetric band |i - j| < window."""
    return (jnp.abs(jnp.arange(t)[:, None] - jnp.arange(s)[None, :]) < window)[None]


def _as_bool(mask):
    mask = jnp.asarray(mask)
    return mask if mask.dtype == jnp.bool_ else mask.astype(jnp.bool_)


def _reference_attention(q, k, v, mask, is_causal, scale):
    """`jax.nn.dot_product_attention`'s XLA computation for `(B, T, N, H)` inputs, also for
    value heads of another size than the key heads."""
    logits = jnp.einsum("BTNH,BSNH->BNTS", q, k,
                        preferred_element_type=jnp.promote_types(q.dtype, jnp.float32))
    logits = logits * jnp.asarray(scale, logits.dtype)
    if mask is not None or is_causal:
        keep = jnp.ones(logits.shape, jnp.bool_)
        if mask is not None:
            keep = keep & mask
        if is_causal:
            keep = keep & _causal_mask(logits.shape[2], logits.shape[3])[None]
        logits = jnp.where(keep, logits, jnp.asarray(-0.7 * jnp.finfo(logits.dtype).max,
                                                     logits.dtype))
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(k.dtype)
    return jnp.einsum("BNTS,BSNH->BTNH", probs, v)


def _init_kernel(initializer, key, in_dims, out_dims, dtype):
    """A kernel of shape `in_dims + out_dims`; a variance-scaling initializer sees the fans
    Keras's EinsumDense gives it (fan_in = prod(in_dims), fan_out = prod(out_dims))."""
    shape = tuple(in_dims) + tuple(out_dims)
    if isinstance(initializer, initializers.VarianceScaling):
        flat = initializer(key, (math.prod(in_dims), math.prod(out_dims)), dtype)
        return jnp.reshape(flat, shape)
    return initializer(key, shape, dtype)


class _Projection(Layer):
    """The EinsumDense-shaped projection of the multi-head attention layers: contracts the
    last `bound_dims` input axes with a kernel of shape `in_dims + out_dims`, adds a bias of
    shape `out_dims`. Private: its weights take the layout of Keras's EinsumDense sublayers."""

    def __init__(self, bound_dims: int, out_dims: Optional[Tuple[int, ...]], *, use_bias,
                 kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
                 kernel_constraint, bias_constraint, activity_regularizer=None,
                 activation=None, name: str, dtype=None):
        super().__init__(name=name, dtype=dtype, activity_regularizer=activity_regularizer)
        self.bound_dims = bound_dims
        self.out_dims = out_dims
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.activation = activations.get(activation)
        self._weight_options("kernel", kernel_regularizer, kernel_constraint)
        if use_bias:
            self._weight_options("bias", bias_regularizer, bias_constraint)

    def init(self, rng, input_spec, out_dims=None):
        out = tuple(out_dims if out_dims is not None else self.out_dims)
        in_dims = tuple(input_spec.shape[len(input_spec.shape) - self.bound_dims:])
        k_kernel, k_bias = jax.random.split(rng)
        params = {"kernel": _init_kernel(self.kernel_initializer, k_kernel, in_dims, out,
                                         self.dtype)}
        if self.use_bias:
            params["bias"] = self.bias_initializer(k_bias, out, self.dtype)
        return params, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        y = jnp.tensordot(inputs, params["kernel"], axes=self.bound_dims)
        if self.use_bias:
            y = y + params["bias"]
        if self.activation is not None:
            y = self.activation(y)
        return y, state

    def weight_names(self):
        return [("params", "kernel")] + ([("params", "bias")] if self.use_bias else [])


# ------------------------------------------------------------------------------ multi-head base
class _MultiInputLayer(Layer):
    """Builds from the specs of all call arguments (`layer(query, value, key=k)`): eagerly, as
    a sublayer of a subclassed layer, and through `build(query_shape, value_shape)`.

    `Layer` builds from the first input only on these paths; the overrides here pass the
    further arguments' specs to `init` as well (self-attention needs none of them)."""

    def _arg_specs(self, args, kwargs):
        arg_specs = [as_spec(a) for a in args if a is not None and _is_tensor_like(a)]
        kw_specs = {k: as_spec(v) for k, v in kwargs.items()
                    if v is not None and k != "training" and _is_tensor_like(v)}
        return arg_specs, kw_specs

    def _eager_call(self, inputs, args, kwargs):
        if not self.built:
            arg_specs, kw_specs = self._arg_specs(args, kwargs)
            self._build_from_specs(as_spec(inputs), arg_specs, kw_specs)
        return super()._eager_call(inputs, args, kwargs)

    def _build_from_specs(self, spec, arg_specs, kw_specs):
        spec, arg_specs, kw_specs = batch_of_one((as_spec(spec), arg_specs, kw_specs))
        params, state = quick_jit(
            lambda key: self.init(key, spec, *arg_specs, **kw_specs))(next_rng_key())
        _tree.adopt(self, params, state)

    def _init_in_scope(self, scope, spec, arg_specs, kw_specs):
        """This layer's fresh weights in the `init` scope of the layer that holds it (once)."""
        key = scope.key_of(self)
        if key not in scope.params:
            rng = scope.next_key(1)
            rng = jax.random.key(0) if rng is None else rng
            scope.params[key], scope.state[key] = self.init(rng, spec, *arg_specs, **kw_specs)
            scope.new_state[key] = scope.state[key]

    def _call_in_scope(self, scope, inputs, args, kwargs):
        if scope.mode == "init":
            self._init_in_scope(scope, as_spec(inputs), *self._arg_specs(args, kwargs))
        return super()._call_in_scope(scope, inputs, args, kwargs)

    def build(self, query_shape, value_shape=None, key_shape=None):
        """Creates the weights for inputs of these shapes (Keras's `build(query_shape,
        value_shape, key_shape=None)`; the value defaults to the query)."""
        spec = _spec_from_shapes(query_shape)
        arg_specs = [] if value_shape is None else [_spec_from_shapes(value_shape)]
        kw_specs = {} if key_shape is None else {"key": _spec_from_shapes(key_shape)}
        scope = current_scope()
        if scope is not None:  # a parent's `build` builds this sublayer in its `init`
            if scope.layer is not self and scope.mode == "init":
                self._init_in_scope(scope, spec, arg_specs, kw_specs)
            return
        if not self.built:
            self._build_from_specs(spec, arg_specs, kw_specs)


class _HeadsAttention(_MultiInputLayer):
    """What MultiHeadAttention and GroupQueryAttention share: projections, masks, softmax."""

    supports_masking = True
    _cls = ""

    def _make_projections(self, specs, common):
        for name, bound, out, activation in specs:
            proj = _Projection(bound, out, activation=activation, name=name, dtype=self.dtype,
                               **common)
            setattr(self, f"_{name}_dense", proj)

    def _common_kwargs(self, kernel_initializer, bias_initializer, kernel_regularizer,
                       bias_regularizer, kernel_constraint, bias_constraint,
                       activity_regularizer):
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self._activity_regularizer_arg = regularizers.get(activity_regularizer)
        return dict(use_bias=self.use_bias, kernel_initializer=self.kernel_initializer,
                    bias_initializer=self.bias_initializer,
                    kernel_regularizer=self.kernel_regularizer,
                    bias_regularizer=self.bias_regularizer,
                    kernel_constraint=self.kernel_constraint,
                    bias_constraint=self.bias_constraint,
                    activity_regularizer=self._activity_regularizer_arg)

    def _common_config(self):
        return {
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "activity_regularizer": regularizers.serialize(self._activity_regularizer_arg),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "seed": self.seed,
        }

    # ------------------------------------------------------------------ shapes
    def _specs(self, query, value, key):
        q = as_spec(query)
        v = q if value is None else as_spec(value)
        k = v if key is None else as_spec(key)
        for what, s in (("query", q), ("value", v), ("key", k)):
            if not hasattr(s, "shape") or len(s.shape) < 3:
                got = shape_str(s.shape) if hasattr(s, "shape") else repr(s)
                raise ValueError(
                    f"Layer '{self.name}' ({self._cls}) expects `{what}` of rank 3 or more "
                    f"(batch, ..., features). Received: {what}.shape={got}")
        if tuple(v.shape[1:-1]) != tuple(k.shape[1:-1]):
            raise ValueError(
                f"Layer '{self.name}' ({self._cls}): all dimensions of `value` and `key`, "
                f"except the last one, must be equal. Received: value_shape="
                f"{shape_str(v.shape)} and key_shape={shape_str(k.shape)}")
        if not (q.shape[0] == v.shape[0] == k.shape[0]):
            raise ValueError(
                f"Layer '{self.name}' ({self._cls}) expects `query`, `value` and `key` with the "
                f"same batch size. Received: query.shape={shape_str(q.shape)}, value.shape="
                f"{shape_str(v.shape)}, key.shape={shape_str(k.shape)}")
        if len(q.shape) != len(v.shape):
            raise ValueError(
                f"Layer '{self.name}' ({self._cls}) expects `query` and `value` of the same "
                f"rank. Received: query.shape={shape_str(q.shape)}, value.shape="
                f"{shape_str(v.shape)}")
        return q, v, k

    def _check_mask(self, name, mask, expected):
        """`expected`: the shape the mask must broadcast to."""
        shape = tuple(jnp.shape(mask))
        if len(shape) > len(expected) or any(
                m not in (1, e) for m, e in zip(shape[::-1], expected[::-1])):
            raise ValueError(
                f"Layer '{self.name}' ({self._cls}) expects `{name}` of a shape that broadcasts "
                f"to {shape_str(expected)}. Received: {name}.shape={shape_str(shape)}")

    # ------------------------------------------------------------------ masks
    def _attention_mask(self, query, value, key, explicit_key, mask, query_mask, value_mask,
                        key_mask, attention_mask, use_causal_mask):
        """Keras's combination: query mask `(B, T, 1)` & value/key masks `(B, 1, S)` & causal
        `(1, T, S)` & sliding window, and with `attention_mask`. Returns `(mask or None,
        causal_only)`; `mask` (the mask channel's, for `query`) also stands for the value's
        and the key's when they are the query itself (self-attention in a functional graph)."""
        if query_mask is None:
            query_mask = mask
        if value_mask is None and mask is not None and value is query:
            value_mask = mask
        if key_mask is None and mask is not None and explicit_key and key is query:
            key_mask = mask
        t, s = query.shape[1], value.shape[1]
        for name, m, expected in (("query_mask", query_mask, query.shape[:-1]),
                                  ("value_mask", value_mask, value.shape[:-1]),
                                  ("key_mask", key_mask, key.shape[:-1])):
            if m is not None:
                self._check_mask(name, m, expected)
        if attention_mask is not None:
            self._check_mask("attention_mask", attention_mask,
                             self._attention_mask_shape(query, value))
        causal_only = (use_causal_mask and query_mask is None and value_mask is None
                       and key_mask is None and attention_mask is None
                       and self._window is None)
        if causal_only:
            return None, True
        auto = None
        if query_mask is not None:
            auto = jnp.expand_dims(_as_bool(query_mask), -1)
        for m in (value_mask, key_mask):
            if m is not None:
                m = jnp.expand_dims(_as_bool(m), -2)
                auto = m if auto is None else auto & m
        if use_causal_mask:
            m = _causal_mask(t, s)
            auto = m if auto is None else auto & m
        if self._window is not None:
            m = _window_mask(t, s, self._window)
            auto = m if auto is None else auto & m
        if attention_mask is not None:
            attention_mask = _as_bool(attention_mask)
        if auto is not None:
            attention_mask = auto if attention_mask is None else attention_mask & auto
        return attention_mask, False

    def _attention_mask_shape(self, query, value):
        return (query.shape[0],) + tuple(query.shape[1:-1]) + tuple(value.shape[1:-1])

    # ------------------------------------------------------------------ the attention
    def _dot_product_attention(self, q, k, v, mask, is_causal):
        """`jax.nn.dot_product_attention` for `(B, T, N, H)` inputs, the implementation picked
        as Keras does: cuDNN flash attention when asked for (or, with `flash_attention=None`,
        on a GPU for half-precision inputs), else XLA."""
        if k.shape[-1] != v.shape[-1]:
            # jax.nn.dot_product_attention needs equal key and value head sizes; Keras falls
            # back to the same computation written out
            return _reference_attention(q, k, v, mask, is_causal, self._scale)
        impls = ["xla"]
        if self._flash_attention is True:
            impls = ["cudnn"]
        elif self._flash_attention is None and jax.devices()[0].platform == "gpu" and \
                q.dtype in (jnp.float16, jnp.bfloat16):
            impls = ["cudnn", "xla"]
        for i, impl in enumerate(impls):
            try:
                return jax.nn.dot_product_attention(q, k, v, mask=mask, scale=self._scale,
                                                    is_causal=is_causal, implementation=impl)
            except Exception as e:  # cuDNN refuses these shapes/dtypes: fall back (trace time)
                if i == len(impls) - 1:
                    if impl == "cudnn":
                        raise ValueError(
                            f"Layer '{self.name}' ({self._cls}) was built with "
                            "flash_attention=True, but cuDNN flash attention cannot run here: "
                            f"{e}") from e
                    raise

    def _compute_attention(self, q, k, v, mask, causal_only, training, rng,
                           return_attention_scores):
        if self._flash_attention is True and return_attention_scores:
            raise ValueError(
                f"Layer '{self.name}' ({self._cls}): returning attention scores is not "
                "supported when flash attention is enabled. Set flash_attention=False (or "
                "None) to get the scores.")
        use_fused = not (self._dropout > 0.0 or return_attention_scores or q.ndim != 4)
        if use_fused:
            if mask is not None:
                while mask.ndim < 4:
                    mask = jnp.expand_dims(mask, -3)
            return self._dot_product_attention(q, k, v, mask, causal_only), None
        if causal_only:
            mask = _causal_mask(q.shape[1], v.shape[1])
        dot_eq, combine_eq, norm_axes = self._equations(q.ndim)
        q = q * jnp.asarray(self._scale, q.dtype)
        scores = jnp.einsum(dot_eq, k, q)
        if mask is not None:
            while mask.ndim < scores.ndim:
                mask = jnp.expand_dims(mask, -2 * len(norm_axes) - 1)
            scores = jnp.where(mask, scores, jnp.asarray(_large_negative(scores.dtype),
                                                         scores.dtype))
        if len(norm_axes) > 1:
            probs = jnp.exp(scores - jax.scipy.special.logsumexp(scores, axis=norm_axes,
                                                                 keepdims=True))
        else:
            probs = jax.nn.softmax(scores, axis=norm_axes[0])
        if mask is not None:
            probs = jnp.where(mask, probs, jnp.zeros_like(probs))
        dropped = probs
        if training and self._dropout > 0.0:
            self._need_rng(rng)
            dropped = _dropout(probs, self._dropout, rng)
        return jnp.einsum(combine_eq, dropped, v), probs

    def _run(self, params, state, query, value, key, *, mask, query_mask, value_mask, key_mask,
             attention_mask, return_attention_scores, use_causal_mask, training, rng,
             repeats=1):
        explicit_key = key is not None
        if value is None:
            value = query
        if key is None:
            key = value
        self._specs(query, value, key)
        attn_mask, causal_only = self._attention_mask(
            query, value, key, explicit_key, mask, query_mask, value_mask, key_mask,
            attention_mask, use_causal_mask)
        subs = dict(self._sublayer_items())

        def project(name, x):
            out, _ = apply_layer(subs[name], params[name], state[name], x)
            return out

        gate = project("gate", query) if "gate" in subs else None
        q = project("query", query)
        k = project("key", key)
        v = project("value", value)
        if repeats > 1:
            k = jnp.repeat(k, repeats, axis=2)
            v = jnp.repeat(v, repeats, axis=2)
        out, scores = self._compute_attention(q, k, v, attn_mask, causal_only, training, rng,
                                              return_attention_scores)
        if gate is not None:
            out = out * gate
        out = project("attention_output", out)
        if return_attention_scores:
            return (out, scores), state
        return out, state


class MultiHeadAttention(_HeadsAttention):
    """Multi-head attention (Vaswani et al., 2017), as Keras 3 computes it.

    `query`, `key` and `value` are projected to `num_heads` heads, the scaled dot products of
    queries and keys are softmaxed over the attention axes (after masking), the values are
    combined with these probabilities and the heads are projected to the output.

    Args:
        num_heads: the number of attention heads.
        key_dim: the size of each head for query and key.
        value_dim: the size of each head for value (default `key_dim`).
        dropout: the dropout rate on the attention probabilities.
        use_bias: whether the projections have biases.
        output_shape: the output's trailing shape (an int or a tuple); default the query's
            last dimension.
        attention_axes: the axes attention runs over (default all but batch, heads, features).
        sliding_window: None, or a positive int: each query position attends only to key
            positions less than `sliding_window` away.
        flash_attention: None (cuDNN flash attention where it applies: a GPU, half precision),
            True (always; an error where it cannot run) or False (never).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint, activity_regularizer: for the projections.
        use_gate: whether a sigmoid-gated projection of the query multiplies the attention
            output (gated attention).
        seed: the seed of the dropout (kerasx draws it from the `rng` given to `apply`).

    Call arguments:
        query: `(B, T, dim)` (or `(B, ..., dim)` with `attention_axes`).
        value: `(B, S, dim_v)`; kerasx also takes it missing, for self-attention.
        key: `(B, S, dim_k)`; default `value`.
        query_mask, value_mask, key_mask: boolean masks `(B, T)`, `(B, S)`, `(B, S)`. A mask
            from an earlier layer (kerasx's mask channel) is the query's (and the value's
            and the key's when they are the query itself).
        attention_mask: boolean, broadcastable to `(B, T, S)`: which keys each query attends.
        return_attention_scores: also return the attention probabilities `(B, N, T, S)`.
        use_causal_mask: each position attends only to positions not after it.

    Input shape:
        `query (B, T, dim)`, `value (B, S, dim_v)`, optional `key (B, S, dim_k)`.
    Output shape:
        `(B, T, dim)` (or `(B, T, *output_shape)`); with `return_attention_scores`, also
        `(B, num_heads, T, S)`.
    """

    _cls = "MultiHeadAttention"

    def __init__(self, num_heads, key_dim=None, value_dim=None, dropout=0.0, use_bias=True,
                 output_shape=None, attention_axes=None, sliding_window=None,
                 flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 use_gate=False, seed=None, **kwargs):
        cls = "MultiHeadAttention"
        self._num_heads = _positive_int(cls, "num_heads", num_heads)
        if key_dim is None:
            raise ValueError(
                "MultiHeadAttention needs `key_dim`, the size of each attention head, e.g. "
                "`MultiHeadAttention(num_heads=2, key_dim=16)`. Received: key_dim=None")
        self._key_dim = _positive_int(cls, "key_dim", key_dim)
        self._value_dim = _positive_int(cls, "value_dim", value_dim, allow_none=True) \
            or self._key_dim
        super().__init__(**kwargs)
        self._dropout = _rate(cls, dropout)
        self.use_bias = bool(use_bias)
        self._use_gate = bool(use_gate)
        if output_shape:
            if isinstance(output_shape, (int, np.integer)):
                output_shape = (int(output_shape),)
            if not isinstance(output_shape, (list, tuple)) or not all(
                    isinstance(d, (int, np.integer)) and d > 0 for d in output_shape):
                raise ValueError(
                    f"Invalid `output_shape` for MultiHeadAttention: {output_shape!r}. When "
                    "specified, it should be a positive int or a tuple/list of them.")
            output_shape = tuple(int(d) for d in output_shape)
        else:
            output_shape = None
        self._output_shape = output_shape
        if isinstance(attention_axes, (int, np.integer)):
            attention_axes = (int(attention_axes),)
        elif attention_axes is not None:
            if not isinstance(attention_axes, (list, tuple)):
                raise ValueError(
                    "`attention_axes` of MultiHeadAttention must be an int, list, or tuple. "
                    f"Received: attention_axes={attention_axes!r}")
            attention_axes = tuple(int(a) for a in attention_axes)
        self._attention_axes = attention_axes
        self._window = _sliding_window(cls, sliding_window)
        if flash_attention not in (None, True, False):
            raise ValueError("`flash_attention` of MultiHeadAttention must be None, True or "
                             f"False. Received: flash_attention={flash_attention!r}")
        # None follows `kerasx.config.disable_flash_attention()` / `enable_flash_attention()`
        self._flash_attention = _settings.FLASH_ATTENTION if flash_attention is None \
            else flash_attention
        if flash_attention and self._dropout > 0.0:
            raise ValueError(
                "Dropout is not supported when flash attention is enabled. Please set dropout "
                "to 0.0 to use flash attention.")
        self.seed = seed
        self._scale = 1.0 / math.sqrt(float(self._key_dim))
        common = self._common_kwargs(kernel_initializer, bias_initializer, kernel_regularizer,
                                     bias_regularizer, kernel_constraint, bias_constraint,
                                     activity_regularizer)
        heads_k, heads_v = (self._num_heads, self._key_dim), (self._num_heads, self._value_dim)
        self._make_projections(
            [("query", 1, heads_k, None), ("key", 1, heads_k, None)] +
            ([("gate", 1, heads_v, "sigmoid")] if self._use_gate else []) +
            [("value", 1, heads_v, None), ("attention_output", 2, None, None)], common)

    # Keras's read-only properties
    num_heads = property(lambda self: self._num_heads)
    key_dim = property(lambda self: self._key_dim)
    value_dim = property(lambda self: self._value_dim)
    dropout = property(lambda self: self._dropout)
    attention_axes = property(lambda self: self._attention_axes)

    def _norm_axes(self, rank: int) -> Tuple[int, ...]:
        """The attention axes of the projected `(B, ..., N, H)` tensors of rank `rank`."""
        if self._attention_axes is None:
            return tuple(range(1, rank - 2))
        axes = tuple(a if a >= 0 else rank - 1 + a for a in self._attention_axes)
        for a in axes:
            if not 1 <= a < rank - 2:
                raise ValueError(
                    f"Layer '{self.name}' (MultiHeadAttention) got attention_axes="
                    f"{self._attention_axes}, but its query of rank {rank - 1} has attention "
                    f"axes 1..{rank - 3} only.")
        return axes

    def _equations(self, rank: int):
        """Einsum equations for scores and combination over the attention axes (Keras's)."""
        attn = self._norm_axes(rank)
        batch = [i for i in range(rank) if i not in attn and i != rank - 1]
        target = _letters[:rank]
        source, offset = "", rank
        for i in range(rank):
            if i in batch or i == rank - 1:
                source += target[i]
            else:
                source += _letters[offset]
                offset += 1
        product = "".join([target[i] for i in batch] + [target[i] for i in attn] +
                          [source[i] for i in attn])
        n = len(product)
        norm_axes = tuple(range(n - len(attn), n))
        return f"{source},{target}->{product}", f"{product},{source}->{target}", norm_axes

    def _attention_mask_shape(self, query, value):
        rank = query.ndim + 1
        attn = self._norm_axes(rank)
        batch = [i for i in range(rank - 2) if i not in attn]  # heads excluded
        return tuple([query.shape[i] for i in batch] + [query.shape[i] for i in attn] +
                      [value.shape[i] for i in attn])

    def init(self, rng, query, value=None, key=None, **kwargs):
        q, v, k = self._specs(query, value, key)
        self._norm_axes(len(q.shape) + 1)
        keys = jax.random.split(rng, 5)
        subs = dict(self._sublayer_items())
        params = {}
        params["query"], _ = subs["query"].init(keys[0], q)
        params["key"], _ = subs["key"].init(keys[1], k)
        if "gate" in subs:
            params["gate"], _ = subs["gate"].init(keys[4], q)
        params["value"], _ = subs["value"].init(keys[2], v)
        heads = jax.ShapeDtypeStruct(tuple(q.shape[:-1]) + (self._num_heads, self._value_dim),
                                     q.dtype)
        out_dims = self._output_shape or (q.shape[-1],)
        params["attention_output"], _ = subs["attention_output"].init(keys[3], heads, out_dims)
        return params, {name: {} for name in params}

    def apply(self, params, state, query, value=None, key=None, *, query_mask=None,
              value_mask=None, key_mask=None, attention_mask=None, return_attention_scores=False,
              use_causal_mask=False, training=False, rng=None, mask=None):
        return self._run(params, state, query, value, key, mask=mask, query_mask=query_mask,
                         value_mask=value_mask, key_mask=key_mask, attention_mask=attention_mask,
                         return_attention_scores=return_attention_scores,
                         use_causal_mask=use_causal_mask, training=training, rng=rng)

    def output_spec(self, query, value=None, key=None, **kwargs):
        params, state = jax.eval_shape(lambda: self.init(jax.random.key(0), query, value, key))
        return jax.eval_shape(
            lambda p, s, q, v, k: self.apply(p, s, q, v, k, **kwargs)[0], params, state,
            as_spec(query), None if value is None else as_spec(value),
            None if key is None else as_spec(key))

    def get_config(self):
        return {**super().get_config(), "num_heads": self._num_heads, "key_dim": self._key_dim,
                "value_dim": self._value_dim, "dropout": self._dropout, "use_bias": self.use_bias,
                "use_gate": self._use_gate,
                "output_shape": None if self._output_shape is None else list(self._output_shape),
                "attention_axes": None if self._attention_axes is None
                else list(self._attention_axes),
                "sliding_window": self._window, **self._common_config()}


class GroupQueryAttention(_HeadsAttention):
    """Grouped-query attention (Ainslie et al., 2023), as Keras 3 computes it: `num_query_heads`
    query heads share `num_key_value_heads` key/value heads (1: multi-query attention; equal
    to `num_query_heads`: multi-head attention). Keras's class is `GroupedQueryAttention`,
    exported as `GroupQueryAttention`; kerasx exports both names.

    Args:
        head_dim: the size of each head.
        num_query_heads: the number of query heads.
        num_key_value_heads: the number of key/value heads; divides `num_query_heads`.
        dropout, use_bias, sliding_window, flash_attention, kernel_initializer,
        bias_initializer, kernel_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, bias_constraint, use_gate, seed: as for MultiHeadAttention.

    Call arguments:
        As MultiHeadAttention's (query, value, key, query_mask, value_mask, key_mask,
        attention_mask, return_attention_scores, use_causal_mask).

    Input shape:
        `query (B, T, dim)`, `value (B, S, dim)`, optional `key (B, S, dim_k)`.
    Output shape:
        `(B, T, dim)`; with `return_attention_scores`, also `(B, num_query_heads, T, S)`.
    """

    _cls = "GroupQueryAttention"
    _auto_name = "grouped_query_attention"  # Keras's default name (its class's snake case)

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0,
                 use_bias=True, sliding_window=None, flash_attention=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None,
                 **kwargs):
        cls = "GroupQueryAttention"
        self.head_dim = _positive_int(cls, "head_dim", head_dim)
        self.num_query_heads = _positive_int(cls, "num_query_heads", num_query_heads)
        self.num_key_value_heads = _positive_int(cls, "num_key_value_heads",
                                                 num_key_value_heads)
        if self.num_query_heads % self.num_key_value_heads:
            raise ValueError(
                "`num_query_heads` must be divisible by `num_key_value_heads` "
                f"(GroupQueryAttention). Received: num_query_heads={num_query_heads}, "
                f"num_key_value_heads={num_key_value_heads}")
        # Keras's GQA also applies its activity regularizer to its own outputs
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.num_repeats = self.num_query_heads // self.num_key_value_heads
        self.dropout = self._dropout = _rate(cls, dropout)
        self.use_bias = bool(use_bias)
        self.use_gate = bool(use_gate)
        self.sliding_window = self._window = _sliding_window(cls, sliding_window)
        if flash_attention not in (None, True, False):
            raise ValueError("`flash_attention` of GroupQueryAttention must be None, True or "
                             f"False. Received: flash_attention={flash_attention!r}")
        # None follows `kerasx.config.disable_flash_attention()` / `enable_flash_attention()`
        self._flash_attention = _settings.FLASH_ATTENTION if flash_attention is None \
            else flash_attention
        if flash_attention and self._dropout > 0.0:
            raise ValueError(
                "Dropout is not supported when flash attention is enabled. Please set dropout "
                "to 0.0 to use flash attention.")
        self.seed = seed
        self._scale = 1.0 / math.sqrt(float(self.head_dim))
        common = self._common_kwargs(kernel_initializer, bias_initializer, kernel_regularizer,
                                     bias_regularizer, kernel_constraint, bias_constraint,
                                     activity_regularizer)
        q_heads = (self.num_query_heads, self.head_dim)
        kv_heads = (self.num_key_value_heads, self.head_dim)
        self._make_projections(
            [("query", 1, q_heads, None), ("key", 1, kv_heads, None)] +
            ([("gate", 1, q_heads, "sigmoid")] if self.use_gate else []) +
            [("value", 1, kv_heads, None), ("attention_output", 2, None, None)], common)

    def _equations(self, rank: int):
        return "bkuh,bquh->buqk", "buqk,bkuh->bquh", (3,)

    def _specs(self, query, value, key):
        q, v, k = super()._specs(query, value, key)
        if len(q.shape) != 3:
            raise ValueError(
                f"Layer '{self.name}' (GroupQueryAttention) expects `query`, `value` and `key` "
                f"of rank 3 (batch, sequence, features). Received: query.shape="
                f"{shape_str(q.shape)}")
        if q.shape[-1] != v.shape[-1]:
            raise ValueError(
                f"Layer '{self.name}' (GroupQueryAttention): the last dimension of `query_shape` "
                f"and `value_shape` must be equal, but are {q.shape[-1]}, {v.shape[-1]}. "
                f"Received: query_shape={shape_str(q.shape)}, value_shape={shape_str(v.shape)}")
        return q, v, k

    def init(self, rng, query, value=None, key=None, **kwargs):
        q, v, k = self._specs(query, value, key)
        keys = jax.random.split(rng, 5)
        subs = dict(self._sublayer_items())
        params = {}
        params["query"], _ = subs["query"].init(keys[0], q)
        params["key"], _ = subs["key"].init(keys[1], k)
        if "gate" in subs:
            params["gate"], _ = subs["gate"].init(keys[4], q)
        params["value"], _ = subs["value"].init(keys[2], v)
        heads = jax.ShapeDtypeStruct(tuple(q.shape[:-1]) + (self.num_query_heads,
                                                            self.head_dim), q.dtype)
        params["attention_output"], _ = subs["attention_output"].init(keys[3], heads,
                                                                      (q.shape[-1],))
        return params, {name: {} for name in params}

    def apply(self, params, state, query, value=None, key=None, *, query_mask=None,
              value_mask=None, key_mask=None, attention_mask=None, return_attention_scores=False,
              use_causal_mask=False, training=False, rng=None, mask=None):
        return self._run(params, state, query, value, key, mask=mask, query_mask=query_mask,
                         value_mask=value_mask, key_mask=key_mask, attention_mask=attention_mask,
                         return_attention_scores=return_attention_scores,
                         use_causal_mask=use_causal_mask, training=training, rng=rng,
                         repeats=self.num_repeats)

    def output_spec(self, query, value=None, key=None, **kwargs):
        return MultiHeadAttention.output_spec(self, query, value, key, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "head_dim": self.head_dim, "num_query_heads": self.num_query_heads,
                "num_key_value_heads": self.num_key_value_heads, "use_bias": self.use_bias,
                "use_gate": self.use_gate, "sliding_window": self.sliding_window,
                "dropout": self.dropout, **self._common_config()}


GroupedQueryAttention = GroupQueryAttention


# ------------------------------------------------------------------------------ Luong / Bahdanau
class Attention(Layer):
    """Dot-product (Luong-style) attention over `[query, value]` or `[query, value, key]`, as
    Keras 3 computes it: `softmax(scores(query, key)) @ value`.

    Args:
        use_scale: whether a learned scalar `scale` (initially 1) multiplies the scores.
        score_mode: "dot" (`query @ key^T`) or "concat" (`sum(tanh(query + key))`, times a
            learned scalar `concat_score_weight`).
        dropout: the dropout rate on the attention probabilities when training.
        seed: the seed of the dropout (kerasx draws it from the `rng` given to `apply`).

    Call arguments:
        inputs: `[query (B, Tq, dim), value (B, Tv, dim)]`, optionally `key (B, Tv, dim)`
            third.
        mask: `[query_mask (B, Tq), value_mask (B, Tv)]` (either may be None): masked values
            do not contribute; the output is zero at masked query positions. Masks of earlier
            layers arrive here.
        return_attention_scores: also return the probabilities `(B, Tq, Tv)` (after dropout).
        use_causal_mask: position i attends only to positions j <= i.

    Input shape:
        `[(B, Tq, dim), (B, Tv, dim)]` or `[..., (B, Tv, dim)]` with the key.
    Output shape:
        `(B, Tq, dim)`; with `return_attention_scores`, also `(B, Tq, Tv)`.
    """

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = bool(use_scale)
        if score_mode not in ("dot", "concat"):
            raise ValueError(
                "Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                f"Received: score_mode={score_mode!r}")
        self.score_mode = score_mode
        self.dropout = _rate(type(self).__name__, dropout)
        self.seed = seed

    def _validate(self, inputs, mask=None):
        cls = type(self).__name__
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(
                f"Layer '{self.name}' ({cls}) must be called on a list of inputs, namely "
                f"[query, value] or [query, value, key]. Received: inputs of type "
                f"{type(inputs).__name__}")
        if not 2 <= len(inputs) <= 3:
            raise ValueError(
                f"Layer '{self.name}' ({cls}) accepts inputs list of length 2 or 3, namely "
                f"[query, value] or [query, value, key]. Received length: {len(inputs)}.")
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        if len(q.shape) < 2 or len(v.shape) < 2 or len(k.shape) < 2:
            raise ValueError(f"Layer '{self.name}' ({cls}) expects inputs of rank 2 or more.")
        if q.shape[-1] != k.shape[-1]:
            raise ValueError(
                f"Layer '{self.name}' ({cls}) expects `query` and `key` with the same last "
                f"dimension. Received: query.shape={shape_str(q.shape)}, key.shape="
                f"{shape_str(k.shape)}")
        if tuple(v.shape[:-1]) != tuple(k.shape[:-1]):
            raise ValueError(
                f"Layer '{self.name}' ({cls}) expects `value` and `key` with the same shape "
                f"but the last axis. Received: value.shape={shape_str(v.shape)}, key.shape="
                f"{shape_str(k.shape)}")
        if q.shape[0] != v.shape[0]:
            raise ValueError(
                f"Layer '{self.name}' ({cls}) expects `query` and `value` with the same batch "
                f"size. Received: query.shape={shape_str(q.shape)}, value.shape="
                f"{shape_str(v.shape)}")
        if mask is not None:
            if not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3:
                raise ValueError(
                    f"Layer '{self.name}' ({cls}) mask must be a list, namely [query_mask, "
                    f"value_mask]. Received: mask={mask!r}")
            for name, m, x in (("query_mask", mask[0], q), ("value_mask", mask[1], v)):
                if m is not None and tuple(jnp.shape(m)) != tuple(x.shape[:-1]):
                    raise ValueError(
                        f"Layer '{self.name}' ({cls}) expects `{name}` of shape "
                        f"{shape_str(x.shape[:-1])}. Received: {name}.shape="
                        f"{shape_str(jnp.shape(m))}")
        return q, v, k

    def init(self, rng, input_spec):
        q, _, _ = self._validate(as_spec(input_spec))
        params = {}
        if self.use_scale:
            params["scale"] = jnp.ones((), self.dtype)
        if self.score_mode == "concat":
            params["concat_score_weight"] = jnp.ones((), self.dtype)
        return params, {}

    def weight_names(self):
        return ([("params", "scale")] if self.use_scale else []) + (
            [("params", "concat_score_weight")] if self.score_mode == "concat" else [])

    def _scores(self, params, q, k):
        if self.score_mode == "dot":
            scores = jnp.matmul(q, jnp.swapaxes(k, -2, -1))
            if self.use_scale:
                scores = scores * params["scale"]
            return scores
        qk = jnp.expand_dims(q, -2) + jnp.expand_dims(k, -3)
        if self.use_scale:
            qk = params["scale"] * qk
        return params["concat_score_weight"] * jnp.sum(jnp.tanh(qk), axis=-1)

    def apply(self, params, state, inputs, *, training=False, rng=None, mask=None,
              return_attention_scores=False, use_causal_mask=False):
        q, v, k = self._validate(inputs, mask)
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask else None
        scores = self._scores(params, q, k)
        scores_mask = None if v_mask is None else jnp.expand_dims(_as_bool(v_mask), -2)
        if use_causal_mask:
            causal = _causal_mask(scores.shape[-2], scores.shape[-1])
            scores_mask = causal if scores_mask is None else scores_mask & causal
        if scores_mask is not None:
            big = 65504.0 if scores.dtype == jnp.float16 else 1.0e9
            scores = jnp.where(scores_mask, scores, scores - jnp.asarray(big, scores.dtype))
        weights = jax.nn.softmax(scores, axis=-1)
        if training and self.dropout > 0:
            self._need_rng(rng)
            weights = _dropout(weights, self.dropout, rng)
        out = jnp.matmul(weights, v)
        if q_mask is not None:
            out = jnp.where(jnp.expand_dims(_as_bool(q_mask), -1), out, jnp.zeros_like(out))
        if return_attention_scores:
            return (out, weights), state
        return out, state

    def compute_mask(self, inputs, previous_mask=None):
        if previous_mask is None or previous_mask[0] is None:
            return None
        return jnp.asarray(previous_mask[0])

    def get_config(self):
        return {**super().get_config(), "use_scale": self.use_scale,
                "score_mode": self.score_mode, "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """Additive (Bahdanau-style) attention over `[query, value]` or `[query, value, key]`, as
    Keras 3 computes it: scores `sum(scale * tanh(query + key), axis=-1)`.

    Args:
        use_scale: whether a learned vector `scale` of shape `(dim,)` (Glorot uniform)
            weights the features of the scores.
        dropout: the dropout rate on the attention probabilities when training.
        seed: the seed of the dropout (kerasx draws it from the `rng` given to `apply`).

    Call arguments, input shape, output shape: as for `Attention`.
    """

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        kwargs.pop("score_mode", None)
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def init(self, rng, input_spec):
        q, _, _ = self._validate(as_spec(input_spec))
        if not self.use_scale:
            return {}, {}
        return {"scale": initializers.GlorotUniform()(rng, (q.shape[-1],), self.dtype)}, {}

    def weight_names(self):
        return [("params", "scale")] if self.use_scale else []

    def _scores(self, params, q, k):
        t = jnp.tanh(jnp.expand_dims(q, -2) + jnp.expand_dims(k, -3))
        if self.use_scale:
            t = params["scale"] * t
        return jnp.sum(t, axis=-1)

    def get_config(self):
        config = super().get_config()
        del config["score_mode"]
        return config
