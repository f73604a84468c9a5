"""Time-series forecasting: a Conv1D + LSTM model predicts the temperature 12 hours ahead on a
generated weather-like series, from windows made by `keras.utils.timeseries_dataset_from_array`.

Run: python examples/timeseries.py          (under a minute on a 2-core CPU)

The data is GENERATED, hourly, so the example runs offline: a temperature with a daily cycle
(whose amplitude drifts with a slow "season"), slow weather fronts and noise; a relative
humidity that moves against the temperature; and an air pressure whose falls come before warm
fronts. Each example is the last 48 hours of the three (normalized with the training part's
mean and standard deviation) and its target the temperature 12 hours after the window's last
hour. The first 70 % of the series trains, the next 15 % validates, the last 15 % tests.

The script prints the test mean absolute error in degrees next to the naive baseline that
predicts the last temperature seen (the usual "persistence" forecast), and a stronger one, the
temperature 24 hours before the target hour. It exits with status 1 unless the model beats the
last-value baseline by the factor --threshold (default: its error at most 0.7 times the
baseline's; it reaches about 0.12, and beats the 24-hours-before baseline too).

Smoke run: KERASX_EXAMPLE_SMOKE=1 python examples/timeseries.py (what the tests run by
default) trains on a 3,000-hour series for 2 epochs, through the same code and printing the same
lines.
"""

import argparse
import os
import sys

import numpy as np

import kerasx as keras
from kerasx import layers

# KERASX_EXAMPLE_SMOKE=1: a quick run for the tests, on a shorter series and for fewer epochs.
SMOKE = os.environ.get("KERASX_EXAMPLE_SMOKE") == "1"

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--hours", type=int, default=3_000 if SMOKE else 20_000,
                    help="length of the generated series")
parser.add_argument("--window", type=int, default=48, help="hours seen per example")
parser.add_argument("--horizon", type=int, default=12, help="hours ahead to predict")
parser.add_argument("--epochs", type=int, default=2 if SMOKE else 6)
parser.add_argument("--threshold", type=float, default=float("inf") if SMOKE else 0.7,
                    help="exit 1 unless model MAE <= threshold * baseline MAE")
parser.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
args = parser.parse_args()


def weather(hours, rng):
    """A generated hourly series: (hours, 3) float32 of temperature (deg C), relative humidity
    (%) and pressure (hPa)."""
    t = np.arange(hours)
    season = np.sin(2 * np.pi * t / (24 * 365))
    # Weather fronts: a smoothed random walk of the pressure; warm air follows falling pressure.
    fronts = np.convolve(rng.normal(size=hours + 48), np.ones(48) / 48, mode="same")[:hours]
    fronts = np.cumsum(fronts)
    fronts = (fronts - np.convolve(fronts, np.ones(24 * 7) / (24 * 7), mode="same")) / 2
    pressure = 1013 - 4 * fronts + rng.normal(0, 0.3, hours)
    warm = np.roll(fronts, 12)
    noise = np.zeros(hours)
    shocks = rng.normal(0, 0.6, hours)
    for i in range(1, hours):  # AR(1) noise: weather that persists for a few hours
        noise[i] = 0.8 * noise[i - 1] + shocks[i]
    daily = (5 + 2 * season) * np.sin(2 * np.pi * (t % 24 - 9) / 24)
    temperature = 12 + 8 * season + daily + 2 * warm + noise
    humidity = np.clip(70 - 2.0 * daily - 3 * warm + rng.normal(0, 3, hours), 5, 100)
    return np.stack([temperature, humidity, pressure], axis=1).astype("float32")


keras.utils.set_random_seed(args.seed)
series = weather(args.hours, np.random.default_rng(args.seed))
n_train, n_val = int(0.7 * len(series)), int(0.15 * len(series))
mean, std = series[:n_train].mean(axis=0), series[:n_train].std(axis=0)
features = (series - mean) / std
temperature = features[:, 0]
print(f"data: GENERATED hourly weather, {len(series)} hours (temperature, humidity, pressure); "
      f"predict the temperature {args.horizon} h after a {args.window} h window")

# Window i holds hours i .. i+window-1; its target is the temperature `horizon` hours after
# the last of them: timeseries_dataset_from_array pairs window i with targets[i], so the
# targets are the temperatures shifted by `delay`.
delay = args.window + args.horizon - 1


def windows(start, stop, shuffle=False):
    return keras.utils.timeseries_dataset_from_array(
        features[start:stop - delay], temperature[start + delay:stop],
        sequence_length=args.window, batch_size=128, shuffle=shuffle, seed=args.seed)


train_ds = windows(0, n_train, shuffle=True)
val_ds = windows(n_train, n_train + n_val)
test_ds = windows(n_train + n_val, len(series))

model = keras.Sequential([
    layers.Input((args.window, 3)),
    layers.Conv1D(16, 5, activation="relu"),
    layers.LSTM(32),
    layers.Dense(1),
], name="forecaster")
model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse", metrics=["mae"])
model.summary()
history = model.fit(train_ds, validation_data=val_ds, epochs=args.epochs, verbose=2)
losses = history.history["loss"]
print(f"training loss {losses[0]:.4f} -> {losses[-1]:.4f}")

# Mean absolute errors on the test windows, back in degrees.
predicted, last_seen, day_before, actual = [], [], [], []
for x, y in test_ds:
    predicted.append(model.predict_on_batch(x)[:, 0])
    last_seen.append(np.asarray(x)[:, -1, 0])
    day_before.append(np.asarray(x)[:, args.window + args.horizon - 25, 0])
    actual.append(np.asarray(y))
predicted, last_seen, day_before, actual = map(np.concatenate,
                                               (predicted, last_seen, day_before, actual))
model_mae = float(np.mean(np.abs(predicted - actual))) * std[0]
baseline_mae = float(np.mean(np.abs(last_seen - actual))) * std[0]
daily_mae = float(np.mean(np.abs(day_before - actual))) * std[0]
_, evaluate_mae = model.evaluate(test_ds, verbose=0)
print(f"model.evaluate test mae {evaluate_mae * std[0]:.3f} deg C (on {len(actual)} windows)")
print(f"test MAE: model {model_mae:.3f} deg C, naive last-value baseline {baseline_mae:.3f} "
      f"deg C (ratio {model_mae / baseline_mae:.3f})")
print(f"a second baseline, the temperature 24 h before the target hour: {daily_mae:.3f} deg C")

if not model_mae <= args.threshold * baseline_mae:
    print(f"did not learn: the model's MAE is not at most {args.threshold} x the baseline's")
    sys.exit(1)
