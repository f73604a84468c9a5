"""`kerasx.utils`: Keras's utilities (data inputs, datasets from folders, files, images,
serialization scopes) and small host-side helpers: one-hot labels and global seeding.

kerasx keeps no hidden random state of its own. When a user does not pass an
explicit `jax.random` key, kerasx draws one with `next_rng_key()`, which reads
NumPy's global RNG; `set_random_seed(seed)` therefore makes those default keys
(and so model initialisation) reproducible.
"""

import os
import random

import jax
import numpy as np

from .._packing import pack_x_y_sample_weight as pack_x_y_sample_weight
from .._packing import unpack_x_y_sample_weight as unpack_x_y_sample_weight
from .._seeding import next_rng_key as next_rng_key
from ..training.plotting import plot_history as plot_history  # matplotlib: the "plot" extra
from ..datasets._get_file import get_file as get_file
from ..ops._core import standardize_dtype as standardize_dtype
from ..saving import deserialize_keras_object as deserialize_keras_object
from ..saving import get_custom_objects as get_custom_objects
from ..saving import get_registered_name as get_registered_name
from ..saving import get_registered_object as get_registered_object
from ..saving import register_keras_serializable as register_keras_serializable
from ..saving import serialize_keras_object as serialize_keras_object
from ..training.callbacks import Progbar as Progbar
from ._arrays import normalize as normalize
from ._arrays import pad_sequences as pad_sequences
from ._arrays import split_dataset as split_dataset
from ._arrays import timeseries_dataset_from_array as timeseries_dataset_from_array
from ._directory import audio_dataset_from_directory as audio_dataset_from_directory
from ._directory import image_dataset_from_directory as image_dataset_from_directory
from ._directory import text_dataset_from_directory as text_dataset_from_directory
from ._image import array_to_img as array_to_img
from ._image import img_to_array as img_to_array
from ._image import load_img as load_img
from ._image import save_img as save_img
from ._misc import Config as Config
from ._misc import CustomObjectScope as CustomObjectScope
from ._misc import clear_session as clear_session
from ._misc import custom_object_scope as custom_object_scope
from ._misc import disable_interactive_logging as disable_interactive_logging
from ._misc import enable_interactive_logging as enable_interactive_logging
from ._misc import get_source_inputs as get_source_inputs
from ._misc import is_interactive_logging_enabled as is_interactive_logging_enabled
from ._misc import is_keras_tensor as is_keras_tensor
from ._plot_model import model_to_dot as model_to_dot
from ._plot_model import plot_model as plot_model
from . import bounding_boxes as bounding_boxes
from ..training.py_dataset import PyDataset as PyDataset
from ..training.py_dataset import Sequence as Sequence

__all__ = ["Config", "CustomObjectScope", "Progbar", "PyDataset", "Sequence", "array_to_img",
           "audio_dataset_from_directory", "bounding_boxes", "clear_session", "custom_object_scope",
           "deserialize_keras_object", "disable_interactive_logging",
           "enable_compilation_cache", "enable_interactive_logging", "get_custom_objects",
           "get_file", "get_registered_name", "get_registered_object", "get_source_inputs",
           "image_dataset_from_directory", "img_to_array", "is_interactive_logging_enabled",
           "is_keras_tensor", "load_img", "model_to_dot", "next_rng_key", "normalize", "pack_x_y_sample_weight",
           "pad_sequences", "plot_history", "plot_model", "register_keras_serializable", "save_img",
           "serialize_keras_object", "set_random_seed", "split_dataset", "standardize_dtype",
           "text_dataset_from_directory", "timeseries_dataset_from_array", "to_categorical",
           "unpack_x_y_sample_weight"]


def to_categorical(x, num_classes=None):
    """Converts a class vector (integers) to a one-hot (binary class) matrix.

    Args:
        x: Array-like of integer class labels in `[0, num_classes)`. A trailing
            axis of size 1 (shape `(..., 1)`) is squeezed, as in Keras.
        num_classes: Total number of classes. If `None`, it is inferred as
            `max(x) + 1`.

    Returns:
        A float32 NumPy array of shape `x.shape + (num_classes,)` with the
        class axis last.

    Raises:
        ValueError: if `x` holds non-integer values, a negative label, or a
            label `>= num_classes`, or if `num_classes` is not a positive integer.

    Example:

    >>> to_categorical([0, 2, 1], num_classes=3)
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 1., 0.]], dtype=float32)
    """
    x = np.asarray(x)
    if x.dtype.kind not in "iub":
        if x.dtype.kind == "f" and np.all(np.isfinite(x)) and np.all(x == np.round(x)):
            x = x.astype(np.int64)
        else:
            raise ValueError(
                "Received an invalid value for `x` in `to_categorical`, expected "
                f"integer class labels. Received: x with dtype={x.dtype}"
            )
    x = x.astype(np.int64)
    input_shape = x.shape
    # Shrink the last dimension if the shape is (..., 1), as Keras does.
    if len(input_shape) > 1 and input_shape[-1] == 1:
        input_shape = input_shape[:-1]
    x = x.reshape(-1)

    if num_classes is None:
        if x.size == 0:
            raise ValueError(
                "Cannot infer `num_classes` from an empty `x`; pass "
                "`num_classes` explicitly. Received: x with shape "
                f"{np.shape(x)}"
            )
        num_classes = int(x.max()) + 1
    if isinstance(num_classes, (bool, np.bool_)) or not isinstance(
        num_classes, (int, np.integer)
    ) or num_classes < 1:
        raise ValueError(
            "Received an invalid value for `num_classes`, expected a positive "
            f"integer. Received: num_classes={num_classes!r}"
        )
    num_classes = int(num_classes)

    if x.size:
        lo, hi = int(x.min()), int(x.max())
        if lo < 0:
            raise ValueError(
                "Received an invalid value in `x`: class labels must be in "
                f"[0, {num_classes}). Received: a negative label {lo}"
            )
        if hi >= num_classes:
            raise ValueError(
                "Received an invalid value in `x`: class labels must be in "
                f"[0, num_classes) = [0, {num_classes}). Received: label {hi} "
                f">= num_classes={num_classes}"
            )

    categorical = np.zeros((x.shape[0], num_classes), dtype=np.float32)
    categorical[np.arange(x.shape[0]), x] = 1.0
    return categorical.reshape(tuple(input_shape) + (num_classes,))


def set_random_seed(seed):
    """Seeds Python's `random` and NumPy's global RNG.

    kerasx derives its default JAX keys from NumPy's global RNG (see
    `next_rng_key`), so after `set_random_seed(seed)` model initialisation and
    default dropout keys are deterministic. No other global state is touched.

    Args:
        seed: A non-negative integer.

    Raises:
        ValueError: if `seed` is not a non-negative integer.
    """
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(
            "Received an invalid value for `seed`, expected a non-negative "
            f"integer. Received: seed={seed!r}"
        )
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))  # NumPy's legacy seeding accepts [0, 2**32).


def enable_compilation_cache(path=None):
    """Turns on JAX's persistent compilation cache, so a new process reuses compiled programs.

    The first `fit` in a process spends most of its time-to-first-step compiling (seconds on a
    CPU); with the cache on, a later process that builds the same model with the same shapes
    loads the compiled programs from disk instead. This sets JAX's own settings
    (`jax_compilation_cache_dir`, and caches every program however quick its compile), which
    apply to the whole process. Setting the environment variable `JAX_COMPILATION_CACHE_DIR`
    before starting Python does the same without code.

    Args:
        path: the cache folder; defaults to `$KERASX_CACHE_DIR` or `~/.cache/kerasx/jax`.

    Returns:
        The absolute path of the cache folder.
    """
    path = path or os.environ.get("KERASX_CACHE_DIR") or os.path.join("~", ".cache", "kerasx", "jax")
    path = os.path.abspath(os.path.expanduser(str(path)))
    os.makedirs(path, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", path)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path
