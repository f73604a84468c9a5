"""Masking: marks the timesteps whose features all equal `mask_value` as padding (Keras 3's
`keras.layers.Masking`)."""

from numbers import Real

import jax.numpy as jnp

from ._base import Layer, shape_str


class Masking(Layer):
    """Masks the timesteps whose features all equal `mask_value`, for the layers after it.

    A timestep `t` of sample `b` is masked when `inputs[b, t, :] == mask_value` everywhere;
    masked timesteps are set to 0 in the output, and the mask (shape `inputs.shape[:-1]`,
    True = keep) flows to the next layers that take one (recurrent layers skip masked steps).

    Args:
        mask_value: the padding value (default 0.0).

    Input shape:
        Any shape of rank >= 2, e.g. `(batch, timesteps, features)`.
    Output shape:
        The input's shape and dtype.
    """

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        if isinstance(mask_value, bool) or not isinstance(mask_value, Real):
            raise ValueError(
                f"Layer '{self.name}' (Masking) expects `mask_value` to be a number. "
                f"Received: mask_value={mask_value!r}")
        self.mask_value = mask_value

    def _keep(self, inputs, keepdims=False):
        return jnp.any(inputs != jnp.asarray(self.mask_value, inputs.dtype), axis=-1,
                       keepdims=keepdims)

    def init(self, rng, input_spec):
        self._check_rank(input_spec, range(2, 64))
        return {}, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        if inputs.ndim < 2:
            raise ValueError(
                f"Layer '{self.name}' (Masking) expects inputs of rank >= 2 (batch axis "
                f"included). Received: shape {shape_str(inputs.shape)}")
        keep = self._keep(inputs, keepdims=True)
        return jnp.where(keep, inputs, jnp.zeros_like(inputs)), state

    def compute_mask(self, inputs, previous_mask=None):
        return self._keep(inputs)

    def get_config(self):
        return {**super().get_config(), "mask_value": self.mask_value}
