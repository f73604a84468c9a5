"""Model and weight files under faults and hostile input: flipped bits, files of other formats,
crafted metadata, a config asking for a huge layer, saves killed mid-write, symlinks,
permissions, and BackupAndRestore sharing its folder with the user's files.

Every case goes through the user's API (`model.save`, `kerasx.models.load_model`,
`save_weights`/`load_weights`, `fit` with the callbacks). Files are crafted by editing the
metadata of a real saved file and writing it back as safetensors; `_files.encode_raw` stores the
digests of what is written, as kerasx itself does, so a crafted file is consistent and only the
edited entry is wrong.
"""

import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest

import kerasx
from kerasx import layers
from kerasx.callbacks import BackupAndRestore
from kerasx.saving import _files as _saving

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RNG = np.random.default_rng(5)
X = RNG.normal(size=(32, 6)).astype("float32")
Y = RNG.integers(0, 3, 32)


def small_model(seed=0, compiled=True):
    kerasx.utils.set_random_seed(seed)
    model = kerasx.Sequential([layers.Input((6,)), layers.Dense(8, activation="relu"),
                               layers.BatchNormalization(), layers.Dense(3, activation="softmax")])
    if compiled:
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A trained model (with optimizer state) saved whole and as weights; each test copies the
    bytes it corrupts."""
    model = small_model()
    model.fit(X, Y, batch_size=16, epochs=1, verbose=0)
    folder = tmp_path_factory.mktemp("saved")
    model.save(str(folder / "m.kerasx"))
    model.save_weights(str(folder / "m.weights.safetensors"))
    return {"model": model, "model_bytes": (folder / "m.kerasx").read_bytes(),
            "weights_bytes": (folder / "m.weights.safetensors").read_bytes()}


def header_of(data: bytes):
    """`(header dict, start of the data section)` of safetensors bytes."""
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), 8 + n


def raw_contents(path):
    """The file's arrays and metadata as stored, read with safetensors alone (no checks)."""
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())


def rewrite(path, tensors=None, drop=(), **entries):
    """Writes `path` again with metadata `entries` changed (values as given, strings), the
    entries in `drop` removed and `tensors` added or replaced, with fresh digests."""
    stored, metadata = raw_contents(path)
    stored.update(tensors or {})
    metadata.pop("digests", None)
    metadata.update(entries)
    for entry in drop:
        metadata.pop(entry)
    path.write_bytes(_saving.encode_raw(stored, metadata))


def without_digests(path, version="1"):
    """Writes `path` again as an older kerasx did: no digests entry, format version 1."""
    from safetensors.numpy import save

    stored, metadata = raw_contents(path)
    metadata.pop("digests", None)
    metadata["version"] = version
    path.write_bytes(save(stored, metadata=metadata))


def named(path, *parts):
    """A regex that finds the file's path and then each of `parts` (literal) in a message."""
    return ".*".join(re.escape(str(p)) for p in (path,) + parts)


def assert_same_weights(a, b):
    for u, v in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(u, v)


def run_python(code, *args):
    """A Python process running `code` with `args`, its output piped (text)."""
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": ROOT}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


# ---------------------------------------------------------------------------- integrity
@pytest.mark.parametrize("kind", ["model", "weights"])
def test_a_flipped_bit_in_any_tensor_fails_the_load_naming_the_tensor(kind, trained, tmp_path):
    data = trained[f"{kind}_bytes"]
    header, start = header_of(data)
    path = tmp_path / ("m.kerasx" if kind == "model" else "m.weights.safetensors")
    load = ((lambda: kerasx.models.load_model(str(path))) if kind == "model" else
            (lambda: small_model(seed=1, compiled=False).load_weights(str(path))))
    tensors = {k: v["data_offsets"] for k, v in header.items() if k != "__metadata__"}
    has_optimizer_state = any(k.startswith("optimizer/") for k in tensors)
    assert len(tensors) >= 8 and has_optimizer_state == (kind == "model")
    for i, (key, (lo, hi)) in enumerate(sorted(tensors.items())):
        for offset in sorted({lo, (lo + hi) // 2, hi - 1}):
            corrupt = bytearray(data)
            corrupt[start + offset] ^= 1 << ((offset + i) % 8)
            path.write_bytes(bytes(corrupt))
            with pytest.raises(ValueError, match=named(path, f"tensor '{key}'", "digest")):
                load()
    path.write_bytes(data)  # the intact file loads
    load()


@pytest.mark.parametrize("kind", ["model", "weights"])
def test_a_flipped_bit_in_the_header_fails_the_load_naming_the_file(kind, trained, tmp_path):
    data = trained[f"{kind}_bytes"]
    _, start = header_of(data)
    path = tmp_path / ("m.kerasx" if kind == "model" else "m.weights.safetensors")
    model = small_model(seed=1, compiled=False)
    before = model.get_weights()
    load = ((lambda: kerasx.models.load_model(str(path))) if kind == "model" else
            (lambda: model.load_weights(str(path))))
    # every byte of the length and of the JSON header, one bit each (a stride for the bigger
    # model header, which holds the architecture and compile arguments too)
    for offset in range(0, start, 1 if kind == "weights" else 3):
        corrupt = bytearray(data)
        corrupt[offset] ^= 1 << (offset % 8)
        path.write_bytes(bytes(corrupt))
        with pytest.raises(ValueError, match=re.escape(str(path))):
            load()
    for u, v in zip(before, model.get_weights()):  # nothing was loaded half-way
        np.testing.assert_array_equal(u, v)


def test_files_written_before_the_digests_load_with_a_warning(trained, tmp_path):
    model_path, weights_path = tmp_path / "old.kerasx", tmp_path / "old.weights.safetensors"
    model_path.write_bytes(trained["model_bytes"])
    weights_path.write_bytes(trained["weights_bytes"])
    without_digests(model_path)
    without_digests(weights_path)
    with pytest.warns(UserWarning, match=named(model_path, "cannot be verified")):
        loaded = kerasx.models.load_model(str(model_path))
    assert_same_weights(loaded, trained["model"])
    other = small_model(seed=1, compiled=False)
    with pytest.warns(UserWarning, match=named(weights_path, "cannot be verified")):
        other.load_weights(str(weights_path))
    assert_same_weights(other, trained["model"])
    # a current-version file that lost its digests is not taken for an old one
    without_digests(weights_path, version=_saving.FORMAT_VERSION)
    with pytest.raises(ValueError, match=named(weights_path, "lacks the metadata entry 'digests'")):
        other.load_weights(str(weights_path))


# ---------------------------------------------------------------------------- architecture vs file
HUGE_LOAD = r"""
import resource, sys
import jax, jax.numpy as jnp
import kerasx

def peak_kb():
    return int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])

jax.config.update('jax_cpu_enable_async_dispatch', False)  # an allocation happens in the call
jax.jit(lambda x: x + 1)(jnp.ones(3)).block_until_ready()       # warm up jax
size = int(next(l for l in open('/proc/self/status') if l.startswith('VmSize')).split()[1])
soft, hard = resource.getrlimit(resource.RLIMIT_AS)              # a safety net: the old code
resource.setrlimit(resource.RLIMIT_AS, (size * 1024 + (3 << 30), hard))  # allocated 94 GB
try:
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')                                              # resets VmHWM
except OSError:
    pass
before = peak_kb()
try:
    kerasx.models.load_model(sys.argv[1])
except ValueError as e:
    print('ERROR', e)
print('GROWTH_KB', peak_kb() - before)
"""


def test_a_config_asking_for_a_huge_layer_fails_before_allocating_it(tmp_path):
    path = tmp_path / "huge.kerasx"
    model = kerasx.Sequential([layers.Input((784,)), layers.Dense(10, name="dense")])
    model.save(str(path))
    _, metadata = raw_contents(path)
    rewrite(path, model_config=metadata["model_config"].replace('"units": 10', '"units": 30000000'))
    proc = run_python(HUGE_LOAD, str(path))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    error = re.search(r"ERROR (.*)", out)
    assert error and error.group(1) == (
        f"Weight 'params/dense/bias' in '{path}' has shape (10,), but layer 'dense' of this "
        "model expects (30000000,)."), out
    growth_kb = int(re.search(r"GROWTH_KB (-?\d+)", out).group(1))
    assert growth_kb < 1 << 20, f"peak memory grew by {growth_kb / 1024:.0f} MB"


def test_loading_builds_the_model_from_the_file_without_initialising_it(trained, tmp_path,
                                                                         monkeypatch):
    from kerasx.layers._base import Layer

    path = tmp_path / "m.kerasx"
    path.write_bytes(trained["model_bytes"])
    calls = []
    real = Layer._build_for
    monkeypatch.setattr(Layer, "_build_for", lambda self, spec: (calls.append(self.name),
                                                                 real(self, spec))[1])
    loaded = kerasx.models.load_model(str(path))
    assert calls == []  # no weight was drawn at random
    np.testing.assert_array_equal(loaded.predict(X, verbose=0),
                                  trained["model"].predict(X, verbose=0))
    assert loaded.optimizer.iterations == trained["model"].optimizer.iterations
    weights = tmp_path / "m.weights.safetensors"
    weights.write_bytes(trained["weights_bytes"])
    unbuilt = small_model(compiled=False)  # knows its input shape, holds no weights yet
    assert not unbuilt.built
    unbuilt.load_weights(str(weights))
    assert calls == [] and unbuilt.built
    assert_same_weights(unbuilt, trained["model"])


def test_tensors_the_architecture_lacks_are_an_error(trained, tmp_path):
    path = tmp_path / "m.kerasx"
    path.write_bytes(trained["model_bytes"])
    rewrite(path, tensors={"params/ghost/kernel": np.zeros((2, 2), np.float32)})
    with pytest.raises(ValueError, match=named(path, "does not have", "params/ghost/kernel")):
        kerasx.models.load_model(str(path))
    path.write_bytes(trained["model_bytes"])
    rewrite(path, tensors={"optimizer/[9].mu['ghost']": np.zeros((2,), np.float32)})
    with pytest.raises(ValueError, match=named(path, "optimizer state", "ghost")):
        kerasx.models.load_model(str(path))
    kerasx.models.load_model(str(path), compile=False)  # not compiled: optimizer state unused


# ---------------------------------------------------------------------------- other formats
def _make_foreign(kind, path):
    if kind == "keras_zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("metadata.json", "{}")
            z.writestr("config.json", "{}")
            z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    elif kind == "zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("data.pkl", b"\x80\x04.")
    elif kind == "hdf5":
        path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(600))
    elif kind == "json":
        path.write_text(small_model(compiled=False).to_json(indent=2))
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "savedmodel":
        path.mkdir()
        (path / "saved_model.pb").write_bytes(b"\x08\x01")
        (path / "variables").mkdir()
    elif kind == "directory":
        path.mkdir()


FOREIGN = {
    "keras_zip": "looks like a Keras `.keras` zip archive",
    "zip": "is a zip archive (holding data.pkl)",
    "hdf5": "is an HDF5 file",
    "json": "is a JSON text file",
    "empty": "is empty (0 bytes)",
    "savedmodel": "looks like a TensorFlow SavedModel folder",
    "directory": "is a directory",
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_files_of_other_formats_say_what_they_are(kind, tmp_path):
    path = tmp_path / f"thing-{kind}"
    _make_foreign(kind, path)
    with pytest.raises(ValueError, match=re.escape(f"'{path}' {FOREIGN[kind]}")):
        kerasx.models.load_model(str(path))
    with pytest.raises(ValueError, match=re.escape(f"'{path}' {FOREIGN[kind]}")):
        small_model(compiled=False).load_weights(str(path))


def test_real_keras_files_under_other_names_are_recognised(tmp_path):
    """Keras's own files load from their own endings (tests/test_keras_format.py); under a
    kerasx ending the error says what the file is and how to load it."""
    keras = pytest.importorskip("keras", reason="the Keras files are written by Keras 3")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    model.save(str(tmp_path / "k.keras"))
    model.save_weights(str(tmp_path / "k.weights.h5"))
    os.replace(tmp_path / "k.keras", tmp_path / "k.kerasx")
    os.replace(tmp_path / "k.weights.h5", tmp_path / "k.weights.safetensors")
    with pytest.raises(ValueError, match=re.escape(f"'{tmp_path / 'k.kerasx'}' looks like a Keras "
                                                   "`.keras` zip archive (it holds config.json, "
                                                   "model.weights.h5), which kerasx reads from a "
                                                   "path ending in `.keras`")):
        kerasx.models.load_model(str(tmp_path / "k.kerasx"))
    with pytest.raises(ValueError, match=re.escape(f"'{tmp_path / 'k.weights.safetensors'}' is an "
                                                   "HDF5")):
        kerasx.Sequential([layers.Input((4,)), layers.Dense(2)]).load_weights(
            str(tmp_path / "k.weights.safetensors"))


# ---------------------------------------------------------------------------- metadata entries
BAD_COMPILE = {
    "unknown optimizer": ('{"optimizer": {"__kerasx_training__": "optimizer", "class_name": '
                          '"Adamax9", "config": {}}}', "unknown optimizer class 'Adamax9'"),
    "unknown loss": ('{"optimizer": "adam", "loss": {"__kerasx_training__": "loss", '
                     '"class_name": "NoSuchLoss", "config": {}}}',
                     "unknown loss class 'NoSuchLoss'"),
    "unknown metric": ('{"optimizer": "adam", "loss": "mse", "metrics": [{"__kerasx_training__": '
                       '"metric", "class_name": "__class__", "config": {}}]}',
                       "unknown metric class '__class__'"),
    "unknown kind": ('{"optimizer": {"__kerasx_training__": "scheduler", "class_name": "Adam", '
                     '"config": {}}}', "unknown kind of training object 'scheduler'"),
    "bad config": ('{"optimizer": "adam", "loss": {"__kerasx_training__": "loss", "class_name": '
                   '"MeanSquaredError", "config": {"colour": 1}}}', "colour"),
    "unknown optimizer name": ('{"optimizer": "adamz", "loss": "mse"}', "adamz"),
    "malformed": ('{"optimizer": "adam",', "not valid JSON"),
    "not an object": ('["adam"]', "should be a JSON object"),
    "deeply nested": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(BAD_COMPILE))
def test_a_bad_compile_config_entry_is_named(case, trained, tmp_path):
    path = tmp_path / "m.kerasx"
    path.write_bytes(trained["model_bytes"])
    value, expected = BAD_COMPILE[case]
    rewrite(path, compile_config=value)
    with pytest.raises(ValueError, match=named(path, "compile_config", expected)):
        kerasx.models.load_model(str(path))
    kerasx.models.load_model(str(path), compile=False)  # the rest of the file is fine


BAD_BIT_VIEWS = {
    "unknown dtype": ('{"params/dense/kernel": "bfloat17"}', "dtype 'bfloat17'"),
    "attribute name": ('{"params/dense/kernel": "__class__"}', "dtype '__class__'"),
    "missing tensor": ('{"params/nothing/kernel": "bfloat16"}', "tensor 'params/nothing/kernel'"),
    "wrong stored dtype": ('{"params/dense/kernel": "bfloat16"}', "stores it as float32"),
    "malformed": ('{"params/dense/kernel": ', "not valid JSON"),
    "not an object": ('["bfloat16"]', "should map tensor names"),
    "deeply nested": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(BAD_BIT_VIEWS))
def test_a_bad_bit_views_entry_is_named(case, trained, tmp_path):
    path = tmp_path / "m.weights.safetensors"
    path.write_bytes(trained["weights_bytes"])
    value, expected = BAD_BIT_VIEWS[case]
    rewrite(path, bit_views=value)
    with pytest.raises(ValueError, match=named(path, "bit_views", expected)):
        small_model(compiled=False).load_weights(str(path))


@pytest.mark.parametrize("value, expected", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ("[" * 900 + "]" * 900, "model_config"),
    ('{"class_name": "Sequential"', "not valid JSON"),
    ('"Sequential"', "should be a serialized model"),
    ('{"class_name": "Dense", "config": {"units": 2}}', "describes a Dense, not a model"),
], ids=["100k-nested", "900-nested", "malformed", "string", "a-layer"])
def test_a_bad_model_config_entry_is_named(value, expected, trained, tmp_path):
    path = tmp_path / "m.kerasx"
    path.write_bytes(trained["model_bytes"])
    rewrite(path, model_config=value)
    with pytest.raises(ValueError, match=named(path, expected)):
        kerasx.models.load_model(str(path))


# ---------------------------------------------------------------------------- writing files
def test_saved_files_get_the_usual_permissions(tmp_path):
    model = small_model(compiled=False)
    old = os.umask(0o027)
    try:
        model.save(str(tmp_path / "a.kerasx"))
        model.save_weights(str(tmp_path / "a.weights.safetensors"))
        os.umask(0o002)
        model.save(str(tmp_path / "b.kerasx"))
    finally:
        os.umask(old)
    mode = lambda name: os.stat(tmp_path / name).st_mode & 0o777
    assert (mode("a.kerasx"), mode("a.weights.safetensors"), mode("b.kerasx")) == \
        (0o640, 0o640, 0o664)
    os.chmod(tmp_path / "b.kerasx", 0o600)  # a file overwritten keeps its permissions
    model.save(str(tmp_path / "b.kerasx"))
    assert mode("b.kerasx") == 0o600


def test_saving_to_a_symlink_writes_its_target_and_keeps_the_link(tmp_path):
    target = tmp_path / "store" / "real.kerasx"
    target.parent.mkdir()
    small_model(seed=1, compiled=False).save(str(target))
    link = tmp_path / "latest.kerasx"
    link.symlink_to(target)
    newer = small_model(seed=2, compiled=False)
    newer.save(str(link))
    newer.save_weights(str(link.with_name("w.weights.safetensors")))
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert_same_weights(kerasx.models.load_model(str(target)), newer)
    assert sorted(os.listdir(tmp_path / "store")) == ["real.kerasx"]  # no temporary left


HALF_WRITE = r"""
import os, sys, time
import numpy as np
import kerasx
from kerasx import layers

real_fdopen = os.fdopen

class HalfThenHang:
    '''Writes half of the data, says so, then hangs: killed there, as by a power cut.'''
    def __init__(self, f):
        self.f = f
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return self.f.__exit__(*exc)
    def fileno(self):
        return self.f.fileno()
    def write(self, data):
        self.f.write(data[: len(data) // 2])
        self.f.flush()
        print('HALF', flush=True)
        time.sleep(600)

os.fdopen = lambda fd, mode='r', *a, **k: HalfThenHang(real_fdopen(fd, mode, *a, **k))
model = kerasx.Sequential([layers.Input((6,)), layers.Dense(3)])
model.save_weights(sys.argv[1])
"""


def kill_when(proc, marker, delay=0.0):
    """Waits for `marker` on the process's stdout, then `delay` seconds more, then kills it with
    SIGKILL and reaps it (so that its pid is gone)."""
    while True:
        line = proc.stdout.readline()
        if marker in line:
            break
        if not line:
            proc.wait(timeout=30)
            raise AssertionError(f"the writer ended early: {proc.stderr.read()[-3000:]}")
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    proc.stderr.close()


def test_a_save_killed_mid_write_leaves_a_temporary_that_the_next_save_removes(tmp_path):
    path = tmp_path / "w.weights.safetensors"
    model = small_model(compiled=False)
    model.save_weights(str(path))
    good = path.read_bytes()
    proc = run_python(HALF_WRITE, str(path))
    kill_when(proc, "HALF")
    assert path.read_bytes() == good  # the target was never touched
    left = [n for n in os.listdir(tmp_path) if n != path.name]
    assert len(left) == 1 and re.fullmatch(
        re.escape(f".{path.name}.kerasx-tmp-") + rf"[0-9a-f]+-{proc.pid}-[0-9a-f]+", left[0]), left
    stale = left[0]
    # neighbours that must survive: a live writer's temporary (this process), another target's
    # temporary of the dead writer, and user files named almost like temporaries
    live = stale.replace(f"-{proc.pid}-", f"-{os.getpid()}-")
    other_target = stale.replace(path.name, "other.weights.safetensors")
    user_files = [f".{path.name}.kerasx-tmp-notes", f".{path.name}.kerasx-tmp-{proc.pid}",
                  stale + ".bak", f".{path.name}.tmp"]
    for name in [live, other_target] + user_files:
        (tmp_path / name).write_bytes(b"keep me")
    model.save_weights(str(path))
    assert sorted(os.listdir(tmp_path)) == sorted([path.name, live, other_target] + user_files)
    for name in [live, other_target] + user_files:
        assert (tmp_path / name).read_bytes() == b"keep me"


SAVE_LOOP = r"""
import os, sys
import numpy as np
import kerasx
from kerasx import layers

real_fdopen = os.fdopen

def announced_fdopen(fd, *args, **kwargs):
    # says when a save starts writing its file, so that the kills land around the write
    print('WRITING', flush=True)
    return real_fdopen(fd, *args, **kwargs)

os.fdopen = announced_fdopen
model = kerasx.Sequential([layers.Input((512,)), layers.Dense(2048)])
model.compile(optimizer="adam", loss="mse")
versions = [[np.full(w.shape, v, w.dtype) for w in model.get_weights()] for v in (1.0, 2.0)]
for i in range(100000):
    model.set_weights(versions[i % 2])
    model.save(sys.argv[1])
"""


def test_kill_9_during_saves_leaves_the_old_or_the_new_model(tmp_path):
    """A process saving two versions of a model in turn, killed with SIGKILL at a random moment
    of a write (after some saves): the file loads as one version or the other, and the next
    save removes the temporary file the kill left."""
    path = tmp_path / "m.kerasx"
    rng = np.random.default_rng()
    for _ in range(3):
        proc = run_python(SAVE_LOOP, str(path))
        for _ in range(rng.integers(1, 4)):  # let a few saves complete first
            proc.stdout.readline()
        kill_when(proc, "WRITING", delay=rng.uniform(0.0, 0.008))
        loaded = kerasx.models.load_model(str(path))
        kernel = loaded.get_weights()[0]
        assert kernel.shape == (512, 2048) and np.all(kernel == kernel[0, 0])
        assert kernel[0, 0] in (1.0, 2.0)
        loaded.save(str(path))
        assert os.listdir(tmp_path) == ["m.kerasx"]


# ---------------------------------------------------------------------------- BackupAndRestore
@pytest.mark.parametrize("double_checkpoint", [False, True])
def test_backup_and_restore_deletes_only_its_own_files(double_checkpoint, tmp_path):
    backup = tmp_path / "my-folder"
    backup.mkdir()
    (backup / "notes.txt").write_text("mine")
    model = small_model()
    model.fit(X, Y, batch_size=16, epochs=3, verbose=0, callbacks=[
        BackupAndRestore(str(backup), double_checkpoint=double_checkpoint)])
    assert os.listdir(backup) == ["notes.txt"]
    assert (backup / "notes.txt").read_text() == "mine"
    # a folder the callback made goes, unless the user put something in it meanwhile
    made = tmp_path / "made"
    model.fit(X, Y, batch_size=16, epochs=2, verbose=0, callbacks=[BackupAndRestore(str(made))])
    assert not made.exists()

    class Drop(kerasx.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            (made / "late.txt").write_text("mine too")

    model.fit(X, Y, batch_size=16, epochs=2, verbose=0,
              callbacks=[BackupAndRestore(str(made)), Drop()])
    assert os.listdir(made) == ["late.txt"]
