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
    "is_binary_or_sparse_categorical",
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
        with scope:
            return metric.result()
    return metric.result(state)


def _initial(shape, dtype, initializer):
    return jnp.asarray(initializer(jax.random.key(0), shape, dtype), dtype)


def _path_name(path):
    last = path[-1] if path else None
    for attr in ("name", "key", "idx"):
        if hasattr(last, attr):
            return str(getattr(last, attr))
    return None


def _samplewise(values, sample_weight):
    """Reduces values to one per sample and weights them, as Keras's `reduce_to_samplewise_values`."""
    values = jnp.asarray(values).astype(_FLOATX)
    if sample_weight is not None:
        sample_weight = jnp.asarray(sample_weight).astype(_FLOATX)
        values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
        weight_ndim, values_ndim = jnp.ndim(sample_weight), jnp.ndim(values)
        if values_ndim > weight_ndim:
            values = jnp.mean(values, axis=tuple(range(weight_ndim, values_ndim)))
        sample_weight = jnp.broadcast_to(sample_weight, jnp.shape(values))
        values = values * sample_weight
        if weight_ndim > 1:
            sample_weight = jnp.mean(sample_weight, axis=tuple(range(1, weight_ndim)))
    if jnp.ndim(values) > 1:
        values = jnp.mean(values, axis=tuple(range(1, jnp.ndim(values))))
    return values, sample_weight


class Mean(Metric):
    """The (weighted) mean of the values seen so far.

    `update(state, values, sample_weight=None)`: each sample contributes the mean
    of its values; with weights, `total += sum(v * w)` and `count += sum(w)`.

    Args:
        name: Defaults to `"mean"`.
    """

    def __init__(self, name="mean"):
        super().__init__(name=name)

    def init(self):
        return MeanState(total=jnp.zeros((), _FLOATX), count=jnp.zeros((), _FLOATX))

    def update(self, state, values, sample_weight=None):
        """Accumulates `values` (any shape, leading axis = samples)."""
        return self._accumulate(state, values, sample_weight)

    def _accumulate(self, state, values, sample_weight):
        values, sample_weight = _samplewise(values, sample_weight)
        if sample_weight is not None:
            count = jnp.sum(sample_weight)
        elif jnp.ndim(values) >= 1:
            count = jnp.shape(values)[0]
        else:
            count = 1
        return MeanState(
            total=state.total + jnp.sum(values), count=state.count + jnp.asarray(count, _FLOATX)
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
        **fn_kwargs: Keyword arguments passed to `fn`.
    """

    def __init__(self, fn, name=None, **fn_kwargs):
        if not callable(fn):
            raise ValueError(f"Expected `fn` to be callable. Received: fn={fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", None) or "mean_metric_wrapper")
        self.fn = fn
        self.fn_kwargs = fn_kwargs

    def update(self, state, y_true, y_pred, sample_weight=None):
        """Accumulates `fn(y_true, y_pred)` weighted by `sample_weight`."""
        return self._accumulate(state, self.fn(y_true, y_pred, **self.fn_kwargs), sample_weight)

    def get_config(self):
        return {"name": self.name, **self.fn_kwargs}


class Accuracy(MeanMetricWrapper):
    """How often predictions equal labels exactly."""

    def __init__(self, name="accuracy"):
        super().__init__(accuracy, name=name)


class BinaryAccuracy(MeanMetricWrapper):
    """How often `y_pred > threshold` equals the 0/1 label.

    Args:
        name: Defaults to `"binary_accuracy"`.
        threshold: Probability (or logit) above which a prediction is 1.
    """

    def __init__(self, name="binary_accuracy", threshold=0.5):
        super().__init__(binary_accuracy, name=name, threshold=threshold)
        self.threshold = threshold


class CategoricalAccuracy(MeanMetricWrapper):
    """How often `argmax(y_pred)` equals `argmax` of the one-hot label."""

    def __init__(self, name="categorical_accuracy"):
        super().__init__(categorical_accuracy, name=name)


class SparseCategoricalAccuracy(MeanMetricWrapper):
    """How often `argmax(y_pred)` equals the integer label."""

    def __init__(self, name="sparse_categorical_accuracy"):
        super().__init__(sparse_categorical_accuracy, name=name)


class TopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the one-hot label's class is among the top `k` predictions.

    Args:
        k: Number of top predictions that count as a hit.
        name: Defaults to `"top_k_categorical_accuracy"`.
    """

    def __init__(self, k=5, name="top_k_categorical_accuracy"):
        _check_k(k)
        super().__init__(top_k_categorical_accuracy, name=name, k=k)
        self.k = k


class SparseTopKCategoricalAccuracy(MeanMetricWrapper):
    """How often the integer label is among the top `k` predictions.

    Args:
        k: Number of top predictions that count as a hit.
        name: Defaults to `"sparse_top_k_categorical_accuracy"`.
        from_sorted_ids: Whether `y_pred` holds class ids sorted by score.
    """

    def __init__(self, k=5, name="sparse_top_k_categorical_accuracy", from_sorted_ids=False):
        _check_k(k)
        super().__init__(
            sparse_top_k_categorical_accuracy, name=name, k=k, from_sorted_ids=from_sorted_ids
        )
        self.k = k
        self.from_sorted_ids = from_sorted_ids


class MeanSquaredError(MeanMetricWrapper):
    """The mean of `mean_squared_error(y_true, y_pred)` over samples."""

    def __init__(self, name="mean_squared_error"):
        super().__init__(mean_squared_error, name=name)


class MeanAbsoluteError(MeanMetricWrapper):
    """The mean of `mean_absolute_error(y_true, y_pred)` over samples."""

    def __init__(self, name="mean_absolute_error"):
        super().__init__(mean_absolute_error, name=name)


class BinaryCrossentropy(MeanMetricWrapper):
    """The mean binary crossentropy over samples (see `losses.binary_crossentropy`)."""

    def __init__(self, name="binary_crossentropy", from_logits=False, label_smoothing=0.0):
        super().__init__(
            losses_lib.binary_crossentropy, name=name, from_logits=from_logits, label_smoothing=label_smoothing
        )


class CategoricalCrossentropy(MeanMetricWrapper):
    """The mean categorical crossentropy over samples (see `losses.categorical_crossentropy`)."""

    def __init__(self, name="categorical_crossentropy", from_logits=False, label_smoothing=0.0, axis=-1):
        super().__init__(
            losses_lib.categorical_crossentropy,
            name=name,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )


class SparseCategoricalCrossentropy(MeanMetricWrapper):
    """The mean sparse categorical crossentropy over samples."""

    def __init__(self, name="sparse_categorical_crossentropy", from_logits=False, axis=-1):
        super().__init__(
            losses_lib.sparse_categorical_crossentropy, name=name, from_logits=from_logits, axis=axis
        )


def _check_k(k):
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
        raise ValueError(f"Received an invalid value for `k`, expected a positive integer. Received: k={k!r}")


# ---------------------------------------------------------------------------
# Lookup
# ---------------------------------------------------------------------------

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
)
_BY_NAME = {cls.__name__: cls for cls in _CLASSES}
_BY_NAME.update({cls().name: cls for cls in _CLASSES})
_BY_NAME.update(
    {
        "mse": MeanSquaredError,
        "MSE": MeanSquaredError,
        "mae": MeanAbsoluteError,
        "MAE": MeanAbsoluteError,
        "bce": BinaryCrossentropy,
        "BCE": BinaryCrossentropy,
    }
)
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
        if identifier not in _BY_NAME:
            raise ValueError(
                f"Unknown metric: {identifier!r}. Expected one of "
                f"{sorted(set(_BY_NAME) | set(_ACCURACY_ALIASES))}, a `Metric` instance, "
                "or a callable `fn(y_true, y_pred)` returning per-sample values."
            )
        return _BY_NAME[identifier](name=identifier)
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise ValueError(
        f"Could not interpret metric identifier: {identifier!r}. Expected a metric name, "
        "a `Metric` instance, or a callable."
    )
