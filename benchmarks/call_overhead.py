"""Per-call cost of the batch-level API: kerasx against a hand-written JAX program and Keras 3.

Loops that drive training themselves (GANs, reinforcement learning, custom schedules) call
`train_on_batch`, `test_on_batch` and `predict_on_batch` once per step, and notebooks call `fit`
on small data many times. There, what a call costs on the host is the step rate. Run from the
repository root:

    python benchmarks/call_overhead.py                  # mlp (batch 32)
    python benchmarks/call_overhead.py --workload cnn   # the tutorial convnet (batch 128)
    python benchmarks/call_overhead.py --calls 1000

Each contender runs in its own subprocess, on the same model, data and optimizer as
`fit_speed.py` (Adam, sparse categorical crossentropy on probabilities), and times `--calls`
calls of each operation after warm-up calls (compiles excluded), on one fixed batch:

  train     `train_on_batch(x, y)`; hand-written: the jitted train step and `float(loss)`.
  test      `test_on_batch(x, y)`; hand-written: a jitted loss and `float(loss)`.
  predict   `predict_on_batch(x)`; hand-written: the jitted forward pass and `np.asarray`.
  fit       `fit(x, y, epochs=1, verbose=0)` on that one batch (no hand-written equivalent).

Every contender returns host values, as the Keras API does, so each call waits for its step.
The report gives milliseconds per call and the ratios kerasx / other (below 1 = kerasx faster).
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import fit_speed  # noqa: E402  (the shared models and data; it imports no JAX at module level)

CONTENDERS = ("kerasx", "jax", "keras")
OPERATIONS = ("train", "test", "predict", "fit")


def _per_call_ms(fn, calls):
    for _ in range(5):
        fn()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e3


def _fit_api_calls(model, x, y):
    return {
        "train": lambda: model.train_on_batch(x, y),
        "test": lambda: model.test_on_batch(x, y),
        "predict": lambda: model.predict_on_batch(x),
        "fit": lambda: model.fit(x, y, batch_size=len(x), epochs=1, verbose=0),
    }


def run_kerasx(workload, x, y):
    sys.path.insert(0, fit_speed.REPO_ROOT)
    import kerasx

    kerasx.utils.set_random_seed(0)
    return _fit_api_calls(fit_speed._define_kerasx(kerasx, workload, {}), x, y)


def run_keras(workload, x, y):
    os.environ["KERAS_BACKEND"] = "jax"
    import keras

    keras.utils.set_random_seed(0)
    model = fit_speed._build_model(keras, workload)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=fit_speed.LEARNING_RATE),
                  loss="sparse_categorical_crossentropy")
    return _fit_api_calls(model, x, y)


def run_jax(workload, x, y):
    import jax
    import jax.numpy as jnp
    import numpy as np

    init, tx, step, donate = fit_speed._plain_setup(workload)
    _, apply = fit_speed._plain_model(workload)
    params, state = init(jax.random.key(0))
    live = {"params": params, "state": state, "opt_state": tx.init(params)}
    step = jax.jit(step, donate_argnums=donate)
    mask = jnp.ones((len(x),), jnp.float32)

    @jax.jit
    def loss(params, state, x, y):
        probs, _ = apply(params, state, x, mask)
        probs = probs / jnp.sum(probs, axis=-1, keepdims=True)
        logp = jnp.log(jnp.clip(probs, fit_speed.EPSILON, 1.0 - fit_speed.EPSILON))
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=-1))

    forward = jax.jit(lambda params, state, x: apply(params, state, x, mask)[0])

    def train():
        live["params"], live["state"], live["opt_state"], value = step(
            live["params"], live["state"], live["opt_state"], x, y, mask)
        return float(value)

    return {
        "train": train,
        "test": lambda: float(loss(live["params"], live["state"], x, y)),
        "predict": lambda: np.asarray(forward(live["params"], live["state"], x)),
    }


RUNNERS = {"kerasx": run_kerasx, "jax": run_jax, "keras": run_keras}


def worker(name, workload, calls):
    result = {"contender": name}
    if name == "keras" and fit_speed.keras_unavailable():
        result["skipped"] = fit_speed.keras_unavailable()
        print(json.dumps(result), flush=True)
        return
    import jax

    batch = fit_speed.WORKLOADS[workload][0]
    x, y = fit_speed.load_data(workload, batch)
    operations = RUNNERS[name](workload, x, y)
    result["ms"] = {op: _per_call_ms(fn, calls) for op, fn in operations.items()}
    result["device"] = f"{jax.devices()[0].device_kind} ({jax.default_backend()})"
    print(json.dumps(result), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", choices=["mlp", "cnn"], default="mlp")
    parser.add_argument("--calls", type=int, default=300, help="timed calls per operation")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.workload, args.calls)

    results = {}
    for name in CONTENDERS:
        env = dict(os.environ, KERAS_BACKEND="jax")
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", name,
                               "--workload", args.workload, "--calls", str(args.calls)],
                              stdout=subprocess.PIPE, text=True, env=env, cwd=fit_speed.REPO_ROOT)
        lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
        results[name] = json.loads(lines[-1]) if lines else {
            "error": f"worker exited with status {proc.returncode}"}

    batch = fit_speed.WORKLOADS[args.workload][0]
    print(f"{args.workload}, batch {batch}: milliseconds per call ({args.calls} calls after warm-up)")
    print(f"{'operation':10s}" + "".join(f"{c:>10s}" for c in CONTENDERS)
          + "".join(f"{'kerasx/' + c:>14s}" for c in CONTENDERS[1:]))
    for op in OPERATIONS:
        ms = [results[c].get("ms", {}).get(op) for c in CONTENDERS]
        cells = "".join(f"{v:10.2f}" if v is not None else f"{'-':>10s}" for v in ms)
        ratios = "".join(f"{ms[0] / v:13.2f}x" if ms[0] and v else f"{'n/a':>14s}" for v in ms[1:])
        print(f"{op:10s}{cells}{ratios}")
    for name, r in results.items():
        if "ms" not in r:
            print(f"note: {name}: {r.get('skipped') or r.get('error')}")
    device = next((r["device"] for r in results.values() if "device" in r), "unknown")
    print(f"device: {device}")


if __name__ == "__main__":
    main()
