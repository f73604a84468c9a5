"""Fashion-MNIST: 70,000 28x28 grayscale images of 10 kinds of clothing (as
`keras.datasets.fashion_mnist`).

License: Copyright (c) 2017 Zalando SE, MIT License.
"""

import gzip
import os

import numpy as np

from ._common import KERAS_ORIGIN
from ._get_file import get_file

__all__ = ["load_data"]

FILES = ["train-labels-idx1-ubyte.gz", "train-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"]
# Keras pins no hashes for these files; set one per name here to have them checked.
FILE_HASHES = {name: None for name in FILES}


def _read_idx(path, offset):
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def load_data():
    """Loads the Fashion-MNIST dataset (downloads four files on first use).

    The files are cached in `$KERASX_HOME/datasets/fashion-mnist/` (default
    `~/.kerasx/datasets/fashion-mnist/`).

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 NumPy arrays of shapes
        `(60000, 28, 28)`, `(60000,)`, `(10000, 28, 28)`, `(10000,)`; labels in `[0, 9]`.

    Raises:
        ConnectionError: when a file is not cached and cannot be downloaded (offline).
    """
    dirname = os.path.join("datasets", "fashion-mnist")
    paths = [get_file(name, origin=KERAS_ORIGIN + name, cache_subdir=dirname,
                      file_hash=FILE_HASHES[name]) for name in FILES]
    y_train = _read_idx(paths[0], 8)
    x_train = _read_idx(paths[1], 16).reshape(len(y_train), 28, 28)
    y_test = _read_idx(paths[2], 8)
    x_test = _read_idx(paths[3], 16).reshape(len(y_test), 28, 28)
    return (x_train, y_train), (x_test, y_test)
