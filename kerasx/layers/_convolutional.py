"""Convolution layers (Keras 3 arguments, defaults and kernel layouts): Conv1D/2D/3D,
Conv1D/2D/3DTranspose, DepthwiseConv1D/2D and SeparableConv1D/2D, over one N-D machinery."""

import numbers
from typing import Any, Optional, Sequence, Tuple, Union

import jax

from .. import _settings, activations, constraints, initializers, regularizers
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


def _standardize_tuple(layer: Layer, arg: str, value: Any, n: int,
                       allow_zero: bool = False) -> Tuple[int, ...]:
    """An int or a length-`n` sequence of positive (or, with `allow_zero`, non-negative) ints
    → a tuple of `n` ints (Keras's rule)."""
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
    if any(v < (0 if allow_zero else 1) for v in values):
        raise ValueError(
            f"Received an invalid value for `{arg}` of layer '{layer.name}' "
            f"({type(layer).__name__}), expected {'non-negative' if allow_zero else 'positive'} "
            f"integers. Received: {arg}={value!r}"
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
        return _settings.IMAGE_DATA_FORMAT  # kerasx.config.image_data_format()
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


def _check_spatial_rank(layer: Layer, shape: Sequence[int], rank: int, data_format: str):
    """Raises a teaching error unless `shape` has a batch axis, `rank` spatial axes and a
    channel axis. Shared by the convolution and pooling layers."""
    if len(shape) != rank + 2:
        spatial = ", ".join(["spatial"] * rank)
        layout = (f"(batch_size, {spatial}, channels)" if data_format == "channels_last"
                  else f"(batch_size, channels, {spatial})")
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) expects inputs of rank {rank + 2}, "
            f"shaped {layout}, but received shape {shape_str(shape)}."
            + (" For a single sample, add a batch axis: x[None]." if len(shape) == rank + 1
               else "")
        )


# --------------------------------------------------------------------------------- convolution
class _ConvBase(Layer):
    """What every convolution shares: the window arguments (`kernel_size`, `strides`,
    `padding`, `data_format`, `dilation_rate`), activation and bias, the input checks and the
    `lax` call. `rank` is the number of spatial axes."""

    rank: int = 0
    _paddings: Tuple[str, ...] = ("valid", "same")

    def _init_window(self, kernel_size, strides, padding, data_format, dilation_rate,
                     activation, use_bias):
        n = self.rank
        self.kernel_size = _standardize_tuple(self, "kernel_size", kernel_size, n)
        self.strides = _standardize_tuple(self, "strides", strides, n)
        self.padding = _standardize_padding(self, padding, self._paddings)
        self.data_format = _standardize_data_format(self, data_format)
        self.dilation_rate = _standardize_tuple(self, "dilation_rate", dilation_rate, n)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): `strides > 1` is not supported "
                f"together with `dilation_rate > 1` (as in Keras). Use one or the other. "
                f"Received: strides={strides}, dilation_rate={dilation_rate}"
            )
        self.activation = activations.get(activation)
        self.use_bias = bool(use_bias)

    def _window_config(self):
        return {"kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate}

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

    def _check_channels(self, channels: int, shape: Sequence[int]):
        """Subclass hook: raises if `channels` input channels do not suit the layer."""

    def _check_input(self, shape: Sequence[int]) -> int:
        """Checks an input shape; returns its number of channels."""
        n = self.rank
        name = f"Layer '{self.name}' ({type(self).__name__})"
        _check_spatial_rank(self, shape, n, self.data_format)
        channels = shape[self._channel_axis()]
        self._check_channels(channels, shape)
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

    def _check_built_for(self, channels: int, built_channels: int, kernel, inputs):
        if channels != built_channels:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) was built for inputs with "
                f"{built_channels} channels (kernel shape {shape_str(kernel.shape)}), but "
                f"received inputs of shape {shape_str(inputs.shape)}."
            )

    # ------------------------------------------------------------------------- compute
    def _convolve(self, inputs, kernel, groups: int = 1, window: bool = True):
        """`inputs` convolved with a `(k..., in / groups, out)` kernel: with the layer's
        strides, padding and dilation (`window=True`) or with none (a pointwise step)."""
        n = self.rank
        if not window:
            strides, padding, dilation = (1,) * n, "VALID", (1,) * n
        elif self.padding == "causal":
            strides, dilation = self.strides, self.dilation_rate
            padding = [(d * (k - 1), 0) for k, d in zip(self.kernel_size, self.dilation_rate)]
        else:
            strides, padding, dilation = self.strides, self.padding.upper(), self.dilation_rate
        layout = _layout(n, self.data_format)
        return jax.lax.conv_general_dilated(
            inputs.astype(kernel.dtype), kernel, window_strides=strides, padding=padding,
            rhs_dilation=dilation, dimension_numbers=(layout, "DHW"[-n:] + "IO", layout),
            feature_group_count=groups)

    def _finish(self, y, params):
        """Adds the bias (if any) and applies the activation."""
        if self.use_bias:
            bias = params["bias"]
            y = y + (bias if self.data_format == "channels_last"
                     else bias.reshape((-1,) + (1,) * self.rank))
        return self.activation(y)


class _Conv(_ConvBase):
    """The N-D convolution of Conv1D, Conv2D and Conv3D."""

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
        self.filters = _check_positive_int(self, "filters", filters)
        self.groups = _check_positive_int(self, "groups", groups)
        if self.filters % self.groups:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): the number of filters must be "
                f"divisible by the number of groups, since each group makes filters/groups "
                f"output channels. Received: filters={filters}, groups={groups}"
            )
        self._init_window(kernel_size, strides, padding, data_format, dilation_rate,
                          activation, use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _check_channels(self, channels, shape):
        if channels % self.groups:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): the number of input channels "
                f"must be divisible by groups={self.groups}, but the input has {channels} "
                f"channels (input shape {shape_str(shape)})."
            )

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
        self._check_built_for(channels, kernel.shape[-2] * self.groups, kernel, inputs)
        return self._finish(self._convolve(inputs, kernel, self.groups), params), state

    def weight_names(self):
        return [("params", "kernel")] + ([("params", "bias")] if self.use_bias else [])

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, **self._window_config(),
                "groups": self.groups, "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
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
        kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint: optional
            regularizers and constraints of the weights.

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
        kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint: optional
            regularizers and constraints of the weights.

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


class Conv3D(_Conv):
    """3D convolution (spatial convolution over volumes).

    Args:
        filters: positive integer, the number of output channels; divisible by `groups`.
        kernel_size: an integer or a tuple of 3 integers, the window's depth, height, width.
        strides: an integer or tuple of 3 integers, the step of the window (default 1).
        padding: "valid" (no padding) or "same" (output size `ceil(input / strides)`).
        data_format: "channels_last" (default) or "channels_first"
            (`(batch, channels, d, h, w)`).
        dilation_rate: an integer or tuple of 3 integers, the spacing of the kernel taps;
            values > 1 cannot be combined with `strides > 1`.
        groups: positive integer; the input channels are split into `groups` groups, each
            convolved separately with `filters / groups` filters.
        activation: an activation name or callable; None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: initializer names or callables.
        kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint: optional
            regularizers and constraints of the weights.

    The kernel has shape `(kd, kh, kw, input_channels / groups, filters)`, the bias
    `(filters,)`.

    Input shape:
        `(batch_size, depth, height, width, channels)`.
    Output shape:
        `(batch_size, new_depth, new_height, new_width, filters)`.
    """

    rank = 3


# --------------------------------------------------------------------------------- transposed
def _transpose_pads(kernel: int, stride: int, dilation: int, padding: str,
                    output_padding: Optional[int]) -> Tuple[int, int]:
    """Keras's transposed-convolution geometry along one axis, as the `(low, high)` padding of
    the stride-dilated input that a plain convolution with the flipped kernel then needs.

    The output length is `(n - 1) * stride + 2 - k + low + high`, with `k` the dilated kernel
    size: `(n - 1) * stride + k + output_padding` for "valid" (output_padding defaulting to
    `max(k, stride) - k`), `n * stride` for "same" without output_padding and
    `(n - 1) * stride + k % 2 + output_padding` for "same" with it."""
    k = (kernel - 1) * dilation + 1
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return k - 1, k - 1 + extra
    total = stride + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    low = min((total + 1) // 2, k - 1)
    return low, total - low


class _ConvTranspose(_ConvBase):
    """The N-D transposed convolution of Conv1DTranspose, Conv2DTranspose, Conv3DTranspose."""

    def __init__(self, filters: int, kernel_size: IntOrTuple, strides: IntOrTuple = 1,
                 padding: str = "valid", output_padding: Optional[IntOrTuple] = None,
                 data_format: Optional[str] = None, dilation_rate: IntOrTuple = 1,
                 activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.kernel_regularizer, self.kernel_constraint = self._weight_options(
            "kernel", kernel_regularizer, kernel_constraint)
        self.bias_regularizer, self.bias_constraint = self._weight_options(
            "bias", bias_regularizer, bias_constraint)
        self.filters = _check_positive_int(self, "filters", filters)
        self._init_window(kernel_size, strides, padding, data_format, dilation_rate,
                          activation, use_bias)
        if output_padding is None:
            self.output_padding = None
        else:
            self.output_padding = _standardize_tuple(self, "output_padding", output_padding,
                                                     self.rank, allow_zero=True)
            if any(p >= s for p, s in zip(self.output_padding, self.strides)):
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}): each value of "
                    f"`output_padding` must be smaller than the matching value of `strides`. "
                    f"Received: output_padding={output_padding}, strides={strides}"
                )
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def _pads(self):
        ops = self.output_padding or (None,) * self.rank
        return [_transpose_pads(k, s, d, self.padding, p) for k, s, d, p in
                zip(self.kernel_size, self.strides, self.dilation_rate, ops)]

    def _output_spatial(self, spatial):
        return tuple((n - 1) * s + 2 - ((k - 1) * d + 1) + lo + hi for n, s, k, d, (lo, hi) in
                     zip(spatial, self.strides, self.kernel_size, self.dilation_rate,
                         self._pads()))

    def _check_input(self, shape):
        n = self.rank
        _check_spatial_rank(self, shape, n, self.data_format)
        spatial = [shape[a] for a in _spatial_axes(n, self.data_format)]
        if any(s <= 0 for s in spatial) or any(o <= 0 for o in self._output_spatial(spatial)):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) with padding='same', "
                f"kernel_size={self.kernel_size} and output_padding={self.output_padding} "
                f"would make an empty output from input shape {shape_str(shape)}. "
                "Use larger inputs or a larger output_padding."
            )
        return shape[self._channel_axis()]

    def init(self, rng, input_spec):
        channels = self._check_input(_single_input_shape(self, input_spec))
        k_kernel, k_bias = jax.random.split(rng)
        kernel_shape = self.kernel_size + (self.filters, channels)
        params = {"kernel": self.kernel_initializer(k_kernel, kernel_shape, self.dtype)}
        if self.use_bias:
            params["bias"] = self.bias_initializer(k_bias, (self.filters,), self.dtype)
        return params, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        kernel = params["kernel"]
        channels = self._check_input(tuple(inputs.shape))
        self._check_built_for(channels, kernel.shape[-1], kernel, inputs)
        n = self.rank
        layout = _layout(n, self.data_format)
        # Keras's kernel is (k..., filters, in): read as "IO", `transpose_kernel` swaps the two
        # and flips the window, which makes this the gradient of a convolution filters -> in.
        y = jax.lax.conv_transpose(
            inputs.astype(kernel.dtype), kernel, self.strides, self._pads(),
            rhs_dilation=self.dilation_rate,
            dimension_numbers=(layout, "DHW"[-n:] + "IO", layout), transpose_kernel=True)
        return self._finish(y, params), state

    def weight_names(self):
        return [("params", "kernel")] + ([("params", "bias")] if self.use_bias else [])

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, **self._window_config(),
                "output_padding": self.output_padding,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                **self._weight_options_config("kernel", "bias")}


_TRANSPOSE_ARGS = """
    Args:
        filters: positive integer, the number of output channels.
        kernel_size: an integer or a tuple of {n} integers, the window size.
        strides: an integer or tuple of {n} integers, the upsampling factor (default 1).
        padding: "valid" (output size `(input - 1) * strides + kernel_size`, or `strides *
            input` when the stride exceeds the kernel) or "same" (output size
            `input * strides`).
        output_padding: None, or an integer or tuple of {n} integers, each smaller than the
            matching stride: the amount added at the end of each spatial axis, which picks the
            output size when several inputs sizes map to the same convolution output.
        data_format: "channels_last" (default) or "channels_first".
        dilation_rate: an integer or tuple of {n} integers, the spacing of the kernel taps;
            values > 1 cannot be combined with `strides > 1`.
        activation: an activation name or callable; None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: initializer names or callables.
        kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint: optional
            regularizers and constraints of the weights.

    The kernel has Keras's transposed layout `(k..., filters, input_channels)`, the bias
    `(filters,)`.
"""


class Conv1DTranspose(_ConvTranspose):
    """1D transposed convolution (a learned upsampling of sequences).
    {args}
    Input shape:
        `(batch_size, steps, channels)`.
    Output shape:
        `(batch_size, new_steps, filters)`.
    """

    rank = 1


class Conv2DTranspose(_ConvTranspose):
    """2D transposed convolution (a learned upsampling of images).
    {args}
    Input shape:
        `(batch_size, height, width, channels)`.
    Output shape:
        `(batch_size, new_height, new_width, filters)`.
    """

    rank = 2


class Conv3DTranspose(_ConvTranspose):
    """3D transposed convolution (a learned upsampling of volumes).
    {args}
    Input shape:
        `(batch_size, depth, height, width, channels)`.
    Output shape:
        `(batch_size, new_depth, new_height, new_width, filters)`.
    """

    rank = 3

    # Keras orders `data_format` before `output_padding` here (only here).
    def __init__(self, filters: int, kernel_size: IntOrTuple, strides: IntOrTuple = 1,
                 padding: str = "valid", data_format: Optional[str] = None,
                 output_padding: Optional[IntOrTuple] = None, dilation_rate: IntOrTuple = 1,
                 activation=None, use_bias: bool = True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides, padding, output_padding, data_format,
                         dilation_rate, activation, use_bias, kernel_initializer,
                         bias_initializer, kernel_regularizer, bias_regularizer,
                         kernel_constraint, bias_constraint, **kwargs)


for _cls in (Conv1DTranspose, Conv2DTranspose, Conv3DTranspose):
    _cls.__doc__ = _cls.__doc__.replace("{args}", _TRANSPOSE_ARGS.format(n=_cls.rank))


# --------------------------------------------------------------------------------- depthwise
class _DepthwiseConv(_ConvBase):
    """Each input channel convolved with its own `depth_multiplier` filters."""

    def __init__(self, kernel_size: IntOrTuple, strides: IntOrTuple = 1, padding: str = "valid",
                 depth_multiplier: int = 1, data_format: Optional[str] = None,
                 dilation_rate: IntOrTuple = 1, activation=None, use_bias: bool = True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, depthwise_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.depthwise_regularizer, self.depthwise_constraint = self._weight_options(
            "kernel", depthwise_regularizer, depthwise_constraint)
        self.bias_regularizer, self.bias_constraint = self._weight_options(
            "bias", bias_regularizer, bias_constraint)
        self.depth_multiplier = _check_positive_int(self, "depth_multiplier", depth_multiplier)
        self._init_window(kernel_size, strides, padding, data_format, dilation_rate,
                          activation, use_bias)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def init(self, rng, input_spec):
        channels = self._check_input(_single_input_shape(self, input_spec))
        k_kernel, k_bias = jax.random.split(rng)
        kernel_shape = self.kernel_size + (channels, self.depth_multiplier)
        params = {"kernel": self.depthwise_initializer(k_kernel, kernel_shape, self.dtype)}
        if self.use_bias:
            params["bias"] = self.bias_initializer(
                k_bias, (channels * self.depth_multiplier,), self.dtype)
        return params, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        kernel = params["kernel"]
        channels = self._check_input(tuple(inputs.shape))
        self._check_built_for(channels, kernel.shape[-2], kernel, inputs)
        # (k..., C, m) -> (k..., 1, C * m): output channel c * m + j is input c's j-th filter.
        grouped = kernel.reshape(self.kernel_size + (1, channels * self.depth_multiplier))
        return self._finish(self._convolve(inputs, grouped, groups=channels), params), state

    def weight_names(self):
        return [("params", "kernel")] + ([("params", "bias")] if self.use_bias else [])

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                **self._window_config(), "activation": activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


_DEPTHWISE_ARGS = """
    Args:
        kernel_size: an integer or a tuple of {n} integers, the window size.
        strides: an integer or tuple of {n} integers, the step of the window (default 1).
        padding: "valid" (no padding) or "same" (output size `ceil(input / strides)`).
        depth_multiplier: positive integer, the number of filters per input channel; the
            output has `input_channels * depth_multiplier` channels.
        data_format: "channels_last" (default) or "channels_first".
        dilation_rate: an integer or tuple of {n} integers, the spacing of the kernel taps;
            values > 1 cannot be combined with `strides > 1`.
        activation: an activation name or callable; None means linear.
        use_bias: whether to add a bias vector.
        depthwise_initializer, bias_initializer: initializer names or callables.
        depthwise_regularizer, bias_regularizer, depthwise_constraint, bias_constraint:
            optional regularizers and constraints of the weights.

    The kernel has shape `(k..., input_channels, depth_multiplier)`, the bias
    `(input_channels * depth_multiplier,)`.
"""


class DepthwiseConv1D(_DepthwiseConv):
    """1D depthwise convolution: each channel of a sequence convolved separately.
    {args}
    Input shape:
        `(batch_size, steps, channels)`.
    Output shape:
        `(batch_size, new_steps, channels * depth_multiplier)`.
    """

    rank = 1


class DepthwiseConv2D(_DepthwiseConv):
    """2D depthwise convolution: each channel of an image convolved separately.
    {args}
    Input shape:
        `(batch_size, height, width, channels)`.
    Output shape:
        `(batch_size, new_height, new_width, channels * depth_multiplier)`.
    """

    rank = 2


for _cls in (DepthwiseConv1D, DepthwiseConv2D):
    _cls.__doc__ = _cls.__doc__.replace("{args}", _DEPTHWISE_ARGS.format(n=_cls.rank))


# --------------------------------------------------------------------------------- separable
class _SeparableConv(_ConvBase):
    """A depthwise convolution followed by a pointwise (1x...x1) convolution."""

    def __init__(self, filters: int, kernel_size: IntOrTuple, strides: IntOrTuple = 1,
                 padding: str = "valid", data_format: Optional[str] = None,
                 dilation_rate: IntOrTuple = 1, depth_multiplier: int = 1, activation=None,
                 use_bias: bool = True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, pointwise_regularizer=None, bias_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.depthwise_regularizer, self.depthwise_constraint = self._weight_options(
            "depthwise_kernel", depthwise_regularizer, depthwise_constraint)
        self.pointwise_regularizer, self.pointwise_constraint = self._weight_options(
            "pointwise_kernel", pointwise_regularizer, pointwise_constraint)
        self.bias_regularizer, self.bias_constraint = self._weight_options(
            "bias", bias_regularizer, bias_constraint)
        self.filters = _check_positive_int(self, "filters", filters)
        self.depth_multiplier = _check_positive_int(self, "depth_multiplier", depth_multiplier)
        self._init_window(kernel_size, strides, padding, data_format, dilation_rate,
                          activation, use_bias)
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def init(self, rng, input_spec):
        channels = self._check_input(_single_input_shape(self, input_spec))
        k_depth, k_point, k_bias = jax.random.split(rng, 3)
        mid = channels * self.depth_multiplier
        params = {
            "depthwise_kernel": self.depthwise_initializer(
                k_depth, self.kernel_size + (channels, self.depth_multiplier), self.dtype),
            "pointwise_kernel": self.pointwise_initializer(
                k_point, (1,) * self.rank + (mid, self.filters), self.dtype),
        }
        if self.use_bias:
            params["bias"] = self.bias_initializer(k_bias, (self.filters,), self.dtype)
        return params, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        depthwise = params["depthwise_kernel"]
        channels = self._check_input(tuple(inputs.shape))
        self._check_built_for(channels, depthwise.shape[-2], depthwise, inputs)
        grouped = depthwise.reshape(self.kernel_size + (1, channels * self.depth_multiplier))
        y = self._convolve(inputs, grouped, groups=channels)
        y = self._convolve(y, params["pointwise_kernel"], window=False)
        return self._finish(y, params), state

    def weight_names(self):
        return ([("params", "depthwise_kernel"), ("params", "pointwise_kernel")]
                + ([("params", "bias")] if self.use_bias else []))

    def get_config(self):
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                "filters": self.filters, **self._window_config(),
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "depthwise_initializer": initializers.serialize(self.depthwise_initializer),
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "depthwise_regularizer": regularizers.serialize(self.depthwise_regularizer),
                "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "depthwise_constraint": constraints.serialize(self.depthwise_constraint),
                "pointwise_constraint": constraints.serialize(self.pointwise_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


_SEPARABLE_ARGS = """
    Args:
        filters: positive integer, the number of output channels.
        kernel_size: an integer or a tuple of {n} integers, the depthwise window size.
        strides: an integer or tuple of {n} integers, the step of the window (default 1).
        padding: "valid" (no padding) or "same" (output size `ceil(input / strides)`).
        data_format: "channels_last" (default) or "channels_first".
        dilation_rate: an integer or tuple of {n} integers, the spacing of the kernel taps;
            values > 1 cannot be combined with `strides > 1`.
        depth_multiplier: positive integer, the number of depthwise filters per input channel.
        activation: an activation name or callable; None means linear.
        use_bias: whether to add a bias vector.
        depthwise_initializer, pointwise_initializer, bias_initializer: initializer names or
            callables.
        depthwise_regularizer, pointwise_regularizer, bias_regularizer,
        depthwise_constraint, pointwise_constraint, bias_constraint: optional regularizers and
            constraints of the weights.

    The weights, in Keras's order: `depthwise_kernel` `(k..., input_channels,
    depth_multiplier)`, `pointwise_kernel` `(1..., input_channels * depth_multiplier,
    filters)`, `bias` `(filters,)`.
"""


class SeparableConv1D(_SeparableConv):
    """1D separable convolution: a depthwise convolution, then a pointwise one.
    {args}
    Input shape:
        `(batch_size, steps, channels)`.
    Output shape:
        `(batch_size, new_steps, filters)`.
    """

    rank = 1


class SeparableConv2D(_SeparableConv):
    """2D separable convolution: a depthwise convolution, then a pointwise one.
    {args}
    Input shape:
        `(batch_size, height, width, channels)`.
    Output shape:
        `(batch_size, new_height, new_width, filters)`.
    """

    rank = 2


for _cls in (SeparableConv1D, SeparableConv2D):
    _cls.__doc__ = _cls.__doc__.replace("{args}", _SEPARABLE_ARGS.format(n=_cls.rank))
del _cls


Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution3D = Conv3D
Convolution1DTranspose = Conv1DTranspose
Convolution2DTranspose = Conv2DTranspose
Convolution3DTranspose = Conv3DTranspose
SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D
