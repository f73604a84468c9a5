"""The model shell: a layer that also holds its current pytrees and trains them.

`Sequential` and the functional `Model` subclass `Model`. A model is itself a layer with a pure
`init`/`apply`, so it nests inside other models and runs as a plain JAX function; the shell
adds `params`/`state`, `compile`/`fit`/`evaluate`/`predict`, `summary` and Keras-order weights.
"""

import threading
from typing import Any, List, Optional, Sequence, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .._packing import unpack_x_y_sample_weight
from ..saving._files import (model_from_bytes, model_from_unbuilt_config, model_to_bytes,
                             unbuilt_model_config)
from .._variables import collect_losses, current_step
from ..layers import _tree
from ..layers._base import _SYMBOLIC_SIZES, KerasTensor, Layer, as_spec, batch_of_one, shape_str
from ..layers._tree import trainable_mask as trainable_mask
from ..layers._tree import weight_paths as weight_paths

_is_kt = lambda t: isinstance(t, KerasTensor)


class Model(Layer):
    """A layer that holds its weights and trains them with `compile`/`fit`.

    `kerasx.Model(inputs, outputs)` builds a functional model (see `Functional`). A subclass
    with `__init__` and `call` is a subclassed model; one whose `__init__` calls
    `super().__init__(inputs, outputs)` is a functional model with the subclass's methods.
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model:
            from ._functional import Functional
            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, *args, name: Optional[str] = None, trainable: bool = True, **kwargs):
        from ._functional import Functional

        if (args or "inputs" in kwargs) and not isinstance(self, Functional):
            # the functional-subclass form: `super().__init__(inputs, outputs)`
            self.__class__ = _functional_subclass(type(self))
            Functional.__init__(self, *args, name=name, trainable=trainable, **kwargs)
            return
        if args:
            raise TypeError(f"{type(self).__name__}.__init__ takes keyword arguments only; "
                            f"received positional arguments {args}.")
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._trainer = None
        self.stop_training = False
        self.history = None
        self._initial_epoch = None  # set by a callback (BackupAndRestore) to resume a fit
        self._build_input_shape = None  # a subclassed model's input shapes, once built
        self._output_structure = None   # a subclassed model's output structure, once built

    # ------------------------------------------------------------------ containers implement
    def _layer_items(self) -> List[Tuple[str, Layer]]:
        """(key, layer) pairs in Keras order; the key is the layer's key in params/state."""
        return self._sublayer_items()

    def _input_spec_shapes(self):
        """The expected input shapes (batch axis None) as a pytree, or None if not known yet."""
        return self._build_input_shape

    @property
    def output_names(self) -> List[str]:
        if isinstance(self._output_structure, dict):
            return sorted(self._output_structure)
        if isinstance(self._output_structure, (list, tuple)):
            return [f"output_{i + 1}" for i in range(len(self._output_structure))]
        return ["output"]

    def _flatten_outputs(self, outputs) -> List[Any]:
        """The model's outputs as a list in `output_names` order."""
        if isinstance(outputs, dict):
            return [outputs[k] for k in sorted(outputs)]
        if isinstance(outputs, (list, tuple)):
            return list(outputs)
        return [outputs]

    def _unflatten_outputs(self, flat: List[Any]):
        if isinstance(self._output_structure, dict):
            return dict(zip(sorted(self._output_structure), flat))
        if isinstance(self._output_structure, (list, tuple)):
            return list(flat)
        return flat[0]

    def apply_with_masks(self, params, state, inputs, **kwargs):
        """`apply`, also returning the outputs' Keras masks (None: a subclassed model passes
        masks explicitly inside its `call`)."""
        outputs, new_state = self.apply(params, state, inputs, **kwargs)
        return outputs, new_state, None

    def _check_input_data(self, spec):
        """Checks data against the model's inputs (containers check shapes)."""

    # ------------------------------------------------------------------ building
    def build(self, input_shape=None):
        """Creates the weights for inputs of `input_shape` (batch axis included or None);
        layers inside that already hold weights (a trained sub-model) keep them."""
        if self._build_in_scope(input_shape):
            return
        if input_shape is None:
            input_shape = self._input_spec_shapes()
            if input_shape is None:
                raise ValueError(
                    f"Model '{self.name}' does not know its input shape yet. Pass "
                    "`input_shape=` to its first layer, start it with `kerasx.Input(shape)`, call "
                    "`model.build(input_shape)`, or call `fit`/`predict` on data."
                )
        self._init_from_spec(_spec_from_shapes(input_shape, self._input_dtypes()))

    def _init_from_spec(self, spec, weights=None):
        """Builds the weights as one quickly compiled program (one compile, not one per
        weight), adopting the weights of layers that already hold some. With `weights`, a
        function of the (batch-of-one) input spec returning `(params, state)`, those become
        the weights and nothing is initialised (`load_model` hands over a file's arrays)."""
        if self._uses_call():  # a subclassed model: remember its input and output structure
            self._build_input_shape = jax.tree.map(lambda s: (None,) + tuple(s.shape[1:]), spec)
        if weights is None:
            self._build_for(spec)
        else:
            _tree.assign(self, *weights(batch_of_one(spec)))
        if self._uses_call():
            out = self.output_spec(batch_of_one(spec))
            self._output_structure = jax.tree.map(lambda _: None, out)

    def _input_dtypes(self):
        return None

    def _ensure_built(self, x_spec=None):
        if self.built:
            return
        # Threads that call predict/fit on an unbuilt model at once build it once: the others
        # wait and then find it built (dict.setdefault is atomic, so they share one lock).
        with self.__dict__.setdefault("_build_lock", threading.RLock()):
            if self.built:
                return
            if self._input_spec_shapes() is None and x_spec is not None:
                self._init_from_spec(batch_of_one(x_spec))
            else:
                self.build()

    @property
    def params(self):
        """The current trainable-weights pytree (`{layer_name: {weight_name: array}}`),
        gathered from the layers that own the weights."""
        self._ensure_built()
        return _tree.gather(self)[0]

    @params.setter
    def params(self, value):
        self._ensure_built()
        params, state = _tree.gather(self)
        _check_same_tree(params, value, f"model '{self.name}' params")
        _tree.assign(self, jax.tree.map(jnp.asarray, value), state)

    @property
    def state(self):
        """The current layer-state pytree (e.g. BatchNorm moving statistics)."""
        self._ensure_built()
        return _tree.gather(self)[1]

    @state.setter
    def state(self, value):
        self._ensure_built()
        params, state = _tree.gather(self)
        _check_same_tree(state, value, f"model '{self.name}' state")
        _tree.assign(self, params, jax.tree.map(jnp.asarray, value))

    def _trees(self):
        """`(params, state)` gathered from the layers (the model must be built)."""
        return _tree.gather(self)

    def _set_trees(self, params, state):
        """Hands pytrees of the model's structure to the layers (no checks: the trainer's)."""
        _tree.assign(self, params, state)

    # ------------------------------------------------------------------ layers and weights
    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None) -> Layer:
        """Returns a layer by name (its key in this model) or by index in `layers`."""
        if index is not None:
            layers = self.layers
            if not -len(layers) <= index < len(layers):
                raise ValueError(
                    f"Model '{self.name}' has {len(layers)} layers; received index={index}."
                )
            return layers[index]
        for key, layer in self._layer_items():
            if name in (key, layer.name):
                return layer
        raise ValueError(
            f"No layer named '{name}' in model '{self.name}'. Its layers are: "
            f"{[k for k, _ in self._layer_items()]}"
        )

    def _build_if_known(self):
        if not self.built and self._input_spec_shapes() is not None:
            self._ensure_built()

    def get_weights(self) -> List[np.ndarray]:
        """All weights as NumPy arrays, in Keras order and layout."""
        self._ensure_built()
        return super().get_weights()

    def set_weights(self, weights: Sequence[Any]):
        """Sets all weights from a list in Keras order and layout (as `get_weights` returns)."""
        self._ensure_built()
        super().set_weights(weights)

    @property
    def weights(self):
        """All weights as Variables, in Keras order (`get_weights()` gives NumPy arrays)."""
        self._build_if_known()
        return super().weights

    def count_params(self) -> int:
        """The number of weights (trainable and not)."""
        self._ensure_built()
        return super().count_params()

    def _param_counts(self, params=None, state=None, nbytes: bool = False) -> Tuple[int, int]:
        """(trainable, non_trainable) weight counts, or with `nbytes=True` their sizes in bytes
        (each weight by its own dtype: float32 weights of a mixed policy count 4 bytes each)."""
        if params is None or state is None:
            self._ensure_built()
            params, state = _tree.gather(self)
        mask = trainable_mask(self, params)
        size = (lambda a: int(np.prod(a.shape)) * np.dtype(a.dtype).itemsize) if nbytes else \
            (lambda a: int(np.prod(a.shape)))
        trainable = sum(size(a) for a, m in zip(jax.tree.leaves(params), jax.tree.leaves(mask)) if m)
        frozen = sum(size(a) for a, m in zip(jax.tree.leaves(params), jax.tree.leaves(mask)) if not m)
        return trainable, frozen + sum(size(a) for a in jax.tree.leaves(state))

    # ------------------------------------------------------------------ summary
    def _summary_rows(self) -> List[Tuple[str, str, int]]:
        """(name (Class), output shape, #weights) per layer (a subclassed model's output
        shapes are not recorded: "?" as in Keras)."""
        params, state = _tree.gather(self)
        return [(f"{key} ({type(layer).__name__})", "?",
                 sum(int(a.size) for a in jax.tree.leaves((params[key], state[key]))))
                for key, layer in self._layer_items()]

    def _expanded_rows(self, depth=0):
        """Summary rows with the layers of nested models below their model (indented)."""
        out = []
        for (name, shape, count), (key, layer) in zip(self._summary_rows(), self._layer_items()):
            out.append(("  " * depth + name, shape, count, key, layer.trainable))
            if isinstance(layer, Model) and layer._layer_items():
                out += layer._expanded_rows(depth + 1)
        return out

    def summary(self, print_fn=None, line_length: int = 80, show_trainable: bool = False,
                expand_nested: bool = False):
        """Prints a Keras-style table: layer (type), output shape, params (and with
        `show_trainable=True` whether each layer trains; with `expand_nested=True` the layers
        of nested models, indented below them); then the totals."""
        print_fn = print_fn or print
        self._ensure_built()
        if expand_nested:
            expanded = self._expanded_rows()
            rows = [r[:3] for r in expanded]
            trainable_flags = [r[4] for r in expanded]
        else:
            rows = self._summary_rows()
            trainable_flags = [layer.trainable for _, layer in self._layer_items()]
        w0 = max([len("Layer (type)")] + [len(r[0]) for r in rows]) + 2
        w1 = max([len("Output Shape")] + [len(r[1]) for r in rows]) + 2
        extra = 11 if show_trainable else 0
        width = max(line_length, w0 + w1 + 12 + extra)
        trainable, frozen = self._param_counts()
        header = f"{'Layer (type)':<{w0}}{'Output Shape':<{w1}}{'Param #':>10}"
        if show_trainable:
            header += f"{'Trainable':>{extra}}"
        lines = [f'Model: "{self.name}"', "━" * width, header, "━" * width]
        for i, (name, shape, count) in enumerate(rows):
            line = f"{name:<{w0}}{shape:<{w1}}{count:>10,}"
            if show_trainable:
                line += f"{('Y' if trainable_flags[i] else 'N'):>{extra}}"
            lines.append(line)
            lines.append(("─" if i < len(rows) - 1 else "━") * width)
        bytes_t, bytes_f = self._param_counts(nbytes=True)
        lines += [f" Total params: {trainable + frozen:,} ({_size_str(bytes_t + bytes_f)})",
                  f" Trainable params: {trainable:,} ({_size_str(bytes_t)})",
                  f" Non-trainable params: {frozen:,} ({_size_str(bytes_f)})"]
        for line in lines:
            print_fn(line)

    # ------------------------------------------------------------------ the stateless API (Keras 3, JAX)
    def _variable_paths(self):
        """`(trainable, non_trainable)`: the `(collection, path)` of every weight in the order
        of `trainable_variables` / `non_trainable_variables` (Keras order)."""
        trainable_at = {path: t for path, _, t in _tree.walk(self)}
        trainable, frozen = [], []
        for c, path, _ in weight_paths(self):
            if c == "params" and trainable_at[path[:-1]]:
                trainable.append((c, path))
            else:
                frozen.append((c, path))
        return trainable, frozen

    def _trees_from_lists(self, trainable_variables, non_trainable_variables):
        """`(params, state)` pytrees holding the values of two flat lists in the order of
        `trainable_variables` / `non_trainable_variables`."""
        self._ensure_built()
        t_paths, n_paths = self._variable_paths()
        for what, paths, values in (("trainable_variables", t_paths, trainable_variables),
                                    ("non_trainable_variables", n_paths, non_trainable_variables)):
            if len(values) != len(paths):
                raise ValueError(
                    f"Model '{self.name}' has {len(paths)} {what}; received a list of "
                    f"{len(values)} values. Pass them in the order of `model.{what}`.")
        trees = dict(zip(("params", "state"), _tree.gather(self)))
        for (c, path), value in zip(t_paths + n_paths,
                                    list(trainable_variables) + list(non_trainable_variables)):
            value = value.value if hasattr(value, "_owner") else value
            trees[c] = _tree.set_path(trees[c], path, value)
        return trees["params"], trees["state"]

    def _lists_from_trees(self, params, state):
        t_paths, n_paths = self._variable_paths()
        trees = {"params": params, "state": state}
        return ([_tree.get_path(trees[c], p) for c, p in t_paths],
                [_tree.get_path(trees[c], p) for c, p in n_paths])

    def stateless_call(self, trainable_variables, non_trainable_variables, *args,
                       return_losses: bool = False, training: bool = False, **kwargs):
        """Runs the model on the values of `trainable_variables` / `non_trainable_variables`
        (flat lists in the order of the model's), without touching its weights; returns
        `(outputs, new_non_trainable_variables)` (and the added losses with
        `return_losses=True`). Pure: use it under `jax.grad` / `jit` (Keras 3's JAX API).

        With `training=True` inside `fit`, randomness (dropout) comes from the step's key;
        outside `fit`, from a fresh key (`kerasx.utils.set_random_seed` makes it repeatable).
        """
        from .._seeding import next_rng_key

        params, state = self._trees_from_lists(trainable_variables, non_trainable_variables)
        step = current_step()
        rng = None
        if training:
            rng = step.next_key() if step is not None and step.rng is not None else next_rng_key()
        with collect_losses() as losses:
            outputs, new_state = self.apply(params, state, *args, training=training, rng=rng,
                                            **kwargs)
        if step is not None:
            step.losses, step.params = list(losses), params
        else:
            self._stateless_record = (list(losses), params)
        new_non_trainable = self._lists_from_trees(params, new_state)[1]
        if return_losses:
            return outputs, new_non_trainable, list(losses)
        return outputs, new_non_trainable

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The total loss: the compiled loss(es) of `y` and `y_pred` (if `compile` got a loss),
        plus the losses layers added during the preceding `stateless_call` and the
        regularization penalties, as Keras's `compute_loss` adds `model.losses`."""
        trainer = self._require_compiled("compute_loss")
        step = current_step()
        if step is not None:
            added, params = step.losses, step.params
        else:
            added, params = self.__dict__.pop("_stateless_record", ([], None))
        if params is None:
            params = self.params
        return trainer.compute_loss(y, y_pred, sample_weight, added, params)

    def stateless_compute_loss(self, trainable_variables, non_trainable_variables,
                               metrics_variables, x=None, y=None, y_pred=None,
                               sample_weight=None, training=True):
        """`compute_loss` on given variable values; returns `(loss, (trainable_variables,
        non_trainable_variables, metrics_variables))` as Keras 3's JAX backend does."""
        params, _ = self._trees_from_lists(trainable_variables, non_trainable_variables)
        step = current_step()
        added = step.losses if step is not None else \
            self.__dict__.pop("_stateless_record", ([], None))[0]
        loss = self._require_compiled("compute_loss").compute_loss(y, y_pred, sample_weight,
                                                                   added, params)
        return loss, (list(trainable_variables), list(non_trainable_variables),
                      list(metrics_variables))

    def train_step(self, state, data):
        """One training step in Keras 3's JAX form: `state` is `(trainable_variables,
        non_trainable_variables, optimizer_variables, metrics_variables)` (flat lists),
        `data` the batch; returns `(logs, state)`. Override it to customize `fit` (GANs, VAEs,
        contrastive models); this default is Keras's (stateless_call, stateless_compute_loss,
        optimizer.stateless_apply, the metrics of `model.metrics`). A model that overrides
        neither `train_step` nor `test_step` trains on kerasx's own fused step instead."""
        trainable, non_trainable, optimizer_variables, metrics_variables = state
        x, y, sample_weight = unpack_x_y_sample_weight(data)

        def loss_fn(trainable, non_trainable):
            y_pred, non_trainable = self.stateless_call(trainable, non_trainable, x,
                                                        training=True)
            loss, _ = self.stateless_compute_loss(trainable, non_trainable, metrics_variables,
                                                  x=x, y=y, y_pred=y_pred,
                                                  sample_weight=sample_weight, training=True)
            return loss, (y_pred, non_trainable)

        (loss, (y_pred, non_trainable)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            trainable, non_trainable)
        trainable, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, grads, trainable)
        logs, metrics_variables = self._stateless_metrics(metrics_variables, loss, x, y, y_pred,
                                                          sample_weight)
        return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)

    def pytree_train_step(self, train_state, data):
        """kerasx's pytree form of a custom training step (override it instead of
        `train_step` to work on pytrees): `train_state` is a dict with `params` and `state`
        (the model's pytrees), `opt_state` (the compiled optimizer's optax state over
        `params`; `self.optimizer.update(grads, opt_state, params)` masks frozen weights),
        `metrics` (the values of `self.metrics`' variables, flat) and `rng` (the step's key);
        return `(logs, train_state)` with new values. Not overridden, `train_step` is used."""
        raise NotImplementedError

    def test_step(self, state, data):
        """One evaluation step in Keras 3's JAX form: `state` is `(trainable_variables,
        non_trainable_variables, metrics_variables)`; returns `(logs, state)`."""
        trainable, non_trainable, metrics_variables = state
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        y_pred, non_trainable = self.stateless_call(trainable, non_trainable, x, training=False)
        loss, _ = self.stateless_compute_loss(trainable, non_trainable, metrics_variables, x=x,
                                              y=y, y_pred=y_pred, sample_weight=sample_weight,
                                              training=False)
        logs, metrics_variables = self._stateless_metrics(metrics_variables, loss, x, y, y_pred,
                                                          sample_weight)
        return logs, (trainable, non_trainable, metrics_variables)

    def predict_step(self, state, data):
        """One prediction step in Keras 3's JAX form: `state` is `(trainable_variables,
        non_trainable_variables)`; returns `(outputs, non_trainable_variables)`."""
        trainable, non_trainable = state
        x, _, _ = unpack_x_y_sample_weight(data)
        return self.stateless_call(trainable, non_trainable, x, training=False)

    def _stateless_metrics(self, metrics_variables, loss, x, y, y_pred, sample_weight):
        """Keras's metric update of the default steps: the loss tracker gets the loss weighted
        by the batch size, the other metrics `(y, y_pred, sample_weight)`."""
        logs, new, start = {}, [], 0
        for metric in self.metrics:
            n = len(metric.variables)
            values = metrics_variables[start:start + n]
            start += n
            if metric.name == "loss":
                batch = jax.tree.leaves(x)[0].shape[0]
                values = metric.stateless_update_state(values, loss, sample_weight=batch)
            else:
                values = metric.stateless_update_state(values, y, y_pred,
                                                       sample_weight=sample_weight)
            result = metric.stateless_result(values)
            if isinstance(result, dict):
                logs.update(result)
            else:
                logs[metric.name] = result
            new += list(values)
        return logs, new

    @property
    def metrics(self) -> list:
        """The metric objects of the model, in Keras's order: the loss tracker and the compiled
        metrics (after `compile`), then the metrics assigned as attributes (`self.loss_tracker =
        kerasx.metrics.Mean(name="loss")`)."""
        out = []
        if self._trainer is not None:
            out += self._trainer.compiled_metric_objects()
        for value in vars(self).values():
            if hasattr(value, "stateless_update_state") and value not in out:
                out.append(value)
        return out

    @property
    def metrics_names(self) -> List[str]:
        return [m.name for m in self.metrics]

    @property
    def metrics_variables(self) -> list:
        return [v for m in self.metrics for v in m.variables]

    def reset_metrics(self):
        for m in self.metrics:
            m.reset_state()

    # ------------------------------------------------------------------ copy and pickle
    def __reduce__(self):
        """`pickle.dumps(model)` and `copy.deepcopy(model)` carry what `model.save` writes
        (architecture, weights, compile arguments, optimizer state), as Keras 3 does: the copy
        predicts the same and trains on its own. A subclassed model's class must be registered
        (`register_keras_serializable`), as for `load_model`. A model without weights yet
        carries its config and compile arguments, and the copy is unbuilt too."""
        if not self.built:
            return model_from_unbuilt_config, (unbuilt_model_config(self),)
        return model_from_bytes, (model_to_bytes(self),)

    # ------------------------------------------------------------------ calling
    def _eager_call(self, inputs, args, kwargs):
        self._ensure_built(as_spec(inputs))
        return super()._eager_call(inputs, args, kwargs)

    # ------------------------------------------------------------------ training (kerasx.training)
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                steps_per_execution="auto", jit_compile: bool = True, data_on_device="auto",
                **kwargs):
        """Configures the model for training (Keras's `Model.compile`).

        Args:
            optimizer: a name ("adam"), a kerasx optimizer or any optax `GradientTransformation`.
            loss: a name, a kerasx loss, a callable `(y_true, y_pred) -> per-sample loss`, or a
                list/dict of those for multi-output models.
            metrics: a list of names/metrics/callables, or a list/dict of lists per output.
            loss_weights: a list or dict of scalars weighting each output's loss.
            steps_per_execution: batches run by one jitted call, in a loop on the device.
                "auto" (the default) runs a whole epoch per call, or about 20 calls an epoch
                when a progress bar is shown, and one batch per call when a callback has
                batch-level hooks. With an integer, batch-level callbacks are called once per
                call, as in Keras.
            data_on_device: whether `fit`/`evaluate`/`predict` place array data on the device
                once and shuffle it there (True), stream it from the host in prefetched
                chunks (False), or decide by size ("auto": up to a quarter of the
                accelerator's memory, 2 GiB on the CPU).
            jit_compile: False runs eagerly, like `run_eagerly=True`.
            run_eagerly: run `fit`/`evaluate`/`predict` op by op in Python (`jax.disable_jit`)
                instead of compiled: much slower, for debugging layers and losses with
                `print`, breakpoints or `float()`. Also settable as `model.run_eagerly`.
            loop_steps: whether an execution loops its train steps inside one program (True)
                or the host calls a one-step program per batch (False). "auto" loops, except
                on the CPU backend for models that train multi-channel convolutions, whose
                kernel gradients XLA:CPU computes several times slower inside a loop.
        """
        from ..training._trainer import Trainer

        self._trainer = Trainer(self, optimizer=optimizer, loss=loss, metrics=metrics,
                                loss_weights=loss_weights, steps_per_execution=steps_per_execution,
                                data_on_device=data_on_device, jit_compile=jit_compile, **kwargs)

    @property
    def run_eagerly(self) -> bool:
        """Whether `fit`/`evaluate`/`predict` run op by op in Python instead of as compiled XLA
        programs (`compile(run_eagerly=True)` or `jit_compile=False`): slow, for debugging:
        `print`, breakpoints and `float()` work inside layers and losses."""
        return self._trainer is not None and self._trainer.run_eagerly

    @run_eagerly.setter
    def run_eagerly(self, value: bool):
        self._require_compiled("run_eagerly").run_eagerly = bool(value)

    def save_weights(self, filepath: str, overwrite: bool = True) -> None:
        """Writes the weights and layer state to `filepath`, atomically (a crash mid-save keeps
        the old file): a path ending in `.weights.h5` gets Keras 3's HDF5 layout (Keras's
        `load_weights` reads it), any other a safetensors file (suggested suffix
        `.weights.safetensors`)."""
        from ..saving import save_weights

        save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath: str) -> None:
        """Loads weights written by `save_weights` (or by Keras 3: a `.weights.h5` file or a
        `.keras` archive); a file of another architecture, with other shapes, corrupt or
        truncated, raises an error naming the file and the weight, and leaves the model's
        weights untouched."""
        from ..saving import load_weights

        load_weights(self, filepath)

    def save(self, filepath: str, overwrite: bool = True) -> None:
        """Saves the whole model to one file, atomically: the architecture (`get_config`),
        weights and layer state, `compile()` arguments and optimizer state. A path ending in
        `.keras` gets Keras 3's zip archive (Keras's `keras.saving.load_model` reads it); any
        other kerasx's safetensors file with JSON metadata (suggested suffix `.kerasx`). Load
        either with `kerasx.saving.load_model`."""
        from ..saving import save_model

        save_model(self, filepath, overwrite=overwrite)

    @property
    def optimizer(self):
        """The compiled optimizer (None before `compile`): `model.optimizer.learning_rate` reads
        and sets the live learning rate, `model.optimizer.iterations` counts updates."""
        return None if self._trainer is None else self._trainer.bound_optimizer

    def _require_compiled(self, what: str):
        if self._trainer is None:
            raise RuntimeError(
                f"You must call `compile()` before `{what}()` on model '{self.name}', e.g. "
                "`model.compile(optimizer='adam', loss='sparse_categorical_crossentropy')`."
            )
        return self._trainer

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, **kwargs):
        """Trains the model; returns a `History`. Arguments as Keras's `Model.fit`."""
        trainer = self._require_compiled("fit")
        with jax.disable_jit(trainer.run_eagerly):
            return trainer.fit(
                x, y, batch_size=batch_size, epochs=epochs, verbose=verbose, callbacks=callbacks,
                validation_split=validation_split, validation_data=validation_data,
                shuffle=shuffle, class_weight=class_weight, sample_weight=sample_weight,
                initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 callbacks=None, return_dict=False, **kwargs):
        """Returns the loss and metrics on `(x, y)`: a scalar, a list, or a dict with
        `return_dict=True`."""
        trainer = self._require_compiled("evaluate")
        with jax.disable_jit(trainer.run_eagerly):
            return trainer.evaluate(
                x, y, batch_size=batch_size, verbose=verbose, sample_weight=sample_weight,
                callbacks=callbacks, return_dict=return_dict, **kwargs)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        """One optimizer step on one batch; returns that batch's loss (and metrics), as Keras's
        `train_on_batch`. Batches of one size share one compiled step."""
        trainer = self._require_compiled("train_on_batch")
        with jax.disable_jit(trainer.run_eagerly):
            return trainer.train_on_batch(x, y, sample_weight=sample_weight,
                                          class_weight=class_weight, return_dict=return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """The loss and metrics on one batch, without training (Keras's `test_on_batch`)."""
        from ..training._data import num_samples, to_numpy_tree

        x, y = to_numpy_tree(x), to_numpy_tree(y, "y")
        return self.evaluate(x, y, batch_size=num_samples(x, y, sample_weight), verbose=0,
                             sample_weight=sample_weight, return_dict=return_dict)

    def predict_on_batch(self, x):
        """The model's outputs on one batch, as NumPy (Keras's `predict_on_batch`): one jitted
        forward pass, compiled once per batch shape."""
        from ..training._trainer import predict_on_batch

        with jax.disable_jit(self.run_eagerly):
            return predict_on_batch(self, x)

    def predict(self, x, batch_size=None, verbose="auto", callbacks=None, **kwargs):
        """Returns the model's outputs on `x` as NumPy, batched (needs no `compile`)."""
        from ..training._trainer import predict

        if self._trainer is not None:
            kwargs.setdefault("steps_per_execution", self._trainer.steps_per_execution)
            kwargs.setdefault("data_on_device", self._trainer.data_on_device)
        with jax.disable_jit(self.run_eagerly):
            return predict(self, x, batch_size=batch_size, verbose=verbose, callbacks=callbacks,
                           **kwargs)

    # ------------------------------------------------------------------ architecture as JSON
    def to_json(self, **kwargs) -> str:
        """The model's architecture as JSON (Keras's `Model.to_json`): `serialize(model)`, with
        the layers, their hyperparameters and the graph, but no weights.

        Rebuild it with `kerasx.models.model_from_json(text, custom_objects=None)`.

        Args:
            **kwargs: passed to `json.dumps` (e.g. `indent=2`).
        """
        from ..saving._serialization import to_json

        return to_json(self, **kwargs)

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuilds a model from its config. A functional config (with `input_layers` and
        `output_layers`) gives a functional model, as `keras.Model.from_config` does; any other
        config is passed to the constructor (`cls(**config)`), for subclassed models."""
        if isinstance(config, dict) and "input_layers" in config and "output_layers" in config:
            from ._functional import Functional

            return Functional.from_config(config, custom_objects=custom_objects)
        return super().from_config(config)


def _size_str(nbytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.2f} {unit}" if unit != "B" else f"{nbytes} B"
        nbytes /= 1024


def _spec_from_shapes(shapes, dtypes=None):
    """Input shapes (batch axis None or an int) → ShapeDtypeStructs with a batch of 1; other
    unknown dimensions (a sequence length) get the symbolic stand-in size, which weights never
    depend on and which layers accept (a 'valid' convolution needs room for its kernel)."""
    is_shape = lambda s: isinstance(s, tuple) and all(d is None or isinstance(d, int) for d in s)
    if dtypes is None:
        dtypes = jax.tree.map(lambda s: jnp.float32, shapes, is_leaf=is_shape)
    return jax.tree.map(
        lambda s, d: jax.ShapeDtypeStruct((1 if s[0] is None else s[0],) + tuple(
            _SYMBOLIC_SIZES[0] if v is None else v for v in s[1:]), d),
        shapes, dtypes, is_leaf=is_shape)


def _check_same_tree(old, new, what):
    old_paths = {jax.tree_util.keystr(p): a.shape for p, a in jax.tree_util.tree_leaves_with_path(old)}
    new_paths = {jax.tree_util.keystr(p): np.shape(a) for p, a in jax.tree_util.tree_leaves_with_path(new)}
    if old_paths.keys() != new_paths.keys():
        missing = sorted(old_paths.keys() - new_paths.keys())
        extra = sorted(new_paths.keys() - old_paths.keys())
        raise ValueError(f"The {what} assigned do not match the model: missing {missing}, "
                         f"unexpected {extra}.")
    for k, shape in old_paths.items():
        if tuple(new_paths[k]) != tuple(shape):
            raise ValueError(f"The {what} assigned do not match the model: {k} has shape "
                             f"{shape_str(shape)}, received {shape_str(new_paths[k])}.")


def _functional_subclass(cls):
    """`cls` (a Model subclass) with `Functional` mixed in, for `super().__init__(inputs,
    outputs)` in a subclass (Keras's functional-subclass form); made once, kept on `cls`."""
    from ._functional import Functional

    made = cls.__dict__.get("_functional_form")
    if made is None:
        made = type(cls.__name__, (cls, Functional), {"__module__": cls.__module__})
        cls._functional_form = made
    return made
