"""Reshaping layers: Identity, Permute, RepeatVector, Cropping1D/2D/3D, ZeroPadding1D/2D/3D,
UpSampling1D/2D/3D (Keras 3's `keras.layers`)."""

from typing import Tuple

import jax
import jax.numpy as jnp

from ._base import Layer, shape_str
from ._convolutional import _spatial_axes, _standardize_data_format, _standardize_tuple


def _pair(layer: str, arg: str, value, allow_zero: bool = True) -> Tuple[int, int]:
    """An int or a pair of ints as a pair of non-negative (or positive) ints."""
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        pair = tuple(pair)
    except TypeError:
        pair = ()
    low = 0 if allow_zero else 1
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= low
                                 for v in pair):
        raise ValueError(f"Layer {layer} expects `{arg}` to be an int or a pair of ints of at "
                         f"least {low}. Received: {arg}={value!r}")
    return pair


def _pairs(layer: str, arg: str, value, n: int = 2) -> Tuple[Tuple[int, int], ...]:
    """Keras's amounts for `n` spatial axes: an int, `n` ints (symmetric per axis) or `n`
    pairs."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (_pair(layer, arg, value),) * n
    if not hasattr(value, "__len__") or len(value) != n:
        example = ("((top, bottom), (left, right))" if n == 2 else
                   "((left_dim1, right_dim1), (left_dim2, right_dim2), (left_dim3, right_dim3))")
        raise ValueError(f"Layer {layer} expects `{arg}` to be an int, a tuple of {n} ints or a "
                         f"tuple of {n} pairs {example}. Received: {arg}={value!r}")
    return tuple(_pair(layer, arg, v) for v in value)


class Identity(Layer):
    """Returns its inputs unchanged."""

    supports_masking = True

    def apply(self, params, state, inputs, *, training=False, rng=None):
        return inputs, state


class Permute(Layer):
    """Permutes the axes after the batch axis: `dims` is a permutation of 1..rank-1. A mask
    stops here, as in Keras."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        self.dims = tuple(dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"Layer '{self.name}' (Permute) expects `dims` to be a permutation "
                             f"of 1..{len(self.dims)} (the batch axis stays first). Received: "
                             f"dims={dims!r}")

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_rank(inputs, (len(self.dims) + 1,))
        return jnp.transpose(inputs, (0,) + self.dims), state

    def get_config(self):
        return {**super().get_config(), "dims": self.dims}


class RepeatVector(Layer):
    """`(batch, features)` -> `(batch, n, features)`: the input repeated `n` times."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, int) or n <= 0:
            raise ValueError(f"Layer '{self.name}' (RepeatVector) expects `n` to be a positive "
                             f"integer. Received: n={n!r}")
        self.n = n

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_rank(inputs, (2,))
        return jnp.repeat(inputs[:, None, :], self.n, axis=1), state

    def get_config(self):
        return {**super().get_config(), "n": self.n}


def _crop(layer, inputs, axes, amounts):
    index = [slice(None)] * inputs.ndim
    for axis, (lo, hi) in zip(axes, amounts):
        if lo + hi >= inputs.shape[axis]:
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) crops {lo} + {hi} from axis "
                f"{axis} of inputs of shape {shape_str(inputs.shape)}: nothing would be left.")
        index[axis] = slice(lo, inputs.shape[axis] - hi)
    return inputs[tuple(index)]


class Cropping1D(Layer):
    """Crops `cropping = (start, end)` steps (or an int for both) off axis 1 of
    `(batch, steps, features)`."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pair("Cropping1D", "cropping", cropping)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_rank(inputs, (3,))
        return _crop(self, inputs, (1,), (self.cropping,)), state

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping}


class Cropping2D(Layer):
    """Crops `((top, bottom), (left, right))` (or symmetric amounts) off an image's height and
    width."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(self, data_format)
        self.cropping = _pairs("Cropping2D", "cropping", cropping)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_rank(inputs, (4,))
        return _crop(self, inputs, _spatial_axes(2, self.data_format), self.cropping), state

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping,
                "data_format": self.data_format}


class Cropping3D(Layer):
    """Crops the three spatial axes of volumes.

    Args:
        cropping: an int (the same amount off both ends of every spatial axis), a tuple of 3
            ints (symmetric per axis) or a tuple of 3 pairs
            `((left_dim1, right_dim1), (left_dim2, right_dim2), (left_dim3, right_dim3))`.
            Default `((1, 1), (1, 1), (1, 1))`.
        data_format: "channels_last" (default) or "channels_first".

    Input shape:
        `(batch_size, dim1, dim2, dim3, channels)`.
    Output shape:
        `(batch_size, cropped_dim1, cropped_dim2, cropped_dim3, channels)`.
    """

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(self, data_format)
        self.cropping = _pairs("Cropping3D", "cropping", cropping, 3)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_rank(inputs, (5,))
        return _crop(self, inputs, _spatial_axes(3, self.data_format), self.cropping), state

    def get_config(self):
        return {**super().get_config(), "cropping": self.cropping,
                "data_format": self.data_format}


def _pad(inputs, axes, amounts):
    widths = [(0, 0)] * inputs.ndim
    for axis, amount in zip(axes, amounts):
        widths[axis] = amount
    return jnp.pad(inputs, widths)


class ZeroPadding1D(Layer):
    """Pads axis 1 (the steps) with `padding = (start, end)` zeros (or an int for both)."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(self, data_format)
        self.padding = _pair("ZeroPadding1D", "padding", padding)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_rank(inputs, (3,))
        return _pad(inputs, _spatial_axes(1, self.data_format), (self.padding,)), state

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class ZeroPadding2D(Layer):
    """Pads an image's height and width with zeros: `((top, bottom), (left, right))`, two ints
    (symmetric per axis) or one int."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(self, data_format)
        self.padding = _pairs("ZeroPadding2D", "padding", padding)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_rank(inputs, (4,))
        return _pad(inputs, _spatial_axes(2, self.data_format), self.padding), state

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class ZeroPadding3D(Layer):
    """Pads the three spatial axes of volumes with zeros.

    Args:
        padding: an int (the same amount at both ends of every spatial axis), a tuple of 3 ints
            (symmetric per axis) or a tuple of 3 pairs
            `((left_dim1, right_dim1), (left_dim2, right_dim2), (left_dim3, right_dim3))`.
            Default `((1, 1), (1, 1), (1, 1))`.
        data_format: "channels_last" (default) or "channels_first".

    Input shape:
        `(batch_size, dim1, dim2, dim3, channels)`.
    Output shape:
        `(batch_size, padded_dim1, padded_dim2, padded_dim3, channels)`.
    """

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(self, data_format)
        self.padding = _pairs("ZeroPadding3D", "padding", padding, 3)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_rank(inputs, (5,))
        return _pad(inputs, _spatial_axes(3, self.data_format), self.padding), state

    def get_config(self):
        return {**super().get_config(), "padding": self.padding, "data_format": self.data_format}


class UpSampling1D(Layer):
    """Repeats each step `size` times along axis 1."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(f"Layer '{self.name}' (UpSampling1D) expects `size` to be a "
                             f"positive integer. Received: size={size!r}")
        self.size = size

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_rank(inputs, (3,))
        return jnp.repeat(inputs, self.size, axis=1), state

    def get_config(self):
        return {**super().get_config(), "size": self.size}


_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")


class UpSampling2D(Layer):
    """Upsamples images by integer factors.

    Args:
        size: an int or a pair of ints, the factors for height and width (default (2, 2)).
        data_format: "channels_last" (default) or "channels_first".
        interpolation: "nearest" (each pixel repeated, the default), "bilinear", "bicubic",
            "lanczos3" or "lanczos5" (`jax.image.resize` without antialiasing, as Keras 3 on
            JAX resizes).

    Input shape:
        `(batch_size, height, width, channels)`.
    Output shape:
        `(batch_size, height * size[0], width * size[1], channels)`.
    """

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(self, data_format)
        self.size = _pair("UpSampling2D", "size", size, allow_zero=False)
        self.interpolation = interpolation.lower() if isinstance(interpolation, str) else None
        if self.interpolation not in _INTERPOLATIONS:
            raise ValueError(f"Layer '{self.name}' (UpSampling2D) expects `interpolation` to be "
                             f"one of {', '.join(repr(i) for i in _INTERPOLATIONS)}. Received: "
                             f"interpolation={interpolation!r}")

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_rank(inputs, (4,))
        height, width = _spatial_axes(2, self.data_format)
        if self.interpolation == "nearest":
            out = jnp.repeat(inputs, self.size[0], axis=height)
            return jnp.repeat(out, self.size[1], axis=width), state
        if not jnp.issubdtype(inputs.dtype, jnp.floating):
            inputs = inputs.astype(self.compute_dtype)
        shape = list(inputs.shape)
        shape[height] *= self.size[0]
        shape[width] *= self.size[1]
        return jax.image.resize(inputs, shape, method=self.interpolation, antialias=False), state

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}


class UpSampling3D(Layer):
    """Upsamples volumes by repeating each element along the three spatial axes.

    Args:
        size: an int or a tuple of 3 ints, the factors for the three spatial axes
            (default (2, 2, 2)).
        data_format: "channels_last" (default) or "channels_first".

    Input shape:
        `(batch_size, dim1, dim2, dim3, channels)`.
    Output shape:
        `(batch_size, dim1 * size[0], dim2 * size[1], dim3 * size[2], channels)`.
    """

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(self, data_format)
        self.size = _standardize_tuple(self, "size", size, 3)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_rank(inputs, (5,))
        out = inputs
        for axis, factor in zip(_spatial_axes(3, self.data_format), self.size):
            out = jnp.repeat(out, factor, axis=axis)
        return out, state

    def get_config(self):
        return {**super().get_config(), "size": self.size, "data_format": self.data_format}
