"""Core layers: Input, Dense, Activation, Flatten, Reshape, Embedding, Lambda."""

import inspect
import math
import types
import warnings
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp

from .. import activations, initializers
from ._base import KerasTensor, Layer, Node, shape_str


def _positive_int(layer_name: str, arg: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(
            f"Received an invalid value for `{arg}` of layer '{layer_name}', expected a "
            f"positive integer. Received: {arg}={value!r}"
        )
    return value


class InputLayer(Layer):
    """The layer behind `kerasx.Input`: it passes its input through.

    Args:
        shape: the shape of one sample (no batch axis); `None` marks a variable dimension.
        dtype: the input dtype (default "float32").
        batch_size: an optional fixed batch size.
        name: the input's name (used to match dict inputs).
        batch_shape: the full shape with the batch axis (alternative to shape/batch_size; the
            form `get_config()` writes, as in Keras 3).
    """

    def __init__(self, shape: Sequence[Optional[int]] = None, dtype: Any = None,
                 batch_size: Optional[int] = None, name: Optional[str] = None,
                 batch_shape: Optional[Sequence[Optional[int]]] = None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if batch_shape is not None:
            if shape is not None:
                raise ValueError(
                    f"Input '{self.name}': pass either `shape` (and `batch_size`) or "
                    f"`batch_shape`, not both. Received: shape={shape}, batch_shape={batch_shape}"
                )
            batch_shape = tuple(batch_shape)
            if not batch_shape:
                raise ValueError(f"Input '{self.name}': `batch_shape` needs a batch axis. "
                                 f"Received: batch_shape={batch_shape}")
            batch_size, shape = batch_shape[0], batch_shape[1:]
        if shape is None:
            raise ValueError("`kerasx.Input` needs a `shape`, e.g. Input(shape=(28, 28, 1)).")
        shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
        for d in shape:
            if d is not None and (not isinstance(d, int) or d < 0):
                raise ValueError(
                    f"Expected `shape` of Input '{self.name}' to hold non-negative integers or "
                    f"None. Received: shape={shape}"
                )
        self.shape = shape
        self.batch_size = batch_size

    def apply(self, params, state, inputs, *, training=False, rng=None):
        return inputs, state

    def output_spec(self, input_spec):
        return input_spec

    def get_config(self):
        # Keras 3's InputLayer config (without its `sparse`/`ragged`/`optional`, which kerasx
        # does not have): the shape with the batch axis, the dtype and the name.
        return {"batch_shape": (self.batch_size,) + self.shape, "dtype": self.dtype.name,
                "name": self.name}


def input_tensor(layer: InputLayer) -> KerasTensor:
    """The symbolic tensor that `layer` feeds to a functional model (what `Input` returns)."""
    t = KerasTensor((layer.batch_size,) + layer.shape, layer.dtype, name=layer.name)
    t.node = Node(layer, (), t)
    layer._inbound_nodes.append(t.node)
    return t


def Input(shape: Sequence[Optional[int]] = None, dtype: Any = None,
          batch_size: Optional[int] = None, name: Optional[str] = None,
          batch_shape: Optional[Sequence[Optional[int]]] = None) -> KerasTensor:
    """Creates a symbolic input tensor for the functional API (Keras's `keras.Input`).

    Args:
        shape: the shape of one sample, without the batch axis, e.g. `(28, 28, 1)`.
        dtype: the input dtype (default "float32").
        batch_size: an optional fixed batch size.
        name: a name; dict inputs are matched by it.
        batch_shape: the full shape with the batch axis (alternative to shape/batch_size).

    Returns:
        A `KerasTensor` of shape `(batch_size, *shape)`.
    """
    if batch_shape is not None:
        batch_shape = tuple(batch_shape)
        batch_size, shape = batch_shape[0], batch_shape[1:]
    return input_tensor(InputLayer(shape=shape, dtype=dtype, batch_size=batch_size, name=name))


class Dense(Layer):
    """A densely connected layer: `activation(inputs @ kernel + bias)`.

    Args:
        units: positive integer, the output size.
        activation: an activation name or callable; None means linear.
        use_bias: whether to add a bias vector.
        kernel_initializer, bias_initializer: initializer names or callables.

    Input shape:
        `(batch_size, ..., input_dim)`.
    Output shape:
        `(batch_size, ..., units)`.
    """

    supports_masking = True  # passes an input mask through, as in Keras

    def __init__(self, units: int, activation=None, use_bias: bool = True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.units = _positive_int(self.name, "units", units)
        self.kernel_regularizer, self.kernel_constraint = self._weight_options(
            "kernel", kernel_regularizer, kernel_constraint)
        self.bias_regularizer, self.bias_constraint = self._weight_options(
            "bias", bias_regularizer, bias_constraint)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)

    def init(self, rng, input_spec):
        self._check_rank(input_spec, range(2, 100))
        in_dim = input_spec.shape[-1]
        k_kernel, k_bias = jax.random.split(rng)
        params = {"kernel": self.kernel_initializer(k_kernel, (in_dim, self.units), self.dtype)}
        if self.use_bias:
            params["bias"] = self.bias_initializer(k_bias, (self.units,), self.dtype)
        return params, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        kernel = params["kernel"]
        if inputs.shape[-1] != kernel.shape[0]:
            raise ValueError(
                f"Layer '{self.name}' (Dense) expects inputs whose last axis is "
                f"{kernel.shape[0]}, but received inputs of shape {shape_str(inputs.shape)}."
            )
        y = jnp.dot(inputs.astype(kernel.dtype), kernel)
        if self.use_bias:
            y = y + params["bias"]
        return self.activation(y), state

    def weight_names(self):
        return [("params", "kernel")] + ([("params", "bias")] if self.use_bias else [])

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "activation": activations.serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                **self._weight_options_config("kernel", "bias")}


class Activation(Layer):
    """Applies an activation function.

    Args:
        activation: an activation name (e.g. "relu") or a callable.
    """

    supports_masking = True  # passes an input mask through, as in Keras

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = activations.get(activation)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        return self.activation(inputs), state

    def get_config(self):
        return {**super().get_config(), "activation": activations.serialize(self.activation)}


class Flatten(Layer):
    """Flattens every axis but the batch axis.

    Input shape:
        `(batch_size, ...)`.
    Output shape:
        `(batch_size, prod(...))`.
    """

    def __init__(self, data_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError(
                f"Layer '{self.name}' (Flatten) supports data_format='channels_last' only. "
                f"Received: data_format={data_format!r}"
            )
        self.data_format = "channels_last"

    def apply(self, params, state, inputs, *, training=False, rng=None):
        return inputs.reshape(inputs.shape[0], -1), state

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshapes every sample to `target_shape` (one entry may be -1).

    Args:
        target_shape: the new shape of one sample, without the batch axis.
    """

    def __init__(self, target_shape: Sequence[int], **kwargs):
        super().__init__(**kwargs)
        self.target_shape = tuple(target_shape)
        if sum(1 for d in self.target_shape if d == -1) > 1:
            raise ValueError(
                f"Layer '{self.name}' (Reshape): at most one entry of `target_shape` may be -1. "
                f"Received: target_shape={self.target_shape}"
            )

    def _resolve(self, sample_shape):
        size = math.prod(sample_shape)
        known = math.prod(d for d in self.target_shape if d != -1)
        if -1 in self.target_shape:
            if known == 0 or size % known:
                ok = False
            else:
                ok = True
            target = tuple(size // known if d == -1 else d for d in self.target_shape) if ok else None
        else:
            target = self.target_shape if known == size else None
        if target is None:
            raise ValueError(
                f"Layer '{self.name}' (Reshape) cannot reshape samples of shape "
                f"{shape_str(sample_shape)} ({size} values) to target_shape "
                f"{shape_str(self.target_shape)}."
            )
        return target

    def init(self, rng, input_spec):
        self._resolve(input_spec.shape[1:])
        return {}, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        target = self._resolve(inputs.shape[1:])
        return inputs.reshape((inputs.shape[0],) + target), state

    def get_config(self):
        return {**super().get_config(), "target_shape": self.target_shape}


class Embedding(Layer):
    """Maps integer indices to dense vectors.

    Args:
        input_dim: the vocabulary size (largest index + 1).
        output_dim: the embedding size.
        embeddings_initializer: initializer name or callable (Keras default "uniform",
            i.e. RandomUniform(-0.05, 0.05)).

    Input shape:
        `(batch_size, ...)` integers in `[0, input_dim)`.
    Output shape:
        `(batch_size, ..., output_dim)`.
    """

    def __init__(self, input_dim: int, output_dim: int,
                 embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.embeddings_regularizer, self.embeddings_constraint = self._weight_options(
            "embeddings", embeddings_regularizer, embeddings_constraint)
        self.input_dim = _positive_int(self.name, "input_dim", input_dim)
        self.output_dim = _positive_int(self.name, "output_dim", output_dim)
        if embeddings_initializer == "uniform":
            embeddings_initializer = initializers.RandomUniform()
        self.embeddings_initializer = initializers.get(embeddings_initializer)

    def init(self, rng, input_spec):
        return {"embeddings": self.embeddings_initializer(
            rng, (self.input_dim, self.output_dim), self.dtype)}, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        return jnp.take(params["embeddings"], inputs.astype(jnp.int32), axis=0), state

    def weight_names(self):
        return [("params", "embeddings")]

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                **self._weight_options_config("embeddings")}


def _is_python_lambda(fn) -> bool:
    return isinstance(fn, types.LambdaType) and fn.__name__ == "<lambda>"


class Lambda(Layer):
    """Wraps a function of tensors as a layer (Keras's `Lambda`).

    Args:
        function: `function(inputs, **arguments)`; it may also take `mask=` and `training=`.
        output_shape: optional; accepted for Keras compatibility (kerasx infers shapes by
            tracing the function).
        mask: optional mask (or function computing it), kept in the config.
        arguments: optional dict of keyword arguments passed to `function`.

    Saving: a named function (a `def`, registered with `register_keras_serializable` or passed
    in `custom_objects` when loading) is stored by name. A Python `lambda` cannot be restored:
    kerasx never runs code read from a file, so loading a Lambda layer holding one (also from
    Keras's files) is an error that names the layer.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"Lambda layer '{self.name}' expects a callable `function`. "
                            f"Received: {function!r}")
        self.function = function
        self._output_shape = output_shape
        self.mask = mask
        self.arguments = dict(arguments or {})

    def apply(self, params, state, inputs, *, training=False, rng=None, mask=None):
        kwargs = dict(self.arguments)
        sig = _parameters(self.function)
        if "training" in sig:
            kwargs["training"] = training
        if "mask" in sig and mask is not None:
            kwargs["mask"] = mask
        return self.function(inputs, **kwargs), state

    def compute_mask(self, inputs, previous_mask=None):
        """Keras's Lambda mask: `mask(inputs, previous_mask)` when `mask` is a function, else
        the `mask` given (None drops the incoming mask)."""
        if callable(self.mask):
            return self.mask(inputs, previous_mask)
        return self.mask

    def get_config(self):
        from ..saving._serialization import serialize

        def describe(fn):
            if _is_python_lambda(fn):
                warnings.warn(
                    f"Lambda layer '{self.name}' holds a Python lambda; its config records no "
                    "code, so the saved model cannot be loaded again. Define the function with "
                    "`def` and register it (`@kerasx.saving.register_keras_serializable()`).",
                    stacklevel=3)
                return {"class_name": "__lambda__", "config": {"code": None}}
            return serialize(fn)

        config = {**super().get_config(), "function": describe(self.function),
                  "arguments": dict(self.arguments)}
        if self._output_shape is not None:
            config["output_shape"] = (describe(self._output_shape) if callable(self._output_shape)
                                      else list(self._output_shape))
        if self.mask is not None:
            config["mask"] = describe(self.mask) if callable(self.mask) else self.mask
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving._serialization import deserialize

        config = dict(config)
        name = config.get("name", "lambda")

        def revive(key):
            value = config.get(key)
            if isinstance(value, dict) and value.get("class_name") == "__lambda__":
                raise ValueError(
                    f"Lambda layer '{name}': its `{key}` is a Python lambda stored as code. "
                    "kerasx never runs code read from a file. Define the function with `def`, "
                    "register it with `@kerasx.saving.register_keras_serializable()` (or pass it "
                    "in `custom_objects`), and save the model again.")
            if isinstance(value, dict) and "class_name" in value:
                config[key] = deserialize(value, custom_objects)

        for key in ("function", "output_shape", "mask"):
            revive(key)
        if isinstance(config.get("output_shape"), list):
            config["output_shape"] = tuple(config["output_shape"])
        if "dtype" in config:
            from ._base import standardize_dtype_config
            config["dtype"] = standardize_dtype_config(config["dtype"])
        return cls(**config)


def _parameters(fn):
    try:
        return inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
