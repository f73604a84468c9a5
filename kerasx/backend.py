"""`kerasx.backend` (Keras 3's `keras.backend`): the backend-level settings and dtype helpers.

kerasx has one backend, JAX; the settings are those of `kerasx.config`.
"""

import collections

from .config import backend as backend
from .config import epsilon as epsilon
from .config import floatx as floatx
from .config import image_data_format as image_data_format
from .config import set_epsilon as set_epsilon
from .config import set_floatx as set_floatx
from .config import set_image_data_format as set_image_data_format
from .ops._core import result_type as result_type
from .ops._core import standardize_dtype as standardize_dtype
from .utils import clear_session as clear_session
from .utils import is_keras_tensor as is_keras_tensor

_UIDS = collections.defaultdict(int)


def get_uid(prefix: str = "") -> int:
    """A counter per `prefix`: 1 on the first call with a prefix, then 2, 3, ...

    Args:
        prefix: the name the counter is kept under.
    """
    _UIDS[prefix] += 1
    return _UIDS[prefix]


def is_float_dtype(dtype) -> bool:
    """Whether `dtype` (a name, dtype or Python type) is a floating dtype (bfloat16 included)."""
    name = standardize_dtype(dtype)
    return name.startswith("float") or name.startswith("bfloat")


def is_int_dtype(dtype) -> bool:
    """Whether `dtype` (a name, dtype or Python type) is a signed or unsigned integer dtype."""
    name = standardize_dtype(dtype)
    return name.startswith("int") or name.startswith("uint")
