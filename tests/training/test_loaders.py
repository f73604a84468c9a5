"""`fit`/`evaluate`/`predict` on other frameworks' data loaders, as Keras 3 takes them on JAX:
grain datasets and loaders, torch `DataLoader`s, `tf.data.Dataset`s (Keras's
`trainers/data_adapters/`), and those frameworks' tensors as arrays.

Each loader serves the batches that arrays cut with the same `batch_size` would (no shuffling),
so fitting through it must give the weights that fitting on the arrays gives; Keras 3 fitting
through the same loader is the oracle where it takes it. The data hold 50 samples in batches
of 8: the last batch (2 samples) is partial, so padding is exercised too. torch and tensorflow
are not in the test extra (their wheels are large): their tests skip where they are not
installed.
"""

import functools
import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "jax")

from keras_oracle import keras  # noqa: E402  (the oracle tests skip without Keras)
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import kerasx  # noqa: E402
from kerasx.training._data import _parse_item, is_iterable_dataset  # noqa: E402

N, BS, EPOCHS = 50, 8, 2
RNG = np.random.default_rng(7)
X = RNG.normal(size=(N, 4)).astype("float32")
Y = RNG.normal(size=(N, 1)).astype("float32")
SW = RNG.uniform(0.2, 2.0, size=(N,)).astype("float32")
TOL = dict(rtol=1e-5, atol=1e-6)


def _model(m, dict_inputs=False):
    """A small regression model of module `m` (kerasx or keras), compiled; its weights drawn
    from a fixed seed so that every call starts from the same ones."""
    L = m.layers
    if dict_inputs:
        a, b = L.Input((2,), name="a"), L.Input((2,), name="b")
        model = m.Model({"a": a, "b": b}, L.Dense(1)(L.Concatenate()([L.Dense(3)(a), b])))
    else:
        model = m.Sequential([L.Input((4,)), L.Dense(3, activation="tanh"), L.Dense(1)])
    model.set_weights([np.random.default_rng(i).normal(size=np.shape(w)).astype("float32") * 0.5
                       for i, w in enumerate(model.get_weights())])
    model.compile(optimizer=m.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    return model


def _split(x):
    return {"a": x[:, :2], "b": x[:, 2:]}


@functools.lru_cache(maxsize=None)
def _reference(weighted=False, dict_inputs=False, **fit_kw):
    """kerasx trained on the arrays: (history, weights, evaluate logs, predictions)."""
    model = _model(kerasx, dict_inputs)
    x = _split(X) if dict_inputs else X
    hist = model.fit(x, Y, sample_weight=SW if weighted else None, batch_size=BS,
                     epochs=fit_kw.pop("epochs", EPOCHS), shuffle=False, verbose=0, **fit_kw)
    return (hist.history, model.get_weights(), model.evaluate(x, Y, batch_size=BS, verbose=0),
            model.predict(x, batch_size=BS, verbose=0))


def _check_like_arrays(make_loader, weighted=False, dict_inputs=False, predict_loader=None):
    """fit, evaluate and predict through fresh loaders match the same on the arrays."""
    hist_ref, w_ref, eval_ref, pred_ref = _reference(weighted, dict_inputs)
    model = _model(kerasx, dict_inputs)
    hist = model.fit(make_loader(), epochs=EPOCHS, verbose=0).history
    assert set(hist) == set(hist_ref)
    for key in hist_ref:
        np.testing.assert_allclose(hist[key], hist_ref[key], **TOL, err_msg=key)
    for a, b in zip(model.get_weights(), w_ref):
        np.testing.assert_allclose(a, b, **TOL)
    # evaluate on the trained model, compared with the reference model's evaluate (unweighted)
    model.set_weights(w_ref)
    if not weighted:
        np.testing.assert_allclose(model.evaluate(make_loader(), verbose=0), eval_ref, **TOL)
    np.testing.assert_allclose(model.predict((predict_loader or make_loader)(), verbose=0),
                               pred_ref, **TOL)


def _check_like_keras(make_loader, **fit_kw):
    """Keras 3 fitting through the same loader: the same history and weights."""
    kx, kr = _model(kerasx), _model(keras)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's "shuffle is ignored" and "ran out" warnings
        h2 = kr.fit(make_loader(), verbose=0, **fit_kw).history
        h1 = kx.fit(make_loader(), verbose=0, **fit_kw).history
    for key in h2:
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-5, atol=1e-5, err_msg=key)
    for a, b in zip(kx.get_weights(), kr.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------- grain
def _grain():
    return pytest.importorskip("grain")


class _Records:
    """A grain data source: record i is `(x_i, y_i)` (or the variants below)."""

    def __init__(self, kind="xy"):
        self.kind = kind

    def __len__(self):
        return N

    def __getitem__(self, i):
        if self.kind == "x":
            return X[i]
        if self.kind == "dict":
            return {"a": X[i, :2], "b": X[i, 2:]}, Y[i]
        if self.kind == "xyw":
            return X[i], Y[i], SW[i]
        return X[i], Y[i]


def _grain_map(kind="xy"):
    return _grain().MapDataset.source(_Records(kind)).batch(BS)


def _grain_loader(kind="xy"):
    grain = _grain()
    sampler = grain.samplers.IndexSampler(N, shard_options=grain.sharding.NoSharding(),
                                          shuffle=False, num_epochs=1)
    return grain.DataLoader(data_source=_Records(kind), sampler=sampler,
                            operations=[grain.transforms.Batch(BS)], worker_count=0)


GRAIN_LOADERS = {
    "MapDataset": _grain_map,
    "IterDataset": lambda kind="xy": _grain_map(kind).to_iter_dataset(),
    "DataLoader": _grain_loader,
}


@pytest.mark.parametrize("name", ["MapDataset", "DataLoader",
                                  pytest.param("IterDataset", marks=pytest.mark.slow)])
def test_grain_like_arrays(name):
    make = GRAIN_LOADERS[name]
    _check_like_arrays(make, predict_loader=lambda: make("x"))


def test_grain_elements_dict_inputs_and_sample_weights():
    _check_like_arrays(lambda: _grain_map("dict"), dict_inputs=True,
                       predict_loader=lambda: _grain().MapDataset.source(_Split()).batch(BS))
    _check_like_arrays(lambda: _grain_map("xyw"), weighted=True,
                       predict_loader=lambda: _grain_map("x"))


class _Split(_Records):
    def __getitem__(self, i):
        return {"a": X[i, :2], "b": X[i, 2:]}


@pytest.mark.parametrize("name", ["MapDataset", pytest.param("DataLoader", marks=pytest.mark.slow)])
def test_grain_matches_keras(name):
    _check_like_keras(GRAIN_LOADERS[name], epochs=EPOCHS)


@pytest.mark.parametrize("epochs, steps_per_epoch, repeat", [
    pytest.param(3, 3, False, marks=pytest.mark.slow), (3, 4, True)])
def test_grain_steps_per_epoch_matches_keras(epochs, steps_per_epoch, repeat):
    # 7 batches a pass: epochs train on batches 0-2, 3-5, then 6 alone (Keras's "ran out");
    # a repeated dataset (endless) carries on across epochs.
    def make():
        ds = _grain().MapDataset.source(_Records())
        return (ds.repeat() if repeat else ds).batch(BS)

    _check_like_keras(make, epochs=epochs, steps_per_epoch=steps_per_epoch)


def test_loaders_reject_separate_targets_and_weights():
    # as Keras: a dataset's batches carry the targets and weights
    model = _model(kerasx)
    with pytest.raises(ValueError, match="must not be given separately"):
        model.fit(_grain_map(), Y, verbose=0)
    with pytest.raises(ValueError, match="must not be given separately.*Received: sample_weight"):
        model.fit(_grain_map(), sample_weight=SW, verbose=0)


# ---------------------------------------------------------------------------- torch
def _torch():
    return pytest.importorskip("torch")


def _torch_loader(kind="xy"):
    torch = _torch()
    data = torch.utils.data
    tensors = {"x": (X,), "xy": (X, Y), "xyw": (X, Y, SW)}[kind]
    return data.DataLoader(data.TensorDataset(*map(torch.tensor, tensors)), batch_size=BS)


def test_torch_dataloader_like_arrays():
    _check_like_arrays(_torch_loader, predict_loader=lambda: _torch_loader("x"))
    _check_like_arrays(lambda: _torch_loader("xyw"), weighted=True)


def test_torch_dataloader_dict_inputs():
    torch = _torch()

    class Samples(torch.utils.data.Dataset):
        def __len__(self):
            return N

        def __getitem__(self, i):
            return {"a": X[i, :2], "b": X[i, 2:]}, Y[i]

    _check_like_arrays(lambda: torch.utils.data.DataLoader(Samples(), batch_size=BS),
                       dict_inputs=True)


def test_torch_iterable_dataset_of_unknown_length():
    # A DataLoader over an IterableDataset has no len(): the pass runs to its end.
    torch = _torch()

    class Batches(torch.utils.data.IterableDataset):
        def __iter__(self):
            for i in range(0, N, BS):
                yield torch.tensor(X[i:i + BS]), torch.tensor(Y[i:i + BS])

    _check_like_arrays(lambda: torch.utils.data.DataLoader(Batches(), batch_size=None))


def test_torch_dataloader_matches_keras():
    _check_like_keras(_torch_loader, epochs=3, steps_per_epoch=3)


def test_torch_tensors_are_arrays():
    torch = _torch()
    x, y = torch.tensor(X), torch.tensor(Y, requires_grad=True)  # a tensor that needs grad too
    assert not is_iterable_dataset(x)
    _, w_ref, _, pred_ref = _reference()
    model = _model(kerasx)
    model.fit(x, y, batch_size=BS, epochs=EPOCHS, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), w_ref):
        np.testing.assert_allclose(a, b, **TOL)
    np.testing.assert_allclose(model.predict(x, batch_size=BS, verbose=0), pred_ref, **TOL)


# ---------------------------------------------------------------------------- tf.data
def _tf():
    return pytest.importorskip("tensorflow")


def _tf_dataset(*arrays):
    return _tf().data.Dataset.from_tensor_slices(arrays if len(arrays) > 1 else arrays[0]).batch(BS)


def test_tf_dataset_like_arrays():
    _check_like_arrays(lambda: _tf_dataset(X, Y), predict_loader=lambda: _tf_dataset(X))
    _check_like_arrays(lambda: _tf_dataset(X, Y, SW), weighted=True)
    _check_like_arrays(lambda: _tf_dataset(_split(X), Y), dict_inputs=True,
                       predict_loader=lambda: _tf_dataset(_split(X)))


def test_tf_dataset_of_unknown_cardinality():
    # filter() makes the length unknown (len() raises TypeError): the pass runs to its end
    _check_like_arrays(lambda: _tf_dataset(X, Y).filter(lambda x, y: True))


@pytest.mark.parametrize("repeat", [False, True])
def test_tf_dataset_steps_per_epoch_matches_keras(repeat):
    # repeat(): an endless dataset, whose epochs carry on where the last one stopped
    _check_like_keras(lambda: _tf_dataset(X, Y).repeat() if repeat else _tf_dataset(X, Y),
                      epochs=3, steps_per_epoch=4 if repeat else 3)


def test_tf_tensors_are_arrays():
    tf = _tf()
    x, y = tf.constant(X), tf.constant(Y)
    assert not is_iterable_dataset(x)
    _, w_ref, _, _ = _reference()
    model = _model(kerasx)
    model.fit(x, y, batch_size=BS, epochs=EPOCHS, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), w_ref):
        np.testing.assert_allclose(a, b, **TOL)


# ---------------------------------------------------------------------------- elements
def test_elements_are_unpacked_as_keras_does():
    x, y = X[:3], Y[:3]
    # a bare array or dict is x alone (Keras's unpack_x_y_sample_weight); a list is a tuple
    px, py, psw, mask, n = _parse_item(x, 0)
    np.testing.assert_array_equal(px, x)
    assert py is None and psw is None and n == 3 and mask.tolist() == [1.0] * 3
    px, py, _, _, _ = _parse_item({"a": x[:, :2], "b": x[:, 2:]}, 0)
    assert set(px) == {"a", "b"} and py is None
    px, py, psw, _, _ = _parse_item([x, y, [1, 2, 3]], 0)
    np.testing.assert_array_equal(py, y)
    assert psw.dtype == np.float32 and psw.tolist() == [1.0, 2.0, 3.0]
    _, py, psw, _, _ = _parse_item((x, None, None), 0)
    assert py is None and psw is None


def test_bad_elements_are_named():
    with pytest.raises(ValueError, match=r"\(x, y, sample_weight\).*Element 4 is tuple of length 4"):
        _parse_item((X, Y, SW, SW), 4)
    with pytest.raises(ValueError, match="Data cardinality is ambiguous"):
        _parse_item((X, Y[:3]), 0)
    model = _model(kerasx)
    with pytest.raises(ValueError, match="strings"):
        model.fit([(np.array([["a"] * 4]), Y[:1])], verbose=0)


def test_tensors_are_not_datasets():
    assert is_iterable_dataset(iter([(X, Y)])) and is_iterable_dataset([(X, Y)])
    assert not is_iterable_dataset(X) and not is_iterable_dataset({"a": X})

    class ArrayLike:  # iterable, but an array (as torch and tf tensors are)
        def __array__(self, dtype=None, copy=None):
            return X

        def __iter__(self):
            return iter(X)

    assert not is_iterable_dataset(ArrayLike())


def test_validation_data_of_a_two_input_model_is_not_a_list_of_batches():
    """`([x1, x2], y)` (and `validation_split`'s `([x1, x2], y, None)`) starts with what looks
    like an (x, y) batch; the entries after it are no batches, so it is (x, y[, weights])."""
    x1, x2 = X, X[:, :2]
    assert not is_iterable_dataset(([x1, x2], Y)) and not is_iterable_dataset(([x1, x2], Y, None))
    assert is_iterable_dataset([(x1, Y), (x1, Y)]) and is_iterable_dataset([([x1, x2], Y)])
    a, b = kerasx.Input(x1.shape[1:]), kerasx.Input(x2.shape[1:])
    model = kerasx.Model([a, b], kerasx.layers.Dense(1)(kerasx.layers.concatenate([a, b])))
    model.compile("sgd", "mse")
    history = model.fit([x1, x2], Y, epochs=1, batch_size=4, validation_split=0.25, verbose=0)
    assert "val_loss" in history.history
    history = model.fit([x1, x2], Y, epochs=1, batch_size=4, verbose=0,
                        validation_data=([x1, x2], Y))
    assert "val_loss" in history.history
