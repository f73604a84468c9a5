"""Layers that wrap plain JAX code: JaxLayer (a pure `call_fn`/`init_fn` pair) and FlaxLayer
(a Flax linen module), with Keras 3's arguments.

The wrapped function's params and state may be any pytree. kerasx stores their leaves in the
layer's `params`/`state` dicts under their tree paths (`"params/Dense_0/kernel"`), in the
order `jax.tree_util.tree_flatten` gives them (Keras's weight order), and rebuilds the pytree
for each call.
"""

import inspect
from typing import Any, Callable, Dict, List, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from ._base import Layer

_CALL_ARGS = ("params", "state", "rng", "inputs", "training")
_INIT_ARGS = ("rng", "inputs", "training")


def _path_key(path) -> str:
    return jax.tree_util.keystr(path, simple=True, separator="/") or "value"


def _flatten(tree) -> Tuple[Dict[str, Any], Any]:
    """A pytree as `({path: leaf}, treedef)`, leaves in tree_flatten order."""
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    return {_path_key(p): leaf for p, leaf in leaves}, treedef


class JaxLayer(Layer):
    """Wraps a pure JAX function `call_fn` (and its `init_fn`) as a layer.

    `call_fn` takes some of the arguments `params`, `state`, `rng`, `inputs`, `training`
    (by these names, in any order; `inputs` is required) and returns the outputs, or
    `(outputs, new_state)` when it takes `state`. `init_fn` takes some of `rng`, `inputs`,
    `training` (`inputs` required) and returns the initial `params`, or `(params, state)`
    when `call_fn` takes `state`; it is called with `training=True` and inputs of ones shaped
    like the layer's input. Instead of `init_fn`, the weights can be given as `params` and
    `state`. `params` are trainable; `state` is not, and `call_fn`'s new state is returned by
    `apply` as the layer's new state.

    `call_fn` receives `rng` (a JAX key) only when training; it is drawn from the `rng` given
    to `apply` (folded with `seed` when set), and `apply(..., training=True)` without one
    raises the usual error. In inference `rng` is None.

    Example:
        def init_fn(rng, inputs):
            return {"w": jax.random.normal(rng, (inputs.shape[-1], 4)) * 0.1}
        def call_fn(params, inputs):
            return inputs @ params["w"]
        layer = JaxLayer(call_fn, init_fn)

    Args:
        call_fn: the function computing the outputs.
        init_fn: the function creating the weights (needed when `call_fn` takes `params` or
            `state` and none are given).
        params: optional pytree of initial trainable weights.
        state: optional pytree of initial non-trainable weights.
        seed: optional integer folded into the training `rng` (not written to the config,
            as in Keras).
        native_serialization_platforms: accepted for Keras compatibility (a TensorFlow-backend
            option); unused.

    Input shape:
        What `call_fn` takes.
    Output shape:
        What `call_fn` returns.
    """

    def __init__(self, call_fn: Callable, init_fn: Optional[Callable] = None, params=None,
                 state=None, seed: Optional[int] = None, native_serialization_platforms=None,
                 **kwargs):
        super().__init__(**kwargs)
        if not callable(call_fn):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects a callable "
                             f"`call_fn`. Received: call_fn={call_fn!r}")
        if init_fn is not None and not callable(init_fn):
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects a callable "
                             f"`init_fn` or None. Received: init_fn={init_fn!r}")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(f"Received an invalid value for `seed` of layer '{self.name}', "
                             f"expected an integer or None. Received: seed={seed!r}")
        self.call_fn = call_fn
        self.init_fn = init_fn
        self.seed = seed
        self.native_serialization_platforms = native_serialization_platforms
        self.call_fn_arguments = self._validate_signature(call_fn, "call_fn", _CALL_ARGS)
        self.call_fn_has_params = "params" in self.call_fn_arguments
        self.call_fn_has_state = "state" in self.call_fn_arguments
        if init_fn is None and params is None and state is None and (
                self.call_fn_has_params or self.call_fn_has_state):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): `init_fn`, `params` and `state` "
                "cannot all be None when `call_fn` takes a `params` or a `state` argument.")
        self.init_fn_arguments = (self._validate_signature(init_fn, "init_fn", _INIT_ARGS)
                                  if init_fn is not None else [])
        self._given = None
        if params is not None or state is not None:
            self._given = (self._to_arrays(params), self._to_arrays(state))
        self._layout = None  # (params treedef, keys, state treedef, keys) once initialized

    def _validate_signature(self, fn, fn_name: str, allowed) -> List[str]:
        try:
            parameters = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            raise ValueError(f"Layer '{self.name}': cannot read the signature of `{fn_name}`.")
        if "inputs" not in parameters:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): `{fn_name}` must take an argument "
                f"named `inputs`. Its arguments: {list(parameters)}")
        names = []
        for p in parameters.values():
            if p.name not in allowed:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}): unsupported argument "
                    f"`{p.name}` in `{fn_name}`; the supported arguments are "
                    f"{', '.join('`' + a + '`' for a in allowed)}.")
            names.append(p.name)
        return names

    def _to_arrays(self, tree):
        """Leaves as arrays: floating ones in the layer's dtype, others in their own (Keras)."""
        def leaf(v):
            if isinstance(v, (bool, int, float, np.generic, np.ndarray, jax.Array)):
                a = jnp.asarray(v)
                return a.astype(self.dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): params and state leaves must be "
                f"arrays or Python numbers. Received a leaf {v!r} of type {type(v).__name__}.")
        return jax.tree.map(leaf, tree)

    # ------------------------------------------------------------------ the wrapped functions
    def _init_rng(self, rng):
        return rng

    def _call_rng(self, rng, training):
        return rng if training else None

    def _raw_init(self, rng, input_spec):
        """The wrapped pytrees `(params, state)` (either may be None)."""
        if self._given is not None:
            return self._given
        if self.init_fn is None:
            return None, None
        ones = jax.tree.map(lambda s: jnp.ones(s.shape, s.dtype), input_spec)
        values = {"rng": self._init_rng(rng), "inputs": ones, "training": True}
        result = self.init_fn(*[values[a] for a in self.init_fn_arguments])
        if self.call_fn_has_state:
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}): `call_fn` takes `state`, so "
                    "`init_fn` must return a pair `(params, state)`.")
            params, state = result
        else:
            params, state = result, None
        return self._to_arrays(params), self._to_arrays(state)

    def _set_layout(self, params, state):
        flat_p, tree_p = _flatten(params)
        flat_s, tree_s = _flatten(state)
        # static structure only (no arrays): the trees and their keys in tree_flatten order
        self._layout = (tree_p, list(flat_p), tree_s, list(flat_s))
        return flat_p, flat_s

    def init(self, rng, input_spec):
        return self._set_layout(*self._raw_init(rng, input_spec))

    def _structures(self, inputs):
        if self._layout is None:
            spec = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), inputs)
            self._set_layout(*jax.eval_shape(
                lambda: self._raw_init(jax.random.key(0), spec)))
        return self._layout

    def apply(self, params, state, inputs, *, training=False, rng=None):
        tree_p, keys_p, tree_s, keys_s = self._structures(inputs)
        if set(params) != set(keys_p) or set(state) != set(keys_s):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects params {keys_p} and state "
                f"{keys_s}, but received params {sorted(params)} and state {sorted(state)}.")
        values = {"params": jax.tree.unflatten(tree_p, [params[k] for k in keys_p]),
                  "state": jax.tree.unflatten(tree_s, [state[k] for k in keys_s]),
                  "inputs": inputs, "training": bool(training), "rng": None}
        if "rng" in self.call_fn_arguments:
            if training:
                self._need_rng(rng)
                rng = rng if self.seed is None else jax.random.fold_in(rng, self.seed)
            values["rng"] = self._call_rng(rng, training)
        result = self.call_fn(*[values[a] for a in self.call_fn_arguments])
        if not self.call_fn_has_state:
            return result, state
        outputs, new_state = result
        flat, tree = _flatten(new_state)
        if tree != tree_s:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}): the structure of the state "
                "returned by `call_fn` does not match the structure of the state at "
                f"initialization: {tree} vs {tree_s}.")
        return outputs, {k: jnp.asarray(flat[k]).astype(state[k].dtype) for k in keys_s}

    def weight_names(self):
        """The wrapped pytrees' leaves in tree_flatten order: params, then state (Keras's
        order), once the layer is initialized or was given its weights."""
        if self._layout is None and self._given is not None:
            self._set_layout(*self._given)
        if self._layout is None:
            return []
        _, keys_p, _, keys_s = self._layout
        return [("params", k) for k in keys_p] + [("state", k) for k in keys_s]

    def get_config(self):
        from ..saving._serialization import serialize

        return {**super().get_config(), "call_fn": serialize(self.call_fn),
                "init_fn": serialize(self.init_fn),
                "native_serialization_platforms": self.native_serialization_platforms}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving._serialization import deserialize

        config = dict(config)
        for key in ("call_fn", "init_fn"):
            config[key] = deserialize(config.get(key), custom_objects)
        return super().from_config(config)


class FlaxLayer(JaxLayer):
    """Wraps a Flax linen module as a layer (needs `pip install flax`).

    The module's `params` collection becomes the layer's trainable weights (under keys like
    `"params/Dense_0/kernel"`); its other collections (e.g. `batch_stats`) become the layer's
    state, updated by the module's mutable calls. When the module's `__call__` (or `method`)
    takes `training`, the layer passes it. When training, the module gets a `"dropout"` rng
    drawn from the `rng` given to `apply`.

    Args:
        module: a `flax.linen.Module` instance.
        method: optional method of the module to call instead of `__call__` (a bound method
            or its name).
        variables: optional initial variables `{"params": ..., ...}` (otherwise the module's
            `init` creates them).
        **kwargs: JaxLayer/Layer arguments (`name`, `seed`, ...).

    Input shape:
        What the module takes.
    Output shape:
        What the module returns.
    """

    def __init__(self, module, method=None, variables=None, **kwargs):
        try:
            from flax.linen import DenyList
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(
                "FlaxLayer needs Flax, which is not installed. Install it with "
                "`pip install flax`.") from None
        if isinstance(method, str):
            method = getattr(module, method)
        self.module = module
        self.method = method
        mutable = DenyList(["params"])
        fn = method or module.__call__
        takes_training = "training" in inspect.signature(fn).parameters

        def merged(params, state):
            return {**(params or {}), **(state or {})}

        if takes_training:
            def call_fn(params, state, rng, inputs, training):
                return self.module.apply(merged(params, state), inputs, rngs=rng,
                                         method=self.method, mutable=mutable, training=training)

            def init_fn(rng, inputs, training):
                return self._split_variables(self.module.init(
                    rng, inputs, method=self.method, training=training))
        else:
            def call_fn(params, state, rng, inputs):
                return self.module.apply(merged(params, state), inputs, rngs=rng,
                                         method=self.method, mutable=mutable)

            def init_fn(rng, inputs):
                return self._split_variables(self.module.init(rng, inputs, method=self.method))

        params, state = (None, None) if variables is None else self._split_variables(variables)
        super().__init__(call_fn=call_fn, init_fn=init_fn, params=params, state=state, **kwargs)

    @staticmethod
    def _split_variables(variables):
        """Flax variables → `(params, state)`, as Keras splits them."""
        variables = dict(variables)
        if "params" not in variables:
            return {}, variables
        return {"params": variables["params"]}, {
            k: v for k, v in variables.items() if k != "params"}

    def _init_rng(self, rng):
        k_params, k_dropout = jax.random.split(rng)
        return {"params": k_params, "dropout": k_dropout}

    def _call_rng(self, rng, training):
        return {"dropout": rng} if training else {}

    def get_config(self):
        from ..saving._serialization import serialize

        config = Layer.get_config(self)
        method = self.method
        if getattr(method, "__self__", None) is self.module:
            method = method.__name__
        return {**config, "module": serialize(self.module), "method": serialize(method),
                "native_serialization_platforms": self.native_serialization_platforms}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from ..saving._serialization import deserialize

        config = dict(config)
        config["module"] = deserialize(config["module"], custom_objects)
        if not isinstance(config.get("method"), str):
            config["method"] = deserialize(config.get("method"), custom_objects)
        return super(JaxLayer, cls).from_config(config)
