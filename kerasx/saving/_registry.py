"""The registry of custom serializable objects (Keras's `register_keras_serializable`).

This module holds the only global state of kerasx, as Keras does: two small dicts filled by the
`@register_keras_serializable()` decorator at import time of the user's code, and never by
kerasx itself. They map a registered name `"package>name"` to the class or function, and back.
Everything else about (de)serialization is passed explicitly (`custom_objects=`).
"""

import inspect
from typing import Any, Callable, Dict, Optional

# "package>name" -> the registered class or function.
_GLOBAL_CUSTOM_OBJECTS: Dict[str, Any] = {}
# the registered class or function -> "package>name".
_GLOBAL_CUSTOM_NAMES: Dict[Any, str] = {}


def register_keras_serializable(package: str = "Custom", name: Optional[str] = None) -> Callable:
    """Registers a class or function with kerasx serialization, under `"package>name"`.

    A registered custom layer (or activation, or initializer) is found again by name when a
    config or JSON that uses it is loaded, without passing `custom_objects=`. Classes must have
    a `get_config()` method (every `kerasx.layers.Layer` has one); functions need nothing.
    Registering the same name again replaces the earlier object (e.g. a redefined class).

    Args:
        package: the package the object belongs to; the first part of the registered name.
        name: the name within the package; defaults to the object's `__name__`.

    Returns:
        A decorator that registers its argument and returns it unchanged.

    Example:
        >>> @kerasx.saving.register_keras_serializable(package="MyLayers")
        ... class Scale(kerasx.layers.Layer):
        ...     def __init__(self, factor=2.0, **kwargs):
        ...         super().__init__(**kwargs)
        ...         self.factor = factor
        ...     def apply(self, params, state, x, *, training=False, rng=None):
        ...         return x * self.factor, state
        ...     def get_config(self):
        ...         return {**super().get_config(), "factor": self.factor}
        >>> kerasx.saving.get_registered_name(Scale)
        'MyLayers>Scale'
    """
    if not isinstance(package, str) or not package or ">" in package:
        raise ValueError(
            "Expected `package` to be a non-empty string without '>', e.g. "
            f"@register_keras_serializable(package='my_package'). Received: package={package!r}"
        )

    def decorator(arg):
        object_name = name if name is not None else getattr(arg, "__name__", None)
        if not object_name:
            raise ValueError(
                f"Cannot register {arg!r}: it has no `__name__`; pass one, e.g. "
                "@register_keras_serializable(package='my_package', name='my_object')."
            )
        if inspect.isclass(arg) and not hasattr(arg, "get_config"):
            raise ValueError(
                f"Cannot register class '{arg.__name__}': it has no get_config() method. "
                "Serializable classes must describe their constructor arguments with "
                "`get_config()` (subclass `kerasx.layers.Layer` to get one)."
            )
        registered_name = f"{package}>{object_name}"
        _GLOBAL_CUSTOM_OBJECTS[registered_name] = arg
        _GLOBAL_CUSTOM_NAMES[arg] = registered_name
        return arg

    return decorator


def get_registered_name(obj: Any) -> str:
    """The name `obj` is registered under (`"package>name"`), or its `__name__` if it is not
    registered."""
    try:
        if obj in _GLOBAL_CUSTOM_NAMES:
            return _GLOBAL_CUSTOM_NAMES[obj]
    except TypeError:  # unhashable
        pass
    return getattr(obj, "__name__", type(obj).__name__)


def get_registered_object(name: str, custom_objects: Optional[Dict[str, Any]] = None,
                          module_objects: Optional[Dict[str, Any]] = None) -> Any:
    """The class or function registered as `name`, else found in `custom_objects`, else in
    `module_objects`; None if none has it (Keras's lookup order)."""
    if name in _GLOBAL_CUSTOM_OBJECTS:
        return _GLOBAL_CUSTOM_OBJECTS[name]
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


def get_custom_objects() -> Dict[str, Any]:
    """The live global registry dict (`"package>name"` -> object), as Keras's
    `get_custom_objects()`; prefer the decorator to editing it."""
    return _GLOBAL_CUSTOM_OBJECTS
