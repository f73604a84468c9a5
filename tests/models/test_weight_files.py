"""save_weights/load_weights: safetensors files, atomic writes, and all-or-nothing loading with
errors that name the file, the weight and the shapes."""

import json
import os
import struct

import numpy as np
import pytest

import kerasx
from kerasx import layers
from kerasx.saving import _files as _saving

RNG = np.random.default_rng(4)
X = RNG.normal(size=(16, 6)).astype("float32")


def net(units=5, seed=0):
    kerasx.utils.set_random_seed(seed)
    inp = kerasx.Input((6,))
    inner = kerasx.Sequential([layers.Dense(units), layers.BatchNormalization()], name="block")
    out = layers.Dense(2)(layers.Dropout(0.2)(inner(inp)))
    return kerasx.Model(inp, out)


def test_round_trip_restores_every_weight_and_the_batchnorm_state(tmp_path):
    a = net(seed=0)
    a.compile(optimizer="adam", loss="mse")
    a.fit(X, RNG.normal(size=(16, 2)).astype("float32"), verbose=0, epochs=2)
    path = str(tmp_path / "m.weights.safetensors")
    a.save_weights(path)
    b = net(seed=1)
    assert not np.allclose(a.get_weights()[0], b.get_weights()[0])
    b.load_weights(path)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    np.testing.assert_array_equal(a.predict(X, verbose=0), b.predict(X, verbose=0))


def test_the_file_is_plain_safetensors_keyed_by_weight_path(tmp_path):
    from safetensors.numpy import load_file

    a = net()
    path = str(tmp_path / "w.safetensors")
    a.save_weights(path)
    tensors = load_file(path)
    np.testing.assert_array_equal(tensors["params/dense/kernel"], np.asarray(a.params["dense"]["kernel"]))
    assert "state/block/batch_normalization/moving_variance" in tensors
    with open(path, "rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    assert header["__metadata__"]["format"] == "kerasx.weights"


def test_another_architecture_or_shape_fails_and_loads_nothing(tmp_path):
    path = str(tmp_path / "w.safetensors")
    net(units=5).save_weights(path)
    other = net(units=7, seed=3)
    before = other.get_weights()
    with pytest.raises(ValueError, match=r"Weight 'params/block/batch_normalization/beta' in '.*w\.safetensors' has shape \(5,\), but layer 'block/batch_normalization' of this model expects \(7,\)"):
        other.load_weights(path)
    for w0, w1 in zip(before, other.get_weights()):
        np.testing.assert_array_equal(w0, w1)
    smaller = kerasx.Sequential([layers.Input((5,)), layers.Dense(2, name="dense")])
    with pytest.raises(ValueError, match="does not have.*another architecture"):
        smaller.load_weights(path)
    bigger = kerasx.Sequential([layers.Input((6,)), layers.Dense(2, name="other")])
    with pytest.raises(ValueError, match="has no weight 'params/other/.*layer 'other'"):
        bigger.load_weights(path)


def test_corrupt_truncated_and_foreign_files_are_named(tmp_path):
    path = tmp_path / "w.safetensors"
    net().save_weights(str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="Could not read '.*w.safetensors'.*corrupt or truncated"):
        net().load_weights(str(path))
    path.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="w.safetensors"):
        net().load_weights(str(path))
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(2, np.float32)}, str(path))
    with pytest.raises(ValueError, match="not a kerasx.weights file"):
        net().load_weights(str(path))
    with pytest.raises(FileNotFoundError, match="nothere"):
        net().load_weights(str(tmp_path / "nothere.safetensors"))


def test_a_crash_mid_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "w.safetensors"
    net(seed=0).save_weights(str(path))
    good = path.read_bytes()

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        net(seed=1).save_weights(str(path))
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["w.safetensors"]  # no temporary file left behind
    with pytest.raises(FileExistsError):
        net().save_weights(str(path), overwrite=False)


def test_bfloat16_weights_round_trip(tmp_path):
    import jax.numpy as jnp

    m = kerasx.Sequential([layers.Input((6,)), layers.Dense(3)])
    m.params = {"dense": {k: v.astype(jnp.bfloat16) for k, v in m.params["dense"].items()}}
    path = str(tmp_path / "bf.safetensors")
    m.save_weights(path)
    tensors, _ = _saving.read_tensors(path, "kerasx.weights")
    assert tensors["params/dense/kernel"].dtype == jnp.bfloat16
    np.testing.assert_array_equal(np.asarray(tensors["params/dense/kernel"], np.float32),
                                  np.asarray(m.params["dense"]["kernel"], np.float32))


def test_loading_into_an_unbuilt_model_explains_how_to_build_it(tmp_path):
    path = str(tmp_path / "w.safetensors")
    net().save_weights(path)
    with pytest.raises(ValueError, match="Build it first"):
        kerasx.Sequential([layers.Dense(2)]).load_weights(path)
