"""Activation layers: ReLU, LeakyReLU, PReLU, ELU, Softmax (Keras 3's `keras.layers`)."""

import warnings
from typing import Optional

import jax
import jax.numpy as jnp

from .. import initializers
from ._base import Layer, shape_str


def _number(layer: str, arg: str, value, minimum: Optional[float] = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            minimum is not None and value < minimum):
        floor = "" if minimum is None else f" of at least {minimum}"
        raise ValueError(f"Layer {layer} expects `{arg}` to be a number{floor}. Received: "
                         f"{arg}={value!r}")
    return float(value)


class ReLU(Layer):
    """The rectified linear unit, as Keras computes it:
    `min(x, max_value)` for `x >= threshold`, `negative_slope * (x - threshold)` otherwise.

    Args:
        max_value: the largest output (None: unbounded); not negative.
        negative_slope: the slope below the threshold; not negative.
        threshold: where the function turns from the slope to the identity; not negative.
    """

    supports_masking = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else _number("ReLU", "max_value", max_value)
        self.negative_slope = _number("ReLU", "negative_slope", negative_slope)
        self.threshold = _number("ReLU", "threshold", threshold)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        x = inputs
        if self.threshold != 0.0:
            y = jnp.where(x > self.threshold, x, jnp.zeros_like(x))
        else:
            y = jax.nn.relu(x)
        if self.max_value is not None:
            y = jnp.minimum(y, jnp.asarray(self.max_value, y.dtype))
        if self.negative_slope != 0.0:
            y = y - self.negative_slope * jax.nn.relu(self.threshold - x)
        return y, state

    def get_config(self):
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(Layer):
    """`x` for `x >= 0`, `negative_slope * x` otherwise (Keras's default slope is 0.3)."""

    supports_masking = True

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:  # the Keras 2 name
            negative_slope = kwargs.pop("alpha")
            warnings.warn("Argument `alpha` of LeakyReLU is deprecated (Keras 3): use "
                          "`negative_slope` instead.", stacklevel=2)
        super().__init__(**kwargs)
        self.negative_slope = _number("LeakyReLU", "negative_slope", negative_slope)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        return jax.nn.leaky_relu(inputs, negative_slope=self.negative_slope), state

    def get_config(self):
        return {**super().get_config(), "negative_slope": self.negative_slope}


class ELU(Layer):
    """`x` for `x > 0`, `alpha * (exp(x) - 1)` otherwise."""

    supports_masking = True

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _number("ELU", "alpha", alpha, minimum=None)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        return jax.nn.elu(inputs, alpha=self.alpha), state

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class PReLU(Layer):
    """A leaky ReLU whose negative slope `alpha` is learned: `relu(x) - alpha * relu(-x)`.

    Args:
        alpha_initializer, alpha_regularizer, alpha_constraint: for the `alpha` weight, which
            has the input's shape without the batch axis.
        shared_axes: input axes (1 = the first after the batch) along which one alpha is
            shared, e.g. `[1, 2]` for one alpha per channel of an image.
    """

    supports_masking = True

    def __init__(self, alpha_initializer="zeros", alpha_regularizer=None, alpha_constraint=None,
                 shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer, self.alpha_constraint = self._weight_options(
            "alpha", alpha_regularizer, alpha_constraint)
        if shared_axes is not None and not isinstance(shared_axes, (list, tuple)):
            shared_axes = [shared_axes]
        self.shared_axes = None if shared_axes is None else [int(a) for a in shared_axes]

    def _alpha_shape(self, input_shape):
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if not 1 <= axis < len(input_shape):
                raise ValueError(
                    f"Layer '{self.name}' (PReLU) got shared_axes={self.shared_axes}, but its "
                    f"inputs of shape {shape_str(input_shape)} have axes 1..{len(input_shape) - 1}.")
            shape[axis - 1] = 1
        return tuple(shape)

    def init(self, rng, input_spec):
        shape = self._alpha_shape(input_spec.shape)
        return {"alpha": self.alpha_initializer(rng, shape, self.dtype)}, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        alpha = params["alpha"]
        expected = self._alpha_shape(inputs.shape)
        if tuple(alpha.shape) != expected:
            raise ValueError(
                f"Layer '{self.name}' (PReLU) was built for inputs whose alpha has shape "
                f"{tuple(alpha.shape)}, but received inputs of shape {shape_str(inputs.shape)}.")
        return jax.nn.relu(inputs) - alpha * jax.nn.relu(-inputs), state

    def weight_names(self):
        return [("params", "alpha")]

    def get_config(self):
        return {**super().get_config(),
                "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "shared_axes": self.shared_axes, **self._weight_options_config("alpha")}


class Softmax(Layer):
    """The softmax over `axis` (an int, or a list of axes). With a mask (an argument, or a
    mask from an earlier layer), masked positions get probability 0, as in Keras."""

    supports_masking = True

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = list(axis) if isinstance(axis, (list, tuple)) else int(axis)

    def apply(self, params, state, inputs, *, training=False, rng=None, mask=None):
        x = inputs
        if mask is not None:
            mask = jnp.asarray(mask)
            if mask.ndim > x.ndim or any(m not in (1, i) for m, i in zip(mask.shape[::-1],
                                                                          x.shape[::-1])):
                raise ValueError(
                    f"Layer '{self.name}' (Softmax) expects a mask that broadcasts to its inputs "
                    f"{shape_str(x.shape)}. Received a mask of shape {shape_str(mask.shape)}.")
            if mask.dtype != jnp.bool_:
                mask = mask > 0.5
            big_negative = -3e4 if x.dtype == jnp.float16 else -1e9
            x = jnp.where(mask, x, jnp.asarray(big_negative, x.dtype))
        axis = tuple(self.axis) if isinstance(self.axis, list) else self.axis
        y = jax.nn.softmax(x, axis=axis)
        if mask is not None:
            y = jnp.where(mask, y, jnp.zeros_like(y))
        return y, state

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}
