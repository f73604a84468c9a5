"""compile/fit/evaluate/predict: pure, jit-compiled steps looped on the device, and the host
loop around them.

The train step is a pure function of a train-state pytree:

    train_step(train_state, batch) -> train_state

with `train_state = {"params", "state", "opt_state", "rng", "metrics"}`, built on
`jax.value_and_grad(..., has_aux=True)` and optax. One *execution* runs it over batches
`lo..hi-1` in a `jax.lax.fori_loop` on the device:

    train_exec(train_state, data, order, valid, lo, hi, base) -> (train_state, logs)

jit-compiled once per `compile()` (and data shape); `lo`/`hi` are traced, so a whole epoch, a
few steps or one step per call reuse the same program. `steps_per_execution` sets the run
length. `Trainer.fit` is the only code that talks to the host: callbacks, progress and
validation at execution boundaries; nothing converts a device value to a Python number per
step (the progress bar does so only when it renders, History once per epoch).
"""

import math
import threading
import warnings
from typing import Any, Dict, List

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import _custom_steps
from . import callbacks as callbacks_module
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from ._data import flatten_targets as _flatten_targets
from ._data import gather_batch as _gather
from ._data import (_STREAM_CHUNK, HostRows, IterableBatches, StreamFeed, epoch_window,
                    is_iterable_dataset, make_feed, num_samples, split_validation, take_rows,
                    to_numpy_tree)
from .py_dataset import PyDataset
from .. import _settings
from .._jit import quick_jit
from ..distribution import _placement
from ..distribution._distribution_lib import distribution as current_distribution
from .._variables import collect_losses
from ..layers import _tree
from ..layers._base import as_spec, batch_of_one, makes_masks


def _per_output(spec, names: List[str], what: str, default=None) -> List[Any]:
    """Spreads a compile argument over the outputs: one value for all, a list, or a dict."""
    if isinstance(spec, dict):
        unknown = [k for k in spec if k not in names]
        if unknown:
            raise ValueError(
                f"`{what}` has keys {unknown} that are not outputs of the model; its outputs are "
                f"{names}."
            )
        return [spec.get(n, default) for n in names]
    if isinstance(spec, (list, tuple)) and len(names) > 1:
        if len(spec) != len(names):
            raise ValueError(
                f"`{what}` is a list of {len(spec)} entries but the model has {len(names)} outputs "
                f"{names}."
            )
        return list(spec)
    return [spec for _ in names]


class Trainer:
    """What `compile()` sets up: the optimizer, losses, metrics and the jitted steps."""

    def __init__(self, model, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                 weighted_metrics=None, **kwargs):
        unknown = set(kwargs) - {"run_eagerly", "steps_per_execution", "data_on_device", "loop_steps",
                                 "jit_compile", "auto_scale_loss"}
        if unknown:
            raise TypeError(f"compile() got unexpected arguments: {sorted(unknown)}")
        spe = kwargs.get("steps_per_execution", "auto")
        if spe != "auto" and (isinstance(spe, bool) or not isinstance(spe, (int, np.integer))
                              or spe < 1):
            raise ValueError("Expected `steps_per_execution` to be 'auto' or a positive integer. "
                             f"Received: steps_per_execution={spe!r}")
        self.steps_per_execution = spe
        self.data_on_device = kwargs.get("data_on_device", "auto")
        if self.data_on_device not in ("auto", True, False):
            raise ValueError("Expected `data_on_device` to be 'auto', True or False. Received: "
                             f"data_on_device={self.data_on_device!r}")
        # `run_eagerly=True` or `jit_compile=False`: fit/evaluate/predict run under
        # `jax.disable_jit()` (Model's methods), op by op, for debugging.
        self.run_eagerly = bool(kwargs.get("run_eagerly", False)) or \
            kwargs.get("jit_compile", True) is False
        # Whether a train execution loops its steps on the device (see _cpu_conv_gradients).
        self._loop_setting = kwargs.get("loop_steps", "auto")
        self.model = model
        self.optimizer = optimizers_module.get(optimizer)
        if kwargs.get("auto_scale_loss", True) and model.dtype_policy.name == "mixed_float16" \
                and isinstance(self.optimizer, optimizers_module.Optimizer) \
                and not isinstance(self.optimizer, optimizers_module.LossScaleOptimizer):
            # Keras: float16 gradients underflow without a dynamic loss scale
            self.optimizer = optimizers_module.LossScaleOptimizer(
                self.optimizer, name="loss_scale_optimizer")
        if isinstance(self.optimizer, optimizers_module.Optimizer):
            self.optimizer._loss_scaling_decided = True  # compile decided (`auto_scale_loss`)
        self._loss_spec, self._loss_weights = loss, loss_weights
        self._metric_specs = (metrics, weighted_metrics)
        self.compile_args = {"optimizer": optimizer, "loss": loss, "metrics": metrics,
                             "loss_weights": loss_weights, "weighted_metrics": weighted_metrics,
                             **{k: v for k, v in kwargs.items() if k in (
                                 "steps_per_execution", "data_on_device", "loop_steps")}}
        self._built_for = None
        self._ts_lock = threading.Lock()
        self._fit_thread = None
        self.opt_state = None
        self._opt_structure_cache = None  # (optimizer, weight structure, its state's structure)
        self._train_exec = self._test_exec = None
        self._set_step_forms()
        self._masked_execs = {}
        self._ts = None            # the live train state while `fit` runs (for callbacks)
        self._shuffle_seed = None  # the running fit's shuffle seed (see `training_state`)
        self._pending_lr = None    # a learning rate set before the optimizer state exists
        self.bound_optimizer = BoundOptimizer(self)
        self._placement = None     # the arrays' shardings under a distribution (_place_weights)

    def _set_step_forms(self):
        """Which steps the model brings: `custom_steps` when it overrides `train_step` /
        `test_step` (Keras 3's JAX form) or `pytree_train_step` (kerasx's pytree form); see
        `_custom_steps`."""
        model = self.model
        self.pytree_steps = _custom_steps.overrides(model, "pytree_train_step")
        self.custom_steps = self.pytree_steps or _custom_steps.overrides(model, "train_step") \
            or _custom_steps.overrides(model, "test_step")

    # ------------------------------------------------------------------ building
    def _build(self, y_flat, pred_shapes):
        """Resolves losses and metrics for the targets' shapes and jits the steps (once)."""
        model = self.model
        names = model.output_names
        key = (tuple((tuple(np.shape(y)[1:]), str(getattr(y, "dtype", None))) for y in y_flat),
               id(current_distribution()))  # the steps keep the distribution's layouts
        if self._built_for == key:
            return
        self._set_step_forms()
        loss_list = ([None] * len(names) if self._loss_spec is None else
                     _per_output(self._loss_spec, names, "loss"))
        weights = _per_output(self._loss_weights if self._loss_weights is not None else 1.0,
                              names, "loss_weights", default=1.0)
        self.losses = [None if l is None else losses_module.get(l) for l in loss_list]
        for name, loss in zip(names, self.losses):
            if loss is not None and getattr(loss, "reduction", "") in (None, "none"):
                raise ValueError(
                    f"The loss of output '{name}' ({type(loss).__name__}) has reduction='none': "
                    "it returns one value per sample, and training needs a scalar. Use "
                    "'sum_over_batch_size' (the default), 'sum' or 'mean_with_sample_weight'.")
        self.loss_weights = [1.0 if w is None else float(w) for w in weights]
        # (output index, log name, Metric, weighted): Keras weights `weighted_metrics` by
        # sample_weight/class_weight; plain `metrics` count every real sample once.
        self.metrics = []
        for weighted, spec in zip((False, True), self._metric_specs):
            spec = spec or []
            if isinstance(spec, dict) or (len(names) > 1 and spec and
                                          all(isinstance(m, (list, tuple)) for m in spec)):
                per_output = _per_output(spec, names, "metrics", default=[])
            else:
                per_output = [list(spec) for _ in names]
            for i, (ms, y, ps) in enumerate(zip(per_output, y_flat, pred_shapes)):
                for m in ms or []:
                    if isinstance(m, (list, tuple)):
                        raise ValueError(f"Expected a metric for output '{names[i]}', received a list {m}.")
                    metric = metrics_module.get(m, np.shape(y), ps)
                    if not getattr(metric, "built", True):  # state sized by the data (F1Score)
                        metric.build(np.shape(y), ps)
                    log_name = metric.name if len(names) == 1 else f"{names[i]}_{metric.name}"
                    self.metrics.append((i, log_name, metric, weighted))
        self.loss_names = ["loss"] + ([f"{n}_loss" for n, l in zip(names, self.losses) if l is not None]
                                      if len(names) > 1 else [])
        self._built_for = key
        self._metrics_init_jit = None
        if self._loop_setting == "auto":
            self.loop_train_steps = not _cpu_conv_gradients(model)
        else:
            self.loop_train_steps = bool(self._loop_setting)
        self._masked_execs = {}
        if self.custom_steps:  # the model's own train_step / test_step (Keras 3's JAX form)
            self._train_exec = None
            self._test_exec = _CustomTestExec(self)
        else:
            self._train_exec = _jit_train(self._make_train_exec(self.optimizer))
            self._test_exec = jax.jit(self._make_test_exec(), donate_argnums=_donate())
        self._predict_exec = None

    def _check_labels(self, y_flat, pred_shapes):
        for loss, y, ps in zip(self.losses, y_flat, pred_shapes):
            if loss is not None:
                sample = y if isinstance(y, np.ndarray) else None
                ps = (np.shape(y)[0],) + tuple(ps[1:])  # predictions for every sample of y
                losses_module.check_labels(loss, np.shape(y), ps, sample)

    # ------------------------------------------------------------------ the pure steps
    def _apply(self, params, state, x, **kwargs):
        """The model's forward pass; with its output masks (flat, per output) when a layer of
        the model makes masks, else None (and the plain `apply` is traced)."""
        model = self.model
        if not any(makes_masks(layer) for _, layer, _ in _tree.walk(model)):
            y_pred, new_state = model.apply(params, state, x, **kwargs)
            return y_pred, new_state, None
        y_pred, new_state, masks = model.apply_with_masks(params, state, x, **kwargs)
        flat = None if masks is None else model._flatten_outputs(masks)
        return y_pred, new_state, flat

    def _losses_and_total(self, y_flat, p_flat, weight, mask, count, out_masks=None):
        per_output, total = [], 0.0
        out_masks = out_masks or [None] * len(p_flat)
        for loss, w, y, p, out_mask in zip(self.losses, self.loss_weights, y_flat, p_flat,
                                           out_masks):
            if loss is None:
                continue
            reduction = getattr(loss, "reduction", None) or "sum_over_batch_size"
            row_coupled = getattr(loss, "per_sample_with_row_mask", None)
            if row_coupled is not None:  # Dice, Tversky, Circle: a batch's rows interact
                values, loss_mask = row_coupled(y, p, mask)
            else:
                values, loss_mask = loss.per_sample_with_mask(y, p)
            if out_mask is not None:  # Keras: the output's mask selects the entries that count
                out_mask = jnp.asarray(out_mask).astype(bool)
                loss_mask = out_mask if loss_mask is None else jnp.logical_and(
                    jnp.asarray(loss_mask).astype(bool), out_mask)
            if jnp.ndim(values) == 0 and jnp.ndim(p) == 1 and row_coupled is None:
                value = _rank1_loss(loss, y, p, weight, mask, count, reduction)
            else:
                value = losses_module.reduce_padded(values, weight, mask, count, reduction,
                                                    loss_mask)
            per_output.append(value)
            total = total + w * value
        return total, per_output

    def _metrics_init(self):
        if getattr(self, "_metrics_init_jit", None) is None:
            self._metrics_init_jit = quick_jit(self._metrics_zeros)
        zeros = self._metrics_init_jit()
        return zeros if self._placement is None else self._placement.put_replicated(zeros)

    def _metrics_zeros(self):
        if self.custom_steps:  # the variables of `model.metrics`, flat (Keras's metrics_variables)
            return _custom_steps.metric_values(self.model)
        n_losses = len(self.loss_names)
        zero = (jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32))
        return {"losses": [zero] * n_losses, "metrics": [m.init() for _, _, m, _ in self.metrics]}

    def _metrics_update(self, mstate, total, per_output, y_flat, p_flat, weight, mask, count,
                        out_masks=None):
        count_f = jnp.asarray(count, jnp.float32)
        out_masks = out_masks or [None] * len(p_flat)
        values = [total] + (per_output if len(self.loss_names) > 1 else [])
        losses = [(t + v * count_f, c + count_f) for (t, c), v in zip(mstate["losses"], values)]
        metrics = [_keras_metric_update(m, s, y_flat[i], p_flat[i], weight, mask, count, weighted)
                   if m._keras_style() else
                   m.update(s, y_flat[i], p_flat[i],
                            _masked_weight(weight if weighted else mask, out_masks[i]))
                   for (i, _, m, weighted), s in zip(self.metrics, mstate["metrics"])]
        return {"losses": losses, "metrics": metrics}

    def _metrics_result(self, mstate) -> Dict[str, jax.Array]:
        logs = {name: t / jnp.maximum(c, 1.0) for name, (t, c) in zip(self.loss_names, mstate["losses"])}
        for (_, name, m, _), s in zip(self.metrics, mstate["metrics"]):
            logs[name] = metrics_module.metric_result(m, s)
        return logs

    # ------------------------------------------------------------------ the stateless model API
    def compute_loss(self, y, y_pred, sample_weight, added, params):
        """`model.compute_loss`: the compiled loss of one batch (every row real) plus the
        losses layers added and the regularization penalties of `params`."""
        model = self.model
        p_flat = model._flatten_outputs(y_pred)
        total = jnp.zeros((), jnp.float32)
        if self._loss_spec is not None and y is not None:
            y_flat = _flatten_targets(model, y)
            if self._built_for is None:
                self._build(y_flat, [tuple(p.shape) for p in p_flat])
            n = jnp.shape(p_flat[0])[0]
            mask = jnp.ones((n,), jnp.float32)
            weight = mask if sample_weight is None else mask * jnp.asarray(sample_weight,
                                                                            jnp.float32)
            total, _ = self._losses_and_total(y_flat, p_flat, weight, mask, n)
        return _add_model_losses(jnp.asarray(total, jnp.float32), added, model, params)

    def compiled_metric_objects(self) -> list:
        """Keras's compiled entries of `model.metrics`: the loss tracker (with a compiled loss)
        and "compile_metrics" (with compiled metrics); the same objects on every call."""
        if getattr(self, "_metric_objects", None) is None:
            objects = []
            if self._loss_spec is not None:
                objects.append(_custom_steps.LossTracker())
            if any(self._metric_specs):
                objects.append(_custom_steps.CompileMetrics(self))
            self._metric_objects = objects
        return self._metric_objects

    def _make_train_step(self, tx):
        """The pure step `train_step(train_state, batch) -> train_state`."""
        model = self.model
        batch_stats = _uses_batch_statistics(model)
        constrained = _tree.has_constraints(model)
        scale_loss = getattr(self.optimizer, "scale_loss", None)

        def train_step(ts, batch, step_number):
            placement = self._placement
            if placement is not None:  # each device computes on its part of the batch
                batch = placement.constrain_batch(batch)
            x, y, weight, mask, count = batch
            y_flat = _flatten_targets(model, y)
            # The key of step n is fold_in(fit key, n), n counted from epoch * steps, so a fit
            # resumed at `initial_epoch` draws the same dropout masks as an uninterrupted one.
            step_rng = jax.random.fold_in(ts["rng"], step_number)
            extra = {"batch_mask": mask} if batch_stats else {}

            def loss_fn(params):
                with collect_losses() as added:
                    y_pred, new_state, out_masks = self._apply(params, ts["state"], x,
                                                               training=True, rng=step_rng,
                                                               **extra)
                p_flat = model._flatten_outputs(y_pred)
                total, per_output = self._losses_and_total(y_flat, p_flat, weight, mask, count,
                                                           out_masks)
                total = _add_model_losses(total, added, model, params)
                # Keras's `optimizer.scale_loss`: the gradients of the scaled loss (a loss scale
                # factor, LossScaleOptimizer's dynamic scale), which the optimizer unscales
                scaled = scale_loss(total, ts["opt_state"]) if scale_loss else total
                return scaled, (total, p_flat, new_state, per_output, out_masks)

            (_, (total, p_flat, new_state, per_output, out_masks)), grads = jax.value_and_grad(
                loss_fn, has_aux=True)(ts["params"])
            updates, opt_state = tx.update(grads, ts["opt_state"], ts["params"])
            params = optax.apply_updates(ts["params"], updates)
            if constrained:  # Keras applies constraints after each update
                params = _tree.apply_constraints(model, params)
            mstate = self._metrics_update(ts["metrics"], total, per_output, y_flat, p_flat,
                                          weight, mask, count, out_masks)
            if placement is not None:  # the weights and optimizer state keep their layouts
                params, new_state, opt_state = placement.constrain_train_state(
                    params, new_state, opt_state)
            return {"params": params, "state": new_state, "opt_state": opt_state, "rng": ts["rng"],
                    "metrics": mstate}

        return train_step

    def _make_train_exec(self, tx):
        """One execution: the train step looped on the device over batches lo..hi-1.

        `train_exec(train_state, data, order, valid, lo, hi, base) -> (train_state, logs)`, where
        batch i is step number `base + i` (it keys the step's randomness). The bounds
        are traced values, so any run length, a whole epoch or a single step, reuses one
        compiled program.
        """
        step = self._make_train_step(tx)
        looped = self.loop_train_steps

        def train_exec(ts, data, order, valid, lo, hi, base):
            if looped:
                ts = jax.lax.fori_loop(
                    lo, hi, lambda i, t: step(t, _gather(data, order, valid, i), base + i), ts)
            else:  # one step (batch lo); the host calls it for each batch of the execution
                ts = step(ts, _gather(data, order, valid, lo), base + lo)
            return ts, self._metrics_result(ts["metrics"])

        return train_exec

    def _make_test_exec(self):
        model = self.model

        def test_exec(mstate, params, state, data, order, valid, lo, hi):
            def body(i, m):
                batch = _gather(data, order, valid, i)
                if self._placement is not None:
                    batch = self._placement.constrain_batch(batch)
                x, y, weight, mask, count = batch
                y_flat = _flatten_targets(model, y)
                with collect_losses() as added:
                    y_pred, _, out_masks = self._apply(params, state, x, training=False)
                p_flat = model._flatten_outputs(y_pred)
                total, per_output = self._losses_and_total(y_flat, p_flat, weight, mask, count,
                                                           out_masks)
                total = _add_model_losses(total, added, model, params)
                return self._metrics_update(m, total, per_output, y_flat, p_flat, weight, mask,
                                            count, out_masks)

            mstate = jax.lax.fori_loop(lo, hi, body, mstate)
            return mstate, self._metrics_result(mstate)

        return test_exec

    # ------------------------------------------------------------------ optimizer over trainable weights
    def _exec_for_trainable(self):
        """The optimizer and jitted train execution for the current `trainable` flags.

        Frozen weights get zero updates (`optax.multi_transform` with `set_to_zero`); one
        execution is compiled per distinct freezing pattern and reused.
        """
        if self.custom_steps:
            tx = self._optimizer_and_weights()[0]
            key = ("custom", getattr(self, "_train_rows", None), id(tx) if self.pytree_steps
                   else None)
            if key not in self._masked_execs:
                self._masked_execs[key] = (tx, _jit_train(
                    _custom_steps.make_train_exec(self, key[1])))
            return self._masked_execs[key]
        tx, key = self.tx_for_trainable()
        if key is None:
            return tx, self._train_exec
        if key not in self._masked_execs:
            self._masked_execs[key] = (tx, _jit_train(self._make_train_exec(tx)))
        return self._masked_execs[key]

    def _optimizer_and_weights(self):
        """`(optimizer, what it updates)`: the (frozen-masked) optimizer over the params
        pytree, or, for a model with its own train_step, the optimizer over the list of
        trainable values (what `optimizer.stateless_apply` takes)."""
        model = self.model
        if self.custom_steps and not self.pytree_steps:
            return self.optimizer, model._lists_from_trees(model.params, model.state)[0]
        return self.tx_for_trainable()[0], model.params

    def optimizer_state_template(self):
        """The shapes and structure of the optimizer state (for loading a saved one)."""
        tx, weights = self._optimizer_and_weights()
        return jax.eval_shape(tx.init, weights)

    def tx_for_trainable(self):
        """`(optimizer, freezing key)`: the optimizer itself when every weight trains (key
        None), else an `optax.multi_transform` that gives frozen weights zero updates."""
        model = self.model
        model._ensure_built()
        # every layer trains (the common case): no masking, and no pytree to build per call
        if all(trainable for _, _, trainable in _tree.walk(model)):
            return self.optimizer, None
        mask = _tree.trainable_mask(model, model._trees()[0])
        if all(jax.tree.leaves(mask)):
            return self.optimizer, None
        key = (jax.tree.structure(mask), tuple(jax.tree.leaves(mask)))
        labels = jax.tree.map(lambda m: "train" if m else "frozen", mask)
        return optax.multi_transform({"train": self.optimizer, "frozen": optax.set_to_zero()},
                                     labels), key

    # ------------------------------------------------------------------ host side
    def _prepare(self, feed):
        """Builds the model and the steps from the first batch; returns the predictions' shapes."""
        x, y = feed.first()
        model = self.model
        self._eval_rows = _partial_rows(feed)
        x_spec = as_spec(x)
        model._ensure_built(x_spec)
        model._check_input_data(as_spec(feed.x) if feed.x is not None else x_spec)
        _tree.check_ready(model)
        if y is None and (self._loss_spec is not None or self.custom_steps):
            raise ValueError("Training and evaluation need targets: pass `y` (or (x, y) batches).")
        pred_shapes = self._pred_shapes(x_spec)
        self._build(_flatten_targets(model, y), pred_shapes)
        if feed.y is not None:
            self._check_labels(_flatten_targets(model, feed.y), pred_shapes)
        return pred_shapes

    def _pred_shapes(self, x_spec):
        """The shapes of the model's outputs for one sample (cached: tracing costs time)."""
        key = str(jax.tree.map(lambda s: (s.shape[1:], s.dtype), x_spec))
        cache = self.__dict__.setdefault("_pred_shape_cache", {})
        if key not in cache:
            out = jax.eval_shape(lambda p, s, xx: self.model.apply(p, s, xx)[0],
                                 self.model.params, self.model.state, batch_of_one(x_spec))
            cache[key] = [tuple(o.shape) for o in self.model._flatten_outputs(out)]
        return cache[key]

    def _feed(self, x, y, sample_weight, batch_size, shuffle=False):
        return make_feed(x, y, sample_weight, batch_size, shuffle, on_device=self.data_on_device,
                         dist=current_distribution())

    def _place_weights(self):
        """Under a distribution: the shardings of this model's arrays (`self._placement`), and
        its weights moved into their layouts if they are not there yet (built before the
        distribution was set). Without one, `self._placement` is None."""
        dist, model = current_distribution(), self.model
        if dist is None:
            self._placement = None
            return
        params, state = model._trees()
        placement = getattr(self, "_placement", None)
        if placement is None or placement.dist is not dist or \
                jax.tree.structure(placement.params) != jax.tree.structure(params):
            placement = _placement.TrainPlacement(dist, model.name, params, state)
            self._placement = placement
        placed = placement.put_weights(params, state)
        if not _same_leaves(placed, (params, state)):
            model._set_trees(*placed)

    def _execution_length(self, feed, callbacks, hooks, verbose, steps=None):
        """Steps per jitted call: the compile() value, or for "auto" a whole epoch (of `steps`
        batches, default the feed's), fewer when a progress bar should move (about 20 updates
        an epoch), and 1 when a user callback has batch-level hooks (they then see every batch,
        as with Keras's default)."""
        steps = feed.steps if steps is None else steps
        if self.steps_per_execution != "auto":
            return int(min(self.steps_per_execution, steps or self.steps_per_execution))
        if any(callbacks_module.overrides_batch_hooks(cb, hooks) for cb in callbacks or []):
            return 1
        if steps is None:  # a generator of unknown length: stream in modest chunks
            return _STREAM_CHUNK
        if verbose == 1:
            steps = math.ceil(steps / _PROGBAR_UPDATES)
        if isinstance(feed, StreamFeed):
            steps = min(steps, feed.chunk_steps)
        return max(1, steps)

    def fit(self, x, y, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        model = self.model
        epochs, steps_per_epoch = _capped(epochs, steps_per_epoch)
        if validation_split and validation_data is None:
            if not isinstance(x, (np.ndarray, jax.Array, list, dict)) or y is None:
                raise ValueError("`validation_split` is only supported for array inputs; pass "
                                 "`validation_data` instead.")
            (x, y, sample_weight), validation_data = split_validation(
                to_numpy_tree(x), to_numpy_tree(y, "y"), sample_weight, validation_split)
        batchwise = is_iterable_dataset(x) or isinstance(x, PyDataset)
        if class_weight is not None and not batchwise:
            sample_weight = _class_weights(model, y, class_weight, sample_weight)
        feed = self._feed(x, y, sample_weight, batch_size, shuffle)
        if class_weight is not None and batchwise:  # weighed batch by batch, as Keras does
            feed.batches.weigh = lambda by, bsw: _class_weights(model, by, class_weight, bsw)
        self._train_rows = _partial_rows(feed)
        self._prepare(feed)
        self._place_weights()
        val_feed, val_steps = None, None
        if validation_data is not None:
            vx, vy, vsw = _unpack_validation(validation_data)
            val_feed = self._feed(vx, vy, vsw, validation_batch_size or batch_size)
            self._prepare(val_feed)
            val_steps = _limited_steps(val_feed.steps, validation_steps)

        tx, train_exec = self._exec_for_trainable()
        ts = self._start_train_state(tx)
        self._ts, self._fit_thread = ts, threading.get_ident()
        try:
            return self._fit_loop(ts, feed, (val_feed, val_steps), tx, train_exec, epochs,
                                  verbose, callbacks, initial_epoch, steps_per_epoch,
                                  validation_freq)
        finally:
            # Also when a callback or Ctrl-C stops fit mid-epoch: the optimizer state matches the
            # weights the model holds (the latest execution's), and on accelerators it is not a
            # buffer that the next execution already donated.
            with self._ts_lock:
                self.opt_state = self._ts["opt_state"]
                self._ts, self._fit_thread = None, None

    def _start_train_state(self, tx):
        """A train state from the model's weights and the optimizer state (created, or with a
        pending learning rate applied), as private copies where the step donates its inputs."""
        from ..utils import next_rng_key

        model = self.model
        copy = (lambda t: jax.tree.map(jnp.array, t)) if _donate() else (lambda t: t)
        model._ensure_built()
        held = model._trees()  # never donated (`_jit_train`): used as they are
        if _any_deleted(held):
            raise RuntimeError(
                f"The weights of model '{model.name}' are deleted device buffers (deleted, or "
                "donated to a jitted function outside kerasx), so they are gone. Load them again "
                "(`load_weights`, a checkpoint) before training.")
        if _any_deleted(self.opt_state):
            warnings.warn(f"The optimizer state of model '{model.name}' was lost when an earlier "
                          "fit was interrupted inside a jitted call; training goes on from a "
                          "fresh optimizer state.", stacklevel=4)
            self.opt_state = None
        params, state = held
        # a custom train_step's optimizer runs over the list of trainable values
        over = model._lists_from_trees(params, state)[0] if (
            self.custom_steps and not self.pytree_steps) else params
        if self.opt_state is None or jax.tree.structure(self.opt_state) != self._opt_structure(
                tx, over):
            self.opt_state = quick_jit(tx.init)(over)
        if self._pending_lr is not None:
            self.opt_state = optimizers_module.replace_learning_rate(self.opt_state, self._pending_lr)
            self._pending_lr = None
        ts = {"params": params, "state": state, "opt_state": copy(self.opt_state),
              "rng": next_rng_key(), "metrics": self._metrics_init()}
        placement = self._placement
        if placement is not None:  # the optimizer state follows its weights' layouts
            ts["opt_state"] = _placement.put(
                ts["opt_state"], placement.opt_shardings(ts["opt_state"], over))
            ts["rng"] = placement.put_replicated(ts["rng"])
        return ts

    def _opt_structure(self, tx, params):
        """The tree structure of `tx.init(params)`, traced once per optimizer and weight
        structure (tracing it on every call cost `train_on_batch` more than its step)."""
        key = jax.tree.structure(params)
        cached = self._opt_structure_cache
        if cached is None or cached[0] is not tx or cached[1] != key:
            cached = (tx, key, jax.tree.structure(jax.eval_shape(tx.init, params)))
            self._opt_structure_cache = cached
        return cached[2]

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch (Keras's `train_on_batch`): the loss and metrics of
        that batch (metrics start afresh each call, as in Keras 3)."""
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError("Arguments `sample_weight` and `class_weight` cannot be "
                                 "specified at the same time.")
            sample_weight = _class_weights(self.model, y, class_weight, None)
        x, y = to_numpy_tree(x), to_numpy_tree(y, "y")
        feed = self._feed(x, y, sample_weight, num_samples(x, y, sample_weight))
        self._prepare(feed)
        tx, train_exec = self._exec_for_trainable()
        (_, _, args, _), = feed.executions(1)
        data, order, valid, _, _ = args
        ts, logs = train_exec(self._start_train_state(tx), data, order, valid, np.int32(0),
                              np.int32(1), np.int32(0))
        self.model._set_trees(ts["params"], ts["state"])
        self.opt_state = ts["opt_state"]
        return self._format_logs(_host_logs(logs), return_dict)

    def _format_logs(self, logs, return_dict):
        """Keras's return value: the dict, a scalar loss, or [loss, *metrics] in order."""
        if return_dict:
            return logs
        if self.custom_steps:
            values = list(logs.values())
        else:
            values = [logs[k] for k in self.loss_names + [n for _, n, _, _ in self.metrics]]
        return values[0] if len(values) == 1 else values

    def _fit_loop(self, ts, feed, validation, tx, train_exec, epochs, verbose, callbacks,
                  initial_epoch, steps_per_epoch, validation_freq):
        model = self.model
        val_feed, val_steps = validation
        self._shuffle_seed = int(np.random.randint(0, 2**31 - 1))

        verbose = _verbosity(verbose)
        history = callbacks_module.History()
        steps = feed.steps if steps_per_epoch is None or feed.steps is None \
            else min(steps_per_epoch, feed.steps)
        cbs = callbacks_module.CallbackList(
            list(callbacks or []) + [history], add_progbar=verbose != 0, model=model,
            verbose=verbose, epochs=epochs, steps=steps)
        spe = self._execution_length(feed, callbacks, "train", verbose)
        # Validation runs as Keras's `evaluate(callbacks=<this list>)`: user callbacks get the
        # test hooks, in executions as `evaluate` makes them (the progress bar stays silent).
        val_spe = None if val_feed is None else \
            self._execution_length(val_feed, callbacks, "test", 0, val_steps)
        if steps_per_epoch is not None and feed.steps is not None and steps_per_epoch > feed.steps:
            warnings.warn(f"steps_per_epoch={steps_per_epoch} is more than the {feed.steps} "
                          f"batches of {feed.batch_size} that the data holds: each epoch runs "
                          f"{feed.steps} batches.", stacklevel=4)
        model.stop_training = False
        model._initial_epoch = None
        fit_start = initial_epoch  # where the data windows count from (see `epoch_window`)
        short_epoch_warned = False
        cbs.on_train_begin()
        # A callback may resume an interrupted run (BackupAndRestore): it restores the train
        # state through `restore_training_state` and sets the epoch to start from, as in Keras.
        if model._initial_epoch is not None:
            initial_epoch, model._initial_epoch = model._initial_epoch, None
        shuffle_seed = self._shuffle_seed
        epoch_logs = {}
        first_step = 0
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            ts = self._ts
            ts["metrics"] = self._metrics_init()
            if steps is not None:  # else (a generator of unknown length) count on
                first_step = epoch * steps
            logs, ran = {}, 0
            # With `steps_per_epoch`, epochs carry on through the data as in Keras; the window
            # is a function of the epoch, so a resumed fit reads the same batches.
            pass_index, first, count = epoch_window(feed.steps, steps_per_epoch,
                                                    max(epoch - fit_start, 0))
            if (not short_epoch_warned and steps_per_epoch is not None and feed.steps is not None
                    and count < min(steps_per_epoch, feed.steps)):
                short_epoch_warned = True
                warnings.warn(
                    f"steps_per_epoch={steps_per_epoch} does not divide the {feed.steps} batches "
                    f"of {feed.batch_size} that the data holds: as in Keras, each epoch carries "
                    f"on through the data, an epoch that reaches its end (epoch {epoch + 1}) "
                    f"runs the {count} batch(es) left, and the next one starts a new pass.",
                    stacklevel=4)
            for start, stop, args, _ in feed.executions(spe, count, shuffle_seed,
                                                        fit_start + pass_index, first):
                cbs.on_train_batch_begin(start)
                ts = self._adopt_callback_changes()
                data, order, valid, lo, hi = args
                base = np.int32(first_step + start - lo)  # the step number of batch i is base + i
                with self._ts_lock:  # see _opt_state_now
                    if self.loop_train_steps:
                        ts, logs = train_exec(ts, *args, base)
                    else:
                        for i in range(int(lo), int(hi)):
                            ts, logs = train_exec(ts, data, order, valid, np.int32(i),
                                                  np.int32(i + 1), base)
                    self._ts = ts
                model._set_trees(ts["params"], ts["state"])
                cbs.on_train_batch_end(stop - 1, logs)
                ran = stop
                if model.stop_training:
                    break
            if ran == 0:  # an iterable that has run out: this epoch has no data
                warnings.warn(_RAN_OUT, stacklevel=4)
                break
            if feed.steps is None and steps_per_epoch is not None and ran < steps_per_epoch \
                    and not model.stop_training:
                warnings.warn(_RAN_OUT, stacklevel=4)
            first_step += ran
            epoch_logs = _host_logs(logs)
            self.opt_state = ts["opt_state"]
            if val_feed is not None and (epoch + 1) % validation_freq == 0:
                cbs.on_test_begin()
                val_logs = self._evaluate_feed(val_feed, ts["params"], ts["state"], cbs, val_spe,
                                               val_steps)
                cbs.on_test_end(val_logs)
                if not val_logs:
                    warnings.warn(f"`validation_data` ran out of batches: epoch {epoch + 1} has "
                                  "no validation logs. A generator serves its batches once; "
                                  "pass arrays or a list of batches to validate every epoch.",
                                  stacklevel=4)
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        finalize = getattr(self.optimizer, "finalize_variable_values", None)
        # Keras: with `use_ema`, the model ends training holding the moving averages
        params = finalize(ts["params"], ts["opt_state"]) if finalize else ts["params"]
        model._set_trees(params, ts["state"])
        self.opt_state = ts["opt_state"]
        cbs.on_train_end(epoch_logs)
        model.history = history
        return history

    def _adopt_callback_changes(self):
        """The live train state, with weights a callback set through `model.set_weights` or
        `model.params = ...` (a learning rate set through `model.optimizer` is already in it)."""
        ts, model = self._ts, self.model
        params, state = model._trees()  # the layers' arrays: the same objects unless changed
        if not _same_leaves(params, ts["params"]):
            ts["params"] = params  # never donated (`_jit_train`): no copy needed
        if not _same_leaves(state, ts["state"]):
            ts["state"] = state
        return ts

    # ------------------------------------------------------------------ resumable training
    def training_state(self):
        """What a fit needs besides the weights to continue exactly: the optimizer state, the
        fit's random key (dropout) and its shuffle seed. Read it from a callback during `fit`."""
        if self._ts is None:
            raise RuntimeError("`training_state()` is only available while `fit` runs.")
        return {"opt_state": self._ts["opt_state"], "rng": self._ts["rng"],
                "shuffle_seed": self._shuffle_seed}

    def restore_training_state(self, opt_state=None, rng=None, shuffle_seed=None):
        """Puts a saved optimizer state, random key and shuffle seed into the running `fit`
        (from `on_train_begin`); each must match the structure `training_state()` returns."""
        if self._ts is None:
            raise RuntimeError("`restore_training_state()` is only available while `fit` runs.")
        if opt_state is not None:
            self._ts["opt_state"] = jax.device_put(opt_state)
            self.opt_state = self._ts["opt_state"]
        if rng is not None:
            self._ts["rng"] = jax.device_put(rng)
        if shuffle_seed is not None:
            self._shuffle_seed = int(shuffle_seed)

    # ------------------------------------------------------------------ the live learning rate
    def _opt_state_now(self):
        """The optimizer state as it stands (the running fit's, during a fit). Another thread
        gets a host copy taken under the lock that the fit holds while it dispatches an
        execution, which donates (deletes) the state it is given."""
        if self._ts is not None:
            if threading.get_ident() == self._fit_thread:
                return self._ts["opt_state"]
            with self._ts_lock:
                ts = self._ts
                if ts is not None:
                    return jax.tree.map(np.array, ts["opt_state"])
        if self.opt_state is None and self.model.built:
            self.opt_state = quick_jit(self._optimizer_and_weights()[0].init)(
                self._optimizer_and_weights()[1])
        return self.opt_state

    def get_learning_rate(self) -> float:
        if self._pending_lr is not None:
            return float(self._pending_lr)
        opt_state = self._opt_state_now()
        lr = None if opt_state is None else optimizers_module.current_learning_rate(opt_state)
        if lr is None:
            lr = getattr(self.optimizer, "learning_rate", None)
            if callable(lr) and opt_state is None:  # a schedule, before the state exists
                lr = lr(0)
            if lr is None or callable(lr):
                raise AttributeError(
                    "This optimizer exposes no learning rate. Use a kerasx optimizer, or wrap an "
                    "optax one with `optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)`.")
        return float(lr)

    def set_learning_rate(self, value):
        if getattr(self.optimizer, "_schedule", None) is not None:
            raise TypeError(
                f"Optimizer `{self.optimizer.name}` was created with a learning-rate schedule, so "
                "its learning rate is not settable. Create it with a float `learning_rate`.")
        value = float(value)
        if self._ts is not None:
            self._ts["opt_state"] = optimizers_module.replace_learning_rate(self._ts["opt_state"], value)
            return
        opt_state = self._opt_state_now()
        if opt_state is None:  # the model is not built yet: applied when fit creates the state
            self._pending_lr = value
        else:
            self.opt_state = optimizers_module.replace_learning_rate(opt_state, value)

    def get_iterations(self) -> int:
        opt_state = self._opt_state_now()
        counted = getattr(self.optimizer, "iterations_of", None)  # one per applied update
        if counted is not None and opt_state is not None:
            return int(counted(opt_state))
        nodes = jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, optimizers_module.OptimizerState))
        for node in nodes:
            if isinstance(node, optimizers_module.OptimizerState):
                return int(node.iterations)
        return 0

    def _evaluate_feed(self, feed, params, state, cbs=None, spe=None, steps=None) -> Dict[str, float]:
        mstate = self._metrics_init()
        logs = {}
        reset = getattr(getattr(feed, "batches", None), "reset", None)
        if reset is not None:  # as Keras's evaluate: a new pass over a dataset each time
            reset()
        for start, stop, args, _ in feed.executions(spe or feed.steps or _STREAM_CHUNK, steps):
            if cbs:
                cbs.on_test_batch_begin(start)
            mstate, logs = self._test_exec(mstate, params, state, *args)
            if cbs:
                cbs.on_test_batch_end(stop - 1, logs)
        return _host_logs(logs)

    def evaluate(self, x, y, batch_size=None, verbose="auto", sample_weight=None, callbacks=None,
                 return_dict=False, steps=None):
        feed = self._feed(x, y, sample_weight, batch_size)
        self._prepare(feed)
        self._place_weights()
        verbose = _verbosity(verbose)
        steps = _limited_steps(feed.steps, _capped_steps(steps))
        cbs = callbacks_module.CallbackList(list(callbacks or []), add_progbar=verbose != 0,
                                            model=self.model, verbose=verbose, epochs=1,
                                            steps=steps)
        spe = self._execution_length(feed, callbacks, "test", verbose, steps)
        cbs.on_test_begin()
        logs = self._evaluate_feed(feed, self.model.params, self.model.state, cbs, spe, steps)
        cbs.on_test_end(logs)
        return self._format_logs(logs, return_dict)


class BoundOptimizer:
    """`model.optimizer`: the compiled optimizer, with Keras's live `learning_rate` (a float
    you can read and assign, from a callback during `fit` or outside it, without recompiling)
    and `iterations` (updates applied so far). Other attributes are the optimizer's."""

    def __init__(self, trainer):
        self._trainer = trainer

    def __getattr__(self, name):
        if name.startswith("__") or name == "_trainer":  # copy/pickle probe these
            raise AttributeError(name)
        if name in ("learning_rate", "lr", "iterations"):
            # Python calls __getattr__ when a property raises AttributeError: re-raise the
            # property's own error (it says what to do) instead of the optimizer's.
            return getattr(type(self), name).fget(self)
        return getattr(self._trainer.optimizer, name)

    @property
    def learning_rate(self) -> float:
        return self._trainer.get_learning_rate()

    @learning_rate.setter
    def learning_rate(self, value):
        self._trainer.set_learning_rate(value)

    lr = learning_rate  # the Keras 2 alias

    def update(self, grads, opt_state, params):
        """optax's `update` of the compiled optimizer over the params pytree, frozen weights
        getting zero updates (for `pytree_train_step`): returns `(updates, opt_state)`."""
        return self._trainer.tx_for_trainable()[0].update(grads, opt_state, params)

    def init(self, params):
        """optax's `init` of the compiled optimizer (frozen weights masked) for `params`."""
        return self._trainer.tx_for_trainable()[0].init(params)

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """One update of `trainable_variables` (flat, in `model.trainable_variables` order)
        by `grads`; returns `(trainable_variables, optimizer_variables)` (Keras 3's JAX API,
        for a custom `train_step`). Pure; constraints are applied after the update."""
        return _custom_steps.stateless_apply(self._trainer, optimizer_variables, grads,
                                             trainable_variables)

    @property
    def iterations(self) -> int:
        return self._trainer.get_iterations()

    def __repr__(self):
        return f"<model.optimizer: {self._trainer.optimizer!r}>"


_PROGBAR_UPDATES = 20   # executions per epoch when a progress bar is drawn and spe is "auto"


def _uses_batch_statistics(layer) -> bool:
    """Whether any layer normalizes with statistics of the batch when training (BatchNorm)."""
    return _tree.uses_batch_statistics(layer)


def _partial_rows(feed):
    """The real size of the last batch of an array feed when it does not fill a batch (a
    custom train_step sees it at that size, as in Keras), else None."""
    n, bs = getattr(feed, "n", None), getattr(feed, "batch_size", None)
    if not isinstance(n, int) or not isinstance(bs, int) or n % bs == 0:
        return None
    return n % bs


class _CustomTestExec:
    """The test execution of a model with its own steps: one jitted program per size of the
    partial last batch of the data being evaluated (None when every batch is full)."""

    def __init__(self, trainer):
        self._trainer = trainer
        self._execs = {}

    def __call__(self, *args):
        rows = getattr(self._trainer, "_eval_rows", None)
        if rows not in self._execs:
            self._execs[rows] = jax.jit(_custom_steps.make_test_exec(self._trainer, rows))
        return self._execs[rows](*args)


def _masked_weight(weight, out_mask):
    """A metric's per-row weight times the output's Keras mask (Keras's metrics weight the
    entries by the mask of `y_pred`); the weight itself when the output carries no mask."""
    if out_mask is None:
        return weight
    out_mask = jnp.asarray(out_mask).astype(weight.dtype)
    return weight.reshape(weight.shape + (1,) * (out_mask.ndim - weight.ndim)) * out_mask


def _keras_metric_update(metric, state, y_true, y_pred, weight, mask, count, weighted):
    """A Keras-style metric's update as Keras calls it: `sample_weight` only for weighted
    metrics; the padding rows of a padded last batch are masked out with a per-row weight
    (the one batch where kerasx must pass a weight Keras would not)."""
    if weighted:
        return metric.update(state, y_true, y_pred, weight)
    row_mask = mask.reshape(mask.shape + (1,) * (jnp.ndim(y_pred) - 1))
    return jax.lax.cond(count == mask.shape[0],
                        lambda: metric.update(state, y_true, y_pred),
                        lambda: metric.update(state, y_true, y_pred, row_mask))


def _add_model_losses(total, added, model, params):
    """The data loss plus the losses layers added (`add_loss`, activity regularizers) and the
    weight regularization penalties, as Keras's `compute_loss` adds `model.losses`; the loss
    reported by `fit`/`evaluate` includes them. Nothing is added (and the compiled step is
    unchanged) for a model without any."""
    extra = [jnp.sum(jnp.asarray(v, jnp.float32)) for v in added]
    extra += _tree.regularization_losses(model, params)
    if not extra and getattr(model._trainer, "_loss_spec", True) is None:
        # as Keras: a model may train on its added losses alone, but it needs some loss
        raise ValueError(
            f"Model '{model.name}' was compiled without a `loss` and adds none itself "
            "(`add_loss`, regularizers): there is no loss to compute. Pass one to `compile()`, "
            "e.g. loss='sparse_categorical_crossentropy'.")
    total = jnp.asarray(total, jnp.float32) if extra else total
    for value in extra:
        total = total + value.astype(total.dtype)
    return total


def _same_leaves(a, b) -> bool:
    """Whether two pytrees hold the very same arrays (no device reads)."""
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(x is y for x, y in zip(la, lb))


def _cpu_conv_gradients(model) -> bool:
    """Whether the model trains convolution kernels with several input channels on the CPU
    backend, where a device-side loop of steps is slower than one call per step.

    XLA:CPU lays out a convolution's kernel gradient for its fast (Eigen) path only outside a
    loop; inside a `while` body the same gradient takes a naive path (jax-ml/jax#12868). For a
    3x3 conv to 32 channels on 28x28 inputs, batch 128, the kernel gradient inside a loop costs
    1.5x (1 input channel), 3.7x (3), 4.5x (8) and 4.2x (16) its cost outside (2-core CPU); a
    whole 32->32 ResNet block trains 12x slower in the loop, while the MNIST convnet, whose only
    conv has 1 input channel, trains 1.5x faster in the loop. Such models run one step per call
    on the CPU, with the data still resident; GPUs and TPUs always loop.
    """
    from ..layers._convolutional import _Conv

    model._ensure_built()
    return jax.default_backend() == "cpu" and any(
        isinstance(layer, _Conv) and trainable and layer._own["params"]["kernel"].shape[-2] > 1
        for _, layer, trainable in _tree.walk(model))


def _donate():
    # Buffer donation reuses the train state's memory on accelerators. Off on the CPU backend,
    # where it gains nothing measurable (tests force it on to check the donation path).
    return (0,) if jax.default_backend() != "cpu" else ()


_WEIGHTS = ("params", "state")


def _jit_train(train_exec):
    """`train_exec(ts, *args) -> (ts, logs)` jitted with the optimizer state, metrics and key
    of the train state donated where `_donate()` says so, but never its weights.

    The layers hold the weights an execution returns, and anything may read them while the
    next execution runs: `predict`, `get_weights`, `save` or `layer.kernel` from another
    thread. A donated buffer is deleted the moment the execution is dispatched, so those reads
    would fail. The optimizer state is read across threads only through
    `Trainer._opt_state_now`, under the trainer's lock."""
    if not _donate():
        return jax.jit(train_exec)

    def split(weights, rest, *args):
        return train_exec({**weights, **rest}, *args)

    jitted = jax.jit(split, donate_argnums=1)

    def call(ts, *args):
        return jitted({k: ts[k] for k in _WEIGHTS},
                      {k: v for k, v in ts.items() if k not in _WEIGHTS}, *args)
    return call


def _capped(epochs, steps_per_epoch):
    """Keras's `config.set_max_epochs` / `set_max_steps_per_epoch` caps on a `fit`."""
    cap = _settings.MAX_EPOCHS
    if cap and cap < epochs:
        warnings.warn(f"Limiting epochs to {cap} (kerasx.config.max_epochs()).", stacklevel=4)
        epochs = cap
    cap = _settings.MAX_STEPS_PER_EPOCH
    if cap and (not steps_per_epoch or cap < steps_per_epoch):
        warnings.warn(f"Limiting steps_per_epoch to {cap} (kerasx.config.max_steps_per_epoch()).",
                      stacklevel=4)
        steps_per_epoch = cap
    return epochs, steps_per_epoch


def _capped_steps(steps):
    """`evaluate` / `predict` steps under Keras's `config.set_max_steps_per_epoch` cap."""
    cap = _settings.MAX_STEPS_PER_EPOCH
    return steps if not cap or (steps is not None and steps <= cap) else cap


def _verbosity(verbose):
    """Keras's `verbose="auto"` is 1; in a multi-process job only process 0 prints."""
    if jax.process_index() != 0:
        return 0
    return 1 if verbose == "auto" else verbose


def _unpack_validation(data):
    """Keras's `validation_data`: (x, y), (x, y, sample_weight), or an iterable of batches."""
    if isinstance(data, (tuple, list)) and len(data) in (2, 3) and not is_iterable_dataset(data):
        return data[0], data[1], (data[2] if len(data) == 3 else None)
    return data, None, None


def _host_logs(logs) -> Dict[str, Any]:
    """Logs read to the host: floats, or NumPy arrays for metrics with vector results (F1Score
    with `average=None`, Precision with several thresholds), as Keras logs them."""
    out = {}
    for k, v in logs.items():
        a = np.asarray(v)
        out[k] = float(a) if a.ndim == 0 else a
    return out


def _class_weights(model, y, class_weight, sample_weight):
    """Per-sample weights from Keras's `class_weight={class_index: weight}`."""
    if len(model.output_names) > 1:
        raise ValueError("`class_weight` is only supported for models with a single output.")
    y = np.asarray(_flatten_targets(model, y)[0])
    if y.ndim == 2 and y.shape[1] > 1:
        classes = np.argmax(y, axis=1)
    elif y.ndim == 2 and y.shape[1] == 1 and np.issubdtype(y.dtype, np.floating):
        classes = np.round(y[:, 0]).astype(int)
    else:
        classes = y.reshape(len(y)).astype(int)
    missing = sorted(set(np.unique(classes).tolist()) - set(class_weight))
    if missing:
        raise ValueError(f"`class_weight` has no weight for classes {missing} that occur in `y`.")
    w = np.asarray([class_weight[c] for c in classes], np.float32)
    return w if sample_weight is None else w * np.asarray(sample_weight, np.float32)


def _any_deleted(tree) -> bool:
    """Whether a pytree holds a device buffer that was donated (deleted), as a jitted call that
    was interrupted on an accelerator leaves its inputs."""
    return any(isinstance(leaf, jax.Array) and leaf.is_deleted() for leaf in jax.tree.leaves(tree))


_RAN_OUT = ("Your input ran out of data; interrupting training. Make sure that your dataset or "
            "generator can generate at least `steps_per_epoch * epochs` batches (a generator "
            "serves its batches once; a list of batches, or an object whose `__iter__` starts "
            "over, serves every epoch).")


def _rank1_loss(loss, y, p, weight, mask, count, reduction):
    """Keras's loss for rank-1 predictions `(batch,)`, over the real rows of a padded batch.

    Keras's losses reduce the last axis, which for a rank-1 prediction is the batch itself: one
    unweighted scalar per batch, `mean_i loss(y_i, p_i)`, then scaled by the sample weights'
    sum (over the batch size for "sum_over_batch_size"). Computed per row on `(batch, 1)`
    arrays, the mean can skip the padding rows. (Without sample weights Keras's "sum" leaves
    the scalar unscaled; here the real rows' weights of 1 scale it by the batch size.)
    """
    rows, _ = loss.per_sample_with_mask(y[:, None] if jnp.ndim(y) == 1 else y, p[:, None])
    unweighted = losses_module.reduce_padded(rows, mask, mask, count)
    total_weight = jnp.sum(weight)
    if reduction == "sum":
        return unweighted * total_weight
    if reduction == "mean_with_sample_weight":
        return jnp.where(total_weight > 0, unweighted, 0.0)
    return unweighted * total_weight / jnp.asarray(count, unweighted.dtype)


def _limited_steps(feed_steps, steps):
    """The batches `evaluate`/`predict` run: all of the data's, or the first `steps` (Keras's
    `steps=`); `None` for a generator of unknown length run to its end."""
    if steps is None:
        return feed_steps
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"`steps` must be a positive integer or None. Received: steps={steps!r}")
    return int(steps) if feed_steps is None else min(int(steps), feed_steps)


def predict(model, x, batch_size=None, verbose="auto", callbacks=None, steps=None,
            steps_per_execution="auto", data_on_device="auto"):
    """Runs the model on `x` in batches on the device; NumPy outputs in the model's output
    structure."""
    if is_iterable_dataset(x):  # batches of x, or (x, ...) tuples whose rest is ignored
        feed = StreamFeed(IterableBatches(
            (b[:1] if isinstance(b, (tuple, list)) else (b,)) for b in x))
    else:
        x = to_numpy_tree(x)
        if num_samples(x) == 0:
            return _empty_predictions(model, x)
        feed = make_feed(x, None, None, batch_size, False, on_device=data_on_device,
                         dist=current_distribution())
    x_spec = as_spec(feed.first()[0])
    model._ensure_built(x_spec)
    dist = current_distribution()
    if dist is not None:  # the weights in their layouts (moved there if built before)
        held = model._trees()
        placed = _placement.TrainPlacement(dist, model.name, *held).put_weights(*held)
        if not _same_leaves(placed, held):
            model._set_trees(*placed)
    model._check_input_data(as_spec(feed.x) if feed.x is not None else x_spec)
    _tree.check_ready(model)
    verbose = _verbosity(verbose)
    steps = _limited_steps(feed.steps, _capped_steps(steps))
    cbs = callbacks_module.CallbackList(list(callbacks or []), add_progbar=verbose != 0,
                                        model=model, verbose=verbose, epochs=1, steps=steps)
    if steps_per_execution != "auto":
        spe = int(min(steps_per_execution, steps or steps_per_execution))
    elif any(callbacks_module.overrides_batch_hooks(cb, "predict") for cb in callbacks or []):
        spe = 1
    else:
        spe = steps or _STREAM_CHUNK
        if verbose == 1:
            spe = math.ceil(spe / _PROGBAR_UPDATES)
        if isinstance(feed, StreamFeed):
            spe = min(spe, feed.chunk_steps)
    fn = _predict_exec(model)
    # The execution length is static in the program: one execution over resident data runs
    # the whole size bucket (the extra batches repeat the last one and are dropped), so data of
    # a nearby size reuses the compiled program; a streamed chunk runs its own rows of batches,
    # a size bucket too.
    length = spe
    if getattr(feed, "order_steps", None) and spe >= feed.steps:
        length = feed.order_steps
    cbs.on_predict_begin()
    outs = []
    for start, stop, args, rows in feed.executions(spe, steps):
        cbs.on_predict_batch_begin(start)
        y = fn(*model._trees(), *args,
               length=args[2].shape[0] if isinstance(feed, StreamFeed) else length)
        if dist is not None and jax.process_count() > 1:  # this process's rows
            y = _placement.process_rows(dist, y)
        outs.append((y, stop - start, rows))
        cbs.on_predict_batch_end(stop - 1, {"outputs": y})
    flat = []
    for i in range(len(model.output_names)):
        parts = []
        for y, n_batches, rows in outs:
            out = np.asarray(model._flatten_outputs(y)[i])[:n_batches]
            parts.append(out.reshape((-1,) + out.shape[2:])[rows()])
        flat.append(np.concatenate(parts))
    cbs.on_predict_end()
    return model._unflatten_outputs(flat)


def _empty_predictions(model, x):
    """What `predict` returns for 0 samples: outputs of 0 rows in the model's output shapes
    and dtypes (Keras 3 raises an unrelated error here)."""
    spec = as_spec(x)
    model._ensure_built(spec)
    model._check_input_data(spec)
    out = jax.eval_shape(lambda p, s, xx: model.apply(p, s, xx)[0], *model._trees(),
                         jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), x))
    return model._unflatten_outputs([np.zeros(o.shape, o.dtype)
                                     for o in model._flatten_outputs(out)])


def predict_on_batch(model, x):
    """The outputs on one batch as NumPy: a jitted forward pass without `predict`'s batching
    (its data placement, executions and callbacks cost more than the pass on small batches)."""
    x = to_numpy_tree(x)
    spec = as_spec(x)
    model._ensure_built(spec)
    model._check_input_data(spec)
    fn = getattr(model, "_forward_jit", None)
    if fn is None:
        fn = jax.jit(lambda params, state, x: model.apply(params, state, x, training=False)[0])
        model._forward_jit = fn
    y = fn(*model._trees(), x)
    return model._unflatten_outputs([np.asarray(out) for out in model._flatten_outputs(y)])


def _predict_exec(model):
    """`(params, state, data, order, valid, lo, hi, length) -> outputs` for batches lo..hi-1,
    stacked (length, batch, ...); jitted once per model and execution length."""
    fn = getattr(model, "_predict_jit", None)
    if fn is None:
        def predict_exec(params, state, data, order, valid, lo, hi, length):
            custom = _custom_steps.overrides(model, "predict_step")

            def one(i):
                i = jnp.minimum(i, hi - 1)
                if order is None:  # stepped chunks (a distribution): batch i is row i
                    x = jax.tree.map(lambda a: a[i], data["x"])
                else:
                    x = jax.tree.map(lambda a: take_rows(a, order[i]), data["x"],
                                     is_leaf=lambda v: isinstance(v, HostRows))
                if custom:  # Keras 3's JAX form: (outputs, non_trainable_variables)
                    return _custom_steps.run_predict_step(model, params, state, x)
                return model.apply(params, state, x, training=False)[0]
            return jax.lax.map(one, lo + jnp.arange(length))
        fn = jax.jit(predict_exec, static_argnames="length")
        model._predict_jit = fn
    return fn
