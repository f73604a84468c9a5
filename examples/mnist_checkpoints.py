"""A training job that keeps its best model: EarlyStopping + ModelCheckpoint + TensorBoard, then
the best checkpoint is loaded back from disk and evaluated.

Run: python examples/mnist_checkpoints.py [--workdir DIR]  (about a minute on a 2-core CPU)
Needs the TensorBoard writer: pip install -e ".[tensorboard]" (the test extra includes it).
Trains the Keras tutorial convnet on the bundled MNIST sample for up to 10 epochs, stopping when
the validation loss has not improved for 2 epochs; then `tensorboard --logdir DIR/logs` shows the
curves.

Smoke run: KERASX_EXAMPLE_SMOKE=1 python examples/mnist_checkpoints.py (what the tests run by
default) trains on the first 1,000 training images for 2 epochs (unless --epochs says
otherwise), and tests on 500, through the same code and printing the same lines.
"""

import argparse
import os
import tempfile

import numpy as np

import kerasx
from kerasx.callbacks import EarlyStopping, ModelCheckpoint, TensorBoard
from kerasx.datasets import mnist
from kerasx.layers import Conv2D, Dense, Dropout, Flatten, Input, MaxPooling2D
from kerasx.models import Sequential, load_model
from kerasx.utils import set_random_seed

# KERASX_EXAMPLE_SMOKE=1: a quick run for the tests, on a slice of the data and for fewer epochs.
SMOKE = os.environ.get("KERASX_EXAMPLE_SMOKE") == "1"

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--workdir", default=None,
                    help="where checkpoints and TensorBoard logs go (default: a new temp folder)")
parser.add_argument("--epochs", type=int, default=2 if SMOKE else 10)
args = parser.parse_args()
workdir = args.workdir or tempfile.mkdtemp(prefix="kerasx-mnist-")
os.makedirs(workdir, exist_ok=True)

set_random_seed(0)
(x_train, y_train), (x_test, y_test) = mnist.load_sample()
if SMOKE:
    x_train, y_train, x_test, y_test = x_train[:1000], y_train[:1000], x_test[:500], y_test[:500]
x_train = x_train.reshape(-1, 28, 28, 1).astype("float32") / 255.0
x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255.0

model = Sequential([
    Input((28, 28, 1)),
    Conv2D(32, (3, 3), activation="relu"),
    MaxPooling2D((2, 2)),
    Flatten(),
    Dropout(0.25),
    Dense(128, activation="relu"),
    Dense(10, activation="softmax"),
])
model.compile(optimizer=kerasx.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])

best_path = os.path.join(workdir, "best.kerasx")
callbacks = [
    EarlyStopping(monitor="val_loss", patience=2),
    # A template such as "ckpt-{epoch:02d}-{val_loss:.2f}.kerasx" would keep every improvement.
    ModelCheckpoint(best_path, monitor="val_loss", save_best_only=True, verbose=1),
    TensorBoard(log_dir=os.path.join(workdir, "logs")),
]
history = model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, validation_split=0.2,
                    callbacks=callbacks, verbose=2)

best_epoch = int(np.argmin(history.history["val_loss"]))
print(f"ran {len(history.epoch)} epochs; best epoch {best_epoch + 1} with val_loss "
      f"{history.history['val_loss'][best_epoch]:.4f}")

best = load_model(best_path)  # architecture, weights and optimizer state from one file
loss, accuracy = best.evaluate(x_test, y_test, verbose=0)
print(f"best checkpoint {best_path}: test loss {loss:.4f}, test accuracy {accuracy:.4f} "
      f"on {len(x_test)} held-out images")
print(f"TensorBoard: tensorboard --logdir {os.path.join(workdir, 'logs')}")
