"""F1Score and FBetaScore against Keras 3, over several batches, with and without sample
weights; the pure jitted path (after `build`); bad input."""

import zlib

import jax
import numpy as np
import pytest

from kerasx import metrics
from keras_oracle import require_keras

N, K = 8, 3


def _data(kind, rng):
    if kind == "onehot":  # argmax decides (threshold=None); a row of zeros predicts nothing
        y_pred = rng.random((N, K)).astype("float32")
        y_pred[1] = 0.0
        return np.eye(K, dtype="float32")[rng.integers(0, K, N)], y_pred
    if kind == "multilabel":
        return rng.integers(0, 2, (N, K)).astype("float32"), rng.random((N, K)).astype("float32")
    raise KeyError(kind)


CASES = [
    ("F1Score", {}, "onehot", [None, "vec"], True),
    ("F1Score", {"average": "micro"}, "onehot", ["vec"], False),
    ("F1Score", {"average": "macro", "threshold": 0.5}, "multilabel", ["vec"], False),
    ("F1Score", {"average": "weighted"}, "onehot", ["vec"], True),
    ("FBetaScore", {"beta": 2.0, "threshold": 0.3}, "multilabel", [None], False),
    ("FBetaScore", {"average": "micro", "beta": 0.5, "threshold": 0.5}, "multilabel", ["vec"], True),
    ("FBetaScore", {"average": "weighted", "beta": 1.5}, "multilabel", ["vec"], False),
]
PARAMS = [(c, kw, kind, w, jit) for c, kw, kind, ws, jit in CASES for w in ws]


@pytest.mark.parametrize("name,kwargs,kind,weight,jit", PARAMS,
                         ids=[f"{c}-{kw}-{k}-{w}" for c, kw, k, w, _ in PARAMS])
def test_streaming_matches_keras(name, kwargs, kind, weight, jit):
    keras = require_keras()
    rng = np.random.default_rng(zlib.crc32(f"{name}{kwargs}{kind}{weight}".encode()))
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    pure = getattr(metrics, name)(**kwargs)
    assert ours.variables == []  # as Keras: the class count comes with the first batch
    pure.build((None, K), (None, K))
    update = jax.jit(pure.update) if jit else pure.update
    state = pure.init()
    for _ in range(3):
        y_true, y_pred = _data(kind, rng)
        w = None if weight is None else rng.random(N).astype("float32")
        ours.update_state(y_true, y_pred, sample_weight=w)
        theirs.update_state(y_true, y_pred, sample_weight=w)
        np.testing.assert_allclose(ours.result(), theirs.result(), rtol=1e-5, atol=1e-6)
        state = update(state, y_true, y_pred, w)
    np.testing.assert_allclose(pure.result(state), theirs.result(), rtol=1e-5, atol=1e-6)
    assert [v.name for v in ours.variables] == [v.name for v in theirs.variables]
    for a, b in zip(ours.variables, theirs.variables):
        np.testing.assert_allclose(a.numpy(), np.asarray(b.value), rtol=1e-5, atol=1e-6)
    ours.reset_state()
    assert all(not np.any(v.numpy()) for v in ours.variables)


@pytest.mark.parametrize("name,kwargs", [
    ("F1Score", {"average": "macro", "threshold": 0.4}),
    ("FBetaScore", {"average": "weighted", "beta": 2.0}),
])
def test_config_matches_keras_and_round_trips(name, kwargs):
    keras = require_keras()
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    config, k_config = ours.get_config(), theirs.get_config()
    assert config == k_config
    assert type(ours)(**config).get_config() == config


@pytest.mark.parametrize("make,match", [
    (lambda: metrics.FBetaScore(beta=0.0), "beta"),
    (lambda: metrics.FBetaScore(beta=-1.0), "beta"),
    (lambda: metrics.FBetaScore(beta=2), "beta"),  # not a float, as Keras
    (lambda: metrics.F1Score(average="samples"), "average"),
    (lambda: metrics.F1Score(threshold=0.0), "threshold"),
    (lambda: metrics.F1Score(threshold=1.5), "threshold"),
    (lambda: metrics.F1Score(threshold=1), "threshold"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_shapes():
    with pytest.raises(ValueError, match="2D inputs"):
        metrics.F1Score().update_state(np.zeros((4,)), np.zeros((4,)))
    m = metrics.F1Score()
    m.update_state(np.eye(3), np.eye(3))
    with pytest.raises(ValueError, match="built for 3 classes"):
        m.update_state(np.eye(4), np.eye(4))
    with pytest.raises(ValueError, match="no state yet"):
        metrics.F1Score().result()


def test_unbuilt_metric_in_a_compiled_function_says_to_build_it():
    m = metrics.F1Score()
    y = np.eye(3, dtype="float32")
    with pytest.raises(ValueError, match=r"metric.build\(y_true_shape, y_pred_shape\)"):
        jax.jit(m.update)(m.init(), y, y)
    m.build((None, 3), (None, 3))
    state = jax.jit(m.update)(m.init(), y, y)
    np.testing.assert_allclose(m.result(state), [1.0, 1.0, 1.0], rtol=1e-5)


def test_row_weights_of_shape_batch_by_one():
    """A `(batch, 1)` weight (the row mask `fit` passes for a padded last batch) weights rows
    as the `(batch,)` weight does."""
    rng = np.random.default_rng(1)
    y_true, y_pred = _data("onehot", rng)
    w = rng.random(N).astype("float32")
    a, b = metrics.F1Score(average="weighted"), metrics.F1Score(average="weighted")
    a.update_state(y_true, y_pred, sample_weight=w)
    b.update_state(y_true, y_pred, sample_weight=w[:, None])
    np.testing.assert_allclose(a.result(), b.result(), rtol=1e-6)
    for u, v in zip(a.variables, b.variables):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-6)


def test_data_sized_and_vector_metrics_work_in_fit_like_keras(capsys):
    """Metrics sized by the first batch are built by compile's shapes; vector results are logged
    as arrays (progress bar, History, evaluate), as Keras logs them."""
    import kerasx
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 5)).astype("float32")
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, 40)]
    model = kerasx.Sequential([kerasx.layers.Input((5,)), kerasx.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="categorical_crossentropy",
                  metrics=["f1_score", kerasx.metrics.F1Score(average=None, name="f1_each"),
                           "r2_score"])
    history = model.fit(x, y, batch_size=8, epochs=2, verbose=1)
    assert np.shape(history.history["f1_each"][-1]) == (3,)
    assert "f1_each" in capsys.readouterr().out
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    keras_f1 = require_keras().metrics.F1Score(average=None)
    keras_f1.update_state(y, model.predict(x, verbose=0))
    np.testing.assert_allclose(logs["f1_each"], np.asarray(keras_f1.result()), rtol=1e-5, atol=1e-6)
