"""CIFAR-10: 60,000 32x32 color images in 10 classes (as `keras.datasets.cifar10`).

License: Alex Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009.
"""

import os

import numpy as np

from ._cifar import load_batch
from ._get_file import get_file

__all__ = ["load_data"]

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
FILE_HASH = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
DIRNAME = "cifar-10-batches-py-target"


def load_data():
    """Loads the CIFAR-10 dataset (downloads and extracts a 163 MB archive on first use).

    The archive is cached and extracted in `$KERASX_HOME/datasets/` (default
    `~/.kerasx/datasets/`) and checked against Keras's SHA-256.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 NumPy arrays of shapes
        `(50000, 32, 32, 3)`, `(50000, 1)`, `(10000, 32, 32, 3)`, `(10000, 1)` (channels
        last); labels in `[0, 9]`.

    Raises:
        ConnectionError: when the archive is not cached and cannot be downloaded (offline).
        ValueError: when the archive fails the checksum.
    """
    path = get_file(fname=DIRNAME, origin=ORIGIN, extract=True, file_hash=FILE_HASH)
    path = os.path.join(path, "cifar-10-batches-py")
    parts = [load_batch(os.path.join(path, f"data_batch_{i}")) for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([np.asarray(p[1], np.uint8) for p in parts])
    x_test, y_test = load_batch(os.path.join(path, "test_batch"))
    y_train = y_train.reshape(len(y_train), 1)
    y_test = np.asarray(y_test, np.uint8).reshape(len(y_test), 1)
    return (x_train.transpose(0, 2, 3, 1), y_train), (x_test.transpose(0, 2, 3, 1), y_test)
