"""Data and model parallelism with `kerasx.distribution` on whatever devices exist.

Run: python examples/distributed.py               (the devices JAX finds: 1 CPU, GPUs, TPUs)
     python examples/distributed.py --devices 8   (on a CPU: 8 forced host devices)

Trains a small attention classifier three times, on one device, with `DataParallel` over every
device, and with `ModelParallel` on a (data, model) mesh whose model axis splits the embedding,
attention and Dense kernels. It prints the mesh, the layout of every weight, the accuracy,
and how far the distributed weights are from the one-device weights (the same computation, so
about 1e-7 in float32). On one device the mesh is 1x1 and the three runs coincide.

Smoke run: KERASX_EXAMPLE_SMOKE=1 python examples/distributed.py --devices 8 (what the tests run)
trains one epoch on fewer samples through the same code.
"""

import argparse
import os
import sys

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--devices", type=int, default=0,
                    help="on a CPU, force this many host devices (0: use what JAX finds)")
parser.add_argument("--epochs", type=int, default=4)
args = parser.parse_args()
if args.devices:  # must be set before JAX starts
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                               f" --xla_force_host_platform_device_count={args.devices}")

import numpy as np  # noqa: E402

import kerasx as keras  # noqa: E402
from kerasx import distribution, layers  # noqa: E402

SMOKE = os.environ.get("KERASX_EXAMPLE_SMOKE") == "1"
VOCAB, SEQ, CLASSES = 64, 12, 4
n_samples, epochs = (512, 1) if SMOKE else (4096, args.epochs)

# The task: the class is the most frequent of the tokens 1..4 in the sequence.
rng = np.random.default_rng(0)
x = rng.integers(1, VOCAB, size=(n_samples, SEQ)).astype("int32")
counts = np.stack([(x == t).sum(axis=1) for t in range(1, CLASSES + 1)], axis=1)
hot = rng.integers(0, CLASSES, n_samples)
x[np.arange(n_samples), rng.integers(0, SEQ, n_samples)] = hot + 1  # one sure token per row
x[np.arange(n_samples), rng.integers(0, SEQ, n_samples)] = hot + 1
counts = np.stack([(x == t).sum(axis=1) for t in range(1, CLASSES + 1)], axis=1)
y = counts.argmax(axis=1).astype("int32")
split = n_samples * 3 // 4


def make_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SEQ,), dtype="int32")
    h = layers.Embedding(VOCAB, 32)(inputs)
    h = layers.MultiHeadAttention(num_heads=4, key_dim=8)(h, h)
    h = layers.GlobalAveragePooling1D()(h)
    h = layers.Dense(64, activation="relu")(h)
    outputs = layers.Dense(CLASSES)(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(3e-3),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def train(dist, label):
    distribution.set_distribution(dist)
    try:
        model = make_model()
        model.fit(x[:split], y[:split], batch_size=64, epochs=epochs, verbose=0, shuffle=True)
        _, accuracy = model.evaluate(x[split:], y[split:], batch_size=64, verbose=0)
    finally:
        distribution.set_distribution(None)
    print(f"{label}: test accuracy {accuracy:.3f}")
    return model


devices = distribution.list_devices()
n = len(devices)
print(f"devices: {n} ({devices[0]} ... {devices[-1]})")
one = train(None, "one device")

data_parallel = distribution.DataParallel()
print(f"DataParallel mesh: {data_parallel.device_mesh}")
dp = train(data_parallel, "DataParallel")

model_axis = 4 if n % 4 == 0 else (2 if n % 2 == 0 else 1)
mesh = distribution.DeviceMesh((n // model_axis, model_axis), ("batch", "model"))
layout_map = distribution.LayoutMap(mesh)
layout_map[".*embedding.*embeddings"] = (None, "model")
layout_map[".*(query|key|value).*kernel"] = (None, "model", None)
layout_map[".*attention_output.*kernel"] = ("model", None, None)
layout_map[".*dense.*kernel"] = (None, "model")
print(f"ModelParallel mesh: {mesh}")
mp = train(distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch"),
           "ModelParallel")
print("layouts (ModelParallel):")
for variable in mp.weights:
    sharding = variable.value.sharding
    print(f"  {variable.path:40s} {str(tuple(variable.shape)):14s} {sharding.spec} "
          f"on {len(sharding.device_set)} devices")
for label, model in (("DataParallel", dp), ("ModelParallel", mp)):
    gap = max(float(np.max(np.abs(a - b))) for a, b in zip(model.get_weights(), one.get_weights()))
    print(f"{label} weights vs one device: max difference {gap:.2e}")
