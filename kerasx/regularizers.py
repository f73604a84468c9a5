"""Weight and activity regularizers (Keras's `keras.regularizers`).

A regularizer is a callable `regularizer(x) -> scalar` added to the training loss. On a layer
argument (`Dense(..., kernel_regularizer=L2(1e-4))`) it penalizes that weight while the layer
trains; as `activity_regularizer=` it penalizes the layer's outputs. `fit` and `evaluate` add
the penalties to the loss they report, as Keras does. Pure JAX: safe under `jit` and `grad`.
"""

from typing import Any, Callable, Optional, Union

import jax.numpy as jnp

from ._lookup import Configurable, deserialize_object, get_object, serialize_object

__all__ = ["Regularizer", "L1", "L2", "L1L2", "OrthogonalRegularizer", "l1", "l2", "l1_l2",
           "orthogonal_regularizer", "get", "serialize", "deserialize"]


def _factor(cls_name: str, arg: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or \
            value != value:
        raise ValueError(
            f"Received an invalid value for `{arg}` of {cls_name}, expected a non-negative "
            f"number. Received: {arg}={value!r}")
    return float(value)


class Regularizer(Configurable):
    """Base class: `__call__(x)` returns the penalty for the tensor `x`; `get_config()` the
    constructor arguments."""

    def __call__(self, x):
        return jnp.zeros((), jnp.float32)


class L1(Regularizer):
    """`l1 * sum(abs(x))`.

    Args:
        l1: the factor (default 0.01).
    """

    def __init__(self, l1: float = 0.01):
        self.l1 = _factor("L1", "l1", l1)

    def __call__(self, x):
        return self.l1 * jnp.sum(jnp.abs(jnp.asarray(x)))

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """`l2 * sum(square(x))`.

    Args:
        l2: the factor (default 0.01).
    """

    def __init__(self, l2: float = 0.01):
        self.l2 = _factor("L2", "l2", l2)

    def __call__(self, x):
        return self.l2 * jnp.sum(jnp.square(jnp.asarray(x)))

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """`l1 * sum(abs(x)) + l2 * sum(square(x))`.

    Args:
        l1, l2: the factors (default 0.0 each, as in Keras).
    """

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _factor("L1L2", "l1", l1)
        self.l2 = _factor("L1L2", "l2", l2)

    def __call__(self, x):
        x = jnp.asarray(x)
        out = jnp.zeros((), x.dtype if jnp.issubdtype(x.dtype, jnp.floating) else jnp.float32)
        if self.l1:
            out = out + self.l1 * jnp.sum(jnp.abs(x))
        if self.l2:
            out = out + self.l2 * jnp.sum(jnp.square(x))
        return out

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


class OrthogonalRegularizer(Regularizer):
    """Pushes the rows (or columns) of a 2D weight towards orthogonality: `factor` times the
    mean absolute cosine similarity of distinct pairs of rows (`mode="rows"`) or columns.

    Args:
        factor: the factor (default 0.01).
        mode: "rows" or "columns".
    """

    def __init__(self, factor: float = 0.01, mode: str = "rows"):
        self.factor = _factor("OrthogonalRegularizer", "factor", factor)
        if mode not in ("rows", "columns"):
            raise ValueError(
                "Received an invalid value for `mode` of OrthogonalRegularizer, expected "
                f"'rows' or 'columns'. Received: mode={mode!r}")
        self.mode = mode

    def __call__(self, x):
        x = jnp.asarray(x)
        if x.ndim != 2:
            raise ValueError(
                "OrthogonalRegularizer only applies to 2D weights (a Dense kernel). Received a "
                f"tensor of shape {tuple(x.shape)}.")
        axis = 1 if self.mode == "rows" else 0
        norm = jnp.sqrt(jnp.maximum(jnp.sum(jnp.square(x), axis=axis, keepdims=True), 1e-12))
        x = x / norm
        product = x @ x.T if self.mode == "rows" else x.T @ x
        size = product.shape[0]
        off_diagonal = product * (1.0 - jnp.eye(size, dtype=x.dtype))
        num_pairs = size * (size - 1.0) / 2.0
        return self.factor * 0.5 * jnp.sum(jnp.abs(off_diagonal)) / num_pairs

    def get_config(self):
        return {"factor": self.factor, "mode": self.mode}


# Keras's function-style aliases.
l1 = L1
l2 = L2
l1_l2 = L1L2
orthogonal_regularizer = OrthogonalRegularizer

_REGULARIZERS = {"l1": L1, "l2": L2, "l1_l2": L1L2, "l1l2": L1L2,
                 "orthogonal_regularizer": OrthogonalRegularizer}
_CLASSES = {c.__name__: c for c in (L1, L2, L1L2, OrthogonalRegularizer)}


def get(identifier: Union[None, str, dict, Callable]) -> Optional[Callable]:
    """A regularizer from None, a name ("l2", "L1L2"), a serialized dict, an instance, or any
    callable `x -> scalar`."""
    return get_object(identifier, _REGULARIZERS, _CLASSES, "regularizer", "x -> scalar",
                      deserialize)


def serialize(regularizer) -> Any:
    """Keras 3's dict for a regularizer (`{"module", "class_name", "config", ...}`)."""
    return serialize_object(regularizer)


def deserialize(config, custom_objects=None):
    """The regularizer `serialize` described (also a Keras name)."""
    return deserialize_object(config, custom_objects, get)
