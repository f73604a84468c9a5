import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kerasx import initializers
from kerasx.layers._normalization import BatchNormalization, LayerNormalization
from harness import keras, run_layer_test


def x_of(shape, seed=0, loc=0.0, scale=1.0):
    return (loc + scale * np.random.default_rng(seed).normal(size=shape)).astype("float32")


def spec(shape, dtype=jnp.float32):
    return jax.ShapeDtypeStruct(shape, dtype)


# Non-trivial weights, so that gamma/beta/moving statistics all matter in the comparison.
RANDOM_INITS = dict(
    gamma_initializer=initializers.RandomUniform(0.5, 1.5),
    beta_initializer=initializers.RandomUniform(-0.5, 0.5),
    moving_mean_initializer=initializers.RandomUniform(-0.5, 0.5),
    moving_variance_initializer=initializers.RandomUniform(0.5, 2.0),
)


# ------------------------------------------------------------------------------ BatchNormalization
BN_CASES = [
    # (input shape, kwargs): rank 2 and rank 4, axis variants, center/scale off
    ((8, 5), {}),
    ((8, 5), {"momentum": 0.9, "epsilon": 1e-5, "center": False}),
    ((8, 5), {"scale": False}),
    ((4, 3, 3, 6), {}),
    ((4, 6, 3, 3), {"axis": 1, "center": False, "scale": False}),
    ((4, 3, 3, 6), {"axis": -3, "momentum": 0.5}),
]


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape,kwargs", BN_CASES)
def test_batch_norm_matches_keras(shape, kwargs, training):
    k = keras()
    layer = BatchNormalization(**kwargs, **RANDOM_INITS)
    keras_layer = k.layers.BatchNormalization(**kwargs)
    x = x_of(shape, loc=1.5, scale=2.0)
    n_weights = 2 + kwargs.get("center", True) + kwargs.get("scale", True)
    y, params, new_state = run_layer_test(layer, x, keras_layer, training=training, atol=1e-5,
                                          expected_num_weights=n_weights)
    # Keras's training call updated its moving statistics in place: compare all weights.
    for ours, theirs in zip(layer.get_weights_from(params, new_state), keras_layer.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-6, rtol=1e-6)
    _, state = layer.init(jax.random.key(0), spec(shape))
    changed = not np.allclose(new_state["moving_mean"], state["moving_mean"])
    assert changed == training


def test_batch_norm_training_uses_batch_statistics():
    x = x_of((64, 3), loc=4.0, scale=3.0)
    bn = BatchNormalization(momentum=0.9)
    params, state = bn.init(jax.random.key(0), x)
    assert set(params) == {"gamma", "beta"} and set(state) == {"moving_mean", "moving_variance"}
    y, new_state = bn.apply(params, state, x, training=True)
    np.testing.assert_allclose(y.mean(0), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(0), np.sqrt(x.var(0) / (x.var(0) + 1e-3)), rtol=1e-4)
    np.testing.assert_allclose(new_state["moving_mean"], 0.1 * x.mean(0), rtol=1e-5)
    np.testing.assert_allclose(new_state["moving_variance"], 0.9 + 0.1 * x.var(0), rtol=1e-5)
    # inference: moving statistics, state returned unchanged
    y_inf, same = bn.apply(params, new_state, x)
    assert same is new_state
    np.testing.assert_allclose(
        y_inf, (x - new_state["moving_mean"]) / np.sqrt(new_state["moving_variance"] + 1e-3),
        rtol=1e-5, atol=1e-5)


def test_frozen_batch_norm_runs_in_inference_mode():
    k = keras()
    x = x_of((8, 4), loc=2.0)
    bn = BatchNormalization(trainable=False, **RANDOM_INITS)
    keras_bn = k.layers.BatchNormalization()
    keras_bn.trainable = False
    y, params, new_state = run_layer_test(bn, x, keras_bn, training=True, atol=1e-5)
    _, state = bn.init(jax.random.key(0), x)
    jax.tree.map(np.testing.assert_array_equal, new_state, state)
    y_inf, _ = bn.apply(params, state, x, training=False)
    np.testing.assert_array_equal(y, y_inf)
    for ours, theirs in zip(bn.get_weights_from(params, new_state), keras_bn.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_bfloat16_inputs_match_keras(training):
    k = keras()
    x = x_of((16, 4), loc=100.0, scale=0.5).astype(jnp.bfloat16)
    bn = BatchNormalization(**RANDOM_INITS)
    keras_bn = k.layers.BatchNormalization()
    y, params, new_state = run_layer_test(bn, x, keras_bn, training=training, atol=1e-5)
    assert y.dtype == jnp.float32 and new_state["moving_mean"].dtype == jnp.float32
    if training:  # statistics in float32: bfloat16 sums of values near 100 would be far off
        x64 = np.asarray(x, np.float64)
        ref = (x64 - x64.mean(0)) / np.sqrt(x64.var(0) + 1e-3) * params["gamma"] + params["beta"]
        np.testing.assert_allclose(y, ref, atol=1e-3)


def test_batch_norm_bfloat16_layer_keeps_its_dtype():
    x = x_of((16, 4), loc=3.0).astype(jnp.bfloat16)
    bn = BatchNormalization(dtype="bfloat16")
    params, state = bn.init(jax.random.key(0), x)
    y, new_state = bn.apply(params, state, x, training=True)
    assert y.dtype == jnp.bfloat16
    assert {v.dtype for v in new_state.values()} == {jnp.dtype(jnp.bfloat16)}
    np.testing.assert_allclose(np.asarray(new_state["moving_mean"], np.float32),
                               0.01 * np.asarray(x, np.float32).mean(0), rtol=1e-2)


def test_batch_norm_is_differentiable_and_jittable():
    x = x_of((8, 3))
    bn = BatchNormalization()
    params, state = bn.init(jax.random.key(0), x)

    @jax.jit
    def loss(p, s):
        y, s = bn.apply(p, s, x, training=True)
        return jnp.sum(y * jnp.arange(3.0)), s

    (val, s), g = jax.value_and_grad(loss, has_aux=True)(params, state)
    assert set(g) == {"gamma", "beta"}
    assert jnp.all(jnp.isfinite(g["gamma"]))


def test_batch_norm_errors_teach():
    with pytest.raises(ValueError, match="`momentum` of layer 'batch_normalization'.*momentum=1.5"):
        BatchNormalization(momentum=1.5)
    with pytest.raises(ValueError, match="`axis`.*integer.*LayerNormalization.*axis=\\[1, 2\\]"):
        BatchNormalization(axis=[1, 2])
    with pytest.raises(ValueError, match="'bn'.*axis=3.*out of bounds.*rank 2.*\\(4, 5\\)"):
        BatchNormalization(axis=3, name="bn").init(jax.random.key(0), spec((4, 5)))
    bn = BatchNormalization(name="bn")
    params, state = bn.init(jax.random.key(0), spec((4, 5)))
    with pytest.raises(ValueError, match="'bn'.*built for 5 features.*\\(4, 6\\)"):
        bn.apply(params, state, jnp.ones((4, 6)))


def test_batch_norm_weight_order_and_config():
    bn = BatchNormalization(center=False)
    assert bn.weight_names() == [("params", "gamma"), ("state", "moving_mean"),
                                 ("state", "moving_variance")]
    assert BatchNormalization().weight_names() == [
        ("params", "gamma"), ("params", "beta"), ("state", "moving_mean"),
        ("state", "moving_variance")]
    cfg = BatchNormalization(axis=1, momentum=0.9, name="b").get_config()
    assert cfg["axis"] == 1 and cfg["momentum"] == 0.9 and cfg["name"] == "b"
    assert BatchNormalization(**{k: v for k, v in cfg.items() if k != "dtype"}).axis == 1


# ------------------------------------------------------------------------------ BatchNormalization: batch_mask
MASK_CASES = [
    # (padded input shape, kwargs): 8 rows, of which the last 3 are padding
    ((8, 5), {"momentum": 0.5}),
    ((8, 5), {"momentum": 0.9, "center": False}),
    ((8, 3, 3, 6), {"momentum": 0.5}),
    ((8, 6, 3, 3), {"axis": 1, "momentum": 0.5}),
    ((8, 3, 4, 2), {"axis": -3, "momentum": 0.5, "scale": False}),
]
N_REAL = 5


def padded_batch(shape, seed=0):
    """A batch whose rows past N_REAL are large garbage, and its mask."""
    x = x_of(shape, seed=seed, loc=1.5, scale=2.0)
    x[N_REAL:] = x_of((shape[0] - N_REAL,) + shape[1:], seed=seed + 1, loc=1e6, scale=1e5)
    mask = np.zeros(shape[0], np.float32)
    mask[:N_REAL] = 1.0
    return x, mask


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("shape,kwargs", MASK_CASES)
def test_batch_norm_mask_uses_only_real_rows(shape, kwargs, jit):
    bn = BatchNormalization(**kwargs, **RANDOM_INITS)
    x, mask = padded_batch(shape)
    params, state = bn.init(jax.random.key(0), spec(shape))
    apply = jax.jit(bn.apply, static_argnames="training") if jit else bn.apply
    y, new_state = apply(params, state, x, training=True, batch_mask=mask)
    y_ref, ref_state = bn.apply(params, state, x[:N_REAL], training=True)
    np.testing.assert_allclose(y[:N_REAL], y_ref, atol=1e-5, rtol=1e-5)
    assert np.all(np.isfinite(y))
    for key in ("moving_mean", "moving_variance"):
        np.testing.assert_allclose(new_state[key], ref_state[key], atol=1e-5, rtol=1e-5)
    # the padding rows would skew the statistics without the mask
    _, skewed = bn.apply(params, state, x, training=True)
    assert not np.allclose(skewed["moving_mean"], ref_state["moving_mean"], atol=1e-3)


def test_batch_norm_mask_none_is_unchanged_and_ones_mask_agrees():
    bn = BatchNormalization(momentum=0.9, **RANDOM_INITS)
    x = x_of((8, 3, 3, 4), loc=2.0)
    params, state = bn.init(jax.random.key(0), x)
    y, s = bn.apply(params, state, x, training=True)
    y_none, s_none = bn.apply(params, state, x, training=True, batch_mask=None)
    np.testing.assert_array_equal(y_none, y)
    jax.tree.map(np.testing.assert_array_equal, s_none, s)
    y_ones, s_ones = bn.apply(params, state, x, training=True, batch_mask=jnp.ones(8))
    np.testing.assert_allclose(y_ones, y, atol=1e-5, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-6), s_ones, s)


def test_batch_norm_inference_and_frozen_ignore_the_mask():
    x, mask = padded_batch((8, 4))
    bn = BatchNormalization(**RANDOM_INITS)
    params, state = bn.init(jax.random.key(0), x)
    y, same = bn.apply(params, state, x, training=False, batch_mask=mask)
    assert same is state
    np.testing.assert_array_equal(y, bn.apply(params, state, x)[0])
    frozen = BatchNormalization(trainable=False, **RANDOM_INITS)
    y, new_state = frozen.apply(params, state, x, training=True, batch_mask=mask)
    jax.tree.map(np.testing.assert_array_equal, new_state, state)
    np.testing.assert_array_equal(y, frozen.apply(params, state, x)[0])


def test_batch_norm_all_padding_mask_stays_finite():
    x, _ = padded_batch((8, 4))
    bn = BatchNormalization()
    params, state = bn.init(jax.random.key(0), x)
    y, new_state = bn.apply(params, state, x, training=True, batch_mask=jnp.zeros(8))
    assert all(np.all(np.isfinite(a)) for a in jax.tree.leaves((y, new_state)))


def test_batch_norm_mask_shape_error_teaches():
    bn = BatchNormalization(name="bn")
    params, state = bn.init(jax.random.key(0), spec((4, 5)))
    with pytest.raises(ValueError, match="'bn'.*`batch_mask` of shape.*\\(4,\\).*\\(5,\\)"):
        bn.apply(params, state, jnp.ones((4, 5)), training=True, batch_mask=jnp.ones(5))


# ------------------------------------------------------------------------------ LayerNormalization
LN_CASES = [
    ((4, 6), {}),
    ((4, 6), {"epsilon": 1e-6, "center": False}),
    ((4, 6), {"scale": False}),
    ((2, 3, 4, 5), {"axis": 1, "center": False, "scale": False}),
    ((2, 3, 4, 5), {"axis": [1, 2, 3]}),
    ((2, 3, 4, 5), {"axis": (-1, -3)}),
]


@pytest.mark.parametrize("shape,kwargs", LN_CASES)
def test_layer_norm_matches_keras(shape, kwargs):
    k = keras()
    inits = {"gamma_initializer": RANDOM_INITS["gamma_initializer"],
             "beta_initializer": RANDOM_INITS["beta_initializer"]}
    layer = LayerNormalization(**kwargs, **inits)
    n_weights = kwargs.get("center", True) + kwargs.get("scale", True)
    run_layer_test(layer, x_of(shape, loc=2.0, scale=3.0), k.layers.LayerNormalization(**kwargs),
                   atol=1e-5, expected_num_weights=n_weights)


def test_layer_norm_bfloat16_inputs_match_keras():
    k = keras()
    x = x_of((4, 8), loc=50.0).astype(jnp.bfloat16)
    y, _, _ = run_layer_test(LayerNormalization(), x, k.layers.LayerNormalization(), atol=1e-5)
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(jnp.std(y, axis=-1), 1.0, atol=0.02)


def test_layer_norm_normalizes_each_sample():
    x = x_of((3, 10), loc=5.0, scale=2.0)
    ln = LayerNormalization(epsilon=0.0)
    params, state = ln.init(jax.random.key(0), x)
    y, same = ln.apply(params, state, x)
    assert same == {}
    np.testing.assert_allclose(y.mean(-1), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(-1), 1.0, atol=1e-5)
    assert params["gamma"].shape == (10,)


def test_layer_norm_errors_teach():
    with pytest.raises(ValueError, match="`axis` of layer 'layer_normalization'.*axis='x'"):
        LayerNormalization(axis="x")
    with pytest.raises(ValueError, match="'ln'.*axis=\\[1, 3\\].*out of bounds.*rank 3"):
        LayerNormalization(axis=[1, 3], name="ln").init(jax.random.key(0), spec((2, 3, 4)))
    with pytest.raises(ValueError, match="repeated axis"):
        LayerNormalization(axis=[2, -1]).init(jax.random.key(0), spec((2, 3, 4)))
    ln = LayerNormalization(name="ln")
    params, state = ln.init(jax.random.key(0), spec((2, 4)))
    with pytest.raises(ValueError, match="'ln'.*'gamma' of shape \\(4,\\).*\\(2, 5\\)"):
        ln.apply(params, state, jnp.ones((2, 5)))


# -------------------------------------------------- LayerNormalization: axis lists, Keras 3 layout
# Keras sorts the raw axis values (signs included) and gives gamma/beta the input's sizes on them,
# then reshapes (not transposes) them to the input's rank: axis=[1, -1] on (2, 3, 4) sorts to
# [-1, 1], so gamma has shape (4, 3). Distinct sizes make a transposition show in the outputs.
LN_AXIS_CASES = [  # (input shape, axis, Keras's gamma/beta shape)
    ((2, 3, 4), [1, -1], (4, 3)),
    ((2, 3, 4), [-1, 1], (4, 3)),
    ((2, 3, 4), [-2, 2], (3, 4)),
    ((2, 3, 4), [1, 2], (3, 4)),
    ((2, 3, 4), [-1, -2], (3, 4)),
    ((2, 3, 4, 5), [1, -1], (5, 3)),
    ((2, 3, 4, 5), [-1, 1, 2], (5, 3, 4)),
    ((2, 3, 4, 5), [2, -3], (3, 4)),
    ((2, 3, 4, 5), [-2, 1], (4, 3)),
    ((2, 3, 4, 5), [3, -2, 1], (4, 3, 5)),
    ((2, 3, 4, 5), [-1, -3], (3, 5)),
    ((2, 3, 4, 5), (2, 1), (3, 4)),
]
LN_FLAGS = [
    {"center": False},
    {"scale": False},
    {"center": False, "scale": False},
    {"rms_scaling": True, "center": False, "scale": False},
]
# Every axis case with the defaults and with rms_scaling; the other flags on mixed-sign rank 3 and 4.
LN_AXIS_FLAG_CASES = (
    [case + (flags,) for case in LN_AXIS_CASES for flags in ({}, {"rms_scaling": True})]
    + [LN_AXIS_CASES[i] + (flags,) for i in (0, 5) for flags in LN_FLAGS]
)


@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`")
@pytest.mark.parametrize("shape,axis,wshape,flags", LN_AXIS_FLAG_CASES,
                         ids=lambda v: str(v).replace(" ", ""))
def test_layer_norm_axis_lists_match_keras(shape, axis, wshape, flags):
    k = keras()
    inits = {"gamma_initializer": RANDOM_INITS["gamma_initializer"],
             "beta_initializer": RANDOM_INITS["beta_initializer"]}
    layer = LayerNormalization(axis=axis, **flags, **inits)
    k_layer = k.layers.LayerNormalization(axis=axis, **flags)
    k_layer.build(shape)
    n_weights = len(k_layer.weights)
    y, params, _ = run_layer_test(layer, x_of(shape, loc=2.0, scale=3.0), k_layer, atol=1e-5,
                                  expected_num_weights=n_weights)
    assert [tuple(v.shape) for v in k_layer.weights] == [wshape] * n_weights
    assert [params[n].shape for _, n in layer.weight_names()] == [wshape] * n_weights
    assert [n for _, n in layer.weight_names()] == [v.name for v in k_layer.weights]


@pytest.mark.parametrize("shape,axis", [((2, 3, 4), [1, -1]), ((2, 3, 4, 5), [-2, 1, 3])])
def test_layer_norm_loads_keras_weights(shape, axis):
    # The other direction: Keras's own (random) weights go into kerasx via set_weights_into.
    k = keras()
    k_layer = k.layers.LayerNormalization(axis=axis, gamma_initializer="random_normal",
                                          beta_initializer="random_normal")
    k_layer.build(shape)
    layer = LayerNormalization(axis=axis)
    params, state = layer.init(jax.random.key(0), spec(shape))
    params, state = layer.set_weights_into(params, state, k_layer.get_weights())
    x = x_of(shape, seed=3)
    np.testing.assert_allclose(layer.apply(params, state, x)[0], k_layer(x), atol=1e-5, rtol=1e-5)


def test_layer_norm_rms_scaling_warns_and_round_trips():
    k = keras()
    with pytest.warns(UserWarning, match="rms_scaling=True.*deprecated"):
        layer = LayerNormalization(axis=[1, -1], rms_scaling=True, center=True)
    assert layer.weight_names() == [("params", "gamma")]  # no beta, as in Keras
    config = layer.get_config()
    assert config["rms_scaling"] is True and config["axis"] == [1, -1]
    with pytest.warns(UserWarning, match="rms_scaling"):
        clone = LayerNormalization.from_config(config)
    assert clone.get_config() == config
    with pytest.warns(UserWarning, match="rms_scaling"):
        k_layer = k.layers.LayerNormalization(axis=[1, -1], rms_scaling=True)
        from_keras = LayerNormalization.from_config(k_layer.get_config())
    params, _ = from_keras.init(jax.random.key(0), spec((2, 3, 4)))
    assert {n: p.shape for n, p in params.items()} == {"gamma": (4, 3)}
    assert LayerNormalization().get_config()["rms_scaling"] is False


def test_layer_norm_all_axes_mixed_sign_error_teaches():
    # Keras builds weights of shape (4, 3) here, then fails to broadcast them against (3, 4).
    with pytest.raises(ValueError, match="'ln'.*axis=\\[-1, 0\\].*\\(4, 3\\).*\\(3, 4\\).*axis=\\[0, 1\\]"):
        LayerNormalization(axis=[-1, 0], name="ln").init(jax.random.key(0), spec((3, 4)))
    # equal sizes broadcast, as in Keras
    params, _ = LayerNormalization(axis=[-1, 0]).init(jax.random.key(0), spec((3, 3)))
    assert params["gamma"].shape == (3, 3)


# ------------------------------------------------------------------------------ GroupNormalization
from kerasx.layers._normalization import (GroupNormalization, RMSNormalization,  # noqa: E402
                                          SpectralNormalization, UnitNormalization)
from kerasx.layers._core import Dense, Embedding, Input  # noqa: E402
from kerasx.layers._convolutional import Conv2D  # noqa: E402

GN_RANDOM = dict(gamma_initializer=initializers.RandomUniform(0.5, 1.5),
                 beta_initializer=initializers.RandomUniform(-0.5, 0.5))


@pytest.mark.parametrize("shape,kwargs", [
    ((2, 5, 6), dict(groups=3)),
    ((2, 6, 4, 3), dict(groups=-1, axis=1)),           # instance normalization, channels first
    ((2, 4, 6, 3), dict(groups=2, axis=-2, center=False)),
    ((2, 4, 6), dict(groups=1, scale=False)),
])
def test_group_norm_matches_keras(shape, kwargs):
    k = keras()
    x = x_of(shape, loc=1.0, scale=2.0)
    kw = {**GN_RANDOM, **kwargs}
    keras_kw = {k_: v for k_, v in kwargs.items()}
    y, params, _ = run_layer_test(GroupNormalization(**kw), x,
                                  k.layers.GroupNormalization(**keras_kw), atol=1e-4)
    assert y.shape == x.shape


def test_group_norm_groups_match_manual_statistics():
    x = x_of((2, 3, 8), loc=2.0)
    y, _ = GroupNormalization(groups=2, epsilon=0.0).apply(
        {"gamma": jnp.ones(8), "beta": jnp.zeros(8)}, {}, x)
    g = np.asarray(y).reshape(2, 3, 2, 4)
    np.testing.assert_allclose(g.mean(axis=(1, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(g.std(axis=(1, 3)), 1.0, atol=1e-4)


def test_group_norm_errors_teach():
    with pytest.raises(ValueError, match="`groups`.*positive integer.*groups=0"):
        GroupNormalization(groups=0)
    with pytest.raises(ValueError, match="`axis`.*integer.*axis=\\[1, 2\\]"):
        GroupNormalization(axis=[1, 2])
    with pytest.raises(ValueError, match="'gn'.*groups \\(4\\) must divide.*channels \\(6\\)"):
        GroupNormalization(groups=4, name="gn").init(jax.random.key(0), spec((2, 6)))
    with pytest.raises(ValueError, match="groups \\(8\\) cannot be more than.*channels \\(6\\)"):
        GroupNormalization(groups=8).init(jax.random.key(0), spec((2, 6)))
    with pytest.raises(ValueError, match="axis=3.*out of bounds"):
        GroupNormalization(groups=1, axis=3).init(jax.random.key(0), spec((2, 6)))
    with pytest.raises(ValueError, match="`epsilon`"):
        GroupNormalization(epsilon=-1.0)


def test_group_norm_weights_and_bfloat16():
    k = keras()
    layer = GroupNormalization(groups=2, **GN_RANDOM)
    params, state = layer.init(jax.random.key(0), spec((2, 4)))
    assert [n for _, n in layer.weight_names()] == ["gamma", "beta"]
    x = x_of((4, 3, 4)).astype(jnp.bfloat16)
    y, _ = layer.apply(params, state, jnp.asarray(x))
    ref = k.layers.GroupNormalization(groups=2)
    ref.build((None, 3, 4))
    ref.set_weights(layer.get_weights_from(params, state))
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(y, np.asarray(ref(np.asarray(x, "float32"))), atol=2e-2)


# ------------------------------------------------------------------------------ UnitNormalization
@pytest.mark.parametrize("shape,axis", [((3, 5), -1), ((2, 3, 4), [1, 2]), ((2, 3, 4), 1)])
def test_unit_norm_matches_keras(shape, axis):
    k = keras()
    x = x_of(shape)
    y, params, _ = run_layer_test(UnitNormalization(axis=axis), x,
                                  k.layers.UnitNormalization(axis=axis), expected_num_weights=0)
    ax = tuple(a % len(shape) for a in (axis if isinstance(axis, list) else [axis]))
    np.testing.assert_allclose(np.sqrt((np.asarray(y) ** 2).sum(axis=ax)), 1.0, rtol=1e-5)


def test_unit_norm_zero_and_errors():
    y, _ = UnitNormalization().apply({}, {}, jnp.zeros((2, 3)))
    np.testing.assert_array_equal(y, 0.0)
    with pytest.raises(TypeError, match="`axis`.*axis='a'"):
        UnitNormalization(axis="a")
    with pytest.raises(ValueError, match="'u'.*axis=2.*out of bounds"):
        UnitNormalization(axis=2, name="u").output_spec(spec((2, 3)))


# ------------------------------------------------------------------------------ RMSNormalization
@pytest.mark.parametrize("shape,axis,eps", [((3, 5), -1, 1e-6), ((2, 3, 4), [1, 2], 1e-3),
                                            ((2, 3, 4), [-2, -1], 1e-6)])
def test_rms_norm_matches_keras(shape, axis, eps):
    k = keras()
    x = x_of(shape, loc=0.5)
    layer = RMSNormalization(axis=axis, epsilon=eps)
    params, state = layer.init(jax.random.key(0), spec(shape))
    params = {"scale": jnp.asarray(x_of(params["scale"].shape, seed=3))}
    y, _ = layer.apply(params, state, x)
    ref = k.layers.RMSNormalization(axis=axis, epsilon=eps)
    ref.build(shape)
    ref.set_weights(layer.get_weights_from(params, state))
    np.testing.assert_allclose(y, np.asarray(ref(x)), atol=1e-5, rtol=1e-5)
    run_layer_test(layer, x, expected_num_weights=1)


def test_rms_norm_errors_and_non_trailing_axis():
    with pytest.raises(ValueError, match="one sign.*axis=\\[1, -1\\]"):
        RMSNormalization(axis=[1, -1])
    with pytest.raises(ValueError, match="`epsilon`"):
        RMSNormalization(epsilon="x")
    with pytest.raises(ValueError, match="batch axis"):
        RMSNormalization(axis=0).init(jax.random.key(0), spec((2, 3)))
    # a non-trailing axis (Keras cannot broadcast its scale there; kerasx reshapes it)
    x = x_of((2, 3, 4))
    y, _ = RMSNormalization(axis=1, epsilon=0.0).apply({"scale": jnp.ones(3)}, {}, x)
    np.testing.assert_allclose(y, x / np.sqrt((x ** 2).mean(axis=1, keepdims=True)), rtol=1e-5)


# ------------------------------------------------------------------------------ SpectralNormalization
def _keras_spectral(k, inner, ours, params, state, shape):
    """A Keras SpectralNormalization holding our weights, given in Keras's order."""
    ref = k.layers.SpectralNormalization(inner, power_iterations=ours.power_iterations)
    ref.build(shape)
    ref.set_weights(ours.get_weights_from(params, state))  # the same order: kernel, vector_u, rest
    assert [tuple(w.shape) for w in ref.get_weights()] == [
        tuple(w.shape) for w in ours.get_weights_from(params, state)]
    return ref


@pytest.mark.parametrize("make,kmake,shape,iters", [
    (lambda: Dense(4), lambda k: k.layers.Dense(4), (3, 5), 1),
    (lambda: Conv2D(3, 2), lambda k: k.layers.Conv2D(3, 2), (2, 5, 5, 2), 3),
])
def test_spectral_norm_matches_keras(make, kmake, shape, iters):
    k = keras()
    layer = SpectralNormalization(make(), power_iterations=iters)
    x = x_of(shape)
    params, state = layer.init(jax.random.key(0), spec(shape))
    ref = _keras_spectral(k, kmake(k), layer, params, state, shape)
    # inference: the kernel as stored, u unchanged
    y, new_state = layer.apply(params, state, x)
    np.testing.assert_allclose(y, np.asarray(ref(x, training=False)), atol=1e-5)
    assert new_state["vector_u"] is state["vector_u"]
    # training: kernel / sigma, u updated (Keras writes both into its variables)
    y, new_state = jax.jit(lambda p, s: layer.apply(p, s, x, training=True))(params, state)
    y_ref = np.asarray(ref(x, training=True))
    np.testing.assert_allclose(y, y_ref, atol=1e-5)
    np.testing.assert_allclose(new_state["vector_u"], np.asarray(ref.vector_u.value), atol=1e-6)


def test_spectral_norm_sigma_and_gradient():
    layer = SpectralNormalization(Dense(6, use_bias=False), power_iterations=8)
    params, state = layer.init(jax.random.key(1), spec((2, 4)))
    # singular values 5, 1, 0.5, 0.1 in random bases: the power iteration converges fast
    q1 = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))[0]
    q2 = np.linalg.qr(np.random.default_rng(1).normal(size=(6, 6)))[0]
    kernel = q1 @ np.diag([5.0, 1.0, 0.5, 0.1]) @ q2[:4]
    params = {"dense": {"kernel": jnp.asarray(kernel, jnp.float32)}}
    x = jnp.eye(4)
    y, new_state = jax.jit(lambda p, s: layer.apply(p, s, x, training=True))(params, state)
    # the effective kernel (y = I @ K / sigma) has spectral norm 1
    np.testing.assert_allclose(np.linalg.norm(np.asarray(y), 2), 1.0, rtol=1e-4)
    grads = jax.jit(jax.grad(lambda p: layer.apply(p, state, x, training=True)[0].sum()))(params)
    assert np.all(np.isfinite(grads["dense"]["kernel"]))
    # an all-zero kernel is left alone
    zero = {"dense": {"kernel": jnp.zeros((4, 6))}}
    y0, s0 = jax.jit(lambda p, s: layer.apply(p, s, x, training=True))(zero, state)
    np.testing.assert_array_equal(y0, 0.0)
    np.testing.assert_array_equal(s0["vector_u"], state["vector_u"])


def test_spectral_norm_embedding_tree_and_object_api():
    layer = SpectralNormalization(Embedding(10, 3), name="sn")
    params, state = layer.init(jax.random.key(0), spec((2, 4), jnp.int32))
    assert set(params) == {"embedding"} and state["vector_u"].shape == (1, 3)
    y, _ = layer.apply(params, state, jnp.array([[1, 2]]), training=True)
    assert y.shape == (1, 2, 3) and y.dtype == jnp.float32
    # the object shell: eager training call keeps the new u, weights listed once
    dense = SpectralNormalization(Dense(2))
    out = dense(jnp.ones((3, 4)), training=True)
    assert out.shape == (3, 2)
    assert [w.shape for w in dense.get_weights()] == [(4, 2), (1, 2), (2,)]  # Keras order
    assert Input((4,)).shape == (None, 4) and dense(Input((4,))).shape == (None, 2)


def test_spectral_norm_errors_and_config():
    with pytest.raises(ValueError, match="`power_iterations`.*power_iterations=0"):
        SpectralNormalization(Dense(2), power_iterations=0)
    with pytest.raises(ValueError, match="wraps a kerasx layer"):
        SpectralNormalization("dense")
    with pytest.raises(ValueError, match="no weight 'kernel' nor 'embeddings'"):
        SpectralNormalization(LayerNormalization()).init(jax.random.key(0), spec((2, 3)))
    layer = SpectralNormalization(Dense(3, activation="relu"), power_iterations=2, name="s")
    clone = SpectralNormalization.from_config(layer.get_config())
    assert clone.power_iterations == 2 and isinstance(clone.layer, Dense)
    assert clone.layer.units == 3 and clone.get_config() == layer.get_config()


def test_spectral_norm_config_keys_match_keras_and_keras_config_loads():
    k = keras()
    from kerasx.saving import deserialize
    ours = SpectralNormalization(Dense(3), power_iterations=2).get_config()
    theirs = k.layers.SpectralNormalization(k.layers.Dense(3), power_iterations=2).get_config()
    assert set(ours) == set(theirs)
    assert ours["power_iterations"] == theirs["power_iterations"] == 2
    assert ours["layer"]["class_name"] == theirs["layer"]["class_name"] == "Dense"
    clone = deserialize({"module": "keras.layers", "class_name": "SpectralNormalization",
                         "config": theirs})
    assert isinstance(clone, SpectralNormalization) and isinstance(clone.layer, Dense)
    assert clone.power_iterations == 2 and clone.layer.units == 3
