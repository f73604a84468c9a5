"""Turning user data (arrays, lists/dicts of arrays, iterables of batches) into padded batches.

Every batch is a tuple `(x, y, sample_weight, mask, count)`: the final partial batch of an array
dataset is padded to the full batch size with samples whose mask and weight are zero, and `count`
holds the number of real samples, so the jitted steps see one shape per fit (one trace) while losses and metrics
count real samples only.
"""

import math
from typing import Iterator, Optional

import jax
import numpy as np


def _arrays(tree):
    return jax.tree.leaves(tree)


def to_numpy_tree(tree):
    """Converts array-likes in a pytree (lists of arrays stay lists) to NumPy/JAX arrays."""
    if tree is None:
        return None
    def one(a):
        if isinstance(a, jax.Array):
            return a
        return np.asarray(a)
    if isinstance(tree, (list, tuple)) and tree and all(np.isscalar(v) for v in tree):
        return np.asarray(tree)
    return jax.tree.map(one, tree)


def num_samples(x, y=None, sample_weight=None) -> int:
    """The common length of every array in x, y and sample_weight; a clear error if they differ."""
    sizes = {}
    for what, tree in (("x", x), ("y", y), ("sample_weight", sample_weight)):
        for i, a in enumerate(_arrays(tree)):
            if np.ndim(a) == 0:
                raise ValueError(f"Expected `{what}` to hold arrays with a batch axis; received a scalar.")
            sizes.setdefault(what, []).append(int(np.shape(a)[0]))
    all_sizes = {s for v in sizes.values() for s in v}
    if len(all_sizes) > 1:
        detail = ", ".join(f"{k}: {v}" for k, v in sizes.items())
        raise ValueError(
            "Data cardinality is ambiguous: x, y and sample_weight must all have the same number "
            f"of samples. Received sizes {detail}."
        )
    if not all_sizes:
        raise ValueError("Expected some data in `x`; received none.")
    return all_sizes.pop()


def take(tree, idx):
    return jax.tree.map(lambda a: a[idx], tree)


def split_validation(x, y, sample_weight, validation_split: float):
    """Keras's `validation_split`: the last fraction of the samples (before shuffling)."""
    if not 0.0 < validation_split < 1.0:
        raise ValueError(f"Expected `validation_split` in (0, 1). Received: {validation_split}")
    n = num_samples(x, y, sample_weight)
    n_train = int(math.floor(n * (1.0 - validation_split)))
    if n_train == 0 or n_train == n:
        raise ValueError(
            f"`validation_split={validation_split}` leaves no samples for training or validation "
            f"(dataset of {n} samples)."
        )
    first = lambda t: None if t is None else jax.tree.map(lambda a: a[:n_train], t)
    last = lambda t: None if t is None else jax.tree.map(lambda a: a[n_train:], t)
    return (first(x), first(y), first(sample_weight)), (last(x), last(y), last(sample_weight))


class ArrayBatches:
    """Fixed-size padded batches over in-memory arrays.

    Args:
        x, y, sample_weight: pytrees of arrays with a common leading axis (y, sample_weight may
            be None).
        batch_size: samples per batch; the last batch is padded to it.
        shuffle: whether each epoch visits the samples in a new random order.
        pad: whether to pad the last batch (False for training a model whose layers compute
            batch statistics, which padding would skew; that batch is then traced separately).
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size: int = 32, shuffle: bool = False,
                 pad: bool = True):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.n = num_samples(x, y, sample_weight)
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(f"Expected `batch_size` to be a positive integer. Received: {batch_size!r}")
        self.batch_size = min(batch_size, self.n)
        self.shuffle = shuffle
        self.pad = pad
        self.steps = math.ceil(self.n / self.batch_size)

    def epoch(self, rng: Optional[np.random.Generator] = None) -> Iterator[tuple]:
        order = rng.permutation(self.n) if (self.shuffle and rng is not None) else np.arange(self.n)
        bs = self.batch_size
        for step in range(self.steps):
            idx = order[step * bs:(step + 1) * bs]
            count = len(idx)
            mask = np.ones((bs if self.pad else count,), np.float32)
            if count < len(mask):
                mask[count:] = 0.0
                idx = np.concatenate([idx, np.zeros(bs - count, idx.dtype)])
            weight = mask if self.sample_weight is None else mask * self.sample_weight[idx]
            yield (take(self.x, idx), None if self.y is None else take(self.y, idx), weight, mask, count)


class IterableBatches:
    """Batches from a Python iterable of `(x, y)` or `(x, y, sample_weight)` tuples.

    The iterable is re-iterated every epoch when it can be (a list, or any object whose
    `__iter__` starts afresh); a one-shot generator serves a single epoch.
    """

    def __init__(self, data):
        self.data = data
        self.steps = len(data) if hasattr(data, "__len__") else None

    def epoch(self, rng=None) -> Iterator[tuple]:
        for i, item in enumerate(self.data):
            if not isinstance(item, (tuple, list)) or len(item) not in (1, 2, 3):
                raise ValueError(
                    "Expected each element of the dataset to be a tuple (x, y) or "
                    f"(x, y, sample_weight). Element {i} is {type(item).__name__}"
                    + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
                )
            x = to_numpy_tree(item[0])
            y = to_numpy_tree(item[1]) if len(item) > 1 else None
            sw = np.asarray(item[2], np.float32) if len(item) > 2 else None
            n = num_samples(x, y, sw)
            mask = np.ones((n,), np.float32)
            yield (x, y, mask if sw is None else sw, mask, n)


def is_iterable_dataset(x) -> bool:
    """True for Python iterables of batches (not arrays, lists/dicts of arrays)."""
    if x is None or isinstance(x, (np.ndarray, jax.Array, dict)):
        return False
    if isinstance(x, (list, tuple)):
        return bool(x) and isinstance(x[0], (tuple, list)) and len(x[0]) in (2, 3) and \
            all(hasattr(v, "shape") or isinstance(v, (list, dict)) for v in x[0])
    return hasattr(x, "__iter__") or hasattr(x, "__next__")


def make_batches(x, y=None, sample_weight=None, batch_size=None, shuffle=False, pad=True):
    """Picks the adapter for `x`: in-memory arrays or an iterable of batches."""
    if is_iterable_dataset(x):
        if y is not None:
            raise ValueError(
                "When `x` is an iterable of (x, y) batches, `y` must not be given separately."
            )
        return IterableBatches(x)
    x = to_numpy_tree(x)
    y = to_numpy_tree(y)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, np.float32)
    return ArrayBatches(x, y, sample_weight, batch_size or 32, shuffle, pad)
