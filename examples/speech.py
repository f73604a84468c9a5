"""Keyword spotting on generated audio: `layers.MelSpectrogram`, then Conv1D + GRU, classify
half-second 16 kHz clips into six synthetic "words".

Run: python examples/speech.py          (under a minute on a 2-core CPU)

The audio is GENERATED, so the example runs offline. Each "word" is made of two sounds, tones
(with harmonics) and bands of noise, placed at a random offset in a 0.5 s clip over background
noise, with a random pitch, speed and loudness:

    up    a rising chirp             down  a falling chirp
    yes   a low tone, then high      no    a high tone, then low
    stop  a hiss, then a tone        go    a tone, then a hiss

The pairs hold the same sounds in the other order, so a model that only sums the spectrum over
time cannot tell them apart; the GRU reads the frames in order. The model computes the log-mel
spectrogram on the fly (`layers.MelSpectrogram`, 40 mel bands, 10 ms hop) as its first layer,
so it takes raw audio; then Conv1D over time, a GRU and a softmax over the words.

It prints the test accuracy next to chance (1/6) and exits with status 1 if the accuracy is
below --threshold (default 0.9).

Smoke run: KERASX_EXAMPLE_SMOKE=1 python examples/speech.py (what the tests run by default)
trains on 300 clips for 2 epochs, through the same code and printing the same lines.
"""

import argparse
import os
import sys

import numpy as np

import kerasx as keras
from kerasx import layers

# KERASX_EXAMPLE_SMOKE=1: a quick run for the tests, on fewer clips and for fewer epochs.
SMOKE = os.environ.get("KERASX_EXAMPLE_SMOKE") == "1"

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--train", type=int, default=300 if SMOKE else 2000, help="training clips")
parser.add_argument("--test", type=int, default=300 if SMOKE else 600, help="test clips")
parser.add_argument("--epochs", type=int, default=2 if SMOKE else 5)
parser.add_argument("--threshold", type=float, default=0.0 if SMOKE else 0.9,
                    help="exit 1 if the test accuracy is below this")
parser.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
args = parser.parse_args()

RATE = 16_000
CLIP = RATE // 2  # samples per clip: 0.5 s
WORDS = ["up", "down", "yes", "no", "stop", "go"]


def tone(freq_start, freq_end, n, rng):
    """A tone gliding from `freq_start` to `freq_end` Hz over `n` samples, with two harmonics
    and a smooth envelope."""
    freq = np.linspace(freq_start, freq_end, n)
    phase = 2 * np.pi * np.cumsum(freq) / RATE + rng.uniform(0, 2 * np.pi)
    wave = np.sin(phase) + 0.5 * np.sin(2 * phase) + 0.25 * np.sin(3 * phase)
    return wave * np.hanning(n) / 1.75


def hiss(n, rng):
    """Noise in the 2-5 kHz band (white noise through an FFT mask), smooth envelope."""
    spectrum = np.fft.rfft(rng.normal(size=n))
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    spectrum[(freqs < 2000) | (freqs > 5000)] = 0
    wave = np.fft.irfft(spectrum, n)
    return wave / (np.abs(wave).max() + 1e-9) * np.hanning(n)


def word(label, rng):
    """The sound of word `label`, with a random pitch and speed."""
    pitch = rng.uniform(0.85, 1.15)
    n = int(rng.uniform(0.09, 0.14) * RATE)  # samples per part
    low, high = 400 * pitch, 1000 * pitch
    if label == 0:
        return tone(low, high, 2 * n, rng)
    if label == 1:
        return tone(high, low, 2 * n, rng)
    if label == 2:
        return np.concatenate([tone(low, low, n, rng), tone(high, high, n, rng)])
    if label == 3:
        return np.concatenate([tone(high, high, n, rng), tone(low, low, n, rng)])
    middle = 650 * pitch
    if label == 4:
        return np.concatenate([hiss(n, rng), tone(middle, middle, n, rng)])
    return np.concatenate([tone(middle, middle, n, rng), hiss(n, rng)])


def clips(n, rng):
    """`n` clips (n, CLIP) float32 and their labels (n,) int32."""
    labels = rng.integers(0, len(WORDS), size=n).astype("int32")
    audio = rng.normal(size=(n, CLIP)) * rng.uniform(0.01, 0.05, size=(n, 1))
    for i, label in enumerate(labels):
        sound = word(label, rng) * rng.uniform(0.3, 1.0)
        offset = rng.integers(0, CLIP - len(sound))
        audio[i, offset:offset + len(sound)] += sound
    return audio.astype("float32"), labels


keras.utils.set_random_seed(args.seed)
rng = np.random.default_rng(args.seed)
x_train, y_train = clips(args.train, rng)
x_test, y_test = clips(args.test, rng)
print(f"data: GENERATED {CLIP / RATE:.1f} s clips at {RATE} Hz of {len(WORDS)} words "
      f"({', '.join(WORDS)}), {len(x_train)} for training, {len(x_test)} for testing")

model = keras.Sequential([
    layers.Input((CLIP,)),
    # (batch, 8000) audio -> (batch, 40 mel bands, 51 frames) in decibels
    layers.MelSpectrogram(fft_length=512, sequence_stride=160, sampling_rate=RATE,
                          num_mel_bins=40, min_freq=100.0, max_freq=6000.0),
    layers.Permute((2, 1)),  # -> (batch, frames, bands): time first, for Conv1D and the GRU
    layers.LayerNormalization(),  # each frame's bands to zero mean, unit variance
    layers.Conv1D(32, 5, activation="relu"),
    layers.MaxPooling1D(2),
    layers.GRU(32),
    layers.Dense(len(WORDS), activation="softmax"),
], name="keyword_spotter")
model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.summary()
history = model.fit(x_train, y_train, batch_size=32, epochs=args.epochs, validation_split=0.1,
                    verbose=2)
losses = history.history["loss"]
print(f"training loss {losses[0]:.4f} -> {losses[-1]:.4f}")
_, accuracy = model.evaluate(x_test, y_test, verbose=0)
predicted = model.predict(x_test, verbose=0).argmax(axis=-1)
print("per word: " + ", ".join(
    f"{w} {np.mean(predicted[y_test == i] == i):.2f}" for i, w in enumerate(WORDS)))
print(f"test accuracy {accuracy:.3f} (chance {1 / len(WORDS):.3f})")

if accuracy < args.threshold:
    print(f"did not learn: test accuracy {accuracy:.3f} < {args.threshold}")
    sys.exit(1)
