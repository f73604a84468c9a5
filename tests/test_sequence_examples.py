"""Runs the sequence examples (`examples/transformer.py`, `timeseries.py`, `speech.py`) as a user
would and checks the numbers they print.

Each runs in a fresh interpreter, twice: a smoke run (`KERASX_EXAMPLE_SMOKE=1`: little data, two
epochs, the same code and printed lines) in the default run, checked loosely (the loss goes
down, the facts that hold at any accuracy hold), and the full run, marked `slow`, checked against
the accuracy each example promises.
"""

import math
import os
import re
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
NUMBER = r"([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"


def run_example(name, *args, smoke=False, returncode=0, timeout=300):
    """Runs `examples/<name> args...`; asserts its exit status and returns its stdout."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", KERAS_BACKEND="jax")
    env.pop("KERASX_EXAMPLE_SMOKE", None)
    if smoke:
        env["KERASX_EXAMPLE_SMOKE"] = "1"
    proc = subprocess.run([sys.executable, os.path.join(EXAMPLES, name), *args],
                          cwd=os.path.dirname(EXAMPLES), env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == returncode, (
        f"{name} exited with code {proc.returncode}, expected {returncode}\n--- stdout ---\n"
        f"{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}")
    return proc.stdout


def find(pattern, output, count=1):
    """The float(s) captured by `pattern` in `output` (the last match); fails if absent."""
    matches = re.findall(pattern, output)
    assert matches, f"no line matching {pattern!r} in the output:\n{output[-4000:]}"
    last = matches[-1]
    values = [float(v) for v in (last if isinstance(last, tuple) else (last,))]
    assert len(values) == count and all(math.isfinite(v) for v in values), values
    return values if count > 1 else values[0]


# ------------------------------------------------------------------------------ transformer
def check_transformer(out):
    """Returns `(first loss, last loss, greedy exact match, greedy per-digit accuracy,
    baseline per-digit accuracy, teacher-forced exact match)`."""
    assert re.search(r"example: (\d{8}) -> (\d{8})", out)
    for source, target in re.findall(r"example: (\d+) -> (\d+)", out):
        assert "".join(sorted(source)) == target  # the data really is "sort the digits"
    first, last = find(rf"training loss {NUMBER} -> {NUMBER}", out, count=2)
    # The subclassed PositionalEmbedding: its config holds its arguments and rebuilds it.
    assert ("PositionalEmbedding config ['dtype', 'embed_dim', 'name', 'sequence_length', "
            "'trainable', 'vocab_size']; rebuilt from it, same outputs: True") in out
    # Greedy decoding is one program: traced once, compiled on the first call only; predict
    # compiles on its first call and reuses the program for the same shape.
    compiled = find(r"greedy decoding: traced 1 time\(s\) for 2 calls, (\d+) compile\(s\) on the "
                    r"first call, 0 on the second", out)
    assert compiled == 1
    compiled = find(r"model\.predict: (\d+) compile\(s\) on the first call, 0 on the second call "
                    r"of the same shape", out)
    assert compiled >= 1
    # The compiled loop decodes as a Python loop of predict_on_batch calls does (up to a rare
    # argmax tie broken differently by rounding).
    same, total = find(r"step-by-step decoding from Python agrees with the compiled loop on "
                       r"(\d+) of (\d+) strings", out, count=2)
    assert same >= 0.99 * total
    exact, per_digit = find(rf"greedy decoding: exact match {NUMBER}, per-digit accuracy "
                            rf"{NUMBER}", out, count=2)
    _, baseline = find(rf"baseline \(the likeliest digit at each position\): exact match "
                       rf"{NUMBER}, per-digit accuracy {NUMBER}", out, count=2)
    teacher = find(rf"teacher-forced exact match {NUMBER}", out)
    assert all(0 <= v <= 1 for v in (exact, per_digit, baseline, teacher))
    # Decoded strings are shown next to their sources: 8 digits each.
    assert len(re.findall(r"^  \d{8} -> \d{8}$", out, flags=re.M)) == 3
    return first, last, exact, per_digit, baseline, teacher


def test_transformer_smoke_and_its_did_not_learn_exit():
    # An unreachable threshold: the run goes to the end, prints everything, then exits 1.
    out = run_example("transformer.py", "--threshold", "1.01", smoke=True, returncode=1)
    first, last, _, per_digit, baseline, _ = check_transformer(out)
    assert last < first
    assert "did not learn: exact match" in out
    assert per_digit > 0.1  # two short epochs: above chance (0.1) already


@pytest.mark.slow
def test_transformer_learns_to_sort():
    out = run_example("transformer.py")
    first, last, exact, per_digit, baseline, teacher = check_transformer(out)
    assert last < 0.05 * first
    assert exact >= 0.9 and teacher >= 0.9
    assert per_digit > baseline + 0.3


# ------------------------------------------------------------------------------ timeseries
def check_timeseries(out):
    """Returns `(first loss, last loss, model MAE, last-value MAE, 24-h-before MAE)`."""
    assert "data: GENERATED hourly weather" in out
    first, last = find(rf"training loss {NUMBER} -> {NUMBER}", out, count=2)
    evaluated = find(rf"model\.evaluate test mae {NUMBER} deg C", out)
    model, baseline, ratio = find(rf"test MAE: model {NUMBER} deg C, naive last-value baseline "
                                  rf"{NUMBER} deg C \(ratio {NUMBER}\)", out, count=3)
    daily = find(rf"the temperature 24 h before the target hour: {NUMBER} deg C", out)
    # evaluate's streamed MAE and the MAE over predict_on_batch's outputs agree.
    assert evaluated == pytest.approx(model, abs=2e-3)
    assert ratio == pytest.approx(model / baseline, abs=2e-3)
    return first, last, model, baseline, daily


def test_timeseries_smoke():
    out = run_example("timeseries.py", smoke=True)
    first, last, model, baseline, _ = check_timeseries(out)
    assert last < first
    assert model < baseline


@pytest.mark.slow
def test_timeseries_beats_the_naive_forecasts():
    _, _, model, baseline, daily = check_timeseries(run_example("timeseries.py"))
    assert model <= 0.3 * baseline
    assert model < 0.7 * daily


# ------------------------------------------------------------------------------ speech
def check_speech(out):
    """Returns `(first loss, last loss, test accuracy, per-word accuracies)`."""
    assert "data: GENERATED 0.5 s clips at 16000 Hz of 6 words" in out
    assert "mel_spectrogram (MelSpectrogram)" in out and "(None, 40, 51)" in out
    first, last = find(rf"training loss {NUMBER} -> {NUMBER}", out, count=2)
    per_word = re.search(r"per word: (.*)", out)
    assert per_word
    words = dict(item.split() for item in per_word.group(1).split(", "))
    assert list(words) == ["up", "down", "yes", "no", "stop", "go"]
    accuracy = find(rf"test accuracy {NUMBER} \(chance 0\.167\)", out)
    return first, last, accuracy, {w: float(a) for w, a in words.items()}


def test_speech_smoke():
    first, last, accuracy, _ = check_speech(run_example("speech.py", smoke=True))
    assert last < first
    assert accuracy > 0.3  # chance is 1/6


@pytest.mark.slow
def test_speech_recognises_the_words():
    _, _, accuracy, per_word = check_speech(run_example("speech.py"))
    assert accuracy >= 0.9
    # Words that differ only by the order of their sounds are told apart too.
    assert min(per_word.values()) >= 0.8
