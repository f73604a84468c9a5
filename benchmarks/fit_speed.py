"""Training-speed benchmark: kerasx `fit` against hand-written JAX loops and Keras 3 (JAX backend).

Run from the repository root (no network needed; the data is the MNIST sample bundled with kerasx):

    python benchmarks/fit_speed.py                      # every workload, every contender
    python benchmarks/fit_speed.py --workload mlp --epochs 3
    python benchmarks/fit_speed.py --kerasx-spe 1       # kerasx with compile(steps_per_execution=1)
    python benchmarks/fit_speed.py --json results.json  # also save the raw numbers

Each (workload, contender) pair runs in its own fresh subprocess
(`python fit_speed.py --worker NAME ...`), which prints its results as one JSON line on stdout;
progress goes to stderr. The parent process never imports JAX, so it neither holds GPU memory nor
warms anything up for the workers.

Workloads (MNIST images, 28x28x1 or flattened to 784):

  mlp       Dense(128, relu) -> Dense(10, softmax); batch 32.
  cnn       Conv2D(32, 3, relu) -> MaxPooling2D(2) -> Flatten -> Dense(128, relu) ->
            Dense(10, softmax); batch 128.
  resnet    a small ResNet block, functional API: Conv2D(32, 3, same) -> BatchNormalization ->
            relu -> [Conv2D(32, 3, same) -> BN -> relu -> Conv2D(32, 3, same) -> BN] + skip (Add)
            -> relu -> GlobalAveragePooling2D -> Dense(10, softmax); batch 128. BatchNormalization
            trains on batch statistics and carries its moving averages as non-trained state.

Contenders, all training the same model on the same data with Adam (lr 1e-3) and sparse
categorical crossentropy on softmax outputs:

  kerasx    `Sequential(...)` (or `Model(inputs, outputs)`) `.compile(...)`; `model.fit(x, y,
            batch_size, epochs, verbose=0, shuffle=True)`. `--kerasx-spe N` passes
            `steps_per_execution=N` to `compile` (default: not passed, kerasx's own default).
  jax_step  hand-written: the model as plain JAX functions and an optax optimizer, one `jax.jit`
            train step per batch; batches sliced from NumPy on the host with a per-epoch
            permutation and sent with `jax.device_put` (no blocking between steps).
  jax_scan  hand-written: the data lives on the device; each epoch is ONE jitted call that draws a
            device-side permutation and `jax.lax.scan`s the train step over all of its batches.
  keras     Keras 3 with KERAS_BACKEND=jax, the same model and `model.fit(..., verbose=0)`;
            skipped, with a note, where Keras is not importable.
  keras_spe as `keras`, compiled with `steps_per_execution` = the steps of one epoch.

Both hand-written loops pad the last partial batch with masked-out samples (as kerasx does for
models without batch statistics), so every contender runs ceil(samples / batch) steps per epoch.
For BatchNormalization the hand-written loops take the batch statistics over the real (unmasked)
samples only.

Measured per contender:

  define (s)      for the fit-based contenders, defining and compiling the model (Keras creates
                  its weights here, kerasx in its first `fit`); 0 for the hand-written loops,
                  whose first step creates their parameters.
  first step (s)  wall time from the start of a training call on a fresh model until the first
                  step's result is ready, compile included. For the fit-based contenders this is a
                  1-step `fit(x[:batch], y[:batch])`; for jax_step one call of the train step
                  (parameter and optimizer init included); for jax_scan one epoch call over a
                  one-batch data set (a scan of length 1). The JAX backend is initialised first,
                  outside this timing.
  warm-up (s)     the next call: one full epoch, which may compile again (jax_scan compiles its
                  full-length scan here; Keras traces its partial last batch here).
  steps/s         steady state: steps / wall time of the following `--epochs` epochs (one `fit` or
                  a loop of epoch calls), blocking on the final parameters.
  host RSS        peak resident memory of the worker process (`ru_maxrss`).
  device peak     `peak_bytes_in_use` from `jax.devices()[0].memory_stats()` where the backend
                  reports it (GPU), else n/a.
  loss            the training loss of the last epoch, to show every contender really trains.

The report ends with the ratios kerasx / jax_step, jax_scan, keras and keras_spe of steps/s and of
define + first step (the wait from the model's definition to its first trained step), per workload.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONTENDERS = ("kerasx", "jax_step", "jax_scan", "keras", "keras_spe")
KERAS_CONTENDERS = ("keras", "keras_spe")
RATIO_AGAINST = ("jax_step", "jax_scan", "keras", "keras_spe")
WORKLOADS = {
    # name: (batch size, default number of training samples)
    "mlp": (32, 60_000),
    "cnn": (128, 12_000),
    "resnet": (128, 6_000),
}
LEARNING_RATE = 1e-3
EPSILON = 1e-7  # Keras's Adam epsilon and its probability clipping for crossentropy.
BN_MOMENTUM = 0.99  # Keras's BatchNormalization defaults.
BN_EPSILON = 1e-3
RESNET_FILTERS = 32


def log(msg):
    print(f"[fit_speed] {msg}", file=sys.stderr, flush=True)


# ====================================================================================== data
def load_data(workload, samples):
    """The bundled real MNIST sample's 4,000 training images, tiled to `samples`, scaled to [0, 1]."""
    import numpy as np

    sys.path.insert(0, REPO_ROOT)
    from kerasx.datasets import mnist

    (x, y), _ = mnist.load_sample()
    idx = np.arange(samples) % len(x)
    x = x[idx].astype(np.float32) / 255.0
    x = x.reshape(samples, 784) if workload == "mlp" else x.reshape(samples, 28, 28, 1)
    return x, y[idx].astype(np.int32)


# ====================================================================================== workers
def _block(tree):
    import jax

    return jax.block_until_ready(tree)


def _device_peak():
    import jax

    try:
        stats = jax.devices()[0].memory_stats()
    except Exception:  # some backends raise instead of returning None
        stats = None
    if not stats:
        return None
    return stats.get("peak_bytes_in_use")


def _warm_backend():
    """Initialises the JAX backend so that no contender's first step pays for it."""
    import jax
    import jax.numpy as jnp

    jax.block_until_ready(jnp.zeros(8) + 1)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _fit_timings(define, fit, x, y, batch, epochs):
    """(define, first step, warm-up epoch, steady epochs, loss) of a Keras-style
    `fit(xs, ys, n_epochs)`, where `define` is the time that defining the model took."""
    _, first = _timed(lambda: fit(x[:batch], y[:batch], 1))
    _, warmup = _timed(lambda: fit(x, y, 1))
    loss, steady = _timed(lambda: fit(x, y, epochs))
    return define, first, warmup, steady, loss


def _build_model(api, workload):
    """The workload's model, built with `api` (the `kerasx` or `keras` module), not compiled."""
    layers = api.layers
    if workload == "resnet":
        f = RESNET_FILTERS

        def conv_bn(t):
            t = layers.Conv2D(f, 3, padding="same")(t)
            return layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON)(t)

        inputs = layers.Input(shape=(28, 28, 1))
        h = layers.Activation("relu")(conv_bn(inputs))
        r = conv_bn(layers.Activation("relu")(conv_bn(h)))
        h = layers.Activation("relu")(layers.Add()([h, r]))
        h = layers.GlobalAveragePooling2D()(h)
        outputs = layers.Dense(10, activation="softmax")(h)
        return api.models.Model(inputs, outputs)
    stack = [layers.Input(shape=(784,) if workload == "mlp" else (28, 28, 1))]
    if workload == "mlp":
        stack += [layers.Dense(128, activation="relu")]
    else:
        stack += [layers.Conv2D(32, (3, 3), activation="relu"), layers.MaxPooling2D((2, 2)),
                  layers.Flatten(), layers.Dense(128, activation="relu")]
    stack += [layers.Dense(10, activation="softmax")]
    return api.Sequential(stack)


def run_kerasx(workload, x, y, batch, epochs, options):
    sys.path.insert(0, REPO_ROOT)
    import kerasx

    kerasx.utils.set_random_seed(0)
    _warm_backend()
    model, define = _timed(lambda: _define_kerasx(kerasx, workload, options))

    def fit(xs, ys, n_epochs):
        history = model.fit(xs, ys, batch_size=batch, epochs=n_epochs, verbose=0, shuffle=True)
        _block((model.params, model.state))
        return history.history["loss"][-1]

    return _fit_timings(define, fit, x, y, batch, epochs)


def _define_kerasx(kerasx, workload, options):
    """The workload's kerasx model, compiled."""
    if workload == "resnet":
        model = _build_model(kerasx, workload)
    else:  # as before the resnet workload: kerasx builds its parameters inside `fit`
        layers = kerasx.layers
        model = kerasx.Sequential()
        if workload == "mlp":
            model.add(layers.Dense(128, activation="relu", input_shape=(784,)))
        else:
            model.add(layers.Conv2D(32, (3, 3), activation="relu", input_shape=(28, 28, 1)))
            model.add(layers.MaxPooling2D((2, 2)))
            model.add(layers.Flatten())
            model.add(layers.Dense(128, activation="relu"))
        model.add(layers.Dense(10, activation="softmax"))
    compile_kwargs = {}
    if options.get("kerasx_spe") is not None:
        compile_kwargs["steps_per_execution"] = options["kerasx_spe"]
    model.compile(optimizer=kerasx.optimizers.Adam(learning_rate=LEARNING_RATE),
                  loss="sparse_categorical_crossentropy", **compile_kwargs)
    return model


def run_keras(workload, x, y, batch, epochs, options, steps_per_execution=1):
    os.environ["KERAS_BACKEND"] = "jax"
    import keras

    if keras.backend.backend() != "jax":
        raise ImportError(f"Keras runs on the {keras.backend.backend()!r} backend, not 'jax'")
    keras.utils.set_random_seed(0)
    _warm_backend()

    def define():
        model = _build_model(keras, workload)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
                      loss="sparse_categorical_crossentropy",
                      steps_per_execution=steps_per_execution)
        _block([v.value for v in model.variables])
        return model

    model, define_s = _timed(define)

    def fit(xs, ys, n_epochs):
        history = model.fit(xs, ys, batch_size=batch, epochs=n_epochs, verbose=0, shuffle=True)
        _block([v.value for v in model.variables])
        return history.history["loss"][-1]

    return _fit_timings(define_s, fit, x, y, batch, epochs)


def run_keras_spe(workload, x, y, batch, epochs, options):
    """Keras 3 `fit` with `steps_per_execution` = the steps of one epoch."""
    return run_keras(workload, x, y, batch, epochs, options,
                     steps_per_execution=-(-len(x) // batch))


# ---------------------------------------------------------------- the model as plain JAX
def _plain_model(workload):
    """init(key) -> (params, state) and apply(params, state, x, mask) -> (probabilities, state),
    as Keras defines the layers, in training mode.

    `state` holds BatchNormalization's moving mean and variance (an empty dict for models without
    BN); `mask` (1 = real sample, 0 = padding) only matters for BN's batch statistics.
    """
    import jax
    import jax.numpy as jnp

    def glorot(key, shape, fan_in, fan_out):
        limit = jnp.sqrt(6.0 / (fan_in + fan_out))
        return jax.random.uniform(key, shape, jnp.float32, -limit, limit)

    def conv_params(key, c_in, c_out):
        # HWIO kernel; Keras's fans for a conv kernel count the receptive field.
        return {"w": glorot(key, (3, 3, c_in, c_out), 9 * c_in, 9 * c_out),
                "b": jnp.zeros((c_out,), jnp.float32)}

    def conv(p, x, padding):
        x = jax.lax.conv_general_dilated(x, p["w"], (1, 1), padding,
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return x + p["b"]

    def dense_params(key, d_in, d_out):
        return {"w": glorot(key, (d_in, d_out), d_in, d_out), "b": jnp.zeros((d_out,), jnp.float32)}

    def batch_norm(p, s, x, mask):
        """Training-mode BN over the real samples: biased variance, Keras's moving averages."""
        m = mask.reshape((-1,) + (1,) * (x.ndim - 1))
        count = jnp.maximum(jnp.sum(mask), 1.0) * (x.size // (x.shape[0] * x.shape[-1]))
        axes = tuple(range(x.ndim - 1))
        mean = jnp.sum(x * m, axis=axes) / count
        var = jnp.sum(jnp.square(x - mean) * m, axis=axes) / count
        inv = p["gamma"] * jax.lax.rsqrt(var + BN_EPSILON)
        y = x * inv + (p["beta"] - mean * inv)
        s = {"mean": s["mean"] * BN_MOMENTUM + mean * (1.0 - BN_MOMENTUM),
             "var": s["var"] * BN_MOMENTUM + var * (1.0 - BN_MOMENTUM)}
        return y, s

    if workload == "resnet":
        f = RESNET_FILTERS

        def init(key):
            k = jax.random.split(key, 4)
            params = {"conv0": conv_params(k[0], 1, f), "conv1": conv_params(k[1], f, f),
                      "conv2": conv_params(k[2], f, f), "dense": dense_params(k[3], f, 10)}
            state = {}
            for name in ("bn0", "bn1", "bn2"):
                params[name] = {"gamma": jnp.ones((f,), jnp.float32),
                                "beta": jnp.zeros((f,), jnp.float32)}
                state[name] = {"mean": jnp.zeros((f,), jnp.float32),
                               "var": jnp.ones((f,), jnp.float32)}
            return params, state

        def apply(params, state, x, mask):
            new = {}

            def conv_bn(i, h):
                h = conv(params[f"conv{i}"], h, "SAME")
                h, new[f"bn{i}"] = batch_norm(params[f"bn{i}"], state[f"bn{i}"], h, mask)
                return h

            h = jax.nn.relu(conv_bn(0, x))
            r = conv_bn(2, jax.nn.relu(conv_bn(1, h)))
            h = jax.nn.relu(h + r)
            h = jnp.mean(h, axis=(1, 2))
            return jax.nn.softmax(h @ params["dense"]["w"] + params["dense"]["b"]), new

        return init, apply

    def init(key):
        k = jax.random.split(key, 3)
        params = {}
        if workload == "cnn":
            params["conv"] = conv_params(k[0], 1, 32)
            d_in = 13 * 13 * 32
        else:
            d_in = 784
        params["dense1"] = dense_params(k[1], d_in, 128)
        params["dense2"] = dense_params(k[2], 128, 10)
        return params, {}

    def apply(params, state, x, mask):
        if workload == "cnn":
            x = jax.nn.relu(conv(params["conv"], x, "VALID"))
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
            x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ params["dense1"]["w"] + params["dense1"]["b"])
        return jax.nn.softmax(x @ params["dense2"]["w"] + params["dense2"]["b"]), state

    return init, apply


def _plain_train_step(apply, tx):
    """step(params, state, opt_state, x, y, mask) -> (params, state, opt_state, loss) over the
    real samples."""
    import jax
    import jax.numpy as jnp
    import optax

    def loss_fn(params, state, x, y, mask):
        probs, state = apply(params, state, x, mask)
        # Keras's crossentropy on probabilities: renormalise, clip, log.
        probs = probs / jnp.sum(probs, axis=-1, keepdims=True)
        logp = jnp.log(jnp.clip(probs, EPSILON, 1.0 - EPSILON))
        nll = -jnp.take_along_axis(logp, y[:, None], axis=-1)[:, 0]
        return jnp.sum(nll * mask) / jnp.maximum(jnp.sum(mask), 1.0), state

    def step(params, state, opt_state, x, y, mask):
        (loss, state), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, state, x, y, mask)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), state, opt_state, loss

    return step


def _plain_setup(workload):
    import jax
    import optax

    init, apply = _plain_model(workload)
    tx = optax.adam(LEARNING_RATE, b1=0.9, b2=0.999, eps=EPSILON)
    # Donation lets accelerators reuse the state's buffers; the CPU backend ignores it with a warning.
    donate = (0, 1, 2) if jax.default_backend() != "cpu" else ()
    return init, tx, _plain_train_step(apply, tx), donate


def run_jax_step(workload, x, y, batch, epochs, options):
    import jax
    import numpy as np

    _warm_backend()
    init, tx, step, donate = _plain_setup(workload)
    step = jax.jit(step, donate_argnums=donate)
    n = len(x)
    steps = -(-n // batch)
    rng = np.random.default_rng(0)

    def host_batch(order, i):
        idx = order[i * batch:(i + 1) * batch]
        mask = np.ones((batch,), np.float32)
        if len(idx) < batch:  # pad the last batch with masked-out samples, as kerasx does
            mask[len(idx):] = 0.0
            idx = np.concatenate([idx, np.zeros(batch - len(idx), idx.dtype)])
        return jax.device_put((x[idx], y[idx], mask))

    def first_step():
        params, state = init(jax.random.key(0))
        opt_state = tx.init(params)
        xb, yb, mb = host_batch(np.arange(batch), 0)
        return _block(step(params, state, opt_state, xb, yb, mb))

    (params, state, opt_state, _), first = _timed(first_step)

    def run_epochs(n_epochs):
        nonlocal params, state, opt_state
        for _ in range(n_epochs):
            order = rng.permutation(n)
            losses = []
            for i in range(steps):
                params, state, opt_state, loss = step(params, state, opt_state,
                                                      *host_batch(order, i))
                losses.append(loss)
        _block((params, state))
        return float(np.mean(np.asarray(jax.device_get(losses))))

    _, warmup = _timed(lambda: run_epochs(1))
    loss, steady = _timed(lambda: run_epochs(epochs))
    return 0.0, first, warmup, steady, loss


def run_jax_scan(workload, x, y, batch, epochs, options):
    import jax
    import jax.numpy as jnp

    _warm_backend()
    init, tx, step, donate = _plain_setup(workload)

    def epoch(params, state, opt_state, key, xd, yd):
        n = xd.shape[0]
        steps = -(-n // batch)
        order = jax.random.permutation(key, n)
        pad = steps * batch - n
        order = jnp.concatenate([order, jnp.zeros((pad,), order.dtype)]).reshape(steps, batch)
        mask = (jnp.arange(steps * batch) < n).astype(jnp.float32).reshape(steps, batch)

        def body(carry, batch_idx):
            p, s, o = carry
            idx, m = batch_idx
            p, s, o, loss = step(p, s, o, xd[idx], yd[idx], m)
            return (p, s, o), loss

        (params, state, opt_state), losses = jax.lax.scan(body, (params, state, opt_state),
                                                          (order, mask))
        return params, state, opt_state, jnp.mean(losses)

    epoch = jax.jit(epoch, donate_argnums=donate)
    key = jax.random.key(1)

    def first_step():
        params, state = init(jax.random.key(0))
        opt_state = tx.init(params)
        xd, yd = jax.device_put((x[:batch], y[:batch]))
        return _block(epoch(params, state, opt_state, key, xd, yd))

    (params, state, opt_state, _), first = _timed(first_step)
    xd, yd = _block(jax.device_put((x, y)))

    def run_epochs(n_epochs):
        nonlocal params, state, opt_state, key
        loss = None
        for _ in range(n_epochs):
            key, sub = jax.random.split(key)
            params, state, opt_state, loss = epoch(params, state, opt_state, sub, xd, yd)
        _block((params, state))
        return float(loss)

    _, warmup = _timed(lambda: run_epochs(1))
    loss, steady = _timed(lambda: run_epochs(epochs))
    return 0.0, first, warmup, steady, loss


RUNNERS = {"kerasx": run_kerasx, "jax_step": run_jax_step, "jax_scan": run_jax_scan,
           "keras": run_keras, "keras_spe": run_keras_spe}


def keras_unavailable():
    """None when Keras imports on the JAX backend, else why it does not."""
    os.environ["KERAS_BACKEND"] = "jax"
    try:
        import keras  # noqa: F401
    except Exception as e:  # ImportError, or a Keras that cannot start on this JAX
        return f"keras not importable: {type(e).__name__}: {e}"
    return None


def worker(name, workload, samples, epochs, options):
    """Runs one contender on one workload; prints one JSON line on stdout."""
    batch = WORKLOADS[workload][0]
    steps = -(-samples // batch)
    result = {"contender": name, "workload": workload, "samples": samples, "batch": batch,
              "epochs": epochs}
    if name == "kerasx":
        result["steps_per_execution"] = options.get("kerasx_spe") or "default"
    elif name == "keras":
        result["steps_per_execution"] = 1
    elif name == "keras_spe":
        result["steps_per_execution"] = steps
    if name in KERAS_CONTENDERS and keras_unavailable():
        result["skipped"] = keras_unavailable()
        print(json.dumps(result), flush=True)
        return
    import jax

    x, y = load_data(workload, samples)
    log(f"{workload}/{name}: {samples} samples, batch {batch}, {steps} steps/epoch, "
        f"warm-up epoch + {epochs} timed epoch(s) on {jax.devices()[0].device_kind}")
    define, first, warmup, steady, loss = RUNNERS[name](workload, x, y, batch, epochs, options)
    result.update({
        "steps_per_epoch": steps,
        "define_s": define,
        "first_step_s": first,
        "warmup_epoch_s": warmup,
        "steady_s": steady,
        "steps_per_s": steps * epochs / steady,
        "loss": loss,
        # ru_maxrss is in KiB on Linux, bytes on macOS.
        "host_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        * (1 if sys.platform == "darwin" else 1024),
        "device_peak_bytes": _device_peak(),
        "device_kind": jax.devices()[0].device_kind,
        "platform": jax.default_backend(),
        "jax_version": jax.__version__,
    })
    log(f"{workload}/{name}: {result['steps_per_s']:.1f} steps/s, first step {first:.2f} s")
    print(json.dumps(result), flush=True)


# ====================================================================================== parent
def run_worker(name, workload, samples, epochs, timeout, kerasx_spe=None):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--workload", workload,
           "--samples", str(samples), "--epochs", str(epochs)]
    if kerasx_spe is not None:
        cmd += ["--kerasx-spe", str(kerasx_spe)]
    env = dict(os.environ)
    if name in KERAS_CONTENDERS:
        env["KERAS_BACKEND"] = "jax"
    base = {"contender": name, "workload": workload}
    try:
        # stderr passes through: the worker's progress lines (and any JAX warnings) show live.
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env, timeout=timeout,
                              cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        return dict(base, error=f"timed out after {timeout} s")
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        return dict(base, error=f"worker exited with status {proc.returncode} (see stderr above)")
    return json.loads(lines[-1])


def _mib(n):
    return "n/a" if n is None else f"{n / 2**20:.0f} MiB"


def _rate(v):
    return f"{v:.1f}" if v >= 10 else f"{v:.3f}"


def _ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "n/a"


def _to_first(r):
    return r.get("define_s", 0.0) + r["first_step_s"]


def report(results, args):
    rows = [("workload", "contender", "steps/s", "define (s)", "first step (s)", "warm-up (s)",
             "host RSS",
             "device peak", "loss")]
    notes = []
    for r in results:
        if "steps_per_s" in r:
            rows.append((r["workload"], r["contender"], _rate(r["steps_per_s"]),
                         f"{r['define_s']:.2f}", f"{r['first_step_s']:.2f}", f"{r['warmup_epoch_s']:.2f}",
                         _mib(r["host_rss_bytes"]), _mib(r["device_peak_bytes"]),
                         f"{r['loss']:.4f}"))
        else:
            why = r.get("skipped") or r.get("error")
            rows.append((r["workload"], r["contender"], "-", "-", "-", "-", "-", "-", "-"))
            notes.append(f"{r['workload']}/{r['contender']}: {'skipped' if 'skipped' in r else 'failed'}"
                         f" ({why})")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        lines.append("  ".join(c.ljust(w) if j < 2 else c.rjust(w)
                               for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    print("\n".join(lines))
    for note in notes:
        print(f"note: {note}")

    print("\nratios (kerasx / other): steps/s (above 1 = kerasx faster), define + first step "
          "(below 1 = kerasx trains sooner)")
    by = {(r["workload"], r["contender"]): r for r in results if "steps_per_s" in r}
    wl_width = max(len(r["workload"]) for r in results)
    ct_width = max(len(c) for c in RATIO_AGAINST)
    for workload in dict.fromkeys(r["workload"] for r in results):
        kx = by.get((workload, "kerasx"))
        for other in RATIO_AGAINST:
            o = by.get((workload, other))
            label = f"{workload:{wl_width}s}  kerasx / {other:{ct_width}s}"
            if kx is None or o is None:
                print(f"  {label}  n/a")
                continue
            print(f"  {label}  steps/s {_ratio(kx['steps_per_s'], o['steps_per_s'])}"
                  f"   define + first step {_ratio(_to_first(kx), _to_first(o))}")

    done = [r for r in results if "device_kind" in r]
    kind = f"{done[0]['device_kind']} ({done[0]['platform']})" if done else "unknown"
    jax_version = done[0]["jax_version"] if done else "?"
    print(f"\nmachine: {kind}, os.cpu_count()={os.cpu_count()}, {platform.machine()}, "
          f"Python {platform.python_version()}, jax {jax_version}; "
          f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}")
    print(f"settings: --epochs {args.epochs} timed epoch(s) after a warm-up epoch; "
          + ", ".join(f"{w}: {r['samples']} samples, batch {r['batch']}"
                      for w, r in {r["workload"]: r for r in done}.items()))
    ran = {r["contender"] for r in done}
    spe_parts = []
    if "kerasx" in ran:
        spe_parts.append("kerasx " + ("default (not passed to compile)" if args.kerasx_spe is None
                                      else str(args.kerasx_spe)))
    if "keras" in ran:
        spe_parts.append("keras 1")
    if "keras_spe" in ran:
        spe_parts.append("keras_spe one epoch (" + ", ".join(
            f"{r['workload']} {r['steps_per_execution']}" for r in done
            if r["contender"] == "keras_spe") + ")")
    if spe_parts:
        print(f"steps_per_execution: {'; '.join(spe_parts)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", choices=[*WORKLOADS, "all"], default="all")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs (after one warm-up epoch)")
    parser.add_argument("--samples", type=int, default=None,
                        help="training samples (default: 60000 for mlp, 12000 for cnn, "
                             "6000 for resnet)")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help=f"comma-separated subset of {','.join(CONTENDERS)}")
    parser.add_argument("--kerasx-spe", type=int, default=None, metavar="N",
                        help="pass steps_per_execution=N to kerasx's compile (default: not "
                             "passed, so kerasx uses its own default)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per worker")
    parser.add_argument("--json", default=None, help="also write the raw results to this file")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")
    if args.kerasx_spe is not None and args.kerasx_spe < 1:
        parser.error("--kerasx-spe must be at least 1")

    if args.worker:
        workload = args.workload
        worker(args.worker, workload, args.samples or WORKLOADS[workload][1], args.epochs,
               {"kerasx_spe": args.kerasx_spe})
        return

    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = sorted(set(contenders) - set(CONTENDERS))
    if unknown:
        parser.error(f"unknown contenders {unknown}; choose from {list(CONTENDERS)}")
    workloads = list(WORKLOADS) if args.workload == "all" else [args.workload]
    results = []
    start = time.perf_counter()
    for workload in workloads:
        samples = args.samples or WORKLOADS[workload][1]
        for name in contenders:
            log(f"--- {workload}/{name} (subprocess)")
            results.append(run_worker(name, workload, samples, args.epochs, args.timeout,
                                      args.kerasx_spe if name == "kerasx" else None))
    log(f"all done in {time.perf_counter() - start:.0f} s")
    print()
    report(results, args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
