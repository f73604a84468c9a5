"""NumPy-like ops (`keras.ops.numpy`), mapped onto `jax.numpy` with Keras's dtype rules.

Dtype rules in brief (Keras's, which follow JAX's type promotion): binary ops promote their
inputs (`add(int8, float16)` is float16, a Python scalar is weak: `add(int8, 2)` is int8);
transcendental ops and `mean`/`var`/`std`/`median`/`quantile` give floatx (float32) for int
and bool inputs and keep float16/bfloat16; creation ops default to floatx.
"""

import builtins
import math as _pymath

import jax
import jax.numpy as jnp
import numpy as np

from .. import _settings
from ._core import FLOATX
from ._core import _check_axis
from ._core import _check_broadcast
from ._core import _check_int
from ._core import _check_shape_arg
from ._core import _canonical_axis
from ._core import _dtype_arg
from ._core import _is_int_like
from ._core import _tensor
from ._core import _to_float
from ._core import keras_op
from ._core import result_type


def _make(name, fn, doc):
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    fn.__module__ = __name__
    return keras_op(fn)


# ---------------------------------------------------------------------------- unary elementwise
def _unary(name, impl, doc, to_float=False):
    def op(x):
        x = _tensor(x)
        if to_float:
            x = _to_float(x)
        return impl(x)

    return _make(name, op, doc)


def _trunc_impl(x):
    if jnp.issubdtype(x.dtype, jnp.integer) or x.dtype == jnp.bool_:
        return x
    return jnp.trunc(x)


def _bool_to_int(impl):
    def f(x):
        if x.dtype == jnp.bool_:
            x = x.astype("int32")
        return impl(x)

    return f


abs = _unary("abs", jnp.absolute, "Absolute value, elementwise.")
absolute = _unary("absolute", jnp.absolute, "Absolute value, elementwise (alias of `abs`).")
arccos = _unary("arccos", jnp.arccos, "Inverse cosine, elementwise.", to_float=True)
arccosh = _unary("arccosh", jnp.arccosh, "Inverse hyperbolic cosine, elementwise.", True)
arcsin = _unary("arcsin", jnp.arcsin, "Inverse sine, elementwise.", to_float=True)
arcsinh = _unary("arcsinh", jnp.arcsinh, "Inverse hyperbolic sine, elementwise.", True)
arctan = _unary("arctan", jnp.arctan, "Inverse tangent, elementwise.", to_float=True)
arctanh = _unary("arctanh", jnp.arctanh, "Inverse hyperbolic tangent, elementwise.", True)
cbrt = _unary("cbrt", jnp.cbrt, "Cube root, elementwise.", to_float=True)
ceil = _unary("ceil", jnp.ceil, "Ceiling, elementwise (ints give floatx).", to_float=True)
conj = _unary("conj", jnp.conjugate, "Complex conjugate, elementwise.")
conjugate = _unary("conjugate", jnp.conjugate, "Complex conjugate, elementwise.")
copy = _unary("copy", jnp.copy, "A copy of `x`.")
cos = _unary("cos", jnp.cos, "Cosine, elementwise.", to_float=True)
cosh = _unary("cosh", jnp.cosh, "Hyperbolic cosine, elementwise.", to_float=True)
deg2rad = _unary("deg2rad", jnp.deg2rad, "Degrees to radians, elementwise.", to_float=True)
exp = _unary("exp", jnp.exp, "Exponential, elementwise.", to_float=True)
exp2 = _unary("exp2", jnp.exp2, "Base-2 exponential, elementwise.", to_float=True)
expm1 = _unary("expm1", jnp.expm1, "`exp(x) - 1`, elementwise.", to_float=True)
floor = _unary("floor", jnp.floor, "Floor, elementwise (ints give floatx).", to_float=True)
imag = _unary("imag", jnp.imag, "Imaginary part, elementwise.")
isfinite = _unary("isfinite", jnp.isfinite, "Whether each element is finite.")
isinf = _unary("isinf", jnp.isinf, "Whether each element is +/- infinity.")
isnan = _unary("isnan", jnp.isnan, "Whether each element is NaN.")
isneginf = _unary("isneginf", jnp.isneginf, "Whether each element is negative infinity.")
isposinf = _unary("isposinf", jnp.isposinf, "Whether each element is positive infinity.")
isreal = _unary("isreal", jnp.isreal, "Whether each element is real (zero imaginary part).")
log = _unary("log", jnp.log, "Natural logarithm, elementwise.", to_float=True)
log10 = _unary("log10", jnp.log10, "Base-10 logarithm, elementwise.", to_float=True)
log1p = _unary("log1p", jnp.log1p, "`log(1 + x)`, elementwise.", to_float=True)
log2 = _unary("log2", jnp.log2, "Base-2 logarithm, elementwise.", to_float=True)
logical_not = _unary("logical_not", jnp.logical_not, "Logical NOT, elementwise.")
negative = _unary("negative", jnp.negative, "Numerical negative, elementwise.")
rad2deg = _unary("rad2deg", jnp.rad2deg, "Radians to degrees, elementwise.", to_float=True)
ravel = _unary("ravel", jnp.ravel, "`x` flattened to one dimension.")
real = _unary("real", jnp.real, "Real part, elementwise.")
reciprocal = _unary("reciprocal", jnp.reciprocal, "`1 / x`, elementwise.")
sign = _unary("sign", jnp.sign, "Sign (-1, 0 or 1), elementwise.")
signbit = _unary("signbit", jnp.signbit, "Whether the sign bit is set, elementwise.")
sin = _unary("sin", jnp.sin, "Sine, elementwise.", to_float=True)
sinc = _unary("sinc", jnp.sinc, "Normalized sinc `sin(pi x) / (pi x)`, elementwise.", True)
sinh = _unary("sinh", jnp.sinh, "Hyperbolic sine, elementwise.", to_float=True)
sqrt = _unary("sqrt", jnp.sqrt, "Square root, elementwise.", to_float=True)
square = _unary("square", _bool_to_int(jnp.square), "`x * x`, elementwise.")
tan = _unary("tan", jnp.tan, "Tangent, elementwise.", to_float=True)
tanh = _unary("tanh", jnp.tanh, "Hyperbolic tangent, elementwise.", to_float=True)
trunc = _unary("trunc", _trunc_impl, "Truncation towards zero, elementwise.")
bitwise_invert = _unary("bitwise_invert", jnp.invert, "Bitwise NOT, elementwise.")
bitwise_not = _unary("bitwise_not", jnp.invert, "Bitwise NOT, elementwise.")
flipud = _unary("flipud", jnp.flipud, "`x` with its first axis reversed.")
fliplr = _unary("fliplr", jnp.fliplr, "`x` with its second axis reversed.")


@keras_op
def fabs(x):
    """Absolute value of a real tensor, elementwise."""
    x = _tensor(x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(f"ops.fabs: `x` must be real. Received: x.dtype={x.dtype}")
    return jnp.fabs(x)


@keras_op
def angle(x):
    """Argument (angle) of complex values; floatx for int inputs."""
    return jnp.angle(_to_float(_tensor(x)))


@keras_op
def i0(x):
    """Modified Bessel function of the first kind, order 0."""
    x = _tensor(x)
    if x.dtype not in (jnp.bfloat16, jnp.float16):
        x = x.astype(result_type(x.dtype, "float32"))
    return jnp.i0(x)


@keras_op
def round(x, decimals=0):
    """Rounds to `decimals` decimals (halves to even); ints stay ints."""
    x = _tensor(x)
    decimals = _check_int("ops.round", decimals, "decimals")
    if jnp.issubdtype(x.dtype, jnp.integer) and decimals < 0:
        factor = 10.0 ** decimals
        return (jnp.round(x.astype(_settings.FLOATX) * factor) / factor).astype(x.dtype)
    return jnp.round(x, decimals=decimals)


# ---------------------------------------------------------------------------- binary elementwise
def _binary(name, impl, doc, args=("x1", "x2"), to_float=False):
    a, b = args
    opname = f"ops.{name}"

    def prepare(x1, x2):
        x1 = _tensor(x1)
        x2 = _tensor(x2)
        _check_broadcast(opname, (a, x1), (b, x2))
        if to_float:
            dt = result_type(x1.dtype, x2.dtype, float)
            x1, x2 = x1.astype(dt), x2.astype(dt)
        return impl(x1, x2)

    if args == ("x1", "x2"):
        def op(x1, x2):
            return prepare(x1, x2)
    else:
        def op(x, y):
            return prepare(x, y)

    return _make(name, op, doc)


add = _binary("add", jnp.add, "`x1 + x2`, elementwise (with broadcasting).")
subtract = _binary("subtract", jnp.subtract, "`x1 - x2`, elementwise.")
multiply = _binary("multiply", jnp.multiply, "`x1 * x2`, elementwise.")
divide = _binary("divide", jnp.true_divide, "`x1 / x2` (true division), elementwise.")
true_divide = _binary("true_divide", jnp.true_divide, "`x1 / x2` (alias of `divide`).")
floor_divide = _binary("floor_divide", jnp.floor_divide, "`x1 // x2`, elementwise.")
mod = _binary("mod", jnp.mod, "Remainder of division (sign of `x2`), elementwise.")
fmod = _binary("fmod", jnp.fmod, "Remainder of division (sign of `x1`), elementwise.")
power = _binary("power", jnp.power, "`x1 ** x2`, elementwise.")
maximum = _binary("maximum", jnp.maximum, "Elementwise maximum (NaNs propagate).")
minimum = _binary("minimum", jnp.minimum, "Elementwise minimum (NaNs propagate).")
fmax = _binary("fmax", jnp.fmax, "Elementwise maximum, ignoring NaNs.")
fmin = _binary("fmin", jnp.fmin, "Elementwise minimum, ignoring NaNs.")
arctan2 = _binary("arctan2", jnp.arctan2, "Quadrant-aware `arctan(x1 / x2)`.", to_float=True)
hypot = _binary("hypot", jnp.hypot, "`sqrt(x1**2 + x2**2)`, elementwise.")
heaviside = _binary("heaviside", jnp.heaviside,
                    "Heaviside step: 0 where `x1 < 0`, `x2` where `x1 == 0`, 1 where `x1 > 0`.")
logaddexp = _binary("logaddexp", jnp.logaddexp, "`log(exp(x1) + exp(x2))`, stably.",
                    to_float=True)
logaddexp2 = _binary("logaddexp2", jnp.logaddexp2, "`log2(2**x1 + 2**x2)`, stably.",
                     to_float=True)
nextafter = _binary("nextafter", jnp.nextafter,
                    "The next representable value after `x1` towards `x2`.")
gcd = _binary("gcd", jnp.gcd, "Greatest common divisor, elementwise.")
lcm = _binary("lcm", jnp.lcm, "Least common multiple, elementwise.")
equal = _binary("equal", jnp.equal, "`x1 == x2`, elementwise.")
not_equal = _binary("not_equal", jnp.not_equal, "`x1 != x2`, elementwise.")
greater = _binary("greater", jnp.greater, "`x1 > x2`, elementwise.")
greater_equal = _binary("greater_equal", jnp.greater_equal, "`x1 >= x2`, elementwise.")
less = _binary("less", jnp.less, "`x1 < x2`, elementwise.")
less_equal = _binary("less_equal", jnp.less_equal, "`x1 <= x2`, elementwise.")
logical_and = _binary("logical_and", jnp.logical_and, "Logical AND, elementwise.")
logical_or = _binary("logical_or", jnp.logical_or, "Logical OR, elementwise.")
logical_xor = _binary("logical_xor", jnp.logical_xor, "Logical XOR, elementwise.")
bitwise_and = _binary("bitwise_and", jnp.bitwise_and, "Bitwise AND, elementwise.", ("x", "y"))
bitwise_or = _binary("bitwise_or", jnp.bitwise_or, "Bitwise OR, elementwise.", ("x", "y"))
bitwise_xor = _binary("bitwise_xor", jnp.bitwise_xor, "Bitwise XOR, elementwise.", ("x", "y"))


def _shift_op(name, impl, doc):
    opname = f"ops.{name}"

    def op(x, y):
        x = _tensor(x)
        if not _is_int_like(y):
            y = _tensor(y)
            _check_broadcast(opname, ("x", x), ("y", y))
        return impl(x, y)

    return _make(name, op, doc)


bitwise_left_shift = _shift_op("bitwise_left_shift", jnp.left_shift, "`x << y`, elementwise.")
left_shift = _shift_op("left_shift", jnp.left_shift, "`x << y`, elementwise.")
bitwise_right_shift = _shift_op("bitwise_right_shift", jnp.right_shift,
                                "`x >> y`, elementwise.")
right_shift = _shift_op("right_shift", jnp.right_shift, "`x >> y`, elementwise.")


@keras_op
def divide_no_nan(x1, x2):
    """`x1 / x2`, with 0 wherever `x2` is 0."""
    x1 = _tensor(x1)
    x2 = _tensor(x2)
    _check_broadcast("ops.divide_no_nan", ("x1", x1), ("x2", x2))
    zero = x2 == 0
    out = jnp.true_divide(x1, jnp.where(zero, jnp.ones_like(x2), x2))
    return jnp.where(zero, jnp.zeros_like(out), out)


@keras_op
def ldexp(x1, x2):
    """`x1 * 2**x2`, elementwise; `x2` must be an integer tensor."""
    x1 = _tensor(x1)
    x2 = _tensor(x2)
    if not jnp.issubdtype(x2.dtype, jnp.integer):
        raise TypeError(f"ops.ldexp: the exponent `x2` must have an integer dtype. "
                        f"Received: x2.dtype={x2.dtype}")
    _check_broadcast("ops.ldexp", ("x1", x1), ("x2", x2))
    return jnp.ldexp(x1, x2)


@keras_op
def clip(x, x_min, x_max):
    """`x` with values clipped to `[x_min, x_max]` (bool inputs become int32)."""
    x = _tensor(x)
    if x.dtype == jnp.bool_:
        x = x.astype("int32")
    return jnp.clip(x, x_min, x_max)


@keras_op
def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """Whether `|x1 - x2| <= atol + rtol * |x2|`, elementwise."""
    x1, x2 = _tensor(x1), _tensor(x2)
    _check_broadcast("ops.isclose", ("x1", x1), ("x2", x2))
    return jnp.isclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan)


@keras_op
def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """Whether all elements of `x1` and `x2` are close (see `isclose`)."""
    x1, x2 = _tensor(x1), _tensor(x2)
    _check_broadcast("ops.allclose", ("x1", x1), ("x2", x2))
    return jnp.allclose(x1, x2, rtol=rtol, atol=atol, equal_nan=equal_nan)


@keras_op
def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """`x` with NaN, +inf and -inf replaced by finite numbers."""
    return jnp.nan_to_num(_tensor(x), nan=nan, posinf=posinf, neginf=neginf)


# ---------------------------------------------------------------------------- reductions
def _reduction(name, impl, doc, to_float=False):
    opname = f"ops.{name}"

    def op(x, axis=None, keepdims=False):
        x = _tensor(x)
        axis = _check_axis(opname, axis, x.ndim)
        if to_float:
            x = _to_float(x)
        return impl(x, axis=axis, keepdims=keepdims)

    return _make(name, op, doc)


all = _reduction("all", jnp.all, "Whether all elements along `axis` are true.")
any = _reduction("any", jnp.any, "Whether any element along `axis` is true.")
amax = _reduction("amax", jnp.max, "Maximum along `axis`.")
amin = _reduction("amin", jnp.min, "Minimum along `axis`.")
sum = _reduction("sum", jnp.sum, "Sum along `axis` (small ints and bool sum as int32).")
ptp = _reduction("ptp", jnp.ptp, "Range (max - min) along `axis`.")
nanmax = _reduction("nanmax", jnp.nanmax, "Maximum along `axis`, ignoring NaNs.")
nanmin = _reduction("nanmin", jnp.nanmin, "Minimum along `axis`, ignoring NaNs.")
nansum = _reduction("nansum", jnp.nansum, "Sum along `axis`, treating NaNs as zero.")
nanprod = _reduction("nanprod", jnp.nanprod, "Product along `axis`, treating NaNs as one.")
nanmean = _reduction("nanmean", jnp.nanmean, "Mean along `axis`, ignoring NaNs.")
nanvar = _reduction("nanvar", jnp.nanvar, "Variance along `axis`, ignoring NaNs.")
nanstd = _reduction("nanstd", jnp.nanstd, "Standard deviation along `axis`, ignoring NaNs.")
nanmedian = _reduction("nanmedian", jnp.nanmedian, "Median along `axis`, ignoring NaNs.")
std = _reduction("std", jnp.std, "Standard deviation along `axis` (ints give floatx).",
                 to_float=True)
median = _reduction("median", jnp.median, "Median along `axis` (ints give floatx).",
                    to_float=True)


@keras_op
def max(x, axis=None, keepdims=False, initial=None):
    """Maximum along `axis` (`initial`: a lower bound, needed for empty reductions)."""
    x = _tensor(x)
    axis = _check_axis("ops.max", axis, x.ndim)
    return jnp.max(x, axis=axis, keepdims=keepdims, initial=initial)


@keras_op
def min(x, axis=None, keepdims=False, initial=None):
    """Minimum along `axis` (`initial`: an upper bound, needed for empty reductions)."""
    x = _tensor(x)
    axis = _check_axis("ops.min", axis, x.ndim)
    return jnp.min(x, axis=axis, keepdims=keepdims, initial=initial)


@keras_op
def mean(x, axis=None, keepdims=False):
    """Mean along `axis`; ints and bool give floatx, float16 is accumulated in float32."""
    x = _tensor(x)
    axis = _check_axis("ops.mean", axis, x.ndim)
    compute = result_type(x.dtype, "float32")
    out_dtype = x.dtype if jnp.issubdtype(x.dtype, jnp.inexact) else compute
    return jnp.mean(x, axis=axis, keepdims=keepdims, dtype=compute).astype(out_dtype)


@keras_op
def var(x, axis=None, keepdims=False):
    """Variance along `axis`; ints give floatx, float16 is accumulated in float32."""
    x = _tensor(x)
    axis = _check_axis("ops.var", axis, x.ndim)
    compute = result_type(x.dtype, "float32")
    return jnp.var(x, axis=axis, keepdims=keepdims, dtype=compute).astype(
        result_type(x.dtype, float))


@keras_op
def prod(x, axis=None, keepdims=False, dtype=None):
    """Product along `axis`."""
    x = _tensor(x)
    axis = _check_axis("ops.prod", axis, x.ndim)
    return jnp.prod(x, axis=axis, keepdims=keepdims, dtype=_dtype_arg("ops.prod", dtype))


def _arg_reduction(name, impl, doc):
    opname = f"ops.{name}"

    def op(x, axis=None, keepdims=False):
        x = _tensor(x)
        if axis is not None:
            axis = _canonical_axis(opname, axis, builtins.max(x.ndim, 1))
        return impl(x, axis=axis, keepdims=keepdims)

    return _make(name, op, doc)


argmax = _arg_reduction("argmax", jnp.argmax, "Index of the maximum along `axis` (None: flat).")
argmin = _arg_reduction("argmin", jnp.argmin, "Index of the minimum along `axis` (None: flat).")
nanargmax = _arg_reduction("nanargmax", jnp.nanargmax,
                           "Index of the maximum along `axis`, ignoring NaNs.")
nanargmin = _arg_reduction("nanargmin", jnp.nanargmin,
                           "Index of the minimum along `axis`, ignoring NaNs.")


@keras_op
def count_nonzero(x, axis=None):
    """Number of non-zero elements along `axis`, as int32."""
    x = _tensor(x)
    axis = _check_axis("ops.count_nonzero", axis, x.ndim)
    return jnp.count_nonzero(x, axis=axis).astype("int32")


@keras_op
def average(x, axis=None, weights=None):
    """Weighted mean along `axis` (`weights` broadcast along that axis)."""
    x = _tensor(x)
    axis = _check_axis("ops.average", axis, x.ndim)
    dts = [x.dtype, float]
    if weights is not None:
        weights = _tensor(weights)
        dts.append(weights.dtype)
    dt = result_type(*dts)
    x = x.astype(dt)
    if weights is not None:
        weights = weights.astype(dt)
        if weights.shape != x.shape:
            if axis is None:
                raise ValueError("ops.average: `axis` must be given when `weights` and `x` "
                                 f"differ in shape. Received: x.shape={x.shape}, "
                                 f"weights.shape={weights.shape}")
            if isinstance(axis, tuple) or weights.ndim != 1 or \
                    weights.shape[0] != x.shape[axis]:
                raise ValueError("ops.average: 1-D `weights` must match the length of `x` "
                                 f"along `axis`. Received: x.shape={x.shape}, "
                                 f"weights.shape={weights.shape}, axis={axis}")
    return jnp.average(x, axis=axis, weights=weights)


def _cumulative(name, impl, doc):
    opname = f"ops.{name}"

    def op(x, axis=None, dtype=None):
        x = _tensor(x)
        if axis is not None:
            axis = _canonical_axis(opname, axis, builtins.max(x.ndim, 1))
        return impl(x, axis=axis, dtype=_dtype_arg(opname, dtype))

    return _make(name, op, doc)


cumsum = _cumulative("cumsum", jnp.cumsum, "Cumulative sum along `axis` (None: flattened).")
cumprod = _cumulative("cumprod", jnp.cumprod, "Cumulative product along `axis`.")
nancumsum = _cumulative("nancumsum", jnp.nancumsum, "Cumulative sum, treating NaNs as zero.")
nancumprod = _cumulative("nancumprod", jnp.nancumprod, "Cumulative product, NaNs as one.")


def _quantile_like(name, impl, doc):
    opname = f"ops.{name}"
    methods = ("linear", "lower", "higher", "midpoint", "nearest")

    def op(x, q, axis=None, method="linear", keepdims=False):
        x = _tensor(x)
        q = _tensor(q)
        axis = _check_axis(opname, axis, x.ndim)
        if method not in methods:
            raise ValueError(f"{opname}: `method` must be one of {methods}. "
                             f"Received: method={method!r}")
        if not jnp.issubdtype(x.dtype, jnp.inexact):
            x = x.astype(_settings.FLOATX)
        return impl(x, q, axis=axis, method=method, keepdims=keepdims)

    return _make(name, op, doc)


quantile = _quantile_like("quantile", jnp.quantile, "The `q`-th quantiles along `axis`.")
percentile = _quantile_like("percentile", jnp.percentile,
                            "The `q`-th percentiles (0-100) along `axis`.")
nanquantile = _quantile_like("nanquantile", jnp.nanquantile,
                             "The `q`-th quantiles along `axis`, ignoring NaNs.")
nanpercentile = _quantile_like("nanpercentile", jnp.nanpercentile,
                               "The `q`-th percentiles along `axis`, ignoring NaNs.")


# ---------------------------------------------------------------------------- creation
def _shape_dtype_creation(name, impl, doc):
    opname = f"ops.{name}"

    def op(shape, dtype=None):
        shape = _check_shape_arg(opname, shape)
        return impl(shape, dtype=_dtype_arg(opname, dtype, _settings.FLOATX))

    return _make(name, op, doc)


ones = _shape_dtype_creation("ones", jnp.ones, "A tensor of ones (dtype default: floatx).")
zeros = _shape_dtype_creation("zeros", jnp.zeros, "A tensor of zeros (dtype default: floatx).")
empty = _shape_dtype_creation("empty", jnp.empty,
                              "An uninitialized tensor (zeros in JAX; default floatx).")


def _like_creation(name, impl, doc):
    opname = f"ops.{name}"

    def op(x, dtype=None):
        return impl(_tensor(x), dtype=_dtype_arg(opname, dtype))

    return _make(name, op, doc)


ones_like = _like_creation("ones_like", jnp.ones_like, "Ones with the shape (and dtype) of `x`.")
zeros_like = _like_creation("zeros_like", jnp.zeros_like,
                            "Zeros with the shape (and dtype) of `x`.")
empty_like = _like_creation("empty_like", jnp.empty_like,
                            "An uninitialized tensor with the shape (and dtype) of `x`.")


@keras_op
def full(shape, fill_value, dtype=None):
    """A tensor of `shape` filled with `fill_value` (dtype default: floatx)."""
    shape = _check_shape_arg("ops.full", shape)
    return jnp.full(shape, fill_value, dtype=_dtype_arg("ops.full", dtype, _settings.FLOATX))


@keras_op
def full_like(x, fill_value, dtype=None):
    """A tensor with the shape (and dtype) of `x` filled with `fill_value`."""
    return jnp.full_like(_tensor(x), fill_value, dtype=_dtype_arg("ops.full_like", dtype))


@keras_op
def array(x, dtype=None):
    """Creates a tensor from `x` (a copy)."""
    return jnp.array(x, dtype=_dtype_arg("ops.array", dtype))


def _scalar_dtype(v):
    if hasattr(v, "dtype"):
        return v.dtype
    if isinstance(v, bool):
        return jnp.dtype("bool")
    return type(v) if isinstance(v, (int, float)) else jnp.asarray(v).dtype


@keras_op
def arange(start, stop=None, step=None, dtype=None):
    """Evenly spaced values in `[start, stop)` with spacing `step` (like `range`).

    The dtype follows the arguments (ints give int32, any float gives floatx).
    """
    for arg, v in (("start", start), ("stop", stop), ("step", step)):
        if v is not None and not isinstance(v, (int, float, np.number)) and np.ndim(v) != 0:
            raise TypeError(f"ops.arange: `{arg}` must be a scalar. Received: {arg}={v!r}")
    if step is not None and not isinstance(step, jax.core.Tracer) and step == 0:
        raise ValueError("ops.arange: `step` must not be 0.")
    if dtype is None:
        dts = [_scalar_dtype(v) for v in (start, stop, step) if v is not None]
        dtype = result_type(*dts)
    dtype = _dtype_arg("ops.arange", dtype)
    return jnp.arange(start, stop, step, dtype=dtype)


@keras_op
def eye(N, M=None, k=0, dtype=None):
    """A 2-D tensor with ones on the `k`-th diagonal (dtype default: floatx)."""
    for arg, v in (("N", N), ("M", M)):
        if isinstance(v, float) or (hasattr(v, "dtype") and jnp.issubdtype(v.dtype,
                                                                            jnp.floating)):
            raise TypeError(f"ops.eye: `{arg}` must be an integer. Received: {arg}={v!r}")
    return jnp.eye(N, M=M, k=k, dtype=_dtype_arg("ops.eye", dtype, _settings.FLOATX))


@keras_op
def identity(n, dtype=None):
    """The `n x n` identity matrix (dtype default: floatx)."""
    n = _check_int("ops.identity", n, "n", minimum=0)
    return jnp.identity(n, dtype=_dtype_arg("ops.identity", dtype, _settings.FLOATX))


@keras_op
def tri(N, M=None, k=0, dtype=None):
    """Ones at and below the `k`-th diagonal of an `N x M` matrix (default floatx)."""
    return jnp.tri(N, M=M, k=k, dtype=_dtype_arg("ops.tri", dtype, _settings.FLOATX))


@keras_op
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """`num` evenly spaced values from `start` to `stop`."""
    num = _check_int("ops.linspace", num, "num", minimum=0)
    return jnp.linspace(start, stop, num=num, endpoint=endpoint, retstep=retstep,
                        dtype=_dtype_arg("ops.linspace", dtype), axis=axis)


@keras_op
def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """`num` values spaced evenly on a log scale, from `base**start` to `base**stop`."""
    num = _check_int("ops.logspace", num, "num", minimum=0)
    return jnp.logspace(start, stop, num=num, endpoint=endpoint, base=base,
                        dtype=_dtype_arg("ops.logspace", dtype), axis=axis)


@keras_op
def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """`num` values spaced evenly on a log scale (a geometric progression)."""
    num = _check_int("ops.geomspace", num, "num", minimum=0)
    return jnp.geomspace(start, stop, num=num, endpoint=endpoint,
                         dtype=_dtype_arg("ops.geomspace", dtype), axis=axis)


def _window(name, impl, doc):
    def op(x):
        return impl(int(x)).astype(_settings.FLOATX)

    return _make(name, op, doc)


bartlett = _window("bartlett", jnp.bartlett, "The Bartlett (triangular) window of `x` points.")
blackman = _window("blackman", jnp.blackman, "The Blackman window of `x` points.")
hamming = _window("hamming", jnp.hamming, "The Hamming window of `x` points.")
hanning = _window("hanning", jnp.hanning, "The Hann window of `x` points.")


@keras_op
def kaiser(x, beta):
    """The Kaiser window of `x` points with shape parameter `beta`."""
    return jnp.kaiser(int(x), beta).astype(_settings.FLOATX)


@keras_op
def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of a 1-D `x` (columns are powers of `x`)."""
    x = _tensor(x)
    if x.ndim != 1:
        raise ValueError(f"ops.vander: `x` must be 1-D. Received: x.shape={x.shape}")
    if N is not None:
        N = _check_int("ops.vander", N, "N", minimum=0)
    if not isinstance(increasing, bool):
        raise TypeError(f"ops.vander: `increasing` must be a bool. "
                        f"Received: increasing={increasing!r}")
    return jnp.vander(x, N=N, increasing=increasing)


# ---------------------------------------------------------------------------- shape manipulation
@keras_op
def reshape(x, newshape):
    """`x` with shape `newshape` (one entry may be -1)."""
    x = _tensor(x)
    newshape = _check_shape_arg("ops.reshape", newshape, "newshape")
    if builtins.all(_is_int_like(d) for d in newshape):
        unknown = [d for d in newshape if d == -1]
        if len(unknown) > 1 or builtins.any(d < -1 for d in newshape):
            raise ValueError("ops.reshape: `newshape` may hold at most one -1 and otherwise "
                             f"non-negative sizes. Received: newshape={newshape}")
        known = _pymath.prod(d for d in newshape if d != -1)
        ok = (x.size % known == 0) if unknown and known else (known == x.size or unknown)
        if not ok or (unknown and known == 0 and x.size != 0):
            raise ValueError(f"ops.reshape: cannot reshape a tensor of shape {x.shape} "
                             f"({x.size} elements) to newshape={newshape}.")
    return jnp.reshape(x, newshape)


@keras_op
def transpose(x, axes=None):
    """`x` with its axes permuted (reversed by default)."""
    x = _tensor(x)
    if axes is not None:
        axes = _check_axis("ops.transpose", tuple(axes) if isinstance(axes, list) else axes,
                           x.ndim, "axes")
        if not isinstance(axes, tuple) or len(axes) != x.ndim:
            raise ValueError(f"ops.transpose: `axes` must be a permutation of the {x.ndim} axes "
                             f"of `x`. Received: axes={axes}")
    return jnp.transpose(x, axes)


@keras_op
def expand_dims(x, axis):
    """`x` with new size-1 axes inserted at `axis` (an int or a tuple)."""
    x = _tensor(x)
    n = len(axis) if isinstance(axis, (tuple, list)) else 1
    axis = _check_axis("ops.expand_dims", tuple(axis) if isinstance(axis, list) else axis,
                       x.ndim + n, allow_none=False)
    return jnp.expand_dims(x, axis)


@keras_op
def squeeze(x, axis=None):
    """`x` without its size-1 axes (only those in `axis` if given)."""
    x = _tensor(x)
    axis = _check_axis("ops.squeeze", tuple(axis) if isinstance(axis, list) else axis, x.ndim)
    if axis is not None:
        for a in (axis if isinstance(axis, tuple) else (axis,)):
            if x.shape[a] != 1:
                raise ValueError(f"ops.squeeze: axis {a} of `x` has size {x.shape[a]}, not 1. "
                                 f"Received: x.shape={x.shape}, axis={axis}")
    return jnp.squeeze(x, axis)


@keras_op
def broadcast_to(x, shape):
    """`x` broadcast to `shape`."""
    x = _tensor(x)
    shape = _check_shape_arg("ops.broadcast_to", shape)
    try:
        np.broadcast_shapes(x.shape, shape)
        ok = np.broadcast_shapes(x.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"ops.broadcast_to: `x` of shape {x.shape} cannot be broadcast to "
                         f"shape={tuple(shape)}.")
    return jnp.broadcast_to(x, shape)


def _check_same_shapes(opname, xs, axis, arg="xs"):
    """Checks that tensors agree in rank and in every dimension except `axis`."""
    ranks = {x.ndim for x in xs}
    if len(ranks) > 1:
        raise ValueError(f"{opname}: all tensors in `{arg}` must have the same rank. "
                         f"Received shapes: {[tuple(x.shape) for x in xs]}")
    ndim = ranks.pop()
    for d in range(ndim):
        if d != axis and len({x.shape[d] for x in xs}) > 1:
            raise ValueError(f"{opname}: tensors in `{arg}` must have the same shape except "
                             f"along axis {axis}. Received shapes: "
                             f"{[tuple(x.shape) for x in xs]}")


@keras_op
def concatenate(xs, axis=0):
    """Joins tensors along an existing `axis` (None: flattens them first)."""
    xs = [_tensor(x) for x in xs]
    if not xs:
        raise ValueError("ops.concatenate: `xs` must hold at least one tensor.")
    if axis is None:
        return jnp.concatenate([jnp.ravel(x) for x in xs])
    axis = _canonical_axis("ops.concatenate", axis, builtins.max(xs[0].ndim, 1))
    _check_same_shapes("ops.concatenate", xs, axis)
    return jnp.concatenate(xs, axis=axis)


@keras_op
def append(x1, x2, axis=None):
    """`x2` appended to `x1` along `axis` (None: both flattened)."""
    x1, x2 = _tensor(x1), _tensor(x2)
    if axis is not None:
        axis = _canonical_axis("ops.append", axis, builtins.max(x1.ndim, 1))
        _check_same_shapes("ops.append", [x1, x2], axis, "x1` and `x2")
    return jnp.append(x1, x2, axis=axis)


@keras_op
def stack(x, axis=0):
    """Joins same-shape tensors along a new `axis`."""
    xs = [_tensor(t) for t in x]
    if not xs:
        raise ValueError("ops.stack: `x` must hold at least one tensor.")
    if len({tuple(t.shape) for t in xs}) > 1:
        raise ValueError("ops.stack: all tensors must have the same shape. Received shapes: "
                         f"{[tuple(t.shape) for t in xs]}")
    _canonical_axis("ops.stack", axis, xs[0].ndim + 1)
    return jnp.stack(xs, axis=axis)


def _stack_like(name, impl, doc):
    def op(xs):
        return impl([_tensor(x) for x in xs])

    return _make(name, op, doc)


hstack = _stack_like("hstack", jnp.hstack, "Stacks tensors horizontally (column wise).")
vstack = _stack_like("vstack", jnp.vstack, "Stacks tensors vertically (row wise).")
dstack = _stack_like("dstack", jnp.dstack, "Stacks tensors along the third axis.")


def _check_sections(opname, x, ios, axis):
    if _is_int_like(ios):
        if ios <= 0:
            raise ValueError(f"{opname}: `indices_or_sections` must be a positive int. "
                             f"Received: indices_or_sections={ios}")
        return int(ios)
    if isinstance(ios, (list, tuple)):
        return list(ios)
    raise TypeError(f"{opname}: `indices_or_sections` must be an int or a list of ints. "
                    f"Received: indices_or_sections={ios!r}")


@keras_op
def split(x, indices_or_sections, axis=0):
    """Splits `x` into equal sections, or at the given indices, along `axis`."""
    x = _tensor(x)
    axis = _canonical_axis("ops.split", axis, x.ndim)
    ios = _check_sections("ops.split", x, indices_or_sections, axis)
    if isinstance(ios, int) and x.shape[axis] % ios:
        raise ValueError(f"ops.split: axis {axis} of size {x.shape[axis]} cannot be split into "
                         f"{ios} equal sections. Received: x.shape={x.shape}")
    return jnp.split(x, ios, axis=axis)


@keras_op
def array_split(x, indices_or_sections, axis=0):
    """Splits `x` into `indices_or_sections` nearly equal sections along `axis`."""
    if not _is_int_like(indices_or_sections):
        raise TypeError("ops.array_split: `indices_or_sections` must be an int. "
                        f"Received: indices_or_sections={indices_or_sections!r}")
    if indices_or_sections <= 0:
        raise ValueError("ops.array_split: `indices_or_sections` must be a positive int. "
                         f"Received: indices_or_sections={indices_or_sections}")
    if not _is_int_like(axis):
        raise TypeError(f"ops.array_split: `axis` must be an int. Received: axis={axis!r}")
    x = _tensor(x)
    return jnp.array_split(x, int(indices_or_sections), axis=axis)


def _split_like(name, impl, doc):
    opname = f"ops.{name}"

    def op(x, indices_or_sections):
        x = _tensor(x)
        ios = _check_sections(opname, x, indices_or_sections, None)
        return impl(x, ios)

    return _make(name, op, doc)


hsplit = _split_like("hsplit", jnp.hsplit, "Splits `x` horizontally (along axis 1; 0 for 1-D).")
vsplit = _split_like("vsplit", jnp.vsplit, "Splits `x` vertically (along axis 0).")
dsplit = _split_like("dsplit", jnp.dsplit, "Splits `x` along the third axis.")


@keras_op
def flip(x, axis=None):
    """`x` with the order of elements reversed along `axis` (None: all axes)."""
    x = _tensor(x)
    axis = _check_axis("ops.flip", tuple(axis) if isinstance(axis, list) else axis, x.ndim)
    return jnp.flip(x, axis=axis)


@keras_op
def rot90(array, k=1, axes=(0, 1)):
    """`array` rotated by 90 degrees `k` times in the plane of `axes`."""
    array = _tensor(array)
    if array.ndim < 2:
        raise ValueError(f"ops.rot90: `array` must have at least 2 dimensions. "
                         f"Received: array.shape={array.shape}")
    axes = tuple(axes)
    if len(axes) != 2 or _check_axis("ops.rot90", axes[0], array.ndim, "axes") % array.ndim \
            == _check_axis("ops.rot90", axes[1], array.ndim, "axes") % array.ndim:
        raise ValueError(f"ops.rot90: `axes` must be two different axes. Received: axes={axes}")
    return jnp.rot90(array, k=k, axes=axes)


@keras_op
def roll(x, shift, axis=None):
    """`x` with elements shifted by `shift` along `axis` (None: flattened), wrapping around."""
    x = _tensor(x)
    axis = _check_axis("ops.roll", tuple(axis) if isinstance(axis, list) else axis, x.ndim)
    return jnp.roll(x, shift, axis=axis)


@keras_op
def tile(x, repeats):
    """`x` repeated `repeats` times along each axis."""
    return jnp.tile(_tensor(x), repeats)


@keras_op
def repeat(x, repeats, axis=None):
    """Each element of `x` repeated `repeats` times along `axis` (None: flattened)."""
    x = _tensor(x)
    if axis is not None:
        axis = _canonical_axis("ops.repeat", axis, builtins.max(x.ndim, 1))
    return jnp.repeat(x, repeats, axis=axis)


@keras_op
def moveaxis(x, source, destination):
    """`x` with axes `source` moved to positions `destination`."""
    x = _tensor(x)
    _check_axis("ops.moveaxis", source, x.ndim, "source", allow_none=False)
    _check_axis("ops.moveaxis", destination, x.ndim, "destination", allow_none=False)
    return jnp.moveaxis(x, source, destination)


@keras_op
def swapaxes(x, axis1, axis2):
    """`x` with `axis1` and `axis2` interchanged."""
    x = _tensor(x)
    _canonical_axis("ops.swapaxes", axis1, x.ndim, "axis1")
    _canonical_axis("ops.swapaxes", axis2, x.ndim, "axis2")
    return jnp.swapaxes(x, axis1, axis2)


@keras_op
def pad(x, pad_width, mode="constant", constant_values=None):
    """`x` padded by `pad_width` (per axis `(before, after)`), in `mode`.

    Args:
        mode: "constant", "edge", "linear_ramp", "maximum", "mean", "median", "minimum",
            "reflect", "symmetric", "wrap", "empty".
        constant_values: the fill value, only with `mode="constant"`.
    """
    x = _tensor(x)
    modes = ("constant", "edge", "linear_ramp", "maximum", "mean", "median", "minimum",
             "reflect", "symmetric", "wrap", "empty")
    if mode not in modes:
        raise ValueError(f"ops.pad: `mode` must be one of {modes}. Received: mode={mode!r}")
    kwargs = {}
    if constant_values is not None:
        if mode != "constant":
            raise ValueError("ops.pad: `constant_values` can only be given with "
                             f"mode='constant'. Received: mode={mode!r}")
        kwargs["constant_values"] = constant_values
    width = np.asarray(pad_width)
    if width.ndim == 2 and width.shape[0] not in (1, x.ndim):
        raise ValueError(f"ops.pad: `pad_width` must have one (before, after) pair per axis of "
                         f"`x`. Received: pad_width={pad_width}, x.shape={x.shape}")
    return jnp.pad(x, pad_width, mode=mode, **kwargs)


@keras_op
def take(x, indices, axis=None):
    """Elements of `x` at `indices` along `axis` (None: of the flattened `x`)."""
    x = _tensor(x)
    indices = _tensor(indices)
    if axis is not None:
        axis = _canonical_axis("ops.take", axis, x.ndim)
    return jnp.take(x, indices, axis=axis)


@keras_op
def take_along_axis(x, indices, axis=None):
    """Elements of `x` picked by `indices` along `axis` (same rank as `x`)."""
    x = _tensor(x)
    indices = _tensor(indices)
    if axis is not None:
        axis = _canonical_axis("ops.take_along_axis", axis, x.ndim)
        if indices.ndim != x.ndim:
            raise ValueError("ops.take_along_axis: `indices` must have the rank of `x`. "
                             f"Received: x.shape={x.shape}, indices.shape={indices.shape}")
    return jnp.take_along_axis(x, indices, axis=axis)


@keras_op
def get_item(x, key):
    """`x[key]`."""
    return _tensor(x)[key]


@keras_op
def diag(x, k=0):
    """The `k`-th diagonal of a 2-D `x`, or a diagonal matrix from a 1-D `x`."""
    x = _tensor(x)
    if x.ndim not in (1, 2):
        raise ValueError(f"ops.diag: `x` must be 1-D or 2-D. Received: x.shape={x.shape}")
    return jnp.diag(x, k=k)


@keras_op
def diagflat(x, k=0):
    """A 2-D tensor with the flattened `x` on its `k`-th diagonal."""
    return jnp.diagflat(_tensor(x), k=k)


@keras_op
def diagonal(x, offset=0, axis1=0, axis2=1):
    """The diagonal at `offset` of the 2-D sub-arrays spanned by `axis1` and `axis2`."""
    x = _tensor(x)
    if x.ndim < 2:
        raise ValueError(f"ops.diagonal: `x` must have at least 2 dimensions. "
                         f"Received: x.shape={x.shape}")
    a1 = _canonical_axis("ops.diagonal", axis1, x.ndim, "axis1")
    a2 = _canonical_axis("ops.diagonal", axis2, x.ndim, "axis2")
    if a1 == a2:
        raise ValueError(f"ops.diagonal: `axis1` and `axis2` must differ. "
                         f"Received: axis1={axis1}, axis2={axis2}")
    return jnp.diagonal(x, offset=offset, axis1=a1, axis2=a2)


@keras_op
def trace(x, offset=0, axis1=0, axis2=1):
    """Sum along the diagonal at `offset` of the sub-arrays spanned by `axis1`, `axis2`."""
    x = _tensor(x)
    if x.ndim < 2:
        raise ValueError(f"ops.trace: `x` must have at least 2 dimensions. "
                         f"Received: x.shape={x.shape}")
    a1 = _canonical_axis("ops.trace", axis1, x.ndim, "axis1")
    a2 = _canonical_axis("ops.trace", axis2, x.ndim, "axis2")
    return jnp.trace(x, offset=offset, axis1=a1, axis2=a2)


@keras_op
def tril(x, k=0):
    """`x` with elements above the `k`-th diagonal zeroed."""
    return jnp.tril(_tensor(x), k=k)


@keras_op
def triu(x, k=0):
    """`x` with elements below the `k`-th diagonal zeroed."""
    return jnp.triu(_tensor(x), k=k)


@keras_op
def meshgrid(*x, indexing="xy"):
    """Coordinate grids from 1-D coordinate vectors (`indexing`: "xy" or "ij")."""
    if indexing not in ("xy", "ij"):
        raise ValueError(f"ops.meshgrid: `indexing` must be 'xy' or 'ij'. "
                         f"Received: indexing={indexing!r}")
    return jnp.meshgrid(*[_tensor(t) for t in x], indexing=indexing)


@keras_op
def where(condition, x1=None, x2=None):
    """Elements of `x1` where `condition`, else of `x2`; alone: the indices where true."""
    if (x1 is None) != (x2 is None):
        raise ValueError("ops.where: pass both `x1` and `x2`, or neither. "
                         f"Received: x1={'None' if x1 is None else 'a tensor'}, "
                         f"x2={'None' if x2 is None else 'a tensor'}")
    condition = _tensor(condition)
    if x1 is None:
        return jnp.nonzero(condition)
    x1, x2 = _tensor(x1), _tensor(x2)
    _check_broadcast("ops.where", ("condition", condition), ("x1", x1), ("x2", x2))
    return jnp.where(condition, x1, x2)


@keras_op
def select(condlist, choicelist, default=0):
    """Elements of `choicelist[i]` where `condlist[i]` first holds, else `default`."""
    if not isinstance(condlist, (list, tuple)) or not isinstance(choicelist, (list, tuple)):
        raise ValueError("ops.select: `condlist` and `choicelist` must be lists. Received: "
                         f"condlist={type(condlist).__name__}, "
                         f"choicelist={type(choicelist).__name__}")
    if not condlist or len(condlist) != len(choicelist):
        raise ValueError("ops.select: `condlist` and `choicelist` must be non-empty and of the "
                         f"same length. Received: len(condlist)={len(condlist)}, "
                         f"len(choicelist)={len(choicelist)}")
    return jnp.select([_tensor(c) for c in condlist], [_tensor(c) for c in choicelist],
                      default)


@keras_op
def nonzero(x):
    """Indices of the non-zero elements, one tensor per axis (not jittable)."""
    return jnp.nonzero(_tensor(x))


@keras_op
def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,
           axis=None, size=None, fill_value=None):
    """The unique elements of `x` (pass `size` to use it under `jit`)."""
    return jnp.unique(_tensor(x), return_index=return_index, return_inverse=return_inverse,
                      return_counts=return_counts, axis=axis, equal_nan=False,
                      size=size, fill_value=fill_value, sorted=sorted)


@keras_op
def sort(x, axis=-1):
    """`x` sorted along `axis`."""
    x = _tensor(x)
    if axis is not None:
        axis = _canonical_axis("ops.sort", axis, builtins.max(x.ndim, 1))
    return jnp.sort(x, axis=axis)


@keras_op
def argsort(x, axis=-1):
    """Indices that sort `x` along `axis`."""
    x = _tensor(x)
    if x.ndim == 0:
        return jnp.argsort(x, axis=None)
    if axis is not None:
        axis = _canonical_axis("ops.argsort", axis, x.ndim)
    return jnp.argsort(x, axis=axis)


@keras_op
def argpartition(x, kth, axis=-1):
    """Indices that partition `x` along `axis` around its `kth` element."""
    x = _tensor(x)
    if axis is None:
        return jnp.argpartition(jnp.ravel(x), kth, axis=0)
    axis = _canonical_axis("ops.argpartition", axis, x.ndim)
    return jnp.argpartition(x, kth, axis=axis)


@keras_op
def searchsorted(sorted_sequence, values, side="left"):
    """Indices where `values` would be inserted into the 1-D `sorted_sequence`."""
    sorted_sequence = _tensor(sorted_sequence)
    values = _tensor(values)
    if sorted_sequence.ndim != 1:
        raise ValueError("ops.searchsorted: `sorted_sequence` must be 1-D (use "
                         "`ops.vectorized_map` for N-D). Received: "
                         f"sorted_sequence.shape={sorted_sequence.shape}")
    if side not in ("left", "right"):
        raise ValueError(f"ops.searchsorted: `side` must be 'left' or 'right'. "
                         f"Received: side={side!r}")
    return jnp.searchsorted(sorted_sequence, values, side=side)


@keras_op
def digitize(x, bins):
    """Index of the bin of `bins` each element of `x` falls in."""
    x = _tensor(x)
    bins = _tensor(bins)
    if bins.ndim != 1:
        raise ValueError(f"ops.digitize: `bins` must be 1-D. Received: bins.shape={bins.shape}")
    return jnp.digitize(x, bins).astype("int32")


@keras_op
def histogram(x, bins=10, range=None):
    """Counts of a 1-D `x` in `bins` equal bins over `range`; returns `(counts, edges)`."""
    if not _is_int_like(bins):
        raise TypeError(f"ops.histogram: `bins` must be an int. Received: bins={bins!r}")
    if bins < 0:
        raise ValueError(f"ops.histogram: `bins` must be non-negative. Received: bins={bins}")
    if range:
        if not isinstance(range, tuple) or len(range) != 2:
            raise ValueError(f"ops.histogram: `range` must be a tuple (min, max). "
                             f"Received: range={range!r}")
        if range[1] < range[0]:
            raise ValueError(f"ops.histogram: `range` must be increasing. "
                             f"Received: range={range}")
    x = _tensor(x)
    if x.ndim > 1:
        raise ValueError(f"ops.histogram: `x` must be 1-D. Received: x.shape={x.shape}")
    return jnp.histogram(x, bins=bins, range=range)


@keras_op
def bincount(x, weights=None, minlength=0, sparse=False):
    """Counts of each value in a non-negative int `x` (1-D, or 2-D: one count per row)."""
    if sparse:
        raise ValueError("ops.bincount: `sparse=True` is not supported; kerasx tensors are "
                         "dense.")
    x = _tensor(x)
    if not jnp.issubdtype(x.dtype, jnp.integer):
        raise TypeError(f"ops.bincount: `x` must have an integer dtype. "
                        f"Received: x.dtype={x.dtype}")
    if x.ndim not in (1, 2):
        raise ValueError(f"ops.bincount: `x` must be 1-D or 2-D. Received: x.shape={x.shape}")
    if weights is not None:
        weights = _tensor(weights)
        if weights.shape != x.shape:
            raise ValueError("ops.bincount: `weights` must have the shape of `x`. Received: "
                             f"x.shape={x.shape}, weights.shape={weights.shape}")
    length = builtins.max(int(jnp.max(x)) + 1 if x.size else 0, minlength)
    if x.ndim == 1:
        return jnp.bincount(x, weights=weights, minlength=minlength, length=length)
    if weights is None:
        return jax.vmap(lambda r: jnp.bincount(r, length=length))(x)
    return jax.vmap(lambda r, w: jnp.bincount(r, weights=w, length=length))(x, weights)


@keras_op
def unravel_index(indices, shape):
    """Converts flat `indices` into a tuple of coordinate tensors for `shape`."""
    return jnp.unravel_index(_tensor(indices), tuple(shape))


# ---------------------------------------------------------------------------- products
def _check_matmul(opname, x1, x2):
    if x1.ndim == 0 or x2.ndim == 0:
        raise ValueError(f"{opname}: `x1` and `x2` must have at least one dimension. "
                         f"Received: x1.shape={x1.shape}, x2.shape={x2.shape}")
    k1 = x1.shape[-1]
    k2 = x2.shape[-2] if x2.ndim > 1 else x2.shape[0]
    if k1 != k2:
        raise ValueError(f"{opname}: the last axis of `x1` ({k1}) must match the "
                         f"{'second-to-last' if x2.ndim > 1 else 'only'} axis of `x2` ({k2}). "
                         f"Received: x1.shape={x1.shape}, x2.shape={x2.shape}")
    if x1.ndim > 2 or x2.ndim > 2:
        _check_broadcast(opname, ("x1", jax.ShapeDtypeStruct(x1.shape[:-2], x1.dtype)),
                         ("x2", jax.ShapeDtypeStruct(x2.shape[:-2], x2.dtype)))


@keras_op
def matmul(x1, x2):
    """Matrix product of `x1` and `x2` (batched over leading axes)."""
    x1, x2 = _tensor(x1), _tensor(x2)
    _check_matmul("ops.matmul", x1, x2)
    pref = "int32" if x1.dtype == jnp.int8 and x2.dtype == jnp.int8 else None
    return jnp.matmul(x1, x2, preferred_element_type=pref)


@keras_op
def dot(x1, x2):
    """Dot product: scalars multiply, vectors/matrices contract the last/second-last axes."""
    x1, x2 = _tensor(x1), _tensor(x2)
    if x1.ndim and x2.ndim:
        k2 = x2.shape[-2] if x2.ndim > 1 else x2.shape[0]
        if x1.shape[-1] != k2:
            raise ValueError(f"ops.dot: the last axis of `x1` ({x1.shape[-1]}) must match "
                             f"axis {-2 if x2.ndim > 1 else 0} of `x2` ({k2}). "
                             f"Received: x1.shape={x1.shape}, x2.shape={x2.shape}")
    return jnp.dot(x1, x2)


@keras_op
def tensordot(x1, x2, axes=2):
    """Sum of products over `axes` (an int: the last/first `axes` axes; or two lists)."""
    x1, x2 = _tensor(x1), _tensor(x2)
    return jnp.tensordot(x1, x2, axes=axes)


@keras_op
def einsum(subscripts, *operands, **kwargs):
    """Einstein summation over `operands` as described by `subscripts`."""
    if not isinstance(subscripts, str):
        raise TypeError(f"ops.einsum: `subscripts` must be a string. "
                        f"Received: subscripts={subscripts!r}")
    operands = [_tensor(o) for o in operands]
    if operands and builtins.all(o.dtype == jnp.int8 for o in operands):
        kwargs.setdefault("preferred_element_type", "int32")
    return jnp.einsum(subscripts, *operands, **kwargs)


@keras_op
def inner(x1, x2):
    """Inner product over the last axes of `x1` and `x2`."""
    x1, x2 = _tensor(x1), _tensor(x2)
    if x1.ndim and x2.ndim and x1.shape[-1] != x2.shape[-1]:
        raise ValueError(f"ops.inner: the last axes of `x1` and `x2` must match. "
                         f"Received: x1.shape={x1.shape}, x2.shape={x2.shape}")
    return jnp.inner(x1, x2)


@keras_op
def outer(x1, x2):
    """Outer product of the flattened `x1` and `x2`."""
    return jnp.outer(_tensor(x1), _tensor(x2))


@keras_op
def vdot(x1, x2):
    """Dot product of the flattened `x1` (conjugated) and `x2`."""
    x1, x2 = _tensor(x1), _tensor(x2)
    if x1.size != x2.size:
        raise ValueError(f"ops.vdot: `x1` and `x2` must have the same number of elements. "
                         f"Received: x1.shape={x1.shape}, x2.shape={x2.shape}")
    return jnp.vdot(x1, x2)


@keras_op
def kron(x1, x2):
    """Kronecker product of `x1` and `x2`."""
    return jnp.kron(_tensor(x1), _tensor(x2))


@keras_op
def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross product of 3-vectors (or 2-vectors) along the given axes."""
    x1, x2 = _tensor(x1), _tensor(x2)
    a = axis if axis is not None else axisa
    b = axis if axis is not None else axisb
    da = x1.shape[_canonical_axis("ops.cross", a, x1.ndim, "axisa")]
    db = x2.shape[_canonical_axis("ops.cross", b, x2.ndim, "axisb")]
    if da not in (2, 3) or db not in (2, 3):
        raise ValueError(f"ops.cross: the vector axes must have size 2 or 3. "
                         f"Received: x1.shape={x1.shape}, x2.shape={x2.shape}")
    return jnp.cross(x1, x2, axisa=axisa, axisb=axisb, axisc=axisc, axis=axis)


@keras_op
def correlate(x1, x2, mode="valid"):
    """Cross-correlation of two 1-D tensors (`mode`: "valid", "same" or "full")."""
    x1, x2 = _tensor(x1), _tensor(x2)
    if x1.ndim != 1 or x2.ndim != 1:
        raise ValueError(f"ops.correlate: `x1` and `x2` must be 1-D. "
                         f"Received: x1.shape={x1.shape}, x2.shape={x2.shape}")
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"ops.correlate: `mode` must be 'valid', 'same' or 'full'. "
                         f"Received: mode={mode!r}")
    dt = result_type(x1.dtype, x2.dtype)
    if not jnp.issubdtype(dt, jnp.inexact):
        dt = _settings.FLOATX
    return jnp.correlate(x1.astype(dt), x2.astype(dt), mode=mode)


@keras_op
def corrcoef(x):
    """Pearson correlation coefficients of the rows (variables) of `x`."""
    return jnp.corrcoef(_tensor(x))


@keras_op
def trapezoid(y, x=None, dx=1.0, axis=-1):
    """Integral of `y` along `axis` by the trapezoidal rule (at `x`, or spacing `dx`)."""
    y = _tensor(y)
    _canonical_axis("ops.trapezoid", axis, y.ndim)
    if x is not None:
        x = _tensor(x)
    return jnp.trapezoid(y, x, dx=dx, axis=axis)


@keras_op
def diff(a, n=1, axis=-1):
    """The `n`-th discrete difference of `a` along `axis`."""
    a = _tensor(a)
    n = _check_int("ops.diff", n, "n", minimum=0)
    axis = _canonical_axis("ops.diff", axis, a.ndim)
    return jnp.diff(a, n=n, axis=axis)


@keras_op
def slogdet(x):
    """Sign and log of the absolute determinant of square `x`: `(sign, logabsdet)`."""
    x = _to_float(_tensor(x))
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"ops.slogdet: `x` must be a (batch of) square matrix. "
                         f"Received: x.shape={x.shape}")
    return tuple(jnp.linalg.slogdet(x))


@keras_op
def isin(x1, x2, assume_unique=False, invert=False):
    """Whether each element of `x1` is in `x2`."""
    return jnp.isin(_tensor(x1), _tensor(x2), assume_unique=assume_unique, invert=invert)


@keras_op
def view(x, dtype=None):
    """`x`'s bytes reinterpreted as `dtype` (the last axis rescales with the item size)."""
    x = _tensor(x)
    return x.view(_dtype_arg("ops.view", dtype, x.dtype))


def vectorize(pyfunc, *, excluded=None, signature=None):
    """`pyfunc` vectorized over its array arguments (`jnp.vectorize`)."""
    return jnp.vectorize(pyfunc, excluded=excluded or set(), signature=signature)


@keras_op
def size(x):
    """The number of elements of `x`."""
    return int(np.size(x)) if not hasattr(x, "size") else int(x.size)


@keras_op
def ndim(x):
    """The number of dimensions of `x`."""
    return int(np.ndim(x)) if not hasattr(x, "ndim") else int(x.ndim)



# ---------------------------------------------------------------------------- einops
def _parse_side(opname, side):
    """'b (h w) c' -> [['b'], ['h', 'w'], ['c']]; '...' is kept as a group of its own."""
    groups, current = [], None
    tokens = side.replace("(", " ( ").replace(")", " ) ").split()
    for tok in tokens:
        if tok == "(":
            if current is not None:
                raise ValueError(f"{opname}: nested parentheses in pattern side {side!r}.")
            current = []
        elif tok == ")":
            if current is None:
                raise ValueError(f"{opname}: unbalanced ')' in pattern side {side!r}.")
            groups.append(current)
            current = None
        else:
            if tok != "..." and tok != "1" and not tok.isidentifier():
                raise ValueError(f"{opname}: invalid axis name {tok!r} in pattern.")
            if tok == "1":
                entry = []
            else:
                entry = [tok]
            if current is None:
                groups.append(entry if tok != "..." else ["..."])
            elif tok == "...":
                raise ValueError(f"{opname}: '...' cannot be inside parentheses.")
            else:
                current.extend(entry)
    if current is not None:
        raise ValueError(f"{opname}: unbalanced '(' in pattern side {side!r}.")
    return groups


@keras_op
def rearrange(tensor, pattern, **axes_lengths):
    """Reorders, merges and splits axes as written in an einops `pattern`.

    Example: `rearrange(x, "b (h p) w c -> b h (p w c)", p=2)`. Axis sizes that cannot be
    inferred from the input shape are given as keyword arguments.
    """
    opname = "ops.rearrange"
    x = _tensor(tensor)
    if not isinstance(pattern, str) or pattern.count("->") != 1:
        raise ValueError(f"{opname}: `pattern` must look like 'a b c -> c b a'. "
                         f"Received: pattern={pattern!r}")
    left_s, right_s = pattern.split("->")
    left, right = _parse_side(opname, left_s), _parse_side(opname, right_s)
    left_names = [n for g in left for n in g]
    right_names = [n for g in right for n in g]
    for side, names in (("left", left_names), ("right", right_names)):
        if len(set(names)) != len(names):
            raise ValueError(f"{opname}: an axis is repeated on the {side} of "
                             f"pattern={pattern!r}.")
    if set(left_names) != set(right_names):
        raise ValueError(f"{opname}: both sides of the pattern must name the same axes. "
                         f"Received: pattern={pattern!r}")
    n_ellipsis_dims = x.ndim - (len(left) - (1 if ["..."] in left else 0))
    if n_ellipsis_dims < 0 or (["..."] not in left and n_ellipsis_dims != 0):
        raise ValueError(f"{opname}: the left side of pattern={pattern!r} has "
                         f"{len(left)} axes but the tensor has rank {x.ndim}.")
    sizes = {k: int(v) for k, v in axes_lengths.items()}
    elementary = []  # names in input order ("..." expanded to "...0", "...1", ...)
    dims = iter(x.shape)
    for group in left:
        if group == ["..."]:
            for i in range(n_ellipsis_dims):
                sizes[f"...{i}"] = next(dims)
                elementary.append(f"...{i}")
            continue
        dim = next(dims)
        unknown = [n for n in group if n not in sizes]
        known = _pymath.prod(sizes[n] for n in group if n in sizes)
        if len(unknown) > 1:
            raise ValueError(f"{opname}: cannot infer the sizes of {unknown}; pass them as "
                             f"keyword arguments. Received: pattern={pattern!r}")
        if unknown:
            if known == 0 or dim % known:
                raise ValueError(f"{opname}: axis of size {dim} cannot be split by {group} "
                                 f"with known sizes {axes_lengths}.")
            sizes[unknown[0]] = dim // known
        elif known != dim:
            raise ValueError(f"{opname}: axis of size {dim} does not match {group} of size "
                             f"{known}. Received: axes_lengths={axes_lengths}")
        elementary.extend(group)
    x = x.reshape(tuple(sizes[n] for n in elementary))
    order = []
    for group in right:
        order.extend([f"...{i}" for i in range(n_ellipsis_dims)] if group == ["..."] else group)
    x = jnp.transpose(x, [elementary.index(n) for n in order])
    out_shape = []
    for group in right:
        if group == ["..."]:
            out_shape.extend(sizes[f"...{i}"] for i in range(n_ellipsis_dims))
        else:
            out_shape.append(_pymath.prod(sizes[n] for n in group))
    return x.reshape(tuple(out_shape))
