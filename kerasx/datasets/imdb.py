"""IMDB movie review sentiment classification (as `keras.datasets.imdb`): 25,000 training
and 25,000 test reviews as lists of word indices, labelled positive (1) or negative (0).

License: Andrew Maas et al., "Learning Word Vectors for Sentiment Analysis", ACL 2011.
"""

import json

import numpy as np

from ._common import KERAS_ORIGIN, limit_words, load_npz, object_array, word_sequences
from ._get_file import get_file

__all__ = ["get_word_index", "load_data"]

ORIGIN = KERAS_ORIGIN + "imdb.npz"
FILE_HASH = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_ORIGIN = KERAS_ORIGIN + "imdb_word_index.json"
WORD_INDEX_HASH = "bfafd718b763782e994055a2d397834f"  # MD5, as Keras pins it


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113,
              start_char=1, oov_char=2, index_from=3, **kwargs):
    """Loads the IMDB dataset (downloaded and cached on first use).

    Words are indexed by overall frequency (index 1 the most frequent word, before the
    `index_from` shift); the training and test sets are each shuffled by `seed`.

    Args:
        path: File name of the cache file (in `$KERASX_HOME/datasets/`).
        num_words: Keep only the `num_words` most frequent words (others become `oov_char`).
        skip_top: Skip the `skip_top` most frequent words (they become `oov_char`).
        maxlen: Drop the reviews of `maxlen` words or more.
        seed: Seed of the shuffles.
        start_char: Index marking the start of a review (`None`: no marker).
        oov_char: Index of the words cut by `num_words`/`skip_top` (`None`: drop them).
        index_from: Offset added to every word index.
        **kwargs: Accepted for compatibility and ignored.

    Returns:
        `(x_train, y_train), (x_test, y_test)`: `x` 1-D object arrays of lists of ints,
        `y` arrays of 0/1 labels.

    Raises:
        ConnectionError: when the file is not cached and cannot be downloaded (offline).
        ValueError: when `maxlen` leaves no review, or the file fails the checksum.
    """
    path = get_file(fname=path, origin=ORIGIN, file_hash=FILE_HASH)
    f = load_npz(path)
    rng = np.random.RandomState(seed)
    parts = []
    for x, y in ((f["x_train"], f["y_train"]), (f["x_test"], f["y_test"])):
        indices = np.arange(len(x))
        rng.shuffle(indices)
        parts.append((x[indices], y[indices]))
    (x_train, labels_train), (x_test, labels_test) = [
        word_sequences(x, y, maxlen, start_char, index_from) for x, y in parts]
    if maxlen and (not x_train or not x_test):
        raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, no "
                         "sequence was kept. Increase maxlen.")
    xs = limit_words(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([np.asarray(labels_train, parts[0][1].dtype),
                             np.asarray(labels_test, parts[1][1].dtype)])
    idx = len(x_train)
    return (object_array(xs[:idx]), labels[:idx]), (object_array(xs[idx:]), labels[idx:])


def get_word_index(path="imdb_word_index.json"):
    """The dict `{word: index}` of the IMDB dataset (before the `index_from` shift)."""
    path = get_file(fname=path, origin=WORD_INDEX_ORIGIN, file_hash=WORD_INDEX_HASH)
    with open(path) as f:
        return json.load(f)
