"""Transfer learning the Keras way: train a base, freeze it, fine-tune a new head, unfreeze.

Run: python examples/transfer_learning.py  (about half a minute on a 2-core CPU)

Follows Keras's guide "Transfer learning & fine-tuning" on the bundled real MNIST sample:
1. train a small convnet base (with BatchNormalization) on the digits 0-4;
2. reuse the base inside a new model for the digits 5-9: `base.trainable = False`, the base
   called with `training=False` (so its BatchNormalization stays in inference mode), a new head
   trained on top;
3. unfreeze the base and fine-tune everything at a low learning rate.
It prints the test accuracy after each stage and checks that the frozen stage left the base's
weights (its BatchNorm statistics included) untouched.

Smoke run: KERASX_EXAMPLE_SMOKE=1 python examples/transfer_learning.py (what the tests run by
default) trains on the first 1,000 training images for 1 epoch a stage (unless --epochs says
otherwise), and tests on 500, through the same code and printing the same lines.
"""

import argparse
import os

import numpy as np

import kerasx as keras
from kerasx import layers
from kerasx.datasets import mnist

# KERASX_EXAMPLE_SMOKE=1: a quick run for the tests, on a slice of the data and for fewer epochs.
SMOKE = os.environ.get("KERASX_EXAMPLE_SMOKE") == "1"

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=1 if SMOKE else 3)
args = parser.parse_args()

keras.utils.set_random_seed(0)
(x_train, y_train), (x_test, y_test) = mnist.load_sample()
if SMOKE:
    x_train, y_train, x_test, y_test = x_train[:1000], y_train[:1000], x_test[:500], y_test[:500]
x_train = x_train.reshape(-1, 28, 28, 1).astype("float32") / 255.0
x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255.0
old_train, old_test = y_train < 5, y_test < 5

# 1. The base, trained on the digits 0-4.
base = keras.Sequential([
    keras.Input((28, 28, 1)),
    layers.Conv2D(16, 3, activation="relu"),
    layers.MaxPooling2D(2),
    layers.BatchNormalization(),
    layers.Flatten(),
    layers.Dense(64, activation="relu"),
], name="base")
pretrain = keras.Sequential([base, layers.Dense(5, activation="softmax")])
pretrain.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
pretrain.fit(x_train[old_train], y_train[old_train], epochs=args.epochs, verbose=0)
_, acc = pretrain.evaluate(x_test[old_test], y_test[old_test], verbose=0)
print(f"stage 1 (base on digits 0-4): test accuracy {acc:.4f}")

# 2. A new model on top of the frozen base, for the digits 5-9.
base.trainable = False
inputs = keras.Input((28, 28, 1))
features = base(inputs, training=False)  # BatchNorm in inference mode, even when unfrozen
outputs = layers.Dense(5, activation="softmax")(layers.Dropout(0.2)(features))
model = keras.Model(inputs, outputs)
model.summary(show_trainable=True)
x_new, y_new = x_train[~old_train], y_train[~old_train] - 5
x_new_test, y_new_test = x_test[~old_test], y_test[~old_test] - 5
frozen = base.get_weights()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_new, y_new, epochs=args.epochs, verbose=0)
_, acc = model.evaluate(x_new_test, y_new_test, verbose=0)
unchanged = all(np.array_equal(a, b) for a, b in zip(frozen, base.get_weights()))
print(f"stage 2 (new head, frozen base): test accuracy {acc:.4f}; base unchanged: {unchanged}")

# 3. Fine-tune everything at a low learning rate (compile again after changing `trainable`).
base.trainable = True
model.compile(optimizer=keras.optimizers.Adam(1e-5), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(x_new, y_new, epochs=1, verbose=0)
_, acc = model.evaluate(x_new_test, y_new_test, verbose=0)
moved = not np.array_equal(frozen[0], base.get_weights()[0])
print(f"stage 3 (fine-tuned end to end): test accuracy {acc:.4f}; base moved: {moved}")
