"""Oracle tests for kerasx.training.losses against Keras 3 (JAX backend)."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from keras_oracle import keras, require_keras  # the oracle tests skip without Keras

from kerasx.training import losses  # noqa: E402

N, K = 8, 4
RTOL, ATOL = 1e-5, 1e-5


def _rng(seed=0):
    return np.random.default_rng(seed)


def _probs(rng, shape):
    p = rng.random(shape).astype("float32") + 0.05
    p = p / p.sum(-1, keepdims=True)
    # Exact 0 and 1 entries exercise the 1e-7 clipping.
    p[0] = 0.0
    p[0, 0] = 1.0
    return p


def _data(kind, seed=0):
    """Returns (y_true, y_pred) for a loss family."""
    rng = _rng(seed)
    if kind == "cat_probs":
        return np.eye(K, dtype="float32")[rng.integers(0, K, N)], _probs(rng, (N, K))
    if kind == "cat_logits":
        return np.eye(K, dtype="float32")[rng.integers(0, K, N)], rng.normal(size=(N, K)).astype("float32") * 3
    if kind == "sparse_probs":
        return rng.integers(0, K, N), _probs(rng, (N, K))
    if kind == "sparse_col_logits":
        return rng.integers(0, K, (N, 1)), rng.normal(size=(N, K)).astype("float32") * 3
    if kind == "bin_probs":
        p = rng.random((N, 1)).astype("float32")
        p[0], p[1] = 0.0, 1.0
        return rng.integers(0, 2, (N, 1)).astype("float32"), p
    if kind == "bin_vec_vs_col_logits":  # (n,) labels, (n, 1) outputs: Keras expands the labels
        return rng.integers(0, 2, N), rng.normal(size=(N, 1)).astype("float32") * 3
    if kind == "multilabel_probs":
        return rng.integers(0, 2, (N, 3)).astype("float32"), rng.random((N, 3)).astype("float32")
    if kind == "reg":
        return rng.normal(size=(N, 3)).astype("float32"), rng.normal(size=(N, 3)).astype("float32") * 2
    if kind == "reg_vec_vs_col":
        return rng.normal(size=(N,)).astype("float32"), rng.normal(size=(N, 1)).astype("float32") * 2
    if kind == "reg_vec_vs_vec":  # Keras reduces this to a scalar
        return rng.normal(size=(N,)).astype("float32"), rng.normal(size=(N,)).astype("float32") * 2
    raise KeyError(kind)


# (kerasx class, keras class, constructor kwargs, data kinds)
CASES = [
    ("CategoricalCrossentropy", {}, ["cat_probs"]),
    ("CategoricalCrossentropy", {"from_logits": True}, ["cat_logits"]),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, ["cat_probs"]),
    ("CategoricalCrossentropy", {"from_logits": True, "label_smoothing": 0.2}, ["cat_logits"]),
    ("SparseCategoricalCrossentropy", {}, ["sparse_probs"]),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, ["sparse_col_logits"]),
    ("BinaryCrossentropy", {}, ["bin_probs", "multilabel_probs"]),
    ("BinaryCrossentropy", {"from_logits": True}, ["bin_vec_vs_col_logits"]),
    ("BinaryCrossentropy", {"label_smoothing": 0.1}, ["bin_probs"]),
    ("BinaryCrossentropy", {"from_logits": True, "label_smoothing": 0.3}, ["bin_vec_vs_col_logits"]),
    ("MeanSquaredError", {}, ["reg", "reg_vec_vs_col", "reg_vec_vs_vec"]),
    ("MeanAbsoluteError", {}, ["reg", "reg_vec_vs_col"]),
    ("Huber", {}, ["reg", "reg_vec_vs_col"]),
    ("Huber", {"delta": 0.5}, ["reg"]),
]
PARAMS = [(cls, kw, kind) for cls, kw, kinds in CASES for kind in kinds]


def _sample_weight(kind, y_pred):
    rng = _rng(7)
    if kind is None:
        return None
    w = rng.random(N).astype("float32") * 2
    if kind == "col":
        w = w[:, None]
    return w


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none"])
@pytest.mark.parametrize("weight", [None, "vec", "col"])
@pytest.mark.parametrize("cls_name,kwargs,kind", PARAMS, ids=[f"{c}-{k}-{d}" for c, k, d in PARAMS])
def test_loss_class_matches_keras(cls_name, kwargs, kind, weight, reduction):
    y_true, y_pred = _data(kind)
    sw = _sample_weight(weight, y_pred)
    ours = getattr(losses, cls_name)(reduction=reduction, **kwargs)
    theirs = getattr(keras.losses, cls_name)(reduction=reduction, **kwargs)
    expected = np.asarray(theirs(y_true, y_pred, sample_weight=sw))
    got = np.asarray(ours(y_true, y_pred, sample_weight=sw))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("cls_name,kwargs,kind", PARAMS, ids=[f"{c}-{k}-{d}" for c, k, d in PARAMS])
def test_per_sample_and_jit(cls_name, kwargs, kind):
    y_true, y_pred = _data(kind, seed=3)
    ours = getattr(losses, cls_name)(**kwargs)
    theirs = getattr(keras.losses, cls_name)(reduction=None, **kwargs)
    np.testing.assert_allclose(ours.per_sample(y_true, y_pred), theirs(y_true, y_pred), rtol=RTOL, atol=ATOL)
    sw = _rng(1).random(N).astype("float32")
    eager = ours(y_true, y_pred, sample_weight=sw)
    jitted = jax.jit(lambda t, p, w: ours(t, p, sample_weight=w))(y_true, y_pred, sw)
    np.testing.assert_allclose(jitted, eager, rtol=RTOL, atol=ATOL)


FN_CASES = [
    ("categorical_crossentropy", {}, "cat_probs"),
    ("categorical_crossentropy", {"from_logits": True, "label_smoothing": 0.1}, "cat_logits"),
    ("sparse_categorical_crossentropy", {}, "sparse_probs"),
    ("sparse_categorical_crossentropy", {"from_logits": True}, "sparse_col_logits"),
    ("binary_crossentropy", {}, "multilabel_probs"),
    ("binary_crossentropy", {"from_logits": True, "label_smoothing": 0.2}, "multilabel_probs"),
    ("mean_squared_error", {}, "reg"),
    ("mean_squared_error", {}, "reg_vec_vs_col"),
    ("mean_absolute_error", {}, "reg"),
    ("huber", {"delta": 0.7}, "reg"),
]


@pytest.mark.parametrize("fn_name,kwargs,kind", FN_CASES)
def test_functions_match_keras(fn_name, kwargs, kind):
    y_true, y_pred = _data(kind, seed=5)
    expected = np.asarray(getattr(keras.losses, fn_name)(y_true, y_pred, **kwargs))
    got = np.asarray(getattr(losses, fn_name)(y_true, y_pred, **kwargs))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", None])
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_ignore_class_matches_keras(reduction, from_logits):
    rng = _rng(11)
    y_true = rng.integers(0, K, N)
    y_true[[1, 4]] = -1
    y_pred = rng.normal(size=(N, K)).astype("float32") if from_logits else _probs(rng, (N, K))
    sw = rng.random(N).astype("float32")
    kwargs = dict(from_logits=from_logits, ignore_class=-1, reduction=reduction)
    ours = losses.SparseCategoricalCrossentropy(**kwargs)
    theirs = keras.losses.SparseCategoricalCrossentropy(**kwargs)
    for w in (None, sw):
        np.testing.assert_allclose(ours(y_true, y_pred, w), theirs(y_true, y_pred, w), rtol=RTOL, atol=ATOL)
    grad = jax.grad(lambda p: jnp.sum(ours(y_true, p)))(jnp.asarray(y_pred))
    assert np.all(np.isfinite(grad)) and np.all(np.asarray(grad)[[1, 4]] == 0)


def test_mean_with_sample_weight_reduction():
    y_true, y_pred = _data("reg")
    sw = _rng(2).random(N).astype("float32")
    ours = losses.MeanSquaredError(reduction="mean_with_sample_weight")
    theirs = keras.losses.MeanSquaredError(reduction="mean_with_sample_weight")
    np.testing.assert_allclose(ours(y_true, y_pred, sw), theirs(y_true, y_pred, sw), rtol=RTOL)


def test_reduce_with_padded_batch_matches_keras():
    y_true, y_pred = _data("cat_logits")
    real = 5
    loss = losses.CategoricalCrossentropy(from_logits=True)
    sw = _rng(4).random(N).astype("float32")
    sw[real:] = 0.0  # padded rows
    values = loss.per_sample(y_true, y_pred)
    got = losses.reduce(values, sw, real)
    expected = keras.losses.CategoricalCrossentropy(from_logits=True)(y_true[:real], y_pred[:real], sw[:real])
    np.testing.assert_allclose(got, expected, rtol=RTOL)
    # Column weights and a traced count work too.
    got_col = jax.jit(losses.reduce)(values, sw[:, None], jnp.asarray(real))
    np.testing.assert_allclose(got_col, expected, rtol=RTOL)
    # Per-element values (n, t): divide by real samples times elements per sample, as Keras does.
    per_elem = np.abs(_rng(5).normal(size=(N, 3))).astype("float32")
    expected_elem = (per_elem[:real] * sw[:real, None]).sum() / (real * 3)
    np.testing.assert_allclose(losses.reduce(per_elem, sw, real), expected_elem, rtol=RTOL)


def test_get_resolves_names_instances_and_callables():
    expected = {
        "categorical_crossentropy": losses.CategoricalCrossentropy,
        "sparse_categorical_crossentropy": losses.SparseCategoricalCrossentropy,
        "binary_crossentropy": losses.BinaryCrossentropy,
        "mse": losses.MeanSquaredError,
        "mean_squared_error": losses.MeanSquaredError,
        "mae": losses.MeanAbsoluteError,
        "mean_absolute_error": losses.MeanAbsoluteError,
        "huber": losses.Huber,
        "huber_loss": losses.Huber,
        "MeanSquaredError": losses.MeanSquaredError,
        "CategoricalCrossentropy": losses.CategoricalCrossentropy,
        "SparseCategoricalCrossentropy": losses.SparseCategoricalCrossentropy,
        "BinaryCrossentropy": losses.BinaryCrossentropy,
        "MeanAbsoluteError": losses.MeanAbsoluteError,
        "Huber": losses.Huber,
    }
    for name, cls in expected.items():
        assert type(losses.get(name)) is cls, name
    inst = losses.BinaryCrossentropy(from_logits=True)
    assert losses.get(inst) is inst
    assert losses.CategoricalCrossentropy().name == "categorical_crossentropy"
    assert losses.Huber().name == "huber_loss"

    def my_loss(y_true, y_pred):
        return jnp.mean(jnp.abs(y_true - y_pred) ** 3, axis=-1)

    wrapped = losses.get(my_loss)
    assert isinstance(wrapped, losses.LossFunctionWrapper) and wrapped.name == "my_loss"
    y_true, y_pred = _data("reg")
    LossFunctionWrapper = require_keras("keras.src.losses.losses").LossFunctionWrapper

    expected_val = LossFunctionWrapper(my_loss)(y_true, y_pred)
    np.testing.assert_allclose(wrapped(y_true, y_pred), expected_val, rtol=RTOL)


def test_get_unknown_lists_valid_names():
    with pytest.raises(ValueError, match="Unknown loss: 'categorical_crossentropyy'") as e:
        losses.get("categorical_crossentropyy")
    assert "sparse_categorical_crossentropy" in str(e.value) and "mse" in str(e.value)
    with pytest.raises(ValueError, match="Could not interpret loss identifier"):
        losses.get(42)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        losses.CategoricalCrossentropy(label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"y_true.shape=\(8,\), y_pred.shape=\(8, 4\)"):
        losses.categorical_crossentropy(np.zeros(8), np.ones((8, 4)))


class TestCheckLabels:
    def test_categorical_with_integer_labels(self):
        for shape in [(100,), (100, 1)]:
            with pytest.raises(ValueError) as e:
                losses.check_labels("categorical_crossentropy", shape, (100, 10))
            msg = str(e.value)
            assert "categorical_crossentropy" in msg and "sparse_categorical_crossentropy" in msg
            assert "to_categorical" in msg and str(shape) in msg and "(100, 10)" in msg

    def test_sparse_with_one_hot_labels(self):
        with pytest.raises(ValueError) as e:
            losses.check_labels(losses.SparseCategoricalCrossentropy(), (None, 10), (None, 10))
        msg = str(e.value)
        assert "sparse_categorical_crossentropy" in msg and "loss='categorical_crossentropy'" in msg
        assert "(None, 10)" in msg

    def test_sparse_out_of_range(self):
        labels = np.array([0, 3, 10, 2])
        with pytest.raises(ValueError, match=r"\[0, 10\).*label of 10"):
            losses.check_labels("sparse_categorical_crossentropy", (4,), (4, 10), labels)
        with pytest.raises(ValueError, match="label of -1"):
            losses.check_labels("sparse_categorical_crossentropy", (4, 1), (4, 10), np.array([[0], [-1], [2], [1]]))
        with pytest.raises(ValueError, match="non-integer label"):
            losses.check_labels("sparse_categorical_crossentropy", (2,), (2, 10), np.array([0.0, 1.5]))
        # ignore_class values are allowed.
        losses.check_labels(
            losses.SparseCategoricalCrossentropy(ignore_class=-1), (3,), (3, 10), np.array([0, -1, 9])
        )

    def test_valid_labels_pass(self):
        # check_labels raises on labels that do not fit; these fit (it returns nothing)
        assert losses.check_labels("categorical_crossentropy", (100, 10), (None, 10)) is None
        assert losses.check_labels("sparse_categorical_crossentropy", (100,), (None, 10),
                                   np.arange(100) % 10) is None
        assert losses.check_labels("sparse_categorical_crossentropy", (100, 1), (100, 10)) is None
        assert losses.check_labels("mse", (100,), (100, 1)) is None  # other losses: unchecked
        # ...and the same calls one step past the edge do raise
        with pytest.raises(ValueError, match="label of 10"):
            losses.check_labels("sparse_categorical_crossentropy", (100,), (None, 10),
                                np.arange(100) % 11)
        with pytest.raises(ValueError):
            losses.check_labels("categorical_crossentropy", (100, 9), (None, 10))
