"""Correlation metrics and R2 (Keras 3's `correlation_metrics.py` and `R2Score`), pure and jit-safe.

`PearsonCorrelation` and `ConcordanceCorrelation` are means of per-sample coefficients
(computed along `axis`, as Keras), so their state is `MeanState(total, count)`. `R2Score`
accumulates per-output sums; like `FBetaScore` it learns the number of outputs from the first
batch (stateful face) or from `build(y_true_shape, y_pred_shape)` (pure face).
"""

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp

from kerasx import _settings  # config.epsilon(), read when traced
from kerasx.training.losses import squeeze_or_expand_to_same_rank
from kerasx.training.metrics import Metric, MeanMetricWrapper
from kerasx.training.metrics_confusion import check_buildable

__all__ = [
    "pearson_correlation",
    "concordance_correlation",
    "PearsonCorrelation",
    "ConcordanceCorrelation",
    "R2Score",
]

_EPSILON = 1e-7


def _pair(y_true, y_pred):
    y_pred = jnp.asarray(y_pred)
    if not jnp.issubdtype(y_pred.dtype, jnp.floating):
        y_pred = y_pred.astype(jnp.float32)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson's correlation coefficient of `y_true` and `y_pred` along `axis`.

    Args:
        y_true: Targets.
        y_pred: Predictions, same shape.
        axis: The axis the coefficient is computed along (default -1).

    Returns:
        The coefficients, with `axis` reduced.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    t = y_true - jnp.mean(y_true, axis=axis, keepdims=True)
    p = y_pred - jnp.mean(y_pred, axis=axis, keepdims=True)
    t = t / jnp.std(t, axis=axis, keepdims=True)
    p = p / jnp.std(p, axis=axis, keepdims=True)
    return jnp.mean(t * p, axis=axis)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance correlation coefficient along `axis`, computed as Keras 3 computes it.

    Args:
        y_true: Targets.
        y_pred: Predictions, same shape.
        axis: The axis the coefficient is computed along (default -1).

    Returns:
        The coefficients, with `axis` reduced.
    """
    y_true, y_pred = _pair(y_true, y_pred)
    true_mean = jnp.mean(y_true, axis=axis, keepdims=True)
    pred_mean = jnp.mean(y_pred, axis=axis, keepdims=True)
    true_var = jnp.var(y_true - true_mean, axis=axis, keepdims=True)
    pred_var = jnp.var(y_pred - pred_mean, axis=axis, keepdims=True)
    # Keras 3 centres y_true on the *prediction* mean in the covariance term; kept for parity.
    covar = (y_true - pred_mean) * (y_pred - pred_mean)
    norm = true_var + pred_var + jnp.square(true_mean - pred_mean)
    return jnp.mean(2 * covar / (norm + _settings.EPSILON), axis=axis)


class PearsonCorrelation(MeanMetricWrapper):
    """The mean of per-sample Pearson correlations (`pearson_correlation` along `axis`).

    Args:
        name: Defaults to "pearson_correlation".
        dtype: Dtype of the result.
        axis: The axis the coefficient is computed along (default -1).
    """

    def __init__(self, name="pearson_correlation", dtype=None, axis=-1):
        super().__init__(pearson_correlation, name=name, axis=axis)
        self.dtype = jnp.dtype(dtype or jnp.float32)
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name, "axis": self.axis}


class ConcordanceCorrelation(MeanMetricWrapper):
    """The mean of per-sample concordance correlations (`concordance_correlation` along `axis`).

    Args:
        name: Defaults to "concordance_correlation".
        dtype: Dtype of the result.
        axis: The axis the coefficient is computed along (default -1).
    """

    def __init__(self, name="concordance_correlation", dtype=None, axis=-1):
        super().__init__(concordance_correlation, name=name, axis=axis)
        self.dtype = jnp.dtype(dtype or jnp.float32)
        self.axis = axis

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name, "axis": self.axis}


def _warn_adjusted(num_samples, num_regressors):
    """Keras's warnings when the adjusted R2 falls back to the plain one; only where the count
    is a concrete value (the stateful face), never inside a traced computation."""
    if isinstance(num_samples, jax.core.Tracer):
        return
    n = float(num_samples)
    if num_regressors > n - 1:
        warnings.warn("More independent predictors than datapoints in adjusted R2 score. "
                      "Falling back to standard R2 score.", stacklevel=3)
    elif num_regressors == n - 1:
        warnings.warn("Division by zero in Adjusted R2 score. Falling back to standard R2 score.",
                      stacklevel=3)


class R2State(NamedTuple):
    """Running sums of `R2Score`, in Keras's variable order and names."""

    num_samples: jax.Array  # f32[], number of label entries seen
    squared_sum: jax.Array  # f32[D], sum of w * y^2 per output
    sum: jax.Array          # f32[D], sum of w * y
    residual: jax.Array     # f32[D], sum of w * (y - y_pred)^2
    count: jax.Array        # f32[D], sum of w


class R2Score(Metric):
    """The coefficient of determination `1 - SS_res / SS_tot`, per output or aggregated.

    Args:
        class_aggregation: "uniform_average" (default), "variance_weighted_average", or
            None for one score per output.
        num_regressors: Number of independent regressors for the adjusted R2 (0: plain R2).
            When it is not below `num_samples - 1` the plain R2 is returned, with Keras's
            warning where the result is computed outside `jit`.
        name: Defaults to "r2_score".
        dtype: Dtype of the sums.
    """

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score",
                 dtype=None):
        super().__init__(name=name, dtype=dtype)
        valid = (None, "uniform_average", "variance_weighted_average")
        if class_aggregation not in valid:
            raise ValueError(
                f"Metric '{self.name}' (R2Score): invalid value for argument "
                f"`class_aggregation`. Expected one of {valid}. "
                f"Received: class_aggregation={class_aggregation!r}")
        if num_regressors < 0:
            raise ValueError(
                f"Metric '{self.name}' (R2Score): invalid value for argument `num_regressors`. "
                f"Expected a value >= 0. Received: num_regressors={num_regressors}")
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self._num_outputs = None

    @property
    def built(self):
        return self._num_outputs is not None

    def build(self, y_true_shape, y_pred_shape):
        """Fixes the number of outputs from 2D shapes `(batch, output_dim)`."""
        y_true_shape, y_pred_shape = tuple(y_true_shape), tuple(y_pred_shape)
        if len(y_true_shape) == len(y_pred_shape) - 1 and y_pred_shape[-1] == 1:
            y_true_shape = y_true_shape + (1,)  # Keras's rank fix-up of (n,) vs (n, 1)
        if len(y_pred_shape) != 2 or len(y_true_shape) != 2:
            raise ValueError(
                "R2Score expects 2D inputs with shape (batch_size, output_dim). Received input "
                f"shapes: y_pred.shape={y_pred_shape} and y_true.shape={y_true_shape}.")
        if y_pred_shape[-1] is None or y_true_shape[-1] is None:
            raise ValueError(
                "R2Score expects 2D inputs with shape (batch_size, output_dim), with output_dim "
                "fully defined (not None). Received input shapes: "
                f"y_pred.shape={y_pred_shape} and y_true.shape={y_true_shape}.")
        outputs = int(y_pred_shape[-1])
        if self._num_outputs is not None and outputs != self._num_outputs:
            raise ValueError(
                f"Metric '{self.name}' (R2Score) was built for {self._num_outputs} outputs; "
                f"received y_pred.shape={y_pred_shape}.")
        self._num_outputs = outputs

    def init(self):
        if not self.built:
            return ()
        z = jnp.zeros((self._num_outputs,), self.dtype)
        return R2State(jnp.zeros((), self.dtype), z, z, z, z)

    def update(self, state, y_true, y_pred, sample_weight=None):
        """Adds this batch's (weighted) sums (jit-safe)."""
        if not self.built:
            check_buildable(self, y_pred)
        y_true = jnp.asarray(y_true).astype(self.dtype)
        y_pred = jnp.asarray(y_pred).astype(self.dtype)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        self.build(y_true.shape, y_pred.shape)
        if len(state) == 0:
            state = self.init()
        w = jnp.ones((), self.dtype) if sample_weight is None else \
            jnp.asarray(sample_weight).astype(self.dtype)
        if w.ndim == 1:
            w = jnp.expand_dims(w, 1)
        w = jnp.broadcast_to(w, y_true.shape)
        weighted = y_true * w
        return R2State(
            state.num_samples + jnp.asarray(y_true.size, self.dtype),
            state.squared_sum + jnp.sum(y_true * weighted, axis=0),
            state.sum + jnp.sum(weighted, axis=0),
            state.residual + jnp.sum(jnp.square(y_true - y_pred) * w, axis=0),
            state.count + jnp.sum(w, axis=0),
        )

    def result(self, state=None):
        if state is None:
            return self.result(self._held_state())
        if len(state) == 0:
            raise ValueError(
                f"Metric '{self.name}' (R2Score) has no state yet: update it once or call "
                "`build(y_true_shape, y_pred_shape)`.")
        mean = state.sum / state.count
        total = state.squared_sum - state.sum * mean
        raw = 1 - state.residual / total
        raw = jnp.where(jnp.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = jnp.mean(raw)
        elif self.class_aggregation == "variance_weighted_average":
            score = jnp.sum(total * raw) / jnp.sum(total)
        else:
            score = raw
        if self.num_regressors != 0:
            _warn_adjusted(state.num_samples, self.num_regressors)
            n = state.num_samples.astype(jnp.float32)
            p = jnp.float32(self.num_regressors)
            den = n - p - 1.0
            ok = p < n - 1
            adjusted = 1.0 - (1.0 - score) * (n - 1.0) / jnp.where(ok, den, 1.0)
            score = jnp.where(ok, adjusted, score)
        return score

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype.name,
                "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}
