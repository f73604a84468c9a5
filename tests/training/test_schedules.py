"""Learning-rate schedules against Keras 3, inside jit and fit, and saved with a model."""

import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import kerasx
from kerasx import layers
from kerasx.optimizers import schedules
from training_support import assert_weights_equal
from kerasx.optimizers.schedules import ExponentialDecay  # the Keras import path works

from keras_oracle import keras  # imported by the oracle tests only: they skip without Keras

# (class name, arguments, steps to check: 0, boundaries on both sides, far past the end)
CASES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5),
     [0, 1, 9, 10, 11, 25, 1000]),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.5,
                              staircase=True), [0, 1, 9, 10, 11, 25, 1000]),
    # Under jit, XLA divides by a constant as a multiplication by its reciprocal: 41 * (1/41)
    # is 0.99999994, so a plain floor would decay one step late (and Keras's jitted step does).
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=41, decay_rate=0.5,
                              staircase=True), [40, 41, 42, 81, 82, 83, 41 * 97]),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=47, decay_rate=1.0,
                              staircase=True), [46, 47, 48, 94, 47 * 55]),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=41, power=0.7, cycle=True),
     [1, 40, 41, 42, 82, 83]),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=41, t_mul=1.0),
     [40, 41, 42, 82, 83]),
    ("PiecewiseConstantDecay", dict(boundaries=[5, 10], values=[1.0, 0.5, 0.1]),
     [0, 4, 5, 6, 9, 10, 11, 10**6]),
    ("PiecewiseConstantDecay", dict(boundaries=[3], values=[0.3, 0.01]), [0, 3, 4, 50]),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=10, end_learning_rate=0.01,
                             power=0.5), [0, 1, 5, 9, 10, 11, 100]),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=10, cycle=True),
     [0, 1, 9, 10, 11, 20, 21, 35]),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=0.5),
     [0, 1, 4, 5, 6, 100]),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=5, decay_rate=0.5,
                              staircase=True), [0, 1, 4, 5, 6, 100]),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=20, alpha=0.1),
     [0, 1, 10, 19, 20, 21, 500]),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=20, warmup_target=0.1,
                         warmup_steps=5), [0, 1, 4, 5, 6, 15, 24, 25, 26, 500]),
    ("CosineDecay", dict(initial_learning_rate=0.01, decay_steps=8, alpha=0.2, warmup_target=0.05,
                         warmup_steps=0), [0, 1, 8, 9]),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=5),
     [0, 1, 4, 5, 6, 14, 15, 16, 40, 1000]),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=4, t_mul=1.0,
                                 m_mul=0.5, alpha=0.1), [0, 1, 3, 4, 5, 8, 9, 30]),
    ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=3, t_mul=3.0,
                                 m_mul=0.8, alpha=0.05), [0, 2, 3, 4, 11, 12, 13, 39, 40, 200]),
]
IDS = [f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)]


@pytest.mark.parametrize("name,kwargs,steps", CASES, ids=IDS)
def test_matches_keras_eagerly_and_under_jit(name, kwargs, steps):
    ours = getattr(schedules, name)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, name)(**kwargs)
    # One scalar step at a time: XLA:CPU's vectorized division is not exactly rounded, so Keras
    # given a vector of steps can floor 41/41 to 0.
    expected = np.array([np.asarray(theirs(jnp.int32(s))) for s in steps])
    assert expected.dtype == np.float32
    # traced: a jitted step count, as in the train step
    traced = np.asarray(jax.jit(jax.vmap(ours))(jnp.asarray(steps, jnp.int32)))
    assert traced.dtype == np.float32
    np.testing.assert_allclose(traced, expected, rtol=1e-6, atol=1e-9, err_msg=f"{name} jit")
    for i in (0, -1):  # eager, with a scalar step (an int32 array or a Python int)
        for step in (jnp.int32(steps[i]), steps[i]):
            value = ours(step)
            assert value.shape == () and value.dtype == jnp.float32
            np.testing.assert_allclose(value, expected[i], rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("name,kwargs,steps", CASES, ids=IDS)
def test_config_matches_keras_and_round_trips(name, kwargs, steps):
    ours = getattr(schedules, name)(**kwargs)
    theirs = getattr(keras.optimizers.schedules, name)(**kwargs)
    assert ours.get_config() == theirs.get_config()
    again = type(ours).from_config(ours.get_config())
    assert again.get_config() == ours.get_config()
    np.testing.assert_array_equal(again(jnp.int32(steps[-1])), ours(jnp.int32(steps[-1])))
    # serialize/deserialize, ours and Keras-written
    data = schedules.serialize(ours)
    assert data["class_name"] == name and data["module"] == "kerasx.optimizers.schedules"
    assert schedules.deserialize(data).get_config() == ours.get_config()
    keras_data = keras.optimizers.schedules.serialize(theirs)
    assert schedules.deserialize(keras_data).get_config() == ours.get_config()


def test_defaults_match_keras():
    pairs = [("ExponentialDecay", (0.1, 10, 0.9)), ("PiecewiseConstantDecay", ([1], [0.1, 0.2])),
             ("PolynomialDecay", (0.1, 10)), ("InverseTimeDecay", (0.1, 10, 0.5)),
             ("CosineDecay", (0.1, 10)), ("CosineDecayRestarts", (0.1, 10))]
    for name, args in pairs:
        assert getattr(schedules, name)(*args).get_config() == \
            getattr(keras.optimizers.schedules, name)(*args).get_config(), name


def test_is_a_plain_optax_schedule():
    params = {"w": jnp.ones(3)}
    tx = optax.sgd(ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5))
    state = tx.init(params)
    step = jax.jit(tx.update)
    deltas = []
    for _ in range(3):
        updates, state = step({"w": jnp.ones(3)}, state)
        deltas.append(float(updates["w"][0]))
    np.testing.assert_allclose(deltas, [-0.1, -0.05, -0.025], rtol=1e-6)


def test_misuse_errors_name_the_argument():
    with pytest.raises(ValueError, match="length of boundaries.*values"):
        schedules.PiecewiseConstantDecay([5, 10], [1.0, 0.5])
    with pytest.raises(ValueError, match="`boundaries` must be strictly increasing"):
        schedules.PiecewiseConstantDecay([10, 5], [1.0, 0.5, 0.1])
    with pytest.raises(ValueError, match="`decay_steps` must be > 0. Received: decay_steps=0"):
        schedules.ExponentialDecay(0.1, decay_steps=0, decay_rate=0.5)
    with pytest.raises(ValueError, match="decay_steps=-1"):
        schedules.CosineDecay(0.1, decay_steps=-1)
    with pytest.raises(ValueError, match="`first_decay_steps` must be > 0"):
        schedules.CosineDecayRestarts(0.1, 0)
    with pytest.raises(ValueError, match="`initial_learning_rate`.*'0.1'"):
        schedules.PolynomialDecay("0.1", 10)
    with pytest.raises(ValueError, match="`warmup_steps` must be >= 0"):
        schedules.CosineDecay(0.0, 10, warmup_target=0.1, warmup_steps=-2)
    with pytest.raises(ValueError, match="Unknown learning-rate schedule 'Mine'.*custom_objects"):
        schedules.deserialize({"class_name": "Mine", "config": {}, "module": "my.module"})
    with pytest.raises(NotImplementedError, match="must override `__call__"):
        schedules.LearningRateSchedule()(0)


def test_optimizer_config_holds_the_serialized_schedule():
    for cls in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]:
        ours = getattr(kerasx.optimizers, cls)(learning_rate=schedules.CosineDecay(0.1, 10))
        theirs = getattr(keras.optimizers, cls)(learning_rate=keras.optimizers.schedules.CosineDecay(0.1, 10))
        lr, keras_lr = ours.get_config()["learning_rate"], theirs.get_config()["learning_rate"]
        assert {**lr, "module": None} == {**keras_lr, "module": None}
        again = type(ours).from_config(ours.get_config())
        assert isinstance(again.learning_rate, schedules.CosineDecay)
        assert again.get_config() == ours.get_config()


# ------------------------------------------------------------------------------- in fit
RNG = np.random.default_rng(3)
X = RNG.normal(size=(32, 5)).astype("float32")
Y = RNG.normal(size=(32, 2)).astype("float32")


def test_fit_decays_the_learning_rate_as_keras_does():
    def arch(L):
        return [L.Input((5,)), L.Dense(4, activation="tanh"), L.Dense(2)]

    kx, kr = kerasx.Sequential(arch(kerasx.layers)), keras.Sequential(arch(keras.layers))
    kr.set_weights(kx.get_weights())
    kx.compile(optimizer=kerasx.optimizers.SGD(learning_rate=ExponentialDecay(0.2, 2, 0.5),
                                               momentum=0.5), loss="mse")
    kr.compile(optimizer=keras.optimizers.SGD(
        learning_rate=keras.optimizers.schedules.ExponentialDecay(0.2, 2, 0.5), momentum=0.5),
        loss="mse")
    kx.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    kr.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(kx.get_weights(), kr.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert kx.optimizer.iterations == 8
    # `optimizer.learning_rate` is the rate the next update uses, as in Keras.
    np.testing.assert_allclose(kx.optimizer.learning_rate, 0.2 * 0.5 ** 4, rtol=1e-6)
    np.testing.assert_allclose(kx.optimizer.learning_rate, float(kr.optimizer.learning_rate), rtol=1e-6)
    with pytest.raises(TypeError, match="schedule"):
        kx.optimizer.learning_rate = 0.1


# ------------------------------------------------------------------------------- saving
@kerasx.saving.register_keras_serializable(package="test_schedules")
class HalfEvery(schedules.LearningRateSchedule):
    def __init__(self, initial_learning_rate, every):
        self.initial_learning_rate = initial_learning_rate
        self.every = every

    def __call__(self, step):
        return self.initial_learning_rate * 0.5 ** jnp.floor(step / self.every)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "every": self.every}


class NoConfig(schedules.LearningRateSchedule):
    def __call__(self, step):
        return 0.01 + 0.0 * step


def _net(schedule):
    m = kerasx.Sequential([layers.Input((5,)), layers.Dense(4, activation="relu"), layers.Dense(2)])
    m.compile(optimizer=kerasx.optimizers.Adam(learning_rate=schedule), loss="mse", metrics=["mae"])
    return m


def test_save_load_keeps_the_schedule_and_fit_continues_exactly(tmp_path):
    schedule = schedules.CosineDecay(0.0, 6, alpha=0.1, warmup_target=0.05, warmup_steps=3)
    kerasx.utils.set_random_seed(1)
    a = _net(schedule)
    a.fit(X, Y, batch_size=8, epochs=1, verbose=0)
    path = str(tmp_path / "m.kerasx")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "saved without its compile() arguments"
        a.save(path)
    b = kerasx.models.load_model(path)
    restored = b.optimizer.get_config()
    assert restored == a.optimizer.get_config()
    assert isinstance(b._trainer.optimizer.learning_rate, schedules.CosineDecay)
    assert b.optimizer.iterations == a.optimizer.iterations == 4
    assert b.optimizer.learning_rate == a.optimizer.learning_rate == schedule(4)
    kerasx.utils.set_random_seed(2)
    a.fit(X, Y, batch_size=8, epochs=3, initial_epoch=1, verbose=0)
    kerasx.utils.set_random_seed(2)
    b.fit(X, Y, batch_size=8, epochs=3, initial_epoch=1, verbose=0)
    assert_weights_equal(a.get_weights(), b.get_weights())
    assert b.optimizer.learning_rate == a.optimizer.learning_rate == schedule(12)


def test_save_load_restores_a_registered_custom_schedule(tmp_path):
    a = _net(HalfEvery(0.05, 3))
    path = str(tmp_path / "m.kerasx")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a.save(path)
    b = kerasx.models.load_model(path)
    restored = b._trainer.optimizer.learning_rate
    assert type(restored) is HalfEvery
    assert restored.get_config() == {"initial_learning_rate": 0.05, "every": 3}
    assert b.optimizer.learning_rate == a.optimizer.learning_rate == np.float32(0.05)


def test_unregistered_custom_schedule_loads_with_custom_objects(tmp_path):
    class Unregistered(HalfEvery):
        pass

    path = str(tmp_path / "m.kerasx")
    _net(Unregistered(0.1, 2)).save(path)
    with pytest.raises(ValueError, match="Unknown learning-rate schedule 'Unregistered'"):
        kerasx.models.load_model(path)
    b = kerasx.models.load_model(path, custom_objects={"Unregistered": Unregistered})
    assert type(b._trainer.optimizer.learning_rate) is Unregistered


@pytest.mark.parametrize("schedule", [optax.linear_schedule(0.1, 0.0, 10), lambda step: 0.01,
                                      NoConfig()], ids=["optax", "lambda", "no-get_config"])
def test_schedules_without_config_still_save_without_compile_args(schedule, tmp_path):
    m = _net(schedule)
    path = str(tmp_path / "m.kerasx")
    with pytest.warns(UserWarning, match="without its compile"):
        m.save(path)
