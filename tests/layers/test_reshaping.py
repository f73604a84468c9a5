"""Reshaping layers against Keras 3: Identity, Permute, RepeatVector, Cropping1D/2D/3D,
ZeroPadding1D/2D/3D, UpSampling1D/2D/3D."""

import jax
import jax.numpy as jnp
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
    ("UpSampling2D", dict(interpolation="bilinear"), (2, 3, 4, 2)),
    ("UpSampling2D", dict(size=(3, 2), interpolation="bilinear", data_format="channels_first"),
     (1, 2, 3, 4)),
    ("UpSampling2D", dict(size=(2, 3), interpolation="bicubic"), (1, 4, 3, 2)),
    ("UpSampling2D", dict(size=3, interpolation="lanczos3"), (1, 3, 4, 1)),
    ("UpSampling2D", dict(interpolation="lanczos5", data_format="channels_first"), (1, 2, 4, 3)),
    ("UpSampling2D", dict(size=(1, 2), interpolation="BILINEAR"), (1, 3, 3, 2)),
    ("Cropping3D", dict(), (2, 4, 5, 3, 2)),
    ("Cropping3D", dict(cropping=((1, 0), (0, 2), (1, 1)), data_format="channels_first"),
     (1, 2, 3, 4, 5)),
    ("Cropping3D", dict(cropping=(0, 1, 2)), (1, 3, 4, 5, 2)),
    ("Cropping3D", dict(cropping=1), (1, 3, 3, 4, 1)),
    ("ZeroPadding3D", dict(), (2, 2, 3, 2, 2)),
    ("ZeroPadding3D", dict(padding=((0, 1), (2, 0), (1, 1)), data_format="channels_first"),
     (1, 2, 2, 3, 2)),
    ("ZeroPadding3D", dict(padding=(1, 0, 2)), (1, 2, 2, 2, 1)),
    ("ZeroPadding3D", dict(padding=2), (1, 1, 2, 1, 2)),
    ("UpSampling3D", dict(), (2, 2, 3, 2, 2)),
    ("UpSampling3D", dict(size=(1, 3, 2), data_format="channels_first"), (1, 2, 2, 3, 2)),
    ("UpSampling3D", dict(size=3), (1, 1, 2, 1, 1)),
]


@pytest.mark.parametrize("name, kwargs, shape", CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_reshaping_layers_match_keras(name, kwargs, shape):
    k = keras()
    theirs = getattr(k.layers, name)(**kwargs)
    y, _, _ = run_layer_test(getattr(layers, name)(**kwargs), x_of(shape), theirs)
    assert y.shape == tuple(theirs.compute_output_shape(shape))


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
    with pytest.raises(ValueError, match="UpSampling2D.*interpolation.*'nearest', 'bilinear'.*"
                                         "interpolation='area'"):
        layers.UpSampling2D(interpolation="area")
    with pytest.raises(ValueError, match="RepeatVector.*rank|RepeatVector.*2"):
        layers.RepeatVector(2).apply({}, {}, x_of((1, 4, 2)))


def test_3d_layers_symbolic_shapes_and_misuse():
    k = keras()
    for name, kwargs, shape in [("Cropping3D", dict(cropping=(1, 0, 2)), (5, None, 6, 3)),
                                ("ZeroPadding3D", dict(padding=1), (None, 2, 3, 1)),
                                ("UpSampling3D", dict(size=(2, 1, 3)), (2, 3, None, 4)),
                                ("UpSampling2D", dict(size=2, interpolation="bilinear"),
                                 (None, 5, 3))]:
        y = getattr(layers, name)(**kwargs)(layers.Input(shape))
        assert y.shape == tuple(getattr(k.layers, name)(**kwargs).compute_output_shape(
            (None,) + shape)), name
    with pytest.raises(ValueError, match=r"Cropping3D.*nothing would be left"):
        layers.Cropping3D(((1, 1), (0, 0), (0, 0))).apply({}, {}, x_of((1, 2, 3, 3, 1)))
    with pytest.raises(ValueError, match=r"Cropping3D.*tuple of 3.*\(1, 2\)"):
        layers.Cropping3D((1, 2))
    with pytest.raises(ValueError, match=r"ZeroPadding3D.*padding.*-1"):
        layers.ZeroPadding3D(-1)
    with pytest.raises(ValueError, match=r"ZeroPadding3D.*tuple of 3"):
        layers.ZeroPadding3D(((1, 1), (1, 1)))
    with pytest.raises(ValueError, match=r"`size`.*'up_sampling3d'.*positive.*\(2, 0, 2\)"):
        layers.UpSampling3D((2, 0, 2))
    with pytest.raises(ValueError, match=r"`data_format`.*data_format='NDHWC'"):
        layers.UpSampling3D(data_format="NDHWC")
    with pytest.raises(ValueError, match=r"'up_sampling3d'.*rank 5.*\(1, 4, 4, 2\)"):
        layers.UpSampling3D().apply({}, {}, x_of((1, 4, 4, 2)))
    with pytest.raises(ValueError, match=r"'zero_padding3d'.*rank 5"):
        layers.ZeroPadding3D()(layers.Input((4, 4, 2)))
    assert layers.Cropping3D().cropping == ((1, 1), (1, 1), (1, 1))
    assert layers.ZeroPadding3D(2).get_config()["padding"] == ((2, 2), (2, 2), (2, 2))


def test_bilinear_upsampling_is_smooth_and_differentiable():
    x = np.arange(4.0, dtype=np.float32).reshape(1, 2, 2, 1)
    up = layers.UpSampling2D(interpolation="bilinear")
    y, _ = up.apply({}, {}, x)
    assert y.shape == (1, 4, 4, 1) and len(np.unique(np.asarray(y))) > 4  # not repeated pixels
    g = jax.jit(jax.grad(lambda xx: jnp.sum(up.apply({}, {}, xx)[0])))(x)
    np.testing.assert_allclose(g, 4.0, rtol=1e-5)  # every input spreads over 4 outputs in sum
    ints = np.arange(8).reshape(1, 2, 2, 2).astype("uint8")
    assert up.apply({}, {}, ints)[0].dtype == jnp.float32
