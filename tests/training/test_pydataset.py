"""PyDataset (keras.utils.PyDataset / Sequence) through fit, evaluate and predict."""

import math
import threading
import time
import warnings

import numpy as np
import pytest

import kerasx
from kerasx.utils import PyDataset

from keras_oracle import keras  # imported by the oracle tests only: they skip without Keras

RNG = np.random.default_rng(0)
X = RNG.normal(size=(50, 4)).astype("float32")  # 50 = 6 full batches of 8 + a partial one
Y = RNG.normal(size=(50, 2)).astype("float32")


class Batches(PyDataset):
    """Batches of arrays; records which indices were asked for, and on which thread."""

    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size
        self.calls, self.threads, self.events = [], [], []

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, idx):
        self.calls.append(idx)
        self.threads.append(threading.get_ident())
        lo = idx * self.batch_size
        if self.y is None:
            return self.x[lo:lo + self.batch_size]
        return self.x[lo:lo + self.batch_size], self.y[lo:lo + self.batch_size]

    def on_epoch_begin(self):
        self.events.append("begin")

    def on_epoch_end(self):
        self.events.append("end")


class PlainBatches(PyDataset):
    """A picklable dataset (module level, no locks) for the process workers."""

    def __init__(self, x, y, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.batch_size = x, y, batch_size

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, idx):
        lo = idx * self.batch_size
        return self.x[lo:lo + self.batch_size], self.y[lo:lo + self.batch_size]


def mlp(lib=kerasx):
    return lib.Sequential([lib.layers.Input((4,)), lib.layers.Dense(3, activation="relu"),
                           lib.layers.Dense(2)])


def pair(weights=None):
    a, b = mlp(), mlp()
    b.set_weights(a.get_weights())
    for m in (a, b):
        m.compile(optimizer=kerasx.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    return a, b


def assert_same_weights(a, b, atol=1e-6):
    for u, v in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=atol)


def test_sequence_is_pydataset():
    assert kerasx.utils.Sequence is PyDataset


def test_workers_2_fit_matches_arrays():
    ds = Batches(X, Y, 8, workers=2)
    a, b = pair()
    h1 = a.fit(ds, epochs=3, shuffle=False, verbose=0)
    h2 = b.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    for k in h2.history:
        np.testing.assert_allclose(h1.history[k], h2.history[k], rtol=1e-5, err_msg=k)
    assert h1.history["loss"][-1] < h1.history["loss"][0]  # it trains
    assert_same_weights(a, b)
    # ds[0] once to build the model, then each batch once per epoch (the equal weights show
    # that they were consumed in order).
    assert ds.calls[0] == 0 and sorted(ds.calls[1:]) == sorted(list(range(7)) * 3)
    # Only the build's ds[0] ran on this thread; the epochs' batches loaded in the pool.
    assert ds.threads.count(threading.get_ident()) == 1 and len(set(ds.threads)) >= 2
    assert ds.events == ["begin", "end"] * 3
    np.testing.assert_allclose(a.evaluate(ds, verbose=0), b.evaluate(X, Y, batch_size=8, verbose=0),
                               rtol=1e-6)
    np.testing.assert_allclose(a.predict(Batches(X, None, 8, workers=2), verbose=0),
                               b.predict(X, batch_size=8, verbose=0), rtol=1e-6, atol=1e-6)


def test_fit_matches_keras_on_the_same_pydataset():
    """Keras 3 fits the same PyDataset (its own class, same batches) to the same weights."""
    class KerasBatches(keras.utils.PyDataset):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)

        def __len__(self):
            return 7

        def __getitem__(self, idx):
            return X[idx * 8:(idx + 1) * 8], Y[idx * 8:(idx + 1) * 8]

    kx = mlp()
    kr = mlp(keras)
    kr.set_weights(kx.get_weights())
    kx.compile(optimizer=kerasx.optimizers.SGD(0.1), loss="mse")
    kr.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    h1 = kx.fit(Batches(X, Y, 8, workers=2), epochs=2, shuffle=False, verbose=0)
    # (Keras's own workers=2 enqueuer gives a slightly different first epoch; its in-order
    # loading is the reference.)
    h2 = kr.fit(KerasBatches(), epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-4)
    for u, v in zip(kx.get_weights(), kr.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5)


def test_shuffle_permutes_batch_order_each_epoch():
    ds = Batches(X, Y, 8)
    model, _ = pair()
    model.fit(ds, epochs=3, verbose=0)  # shuffle=True by default, as in Keras
    epochs = [ds.calls[1 + i * 7:1 + (i + 1) * 7] for i in range(3)]  # after ds[0] (build)
    assert all(sorted(e) == list(range(7)) for e in epochs)
    assert any(e != list(range(7)) for e in epochs)  # P(all 3 in order) = (1/7!)^3
    assert len({tuple(e) for e in epochs}) > 1


def test_loading_overlaps_in_a_thread_pool():
    """Slow batches load concurrently (`workers=4`), up to `max_queue_size` ahead."""
    class Slow(Batches):
        def __getitem__(self, idx):
            with self.lock:
                self.active += 1
                self.peak = max(self.peak, self.active)
            time.sleep(0.05)
            with self.lock:
                self.active -= 1
            return super().__getitem__(idx)

    ds = Slow(X, Y, 4, workers=4, max_queue_size=8)  # 13 batches
    ds.lock, ds.active, ds.peak = threading.Lock(), 0, 0
    start = time.perf_counter()
    batches = list(ds)
    elapsed = time.perf_counter() - start
    assert len(batches) == 13
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), X)  # in order
    assert ds.peak >= 2
    assert elapsed < 13 * 0.05  # serial loading would take 0.65 s


@pytest.mark.slow  # starting two spawned Python processes takes seconds
def test_use_multiprocessing_fit_matches_arrays():
    ds = PlainBatches(X, Y, 8, workers=2, use_multiprocessing=True)
    a, b = pair()
    a.fit(ds, epochs=1, shuffle=False, verbose=0)
    b.fit(X, Y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    assert_same_weights(a, b)


def test_endless_dataset_with_steps_per_epoch():
    class Endless(PyDataset):
        def __init__(self):
            super().__init__()
            self.calls = []

        @property
        def num_batches(self):
            return None

        def __getitem__(self, idx):
            self.calls.append(idx)
            i = idx % 7
            return X[i * 8:(i + 1) * 8], Y[i * 8:(i + 1) * 8]

    ds = Endless()
    model, _ = pair()
    history = model.fit(ds, epochs=2, steps_per_epoch=3, verbose=0)
    assert len(history.history["loss"]) == 2
    assert ds.calls[-6:] == list(range(6))  # the second epoch carries on from batch 3


def test_sample_weights_from_batches():
    class Weighted(Batches):
        def __getitem__(self, idx):
            x, y = super().__getitem__(idx)
            return x, y, np.full(len(x), 2.0, "float32")

    a, b = pair()
    a.fit(Weighted(X, Y, 8), epochs=1, shuffle=False, verbose=0)
    b.fit(X, Y, sample_weight=np.full(50, 2.0, "float32"), batch_size=8, epochs=1, shuffle=False,
          verbose=0)
    assert_same_weights(a, b)


def test_errors():
    model, _ = pair()
    ds = Batches(X, Y, 8)
    with pytest.raises(ValueError, match="PyDataset.*`y`.*Received: y"):
        model.fit(ds, Y, verbose=0)

    class Bad(Batches):
        def __getitem__(self, idx):
            return "not a batch"

    with pytest.raises(ValueError, match=r"__getitem__\(\) must return a tuple or a dict.*str"):
        model.fit(Bad(X, Y, 8), verbose=0)
    with pytest.raises(ValueError, match="`workers`.*Received: workers=-1"):
        model.fit(Batches(X, Y, 8, workers=-1), verbose=0)
    with pytest.raises(ValueError, match="`max_queue_size`.*Received: max_queue_size=0"):
        model.fit(Batches(X, Y, 8, workers=2, max_queue_size=0), verbose=0)

    class Empty(Batches):
        def __len__(self):
            return 0

    with pytest.raises(ValueError, match="no batches: num_batches=0"):
        model.fit(Empty(X, Y, 8), verbose=0)

    class NoLen(PyDataset):
        def __getitem__(self, idx):
            return X[:8], Y[:8]

    with pytest.raises(NotImplementedError, match="`__len__` or the `num_batches` property"):
        NoLen().num_batches
    with pytest.raises(NotImplementedError, match="must implement `__getitem__"):
        PyDataset()[0]


def test_warns_when_super_init_is_not_called():
    class NoSuper(PyDataset):
        def __init__(self):
            pass

        def __len__(self):
            return 1

        def __getitem__(self, idx):
            return X[:8], Y[:8]

    with pytest.warns(UserWarning, match=r"should call `super\(\).__init__\(\*\*kwargs\)`"):
        assert NoSuper().workers == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Batches(X, Y, 8).workers == 1


@pytest.mark.parametrize("source", ["pydataset", "generator"])
def test_class_weight_applies_batch_by_batch_like_arrays(source):
    labels = (X[:, 0] > 0).astype("int32")
    batches = [(X[i:i + 8], labels[i:i + 8]) for i in range(0, 50, 8)]
    data = Batches(X, labels, 8, workers=2) if source == "pydataset" else batches
    models = []
    for x, y in ((data, None), (X, labels)):
        kerasx.utils.set_random_seed(3)
        model = kerasx.Sequential([kerasx.layers.Input((4,)), kerasx.layers.Dense(2)])
        model.compile(optimizer=kerasx.optimizers.SGD(0.1),
                      loss="sparse_categorical_crossentropy")
        kwargs = {} if y is None else {"batch_size": 8}
        model.fit(x, y, epochs=2, shuffle=False, verbose=0, class_weight={0: 0.25, 1: 3.0},
                  **kwargs)
        models.append(model)
    assert_same_weights(*models)
    with pytest.raises(ValueError, match="no weight for classes \\[1\\]"):
        models[0].fit(data, epochs=1, verbose=0, class_weight={0: 1.0})
