"""`model.optimizer`: the learning rate a callback reads and sets during fit, without
recompiling, and weights a callback sets during fit."""

import numpy as np
import optax
import pytest

import kerasx
from kerasx import layers

RNG = np.random.default_rng(2)
X = RNG.normal(size=(64, 4)).astype("float32")
Y = RNG.integers(0, 3, 64)


def model(optimizer=None):
    m = kerasx.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    m.compile(optimizer=optimizer or kerasx.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    return m


def test_learning_rate_and_iterations_outside_fit():
    m = model()
    assert m.optimizer.learning_rate == pytest.approx(0.1)
    assert m.optimizer.iterations == 0
    m.optimizer.learning_rate = 0.0  # before the first fit
    before = m.get_weights()
    m.fit(X, Y, batch_size=16, epochs=2, verbose=0)
    for a, b in zip(before, m.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert m.optimizer.iterations == 8
    assert m.optimizer.learning_rate == 0.0
    assert m.optimizer.name == "SGD" or m.optimizer.name.lower() == "sgd"
    assert kerasx.Sequential([layers.Dense(2)]).optimizer is None


@pytest.mark.parametrize("spe", ["auto", 1])
def test_a_callback_changes_the_rate_between_epochs_without_recompiling(spe):
    seen = []

    class Schedule(kerasx.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.model.optimizer.learning_rate = 0.0 if epoch == 1 else 0.1

        def on_epoch_end(self, epoch, logs=None):
            seen.append((self.model.optimizer.learning_rate, self.model.get_weights()[0].copy()))

    m = model()
    m.compile(optimizer=kerasx.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
              steps_per_execution=spe)
    m.fit(X, Y, batch_size=16, epochs=3, verbose=0, callbacks=[Schedule()])
    assert [lr for lr, _ in seen] == pytest.approx([0.1, 0.0, 0.1])
    np.testing.assert_array_equal(seen[1][1], seen[0][1])   # lr 0: no change in epoch 1
    assert np.abs(seen[2][1] - seen[1][1]).max() > 1e-4
    assert m._trainer._train_exec._cache_size() == 1


def test_optax_with_injected_hyperparams_and_schedules():
    m = model(optax.inject_hyperparams(optax.sgd)(learning_rate=0.05))
    m.fit(X, Y, verbose=0)
    assert m.optimizer.learning_rate == pytest.approx(0.05)
    m.optimizer.learning_rate = 0.01
    assert m.optimizer.learning_rate == pytest.approx(0.01)
    with pytest.raises(TypeError, match="schedule"):
        model(kerasx.optimizers.SGD(optax.linear_schedule(0.1, 0.0, 10))).optimizer.learning_rate = 0.1
    plain = model(optax.sgd(0.1))
    plain.fit(X, Y, verbose=0)
    with pytest.raises(ValueError, match="inject_hyperparams"):
        plain.optimizer.learning_rate = 0.5


def test_weights_a_callback_sets_during_fit_are_trained_on():
    class Reset(kerasx.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.start = self.model.get_weights()

        def on_epoch_end(self, epoch, logs=None):
            self.model.set_weights(self.start)

    m = model()
    cb = Reset()
    m.optimizer.learning_rate = 0.1
    h = m.fit(X, Y, batch_size=64, epochs=3, verbose=0, shuffle=False, callbacks=[cb])
    # every epoch starts again from the same weights, so every epoch logs the same loss
    np.testing.assert_allclose(h.history["loss"], [h.history["loss"][0]] * 3, rtol=1e-6)


def test_learning_rate_of_a_schedule_and_of_a_plain_optax_optimizer():
    schedule = kerasx.optimizers.schedules.ExponentialDecay(0.1, decay_steps=4, decay_rate=0.5)
    m = model(kerasx.optimizers.SGD(schedule))
    assert m.optimizer.learning_rate == pytest.approx(0.1)  # step 0, before any state exists
    m.fit(X, Y, batch_size=16, epochs=2, verbose=0)  # 8 updates
    assert m.optimizer.learning_rate == pytest.approx(float(schedule(8)))
    # A plain optax optimizer has no readable rate: the error says what to use instead.
    m = model(optax.adam(1e-3))
    with pytest.raises(AttributeError, match="inject_hyperparams"):
        m.optimizer.learning_rate
    with pytest.raises(AttributeError, match="inject_hyperparams"):
        m.optimizer.lr
