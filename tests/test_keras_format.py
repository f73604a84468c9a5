"""Keras 3's own file formats in kerasx: `.keras` archives and `.weights.h5` files, both ways.

Keras 3 is the oracle: files kerasx writes must load in Keras and predict the same (and, when
compiled, continue training the same: the optimizer state is in Keras's layout), and files Keras
writes must load in kerasx the same way.
"""

import json
import os
import re
import sys
import warnings
import zipfile

import numpy as np
import pytest

import kerasx
from kerasx import layers as L
from keras_oracle import require_keras

pytest.importorskip("h5py", reason="h5py reads and writes the Keras formats "
                                   '(`pip install "kerasx[keras-format]"`)')

RNG = np.random.default_rng(0)


def _flat_outputs(outputs):
    return [np.asarray(o).ravel() for o in (outputs if isinstance(outputs, list) else [outputs])]


def _random_weights(model, seed=0):
    """Non-trivial weights (positive, so BatchNorm's moving variance stays valid)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.5, 1.5, size=w.shape).astype(w.dtype) for w in model.get_weights()]


def _close(a, b, atol=1e-5):
    a, b = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=atol, rtol=1e-5)


# ---------------------------------------------------------------------------- architectures
def _conv_models(keras):
    """The same Conv2D/BatchNorm/Dropout/Dense model in kerasx and in Keras."""
    def build(lib, layers):
        return lib.Sequential([lib.Input((6, 6, 2)), layers.Conv2D(3, 3, activation="relu"),
                               layers.BatchNormalization(), layers.Dropout(0.3), layers.Flatten(),
                               layers.Dense(4), layers.Dense(2)])
    x = RNG.normal(size=(3, 6, 6, 2)).astype("float32")
    return build(kerasx, L), build(keras, keras.layers), x


def _embedding_models(keras):
    def build(lib, layers):
        return lib.Sequential([lib.Input((5,), dtype="int32"), layers.Embedding(7, 3),
                               layers.Flatten(), layers.Dense(2)])
    x = RNG.integers(0, 7, size=(4, 5)).astype("int32")
    return build(kerasx, L), build(keras, keras.layers), x


def _two_input_nested(lib, layers):
    """A functional model with two inputs and a nested Sequential model."""
    inner = lib.Sequential([lib.Input((4,)), layers.Dense(3, activation="tanh"), layers.Dense(2)],
                           name="inner")
    a, b = lib.Input((4,), name="a"), lib.Input((3,), name="b")
    x = layers.Dense(4)(layers.Concatenate()([a, b]))
    x = layers.BatchNormalization()(x)
    return lib.Model([a, b], [inner(x), layers.Dense(1)(x)])


def _branching(lib, layers):
    """Branches of unequal depth with same-shaped Dense layers: Keras's layer order (by depth)
    differs from a plain first-use order, and a wrong order would swap weights silently."""
    x = lib.Input((3,), name="x")
    short = layers.Dense(3, name="short")(x)
    long = layers.Dense(3, name="long_2")(layers.Dense(3, name="long_1")(x))
    return lib.Model(x, layers.Add()([layers.Dense(3, name="tail")(short), long]))


TWO_INPUTS = [RNG.normal(size=(4, 4)).astype("float32"), RNG.normal(size=(4, 3)).astype("float32")]


# ---------------------------------------------------------------------------- uncompiled models
@pytest.mark.parametrize("make", [_conv_models, _embedding_models], ids=["conv", "embedding"])
def test_sequential_files_go_both_ways(make, tmp_path):
    keras = require_keras()
    ours, theirs, x = make(keras)
    ours.set_weights(_random_weights(ours, 1))
    ours.save(str(tmp_path / "ours.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "ours.keras"))
    _close(loaded.predict(x, verbose=0), ours.predict(x, verbose=0))
    # Keras -> kerasx, from a `.keras` archive and from a `.weights.h5` file
    theirs.set_weights(_random_weights(theirs, 2))
    theirs.save(str(tmp_path / "theirs.keras"))
    theirs.save_weights(str(tmp_path / "theirs.weights.h5"))
    back = kerasx.saving.load_model(str(tmp_path / "theirs.keras"))
    assert isinstance(back, kerasx.Sequential) and back._trainer is None
    _close(back.predict(x, verbose=0), theirs.predict(x, verbose=0))
    ours.load_weights(str(tmp_path / "theirs.weights.h5"))
    _close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    # kerasx `.weights.h5` -> Keras
    ours.set_weights(_random_weights(ours, 3))
    ours.save_weights(str(tmp_path / "ours.weights.h5"))
    theirs.load_weights(str(tmp_path / "ours.weights.h5"))
    _close(theirs.predict(x, verbose=0), ours.predict(x, verbose=0))


@pytest.mark.parametrize("build", [_two_input_nested, _branching], ids=["nested", "branching"])
def test_functional_files_go_both_ways_with_keras_layer_order(build, tmp_path):
    keras = require_keras()
    ours = build(kerasx, L)
    x = TWO_INPUTS if build is _two_input_nested else TWO_INPUTS[1]
    ours.set_weights(_random_weights(ours, 4))
    ours.save(str(tmp_path / "ours.keras"))
    ours.save_weights(str(tmp_path / "ours.weights.h5"))
    theirs = keras.saving.load_model(str(tmp_path / "ours.keras"))
    _close(theirs.predict(x, verbose=0), ours.predict(x, verbose=0))
    twin = build(keras, keras.layers)  # built by Keras itself: same paths, read by position
    twin.load_weights(str(tmp_path / "ours.weights.h5"))
    _close(twin.predict(x, verbose=0), ours.predict(x, verbose=0))
    twin.set_weights(_random_weights(twin, 5))
    twin.save_weights(str(tmp_path / "twin.weights.h5"))
    twin.save(str(tmp_path / "twin.keras"))
    ours.load_weights(str(tmp_path / "twin.weights.h5"))
    _close(ours.predict(x, verbose=0), twin.predict(x, verbose=0))
    again = kerasx.saving.load_model(str(tmp_path / "twin.keras"))
    _close(again.predict(x, verbose=0), twin.predict(x, verbose=0))
    # kerasx -> Keras -> kerasx: identical predictions
    theirs.save(str(tmp_path / "round.keras"))
    round_trip = kerasx.saving.load_model(str(tmp_path / "round.keras"))
    np.testing.assert_array_equal(np.concatenate(_flat_outputs(round_trip.predict(x, verbose=0))),
                                  np.concatenate(_flat_outputs(theirs.predict(x, verbose=0))))


def test_the_h5_layout_is_keras_s(tmp_path):
    """Paths, group names and dataset order as Keras writes them for the same model."""
    import h5py

    keras = require_keras()
    ours = _two_input_nested(kerasx, L)
    ours.save_weights(str(tmp_path / "ours.weights.h5"))
    _two_input_nested(keras, keras.layers).save_weights(str(tmp_path / "theirs.weights.h5"))

    def layout(path):
        out = {}
        with h5py.File(path) as f:
            f.visititems(lambda name, obj: out.__setitem__(name, getattr(obj, "shape", None)))
        return out

    mine, keras_s = layout(tmp_path / "ours.weights.h5"), layout(tmp_path / "theirs.weights.h5")
    assert mine == keras_s
    assert mine["layers/sequential/layers/dense_1/vars/0"] == (3, 2)
    with h5py.File(tmp_path / "ours.weights.h5") as f:
        assert f["layers/sequential/vars"].attrs["name"] == "inner"


# ---------------------------------------------------------------------------- compiled models
OPTIMIZERS = {
    "SGD": dict(learning_rate=0.1, momentum=0.9, nesterov=True),
    "Adam": dict(learning_rate=0.05, amsgrad=True),
    "AdamW": dict(learning_rate=0.05, weight_decay=0.1),
    "RMSprop": dict(learning_rate=0.05, momentum=0.5, centered=True),
}
X = RNG.normal(size=(16, 5)).astype("float32")
Y = RNG.normal(size=(16, 2)).astype("float32")


def _dense(lib, layers):
    return lib.Sequential([lib.Input((5,)), layers.Dense(4, activation="tanh"), layers.Dense(2)])


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_compiled_models_continue_training_the_same_after_either_way(name, tmp_path):
    """Keras trains 2 steps and saves; kerasx loads, trains a 3rd step and saves; Keras loads
    that and trains a 4th: each equals Keras training straight through (it would not with a
    fresh or misread optimizer state)."""
    keras = require_keras()
    theirs = _dense(keras, keras.layers)
    theirs.compile(getattr(keras.optimizers, name)(**OPTIMIZERS[name]), "mse", metrics=["mae"])
    theirs.train_on_batch(X, Y)
    theirs.train_on_batch(X, Y)
    theirs.save(str(tmp_path / "a.keras"))
    ours = kerasx.saving.load_model(str(tmp_path / "a.keras"))
    assert type(ours._trainer.optimizer).__name__ == name
    assert int(ours.optimizer.iterations) == 2
    theirs.train_on_batch(X, Y)
    ours.train_on_batch(X, Y)
    _close(ours(X), theirs(X))
    ours.save(str(tmp_path / "b.keras"))
    again = keras.saving.load_model(str(tmp_path / "b.keras"))
    assert int(again.optimizer.iterations.numpy()) == 3
    theirs.train_on_batch(X, Y)
    again.train_on_batch(X, Y)
    _close(again(X), theirs(X))


def test_compiled_functional_model_with_frozen_layer_and_nested_model(tmp_path):
    keras = require_keras()
    ours = _two_input_nested(kerasx, L)
    ours.get_layer("inner").layers[0].trainable = False  # Keras lists no optimizer slot for it
    # (SGD: Adam would amplify float noise in the Dense bias that BatchNorm cancels)
    ours.compile(kerasx.optimizers.SGD(0.1, momentum=0.9), ["mse", "mse"])
    ys = [Y[:4], Y[:4, :1]]
    ours.train_on_batch(TWO_INPUTS, ys)
    ours.save(str(tmp_path / "m.keras"))
    theirs = keras.saving.load_model(str(tmp_path / "m.keras"))
    assert not theirs.get_layer("inner").layers[0].trainable
    assert int(theirs.optimizer.iterations.numpy()) == 1
    ours.train_on_batch(TWO_INPUTS, ys)
    theirs.train_on_batch(TWO_INPUTS, ys)
    _close(ours.predict(TWO_INPUTS, verbose=0), theirs.predict(TWO_INPUTS, verbose=0), atol=1e-4)


def test_compiled_but_untrained_keras_model_loads_compiled(tmp_path):
    keras = require_keras()
    theirs = _dense(keras, keras.layers)
    theirs.compile(keras.optimizers.SGD(0.2), keras.losses.MeanAbsoluteError(), metrics=["mse"])
    theirs.save(str(tmp_path / "a.keras"))  # optimizer not built: iterations and lr only
    ours = kerasx.saving.load_model(str(tmp_path / "a.keras"))
    assert ours.optimizer.learning_rate == pytest.approx(0.2)
    ours.fit(X, Y, batch_size=16, verbose=0, shuffle=False)
    theirs.fit(X, Y, batch_size=16, verbose=0, shuffle=False)
    _close(ours(X), theirs(X))
    assert kerasx.saving.load_model(str(tmp_path / "a.keras"), compile=False)._trainer is None


def test_unmappable_optimizer_state_is_left_out_with_a_warning(tmp_path):
    keras = require_keras()
    ours = _dense(kerasx, L)
    ours.compile(kerasx.optimizers.Adam(0.01, use_ema=True), "mse")
    ours.train_on_batch(X, Y)
    with pytest.warns(UserWarning, match="without its optimizer state"):
        ours.save(str(tmp_path / "m.keras"))
    with warnings.catch_warnings():  # Keras: "Skipping variable loading for optimizer"
        warnings.simplefilter("ignore")
        theirs = keras.saving.load_model(str(tmp_path / "m.keras"))  # compiled, fresh optimizer
    assert int(theirs.optimizer.iterations.numpy()) == 0
    _close(theirs.predict(X, verbose=0), ours.predict(X, verbose=0))
    import optax

    ours.compile(optax.sgd(0.1), "mse")
    with pytest.warns(UserWarning, match="without its compile"):
        ours.save(str(tmp_path / "n.keras"))
    assert kerasx.saving.load_model(str(tmp_path / "n.keras"))._trainer is None


# ---------------------------------------------------------------------------- checkpoints
def test_model_checkpoint_writes_keras_files_during_fit(tmp_path):
    keras = require_keras()
    from kerasx.callbacks import ModelCheckpoint

    ours = _dense(kerasx, L)
    ours.compile(kerasx.optimizers.Adam(0.01), "mse")
    ours.fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[
        ModelCheckpoint(str(tmp_path / "ckpt-{epoch}.keras")),
        ModelCheckpoint(str(tmp_path / "w.weights.h5"), save_weights_only=True)])
    assert sorted(os.listdir(tmp_path)) == ["ckpt-1.keras", "ckpt-2.keras", "w.weights.h5"]
    theirs = keras.saving.load_model(str(tmp_path / "ckpt-2.keras"))
    assert int(theirs.optimizer.iterations.numpy()) == 4
    _close(theirs.predict(X, verbose=0), ours.predict(X, verbose=0))
    twin = _dense(keras, keras.layers)
    twin.load_weights(str(tmp_path / "w.weights.h5"))
    _close(twin.predict(X, verbose=0), ours.predict(X, verbose=0))
    with pytest.raises(ValueError, match=r"`\.weights\.h5`.*filepath='w\.keras'"):
        ModelCheckpoint("w.keras", save_weights_only=True)
    with pytest.raises(ValueError, match=r"`\.keras`.*filepath='m\.h5'"):
        ModelCheckpoint("m.h5")


# ---------------------------------------------------------------------------- errors
def _weights_of(model):
    return [np.array(w) for w in model.get_weights()]


def test_truncated_or_corrupt_weights_files_fail_naming_the_file(tmp_path):
    model = _dense(kerasx, L)
    path = tmp_path / "w.weights.h5"
    model.save_weights(str(path))
    data = path.read_bytes()
    model.set_weights(_random_weights(model, 7))
    before = _weights_of(model)
    cases = {"truncated": data[: len(data) // 2], "garbage": data[:8] + bytes(range(256)) * 8,
             "not hdf5": b"hello, this is text" * 10}
    for kind, content in cases.items():
        bad = tmp_path / f"{kind.replace(' ', '_')}.weights.h5"
        bad.write_bytes(content)
        with pytest.raises(ValueError, match=re.escape(f"'{bad}'")):
            model.load_weights(str(bad))
        for a, b in zip(_weights_of(model), before):
            np.testing.assert_array_equal(a, b)
    archive = tmp_path / "m.keras"
    model.save(str(archive))
    (tmp_path / "cut.keras").write_bytes(archive.read_bytes()[:300])
    with pytest.raises(ValueError, match=re.escape(f"'{tmp_path / 'cut.keras'}'")):
        kerasx.saving.load_model(str(tmp_path / "cut.keras"))
    with pytest.raises(FileNotFoundError, match="nothing.weights.h5"):
        model.load_weights(str(tmp_path / "nothing.weights.h5"))


def test_a_file_of_another_architecture_fails_naming_the_layer_and_changes_nothing(tmp_path):
    model = _dense(kerasx, L)
    other = kerasx.Sequential([kerasx.Input((5,)), L.Dense(4), L.Dense(3)])
    other.save_weights(str(tmp_path / "o.weights.h5"))
    before = _weights_of(model)
    with pytest.raises(ValueError, match=r"o\.weights\.h5.*\(3,\).*expects \(2,\)|"
                                         r"o\.weights\.h5.*shape"):
        model.load_weights(str(tmp_path / "o.weights.h5"))
    more = kerasx.Sequential([kerasx.Input((5,)), L.Dense(4), L.BatchNormalization(), L.Dense(2)])
    more.save_weights(str(tmp_path / "m.weights.h5"))
    with pytest.raises(ValueError, match=r"layer 'dense_\w*' \(Dense\) has 2 weights, but the "
                                         r"file's group 'layers/dense_1/vars' holds 0|"
                                         r"does not have"):
        model.load_weights(str(tmp_path / "m.weights.h5"))
    for a, b in zip(_weights_of(model), before):
        np.testing.assert_array_equal(a, b)


def test_a_keras_layer_kerasx_lacks_is_named(tmp_path):
    keras = require_keras()
    _dense(keras, keras.layers).save(str(tmp_path / "k.keras"))
    with zipfile.ZipFile(tmp_path / "k.keras") as z:
        files = {n: z.read(n) for n in z.namelist()}
    config = json.loads(files["config.json"])
    config["config"]["layers"][1]["class_name"] = "MadeUpLayer"
    files["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(tmp_path / "bad.keras", "w") as z:
        for n, data in files.items():
            z.writestr(n, data)
    with pytest.raises(ValueError, match=r"bad\.keras.*MadeUpLayer"):
        kerasx.saving.load_model(str(tmp_path / "bad.keras"))


def test_without_h5py_the_error_says_what_to_install(tmp_path, monkeypatch):
    model = _dense(kerasx, L)
    monkeypatch.setitem(sys.modules, "h5py", None)
    for call in (lambda: model.save(str(tmp_path / "m.keras")),
                 lambda: model.save_weights(str(tmp_path / "m.weights.h5"))):
        with pytest.raises(ImportError, match=re.escape('pip install "kerasx[keras-format]"')):
            call()
    assert not os.listdir(tmp_path)


def test_writes_are_atomic(tmp_path, monkeypatch):
    from kerasx.saving import _keras_format

    model = _dense(kerasx, L)
    path = tmp_path / "m.weights.h5"
    model.save_weights(str(path))
    old = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(_keras_format._files, "_fsync_folder", lambda folder: None)
    monkeypatch.setattr(os, "fsync", fail)
    model.set_weights(_random_weights(model, 9))
    with pytest.raises(OSError, match="disk full"):
        model.save_weights(str(path))
    assert path.read_bytes() == old and os.listdir(tmp_path) == ["m.weights.h5"]
    with pytest.raises(FileExistsError):
        model.save_weights(str(path), overwrite=False)


def test_the_kerasx_formats_are_unchanged_for_other_suffixes(tmp_path):
    model = _dense(kerasx, L)
    model.save(str(tmp_path / "m.kerasx"))
    model.save_weights(str(tmp_path / "w.weights.safetensors"))
    for name in ("m.kerasx", "w.weights.safetensors"):
        assert (tmp_path / name).read_bytes()[:2] != b"PK"
        assert not (tmp_path / name).read_bytes().startswith(b"\x89HDF")
    _close(kerasx.saving.load_model(str(tmp_path / "m.kerasx")).predict(X, verbose=0),
           model.predict(X, verbose=0))


def test_kerasx_files_with_keras_suffixes_still_load(tmp_path):
    """Files that kerasx wrote in its own format under a Keras suffix (before it wrote Keras's
    formats) load as before; `save_weights` refuses a `.keras` path, as Keras does."""
    from kerasx.saving import _files

    model = _dense(kerasx, L)
    model.set_weights(_random_weights(model, 11))
    _files.save_model(model, str(tmp_path / "old.keras"))
    _files.save_weights(model, str(tmp_path / "old.weights.h5"))
    _close(kerasx.saving.load_model(str(tmp_path / "old.keras")).predict(X, verbose=0),
           model.predict(X, verbose=0))
    fresh = _dense(kerasx, L)
    fresh.load_weights(str(tmp_path / "old.weights.h5"))
    _close(fresh.predict(X, verbose=0), model.predict(X, verbose=0))
    with pytest.raises(ValueError, match=r"must end in `\.weights\.h5`.*filepath=.*w\.keras"):
        model.save_weights(str(tmp_path / "w.keras"))


# ---------------------------------------------------------------------------- layers with sublayers
# Keras walks the attributes of each layer (`saving_lib._walk_saveable`) and names each group by
# the attribute that holds the sublayer: `layers/lstm/cell/vars/0`,
# `layers/bidirectional/forward_layer/cell/vars/0`, `layers/time_distributed/layer/vars/0`,
# `layers/multi_head_attention/query_dense/vars/0`, `layers/rnn/cell/cells/gru_cell/vars/0`.
SUBLAYER_KINDS = {
    "lstm": (lambda l: l.LSTM(3), (4, 2)),
    "gru": (lambda l: l.GRU(3, return_sequences=True), (4, 2)),
    "simple_rnn": (lambda l: l.SimpleRNN(3), (4, 2)),
    "stacked_rnn_cells": (lambda l: l.RNN([l.LSTMCell(3), l.GRUCell(2), l.LSTMCell(2)]), (4, 2)),
    "conv_lstm1d": (lambda l: l.ConvLSTM1D(2, 3), (3, 5, 2)),
    "conv_lstm2d": (lambda l: l.ConvLSTM2D(2, 3, padding="same"), (2, 4, 4, 2)),
    "conv_lstm3d": (lambda l: l.ConvLSTM3D(2, 2), (2, 3, 3, 3, 1)),
    "bidirectional": (lambda l: l.Bidirectional(l.LSTM(3)), (4, 2)),
    "bidirectional_backward_layer": (lambda l: l.Bidirectional(
        l.LSTM(3, return_sequences=True),
        backward_layer=l.GRU(3, return_sequences=True, go_backwards=True)), (4, 2)),
    "time_distributed": (lambda l: l.TimeDistributed(l.Dense(3)), (4, 2)),
    "time_distributed_batch_norm": (lambda l: l.TimeDistributed(l.BatchNormalization()), (4, 2)),
    "multi_head_attention": (lambda l: l.MultiHeadAttention(2, 2, use_gate=True), (4, 3)),
    "group_query_attention": (lambda l: l.GroupQueryAttention(2, 2, 1), (4, 3)),
    "spectral_normalization": (lambda l: l.SpectralNormalization(l.Dense(3)), (4,)),
}
_ATTENTION = ("multi_head_attention", "group_query_attention")  # called on (query, value)


def _sublayer_model(lib, layers, kind, functional):
    """A model of the layer `kind` then a Dense layer: Sequential, or functional (always for
    the attention layers, which take two inputs)."""
    make, shape = SUBLAYER_KINDS[kind]
    layer = make(layers)
    if functional or kind in _ATTENTION:
        x = lib.Input(shape)
        y = layer(x, x) if kind in _ATTENTION else layer(x)
        return lib.Model(x, layers.Dense(2)(y))
    return lib.Sequential([lib.Input(shape), layer, layers.Dense(2)])


def _small_weights(model, seed):
    """Random weights small enough to keep recurrent layers out of saturation (positive, for
    BatchNorm's moving variance)."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(0.1, 0.6, size=w.shape).astype(w.dtype) for w in model.get_weights()]


def _same(a, b):
    for x, y in zip(_flat_outputs(a), _flat_outputs(b)):
        np.testing.assert_allclose(x, y, atol=1e-6, rtol=0)


def _out(model, x):
    out = model(x)
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else np.asarray(out)


def _datasets(path):
    """`{dataset path: shape}` of an HDF5 file."""
    import h5py

    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda n, o: out.__setitem__(n, o.shape) if isinstance(o, h5py.Dataset)
                     else None)
    return out


def _both_ways(ours, theirs, x, tmp_path, keras):
    """kerasx writes and Keras loads, Keras writes and kerasx loads, both in `.keras` and in
    `.weights.h5`: the same predictions (1e-6) each time."""
    ours.set_weights(_small_weights(ours, 1))
    ours.save(str(tmp_path / "ours.keras"))
    ours.save_weights(str(tmp_path / "ours.weights.h5"))
    expected = _out(ours, x)
    _same(_out(keras.saving.load_model(str(tmp_path / "ours.keras")), x), expected)
    theirs.load_weights(str(tmp_path / "ours.weights.h5"))
    _same(_out(theirs, x), expected)
    theirs.set_weights(_small_weights(theirs, 2))
    theirs.save(str(tmp_path / "theirs.keras"))
    theirs.save_weights(str(tmp_path / "theirs.weights.h5"))
    expected = _out(theirs, x)
    _same(_out(kerasx.saving.load_model(str(tmp_path / "theirs.keras")), x), expected)
    ours.load_weights(str(tmp_path / "theirs.weights.h5"))
    _same(_out(ours, x), expected)


# Kinds that the functional model of `_many_sublayer_kinds` (in the default run) does not
# hold; the others run in Sequential models with `pytest -m slow`, and all in functional ones
# (a Bidirectional with its own `backward_layer` is written as the default one is).
_NOT_IN_THE_MANY = ("conv_lstm2d", "time_distributed_batch_norm", "group_query_attention")


@pytest.mark.parametrize("kind", [k if k in _NOT_IN_THE_MANY else
                                  pytest.param(k, marks=pytest.mark.slow)
                                  for k in SUBLAYER_KINDS])
def test_layers_with_sublayers_go_both_ways(kind, tmp_path):
    keras = require_keras()
    ours = _sublayer_model(kerasx, L, kind, functional=False)
    theirs = _sublayer_model(keras, keras.layers, kind, functional=False)
    assert _datasets_of(ours, tmp_path / "a") == _datasets_of(theirs, tmp_path / "b")
    x = RNG.normal(size=(2,) + SUBLAYER_KINDS[kind][1]).astype("float32")
    _both_ways(ours, theirs, x, tmp_path, keras)


@pytest.mark.slow
@pytest.mark.parametrize("kind", [k for k in SUBLAYER_KINDS if k not in _ATTENTION])
def test_layers_with_sublayers_go_both_ways_in_functional_models(kind, tmp_path):
    keras = require_keras()
    ours = _sublayer_model(kerasx, L, kind, functional=True)
    theirs = _sublayer_model(keras, keras.layers, kind, functional=True)
    x = RNG.normal(size=(2,) + SUBLAYER_KINDS[kind][1]).astype("float32")
    _both_ways(ours, theirs, x, tmp_path, keras)


def _datasets_of(model, folder):
    os.makedirs(folder, exist_ok=True)
    model.save_weights(str(folder / "m.weights.h5"))
    return _datasets(folder / "m.weights.h5")


def _many_sublayer_kinds(lib, layers):
    """A functional model holding several layers with sublayers, two of some kinds (their
    groups are `lstm`, `lstm_1`, ...)."""
    seq = lib.Input((4, 2), name="seq")
    a = layers.LSTM(3, return_sequences=True)(seq)
    a = layers.Bidirectional(layers.GRU(2, return_sequences=True))(a)
    a = layers.TimeDistributed(layers.Dense(3))(a)
    a = layers.MultiHeadAttention(2, 2)(a, a)
    a = layers.LSTM(2)(a)
    b = layers.RNN([layers.SimpleRNNCell(2), layers.LSTMCell(2)])(seq)
    b = layers.SpectralNormalization(layers.Dense(2))(b)
    return lib.Model(seq, layers.Dense(2)(layers.Concatenate()([a, b])))


def test_a_functional_model_of_many_layers_with_sublayers_goes_both_ways(tmp_path):
    """Keras's paths for each (the same datasets at the same paths as Keras writes for the
    same model), and predictions both ways."""
    keras = require_keras()
    ours = _many_sublayer_kinds(kerasx, L)
    theirs = _many_sublayer_kinds(keras, keras.layers)
    mine, keras_s = _datasets_of(ours, tmp_path / "a"), _datasets_of(theirs, tmp_path / "b")
    assert mine == keras_s
    for path in ("layers/lstm/cell/vars/0", "layers/lstm_1/cell/vars/0",
                 "layers/bidirectional/forward_layer/cell/vars/0",
                 "layers/bidirectional/backward_layer/cell/vars/0",
                 "layers/time_distributed/layer/vars/0",
                 "layers/multi_head_attention/query_dense/vars/0",
                 "layers/multi_head_attention/output_dense/vars/1",
                 "layers/rnn/cell/cells/simple_rnn_cell/vars/0",
                 "layers/rnn/cell/cells/lstm_cell/vars/2",
                 "layers/spectral_normalization/vars/1",
                 "layers/spectral_normalization/layer/vars/0"):
        assert path in mine
    _both_ways(ours, theirs, RNG.normal(size=(2, 4, 2)).astype("float32"), tmp_path, keras)


def test_compiled_models_with_sublayers_continue_training_the_same(tmp_path):
    """The optimizer slots of weights inside sublayers follow Keras's order."""
    keras = require_keras()
    x, y = RNG.normal(size=(8, 4, 2)).astype("float32"), RNG.normal(size=(8, 2))
    theirs = keras.Sequential([keras.Input((4, 2)), keras.layers.Bidirectional(
        keras.layers.SimpleRNN(3)), keras.layers.Dense(2)])
    theirs.compile(keras.optimizers.Adam(0.05), "mse")
    theirs.train_on_batch(x, y)
    theirs.save(str(tmp_path / "a.keras"))
    ours = kerasx.saving.load_model(str(tmp_path / "a.keras"))
    theirs.train_on_batch(x, y)
    ours.train_on_batch(x, y)
    _close(_out(ours, x), _out(theirs, x))
    ours.save(str(tmp_path / "b.keras"))
    again = keras.saving.load_model(str(tmp_path / "b.keras"))
    theirs.train_on_batch(x, y)
    again.train_on_batch(x, y)
    _close(_out(again, x), _out(theirs, x))


def _values(path):
    import h5py

    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset)
                     else None)
    return out


def test_a_stateful_rnn_s_carried_states_are_not_in_the_file_and_stay(tmp_path):
    """Keras saves a stateful RNN's cell weights, not its carried states: kerasx writes the
    same and, loading, keeps the states it holds."""
    keras = require_keras()
    x = RNG.normal(size=(2, 4, 2)).astype("float32")

    def build(lib):
        return lib.Sequential([lib.Input(batch_shape=(2, 4, 2)),
                               lib.layers.LSTM(3, stateful=True)])

    ours, theirs = build(kerasx), build(keras)
    ours(x)
    theirs(x)
    held = [np.array(s) for s in ours.layers[0].states]
    theirs.set_weights(_small_weights(theirs, 4))
    theirs.save_weights(str(tmp_path / "theirs.weights.h5"))
    ours.load_weights(str(tmp_path / "theirs.weights.h5"))
    for a, b in zip(ours.layers[0].states, held):
        np.testing.assert_array_equal(np.asarray(a), b)
    ours.save_weights(str(tmp_path / "ours.weights.h5"))
    mine, keras_s = _values(tmp_path / "ours.weights.h5"), _values(tmp_path / "theirs.weights.h5")
    assert sorted(mine) == sorted(keras_s) == [f"layers/lstm/cell/vars/{i}" for i in range(3)]
    for key in mine:
        np.testing.assert_array_equal(mine[key], keras_s[key])
    theirs.load_weights(str(tmp_path / "ours.weights.h5"))


# ---------------------------------------------------------------------------- subclassed
_SUBCLASSED = {}


def _subclassed(lib):
    """`(Block, Net)` for `lib` (kerasx or Keras), registered under the same names on both
    sides: a Keras-style layer with its own weights (trainable and not), a sublayer attribute
    and a list of sublayers; a subclassed model holding it and two Dense layers."""
    if lib.__name__ in _SUBCLASSED:
        return _SUBCLASSED[lib.__name__]
    layers, register = lib.layers, lib.saving.register_keras_serializable

    @register(package="tests_keras_format")
    class Block(layers.Layer):
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.proj = layers.Dense(units)
            self.norm = layers.LayerNormalization()
            self.stack = [layers.Dense(units), layers.Dense(units, activation="tanh")]

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(self.units,), initializer="ones", name="scale")
            self.count = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                         name="count")
            self.alpha = self.add_weight(shape=(1,), initializer="ones", name="alpha")

        def call(self, x):
            y = self.norm(self.proj(x)) * self.scale * self.alpha
            for dense in self.stack:
                y = dense(y)
            return y + self.count

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    @register(package="tests_keras_format")
    class Net(lib.Model):
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.block = Block(units)
            self.head = layers.Dense(2)
            self.tail = layers.Dense(2)

        def call(self, x):
            return self.head(self.block(x)) + self.tail(x)

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    _SUBCLASSED[lib.__name__] = Block, Net
    return Block, Net


def _with_block(lib):
    block, _ = _subclassed(lib)
    x = lib.Input((4,))
    return lib.Model(x, lib.layers.Dense(2)(block(3)(x)))


def test_a_subclassed_layer_in_a_functional_model_goes_both_ways(tmp_path):
    keras = require_keras()
    ours, theirs = _with_block(kerasx), _with_block(keras)
    mine = _datasets_of(ours, tmp_path / "a")
    assert mine == _datasets_of(theirs, tmp_path / "b")
    assert mine["layers/block/vars/2"] == () and mine["layers/block/stack/dense_1/vars/0"] == (3, 3)
    _both_ways(ours, theirs, RNG.normal(size=(2, 4)).astype("float32"), tmp_path, keras)


def test_a_subclassed_model_goes_both_ways(tmp_path):
    """Weights and whole `.keras` archives, compiled: training goes on the same after either
    way. Keras's walk meets the model's `layers` list (a public attribute, in its sorted place)
    before the attribute `tail`, so that Dense layer's group is `layers/dense_1`: its second
    Dense in the list (the first, `head`, was already written under its attribute)."""
    keras = require_keras()
    x = RNG.normal(size=(8, 4)).astype("float32")
    y = RNG.normal(size=(8, 2)).astype("float32")
    ours, theirs = _subclassed(kerasx)[1](), _subclassed(keras)[1]()
    ours.build((None, 4))
    theirs(x)
    mine = _datasets_of(ours, tmp_path / "a")
    assert mine == _datasets_of(theirs, tmp_path / "b")
    assert "block/stack/dense/vars/0" in mine and "head/vars/0" in mine
    assert "layers/dense_1/vars/0" in mine and not any(p.startswith("tail") for p in mine)
    _both_ways(ours, theirs, x, tmp_path, keras)
    theirs.compile(keras.optimizers.Adam(0.05), "mse")
    theirs.train_on_batch(x, y)
    theirs.save(str(tmp_path / "c.keras"))
    ours = kerasx.saving.load_model(str(tmp_path / "c.keras"))
    assert type(ours).__name__ == "Net" and int(ours.optimizer.iterations) == 1
    theirs.train_on_batch(x, y)
    ours.train_on_batch(x, y)
    _close(_out(ours, x), _out(theirs, x))
    ours.save(str(tmp_path / "d.keras"))
    again = keras.saving.load_model(str(tmp_path / "d.keras"))
    theirs.train_on_batch(x, y)
    again.train_on_batch(x, y)
    _close(_out(again, x), _out(theirs, x))


# ---------------------------------------------------------------------------- sublayer errors
@pytest.mark.parametrize("kind, group", [
    ("lstm", "layers/lstm/cell/vars"),
    ("multi_head_attention", "layers/multi_head_attention/query_dense/vars")])
def test_a_missing_or_misshapen_sublayer_weight_is_named_and_loads_nothing(kind, group,
                                                                          tmp_path):
    import h5py

    model = _sublayer_model(kerasx, L, kind, functional=False)
    model.save_weights(str(tmp_path / "w.weights.h5"))
    model.set_weights(_small_weights(model, 3))
    before = _weights_of(model)
    missing = tmp_path / "missing.weights.h5"
    missing.write_bytes((tmp_path / "w.weights.h5").read_bytes())
    with h5py.File(missing, "a") as f:
        del f[f"{group}/1"]
    with pytest.raises(ValueError, match=rf"missing\.weights\.h5.*layer '\w+' \(\w+\) has \d "
                                         rf"weights, but the file's group '{group}' holds \d"):
        model.load_weights(str(missing))
    wrong = tmp_path / "wrong.weights.h5"
    wrong.write_bytes((tmp_path / "w.weights.h5").read_bytes())
    with h5py.File(wrong, "a") as f:
        shape = f[f"{group}/0"].shape
        del f[f"{group}/0"]
        f[f"{group}/0"] = np.zeros(shape[:-1] + (shape[-1] + 1,), "float32")
    with pytest.raises(ValueError, match=rf"wrong\.weights\.h5.*expects its weight 'kernel' "
                                         rf"with shape .*'{group}/0' has shape"):
        model.load_weights(str(wrong))
    for a, b in zip(_weights_of(model), before):
        np.testing.assert_array_equal(a, b)


def test_sublayers_the_keras_layout_cannot_reach_fail_clearly_and_write_nothing(tmp_path):
    """A layer whose sublayers kerasx finds (its `_sublayer_items`) but that no attribute holds
    has no place in Keras's layout: an error, not a file that silently lacks weights."""
    class Hidden(L.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self._inner = [L.Dense(2)]
            object.__getattribute__(self, "_tracked").clear()  # held, but not as an attribute

        def _sublayer_items(self):
            return [("inner", self._inner[0])]

        def call(self, x):
            return self._inner[0](x)

    model = kerasx.Sequential([kerasx.Input((5,)), Hidden()])
    model.predict(X, verbose=0)
    for call in (lambda: model.save(str(tmp_path / "m.keras")),
                 lambda: model.save_weights(str(tmp_path / "m.weights.h5"))):
        with pytest.raises(NotImplementedError, match=r"'\w+/hidden/inner' \(Dense\).*`\.kerasx`"):
            call()
    assert not os.listdir(tmp_path)
