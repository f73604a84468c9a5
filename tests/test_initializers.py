"""Initializers by Keras name: the distributions Keras 3 draws from (same shapes, same spread)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kerasx import initializers

from keras_oracle import keras  # the oracle test is skipped without Keras; the others run

SHAPES = [(256, 128), (3, 3, 16, 32)]


@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_normal", "he_uniform",
                                  "lecun_normal", "zeros", "ones", "random_normal",
                                  "truncated_normal", "orthogonal"])
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_keras_distribution(name, shape):
    ours = np.asarray(initializers.get(name)(jax.random.key(0), shape, jnp.float32))
    theirs = np.asarray(keras.initializers.get(name)(shape))
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours.std(), theirs.std(), rtol=0.05, atol=1e-6)
    np.testing.assert_allclose(ours.mean(), theirs.mean(), atol=0.02 + 0.1 * theirs.std())
    np.testing.assert_allclose(np.abs(ours).max(), np.abs(theirs).max(), rtol=0.2, atol=1e-6)


def test_orthogonal_is_orthogonal():
    w = np.asarray(initializers.Orthogonal()(jax.random.key(1), (64, 32)))
    np.testing.assert_allclose(w.T @ w, np.eye(32), atol=1e-5)


def test_camel_case_names_and_unknown_name():
    assert isinstance(initializers.get("GlorotUniform"), initializers.GlorotUniform)
    with pytest.raises(ValueError, match="Unknown initializer: 'glorot'.*glorot_uniform"):
        initializers.get("glorot")


@pytest.mark.parametrize("kwargs", [dict(), dict(side="imag", window="hamming", scaling="spectrum",
                                                  periodic=True),
                                     dict(window=None, scaling=None),
                                     dict(window=[0.5, 1.0, 1.0, 0.5, 0.25, 0.1], side="imag")])
def test_stft_kernels_equal_keras(kwargs):
    shape = (6, 1, 5)
    ours = np.asarray(initializers.STFT(**kwargs)(jax.random.key(0), shape))
    theirs = np.asarray(keras.initializers.STFT(**kwargs)(shape))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    config = initializers.STFT(**kwargs).get_config()
    assert config == {**keras.initializers.STFT(**kwargs).get_config(), **{
        "window": config["window"]}}
    again = initializers.get({"class_name": "STFTInitializer", "config": config,
                              "module": "keras.initializers"})
    np.testing.assert_allclose(np.asarray(again(jax.random.key(0), shape)), ours)


def test_identity_equals_keras_and_rejects_other_ranks():
    for shape in [(4, 4), (3, 5)]:
        ours = np.asarray(initializers.Identity(gain=2.0)(jax.random.key(0), shape))
        np.testing.assert_array_equal(ours, np.asarray(keras.initializers.Identity(gain=2.0)(shape)))
    with pytest.raises(ValueError, match="2D matrices.*rank 3"):
        initializers.get("identity")(jax.random.key(0), (2, 2, 2))
    with pytest.raises(ValueError, match="side"):
        initializers.STFT(side="both")
    with pytest.raises(ValueError, match="no_such_window"):
        initializers.STFT(window="no_such_window")


def test_every_keras_initializer_name_is_here():
    public = {n for n in dir(keras.initializers) if not n.startswith("_")}
    assert public - set(dir(initializers)) == set()
    for name in ["IdentityInitializer", "OrthogonalInitializer", "STFTInitializer", "identity",
                 "stft", "he_uniform"]:
        assert type(initializers.get(name)).__name__ == type(keras.initializers.get(name)).__name__ \
            or name.endswith("Initializer")
    assert initializers.glorot_uniform is initializers.GlorotUniform
