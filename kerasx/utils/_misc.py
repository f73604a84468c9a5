"""Smaller `keras.utils` pieces: custom object scopes, symbolic-tensor helpers, session and
logging switches, and `Config`."""

import copy
import difflib
import gc
import json
import logging

import jax

from ..layers import KerasTensor
from ..saving import get_custom_objects

__all__ = ["Config", "CustomObjectScope", "clear_session", "custom_object_scope",
           "disable_interactive_logging", "enable_interactive_logging", "get_source_inputs",
           "is_interactive_logging_enabled", "is_keras_tensor", "print_msg"]


class CustomObjectScope:
    """Exposes custom classes/functions to (de)serialization within a `with` block.

    Inside the scope, `kerasx.saving.deserialize`, `load_model` and the other loaders find
    the objects by name as if they had been registered (the entries are added to the global
    registry, `get_custom_objects()`, and the previous entries restored on exit).

    Args:
        custom_objects: Dictionaries `{name: class_or_function}` (several may be given).

    Example:

    ```python
    with kerasx.utils.custom_object_scope({"MyLayer": MyLayer}):
        model = kerasx.saving.load_model("model.keras")
    ```
    """

    def __init__(self, *custom_objects):
        for objects in custom_objects:
            if objects is not None and not isinstance(objects, dict):
                raise TypeError("`custom_object_scope` expects dictionaries "
                                f"{{name: object}}. Received: {objects!r:.100}")
        self.custom_objects = custom_objects
        self._backup = None

    def __enter__(self):
        registry = get_custom_objects()
        self._backup = dict(registry)
        for objects in self.custom_objects:
            registry.update(objects or {})
        return self

    def __exit__(self, *args, **kwargs):
        registry = get_custom_objects()
        registry.clear()
        registry.update(self._backup)


custom_object_scope = CustomObjectScope  # Keras's function-style alias


def is_keras_tensor(x):
    """Whether `x` is a symbolic `KerasTensor` (what `kerasx.Input` and layer calls on it
    return), not a concrete array."""
    return isinstance(x, KerasTensor)


def get_source_inputs(tensor):
    """Returns the list of input tensors necessary to compute `tensor`.

    Args:
        tensor: A symbolic tensor (anything else is returned as is, as in Keras).

    Returns:
        The `Input` tensors of the graph that `tensor` was computed from, in order of first
        use, without duplicates.
    """
    if not isinstance(tensor, KerasTensor):
        return tensor
    node = tensor.node
    if node is None:
        return [tensor]
    inputs = node.input_tensors
    if not inputs:  # an Input: the node of an InputLayer has no inputs
        return node.output_tensors
    sources = []
    for t in inputs:
        for s in get_source_inputs(t):
            if all(s is not u for u in sources):
                sources.append(s)
    return sources


def clear_session(free_memory=True):
    """Frees memory held by earlier models: Python garbage and JAX's compiled programs.

    kerasx keeps no global graph or name counters (layer names are made unique per model),
    so nothing else needs resetting.

    Args:
        free_memory: Whether to run the garbage collector and clear JAX's caches of compiled
            programs (the next call of each function compiles again).
    """
    if free_memory:
        gc.collect()
        jax.clear_caches()


_INTERACTIVE_LOGGING = {"enabled": True}


def enable_interactive_logging():
    """Turns on interactive logging: `print_msg` writes messages to stdout."""
    _INTERACTIVE_LOGGING["enabled"] = True


def disable_interactive_logging():
    """Turns off interactive logging: `print_msg` sends messages to the `logging` module
    (logger "kerasx", level INFO)."""
    _INTERACTIVE_LOGGING["enabled"] = False


def is_interactive_logging_enabled():
    """Whether interactive logging (messages to stdout) is on (the default)."""
    return _INTERACTIVE_LOGGING["enabled"]


def print_msg(message, line_break=True):
    """Prints `message` to stdout, or logs it when interactive logging is off."""
    if is_interactive_logging_enabled():
        print(message, end="\n" if line_break else "", flush=True)
    else:
        logging.getLogger("kerasx").info(message)


class Config:
    """A dict-like configuration whose entries are also attributes (Keras's `Config`).

    Args:
        **kwargs: The initial entries.

    Example:

    >>> config = Config(learning_rate=0.1, momentum=0.9)
    >>> config.learning_rate
    0.1
    >>> config.freeze()  # any change now raises a ValueError
    """

    _OWN = ("_config", "_frozen")

    def __init__(self, **kwargs):
        object.__setattr__(self, "_config", dict(kwargs))
        object.__setattr__(self, "_frozen", False)

    @property
    def frozen(self):
        """Whether the config is frozen (read-only)."""
        return self._frozen

    def freeze(self):
        """Marks the config as frozen, preventing any later modification."""
        object.__setattr__(self, "_frozen", True)

    def unfreeze(self):
        """Makes a frozen config modifiable again."""
        object.__setattr__(self, "_frozen", False)

    def _raise_if_frozen(self):
        if self._frozen:
            raise ValueError("Cannot mutate attribute(s) because the config is frozen.")

    def as_dict(self):
        return copy.copy(self._config)

    def to_json(self):
        return json.dumps(self._config)

    def keys(self):
        return self._config.keys()

    def values(self):
        return self._config.values()

    def items(self):
        return self._config.items()

    def pop(self, *args):
        self._raise_if_frozen()
        return self._config.pop(*args)

    def update(self, *args, **kwargs):
        self._raise_if_frozen()
        return self._config.update(*args, **kwargs)

    def get(self, keyname, value=None):
        return self._config.get(keyname, value)

    def __setattr__(self, name, value):
        if name in self._OWN or hasattr(type(self), name):
            return object.__setattr__(self, name, value)
        self._raise_if_frozen()
        self._config[name] = value

    def __getattr__(self, name):
        if name.startswith("__") or name in self._OWN:
            raise AttributeError(name)
        config = object.__getattribute__(self, "_config")
        if name in config:
            return config[name]
        msg = f"Unknown attribute: '{name}'."
        close = difflib.get_close_matches(name, config.keys(), n=1, cutoff=0.7)
        if close:
            msg += f" Did you mean '{close[0]}'?"
        raise AttributeError(msg)

    def __setitem__(self, key, item):
        self._raise_if_frozen()
        self._config[key] = item

    def __getitem__(self, key):
        return self._config[key]

    def __repr__(self):
        return f"<Config {self._config}>"

    def __iter__(self):
        return iter(sorted(self._config.keys()))

    def __len__(self):
        return len(self._config)

    def __delitem__(self, key):
        self._raise_if_frozen()
        del self._config[key]

    def __contains__(self, item):
        return item in self._config
