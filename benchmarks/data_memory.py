"""Host memory of `fit`, `evaluate` and `predict` on a large NumPy array: kerasx against Keras 3.

Run from the repository root:

    python benchmarks/data_memory.py                          # 500,000 x 1,024 float32 (1.95 GB)
    python benchmarks/data_memory.py --rows 100000 --features 512 --contenders kerasx

Contenders: kerasx (its default placement), kerasx_stream (kerasx compiled with
`data_on_device=False`: chunks streamed from the arrays) and keras (Keras 3, JAX backend).
Each (contender, call) pair runs in a fresh subprocess (`data_memory.py --worker ...`). The worker
builds and compiles a small model (Input(features) -> Dense(16, relu) -> Dense(10, softmax)),
creates the data in place (`float32` drawn directly, no temporary), makes the call once (so
compiling, and the memory the compiler keeps, is not counted), and measures around the SECOND
call:

  peak extra   (peak RSS during the call - RSS before it) / data bytes: the extra copies of the
               data that the call makes at its worst moment. The peak is the kernel's high-water
               mark (`VmHWM`), reset just before the call by writing 5 to /proc/self/clear_refs.
  held after   (RSS after the call, after gc - RSS before it) / data bytes: what the call keeps.
  device peak  on accelerators, the device's peak bytes in use over the whole worker / data
               bytes: one device copy of the data is 1.0 plus the model's small share.

The calls: `fit(x, y, batch_size=128, epochs=1, steps_per_epoch=50)`, `evaluate(x, y,
batch_size=128)` and `predict(x, batch_size=128)` (predict's own output, 10 floats a row, is
0.01 copies of 1,024-feature data and is counted). Linux only (it reads /proc).
"""

import argparse
import gc
import json
import os
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTENDERS = ("kerasx", "keras")  # also "kerasx_stream": compile(data_on_device=False)
CALLS = ("fit", "evaluate", "predict")
BATCH = 128


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _reset_peak():
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def worker(contender, call, rows, features):
    import numpy as np

    if contender == "keras":
        os.environ.setdefault("KERAS_BACKEND", "jax")
        import keras
    else:
        sys.path.insert(0, REPO_ROOT)
        import kerasx as keras

    model = keras.Sequential([keras.Input((features,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    extra = {"data_on_device": False} if contender == "kerasx_stream" else {}
    model.compile("adam", "sparse_categorical_crossentropy", **extra)
    rng = np.random.default_rng(0)

    def run(x, y):
        if call == "fit":
            return model.fit(x, y, batch_size=BATCH, epochs=1, steps_per_epoch=50, verbose=0)
        if call == "evaluate":
            return model.evaluate(x, y, batch_size=BATCH, verbose=0)
        return model.predict(x, batch_size=BATCH, verbose=0)

    x = rng.random((rows, features), dtype=np.float32)
    y = rng.integers(0, 10, rows).astype(np.int32)
    data_bytes = x.nbytes + y.nbytes
    run(x, y)  # compiles the programs for these shapes: the measured call reuses them
    gc.collect()
    before = _rss_bytes()
    _reset_peak()
    result = run(x, y)
    peak = _peak_bytes()
    del result
    gc.collect()
    after = _rss_bytes()
    return {"contender": contender, "call": call, "rows": rows, "features": features,
            "data_gb": data_bytes / 1e9, "peak_extra": (peak - before) / data_bytes,
            "held_after": (after - before) / data_bytes,
            "device_peak": _device_peak(data_bytes)}


def _device_peak(data_bytes):
    """The accelerator's peak memory in use over the whole process, in copies of the data
    (None on backends that keep no such statistic, like the CPU)."""
    import jax

    try:
        stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # some backends raise instead of returning None
        stats = {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else peak / data_bytes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--features", type=int, default=1024)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--calls", default=",".join(CALLS))
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        contender, call = args.worker.split(":")
        print(json.dumps(worker(contender, call, args.rows, args.features)))
        return
    print(f"data: {args.rows:,} x {args.features:,} float32 "
          f"({args.rows * (args.features + 1) * 4 / 1e9:.2f} GB), batch {BATCH}")
    print(f"{'contender':<13} {'call':<9} {'peak extra (copies)':>20} {'held after':>11} "
          f"{'device peak':>12}")
    for contender in args.contenders.split(","):
        for call in args.calls.split(","):
            proc = subprocess.run(
                [sys.executable, os.path.abspath(__file__), "--worker", f"{contender}:{call}",
                 "--rows", str(args.rows), "--features", str(args.features)],
                capture_output=True, text=True, env=dict(os.environ, KERAS_BACKEND="jax"))
            if proc.returncode != 0:
                reason = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?"
                print(f"{contender:<13} {call:<9} failed: {reason}")
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            device = "n/a" if r["device_peak"] is None else f"{r['device_peak']:.2f}"
            print(f"{contender:<13} {call:<9} {r['peak_extra']:>20.2f} {r['held_after']:>11.2f} "
                  f"{device:>12}")


if __name__ == "__main__":
    main()
