"""Describing layers and models as JSON and rebuilding them (`kerasx.saving`).

    config = kerasx.saving.serialize(model)          # {"class_name", "config", "module", ...}
    same = kerasx.saving.deserialize(config, custom_objects={"MyLayer": MyLayer})

Custom layers and functions are found by name once registered:
`@kerasx.saving.register_keras_serializable(package="my_package")`.

Everything that reads or writes model and weight files lives here too (`_files`):
`kerasx.saving.save_model(model, path)` / `load_model(path)` (also `model.save`,
`kerasx.models.load_model`), and the weights files of `model.save_weights` / `load_weights`.
"""

from ._registry import get_custom_objects as get_custom_objects
from ._registry import get_registered_name as get_registered_name
from ._registry import get_registered_object as get_registered_object
from ._registry import register_keras_serializable as register_keras_serializable
from ._serialization import deserialize as deserialize
from ._serialization import deserialize_keras_object as deserialize_keras_object
from ._serialization import serialize as serialize
from ._serialization import serialize_keras_object as serialize_keras_object
from ._files import load_model as load_model
from ._files import save_model as save_model
