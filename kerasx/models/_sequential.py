"""`Sequential`: the serial combinator of layers."""

from typing import List, Optional, Sequence

import jax

from ..layers._base import (_SYMBOLIC_SIZES, KerasTensor, Layer, apply_masked, as_spec,
                            check_input_spec, init_masked, keras_mask, shape_str, spec_masked)
from ..layers._tree import unique_key as unique_key
from ..layers._core import InputLayer
from ._model import Model, _spec_from_shapes


class Sequential(Model):
    """A linear stack of layers, each taking the previous one's output.

    Args:
        layers: an optional list of layers (a `kerasx.Input` may come first).
        name: the model's name.

    Example:
        model = Sequential([Input((784,)), Dense(128, activation="relu"), Dense(10)])
    """

    takes_batch_mask = True
    _convert_input_args = False  # each layer casts its own inputs (Keras: per Input's dtype)

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
        was_built = bool(self._layers) and self.built
        self._keys.append(unique_key(layer, set(self._keys)))
        self._layers.append(layer)
        self._forget_graph()
        if was_built and self._input_spec_shapes() is not None:
            self.build()  # the layers that hold weights keep them; the new one gets its own

    def pop(self):
        """Removes the last layer."""
        if not self._layers:
            raise ValueError(f"Sequential model '{self.name}' has no layers to pop.")
        self._keys.pop()
        layer = self._layers.pop()
        self._forget_graph()
        return layer

    def _sublayer_items(self):
        return list(zip(self.__dict__.get("_keys", []), self.__dict__.get("_layers", [])))

    # ------------------------------------------------------------------ the symbolic graph
    def _graph(self):
        """`(inputs, outputs)`: the model's layers called on a `kerasx.Input` of its input
        shape (made once, on first use), so `model.inputs`, `model.outputs` and each layer's
        `input`/`output` exist as in Keras (feature extraction:
        `Model(model.inputs, model.layers[-2].output)`)."""
        graph = self.__dict__.get("_symbolic")
        if graph is None:
            if self._input_shape is None:
                raise AttributeError(
                    f"Sequential model '{self.name}' has no symbolic inputs and outputs yet: it "
                    "does not know its input shape. Start it with `kerasx.Input(shape)` or pass "
                    "`input_shape=` to its first layer.")
            from ..layers._core import InputLayer, input_tensor

            x = inputs = input_tensor(InputLayer(batch_shape=self._input_shape,
                                                 dtype=self._input_dtype, name=self._input_name))
            for layer in self._layers:
                x = layer(x)
            graph = self._symbolic = (inputs, x)
        return graph

    def _forget_graph(self):
        graph = self.__dict__.pop("_symbolic", None)
        if graph is not None:  # the layers' nodes of the old graph are not theirs any more
            for layer in self._layers:
                layer._inbound_nodes = [n for n in layer._inbound_nodes
                                        if not any(t is graph[0] for t in _upstream(n))]

    @property
    def inputs(self):
        return [self._graph()[0]]

    @property
    def outputs(self):
        return [self._graph()[1]]

    @property
    def input(self):
        return self._graph()[0]

    @property
    def output(self):
        return self._graph()[1]

    @property
    def input_shape(self):
        """The input's shape, batch axis first (Keras's `input_shape`); an `AttributeError`
        while the model does not know it."""
        return tuple(self._graph()[0].shape)

    @property
    def output_shape(self):
        """The output's shape, batch axis first (Keras's `output_shape`); an `AttributeError`
        while the model does not know its input shape."""
        return tuple(self._graph()[1].shape)

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
        # Keras's Sequential checks the rank and, through its first layer's input spec, the
        # feature (last) axis; the axes between (a sequence length, an image size) may differ
        # from those it was built or declared for. (A Sequential built lazily inside a layer
        # called on `kerasx.Input` tensors sees the stand-in sizes of their unknown axes.)
        expected = self._input_shape
        got = tuple(spec.shape)
        ok = len(got) == len(expected) and (
            len(got) < 2 or expected[-1] is None or expected[-1] == got[-1])
        if not ok:
            first = self._keys[0] if self._keys else self.name
            raise ValueError(
                f"Input 0 of layer '{first}' (model '{self.name}') is incompatible with the "
                f"layer: expected shape={shape_str((None,) + tuple(expected[1:]))}, found "
                f"shape={shape_str(got)}."
            )

    def _check_input_data(self, spec):
        self._check_input(spec)

    def build(self, input_shape=None):
        """Creates the weights for inputs of `input_shape` (batch axis included or None), which
        becomes the model's input shape (any batch size), unknown dimensions (`(None, None)`)
        left unknown."""
        is_shape = isinstance(input_shape, (tuple, list)) and all(
            d is None or isinstance(d, int) for d in input_shape)
        if is_shape and self._input_shape is None and len(input_shape) >= 1:
            self._input_shape = (None,) + tuple(input_shape[1:])
        super().build(input_shape)

    def init(self, rng, input_spec):
        if not self._layers:
            raise ValueError(f"Sequential model '{self.name}' has no layers; add some first.")
        spec = as_spec(input_spec)
        self._check_input(spec)
        if self._input_shape is None:  # remember what it was built for (lazy build)
            self._input_shape = (None,) + tuple(spec.shape[1:])
            self._input_dtype = spec.dtype
        elif self._input_shape[0] is not None:  # built for its declared batch (stateful RNNs)
            spec = jax.ShapeDtypeStruct((self._input_shape[0],) + tuple(spec.shape[1:]),
                                        spec.dtype)
        params, state, mask = {}, {}, None
        for i, (key, layer) in enumerate(self._layer_items()):
            check_input_spec(layer, spec)
            p, s = init_masked(layer, jax.random.fold_in(rng, i), spec, mask)
            params[key], state[key] = p, s
            spec, mask = spec_masked(layer, p, s, spec, mask)
        return params, state

    def apply(self, params, state, inputs, *, training=False, rng=None, batch_mask=None):
        """Runs the layers in order; `batch_mask` (shape `(batch,)`, 0.0 for padding rows) goes
        to the layers that take it (BatchNormalization, nested models)."""
        x, new_state, _ = self.apply_with_masks(params, state, inputs, training=training,
                                                rng=rng, batch_mask=batch_mask)
        return x, new_state

    def apply_with_masks(self, params, state, inputs, *, training=False, rng=None,
                         batch_mask=None):
        """`apply`, also returning the output's Keras mask (None when no layer made one)."""
        self._check_input(as_spec(inputs))
        x, mask, new_state = inputs, keras_mask(inputs), {}  # a mask the inputs carry
        for i, (key, layer) in enumerate(self._layer_items()):
            layer_rng = None if rng is None else jax.random.fold_in(rng, i)
            x, new_state[key], mask = apply_masked(layer, params[key], state[key], x, mask,
                                                   training=training, rng=layer_rng,
                                                   batch_mask=batch_mask)
        return x, new_state, mask

    def _summary_rows(self):
        # Unknown input dimensions (a sequence length) run at two stand-in sizes: an output
        # dimension that follows them is unknown too, as Keras prints it (None).
        known = _spec_from_shapes(self._input_shape, self._input_dtype)
        other = jax.tree.map(
            lambda s, full: jax.ShapeDtypeStruct(tuple(
                _SYMBOLIC_SIZES[1] if d is None and i else s.shape[i]
                for i, d in enumerate(full)), s.dtype), known, self._input_shape,
            is_leaf=lambda t: isinstance(t, jax.ShapeDtypeStruct))
        specs, masks = [known, other], [None, None]
        rows = []
        params, state = self._trees()
        for key, layer in self._layer_items():
            p, s = params[key], state[key]
            specs, masks = zip(*[spec_masked(layer, p, s, spec, mask)
                                 for spec, mask in zip(specs, masks)])
            dims = [d if d == specs[1].shape[i] else None
                    for i, d in enumerate(specs[0].shape)]
            shape = shape_str((None,) + tuple(dims[1:]))
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


def _upstream(node):
    """The input tensors that `node` depends on (walking back to the graph's inputs)."""
    out, stack, seen = [], [node], set()
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        if not n.input_tensors:
            out += n.output_tensors
        for t in n.input_tensors:
            if t.node is not None:
                stack.append(t.node)
    return out
