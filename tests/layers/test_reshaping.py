"""Reshaping layers against Keras 3: Identity, Permute, RepeatVector, Cropping1D/2D,
ZeroPadding1D/2D, UpSampling1D/2D."""

import numpy as np
import pytest

import kerasx
from kerasx import layers
from harness import keras, run_layer_test


def x_of(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


CASES = [
    ("Identity", dict(), (2, 3, 4)),
    ("Permute", dict(dims=(2, 1)), (2, 3, 4)),
    ("Permute", dict(dims=(3, 1, 2)), (2, 3, 4, 5)),
    ("RepeatVector", dict(n=3), (2, 4)),
    ("Cropping1D", dict(), (2, 6, 3)),
    ("Cropping1D", dict(cropping=(2, 0)), (2, 6, 3)),
    ("Cropping2D", dict(cropping=((1, 0), (2, 1))), (2, 6, 7, 3)),
    ("Cropping2D", dict(cropping=(1, 2), data_format="channels_first"), (2, 3, 6, 7)),
    ("Cropping2D", dict(cropping=1), (2, 5, 5, 1)),
    ("ZeroPadding1D", dict(), (2, 4, 3)),
    ("ZeroPadding1D", dict(padding=(0, 3), data_format="channels_first"), (2, 3, 4)),
    ("ZeroPadding2D", dict(), (2, 4, 5, 3)),
    ("ZeroPadding2D", dict(padding=((1, 2), (0, 3)), data_format="channels_first"), (2, 3, 4, 5)),
    ("UpSampling1D", dict(size=3), (2, 4, 3)),
    ("UpSampling2D", dict(), (2, 3, 4, 2)),
    ("UpSampling2D", dict(size=(1, 3), data_format="channels_first"), (2, 2, 3, 4)),
]


@pytest.mark.parametrize("name, kwargs, shape", CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_reshaping_layers_match_keras(name, kwargs, shape):
    k = keras()
    run_layer_test(getattr(layers, name)(**kwargs), x_of(shape), getattr(k.layers, name)(**kwargs))


def test_a_conv_autoencoder_with_padding_cropping_and_upsampling_trains_in_fit():
    x = np.random.default_rng(1).random((32, 6, 6, 1), dtype=np.float32)
    model = kerasx.Sequential([
        layers.Input((6, 6, 1)), layers.ZeroPadding2D(1), layers.Conv2D(4, 3, activation="relu"),
        layers.MaxPooling2D(2), layers.UpSampling2D(2), layers.ZeroPadding2D(1),
        layers.Cropping2D(1), layers.Conv2D(1, 3, padding="same")])
    assert model.predict(x[:2], verbose=0).shape == (2, 6, 6, 1)
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(x, x, epochs=15, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_misuse_is_named():
    with pytest.raises(ValueError, match="Permute.*permutation of 1..2"):
        layers.Permute((0, 1))
    with pytest.raises(ValueError, match="RepeatVector.*positive integer"):
        layers.RepeatVector(0)
    with pytest.raises(ValueError, match="Cropping1D.*nothing would be left"):
        layers.Cropping1D((2, 2)).apply({}, {}, x_of((1, 4, 2)))
    with pytest.raises(ValueError, match="ZeroPadding2D.*padding"):
        layers.ZeroPadding2D((1, 2, 3))
    with pytest.raises(ValueError, match="UpSampling2D.*nearest.*bilinear"):
        layers.UpSampling2D(interpolation="bilinear")
    with pytest.raises(ValueError, match="RepeatVector.*rank|RepeatVector.*2"):
        layers.RepeatVector(2).apply({}, {}, x_of((1, 4, 2)))
