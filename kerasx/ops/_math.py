"""Math ops (Keras's `keras.ops` math family): segment reductions, top-k, FFTs, STFT,
special functions."""

import jax
import jax.numpy as jnp
import numpy as np

from ._core import _check_axis
from ._core import _check_int
from ._core import _tensor
from ._core import _to_float
from ._core import keras_op


# ---------------------------------------------------------------------------- segment reductions
def _segment(name, impl, doc):
    opname = f"ops.{name}"

    def op(data, segment_ids, num_segments=None, sorted=False):
        data = _tensor(data)
        segment_ids = _tensor(segment_ids)
        if segment_ids.ndim != 1 or not jnp.issubdtype(segment_ids.dtype, jnp.integer):
            raise ValueError(f"{opname}: `segment_ids` must be a 1-D integer tensor. "
                             f"Received: segment_ids.shape={segment_ids.shape}, "
                             f"dtype={segment_ids.dtype}")
        if data.ndim < 1 or data.shape[0] != segment_ids.shape[0]:
            raise ValueError(f"{opname}: `segment_ids` must have one entry per row of `data`. "
                             f"Received: data.shape={data.shape}, "
                             f"segment_ids.shape={segment_ids.shape}")
        if num_segments is None:
            if isinstance(segment_ids, jax.core.Tracer):
                raise ValueError(f"{opname}: pass `num_segments` when tracing (under jit). "
                                 "Received: num_segments=None")
            num_segments = int(jnp.max(segment_ids)) + 1 if segment_ids.size else 0
        return impl(data, segment_ids, num_segments, indices_are_sorted=sorted)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return keras_op(op)


segment_sum = _segment("segment_sum", jax.ops.segment_sum,
                       "Sums of the rows of `data` per segment id (rows in no segment drop).")
segment_max = _segment("segment_max", jax.ops.segment_max, "Maxima of `data` per segment id.")
segment_min = _segment("segment_min", jax.ops.segment_min, "Minima of `data` per segment id.")
segment_prod = _segment("segment_prod", jax.ops.segment_prod,
                        "Products of `data` per segment id.")


# ---------------------------------------------------------------------------- ranking
@keras_op
def top_k(x, k, sorted=True):
    """The `k` largest values along the last axis and their indices (always sorted)."""
    x = _tensor(x)
    k = _check_int("ops.top_k", k, "k", minimum=0)
    if x.ndim == 0 or k > x.shape[-1]:
        raise ValueError(f"ops.top_k: `k` must be at most the size of the last axis of `x`. "
                         f"Received: k={k}, x.shape={x.shape}")
    return jax.lax.top_k(x, k)


@keras_op
def in_top_k(targets, predictions, k):
    """Whether each target class is among the `k` highest `predictions` of its row."""
    targets = _tensor(targets)
    predictions = _tensor(predictions)
    if predictions.ndim != targets.ndim + 1 or predictions.shape[:-1] != targets.shape:
        raise ValueError("ops.in_top_k: `predictions` must be `targets.shape + (classes,)`. "
                         f"Received: targets.shape={targets.shape}, "
                         f"predictions.shape={predictions.shape}")
    at_label = jnp.take_along_axis(predictions, targets[..., None].astype("int32"), axis=-1)
    at_label = jnp.where(jnp.isnan(at_label), -jnp.inf, at_label)
    rank = 1 + jnp.sum(predictions > at_label, axis=-1)
    return rank <= k


@keras_op
def logsumexp(x, axis=None, keepdims=False):
    """`log(sum(exp(x)))` along `axis`, computed stably."""
    x = _to_float(_tensor(x))
    axis = _check_axis("ops.logsumexp", axis, x.ndim)
    return jax.nn.logsumexp(x, axis=axis, keepdims=keepdims)


@keras_op
def cdist(x, y):
    """Euclidean distances between the rows of `x` `(..., P, M)` and `y` `(..., R, M)`."""
    x, y = _tensor(x), _tensor(y)
    if x.ndim < 2 or y.ndim < 2:
        raise ValueError(f"ops.cdist: `x` and `y` must have rank >= 2. "
                         f"Received: x.shape={x.shape}, y.shape={y.shape}")
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"ops.cdist: the last axes of `x` and `y` must match. "
                         f"Received: x.shape={x.shape}, y.shape={y.shape}")
    d = x[..., :, None, :] - y[..., None, :, :]
    return jnp.sqrt(jnp.sum(d * d, axis=-1))


@keras_op
def extract_sequences(x, sequence_length, sequence_stride):
    """Frames of `sequence_length` taken every `sequence_stride` along the last axis."""
    x = _tensor(x)
    sequence_length = _check_int("ops.extract_sequences", sequence_length, "sequence_length", 1)
    sequence_stride = _check_int("ops.extract_sequences", sequence_stride, "sequence_stride", 1)
    if x.ndim < 1 or x.shape[-1] < sequence_length:
        raise ValueError("ops.extract_sequences: the last axis of `x` must be at least "
                         f"`sequence_length`. Received: x.shape={x.shape}, "
                         f"sequence_length={sequence_length}")
    return _frames(x, sequence_length, sequence_stride)


def _frames(x, length, stride):
    count = (x.shape[-1] - length) // stride + 1
    idx = np.arange(count)[:, None] * stride + np.arange(length)[None, :]
    return x[..., idx]


# ---------------------------------------------------------------------------- FFT
def _complex_from_pair(opname, x):
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"{opname}: `x` must be a tuple (real, imag) of two tensors. "
                         f"Received: x={type(x).__name__}")
    real, imag = _tensor(x[0]), _tensor(x[1])
    if real.shape != imag.shape:
        raise ValueError(f"{opname}: the real and imaginary parts must have the same shape. "
                         f"Received: x[0].shape={real.shape}, x[1].shape={imag.shape}")
    if not (jnp.issubdtype(real.dtype, jnp.floating) and jnp.issubdtype(imag.dtype,
                                                                         jnp.floating)):
        raise ValueError(f"{opname}: the real and imaginary parts must be float tensors. "
                         f"Received: dtypes {real.dtype}, {imag.dtype}")
    return jax.lax.complex(real, imag)


def _pair(z):
    return jnp.real(z), jnp.imag(z)


@keras_op
def fft(x):
    """FFT along the last axis of `x = (real, imag)`; returns `(real, imag)`."""
    return _pair(jnp.fft.fft(_complex_from_pair("ops.fft", x)))


@keras_op
def fft2(x):
    """2-D FFT over the last two axes of `x = (real, imag)`; returns `(real, imag)`."""
    return _pair(jnp.fft.fft2(_complex_from_pair("ops.fft2", x)))


@keras_op
def ifft2(x):
    """Inverse 2-D FFT over the last two axes of `x = (real, imag)`."""
    return _pair(jnp.fft.ifft2(_complex_from_pair("ops.ifft2", x)))


@keras_op
def rfft(x, fft_length=None):
    """Real-input FFT along the last axis; returns `(real, imag)` of `fft_length // 2 + 1`."""
    return _pair(jnp.fft.rfft(_to_float(_tensor(x)), n=fft_length, axis=-1))


@keras_op
def irfft(x, fft_length=None):
    """Inverse of `rfft`: a real signal from `x = (real, imag)`."""
    return jnp.fft.irfft(_complex_from_pair("ops.irfft", x), n=fft_length, axis=-1)


def _window(opname, window, sequence_length, fft_length, dtype):
    """The analysis window zero-padded (centred) to `fft_length`."""
    if window is None:
        win = np.ones(sequence_length)
    elif isinstance(window, str):
        if window not in ("hann", "hamming"):
            raise ValueError(f"{opname}: `window` must be 'hann', 'hamming', a tensor or None. "
                             f"Received: window={window!r}")
        n = np.arange(sequence_length)
        a = 0.5 if window == "hann" else 0.54
        win = a - (1 - a) * np.cos(2 * np.pi * n / sequence_length)  # periodic window
    else:
        win = _tensor(window)
        if win.ndim != 1 or win.shape[0] != sequence_length:
            raise ValueError(f"{opname}: `window` must have shape (sequence_length,). "
                             f"Received: window.shape={win.shape}")
    left = (fft_length - sequence_length) // 2
    right = fft_length - sequence_length - left
    return jnp.pad(jnp.asarray(win, dtype), (left, right))


def _stft_args(opname, sequence_length, sequence_stride, fft_length):
    sequence_length = _check_int(opname, sequence_length, "sequence_length", 1)
    if not isinstance(sequence_stride, int) or sequence_stride <= 0:
        raise ValueError(f"{opname}: `sequence_stride` must be a positive int. "
                         f"Received: sequence_stride={sequence_stride!r}")
    fft_length = _check_int(opname, fft_length, "fft_length", 1)
    if fft_length < sequence_length:
        raise ValueError(f"{opname}: `fft_length` must be >= `sequence_length`. "
                         f"Received: sequence_length={sequence_length}, "
                         f"fft_length={fft_length}")
    return sequence_length, sequence_stride, fft_length


@keras_op
def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """Short-time Fourier transform along the last axis; returns `(real, imag)`.

    Args:
        sequence_length: the window length; sequence_stride: the hop.
        fft_length: the FFT size (>= sequence_length); the window is zero-padded to it.
        window: "hann", "hamming" (periodic), a 1-D tensor, or None (rectangular).
        center: pad the signal by `fft_length // 2` (reflect) on both sides first.
    Returns shapes `(..., frames, fft_length // 2 + 1)`.
    """
    sequence_length, sequence_stride, fft_length = _stft_args(
        "ops.stft", sequence_length, sequence_stride, fft_length)
    x = _tensor(x)
    if x.dtype not in (jnp.float32, jnp.float64):
        raise TypeError(f"ops.stft: `x` must be float32 or float64. Received: x.dtype={x.dtype}")
    if center:
        pad = [(0, 0)] * (x.ndim - 1) + [(fft_length // 2, fft_length // 2)]
        x = jnp.pad(x, pad, mode="reflect")
    win = _window("ops.stft", window, sequence_length, fft_length, x.dtype)
    frames = _frames(x, fft_length, sequence_stride) * win
    return _pair(jnp.fft.rfft(frames, n=fft_length, axis=-1))


@keras_op
def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann",
          center=True):
    """Inverse of `stft` (weighted overlap-add) from `x = (real, imag)`.

    Args:
        length: trim (or pad) the output to this many samples.
    """
    sequence_length, sequence_stride, fft_length = _stft_args(
        "ops.istft", sequence_length, sequence_stride, fft_length)
    z = _complex_from_pair("ops.istft", x)
    if z.ndim < 2:
        raise ValueError(f"ops.istft: `x` must have at least 2 dimensions (frames, bins). "
                         f"Received: x[0].shape={z.shape}")
    dtype = jnp.real(z).dtype
    win = _window("ops.istft", window, sequence_length, fft_length, dtype)
    frames = jnp.fft.irfft(z, n=fft_length, axis=-1)[..., :fft_length] * win
    count = z.shape[-2]
    total = fft_length + sequence_stride * (count - 1)
    idx = (np.arange(count)[:, None] * sequence_stride + np.arange(fft_length)[None, :])
    out = jnp.zeros(z.shape[:-2] + (total,), dtype).at[..., idx].add(frames)
    norm = jnp.zeros((total,), dtype).at[idx].add(jnp.broadcast_to(win * win, idx.shape))
    out = out / jnp.where(norm > 1e-10, norm, 1.0)
    if window is None:
        out = out * (fft_length / sequence_stride)
    start = fft_length // 2 if center else 0
    if length is not None:
        end = start + length
        if end > total:
            out = jnp.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, end - total)])
    elif center:
        end = total - fft_length // 2
    else:
        end = total
    return out[..., start:end]


# ---------------------------------------------------------------------------- special functions
@keras_op
def rsqrt(x):
    """`1 / sqrt(x)`, elementwise."""
    return jax.lax.rsqrt(_to_float(_tensor(x)))


@keras_op
def erf(x):
    """The error function, elementwise."""
    return jax.lax.erf(_to_float(_tensor(x)))


@keras_op
def erfc(x):
    """The complementary error function `1 - erf(x)`, elementwise."""
    return jax.scipy.special.erfc(_to_float(_tensor(x)))


@keras_op
def erfinv(x):
    """The inverse error function, elementwise."""
    return jax.scipy.special.erfinv(_to_float(_tensor(x)))


@keras_op
def logdet(x):
    """`log(det(x))` of square matrices (batched), via `slogdet`."""
    x = _tensor(x)
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"ops.logdet: `x` must be a (batch of) square matrix. "
                         f"Received: x.shape={x.shape}")
    return jnp.linalg.slogdet(x)[1]


@keras_op
def view_as_complex(x):
    """A complex64 tensor from a real `x` whose last axis (size 2) is (real, imag)."""
    x = _tensor(x)
    if x.ndim < 1 or x.shape[-1] != 2:
        raise ValueError(f"ops.view_as_complex: the last axis of `x` must have size 2 "
                         f"(real, imag). Received: x.shape={x.shape}")
    return jax.lax.complex(x[..., 0].astype("float32"), x[..., 1].astype("float32"))


@keras_op
def view_as_real(x):
    """A real tensor with a last axis (real, imag) from a complex `x`."""
    x = _tensor(x)
    return jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)

