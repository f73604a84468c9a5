"""Dtype policies (Keras 3's `keras.dtype_policies`): the dtypes a layer computes and keeps its
weights in.

A policy is named by a dtype (`"float32"`, `"bfloat16"`, ...: both dtypes the same) or by
`"mixed_float16"` / `"mixed_bfloat16"` (compute in 16 bits, weights in float32). Every layer has
one: its `dtype=` argument (a policy, a name or a policy config), or else the global policy,
which `set_dtype_policy` sets (the one piece of global state Keras itself has here).

Where the layer protocol calls a layer (`kerasx.layers._base.apply_layer`), its floating inputs
are cast to the compute dtype and, under a mixed policy, its weights too (except those it marks
as kept in float32, such as normalization statistics); state updates are cast back to the
weights' dtype. Nothing else in kerasx casts.
"""

from typing import Any, Optional

import jax.numpy as jnp
import numpy as np

__all__ = ["DTypePolicy", "FloatDTypePolicy", "dtype_policy", "set_dtype_policy", "get",
           "serialize", "deserialize"]

_MIXED = {"mixed_float16": ("float16", "float32"), "mixed_bfloat16": ("bfloat16", "float32")}


def _parse(name: Any):
    if not isinstance(name, str):
        raise TypeError("A dtype policy's name must be a string, such as 'mixed_bfloat16'. "
                        f"Received: name={name!r} (of type {type(name).__name__})")
    if name in _MIXED:
        return _MIXED[name]
    try:
        dtype = np.dtype(jnp.dtype(name)).name
    except TypeError:
        dtype = None
    if dtype != name:
        raise ValueError(
            f"Cannot convert '{name}' to a dtype policy. Valid policies are 'mixed_float16', "
            "'mixed_bfloat16' and the name of a dtype such as 'float32', 'bfloat16' or "
            "'float16'.")
    return dtype, dtype


class DTypePolicy:
    """The compute and variable dtypes of a layer.

    Args:
        name: `"float32"`, `"bfloat16"`, `"float16"` (or another dtype name: both dtypes the same),
            `"mixed_bfloat16"` or `"mixed_float16"` (compute in 16 bits, variables in float32).
            None takes the global policy's name.
    """

    def __init__(self, name: Optional[str] = None):
        if name is None:
            name = dtype_policy().name
        self._compute_dtype, self._variable_dtype = _parse(name)
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def compute_dtype(self) -> str:
        """The dtype of the layer's inputs, computations and outputs."""
        return self._compute_dtype

    @property
    def variable_dtype(self) -> str:
        """The dtype the layer creates its weights in."""
        return self._variable_dtype

    @property
    def is_mixed(self) -> bool:
        """Whether weights are kept in a wider dtype than the computation uses."""
        return self._compute_dtype != self._variable_dtype

    @property
    def quantization_mode(self):
        return None  # kerasx has no quantized policies

    def get_config(self):
        return {"name": self._name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and other.name == self.name

    def __hash__(self):
        return hash(self._name)

    def __repr__(self):
        return f'<DTypePolicy "{self._name}">'


class FloatDTypePolicy(DTypePolicy):
    """Keras 3's other name for `DTypePolicy`."""


_GLOBAL = [None]  # the global policy; None means float32


def dtype_policy() -> DTypePolicy:
    """The global dtype policy: the policy of layers created without `dtype=`."""
    if _GLOBAL[0] is None:
        _GLOBAL[0] = DTypePolicy("float32")
    return _GLOBAL[0]


def set_dtype_policy(policy):
    """Sets the global dtype policy (a `DTypePolicy`, its name, or None for float32).

    Layers created afterwards without `dtype=` take it; existing layers keep theirs.
    """
    _GLOBAL[0] = None if policy is None else get(policy)


def get(identifier) -> DTypePolicy:
    """A `DTypePolicy` from a policy, its name, its config dict (as Keras writes it), or None
    (the global policy)."""
    if identifier is None:
        return dtype_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return DTypePolicy(identifier)
    try:  # a dtype object: jnp.float32, np.dtype("bfloat16"), ...
        return DTypePolicy(np.dtype(identifier).name)
    except TypeError:
        raise ValueError(
            "Expected `dtype` to be a dtype policy, a policy or dtype name ('float32', "
            f"'mixed_bfloat16', ...) or a policy config. Received: dtype={identifier!r}") from None


def serialize(policy: DTypePolicy) -> dict:
    """Keras 3's dict for a policy: `{"module", "class_name", "config", "registered_name"}`."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": policy.get_config(),
            "registered_name": None}


def deserialize(config: dict, custom_objects=None) -> DTypePolicy:
    """The policy a Keras 3 (or kerasx) policy config describes."""
    class_name = config.get("class_name")
    inner = config.get("config")
    if class_name not in ("DTypePolicy", "FloatDTypePolicy") or not isinstance(inner, dict):
        raise ValueError(
            f"Cannot read a dtype policy from {config!r}: kerasx has the float policies "
            "('DTypePolicy' / 'FloatDTypePolicy'); quantized policies (int8, float8, int4, GPTQ, "
            "AWQ) are not supported.")
    return DTypePolicy(inner.get("name"))
