"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate.

Each takes a list of tensors: `layer.apply(params, state, [a, b], ...)`, or, in the functional
API, `Add()([a, b])` / `add([a, b])` on symbolic tensors. The functional forms also accept
arrays and then compute the result directly.

Element-wise merges follow Keras: the batch sizes must be equal, the other axes broadcast
right-aligned (a size-1 axis stretches), and an input of lower rank gets new axes just after
the batch axis, so `(batch, 8)` merges with `(batch, 4, 8)` into `(batch, 4, 8)`.
"""

import functools
from typing import Any, List, Optional, Sequence

import jax.numpy as jnp

from ._base import KerasTensor, Layer, shape_str


def _shapes_str(specs) -> str:
    return "[" + ", ".join(shape_str(s.shape) for s in specs) + "]"


class _Merge(Layer):
    """Base of the element-wise merge layers: checks the list of inputs, then folds `_op`."""

    _exact_inputs: Optional[int] = None  # Subtract: exactly 2

    def _op(self, a, b):
        raise NotImplementedError

    def _finish(self, out, n):
        return out

    # ---------------------------------------------------------------------- checks
    def _check_list(self, inputs) -> List[Any]:
        cls = type(self).__name__
        if not isinstance(inputs, (list, tuple)) or not all(hasattr(t, "shape") for t in inputs):
            raise ValueError(
                f"Layer '{self.name}' ({cls}) should be called on a list of tensors, e.g. "
                f"`{cls}()([a, b])` or `layer.apply(params, state, [a, b])`. Received: {inputs!r}"
            )
        if self._exact_inputs is not None and len(inputs) != self._exact_inputs:
            raise ValueError(
                f"Layer '{self.name}' ({cls}) should be called on exactly {self._exact_inputs} "
                f"inputs. Received {len(inputs)} input{'' if len(inputs) == 1 else 's'} of shapes "
                f"{_shapes_str(inputs)}."
            )
        if len(inputs) < 1:
            # As in Keras 3, one input is enough (the layer then returns it; Average as a float).
            raise ValueError(
                f"Layer '{self.name}' ({cls}) should be called on a list of at least 1 input. "
                f"Received 0 inputs: {inputs!r}."
            )
        if any(len(t.shape) < 1 for t in inputs):
            raise ValueError(
                f"Layer '{self.name}' ({cls}) expects inputs with a batch axis, but received "
                f"shapes {_shapes_str(inputs)}."
            )
        return list(inputs)

    def _output_shape(self, inputs) -> tuple:
        """Keras's element-wise output shape, or a ValueError listing the received shapes."""
        cls = type(self).__name__
        if len({t.shape[0] for t in inputs}) > 1:
            raise ValueError(
                f"Layer '{self.name}' ({cls}) cannot merge tensors with different batch sizes. "
                f"Received shapes {_shapes_str(inputs)}."
            )
        out = ()
        for t in inputs:
            a, b = out, tuple(t.shape[1:])
            if len(a) < len(b):
                a, b = b, a
            b = (1,) * (len(a) - len(b)) + b
            dims = []
            for i, j in zip(a, b):
                if i != j and 1 not in (i, j):
                    raise ValueError(
                        f"Layer '{self.name}' ({cls}) received inputs with incompatible shapes "
                        f"{_shapes_str(inputs)}: apart from the batch axis, each axis must be "
                        f"equal or 1 (shapes are aligned on their last axis)."
                    )
                dims.append(j if i == 1 else i)
            out = tuple(dims)
        return (inputs[0].shape[0],) + out

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, (list, tuple)) and not inputs:
            self._check_list(inputs)  # raises the teaching error for 0 inputs
        return super().__call__(inputs, *args, **kwargs)

    # ---------------------------------------------------------------------- protocol
    def init(self, rng, input_spec):
        self._output_shape(self._check_list(input_spec))
        return {}, {}

    def compute_mask(self, inputs, previous_mask=None):
        """Keras's merge of masks: an entry is valid where every input that carries a mask has
        it valid (None when no input carries one)."""
        if previous_mask is None:
            return None
        masks = [m for m in previous_mask if m is not None] if isinstance(
            previous_mask, (list, tuple)) else [previous_mask]
        if not masks:
            return None
        out = jnp.asarray(masks[0]).astype(bool)
        for m in masks[1:]:
            out = jnp.logical_and(out, jnp.asarray(m).astype(bool))
        return out

    def apply(self, params, state, inputs, *, training=False, rng=None):
        inputs = self._check_list(inputs)
        self._output_shape(inputs)
        rank = max(x.ndim for x in inputs)
        # New axes go right after the batch axis (Keras's rule), so batch axes stay aligned.
        inputs = [x.reshape((x.shape[0],) + (1,) * (rank - x.ndim) + tuple(x.shape[1:]))
                  for x in inputs]
        out = functools.reduce(self._op, inputs)
        return self._finish(out, len(inputs)), state


class Add(_Merge):
    """Adds a list of inputs element-wise.

    Input shape:
        A list of at least 1 tensor `(batch_size, ...)` of compatible (broadcastable) shapes.
    Output shape:
        The broadcast shape of the inputs.
    """

    def _op(self, a, b):
        return jnp.add(a, b)


class Subtract(_Merge):
    """Subtracts two inputs element-wise: `inputs[0] - inputs[1]`.

    Input shape:
        A list of exactly 2 tensors `(batch_size, ...)` of compatible (broadcastable) shapes.
    Output shape:
        The broadcast shape of the inputs.
    """

    _exact_inputs = 2

    def _op(self, a, b):
        return jnp.subtract(a, b)


class Multiply(_Merge):
    """Multiplies a list of inputs element-wise.

    Input shape:
        A list of at least 1 tensor `(batch_size, ...)` of compatible (broadcastable) shapes.
    Output shape:
        The broadcast shape of the inputs.
    """

    def _op(self, a, b):
        return jnp.multiply(a, b)


class Average(_Merge):
    """Averages a list of inputs element-wise.

    Input shape:
        A list of at least 1 tensor `(batch_size, ...)` of compatible (broadcastable) shapes.
    Output shape:
        The broadcast shape of the inputs.
    """

    def _op(self, a, b):
        return jnp.add(a, b)

    def _finish(self, out, n):
        return out / n


class Maximum(_Merge):
    """Takes the element-wise maximum of a list of inputs.

    Input shape:
        A list of at least 1 tensor `(batch_size, ...)` of compatible (broadcastable) shapes.
    Output shape:
        The broadcast shape of the inputs.
    """

    def _op(self, a, b):
        return jnp.maximum(a, b)


class Minimum(_Merge):
    """Takes the element-wise minimum of a list of inputs.

    Input shape:
        A list of at least 1 tensor `(batch_size, ...)` of compatible (broadcastable) shapes.
    Output shape:
        The broadcast shape of the inputs.
    """

    def _op(self, a, b):
        return jnp.minimum(a, b)


class Concatenate(_Merge):
    """Concatenates a list of inputs along `axis`.

    Args:
        axis: integer, the axis to concatenate along (default -1, the last axis).

    Input shape:
        A list of at least 1 tensor, all of the same rank and equal in shape except on `axis`.
    Output shape:
        The common shape, with the sizes on `axis` summed.
    """

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise ValueError(
                f"Received an invalid value for `axis` of layer '{self.name}', expected an "
                f"integer. Received: axis={axis!r}"
            )
        self.axis = axis

    def _output_shape(self, inputs) -> tuple:
        shapes = [tuple(t.shape) for t in inputs]
        rank = len(shapes[0])
        problem = None
        if any(len(s) != rank for s in shapes):
            problem = "all inputs must have the same rank"
        elif not -rank <= self.axis < rank:
            problem = f"axis={self.axis} is out of bounds for inputs of rank {rank}"
        else:
            ax = self.axis % rank
            drop = lambda s: s[:ax] + s[ax + 1:]
            if len({drop(s) for s in shapes}) > 1:
                problem = f"the shapes must be equal on every axis but the concatenation axis {self.axis}"
        if problem:
            raise ValueError(
                f"Layer '{self.name}' (Concatenate) requires inputs with matching shapes except "
                f"for the concatenation axis: {problem}. Received shapes {_shapes_str(inputs)}."
            )
        out = list(shapes[0])
        out[ax] = sum(s[ax] for s in shapes)
        return tuple(out)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        inputs = self._check_list(inputs)
        self._output_shape(inputs)
        return jnp.concatenate(inputs, axis=self.axis), state

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


# ------------------------------------------------------------------------------------ functional forms
def _merge(layer: _Merge, inputs):
    """Calls `layer` on symbolic inputs (a graph node) or on arrays (computed at once)."""
    if isinstance(inputs, (list, tuple)) and any(isinstance(t, KerasTensor) for t in inputs):
        return layer(list(inputs))
    if isinstance(inputs, (list, tuple)):
        inputs = [jnp.asarray(t) for t in inputs]
    return layer.apply({}, {}, inputs)[0]


def add(inputs: Sequence[Any], **kwargs):
    """Functional form of `Add`: the element-wise sum of `inputs`.

    Args:
        inputs: a list of at least 1 tensor (symbolic or arrays) of compatible shapes.
        **kwargs: `Add` layer arguments (e.g. `name`).

    Returns:
        A tensor (symbolic if the inputs are).
    """
    return _merge(Add(**kwargs), inputs)


def subtract(inputs: Sequence[Any], **kwargs):
    """Functional form of `Subtract`: `inputs[0] - inputs[1]`.

    Args:
        inputs: a list of exactly 2 tensors (symbolic or arrays) of compatible shapes.
        **kwargs: `Subtract` layer arguments (e.g. `name`).

    Returns:
        A tensor (symbolic if the inputs are).
    """
    return _merge(Subtract(**kwargs), inputs)


def multiply(inputs: Sequence[Any], **kwargs):
    """Functional form of `Multiply`: the element-wise product of `inputs`.

    Args:
        inputs: a list of at least 1 tensor (symbolic or arrays) of compatible shapes.
        **kwargs: `Multiply` layer arguments (e.g. `name`).

    Returns:
        A tensor (symbolic if the inputs are).
    """
    return _merge(Multiply(**kwargs), inputs)


def average(inputs: Sequence[Any], **kwargs):
    """Functional form of `Average`: the element-wise mean of `inputs`.

    Args:
        inputs: a list of at least 1 tensor (symbolic or arrays) of compatible shapes.
        **kwargs: `Average` layer arguments (e.g. `name`).

    Returns:
        A tensor (symbolic if the inputs are).
    """
    return _merge(Average(**kwargs), inputs)


def maximum(inputs: Sequence[Any], **kwargs):
    """Functional form of `Maximum`: the element-wise maximum of `inputs`.

    Args:
        inputs: a list of at least 1 tensor (symbolic or arrays) of compatible shapes.
        **kwargs: `Maximum` layer arguments (e.g. `name`).

    Returns:
        A tensor (symbolic if the inputs are).
    """
    return _merge(Maximum(**kwargs), inputs)


def minimum(inputs: Sequence[Any], **kwargs):
    """Functional form of `Minimum`: the element-wise minimum of `inputs`.

    Args:
        inputs: a list of at least 1 tensor (symbolic or arrays) of compatible shapes.
        **kwargs: `Minimum` layer arguments (e.g. `name`).

    Returns:
        A tensor (symbolic if the inputs are).
    """
    return _merge(Minimum(**kwargs), inputs)


def concatenate(inputs: Sequence[Any], axis: int = -1, **kwargs):
    """Functional form of `Concatenate`: joins `inputs` along `axis`.

    Args:
        inputs: a list of at least 1 tensor (symbolic or arrays), equal in shape except on `axis`.
        axis: the concatenation axis (default -1).
        **kwargs: `Concatenate` layer arguments (e.g. `name`).

    Returns:
        A tensor (symbolic if the inputs are).
    """
    return _merge(Concatenate(axis=axis, **kwargs), inputs)
