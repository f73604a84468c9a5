"""Confusion-matrix metrics (TruePositives ... AUC) against Keras 3, over several batches, with
and without sample weights; the pure jitted path; use in compile/fit/evaluate; bad input."""

import zlib

import jax
import numpy as np
import pytest

import kerasx
from kerasx import metrics
from keras_oracle import require_keras

N = 8


def _data(kind, rng):
    """One batch `(y_true, y_pred)` of a data kind."""
    if kind == "binary":  # rounded scores: many sit exactly on evenly spaced thresholds
        return rng.integers(0, 2, (N, 1)).astype("float32"), np.round(rng.random((N, 1)), 1).astype("float32")
    if kind == "binary_vec":  # (n,) labels, (n, 1) scores
        return rng.integers(0, 2, N).astype("float32"), rng.random((N, 1)).astype("float32")
    if kind == "onehot":
        return np.eye(4, dtype="float32")[rng.integers(0, 4, N)], rng.random((N, 4)).astype("float32")
    if kind == "multilabel":
        return rng.integers(0, 2, (N, 3)).astype("float32"), np.round(rng.random((N, 3)), 1).astype("float32")
    if kind == "logits":
        return rng.integers(0, 2, (N, 1)).astype("float32"), rng.normal(size=(N, 1)).astype("float32")
    if kind == "out_of_range":  # scores outside [0, 1] (Keras clips them on the bucketed path)
        return rng.integers(0, 2, (N, 1)).astype("float32"), rng.normal(0.5, 0.8, (N, 1)).astype("float32")
    raise KeyError(kind)


def _weight(kind, y_true, rng):
    if kind is None:
        return None
    if kind == "vec":
        w = rng.random(len(y_true)).astype("float32")
        w[0] = 0.0
        return w
    if kind == "full":
        return rng.random(np.shape(y_true)).astype("float32")
    raise KeyError(kind)


def run_oracle(name, kwargs, kind, weight, batches=2, rtol=1e-5, atol=1e-6, jit=True):
    """Streams the same batches into kerasx's metric (stateful face, and the pure face under
    jit) and Keras's, and compares the results and the variables."""
    keras = require_keras()
    rng = np.random.default_rng(zlib.crc32(f"{name}{kwargs}{kind}{weight}".encode()))
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    pure = getattr(metrics, name)(**kwargs)
    data = []
    for _ in range(batches):
        y_true, y_pred = _data(kind, rng)
        data.append((y_true, y_pred, _weight(weight, y_true, rng)))
    state = None
    update = jax.jit(pure.update) if jit else pure.update
    for y_true, y_pred, w in data:
        ours.update_state(y_true, y_pred, sample_weight=w)
        theirs.update_state(y_true, y_pred, sample_weight=w)
        np.testing.assert_allclose(ours.result(), theirs.result(), rtol=rtol, atol=atol)
        if state is None:
            if hasattr(pure, "build"):
                pure.build(np.shape(y_true), np.shape(y_pred))
            state = pure.init()
        state = update(state, y_true, y_pred, w)
    result = jax.jit(pure.result) if jit else pure.result
    np.testing.assert_allclose(result(state), theirs.result(), rtol=rtol, atol=atol)
    assert [v.name for v in ours.variables] == [v.name for v in theirs.variables]
    for a, b in zip(ours.variables, theirs.variables):
        np.testing.assert_allclose(np.asarray(a.numpy()), np.asarray(b.value), rtol=rtol, atol=atol)
    ours.reset_state()
    assert all(not np.any(np.asarray(v.numpy())) for v in ours.variables)
    return ours, theirs


CASES = [
    ("TruePositives", {}, "binary", ["vec"], False),
    ("TrueNegatives", {"thresholds": [0.0, 0.5, 1.0]}, "binary", ["vec"], True),  # even
    ("FalsePositives", {"thresholds": [0.3, 0.7]}, "multilabel", ["full"], False),
    ("FalseNegatives", {"thresholds": 0.4}, "binary_vec", ["vec"], False),
    ("Precision", {"top_k": 2}, "onehot", [None], False),
    ("Precision", {"class_id": 1, "thresholds": [0.0, 0.25, 0.5, 0.75, 1.0]}, "onehot", ["vec"], True),
    ("Recall", {"top_k": 2, "class_id": 2, "thresholds": 0.3}, "onehot", ["vec"], True),
    ("Recall", {"thresholds": [0.0, 0.25, 0.5, 0.75, 1.0]}, "out_of_range", [None], True),
    ("SensitivityAtSpecificity", {"specificity": 0.5}, "binary", ["vec"], True),
    ("SpecificityAtSensitivity", {"sensitivity": 0.6, "num_thresholds": 7}, "binary", [None], False),
    ("PrecisionAtRecall", {"recall": 0.6, "class_id": 1}, "onehot", ["vec"], False),
    ("RecallAtPrecision", {"precision": 0.4, "num_thresholds": 1}, "binary", [None], False),
    ("AUC", {}, "binary", ["vec"], True),
    ("AUC", {"curve": "PR", "summation_method": "majoring", "num_thresholds": 11}, "multilabel",
     ["vec"], False),
    ("AUC", {"curve": "PRGAIN", "summation_method": "minoring", "num_thresholds": 11},
     "binary", ["vec"], False),
    ("AUC", {"thresholds": [0.1, 0.5, 0.77]}, "multilabel", ["vec"], False),
    ("AUC", {"multi_label": True}, "multilabel", ["vec"], True),
    ("AUC", {"multi_label": True, "num_labels": 3, "curve": "PR",
             "label_weights": [1.0, 2.0, 0.5]}, "multilabel", ["vec"], False),
    ("AUC", {"label_weights": [1.0, 2.0, 0.5]}, "multilabel", ["vec"], True),
    ("AUC", {"from_logits": True}, "logits", ["vec"], True),
    ("AUC", {"num_thresholds": 5}, "out_of_range", [None], False),
]
PARAMS = [(c, kw, kind, w, jit) for c, kw, kind, ws, jit in CASES for w in ws]


@pytest.mark.parametrize("name,kwargs,kind,weight,jit", PARAMS,
                         ids=[f"{c}-{kw}-{k}-{w}" for c, kw, k, w, _ in PARAMS])
def test_streaming_matches_keras(name, kwargs, kind, weight, jit):
    run_oracle(name, kwargs, kind, weight, jit=jit)


@pytest.mark.parametrize("name,kwargs", [
    ("TruePositives", {"thresholds": [0.2, 0.6]}),
    ("Precision", {"thresholds": 0.3, "top_k": 2, "class_id": 1}),
    ("Recall", {}),
    ("SensitivityAtSpecificity", {"specificity": 0.4, "num_thresholds": 50, "class_id": 0}),
    ("RecallAtPrecision", {"precision": 0.7}),
    ("AUC", {"num_thresholds": 20, "curve": "PR", "summation_method": "majoring"}),
    ("AUC", {"thresholds": [0.2, 0.4], "multi_label": True, "num_labels": 2,
             "label_weights": [1.0, 3.0], "from_logits": True}),
])
def test_config_matches_keras_and_round_trips(name, kwargs):
    keras = require_keras()
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    config, k_config = ours.get_config(), theirs.get_config()
    assert set(config) == set(k_config)
    for key in set(config) - {"name"}:
        expected = k_config[key]
        if key == "label_weights" and expected is not None:
            expected = np.asarray(expected).tolist()
        np.testing.assert_equal(config[key], expected)
    assert type(ours)(**config).get_config() == config


def test_default_names():
    assert metrics.AUC().name == "auc"
    assert metrics.Precision().name == "precision"
    assert metrics.TruePositives().name == "true_positives"
    assert metrics.SensitivityAtSpecificity(0.5).name == "sensitivity_at_specificity"


def test_auc_multi_label_builds_from_first_batch_like_keras():
    m = metrics.AUC(multi_label=True)
    assert m.variables == []  # as Keras: no variables before the first batch
    y = np.array([[1, 0], [0, 1], [1, 1]], "float32")
    m.update_state(y, np.array([[0.9, 0.2], [0.3, 0.8], [0.6, 0.4]], "float32"))
    assert [tuple(v.shape) for v in m.variables] == [(200, 2)] * 4
    with pytest.raises(ValueError, match="rank 2"):
        metrics.AUC(multi_label=True).update_state(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)))


def test_stateless_api():
    keras = require_keras()
    rng = np.random.default_rng(3)
    ours, theirs = metrics.AUC(), keras.metrics.AUC()
    values, k_values = ours.stateless_reset_state(), theirs.stateless_reset_state()
    for _ in range(2):
        y_true, y_pred = _data("binary", rng)
        values = jax.jit(ours.stateless_update_state)(values, y_true, y_pred)
        k_values = theirs.stateless_update_state(k_values, y_true, y_pred)
    np.testing.assert_allclose(ours.stateless_result(values), theirs.stateless_result(k_values),
                               rtol=1e-6)


# ---------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("make,match", [
    (lambda: metrics.AUC(num_thresholds=1), "num_thresholds"),
    (lambda: metrics.AUC(num_thresholds=0), "num_thresholds"),
    (lambda: metrics.AUC(thresholds=[0.2, 1.5]), r"\[0, 1\]"),
    (lambda: metrics.AUC(curve="XY"), "curve"),
    (lambda: metrics.AUC(summation_method="trapezoid"), "summation_method"),
    (lambda: metrics.AUC(num_labels=3), "multi_label"),
    (lambda: metrics.AUC(label_weights=[1.0, -1.0]), "label_weights"),
    (lambda: metrics.TruePositives(thresholds=[-0.1, 0.5]), r"\[0, 1\]"),
    (lambda: metrics.Precision(thresholds=2.0), r"\[0, 1\]"),
    (lambda: metrics.Recall(thresholds=[0.5, None]), r"\[0, 1\]"),
    (lambda: metrics.Precision(top_k=0), "top_k"),
    (lambda: metrics.Recall(top_k=1.5), "top_k"),
    (lambda: metrics.Precision(class_id=-1), "class_id"),
    (lambda: metrics.Recall(class_id="a"), "class_id"),
    (lambda: metrics.SensitivityAtSpecificity(1.5), "specificity"),
    (lambda: metrics.SpecificityAtSensitivity(-0.1), "sensitivity"),
    (lambda: metrics.PrecisionAtRecall(2), "recall"),
    (lambda: metrics.RecallAtPrecision(0.5, num_thresholds=0), "num_thresholds"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_class_id_and_top_k_for_the_data():
    y_true, y_pred = np.eye(3, dtype="float32")[[0, 1, 2]], np.full((3, 3), 0.3, "float32")
    with pytest.raises(ValueError, match="class_id"):
        metrics.Precision(class_id=3).update_state(y_true, y_pred)
    with pytest.raises(ValueError, match="class_id"):
        metrics.Recall(class_id=0).update_state(y_true[:, 0], y_pred[:, 0])  # 1D predictions
    with pytest.raises(ValueError, match="top_k"):
        metrics.Recall(top_k=4).update_state(y_true, y_pred)


# ---------------------------------------------------------------------------------- in fit


def test_in_compile_fit_evaluate_match_keras_on_the_same_predictions():
    """Logged values of `evaluate` (a padded last batch, with and without sample weights)
    equal Keras's metric over `predict`'s outputs; `fit` logs them too."""
    keras = require_keras()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 4)).astype("float32")
    y = (x[:, :1] + 0.3 * rng.normal(size=(50, 1)) > 0).astype("float32")
    sw = rng.random(50).astype("float32")
    model = kerasx.models.Sequential([kerasx.layers.Input((4,)),
                                      kerasx.layers.Dense(1, activation="sigmoid")])

    def make(lib):
        return [lib.metrics.AUC(name="auc"), lib.metrics.Recall(thresholds=0.3, name="recall"),
                lib.metrics.BinaryIoU(name="biou"),
                lib.metrics.F1Score(average="macro", threshold=0.5, name="f1"),
                lib.metrics.R2Score(name="r2")]

    ours = make(kerasx)
    for m in ours:  # F1Score and R2Score size their state from the shapes (see report)
        if hasattr(m, "build"):
            m.build(y.shape, (None, 1))
    model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=ours,
                  weighted_metrics=[metrics.SensitivityAtSpecificity(0.5, name="sens")])
    history = model.fit(x, y, sample_weight=sw, batch_size=16, epochs=1, verbose=0)
    for key in ("auc", "recall", "biou", "f1", "r2", "sens"):
        assert np.all(np.isfinite(np.asarray(history.history[key], dtype=float))), key
    logs = model.evaluate(x, y, sample_weight=sw, batch_size=16, verbose=0, return_dict=True)
    pred = np.asarray(model.predict(x, batch_size=16, verbose=0))
    for k_metric in make(keras):
        k_metric.update_state(y, pred)
        name = k_metric.name
        value = np.asarray(logs[name])
        theirs = np.asarray(k_metric.result())
        if value.shape != theirs.shape:  # a multi-threshold metric may be logged per threshold
            theirs = np.broadcast_to(theirs, value.shape)
        np.testing.assert_allclose(value, theirs, rtol=1e-4, atol=1e-5, err_msg=name)
    k_sens = keras.metrics.SensitivityAtSpecificity(0.5)
    k_sens.update_state(y, pred, sample_weight=sw)
    np.testing.assert_allclose(logs["sens"], k_sens.result(), rtol=1e-4, atol=1e-5)

