"""Confusion-matrix metrics (Keras 3's `confusion_metrics.py`) as pure `(init, update, result)`.

Every metric here counts weighted true/false positives/negatives at a fixed list of
thresholds; a prediction is positive at threshold `t` when `y_pred > t`. The counts live in
a small NamedTuple of device arrays named as Keras names its variables, and `update` is
jit-safe (no host reads). Evenly spaced thresholds use Keras's bucketed O(N + T) update, so
predictions that sit exactly on a threshold are counted exactly as Keras counts them.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kerasx import _settings  # config.epsilon(), read when traced
from kerasx.training.losses import squeeze_or_expand_to_same_rank
from kerasx.training.metrics import Metric

__all__ = [
    "TruePositives",
    "TrueNegatives",
    "FalsePositives",
    "FalseNegatives",
    "Precision",
    "Recall",
    "SensitivityAtSpecificity",
    "SpecificityAtSensitivity",
    "PrecisionAtRecall",
    "RecallAtPrecision",
    "AUC",
]

NEG_INF = -1e10
_EPSILON = 1e-7  # Keras's backend.epsilon()
_KINDS = ("tp", "fp", "tn", "fn")


# ---------------------------------------------------------------------------
# Argument checks (host side, in __init__)
# ---------------------------------------------------------------------------


def _to_list(x):
    if isinstance(x, (list, tuple)):
        return list(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    return [x]


def _parse_thresholds(metric, thresholds, default):
    if thresholds is not None:
        bad = [t for t in _to_list(thresholds) if t is None or t < 0 or t > 1]
        if bad:
            raise ValueError(
                f"Metric '{metric}': threshold values must be in [0, 1]. Received: {bad}")
    return [float(t) for t in _to_list(default if thresholds is None else thresholds)]


def _evenly_distributed(thresholds):
    n = len(thresholds)
    if n < 3:
        return False
    even = np.arange(n, dtype=np.float32) / (n - 1)
    return bool(np.allclose(thresholds, even, atol=_settings.EPSILON))


def _check_top_k(metric, top_k):
    if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
        raise ValueError(
            f"Metric '{metric}': `top_k` must be a positive integer or None. Received: top_k={top_k!r}")


def _check_class_id(metric, class_id):
    if class_id is not None and (
            not isinstance(class_id, (int, np.integer)) or isinstance(class_id, bool) or class_id < 0):
        raise ValueError(
            f"Metric '{metric}': `class_id` must be a non-negative integer or None. "
            f"Received: class_id={class_id!r}")


# ---------------------------------------------------------------------------
# The shared update: weighted confusion counts at each threshold
# ---------------------------------------------------------------------------


def _filter_top_k(x, k):
    """Keeps the top `k` values of the last axis and sets the others to NEG_INF (as Keras)."""
    if k > x.shape[-1]:
        raise ValueError(f"`top_k`={k} is larger than the number of classes ({x.shape[-1]}).")
    _, idx = jax.lax.top_k(x, k)
    keep = jnp.sum(jax.nn.one_hot(idx, x.shape[-1], dtype=x.dtype), axis=-2)
    return x * keep + NEG_INF * (1 - keep)


def confusion_counts(y_true, y_pred, thresholds, kinds=_KINDS, *, top_k=None, class_id=None,
                     sample_weight=None, multi_label=False, label_weights=None,
                     evenly=False, dtype=jnp.float32):
    """Weighted confusion counts of `y_pred > t` against `bool(y_true)` for each threshold `t`.

    Args:
        y_true: Labels (cast to bool), shape matching `y_pred`.
        y_pred: Scores in [0, 1] (or anything with `top_k`).
        thresholds: Python list of thresholds (static).
        kinds: Which of "tp", "fp", "tn", "fn" to compute.
        top_k: Keep only the top-k scores of the last axis as candidates.
        class_id: Restrict to one class of the last axis.
        sample_weight: Broadcastable to `y_true` after Keras's rank fix-up.
        multi_label: Count per label (last axis of 2D input) instead of flattening.
        label_weights: Per-label weights (only without `multi_label`).
        evenly: Use the bucketed update (thresholds evenly spaced in [0, 1]).
        dtype: Dtype of the counts.

    Returns:
        A dict kind -> array of shape `(T,)`, or `(T, num_labels)` with `multi_label`.
    """
    y_true = jnp.asarray(y_true).astype(dtype)
    y_pred = jnp.asarray(y_pred).astype(dtype)
    with_epsilon = evenly and (thresholds[0] < 0.0 or thresholds[-1] > 1.0)
    th = jnp.asarray(np.asarray(thresholds, np.float64), dtype)
    num_t = len(thresholds)
    y_pred, y_true = squeeze_or_expand_to_same_rank(y_pred, y_true)
    if sample_weight is not None:
        sample_weight = jnp.expand_dims(jnp.asarray(sample_weight).astype(dtype), -1)
        _, sample_weight = squeeze_or_expand_to_same_rank(y_true, sample_weight, expand_rank_1=False)
    if top_k is not None:
        y_pred = _filter_top_k(y_pred, top_k)
    if class_id is not None:
        if y_pred.ndim == 1:
            raise ValueError(
                "When class_id is provided, y_pred must be a 2D array with shape "
                f"(num_samples, num_classes), found shape: {y_pred.shape}")
        if class_id >= y_pred.shape[-1]:
            raise ValueError(
                f"`class_id`={class_id} is out of range for predictions with "
                f"{y_pred.shape[-1]} classes (shape {y_pred.shape}).")
        y_true = y_true[..., class_id, None]
        y_pred = y_pred[..., class_id, None]

    weights = 1.0
    if sample_weight is not None:
        weights = jnp.broadcast_to(sample_weight, y_pred.shape)
    if label_weights is not None and not multi_label:
        lw = jnp.broadcast_to(jnp.expand_dims(jnp.asarray(label_weights, dtype), 0), y_pred.shape)
        weights = weights * lw
    weights = jnp.broadcast_to(jnp.asarray(weights, dtype), y_pred.shape)
    is_true = y_true.astype(bool)
    if not multi_label:
        y_pred, is_true, weights = y_pred.reshape(-1), is_true.reshape(-1), weights.reshape(-1)
    elif y_pred.ndim != 2:
        raise ValueError(f"`y_pred` must have rank 2 when `multi_label=True`. Received shape {y_pred.shape}")
    true_w = jnp.where(is_true, weights, 0).astype(dtype)
    false_w = jnp.where(is_true, 0, weights).astype(dtype)

    if evenly:
        # Keras's bucket update: prediction p counts at thresholds t_i with i < ceil(p * (T-1)).
        p = jnp.clip(y_pred, 0.0, 1.0)
        bucket = jnp.ceil(p * (jnp.asarray(num_t, dtype) - 1)) - 1
        if with_epsilon:
            bucket = jnp.maximum(bucket, 0)
        bucket = bucket.astype(jnp.int32)
        valid = bucket >= 0  # Keras's segment_sum drops the -1 bucket
        bucket = jnp.where(valid, bucket, 0)

        def cumulative(w):
            w = jnp.where(valid, w, 0)
            if multi_label:  # (N, L) -> (T, L)
                b = jax.vmap(lambda wl, bl: jax.ops.segment_sum(wl, bl, num_segments=num_t),
                             in_axes=(1, 1), out_axes=1)(w, bucket)
            else:
                b = jax.ops.segment_sum(w, bucket, num_segments=num_t)
            return jnp.flip(jnp.cumsum(jnp.flip(b, 0), axis=0), 0)

        tp = cumulative(true_w)
        fp = cumulative(false_w)
        out = {"tp": tp, "fp": fp}
        if "tn" in kinds or "fn" in kinds:
            out["fn"] = jnp.sum(true_w, axis=0) - tp
            out["tn"] = jnp.sum(false_w, axis=0) - fp
        return {k: out[k] for k in kinds}

    th = th.reshape((num_t,) + (1,) * y_pred.ndim)
    pos = y_pred[None] > th  # (T, N) or (T, N, L)
    out = {}
    if "tp" in kinds:
        out["tp"] = jnp.sum(jnp.where(pos, true_w[None], 0), axis=1)
    if "fp" in kinds:
        out["fp"] = jnp.sum(jnp.where(pos, false_w[None], 0), axis=1)
    if "fn" in kinds:
        out["fn"] = jnp.sum(jnp.where(pos, 0, true_w[None]), axis=1)
    if "tn" in kinds:
        out["tn"] = jnp.sum(jnp.where(pos, 0, false_w[None]), axis=1)
    return {k: out[k].astype(dtype) for k in kinds}


def check_buildable(metric, y_pred):
    """Raises a clear error when a metric whose state size comes from the data (AUC with
    `multi_label`, FBetaScore, R2Score) is first updated inside a traced computation: a
    compiled loop (`fit`/`evaluate`) needs the state's shape before the first batch."""
    if isinstance(y_pred, jax.core.Tracer):
        raise ValueError(
            f"Metric '{metric.name}' ({type(metric).__name__}) sizes its state from the shape "
            "of the first batch, and was first updated inside a compiled function (such as "
            "`fit`/`evaluate`'s step) before it was built. Call "
            "`metric.build(y_true_shape, y_pred_shape)` first (e.g. "
            f"`metric.build((None, {y_pred.shape[-1] if y_pred.ndim else 1}), "
            f"(None, {y_pred.shape[-1] if y_pred.ndim else 1}))`), or update it once eagerly.")


def _divide_no_nan(a, b):
    safe = jnp.where(b == 0, jnp.ones_like(b), b)
    return jnp.where(b == 0, jnp.zeros_like(a), a / safe)


# ---------------------------------------------------------------------------
# Single-count metrics
# ---------------------------------------------------------------------------


class CountState(NamedTuple):
    """Running state of a single confusion count."""

    accumulator: jax.Array  # f32[T], weighted count at each threshold


class _ConfusionMatrixConditionCount(Metric):
    _kind = None

    def __init__(self, thresholds=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.init_thresholds = thresholds
        self.thresholds = _parse_thresholds(self.name, thresholds, 0.5)
        self._evenly = _evenly_distributed(self.thresholds)

    def init(self):
        return CountState(jnp.zeros((len(self.thresholds),), self.dtype))

    def update(self, state, y_true, y_pred, sample_weight=None):
        """Adds this batch's weighted count at each threshold (jit-safe)."""
        c = confusion_counts(y_true, y_pred, self.thresholds, (self._kind,),
                             sample_weight=sample_weight, evenly=self._evenly, dtype=self.dtype)
        return CountState(state.accumulator + c[self._kind])

    def result(self, state=None):
        if state is None:
            return self.result(self._held_state())
        acc = state.accumulator
        return acc[0] if len(self.thresholds) == 1 else acc

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name, "thresholds": self.init_thresholds}


class TruePositives(_ConfusionMatrixConditionCount):
    """The (weighted) number of true positives: `y_true` is 1 and `y_pred > threshold`.

    Args:
        thresholds: A float or list of floats in [0, 1] (default 0.5); with a list the
            result has one count per threshold.
        name: Defaults to "true_positives".
        dtype: Dtype of the counts.
    """

    _kind = "tp"


class TrueNegatives(_ConfusionMatrixConditionCount):
    """The (weighted) number of true negatives: `y_true` is 0 and `y_pred <= threshold`.

    Args:
        thresholds: A float or list of floats in [0, 1] (default 0.5).
        name: Defaults to "true_negatives".
        dtype: Dtype of the counts.
    """

    _kind = "tn"


class FalsePositives(_ConfusionMatrixConditionCount):
    """The (weighted) number of false positives: `y_true` is 0 and `y_pred > threshold`.

    Args:
        thresholds: A float or list of floats in [0, 1] (default 0.5).
        name: Defaults to "false_positives".
        dtype: Dtype of the counts.
    """

    _kind = "fp"


class FalseNegatives(_ConfusionMatrixConditionCount):
    """The (weighted) number of false negatives: `y_true` is 1 and `y_pred <= threshold`.

    Args:
        thresholds: A float or list of floats in [0, 1] (default 0.5).
        name: Defaults to "false_negatives".
        dtype: Dtype of the counts.
    """

    _kind = "fn"


# ---------------------------------------------------------------------------
# Precision and recall
# ---------------------------------------------------------------------------


class PrecisionState(NamedTuple):
    true_positives: jax.Array   # f32[T]
    false_positives: jax.Array  # f32[T]


class RecallState(NamedTuple):
    true_positives: jax.Array   # f32[T]
    false_negatives: jax.Array  # f32[T]


class _PrecisionRecall(Metric):
    _second = None  # "fp" or "fn"

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        _check_top_k(self.name, top_k)
        _check_class_id(self.name, class_id)
        self.init_thresholds = thresholds
        self.top_k = top_k
        self.class_id = class_id
        default = 0.5 if top_k is None else NEG_INF
        self.thresholds = _parse_thresholds(self.name, thresholds, default)
        self._evenly = _evenly_distributed(self.thresholds)

    def _state(self, tp, other):
        raise NotImplementedError

    def init(self):
        z = jnp.zeros((len(self.thresholds),), self.dtype)
        return self._state(z, z)

    def update(self, state, y_true, y_pred, sample_weight=None):
        """Adds this batch's weighted counts (jit-safe)."""
        c = confusion_counts(y_true, y_pred, self.thresholds, ("tp", self._second),
                             top_k=self.top_k, class_id=self.class_id,
                             sample_weight=sample_weight, evenly=self._evenly, dtype=self.dtype)
        return self._state(state[0] + c["tp"], state[1] + c[self._second])

    def result(self, state=None):
        if state is None:
            return self.result(self._held_state())
        value = _divide_no_nan(state[0], state[0] + state[1])
        return value[0] if len(self.thresholds) == 1 else value

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name, "thresholds": self.init_thresholds,
                "top_k": self.top_k, "class_id": self.class_id}


class Precision(_PrecisionRecall):
    """Precision `tp / (tp + fp)` of `y_pred > threshold` against the 0/1 labels.

    Args:
        thresholds: A float or list of floats in [0, 1]; default 0.5, or (with `top_k`)
            no threshold at all.
        top_k: Only the top-k scores of each row count as predicted positives.
        class_id: Only this class (last axis index) is evaluated.
        name: Defaults to "precision".
        dtype: Dtype of the counts.
    """

    _second = "fp"

    def _state(self, tp, other):
        return PrecisionState(tp, other)


class Recall(_PrecisionRecall):
    """Recall `tp / (tp + fn)` of `y_pred > threshold` against the 0/1 labels.

    Args:
        thresholds: A float or list of floats in [0, 1]; default 0.5, or (with `top_k`)
            no threshold at all.
        top_k: Only the top-k scores of each row count as predicted positives.
        class_id: Only this class (last axis index) is evaluated.
        name: Defaults to "recall".
        dtype: Dtype of the counts.
    """

    _second = "fn"

    def _state(self, tp, other):
        return RecallState(tp, other)


# ---------------------------------------------------------------------------
# X at Y metrics
# ---------------------------------------------------------------------------


class ConfusionState(NamedTuple):
    """The four confusion counts at each threshold, in Keras's variable order."""

    true_positives: jax.Array   # f32[T] (AUC multi_label: f32[T, L])
    false_positives: jax.Array
    true_negatives: jax.Array
    false_negatives: jax.Array


def _counts_to_state(c):
    return ConfusionState(c["tp"], c["fp"], c["tn"], c["fn"])


class _SensitivitySpecificityBase(Metric):
    _arg = None  # the constraint argument's name

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        if value is None or not 0 <= value <= 1:
            raise ValueError(
                f"Metric '{self.name}' ({type(self).__name__}): argument `{self._arg}` must be in "
                f"the range [0, 1]. Received: {self._arg}={value}")
        if not isinstance(num_thresholds, (int, np.integer)) or num_thresholds <= 0:
            raise ValueError(
                f"Metric '{self.name}' ({type(self).__name__}): argument `num_thresholds` must "
                f"be an integer > 0. Received: num_thresholds={num_thresholds}")
        _check_class_id(self.name, class_id)
        setattr(self, self._arg, value)
        self.value = value
        self.num_thresholds = num_thresholds
        self.class_id = class_id
        if num_thresholds == 1:
            self.thresholds, self._evenly = [0.5], False
        else:
            inner = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self.thresholds, self._evenly = [0.0] + inner + [1.0], True

    def init(self):
        z = jnp.zeros((len(self.thresholds),), self.dtype)
        return ConfusionState(z, z, z, z)

    def update(self, state, y_true, y_pred, sample_weight=None):
        """Adds this batch's weighted counts (jit-safe)."""
        c = confusion_counts(y_true, y_pred, self.thresholds, _KINDS, class_id=self.class_id,
                             sample_weight=sample_weight, evenly=self._evenly, dtype=self.dtype)
        return jax.tree.map(jnp.add, state, _counts_to_state(c))

    def result(self, state=None):
        if state is None:
            return self.result(self._held_state())
        tp, fp, tn, fn = state
        rates = {
            "sensitivity": _divide_no_nan(tp, tp + fn),
            "recall": _divide_no_nan(tp, tp + fn),
            "specificity": _divide_no_nan(tn, tn + fp),
            "precision": _divide_no_nan(tp, tp + fp),
        }
        constrained, dependent = rates[self._arg], rates[self._target]
        feasible = constrained >= self.value
        return jnp.max(jnp.where(feasible, dependent, 0), initial=0)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name, "class_id": self.class_id,
                "num_thresholds": self.num_thresholds, self._arg: self.value}


class SensitivityAtSpecificity(_SensitivitySpecificityBase):
    """The best sensitivity (recall) among thresholds whose specificity is >= `specificity`.

    Args:
        specificity: A float in [0, 1].
        num_thresholds: Number of evenly spaced thresholds in [0, 1] (default 200).
        class_id: Only this class (last axis index) is evaluated.
        name: Defaults to "sensitivity_at_specificity".
        dtype: Dtype of the counts.
    """

    _arg, _target = "specificity", "sensitivity"

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_SensitivitySpecificityBase):
    """The best specificity among thresholds whose sensitivity is >= `sensitivity`.

    Args:
        sensitivity: A float in [0, 1].
        num_thresholds: Number of evenly spaced thresholds in [0, 1] (default 200).
        class_id: Only this class (last axis index) is evaluated.
        name: Defaults to "specificity_at_sensitivity".
        dtype: Dtype of the counts.
    """

    _arg, _target = "sensitivity", "specificity"

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_SensitivitySpecificityBase):
    """The best precision among thresholds whose recall is >= `recall`.

    Args:
        recall: A float in [0, 1].
        num_thresholds: Number of evenly spaced thresholds in [0, 1] (default 200).
        class_id: Only this class (last axis index) is evaluated.
        name: Defaults to "precision_at_recall".
        dtype: Dtype of the counts.
    """

    _arg, _target = "recall", "precision"

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_SensitivitySpecificityBase):
    """The best recall among thresholds whose precision is >= `precision`.

    Args:
        precision: A float in [0, 1].
        num_thresholds: Number of evenly spaced thresholds in [0, 1] (default 200).
        class_id: Only this class (last axis index) is evaluated.
        name: Defaults to "recall_at_precision".
        dtype: Dtype of the counts.
    """

    _arg, _target = "precision", "recall"

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)


# ---------------------------------------------------------------------------
# AUC
# ---------------------------------------------------------------------------

_CURVES = {"roc": "ROC", "pr": "PR", "prgain": "PRGAIN"}
_SUMMATIONS = {"interpolation": "interpolation", "majoring": "majoring", "minoring": "minoring"}


def _enum_value(x):
    return getattr(x, "value", x)  # accepts Keras's AUCCurve / AUCSummationMethod enums


class AUC(Metric):
    """Approximate area under the ROC or PR curve, by a Riemann sum over thresholds.

    Args:
        num_thresholds: Number of thresholds (> 1), evenly spaced in [0, 1] (default 200).
        curve: "ROC" (default), "PR" or "PRGAIN".
        summation_method: "interpolation" (default), "minoring" or "majoring".
        name: Defaults to "auc".
        dtype: Dtype of the counts.
        thresholds: Explicit thresholds in [0, 1] (then `num_thresholds` is
            `len(thresholds) + 2`, the endpoints added).
        multi_label: Compute one AUC per label (last axis of 2D input) and average them,
            instead of flattening labels into one curve.
        num_labels: Number of labels with `multi_label` (else taken from the first batch,
            or from `build`).
        label_weights: Non-negative per-label weights: the weighted average of the per-label
            AUCs with `multi_label`, else weights of the flattened entries.
        from_logits: Apply a sigmoid to `y_pred` first.
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation",
                 name=None, dtype=None, thresholds=None, multi_label=False, num_labels=None,
                 label_weights=None, from_logits=False):
        super().__init__(name=name, dtype=dtype)
        curve_v, summation_v = _enum_value(curve), _enum_value(summation_method)
        if not isinstance(curve_v, str) or curve_v.lower() not in _CURVES or \
                curve_v not in (curve_v.lower(), curve_v.upper()):
            raise ValueError(
                f"Metric '{self.name}' (AUC): invalid `curve` value: {curve!r}. "
                'Expected values are ["PR", "ROC", "PRGAIN"].')
        if not isinstance(summation_v, str) or summation_v.lower() not in _SUMMATIONS or \
                summation_v not in (summation_v.lower(), summation_v.capitalize()):
            raise ValueError(
                f"Metric '{self.name}' (AUC): invalid `summation_method` value: "
                f'{summation_method!r}. Expected values are ["interpolation", "majoring", "minoring"].')
        self._init_from_thresholds = thresholds is not None
        if thresholds is not None:
            thresholds = sorted(_parse_thresholds(self.name, thresholds, 0.5))
            self.num_thresholds = len(thresholds) + 2
            self._evenly = _evenly_distributed(np.array([0.0] + thresholds + [1.0]))
        else:
            if not isinstance(num_thresholds, (int, np.integer)) or num_thresholds <= 1:
                raise ValueError(
                    f"Metric '{self.name}' (AUC): argument `num_thresholds` must be an integer "
                    f"> 1. Received: num_thresholds={num_thresholds}")
            self.num_thresholds = int(num_thresholds)
            thresholds = [(i + 1) * 1.0 / (num_thresholds - 1) for i in range(num_thresholds - 2)]
            self._evenly = True
        self._thresholds = [0.0 - _settings.EPSILON] + list(thresholds) + [1.0 + _settings.EPSILON]
        self.curve = _CURVES[curve_v.lower()]
        self.summation_method = summation_v.lower()
        self.multi_label = bool(multi_label)
        self.num_labels = num_labels
        if label_weights is not None:
            lw = np.asarray(label_weights, np.float64)
            if lw.ndim != 1 or np.any(lw < 0):
                raise ValueError(
                    f"Metric '{self.name}' (AUC): `label_weights` must be a 1D list of "
                    f"non-negative weights. Received: label_weights={label_weights!r}")
            self._label_weights_init = lw.tolist()
        else:
            self._label_weights_init = None
        self._from_logits = from_logits
        self._num_labels = None
        if self.multi_label:
            if num_labels:
                self._num_labels = int(num_labels)
        elif num_labels:
            raise ValueError("`num_labels` is needed only when `multi_label` is True.")

    @property
    def thresholds(self):
        """The thresholds, endpoints included."""
        return list(self._thresholds)

    @property
    def label_weights(self):
        if self._label_weights_init is None:
            return None
        return jnp.asarray(self._label_weights_init, self.dtype)

    @property
    def built(self):
        return not self.multi_label or self._num_labels is not None

    def build(self, y_true_shape=None, y_pred_shape=None):
        """Fixes the number of labels from the prediction shape (multi_label only)."""
        if not self.multi_label or self._num_labels is not None:
            return
        shape = tuple(y_pred_shape)
        if len(shape) != 2:
            raise ValueError(
                f"Metric '{self.name}' (AUC): `y_pred` must have rank 2 when `multi_label=True`. "
                f"Found rank {len(shape)}. Full shape received for `y_pred`: {shape}")
        self._num_labels = int(shape[1])

    def init(self):
        if not self.built:  # no variables until the first batch (or `build`), as in Keras
            return ()
        shape = (self.num_thresholds,) + ((self._num_labels,) if self.multi_label else ())
        z = jnp.zeros(shape, self.dtype)
        return ConfusionState(z, z, z, z)

    def update(self, state, y_true, y_pred, sample_weight=None):
        """Adds this batch's weighted counts (jit-safe)."""
        if not self.built:
            check_buildable(self, y_pred)
            self.build(jnp.shape(y_true), jnp.shape(y_pred))
            state = self.init()
        y_pred = jnp.asarray(y_pred)
        if self._from_logits:
            y_pred = jax.nn.sigmoid(y_pred.astype(self.dtype))
        label_weights = None if self.multi_label else self.label_weights
        c = confusion_counts(y_true, y_pred, self._thresholds, _KINDS,
                             sample_weight=sample_weight, multi_label=self.multi_label,
                             label_weights=label_weights, evenly=self._evenly, dtype=self.dtype)
        return jax.tree.map(jnp.add, state, _counts_to_state(c))

    def _average(self, by_label):
        if not self.multi_label:
            return jnp.sum(by_label)
        by_label = jnp.sum(by_label, axis=0)
        if self.label_weights is None:
            return jnp.mean(by_label)
        lw = self.label_weights
        return _divide_no_nan(jnp.sum(by_label * lw), jnp.sum(lw))

    def _interpolate_pr_auc(self, state):
        tp, fp, _, fn = state
        dtp = tp[:-1] - tp[1:]
        p = tp + fp
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, jnp.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        ratio = jnp.where((p[:-1] > 0) & (p[1:] > 0), _divide_no_nan(p[:-1], jnp.maximum(p[1:], 0)),
                          jnp.ones_like(p[1:]))
        increment = _divide_no_nan(slope * (dtp + intercept * jnp.log(ratio)),
                                   jnp.maximum(tp[1:] + fn[1:], 0))
        return self._average(increment)

    def result(self, state=None):
        if state is None:
            return self.result(self._held_state())
        if not self.built or len(state) == 0:
            return jnp.zeros((), self.dtype)
        if self.curve == "PR" and self.summation_method == "interpolation":
            return self._interpolate_pr_auc(state)
        tp, fp, tn, fn = state
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        elif self.curve == "PR":
            x, y = recall, _divide_no_nan(tp, tp + fp)
        else:  # PRGAIN
            scale = _divide_no_nan(tp + fn, tn + fp)
            recall_gain = 1.0 - scale * _divide_no_nan(fn, tp)
            precision_gain = 1.0 - scale * _divide_no_nan(fp, tp)
            recall_gain = jnp.where(tp == 0, 0.0, recall_gain)
            precision_gain = jnp.where(tp == 0, 1.0, precision_gain)
            x, y = jnp.maximum(recall_gain, 0.0), precision_gain
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = jnp.minimum(y[:-1], y[1:])
        else:
            heights = jnp.maximum(y[:-1], y[1:])
        return self._average((x[:-1] - x[1:]) * heights)

    def get_config(self):
        config = {"name": self.name, "dtype": self.dtype.name,
                  "num_thresholds": self.num_thresholds, "curve": self.curve,
                  "summation_method": self.summation_method, "multi_label": self.multi_label,
                  "num_labels": self.num_labels, "label_weights": self._label_weights_init,
                  "from_logits": self._from_logits}
        if self._init_from_thresholds:
            config["thresholds"] = self.thresholds[1:-1]
        return config
