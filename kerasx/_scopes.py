"""Keras 3's top-level scopes: `kerasx.name_scope` and `kerasx.device`."""

import threading
from typing import List, Optional

import jax

_LOCAL = threading.local()


def _stack() -> List["name_scope"]:
    if not hasattr(_LOCAL, "stack"):
        _LOCAL.stack = []
    return _LOCAL.stack


class name_scope:
    """Opens a sub-namespace: a path prefix (`current_path()`) and a `jax.named_scope`.

    Ops traced inside carry the scope in their names (in the compiled program and in
    profiles), as with Keras's JAX backend. kerasx names a layer's weights by the keys of the
    containers that hold it (`"dense_1/kernel"`), not by the scopes open when the layer was
    created, so the scope does not rename weights.

    Args:
        name: the scope's name (a string without "/").
        caller: the object that opens the scope (for `deduplicate`).
        deduplicate: if the innermost scope has the same `caller` and `name`, do not open
            another.
        override_parent: an absolute path replacing the paths of the scopes around it.

    Example:
        with kerasx.name_scope("block1"):
            kerasx.name_scope.current_path()   # "block1"
    """

    def __init__(self, name: str, caller=None, deduplicate: bool = True,
                 override_parent: Optional[str] = None):
        if not isinstance(name, str) or "/" in name:
            raise ValueError("Argument `name` must be a string and cannot contain character "
                             f"`/`. Received: name={name}")
        self.name = name
        self.caller = caller
        self.deduplicate = deduplicate
        self.override_parent = override_parent
        if (override_parent is None and deduplicate
                and getattr(caller, "_parent_path", None) is not None):
            self.override_parent = caller._parent_path
        self._pop_on_exit = False
        self._jax_scope = None

    def __enter__(self):
        stack = _stack()
        if (self.deduplicate and stack and self.caller is not None
                and stack[-1].caller is self.caller and stack[-1].name == self.name):
            return self
        stack.append(self)
        self._pop_on_exit = True
        self._jax_scope = jax.named_scope(self.name)
        self._jax_scope.__enter__()
        return self

    def __exit__(self, *exc):
        if self._pop_on_exit:
            stack = _stack()
            if stack:
                stack.pop()
            self._jax_scope.__exit__(*exc)
            self._pop_on_exit = False

    @staticmethod
    def current_path() -> str:
        """The "/"-joined names of the open scopes ("" outside any)."""
        parts: List[str] = []
        for entry in _stack():
            if entry.override_parent is not None:
                parts = [p for p in entry.override_parent.split("/") if p]
            parts.append(entry.name)
        return "/".join(parts)


def current_path() -> str:
    """The "/"-joined names of the open `name_scope`s ("" outside any)."""
    return name_scope.current_path()


def _to_device(device_name) -> "jax.Device":
    if isinstance(device_name, jax.Device):
        return device_name
    if not isinstance(device_name, str):
        raise ValueError("Invalid value for argument `device_name`. Expected a string like "
                         f"'gpu:0' or a `jax.Device` instance. Received: "
                         f"device_name='{device_name}'")
    name = device_name.lower()
    kind, _, index = name.partition(":")
    try:
        devices = jax.devices(kind)
    except RuntimeError:
        devices = []
    try:
        index = int(index) if index else 0
    except ValueError:
        raise ValueError(f"Invalid device name: {device_name!r}. Expected 'cpu', 'gpu:1', "
                         "'tpu:0', ...") from None
    for dev in devices:
        if dev.id == index:
            return dev
    if 0 <= index < len(devices):
        return devices[index]
    available = ", ".join(f"{d.platform}:{d.id}" for d in jax.devices()) + \
        ("" if jax.default_backend() == "cpu" else ", cpu:0")
    raise ValueError(f"Device not found: {device_name}. Available: {available}")


def device(device_name):
    """A context manager that places arrays created inside on a device (`jax.default_device`).

    Args:
        device_name: "cpu", "gpu:1", "tpu:0", ... or a `jax.Device`.

    Returns:
        The context manager.

    Example:
        with kerasx.device("cpu"):
            x = kerasx.ops.ones((2, 3))   # on the CPU
    """
    return jax.default_device(_to_device(device_name))
