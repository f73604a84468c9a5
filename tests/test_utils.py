"""Tests for kerasx.utils: to_categorical, set_random_seed, next_rng_key."""

import random

import jax
import numpy as np
import pytest

from kerasx import utils
from keras_oracle import require_keras  # Keras, or skip the test that needs it


@pytest.mark.parametrize(
    "labels, num_classes, shape",
    [
        ([0, 1, 2, 3], 4, (4, 4)),
        ([0, 2, 1], None, (3, 3)),
        (np.array([[1], [0], [2]]), 5, (3, 5)),  # (..., 1) is squeezed
        (np.array([[0, 1], [2, 3]], np.uint8), None, (2, 2, 4)),
        (np.array([1.0, 0.0]), 2, (2, 2)),  # integral floats are accepted
    ],
)
def test_to_categorical_matches_keras(labels, num_classes, shape):
    keras = require_keras()
    ours = utils.to_categorical(labels, num_classes)
    assert ours.shape == shape and ours.dtype == np.float32
    np.testing.assert_array_equal(ours, keras.utils.to_categorical(labels, num_classes))


def test_to_categorical_values():
    np.testing.assert_array_equal(
        utils.to_categorical([2, 0], 3), np.array([[0, 0, 1], [1, 0, 0]], np.float32)
    )
    assert utils.to_categorical([], num_classes=3).shape == (0, 3)


def test_to_categorical_errors():
    with pytest.raises(ValueError, match=r"\[0, num_classes\) = \[0, 3\).*label 3 >= num_classes=3"):
        utils.to_categorical([0, 3], num_classes=3)
    with pytest.raises(ValueError, match="negative label -1"):
        utils.to_categorical([0, -1])
    with pytest.raises(ValueError, match="`num_classes`.*Received: num_classes=0"):
        utils.to_categorical([0], num_classes=0)
    with pytest.raises(ValueError, match="`x`.*integer class labels.*float"):
        utils.to_categorical([0.5, 1.0])
    with pytest.raises(ValueError, match="empty `x`"):
        utils.to_categorical([])


def test_set_random_seed_makes_python_numpy_and_default_keys_deterministic():
    def draw():
        key = utils.next_rng_key()
        return random.random(), np.random.rand(), np.asarray(jax.random.key_data(key)), key

    utils.set_random_seed(123)
    a = draw()
    utils.set_random_seed(123)
    b = draw()
    assert a[0] == b[0] and a[1] == b[1]
    np.testing.assert_array_equal(a[2], b[2])
    np.testing.assert_array_equal(jax.random.normal(a[3], (3,)), jax.random.normal(b[3], (3,)))
    # Consecutive keys differ.
    np.testing.assert_raises(
        AssertionError,
        np.testing.assert_array_equal,
        jax.random.key_data(utils.next_rng_key()),
        jax.random.key_data(utils.next_rng_key()),
    )


def test_next_rng_key_is_a_typed_key():
    key = utils.next_rng_key()
    assert jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key) and key.shape == ()


@pytest.mark.parametrize("seed", [-1, 1.5, "1", True])
def test_set_random_seed_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="`seed`.*Received: seed="):
        utils.set_random_seed(seed)


def test_enable_compilation_cache_lets_a_new_process_skip_compiling(tmp_path):
    """Two fresh processes fit the same model with the cache on: the first writes compiled
    programs to the folder, the second reads them back (JAX logs each persistent-cache hit)."""
    import subprocess
    import sys

    script = (
        "import logging, numpy as np, jax, kerasx\n"
        "from kerasx import layers\n"
        f"print(kerasx.utils.enable_compilation_cache({str(tmp_path)!r}))\n"
        "hits = []\n"
        "class H(logging.Handler):\n"
        "    def emit(self, r):\n"
        "        if 'Persistent compilation cache hit' in r.getMessage(): hits.append(1)\n"
        "logging.getLogger('jax._src.compiler').addHandler(H())\n"
        "logging.getLogger('jax._src.compiler').setLevel(logging.DEBUG)\n"
        "m = kerasx.Sequential([layers.Input((3,)), layers.Dense(2)])\n"
        "m.compile(optimizer='sgd', loss='mse')\n"
        "m.fit(np.ones((8, 3), 'float32'), np.ones((8, 2), 'float32'), verbose=0)\n"
        "print('hits', len(hits))\n"
    )
    env = {**__import__("os").environ, "JAX_PLATFORMS": "cpu"}
    first = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == str(tmp_path)
    assert "hits 0" in first.stdout
    assert any(tmp_path.iterdir())
    second = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env)
    assert second.returncode == 0, second.stderr
    assert int(second.stdout.split("hits ")[1]) >= 2


def test_utils_is_a_package_that_keeps_every_name_and_path():
    import importlib

    import kerasx
    from kerasx.utils import pack_x_y_sample_weight, plot_history, unpack_x_y_sample_weight  # noqa: F401

    assert importlib.import_module("kerasx.utils") is kerasx.utils is utils
    for name in utils.__all__:
        assert getattr(utils, name) is not None, name
    for name in ("to_categorical", "set_random_seed", "next_rng_key", "enable_compilation_cache",
                 "pack_x_y_sample_weight", "unpack_x_y_sample_weight", "plot_history"):
        assert name in utils.__all__


def test_utils_covers_keras_utils():
    """Every public name of keras.utils exists in kerasx.utils, except the listed ones."""
    keras = require_keras()
    not_ported = {"FeatureSpace", "legacy"}
    missing = {n for n in dir(keras.utils) if not n.startswith("_") and not hasattr(utils, n)}
    assert missing <= not_ported, sorted(missing - not_ported)
