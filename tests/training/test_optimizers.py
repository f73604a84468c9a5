"""Oracle tests for kerasx.training.optimizers against Keras 3 (JAX backend)."""

import os
import re

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from keras_oracle import keras  # imported by the oracle tests only: they skip without Keras

from kerasx.training import optimizers  # noqa: E402

STEPS = 5
ATOL, RTOL = 1e-5, 1e-5


def _params_and_grads():
    rng = np.random.default_rng(0)
    params = {
        "dense": {"kernel": rng.normal(size=(3, 4)).astype("float32"), "bias": rng.normal(size=(4,)).astype("float32")},
        "scale": rng.normal(size=(2,)).astype("float32"),
    }
    grads = [jax.tree_util.tree_map(lambda p: (rng.normal(size=p.shape) * 2).astype("float32"), params) for _ in range(STEPS)]
    return params, grads


def _keras_schedule():
    return keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=2, decay_rate=0.5)


def _optax_schedule():
    return optax.exponential_decay(0.05, transition_steps=2, decay_rate=0.5)


CASES = [
    ("SGD", {}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("SGD", {"learning_rate": "schedule", "momentum": 0.5, "weight_decay": 0.1}),
    ("Adam", {}),
    ("Adam", {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3, "amsgrad": True}),
    ("Adam", {"learning_rate": 0.01, "clipnorm": 1.0}),
    ("Adam", {"learning_rate": "schedule", "global_clipnorm": 2.0}),
    ("AdamW", {}),
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1, "clipvalue": 0.5}),
    ("RMSprop", {}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.9, "centered": True}),
    ("RMSprop", {"learning_rate": 0.01, "rho": 0.8, "centered": True, "clipnorm": 0.5}),
    ("Adagrad", {}),
    ("Adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.5, "epsilon": 1e-4, "weight_decay": 0.01}),
]


def _kwargs(kwargs, which):
    kwargs = dict(kwargs)
    if kwargs.get("learning_rate") == "schedule":
        kwargs["learning_rate"] = _keras_schedule() if which == "keras" else _optax_schedule()
    return kwargs


@pytest.mark.parametrize("cls_name,kwargs", CASES, ids=[f"{c}-{k}" for c, k in CASES])
def test_matches_keras_for_five_steps(cls_name, kwargs):
    params, grads = _params_and_grads()
    leaves, treedef = jax.tree_util.tree_flatten(params)
    theirs = getattr(keras.optimizers, cls_name)(**_kwargs(kwargs, "keras"))
    variables = [keras.Variable(p) for p in leaves]

    ours = getattr(optimizers, cls_name)(**_kwargs(kwargs, "kerasx"))
    state = ours.init(params)
    step = jax.jit(ours.update)
    ours_params = params
    for g in grads:
        np.testing.assert_allclose(ours.current_learning_rate(state), theirs.learning_rate, rtol=1e-6)
        theirs.apply_gradients(zip(jax.tree_util.tree_leaves(g), variables))
        updates, state = step(g, state, ours_params)
        ours_params = optax.apply_updates(ours_params, updates)
        for ours_leaf, var in zip(jax.tree_util.tree_leaves(ours_params), variables):
            np.testing.assert_allclose(ours_leaf, np.asarray(var.value), rtol=RTOL, atol=ATOL)
    assert int(state.iterations) == int(theirs.iterations) == STEPS
    np.testing.assert_allclose(ours.current_learning_rate(state), theirs.learning_rate, rtol=1e-6)
    assert treedef == jax.tree_util.tree_structure(ours_params)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_defaults_and_names_match_keras():
    for cls_name in ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]:
        ours = getattr(optimizers, cls_name)().get_config()
        theirs = getattr(keras.optimizers, cls_name)().get_config()
        for key, value in ours.items():
            if key == "learning_rate":
                np.testing.assert_allclose(value, theirs[key], rtol=1e-6)
            elif key == "name":  # Keras appends a global counter: "sgd_4"
                assert value == re.sub(r"_\d+$", "", theirs[key]), cls_name
            else:
                assert value == theirs[key], (cls_name, key)


def test_usable_as_optax_transformation():
    params, grads = _params_and_grads()
    opt = optimizers.SGD(learning_rate=0.1, momentum=0.9)
    # Inside optax combinators.
    chained = optax.chain(optax.scale(1.0), opt)
    state = chained.init(params)
    updates, _ = chained.update(grads[0], state, params)
    direct, _ = opt.update(grads[0], opt.init(params), params)
    jax.tree_util.tree_map(np.testing.assert_allclose, updates, direct)
    multi = optax.MultiSteps(opt, every_k_schedule=2)
    mstate = multi.init(params)
    _, mstate = multi.update(grads[0], mstate, params)
    # The learning rate can be read from wrapped states, and from optax's inject_hyperparams.
    np.testing.assert_allclose(opt.current_learning_rate(state), 0.1)
    np.testing.assert_allclose(optimizers.current_learning_rate(mstate), 0.1)
    injected = optax.inject_hyperparams(optax.sgd)(learning_rate=0.03)
    np.testing.assert_allclose(optimizers.current_learning_rate(injected.init(params)), 0.03)
    assert optimizers.current_learning_rate(optax.sgd(0.1).init(params)) is None
    # As a plain optax tuple, and through get().
    tx = opt.as_optax()
    assert isinstance(tx, optax.GradientTransformation)
    assert optimizers.get(opt) is opt
    adamw = optax.adamw(1e-3)
    assert optimizers.get(adamw) is adamw


def test_set_learning_rate_and_schedule_errors():
    params, grads = _params_and_grads()
    opt = optimizers.Adam(learning_rate=0.01)
    state = opt.init(params)
    state = opt.set_learning_rate(state, 0.001)
    np.testing.assert_allclose(opt.current_learning_rate(state), 0.001)
    _, state = opt.update(grads[0], state, params)
    np.testing.assert_allclose(opt.current_learning_rate(state), 0.001)
    scheduled = optimizers.Adam(learning_rate=_optax_schedule())
    with pytest.raises(TypeError, match="schedule"):
        scheduled.set_learning_rate(scheduled.init(params), 0.1)


def test_get_resolves_names():
    for name, cls in [("sgd", optimizers.SGD), ("Adam", optimizers.Adam), ("ADAMW", optimizers.AdamW),
                      ("rmsprop", optimizers.RMSprop), ("adagrad", optimizers.Adagrad)]:
        assert type(optimizers.get(name)) is cls
    with pytest.raises(ValueError, match="Unknown optimizer: 'adamm'") as e:
        optimizers.get("adamm")
    for valid in ["sgd", "adam", "adamw", "rmsprop", "adagrad"]:
        assert f"'{valid}'" in str(e.value)
    with pytest.raises(ValueError, match="Could not interpret optimizer"):
        optimizers.get(3)


def test_argument_errors():
    with pytest.raises(ValueError, match="Only one of `clipnorm`, `clipvalue` and `global_clipnorm`"):
        optimizers.Adam(clipnorm=1.0, global_clipnorm=1.0)
    with pytest.raises(ValueError, match="momentum"):
        optimizers.SGD(momentum=1.5)
    with pytest.raises(ValueError, match="learning_rate"):
        optimizers.SGD(learning_rate="fast")
    with pytest.raises(ValueError, match="weight_decay=None"):
        optimizers.AdamW(weight_decay=None)
    params, grads = _params_and_grads()
    opt = optimizers.AdamW()
    with pytest.raises(ValueError, match="needs the current weights"):
        opt.update(grads[0], opt.init(params))


def test_build_variables_and_stateless_apply_match_keras_in_a_jitted_loop():
    """Keras 3's hand-written JAX loop: `optimizer.build(vars)`, the values of
    `optimizer.variables`, then `stateless_apply` under `jax.jit`."""
    rng = np.random.default_rng(0)
    values = [rng.standard_normal((3, 2)).astype("float32"), np.zeros(2, "float32")]
    grads = [[rng.standard_normal(v.shape).astype("float32") for v in values] for _ in range(3)]
    ours = optimizers.Adam(learning_rate=0.1)
    assert ours.variables == []
    with pytest.raises(ValueError, match="build"):
        ours.stateless_apply([], grads[0], values)
    ours.build(values)
    theirs = keras.optimizers.Adam(learning_rate=0.1)
    k_vars = [keras.Variable(v) for v in values]
    theirs.build(k_vars)
    o_state, o_vals = [v.value for v in ours.variables], list(values)
    k_state, k_vals = [v.value for v in theirs.variables], list(values)
    step = jax.jit(ours.stateless_apply)
    for g in grads:
        o_vals, o_state = step(o_state, g, o_vals)
        k_vals, k_state = theirs.stateless_apply(k_state, g, k_vals)
    for a, b in zip(o_vals, k_vals):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="built for 2 variables"):
        ours.stateless_apply(o_state, grads[0][:1], values[:1])
    ours.variables[0].assign(np.asarray(5, "int32"))
    assert int(ours.variables[0].numpy()) == 5
