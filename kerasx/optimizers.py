"""`kerasx.optimizers`: the public face of `kerasx.training.optimizers`."""

from .training.optimizers import *  # noqa: F401,F403
from .training.optimizers import get as get  # noqa: F401
