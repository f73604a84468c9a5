"""Array utilities of `keras.utils`: normalize, pad_sequences, split_dataset and
timeseries_dataset_from_array (NumPy on the host)."""

import math
import random

import jax
import numpy as np

from ..training.py_dataset import PyDataset

__all__ = ["normalize", "pad_sequences", "split_dataset", "timeseries_dataset_from_array",
           "TimeseriesDataset"]


def normalize(x, axis=-1, order=2):
    """Normalizes an array to unit `order`-norm along `axis`.

    A NumPy array gives a NumPy array (rows of norm 0 are left as they are); any other
    input (a JAX array) goes through `kerasx.ops.normalize`.

    Args:
        x: Array to normalize.
        axis: Axis along which to normalize.
        order: Normalization order (e.g. `order=2` for the L2 norm).

    Returns:
        A normalized copy of the array.
    """
    if isinstance(x, np.ndarray):
        # (Keras's NumPy path expands the last axis for `axis=0`, which fails to broadcast;
        # here the norm is kept along the axis it was taken over.)
        if axis is None:
            norm = np.linalg.norm(x.reshape(-1), order)
            return x / (norm if norm != 0 else 1)
        norm = np.linalg.norm(x, order, axis, keepdims=True)
        norm[norm == 0] = 1
        return x / norm
    from ..ops import normalize as ops_normalize
    return ops_normalize(x, axis=axis, order=order)


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre",
                  value=0.0):
    """Pads (and truncates) sequences to the same length.

    Args:
        sequences: List of sequences (each a list or array; all elements of one trailing
            shape).
        maxlen: Maximum length of all sequences; defaults to the longest one.
        dtype: Type of the output sequences (`object` for variable-length strings).
        padding: `"pre"` or `"post"`: pad before or after each sequence.
        truncating: `"pre"` or `"post"`: remove values from sequences longer than `maxlen`
            at the beginning or at the end.
        value: Padding value (a float or a string).

    Returns:
        A NumPy array of shape `(len(sequences), maxlen) + element_shape`.

    Raises:
        ValueError: for a non-iterable element, an unknown `padding`/`truncating`, a string
            `value` with a non-string `dtype`, or elements of different shapes.
    """
    if not hasattr(sequences, "__len__"):
        raise ValueError("`sequences` must be iterable.")
    if padding not in ("pre", "post"):
        raise ValueError(f'Padding type "{padding}" not understood. Expected "pre" or "post".')
    if truncating not in ("pre", "post"):
        raise ValueError(f'Truncating type "{truncating}" not understood. Expected "pre" or '
                         '"post".')
    lengths, sample_shape = [], None
    for s in sequences:
        try:
            lengths.append(len(s))
        except TypeError as e:
            raise ValueError("`sequences` must be a list of iterables. "
                             f"Found non-iterable: {s!s}") from e
        if sample_shape is None and len(s):
            sample_shape = np.asarray(s).shape[1:]
    sample_shape = sample_shape or ()
    if maxlen is None:
        maxlen = int(np.max(lengths)) if lengths else 0
    is_str = np.issubdtype(dtype, np.str_) or np.issubdtype(dtype, np.bytes_)
    if isinstance(value, str) and dtype is not object and not is_str:
        raise ValueError(f"`dtype` {dtype} is not compatible with `value`'s type: {type(value)}"
                         "\nYou should set `dtype=object` for variable length strings.")
    out = np.full((len(sequences), maxlen) + tuple(sample_shape), value, dtype=dtype)
    for idx, s in enumerate(sequences):
        if not len(s) or maxlen == 0:
            continue
        kept = np.asarray(s[-maxlen:] if truncating == "pre" else s[:maxlen], dtype=dtype)
        if kept.shape[1:] != tuple(sample_shape):
            raise ValueError(f"Shape of sample {kept.shape[1:]} of sequence at position {idx} "
                             f"is different from expected shape {tuple(sample_shape)}")
        if padding == "post":
            out[idx, :len(kept)] = kept
        else:
            out[idx, -len(kept):] = kept
    return out


def _split_sizes(left_size, right_size, total):
    """Keras's rules for `split_dataset` sizes: ints are counts, floats fractions."""
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if size is not None and type(size) not in (int, float):
            raise TypeError(f"Invalid `{name}` Type. Expected: int or float or None, "
                            f"Received: type({name})={type(size)}.")
    if left_size is None and right_size is None:
        raise ValueError("At least one of the `left_size` or `right_size` must be specified. "
                         "Received: left_size=None and right_size=None")
    if left_size == 0 and right_size == 0:
        raise ValueError("Both `left_size` and `right_size` are zero. At least one of the "
                         "split sizes must be non-zero.")
    for name, size in (("left_size", left_size), ("right_size", right_size)):
        if (type(size) is int and not 0 < size < total) or \
                (type(size) is float and not 0 < size < 1):
            raise ValueError(f"`{name}` should be either a positive integer smaller than "
                             f"{total}, or a float within the range `[0, 1]`. Received: "
                             f"{name}={size}")
    if type(left_size) is float and type(right_size) is float and left_size + right_size > 1:
        raise ValueError("The sum of `left_size` and `right_size` is greater than 1. It must "
                         "be less than or equal to 1.")
    as_count = lambda s: None if s is None else (round(s * total) if type(s) is float else s)
    left, right = as_count(left_size), as_count(right_size)
    left = total - right if left is None else left
    right = total - left if right is None else right
    if left + right > total:
        raise ValueError(f"The sum of `left_size` and `right_size` should be smaller than the "
                         f"{total}. Received: left_size + right_size = {left + right} and "
                         f"total_length = {total}")
    for split, side in ((left, "left"), (right, "right")):
        if split == 0:
            raise ValueError(f"With `dataset` of length={total}, `left_size`={left} and "
                             f"`right_size`={right}. Resulting {side} side dataset split will "
                             "be empty. Adjust any of the aforementioned parameters")
    return int(left), int(right)


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Splits an array, or a tuple/list of arrays, into a left and a right part.

    Sizes follow Keras: an int is a number of samples, a float in `(0, 1)` a fraction of
    them (rounded); a missing size is the complement of the other. With `shuffle`, the
    samples are reordered first, in the order `random.Random(seed).shuffle` gives (the
    order Keras's `random.seed(seed); random.shuffle(...)` gives, without touching Python's
    global random state).

    Args:
        dataset: A NumPy array (or array-like), or a tuple or list of arrays with one common
            first dimension (e.g. `(x, y)`).
        left_size: Size of the left part (int count or float fraction).
        right_size: Size of the right part (int count or float fraction).
        shuffle: Whether to shuffle the samples before splitting.
        seed: Random seed for the shuffle (a random one if `None`).

    Returns:
        `(left, right)`, each of the same structure as `dataset` (an array, or a tuple/list
        of arrays). Unlike Keras, which returns `tf.data.Dataset`s, these are arrays, which
        `fit` accepts directly (`model.fit(*left)`).
    """
    if isinstance(dataset, (tuple, list)) and dataset and all(
            hasattr(a, "shape") or isinstance(a, (list, tuple)) for a in dataset) and \
            not all(np.isscalar(a) for a in dataset):
        arrays = [np.asarray(a) for a in dataset]
        container = type(dataset)
    elif isinstance(dataset, (np.ndarray, jax.Array, list, tuple)):
        arrays, container = [np.asarray(dataset)], None
    else:
        raise TypeError("The `dataset` argument must be either a NumPy array or a list/tuple "
                        f"of arrays. Received: dataset={dataset!r:.100} of type {type(dataset)}")
    lengths = {len(a) if a.ndim else -1 for a in arrays}
    if len(lengths) != 1 or -1 in lengths:
        raise ValueError("The arrays of `dataset` must all have the same first dimension. "
                         f"Received shapes: {[a.shape for a in arrays]}")
    total = lengths.pop()
    left, right = _split_sizes(left_size, right_size, total)
    order = list(range(total))
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(1e6))
        random.Random(seed).shuffle(order)
    order = np.asarray(order, dtype=np.int64)
    left_idx, right_idx = order[:left], order[total - right:]
    parts = [[a[left_idx] for a in arrays], [a[right_idx] for a in arrays]]
    if container is None:
        return parts[0][0], parts[1][0]
    return container(parts[0]), container(parts[1])


class TimeseriesDataset(PyDataset):
    """Batches of sliding windows over a timeseries (`timeseries_dataset_from_array`).

    Iterating it yields `(windows, targets)` batches (or `windows` without targets), and
    `fit`/`evaluate`/`predict` accept it as `x`. `len()` is the number of batches. It stands
    for the tf.data.Dataset Keras returns: `fit(shuffle=True)` keeps its batch order.
    """

    _keeps_batch_order = True

    def __init__(self, data, targets, sequence_length, sequence_stride, sampling_rate,
                 batch_size, shuffle, seed, start_index, end_index):
        super().__init__()
        self.data = data
        self.targets = targets
        self.sequence_length, self.sampling_rate = sequence_length, sampling_rate
        self.start_index = start_index
        num_seqs = end_index - start_index - (sequence_length - 1) * sampling_rate
        if targets is not None:
            num_seqs = min(num_seqs, len(targets))
        positions = np.arange(0, num_seqs, sequence_stride, dtype=np.int64)
        if shuffle:
            if seed is None:
                seed = np.random.randint(1e6)
            np.random.RandomState(seed).shuffle(positions)
        self.start_positions = positions
        self.batch_size = batch_size

    def __len__(self):
        if self.batch_size is None:
            return len(self.start_positions)
        return math.ceil(len(self.start_positions) / self.batch_size)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"Batch index {index} out of range for a dataset of {len(self)} "
                             "batches.")
        if self.batch_size is None:
            starts = self.start_positions[index:index + 1]
        else:
            starts = self.start_positions[index * self.batch_size:(index + 1) * self.batch_size]
        base = self.start_index + starts
        steps = np.arange(self.sequence_length) * self.sampling_rate
        windows = np.asarray(self.data)[base[:, None] + steps[None, :]]
        if self.batch_size is None:
            windows = windows[0]
        if self.targets is None:
            return windows
        targets = np.asarray(self.targets)[base]
        return windows, (targets[0] if self.batch_size is None else targets)


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1,
                                  sampling_rate=1, batch_size=128, shuffle=False, seed=None,
                                  start_index=None, end_index=None):
    """Creates a dataset of sliding windows over a timeseries provided as an array.

    Window `i` holds the timesteps `start + i * sequence_stride + j * sampling_rate` for
    `j < sequence_length` (from `start_index` on, all before `end_index`); its target is
    `targets[start + i * sequence_stride]` (Keras's convention: pass `targets` shifted to pair a
    window with a later value).

    Args:
        data: Array (or list) of timesteps, axis 0 the time axis.
        targets: Targets for the windows (same time axis as `data`), or `None`.
        sequence_length: Number of timesteps in each window.
        sequence_stride: Period between two consecutive windows' first timesteps.
        sampling_rate: Period between two timesteps within a window.
        batch_size: Number of windows per batch (`None`: one unbatched window at a time).
        shuffle: Whether to shuffle the windows (once, in Keras's order for the seed).
        seed: Random seed for shuffling.
        start_index: First timestep of `data` used (inclusive).
        end_index: Timestep of `data` at which the windows stop (exclusive).

    Returns:
        A `TimeseriesDataset` (a `PyDataset`): an iterable of `(windows, targets)` batches
        (or `windows` without targets) that `fit` accepts. Keras returns a
        `tf.data.Dataset` of the same batches.
    """
    def check_int(name, v, low):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"`{name}` must be {'a positive' if low else 'a non-negative'} "
                             f"integer. Received: {name}={v!r}")
    check_int("sequence_length", sequence_length, 1)
    check_int("sequence_stride", sequence_stride, 1)
    check_int("sampling_rate", sampling_rate, 1)
    if batch_size is not None:
        check_int("batch_size", batch_size, 1)
    n = len(data)
    if start_index is not None:
        check_int("start_index", start_index, 0)
        if start_index >= n:
            raise ValueError(f"`start_index` must be lower than the length of the data. "
                             f"Received: start_index={start_index}, for data of length {n}")
    if end_index is not None:
        check_int("end_index", end_index, 0)
        if start_index is not None and end_index <= start_index:
            raise ValueError(f"`end_index` must be higher than `start_index`. Received: "
                             f"start_index={start_index}, and end_index={end_index}")
        if end_index > n:
            raise ValueError(f"`end_index` must be lower or equal to the length of the data. "
                             f"Received: end_index={end_index}, for data of length {n}")
    start_index = 0 if start_index is None else int(start_index)
    end_index = n if end_index is None else int(end_index)
    return TimeseriesDataset(data, targets, int(sequence_length), int(sequence_stride),
                             int(sampling_rate), batch_size, shuffle, seed, start_index,
                             end_index)
