"""Shared pieces of the `kerasx.datasets` loaders: the Keras download folder, shuffled
train/test splits, safe unpickling of object arrays, and the word-index sequences of the
IMDB and Reuters datasets."""

import io
import pickle
import zipfile

import numpy as np

# Where Keras downloads its small datasets from (the hashes are the ones Keras pins).
KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def check_test_split(test_split):
    if not 0 <= test_split < 1:
        raise ValueError(f"Invalid `test_split` argument: {test_split}. It must be between 0 "
                         "and 1 (exclusive of 1).")


def shuffled_split(x, y, test_split, seed):
    """Keras's split: shuffle with `np.random.RandomState(seed)`, the first
    `int(n * (1 - test_split))` samples for training, the rest for testing."""
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))


# The only globals the pickles inside Keras's dataset files need: NumPy's array reconstruction.
_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
            ("numpy._core.multiarray", "scalar")}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays, lists, dicts and numbers, and nothing that runs code."""

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"Refusing to load {module}.{name} from a dataset file: "
                                     "only NumPy arrays, lists and dicts are expected. The file "
                                     "may be corrupted or malicious.")


def load_npz(path):
    """The arrays of an `.npz` file; object arrays (ragged lists) are unpickled with
    `RestrictedUnpickler`, never with `allow_pickle=True`."""
    arrays = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            with archive.open(member) as raw:
                buffer = io.BytesIO(raw.read())
            try:
                arrays[member[:-4]] = np.lib.format.read_array(buffer, allow_pickle=False)
            except ValueError:  # an object array: its data is a pickle after the header
                buffer.seek(0)
                major, _ = np.lib.format.read_magic(buffer)
                if major == 1:
                    np.lib.format.read_array_header_1_0(buffer)
                else:
                    np.lib.format.read_array_header_2_0(buffer)
                arrays[member[:-4]] = RestrictedUnpickler(buffer).load()
    return arrays


def word_sequences(xs, labels, maxlen, start_char, index_from):
    """Keras's IMDB/Reuters preprocessing of word-index lists: shift by `index_from`, prefix
    `start_char`, and drop the sequences of `maxlen` words or more (`limit_words` then
    bounds the vocabulary)."""
    if start_char is not None:
        xs = [[start_char] + [w + index_from for w in x] for x in xs]
    else:
        xs = [[w + index_from for w in x] for x in xs]
    labels = list(labels)
    if maxlen:
        kept = [(x, y) for x, y in zip(xs, labels) if len(x) < maxlen]
        xs, labels = [x for x, _ in kept], [y for _, y in kept]
    return xs, labels


def limit_words(xs, num_words, skip_top, oov_char):
    """Replaces (or drops, with `oov_char=None`) the words outside `[skip_top, num_words)`;
    `num_words=None` keeps every word."""
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def object_array(lists):
    """A 1-D object array of lists (Keras's `np.array(lists, dtype="object")` becomes 2-D when
    all lists have one length; this never does)."""
    out = np.empty(len(lists), dtype=object)
    out[:] = lists
    return out
