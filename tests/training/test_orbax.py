"""Orbax checkpoints: the `OrbaxCheckpoint` callback against Keras 3's (the steps it keeps and
what they hold), checkpoints read both ways between kerasx and Keras, and sharded save/restore
without gathering, in subprocesses with 8 forced host devices and with two JAX processes.
"""

import os
import socket
import subprocess
import sys
import textwrap
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

ocp = pytest.importorskip("orbax.checkpoint", reason="orbax-checkpoint is not installed").v1

from keras_oracle import require_keras  # noqa: E402

import kerasx  # noqa: E402
from kerasx import layers  # noqa: E402
from kerasx.callbacks import OrbaxCheckpoint  # noqa: E402
from kerasx.saving import _orbax  # noqa: E402

pytestmark = pytest.mark.filterwarnings(
    "ignore:Sharding info not provided when restoring:UserWarning",
    "ignore::DeprecationWarning")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RNG = np.random.default_rng(5)
X = RNG.normal(size=(24, 3)).astype("float32")
Y = RNG.normal(size=(24, 1)).astype("float32")


def kerasx_model(compile=True):
    model = kerasx.Sequential([layers.Input((3,)), layers.Dense(4, activation="relu", name="d1"),
                               layers.BatchNormalization(name="bn"), layers.Dense(1, name="d2")],
                              name="seq")
    if compile:
        model.compile(optimizer=kerasx.optimizers.Adam(0.01), loss="mse", metrics=["mae"])
    return model


def keras_twin(model, optimizer_name=None):
    keras = require_keras()
    twin = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu", name="d1"),
                             keras.layers.BatchNormalization(name="bn"),
                             keras.layers.Dense(1, name="d2")], name="seq")
    twin.compile(optimizer=keras.optimizers.Adam(0.01, name=optimizer_name), loss="mse",
                 metrics=["mae"])
    twin.set_weights(model.get_weights())
    return twin


def steps(directory):
    return sorted(int(n) for n in os.listdir(directory) if n.isdigit())


def saved_tree(step_dir):
    return ocp.load_checkpointables(step_dir, {"pytree": None})["pytree"]


def flat(tree):
    return {jax.tree_util.keystr(p): np.asarray(v)
            for p, v in jax.tree_util.tree_leaves_with_path(tree)}


def assert_trees_close(ours, theirs, keys=("trainable_variables", "non_trainable_variables",
                                           "optimizer_variables")):
    for key in keys:
        a, b = ours[key], theirs[key]
        if key == "optimizer_variables":  # Keras numbers its optimizers: adam, adam_1, ...
            (a,), (b,) = a.values(), b.values()
        a, b = flat(a), flat(b)
        assert sorted(a) == sorted(b), key
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-6, err_msg=f"{key}{k}")


def fit_both(tmp_path, epochs=3, **kwargs):
    """kerasx and Keras train the same model with the same callback; returns both models and
    their checkpoint directories."""
    keras = require_keras()
    model = kerasx_model()
    twin = keras_twin(model)
    ours, theirs = str(tmp_path / "kerasx"), str(tmp_path / "keras")
    fit_args = dict(batch_size=6, epochs=epochs, shuffle=False, verbose=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, Y, callbacks=[OrbaxCheckpoint(ours, **kwargs)], **fit_args)
        twin.fit(X, Y, callbacks=[keras.callbacks.OrbaxCheckpoint(theirs, **kwargs)], **fit_args)
    return model, twin, ours, theirs


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One fit of kerasx and of Keras, 3 epochs, a checkpoint per epoch, the last 2 kept."""
    return fit_both(tmp_path_factory.mktemp("orbax_epochs"), max_to_keep=2)


# ---------------------------------------------------------------------------- oracle: Keras
def test_epoch_checkpoints_match_keras(trained):
    model, twin, ours, theirs = trained
    assert steps(ours) == steps(theirs) == [1, 2]
    for step in (1, 2):
        a, b = saved_tree(os.path.join(ours, str(step))), saved_tree(os.path.join(theirs,
                                                                                  str(step)))
        assert_trees_close(a, b)
        np.testing.assert_allclose(a["metrics_variables"]["loss"]["total"],
                                   b["metrics_variables"]["loss"]["total"], rtol=1e-5)
        np.testing.assert_allclose(a["metrics_variables"]["loss"]["count"],
                                   b["metrics_variables"]["loss"]["count"])
    assert int(saved_tree(os.path.join(ours, "2"))["optimizer_variables"]["adam"]["iteration"]) \
        == 12
    # both hold the model's config
    for d in (ours, theirs):
        assert "model_config" in os.listdir(os.path.join(d, "2"))


@pytest.mark.parametrize("kwargs, kept", [
    pytest.param(dict(save_freq=3, max_to_keep=None, save_on_background=False), [3, 6],
                 marks=pytest.mark.slow),
    (dict(save_freq=2, max_to_keep=2), [6, 8]),
])
def test_batch_checkpoints_match_keras(tmp_path, kwargs, kept):
    # 4 batches an epoch, 2 epochs: steps count the batches trained
    model, twin, ours, theirs = fit_both(tmp_path, epochs=2, **kwargs)
    assert steps(ours) == steps(theirs) == kept
    last = str(steps(ours)[-1])
    assert_trees_close(saved_tree(os.path.join(ours, last)),
                       saved_tree(os.path.join(theirs, last)))


def test_save_best_only_matches_keras(tmp_path):
    keras = require_keras()
    # the loss goes down every epoch here, so feed a monitored value that does not
    scores = [0.5, 0.7, 0.3, 0.4, 0.2]

    def feeder(cls):
        class Feed(cls):
            def on_epoch_end(self, epoch, logs=None):
                logs["score"] = scores[epoch]
        return Feed()

    model = kerasx_model()
    twin = keras_twin(model)
    ours, theirs = str(tmp_path / "a"), str(tmp_path / "b")
    kw = dict(monitor="score", mode="min", save_best_only=True, max_to_keep=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, Y, epochs=5, batch_size=12, verbose=0,
                  callbacks=[feeder(kerasx.callbacks.Callback), OrbaxCheckpoint(ours, **kw)])
        twin.fit(X, Y, epochs=5, batch_size=12, verbose=0,
                 callbacks=[feeder(keras.callbacks.Callback),
                            keras.callbacks.OrbaxCheckpoint(theirs, **kw)])
    assert steps(ours) == steps(theirs) == [0, 2, 4]


def test_kerasx_reads_keras_checkpoints(trained):
    model, twin, ours, theirs = trained
    fresh = kerasx_model()
    _orbax.load_weights(fresh, theirs)
    for a, b in zip(fresh.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, np.asarray(b))
    assert fresh.optimizer.iterations == int(twin.optimizer.iterations) == 12
    # the restored optimizer state goes on as Keras's does
    keras_opt = {v.path.split("/", 1)[1]: np.asarray(v.value) for v in twin.optimizer.variables}
    ours_tree = _orbax.model_state_tree(fresh)["optimizer_variables"]["adam"]
    for name, value in ours_tree.items():
        np.testing.assert_array_equal(np.asarray(value), keras_opt[name])
    # and rebuilds the whole model from Keras's config
    rebuilt = _orbax.load_model(theirs)
    assert isinstance(rebuilt, kerasx.Sequential) and rebuilt.optimizer.iterations == 12
    for a, b in zip(rebuilt.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, np.asarray(b))


def test_keras_reads_kerasx_checkpoints(trained):
    keras = require_keras()
    model, twin, ours, theirs = trained
    # Keras matches optimizer variables by path: its optimizer must be "adam" (Keras names
    # the second Adam of a process "adam_1")
    other = keras_twin(kerasx_model(), optimizer_name="adam")
    other.load_weights(ours)
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(np.asarray(a), b)
    assert int(other.optimizer.iterations) == 12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rebuilt = keras.saving.load_model(ours)
    for a, b in zip(rebuilt.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(np.asarray(a), b)
    assert int(rebuilt.optimizer.iterations) == 12


# ---------------------------------------------------------------------------- kerasx alone
def test_load_model_and_weights_round_trip(trained):
    keras = require_keras()
    model, twin, ours, theirs = trained
    rebuilt = _orbax.load_model(ours)
    assert isinstance(rebuilt, kerasx.Sequential) and rebuilt.optimizer is not None
    assert rebuilt.optimizer.iterations == model.optimizer.iterations == 12
    for a, b in zip(rebuilt.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # a step folder works as well as the directory; an uncompiled model takes the weights only
    plain = kerasx_model(compile=False)
    _orbax.load_weights(plain, os.path.join(ours, "1"))
    first = saved_tree(os.path.join(ours, "1"))["trainable_variables"]["seq"]["d1"]["kernel"]
    np.testing.assert_array_equal(plain.get_weights()[0], first)
    # the restored optimizer goes on as Keras's does from the same checkpoint
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        oracle = keras.saving.load_model(ours)
    rebuilt.fit(X, Y, epochs=1, batch_size=6, verbose=0, shuffle=False)
    oracle.fit(X, Y, epochs=1, batch_size=6, verbose=0, shuffle=False)
    for a, b in zip(rebuilt.get_weights(), oracle.get_weights()):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-6)


def test_background_weights_only_saves_hold_their_step(tmp_path):
    """A background save holds the values of the step it was taken at, although training goes
    on (and donates buffers) while it is written; `save_weights_only` writes the weights alone."""
    recorded = {}

    class Record(kerasx.callbacks.Callback):
        def _uses_batch_hooks(self, kind):
            return True

        def on_train_batch_end(self, batch, logs=None):
            recorded[len(recorded) + 1] = [np.array(w) for w in self.model.get_weights()]

    model = kerasx_model()
    directory = str(tmp_path / "bg")
    callback = OrbaxCheckpoint(directory, save_freq=2, max_to_keep=None, save_on_background=True,
                               save_weights_only=True)
    model.fit(X, Y, epochs=1, batch_size=4, verbose=0, callbacks=[Record(), callback])
    assert steps(directory) == [2, 4, 6]
    tree = saved_tree(os.path.join(directory, "2"))
    assert sorted(tree) == ["non_trainable_variables", "trainable_variables"]
    with pytest.raises(ValueError, match="no model configuration"):
        _orbax.load_model(directory)
    for step in (2, 4, 6):
        other = kerasx_model()
        _orbax.load_weights(other, os.path.join(directory, str(step)))
        for a, b in zip(other.get_weights(), recorded[step]):
            np.testing.assert_array_equal(a, b)
        assert other.optimizer.iterations == 0  # no optimizer state in the checkpoint


def test_callback_arguments_and_defaults():
    require_keras()
    from keras.src.callbacks.orbax_checkpoint import OrbaxCheckpoint as KerasOrbax
    import inspect

    ours = inspect.signature(OrbaxCheckpoint.__init__).parameters
    theirs = inspect.signature(KerasOrbax.__init__).parameters
    assert list(ours) == list(theirs)
    assert {k: v.default for k, v in ours.items()} == {k: v.default for k, v in theirs.items()}


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        OrbaxCheckpoint(str(tmp_path), save_freq="batch")
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        OrbaxCheckpoint(str(tmp_path), save_freq=0)
    with pytest.raises(ValueError, match="max_to_keep"):
        OrbaxCheckpoint(str(tmp_path), max_to_keep=0)
    with pytest.raises(ValueError, match="directory"):
        OrbaxCheckpoint("")


def test_load_errors(trained, tmp_path):
    model, _, directory, _ = trained
    with pytest.raises(ValueError, match="not an orbax checkpoint"):
        _orbax.load_weights(kerasx_model(), str(tmp_path))  # a folder of something else
    wider = kerasx.Sequential([layers.Input((3,)), layers.Dense(5, name="d1"),
                               layers.BatchNormalization(name="bn"), layers.Dense(1, name="d2")],
                              name="seq")
    before = [w.copy() for w in wider.get_weights()]
    with pytest.raises(ValueError, match=r"'seq/d1/kernel' has shape \(3, 4\).*\(3, 5\)"):
        _orbax.load_weights(wider, directory)
    for a, b in zip(wider.get_weights(), before):  # all or nothing
        np.testing.assert_array_equal(a, b)
    renamed = kerasx.Sequential([layers.Input((3,)), layers.Dense(4, name="x1"),
                                 layers.BatchNormalization(name="bn"),
                                 layers.Dense(1, name="d2")], name="seq")
    with pytest.raises(ValueError, match="no weight 'seq/x1/kernel'"):
        _orbax.load_weights(renamed, directory)


# ---------------------------------------------------------------------------- sharded pytrees
def test_restore_sharded_errors(tmp_path):
    path = str(tmp_path / "t")
    _orbax.save_sharded(path, {"k": np.ones((4, 2), np.float32), "n": 3})
    with pytest.raises(FileExistsError, match="overwrite=True"):
        _orbax.save_sharded(path, {"k": np.ones((4, 2), np.float32)})
    with pytest.raises(TypeError, match="the leaf at 'x' is a str"):
        _orbax.save_sharded(str(tmp_path / "u"), {"x": "text"})
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    with pytest.raises(ValueError, match=r"Saved but not in the target: \['n'\]"):
        _orbax.restore_sharded(path, {"k": device})
    with pytest.raises(ValueError, match=r"'k' was saved with shape \(4, 2\).*\(2, 4\)"):
        _orbax.restore_sharded(path, {"k": jax.ShapeDtypeStruct((2, 4), np.float32,
                                                                 sharding=device), "n": None})
    with pytest.raises(FileNotFoundError, match="No orbax checkpoint"):
        _orbax.restore_sharded(str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="is not an orbax checkpoint"):
        _orbax.restore_sharded(str(tmp_path))  # a folder of other things
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("x",))
    with pytest.raises(ValueError, match="sharding asked for the array at 'k'.*does not fit"):
        _orbax.restore_sharded(path, {"k": jax.sharding.NamedSharding(
            mesh, jax.sharding.PartitionSpec("x", None, None)), "n": None})
    out = _orbax.restore_sharded(path, {"k": device, "n": None})
    np.testing.assert_array_equal(out["k"], np.ones((4, 2)))
    assert out["k"].sharding == device and out["n"] == 3


def run_python(code, devices, args=()):
    """Starts `python -c code *args` with `devices` forced host devices."""
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
               JAX_PLATFORMS="cpu", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc, timeout=120):
    """The output of a subprocess that must succeed within `timeout` seconds."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError(f"subprocess timed out:\n{out[-4000:]}")
    assert proc.returncode == 0, out[-6000:]
    return out


def finish_all(procs, timeout=120):
    """`finish` for processes of one job: when one fails, the others (which would wait for it
    at a barrier) are stopped."""
    try:
        return [finish(p, timeout) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()


EIGHT_DEVICES = """
import os, warnings
warnings.simplefilter("ignore")
import jax, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P, SingleDeviceSharding
from kerasx.saving import _orbax
import kerasx

assert jax.device_count() == 8
path = {path!r}
devices = np.array(jax.devices())
mesh = Mesh(devices.reshape(2, 4), ("data", "model"))
kernel = np.arange(8 * 16, dtype=np.float32).reshape(8, 16)
bias = np.arange(16, dtype=np.float32)
tree = {{"dense": {{"kernel": jax.device_put(kernel, NamedSharding(mesh, P("data", "model"))),
                   "bias": jax.device_put(bias, NamedSharding(mesh, P("model")))}},
        "step": 7}}
_orbax.save_sharded(path, tree)
# one process wrote every shard once: 8 kernel pieces of (4, 4)
meta = _orbax.ocp().metadata(path).metadata
assert meta["dense"]["kernel"].storage_metadata.chunk_shape == (4, 4), meta

def check(arr, expected, sharding):
    assert arr.sharding == sharding, (arr.sharding, sharding)
    for shard in arr.addressable_shards:
        np.testing.assert_array_equal(np.asarray(shard.data), expected[shard.index])
    np.testing.assert_array_equal(np.asarray(arr), expected)

rows = Mesh(devices.reshape(8, 1), ("x", "y"))
by_rows = NamedSharding(rows, P("x", None))
replicated = NamedSharding(mesh, P())
one = SingleDeviceSharding(devices[3])
out = _orbax.restore_sharded(path, {{"dense": {{"kernel": by_rows, "bias": replicated}},
                                     "step": None}})
check(out["dense"]["kernel"], kernel, by_rows)
check(out["dense"]["bias"], bias, replicated)
assert out["step"] == 7
out = _orbax.restore_sharded(path, one)  # everything on one device
check(out["dense"]["kernel"], kernel, one)
check(out["dense"]["bias"], bias, one)
# ShapeDtypeStructs: the dtype converts
out = _orbax.restore_sharded(path, {{"dense": {{
    "kernel": jax.ShapeDtypeStruct((8, 16), jax.numpy.bfloat16, sharding=replicated),
    "bias": jax.ShapeDtypeStruct((16,), np.float32, sharding=NamedSharding(rows, P("x")))}},
    "step": None}})
assert out["dense"]["kernel"].dtype == jax.numpy.bfloat16
check(out["dense"]["bias"], bias, NamedSharding(rows, P("x")))
# as saved
out = _orbax.restore_sharded(path)
check(out["dense"]["kernel"], kernel, NamedSharding(mesh, P("data", "model")))

# a model's weights go straight into the shardings the model's arrays have
model = kerasx.Sequential([kerasx.layers.Input((8,)), kerasx.layers.Dense(16, name="d")],
                          name="m")
model.compile(optimizer="sgd", loss="mse")
ck = path + "_model"
model.fit(np.ones((8, 8), np.float32), np.ones((8, 16), np.float32), verbose=0,
          callbacks=[kerasx.callbacks.OrbaxCheckpoint(ck, save_on_background=False)])
target = kerasx.Sequential([kerasx.layers.Input((8,)), kerasx.layers.Dense(16, name="d")],
                           name="m")
split = NamedSharding(mesh, P("data", "model"))
target.params = {{"d": {{"kernel": jax.device_put(target.params["d"]["kernel"], split),
                        "bias": jax.device_put(target.params["d"]["bias"], replicated)}}}}
_orbax.load_weights(target, ck)
check(target.params["d"]["kernel"], np.asarray(model.params["d"]["kernel"]), split)
check(target.params["d"]["bias"], np.asarray(model.params["d"]["bias"]), replicated)
print("OK")
"""


def test_sharded_save_restore_on_8_devices(tmp_path):
    out = finish(run_python(EIGHT_DEVICES.format(path=str(tmp_path / "ck")), devices=8))
    assert "OK" in out


MULTI_PROCESS = """
import sys, warnings
warnings.simplefilter("ignore")
import jax
process_id, processes, port, path, mode = (int(sys.argv[1]), int(sys.argv[2]), sys.argv[3],
                                           sys.argv[4], sys.argv[5])
if processes > 1:
    jax.distributed.initialize(coordinator_address=f"localhost:{{port}}",
                               num_processes=processes, process_id=process_id)
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P, SingleDeviceSharding
from kerasx.saving import _orbax

assert jax.process_count() == processes and jax.local_device_count() == 4
devices = np.array(jax.devices())
kernel = np.arange(8 * 16, dtype=np.float32).reshape(8, 16)
bias = np.arange(16, dtype=np.float32) - 3

def check(arr, expected, sharding):
    assert arr.sharding == sharding, (arr.sharding, sharding)
    assert len(arr.addressable_shards) == len(sharding.addressable_devices)
    for shard in arr.addressable_shards:  # each process sees only its own pieces
        np.testing.assert_array_equal(np.asarray(shard.data), expected[shard.index])

if mode == "save":
    mesh = Mesh(devices.reshape(2, 4), ("data", "model"))
    split = NamedSharding(mesh, P("data", "model"))
    tree = {{"kernel": jax.make_array_from_callback(kernel.shape, split, lambda i: kernel[i]),
            "bias": jax.make_array_from_callback(bias.shape, NamedSharding(mesh, P()),
                                                 lambda i: bias[i])}}
    _orbax.save_sharded(path, tree)
    # restored in the same two processes, into other shardings
    rows = NamedSharding(Mesh(devices.reshape(8, 1), ("x", "y")), P("x", None))
    spread = NamedSharding(Mesh(devices.reshape(1, 8), ("x", "y")), P("y"))
    out = _orbax.restore_sharded(path, {{"kernel": rows, "bias": spread}})
    check(out["kernel"], kernel, rows)
    check(out["bias"], bias, spread)
    replicated = NamedSharding(rows.mesh, P())
    out = _orbax.restore_sharded(path, {{"kernel": replicated, "bias": replicated}})
    check(out["kernel"], kernel, replicated)
else:  # one process with 4 devices reads what two processes wrote
    rows = NamedSharding(Mesh(devices.reshape(4, 1), ("x", "y")), P("x", None))
    out = _orbax.restore_sharded(path, {{"kernel": rows, "bias": SingleDeviceSharding(devices[0])}})
    check(out["kernel"], kernel, rows)
    np.testing.assert_array_equal(np.asarray(out["kernel"]), kernel)
    np.testing.assert_array_equal(np.asarray(out["bias"]), bias)
print("OK", process_id)
"""


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_processes_save_together_and_restore_in_two_and_in_one(tmp_path):
    path = str(tmp_path / "ck")
    code = MULTI_PROCESS.format()
    port = str(free_port())
    procs = [run_python(code, 4, [str(i), "2", port, path, "save"]) for i in range(2)]
    outs = finish_all(procs)
    assert all(f"OK {i}" in out for i, out in enumerate(outs)), outs
    # each process wrote its own shards
    assert sorted(n for n in os.listdir(os.path.join(path, "state"))
                  if n.startswith("ocdbt.process_")) == ["ocdbt.process_0", "ocdbt.process_1"]
    out = finish(run_python(code, 4, ["0", "1", "0", path, "load"]))
    assert "OK 0" in out



# ---------------------------------------------------------------------------- the tree's layout
def twins_for_layout():
    """A functional model holding a nested Sequential and a frozen layer, in kerasx and Keras."""
    keras = require_keras()
    outs = []
    for lib, L in ((kerasx, layers), (keras, keras.layers)):
        inner = lib.Sequential([L.Dense(3, name="in_d"), L.BatchNormalization(name="in_bn")],
                               name="inner")
        i = L.Input((4,))
        h = L.Dense(5, name="f1")(i)
        frozen = L.Dense(5, name="frozen")
        frozen.trainable = False
        o = inner(frozen(h))
        model = lib.Model(i, o, name="func")
        opt = lib.optimizers.RMSprop(0.01, momentum=0.9, centered=True)
        model.compile(optimizer=opt, loss="mse", metrics=["mae"])
        outs.append(model)
    ours, theirs = outs
    theirs.set_weights(ours.get_weights())
    theirs.optimizer.build(theirs.trainable_variables)
    return ours, theirs


def test_state_tree_layout_matches_keras_get_state_tree():
    ours, theirs = twins_for_layout()
    a, b = _orbax.model_state_tree(ours), theirs.get_state_tree()
    for key in ("trainable_variables", "non_trainable_variables"):
        assert jax.tree.map(np.shape, a[key]) == jax.tree.map(np.shape, b[key]), key
        for k, v in flat(a[key]).items():
            np.testing.assert_array_equal(v, flat(b[key])[k])
    (opt_a,), (opt_b,) = a["optimizer_variables"].values(), b["optimizer_variables"].values()
    assert jax.tree.map(np.shape, opt_a) == jax.tree.map(np.shape, opt_b)
    assert "inner_in_d_kernel_average_gradient" in opt_a and "frozen_kernel_momentum" not in opt_a


def test_optax_optimizer_state_round_trip(tmp_path):
    """An optax transformation has no Keras variables: its state is kept as a flat list and
    restored by structure."""
    optax = pytest.importorskip("optax")

    def make():
        model = kerasx_model(compile=False)
        model.compile(optimizer=optax.adam(0.01), loss="mse")
        return model

    model = make()
    directory = str(tmp_path / "optax")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no Keras compile config for an optax optimizer
        model.fit(X, Y, epochs=1, batch_size=8, verbose=0,
                  callbacks=[OrbaxCheckpoint(directory, save_on_background=False)])
    fresh = make()
    _orbax.load_weights(fresh, directory)
    same = jax.tree.map(lambda p, q: np.array_equal(p, q), model._trainer.opt_state,
                        fresh._trainer.opt_state)
    assert all(jax.tree.leaves(same))
    with pytest.raises(ValueError, match="already holds a checkpoint for step 0"), \
            warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fresh.fit(X, Y, epochs=1, batch_size=8, verbose=0,  # numbered from epoch 0 again
                  callbacks=[OrbaxCheckpoint(directory, save_on_background=False)])
    other = kerasx_model()  # Adam: the weights load, the optimizer starts afresh (as Keras)
    with pytest.warns(UserWarning, match="optimizer variables lack.*starts afresh"):
        _orbax.load_weights(other, directory)
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert other.optimizer.iterations == 0


MULTI_PROCESS_FIT = """
import os, sys, warnings
warnings.simplefilter("ignore")
import jax
process_id, port, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
jax.distributed.initialize(coordinator_address=f"localhost:{{port}}", num_processes=2,
                           process_id=process_id)
import numpy as np
import kerasx
from kerasx.saving import _orbax

rng = np.random.default_rng(0)
x = rng.normal(size=(16, 3)).astype("float32")
y = rng.normal(size=(16, 2)).astype("float32")

def make():
    model = kerasx.Sequential([kerasx.Input((3,)), kerasx.layers.Dense(2, name="d")], name="s")
    model.compile(optimizer="adam", loss="mse")
    return model

kerasx.utils.set_random_seed(1)  # the same replica in both processes
model = make()
callback = kerasx.callbacks.OrbaxCheckpoint(path, max_to_keep=2)
assert callback.is_multihost_enabled() and callback.is_primary_host() == (process_id == 0)
model.fit(x, y, epochs=3, batch_size=4, verbose=0, shuffle=False, callbacks=[callback])
assert sorted(os.listdir(path)) == ["1", "2"], os.listdir(path)
restored = make()
_orbax.load_weights(restored, path)
for a, b in zip(restored.get_weights(), model.get_weights()):
    np.testing.assert_array_equal(a, b)
assert restored.optimizer.iterations == 12
if process_id == 0:
    np.savez(path + "_weights.npz", *model.get_weights())
print("OK", process_id)
"""


def test_callback_in_two_processes(tmp_path):
    """Two processes train replicas of one model with the callback: one checkpoint, restored
    in both processes and in this one."""
    path = str(tmp_path / "ck")
    port = str(free_port())
    procs = [run_python(MULTI_PROCESS_FIT.format(), 2, [str(i), port, path]) for i in range(2)]
    outs = finish_all(procs)
    assert all(f"OK {i}" in out for i, out in enumerate(outs)), outs
    model = kerasx.Sequential([layers.Input((3,)), layers.Dense(2, name="d")], name="s")
    model.compile(optimizer="adam", loss="mse")
    _orbax.load_weights(model, path)
    saved = np.load(path + "_weights.npz")
    for i, w in enumerate(model.get_weights()):
        np.testing.assert_array_equal(w, saved[f"arr_{i}"])
    assert model.optimizer.iterations == 12


def test_without_orbax_the_callback_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "orbax.checkpoint", None)  # as if not installed
    with pytest.raises(ImportError, match=r'pip install "kerasx\[orbax\]"'):
        OrbaxCheckpoint(str(tmp_path))
    with pytest.raises(ImportError, match="orbax-checkpoint"):
        _orbax.save_sharded(str(tmp_path / "x"), {"a": np.ones(2)})


def test_public_load_paths_read_an_orbax_checkpoint(tmp_path):
    """`model.load_weights(directory)` and `kerasx.saving.load_model(directory)` read what
    `OrbaxCheckpoint` wrote (its latest step)."""
    pytest.importorskip("orbax.checkpoint")
    import kerasx as keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile("adam", "mse")
    x, y = np.ones((8, 3), "float32"), np.zeros((8, 2), "float32")
    directory = str(tmp_path / "ckpt")
    model.fit(x, y, epochs=2, verbose=0,
              callbacks=[keras.callbacks.OrbaxCheckpoint(directory, save_on_background=False)])
    fresh = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    fresh.compile("adam", "mse")
    fresh.load_weights(directory)
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b)
    loaded = keras.saving.load_model(directory)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
