"""`kerasx.optimizers`: the public face of `kerasx.training.optimizers`.

Learning-rate schedules are in `kerasx.optimizers.schedules` (Keras's path).
"""

from ..training.optimizers import SGD as SGD
from ..training.optimizers import Adagrad as Adagrad
from ..training.optimizers import Adam as Adam
from ..training.optimizers import AdamW as AdamW
from ..training.optimizers import Optimizer as Optimizer
from ..training.optimizers import OptimizerState as OptimizerState
from ..training.optimizers import RMSprop as RMSprop
from ..training.optimizers import current_learning_rate as current_learning_rate
from ..training.optimizers import get as get
from . import schedules as schedules

__all__ = ["Optimizer", "OptimizerState", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad",
           "current_learning_rate", "get", "schedules"]
