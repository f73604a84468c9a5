"""Loss functions with Keras 3 semantics, as pure JAX functions.

Two layers, as in Keras:

* Per-sample functions (`categorical_crossentropy`, `mean_squared_error`, ...)
  map `(y_true, y_pred)` to one value per sample: the last axis is reduced.
* `Loss` classes hold the options (`from_logits`, `label_smoothing`,
  `reduction`, `name`) and reduce the per-sample values to a scalar with
  optional `sample_weight`, exactly as `keras.losses.Loss.__call__` does.

For the trainer, every `Loss` also exposes `per_sample(y_true, y_pred)` and the
module exposes `reduce(values, sample_weight, count)`, so a padded final batch
(zero-weight rows) can be divided by the number of real samples.

Everything here is jit-safe: Python branches only look at static shapes and
options, never at array values. The host-side label check `check_labels` is the
one exception: it reads numpy arrays before training starts.

Example:

>>> loss = CategoricalCrossentropy(from_logits=True)
>>> loss(y_true_one_hot, logits)                  # scalar
>>> loss.per_sample(y_true_one_hot, logits)       # shape (batch,)
"""

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from .. import _settings  # kerasx.config.epsilon(), read when a loss is traced

__all__ = [
    "EPSILON",
    "REDUCTIONS",
    "Loss",
    "LossFunctionWrapper",
    "CategoricalCrossentropy",
    "SparseCategoricalCrossentropy",
    "BinaryCrossentropy",
    "MeanSquaredError",
    "MeanAbsoluteError",
    "Huber",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "binary_crossentropy",
    "mean_squared_error",
    "mean_absolute_error",
    "huber",
    "Hinge",
    "SquaredHinge",
    "CategoricalHinge",
    "KLDivergence",
    "Poisson",
    "LogCosh",
    "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError",
    "CosineSimilarity",
    "BinaryFocalCrossentropy",
    "CategoricalFocalCrossentropy",
    "CategoricalGeneralizedCrossEntropy",
    "Dice",
    "Tversky",
    "Circle",
    "CTC",
    "hinge",
    "squared_hinge",
    "categorical_hinge",
    "kl_divergence",
    "poisson",
    "log_cosh",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "cosine_similarity",
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_generalized_cross_entropy",
    "dice",
    "tversky",
    "circle",
    "ctc",
    "serialize",
    "deserialize",
    "squeeze_or_expand_to_same_rank",
    "reduce",
    "reduce_weighted_values",
    "get",
    "check_labels",
]

EPSILON = 1e-7  # keras.backend.epsilon(): probabilities are clipped to [EPSILON, 1 - EPSILON].
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


# ---------------------------------------------------------------------------
# Shape helpers
# ---------------------------------------------------------------------------


def squeeze_or_expand_to_same_rank(x1, x2, expand_rank_1=True):
    """Squeezes or expands a trailing size-1 axis so two arrays have equal rank.

    Mirrors `keras.src.losses.loss.squeeze_or_expand_to_same_rank`: acts only when
    the ranks differ by exactly one and the longer array ends in a size-1 axis.
    A rank-1 partner is expanded (`(n,)` -> `(n, 1)`) rather than the other
    array squeezed, unless `expand_rank_1=False`.

    Args:
        x1: An array.
        x2: An array.
        expand_rank_1: Whether to expand a rank-1 partner instead of squeezing.

    Returns:
        The pair `(x1, x2)`, possibly reshaped.
    """
    r1, r2 = jnp.ndim(x1), jnp.ndim(x2)
    if r1 == r2:
        return x1, x2
    if r1 == r2 + 1 and jnp.shape(x1)[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = jnp.expand_dims(x2, -1)
        else:
            x1 = jnp.squeeze(x1, -1)
    if r2 == r1 + 1 and jnp.shape(x2)[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = jnp.expand_dims(x1, -1)
        else:
            x2 = jnp.squeeze(x2, -1)
    return x1, x2


def _to_float(x, dtype=None):
    """Converts to a float array: `dtype`, or x's own float dtype, or float32."""
    x = jnp.asarray(x)
    if dtype is not None:
        return x.astype(dtype)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        return x.astype(jnp.float32)
    return x


def _check_same_shape(fn_name, y_true, y_pred):
    if jnp.shape(y_true) != jnp.shape(y_pred):
        raise ValueError(
            f"In `{fn_name}`, `y_true` and `y_pred` must have the same shape. "
            f"Received: y_true.shape={jnp.shape(y_true)}, y_pred.shape={jnp.shape(y_pred)}"
        )


# ---------------------------------------------------------------------------
# Per-sample functions
# ---------------------------------------------------------------------------


def _log_probs(y_pred, from_logits, axis):
    """Log-probabilities the way Keras computes them (renormalise, then clip)."""
    if from_logits:
        return jax.nn.log_softmax(y_pred, axis=axis)
    probs = y_pred / jnp.sum(y_pred, axis=axis, keepdims=True)
    return jnp.log(jnp.clip(probs, _settings.EPSILON, 1.0 - _settings.EPSILON))


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Computes the categorical crossentropy between one-hot labels and predictions.

    With `from_logits=False`, `y_pred` is renormalised to sum to one along `axis`
    and clipped to `[1e-7, 1 - 1e-7]` before the log, as in Keras.

    Args:
        y_true: One-hot (or soft) labels, same shape as `y_pred`.
        y_pred: Probabilities, or logits if `from_logits=True`.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Float in `[0, 1]`; labels become
            `y_true * (1 - label_smoothing) + label_smoothing / num_classes`,
            where `num_classes = y_true.shape[-1]` (Keras uses the last axis here
            whatever `axis` is).
        axis: The class axis.

    Returns:
        The loss, with `axis` reduced: shape `y_pred.shape` without `axis`.
    """
    if isinstance(axis, bool):
        raise ValueError(f"`axis` must be an int. Received: axis={axis!r} of type {type(axis)}")
    y_pred = _to_float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    if label_smoothing:
        num_classes = jnp.shape(y_true)[-1]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / num_classes
    _check_same_shape("categorical_crossentropy", y_true, y_pred)
    if jnp.ndim(y_pred) < 1:
        raise ValueError(
            "In `categorical_crossentropy`, `y_true` and `y_pred` must be at least rank 1. "
            f"Received: y_true.shape={jnp.shape(y_true)}, y_pred.shape={jnp.shape(y_pred)}"
        )
    return -jnp.sum(y_true * _log_probs(y_pred, from_logits, axis), axis=axis)


def _sparse_crossentropy_and_mask(y_true, y_pred, from_logits, ignore_class, axis):
    """Sparse categorical crossentropy plus the valid-label mask (None if no `ignore_class`)."""
    y_pred = _to_float(y_pred)
    y_true = jnp.asarray(y_true)
    if jnp.ndim(y_true) == jnp.ndim(y_pred) and jnp.shape(y_true)[axis] == 1:
        y_true = jnp.squeeze(y_true, axis=axis)
    if jnp.ndim(y_pred) < 1:
        raise ValueError(
            "In `sparse_categorical_crossentropy`, `y_pred` must be at least rank 1. "
            f"Received: y_pred.shape={jnp.shape(y_pred)}"
        )
    class_axis = axis % jnp.ndim(y_pred)
    expected = tuple(d for i, d in enumerate(jnp.shape(y_pred)) if i != class_axis)
    if jnp.shape(y_true) != expected:
        raise ValueError(
            "In `sparse_categorical_crossentropy`, `y_true` must hold one integer label per "
            f"sample: expected y_true.shape={expected} (or {expected + (1,)}) for "
            f"y_pred.shape={jnp.shape(y_pred)}. Received: y_true.shape={jnp.shape(y_true)}"
        )
    mask = None
    if ignore_class is not None:
        mask = y_true != jnp.asarray(ignore_class).astype(y_true.dtype)
        y_true = jnp.where(mask, y_true, 0)
    labels = y_true.astype(jnp.int32)
    one_hot = jax.nn.one_hot(labels, jnp.shape(y_pred)[class_axis], axis=class_axis, dtype=y_pred.dtype)
    values = -jnp.sum(one_hot * _log_probs(y_pred, from_logits, class_axis), axis=class_axis)
    if mask is not None:
        values = jnp.where(mask, values, 0.0)
    return values, mask


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """Computes the crossentropy between integer labels and predictions.

    Args:
        y_true: Integer class ids, shape `y_pred.shape` without the class axis
            (a trailing axis of size 1 is accepted and squeezed).
        y_pred: Probabilities, or logits if `from_logits=True`.
        from_logits: Whether `y_pred` holds logits.
        ignore_class: Optional class id (e.g. `-1` or `255`) whose samples get a
            loss of 0. The `Loss` class also excludes them from the mean, as
            Keras does; this function only zeroes them.
        axis: The class axis of `y_pred`.

    Returns:
        The loss per sample: shape `y_pred.shape` without the class axis.
    """
    values, _ = _sparse_crossentropy_and_mask(y_true, y_pred, from_logits, ignore_class, axis)
    return values


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """Computes the binary crossentropy, averaged over `axis`.

    With `from_logits=False`, `y_pred` is clipped to `[1e-7, 1 - 1e-7]` before
    the logs, as in Keras.

    Args:
        y_true: Labels in `[0, 1]`, same shape as `y_pred`.
        y_pred: Probabilities, or logits if `from_logits=True`.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Float in `[0, 1]`; labels are squeezed towards 0.5:
            `y_true * (1 - label_smoothing) + 0.5 * label_smoothing`.
        axis: The axis the mean is taken over.

    Returns:
        The loss with `axis` reduced.
    """
    y_pred = _to_float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    _check_same_shape("binary_crossentropy", y_true, y_pred)
    if from_logits:
        elementwise = -y_true * jax.nn.log_sigmoid(y_pred) - (1.0 - y_true) * jax.nn.log_sigmoid(-y_pred)
    else:
        p = jnp.clip(y_pred, _settings.EPSILON, 1.0 - _settings.EPSILON)
        elementwise = -(y_true * jnp.log(p) + (1.0 - y_true) * jnp.log(1.0 - p))
    return jnp.mean(elementwise, axis=axis)


def _regression_inputs(y_true, y_pred):
    y_pred = _to_float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    return squeeze_or_expand_to_same_rank(y_true, y_pred)


def mean_squared_error(y_true, y_pred):
    """Computes `mean(square(y_true - y_pred), axis=-1)`.

    Note (Keras semantics): a `(n,)` target against a `(n, 1)` prediction is
    expanded to `(n, 1)` and gives `n` values; `(n,)` against `(n,)` gives one
    scalar, the mean over the batch.
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return jnp.mean(jnp.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true, y_pred):
    """Computes `mean(abs(y_true - y_pred), axis=-1)` (see `mean_squared_error` for shapes)."""
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return jnp.mean(jnp.abs(y_true - y_pred), axis=-1)


def huber(y_true, y_pred, delta=1.0):
    """Computes the Huber loss, averaged over the last axis.

    Elementwise: `0.5 * e**2` where `|e| <= delta`, else `delta * |e| - 0.5 * delta**2`,
    with `e = y_pred - y_true`.

    Args:
        y_true: Targets.
        y_pred: Predictions.
        delta: Where the loss changes from quadratic to linear.

    Returns:
        The loss with the last axis reduced.
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    delta = jnp.asarray(delta, dtype=y_pred.dtype)
    error = y_pred - y_true
    abs_error = jnp.abs(error)
    half = jnp.asarray(0.5, dtype=y_pred.dtype)
    elementwise = jnp.where(
        abs_error <= delta, half * jnp.square(error), delta * abs_error - half * jnp.square(delta)
    )
    return jnp.mean(elementwise, axis=-1)


def _binary_to_hinge_labels(y_true):
    """Maps 0/1 labels to -1/1 when every label is 0 or 1 (a traced check, as in Keras)."""
    is_binary = jnp.all((y_true == 0) | (y_true == 1))
    return jnp.where(is_binary, 2.0 * y_true - 1.0, y_true)


def hinge(y_true, y_pred):
    """Computes `mean(maximum(1 - y_true * y_pred, 0), axis=-1)`.

    Args:
        y_true: Labels in `{-1, 1}`; if every label is 0 or 1 they are mapped to -1/1.
        y_pred: Predictions, same shape as `y_true`.

    Returns:
        The loss with the last axis reduced.
    """
    y_pred = _to_float(y_pred)
    y_true = _binary_to_hinge_labels(jnp.asarray(y_true).astype(y_pred.dtype))
    return jnp.mean(jnp.maximum(1.0 - y_true * y_pred, 0.0), axis=-1)


def squared_hinge(y_true, y_pred):
    """Computes `mean(square(maximum(1 - y_true * y_pred, 0)), axis=-1)` (labels as `hinge`)."""
    y_pred = _to_float(y_pred)
    y_true = _binary_to_hinge_labels(jnp.asarray(y_true).astype(y_pred.dtype))
    return jnp.mean(jnp.square(jnp.maximum(1.0 - y_true * y_pred, 0.0)), axis=-1)


def categorical_hinge(y_true, y_pred):
    """Computes `maximum(neg - pos + 1, 0)` over the last axis.

    `pos = sum(y_true * y_pred)` and `neg = max((1 - y_true) * y_pred)`.

    Args:
        y_true: One-hot labels (`{0, 1}` or `{-1, 1}`).
        y_pred: Predictions, same shape.

    Returns:
        The loss with the last axis reduced.
    """
    y_pred = _to_float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    pos = jnp.sum(y_true * y_pred, axis=-1)
    neg = jnp.max((1.0 - y_true) * y_pred, axis=-1)
    return jnp.maximum(neg - pos + 1.0, jnp.zeros((), y_pred.dtype))


def mean_absolute_percentage_error(y_true, y_pred):
    """Computes `100 * mean(abs((y_true - y_pred) / maximum(abs(y_true), 1e-7)), axis=-1)`."""
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    diff = jnp.abs((y_true - y_pred) / jnp.maximum(jnp.abs(y_true), _settings.EPSILON))
    return 100.0 * jnp.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true, y_pred):
    """Computes `mean(square(log(y_pred + 1) - log(y_true + 1)), axis=-1)`.

    Values below `1e-7` (zero and negatives) are replaced by `1e-7` first, as in Keras.
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    first = jnp.log(jnp.maximum(y_pred, _settings.EPSILON) + 1.0)
    second = jnp.log(jnp.maximum(y_true, _settings.EPSILON) + 1.0)
    return jnp.mean(jnp.square(first - second), axis=-1)


def _l2_normalize(x, axis):
    inv_norm = jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
    return x * jnp.minimum(inv_norm, 1.0 / _settings.EPSILON)


def cosine_similarity(y_true, y_pred, axis=-1):
    """Computes the negative cosine similarity `-sum(l2_norm(y_true) * l2_norm(y_pred), axis)`.

    A zero vector gives 0. Values lie in `[-1, 1]`; -1 means the vectors point the same way.

    Args:
        y_true: Targets.
        y_pred: Predictions.
        axis: The axis along which the similarity is computed.

    Returns:
        The loss with `axis` reduced.
    """
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    return -jnp.sum(_l2_normalize(y_true, axis) * _l2_normalize(y_pred, axis), axis=axis)


def log_cosh(y_true, y_pred):
    """Computes `mean(log(cosh(y_pred - y_true)), axis=-1)` in an overflow-safe form."""
    y_true, y_pred = _regression_inputs(y_true, y_pred)
    x = y_pred - y_true
    return jnp.mean(x + jax.nn.softplus(-2.0 * x) - jnp.log(2.0).astype(x.dtype), axis=-1)


def kl_divergence(y_true, y_pred):
    """Computes `sum(y_true * log(y_true / y_pred), axis=-1)`, both clipped to `[1e-7, 1]`."""
    y_pred = _to_float(y_pred)
    y_true = jnp.clip(jnp.asarray(y_true).astype(y_pred.dtype), _settings.EPSILON, 1.0)
    y_pred = jnp.clip(y_pred, _settings.EPSILON, 1.0)
    return jnp.sum(y_true * jnp.log(y_true / y_pred), axis=-1)


def poisson(y_true, y_pred):
    """Computes `mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)`."""
    y_pred = _to_float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    return jnp.mean(y_pred - y_true * jnp.log(y_pred + _settings.EPSILON), axis=-1)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1):
    """Computes the binary focal crossentropy (Lin et al., 2018), averaged over `axis`.

    Elementwise: `(1 - p_t) ** gamma * bce`, with `p_t = y * p + (1 - y) * (1 - p)`; with
    `apply_class_balancing`, also times `alpha` for class 1 and `1 - alpha` for class 0.

    Args:
        y_true: Labels in `[0, 1]`, same shape as `y_pred`.
        y_pred: Probabilities, or logits if `from_logits=True`.
        apply_class_balancing: Whether to weight the classes by `alpha`/`1 - alpha`.
        alpha: The weight of class 1.
        gamma: The focusing parameter (0 gives the binary crossentropy).
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Float in `[0, 1]`: labels are squeezed towards 0.5.
        axis: The axis the mean is taken over.

    Returns:
        The loss with `axis` reduced.
    """
    y_pred = _to_float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    _check_same_shape("binary_focal_crossentropy", y_true, y_pred)
    if from_logits:
        y_pred = jax.nn.sigmoid(y_pred)
    p = jnp.clip(y_pred, _settings.EPSILON, 1.0 - _settings.EPSILON)
    bce = -(y_true * jnp.log(p) + (1.0 - y_true) * jnp.log(1.0 - p))
    p_t = y_true * y_pred + (1.0 - y_true) * (1.0 - y_pred)
    focal = jnp.power(1.0 - p_t, gamma) * bce
    if apply_class_balancing:
        focal = (y_true * alpha + (1.0 - y_true) * (1.0 - alpha)) * focal
    return jnp.mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """Computes the alpha-balanced categorical focal crossentropy, summed over `axis`.

    Elementwise: `-alpha * (1 - p) ** gamma * y_true * log(p)`, with `p` the (renormalised,
    clipped) predicted probabilities.

    Args:
        y_true: One-hot (or soft) labels, same shape as `y_pred`.
        y_pred: Probabilities, or logits if `from_logits=True`.
        alpha: A float, or one weight per class.
        gamma: The focusing parameter (0 gives the weighted categorical crossentropy).
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Float in `[0, 1]`, as in `categorical_crossentropy`.
        axis: The class axis.

    Returns:
        The loss with `axis` reduced.
    """
    if isinstance(axis, bool):
        raise ValueError(f"`axis` must be an int. Received: axis={axis!r} of type {type(axis)}")
    y_pred = _to_float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / jnp.shape(y_true)[-1]
    if from_logits:
        y_pred = jax.nn.softmax(y_pred, axis=axis)
    eps = _settings.EPSILON
    output = jnp.clip(y_pred / jnp.sum(y_pred, axis=axis, keepdims=True), eps, 1.0 - eps)
    cce = -y_true * jnp.log(output)
    weight = jnp.power(1.0 - output, gamma) * jnp.asarray(alpha, y_pred.dtype)
    return jnp.sum(weight * cce, axis=axis)


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """Computes the generalized cross entropy `(1 - p ** q) / q` (Zhang & Sabuncu, 2018).

    Args:
        y_true: Integer class ids, shape `(batch,)` (a trailing axis of 1 is squeezed).
        y_pred: Class probabilities, shape `(batch, num_classes)`.
        q: Float in `(0, 1)`: near 0 it behaves like crossentropy, near 1 like MAE.

    Returns:
        The loss per sample, shape `(batch,)`.
    """
    y_pred = _to_float(y_pred)
    y_true = jnp.asarray(y_true)
    if jnp.ndim(y_true) == jnp.ndim(y_pred) and jnp.ndim(y_true) > 1 and jnp.shape(y_true)[-1] == 1:
        y_true = jnp.squeeze(y_true, -1)
    one_hot = jax.nn.one_hot(y_true.astype(jnp.int32), jnp.shape(y_pred)[-1], dtype=y_pred.dtype)
    p = jnp.sum(y_pred * one_hot, axis=-1)
    return (1.0 - jnp.power(p, q)) / q


def ctc(y_true, y_pred):
    """Computes the CTC (Connectionist Temporal Classification) loss per sample.

    Args:
        y_true: Integer labels `(batch, max_label_length)`; 0 is the blank/padding index and
            the label length is the number of non-zero entries.
        y_pred: Logits `(batch, time_steps, num_classes)` (not softmax-normalised).

    Returns:
        The loss per sample, shape `(batch,)`.
    """
    if jnp.ndim(y_true) != 2:
        raise ValueError(
            "Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` in "
            f"integer format. Received: y_true.shape={jnp.shape(y_true)}")
    if jnp.ndim(y_pred) != 3:
        raise ValueError(
            "Logits `y_pred` are expected to be a tensor of shape "
            f"`(batch_size, max_length, num_classes)`. Received: y_pred.shape={jnp.shape(y_pred)}")
    labels = jnp.asarray(y_true).astype(jnp.int32)
    logits = _to_float(y_pred)
    return _ctc_jit(labels, logits.astype(jnp.promote_types(logits.dtype, jnp.float32)))


@jax.jit
def _ctc_jit(labels, logits):
    """CTC per sample, jitted so that eager calls compile its scan once per shape."""
    import optax

    label_length = jnp.sum(labels != 0, axis=-1)
    label_pad = (jnp.arange(jnp.shape(labels)[1])[None, :] >= label_length[:, None])
    logit_pad = jnp.zeros(jnp.shape(logits)[:2], logits.dtype)
    return optax.ctc_loss(logits, logit_pad, labels, label_pad.astype(logits.dtype), blank_id=0,
                          log_epsilon=-1e5)


def dice(y_true, y_pred, axis=None):
    """Computes the Dice loss `1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred))`.

    Args:
        y_true: Targets.
        y_pred: Predictions.
        axis: Axes the sums run over; `None` (the default) sums over everything, batch
            included, and gives one scalar.

    Returns:
        The loss with `axis` reduced.
    """
    y_pred = _to_float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    axis = _axes(axis)
    intersection = jnp.sum(y_true * y_pred, axis=axis)
    union = jnp.sum(y_true, axis=axis) + jnp.sum(y_pred, axis=axis) + _settings.EPSILON
    return 1.0 - 2.0 * intersection / union


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """Computes the Tversky loss `1 - tp / (tp + alpha * fp + beta * fn)`.

    `tp = sum(y_true * y_pred)`, `fp = sum((1 - y_pred) * y_true)`,
    `fn = sum(y_pred * (1 - y_true))` (Keras's definitions); `alpha = beta = 0.5` is Dice.

    Args:
        y_true: Targets.
        y_pred: Predictions.
        alpha: Weight of `fp`.
        beta: Weight of `fn`.
        axis: Axes the sums run over (`None`: everything, giving one scalar).

    Returns:
        The loss with `axis` reduced.
    """
    y_pred = _to_float(y_pred)
    y_true = jnp.asarray(y_true).astype(y_pred.dtype)
    axis = _axes(axis)
    tp = jnp.sum(y_true * y_pred, axis=axis)
    fp = jnp.sum((1.0 - y_pred) * y_true, axis=axis)
    fn = jnp.sum(y_pred * (1.0 - y_true), axis=axis)
    return 1.0 - tp / (tp + fp * alpha + fn * beta + _settings.EPSILON)


def _axes(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _circle_values(y_true, y_pred, ref_labels, ref_embeddings, remove_diagonal, gamma, margin,
                   ref_mask=None):
    """Circle loss per sample; `ref_mask` (nonzero for the references that count) leaves the
    padding rows of a padded batch out of every sample's positives and negatives."""
    y_pred = _to_float(y_pred)
    labels = jnp.reshape(jnp.asarray(y_true).astype(jnp.int32), (-1, 1))
    ref_embeddings = y_pred if ref_embeddings is None else _to_float(ref_embeddings)
    ref = labels if ref_labels is None else jnp.reshape(
        jnp.asarray(ref_labels).astype(jnp.int32), (-1, 1))
    distances = jnp.maximum(1.0 - y_pred @ ref_embeddings.T, 0.0)
    positive = labels == ref.T
    negative = jnp.logical_not(positive)
    if remove_diagonal:
        positive = positive & ~jnp.eye(labels.shape[0], ref.shape[0], dtype=bool)
    if ref_mask is not None:
        counted = jnp.reshape(jnp.asarray(ref_mask) != 0, (1, -1))
        positive, negative = positive & counted, negative & counted
    pos_w = jnp.maximum((margin + distances) * positive, 0.0)
    neg_w = jnp.maximum((1.0 + margin - distances) * negative, 0.0)
    pos_logits = -gamma * pos_w * (margin - distances)
    neg_logits = gamma * neg_w * ((1.0 - margin) - distances)
    p_loss = jax.nn.logsumexp(jnp.where(positive, pos_logits, -jnp.inf), axis=1)
    n_loss = jax.nn.logsumexp(jnp.where(negative, neg_logits, -jnp.inf), axis=1)
    return jax.nn.softplus(p_loss + n_loss)


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80,
           margin=0.4):
    """Computes the Circle loss (Sun et al., 2020) of L2-normalised embeddings, per sample.

    The `Circle` class averages only the samples with a positive loss, as Keras does.

    Args:
        y_true: Integer labels `(batch,)`.
        y_pred: L2-normalised embeddings `(batch, dim)`.
        ref_labels: Labels of the reference embeddings (default `y_true`).
        ref_embeddings: Reference embeddings (default `y_pred`).
        remove_diagonal: Whether a sample is left out of its own positives.
        gamma: The scale of the similarity scores.
        margin: The relaxation margin.

    Returns:
        The loss per sample, shape `(batch,)`.
    """
    return _circle_values(y_true, y_pred, ref_labels, ref_embeddings, remove_diagonal, gamma,
                          margin)


# ---------------------------------------------------------------------------
# Reductions
# ---------------------------------------------------------------------------


def _standardize_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"Invalid value for argument `reduction`. Expected one of {list(REDUCTIONS)}. "
            f"Received: reduction={reduction!r}"
        )
    return reduction


def _broadcast_weight(values, sample_weight):
    """Aligns `sample_weight` with `values` (Keras's squeeze/expand, then trailing axes)."""
    values, sample_weight = squeeze_or_expand_to_same_rank(values, sample_weight)
    extra = jnp.ndim(values) - jnp.ndim(sample_weight)
    if extra > 0:  # e.g. per-timestep losses (n, t) with per-sample weights (n,)
        sample_weight = jnp.reshape(sample_weight, jnp.shape(sample_weight) + (1,) * extra)
    return values, sample_weight


def _divide_no_nan(x, y):
    safe_y = jnp.where(y == 0, jnp.ones_like(y), y)
    return jnp.where(y == 0, jnp.zeros_like(x), x / safe_y)


def reduce_weighted_values(values, sample_weight=None, reduction="sum_over_batch_size", mask=None):
    """Weights per-sample values and reduces them, like `keras.losses.Loss.__call__`.

    Args:
        values: Per-sample (or per-element) losses.
        sample_weight: Optional weights broadcastable to `values` after Keras's
            squeeze/expand of a trailing size-1 axis.
        reduction: `"sum_over_batch_size"`/`"mean"` (weighted sum divided by the
            number of elements of `values`), `"sum"`, `"mean_with_sample_weight"`
            (divided by the sum of the weights), or `"none"`/`None`.
        mask: Optional boolean array of valid entries (from `ignore_class`);
            masked entries are excluded from the mean as in Keras.

    Returns:
        A scalar, or the weighted values for `"none"`/`None`.
    """
    reduction = _standardize_reduction(reduction)
    values = jnp.asarray(values)
    if mask is not None:
        if reduction in ("sum_over_batch_size", "mean"):
            # Valid entries get weight total/valid so that the mean is over valid entries.
            mask_f = mask.astype(values.dtype)
            total = jnp.asarray(mask_f.size, values.dtype)
            float_mask = jnp.where(mask, _divide_no_nan(total, jnp.sum(mask_f)), 0.0).astype(values.dtype)
        else:
            float_mask = mask.astype(values.dtype)
        if sample_weight is None:
            sample_weight = float_mask
        else:
            float_mask, sample_weight = squeeze_or_expand_to_same_rank(
                float_mask, jnp.asarray(sample_weight, values.dtype)
            )
            sample_weight = sample_weight * float_mask
    if sample_weight is not None:
        values, sample_weight = _broadcast_weight(values, jnp.asarray(sample_weight).astype(values.dtype))
        values = values * sample_weight
    if reduction in (None, "none") or jnp.shape(values) in ((), (0,)):
        return values
    loss = jnp.sum(values)
    if reduction == "sum":
        return loss
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = jnp.sum(sample_weight).astype(loss.dtype)
    else:
        divisor = jnp.asarray(values.size, loss.dtype)
    return _divide_no_nan(loss, divisor)


def reduce(values, sample_weight, count):
    """Weighted mean over real samples, for batches padded with zero-weight rows.

    Computes `sum(values * sample_weight) / (count * prod(values.shape[1:]))`:
    for per-sample values of shape `(batch,)` that is
    `sum(values * sample_weight) / count`, and for per-element values (e.g. one
    loss per timestep) it matches Keras's "sum_over_batch_size", which divides by
    the number of elements.

    Args:
        values: Per-sample losses, leading axis = batch (padded rows included).
        sample_weight: Weights broadcastable to `values` like Keras's
            `squeeze_or_expand_to_same_rank`; padded rows must have weight 0.
        count: The number of real (unpadded) samples; a Python number or a
            scalar array (it may be traced).

    Returns:
        A scalar.
    """
    values = jnp.asarray(values)
    values, sample_weight = _broadcast_weight(values, jnp.asarray(sample_weight).astype(values.dtype))
    per_row = int(np.prod(jnp.shape(values)[1:])) if jnp.ndim(values) > 1 else 1
    divisor = jnp.asarray(count, values.dtype) * per_row
    return _divide_no_nan(jnp.sum(values * sample_weight), divisor)


def reduce_padded(values, sample_weight, row_mask, count, reduction="sum_over_batch_size",
                  mask=None):
    """The loss Keras computes on the real rows of a batch padded to a fixed size.

    Honours the loss's `reduction` and its own `mask` (from `ignore_class`), as
    `reduce_weighted_values` does on the unpadded batch:

    - `"sum_over_batch_size"`/`"mean"`: `sum(values * w)` over valid entries divided by their
      number (the real rows' entries, less those the loss masks out);
    - `"sum"`: `sum(values * w)` over valid entries;
    - `"mean_with_sample_weight"`: divided by the sum of the weights of the valid entries.

    Args:
        values: Per-sample (or per-element) losses, leading axis = batch (pad rows included).
        sample_weight: Weights per sample (or element); pad rows must have weight 0.
        row_mask: `(batch,)` booleans, True for real rows.
        count: The number of real rows (used only for scalar `values`, see `reduce`).
        reduction: The loss's reduction; `"none"` cannot train and raises.
        mask: Optional boolean array of valid entries of `values`.

    Returns:
        A scalar.
    """
    reduction = _standardize_reduction(reduction)
    if reduction in (None, "none"):
        raise ValueError("A loss with reduction='none' returns one value per sample; training "
                         "needs a scalar. Use 'sum_over_batch_size' (the default), 'sum' or "
                         "'mean_with_sample_weight'.")
    values = jnp.asarray(values)
    if jnp.ndim(values) == 0:  # a loss already reduced over the batch (rank-1 outputs)
        return reduce(values, sample_weight, count)
    values, weight = _broadcast_weight(values, jnp.asarray(sample_weight).astype(values.dtype))
    _, valid = _broadcast_weight(values, jnp.asarray(row_mask).astype(values.dtype))
    if mask is not None:
        _, loss_mask = _broadcast_weight(values, jnp.asarray(mask).astype(values.dtype))
        valid = valid * loss_mask
    valid = jnp.broadcast_to(valid, jnp.shape(values))
    weight = jnp.broadcast_to(weight, jnp.shape(values)) * valid
    total = jnp.sum(values * weight)
    if reduction == "sum":
        return total
    divisor = jnp.sum(weight) if reduction == "mean_with_sample_weight" else jnp.sum(valid)
    return _divide_no_nan(total, divisor)


# ---------------------------------------------------------------------------
# Loss classes
# ---------------------------------------------------------------------------


class Loss:
    """Base class: holds options, reduces per-sample values to a scalar.

    Subclasses implement `call(y_true, y_pred)` returning per-sample values, or
    `call_with_mask` when some entries must be excluded from the mean.

    Args:
        name: Name of the loss (defaults to the snake-case class name).
        reduction: `"sum_over_batch_size"` (default), `"sum"`, `"mean"`,
            `"mean_with_sample_weight"`, `"none"` or `None`.
        dtype: Computation dtype; inputs are cast to it (Keras casts to
            `floatx()`, i.e. float32).
    """

    def __init__(self, name=None, reduction="sum_over_batch_size", dtype=None):
        self.name = name or _snake_case(type(self).__name__)
        self.reduction = _standardize_reduction(reduction)
        self.dtype = jnp.dtype(dtype or jnp.float32)

    def call(self, y_true, y_pred):
        """Returns per-sample losses (to be implemented by subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} must implement `call(y_true, y_pred)`.")

    def call_with_mask(self, y_true, y_pred):
        """Returns `(per_sample_values, mask)`; `mask` is None or a boolean array of valid entries."""
        return self.call(y_true, y_pred), None

    def _cast_inputs(self, y_true, y_pred):
        return _cast_tree(y_true, self.dtype), _cast_tree(y_pred, self.dtype)

    def per_sample(self, y_true, y_pred):
        """Returns the unreduced, unweighted losses (shape `(batch,)` for usual inputs)."""
        return self.per_sample_with_mask(y_true, y_pred)[0]

    def per_sample_with_mask(self, y_true, y_pred):
        """Returns `(per_sample_values, mask)`; see `call_with_mask`."""
        y_true, y_pred = self._cast_inputs(y_true, y_pred)
        return self.call_with_mask(y_true, y_pred)

    def __call__(self, y_true, y_pred, sample_weight=None):
        """Computes the reduced loss, as `keras.losses.Loss.__call__`.

        Args:
            y_true: Targets.
            y_pred: Predictions.
            sample_weight: Optional per-sample (or per-element) weights.

        Returns:
            A scalar, or the weighted per-sample values when `reduction` is
            `"none"`/`None`.
        """
        values, mask = self.per_sample_with_mask(y_true, y_pred)
        return reduce_weighted_values(values, sample_weight, self.reduction, mask=mask)

    def get_config(self):
        """Returns the constructor arguments as a dict."""
        return {"name": self.name, "reduction": self.reduction}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


def _cast_tree(x, dtype):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a).astype(dtype), x)


class LossFunctionWrapper(Loss):
    """Wraps a per-sample function `fn(y_true, y_pred, **kwargs)` as a `Loss`.

    Like Keras, `y_true` and `y_pred` are first brought to the same rank by
    squeezing/expanding a trailing size-1 axis.

    Args:
        fn: A function returning per-sample losses.
        reduction: See `Loss`.
        name: Name of the loss (defaults to `fn.__name__`).
        dtype: See `Loss`.
        **kwargs: Keyword arguments passed to `fn`.
    """

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, dtype=None, **kwargs):
        if not callable(fn):
            raise ValueError(f"Expected `fn` to be callable. Received: fn={fn!r}")
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction, dtype=dtype)
        self.fn = fn
        self.fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self):
        return {**super().get_config(), "fn": getattr(self.fn, "__name__", repr(self.fn)), **self.fn_kwargs}


class CategoricalCrossentropy(LossFunctionWrapper):
    """Crossentropy between one-hot labels `(batch, k)` and predictions `(batch, k)`.

    Args:
        from_logits: Whether `y_pred` holds logits (recommended) or probabilities.
        label_smoothing: Float in `[0, 1]`, see `categorical_crossentropy`.
        axis: The class axis.
        reduction: See `Loss`.
        name: Defaults to `"categorical_crossentropy"`.
        dtype: See `Loss`.
    """

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="categorical_crossentropy",
        dtype=None,
    ):
        _check_smoothing(label_smoothing)
        super().__init__(
            categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis

    def get_config(self):
        return {
            **Loss.get_config(self),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Crossentropy between integer labels `(batch,)` and predictions `(batch, k)`.

    Args:
        from_logits: Whether `y_pred` holds logits (recommended) or probabilities.
        ignore_class: Optional class id whose samples are excluded: their loss is
            0 and, with `"sum_over_batch_size"`, they do not count in the mean.
        reduction: See `Loss`.
        axis: The class axis.
        name: Defaults to `"sparse_categorical_crossentropy"`.
        dtype: See `Loss`.
    """

    def __init__(
        self,
        from_logits=False,
        ignore_class=None,
        reduction="sum_over_batch_size",
        axis=-1,
        name="sparse_categorical_crossentropy",
        dtype=None,
    ):
        super().__init__(
            sparse_categorical_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            ignore_class=ignore_class,
            axis=axis,
        )
        self.from_logits = from_logits
        self.ignore_class = ignore_class
        self.axis = axis

    def _cast_inputs(self, y_true, y_pred):
        # Labels stay integers (Keras round-trips them through float32; same result).
        y_true = jnp.asarray(y_true)
        if not jnp.issubdtype(y_true.dtype, jnp.integer):
            y_true = y_true.astype(self.dtype)
        return y_true, _cast_tree(y_pred, self.dtype)

    def call_with_mask(self, y_true, y_pred):
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        return _sparse_crossentropy_and_mask(y_true, y_pred, self.from_logits, self.ignore_class, self.axis)

    def call(self, y_true, y_pred):
        return self.call_with_mask(y_true, y_pred)[0]

    def get_config(self):
        return {**Loss.get_config(self), "from_logits": self.from_logits, "ignore_class": self.ignore_class}


class BinaryCrossentropy(LossFunctionWrapper):
    """Crossentropy for 0/1 labels, averaged over the last axis.

    Args:
        from_logits: Whether `y_pred` holds logits (recommended) or probabilities.
        label_smoothing: Float in `[0, 1]`, see `binary_crossentropy`.
        axis: The axis averaged over.
        reduction: See `Loss`.
        name: Defaults to `"binary_crossentropy"`.
        dtype: See `Loss`.
    """

    def __init__(
        self,
        from_logits=False,
        label_smoothing=0.0,
        axis=-1,
        reduction="sum_over_batch_size",
        name="binary_crossentropy",
        dtype=None,
    ):
        _check_smoothing(label_smoothing)
        super().__init__(
            binary_crossentropy,
            reduction=reduction,
            name=name,
            dtype=dtype,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
            axis=axis,
        )
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis

    def get_config(self):
        return {
            **Loss.get_config(self),
            "from_logits": self.from_logits,
            "label_smoothing": self.label_smoothing,
            "axis": self.axis,
        }


class MeanSquaredError(LossFunctionWrapper):
    """Mean of squared errors over the last axis: `mean(square(y_true - y_pred))`."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_error", dtype=None):
        super().__init__(mean_squared_error, reduction=reduction, name=name, dtype=dtype)

    def get_config(self):
        return Loss.get_config(self)


class MeanAbsoluteError(LossFunctionWrapper):
    """Mean of absolute errors over the last axis: `mean(abs(y_true - y_pred))`."""

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_error", dtype=None):
        super().__init__(mean_absolute_error, reduction=reduction, name=name, dtype=dtype)

    def get_config(self):
        return Loss.get_config(self)


class Huber(LossFunctionWrapper):
    """Huber loss, quadratic within `delta` of the target and linear outside.

    Args:
        delta: Where the loss changes from quadratic to linear.
        reduction: See `Loss`.
        name: Defaults to `"huber_loss"` (the Keras name).
        dtype: See `Loss`.
    """

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss", dtype=None):
        super().__init__(huber, reduction=reduction, name=name, dtype=dtype, delta=delta)
        self.delta = delta

    def get_config(self):
        return {**Loss.get_config(self), "delta": self.delta}


class _SimpleLoss(LossFunctionWrapper):
    """A `LossFunctionWrapper` whose only options are `reduction`, `name` and `dtype`."""

    _fn = None
    _default_name = None

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        super().__init__(type(self)._fn, reduction=reduction, name=name or self._default_name,
                         dtype=dtype)

    def get_config(self):
        return Loss.get_config(self)


class Hinge(_SimpleLoss):
    """Hinge loss `mean(maximum(1 - y_true * y_pred, 0))`; 0/1 labels are mapped to -1/1.

    Args:
        reduction: See `Loss`.
        name: Defaults to `"hinge"`.
        dtype: See `Loss`.
    """

    _fn = staticmethod(hinge)

    def __init__(self, reduction="sum_over_batch_size", name="hinge", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class SquaredHinge(_SimpleLoss):
    """Squared hinge loss `mean(square(maximum(1 - y_true * y_pred, 0)))`.

    Args:
        reduction: See `Loss`.
        name: Defaults to `"squared_hinge"`.
        dtype: See `Loss`.
    """

    _fn = staticmethod(squared_hinge)

    def __init__(self, reduction="sum_over_batch_size", name="squared_hinge", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class CategoricalHinge(_SimpleLoss):
    """Categorical hinge loss `maximum(neg - pos + 1, 0)` for one-hot labels.

    Args:
        reduction: See `Loss`.
        name: Defaults to `"categorical_hinge"`.
        dtype: See `Loss`.
    """

    _fn = staticmethod(categorical_hinge)

    def __init__(self, reduction="sum_over_batch_size", name="categorical_hinge", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class KLDivergence(_SimpleLoss):
    """Kullback-Leibler divergence `sum(y_true * log(y_true / y_pred))` of distributions.

    Args:
        reduction: See `Loss`.
        name: Defaults to `"kl_divergence"`.
        dtype: See `Loss`.
    """

    _fn = staticmethod(kl_divergence)

    def __init__(self, reduction="sum_over_batch_size", name="kl_divergence", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class Poisson(_SimpleLoss):
    """Poisson loss `mean(y_pred - y_true * log(y_pred))`.

    Args:
        reduction: See `Loss`.
        name: Defaults to `"poisson"`.
        dtype: See `Loss`.
    """

    _fn = staticmethod(poisson)

    def __init__(self, reduction="sum_over_batch_size", name="poisson", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class LogCosh(_SimpleLoss):
    """Log-cosh loss `mean(log(cosh(y_pred - y_true)))`.

    Args:
        reduction: See `Loss`.
        name: Defaults to `"log_cosh"`.
        dtype: See `Loss`.
    """

    _fn = staticmethod(log_cosh)

    def __init__(self, reduction="sum_over_batch_size", name="log_cosh", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class MeanAbsolutePercentageError(_SimpleLoss):
    """Mean absolute percentage error `100 * mean(abs((y_true - y_pred) / y_true))`.

    Args:
        reduction: See `Loss`.
        name: Defaults to `"mean_absolute_percentage_error"`.
        dtype: See `Loss`.
    """

    _fn = staticmethod(mean_absolute_percentage_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_absolute_percentage_error",
                 dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class MeanSquaredLogarithmicError(_SimpleLoss):
    """Mean squared logarithmic error `mean(square(log(y_true + 1) - log(y_pred + 1)))`.

    Args:
        reduction: See `Loss`.
        name: Defaults to `"mean_squared_logarithmic_error"`.
        dtype: See `Loss`.
    """

    _fn = staticmethod(mean_squared_logarithmic_error)

    def __init__(self, reduction="sum_over_batch_size", name="mean_squared_logarithmic_error",
                 dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class CTC(_SimpleLoss):
    """CTC loss of integer labels `(batch, max_label_length)` and logits `(batch, time, classes)`.

    Args:
        reduction: See `Loss`.
        name: Defaults to `"ctc"`.
        dtype: See `Loss`.
    """

    _fn = staticmethod(ctc)

    def __init__(self, reduction="sum_over_batch_size", name="ctc", dtype=None):
        super().__init__(reduction=reduction, name=name, dtype=dtype)


class CosineSimilarity(LossFunctionWrapper):
    """Negative cosine similarity `-sum(l2_norm(y_true) * l2_norm(y_pred), axis)`.

    Args:
        axis: The axis along which the similarity is computed.
        reduction: See `Loss`.
        name: Defaults to `"cosine_similarity"`.
        dtype: See `Loss`.
    """

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity",
                 dtype=None):
        _check_axis("CosineSimilarity", axis)
        super().__init__(cosine_similarity, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def get_config(self):
        # Keras 3 leaves `axis` out of the config; kept here so that a round trip keeps it.
        return {**Loss.get_config(self), "axis": self.axis}


class BinaryFocalCrossentropy(LossFunctionWrapper):
    """Binary focal crossentropy (Lin et al., 2018), averaged over `axis`.

    Args:
        apply_class_balancing: Whether to weight class 1 by `alpha` and class 0 by `1 - alpha`.
        alpha: The class-1 weight, in `[0, 1]`.
        gamma: The focusing parameter, `>= 0`.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Float in `[0, 1]`.
        axis: The axis averaged over.
        reduction: See `Loss`.
        name: Defaults to `"binary_focal_crossentropy"`.
        dtype: See `Loss`.
    """

    def __init__(self, apply_class_balancing=False, alpha=0.25, gamma=2.0, from_logits=False,
                 label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_focal_crossentropy", dtype=None):
        _check_smoothing(label_smoothing)
        _check_gamma(gamma)
        _check_axis("BinaryFocalCrossentropy", axis)
        super().__init__(binary_focal_crossentropy, reduction=reduction, name=name, dtype=dtype,
                         apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
                         from_logits=from_logits, label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis
        self.apply_class_balancing = apply_class_balancing
        self.alpha = alpha
        self.gamma = gamma

    def get_config(self):
        return {**Loss.get_config(self), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis,
                "apply_class_balancing": self.apply_class_balancing, "alpha": self.alpha,
                "gamma": self.gamma}


class CategoricalFocalCrossentropy(LossFunctionWrapper):
    """Alpha-balanced categorical focal crossentropy for one-hot labels.

    Args:
        alpha: A float, or a list with one weight per class.
        gamma: The focusing parameter, `>= 0`.
        from_logits: Whether `y_pred` holds logits.
        label_smoothing: Float in `[0, 1]`.
        axis: The class axis.
        reduction: See `Loss`.
        name: Defaults to `"categorical_focal_crossentropy"`.
        dtype: See `Loss`.
    """

    def __init__(self, alpha=0.25, gamma=2.0, from_logits=False, label_smoothing=0.0, axis=-1,
                 reduction="sum_over_batch_size", name="categorical_focal_crossentropy",
                 dtype=None):
        _check_smoothing(label_smoothing)
        _check_gamma(gamma)
        _check_axis("CategoricalFocalCrossentropy", axis)
        if isinstance(alpha, (list, tuple)):
            alpha = [float(a) for a in alpha]
        super().__init__(categorical_focal_crossentropy, reduction=reduction, name=name,
                         dtype=dtype, alpha=alpha, gamma=gamma, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits = from_logits
        self.label_smoothing = label_smoothing
        self.axis = axis
        self.alpha = alpha
        self.gamma = gamma

    def call(self, y_true, y_pred):
        if isinstance(self.alpha, list) and len(self.alpha) != jnp.shape(y_pred)[self.axis]:
            raise ValueError(
                f"CategoricalFocalCrossentropy: `alpha` has {len(self.alpha)} weights, one per "
                f"class expected: y_pred has {jnp.shape(y_pred)[self.axis]} classes on axis "
                f"{self.axis}. Received: alpha={self.alpha}, y_pred.shape={jnp.shape(y_pred)}")
        return super().call(y_true, y_pred)

    def get_config(self):
        return {**Loss.get_config(self), "from_logits": self.from_logits,
                "label_smoothing": self.label_smoothing, "axis": self.axis, "alpha": self.alpha,
                "gamma": self.gamma}


class CategoricalGeneralizedCrossEntropy(LossFunctionWrapper):
    """Generalized cross entropy `(1 - p ** q) / q` of integer labels (noise-robust).

    Args:
        q: Float in `(0, 1)`.
        reduction: See `Loss`.
        name: Defaults to `"categorical_generalized_cross_entropy"`.
        dtype: See `Loss`.
    """

    def __init__(self, q=0.5, reduction="sum_over_batch_size",
                 name="categorical_generalized_cross_entropy", dtype=None):
        if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < 1:
            raise ValueError(f"CategoricalGeneralizedCrossEntropy: `q` must be in the interval "
                             f"(0, 1). Received: q={q!r}")
        super().__init__(categorical_generalized_cross_entropy, reduction=reduction, name=name,
                         dtype=dtype, q=q)
        self.q = q

    def _cast_inputs(self, y_true, y_pred):
        return jnp.asarray(y_true), _cast_tree(y_pred, self.dtype)

    def get_config(self):
        return {**Loss.get_config(self), "q": self.q}


class Dice(LossFunctionWrapper):
    """Dice loss `1 - 2 * sum(y_true * y_pred) / (sum(y_true) + sum(y_pred))`.

    Args:
        reduction: See `Loss`.
        name: Defaults to `"dice"`.
        axis: Axes the sums run over; `None` sums over everything (one value per batch).
        dtype: See `Loss`.
    """

    def __init__(self, reduction="sum_over_batch_size", name="dice", axis=None, dtype=None):
        _check_axes(type(self).__name__, axis)
        super().__init__(dice, reduction=reduction, name=name, dtype=dtype, axis=axis)
        self.axis = axis

    def per_sample_with_row_mask(self, y_true, y_pred, row_mask):
        """`per_sample_with_mask` on a padded batch: the sums leave out the padding rows.

        Args:
            y_true: Targets, padding rows included.
            y_pred: Predictions, padding rows included.
            row_mask: `(batch,)`, nonzero for the real rows.

        Returns:
            `(values, None)`, the values of the real rows alone (a padding row's own value, where
            `axis` keeps the batch axis, is 1 and left for the caller to mask out).
        """
        return _call_without_padding(self, y_true, y_pred, row_mask), None

    def get_config(self):
        return {**Loss.get_config(self), "axis": self.axis}


class Tversky(LossFunctionWrapper):
    """Tversky loss `1 - tp / (tp + alpha * fp + beta * fn)`; `alpha = beta = 0.5` is Dice.

    Args:
        alpha: Weight of false positives.
        beta: Weight of false negatives.
        reduction: See `Loss`.
        name: Defaults to `"tversky"`.
        axis: Axes the sums run over; `None` sums over everything (one value per batch).
        dtype: See `Loss`.
    """

    def __init__(self, alpha=0.5, beta=0.5, reduction="sum_over_batch_size", name="tversky",
                 axis=None, dtype=None):
        _check_axes(type(self).__name__, axis)
        super().__init__(tversky, reduction=reduction, name=name, dtype=dtype, alpha=alpha,
                         beta=beta, axis=axis)
        self.alpha = alpha
        self.beta = beta
        self.axis = axis

    def per_sample_with_row_mask(self, y_true, y_pred, row_mask):
        """`per_sample_with_mask` on a padded batch: the sums leave out the padding rows
        (see `Dice.per_sample_with_row_mask`)."""
        return _call_without_padding(self, y_true, y_pred, row_mask), None

    def get_config(self):
        return {**Loss.get_config(self), "alpha": self.alpha, "beta": self.beta,
                "axis": self.axis}


class Circle(LossFunctionWrapper):
    """Circle loss of integer labels `(batch,)` and L2-normalised embeddings `(batch, dim)`.

    As in Keras, the mean runs over the samples whose loss is positive.

    Args:
        gamma: The scale of the similarity scores.
        margin: The relaxation margin.
        remove_diagonal: Whether a sample is left out of its own positives.
        reduction: See `Loss`.
        name: Defaults to `"circle"`.
        dtype: See `Loss`.
    """

    def __init__(self, gamma=80.0, margin=0.4, remove_diagonal=True,
                 reduction="sum_over_batch_size", name="circle", dtype=None):
        super().__init__(circle, reduction=reduction, name=name, dtype=dtype, gamma=gamma,
                         margin=margin, remove_diagonal=remove_diagonal)
        self.gamma = gamma
        self.margin = margin
        self.remove_diagonal = remove_diagonal

    def call_with_mask(self, y_true, y_pred):
        _check_embeddings(y_pred)
        values = self.call(y_true, y_pred)
        return values, values > 0

    def per_sample_with_row_mask(self, y_true, y_pred, row_mask):
        """`per_sample_with_mask` on a padded batch: the padding rows are nobody's positive
        or negative pair, so the real rows' losses are those of the unpadded batch.

        Args:
            y_true: Integer labels, padding rows included.
            y_pred: Embeddings `(batch, dim)`, padding rows included.
            row_mask: `(batch,)`, nonzero for the real rows.

        Returns:
            `(values, mask)`: the losses per row and the rows whose loss is positive (the
            padding rows' values are left for the caller to mask out).
        """
        y_true, y_pred = self._cast_inputs(y_true, y_pred)
        _check_embeddings(y_pred)
        y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
        real = jnp.asarray(row_mask) != 0
        y_pred = jnp.where(real[:, None], y_pred, jnp.zeros((), y_pred.dtype))  # finite padding
        values = _circle_values(y_true, y_pred, None, None, self.remove_diagonal, self.gamma,
                                self.margin, ref_mask=real)
        return values, values > 0

    def get_config(self):
        return {**Loss.get_config(self), "gamma": self.gamma, "margin": self.margin,
                "remove_diagonal": self.remove_diagonal}


def _check_embeddings(y_pred):
    if jnp.ndim(y_pred) != 2:
        raise ValueError(f"Circle expects embeddings y_pred of shape (batch, dim). "
                         f"Received: y_pred.shape={jnp.shape(y_pred)}")


def _call_without_padding(loss, y_true, y_pred, row_mask):
    """A Dice/Tversky loss's `fn` with the padding rows of both inputs set to 0, where they
    add nothing to any sum (`where`, not a product: a padding row is never read)."""
    y_true, y_pred = loss._cast_inputs(y_true, y_pred)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    real = jnp.asarray(row_mask) != 0

    def drop_padding(a):
        keep = jnp.reshape(real, jnp.shape(real) + (1,) * (jnp.ndim(a) - 1))
        return jnp.where(keep, a, jnp.zeros((), a.dtype))

    return loss.fn(drop_padding(y_true), drop_padding(y_pred), **loss.fn_kwargs)


def _check_gamma(gamma):
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or gamma < 0:
        raise ValueError(f"Received an invalid value for `gamma`, expected a number >= 0. "
                         f"Received: gamma={gamma!r}")


def _check_axis(cls_name, axis):
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ValueError(f"{cls_name}: `axis` must be an int. Received: axis={axis!r} of type "
                         f"{type(axis).__name__}")


def _check_axes(cls_name, axis):
    items = axis if isinstance(axis, (list, tuple)) else [] if axis is None else [axis]
    if any(isinstance(a, bool) or not isinstance(a, int) for a in items):
        raise ValueError(f"{cls_name}: `axis` must be None, an int or a tuple of ints. "
                         f"Received: axis={axis!r}")


def _check_smoothing(label_smoothing):
    if not 0.0 <= float(label_smoothing) <= 1.0:
        raise ValueError(
            "Received an invalid value for `label_smoothing`, expected a float in [0, 1]. "
            f"Received: label_smoothing={label_smoothing}"
        )


def _snake_case(name):
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


# ---------------------------------------------------------------------------
# Lookup
# ---------------------------------------------------------------------------

_BY_NAME = {
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "binary_crossentropy": BinaryCrossentropy,
    "bce": BinaryCrossentropy,
    "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError,
    "MSE": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError,
    "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError,
    "huber": Huber,
    "huber_loss": Huber,
}
_CLASSES = (
    CategoricalCrossentropy,
    SparseCategoricalCrossentropy,
    BinaryCrossentropy,
    MeanSquaredError,
    MeanAbsoluteError,
    Huber,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    KLDivergence,
    Poisson,
    LogCosh,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    CosineSimilarity,
    BinaryFocalCrossentropy,
    CategoricalFocalCrossentropy,
    CategoricalGeneralizedCrossEntropy,
    Dice,
    Tversky,
    Circle,
    CTC,
)
_BY_NAME.update({cls.__name__: cls for cls in _CLASSES})
# Keras's function names (and legacy aliases) resolve to the class with the same defaults.
_BY_NAME.update(
    {
        "BCE": BinaryCrossentropy,
        "hinge": Hinge,
        "squared_hinge": SquaredHinge,
        "categorical_hinge": CategoricalHinge,
        "kl_divergence": KLDivergence,
        "kld": KLDivergence,
        "KLD": KLDivergence,
        "poisson": Poisson,
        "log_cosh": LogCosh,
        "mean_absolute_percentage_error": MeanAbsolutePercentageError,
        "mape": MeanAbsolutePercentageError,
        "MAPE": MeanAbsolutePercentageError,
        "mean_squared_logarithmic_error": MeanSquaredLogarithmicError,
        "msle": MeanSquaredLogarithmicError,
        "MSLE": MeanSquaredLogarithmicError,
        "cosine_similarity": CosineSimilarity,
        "binary_focal_crossentropy": BinaryFocalCrossentropy,
        "categorical_focal_crossentropy": CategoricalFocalCrossentropy,
        "categorical_generalized_cross_entropy": CategoricalGeneralizedCrossEntropy,
        "dice": Dice,
        "tversky": Tversky,
        "circle": Circle,
        "ctc": CTC,
    }
)

# The per-sample functions by name (Keras's `ALL_OBJECTS_DICT` functions and aliases).
_FUNCTIONS = {
    fn.__name__: fn
    for fn in (
        categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy,
        mean_squared_error, mean_absolute_error, huber, hinge, squared_hinge, categorical_hinge,
        kl_divergence, poisson, log_cosh, mean_absolute_percentage_error,
        mean_squared_logarithmic_error, cosine_similarity, binary_focal_crossentropy,
        categorical_focal_crossentropy, categorical_generalized_cross_entropy, dice, tversky,
        circle, ctc,
    )
}
_FUNCTIONS.update({
    "bce": binary_crossentropy, "BCE": binary_crossentropy, "kld": kl_divergence,
    "KLD": kl_divergence, "mae": mean_absolute_error, "MAE": mean_absolute_error,
    "mse": mean_squared_error, "MSE": mean_squared_error, "mape": mean_absolute_percentage_error,
    "MAPE": mean_absolute_percentage_error, "msle": mean_squared_logarithmic_error,
    "MSLE": mean_squared_logarithmic_error,
})


def get(identifier):
    """Resolves a loss identifier to a `Loss`.

    Args:
        identifier: A Keras loss name or alias (`"categorical_crossentropy"`,
            `"mse"`, `"huber_loss"`, `"MeanSquaredError"`, ...), a `Loss`
            instance (returned as is), a `serialize` dict, or a callable `(y_true, y_pred) ->
            per-sample values` (wrapped in a `LossFunctionWrapper`).

    Returns:
        A `Loss`.

    Raises:
        ValueError: for an unknown name or a non-callable identifier.
    """
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, dict):  # Keras's `{"class_name": ..., "config": ...}`
        return get(deserialize(identifier))
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(
                f"Unknown loss: {identifier!r}. Expected one of {sorted(_BY_NAME)}, a `Loss` "
                "instance, or a callable `fn(y_true, y_pred)` returning per-sample losses."
            )
        return _BY_NAME[identifier]()
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier()
    if callable(identifier):
        return LossFunctionWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise ValueError(
        f"Could not interpret loss identifier: {identifier!r}. Expected a loss name "
        f"(one of {sorted(_BY_NAME)}), a `Loss` instance, or a callable."
    )


def serialize(loss):
    """Describes a loss (a `Loss` instance or a loss function) as Keras 3's dict.

    Args:
        loss: A `Loss` instance, a kerasx loss function (`hinge`, ...), or a registered
            custom object.

    Returns:
        `{"module": "keras.losses", "class_name": ..., "config": get_config(),
        "registered_name": None}` for a built-in class, and Keras's
        `{"module": "builtins", "class_name": "function", "config": name,
        "registered_name": "function"}` for a built-in function; other objects go
        through `kerasx.saving.serialize`.
    """
    return _serialize(loss, "keras.losses", _CLASSES, _FUNCTIONS)


def deserialize(name, custom_objects=None):
    """Rebuilds a loss from `serialize`'s dict, or from a name.

    Args:
        name: A dict from `serialize` (Keras's format), or a class/function name
            (`"Hinge"` gives a `Hinge()`; `"hinge"`, `"mse"` give the function).
        custom_objects: Optional `{name: class_or_function}` for custom losses.

    Returns:
        A `Loss` instance or a loss function.

    Raises:
        ValueError: for an unknown name or class, or a malformed config.
    """
    return _deserialize(name, custom_objects, "loss", Loss, _CLASSES, _FUNCTIONS)


def _serialize(obj, module, classes, functions):
    if obj is None:
        return None
    if isinstance(obj, classes) and type(obj) in classes:
        return {"module": module, "class_name": type(obj).__name__, "config": obj.get_config(),
                "registered_name": None}
    if callable(obj) and not isinstance(obj, type) and functions.get(getattr(obj, "__name__", None)) is obj:
        return {"module": "builtins", "class_name": "function", "config": obj.__name__,
                "registered_name": "function"}
    from .. import saving

    return saving.serialize(obj)


def _deserialize(config, custom_objects, kind, base, classes, functions):
    custom_objects = dict(custom_objects or {})
    by_class = {cls.__name__: cls for cls in classes}
    if config is None or isinstance(config, base):
        return config
    if isinstance(config, str):
        if config in custom_objects:
            obj = custom_objects[config]
            return obj() if isinstance(obj, type) else obj
        if config in by_class:
            return by_class[config]()
        if config in functions:
            return functions[config]
        raise ValueError(f"Unknown {kind}: {config!r}. Expected one of "
                         f"{sorted(set(by_class) | set(functions))}, or a name in "
                         "`custom_objects`.")
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"Could not deserialize {kind} {config!r:.200}: expected a name or a "
                         "dict with 'class_name' and 'config' (the format of `serialize`).")
    class_name, inner = config["class_name"], config.get("config")
    if class_name == "function":
        if isinstance(inner, str) and inner in custom_objects:
            return custom_objects[inner]
        if isinstance(inner, str) and inner in functions:
            return functions[inner]
    elif class_name in by_class and class_name not in custom_objects:
        if not isinstance(inner, dict):
            raise ValueError(f"The config of {kind} {class_name!r} should be a dict. "
                             f"Received: {inner!r:.200}")
        try:
            return by_class[class_name](**inner)
        except TypeError as e:
            raise ValueError(f"Cannot rebuild {kind} {class_name!r} from its config "
                             f"{inner!r:.200}: {e}") from None
    from .. import saving

    return saving.deserialize(config, custom_objects=custom_objects or None)


# ---------------------------------------------------------------------------
# Host-side label validation
# ---------------------------------------------------------------------------


def _kind(loss) -> Optional[str]:
    """Which label convention a loss expects: 'categorical', 'sparse' or None."""
    loss = get(loss)
    if isinstance(loss, SparseCategoricalCrossentropy):
        return "sparse"
    if isinstance(loss, CategoricalCrossentropy):
        return "categorical"
    fn = getattr(loss, "fn", None)
    if fn is sparse_categorical_crossentropy:
        return "sparse"
    if fn is categorical_crossentropy:
        return "categorical"
    if fn in (mean_squared_error, mean_absolute_error, huber, hinge, squared_hinge, log_cosh,
              mean_absolute_percentage_error, mean_squared_logarithmic_error, poisson,
              kl_divergence, binary_focal_crossentropy):
        return "elementwise"
    if fn in (categorical_focal_crossentropy, categorical_hinge):
        return "categorical"
    if fn is categorical_generalized_cross_entropy:
        return "sparse"
    return None


def _dims_match(a, b):
    return len(a) == len(b) and all(x is None or y is None or x == y for x, y in zip(a, b))


def _check_elementwise(name, t, p):
    """A loss that compares y_true with y_pred entry by entry: after Keras's rank adjustment
    (a trailing axis of 1 added or dropped), the shapes must be equal. Broadcasting (targets
    (n, 5) against predictions (n, 1)) would silently compare every prediction with every
    target column, so it is an error."""
    adjusted = t
    if len(t) == len(p) + 1 and t[-1] == 1:
        adjusted = t[:-1]
    elif len(p) == len(t) + 1 and p[-1] == 1:
        adjusted = t + (1,)
    if not _dims_match(adjusted, p):
        raise ValueError(
            f"Loss `{name}` compares y_true with y_pred entry by entry, so they must have the "
            f"same shape (up to a trailing axis of 1). Received: y_true.shape={t}, "
            f"y_pred.shape={p}; they would broadcast to another shape and the loss would "
            "compare each prediction with the wrong targets. Reshape the targets to the "
            "model's output shape.")


def check_labels(loss, y_true_shape, y_pred_shape, y_true_sample=None):
    """Checks on the host that labels fit the loss, before any training step.

    Catches the classic mix-ups with a message naming the loss and the fix:
    integer labels given to `categorical_crossentropy`, one-hot labels given to
    `sparse_categorical_crossentropy`, and sparse labels outside `[0, k)`.

    Args:
        loss: A loss identifier (anything `get` accepts).
        y_true_shape: Shape of the labels (`None` allowed for the batch axis).
        y_pred_shape: Shape of the model output.
        y_true_sample: Optional label array (numpy) to range-check sparse labels.

    Raises:
        ValueError: naming the loss, the expected and the received shapes or values.
    """
    kind = _kind(loss)
    if kind is None:
        return
    name = get(loss).name
    t, p = tuple(y_true_shape), tuple(y_pred_shape)
    if not p:
        return
    if kind == "elementwise":
        _check_elementwise(name, t, p)
        return
    k = p[-1]
    sparse_like = (len(t) == len(p) - 1 and _dims_match(t, p[:-1])) or (
        len(t) == len(p) and t[-1] == 1 and _dims_match(t[:-1], p[:-1])
    )
    if kind == "categorical":
        if k is not None and k > 1 and sparse_like:
            raise ValueError(
                f"Loss `{name}` expects one-hot labels of shape {p} matching y_pred, but received "
                f"integer class labels: y_true.shape={t}, y_pred.shape={p}. Either use "
                "loss='sparse_categorical_crossentropy', or one-hot encode the labels with "
                f"`kerasx.utils.to_categorical(y, num_classes={k})`."
            )
        if not _dims_match(t, p):
            raise ValueError(
                f"Loss `{name}` expects y_true and y_pred of the same shape. "
                f"Received: y_true.shape={t}, y_pred.shape={p}"
            )
        return
    # sparse
    if len(t) == len(p) and k is not None and k > 1 and t[-1] == k and _dims_match(t[:-1], p[:-1]):
        raise ValueError(
            f"Loss `{name}` expects integer class labels of shape {p[:-1]} (or {p[:-1] + (1,)}), "
            f"but received one-hot labels: y_true.shape={t}, y_pred.shape={p}. Either use "
            "loss='categorical_crossentropy', or pass the class ids `y.argmax(axis=-1)`."
        )
    if not sparse_like:
        raise ValueError(
            f"Loss `{name}` expects integer class labels of shape {p[:-1]} (or {p[:-1] + (1,)}) "
            f"for y_pred.shape={p}. Received: y_true.shape={t}"
        )
    if y_true_sample is not None and k is not None:
        labels = np.asarray(y_true_sample)
        ignore = getattr(get(loss), "ignore_class", None)
        if ignore is not None:
            labels = labels[labels != ignore]
        if labels.size == 0:
            return
        if not np.issubdtype(labels.dtype, np.integer):
            fractional = labels[labels != np.floor(labels)]
            if fractional.size:
                raise ValueError(
                    f"Loss `{name}` expects integer class labels in [0, {k}). "
                    f"Received a non-integer label: {fractional.flat[0].item()!r}"
                )
        bad = labels[(labels < 0) | (labels >= k)]
        if bad.size:
            raise ValueError(
                f"Loss `{name}` expects class labels in [0, {k}) for y_pred with {k} classes "
                f"(y_pred.shape={p}). Received a label of {bad.flat[0].item()!r} "
                f"(labels range over [{labels.min().item()!r}, {labels.max().item()!r}])."
            )
