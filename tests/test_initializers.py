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
