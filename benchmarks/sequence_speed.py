"""Sequence-model training speed: kerasx `fit` against hand-written JAX and Keras 3 (JAX backend).

Run from the repository root (no network needed; the data is generated):

    python benchmarks/sequence_speed.py                         # both workloads, all contenders
    python benchmarks/sequence_speed.py --workload lstm --steps 30 --repeats 3
    python benchmarks/sequence_speed.py --small                 # a quick smoke run (small sizes)
    python benchmarks/sequence_speed.py --placement             # LSTM/GRU projection placement
    python benchmarks/sequence_speed.py --json results.json     # also save the raw numbers

Workloads (token ids in [1, vocab), a binary label that depends on them; Adam lr 1e-3, eps 1e-7,
Keras's binary crossentropy on a sigmoid output):

  lstm         Input(seq, int32) -> Embedding(vocab, embed) -> LSTM(units) -> Dense(1, sigmoid).
               Defaults (the issue's sizes): vocab 20,000, seq 200, embed 128, units 128, batch 64.
  transformer  Input(seq, int32) -> Embedding(vocab, d_model) -> `blocks` post-norm encoder blocks
               [x = LayerNormalization(x + MultiHeadAttention(heads, d_model // heads)(x, x));
               x = LayerNormalization(x + Dense(d_model)(Dense(ff, relu)(x)))] ->
               GlobalAveragePooling1D -> Dense(1, sigmoid). Defaults: vocab 20,000, seq 128,
               d_model 128, 4 heads, ff 512, 2 blocks, batch 64. No positional embedding and no
               dropout (the same in every contender, so the comparison is unaffected).

Contenders, each in its own fresh subprocess, on the same data:

  kerasx    `Sequential` / functional `Model`, `compile(Adam, "binary_crossentropy")`,
            `fit(x, y, batch_size, epochs, verbose=0, shuffle=True)` with kerasx's defaults.
  jax       hand-written: pure functions (a `lax.scan` LSTM; its input projection inside the
            scan on CPU, where `--placement` measured that faster, else one matmul over all
            the steps before the scan), optax Adam, one `jax.jit` train step per call with donated
            parameter and optimizer buffers; the data lives on the device and each step gathers
            its batch from a per-epoch permutation inside the jitted step.
  jax_scan  as `jax`, but each epoch is one jitted `lax.scan` over its train steps.
  keras     Keras 3 with KERAS_BACKEND=jax, the same model, `fit(..., verbose=0)`; skipped, with a
            note, where Keras is not importable.

Measured per contender (`--repeats` runs of every contender, interleaved; the table shows the
median and, in brackets, the range):

  steps/s          after a 1-step fit and a full warm-up epoch: `--epochs` epochs of `--steps`
                   steps, timed around one `fit` call (or the loop of steps), blocking on the
                   weights.
  cpu s/step       the same section's CPU time of the worker process (all its threads) per step:
                   on a machine shared with other work it varies much less than the wall time.
  start->1st (s)   wall time from the parent launching the worker process to the end of the first
                   trained step: interpreter start, imports, backend start, model definition,
                   compilation and the step.
  fit->1st (s)     defining and compiling the model, then the first training call on the fresh
                   model until its first step's result is ready (a 1-step `fit(x[:batch],
                   y[:batch])`; for the hand-written loops, parameter and optimizer init and one
                   step call), compile included.
  warm-up (s)      the next call: one full epoch (it may compile again for the epoch's length).

`--placement` instead times forward + backward of one recurrent layer (LSTM and GRU, the lstm
workload's sizes) with the input projection `x @ kernel` computed as one matmul over all the
timesteps before the scan, or per step inside the scan: hand-written JAX and kerasx's own layer
with each placement forced through `kerasx.layers._recurrent.input_projection_placement`.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONTENDERS = ("kerasx", "jax", "jax_scan", "keras")
RATIO_AGAINST = ("jax", "jax_scan", "keras")
LEARNING_RATE = 1e-3
EPSILON = 1e-7  # Keras's Adam epsilon and its probability clipping for crossentropy.
LN_EPSILON = 1e-3  # Keras's LayerNormalization default.

FULL = {
    "lstm": dict(vocab=20_000, seq=200, embed=128, units=128, batch=64),
    "transformer": dict(vocab=20_000, seq=128, d_model=128, heads=4, ff=512, blocks=2, batch=64),
}
SMALL = {
    "lstm": dict(vocab=2_000, seq=50, embed=32, units=32, batch=32),
    "transformer": dict(vocab=2_000, seq=32, d_model=32, heads=4, ff=64, blocks=2, batch=32),
}


def log(msg):
    print(f"[sequence_speed] {msg}", file=sys.stderr, flush=True)


# ====================================================================================== data
def make_data(cfg, samples, seed=0):
    """Token ids (samples, seq) int32 in [1, vocab) and labels (samples, 1) float32: 1 when more
    than half of the tokens come from the lower half of the vocabulary."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.integers(1, cfg["vocab"], size=(samples, cfg["seq"]), dtype=np.int32)
    low = (x < cfg["vocab"] // 2).mean(axis=1)
    y = (low > np.median(low)).astype(np.float32)[:, None]
    return x, y


# ====================================================================================== helpers
def _block(tree):
    import jax

    return jax.block_until_ready(tree)


def _warm_backend():
    import jax
    import jax.numpy as jnp

    jax.block_until_ready(jnp.zeros(8) + 1)


def _timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def _timed_cpu(fn):
    """(fn(), wall seconds, CPU seconds of this process, all threads)."""
    start, start_cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - start, time.process_time() - start_cpu


# ====================================================================================== models
def build_model(api, workload, cfg):
    """The workload's model with `api` (the `kerasx` or `keras` module), not compiled."""
    layers = api.layers
    inputs = layers.Input((cfg["seq"],), dtype="int32")
    if workload == "lstm":
        h = layers.Embedding(cfg["vocab"], cfg["embed"])(inputs)
        h = layers.LSTM(cfg["units"])(h)
    else:
        d = cfg["d_model"]
        h = layers.Embedding(cfg["vocab"], d)(inputs)
        for _ in range(cfg["blocks"]):
            a = layers.MultiHeadAttention(cfg["heads"], d // cfg["heads"])(h, h)
            h = layers.LayerNormalization()(layers.Add()([h, a]))
            f = layers.Dense(d)(layers.Dense(cfg["ff"], activation="relu")(h))
            h = layers.LayerNormalization()(layers.Add()([h, f]))
        h = layers.GlobalAveragePooling1D()(h)
    # under a mixed policy the output layer stays float32, as Keras's guide advises
    outputs = layers.Dense(1, activation="sigmoid",
                           dtype="float32" if cfg.get("policy") else None)(h)
    return api.models.Model(inputs, outputs)


def _fit_contender(api, workload, cfg, x, y, steps, epochs, t0):
    batch = cfg["batch"]

    def define():
        if cfg.get("policy"):  # kerasx and Keras only (--policy)
            api.config.set_dtype_policy(cfg["policy"])
        model = build_model(api, workload, cfg)
        model.compile(optimizer=api.optimizers.Adam(learning_rate=LEARNING_RATE),
                      loss="binary_crossentropy")
        return model

    model, define_s = _timed(define)

    def sync():
        if api.__name__ == "keras":
            _block([v.value for v in model.variables])
        else:
            _block((model.params, model.state))

    def fit(xs, ys, n_epochs):
        history = model.fit(xs, ys, batch_size=batch, epochs=n_epochs, verbose=0, shuffle=True)
        sync()
        return history.history["loss"][-1]

    _, first = _timed(lambda: fit(x[:batch], y[:batch], 1))
    start_to_first = time.time() - t0
    _, warmup = _timed(lambda: fit(x, y, 1))
    loss, steady, steady_cpu = _timed_cpu(lambda: fit(x, y, epochs))
    return dict(define_s=define_s, first_step_s=first, start_to_first_s=start_to_first,
                warmup_s=warmup, steady_s=steady, steady_cpu_s=steady_cpu, loss=loss)


def run_kerasx(workload, cfg, x, y, steps, epochs, t0):
    sys.path.insert(0, REPO_ROOT)
    import kerasx

    kerasx.utils.set_random_seed(0)
    _warm_backend()
    return _fit_contender(kerasx, workload, cfg, x, y, steps, epochs, t0)


def run_keras(workload, cfg, x, y, steps, epochs, t0):
    os.environ["KERAS_BACKEND"] = "jax"
    import keras

    if keras.backend.backend() != "jax":
        raise ImportError(f"Keras runs on the {keras.backend.backend()!r} backend, not 'jax'")
    keras.utils.set_random_seed(0)
    _warm_backend()
    return _fit_contender(keras, workload, cfg, x, y, steps, epochs, t0)


# ---------------------------------------------------------------- the models as plain JAX
def plain_model(workload, cfg):
    """init(key) -> params and apply(params, tokens) -> probabilities (batch, 1), Keras's
    layers written out (Keras's default initializers; the attention kernels' glorot fans are
    those of the flattened (d_model, heads * head_dim) matrix)."""
    import jax
    import jax.numpy as jnp

    glorot = jax.nn.initializers.glorot_uniform()
    orthogonal = jax.nn.initializers.orthogonal()

    def dense_params(key, d_in, d_out):
        return {"w": glorot(key, (d_in, d_out), jnp.float32), "b": jnp.zeros((d_out,), jnp.float32)}

    def embedding(key):
        return jax.random.uniform(key, (cfg["vocab"], cfg.get("embed", cfg.get("d_model"))),
                                  jnp.float32, -0.05, 0.05)

    if workload == "lstm":
        e, u = cfg["embed"], cfg["units"]

        def init(key):
            k = jax.random.split(key, 4)
            bias = jnp.zeros((4 * u,), jnp.float32).at[u:2 * u].set(1.0)  # unit_forget_bias
            return {"emb": embedding(k[0]),
                    "lstm": {"kernel": glorot(k[1], (e, 4 * u), jnp.float32),
                             "recurrent": orthogonal(k[2], (u, 4 * u), jnp.float32),
                             "bias": bias},
                    "out": dense_params(k[3], u, 1)}

        # The faster placement of the input projection where it was measured (CPU: inside
        # the scan; see `--placement`), else one matmul over all the steps before the scan.
        hoist = jax.default_backend() != "cpu"

        def apply(params, tokens):
            x = jnp.take(params["emb"], tokens.T, axis=0)  # (seq, batch, embed): time-major
            p = params["lstm"]
            xs = x @ p["kernel"] + p["bias"] if hoist else x
            batch = tokens.shape[0]
            zeros = jnp.zeros((batch, u), x.dtype)

            def step(carry, x_t):
                h, c = carry
                z_t = x_t if hoist else x_t @ p["kernel"] + p["bias"]
                z = z_t + h @ p["recurrent"]
                i, f, g, o = jnp.split(z, 4, axis=-1)
                c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
                h = jax.nn.sigmoid(o) * jnp.tanh(c)
                return (h, c), None

            (h, _), _ = jax.lax.scan(step, (zeros, zeros), xs)
            return jax.nn.sigmoid(h @ params["out"]["w"] + params["out"]["b"])

        return init, apply

    d, nh, ff = cfg["d_model"], cfg["heads"], cfg["ff"]
    hd = d // nh

    def init(key):
        keys = iter(jax.random.split(key, 2 + 6 * cfg["blocks"]))
        params = {"emb": embedding(next(keys)), "blocks": []}
        for _ in range(cfg["blocks"]):
            params["blocks"].append({
                "q": dense_params(next(keys), d, d), "k": dense_params(next(keys), d, d),
                "v": dense_params(next(keys), d, d), "o": dense_params(next(keys), d, d),
                "ln1": {"g": jnp.ones((d,)), "b": jnp.zeros((d,))},
                "ff1": dense_params(next(keys), d, ff), "ff2": dense_params(next(keys), ff, d),
                "ln2": {"g": jnp.ones((d,)), "b": jnp.zeros((d,))}})
        params["out"] = dense_params(next(keys), d, 1)
        return params

    def layer_norm(p, x):
        mean = jnp.mean(x, axis=-1, keepdims=True)
        var = jnp.mean(jnp.square(x - mean), axis=-1, keepdims=True)
        inv = jax.lax.rsqrt(var + LN_EPSILON) * p["g"]
        return x * inv + (p["b"] - mean * inv)

    def dense(p, x):
        return x @ p["w"] + p["b"]

    def apply(params, tokens):
        x = jnp.take(params["emb"], tokens, axis=0)  # (batch, seq, d)
        b, t = tokens.shape
        for p in params["blocks"]:
            q, k, v = (dense(p[n], x).reshape(b, t, nh, hd) for n in "qkv")
            a = jax.nn.dot_product_attention(q, k, v).reshape(b, t, d)
            x = layer_norm(p["ln1"], x + dense(p["o"], a))
            x = layer_norm(p["ln2"], x + dense(p["ff2"], jax.nn.relu(dense(p["ff1"], x))))
        x = jnp.mean(x, axis=1)
        return jax.nn.sigmoid(dense(params["out"], x))

    return init, apply


def plain_train_step(apply, tx, batch):
    """step(params, opt_state, x, y, order, i) -> (params, opt_state, loss): the batch is
    gathered on the device from the epoch's permutation `order` (steps, batch) at row `i`."""
    import jax
    import jax.numpy as jnp
    import optax

    def loss_fn(params, xb, yb):
        p = jnp.clip(apply(params, xb), EPSILON, 1.0 - EPSILON)  # Keras's BCE on probabilities
        return -jnp.mean(yb * jnp.log(p) + (1.0 - yb) * jnp.log(1.0 - p))

    def step(params, opt_state, x, y, order, i):
        idx = jax.lax.dynamic_index_in_dim(order, i, keepdims=False)
        loss, grads = jax.value_and_grad(loss_fn)(params, x[idx], y[idx])
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def _plain_setup(workload, cfg):
    import optax

    init, apply = plain_model(workload, cfg)
    tx = optax.adam(LEARNING_RATE, b1=0.9, b2=0.999, eps=EPSILON)
    return init, tx, plain_train_step(apply, tx, cfg["batch"])


def run_jax(workload, cfg, x, y, steps, epochs, t0):
    import jax
    import numpy as np

    _warm_backend()
    init, tx, step = _plain_setup(workload, cfg)
    step = jax.jit(step, donate_argnums=(0, 1))
    batch = cfg["batch"]
    rng = np.random.default_rng(0)

    def first_step():
        params = jax.jit(init)(jax.random.key(0))  # one compiled program, not op by op
        opt_state = jax.jit(tx.init)(params)
        xd, yd, order = jax.device_put((x[:batch], y[:batch], np.arange(batch)[None]))
        return _block(step(params, opt_state, xd, yd, order, np.int32(0)))

    (params, opt_state, _), first = _timed(first_step)
    start_to_first = time.time() - t0
    xd, yd = _block(jax.device_put((x, y)))

    def run_epochs(n_epochs):
        nonlocal params, opt_state
        losses = []
        for _ in range(n_epochs):
            order = jax.device_put(rng.permutation(len(x))[:steps * batch].reshape(steps, batch))
            for i in range(steps):
                params, opt_state, loss = step(params, opt_state, xd, yd, order, np.int32(i))
                losses.append(loss)
        _block(params)
        return float(np.mean(np.asarray(jax.device_get(losses[-steps:]))))

    _, warmup = _timed(lambda: run_epochs(1))
    loss, steady, steady_cpu = _timed_cpu(lambda: run_epochs(epochs))
    return dict(define_s=0.0, first_step_s=first, start_to_first_s=start_to_first,
                warmup_s=warmup, steady_s=steady, steady_cpu_s=steady_cpu, loss=loss)


def run_jax_scan(workload, cfg, x, y, steps, epochs, t0):
    import jax
    import jax.numpy as jnp

    _warm_backend()
    init, tx, step = _plain_setup(workload, cfg)
    batch = cfg["batch"]

    def epoch(params, opt_state, key, xd, yd):
        n_steps = xd.shape[0] // batch
        order = jax.random.permutation(key, xd.shape[0])[:n_steps * batch]
        order = order.reshape(n_steps, batch)

        def body(carry, i):
            p, o = carry
            p, o, loss = step(p, o, xd, yd, order, i)
            return (p, o), loss

        (params, opt_state), losses = jax.lax.scan(body, (params, opt_state),
                                                   jnp.arange(n_steps))
        return params, opt_state, jnp.mean(losses)

    epoch = jax.jit(epoch, donate_argnums=(0, 1))
    key = jax.random.key(1)

    def first_step():
        params = jax.jit(init)(jax.random.key(0))  # one compiled program, not op by op
        opt_state = jax.jit(tx.init)(params)
        xd, yd = jax.device_put((x[:batch], y[:batch]))
        return _block(epoch(params, opt_state, key, xd, yd))

    (params, opt_state, _), first = _timed(first_step)
    start_to_first = time.time() - t0
    xd, yd = _block(jax.device_put((x, y)))

    def run_epochs(n_epochs):
        nonlocal params, opt_state, key
        loss = None
        for _ in range(n_epochs):
            key, sub = jax.random.split(key)
            params, opt_state, loss = epoch(params, opt_state, sub, xd, yd)
        _block(params)
        return float(loss)

    _, warmup = _timed(lambda: run_epochs(1))
    loss, steady, steady_cpu = _timed_cpu(lambda: run_epochs(epochs))
    return dict(define_s=0.0, first_step_s=first, start_to_first_s=start_to_first,
                warmup_s=warmup, steady_s=steady, steady_cpu_s=steady_cpu, loss=loss)


RUNNERS = {"kerasx": run_kerasx, "jax": run_jax, "jax_scan": run_jax_scan, "keras": run_keras}


def keras_unavailable():
    """None when Keras imports on the JAX backend, else why it does not."""
    os.environ["KERAS_BACKEND"] = "jax"
    try:
        import keras  # noqa: F401
    except Exception as e:  # ImportError, or a Keras that cannot start on this JAX
        return f"keras not importable: {type(e).__name__}: {e}"
    return None


def worker(name, workload, cfg, steps, epochs, t0):
    """Runs one contender on one workload; prints one JSON line on stdout."""
    result = {"contender": name, "workload": workload, "steps": steps, "epochs": epochs, **cfg}
    if name == "keras":
        why = keras_unavailable()
        if why:
            result["skipped"] = why
            print(json.dumps(result), flush=True)
            return
    x, y = make_data(cfg, steps * cfg["batch"])
    import warnings

    warnings.filterwarnings("ignore", message=".*[Dd]onat")  # backends that ignore donation
    out = RUNNERS[name](workload, cfg, x, y, steps, epochs, t0)
    import jax

    result.update(out)
    result.update({
        "steps_per_s": steps * epochs / out["steady_s"],
        "host_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        * (1 if sys.platform == "darwin" else 1024),
        "device_kind": jax.devices()[0].device_kind,
        "platform": jax.default_backend(),
        "jax_version": jax.__version__,
    })
    log(f"{workload}/{name}: {result['steps_per_s']:.2f} steps/s, first step "
        f"{out['first_step_s']:.2f} s"
        f" (from process start {out['start_to_first_s']:.2f} s)")
    print(json.dumps(result), flush=True)


# ====================================================================================== placement
def placement_worker(cfg, iters, repeats):
    """Times forward + backward of one LSTM / GRU layer with each input-projection placement."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    sys.path.insert(0, REPO_ROOT)
    import kerasx
    from kerasx.layers import _recurrent

    b, t, e, u = cfg["batch"], cfg["seq"], cfg["embed"], cfg["units"]
    x = jax.random.normal(jax.random.key(0), (b, t, e), jnp.float32)
    results = []

    def time_once(fn, args):
        start, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(iters):
            out = fn(*args)
        _block(out)
        return ((time.perf_counter() - start) / iters * 1e3,
                (time.process_time() - start_cpu) / iters * 1e3)

    # Hand-written: the same cell, the projection before or inside the scan.
    def plain(cell, before):
        gates = 4 if cell == "lstm" else 3

        def run(params, xs):
            xs = jnp.swapaxes(xs, 0, 1)
            zeros = jnp.zeros((b, u), xs.dtype)
            seq_in = xs @ params["kernel"] if before else xs

            def step(carry, inp):
                h, c = carry
                xz = inp if before else inp @ params["kernel"]
                if cell == "lstm":
                    z = xz + h @ params["recurrent"] + params["bias"]
                    i, f, g, o = jnp.split(z, 4, axis=-1)
                    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
                    h = jax.nn.sigmoid(o) * jnp.tanh(c)
                else:  # reset_after=True
                    xz = xz + params["bias"][0]
                    hh = h @ params["recurrent"] + params["bias"][1]
                    xzz, xr, xh = jnp.split(xz, 3, axis=-1)
                    hz, hr, hhh = jnp.split(hh, 3, axis=-1)
                    zg, r = jax.nn.sigmoid(xzz + hz), jax.nn.sigmoid(xr + hr)
                    h = zg * h + (1 - zg) * jnp.tanh(xh + r * hhh)
                return (h, c), None

            (h, _), _ = jax.lax.scan(step, (zeros, zeros), seq_in)
            return jnp.sum(h)

        keys = jax.random.split(jax.random.key(1), 2)
        params = {"kernel": 0.1 * jax.random.normal(keys[0], (e, gates * u)),
                  "recurrent": 0.1 * jax.random.normal(keys[1], (u, gates * u)),
                  "bias": jnp.zeros((gates * u,) if cell == "lstm" else (2, gates * u))}
        return jax.value_and_grad(run, argnums=(0, 1)), params

    def kerasx_layer(cell):
        layer = (kerasx.layers.LSTM if cell == "lstm" else kerasx.layers.GRU)(u)
        params, state = layer.init(jax.random.key(2), jax.ShapeDtypeStruct(x.shape, x.dtype))

        def run(params, xs):
            out, _ = layer.apply(params, state, xs)
            return jnp.sum(out)

        return jax.value_and_grad(run, argnums=(0, 1)), params

    original = _recurrent.input_projection_placement
    cases = []  # (impl, cell, placement, jitted fn, args), all compiled before any timing
    try:
        for cell in ("lstm", "gru"):
            for placement in ("before_scan", "in_scan"):
                fn, params = plain(cell, placement == "before_scan")
                cases.append(("jax", cell, placement, jax.jit(fn), (params, x)))
                _recurrent.input_projection_placement = lambda platform, p=placement: p
                fn, params = kerasx_layer(cell)
                fn = jax.jit(fn)
                _block(fn(params, x))  # traces (and compiles) with this placement
                cases.append(("kerasx", cell, placement, fn, (params, x)))
                _recurrent.input_projection_placement = original
    finally:
        _recurrent.input_projection_placement = original
    for *_, fn, args in cases:
        _block(fn(*args))
        _block(fn(*args))
    timings = {i: ([], []) for i in range(len(cases))}
    for rep in range(repeats):  # interleaved: every case once per round
        for i, (impl, cell, placement, fn, args) in enumerate(cases):
            wall, cpu = time_once(fn, args)
            timings[i][0].append(wall)
            timings[i][1].append(cpu)
        log(f"round {rep + 1}/{repeats} done")
    for i, (impl, cell, placement, _, _) in enumerate(cases):
        results.append({"impl": impl, "cell": cell, "placement": placement,
                        "ms": timings[i][0], "cpu_ms": timings[i][1]})
    print(json.dumps({"results": results, "default": original(jax.default_backend()),
                      "device_kind": jax.devices()[0].device_kind,
                      "platform": jax.default_backend(), "jax_version": jax.__version__}),
          flush=True)


def placement_report(out, cfg, iters, repeats):
    print(f"LSTM / GRU forward + backward (value_and_grad of sum of the last output w.r.t. the "
          f"weights and inputs), batch {cfg['batch']}, seq {cfg['seq']}, features {cfg['embed']}, "
          f"units {cfg['units']}; ms per call, median of {repeats} x {iters} calls [range]")
    print("wall: elapsed time; cpu: the process's CPU time (all threads), less sensitive to "
          "other processes on a shared machine")
    rows = [("cell", "impl", "clock", "before_scan", "in_scan", "in_scan / before_scan")]
    for cell in ("lstm", "gru"):
        for impl in ("jax", "kerasx"):
            for clock, field in (("wall", "ms"), ("cpu", "cpu_ms")):
                by = {(r["impl"], r["cell"], r["placement"]): r[field] for r in out["results"]}
                a, b = by[(impl, cell, "before_scan")], by[(impl, cell, "in_scan")]
                ma, mb = statistics.median(a), statistics.median(b)
                rows.append((cell, impl, clock, f"{ma:.1f} [{min(a):.1f}-{max(a):.1f}]",
                             f"{mb:.1f} [{min(b):.1f}-{max(b):.1f}]", f"{mb / ma:.2f}x"))
    _print_table(rows)
    print(f"kerasx's choice on this backend ({out['platform']}): {out['default']}")
    print(f"machine: {out['device_kind']} ({out['platform']}), os.cpu_count()={os.cpu_count()}, "
          f"jax {out['jax_version']}; {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}")


# ====================================================================================== parent
def _cfg_args(cfg):
    return ["--cfg", json.dumps(cfg)]


def run_worker(name, workload, cfg, steps, epochs, timeout):
    t0 = time.time()
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", name, "--workload", workload,
           "--steps", str(steps), "--epochs", str(epochs), "--t0", repr(t0), *_cfg_args(cfg)]
    env = dict(os.environ, KERAS_BACKEND="jax")
    base = {"contender": name, "workload": workload}
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env, timeout=timeout,
                              cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        return dict(base, error=f"timed out after {timeout} s")
    lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        return dict(base, error=f"worker exited with status {proc.returncode} (see stderr above)")
    return json.loads(lines[-1])


def _print_table(rows):
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for i, row in enumerate(rows):
        print("  ".join(c.ljust(w) if j < 2 else c.rjust(w)
                        for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  ".join("-" * w for w in widths))


def _med(values, fmt):
    m = statistics.median(values)
    if len(values) == 1:
        return fmt.format(m)
    return f"{fmt.format(m)} [{fmt.format(min(values))}-{fmt.format(max(values))}]"


def report(results, args, configs):
    groups = {}
    notes = []
    for r in results:
        if "steps_per_s" in r:
            groups.setdefault((r["workload"], r["contender"]), []).append(r)
        else:
            why = r.get("skipped") or r.get("error")
            notes.append(f"{r['workload']}/{r['contender']}: "
                         f"{'skipped' if 'skipped' in r else 'failed'} ({why})")
    rows = [("workload", "contender", "steps/s", "cpu s/step", "start->1st (s)",
             "fit->1st (s)", "warm-up (s)", "host RSS", "loss")]
    for (workload, name), rs in groups.items():
        rows.append((workload, name, _med([r["steps_per_s"] for r in rs], "{:.2f}"),
                     _med([r["steady_cpu_s"] / (r["steps"] * r["epochs"]) for r in rs], "{:.3f}"),
                     _med([r["start_to_first_s"] for r in rs], "{:.2f}"),
                     _med([r["define_s"] + r["first_step_s"] for r in rs], "{:.2f}"),
                     _med([r["warmup_s"] for r in rs], "{:.2f}"),
                     f"{max(r['host_rss_bytes'] for r in rs) / 2**20:.0f} MiB",
                     f"{rs[-1]['loss']:.4f}"))
    _print_table(rows)
    for note in dict.fromkeys(notes):
        print(f"note: {note}")
    print("\nratios kerasx / other, of the medians: steps/s and per-step CPU time (other's / "
          "kerasx's) (above 1 = kerasx faster); start->1st and fit->1st (below 1 = kerasx "
          "trains sooner)")
    for workload in dict.fromkeys(w for w, _ in groups):
        kx = groups.get((workload, "kerasx"))
        for other in RATIO_AGAINST:
            o = groups.get((workload, other))
            label = f"  {workload:11s} kerasx / {other:8s}"
            if not kx or not o:
                print(f"{label}  n/a")
                continue

            def ratio(f):
                return (statistics.median([f(r) for r in kx])
                        / statistics.median([f(r) for r in o]))

            print(f"{label}  steps/s {ratio(lambda r: r['steps_per_s']):.2f}x"
                  f"   per-step CPU time (other / kerasx) "
                  f"{1 / ratio(lambda r: r['steady_cpu_s'] / (r['steps'] * r['epochs'])):.2f}x"
                  f"   start->1st {ratio(lambda r: r['start_to_first_s']):.2f}x"
                  f"   fit->1st {ratio(lambda r: r['define_s'] + r['first_step_s']):.2f}x")
    done = [r for r in results if "device_kind" in r]
    kind = f"{done[0]['device_kind']} ({done[0]['platform']})" if done else "unknown"
    print(f"\nmachine: {kind}, os.cpu_count()={os.cpu_count()}, {platform.machine()}, Python "
          f"{platform.python_version()}, jax {done[0]['jax_version'] if done else '?'}; "
          f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}")
    for workload, cfg in configs.items():
        print(f"settings: {workload} {cfg}; {args.steps} steps/epoch, 1-step fit + warm-up "
              f"epoch + {args.epochs} timed epoch(s); {args.repeats} run(s) per contender, "
              "interleaved; fit->1st includes defining + compiling the model")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workload", choices=["lstm", "transformer", "all"], default="all")
    parser.add_argument("--contenders", default=",".join(CONTENDERS),
                        help=f"comma-separated subset of {','.join(CONTENDERS)}")
    parser.add_argument("--steps", type=int, default=20, help="train steps per epoch (default 20)")
    parser.add_argument("--epochs", type=int, default=2,
                        help="timed epochs after the warm-up epoch (default 2)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs of each contender, interleaved (default 2)")
    parser.add_argument("--small", action="store_true",
                        help="small model sizes for a quick smoke run (default: the issue's sizes)")
    for key in ("vocab", "seq", "batch", "embed", "units", "d_model", "heads", "ff", "blocks"):
        parser.add_argument(f"--{key.replace('_', '-')}", type=int, default=None,
                            help=f"override the workload's {key}")
    parser.add_argument("--placement", action="store_true",
                        help="time the LSTM/GRU input projection before vs inside the scan")
    parser.add_argument("--iters", type=int, default=5, help="--placement: calls per sample")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per worker")
    parser.add_argument("--json", default=None, help="also write the raw results to this file")
    parser.add_argument("--policy", default=None,
                        help="a dtype policy for the kerasx and Keras contenders (e.g. "
                             "mixed_bfloat16; pass --contenders kerasx,keras with it)")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--t0", type=float, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--cfg", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    for name in ("steps", "epochs", "repeats", "iters"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")

    if args.worker:
        cfg = json.loads(args.cfg)
        if args.worker == "placement":
            placement_worker(cfg, args.iters, args.repeats)
        else:
            worker(args.worker, args.workload, cfg, args.steps, args.epochs, args.t0)
        return

    def config(workload):
        cfg = dict((SMALL if args.small else FULL)[workload])
        for key in cfg:
            if getattr(args, key) is not None:
                cfg[key] = getattr(args, key)
        if workload == "transformer" and cfg["d_model"] % cfg["heads"]:
            parser.error("--d-model must be a multiple of --heads")
        if args.policy:
            cfg["policy"] = args.policy
        return cfg

    if args.placement:
        cfg = config("lstm")
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", "placement",
               "--iters", str(args.iters), "--repeats", str(args.repeats), *_cfg_args(cfg)]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT,
                              timeout=args.timeout)
        lines = [l for l in proc.stdout.splitlines() if l.startswith("{")]
        if proc.returncode != 0 or not lines:
            sys.exit(f"placement worker exited with status {proc.returncode}")
        out = json.loads(lines[-1])
        placement_report(out, cfg, args.iters, args.repeats)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f, indent=2)
        return

    contenders = [c.strip() for c in args.contenders.split(",") if c.strip()]
    unknown = sorted(set(contenders) - set(CONTENDERS))
    if unknown:
        parser.error(f"unknown contenders {unknown}; choose from {list(CONTENDERS)}")
    workloads = ["lstm", "transformer"] if args.workload == "all" else [args.workload]
    configs = {w: config(w) for w in workloads}
    results = []
    start = time.perf_counter()
    for workload in workloads:
        for rep in range(args.repeats):
            for name in contenders:
                log(f"--- {workload}/{name} run {rep + 1}/{args.repeats} (subprocess)")
                results.append(run_worker(name, workload, configs[workload], args.steps,
                                          args.epochs, args.timeout))
    log(f"all done in {time.perf_counter() - start:.0f} s")
    print()
    report(results, args, configs)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
