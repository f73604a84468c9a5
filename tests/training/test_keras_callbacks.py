"""Keras's built-in callbacks: behaviour through a real `fit`, and Keras 3 as the oracle.

EarlyStopping, ReduceLROnPlateau, LearningRateScheduler, CSVLogger, TerminateOnNaN and
LambdaCallback. Where a test needs a known sequence of monitored values, a `ScoreFeeder`
callback placed first writes them into the epoch logs (every callback gets the same dict).
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

from keras_oracle import keras  # noqa: E402  (the oracle tests skip without Keras)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import kerasx  # noqa: E402
from kerasx import layers  # noqa: E402
from kerasx.callbacks import (  # noqa: E402
    CSVLogger,
    EarlyStopping,
    LambdaCallback,
    LearningRateScheduler,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from kerasx.training.callbacks import overrides_batch_hooks  # noqa: E402
from training_support import ScoreFeeder, WeightRecorder, assert_weights_equal  # noqa: E402

RNG = np.random.default_rng(7)
X = RNG.normal(size=(40, 4)).astype("float32")
Y = RNG.integers(0, 3, 40)
VX = RNG.normal(size=(20, 4)).astype("float32")
VY = RNG.integers(0, 3, 20)


def small_model(lr=0.1):
    model = kerasx.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=kerasx.optimizers.SGD(lr), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def weights_differ(a, b):
    return any(not np.array_equal(np.asarray(u), np.asarray(v)) for u, v in zip(a, b))


# ---------------------------------------------------------------------------
# EarlyStopping through fit
# ---------------------------------------------------------------------------


def test_early_stopping_stops_at_the_right_epoch_and_restores_the_best_weights():
    model = small_model()
    recorder = WeightRecorder()
    stopper = EarlyStopping(monitor="score", mode="min", patience=2, restore_best_weights=True)
    scores = [3.0, 2.0, 1.0, 1.5, 1.2, 0.5, 0.4, 0.3]
    history = model.fit(X, Y, epochs=len(scores), batch_size=10, verbose=0,
                        callbacks=[ScoreFeeder(scores), recorder, stopper])
    # best at epoch 2, then two epochs without improvement: stops after epoch 4
    assert history.epoch == [0, 1, 2, 3, 4]
    assert stopper.stopped_epoch == 4
    assert stopper.best == 1.0 and stopper.best_epoch == 2
    assert weights_differ(recorder.weights[2], recorder.weights[4])  # training went on
    assert_weights_equal(model.get_weights(), recorder.weights[2])
    # the stored copy is NumPy, not references to the model's (donated) buffers
    assert all(isinstance(w, np.ndarray) for w in stopper.best_weights)


def test_early_stopping_restores_the_best_weights_even_without_stopping():
    # Keras 3 restores at the end of training whenever it kept best weights.
    model = small_model()
    recorder = WeightRecorder()
    stopper = EarlyStopping(monitor="score", mode="min", patience=10, restore_best_weights=True)
    history = model.fit(X, Y, epochs=4, batch_size=10, verbose=0,
                        callbacks=[ScoreFeeder([3.0, 1.0, 2.0, 2.5]), recorder, stopper])
    assert len(history.epoch) == 4 and stopper.stopped_epoch == 0
    assert_weights_equal(model.get_weights(), recorder.weights[1])


def test_early_stopping_without_restore_keeps_the_last_weights():
    model = small_model()
    recorder = WeightRecorder()
    model.fit(X, Y, epochs=4, batch_size=10, verbose=0,
              callbacks=[ScoreFeeder([3.0, 1.0, 2.0, 2.5]), recorder,
                         EarlyStopping(monitor="score", mode="min", patience=10)])
    assert_weights_equal(model.get_weights(), recorder.weights[-1])


def test_early_stopping_on_real_val_loss_stops_when_nothing_learns():
    model = small_model(lr=0.0)  # the validation loss cannot change
    stopper = EarlyStopping(patience=2)  # monitor="val_loss", mode auto -> min
    history = model.fit(X, Y, epochs=10, batch_size=10, verbose=0, validation_data=(VX, VY),
                        callbacks=[stopper])
    assert history.epoch == [0, 1, 2]
    assert stopper.stopped_epoch == 2
    assert stopper.best == pytest.approx(history.history["val_loss"][0])


def test_early_stopping_auto_mode_maximizes_accuracy():
    model = small_model()
    stopper = EarlyStopping(monitor="val_accuracy", patience=1)
    model.fit(X, Y, epochs=3, batch_size=10, verbose=0,
              callbacks=[ScoreFeeder([0.2, 0.5, 0.9], key="val_accuracy"), stopper])
    assert stopper.monitor_op is np.greater
    assert stopper.stopped_epoch == 0 and stopper.best == 0.9


def test_early_stopping_warns_with_the_available_keys_when_the_monitor_is_missing():
    model = small_model()
    with pytest.warns(UserWarning, match=r"val_loss.*not available.*accuracy,loss"):
        history = model.fit(X, Y, epochs=2, batch_size=10, verbose=0,
                            callbacks=[EarlyStopping(patience=0)])
    assert len(history.epoch) == 2


def test_auto_mode_that_cannot_decide_raises_an_error_that_teaches():
    model = small_model()
    with pytest.raises(ValueError, match=r"mode='max'"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[EarlyStopping(monitor="weirdness")])
    with pytest.warns(UserWarning, match="unknown"):
        assert EarlyStopping(mode="bigger").mode == "auto"


# ---------------------------------------------------------------------------
# ReduceLROnPlateau and LearningRateScheduler through fit
# ---------------------------------------------------------------------------


def test_reduce_lr_on_plateau_lowers_the_rate_and_history_records_it():
    model = small_model(lr=0.1)
    scores = [1.0, 0.5, 0.5, 0.5, 0.5, 0.5]
    reduce = ReduceLROnPlateau(monitor="score", mode="min", factor=0.5, patience=2, min_lr=0.02)
    history = model.fit(X, Y, epochs=len(scores), batch_size=10, verbose=0,
                        callbacks=[ScoreFeeder(scores), reduce])
    # best at epoch 1; reductions at the end of epochs 3 and 5 (patience 2). The logged rate
    # is the one the epoch trained with (read before reducing), as in Keras.
    np.testing.assert_allclose(history.history["learning_rate"],
                               [0.1, 0.1, 0.1, 0.1, 0.05, 0.05], rtol=1e-6)
    np.testing.assert_allclose(model.optimizer.learning_rate, 0.025, rtol=1e-6)


def test_reduce_lr_on_plateau_stops_at_min_lr():
    model = small_model(lr=0.1)
    reduce = ReduceLROnPlateau(monitor="score", mode="min", factor=0.1, patience=1, min_lr=0.005)
    history = model.fit(X, Y, epochs=5, batch_size=10, verbose=0,
                        callbacks=[ScoreFeeder([1.0] * 5), reduce])
    np.testing.assert_allclose(history.history["learning_rate"],
                               [0.1, 0.1, 0.01, 0.005, 0.005], rtol=1e-6)
    np.testing.assert_allclose(model.optimizer.learning_rate, 0.005, rtol=1e-6)


def test_reduce_lr_on_plateau_rejects_a_factor_of_one_or_more():
    with pytest.raises(ValueError, match=r"factor >= 1.0.*factor=1.5"):
        ReduceLROnPlateau(factor=1.5)
    with pytest.raises(ValueError, match="factor"):
        ReduceLROnPlateau(factor=1.0)


def test_learning_rate_scheduler_sets_the_rate_the_optimizer_uses():
    model = small_model(lr=0.1)
    recorder = WeightRecorder()
    schedule = LearningRateScheduler(lambda epoch, lr: 0.1 if epoch == 0 else 0.0)
    before = model.get_weights()
    history = model.fit(X, Y, epochs=3, batch_size=10, verbose=0,
                        callbacks=[schedule, recorder])
    assert history.history["learning_rate"] == [pytest.approx(0.1), 0.0, 0.0]
    assert model.optimizer.learning_rate == 0.0
    assert weights_differ(before, recorder.weights[0])  # epoch 0 trained
    # with a learning rate of 0 the weights did not move in epochs 1 and 2
    assert_weights_equal(recorder.weights[0], recorder.weights[1])
    assert_weights_equal(recorder.weights[0], model.get_weights())


def test_learning_rate_scheduler_gets_the_current_rate_and_accepts_one_argument():
    model = small_model(lr=0.1)
    seen = []

    def halve(epoch, lr):
        seen.append(lr)
        return lr * 0.5

    history = model.fit(X, Y, epochs=3, batch_size=10, verbose=0,
                        callbacks=[LearningRateScheduler(halve)])
    np.testing.assert_allclose(seen, [0.1, 0.05, 0.025], rtol=1e-6)
    np.testing.assert_allclose(history.history["learning_rate"], [0.05, 0.025, 0.0125], rtol=1e-6)

    history = model.fit(X, Y, epochs=2, batch_size=10, verbose=0,
                        callbacks=[LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))])
    np.testing.assert_allclose(history.history["learning_rate"], [0.01, 0.02], rtol=1e-6)


def test_learning_rate_scheduler_rejects_a_non_float_schedule_output():
    model = small_model()
    with pytest.raises(ValueError, match="should be a float"):
        model.fit(X, Y, epochs=1, verbose=0,
                  callbacks=[LearningRateScheduler(lambda epoch, lr: "fast")])
    with pytest.raises(ValueError, match="schedule"):
        LearningRateScheduler(0.1)


# ---------------------------------------------------------------------------
# CSVLogger
# ---------------------------------------------------------------------------


def read_rows(path):
    with open(path, newline="") as f:
        return f.read().split("\r\n")[:-1]


def test_csv_logger_writes_one_row_per_epoch(tmp_path):
    path = tmp_path / "log.csv"
    model = small_model()
    history = model.fit(X, Y, epochs=3, batch_size=10, verbose=0, validation_data=(VX, VY),
                        callbacks=[CSVLogger(path)])
    rows = read_rows(path)
    assert rows[0] == "epoch,accuracy,loss,val_accuracy,val_loss"
    assert len(rows) == 4
    h = history.history
    for epoch, row in enumerate(rows[1:]):
        cells = row.split(",")
        assert cells[0] == str(epoch)
        assert [float(c) for c in cells[1:]] == [h["accuracy"][epoch], h["loss"][epoch],
                                                  h["val_accuracy"][epoch], h["val_loss"][epoch]]


def test_csv_logger_append_does_not_repeat_the_header(tmp_path):
    path = tmp_path / "log.csv"
    model = small_model()
    model.fit(X, Y, epochs=2, batch_size=10, verbose=0, callbacks=[CSVLogger(path, separator=";")])
    model.fit(X, Y, epochs=1, batch_size=10, verbose=0,
              callbacks=[CSVLogger(path, separator=";", append=True)])
    rows = read_rows(path)
    # without validation, the val_ columns are kept (as NA), like Keras
    assert rows[0] == "epoch;accuracy;loss;val_accuracy;val_loss"
    assert [r.split(";")[0] for r in rows[1:]] == ["0", "1", "0"]
    assert all(r.endswith(";NA;NA") for r in rows[1:])
    # append=False overwrites
    model.fit(X, Y, epochs=1, batch_size=10, verbose=0, callbacks=[CSVLogger(path)])
    assert len(read_rows(path)) == 2
    # append to an empty file writes the header
    path.write_text("")
    model.fit(X, Y, epochs=1, batch_size=10, verbose=0, callbacks=[CSVLogger(path, append=True)])
    assert read_rows(path)[0].startswith("epoch,")


def test_csv_logger_flushes_every_epoch(tmp_path):
    path = tmp_path / "log.csv"
    lines_seen = []
    peek = LambdaCallback(on_epoch_end=lambda epoch, logs: lines_seen.append(len(read_rows(path))))
    small_model().fit(X, Y, epochs=3, batch_size=10, verbose=0, callbacks=[CSVLogger(path), peek])
    assert lines_seen == [2, 3, 4]


# ---------------------------------------------------------------------------
# TerminateOnNaN
# ---------------------------------------------------------------------------


def test_terminate_on_nan_stops_at_the_first_nan_batch(capsys):
    x = X.copy()
    x[20:] = np.nan  # batches 0 and 1 are finite, batch 2 is NaN
    batches = []
    counter = LambdaCallback(on_train_batch_end=lambda batch, logs: batches.append(batch))
    model = small_model()
    history = model.fit(x, Y, epochs=3, batch_size=10, shuffle=False, verbose=0,
                        callbacks=[TerminateOnNaN(), counter])
    assert batches == [0, 1, 2]
    assert len(history.epoch) == 1
    assert "Batch 2: Invalid loss, terminating training" in capsys.readouterr().out

    batches.clear()  # without it, training runs to the end
    small_model().fit(x, Y, epochs=3, batch_size=10, shuffle=False, verbose=0, callbacks=[counter])
    assert batches == [0, 1, 2, 3] * 3


def test_terminate_on_nan_with_a_huge_learning_rate(capsys):
    def regression():
        model = kerasx.Sequential([layers.Input((4,)), layers.Dense(1)])
        model.compile(optimizer=kerasx.optimizers.SGD(1e6), loss="mse")
        return model

    target = X[:, :1] * 3
    model = regression()
    history = model.fit(X, target, epochs=20, batch_size=10, shuffle=False, verbose=0,
                        callbacks=[TerminateOnNaN()])
    assert len(history.epoch) == 1 and not np.isfinite(history.history["loss"][0])
    assert model.optimizer.iterations < 20 * 4  # stopped within the first epoch
    assert "Invalid loss, terminating training" in capsys.readouterr().out
    model = regression()
    assert len(model.fit(X, target, epochs=20, batch_size=10, verbose=0).epoch) == 20


def test_terminate_on_nan_raise_error():
    cb = TerminateOnNaN(raise_error=True)
    cb.on_train_batch_end(0, logs={"loss": np.float32(1.0)})
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 3"):
        cb.on_train_batch_end(3, logs={"loss": np.float32(np.inf)})


# ---------------------------------------------------------------------------
# LambdaCallback
# ---------------------------------------------------------------------------


def test_lambda_callback_hooks_are_called():
    calls = []
    cb = LambdaCallback(
        on_train_begin=lambda logs: calls.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: calls.append(("epoch_begin", epoch)),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, sorted(logs))),
        on_train_batch_begin=lambda batch, logs: calls.append(("batch_begin", batch)),
        on_train_batch_end=lambda batch, logs: calls.append(("batch_end", batch, "loss" in logs)),
        on_train_end=lambda logs: calls.append("train_end"),
        on_test_end=lambda logs: calls.append(("test_end", sorted(logs))),
    )
    small_model().fit(X, Y, epochs=2, batch_size=20, verbose=0, validation_data=(VX, VY),
                      callbacks=[cb])
    keys = ["accuracy", "loss", "val_accuracy", "val_loss"]
    epoch = [("batch_begin", 0), ("batch_end", 0, True), ("batch_begin", 1), ("batch_end", 1, True),
             ("test_end", ["accuracy", "loss"])]  # validation runs the test hooks, as in Keras
    assert calls == (["train_begin", ("epoch_begin", 0)] + epoch + [("epoch_end", 0, keys),
                     ("epoch_begin", 1)] + epoch + [("epoch_end", 1, keys), "train_end"])


def test_lambda_callback_batch_aliases():
    begun, ended = [], []
    cb = LambdaCallback(on_batch_begin=lambda batch, logs: begun.append(batch),
                        on_batch_end=lambda batch, logs: ended.append(batch))
    small_model().fit(X, Y, epochs=1, batch_size=10, verbose=0, callbacks=[cb])
    assert begun == ended == [0, 1, 2, 3]


def test_lambda_callback_counts_as_having_batch_hooks_only_when_given_some():
    assert not overrides_batch_hooks(LambdaCallback(on_epoch_end=lambda e, l: None), "train")
    assert overrides_batch_hooks(LambdaCallback(on_train_batch_end=lambda b, logs: None), "train")
    assert overrides_batch_hooks(LambdaCallback(on_batch_begin=lambda b, logs: None), "train")
    test_only = LambdaCallback(on_test_batch_end=lambda b, logs: None)
    assert overrides_batch_hooks(test_only, "test") and not overrides_batch_hooks(test_only, "train")
    # the built-ins: only TerminateOnNaN needs every batch
    assert overrides_batch_hooks(TerminateOnNaN(), "train")
    for cb in (EarlyStopping(), ReduceLROnPlateau(), LearningRateScheduler(lambda e, lr: lr),
               CSVLogger("unused.csv")):
        assert not overrides_batch_hooks(cb, "train")


def test_lambda_callback_with_epoch_hooks_only_keeps_many_steps_per_call():
    batches = []
    epochs = []
    model = small_model()
    model.fit(X, Y, epochs=1, batch_size=10, verbose=0,
              callbacks=[LambdaCallback(on_epoch_end=lambda e, logs: epochs.append(e)),
                         LambdaCallback(on_test_end=lambda logs: None)])
    model.fit(X, Y, epochs=1, batch_size=10, verbose=0,
              callbacks=[LambdaCallback(on_train_batch_end=lambda b, logs: batches.append(b))])
    assert epochs == [0] and batches == [0, 1, 2, 3]


def test_lambda_callback_rejects_unknown_hooks():
    with pytest.raises(TypeError, match=r"on_epoch_ends.*on_epoch_end"):
        LambdaCallback(on_epoch_ends=lambda epoch, logs: None)
    with pytest.raises(TypeError, match="should be a function"):
        LambdaCallback(on_epoch_end="print")


# ---------------------------------------------------------------------------
# Keras 3 as the oracle: the same epoch logs through both implementations
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(X[:4], Y[:4], verbose=0)  # builds the metrics, which `mode="auto"` looks up
    return model


@pytest.fixture(scope="module")
def kerasx_model():
    model = small_model(lr=0.1)
    model.fit(X[:4], Y[:4], verbose=0)
    return model


def drive(callback, model, values, monitor):
    """Runs `callback` over epochs with `logs[monitor] = values[epoch]`, stopping like fit.

    Returns the logs each epoch ended with and the learning rate after each epoch.
    """
    model.stop_training = False
    callback.set_model(model)
    callback.on_train_begin({})
    all_logs, rates = [], []
    for epoch, value in enumerate(values):
        callback.on_epoch_begin(epoch, {})
        logs = {"loss": 1.0, monitor: value}  # monitor="loss" overrides the filler
        callback.on_epoch_end(epoch, logs)
        all_logs.append({k: float(v) for k, v in logs.items()})
        rates.append(float(np.asarray(model.optimizer.learning_rate)))
        if model.stop_training:
            break
    callback.on_train_end({})
    return all_logs, rates


# Values are multiples of 1/8 so that float32 (Keras) and float64 (kerasx) comparisons agree.
SEQUENCES = {
    "down_then_plateau": [1.0, 0.875, 0.75, 0.75, 0.75, 0.75, 0.625, 0.625, 0.625, 0.625],
    "noisy": [1.0, 1.125, 0.5, 0.625, 0.5, 0.375, 0.5, 0.625, 0.25, 0.5, 0.75, 1.0],
    "flat": [0.5] * 8,
    "up": [0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0],
}

EARLY_STOPPING_CASES = [
    dict(),
    dict(patience=1),
    dict(patience=2),
    dict(patience=3, min_delta=0.125),
    dict(patience=2, min_delta=0.25),
    dict(patience=2, baseline=0.5),
    dict(patience=1, baseline=0.25, restore_best_weights=True),
    dict(patience=1, start_from_epoch=3),
    dict(patience=0, start_from_epoch=2, restore_best_weights=True),
    dict(patience=2, mode="max"),
    dict(patience=2, mode="max", min_delta=0.125, baseline=0.5),
    dict(monitor="val_accuracy", patience=2),
    dict(monitor="val_accuracy", patience=1, baseline=0.75),
    dict(monitor="loss", patience=1),
]


@pytest.mark.parametrize("sequence", sorted(SEQUENCES))
@pytest.mark.parametrize("kwargs", EARLY_STOPPING_CASES, ids=str)
def test_early_stopping_matches_keras(kwargs, sequence, keras_model, kerasx_model):
    values = SEQUENCES[sequence]
    monitor = kwargs.get("monitor", "val_loss")
    ours, theirs = EarlyStopping(**kwargs), keras.callbacks.EarlyStopping(**kwargs)
    our_logs, _ = drive(ours, kerasx_model, values, monitor)
    their_logs, _ = drive(theirs, keras_model, values, monitor)
    assert len(our_logs) == len(their_logs)
    assert ours.stopped_epoch == theirs.stopped_epoch
    assert ours.best_epoch == theirs.best_epoch
    assert ours.wait == theirs.wait
    assert ours.best == pytest.approx(float(theirs.best))


REDUCE_LR_CASES = [
    dict(),
    dict(patience=0),
    dict(patience=1, factor=0.5),
    dict(patience=2, factor=0.5, cooldown=1),
    dict(patience=1, factor=0.5, cooldown=2, min_lr=0.02),
    dict(patience=1, factor=0.5, cooldown=3),
    dict(patience=0, factor=0.2, min_lr=0.01),
    dict(patience=1, factor=0.5, min_delta=0.2),
    dict(patience=1, factor=0.5, min_delta=0.0),
    dict(patience=1, factor=0.5, mode="max"),
    dict(patience=1, factor=0.5, mode="max", cooldown=1, min_lr=0.03),
    dict(monitor="val_accuracy", patience=1, factor=0.5),
]


@pytest.mark.parametrize("sequence", sorted(SEQUENCES))
@pytest.mark.parametrize("kwargs", REDUCE_LR_CASES, ids=str)
def test_reduce_lr_on_plateau_matches_keras(kwargs, sequence, keras_model, kerasx_model):
    values = SEQUENCES[sequence]
    monitor = kwargs.get("monitor", "val_loss")
    kerasx_model.optimizer.learning_rate = 0.1
    keras_model.optimizer.learning_rate = 0.1
    ours, theirs = ReduceLROnPlateau(**kwargs), keras.callbacks.ReduceLROnPlateau(**kwargs)
    our_logs, our_rates = drive(ours, kerasx_model, values, monitor)
    their_logs, their_rates = drive(theirs, keras_model, values, monitor)
    np.testing.assert_allclose(our_rates, their_rates, rtol=1e-6)
    np.testing.assert_allclose([l["learning_rate"] for l in our_logs],
                               [l["learning_rate"] for l in their_logs], rtol=1e-6)
    assert (ours.wait, ours.cooldown_counter) == (theirs.wait, theirs.cooldown_counter)


def test_the_reduce_lr_oracle_can_tell_schedules_apart(keras_model, kerasx_model):
    # guards the oracle test above: different settings give different rates
    kerasx_model.optimizer.learning_rate = 0.1
    keras_model.optimizer.learning_rate = 0.1
    _, ours = drive(ReduceLROnPlateau(patience=1, factor=0.5, cooldown=2), kerasx_model,
                    SEQUENCES["flat"], "val_loss")
    _, theirs = drive(keras.callbacks.ReduceLROnPlateau(patience=1, factor=0.5), keras_model,
                      SEQUENCES["flat"], "val_loss")
    assert not np.allclose(ours, theirs)


@pytest.mark.parametrize("schedule", [
    lambda epoch, lr: lr * 0.5 if epoch % 2 else lr,
    lambda epoch, lr: 0.05 / (epoch + 1),
    lambda epoch: 0.01 * (epoch + 1),
], ids=["halve_odd", "inverse", "one_argument"])
def test_learning_rate_scheduler_matches_keras(schedule, keras_model, kerasx_model):
    kerasx_model.optimizer.learning_rate = 0.1
    keras_model.optimizer.learning_rate = 0.1
    our_logs, our_rates = drive(LearningRateScheduler(schedule), kerasx_model, [0.0] * 5, "x")
    their_logs, their_rates = drive(keras.callbacks.LearningRateScheduler(schedule), keras_model,
                                    [0.0] * 5, "x")
    np.testing.assert_allclose(our_rates, their_rates, rtol=1e-6)
    np.testing.assert_allclose([l["learning_rate"] for l in our_logs],
                               [l["learning_rate"] for l in their_logs], rtol=1e-6)


CSV_LOGS = [
    [{"loss": 0.75, "accuracy": 0.5}, {"loss": 0.5, "accuracy": 0.625}],
    [{"loss": 0.123456789, "val_loss": 0.3, "accuracy": 1 / 3, "val_accuracy": 2e-7},
     {"loss": 0.1, "val_loss": 0.25, "accuracy": 0.5, "val_accuracy": 0.5}],
    [{"loss": 0.5, "learning_rate": 0.01, "val_loss": 0.5}, {"loss": 0.25, "learning_rate": 0.001}],
    [{"loss": 0.5, "note": "a,b", "vector": np.array([1.0, 2.0])}],
]


@pytest.mark.parametrize("separator", [",", ";", "\t"])
@pytest.mark.parametrize("case", range(len(CSV_LOGS)))
def test_csv_logger_matches_keras(case, separator, tmp_path):
    epochs = CSV_LOGS[case]

    def write(cls, path, append):
        logger = cls(str(path), separator=separator, append=append)
        logger.on_train_begin({})
        for epoch, logs in enumerate(epochs):
            logger.on_epoch_end(epoch, dict(logs))
        logger.on_train_end({})

    for append in (False, True):
        ours, theirs = tmp_path / f"ours_{append}.csv", tmp_path / f"theirs_{append}.csv"
        for _ in range(2):  # the second run appends (or overwrites)
            write(CSVLogger, ours, append)
            write(keras.callbacks.CSVLogger, theirs, append)
        assert ours.read_bytes() == theirs.read_bytes()
