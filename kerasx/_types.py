"""Type aliases shared across kerasx."""

from typing import Any, Optional, Tuple

import jax

Params = Any  # a pytree (nested dicts) of arrays: trainable weights
State = Any  # a pytree of arrays: non-trainable layer state (e.g. BatchNorm moving statistics)
PRNGKey = jax.Array
Shape = Tuple[Optional[int], ...]
Spec = Any  # a pytree of jax.ShapeDtypeStruct
