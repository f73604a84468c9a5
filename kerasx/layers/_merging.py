"""Merging layers: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot.

Each takes a list of tensors: `layer.apply(params, state, [a, b], ...)`, or, in the functional
API, `Add()([a, b])` / `add([a, b])` on symbolic tensors. The functional forms also accept
arrays and then compute the result directly.

Element-wise merges follow Keras: the batch sizes must be equal, the other axes broadcast
right-aligned (a size-1 axis stretches), and an input of lower rank gets new axes just after
the batch axis, so `(batch, 8)` merges with `(batch, 4, 8)` into `(batch, 4, 8)`.
"""

import functools
from typing import Any, List, Optional, Sequence, Union

import jax
import jax.numpy as jnp

from ._base import KerasTensor, Layer, shape_str


def _shapes_str(specs) -> str:
    return "[" + ", ".join(shape_str(s.shape) for s in specs) + "]"


def _mask_list(layer, inputs, previous_mask):
    """A merge's masks, one per input (None entries for inputs without one), or None."""
    if previous_mask is None:
        return None
    if not isinstance(previous_mask, (list, tuple)) or len(previous_mask) != len(inputs):
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) expects one mask per input (a list "
            f"of {len(inputs)}, None where an input has none). Received: mask={previous_mask!r}")
    return list(previous_mask)


def _masked_merge(op, inputs, masks):
    """Keras's Maximum/Minimum with masks: an input's masked entries take the other side's
    value before `op`, so a masked entry never wins over a valid one."""
    output = output_mask = None
    for x, m in zip(inputs, masks or [None] * len(inputs)):
        if m is not None:
            m = jnp.broadcast_to(jnp.expand_dims(jnp.asarray(m).astype(bool), -1), x.shape)
        if output is None:
            output, output_mask = x, m
            continue
        if m is not None:
            x = jnp.where(m, x, output)
        if output_mask is not None:
            output = jnp.where(output_mask, output, x)
        output_mask = jnp.logical_or(output_mask, m) if (
            m is not None and output_mask is not None) else None
        output = op(output, x)
    return output


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
        """Keras 3's merge of masks: an entry is valid where any input has it valid; None when
        an input carries no mask."""
        masks = _mask_list(self, inputs, previous_mask)
        if masks is None or any(m is None for m in masks):
            return None
        return functools.reduce(jnp.logical_or, [jnp.asarray(m).astype(bool) for m in masks])

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


class _MaskedExtremum(_Merge):
    """Maximum and Minimum: with masks, Keras's masked merge (`_masked_merge`)."""

    def apply(self, params, state, inputs, *, training=False, rng=None, mask=None):
        if mask is None:
            return super().apply(params, state, inputs)
        inputs = self._check_list(inputs)
        self._output_shape(inputs)
        return _masked_merge(self._op, inputs, _mask_list(self, inputs, mask)), state


class Maximum(_MaskedExtremum):
    """Takes the element-wise maximum of a list of inputs.

    Input shape:
        A list of at least 1 tensor `(batch_size, ...)` of compatible (broadcastable) shapes.
    Output shape:
        The broadcast shape of the inputs.
    """

    def _op(self, a, b):
        return jnp.maximum(a, b)


class Minimum(_MaskedExtremum):
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

    def compute_mask(self, inputs, previous_mask=None):
        """Keras 3's: each input's mask (all valid for an input without one) broadcast to the
        input's shape, concatenated along `axis`, then valid where any entry of the last axis
        is."""
        masks = _mask_list(self, inputs, previous_mask)
        if masks is None or all(m is None for m in masks):
            return None
        full = []
        for x, m in zip(inputs, masks):
            if m is None:
                full.append(jnp.ones(x.shape, bool))
                continue
            m = jnp.asarray(m).astype(bool)
            full.append(jnp.broadcast_to(jnp.expand_dims(m, -1), x.shape)
                        if m.ndim < len(x.shape) else m)
        return jnp.any(jnp.concatenate(full, axis=self.axis), axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _l2_normalize(x, axis):
    """Keras's `normalize(x, axis)`: `x * min(rsqrt(sum(x**2, axis)), 1 / 1e-7)`."""
    inv = jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
    return x * jnp.minimum(inv, jnp.asarray(1e7, x.dtype))


class Dot(_Merge):
    """The dot product of two batches of tensors, per sample, along `axes`.

    For inputs `x` `(batch, n, d)` and `y` `(batch, m, d)` and `axes=2` the output is
    `(batch, n, m)` with `out[b] = x[b] @ y[b].T`. In general the output holds `x`'s other
    axes, then `y`'s other axes (batch axis first); an output with no axis but the batch axis
    gets a trailing axis of size 1, as in Keras.

    Args:
        axes: integer or pair of integers, the axis of each input to contract (never the batch
            axis 0; negative values count from the end of each input).
        normalize: whether to L2-normalize both inputs along `axes` first, so that the
            output is their cosine similarity.

    Input shape:
        A list of exactly 2 tensors of rank >= 2 with the same batch size and the same size
        on the contracted axes.
    Output shape:
        `(batch_size, *x_other_axes, *y_other_axes)`, or `(batch_size, 1)`.
    """

    _exact_inputs = 2

    def __init__(self, axes: Union[int, Sequence[int]], normalize: bool = False, **kwargs):
        super().__init__(**kwargs)
        is_int = lambda a: isinstance(a, int) and not isinstance(a, bool)
        if not is_int(axes):
            if not isinstance(axes, (list, tuple)):
                raise TypeError(
                    f"Received an invalid value for `axes` of layer '{self.name}', expected an "
                    f"integer or a pair of integers. Received: axes={axes!r}")
            if len(axes) != 2 or not all(is_int(a) for a in axes):
                raise ValueError(
                    f"Received an invalid value for `axes` of layer '{self.name}', expected an "
                    f"integer or a pair of integers. Received: axes={axes!r}")
        self.axes = axes
        self.normalize = bool(normalize)

    def _axes_for(self, inputs):
        x, y = inputs
        axes = [self.axes, self.axes] if isinstance(self.axes, int) else list(self.axes)
        for i, t in enumerate(inputs):
            if t.ndim < 2:
                raise ValueError(
                    f"Layer '{self.name}' (Dot) expects inputs of rank >= 2 (batch axis "
                    f"included). Received shapes {_shapes_str(inputs)}.")
            if not -t.ndim <= axes[i] < t.ndim:
                raise ValueError(
                    f"Layer '{self.name}' (Dot) has axes={self.axes}, which is out of bounds "
                    f"for input {i} of shape {shape_str(t.shape)}.")
        axes = [a % t.ndim for a, t in zip(axes, inputs)]
        if 0 in axes:
            raise ValueError(
                f"Layer '{self.name}' (Dot) cannot contract the batch axis 0; received "
                f"axes={self.axes} for inputs of shapes {_shapes_str(inputs)}.")
        if x.shape[0] != y.shape[0]:
            raise ValueError(
                f"Layer '{self.name}' (Dot) cannot multiply tensors with different batch "
                f"sizes. Received shapes {_shapes_str(inputs)}.")
        if x.shape[axes[0]] != y.shape[axes[1]]:
            raise ValueError(
                f"Layer '{self.name}' (Dot) received incompatible inputs: size "
                f"{x.shape[axes[0]]} on axis {axes[0]} of the first input != size "
                f"{y.shape[axes[1]]} on axis {axes[1]} of the second, with axes={self.axes}. "
                f"Received shapes {_shapes_str(inputs)}.")
        return axes

    def init(self, rng, input_spec):
        self._axes_for(self._check_list(input_spec))
        return {}, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        x, y = self._check_list(inputs)
        a0, a1 = self._axes_for([x, y])
        if self.normalize:
            x, y = _l2_normalize(x, a0), _l2_normalize(y, a1)
        out = jax.lax.dot_general(x, y, (((a0,), (a1,)), ((0,), (0,))),
                                  preferred_element_type=jnp.result_type(x.dtype, y.dtype))
        if out.ndim == 1:
            out = out[:, None]
        return out, state

    def compute_mask(self, inputs, previous_mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


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


def dot(inputs: Sequence[Any], axes: Union[int, Sequence[int]] = -1, **kwargs):
    """Functional form of `Dot`: the per-sample dot product of two tensors along `axes`.

    Args:
        inputs: a list of exactly 2 tensors (symbolic or arrays).
        axes: integer or pair of integers, the axes to contract (default -1).
        **kwargs: `Dot` layer arguments (`normalize`, `name`).

    Returns:
        A tensor (symbolic if the inputs are).
    """
    return _merge(Dot(axes=axes, **kwargs), inputs)
