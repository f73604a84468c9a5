"""`fit(steps_per_epoch=...)` carries on through the data across epochs, as Keras 3's epoch
iterator does, with Keras as the oracle.

Measured in Keras 3 (10 batches, `steps_per_epoch=3`): epochs train on batches 0-2, 3-5, 6-8,
then only batch 9 (the epoch that reaches the end of the data is cut short, with a "ran out of
data" warning), then 0-2 of a new pass (reshuffled when shuffling). The data are built so the
weights tell which batches an epoch trained on: feature `b` is 1 only in the samples of batch
`b`, so SGD changes kernel row `b` only when batch `b` is trained on.
"""

import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")

import chex  # noqa: E402
import jax  # noqa: E402
from keras_oracle import keras  # noqa: E402  (the oracle tests skip without Keras)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import kerasx  # noqa: E402
from kerasx import layers  # noqa: E402
from kerasx.callbacks import BackupAndRestore, Callback  # noqa: E402
from kerasx.training._data import epoch_window  # noqa: E402
from training_support import assert_weights_equal  # noqa: E402

BATCHES, BS, EXTRA = 10, 4, 2
RNG = np.random.default_rng(2)


def batch_coded_data(per_sample=False):
    """Samples whose first features one-hot code their batch (or, with `per_sample`, the
    sample itself), then `EXTRA` random features; random targets."""
    n = BATCHES * BS
    code = np.arange(n) if per_sample else np.arange(n) // BS
    onehot = np.zeros((n, code.max() + 1), "float32")
    onehot[np.arange(n), code] = 1.0
    x = np.concatenate([onehot, RNG.normal(size=(n, EXTRA)).astype("float32")], axis=1)
    y = RNG.normal(size=(n, 1)).astype("float32")
    return x, y


X, Y = batch_coded_data()


def seen_rows(before, after, rows):
    """The one-hot rows of the kernel that an epoch changed: the batches it trained on."""
    return [int(i) for i in np.nonzero(np.abs(after[0][:rows, 0] - before[0][:rows, 0]) > 0)[0]]


def epoch_weights_recorder(base):
    class EpochWeights(base):
        def on_train_begin(self, logs=None):
            self.weights = [[np.array(w) for w in self.model.get_weights()]]

        def on_epoch_end(self, epoch, logs=None):
            self.weights.append([np.array(w) for w in self.model.get_weights()])

    return EpochWeights()


def fit_keras(x, y, epochs=5, steps_per_epoch=3, shuffle=False, initial=None):
    model = keras.Sequential([keras.Input((x.shape[1],)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    if initial is not None:
        model.set_weights(initial)
    rec = epoch_weights_recorder(keras.callbacks.Callback)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Your input ran out of data")
        model.fit(x, y, batch_size=BS, epochs=epochs, steps_per_epoch=steps_per_epoch,
                  shuffle=shuffle, verbose=0, callbacks=[rec])
    return rec.weights


def fit_ours(x, y, epochs=5, steps_per_epoch=3, shuffle=False, initial=None, **compile_kw):
    model = kerasx.Sequential([layers.Input((x.shape[1],)), layers.Dense(1)])
    model.compile(optimizer=kerasx.optimizers.SGD(0.1), loss="mse", **compile_kw)
    if initial is not None:
        model.set_weights(initial)
    rec = epoch_weights_recorder(Callback)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "steps_per_epoch=3 does not divide")
        model.fit(x, y, batch_size=BS, epochs=epochs, steps_per_epoch=steps_per_epoch,
                  shuffle=shuffle, verbose=0, callbacks=[rec])
    return rec.weights


@pytest.fixture(scope="module")
def keras_run():
    initial = [RNG.normal(size=(BATCHES + EXTRA, 1)).astype("float32") * 0.1,
               np.zeros((1,), "float32")]
    return initial, fit_keras(X, Y, initial=initial)


@pytest.mark.parametrize("compile_kw", [
    {}, {"data_on_device": False}, {"steps_per_execution": 2}, {"loop_steps": False},
], ids=["resident", "streamed", "spe2", "host_steps"])
def test_epochs_carry_on_through_the_data_as_in_keras(keras_run, compile_kw):
    initial, theirs = keras_run
    ours = fit_ours(X, Y, initial=initial, **compile_kw)
    expected = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9], [0, 1, 2]]
    assert [seen_rows(a, b, BATCHES) for a, b in zip(theirs, theirs[1:])] == expected
    assert [seen_rows(a, b, BATCHES) for a, b in zip(ours, ours[1:])] == expected
    for epoch, (u, v) in enumerate(zip(ours[1:], theirs[1:])):
        for a, b in zip(u, v):
            np.testing.assert_allclose(a, b, atol=1e-5, err_msg=f"after epoch {epoch}")


def test_a_short_epoch_warns_once_and_history_keeps_every_epoch():
    model = kerasx.Sequential([layers.Input((X.shape[1],)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.warns(UserWarning, match=r"steps_per_epoch=3 does not divide the 10 batches") \
            as rec:
        history = model.fit(X, Y, batch_size=BS, epochs=9, steps_per_epoch=3, verbose=0,
                            shuffle=False)
    assert len([w for w in rec if "does not divide" in str(w.message)]) == 1
    assert rec[0].filename == __file__
    assert history.epoch == list(range(9))
    assert model.optimizer.iterations == 3 + 3 + 3 + 1 + 3 + 3 + 3 + 1 + 3


def test_shuffled_epochs_make_passes_and_each_pass_is_reshuffled():
    # One-hot code per sample: the kernel rows an epoch changed are the samples it saw. As in
    # Keras, the 4 epochs of a pass see every sample once, and the next pass is a new order.
    x, y = batch_coded_data(per_sample=True)
    n = BATCHES * BS
    for weights in (fit_keras(x, y, shuffle=True), fit_ours(x, y, shuffle=True)):
        seen = [seen_rows(a, b, n) for a, b in zip(weights, weights[1:])]
        assert [len(s) for s in seen] == [12, 12, 12, 4, 12]
        assert sorted(sum(seen[:4], [])) == list(range(n))
        assert seen[4] != seen[0]


def test_a_list_of_batches_carries_on_like_a_keras_py_dataset():
    items = [(X[i:i + BS], Y[i:i + BS]) for i in range(0, BATCHES * BS, BS)]

    class Batches(keras.utils.PyDataset):
        def __len__(self):
            return BATCHES

        def __getitem__(self, i):
            return items[i]

    expected = [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9], [0, 1, 2]]
    keras_model = keras.Sequential([keras.Input((X.shape[1],)), keras.layers.Dense(1)])
    keras_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    rec = epoch_weights_recorder(keras.callbacks.Callback)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Your input ran out of data")
        keras_model.fit(Batches(), epochs=5, steps_per_epoch=3, shuffle=False, verbose=0,
                        callbacks=[rec])
    assert [seen_rows(a, b, BATCHES) for a, b in zip(rec.weights, rec.weights[1:])] == expected

    model = kerasx.Sequential([layers.Input((X.shape[1],)), layers.Dense(1)])
    model.compile(optimizer=kerasx.optimizers.SGD(0.1), loss="mse")
    model.set_weights(rec.weights[0])
    ours = epoch_weights_recorder(Callback)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "steps_per_epoch=3 does not divide")
        model.fit(items, epochs=5, steps_per_epoch=3, verbose=0, callbacks=[ours])
    assert [seen_rows(a, b, BATCHES) for a, b in zip(ours.weights, ours.weights[1:])] == expected
    for u, v in zip(ours.weights[1:], rec.weights[1:]):
        for a, b in zip(u, v):
            np.testing.assert_allclose(a, b, atol=1e-5)


def test_epochs_carry_on_from_the_fit_s_first_epoch():
    # Keras starts a fit at the first batch whatever its `initial_epoch`.
    initial = [np.zeros((BATCHES + EXTRA, 1), "float32"), np.zeros((1,), "float32")]
    model = kerasx.Sequential([layers.Input((X.shape[1],)), layers.Dense(1)])
    model.compile(optimizer=kerasx.optimizers.SGD(0.1), loss="mse")
    model.set_weights(initial)
    rec = epoch_weights_recorder(Callback)
    model.fit(X, Y, batch_size=BS, epochs=4, initial_epoch=2, steps_per_epoch=3, verbose=0,
              shuffle=False, callbacks=[rec])
    assert [seen_rows(a, b, BATCHES) for a, b in zip(rec.weights, rec.weights[1:])] == \
        [[0, 1, 2], [3, 4, 5]]


def test_epoch_window():
    assert [epoch_window(10, 3, e) for e in range(6)] == [
        (0, 0, 3), (0, 3, 3), (0, 6, 3), (0, 9, 1), (1, 0, 3), (1, 3, 3)]
    assert [epoch_window(10, None, e) for e in range(2)] == [(0, 0, 10), (1, 0, 10)]
    assert [epoch_window(4, 9, e) for e in range(2)] == [(0, 0, 4), (1, 0, 4)]
    assert epoch_window(None, 3, 5) == (5, 0, 3)  # a generator of unknown length counts on
    assert epoch_window(None, None, 5) == (5, 0, None)


@pytest.mark.filterwarnings("ignore:steps_per_epoch=3 does not divide")
@pytest.mark.parametrize("on_device", [True, False])
def test_one_compile_for_all_the_windows(on_device):
    """Every window of steps_per_epoch runs one compiled program: any run length over resident
    data; streamed chunks compile once per execution length."""
    chex.clear_trace_counter()
    model = kerasx.Sequential([layers.Input((X.shape[1],)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", data_on_device=on_device)
    model.fit(X, Y, batch_size=BS, verbose=0)  # builds the trainer
    t = model._trainer
    execution, traces = t._make_train_exec(t.optimizer), []

    def traced(*args):  # Python runs when JAX traces
        traces.append(True)
        return execution(*args)

    spes = ("auto", 1, 2)
    t._train_exec = jax.jit(chex.assert_max_traces(traced, n=1 if on_device else len(spes)))
    for spe in spes:
        t.steps_per_execution = spe
        model.fit(X, Y, batch_size=BS, epochs=5, steps_per_epoch=3, verbose=0)
    # fit ran the watched execution, compiled once for every window
    assert traces == [True] * (1 if on_device else len(spes))
    # 10 batches, then 3 fits of 5 windows: 0-2, 3-5, 6-8, 9 (the end of the data), 0-2
    assert model.optimizer.iterations == 10 + 3 * (3 + 3 + 3 + 1 + 3)


class KillAt(Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise KeyboardInterrupt("killed")


def dropout_model():
    model = kerasx.Sequential([layers.Input((X.shape[1],)), layers.Dense(8, activation="relu"),
                               layers.Dropout(0.25), layers.Dense(1)])
    model.compile(optimizer=kerasx.optimizers.Adam(0.01), loss="mse")
    return model


@pytest.mark.filterwarnings("ignore:steps_per_epoch=3 does not divide")
def test_a_resumed_fit_lands_at_the_same_data_position(tmp_path, kill_at=3):
    # Killed before the short epoch (3), shuffled, with dropout: the resumed run reads the same
    # batches in the same order (batch 9 of the first pass, then a new pass) and ends with the
    # very weights of an uninterrupted run.
    fit = dict(batch_size=BS, epochs=6, steps_per_epoch=3, verbose=0)
    kerasx.utils.set_random_seed(4)
    model = dropout_model()
    model.fit(X, Y, **fit)
    reference = model.get_weights()

    backup = str(tmp_path / "backup")
    kerasx.utils.set_random_seed(4)
    model = dropout_model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, callbacks=[BackupAndRestore(backup), KillAt(kill_at)], **fit)
    kerasx.utils.set_random_seed(77)
    model = dropout_model()
    history = model.fit(X, Y, callbacks=[BackupAndRestore(backup)], **fit)
    assert history.epoch == list(range(kill_at, 6))
    assert_weights_equal(model.get_weights(), reference)
