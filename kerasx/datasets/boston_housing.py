"""The Boston housing price regression dataset (downloaded, as `keras.datasets.boston_housing`).

License: the dataset comes from the StatLib library of Carnegie Mellon University; note its
ethical problems (see the Keras documentation) before using it.
"""

import numpy as np

from ._common import KERAS_ORIGIN, check_test_split, shuffled_split
from ._get_file import get_file

__all__ = ["load_data"]

ORIGIN = KERAS_ORIGIN + "boston_housing.npz"
FILE_HASH = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path="boston_housing.npz", test_split=0.2, seed=113):
    """Loads the Boston housing dataset (506 samples, 13 features).

    The file is cached in `$KERASX_HOME/datasets/` (default `~/.kerasx/datasets/`) and
    checked against Keras's SHA-256.

    Args:
        path: File name of the cache file (in the cache folder).
        test_split: Fraction of the data kept for the test set, in `[0, 1)`.
        seed: Seed of the shuffle before the split.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: float64 NumPy arrays; `x` of shape
        `(n, 13)`, `y` the median prices in k$ of shape `(n,)`.

    Raises:
        ConnectionError: when the file is not cached and cannot be downloaded (offline).
        ValueError: for a bad `test_split` or a file that fails the checksum.
    """
    check_test_split(test_split)
    path = get_file(path, origin=ORIGIN, file_hash=FILE_HASH)
    with np.load(path, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    return shuffled_split(x, y, test_split, seed)
