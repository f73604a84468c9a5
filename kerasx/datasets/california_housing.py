"""The California housing price regression dataset (as `keras.datasets.california_housing`).

License: from the StatLib repository (Pace and Barry, 1997), as distributed by Keras.
"""

import numpy as np

from ._common import KERAS_ORIGIN, check_test_split, shuffled_split
from ._get_file import get_file

__all__ = ["load_data"]

ORIGIN = KERAS_ORIGIN + "california_housing.npz"
FILE_HASH = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"


def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113):
    """Loads the California housing dataset (20,640 samples, 8 features).

    The file is cached in `$KERASX_HOME/datasets/` (default `~/.kerasx/datasets/`) and
    checked against Keras's SHA-256.

    Args:
        version: `"large"` (all 20,640 samples) or `"small"` (the first 600).
        path: File name of the cache file (in the cache folder).
        test_split: Fraction of the data kept for the test set, in `[0, 1)`.
        seed: Seed of the shuffle before the split.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: NumPy arrays; `x` of shape `(n, 8)`, `y` the
        median house values of shape `(n,)`.

    Raises:
        ConnectionError: when the file is not cached and cannot be downloaded (offline).
        ValueError: for a bad `version` or `test_split`, or a file that fails the checksum.
    """
    if version not in ("small", "large"):
        raise ValueError(f"Argument `version` must be one of 'small', 'large'. Received: "
                         f"version={version}")
    check_test_split(test_split)
    path = get_file(path, origin=ORIGIN, file_hash=FILE_HASH)
    with np.load(path, allow_pickle=False) as f:
        x, y = f["x"], f["y"]
    if version == "small":
        x, y = x[:600], y[:600]
    return shuffled_split(x, y, test_split, seed)
