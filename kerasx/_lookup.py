"""Keras's small callable objects (regularizers, constraints): their config protocol, and
resolving their identifiers (None, a name, a serialized dict, an instance or a callable)."""

from typing import Any, Callable, Dict, Optional

from .saving._registry import get_registered_object
from .saving._serialization import deserialize, serialize


class Configurable:
    """The config protocol of Keras's small callable objects (regularizers, constraints):
    `get_config()` gives the constructor arguments, `from_config(config)` rebuilds."""

    def get_config(self) -> Dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def get_object(identifier: Any, names: Dict[str, type], classes: Dict[str, type], kind: str,
               signature: str, deserialize: Callable) -> Optional[Callable]:
    """The object `identifier` stands for.

    Args:
        identifier: None, a snake-case name (`names`, case-insensitive), a class name
            (`classes`), a registered name ('package>name'), a serialized dict, an instance or
            any callable.
        kind: what it is, for errors ("regularizer"); signature: its call, e.g. "x -> scalar".
        deserialize: rebuilds a serialized dict.
    """
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = names.get(identifier.lower()) or classes.get(identifier)
        if cls is None:
            cls = get_registered_object(identifier)
        if cls is None:
            raise ValueError(
                f"Unknown {kind}: '{identifier}'. Expected one of {sorted(names)}, a registered "
                f"name ('package>name'), an instance or a callable {signature}.")
        return cls() if isinstance(cls, type) else cls
    if callable(identifier):
        return identifier
    raise TypeError(
        f"Expected a {kind} (a name, an instance or a callable). Received: {identifier!r} of "
        f"type {type(identifier).__name__}")


def serialize_object(obj) -> Any:
    """Keras 3's dict for `obj` (`kerasx.saving.serialize`)."""
    return serialize(obj)


def deserialize_object(config, custom_objects, get: Callable):
    """The object `config` describes; a string is looked up with `get`."""
    if isinstance(config, str):
        return get(config)
    return deserialize(config, custom_objects)
