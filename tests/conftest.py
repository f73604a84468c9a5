import os

# Keras 3 is the numerical oracle; it must run on the JAX backend, on the CPU.
os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import random

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _seeded_global_rngs():
    """Every test starts from the same global random state (NumPy's and Python's), so weights
    kerasx draws without an explicit key (`next_rng_key`) do not depend on which tests ran
    before: a test gives the same result alone, in its file, or in the whole suite."""
    np.random.seed(1234)
    random.seed(1234)
    yield
