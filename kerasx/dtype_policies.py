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

import re
from collections.abc import MutableMapping
from typing import Any, Optional

import jax.numpy as jnp
import numpy as np

from . import _settings

__all__ = ["DTypePolicy", "FloatDTypePolicy", "DTypePolicyMap", "dtype_policy", "set_dtype_policy",
           "get", "serialize", "deserialize"]

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


class DTypePolicyMap(DTypePolicy, MutableMapping):
    """A dict-like policy: layer paths (or regular expressions over them) to `DTypePolicy`s.

    Looking up a path returns the policy of an exact key, else that of the one key that
    `re.fullmatch`es the path (a path that matches several keys is an error), else the default
    policy. As a policy itself, it has the default policy's dtypes.

    Args:
        default_policy: the policy of paths that match no key (a policy, a name or None: the
            global policy, read when it is used).
        policy_map: a dict from paths or patterns to policies (or their names).

    Example:
        policy_map = DTypePolicyMap(default_policy="float32")
        policy_map["encoder/.*"] = "bfloat16"
        policy_map["encoder/dense"].name   # "bfloat16"
    """

    def __init__(self, default_policy=None, policy_map=None):
        if isinstance(default_policy, DTypePolicyMap):
            raise ValueError("`default_policy` cannot be a `DTypePolicyMap`.")
        if policy_map is not None and not isinstance(policy_map, dict):
            raise TypeError("If specified, `policy_map` must be a dict. Received: "
                            f"policy_map={policy_map!r} of type {type(policy_map)}")
        self._default_policy_arg = default_policy
        self._default_policy = None if default_policy is None else get(default_policy)
        self._policy_map = {}
        for key, policy in (policy_map or {}).items():
            self[key] = policy

    @property
    def default_policy(self) -> DTypePolicy:
        """The policy of paths that match no key (the global policy if none was given)."""
        return dtype_policy() if self._default_policy is None else self._default_policy

    @property
    def name(self) -> str:
        return f"map_{self.default_policy.name}"

    @property
    def compute_dtype(self) -> str:
        return self.default_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        return self.default_policy.variable_dtype

    @property
    def is_mixed(self) -> bool:
        return self.default_policy.is_mixed

    @property
    def quantization_mode(self):
        return None

    def __getitem__(self, key: str) -> DTypePolicy:
        if key in self._policy_map:
            return self._policy_map[key]
        matches = [pattern for pattern in self._policy_map if re.fullmatch(pattern, key)]
        if len(matches) > 1:
            raise ValueError(
                f"Path '{key}' matches multiple dtype policy specification keys: {matches}. "
                "Please make sure each path only matches at most one dtype policy "
                "specification key in the DTypePolicyMap.")
        if matches:
            return self._policy_map[matches[0]]
        return self.default_policy

    def __setitem__(self, key: str, policy) -> None:
        if key in self._policy_map:
            raise ValueError(f"{key} already exist in the DTypePolicyMap with value "
                             f"{self._policy_map[key]}. Please make sure to not use duplicated "
                             "keys.")
        if isinstance(policy, DTypePolicyMap):
            raise ValueError("A DTypePolicyMap cannot hold another DTypePolicyMap. "
                             f"Received: {policy!r} for key {key!r}")
        try:
            policy = get(policy)
        except Exception:
            raise ValueError("Cannot interpret the assigned value by "
                             f"`kerasx.dtype_policies.get`. Received: {policy!r} of type "
                             f"{type(policy)}") from None
        self._policy_map[key] = policy

    def __delitem__(self, key: str):
        return self._policy_map.pop(key)

    def __contains__(self, key) -> bool:
        return key in self._policy_map

    def __len__(self) -> int:
        return len(self._policy_map)

    def __iter__(self):
        return iter(self._policy_map)

    def __eq__(self, other):
        return (isinstance(other, DTypePolicyMap)
                and other._default_policy_arg == self._default_policy_arg
                and other._policy_map == self._policy_map)

    def __hash__(self):
        return id(self)

    def get_config(self):
        # With no default policy, the mapped policies are written without names (as Keras does),
        # so that loading defers to the global policy.
        hide = self._default_policy_arg is None
        policy_map = {}
        for key, policy in self._policy_map.items():
            config = serialize(policy)
            if hide:
                config["config"] = dict(config["config"], name=None)
            policy_map[key] = config
        default = self._default_policy_arg
        if isinstance(default, DTypePolicy):
            default = serialize(default)
        return {"default_policy": default, "policy_map": policy_map}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        policy_map = {k: deserialize(v) if isinstance(v, dict) else v
                      for k, v in (config.get("policy_map") or {}).items()}
        default = config.get("default_policy")
        return cls(default_policy=default, policy_map=policy_map)

    def __repr__(self):
        default = None if self._default_policy is None else self._default_policy.name
        mapping = [(k, v.name) for k, v in self._policy_map.items()]
        return f"<DTypePolicyMap default_policy={default}, mapping={mapping}>"


_GLOBAL = [None]  # the global policy; None means floatx (`kerasx.config.set_floatx`)


def dtype_policy() -> DTypePolicy:
    """The global dtype policy: the policy of layers created without `dtype=` (unless
    `set_dtype_policy` set one, that of `kerasx.config.floatx()`, float32 by default)."""
    if _GLOBAL[0] is None:
        return DTypePolicy(_settings.FLOATX)
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
    if isinstance(policy, DTypePolicyMap):
        return {"module": "keras.dtype_policies", "class_name": "DTypePolicyMap",
                "config": policy.get_config(), "registered_name": None}
    return {"module": "keras", "class_name": "DTypePolicy", "config": policy.get_config(),
            "registered_name": None}


def deserialize(config: dict, custom_objects=None) -> DTypePolicy:
    """The policy a Keras 3 (or kerasx) policy config describes."""
    class_name = config.get("class_name")
    inner = config.get("config")
    if class_name == "DTypePolicyMap" and isinstance(inner, dict):
        return DTypePolicyMap.from_config(inner, custom_objects)
    if class_name not in ("DTypePolicy", "FloatDTypePolicy") or not isinstance(inner, dict):
        raise ValueError(
            f"Cannot read a dtype policy from {config!r}: kerasx has the float policies "
            "('DTypePolicy' / 'FloatDTypePolicy'); quantized policies (int8, float8, int4, GPTQ, "
            "AWQ) are not supported.")
    return DTypePolicy(inner.get("name"))
