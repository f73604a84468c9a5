"""Training against the oracle: same weights in, one epoch of fit, same weights out (Keras 3)."""

import numpy as np
import pytest

import kerasx

from keras_oracle import keras  # imported by the oracle tests only: they skip without Keras

RNG = np.random.default_rng(0)


def both(arch, compile_kw):
    """The same architecture in kerasx and Keras, with kerasx's initial weights copied over."""
    kx = kerasx.Sequential(arch(kerasx.layers))
    kr = keras.Sequential(arch(keras.layers))
    kr.set_weights(kx.get_weights())
    kx.compile(**compile_kw(kerasx))
    kr.compile(**compile_kw(keras))
    return kx, kr


def assert_same_weights(kx, kr, atol=1e-4):
    a, b = kx.get_weights(), kr.get_weights()
    assert len(a) == len(b)
    for i, (u, v) in enumerate(zip(a, b)):
        np.testing.assert_allclose(u, v, atol=atol, rtol=atol, err_msg=f"weight {i}")


def fit_both(kx, kr, x, y, **kw):
    kw = {"epochs": 1, "batch_size": 16, "shuffle": False, "verbose": 0, **kw}
    h1 = kx.fit(x, y, **kw)
    h2 = kr.fit(x, y, **kw)
    assert set(h1.history) == set(h2.history)
    for k in h2.history:
        np.testing.assert_allclose(h1.history[k], h2.history[k], rtol=1e-4, atol=1e-4, err_msg=k)
    assert_same_weights(kx, kr)


def test_mlp_sgd_categorical():
    x = RNG.normal(size=(50, 6)).astype("float32")  # 50 = 3 full batches + a partial one
    y = np.eye(3, dtype="float32")[RNG.integers(0, 3, 50)]
    kx, kr = both(
        lambda L: [L.Input((6,)), L.Dense(8, activation="relu"), L.Dense(3, activation="softmax")],
        lambda m: dict(optimizer=m.optimizers.SGD(0.1), loss="categorical_crossentropy", metrics=["accuracy"]))
    fit_both(kx, kr, x, y)
    np.testing.assert_allclose(kx.evaluate(x, y, verbose=0), kr.evaluate(x, y, verbose=0), rtol=1e-4)
    np.testing.assert_allclose(kx.predict(x, verbose=0), kr.predict(x, verbose=0), atol=1e-5)


def test_cnn_batchnorm_pooling_sparse():
    x = RNG.normal(size=(40, 8, 8, 2)).astype("float32")
    y = RNG.integers(0, 4, 40)
    kx, kr = both(
        lambda L: [L.Input((8, 8, 2)), L.Conv2D(4, 3, padding="same", activation="relu"),
                   L.BatchNormalization(), L.MaxPooling2D(), L.Conv2D(3, (2, 2), strides=2),
                   L.AveragePooling2D(pool_size=1), L.GlobalAveragePooling2D(), L.Dense(4, activation="softmax")],
        lambda m: dict(optimizer=m.optimizers.SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy",
                       metrics=["accuracy", "sparse_top_k_categorical_accuracy"]))
    fit_both(kx, kr, x, y)
    np.testing.assert_allclose(kx.evaluate(x, y, verbose=0), kr.evaluate(x, y, verbose=0), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_embedding_conv1d_layernorm_binary(opt):
    x = RNG.integers(0, 20, size=(36, 7))
    y = RNG.integers(0, 2, size=(36, 1)).astype("float32")
    kx, kr = both(
        lambda L: [L.Input((7,), dtype="int32"), L.Embedding(20, 5), L.Conv1D(6, 3, padding="causal"),
                   L.LayerNormalization(), L.MaxPooling1D(), L.Conv1D(4, 2, dilation_rate=1),
                   L.GlobalMaxPooling1D(), L.Dropout(0.0), L.Dense(1, activation="sigmoid")],
        lambda m: dict(optimizer=getattr(m.optimizers, opt)(0.05), loss="binary_crossentropy",
                       metrics=["accuracy"]))
    fit_both(kx, kr, x, y)


@pytest.mark.parametrize("opt", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_optimizers_through_fit(opt):
    x = RNG.normal(size=(24, 5)).astype("float32")
    y = RNG.normal(size=(24, 2)).astype("float32")
    kx, kr = both(lambda L: [L.Input((5,)), L.Dense(4, activation="tanh"), L.Dense(2)],
                  lambda m: dict(optimizer=getattr(m.optimizers, opt)(learning_rate=0.01), loss="mse",
                                 metrics=["mae"]))
    fit_both(kx, kr, x, y, epochs=2)


def test_sample_weight_and_class_weight():
    x = RNG.normal(size=(30, 4)).astype("float32")
    y = RNG.integers(0, 3, 30)
    sw = RNG.uniform(0.1, 2.0, 30).astype("float32")
    arch = lambda L: [L.Input((4,)), L.Dense(3, activation="softmax")]
    kw = lambda m: dict(optimizer=m.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy",
                        metrics=["accuracy"])
    kx, kr = both(arch, kw)
    fit_both(kx, kr, x, y, sample_weight=sw)
    kx, kr = both(arch, kw)
    fit_both(kx, kr, x, y, class_weight={0: 1.0, 1: 3.0, 2: 0.5})


def test_functional_multi_output_loss_weights():
    def build(m):
        a = m.Input((4,), name="a")
        b = m.Input((3,), name="b")
        h = m.layers.Dense(6, activation="relu", name="h")(m.layers.Concatenate()([a, b]))
        h2 = m.layers.Add()([h, m.layers.Dense(6, name="skip")(a)])
        out1 = m.layers.Dense(2, name="reg")(h2)
        out2 = m.layers.Dense(3, activation="softmax", name="cls")(h2)
        return m.Model([a, b], [out1, out2])

    kx, kr = build(kerasx), build(keras)
    kr.set_weights(kx.get_weights())
    for model, m in ((kx, kerasx), (kr, keras)):
        model.compile(optimizer=m.optimizers.SGD(0.05), loss=["mse", "sparse_categorical_crossentropy"],
                      loss_weights=[0.5, 2.0], metrics=[["mae"], ["accuracy"]])
    x = [RNG.normal(size=(20, 4)).astype("float32"), RNG.normal(size=(20, 3)).astype("float32")]
    y = [RNG.normal(size=(20, 2)).astype("float32"), RNG.integers(0, 3, 20)]
    fit_both(kx, kr, x, y, batch_size=8)
    e1 = kx.evaluate(x, y, verbose=0, return_dict=True)
    e2 = kr.evaluate(x, y, verbose=0, return_dict=True)
    assert set(e1) == set(e2)
    for k in e2:
        np.testing.assert_allclose(e1[k], e2[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_validation_split_and_validation_data_logs():
    x = RNG.normal(size=(40, 4)).astype("float32")
    y = RNG.integers(0, 2, size=(40, 1)).astype("float32")
    arch = lambda L: [L.Input((4,)), L.Dense(1, activation="sigmoid")]
    kw = lambda m: dict(optimizer=m.optimizers.SGD(0.1), loss="binary_crossentropy", metrics=["accuracy"])
    kx, kr = both(arch, kw)
    fit_both(kx, kr, x, y, validation_split=0.25, epochs=2)
    kx, kr = both(arch, kw)
    fit_both(kx, kr, x[:30], y[:30], validation_data=(x[30:], y[30:]))


def test_remaining_layers_through_fit():
    """Reshape, Flatten, Activation, the other pooling layers and merges, trained one epoch."""
    def build(m):
        L = m.layers
        a = m.Input((6, 4), name="a")
        h = L.Conv1D(4, 2, padding="same", activation="gelu")(a)
        p1 = L.GlobalAveragePooling1D()(L.AveragePooling1D(2, padding="same")(h))
        img = L.Reshape((2, 3, 4))(a)
        p2 = L.GlobalMaxPooling2D()(L.Conv2D(4, 1)(img))
        merged = [L.Subtract()([p1, p2]), L.Multiply()([p1, p2]), L.Average()([p1, p2]),
                  L.Maximum()([p1, p2]), L.Minimum()([p1, p2])]
        z = L.Activation("tanh")(L.Flatten()(L.Concatenate()(merged)))
        return m.Model(a, L.Dense(1)(L.Add()([z, z])))

    kx, kr = build(kerasx), build(keras)
    kr.set_weights(kx.get_weights())
    for model, m in ((kx, kerasx), (kr, keras)):
        model.compile(optimizer=m.optimizers.SGD(0.05), loss="huber", metrics=["mse"])
    x = RNG.normal(size=(20, 6, 4)).astype("float32")
    y = RNG.normal(size=(20, 1)).astype("float32")
    fit_both(kx, kr, x, y, batch_size=8)


@pytest.mark.parametrize("reduction,ignore_class,weighted", [
    ("sum_over_batch_size", -1, False), ("sum_over_batch_size", -1, True),
    ("sum", None, True), ("sum", 1, False),
    ("mean_with_sample_weight", None, True), ("mean_with_sample_weight", -1, True),
])
def test_loss_reduction_and_ignore_class_through_fit(reduction, ignore_class, weighted):
    """The loss's own reduction and ignore_class mask apply to the real rows of every batch
    (the last one padded), as Keras applies them to its unpadded batches."""
    x = RNG.normal(size=(50, 5)).astype("float32")
    y = RNG.integers(0, 3, 50)
    if ignore_class == -1:
        y[::4] = -1
    sw = RNG.uniform(0.2, 2.0, 50).astype("float32") if weighted else None
    kx, kr = both(
        lambda L: [L.Input((5,)), L.Dense(3, activation="softmax")],
        lambda m: dict(optimizer=m.optimizers.SGD(0.1), metrics=["sparse_categorical_accuracy"],
                       loss=m.losses.SparseCategoricalCrossentropy(reduction=reduction,
                                                                   ignore_class=ignore_class)))
    fit_both(kx, kr, x, y, epochs=2, sample_weight=sw)
    np.testing.assert_allclose(kx.evaluate(x, y, sample_weight=sw, verbose=0),
                               kr.evaluate(x, y, sample_weight=sw, verbose=0), rtol=1e-5)


def test_per_sample_loss_reduction_cannot_train():
    model = kerasx.Sequential([kerasx.layers.Input((5,)), kerasx.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=kerasx.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="none"))
    with pytest.raises(ValueError, match=r"SparseCategoricalCrossentropy.*reduction='none'"):
        model.fit(np.zeros((4, 5), "float32"), np.zeros(4, "int32"), verbose=0)


@pytest.mark.parametrize("loss", ["mse", "mae", "huber", "binary_crossentropy"])
@pytest.mark.parametrize("weighted", [False, True])
def test_rank1_predictions_with_a_padded_last_batch(loss, weighted):
    """Keras's losses reduce a rank-1 prediction over the batch itself; the padded rows of the
    last batch must not enter that mean."""

    class SqueezeX(kerasx.layers.Layer):
        def apply(self, params, state, inputs, *, training=False, rng=None):
            return inputs[:, 0], state

    class SqueezeK(keras.layers.Layer):
        def call(self, inputs):
            return inputs[:, 0]

    x = RNG.normal(size=(50, 4)).astype("float32")
    y = (RNG.uniform(size=50) > 0.5).astype("float32")
    sw = RNG.uniform(0.2, 2.0, 50).astype("float32") if weighted else None
    act = "sigmoid" if loss == "binary_crossentropy" else None
    kx = kerasx.Sequential([kerasx.layers.Input((4,)), kerasx.layers.Dense(1, activation=act),
                            SqueezeX()])
    kr = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation=act), SqueezeK()])
    kr.set_weights(kx.get_weights())
    kx.compile(optimizer=kerasx.optimizers.SGD(0.1), loss=loss)
    kr.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    fit_both(kx, kr, x, y, epochs=2, sample_weight=sw)
    np.testing.assert_allclose(kx.evaluate(x, y, sample_weight=sw, verbose=0),
                               kr.evaluate(x, y, sample_weight=sw, verbose=0), rtol=1e-5)


def test_train_test_predict_on_batch():
    kx, kr = both(
        lambda L: [L.Input((4,)), L.Dense(8, activation="relu"), L.Dropout(0.0),
                   L.Dense(3, activation="softmax")],
        lambda m: dict(optimizer=m.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                       metrics=["accuracy"]))
    for step in range(3):
        x = RNG.normal(size=(16, 4)).astype("float32")
        y = RNG.integers(0, 3, 16)
        sw = RNG.uniform(0.2, 2.0, 16).astype("float32")
        np.testing.assert_allclose(kx.train_on_batch(x, y, sample_weight=sw),
                                   kr.train_on_batch(x, y, sample_weight=sw), rtol=1e-5)
    assert_same_weights(kx, kr, atol=1e-5)
    cw = {0: 1.0, 1: 2.0, 2: 0.5}
    np.testing.assert_allclose(kx.train_on_batch(x, y, class_weight=cw),
                               kr.train_on_batch(x, y, class_weight=cw), rtol=1e-5)
    ours = kx.test_on_batch(x, y, return_dict=True)
    theirs = kr.test_on_batch(x, y, return_dict=True)
    assert set(ours) == set(theirs)
    for key in theirs:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, err_msg=key)
    np.testing.assert_allclose(kx.predict_on_batch(x), kr.predict_on_batch(x), atol=1e-6)
    with pytest.raises(ValueError, match="sample_weight.*class_weight"):
        kx.train_on_batch(x, y, sample_weight=sw, class_weight=cw)
