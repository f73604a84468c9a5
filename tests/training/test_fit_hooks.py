"""The order of callback hooks in a real `fit`, `evaluate` and `predict`, with Keras 3 as the
oracle: the same recording callback, written once against each framework's `Callback`, runs in
the same program in both, and the recorded `(hook, batch or epoch, logs keys)` sequences must be
equal. Validation inside `fit` runs Keras's test hooks (`evaluate(callbacks=<fit's list>)`).
"""

import os
import re

os.environ.setdefault("KERAS_BACKEND", "jax")

from keras_oracle import keras  # noqa: E402  (the oracle tests skip without Keras)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import kerasx  # noqa: E402
from kerasx import layers  # noqa: E402

RNG = np.random.default_rng(5)
X = RNG.normal(size=(16, 3)).astype("float32")
Y = RNG.normal(size=(16, 2)).astype("float32")
VX = RNG.normal(size=(8, 3)).astype("float32")
VY = RNG.normal(size=(8, 2)).astype("float32")

HOOKS = [
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end",
    "on_test_begin", "on_test_end", "on_test_batch_begin", "on_test_batch_end",
    "on_predict_begin", "on_predict_end", "on_predict_batch_begin", "on_predict_batch_end",
]  # fmt: skip


def recorder_class(base):
    """A callback class on `base` (keras's or kerasx's `Callback`) that records every hook as
    `(hook, batch or epoch or None, sorted logs keys)`, and the whole logs of the epoch and
    test ends."""

    class Recorder(base):
        def __init__(self):
            super().__init__()
            self.calls, self.logs = [], []

    def make(name):
        def hook(self, *args, **kwargs):
            # Both frameworks pass batch logs by keyword and the others' logs by position.
            index = args[0] if args and isinstance(args[0], int) else None
            logs = kwargs.get("logs", args[-1] if args and isinstance(args[-1], dict) else None)
            self.calls.append((name, index, tuple(sorted(logs or {}))))
            if name in ("on_epoch_end", "on_test_end", "on_train_end"):
                self.logs.append((name, {k: float(v) for k, v in (logs or {}).items()}))
            getattr(base, name)(self, *args, **kwargs)  # keeps on_train_batch_* -> on_batch_*

        return hook

    for name in HOOKS:
        setattr(Recorder, name, make(name))
    return Recorder


_keras_recorder = []


def KerasRecorder():  # noqa: N802  (used as the class it makes, once Keras is imported)
    """A recorder on Keras's `Callback`: the class is made on first use, so this module's
    kerasx-only tests run without Keras."""
    if not _keras_recorder:
        _keras_recorder.append(recorder_class(keras.callbacks.Callback))
    return _keras_recorder[0]()


OurRecorder = recorder_class(kerasx.callbacks.Callback)


def keras_model(spe=1):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"], steps_per_execution=spe)
    return model


def our_model(spe="auto"):
    model = kerasx.Sequential([layers.Input((3,)), layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"], steps_per_execution=spe)
    return model


def both(run, spe=1, ours_spe=None):
    """Runs `run(model, recorder)` in Keras and kerasx; returns the two recorders. kerasx's
    "auto" execution length runs one batch per call for a callback with batch hooks, which is
    Keras's default of 1."""
    theirs, ours = KerasRecorder(), OurRecorder()
    run(keras_model(spe), theirs)
    run(our_model(ours_spe if ours_spe is not None else ("auto" if spe == 1 else spe)), ours)
    return theirs, ours


FIT_CASES = {
    "validation_data": dict(epochs=2, batch_size=8, validation_data=(VX, VY),
                            validation_batch_size=4),
    "validation_split": dict(epochs=1, batch_size=4, validation_split=0.25),
    "validation_freq_2": dict(epochs=3, batch_size=8, validation_data=(VX, VY), validation_freq=2),
    "validation_steps": dict(epochs=2, batch_size=8, validation_data=(VX, VY),
                             validation_batch_size=4, validation_steps=1),
    "no_validation": dict(epochs=2, batch_size=8),
}


@pytest.mark.parametrize("case", sorted(FIT_CASES))
def test_fit_calls_the_hooks_in_keras_order(case):
    kwargs = FIT_CASES[case]
    theirs, ours = both(lambda m, r: m.fit(X, Y, verbose=0, callbacks=[r], shuffle=False,
                                           **kwargs))
    assert ours.calls == theirs.calls
    if "validation" in "".join(kwargs):
        assert ("on_test_begin", None, ()) in ours.calls


def last_batch_clipped(calls, batches):
    """Keras's calls with the `end` index of a partial last execution clipped to the last real
    batch: Keras reports `begin + steps_per_execution - 1` even when the data ends sooner (2
    validation batches in an execution of 4 end at "batch 3"); kerasx reports the last batch the
    execution ran (as its `evaluate` and `predict` always have)."""
    def kind(name):  # on_batch_end is the legacy alias of on_train_batch_end
        return {"batch": "train"}.get(name.split("_")[1], name.split("_")[1])

    return [(name, min(i, batches[kind(name)] - 1) if name.endswith("batch_end") else i, keys)
            for name, i, keys in calls]


@pytest.mark.parametrize("spe", [2, 4])
def test_fit_with_an_integer_steps_per_execution_calls_the_hooks_in_keras_order(spe):
    # 4 train batches and 2 validation batches: Keras and kerasx both run executions of `spe`
    # batches (`begin` is the execution's first batch, `end` its last), validation included.
    theirs, ours = both(lambda m, r: m.fit(X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[r],
                                           validation_data=(VX, VY), shuffle=False), spe=spe)
    if spe == 2:
        assert ours.calls == theirs.calls
    else:
        assert ours.calls != theirs.calls  # the oracle still tells the two index rules apart
        assert ours.calls == last_batch_clipped(theirs.calls, {"train": 4, "test": 2})
    assert ("on_test_batch_end", 1, ("loss", "mae")) in ours.calls


def test_validation_test_end_logs_are_the_val_metrics_without_prefix():
    ours = OurRecorder()
    history = our_model().fit(X, Y, batch_size=8, epochs=3, verbose=0, callbacks=[ours],
                              validation_data=(VX, VY), validation_freq=2)
    ends = [logs for name, logs in ours.logs if name in ("on_test_end", "on_epoch_end")]
    # epoch 0 (no validation), then epoch 1's test end and epoch end, then epoch 2
    assert [sorted(logs) for logs in ends] == [
        ["loss", "mae"], ["loss", "mae"], ["loss", "mae", "val_loss", "val_mae"], ["loss", "mae"]]
    assert ends[1] == {"loss": ends[2]["val_loss"], "mae": ends[2]["val_mae"]}
    assert history.history["val_loss"] == [ends[2]["val_loss"]]


def test_validation_test_hooks_see_evaluate_s_batches_in_whole_epoch_executions():
    # A callback with test batch hooks only: training keeps its whole-epoch executions, and
    # validation runs one batch per call so the hooks see every batch, as `evaluate` does.
    class TestBatches(kerasx.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.train, self.test = [], []

        def on_test_batch_end(self, batch, logs=None):
            self.test.append(batch)

        def on_epoch_end(self, epoch, logs=None):
            self.train.append(epoch)

    cb = TestBatches()
    our_model().fit(X, Y, batch_size=4, epochs=2, verbose=0, callbacks=[cb],
                    validation_data=(VX, VY))
    assert cb.test == [0, 1, 0, 1] and cb.train == [0, 1]


def normalized(text):
    """Progress output with the numbers and timings blanked."""
    text = re.sub(r"\d+(\.\d+)?(e[+-]?\d+)?(ms|us|s)?(/step)?", "#", text)
    return [line for line in text.splitlines() if line.strip()]


def test_progress_bar_stays_silent_during_validation_as_in_keras(capsys):
    theirs, ours = KerasRecorder(), OurRecorder()
    fit = dict(batch_size=8, epochs=2, verbose=2, validation_data=(VX, VY), shuffle=False)
    keras_model().fit(X, Y, callbacks=[theirs], **fit)
    keras_out = capsys.readouterr().out
    our_model().fit(X, Y, callbacks=[ours], **fit)
    our_out = capsys.readouterr().out
    assert ours.calls == theirs.calls
    assert normalized(our_out) == normalized(keras_out)
    assert len(normalized(our_out)) == 4  # "Epoch i/2" and one line per epoch, val_ metrics in it


@pytest.mark.parametrize("spe", [1, 2])
def test_evaluate_calls_the_hooks_in_keras_order(spe):
    theirs, ours = both(lambda m, r: m.evaluate(X, Y, batch_size=4, verbose=0, callbacks=[r]),
                        spe=spe)
    assert ours.calls == theirs.calls
    assert ours.logs[-1][0] == "on_test_end" and sorted(ours.logs[-1][1]) == ["loss", "mae"]


@pytest.mark.parametrize("spe", [1, 2])
def test_predict_calls_the_hooks_in_keras_order(spe):
    # kerasx's `predict` takes `steps_per_execution` as an argument (Keras's comes from compile)
    def run(model, recorder):
        if isinstance(model, keras.Model):
            model.predict(X, batch_size=4, verbose=0, callbacks=[recorder])
        else:
            model.predict(X, batch_size=4, verbose=0, callbacks=[recorder],
                          steps_per_execution=spe)

    theirs, ours = both(run, spe=spe)
    assert ours.calls == theirs.calls
