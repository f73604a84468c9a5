"""The functional `Model(inputs, outputs)`: a graph combinator built from symbolic tensors."""

from typing import Dict, List, Optional

import jax

from ..layers._base import KerasTensor, Layer, Node, apply_layer, as_spec, shape_str
from ..layers._core import InputLayer
from ._model import Model
from ._sequential import unique_key

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
        # Keras order: the input layers first, then each layer at its first use.
        self._layers: List[Layer] = []
        self._keys: List[str] = []
        seen = set()
        for t in _leaves(inputs):
            self._add_layer(t.node.layer, seen)
        for node in self._nodes:
            self._add_layer(node.layer, seen)
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
    def _layer_items(self):
        return list(zip(self._keys, self._layers))

    @property
    def inputs(self):
        return self._inputs

    @property
    def outputs(self):
        return self._outputs

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

    def _standardize_inputs(self, inputs):
        """Accepts inputs in the structure of `self.inputs`, or a dict keyed by input names,
        or a list in input order; returns them in the structure of `self.inputs`."""
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
            flat = [inputs[k] for k in self._inputs]
        elif isinstance(inputs, (list, tuple)):
            flat = list(inputs)
        else:
            flat = [inputs]
        if len(flat) != len(in_leaves):
            raise ValueError(
                f"Model '{self.name}' expects {len(in_leaves)} input(s) {self.input_names}, but "
                f"received {len(flat)}."
            )
        for t, x in zip(in_leaves, flat):
            got = tuple(getattr(x, "shape", ()))
            ok = len(got) == len(t.shape) and all(e is None or e == g for e, g in zip(t.shape, got))
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
        flat = self._standardize_inputs(as_spec(input_spec))
        env = {id(t): s for t, s in zip(_leaves(self._inputs), flat)}
        params = {k: {} for k in self._keys}
        state = {k: {} for k in self._keys}
        done = set()
        for i, node in enumerate(self._nodes):
            layer = node.layer
            key = self._key_of[id(layer)]
            args = jax.tree.map(lambda t: env[id(t)], node.inputs, is_leaf=_is_kt)
            if id(layer) not in done:
                params[key], state[key] = layer.init(jax.random.fold_in(rng, i), args)
                done.add(id(layer))
            out = jax.eval_shape(lambda p, s, x: layer.apply(p, s, x)[0], params[key], state[key], args)
            for t, s in zip(node.output_tensors, _leaves(out)):
                env[id(t)] = s
        return params, state

    def apply(self, params, state, inputs, *, training=False, rng=None, batch_mask=None):
        """Runs the graph; `batch_mask` (shape `(batch,)`, 0.0 for padding rows) goes to the
        layers that take it (BatchNormalization, nested models)."""
        flat = self._standardize_inputs(inputs)
        env = {id(t): x for t, x in zip(_leaves(self._inputs), flat)}
        new_state = dict(state)
        for i, node in enumerate(self._nodes):
            key = self._key_of[id(node.layer)]
            args = jax.tree.map(lambda t: env[id(t)], node.inputs, is_leaf=_is_kt)
            layer_rng = None if rng is None else jax.random.fold_in(rng, i)
            out, new_state[key] = apply_layer(node.layer, params[key], new_state[key], args,
                                              training=training, rng=layer_rng,
                                              batch_mask=batch_mask)
            for t, v in zip(node.output_tensors, jax.tree.leaves(out)):
                env[id(t)] = v
        outputs = jax.tree.map(lambda t: env[id(t)], self._outputs, is_leaf=_is_kt)
        return outputs, new_state

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
        for key, layer in self._layer_items():
            n = sum(int(a.size) for a in jax.tree.leaves((self.params[key], self.state[key])))
            rows.append((f"{key} ({type(layer).__name__})", shapes[id(layer)], n))
        return rows

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "layers": [{"class_name": type(l).__name__, "config": l.get_config()}
                           for l in self._layers]}
