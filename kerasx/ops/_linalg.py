"""Linear-algebra ops (`keras.ops.linalg`), mapped onto `jax.numpy.linalg` / `jax.scipy.linalg`.

All accept batches of matrices (leading axes). Integer inputs are promoted to floatx.
"""

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl

from ._core import _check_axis
from ._core import _tensor
from ._core import _to_float
from ._core import keras_op


def _matrix(opname, x, arg="x", square=False):
    x = _to_float(_tensor(x))
    if x.ndim < 2:
        raise ValueError(f"{opname}: `{arg}` must have rank >= 2 (a matrix or a batch of "
                         f"matrices). Received: {arg}.shape={x.shape}")
    if square and x.shape[-1] != x.shape[-2]:
        raise ValueError(f"{opname}: `{arg}` must be square in its last two axes. "
                         f"Received: {arg}.shape={x.shape}")
    return x


def _check_rhs(opname, a, b):
    if b.ndim < 1:
        raise ValueError(f"{opname}: `b` must have rank >= 1. Received: b.shape={b.shape}")
    rows = b.shape[-2] if b.ndim == a.ndim else b.shape[-1]
    if rows != a.shape[-1] or b.ndim not in (a.ndim, a.ndim - 1):
        raise ValueError(f"{opname}: `b` must have `a.shape[-1]` rows (and rank a.ndim or "
                         f"a.ndim - 1). Received: a.shape={a.shape}, b.shape={b.shape}")


@keras_op
def cholesky(x, upper=False):
    """The Cholesky factor of positive-definite `x` (lower, or upper if `upper`).

    Eagerly, a matrix that is not positive definite raises a ValueError.
    """
    x = _matrix("ops.cholesky", x, square=True)
    out = jnp.linalg.cholesky(x, upper=upper)
    if not isinstance(out, jax.core.Tracer) and bool(jnp.any(jnp.isnan(out))):
        raise ValueError("ops.cholesky: the decomposition failed; `x` is probably not "
                         "positive definite.")
    return out


@keras_op
def cholesky_inverse(x, upper=False):
    """The inverse of `A` from its Cholesky factor `x` (`A = x x^T`, or `x^T x` if `upper`)."""
    x = _matrix("ops.cholesky_inverse", x, square=True)
    eye = jnp.broadcast_to(jnp.eye(x.shape[-1], dtype=x.dtype), x.shape)
    inv_factor = jsl.solve_triangular(x, eye, lower=not upper)
    t = jnp.swapaxes(inv_factor, -1, -2)
    return inv_factor @ t if upper else t @ inv_factor


@keras_op
def det(x):
    """Determinant of square `x`."""
    return jnp.linalg.det(_matrix("ops.det", x, square=True))


@keras_op
def eig(x):
    """Eigenvalues and eigenvectors of a general square `x` (complex; CPU only in JAX)."""
    return jnp.linalg.eig(_matrix("ops.eig", x, square=True))


@keras_op
def eigh(x):
    """Eigenvalues (ascending) and eigenvectors of a symmetric/Hermitian `x`."""
    return jnp.linalg.eigh(_matrix("ops.eigh", x, square=True))


@keras_op
def inv(x):
    """Inverse of square `x`."""
    return jnp.linalg.inv(_matrix("ops.inv", x, square=True))


@keras_op
def lu_factor(x):
    """LU factorization with partial pivoting: `(lu, pivots)` as in `scipy.linalg.lu_factor`."""
    x = _matrix("ops.lu_factor", x)
    fn = jsl.lu_factor
    for _ in range(x.ndim - 2):
        fn = jax.vmap(fn)
    return fn(x)


@keras_op
def norm(x, ord=None, axis=None, keepdims=False):
    """Vector or matrix norm of `x` (as `numpy.linalg.norm`).

    Args:
        ord: the norm order (None: 2-norm for vectors, Frobenius for matrices; also "fro",
            "nuc", inf, -inf, ints).
        axis: None (all of `x` as a vector, or the matrix if 2-D), an int (vector norms) or
            a pair of ints (matrix norms).
    """
    x = _to_float(_tensor(x))
    axis = _check_axis("ops.norm", tuple(axis) if isinstance(axis, list) else axis, x.ndim)
    if isinstance(axis, tuple) and len(axis) > 2:
        raise ValueError(f"ops.norm: `axis` must be an int or a pair of ints. "
                         f"Received: axis={axis}")
    return jnp.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


@keras_op
def qr(x, mode="reduced"):
    """QR decomposition `(q, r)` of `x` (`mode`: "reduced" or "complete")."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"ops.qr: `mode` must be 'reduced' or 'complete'. "
                         f"Received: mode={mode!r}")
    return jnp.linalg.qr(_matrix("ops.qr", x), mode=mode)


@keras_op
def solve(a, b):
    """The solution `x` of `a @ x = b` for square `a`."""
    a = _matrix("ops.solve", a, "a", square=True)
    b = _to_float(_tensor(b))
    _check_rhs("ops.solve", a, b)
    return jnp.linalg.solve(a, b)


@keras_op
def solve_triangular(a, b, lower=False):
    """The solution `x` of `a @ x = b` for triangular `a` (upper unless `lower`)."""
    a = _matrix("ops.solve_triangular", a, "a", square=True)
    b = _to_float(_tensor(b))
    _check_rhs("ops.solve_triangular", a, b)
    return jsl.solve_triangular(a, b, lower=lower)


@keras_op
def svd(x, full_matrices=True, compute_uv=True):
    """Singular value decomposition `(u, s, vh)` of `x` (only `s` if not `compute_uv`)."""
    return jnp.linalg.svd(_matrix("ops.svd", x), full_matrices=full_matrices,
                          compute_uv=compute_uv)


@keras_op
def lstsq(a, b, rcond=None):
    """The least-squares solution `x` of `a @ x = b`."""
    a = _matrix("ops.lstsq", a, "a")
    b = _to_float(_tensor(b))
    if b.ndim not in (1, 2) or b.shape[0] != a.shape[0] or a.ndim != 2:
        raise ValueError(f"ops.lstsq: `a` must be (M, N) and `b` (M,) or (M, K). "
                         f"Received: a.shape={a.shape}, b.shape={b.shape}")
    return jnp.linalg.lstsq(a, b, rcond=rcond)[0]


@keras_op
def matrix_rank(x, tol=None):
    """Rank of `x` (number of singular values above `tol`), as int32."""
    x = _matrix("ops.matrix_rank", x)
    return jnp.linalg.matrix_rank(x, tol=tol).astype("int32")


@keras_op
def pinv(x, rcond=None):
    """Moore-Penrose pseudo-inverse of `x`."""
    x = _matrix("ops.pinv", x)
    return jnp.linalg.pinv(x) if rcond is None else jnp.linalg.pinv(x, rtol=rcond)


@keras_op(wrap_errors=False)
def jvp(fun, primals, tangents, has_aux=False):
    """`(fun(*primals), J @ tangents)`: a forward-mode Jacobian-vector product (`jax.jvp`)."""
    return jax.jvp(fun, tuple(primals), tuple(tangents), has_aux=has_aux)
