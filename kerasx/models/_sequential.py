"""`Sequential`: the serial combinator of layers."""

from typing import List, Optional, Sequence

import jax

from ..layers._base import KerasTensor, Layer, apply_layer, as_spec, shape_str
from ..layers._core import InputLayer
from ._model import Model, _spec_from_shapes


def unique_key(layer: Layer, taken) -> str:
    """The layer's key in a container: its name, made unique among `taken` if it was auto-named.

    An auto-named layer gets its final name the first time it is placed in a model.
    """
    name = layer.name
    if name not in taken:
        return name
    if not layer._auto_named:
        raise ValueError(
            f"Two layers share the name '{name}' in one model; names must be unique. Give one "
            f"of them another `name=`."
        )
    i = 1
    while f"{name}_{i}" in taken:
        i += 1
    layer.name = f"{name}_{i}"
    return layer.name


class Sequential(Model):
    """A linear stack of layers, each taking the previous one's output.

    Args:
        layers: an optional list of layers (a `kerasx.Input` may come first).
        name: the model's name.

    Example:
        model = Sequential([Input((784,)), Dense(128, activation="relu"), Dense(10)])
    """

    takes_batch_mask = True

    def __init__(self, layers: Optional[Sequence[Layer]] = None, name: Optional[str] = None,
                 trainable: bool = True):
        super().__init__(name=name, trainable=trainable)
        self._layers: List[Layer] = []
        self._keys: List[str] = []
        self._input_shape: Optional[tuple] = None
        self._input_dtype = None
        self._input_name: Optional[str] = None  # the name of the Input it started with, if any
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        """Appends a layer (or sets the input shape, for a `kerasx.Input`)."""
        if isinstance(layer, KerasTensor) and isinstance(layer.node.layer, InputLayer):
            layer = layer.node.layer
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError(
                    f"An Input can only come first in Sequential model '{self.name}'; it already "
                    f"has layers {self._keys}."
                )
            self._input_shape = (layer.batch_size,) + layer.shape
            self._input_dtype = layer.dtype
            self._input_name = layer.name
            return
        if not isinstance(layer, Layer):
            raise TypeError(
                f"Only kerasx layers can be added to Sequential model '{self.name}'. "
                f"Received: {layer!r} of type {type(layer).__name__}"
            )
        if not self._layers and self._input_shape is None and layer._input_shape_arg is not None:
            self._input_shape = (layer._batch_size_arg,) + layer._input_shape_arg
        self._keys.append(unique_key(layer, set(self._keys)))
        self._layers.append(layer)
        if self.built:  # keep the weights of existing layers, add the new layer's
            old_params, old_state = self._params, self._state
            self._params = self._state = None
            if self._input_spec_shapes() is not None:
                self.build()
                self._params = {**self._params, **old_params}
                self._state = {**self._state, **old_state}

    def pop(self):
        """Removes the last layer."""
        if not self._layers:
            raise ValueError(f"Sequential model '{self.name}' has no layers to pop.")
        key = self._keys.pop()
        layer = self._layers.pop()
        if self.built:
            self._params = {k: v for k, v in self._params.items() if k != key}
            self._state = {k: v for k, v in self._state.items() if k != key}
        return layer

    def _layer_items(self):
        return list(zip(self._keys, self._layers))

    def _input_spec_shapes(self):
        return self._input_shape

    def _input_dtypes(self):
        return self._input_dtype

    @property
    def output_names(self):
        return [self._keys[-1]] if self._keys else ["output"]

    def _check_input(self, spec):
        if not hasattr(spec, "shape"):
            raise ValueError(
                f"Sequential model '{self.name}' takes a single array as input; received "
                f"{jax.tree.map(lambda s: shape_str(s.shape), spec)}."
            )
        if self._input_shape is None:
            return
        expected = self._input_shape
        got = tuple(spec.shape)
        ok = len(got) == len(expected) and all(e is None or e == g for e, g in zip(expected[1:], got[1:]))
        if not ok:
            first = self._keys[0] if self._keys else self.name
            raise ValueError(
                f"Input 0 of layer '{first}' (model '{self.name}') is incompatible with the "
                f"layer: expected shape={shape_str((None,) + tuple(expected[1:]))}, found "
                f"shape={shape_str(got)}."
            )

    def _check_input_data(self, spec):
        self._check_input(spec)

    def init(self, rng, input_spec):
        if not self._layers:
            raise ValueError(f"Sequential model '{self.name}' has no layers; add some first.")
        spec = as_spec(input_spec)
        self._check_input(spec)
        if self._input_shape is None:  # remember what it was built for (lazy build)
            self._input_shape = (None,) + tuple(spec.shape[1:])
            self._input_dtype = spec.dtype
        params, state = {}, {}
        for i, (key, layer) in enumerate(self._layer_items()):
            p, s = layer.init(jax.random.fold_in(rng, i), spec)
            params[key], state[key] = p, s
            spec = jax.eval_shape(lambda p_, s_, x_: layer.apply(p_, s_, x_)[0], p, s, spec)
        return params, state

    def apply(self, params, state, inputs, *, training=False, rng=None, batch_mask=None):
        """Runs the layers in order; `batch_mask` (shape `(batch,)`, 0.0 for padding rows) goes
        to the layers that take it (BatchNormalization, nested models)."""
        self._check_input(as_spec(inputs))
        x, new_state = inputs, {}
        for i, (key, layer) in enumerate(self._layer_items()):
            layer_rng = None if rng is None else jax.random.fold_in(rng, i)
            x, new_state[key] = apply_layer(layer, params[key], state[key], x, training=training,
                                            rng=layer_rng, batch_mask=batch_mask)
        return x, new_state

    def _summary_rows(self):
        spec = _spec_from_shapes(self._input_shape, self._input_dtype)
        rows = []
        for key, layer in self._layer_items():
            p, s = self.params[key], self.state[key]
            spec = jax.eval_shape(lambda p_, s_, x_: layer.apply(p_, s_, x_)[0], p, s, spec)
            shape = shape_str((None,) + tuple(spec.shape[1:]))
            n = sum(int(a.size) for a in jax.tree.leaves((p, s)))
            rows.append((f"{key} ({type(layer).__name__})", shape, n))
        return rows

    def get_config(self):
        """Keras 3's Sequential config: name, trainable, dtype, `layers` (each serialized, an
        InputLayer first when the input shape is known) and `build_input_shape`."""
        from ..saving._serialization import serialize

        layers = []
        if self._input_shape is not None:
            layers.append(serialize(InputLayer(batch_shape=self._input_shape,
                                               dtype=self._input_dtype, name=self._input_name)))
        for key, layer in self._layer_items():
            cfg = serialize(layer)
            cfg["config"] = {**cfg["config"], "name": key}
            layers.append(cfg)
        return {"name": self.name, "trainable": self.trainable, "dtype": self.dtype.name,
                "layers": layers,
                "build_input_shape": None if self._input_shape is None else self._input_shape}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuilds a Sequential model from `get_config()` (or from Keras 3's config).

        Args:
            config: the dict `get_config()` returns (a bare list of layer configs, Keras's
                legacy form, is accepted too).
            custom_objects: optional `{name: class_or_function}` for unregistered custom layers
                and activations.

        Returns:
            A new, unbuilt model with the same layers (fresh weights on first use).
        """
        from ..saving._serialization import deserialize

        if isinstance(config, (list, tuple)):
            config = {"layers": list(config)}
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for layer_config in config.get("layers", []):
            layer = deserialize(layer_config, custom_objects)
            if not isinstance(layer, Layer):
                raise ValueError(
                    f"Sequential model '{model.name}': its config lists {layer_config!r}, which "
                    f"does not describe a layer."
                )
            model.add(layer)
        build_input_shape = config.get("build_input_shape")
        if model._input_shape is None and isinstance(build_input_shape, (list, tuple)):
            model._input_shape = tuple(build_input_shape)
        return model
