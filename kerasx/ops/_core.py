"""Core ops: tensors and dtypes, control flow, slicing and scattering (`keras.ops` core).

Also the helpers every op family shares: `keras_op` (converts Variables and names the op in
errors), dtype standardization and Keras's type promotion, and argument checks.
"""

import builtins
import functools
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from .. import _settings

FLOATX = "float32"  # Keras's default float dtype (kerasx has no dtype policy module yet)

_SCALARS = (int, float, complex, bool, str, type(None))


# ---------------------------------------------------------------------------- conversion helpers
def _unwrap(x):
    """Replaces any object that has `__jax_array__` (a kerasx Variable) by its array.

    Lists, tuples and dicts are searched (recursively); everything else is returned as is.
    """
    if isinstance(x, (jax.Array, np.ndarray, np.generic) + _SCALARS) or isinstance(x, type):
        return x
    if callable(getattr(x, "__jax_array__", None)):
        return x.__jax_array__()
    if type(x) in (list, tuple):
        items = [_unwrap(e) for e in x]
        if builtins.all(a is b for a, b in zip(items, x)):
            return x
        return type(x)(items)
    if type(x) is dict:
        return {k: _unwrap(v) for k, v in x.items()}
    return x


def keras_op(fn: Callable = None, *, name: str = None, wrap_errors: bool = True):
    """Decorates a `kerasx.ops` function.

    Arguments that have `__jax_array__` (kerasx Variables, also inside lists, tuples and dicts)
    are replaced by their arrays, and a plain `TypeError`/`ValueError` raised underneath (by
    `jax.numpy`, say) is re-raised with the op's public name in front, so every error names
    the op. `wrap_errors=False` leaves errors alone (control flow, where they come from user
    code).
    """
    if fn is None:
        return functools.partial(keras_op, name=name, wrap_errors=wrap_errors)
    opname = name or f"ops.{fn.__name__}"

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        args = tuple(_unwrap(a) for a in args)
        if kwargs:
            kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
        if not wrap_errors:
            return fn(*args, **kwargs)
        try:
            return fn(*args, **kwargs)
        except (TypeError, ValueError) as e:
            msg = str(e)
            if type(e) not in (TypeError, ValueError) or msg.startswith("ops."):
                raise
            raise type(e)(f"{opname}: {msg}") from e

    wrapper.op_name = opname
    return wrapper


def _tensor(x, dtype=None):
    """`convert_to_tensor` without the op wrapper (for use inside ops)."""
    if isinstance(x, jax.Array):
        if dtype is None or x.dtype == dtype:
            return x
        return x.astype(dtype)
    if not isinstance(x, (np.ndarray, np.generic) + _SCALARS) and callable(
            getattr(x, "__jax_array__", None)):
        x = x.__jax_array__()
        return x if dtype is None else x.astype(dtype)
    if dtype is not None and jnp.dtype(dtype) == jnp.bfloat16 and not isinstance(x, jax.Array):
        return jnp.asarray(x).astype(dtype)
    return jnp.asarray(x, dtype=dtype)


# ---------------------------------------------------------------------------- dtypes
_PY_TYPES = {bool: "bool", int: "int32", float: FLOATX, complex: "complex64"}
_X32 = {"float64": "float32", "int64": "int32", "uint64": "uint32", "complex128": "complex64"}


def standardize_dtype(dtype) -> str:
    """A dtype's canonical name ("float32"); None gives floatx, Python types their Keras dtypes.

    64-bit dtypes become their 32-bit counterparts unless JAX runs with x64 enabled.
    """
    if dtype is None:
        return _settings.FLOATX
    if dtype in _PY_TYPES:
        return _PY_TYPES[dtype]
    if hasattr(dtype, "name") and isinstance(dtype.name, str) and not isinstance(dtype, type):
        name = dtype.name
    else:
        try:
            name = jnp.dtype(dtype).name
        except TypeError as e:
            raise ValueError(f"Invalid dtype: {dtype!r}") from e
    if name not in _ALLOWED:
        try:
            name = jnp.dtype(name).name
        except TypeError as e:
            raise ValueError(f"Invalid dtype: {dtype!r}") from e
    if not jax.config.jax_enable_x64:
        name = _X32.get(name, name)
    return name


_ALLOWED = {"bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64",
            "bfloat16", "float16", "float32", "float64", "complex64", "complex128",
            "float8_e4m3fn", "float8_e5m2"}


def _dtype_arg(opname, dtype, default=None):
    """Standardizes a `dtype=` argument (None stays `default`), naming the op on errors."""
    if dtype is None:
        return default
    try:
        return standardize_dtype(dtype)
    except ValueError:
        raise ValueError(f"{opname}: `dtype` must be a valid dtype name or object. "
                         f"Received: dtype={dtype!r}") from None


def result_type(*dtypes) -> str:
    """Keras's type promotion: the dtype of an op over inputs of `dtypes`.

    Python `int`/`float` (the types, or Python scalars) are weak: `result_type("int8", int)` is
    int8 and `result_type("int8", float)` is floatx. None counts as floatx. With no arguments,
    floatx.
    """
    if not dtypes:
        return _settings.FLOATX
    args = []
    for d in dtypes:
        if d is None:
            args.append(jnp.dtype(_settings.FLOATX))
        elif d in (int, float, complex) or isinstance(d, (int, float, complex)):
            args.append(d)
        elif d is bool:
            args.append(jnp.dtype("bool"))
        else:
            args.append(jnp.dtype(standardize_dtype(d)))
    return standardize_dtype(jnp.result_type(*args))


def _is_float(dtype) -> bool:
    return jnp.issubdtype(dtype, jnp.floating)


def _is_int(dtype) -> bool:
    return jnp.issubdtype(dtype, jnp.integer)


def _to_float(x):
    """Casts an int or bool tensor to floatx (floats and complex unchanged)."""
    if jnp.issubdtype(x.dtype, jnp.inexact):
        return x
    return x.astype(_settings.FLOATX)


# ---------------------------------------------------------------------------- argument checks
def _is_int_like(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _canonical_axis(opname, axis, ndim, arg="axis"):
    """Checks one int axis against `ndim` and returns it non-negative."""
    if not _is_int_like(axis):
        raise TypeError(f"{opname}: `{arg}` must be an int. Received: {arg}={axis!r}")
    if not -ndim <= axis < builtins.max(ndim, 1):
        raise ValueError(f"{opname}: `{arg}`={axis} is out of bounds for a tensor of rank "
                         f"{ndim}; expected an int in [{-ndim}, {builtins.max(ndim - 1, 0)}].")
    return int(axis) % ndim if ndim else 0


def _check_axis(opname, axis, ndim, arg="axis", allow_none=True):
    """Validates `axis` (None, an int or a tuple/list of ints) for a tensor of rank `ndim`.

    Returns the axis unchanged in form (None / int / tuple), with ints made plain Python ints.
    """
    if axis is None:
        if allow_none:
            return None
        raise ValueError(f"{opname}: `{arg}` must be an int, not None.")
    if isinstance(axis, (list, tuple)):
        if not builtins.all(_is_int_like(a) for a in axis):
            raise TypeError(f"{opname}: `{arg}` must be an int or a tuple of ints. "
                            f"Received: {arg}={axis!r}")
        out = tuple(_canonical_axis(opname, a, ndim, arg) for a in axis)
        if len(set(out)) != len(out):
            raise ValueError(f"{opname}: `{arg}` contains a repeated axis. "
                             f"Received: {arg}={axis!r}")
        return tuple(int(a) for a in axis)
    if not _is_int_like(axis):
        raise TypeError(f"{opname}: `{arg}` must be an int or a tuple of ints. "
                        f"Received: {arg}={axis!r}")
    _canonical_axis(opname, axis, ndim, arg)
    return int(axis)


def _check_broadcast(opname, *named):
    """Raises a ValueError naming the op if the `(name, tensor)` pairs cannot broadcast."""
    shapes = [tuple(np.shape(t)) for _, t in named]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        desc = ", ".join(f"{n}.shape={s}" for (n, _), s in zip(named, shapes))
        names = " and ".join(f"`{n}`" for n, _ in named)
        raise ValueError(f"{opname}: {names} cannot be broadcast to a common shape. "
                         f"Received: {desc}") from None


def _check_shape_arg(opname, shape, arg="shape"):
    """A shape argument: an int or a sequence of non-negative ints (returns a tuple)."""
    if _is_int_like(shape):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise TypeError(f"{opname}: `{arg}` must be an int or a tuple of ints. "
                        f"Received: {arg}={shape!r}") from None
    for d in shape:
        if not (_is_int_like(d) or (hasattr(d, "shape") and np.ndim(d) == 0)):
            raise TypeError(f"{opname}: `{arg}` must be an int or a tuple of ints. "
                            f"Received: {arg}={shape!r}")
    return shape


def _check_int(opname, value, arg, minimum=None, allow_none=False):
    if value is None and allow_none:
        return value
    if not _is_int_like(value):
        raise TypeError(f"{opname}: `{arg}` must be an int. Received: {arg}={value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{opname}: `{arg}` must be >= {minimum}. Received: {arg}={value}")
    return int(value)


# ---------------------------------------------------------------------------- tensors
@keras_op
def convert_to_tensor(x, dtype=None, sparse=None, ragged=None):
    """Converts `x` (array, list, scalar, NumPy array or kerasx Variable) to a JAX array.

    Args:
        x: the value; an object with `__jax_array__` (a Variable) is read through it.
        dtype: the target dtype (None keeps `x`'s, or infers it like `jnp.asarray`).
        sparse, ragged: accepted for Keras compatibility; kerasx tensors are always dense, so
            `ragged=True` is an error.
    """
    if ragged:
        raise ValueError("ops.convert_to_tensor: `ragged=True` is not supported; kerasx "
                         "tensors are dense JAX arrays.")
    dtype = _dtype_arg("ops.convert_to_tensor", dtype)
    return _tensor(x, dtype)


@keras_op
def convert_to_numpy(x):
    """Converts a tensor (or Variable, list, scalar) to a NumPy array."""
    return np.array(x)


def is_tensor(x):
    """Whether `x` is a JAX array (a tracer counts; a NumPy array or Variable does not)."""
    return isinstance(x, jax.Array)


@keras_op
def shape(x):
    """The static shape of `x` as a tuple of ints."""
    return tuple(x.shape) if hasattr(x, "shape") else tuple(np.shape(x))


def dtype(x):
    """The standardized dtype name of a tensor (`"float32"`)."""
    x = _unwrap(x)
    return standardize_dtype(x.dtype if hasattr(x, "dtype") else _tensor(x).dtype)


@keras_op
def cast(x, dtype):
    """Casts `x` to `dtype`."""
    dtype = _dtype_arg("ops.cast", dtype)
    if dtype is None:
        raise ValueError("ops.cast: `dtype` is required. Received: dtype=None")
    return _tensor(x).astype(dtype)


@keras_op
def saturate_cast(x, dtype):
    """Casts `x` to `dtype`, clipping values to the target dtype's range first."""
    dtype = _dtype_arg("ops.saturate_cast", dtype)
    x = _tensor(x)
    target = jnp.dtype(dtype)
    if target == jnp.bool_ or jnp.issubdtype(x.dtype, jnp.bool_):
        return x.astype(target)
    info = jnp.finfo if jnp.issubdtype(target, jnp.inexact) else jnp.iinfo
    src = jnp.finfo if jnp.issubdtype(x.dtype, jnp.inexact) else jnp.iinfo
    lo = builtins.max(float(info(target).min), float(src(x.dtype).min))
    hi = builtins.min(float(info(target).max), float(src(x.dtype).max))
    if jnp.issubdtype(x.dtype, jnp.inexact):
        # The bounds, expressed in x's dtype, must not round past the target's range.
        lo_x = jnp.asarray(lo, x.dtype)
        hi_x = jnp.asarray(hi, x.dtype)
        if not jnp.issubdtype(target, jnp.inexact):
            lo_x = jnp.where(lo_x < lo, jnp.nextafter(lo_x, jnp.asarray(jnp.inf, x.dtype)), lo_x)
            hi_x = jnp.where(hi_x > hi, jnp.nextafter(hi_x, jnp.asarray(-jnp.inf, x.dtype)), hi_x)
        x = jnp.clip(x, lo_x, hi_x)
    else:
        x = jnp.clip(x, int(lo), int(hi))
    return x.astype(target)


# ---------------------------------------------------------------------------- control flow
@keras_op(wrap_errors=False)
def cond(pred, true_fn, false_fn):
    """Calls `true_fn()` if `pred` else `false_fn()` (both must return the same structure)."""
    return jax.lax.cond(pred, true_fn, false_fn)


@keras_op(wrap_errors=False)
def switch(index, branches, *operands):
    """Calls `branches[index](*operands)`; `index` is clamped to the valid range."""
    return jax.lax.switch(index, branches, *operands)


@keras_op(wrap_errors=False)
def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """Loops `carry, y = f(carry, x)` over the leading axis of `xs`; returns `(carry, ys)`.

    Args:
        f: `(carry, x) -> (carry, y)`.
        init: the initial carry (a pytree).
        xs: a pytree of tensors to scan over (None: `length` iterations with `x=None`).
        length: the number of iterations when `xs` is None.
        reverse: scan from the end.
        unroll: a positive int or a bool, how many iterations to unroll.
    """
    if not isinstance(unroll, bool) and (not _is_int_like(unroll) or unroll < 1):
        raise ValueError("ops.scan: `unroll` must be a positive int or a bool. "
                         f"Received: unroll={unroll!r}")
    if xs is None and length is None:
        raise ValueError("ops.scan: pass `xs` or `length`. Received: xs=None, length=None")
    return jax.lax.scan(f, init, xs, length=length, reverse=reverse, unroll=unroll)


@keras_op(wrap_errors=False)
def associative_scan(f, elems, reverse=False, axis=0):
    """Parallel prefix scan of `elems` along `axis` with an associative binary `f`."""
    return jax.lax.associative_scan(f, elems, reverse=reverse, axis=axis)


@keras_op(wrap_errors=False)
def map(f, xs):
    """Applies `f` to each slice of `xs` along its leading axis (a `scan`) and stacks."""
    return jax.lax.map(f, xs)


@keras_op(wrap_errors=False)
def vectorized_map(function, elements):
    """`function` mapped over the leading axis of `elements` in parallel (`jax.vmap`)."""
    return jax.vmap(function)(elements)


@keras_op(wrap_errors=False)
def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """Repeats `loop_vars = body(*loop_vars)` while `cond(*loop_vars)`.

    Args:
        cond: returns a boolean scalar from the loop variables.
        body: returns new loop variables (same structure).
        loop_vars: a tuple/list of loop variables (the result is a tuple), or a single one.
        maximum_iterations: stop after this many iterations even if `cond` holds.
    """
    is_seq = isinstance(loop_vars, (tuple, list))
    state = tuple(loop_vars) if is_seq else (loop_vars,)

    def as_tuple(out):
        return tuple(out) if is_seq else (out,)

    if maximum_iterations is None:
        out = jax.lax.while_loop(lambda s: cond(*s), lambda s: as_tuple(body(*s)), state)
    else:
        def c(s):
            return jnp.logical_and(cond(*s[0]), s[1] < maximum_iterations)

        def b(s):
            return as_tuple(body(*s[0])), s[1] + 1

        out, _ = jax.lax.while_loop(c, b, (state, jnp.asarray(0, "int32")))
    return tuple(out) if is_seq else out[0]


@keras_op(wrap_errors=False)
def fori_loop(lower, upper, body_fun, init_val):
    """`val = body_fun(i, val)` for `i` in `range(lower, upper)`; returns the final `val`."""
    return jax.lax.fori_loop(lower, upper, body_fun, init_val)


@keras_op
def stop_gradient(variable):
    """`variable` with no gradient flowing back through it."""
    return jax.lax.stop_gradient(_tensor(variable))


def custom_gradient(f):
    """Decorates `f(*args) -> (y, grad_fn)` so that `grad_fn(upstream)` is its gradient.

    As in Keras: `grad_fn` takes the upstream gradient (`dy`) and returns the gradients with
    respect to each positional argument of `f`.
    """
    inner = jax.custom_gradient(f)

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        args = tuple(_unwrap(a) for a in args)
        kwargs = {k: _unwrap(v) for k, v in kwargs.items()}
        return inner(*args, **kwargs)

    return wrapper


# ---------------------------------------------------------------------------- slicing
@keras_op
def slice(inputs, start_indices, shape):
    """The block of `inputs` of size `shape` starting at `start_indices` (-1: to the end)."""
    inputs = _tensor(inputs)
    shape = _check_shape_arg("ops.slice", shape)
    if len(shape) != inputs.ndim:
        raise ValueError(f"ops.slice: `shape` must have one entry per dimension of `inputs`. "
                         f"Received: shape={shape}, inputs.shape={inputs.shape}")
    if not isinstance(start_indices, jax.Array) and len(start_indices) != inputs.ndim:
        raise ValueError("ops.slice: `start_indices` must have one entry per dimension of "
                         f"`inputs`. Received: start_indices={start_indices}, "
                         f"inputs.shape={inputs.shape}")
    sizes = tuple(inputs.shape[i] - int(start_indices[i]) if s == -1 else int(s)
                  for i, s in enumerate(shape))
    return jax.lax.dynamic_slice(inputs, tuple(start_indices), sizes)


@keras_op
def slice_update(inputs, start_indices, updates):
    """`inputs` with the block starting at `start_indices` replaced by `updates`."""
    inputs = _tensor(inputs)
    updates = _tensor(updates, inputs.dtype)
    if updates.ndim != inputs.ndim:
        raise ValueError("ops.slice_update: `updates` must have the rank of `inputs`. "
                         f"Received: updates.shape={updates.shape}, inputs.shape={inputs.shape}")
    return jax.lax.dynamic_update_slice(inputs, updates, tuple(start_indices))


@keras_op
def scatter(indices, values, shape):
    """A zero tensor of `shape` with `values` added at `indices` (`(..., index_depth)`)."""
    indices = _tensor(indices)
    values = _tensor(values)
    shape = _check_shape_arg("ops.scatter", shape)
    if indices.shape[-1] > len(shape):
        raise ValueError("ops.scatter: the last dimension of `indices` cannot exceed the rank "
                         f"of `shape`. Received: indices.shape={indices.shape}, shape={shape}")
    idx = tuple(jnp.moveaxis(indices, -1, 0))
    return jnp.zeros(shape, values.dtype).at[idx].add(values)


@keras_op
def scatter_update(inputs, indices, updates, reduction=None):
    """`inputs` with the entries at `indices` set to (or combined with) `updates`.

    Args:
        reduction: None (replace), "add", "max", "min" or "mul".
    """
    if reduction is not None:
        if not isinstance(reduction, str) or reduction.lower() not in ("add", "max", "min",
                                                                        "mul"):
            raise ValueError("ops.scatter_update: `reduction` must be None, 'add', 'max', "
                             f"'min' or 'mul'. Received: reduction={reduction!r}")
        reduction = reduction.lower()
    inputs = _tensor(inputs)
    indices = _tensor(indices)
    updates = _tensor(updates)
    idx = tuple(jnp.moveaxis(indices, -1, 0))
    ref = inputs.at[idx]
    if reduction is None:
        return ref.set(updates)
    return {"add": ref.add, "max": ref.max, "min": ref.min, "mul": ref.multiply}[reduction](
        updates)


@keras_op
def unstack(x, num=None, axis=0):
    """Splits `x` along `axis` into a list of tensors of one rank less."""
    x = _tensor(x)
    axis = _canonical_axis("ops.unstack", axis, x.ndim)
    if num is not None and num != x.shape[axis]:
        raise ValueError(f"ops.unstack: `num`={num} does not match the size of axis {axis} "
                         f"of `x`. Received: x.shape={x.shape}")
    return [jax.lax.index_in_dim(x, i, axis, keepdims=False) for i in range(x.shape[axis])]

