"""Models used from several threads: one build, and no reads of donated buffers during fit."""

import pickle
import threading
import time

import numpy as np
import pytest

import kerasx
from kerasx import layers
from kerasx.models._model import Model
from kerasx.training import _trainer


def test_threads_predicting_on_an_unbuilt_model_build_it_once(monkeypatch):
    builds = []
    real = Model._init_from_spec

    def slow_build(self, *args, **kwargs):  # widens the window in which threads can race
        builds.append(threading.get_ident())
        time.sleep(0.05)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Model, "_init_from_spec", slow_build)
    model = kerasx.Sequential([layers.Dense(8, activation="relu"), layers.Dense(2)])
    x = np.random.default_rng(0).random((16, 5), dtype=np.float32)
    results, errors = [None] * 4, []

    def run(i):
        try:
            results[i] = model.predict(x, verbose=0)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(builds) == 1  # one set of random weights, not one per thread
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    np.testing.assert_array_equal(results[0], model.predict(x, verbose=0))


def test_reads_from_another_thread_during_fit_never_see_donated_buffers(monkeypatch, tmp_path):
    """With buffer donation on (as on accelerators; forced here on the CPU), predict,
    get_weights, a layer's weight and save run from another thread while fit trains one step
    per execution: every read works and sees real weights."""
    monkeypatch.setattr(_trainer, "_donate", lambda: (0,))
    kerasx.utils.set_random_seed(0)
    model = kerasx.Sequential([layers.Input((8,)), layers.Dense(16, activation="relu"),
                               layers.Dense(1)])
    model.compile("adam", "mse", steps_per_execution=1)
    rng = np.random.default_rng(1)
    x = rng.random((512, 8), dtype=np.float32)
    y = x.sum(axis=1, keepdims=True)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    errors, done, reads = [], threading.Event(), [0]

    def stop_after_three_reads(epoch, logs):  # the training outlasts the reads, however slow
        if reads[0] >= 3:
            model.stop_training = True

    def train():
        try:
            model.fit(x, y, batch_size=8, epochs=10_000, verbose=0, callbacks=[
                kerasx.callbacks.LambdaCallback(on_epoch_end=stop_after_three_reads)])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            done.set()

    thread = threading.Thread(target=train)
    thread.start()
    path = str(tmp_path / "during_fit.kerasx")
    while not done.is_set():
        try:
            weights = model.get_weights()
            assert all(np.isfinite(w).all() for w in weights)
            assert model.predict(x[:4], verbose=0).shape == (4, 1)
            assert model.layers[0].kernel.numpy().shape == (8, 16)
            model.save(path)
            reads[0] += 1
        except Exception as e:
            errors.append(e)
            break
    thread.join()
    assert not errors, errors
    assert reads[0] >= 3
    loaded = kerasx.models.load_model(path)  # a save from during the fit is a whole model
    assert loaded.predict(x[:4], verbose=0).shape == (4, 1)
    # the model keeps training afterwards from weights that were never deleted
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)


@pytest.mark.parametrize("compiled", [False, True])
def test_an_unbuilt_model_pickles_and_deep_copies(compiled):
    import copy

    model = kerasx.Sequential([layers.Dense(4, activation="relu"), layers.Dense(1)])
    if compiled:
        model.compile(optimizer="adam", loss="mse")
    for clone in (pickle.loads(pickle.dumps(model)), copy.deepcopy(model)):
        assert not clone.built
        assert [type(l).__name__ for l in clone.layers] == ["Dense", "Dense"]
        assert clone.layers[0] is not model.layers[0]
        assert clone.layers[0].units == 4
        if compiled:
            x = np.ones((8, 3), np.float32)
            clone.fit(x, np.ones((8, 1), np.float32), verbose=0)
            assert clone.built and not model.built  # the copy trains on its own
        else:
            with pytest.raises(RuntimeError, match="compile"):
                clone.fit(np.ones((8, 3), np.float32), np.ones((8, 1), np.float32), verbose=0)
