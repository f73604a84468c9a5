"""Intersection-over-union metrics (Keras 3's `iou_metrics.py`) as pure `(init, update, result)`.

The state is one `(num_classes, num_classes)` confusion matrix (rows: true class, columns:
predicted class), named `total_confusion_matrix` as in Keras. As in Keras the default dtype
is int32, so float sample weights are truncated to integers; pass `dtype="float32"` for
fractional weights.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from kerasx import _settings  # config.epsilon(), read when traced
from kerasx.training.metrics import Metric

__all__ = ["IoU", "MeanIoU", "BinaryIoU", "OneHotIoU", "OneHotMeanIoU", "confusion_matrix"]

_EPSILON = 1e-7


class IoUState(NamedTuple):
    """Running state of an IoU metric."""

    total_confusion_matrix: jax.Array  # [C, C]: weight of (true class, predicted class) pairs


def confusion_matrix(labels, predictions, num_classes, weights=None, dtype="int32"):
    """The `(num_classes, num_classes)` matrix of (weighted) label/prediction pairs.

    Args:
        labels: 1D integer labels in `[0, num_classes)`.
        predictions: 1D integer predictions, same shape.
        num_classes: Size of the matrix (static).
        weights: Optional per-pair weights.
        dtype: Dtype of the matrix.

    Returns:
        The matrix; entry `[i, j]` sums the weights of pairs with label i and prediction j.
    """
    labels = jnp.asarray(labels).astype(jnp.int32).reshape(-1)
    predictions = jnp.asarray(predictions).astype(jnp.int32).reshape(-1)
    values = (jnp.ones_like(labels) if weights is None else jnp.asarray(weights)).astype(dtype)
    values = jnp.broadcast_to(values.reshape(-1) if values.ndim else values, labels.shape)
    flat = labels * num_classes + predictions
    cm = jax.ops.segment_sum(values, flat, num_segments=num_classes * num_classes)
    return cm.reshape(num_classes, num_classes).astype(dtype)


def _dtype(dtype):
    if dtype is None or dtype == "int":
        return jnp.dtype(jnp.int32)
    return jnp.dtype(dtype)


class _IoUBase(Metric):
    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype=_dtype(dtype))
        if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) \
                or num_classes < 1:
            raise ValueError(
                f"Metric '{self.name}' ({type(self).__name__}): `num_classes` must be a positive "
                f"integer. Received: num_classes={num_classes!r}")
        self.num_classes = int(num_classes)
        self.ignore_class = ignore_class
        self.sparse_y_true = sparse_y_true
        self.sparse_y_pred = sparse_y_pred
        self.axis = axis

    def init(self):
        return IoUState(jnp.zeros((self.num_classes, self.num_classes), self.dtype))

    def update(self, state, y_true, y_pred, sample_weight=None):
        """Adds this batch's (weighted) label/prediction pairs (jit-safe).

        Labels or predictions outside `[0, num_classes)`, and labels equal to
        `ignore_class`, are left out.
        """
        y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
        if not self.sparse_y_true:
            y_true = jnp.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = jnp.argmax(y_pred, axis=self.axis)
        # Keras converts to the metric dtype first (floats truncate towards zero for int dtypes)
        y_true = y_true.astype(self.dtype)
        y_pred = y_pred.astype(self.dtype).reshape(-1)
        if sample_weight is None:
            weight = jnp.ones((), self.dtype)
        else:
            weight = jnp.asarray(sample_weight).astype(self.dtype)
            if 0 < weight.ndim < y_true.ndim and weight.shape[0] == y_true.shape[0]:
                # per-sample weights of multi-dimensional labels (e.g. the per-row mask of a
                # padded batch): each entry of a sample gets its weight (Keras would fail here)
                weight = weight.reshape(weight.shape + (1,) * (y_true.ndim - weight.ndim))
                weight = jnp.broadcast_to(weight, y_true.shape)
            if weight.ndim > 1:
                weight = weight.reshape(-1)
        y_true = y_true.reshape(-1)
        weight = jnp.broadcast_to(weight, y_true.shape)
        n = self.num_classes
        keep = (y_true >= 0) & (y_true < n) & (y_pred >= 0) & (y_pred < n)
        if self.ignore_class is not None:
            keep = keep & (y_true != jnp.asarray(self.ignore_class, self.dtype))
        y_true = jnp.where(keep, y_true, 0)
        y_pred = jnp.where(keep, y_pred, 0)
        weight = jnp.where(keep, weight, 0)
        cm = confusion_matrix(y_true, y_pred, n, weights=weight, dtype=self.dtype)
        return IoUState(state.total_confusion_matrix + cm)


class IoU(_IoUBase):
    """Mean intersection-over-union `tp / (tp + fp + fn)` over the `target_class_ids`.

    Classes whose denominator is 0 (absent from labels and predictions) are left out of the
    mean.

    Args:
        num_classes: Number of classes.
        target_class_ids: The class ids whose IoU is averaged.
        name: Defaults to "io_u".
        dtype: Dtype of the confusion matrix (default int32).
        ignore_class: A label value left out of the counts (e.g. void pixels).
        sparse_y_true: Whether labels are class ids (else one-hot/scores, argmax'd on `axis`).
        sparse_y_pred: Whether predictions are class ids (else scores, argmax'd on `axis`).
        axis: The class axis of non-sparse inputs.
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=sparse_y_true,
                         sparse_y_pred=sparse_y_pred, axis=axis)
        ids = [int(i) for i in target_class_ids]
        if not ids:
            raise ValueError(
                f"Metric '{self.name}' ({type(self).__name__}): `target_class_ids` must not be "
                "empty.")
        if max(ids) >= self.num_classes or min(ids) < 0:
            bad = max(ids) if max(ids) >= self.num_classes else min(ids)
            raise ValueError(
                f"Metric '{self.name}' ({type(self).__name__}): target class id {bad} is out of "
                f"range, which is [0, {self.num_classes}). Received: target_class_ids={ids}")
        self.target_class_ids = ids

    def result(self, state=None):
        if state is None:
            return self.result(self._held_state())
        cm = state.total_confusion_matrix
        tp = jnp.diagonal(cm)
        denominator = jnp.sum(cm, axis=0) + jnp.sum(cm, axis=1) - tp
        ids = jnp.asarray(self.target_class_ids, jnp.int32)
        tp = tp[ids].astype(jnp.float32)
        denominator = denominator[ids].astype(jnp.float32)
        valid = denominator > 1e-9
        iou = jnp.where(valid, tp / (denominator + _settings.EPSILON), 0.0)
        num_valid = jnp.sum(valid.astype(jnp.float32))
        return jnp.sum(iou, axis=self.axis) / (num_valid + _settings.EPSILON)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name, "num_classes": self.num_classes,
                "target_class_ids": self.target_class_ids, "ignore_class": self.ignore_class,
                "sparse_y_true": self.sparse_y_true, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}


class BinaryIoU(IoU):
    """IoU of binary predictions `y_pred >= threshold` against 0/1 labels.

    Args:
        target_class_ids: Which of the classes 0 and 1 to average (default both).
        threshold: Predictions `>= threshold` are class 1.
        name: Defaults to "binary_io_u".
        dtype: Dtype of the confusion matrix (default int32).
    """

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update(self, state, y_true, y_pred, sample_weight=None):
        """Thresholds `y_pred`, then adds the pairs (jit-safe)."""
        y_true = jnp.asarray(y_true).astype(self.dtype)
        y_pred = (jnp.asarray(y_pred).astype(jnp.float32) >= self.threshold).astype(self.dtype)
        return super().update(state, y_true, y_pred, sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold,
                "name": self.name, "dtype": self.dtype.name}


class MeanIoU(IoU):
    """IoU averaged over all `num_classes` classes.

    Args:
        num_classes: Number of classes.
        name: Defaults to "mean_io_u".
        dtype: Dtype of the confusion matrix (default int32).
        ignore_class: A label value left out of the counts.
        sparse_y_true: Whether labels are class ids.
        sparse_y_pred: Whether predictions are class ids.
        axis: The class axis of non-sparse inputs.
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        if not isinstance(num_classes, (int, np.integer)) or isinstance(num_classes, bool) \
                or num_classes < 1:
            raise ValueError(
                f"Metric {type(self).__name__}: `num_classes` must be a positive integer. "
                f"Received: num_classes={num_classes!r}")
        super().__init__(num_classes=num_classes, target_class_ids=list(range(num_classes)),
                         name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype.name,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotIoU(IoU):
    """IoU over `target_class_ids` for one-hot labels (argmax'd on `axis`).

    Args:
        num_classes: Number of classes.
        target_class_ids: The class ids whose IoU is averaged.
        name: Defaults to "one_hot_io_u".
        dtype: Dtype of the confusion matrix (default int32).
        ignore_class: A label value left out of the counts.
        sparse_y_pred: Whether predictions are class ids (default: scores, argmax'd).
        axis: The class axis.
    """

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes=num_classes, target_class_ids=target_class_ids, name=name,
                         dtype=dtype, ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "name": self.name, "dtype": self.dtype.name, "ignore_class": self.ignore_class,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class OneHotMeanIoU(MeanIoU):
    """IoU averaged over all classes, for one-hot labels (argmax'd on `axis`).

    Args:
        num_classes: Number of classes.
        name: Defaults to "one_hot_mean_io_u".
        dtype: Dtype of the confusion matrix (default int32).
        ignore_class: A label value left out of the counts.
        sparse_y_pred: Whether predictions are class ids (default: scores, argmax'd).
        axis: The class axis.
    """

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes=num_classes, name=name, dtype=dtype,
                         ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        return {"num_classes": self.num_classes, "name": self.name, "dtype": self.dtype.name,
                "ignore_class": self.ignore_class, "sparse_y_pred": self.sparse_y_pred,
                "axis": self.axis}
