"""Describing layers and models as JSON and rebuilding them (`kerasx.saving`).

    config = kerasx.saving.serialize(model)          # {"class_name", "config", "module", ...}
    same = kerasx.saving.deserialize(config, custom_objects={"MyLayer": MyLayer})

Custom layers and functions are found by name once registered:
`@kerasx.saving.register_keras_serializable(package="my_package")`.

Everything that reads or writes model and weight files lives here too (`_files`):
`kerasx.saving.save_model(model, path)` / `load_model(path)` (also `model.save`,
`kerasx.models.load_model`), and the weights files of `model.save_weights` / `load_weights`.
Paths ending in `.keras` / `.weights.h5` are read and written in Keras 3's own formats
(`_keras_format`), so files go both ways between kerasx and Keras.
"""

from ._registry import get_custom_objects as get_custom_objects
from ._registry import get_registered_name as get_registered_name
from ._registry import get_registered_object as get_registered_object
from ._registry import register_keras_serializable as register_keras_serializable
from ._serialization import deserialize as deserialize
from ._serialization import deserialize_keras_object as deserialize_keras_object
from ._serialization import serialize as serialize
from ._serialization import serialize_keras_object as serialize_keras_object
from . import _files, _keras_format, _orbax


def save_model(model, filepath, overwrite: bool = True) -> None:
    """Saves a whole model: a path ending in `.keras` gets Keras 3's zip archive (which Keras
    loads too), any other kerasx's own safetensors file (suggested suffix `.kerasx`)."""
    if _keras_format.is_keras_model_path(filepath):
        return _keras_format.save_model(model, filepath, overwrite=overwrite)
    return _files.save_model(model, filepath, overwrite=overwrite)


def load_model(filepath, custom_objects=None, compile: bool = True):
    """Loads a model saved by `save_model`: a `.keras` archive (written by kerasx or by Keras 3,
    for the layers kerasx has), a kerasx file (whatever its suffix), or an orbax checkpoint
    directory written by `OrbaxCheckpoint` (kerasx's or Keras 3's; its latest step)."""
    if _orbax.is_orbax_checkpoint(filepath):
        return _orbax.load_model(filepath, custom_objects=custom_objects, compile=compile)
    if _keras_format.is_keras_model_path(filepath) and not _keras_format.is_kerasx_file(filepath):
        return _keras_format.load_model(filepath, custom_objects=custom_objects, compile=compile)
    return _files.load_model(filepath, custom_objects=custom_objects, compile=compile)


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Saves a model's weights: a path ending in `.weights.h5` gets Keras 3's HDF5 layout (which
    Keras loads too), any other kerasx's safetensors file (`.weights.safetensors`)."""
    if _keras_format.is_keras_model_path(filepath):
        raise ValueError("`save_weights` writes weights only: the filename must end in "
                         "`.weights.h5` (Keras's format) or `.weights.safetensors` (kerasx's); "
                         f"use `save` for a `.keras` model file. Received: filepath={filepath}")
    if _keras_format.is_keras_weights_path(filepath):
        return _keras_format.save_weights(model, filepath, overwrite=overwrite)
    return _files.save_weights(model, filepath, overwrite=overwrite)


def load_weights(model, filepath) -> None:
    """Loads weights into a model, all or nothing: from a Keras `.weights.h5` file or `.keras`
    archive (written by kerasx or Keras 3), from a kerasx weights file (whatever its
    suffix), or from an orbax checkpoint directory (`OrbaxCheckpoint`'s)."""
    if _orbax.is_orbax_checkpoint(filepath):
        return _orbax.load_weights(model, filepath)
    if (_keras_format.is_keras_weights_path(filepath) or _keras_format.is_keras_model_path(
            filepath)) and not _keras_format.is_kerasx_file(filepath):
        return _keras_format.load_weights(model, filepath)
    return _files.load_weights(model, filepath)


def is_unsafe_deserialization_enabled() -> bool:
    """Whether `kerasx.config.enable_unsafe_deserialization()` was called."""
    from .. import _settings
    return _settings.UNSAFE_DESERIALIZATION


# `CustomObjectScope` lives with kerasx.utils (which imports kerasx.layers, which import this
# package): exposed here when first asked for.
_FROM_UTILS = ("CustomObjectScope", "custom_object_scope")


def __getattr__(name):
    if name in _FROM_UTILS:
        from ..utils import _misc
        return getattr(_misc, name)
    raise AttributeError(f"module 'kerasx.saving' has no attribute '{name}'")


def __dir__():
    return sorted(list(globals()) + list(_FROM_UTILS))
