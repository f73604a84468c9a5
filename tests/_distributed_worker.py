"""One process of a multi-process kerasx job (run by tests/test_distribution.py): joins the
job with `kerasx.distribution.initialize`, trains a small model under a distribution on its
share of every global batch, and writes the final weights (every process) to `out`."""

import os
import sys

pid, nproc, port, mode, out = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4],
                               sys.argv[5])
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
os.environ["KERAS_BACKEND"] = "jax"

import numpy as np  # noqa: E402

import kerasx as keras  # noqa: E402
from kerasx import distribution  # noqa: E402

distribution.initialize(f"localhost:{port}", nproc, pid)
sys.path.insert(0, os.path.dirname(__file__))
from _distributed_models import GLOBAL_BATCH, data, make_model  # noqa: E402

assert len(distribution.list_devices()) == 4 * nproc
if mode == "data":
    dist = distribution.DataParallel()
else:
    mesh = distribution.DeviceMesh((2, 4), ("batch", "model"))
    layout_map = distribution.LayoutMap(mesh)
    layout_map[".*dense.*kernel"] = (None, "model")
    layout_map[".*embedding.*embeddings"] = (None, "model")
    dist = distribution.ModelParallel(layout_map=layout_map, batch_dim_name="batch")
distribution.set_distribution(dist)
x, y = data()
# this process's share of every global batch: rows [pid * local, (pid + 1) * local) of each
local = GLOBAL_BATCH // nproc
rows = np.concatenate([np.arange(s + pid * local, s + (pid + 1) * local)
                       for s in range(0, len(x), GLOBAL_BATCH)])
model = make_model()
callbacks = []
if mode == "model":  # a sharded orbax checkpoint written by both processes together
    callbacks.append(keras.callbacks.OrbaxCheckpoint(  # one directory for both processes
        os.path.join(os.path.dirname(out), "shared.orbax"), save_on_background=False))
history = model.fit(x[rows], y[rows], batch_size=local, epochs=2, shuffle=False, verbose=0,
                    callbacks=callbacks)
weights = model.get_weights()  # gathers weights split across the processes
# every process calls save (it gathers); process 0 writes the file
model.save_weights(out.replace(".npz", "") + ".shared.weights.safetensors")
# each process predicts its own rows (its share of every global batch)
predictions = model.predict(x[rows], batch_size=local, verbose=0)
np.savez(out, *weights, loss=np.asarray(history.history["loss"]), predictions=predictions,
         rows=rows)
print("process", pid, "done", flush=True)
