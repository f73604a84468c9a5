"""Runs every script in `examples/` as a user would and checks the numbers it prints.

Each example runs in a fresh interpreter (`sys.executable`), so these tests also catch import-time
breakage and anything that only shows outside pytest. Every example runs twice:

* a smoke run (`KERASX_EXAMPLE_SMOKE=1`: a slice of the data, one or two epochs, the same code
  and the same printed lines), checked loosely: it runs end to end, prints its lines, the loss
  is finite and goes down, the exact facts (parameter counts, frozen weights, agreement between
  two computations) hold. 40-55 s in all on a 2-core CPU, most of it compiling.
* the full run, checked against the accuracies the examples promise, marked `slow` (60-85 s
  in all). `pytest -m "not slow"` leaves them out; `pytest -m slow` runs only them.
"""

import math
import os
import re
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
NUMBER = r"([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
SMOKE = "KERASX_EXAMPLE_SMOKE"
EXAMPLE_NAMES = sorted(n for n in os.listdir(EXAMPLES) if n.endswith(".py"))


def run_example(name, *args, smoke=False, timeout=300):
    """Runs `examples/<name> args...` (as a smoke run or a full one); asserts it exits 0 and
    returns its stdout."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop(SMOKE, None)
    if smoke:
        env[SMOKE] = "1"
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


def finite(*values):
    return all(math.isfinite(v) for v in values)


def test_every_example_has_a_smoke_run_and_a_full_run_test():
    calls = []  # the sequence examples' runs are in their own file
    for test_file in (__file__, os.path.join(os.path.dirname(__file__),
                                             "test_sequence_examples.py")):
        with open(test_file) as f:
            calls += re.findall(r'run_example\(\s*"(\w+\.py)"(.*)', f.read())
    assert {name for name, rest in calls if "smoke=True" in rest} == set(EXAMPLE_NAMES)
    assert {name for name, rest in calls if "smoke=True" not in rest} == set(EXAMPLE_NAMES)
    for name in EXAMPLE_NAMES:
        with open(os.path.join(EXAMPLES, name)) as f:
            source = f.read()
        assert f'os.environ.get("{SMOKE}") == "1"' in source, name


# ------------------------------------------------------------------------------ linear_regression
def check_linear_regression(out):
    """Returns `(w0, b0, w, b, first epoch's mse, last epoch's mse)`."""
    w0, b0 = find(rf"before training: w = {NUMBER}, b = {NUMBER}", out, count=2)
    w, b = find(rf"recovered\s+w = {NUMBER}, b = {NUMBER}", out, count=2)
    first, last = find(rf"mse: epoch 1 {NUMBER} -> epoch \d+ {NUMBER}", out, count=2)
    ls_w, ls_b = find(rf"least sq\.\s+w = {NUMBER}, b = {NUMBER}", out, count=2)
    assert ls_w == pytest.approx(3.0, abs=0.1) and ls_b == pytest.approx(-2.0, abs=0.1)
    assert "prediction at x = 0.5:" in out
    assert finite(w0, b0, w, b, first, last)
    return w0, b0, w, b, first, last


def test_linear_regression_smoke():
    w0, b0, w, b, first, last = check_linear_regression(
        run_example("linear_regression.py", smoke=True))
    assert last < first  # 2 epochs of SGD: the mse goes down...
    assert abs(w - 3.0) < abs(w0 - 3.0) and abs(b + 2.0) < abs(b0 + 2.0)  # ...towards the line


@pytest.mark.slow
def test_linear_regression_recovers_the_line():
    _, _, w, b, first, last = check_linear_regression(run_example("linear_regression.py"))
    assert w == pytest.approx(3.0, abs=0.1)
    assert b == pytest.approx(-2.0, abs=0.1)
    assert last < 0.02 < first  # down to about the noise variance, 0.01


# ------------------------------------------------------------------------------ logistic_regression
def check_logistic_regression(out):
    """Returns `(first loss, last loss, train accuracy, test accuracy, slope, intercept)`."""
    first, last = find(rf"training loss {NUMBER} -> {NUMBER}", out, count=2)
    train_accuracy, test_accuracy = find(
        rf"train accuracy {NUMBER}, test accuracy {NUMBER}", out, count=2)
    slope, intercept = find(rf"learned boundary: x2 = {NUMBER} \* x1 {NUMBER}", out, count=2)
    assert "true boundary:    x2 = 2.000 * x1 +0.500" in out
    assert finite(first, last, slope, intercept)
    assert 0 <= train_accuracy <= 1 and 0 <= test_accuracy <= 1
    return first, last, train_accuracy, test_accuracy, slope, intercept


def test_logistic_regression_smoke():
    first, last, *_ = check_logistic_regression(
        run_example("logistic_regression.py", smoke=True))
    assert last < first


@pytest.mark.slow
def test_logistic_regression_separates_the_classes():
    first, last, train_accuracy, test_accuracy, slope, intercept = check_logistic_regression(
        run_example("logistic_regression.py"))
    assert last < first
    assert train_accuracy >= 0.95
    assert test_accuracy >= 0.95
    assert slope == pytest.approx(2.0, abs=0.2)
    assert intercept == pytest.approx(0.5, abs=0.2)


# ------------------------------------------------------------------------------ custom_training_loop
def check_custom_training_loop(out, epochs):
    """The facts that hold however long it trains; returns `(test accuracy, epoch losses)`."""
    hand = find(rf"hand-computed test accuracy {NUMBER}", out)
    keras = find(rf"model\.evaluate test accuracy {NUMBER}", out)
    assert keras == pytest.approx(hand, abs=1e-4)
    assert "evaluate agrees with the hand-computed accuracy: True" in out
    assert "training=True without rng:" in out  # Dropout asks for a key
    # Per-example gradients: one leading batch axis of 32 on every leaf, and their mean is the
    # batch gradient.
    assert "'kernel': (32, 784, 128)" in out
    norms = re.search(r"per-example gradient norms of the first 5 test images: (.*)", out)
    assert norms and len(norms.group(1).split()) == 5
    assert finite(*map(float, norms.group(1).split()))
    assert find(rf"max abs difference {NUMBER}", out) < 1e-4
    losses = [float(v) for v in re.findall(rf"train loss {NUMBER}", out)]
    assert len(losses) == epochs and finite(*losses)
    return hand, losses


def test_custom_training_loop_smoke():
    accuracy, losses = check_custom_training_loop(
        run_example("custom_training_loop.py", smoke=True), epochs=2)
    assert losses[-1] < losses[0]
    assert accuracy > 0.5  # 10 classes: chance is 0.1


@pytest.mark.slow
def test_custom_training_loop():
    accuracy, losses = check_custom_training_loop(run_example("custom_training_loop.py"),
                                                  epochs=5)
    assert losses[-1] < losses[0]
    assert accuracy >= 0.85


# ------------------------------------------------------------------------------ mnist_cnn
def check_mnist_cnn(out, epochs, test_images):
    """Returns `(test accuracy, the loss the progress bar shows at each epoch's end)`."""
    assert "Total params: 693,962" in out  # model.summary()
    assert f"Epoch {epochs}/{epochs}" in out
    losses = [float(v) for v in re.findall(rf"- loss: {NUMBER}", out)]
    assert len(losses) == epochs and finite(*losses)
    loss, accuracy = find(rf"test loss {NUMBER}, test accuracy {NUMBER} on {test_images} "
                          "held-out images", out, count=2)
    assert finite(loss)
    return accuracy, losses


def test_mnist_cnn_smoke():
    accuracy, losses = check_mnist_cnn(run_example("mnist_cnn.py", smoke=True), epochs=2,
                                       test_images=500)
    assert losses[-1] < losses[0]
    assert accuracy > 0.5


@pytest.mark.slow
def test_mnist_cnn():
    accuracy, losses = check_mnist_cnn(run_example("mnist_cnn.py"), epochs=5, test_images=1000)
    assert losses[-1] < losses[0]
    assert accuracy >= 0.93


# ------------------------------------------------------------------------------ mnist_checkpoints
def check_mnist_checkpoints(out, workdir, max_epochs):
    """Returns the test accuracy of the best checkpoint, loaded back from its file."""
    epochs = find(r"ran (\d+) epochs", out)
    best_epoch, best_val_loss = find(r"best epoch (\d+) with val_loss " + NUMBER, out, count=2)
    assert 1 <= best_epoch <= epochs <= max_epochs and finite(best_val_loss)
    # ModelCheckpoint said so when it saved the best epoch, and the file is there.
    assert f"Epoch {int(best_epoch)}: val_loss improved" in out
    assert (workdir / "best.kerasx").is_file()
    # TensorBoard wrote event files for both the training and validation curves.
    for split in ("train", "validation"):
        assert any(name.startswith("events.out.tfevents")
                   for name in os.listdir(workdir / "logs" / split))
    return find(r"test accuracy " + NUMBER, out)


def needs_tensorboard_writer():
    pytest.importorskip("tensorboardX", reason='mnist_checkpoints.py writes TensorBoard logs: '
                        'pip install -e ".[tensorboard]"')


def test_mnist_checkpoints_smoke(tmp_path):
    needs_tensorboard_writer()
    out = run_example("mnist_checkpoints.py", "--workdir", str(tmp_path), smoke=True)
    assert check_mnist_checkpoints(out, tmp_path, max_epochs=2) > 0.5


@pytest.mark.slow
def test_mnist_checkpoints_keeps_and_reloads_the_best_model(tmp_path):
    needs_tensorboard_writer()
    out = run_example("mnist_checkpoints.py", "--workdir", str(tmp_path), "--epochs", "6")
    assert check_mnist_checkpoints(out, tmp_path, max_epochs=6) > 0.9, out


# ------------------------------------------------------------------------------ transfer_learning
def check_transfer_learning(out):
    """The frozen base stays put, the unfrozen one moves; returns the three accuracies."""
    stage1 = find(rf"stage 1 \(base on digits 0-4\): test accuracy {NUMBER}", out)
    assert re.search(r"stage 2 \(new head, frozen base\): test accuracy [\d.]+; base unchanged: "
                     r"True", out), out
    stage2 = find(rf"stage 2 \(new head, frozen base\): test accuracy {NUMBER}", out)
    assert re.search(r"stage 3 .*base moved: True", out), out
    stage3 = find(rf"stage 3 \(fine-tuned end to end\): test accuracy {NUMBER}", out)
    assert "Trainable" in out and "173,344" in out  # summary(show_trainable=True)
    assert "Trainable params: 325" in out  # only the new head
    assert all(0 <= a <= 1 for a in (stage1, stage2, stage3))
    return stage1, stage2, stage3


def test_transfer_learning_smoke():
    stage1, _, _ = check_transfer_learning(run_example("transfer_learning.py", smoke=True))
    assert stage1 > 0.4  # 5 classes: chance is 0.2


@pytest.mark.slow
def test_transfer_learning_freezes_then_fine_tunes():
    stage1, head_only, _ = check_transfer_learning(run_example("transfer_learning.py"))
    assert stage1 > 0.9
    assert head_only > 0.4  # 5 classes: chance is 0.2


# ------------------------------------------------------------------------------ subclassing
def check_subclassing(out):
    """Returns `(subclassed model's test accuracy, custom train_step's final loss, train and
    test accuracy)`."""
    accuracy = find(rf"subclassed model: 6 trainable weights, 109,386 params, test accuracy "
                    rf"{NUMBER}", out)
    assert "first Linear's kernel: linear/w (784, 128)" in out
    loss, train_acc, test_acc = find(rf"custom train_step: final loss {NUMBER}, train accuracy "
                                     rf"{NUMBER}, test accuracy {NUMBER}", out, count=3)
    assert finite(loss)
    return accuracy, loss, train_acc, test_acc


def test_subclassing_smoke():
    accuracy, loss, train_acc, test_acc = check_subclassing(
        run_example("subclassing.py", smoke=True))
    # One epoch on 1,000 images: better than chance (0.1; a loss of ln 10 = 2.30).
    assert accuracy > 0.3 and loss < math.log(10) and train_acc > 0.3 and test_acc > 0.3


@pytest.mark.slow
def test_subclassing_layer_model_and_custom_train_step():
    accuracy, loss, train_acc, test_acc = check_subclassing(run_example("subclassing.py"))
    assert accuracy > 0.85
    assert loss < 0.5 and train_acc > 0.85 and test_acc > 0.85


# ------------------------------------------------------------------------------ text_classification
def check_text_classification(out):
    """Returns `(first loss, last loss, test accuracy, accuracy on negated sentences)`."""
    assert "data: GENERATED sentences (pass --imdb for the real IMDB reviews)" in out
    assert re.search(r'example: "[a-z ]+" -> \[[\d, ]+\] \(label [01]\)', out)
    first, last = find(rf"training loss {NUMBER} -> {NUMBER}", out, count=2)
    accuracy = find(rf"test accuracy {NUMBER}\n", out)
    negated = find(rf"test accuracy on negated sentences {NUMBER}", out)
    assert finite(first, last) and 0 <= accuracy <= 1 and 0 <= negated <= 1
    return first, last, accuracy, negated


def test_text_classification_smoke():
    first, last, _, _ = check_text_classification(
        run_example("text_classification.py", smoke=True))
    assert last < first


@pytest.mark.slow
def test_text_classification_learns_negation():
    first, last, accuracy, negated = check_text_classification(
        run_example("text_classification.py"))
    assert last < 0.1 * first
    assert accuracy >= 0.95 and negated >= 0.95


# ------------------------------------------------------------------------------ distributed
def check_distributed(out):
    """Returns the three test accuracies (one device, DataParallel, ModelParallel)."""
    assert "devices: 8 (cpu:0 ... cpu:7)" in out
    assert "DataParallel mesh: <DeviceMesh shape=(8,), axis_names=('batch',)>" in out
    assert "ModelParallel mesh: <DeviceMesh shape=(2, 4), axis_names=('batch', 'model')>" in out
    assert re.search(r"dense/kernel\s+\(32, 64\)\s+P\(None, 'model'\) on 8 devices", out)
    for label in ("DataParallel", "ModelParallel"):
        assert find(rf"{label} weights vs one device: max difference {NUMBER}", out) < 2e-4
    return [find(rf"{label}: test accuracy {NUMBER}", out)
            for label in ("one device", "DataParallel", "ModelParallel")]


def test_distributed_smoke():
    accuracies = check_distributed(run_example("distributed.py", "--devices", "8", smoke=True))
    assert max(accuracies) - min(accuracies) < 0.02


@pytest.mark.slow
def test_distributed_learns_on_eight_devices():
    accuracies = check_distributed(run_example("distributed.py", "--devices", "8"))
    assert min(accuracies) > 0.9
