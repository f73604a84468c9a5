"""MNIST handwritten digits: the full dataset (downloaded) and a bundled sample.

`load_data()` fetches the same `mnist.npz` as `keras.datasets.mnist.load_data()`
(60,000 training and 10,000 test images) into a cache directory and checks its
SHA-256. `load_sample()` needs no network: it returns a real 5,000-image
subset shipped with kerasx (4,000 training and 1,000 test images).
"""

import hashlib
import os
import tempfile
import urllib.error
import urllib.request

import numpy as np

__all__ = ["load_data", "load_sample"]

ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
# The hash Keras pins in `keras/src/datasets/mnist.py`.
FILE_HASH = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
_SAMPLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "mnist_5k.npz")
_CHUNK = 1 << 16


def _cache_dir():
    """`$KERASX_HOME/datasets`, or `~/.kerasx/datasets` (as Keras uses `~/.keras`)."""
    home = os.environ.get("KERASX_HOME") or os.path.join(os.path.expanduser("~"), ".kerasx")
    return os.path.join(os.path.expanduser(home), "datasets")


def _sha256(path, algorithm="sha256"):
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _download(url, dest, file_hash, timeout=60, algorithm="sha256", hint=None):
    """Downloads `url` to `dest` via a temporary file, checking its SHA-256.

    Other datasets and `kerasx.utils.get_file` use it too: `algorithm` names another
    `hashlib` digest ("md5"), `file_hash=None` skips the check, and `hint` replaces the
    offline advice (which names MNIST's `load_sample()` by default).

    Raises:
        ConnectionError: when the file cannot be fetched (no network, DNS or
            HTTP failure); it names `load_sample()` as the offline fallback.
        ValueError: when the downloaded file's SHA-256 is not `file_hash`;
            the partial file is deleted.
    """
    if hint is None:
        hint = ("Use `kerasx.datasets.mnist.load_sample()` for the bundled 5,000-image MNIST "
                f"sample, or copy `mnist.npz` to {dest} by hand.")
    directory = os.path.dirname(dest)
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=directory)
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as e:
            raise ConnectionError(
                f"Could not download {url} ({e}). This machine appears to be "
                f"offline, or the URL is unreachable. {hint}"
            ) from e
        received = None if file_hash is None else _sha256(tmp_path, algorithm)
        if received != file_hash:
            name = "SHA-256" if algorithm == "sha256" else algorithm.upper()
            raise ValueError(
                f"The file downloaded from {url} is corrupted or incomplete: "
                f"expected {name} {file_hash}, received {received}. "
                "It was deleted; call `load_data()` again to retry."
            )
        os.replace(tmp_path, dest)
    finally:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)


def _load_npz(path):
    with np.load(path, allow_pickle=False) as f:
        return (f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])


def load_data(path="mnist.npz"):
    """Loads the full MNIST dataset, downloading it on first use.

    The file comes from the URL Keras uses and is cached in
    `$KERASX_HOME/datasets/` (default `~/.kerasx/datasets/`). A cached file
    whose SHA-256 does not match is downloaded again.

    Args:
        path: File name of the cache file, relative to the cache directory
            (an absolute path is used as is).

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 NumPy arrays of shapes
        `(60000, 28, 28)`, `(60000,)`, `(10000, 28, 28)`, `(10000,)`; pixels in
        `[0, 255]`, labels in `[0, 9]`.

    Raises:
        ConnectionError: when the file is not cached and cannot be downloaded
            (for example, offline); use `load_sample()` instead.
        ValueError: when the downloaded file fails the checksum.

    Example:

    ```python
    (x_train, y_train), (x_test, y_test) = kerasx.datasets.mnist.load_data()
    ```

    License: Yann LeCun and Corinna Cortes hold the copyright of MNIST, a
    derivative of NIST, available under CC BY-SA 3.0.
    """
    dest = os.path.join(_cache_dir(), os.fspath(path))
    if not (os.path.exists(dest) and _sha256(dest) == FILE_HASH):
        _download(ORIGIN, dest, FILE_HASH)
    return _load_npz(dest)


def load_sample():
    """Loads the bundled 5,000-image MNIST sample (no network needed).

    A real subset of MNIST, shipped in `kerasx/datasets/data/mnist_5k.npz`.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 NumPy arrays of shapes
        `(4000, 28, 28)`, `(4000,)`, `(1000, 28, 28)`, `(1000,)`.
    """
    return _load_npz(_SAMPLE_PATH)
