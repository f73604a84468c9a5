"""Activation layers against Keras 3: ReLU, LeakyReLU, PReLU, ELU, Softmax."""

import numpy as np
import pytest

import kerasx
from kerasx import layers
from harness import keras, run_layer_test


def x_of(shape, seed=0):
    return np.random.default_rng(seed).normal(scale=3.0, size=shape).astype(np.float32)


@pytest.mark.parametrize("kwargs", [dict(), dict(max_value=6), dict(max_value=1.5),
                                    dict(negative_slope=0.1), dict(threshold=0.5),
                                    dict(max_value=2.0, negative_slope=0.2, threshold=0.7)],
                         ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "default")
def test_relu_matches_keras(kwargs):
    run_layer_test(layers.ReLU(**kwargs), x_of((4, 7)), keras().layers.ReLU(**kwargs))


@pytest.mark.parametrize("kwargs", [dict(), dict(negative_slope=0.05)])
def test_leaky_relu_matches_keras(kwargs):
    run_layer_test(layers.LeakyReLU(**kwargs), x_of((3, 5)), keras().layers.LeakyReLU(**kwargs))


def test_leaky_relu_takes_the_keras_2_name_with_a_warning():
    with pytest.warns(UserWarning, match="negative_slope"):
        layer = layers.LeakyReLU(alpha=0.1)
    assert layer.negative_slope == 0.1


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_elu_matches_keras(alpha):
    run_layer_test(layers.ELU(alpha), x_of((3, 5)), keras().layers.ELU(alpha))


@pytest.mark.parametrize("shared_axes, alpha_shape", [(None, (4, 5, 3)), ([1, 2], (1, 1, 3)),
                                                      (3, (4, 5, 1))])
def test_prelu_matches_keras_with_learned_alphas(shared_axes, alpha_shape):
    k = keras()
    layer = layers.PReLU(alpha_initializer=kerasx.initializers.RandomUniform(0.0, 0.5, seed=1),
                         shared_axes=shared_axes)
    _, params, _ = run_layer_test(layer, x_of((2, 4, 5, 3)), k.layers.PReLU(shared_axes=shared_axes),
                                  expected_num_weights=1)
    assert params["alpha"].shape == alpha_shape


def test_prelu_trains_its_alpha_in_fit():
    x = x_of((64, 4))
    y = np.where(x > 0, x, 0.25 * x)  # a leaky ReLU with slope 0.25 to learn
    model = kerasx.Sequential([layers.Input((4,)), layers.PReLU()])
    model.compile(optimizer=kerasx.optimizers.SGD(0.1), loss="mse")
    model.fit(x, y, epochs=60, batch_size=16, verbose=0)
    np.testing.assert_allclose(model.layers[0].get_weights()[0], 0.25, atol=0.02)


@pytest.mark.parametrize("axis", [-1, 1, [1, 2]], ids=["last", "one", "two_axes"])
def test_softmax_matches_keras(axis):
    run_layer_test(layers.Softmax(axis), x_of((2, 3, 4)), keras().layers.Softmax(axis))


def test_softmax_with_a_mask_matches_keras():
    k = keras()
    x = x_of((2, 3, 5))
    mask = np.random.default_rng(1).random((2, 1, 5)) > 0.4
    mask[0, 0, :] = False  # a fully masked row: zeros, as in Keras
    ours, _ = layers.Softmax().apply({}, {}, x, mask=mask)
    theirs = k.layers.Softmax()(x, mask=mask)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), atol=1e-6)
    assert np.all(np.asarray(ours)[0] == 0.0)
    with pytest.raises(ValueError, match="Softmax.*mask that broadcasts"):
        layers.Softmax().apply({}, {}, x, mask=np.ones((2, 4), bool))


def test_bad_arguments_name_the_layer():
    with pytest.raises(ValueError, match="ReLU.*max_value.*Received: max_value=-1"):
        layers.ReLU(max_value=-1)
    with pytest.raises(ValueError, match="LeakyReLU.*negative_slope"):
        layers.LeakyReLU(negative_slope=-0.1)
    with pytest.raises(ValueError, match="PReLU.*shared_axes"):
        layers.PReLU(shared_axes=[4]).init(None, kerasx.layers._base.as_spec(x_of((2, 3))))
