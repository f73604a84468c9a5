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
