"""User-written steps inside `fit`'s compiled executions: `train_step` / `test_step` /
`predict_step` in Keras 3's JAX form, and kerasx's pytree form `pytree_train_step`.

Keras 3's JAX backend hands a custom step flat lists of values:

    logs, state = model.train_step(state, data)
    state = (trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables)

    logs, state = model.test_step(state, data)
    state = (trainable_variables, non_trainable_variables, metrics_variables)

kerasx keeps its train state as pytrees (`params`, `state`, `opt_state`, the metric states), so
here the trees are flattened into those lists before the user's step and rebuilt from its
result, inside the same jitted, looped execution as the built-in step: `steps_per_execution`,
callbacks and the progress bar work unchanged. The optimizer state of a model with a custom
train step is the optimizer's state over the list of trainable values, so that
`model.optimizer.stateless_apply(optimizer_variables, grads, trainable_variables)` and the
state `fit` keeps are one thing.

kerasx's pytree form hands the step the train state as pytrees instead:

    logs, train_state = model.pytree_train_step(train_state, data)
    train_state = {"params", "state", "opt_state", "metrics", "rng"}

where `opt_state` is the compiled optimizer's optax state over `params` (updated with
`model.optimizer.update(grads, opt_state, params)`, frozen weights masked), `metrics` the
values of `model.metrics`' variables and `rng` the step's key.

Batches are exactly Keras's: the last batch of an epoch that does not fill `batch_size` runs
at its real size (a second compiled program, as in Keras), never padded.
"""

from typing import Any, Dict, List, Optional

import jax
import jax.numpy as jnp
import optax

from .._variables import StepContext
from ..layers import _tree
from ..models._model import Model
from . import metrics as metrics_module
from ._data import flatten_targets as _flatten_targets
from ._data import gather_batch as _gather


def overrides(model, name: str) -> bool:
    """Whether the model's class defines its own `train_step` / `test_step` / `predict_step`."""
    method = getattr(type(model), name, None)
    return method is not None and method is not getattr(Model, name, None)


def flatten_logs(logs) -> Dict[str, Any]:
    """Keras flattens nested dicts of logs (`{"compile_metrics": {"mae": ...}}` -> `mae`)."""
    out = {}
    for key, value in (logs or {}).items():
        if isinstance(value, dict):
            out.update(flatten_logs(value))
        else:
            out[key] = value
    return out


def metric_values(model) -> List[Any]:
    """The initial values of every variable of `model.metrics`, flat, in order."""
    return [v for m in model.metrics for v in m.stateless_reset_state()]


def _batch_data(batch, data, order, i, rows: Optional[int]):
    """`data` as Keras hands it to a step: `(x, y)` or `(x, y, sample_weight)`, with the
    padding rows of a partial batch cut off (`rows` is its static real size)."""
    x, y, _, _, _ = batch
    sw = None if data["sw"] is None else data["sw"][order[i]]
    if rows is not None:
        cut = lambda t: jax.tree.map(lambda a: a[:rows], t)
        x, y, sw = cut(x), cut(y), cut(sw)
    if sw is not None:
        return (x, y, sw)
    return (x,) if y is None else (x, y)


def make_train_exec(trainer, rows: Optional[int]):
    """The execution `train_exec(ts, data, order, valid, lo, hi, base) -> (ts, logs)` around
    the model's own `train_step`; `rows` is the real size of a partial last batch, if any."""
    model = trainer.model

    def one_step(ts, data, order, valid, i, step_number, rows_now):
        if trainer.pytree_steps:
            return pytree_step(ts, data, order, valid, i, step_number, rows_now)
        batch = _gather(data, order, valid, i)
        tv, ntv = model._lists_from_trees(ts["params"], ts["state"])
        opt_vars = jax.tree.leaves(ts["opt_state"])
        state = (tv, ntv, opt_vars, list(ts["metrics"]))
        with StepContext(jax.random.fold_in(ts["rng"], step_number)):
            logs, new = model.train_step(state, _batch_data(batch, data, order, i, rows_now))
        new_tv, new_ntv, opt_vars, mvars = _check_state(model, new, 4, "train_step")
        _check_frozen_kept(model, ntv, new_ntv)
        params, state = model._trees_from_lists(new_tv, new_ntv)
        opt_state = jax.tree.unflatten(jax.tree.structure(ts["opt_state"]), list(opt_vars))
        new_ts = {**ts, "params": params, "state": state, "opt_state": opt_state,
                  "metrics": list(mvars)}
        return new_ts, flatten_logs(logs)

    def pytree_step(ts, data, order, valid, i, step_number, rows_now):
        batch = _gather(data, order, valid, i)
        rng = jax.random.fold_in(ts["rng"], step_number)
        train_state = {"params": ts["params"], "state": ts["state"],
                       "opt_state": ts["opt_state"], "metrics": list(ts["metrics"]), "rng": rng}
        with StepContext(rng):
            logs, new = model.pytree_train_step(train_state,
                                                _batch_data(batch, data, order, i, rows_now))
        if not isinstance(new, dict) or not {"params", "state", "opt_state", "metrics"} <= set(new):
            raise ValueError(
                f"`pytree_train_step` of model '{model.name}' must return `(logs, train_state)` "
                "with the keys of the train state it received (params, state, opt_state, "
                f"metrics). Received: {type(new).__name__}"
                + (f" with keys {sorted(new)}" if isinstance(new, dict) else ""))
        for key in ("params", "state", "opt_state"):
            if jax.tree.structure(new[key]) != jax.tree.structure(ts[key]):
                raise ValueError(
                    f"`pytree_train_step` of model '{model.name}' returned `{key}` with another "
                    "structure than it received; return the same pytree with new values.")
        new_ts = {**ts, "params": new["params"], "state": new["state"],
                  "opt_state": new["opt_state"], "metrics": list(new["metrics"])}
        return new_ts, flatten_logs(logs)

    def step(ts, data, order, valid, i, step_number):
        if rows is None:
            return one_step(ts, data, order, valid, i, step_number, None)
        full = jnp.sum(valid[i]) == order.shape[1]
        return jax.lax.cond(full,
                            lambda t: one_step(t, data, order, valid, i, step_number, None),
                            lambda t: one_step(t, data, order, valid, i, step_number, rows), ts)

    def train_exec(ts, data, order, valid, lo, hi, base):
        shapes = jax.eval_shape(lambda t: step(t, data, order, valid, lo, base + lo)[1], ts)
        logs = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        ts, logs = jax.lax.fori_loop(
            lo, hi, lambda i, c: step(c[0], data, order, valid, i, base + i), (ts, logs))
        return ts, logs

    return train_exec


def make_test_exec(trainer, rows: Optional[int]):
    """`test_exec(mstate, params, state, data, order, valid, lo, hi) -> (mstate, logs)` around
    the model's own `test_step`."""
    model = trainer.model

    def one_step(mvars, params, state, data, order, valid, i, rows_now):
        batch = _gather(data, order, valid, i)
        tv, ntv = model._lists_from_trees(params, state)
        with StepContext(None):
            logs, new = model.test_step((tv, ntv, list(mvars)),
                                        _batch_data(batch, data, order, i, rows_now))
        return list(_check_state(model, new, 3, "test_step")[2]), flatten_logs(logs)

    def step(mvars, params, state, data, order, valid, i):
        if rows is None:
            return one_step(mvars, params, state, data, order, valid, i, None)
        full = jnp.sum(valid[i]) == order.shape[1]
        return jax.lax.cond(
            full, lambda m: one_step(m, params, state, data, order, valid, i, None),
            lambda m: one_step(m, params, state, data, order, valid, i, rows), mvars)

    def test_exec(mvars, params, state, data, order, valid, lo, hi):
        shapes = jax.eval_shape(lambda m: step(m, params, state, data, order, valid, lo)[1],
                                mvars)
        logs = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        mvars, logs = jax.lax.fori_loop(
            lo, hi, lambda i, c: step(c[0], params, state, data, order, valid, i),
            (list(mvars), logs))
        return mvars, logs

    return test_exec


def run_predict_step(model, params, state, x):
    """The outputs of the model's own `predict_step((trainable, non_trainable), (x,))`, which
    returns `(outputs, non_trainable_variables)` as in Keras 3's JAX backend."""
    tv, ntv = model._lists_from_trees(params, state)
    with StepContext(None):
        result = model.predict_step((tv, ntv), (x,))
    if not isinstance(result, tuple) or len(result) != 2:
        raise ValueError(
            f"`predict_step` of model '{model.name}' must return `(outputs, "
            "non_trainable_variables)` (Keras 3's JAX form). Received: "
            f"{type(result).__name__}")
    return result[0]


def _check_frozen_kept(model, before, after):
    """A custom train_step must hand the frozen weights back as it received them (they are
    the `params` entries among the non-trainable variables); an update of one is an error
    naming the weight (checked while tracing: the very same value must come back)."""
    _, paths = model._variable_paths()
    if len(after) != len(paths):
        raise ValueError(
            f"`train_step` of model '{model.name}' returned {len(after)} non-trainable "
            f"variables; the model has {len(paths)}.")
    for (collection, path), old, new in zip(paths, before, after):
        if collection == "params" and new is not old:
            raise ValueError(
                f"`train_step` of model '{model.name}' changed the weight '{'/'.join(path)}', "
                "which is frozen (its layer has `trainable = False`): it is among the "
                "non-trainable variables and must be returned unchanged. Set `trainable = True` "
                "on its layer (and `compile()` again) to train it.")


def _check_state(model, new, size, where):
    if not isinstance(new, (list, tuple)) or len(new) != size:
        raise ValueError(
            f"`{where}` of model '{model.name}' must return `(logs, state)` where state is a "
            f"tuple of {size} lists ({'trainable, non-trainable, optimizer and metrics' if size == 4 else 'trainable, non-trainable and metrics'} variables), "
            f"as it received it. Received state: {type(new).__name__}"
            + (f" of length {len(new)}" if isinstance(new, (list, tuple)) else ""))
    return new


def stateless_apply(trainer, optimizer_variables, grads, trainable_variables):
    """`model.optimizer.stateless_apply`: one optimizer update of the trainable values (flat
    lists in `model.trainable_variables` order); returns `(trainable_variables,
    optimizer_variables)`. Constraints of the weights are applied after the update."""
    model = trainer.model
    tx = trainer.optimizer
    tvars = [v.value if hasattr(v, "_owner") else v for v in trainable_variables]
    grads = list(grads)
    if len(grads) != len(tvars):
        raise ValueError(
            f"`optimizer.stateless_apply` received {len(grads)} gradients for "
            f"{len(tvars)} trainable variables; pass one gradient per trainable variable.")
    treedef = jax.tree.structure(jax.eval_shape(tx.init, tvars))
    if treedef.num_leaves != len(optimizer_variables):
        raise ValueError(
            f"`optimizer.stateless_apply` expects the {treedef.num_leaves} optimizer variables "
            f"of this model's optimizer; received {len(optimizer_variables)}.")
    opt_state = jax.tree.unflatten(treedef, list(optimizer_variables))
    updates, opt_state = tx.update(grads, opt_state, tvars)
    new = optax.apply_updates(tvars, updates)
    paths, _ = model._variable_paths()
    owners = {path: sub for path, sub, _ in _tree.walk(model)}
    for k, (_, path) in enumerate(paths):
        constraint = owners[path[:-1]]._constraints.get(path[-1])
        if constraint is not None:
            new[k] = constraint(new[k])
    return list(new), jax.tree.leaves(opt_state)


class LossTracker(metrics_module.Mean):
    """The compiled loss's running mean (Keras's `model.metrics[0]`, named "loss")."""

    def __init__(self):
        super().__init__(name="loss")


class CompileMetrics(metrics_module.Metric):
    """The metrics given to `compile`, as one metric (Keras's "compile_metrics"): `update(state,
    y, y_pred, sample_weight=None)` updates each; `result` is a dict of their values."""

    def __init__(self, trainer):
        super().__init__(name="compile_metrics")
        self._trainer = trainer

    def _entries(self):
        if not getattr(self._trainer, "metrics", None) and self._trainer._built_for is None:
            raise RuntimeError(
                "The compiled metrics are resolved from the data's shapes: call `fit`, "
                "`evaluate` or `train_on_batch` once before using them.")
        return self._trainer.metrics

    def init(self):
        return tuple(m.init() for _, _, m, _ in self._entries())

    def update(self, state, y_true, y_pred, sample_weight=None):
        model = self._trainer.model
        y_flat, p_flat = _flatten_targets(model, y_true), model._flatten_outputs(y_pred)
        out = []
        for (i, _, m, weighted), s in zip(self._entries(), state):
            sw = sample_weight if weighted else None
            out.append(m.update(s, y_flat[i], p_flat[i], sw) if not m._keras_style()
                       else m.update(s, y_flat[i], p_flat[i], *(() if sw is None else (sw,))))
        return tuple(out)

    def result(self, state=None):
        if state is None:
            state = self._held_state()
        return {name: metrics_module.metric_result(m, s)
                for (_, name, m, _), s in zip(self._entries(), state)}
