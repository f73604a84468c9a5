"""ConvLSTM1D/2D/3D against Keras 3 on the same weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kerasx import layers
from kerasx.layers._base import as_spec
from keras_oracle import require_keras


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _close(a, b, atol=1e-5):
    a = list(a) if isinstance(a, (list, tuple)) else [a]
    b = list(b) if isinstance(b, (list, tuple)) else [b]
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=atol, rtol=atol)


CASES = [
    ("ConvLSTM1D", (2, 3, 7, 2), dict(filters=3, kernel_size=3, return_sequences=True)),
    pytest.param("ConvLSTM1D", (2, 3, 7, 2), dict(filters=2, kernel_size=2, strides=2,
                                                  padding="same", return_state=True,
                                                  go_backwards=True), marks=pytest.mark.slow),
    pytest.param("ConvLSTM2D", (2, 3, 5, 4, 2), dict(filters=2, kernel_size=(3, 2),
                                                     padding="same", dilation_rate=(1, 2)),
                 marks=pytest.mark.slow),
    pytest.param("ConvLSTM2D", (2, 3, 2, 5, 4), dict(filters=2, kernel_size=2,
                                                     data_format="channels_first",
                                                     return_sequences=True),
                 marks=pytest.mark.slow),
    pytest.param("ConvLSTM3D", (1, 2, 3, 4, 3, 2), dict(filters=2, kernel_size=2,
                                                         use_bias=False, unit_forget_bias=False),
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name,shape,kwargs", CASES)
def test_conv_lstm_matches_keras(name, shape, kwargs):
    keras = require_keras()
    x = _x(shape)
    ours = getattr(layers, name)(**kwargs)
    params, state = ours.init(jax.random.key(0), as_spec(x))
    y, _ = jax.jit(lambda p, s, xx: ours.apply(p, s, xx))(params, state, x)
    spec = ours.output_spec(as_spec(x))
    assert jax.tree.map(lambda s: s.shape, spec) == jax.tree.map(lambda s: s.shape, y)
    theirs = getattr(keras.layers, name)(**kwargs)
    theirs.build(x.shape)
    weights = ours.get_weights_from(params, state)
    assert [w.shape for w in weights] == [tuple(v.shape) for v in theirs.weights]
    theirs.set_weights(weights)
    _close(y, theirs(x))


@pytest.mark.slow
def test_conv_lstm_gradients_and_training_dropout():
    keras = require_keras()
    x = _x((2, 3, 6, 2))
    ours = layers.ConvLSTM1D(2, 3, return_sequences=True)
    params, state = ours.init(jax.random.key(1), as_spec(x))
    theirs = keras.layers.ConvLSTM1D(2, 3, return_sequences=True)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights_from(params, state))

    grads = ours.get_weights_from(jax.grad(
        lambda p: jnp.sum(ours.apply(p, state, x)[0] ** 2))(params), state)
    tv = [v.value for v in theirs.trainable_variables]
    ntv = [v.value for v in theirs.non_trainable_variables]
    kgrads = jax.grad(lambda t: jnp.sum(theirs.stateless_call(t, ntv, x)[0] ** 2))(tv)
    _close(grads, kgrads, atol=1e-4)

    drop = layers.ConvLSTM1D(2, 3, dropout=0.3, recurrent_dropout=0.3)
    p, s = drop.init(jax.random.key(0), as_spec(x))
    f = jax.jit(lambda p_, s_, xx, r: drop.apply(p_, s_, xx, training=True, rng=r)[0])
    np.testing.assert_array_equal(f(p, s, x, jax.random.key(3)), f(p, s, x, jax.random.key(3)))
    assert not np.allclose(f(p, s, x, jax.random.key(3)), drop.apply(p, s, x)[0])


def test_conv_lstm_bad_input():
    with pytest.raises(ValueError, match="rank 5"):
        layers.ConvLSTM2D(2, 3).init(jax.random.key(0), as_spec(_x((2, 3, 4, 2))))
    with pytest.raises(ValueError, match="filters"):
        layers.ConvLSTM1D(0, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        layers.ConvLSTM2D(2, (3, 3, 3))
    with pytest.raises(ValueError, match="padding"):
        layers.ConvLSTM1D(2, 3, padding="causal")
    with pytest.raises(ValueError, match="dilation_rate"):
        layers.ConvLSTM1D(2, 3, strides=2, dilation_rate=2)


def test_conv_lstm_runs_under_mixed_bfloat16_like_keras():
    """The zero states carry the compute dtype (bfloat16), so the time loop's carry keeps one
    dtype; the outputs match Keras's to bfloat16 precision, with the same weights."""
    import kerasx
    keras = require_keras()
    x = np.random.default_rng(0).normal(size=(2, 3, 5, 5, 2)).astype("float32")
    ours = kerasx.Sequential([kerasx.Input((3, 5, 5, 2)),
                              kerasx.layers.ConvLSTM2D(4, 3, dtype="mixed_bfloat16")])
    theirs = keras.Sequential([keras.Input((3, 5, 5, 2)),
                               keras.layers.ConvLSTM2D(4, 3, dtype="mixed_bfloat16")])
    ours.set_weights(theirs.get_weights())
    a, b = ours.predict(x, verbose=0), np.asarray(theirs.predict(x, verbose=0))
    assert a.dtype == b.dtype
    np.testing.assert_allclose(a.astype("float32"), b.astype("float32"), atol=3e-2)
