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


# ---------------------------------------------------------------------------- other datasets
# The loaders run on small files made here in the cache's format and served by a fake
# `urlopen` (no network); Keras's own loaders, pointed at the same files, are the oracle of
# the parsing and of the train/test splits.
import gzip
import pickle
import tarfile

from kerasx.datasets import (boston_housing, california_housing, cifar10, cifar100,
                             fashion_mnist)


@pytest.fixture
def serve(tmp_path, monkeypatch):
    """`serve(url, payload)` makes the fake urlopen answer `url`; other URLs are offline."""
    payloads, requests = {}, []
    monkeypatch.setenv("KERASX_HOME", str(tmp_path / "home"))

    def fake_urlopen(url, timeout=None):
        requests.append(url)
        if url not in payloads:
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
        return io.BytesIO(payloads[url])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)

    def serve(url, payload):
        payloads[url] = payload
    serve.requests = requests
    serve.home = tmp_path / "home"
    return serve


def npz_bytes(**arrays):
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def keras_loader(module, monkeypatch, paths):
    """Keras's loader module `module`, with its `get_file` answering from `paths`
    (fname -> local path) instead of downloading."""
    keras_module = require_keras(f"keras.src.datasets.{module}")
    monkeypatch.setattr(keras_module, "get_file",
                        lambda fname=None, origin=None, **kw: paths[fname or origin])
    return keras_module


def assert_same_splits(ours, theirs):
    for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1]):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("module, kwargs", [
    (boston_housing, {}), (boston_housing, {"test_split": 0.3, "seed": 5}),
    (california_housing, {}), (california_housing, {"version": "small", "test_split": 0.1}),
])
def test_housing_loaders_match_keras(serve, monkeypatch, module, kwargs):
    rng = np.random.default_rng(1)
    n = 700 if module is california_housing else 30
    payload = npz_bytes(x=rng.normal(size=(n, 3)), y=rng.normal(size=(n,)))
    monkeypatch.setattr(module, "FILE_HASH", hashlib.sha256(payload).hexdigest())
    serve(module.ORIGIN, payload)
    ours = module.load_data(**kwargs)
    name = module.__name__.rsplit(".", 1)[1]
    path = str(serve.home / "datasets" / f"{name}.npz")
    assert os.path.exists(path) and serve.requests == [module.ORIGIN]
    theirs = keras_loader(name, monkeypatch, {f"{name}.npz": path}).load_data(**kwargs)
    assert_same_splits(ours, theirs)
    module.load_data(**kwargs)
    assert len(serve.requests) == 1  # cached


def test_keras_pins_the_same_hashes():
    import inspect
    for module in (boston_housing, california_housing, cifar10, cifar100):
        source = inspect.getsource(require_keras(f"keras.src.datasets.{module.__name__.rsplit('.', 1)[1]}"))
        assert module.FILE_HASH in source and module.ORIGIN.rsplit("/", 1)[1] in source


def test_fashion_mnist_matches_keras(serve, monkeypatch):
    rng = np.random.default_rng(2)
    paths = {}
    for name, n in (("train", 5), ("t10k", 3)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        for kind, header, body in (("labels-idx1", 8, labels), ("images-idx3", 16, images)):
            fname = f"{name}-{kind}-ubyte.gz"
            serve(fashion_mnist.KERAS_ORIGIN + fname,
                  gzip.compress(b"\0" * header + body.tobytes()))
            paths[fname] = str(serve.home / "datasets" / "fashion-mnist" / fname)
    ours = fashion_mnist.load_data()
    assert ours[0][0].shape == (5, 28, 28) and ours[1][1].shape == (3,)
    assert_same_splits(ours, keras_loader("fashion_mnist", monkeypatch, paths).load_data())


def cifar_archive(folder, files):
    """A tar.gz holding `folder/name` pickles, as the CIFAR archives do."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            data = pickle.dumps(content)
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def serve_cifar10(serve, monkeypatch, per_batch):
    rng = np.random.default_rng(3)
    batch = lambda n: {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                       b"labels": rng.integers(0, 10, n).tolist()}
    files = {f"data_batch_{i}": batch(per_batch) for i in range(1, 6)}
    files["test_batch"] = batch(7)
    payload = cifar_archive("cifar-10-batches-py", files)
    monkeypatch.setattr(cifar10, "FILE_HASH", hashlib.sha256(payload).hexdigest())
    serve(cifar10.ORIGIN, payload)
    return files


def test_cifar10_small_archive(serve, monkeypatch):
    files = serve_cifar10(serve, monkeypatch, 2)
    (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    data = np.concatenate([files[f"data_batch_{i}"][b"data"] for i in range(1, 6)])
    np.testing.assert_array_equal(x_train, data.reshape(10, 3, 32, 32).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(
        y_train[:, 0], sum((files[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), []))
    assert x_train.dtype == y_train.dtype == np.uint8 and y_test.shape == (7, 1)
    assert x_test.shape == (7, 32, 32, 3)
    cifar10.load_data()  # from the cache: already extracted
    assert len(serve.requests) == 1


@pytest.mark.slow  # Keras's loader wants 5 x 10,000 images: 150 MB of arrays
def test_cifar10_matches_keras(serve, monkeypatch):
    serve_cifar10(serve, monkeypatch, 10000)
    ours = cifar10.load_data()
    assert ours[0][0].shape == (50000, 32, 32, 3) and ours[1][1].shape == (7, 1)
    folder = str(serve.home / "datasets" / cifar10.DIRNAME)
    theirs = keras_loader("cifar10", monkeypatch, {cifar10.DIRNAME: folder}).load_data()
    assert_same_splits(ours, theirs)


@pytest.mark.parametrize("label_mode", ["fine", "coarse"])
def test_cifar100_matches_keras(serve, monkeypatch, label_mode):
    rng = np.random.default_rng(4)
    batch = lambda n: {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                       b"fine_labels": rng.integers(0, 100, n).tolist(),
                       b"coarse_labels": rng.integers(0, 20, n).tolist()}
    payload = cifar_archive("cifar-100-python", {"train": batch(6), "test": batch(4)})
    monkeypatch.setattr(cifar100, "FILE_HASH", hashlib.sha256(payload).hexdigest())
    serve(cifar100.ORIGIN, payload)
    ours = cifar100.load_data(label_mode)
    folder = str(serve.home / "datasets" / cifar100.DIRNAME)
    theirs = keras_loader("cifar100", monkeypatch,
                          {cifar100.DIRNAME: folder}).load_data(label_mode)
    assert_same_splits(ours, theirs)


def test_cifar_pickles_may_hold_only_arrays(tmp_path):
    from kerasx.datasets._cifar import load_batch

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "batch"
    path.write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(pickle.UnpicklingError, match="Refusing to load"):
        load_batch(str(path))


@pytest.mark.parametrize("load", [boston_housing.load_data, california_housing.load_data,
                                  fashion_mnist.load_data, cifar10.load_data, cifar100.load_data])
def test_other_loaders_offline(serve, load):
    with pytest.raises(ConnectionError, match=r"offline.*copy it to .*\.kerasx|offline.*home"):
        load()


def test_loader_argument_errors():
    with pytest.raises(ValueError, match="`test_split` argument: 1"):
        boston_housing.load_data(test_split=1)
    with pytest.raises(ValueError, match="`version` must be one of 'small', 'large'"):
        california_housing.load_data(version="medium")
    with pytest.raises(ValueError, match='`label_mode` must be one of `"fine"`, `"coarse"`'):
        cifar100.load_data("middle")


def ragged(rng, n, vocab=30):
    out = np.empty(n, dtype=object)
    out[:] = [rng.integers(1, vocab, rng.integers(2, 12)).tolist() for _ in range(n)]
    return out


def assert_same_sequences(ours, theirs):
    for a, b in zip(ours[0] + ours[1], theirs[0] + theirs[1]):
        assert len(a) == len(b)
        if a.dtype == object:
            assert [list(s) for s in a] == [list(s) for s in b]
        else:
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs", [
    {}, {"num_words": 20, "skip_top": 3, "seed": 4}, {"maxlen": 9, "oov_char": None},
    {"start_char": None, "index_from": 0},
])
def test_imdb_matches_keras(serve, monkeypatch, kwargs):
    from kerasx.datasets import imdb
    rng = np.random.default_rng(5)
    payload = npz_bytes(x_train=ragged(rng, 12), y_train=rng.integers(0, 2, 12),
                        x_test=ragged(rng, 9), y_test=rng.integers(0, 2, 9))
    monkeypatch.setattr(imdb, "FILE_HASH", hashlib.sha256(payload).hexdigest())
    serve(imdb.ORIGIN, payload)
    ours = imdb.load_data(**kwargs)
    path = str(serve.home / "datasets" / "imdb.npz")
    theirs = keras_loader("imdb", monkeypatch, {"imdb.npz": path}).load_data(**kwargs)
    assert_same_sequences(ours, theirs)
    assert ours[0][0].ndim == 1 and isinstance(ours[0][0][0], list)
    with pytest.raises(ValueError, match="no sequence was kept"):
        imdb.load_data(maxlen=2)


@pytest.mark.parametrize("kwargs", [{}, {"num_words": 15, "test_split": 0.3, "maxlen": 10}])
def test_reuters_matches_keras(serve, monkeypatch, kwargs):
    from kerasx.datasets import reuters
    rng = np.random.default_rng(6)
    payload = npz_bytes(x=ragged(rng, 20), y=rng.integers(0, 46, 20))
    monkeypatch.setattr(reuters, "FILE_HASH", hashlib.sha256(payload).hexdigest())
    serve(reuters.ORIGIN, payload)
    ours = reuters.load_data(**kwargs)
    path = str(serve.home / "datasets" / "reuters.npz")
    keras_reuters = keras_loader("reuters", monkeypatch, {"reuters.npz": path})
    assert_same_sequences(ours, keras_reuters.load_data(**kwargs))
    assert reuters.get_label_names() == keras_reuters.get_label_names()


def test_word_indices_and_offline(serve, monkeypatch):
    import json
    from kerasx.datasets import imdb, reuters
    payload = json.dumps({"the": 1, "movie": 2}).encode()
    for module in (imdb, reuters):
        monkeypatch.setattr(module, "WORD_INDEX_HASH", hashlib.md5(payload).hexdigest())
        serve(module.WORD_INDEX_ORIGIN, payload)
        assert module.get_word_index() == {"the": 1, "movie": 2}
    source = __import__("inspect").getsource(require_keras("keras.src.datasets.imdb"))
    assert imdb.FILE_HASH in source and "imdb_word_index.json" in source
    with pytest.raises(ConnectionError, match="offline"):
        imdb.load_data()
    with pytest.raises(ConnectionError, match="offline"):
        reuters.load_data()


def test_object_arrays_are_unpickled_safely(tmp_path):
    from kerasx.datasets._common import load_npz

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    bad = np.empty(1, dtype=object)
    bad[0] = Evil()
    np.savez(tmp_path / "bad.npz", x=bad, y=np.arange(3))
    with pytest.raises(pickle.UnpicklingError, match="Refusing to load posix.system"):
        load_npz(str(tmp_path / "bad.npz"))
