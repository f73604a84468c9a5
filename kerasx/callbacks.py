"""`kerasx.callbacks`: the public face of `kerasx.training.callbacks`."""

from .training.callbacks import *  # noqa: F401,F403
from .training.checkpoint import BackupAndRestore as BackupAndRestore  # noqa: E402
from .training.checkpoint import ModelCheckpoint as ModelCheckpoint  # noqa: E402
from .training.callbacks import OrbaxCheckpoint as OrbaxCheckpoint  # noqa: E402
from .training.tensorboard import TensorBoard as TensorBoard  # noqa: E402
