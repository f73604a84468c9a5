"""Streaming metrics as pure `(init, update, result)` triples, with Keras 3 numerics.

A metric object holds only its options (name, threshold, k). Its running state
is a small pytree of device scalars, threaded explicitly so the whole update can
live inside a jitted train step:

>>> metric = CategoricalAccuracy()
>>> state = metric.init()
>>> state = metric.update(state, y_true, y_pred, sample_weight)   # jit-safe
>>> metric.result(state)                                          # scalar

Every built-in metric is a `MeanMetricWrapper` around a per-sample function
(`binary_accuracy`, `categorical_accuracy`, ...), so its state is
`MeanState(total, count)` and `result = total / count` (0 when count is 0).
"""

import re
from typing import NamedTuple

import jax
import jax.numpy as jnp

from kerasx import initializers
from kerasx._variables import CallScope, Variable
from kerasx.training import losses as losses_lib
from kerasx.training.losses import squeeze_or_expand_to_same_rank

__all__ = [
    "MeanState",
    "Metric",
    "metric_result",
    "Mean",
    "MeanMetricWrapper",
    "Accuracy",
    "BinaryAccuracy",
    "CategoricalAccuracy",
    "SparseCategoricalAccuracy",
    "TopKCategoricalAccuracy",
    "SparseTopKCategoricalAccuracy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "BinaryCrossentropy",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "mean_squared_error",
    "mean_absolute_error",
    "SumState",
    "Sum",
    "RootMeanSquaredError",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "CosineSimilarity",
    "LogCoshError",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "KLDivergence",
    "Poisson",
    "binary_crossentropy",
    "binary_focal_crossentropy",
    "categorical_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_hinge",
    "hinge",
    "huber",
    "kl_divergence",
    "log_cosh",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "poisson",
    "sparse_categorical_crossentropy",
    "squared_hinge",
    "is_binary_or_sparse_categorical",
    "serialize",
    "deserialize",
    "get",
]

_FLOATX = jnp.float32


# ---------------------------------------------------------------------------
# Per-sample functions
# ---------------------------------------------------------------------------


def accuracy(y_true, y_pred):
    """Returns 1.0 where `y_true == y_pred` exactly, else 0.0."""
    y_pred = jnp.asarray(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return (y_true == y_pred).astype(_FLOATX)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """Returns 1.0 where `y_true` equals `y_pred > threshold`, else 0.0.

    As in Keras, the thresholded prediction is cast to `y_true`'s dtype, so
    labels must be exactly 0 or 1 to ever match.
    """
    y_pred = jnp.asarray(y_pred)
    y_true = jnp.asarray(y_true)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    y_pred = (y_pred > threshold).astype(y_true.dtype)
    return (y_true == y_pred).astype(_FLOATX)


def categorical_accuracy(y_true, y_pred):
    """Returns 1.0 where `argmax(y_true) == argmax(y_pred)` on the last axis, else 0.0."""
    y_pred = jnp.asarray(y_pred)
    y_true = jnp.argmax(jnp.asarray(y_true), axis=-1)
    true_shape = jnp.shape(y_true)
    if jnp.ndim(y_true) == jnp.ndim(y_pred):
        y_true = jnp.squeeze(y_true, -1)
    matches = (y_true == jnp.argmax(y_pred, axis=-1)).astype(_FLOATX)
    return jnp.reshape(matches, true_shape)


def sparse_categorical_accuracy(y_true, y_pred):
    """Returns 1.0 where the integer label equals `argmax(y_pred)`, else 0.0.

    A trailing label axis of size 1 (`(n, 1)`) is accepted. Labels are compared
    as floats, as in Keras, so a label of `1.0` matches class 1.
    """
    y_pred = jnp.asarray(y_pred)
    y_true = jnp.asarray(y_true)
    if not jnp.issubdtype(y_pred.dtype, jnp.floating):
        y_pred = y_pred.astype(_FLOATX)
    y_true = y_true.astype(y_pred.dtype)
    true_shape = jnp.shape(y_true)
    reshape = False
    if jnp.ndim(y_true) == jnp.ndim(y_pred) and true_shape[-1] == 1:
        y_true = jnp.squeeze(y_true, -1)
        reshape = True
    predicted = jnp.argmax(y_pred, axis=-1).astype(y_true.dtype)
    matches = (y_true == predicted).astype(_FLOATX)
    if reshape:
        matches = jnp.reshape(matches, true_shape)
    if jnp.ndim(matches) > 1 and jnp.shape(matches)[-1] == 1:
        matches = jnp.squeeze(matches, -1)
    return matches


def _in_top_k(targets, predictions, k):
    """Whether each target's score ranks in the top `k`; ties count in its favour (as Keras)."""
    at_label = jnp.take_along_axis(predictions, targets[..., None], axis=-1)
    at_label = jnp.where(jnp.isnan(at_label), -jnp.inf, at_label)
    rank = 1 + jnp.sum(predictions > at_label, axis=-1)
    return rank <= k


def _top_k_matches(labels, y_pred, k):
    labels_shape = jnp.shape(labels)
    if jnp.ndim(y_pred) > 2:
        y_pred = jnp.reshape(y_pred, (-1, jnp.shape(y_pred)[-1]))
    if jnp.ndim(labels) > 1:
        labels = jnp.reshape(labels, (-1,))
    return labels, y_pred, labels_shape


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """Returns 1.0 where the one-hot label's class is among the top `k` predictions."""
    y_pred = jnp.asarray(y_pred)
    labels = jnp.argmax(jnp.asarray(y_true), axis=-1)
    labels, flat_pred, shape = _top_k_matches(labels, y_pred, k)
    matches = _in_top_k(labels.astype(jnp.int32), flat_pred, k).astype(_FLOATX)
    return jnp.reshape(matches, shape)


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """Returns 1.0 where the integer label is among the top `k` predictions.

    Args:
        y_true: Integer labels.
        y_pred: Scores `(..., num_classes)`, or with `from_sorted_ids=True`
            class ids sorted by decreasing score.
        k: How many top predictions count as a hit.
        from_sorted_ids: See `y_pred`.
    """
    y_pred = jnp.asarray(y_pred)
    y_true = jnp.asarray(y_true)
    y_true = y_true.astype(y_pred.dtype if from_sorted_ids else jnp.int32)
    labels, flat_pred, shape = _top_k_matches(y_true, y_pred, k)
    if from_sorted_ids:
        matches = jnp.any(labels[:, None] == flat_pred[:, :k], axis=1)
    else:
        matches = _in_top_k(labels, flat_pred, k)
    return jnp.reshape(matches.astype(_FLOATX), shape)


mean_squared_error = losses_lib.mean_squared_error
mean_absolute_error = losses_lib.mean_absolute_error
# The loss functions Keras also exposes in `keras.metrics`.
binary_crossentropy = losses_lib.binary_crossentropy
binary_focal_crossentropy = losses_lib.binary_focal_crossentropy
categorical_crossentropy = losses_lib.categorical_crossentropy
categorical_focal_crossentropy = losses_lib.categorical_focal_crossentropy
categorical_hinge = losses_lib.categorical_hinge
hinge = losses_lib.hinge
huber = losses_lib.huber
kl_divergence = losses_lib.kl_divergence
log_cosh = losses_lib.log_cosh
mean_absolute_percentage_error = losses_lib.mean_absolute_percentage_error
mean_squared_logarithmic_error = losses_lib.mean_squared_logarithmic_error
poisson = losses_lib.poisson
sparse_categorical_crossentropy = losses_lib.sparse_categorical_crossentropy
squared_hinge = losses_lib.squared_hinge


# ---------------------------------------------------------------------------
# Metric classes
# ---------------------------------------------------------------------------


class MeanState(NamedTuple):
    """Running state of a mean metric."""

    total: jax.Array  # f32[], sum of (weighted) per-sample values
    count: jax.Array  # f32[], sum of sample weights (or number of samples)


class Metric:
    """Base class of metrics, with two faces over one state.

    - Keras's stateful API: create state in `__init__` with `self.add_variable(...)`, then
      `update_state(y_true, y_pred, sample_weight=None)`, `result()`, `reset_state()`,
      `variables`, and the stateless forms `stateless_update_state(variables, ...)`,
      `stateless_result(variables)`, `stateless_reset_state()` (flat lists, in `variables`
      order, as Keras 3's JAX backend defines them).
    - The pure API that `fit` compiles: `init() -> state`, `update(state, ...) -> state`,
      `result(state) -> value` (jit-safe).

    A subclass writes one face and gets the other: a Keras-style subclass (`update_state` and
    `result()` over `add_variable`s) is compiled into the pure triple by binding its variables
    to the state pytree; kerasx's built-in metrics write the pure triple and get Keras's
    stateful API on a state they hold.

    Args:
        name: The name the metric is logged under.
        dtype: The dtype of its variables (default float32).

    Example:
        class BinaryTruePositives(kerasx.metrics.Metric):
            def __init__(self, name="binary_true_positives", **kwargs):
                super().__init__(name=name, **kwargs)
                self.true_positives = self.add_variable(shape=(), initializer="zeros",
                                                        name="true_positives")
            def update_state(self, y_true, y_pred, sample_weight=None):
                hits = jnp.logical_and(y_true.astype(bool), y_pred >= 0.5)
                self.true_positives.assign(self.true_positives + jnp.sum(hits))
            def result(self):
                return self.true_positives.value
    """

    trainable = False

    def __init__(self, name=None, dtype=None):
        self.name = name or losses_lib._snake_case(type(self).__name__)
        self.dtype = jnp.dtype(dtype or _FLOATX)
        self._specs = []                       # (name, shape, dtype, initializer) per variable
        self._handles = {}                     # name -> Variable
        self._own = {"params": {}, "state": {}}  # the values the stateful face holds

    # ------------------------------------------------------------------ which face
    def _keras_style(self) -> bool:
        return type(self).update_state is not Metric.update_state

    # ------------------------------------------------------------------ the pure face
    def init(self):
        """Returns the initial (empty) state."""
        if not self._keras_style():
            raise NotImplementedError(
                f"{type(self).__name__} implements neither `update_state`/`result` (Keras's API) "
                "nor `init`/`update`/`result(state)` (kerasx's pure API).")
        return tuple(_initial(shape, dtype, init) for _, shape, dtype, init in self._specs)

    def update(self, state, *args, **kwargs):
        """Returns the state after accumulating one batch (jit-safe)."""
        if not self._keras_style():
            raise NotImplementedError(f"{type(self).__name__} does not implement `update`.")
        scope = CallScope(self, "apply", {}, self._as_dict(state))
        with scope:
            self.update_state(*args, **kwargs)
        return tuple(scope.new_state[name] for name, *_ in self._specs)

    def result(self, state=None):
        """The metric's value: of `state` (pure, jit-safe), or of the state the metric holds
        (after `update_state` calls) when called without it."""
        if self._keras_style():
            raise NotImplementedError(f"{type(self).__name__} does not implement `result`.")
        return self.result(self._held_state())

    # ------------------------------------------------------------------ the stateful face
    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum",
                     name=None):
        """Creates a state variable (in `__init__`) and returns it."""
        name = name or f"variable_{len(self._specs)}"
        if any(n == name for n, *_ in self._specs):
            raise ValueError(f"Metric '{self.name}' already has a variable named '{name}'.")
        shape = tuple(shape or ())
        dtype = jnp.dtype(dtype or self.dtype)
        init = initializers.get(initializer)
        self._specs.append((name, shape, dtype, init))
        self._own["state"][name] = _initial(shape, dtype, init)
        return self._handle(name)

    add_weight = add_variable

    def _handle(self, name):
        if name not in self._handles:
            self._handles[name] = Variable(self, name, "state")
        return self._handles[name]

    @property
    def variables(self):
        """The metric's state variables, in creation order."""
        if not self._keras_style():
            self._held_state()
        return [self._handle(name) for name in self._variable_names()]

    def update_state(self, *args, **kwargs):
        """Accumulates one batch into the state the metric holds."""
        self._hold(self.update(self._held_state(), *args, **kwargs))

    def reset_state(self):
        """Empties the state the metric holds."""
        self._hold(self.init())

    def __call__(self, *args, **kwargs):
        """Keras's `metric(y_true, y_pred)`: updates, then returns the result."""
        self.update_state(*args, **kwargs)
        return self.result()

    # ------------------------------------------------------------------ stateless (Keras 3 JAX)
    def stateless_update_state(self, metric_variables, *args, **kwargs):
        """`update` on a flat list of values in `variables` order; returns the new list."""
        return self._flat(self.update(self._unflat(metric_variables), *args, **kwargs))

    def stateless_result(self, metric_variables):
        """`result` of a flat list of values in `variables` order."""
        return metric_result(self, self._unflat(metric_variables))

    def stateless_reset_state(self):
        """The initial values, as a flat list in `variables` order."""
        return self._flat(self.init())

    # ------------------------------------------------------------------ plumbing
    def _variable_names(self):
        if self._keras_style():
            return [name for name, *_ in self._specs]
        paths = [p for p, _ in jax.tree_util.tree_leaves_with_path(self.init())]
        names = [_path_name(p) or f"variable_{i}" for i, p in enumerate(paths)]
        if len(set(names)) < len(names):  # nested states: name leaves by their whole path
            names = [jax.tree_util.keystr(p) for p in paths]
        return names

    def _flat(self, state):
        return list(jax.tree.leaves(state))

    def _unflat(self, values):
        values = [v.value if isinstance(v, Variable) else v for v in values]
        treedef = jax.tree.structure(self.init())
        if treedef.num_leaves != len(values):
            raise ValueError(
                f"Metric '{self.name}' has {treedef.num_leaves} variables "
                f"({self._variable_names()}); received {len(values)} values.")
        return jax.tree.unflatten(treedef, values)

    def _as_dict(self, state):
        return {name: value for (name, *_), value in zip(self._specs, state)}

    def _held_state(self):
        names = self._variable_names()
        if not all(n in self._own["state"] for n in names):
            self._hold(self.init())
        return self._unflat([self._own["state"][n] for n in names])

    def _hold(self, state):
        self._own["state"] = dict(zip(self._variable_names(), self._flat(state)))

    def get_config(self):
        """Returns the constructor arguments as a dict."""
        return {"name": self.name}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def metric_result(metric, state):
    """The value of `metric` for the pure `state`, whichever face the metric was written in."""
    if metric._keras_style():
        scope = CallScope(metric, "apply", {}, metric._as_dict(state))
        with scope:  # `result()` may return a variable itself (`return self.true_positives`)
            return jax.tree.map(lambda v: v.value if isinstance(v, Variable) else v,
                                metric.result(), is_leaf=lambda v: isinstance(v, Variable))
    return metric.result(state)


def _initial(shape, dtype, initializer):
    return jnp.asarray(initializer(jax.random.key(0), shape, dtype), dtype)


def _path_name(path):
    last = path[-1] if path else None
    for attr in ("name", "key", "idx"):
        if hasattr(last, attr):
            return str(getattr(last, attr))
    return None


def _samplewise(values, sample_weight, dtype=_FLOATX, reduce_fn=jnp.mean):
    """Reduces values to one per sample and weights them, as Keras's `reduce_to_samplewise_values`."""
    values = jnp.asarray(values).astype(dtype)
    if sample_weight is not None:
        sample_weight = jnp.asarray(sample_weight).astype(dtype)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim, values_ndim = jnp.ndim(sample_weight), jnp.ndim(values)
        if values_ndim > weight_ndim:
            values = reduce_fn(values, axis=tuple(range(weight_ndim, values_ndim)))
        sample_weight = jnp.broadcast_to(sample_weight, jnp.shape(values))
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = reduce_fn(sample_weight, axis=tuple(range(1, weight_ndim)))
    if jnp.ndim(values) > 1:
        values = reduce_fn(values, axis=tuple(range(1, jnp.ndim(values))))
    return values, sample_weight


class Mean(Metric):
    """The (weighted) mean of the values seen so far.

    `update(state, values, sample_weight=None)`: each sample contributes the mean
    of its values; with weights, `total += sum(v * w)` and `count += sum(w)`.

    Args:
        name: Defaults to `"mean"`.
        dtype: The dtype of the state and the result (default float32).
    """

    def __init__(self, name="mean", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def init(self):
        return MeanState(total=jnp.zeros((), self.dtype), count=jnp.zeros((), self.dtype))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name}

    def update(self, state, values, sample_weight=None):
        """Accumulates `values` (any shape, leading axis = samples)."""
        return self._accumulate(state, values, sample_weight)

    def _accumulate(self, state, values, sample_weight):
        values, sample_weight = _samplewise(values, sample_weight, self.dtype)
        if sample_weight is not None:
            count = jnp.sum(sample_weight)
        elif jnp.ndim(values) >= 1:
            count = jnp.shape(values)[0]
        else:
            count = 1
        return MeanState(
            total=state.total + jnp.sum(values), count=state.count + jnp.asarray(count, self.dtype)
        )

    def result(self, state=None):
        if state is None:
            return self.result(self._held_state())
        count = state.count
        safe = jnp.where(count == 0, jnp.ones_like(count), count)
        return jnp.where(count == 0, jnp.zeros_like(state.total), state.total / safe)


class MeanMetricWrapper(Mean):
    """The mean of a per-sample function `fn(y_true, y_pred, **fn_kwargs)`.

    Args:
        fn: Function returning one value per sample (or per element).
        name: Defaults to `fn.__name__`.
        dtype: The dtype of the state and the result (default float32).
        **fn_kwargs: Keyword arguments passed to `fn`.
    """

    def __init__(self, fn, name=None, dtype=None, **fn_kwargs):
        if not callable(fn):
            raise ValueError(f"Expected `fn` to be callable. Received: fn={fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", None) or "mean_metric_wrapper",
                         dtype=dtype)
        self.fn = fn
        self.fn_kwargs = fn_kwargs

    def update(self, state, y_true, y_pred, sample_weight=None):
        """Accumulates `fn(y_true, y_pred)` weighted by `sample_weight`."""
        return self._accumulate(state, self.fn(y_true, y_pred, **self.fn_kwargs), sample_weight)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name, **self.fn_kwargs}


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly."""

    def __init__(self, name="accuracy", dtype=None):
        super().__init__(accuracy, name=name, dtype=dtype)


class BinaryAccuracy(MeanMetricWrapper):
    """How often `y_pred > threshold` equals the 0/1 label.

    Args:
        name: Defaults to `"binary_accuracy"`.
        dtype: The dtype of the state and the result (default float32).
        threshold: Probability (or logit) above which a prediction is 1.
    """

    def __init__(self, name="binary_accuracy", dtype=None, threshold=0.5):
        super().__init__(binary_accuracy, name=name, dtype=dtype, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often `argmax(y_pred)` equals `argmax` of the one-hot label."""

    def __init__(self, name="categorical_accuracy", dtype=None):
        super().__init__(categorical_accuracy, name=name, dtype=dtype)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often `argmax(y_pred)` equals the integer label."""

    def __init__(self, name="sparse_categorical_accuracy", dtype=None):
        super().__init__(sparse_categorical_accuracy, name=name, dtype=dtype)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the top `k` predictions.

    Args:
        k: Number of top predictions that count as a hit.
        name: Defaults to `"top_k_categorical_accuracy"`.
        dtype: The dtype of the state and the result (default float32).
    """

    def __init__(self, k=5, name="top_k_categorical_accuracy", dtype=None):
        _check_k(k)
        super().__init__(top_k_categorical_accuracy, name=name, dtype=dtype, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the top `k` predictions.

    Args:
        k: Number of top predictions that count as a hit.
        name: Defaults to `"sparse_top_k_categorical_accuracy"`.
        dtype: The dtype of the state and the result (default float32).
        from_sorted_ids: Whether `y_pred` holds class ids sorted by score.
    """

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", dtype=None,
                 from_sorted_ids=False):
        _check_k(k)
        super().__init__(
            sparse_top_k_categorical_accuracy, name=name, dtype=dtype, k=k,
            from_sorted_ids=from_sorted_ids
        )
        self.k = k
        self.from_sorted_ids = from_sorted_ids

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype.name, "k": self.k}
        if self.from_sorted_ids:  # as Keras: only when set
            config["from_sorted_ids"] = True
        return config


class MeanSquaredError(MeanMetricWrapper):
    """The mean of `mean_squared_error(y_true, y_pred)` over samples."""

    def __init__(self, name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, name=name, dtype=dtype)


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean of `mean_absolute_error(y_true, y_pred)` over samples."""

    def __init__(self, name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, name=name, dtype=dtype)


class MeanAbsolutePercentageError(MeanMetricWrapper):
    """The mean of `mean_absolute_percentage_error(y_true, y_pred)` over samples."""

    def __init__(self, name="mean_absolute_percentage_error", dtype=None):
        super().__init__(mean_absolute_percentage_error, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(MeanMetricWrapper):
    """The mean of `mean_squared_logarithmic_error(y_true, y_pred)` over samples."""

    def __init__(self, name="mean_squared_logarithmic_error", dtype=None):
        super().__init__(mean_squared_logarithmic_error, name=name, dtype=dtype)


class LogCoshError(MeanMetricWrapper):
    """The mean of `log_cosh(y_true, y_pred)` over samples.

    Args:
        name: Defaults to `"logcosh"` (the Keras name).
        dtype: The dtype of the state and the result (default float32).
    """

    def __init__(self, name="logcosh", dtype=None):
        super().__init__(log_cosh, name=name, dtype=dtype)


class Hinge(MeanMetricWrapper):
    """The mean of `hinge(y_true, y_pred)` over samples."""

    def __init__(self, name="hinge", dtype=None):
        super().__init__(hinge, name=name, dtype=dtype)


class SquaredHinge(MeanMetricWrapper):
    """The mean of `squared_hinge(y_true, y_pred)` over samples."""

    def __init__(self, name="squared_hinge", dtype=None):
        super().__init__(squared_hinge, name=name, dtype=dtype)


class CategoricalHinge(MeanMetricWrapper):
    """The mean of `categorical_hinge(y_true, y_pred)` over samples."""

    def __init__(self, name="categorical_hinge", dtype=None):
        super().__init__(categorical_hinge, name=name, dtype=dtype)


class KLDivergence(MeanMetricWrapper):
    """The mean of `kl_divergence(y_true, y_pred)` over samples."""

    def __init__(self, name="kl_divergence", dtype=None):
        super().__init__(kl_divergence, name=name, dtype=dtype)


class Poisson(MeanMetricWrapper):
    """The mean of `poisson(y_true, y_pred)` over samples."""

    def __init__(self, name="poisson", dtype=None):
        super().__init__(poisson, name=name, dtype=dtype)


def _cosine_similarity(y_true, y_pred, axis=-1):
    """`sum(l2_norm(y_true) * l2_norm(y_pred), axis)`: the (positive) cosine similarity."""
    return -losses_lib.cosine_similarity(y_true, y_pred, axis=axis)


class CosineSimilarity(MeanMetricWrapper):
    """The mean cosine similarity between labels and predictions (1: same direction).

    Args:
        name: Defaults to `"cosine_similarity"`.
        dtype: The dtype of the state and the result (default float32).
        axis: The axis along which the similarity is computed.
    """

    def __init__(self, name="cosine_similarity", dtype=None, axis=-1):
        if isinstance(axis, bool) or not isinstance(axis, int):
            raise ValueError(f"CosineSimilarity: `axis` must be an int. Received: axis={axis!r}")
        super().__init__(_cosine_similarity, name=name, dtype=dtype, axis=axis)
        self.axis = axis


class RootMeanSquaredError(Mean):
    """The square root of the (weighted) mean of `square(y_pred - y_true)`.

    Args:
        name: Defaults to `"root_mean_squared_error"`.
        dtype: The dtype of the state and the result (default float32).
    """

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update(self, state, y_true, y_pred, sample_weight=None):
        """Accumulates the squared errors of one batch."""
        y_true = jnp.asarray(y_true).astype(self.dtype)
        y_pred = jnp.asarray(y_pred).astype(self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self._accumulate(state, jnp.square(y_pred - y_true), sample_weight)

    def result(self, state=None):
        if state is None:
            return self.result(self._held_state())
        return jnp.sqrt(super().result(state))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name}


class SumState(NamedTuple):
    """Running state of `Sum`."""

    total: jax.Array  # f32[], the (weighted) sum so far


class Sum(Metric):
    """The (weighted) sum of the values seen so far.

    `update(state, values, sample_weight=None)`: each sample contributes the sum of
    its values, times its weight.

    Args:
        name: Defaults to `"sum"`.
        dtype: The dtype of the state and the result (default float32).
    """

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def init(self):
        return SumState(total=jnp.zeros((), self.dtype))

    def update(self, state, values, sample_weight=None):
        """Accumulates `values` (any shape, leading axis = samples)."""
        values, _ = _samplewise(values, sample_weight, self.dtype, reduce_fn=jnp.sum)
        return SumState(total=state.total + jnp.sum(values))

    def result(self, state=None):
        if state is None:
            return self.result(self._held_state())
        return state.total

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name}


class BinaryCrossentropy(MeanMetricWrapper):
    """The mean binary crossentropy over samples (see `losses.binary_crossentropy`)."""

    def __init__(self, name="binary_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0):
        super().__init__(
            binary_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
            label_smoothing=label_smoothing
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing


class CategoricalCrossentropy(MeanMetricWrapper):
    """The mean categorical crossentropy over samples (see `losses.categorical_crossentropy`)."""

    def __init__(self, name="categorical_crossentropy", dtype=None, from_logits=False,
                 label_smoothing=0.0, axis=-1):
        super().__init__(
            categorical_crossentropy,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """The mean sparse categorical crossentropy over samples.

    Args:
        name: Defaults to `"sparse_categorical_crossentropy"`.
        dtype: The dtype of the state and the result (default float32).
        from_logits: Whether `y_pred` holds logits.
        ignore_class: Optional class id whose samples get a crossentropy of 0; see `update`.
        axis: The class axis.
    """

    def __init__(self, name="sparse_categorical_crossentropy", dtype=None, from_logits=False,
                 ignore_class=None, axis=-1):
        super().__init__(
            sparse_categorical_crossentropy, name=name, dtype=dtype, from_logits=from_logits,
            ignore_class=ignore_class, axis=axis
        )
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis

    def update(self, state, y_true, y_pred, sample_weight=None):
        """Accumulates the crossentropy of one batch.

        As in Keras, the samples of `ignore_class` are left out of the mean only when
        `sample_weight` is given (their weight becomes 0); without weights they count as 0.
        """
        values, mask = losses_lib._sparse_crossentropy_and_mask(
            y_true, y_pred, self.from_logits, self.ignore_class, self.axis)
        if mask is not None and sample_weight is not None:
            mask, sample_weight = squeeze_or_expand_to_same_rank(
                mask.astype(self.dtype), jnp.asarray(sample_weight).astype(self.dtype))
            sample_weight = sample_weight * mask
        return self._accumulate(state, values, sample_weight)


def _check_k(k):
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"Received an invalid value for `k`, expected a positive integer. Received: k={k!r}")


# ---------------------------------------------------------------------------
# Lookup
# ---------------------------------------------------------------------------


def _keras_snake_case(name):
    """A class name in snake case the way Keras's `to_snake_case` writes it
    (`"MeanIoU"` -> `"mean_io_u"`, `"KLDivergence"` -> `"kl_divergence"`)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


_CLASSES = (
    Mean,
    Accuracy,
    BinaryAccuracy,
    CategoricalAccuracy,
    SparseCategoricalAccuracy,
    TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy,
    MeanSquaredError,
    MeanAbsoluteError,
    BinaryCrossentropy,
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    Sum,
    RootMeanSquaredError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    CosineSimilarity,
    LogCoshError,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    KLDivergence,
    Poisson,
)
_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update({cls().name: cls for cls in _CLASSES})
_BY_NAME.update({_keras_snake_case(cls.__name__): cls for cls in _CLASSES})
_BY_NAME.update(
    {
        "mse": MeanSquaredError,
        "MSE": MeanSquaredError,
        "mae": MeanAbsoluteError,
        "MAE": MeanAbsoluteError,
        "bce": BinaryCrossentropy,
        "BCE": BinaryCrossentropy,
        "mape": MeanAbsolutePercentageError,
        "MAPE": MeanAbsolutePercentageError,
        "msle": MeanSquaredLogarithmicError,
        "MSLE": MeanSquaredLogarithmicError,
    }
)
# Functions of keras.metrics with no class of that name: a name gives the mean of the function.
_FUNCTIONS = {
    fn.__name__: fn
    for fn in (
        accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
        top_k_categorical_accuracy, sparse_top_k_categorical_accuracy, mean_squared_error,
        mean_absolute_error, binary_crossentropy, binary_focal_crossentropy,
        categorical_crossentropy, categorical_focal_crossentropy, categorical_hinge, hinge, huber,
        kl_divergence, log_cosh, mean_absolute_percentage_error, mean_squared_logarithmic_error,
        poisson, sparse_categorical_crossentropy, squared_hinge,
    )
}
_ACCURACY_ALIASES = ("accuracy", "acc")


def is_binary_or_sparse_categorical(y_true_shape, y_pred_shape):
    """Classifies a label/prediction shape pair the way Keras's `compile` does.

    Returns:
        `(is_binary, is_sparse_categorical)`: binary when the prediction's last
        axis is 1; sparse when the labels have lower rank, or a last axis of 1
        while the prediction's last axis is larger.
    """
    t, p = tuple(y_true_shape), tuple(y_pred_shape)
    is_binary = p[-1] == 1
    is_sparse = len(t) < len(p) or (t[-1] == 1 and p[-1] is not None and p[-1] > 1)
    return is_binary, is_sparse


def get(identifier, y_true_shape=None, y_pred_shape=None):
    """Resolves a metric identifier to a `Metric`.

    Args:
        identifier: A name (`"accuracy"`/`"acc"` pick binary, sparse or
            categorical accuracy from the shapes, exactly as Keras 3's compile;
            `"mse"`, `"categorical_accuracy"`, `"BinaryAccuracy"`, ...), a
            `Metric` instance (returned as is), or a callable `(y_true, y_pred) ->
            per-sample values` (wrapped in `MeanMetricWrapper`).
        y_true_shape: Label shape, needed for `"accuracy"`/`"acc"`.
        y_pred_shape: Model output shape, needed for `"accuracy"`/`"acc"`.

    Returns:
        A `Metric`. For a string identifier its `name` is that string, as in
        Keras (`"acc"` logs as `"acc"`).

    Raises:
        ValueError: for an unknown name, or `"accuracy"` without shapes.
    """
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, dict):  # Keras's `{"class_name": ..., "config": ...}`
        return get(deserialize(identifier), y_true_shape, y_pred_shape)
    if isinstance(identifier, str):
        if identifier.lower() in _ACCURACY_ALIASES:
            if y_true_shape is None or y_pred_shape is None:
                raise ValueError(
                    f"Metric {identifier!r} resolves to binary, sparse categorical or categorical "
                    "accuracy depending on the label and prediction shapes; pass `y_true_shape` and "
                    f"`y_pred_shape`. Received: y_true_shape={y_true_shape}, y_pred_shape={y_pred_shape}"
                )
            is_binary, is_sparse = is_binary_or_sparse_categorical(y_true_shape, y_pred_shape)
            if is_binary:
                return BinaryAccuracy(name=identifier)
            if is_sparse:
                return SparseCategoricalAccuracy(name=identifier)
            return CategoricalAccuracy(name=identifier)
        classes = _all_classes()
        if identifier in classes:
            return classes[identifier](name=identifier)
        if identifier in _FUNCTIONS:
            return MeanMetricWrapper(_FUNCTIONS[identifier], name=identifier)
        raise ValueError(
            f"Unknown metric: {identifier!r}. Expected one of "
            f"{sorted(set(classes) | set(_FUNCTIONS) | set(_ACCURACY_ALIASES))}, a `Metric` "
            "instance, or a callable `fn(y_true, y_pred)` returning per-sample values."
        )
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise ValueError(
        f"Could not interpret metric identifier: {identifier!r}. Expected a metric name, "
        "a `Metric` instance, or a callable."
    )


def _public_classes():
    """The metric classes of the public `kerasx.metrics` module (kerasx's own, including those
    defined outside this file), by class name."""
    import kerasx.metrics as public

    return {name: obj for name, obj in vars(public).items()
            if isinstance(obj, type) and issubclass(obj, Metric) and obj.__module__.startswith("kerasx.")
            and obj not in (Metric, MeanMetricWrapper)}


def _all_classes():
    """Every metric name `get` accepts for a class: this file's table, then the other public
    classes by class name and snake-case name (as Keras's `ALL_OBJECTS_DICT`)."""
    found = dict(_BY_NAME)
    for name, cls in _public_classes().items():
        found.setdefault(name, cls)
        found.setdefault(_keras_snake_case(name), cls)
    return found


def serialize(metric):
    """Describes a metric (a `Metric` instance or a metric function) as Keras 3's dict.

    Args:
        metric: A kerasx `Metric` instance, a metric function (`hinge`, ...), or a
            registered custom object.

    Returns:
        `{"module": "keras.metrics", "class_name": ..., "config": get_config(),
        "registered_name": None}` for a built-in class, Keras's function form
        `{"module": "builtins", "class_name": "function", "config": name,
        "registered_name": "function"}` for a built-in function; other objects go
        through `kerasx.saving.serialize`.
    """
    classes = tuple({*_CLASSES, *_public_classes().values()})
    return losses_lib._serialize(metric, "keras.metrics", classes, _FUNCTIONS)


def deserialize(config, custom_objects=None):
    """Rebuilds a metric from `serialize`'s dict, or from a name.

    Args:
        config: A dict from `serialize` (Keras's format), or a class name (`"Hinge"`),
            its snake-case form (`"hinge"`, `"root_mean_squared_error"`) or a Keras alias
            (`"mse"`): these give an instance with default arguments.
        custom_objects: Optional `{name: class_or_function}` for custom metrics.

    Returns:
        A `Metric` instance or a metric function.

    Raises:
        ValueError: for an unknown name or class, or a malformed config.
    """
    classes = _all_classes()
    if isinstance(config, str) and config in classes and config not in (custom_objects or {}):
        return classes[config]()
    by_class = tuple({*_CLASSES, *_public_classes().values()})
    return losses_lib._deserialize(config, custom_objects, "metric", Metric, by_class, _FUNCTIONS)
