"""Tests for kerasx.datasets.mnist (the download is mocked: no network here)."""

import hashlib
import io
import os
import urllib.error
import urllib.request

import numpy as np
import pytest

import kerasx.datasets
from kerasx.datasets import mnist
from keras_oracle import require_keras  # Keras, or skip the test that needs it


def test_keras_pins_the_same_url_and_hash():
    import inspect

    keras_mnist = require_keras("keras.src.datasets.mnist")
    source = inspect.getsource(keras_mnist)
    assert mnist.FILE_HASH in source
    assert "https://storage.googleapis.com/tensorflow/tf-keras-datasets/" in source
    assert mnist.ORIGIN.endswith("/mnist.npz")


def test_load_sample():
    assert kerasx.datasets.mnist is mnist
    (x_train, y_train), (x_test, y_test) = mnist.load_sample()
    assert x_train.shape == (4000, 28, 28) and y_train.shape == (4000,)
    assert x_test.shape == (1000, 28, 28) and y_test.shape == (1000,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8
    assert set(np.unique(y_train)) == set(range(10)) and y_test.max() == 9
    assert x_train.max() == 255 and x_train.min() == 0


@pytest.fixture
def fake_mnist(tmp_path, monkeypatch):
    """A small npz served as if it were the real file, and an isolated cache."""
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "y_train": np.arange(6, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        "y_test": np.arange(2, dtype=np.uint8),
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    payload = buffer.getvalue()
    home = tmp_path / "home"
    monkeypatch.setenv("KERASX_HOME", str(home))
    monkeypatch.setattr(mnist, "FILE_HASH", hashlib.sha256(payload).hexdigest())
    requests = []

    def fake_urlopen(url, timeout=None):
        requests.append(url)
        return io.BytesIO(payload)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return arrays, home / "datasets", requests


def test_load_data_downloads_verifies_and_caches(fake_mnist):
    arrays, cache, requests = fake_mnist
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    np.testing.assert_array_equal(y_test, arrays["y_test"])
    assert x_train.dtype == np.uint8
    assert requests == [mnist.ORIGIN]
    assert os.listdir(cache) == ["mnist.npz"]  # the temporary file was renamed away
    mnist.load_data()  # served from the cache
    assert len(requests) == 1


def test_load_data_redownloads_a_corrupted_cache(fake_mnist):
    arrays, cache, requests = fake_mnist
    cache.mkdir(parents=True)
    (cache / "mnist.npz").write_bytes(b"truncated")
    (x_train, _), _ = mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays["x_train"])
    assert len(requests) == 1


def test_load_data_checksum_mismatch(fake_mnist, monkeypatch):
    _, cache, _ = fake_mnist
    monkeypatch.setattr(mnist, "FILE_HASH", "0" * 64)
    with pytest.raises(ValueError, match=r"expected SHA-256 0{64}, received [0-9a-f]{64}"):
        mnist.load_data()
    assert os.listdir(cache) == []  # nothing left behind


@pytest.mark.parametrize(
    "error",
    [urllib.error.URLError("[Errno -3] Temporary failure in name resolution"), TimeoutError("timed out")],
)
def test_load_data_offline(fake_mnist, monkeypatch, error):
    _, cache, _ = fake_mnist

    def offline(url, timeout=None):
        raise error

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(ConnectionError, match=r"offline.*load_sample\(\)") as info:
        mnist.load_data()
    assert isinstance(info.value, OSError)
    assert info.value.__cause__ is error
    assert os.listdir(cache) == []


def test_cache_dir_default(monkeypatch, tmp_path):
    monkeypatch.delenv("KERASX_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert mnist._cache_dir() == os.path.join(str(tmp_path), ".kerasx", "datasets")
