"""kerasx.ops against Keras 3's ops: the same inputs give the same values and result dtypes.

The table `ROWS` holds one row per call: the op's name and its arguments (NumPy arrays and
Python values, built once at import). Each row runs through `kerasx.ops` and `keras.ops` and
the outputs (tensors, tuples, lists) are compared leaf by leaf. `DTYPE_ROWS` sweeps the
elementwise and reduction ops over dtypes, where Keras's promotion rules matter most.
"""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kerasx import ops

from keras_oracle import LazyModule  # noqa: E402

# Keras's ops, imported by the tests that compare with them (skipped without Keras); the
# kerasx-only tests of this module run without Keras.
kops = LazyModule("keras.ops")

_rng = np.random.default_rng(0)


def F(*shape, dtype="float32", low=None, high=None):
    """A float array: normal, or uniform in [low, high)."""
    if low is None:
        return _rng.normal(size=shape).astype(dtype)
    return _rng.uniform(low, high, size=shape).astype(dtype)


def P(*shape, dtype="float32"):
    """Positive floats in [0.5, 2)."""
    return F(*shape, dtype=dtype, low=0.5, high=2.0)


def U(*shape, dtype="float32"):
    """Floats in (-0.9, 0.9) (valid for arcsin, arctanh, erfinv, ...)."""
    return F(*shape, dtype=dtype, low=-0.9, high=0.9)


def I(*shape, low=0, high=5, dtype="int32"):
    return _rng.integers(low, high, size=shape).astype(dtype)


def B(*shape):
    return _rng.integers(0, 2, size=shape).astype(bool)


def SPD(n, batch=()):
    a = F(*batch, n, n)
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype("float32")


def PROB(*shape):
    p = P(*shape)
    return (p / p.sum(-1, keepdims=True)).astype("float32")


class Row:
    """One call: the op's name (`"image.resize"` for submodules), its arguments, and options.

    Args:
        atol, rtol: tolerances of the value comparison.
        check_values: False compares only dtypes and shapes (e.g. `empty`).
        eager: run eagerly (outputs that are Python values, like `shape`).
    """

    def __init__(self, name, *args, atol=1e-5, rtol=1e-5, id=None, check_values=True,
                 eager=False, **kwargs):
        self.name, self.args, self.kwargs = name, args, kwargs
        self.atol, self.rtol, self.check_values = atol, rtol, check_values
        self.eager = eager
        self.id = id or name


def _get(module, name):
    for part in name.split("."):
        module = getattr(module, part)
    return module


def _dtype_name(x):
    if isinstance(x, (bool, np.bool_)):
        return "pybool"
    if isinstance(x, int):
        return "pyint"
    if isinstance(x, float):
        return "pyfloat"
    return jnp.dtype(x.dtype).name


def compare(name, ours, theirs, atol, rtol, check_values=True):
    if isinstance(ours, (list, tuple)) or isinstance(theirs, (list, tuple)):
        assert type(ours).__name__ == type(theirs).__name__, \
            f"{name}: returns a {type(ours).__name__}, Keras a {type(theirs).__name__}"
    ours_l, theirs_l = jax.tree.leaves(ours), jax.tree.leaves(theirs)
    assert len(ours_l) == len(theirs_l), f"{name}: {len(ours_l)} outputs, Keras {len(theirs_l)}"
    for i, (a, b) in enumerate(zip(ours_l, theirs_l)):
        da, db = _dtype_name(a), _dtype_name(b)
        assert da == db, f"{name} output {i}: dtype {da}, Keras gives {db}"
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape, f"{name} output {i}: shape {a.shape}, Keras {b.shape}"
        if check_values:
            tol = dict(atol=atol, rtol=rtol)
            if a.dtype in (jnp.bfloat16, np.float16):
                a, b = a.astype("float32"), b.astype("float32")
                tol = dict(atol=max(atol, 1e-2), rtol=max(rtol, 1e-2))
            np.testing.assert_allclose(a, b, equal_nan=True, err_msg=f"{name} output {i}",
                                       **tol)


# ---------------------------------------------------------------------------- running cases
# XLA compiles every eager primitive separately, which makes hundreds of small eager calls
# slow. So the cases run inside `jax.jit`, many per compiled program (at XLA's quickest
# optimisation level): the arrays of a case are the program's arguments, everything else
# (Python scalars, shapes, functions) is closed over, so dtype rules (weak Python scalars
# included) are those of eager calls. Cases that cannot be traced (data-dependent shapes,
# Python outputs) and rows marked `eager` run eagerly.
# XLA's quickest CPU settings: compiling, not running, is what these tests spend time on.
_QUICK = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}


def quick_compile(lowered):
    """`lowered.compile()` with `_QUICK` options (plain, on an XLA that lacks them)."""
    try:
        return lowered.compile(compiler_options=_QUICK)
    except Exception as e:  # noqa: BLE001
        if "compile option" not in str(e):
            raise
        return lowered.compile()


def _split(obj, arrays):
    """`obj` with every array replaced by its index in `arrays` (a `_Slot`)."""
    if isinstance(obj, (np.ndarray, jax.Array)):
        arrays.append(obj)
        return _Slot(len(arrays) - 1)
    if type(obj) in (list, tuple):
        return type(obj)(_split(o, arrays) for o in obj)
    if type(obj) is dict:
        return {k: _split(v, arrays) for k, v in obj.items()}
    return obj


def _fill(obj, arrays):
    if isinstance(obj, _Slot):
        return arrays[obj.index]
    if type(obj) in (list, tuple):
        return type(obj)(_fill(o, arrays) for o in obj)
    if type(obj) is dict:
        return {k: _fill(v, arrays) for k, v in obj.items()}
    return obj


class _Slot:
    def __init__(self, index):
        self.index = index


class Case:
    """One call of `name` on `args`/`kwargs`, in kerasx and in Keras."""

    def __init__(self, name, args, kwargs):
        self.arrays = []
        self.template = _split((tuple(args), dict(kwargs)), self.arrays)
        self.name = name

    def call(self, module, arrays):
        args, kwargs = _fill(self.template, arrays)
        return _get(module, self.name)(*args, **kwargs)

    def pair(self, arrays):
        return self.call(ops, arrays), self.call(kops, arrays)

    def traceable(self, which=None):
        fn = self.pair if which is None else (lambda a: self.call(which, a))
        try:
            jax.eval_shape(fn, self.arrays)
            return True
        except Exception:
            return False


def run_cases(cases):
    """`[(ours, theirs)]` for `cases`, compiled together in one program.

    A case that cannot be traced gets None (and the others still run compiled).
    """
    def program(all_arrays, todo):
        return [cases[i].pair(a) for i, a in zip(todo, all_arrays)]

    def run(todo):
        arrays = [cases[i].arrays for i in todo]
        compiled = quick_compile(jax.jit(lambda a: program(a, todo)).lower(arrays))
        return dict(zip(todo, compiled(arrays)))

    todo = list(range(len(cases)))
    try:
        results = run(todo) if todo else {}
    except Exception:  # some case does not trace: find it, compile the rest
        todo = [i for i in todo if cases[i].traceable()]
        results = run(todo) if todo else {}
    return [results.get(i) for i in range(len(cases))]


# ---------------------------------------------------------------------------- the table
def _square(x):
    return x * x


def _scan_fn(c, x):
    return c + x, c * x


x34, y34, x4, y4 = F(3, 4), F(3, 4), F(4), F(4)
img = P(2, 6, 6, 3)
ROWS = [
    # --- core
    Row("convert_to_tensor", [1, 2, 3]),
    Row("convert_to_tensor", [1.0, 2.0], id="convert_to_tensor_float_list"),
    Row("convert_to_tensor", np.arange(4.0), id="convert_to_tensor_float64"),
    Row("convert_to_tensor", x4, dtype="float16", id="convert_to_tensor_dtype"),
    Row("cast", x34, "int32"),
    Row("cast", I(5), "bfloat16", id="cast_bf16"),
    Row("saturate_cast", F(6, low=-300, high=300), "int8"),
    Row("saturate_cast", F(6, low=-1e5, high=1e5), "float16", id="saturate_cast_f16"),
    Row("saturate_cast", I(6, low=-1000, high=1000), "uint8", id="saturate_cast_int"),
    Row("stop_gradient", x34),
    Row("slice", F(4, 5), (1, 2), (2, 3)),
    Row("slice", F(4, 5), (1, 2), (-1, 2), id="slice_minus1"),
    Row("slice_update", np.zeros((4, 5), "float32"), (1, 2), F(2, 2)),
    Row("scatter", np.array([[0, 1], [2, 3]]), np.array([1.0, 2.0], "float32"), (3, 4)),
    Row("scatter_update", np.zeros((3, 4), "float32"), np.array([[0, 1], [2, 3]]),
        np.array([5.0, 6.0], "float32")),
    Row("scatter_update", np.ones((3, 4), "float32"), np.array([[0, 1], [0, 1]]),
        np.array([5.0, 6.0], "float32"), reduction="add", id="scatter_update_add"),
    Row("scatter_update", np.ones((3, 4), "float32"), np.array([[0, 1], [2, 2]]),
        np.array([5.0, -6.0], "float32"), reduction="min", id="scatter_update_min"),
    Row("unstack", F(3, 2)),
    Row("unstack", F(3, 2), axis=1, id="unstack_axis1"),
    Row("cond", True, lambda: 1.0, lambda: 0.0),
    Row("switch", 1, [lambda x: x + 1, lambda x: x * 2], np.float32(3.0)),
    Row("scan", _scan_fn, np.float32(1.0), F(5)),
    Row("associative_scan", lambda a, b: a + b, F(6)),
    Row("map", _square, F(4, 2)),
    Row("vectorized_map", lambda r: r.sum(), F(4, 3)),
    Row("while_loop", lambda i, s: i < 5, lambda i, s: (i + 1, s * 2.0), (0, 1.0)),
    Row("while_loop", lambda i: i < 10, lambda i: i + 1, 0, maximum_iterations=4,
        id="while_loop_max_iter"),
    Row("while_loop", lambda i, s: i < 3, lambda i, s: [i + 1, s + i], [0, 0],
        id="while_loop_list", eager=True),
    Row("fori_loop", 0, 5, lambda i, v: v + i, 0),
    # --- numpy: elementwise unary
    *[Row(n, x34) for n in ["abs", "absolute", "arctan", "arcsinh", "cbrt", "ceil", "conj",
                            "conjugate", "copy", "cos", "cosh", "deg2rad", "exp", "exp2",
                            "expm1", "fabs", "floor", "imag", "isfinite", "isinf", "isnan",
                            "isneginf", "isposinf", "isreal", "negative", "rad2deg", "ravel",
                            "real", "reciprocal", "round", "sign", "signbit", "sin", "sinc",
                            "sinh", "square", "tan", "tanh", "trunc", "angle", "i0",
                            "logical_not", "flipud", "fliplr"]],
    *[Row(n, U(3, 4)) for n in ["arccos", "arcsin", "arctanh"]],
    Row("arccosh", P(3, 4) + 1.0),
    *[Row(n, P(3, 4)) for n in ["log", "log10", "log1p", "log2", "sqrt"]],
    Row("round", F(5) * 100, decimals=-1, id="round_neg_decimals"),
    Row("round", I(5, high=100), decimals=-1, id="round_int_neg_decimals"),
    Row("round", F(5), decimals=2, id="round_decimals"),
    *[Row(n, I(3, 4, high=50, dtype="int32")) for n in
      ["bitwise_invert", "bitwise_not"]],
    Row("nan_to_num", np.array([np.nan, np.inf, -np.inf, 1.0], "float32")),
    Row("nan_to_num", np.array([np.nan, np.inf, -np.inf, 1.0], "float32"), nan=5.0,
        posinf=9.0, neginf=-9.0, id="nan_to_num_values"),
    # --- binary
    *[Row(n, x34, y34) for n in ["add", "subtract", "multiply", "divide", "true_divide",
                                 "maximum", "minimum", "fmax", "fmin", "arctan2", "hypot",
                                 "logaddexp", "logaddexp2", "equal", "not_equal", "greater",
                                 "greater_equal", "less", "less_equal", "nextafter",
                                 "heaviside", "divide_no_nan", "logical_and", "logical_or",
                                 "logical_xor"]],
    Row("add", x34, F(4), id="add_broadcast"),
    Row("add", x34, 2, id="add_scalar"),
    Row("divide_no_nan", x34, np.array([0.0, 1.0, 0.0, 2.0], "float32"),
        id="divide_no_nan_zeros"),
    *[Row(n, P(3, 4), P(3, 4)) for n in ["power", "mod", "fmod", "floor_divide"]],
    *[Row(n, I(3, 4, low=1, high=30), I(3, 4, low=1, high=30)) for n in
      ["gcd", "lcm", "bitwise_and", "bitwise_or", "bitwise_xor", "mod", "floor_divide",
       "power"]],
    *[Row(n, I(3, 4, high=30), I(3, 4, high=4)) for n in
      ["bitwise_left_shift", "bitwise_right_shift", "left_shift", "right_shift"]],
    Row("left_shift", I(3, high=30), 2, id="left_shift_int"),
    Row("ldexp", x34, I(3, 4, high=4)),
    Row("clip", x34, -0.5, 0.5),
    Row("clip", B(5), 0, 1, id="clip_bool"),
    Row("isclose", x34, x34 + 1e-7),
    Row("allclose", x34, x34 + 1e-3),
    Row("isin", I(3, 4), np.array([1, 3])),
    Row("isin", I(3, 4), np.array([1, 3]), invert=True, id="isin_invert"),
    # --- reductions
    *[Row(n, x34) for n in ["sum", "prod", "mean", "max", "min", "amax", "amin", "std",
                            "var", "median", "ptp", "argmax", "argmin", "count_nonzero",
                            "nansum", "nanmean", "nanmax", "nanmin", "nanprod", "nanstd",
                            "nanvar", "nanmedian", "nanargmax", "nanargmin", "cumsum",
                            "cumprod", "nancumsum", "nancumprod", "average", "logsumexp",
                            "all", "any"]],
    *[Row(n, x34, axis=1, id=f"{n}_axis1") for n in
      ["sum", "prod", "mean", "max", "min", "std", "var", "median", "argmax", "argmin",
       "cumsum", "cumprod", "logsumexp", "count_nonzero", "all", "any", "ptp", "average"]],
    *[Row(n, F(2, 3, 4), axis=(0, 2), keepdims=True, id=f"{n}_axes_keepdims") for n in
      ["sum", "mean", "max", "min", "std", "var", "median", "logsumexp", "prod", "amax",
       "amin", "nansum", "nanmean"]],
    Row("max", F(0), initial=-1.0, id="max_initial"),
    Row("argmax", x34, axis=-1, keepdims=True, id="argmax_keepdims"),
    Row("average", x34, axis=1, weights=P(4), id="average_weights"),
    Row("prod", I(3, 4), dtype="float32", id="prod_dtype"),
    Row("cumsum", I(3, 4), axis=0, dtype="float32", id="cumsum_dtype"),
    Row("nanmean", np.array([1.0, np.nan, 3.0], "float32"), id="nanmean_nan"),
    Row("quantile", F(10), 0.3),
    Row("quantile", F(4, 10), np.array([0.1, 0.5]), axis=1, method="nearest",
        id="quantile_axis"),
    Row("percentile", F(10), 30.0),
    Row("percentile", F(3, 10), 50.0, axis=1, keepdims=True, method="midpoint",
        id="percentile_axis"),
    Row("nanquantile", np.array([1.0, np.nan, 3.0, 4.0], "float32"), 0.5),
    Row("nanpercentile", np.array([1.0, np.nan, 3.0, 4.0], "float32"), 25.0),
    # --- creation
    Row("ones", (2, 3)), Row("zeros", (2, 3)), Row("empty", (2, 3), check_values=False),
    Row("ones", (2,), dtype="int32", id="ones_int"),
    Row("full", (2, 3), 7.0), Row("full", (2, 3), 7, dtype="int8", id="full_int8"),
    Row("ones_like", I(2, 3)), Row("zeros_like", x34, dtype="int32"),
    Row("empty_like", x34, check_values=False), Row("full_like", x34, 3),
    Row("arange", 5), Row("arange", 1, 7, 2, id="arange_step"),
    Row("arange", 0, 2.0, 0.5, id="arange_float"), Row("arange", 5, dtype="float16",
                                                      id="arange_dtype"),
    Row("array", [[1, 2], [3, 4]]), Row("array", x34, dtype="float16", id="array_dtype"),
    Row("eye", 3), Row("eye", 3, 4, k=1, id="eye_rect"), Row("identity", 3),
    Row("tri", 3), Row("tri", 3, 4, k=-1, dtype="int32", id="tri_int"),
    Row("linspace", 0, 1, 5), Row("linspace", 0, 1, 5, endpoint=False, retstep=True,
                                   id="linspace_retstep"),
    Row("logspace", 0, 2, 5), Row("geomspace", 1, 100, 5),
    *[Row(n, 7) for n in ["bartlett", "blackman", "hamming", "hanning"]],
    Row("kaiser", 7, 5.0),
    Row("vander", F(4)), Row("vander", F(4), N=3, increasing=True, id="vander_N"),
    # --- shapes
    Row("reshape", x34, (4, 3)), Row("reshape", x34, (-1,), id="reshape_minus1"),
    Row("transpose", F(2, 3, 4)), Row("transpose", F(2, 3, 4), (1, 0, 2), id="transpose_axes"),
    Row("expand_dims", x34, 1), Row("expand_dims", x34, (0, 3), id="expand_dims_tuple"),
    Row("squeeze", F(3, 1, 4)), Row("squeeze", F(3, 1, 4, 1), axis=1, id="squeeze_axis"),
    Row("broadcast_to", x4, (3, 4)),
    Row("concatenate", [x34, y34]), Row("concatenate", [x34, y34], axis=1,
                                        id="concatenate_axis1"),
    Row("concatenate", [I(2, 2, dtype="int8"), F(2, 2, dtype="float16")],
        id="concatenate_promote"),
    Row("append", x34, y34), Row("append", x34, y34, axis=0, id="append_axis"),
    Row("stack", [x4, y4]), Row("stack", [x4, y4], axis=1, id="stack_axis"),
    Row("hstack", [x34, y34]), Row("vstack", [x34, y34]), Row("dstack", [x34, y34]),
    Row("split", F(6, 2), 3), Row("split", F(6, 2), [1, 4], id="split_indices"),
    Row("split", F(2, 6), 2, axis=1, id="split_axis"),
    Row("array_split", F(7, 2), 3), Row("hsplit", F(2, 6), 2), Row("vsplit", F(6, 2), 3),
    Row("dsplit", F(2, 2, 4), 2),
    Row("flip", x34), Row("flip", x34, axis=1, id="flip_axis"),
    Row("rot90", x34), Row("rot90", F(2, 3, 4), k=3, axes=(1, 2), id="rot90_axes"),
    Row("roll", x34, 2), Row("roll", x34, -1, axis=1, id="roll_axis"),
    Row("tile", x4, (2, 2)), Row("repeat", x34, 2), Row("repeat", x34, 2, axis=1,
                                                        id="repeat_axis"),
    Row("moveaxis", F(2, 3, 4), 0, -1), Row("swapaxes", F(2, 3, 4), 0, 2),
    Row("pad", x34, ((1, 1), (2, 0))),
    Row("pad", x34, 1, mode="reflect", id="pad_reflect"),
    Row("pad", x34, ((1, 1), (0, 2)), constant_values=3.0, id="pad_constant"),
    Row("take", x34, np.array([0, 2])), Row("take", x34, np.array([[0, 3]]), axis=1,
                                             id="take_axis"),
    Row("take_along_axis", x34, I(3, 2, high=4), axis=1),
    Row("get_item", x34, (slice(1, None), 2)),
    Row("diag", x4), Row("diag", x34, k=1, id="diag_2d"), Row("diagflat", F(2, 2)),
    Row("diagonal", F(3, 3, 2)), Row("diagonal", F(2, 3, 3), offset=1, axis1=1, axis2=2,
                                     id="diagonal_axes"),
    Row("trace", F(3, 3)), Row("trace", F(2, 3, 3), offset=-1, axis1=1, axis2=2,
                               id="trace_axes"),
    Row("tril", F(4, 4)), Row("triu", F(4, 4), k=1),
    Row("meshgrid", x4, F(3)), Row("meshgrid", x4, F(3), indexing="ij", id="meshgrid_ij"),
    Row("where", x34 > 0, x34, y34), Row("where", x34 > 0, x34, 0.0, id="where_scalar"),
    Row("where", x34 > 0, id="where_single"),
    Row("select", [x4 > 0.5, x4 < -0.5], [x4, -x4], 0.0),
    Row("nonzero", I(3, 4, high=2)),
    Row("unique", I(10, high=4)),
    Row("unique", I(10, high=4), return_counts=True, return_inverse=True,
        id="unique_counts"),
    Row("sort", x34), Row("sort", x34, axis=0, id="sort_axis"),
    Row("argsort", x34), Row("argsort", x34, axis=0, id="argsort_axis"),
    Row("argpartition", np.array([5.0, 1.0, 4.0, 2.0, 3.0], "float32"), 2,
        check_values=False),
    Row("searchsorted", np.array([1.0, 2.0, 3.0], "float32"), F(5)),
    Row("searchsorted", np.array([1.0, 2.0, 3.0], "float32"), np.array([2.0], "float32"),
        side="right", id="searchsorted_right"),
    Row("digitize", F(6), np.array([-1.0, 0.0, 1.0], "float32")),
    Row("histogram", F(20)), Row("histogram", F(20), bins=4, range=(-1.0, 1.0),
                                 id="histogram_range"),
    Row("bincount", I(10)), Row("bincount", I(10), weights=F(10), minlength=7,
                                id="bincount_weights"),
    Row("bincount", I(2, 6), id="bincount_2d"),
    Row("unravel_index", np.array([1, 5, 7]), (2, 4)),
    # --- products
    Row("matmul", F(2, 3, 4), F(4, 5)), Row("matmul", x4, y4, id="matmul_vec"),
    Row("matmul", I(2, 3, dtype="int8"), I(3, 2, dtype="int8"), id="matmul_int8"),
    Row("dot", x34, F(4, 2)), Row("dot", x4, y4, id="dot_vec"),
    Row("tensordot", F(2, 3, 4), F(3, 4, 5)),
    Row("tensordot", F(2, 3), F(3, 4), axes=1, id="tensordot_1"),
    Row("tensordot", F(2, 3), F(4, 2), axes=([0], [1]), id="tensordot_lists"),
    Row("einsum", "ij,jk->ik", x34, F(4, 2)),
    Row("einsum", "bij->bji", F(2, 3, 4), id="einsum_transpose"),
    Row("einsum", "i,i->", I(4, dtype="int8"), I(4, dtype="int8"), id="einsum_int8"),
    Row("inner", x34, y34), Row("outer", x4, F(3)), Row("vdot", x34, y34),
    Row("kron", F(2, 2), F(2, 3)), Row("cross", F(4, 3), F(4, 3)),
    Row("correlate", F(6), F(3)), Row("correlate", F(6), F(3), mode="full",
                                      id="correlate_full"),
    Row("corrcoef", F(3, 6)),
    Row("trapezoid", x34), Row("trapezoid", x34, dx=0.5, axis=0, id="trapezoid_dx"),
    Row("diff", x34), Row("diff", x34, n=2, axis=0, id="diff_n2"),
    Row("slogdet", SPD(3)),
    Row("view", x34, "int32"),
    Row("size", x34, eager=True), Row("ndim", x34, eager=True),
    Row("shape", x34, eager=True),
    Row("rearrange", F(2, 3, 4), "b h w -> b (h w)"),
    Row("rearrange", F(2, 6, 4), "b (h p) w -> (b p) h w", p=2, id="rearrange_split"),
    # --- nn: activations
    *[Row(n, x34) for n in ["relu", "relu6", "sigmoid", "sparse_sigmoid", "softplus",
                            "softsign", "sparse_plus", "silu", "swish", "log_sigmoid",
                            "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "selu",
                            "tanh_shrink", "squareplus", "leaky_relu", "elu", "celu",
                            "gelu", "soft_shrink", "hard_shrink", "softmax", "log_softmax",
                            "glu"]],
    Row("gelu", x34, approximate=False, id="gelu_exact"),
    Row("leaky_relu", x34, negative_slope=0.1, id="leaky_relu_slope"),
    Row("elu", x34, alpha=0.5, id="elu_alpha"), Row("celu", x34, alpha=2.0, id="celu_alpha"),
    Row("squareplus", x34, b=2, id="squareplus_b"),
    Row("threshold", x34, 0.1, -5.0),
    Row("softmax", F(2, 3, 4), axis=1, id="softmax_axis1"),
    Row("softmax", F(2, 3, 4), axis=(1, 2), id="softmax_axes"),
    Row("log_softmax", F(2, 3, 4), axis=(0, 2), id="log_softmax_axes"),
    # Keras's sparsemax threshold is right only when one logit is in the support (see
    # test_sparsemax_is_a_projection_onto_the_simplex); compare on such inputs.
    Row("sparsemax", np.array([[3.0, 0.1, -1.0], [0.2, 2.5, 0.3]], "float32")),
    Row("sparsemax", np.array([[3.0, 0.1], [0.2, 2.5]], "float32"), axis=0,
        id="sparsemax_axis0"),
    Row("relu", I(5, low=-3, high=3), id="relu_int"),
    Row("hard_shrink", I(5, low=-3, high=3), id="hard_shrink_int"),
    Row("threshold", I(5, low=-3, high=3), 0, 0.5, id="threshold_int"),
    Row("polar", P(4), F(4)),
    # --- nn: conv and pooling
    Row("conv", F(2, 8, 3), F(3, 3, 4)),
    Row("conv", F(2, 7, 7, 3), F(3, 3, 3, 4), strides=2, padding="same", id="conv2d_same"),
    Row("conv", F(2, 3, 7, 7), F(3, 3, 3, 4), data_format="channels_first",
        dilation_rate=2, id="conv2d_cf_dilated"),
    Row("conv", F(2, 5, 5, 4), F(3, 3, 2, 6), id="conv2d_groups"),
    Row("conv", F(1, 5, 5, 5, 2), F(2, 2, 2, 2, 3), padding="same", id="conv3d"),
    Row("depthwise_conv", F(2, 7, 7, 3), F(3, 3, 3, 2)),
    Row("depthwise_conv", F(2, 9, 3), F(3, 3, 1), strides=2, padding="same",
        id="depthwise_conv1d"),
    Row("separable_conv", F(2, 7, 7, 3), F(3, 3, 3, 2), F(1, 1, 6, 4)),
    Row("conv_transpose", F(2, 5, 5, 3), F(3, 3, 4, 3)),
    Row("conv_transpose", F(2, 5, 5, 3), F(3, 3, 4, 3), strides=2, padding="same",
        id="conv_transpose_same_s2"),
    Row("conv_transpose", F(2, 5, 3), F(4, 2, 3), strides=2, padding="same",
        id="conv_transpose_1d_k4"),
    Row("conv_transpose", F(2, 5, 3), F(3, 2, 3), strides=3, padding="valid",
        id="conv_transpose_valid_s3"),
    Row("conv_transpose", F(2, 5, 5, 3), F(3, 3, 4, 3), strides=2, padding="same",
        output_padding=1, id="conv_transpose_outpad"),
    Row("conv_transpose", F(2, 5, 5, 3), F(3, 3, 4, 3), strides=2, padding="valid",
        output_padding=1, id="conv_transpose_valid_outpad"),
    Row("conv_transpose", F(2, 3, 5, 5), F(3, 3, 4, 3), strides=1, dilation_rate=2,
        data_format="channels_first", id="conv_transpose_cf_dilated"),
    Row("max_pool", F(2, 6, 6, 3), 2, strides=2), Row("max_pool", F(2, 7, 7, 3), 3, strides=2,
                                           padding="same", id="max_pool_same"),
    Row("max_pool", F(2, 9, 3), 2, strides=1, id="max_pool_1d"),
    Row("average_pool", F(2, 6, 6, 3), 2, strides=2),
    Row("average_pool", F(2, 7, 7, 3), 3, strides=2, padding="same", id="average_pool_same"),
    Row("average_pool", F(2, 3, 6, 6), (2, 3), strides=(2, 3), data_format="channels_first",
        id="average_pool_cf"),
    Row("adaptive_average_pool", F(2, 7, 5, 3), (3, 2)),
    Row("adaptive_max_pool", F(2, 7, 5, 3), (3, 2)),
    Row("adaptive_average_pool", F(2, 3, 10), 4, data_format="channels_first",
        id="adaptive_average_pool_1d_cf"),
    Row("adaptive_max_pool", F(1, 5, 4, 6, 2), 2, id="adaptive_max_pool_3d"),
    Row("unfold", F(2, 3, 6, 6), 3), Row("unfold", F(1, 2, 7, 6), (2, 3), dilation=1,
                                         padding=1, stride=2, id="unfold_args"),
    Row("fold", F(2, 27, 16), (6, 6), 3),
    Row("fold", F(1, 12, 12), (7, 6), (2, 3), padding=1, stride=2, id="fold_args"),
    Row("depth_to_space", F(2, 3, 3, 8), 2),
    Row("depth_to_space", F(2, 8, 3, 3), 2, data_format="channels_first",
        id="depth_to_space_cf"),
    Row("space_to_depth", F(2, 4, 6, 3), 2),
    Row("space_to_depth", F(2, 3, 4, 6), 2, data_format="channels_first",
        id="space_to_depth_cf"),
    # --- nn: encodings, losses, normalization
    Row("one_hot", I(4), 5), Row("one_hot", np.array([0, -1, 2]), 3, axis=0, dtype="int32",
                                 id="one_hot_axis"),
    Row("multi_hot", I(3, 2), 5), Row("multi_hot", I(4), 5, id="multi_hot_1d"),
    Row("binary_crossentropy", B(3, 4).astype("float32"), U(3, 4) * 0.5 + 0.5),
    Row("binary_crossentropy", B(3, 4).astype("float32"), F(3, 4), from_logits=True,
        id="binary_crossentropy_logits"),
    Row("categorical_crossentropy", np.eye(4, dtype="float32")[I(3, high=4)], PROB(3, 4)),
    Row("categorical_crossentropy", np.eye(4, dtype="float32")[I(3, high=4)], F(3, 4),
        from_logits=True, id="categorical_crossentropy_logits"),
    Row("sparse_categorical_crossentropy", I(3, high=4), PROB(3, 4)),
    Row("sparse_categorical_crossentropy", I(3, 1, high=4), F(3, 4), from_logits=True,
        id="sparse_categorical_crossentropy_logits"),
    Row("sparse_categorical_crossentropy", I(3, high=4), PROB(3, 4).astype("float16"),
        id="sparse_categorical_crossentropy_f16"),
    Row("categorical_crossentropy", np.eye(4, dtype="float16")[I(3, high=4)],
        PROB(3, 4).astype("float16"), id="categorical_crossentropy_f16"),
    Row("moments", F(4, 5), axes=0), Row("moments", F(2, 3, 4), axes=(0, 1), keepdims=True,
                                         id="moments_keepdims"),
    Row("moments", F(4, 5, dtype="float16"), axes=1, id="moments_f16"),
    Row("batch_normalization", F(4, 3), F(3), P(3), axis=1, offset=F(3), scale=P(3)),
    Row("batch_normalization", F(2, 3, 5), F(3), P(3), axis=1, id="batch_normalization_mid"),
    Row("layer_normalization", F(4, 5)),
    Row("layer_normalization", F(4, 5), gamma=P(5), beta=F(5), epsilon=1e-3,
        id="layer_normalization_params"),
    Row("layer_normalization", F(2, 3, 4), gamma=P(3, 4), axis=(1, 2),
        id="layer_normalization_axes"),
    Row("rms_normalization", F(4, 5)),
    Row("rms_normalization", F(4, 5), scale=P(5), epsilon=1e-3, id="rms_normalization_scale"),
    Row("normalize", F(4, 5)), Row("normalize", F(4, 5), axis=0, order=1, id="normalize_l1"),
    Row("psnr", P(2, 4, 4, 3), P(2, 4, 4, 3), 2.0),
    Row("dot_product_attention", F(2, 5, 4, 8), F(2, 6, 4, 8), F(2, 6, 4, 8), atol=1e-4),
    Row("dot_product_attention", F(2, 5, 4, 8), F(2, 5, 2, 8), F(2, 5, 2, 8),
        is_causal=True, scale=0.3, atol=1e-4, id="dot_product_attention_gqa_causal"),
    Row("dot_product_attention", F(2, 5, 2, 8), F(2, 6, 2, 8), F(2, 6, 2, 8),
        bias=F(1, 2, 5, 6), mask=B(2, 1, 5, 6), atol=1e-4, id="dot_product_attention_mask"),
    Row("ctc_loss", I(2, 3, low=1, high=5), F(2, 8, 5), np.array([3, 2]), np.array([8, 6]),
        atol=1e-4),
    Row("ctc_decode", F(2, 8, 5), np.array([8, 6])),
    Row("ctc_decode", F(2, 8, 5), np.array([8, 6]), merge_repeated=False, mask_index=4,
        id="ctc_decode_no_merge"),
    Row("ctc_decode", F(3, 5, 4) * 2, np.array([5, 3, 1]), strategy="beam_search",
        beam_width=4, top_paths=2, atol=1e-5, id="ctc_decode_beam_search"),
    # --- math
    Row("segment_sum", F(6, 2), np.array([0, 0, 1, 2, 2, 2]), num_segments=3),
    Row("segment_max", F(6, 2), np.array([0, 0, 1, 2, 2, 2]), num_segments=4),
    Row("segment_min", F(6), np.array([1, 0, 1, 0, 2, 2]), num_segments=3),
    Row("segment_prod", F(6), np.array([0, 0, 1, 1, 2, 2]), num_segments=3, sorted=True),
    Row("top_k", F(3, 6), 2), Row("in_top_k", np.array([1, 0, 3]), F(3, 5), 2),
    Row("cdist", F(2, 4, 3), F(2, 5, 3)),
    Row("extract_sequences", F(2, 10), 4, 3),
    Row("fft", (F(3, 8), F(3, 8)), atol=1e-4), Row("fft2", (F(2, 4, 4), F(2, 4, 4)), atol=1e-4),
    Row("ifft2", (F(2, 4, 4), F(2, 4, 4)), atol=1e-4),
    Row("rfft", F(3, 8), atol=1e-4), Row("rfft", F(3, 8), fft_length=6, atol=1e-4,
                                         id="rfft_len"),
    Row("irfft", (F(3, 5), F(3, 5)), atol=1e-4),
    Row("irfft", (F(3, 5), F(3, 5)), fft_length=6, atol=1e-4, id="irfft_len"),
    Row("stft", F(2, 32), 8, 4, 8, atol=1e-4),
    Row("stft", F(32), 6, 3, 8, window="hamming", center=False, atol=1e-4, id="stft_hamming"),
    Row("stft", F(32), 8, 4, 8, window=None, atol=1e-4, id="stft_nowindow"),
    Row("istft", (F(2, 9, 5), F(2, 9, 5)), 8, 4, 8, atol=1e-4),
    Row("istft", (F(9, 5), F(9, 5)), 6, 3, 8, window="hamming", center=False, length=20,
        atol=1e-4, id="istft_hamming"),
    Row("istft", (F(9, 5), F(9, 5)), 8, 4, 8, window=None, atol=1e-4, id="istft_nowindow"),
    Row("rsqrt", P(3, 4)), Row("erf", x34), Row("erfc", x34), Row("erfinv", U(3, 4)),
    Row("logdet", SPD(3, (2,))),
    Row("view_as_complex", F(3, 2)), Row("view_as_real", F(3, 2)),
    # --- linalg
    Row("cholesky", SPD(3)), Row("cholesky", SPD(3, (2,)), upper=True, id="cholesky_upper"),
    Row("cholesky_inverse", np.linalg.cholesky(SPD(3)).astype("float32"), atol=1e-4),
    Row("cholesky_inverse", np.linalg.cholesky(SPD(3)).T.astype("float32"), upper=True,
        atol=1e-4, id="cholesky_inverse_upper"),
    Row("det", SPD(3, (2,)), rtol=1e-4), Row("inv", SPD(3), atol=1e-4),
    Row("eigh", SPD(3), atol=1e-4), Row("eig", SPD(3), atol=1e-4),
    Row("lu_factor", SPD(3, (2,)), atol=1e-4),
    Row("norm", x34), Row("norm", x34, ord=1, axis=1, id="norm_l1"),
    Row("norm", x34, ord="fro", axis=(0, 1), keepdims=True, id="norm_fro"),
    Row("norm", x34, ord=np.inf, id="norm_inf"),
    Row("qr", F(4, 3), check_values=False), Row("solve", SPD(3), F(3, 2), atol=1e-4),
    Row("solve_triangular", np.tril(SPD(3)), F(3, 2), lower=True, atol=1e-4),
    Row("svd", F(4, 3), compute_uv=False, atol=1e-4, id="svd_values"),
    Row("lstsq", F(5, 3), F(5, 2), atol=1e-4),
    Row("matrix_rank", F(4, 3)), Row("pinv", F(4, 3), atol=1e-4),
    Row("jvp", lambda v: v * v, (x4,), (y4,)),
    # --- image
    Row("image.rgb_to_grayscale", img), Row("image.rgb_to_hsv", img / 2.0),
    Row("image.hsv_to_rgb", img / 2.0),
    Row("image.rgb_to_grayscale", np.moveaxis(img, -1, 1), data_format="channels_first",
        id="rgb_to_grayscale_cf"),
    Row("image.resize", img, (4, 5), atol=1e-4),
    Row("image.resize", img, (9, 8), interpolation="nearest", id="resize_nearest"),
    Row("image.resize", img, (3, 3), interpolation="bicubic", antialias=True, atol=1e-4,
        id="resize_bicubic_aa"),
    Row("image.resize", P(6, 8, 3), (4, 4), crop_to_aspect_ratio=True, atol=1e-4,
        id="resize_crop"),
    Row("image.resize", P(6, 8, 3), (4, 4), pad_to_aspect_ratio=True, fill_value=1.0,
        atol=1e-4, id="resize_pad"),
    # Keras's JAX backend needs one transform per image and ignores the projective terms.
    Row("image.affine_transform", img, np.array([[1.0, 0.2, 0.5, 0.1, 0.9, -0.3, 0, 0]] * 2,
                                                "float32"), atol=1e-4),
    Row("image.affine_transform", img, F(2, 8) * 0.1 * np.array([1, 1, 1, 1, 1, 1, 0, 0])
        + np.array([1, 0, 0, 0, 1, 0, 0, 0], "float32"),
        interpolation="nearest", fill_mode="reflect", atol=1e-4, id="affine_batch_nearest"),
    Row("image.perspective_transform", img,
        np.array([[[0, 0], [5, 0], [0, 5], [5, 5]]] * 2, "float32"),
        np.array([[[0.5, 0], [5, 0.3], [0, 4.5], [4.8, 5]]] * 2, "float32"), atol=1e-3),
    Row("image.map_coordinates", F(5, 6), F(2, 3, 3, low=0, high=5), 1),
    Row("image.map_coordinates", F(5, 6), F(2, 4, low=-1, high=6), 0, fill_mode="wrap",
        id="map_coordinates_wrap"),
    # Keras's eager gaussian_blur reads data_format=None as channels_first: pass it.
    Row("image.gaussian_blur", img, data_format="channels_last", atol=1e-4),
    Row("image.gaussian_blur", np.moveaxis(img, -1, 1), data_format="channels_first",
        atol=1e-4, id="gaussian_blur_cf"),
    Row("image.gaussian_blur", img, kernel_size=(5, 5), sigma=(2.0, 2.0),
        data_format="channels_last", atol=1e-4,
        id="gaussian_blur_5"),
    Row("image.sobel_edges", img, atol=1e-4),
    Row("image.ssim", img, img * 0.9 + 0.05, filter_size=3, atol=1e-4),
    Row("image.pad_images", img, 1, 2, target_height=9, target_width=10),
    Row("image.crop_images", img, 1, 2, target_height=3, target_width=3),
    Row("image.crop_images", img, top_cropping=1, bottom_cropping=2, left_cropping=0,
        right_cropping=1, id="crop_images_sides"),
    Row("image.extract_patches", img, 2),
    Row("image.extract_patches", img, (3, 2), strides=(1, 2), padding="same",
        id="extract_patches_same"),
    Row("image.extract_patches_3d", F(1, 4, 4, 4, 2), 2),
    Row("image.scale_and_translate", img, (2, 9, 9, 3), np.array([1.5, 1.5], "float32"),
        np.array([0.0, 0.0], "float32"), (1, 2), "bilinear", atol=1e-4),
]


_CHUNK = 40
_row_results = {}


def _row_result(index):
    """The `(ours, theirs)` outputs of `ROWS[index]` if it ran compiled, else None."""
    if index not in _row_results:
        start = index - index % _CHUNK
        chunk = [i for i in range(start, min(start + _CHUNK, len(ROWS))) if not ROWS[i].eager]
        for i in range(start, min(start + _CHUNK, len(ROWS))):
            _row_results[i] = None
        try:
            outputs = run_cases([Case(ROWS[i].name, ROWS[i].args, ROWS[i].kwargs)
                                 for i in chunk])
        except Exception:  # leave the whole chunk to eager calls
            outputs = [None] * len(chunk)
        _row_results.update(zip(chunk, outputs))
    return _row_results[index]


@pytest.mark.parametrize("index", range(len(ROWS)), ids=[r.id for r in ROWS])
def test_op_matches_keras(index):
    row = ROWS[index]
    result = _row_result(index)
    if result is None:
        result = (_get(ops, row.name)(*row.args, **row.kwargs),
                  _get(kops, row.name)(*row.args, **row.kwargs))
    compare(row.id, result[0], result[1], row.atol, row.rtol, row.check_values)


@pytest.mark.parametrize("row", [r for r in ROWS[:60] if not r.eager][::4],
                         ids=lambda r: r.id)
def test_eager_calls_match_keras(row):
    """A sample of rows called eagerly (the table above runs compiled)."""
    compare(row.id, _get(ops, row.name)(*row.args, **row.kwargs),
            _get(kops, row.name)(*row.args, **row.kwargs), row.atol, row.rtol,
            row.check_values)


# ---------------------------------------------------------------------------- dtype sweeps
DTYPES = ["bool", "uint8", "int8", "int16", "int32", "float16", "bfloat16", "float32"]
_COND = np.array([[True, False, True], [False, True, False]])


def _sample(dtype, shape=(2, 3), positive=False):
    if dtype == "pyint":
        return 2
    if dtype == "pyfloat":
        return 1.5
    if dtype == "bool":
        return np.array([[True, False, True], [False, True, True]])
    if "int" in dtype:
        return _rng.integers(1 if positive else 0, 5, size=shape).astype(dtype)
    data = _rng.uniform(0.5, 2.0, size=shape) if positive else _rng.uniform(-0.9, 0.9, shape)
    return jnp.asarray(data, dtype=dtype)


def _t(x):
    return x.T if hasattr(x, "T") else x


# name -> (op, how the arguments are built from the sampled operands)
# One op per code path (ops that share one, like sin/cos/tanh, are covered by one of them).
UNARY_SWEEP = {n: (n, lambda x: (x,)) for n in [
    "abs", "negative", "square", "sqrt", "exp", "log", "sin", "floor", "round", "trunc", "sign",
    "reciprocal", "relu", "relu6", "sigmoid", "gelu", "softmax", "log_softmax", "erf", "rsqrt",
    "logical_not", "isnan", "i0", "bitwise_invert", "angle", "sum", "prod", "mean", "var",
    "std", "max", "argmax", "median", "cumsum", "cumprod", "logsumexp", "count_nonzero", "all",
    "nanmean", "ones_like", "sort", "argsort", "norm", "average", "leaky_relu"]}
UNARY_SWEEP["clip"] = ("clip", lambda x: (x, 0, 1))
UNARY_SWEEP["quantile_half"] = ("quantile", lambda x: (x, 0.5))
UNARY_SWEEP["full_like"] = ("full_like", lambda x: (x, 3))
UNARY_SWEEP["arange_like"] = ("arange", lambda x: (x.dtype.type(3) if hasattr(x, "dtype")
                                                   else 3,))
BINARY_SWEEP = {n: (n, lambda a, b: (a, b)) for n in [
    "add", "subtract", "multiply", "divide", "floor_divide", "power", "maximum", "minimum",
    "mod", "arctan2", "hypot", "logaddexp", "equal", "greater", "logical_and", "bitwise_and",
    "divide_no_nan", "heaviside", "fmax", "nextafter"]}
BINARY_SWEEP.update({
    "matmul": ("matmul", lambda a, b: (a, _t(b))),
    "dot": ("dot", lambda a, b: (a, _t(b))),
    "where": ("where", lambda a, b: (_COND, a, b)),
    "concatenate": ("concatenate", lambda a, b: ([a, b],)),
    "stack": ("stack", lambda a, b: ([a, b],)),
    "append": ("append", lambda a, b: (a, b)),
})
PAIRS = [("int8", "int16"), ("uint8", "int8"), ("int8", "float16"), ("float16", "bfloat16"),
         ("int32", "float32"), ("bool", "int8"), ("bool", "bool"), ("uint8", "uint8"),
         ("bfloat16", "bfloat16"), ("int32", "pyint"), ("int8", "pyfloat"),
         ("float16", "pyfloat"), ("bool", "pyint"), ("uint8", "pyint"), ("pyint", "int16")]
# Keras's JAX backend subtracts the maximum in an unsigned dtype and returns NaN/-inf.
_KERAS_WRONG = {("softmax", ("uint8",)), ("log_softmax", ("uint8",))}


_SWEEP_GROUP = 12
_sweep_results = {}


def _sweep_cases(table, key, dtype_sets):
    """`(label, case)` for the dtype combinations of `key` that Keras accepts."""
    op, build = table[key]
    positive = key in ("sqrt", "log", "rsqrt", "log1p", "reciprocal", "power", "floor_divide",
                       "mod", "divide")
    out = []
    for dts in dtype_sets:
        if (key, dts) in _KERAS_WRONG:
            continue
        case = Case(op, build(*[_sample(dt, positive=positive) for dt in dts]), {})
        if case.traceable(kops):  # else Keras rejects these dtypes: nothing to compare
            out.append((f"{key}({', '.join(dts)})", case))
    return out


def _sweep_result(table, dtype_sets, key):
    """`[(label, case, outputs or None)]` for `key`; keys are compiled in groups."""
    if (id(table), key) not in _sweep_results:
        keys = sorted(table)
        start = keys.index(key) - keys.index(key) % _SWEEP_GROUP
        group = keys[start:start + _SWEEP_GROUP]
        labelled = {k: _sweep_cases(table, k, dtype_sets) for k in group}
        flat = [(k, label, case) for k in group for label, case in labelled[k]]
        outputs = run_cases([case for _, _, case in flat])
        for k in group:
            _sweep_results[(id(table), k)] = []
        for (k, label, case), out in zip(flat, outputs):
            _sweep_results[(id(table), k)].append((label, case, out))
    return _sweep_results[(id(table), key)]


def _check_sweep(table, dtype_sets, key):
    results = _sweep_result(table, dtype_sets, key)
    assert results, f"Keras accepted none of the dtypes for {key}"
    problems = []
    for label, case, out in results:
        if out is None:  # kerasx failed to trace a call that Keras accepts
            try:
                out = case.pair(case.arrays)
            except Exception as e:  # noqa: BLE001
                problems.append(f"{label}: kerasx raised {type(e).__name__}: {e}")
                continue
        try:
            compare(label, out[0], out[1], atol=1e-5, rtol=1e-5)
        except AssertionError as e:
            problems.append(next(line for line in str(e).splitlines() if line.strip()))
    assert not problems, "\n".join(problems)


_cast_warning = pytest.mark.filterwarnings("ignore:invalid value encountered in cast")


@_cast_warning
@pytest.mark.parametrize("key", sorted(UNARY_SWEEP))
def test_unary_dtype_rules_match_keras(key):
    _check_sweep(UNARY_SWEEP, [(dt,) for dt in DTYPES], key)


@_cast_warning
@pytest.mark.parametrize("key", sorted(BINARY_SWEEP))
def test_binary_dtype_rules_match_keras(key):
    _check_sweep(BINARY_SWEEP, PAIRS, key)


def test_ops_namespace_matches_keras():
    public = lambda m: sorted(n for n in dir(m) if not n.startswith("_"))  # noqa: E731
    assert public(ops) == public(kops)
    for sub in ("numpy", "nn", "linalg", "image"):
        assert public(getattr(ops, sub)) == public(getattr(kops, sub)), sub
    tested = {r.name.split(".")[-1] for r in ROWS} | {op for op, _ in UNARY_SWEEP.values()} \
        | {op for op, _ in BINARY_SWEEP.values()}
    untested = [n for n in public(kops) if not isinstance(getattr(kops, n), types.ModuleType)
                and n not in tested]
    # Ops with no deterministic Keras counterpart on equal inputs are tested elsewhere.
    assert sorted(untested) == ["convert_to_numpy", "custom_gradient", "dtype", "is_tensor",
                                "vectorize"], untested


def test_signatures_match_keras():
    import inspect
    for name in [n for n in dir(kops) if not n.startswith("_")]:
        theirs = getattr(kops, name)
        if isinstance(theirs, types.ModuleType):
            continue
        ours = getattr(ops, name)
        assert inspect.signature(ours) == inspect.signature(theirs), name
    for name in [n for n in dir(kops.image) if not n.startswith("_")]:
        assert inspect.signature(getattr(ops.image, name)) == inspect.signature(
            getattr(kops.image, name)), name


# ---------------------------------------------------------------------------- the rest
def test_tensor_helpers_match_keras():
    x = np.arange(6, dtype="float32").reshape(2, 3)
    ours, theirs = ops.convert_to_numpy(ops.add(x, 1)), kops.convert_to_numpy(kops.add(x, 1))
    assert isinstance(ours, np.ndarray) and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)
    for value in [x, jnp.ones(2, "bfloat16"), jnp.ones(2, "int8"), True]:
        assert ops.dtype(jnp.asarray(value)) == kops.dtype(jnp.asarray(value))
        assert ops.is_tensor(value) == kops.is_tensor(value)
    assert ops.is_tensor(jnp.asarray(x)) and not ops.is_tensor(x)


def test_custom_gradient_matches_keras():
    def make(o):
        @o.custom_gradient
        def log1pexp(x):
            e = o.exp(x)

            def grad(*args, upstream=None):
                if upstream is None:
                    (upstream,) = args
                return o.multiply(upstream, 1.0 - 1.0 / o.add(1, e))

            return o.log(1 + e), grad

        return log1pexp

    x = np.array([0.0, 1.0, 100.0], "float32")
    ours = jax.grad(lambda v: make(ops)(v).sum())(x)
    theirs = jax.grad(lambda v: make(kops)(v).sum())(x)
    np.testing.assert_allclose(ours, theirs)
    np.testing.assert_allclose(ours, [0.5, 1 / (1 + np.exp(-1.0)), 1.0], rtol=1e-6)


def test_vectorize_matches_keras():
    def f(a, b):
        return a @ b

    a, b = F(4, 2, 3), F(4, 3, 5)
    ours = ops.vectorize(f, signature="(n,k),(k,m)->(n,m)")(a, b)
    theirs = kops.vectorize(f, signature="(n,k),(k,m)->(n,m)")(a, b)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def test_sparsemax_is_a_projection_onto_the_simplex():
    """Keras's JAX sparsemax sums the cumulative sums of the support instead of taking the
    last one, so it is right only for a support of one; kerasx follows the definition
    (Martins & Astudillo, 2016)."""
    z = np.array([[0.5, 1.0, 0.2, -1.0], [1.0, 1.1, 0.9, 0.3]], "float32")
    p = np.asarray(ops.sparsemax(z))
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p[0], [0.25, 0.75, 0.0, 0.0], atol=1e-6)
    # the projection: p = max(z - tau, 0), with tau chosen so that p sums to 1
    for row_z, row_p in zip(z, p):
        support = row_p > 0
        tau = (row_z[support].sum() - 1) / support.sum()
        np.testing.assert_allclose(row_p, np.maximum(row_z - tau, 0), atol=1e-6)
        assert np.all(row_z[~support] <= tau + 1e-6)


def test_ops_accept_kerasx_variables():
    """Variables (weight handles) are read through `__jax_array__` by every op."""
    from kerasx import layers

    dense = layers.Dense(3)
    dense(np.ones((2, 4), "float32"))
    kernel = dense.kernel
    value = np.asarray(kernel.value)
    np.testing.assert_allclose(ops.matmul(np.ones((2, 4), "float32"), kernel),
                               np.ones((2, 4)) @ value, rtol=1e-6)
    np.testing.assert_allclose(ops.add(kernel, 1.0), value + 1.0)
    np.testing.assert_allclose(ops.sum(kernel, axis=0), value.sum(0), rtol=1e-6)
    np.testing.assert_allclose(ops.concatenate([kernel, kernel]), np.concatenate([value] * 2))
    np.testing.assert_allclose(ops.convert_to_tensor(kernel), value)
    np.testing.assert_allclose(ops.stop_gradient(kernel), value)
    np.testing.assert_allclose(ops.nn.relu(kernel), np.maximum(value, 0))
    np.testing.assert_allclose(ops.linalg.norm(kernel), np.linalg.norm(value), rtol=1e-6)
    np.testing.assert_allclose(ops.image.resize(ops.reshape(kernel, (1, 4, 3, 1)), (2, 2)),
                               kops.image.resize(value.reshape(1, 4, 3, 1), (2, 2)), rtol=1e-6)
    assert ops.shape(kernel) == (4, 3) and ops.dtype(kernel) == "float32"
    out, _ = ops.scan(lambda c, x: (c + x, x), ops.zeros(3), kernel)
    np.testing.assert_allclose(out, value.sum(0), rtol=1e-6)


def test_ops_inside_a_subclassed_layer_under_jit():
    from kerasx import layers

    class Gated(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], 2), initializer="ones", name="w")

        def call(self, x):
            h = ops.matmul(x, self.w)
            return ops.nn.sigmoid(h) * ops.tanh(h) + ops.mean(self.w)

    layer = Gated()
    x = F(3, 4)
    params, state = layer.init(jax.random.key(0), x)
    y, _ = jax.jit(layer.apply)(params, state, x)
    h = x @ np.ones((4, 2))
    np.testing.assert_allclose(y, 1 / (1 + np.exp(-h)) * np.tanh(h) + 1.0, rtol=1e-5)


def test_rearrange_with_an_ellipsis():
    x = F(2, 3, 4, 5)
    np.testing.assert_array_equal(ops.rearrange(x, "b ... c -> c b ..."),
                                  np.moveaxis(x, -1, 0))
    np.testing.assert_array_equal(ops.rearrange(x, "b h w c -> b (h w c)"), x.reshape(2, -1))


def test_where_keras_jax_fails_kerasx_follows_the_documented_behaviour():
    """Calls that Keras's JAX backend gets wrong, checked against the Keras call that works."""
    t = np.array([1.0, 0.1, 0.5, 0.0, 1.0, -0.5, 0.0, 0.0], "float32")

    def program(x, u):
        return [
            (ops.max_pool(x, 2), kops.max_pool(x, 2, strides=2)),
            (ops.average_pool(x, 3, padding="same"),
             kops.average_pool(x, 3, strides=3, padding="same")),
            (ops.image.gaussian_blur(x),
             kops.image.gaussian_blur(x, data_format="channels_last")),
            (ops.image.affine_transform(x, t), kops.image.affine_transform(x, np.stack([t, t]))),
            (ops.softmax(u), kops.softmax(u.astype("float32"))),
        ]

    args = (F(2, 6, 6, 3), np.array([[0, 3, 1], [2, 0, 0]], "uint8"))
    compiled = quick_compile(jax.jit(program).lower(*args))
    for i, (ours, theirs) in enumerate(compiled(*args)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5, err_msg=str(i))
