"""Oracle tests of the loss-named and regression metrics of `kerasx.metrics` (Hinge, KL,
Poisson, LogCoshError, MAPE, MSLE, CosineSimilarity, RootMeanSquaredError, Sum, ...) and of the
loss functions `keras.metrics` exposes, against Keras 3: several batches then `result()`, with
and without sample weights; configs, names, `serialize`/`deserialize`, and bad input."""

import jax
import numpy as np
import pytest

import kerasx
from kerasx import metrics

from keras_oracle import keras  # the oracle tests skip without Keras

N, K = 6, 4
RTOL = ATOL = 1e-5


def _probs(rng, shape):
    p = rng.random(shape).astype("float32") + 0.05
    return p / p.sum(-1, keepdims=True)


def _batch(kind, rng):
    if kind == "binary":
        return rng.integers(0, 2, (N, 3)).astype("float32"), rng.normal(size=(N, 3)).astype("float32")
    if kind == "onehot":
        return np.eye(K, dtype="float32")[rng.integers(0, K, N)], _probs(rng, (N, K))
    if kind == "dists":
        return _probs(rng, (N, K)), _probs(rng, (N, K))
    if kind == "counts":
        return rng.poisson(2.0, (N, 3)).astype("float32"), rng.random((N, 3)).astype("float32") * 3
    if kind == "reg":
        return rng.normal(size=(N, 3)).astype("float32"), rng.normal(size=(N, 3)).astype("float32") * 2
    if kind == "reg_vec_vs_col":
        return rng.normal(size=N).astype("float32"), rng.normal(size=(N, 1)).astype("float32")
    if kind == "sparse":
        y = rng.integers(0, K, N)
        y[0] = -1
        return y, rng.normal(size=(N, K)).astype("float32")
    raise KeyError(kind)


# (class name, constructor kwargs, data kinds)
CASES = [
    ("Hinge", {}, ["binary"]),
    ("SquaredHinge", {}, ["binary"]),
    ("CategoricalHinge", {}, ["onehot"]),
    ("KLDivergence", {}, ["dists"]),
    ("Poisson", {}, ["counts"]),
    ("LogCoshError", {}, ["reg", "reg_vec_vs_col"]),
    ("MeanAbsolutePercentageError", {}, ["reg"]),
    ("MeanSquaredLogarithmicError", {}, ["counts"]),
    ("CosineSimilarity", {}, ["reg"]),
    ("CosineSimilarity", {"axis": 0}, ["reg"]),
    ("RootMeanSquaredError", {}, ["reg", "reg_vec_vs_col"]),
    ("SparseCategoricalCrossentropy", {"from_logits": True, "ignore_class": -1}, ["sparse"]),
    ("BinaryAccuracy", {"threshold": 0.3, "dtype": "float32"}, ["binary"]),
]
PARAMS = [pytest.param(c, kw, kind, id=f"{c}-{i}-{kind}")
          for i, (c, kw, kinds) in enumerate(CASES) for kind in kinds]


@pytest.mark.parametrize("cls_name, kwargs, kind", PARAMS)
def test_streaming_matches_keras(cls_name, kwargs, kind):
    rng = np.random.default_rng(0)
    batches = [_batch(kind, rng) for _ in range(3)]
    weights = [rng.uniform(0.0, 2.0, N).astype("float32") for _ in range(3)]
    for weighted in (False, True):
        if weighted and kwargs.get("axis") == 0:  # one value per feature: no per-sample weights
            continue
        ours = getattr(metrics, cls_name)(**kwargs)
        ref = getattr(keras.metrics, cls_name)(**kwargs)
        state = ours.init()
        update = jax.jit(ours.update)
        for (t, p), w in zip(batches, weights):
            sw = w if weighted else None
            ref.update_state(t, p, sample_weight=sw)
            ours.update_state(t, p, sample_weight=sw)  # Keras's stateful face
            state = update(state, t, p, sw)            # the pure face `fit` compiles
        want = np.asarray(ref.result())
        np.testing.assert_allclose(np.asarray(ours.result()), want, rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(np.asarray(ours.result(state)), want, rtol=RTOL, atol=ATOL)
        assert [v.name for v in ours.variables] == [v.name for v in ref.variables]
        ours.reset_state()
        assert float(ours.result()) == 0.0
    config = ours.get_config()
    if cls_name == "CosineSimilarity":  # Keras drops `axis` from the config; kerasx keeps it
        assert config.pop("axis") == kwargs.get("axis", -1)
    assert config == ref.get_config()


def test_sum_matches_keras():
    rng = np.random.default_rng(2)
    for weighted in (False, True):
        ours, ref = metrics.Sum(), keras.metrics.Sum()
        for _ in range(3):
            values = rng.normal(size=(N, 2, 3)).astype("float32")
            sw = rng.uniform(0.0, 2.0, (N, 2)).astype("float32") if weighted else None
            ours.update_state(values, sample_weight=sw)
            ref.update_state(values, sample_weight=sw)
        np.testing.assert_allclose(ours.result(), ref.result(), rtol=RTOL, atol=ATOL)
    assert [v.name for v in ours.variables] == [v.name for v in ref.variables] == ["total"]
    assert ours.get_config() == ref.get_config()


FUNCTIONS = [
    ("binary_crossentropy", "probs01"), ("binary_focal_crossentropy", "probs01"),
    ("categorical_crossentropy", "onehot"), ("categorical_focal_crossentropy", "onehot"),
    ("categorical_hinge", "onehot"), ("hinge", "binary"), ("huber", "reg"),
    ("kl_divergence", "dists"), ("log_cosh", "reg"), ("mean_absolute_percentage_error", "reg"),
    ("mean_squared_logarithmic_error", "counts"), ("poisson", "counts"),
    ("sparse_categorical_crossentropy", "sparse_probs"), ("squared_hinge", "binary"),
]


@pytest.mark.parametrize("fn_name, kind", FUNCTIONS)
def test_metric_functions_match_keras(fn_name, kind):
    rng = np.random.default_rng(4)
    if kind == "probs01":
        t, p = rng.integers(0, 2, (N, 3)).astype("float32"), rng.random((N, 3)).astype("float32")
    elif kind == "sparse_probs":
        t, p = rng.integers(0, K, N), _probs(rng, (N, K))
    else:
        t, p = _batch(kind, rng)
    got = getattr(metrics, fn_name)(t, p)
    want = getattr(keras.metrics, fn_name)(t, p)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=RTOL, atol=ATOL)
    # A function name given to `get` (as in `compile(metrics=[...])`) is the mean of the function.
    assert metrics.get(fn_name).name == fn_name


def test_names_resolve_like_keras():
    """Every name of Keras's metric table that names one of these metrics resolves to it."""
    from keras.src.metrics import ALL_OBJECTS_DICT

    owned = {c for c, _, _ in CASES} | {"Sum", "Mean", "MeanSquaredError", "MeanAbsoluteError",
                                         "BinaryCrossentropy", "CategoricalCrossentropy"}
    for name, cls in ALL_OBJECTS_DICT.items():
        if cls.__name__ in owned:
            ours = metrics.get(name)
            assert type(ours).__name__ == cls.__name__, name
            assert ours.name == name  # Keras's compile names a metric given by name so
    assert isinstance(metrics.get({"class_name": "Hinge", "config": {"name": "h"}}), metrics.Hinge)


@pytest.mark.parametrize("cls_name, kwargs", [
    ("Hinge", {}), ("RootMeanSquaredError", {"name": "rmse"}), ("Sum", {}),
    ("LogCoshError", {}), ("KLDivergence", {}), ("CosineSimilarity", {"axis": 0}),
    ("SparseCategoricalCrossentropy", {"ignore_class": 3, "from_logits": True}),
    ("BinaryAccuracy", {"threshold": 0.7}),
])
def test_serialize_matches_keras_and_round_trips(cls_name, kwargs):
    ours = getattr(metrics, cls_name)(**kwargs)
    data = metrics.serialize(ours)
    want = keras.metrics.serialize(getattr(keras.metrics, cls_name)(**kwargs))
    if cls_name == "CosineSimilarity":
        assert data["config"].pop("axis") == 0
        assert data == want
        data["config"]["axis"] = 0
    else:
        assert data == want
    back = metrics.deserialize(data)
    assert type(back) is type(ours) and back.get_config() == ours.get_config()
    if cls_name != "CosineSimilarity":  # Keras reads kerasx's dict
        assert keras.metrics.deserialize(data).get_config() == want["config"]


def test_serialize_functions_and_names():
    for fn_name in ("hinge", "poisson", "log_cosh", "categorical_focal_crossentropy"):
        data = metrics.serialize(getattr(metrics, fn_name))
        assert data == keras.metrics.serialize(getattr(keras.metrics, fn_name))
        assert metrics.deserialize(data) is getattr(metrics, fn_name)
    assert isinstance(metrics.deserialize("root_mean_squared_error"), metrics.RootMeanSquaredError)
    assert isinstance(metrics.deserialize("mape"), metrics.MeanAbsolutePercentageError)
    assert isinstance(metrics.deserialize("Sum"), metrics.Sum)


def test_dtype_and_model_saving_config():
    m = metrics.RootMeanSquaredError(dtype="float16")
    state = m.update(m.init(), np.ones((2, 3)), np.zeros((2, 3)))
    assert m.result(state).dtype == np.float16 and float(m.result(state)) == 1.0
    # `load_model` rebuilds compiled metrics with `cls(**get_config())`.
    for cls in (metrics.Hinge, metrics.Sum, metrics.CosineSimilarity, metrics.BinaryAccuracy):
        again = cls(**cls().get_config())
        assert again.get_config() == cls().get_config()


def test_fit_logs_the_metrics():
    x = np.random.default_rng(5).normal(size=(20, 4)).astype("float32")
    y = np.random.default_rng(6).normal(size=(20, 2)).astype("float32")
    model = kerasx.Sequential([kerasx.layers.Input((4,)), kerasx.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="log_cosh",
                  metrics=["root_mean_squared_error", metrics.LogCoshError(), "mape", "huber"])
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert set(history) == {"loss", "root_mean_squared_error", "logcosh", "mape", "huber"}
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    pred = np.asarray(model.predict(x, verbose=0))
    np.testing.assert_allclose(logs["root_mean_squared_error"],
                               np.sqrt(np.mean((pred - y) ** 2)), rtol=1e-5)
    np.testing.assert_allclose(logs["logcosh"], logs["loss"], rtol=1e-5)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="axis"):
        metrics.CosineSimilarity(axis="last")
    with pytest.raises(ValueError, match="Unknown metric"):
        metrics.get("rmse_typo")
    with pytest.raises(ValueError, match="Unknown metric"):
        metrics.deserialize("nope")
    with pytest.raises(ValueError, match="Cannot rebuild metric 'Hinge'"):
        metrics.deserialize({"class_name": "Hinge", "config": {"threshold": 0.5}})
    with pytest.raises(ValueError, match="should be a dict"):
        metrics.deserialize({"class_name": "Sum", "config": "sum"})


@pytest.mark.parametrize("cls_name, kwargs", [
    ("Mean", {}), ("Accuracy", {}), ("CategoricalAccuracy", {}), ("SparseCategoricalAccuracy", {}),
    ("TopKCategoricalAccuracy", {"k": 2}), ("SparseTopKCategoricalAccuracy", {}),
    ("SparseTopKCategoricalAccuracy", {"k": 3, "from_sorted_ids": True}),
    ("MeanSquaredError", {}), ("MeanAbsoluteError", {}), ("BinaryCrossentropy", {}),
    ("CategoricalCrossentropy", {"axis": 0, "label_smoothing": 0.1}),
    ("SquaredHinge", {"name": "sh"}), ("CategoricalHinge", {}), ("Poisson", {}),
    ("MeanAbsolutePercentageError", {}), ("MeanSquaredLogarithmicError", {}),
])
def test_configs_match_keras(cls_name, kwargs):
    ours = getattr(metrics, cls_name)(**kwargs)
    assert ours.get_config() == getattr(keras.metrics, cls_name)(**kwargs).get_config()
    assert type(ours)(**ours.get_config()).get_config() == ours.get_config()
