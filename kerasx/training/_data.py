"""Turning user data (arrays, lists/dicts of arrays, iterables of batches) into device work.

Every batch is a tuple `(x, y, sample_weight, mask, count)`: the final partial batch is padded
to the full batch size with rows whose mask and weight are zero, and `count` holds the number of
real samples, so the jitted programs see one shape per fit (one trace) while losses, metrics and
BatchNormalization's statistics count real samples only.

Two feeds hand the trainer *executions* (runs of consecutive batches for one jitted call):
- `DeviceFeed`: arrays that fit the device budget are resident for the fit; each pass over them
  is a permutation, and batches are gathered on the device inside the jitted loop. On
  accelerators they are placed once, a slice at a time (one device copy, no host copy); on the
  CPU backend large arrays are read where they lie (`HostRows`: no copy at all).
- `StreamFeed`: arrays beyond the budget, or on the CPU ones XLA cannot read in place (float64,
  strided), (`ArrayBatches`) and Python iterables (`IterableBatches`) are batched on the host
  and sent a chunk of batches at a time, one chunk ahead. Array chunks are gathered into a few
  reused buffers that XLA:CPU adopts without a copy, so a fit holds at most four chunks.
An epoch is one pass, or with `steps_per_epoch` a window of a pass (`epoch_window`).
"""

import collections
import ctypes
import itertools
import math
import mmap
import sys
import time
from typing import Any, Iterator, List, Optional

import jax
import jax.numpy as jnp
import numpy as np

from .._jit import quick_jit
from ..distribution import _placement
from .py_dataset import PyDataset, check_py_dataset, ordered_batches


def _arrays(tree):
    return jax.tree.leaves(tree)


def _nested_scalars(v) -> bool:
    """Whether `v` is a (nested) Python list or tuple of numbers: one array, not a list of
    model inputs."""
    if isinstance(v, (list, tuple)):
        return len(v) > 0 and all(_nested_scalars(e) for e in v)
    return np.isscalar(v)


def to_numpy_tree(tree, what: str = "x"):
    """Converts array-likes in a pytree to NumPy/JAX arrays: nested Python lists of numbers
    become one array; lists of arrays stay lists (of model inputs or outputs)."""
    if tree is None:
        return None

    def one(a):
        if isinstance(a, jax.Array):
            return a
        if type(a).__module__.split(".")[0] == "torch" and hasattr(a, "detach"):
            a = a.detach().cpu().numpy()  # a torch tensor on any device, with grad or without
        try:
            a = np.asarray(a)
        except ValueError as e:  # ragged nested lists
            raise ValueError(f"Expected `{what}` to hold arrays, or nested lists of numbers of "
                             f"one rectangular shape. NumPy could not make an array: {e}") from None
        if a.dtype.kind in "USO":
            raise ValueError(
                f"`{what}` holds {'strings' if a.dtype.kind in 'US' else 'Python objects'} "
                f"(an array of dtype {a.dtype}, shape {a.shape}), but models compute on numbers. "
                "Turn text into numbers first, e.g. `ids = "
                "kerasx.layers.TextVectorization(...)(texts)` (or StringLookup / Hashing), and "
                "sequences of different lengths into one array with "
                "`kerasx.utils.pad_sequences`; then pass the result.")
        return a
    return jax.tree.map(one, tree, is_leaf=_nested_scalars)


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
        self._buffers = _HostBuffers()

    def first(self):
        """The first batch's (x, y), unpadded; used to build the model."""
        bs = self.batch_size
        return take(self.x, slice(0, bs)), None if self.y is None else take(self.y, slice(0, bs))

    def chunk_steps(self) -> int:
        """Batches per host chunk: about 1/24 of the data, at least 2 MiB and at most 32 MiB
        of rows, and whole batches. At most four chunks are alive at once (`_HostBuffers`), so
        a fit holds at most 1/6 of the data more (8 MiB under 48 MiB)."""
        total = tree_nbytes((self.x, self.y, self.sample_weight))
        per_batch = max(1, total // self.n * self.batch_size)
        target = min(max(total // 24, _CHUNK_MIN_BYTES), _CHUNK_MAX_BYTES)
        return int(max(1, min(self.steps, target // per_batch)))

    def chunks(self, k: int, limit: Optional[int], rng: Optional[np.random.Generator],
               first: int = 0) -> Iterator[tuple]:
        """Host chunks of k batches from batch `first` on (at most `limit` batches): `(data,
        valid, n_batches)` with `data` rows of `bucket_rows(k)` full batches. Each array's rows
        are gathered with one `np.take` into a reused page-aligned buffer (`_HostBuffers`),
        which `jax.device_put` on the CPU backend adopts without a copy; the partial last batch
        is padded with row 0 (masked out), and the rows of batches past `n_batches` are never
        read by the loops."""
        order = rng.permutation(self.n) if (self.shuffle and rng is not None) else None
        bs, n = self.batch_size, self.n
        # The chunk's shape is part of the jitted programs' signature: a size bucket of k
        # batches lets data of a nearby size (31 or 32 batches) reuse the compiled programs.
        capacity = bucket_rows(k)
        stop = self.steps if limit is None else min(self.steps, first + limit)
        for lo in range(first, stop, k):
            n_batches = min(k, stop - lo)
            begin, end = lo * bs, min((lo + n_batches) * bs, n)
            idx = order[begin:end] if order is not None else np.arange(begin, end)
            idx = np.concatenate([idx, np.zeros(n_batches * bs - len(idx), idx.dtype)])
            valid = np.zeros((capacity, bs), np.float32)
            valid.reshape(-1)[:end - begin] = 1.0
            gather = lambda a: self._buffers.take_rows(np.asarray(a), idx, capacity * bs)
            sw = None
            if self.sample_weight is not None:
                sw = valid.reshape(-1).copy()
                sw[:len(idx)] *= self.sample_weight[idx]
            data = {"x": jax.tree.map(gather, self.x),
                    "y": None if self.y is None else jax.tree.map(gather, self.y), "sw": sw}
            yield data, valid, n_batches


_CHUNK_MIN_BYTES = 2 << 20
_CHUNK_MAX_BYTES = 32 << 20


class _HostBuffers:
    """Host buffers for the chunks of one feed, each in its own anonymous memory map.

    A map is page-aligned (XLA:CPU wants 64 bytes), so `jax.device_put` on the CPU backend
    uses the buffer in place instead of copying it, holding a reference to it while any device
    array or running computation still reads it. A buffer is handed out again once nothing
    but this pool refers to it: reusing buffers saves the page faults of fresh memory (a third
    of a streamed MLP epoch's host time) and bounds the chunks alive at once, since the host
    waits for one to come free; separate maps, unlike malloc, go back to the system when the
    feed is dropped, so nothing stays held after the call.
    """

    _KEEP = 4  # buffers per shape: one running, one sent, one being gathered, one finishing
    _WAIT_S = 60.0

    def __init__(self):
        self._pool = {}

    def take_rows(self, a, idx, rows):
        """Rows `idx` of `a` in a buffer of `rows` rows (one copy); the rows past `len(idx)`
        hold whatever the buffer held (the loops never read them)."""
        out = self._get((rows,) + a.shape[1:], a.dtype)
        np.take(a, idx, axis=0, out=out[:len(idx)], mode="clip")
        return out

    def _get(self, shape, dtype):
        entries = self._pool.setdefault((shape, np.dtype(dtype)), [])
        if len(entries) < self._KEEP:
            for chain, idle in entries:
                if _refcounts(chain) == idle:
                    return chain[-1]
            chain = _mapped_array(shape, dtype)
            entries.append((chain, _refcounts(chain)))  # the counts while only the pool holds it
            return chain[-1]
        # All in use: the host is chunks ahead of the device (dispatch is asynchronous). Wait
        # for the device to finish with one, so that at most _KEEP chunks are ever alive.
        deadline, pause = time.monotonic() + self._WAIT_S, 0.0001
        while time.monotonic() < deadline:
            _release_finished()
            for chain, idle in entries:
                if _refcounts(chain) == idle:
                    return chain[-1]
            time.sleep(pause)  # the device runs a chunk in milliseconds or more
            pause = min(2 * pause, 0.002)
        return _mapped_array(shape, dtype)[-1]  # held elsewhere for long: never block a fit


def _release_finished():
    """Lets JAX drop its references to host buffers whose device use has ended. JAX's runtime
    threads queue those releases for the Python thread, which carries them out on its next
    call into JAX; a trivial transfer is such a call."""
    jax.device_put(np.int32(0))


def _refcounts(objs):
    return [sys.getrefcount(obj) for obj in objs]


def _mapped_array(shape, dtype):
    """`(map, bytes, array)`: a zeroed array of `shape` in its own anonymous memory map, with
    the objects that own its memory (whoever reads the array holds one of them)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    region = mmap.mmap(-1, max(nbytes, 1))
    raw = np.frombuffer(region, np.uint8)
    return region, raw, raw[:nbytes].view(dtype).reshape(shape)


class IterableBatches:
    """Batches from a Python iterable of `(x, y)` or `(x, y, sample_weight)` tuples.

    The iterable is re-iterated every epoch when it can be (a list, or any object whose
    `__iter__` starts afresh); a one-shot generator continues where the last epoch stopped, as
    in Keras. Batches are padded to the size of the largest batch seen so far.
    """

    def __init__(self, data):
        self.data = data
        self.steps = _known_length(data)
        self._one_shot = iter(data) is data
        self._live = None  # (next batch number, iterator): a pass an epoch left unfinished
        self._pending = []  # items read ahead from a one-shot iterator by `first()`
        self.batch_size = None
        self.weigh = None  # (y, sample_weight) -> sample_weight: `fit`'s class weights

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
        """The batches of one pass over the iterable, from batch `first` on. As Keras's epoch
        iterator with `steps_per_epoch`: a re-iterable's pass that the last epoch left
        unfinished carries on (always where its length is unknown, e.g. a `repeat()`ed
        tf.data.Dataset; where it is known, when it stopped at batch `first`); else a new pass
        is read, its first batches skipped. A one-shot iterator is already past them."""
        if self._one_shot:
            yield from self._numbered(self._items(), 0)
            return
        live, self._live = self._live, None
        if live is not None and (self.steps is None or live[0] == first):
            served = yield from self._numbered(live[1], live[0])
            if served or first:
                return
            # the unfinished pass had nothing left: this epoch starts a new one
        items = iter(self.data)
        if first:
            items = itertools.islice(items, first, None)
        yield from self._numbered(items, first)

    def reset(self):
        """Forgets an unfinished pass: the next epoch reads a new one (each `evaluate`, as
        Keras's resets its iterator)."""
        self._live = None

    def _numbered(self, items, start):
        """Batches from `items` numbered from `start`; remembers where an unfinished pass
        stands (`_live`) when the consumer stops early. Returns how many were served."""
        i = start
        for item in items:
            self._live = (i + 1, items)
            yield self._batch(item, i)
            i += 1
        self._live = None
        return i - start

    def _batch(self, item, i):
        """`(x, y, sample_weight, row_mask, n)` of batch `i`: its class weights applied, padded
        to the largest batch size seen so far."""
        x, y, sw, mask, n = _parse_item(item, i)
        if self.weigh is not None:
            sw = self.weigh(y, sw)
        bs = max(n, self.batch_size or 0)
        self.batch_size = bs
        if n < bs:
            pad = lambda a: np.concatenate([a, np.repeat(a[:1], bs - n, axis=0)])
            x, y = jax.tree.map(pad, x), None if y is None else jax.tree.map(pad, y)
            sw = None if sw is None else np.concatenate([sw, np.zeros(bs - n, np.float32)])
            mask = np.concatenate([mask, np.zeros(bs - n, np.float32)])
        return (x, y, sw, mask, n)


def _known_length(data) -> Optional[int]:
    """`len(data)`, or None where it is unknown: a tf.data.Dataset of infinite or unknown
    cardinality, or a torch DataLoader over an IterableDataset, raises TypeError on `len()`."""
    try:
        return len(data) if hasattr(data, "__len__") else None
    except TypeError:
        return None


class PyDatasetBatches(IterableBatches):
    """The batches of a `kerasx.utils.PyDataset` (Keras's `PyDatasetAdapter`).

    A pass has `num_batches` batches (`None`: endless, the epochs carry on where the last one
    stopped); with `shuffle` each pass visits them in an order drawn from the epoch's
    generator (not for a dataset whose class sets `_keeps_batch_order`). Batches are loaded by
    the dataset's worker pool (`ordered_batches`), ahead of
    the host chunks, so loading overlaps with the device's work on the chunks already sent.
    `on_epoch_begin`/`on_epoch_end` run around each epoch's batches.
    """

    def __init__(self, dataset, shuffle: bool = False):
        check_py_dataset(dataset)
        self.data = dataset
        self.steps = dataset.num_batches
        if self.steps is not None:
            self.steps = int(self.steps)
            if self.steps < 1:
                raise ValueError(f"The PyDataset passed as `x` ({type(dataset).__name__}) has "
                                 f"no batches: num_batches={self.steps}.")
        # kerasx's stand-ins for the tf.data datasets Keras's utils return
        # (timeseries_dataset_from_array, image/audio/text_dataset_from_directory) keep their
        # batch order, as Keras's fit does not reorder a tf.data.Dataset's batches
        self.shuffle = (shuffle and self.steps is not None
                        and not getattr(dataset, "_keeps_batch_order", False))
        self._one_shot = False
        self._pending = []
        self._next = 0  # where an endless dataset's next epoch starts
        self.batch_size = None
        self.weigh = None

    def first(self):
        x, y, _, _, _ = _parse_item(_standardize_py_batch(self.data[0]), 0)
        return x, y

    def epoch(self, rng=None, first: int = 0) -> Iterator[tuple]:
        if self.steps is None:
            order, numbers = itertools.count(self._next), itertools.count(self._next)
        elif self.shuffle and rng is not None:
            order = numbers = rng.permutation(self.steps)[first:]
        else:
            order = numbers = range(first, self.steps)
        self.data.on_epoch_begin()
        try:
            for i, item in zip(numbers, ordered_batches(self.data, order)):
                if self.steps is None:
                    self._next = i + 1
                yield self._batch(_standardize_py_batch(item), int(i))
        finally:
            self.data.on_epoch_end()


def _standardize_py_batch(batch):
    """A PyDataset batch as a tuple `(x,)`, `(x, y)` or `(x, y, sample_weight)`."""
    if isinstance(batch, (np.ndarray, jax.Array, dict)):
        return (batch,)
    if isinstance(batch, list):
        batch = tuple(batch)
    if not isinstance(batch, tuple) or len(batch) not in (1, 2, 3):
        raise ValueError(
            "PyDataset.__getitem__() must return a tuple or a dict. If a tuple, it must be "
            "ordered either (input,) or (inputs, targets) or (inputs, targets, "
            f"sample_weights). Received: {str(batch)[:100]}... of type {type(batch)}")
    return batch


def _parse_item(item, i):
    """`(x, y, sample_weight, row_mask, n)` of one element of a dataset (a tf.data, grain or
    torch batch alike): a tuple or list `(x,)`, `(x, y)` or `(x, y, sample_weight)`, or,
    as in Keras, anything else (an array, a dict of arrays) as `x` alone. Tensors of any
    framework become NumPy arrays."""
    if not isinstance(item, (tuple, list)):
        item = (item,)
    if len(item) not in (1, 2, 3):
        raise ValueError(
            "Expected each element of the dataset to be a tuple (x, y) or "
            f"(x, y, sample_weight). Element {i} is {type(item).__name__} of length {len(item)}")
    x = jax.tree.map(np.asarray, to_numpy_tree(item[0]))
    y = jax.tree.map(np.asarray, to_numpy_tree(item[1], "y")) if len(item) > 1 else None
    sw = item[2] if len(item) > 2 else None
    sw = None if sw is None else np.asarray(to_numpy_tree(sw, "sample_weight"), np.float32)
    n = num_samples(x, y, sw)
    return x, y, sw, np.ones((n,), np.float32), n


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


def _place_rows(tree, rows, in_place: bool = False):
    """Every array of `tree` on the device with zero rows appended up to `rows`.

    Each array is moved a sixteenth at a time into a device buffer of the full size (updated
    in place: the buffer is donated), so neither the host nor the device ever holds a second
    whole copy of the user's data: one device copy, and at most a sixteenth more in flight.
    An array already on the device is used as it is (the order never indexes pad rows). With
    `in_place` (the CPU backend), large NumPy arrays are read where they are (`HostRows`).
    """
    def place(a):
        if isinstance(a, jax.Array):
            return a
        if in_place and _readable_in_place(a):
            return HostRows.of(a)
        n = a.shape[0]
        buf = _zero_rows(rows, tuple(a.shape[1:]), jax.dtypes.canonicalize_dtype(a.dtype))
        part = max(1, -(-n // 16))
        for start in range(0, n, part):
            buf = _write_rows(buf, jax.device_put(a[start:start + part]), np.int32(start))
        return buf
    return jax.tree.map(place, tree)


_IN_PLACE_MIN_BYTES = 1 << 20  # smaller arrays are copied: it costs next to nothing


def _readable_in_place(a) -> bool:
    """Whether XLA:CPU can read the NumPy array `a` where it lies (see `HostRows`)."""
    return (isinstance(a, np.ndarray) and a.ndim >= 1 and a.size > 0
            and a.nbytes >= _IN_PLACE_MIN_BYTES and a.flags.c_contiguous and a.flags.aligned
            and a.dtype.kind in "biuf" and 64 % a.dtype.itemsize == 0
            and a.dtype == jax.dtypes.canonicalize_dtype(a.dtype)  # no float64 -> float32 copy
            and a.size + 64 < 2**31)  # element offsets fit the int32 indices


@jax.tree_util.register_pytree_node_class
class HostRows:
    """The rows of a NumPy array, read by XLA:CPU in place: no copy of the user's data.

    XLA:CPU adopts host memory that starts on a 64-byte boundary instead of copying it. A large
    NumPy array usually starts 16 bytes past one (after malloc's header), and its rows all sit
    at that offset. So the device array `flat` is a flat view that starts at the boundary just
    before the data (the bytes in between lie in the same memory page, so reading them is
    safe, and they are never used), and row `r` is the `size` elements from
    `shift + r * size`, gathered as one contiguous slice per row.
    """

    def __init__(self, flat, shift: int, row_shape: tuple):
        self.flat, self.shift, self.row_shape = flat, shift, row_shape

    def tree_flatten(self):
        return (self.flat,), (self.shift, self.row_shape)

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(children[0], *aux)

    @classmethod
    def of(cls, a: np.ndarray) -> "HostRows":
        lead = a.ctypes.data % 64
        region = (ctypes.c_char * (a.nbytes + lead)).from_address(a.ctypes.data - lead)
        region.owner = a  # the array lives as long as anything reads through this view
        flat = np.frombuffer(region, a.dtype)
        return cls(jax.device_put(flat), lead // a.dtype.itemsize, tuple(a.shape[1:]))

    def rows(self, idx):
        """The rows `idx` (any shape of int indices), shaped `idx.shape + row_shape`."""
        size = math.prod(self.row_shape)
        starts = (self.shift + idx.astype(jnp.int32) * size)[..., None]
        numbers = jax.lax.GatherDimensionNumbers(offset_dims=(idx.ndim,), collapsed_slice_dims=(),
                                                 start_index_map=(0,))
        out = jax.lax.gather(self.flat, starts, numbers, slice_sizes=(size,),
                             mode=jax.lax.GatherScatterMode.PROMISE_IN_BOUNDS)
        return out.reshape(idx.shape + self.row_shape)


def take_rows(a, idx):
    """Rows `idx` of a resident array (a device array or `HostRows`)."""
    return a.rows(idx) if isinstance(a, HostRows) else a[idx]


def _is_rows(v) -> bool:
    return isinstance(v, HostRows)


_zero_rows = jax.jit(lambda rows, shape, dtype: jnp.zeros((rows,) + shape, dtype),
                     static_argnums=(0, 1, 2))
_write_rows = jax.jit(lambda buf, part, start: jax.lax.dynamic_update_slice_in_dim(
    buf, part, start, axis=0), donate_argnums=0)


def resident_by_default(x, y=None) -> bool:
    """Whether array data that fits the budget lives on the device for a fit (`data_on_device=
    "auto"`). Always on accelerators. On the CPU backend, whose device is host memory, when
    every large array can be read in place (`HostRows`: no copy); else the data streams in
    chunks, since a resident copy would double the user's data."""
    if jax.default_backend() != "cpu":
        return True
    return all(_readable_in_place(a) or isinstance(a, jax.Array)
               or np.size(a) * np.dtype(a.dtype).itemsize < _IN_PLACE_MIN_BYTES
               for a in jax.tree.leaves((x, y)))


class DeviceFeed:
    """An array dataset placed on the device once; each pass over it is a device-side
    permutation.

    Batches are gathered from the resident arrays inside the jitted loop, so nothing but two
    step numbers crosses from the host per execution.
    """

    def __init__(self, x, y=None, sample_weight=None, batch_size: int = 32, shuffle: bool = False,
                 dist=None):
        self.x, self.y = x, y
        self.n = num_samples(x, y, sample_weight)
        self.batch_size = _check_batch_size(batch_size, self.n)
        if dist is not None:
            _check_divisible(dist, self.batch_size)
        self.steps = math.ceil(self.n / self.batch_size)
        self.shuffle = shuffle
        # The resident arrays and the batch order are arguments of the jitted loop, so their
        # shapes are part of its signature: padding them to a size bucket lets data of nearby
        # sizes (another subset, a grown dataset) reuse the compiled program. Pad rows are never
        # gathered: the order indexes real rows only.
        rows = bucket_rows(self.n)
        self.order_steps = math.ceil(rows / self.batch_size)
        in_place = jax.default_backend() == "cpu" and dist is None
        self.data = {"x": _place_rows(x, rows, in_place), "y": _place_rows(y, rows, in_place),
                     "sw": _place_rows(sample_weight, rows)}
        if dist is not None:
            # every device holds the data; each gathers its own part of a batch (the step's
            # batch sharding), so a shuffled batch costs no cross-device traffic
            self.data = jax.device_put(self.data, _placement.replicated(dist))
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

    def __init__(self, batches, dist=None):
        self.batches = batches
        self.dist = dist
        self.steps = batches.steps
        self.x = getattr(batches, "x", None)
        self.y = getattr(batches, "y", None)
        self.n = getattr(batches, "n", None)  # samples, for arrays
        self._orders = {}

    @property
    def batch_size(self):
        return self.batches.batch_size

    def first(self):
        return self.batches.first()

    @property
    def chunk_steps(self) -> int:
        """Batches per chunk when the execution length is kerasx's to choose."""
        return self.batches.chunk_steps() if hasattr(self.batches, "chunk_steps") else \
            _STREAM_CHUNK

    def _chunks(self, k, limit, rng, first=0):
        """Host chunks: up to k batches padded to one size, stacked into flat sample rows."""
        if hasattr(self.batches, "chunks"):
            yield from self.batches.chunks(k, limit, rng, first)
            return
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
        # (x, y) batches carry no weights (a custom train_step then sees (x, y), as in Keras);
        # in a mix, the unweighted batches weigh their real rows 1.
        sw = None if all(b[2] is None for b in batches) else \
            rows([b[3] if b[2] is None else b[2] for b in batches])
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
        place = None if self.dist is None else _stepped_placer(self.dist)
        for (data, valid, n_batches), host_valid in _prefetched(
                self._chunks(steps_per_execution, limit, rng, first), place=place):
            k, bs = host_valid.shape
            rows = lambda hv=host_valid, m=n_batches: hv[:m].reshape(-1) > 0
            # stepped chunks (a distribution) hold batch i at row i: no order to gather by
            order = None if place is not None else self._order(k, bs)
            yield (start, start + n_batches,
                   (data, order, valid, np.int32(0), np.int32(n_batches)), rows)
            start += n_batches


_STREAM_CHUNK = 32  # batches per chunk of a Python iterable when spe is "auto"


def _prefetched(chunks, depth: int = 2, place=None):
    """Sends host chunks to the device `depth - 1` chunks ahead of the consumer (transfers are
    asynchronous, so the next chunk moves while the current one computes). `place` lays a
    chunk out for a distribution (see `_stepped_placer`)."""
    queue = collections.deque()
    for data, valid, n_batches in chunks:
        if place is not None:
            data, device_valid, valid = place(data, valid)
            queue.append(((data, device_valid, n_batches), valid))
        else:
            queue.append(((jax.device_put(data), jax.device_put(valid), n_batches), valid))
        if len(queue) >= depth:
            yield queue.popleft()
    while queue:
        yield queue.popleft()


def _check_divisible(dist, batch_size: int):
    """A batch (each process's share) must split evenly over the data-parallel devices."""
    unit = max(1, _placement.data_axis_size(dist) // jax.process_count())
    if batch_size % unit:
        raise ValueError(
            f"The batch size {batch_size} does not divide evenly over the "
            f"{_placement.data_axis_size(dist)} devices of the mesh's batch axis "
            f"'{dist.batch_dim_name}'" + (f" ({unit} per process)" if jax.process_count() > 1
                                         else "") +
            f". Pass a `batch_size` that is a multiple of {unit}.")


def _stepped_placer(dist):
    """Lays out a host chunk for a distribution: rows `(k * bs, ...)` become `(k, bs, ...)`,
    split along the batch axis (axis 1) over the mesh's data devices, each process's rows being
    its share of every global batch (`jax.make_array_from_process_local_data`). Batches that do
    not split evenly (an iterable's last, smaller batch) are padded with masked rows. Returns
    `(device data, device valid, host valid)`."""
    unit = max(1, _placement.data_axis_size(dist) // jax.process_count())

    def place(data, valid):
        k, bs = valid.shape
        pad = (-bs) % unit

        def stepped(a, flat=True):  # flat: rows (k * bs, ...); else already (k, bs, ...)
            a = np.asarray(a)
            a = np.array(a.reshape((k, bs) + a.shape[1 if flat else 2:]))  # a copy: host
            # buffers are reused
            if pad:
                a = np.concatenate([a, np.zeros((k, pad) + a.shape[2:], a.dtype)], axis=1)
            sharding = _placement.batch_sharding(dist, a.ndim, axis=1)
            if jax.process_count() > 1:
                return jax.make_array_from_process_local_data(sharding, a)
            return jax.device_put(a, sharding)
        host_valid = np.concatenate([valid, np.zeros((k, pad), valid.dtype)], axis=1) \
            if pad else valid
        return jax.tree.map(stepped, data), stepped(valid, flat=False), host_valid
    return place


def tree_nbytes(tree) -> int:
    return sum(int(np.prod(np.shape(a))) * np.dtype(a.dtype).itemsize for a in jax.tree.leaves(tree))


def device_data_budget() -> int:
    """Bytes of array data that `data_on_device="auto"` places on an accelerator: a quarter of
    its memory (2 GiB where the backend reports no limit)."""
    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # backends without memory statistics
        stats = {}
    limit = stats.get("bytes_limit")
    return int(limit) // 4 if limit else 2 * 1024**3


def is_iterable_dataset(x) -> bool:
    """True for iterables of batches: Python ones, `tf.data.Dataset`, torch `DataLoader`, grain
    datasets and loaders (not arrays, lists/dicts of arrays, nor tensors of any framework)."""
    if x is None or isinstance(x, (np.ndarray, jax.Array, dict)):
        return False
    if hasattr(x, "__array__"):  # torch/tf tensors, pandas frames: arrays, though iterable
        return False
    if isinstance(x, (list, tuple)):
        # a list of (x, y[, sample_weight]) batches: every entry is one. (`([x1, x2], y)`, the
        # `validation_data` of a two-input model, has a first entry that looks like a batch.)
        return bool(x) and all(isinstance(b, (tuple, list)) and len(b) in (2, 3) for b in x) \
            and all(hasattr(v, "shape") or isinstance(v, (list, dict)) for v in x[0])
    return hasattr(x, "__iter__") or hasattr(x, "__next__")


def make_feed(x, y=None, sample_weight=None, batch_size=None, shuffle=False, on_device="auto",
              dist=None):
    """Picks how `x` reaches the device: resident arrays (`DeviceFeed`) when they fit the
    budget (`on_device="auto"`) or when `on_device=True`, else streamed chunks (`StreamFeed`).
    Under a distribution `dist`, batches are split over its data devices; in a multi-process
    job each process streams its own share of every batch."""
    if isinstance(x, PyDataset):
        if y is not None or sample_weight is not None:
            raise ValueError(
                "When `x` is a PyDataset, `y` and `sample_weight` must not be given separately: "
                "its batches carry them. Received: "
                + ", ".join(k for k, v in (("y", y), ("sample_weight", sample_weight))
                            if v is not None))
        return StreamFeed(PyDatasetBatches(x, shuffle), dist)
    if is_iterable_dataset(x):
        if y is not None or sample_weight is not None:  # as Keras (tf.data, grain, torch, ...)
            raise ValueError(
                "When `x` is an iterable of (x, y) batches (a generator, tf.data.Dataset, "
                "grain dataset or torch DataLoader), `y` and `sample_weight` must not be given "
                "separately: its batches carry them. Received: "
                + ", ".join(k for k, v in (("y", y), ("sample_weight", sample_weight))
                            if v is not None))
        return StreamFeed(IterableBatches(x), dist)
    if on_device not in ("auto", True, False):
        raise ValueError(f"Expected `data_on_device` to be 'auto', True or False. Received: {on_device!r}")
    x = to_numpy_tree(x)
    y = to_numpy_tree(y, "y")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, np.float32)
    if num_samples(x, y, sample_weight) == 0:
        shapes = jax.tree.map(np.shape, x)
        raise ValueError(f"Expected at least one sample in `x`; received arrays of 0 samples "
                         f"(shapes {shapes}).")
    batch_size = batch_size or 32
    if on_device == "auto":
        on_device = (resident_by_default(x, y)
                     and tree_nbytes((x, y, sample_weight)) <= device_data_budget())
    if dist is not None and jax.process_count() > 1:
        on_device = False  # each process holds only its share: it streams it
    if on_device:
        return DeviceFeed(x, y, sample_weight, batch_size, shuffle, dist)
    if dist is not None:
        _check_divisible(dist, batch_size)
    return StreamFeed(ArrayBatches(x, y, sample_weight, batch_size, shuffle), dist)


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
    """Batch i of an execution's data: `(x, y, sample_weight, mask, count)`. Without an
    `order`, the data is stepped (`_stepped_placer`): batch i is row i of every array."""
    if order is None:
        at = lambda a: a[i]
        mask = valid[i]
        y = None if data["y"] is None else jax.tree.map(at, data["y"])
        weight = mask if data["sw"] is None else mask * data["sw"][i]
        return jax.tree.map(at, data["x"]), y, weight, mask, jnp.sum(mask)
    idx, mask = order[i], valid[i]
    x = jax.tree.map(lambda a: take_rows(a, idx), data["x"], is_leaf=_is_rows)
    y = None if data["y"] is None else jax.tree.map(lambda a: take_rows(a, idx), data["y"],
                                                    is_leaf=_is_rows)
    weight = mask if data["sw"] is None else mask * data["sw"][idx]
    return x, y, weight, mask, jnp.sum(mask)
