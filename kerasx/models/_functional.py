"""The functional `Model(inputs, outputs)`: a graph combinator built from symbolic tensors."""

from typing import Any, Dict, List, Optional

import jax

from ..layers._base import (KerasTensor, Layer, Node, apply_masked, argument_masks, as_spec,
                            check_input_spec, init_masked, keras_mask, shape_str, spec_masked)
from ..layers._core import InputLayer
from ._model import Model
from ..layers._tree import unique_key

_is_kt = lambda t: isinstance(t, KerasTensor)


def _leaves(tree) -> List[KerasTensor]:
    return jax.tree.leaves(tree, is_leaf=_is_kt)


class Functional(Model):
    """A model defined by calling layers on `kerasx.Input` tensors.

    Args:
        inputs: an Input tensor, or a list or dict of them.
        outputs: a symbolic tensor, or a list or dict of them.
        name: the model's name.

    Layers called more than once share their weights; models can be called like layers.
    """

    takes_batch_mask = True
    _convert_input_args = False  # each layer casts its own inputs (Keras: per Input's dtype)

    def __init__(self, inputs, outputs, name: Optional[str] = None, trainable: bool = True):
        super().__init__(name=name or "functional", trainable=trainable)
        self._auto_named = name is None
        for t in _leaves(inputs):
            if not _is_kt(t) or not isinstance(t.node.layer, InputLayer):
                raise TypeError(
                    "`Model(inputs, outputs)` needs `inputs` made by `kerasx.Input(...)`. "
                    f"Received: {t!r}"
                )
        for t in _leaves(outputs):
            if not _is_kt(t):
                raise TypeError(
                    "`Model(inputs, outputs)` needs `outputs` that are symbolic tensors from layer "
                    f"calls on `kerasx.Input` tensors. Received: {t!r}"
                )
        self._inputs = inputs
        self._outputs = outputs
        self._nodes = self._topological_nodes()
        # Keras's order of `model.layers` (and so of `get_weights()`): by depth from the outputs.
        self._layers: List[Layer] = []
        self._keys: List[str] = []
        seen = set()
        for layer in _keras_layer_order(inputs, outputs):
            self._add_layer(layer, seen)
        self._key_of = {id(l): k for k, l in zip(self._keys, self._layers)}
        # Keras names outputs by their dict keys, else by the layers that produce them.
        self._output_names = (list(outputs) if isinstance(outputs, dict) else
                              [self._key_of[id(t.node.layer)] for t in _leaves(outputs)])

    def _add_layer(self, layer, seen):
        if id(layer) in seen:
            return
        seen.add(id(layer))
        self._keys.append(unique_key(layer, set(self._keys)))
        self._layers.append(layer)

    def _topological_nodes(self) -> List[Node]:
        """The nodes between inputs and outputs, each after all the nodes it depends on."""
        input_ids = {id(t) for t in _leaves(self._inputs)}
        order: List[Node] = []
        state: Dict[int, int] = {}  # 1 visiting, 2 done

        def visit(t: KerasTensor):
            if id(t) in input_ids:
                return
            node = t.node
            if node is None or isinstance(node.layer, InputLayer):
                raise ValueError(
                    f"Model '{self.name}': output {t!r} depends on an Input that is not in "
                    "`inputs`. Pass every Input the outputs use."
                )
            if state.get(id(node)) == 2:
                return
            state[id(node)] = 1
            for u in node.input_tensors:
                visit(u)
            state[id(node)] = 2
            order.append(node)

        for t in _leaves(self._outputs):
            visit(t)
        return order

    # ------------------------------------------------------------------ structure
    def _sublayer_items(self):
        return list(zip(self.__dict__.get("_keys", []), self.__dict__.get("_layers", [])))

    @property
    def inputs(self):
        """The model's symbolic inputs, as a list (Keras's `model.inputs`)."""
        return _leaves(self._inputs)

    @property
    def outputs(self):
        """The model's symbolic outputs, as a list (Keras's `model.outputs`)."""
        return _leaves(self._outputs)

    @property
    def input(self):
        """The model's inputs in the structure they were given (Keras's `model.input`)."""
        return self._inputs

    @property
    def output(self):
        """The model's outputs in the structure they were given (Keras's `model.output`)."""
        return self._outputs

    @property
    def input_shape(self):
        """The inputs' shapes: one tuple for one input, else a list (Keras's `input_shape`)."""
        shapes = [tuple(t.shape) for t in self.inputs]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        """The outputs' shapes: one tuple for one output, else a list (Keras's
        `output_shape`)."""
        shapes = [tuple(t.shape) for t in self.outputs]
        return shapes[0] if len(shapes) == 1 else shapes

    def _input_spec_shapes(self):
        return jax.tree.map(lambda t: t.shape, self._inputs, is_leaf=_is_kt)

    def _input_dtypes(self):
        return jax.tree.map(lambda t: t.dtype, self._inputs, is_leaf=_is_kt)

    @property
    def input_names(self) -> List[str]:
        return [t.node.layer.name for t in _leaves(self._inputs)]

    @property
    def output_names(self) -> List[str]:
        return list(self._output_names)

    def _flatten_outputs(self, outputs):
        if isinstance(self._outputs, dict):
            return [outputs[k] for k in self._output_names]
        if isinstance(self._outputs, (list, tuple)):
            return list(outputs)
        return [outputs]

    def _unflatten_outputs(self, flat):
        if isinstance(self._outputs, dict):
            return dict(zip(self._output_names, flat))
        if isinstance(self._outputs, (list, tuple)):
            return list(flat)
        return flat[0]

    def _standardize_inputs(self, inputs, declared_batch: bool = False):
        """Accepts inputs in the structure of `self.inputs`, or a dict keyed by input names,
        or a list in input order; returns them in the structure of `self.inputs`. With
        `declared_batch`, specs take the batch size an Input declares (`Input(batch_shape=...)`:
        a model is built for its own batch size, whatever batch its shape probe used)."""
        in_leaves = _leaves(self._inputs)
        if isinstance(inputs, dict) and not isinstance(self._inputs, dict):
            missing = [n for n in self.input_names if n not in inputs]
            if missing:
                raise ValueError(
                    f"Model '{self.name}' expects inputs named {self.input_names}; the dict "
                    f"given lacks {missing} (it has {list(inputs)})."
                )
            flat = [inputs[n] for n in self.input_names]
        elif isinstance(inputs, dict):
            missing = [k for k in self._inputs if k not in inputs]
            if missing:
                raise ValueError(
                    f"Model '{self.name}' expects inputs {list(self._inputs)}; the dict given lacks "
                    f"{missing}."
                )
            # in the order of `_leaves(self._inputs)`: JAX flattens a dict in sorted key order
            flat = [inputs[k] for k in sorted(self._inputs)]
        elif isinstance(inputs, (list, tuple)):
            flat = list(inputs)
        else:
            flat = [inputs]
        if len(flat) != len(in_leaves):
            raise ValueError(
                f"Model '{self.name}' expects {len(in_leaves)} input(s) {self.input_names}, but "
                f"received {len(flat)}."
            )
        if declared_batch:
            flat = [jax.ShapeDtypeStruct((t.shape[0],) + tuple(x.shape[1:]), x.dtype)
                    if t.shape and t.shape[0] is not None and isinstance(x, jax.ShapeDtypeStruct)
                    and len(x.shape) == len(t.shape) else x for t, x in zip(in_leaves, flat)]
        for t, x in zip(in_leaves, flat):
            got = tuple(getattr(x, "shape", ()))
            # the batch axis is not checked: a model declared for batches of 2 (a stateful RNN's
            # batch) still probes shapes with one sample, and predicts any batch it can compute
            ok = len(got) == len(t.shape) and all(e is None or e == g for e, g in
                                                  zip(t.shape[1:], got[1:]))
            if not ok:
                raise ValueError(
                    f"Input '{t.node.layer.name}' of model '{self.name}' is incompatible: expected "
                    f"shape={shape_str(t.shape)}, found shape={shape_str(got)}."
                )
        return flat

    def _check_input_data(self, spec):
        self._standardize_inputs(spec)

    # ------------------------------------------------------------------ init / apply
    def init(self, rng, input_spec):
        flat = self._standardize_inputs(as_spec(input_spec), declared_batch=True)
        env = {id(t): s for t, s in zip(_leaves(self._inputs), flat)}
        params = {k: {} for k in self._keys}
        state = {k: {} for k in self._keys}
        done, masks = set(), {}  # masks: the specs of the tensors' Keras masks
        for i, node in enumerate(self._nodes):
            layer = node.layer
            key = self._key_of[id(layer)]
            args = jax.tree.map(lambda t: env[id(t)], node.inputs, is_leaf=_is_kt)
            more, kwargs = _call_values(node, env)
            in_mask, kwargs = _node_masks(node, masks, kwargs)
            if id(layer) not in done:
                check_input_spec(layer, args)
                params[key], state[key] = init_masked(layer, jax.random.fold_in(rng, i), args,
                                                      in_mask, *more, **kwargs)
                done.add(id(layer))
            out, out_mask = spec_masked(layer, params[key], state[key], args, in_mask, *more,
                                        **kwargs)
            _record(node, out, out_mask, env, masks)
        return params, state

    def apply(self, params, state, inputs, *, training=False, rng=None, batch_mask=None):
        """Runs the graph; `batch_mask` (shape `(batch,)`, 0.0 for padding rows) goes to the
        layers that take it (BatchNormalization, nested models)."""
        outputs, new_state, _ = self.apply_with_masks(params, state, inputs, training=training,
                                                      rng=rng, batch_mask=batch_mask)
        return outputs, new_state

    def apply_with_masks(self, params, state, inputs, *, training=False, rng=None,
                         batch_mask=None):
        """`apply`, also returning the outputs' Keras masks (in the outputs' structure, None
        where an output carries none): masks made by layers that compute them flow through the
        graph to the layers whose `call` takes `mask`, as in Keras."""
        flat = self._standardize_inputs(inputs)
        env = {id(t): x for t, x in zip(_leaves(self._inputs), flat)}
        # inputs that carry masks (a model called as a layer on masked tensors) start with them
        masks = {id(t): keras_mask(x) for t, x in zip(_leaves(self._inputs), flat)
                 if keras_mask(x) is not None}
        new_state = dict(state)
        for i, node in enumerate(self._nodes):
            key = self._key_of[id(node.layer)]
            args = jax.tree.map(lambda t: env[id(t)], node.inputs, is_leaf=_is_kt)
            layer_rng = None if rng is None else jax.random.fold_in(rng, i)
            node_training = bool(node.call_kwargs.get("training", training)) and training
            more, kwargs = _call_values(node, env)
            in_mask, kwargs = _node_masks(node, masks, kwargs)
            out, new_state[key], out_mask = apply_masked(
                node.layer, params[key], new_state[key], args, in_mask, *more,
                training=node_training, rng=layer_rng, batch_mask=batch_mask, **kwargs)
            _record(node, out, out_mask, env, masks)
        outputs = jax.tree.map(lambda t: env[id(t)], self._outputs, is_leaf=_is_kt)
        output_masks = _map_tensors(lambda t: masks.get(id(t)), self._outputs)
        return outputs, new_state, output_masks

    # ------------------------------------------------------------------ summary
    def _summary_rows(self):
        shapes = {}
        for t in _leaves(self._inputs):
            shapes[id(t.node.layer)] = shape_str(t.shape)
        for node in self._nodes:
            outs = node.output_tensors
            s = ", ".join(shape_str(t.shape) for t in outs)
            shapes.setdefault(id(node.layer), s)
        rows = []
        params, state = self._trees()
        for key, layer in self._layer_items():
            n = sum(int(a.size) for a in jax.tree.leaves((params[key], state[key])))
            rows.append((f"{key} ({type(layer).__name__})", shapes[id(layer)], n))
        return rows

    # ------------------------------------------------------------------ config
    def get_config(self):
        """Keras 3's functional config: the graph as a list of serialized layers.

        Each entry of `layers` is `serialize(layer)` plus its `name` and its `inbound_nodes`:
        one `{"args": [inputs], "kwargs": {}}` per call of the layer, where every input tensor
        is `{"class_name": "__keras_tensor__", "config": {"shape", "dtype", "keras_history":
        [layer_name, node_index, tensor_index]}}`. `input_layers`/`output_layers` give the
        model's inputs and outputs in their structure (a single `[name, node, tensor]` triple,
        a list or a dict of them). A shared layer is listed once, with one node per call. As
        Keras 3 does, `output_layers` counts the nodes of a nested functional model from 1 (a
        leftover of Keras 2, where node 0 was the model's own graph); `inbound_nodes` from 0.
        """
        from ..saving._serialization import serialize

        history: Dict[int, list] = {}
        for t in _leaves(self._inputs):
            history[id(t)] = [self._key_of[id(t.node.layer)], 0, 0]
        inbound: Dict[str, list] = {k: [] for k in self._keys}

        def tensor_config(t):
            return {"class_name": "__keras_tensor__",
                    "config": {"shape": list(t.shape), "dtype": t.dtype.name,
                               "keras_history": list(history[id(t)])}}

        for node in self._nodes:
            key = self._key_of[id(node.layer)]
            index = len(inbound[key])
            inbound[key].append({
                "args": [_map_tensors(tensor_config, a) for a in (node.inputs,) + node.args],
                "kwargs": {k: _map_tensors(tensor_config, v) for k, v in node.call_kwargs.items()}})
            for i, t in enumerate(node.output_tensors):
                history[id(t)] = [key, index, i]

        layers = []
        for key, layer in self._layer_items():
            cfg = serialize(layer)
            if "name" in cfg["config"]:  # a custom `get_config` may leave it out, as in Keras
                cfg["config"] = {**cfg["config"], "name": key}
            cfg["name"] = key
            cfg["inbound_nodes"] = inbound[key]
            layers.append(cfg)
        def history_of(t):
            key, index, i = history[id(t)]
            return [key, index + _node_offset(t.node.layer), i]

        return {"name": self.name, "trainable": self.trainable, "layers": layers,
                "input_layers": _map_tensors(history_of, self._inputs),
                "output_layers": _map_tensors(history_of, self._outputs)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuilds a functional model from `get_config()` (or from Keras 3's config).

        Every layer is rebuilt with `kerasx.saving.deserialize`, then called on the symbolic
        tensors its inbound nodes name, in an order that respects the graph, so shared layers
        are shared again and nested models are rebuilt as layers.

        Args:
            config: the dict `get_config()` returns.
            custom_objects: optional `{name: class_or_function}` for unregistered custom layers
                and activations.

        Returns:
            A new, unbuilt model with the same graph (fresh weights on first use).
        """
        from ..layers._core import input_tensor
        from ..saving._serialization import deserialize

        model_name = config.get("name", "functional")
        created: Dict[str, Layer] = {}
        outputs: Dict[str, list] = {}   # layer name -> flat outputs of each node made so far
        pending: Dict[str, list] = {}   # layer name -> its inbound nodes not called yet
        for layer_data in config["layers"]:
            name = layer_data.get("name") or layer_data["config"]["name"]
            layer = deserialize(layer_data, custom_objects)
            if not isinstance(layer, Layer):
                raise ValueError(
                    f"Model '{model_name}': the config of '{name}' does not describe a layer "
                    f"(it gave {layer!r})."
                )
            created[name] = layer
            outputs[name] = [[input_tensor(layer)]] if isinstance(layer, InputLayer) else []
            pending[name] = list(layer_data.get("inbound_nodes", []))

        def tensor(name, node_index, tensor_index):
            if name not in created:
                raise ValueError(
                    f"Model '{model_name}': the config refers to a layer '{name}' that is not "
                    f"in its `layers` ({sorted(created)})."
                )
            if node_index >= len(outputs[name]):
                raise _NotReady()
            return outputs[name][node_index][tensor_index]

        def revive(x):
            if isinstance(x, dict) and x.get("class_name") == "__keras_tensor__":
                return tensor(*x["config"]["keras_history"][:3])
            if isinstance(x, dict) and x.get("class_name") == "__tuple__":
                return tuple(revive(v) for v in x["config"]["value"])
            if isinstance(x, dict):
                return {k: revive(v) for k, v in x.items()}
            if isinstance(x, (list, tuple)):
                return type(x)(revive(v) for v in x)
            return x

        def node_call(node_data):
            if isinstance(node_data, list):  # Keras 2: [[name, node, tensor, kwargs], ...]
                ins = [tensor(*d[:3]) for d in node_data]
                return [ins[0] if len(ins) == 1 else ins], {}
            args = revive(node_data.get("args", []))
            kwargs = {k: v for k, v in revive(node_data.get("kwargs", {})).items() if v is not None}
            return args, kwargs

        while any(pending.values()):
            progress = False
            for name, nodes in pending.items():
                while nodes:
                    try:
                        args, kwargs = node_call(nodes[0])
                    except _NotReady:
                        break
                    out = created[name](*args, **kwargs)
                    outputs[name].append(_leaves(out))
                    nodes.pop(0)
                    progress = True
            if not progress:
                stuck = sorted(n for n, nodes in pending.items() if nodes)
                raise ValueError(
                    f"Model '{model_name}': invalid functional config; the calls of layers "
                    f"{stuck} use outputs that no layer makes (the graph has a loop or a "
                    "missing node)."
                )

        def io(structure):
            if isinstance(structure, list) and len(structure) == 3 and isinstance(structure[0], str):
                name, index, i = structure
                return tensor(name, index - _node_offset(created.get(name)), i)
            if isinstance(structure, dict):
                return {k: io(v) for k, v in structure.items()}
            return [io(v) for v in structure]

        try:
            inputs, outs = io(config["input_layers"]), io(config["output_layers"])
        except _NotReady:
            raise ValueError(f"Model '{model_name}': invalid functional config; an input or "
                             "output refers to a node that does not exist.") from None
        model = cls(inputs, outs, name=config.get("name"), trainable=config.get("trainable", True))
        # Keep the config's layer order, so that weights come in the same order as in the model
        # that wrote it (Keras orders layers by graph depth, kerasx by first use).
        position = {name: i for i, name in enumerate(created)}
        items = sorted(zip(model._keys, model._layers), key=lambda kv: position.get(kv[0], -1))
        model._keys = [k for k, _ in items]
        model._layers = [l for _, l in items]
        return model


class _NotReady(Exception):
    """A node of a functional config whose inputs are not made yet."""


def _keras_layer_order(inputs, outputs) -> List[Layer]:
    """The layers of the graph in Keras's order (`keras.src.ops.function.map_graph`): deepest
    first, where a node's depth is the longest path from it to an output (a shared layer takes
    the depth of its deepest call); layers of one depth in the order a depth-first walk from
    the outputs first meets them; an Input that no output uses at depth 0, first of that depth."""
    first_seen: Dict[int, int] = {}  # id(layer) -> index of the walk's first visit
    layers: Dict[int, Layer] = {}
    post_order: List[Node] = []  # nodes, each after the nodes it depends on
    done = set()

    def walk(t: KerasTensor):
        node = t.node
        if node is None or id(node) in done:
            return
        layer = node.layer
        if id(layer) not in first_seen:
            first_seen[id(layer)] = len(first_seen)
            layers[id(layer)] = layer
        if not isinstance(layer, InputLayer):
            for u in node.input_tensors:
                walk(u)
        done.add(id(node))
        post_order.append(node)

    for t in _leaves(outputs):
        walk(t)
    node_depth: Dict[int, int] = {}
    layer_depth: Dict[int, int] = {}
    for node in reversed(post_order):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = node_depth[id(node)] = depth
        if isinstance(node.layer, InputLayer):
            continue
        for u in node.input_tensors:
            if u.node is not None and id(u.node) in done:
                node_depth[id(u.node)] = max(depth + 1, node_depth.get(id(u.node), 0))
    for t in _leaves(inputs):  # an Input no output uses: depth 0, before the other layers of 0
        layer = t.node.layer
        if id(layer) not in layer_depth:
            layers[id(layer)], layer_depth[id(layer)], first_seen[id(layer)] = layer, 0, -1
    return sorted(layers.values(),
                  key=lambda l: (-layer_depth[id(l)], first_seen[id(l)]))


def _node_offset(layer) -> int:
    """How `output_layers` offsets the node indices of `layer`: 1 for a functional model (Keras 2
    counted the model's own graph as its node 0; Keras 3 still writes the shifted index), else 0."""
    return 1 if isinstance(layer, Functional) else 0


def _map_tensors(fn, structure):
    """Applies `fn` to each KerasTensor of a nested list/tuple/dict, keeping dict order and
    turning tuples into lists (JSON has no tuples)."""
    if _is_kt(structure):
        return fn(structure)
    if isinstance(structure, dict):
        return {k: _map_tensors(fn, v) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [_map_tensors(fn, v) for v in structure]
    return structure


def _call_values(node, env):
    """A node's further positional arguments and its tensor keyword arguments, with the
    graph's values in place of the symbolic tensors (`training` is handled apart)."""
    value = lambda t: env[id(t)] if _is_kt(t) else t
    more = tuple(jax.tree.map(value, a, is_leaf=_is_kt) for a in node.args)
    kwargs = {k: jax.tree.map(value, v, is_leaf=_is_kt)
              for k, v in node.call_kwargs.items() if k != "training"}
    return more, kwargs


def _node_masks(node, masks, kwargs):
    """The Keras masks going into a node's layer, from `masks` (by tensor id): `(in_mask,
    kwargs)`, `in_mask` the first input's (or the call's explicit `mask=`, taken out of
    `kwargs`), the masks of further tensor arguments added to `kwargs` as `{name}_mask`."""
    kwargs = dict(kwargs)
    in_mask = kwargs.pop("mask", None)
    if in_mask is None:
        in_masks = [masks.get(id(t)) for t in node.input_tensors]
        if any(m is not None for m in in_masks):
            in_mask = in_masks[0] if _is_kt(node.inputs) else _restructure(node.inputs,
                                                                           in_masks)
    tensor_kwargs = {k: v for k, v in node.call_kwargs.items() if _is_kt(v)}
    kwargs.update(argument_masks(node.layer, node.args, tensor_kwargs, kwargs,
                                 lambda t: masks.get(id(t)) if _is_kt(t) else None))
    return in_mask, kwargs


def _record(node, out, out_mask, env, masks):
    """Stores a node's outputs (and the masks `compute_mask` gave them) by tensor id."""
    out_leaves = jax.tree.leaves(out)
    if len(out_leaves) == 1:
        out_masks = [out_mask]
    elif isinstance(out_mask, (list, tuple, dict)):  # one per output, None where it has none
        out_masks = jax.tree.leaves(out_mask, is_leaf=lambda m: m is None or hasattr(m, "shape"))
    else:
        out_masks = [out_mask] * len(out_leaves)
    for t, v, m in zip(node.output_tensors, out_leaves, out_masks):
        env[id(t)] = v
        if m is not None:
            masks[id(t)] = m


def _restructure(structure, leaves):
    """`leaves` (one per KerasTensor of `structure`, in order) in the shape of `structure`."""
    it = iter(leaves)
    return _map_tensors(lambda _: next(it), structure)
