"""Turning user data (arrays, lists/dicts of arrays, iterables of batches) into device work.

Every batch is a tuple `(x, y, sample_weight, mask, count)`: the final partial batch is padded
to the full batch size with rows whose mask and weight are zero, and `count` holds the number of
real samples, so the jitted programs see one shape per fit (one trace) while losses, metrics and
BatchNormalization's statistics count real samples only.

Two feeds hand the trainer *executions* (runs of consecutive batches for one jitted call):
- `DeviceFeed`: arrays that fit the device budget are placed on the device once; each pass over
  them is a permutation, and batches are gathered on the device inside the jitted loop.
- `StreamFeed`: larger arrays (`ArrayBatches`) and Python iterables (`IterableBatches`) are
  batched on the host and sent a chunk of batches at a time, one chunk ahead.
An epoch is one pass, or with `steps_per_epoch` a window of a pass (`epoch_window`).
"""

import collections
import itertools
import math
from typing import Any, Iterator, List, Optional

import jax
import jax.numpy as jnp
import numpy as np

from .._jit import quick_jit


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
    """Fixed-size padded batches over in-memory arrays, sliced on the host (the streaming path).

    Args:
        x, y, sample_weight: pytrees of arrays with a common leading axis (y, sample_weight may
            be None).
        batch_size: samples per batch; the last batch is padded to it.
        shuffle: whether each pass over the data visits the samples in a new random order.
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size: int = 32, shuffle: bool = False):
        self.x, self.y, self.sample_weight = x, y, sample_weight
        self.n = num_samples(x, y, sample_weight)
        self.batch_size = _check_batch_size(batch_size, self.n)
        self.shuffle = shuffle
        self.steps = math.ceil(self.n / self.batch_size)

    def first(self):
        """The first batch's (x, y), unpadded; used to build the model."""
        bs = self.batch_size
        return take(self.x, slice(0, bs)), None if self.y is None else take(self.y, slice(0, bs))

    def epoch(self, rng: Optional[np.random.Generator] = None, first: int = 0) -> Iterator[tuple]:
        """The batches of one pass over the samples, from batch `first` on."""
        order = rng.permutation(self.n) if (self.shuffle and rng is not None) else np.arange(self.n)
        bs = self.batch_size
        for step in range(first, self.steps):
            idx = order[step * bs:(step + 1) * bs]
            count = len(idx)
            mask = np.ones((bs,), np.float32)
            if count < bs:
                mask[count:] = 0.0
                idx = np.concatenate([idx, np.zeros(bs - count, idx.dtype)])
            weight = mask if self.sample_weight is None else mask * self.sample_weight[idx]
            yield (take(self.x, idx), None if self.y is None else take(self.y, idx), weight, mask, count)


class IterableBatches:
    """Batches from a Python iterable of `(x, y)` or `(x, y, sample_weight)` tuples.

    The iterable is re-iterated every epoch when it can be (a list, or any object whose
    `__iter__` starts afresh); a one-shot generator continues where the last epoch stopped, as
    in Keras. Batches are padded to the size of the largest batch seen so far.
    """

    def __init__(self, data):
        self.data = data
        self.steps = len(data) if hasattr(data, "__len__") else None
        self._one_shot = iter(data) is data
        self._pending = []  # items read ahead from a one-shot iterator by `first()`
        self.batch_size = None

    def first(self):
        if self._pending:
            item = self._pending[0]
        else:
            # next() rather than a for loop: abandoning a `yield from` would close the user's
            # generator.
            item = next(iter(self.data), None)
            if item is None:
                raise ValueError("The dataset passed as `x` is empty: it yielded no batches.")
            if self._one_shot:
                self._pending.append(item)
        x, y, _, _, _ = _parse_item(item, 0)
        return x, y

    def _items(self):
        while self._pending:
            yield self._pending.pop(0)
        for item in self.data:  # not `yield from`: closing this must not close self.data
            yield item

    def epoch(self, rng=None, first: int = 0) -> Iterator[tuple]:
        """The batches of one pass over the iterable, from batch `first` on: a re-iterable is
        read afresh and its first batches skipped; a one-shot iterator is already past them."""
        items = self._items()
        if first and not self._one_shot:
            items = itertools.islice(items, first, None)
        for i, item in enumerate(items, start=0 if self._one_shot else first):
            x, y, sw, mask, n = _parse_item(item, i)
            bs = max(n, self.batch_size or 0)
            self.batch_size = bs
            if n < bs:
                pad = lambda a: np.concatenate([a, np.repeat(a[:1], bs - n, axis=0)])
                x, y = jax.tree.map(pad, x), None if y is None else jax.tree.map(pad, y)
                sw = np.concatenate([sw, np.zeros(bs - n, np.float32)])
                mask = np.concatenate([mask, np.zeros(bs - n, np.float32)])
            yield (x, y, sw, mask, n)


def _parse_item(item, i):
    if not isinstance(item, (tuple, list)) or len(item) not in (1, 2, 3):
        raise ValueError(
            "Expected each element of the dataset to be a tuple (x, y) or "
            f"(x, y, sample_weight). Element {i} is {type(item).__name__}"
            + (f" of length {len(item)}" if isinstance(item, (tuple, list)) else "")
        )
    x = jax.tree.map(np.asarray, to_numpy_tree(item[0]))
    y = jax.tree.map(np.asarray, to_numpy_tree(item[1])) if len(item) > 1 else None
    sw = np.asarray(item[2], np.float32) if len(item) > 2 else None
    n = num_samples(x, y, sw)
    mask = np.ones((n,), np.float32)
    return x, y, (mask if sw is None else sw * mask), mask, n


def _check_batch_size(batch_size, n):
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise ValueError(f"Expected `batch_size` to be a positive integer. Received: {batch_size!r}")
    return int(min(batch_size, n))


# ---------------------------------------------------------------------------- feeds
# A feed hands the trainer *executions*: runs of consecutive batches that one jitted call
# processes with a device-side loop. Each execution is `(start, stop, args, rows)`: global
# step numbers [start, stop), the jitted call's data arguments
# `(data, order, valid, lo, hi)`, and a function giving the host mask of real rows (for
# predict). `data = {"x", "y", "sw"}` holds sample rows; `order[i]` (steps, batch) holds the
# row indices of batch i and `valid[i]` marks real (1.0) and padding (0.0) rows; the call
# runs batches lo..hi-1.


def epoch_window(batches_per_pass: Optional[int], steps_per_epoch: Optional[int], epoch: int):
    """Which batches epoch `epoch` of a fit trains on, as Keras's epoch iterator serves them:
    `(pass, first, count)`, batches `first..first+count-1` of pass `pass` over the data.

    Without `steps_per_epoch` every epoch is one pass. With it, the next epoch carries on where
    the last one stopped; the epoch that reaches the end of the data runs only the batches left
    (Keras warns that the input ran out), and the epoch after it starts a new pass (reshuffled
    when shuffling). 10 batches with `steps_per_epoch=3`: epochs run batches 0-2, 3-5, 6-8, 9,
    then 0-2 of the next pass. `epoch` counts from the fit's first epoch; the window depends
    on nothing else, so a resumed fit lands where the uninterrupted one would be.
    A generator of unknown length (`batches_per_pass=None`) continues by itself: `(epoch, 0,
    steps_per_epoch)`.
    """
    if steps_per_epoch is None or batches_per_pass is None:
        return epoch, 0, steps_per_epoch if batches_per_pass is None else batches_per_pass
    epochs_per_pass = -(-batches_per_pass // steps_per_epoch)
    pass_index, position = divmod(epoch, epochs_per_pass)
    first = position * steps_per_epoch
    return pass_index, first, min(steps_per_epoch, batches_per_pass - first)


def _device_permutation_fn(seed, epoch, n):
    return jax.random.permutation(jax.random.fold_in(jax.random.key(seed), epoch), n)


_device_permutation = jax.jit(_device_permutation_fn, static_argnums=2)


def epoch_permutation(seed: int, epoch: int, n: int, on_device: Optional[bool] = None):
    """The sample order of one epoch, a function of (seed, epoch) only, so a resumed fit draws
    the same orders. On accelerators it is drawn on the device; on the CPU backend, where the
    device is host memory and NumPy shuffles 60,000 indices about 10x faster than XLA's sort,
    with NumPy (`on_device` overrides the choice)."""
    if on_device is None:
        on_device = jax.default_backend() != "cpu"
    if not on_device:
        return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int32)
    return _device_permutation(np.uint32(seed), np.int32(epoch), n).astype(jnp.int32)


def _order_from(perm, n, steps, batch_size):
    idx = jnp.arange(steps * batch_size, dtype=jnp.int32)
    valid = (idx < n).astype(jnp.float32).reshape(steps, batch_size)
    if perm is None:
        return jnp.where(idx < n, idx, 0).reshape(steps, batch_size), valid
    padded = jnp.zeros((steps * batch_size,), jnp.int32).at[:n].set(perm)
    return padded.reshape(steps, batch_size), valid


_batch_order = quick_jit(_order_from, static_argnums=(1, 2, 3))


def bucket_rows(n: int) -> int:
    """`n` rounded up to `m * 2**k` with `8 <= m < 16`: at most 1/8 more rows, and the sizes
    between two buckets share one (1000 and 1010 rows both become 1024; 60,000 becomes 61,440)."""
    unit = 1 << max(n.bit_length() - 4, 0)
    return -(-n // unit) * unit


def _pad_rows(tree, rows):
    """Every array in `tree` with zero rows appended up to `rows` (NumPy on the host, jnp for
    arrays already on a device)."""
    def pad(a):
        extra = rows - a.shape[0]
        if extra == 0:
            return a
        if isinstance(a, jax.Array):
            return jnp.concatenate([a, jnp.zeros((extra,) + a.shape[1:], a.dtype)])
        out = np.empty((rows,) + a.shape[1:], a.dtype)
        out[:a.shape[0]] = a
        out[a.shape[0]:] = 0
        return out
    return jax.tree.map(pad, tree)


def _place_rows(tree, rows):
    """`tree` on the device with zero rows appended up to `rows`.

    On the CPU backend the rows are appended on the host: the device is host memory, and one
    NumPy copy costs less than a device-side concatenate after the transfer. On accelerators they
    are appended on the device, after the transfer, so the host does not copy the whole dataset
    first: for MNIST's 188 MB that host copy took 0.03-0.4 s on a 2-core CPU machine, while a
    device-side copy runs at the accelerator's memory bandwidth.
    """
    if _pads_on_host():
        return jax.device_put(_pad_rows(tree, rows))
    return _pad_rows(jax.device_put(tree), rows)


def _pads_on_host() -> bool:
    return jax.default_backend() == "cpu"


class DeviceFeed:
    """An array dataset placed on the device once; each pass over it is a device-side
    permutation.

    Batches are gathered from the resident arrays inside the jitted loop, so nothing but two
    step numbers crosses from the host per execution.
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size: int = 32, shuffle: bool = False):
        self.x, self.y = x, y
        self.n = num_samples(x, y, sample_weight)
        self.batch_size = _check_batch_size(batch_size, self.n)
        self.steps = math.ceil(self.n / self.batch_size)
        self.shuffle = shuffle
        # The resident arrays and the batch order are arguments of the jitted loop, so their
        # shapes are part of its signature: padding them to a size bucket lets data of nearby
        # sizes (another subset, a grown dataset) reuse the compiled program. Pad rows are never
        # gathered: the order indexes real rows only.
        rows = bucket_rows(self.n)
        self.order_steps = math.ceil(rows / self.batch_size)
        self.data = _place_rows({"x": x, "y": y, "sw": sample_weight}, rows)
        self._fixed_order = None

    def first(self):
        bs = self.batch_size
        return take(self.x, slice(0, bs)), None if self.y is None else take(self.y, slice(0, bs))

    def executions(self, steps_per_execution: int, limit: Optional[int] = None,
                   seed: Optional[int] = None, epoch: int = 0, first: int = 0):
        """Yields the executions over at most `limit` batches of pass `epoch` over the data
        (shuffled by `(seed, epoch)` when shuffling), from its batch `first` on. Execution
        bounds `start, stop` count from `first`; the jitted call runs order rows
        `first + start .. first + stop - 1`."""
        if self.shuffle and seed is not None:
            perm = epoch_permutation(seed, epoch, self.n)
            order, valid = _batch_order(perm, self.n, self.order_steps, self.batch_size)
        else:
            if self._fixed_order is None:
                self._fixed_order = _batch_order(None, self.n, self.order_steps, self.batch_size)
            order, valid = self._fixed_order
        steps = self.steps - first if limit is None else min(self.steps - first, limit)
        bs, n = self.batch_size, self.n
        for start in range(0, steps, steps_per_execution):
            stop = min(start + steps_per_execution, steps)
            lo, hi = first + start, first + stop
            rows = lambda lo=lo, hi=hi: np.arange(lo * bs, hi * bs) < n
            yield start, stop, (self.data, order, valid, np.int32(lo), np.int32(hi)), rows


class StreamFeed:
    """Batches prepared on the host and sent to the device a chunk of `steps_per_execution`
    batches at a time, one chunk ahead of the one running (double-buffered prefetch)."""

    def __init__(self, batches):
        self.batches = batches
        self.steps = batches.steps
        self.x = getattr(batches, "x", None)
        self.y = getattr(batches, "y", None)
        self._orders = {}

    @property
    def batch_size(self):
        return self.batches.batch_size

    def first(self):
        return self.batches.first()

    def _chunks(self, k, limit, rng, first=0):
        """Host chunks: up to k batches padded to one size, stacked into flat sample rows."""
        chunk, done = [], 0
        for batch in self.batches.epoch(rng, first):
            if chunk and len(batch[3]) != len(chunk[0][3]):  # a larger batch: start a new chunk
                yield self._stack(chunk, k)
                chunk = []
            chunk.append(batch)
            done += 1
            if len(chunk) == k or (limit is not None and done >= limit):
                yield self._stack(chunk, k)
                chunk = []
            if limit is not None and done >= limit:
                return
        if chunk:
            yield self._stack(chunk, k)

    @staticmethod
    def _stack(chunk, k):
        fill = [chunk[-1]] * (k - len(chunk))  # never run: the loop stops at len(chunk)
        rows = lambda parts: np.concatenate(parts, axis=0)
        batches = chunk + fill
        x = jax.tree.map(lambda *a: rows(a), *[b[0] for b in batches])
        y = None if batches[0][1] is None else jax.tree.map(lambda *a: rows(a), *[b[1] for b in batches])
        sw = rows([b[2] for b in batches])
        valid = np.stack([b[3] for b in batches])
        valid[len(chunk):] = 0.0
        return {"x": x, "y": y, "sw": sw}, valid, len(chunk)

    def _order(self, k, bs):
        if (k, bs) not in self._orders:
            self._orders[(k, bs)] = jnp.arange(k * bs, dtype=jnp.int32).reshape(k, bs)
        return self._orders[(k, bs)]

    def executions(self, steps_per_execution: int, limit: Optional[int] = None,
                   seed: Optional[int] = None, epoch: int = 0, first: int = 0):
        """Yields the executions over at most `limit` batches of pass `epoch` over the data
        (shuffled by `(seed, epoch)` when shuffling), from its batch `first` on."""
        rng = None if seed is None else np.random.default_rng([seed, epoch])
        start = 0
        for (data, valid, n_batches), host_valid in _prefetched(
                self._chunks(steps_per_execution, limit, rng, first)):
            k, bs = host_valid.shape
            rows = lambda hv=host_valid, m=n_batches: hv[:m].reshape(-1) > 0
            yield (start, start + n_batches,
                   (data, self._order(k, bs), valid, np.int32(0), np.int32(n_batches)), rows)
            start += n_batches


def _prefetched(chunks, depth: int = 2):
    """Sends host chunks to the device `depth - 1` chunks ahead of the consumer (transfers are
    asynchronous, so the next chunk moves while the current one computes)."""
    queue = collections.deque()
    for data, valid, n_batches in chunks:
        queue.append(((jax.device_put(data), jax.device_put(valid), n_batches), valid))
        if len(queue) >= depth:
            yield queue.popleft()
    while queue:
        yield queue.popleft()


def tree_nbytes(tree) -> int:
    return sum(int(np.prod(np.shape(a))) * np.dtype(a.dtype).itemsize for a in jax.tree.leaves(tree))


def device_data_budget() -> int:
    """Bytes of training data kerasx places on the device: a quarter of the accelerator's
    memory, or 2 GiB on the CPU backend (where the device is host memory)."""
    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # backends without memory statistics
        stats = {}
    limit = stats.get("bytes_limit")
    return int(limit) // 4 if limit else 2 * 1024**3


def is_iterable_dataset(x) -> bool:
    """True for Python iterables of batches (not arrays, lists/dicts of arrays)."""
    if x is None or isinstance(x, (np.ndarray, jax.Array, dict)):
        return False
    if isinstance(x, (list, tuple)):
        return bool(x) and isinstance(x[0], (tuple, list)) and len(x[0]) in (2, 3) and \
            all(hasattr(v, "shape") or isinstance(v, (list, dict)) for v in x[0])
    return hasattr(x, "__iter__") or hasattr(x, "__next__")


def make_feed(x, y=None, sample_weight=None, batch_size=None, shuffle=False, on_device="auto"):
    """Picks how `x` reaches the device: resident arrays (`DeviceFeed`) when they fit the
    budget (`on_device="auto"`) or when `on_device=True`, else streamed chunks (`StreamFeed`)."""
    if is_iterable_dataset(x):
        if y is not None:
            raise ValueError(
                "When `x` is an iterable of (x, y) batches, `y` must not be given separately."
            )
        return StreamFeed(IterableBatches(x))
    if on_device not in ("auto", True, False):
        raise ValueError(f"Expected `data_on_device` to be 'auto', True or False. Received: {on_device!r}")
    x = to_numpy_tree(x)
    y = to_numpy_tree(y)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, np.float32)
    batch_size = batch_size or 32
    if on_device is True or (on_device == "auto" and
                             tree_nbytes((x, y, sample_weight)) <= device_data_budget()):
        return DeviceFeed(x, y, sample_weight, batch_size, shuffle)
    return StreamFeed(ArrayBatches(x, y, sample_weight, batch_size, shuffle))


def flatten_targets(model, y) -> List[Any]:
    """y in the structure of the model's outputs → a list in `output_names` order."""
    names = model.output_names
    if len(names) == 1:
        if isinstance(y, dict):
            if names[0] in y:
                return [y[names[0]]]
            if len(y) == 1:
                return list(y.values())
        if isinstance(y, (list, tuple)) and len(y) == 1 and hasattr(y[0], "shape"):
            return [y[0]]
        return [y]
    if isinstance(y, dict):
        missing = [n for n in names if n not in y]
        if missing:
            raise ValueError(f"`y` lacks targets for outputs {missing}; the model's outputs are {names}.")
        return [y[n] for n in names]
    if isinstance(y, (list, tuple)) and len(y) == len(names):
        return list(y)
    raise ValueError(
        f"The model has {len(names)} outputs {names}; pass `y` as a list of {len(names)} arrays "
        "or a dict keyed by output name."
    )


def gather_batch(data, order, valid, i):
    """Batch i of an execution's data: `(x, y, sample_weight, mask, count)`."""
    idx, mask = order[i], valid[i]
    x = jax.tree.map(lambda a: a[idx], data["x"])
    y = None if data["y"] is None else jax.tree.map(lambda a: a[idx], data["y"])
    weight = mask if data["sw"] is None else mask * data["sw"][idx]
    return x, y, weight, mask, jnp.sum(mask)
