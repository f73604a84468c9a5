"""CIFAR-100: 60,000 32x32 color images in 100 fine / 20 coarse classes (as
`keras.datasets.cifar100`).

License: Alex Krizhevsky, "Learning Multiple Layers of Features from Tiny Images", 2009.
"""

import os

import numpy as np

from ._cifar import load_batch
from ._get_file import get_file

__all__ = ["load_data"]

ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
FILE_HASH = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"
DIRNAME = "cifar-100-python-target"


def load_data(label_mode="fine"):
    """Loads the CIFAR-100 dataset (downloads and extracts a 161 MB archive on first use).

    Args:
        label_mode: `"fine"` (100 classes) or `"coarse"` (20 superclasses).

    Returns:
        `(x_train, y_train), (x_test, y_test)`: uint8 images of shapes `(50000, 32, 32, 3)`
        and `(10000, 32, 32, 3)` (channels last), int64 labels of shapes `(50000, 1)` and
        `(10000, 1)`.

    Raises:
        ValueError: for a bad `label_mode`, or an archive that fails the checksum.
        ConnectionError: when the archive is not cached and cannot be downloaded (offline).
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError('`label_mode` must be one of `"fine"`, `"coarse"`. '
                         f"Received: label_mode={label_mode}.")
    path = get_file(fname=DIRNAME, origin=ORIGIN, extract=True, file_hash=FILE_HASH)
    path = os.path.join(path, "cifar-100-python")
    key = f"{label_mode}_labels"
    x_train, y_train = load_batch(os.path.join(path, "train"), label_key=key)
    x_test, y_test = load_batch(os.path.join(path, "test"), label_key=key)
    y_train = np.reshape(y_train, (len(y_train), 1))
    y_test = np.reshape(y_test, (len(y_test), 1))
    return (x_train.transpose(0, 2, 3, 1), y_train), (x_test.transpose(0, 2, 3, 1), y_test)
