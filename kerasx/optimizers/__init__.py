"""`kerasx.optimizers`: the public face of `kerasx.training.optimizers`.

Learning-rate schedules are in `kerasx.optimizers.schedules` (Keras's path).
"""

from ..training.optimizers import SGD as SGD
from ..training.optimizers import Adadelta as Adadelta
from ..training.optimizers import Adafactor as Adafactor
from ..training.optimizers import Adagrad as Adagrad
from ..training.optimizers import Adam as Adam
from ..training.optimizers import Adamax as Adamax
from ..training.optimizers import AdamW as AdamW
from ..training.optimizers import Ftrl as Ftrl
from ..training.optimizers import Lamb as Lamb
from ..training.optimizers import Lion as Lion
from ..training.optimizers import LossScaleOptimizer as LossScaleOptimizer
from ..training.optimizers import LossScaleState as LossScaleState
from ..training.optimizers import MultiOptimizer as MultiOptimizer
from ..training.optimizers import MultiOptimizerState as MultiOptimizerState
from ..training.optimizers import Muon as Muon
from ..training.optimizers import Nadam as Nadam
from ..training.optimizers import Optimizer as Optimizer
from ..training.optimizers import OptimizerMap as OptimizerMap
from ..training.optimizers import OptimizerState as OptimizerState
from ..training.optimizers import RMSprop as RMSprop
from ..training.optimizers import ScheduleFreeAdamW as ScheduleFreeAdamW
from ..training.optimizers import current_learning_rate as current_learning_rate
from ..training.optimizers import deserialize as deserialize
from ..training.optimizers import get as get
from ..training.optimizers import serialize as serialize
from ..training.optimizers import swap_ema_weights as swap_ema_weights
from . import schedules as schedules

__all__ = ["Optimizer", "OptimizerState", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad",
           "Adadelta", "Adafactor", "Adamax", "Ftrl", "Lamb", "Lion", "Muon", "Nadam",
           "ScheduleFreeAdamW", "LossScaleOptimizer", "LossScaleState", "OptimizerMap",
           "MultiOptimizer", "MultiOptimizerState", "current_learning_rate", "swap_ema_weights",
           "serialize", "deserialize", "get", "schedules"]
