"""Callbacks and the progress bar, following Keras 3's hooks and display.

The fit loop is the only place kerasx talks to the host, and callbacks run
there. The logs handed to the per-batch hooks (`on_*_batch_end`) may hold JAX
device scalars: reading one with `float()` blocks until the device has caught
up, so nothing here converts per-batch values. `Progbar` keeps references and
converts only when it actually draws (at most every `interval` seconds in a
terminal or notebook, and once at the end of the epoch otherwise), and
`History` converts once per epoch.

A custom training loop drives them like this:

```python
callbacks = CallbackList([MyCallback()], add_history=True, add_progbar=True,
                         model=model, verbose=1, epochs=epochs, steps=steps)
callbacks.on_train_begin()
for epoch in range(epochs):
    callbacks.on_epoch_begin(epoch)
    for step, batch in enumerate(batches):
        callbacks.on_train_batch_begin(step)
        train_state, logs = train_step(train_state, batch)
        callbacks.on_train_batch_end(step, logs)   # device values, no sync
        if model.stop_training:
            break
    callbacks.on_epoch_end(epoch, epoch_logs)
callbacks.on_train_end(epoch_logs)
```
"""

import csv
import inspect
import json
import math
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings

import numpy as np

__all__ = [
    "Callback",
    "CallbackList",
    "CSVLogger",
    "EarlyStopping",
    "History",
    "LambdaCallback",
    "LearningRateScheduler",
    "Progbar",
    "ProgbarLogger",
    "ReduceLROnPlateau",
    "SwapEMAWeights",
    "RemoteMonitor",
    "TerminateOnNaN",
]


class Callback:
    """Base class for callbacks; every hook is a no-op.

    Subclass it and override the hooks you need. A callback can stop training
    by setting `self.model.stop_training = True`; the fit loop checks the flag
    after every batch and every epoch.

    The per-batch hooks receive `logs` whose values may be JAX device scalars;
    calling `float()` on them forces a device sync, so do it only when needed.

    Overriding a batch hook makes `fit` (with `steps_per_execution="auto"`) run one
    batch per jitted call, so the hook sees every batch. A callback whose batch hooks
    only sometimes matter can define `_uses_batch_hooks(self, kind)` (kind is
    "train", "test" or "predict") to say when, as ModelCheckpoint does for an integer
    `save_freq`; otherwise `fit` keeps running whole epochs per call.

    Attributes:
        model: The model being trained (set by `set_model`), or `None`.
        params: Dict of training parameters (`verbose`, `epochs`, `steps`),
            set by `set_params`, or `None`.
    """

    # Class-level defaults so a subclass that forgets `super().__init__()`
    # still has the attributes.
    model = None
    params = None

    def __init__(self):
        self.model = None
        self.params = None

    def set_params(self, params):
        """Stores the training parameters dict."""
        self.params = params

    def set_model(self, model):
        """Stores the model the callback is attached to."""
        self.model = model

    # -- Legacy aliases ------------------------------------------------------
    def on_batch_begin(self, batch, logs=None):
        """Backwards-compatible alias, called by `on_train_batch_begin`."""

    def on_batch_end(self, batch, logs=None):
        """Backwards-compatible alias, called by `on_train_batch_end`."""

    # -- Epoch hooks (training only) -----------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        """Called at the start of an epoch (0-based `epoch`)."""

    def on_epoch_end(self, epoch, logs=None):
        """Called at the end of an epoch.

        Args:
            epoch: 0-based epoch index.
            logs: Dict of epoch results (training metrics, and `val_`-prefixed
                validation metrics when validation ran).
        """

    # -- Batch hooks -----------------------------------------------------------
    def on_train_batch_begin(self, batch, logs=None):
        """Called before a training batch; calls `on_batch_begin` by default."""
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        """Called after a training batch; calls `on_batch_end` by default.

        Args:
            batch: 0-based index of the batch within the epoch.
            logs: Dict of running metric values (possibly device scalars).
        """
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        """Called before an `evaluate` (or validation) batch."""

    def on_test_batch_end(self, batch, logs=None):
        """Called after an `evaluate` (or validation) batch."""

    def on_predict_batch_begin(self, batch, logs=None):
        """Called before a `predict` batch."""

    def on_predict_batch_end(self, batch, logs=None):
        """Called after a `predict` batch."""

    # -- Begin / end hooks -----------------------------------------------------
    def on_train_begin(self, logs=None):
        """Called at the beginning of `fit`."""

    def on_train_end(self, logs=None):
        """Called at the end of `fit` (with the last epoch's logs)."""

    def on_test_begin(self, logs=None):
        """Called at the beginning of `evaluate` or of a validation pass."""

    def on_test_end(self, logs=None):
        """Called at the end of `evaluate` or of a validation pass."""

    def on_predict_begin(self, logs=None):
        """Called at the beginning of `predict`."""

    def on_predict_end(self, logs=None):
        """Called at the end of `predict`."""


_BATCH_HOOKS = {
    "train": ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end"),
    "test": ("on_test_batch_begin", "on_test_batch_end"),
    "predict": ("on_predict_batch_begin", "on_predict_batch_end"),
}


def overrides_batch_hooks(callback, kind: str) -> bool:
    """Whether `callback` implements batch-level hooks of `kind` ("train", "test", "predict").

    With `steps_per_execution="auto"`, kerasx runs one batch per jitted call for such callbacks
    so they see every batch, and many batches per call otherwise.
    """
    if isinstance(callback, (ProgbarLogger, History)):
        return False
    if isinstance(callback, CallbackList):
        return any(overrides_batch_hooks(cb, kind) for cb in callback.callbacks)
    # A callback whose batch hooks only sometimes do work (e.g. ModelCheckpoint with an integer
    # `save_freq`) says so through `_uses_batch_hooks(kind)`, so the default keeps whole-epoch
    # executions.
    uses = getattr(callback, "_uses_batch_hooks", None)
    if callable(uses):
        return bool(uses(kind))
    # A hook counts when the class overrides it, or when the instance carries its own
    # function (as `LambdaCallback` does for the functions it was given).
    instance_hooks = getattr(callback, "__dict__", {})
    return any(hook in instance_hooks
               or getattr(type(callback), hook, None) is not getattr(Callback, hook)
               for hook in _BATCH_HOOKS[kind])


def _flatten_callbacks(callbacks):
    """Flattens nested lists/tuples of callbacks and checks each item."""
    flat = []
    for cb in callbacks:
        if isinstance(cb, (list, tuple)):
            flat.extend(_flatten_callbacks(cb))
            continue
        missing = [
            name
            for name in ("set_model", "set_params", "on_epoch_end", "on_train_batch_end")
            if not callable(getattr(cb, name, None))
        ]
        if missing:
            raise TypeError(
                "Received an invalid value in `callbacks`, expected instances of "
                "`kerasx.callbacks.Callback` (or objects with the same hooks). "
                f"Received: {cb!r} of type {type(cb).__name__}, missing {missing}"
            )
        flat.append(cb)
    return flat


class CallbackList(Callback):
    """Container that forwards every hook to a list of callbacks, in order.

    Logs are passed through unconverted (a shallow copy of the dict per hook),
    so device scalars stay on the device.

    Args:
        callbacks: List of `Callback` instances (nested lists are flattened).
        add_history: Add a `History` callback if none is in `callbacks`.
        add_progbar: Add a `ProgbarLogger` callback if none is in `callbacks`.
        model: The model the callbacks are used with.
        **params: Training parameters (`verbose`, `epochs`, `steps`) passed to
            each callback through `set_params`.
    """

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        self.callbacks = _flatten_callbacks(callbacks) if callbacks else []
        self._history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        self._progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        if self._history is None and add_history:
            self._history = History()
            self.callbacks.append(self._history)
        if self._progbar is None and add_progbar:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        self.set_model(model)
        self.set_params(params)

    def append(self, callback):
        """Adds a callback at the end of the list (gets the current model/params)."""
        (callback,) = _flatten_callbacks([callback])
        if self.model is not None:
            callback.set_model(self.model)
        if self.params:
            callback.set_params(self.params)
        self.callbacks.append(callback)

    def set_params(self, params):
        self.params = params
        if params:
            for callback in self.callbacks:
                callback.set_params(params)

    def set_model(self, model):
        if model is None:
            return
        self.model = model
        if self._history is not None:
            model.history = self._history
        for callback in self.callbacks:
            callback.set_model(model)

    def _call(self, hook, *args, logs=None):
        # Like Keras: batch hooks get `logs=` by keyword, the others by position.
        logs = {} if logs is None else dict(logs)
        for callback in self.callbacks:
            if "batch" in hook:
                getattr(callback, hook)(*args, logs=logs)
            else:
                getattr(callback, hook)(*args, logs)

    def on_batch_begin(self, batch, logs=None):
        self._call("on_batch_begin", batch, logs=logs)

    def on_batch_end(self, batch, logs=None):
        self._call("on_batch_end", batch, logs=logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs=logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs=logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs=logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs=logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs=logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs=logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs=logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs=logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs=logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs=logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs=logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs=logs)


def _to_python(value):
    """Converts a log value to a Python float (the mean, for an array).

    Non-numeric values are returned unchanged.
    """
    try:
        return float(value)
    except (TypeError, ValueError):
        try:
            return float(np.mean(np.asarray(value)))
        except (TypeError, ValueError):
            return value


def _history_value(value):
    """A log value as History keeps it: a Python float, or a NumPy array for a metric with a
    vector result (as Keras keeps it)."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        return value
    return array if array.ndim > 0 else _to_python(value)


class History(Callback):
    """Records the epoch logs of `fit`; `fit` returns it.

    Attributes:
        history: Dict mapping each log name to the list of its per-epoch values
            (Python floats).
        epoch: List of the epoch indices seen in the current `fit`.
        params: The training parameters.

    As in Keras, `on_train_begin` resets `epoch` only; the `history` dict keeps
    appending when the same `History` object is used by several `fit` calls.
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            # Once per epoch, so the device sync is fine here.
            self.history.setdefault(k, []).append(_history_value(v))
        if self.model is not None:
            # The latest History, as Keras sets it.
            self.model.history = self

    def plot(self, **kwargs):
        """Draws the loss and metric curves with matplotlib (`kerasx.utils.plot_history`;
        `filepath=` saves a PNG). Needs the optional extra: `pip install "kerasx[plot]"`."""
        from .plotting import plot_history

        return plot_history(self, **kwargs)


def _is_interactive_display():
    """Whether stdout can redraw a line in place (`\\r`): a TTY or a notebook."""
    stdout = sys.stdout
    isatty = getattr(stdout, "isatty", None)
    try:
        tty = bool(isatty()) if isatty is not None else False
    except (ValueError, OSError):  # closed or detached stream
        tty = False
    return tty or "ipykernel" in sys.modules or "PYCHARM_HOSTED" in os.environ


def _write(message):
    """Writes `message` to the current `sys.stdout` and flushes it."""
    stream = sys.stdout
    try:
        stream.write(message)
    except UnicodeEncodeError:
        # A stream that cannot encode the bar character: degrade to ASCII.
        encoding = getattr(stream, "encoding", None) or "ascii"
        message = message.replace("\u2501", "=").replace("\u2500", "-")
        stream.write(message.encode(encoding, errors="replace").decode(encoding))
    stream.flush()


def _format_value(value):
    """Formats a metric value like Keras: 4 decimals, or scientific when tiny."""
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) > 1e-3 else f"{value:.4e}"
    return str(value)


class Progbar:
    """Displays a progress bar, in the same format as `keras.utils.Progbar`.

    `update()` is cheap to call every step: metric values are kept as given
    (device scalars stay on the device) and are converted with `float()` only
    when a line is drawn. With `verbose=1` the bar is redrawn in place, at most
    once every `interval` seconds, when stdout is a terminal or a notebook
    (`ipykernel` loaded); otherwise it is printed once, when it completes.
    With `verbose=2` one line is printed when it completes.

    Args:
        target: Total number of steps expected, or `None` if unknown.
        width: Width of the bar, in characters.
        verbose: 0 (silent), 1 (bar), or 2 (one line at the end).
        interval: Minimum number of seconds between two redraws.
        stateful_metrics: Names of metrics displayed as given (not averaged).
            If provided, do not provide `stateless_metrics`.
        stateless_metrics: Names of metrics averaged over steps by the bar;
            all others are displayed as given. If neither argument is given,
            all metrics are averaged, as in Keras.
        unit_name: Display name of a step ("step" or "sample").

    Example:

    >>> bar = Progbar(target=3, stateful_metrics=["loss"])
    >>> for step in range(3):
    ...     bar.update(step + 1, [("loss", 0.5)])
    """

    def __init__(
        self,
        target,
        width=20,
        verbose=1,
        interval=0.1,
        stateful_metrics=None,
        stateless_metrics=None,
        unit_name="step",
    ):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Only one of `stateful_metrics` or `stateless_metrics` can be "
                f"provided. Received: stateful_metrics={stateful_metrics!r}, "
                f"stateless_metrics={stateless_metrics!r}"
            )
        if target is not None and (not isinstance(target, (int, np.integer)) or target < 0):
            raise ValueError(
                "Received an invalid value for `target`, expected a non-negative "
                f"integer or None. Received: target={target!r}"
            )
        if verbose not in (0, 1, 2):
            raise ValueError(
                f"Received an invalid value for `verbose`, expected 0, 1 or 2. Received: verbose={verbose!r}"
            )
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        if stateful_metrics is not None:
            self.stateful_metrics = set(stateful_metrics)
            self.stateless_metrics = None
        elif stateless_metrics is not None:
            self.stateful_metrics = None
            self.stateless_metrics = set(stateless_metrics)
        else:
            self.stateful_metrics = set()
            self.stateless_metrics = None

        self._dynamic_display = _is_interactive_display()
        self._seen_so_far = 0
        self._order = []  # metric names, in first-seen order
        self._latest = {}  # name -> last value given (raw, or float once drawn)
        self._pending = {}  # name -> [(raw value, weight), ...] not yet averaged
        self._totals = {}  # name -> [weighted sum, total weight] (floats)
        self._start = time.time()
        self._last_update = 0.0
        self._time_after_first_step = None
        self._prev_total_width = 0

    def _is_stateless(self, name):
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return name in self.stateless_metrics

    def update(self, current, values=None, finalize=None):
        """Records progress and redraws the bar when due.

        Args:
            current: Index of the current step (1-based count of steps done).
            values: List of `(name, value)` pairs for the last step. Values may
                be device scalars; they are not read until the bar is drawn.
            finalize: Whether this is the last update. Defaults to
                `current >= target`.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target

        for name, value in values or ():
            if name not in self._order:
                self._order.append(name)
            if finalize or not self._is_stateless(name):
                # Final values (and stateful metrics) are shown as given.
                self._latest[name] = value
                self._pending.pop(name, None)
                self._totals.pop(name, None)
            else:
                self._latest.pop(name, None)
                weight = max(current - self._seen_so_far, 1)
                self._pending.setdefault(name, []).append((value, weight))
        self._seen_so_far = current

        now = time.time()
        time_per_unit = self._estimate_step_duration(current, now)

        if self.verbose == 1:
            if not finalize and (not self._dynamic_display or now - self._last_update < self.interval):
                return
            self._draw_bar(current, now, time_per_unit, finalize)
        elif self.verbose == 2 and finalize and self.target:
            self._draw_line(current, now, time_per_unit)
        self._last_update = now

    def add(self, n, values=None):
        """Advances the bar by `n` steps."""
        self.update(self._seen_so_far + n, values)

    # -- Rendering (the only place values are read) ----------------------------
    def _metric_values(self):
        """Converts the recorded metrics to floats, in display order."""
        out = []
        for name in self._order:
            if name in self._latest:
                value = _to_python(self._latest[name])
                self._latest[name] = value  # never read the same value twice
            else:
                total = self._totals.setdefault(name, [0.0, 0.0])
                for raw, weight in self._pending.pop(name, ()):
                    total[0] += _to_python(raw) * weight
                    total[1] += weight
                value = total[0] / max(total[1], 1)
            out.append((name, value))
        return out

    def _metrics_text(self):
        return "".join(f" - {name}: {_format_value(value)}" for name, value in self._metric_values())

    def _count_text(self, current):
        numdigits = int(math.log10(self.target)) + 1
        return f"{current:{numdigits}d}/{self.target}"

    def _draw_bar(self, current, now, time_per_unit, finalize):
        color = self._dynamic_display

        def style(text, code):
            return f"\x1b[{code}m{text}\x1b[0m" if color else text

        if self.target:
            prog_width = min(int(self.width * current / self.target), self.width)
            done = "\u2501" * prog_width
            # Without colour the remaining part needs its own character.
            todo = ("\u2501" if color else "\u2500") * (self.width - prog_width)
            plain_bar = f"{self._count_text(current)} {done}{todo}"
            bar = style(self._count_text(current), 1) + " "
            if done:
                bar += style(done, 32)
            bar += style(todo, 37)
        else:
            plain_bar = bar = f"{current:7d}/Unknown"

        if self.target and not finalize:
            eta = time_per_unit * (self.target - current)
            if eta > 3600:
                eta_text = "%d:%02d:%02d" % (eta // 3600, (eta % 3600) // 60, eta % 60)
            elif eta > 60:
                eta_text = "%d:%02d" % (eta // 60, eta % 60)
            else:
                eta_text = "%ds" % eta
        else:
            eta_text = f"{now - self._start:.0f}s"  # elapsed
        rest = self._format_time(time_per_unit, self.unit_name) + self._metrics_text()
        plain_info = f" {eta_text}{rest}"
        info = " " + style(eta_text, 1) + rest

        total_width = len(plain_bar) + len(plain_info)
        message = ""
        if self._dynamic_display:
            message += "\r"
        message += bar + info
        if self._dynamic_display and self._prev_total_width > total_width:
            message += " " * (self._prev_total_width - total_width)
        if finalize or not self._dynamic_display:
            message += "\n"
        _write(message)
        self._prev_total_width = total_width

    def _draw_line(self, current, now, time_per_unit):
        line = f"{self._count_text(current)} - {now - self._start:.0f}s -"
        line += self._format_time(time_per_unit, self.unit_name)
        line += self._metrics_text()
        _write(line + "\n")

    @staticmethod
    def _format_time(time_per_unit, unit_name):
        """Formats a per-step duration as `" 12ms/step"` (s, ms or us)."""
        if time_per_unit >= 1 or time_per_unit == 0:
            return f" {time_per_unit:.0f}s/{unit_name}"
        if time_per_unit >= 1e-3:
            return f" {time_per_unit * 1e3:.0f}ms/{unit_name}"
        return f" {time_per_unit * 1e6:.0f}us/{unit_name}"

    def _estimate_step_duration(self, current, now):
        """Seconds per step, ignoring the (compile-heavy) first step when possible."""
        if not current:
            return 0
        if self._time_after_first_step is not None and current > 1:
            time_per_unit = (now - self._time_after_first_step) / (current - 1)
        else:
            time_per_unit = (now - self._start) / current
        if current == 1:
            self._time_after_first_step = now
        return time_per_unit


class ProgbarLogger(Callback):
    """Prints progress and metrics to stdout during `fit`, `evaluate`, `predict`.

    Reads `verbose` (0, 1, 2 or "auto" = 1), `epochs` and `steps` (steps per
    epoch, or `None` if unknown) from the training parameters. Inside `fit`,
    validation is silent and its `val_` metrics appear at the end of the epoch.
    """

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else verbose
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def on_train_begin(self, logs=None):
        # Inside fit, validation passes stay silent.
        self._called_in_fit = True

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset_progbar()
            self._maybe_init_progbar()

    def on_predict_begin(self, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset_progbar()
        self._maybe_init_progbar()
        if self.verbose and self.epochs > 1:
            _write(f"Epoch {epoch + 1}/{self.epochs}\n")

    def on_train_batch_end(self, batch, logs=None):
        self._update_progbar(batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update_progbar(batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._update_progbar(batch, None)  # never display predictions

    def on_epoch_end(self, epoch, logs=None):
        self._finalize_progbar(logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize_progbar(logs)

    def on_predict_end(self, logs=None):
        self._finalize_progbar(logs)

    def _reset_progbar(self):
        self.seen = 0
        self.progbar = None

    def _maybe_init_progbar(self):
        if self.progbar is None:
            self.progbar = Progbar(
                target=self.target,
                verbose=self.verbose,
                unit_name="step",
                stateless_metrics=set(),  # logs carry running values already
            )

    def _update_progbar(self, batch, logs=None):
        self._maybe_init_progbar()
        self.seen = batch + 1  # one-based
        if self.verbose == 1:
            self.progbar.update(self.seen, list((logs or {}).items()), finalize=False)

    def _finalize_progbar(self, logs):
        self._maybe_init_progbar()
        if self.target is None:
            self.target = self.seen
            self.progbar.target = self.target
        self.progbar.update(self.target, list((logs or {}).items()), finalize=True)


# ---------------------------------------------------------------------------
# Keras's built-in training callbacks
# ---------------------------------------------------------------------------

# Name fragments (split on "_") that tell which way a metric should go, for `mode="auto"`.
_MAXIMIZED_TOKENS = frozenset({
    "acc", "accuracy", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2",
    "similarity", "correlation", "sensitivity", "specificity",
})
_MINIMIZED_TOKENS = frozenset({
    "loss", "error", "mse", "mae", "mape", "msle", "rmse", "crossentropy", "hinge",
    "divergence", "kld", "poisson", "logcosh", "cosh",
})


def _as_float(value):
    """A log value (Python number, NumPy or JAX scalar) as a Python float."""
    return float(np.asarray(value))


def _learning_rate_of(callback):
    """Reads `model.optimizer.learning_rate` as a Python float, with an error that teaches."""
    model = callback.model
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(
            f"`{type(callback).__name__}` needs a model compiled with an optimizer that has a "
            "`learning_rate`, e.g. `model.compile(optimizer=kerasx.optimizers.SGD(0.01), ...)`. "
            f"Received: model.optimizer={optimizer!r}"
        )
    return float(np.asarray(optimizer.learning_rate))


class _MonitorCallback(Callback):
    """Shared logic of the callbacks that watch a logged quantity (Keras's `MonitorCallback`).

    Args:
        monitor: Name of the quantity in the epoch logs.
        mode: "min", "max" or "auto" (inferred from `monitor`).
        min_delta: Smallest change that counts as an improvement (its sign is ignored).
    """

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(
                f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode. "
                "Expected one of 'auto', 'min', 'max'.",
                stacklevel=3,
            )
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(min_delta)
        self.best = None
        # np.less (lower is better) or np.greater (higher is better); set on first use.
        self.monitor_op = None

    def _set_monitor_op(self):
        if self.mode == "min":
            self.monitor_op = np.less
        elif self.mode == "max":
            self.monitor_op = np.greater
        else:
            name = self.monitor.removeprefix("val_")
            tokens = set(name.split("_"))
            if name == "loss" or name.endswith("_loss"):
                self.monitor_op = np.less
            elif tokens & _MAXIMIZED_TOKENS:
                self.monitor_op = np.greater
            elif tokens & _MINIMIZED_TOKENS:
                self.monitor_op = np.less
            else:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but "
                    "kerasx isn't able to automatically determine whether that metric should "
                    "be maximized or minimized. Pass `mode='max'` in order to monitor based on "
                    "the highest metric value, or pass `mode='min'` in order to use the lowest "
                    f"value, e.g. `{type(self).__name__}(monitor={self.monitor!r}, mode='max')`."
                )

    def _is_improvement(self, value, reference):
        """Whether `value` beats `reference` by more than `min_delta` (always, if no reference)."""
        if reference is None:
            return True
        if self.monitor_op is np.less:
            return value + self.min_delta < reference
        return value - self.min_delta > reference


class EarlyStopping(_MonitorCallback):
    """Stops training when a monitored quantity has stopped improving.

    At the end of every epoch the monitored value is compared with the best so far; after
    `patience` epochs without an improvement of more than `min_delta`, the callback sets
    `model.stop_training = True` and `fit` ends after that epoch.

    Args:
        monitor: Quantity to be monitored. Defaults to `"val_loss"`.
        min_delta: Minimum change in the monitored quantity to qualify as an
            improvement: an absolute change of less than `min_delta` counts as
            no improvement. Defaults to `0`.
        patience: Number of epochs with no improvement after which training
            is stopped. Defaults to `0`.
        verbose: 0 (silent) or 1 (print a message when the callback acts).
            Defaults to `0`.
        mode: One of `"auto"`, `"min"`, `"max"`. In `"min"` mode training stops
            when the quantity has stopped decreasing, in `"max"` mode when it
            has stopped increasing; `"auto"` infers the direction from the name
            (losses and errors are minimized; accuracy, AUC, precision, recall
            are maximized). Defaults to `"auto"`.
        baseline: Baseline value for the monitored quantity. If not `None`,
            training stops when the model does not improve on the baseline
            within `patience` epochs. Defaults to `None`.
        restore_best_weights: Whether to restore the weights of the epoch with
            the best monitored value at the end of training (whether or not
            training was stopped early, and regardless of `baseline`). If
            `False`, the weights of the last step are kept. Defaults to `False`.
        start_from_epoch: Number of epochs to wait before starting to monitor
            improvement (a warm-up period). Defaults to `0`.

    Attributes:
        stopped_epoch: The (0-based) epoch at which training was stopped, `0` if it was not.
        best: The best monitored value seen so far.
        best_epoch: The epoch of `best`.
        wait: Epochs since the last improvement.
        best_weights: A copy (NumPy arrays, from `model.get_weights()`) of the
            weights at `best_epoch`, when `restore_best_weights=True`.

    Example:

    >>> callback = kerasx.callbacks.EarlyStopping(monitor="loss", patience=3)
    >>> history = model.fit(x, y, epochs=100, callbacks=[callback], verbose=0)
    >>> len(history.history["loss"])  # fewer than 100 if the loss plateaued
    """

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0,
        patience=0,
        verbose=0,
        mode="auto",
        baseline=None,
        restore_best_weights=False,
        start_from_epoch=0,
    ):
        super().__init__(monitor, mode, min_delta=min_delta)
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self.wait = 0
        self.stopped_epoch = 0
        self.best_epoch = 0
        self.best_weights = None

    def on_train_begin(self, logs=None):
        # The same instance may be reused across `fit` calls.
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_epoch = 0
        self.best_weights = None
        if self.monitor_op is None:
            self._set_monitor_op()  # fail before training when `mode="auto"` can't decide

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = self.get_monitor_value(logs)
        if current is None or epoch < self.start_from_epoch:
            return  # nothing to monitor, or still warming up
        if self.restore_best_weights and self.best_weights is None:
            # The first monitored epoch is the best one so far.
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch

        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()  # NumPy copies
            # Patience restarts only when both the previous best and the baseline are beaten.
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return

        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            _write(f"Epoch {self.stopped_epoch + 1}: early stopping\n")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                _write(f"Restoring model weights from the end of the best epoch: "
                       f"{self.best_epoch + 1}.\n")
            self.model.set_weights(self.best_weights)

    def get_monitor_value(self, logs):
        """Returns the monitored value from `logs` as a float, or `None` (with a warning)."""
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is None:
            warnings.warn(
                f"Early stopping conditioned on metric `{self.monitor}` which is not available. "
                f"Available metrics are: {','.join(logs.keys())}",
                stacklevel=2,
            )
            return None
        return _as_float(value)


class ReduceLROnPlateau(_MonitorCallback):
    """Reduces the learning rate when a monitored quantity has stopped improving.

    After `patience` epochs without an improvement of more than `min_delta`, the
    learning rate becomes `max(lr * factor, min_lr)`; then `cooldown` epochs
    pass before the count of epochs without improvement starts again. The
    current learning rate is added to the epoch logs as `"learning_rate"`, so
    `history.history["learning_rate"]` records it.

    Args:
        monitor: Quantity to be monitored. Defaults to `"val_loss"`.
        factor: Factor by which the learning rate is reduced:
            `new_lr = lr * factor`. Must be below 1. Defaults to `0.1`.
        patience: Number of epochs with no improvement after which the
            learning rate is reduced. Defaults to `10`.
        verbose: 0 (quiet) or 1 (print a message on each reduction). Defaults to `0`.
        mode: One of `"auto"`, `"min"`, `"max"`: whether the quantity should
            decrease or increase; `"auto"` infers it from the name. Defaults to `"auto"`.
        min_delta: Threshold for measuring the new optimum, to only focus on
            significant changes. Defaults to `1e-4`.
        cooldown: Number of epochs to wait before resuming normal operation
            after the learning rate has been reduced. Defaults to `0`.
        min_lr: Lower bound on the learning rate. Defaults to `0.0`.

    Example:

    >>> reduce_lr = kerasx.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.2,
    ...                                                patience=5, min_lr=0.001)
    >>> model.fit(x, y, validation_data=(vx, vy), callbacks=[reduce_lr])
    """

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        verbose=0,
        mode="auto",
        min_delta=1e-4,
        cooldown=0,
        min_lr=0.0,
    ):
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(
                "ReduceLROnPlateau does not support a factor >= 1.0 (it would not reduce the "
                f"learning rate); use e.g. factor=0.1. Received factor={factor}"
            )
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self):
        """Resets the wait and cooldown counters and the best value."""
        self.best = None
        self.cooldown_counter = 0
        self.wait = 0

    def on_train_begin(self, logs=None):
        self._reset()
        if self.monitor_op is None:
            self._set_monitor_op()

    def in_cooldown(self):
        """Whether the callback is in its cooldown period after a reduction."""
        return self.cooldown_counter > 0

    def _reduce_lr(self, epoch):
        old_lr = _learning_rate_of(self)
        # Compared in float32, the precision the optimizer keeps the rate in.
        if np.float32(old_lr) > np.float32(self.min_lr):
            new_lr = max(old_lr * self.factor, self.min_lr)
            self.model.optimizer.learning_rate = new_lr
            if self.verbose > 0:
                _write(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                       f"{new_lr}.\n")
            return True
        return False

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        logs = {} if logs is None else logs
        logs["learning_rate"] = _learning_rate_of(self)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(
                f"Learning rate reduction is conditioned on metric `{self.monitor}` which is "
                f"not available. Available metrics are: {','.join(logs.keys())}.",
                stacklevel=2,
            )
            return
        current = _as_float(current)
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience and self._reduce_lr(epoch):
                self.cooldown_counter = self.cooldown
                self.wait = 0


def _positional_arity(fn):
    """How many positional arguments `fn` takes (2 for `*args`), or None if unknown."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    count = 0
    for p in signature.parameters.values():
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            return 2
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


class LearningRateScheduler(Callback):
    """Sets the learning rate at the start of every epoch from a schedule.

    At the beginning of every epoch, `schedule(epoch, lr)` gets the epoch index
    (0-based) and the current learning rate, and its result becomes the
    optimizer's learning rate for that epoch. A schedule taking one argument,
    `schedule(epoch)`, is also accepted. The rate in effect is added to the
    epoch logs as `"learning_rate"`.

    Args:
        schedule: A function `(epoch, lr) -> new_lr` (or `epoch -> new_lr`)
            returning a float.
        verbose: 0 (quiet) or 1 (print the rate set at each epoch). Defaults to `0`.

    Example:

    >>> def scheduler(epoch, lr):
    ...     return lr if epoch < 10 else lr * math.exp(-0.1)
    >>> callback = kerasx.callbacks.LearningRateScheduler(scheduler)
    >>> model.fit(x, y, epochs=15, callbacks=[callback], verbose=0)
    """

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise ValueError(
                "Argument `schedule` should be a function `(epoch, lr) -> new_lr`, e.g. "
                "`LearningRateScheduler(lambda epoch, lr: lr * 0.9)`. "
                f"Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.verbose = verbose

    def _new_learning_rate(self, epoch):
        lr = _learning_rate_of(self)
        arity = _positional_arity(self.schedule)
        if arity is None:  # no signature: try the new API, then the old one, like Keras
            try:
                new_lr = self.schedule(epoch, lr)
            except TypeError:
                new_lr = self.schedule(epoch)
        elif arity >= 2:
            new_lr = self.schedule(epoch, lr)
        else:
            new_lr = self.schedule(epoch)
        value = np.asarray(new_lr) if not isinstance(new_lr, (str, bool)) else None
        if value is None or value.shape != () or not np.issubdtype(value.dtype, np.number) \
                or np.issubdtype(value.dtype, np.complexfloating):
            raise ValueError(
                "The output of the `schedule` function should be a float, e.g. "
                f"`lambda epoch, lr: lr * 0.9`. Got: {new_lr!r} at epoch {epoch}"
            )
        return float(value)

    def on_epoch_begin(self, epoch, logs=None):
        learning_rate = self._new_learning_rate(epoch)
        self.model.optimizer.learning_rate = learning_rate
        if self.verbose > 0:
            _write(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                   f"{learning_rate}.\n")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = _learning_rate_of(self)


def _csv_value(value):
    """Formats a log value for `CSVLogger` the way Keras does (1-D iterables as `"[a, b]"`)."""
    if isinstance(value, str):
        return value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value
    try:
        items = list(value)
    except TypeError:
        return value
    return f'"[{", ".join(map(str, items))}]"'


class CSVLogger(Callback):
    """Streams the epoch results to a CSV file, one row per epoch.

    The first row is the header `epoch,<log names in sorted order>` (when no
    validation metric is logged, the `val_` names are added too, their cells
    reading `NA`, as in Keras). The file is flushed after every epoch and
    closed at the end of training.

    Args:
        filename: Path of the CSV file, e.g. `"run/log.csv"`.
        separator: String used to separate the cells. Defaults to `","`.
        append: If `True`, append to the file if it exists (continuing a
            training run; the header is not written again when the file
            already has content). If `False`, overwrite it. Defaults to `False`.

    Example:

    >>> csv_logger = kerasx.callbacks.CSVLogger("training.log")
    >>> model.fit(x, y, callbacks=[csv_logger])
    """

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.sep = separator
        self.filename = os.fspath(filename)
        self.append = append
        self.writer = None
        self.keys = None
        self.append_header = True
        self.csv_file = None

    def on_train_begin(self, logs=None):
        self.append_header = True
        if self.append:
            if os.path.exists(self.filename):
                with open(self.filename, "r", newline="") as f:
                    self.append_header = not f.readline()
            mode = "a"
        else:
            mode = "w"
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.csv_file = open(self.filename, mode, newline="")
        self.writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.csv_file is None or self.csv_file.closed:
            raise RuntimeError(
                f"CSVLogger({self.filename!r}) has no open file: `on_train_begin` opens it. "
                "Pass the callback to `fit(..., callbacks=[csv_logger])`, or call "
                "`on_train_begin()` first in a custom loop."
            )
        if self.keys is None:
            self.keys = sorted(logs.keys())
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                # Validation may start later (validation_freq): keep columns for it.
                self.keys.extend([f"val_{k}" for k in self.keys])
        if self.writer is None:
            dialect = type("CSVLoggerDialect", (csv.excel,), {"delimiter": self.sep})
            self.writer = csv.DictWriter(self.csv_file, fieldnames=["epoch"] + self.keys,
                                         dialect=dialect)
            if self.append_header:
                self.writer.writeheader()
        row = {"epoch": epoch}
        row.update((key, _csv_value(logs.get(key, "NA"))) for key in self.keys)
        self.writer.writerow(row)
        self.csv_file.flush()

    def on_train_end(self, logs=None):
        if self.csv_file is not None and not self.csv_file.closed:
            self.csv_file.close()
        self.writer = None


class TerminateOnNaN(Callback):
    """Stops training when a NaN or infinite loss is encountered.

    Checks `logs["loss"]` after every batch. This reads the loss from the
    device after each step (a host sync per batch, as in Keras); with
    `compile(steps_per_execution="auto")` kerasx then runs one step per call so
    that every batch is checked. With a fixed `steps_per_execution > 1` the
    check happens once per execution, on the running loss, which stays NaN once
    any batch was NaN.

    Args:
        raise_error: If `False` (default), stop gracefully with
            `model.stop_training = True` (the other callbacks' `on_train_end`
            still run). If `True`, raise a `RuntimeError` at once.
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        value = np.asarray(loss, dtype=np.float64)  # host sync
        if np.all(np.isfinite(value)):
            return
        if self.raise_error:
            raise RuntimeError(
                f"NaN or Inf loss encountered at batch {batch}. Loss value: {value}. "
                "Terminating training immediately."
            )
        _write(f"Batch {batch}: Invalid loss, terminating training\n")
        self.model.stop_training = True


_LAMBDA_HOOKS = tuple(sorted(name for name in vars(Callback) if name.startswith("on_")))


class LambdaCallback(Callback):
    """Builds a callback from plain functions, one per hook.

    The functions are called with the same arguments as the `Callback` hooks:

    - `on_epoch_begin`, `on_epoch_end`: `(epoch, logs)`;
    - `on_train_begin`, `on_train_end`: `(logs)`;
    - `on_train_batch_begin`, `on_train_batch_end` (and the other batch
      hooks): `(batch, logs=...)`, with `logs` passed by keyword.

    Only the hooks given are replaced, so kerasx keeps running many steps per
    jitted call unless a batch-level function is given.

    Args:
        on_epoch_begin: Called at the beginning of every epoch.
        on_epoch_end: Called at the end of every epoch.
        on_train_begin: Called at the beginning of training.
        on_train_end: Called at the end of training.
        on_train_batch_begin: Called at the beginning of every training batch.
        on_train_batch_end: Called at the end of every training batch.
        **kwargs: Any other `Callback` hook, e.g. `on_batch_end=...`,
            `on_test_end=...`, `on_predict_batch_end=...`.

    Example:

    >>> print_batch = kerasx.callbacks.LambdaCallback(
    ...     on_train_batch_begin=lambda batch, logs: print(batch))
    >>> log_epochs = kerasx.callbacks.LambdaCallback(
    ...     on_epoch_end=lambda epoch, logs: print(epoch, logs["loss"]))
    """

    def __init__(
        self,
        on_epoch_begin=None,
        on_epoch_end=None,
        on_train_begin=None,
        on_train_end=None,
        on_train_batch_begin=None,
        on_train_batch_end=None,
        **kwargs,
    ):
        super().__init__()
        unknown = sorted(k for k in kwargs if k not in _LAMBDA_HOOKS)
        if unknown:
            raise TypeError(
                f"LambdaCallback got unexpected keyword argument(s) {unknown}. Pass functions "
                f"for the callback hooks only: {', '.join(_LAMBDA_HOOKS)}."
            )
        hooks = dict(
            on_epoch_begin=on_epoch_begin,
            on_epoch_end=on_epoch_end,
            on_train_begin=on_train_begin,
            on_train_end=on_train_end,
            on_train_batch_begin=on_train_batch_begin,
            on_train_batch_end=on_train_batch_end,
            **kwargs,
        )
        for name, fn in hooks.items():
            if fn is None:
                continue
            if not callable(fn):
                raise TypeError(
                    f"LambdaCallback argument `{name}` should be a function, e.g. "
                    f"`{name}=lambda *args, **kwargs: None`. Received: {name}={fn!r}"
                )
            # An instance attribute: `overrides_batch_hooks` sees only the hooks given.
            setattr(self, name, fn)


class SwapEMAWeights(Callback):
    """Swaps the model's weights with the optimizer's EMA weights around evaluation.

    For an optimizer created with `use_ema=True` (Keras's callback of the same
    name): before validation, `evaluate` and `predict` the model's weights are
    replaced by their exponential moving averages, and put back afterwards, so
    training goes on from the raw weights. With `swap_on_epoch=True` the swap
    also happens at the end of each epoch (and is undone at the start of the
    next), so other callbacks such as `ModelCheckpoint` see the EMA weights; at
    the end of the last epoch the EMA weights stay in the model.

    Args:
        swap_on_epoch: Whether to swap at `on_epoch_end` / `on_epoch_begin` too.
            Defaults to False.
    """

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _check_optimizer(self):
        trainer = getattr(self.model, "_trainer", None)
        optimizer = getattr(trainer, "optimizer", None)
        if not getattr(optimizer, "use_ema", False):
            raise ValueError(
                "SwapEMAWeights must be used when `use_ema=True` is set on the optimizer "
                "(or on an inner optimizer of a MultiOptimizer). Received: optimizer "
                f"{optimizer!r}")
        return trainer

    def _swap_variables(self, finalize=False):
        from .optimizers import swap_ema_weights

        trainer = self._check_optimizer()
        ts = trainer._ts
        if ts is not None:  # inside fit: the live train state
            params, opt_state = swap_ema_weights(ts["params"], ts["opt_state"])
            if finalize:  # the EMA weights stay in the model; the averages equal them
                opt_state = swap_ema_weights(params, opt_state)[1]
            ts["params"] = params
            ts["opt_state"] = opt_state
            trainer.opt_state = opt_state
            self.model._set_trees(params, ts["state"])
            return
        opt_state = trainer._opt_state_now()
        if opt_state is None:
            raise ValueError("SwapEMAWeights: the optimizer has no state yet; train the model first.")
        params, opt_state = swap_ema_weights(self.model.params, opt_state)
        trainer.opt_state = opt_state
        self.model.params = params

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            last = epoch == (self.params or {}).get("epochs", 0) - 1
            self._swap_variables(finalize=last)
            self._ema_weights_in_model = True

    def on_test_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_test_end(self, logs=None):
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_predict_begin(self, logs=None):
        self.on_test_begin(logs)

    def on_predict_end(self, logs=None):
        self.on_test_end(logs)


class RemoteMonitor(Callback):
    """Posts each epoch's logs to a server (Keras's `RemoteMonitor`), with the standard library.

    At the end of every epoch an HTTP POST goes to `root + path`: a form whose field `field`
    holds the logs as JSON (`{"epoch": 0, "loss": 0.3, ...}`), or with `send_as_json=True` the
    JSON itself as `application/json`. A server that cannot be reached gives a warning, not an
    error: training goes on.

    Args:
        root: the server's root URL.
        path: the path under `root` the events are posted to.
        field: the form field holding the JSON (form posts only).
        headers: extra HTTP headers, a dict.
        send_as_json: post the JSON as the request body instead of in a form.
    """

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data",
                 headers=None, send_as_json=False):
        super().__init__()
        self.root, self.path, self.field = root, path, field
        self.headers, self.send_as_json = headers, send_as_json

    def on_epoch_end(self, epoch, logs=None):
        send = {"epoch": epoch}
        for k, v in (logs or {}).items():
            v = np.asarray(v) if isinstance(v, (np.ndarray, np.generic)) else v
            send[k] = (v.item() if v.ndim == 0 else v.tolist()) if isinstance(v, np.ndarray) else v
        if self.send_as_json:
            body, kind = json.dumps(send).encode(), "application/json"
        else:
            body = urllib.parse.urlencode({self.field: json.dumps(send)}).encode()
            kind = "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.root + self.path, data=body, method="POST",
                                         headers={"Content-Type": kind, **(self.headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except (urllib.error.URLError, OSError, ValueError):
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}",
                          stacklevel=2)


# ---------------------------------------------------------------------------- OrbaxCheckpoint
from ..saving import _orbax as _orbax_saving  # noqa: E402  (imports orbax only when used)


class OrbaxCheckpoint(_MonitorCallback):
    """Saves the model's state to an orbax checkpoint directory during training, as Keras 3's.

    Each save is one numbered step folder of `directory` (the epoch, 0-based, for
    `save_freq="epoch"`; the number of batches trained so far for an integer `save_freq`)
    holding the weights, the optimizer state (with its iteration count) and the compiled
    metrics' accumulators, laid out as Keras's `model.get_state_tree()`, and, unless
    `save_weights_only`, the model's config. Arrays are written shard by shard by the
    processes that hold them (no gathering on one host), in the background by default.

    Restore with `model.load_weights(directory)` (the latest step, or a step folder: weights
    and optimizer state, each array into the sharding of the model's) or rebuild the model
    with `kerasx.saving.load_model(directory)`. Keras 3 reads
    the same directories (`model.load_weights(directory)`, `keras.saving.load_model`), and
    kerasx reads Keras's, when the layers have the same names.

    In a multi-process job (`jax.distributed.initialize`) every process runs the callback;
    orbax coordinates the writes.

    Args:
        directory: The folder of the checkpoints (created if missing).
        monitor: The logged quantity `save_best_only` watches. Defaults to `"val_loss"`.
        verbose: 0 (silent) or 1 (a message per save).
        save_best_only: Save only when `monitor` improves on the best value seen.
        mode: "auto", "min" or "max": whether a lower or higher `monitor` is better.
        save_freq: `"epoch"`, or an integer: save every that many batches (which makes `fit`
            run one step per call, so that the callback sees every batch).
        initial_value_threshold: With `save_best_only`, a value the first save must beat.
        max_to_keep: How many of the latest checkpoints to keep (None keeps all). Defaults
            to 1.
        save_on_background: Write in a background thread while training goes on (the arrays
            are copied off the device first). `wait_until_finished()` waits for the writes;
            the end of `fit` does too.
        save_weights_only: Save only the weights (no optimizer state, metrics or config).
    """

    def __init__(self, directory, monitor="val_loss", verbose=0, save_best_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None, max_to_keep=1,
                 save_on_background=True, save_weights_only=False):
        super().__init__(monitor=monitor, mode=mode)
        _orbax_saving.ocp()  # orbax-checkpoint must be installed
        if not directory:
            raise ValueError("OrbaxCheckpoint: empty `directory` argument; give a folder path.")
        if save_freq != "epoch" and not (isinstance(save_freq, int)
                                         and not isinstance(save_freq, bool) and save_freq > 0):
            raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are "
                             "'epoch' or integer values (a positive number of batches).")
        if max_to_keep is not None and not (isinstance(max_to_keep, int)
                                            and not isinstance(max_to_keep, bool)
                                            and max_to_keep > 0):
            raise ValueError("OrbaxCheckpoint: `max_to_keep` must be a positive integer or None "
                             f"(keep all). Received: max_to_keep={max_to_keep!r}")
        self.directory = os.fspath(directory)
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_freq = save_freq
        self.max_to_keep = max_to_keep
        self.save_on_background = save_on_background
        self.save_weights_only = save_weights_only
        self.best = initial_value_threshold
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = None
        self._total_batches_seen = 0
        self._async_futures = []
        self._config_json = None
        self._multihost_initialized = _orbax_saving.is_multiprocess()
        self.checkpointer = self._new_checkpointer()

    def _new_checkpointer(self):
        ocp = _orbax_saving.ocp()
        policy = None
        if self.max_to_keep is not None:
            policy = ocp.training.preservation_policies.LatestN(self.max_to_keep)
        return ocp.training.Checkpointer(
            directory=self.directory, preservation_policy=policy,
            save_decision_policy=ocp.training.save_decision_policies.FixedIntervalPolicy(1))

    def set_model(self, model):
        super().set_model(model)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and getattr(model, "built", False):
            self._total_batches_seen = int(optimizer.iterations)  # a reloaded model goes on

    def is_multihost_enabled(self):
        """Whether this is one process of a multi-process JAX job."""
        return self._multihost_initialized

    def is_primary_host(self):
        """Whether this process is the primary one (process 0); True in a single process."""
        return not self._multihost_initialized or _orbax_saving.process_index() == 0

    def _uses_batch_hooks(self, kind):
        return kind == "train" and self.save_freq != "epoch"

    def on_train_begin(self, logs=None):
        if self.checkpointer is None:  # closed at the end of an earlier fit
            self.checkpointer = self._new_checkpointer()
        if self.save_best_only and self.monitor_op is None:
            self._set_monitor_op()
        self._config_json = None

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        if self._last_batch_seen is None or batch <= self._last_batch_seen:  # a new epoch
            add_batches = batch + 1
        else:
            add_batches = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += add_batches
        self._last_batch_seen = batch
        self._total_batches_seen += add_batches
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _improved(self, logs, what):
        """With `save_best_only`, whether `monitor` improved (and remember it)."""
        if not self.save_best_only:
            return True
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available, skipping "
                          f"save at {what}. Available: {sorted(logs or {})}.", stacklevel=3)
            return False
        current = _as_float(current)
        if not self._is_improvement(current, self.best):
            return False
        self.best = current
        return True

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch) and self._improved(logs, f"batch {batch}"):
            self._save_checkpoint(self._total_batches_seen, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch" and self._improved(logs, f"epoch {epoch}"):
            self._save_checkpoint(epoch, logs)

    def _model_config(self):
        if self._config_json is None:
            try:
                self._config_json = _orbax_saving.model_config_json(self.model)
            except (NotImplementedError, TypeError, ValueError) as e:
                warnings.warn(f"OrbaxCheckpoint: model '{self.model.name}' is saved without its "
                              f"config, which cannot be serialized ({e}); rebuild the model and "
                              "use `load_weights` to restore it.", stacklevel=4)
                self._config_json = ""
        return self._config_json

    def _save_checkpoint(self, step, logs=None):
        model = self.model
        trainer = getattr(model, "_trainer", None)
        running = trainer is not None and getattr(trainer, "_ts", None) is not None
        opt_state = trainer.training_state()["opt_state"] if running else None
        metrics_state = trainer._ts.get("metrics") if running else None
        tree = _orbax_saving.model_state_tree(model, opt_state=opt_state,
                                              metrics_state=metrics_state,
                                              weights_only=self.save_weights_only)
        payload = {"pytree": _orbax_saving.as_global_arrays(tree)}
        if not self.save_weights_only and self._model_config():
            payload["model_config"] = {"config": self._model_config()}
        if self.verbose > 0:
            _write(f"\nOrbaxCheckpoint: saving step {step} to {self.directory}\n")
        ocp = _orbax_saving.ocp()
        try:
            with ocp.Context():
                if self.save_on_background:
                    self._async_futures.append(
                        self.checkpointer.save_checkpointables_async(step, payload))
                else:
                    self.checkpointer.save_checkpointables(step, payload)
        except ocp.training.errors.StepAlreadyExistsError:
            raise ValueError(
                f"OrbaxCheckpoint: '{self.directory}' already holds a checkpoint for step {step}"
                " (checkpoints are numbered by epoch, or by batches trained for an integer "
                "save_freq). Give this fit another directory, or continue the numbering with "
                "`fit(..., initial_epoch=...)`.") from None

    def on_train_end(self, logs=None):
        if self.checkpointer is not None:
            self.checkpointer.close()  # waits for the writes in flight
            self.checkpointer = None
        self._async_futures.clear()
        _orbax_saving.sync_processes("kerasx_orbax_checkpoint_cleanup")

    def wait_until_finished(self):
        """Blocks until every checkpoint write in flight is complete (on every process)."""
        for future in self._async_futures:
            future.result()
        self._async_futures.clear()
        if self.checkpointer is not None:
            self.checkpointer.wait()
        _orbax_saving.sync_processes("kerasx_orbax_checkpoint_wait")

