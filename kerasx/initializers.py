"""Weight initializers by Keras name.

An initializer is a callable `(key, shape, dtype) -> array`. The classes take Keras's
arguments and defaults; `get` resolves a Keras name, a class instance or a callable.
"""

import inspect
import math
from typing import Callable, Sequence, Union

import jax
import jax.numpy as jnp
import numpy as np

from .saving._registry import get_registered_object


def _fans(shape: Sequence[int]):
    """Keras's fan computation: kernels are (..., in, out) with a receptive field in front."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: subclasses implement `__call__(key, shape, dtype)`."""

    def __call__(self, key, shape, dtype=jnp.float32):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        """Rebuilds the initializer from `get_config()`. Arguments that this class does not take
        are ignored when they are None (Keras 3 writes e.g. `input_axes: None`)."""
        params = inspect.signature(cls.__init__).parameters
        takes_any = any(p.kind == p.VAR_KEYWORD for p in params.values())
        return cls(**{k: v for k, v in config.items() if takes_any or k in params or v is not None})

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    def __call__(self, key, shape, dtype=jnp.float32):
        return jnp.zeros(shape, dtype)


class Ones(Initializer):
    def __call__(self, key, shape, dtype=jnp.float32):
        return jnp.ones(shape, dtype)


class Constant(Initializer):
    def __init__(self, value=0.0):
        self.value = value

    def __call__(self, key, shape, dtype=jnp.float32):
        return jnp.full(shape, self.value, dtype)

    def get_config(self):
        return {"value": self.value}


class RandomNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, key, shape, dtype=jnp.float32):
        return self.mean + self.stddev * jax.random.normal(key, shape, dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(Initializer):
    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        self.minval, self.maxval, self.seed = minval, maxval, seed

    def __call__(self, key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, self.minval, self.maxval)

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class TruncatedNormal(Initializer):
    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev, self.seed = mean, stddev, seed

    def __call__(self, key, shape, dtype=jnp.float32):
        return self.mean + self.stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class VarianceScaling(Initializer):
    """Keras's VarianceScaling: scale / fan, drawn from a truncated normal, normal or uniform."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None):
        if scale <= 0.0:
            raise ValueError(f"Expected `scale` > 0 for VarianceScaling. Received: scale={scale}")
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(
                "Expected `mode` to be one of 'fan_in', 'fan_out', 'fan_avg'. "
                f"Received: mode={mode!r}"
            )
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(
                "Expected `distribution` to be one of 'truncated_normal', "
                f"'untruncated_normal', 'uniform'. Received: distribution={distribution!r}"
            )
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed

    def __call__(self, key, shape, dtype=jnp.float32):
        fan_in, fan_out = _fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        scale = self.scale / max(1.0, n)
        if self.distribution == "truncated_normal":
            # 0.879... is the stddev of a standard normal truncated to [-2, 2].
            stddev = math.sqrt(scale) / 0.87962566103423978
            return stddev * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)
        if self.distribution == "untruncated_normal":
            return math.sqrt(scale) * jax.random.normal(key, shape, dtype)
        limit = math.sqrt(3.0 * scale)
        return jax.random.uniform(key, shape, dtype, -limit, limit)

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


class GlorotUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class GlorotNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class HeNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class HeUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(2.0, "fan_in", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class LecunNormal(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "truncated_normal", seed)

    def get_config(self):
        return {"seed": self.seed}


class LecunUniform(VarianceScaling):
    def __init__(self, seed=None):
        super().__init__(1.0, "fan_in", "uniform", seed)

    def get_config(self):
        return {"seed": self.seed}


class Orthogonal(Initializer):
    """Keras's Orthogonal: a (semi-)orthogonal matrix over the flattened leading axes, times `gain`."""

    def __init__(self, gain=1.0, seed=None):
        self.gain, self.seed = gain, seed

    def __call__(self, key, shape, dtype=jnp.float32):
        if len(shape) < 2:
            raise ValueError(
                "The Orthogonal initializer needs a shape of rank >= 2. "
                f"Received: shape={tuple(shape)}"
            )
        rows, cols = math.prod(shape[:-1]), shape[-1]
        flat = jax.random.normal(key, (max(rows, cols), min(rows, cols)), jnp.float32)
        q, r = jnp.linalg.qr(flat)
        q = q * jnp.sign(jnp.diagonal(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(dtype)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


class Identity(Initializer):
    """`gain` times the identity matrix (2D shapes only; a rectangle gets ones on its diagonal)."""

    def __init__(self, gain=1.0):
        self.gain = gain

    def __call__(self, key, shape, dtype=jnp.float32):
        if len(shape) != 2:
            raise ValueError("The Identity initializer can only be used for 2D matrices. "
                             f"Received: shape={tuple(shape)} of rank {len(shape)}.")
        return (self.gain * jnp.eye(*shape)).astype(dtype)

    def get_config(self):
        return {"gain": self.gain}


class STFT(Initializer):
    """Kernels of a convolution that computes a short-time Fourier transform: the real (cosine) or
    imaginary (sine) side, times a window, for shapes `(frame_length, 1, fft_length // 2 + 1)`.

    Args:
        side: "real" or "imag".
        window: a window name of `scipy.signal.windows` ("hann", "hamming", ...), the window
            values (length `frame_length`), or None for none.
        scaling: "density" (divide by the window's L2 norm), "spectrum" (its L1 norm) or None.
        periodic: whether a named window is periodic rather than symmetric.
    """

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in ("real", "imag"):
            raise ValueError(f"STFT initializer: `side` must be 'real' or 'imag'. Received: side={side!r}")
        if scaling not in (None, "density", "spectrum"):
            raise ValueError("STFT initializer: `scaling` must be None, 'density' or 'spectrum'. "
                             f"Received: scaling={scaling!r}")
        if isinstance(window, str):
            _window(window, 1, periodic)  # an unknown name fails here, not at build time
        self.side, self.window, self.scaling, self.periodic = side, window, scaling, periodic

    def __call__(self, key, shape, dtype=jnp.float32):
        if len(shape) != 3:
            raise ValueError("The STFT initializer expects a shape (frame_length, input_channels, "
                             f"fft_length // 2 + 1). Received: shape={tuple(shape)}")
        frame_length, _, bins = shape
        time = np.arange(frame_length, dtype=np.float64).reshape(-1, 1, 1)
        freq = np.arange(bins, dtype=np.float64).reshape(1, 1, -1) / ((bins - 1) * 2)
        angle = -2.0 * time * freq * np.pi
        kernel = np.cos(angle) if self.side == "real" else np.sin(angle)
        if self.window is not None:
            win = (_window(self.window, frame_length, self.periodic) if isinstance(self.window, str)
                   else np.asarray(self.window, np.float64))
            if win.shape != (frame_length,):
                raise ValueError(f"STFT initializer: the window must have shape ({frame_length},). "
                                 f"Received: window of shape {win.shape}")
            kernel = kernel * win.reshape(-1, 1, 1)
            if self.scaling == "density":
                kernel = kernel / np.sqrt(np.sum(win ** 2))
            elif self.scaling == "spectrum":
                kernel = kernel / np.sum(np.abs(win))
        return jnp.asarray(kernel.astype(np.dtype(dtype)))

    def get_config(self):
        window = self.window if self.window is None or isinstance(self.window, str) else \
            [float(v) for v in np.asarray(self.window)]
        return {"side": self.side, "window": window, "periodic": self.periodic,
                "scaling": self.scaling}


def _window(name, length, periodic):
    import scipy.signal  # a dependency of jax itself
    return np.asarray(scipy.signal.get_window(name, length, fftbins=periodic), np.float64)


# Keras 3's other public spellings of the same classes
IdentityInitializer = Identity
OrthogonalInitializer = Orthogonal
STFTInitializer = STFT
zeros, ones, constant = Zeros, Ones, Constant
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal, identity, stft = VarianceScaling, Orthogonal, Identity, STFT
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_normal, he_uniform, lecun_normal, lecun_uniform = HeNormal, HeUniform, LecunNormal, LecunUniform


_INITIALIZERS = {
    "zeros": Zeros,
    "ones": Ones,
    "constant": Constant,
    "random_normal": RandomNormal,
    "random_uniform": RandomUniform,
    "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling,
    "glorot_uniform": GlorotUniform,
    "glorot_normal": GlorotNormal,
    "he_normal": HeNormal,
    "he_uniform": HeUniform,
    "lecun_normal": LecunNormal,
    "lecun_uniform": LecunUniform,
    "orthogonal": Orthogonal,
    "identity": Identity,
    "stft": STFT,
}


_LONG_NAMES = {"IdentityInitializer": Identity, "OrthogonalInitializer": Orthogonal,
               "STFTInitializer": STFT}


def _snake(name: str) -> str:
    out = []
    for i, c in enumerate(name):
        if c.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(c.lower())
    return "".join(out)


def get(identifier: Union[str, dict, Callable]) -> Callable:
    """Returns an initializer from a Keras name ('glorot_uniform' or 'GlorotUniform'), a
    registered name ('package>name'), a serialized dict (as `serialize` returns), an
    instance, or any callable `(key, shape, dtype) -> array`."""
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = (_INITIALIZERS.get(identifier) or _INITIALIZERS.get(_snake(identifier))
               or _LONG_NAMES.get(identifier))
        if cls is None:
            cls = get_registered_object(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown initializer: '{identifier}'. Expected one of {sorted(_INITIALIZERS)}, "
                "the registered name ('package>name') of an initializer decorated with "
                "@kerasx.saving.register_keras_serializable(), an initializer instance or a "
                "callable (key, shape, dtype) -> array."
            )
        return cls() if isinstance(cls, type) else cls
    if callable(identifier):
        return identifier
    raise TypeError(
        "Expected an initializer name, instance or callable. "
        f"Received: {identifier!r} of type {type(identifier).__name__}"
    )


def serialize(initializer: Callable) -> dict:
    """Keras 3's dict for an initializer: `{"module", "class_name", "config",
    "registered_name"}` (a plain function gives the function form of `kerasx.saving`)."""
    from .saving._serialization import serialize as serialize_object
    return serialize_object(initializer)


def deserialize(config: Union[str, dict], custom_objects=None) -> Callable:
    """The initializer that `serialize` described (also a Keras name)."""
    if isinstance(config, str) and not custom_objects:
        return get(config)
    from .saving._serialization import deserialize as deserialize_object
    init = deserialize_object(config, custom_objects)
    if isinstance(init, type):
        init = init()
    if not callable(init):
        raise TypeError(f"Expected the config {config!r} to describe an initializer. "
                        f"Received: {init!r}")
    return init
