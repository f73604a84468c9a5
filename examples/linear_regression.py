"""Linear regression, the "hello world" of Keras: recover a known line from noisy samples.

Run: python examples/linear_regression.py  (about 5 s on a 2-core CPU)

Draws 512 points y = 3.0 * x - 2.0 + noise (noise std 0.1), fits a single `Dense(1)` unit with
plain SGD on the mean squared error, and prints the learned weight and bias (read back with
`model.get_weights()`) next to the true ones and the closed-form least-squares answer.

Smoke run: KERASX_EXAMPLE_SMOKE=1 python examples/linear_regression.py (a few seconds; what the
tests run by default) trains on the first 128 points for 2 epochs, through the same code and
printing the same lines.
"""

import os

import numpy as np

import kerasx
from kerasx.layers import Dense
from kerasx.models import Sequential
from kerasx.optimizers import SGD

TRUE_W, TRUE_B, NOISE = 3.0, -2.0, 0.1
# KERASX_EXAMPLE_SMOKE=1: a quick run for the tests, on a slice of the data and for fewer epochs.
SMOKE = os.environ.get("KERASX_EXAMPLE_SMOKE") == "1"

kerasx.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x = rng.uniform(-1.0, 1.0, size=(512, 1)).astype("float32")
y = (TRUE_W * x + TRUE_B + NOISE * rng.normal(size=x.shape)).astype("float32")
if SMOKE:
    x, y = x[:128], y[:128]

model = Sequential([Dense(1, input_shape=(1,))])
model.compile(optimizer=SGD(learning_rate=0.1), loss="mse")
w0, b0 = model.get_weights()
print(f"before training: w = {w0.item():+.4f}, b = {b0.item():+.4f}")

history = model.fit(x, y, batch_size=32, epochs=2 if SMOKE else 20, verbose=0)
losses = history.history["loss"]
print(f"mse: epoch 1 {losses[0]:.4f} -> epoch {len(losses)} {losses[-1]:.4f} "
      f"(noise variance {NOISE ** 2:.4f})")

kernel, bias = model.get_weights()  # Keras layout: kernel (1, 1), bias (1,)
w, b = kernel.item(), bias.item()
ls_w, ls_b = np.polyfit(x[:, 0], y[:, 0], deg=1)  # the best any method can do on this sample
print(f"true       w = {TRUE_W:+.4f}, b = {TRUE_B:+.4f}")
print(f"least sq.  w = {ls_w:+.4f}, b = {ls_b:+.4f}")
print(f"recovered  w = {w:+.4f}, b = {b:+.4f}")
print("prediction at x = 0.5:", f"{model.predict(np.array([[0.5]], 'float32'), verbose=0).item():+.4f}",
      f"(true line {TRUE_W * 0.5 + TRUE_B:+.4f})")
