"""Oracle tests for kerasx.training.metrics against Keras 3 (JAX backend)."""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import numpy as np
import pytest

from keras_oracle import keras, require_keras  # the oracle tests skip without Keras

from kerasx.training import metrics  # noqa: E402

N, K = 6, 5
RTOL, ATOL = 1e-5, 1e-5


def _batch(kind, rng):
    """Returns (y_true, y_pred) for one batch of a metric family."""
    if kind == "binary":
        return rng.integers(0, 2, (N, 1)).astype("float32"), rng.random((N, 1)).astype("float32")
    if kind == "binary_vec":  # (n,) labels, (n, 1) outputs
        return rng.integers(0, 2, N), rng.random((N, 1)).astype("float32")
    if kind == "exact":
        return rng.integers(0, 3, (N, 2)), rng.integers(0, 3, (N, 2)).astype("float32")
    if kind == "onehot":
        return np.eye(K, dtype="float32")[rng.integers(0, K, N)], rng.random((N, K)).astype("float32")
    if kind == "onehot_ties":  # rounded scores produce ties, which top-k counts as hits
        return np.eye(K, dtype="float32")[rng.integers(0, K, N)], np.round(rng.random((N, K)), 1).astype("float32")
    if kind == "sparse":
        return rng.integers(0, K, N), rng.random((N, K)).astype("float32")
    if kind == "sparse_col":
        return rng.integers(0, K, (N, 1)), rng.random((N, K)).astype("float32")
    if kind == "seq_sparse":  # per-timestep labels (n, t) and scores (n, t, k)
        return rng.integers(0, K, (N, 3)), rng.random((N, 3, K)).astype("float32")
    if kind == "reg":
        return rng.normal(size=(N, 3)).astype("float32"), rng.normal(size=(N, 3)).astype("float32")
    if kind == "reg_col":
        return rng.normal(size=(N,)).astype("float32"), rng.normal(size=(N, 1)).astype("float32")
    raise KeyError(kind)


# (metric class, kwargs, data kind, sample-weight kinds)
CASES = [
    ("Accuracy", {}, "exact", ["vec", "full"]),
    ("BinaryAccuracy", {}, "binary", [None, "vec", "col", "full"]),
    ("BinaryAccuracy", {"threshold": 0.7}, "binary_vec", ["vec", "full"]),
    ("CategoricalAccuracy", {}, "onehot", [None, "vec", "col"]),
    ("SparseCategoricalAccuracy", {}, "sparse", [None, "vec"]),
    ("SparseCategoricalAccuracy", {}, "sparse_col", ["vec", "col"]),
    ("SparseCategoricalAccuracy", {}, "seq_sparse", ["vec", "full"]),
    ("TopKCategoricalAccuracy", {}, "onehot", ["vec"]),
    ("TopKCategoricalAccuracy", {"k": 2}, "onehot_ties", [None, "col"]),
    ("SparseTopKCategoricalAccuracy", {"k": 2}, "sparse", [None, "vec"]),
    ("SparseTopKCategoricalAccuracy", {"k": 3}, "sparse_col", ["col"]),
    ("MeanSquaredError", {}, "reg", [None, "vec", "col"]),
    ("MeanSquaredError", {}, "reg_col", ["vec", "full"]),
    ("MeanAbsoluteError", {}, "reg", ["vec"]),
    ("BinaryCrossentropy", {}, "binary", ["vec"]),
    ("CategoricalCrossentropy", {"label_smoothing": 0.1}, "onehot", ["vec"]),
    ("SparseCategoricalCrossentropy", {"from_logits": True}, "sparse", ["vec"]),
]
PARAMS = [(c, kw, kind, w) for c, kw, kind, ws in CASES for w in ws]


def _weights(kind, y_true, rng):
    if kind is None:
        return None
    if kind == "vec":
        w = rng.random(N).astype("float32")
        w[0] = 0.0
        return w
    if kind == "col":
        return rng.random((N, 1)).astype("float32")
    if kind == "full":  # same shape as the labels (e.g. per-timestep weights)
        return rng.random(np.shape(y_true)).astype("float32")
    raise KeyError(kind)


@pytest.mark.parametrize(
    "cls_name,kwargs,kind,weight", PARAMS, ids=[f"{c}-{k}-{d}-{w}" for c, k, d, w in PARAMS]
)
def test_streaming_matches_keras(cls_name, kwargs, kind, weight):
    rng = np.random.default_rng(0)
    ours = getattr(metrics, cls_name)(**kwargs)
    theirs = getattr(keras.metrics, cls_name)(**kwargs)
    assert ours.name == theirs.name
    state = ours.init()
    for _ in range(3):
        y_true, y_pred = _batch(kind, rng)
        sw = _weights(weight, y_true, rng)
        theirs.update_state(y_true, y_pred, sample_weight=sw)
        state = ours.update(state, y_true, y_pred, sw)
        np.testing.assert_allclose(ours.result(state), theirs.result(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(state.count, theirs.count, rtol=RTOL, atol=ATOL)


def test_update_is_jit_safe():
    rng = np.random.default_rng(1)
    ours, theirs = metrics.SparseCategoricalAccuracy(), keras.metrics.SparseCategoricalAccuracy()
    update = jax.jit(ours.update)
    result = jax.jit(ours.result)
    state = ours.init()
    for _ in range(3):
        y_true, y_pred = _batch("sparse", rng)
        sw = rng.random(N).astype("float32")
        state = update(state, y_true, y_pred, sw)
        theirs.update_state(y_true, y_pred, sw)
    np.testing.assert_allclose(result(state), theirs.result(), rtol=RTOL)
    assert float(result(ours.init())) == 0.0  # divide-no-nan on an empty state


@pytest.mark.parametrize("weight", [None, "vec", "col"])
def test_mean_matches_keras(weight):
    rng = np.random.default_rng(2)
    ours, theirs = metrics.Mean(), keras.metrics.Mean()
    state = ours.init()
    for shape in [(N,), (N, 3), (N,)]:
        values = rng.normal(size=shape).astype("float32")
        sw = _weights(weight, values, rng)
        state = ours.update(state, values, sw)
        theirs.update_state(values, sample_weight=sw)
        np.testing.assert_allclose(ours.result(state), theirs.result(), rtol=RTOL)
    state = ours.update(state, np.float32(3.0))  # a scalar counts as one sample
    theirs.update_state(np.float32(3.0))
    np.testing.assert_allclose(ours.result(state), theirs.result(), rtol=RTOL)


def test_mean_metric_wrapper_with_custom_function():
    def abs_cubed(y_true, y_pred):
        return abs(y_true - y_pred) ** 3

    rng = np.random.default_rng(3)
    ours = metrics.get(abs_cubed)
    theirs = keras.metrics.MeanMetricWrapper(abs_cubed, name="abs_cubed")
    assert isinstance(ours, metrics.MeanMetricWrapper) and ours.name == "abs_cubed"
    state = ours.init()
    for _ in range(3):
        y_true, y_pred = _batch("reg", rng)
        sw = rng.random(N).astype("float32")
        state = ours.update(state, y_true, y_pred, sw)
        theirs.update_state(y_true, y_pred, sw)
    np.testing.assert_allclose(ours.result(state), theirs.result(), rtol=RTOL)


@pytest.mark.parametrize("function", [
    ("binary_accuracy", {"threshold": 0.3}, "binary"),
    ("categorical_accuracy", {}, "onehot"),
    ("sparse_categorical_accuracy", {}, "sparse_col"),
    ("top_k_categorical_accuracy", {"k": 2}, "onehot_ties"),
    ("sparse_top_k_categorical_accuracy", {"k": 2}, "seq_sparse"),
])
def test_functions_match_keras(function):
    name, kwargs, kind = function
    y_true, y_pred = _batch(kind, np.random.default_rng(4))
    expected = np.asarray(getattr(keras.metrics, name)(y_true, y_pred, **kwargs))
    got = np.asarray(getattr(metrics, name)(y_true, y_pred, **kwargs))
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected)


ACCURACY_SHAPES = [
    ((N, 1), (N, 1)),  # binary
    ((N,), (N, 1)),  # binary, vector labels
    ((N,), (N, K)),  # sparse
    ((N, 1), (N, K)),  # sparse, column labels
    ((N, K), (N, K)),  # categorical
    ((N, 3), (N, 3, K)),  # sparse sequence
    ((N,), (N,)),  # Keras picks categorical here (last dims are equal and not 1)
]


@pytest.mark.parametrize("identifier", ["accuracy", "acc"])
@pytest.mark.parametrize("t_shape,p_shape", ACCURACY_SHAPES)
def test_get_accuracy_resolves_like_keras_compile(identifier, t_shape, p_shape):
    compile_utils = require_keras("keras.src.trainers.compile_utils")

    expected = compile_utils.get_metric(identifier, np.zeros(t_shape), np.zeros(p_shape))
    got = metrics.get(identifier, y_true_shape=t_shape, y_pred_shape=p_shape)
    assert type(got).__name__ == type(expected).__name__
    assert got.name == expected.name == identifier


def test_get_names_instances_and_errors():
    expected = {
        "binary_accuracy": metrics.BinaryAccuracy,
        "categorical_accuracy": metrics.CategoricalAccuracy,
        "sparse_categorical_accuracy": metrics.SparseCategoricalAccuracy,
        "top_k_categorical_accuracy": metrics.TopKCategoricalAccuracy,
        "sparse_top_k_categorical_accuracy": metrics.SparseTopKCategoricalAccuracy,
        "mse": metrics.MeanSquaredError,
        "mae": metrics.MeanAbsoluteError,
        "mean_squared_error": metrics.MeanSquaredError,
        "mean_absolute_error": metrics.MeanAbsoluteError,
        "BinaryAccuracy": metrics.BinaryAccuracy,
        "SparseCategoricalAccuracy": metrics.SparseCategoricalAccuracy,
        "MeanSquaredError": metrics.MeanSquaredError,
    }
    for name, cls in expected.items():
        m = metrics.get(name)
        assert type(m) is cls and m.name == name, name
    inst = metrics.TopKCategoricalAccuracy(k=3, name="top3")
    assert metrics.get(inst) is inst
    with pytest.raises(ValueError, match="Unknown metric: 'acuracy'") as e:
        metrics.get("acuracy")
    assert "'accuracy'" in str(e.value) and "'sparse_categorical_accuracy'" in str(e.value)
    with pytest.raises(ValueError, match="y_true_shape"):
        metrics.get("accuracy")
    with pytest.raises(ValueError, match="positive integer"):
        metrics.TopKCategoricalAccuracy(k=0)
