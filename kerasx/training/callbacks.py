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

import math
import os
import sys
import time

import numpy as np

__all__ = ["Callback", "CallbackList", "History", "Progbar", "ProgbarLogger"]


class Callback:
    """Base class for callbacks; every hook is a no-op.

    Subclass it and override the hooks you need. A callback can stop training
    by setting `self.model.stop_training = True`; the fit loop checks the flag
    after every batch and every epoch.

    The per-batch hooks receive `logs` whose values may be JAX device scalars;
    calling `float()` on them forces a device sync, so do it only when needed.

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
    return any(getattr(type(callback), hook, None) is not getattr(Callback, hook)
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
            self.history.setdefault(k, []).append(_to_python(v))
        if self.model is not None:
            # The latest History, as Keras sets it.
            self.model.history = self


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
