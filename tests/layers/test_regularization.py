import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kerasx.layers._regularization import Dropout
from kerasx.layers._core import Input
from harness import keras, run_layer_test


def x_of(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
def test_dropout_inference_is_identity_and_matches_keras(rate):
    k = keras()
    x = x_of((4, 5))
    y, params, state = run_layer_test(Dropout(rate), x, k.layers.Dropout(rate),
                                      expected_num_weights=0)
    np.testing.assert_array_equal(y, x)
    assert params == {} and state == {}


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.8])
def test_dropout_training_drops_rate_and_rescales(rate):
    x = jnp.asarray(np.random.default_rng(0).uniform(1.0, 2.0, size=(200, 500)).astype("float32"))
    layer = Dropout(rate)
    y, params, state = run_layer_test(layer, x, training=True, rng=jax.random.key(1))
    dropped = np.asarray(y == 0)
    assert abs(dropped.mean() - rate) < 0.01
    kept = ~dropped
    np.testing.assert_allclose(np.asarray(y)[kept], np.asarray(x)[kept] / (1 - rate), rtol=1e-6)
    assert y.dtype == x.dtype


def test_dropout_is_deterministic_for_a_fixed_key():
    x = jnp.ones((8, 64))
    layer = Dropout(0.5)
    a, _ = layer.apply({}, {}, x, training=True, rng=jax.random.key(7))
    b = jax.jit(lambda r: layer.apply({}, {}, x, training=True, rng=r)[0])(jax.random.key(7))
    c, _ = layer.apply({}, {}, x, training=True, rng=jax.random.key(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # raw uint32 keys work too
    d, _ = layer.apply({}, {}, x, training=True, rng=jax.random.PRNGKey(7))
    assert d.shape == x.shape


def test_dropout_seed_changes_the_mask_deterministically():
    x = jnp.ones((8, 64))
    key = jax.random.key(0)
    a = Dropout(0.5, seed=1).apply({}, {}, x, training=True, rng=key)[0]
    b = Dropout(0.5, seed=1).apply({}, {}, x, training=True, rng=key)[0]
    c = Dropout(0.5, seed=2).apply({}, {}, x, training=True, rng=key)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dropout_noise_shape_shares_the_mask():
    x = jnp.ones((4, 10, 32))
    y, _ = Dropout(0.5, noise_shape=(None, 1, None)).apply(
        {}, {}, x, training=True, rng=jax.random.key(0))
    np.testing.assert_array_equal(y, jnp.broadcast_to(y[:, :1], y.shape))
    assert 0 < float((y == 0).mean()) < 1


def test_dropout_rate_extremes_need_no_rng():
    x = jnp.ones((3, 4))
    np.testing.assert_array_equal(Dropout(0.0).apply({}, {}, x, training=True)[0], x)
    np.testing.assert_array_equal(Dropout(1.0).apply({}, {}, x, training=True)[0], 0.0)


def test_dropout_without_rng_names_the_layer():
    with pytest.raises(ValueError, match="'drop'.*Dropout.*rng=jax.random.key"):
        Dropout(0.5, name="drop").apply({}, {}, jnp.ones((2, 3)), training=True)


@pytest.mark.parametrize("rate", [-0.1, 1.5, "0.5", True])
def test_dropout_rate_validation(rate):
    with pytest.raises(ValueError, match=f"`rate` of layer 'dropout'.*between 0 and 1.*rate={rate!r}"):
        Dropout(rate)


def test_dropout_noise_shape_validation():
    with pytest.raises(ValueError, match="`noise_shape`.*noise_shape='abc'"):
        Dropout(0.5, noise_shape="abc")
    with pytest.raises(ValueError, match="`noise_shape`.*\\(None, 0\\)"):
        Dropout(0.5, noise_shape=(None, 0))
    with pytest.raises(ValueError, match="'d'.*noise_shape=\\(None, 3\\).*\\(2, 4\\)"):
        Dropout(0.5, noise_shape=(None, 3), name="d").init(
            jax.random.key(0), jax.ShapeDtypeStruct((2, 4), jnp.float32))


def test_dropout_symbolic_and_config():
    x = Input((7,))
    assert Dropout(0.2)(x).shape == (None, 7)
    cfg = Dropout(0.25, noise_shape=(None, 1), seed=3).get_config()
    assert cfg["rate"] == 0.25 and cfg["noise_shape"] == (None, 1) and cfg["seed"] == 3


# ------------------------------------------------------------------------------ spatial dropout, noise
from kerasx.layers import _regularization as reg  # noqa: E402
from kerasx.layers._base import apply_layer  # noqa: E402
from kerasx.layers import collect_losses  # noqa: E402

SPATIAL = [("SpatialDropout1D", (4, 6, 5), {}),
           ("SpatialDropout2D", (4, 5, 3, 4), {"data_format": "channels_first"}),
           ("SpatialDropout3D", (2, 2, 3, 2, 5), {})]


@pytest.mark.parametrize("cls,shape,kwargs", SPATIAL)
def test_spatial_dropout_inference_matches_keras_and_drops_whole_channels(cls, shape, kwargs):
    k = keras()
    x = jnp.asarray(np.random.default_rng(0).uniform(1.0, 2.0, size=shape).astype("float32"))
    layer = getattr(reg, cls)(0.5, **kwargs)
    y, _, _ = run_layer_test(layer, x, getattr(k.layers, cls)(0.5, **kwargs),
                             expected_num_weights=0)
    np.testing.assert_array_equal(y, x)
    y, _, _ = run_layer_test(layer, x, training=True, rng=jax.random.key(3))
    channel_axis = 1 if kwargs.get("data_format") == "channels_first" else len(shape) - 1
    spatial = tuple(i for i in range(1, len(shape)) if i != channel_axis)
    dropped = np.asarray(y == 0)
    # a channel of a sample is dropped everywhere or nowhere; kept values are scaled by 2
    assert np.all(dropped.all(axis=spatial) | ~dropped.any(axis=spatial))
    np.testing.assert_allclose(np.asarray(y)[~dropped], np.asarray(x)[~dropped] * 2, rtol=1e-6)
    assert 0 < dropped.mean() < 1


def test_spatial_dropout_rate_statistics():
    x = jnp.ones((400, 3, 50))
    y, _ = reg.SpatialDropout1D(0.3).apply({}, {}, x, training=True, rng=jax.random.key(0))
    assert abs(float((y[:, 0] == 0).mean()) - 0.3) < 0.02


def test_spatial_dropout_errors_and_config():
    with pytest.raises(ValueError, match="'sd'.*SpatialDropout2D.*rank 4"):
        reg.SpatialDropout2D(0.5, name="sd").init(jax.random.key(0),
                                                  jax.ShapeDtypeStruct((2, 3, 4), jnp.float32))
    with pytest.raises(ValueError, match="`rate`.*between 0 and 1.*rate=1.5"):
        reg.SpatialDropout1D(1.5)
    with pytest.raises(ValueError, match="`data_format`.*data_format='nhwc'"):
        reg.SpatialDropout2D(0.5, data_format="nhwc")
    with pytest.raises(ValueError, match="'s'.*SpatialDropout1D.*rng=jax.random.key"):
        reg.SpatialDropout1D(0.5, name="s").apply({}, {}, jnp.ones((2, 3, 4)), training=True)
    assert reg.SpatialDropout1D(0.2, seed=3).get_config() == {
        "name": "spatial_dropout1d", "dtype": "float32", "rate": 0.2, "seed": 3}
    cfg = reg.SpatialDropout3D(0.2, data_format="channels_first", trainable=False).get_config()
    assert cfg["data_format"] == "channels_first" and cfg["trainable"] is False
    assert reg.SpatialDropout3D.from_config(cfg).trainable is False


@pytest.mark.parametrize("cls,arg", [("GaussianNoise", 0.5), ("GaussianDropout", 0.3),
                                     ("AlphaDropout", 0.2)])
def test_noise_layers_inference_matches_keras(cls, arg):
    k = keras()
    x = x_of((4, 5))
    y, params, state = run_layer_test(getattr(reg, cls)(arg), x, getattr(k.layers, cls)(arg),
                                      expected_num_weights=0)
    np.testing.assert_array_equal(y, x)


def test_gaussian_noise_statistics():
    x = jnp.full((200, 500), 3.0)
    y, _, _ = run_layer_test(reg.GaussianNoise(0.4), x, training=True, rng=jax.random.key(1))
    noise = np.asarray(y - x)
    assert abs(noise.mean()) < 0.01 and abs(noise.std() - 0.4) < 0.01


def test_gaussian_dropout_statistics():
    x = jnp.full((200, 500), 2.0)
    rate = 0.3
    y, _, _ = run_layer_test(reg.GaussianDropout(rate), x, training=True, rng=jax.random.key(1))
    factor = np.asarray(y / x)
    assert abs(factor.mean() - 1.0) < 0.01
    assert abs(factor.std() - np.sqrt(rate / (1 - rate))) < 0.01


@pytest.mark.parametrize("rate", [0.1, 0.4])
def test_alpha_dropout_keeps_mean_and_variance_and_matches_keras_formula(rate):
    x = jnp.asarray(np.random.default_rng(0).normal(size=(400, 500)).astype("float32"))
    layer = reg.AlphaDropout(rate)
    y, _, _ = run_layer_test(layer, x, training=True, rng=jax.random.key(2))
    y = np.asarray(y)
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1.0) < 0.01
    # Keras's transform: kept units a*x + b, dropped units a*alpha_p + b
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - rate) * (1 + rate * alpha_p ** 2)) ** -0.5
    b = -a * alpha_p * rate
    dropped = np.isclose(y, a * alpha_p + b, atol=1e-6)
    assert abs(dropped.mean() - rate) < 0.01
    np.testing.assert_allclose(y[~dropped], a * np.asarray(x)[~dropped] + b, rtol=1e-5, atol=1e-6)


def test_alpha_dropout_noise_shape_and_seed():
    x = jnp.ones((4, 10, 8))
    layer = reg.AlphaDropout(0.5, noise_shape=(None, 1, None), seed=2)
    y, _ = layer.apply({}, {}, x, training=True, rng=jax.random.key(0))
    np.testing.assert_array_equal(y, jnp.broadcast_to(y[:, :1], y.shape))
    y2, _ = reg.AlphaDropout(0.5, noise_shape=(None, 1, None), seed=3).apply(
        {}, {}, x, training=True, rng=jax.random.key(0))
    assert not np.array_equal(y, y2)


@pytest.mark.parametrize("cls,kwargs,match", [
    ("GaussianNoise", dict(stddev=-0.1), "`stddev`.*between 0 and 1.*stddev=-0.1"),
    ("GaussianNoise", dict(stddev=0.1, seed="a"), "`seed`.*seed='a'"),
    ("GaussianDropout", dict(rate=1.0), "`rate`.*in \\[0, 1\\).*rate=1.0"),
    ("AlphaDropout", dict(rate=1.0), "`rate`.*in \\[0, 1\\).*rate=1.0"),
    ("AlphaDropout", dict(rate=-0.5), "`rate`.*rate=-0.5"),
    ("AlphaDropout", dict(rate=0.5, noise_shape="x"), "`noise_shape`"),
    ("ActivityRegularization", dict(l1=-1.0), "`l1`.*non-negative.*l1=-1.0"),
])
def test_regularization_argument_errors(cls, kwargs, match):
    with pytest.raises(ValueError, match=match):
        getattr(reg, cls)(**kwargs)


@pytest.mark.parametrize("cls,arg", [("GaussianNoise", 0.5), ("GaussianDropout", 0.3),
                                     ("AlphaDropout", 0.2)])
def test_noise_layers_need_rng_when_training(cls, arg):
    with pytest.raises(ValueError, match=f"'n'.*{cls}.*rng=jax.random.key"):
        getattr(reg, cls)(arg, name="n").apply({}, {}, jnp.ones((2, 3)), training=True)
    # rate 0 needs no rng
    zero = getattr(reg, cls)(0.0)
    np.testing.assert_array_equal(zero.apply({}, {}, jnp.ones((2, 3)), training=True)[0], 1.0)


def test_activity_regularization_matches_keras_losses():
    k = keras()
    x = x_of((4, 5))
    layer = reg.ActivityRegularization(l1=0.1, l2=0.05)
    with collect_losses() as losses:
        y, _ = apply_layer(layer, {}, {}, jnp.asarray(x))
    np.testing.assert_array_equal(y, x)
    ref = k.layers.ActivityRegularization(l1=0.1, l2=0.05)
    ref(x)
    assert len(losses) == 1 and len(ref.losses) == 1
    np.testing.assert_allclose(losses[0], np.asarray(ref.losses[0]), rtol=1e-5)
    # the object shell collects it too
    layer(jnp.asarray(x))
    np.testing.assert_allclose(layer.losses[0], np.asarray(ref.losses[0]), rtol=1e-5)
    cfg = layer.get_config()
    assert cfg["l1"] == 0.1 and cfg["l2"] == 0.05 and "activity_regularizer" not in cfg
    assert reg.ActivityRegularization.from_config(cfg).activity_regularizer.l2 == 0.05
