"""The Keras tutorial convnet, unchanged but for `keras` -> `kerasx`, on the bundled MNIST sample.

Run: python examples/mnist_cnn.py  (about a minute on a 2-core CPU)
Trains on the 4,000-image training split of the bundled real MNIST sample for 5 epochs and
prints the accuracy on the 1,000 held-out test images (Keras 3 on JAX reaches about 0.94).

Smoke run: KERASX_EXAMPLE_SMOKE=1 python examples/mnist_cnn.py (what the tests run by default)
trains on the first 1,000 training images for 2 epochs, and tests on 500, through the same code
and printing the same lines.
"""

import os
import time

from kerasx.datasets import mnist
from kerasx.layers import Conv2D, Dense, Flatten, MaxPooling2D
from kerasx.models import Sequential
from kerasx.utils import set_random_seed, to_categorical

# KERASX_EXAMPLE_SMOKE=1: a quick run for the tests, on a slice of the data and for fewer epochs.
SMOKE = os.environ.get("KERASX_EXAMPLE_SMOKE") == "1"

set_random_seed(0)
(x_train, y_train), (x_test, y_test) = mnist.load_sample()  # full MNIST: mnist.load_data()
if SMOKE:
    x_train, y_train, x_test, y_test = x_train[:1000], y_train[:1000], x_test[:500], y_test[:500]
x_train = x_train.reshape(-1, 28, 28, 1).astype("float32") / 255.0
x_test = x_test.reshape(-1, 28, 28, 1).astype("float32") / 255.0
y_train, y_test = to_categorical(y_train, 10), to_categorical(y_test, 10)

model = Sequential()
model.add(Conv2D(32, (3, 3), activation='relu', input_shape=(28, 28, 1)))
model.add(MaxPooling2D((2, 2)))
model.add(Flatten())
model.add(Dense(128, activation='relu'))
model.add(Dense(10, activation='softmax'))
model.compile(loss='categorical_crossentropy', optimizer='adam', metrics=['accuracy'])
model.summary()

start = time.perf_counter()
model.fit(x_train, y_train, epochs=2 if SMOKE else 5)
print(f"trained in {time.perf_counter() - start:.1f} s")
loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"test loss {loss:.4f}, test accuracy {accuracy:.4f} on {len(x_test)} held-out images")
