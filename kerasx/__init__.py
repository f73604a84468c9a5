"""kerasx: a Keras-style deep-learning frontend over JAX/XLA.

`import kerasx as keras` reads naturally: `keras.Sequential`, `keras.layers.Dense`,
`keras.optimizers.Adam`, ... Every model is also a pure JAX function:
`params, state = model.init(key, x)`; `y, state = model.apply(params, state, x)`.
"""

from . import activations as activations
from . import callbacks as callbacks
from . import config as config
from . import constraints as constraints
from . import datasets as datasets
from . import dtype_policies as dtype_policies
from . import initializers as initializers
from . import layers as layers
from . import losses as losses
from . import metrics as metrics
from . import mixed_precision as mixed_precision
from . import models as models
from . import ops as ops
from . import optimizers as optimizers
from . import random as random
from . import regularizers as regularizers
from . import saving as saving
from . import utils as utils
from ._remat import RematScope as RematScope
from ._remat import remat as remat
from .dtype_policies import DTypePolicy as DTypePolicy
from .dtype_policies import FloatDTypePolicy as FloatDTypePolicy
from .layers import Input as Input
from .models import Model as Model
from .models import Sequential as Sequential
from . import backend as backend
from . import tree as tree
from ._scopes import device as device
from ._scopes import name_scope as name_scope
from .initializers import Initializer as Initializer
from .layers import InputSpec as InputSpec
from .layers import KerasTensor as KerasTensor
from .layers import Layer as Layer
from .losses import Loss as Loss
from .metrics import Metric as Metric
from .optimizers import Optimizer as Optimizer
from .regularizers import Regularizer as Regularizer

__version__ = "0.1.0"


def version() -> str:
    """kerasx's version string (Keras's `keras.version()` gives Keras's)."""
    return __version__
