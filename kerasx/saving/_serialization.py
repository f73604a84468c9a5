"""`serialize`/`deserialize`: layers, models, activations and initializers as JSON-ready dicts.

The format is Keras 3's:

    {"module": "kerasx.layers", "class_name": "Dense", "config": {...}, "registered_name": None}

- a class instance is rebuilt with `cls.from_config(config)` (models also get `custom_objects`);
- a function is `{"class_name": "function", "config": "<its registered name or __name__>"}`;
- a class or function is found, in this order, in the registry (`register_keras_serializable`),
  in `custom_objects`, then among kerasx's built-ins. kerasx never imports a module named in a
  config, so loading a config runs no code but the classes already known.

Configs written by Keras 3 itself (`keras_model.to_json()`) load too, for the layers kerasx has:
Keras's module names, dtype policies and Keras-only arguments left at their defaults are accepted.
"""

import inspect
import json
import types
from typing import Any, Dict, Optional

import numpy as np

from ._registry import get_registered_name, get_registered_object

CustomObjects = Optional[Dict[str, Any]]


# --------------------------------------------------------------------------------- built-ins
def _builtin_tables():
    """{name: object} for kerasx's public layers, models, initializers and activations."""
    from .. import activations, constraints, initializers, layers, models, regularizers
    from ..layers._base import Layer

    layer_table = {k: v for k, v in vars(layers).items()
                   if isinstance(v, type) and issubclass(v, Layer) and not k.startswith("_")}
    model_table = {"Sequential": models.Sequential, "Functional": models.Functional,
                   "Model": models.Functional}
    init_table = {cls.__name__: cls for cls in initializers._INITIALIZERS.values()}
    init_table.update(initializers._LONG_NAMES)  # Keras 3 also writes these spellings
    init_table.update(regularizers._CLASSES)   # no name clashes between these three
    init_table.update(constraints._CLASSES)
    return layer_table, model_table, init_table, dict(activations._ACTIVATIONS)


def _builtin_module(cls) -> Optional[str]:
    """The public kerasx module of a built-in class ("kerasx.layers", ...), or None."""
    if not getattr(cls, "__module__", "").startswith("kerasx."):
        return None
    layer_table, model_table, init_table, _ = _builtin_tables()
    for module, table in (("kerasx.models", model_table), ("kerasx.layers", layer_table),
                          ("kerasx.initializers", init_table)):
        if table.get(cls.__name__) is cls:
            if module == "kerasx.initializers":  # regularizers and constraints share the table
                module = cls.__module__
            return module
    return None


def _is_keras_module(module: Optional[str]) -> bool:
    """Whether a config's module allows kerasx's built-ins: none given (legacy configs), a kerasx
    module, or a Keras one (configs written by Keras)."""
    return module is None or module == "builtins" or module == "keras" or module.startswith(
        ("keras.", "kerasx"))


# --------------------------------------------------------------------------------- serialize
def _is_function(obj) -> bool:
    return isinstance(obj, (types.FunctionType, types.BuiltinFunctionType, np.ufunc)) or (
        callable(obj) and not hasattr(obj, "get_config") and hasattr(obj, "__name__")
        and not inspect.isclass(obj))


def serialize_function(fn) -> Dict[str, Any]:
    """A function as `{"module", "class_name": "function", "config": name, "registered_name"}`,
    where name is its registered name (`"package>name"`) or its `__name__`."""
    name = get_registered_name(fn)
    return {"module": getattr(fn, "__module__", None), "class_name": "function",
            "config": name, "registered_name": name}


def _serialize_value(value):
    """Turns nested objects inside a config (layers, functions, NumPy scalars) into plain data."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        return {k: _serialize_value(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(_serialize_value(v) for v in value)
    if isinstance(value, list):
        return [_serialize_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.dtype):
        return value.name
    if hasattr(value, "get_config") or callable(value):
        return serialize(value)
    return value


def serialize(obj: Any) -> Any:
    """Describes a layer, model, initializer or function as a JSON-ready dict.

    Args:
        obj: a kerasx layer or model (or a custom one), an initializer, or a function; None and
            plain values are returned as they are.

    Returns:
        `{"module", "class_name", "config", "registered_name"}` (Keras 3's format). For a
        function, `config` is its registered name (or `__name__`).

    Raises:
        TypeError: for an object that has no `get_config()` and is not a named function.
    """
    if obj is None or isinstance(obj, (str, bool, int, float)):
        return obj
    if isinstance(obj, (list, tuple, dict, np.generic, np.ndarray, np.dtype)):
        return _serialize_value(obj)
    if inspect.isclass(obj):
        raise TypeError(
            f"`serialize` describes instances (a layer, a model, an initializer) or functions; "
            f"it received the class {obj.__name__} itself. Pass an instance, e.g. "
            f"serialize({obj.__name__}(...))."
        )
    if not hasattr(obj, "get_config") and _is_function(obj):
        return serialize_function(obj)
    if not hasattr(obj, "get_config"):
        raise TypeError(
            f"Cannot serialize {obj!r} of type {type(obj).__name__}: it has no `get_config()` "
            "method and is not a named function. Use a function defined with `def` (registered "
            "with @kerasx.saving.register_keras_serializable()) or a class with `get_config()`."
        )
    config = obj.get_config()
    if not isinstance(config, dict):
        raise TypeError(
            f"The `get_config()` method of {type(obj).__name__} should return a dict. "
            f"Received: {config!r}"
        )
    cls = type(obj)
    module = _builtin_module(cls)
    return {"module": module or cls.__module__, "class_name": cls.__name__,
            "config": _serialize_value(config),
            "registered_name": None if module else get_registered_name(cls)}


# --------------------------------------------------------------------------------- deserialize
def _unknown(kind: str, name: str, module: Optional[str], registered_name: Optional[str]):
    where = f" (module '{module}'" + (f", registered name '{registered_name}'"
                                      if registered_name and registered_name != name else "") + ")"
    short = name.split(">")[-1]
    if name == "<lambda>":
        return ValueError(
            "Cannot rebuild a lambda function from a config: a config stores only a function's "
            "name. Define the function with `def`, decorate it with "
            "`@kerasx.saving.register_keras_serializable()`, and build the model with it."
        )
    return ValueError(
        f"Unknown {kind} '{name}'{where if module else ''}: it is not a kerasx built-in and was "
        f"not found among the registered objects or `custom_objects`. Pass it to the loader, "
        f"e.g. `custom_objects={{'{short}': {short}}}`, or decorate it with "
        f"`@kerasx.saving.register_keras_serializable()` before loading."
    )


def _lookup_custom(names, custom_objects: CustomObjects):
    """The first of `names` found in the registry or `custom_objects` (also as the part after
    'package>', and as a 'package>name' key ending with the name)."""
    names = [n for n in names if isinstance(n, str) and n]
    for n in names:
        obj = get_registered_object(n, custom_objects)
        if obj is not None:
            return obj
    if custom_objects:
        for n in names:
            short = n.split(">")[-1]
            if short in custom_objects:
                return custom_objects[short]
            for key, obj in custom_objects.items():
                if key.endswith(">" + short):
                    return obj
    return None


def _retrieve_function(name: Any, module: Optional[str], custom_objects: CustomObjects):
    if not isinstance(name, str):
        raise TypeError(f"Expected the config of a function to be its name (a string). "
                        f"Received: {name!r}")
    fn = _lookup_custom([name], custom_objects)
    if fn is not None:
        return fn
    if _is_keras_module(module):
        activation_table = _builtin_tables()[3]
        if name in activation_table:
            return activation_table[name]
    raise _unknown("function", name, module, None)


def _retrieve_class(class_name: str, registered_name: Optional[str], module: Optional[str],
                    custom_objects: CustomObjects):
    cls = _lookup_custom([registered_name, class_name], custom_objects)
    if cls is not None:
        return cls
    if _is_keras_module(module):
        layer_table, model_table, init_table, _ = _builtin_tables()
        tables = (init_table, model_table, layer_table) if module and any(
            m in module for m in ("initializers", "regularizers", "constraints")) \
            else (model_table, layer_table, init_table)
        for table in tables:
            if class_name in table:
                return table[class_name]
    raise _unknown("class", class_name, module, registered_name)


def _is_serialized(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("class_name"), str) and "config" in value


# Config keys whose string values may name an object of `custom_objects` (Keras 2 style).
def _names_callable(key: str) -> bool:
    return key == "activation" or key.endswith(("_activation", "_initializer"))


def _resolve_config(config: Dict[str, Any], custom_objects: CustomObjects) -> Dict[str, Any]:
    """Rebuilds the serialized objects a layer config holds (activations, initializers, nested
    layers) with `custom_objects`, so that `from_config` receives ready objects."""
    from ..layers._base import standardize_dtype_config

    out = {}
    for key, value in config.items():
        if key == "dtype":
            value = standardize_dtype_config(value)
        elif _is_serialized(value):
            value = deserialize(value, custom_objects)
        elif isinstance(value, list) and value and all(_is_serialized(v) for v in value):
            value = [deserialize(v, custom_objects) for v in value]
        elif (isinstance(value, str) and custom_objects and value in custom_objects
              and _names_callable(key)):
            value = custom_objects[value]
        out[key] = value
    return out


def _takes_custom_objects(method) -> bool:
    try:
        return "custom_objects" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


def deserialize(config: Any, custom_objects: CustomObjects = None) -> Any:
    """Rebuilds a layer, model, initializer or function from `serialize`'s dict.

    Args:
        config: a dict `{"class_name", "config", "module"?, "registered_name"?}` (an object that
            is already rebuilt, or None, is returned as it is; a string is looked up as the
            name of a registered or custom object, or of a kerasx activation).
        custom_objects: optional `{name: class_or_function}` for custom objects that are not
            registered with `@kerasx.saving.register_keras_serializable()`.

    Returns:
        The rebuilt object.

    Raises:
        ValueError: for a class or function that is neither a kerasx built-in nor registered
            nor in `custom_objects`; the message shows both remedies.
    """
    if config is None:
        return None
    if isinstance(config, str):
        obj = _lookup_custom([config], custom_objects)
        if obj is None:
            obj = _builtin_tables()[3].get(config)
        if obj is None:
            raise _unknown("object", config, None, None)
        return obj
    if not isinstance(config, dict):
        return config
    if not isinstance(config.get("class_name"), str) or "config" not in config:
        raise ValueError(
            "Expected a serialized object: a dict with 'class_name' and 'config' keys, as "
            f"`kerasx.saving.serialize` returns. Received a dict with keys {sorted(config)}."
        )
    class_name, inner = config["class_name"], config["config"]
    module = config.get("module")
    if class_name == "function":
        return _retrieve_function(inner, module, custom_objects)
    if class_name == "__tuple__":
        return tuple(deserialize(v, custom_objects) if _is_serialized(v) else v
                     for v in inner["value"])
    cls = _retrieve_class(class_name, config.get("registered_name"), module, custom_objects)
    if isinstance(cls, types.FunctionType):
        return cls
    if not hasattr(cls, "from_config"):
        raise TypeError(
            f"Cannot rebuild '{class_name}' from its config: the class has no `from_config` "
            "classmethod."
        )
    if not isinstance(inner, dict) and not (isinstance(inner, list) and _takes_custom_objects(
            cls.from_config)):
        raise TypeError(f"Expected the 'config' of '{class_name}' to be a dict. Received: {inner!r}")
    if _takes_custom_objects(cls.from_config):
        return cls.from_config(inner, custom_objects=custom_objects)
    return cls.from_config(_resolve_config(inner, custom_objects))


# Keras's names for the same two functions.
serialize_keras_object = serialize
deserialize_keras_object = deserialize


# --------------------------------------------------------------------------------- JSON
def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.dtype):
        return obj.name
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable: {obj!r}")


def to_json(obj: Any, **kwargs) -> str:
    """`json.dumps(serialize(obj))`; `kwargs` go to `json.dumps` (e.g. `indent=2`)."""
    return json.dumps(serialize(obj), default=_json_default, **kwargs)


def model_from_json(json_string: str, custom_objects: CustomObjects = None):
    """Rebuilds a model (or layer) from the JSON that `model.to_json()` returns.

    The model has the same architecture and fresh weights; copy weights with
    `new.set_weights(old.get_weights())`. JSON written by Keras 3's `to_json()` loads too, for
    the layers kerasx has.

    Args:
        json_string: the JSON text.
        custom_objects: optional `{name: class_or_function}` for unregistered custom layers and
            activations.

    Returns:
        A kerasx model (`Sequential` or functional `Model`).
    """
    try:
        config = json.loads(json_string)
    except (TypeError, json.JSONDecodeError) as e:
        raise ValueError(f"`model_from_json` expects the JSON text of a model config: {e}") from e
    return deserialize(config, custom_objects=custom_objects)
