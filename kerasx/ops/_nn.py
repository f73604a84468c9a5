"""Neural-network ops (`keras.ops.nn`): activations, convolutions and pooling, losses,
normalization, attention, CTC, mapped onto `jax.nn` and `jax.lax`.

Image tensors default to "channels_last" (Keras's default `image_data_format`).
"""

import builtins
import math as _pymath

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import _settings
from ._core import FLOATX
from ._core import _canonical_axis
from ._core import _check_axis
from ._core import _check_int
from ._core import _dtype_arg
from ._core import _tensor
from ._core import _to_float
from ._core import keras_op
from ._core import result_type

EPSILON = 1e-7  # Keras's backend.epsilon()


def _make(name, fn, doc):
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    fn.__module__ = __name__
    return keras_op(fn)


# ---------------------------------------------------------------------------- activations
def _activation(name, impl, doc, float_only=True):
    def op(x):
        x = _tensor(x)
        return impl(_to_float(x) if float_only else x)

    return _make(name, op, doc)


def _bool_as_int(impl):
    def f(x):
        return impl(x.astype("int32") if x.dtype == jnp.bool_ else x)

    return f


relu = _activation("relu", _bool_as_int(jax.nn.relu), "Rectified linear unit `max(x, 0)`.",
                   float_only=False)
relu6 = _activation("relu6", _bool_as_int(jax.nn.relu6), "`min(max(x, 0), 6)`.",
                    float_only=False)
sigmoid = _activation("sigmoid", jax.nn.sigmoid, "Logistic sigmoid `1 / (1 + exp(-x))`.")
sparse_sigmoid = _activation("sparse_sigmoid", jax.nn.sparse_sigmoid,
                             "Sparse sigmoid: 0 below -1, `(x + 1) / 2` in [-1, 1], 1 above.")
softplus = _activation("softplus", jax.nn.softplus, "`log(1 + exp(x))`, stably.")
softsign = _activation("softsign", jax.nn.soft_sign, "`x / (1 + |x|)`.")
sparse_plus = _activation("sparse_plus", jax.nn.sparse_plus,
                          "0 below -1, `(x + 1)**2 / 4` in [-1, 1], `x` above.")
silu = _activation("silu", jax.nn.silu, "Sigmoid linear unit `x * sigmoid(x)`.")
swish = _activation("swish", jax.nn.silu, "Swish `x * sigmoid(x)` (same as `silu`).")
log_sigmoid = _activation("log_sigmoid", jax.nn.log_sigmoid, "`log(sigmoid(x))`, stably.")
hard_sigmoid = _activation("hard_sigmoid", jax.nn.hard_sigmoid, "`relu6(x + 3) / 6`.")
hard_silu = _activation("hard_silu", jax.nn.hard_silu, "`x * hard_sigmoid(x)`.")
hard_swish = _activation("hard_swish", jax.nn.hard_silu, "`x * hard_sigmoid(x)`.")
hard_tanh = _activation("hard_tanh", jax.nn.hard_tanh, "`x` clipped to [-1, 1].")
selu = _activation("selu", jax.nn.selu, "Scaled exponential linear unit.")
tanh_shrink = _activation("tanh_shrink", lambda x: x - jnp.tanh(x), "`x - tanh(x)`.")


@keras_op
def squareplus(x, b=4):
    """`(x + sqrt(x**2 + b)) / 2`, a smooth ReLU."""
    return jax.nn.squareplus(_to_float(_tensor(x)), b=b)


@keras_op
def leaky_relu(x, negative_slope=0.2):
    """`x` where positive, `negative_slope * x` otherwise."""
    return jax.nn.leaky_relu(_to_float(_tensor(x)), negative_slope=negative_slope)


@keras_op
def elu(x, alpha=1.0):
    """Exponential linear unit: `x` where positive, `alpha * (exp(x) - 1)` otherwise."""
    return jax.nn.elu(_to_float(_tensor(x)), alpha=alpha)


@keras_op
def celu(x, alpha=1.0):
    """Continuously differentiable ELU: `max(x, 0) + min(alpha * (exp(x / alpha) - 1), 0)`."""
    return jax.nn.celu(_to_float(_tensor(x)), alpha=alpha)


@keras_op
def gelu(x, approximate=True):
    """Gaussian error linear unit (`approximate`: the tanh approximation)."""
    return jax.nn.gelu(_to_float(_tensor(x)), approximate=approximate)


@keras_op
def glu(x, axis=-1):
    """Gated linear unit: the first half of `x` along `axis` times sigmoid of the second."""
    x = _to_float(_tensor(x))
    axis = _canonical_axis("ops.glu", axis, x.ndim)
    if x.shape[axis] % 2:
        raise ValueError(f"ops.glu: axis {axis} of `x` must have an even size. "
                         f"Received: x.shape={x.shape}")
    return jax.nn.glu(x, axis=axis)


@keras_op
def soft_shrink(x, threshold=0.5):
    """`x - threshold` above `threshold`, `x + threshold` below `-threshold`, else 0."""
    x = _to_float(_tensor(x))
    zero = jnp.zeros_like(x)
    return jnp.where(x > threshold, x - threshold,
                     jnp.where(x < -threshold, x + threshold, zero))


@keras_op
def hard_shrink(x, threshold=0.5):
    """`x` where `|x| > threshold`, else 0."""
    x = _tensor(x)
    return jnp.where(jnp.abs(x) > threshold, x, 0.0)  # a weak 0.0: ints give floatx


@keras_op
def threshold(x, threshold, default_value):
    """`x` where `x > threshold`, else `default_value`."""
    x = _tensor(x)
    return jnp.where(x > threshold, x, default_value)


def _over_axes(impl, x, axis):
    """Applies `impl(x, axis=-1)` over one axis, or over several axes flattened together."""
    if not isinstance(axis, (tuple, list)):
        return impl(x, axis=axis)
    axis = sorted(a % x.ndim for a in axis)
    keep = [d for d in range(x.ndim) if d not in axis]
    moved = jnp.transpose(x, keep + axis)
    flat = moved.reshape(moved.shape[:len(keep)] + (-1,))
    out = impl(flat, axis=-1).reshape(moved.shape)
    return jnp.transpose(out, np.argsort(keep + axis))


@keras_op
def softmax(x, axis=-1):
    """Softmax along `axis` (an int or a tuple of axes normalized together)."""
    x = _to_float(_tensor(x))
    _check_axis("ops.softmax", axis, x.ndim, allow_none=True)
    if axis is None:
        return jax.nn.softmax(x, axis=None)
    return _over_axes(jax.nn.softmax, x, axis)


@keras_op
def log_softmax(x, axis=-1):
    """Log of the softmax along `axis`, computed stably."""
    x = _to_float(_tensor(x))
    _check_axis("ops.log_softmax", axis, x.ndim, allow_none=True)
    if axis is None:
        return jax.nn.log_softmax(x, axis=None)
    return _over_axes(jax.nn.log_softmax, x, axis)


@keras_op
def sparsemax(x, axis=-1):
    """Sparsemax: the Euclidean projection of `x` onto the probability simplex along `axis`."""
    x = _to_float(_tensor(x))
    axis = _canonical_axis("ops.sparsemax", axis, x.ndim)
    z = jnp.moveaxis(x, axis, -1)
    z_sorted = -jnp.sort(-z, axis=-1)
    k = jnp.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    cumsum = jnp.cumsum(z_sorted, axis=-1)
    support = (1 + k * z_sorted) > cumsum
    k_z = jnp.sum(support, axis=-1, keepdims=True)
    tau = (jnp.take_along_axis(cumsum, k_z - 1, axis=-1) - 1) / k_z.astype(z.dtype)
    return jnp.moveaxis(jnp.maximum(z - tau, 0), -1, axis)


@keras_op
def polar(abs_, angle):
    """The complex number with magnitude `abs_` and phase `angle`."""
    abs_ = _to_float(_tensor(abs_))
    angle = _to_float(_tensor(angle))
    return jax.lax.complex(abs_ * jnp.cos(angle), abs_ * jnp.sin(angle))


# ---------------------------------------------------------------------------- conv and pooling
def _data_format(opname, data_format):
    if data_format is None:
        return _settings.IMAGE_DATA_FORMAT  # kerasx.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"{opname}: `data_format` must be 'channels_last' or "
                         f"'channels_first'. Received: data_format={data_format!r}")
    return data_format


def _padding(opname, padding):
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"{opname}: `padding` must be 'valid' or 'same'. "
                         f"Received: padding={padding!r}")
    return padding.lower()


def _tuple(opname, value, n, arg):
    """An int or a length-`n` sequence of positive ints, as a tuple."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value),) * n
    try:
        value = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{opname}: `{arg}` must be an int or a tuple of {n} ints. "
                        f"Received: {arg}={value!r}") from None
    if len(value) != n or builtins.any(v < 1 for v in value):
        raise ValueError(f"{opname}: `{arg}` must be a positive int or a tuple of {n} "
                         f"positive ints. Received: {arg}={value}")
    return value


def _spatial_dims(opname, inputs, min_rank=3, max_rank=5):
    if not min_rank <= inputs.ndim <= max_rank:
        raise ValueError(f"{opname}: `inputs` must be a {min_rank}D to {max_rank}D tensor "
                         "(batch, spatial..., channels). "
                         f"Received: inputs.shape={inputs.shape}")
    return inputs.ndim - 2


def _dimension_numbers(n, data_format):
    spatial = "DHW"[-n:] if n <= 3 else None
    lhs = "N" + spatial + "C" if data_format == "channels_last" else "NC" + spatial
    return (lhs, spatial + "IO", lhs)


def _pool(opname, inputs, pool_size, strides, padding, data_format, init, reduce):
    inputs = _tensor(inputs)
    n = _spatial_dims(opname, inputs)
    data_format = _data_format(opname, data_format)
    padding = _padding(opname, padding)
    pool_size = _tuple(opname, pool_size, n, "pool_size")
    strides = pool_size if strides is None else _tuple(opname, strides, n, "strides")
    if data_format == "channels_last":
        window, stride = (1,) + pool_size + (1,), (1,) + strides + (1,)
    else:
        window, stride = (1, 1) + pool_size, (1, 1) + strides
    if padding == "valid":
        for d, (size, w) in enumerate(zip(inputs.shape, window)):
            if size < w:
                raise ValueError(f"{opname}: `pool_size` {pool_size} is larger than the input "
                                 f"with padding='valid'. Received: inputs.shape={inputs.shape}")
    out = jax.lax.reduce_window(inputs, jnp.asarray(init, inputs.dtype), reduce, window,
                                stride, padding.upper())
    return out, window, stride, padding


@keras_op
def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Max pooling over the spatial axes of a 3D/4D/5D `inputs`.

    Args:
        pool_size: an int or a tuple, one per spatial axis.
        strides: an int or a tuple (default: `pool_size`).
        padding: "valid" or "same".
        data_format: "channels_last" (default) or "channels_first".
    """
    x = _tensor(inputs)
    init = -jnp.inf if jnp.issubdtype(x.dtype, jnp.floating) else jnp.iinfo(x.dtype).min
    out, *_ = _pool("ops.max_pool", x, pool_size, strides, padding, data_format, init,
                    jax.lax.max)
    return out


@keras_op
def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Average pooling over the spatial axes ("same" padding averages valid entries only)."""
    x = _to_float(_tensor(inputs))
    out, window, stride, padding = _pool("ops.average_pool", x, pool_size, strides, padding,
                                         data_format, 0, jax.lax.add)
    if padding == "valid":
        return out / _pymath.prod(window)
    shape = tuple(s if w > 1 else 1 for s, w in zip(x.shape, window))
    counts = jax.lax.reduce_window(jnp.ones(shape, x.dtype), jnp.asarray(0, x.dtype),
                                   jax.lax.add, window, stride, "SAME")
    return out / counts


def _adaptive_windows(length, out):
    starts = [(i * length) // out for i in range(out)]
    ends = [-(-((i + 1) * length) // out) for i in range(out)]
    return starts, ends


def _adaptive_pool(opname, inputs, output_size, data_format, mode):
    x = _tensor(inputs)
    n = _spatial_dims(opname, x)
    data_format = _data_format(opname, data_format)
    output_size = _tuple(opname, output_size, n, "output_size")
    if mode == "avg":
        x = _to_float(x)
    first = 1 if data_format == "channels_last" else 2
    for d, out in enumerate(output_size):
        axis = first + d
        length = x.shape[axis]
        starts, ends = _adaptive_windows(length, out)
        if mode == "avg":
            mat = np.zeros((out, length), np.float32)
            for i, (s, e) in enumerate(zip(starts, ends)):
                mat[i, s:e] = 1.0 / (e - s)
            x = jnp.moveaxis(jnp.tensordot(x, jnp.asarray(mat, x.dtype), ((axis,), (1,))), -1,
                             axis)
        else:
            width = builtins.max(e - s for s, e in zip(starts, ends))
            idx = np.array([[builtins.min(s + j, e - 1) for j in range(width)]
                            for s, e in zip(starts, ends)])
            gathered = jnp.take(x, jnp.asarray(idx.reshape(-1)), axis=axis)
            shape = x.shape[:axis] + (out, width) + x.shape[axis + 1:]
            x = jnp.max(gathered.reshape(shape), axis=axis + 1)
    return x


@keras_op
def adaptive_average_pool(inputs, output_size, data_format=None):
    """Average pooling to a fixed `output_size` (windows as in PyTorch's adaptive pooling)."""
    return _adaptive_pool("ops.adaptive_average_pool", inputs, output_size, data_format, "avg")


@keras_op
def adaptive_max_pool(inputs, output_size, data_format=None):
    """Max pooling to a fixed `output_size` (windows as in PyTorch's adaptive pooling)."""
    return _adaptive_pool("ops.adaptive_max_pool", inputs, output_size, data_format, "max")


def _conv_prepare(opname, inputs, kernel, strides, padding, data_format, dilation_rate):
    inputs = _tensor(inputs)
    kernel = _tensor(kernel)
    n = _spatial_dims(opname, inputs)
    if kernel.ndim != n + 2:
        raise ValueError(f"{opname}: `kernel` must have rank {n + 2} (spatial..., in, out) for "
                         f"inputs of rank {inputs.ndim}. Received: kernel.shape={kernel.shape}, "
                         f"inputs.shape={inputs.shape}")
    data_format = _data_format(opname, data_format)
    padding = _padding(opname, padding)
    strides = _tuple(opname, strides, n, "strides")
    dilation_rate = _tuple(opname, dilation_rate, n, "dilation_rate")
    dt = result_type(inputs.dtype, kernel.dtype)
    return (inputs.astype(dt), kernel.astype(dt), n, strides, padding, data_format,
            dilation_rate)


def _channels(x, data_format):
    return x.shape[-1] if data_format == "channels_last" else x.shape[1]


@keras_op
def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """N-D convolution (1D, 2D or 3D) of `inputs` with `kernel` `(spatial..., in, out)`.

    Args:
        strides, dilation_rate: an int or a tuple, one per spatial axis.
        padding: "valid" or "same".
        data_format: "channels_last" (default) or "channels_first".
    Grouped convolution happens when the input channels are a multiple of `kernel.shape[-2]`.
    """
    x, k, n, strides, padding, data_format, dilation = _conv_prepare(
        "ops.conv", inputs, kernel, strides, padding, data_format, dilation_rate)
    channels = _channels(x, data_format)
    if channels % k.shape[-2]:
        raise ValueError(f"ops.conv: the input channels ({channels}) must be a multiple of the "
                         f"kernel's input channels ({k.shape[-2]}). Received: "
                         f"inputs.shape={x.shape}, kernel.shape={k.shape}")
    groups = channels // k.shape[-2]
    return jax.lax.conv_general_dilated(
        x, k, strides, padding.upper(), rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(n, data_format), feature_group_count=groups)


@keras_op
def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """Depthwise convolution: each input channel convolved with its own filters.

    `kernel` has shape `(spatial..., in_channels, channel_multiplier)`.
    """
    x, k, n, strides, padding, data_format, dilation = _conv_prepare(
        "ops.depthwise_conv", inputs, kernel, strides, padding, data_format, dilation_rate)
    channels = _channels(x, data_format)
    if k.shape[-2] != channels:
        raise ValueError(f"ops.depthwise_conv: `kernel.shape[-2]` ({k.shape[-2]}) must equal "
                         f"the input channels ({channels}). Received: inputs.shape={x.shape}, "
                         f"kernel.shape={k.shape}")
    k = k.reshape(k.shape[:-2] + (1, k.shape[-2] * k.shape[-1]))
    return jax.lax.conv_general_dilated(
        x, k, strides, padding.upper(), rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(n, data_format), feature_group_count=channels)


@keras_op
def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid",
                   data_format=None, dilation_rate=1):
    """A depthwise convolution followed by a pointwise (1x1) convolution."""
    depthwise = depthwise_conv.__wrapped__(inputs, depthwise_kernel, strides, padding,
                                           data_format, dilation_rate)
    return conv.__wrapped__(depthwise, pointwise_kernel, 1, "valid", data_format, 1)


def _transpose_padding(length, k, stride, dilation, padding, output_padding):
    """(left, right) padding of the stride-dilated input for Keras's conv_transpose sizes."""
    k_eff = (k - 1) * dilation + 1
    if padding == "valid":
        op = builtins.max(k_eff, stride) - k_eff if output_padding is None else output_padding
        out = (length - 1) * stride + k_eff + op
        before = 0
    else:
        if output_padding is None:
            out = length * stride
        else:
            out = (length - 1) * stride + k_eff % 2 + output_padding
        # the padding a forward convolution of `out` would use to give `length`
        before = builtins.max((length - 1) * stride + k_eff - out, 0) // 2
    left = k_eff - 1 - before
    right = out + k_eff - 1 - ((length - 1) * stride + 1) - left
    return left, right


@keras_op
def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None,
                   data_format=None, dilation_rate=1):
    """Transposed convolution (the gradient of `conv`); `kernel` is `(spatial..., out, in)`.

    Output sizes follow Keras: "same" gives `input * strides`, "valid" gives
    `(input - 1) * strides + max(kernel, strides)`, unless `output_padding` is given.
    """
    x, k, n, strides, padding, data_format, dilation = _conv_prepare(
        "ops.conv_transpose", inputs, kernel, strides, padding, data_format, dilation_rate)
    channels = _channels(x, data_format)
    if k.shape[-1] != channels:
        raise ValueError(f"ops.conv_transpose: `kernel.shape[-1]` ({k.shape[-1]}) must equal "
                         f"the input channels ({channels}). Received: inputs.shape={x.shape}, "
                         f"kernel.shape={k.shape}")
    if output_padding is not None and not isinstance(output_padding, (list, tuple)):
        output_padding = (output_padding,) * n
    first = 1 if data_format == "channels_last" else 2
    pads = [_transpose_padding(x.shape[first + d], k.shape[d], strides[d], dilation[d],
                               padding, None if output_padding is None else output_padding[d])
            for d in range(n)]
    # A transposed convolution is a convolution of the stride-dilated input with the
    # spatially flipped kernel whose in/out axes are swapped.
    k = jnp.flip(k, axis=tuple(range(n)))
    k = jnp.swapaxes(k, -1, -2)
    return jax.lax.conv_general_dilated(
        x, k, (1,) * n, pads, lhs_dilation=strides, rhs_dilation=dilation,
        dimension_numbers=_dimension_numbers(n, data_format))


def _pair(opname, value, arg):
    """An int or a pair of ints as a pair; positive, except `padding` (>= 0)."""
    if arg != "padding":
        return _tuple(opname, value, 2, arg)
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(not isinstance(v, (int, np.integer)) or v < 0 for v in pair):
        raise ValueError(f"{opname}: `padding` must be a non-negative int or a pair of them. "
                         f"Received: padding={value!r}")
    return tuple(int(v) for v in pair)


def _unfold_impl(x, kernel_size, dilation, padding, stride):
    k = _pair("ops.unfold", kernel_size, "kernel_size")
    d = _pair("ops.unfold", dilation, "dilation")
    p = _pair("ops.unfold", padding, "padding")
    s = _pair("ops.unfold", stride, "stride")
    x = jnp.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    patches = jax.lax.conv_general_dilated_patches(
        x, k, s, "VALID", rhs_dilation=d, dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return patches.reshape(patches.shape[:2] + (-1,))


@keras_op
def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Sliding local blocks of an NCHW `x`, as `(N, C * kh * kw, L)` (PyTorch's unfold)."""
    x = _tensor(x)
    if x.ndim != 4:
        raise ValueError(f"ops.unfold: `x` must be a 4D tensor (N, C, H, W). "
                         f"Received: x.shape={x.shape}")
    return _unfold_impl(x, kernel_size, dilation, padding, stride)


@keras_op
def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Sums sliding blocks `(N, C * kh * kw, L)` back into an `(N, C, H, W)` tensor.

    The adjoint of `unfold` (PyTorch's fold); `output_size` is `(H, W)`.
    """
    x = _tensor(x)
    if x.ndim != 3:
        raise ValueError(f"ops.fold: `x` must be a 3D tensor (N, C * kh * kw, L). "
                         f"Received: x.shape={x.shape}")
    oh, ow = _pair("ops.fold", output_size, "output_size")
    kh, kw = _pair("ops.fold", kernel_size, "kernel_size")
    if x.shape[1] % (kh * kw):
        raise ValueError(f"ops.fold: `x.shape[1]` ({x.shape[1]}) must be a multiple of "
                         f"kh * kw ({kh * kw}). Received: x.shape={x.shape}")
    spec = jax.ShapeDtypeStruct((x.shape[0], x.shape[1] // (kh * kw), oh, ow), x.dtype)
    transpose = jax.linear_transpose(
        lambda img: _unfold_impl(img, kernel_size, dilation, padding, stride), spec)
    (out,) = transpose(x)
    return out


@keras_op
def depth_to_space(x, block_size, data_format="channels_last"):
    """Moves depth into `block_size x block_size` spatial blocks of a 4D `x` (pixel shuffle)."""
    x = _tensor(x)
    data_format = _data_format("ops.depth_to_space", data_format)
    block_size = _check_int("ops.depth_to_space", block_size, "block_size", minimum=2)
    if x.ndim != 4:
        raise ValueError(f"ops.depth_to_space: `x` must be 4D. Received: x.shape={x.shape}")
    b = block_size
    if data_format == "channels_last":
        n, h, w, c = x.shape
        if c % (b * b):
            raise ValueError(f"ops.depth_to_space: channels ({c}) must be divisible by "
                             f"block_size**2 ({b * b}). Received: x.shape={x.shape}")
        y = x.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5)
        return y.reshape(n, h * b, w * b, c // (b * b))
    n, c, h, w = x.shape
    if c % (b * b):
        raise ValueError(f"ops.depth_to_space: channels ({c}) must be divisible by "
                         f"block_size**2 ({b * b}). Received: x.shape={x.shape}")
    # channels_first follows PyTorch's pixel_shuffle: channel-major blocks
    y = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    return y.reshape(n, c // (b * b), h * b, w * b)


@keras_op
def space_to_depth(x, block_size, data_format="channels_last"):
    """Moves `block_size x block_size` spatial blocks of a 4D `x` into depth."""
    x = _tensor(x)
    data_format = _data_format("ops.space_to_depth", data_format)
    block_size = _check_int("ops.space_to_depth", block_size, "block_size", minimum=2)
    if x.ndim != 4:
        raise ValueError(f"ops.space_to_depth: `x` must be 4D. Received: x.shape={x.shape}")
    b = block_size
    if data_format == "channels_last":
        n, h, w, c = x.shape
        if h % b or w % b:
            raise ValueError(f"ops.space_to_depth: height and width must be divisible by "
                             f"block_size ({b}). Received: x.shape={x.shape}")
        y = x.reshape(n, h // b, b, w // b, b, c).transpose(0, 1, 3, 2, 4, 5)
        return y.reshape(n, h // b, w // b, c * b * b)
    n, c, h, w = x.shape
    if h % b or w % b:
        raise ValueError(f"ops.space_to_depth: height and width must be divisible by "
                         f"block_size ({b}). Received: x.shape={x.shape}")
    y = x.reshape(n, c, h // b, b, w // b, b).transpose(0, 1, 3, 5, 2, 4)
    return y.reshape(n, c * b * b, h // b, w // b)


# ---------------------------------------------------------------------------- encodings
@keras_op
def one_hot(x, num_classes, axis=-1, dtype=None, sparse=False):
    """One-hot encoding of int `x` with `num_classes` classes on a new `axis`.

    Out-of-range (e.g. negative) indices give all-zero rows.
    """
    if sparse:
        raise ValueError("ops.one_hot: `sparse=True` is not supported; kerasx tensors are "
                         "dense.")
    x = _tensor(x)
    num_classes = _check_int("ops.one_hot", num_classes, "num_classes", minimum=0)
    _canonical_axis("ops.one_hot", axis, x.ndim + 1)
    return jax.nn.one_hot(x, num_classes, axis=axis,
                          dtype=_dtype_arg("ops.one_hot", dtype, _settings.FLOATX))


@keras_op
def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """Multi-hot encoding: 1 at every class that occurs in each sample of int `inputs`.

    A 1-D `inputs` is one sample; a 2-D `inputs` is a batch of samples.
    """
    if num_classes is None:
        num_classes = kwargs.pop("num_tokens", None)
    if kwargs:
        raise TypeError(f"ops.multi_hot: unexpected arguments {sorted(kwargs)}")
    if num_classes is None:
        raise ValueError("ops.multi_hot: `num_classes` must be given.")
    if sparse:
        raise ValueError("ops.multi_hot: `sparse=True` is not supported; kerasx tensors are "
                         "dense.")
    x = _tensor(inputs).astype("int32")
    encoded = jax.nn.one_hot(x, num_classes, axis=axis,
                             dtype=_dtype_arg("ops.multi_hot", dtype, _settings.FLOATX))
    return jnp.max(encoded, axis=1 if x.ndim > 1 else 0)


# ---------------------------------------------------------------------------- losses
@keras_op
def binary_crossentropy(target, output, from_logits=False):
    """Elementwise binary cross-entropy between `target` and `output` (probabilities/logits)."""
    target, output = _tensor(target), _tensor(output)
    if target.shape != output.shape:
        raise ValueError("ops.binary_crossentropy: `target` and `output` must have the same "
                         f"shape. Received: target.shape={target.shape}, "
                         f"output.shape={output.shape}")
    if from_logits:
        return -target * jax.nn.log_sigmoid(output) - (1.0 - target) * jax.nn.log_sigmoid(
            -output)
    output = jnp.clip(output, _settings.EPSILON, 1.0 - _settings.EPSILON)
    return -(target * jnp.log(output) + (1.0 - target) * jnp.log(1.0 - output))


def _log_probs(output, from_logits, axis):
    if from_logits:
        return jax.nn.log_softmax(output, axis=axis)
    output = output / jnp.sum(output, axis=axis, keepdims=True)
    return jnp.log(jnp.clip(output, _settings.EPSILON, 1.0 - _settings.EPSILON))


@keras_op
def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Categorical cross-entropy along `axis` between one-hot `target` and `output`."""
    target, output = _tensor(target), _tensor(output)
    if target.shape != output.shape:
        raise ValueError("ops.categorical_crossentropy: `target` and `output` must have the "
                         f"same shape. Received: target.shape={target.shape}, "
                         f"output.shape={output.shape}")
    if output.ndim < 1:
        raise ValueError("ops.categorical_crossentropy: `target` and `output` must be at "
                         f"least rank 1. Received: output.shape={output.shape}")
    axis = _canonical_axis("ops.categorical_crossentropy", axis, output.ndim)
    return -jnp.sum(target * _log_probs(output, from_logits, axis), axis=axis)


@keras_op
def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """Categorical cross-entropy with integer class `target`s."""
    target = _tensor(target).astype("int32")
    output = _tensor(output)
    if output.ndim < 1:
        raise ValueError("ops.sparse_categorical_crossentropy: `output` must be at least "
                         f"rank 1. Received: output.shape={output.shape}")
    if target.ndim == output.ndim and target.shape[-1] == 1:
        target = jnp.squeeze(target, -1)
    axis = _canonical_axis("ops.sparse_categorical_crossentropy", axis, output.ndim)
    expected = output.shape[:axis] + output.shape[axis + 1:]
    if target.shape != expected:
        raise ValueError("ops.sparse_categorical_crossentropy: `target` must have the shape of "
                         f"`output` without its class axis. Received: "
                         f"target.shape={target.shape}, output.shape={output.shape}")
    log_probs = _log_probs(output, from_logits, axis)
    # a floatx one-hot, as Keras: float16 outputs give a float32 loss
    onehot = jax.nn.one_hot(target, output.shape[axis], axis=axis, dtype=_settings.FLOATX)
    return -jnp.sum(onehot * log_probs, axis=axis)


@keras_op
def psnr(x1, x2, max_val):
    """Peak signal-to-noise ratio between `x1` and `x2` for a signal range `max_val`."""
    x1, x2 = _tensor(x1), _tensor(x2)
    if x1.shape != x2.shape:
        raise ValueError(f"ops.psnr: `x1` and `x2` must have the same shape. "
                         f"Received: x1.shape={x1.shape}, x2.shape={x2.shape}")
    max_val = _tensor(max_val, x2.dtype)
    mse = jnp.mean(jnp.square(x1 - x2))
    return 20 * jnp.log10(max_val) - 10 * jnp.log10(mse)


# ---------------------------------------------------------------------------- normalization
@keras_op
def moments(x, axes, keepdims=False, synchronized=False):
    """Mean and variance of `x` over `axes`; float16/bfloat16 are computed in float32."""
    if synchronized:
        raise NotImplementedError("ops.moments: `synchronized=True` is not supported; "
                                  "kerasx computes moments on the local batch.")
    x = _tensor(x)
    axes = _check_axis("ops.moments", tuple(axes) if isinstance(axes, list) else axes, x.ndim)
    orig = x.dtype
    half = orig in (jnp.float16, jnp.bfloat16)
    if half:
        x = x.astype("float32")
    mean = jnp.mean(x, axis=axes, keepdims=keepdims)
    variance = jnp.var(x, axis=axes, keepdims=keepdims)
    if half:
        lo, hi = float(jnp.finfo(orig).min), float(jnp.finfo(orig).max)
        mean = jnp.clip(mean, lo, hi).astype(orig)
        variance = jnp.clip(variance, lo, hi).astype(orig)
    return mean, variance


@keras_op
def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """`(x - mean) / sqrt(variance + epsilon) * scale + offset`, with 1-D statistics over
    `axis`."""
    x = _tensor(x)
    axis = _canonical_axis("ops.batch_normalization", axis, x.ndim)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]

    def param(v, arg):
        v = _tensor(v)
        if v.ndim != 1 or v.shape[0] != x.shape[axis]:
            raise ValueError(f"ops.batch_normalization: `{arg}` must be 1-D with the size of "
                             f"axis {axis} of `x` ({x.shape[axis]}). "
                             f"Received: {arg}.shape={v.shape}")
        return v.reshape(shape)

    inv = jax.lax.rsqrt(param(variance, "variance") + epsilon)
    if scale is not None:
        inv = inv * param(scale, "scale")
    res = -param(mean, "mean") * inv
    if offset is not None:
        res = res + param(offset, "offset")
    return x * inv + res


@keras_op
def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """Normalizes `x` to zero mean and unit variance over `axis`, then `* gamma + beta`.

    Computed in at least float32; returns `x`'s dtype.
    """
    if kwargs.pop("rms_scaling", False):
        raise ValueError("ops.layer_normalization: `rms_scaling=True` is not supported; use "
                         "`ops.rms_normalization`.")
    if kwargs:
        raise TypeError(f"ops.layer_normalization: unexpected arguments {sorted(kwargs)}")
    eps = _settings.EPSILON if epsilon is None else epsilon
    x = _tensor(x)
    orig = x.dtype
    x = x.astype(result_type(orig, "float32"))
    axes = _check_axis("ops.layer_normalization", axis, x.ndim, allow_none=False)
    axes = sorted(a % x.ndim for a in (axes if isinstance(axes, tuple) else (axes,)))
    bshape = [1] * x.ndim
    for a in axes:
        bshape[a] = x.shape[a]

    def param(v):
        v = _tensor(v, x.dtype)
        if v.ndim != x.ndim and axes != [x.ndim - 1]:
            v = v.reshape(bshape)
        return v

    mean = jnp.mean(x, axis=tuple(axes), keepdims=True)
    var = jnp.var(x, axis=tuple(axes), keepdims=True)
    inv = jax.lax.rsqrt(var + eps)
    if gamma is not None:
        inv = inv * param(gamma)
    out = (x - mean) * inv
    if beta is not None:
        out = out + param(beta)
    return out.astype(orig)


@keras_op
def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """`x / sqrt(mean(x**2, axis) + epsilon) * scale`, computed in at least float32."""
    eps = _settings.EPSILON if epsilon is None else epsilon
    x = _tensor(x)
    orig = x.dtype
    x = x.astype(result_type(orig, "float32"))
    if x.ndim == 0:
        x = x[None]
    axis = _check_axis("ops.rms_normalization", axis, x.ndim, allow_none=False)
    out = x * jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=axis, keepdims=True) + eps)
    if scale is not None:
        out = out * _tensor(scale, x.dtype)
    return out.astype(orig)


@keras_op
def normalize(x, axis=-1, order=2, epsilon=None):
    """`x` divided by its `order`-norm along `axis` (at least `epsilon`)."""
    if not isinstance(order, int) or isinstance(order, bool) or order < 1:
        raise ValueError(f"ops.normalize: `order` must be an int >= 1. Received: order={order!r}")
    eps = _settings.EPSILON if epsilon is None else epsilon
    x = _tensor(x)
    if x.ndim == 0:
        x = x[None]
    axis = _check_axis("ops.normalize", axis, x.ndim)
    if order == 2:
        inv = jax.lax.rsqrt(jnp.sum(jnp.square(_to_float(x)), axis=axis, keepdims=True))
        return x * jnp.minimum(inv, 1.0 / eps)
    norm = jnp.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    return x / jnp.maximum(norm, eps)


# ---------------------------------------------------------------------------- attention
@keras_op
def dot_product_attention(query, key, value, bias=None, mask=None, scale=None,
                          is_causal=False, flash_attention=None, attn_logits_soft_cap=None):
    """Scaled dot-product attention over `(batch, time, heads, depth)` tensors.

    Args:
        query: `(B, T, N, H)`; key, value: `(B, S, K, H)` with `N` a multiple of `K`
            (grouped-query attention).
        bias: added to the logits, broadcastable to `(B, N, T, S)`.
        mask: boolean, broadcastable to `(B, N, T, S)`; False entries are masked out.
        scale: the logit scale (default `1 / sqrt(H)`).
        is_causal: apply a causal mask.
        flash_attention: True requires a fused (cuDNN) kernel; None/False use XLA.
        attn_logits_soft_cap: if set, logits become `cap * tanh(logits / cap)`.
    """
    q, k, v = _tensor(query), _tensor(key), _tensor(value)
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError("ops.dot_product_attention: `query`, `key` and `value` must be 4D "
                         f"(batch, time, heads, depth). Received: query.shape={q.shape}, "
                         f"key.shape={k.shape}, value.shape={v.shape}")
    if k.shape != v.shape[:3] + (k.shape[3],) or q.shape[0] != k.shape[0] or \
            q.shape[3] != k.shape[3] or q.shape[2] % k.shape[2]:
        raise ValueError("ops.dot_product_attention: incompatible shapes; expected query "
                         "(B, T, N, H), key (B, S, K, H), value (B, S, K, H_v) with N a "
                         f"multiple of K. Received: query.shape={q.shape}, "
                         f"key.shape={k.shape}, value.shape={v.shape}")
    dt = result_type(q.dtype, k.dtype, v.dtype)
    q, k, v = q.astype(dt), k.astype(dt), v.astype(dt)
    scale = 1.0 / _pymath.sqrt(q.shape[-1]) if scale is None else scale
    if bias is not None:
        bias = _tensor(bias, dt)
    if mask is not None:
        mask = _tensor(mask).astype(bool)
    if flash_attention:
        if jax.default_backend() != "gpu":
            raise ValueError("ops.dot_product_attention: `flash_attention=True` needs a GPU "
                             "(cuDNN); this backend is "
                             f"'{jax.default_backend()}'. Pass flash_attention=None.")
        return jax.nn.dot_product_attention(q, k, v, bias=bias, mask=mask, scale=scale,
                                            is_causal=is_causal, implementation="cudnn")
    # The XLA path, written out so that a soft cap fits in.
    groups = q.shape[2] // k.shape[2]
    b, t, n, h = q.shape
    qg = q.reshape(b, t, k.shape[2], groups, h)
    logits_dtype = jnp.promote_types(dt, jnp.float32)
    logits = jnp.einsum("btkgh,bskh->bkgts", qg, k, preferred_element_type=logits_dtype)
    logits = logits.reshape(b, n, t, k.shape[1]) * jnp.asarray(scale, logits_dtype)
    if attn_logits_soft_cap is not None:
        logits = attn_logits_soft_cap * jnp.tanh(logits / attn_logits_soft_cap)
    if bias is not None:
        logits = logits + bias.astype(logits_dtype)
    keep = None
    if mask is not None:
        keep = jnp.broadcast_to(mask, logits.shape)
    if is_causal:
        causal = jnp.tril(jnp.ones((t, k.shape[1]), bool))
        keep = causal if keep is None else jnp.logical_and(keep, causal)
    if keep is not None:
        big_neg = jnp.asarray(-0.7 * float(jnp.finfo(logits_dtype).max), logits_dtype)
        logits = jnp.where(keep, logits, big_neg)
    probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(dt)
    probs = probs.reshape(b, k.shape[2], groups, t, k.shape[1])
    out = jnp.einsum("bkgts,bskh->btkgh", probs, v)
    return out.reshape(b, t, n, v.shape[-1])


# ---------------------------------------------------------------------------- CTC
@keras_op
def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """CTC loss per sample (Connectionist Temporal Classification).

    Args:
        target: int labels `(batch, max_label_length)`.
        output: logits `(batch, max_time, num_classes)`.
        target_length, output_length: `(batch,)` valid lengths.
        mask_index: the blank class.
    """
    target = _tensor(target).astype("int32")
    output = _tensor(output)
    if output.ndim != 3 or target.ndim != 2 or target.shape[0] != output.shape[0]:
        raise ValueError("ops.ctc_loss: expected `target` (batch, max_label_length) and "
                         f"`output` (batch, max_time, num_classes). Received: "
                         f"target.shape={target.shape}, output.shape={output.shape}")
    output = output.astype(result_type(output.dtype, "float32"))
    target_length = _tensor(target_length).astype("int32")
    output_length = _tensor(output_length).astype("int32")
    label_pad = (jnp.arange(target.shape[1])[None, :] >= target_length[:, None]).astype(
        output.dtype)
    logit_pad = (jnp.arange(output.shape[1])[None, :] >= output_length[:, None]).astype(
        output.dtype)
    return optax.ctc_loss(output, logit_pad, target, label_pad, blank_id=mask_index,
                          log_epsilon=-1e5)


def _ctc_greedy(inputs, lengths, merge_repeated, mask_index):
    b, t, _ = inputs.shape
    best = jnp.argmax(inputs, axis=-1)
    scores = jnp.max(inputs, axis=-1)
    beyond = jnp.arange(t)[None, :] >= lengths[:, None]
    best = jnp.where(beyond, mask_index, best)
    scores = jnp.where(beyond, 0.0, scores)
    if merge_repeated:
        repeated = jnp.pad(best[:, 1:] == best[:, :-1], ((0, 0), (1, 0)))
        best = jnp.where(repeated, mask_index, best)
    blank = best == mask_index
    best = jnp.where(blank, -1, best)
    # move the kept labels to the front, in order
    order = jnp.argsort(jnp.where(blank, t, jnp.arange(t)[None, :]), axis=-1)
    decoded = jnp.take_along_axis(best, order, axis=-1)
    return decoded[None], -jnp.sum(scores, axis=1)[:, None]


def _segment_logsumexp(values, segments, count):
    top = jax.ops.segment_max(values, segments, count)
    safe = jnp.where(jnp.isfinite(top), top, 0.0)
    total = jax.ops.segment_sum(jnp.exp(values - safe[segments]), segments, count)
    return jnp.where(jnp.isfinite(top), safe + jnp.log(total), -jnp.inf)


def _ctc_beam_search(inputs, lengths, beam_width, top_paths, mask_index):
    """CTC prefix beam search with fixed-size beams (jittable).

    A beam is a label prefix (padded with -1) with the log probabilities of its paths that end
    in a blank and in its last label. At each step every beam is extended by every class (the
    blank keeps the prefix), equal prefixes are merged (sorted, then summed per run), and the
    `beam_width` most probable are kept.
    """
    _, t, c = inputs.shape
    w = beam_width
    logp = jax.nn.log_softmax(inputs, axis=-1)
    neg = jnp.asarray(-jnp.inf, logp.dtype)
    classes = jnp.arange(c)
    positions = jnp.arange(t)

    def step(carry, xs):
        prefixes, plen, p_blank, p_label = carry  # (w, t), (w,), (w,), (w,)
        lp, active = xs  # (c,), ()
        total = jnp.logaddexp(p_blank, p_label)
        last = jnp.where(plen > 0, prefixes[jnp.arange(w), jnp.maximum(plen - 1, 0)], -1)
        # the prefix stays: a blank, or a repeat of its last label (without a blank between)
        stay_blank = total + lp[mask_index]
        stay_label = jnp.where(last >= 0, p_label + lp[jnp.maximum(last, 0)], neg)
        # the prefix grows by a label; repeating the last label needs a blank in between
        grow = jnp.where(classes[None, :] == last[:, None], p_blank[:, None],
                         total[:, None]) + lp[None, :]
        grow = jnp.where(classes[None, :] == mask_index, neg, grow)  # (w, c)
        grown = jnp.where(positions[None, None, :] == plen[:, None, None],
                          classes[None, :, None], prefixes[:, None, :])  # (w, c, t)
        cand = jnp.concatenate([grown.reshape(w * c, t), prefixes])
        cand_len = jnp.concatenate([jnp.repeat(plen + 1, c), plen])
        cand_blank = jnp.concatenate([jnp.full((w * c,), neg), stay_blank])
        cand_label = jnp.concatenate([grow.reshape(-1), stay_label])
        # merge equal prefixes: sort them, then number the runs of equal rows
        order = jnp.lexsort([cand[:, j] for j in reversed(range(t))])
        cand, cand_len = cand[order], cand_len[order]
        cand_blank, cand_label = cand_blank[order], cand_label[order]
        starts = jnp.concatenate([jnp.ones((1,), bool),
                                  jnp.any(cand[1:] != cand[:-1], axis=1)])
        runs = jnp.cumsum(starts) - 1
        n = cand.shape[0]
        m_blank = _segment_logsumexp(cand_blank, runs, n)
        m_label = _segment_logsumexp(cand_label, runs, n)
        m_pref = jnp.zeros_like(cand).at[runs].set(cand)
        m_len = jnp.zeros_like(cand_len).at[runs].set(cand_len)
        _, keep = jax.lax.top_k(jnp.logaddexp(m_blank, m_label), w)
        new = (m_pref[keep], m_len[keep], m_blank[keep], m_label[keep])
        old = (prefixes, plen, p_blank, p_label)
        return jax.tree.map(lambda a, b: jnp.where(active, a, b), new, old), None

    def decode(logp_b, length):
        init = (jnp.full((w, t), -1, jnp.int32), jnp.zeros((w,), jnp.int32),
                jnp.full((w,), neg).at[0].set(0.0), jnp.full((w,), neg))
        (prefixes, _, p_blank, p_label), _ = jax.lax.scan(
            step, init, (logp_b, positions < length))
        scores, best = jax.lax.top_k(jnp.logaddexp(p_blank, p_label), top_paths)
        return prefixes[best], scores

    decoded, scores = jax.vmap(decode)(logp, lengths)
    return jnp.transpose(decoded, (1, 0, 2)), scores


@keras_op
def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1,
               merge_repeated=True, mask_index=0):
    """Decodes CTC outputs `(batch, time, classes)`; returns `(decoded, scores)`.

    `decoded` is `(top_paths, batch, time)` padded with -1; `scores` is `(batch, top_paths)`
    (greedy: minus the sum of the per-step maxima of `inputs`; beam search: the log
    probability of each path).
    """
    x = _tensor(inputs)
    if x.ndim != 3:
        raise ValueError(f"ops.ctc_decode: `inputs` must be 3D (batch, time, classes). "
                         f"Received: inputs.shape={x.shape}")
    x = x.astype(result_type(x.dtype, "float32"))
    lengths = _tensor(sequence_lengths).astype("int32")
    if strategy == "greedy":
        return _ctc_greedy(x, lengths, merge_repeated, mask_index)
    if strategy == "beam_search":
        beam_width = _check_int("ops.ctc_decode", beam_width, "beam_width", minimum=1)
        top_paths = _check_int("ops.ctc_decode", top_paths, "top_paths", minimum=1)
        if top_paths > beam_width:
            raise ValueError("ops.ctc_decode: `top_paths` cannot exceed `beam_width`. "
                             f"Received: top_paths={top_paths}, beam_width={beam_width}")
        return _ctc_beam_search(x, lengths, beam_width, top_paths, mask_index)
    raise ValueError(f"ops.ctc_decode: `strategy` must be 'greedy' or 'beam_search'. "
                     f"Received: strategy={strategy!r}")

