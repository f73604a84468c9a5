"""compile/fit/evaluate/predict: one pure, jit-compiled train step and the host loop around it.

The train step is a pure function of a train-state pytree:

    train_step(train_state, batch) -> (train_state, logs)

with `train_state = {"params", "state", "opt_state", "rng", "metrics"}`. It is built on
`jax.value_and_grad(..., has_aux=True)` and optax, jit-compiled once per `compile()`. The loop in
`Trainer.fit` is the only code that talks to the host: batching, callbacks, progress; it never
converts a device value to a Python number per step (the progress bar does so only when it
renders).
"""

from typing import Any, Dict, List

import jax
import jax.numpy as jnp
import numpy as np
import optax

from . import callbacks as callbacks_module
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from ._data import is_iterable_dataset, make_batches, split_validation, to_numpy_tree
from ..layers._base import as_spec, batch_of_one


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


def _flatten_targets(model, y) -> List[Any]:
    """y in the structure of the model's outputs → a list in `output_names` order."""
    names = model.output_names
    if len(names) == 1:
        if isinstance(y, dict):
            if names[0] in y:
                return [y[names[0]]]
            if len(y) == 1:
                return list(y.values())
        if isinstance(y, (list, tuple)) and len(y) == 1 and hasattr(y[0], "shape"):
            return [y[0]]
        return [y]
    if isinstance(y, dict):
        missing = [n for n in names if n not in y]
        if missing:
            raise ValueError(f"`y` lacks targets for outputs {missing}; the model's outputs are {names}.")
        return [y[n] for n in names]
    if isinstance(y, (list, tuple)) and len(y) == len(names):
        return list(y)
    raise ValueError(
        f"The model has {len(names)} outputs {names}; pass `y` as a list of {len(names)} arrays "
        "or a dict keyed by output name."
    )


class Trainer:
    """What `compile()` sets up: the optimizer, losses, metrics and the jitted steps."""

    def __init__(self, model, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                 weighted_metrics=None, **kwargs):
        unknown = set(kwargs) - {"run_eagerly", "steps_per_execution",
                                 "jit_compile", "auto_scale_loss"}
        if unknown:
            raise TypeError(f"compile() got unexpected arguments: {sorted(unknown)}")
        self.model = model
        self.optimizer = optimizers_module.get(optimizer)
        self._loss_spec, self._loss_weights = loss, loss_weights
        self._metric_specs = (metrics, weighted_metrics)
        self._built_for = None
        self.opt_state = None
        self._train_step = self._test_step = None

    # ------------------------------------------------------------------ building
    def _build(self, y_flat, pred_shapes):
        """Resolves losses and metrics for the targets' shapes and jits the steps (once)."""
        model = self.model
        names = model.output_names
        key = tuple((tuple(np.shape(y)[1:]), str(y.dtype)) for y in y_flat)
        if self._built_for == key:
            return
        if self._loss_spec is None:
            raise ValueError(
                f"Model '{model.name}' was compiled without a `loss`; pass one to `compile()`, "
                "e.g. loss='sparse_categorical_crossentropy'."
            )
        loss_list = _per_output(self._loss_spec, names, "loss")
        weights = _per_output(self._loss_weights if self._loss_weights is not None else 1.0,
                              names, "loss_weights", default=1.0)
        self.losses = [None if l is None else losses_module.get(l) for l in loss_list]
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
                    log_name = metric.name if len(names) == 1 else f"{names[i]}_{metric.name}"
                    self.metrics.append((i, log_name, metric, weighted))
        self.loss_names = ["loss"] + ([f"{n}_loss" for n, l in zip(names, self.losses) if l is not None]
                                      if len(names) > 1 else [])
        self._built_for = key
        self._train_step = jax.jit(self._make_train_step(self.optimizer), donate_argnums=_donate())
        self._masked_steps = {}
        self._test_step = jax.jit(self._make_test_step(), donate_argnums=_donate())

    def _check_labels(self, y_flat, pred_shapes):
        for loss, y, ps in zip(self.losses, y_flat, pred_shapes):
            if loss is not None:
                sample = y if isinstance(y, np.ndarray) else None
                ps = (np.shape(y)[0],) + tuple(ps[1:])  # predictions for every sample of y
                losses_module.check_labels(loss, np.shape(y), ps, sample)

    # ------------------------------------------------------------------ the pure steps
    def _losses_and_total(self, y_flat, p_flat, weight, count):
        per_output, total = [], 0.0
        for loss, w, y, p in zip(self.losses, self.loss_weights, y_flat, p_flat):
            if loss is None:
                continue
            value = losses_module.reduce(loss.per_sample(y, p), weight, count)
            per_output.append(value)
            total = total + w * value
        return total, per_output

    def _metrics_init(self):
        n_losses = len(self.loss_names)
        zero = (jnp.zeros((), jnp.float32), jnp.zeros((), jnp.float32))
        return {"losses": [zero] * n_losses, "metrics": [m.init() for _, _, m, _ in self.metrics]}

    def _metrics_update(self, mstate, total, per_output, y_flat, p_flat, weight, mask, count):
        count_f = jnp.asarray(count, jnp.float32)
        values = [total] + (per_output if len(self.loss_names) > 1 else [])
        losses = [(t + v * count_f, c + count_f) for (t, c), v in zip(mstate["losses"], values)]
        metrics = [m.update(s, y_flat[i], p_flat[i], weight if weighted else mask)
                   for (i, _, m, weighted), s in zip(self.metrics, mstate["metrics"])]
        return {"losses": losses, "metrics": metrics}

    def _metrics_result(self, mstate) -> Dict[str, jax.Array]:
        logs = {name: t / jnp.maximum(c, 1.0) for name, (t, c) in zip(self.loss_names, mstate["losses"])}
        for (_, name, m, _), s in zip(self.metrics, mstate["metrics"]):
            logs[name] = m.result(s)
        return logs

    def _make_train_step(self, tx):
        model = self.model

        def train_step(ts, batch):
            x, y, weight, mask, count = batch
            y_flat = _flatten_targets(model, y)
            rng, step_rng = jax.random.split(ts["rng"])

            def loss_fn(params):
                y_pred, new_state = model.apply(params, ts["state"], x, training=True, rng=step_rng)
                p_flat = model._flatten_outputs(y_pred)
                total, per_output = self._losses_and_total(y_flat, p_flat, weight, count)
                return total, (p_flat, new_state, per_output)

            (total, (p_flat, new_state, per_output)), grads = jax.value_and_grad(
                loss_fn, has_aux=True)(ts["params"])
            updates, opt_state = tx.update(grads, ts["opt_state"], ts["params"])
            params = optax.apply_updates(ts["params"], updates)
            mstate = self._metrics_update(ts["metrics"], total, per_output, y_flat, p_flat,
                                          weight, mask, count)
            new_ts = {"params": params, "state": new_state, "opt_state": opt_state, "rng": rng,
                      "metrics": mstate}
            return new_ts, self._metrics_result(mstate)

        return train_step

    def _make_test_step(self):
        model = self.model

        def test_step(mstate, params, state, batch):
            x, y, weight, mask, count = batch
            y_flat = _flatten_targets(model, y)
            y_pred, _ = model.apply(params, state, x, training=False)
            p_flat = model._flatten_outputs(y_pred)
            total, per_output = self._losses_and_total(y_flat, p_flat, weight, count)
            mstate = self._metrics_update(mstate, total, per_output, y_flat, p_flat, weight, mask,
                                          count)
            return mstate, self._metrics_result(mstate)

        return test_step

    # ------------------------------------------------------------------ optimizer over trainable weights
    def _step_for_trainable(self):
        """The optimizer and jitted train step for the current `trainable` flags.

        Frozen weights get zero updates (`optax.multi_transform` with `set_to_zero`); one step is
        compiled per distinct freezing pattern and reused.
        """
        from ..models._model import trainable_mask

        mask = trainable_mask(self.model, self.model.params)
        if all(jax.tree.leaves(mask)):
            return self.optimizer, self._train_step
        key = (jax.tree.structure(mask), tuple(jax.tree.leaves(mask)))
        if key not in self._masked_steps:
            labels = jax.tree.map(lambda m: "train" if m else "frozen", mask)
            tx = optax.multi_transform({"train": self.optimizer, "frozen": optax.set_to_zero()}, labels)
            self._masked_steps[key] = (tx, jax.jit(self._make_train_step(tx), donate_argnums=_donate()))
        return self._masked_steps[key]

    # ------------------------------------------------------------------ host side
    def _prepare(self, batches):
        """Builds the model and the steps from the first batch; returns the predictions' shapes."""
        first = next(iter(batches.epoch(None)))
        x, y = first[0], first[1]
        model = self.model
        x_spec = as_spec(x)
        model._ensure_built(x_spec)
        model._check_input_data(as_spec(batches.x) if hasattr(batches, "x") else x_spec)
        if y is None:
            raise ValueError("Training and evaluation need targets: pass `y` (or (x, y) batches).")
        pred_shapes = self._pred_shapes(x_spec)
        self._build(_flatten_targets(model, y), pred_shapes)
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

    def _check_all_labels(self, y, pred_shapes):
        if y is None:
            return
        self._check_labels(_flatten_targets(self.model, y), pred_shapes)

    def fit(self, x, y, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_batch_size=None,
            validation_freq=1):
        from ..utils import next_rng_key

        model = self.model
        if validation_split and validation_data is None:
            if not isinstance(x, (np.ndarray, jax.Array, list, dict)) or y is None:
                raise ValueError("`validation_split` is only supported for array inputs; pass "
                                 "`validation_data` instead.")
            (x, y, sample_weight), validation_data = split_validation(
                to_numpy_tree(x), to_numpy_tree(y), sample_weight, validation_split)
        if class_weight is not None:
            sample_weight = _class_weights(model, y, class_weight, sample_weight)
        batches = make_batches(x, y, sample_weight, batch_size, shuffle,
                               pad=not _uses_batch_statistics(model))
        pred_shapes = self._prepare(batches)
        if getattr(batches, "y", None) is not None:
            self._check_all_labels(batches.y, pred_shapes)
        val_batches = None
        if validation_data is not None:
            vx, vy, vsw = _unpack_validation(validation_data)
            val_batches = make_batches(vx, vy, vsw, validation_batch_size or batch_size, False)

        tx, step_fn = self._step_for_trainable()
        params = jax.tree.map(jnp.array, model.params)  # private copies: their buffers get donated
        state = jax.tree.map(jnp.array, model.state)
        if self.opt_state is None or jax.tree.structure(self.opt_state) != jax.tree.structure(
                jax.eval_shape(tx.init, params)):
            self.opt_state = tx.init(params)
        ts = {"params": params, "state": state, "opt_state": jax.tree.map(jnp.array, self.opt_state),
              "rng": next_rng_key(), "metrics": self._metrics_init()}

        verbose = 1 if verbose == "auto" else verbose
        history = callbacks_module.History()
        cbs = callbacks_module.CallbackList(
            list(callbacks or []) + [history], add_progbar=verbose != 0, model=model,
            verbose=verbose, epochs=epochs,
            steps=batches.steps if steps_per_epoch is None or batches.steps is None
            else min(steps_per_epoch, batches.steps))
        model.stop_training = False
        np_rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
        cbs.on_train_begin()
        epoch_logs = {}
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            ts["metrics"] = self._metrics_init()
            logs = {}
            for step, batch in enumerate(batches.epoch(np_rng)):
                if steps_per_epoch is not None and step >= steps_per_epoch:
                    break
                cbs.on_train_batch_begin(step)
                ts, logs = step_fn(ts, _device_batch(batch))
                model._params, model._state = ts["params"], ts["state"]
                cbs.on_train_batch_end(step, logs)
                if model.stop_training:
                    break
            epoch_logs = {k: float(v) for k, v in logs.items()}
            self.opt_state = ts["opt_state"]
            if val_batches is not None and (epoch + 1) % validation_freq == 0:
                val_logs = self._evaluate_batches(val_batches, ts["params"], ts["state"])
                epoch_logs.update({f"val_{k}": v for k, v in val_logs.items()})
            cbs.on_epoch_end(epoch, epoch_logs)
            if model.stop_training:
                break
        model._params, model._state = ts["params"], ts["state"]
        self.opt_state = ts["opt_state"]
        cbs.on_train_end(epoch_logs)
        model.history = history
        return history

    def _evaluate_batches(self, batches, params, state, cbs=None) -> Dict[str, float]:
        mstate = self._metrics_init()
        logs = {}
        for step, batch in enumerate(batches.epoch(None)):
            if cbs:
                cbs.on_test_batch_begin(step)
            mstate, logs = self._test_step(mstate, params, state, _device_batch(batch))
            if cbs:
                cbs.on_test_batch_end(step, logs)
        return {k: float(v) for k, v in logs.items()}

    def evaluate(self, x, y, batch_size=None, verbose="auto", sample_weight=None, callbacks=None,
                 return_dict=False, steps=None):
        batches = make_batches(x, y, sample_weight, batch_size, False)
        pred_shapes = self._prepare(batches)
        if getattr(batches, "y", None) is not None:
            self._check_all_labels(batches.y, pred_shapes)
        verbose = 1 if verbose == "auto" else verbose
        cbs = callbacks_module.CallbackList(list(callbacks or []), add_progbar=verbose != 0,
                                            model=self.model, verbose=verbose, epochs=1,
                                            steps=batches.steps)
        cbs.on_test_begin()
        logs = self._evaluate_batches(batches, self.model.params, self.model.state, cbs)
        cbs.on_test_end(logs)
        if return_dict:
            return logs
        values = [logs[k] for k in self.loss_names + [n for _, n, _, _ in self.metrics]]
        return values[0] if len(values) == 1 else values


def _uses_batch_statistics(layer) -> bool:
    """Whether any layer normalizes with statistics of the batch when training (BatchNorm)."""
    from ..models._model import Model
    if isinstance(layer, Model):
        return any(_uses_batch_statistics(l) for l in layer.layers)
    return bool(getattr(layer, "uses_batch_statistics", False)) and layer.trainable


def _donate():
    # Buffer donation reuses the train state's memory on accelerators; the CPU backend does not
    # implement it (and would warn on every call).
    return (0,) if jax.default_backend() != "cpu" else ()


def _device_batch(batch):
    x, y, weight, mask, count = batch
    return (x, y, weight, mask, np.float32(count))


def _unpack_validation(data):
    """Keras's `validation_data`: (x, y), (x, y, sample_weight), or an iterable of batches."""
    if isinstance(data, (tuple, list)) and len(data) in (2, 3) and not is_iterable_dataset(data):
        return data[0], data[1], (data[2] if len(data) == 3 else None)
    return data, None, None


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


def predict(model, x, batch_size=None, verbose="auto", callbacks=None, steps=None):
    """Runs the model on `x` in batches; NumPy outputs in the model's output structure."""
    from ._data import ArrayBatches, IterableBatches

    if is_iterable_dataset(x):
        batches = IterableBatches([(b[0],) if isinstance(b, (tuple, list)) else (b,) for b in x])
    else:
        batches = ArrayBatches(to_numpy_tree(x), None, None, batch_size or 32, False)
    first = next(iter(batches.epoch(None)))
    x_spec = as_spec(first[0])
    model._ensure_built(x_spec)
    model._check_input_data(x_spec)
    fn = _predict_fn(model)
    verbose = 1 if verbose == "auto" else verbose
    cbs = callbacks_module.CallbackList(list(callbacks or []), add_progbar=verbose != 0,
                                        model=model, verbose=verbose, epochs=1, steps=batches.steps)
    cbs.on_predict_begin()
    outs = []
    for step, (xb, _, _, _, count) in enumerate(batches.epoch(None)):
        cbs.on_predict_batch_begin(step)
        y = fn(model.params, model.state, xb)
        outs.append((y, count))
        cbs.on_predict_batch_end(step, {"outputs": y})
    flat = [np.concatenate([np.asarray(model._flatten_outputs(y)[i])[:c] for y, c in outs])
            for i in range(len(model.output_names))]
    cbs.on_predict_end()
    return model._unflatten_outputs(flat)


def _predict_fn(model):
    fn = getattr(model, "_predict_jit", None)
    if fn is None:
        fn = jax.jit(lambda p, s, x: model.apply(p, s, x, training=False)[0])
        model._predict_jit = fn
    return fn
