"""`kerasx.losses`: the public face of `kerasx.training.losses`."""

from .training.losses import *  # noqa: F401,F403
from .training.losses import get as get  # noqa: F401
