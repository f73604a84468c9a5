"""A hand-written training loop: the kerasx model as a pure JAX function, trained with optax.

Run: python examples/custom_training_loop.py  (about 10 s on a 2-core CPU)

The explicit loop that MXNet Gluon writes with `autograd.record()` / `loss.backward()` /
`trainer.step()`, done the JAX way: the model is `(init, apply)`, the parameters, layer state and
random keys are pytrees we pass around ourselves, and one `@jax.jit` function does the forward
pass, the gradient and the optimizer update. On the bundled MNIST sample (4,000 training and
1,000 test images) it trains a small MLP with Dropout for 5 epochs and prints the test accuracy
(about 0.92), then

* computes per-example gradients with `jax.vmap(jax.grad(...))` (one gradient per image, which
  `fit` never shows you: the building block of DP-SGD or influence functions), and
* hands the trained pytrees back to the Keras shell (`model.params = params`) and checks that
  `model.compile(...)` + `model.evaluate(...)` reports the same accuracy as our hand-written one.

Smoke run: KERASX_EXAMPLE_SMOKE=1 python examples/custom_training_loop.py (what the tests run by
default) trains on the first 1,000 training images for 2 epochs, and tests on 500, through the
same code and printing the same lines.
"""

import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

import kerasx
from kerasx.datasets import mnist
from kerasx.layers import Dense, Dropout

# KERASX_EXAMPLE_SMOKE=1: a quick run for the tests, on a slice of the data and for fewer epochs.
SMOKE = os.environ.get("KERASX_EXAMPLE_SMOKE") == "1"

kerasx.utils.set_random_seed(0)
(x_train, y_train), (x_test, y_test) = mnist.load_sample()
if SMOKE:
    x_train, y_train, x_test, y_test = x_train[:1000], y_train[:1000], x_test[:500], y_test[:500]
x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
x_test = x_test.reshape(-1, 784).astype("float32") / 255.0
y_train, y_test = y_train.astype("int32"), y_test.astype("int32")

# The model outputs logits; the loss applies the softmax (more stable than a softmax layer).
model = kerasx.Sequential([
    Dense(128, activation="relu", input_shape=(784,)),
    Dropout(0.2),
    Dense(10),
])

# 1. The pure core: parameters and state are ordinary pytrees, created from one explicit key.
params, state = model.init(jax.random.key(0), x_train[:1])
print("parameter tree:", jax.tree.map(jnp.shape, params))
try:  # Dropout draws its mask from an explicit key only: training=True without one is an error.
    model.apply(params, state, x_train[:2], training=True)
except ValueError as e:
    print("training=True without rng:", e)

optimizer = optax.adam(1e-3)
opt_state = optimizer.init(params)


def loss_fn(params, state, x, y, key):
    """Mean cross-entropy of a batch; also returns the new layer state (BatchNorm would use it)."""
    logits, state = model.apply(params, state, x, training=True, rng=key)
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    return loss, state


@jax.jit
def train_step(params, state, opt_state, x, y, key):
    """One minibatch: forward, backward and update, compiled once by XLA."""
    (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, state, x, y, key)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    return params, state, opt_state, loss


@jax.jit
def predict_labels(params, state, x):
    logits, _ = model.apply(params, state, x, training=False)  # Dropout off, no rng needed
    return jnp.argmax(logits, axis=-1)


def accuracy(params, state, x, y):
    return float(np.mean(np.asarray(predict_labels(params, state, x)) == y))


# 2. The loop: shuffle on the host (the data pipeline), one jitted step per minibatch, and a
#    fresh Dropout key per step, folded from one base key and the step number.
batch_size, epochs = 64, 2 if SMOKE else 5
steps = len(x_train) // batch_size  # drop the ragged last batch: one shape, one compilation
shuffle = np.random.default_rng(0)
dropout_key = jax.random.key(1)
start = time.perf_counter()
for epoch in range(1, epochs + 1):
    perm = shuffle.permutation(len(x_train))
    losses = []
    for i in range(steps):
        idx = perm[i * batch_size:(i + 1) * batch_size]
        step_key = jax.random.fold_in(dropout_key, (epoch - 1) * steps + i)
        params, state, opt_state, loss = train_step(
            params, state, opt_state, x_train[idx], y_train[idx], step_key)
        losses.append(loss)  # stays on the device; read once per epoch below
    mean_loss = float(jnp.mean(jnp.stack(losses)))
    print(f"epoch {epoch}/{epochs}: train loss {mean_loss:.4f}, "
          f"train accuracy {accuracy(params, state, x_train, y_train):.4f}")
print(f"trained in {time.perf_counter() - start:.1f} s")

test_accuracy = accuracy(params, state, x_test, y_test)
print(f"hand-computed test accuracy {test_accuracy:.4f} on {len(x_test)} held-out images")


# 3. Per-example gradients: grad of a one-example loss, vmapped over the batch axis of x and y
#    (params shared: in_axes=None). Every leaf gains a leading batch axis.
def per_example_loss(params, x, y):
    logits, _ = model.apply(params, state, x[None], training=False)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y[None])[0]


per_example_grads = jax.jit(jax.vmap(jax.grad(per_example_loss), in_axes=(None, 0, 0)))(
    params, x_test[:32], y_test[:32])
print("per-example gradient shapes:", jax.tree.map(jnp.shape, per_example_grads))
norms = jax.jit(jax.vmap(optax.global_norm))(per_example_grads)  # one norm per example
print("per-example gradient norms of the first 5 test images:",
      " ".join(f"{n:.4f}" for n in np.asarray(norms[:5])))
# Their mean is the ordinary batch gradient.
batch_grads = jax.jit(jax.grad(lambda p, x, y: jnp.mean(
    jax.vmap(per_example_loss, in_axes=(None, 0, 0))(p, x, y))))(params, x_test[:32], y_test[:32])
max_diff = max(float(jnp.max(jnp.abs(jnp.mean(g, 0) - b))) for g, b in
               zip(jax.tree.leaves(per_example_grads), jax.tree.leaves(batch_grads)))
print(f"mean of per-example gradients vs batch gradient: max abs difference {max_diff:.2e}")

# 4. Back to the Keras shell: assign the trained pytrees and let evaluate() measure them.
model.params = params
model.state = state
model.compile(optimizer="adam",
              loss=kerasx.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
keras_loss, keras_accuracy = model.evaluate(x_test, y_test, verbose=0)
print(f"model.evaluate test accuracy {keras_accuracy:.4f} (loss {keras_loss:.4f})")
print("evaluate agrees with the hand-computed accuracy:",
      abs(keras_accuracy - test_accuracy) < 1e-6)
