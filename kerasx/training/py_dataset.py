"""`PyDataset` (Keras's `keras.utils.PyDataset`, alias `Sequence`): batches made by Python code.

A `PyDataset` hands out batch `i` from `__getitem__(i)` and says how many batches a pass has
with `__len__` (or `num_batches`). `fit`, `evaluate` and `predict` accept one as `x`: each
epoch visits the batches in order (in a shuffled order in `fit` with `shuffle=True`), and with
`workers > 1` (or `use_multiprocessing=True`) batches are loaded by a pool of threads (or
processes), up to `max_queue_size` batches ahead, while the device computes on earlier ones.

This module imports only the standard library and NumPy, so `kerasx.training` can import it.
"""

import collections
import concurrent.futures
import itertools
import multiprocessing
import warnings

import numpy as np

__all__ = ["PyDataset", "Sequence"]


class PyDataset:
    """Base class for a dataset of batches produced by Python code, loaded in parallel.

    Subclasses implement `__getitem__(index)` (batch `index`: `x`, `(x,)`, `(x, y)` or
    `(x, y, sample_weight)`) and `__len__()` (batches per pass) or the `num_batches`
    property (`None` for an endless dataset); `on_epoch_begin`/`on_epoch_end` are called
    around every epoch. Subclasses must call `super().__init__(**kwargs)`.

    Args:
        workers: Number of threads (or processes) that load batches in parallel. With 1
            (the default) and no multiprocessing, batches are loaded on the calling thread.
        use_multiprocessing: Whether to load batches in worker processes rather than
            threads. Processes are started with the "spawn" method (JAX is multithreaded,
            so forking it is unsafe): the dataset must then be picklable and its class
            importable (defined in a module, not interactively). A new pool is started for
            every epoch, so that state changed by `on_epoch_end` reaches the workers.
        max_queue_size: Maximum number of batches loaded ahead of the one being consumed.

    Example:

    ```python
    class Batches(kerasx.utils.PyDataset):
        def __init__(self, x, y, batch_size, **kwargs):
            super().__init__(**kwargs)
            self.x, self.y, self.batch_size = x, y, batch_size

        def __len__(self):
            return math.ceil(len(self.x) / self.batch_size)

        def __getitem__(self, idx):
            lo = idx * self.batch_size
            return self.x[lo:lo + self.batch_size], self.y[lo:lo + self.batch_size]

    model.fit(Batches(x, y, 32, workers=4), epochs=3)
    ```
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        self._workers = workers
        self._use_multiprocessing = use_multiprocessing
        self._max_queue_size = max_queue_size

    def _warn_if_super_not_called(self):
        missing = False
        for attr, default in (("_workers", 1), ("_use_multiprocessing", False),
                              ("_max_queue_size", 10)):
            if not hasattr(self, attr):
                setattr(self, attr, default)
                missing = True
        if missing:
            warnings.warn(
                "Your `PyDataset` class should call `super().__init__(**kwargs)` in its "
                "constructor. `**kwargs` can include `workers`, `use_multiprocessing`, "
                "`max_queue_size`. Do not pass these arguments to `fit()`, as they will be "
                "ignored.", stacklevel=3)

    @property
    def workers(self):
        self._warn_if_super_not_called()
        return self._workers

    @workers.setter
    def workers(self, value):
        self._workers = value

    @property
    def use_multiprocessing(self):
        self._warn_if_super_not_called()
        return self._use_multiprocessing

    @use_multiprocessing.setter
    def use_multiprocessing(self, value):
        self._use_multiprocessing = value

    @property
    def max_queue_size(self):
        self._warn_if_super_not_called()
        return self._max_queue_size

    @max_queue_size.setter
    def max_queue_size(self, value):
        self._max_queue_size = value

    def __getitem__(self, index):
        """Returns batch number `index` (0-based)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement `__getitem__(self, index)`, returning "
            "batch `index` as `x`, `(x, y)` or `(x, y, sample_weight)`.")

    @property
    def num_batches(self):
        """The number of batches in a pass, or `None` for an endless dataset (defaults to
        `len(self)`)."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            f"{type(self).__name__} must implement `__len__` or the `num_batches` property:"
            "\n\n@property\ndef num_batches(self):\n  return ...")

    def on_epoch_begin(self):
        """Called at the beginning of every epoch."""

    def on_epoch_end(self):
        """Called at the end of every epoch."""

    def __iter__(self):
        """The batches of one pass in order (loaded by the worker pool, if any)."""
        try:
            n = self.num_batches
        except NotImplementedError:
            n = None
        return ordered_batches(self, range(n) if n is not None else itertools.count())


Sequence = PyDataset  # Keras's older name


def uses_pool(dataset) -> bool:
    """Whether batches are loaded by a pool (Keras: `workers > 1`, or processes)."""
    workers = dataset.workers
    return workers > 1 or (workers > 0 and bool(dataset.use_multiprocessing))


def check_py_dataset(dataset):
    """Validates `workers` and `max_queue_size` of a PyDataset given to kerasx."""
    workers, queue = dataset.workers, dataset.max_queue_size
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 0:
        raise ValueError(f"PyDataset `workers` must be a non-negative integer. "
                         f"Received: workers={workers!r}")
    if isinstance(queue, bool) or not isinstance(queue, (int, np.integer)) or queue < 1:
        raise ValueError(f"PyDataset `max_queue_size` must be a positive integer. "
                         f"Received: max_queue_size={queue!r}")


_WORKER_DATASET = None


def _init_worker(dataset):
    global _WORKER_DATASET
    _WORKER_DATASET = dataset


def _worker_get(index):
    return _WORKER_DATASET[index]


def ordered_batches(dataset, indices):
    """Yields `dataset[i]` for each `i` of `indices`, in that order.

    Without a pool the batches are loaded on the calling thread when asked for. With one
    (`uses_pool`), up to `max_queue_size` batches are requested ahead from `workers` threads
    or processes, so loading overlaps with whatever the consumer does between batches (the
    device computing on the batches sent before). Closing the generator cancels the batches
    still pending and shuts the pool down.
    """
    check_py_dataset(dataset)
    if not uses_pool(dataset):
        for i in indices:
            yield dataset[int(i)]
        return
    workers = max(1, int(dataset.workers))
    if dataset.use_multiprocessing:
        pool = concurrent.futures.ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(dataset,))
        get = _worker_get
    else:
        pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="PyDataset")
        get = dataset.__getitem__
    pending = collections.deque()
    indices = iter(indices)
    try:
        for i in itertools.islice(indices, int(dataset.max_queue_size)):
            pending.append(pool.submit(get, int(i)))
        while pending:
            batch = pending.popleft().result()
            for i in itertools.islice(indices, 1):
                pending.append(pool.submit(get, int(i)))
            yield batch
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
