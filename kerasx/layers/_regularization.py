"""Regularization layers: Dropout, SpatialDropout1D/2D/3D, GaussianNoise, GaussianDropout,
AlphaDropout, ActivityRegularization.

The stochastic layers are random only when training (`apply(..., training=True, rng=key)`):
their randomness comes only from the `rng` given to `apply`, so a fixed key gives fixed noise.
With `training=False` (the default) they are the identity.
"""

import math
from numbers import Real
from typing import Any, Optional, Sequence

import jax
import jax.numpy as jnp

from .. import _settings, regularizers
from ._base import Layer, shape_str


class Dropout(Layer):
    """Randomly sets a fraction `rate` of the inputs to 0 in training, scaling the rest up.

    With `training=True`, each unit is dropped with probability `rate` and the kept units are
    multiplied by `1 / (1 - rate)`, so the expected sum is unchanged. With `training=False`
    (the default) the layer is the identity. The randomness comes only from the `rng` argument
    of `apply`, so a fixed key gives a fixed mask:

        y, _ = layer.apply(params, state, x, training=True, rng=jax.random.key(0))

    Args:
        rate: float in [0, 1], the fraction of the input units to DROP (not to keep).
        noise_shape: optional shape of the binary mask, broadcast against the inputs; an entry
            of `None` means the input's size on that axis. E.g. inputs `(batch, timesteps,
            features)` and `noise_shape=(None, 1, None)` drop the same features at every step.
        seed: optional integer folded into the `rng` given to `apply`, so that two Dropout
            layers with different seeds draw different masks from the same key.

    Input shape:
        Any shape.
    Output shape:
        Same as the input shape and dtype.
    """

    supports_masking = True  # passes an input mask through, as in Keras

    def __init__(self, rate: float, noise_shape: Optional[Sequence[Optional[int]]] = None,
                 seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(rate, Real) or isinstance(rate, bool) or not 0 <= rate <= 1:
            raise ValueError(
                f"Received an invalid value for `rate` of layer '{self.name}', expected a float "
                f"between 0 and 1 (the fraction of the input units to drop). Received: rate={rate!r}"
            )
        self.rate = float(rate)
        self.noise_shape = self._validate_noise_shape(noise_shape)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(
                f"Received an invalid value for `seed` of layer '{self.name}', expected an "
                f"integer or None. Received: seed={seed!r}"
            )
        self.seed = seed

    def _validate_noise_shape(self, noise_shape):
        if noise_shape is None:
            return None
        if isinstance(noise_shape, (tuple, list)):
            noise_shape = tuple(noise_shape)
            if all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d > 0)
                   for d in noise_shape):
                return noise_shape
        raise ValueError(
            f"Received an invalid value for `noise_shape` of layer '{self.name}', expected a "
            f"tuple of positive integers or None, e.g. noise_shape=(None, 1, None). "
            f"Received: noise_shape={noise_shape!r}"
        )

    def _concrete_noise_shape(self, shape):
        """`noise_shape` with `None` filled in from `shape`; checked to broadcast to `shape`."""
        if self.noise_shape is None:
            return tuple(shape)
        ok = len(self.noise_shape) == len(shape)
        concrete = tuple(s if n is None else n for n, s in zip(self.noise_shape, shape))
        if not ok or any(n not in (1, s) for n, s in zip(concrete, shape)):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) has noise_shape={self.noise_shape}, which does "
                f"not broadcast to inputs of shape {shape_str(shape)}: it needs one entry per "
                f"input axis, each None, 1 or the input's size."
            )
        return concrete

    def init(self, rng, input_spec):
        if self.noise_shape is not None:
            self._check_rank(input_spec, range(0, 100))
            self._concrete_noise_shape(input_spec.shape)
        return {}, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        if not training or self.rate == 0.0:
            return inputs, state
        noise_shape = self._concrete_noise_shape(inputs.shape)
        if self.rate == 1.0:
            return jnp.zeros_like(inputs), state
        self._need_rng(rng)
        if self.seed is not None:
            rng = jax.random.fold_in(rng, self.seed)
        keep_prob = 1.0 - self.rate
        mask = jax.random.bernoulli(rng, p=keep_prob, shape=noise_shape)
        mask = jnp.broadcast_to(mask, inputs.shape)
        return jnp.where(mask, inputs / keep_prob, jnp.zeros((), inputs.dtype)), state

    def output_spec(self, input_spec):
        self.init(None, input_spec)
        return jax.ShapeDtypeStruct(tuple(input_spec.shape), input_spec.dtype)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape,
                "seed": self.seed}


def _check_rate(layer: Layer, value: Any, arg: str = "rate", hi_open: bool = False) -> float:
    """`float(value)` for a rate in [0, 1] ([0, 1) when `hi_open`), or a teaching ValueError."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and 0 <= value and (
        value < 1 if hi_open else value <= 1)
    if not ok:
        interval = "in [0, 1)" if hi_open else "between 0 and 1"
        raise ValueError(
            f"Received an invalid value for `{arg}` of layer '{layer.name}', expected a float "
            f"{interval}. Received: {arg}={value!r}"
        )
    return float(value)


def _check_seed(layer: Layer, seed: Any) -> Optional[int]:
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ValueError(
            f"Received an invalid value for `seed` of layer '{layer.name}', expected an "
            f"integer or None. Received: seed={seed!r}"
        )
    return seed


def _seeded(rng, seed):
    return rng if seed is None else jax.random.fold_in(rng, seed)


def _standardize_data_format(layer: Layer, data_format: Any) -> str:
    if data_format is None:
        return _settings.IMAGE_DATA_FORMAT  # kerasx.config.image_data_format()
    df = data_format.lower() if isinstance(data_format, str) else data_format
    if df not in ("channels_last", "channels_first"):
        raise ValueError(
            f"Received an invalid value for `data_format` of layer '{layer.name}', expected "
            f"'channels_last' or 'channels_first'. Received: data_format={data_format!r}"
        )
    return df


class _SpatialDropout(Dropout):
    """Base of SpatialDropout1D/2D/3D: Dropout whose mask is shared over the spatial axes."""

    _rank = 3

    def __init__(self, rate: float, data_format: Optional[str] = None,
                 seed: Optional[int] = None, **kwargs):
        super().__init__(rate, noise_shape=None, seed=seed, **kwargs)
        self.data_format = _standardize_data_format(self, data_format)

    def _concrete_noise_shape(self, shape):
        self._check_rank(jax.ShapeDtypeStruct(tuple(shape), jnp.float32), (self._rank,))
        if self.data_format == "channels_first":
            return (shape[0], shape[1]) + (1,) * (self._rank - 2)
        return (shape[0],) + (1,) * (self._rank - 2) + (shape[-1],)

    def init(self, rng, input_spec):
        self._concrete_noise_shape(input_spec.shape)
        return {}, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._concrete_noise_shape(inputs.shape)
        return super().apply(params, state, inputs, training=training, rng=rng)

    def get_config(self):
        # Keras's spatial dropouts write no `trainable` (their constructors do not take it);
        # kerasx writes it only when it is False, so default configs load into Keras.
        config = {**super().get_config(), "data_format": self.data_format}
        config.pop("noise_shape")
        if self.trainable:
            config.pop("trainable")
        return config


class SpatialDropout1D(_SpatialDropout):
    """Dropout that drops whole channels of a sequence: one mask entry per (sample, channel).

    With `training=True`, each channel of each sample is dropped at every timestep with
    probability `rate`, and the kept values are scaled by `1 / (1 - rate)`. Useful when
    adjacent timesteps are strongly correlated.

    Args:
        rate: float in [0, 1], the fraction of the channels to drop.
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        3D `(batch_size, timesteps, channels)`.
    Output shape:
        Same as the input shape and dtype.
    """

    _rank = 3

    def __init__(self, rate: float, seed: Optional[int] = None, **kwargs):
        super().__init__(rate, data_format=None, seed=seed, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("data_format")
        return config


class SpatialDropout2D(_SpatialDropout):
    """Dropout that drops whole 2D feature maps: one mask entry per (sample, channel).

    Args:
        rate: float in [0, 1], the fraction of the channels to drop.
        data_format: "channels_last" (default) or "channels_first".
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        4D `(batch_size, rows, cols, channels)` (channels_last) or
        `(batch_size, channels, rows, cols)` (channels_first).
    Output shape:
        Same as the input shape and dtype.
    """

    _rank = 4


class SpatialDropout3D(_SpatialDropout):
    """Dropout that drops whole 3D feature maps: one mask entry per (sample, channel).

    Args:
        rate: float in [0, 1], the fraction of the channels to drop.
        data_format: "channels_last" (default) or "channels_first".
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        5D `(batch_size, dim1, dim2, dim3, channels)` (channels_last) or
        `(batch_size, channels, dim1, dim2, dim3)` (channels_first).
    Output shape:
        Same as the input shape and dtype.
    """

    _rank = 5


def _noise_dtype(layer: Layer, inputs):
    return inputs.dtype if jnp.issubdtype(inputs.dtype, jnp.floating) else layer.dtype


class GaussianNoise(Layer):
    """Adds zero-centered Gaussian noise of standard deviation `stddev` when training.

    Args:
        stddev: float in [0, 1], the standard deviation of the noise.
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        Any shape.
    Output shape:
        Same as the input shape (integer inputs become the layer's dtype when training).
    """

    supports_masking = True

    def __init__(self, stddev: float, seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        self.stddev = _check_rate(self, stddev, "stddev")
        self.seed = _check_seed(self, seed)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        if not training or self.stddev == 0.0:
            return inputs, state
        self._need_rng(rng)
        dtype = _noise_dtype(self, inputs)
        noise = self.stddev * jax.random.normal(_seeded(rng, self.seed), inputs.shape, dtype)
        return inputs.astype(dtype) + noise, state

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(Layer):
    """Multiplies the inputs by Gaussian noise of mean 1 when training.

    The noise has standard deviation `sqrt(rate / (1 - rate))`, the same variance as Dropout
    with the same `rate` (Srivastava et al., 2014).

    Args:
        rate: float in [0, 1), the drop probability of the equivalent Dropout.
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        Any shape.
    Output shape:
        Same as the input shape (integer inputs become the layer's dtype when training).
    """

    supports_masking = True

    def __init__(self, rate: float, seed: Optional[int] = None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _check_rate(self, rate, hi_open=True)
        self.seed = _check_seed(self, seed)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        if not training or self.rate == 0.0:
            return inputs, state
        self._need_rng(rng)
        dtype = _noise_dtype(self, inputs)
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        noise = 1.0 + stddev * jax.random.normal(_seeded(rng, self.seed), inputs.shape, dtype)
        return inputs.astype(dtype) * noise, state

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class AlphaDropout(Dropout):
    """Dropout that keeps the mean and variance of its inputs (for SELU networks).

    With `training=True`, each unit is set with probability `rate` to SELU's negative
    saturation value `-alpha * scale`, and the result is transformed affinely (`a * x + b`)
    so that inputs of zero mean and unit variance keep them (Klambauer et al., 2017).

    Args:
        rate: float in [0, 1), the fraction of the units to drop.
        noise_shape: optional shape of the mask, broadcast against the inputs (`None`
            entries take the input's size), as in Dropout.
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        Any shape.
    Output shape:
        Same as the input shape and dtype.
    """

    _ALPHA = 1.6732632423543772
    _SCALE = 1.0507009873554805

    def __init__(self, rate: float, noise_shape: Optional[Sequence[Optional[int]]] = None,
                 seed: Optional[int] = None, **kwargs):
        super().__init__(0.0, noise_shape=noise_shape, seed=seed, **kwargs)
        self.rate = _check_rate(self, rate, hi_open=True)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        if not training or self.rate == 0.0:
            return inputs, state
        noise_shape = self._concrete_noise_shape(inputs.shape)
        self._need_rng(rng)
        alpha_p = -self._ALPHA * self._SCALE
        keep = jax.random.bernoulli(_seeded(rng, self.seed), 1.0 - self.rate, noise_shape)
        keep = jnp.broadcast_to(keep, inputs.shape)
        a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        x = jnp.where(keep, inputs, jnp.asarray(alpha_p, inputs.dtype))
        return (a * x + b).astype(inputs.dtype), state


class ActivityRegularization(Layer):
    """Passes its inputs through and adds `l1 * sum(|x|) + l2 * sum(x**2)` to the layer losses.

    It is the identity with Keras's activity regularizer `L1L2(l1, l2)`: as for any layer's
    `activity_regularizer`, the penalty is divided by the batch size and collected with the
    model's losses (`fit` adds it; `collect_losses()` gathers it under the pure API).

    Args:
        l1: non-negative float, the L1 factor.
        l2: non-negative float, the L2 factor.

    Input shape:
        Any shape.
    Output shape:
        Same as the input shape and dtype.
    """

    supports_masking = True

    def __init__(self, l1: float = 0.0, l2: float = 0.0, **kwargs):
        kwargs.pop("activity_regularizer", None)  # Keras's own config may hold it
        for arg, value in (("l1", l1), ("l2", l2)):
            if not isinstance(value, Real) or isinstance(value, bool) or not value >= 0:
                name = kwargs.get("name") or "activity_regularization"
                raise ValueError(
                    f"Received an invalid value for `{arg}` of layer '{name}', expected a "
                    f"non-negative float. Received: {arg}={value!r}")
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1, self.l2 = float(l1), float(l2)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        return inputs, state

    def get_config(self):
        config = super().get_config()
        config.pop("activity_regularizer", None)
        return {**config, "l1": self.l1, "l2": self.l2}
