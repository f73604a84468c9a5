"""ModelCheckpoint and BackupAndRestore: files written during a real `fit`, what they hold, and
Keras 3 as the oracle for when a checkpoint is taken.

A `ScoreFeeder` placed before the callback under test writes a known sequence of monitored values
into the epoch logs (every callback gets the same dict), so "the best epoch" is known in advance.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "jax")

from keras_oracle import keras  # noqa: E402  (the oracle tests skip without Keras)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import kerasx  # noqa: E402
from kerasx import layers  # noqa: E402
from kerasx.callbacks import BackupAndRestore, Callback, ModelCheckpoint  # noqa: E402
from kerasx.training.callbacks import overrides_batch_hooks  # noqa: E402
from training_support import ScoreFeeder, WeightRecorder, assert_weights_equal  # noqa: E402

RNG = np.random.default_rng(11)
X = RNG.normal(size=(80, 6)).astype("float32")
Y = RNG.integers(0, 3, 80)
VX = RNG.normal(size=(20, 6)).astype("float32")
VY = RNG.integers(0, 3, 20)


def small_model(dropout=False):
    stack = [layers.Input((6,)), layers.Dense(8, activation="relu"), layers.BatchNormalization()]
    if dropout:
        stack.append(layers.Dropout(0.25))
    model = kerasx.Sequential(stack + [layers.Dense(3, activation="softmax")])
    model.compile(optimizer=kerasx.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


class KillAt(Callback):
    """Raises at the start of epoch `epoch` (or after batch `batch` of it): a killed job."""

    def __init__(self, epoch, batch=None):
        super().__init__()
        self.epoch, self.batch, self._now = epoch, batch, None

    def on_epoch_begin(self, epoch, logs=None):
        self._now = epoch
        if epoch == self.epoch and self.batch is None:
            raise KeyboardInterrupt("killed")

    def on_train_batch_end(self, batch, logs=None):
        if self._now == self.epoch and batch == self.batch:
            raise KeyboardInterrupt("killed")


# ---------------------------------------------------------------------------- ModelCheckpoint
def test_checkpoint_every_epoch_fills_the_filepath_template(tmp_path):
    model = small_model()
    recorder = WeightRecorder()
    template = str(tmp_path / "ckpt-{epoch:02d}-{val_loss:.2f}.kerasx")
    history = model.fit(X, Y, batch_size=16, epochs=3, verbose=0, validation_data=(VX, VY),
                        callbacks=[recorder, ModelCheckpoint(template)])
    expected = [f"ckpt-{e + 1:02d}-{v:.2f}.kerasx" for e, v in enumerate(history.history["val_loss"])]
    assert sorted(os.listdir(tmp_path)) == sorted(expected)
    for name, weights in zip(expected, recorder.weights):
        loaded = kerasx.models.load_model(str(tmp_path / name))
        assert_weights_equal(loaded.get_weights(), weights)
    # A whole-model checkpoint is compiled with the optimizer state: it goes on training exactly
    # as the model that wrote it (the last checkpoint is the model's final state).
    assert loaded.optimizer.iterations == 3 * 5
    loaded.fit(X, Y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    model.fit(X, Y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert loaded.optimizer.iterations == 4 * 5
    assert_weights_equal(loaded.get_weights(), model.get_weights())


def test_save_best_only_keeps_the_best_epoch_and_reports_like_keras(tmp_path, capsys):
    model = small_model()
    recorder = WeightRecorder()
    path = str(tmp_path / "best.kerasx")
    scores = [3.0, 1.0, 2.0, 0.5, 4.0]  # best at epoch index 3
    ckpt = ModelCheckpoint(path, monitor="score", mode="min", save_best_only=True, verbose=1)
    model.fit(X, Y, batch_size=16, epochs=5, verbose=0,
              callbacks=[recorder, ScoreFeeder(scores), ckpt])
    assert ckpt.best == 0.5
    best = kerasx.models.load_model(path)
    assert_weights_equal(best.get_weights(), recorder.weights[3])
    out = capsys.readouterr().out
    assert f"Epoch 1: score improved from None to 3.00000, saving model to {path}" in out
    assert "Epoch 3: score did not improve from 1.00000" in out
    assert f"Epoch 4: score improved from 1.00000 to 0.50000, saving model to {path}" in out
    assert f"Epoch 4: finished saving model to {path}" in out


@pytest.mark.parametrize("mode,threshold", [("min", None), ("max", None), ("min", 1.5),
                                            ("max", 2.5), ("auto", None)])
def test_save_best_only_decisions_match_keras(tmp_path, mode, threshold):
    scores = [2.0, 3.0, 1.0, 1.0, 4.0, 0.5, 2.5]
    monitor = "val_loss" if mode == "auto" else "score"
    ours = ModelCheckpoint(str(tmp_path / "a.kerasx"), monitor=monitor, mode=mode,
                           save_best_only=True, initial_value_threshold=threshold)
    theirs = keras.callbacks.ModelCheckpoint(str(tmp_path / "a.keras"), monitor=monitor, mode=mode,
                                             save_best_only=True,
                                             initial_value_threshold=threshold)
    theirs._set_monitor_op()
    ours.on_train_begin()
    for epoch, value in enumerate(scores):
        logs = {monitor: value}
        assert ours._should_save(epoch, logs, "p") == theirs._should_save_model(epoch, None, logs, "p")
        assert ours.best == theirs.best


@pytest.mark.parametrize("save_freq,batches", [
    (4, list(range(10)) * 3),                 # one step per call
    (3, [2, 5, 8, 9] * 2),                    # steps_per_execution=3 over 10 batches
    (7, [4, 9] * 3),                          # executions of 5
])
def test_batch_save_schedule_matches_keras(save_freq, batches, tmp_path):
    ours = ModelCheckpoint(str(tmp_path / "a.kerasx"), save_freq=save_freq)
    theirs = keras.callbacks.ModelCheckpoint(str(tmp_path / "a.keras"), save_freq=save_freq)
    assert [ours._counter.step(b) for b in batches] == [theirs._should_save_on_batch(b) for b in batches]


def test_batch_level_checkpoints_name_epoch_and_batch(tmp_path):
    model = small_model()
    ckpt = ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}.kerasx"), save_freq=4)
    assert overrides_batch_hooks(ckpt, "train")
    model.fit(X, Y, batch_size=16, epochs=2, verbose=0, callbacks=[ckpt])  # 5 batches an epoch
    # Saves after batches 4 (epoch 1), 8 = epoch 2's batch 3.
    assert sorted(os.listdir(tmp_path)) == ["e1-b4.kerasx", "e2-b3.kerasx"]


def test_epoch_checkpoints_keep_whole_epoch_executions(tmp_path):
    ckpt = ModelCheckpoint(str(tmp_path / "m.kerasx"))
    assert not overrides_batch_hooks(ckpt, "train")


def test_weights_only_checkpoint_loads_with_load_weights(tmp_path):
    model = small_model()
    path = str(tmp_path / "w-{epoch}.weights.safetensors")
    model.fit(X, Y, batch_size=16, epochs=2, verbose=0,
              callbacks=[ModelCheckpoint(path, save_weights_only=True)])
    fresh = small_model()
    fresh.load_weights(str(tmp_path / "w-2.weights.safetensors"))
    np.testing.assert_array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))
    with pytest.raises(ValueError, match="kerasx.model"):
        kerasx.models.load_model(str(tmp_path / "w-1.weights.safetensors"))


def test_checkpoint_misuse_errors_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match=r"must end in `\.kerasx`.*filepath='m\.h5'"):
        ModelCheckpoint("m.h5")
    with pytest.raises(ValueError, match=r"save_weights_only=True.*\.weights\.safetensors"):
        ModelCheckpoint("m.keras", save_weights_only=True)
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint("m.kerasx", save_freq="batch")
    model = small_model()
    with pytest.raises(KeyError, match=r"no field val_acc\. Available fields: accuracy, epoch, loss\."):
        model.fit(X, Y, epochs=1, verbose=0,
                  callbacks=[ModelCheckpoint(str(tmp_path / "m-{val_acc:.2f}.kerasx"))])
    with pytest.raises(ValueError, match="maximized or minimized"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(
            str(tmp_path / "m.kerasx"), monitor="mystery", save_best_only=True)])


def test_missing_monitor_warns_and_saves(tmp_path):
    model = small_model()
    path = tmp_path / "m.kerasx"
    with pytest.warns(UserWarning, match="'val_loss' in the logs"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[ModelCheckpoint(str(path), save_best_only=True)])
    assert path.exists()


# ---------------------------------------------------------------------------- BackupAndRestore
def uninterrupted(epochs, seed=3, **fit_kwargs):
    kerasx.utils.set_random_seed(seed)
    model = small_model(dropout=True)
    model.fit(X, Y, batch_size=16, epochs=epochs, verbose=0, **fit_kwargs)
    return model.get_weights()


def test_killed_fit_resumes_from_last_epoch_with_identical_weights(tmp_path):
    backup = str(tmp_path / "backup")
    reference = uninterrupted(4)

    kerasx.utils.set_random_seed(3)
    model = small_model(dropout=True)
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, batch_size=16, epochs=4, verbose=0,
                  callbacks=[BackupAndRestore(backup), KillAt(epoch=2)])
    assert os.listdir(backup) == ["latest.backup.safetensors"]

    # The job runs again, as a new process would: another seed even, because the backup holds
    # the fit's random key and shuffle seed as well as the weights and optimizer state.
    kerasx.utils.set_random_seed(99)
    model = small_model(dropout=True)
    history = model.fit(X, Y, batch_size=16, epochs=4, verbose=0,
                        callbacks=[BackupAndRestore(backup)])
    assert history.epoch == [2, 3]
    assert model.optimizer.iterations == 4 * 5
    assert_weights_equal(model.get_weights(), reference)
    assert not os.path.exists(backup)  # deleted once training ends normally


def test_batch_level_backup_reruns_the_interrupted_epoch(tmp_path):
    backup = str(tmp_path / "backup")
    kerasx.utils.set_random_seed(3)
    model = small_model()
    saved = []

    class Spy(Callback):
        def on_train_batch_end(self, batch, logs=None):
            saved.append(self.model.get_weights())

    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, batch_size=16, epochs=3, verbose=0, callbacks=[
            BackupAndRestore(backup, save_freq=2, delete_checkpoint=False), Spy(),
            KillAt(epoch=1, batch=2)])
    # 5 batches an epoch; backups after global batches 2, 4, 6 and 8 (epoch 1's batch index 2,
    # where the job is killed). The last backup holds epoch 1 in progress, so a rerun starts at
    # epoch 1, from the weights after global batch 8.
    model = small_model()
    restored = []

    class Probe(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            restored.append((epoch, self.model.get_weights()))

    history = model.fit(X, Y, batch_size=16, epochs=3, verbose=0,
                        callbacks=[BackupAndRestore(backup, save_freq=2, delete_checkpoint=False),
                                   Probe()])
    assert history.epoch == [1, 2]
    assert restored[0][0] == 1
    assert_weights_equal(restored[0][1], saved[7])
    assert os.path.exists(backup)  # delete_checkpoint=False keeps it


def test_double_checkpoint_falls_back_to_the_previous_backup(tmp_path):
    backup = tmp_path / "backup"
    kerasx.utils.set_random_seed(3)
    model = small_model()
    recorder = WeightRecorder()
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, batch_size=16, epochs=4, verbose=0, callbacks=[
            BackupAndRestore(str(backup), double_checkpoint=True), recorder, KillAt(epoch=3)])
    assert sorted(os.listdir(backup)) == ["latest.backup.safetensors",
                                          "latest.backup.safetensors.bkp"]
    latest = backup / "latest.backup.safetensors"
    latest.write_bytes(latest.read_bytes()[:100])  # the disk corrupted it
    model = small_model()
    restored = []
    probe = Callback()
    probe.on_epoch_begin = lambda epoch, logs=None: restored.append(model.get_weights())
    with pytest.warns(UserWarning, match="unreadable; resuming from the previous one"):
        history = model.fit(X, Y, batch_size=16, epochs=4, verbose=0, callbacks=[
            BackupAndRestore(str(backup), double_checkpoint=True), probe])
    assert history.epoch == [2, 3]
    assert_weights_equal(restored[0], recorder.weights[1])


def test_unusable_backups_fail_naming_the_file(tmp_path):
    backup = tmp_path / "backup"
    backup.mkdir()
    path = backup / "latest.backup.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    model = small_model()
    with pytest.raises(ValueError, match="latest.backup.safetensors"):
        model.fit(X, Y, epochs=1, verbose=0, callbacks=[BackupAndRestore(str(backup))])
    # A backup of another architecture: the error names the weight and both shapes.
    model.fit(X, Y, epochs=1, verbose=0, callbacks=[
        BackupAndRestore(str(tmp_path / "other"), delete_checkpoint=False)])
    wider = kerasx.Sequential([layers.Input((6,)), layers.Dense(9, activation="relu"),
                               layers.BatchNormalization(), layers.Dense(3, activation="softmax")])
    wider.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"Weight 'params/batch_normalization/beta' .* has shape \(8,\).*expects \(9,\)"):
        wider.fit(X, Y, epochs=1, verbose=0, callbacks=[BackupAndRestore(str(tmp_path / "other"))])


def test_backup_misuse_errors():
    with pytest.raises(ValueError, match="backup_dir"):
        BackupAndRestore("")
    with pytest.raises(ValueError, match="save_freq"):
        BackupAndRestore("b", save_freq=0)
    assert not overrides_batch_hooks(BackupAndRestore("b"), "train")
    assert overrides_batch_hooks(BackupAndRestore("b", save_freq=3), "train")


def test_interrupted_fit_leaves_optimizer_state_matching_the_weights():
    model = small_model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, batch_size=16, epochs=3, verbose=0, callbacks=[KillAt(epoch=1, batch=2)])
    # Killed after epoch 1's third batch: 5 + 3 steps taken, and the optimizer state says so.
    assert model.optimizer.iterations == 8
    model.fit(X, Y, batch_size=16, epochs=1, verbose=0)
    assert model.optimizer.iterations == 13
