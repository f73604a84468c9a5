"""IoU metrics (IoU, MeanIoU, BinaryIoU, OneHotIoU, OneHotMeanIoU) against Keras 3, over several
batches, with and without sample weights; the pure jitted path; bad input."""

import zlib

import jax
import numpy as np
import pytest

from kerasx import metrics
from keras_oracle import require_keras

C = 4


def _data(kind, rng):
    if kind == "sparse":  # per-pixel class ids (2 images of 3x3), with ids outside [0, C)
        y_true = rng.integers(0, C, (2, 3, 3))
        y_true[0, 0, 0] = C  # out of range: left out, as Keras
        return y_true, rng.integers(0, C, (2, 3, 3))
    if kind == "onehot":
        return np.eye(C, dtype="float32")[rng.integers(0, C, 6)], rng.random((6, C)).astype("float32")
    if kind == "onehot_sparse_pred":
        return np.eye(C, dtype="float32")[rng.integers(0, C, 6)], rng.integers(0, C, 6)
    if kind == "binary":
        return rng.integers(0, 2, (6, 1)).astype("float32"), np.round(rng.random((6, 1)), 1).astype("float32")
    raise KeyError(kind)


def _weight(kind, y_true, rng):
    if kind is None:
        return None
    if kind == "int":  # integer weights: the default int32 matrix keeps them exactly
        return rng.integers(0, 3, np.shape(y_true)[:1] if np.ndim(y_true) == 2 and
                            np.shape(y_true)[-1] == C else np.shape(y_true)).astype("int32")
    if kind == "float":
        return rng.random(np.shape(y_true)).astype("float32")
    raise KeyError(kind)


CASES = [
    ("MeanIoU", {"num_classes": C}, "sparse", [None, "int"], True),
    ("MeanIoU", {"num_classes": C, "ignore_class": 0}, "sparse", ["int"], False),
    ("MeanIoU", {"num_classes": C, "dtype": "float32"}, "sparse", ["float"], True),
    ("MeanIoU", {"num_classes": C, "sparse_y_true": False, "sparse_y_pred": False}, "onehot",
     [None], False),
    ("IoU", {"num_classes": C, "target_class_ids": [0, 2]}, "sparse", [None], False),
    ("IoU", {"num_classes": C, "target_class_ids": [3], "sparse_y_true": False,
             "sparse_y_pred": False}, "onehot", ["int"], False),
    ("BinaryIoU", {}, "binary", [None], True),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, "binary", ["int"], False),
    ("OneHotIoU", {"num_classes": C, "target_class_ids": [1, 3]}, "onehot", [None], True),
    ("OneHotIoU", {"num_classes": C, "target_class_ids": [0, 1], "sparse_y_pred": True},
     "onehot_sparse_pred", [None], False),
    ("OneHotMeanIoU", {"num_classes": C, "ignore_class": 2}, "onehot", ["int"], False),
]
PARAMS = [(c, kw, kind, w, jit) for c, kw, kind, ws, jit in CASES for w in ws]


@pytest.mark.parametrize("name,kwargs,kind,weight,jit", PARAMS,
                         ids=[f"{c}-{kw}-{k}-{w}" for c, kw, k, w, _ in PARAMS])
def test_streaming_matches_keras(name, kwargs, kind, weight, jit):
    keras = require_keras()
    rng = np.random.default_rng(zlib.crc32(f"{name}{kwargs}{kind}{weight}".encode()))
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    pure = getattr(metrics, name)(**kwargs)
    update = jax.jit(pure.update) if jit else pure.update
    state = pure.init()
    for _ in range(2):
        y_true, y_pred = _data(kind, rng)
        w = _weight(weight, y_true, rng)
        ours.update_state(y_true, y_pred, sample_weight=w)
        theirs.update_state(y_true, y_pred, sample_weight=w)
        np.testing.assert_allclose(ours.result(), theirs.result(), rtol=1e-5, atol=1e-6)
        state = update(state, y_true, y_pred, w)
    np.testing.assert_allclose(pure.result(state), theirs.result(), rtol=1e-5, atol=1e-6)
    assert [v.name for v in ours.variables] == [v.name for v in theirs.variables]
    np.testing.assert_array_equal(ours.variables[0].numpy(), np.asarray(theirs.variables[0].value))
    assert ours.variables[0].numpy().dtype == np.asarray(theirs.variables[0].value).dtype
    ours.reset_state()
    assert not np.any(ours.variables[0].numpy())


def test_per_sample_weights_of_multidimensional_labels():
    """A per-sample weight (e.g. the row mask of a padded batch) weights every pixel of its
    sample (Keras needs the full shape)."""
    rng = np.random.default_rng(0)
    y_true, y_pred = _data("sparse", rng)
    w = np.array([1, 0], "int32")
    a, b = metrics.MeanIoU(C), metrics.MeanIoU(C)
    a.update_state(y_true, y_pred, sample_weight=w)
    b.update_state(y_true[:1], y_pred[:1])
    np.testing.assert_array_equal(a.variables[0].numpy(), b.variables[0].numpy())


@pytest.mark.parametrize("name,kwargs", [
    ("IoU", {"num_classes": 3, "target_class_ids": [0, 2], "ignore_class": 1}),
    ("MeanIoU", {"num_classes": 3, "sparse_y_pred": False, "axis": -1}),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.4}),
    ("OneHotIoU", {"num_classes": 3, "target_class_ids": [1]}),
    ("OneHotMeanIoU", {"num_classes": 3, "ignore_class": 0}),
])
def test_config_matches_keras_and_round_trips(name, kwargs):
    keras = require_keras()
    ours, theirs = getattr(metrics, name)(**kwargs), getattr(keras.metrics, name)(**kwargs)
    config, k_config = ours.get_config(), theirs.get_config()
    assert set(config) == set(k_config)
    for key in set(config) - {"name"}:
        assert config[key] == k_config[key], key
    assert type(ours)(**config).get_config() == config


@pytest.mark.parametrize("make,match", [
    (lambda: metrics.IoU(num_classes=3, target_class_ids=[0, 3]), "out of range"),
    (lambda: metrics.IoU(num_classes=3, target_class_ids=[-1]), "out of range"),
    (lambda: metrics.OneHotIoU(num_classes=2, target_class_ids=[2]), "out of range"),
    (lambda: metrics.BinaryIoU(target_class_ids=[0, 2]), "out of range"),
    (lambda: metrics.IoU(num_classes=3, target_class_ids=[]), "target_class_ids"),
    (lambda: metrics.MeanIoU(num_classes=0), "num_classes"),
    (lambda: metrics.MeanIoU(num_classes=2.5), "num_classes"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()
