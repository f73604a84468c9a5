"""Regularizers, constraints, add_loss and Lambda, against Keras 3 on the same weights."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import constraints, layers, regularizers
from keras_oracle import require_keras  # Keras, or skip the test that needs it


def keras():
    return require_keras()


W = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")


@pytest.mark.parametrize("name,kwargs", [
    ("L1", {"l1": 0.03}), ("L2", {"l2": 0.02}), ("L1L2", {"l1": 0.01, "l2": 0.05}),
    ("L1L2", {}), ("OrthogonalRegularizer", {"factor": 0.1, "mode": "rows"}),
    ("OrthogonalRegularizer", {"factor": 0.2, "mode": "columns"}),
])
def test_regularizers_match_keras(name, kwargs):
    k = keras()
    ours = getattr(regularizers, name)(**kwargs)
    theirs = getattr(k.regularizers, name)(**kwargs)
    np.testing.assert_allclose(ours(W), np.asarray(theirs(jnp.asarray(W))), rtol=1e-5, atol=1e-7)
    ours_config, theirs_config = ours.get_config(), theirs.get_config()
    assert ours_config.keys() == theirs_config.keys()
    for key, value in ours_config.items():  # Keras keeps its factors as float32
        assert value == pytest.approx(theirs_config[key], rel=1e-6) if isinstance(value, float) \
            else value == theirs_config[key]
    assert regularizers.get(regularizers.serialize(ours)).get_config() == ours.get_config()


@pytest.mark.parametrize("name,kwargs", [
    ("MaxNorm", {"max_value": 1.5}), ("MaxNorm", {"max_value": 1.0, "axis": [0, 1]}),
    ("MinMaxNorm", {"min_value": 0.5, "max_value": 1.2, "rate": 0.7}), ("NonNeg", {}),
    ("UnitNorm", {"axis": 1}),
])
def test_constraints_match_keras(name, kwargs):
    k = keras()
    ours = getattr(constraints, name)(**kwargs)
    theirs = getattr(k.constraints, name)(**kwargs)
    np.testing.assert_allclose(ours(W), np.asarray(theirs(jnp.asarray(W))), rtol=1e-5, atol=1e-6)


def test_names_and_bad_values():
    assert isinstance(regularizers.get("l2"), regularizers.L2)
    assert isinstance(constraints.get("non_neg"), constraints.NonNeg)
    with pytest.raises(ValueError, match="Unknown regularizer: 'l3'"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="`l2` of L2, expected a non-negative number.*-1"):
        regularizers.L2(-1)


class Penalized(layers.Layer):
    """add_loss inside call."""

    def call(self, x):
        self.add_loss(0.01 * jnp.sum(jnp.square(x)))
        return x


def _models(lib, penalized_cls):
    reg = lib.regularizers
    con = lib.constraints
    return lib.Sequential([
        lib.Input((5,)),
        lib.layers.Dense(8, activation="tanh", kernel_regularizer=reg.L2(0.01),
                         bias_regularizer=reg.L1(0.01), activity_regularizer=reg.L2(0.001),
                         kernel_constraint=con.MaxNorm(0.8)),
        penalized_cls(),
        lib.layers.BatchNormalization(gamma_regularizer=reg.L2(0.1),
                                      beta_constraint=con.NonNeg()),
        lib.layers.Dense(1, kernel_constraint=con.NonNeg()),
    ])


def test_fit_with_regularizers_constraints_and_add_loss_matches_keras():
    k = keras()

    class KPenalized(k.layers.Layer):
        def call(self, x):
            self.add_loss(0.01 * k.ops.sum(k.ops.square(x)))
            return x

    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 5)).astype("float32")
    y = rng.normal(size=(64, 1)).astype("float32")
    ours, theirs = _models(kerasx, Penalized), _models(k, KPenalized)
    ours.set_weights(theirs.get_weights())
    for model, lib in ((ours, kerasx), (theirs, k)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0),
                               rtol=1e-5)
    h1 = ours.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    h2 = theirs.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert np.all(ours.get_weights()[-2] >= 0)  # NonNeg held after every update
    assert np.all(np.linalg.norm(ours.get_weights()[0], axis=0) <= 0.8 + 1e-5)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0),
                               rtol=1e-4)


def test_layer_losses_and_pure_collection():
    dense = layers.Dense(3, kernel_regularizer=regularizers.L2(0.5),
                         activity_regularizer=regularizers.L1(0.1))
    x = np.ones((2, 4), np.float32)
    y = dense(x)
    activity, weight = dense.losses
    np.testing.assert_allclose(activity, 0.1 * np.abs(np.asarray(y)).sum() / 2, rtol=1e-6)
    np.testing.assert_allclose(weight, 0.5 * (dense.kernel.numpy() ** 2).sum(), rtol=1e-6)
    model = kerasx.Sequential([kerasx.Input((4,)), Penalized(), dense])

    def total_added(params, state):  # the pure form: collect inside the traced function
        with kerasx.layers.collect_losses() as added:
            model.apply(params, state, x)
        return len(added), sum(added)

    count, total = jax.jit(total_added)(model.params, model.state)
    assert count == 2
    y = x @ dense.kernel.numpy() + dense.bias.numpy()
    np.testing.assert_allclose(total, 0.01 * 8 + 0.1 * np.abs(y).sum() / 2, rtol=1e-5)
    # a frozen layer's weights are not regularized (Keras counts trainable weights only)
    dense.trainable = False
    assert len(dense.losses) == 1


def test_regularized_layers_load_from_keras_json():
    k = keras()
    theirs = k.Sequential([k.Input((4,)), k.layers.Dense(
        2, kernel_regularizer=k.regularizers.L1L2(0.01, 0.02),
        kernel_constraint=k.constraints.UnitNorm(), bias_constraint="non_neg")])
    ours = kerasx.models.model_from_json(theirs.to_json())
    dense = ours.layers[0]
    assert dense.kernel_regularizer.get_config() == pytest.approx({"l1": 0.01, "l2": 0.02})
    assert isinstance(dense.kernel_constraint, constraints.UnitNorm)
    assert isinstance(dense.bias_constraint, constraints.NonNeg)
    clone = kerasx.models.model_from_json(ours.to_json())
    assert clone.layers[0].kernel_regularizer.get_config() == pytest.approx(
        {"l1": 0.01, "l2": 0.02})


@kerasx.saving.register_keras_serializable(package="tests_regularizers")
def double_plus(x, offset=1.0):
    return 2.0 * x + offset


def test_lambda_layer_runs_saves_and_refuses_stored_code(tmp_path):
    model = kerasx.Sequential([kerasx.Input((3,)),
                               layers.Lambda(double_plus, arguments={"offset": 0.5})])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(model.predict(x, verbose=0), 2 * x + 0.5)
    clone = kerasx.models.model_from_json(model.to_json())
    np.testing.assert_allclose(clone.predict(x, verbose=0), 2 * x + 0.5)

    with pytest.warns(UserWarning, match="holds a Python lambda"):
        text = kerasx.Sequential([kerasx.Input((3,)), layers.Lambda(lambda t: t * 3,
                                                                    name="triple")]).to_json()
    with pytest.raises(ValueError, match="Lambda layer 'triple'.*never runs code read from a"):
        kerasx.models.model_from_json(text)
    k = keras()
    keras_text = k.Sequential([k.Input((3,)), k.layers.Lambda(lambda t: t + 1,
                                                              name="plus")]).to_json()
    with pytest.raises(ValueError, match="Lambda layer 'plus'"):
        kerasx.models.model_from_json(keras_text)
    assert "__lambda__" in json.dumps(json.loads(keras_text))
