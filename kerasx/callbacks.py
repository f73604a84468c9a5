"""`kerasx.callbacks`: the public face of `kerasx.training.callbacks`."""

from .training.callbacks import *  # noqa: F401,F403
