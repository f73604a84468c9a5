"""Oracle tests for the rest of kerasx.optimizers (Keras 3, JAX backend, is the oracle).

Same initial weights and the same gradient sequence go into Keras's optimizer
(`apply_gradients` on `keras.Variable`s named by the weights' paths) and ours
(`update` under `jax.jit`); the weights must agree after every step.
"""

import os
import re

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from keras_oracle import keras  # imported by the oracle tests only: they skip without Keras

import kerasx
from kerasx import optimizers

STEPS = 5
TOL = 1e-6
SLOW = pytest.mark.slow  # the extra variants: `pytest -m slow` runs them

SHAPES = {
    "dense": {"kernel": (3, 4), "bias": (4,)},
    "conv": {"kernel": (2, 2, 3, 2)},
    "tall": {"kernel": (5, 3)},
    "embedding": {"embeddings": (6, 3)},
    "scale": (2,),
}


def _params_and_grads(steps=STEPS, seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    params = jax.tree_util.tree_map(lambda s: rng.normal(size=s).astype("float32"), shapes,
                                    is_leaf=lambda x: isinstance(x, tuple))
    grads = [jax.tree_util.tree_map(lambda p: (rng.normal(size=p.shape) * 2).astype("float32"), params)
             for _ in range(steps)]
    return params, grads


def _keras_variables(params):
    """keras.Variables with the paths kerasx gives the leaves ("dense/kernel")."""
    variables = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        names = [k.key for k in path]
        scopes = [keras.name_scope(n) for n in names[:-1]]
        for s in scopes:
            s.__enter__()
        variables.append(keras.Variable(leaf, name=names[-1]))
        for s in reversed(scopes):
            s.__exit__(None, None, None)
    return variables


def _assert_close(ours_params, variables, step, atol=TOL, rtol=TOL):
    for i, (ours, var) in enumerate(zip(jax.tree_util.tree_leaves(ours_params), variables)):
        np.testing.assert_allclose(ours, np.asarray(var.value), atol=atol, rtol=rtol,
                                   err_msg=f"step {step}, weight {i} ({var.path})")


def run_both(ours, theirs, params=None, grads=None, atol=TOL, rtol=TOL, check=None):
    """Feeds the same gradients to both; compares the weights after every step.

    Keras's side runs `stateless_apply` under `jax.jit` (as Keras's JAX trainer does), and
    its variables are assigned the results after every step (for `check`)."""
    if params is None:
        params, grads = _params_and_grads()
    variables = _keras_variables(params)
    theirs.build(variables)
    their_step = jax.jit(theirs.stateless_apply)
    tvars = [v.value for v in variables]
    ovars = [v.value for v in theirs.variables]
    state = ours.init(params)
    step = jax.jit(ours.update)
    ours_params = params
    for i, g in enumerate(grads):
        tvars, ovars = their_step(ovars, jax.tree_util.tree_leaves(g), tvars)
        for v, value in zip(list(variables) + list(theirs.variables), list(tvars) + list(ovars)):
            v.assign(value)
        updates, state = step(g, state, ours_params)
        ours_params = optax.apply_updates(ours_params, updates)
        _assert_close(ours_params, variables, i, atol, rtol)
        if check is not None:
            check(state, theirs, variables)
    return ours_params, state, variables


def _pair(name, **kwargs):
    return getattr(optimizers, name)(**kwargs), getattr(keras.optimizers, name)(**kwargs)


# ---------------------------------------------------------------------------- new optimizers
def _name(case):
    return (case.values if hasattr(case, "values") else case)[0]


NEW_CASES = [
    ("Adamax", {}),
    pytest.param("Adamax", {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.9, "epsilon": 1e-3,
                            "weight_decay": 0.1},
                 marks=SLOW),
    ("Nadam", {}),
    pytest.param("Nadam", {"learning_rate": 0.02, "beta_1": 0.85, "beta_2": 0.95, "clipnorm": 1.0},
                 marks=SLOW),
    ("Adadelta", {}),
    pytest.param("Adadelta", {"learning_rate": 1.0, "rho": 0.8, "epsilon": 1e-4, "weight_decay": 0.05},
                 marks=SLOW),
    ("Adafactor", {}),
    pytest.param("Adafactor", {"learning_rate": 0.5, "beta_2_decay": -0.5, "clip_threshold": 0.5,
                               "epsilon_2": 1e-2},
                 marks=SLOW),
    ("Ftrl", {}),
    ("Ftrl", {"learning_rate": 0.1, "learning_rate_power": -0.3, "initial_accumulator_value": 0.5,
              "l1_regularization_strength": 0.01, "l2_regularization_strength": 0.02,
              "l2_shrinkage_regularization_strength": 0.03, "beta": 0.1}),
    ("Lamb", {}),
    pytest.param("Lamb", {"learning_rate": 0.01, "beta_1": 0.8, "weight_decay": 0.1, "global_clipnorm": 3.0},
                 marks=SLOW),
    ("Lion", {}),
    pytest.param("Lion", {"learning_rate": 0.01, "beta_1": 0.5, "beta_2": 0.9, "weight_decay": 0.5},
                 marks=SLOW),
    ("Muon", {}),
    ("Muon", {"learning_rate": 0.02, "nesterov": False, "exclude_layers": ["tall"],
              "exclude_embeddings": False, "adam_lr_ratio": 0.5, "ns_steps": 3, "rms_rate": None, "weight_decay": 0.1,
              "adam_weight_decay": 0.2}),
    ("ScheduleFreeAdamW", {}),
    pytest.param("ScheduleFreeAdamW", {"learning_rate": 0.01, "beta_1": 0.8, "warmup_steps": 3,
                                       "weight_decay": 0.1},
                 marks=SLOW),
]


@pytest.mark.parametrize("name,kwargs", NEW_CASES, ids=[f"{_name(c)}-{i}" for i, c in enumerate(NEW_CASES)])
def test_new_optimizers_match_keras(name, kwargs):
    ours, theirs = _pair(name, **kwargs)
    _, state, _ = run_both(ours, theirs, atol=2e-6, rtol=2e-6)
    assert int(ours.iterations_of(state)) == int(theirs.iterations) == STEPS


def test_muon_treats_embeddings_and_non_matrices_with_adamw():
    opt = optimizers.Muon()
    assert opt._should_use_adamw("embedding/embeddings", (6, 3))
    assert opt._should_use_adamw("conv/kernel", (2, 2, 3, 2))
    assert not opt._should_use_adamw("dense/kernel", (3, 4))
    assert optimizers.Muon(exclude_layers=["den"])._should_use_adamw("dense/kernel", (3, 4))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name", ["Adamax", "Nadam", "Adadelta", "Adafactor", "Ftrl", "Lamb", "Lion",
                                  "Muon", "ScheduleFreeAdamW", "SGD", "Adam"])
def test_config_keys_and_defaults_match_keras(name):
    ours = getattr(optimizers, name)().get_config()
    theirs = getattr(keras.optimizers, name)().get_config()
    assert set(ours) == set(theirs)
    for key, value in ours.items():
        if key == "learning_rate":
            np.testing.assert_allclose(value, theirs[key], rtol=1e-6)
        elif key == "name":  # Keras appends a global counter: "sgd_4"
            assert value == re.sub(r"_\d+$", "", theirs[key]), name
        else:
            assert value == theirs[key], (name, key)


# ---------------------------------------------------------------------------- base features
BASE_CASES = [
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 0.1, "clipnorm": 1.0}),
    ("Adam", {"learning_rate": 0.01, "weight_decay": 0.05, "clipvalue": 0.5}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.5, "use_ema": True}),
    ("Adam", {"learning_rate": 0.05, "use_ema": True, "ema_momentum": 0.7, "ema_overwrite_frequency": 2}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True, "gradient_accumulation_steps": 2}),
    ("Adam", {"learning_rate": 0.05, "gradient_accumulation_steps": 3, "global_clipnorm": 2.0,
              "weight_decay": 0.1}),
    ("Adam", {"learning_rate": "schedule", "gradient_accumulation_steps": 2, "use_ema": True,
              "ema_momentum": 0.5, "ema_overwrite_frequency": 2}),
    ("SGD", {"learning_rate": 0.1, "loss_scale_factor": 8.0}),
    ("Adam", {"learning_rate": 0.01, "loss_scale_factor": 4.0, "gradient_accumulation_steps": 2}),
    pytest.param("Nadam", {"learning_rate": 0.01, "gradient_accumulation_steps": 2, "use_ema": True},
                 marks=SLOW),
    pytest.param("Lion", {"learning_rate": 0.01, "gradient_accumulation_steps": 2, "weight_decay": 0.1},
                 marks=SLOW),
]


@pytest.mark.parametrize("name,kwargs", BASE_CASES, ids=[f"{_name(c)}-{i}" for i, c in enumerate(BASE_CASES)])
def test_base_features_match_keras(name, kwargs):
    kwargs = dict(kwargs)
    ours_kwargs, their_kwargs = dict(kwargs), dict(kwargs)
    if kwargs.get("learning_rate") == "schedule":
        ours_kwargs["learning_rate"] = optimizers.schedules.ExponentialDecay(0.05, 2, 0.5)
        their_kwargs["learning_rate"] = keras.optimizers.schedules.ExponentialDecay(0.05, 2, 0.5)
    ours = getattr(optimizers, name)(**ours_kwargs)
    theirs = getattr(keras.optimizers, name)(**their_kwargs)

    def check(state, theirs, variables):
        assert int(ours.iterations_of(state)) == int(theirs.iterations)
        np.testing.assert_allclose(ours.current_learning_rate(state), theirs.learning_rate, rtol=1e-6)
        if kwargs.get("use_ema"):
            for e, a in zip(jax.tree_util.tree_leaves(state.ema), theirs._model_variables_moving_average):
                np.testing.assert_allclose(e, np.asarray(a.value), atol=TOL, rtol=TOL)

    params, grads = _params_and_grads(steps=6)
    run_both(ours, theirs, params, grads, atol=2e-6, rtol=2e-6, check=check)


def test_accumulation_changes_weights_only_every_n_steps():
    params, grads = _params_and_grads(steps=4)
    opt = optimizers.SGD(0.1, gradient_accumulation_steps=2)
    state = opt.init(params)
    updates, state = opt.update(grads[0], state, params)
    assert all(float(jnp.abs(u).max()) == 0 for u in jax.tree_util.tree_leaves(updates))
    updates, state = opt.update(grads[1], state, params)
    expected = jax.tree_util.tree_map(lambda a, b: -0.1 * (a + b) / 2, grads[0], grads[1])
    jax.tree_util.tree_map(lambda u, e: np.testing.assert_allclose(u, e, rtol=1e-6), updates, expected)
    assert int(opt.iterations_of(state)) == 1 and int(state.iterations) == 2


def test_exclude_from_weight_decay_matches_keras():
    ours, theirs = _pair("AdamW", learning_rate=0.05, weight_decay=0.2)
    ours.exclude_from_weight_decay(var_names=["bias", "scale"])
    theirs.exclude_from_weight_decay(var_names=["bias", "scale"])
    run_both(ours, theirs, atol=2e-6, rtol=2e-6)


# ---------------------------------------------------------------------------- wrappers
@pytest.mark.parametrize("inner", ["SGD", "Adam"])
def test_loss_scale_optimizer_matches_keras(inner):
    params, grads = _params_and_grads(steps=7)
    grads[2] = jax.tree_util.tree_map(lambda g: g, grads[2])
    grads[2]["dense"]["bias"] = grads[2]["dense"]["bias"].copy()
    grads[2]["dense"]["bias"][1] = np.inf  # a skipped step
    grads[5]["scale"] = np.array([np.nan, 1.0], "float32")
    inner_kwargs = {"learning_rate": 0.05, "momentum": 0.9} if inner == "SGD" else {"learning_rate": 0.05}
    ours = optimizers.LossScaleOptimizer(getattr(optimizers, inner)(**inner_kwargs), initial_scale=4.0,
                                         dynamic_growth_steps=2)
    theirs = keras.optimizers.LossScaleOptimizer(getattr(keras.optimizers, inner)(**inner_kwargs),
                                                 initial_scale=4.0, dynamic_growth_steps=2)

    # Keras's LossScaleOptimizer runs on JAX through `stateless_apply` (as its trainer does)
    variables = _keras_variables(params)
    theirs.build(variables)
    names = [v.name for v in theirs.variables]
    tvars = [v.value for v in variables]
    ovars = [v.value for v in theirs.variables]
    state = ours.init(params)
    step = jax.jit(ours.update)
    ours_params, scales = params, []
    their_step = jax.jit(theirs.stateless_apply)
    for i, g in enumerate(grads):
        tvars, ovars = their_step(ovars, jax.tree_util.tree_leaves(g), tvars)
        updates, state = step(g, state, ours_params)
        ours_params = optax.apply_updates(ours_params, updates)
        for a, b in zip(jax.tree_util.tree_leaves(ours_params), tvars):
            np.testing.assert_allclose(a, b, atol=TOL, rtol=TOL, err_msg=f"step {i}")
        np.testing.assert_allclose(state.dynamic_scale, ovars[names.index("dynamic_scale")])
        assert int(state.step_counter) == int(ovars[names.index("step_counter")])
        scales.append(float(state.dynamic_scale))
    assert scales == [4.0, 8.0, 4.0, 4.0, 8.0, 4.0, 4.0]  # grows after 2 finite steps, halves on inf/nan
    np.testing.assert_allclose(ours.scale_loss(2.0, ours.init(params)), 8.0)


def test_multi_optimizer_matches_keras():
    def build(module):
        mapping = module.optimizers.OptimizerMap(default_optimizer=module.optimizers.SGD(0.1, momentum=0.5))
        mapping["dense/.*"] = module.optimizers.Adam(0.01)
        mapping["conv/kernel"] = module.optimizers.Lion(0.01, weight_decay=0.1)
        return module.optimizers.MultiOptimizer(mapping)

    ours, theirs = build(kerasx), build(keras)
    _, state, _ = run_both(ours, theirs, atol=2e-6, rtol=2e-6)
    assert int(ours.iterations_of(state)) == STEPS
    with pytest.raises(ValueError, match="Multiple optimizers"):
        m = optimizers.OptimizerMap(optimizers.SGD(), {"a/.*": optimizers.Adam(), ".*/b": optimizers.Adam()})
        m["a/b"]


def test_multi_optimizer_with_a_selector_function():
    seen = []

    def select(variable):
        seen.append(variable.path)
        return optimizers.Adam(0.01) if "dense" in variable.path else optimizers.SGD(0.1)

    params, grads = _params_and_grads()
    opt = optimizers.MultiOptimizer(select)
    state = opt.init(params)
    updates, state = jax.jit(opt.update)(grads[0], state, params)
    assert "dense/kernel" in seen and len(opt.optimizers) == len(set(seen))
    np.testing.assert_allclose(updates["scale"], -0.1 * grads[0]["scale"], rtol=1e-6)


# ---------------------------------------------------------------------------- serialization
@pytest.mark.parametrize("name", ["Adamax", "Nadam", "Adadelta", "Adafactor", "Ftrl", "Lamb", "Lion",
                                  "Muon", "ScheduleFreeAdamW", "Adam", "SGD"])
def test_serialize_round_trip_and_keras_configs(name):
    opt = getattr(optimizers, name)(use_ema=True, ema_momentum=0.9, gradient_accumulation_steps=2)
    data = optimizers.serialize(opt)
    assert data["module"] == "kerasx.optimizers" and data["class_name"] == name
    again = optimizers.deserialize(data)
    assert type(again) is type(opt) and again.get_config() == opt.get_config()
    # A Keras-written config loads too, and has the same keys
    keras_data = keras.optimizers.serialize(getattr(keras.optimizers, name)(
        use_ema=True, ema_momentum=0.9, gradient_accumulation_steps=2))
    from_keras = optimizers.deserialize(keras_data)
    assert set(from_keras.get_config()) == set(keras_data["config"])
    assert from_keras.gradient_accumulation_steps == 2 and from_keras.use_ema


def test_wrappers_and_schedules_serialize():
    opt = optimizers.LossScaleOptimizer(
        optimizers.Adam(optimizers.schedules.ExponentialDecay(0.1, 10, 0.9)), initial_scale=8.0)
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert isinstance(again, optimizers.LossScaleOptimizer) and again.initial_scale == 8.0
    assert isinstance(again.inner_optimizer.learning_rate, optimizers.schedules.ExponentialDecay)
    keras_lso = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1), initial_scale=16.0)
    loaded = optimizers.deserialize(keras.optimizers.serialize(keras_lso))
    assert isinstance(loaded.inner_optimizer, optimizers.SGD) and loaded.initial_scale == 16.0
    multi = optimizers.MultiOptimizer(
        optimizers.OptimizerMap(optimizers.SGD(0.1), {"dense/.*": optimizers.Adam()}))
    again = optimizers.deserialize(optimizers.serialize(multi))
    assert [type(o).__name__ for o in again.optimizers] == ["Adam", "SGD"]
    keras_multi = keras.optimizers.MultiOptimizer(keras.optimizers.OptimizerMap(
        keras.optimizers.SGD(0.1), {"dense/.*": keras.optimizers.Adam()}))
    loaded = optimizers.deserialize(keras.optimizers.serialize(keras_multi))
    assert [type(o).__name__ for o in loaded.optimizers] == ["Adam", "SGD"]


@pytest.mark.parametrize("name", ["adamax", "Nadam", "ADADELTA", "adafactor", "ftrl", "lamb", "lion", "muon",
                                  "schedulefreeadamw"])
def test_get_by_name(name):
    opt = optimizers.get(name)
    assert type(opt).__name__.lower() == name.lower()
    assert isinstance(optimizers.get(optimizers.serialize(opt)), type(opt))


# ---------------------------------------------------------------------------- errors
@pytest.mark.parametrize("make,match", [
    (lambda: optimizers.Adam(learning_rate=-0.1), "learning_rate"),
    (lambda: optimizers.Adamax(beta_1=1.5), "beta_1"),
    (lambda: optimizers.Nadam(beta_2=-0.1), "beta_2"),
    (lambda: optimizers.Lamb(beta_1=2.0), "beta_1"),
    (lambda: optimizers.Lion(beta_1=0.0), "beta_1"),
    (lambda: optimizers.Adadelta(rho=1.5), "rho"),
    (lambda: optimizers.Ftrl(learning_rate_power=0.5), "learning_rate_power"),
    (lambda: optimizers.Ftrl(l1_regularization_strength=-1.0), "l1_regularization_strength"),
    (lambda: optimizers.Ftrl(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (lambda: optimizers.SGD(use_ema=True, ema_momentum=1.5), "ema_momentum"),
    (lambda: optimizers.SGD(use_ema=True, ema_momentum=-0.1), "ema_momentum"),
    (lambda: optimizers.SGD(use_ema=True, ema_overwrite_frequency=-1), "ema_overwrite_frequency"),
    (lambda: optimizers.SGD(gradient_accumulation_steps=1), "gradient_accumulation_steps"),
    (lambda: optimizers.Adam(gradient_accumulation_steps=-3), "gradient_accumulation_steps"),
    (lambda: optimizers.Adam(gradient_accumulation_steps=2.5), "gradient_accumulation_steps"),
    (lambda: optimizers.Adam(loss_scale_factor=-2.0), "loss_scale_factor"),
    (lambda: optimizers.Adam(foo=1), "not recognized"),
    (lambda: optimizers.ScheduleFreeAdamW(warmup_steps=-1), "warmup_steps"),
    (lambda: optimizers.Muon(ns_steps=-1), "ns_steps"),
    (lambda: optimizers.LossScaleOptimizer(optimizers.SGD(), dynamic_growth_steps=0), "dynamic_growth_steps"),
    (lambda: optimizers.LossScaleOptimizer(optimizers.SGD(), clipnorm=1.0), "clipnorm"),
    (lambda: optimizers.LossScaleOptimizer("sgd"), "inner_optimizer"),
    (lambda: optimizers.MultiOptimizer(optimizers.OptimizerMap(
        optimizers.SGD(), {"a": optimizers.LossScaleOptimizer(optimizers.SGD())})), "LossScaleOptimizer"),
    (lambda: optimizers.get("nope"), "Unknown optimizer"),
    (lambda: optimizers.deserialize({"class_name": "Nope", "config": {}}), "Unknown optimizer"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_needs_params_and_right_state():
    params, grads = _params_and_grads(steps=1)
    opt = optimizers.Lamb()
    with pytest.raises(ValueError, match="needs the current weights"):
        opt.update(grads[0], opt.init(params))
    with pytest.raises(ValueError, match="expects the state"):
        opt.update(grads[0], optax.sgd(0.1).init(params), params)
    with pytest.raises(ValueError, match="use_ema"):
        optimizers.swap_ema_weights(params, optimizers.SGD().init(params))


# ---------------------------------------------------------------------------- through compile/fit
def _models(opt_name, kwargs):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(48, 5)).astype("float32")
    y = rng.normal(size=(48, 2)).astype("float32")

    def arch(L):
        return [L.Input((5,)), L.Dense(4, activation="tanh"), L.Dense(2)]

    kx = kerasx.Sequential(arch(kerasx.layers))
    kr = keras.Sequential(arch(keras.layers))
    kr.set_weights(kx.get_weights())
    kx.compile(optimizer=getattr(kerasx.optimizers, opt_name)(**kwargs), loss="mse")
    kr.compile(optimizer=getattr(keras.optimizers, opt_name)(**kwargs), loss="mse")
    return kx, kr, x, y


@pytest.mark.parametrize("opt_name,kwargs", [
    pytest.param("Nadam", {"learning_rate": 0.01}, marks=SLOW),
    pytest.param("Lion", {"learning_rate": 0.01}, marks=SLOW),
    pytest.param("Adafactor", {"learning_rate": 0.05}, marks=SLOW),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "gradient_accumulation_steps": 2}),
])
def test_fit_matches_keras(opt_name, kwargs):
    kx, kr, x, y = _models(opt_name, kwargs)
    kw = dict(epochs=2, batch_size=8, shuffle=False, verbose=0)
    kx.fit(x, y, **kw)
    kr.fit(x, y, **kw)
    for a, b in zip(kx.get_weights(), kr.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


def test_swap_ema_weights_callback_matches_keras():
    kx, kr, x, y = _models("SGD", {"learning_rate": 0.1, "momentum": 0.5, "use_ema": True,
                                   "ema_momentum": 0.8})
    kw = dict(epochs=2, batch_size=8, shuffle=False, verbose=0, validation_data=(x[:16], y[:16]))
    h1 = kx.fit(x, y, callbacks=[kerasx.callbacks.SwapEMAWeights(swap_on_epoch=True)], **kw)
    h2 = kr.fit(x, y, callbacks=[keras.callbacks.SwapEMAWeights(swap_on_epoch=True)], **kw)
    np.testing.assert_allclose(h1.history["val_loss"], h2.history["val_loss"], rtol=1e-5, atol=1e-6)
    for a, b in zip(kx.get_weights(), kr.get_weights()):  # both end with the EMA weights
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    # evaluate swaps in the EMA weights and back out again
    before = kx.get_weights()
    cb = kerasx.callbacks.SwapEMAWeights()
    kx.evaluate(x, y, verbose=0, callbacks=[cb])
    for a, b in zip(before, kx.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_swap_ema_weights_during_validation_and_finalize_match_keras():
    kx, kr, x, y = _models("Adam", {"learning_rate": 0.05, "use_ema": True, "ema_momentum": 0.8})
    kw = dict(epochs=2, batch_size=8, shuffle=False, verbose=0, validation_data=(x[:16], y[:16]))
    h1 = kx.fit(x, y, callbacks=[kerasx.callbacks.SwapEMAWeights()], **kw)
    h2 = kr.fit(x, y, callbacks=[keras.callbacks.SwapEMAWeights()], **kw)
    np.testing.assert_allclose(h1.history["val_loss"], h2.history["val_loss"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-5, atol=1e-6)
    # both fits end with finalize_variable_values: the model holds the EMA weights
    for a, b in zip(kx.get_weights(), kr.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(
        kx.evaluate(x, y, verbose=0, callbacks=[kerasx.callbacks.SwapEMAWeights()]),
        kr.evaluate(x, y, verbose=0, callbacks=[keras.callbacks.SwapEMAWeights()]), rtol=1e-5)


def test_multi_optimizer_with_a_frozen_layer_through_fit_matches_keras():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = rng.normal(size=(32, 2)).astype("float32")

    def arch(L):
        return [L.Input((5,)), L.Dense(4, activation="tanh", name="d1"), L.Dense(3, name="d2"),
                L.Dense(2, name="d3")]

    def optimizer(m):
        mapping = m.optimizers.OptimizerMap(m.optimizers.SGD(0.1, momentum=0.5))
        mapping[".*d3/.*"] = m.optimizers.Adam(0.01)
        return m.optimizers.MultiOptimizer(mapping)

    kx = kerasx.Sequential(arch(kerasx.layers))
    kr = keras.Sequential(arch(keras.layers))
    kr.set_weights(kx.get_weights())
    kx.layers[0].trainable = False
    kr.layers[0].trainable = False
    kx.compile(optimizer=optimizer(kerasx), loss="mse")
    kr.compile(optimizer=optimizer(keras), loss="mse")
    kw = dict(epochs=2, batch_size=8, shuffle=False, verbose=0)
    kx.fit(x, y, **kw)
    kr.fit(x, y, **kw)
    for a, b in zip(kx.get_weights(), kr.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("opt_name,kwargs", [
    ("SGD", {"learning_rate": 0.1, "loss_scale_factor": 128.0}),
    ("Adam", {"learning_rate": 0.01, "use_ema": True, "ema_momentum": 0.9,
              "gradient_accumulation_steps": 2}),
])
def test_loss_scaling_ema_and_accumulation_through_fit_match_keras(opt_name, kwargs):
    kx, kr, x, y = _models(opt_name, kwargs)
    kw = dict(epochs=2, batch_size=8, shuffle=False, verbose=0)
    h1, h2 = kx.fit(x, y, **kw), kr.fit(x, y, **kw)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-5)  # unscaled
    for a, b in zip(kx.get_weights(), kr.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
    assert kx.optimizer.iterations == int(kr.optimizer.iterations)


def test_loss_scale_optimizer_through_fit_matches_keras():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(48, 5)).astype("float32")
    y = rng.normal(size=(48, 2)).astype("float32")
    kx = kerasx.Sequential([kerasx.layers.Input((5,)), kerasx.layers.Dense(2)])
    kr = keras.Sequential([keras.layers.Input((5,)), keras.layers.Dense(2)])
    kr.set_weights(kx.get_weights())
    kx.compile(optimizer=kerasx.optimizers.LossScaleOptimizer(kerasx.optimizers.SGD(0.1),
                                                              dynamic_growth_steps=3), loss="mse")
    kr.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1),
                                                             dynamic_growth_steps=3), loss="mse")
    kw = dict(epochs=2, batch_size=8, shuffle=False, verbose=0)
    h1, h2 = kx.fit(x, y, **kw), kr.fit(x, y, **kw)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-5)
    for a, b in zip(kx.get_weights(), kr.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)
