"""Logistic regression: a single sigmoid unit learns a straight decision boundary.

Run: python examples/logistic_regression.py  (about 5 s on a 2-core CPU)

Draws 1,000 points uniformly in the square [-2, 2]^2 and labels them by the side of the line
x2 = 2 * x1 + 0.5 they fall on (points closer than 0.1 to the line are dropped, so the problem
is linearly separable with a margin). A `Dense(1, activation="sigmoid")` model trained with
binary cross-entropy separates them: it prints the accuracy (about 1.0) and the learned boundary
w1 * x1 + w2 * x2 + b = 0, rewritten as x2 = slope * x1 + intercept to compare with the true line.

Smoke run: KERASX_EXAMPLE_SMOKE=1 python examples/logistic_regression.py (a few seconds; what
the tests run by default) trains on the first 200 training points for 2 epochs, through the same
code and printing the same lines.
"""

import os

import numpy as np

import kerasx
from kerasx.layers import Dense
from kerasx.models import Sequential
from kerasx.optimizers import Adam

TRUE_SLOPE, TRUE_INTERCEPT, MARGIN = 2.0, 0.5, 0.1
# KERASX_EXAMPLE_SMOKE=1: a quick run for the tests, on a slice of the data and for fewer epochs.
SMOKE = os.environ.get("KERASX_EXAMPLE_SMOKE") == "1"

kerasx.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.uniform(-2.0, 2.0, size=(1000, 2)).astype("float32")
# Signed distance to the line 2 * x1 - x2 + 0.5 = 0; positive below the line.
distance = (TRUE_SLOPE * x[:, 0] - x[:, 1] + TRUE_INTERCEPT) / np.hypot(TRUE_SLOPE, 1.0)
keep = np.abs(distance) > MARGIN
x, y = x[keep], (distance[keep] > 0).astype("float32")[:, None]
split = int(0.8 * len(x))
x_train, y_train, x_test, y_test = x[:split], y[:split], x[split:], y[split:]
if SMOKE:
    x_train, y_train = x_train[:200], y_train[:200]
print(f"{len(x_train)} training and {len(x_test)} test points, {y.mean():.0%} in class 1")

model = Sequential([Dense(1, activation="sigmoid", input_shape=(2,))])
model.compile(optimizer=Adam(learning_rate=0.1), loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=2 if SMOKE else 30, verbose=0)
print(f"training loss {history.history['loss'][0]:.4f} -> {history.history['loss'][-1]:.4f}")

train_loss, train_accuracy = model.evaluate(x_train, y_train, verbose=0)
test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"train accuracy {train_accuracy:.4f}, test accuracy {test_accuracy:.4f}")

kernel, bias = model.get_weights()  # kernel (2, 1), bias (1,)
(w1, w2), b = kernel[:, 0], bias.item()
print(f"learned boundary: {w1:+.3f} * x1 {w2:+.3f} * x2 {b:+.3f} = 0")
print(f"learned boundary: x2 = {-w1 / w2:.3f} * x1 {-b / w2:+.3f}")
print(f"true boundary:    x2 = {TRUE_SLOPE:.3f} * x1 {TRUE_INTERCEPT:+.3f}")
