import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kerasx import layers
from harness import keras, run_layer_test


def x_of(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("activation", [None, "relu", "softmax", "gelu", "tanh"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_matches_keras(activation, use_bias):
    k = keras()
    run_layer_test(layers.Dense(5, activation=activation, use_bias=use_bias), x_of((4, 3)),
                   k.layers.Dense(5, activation=activation, use_bias=use_bias),
                   expected_num_weights=2 if use_bias else 1)


def test_dense_on_rank3_inputs():
    k = keras()
    run_layer_test(layers.Dense(2), x_of((2, 3, 4)), k.layers.Dense(2))


@pytest.mark.parametrize("name", ["relu", "sigmoid", "softmax", "tanh", "gelu", "silu", "swish",
                                  "elu", "selu", "softplus", "leaky_relu", "linear"])
def test_activation_matches_keras(name):
    k = keras()
    run_layer_test(layers.Activation(name), x_of((3, 6)), k.layers.Activation(name))


def test_flatten_and_reshape_match_keras():
    k = keras()
    run_layer_test(layers.Flatten(), x_of((2, 3, 4, 5)), k.layers.Flatten())
    run_layer_test(layers.Reshape((4, -1)), x_of((2, 3, 4)), k.layers.Reshape((4, -1)))
    run_layer_test(layers.Reshape((12,)), x_of((2, 3, 4)), k.layers.Reshape((12,)))


def test_embedding_matches_keras():
    k = keras()
    ids = np.array([[0, 3, 9], [2, 2, 1]], dtype="int32")
    run_layer_test(layers.Embedding(10, 4), ids, k.layers.Embedding(10, 4))


def test_dense_errors_teach():
    with pytest.raises(ValueError, match="units.*positive integer.*units=0"):
        layers.Dense(0)
    d = layers.Dense(3)
    params, state = d.init(jax.random.key(0), jax.ShapeDtypeStruct((1, 4), jnp.float32))
    with pytest.raises(ValueError, match="'dense'.*last axis is 4.*\\(2, 5\\)"):
        d.apply(params, state, jnp.ones((2, 5)))


def test_reshape_error_names_shapes():
    with pytest.raises(ValueError, match="cannot reshape samples of shape \\(3, 4\\)"):
        layers.Reshape((5, -1)).init(jax.random.key(0), jax.ShapeDtypeStruct((2, 3, 4), jnp.float32))


def test_unknown_activation_lists_valid_ones():
    with pytest.raises(ValueError, match="Unknown activation: 'relux'.*'relu'"):
        layers.Dense(3, activation="relux")


def test_layer_called_on_arrays_runs_eagerly_and_mixed_inputs_are_refused():
    dense = layers.Dense(3)
    y = dense(np.ones((2, 2), np.float32))
    np.testing.assert_allclose(y, np.ones((2, 2)) @ dense.kernel.numpy() + dense.bias.numpy(),
                               rtol=1e-6)
    with pytest.raises(TypeError, match="mix of symbolic tensors"):
        layers.Add()([layers.Input((2,)), np.ones((1, 2), np.float32)])


def test_symbolic_shapes():
    x = layers.Input((28, 28, 1))
    y = layers.Dense(7)(layers.Flatten()(x))
    assert y.shape == (None, 7)
