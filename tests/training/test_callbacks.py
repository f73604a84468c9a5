"""Tests for kerasx.training.callbacks: hooks, History, Progbar/ProgbarLogger."""

import re
import time

import jax.numpy as jnp
import numpy as np
import pytest

from kerasx.training import callbacks as cbks
from kerasx.training.callbacks import Callback, CallbackList, History, Progbar, ProgbarLogger

ANSI = re.compile(r"\x1b\[[0-9;]*m")
BAR = "\u2501" * 20


def plain(text):
    """Drops ANSI colour codes and in-place redraw characters."""
    return ANSI.sub("", text).replace("\b", "").replace("\r", "")


class FakeClock:
    """A `time.time` replacement advanced by hand."""

    def __init__(self, start=1000.0):
        self.now = start

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(time, "time", fake)
    return fake


class CountingScalar:
    """A stand-in for a device scalar that counts how often it is read."""

    reads = 0

    def __init__(self, value):
        self.value = value

    def __float__(self):
        CountingScalar.reads += 1
        return float(self.value)


class Model:
    """The minimum a callback needs from a model."""

    stop_training = False


HOOKS = [
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
    "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
    "on_predict_batch_begin", "on_predict_batch_end", "on_batch_begin", "on_batch_end",
]  # fmt: skip


class Recorder(Callback):
    """Records every hook call as (hook, index-or-None)."""

    def __init__(self):
        super().__init__()
        self.calls = []


def _make_recording_hook(name):
    def hook(self, *args, **kwargs):
        index = args[0] if args and isinstance(args[0], int) else None
        self.calls.append((name, index))
        # Keep the base-class chaining (on_train_batch_* -> on_batch_*).
        getattr(Callback, name)(self, *args, **kwargs)

    return hook


for _name in HOOKS:
    setattr(Recorder, _name, _make_recording_hook(_name))


def drive_fit(callbacks, epochs=2, steps=3, val_steps=2, model=None):
    """Drives a CallbackList through the hooks of a fit with validation, by hand (the order
    of a real `fit` is checked against Keras in tests/training/test_fit_hooks.py)."""
    callbacks.on_train_begin()
    logs = {}
    for epoch in range(epochs):
        callbacks.on_epoch_begin(epoch)
        for step in range(steps):
            callbacks.on_train_batch_begin(step)
            logs = {"loss": 1.0 / (epoch + step + 1)}
            callbacks.on_train_batch_end(step, logs)
            if model is not None and model.stop_training:
                break
        callbacks.on_test_begin()
        for step in range(val_steps):
            callbacks.on_test_batch_begin(step)
            callbacks.on_test_batch_end(step, {"loss": 0.5})
        callbacks.on_test_end({"loss": 0.5})
        logs = {**logs, "val_loss": 0.5}
        callbacks.on_epoch_end(epoch, logs)
        if model is not None and model.stop_training:
            break
    callbacks.on_train_end(logs)


# --- Callback / CallbackList ---------------------------------------------------


def test_base_callback_hooks_are_noops():
    cb = Callback()
    assert cb.model is None and cb.params is None
    for name in HOOKS:
        args = () if name.endswith(("_begin", "_end")) and "batch" not in name and "epoch" not in name else (0,)
        assert getattr(cb, name)(*args, logs={"loss": 1.0}) is None
    cb.set_model("m")
    cb.set_params({"epochs": 1})
    assert cb.model == "m" and cb.params == {"epochs": 1}


def test_callback_list_gives_model_and_params():
    # The hook order of a real fit/evaluate/predict is checked against Keras 3 in
    # tests/training/test_fit_hooks.py.
    rec = Recorder()
    model = Model()
    CallbackList([rec], model=model, epochs=2, steps=2, verbose=0)
    assert rec.model is model and rec.params == {"epochs": 2, "steps": 2, "verbose": 0}


def test_predict_hooks_and_legacy_batch_aliases():
    rec = Recorder()
    callbacks = CallbackList([rec])
    callbacks.on_predict_begin()
    callbacks.on_predict_batch_begin(0)
    callbacks.on_predict_batch_end(0, {"outputs": 1})
    callbacks.on_predict_end()
    # The legacy aliases dispatch directly too.
    callbacks.on_batch_begin(7)
    callbacks.on_batch_end(7)
    assert rec.calls == [
        ("on_predict_begin", None), ("on_predict_batch_begin", 0),
        ("on_predict_batch_end", 0), ("on_predict_end", None),
        ("on_batch_begin", 7), ("on_batch_end", 7),
    ]  # fmt: skip


def test_legacy_on_batch_end_override_receives_train_batches_only():
    class Legacy(Callback):
        def __init__(self):
            super().__init__()
            self.batches = []

        def on_batch_end(self, batch, logs=None):
            self.batches.append((batch, logs["loss"]))

    legacy = Legacy()
    callbacks = CallbackList([legacy])
    callbacks.on_train_batch_end(0, {"loss": 3.0})
    callbacks.on_test_batch_end(0, {"loss": 4.0})
    assert legacy.batches == [(0, 3.0)]


def test_callback_list_dispatches_in_order_and_passes_device_values_through():
    seen = []

    class Tag(Callback):
        def __init__(self, tag):
            super().__init__()
            self.tag = tag

        def on_train_batch_end(self, batch, logs=None):
            seen.append((self.tag, logs))

    value = jnp.asarray(0.25)
    callbacks = CallbackList([Tag("a"), [Tag("b")]])  # nested lists are flattened
    callbacks.on_train_batch_end(0, {"loss": value})
    assert [tag for tag, _ in seen] == ["a", "b"]
    assert seen[0][1]["loss"] is value  # not converted, not copied to host
    callbacks.on_train_batch_end(1)  # logs=None arrives as {}
    assert seen[-1][1] == {}


def test_callback_list_default_callbacks_and_append():
    model = Model()
    callbacks = CallbackList(add_history=True, add_progbar=True, model=model, verbose=1, epochs=1, steps=4)
    types = [type(cb) for cb in callbacks.callbacks]
    assert types == [History, ProgbarLogger]
    assert model.history is callbacks.callbacks[0]
    assert callbacks.callbacks[1].target == 4

    history = History()
    callbacks = CallbackList([history], add_history=True, add_progbar=False, model=model)
    assert callbacks.callbacks == [history] and model.history is history

    rec = Recorder()
    callbacks.append(rec)
    assert rec.model is model and callbacks.callbacks[-1] is rec


def test_callback_list_rejects_non_callbacks():
    with pytest.raises(TypeError, match="Callback.*Received: 'oops'.*str"):
        CallbackList(["oops"])


def test_stop_training_flag():
    class StopAfterFirstEpoch(Callback):
        def on_epoch_end(self, epoch, logs=None):
            self.model.stop_training = True

    model = Model()
    history = History()
    callbacks = CallbackList([StopAfterFirstEpoch(), history], model=model)
    drive_fit(callbacks, epochs=5, steps=2, model=model)
    assert model.stop_training is True
    assert history.epoch == [0]


# --- History -------------------------------------------------------------------


def test_history_accumulates_python_floats():
    model = Model()
    history = History()
    callbacks = CallbackList([history], model=model, epochs=3, steps=2, verbose=0)
    callbacks.on_train_begin()
    for epoch in range(3):
        callbacks.on_epoch_begin(epoch)
        callbacks.on_epoch_end(epoch, {"loss": jnp.asarray(1.0 / (epoch + 1)), "accuracy": np.float32(0.5)})
    callbacks.on_train_end()
    assert history.epoch == [0, 1, 2]
    assert list(history.history) == ["loss", "accuracy"]
    assert history.history["loss"] == pytest.approx([1.0, 0.5, 1.0 / 3.0])
    assert all(type(v) is float for values in history.history.values() for v in values)
    assert history.params == {"epochs": 3, "steps": 2, "verbose": 0}
    assert model.history is history


def test_history_across_two_fits_resets_epoch_and_appends_values():
    history = History()
    for fit in range(2):
        history.on_train_begin()
        for epoch in range(2):
            history.on_epoch_end(epoch, {"loss": float(fit * 10 + epoch)})
    # Keras semantics: `epoch` is per fit, the `history` dict keeps appending.
    assert history.epoch == [0, 1]
    assert history.history == {"loss": [0.0, 1.0, 10.0, 11.0]}


def test_history_does_not_read_batch_logs():
    CountingScalar.reads = 0
    history = History()
    history.on_train_begin()
    for step in range(50):
        history.on_train_batch_end(step, {"loss": CountingScalar(1.0)})
    assert CountingScalar.reads == 0
    history.on_epoch_end(0, {"loss": CountingScalar(2.0)})
    assert CountingScalar.reads == 1 and history.history["loss"] == [2.0]


# --- Progbar -------------------------------------------------------------------


def run_progbar_fit(clock, verbose, epochs=2, steps=125, make_value=float, interactive=False, dt=0.012):
    """Drives a ProgbarLogger through a fit with validation; returns it."""
    logger = ProgbarLogger()
    callbacks = CallbackList([logger], verbose=verbose, epochs=epochs, steps=steps)
    callbacks.on_train_begin()
    for epoch in range(epochs):
        callbacks.on_epoch_begin(epoch)
        logger.progbar._dynamic_display = interactive
        for step in range(steps):
            callbacks.on_train_batch_begin(step)
            clock.advance(dt)
            logs = {"accuracy": make_value(0.8123), "loss": make_value(0.6012)}
            callbacks.on_train_batch_end(step, logs)
        callbacks.on_test_begin()
        for step in range(3):  # validation inside fit is silent
            callbacks.on_test_batch_end(step, {"loss": make_value(0.7)})
        callbacks.on_test_end({"loss": make_value(0.7)})
        epoch_logs = {
            "accuracy": make_value(0.8123),
            "loss": make_value(0.6012),
            "val_accuracy": make_value(0.8),
            "val_loss": make_value(0.7),
        }
        callbacks.on_epoch_end(epoch, epoch_logs)
    callbacks.on_train_end(epoch_logs)
    return logger


def test_progbar_verbose_1_not_a_tty(clock, capsys):
    run_progbar_fit(clock, verbose=1)
    out = capsys.readouterr().out
    line = f"125/125 {BAR} 1s 12ms/step - accuracy: 0.8123 - loss: 0.6012 - val_accuracy: 0.8000 - val_loss: 0.7000\n"
    # Not a terminal: no redraws, no colour codes, one line per epoch at its end.
    assert out == "Epoch 1/2\n" + line + "Epoch 2/2\n" + line


def test_progbar_verbose_2(clock, capsys):
    run_progbar_fit(clock, verbose=2, epochs=1)
    out = capsys.readouterr().out
    # A single epoch prints no "Epoch 1/1" header, as in Keras.
    assert out == "125/125 - 1s - 12ms/step - accuracy: 0.8123 - loss: 0.6012 - val_accuracy: 0.8000 - val_loss: 0.7000\n"


def test_progbar_verbose_0_is_silent(clock, capsys):
    run_progbar_fit(clock, verbose=0)
    assert capsys.readouterr().out == ""


def test_progbar_interactive_redraws_in_place_with_colour(clock, capsys):
    run_progbar_fit(clock, verbose=1, epochs=1, steps=50, interactive=True, dt=0.06)
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.endswith("\n")
    frames = out.split("\r")[1:]
    # Throttled: 50 steps of 0.06 s with a 0.1 s interval -> a draw every 2nd step.
    assert 24 <= len(frames) <= 27
    assert "\x1b[1m" in out and "\x1b[32m" in out  # bold count, green bar
    assert plain(frames[0]).startswith(" 1/50 " + "\u2501" * 20 + " ")
    assert "ms/step - accuracy: 0.8123 - loss: 0.6012" in plain(frames[3])
    assert plain(frames[-1]).startswith(f"50/50 {BAR} 3s 60ms/step - accuracy: 0.8123")
    assert "val_loss: 0.7000" in frames[-1]


def test_progbar_does_not_read_device_values_per_batch(clock, capsys):
    CountingScalar.reads = 0
    run_progbar_fit(clock, verbose=1, epochs=1, steps=100, make_value=CountingScalar)
    # Not interactive: only the 4 epoch-end values are read, once each.
    assert CountingScalar.reads == 4

    CountingScalar.reads = 0
    run_progbar_fit(clock, verbose=1, epochs=1, steps=100, make_value=CountingScalar, interactive=True, dt=0.01)
    # Interactive: 100 steps of 10 ms, drawn at most every 0.1 s -> ~10 draws x 2 metrics.
    assert CountingScalar.reads <= 2 * 11 + 4
    assert CountingScalar.reads < 100

    CountingScalar.reads = 0
    run_progbar_fit(clock, verbose=2, epochs=1, steps=100, make_value=CountingScalar)
    assert CountingScalar.reads == 4
    capsys.readouterr()


def test_progbar_with_jax_device_scalars(clock, capsys):
    run_progbar_fit(clock, verbose=1, epochs=1, steps=10, make_value=lambda v: jnp.asarray(v, jnp.float32))
    out = capsys.readouterr().out
    assert "10/10" in out and "accuracy: 0.8123 - loss: 0.6012 - val_accuracy: 0.8000" in out


def test_progbar_logger_evaluate_and_predict(clock, capsys):
    logger = ProgbarLogger()
    callbacks = CallbackList([logger], verbose=1, epochs=1, steps=4)
    callbacks.on_test_begin()
    for step in range(4):
        clock.advance(0.5)
        callbacks.on_test_batch_end(step, {"loss": 0.25})
    callbacks.on_test_end({"loss": 0.25})
    assert capsys.readouterr().out == f"4/4 {BAR} 2s 500ms/step - loss: 0.2500\n"

    callbacks.on_predict_begin()
    for step in range(4):
        clock.advance(0.5)
        callbacks.on_predict_batch_end(step, {"outputs": np.zeros(3)})
    callbacks.on_predict_end()
    assert capsys.readouterr().out == f"4/4 {BAR} 2s 500ms/step\n"


def test_progbar_unknown_target_learns_steps(clock, capsys):
    run_progbar_fit(clock, verbose=2, epochs=2, steps=5)
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("5/5 - ")

    logger = ProgbarLogger()
    callbacks = CallbackList([logger], verbose=2, epochs=1, steps=None)
    callbacks.on_train_begin()
    callbacks.on_epoch_begin(0)
    for step in range(7):
        callbacks.on_train_batch_end(step, {"loss": 1.0})
    callbacks.on_epoch_end(0, {"loss": 1.0})
    assert capsys.readouterr().out.startswith("7/7 - ")
    assert logger.target == 7


def test_progbar_small_values_and_time_units(clock, capsys):
    bar = Progbar(target=2, verbose=2, stateful_metrics=["loss"])
    clock.advance(2e-4)
    bar.update(1, [("loss", 1e-5)])
    clock.advance(2e-4)
    bar.update(2, [("loss", 1e-5)])
    assert capsys.readouterr().out == "2/2 - 0s - 200us/step - loss: 1.0000e-05\n"


def test_progbar_arguments_are_checked():
    with pytest.raises(ValueError, match="Only one of"):
        Progbar(3, stateful_metrics=["a"], stateless_metrics=["b"])
    with pytest.raises(ValueError, match="`target`.*Received: target=-1"):
        Progbar(-1)
    with pytest.raises(ValueError, match="`verbose`.*Received: verbose=3"):
        Progbar(3, verbose=3)


def test_progbar_interactive_detection(monkeypatch):
    class Stream:
        def __init__(self, tty):
            self.tty = tty

        def isatty(self):
            return self.tty

    monkeypatch.delenv("PYCHARM_HOSTED", raising=False)
    monkeypatch.delitem(cbks.sys.modules, "ipykernel", raising=False)
    monkeypatch.setattr(cbks.sys, "stdout", Stream(False))
    assert not Progbar(3)._dynamic_display
    monkeypatch.setattr(cbks.sys, "stdout", Stream(True))
    assert Progbar(3)._dynamic_display
    monkeypatch.setattr(cbks.sys, "stdout", Stream(False))
    monkeypatch.setitem(cbks.sys.modules, "ipykernel", object())  # a notebook
    assert Progbar(3)._dynamic_display


# --- Against Keras 3 -------------------------------------------------------------


from keras_oracle import LazyModule  # noqa: E402

# Imported by the tests below that use it: without Keras they are skipped, the ones above run.
keras_progbar = LazyModule("keras.src.utils.progbar")


def _drive_both(clock, capsys, make, steps, values_per_step, final_values):
    """Runs the same updates on a fresh bar from `make` and returns its output."""
    bar = make()
    for step in range(steps):
        clock.advance(0.012)
        bar.update(step + 1, values_per_step(step), finalize=False)
    bar.update(steps, final_values, finalize=True)
    return capsys.readouterr().out


@pytest.mark.parametrize("verbose", [1, 2])
@pytest.mark.parametrize("stateful", [True, False])
def test_progbar_final_line_matches_keras(clock, capsys, verbose, stateful):
    kwargs = {"stateless_metrics": set()} if stateful else {}

    def values_per_step(step):
        return [("accuracy", 0.5 + step / 250), ("loss", 1.0 - step / 250)]

    final = [("accuracy", 0.8123), ("loss", 0.6012), ("val_loss", 1e-4)]
    ours = _drive_both(
        clock, capsys, lambda: Progbar(125, verbose=verbose, **kwargs), 125, values_per_step, final
    )
    theirs = _drive_both(
        clock, capsys, lambda: keras_progbar.Progbar(125, verbose=verbose, **kwargs), 125, values_per_step, final
    )
    # Keras always redraws (it counts "posix" as interactive); compare final lines.
    ours_last = plain(ours).rstrip("\n").split("\n")[-1]
    theirs_last = plain(theirs.split("\r")[-1]).strip()
    assert ours_last == theirs_last
    assert ours_last.endswith("accuracy: 0.8123 - loss: 0.6012 - val_loss: 1.0000e-04")


def test_progbar_running_average_matches_keras(clock, capsys):
    """Stateless metrics (the Progbar default) average over steps, as in Keras."""

    def run(cls):
        bar = cls(10, verbose=1)
        bar._dynamic_display = True
        bar.interval = 0.0
        for step in range(4):
            clock.advance(0.012)
            bar.update(step + 1, [("loss", float(step)), ("acc", 1.0 / (step + 1))])
        return plain(capsys.readouterr().out.split("\r")[-1]).strip()

    ours = run(Progbar)
    theirs = run(keras_progbar.Progbar)
    assert ours == theirs
    assert ours.endswith("12ms/step - loss: 1.5000 - acc: 0.5208")


def test_remote_monitor_posts_each_epochs_logs_and_warns_when_unreachable():
    import http.server
    import json
    import threading
    import urllib.parse

    import kerasx

    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append((self.path, self.headers["Content-Type"], self.headers.get("X-Run"),
                             body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root = f"http://127.0.0.1:{server.server_port}"
    model = kerasx.Sequential([kerasx.layers.Input((3,)), kerasx.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    x, y = np.ones((8, 3), "float32"), np.ones((8, 1), "float32")
    try:
        model.fit(x, y, epochs=2, verbose=0, callbacks=[
            kerasx.callbacks.RemoteMonitor(root=root, headers={"X-Run": "7"})])
        model.fit(x, y, epochs=1, verbose=0, callbacks=[
            kerasx.callbacks.RemoteMonitor(root=root, path="/json", send_as_json=True)])
    finally:
        server.shutdown()
    assert [r[0] for r in received] == ["/publish/epoch/end/"] * 2 + ["/json"]
    form = urllib.parse.parse_qs(received[1][3])
    logs = json.loads(form["data"][0])
    assert logs["epoch"] == 1 and set(logs) == {"epoch", "loss", "mae"} and received[1][2] == "7"
    assert received[2][1] == "application/json" and json.loads(received[2][3])["epoch"] == 0
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor"):
        model.fit(x, y, epochs=1, verbose=0, callbacks=[
            kerasx.callbacks.RemoteMonitor(root="http://127.0.0.1:1")])
