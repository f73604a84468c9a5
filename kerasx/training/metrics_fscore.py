"""F-beta and F1 scores (Keras 3's `f_score_metrics.py`) as pure `(init, update, result)`.

The per-class counts need the number of classes, which Keras takes from the first batch.
Here the stateful face does the same; the pure face needs it before `init()`: call
`build(y_true_shape, y_pred_shape)` first (until built, `init()` returns an empty state,
as Keras has no variables yet).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp

from kerasx import _settings  # config.epsilon(), read when traced
from kerasx.training.metrics import Metric
from kerasx.training.metrics_confusion import check_buildable

__all__ = ["FBetaScore", "F1Score"]

_EPSILON = 1e-7


class FBetaState(NamedTuple):
    """Running per-class counts (scalars with `average="micro"`)."""

    true_positives: jax.Array        # f32[C] or f32[]
    false_positives: jax.Array
    false_negatives: jax.Array
    intermediate_weights: jax.Array  # weighted count of positive labels


class FBetaScore(Metric):
    """The F-beta score `(1 + beta^2) * P * R / (beta^2 * P + R)` per class, or averaged.

    Args:
        average: None (one score per class), "micro" (counts pooled over classes),
            "macro" (unweighted mean of class scores) or "weighted" (mean weighted by
            each class's number of positive labels).
        beta: Python float > 0: the weight of recall against precision.
        threshold: Python float in (0, 1]: predictions above it are positive. None (default)
            marks the highest score of each row as the positive.
        name: Defaults to "fbeta_score".
        dtype: Dtype of the counts.
    """

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(
                f"Metric '{self.name}' ({type(self).__name__}): invalid `average` argument "
                "value. Expected one of: {None, 'micro', 'macro', 'weighted'}. "
                f"Received: average={average!r}")
        if not isinstance(beta, float):
            raise ValueError(
                f"Metric '{self.name}' ({type(self).__name__}): invalid `beta` argument value. "
                f"It should be a Python float. Received: beta={beta!r} of type '{type(beta)}'")
        if beta <= 0.0:
            raise ValueError(
                f"Metric '{self.name}' ({type(self).__name__}): invalid `beta` argument value. "
                f"It should be > 0. Received: beta={beta}")
        if threshold is not None:
            if not isinstance(threshold, float):
                raise ValueError(
                    f"Metric '{self.name}' ({type(self).__name__}): invalid `threshold` argument "
                    f"value. It should be a Python float. Received: threshold={threshold!r} "
                    f"of type '{type(threshold)}'")
            if threshold > 1.0 or threshold <= 0.0:
                raise ValueError(
                    f"Metric '{self.name}' ({type(self).__name__}): invalid `threshold` argument "
                    f"value. It should verify 0 < threshold <= 1. Received: threshold={threshold}")
        self.average = average
        self.beta = beta
        self.threshold = threshold
        self.axis = None if average == "micro" else 0
        self._num_classes = None

    @property
    def built(self):
        return self._num_classes is not None

    def build(self, y_true_shape, y_pred_shape):
        """Fixes the number of classes from 2D shapes `(batch, num_classes)`."""
        y_true_shape, y_pred_shape = tuple(y_true_shape), tuple(y_pred_shape)
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(
                f"{type(self).__name__} expects 2D inputs with shape (batch_size, output_dim). "
                f"Received input shapes: y_pred.shape={y_pred_shape} and "
                f"y_true.shape={y_true_shape}.")
        if y_pred_shape[-1] is None or y_true_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} expects 2D inputs with shape (batch_size, output_dim), "
                "with output_dim fully defined (not None). Received input shapes: "
                f"y_pred.shape={y_pred_shape} and y_true.shape={y_true_shape}.")
        num_classes = int(y_pred_shape[-1])
        if self._num_classes is not None and num_classes != self._num_classes:
            raise ValueError(
                f"Metric '{self.name}' was built for {self._num_classes} classes; received "
                f"y_pred.shape={y_pred_shape}.")
        self._num_classes = num_classes

    def init(self):
        if not self.built:
            return ()
        shape = () if self.average == "micro" else (self._num_classes,)
        z = jnp.zeros(shape, self.dtype)
        return FBetaState(z, z, z, z)

    def update(self, state, y_true, y_pred, sample_weight=None):
        """Adds this batch's (weighted) counts (jit-safe)."""
        if not self.built:
            check_buildable(self, y_pred)
        y_true = jnp.asarray(y_true).astype(self.dtype)
        y_pred = jnp.asarray(y_pred).astype(self.dtype)
        if not self.built or len(state) == 0:
            self.build(y_true.shape, y_pred.shape)
            state = self.init()
        else:
            self.build(y_true.shape, y_pred.shape)  # checks the class count
        if self.threshold is None:
            top = jnp.max(y_pred, axis=-1, keepdims=True)
            y_pred = (y_pred >= top) & (jnp.abs(y_pred) > 1e-9)
        else:
            y_pred = y_pred > self.threshold
        y_pred = y_pred.astype(self.dtype)
        if sample_weight is not None:
            sample_weight = jnp.asarray(sample_weight).astype(self.dtype)

        if sample_weight is not None and sample_weight.ndim < 2:
            sample_weight = jnp.expand_dims(sample_weight, 1)  # one weight per row, as Keras
        # (a `(batch, 1)` or `(batch, num_classes)` weight is used as is; Keras would
        # mis-broadcast it)

        def weighted_sum(v):
            if sample_weight is not None:
                v = v * sample_weight
            return jnp.sum(v, axis=self.axis)

        return FBetaState(
            state.true_positives + weighted_sum(y_pred * y_true),
            state.false_positives + weighted_sum(y_pred * (1 - y_true)),
            state.false_negatives + weighted_sum((1 - y_pred) * y_true),
            state.intermediate_weights + weighted_sum(y_true),
        )

    def result(self, state=None):
        if state is None:
            return self.result(self._held_state())
        if len(state) == 0:
            raise ValueError(
                f"Metric '{self.name}' ({type(self).__name__}) has no state yet: update it once "
                "or call `build(y_true_shape, y_pred_shape)`.")
        tp, fp, fn, w = state
        precision = tp / (tp + fp + _settings.EPSILON)
        recall = tp / (tp + fn + _settings.EPSILON)
        beta2 = self.beta ** 2
        score = precision * recall / (beta2 * precision + recall + _settings.EPSILON) * (1 + beta2)
        if self.average == "weighted":
            score = jnp.sum(score * (w / (jnp.sum(w) + _settings.EPSILON)))
        elif self.average is not None:
            score = jnp.mean(score)
        return score

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name, "average": self.average,
                "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """The F1 score `2 * P * R / (P + R)`: `FBetaScore` with `beta=1.0`.

    Args:
        average: None, "micro", "macro" or "weighted" (see `FBetaScore`).
        threshold: Python float in (0, 1], or None for the row's highest score.
        name: Defaults to "f1_score".
        dtype: Dtype of the counts.
    """

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config
