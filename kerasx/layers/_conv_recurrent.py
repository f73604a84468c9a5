"""Convolutional LSTM layers: ConvLSTM1D, ConvLSTM2D, ConvLSTM3D (Keras 3's `keras.layers`).

An LSTM whose input and recurrent transformations are convolutions: Keras's weights
(`kernel` `kernel_size + (in_channels, 4 * filters)`, `recurrent_kernel` `kernel_size +
(filters, 4 * filters)`, `bias` `(4 * filters,)`, gates i, f, c, o), run by `RNN`'s loop.
"""

from numbers import Integral

import jax
import jax.numpy as jnp

from .. import _settings, activations, initializers
from ._base import Layer, as_spec, shape_str
from ._recurrent import RNN, _bool, _dropout_masks, _positive_int, _rate

_SPATIAL = "DHW"


def _tuple(layer: str, arg: str, value, rank: int):
    if isinstance(value, Integral) and not isinstance(value, bool):
        value = (value,) * rank
    if (not isinstance(value, (tuple, list)) or len(value) != rank or
            any(isinstance(v, bool) or not isinstance(v, Integral) or v <= 0 for v in value)):
        raise ValueError(
            f"Received an invalid value for argument `{arg}` of layer '{layer}', expected a "
            f"positive integer or a tuple of {rank} positive integers. Received: {arg}={value!r}")
    return tuple(int(v) for v in value)


class _ConvLSTMCell(Layer):
    """One step of a convolutional LSTM (the cell of ConvLSTM1D/2D/3D)."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid",
                 data_format=None, dilation_rate=1, activation="tanh",
                 recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rank = rank
        self.filters = _positive_int(self.name, "filters", filters)
        self.kernel_size = _tuple(self.name, "kernel_size", kernel_size, rank)
        self.strides = _tuple(self.name, "strides", strides, rank)
        self.dilation_rate = _tuple(self.name, "dilation_rate", dilation_rate, rank)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(
                f"Layer '{self.name}': `strides > 1` is not compatible with `dilation_rate > 1`. "
                f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
        padding = padding.lower() if isinstance(padding, str) else padding
        if padding not in ("valid", "same"):
            raise ValueError(
                f"Received an invalid value for argument `padding` of layer '{self.name}', "
                f"expected 'valid' or 'same'. Received: padding={padding!r}")
        self.padding = padding
        data_format = data_format or _settings.IMAGE_DATA_FORMAT  # config.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                f"Received an invalid value for argument `data_format` of layer '{self.name}', "
                "expected 'channels_last' or 'channels_first'. Received: "
                f"data_format={data_format!r}")
        self.data_format = data_format
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = _bool(self.name, "use_bias", use_bias)
        self.unit_forget_bias = _bool(self.name, "unit_forget_bias", unit_forget_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer, self.kernel_constraint = self._weight_options(
            "kernel", kernel_regularizer, kernel_constraint)
        self.recurrent_regularizer, self.recurrent_constraint = self._weight_options(
            "recurrent_kernel", recurrent_regularizer, recurrent_constraint)
        self.bias_regularizer, self.bias_constraint = self._weight_options(
            "bias", bias_regularizer, bias_constraint)
        self.dropout = _rate(self.name, "dropout", dropout)
        self.recurrent_dropout = _rate(self.name, "recurrent_dropout", recurrent_dropout)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral)):
            raise ValueError(
                f"Received an invalid value for argument `seed` of layer '{self.name}', expected "
                f"an integer or None. Received: seed={seed!r}")
        self.seed = seed

    @property
    def state_size(self):
        return [self.filters, self.filters]

    @property
    def output_size(self):
        return self.filters

    def _dims(self):
        sp = _SPATIAL[-self.rank:]
        if self.data_format == "channels_last":
            return ("N" + sp + "C", sp + "IO", "N" + sp + "C")
        return ("NC" + sp, sp + "IO", "NC" + sp)

    def _conv(self, x, w, strides, padding, dilation):
        return jax.lax.conv_general_dilated(
            x, w, window_strides=strides, padding=padding.upper(), rhs_dilation=dilation,
            dimension_numbers=self._dims())

    def _channels(self, shape):
        return shape[-1] if self.data_format == "channels_last" else shape[1]

    def _initial_state_for(self, batch_size, step_shape):
        """Zero `[h, c]` for steps of shape `step_shape` (without the batch axis)."""
        x = jax.ShapeDtypeStruct((batch_size,) + tuple(step_shape), self.dtype)
        w = jax.ShapeDtypeStruct(self.kernel_size + (self._channels(x.shape), self.filters),
                                 self.dtype)
        out = jax.eval_shape(lambda a, b: self._conv(a, b, self.strides, self.padding,
                                                     self.dilation_rate), x, w)
        # the states carry the compute dtype (as Keras): the loop's carry keeps one dtype
        return [jnp.zeros(out.shape, self.compute_dtype) for _ in range(2)]

    def init(self, rng, input_spec, *args, **kwargs):
        spec = as_spec(input_spec)
        if len(spec.shape) != self.rank + 2:
            raise ValueError(
                f"Cell '{self.name}' expects steps of rank {self.rank + 2}. Received: "
                f"{shape_str(spec.shape)}")
        cin = self._channels(spec.shape)
        k1, k2, k3 = jax.random.split(rng, 3)
        f = self.filters
        params = {
            "kernel": self.kernel_initializer(k1, self.kernel_size + (cin, 4 * f), self.dtype),
            "recurrent_kernel": self.recurrent_initializer(k2, self.kernel_size + (f, 4 * f),
                                                           self.dtype)}
        if self.use_bias:
            if self.unit_forget_bias:
                ka, kb = jax.random.split(k3)
                params["bias"] = jnp.concatenate([
                    self.bias_initializer(ka, (f,), self.dtype), jnp.ones((f,), self.dtype),
                    self.bias_initializer(kb, (2 * f,), self.dtype)])
            else:
                params["bias"] = self.bias_initializer(k3, (4 * f,), self.dtype)
        return params, {}

    def weight_names(self):
        names = [("params", "kernel"), ("params", "recurrent_kernel")]
        return names + ([("params", "bias")] if self.use_bias else [])

    def apply(self, params, state, inputs, states=None, *, training=False, rng=None):
        if states is None:
            states = self._initial_state_for(inputs.shape[0], inputs.shape[1:])
        h, c = states[0], states[1]
        x = inputs.astype(params["kernel"].dtype)
        xs, hs = [x] * 4, [h] * 4
        use_in = training and 0.0 < self.dropout < 1.0
        use_rec = training and 0.0 < self.recurrent_dropout < 1.0
        if use_in or use_rec:
            self._need_rng(rng)
            key = rng if self.seed is None else jax.random.fold_in(rng, self.seed)
            k_in, k_rec = jax.random.split(key)
            if use_in:
                m = _dropout_masks(k_in, 4, x.shape, self.dropout, x.dtype)
                xs = [x * m[g] for g in range(4)]
            if use_rec:
                m = _dropout_masks(k_rec, 4, h.shape, self.recurrent_dropout, h.dtype)
                hs = [h * m[g] for g in range(4)]
        ks = jnp.split(params["kernel"], 4, axis=-1)
        rks = jnp.split(params["recurrent_kernel"], 4, axis=-1)
        bs = jnp.split(params["bias"], 4) if self.use_bias else [None] * 4
        ones = (1,) * self.rank
        z = []
        for g in range(4):
            v = self._conv(xs[g], ks[g], self.strides, self.padding, self.dilation_rate)
            if bs[g] is not None:
                shape = ((1,) * (self.rank + 1) + (self.filters,)
                         if self.data_format == "channels_last" else
                         (1, self.filters) + (1,) * self.rank)
                v = v + bs[g].reshape(shape)
            z.append(v + self._conv(hs[g], rks[g], ones, "same", ones))
        ra = self.recurrent_activation
        c = ra(z[1]) * c + ra(z[0]) * self.activation(z[2])
        h = ra(z[3]) * self.activation(c)
        return (h, [h, c]), state

    def get_config(self):
        return {**super().get_config(), "rank": self.rank, **_conv_config(self)}


def _conv_config(cell):
    reg = cell._weight_options_config("kernel", "recurrent_kernel", "bias")
    return {
        "filters": cell.filters, "kernel_size": cell.kernel_size, "strides": cell.strides,
        "padding": cell.padding, "data_format": cell.data_format,
        "dilation_rate": cell.dilation_rate,
        "activation": activations.serialize(cell.activation),
        "recurrent_activation": activations.serialize(cell.recurrent_activation),
        "use_bias": cell.use_bias,
        "kernel_initializer": initializers.serialize(cell.kernel_initializer),
        "recurrent_initializer": initializers.serialize(cell.recurrent_initializer),
        "bias_initializer": initializers.serialize(cell.bias_initializer),
        "unit_forget_bias": cell.unit_forget_bias,
        "kernel_regularizer": reg["kernel_regularizer"],
        "recurrent_regularizer": reg["recurrent_kernel_regularizer"],
        "bias_regularizer": reg["bias_regularizer"],
        "kernel_constraint": reg["kernel_constraint"],
        "recurrent_constraint": reg["recurrent_kernel_constraint"],
        "bias_constraint": reg["bias_constraint"],
        "dropout": cell.dropout, "recurrent_dropout": cell.recurrent_dropout, "seed": cell.seed,
    }


_CONV_ARGS = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
              "activation", "recurrent_activation", "use_bias", "kernel_initializer",
              "recurrent_initializer", "bias_initializer", "unit_forget_bias",
              "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
              "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
              "recurrent_dropout", "seed")


class _ConvLSTM(RNN):
    """The common part of ConvLSTM1D/2D/3D."""

    _rank = None

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, activation="tanh", recurrent_activation="sigmoid",
                 use_bias=True, kernel_initializer="glorot_uniform",
                 recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, **kwargs):
        cell = _ConvLSTMCell(
            self._rank, filters, kernel_size, strides=strides, padding=padding,
            data_format=data_format, dilation_rate=dilation_rate, activation=activation,
            recurrent_activation=recurrent_activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, unit_forget_bias=unit_forget_bias,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
            name="conv_lstm_cell", dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful,
                         activity_regularizer=activity_regularizer, **kwargs)

    def __getattr__(self, name):
        cell = self.__dict__.get("cell")
        if cell is not None and name in _CONV_ARGS:
            return getattr(cell, name)
        return super().__getattr__(name)

    def _check_spec(self, spec):
        rank = self._rank + 3
        if not hasattr(spec, "shape") or len(spec.shape) != rank:
            shape = shape_str(spec.shape) if hasattr(spec, "shape") else spec
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects inputs of rank {rank} "
                f"(batch, timesteps, {self._rank} spatial dimension(s) and channels). "
                f"Received: inputs of shape {shape}")

    def get_config(self):
        return {**Layer.get_config(self), **self._loop_config(), **_conv_config(self.cell)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return Layer.from_config.__func__(cls, config)


class ConvLSTM1D(_ConvLSTM):
    """1D convolutional LSTM: an LSTM whose transformations are 1D convolutions.

    Args:
        filters: positive integer, the number of output channels.
        kernel_size, strides, dilation_rate: an integer or a tuple of 1 integer.
        padding: "valid" or "same" (for the input convolution; the recurrent one is "same").
        data_format: "channels_last" (default) or "channels_first".
        activation ("tanh"), recurrent_activation ("sigmoid"), use_bias, kernel_initializer,
        recurrent_initializer, bias_initializer, unit_forget_bias, kernel_regularizer,
        recurrent_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
        recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed: as in LSTM.
        return_sequences, return_state, go_backwards, stateful: as in `RNN`.

    Input shape:
        `(batch, timesteps, steps, channels)` (channels_last).
    Output shape:
        `(batch, [timesteps,] new_steps, filters)`; with `return_state`, `(output, h, c)`.
    """

    _rank = 1


class ConvLSTM2D(_ConvLSTM):
    """2D convolutional LSTM: an LSTM whose transformations are 2D convolutions.

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate, and the LSTM
        arguments: as in `ConvLSTM1D`, with 2D tuples.

    Input shape:
        `(batch, timesteps, rows, cols, channels)` (channels_last).
    Output shape:
        `(batch, [timesteps,] new_rows, new_cols, filters)`; with `return_state`,
        `(output, h, c)`.
    """

    _rank = 2


class ConvLSTM3D(_ConvLSTM):
    """3D convolutional LSTM: an LSTM whose transformations are 3D convolutions.

    Args:
        filters, kernel_size, strides, padding, data_format, dilation_rate, and the LSTM
        arguments: as in `ConvLSTM1D`, with 3D tuples.

    Input shape:
        `(batch, timesteps, dim1, dim2, dim3, channels)` (channels_last).
    Output shape:
        `(batch, [timesteps,] new_dim1, new_dim2, new_dim3, filters)`; with `return_state`,
        `(output, h, c)`.
    """

    _rank = 3
