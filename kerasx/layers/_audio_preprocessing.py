"""Audio preprocessing layers: MelSpectrogram and STFTSpectrogram (Keras 3's `keras.layers`)."""

import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ..ops import _math as math_ops
from ._base import Layer
from ._convolutional import _standardize_data_format

_EPSILON = 1e-7  # Keras's backend.epsilon()
_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def _int_at_least(layer: str, arg: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"Layer {layer} expects `{arg}` to be an integer of at least {minimum}. "
                         f"Received: {arg}={value!r}")
    return int(value)


def _number(layer: str, arg: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"Layer {layer} expects `{arg}` to be a number. Received: "
                         f"{arg}={value!r}")
    return value


def _hertz_to_mel(hertz):
    return _MEL_HIGH_FREQUENCY_Q * np.log(1.0 + hertz / _MEL_BREAK_FREQUENCY_HERTZ)


def linear_to_mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sampling_rate,
                                lower_edge_hertz, upper_edge_hertz):
    """The `(num_spectrogram_bins, num_mel_bins)` matrix of HTK-style triangular mel filters
    (peak 1.0) that maps a linear spectrogram over `[0, sampling_rate / 2]` to mel bands over
    `[lower_edge_hertz, upper_edge_hertz]`; the DC bin gets no weight."""
    f32 = np.float32
    linear = np.linspace(f32(0.0), f32(sampling_rate) / f32(2.0), num_spectrogram_bins,
                         dtype=f32)[1:]
    spectrogram_mel = _hertz_to_mel(linear).astype(f32)[:, None]
    edges = np.linspace(_hertz_to_mel(f32(lower_edge_hertz)), _hertz_to_mel(f32(upper_edge_hertz)),
                        num_mel_bins + 2, dtype=f32)
    lower, center, upper = edges[:-2][None], edges[1:-1][None], edges[2:][None]
    rising = (spectrogram_mel - lower) / (center - lower)
    falling = (upper - spectrogram_mel) / (upper - center)
    weights = np.maximum(f32(0.0), np.minimum(rising, falling))
    return np.pad(weights, [[1, 0], [0, 0]]).astype(f32)


class MelSpectrogram(Layer):
    """The mel-scaled spectrogram of raw audio (optionally in decibels).

    The signal is framed with a centred (reflect-padded) short-time Fourier transform, its
    magnitude raised to `mag_exp`, mapped to `num_mel_bins` mel bands and, with
    `power_to_db`, converted to decibels relative to `ref_power` and floored at
    `max - top_db` (the maximum over the whole batch, as in Keras).

    Args:
        fft_length: the FFT size (frequency bins = `fft_length // 2 + 1`).
        sequence_stride: the hop between frames, in samples.
        sequence_length: the window length (default `fft_length`); at most `fft_length`.
        window: "hann", "hamming" or None (rectangular).
        sampling_rate: the signal's sampling rate, in Hz.
        num_mel_bins: the number of mel bands.
        min_freq: the lowest band edge, in Hz.
        max_freq: the highest band edge, in Hz (default `sampling_rate / 2`).
        power_to_db: output decibels.
        top_db: the dynamic range kept in decibels.
        mag_exp: the exponent of the magnitude (1: amplitude, 2: power).
        min_power: the floor of the power before the logarithm.
        ref_power: the power that maps to 0 dB.

    Input shape:
        `(batch, samples)` or one signal `(samples,)`.

    Output shape:
        `(batch, num_mel_bins, frames)` (or `(num_mel_bins, frames)`), where
        `frames = samples // sequence_stride + 1`.
    """

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None,
                 window="hann", sampling_rate=16000, num_mel_bins=128, min_freq=20.0,
                 max_freq=None, power_to_db=True, top_db=80.0, mag_exp=2.0, min_power=1e-10,
                 ref_power=1.0, **kwargs):
        super().__init__(**kwargs)
        name = "MelSpectrogram"
        self.fft_length = _int_at_least(name, "fft_length", fft_length)
        self.sequence_stride = _int_at_least(name, "sequence_stride", sequence_stride)
        self.sequence_length = _int_at_least(name, "sequence_length",
                                             sequence_length or fft_length)
        if self.fft_length < self.sequence_length:
            raise ValueError(
                "Layer MelSpectrogram: `fft_length` must be greater than or equal to "
                f"`sequence_length`. Received: sequence_length={self.sequence_length}, "
                f"fft_length={self.fft_length}")
        if window not in ("hann", "hamming", None):
            raise ValueError("Layer MelSpectrogram expects `window` to be 'hann', 'hamming' or "
                             f"None. Received: window={window!r}")
        self.window = window
        self.sampling_rate = _number(name, "sampling_rate", sampling_rate)
        self.num_mel_bins = _int_at_least(name, "num_mel_bins", num_mel_bins)
        self.min_freq = _number(name, "min_freq", min_freq)
        self.max_freq = _number(name, "max_freq", max_freq or int(sampling_rate / 2))
        if not 0 <= self.min_freq < self.max_freq:
            raise ValueError(
                "Layer MelSpectrogram expects 0 <= min_freq < max_freq. Received: "
                f"min_freq={self.min_freq}, max_freq={self.max_freq}")
        self.power_to_db = bool(power_to_db)
        self.top_db = _number(name, "top_db", top_db)
        self.mag_exp = _number(name, "mag_exp", mag_exp)
        self.min_power = _number(name, "min_power", min_power)
        self.ref_power = _number(name, "ref_power", ref_power)

    def init(self, rng, input_spec):
        self._check_rank(input_spec, (1, 2))
        if input_spec.shape[-1] <= self.fft_length // 2:
            raise ValueError(
                f"Layer '{self.name}' (MelSpectrogram) needs signals longer than "
                f"fft_length // 2 = {self.fft_length // 2} samples (for the reflect padding). "
                f"Received inputs of shape {tuple(input_spec.shape)}.")
        return {}, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        x = jnp.asarray(inputs)
        compute = self.dtype if self.dtype in (jnp.float32, jnp.float64) else jnp.float32
        x = x.astype(compute)
        real, imag = math_ops.stft(x, self.sequence_length, self.sequence_stride,
                                   self.fft_length, window=self.window, center=True)
        spec = jnp.power(jnp.sqrt(real * real + imag * imag), self.mag_exp)
        matrix = linear_to_mel_weight_matrix(self.num_mel_bins, spec.shape[-1],
                                             self.sampling_rate, self.min_freq, self.max_freq)
        out = jnp.tensordot(spec, jnp.asarray(matrix, compute), axes=1)
        if self.power_to_db:
            out = 10.0 * jnp.log10(jnp.maximum(out, self.min_power))
            out = out - 10.0 * math.log10(max(abs(self.ref_power), self.min_power))
            out = jnp.maximum(out, jnp.max(out) - self.top_db)
        return jnp.swapaxes(out, -1, -2).astype(self.compute_dtype), state

    def get_config(self):
        return {**super().get_config(), "fft_length": self.fft_length,
                "sequence_stride": self.sequence_stride,
                "sequence_length": self.sequence_length, "window": self.window,
                "sampling_rate": self.sampling_rate, "num_mel_bins": self.num_mel_bins,
                "min_freq": self.min_freq, "max_freq": self.max_freq,
                "power_to_db": self.power_to_db, "top_db": self.top_db, "mag_exp": self.mag_exp,
                "min_power": self.min_power, "ref_power": self.ref_power}


# ---------------------------------------------------------------------------------- STFT
def _cosine_window(coefficients, length, periodic):
    m = length if periodic else length - 1
    n = np.arange(length)
    return sum(c * np.cos(2 * np.pi * k * n / m) for k, c in enumerate(coefficients))


def get_window(window, length: int, periodic: bool) -> np.ndarray:
    """The named window of `length` samples (scipy.signal.get_window's values), periodic
    (for spectral analysis) or symmetric; other names are looked up in SciPy when present."""
    if length == 1:
        return np.ones(1)
    if window in ("hann", "hanning"):
        return _cosine_window((0.5, -0.5), length, periodic)
    if window in ("hamming",):
        return _cosine_window((0.54, -0.46), length, periodic)
    if window in ("blackman",):
        return _cosine_window((0.42, -0.5, 0.08), length, periodic)
    if window in ("boxcar", "rectangular", "ones"):
        return np.ones(length)
    if window == "bartlett":
        m = length if periodic else length - 1
        n = np.arange(length)
        return 1.0 - np.abs(2.0 * n / m - 1.0)
    try:
        import scipy.signal
    except ImportError:
        scipy = None
    if scipy is not None:
        return np.asarray(scipy.signal.get_window(window, length, periodic))
    raise ValueError(f"Unknown window {window!r}: kerasx knows 'hann', 'hamming', 'blackman', "
                     "'bartlett' and 'boxcar' (install SciPy for the others).")


def stft_kernel(side: str, window, scaling, periodic: bool, frame_length: int,
                freq_bins: int, dtype) -> jax.Array:
    """The `(frame_length, 1, freq_bins)` Conv1D kernel whose outputs are the real (`side`
    "real") or imaginary parts of the windowed DFT of each frame (Keras's STFT initializer)."""
    win = None
    scale = 1.0
    if window is not None:
        win = get_window(window, frame_length, periodic) if isinstance(window, str) \
            else np.asarray(window, np.float64)
        if win.shape != (frame_length,):
            raise ValueError(f"The window must have shape (frame_length,) = ({frame_length},). "
                             f"Received: window shape={win.shape}")
        win = win.astype(np.float32).astype(np.float64)
        if scaling == "density":
            scale = np.sqrt(np.sum(win ** 2))
        elif scaling == "spectrum":
            scale = np.sum(np.abs(win))
    fft_length = (freq_bins - 1) * 2
    angle = -2.0 * np.pi * np.arange(frame_length)[:, None, None] * \
        np.arange(freq_bins)[None, None, :] / fft_length
    kernel = np.cos(angle) if side == "real" else np.sin(angle)
    if win is not None:
        kernel = kernel * win[:, None, None] / scale
    return jnp.asarray(kernel, dtype)


_STFT_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")


class STFTSpectrogram(Layer):
    """The spectrogram of a (multi-channel) signal by a short-time Fourier transform, computed
    as a strided Conv1D with trainable DFT kernels (`real_kernel`, `imag_kernel`).

    Args:
        mode: "log" (log magnitude, default), "magnitude", "psd" (power spectral density),
            "real", "imag", "angle" or "stft" (real and imaginary parts concatenated).
        frame_length: the window length, in samples.
        frame_step: the hop between frames (default `frame_length // 2`); at most
            `frame_length`.
        fft_length: the FFT size (default the next power of two of `frame_length`).
        window: a window name ("hann", "hamming", ...), a list of `frame_length` values, or
            None (rectangular).
        periodic: use the periodic form of the named window.
        scaling: "density" (divide by the window's L2 norm), "spectrum" (by its L1 norm) or
            None.
        padding: "valid" or "same".
        expand_dims: keep channels and frequencies as separate axes.
        data_format: "channels_last" (default) or "channels_first".

    Input shape:
        `(batch, samples, channels)` (channels first: `(batch, channels, samples)`).

    Output shape:
        `(batch, frames, channels * freqs)` (channels first: `(batch, channels * freqs,
        frames)`); with `expand_dims`: `(batch, frames, freqs, channels)` (channels first:
        `(batch, channels, frames, freqs)`), where `freqs = fft_length // 2 + 1` (doubled
        for "stft").
    """

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None,
                 window="hann", periodic=False, scaling="density", padding="valid",
                 expand_dims=False, data_format=None, **kwargs):
        name = "STFTSpectrogram"
        frame_length = _int_at_least(name, "frame_length", frame_length)
        if frame_step is not None and (isinstance(frame_step, bool) or not isinstance(
                frame_step, (int, np.integer)) or frame_step > frame_length or frame_step < 1):
            raise ValueError(
                "Layer STFTSpectrogram: `frame_step` should be a positive integer not greater "
                f"than `frame_length`. Received frame_step={frame_step}, "
                f"frame_length={frame_length}")
        if fft_length is not None:
            fft_length = _int_at_least(name, "fft_length", fft_length)
            if fft_length < frame_length:
                raise ValueError(
                    "Layer STFTSpectrogram: `fft_length` should be not less than "
                    f"`frame_length`. Received fft_length={fft_length}, "
                    f"frame_length={frame_length}")
            if fft_length & (fft_length - 1):
                warnings.warn("`fft_length` is recommended to be a power of two. "
                              f"Received fft_length={fft_length}", stacklevel=2)
        if mode not in _STFT_MODES:
            raise ValueError(f"Layer STFTSpectrogram: output mode is invalid, it must be one of "
                             f"{', '.join(_STFT_MODES)}. Received: mode={mode!r}")
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError("Layer STFTSpectrogram: scaling is invalid, it must be None, "
                             f"'density' or 'spectrum'. Received scaling={scaling!r}")
        if padding not in ("valid", "same"):
            raise ValueError("Layer STFTSpectrogram: padding is invalid, it should be 'valid' "
                             f"or 'same'. Received: padding={padding!r}")
        if isinstance(window, str):
            get_window(window, 1, False)  # unknown names fail here
        elif window is not None:
            window = np.asarray(window, np.float64).tolist()
            if np.shape(window) != (frame_length,):
                raise ValueError(
                    "Layer STFTSpectrogram: the shape of `window` must be (frame_length,) = "
                    f"({frame_length},). Received: window shape={np.shape(window)}")
        super().__init__(**kwargs)
        self.mode = mode
        self.frame_length = frame_length
        self.frame_step = None if frame_step is None else int(frame_step)
        self._frame_step = self.frame_step or frame_length // 2
        self.fft_length = fft_length
        self._fft_length = fft_length or 2 ** int(math.ceil(math.log2(frame_length)))
        self.window = window
        self.periodic = bool(periodic)
        self.scaling = scaling
        self.padding = padding
        self.expand_dims = bool(expand_dims)
        self.data_format = _standardize_data_format(self, data_format)

    def _kernel_names(self):
        return [k for k, skip in (("real_kernel", "imag"), ("imag_kernel", "real"))
                if self.mode != skip]

    def init(self, rng, input_spec):
        self._check_rank(input_spec, (3,))
        time = input_spec.shape[1 if self.data_format == "channels_last" else 2]
        if self.padding == "valid" and time < self.frame_length:
            raise ValueError(
                f"Layer '{self.name}' (STFTSpectrogram) needs at least frame_length="
                f"{self.frame_length} samples with padding='valid'. Received inputs of shape "
                f"{tuple(input_spec.shape)}.")
        freq_bins = self._fft_length // 2 + 1
        return {k: stft_kernel(k.split("_")[0], self.window, self.scaling, self.periodic,
                               self.frame_length, freq_bins, self.dtype)
                for k in self._kernel_names()}, {}

    def weight_names(self):
        return [("params", k) for k in self._kernel_names()]

    def _conv(self, signals, kernel):
        """`(batch * channels, samples, 1)` → `(batch * channels, freqs, frames)`."""
        out = jax.lax.conv_general_dilated(
            signals, kernel.astype(signals.dtype), (self._frame_step,),
            self.padding.upper(), dimension_numbers=("NWC", "WIO", "NWC"))
        return jnp.swapaxes(out, 1, 2)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        x = jnp.asarray(inputs)
        if x.dtype not in (jnp.float16, jnp.float32, jnp.float64):
            raise TypeError(
                f"Layer '{self.name}' (STFTSpectrogram): invalid input type. Expected "
                f"float16, float32 or float64. Received: input type={x.dtype}")
        if self.data_format == "channels_last":
            x = jnp.swapaxes(x, 1, 2)
        batch, channels, time = x.shape
        signals = x.reshape(batch * channels, time, 1)

        def part(key):
            out = self._conv(signals, params[key])
            return out.reshape(batch, channels, out.shape[1], out.shape[2])

        real = part("real_kernel") if self.mode != "imag" else None
        imag = part("imag_kernel") if self.mode != "real" else None
        if self.mode == "real":
            out = real
        elif self.mode == "imag":
            out = imag
        elif self.mode == "angle":
            out = jnp.arctan2(imag, real)
        elif self.mode == "stft":
            out = jnp.concatenate([real, imag], axis=2)
        else:
            power = real * real + imag * imag
            if self.mode == "psd":
                out = power + jnp.pad(power[:, :, 1:-1, :], [[0, 0], [0, 0], [1, 1], [0, 0]])
            else:
                out = jnp.sqrt(jnp.maximum(power, _EPSILON))
                if self.mode == "log":
                    out = jnp.log(jnp.maximum(out, _EPSILON))
        return self._arrange(out), state

    def _arrange(self, out):
        """`(batch, channels, freqs, frames)` → the output layout."""
        batch, channels, freqs, frames = out.shape
        if self.data_format == "channels_last":
            if self.expand_dims:
                return jnp.transpose(out, (0, 3, 2, 1))
            return jnp.transpose(out.reshape(batch, channels * freqs, frames), (0, 2, 1))
        if self.expand_dims:
            return jnp.transpose(out, (0, 1, 3, 2))
        return out.reshape(batch, channels * freqs, frames)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "frame_length": self.frame_length,
                "frame_step": self.frame_step, "fft_length": self.fft_length,
                "window": self.window, "periodic": self.periodic, "scaling": self.scaling,
                "padding": self.padding, "data_format": self.data_format,
                "expand_dims": self.expand_dims}
