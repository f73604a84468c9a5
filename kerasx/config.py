"""`kerasx.config` (Keras 3's `keras.config`): the settings kerasx has.

kerasx runs on JAX only, computes in the dtypes of each layer's policy and lays images out
channels-last by default, so the backend, floatx, epsilon and image data format are fixed
values here; the dtype policy is the one global setting (as in Keras).
"""

from .dtype_policies import dtype_policy as dtype_policy
from .dtype_policies import set_dtype_policy as set_dtype_policy
from .utils._misc import disable_interactive_logging as disable_interactive_logging
from .utils._misc import enable_interactive_logging as enable_interactive_logging
from .utils._misc import is_interactive_logging_enabled as is_interactive_logging_enabled


def backend() -> str:
    """The backend: always "jax"."""
    return "jax"


def floatx() -> str:
    """The default float dtype of inputs and of the float32 policy: "float32"."""
    return "float32"


def epsilon() -> float:
    """The fuzz factor of Keras's losses and metrics: 1e-7."""
    return 1e-7


def image_data_format() -> str:
    """The default image layout of kerasx's layers: "channels_last"."""
    return "channels_last"
