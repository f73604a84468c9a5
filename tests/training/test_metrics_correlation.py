"""PearsonCorrelation, ConcordanceCorrelation (and their functions) and R2Score against Keras 3,
over several batches, with and without sample weights; the pure jitted path; bad input."""

import warnings
import zlib

import jax
import numpy as np
import pytest

from kerasx import metrics
from keras_oracle import require_keras

N = 8


def _data(kind, rng):
    if kind == "reg":
        y = rng.normal(size=(N, 3)).astype("float32")
        return y, (y + rng.normal(size=(N, 3))).astype("float32")
    if kind == "reg_col":  # (n,) targets against (n, 1) predictions
        y = rng.normal(size=(N,)).astype("float32")
        return y, (y[:, None] + 0.5 * rng.normal(size=(N, 1))).astype("float32")
    raise KeyError(kind)


def _weight(kind, y_true, rng):
    if kind is None:
        return None
    if kind == "vec":
        w = rng.random(N).astype("float32")
        w[0] = 0.0
        return w
    if kind == "full":
        return rng.random(np.shape(y_true)).astype("float32")
    raise KeyError(kind)


CASES = [
    ("PearsonCorrelation", {}, "reg", [None, "vec"], True),
    ("PearsonCorrelation", {"axis": 0}, "reg", [None], False),
    ("ConcordanceCorrelation", {}, "reg", ["vec"], True),
    ("ConcordanceCorrelation", {"axis": 0}, "reg", [None], False),
    ("R2Score", {}, "reg", [None, "vec", "full"], True),
    ("R2Score", {}, "reg_col", ["vec"], False),
    ("R2Score", {"class_aggregation": None}, "reg", ["vec"], False),
    ("R2Score", {"class_aggregation": "variance_weighted_average"}, "reg", ["vec"], False),
    ("R2Score", {"num_regressors": 2}, "reg", ["vec"], True),
    ("R2Score", {"num_regressors": 47}, "reg", [None], False),  # == num_samples - 1: plain R2
    ("R2Score", {"num_regressors": 60}, "reg", [None], False),  # > num_samples - 1: plain R2
]
PARAMS = [(c, kw, kind, w, jit) for c, kw, kind, ws, jit in CASES for w in ws]


@pytest.mark.parametrize("name,kwargs,kind,weight,jit", PARAMS,
                         ids=[f"{c}-{kw}-{k}-{w}" for c, kw, k, w, _ in PARAMS])
def test_streaming_matches_keras(name, kwargs, kind, weight, jit):
    keras = require_keras()
    rng = np.random.default_rng(zlib.crc32(f"{name}{kwargs}{kind}{weight}".encode()))
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    pure = getattr(metrics, name)(**kwargs)
    state = None
    update = jax.jit(pure.update) if jit else pure.update
    for _ in range(2):
        y_true, y_pred = _data(kind, rng)
        w = _weight(weight, y_true, rng)
        ours.update_state(y_true, y_pred, sample_weight=w)
        theirs.update_state(y_true, y_pred, sample_weight=w)
        with warnings.catch_warnings(record=True) as ours_warned:
            warnings.simplefilter("always")
            value = ours.result()
        with warnings.catch_warnings(record=True) as keras_warned:
            warnings.simplefilter("always")
            k_value = theirs.result()
        np.testing.assert_allclose(value, k_value, rtol=1e-5, atol=1e-6)
        assert [str(x.message) for x in ours_warned] == [str(x.message) for x in keras_warned]
        if state is None:
            if hasattr(pure, "build"):
                pure.build(np.shape(y_true), np.shape(y_pred))
            state = pure.init()
        state = update(state, y_true, y_pred, w)
    result = jax.jit(pure.result) if jit else pure.result
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(result(state), theirs.result(), rtol=1e-5, atol=1e-6)
    assert [v.name for v in ours.variables] == [v.name for v in theirs.variables]
    for a, b in zip(ours.variables, theirs.variables):
        np.testing.assert_allclose(a.numpy(), np.asarray(b.value), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", ["pearson_correlation", "concordance_correlation"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_functions_match_keras(fn, axis):
    keras = require_keras()
    y_true, y_pred = _data("reg", np.random.default_rng(axis + 5))
    np.testing.assert_allclose(getattr(metrics, fn)(y_true, y_pred, axis=axis),
                               getattr(keras.metrics, fn)(y_true, y_pred, axis=axis),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,kwargs", [
    ("PearsonCorrelation", {"axis": 0}),
    ("ConcordanceCorrelation", {}),
    ("R2Score", {"class_aggregation": None, "num_regressors": 3}),
])
def test_config_matches_keras_and_round_trips(name, kwargs):
    keras = require_keras()
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    config, k_config = ours.get_config(), theirs.get_config()
    assert config == k_config
    assert type(ours)(**config).get_config() == config


@pytest.mark.parametrize("make,match", [
    (lambda: metrics.R2Score(class_aggregation="median"), "class_aggregation"),
    (lambda: metrics.R2Score(num_regressors=-1), "num_regressors"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_r2_adjusted_fallback_warns_like_keras():
    m = metrics.R2Score(num_regressors=10)
    y_true, y_pred = _data("reg", np.random.default_rng(0))
    m.update_state(y_true, y_pred)  # 24 values: 10 regressors are fine
    m.result()
    m = metrics.R2Score(num_regressors=30)
    m.update_state(y_true, y_pred)
    with pytest.warns(UserWarning, match="More independent predictors"):
        m.result()


def test_r2_bad_shapes():
    with pytest.raises(ValueError, match="2D inputs"):
        metrics.R2Score().update_state(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="no state yet"):
        metrics.R2Score().result()
