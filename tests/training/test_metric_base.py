"""The `Metric` base class: Keras's stateful and stateless API over kerasx's pure metrics, and
Keras-style subclasses compiled into what `fit` runs. Keras 3 is the oracle."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import metrics
from keras_oracle import require_keras  # Keras, or skip the test that needs it


def keras():
    return require_keras()


class BinaryTruePositives(metrics.Metric):
    """Keras's guide example, written with jax.numpy."""

    def __init__(self, name="binary_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), initializer="zeros",
                                                name="true_positives")
        self.seen = self.add_variable(shape=(), initializer="zeros", name="seen")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = jnp.asarray(y_true).astype(bool)
        y_pred = jnp.asarray(y_pred) >= 0.5
        values = jnp.logical_and(y_true, y_pred).astype(self.dtype)
        if sample_weight is not None:
            values = values * jnp.asarray(sample_weight, self.dtype)
        self.true_positives.assign(self.true_positives + jnp.sum(values))
        self.seen.assign_add(jnp.asarray(y_true.shape[0], self.dtype))

    def result(self):
        return self.true_positives.value / jnp.maximum(self.seen.value, 1.0)


def keras_twin():
    k = keras()

    class KBinaryTruePositives(k.metrics.Metric):
        def __init__(self, name="binary_true_positives", **kwargs):
            super().__init__(name=name, **kwargs)
            self.true_positives = self.add_variable(shape=(), initializer="zeros",
                                                    name="true_positives")
            self.seen = self.add_variable(shape=(), initializer="zeros", name="seen")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_true = k.ops.cast(y_true, "bool")
            y_pred = k.ops.greater_equal(y_pred, 0.5)
            values = k.ops.cast(k.ops.logical_and(y_true, y_pred), self.dtype)
            if sample_weight is not None:
                values = values * k.ops.cast(sample_weight, self.dtype)
            self.true_positives.assign(self.true_positives + k.ops.sum(values))
            self.seen.assign_add(k.ops.cast(k.ops.shape(y_true)[0], self.dtype))

        def result(self):
            return self.true_positives / k.ops.maximum(self.seen, 1.0)

    return KBinaryTruePositives()


RNG = np.random.default_rng(0)
Y_TRUE = (RNG.random((3, 8, 1)) > 0.5).astype("float32")
Y_PRED = RNG.random((3, 8, 1)).astype("float32")
WEIGHT = RNG.random((3, 8)).astype("float32")


def test_keras_style_subclass_stateful_api_matches_keras():
    ours, theirs = BinaryTruePositives(), keras_twin()
    for i in range(3):
        ours.update_state(Y_TRUE[i], Y_PRED[i], sample_weight=WEIGHT[i])
        theirs.update_state(Y_TRUE[i], Y_PRED[i], sample_weight=WEIGHT[i])
        np.testing.assert_allclose(ours.result(), theirs.result(), rtol=1e-6)
    assert [v.name for v in ours.variables] == [v.name for v in theirs.variables]
    ours.reset_state()
    assert float(ours.result()) == 0.0 and float(ours.variables[0].numpy()) == 0.0


def test_keras_style_subclass_pure_and_stateless_forms_under_jit():
    ours, theirs = BinaryTruePositives(), keras_twin()
    update = jax.jit(ours.update)
    state = ours.init()
    for i in range(3):
        state = update(state, Y_TRUE[i], Y_PRED[i])
        theirs.update_state(Y_TRUE[i], Y_PRED[i])
    np.testing.assert_allclose(metrics.metric_result(ours, state), theirs.result(), rtol=1e-6)
    assert float(ours.result()) == 0.0  # the pure form left the held state alone
    values = ours.stateless_reset_state()
    k_values = [v.value for v in theirs.variables]
    k_values = theirs.stateless_reset_state()
    for i in range(3):
        values = jax.jit(ours.stateless_update_state)(values, Y_TRUE[i], Y_PRED[i])
        k_values = theirs.stateless_update_state(k_values, Y_TRUE[i], Y_PRED[i])
    np.testing.assert_allclose(ours.stateless_result(values), theirs.stateless_result(k_values),
                               rtol=1e-6)


@pytest.mark.parametrize("name", ["Mean", "BinaryAccuracy", "MeanSquaredError"])
def test_builtin_metrics_have_keras_stateful_and_stateless_api(name):
    k = keras()
    ours, theirs = getattr(metrics, name)(), getattr(k.metrics, name)()
    args = (lambda i: (Y_PRED[i],)) if name == "Mean" else (lambda i: (Y_TRUE[i], Y_PRED[i]))
    for i in range(2):
        ours.update_state(*args(i), sample_weight=WEIGHT[i])
        theirs.update_state(*args(i), sample_weight=WEIGHT[i])
    np.testing.assert_allclose(ours.result(), theirs.result(), rtol=1e-6)
    assert [v.name for v in ours.variables] == [v.name for v in theirs.variables]
    np.testing.assert_allclose([v.numpy() for v in ours.variables],
                               [np.asarray(v.value) for v in theirs.variables], rtol=1e-6)
    values = theirs.stateless_reset_state()
    ours_values = ours.stateless_update_state(ours.stateless_reset_state(), *args(2))
    values = theirs.stateless_update_state(values, *args(2))
    np.testing.assert_allclose(ours.stateless_result(ours_values),
                               theirs.stateless_result(values), rtol=1e-6)
    ours.reset_state()
    assert float(ours.result()) == 0.0


def test_keras_style_metric_in_compile_matches_keras_fit():
    k = keras()
    x = RNG.normal(size=(64, 4)).astype("float32")
    y = (x[:, :1] > 0).astype("float32")

    def make(lib, metric):
        model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(1, activation="sigmoid")])
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="binary_crossentropy",
                      metrics=[metric])
        return model

    ours, theirs = make(kerasx, BinaryTruePositives()), make(k, keras_twin())
    ours.set_weights(theirs.get_weights())
    h1 = ours.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0, validation_split=0.25)
    h2 = theirs.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
                    validation_split=0.25)
    for key in ("binary_true_positives", "val_binary_true_positives", "loss"):
        np.testing.assert_allclose(h1.history[key], h2.history[key], rtol=1e-5)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0),
                               rtol=1e-5)


def test_keras_style_result_may_return_a_variable_itself_under_jit():
    """Keras's guide returns the variable (`return self.true_positives`); under `jit` (fit's
    compiled step) its value is the result, not a handle JAX cannot trace."""

    class Count(metrics.Metric):
        def __init__(self, name="count", **kwargs):
            super().__init__(name=name, **kwargs)
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.total.assign_add(jnp.sum(jnp.asarray(y_pred)))

        def result(self):
            return self.total

    metric = Count()
    state = jax.jit(metric.update)(metric.init(), Y_TRUE[0], Y_PRED[0])
    result = jax.jit(lambda s: metrics.metric_result(metric, s))(state)
    np.testing.assert_allclose(result, Y_PRED[0].sum(), rtol=1e-6)
    values = jax.jit(metric.stateless_update_state)(metric.stateless_reset_state(),
                                                    Y_TRUE[0], Y_PRED[0])
    np.testing.assert_allclose(jax.jit(metric.stateless_result)(values), Y_PRED[0].sum(),
                               rtol=1e-6)
