"""Reuters newswire topic classification (as `keras.datasets.reuters`): 11,228 newswires as
lists of word indices, labelled with one of 46 topics.

License: the Reuters-21578 collection, distributed by Keras.
"""

import json

import numpy as np

from ._common import (KERAS_ORIGIN, check_test_split, limit_words, load_npz, object_array,
                      word_sequences)
from ._get_file import get_file

__all__ = ["get_label_names", "get_word_index", "load_data"]

ORIGIN = KERAS_ORIGIN + "reuters.npz"
FILE_HASH = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_ORIGIN = KERAS_ORIGIN + "reuters_word_index.json"
WORD_INDEX_HASH = "4d44cc38712099c9e383dc6e5f11a921"  # MD5, as Keras pins it
LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas",
    "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin",
    "strategic-metal", "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs",
    "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead")


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2,
              seed=113, start_char=1, oov_char=2, index_from=3):
    """Loads the Reuters newswire dataset (downloaded and cached on first use).

    Args:
        path: File name of the cache file (in `$KERASX_HOME/datasets/`).
        num_words: Keep only the `num_words` most frequent words (others become `oov_char`).
        skip_top: Skip the `skip_top` most frequent words (they become `oov_char`).
        maxlen: Drop the newswires of `maxlen` words or more.
        test_split: Fraction of the data kept for the test set.
        seed: Seed of the shuffle before the split.
        start_char: Index marking the start of a sequence (`None`: no marker).
        oov_char: Index of the words cut by `num_words`/`skip_top` (`None`: drop them).
        index_from: Offset added to every word index.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: `x` 1-D object arrays of lists of ints, `y`
        arrays of topic indices in `[0, 45]`.

    Raises:
        ConnectionError: when the file is not cached and cannot be downloaded (offline).
    """
    check_test_split(test_split)
    path = get_file(fname=path, origin=ORIGIN, file_hash=FILE_HASH)
    f = load_npz(path)
    xs, labels = f["x"], f["y"]
    indices = np.arange(len(xs))
    np.random.RandomState(seed).shuffle(indices)
    xs, labels = word_sequences(xs[indices], labels[indices], maxlen, start_char, index_from)
    xs = limit_words(xs, num_words, skip_top, oov_char)
    labels = np.asarray(labels, f["y"].dtype)
    idx = int(len(xs) * (1 - test_split))
    return (object_array(xs[:idx]), labels[:idx]), (object_array(xs[idx:]), labels[idx:])


def get_word_index(path="reuters_word_index.json"):
    """The dict `{word: index}` of the Reuters dataset (before the `index_from` shift)."""
    path = get_file(path, origin=WORD_INDEX_ORIGIN, file_hash=WORD_INDEX_HASH)
    with open(path) as f:
        return json.load(f)


def get_label_names():
    """The 46 topic names, indexed by label."""
    return LABEL_NAMES
