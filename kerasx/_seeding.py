"""Where kerasx draws a random key when the user passes none."""

import jax
import numpy as np


def next_rng_key():
    """Returns a fresh JAX PRNG key drawn from NumPy's global RNG.

    This is where kerasx gets a key when the user supplies none (weight creation, an eager
    `layer(x, training=True)` call); seed it with `kerasx.utils.set_random_seed`.

    Returns:
        A new-style typed `jax.random.key`.
    """
    return jax.random.key(np.random.randint(0, 2**31 - 1))
