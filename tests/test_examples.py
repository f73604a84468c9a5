"""Runs every script in `examples/` as a user would and checks the numbers it prints.

Each example runs in a fresh interpreter (`sys.executable`), so these tests also catch import-time
breakage and anything that only shows outside pytest. Together they take about a minute on a
2-core CPU, most of it `mnist_cnn.py`.
"""

import os
import re
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
NUMBER = r"([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"


def run_example(name, timeout=300):
    """Runs `examples/<name>`; asserts it exits 0 and returns its stdout."""
    return run_example_args(name, timeout=timeout)


def run_example_args(name, *args, timeout=300):
    """Runs `examples/<name> args...`; asserts it exits 0 and returns its stdout."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *args],
                          cwd=os.path.dirname(EXAMPLES),
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{name} exited with code {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}"
        f"\n--- stderr ---\n{proc.stderr[-4000:]}")
    return proc.stdout


def find(pattern, output, count=1):
    """The float(s) captured by `pattern` in `output` (the last match); fails if absent."""
    matches = re.findall(pattern, output)
    assert matches, f"no line matching {pattern!r} in the output:\n{output[-4000:]}"
    last = matches[-1]
    values = [float(v) for v in (last if isinstance(last, tuple) else (last,))]
    assert len(values) == count
    return values if count > 1 else values[0]


def test_linear_regression_recovers_the_line():
    out = run_example("linear_regression.py")
    w, b = find(rf"recovered\s+w = {NUMBER}, b = {NUMBER}", out, count=2)
    assert w == pytest.approx(3.0, abs=0.1)
    assert b == pytest.approx(-2.0, abs=0.1)
    first, last = find(rf"mse: epoch 1 {NUMBER} -> epoch \d+ {NUMBER}", out, count=2)
    assert last < 0.02 < first  # down to about the noise variance, 0.01


def test_logistic_regression_separates_the_classes():
    out = run_example("logistic_regression.py")
    train_accuracy, test_accuracy = find(
        rf"train accuracy {NUMBER}, test accuracy {NUMBER}", out, count=2)
    assert train_accuracy >= 0.95
    assert test_accuracy >= 0.95
    slope, intercept = find(rf"learned boundary: x2 = {NUMBER} \* x1 {NUMBER}", out, count=2)
    assert slope == pytest.approx(2.0, abs=0.2)
    assert intercept == pytest.approx(0.5, abs=0.2)


def test_custom_training_loop():
    out = run_example("custom_training_loop.py")
    hand = find(rf"hand-computed test accuracy {NUMBER}", out)
    keras = find(rf"model\.evaluate test accuracy {NUMBER}", out)
    assert hand >= 0.85
    assert keras == pytest.approx(hand, abs=1e-4)
    assert "evaluate agrees with the hand-computed accuracy: True" in out
    # Per-example gradients: one leading batch axis of 32 on every leaf.
    assert "'kernel': (32, 784, 128)" in out
    norms = re.search(r"per-example gradient norms of the first 5 test images: (.*)", out)
    assert norms and len(norms.group(1).split()) == 5
    assert find(rf"max abs difference {NUMBER}", out) < 1e-4
    losses = [float(v) for v in re.findall(rf"train loss {NUMBER}", out)]
    assert len(losses) == 5 and losses[-1] < losses[0]


def test_mnist_cnn():
    out = run_example("mnist_cnn.py")
    assert find(rf"test accuracy {NUMBER} on 1000 held-out images", out) >= 0.93


def test_mnist_checkpoints_keeps_and_reloads_the_best_model(tmp_path):
    out = run_example_args("mnist_checkpoints.py", "--workdir", str(tmp_path), "--epochs", "6")
    epochs = find(r"ran (\d+) epochs", out)
    best_epoch, best_val_loss = find(r"best epoch (\d+) with val_loss " + NUMBER, out, count=2)
    assert 1 <= best_epoch <= epochs <= 6
    # ModelCheckpoint said so when it saved the best epoch, and the file is there.
    assert f"Epoch {int(best_epoch)}: val_loss improved" in out
    assert (tmp_path / "best.kerasx").is_file()
    accuracy = find(r"test accuracy " + NUMBER, out)
    assert accuracy > 0.9, out
    # TensorBoard wrote event files for both the training and validation curves.
    for split in ("train", "validation"):
        assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "logs" / split))


def test_transfer_learning_freezes_then_fine_tunes():
    out = run_example("transfer_learning.py")
    assert find(rf"stage 1 \(base on digits 0-4\): test accuracy {NUMBER}", out) > 0.9
    assert re.search(r"stage 2 \(new head, frozen base\): test accuracy [\d.]+; base unchanged: "
                     r"True", out), out
    head_only = find(rf"stage 2 \(new head, frozen base\): test accuracy {NUMBER}", out)
    assert head_only > 0.4  # 5 classes: chance is 0.2
    assert re.search(r"stage 3 .*base moved: True", out), out
    assert "Trainable" in out and "173,344" in out  # summary(show_trainable=True)


def test_subclassing_layer_model_and_custom_train_step():
    out = run_example("subclassing.py")
    assert find(rf"subclassed model: 6 trainable weights, 109,386 params, test accuracy {NUMBER}",
                out) > 0.85
    assert "first Linear's kernel: linear/w (784, 128)" in out
    loss, train_acc, test_acc = find(rf"custom train_step: final loss {NUMBER}, train accuracy "
                                     rf"{NUMBER}, test accuracy {NUMBER}", out, count=3)
    assert loss < 0.5 and train_acc > 0.85 and test_acc > 0.85
