"""Preprocessing layers against Keras 3: Normalization, Discretization, Rescaling, Resizing,
CenterCrop (adapt, weights, errors, and use inside a Sequential model)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import layers
from harness import keras, run_layer_test


def x_of(shape, seed=0, scale=3.0, loc=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale + loc).astype(np.float32)


def close(a, b, atol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=atol)


# ---------------------------------------------------------------------------------- Normalization
@pytest.mark.parametrize("kwargs", [dict(), dict(axis=None), dict(axis=(1, 2)), dict(axis=1),
                                    dict(invert=True)],
                         ids=["default", "none", "two_axes", "axis1", "invert"])
def test_normalization_adapt_matches_keras(kwargs):
    x = x_of((12, 3, 4))
    ours, theirs = layers.Normalization(**kwargs), keras().layers.Normalization(**kwargs)
    ours.adapt(x)
    theirs.adapt(x)
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert a.dtype == np.asarray(b).dtype
        close(a, b)
    probe = x_of((5, 3, 4), seed=1)
    close(ours(probe), theirs(probe), atol=1e-4)


class _Batches(kerasx.utils.PyDataset):
    def __init__(self, x, batch_size):
        super().__init__()
        self.x, self.batch_size = x, batch_size

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        batch = self.x[i * self.batch_size:(i + 1) * self.batch_size]
        return batch, np.zeros(len(batch))


def test_normalization_adapts_on_jax_arrays_and_iterables_of_batches():
    x = x_of((30, 4))
    theirs = keras().layers.Normalization()
    theirs.adapt(x)
    expected = theirs.get_weights()
    sources = {
        "jax": jnp.asarray(x),
        "list": [x[:7], x[7:20], x[20:]],
        "generator": (x[i:i + 8] for i in range(0, 30, 8)),
        "xy_tuples": [(x[:10], np.zeros(10)), (x[10:], np.zeros(20))],
        "py_dataset": _Batches(x, 8),
    }
    for name, data in sources.items():
        ours = layers.Normalization()
        ours.adapt(data)
        for a, b in zip(ours.get_weights(), expected):
            close(a, b)
    ours = layers.Normalization()
    ours.adapt(x, batch_size=7)  # streamed in batches: the same statistics
    close(ours.get_weights()[1], expected[1])
    ours.adapt(iter([x[:10], x[10:20], x[20:]]), steps=2)  # only the first 20 samples
    theirs.adapt(x[:20])
    close(ours.get_weights()[0], theirs.get_weights()[0])
    close(ours.get_weights()[1], theirs.get_weights()[1])


def test_normalization_with_given_mean_and_variance_matches_keras():
    k = keras()
    for kwargs in [dict(mean=2.0, variance=4.0), dict(mean=[1.0, 2.0, 3.0], variance=[1., 4., 9.]),
                   dict(axis=(1, 2), mean=[[0.5], [1.0]], variance=[[2.0], [3.0]], invert=True)]:
        shape = (3, 2, 3) if "axis" in kwargs else (4, 3)
        run_layer_test(layers.Normalization(**kwargs), x_of(shape),
                       k.layers.Normalization(**kwargs), expected_num_weights=0)


def test_normalization_weights_round_trip_like_keras():
    k = keras()
    x = x_of((20, 3))
    theirs = k.layers.Normalization()
    theirs.adapt(x)
    # Keras's adapted weights make an un-adapted kerasx layer usable, and vice versa
    ours = layers.Normalization()
    ours.build((None, 3))
    ours.set_weights(theirs.get_weights())
    close(ours(x), theirs(x))
    back = k.layers.Normalization()
    back.build((None, 3))
    back.set_weights(ours.get_weights())
    back.finalize_state()  # Keras reads its weights again only when loading or adapting
    close(back(x), theirs(x))
    # a clone from the config, given the weights, computes the same
    clone = layers.Normalization.from_config(ours.get_config())
    clone.build((None, 3))
    clone.set_weights(ours.get_weights())
    close(clone(x), ours(x))
    # the pure API: init of an adapted layer starts from its adapted statistics
    adapted = layers.Normalization()
    adapted.adapt(x)
    params, state = adapted.init(jax.random.key(0), jax.ShapeDtypeStruct((1, 3), jnp.float32))
    close(adapted.apply(params, state, x)[0], theirs(x))
    close(jax.jit(adapted.apply)(params, state, x)[0], theirs(x))


def test_normalization_adapted_model_saves_and_loads(tmp_path):
    x = x_of((16, 3))
    norm = layers.Normalization()
    norm.adapt(x)
    model = kerasx.Sequential([layers.Input((3,)), norm, layers.Dense(2)])
    path = str(tmp_path / "model.kerasx")
    model.save(path)
    loaded = kerasx.saving.load_model(path)
    close(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert len(loaded.non_trainable_weights) == 3


def test_normalization_errors():
    with pytest.raises(ValueError, match="both `mean` and `variance`"):
        layers.Normalization(mean=1.0)
    with pytest.raises(ValueError,
                       match="same shape.*mean shape \\(2,\\).*variance shape \\(3,\\)"):
        layers.Normalization(mean=[1.0, 2.0], variance=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="rank of `mean`"):
        layers.Normalization(mean=[[1.0]], variance=[[1.0]])
    with pytest.raises(ValueError, match="'normalization'.*Normalization.*adapt"):
        layers.Normalization()(x_of((2, 3)))
    with pytest.raises(ValueError, match="Normalization.*empty"):
        layers.Normalization().adapt([])
    with pytest.raises(ValueError, match="Normalization.*empty"):
        layers.Normalization().adapt(np.zeros((0, 3), np.float32))
    with pytest.raises(TypeError, match="Normalization.*iterable"):
        layers.Normalization().adapt("data")
    with pytest.raises(ValueError, match="axis"):
        layers.Normalization(axis=3).adapt(x_of((4, 3)))
    with pytest.raises(ValueError, match="cannot also be adapted"):
        layers.Normalization(mean=1.0, variance=1.0).adapt(x_of((4, 3)))
    norm = layers.Normalization()
    norm.adapt(x_of((4, 3)))
    with pytest.raises(ValueError, match="built for inputs whose kept axes have shape \\(3,\\)"):
        norm.adapt(x_of((4, 5)))
    with pytest.raises(ValueError, match="batch of shape \\(2, 5\\)"):
        layers.Normalization().adapt([x_of((2, 3)), x_of((2, 5))])


# ---------------------------------------------------------------------------------- Discretization
@pytest.mark.parametrize("output_mode, shape", [
    ("int", (4, 5)), ("int", (2, 3, 4)), ("one_hot", (6, 1)), ("one_hot", (2, 3, 4)),
    ("multi_hot", (4, 5)), ("multi_hot", (6, 1)), ("count", (2, 3, 4)), ("count", (4, 5)),
], ids=lambda v: v if isinstance(v, str) else "x".join(map(str, v)))
def test_discretization_matches_keras(output_mode, shape):
    kwargs = dict(bin_boundaries=[-1.0, 0.0, 0.5, 2.0], output_mode=output_mode)
    y, _, _ = run_layer_test(layers.Discretization(**kwargs), x_of(shape),
                             keras().layers.Discretization(**kwargs), atol=0)
    assert y.dtype == (jnp.int32 if output_mode == "int" else jnp.float32)


def _keras_adapted_discretization(batches, **kwargs):
    # Keras's own `adapt` needs TensorFlow; its update/finalize steps are what adapt runs
    layer = keras().layers.Discretization(**kwargs)
    layer.reset_state()
    for batch in batches:
        layer.update_state(batch)
    layer.finalize_state()
    return layer


@pytest.mark.parametrize("num_bins, epsilon, n", [(4, 0.01, 50), (5, 0.01, 500), (3, 0.1, 64)])
def test_discretization_adapt_matches_keras(num_bins, epsilon, n):
    x = x_of((n, 2))
    ours = layers.Discretization(num_bins=num_bins, epsilon=epsilon)
    ours.adapt(x)
    theirs = _keras_adapted_discretization([x], num_bins=num_bins, epsilon=epsilon)
    np.testing.assert_allclose(ours.bin_boundaries, theirs.bin_boundaries, rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(ours(x)), np.asarray(theirs(x)))
    ours.adapt(jnp.asarray(x))  # a JAX array: the same boundaries
    np.testing.assert_allclose(ours.bin_boundaries, theirs.bin_boundaries, rtol=1e-6)
    batches = [x[: n // 3], x[n // 3: n // 2], x[n // 2:]]
    ours.adapt(iter(batches), steps=2)
    theirs = _keras_adapted_discretization(batches[:2], num_bins=num_bins, epsilon=epsilon)
    np.testing.assert_allclose(ours.bin_boundaries, theirs.bin_boundaries, rtol=1e-6)


def test_discretization_adapted_config_round_trips():
    ours = layers.Discretization(num_bins=3, output_mode="one_hot")
    ours.adapt(x_of((40, 1)))
    config = ours.get_config()
    assert config["num_bins"] == 3 and len(config["bin_boundaries"]) == 2
    clone = layers.Discretization.from_config(config)
    x = x_of((5, 1), seed=2)
    np.testing.assert_array_equal(np.asarray(clone(x)), np.asarray(ours(x)))
    theirs = keras().layers.Discretization.from_config(config)  # Keras reads it too
    np.testing.assert_array_equal(np.asarray(theirs(x)), np.asarray(ours(x)))


def test_discretization_errors():
    with pytest.raises(ValueError, match="num_bins.*Received: num_bins=0"):
        layers.Discretization(num_bins=0)
    with pytest.raises(ValueError, match="either `num_bins`.*or `bin_boundaries`"):
        layers.Discretization()
    with pytest.raises(ValueError, match="not both"):
        layers.Discretization(num_bins=2, bin_boundaries=[0.0])
    with pytest.raises(ValueError, match="sparse=True"):
        layers.Discretization(num_bins=2, sparse=True)
    with pytest.raises(ValueError, match="output_mode.*Received: output_mode='tf_idf'"):
        layers.Discretization(num_bins=2, output_mode="tf_idf")
    with pytest.raises(ValueError, match="sorted"):
        layers.Discretization(bin_boundaries=[1.0, 0.0])
    with pytest.raises(ValueError, match="'discretization'.*Discretization.*adapt"):
        layers.Discretization(num_bins=3)(x_of((2, 3)))
    with pytest.raises(ValueError, match="Discretization.*empty"):
        layers.Discretization(num_bins=3).adapt(iter([]))
    with pytest.raises(ValueError, match="cannot be adapted"):
        layers.Discretization(bin_boundaries=[0.0]).adapt(x_of((4, 2)))


# ---------------------------------------------------------------------------------- Rescaling
@pytest.mark.parametrize("kwargs", [dict(scale=1 / 255), dict(scale=2.0, offset=-1.0),
                                    dict(scale=[0.5, 1.0, 2.0], offset=[0.0, 1.0, -1.0])],
                         ids=["scale", "offset", "per_channel"])
def test_rescaling_matches_keras(kwargs):
    x = np.random.default_rng(0).integers(0, 256, size=(2, 4, 4, 3)).astype(np.uint8)
    y, _, _ = run_layer_test(layers.Rescaling(**kwargs), x, keras().layers.Rescaling(**kwargs))
    assert y.dtype == jnp.float32


def test_rescaling_errors():
    with pytest.raises(ValueError, match="Rescaling.*scale.*Received: scale='big'"):
        layers.Rescaling("big")
    with pytest.raises(TypeError):
        layers.Rescaling()


# ---------------------------------------------------------------------------------- Resizing
def images(shape, dtype=np.float32, seed=0):
    x = np.random.default_rng(seed).uniform(0, 255, size=shape)
    return x.astype(dtype)


@pytest.mark.parametrize("interpolation", ["bilinear", "nearest", "bicubic", "lanczos3",
                                           "lanczos5"])
def test_resizing_interpolations_match_keras(interpolation):
    kwargs = dict(height=5, width=11, interpolation=interpolation)
    run_layer_test(layers.Resizing(**kwargs), images((2, 9, 7, 2)),
                   keras().layers.Resizing(**kwargs), atol=1e-3)


@pytest.mark.parametrize("kwargs, shape", [
    (dict(crop_to_aspect_ratio=True), (2, 9, 7, 3)),
    (dict(crop_to_aspect_ratio=True), (2, 5, 12, 3)),
    (dict(pad_to_aspect_ratio=True, fill_value=7.0), (2, 9, 7, 3)),
    (dict(pad_to_aspect_ratio=True), (2, 5, 12, 3)),
    (dict(data_format="channels_first", crop_to_aspect_ratio=True), (2, 3, 9, 7)),
    (dict(antialias=True), (2, 16, 16, 1)),
    (dict(), (9, 7, 3)),  # one image, no batch axis
], ids=["crop_tall", "crop_wide", "pad_tall", "pad_wide", "channels_first", "antialias", "3d"])
def test_resizing_aspect_ratio_options_match_keras(kwargs, shape):
    run_layer_test(layers.Resizing(6, 4, **kwargs), images(shape),
                   keras().layers.Resizing(6, 4, **kwargs), atol=1e-3)


def test_resizing_keeps_integer_images_integer_like_keras():
    x = images((2, 7, 9, 3), np.uint8)
    ours = np.asarray(layers.Resizing(4, 5)(x))
    theirs = np.asarray(keras().layers.Resizing(4, 5)(x))
    assert ours.dtype == theirs.dtype == np.uint8
    np.testing.assert_array_equal(ours, theirs)


def test_resizing_errors():
    with pytest.raises(ValueError, match="interpolation.*Received: interpolation='cubic'"):
        layers.Resizing(4, 4, interpolation="cubic")
    with pytest.raises(ValueError, match="at most one"):
        layers.Resizing(4, 4, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(ValueError, match="fill_mode='constant'"):
        layers.Resizing(4, 4, fill_mode="reflect")
    with pytest.raises(ValueError, match="height.*Received: height=0"):
        layers.Resizing(0, 4)
    with pytest.raises(ValueError, match="'resizing'.*rank 3 or 4"):
        layers.Resizing(4, 4)(np.zeros((2, 5), np.float32))


# ---------------------------------------------------------------------------------- CenterCrop
@pytest.mark.parametrize("size, shape, data_format", [
    ((4, 3), (2, 9, 7, 2), None), ((9, 7), (2, 9, 7, 2), None),
    ((12, 5), (2, 9, 7, 2), None), ((3, 10), (2, 9, 7, 2), None),
    ((4, 3), (2, 2, 8, 7), "channels_first"), ((5, 5), (8, 7, 3), None),
], ids=["crop", "same", "upsize_h", "upsize_w", "channels_first", "3d"])
def test_center_crop_matches_keras(size, shape, data_format):
    run_layer_test(layers.CenterCrop(*size, data_format=data_format), images(shape),
                   keras().layers.CenterCrop(*size, data_format=data_format), atol=1e-3)


def test_center_crop_errors():
    with pytest.raises(ValueError, match="CenterCrop.*width.*Received: width=-2"):
        layers.CenterCrop(3, -2)
    with pytest.raises(ValueError, match="data_format"):
        layers.CenterCrop(3, 3, data_format="nhwc")
    with pytest.raises(ValueError, match="'center_crop'.*rank 3 or 4"):
        layers.CenterCrop(3, 3)(np.zeros((2, 5), np.float32))


# ---------------------------------------------------------------------------------- in models
def test_preprocessing_layers_in_a_sequential_model_fit_and_predict():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype(np.float32) * [1.0, 10.0, 100.0] + [0.0, 5.0, -50.0]
    y = (x @ np.array([1.0, 0.1, 0.01], np.float32))[:, None]
    norm = layers.Normalization()
    model = kerasx.Sequential([layers.Input((3,)), norm, layers.Dense(1)])
    model.compile(optimizer=kerasx.optimizers.Adam(0.05), loss="mse")
    for use in (lambda: model.predict(x, verbose=0), lambda: model.evaluate(x, y, verbose=0),
                lambda: model.fit(x, y, verbose=0)):
        with pytest.raises(ValueError, match="'normalization'.*Normalization.*adapt"):
            use()  # checked on the host before anything runs
    norm.adapt(x)  # adapted after the model was built: the model uses the new weights
    close(model.layers[0](x), keras_normalized(x), atol=1e-4)
    model.compile(optimizer=kerasx.optimizers.Adam(0.05), loss="mse")
    history = model.fit(x, y, epochs=20, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.1 * history.history["loss"][0]
    close(norm.get_weights()[0], x.mean(axis=0), atol=1e-3)  # fit leaves the statistics alone
    # an image pipeline of the non-random layers
    imgs = images((8, 10, 12, 3), np.uint8)
    pipe = kerasx.Sequential([layers.Input((10, 12, 3), dtype="uint8"), layers.Resizing(6, 8),
                              layers.CenterCrop(4, 4), layers.Rescaling(1 / 255),
                              layers.Flatten(), layers.Dense(1)])
    k = keras()
    expected = k.layers.Rescaling(1 / 255)(k.layers.CenterCrop(4, 4)(
        k.layers.Resizing(6, 8)(imgs)))
    predicted = pipe.predict(imgs, verbose=0)
    w, b = pipe.layers[-1].get_weights()
    close(predicted, np.asarray(expected).reshape(8, -1) @ w + b, atol=1e-4)


def keras_normalized(x):
    theirs = keras().layers.Normalization()
    theirs.adapt(x)
    return theirs(x)
