"""`kerasx.metrics`: the public face of `kerasx.training.metrics`."""

from .training.metrics import *  # noqa: F401,F403
from .training.metrics import get as get  # noqa: F401
