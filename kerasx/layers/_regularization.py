"""Regularization layers: Dropout."""

from numbers import Real
from typing import Optional, Sequence

import jax
import jax.numpy as jnp

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
                f"Layer '{self.name}' (Dropout) has noise_shape={self.noise_shape}, which does "
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
