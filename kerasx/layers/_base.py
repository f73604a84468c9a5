"""The layer protocol: pure `init`/`apply` pairs, plus symbolic tensors for the functional API.

A layer object holds hyperparameters only. Its arrays live in two pytrees that the caller
threads explicitly:

    params, state = layer.init(rng, input_spec)
    outputs, state = layer.apply(params, state, inputs, training=False, rng=None)

Calling a layer on symbolic tensors (from `kerasx.Input`) records a node in a graph that
`kerasx.Model(inputs, outputs)` turns into a model.
"""

import functools
import inspect
import re
import warnings
import weakref
from typing import Any, Dict, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .. import constraints, dtype_policies, initializers, regularizers
from .._jit import quick_jit
from .._remat import get_current_remat_mode, rematerialized_apply  # remat
from .._seeding import next_rng_key
from ..distribution import _placement
from ..distribution._distribution_lib import distribution
from .._types import Params, PRNGKey, Shape, Spec, State
from . import _tree
from ._input_spec import assert_input_compatibility
from ._tree import shape_str as shape_str
from .._variables import (CallScope, Variable, WeightSpec, collect_losses, current_scope,
                          record_loss, scope_of)

# Stand-in sizes for the unknown (None) dimensions of symbolic tensors: output shapes are
# computed with each, and an output dimension that differs between the two is unknown too.
_SYMBOLIC_SIZES = (97, 101)


def to_snake_case(name: str) -> str:
    """Keras's class-name → layer-name rule: 'Conv2D' → 'conv2d', 'MaxPooling2D' → 'max_pooling2d'."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def as_spec(x: Any, unknown: int = _SYMBOLIC_SIZES[0]) -> Spec:
    """Turns a pytree of arrays, ShapeDtypeStructs or symbolic tensors into ShapeDtypeStructs
    (the unknown dimensions of symbolic tensors get the size `unknown`)."""

    def one(leaf):
        if isinstance(leaf, jax.ShapeDtypeStruct):
            return leaf
        if isinstance(leaf, KerasTensor):
            shape = tuple(unknown if d is None else d for d in leaf.shape)
            return jax.ShapeDtypeStruct(shape, leaf.dtype)
        if hasattr(leaf, "shape") and hasattr(leaf, "dtype"):
            return jax.ShapeDtypeStruct(tuple(leaf.shape), leaf.dtype)
        arr = np.asarray(leaf)
        return jax.ShapeDtypeStruct(arr.shape, arr.dtype)

    return jax.tree.map(one, x, is_leaf=lambda t: isinstance(t, KerasTensor))


def batch_of_one(spec: Spec) -> Spec:
    """The same spec with a batch of one sample (weights never depend on the batch size)."""
    return jax.tree.map(lambda s: jax.ShapeDtypeStruct((1,) + tuple(s.shape[1:]), s.dtype), spec)


def standardize_dtype_config(dtype: Any) -> Any:
    """A dtype from a config: a name, or a Keras 3 dtype-policy dict (its `config.name`)."""
    if isinstance(dtype, dict) and dtype.get("class_name") == "DTypePolicyMap":
        return dtype_policies.deserialize(dtype)
    if isinstance(dtype, dict):
        name = dtype.get("config", {}).get("name") if isinstance(dtype.get("config"), dict) else None
        if not isinstance(name, str):
            raise ValueError(f"Cannot read a dtype from the config value {dtype!r}.")
        return name
    return dtype


# Arguments of Keras 3 layer configs that kerasx's built-in layers do not take, with the default
# values under which dropping them changes nothing (configs written by Keras hold them all).
_KERAS_ONLY_ARGS = {
    "kernel_regularizer": None, "bias_regularizer": None, "activity_regularizer": None,
    "kernel_constraint": None, "bias_constraint": None, "embeddings_regularizer": None,
    "embeddings_constraint": None, "beta_regularizer": None, "gamma_regularizer": None,
    "beta_constraint": None, "gamma_constraint": None, "quantization_config": None,
    "lora_rank": None, "lora_alpha": None, "sparse": False, "ragged": False,
    "optional": False, "synchronized": False, "renorm": False, "renorm_clipping": None,
    "renorm_momentum": None,
}


def _init_args(cls) -> set:
    """The keyword arguments the constructors of `cls` and its bases name explicitly."""
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is not None:
            try:
                names |= set(inspect.signature(init).parameters)
            except (TypeError, ValueError):
                pass
    return names


def _drop_keras_only_args(cls, config: Dict[str, Any]) -> Dict[str, Any]:
    """Drops the Keras-only arguments of `config` that hold their defaults; raises a ValueError
    naming the argument for one that does not (kerasx cannot honour it)."""
    out = {}
    renorm = bool(config.get("renorm", False))
    accepted = _init_args(cls)
    for key, value in config.items():
        if key in _KERAS_ONLY_ARGS and key not in accepted:
            default = _KERAS_ONLY_ARGS[key]
            if value == default or (key.startswith("renorm_") and not renorm):
                continue
            raise ValueError(
                f"kerasx's {cls.__name__} does not support the Keras argument `{key}`; this "
                f"config sets {key}={value!r}. Remove it (set it to {default!r}) to load the layer."
            )
        out[key] = value
    return out


def _holds_layers(value) -> bool:
    if isinstance(value, Layer):
        return True
    if isinstance(value, (list, tuple)):
        return any(_holds_layers(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_layers(v) for v in value.values())
    return False


def _layers_in(value) -> List["Layer"]:
    if isinstance(value, Layer):
        return [value]
    if isinstance(value, (list, tuple)):
        return [l for v in value for l in _layers_in(v)]
    if isinstance(value, dict):
        return [l for v in value.values() for l in _layers_in(v)]
    return []


def _accepts(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind == p.VAR_KEYWORD for p in params.values())


class Layer:
    """Base class of all layers and models.

    A layer is a pure `init`/`apply` pair (the core) and, once built, an object that owns its
    current weights (the Keras shell). Built-in layers implement `init`/`apply` directly.
    Subclasses written the Keras way implement `build(input_shape)` with `self.add_weight(...)`
    and `call(inputs, training=None)`, and may hold other layers as attributes; kerasx compiles
    them to the same `init`/`apply`.

    Args:
        name: the layer's name; also its key in a container's params/state dicts. Defaults to
            the snake-case class name, made unique within the container that holds it.
        trainable: whether `fit` updates this layer's weights (and those of its sublayers).
        dtype: the layer's dtype policy (a `DTypePolicy`, or a name: "float32", "bfloat16",
            "mixed_bfloat16", ...; default the global policy, float32 unless
            `kerasx.config.set_dtype_policy` changed it). Weights are created in its
            `variable_dtype`; floating inputs, and under a mixed policy the weights, are cast to
            its `compute_dtype` where the layer is called.
        autocast: whether the layer casts its floating inputs and weights as its policy says
            (Keras's `autocast`).
        input_shape: Keras's shortcut on the first layer of a `Sequential`: the shape of one
            sample, without the batch axis.

    Example:
        class Linear(kerasx.layers.Layer):
            def __init__(self, units=32):
                super().__init__()
                self.units = units
            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                         initializer="random_normal")
                self.b = self.add_weight(shape=(self.units,), initializer="zeros")
            def call(self, inputs):
                return inputs @ self.w + self.b
    """

    # True for layers whose training output depends on the whole batch (BatchNormalization).
    uses_batch_statistics = False
    # True for layers that pass an input mask through unchanged (Keras's `supports_masking`).
    supports_masking = False
    # True for layers whose `apply` takes the keyword `batch_mask` (BatchNormalization and the
    # models); containers pass it through `apply_layer`, so other layers keep the plain signature.
    takes_batch_mask = False
    # Whether the layer's floating inputs are cast to its compute dtype where it is called
    # (Keras's `_convert_input_args`; False for Sequential and functional models, whose layers
    # cast their own inputs).
    _convert_input_args = True
    # Own weights kept in their variable dtype under a mixed policy (Keras's `autocast=False`
    # weights: normalization scales and statistics); `add_weight(autocast=False)` marks more.
    _float32_weights: Tuple[str, ...] = ()

    def __init__(self, *, name: Optional[str] = None, trainable: bool = True,
                 dtype: Any = None, input_shape: Optional[Sequence[int]] = None,
                 input_dim: Optional[int] = None, batch_size: Optional[int] = None,
                 activity_regularizer=None, autocast: bool = True, **kwargs):
        object.__setattr__(self, "_tracked", {})
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}.__init__ received unknown keyword arguments: "
                f"{sorted(kwargs)}.")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"Expected `name` to be a non-empty string. Received: name={name!r}")
        self._name = name if name is not None else (
            type(self).__dict__.get("_auto_name") or to_snake_case(type(self).__name__))
        self._auto_named = name is None
        self._own = {"params": {}, "state": {}}  # the weights this layer holds (not sublayers')
        self._built = False                       # whether `_own` holds the current weights
        self._weight_specs: List[WeightSpec] = []  # what add_weight recorded (subclassed layers)
        self._variables: Dict[str, Variable] = {}
        self._structure_built = False             # whether `build` has run (weights known)
        self._inbound_nodes: List["Node"] = []
        self._regularizers: Dict[str, Any] = {}   # own weight key -> regularizer
        self._constraints: Dict[str, Any] = {}    # own weight key -> constraint
        self._last_losses: List[Any] = []         # `add_loss` values of the last eager call
        self.activity_regularizer = regularizers.get(activity_regularizer)
        self._trainable = bool(trainable)
        self._dtype_policy = dtype_policies.get(standardize_dtype_config(dtype))
        self.autocast = bool(autocast)
        self._exempt_weights: set = set()  # add_weight(autocast=False)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if input_shape is not None:
            input_shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else (input_shape,)
        self._input_shape_arg: Optional[Tuple[Optional[int], ...]] = input_shape
        self._batch_size_arg = batch_size
        self._remat_mode = get_current_remat_mode()  # remat: the RematScope active at creation

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A user's `build` runs once (Keras semantics) and marks the layer's weights as known.
        if "build" in cls.__dict__ and not cls.__module__.startswith("kerasx."):
            cls.build = _wrap_build(cls.__dict__["build"])

    def __setattr__(self, name, value):
        tracked = self.__dict__.get("_tracked")
        if tracked is None and _holds_layers(value):
            raise RuntimeError(
                f"{type(self).__name__} assigns the layer attribute `{name}` before calling "
                "`super().__init__()`. Call `super().__init__(**kwargs)` first.")
        if tracked is not None:
            if _holds_layers(value) and value is not self:
                tracked[name] = value
            else:
                tracked.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self.__dict__.get("_tracked", {}).pop(name, None)
        object.__delattr__(self, name)

    def __getattr__(self, name):
        # Only reached when normal lookup fails: a built-in layer's weight by name (`dense.kernel`).
        if name.startswith("_"):
            raise AttributeError(name)
        if name in ("input", "output"):  # the property raised; say why
            self._single_node(name)
        try:
            names = dict((k, c) for c, k in self.weight_names())
        except AttributeError:
            names = {}
        if name in names:
            return self._variable(name, names[name])
        hint = ""
        if self.__dict__.get("_tracked") is not None and self._uses_call():
            hint = (". If it is a weight that `call` reads, create it in `build(input_shape)` "
                    f"with `self.{name} = self.add_weight(...)`")
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'{hint}")

    # ----------------------------------------------------------------------------- naming
    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str):
        self._name = value
        self._auto_named = False

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"

    # ----------------------------------------------------------------------------- the tree
    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool):
        """Setting it sets it on every layer inside too, as in Keras (freeze a whole base model
        with `base.trainable = False`; then `compile()` again)."""
        self._trainable = bool(value)
        for _, sub in self._sublayer_items():
            sub.trainable = value

    # ----------------------------------------------------------------------------- dtypes
    @property
    def dtype_policy(self) -> "dtype_policies.DTypePolicy":
        """The layer's `DTypePolicy`: its compute and variable dtypes."""
        return self._dtype_policy

    @dtype_policy.setter
    def dtype_policy(self, value):
        if self.__dict__.get("_built"):
            raise ValueError(f"Layer '{self.name}' is built: set its dtype policy before it "
                             "creates its weights.")
        self._dtype_policy = dtype_policies.get(value)

    @property
    def _active_policy(self) -> "dtype_policies.DTypePolicy":
        """The policy the layer runs under: a `DTypePolicyMap` gives the one of this layer's
        path (its name: kerasx layers have no scoped path), or its default."""
        policy = self._dtype_policy
        if isinstance(policy, dtype_policies.DTypePolicyMap):
            return policy[self.name]
        return policy

    @property
    def dtype(self):
        """The dtype of the layer's weights (its policy's variable dtype)."""
        return jnp.dtype(self._active_policy.variable_dtype)

    @property
    def variable_dtype(self) -> str:
        return self._active_policy.variable_dtype

    @property
    def compute_dtype(self) -> str:
        """The dtype the layer computes in and returns (its policy's compute dtype)."""
        return self._active_policy.compute_dtype

    @property
    def input_dtype(self) -> str:
        """The dtype floating inputs are cast to where the layer is called."""
        return self._active_policy.compute_dtype

    def _sublayer_items(self) -> List[Tuple[str, "Layer"]]:
        """`(key, sublayer)` pairs in Keras order; a sublayer's weights nest under its key.

        By default: the layers assigned as attributes (also inside lists and dicts), in the
        order they were assigned, keyed by their names (made unique). Containers override it.
        """
        items, taken, seen = [], set(), set()
        for value in self.__dict__.get("_tracked", {}).values():
            for layer in _layers_in(value):
                if id(layer) in seen or layer is self:
                    continue
                seen.add(id(layer))
                key = _tree.unique_key(layer, taken)
                taken.add(key)
                items.append((key, layer))
        return items

    @property
    def layers(self) -> List["Layer"]:
        """The layers directly inside this one, in Keras order."""
        return [layer for _, layer in self._sublayer_items()]

    @property
    def built(self) -> bool:
        """Whether this layer (and every layer inside it) holds its weights."""
        return _tree.is_built(self)

    # ----------------------------------------------------------------------------- protocol
    def init(self, rng: PRNGKey, input_spec: Spec, *args, **kwargs) -> Tuple[Params, State]:
        """Creates fresh params and state for inputs shaped like `input_spec`. Pure.

        `input_spec` is a pytree of `jax.ShapeDtypeStruct` (arrays are accepted too). A layer
        without weights returns `({}, {})`. For a layer written with `build`/`call`, this runs
        `build(input_shape)` (recording `add_weight`) and, when the layer holds sublayers, a
        first `call` that creates theirs; nothing is stored on the layer objects. Specs of
        further call arguments (`layer(query, value, key=k)`) follow as `*args`/`**kwargs`;
        a `build` with more parameters receives their shapes too.
        """
        if not self._uses_call():
            return {}, {}
        spec = as_spec(input_spec)
        arg_specs = [as_spec(a) for a in args]
        kw_specs = {k: as_spec(v) for k, v in kwargs.items() if _is_tensor_like(v)}
        scope = CallScope(self, "init", {}, {}, rng=rng)
        with scope:
            for i, ws in enumerate(self._weight_specs):  # from __init__ or an earlier build
                self._create_weight(scope, ws, i)
            if not self._structure_built:
                self._run_build(spec, arg_specs, kw_specs)
            self._structure_built = True
            if self._sublayer_items():
                self._run_call(scope, _zeros_like(spec),
                               {k: _zeros_like(v) for k, v in kw_specs.items()},
                               tuple(_zeros_like(a) for a in arg_specs))
        return scope.params, scope.new_state

    def _run_build(self, spec, arg_specs, kw_specs):
        """Calls `build` with the input's shape, and the shapes of further call arguments
        when `build` names more parameters (Keras's `build(query_shape, value_shape)`)."""
        extra = []
        try:
            params = [p for p in inspect.signature(self.build).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            params = []
        shapes = [_shapes_of(a) for a in arg_specs]
        kw_shapes = {f"{k}_shape": _shapes_of(v) for k, v in kw_specs.items()}
        for p in params[1:]:
            if shapes:
                extra.append(shapes.pop(0))
            elif p.name in kw_shapes:
                extra.append(kw_shapes[p.name])
        self.build(_shapes_of(spec), *extra)

    def apply(self, params: Params, state: State, inputs: Any, *args, training: bool = False,
              rng: Optional[PRNGKey] = None, batch_mask=None, **kwargs) -> Tuple[Any, State]:
        """Runs the layer: returns `(outputs, new_state)`. Pure; safe under jit/grad/vmap.

        For a layer written with `call`, its variables read `params`/`state`, `assign` on a
        non-trainable variable gives the new state, and its sublayers run on their entries.
        """
        if not self._uses_call():
            raise NotImplementedError(
                f"{type(self).__name__} implements neither `call` nor `apply`.")
        scope = CallScope(self, "apply", params, state, rng=rng, training=training,
                          batch_mask=batch_mask)
        with scope:
            out = self._run_call(scope, inputs, kwargs, args)
        return out, scope.new_state

    def output_spec(self, input_spec: Spec) -> Spec:
        """Output shapes and dtypes for `input_spec`, computed without running anything."""
        input_spec = as_spec(input_spec)
        params, state = jax.eval_shape(lambda: self.init(jax.random.key(0), input_spec))
        out, _ = jax.eval_shape(lambda p, s, x: apply_layer(self, p, s, x), params, state,
                                input_spec)
        return out

    def compute_mask(self, inputs, previous_mask=None):
        """The mask of the layer's output for `inputs` whose mask is `previous_mask` (Keras's
        `compute_mask`): by default the mask passes through a layer that `supports_masking`
        and stops at one that does not. A layer that makes a mask (an embedding of padded
        sequences) overrides it. Pure: called inside `apply` with arrays."""
        return previous_mask if self.supports_masking else None

    def weight_names(self) -> List[Tuple[str, str]]:
        """The layer's own weights in Keras order, as `(collection, key)` pairs where collection
        is "params" (trainable) or "state"; e.g. Dense: [("params", "kernel"), ("params",
        "bias")]. For a subclassed layer: its `add_weight`s, trainable ones first."""
        specs = self.__dict__.get("_weight_specs", [])
        return ([("params", ws.name) for ws in specs if ws.trainable] +
                [("state", ws.name) for ws in specs if not ws.trainable])

    # ----------------------------------------------------------------------------- Keras subclassing
    def build(self, input_shape=None):
        """Creates the layer's weights for inputs of `input_shape` (batch axis included).

        Override it to create weights with `self.add_weight(...)`. Called on a layer directly,
        it creates the weights now (Keras's `layer.build(shape)`).
        """
        if self._build_in_scope(input_shape):
            return
        self._build_for(_spec_from_shapes(input_shape))

    def _build_in_scope(self, input_shape) -> bool:
        """`build` called while an `init` runs: nothing to do for the layer being initialized
        (its default build creates nothing); a parent's `build` building this sublayer creates
        its weights in the parent's scope. Returns whether it was handled."""
        scope = current_scope()
        if scope is None:
            return False
        if scope.layer is not self and scope.mode == "init":
            scope.init_sublayer(self, _spec_from_shapes(input_shape))
        return True

    def call(self, *args, **kwargs):
        """The layer's computation, written with `kerasx.ops`, operators and sublayer calls."""
        raise NotImplementedError(f"{type(self).__name__} does not implement `call`.")

    def add_weight(self, shape=None, initializer=None, dtype=None, trainable: bool = True,
                   name: Optional[str] = None, regularizer=None, constraint=None,
                   autocast: bool = True, aggregation: str = "none") -> Variable:
        """Creates a weight of this layer (in `build` or `__init__`) and returns its Variable.

        Args:
            shape: the weight's shape (default scalar).
            initializer: an initializer name or callable (default "glorot_uniform" for floats,
                "zeros" otherwise).
            dtype: the weight's dtype (default the layer's).
            trainable: whether `fit` updates it; a non-trainable weight lives in `state` and
                `call` may update it with `variable.assign(...)`.
            name: its name in the layer (default "variable", made unique).
            autocast: whether a mixed dtype policy casts it to the compute dtype in `call`
                (False keeps it in its own dtype, as normalization statistics are).
        """
        scope = scope_of(self)
        if self._structure_built:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) calls `add_weight` after it was "
                "built (from `call`?). Create every weight in `build(input_shape)` or "
                "`__init__`: the weights of a compiled layer cannot depend on the data.")
        shape = () if shape is None else tuple(int(d) if d is not None else d for d in shape)
        if any(d is None for d in shape):
            raise ValueError(
                f"Layer '{self.name}': `add_weight` needs a fully known shape. Received: "
                f"shape={shape} for weight {name!r}.")
        dtype = jnp.dtype(dtype or self.dtype)
        if initializer is None:
            initializer = "glorot_uniform" if jnp.issubdtype(dtype, jnp.floating) else "zeros"
        initializer = _as_key_initializer(initializers.get(initializer))
        if name is None:
            base, i, taken = "variable", 0, {ws.name for ws in self._weight_specs}
            name = base
            while name in taken:
                i += 1
                name = f"{base}_{i}"
        if any(ws.name == name for ws in self._weight_specs):
            raise ValueError(
                f"Layer '{self.name}' already has a weight named '{name}'; give each "
                "`add_weight` its own `name=`.")
        if name in dict(self._sublayer_items()):
            raise ValueError(
                f"Layer '{self.name}': the weight name '{name}' is also the key of one of its "
                "sublayers; choose another name.")
        self._weight_options(name, regularizer, constraint)
        if not autocast:
            self._exempt_weights.add(name)
        ws = WeightSpec(name, shape, dtype, initializer, bool(trainable))
        self._weight_specs.append(ws)
        if scope is not None:
            self._create_weight(scope, ws, len(self._weight_specs) - 1)
        else:  # outside init (in __init__, or build called by the user): created now
            self._own[ws.collection][name] = _quick_init(ws)
        return self._variable(name, ws.collection)

    def _weight_options(self, weight: str, regularizer=None, constraint=None):
        """Records the regularizer and constraint of the weight `weight` (names, dicts or
        callables, as Keras takes them); returns them resolved."""
        regularizer, constraint = regularizers.get(regularizer), constraints.get(constraint)
        if regularizer is not None:
            self._regularizers[weight] = regularizer
        if constraint is not None:
            self._constraints[weight] = constraint
        return regularizer, constraint

    def _weight_options_config(self, *weights: str) -> Dict[str, Any]:
        """`{"<weight>_regularizer": ..., "<weight>_constraint": ...}` for a config."""
        out = {}
        for w in weights:
            out[f"{w}_regularizer"] = regularizers.serialize(self._regularizers.get(w))
            out[f"{w}_constraint"] = constraints.serialize(self._constraints.get(w))
        return out

    def add_loss(self, loss):
        """Adds a scalar loss from inside `call` (Keras's `add_loss`): `fit` adds it to the
        training loss. Under the pure API, collect the losses with
        `with kerasx.layers.collect_losses() as losses: model.apply(...)`."""
        for value in jax.tree.leaves(loss):
            record_loss(jnp.asarray(value))

    @property
    def losses(self) -> List[Any]:
        """The losses added by the last eager call (`add_loss`, activity regularizers), then
        the regularization penalties of the trainable weights, as in Keras."""
        out = list(self._last_losses)
        if self.built:
            out += _tree.regularization_losses(self, _tree.gather(self)[0])
        return out

    def _create_weight(self, scope, ws: WeightSpec, index: int):
        key = jax.random.fold_in(scope.rng if scope.rng is not None else jax.random.key(0), index)
        tree = scope.params if ws.trainable else scope.state
        tree[ws.name] = ws.initializer(key, ws.shape, ws.dtype)
        if not ws.trainable:
            scope.new_state[ws.name] = tree[ws.name]

    def _variable(self, name: str, collection: str) -> Variable:
        var = self._variables.get(name)
        if var is None:
            var = self._variables[name] = Variable(self, name, collection)
        return var

    def _uses_call(self) -> bool:
        return type(self).call is not Layer.call

    def _run_call(self, scope, inputs, kwargs, args=()):
        call = self.call
        kwargs = dict(kwargs)
        if _accepts(call, "training") and "training" not in kwargs:
            kwargs["training"] = scope.training
        out = call(inputs, *args, **kwargs)
        # a `call` may return a variable (`return self.total`): its value in this scope
        return jax.tree.map(lambda v: v.value if isinstance(v, Variable) else v, out,
                            is_leaf=lambda v: isinstance(v, Variable))

    # ----------------------------------------------------------------------------- weights as objects
    def _build_for(self, spec, mask=None):
        """Builds the layer for inputs like `spec` (whose Keras mask is like `mask`, for a
        `call` that needs it): fresh weights where it and its sublayers hold none, the held
        ones kept (build adopts, init creates)."""
        spec = batch_of_one(as_spec(spec))
        mask = None if mask is None else batch_of_one(as_spec(mask))
        init = lambda key: init_masked(self, key, spec, mask)
        dist, key = distribution(), next_rng_key()
        if dist is None:
            params, state = quick_jit(init)(key)
        else:  # created already in their layouts, never whole on one device
            shardings = tuple(_placement.weight_shardings(dist, tree, self.name,
                                                          prefix_first=not self._sublayer_items())
                              for tree in jax.eval_shape(init, key))
            params, state = jax.jit(init, out_shardings=shardings)(key)
        _tree.adopt(self, params, state)

    def _has_weights(self) -> bool:
        """Built, or holding weights made in `__init__` (which Keras lists before a build)."""
        return self.built or _tree.holds_weights(self)

    def _require_built(self, what: str):
        if not self._has_weights():
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) is not built yet, so it has no "
                f"{what}. Call it on data, or build the model that holds it, first.")

    @property
    def weights(self) -> List[Variable]:
        """All weights (this layer's, then its sublayers'), as Variables in Keras order."""
        if not self._has_weights():
            return []
        return [owner._variable(path[-1], c) for c, path, owner in _tree.weight_paths(self)]

    @property
    def trainable_weights(self) -> List[Variable]:
        """The weights `fit` updates (none when the layer is frozen)."""
        return [v for v in self.weights if v.trainable]

    @property
    def non_trainable_weights(self) -> List[Variable]:
        """The weights `fit` does not update: state (BatchNorm statistics) and frozen weights."""
        return [v for v in self.weights if not v.trainable]

    @property
    def trainable_variables(self) -> List[Variable]:
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> List[Variable]:
        return self.non_trainable_weights

    @property
    def variables(self) -> List[Variable]:
        return self.weights

    def get_weights(self) -> List[np.ndarray]:
        """All weights as NumPy arrays, in Keras order and layout."""
        if not self._has_weights():
            return []
        return _tree.get_weights_from(self, *_tree.gather(self))

    def set_weights(self, weights: Sequence[Any]):
        """Sets all weights from a list in Keras order and layout (as `get_weights` returns);
        a wrong count or shape raises a ValueError naming the weight, and changes nothing."""
        self._require_built("weights to set")
        params, state = _tree.set_weights_into(self, *_tree.gather(self), weights)
        _tree.assign(self, params, state, mark_built=self.built)

    def count_params(self) -> int:
        """The number of weights (trainable and not)."""
        self._require_built("params to count")
        return sum(int(np.prod(w.shape)) for w in self.get_weights())

    # ----------------------------------------------------------------------------- Keras-layout weights (pure)
    def get_weights_from(self, params: Params, state: State) -> List[np.ndarray]:
        """The weights in `params`/`state` as a list of NumPy arrays, in Keras order."""
        return _tree.get_weights_from(self, params, state)

    def set_weights_into(self, params: Params, state: State, weights: Sequence[Any],
                         where: str = "") -> Tuple[Params, State]:
        """Returns new `(params, state)` with `weights` (Keras order) put in place.

        Raises a ValueError naming the layer and both shapes if a shape does not match.
        """
        return _tree.set_weights_into(self, params, state, weights, where)

    def get_config(self) -> Dict[str, Any]:
        """The constructor arguments that recreate this layer (Keras's `get_config`).

        A JSON-ready dict with Keras's keys: `name`, `trainable`, `dtype`, then every constructor
        argument of the layer (activations by name, initializers as Keras's small dicts).
        A subclass with its own arguments adds them: `{**super().get_config(), "units": ...}`.
        """
        config = {"name": self.name, "trainable": self.trainable,
                  "dtype": (dtype_policies.serialize(self._dtype_policy)
                            if isinstance(self._dtype_policy, dtype_policies.DTypePolicyMap)
                            else self._dtype_policy.name)}
        if self.activity_regularizer is not None:
            config["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        return config

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "Layer":
        """Rebuilds a layer from `get_config()`'s dict: `cls(**config)` (Keras's `from_config`).

        The new layer has the same hyperparameters, so `init` makes weights of the same shapes
        and, given the same weights, `apply` computes the same outputs. Configs written by
        Keras 3 are accepted too: a dtype policy dict stands for its dtype name, and Keras-only
        arguments that kerasx's built-in layers lack (regularizers, constraints, ...) are
        dropped when they hold their defaults.
        """
        if not isinstance(config, dict):
            raise TypeError(f"{cls.__name__}.from_config expects a dict (from `get_config()`). "
                            f"Received: {config!r}")
        config = dict(config)
        if "dtype" in config:
            config["dtype"] = standardize_dtype_config(config["dtype"])
        if cls.__module__.startswith("kerasx."):
            config = _drop_keras_only_args(cls, config)
        return cls(**config)

    # ----------------------------------------------------------------------------- helpers
    def _check_rank(self, spec, ranks, what="input"):
        """Raises a teaching ValueError when `spec`'s rank is not one of `ranks`."""
        if not hasattr(spec, "shape"):
            shapes = jax.tree.map(lambda s: shape_str(s.shape), as_spec(spec))
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects a single tensor as {what}; "
                f"received a structure of shapes {shapes}"
            )
        if len(spec.shape) not in ranks:
            exp = " or ".join(str(r) for r in ranks)
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects an {what} of rank {exp} "
                f"(batch axis included), but received shape {shape_str(spec.shape)}."
            )

    def _need_rng(self, rng):
        if rng is None:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) is stochastic when training=True "
                "and needs a random key. Call it as "
                f"`layer.apply(params, state, x, training=True, rng=jax.random.key(0))`."
            )

    # ----------------------------------------------------------------------------- graph attributes
    def _single_node(self, what: str) -> "Node":
        if not self._inbound_nodes:
            raise AttributeError(
                f"Layer '{self.name}' has never been called on symbolic inputs, so it has no "
                f"`{what}`. Call it on `kerasx.Input` tensors (or use it in a model with a "
                "known input shape) first.")
        if len(self._inbound_nodes) > 1:
            raise AttributeError(
                f"Layer '{self.name}' has been called {len(self._inbound_nodes)} times, so its "
                f"`{what}` is ambiguous; take it from the model's graph instead.")
        return self._inbound_nodes[0]

    @property
    def input(self):
        """The symbolic input of the layer's only call in a functional graph."""
        return self._single_node("input").inputs

    @property
    def output(self):
        """The symbolic output of the layer's only call in a functional graph."""
        return self._single_node("output").outputs

    # ----------------------------------------------------------------------------- calling
    def __call__(self, *args, **kwargs):
        """Calls the layer: on `kerasx.Input` tensors it records a graph node; inside another
        layer's `call` it runs on that layer's pytrees; on arrays it builds itself if needed
        and runs on the weights it holds (`training=` honoured; state updates kept).

        The inputs are the first positional argument or, as in Keras, when every argument
        is a keyword (`mha(query=q, value=v, key=k)`), the keyword named like the first
        input parameter of `call` (or of `apply`, after `params, state`)."""
        inputs, args = self._split_inputs(args, kwargs)
        check_input_spec(self, inputs)
        leaves = jax.tree.leaves(inputs, is_leaf=lambda t: isinstance(t, KerasTensor))
        if leaves and all(isinstance(t, KerasTensor) for t in leaves):
            return _symbolic_call(self, inputs, args, kwargs)
        if any(isinstance(t, KerasTensor) for t in leaves):
            raise TypeError(
                f"Layer '{self.name}' was called on a mix of symbolic tensors (from "
                "`kerasx.Input`) and arrays; pass all inputs as symbolic tensors or all as arrays.")
        scope = current_scope()
        if scope is not None:
            return self._call_in_scope(scope, inputs, args, dict(kwargs))
        return self._eager_call(inputs, args, kwargs)

    def _split_inputs(self, args, kwargs):
        """`(inputs, further positional args)` of a call; pops the inputs keyword from
        `kwargs` when the call passed everything by keyword."""
        if args:
            return args[0], tuple(args[1:])
        uses_call = type(self).apply is Layer.apply
        fn = self.call if uses_call else self.apply
        try:
            names = [p.name for p in inspect.signature(fn).parameters.values()
                     if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            names = []
        names = names[0 if uses_call else 2:]  # (inputs, ...) / (params, state, inputs, ...)
        for name in names[:1] + ["inputs"]:  # `inputs=`: whatever `apply` calls its input
            if name in kwargs:
                return kwargs.pop(name), ()
        expected = f"`{names[0]}=`" if names else "a positional argument"
        raise TypeError(f"Layer '{self.name}' ({type(self).__name__}) was called without "
                        f"inputs: pass them as the first argument or as {expected}.")

    def _call_in_scope(self, scope, inputs, args, kwargs):
        """This layer called inside another layer's `call`: it runs on its entries of that
        layer's pytrees (created there during `init`). Masks travel with the tensors, as in
        Keras: the inputs' masks reach `mask=` / `{name}_mask`, the outputs carry theirs."""
        training = kwargs.pop("training", None)
        training = scope.training if training is None else bool(training)
        in_mask = _masks_into(self, inputs, args, kwargs)
        if scope.mode == "init":
            key = scope.init_sublayer(self, as_spec(inputs))
            out, _ = apply_layer(self, scope.params[key], scope.state[key], inputs, *args,
                                 training=False, rng=None, **kwargs)
            return _masks_onto(self, inputs, out, in_mask)
        key = scope.key_of(self)
        if key not in scope.params:
            raise ValueError(
                f"Layer '{self.name}' inside layer '{scope.layer.name}' has no weights in the "
                "params given: it was not called when the layer was built. Call every sublayer "
                "the same way on every call.")
        rng = scope.next_key(2) if training else None
        out, scope.new_state[key] = apply_layer(
            self, scope.params[key], scope.new_state[key], inputs, *args, training=training,
            rng=rng, batch_mask=scope.batch_mask, **kwargs)
        return _masks_onto(self, inputs, out, in_mask)

    def _eager_call(self, inputs, args, kwargs):
        training = bool(kwargs.pop("training", False) or False)
        in_mask = _masks_into(self, inputs, args, kwargs)  # Keras's mask channel on arrays
        if not self.built:
            if kwargs.get("mask") is not None and self._uses_call():
                self._build_for(as_spec(inputs), mask=kwargs["mask"])
            else:
                self._build_for(as_spec(inputs))
        params, state = _tree.gather(self)
        rng = next_rng_key() if training else None
        with collect_losses() as added:
            out, new_state = apply_layer(self, params, state, inputs, *args, training=training,
                                         rng=rng, **kwargs)
        self._last_losses = added
        _tree.assign(self, params, new_state)  # `variable.assign` in call sticks, as in Keras
        return _masks_onto(self, inputs, out, in_mask)


def _wrap_build(build):
    """The Keras semantics of a user's `build`: it runs once; inside `init` it records
    `add_weight`s; afterwards the layer's weights are known (and, called by the user outside
    `init`, created)."""

    @functools.wraps(build)
    def wrapped(self, *args, **kwargs):
        scope = scope_of(self)
        if scope is None and current_scope() is not None and current_scope().mode == "init":
            # a parent's build builds this sublayer explicitly
            shape = args[0] if args else kwargs.get("input_shape")
            current_scope().init_sublayer(self, _spec_from_shapes(shape))
            return None
        if self._structure_built:
            return None
        result = build(self, *args, **kwargs)
        self._structure_built = True
        if scope is None and not self._sublayer_items():
            self._built = True  # its add_weights created the weights already
        return result

    return wrapped


def _as_key_initializer(fn):
    """kerasx initializers take `(key, shape, dtype)`; a Keras-style callable `(shape, dtype)`
    (no key: deterministic) is wrapped to that signature."""
    if isinstance(fn, initializers.Initializer):
        return fn
    try:
        positional = [p for p in inspect.signature(fn).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return fn
    if len(positional) >= 3:
        return fn
    return lambda key, shape, dtype: jnp.asarray(fn(shape, dtype=dtype), dtype)


def _quick_init(ws: WeightSpec):
    return quick_jit(lambda key: ws.initializer(key, ws.shape, ws.dtype))(next_rng_key())


def _shapes_of(spec):
    """A spec's shapes as Keras's `input_shape` (batch axis None): a tuple, or a list of them."""
    leaves = jax.tree.leaves(spec)
    shapes = [(None,) + tuple(s.shape[1:]) for s in leaves]
    if hasattr(spec, "shape"):
        return shapes[0]
    return jax.tree.unflatten(jax.tree.structure(spec), shapes)


def _zeros_like(spec):
    return jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), spec)


def _spec_from_shapes(shapes, dtype=jnp.float32):
    """Keras input shape(s) (batch axis None or an int) → ShapeDtypeStructs with a batch of 1."""
    is_shape = lambda s: isinstance(s, (tuple, list)) and all(
        d is None or isinstance(d, (int, np.integer)) for d in s)
    if shapes is None:
        raise ValueError("`build` needs an `input_shape` here.")
    return jax.tree.map(
        lambda s: jax.ShapeDtypeStruct((1 if s[0] is None else int(s[0]),) + tuple(
            _SYMBOLIC_SIZES[0] if d is None else int(d) for d in s[1:]), dtype),
        shapes, is_leaf=is_shape)


def _holds_kt(value) -> bool:
    return any(isinstance(t, KerasTensor) for t in
               jax.tree.leaves(value, is_leaf=lambda t: isinstance(t, KerasTensor)))


def _is_tensor_like(value) -> bool:
    return all(hasattr(t, "shape") and hasattr(t, "dtype") for t in jax.tree.leaves(value)) \
        and bool(jax.tree.leaves(value))


def makes_masks(layer) -> bool:
    """Whether the layer computes its own output mask (overrides `compute_mask`)."""
    return type(layer).compute_mask is not Layer.compute_mask


def takes_mask(layer) -> bool:
    """Whether the layer's `call` (or `apply`) takes the keyword `mask`."""
    if type(layer).apply is Layer.apply:
        fn = layer.call
    else:
        fn = layer.apply
    try:
        return "mask" in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def apply_masked(layer, params, state, inputs, in_mask, *args, training=False, rng=None,
                 batch_mask=None, **call_kwargs):
    """Runs a layer inside a container with Keras's mask channel: `mask=` goes to a layer
    whose `call` takes it, and the output mask comes from `compute_mask`.

    Returns:
        `(outputs, new_state, output_mask)`; the mask is None when no mask reaches or leaves
        the layer (then nothing extra is traced).
    """
    kwargs = {"mask": in_mask} if in_mask is not None and takes_mask(layer) else {}
    if in_mask is not None:  # the tensors carry their masks into the layer's `call`, as in Keras
        set_keras_masks(inputs, in_mask)
    out, new_state = apply_layer(layer, params, state, inputs, *args, training=training,
                                 rng=rng, batch_mask=batch_mask, **call_kwargs, **kwargs)
    computed = None
    if in_mask is not None or makes_masks(layer):
        computed = layer.compute_mask(inputs, in_mask)
        set_keras_masks(out, computed)
    # the masks the outputs carry: `compute_mask`'s, or (as Keras keeps them) those the call
    # attached itself, as a nested model's or a sublayer's outputs carry theirs; `compute_mask`'s
    # where an output cannot carry one (a NumPy array passed through)
    carried = keras_mask(out)
    return out, new_state, computed if carried is None else carried


def init_masked(layer, rng, inputs, in_mask, *args, arg_masks=None, **kwargs):
    """`layer.init` inside a container with Keras's mask channel: a layer written with
    `call(inputs, mask=None)` gets the incoming mask (a spec) on the call that builds it too,
    as in Keras's symbolic call, where a `call` that needs its mask sees it. `arg_masks`: the
    `{name}_mask` keywords of `argument_masks`, for such a layer alike."""
    if layer._uses_call():
        if in_mask is not None and takes_mask(layer):
            kwargs["mask"] = in_mask
        kwargs.update(arg_masks or {})
    return layer.init(rng, inputs, *args, **kwargs)


def spec_masked(layer, params, state, inputs, in_mask, *args, **kwargs):
    """`apply_masked`'s `(outputs, output_mask)` as specs, computed without running anything.
    Keyword arguments that hold no arrays or specs (`reverse=True`) are passed as they are."""
    traced = {k: v for k, v in kwargs.items() if holds_arrays(v)}
    plain = {k: v for k, v in kwargs.items() if k not in traced}
    return jax.eval_shape(
        lambda p, s, x, m, a, k: apply_masked(layer, p, s, x, m, *a, **k, **plain)[::2],
        params, state, inputs, in_mask, tuple(args), traced)


def argument_masks(layer, args, tensor_kwargs, given, mask_of) -> Dict[str, Any]:
    """Keras's rule for a layer called on several tensors (`mha(query, value, key=k)`): the
    mask of each further tensor argument `name` (`mask_of(tensor)`, None for none) goes to the
    keyword `{name}_mask` when the layer's `apply` (or `call`) takes one and the call (`given`)
    did not set it. The first input's mask goes to `mask=` (`apply_masked`)."""
    uses_call = type(layer).apply is Layer.apply
    fn = layer.call if uses_call else layer.apply
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    positional = [p.name for p in params.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    positional = positional[1 if uses_call else 3:]  # after (inputs) / (params, state, inputs)
    out = {}
    for name, tensor in list(zip(positional, args)) + list(tensor_kwargs.items()):
        target = f"{name}_mask"
        if target in params and given.get(target) is None:
            mask = mask_of(tensor)
            if mask is not None:
                out[target] = mask
    return out


def holds_arrays(value) -> bool:
    """Whether a call argument holds arrays or specs (traced), rather than plain values."""
    return any(hasattr(leaf, "shape") and hasattr(leaf, "dtype")
               for leaf in jax.tree.leaves(value))


# The masks of tensors that take no attribute (JAX tracers, inside jit/grad), by id, as Keras
# keeps them (its `_keras_mask_dict`): an entry goes when its tensor does.
_ATTACHED_MASKS: Dict[int, Tuple[Any, Any]] = {}


def _attach(tensor, mask):
    """Attaches `mask` to a JAX array, tracer or symbolic tensor; nothing else (a NumPy array
    outlives the call), and no traced mask to a concrete array (it would leak the tracer)."""
    if isinstance(tensor, KerasTensor):
        tensor._keras_mask = mask
        return
    is_tracer = lambda v: isinstance(v, jax.core.Tracer)
    if not isinstance(tensor, jax.Array) or (
            not is_tracer(tensor) and any(is_tracer(m) for m in jax.tree.leaves(mask))):
        return
    try:
        tensor._keras_mask = mask
        return
    except AttributeError:
        pass
    key = id(tensor)
    try:
        ref = weakref.ref(tensor, lambda _, k=key: _ATTACHED_MASKS.pop(k, None))
    except TypeError:
        return
    _ATTACHED_MASKS[key] = (ref, mask)


def _attached(tensor):
    mask = getattr(tensor, "_keras_mask", None)
    if mask is None:
        entry = _ATTACHED_MASKS.get(id(tensor))
        if entry is not None and entry[0]() is tensor:
            mask = entry[1]
    return mask


def keras_mask(value):
    """The Keras mask attached to an array, tracer or symbolic tensor (`_keras_mask`), in the
    structure of `value`; None when no leaf carries one."""
    is_kt = lambda t: isinstance(t, KerasTensor)
    leaves = jax.tree.leaves(value, is_leaf=is_kt)
    masks = [_attached(t) for t in leaves]
    if all(m is None for m in masks):
        return None
    if len(leaves) == 1 and (is_kt(value) or hasattr(value, "shape")):
        return masks[0]
    return jax.tree.unflatten(jax.tree.structure(value, is_leaf=is_kt), masks)


def warn_if_mask_dropped(layer, in_mask):
    """Keras's warning when a mask reaches a layer that neither passes it on, nor makes one,
    nor takes it in its call."""
    if in_mask is not None and not (layer.supports_masking or makes_masks(layer)
                                    or takes_mask(layer)) and any(
            m is not None for m in jax.tree.leaves(in_mask, is_leaf=lambda t: t is None)):
        warnings.warn(
            f"Layer '{layer.name}' (of type {type(layer).__name__}) was passed an input with a "
            "mask attached to it. However, this layer does not support masking and will "
            "therefore destroy the mask information. Downstream layers will not see the mask.",
            stacklevel=4)


def set_keras_masks(outputs, out_mask):
    """Attaches `out_mask` (a layer's `compute_mask`) to its outputs as `_keras_mask`, as
    Keras's `_set_mask_metadata` does: the flattened masks go to the flattened outputs in
    order (a single output takes the first mask), and an output that carries a mask already
    keeps it."""
    is_kt = lambda t: isinstance(t, KerasTensor)
    leaves = jax.tree.leaves(outputs, is_leaf=is_kt)
    if out_mask is None or not leaves:
        return
    masks = jax.tree.leaves(out_mask, is_leaf=lambda t: t is None or is_kt(t)
                            or hasattr(t, "shape"))
    for t, m in zip(leaves, masks):
        if m is not None and _attached(t) is None:
            _attach(t, m)


def _masks_into(layer, inputs, args, kwargs):
    """Keras's mask arguments of a layer call (eager, or inside another layer's `call`): the
    inputs' attached mask goes to `mask=` and the further tensor arguments' to `{name}_mask`,
    where the layer takes them and the call did not set them (`kwargs` is updated). Returns
    the mask the output's is computed from (an explicit `mask=` first)."""
    in_mask = kwargs.get("mask")
    if in_mask is None:
        in_mask = keras_mask(inputs)
        if in_mask is not None and takes_mask(layer):
            kwargs["mask"] = in_mask
    kwargs.update(argument_masks(layer, args, {k: v for k, v in kwargs.items()
                                               if k != "mask" and holds_arrays(v)},
                                 kwargs, keras_mask))
    return in_mask


def _masks_onto(layer, inputs, out, in_mask):
    """Attaches the layer's output masks (`compute_mask`) to `out`; Keras's warning where a
    mask stops at a layer that does not handle masks. Returns `out`."""
    if in_mask is not None or makes_masks(layer):
        set_keras_masks(out, layer.compute_mask(inputs, in_mask))
    warn_if_mask_dropped(layer, in_mask)
    return out


def _is_float(dtype) -> bool:
    return jnp.issubdtype(jnp.dtype(dtype), jnp.floating)


def _cast_floats(tree, dtype):
    """`tree` with its floating arrays (and specs) of another dtype cast to `dtype` (a cast
    array keeps its attached Keras mask)."""
    def cast(x):
        if isinstance(x, jax.ShapeDtypeStruct):
            return jax.ShapeDtypeStruct(x.shape, dtype) if _is_float(x.dtype) else x
        if hasattr(x, "dtype") and hasattr(x, "astype") and _is_float(x.dtype) \
                and x.dtype != dtype:
            mask = _attached(x)
            x = x.astype(dtype)
            if mask is not None:
                _attach(x, mask)
        return x
    return jax.tree.map(cast, tree, is_leaf=lambda x: isinstance(x, jax.ShapeDtypeStruct))


def _autocast(layer: "Layer", params, state, inputs, args, kwargs):
    """Keras's dtype policy where the layer is called: floating inputs (and array arguments)
    to the compute dtype; under a mixed policy, the layer's own floating weights too (not its
    sublayers', which cast their own; not the weights it keeps in float32)."""
    compute = jnp.dtype(layer.compute_dtype)
    if layer._convert_input_args:
        inputs, args = _cast_floats(inputs, compute), _cast_floats(args, compute)
        kwargs = {k: v if k == "mask" else _cast_floats(v, compute) for k, v in kwargs.items()}
    if layer._active_policy.is_mixed:
        keep = set(dict(layer._sublayer_items())) | set(layer._float32_weights) \
            | layer._exempt_weights
        params, state = ({k: v if k in keep else _cast_floats(v, compute) for k, v in t.items()}
                         if isinstance(t, dict) else t for t in (params, state))
    return params, state, inputs, args, kwargs


def check_input_spec(layer: "Layer", inputs: Any):
    """Checks `inputs` (arrays, specs or symbolic tensors) against the layer's `input_spec`, if
    it declares one: a ValueError naming the layer and the mismatch. Reads static shapes only."""
    spec = getattr(layer, "input_spec", None)
    if spec is not None:
        assert_input_compatibility(spec, inputs, layer.name)


def apply_layer(layer: "Layer", params: Params, state: State, inputs: Any, *args,
                training: bool = False, rng: Optional[PRNGKey] = None,
                batch_mask: Optional[jax.Array] = None, **kwargs) -> Tuple[Any, State]:
    """Calls `layer.apply`, passing `batch_mask=` only to a layer that takes it.

    Containers call their sublayers through this, so a layer written with the plain
    `apply(params, state, inputs, *, training=False, rng=None)` signature keeps working when a
    batch mask is given.

    Args:
        batch_mask: None, or a float array of shape `(batch,)`: 1.0 for the real samples of a
            padded batch, 0.0 for the padding rows.

    Returns:
        `(outputs, new_state)`, as `layer.apply` returns them.
    """
    check_input_spec(layer, inputs)  # static shapes: checked once per trace, never per step
    if batch_mask is not None and (layer.takes_batch_mask or type(layer).apply is Layer.apply):
        kwargs["batch_mask"] = batch_mask
    stored_state = state
    if layer.autocast and _is_float(layer.compute_dtype):
        params, state, inputs, args, kwargs = _autocast(layer, params, state, inputs, args, kwargs)
    apply = rematerialized_apply(layer, layer.apply)  # remat: jax.checkpoint per RematScope
    out, new_state = apply(params, state, inputs, *args, training=training, rng=rng, **kwargs)
    if new_state is not stored_state:  # state updates keep the dtype of the weights
        new_state = jax.tree.map(lambda new, old: new.astype(old.dtype)
                                 if hasattr(new, "astype") and new.dtype != old.dtype else new,
                                 new_state, stored_state)
    if layer.activity_regularizer is not None:
        # Keras 3: the penalty of each output, divided by its batch size
        for value in jax.tree.leaves(out):
            penalty = jnp.asarray(layer.activity_regularizer(value))
            if value.ndim > 0 and value.shape[0]:
                penalty = penalty / jnp.asarray(value.shape[0], penalty.dtype)
            record_loss(penalty)
    return out, new_state


class Node:
    """One call of a layer on symbolic inputs: the graph edge the functional API records."""

    def __init__(self, layer: Layer, inputs: Any, outputs: Any, call_kwargs=None, args=()):
        self.layer = layer
        self.inputs = inputs
        self.outputs = outputs
        self.args = tuple(args)  # further positional arguments (tensors or values)
        # non-tensor call arguments recorded with the call (`training=False` pins a sub-model
        # to inference mode, as in Keras's transfer-learning recipe)
        self.call_kwargs = dict(call_kwargs or {})

    @property
    def input_tensors(self) -> List["KerasTensor"]:
        """Every symbolic tensor the call used: the input, further arguments, keywords."""
        is_kt = lambda t: isinstance(t, KerasTensor)
        return [t for t in jax.tree.leaves((self.inputs, self.args, self.call_kwargs),
                                           is_leaf=is_kt) if is_kt(t)]

    @property
    def output_tensors(self) -> List["KerasTensor"]:
        return jax.tree.leaves(self.outputs, is_leaf=lambda t: isinstance(t, KerasTensor))


class KerasTensor:
    """A symbolic tensor: a shape (batch axis `None`), a dtype and the node that made it."""

    def __init__(self, shape: Shape, dtype: Any = "float32", node: Optional[Node] = None,
                 name: Optional[str] = None):
        self.shape = tuple(shape)
        self.dtype = jnp.dtype(dtype)
        self.node = node
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self):
        return f"<KerasTensor shape={shape_str(self.shape)}, dtype={self.dtype.name}, name={self.name}>"

    def __add__(self, other):
        from ._merging import Add
        return Add()([self, other])

    def __bool__(self):
        raise TypeError("A symbolic KerasTensor has no truth value.")

    # JAX would otherwise try to trace symbolic tensors as arrays.
    def __jax_array__(self):
        raise TypeError(
            f"{self!r} is symbolic (from `kerasx.Input`); it cannot be used as a JAX array. "
            "Use kerasx layers on it, then `kerasx.Model(inputs, outputs)`."
        )


def _symbolic_call(layer: Layer, inputs: Any, args=(), call_kwargs=None):
    """Records `layer(inputs, *args, **call_kwargs)` in the graph and returns symbolic
    outputs. Tensors may appear in `args` and `call_kwargs` (`mha(query, value,
    attention_mask=m)`); other keyword arguments (`training=False`) are recorded with the call.

    The Keras mask channel runs symbolically too: the inputs' masks (`_keras_mask`) go to a
    `call(..., mask=None)` (and `{name}_mask`) while the output shape is computed, and the
    outputs carry the masks `compute_mask` gives them. (At run time the model passes the
    masks itself; they are not recorded with the call.)"""
    is_kt = lambda t: isinstance(t, KerasTensor)
    call_kwargs = {k: v for k, v in (call_kwargs or {}).items() if v is not None}
    tensor_kwargs = {k: v for k, v in call_kwargs.items() if _holds_kt(v)}
    in_mask = call_kwargs.get("mask", keras_mask(inputs))
    arg_masks = argument_masks(layer, args, tensor_kwargs, call_kwargs, keras_mask)
    feeds_mask = (in_mask is not None and takes_mask(layer) and "mask" not in call_kwargs) \
        or bool(arg_masks)
    makes_mask = in_mask is not None or makes_masks(layer)
    everything = (inputs, tuple(args), tensor_kwargs, in_mask, arg_masks)
    has_unknown = any(None in t.shape for t in jax.tree.leaves(everything, is_leaf=is_kt))

    def spec_at(size):
        spec0, arg_specs, kw_specs, mask_spec, arg_mask_specs = as_spec(everything, size)
        out_mask = None
        if makes_mask:
            out_mask = jax.eval_shape(layer.compute_mask, spec0, mask_spec)
        if not args and not (set(call_kwargs) - {"training"}) and not feeds_mask:
            return layer.output_spec(spec0), out_mask
        plain = {k: v for k, v in call_kwargs.items() if k not in tensor_kwargs and
                 k != "training"}
        p, s = jax.eval_shape(
            lambda a, b, c, m, am: init_masked(layer, jax.random.key(0), a, m, *b,
                                               arg_masks=am, **c),
            spec0, arg_specs, kw_specs, mask_spec, arg_mask_specs)
        out = jax.eval_shape(
            lambda p_, s_, a, m, b, c: apply_masked(layer, p_, s_, a, m, *b, **c, **plain)[0],
            p, s, spec0, None if "mask" in call_kwargs else mask_spec, arg_specs,
            {**kw_specs, **arg_mask_specs})
        return out, out_mask

    try:
        specs = [spec_at(size) for size in (_SYMBOLIC_SIZES if has_unknown else _SYMBOLIC_SIZES[:1])]
    except (ValueError, TypeError) as e:
        shapes = jax.tree.map(lambda t: shape_str(t.shape), inputs, is_leaf=is_kt)
        raise type(e)(f"{e}\n(while calling layer '{layer.name}' on inputs of shape {shapes})") from e
    # A dimension that follows the stand-in size of the unknown input dimensions is unknown.
    outputs, out_mask = jax.tree.map(
        lambda *ss: KerasTensor(tuple(d if all(s.shape[i] == d for s in ss) else None
                                      for i, d in enumerate(ss[0].shape)), ss[0].dtype),
        *specs)
    set_keras_masks(outputs, out_mask)
    warn_if_mask_dropped(layer, in_mask)
    node = Node(layer, inputs, outputs, call_kwargs, tuple(args))
    for t in node.output_tensors:
        t.node = node
    layer._inbound_nodes.append(node)
    return outputs
