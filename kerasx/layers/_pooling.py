"""Pooling layers, as in Keras 3: Max/Average pooling (1D, 2D, 3D), their global versions, and
adaptive (fixed output size) Max/Average pooling (1D, 2D, 3D)."""

import math
from typing import Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from ._base import Layer, shape_str
from ._convolutional import (IntOrTuple, _check_spatial_rank, _spatial_axes,
                             _standardize_data_format, _single_input_shape,
                             _standardize_padding, _standardize_tuple)


def _window_counts(size: int, window: int, stride: int, pad_lo: int, pad_hi: int) -> np.ndarray:
    """How many unpadded elements each window along one axis covers."""
    starts = np.arange(0, size + pad_lo + pad_hi - window + 1, stride) - pad_lo
    return np.minimum(starts + window, size) - np.maximum(starts, 0)


def _lowest(dtype) -> np.ndarray:
    """The identity of `max` for `dtype`; concrete, so `reduce_window` stays differentiable."""
    if jnp.issubdtype(dtype, jnp.floating):
        return np.array(-np.inf, dtype)
    if dtype == jnp.bool_:
        return np.array(False)
    return np.array(jnp.iinfo(dtype).min, dtype)


class _Pooling(Layer):
    """Windowed max/average pooling over `rank` spatial axes."""

    rank: int = 0
    mode: str = "max"

    def __init__(self, pool_size: IntOrTuple, strides: Optional[IntOrTuple] = None,
                 padding: str = "valid", data_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _standardize_tuple(self, "pool_size", pool_size, self.rank)
        self.strides = (self.pool_size if strides is None
                        else _standardize_tuple(self, "strides", strides, self.rank))
        self.padding = _standardize_padding(self, padding, ("valid", "same"))
        self.data_format = _standardize_data_format(self, data_format)

    def _window(self, values: Tuple[int, ...]) -> Tuple[int, ...]:
        """Per-spatial-axis `values` spread over all axes (1 on batch and channels)."""
        full = [1] * (self.rank + 2)
        for a, v in zip(_spatial_axes(self.rank, self.data_format), values):
            full[a] = v
        return tuple(full)

    def _check_input(self, shape: Sequence[int]):
        n = self.rank
        name = f"Layer '{self.name}' ({type(self).__name__})"
        _check_spatial_rank(self, shape, n, self.data_format)
        if self.padding == "valid":
            spatial = [shape[a] for a in _spatial_axes(n, self.data_format)]
            if any(s < p for s, p in zip(spatial, self.pool_size)):
                raise ValueError(
                    f"{name} with padding='valid' and pool_size={self.pool_size} needs spatial "
                    f"dimensions of at least {shape_str(self.pool_size)}, but received input "
                    f"shape {shape_str(shape)}. Use padding='same' or a smaller pool_size."
                )

    def init(self, rng, input_spec):
        self._check_input(_single_input_shape(self, input_spec))
        return {}, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_input(tuple(inputs.shape))
        window = self._window(self.pool_size)
        strides = self._window(self.strides)
        pads = jax.lax.padtype_to_pads(inputs.shape, window, strides, self.padding.upper())
        if self.mode == "max":
            y = jax.lax.reduce_window(inputs, _lowest(inputs.dtype), jax.lax.max, window,
                                      strides, pads)
            return y, state
        if not jnp.issubdtype(inputs.dtype, jnp.floating):
            inputs = inputs.astype(self.compute_dtype)
        total = jax.lax.reduce_window(inputs, np.array(0, inputs.dtype), jax.lax.add,
                                      window, strides, pads)
        if self.padding == "valid":
            return total / math.prod(self.pool_size), state
        # Keras averages over the unpadded elements only: divide by per-window counts,
        # which depend on shapes alone (a NumPy constant, separable across axes).
        counts = np.ones((1,) * inputs.ndim)
        for a in _spatial_axes(self.rank, self.data_format):
            c = _window_counts(inputs.shape[a], window[a], strides[a], *pads[a])
            counts = counts * c.reshape([-1 if i == a else 1 for i in range(inputs.ndim)])
        return total / jnp.asarray(counts, inputs.dtype), state

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling1D(_Pooling):
    """Max pooling over the steps of 1D inputs.

    Args:
        pool_size: an integer or tuple of 1 integer, the window size (default 2).
        strides: an integer or tuple of 1 integer, the step of the window; None (the
            default) means `pool_size`.
        padding: "valid" (no padding) or "same" (output size `ceil(input / strides)`, padding
            split evenly, the extra one at the end).
        data_format: "channels_last" (default) or "channels_first".

    Input shape:
        `(batch_size, steps, channels)`.
    Output shape:
        `(batch_size, new_steps, channels)`.
    """

    rank, mode = 1, "max"

    def __init__(self, pool_size: IntOrTuple = 2, strides: Optional[IntOrTuple] = None,
                 padding: str = "valid", data_format: Optional[str] = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling2D(_Pooling):
    """Max pooling over the height and width of images.

    Args:
        pool_size: an integer or tuple of 2 integers, the window size (default (2, 2)).
        strides: an integer or tuple of 2 integers, the step of the window; None (the
            default) means `pool_size`.
        padding: "valid" (no padding) or "same" (output size `ceil(input / strides)`, padding
            split evenly, the extra one at the end).
        data_format: "channels_last" (default) or "channels_first".

    Input shape:
        `(batch_size, height, width, channels)`.
    Output shape:
        `(batch_size, new_height, new_width, channels)`.
    """

    rank, mode = 2, "max"

    def __init__(self, pool_size: IntOrTuple = (2, 2), strides: Optional[IntOrTuple] = None,
                 padding: str = "valid", data_format: Optional[str] = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling1D(_Pooling):
    """Average pooling over the steps of 1D inputs.

    Args:
        pool_size: an integer or tuple of 1 integer, the window size (default 2).
        strides: an integer or tuple of 1 integer, the step of the window; None (the
            default) means `pool_size`.
        padding: "valid" (no padding) or "same" (output size `ceil(input / strides)`, padding
            split evenly, the extra one at the end; windows that overlap the padding
            average over their unpadded elements only, as in Keras).
        data_format: "channels_last" (default) or "channels_first".

    Input shape:
        `(batch_size, steps, channels)`.
    Output shape:
        `(batch_size, new_steps, channels)`.
    """

    rank, mode = 1, "average"

    def __init__(self, pool_size: IntOrTuple = 2, strides: Optional[IntOrTuple] = None,
                 padding: str = "valid", data_format: Optional[str] = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling2D(_Pooling):
    """Average pooling over the height and width of images.

    Args:
        pool_size: an integer or tuple of 2 integers, the window size (default (2, 2)).
        strides: an integer or tuple of 2 integers, the step of the window; None (the
            default) means `pool_size`.
        padding: "valid" (no padding) or "same" (output size `ceil(input / strides)`, padding
            split evenly, the extra one at the end; windows that overlap the padding
            average over their unpadded elements only, as in Keras).
        data_format: "channels_last" (default) or "channels_first".

    Input shape:
        `(batch_size, height, width, channels)`.
    Output shape:
        `(batch_size, new_height, new_width, channels)`.
    """

    rank, mode = 2, "average"

    def __init__(self, pool_size: IntOrTuple = (2, 2), strides: Optional[IntOrTuple] = None,
                 padding: str = "valid", data_format: Optional[str] = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class MaxPooling3D(_Pooling):
    """Max pooling over the depth, height and width of volumes.

    Args:
        pool_size: an integer or tuple of 3 integers, the window size (default (2, 2, 2)).
        strides: an integer or tuple of 3 integers, the step of the window; None (the
            default) means `pool_size`.
        padding: "valid" (no padding) or "same" (output size `ceil(input / strides)`, padding
            split evenly, the extra one at the end).
        data_format: "channels_last" (default) or "channels_first".

    Input shape:
        `(batch_size, depth, height, width, channels)`.
    Output shape:
        `(batch_size, new_depth, new_height, new_width, channels)`.
    """

    rank, mode = 3, "max"

    def __init__(self, pool_size: IntOrTuple = (2, 2, 2), strides: Optional[IntOrTuple] = None,
                 padding: str = "valid", data_format: Optional[str] = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class AveragePooling3D(_Pooling):
    """Average pooling over the depth, height and width of volumes.

    Args:
        pool_size: an integer or tuple of 3 integers, the window size (default (2, 2, 2)).
        strides: an integer or tuple of 3 integers, the step of the window; None (the
            default) means `pool_size`.
        padding: "valid" (no padding) or "same" (output size `ceil(input / strides)`, padding
            split evenly, the extra one at the end; windows that overlap the padding
            average over their unpadded elements only, as in Keras).
        data_format: "channels_last" (default) or "channels_first".

    Input shape:
        `(batch_size, depth, height, width, channels)`.
    Output shape:
        `(batch_size, new_depth, new_height, new_width, channels)`.
    """

    rank, mode = 3, "average"

    def __init__(self, pool_size: IntOrTuple = (2, 2, 2), strides: Optional[IntOrTuple] = None,
                 padding: str = "valid", data_format: Optional[str] = None, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _GlobalPooling(Layer):
    """Max or mean over all spatial axes."""

    rank: int = 0
    mode: str = "max"

    def __init__(self, data_format: Optional[str] = None, keepdims: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(self, data_format)
        self.keepdims = bool(keepdims)

    def init(self, rng, input_spec):
        self._check_rank(input_spec, (self.rank + 2,))
        return {}, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        if inputs.ndim != self.rank + 2:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects inputs of rank "
                f"{self.rank + 2} (batch axis included), but received shape "
                f"{shape_str(inputs.shape)}."
            )
        axes = _spatial_axes(self.rank, self.data_format)
        if self.mode == "max":
            return jnp.max(inputs, axis=axes, keepdims=self.keepdims), state
        if not jnp.issubdtype(inputs.dtype, jnp.floating):
            inputs = inputs.astype(self.compute_dtype)
        return jnp.mean(inputs, axis=axes, keepdims=self.keepdims), state

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalMaxPooling1D(_GlobalPooling):
    """The maximum over the steps of 1D inputs.

    Args:
        data_format: "channels_last" (default) or "channels_first".
        keepdims: whether to keep the pooled spatial axes, with size 1.

    Input shape:
        `(batch_size, steps, channels)`.
    Output shape:
        `(batch_size, channels)`, or `(batch_size, 1, channels)` with `keepdims=True`.
    """

    rank, mode = 1, "max"


class GlobalMaxPooling2D(_GlobalPooling):
    """The maximum over the height and width of images.

    Args:
        data_format: "channels_last" (default) or "channels_first".
        keepdims: whether to keep the pooled spatial axes, with size 1.

    Input shape:
        `(batch_size, height, width, channels)`.
    Output shape:
        `(batch_size, channels)`, or `(batch_size, 1, 1, channels)` with `keepdims=True`.
    """

    rank, mode = 2, "max"


class GlobalAveragePooling1D(_GlobalPooling):
    """The mean over the steps of 1D inputs.

    Args:
        data_format: "channels_last" (default) or "channels_first".
        keepdims: whether to keep the pooled spatial axes, with size 1.

    Input shape:
        `(batch_size, steps, channels)`.
    Output shape:
        `(batch_size, channels)`, or `(batch_size, 1, channels)` with `keepdims=True`.
    """

    rank, mode = 1, "average"
    # Keras's GlobalAveragePooling1D alone of the pooling layers takes a mask: the mean over
    # the unmasked steps (0 / 0 where every step is masked, as in Keras); the mask stops here.
    supports_masking = True

    def apply(self, params, state, inputs, mask=None, *, training=False, rng=None):
        if mask is None:
            return super().apply(params, state, inputs)
        if inputs.ndim != 3:
            return super().apply(params, state, inputs)  # the rank error
        steps = 1 if self.data_format == "channels_last" else 2
        mask = jnp.asarray(mask)
        if mask.shape != (inputs.shape[0], inputs.shape[steps]):
            raise ValueError(
                f"Layer '{self.name}' (GlobalAveragePooling1D) expects a mask of shape (batch, "
                f"steps) = {shape_str((inputs.shape[0], inputs.shape[steps]))} for inputs "
                f"{shape_str(inputs.shape)}. Received a mask of shape {shape_str(mask.shape)}.")
        keep = jnp.expand_dims(mask.astype(jnp.bool_), 3 - steps)
        if not jnp.issubdtype(inputs.dtype, jnp.floating):
            inputs = inputs.astype(self.compute_dtype)
        total = jnp.sum(jnp.where(keep, inputs, jnp.zeros_like(inputs)), axis=steps,
                        keepdims=self.keepdims)
        count = jnp.sum(keep.astype(inputs.dtype), axis=steps, keepdims=self.keepdims)
        return total / count, state

    def compute_mask(self, inputs, previous_mask=None):
        return None


class GlobalAveragePooling2D(_GlobalPooling):
    """The mean over the height and width of images.

    Args:
        data_format: "channels_last" (default) or "channels_first".
        keepdims: whether to keep the pooled spatial axes, with size 1.

    Input shape:
        `(batch_size, height, width, channels)`.
    Output shape:
        `(batch_size, channels)`, or `(batch_size, 1, 1, channels)` with `keepdims=True`.
    """

    rank, mode = 2, "average"


class GlobalMaxPooling3D(_GlobalPooling):
    """The maximum over the depth, height and width of volumes.

    Args:
        data_format: "channels_last" (default) or "channels_first".
        keepdims: whether to keep the pooled spatial axes, with size 1.

    Input shape:
        `(batch_size, depth, height, width, channels)`.
    Output shape:
        `(batch_size, channels)`, or `(batch_size, 1, 1, 1, channels)` with `keepdims=True`.
    """

    rank, mode = 3, "max"


class GlobalAveragePooling3D(_GlobalPooling):
    """The mean over the depth, height and width of volumes.

    Args:
        data_format: "channels_last" (default) or "channels_first".
        keepdims: whether to keep the pooled spatial axes, with size 1.

    Input shape:
        `(batch_size, depth, height, width, channels)`.
    Output shape:
        `(batch_size, channels)`, or `(batch_size, 1, 1, 1, channels)` with `keepdims=True`.
    """

    rank, mode = 3, "average"


# ------------------------------------------------------------------------------------ adaptive
def _adaptive_windows(size: int, out: int) -> Tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of the `out` windows that adaptive pooling takes along an axis of
    `size`: window i covers `[floor(i * size / out), ceil((i + 1) * size / out))`, so windows
    cover the axis, overlap by at most one element, and have at most two lengths."""
    i = np.arange(out)
    starts = (i * size) // out
    ends = -((-(i + 1) * size) // out)
    return starts, ends - starts


class _AdaptivePooling(Layer):
    """Max or mean over windows chosen so that the output has a fixed spatial size."""

    rank: int = 0
    mode: str = "max"

    def __init__(self, output_size: IntOrTuple, data_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        self.output_size = _standardize_tuple(self, "output_size", output_size, self.rank)
        self.data_format = _standardize_data_format(self, data_format)

    def _check_input(self, shape: Sequence[int]):
        n = self.rank
        _check_spatial_rank(self, shape, n, self.data_format)
        spatial = [shape[a] for a in _spatial_axes(n, self.data_format)]
        if any(s <= 0 for s in spatial):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) cannot pool empty spatial axes. "
                f"Received input shape {shape_str(shape)}."
            )

    def init(self, rng, input_spec):
        self._check_input(_single_input_shape(self, input_spec))
        return {}, {}

    def _pool_axis(self, x, axis: int, out: int):
        """Pools one axis of `x` to length `out`: each distinct window length is one strided
        `reduce_window` over the whole axis, and a gather picks every output's window."""
        starts, lengths = _adaptive_windows(x.shape[axis], out)
        pooled, offsets, offset = [], {}, 0
        for length in sorted(set(lengths.tolist())):
            window = tuple(length if a == axis else 1 for a in range(x.ndim))
            if self.mode == "max":
                y = jax.lax.reduce_window(x, _lowest(x.dtype), jax.lax.max, window,
                                          (1,) * x.ndim, "VALID")
            else:
                y = jax.lax.reduce_window(x, np.array(0, x.dtype), jax.lax.add, window,
                                          (1,) * x.ndim, "VALID") / length
            offsets[length] = offset
            offset += y.shape[axis]
            pooled.append(y)
        index = np.array([offsets[l] + s for s, l in zip(starts, lengths)], np.int32)
        return jnp.take(jnp.concatenate(pooled, axis=axis), index, axis=axis)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_input(tuple(inputs.shape))
        x = inputs
        if self.mode == "average" and not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(self.compute_dtype)
        for axis, out in zip(_spatial_axes(self.rank, self.data_format), self.output_size):
            x = self._pool_axis(x, axis, out)
        return x, state

    def get_config(self):
        return {**super().get_config(), "output_size": self.output_size,
                "data_format": self.data_format}


_ADAPTIVE_ARGS = """
    Args:
        output_size: an integer or tuple of {n} integers, the output's spatial size.
        data_format: "channels_last" (default) or "channels_first".

    Output `i` along an axis of length `L` pools the input window
    `[floor(i * L / output_size), ceil((i + 1) * L / output_size))` (PyTorch's and Keras's
    rule), so any input size gives the same output size.
"""


class AdaptiveMaxPooling1D(_AdaptivePooling):
    """Max pooling of sequences to a fixed length.
    {args}
    Input shape:
        `(batch_size, steps, channels)`.
    Output shape:
        `(batch_size, output_size, channels)`.
    """

    rank, mode = 1, "max"


class AdaptiveMaxPooling2D(_AdaptivePooling):
    """Max pooling of images to a fixed height and width.
    {args}
    Input shape:
        `(batch_size, height, width, channels)`.
    Output shape:
        `(batch_size, output_height, output_width, channels)`.
    """

    rank, mode = 2, "max"


class AdaptiveMaxPooling3D(_AdaptivePooling):
    """Max pooling of volumes to a fixed depth, height and width.
    {args}
    Input shape:
        `(batch_size, depth, height, width, channels)`.
    Output shape:
        `(batch_size, output_depth, output_height, output_width, channels)`.
    """

    rank, mode = 3, "max"


class AdaptiveAveragePooling1D(_AdaptivePooling):
    """Average pooling of sequences to a fixed length.
    {args}
    Input shape:
        `(batch_size, steps, channels)`.
    Output shape:
        `(batch_size, output_size, channels)`.
    """

    rank, mode = 1, "average"


class AdaptiveAveragePooling2D(_AdaptivePooling):
    """Average pooling of images to a fixed height and width.
    {args}
    Input shape:
        `(batch_size, height, width, channels)`.
    Output shape:
        `(batch_size, output_height, output_width, channels)`.
    """

    rank, mode = 2, "average"


class AdaptiveAveragePooling3D(_AdaptivePooling):
    """Average pooling of volumes to a fixed depth, height and width.
    {args}
    Input shape:
        `(batch_size, depth, height, width, channels)`.
    Output shape:
        `(batch_size, output_depth, output_height, output_width, channels)`.
    """

    rank, mode = 3, "average"


for _cls in (AdaptiveMaxPooling1D, AdaptiveMaxPooling2D, AdaptiveMaxPooling3D,
             AdaptiveAveragePooling1D, AdaptiveAveragePooling2D, AdaptiveAveragePooling3D):
    _cls.__doc__ = _cls.__doc__.replace("{args}", _ADAPTIVE_ARGS.format(n=_cls.rank))
del _cls


# Keras's alias names.
MaxPool1D = MaxPooling1D
MaxPool2D = MaxPooling2D
AvgPool1D = AveragePooling1D
AvgPool2D = AveragePooling2D
GlobalMaxPool1D = GlobalMaxPooling1D
GlobalMaxPool2D = GlobalMaxPooling2D
GlobalAvgPool1D = GlobalAveragePooling1D
GlobalAvgPool2D = GlobalAveragePooling2D
MaxPool3D = MaxPooling3D
AvgPool3D = AveragePooling3D
GlobalMaxPool3D = GlobalMaxPooling3D
GlobalAvgPool3D = GlobalAveragePooling3D
