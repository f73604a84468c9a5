"""`TensorBoard`: training curves, learning rate and weight histograms as TensorBoard event files.

The event files are written with tensorboardX (`pip install "kerasx[tensorboard]"`), a small
writer library, so neither TensorFlow nor PyTorch is needed; the `tensorboard` program reads
them. Tag names and the directory layout are Keras 3's, so dashboards and scripts written for
Keras runs work unchanged.

Nothing here reads a device value per step: epoch scalars come from the epoch logs (already
Python floats), and with an integer `update_freq` the batch logs are read only at the batches
that are written.
"""

import importlib.util
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from .callbacks import Callback

__all__ = ["TensorBoard"]

def _summary_writer_class():
    """tensorboardX's `SummaryWriter`, imported on first use, with an error naming the extra."""
    try:
        from tensorboardX import SummaryWriter
    except ImportError as e:
        raise ImportError(
            "kerasx.callbacks.TensorBoard writes its event files with tensorboardX, which is not "
            'installed. Install it with `pip install "kerasx[tensorboard]"` (or '
            "`pip install tensorboardX`)."
        ) from e
    return SummaryWriter


def _scalar(value):
    """A log value as a Python float, or `None` when it is not a single number."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return None
    if array.size != 1 or not (np.issubdtype(array.dtype, np.number)
                               or np.issubdtype(array.dtype, np.bool_)):
        return None
    return float(array.reshape(()))


def _named_weights(tree):
    """`(path, array)` for each floating-point leaf of a params/state pytree: "dense/kernel"."""
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        if not hasattr(leaf, "dtype") or not jnp.issubdtype(leaf.dtype, jnp.floating):
            continue  # integer counters, PRNG keys
        name = "/".join(str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k))))
                        for k in path)
        yield name, np.asarray(leaf, dtype=np.float32)


def _weight_image(weight):
    """A weight as a batch of grayscale images (NHWC, values in [0, 1]), Keras's layout, or None.

    Biases become a column, Dense kernels a matrix (the long side horizontal), Conv1D kernels one
    image per output channel; higher-rank weights are skipped, as in Keras.
    """
    w = np.squeeze(weight)
    if w.ndim == 1:
        w = w.reshape(1, w.shape[0], 1)
    elif w.ndim == 2:
        w = (w.T if w.shape[0] > w.shape[1] else w)[None]
    elif w.ndim == 3:
        w = np.transpose(w, (2, 0, 1))
    else:
        return None
    low, high = float(w.min()), float(w.max())
    scaled = (w - low) / (high - low) if high > low else np.full_like(w, 0.5)
    return scaled[..., None]


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _profile_range(profile_batch):
    """`profile_batch` as `(start, stop)` 1-based batch numbers; `(0, 0)` turns profiling off."""
    message = ("Received an invalid value for `profile_batch`, expected a non-negative integer "
               "or a pair of positive integers `(start, stop)` with start <= stop (also "
               f"accepted as the string 'start,stop'). Received: profile_batch={profile_batch!r}")
    value = profile_batch
    if isinstance(value, str):
        try:
            value = [int(part) for part in value.split(",")]
        except ValueError:
            raise ValueError(message) from None
        value = value[0] if len(value) == 1 else value
    if _is_int(value):
        start = stop = int(value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(map(_is_int, value)):
        start, stop = int(value[0]), int(value[1])
    else:
        raise ValueError(message)
    if start < 0 or stop < start or (start == 0 and stop > 0):
        raise ValueError(message)
    return start, stop


class TensorBoard(Callback):
    """Writes TensorBoard event files: metrics, learning rate and weight histograms.

    Run `tensorboard --logdir <log_dir>` to view them. The layout and tags are Keras 3's:

    - `log_dir/train`: `epoch_<name>` for each training log (`epoch_loss`,
      `epoch_accuracy`, ...) at step `epoch`, `epoch_learning_rate` (the optimizer's
      current rate; left out when the optimizer exposes none, e.g. an optax schedule),
      `epoch_steps_per_second` with `write_steps_per_second`; with an integer
      `update_freq`, `batch_<name>` (the running epoch averages, as shown by the
      progress bar) at the global train step; with `histogram_freq`,
      `<weight path>/histogram` (and `<weight path>/image` with `write_images`) at step
      `epoch`.
    - `log_dir/validation`: `epoch_<name>` for each validation log (without the `val_`
      prefix) at step `epoch`, and `evaluation_<name>_vs_iterations` at the global train
      step (also written by `model.evaluate(..., callbacks=[tensorboard])`).

    The global train step counts batches trained (the optimizer's `iterations`), so a second
    `fit` with the same callback continues the batch curves; its event files are added to the
    same directories.

    Weight paths are those of `model.params` and `model.state`, e.g. `dense/kernel` and
    `batch_normalization/moving_mean` (Keras's paths also start with the model's name). Layer
    state is included, as Keras includes non-trainable weights.

    An integer `update_freq` makes `fit` run one step per jitted call with
    `steps_per_execution="auto"` (the callback then sees every batch); with a fixed
    `compile(steps_per_execution=k)` the batch scalars are written at the end of the
    execution that reaches each multiple of `update_freq`. With the default
    `update_freq="epoch"`, kerasx keeps running whole epochs per call.

    Args:
        log_dir: Directory for the event files, e.g. `"logs/run1"`. It should not be shared
            with other callbacks. Defaults to `"logs"`.
        histogram_freq: Frequency (in epochs) of the weight histograms; 0 (the default)
            writes none. Written at epochs 0, `histogram_freq`, `2 * histogram_freq`, ...
        write_graph: Accepted for Keras compatibility; kerasx writes no graph (the model is a
            jitted JAX function; use `profile_batch` to see the compiled program).
        write_images: Also write each weight as an image at the histogram epochs (scaled to
            its own min..max; needs `pillow`). Only with `histogram_freq > 0`.
        write_steps_per_second: Also log the training steps per second (`epoch_` and, with an
            integer `update_freq`, `batch_steps_per_second`).
        update_freq: `"epoch"` (the default): write once per epoch; an integer `n`: also
            write the batch logs every `n` batches; `"batch"` means 1.
        profile_batch: Profile batches with the JAX profiler into `log_dir/train/plugins/profile`
            (the TensorBoard "Profile" tab reads it): a 1-based batch number, a pair
            `(start, stop)`, or 0 (the default) for none. Batches are counted from the start of
            each `fit`. Profiling makes `fit` run one step per call with
            `steps_per_execution="auto"`; with a fixed `steps_per_execution` the trace covers
            whole executions, from the first that begins at or after `start` to the one that
            runs batch `stop`.
        embeddings_freq: Must be 0: kerasx does not write Embedding projector data.
        embeddings_metadata: Ignored unless `embeddings_freq` is set (as in Keras).

    Example:

    >>> tensorboard = kerasx.callbacks.TensorBoard(log_dir="logs/run1", histogram_freq=1)
    >>> model.fit(x, y, epochs=10, validation_data=(vx, vy), callbacks=[tensorboard])
    >>> # then: tensorboard --logdir logs
    """

    def __init__(
        self,
        log_dir="logs",
        histogram_freq=0,
        write_graph=True,
        write_images=False,
        write_steps_per_second=False,
        update_freq="epoch",
        profile_batch=0,
        embeddings_freq=0,
        embeddings_metadata=None,
    ):
        super().__init__()
        _summary_writer_class()  # fail now, not at the end of the first epoch
        self.log_dir = os.fspath(log_dir)
        if not (_is_int(histogram_freq) and histogram_freq >= 0):
            raise ValueError("Received an invalid value for `histogram_freq`, expected a "
                             "non-negative integer (0 writes no histograms). "
                             f"Received: histogram_freq={histogram_freq!r}")
        self.histogram_freq = int(histogram_freq)
        self.write_graph = write_graph
        self.write_images = bool(write_images)
        self.write_steps_per_second = bool(write_steps_per_second)
        if update_freq == "batch":
            update_freq = 1
        if update_freq != "epoch":
            if not (_is_int(update_freq) and update_freq > 0):
                raise ValueError('Received an invalid value for `update_freq`, expected "epoch", '
                                 f'"batch" or a positive integer. Received: update_freq={update_freq!r}')
            update_freq = int(update_freq)
        self.update_freq = update_freq
        self._start_batch, self._stop_batch = _profile_range(profile_batch)
        if embeddings_freq:
            raise ValueError("kerasx.callbacks.TensorBoard does not write embeddings for the "
                             "TensorBoard projector; pass embeddings_freq=0. "
                             f"Received: embeddings_freq={embeddings_freq!r}")
        self.embeddings_freq = 0
        self.embeddings_metadata = embeddings_metadata
        if self.write_images:
            if not self.histogram_freq:
                raise ValueError("`write_images=True` writes the weights as images at the "
                                 "histogram epochs; set `histogram_freq` to a positive integer "
                                 f"too. Received: histogram_freq={histogram_freq!r}")
            if importlib.util.find_spec("PIL") is None:  # tensorboardX encodes images with it
                raise ImportError("`write_images=True` needs pillow: `pip install pillow`.")
        self._writers = {}
        self._step = 0              # global train step: batches trained so far
        self._fit_first_step = 0    # `_step` when the current fit began
        self._epoch_batches = 0     # batches seen in the current epoch
        self._epoch_first_step = 0
        self._epoch_start_time = 0.0
        self._last_write = (0, 0.0)  # (step, time) of the last batch write
        self._in_fit = False
        self._evaluated = False     # `on_test_end` already wrote this epoch's evaluation
        self._tracing = False
        self._traced = False        # the profiled batches of this fit are done

    def _uses_batch_hooks(self, kind):
        return kind == "train" and (self.update_freq != "epoch" or self._start_batch > 0)

    # -- writers ----------------------------------------------------------------------------
    def _writer(self, name):
        """The writer of `log_dir/<name>`, opened on first use (no empty `validation` dir).
        tensorboardX names event files by the second and the host only, so a second writer
        opened in the same folder within a second would overwrite the first. A nanosecond
        suffix keeps both, and keeps the names sorted in the order written, which is the order
        TensorBoard reads them in."""
        if name not in self._writers:
            writer_class = _summary_writer_class()
            self._writers[name] = writer_class(
                os.path.join(self.log_dir, name), flush_secs=30,
                filename_suffix=f".{os.getpid()}.{time.time_ns()}")
        return self._writers[name]

    def _write_scalars(self, name, prefix, logs, step, suffix=""):
        writer = self._writer(name)
        for key, value in logs.items():
            value = _scalar(value)
            if value is not None:  # non-scalar logs (e.g. per-class values) are left out
                writer.add_scalar(f"{prefix}{key}{suffix}", value, step)

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}

    def _learning_rate(self):
        """The optimizer's current learning rate, or None if it exposes none."""
        try:
            return float(np.asarray(self.model.optimizer.learning_rate))
        except (AttributeError, TypeError, ValueError):
            return None

    def _iterations(self):
        """The optimizer's `iterations` (updates applied so far), or 0 if it exposes none."""
        try:
            return int(np.asarray(self.model.optimizer.iterations))
        except (AttributeError, TypeError, ValueError):
            return 0

    # -- hooks ----------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._step = self._fit_first_step = self._iterations()
        self._in_fit = True
        self._traced = False

    def on_train_end(self, logs=None):
        if self._tracing:
            self._stop_trace()
        self._in_fit = False
        self._close_writers()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_batches = 0
        self._epoch_first_step = self._step
        self._epoch_start_time = time.time()
        self._last_write = (self._step, self._epoch_start_time)
        self._evaluated = False

    def on_train_batch_begin(self, batch, logs=None):
        first = self._step - self._fit_first_step + 1  # 1-based batch number in this fit
        if self._start_batch and not (self._tracing or self._traced) and first >= self._start_batch:
            jax.profiler.start_trace(os.path.join(self.log_dir, "train"))
            self._tracing = True

    def on_train_batch_end(self, batch, logs=None):
        # With steps_per_execution=k this runs once per k batches, `batch` being the last one.
        before = self._step
        self._step += batch + 1 - self._epoch_batches
        self._epoch_batches = batch + 1
        if self._tracing and self._step - self._fit_first_step >= self._stop_batch:
            self._stop_trace()
        if self.update_freq == "epoch" or self._step // self.update_freq == before // self.update_freq:
            return
        batch_logs = {k: _scalar(v) for k, v in (logs or {}).items()}  # reads the device
        if self.write_steps_per_second:
            last_step, last_time = self._last_write
            now = time.time()
            batch_logs["steps_per_second"] = (self._step - last_step) / max(now - last_time, 1e-9)
            self._last_write = (self._step, now)
        self._write_scalars("train", "batch_", batch_logs, self._step)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val_logs = {k[4:]: v for k, v in logs.items() if k.startswith("val_")}
        learning_rate = self._learning_rate()
        if learning_rate is not None:
            train_logs["learning_rate"] = learning_rate
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._epoch_start_time, 1e-9)
            train_logs["steps_per_second"] = (self._step - self._epoch_first_step) / elapsed
        self._write_scalars("train", "epoch_", train_logs, epoch)
        if val_logs:
            self._write_scalars("validation", "epoch_", val_logs, epoch)
            if not self._evaluated:  # the fit loop validated without the test hooks
                self._write_scalars("validation", "evaluation_", val_logs, self._step,
                                    suffix="_vs_iterations")
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            self._write_weights(epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_test_end(self, logs=None):
        step = self._step if self._in_fit else self._iterations()
        self._write_scalars("validation", "evaluation_", logs or {}, step,
                            suffix="_vs_iterations")
        self._evaluated = True
        if not self._in_fit:  # a standalone `evaluate`: finish the file now
            self._close_writers()

    # -- weights and profiling ----------------------------------------------------------
    def _write_weights(self, epoch):
        writer = self._writer("train")
        for tree in (self.model.params, self.model.state):
            for name, weight in _named_weights(tree):
                writer.add_histogram(f"{name}/histogram", weight, epoch)
                image = _weight_image(weight) if self.write_images else None
                if image is not None:
                    writer.add_images(f"{name}/image", image, epoch, dataformats="NHWC")

    def _stop_trace(self):
        jax.profiler.stop_trace()
        self._tracing = False
        self._traced = True
