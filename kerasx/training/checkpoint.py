"""Checkpointing callbacks: `ModelCheckpoint` (keep the model, or the best one, on disk while
training) and `BackupAndRestore` (a killed `fit` resumes from its last backup when run again).

Both write through `kerasx.saving` (safetensors files, or Keras 3's `.keras` / `.weights.h5`
formats for those suffixes), atomically (a temporary file, then a rename), so a crash mid-save
never destroys the previous checkpoint.
"""

import os
import warnings

import jax
import numpy as np

from .callbacks import Callback, _MonitorCallback, _to_python, _write

__all__ = ["BackupAndRestore", "ModelCheckpoint"]

# kerasx's own formats, then Keras 3's (written through `kerasx.saving._keras_format`).
_MODEL_SUFFIXES = (".kerasx", ".keras")
_WEIGHTS_SUFFIXES = (".weights.safetensors", ".weights.h5")


class _BatchCounter:
    """Counts batches across `on_train_batch_end` calls, which (with `steps_per_execution`) may
    skip batch indices; says when `every` batches have passed (Keras's `_should_save_on_batch`)."""

    def __init__(self, every):
        self.every = every
        self.last_batch = None
        self.seen = 0

    def step(self, batch) -> bool:
        if self.last_batch is None or batch <= self.last_batch:  # a new epoch
            self.seen += batch + 1
        else:
            self.seen += batch - self.last_batch
        self.last_batch = batch
        if self.seen >= self.every:
            self.seen = 0
            return True
        return False


def _check_save_freq(save_freq):
    if save_freq != "epoch" and not (isinstance(save_freq, int) and not isinstance(save_freq, bool)
                                     and save_freq > 0):
        raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected 'epoch' or a positive "
                         "integer (a number of batches).")


class ModelCheckpoint(_MonitorCallback):
    """Saves the model (or its weights) during training, every epoch or every `save_freq` batches,
    optionally only when a monitored quantity improves.

    `filepath` may hold `str.format` fields filled from the epoch (1-based), the batch (1-based,
    for batch-level saves) and the logs, e.g. `"ckpt-{epoch:02d}-{val_loss:.2f}.kerasx"`.

    Args:
        filepath: Where to save. It must end in `.kerasx` or `.keras` (a whole model, in
            kerasx's or Keras 3's format, loadable with `kerasx.saving.load_model`), or, when
            `save_weights_only`, in `.weights.safetensors` or `.weights.h5` (loadable with
            `model.load_weights`; the Keras formats are read by Keras 3 too).
        monitor: The logged quantity to watch for `save_best_only`. Defaults to `"val_loss"`.
        verbose: 0 (silent) or 1 (a message per save).
        save_best_only: Save only when `monitor` improves on the best value seen; with a fixed
            `filepath` the file then always holds the best model.
        save_weights_only: Save only the weights and layer state (`model.save_weights`) instead of
            the whole model with its optimizer state (`model.save`).
        mode: "auto", "min" or "max": whether a lower or higher `monitor` is better ("auto"
            infers it from the name: losses and errors are minimized, accuracies maximized).
        save_freq: `"epoch"`, or an integer: save every that many batches. Saving per batch makes
            `fit` run one step per call (the callback must see every batch).
        initial_value_threshold: With `save_best_only`, a value the first save must beat.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__(monitor=monitor, mode=mode)
        self.filepath = os.fspath(filepath)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        _check_save_freq(save_freq)
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._counter = _BatchCounter(save_freq) if save_freq != "epoch" else None
        self._current_epoch = 0
        suffixes = _WEIGHTS_SUFFIXES if save_weights_only else _MODEL_SUFFIXES
        if not self.filepath.endswith(suffixes):
            what = ("With `save_weights_only=True`, the filepath must end in "
                    "`.weights.safetensors` (kerasx's weights format) or `.weights.h5` (Keras's)"
                    if save_weights_only else
                    "The filepath must end in `.kerasx` (kerasx's model format) or `.keras` "
                    "(Keras's); pass `save_weights_only=True` with a `.weights.safetensors` or "
                    "`.weights.h5` path for weights only")
            raise ValueError(f"ModelCheckpoint: {what}. Received: filepath={self.filepath!r}")

    def _uses_batch_hooks(self, kind):
        return kind == "train" and self._counter is not None

    def on_train_begin(self, logs=None):
        if self.monitor_op is None and self.save_best_only:
            self._set_monitor_op()

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._counter is not None and self._counter.step(batch):
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _filepath(self, epoch, batch, logs):
        fields = {k: _to_python(v) for k, v in (logs or {}).items()}
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in fields:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError, ValueError) as e:
            reason = f"no field {e.args[0]}" if isinstance(e, KeyError) else str(e)
            raise KeyError(
                f"ModelCheckpoint failed to format its filepath {self.filepath}: {reason}. "
                f"Available fields: {', '.join(sorted(fields))}."
            ) from None

    def _should_save(self, epoch, logs, filepath):
        if not self.save_best_only:
            if self.verbose > 0:
                _write(f"\nEpoch {epoch + 1}: saving model to {filepath}\n")
            return True
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"ModelCheckpoint can save the best model only with '{self.monitor}' "
                          f"in the logs; available: {sorted(logs or {})}. Saving anyway.",
                          stacklevel=3)
            return True
        if np.ndim(current) > 0:
            warnings.warn(f"ModelCheckpoint can save the best model only when '{self.monitor}' "
                          f"is a scalar; received shape {np.shape(current)}. Saving anyway.",
                          stacklevel=3)
            return True
        current = float(current)
        best_str = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                _write(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best_str} to "
                       f"{current:.5f}, saving model to {filepath}\n")
            self.best = current
            return True
        if self.verbose > 0:
            _write(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {best_str}\n")
        return False

    def _save(self, epoch, batch, logs):
        filepath = self._filepath(epoch, batch, logs)
        if os.path.isdir(filepath):
            raise IsADirectoryError(f"ModelCheckpoint's filepath '{filepath}' is an existing "
                                    "directory; give a file path.")
        if not self._should_save(epoch, logs, filepath):
            return
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)
        if self.verbose > 0:
            _write(f"\nEpoch {epoch + 1}: finished saving model to {filepath}\n")


# ---------------------------------------------------------------------------- BackupAndRestore
_BACKUP_FORMAT = "kerasx.backup"


def _write_backup(filepath, model, training_state, epoch, batch, created_dir=False):
    """Writes a backup; `created_dir` records that the callback made its folder, so that the
    run that finishes (perhaps a resumed one) removes the folder too."""
    from ..saving import _files as _saving

    tensors = {**_saving.flatten_tree("params", model.params),
               **_saving.flatten_tree("state", model.state),
               "rng": np.asarray(jax.random.key_data(training_state["rng"]))}
    for path, leaf in jax.tree_util.tree_flatten_with_path(training_state["opt_state"])[0]:
        tensors[f"optimizer/{jax.tree_util.keystr(path)}"] = np.asarray(leaf)
    metadata = {"format": _BACKUP_FORMAT, "version": _saving.FORMAT_VERSION, "model": model.name,
                "epoch": str(epoch), "batch": str(batch),
                "shuffle_seed": str(training_state["shuffle_seed"]),
                "created_backup_dir": "1" if created_dir else "0"}
    _saving.write_atomic(filepath, _saving.encode_tensors(tensors, metadata))


def _read_backup(filepath, model, training_state):
    """`(params, state, opt_state, rng, metadata)` from a backup, checked against the model and
    the running fit's optimizer; errors name the file and the weight."""
    from ..saving import _files as _saving

    tensors, metadata = _saving.read_tensors(filepath, _BACKUP_FORMAT)
    params = _saving.unflatten_like("params", model.params, tensors, filepath)
    state = _saving.unflatten_like("state", model.state, tensors, filepath)
    template = training_state["opt_state"]
    leaves = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(template)[0]:
        key = f"optimizer/{jax.tree_util.keystr(path)}"
        if key not in tensors:
            raise ValueError(f"Backup '{filepath}' has no optimizer state '{key}': it was written "
                             "by a model compiled with another optimizer.")
        value = _saving._scalar_fix(tensors[key], np.shape(leaf))
        if tuple(value.shape) != tuple(np.shape(leaf)):
            raise ValueError(f"Optimizer state '{key}' in backup '{filepath}' has shape "
                             f"{tuple(value.shape)}; this model's optimizer expects "
                             f"{tuple(np.shape(leaf))}.")
        leaves.append(value.astype(leaf.dtype))
    opt_state = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), leaves)
    if "rng" not in tensors:
        raise ValueError(f"Backup '{filepath}' has no 'rng' tensor: it is not a complete backup.")
    rng = jax.random.wrap_key_data(tensors["rng"].astype(np.uint32),
                                   impl=jax.random.key_impl(training_state["rng"]))
    for entry in ("epoch", "shuffle_seed"):
        try:
            int(metadata.get(entry))
        except (TypeError, ValueError):
            raise ValueError(f"Backup '{filepath}': its metadata entry '{entry}' should be an "
                             f"integer; received {metadata.get(entry)!r}.") from None
    return params, state, opt_state, rng, metadata


class BackupAndRestore(Callback):
    """Backs up the training state so that a `fit` killed mid-way resumes when run again.

    At the end of every epoch (or every `save_freq` batches) the callback writes one file in
    `backup_dir` holding the weights, layer state, optimizer state, the fit's random key and
    shuffle seed and the epoch reached. When `fit` starts with a backup present, it restores all
    of that and skips the epochs already done. After an epoch-level backup the resumed run gives
    the same weights as an uninterrupted one; after a batch-level backup the interrupted epoch
    is run again from its start with the backed-up weights (as in Keras). When `fit` ends
    normally the backup files are deleted (unless `delete_checkpoint=False`), and the folder
    too if the callback created it and nothing else is in it; other files in it are kept.

    Args:
        backup_dir: Folder for the backup; give each training job its own.
        save_freq: `"epoch"`, or an integer number of batches between backups (which makes `fit`
            run one step per call).
        double_checkpoint: Keep the previous backup too, and fall back to it when the latest is
            unreadable (e.g. the machine died while writing it; writes are atomic, but a disk can
            still corrupt a file).
        delete_checkpoint: Delete the backup when training ends normally: the files the
            callback wrote, and `backup_dir` itself if the callback created it and it is then
            empty.
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False,
                 delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: empty `backup_dir` argument; give a folder path.")
        _check_save_freq(save_freq)
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._path = os.path.join(self.backup_dir, "latest.backup.safetensors")
        self._prev_path = self._path + ".bkp"
        self._counter = _BatchCounter(save_freq) if save_freq != "epoch" else None
        self._current_epoch = 0
        self._last_batch = 0
        self._created_dir = False  # whether this callback (or the run it resumes) made the folder

    def _uses_batch_hooks(self, kind):
        return kind == "train" and self._counter is not None

    def _trainer(self):
        trainer = getattr(self.model, "_trainer", None)
        if trainer is None:
            raise ValueError("BackupAndRestore needs a compiled model; call `model.compile(...)`.")
        return trainer

    def on_train_begin(self, logs=None):
        if self._counter is not None:
            self._counter = _BatchCounter(self.save_freq)
        self._created_dir = False
        if not os.path.exists(self._path):
            if self.double_checkpoint and os.path.exists(self._prev_path):
                self._restore(self._prev_path)
            return
        try:
            self._restore(self._path)
        except (OSError, ValueError):
            if not (self.double_checkpoint and os.path.exists(self._prev_path)):
                raise
            warnings.warn(f"BackupAndRestore: the backup '{self._path}' is unreadable; resuming "
                          f"from the previous one, '{self._prev_path}'.", stacklevel=2)
            self._restore(self._prev_path)

    def _restore(self, path):
        trainer = self._trainer()
        params, state, opt_state, rng, metadata = _read_backup(path, self.model,
                                                               trainer.training_state())
        self.model.params, self.model.state = jax.device_put(params), jax.device_put(state)
        trainer.restore_training_state(opt_state=opt_state, rng=rng,
                                       shuffle_seed=int(metadata["shuffle_seed"]))
        self.model._initial_epoch = int(metadata["epoch"])
        self._current_epoch = int(metadata["epoch"])
        self._created_dir = self._created_dir or metadata.get("created_backup_dir") == "1"

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._counter is not None and self._counter.step(batch):
            self._last_batch = batch
            self._backup(self._current_epoch, batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._backup(epoch + 1, 0)

    def _backup(self, epoch, batch):
        if not os.path.isdir(self.backup_dir):
            os.makedirs(self.backup_dir)
            self._created_dir = True
        if self.double_checkpoint and os.path.exists(self._path):
            os.replace(self._path, self._prev_path)
        _write_backup(self._path, self.model, self._trainer().training_state(), epoch, batch,
                      created_dir=self._created_dir)

    def on_train_end(self, logs=None):
        """Deletes what the callback wrote, and never anything else: `backup_dir` may be a
        folder of the user's that holds other files."""
        if not self.delete_checkpoint:
            return
        from ..saving import _files as _saving

        for path in (self._path, self._prev_path):
            if os.path.lexists(path):
                os.remove(path)
            _saving.remove_stale_temporaries(os.path.realpath(path))
        if self._created_dir:
            try:
                os.rmdir(self.backup_dir)  # only when empty
            except OSError:
                pass

