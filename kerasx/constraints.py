"""Weight constraints (Keras's `keras.constraints`).

A constraint is a callable `constraint(w) -> w'` that `fit` applies to a weight after every
optimizer update, inside the compiled step (`Dense(..., kernel_constraint=MaxNorm(3))`).
"""

from typing import Any, Callable, Optional, Union

import jax.numpy as jnp

from ._lookup import Configurable, deserialize_object, get_object, serialize_object
from . import _settings  # config.epsilon(), read when traced

__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "max_norm",
           "min_max_norm", "non_neg", "unit_norm", "get", "serialize", "deserialize"]

_EPSILON = 1e-7  # Keras's backend epsilon


def _norms(w, axis):
    return jnp.sqrt(jnp.sum(jnp.square(w), axis=axis, keepdims=True))


class Constraint(Configurable):
    """Base class: `__call__(w)` returns the constrained weight; `get_config()` the
    constructor arguments."""

    def __call__(self, w):
        return w


class MaxNorm(Constraint):
    """Rescales each slice along `axis` whose L2 norm exceeds `max_value` down to it.

    Args:
        max_value: the largest norm allowed (default 2).
        axis: the axis (or axes) the norm is taken over; 0 for a Dense kernel's inputs,
            `[0, 1, 2]` for a Conv2D kernel.
    """

    def __init__(self, max_value: float = 2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        w = jnp.asarray(w)
        norms = _norms(w, _axis(self.axis))
        desired = jnp.clip(norms, 0, self.max_value)
        return w * (desired / (_settings.EPSILON + norms))

    def get_config(self):
        return {"max_value": self.max_value, "axis": self.axis}


class MinMaxNorm(Constraint):
    """Keeps the L2 norm of each slice along `axis` within `[min_value, max_value]`, moving
    a fraction `rate` of the way there at each update.

    Args:
        min_value, max_value: the norm bounds (default 0.0 and 1.0).
        rate: 1.0 rescales at once; smaller values move part of the way.
        axis: as for MaxNorm.
    """

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0,
                 axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w):
        w = jnp.asarray(w)
        norms = _norms(w, _axis(self.axis))
        desired = self.rate * jnp.clip(norms, self.min_value, self.max_value) + \
            (1 - self.rate) * norms
        return w * (desired / (_settings.EPSILON + norms))

    def get_config(self):
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


class NonNeg(Constraint):
    """Sets negative weights to zero."""

    def __call__(self, w):
        w = jnp.asarray(w)
        return w * (w >= 0.0).astype(w.dtype)


class UnitNorm(Constraint):
    """Rescales each slice along `axis` to unit L2 norm.

    Args:
        axis: as for MaxNorm (default 0).
    """

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = jnp.asarray(w)
        return w / (_settings.EPSILON + _norms(w, _axis(self.axis)))

    def get_config(self):
        return {"axis": self.axis}


def _axis(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


max_norm = MaxNorm
min_max_norm = MinMaxNorm
non_neg = NonNeg
unit_norm = UnitNorm

_CONSTRAINTS = {"max_norm": MaxNorm, "min_max_norm": MinMaxNorm, "non_neg": NonNeg,
                "unit_norm": UnitNorm}
_CLASSES = {c.__name__: c for c in (MaxNorm, MinMaxNorm, NonNeg, UnitNorm)}


def get(identifier: Union[None, str, dict, Callable]) -> Optional[Callable]:
    """A constraint from None, a name ("max_norm", "NonNeg"), a serialized dict, an instance,
    or any callable `w -> w'`."""
    return get_object(identifier, _CONSTRAINTS, _CLASSES, "constraint", "w -> w'",
                      deserialize)


def serialize(constraint) -> Any:
    """Keras 3's dict for a constraint (`{"module", "class_name", "config", ...}`)."""
    return serialize_object(constraint)


def deserialize(config, custom_objects=None):
    """The constraint `serialize` described (also a Keras name)."""
    return deserialize_object(config, custom_objects, get)
