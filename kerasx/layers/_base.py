"""The layer protocol: pure `init`/`apply` pairs, plus symbolic tensors for the functional API.

A layer object holds hyperparameters only. Its arrays live in two pytrees that the caller
threads explicitly:

    params, state = layer.init(rng, input_spec)
    outputs, state = layer.apply(params, state, inputs, training=False, rng=None)

Calling a layer on symbolic tensors (from `kerasx.Input`) records a node in a graph that
`kerasx.Model(inputs, outputs)` turns into a model.
"""

import re
from typing import Any, Dict, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .._types import Params, PRNGKey, Shape, Spec, State

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


def shape_str(shape: Sequence[Optional[int]]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def standardize_dtype_config(dtype: Any) -> Any:
    """A dtype from a config: a name, or a Keras 3 dtype-policy dict (its `config.name`)."""
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
    "lora_rank": None, "lora_alpha": None, "mask_zero": False, "sparse": False, "ragged": False,
    "optional": False, "synchronized": False, "renorm": False, "renorm_clipping": None,
    "renorm_momentum": None,
}


def _drop_keras_only_args(cls, config: Dict[str, Any]) -> Dict[str, Any]:
    """Drops the Keras-only arguments of `config` that hold their defaults; raises a ValueError
    naming the argument for one that does not (kerasx cannot honour it)."""
    out = {}
    renorm = bool(config.get("renorm", False))
    for key, value in config.items():
        if key in _KERAS_ONLY_ARGS:
            default = _KERAS_ONLY_ARGS[key]
            if value == default or (key.startswith("renorm_") and not renorm):
                continue
            raise ValueError(
                f"kerasx's {cls.__name__} does not support the Keras argument `{key}`; this "
                f"config sets {key}={value!r}. Remove it (set it to {default!r}) to load the layer."
            )
        out[key] = value
    return out


class Layer:
    """Base class of all layers and models.

    Args:
        name: the layer's name; also its key in a model's params/state dicts. Defaults to
            the snake-case class name, made unique within the model that holds it.
        trainable: whether `fit` updates this layer's params.
        dtype: the dtype of the layer's weights (default "float32").
        input_shape: Keras's shortcut on the first layer of a `Sequential`: the shape of one
            sample, without the batch axis.
    """

    # True for layers whose training output depends on the whole batch (BatchNormalization).
    uses_batch_statistics = False
    # True for layers whose `apply` takes the keyword `batch_mask` (BatchNormalization and the
    # models); containers pass it through `apply_layer`, so other layers keep the plain signature.
    takes_batch_mask = False

    def __init__(self, *, name: Optional[str] = None, trainable: bool = True,
                 dtype: Any = None, input_shape: Optional[Sequence[int]] = None,
                 input_dim: Optional[int] = None, batch_size: Optional[int] = None):
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"Expected `name` to be a non-empty string. Received: name={name!r}")
        self._name = name if name is not None else to_snake_case(type(self).__name__)
        self._auto_named = name is None
        self.trainable = bool(trainable)
        self.dtype = jnp.dtype(dtype or "float32")
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if input_shape is not None:
            input_shape = tuple(input_shape) if isinstance(input_shape, (tuple, list)) else (input_shape,)
        self._input_shape_arg: Optional[Tuple[Optional[int], ...]] = input_shape
        self._batch_size_arg = batch_size

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

    # ----------------------------------------------------------------------------- protocol
    def init(self, rng: PRNGKey, input_spec: Spec) -> Tuple[Params, State]:
        """Creates the layer's params and state for inputs shaped like `input_spec`.

        `input_spec` is a pytree of `jax.ShapeDtypeStruct` (arrays are accepted too).
        A layer without weights returns `({}, {})`.
        """
        return {}, {}

    def apply(self, params: Params, state: State, inputs: Any, *, training: bool = False,
              rng: Optional[PRNGKey] = None) -> Tuple[Any, State]:
        """Runs the layer: returns `(outputs, new_state)`. Pure; safe under jit/grad/vmap."""
        raise NotImplementedError(f"{type(self).__name__} does not implement `apply`.")

    def output_spec(self, input_spec: Spec) -> Spec:
        """Output shapes and dtypes for `input_spec`, computed without running anything."""
        input_spec = as_spec(input_spec)
        params, state = jax.eval_shape(lambda: self.init(jax.random.key(0), input_spec))
        out, _ = jax.eval_shape(lambda p, s, x: self.apply(p, s, x), params, state, input_spec)
        return out

    def weight_names(self) -> List[Tuple[str, str]]:
        """The layer's weights in Keras order, as `(collection, key)` pairs where collection is
        "params" or "state"; e.g. Dense: [("params", "kernel"), ("params", "bias")]."""
        return []

    # ----------------------------------------------------------------------------- Keras-layout weights
    def get_weights_from(self, params: Params, state: State) -> List[np.ndarray]:
        """The weights in `params`/`state` as a list of NumPy arrays, in Keras order."""
        trees = {"params": params, "state": state}
        return [np.asarray(trees[c][k]) for c, k in self.weight_names()]

    def set_weights_into(self, params: Params, state: State, weights: Sequence[Any],
                         where: str = "") -> Tuple[Params, State]:
        """Returns new `(params, state)` with `weights` (Keras order) put in place.

        Raises a ValueError naming the layer and both shapes if a shape does not match.
        """
        names = self.weight_names()
        if len(weights) != len(names):
            raise ValueError(
                f"Layer '{where or self.name}' expects {len(names)} weights "
                f"({', '.join(k for _, k in names) or 'none'}), but received {len(weights)}."
            )
        trees = {"params": dict(params), "state": dict(state)}
        for (c, k), w in zip(names, weights):
            old = trees[c][k]
            w = np.asarray(w)
            if tuple(w.shape) != tuple(old.shape):
                raise ValueError(
                    f"Layer '{where or self.name}' weight '{k}' has shape {shape_str(old.shape)}, "
                    f"but the value given has shape {shape_str(w.shape)}."
                )
            trees[c][k] = jnp.asarray(w, dtype=old.dtype)
        return trees["params"], trees["state"]

    def get_config(self) -> Dict[str, Any]:
        """The constructor arguments that recreate this layer (Keras's `get_config`).

        A JSON-ready dict with Keras's keys: `name`, `trainable`, `dtype`, then every constructor
        argument of the layer (activations by name, initializers as Keras's small dicts).
        A subclass with its own arguments adds them: `{**super().get_config(), "units": ...}`.
        """
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name}

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

    # ----------------------------------------------------------------------------- symbolic calls
    def __call__(self, inputs, *args, **kwargs):
        if args or kwargs:
            raise TypeError(
                f"Layer '{self.name}' takes a single (possibly nested) input when called in the "
                f"functional API. Received extra arguments: args={args}, kwargs={list(kwargs)}"
            )
        leaves = jax.tree.leaves(inputs, is_leaf=lambda t: isinstance(t, KerasTensor))
        if leaves and all(isinstance(t, KerasTensor) for t in leaves):
            return _symbolic_call(self, inputs)
        raise TypeError(
            f"Layer '{self.name}' holds no weights, so it cannot be called on arrays directly. "
            "Either call it on symbolic tensors from `kerasx.Input(...)` to build a functional "
            "model, or use the pure API: `params, state = layer.init(jax.random.key(0), x)` then "
            "`y, state = layer.apply(params, state, x)`."
        )


def apply_layer(layer: Layer, params: Params, state: State, inputs: Any, *, training: bool = False,
                rng: Optional[PRNGKey] = None, batch_mask: Optional[jax.Array] = None) -> Tuple[Any, State]:
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
    if batch_mask is not None and layer.takes_batch_mask:
        return layer.apply(params, state, inputs, training=training, rng=rng, batch_mask=batch_mask)
    return layer.apply(params, state, inputs, training=training, rng=rng)


class Node:
    """One call of a layer on symbolic inputs: the graph edge the functional API records."""

    def __init__(self, layer: Layer, inputs: Any, outputs: Any):
        self.layer = layer
        self.inputs = inputs
        self.outputs = outputs

    @property
    def input_tensors(self) -> List["KerasTensor"]:
        return jax.tree.leaves(self.inputs, is_leaf=lambda t: isinstance(t, KerasTensor))

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


def _symbolic_call(layer: Layer, inputs: Any):
    """Records `layer(inputs)` in the graph and returns symbolic outputs."""
    is_kt = lambda t: isinstance(t, KerasTensor)
    has_unknown = any(None in t.shape for t in jax.tree.leaves(inputs, is_leaf=is_kt))
    try:
        specs = [layer.output_spec(as_spec(inputs, size))
                 for size in (_SYMBOLIC_SIZES if has_unknown else _SYMBOLIC_SIZES[:1])]
    except (ValueError, TypeError) as e:
        shapes = jax.tree.map(lambda t: shape_str(t.shape), inputs, is_leaf=is_kt)
        raise type(e)(f"{e}\n(while calling layer '{layer.name}' on inputs of shape {shapes})") from e
    # A dimension that follows the stand-in size of the unknown input dimensions is unknown.
    outputs = jax.tree.map(
        lambda *ss: KerasTensor(tuple(d if all(s.shape[i] == d for s in ss) else None
                                      for i, d in enumerate(ss[0].shape)), ss[0].dtype),
        *specs)
    node = Node(layer, inputs, outputs)
    for t in node.output_tensors:
        t.node = node
    return outputs
