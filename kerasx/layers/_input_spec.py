"""`InputSpec`: what a layer accepts (rank, dtype, axis sizes), checked where a layer is called.

A layer that sets `self.input_spec = InputSpec(...)` (one, or a list/dict of them, one per input)
gets its inputs checked on every call, eagerly, on symbolic tensors and inside models, before
anything runs. The checks read static shapes only, so they cost nothing in compiled steps.
"""

from typing import Any, Dict, Optional

import jax
import numpy as np


def _dtype_name(dtype) -> Optional[str]:
    return None if dtype is None else np.dtype(dtype).name


class InputSpec:
    """The rank, dtype and shape a layer expects of one input (Keras 3's `keras.layers.InputSpec`).

    Args:
        dtype: the expected dtype, or None for any.
        shape: the expected shape, batch axis included (`None` entries match any size).
        ndim: the expected rank (taken from `shape` when that is given).
        max_ndim, min_ndim: bounds on the rank.
        axes: `{axis: size}` for axes whose size is fixed (negative axes count from the end).
        allow_last_axis_squeeze: also accept a rank one higher with a last axis of 1, or one
            lower where the spec's last axis is 1.
        name: the input's key when a layer takes a dict of inputs.
        optional: whether the input may be None.
    """

    def __init__(self, dtype=None, shape=None, ndim=None, max_ndim=None, min_ndim=None,
                 axes=None, allow_last_axis_squeeze=False, name=None, optional=False):
        self.dtype = _dtype_name(dtype)
        if shape is not None:
            self.shape = tuple(None if d is None else int(d) for d in shape)
            self.ndim = len(self.shape)
        else:
            self.shape, self.ndim = None, ndim
        self.max_ndim, self.min_ndim = max_ndim, min_ndim
        self.name, self.optional = name, optional
        self.allow_last_axis_squeeze = allow_last_axis_squeeze
        try:
            self.axes: Dict[int, Any] = {int(k): v for k, v in (axes or {}).items()}
        except (ValueError, TypeError, AttributeError):
            raise TypeError("InputSpec: `axes` must be a dict with integer keys. "
                            f"Received: axes={axes!r}") from None
        top = self.ndim if self.ndim is not None else self.max_ndim
        if self.axes and top is not None and max(self.axes) > top - 1:
            raise ValueError(f"InputSpec: axis {max(self.axes)} is out of range for inputs of at "
                             f"most rank {top}. Received: axes={self.axes}")

    def __repr__(self):
        parts = [f"{k}={v}" for k, v in (("dtype", self.dtype), ("shape", self.shape),
                                          ("ndim", self.ndim), ("max_ndim", self.max_ndim),
                                          ("min_ndim", self.min_ndim), ("axes", self.axes)) if v]
        return f"InputSpec({', '.join(parts)})"

    def get_config(self):
        return {"dtype": self.dtype, "shape": self.shape, "ndim": self.ndim,
                "max_ndim": self.max_ndim, "min_ndim": self.min_ndim, "axes": self.axes,
                "optional": self.optional}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def assert_input_compatibility(input_spec, inputs, layer_name: str):
    """Raises a ValueError naming the layer, the input and the mismatch when `inputs` do not
    fit `input_spec` (an InputSpec, or a list/dict of them: None entries accept anything)."""
    if not input_spec:
        return
    specs = jax.tree.leaves(input_spec, is_leaf=lambda s: isinstance(s, InputSpec))
    if isinstance(inputs, dict) and specs and all(s is not None and s.name for s in specs):
        missing = [s.name for s in specs if s.name not in inputs]
        if missing:
            raise ValueError(f"Layer '{layer_name}' expects inputs with keys "
                             f"{[s.name for s in specs]}. Received keys {sorted(inputs)}: missing "
                             f"{missing}.")
        inputs = [inputs[s.name] for s in specs]
    values = jax.tree.leaves(inputs, is_leaf=lambda v: v is None or hasattr(v, "shape"))
    if len(values) != len(specs):
        raise ValueError(f"Layer '{layer_name}' expects {len(specs)} input(s), but received "
                         f"{len(values)}.")
    for i, (x, spec) in enumerate(zip(values, specs)):
        if spec is None or (x is None and spec.optional):
            continue
        if not hasattr(x, "shape"):
            raise ValueError(f"Layer '{layer_name}' expects tensors as inputs. Received input {i}: "
                             f"{x!r} of type {type(x).__name__}.")
        _check_one(spec, tuple(x.shape), getattr(x, "dtype", None), i, layer_name)


def _check_one(spec: InputSpec, shape, dtype, index: int, layer_name: str):
    where = f"Input {index}{f' ({spec.name!r})' if spec.name else ''} of layer '{layer_name}'"
    ndim = len(shape)
    if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
        raise ValueError(f"{where} is incompatible with the layer: expected ndim={spec.ndim}, "
                         f"found ndim={ndim}. Full shape received: {shape}")
    if spec.max_ndim is not None and ndim > spec.max_ndim:
        raise ValueError(f"{where} is incompatible with the layer: expected max_ndim="
                         f"{spec.max_ndim}, found ndim={ndim}. Full shape received: {shape}")
    if spec.min_ndim is not None and ndim < spec.min_ndim:
        raise ValueError(f"{where} is incompatible with the layer: expected min_ndim="
                         f"{spec.min_ndim}, found ndim={ndim}. Full shape received: {shape}")
    if spec.dtype is not None and dtype is not None and _dtype_name(dtype) != spec.dtype:
        raise ValueError(f"{where} is incompatible with the layer: expected dtype={spec.dtype}, "
                         f"found dtype={_dtype_name(dtype)}.")
    for axis, size in spec.axes.items():
        if size is not None and -ndim <= axis < ndim and shape[axis] not in (size, None):
            raise ValueError(f"{where} is incompatible with the layer: expected axis {axis} of "
                             f"the input shape to have value {size}, but received input with "
                             f"shape {shape}")
    if spec.shape is not None:
        want, got = spec.shape, shape
        if spec.allow_last_axis_squeeze:
            want = want[:-1] if want and want[-1] == 1 else want
            got = got[:-1] if got and got[-1] == 1 else got
        if len(want) != len(got) or any(w is not None and g is not None and w != g
                                        for w, g in zip(want, got)):
            raise ValueError(f"{where} is incompatible with the layer: expected shape="
                             f"{spec.shape}, found shape={shape}")
