"""Keras-style subclassing on kerasx: a layer with its own weights, a subclassed model, and a
custom `train_step`, on the bundled real MNIST sample.

Run: python examples/subclassing.py  (about half a minute on a 2-core CPU)

Follows Keras's guides "Making new layers and models via subclassing" and "Customizing what
happens in fit() with JAX"; only the import differs from the Keras code.

Smoke run: KERASX_EXAMPLE_SMOKE=1 python examples/subclassing.py (what the tests run by default)
trains on the first 1,000 training images for 1 epoch a model (unless --epochs says otherwise),
and tests on 500, through the same code and printing the same lines.
"""

import argparse
import os

import jax
import jax.numpy as jnp

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
x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
x_test = x_test.reshape(-1, 784).astype("float32") / 255.0


# 1. A layer that owns its weights: build() creates them with add_weight, call() uses them.
class Linear(layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="glorot_uniform", name="w",
                                 regularizer=keras.regularizers.L2(1e-5))
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

    def call(self, inputs):
        return inputs @ self.w + self.b


# 2. A block holding layers (tracked as attributes, in a list too), and a subclassed model.
class MLPBlock(layers.Layer):
    def __init__(self, units=(128, 64), rate=0.2, **kwargs):
        super().__init__(**kwargs)
        self.linears = [Linear(u) for u in units]
        self.dropout = layers.Dropout(rate)

    def call(self, x, training=None):
        for linear in self.linears:
            x = self.dropout(jax.nn.relu(linear(x)), training=training)
        return x


class Classifier(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.block = MLPBlock()
        self.head = layers.Dense(10, activation="softmax")

    def call(self, x, training=False):
        return self.head(self.block(x, training=training))


model = Classifier()
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=0)
_, accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"subclassed model: {len(model.trainable_weights)} trainable weights, "
      f"{model.count_params():,} params, test accuracy {accuracy:.4f}")
print(f"first Linear's kernel: {model.block.linears[0].w.path} {model.block.linears[0].w.shape}")


# 3. A custom train_step in Keras 3's JAX form: the loss tracked by our own metric.
class CustomStepModel(keras.Model):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy = keras.metrics.SparseCategoricalAccuracy(name="accuracy")
        self.loss_fn = keras.losses.SparseCategoricalCrossentropy()

    def compute_loss_and_updates(self, trainable_variables, non_trainable_variables, x, y,
                                 training=False):
        y_pred, non_trainable_variables = self.stateless_call(
            trainable_variables, non_trainable_variables, x, training=training)
        return self.loss_fn(y, y_pred), (y_pred, non_trainable_variables)

    def train_step(self, state, data):
        trainable_variables, non_trainable_variables, optimizer_variables, metrics_variables = state
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
        (loss, (y_pred, non_trainable_variables)), grads = grad_fn(
            trainable_variables, non_trainable_variables, x, y, training=True)
        trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
            optimizer_variables, grads, trainable_variables)
        n = len(self.loss_tracker.variables)
        loss_vars = self.loss_tracker.stateless_update_state(metrics_variables[:n], loss)
        accuracy_vars = self.accuracy.stateless_update_state(metrics_variables[n:], y, y_pred)
        logs = {"loss": self.loss_tracker.stateless_result(loss_vars),
                "accuracy": self.accuracy.stateless_result(accuracy_vars)}
        return logs, (trainable_variables, non_trainable_variables, optimizer_variables,
                      loss_vars + accuracy_vars)

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy]


inputs = keras.Input((784,))
hidden = layers.Dense(128, activation="relu")(inputs)
custom = CustomStepModel(inputs, layers.Dense(10, activation="softmax")(hidden))
custom.compile(optimizer="adam")
history = custom.fit(x_train, y_train, batch_size=64, epochs=args.epochs, verbose=0)
predictions = custom.predict(x_test, verbose=0)
test_accuracy = float(jnp.mean(jnp.argmax(predictions, -1) == y_test))
print(f"custom train_step: final loss {history.history['loss'][-1]:.4f}, train accuracy "
      f"{history.history['accuracy'][-1]:.4f}, test accuracy {test_accuracy:.4f}")
