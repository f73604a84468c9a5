"""Core layers: Input, Dense, EinsumDense, Activation, Flatten, Reshape, Embedding,
ReversibleEmbedding, Lambda."""

import inspect
import math
import re
import types
import warnings
from typing import Any, Optional, Sequence, Union

import jax
import jax.numpy as jnp

from .. import _settings, activations, initializers
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
        if isinstance(dtype, str) and dtype.lower() in ("string", "str", "bytes", "object"):
            raise ValueError(
                f"Input{f' {name!r}' if name else ''}: kerasx models take numeric inputs, "
                f"not dtype={dtype!r} (string inputs need TensorFlow in Keras). Apply the text "
                "layers (TextVectorization, StringLookup, Hashing) to the data before the "
                "model, and give the model an integer Input: `Input(shape, dtype='int32')`.")
        # Keras: an input is float32 unless told otherwise, whatever the global policy
        super().__init__(name=name, dtype="float32" if dtype is None else dtype, **kwargs)
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

    Args:
        data_format: "channels_last" or "channels_first" (channels first inputs are moved to
            channels last before flattening, as in Keras); default
            `kerasx.config.image_data_format()`.

    Input shape:
        `(batch_size, ...)`.
    Output shape:
        `(batch_size, prod(...))`.
    """

    def __init__(self, data_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        if data_format is None:
            data_format = _settings.IMAGE_DATA_FORMAT  # kerasx.config.image_data_format()
        df = data_format.lower() if isinstance(data_format, str) else data_format
        if df not in ("channels_last", "channels_first"):
            raise ValueError(
                f"Received an invalid value for `data_format` of layer '{self.name}' "
                "(Flatten), expected 'channels_last' or 'channels_first'. "
                f"Received: data_format={data_format!r}"
            )
        self.data_format = df

    def apply(self, params, state, inputs, *, training=False, rng=None):
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = jnp.moveaxis(inputs, 1, -1)
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
        mask_zero: whether index 0 is padding: the output then carries the mask `inputs != 0`
            to the layers after it (RNNs skip those steps, pooling and attention ignore them,
            the loss leaves them out), as in Keras. Index 0 is then not a word:
            `input_dim` = vocabulary size + 1.

    Input shape:
        `(batch_size, ...)` integers in `[0, input_dim)`.
    Output shape:
        `(batch_size, ..., output_dim)`.
    """

    def __init__(self, input_dim: int, output_dim: int,
                 embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero
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

    def compute_mask(self, inputs, previous_mask=None):
        return jnp.not_equal(inputs, 0) if self.mask_zero else None

    def weight_names(self):
        return [("params", "embeddings")]

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                **self._weight_options_config("embeddings"), "mask_zero": self.mask_zero}


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


# ------------------------------------------------------------------------------------ EinsumDense
_EQUATION_FORMS = (  # (pattern on the equation with "..." replaced by "0", where the ellipsis is)
    (re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"), None),
    (re.compile(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)"), "left"),
    (re.compile(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0"), "right"),
)


class EinsumDense(Layer):
    """A dense layer written as an einsum: `activation(einsum(equation, inputs, kernel) + bias)`.

    The equation names the axes of the inputs, the kernel and the output, e.g. `"ab,bc->ac"`
    (Dense), `"abc,cd->abd"` (Dense on the last axis of a sequence) or `"abc,cde->abde"`
    (a per-head projection). An ellipsis stands for unnamed axes on the left (`"...b,bc->...c"`)
    or on the right (`"ab...,bc->ac..."`) of the input and output. The kernel's shape follows
    from the sizes of its axes in the input and in `output_shape`.

    Args:
        equation: the einsum equation, in one of the forms `X,Y->Z`, `...X,Y->...Z` or
            `X...,Y->Z...`, each axis named by one letter.
        output_shape: integer or tuple: the output's sizes on the named output axes, without
            the batch axis (and without the ellipsis axes); `None` for an axis the input has.
        activation: an activation name or callable; None means linear.
        bias_axes: None, or the letters of the output axes that get a bias (e.g. "de"). The
            bias spans the output axes from the first of them on (size 1 on the others).
        kernel_initializer, bias_initializer: initializers (variance-scaling ones, like the
            default "glorot_uniform", count the kernel's input and output axes as Keras does).
        kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint: optional.

    Input shape:
        A tensor of the rank the equation names (batch axis included).
    Output shape:
        The batch axis, then `output_shape` (and the ellipsis axes where the equation has them).
    """

    def __init__(self, equation: str, output_shape: Union[int, Sequence[Optional[int]]],
                 activation=None, bias_axes: Optional[str] = None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.equation = equation
        self._specs = self._parse(equation)
        given = output_shape
        if isinstance(output_shape, int) and not isinstance(output_shape, bool):
            output_shape = (output_shape,)
        if not isinstance(output_shape, (list, tuple)) or not all(
                d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
                for d in output_shape):
            output_shape = given
            raise ValueError(
                f"Received an invalid value for `output_shape` of layer '{self.name}', expected "
                f"a positive integer or a tuple of positive integers (or None). Received: "
                f"output_shape={output_shape!r}")
        self.partial_output_shape = tuple(output_shape)
        in_spec, w_spec, out_spec, mode = self._specs
        expected = len(out_spec) if mode == "left" else len(out_spec) - 1
        if len(self.partial_output_shape) != expected:
            raise ValueError(
                f"Layer '{self.name}' (EinsumDense): `output_shape` needs {expected} entries for "
                f"the output axes '{out_spec}' of equation '{equation}'"
                + (" (the batch axis excluded)" if mode != "left" else "")
                + f". Received: output_shape={output_shape!r}")
        if bias_axes is not None:
            if not isinstance(bias_axes, str) or not bias_axes or any(
                    c not in out_spec for c in bias_axes):
                raise ValueError(
                    f"Received an invalid value for `bias_axes` of layer '{self.name}', expected "
                    f"letters of the output spec '{out_spec}' of equation '{equation}'. "
                    f"Received: bias_axes={bias_axes!r}")
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer, self.kernel_constraint = self._weight_options(
            "kernel", kernel_regularizer, kernel_constraint)
        self.bias_regularizer, self.bias_constraint = self._weight_options(
            "bias", bias_regularizer, bias_constraint)

    def _parse(self, equation):
        if isinstance(equation, str):
            text = equation.replace("...", "0")
            for pattern, mode in _EQUATION_FORMS:
                match = pattern.fullmatch(text)
                if match:
                    in_spec, w_spec, out_spec = match.groups()
                    break
            else:
                match = None
        if not isinstance(equation, str) or match is None:
            raise ValueError(
                f"Received an invalid value for `equation` of layer '{self.name}': equations "
                "must be in the form 'X,Y->Z', '...X,Y->...Z' or 'X...,Y->Z...' (one letter per "
                f"axis), e.g. 'ab,bc->ac'. Received: equation={equation!r}")
        for c in out_spec:
            if c not in in_spec and c not in w_spec:
                raise ValueError(
                    f"Layer '{self.name}' (EinsumDense): output axis '{c}' of equation "
                    f"'{equation}' is in neither the input spec '{in_spec}' nor the weight "
                    f"spec '{w_spec}'.")
        for c in w_spec:
            if c not in in_spec and c not in out_spec:
                raise ValueError(
                    f"Layer '{self.name}' (EinsumDense): weight axis '{c}' of equation "
                    f"'{equation}' is in neither the input spec '{in_spec}' nor the output "
                    f"spec '{out_spec}'; the kernel's shape must follow from them.")
        return in_spec, w_spec, out_spec, mode

    def _layout(self, shape):
        """`(kernel_shape, bias_shape or None, output_shape, input_axes, output_axes)` for
        inputs of `shape` (Keras's layout), or a teaching error."""
        in_spec, w_spec, out_spec, mode = self._specs
        ndim = len(shape)
        elided = ndim - len(in_spec)
        if (mode is None and elided != 0) or (mode == "left" and elided < 1) or elided < 0:
            need = f"{len(in_spec)}" if mode is None else f"at least {len(in_spec) + (mode == 'left')}"
            raise ValueError(
                f"Layer '{self.name}' (EinsumDense) with equation '{self.equation}' expects "
                f"inputs of rank {need}, but received shape {shape_str(shape)}.")
        offset = elided if mode == "left" else 0
        sizes = {c: shape[offset + i] for i, c in enumerate(in_spec)}
        if mode == "left":
            full = tuple(shape[:elided]) + self.partial_output_shape
        elif mode == "right":
            full = (shape[0],) + self.partial_output_shape + tuple(shape[ndim - elided:])
        else:
            full = (shape[0],) + self.partial_output_shape
        full = list(full)
        for i, c in enumerate(out_spec):
            pos = offset + i
            if pos == 0 and mode != "left":
                continue  # the batch axis
            if c in sizes:
                if full[pos] is None:
                    full[pos] = sizes[c]
                elif full[pos] != sizes[c]:
                    raise ValueError(
                        f"Layer '{self.name}' (EinsumDense): the input and output shapes do not "
                        f"match at shared axis '{c}' of equation '{self.equation}': input size "
                        f"{sizes[c]}, output size {full[pos]}. Received inputs of shape "
                        f"{shape_str(shape)} and output_shape={self.partial_output_shape}.")
            elif full[pos] is None:
                raise ValueError(
                    f"Layer '{self.name}' (EinsumDense): output axis '{c}' is not an input axis, "
                    f"so `output_shape` must give its size. Received: "
                    f"output_shape={self.partial_output_shape}")
        out_sizes = {c: full[offset + i] for i, c in enumerate(out_spec)}
        kernel_shape, input_axes, output_axes = [], [], []
        for i, c in enumerate(w_spec):
            if c in out_sizes:
                kernel_shape.append(out_sizes[c])
                output_axes.append(i)
            else:
                kernel_shape.append(sizes[c])
                input_axes.append(i)
        bias_shape = None
        if self.bias_axes is not None:
            first = min(out_spec.find(c) for c in self.bias_axes)
            bias_shape = [out_sizes[c] if c in self.bias_axes else 1 for c in out_spec[first:]]
            if mode != "left":
                bias_shape += [1] * elided
            bias_shape = tuple(bias_shape)
        return tuple(kernel_shape), bias_shape, tuple(full), input_axes, output_axes

    def init(self, rng, input_spec):
        self._check_rank(input_spec, range(1, 100))
        kernel_shape, bias_shape, _, input_axes, output_axes = self._layout(input_spec.shape)
        k_kernel, k_bias = jax.random.split(rng)
        if isinstance(self.kernel_initializer, initializers.VarianceScaling):
            # Keras counts the kernel's input and output axes for the fans
            fan_in = math.prod(kernel_shape[i] for i in input_axes)
            fan_out = math.prod(kernel_shape[i] for i in output_axes)
            flat = self.kernel_initializer(k_kernel, (fan_in, fan_out), self.dtype)
            order = input_axes + output_axes
            kernel = flat.reshape([kernel_shape[i] for i in order])
            kernel = jnp.transpose(kernel, [order.index(i) for i in range(len(order))])
        else:
            kernel = self.kernel_initializer(k_kernel, kernel_shape, self.dtype)
        params = {"kernel": kernel}
        if bias_shape is not None:
            params["bias"] = self.bias_initializer(k_bias, bias_shape, self.dtype)
        return params, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        kernel_shape, _, _, _, _ = self._layout(inputs.shape)
        kernel = params["kernel"]
        if tuple(kernel.shape) != kernel_shape:
            raise ValueError(
                f"Layer '{self.name}' (EinsumDense) has a kernel of shape "
                f"{shape_str(kernel.shape)}, but inputs of shape {shape_str(inputs.shape)} "
                f"need {shape_str(kernel_shape)}.")
        y = jnp.einsum(self.equation, inputs.astype(kernel.dtype), kernel)
        if "bias" in params:
            y = y + params["bias"]
        return self.activation(y), state

    def output_spec(self, input_spec):
        self._check_rank(input_spec, range(1, 100))
        _, _, full, _, _ = self._layout(input_spec.shape)
        return jax.ShapeDtypeStruct(full, self.compute_dtype)

    def weight_names(self):
        return [("params", "kernel")] + ([("params", "bias")] if self.bias_axes else [])

    def get_config(self):
        return {**super().get_config(), "output_shape": self.partial_output_shape,
                "equation": self.equation,
                "activation": activations.serialize(self.activation),
                "bias_axes": self.bias_axes,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                **self._weight_options_config("kernel", "bias")}


# ------------------------------------------------------------------------------------ ReversibleEmbedding
class ReversibleEmbedding(Embedding):
    """An Embedding that can also map vectors back to vocabulary logits (`reverse=True`).

    Called normally it embeds integer indices like `Embedding`. Called with `reverse=True`
    (`layer.apply(params, state, h, reverse=True)`, or `layer(h, reverse=True)`) it computes
    `h @ embeddings.T` (tied weights), or `h @ reverse_embeddings` when `tie_weights=False`:
    the output projection of a language model sharing its input embedding.

    Weights (Keras order): `embeddings` `(input_dim, output_dim)`, then
    `reverse_embeddings` `(output_dim, input_dim)` when `tie_weights=False`.

    Args:
        input_dim: the vocabulary size.
        output_dim: the embedding size.
        tie_weights: whether the reverse projection uses the transposed embeddings (default
            True) or a separate weight.
        embeddings_initializer: initializer of both weights (default "uniform").
        embeddings_regularizer, embeddings_constraint: optional.
        reverse_dtype: optional dtype the reverse projection is computed in (inputs and
            kernel are cast to it), e.g. "float32" under bfloat16 weights.
        logit_soft_cap: optional positive float: the logits become
            `tanh(logits / cap) * cap`.

    Input shape:
        `(batch_size, ...)` integers; with `reverse=True`, `(batch_size, ..., output_dim)`.
    Output shape:
        `(batch_size, ..., output_dim)`; with `reverse=True`, `(batch_size, ..., input_dim)`.
    """

    def __init__(self, input_dim: int, output_dim: int, tie_weights: bool = True,
                 embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, reverse_dtype=None, logit_soft_cap=None,
                 **kwargs):
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer,
                         embeddings_constraint=embeddings_constraint, **kwargs)
        self.tie_weights = bool(tie_weights)
        if reverse_dtype is not None:
            try:
                jnp.dtype(reverse_dtype)
            except TypeError:
                raise ValueError(
                    f"Received an invalid value for `reverse_dtype` of layer '{self.name}', "
                    f"expected a dtype name or None. Received: reverse_dtype={reverse_dtype!r}"
                ) from None
        self.reverse_dtype = reverse_dtype
        if logit_soft_cap is not None and (
                not isinstance(logit_soft_cap, (int, float)) or isinstance(logit_soft_cap, bool)
                or logit_soft_cap <= 0):
            raise ValueError(
                f"Received an invalid value for `logit_soft_cap` of layer '{self.name}', "
                f"expected a positive float or None. Received: logit_soft_cap={logit_soft_cap!r}")
        self.logit_soft_cap = logit_soft_cap

    def init(self, rng, input_spec=None, *, reverse=False):
        k_emb, k_rev = jax.random.split(rng)
        params, state = super().init(k_emb, input_spec)
        if not self.tie_weights:
            params["reverse_embeddings"] = self.embeddings_initializer(
                k_rev, (self.output_dim, self.input_dim), self.dtype)
        return params, state

    def apply(self, params, state, inputs, *, training=False, rng=None, reverse=False):
        if not reverse:
            return super().apply(params, state, inputs, training=training, rng=rng)
        if inputs.ndim < 1 or inputs.shape[-1] != self.output_dim:
            raise ValueError(
                f"Layer '{self.name}' (ReversibleEmbedding) called with reverse=True expects "
                f"inputs whose last axis is output_dim={self.output_dim}, but received shape "
                f"{shape_str(inputs.shape)}.")
        kernel = (params["embeddings"].T if self.tie_weights
                  else params["reverse_embeddings"])
        if self.reverse_dtype is not None:
            inputs, kernel = inputs.astype(self.reverse_dtype), kernel.astype(self.reverse_dtype)
        else:
            inputs = inputs.astype(jnp.result_type(inputs.dtype, kernel.dtype))
        logits = jnp.matmul(inputs, kernel)
        if self.logit_soft_cap is not None:
            logits = jnp.tanh(logits / self.logit_soft_cap) * self.logit_soft_cap
        return logits, state

    def __call__(self, inputs, *args, **kwargs):
        # The functional API computes symbolic shapes with `output_spec(spec)`, which takes no
        # call arguments: say which direction this call goes while it is recorded.
        symbolic = any(isinstance(t, KerasTensor) for t in jax.tree.leaves(
            inputs, is_leaf=lambda t: isinstance(t, KerasTensor)))
        if not (symbolic and kwargs.get("reverse")):
            return super().__call__(inputs, *args, **kwargs)
        self.__dict__["_symbolic_reverse"] = True
        try:
            return super().__call__(inputs, *args, **kwargs)
        finally:
            self.__dict__["_symbolic_reverse"] = False

    def output_spec(self, input_spec, reverse: bool = False):
        reverse = reverse or self.__dict__.get("_symbolic_reverse", False)
        if not reverse:
            return super().output_spec(input_spec)
        params, state = jax.eval_shape(lambda: self.init(jax.random.key(0), input_spec))
        return jax.eval_shape(lambda p, s, x: self.apply(p, s, x, reverse=True)[0],
                              params, state, input_spec)

    def weight_names(self):
        return super().weight_names() + (
            [] if self.tie_weights else [("params", "reverse_embeddings")])

    def get_config(self):
        return {**super().get_config(), "tie_weights": self.tie_weights,
                "reverse_dtype": self.reverse_dtype, "logit_soft_cap": self.logit_soft_cap}
