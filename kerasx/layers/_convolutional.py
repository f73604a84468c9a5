"""Convolution layers: Conv1D, Conv2D (Keras 3 arguments, defaults and kernel layouts)."""

import numbers
from typing import Any, Optional, Sequence, Tuple, Union

import jax

from .. import activations, initializers
from ._base import Layer, as_spec, shape_str

IntOrTuple = Union[int, Sequence[int]]


# --------------------------------------------------------------------------------- argument checks
# Shared with `_pooling.py`.

def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_positive_int(layer: Layer, arg: str, value: Any) -> int:
    if not _is_int(value) or value <= 0:
        raise ValueError(
            f"Received an invalid value for `{arg}` of layer '{layer.name}' "
            f"({type(layer).__name__}), expected a positive integer. Received: {arg}={value!r}"
        )
    return int(value)


def _standardize_tuple(layer: Layer, arg: str, value: Any, n: int) -> Tuple[int, ...]:
    """An int or a length-`n` sequence of positive ints → a tuple of `n` ints (Keras's rule)."""
    if _is_int(value):
        values = (int(value),) * n
    elif isinstance(value, (tuple, list)) and len(value) == n and all(_is_int(v) for v in value):
        values = tuple(int(v) for v in value)
    else:
        example = "3" if n == 1 else f"3 or {(3,) * n}"
        raise ValueError(
            f"Received an invalid value for `{arg}` of layer '{layer.name}' "
            f"({type(layer).__name__}), expected an integer or a tuple of {n} integers, "
            f"e.g. {arg}={example}. Received: {arg}={value!r}"
        )
    if any(v <= 0 for v in values):
        raise ValueError(
            f"Received an invalid value for `{arg}` of layer '{layer.name}' "
            f"({type(layer).__name__}), expected positive integers. Received: {arg}={value!r}"
        )
    return values


def _standardize_padding(layer: Layer, padding: Any, allowed: Sequence[str]) -> str:
    p = padding.lower() if isinstance(padding, str) else padding
    if p not in allowed:
        raise ValueError(
            f"Received an invalid value for `padding` of layer '{layer.name}' "
            f"({type(layer).__name__}), expected one of {', '.join(repr(a) for a in allowed)}. "
            f"Received: padding={padding!r}"
        )
    return p


def _standardize_data_format(layer: Layer, data_format: Any) -> str:
    if data_format is None:
        return "channels_last"
    df = data_format.lower() if isinstance(data_format, str) else data_format
    if df not in ("channels_last", "channels_first"):
        raise ValueError(
            f"Received an invalid value for `data_format` of layer '{layer.name}' "
            f"({type(layer).__name__}), expected 'channels_last' or 'channels_first'. "
            f"Received: data_format={data_format!r}"
        )
    return df


def _single_input_shape(layer: Layer, spec: Any) -> Tuple[int, ...]:
    """The shape of a single-tensor input spec; a teaching error for nested inputs."""
    if not hasattr(spec, "shape"):
        layer._check_rank(as_spec(spec), ())  # raises "expects a single tensor", with shapes
    return tuple(spec.shape)


def _spatial_axes(rank: int, data_format: str) -> Tuple[int, ...]:
    """The spatial axes of a rank-(rank + 2) tensor in `data_format`."""
    return tuple(range(1, rank + 1)) if data_format == "channels_last" else tuple(range(2, rank + 2))


def _layout(rank: int, data_format: str) -> str:
    """The `lax` layout string of inputs/outputs: 'NWC', 'NHWC', 'NCHW', ..."""
    spatial = "DHW"[-rank:]
    return "N" + spatial + "C" if data_format == "channels_last" else "NC" + spatial


# --------------------------------------------------------------------------------- convolution
class _Conv(Layer):
    """The N-D convolution shared by Conv1D and Conv2D; `rank` is the number of spatial axes."""

    rank: int = 0
    _paddings: Tuple[str, ...] = ("valid", "same")

    def __init__(self, filters: int, kernel_size: IntOrTuple, strides: IntOrTuple = 1,
                 padding: str = "valid", data_format: Optional[str] = None,
                 dilation_rate: IntOrTuple = 1, groups: int = 1, activation=None,
                 use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_regularizer, self.kernel_constraint = self._weight_options(
            "kernel", kernel_regularizer, kernel_constraint)
        self.bias_regularizer, self.bias_constraint = self._weight_options(
            "bias", bias_regularizer, bias_constraint)
        n = self.rank
        self.filters = _check_positive_int(self, "filters", filters)
        self.groups = _check_positive_int(self, "groups", groups)
        if self.filters % self.groups:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): the number of filters must be "
                f"divisible by the number of groups, since each group makes filters/groups "
                f"output channels. Received: filters={filters}, groups={groups}"
            )
        self.kernel_size = _standardize_tuple(self, "kernel_size", kernel_size, n)
        self.strides = _standardize_tuple(self, "strides", strides, n)
        self.dilation_rate = _standardize_tuple(self, "dilation_rate", dilation_rate, n)
        self.padding = _standardize_padding(self, padding, self._paddings)
        self.data_format = _standardize_data_format(self, data_format)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): `strides > 1` is not supported "
                f"together with `dilation_rate > 1` (as in Keras). Use one or the other. "
                f"Received: strides={strides}, dilation_rate={dilation_rate}"
            )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    # ------------------------------------------------------------------------- shapes
    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _output_spatial(self, spatial: Sequence[int]) -> Tuple[int, ...]:
        out = []
        for size, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation_rate):
            if self.padding == "valid":
                out.append((size - d * (k - 1) - 1) // s + 1)
            else:  # same, causal
                out.append((size - 1) // s + 1)
        return tuple(out)

    def _check_input(self, shape: Sequence[int]) -> int:
        """Checks an input shape; returns its number of channels."""
        n = self.rank
        name = f"Layer '{self.name}' ({type(self).__name__})"
        layout = ("(batch_size, " + ", ".join(["spatial"] * n) + ", channels)"
                  if self.data_format == "channels_last"
                  else "(batch_size, channels, " + ", ".join(["spatial"] * n) + ")")
        if len(shape) != n + 2:
            raise ValueError(
                f"{name} expects inputs of rank {n + 2}, shaped {layout}, but received shape "
                f"{shape_str(shape)}."
                + (" For a single sample, add a batch axis: x[None]." if len(shape) == n + 1 else "")
            )
        channels = shape[self._channel_axis()]
        if channels % self.groups:
            raise ValueError(
                f"{name}: the number of input channels must be divisible by groups={self.groups}, "
                f"but the input has {channels} channels (input shape {shape_str(shape)})."
            )
        spatial = [shape[a] for a in _spatial_axes(n, self.data_format)]
        out = self._output_spatial(spatial)
        if any(o <= 0 for o in out):
            needed = tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation_rate))
            raise ValueError(
                f"{name} with padding='valid', kernel_size={self.kernel_size} and "
                f"dilation_rate={self.dilation_rate} needs spatial dimensions of at least "
                f"{shape_str(needed)}, but received input shape {shape_str(shape)}. "
                "Use padding='same', a smaller kernel, or larger inputs."
            )
        return channels

    # ------------------------------------------------------------------------- protocol
    def init(self, rng, input_spec):
        channels = self._check_input(_single_input_shape(self, input_spec))
        k_kernel, k_bias = jax.random.split(rng)
        kernel_shape = self.kernel_size + (channels // self.groups, self.filters)
        params = {"kernel": self.kernel_initializer(k_kernel, kernel_shape, self.dtype)}
        if self.use_bias:
            params["bias"] = self.bias_initializer(k_bias, (self.filters,), self.dtype)
        return params, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        kernel = params["kernel"]
        channels = self._check_input(tuple(inputs.shape))
        if channels // self.groups != kernel.shape[-2]:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) was built for inputs with "
                f"{kernel.shape[-2] * self.groups} channels (kernel shape "
                f"{shape_str(kernel.shape)}), but received inputs of shape "
                f"{shape_str(inputs.shape)}."
            )
        if self.padding == "causal":
            padding = [(d * (k - 1), 0) for k, d in zip(self.kernel_size, self.dilation_rate)]
        else:
            padding = self.padding.upper()
        layout = _layout(self.rank, self.data_format)
        y = jax.lax.conv_general_dilated(
            inputs.astype(kernel.dtype), kernel,
            window_strides=self.strides,
            padding=padding,
            rhs_dilation=self.dilation_rate,
            dimension_numbers=(layout, "DHW"[-self.rank:] + "IO", layout),
            feature_group_count=self.groups,
        )
        if self.use_bias:
            bias = params["bias"]
            y = y + (bias if self.data_format == "channels_last"
                     else bias.reshape((-1,) + (1,) * self.rank))
        return self.activation(y), state

    def weight_names(self):
        return [("params", "kernel")] + ([("params", "bias")] if self.use_bias else [])

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "strides": self.strides, "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate, "groups": self.groups,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                **self._weight_options_config("kernel", "bias")}


class Conv1D(_Conv):
    """1D convolution (temporal convolution) over `(batch, steps, channels)` inputs.

    Args:
        filters: positive integer, the number of output channels; divisible by `groups`.
        kernel_size: an integer or a tuple of 1 integer, the window length.
        strides: an integer or tuple of 1 integer, the step of the window (default 1).
        padding: "valid" (no padding), "same" (output length `ceil(steps / strides)`) or
            "causal" (left padding only, so output `t` never sees input `t + 1`).
        data_format: "channels_last" (default) or "channels_first" (`(batch, channels, steps)`).
        dilation_rate: an integer or tuple of 1 integer, the spacing of the kernel taps;
            values > 1 cannot be combined with `strides > 1`.
        groups: positive integer; the input channels are split into `groups` groups, each
            convolved separately with `filters / groups` filters.
        activation: an activation name or callable; None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: initializer names or callables.

    The kernel has shape `(kernel_size, input_channels / groups, filters)`, the bias `(filters,)`.

    Input shape:
        `(batch_size, steps, channels)`.
    Output shape:
        `(batch_size, new_steps, filters)`.
    """

    rank = 1
    _paddings = ("valid", "same", "causal")


class Conv2D(_Conv):
    """2D convolution (spatial convolution over images).

    Args:
        filters: positive integer, the number of output channels; divisible by `groups`.
        kernel_size: an integer or a tuple of 2 integers, the window's height and width.
        strides: an integer or tuple of 2 integers, the step of the window (default 1).
        padding: "valid" (no padding) or "same" (output size `ceil(input / strides)`, padding
            split evenly, the extra one at the bottom/right).
        data_format: "channels_last" (default) or "channels_first" (`(batch, channels, h, w)`).
        dilation_rate: an integer or tuple of 2 integers, the spacing of the kernel taps;
            values > 1 cannot be combined with `strides > 1`.
        groups: positive integer; the input channels are split into `groups` groups, each
            convolved separately with `filters / groups` filters (`groups = channels` makes a
            depthwise convolution).
        activation: an activation name or callable; None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: initializer names or callables.

    The kernel has shape `(kh, kw, input_channels / groups, filters)`, the bias `(filters,)`.
    Integer inputs (e.g. uint8 images) are cast to the kernel dtype.

    Input shape:
        `(batch_size, height, width, channels)`.
    Output shape:
        `(batch_size, new_height, new_width, filters)`.

    Example:
        >>> conv = Conv2D(8, 3, padding="same", activation="relu")
        >>> x = jnp.ones((2, 28, 28, 1))
        >>> params, state = conv.init(jax.random.key(0), x)
        >>> conv.apply(params, state, x)[0].shape
        (2, 28, 28, 8)
    """

    rank = 2


Convolution1D = Conv1D
Convolution2D = Conv2D
