"""The Keras object model over the pure core: layers that own their weights, the layer tree,
variables, eager calls, freezing, graph attributes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import layers
from kerasx.layers import _tree


def _x(n=8, d=3, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)).astype("float32")


def test_eager_call_builds_and_uses_own_weights():
    dense = layers.Dense(4)
    y = dense(np.ones((2, 3), np.float32))
    assert y.shape == (2, 4) and dense.built
    np.testing.assert_allclose(y, np.ones((2, 3)) @ dense.kernel.numpy() + dense.bias.numpy(),
                               rtol=1e-6)
    # a second call reuses the same weights
    np.testing.assert_allclose(dense(np.ones((2, 3), np.float32)), y)


def test_layer_weights_are_variables_in_keras_order():
    bn = layers.BatchNormalization()
    bn(np.ones((2, 3), np.float32))
    assert [v.name for v in bn.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [v.name for v in bn.trainable_weights] == ["gamma", "beta"]
    assert [v.name for v in bn.non_trainable_weights] == ["moving_mean", "moving_variance"]
    v = bn.moving_mean
    assert v.shape == (3,) and v.dtype == jnp.float32 and not v.trainable and v.path == \
        "batch_normalization/moving_mean"
    v.assign(np.full(3, 2.0))
    np.testing.assert_array_equal(bn.get_weights()[2], np.full(3, 2.0))
    with pytest.raises(ValueError, match="moving_mean.*shape \\(3,\\).*\\(4,\\)"):
        v.assign(np.zeros(4))


def test_set_weights_on_a_layer_checks_count_and_shapes():
    dense = layers.Dense(2)
    dense(np.ones((1, 3), np.float32))
    with pytest.raises(ValueError, match="expects a list of 2 weights.*received 1"):
        dense.set_weights([np.zeros((3, 2))])
    with pytest.raises(ValueError, match="weight 'kernel' has shape \\(3, 2\\).*\\(4, 2\\)"):
        dense.set_weights([np.zeros((4, 2)), np.zeros(2)])
    np.testing.assert_array_equal(dense.get_weights()[1], dense.bias.numpy())  # unchanged
    dense.set_weights([np.ones((3, 2)), np.zeros(2)])
    np.testing.assert_array_equal(dense(np.ones((1, 3), np.float32)), [[3.0, 3.0]])


def test_model_weights_live_on_layers_and_training_updates_them():
    model = kerasx.Sequential([kerasx.Input((3,)), layers.Dense(4, activation="relu"),
                               layers.Dense(1)])
    first = model.layers[0]
    assert len(model.weights) == 4 and len(model.trainable_weights) == 4
    before = first.kernel.numpy().copy()
    model.compile("sgd", "mse")
    model.fit(_x(), np.ones((8, 1), np.float32), epochs=2, verbose=0)
    assert not np.allclose(before, first.kernel.numpy())
    np.testing.assert_array_equal(first.get_weights()[0], model.get_weights()[0])
    # a callback-free assignment on the layer is what the model predicts with
    first.kernel.assign(np.zeros((3, 4)))
    first.bias.assign(np.zeros(4))
    np.testing.assert_allclose(model.predict(_x(), verbose=0),
                               np.broadcast_to(model.layers[1].bias.numpy(), (8, 1)), atol=1e-6)


def test_same_layer_in_two_models_is_the_same_weights():
    shared = layers.Dense(2, name="shared")
    a = kerasx.Sequential([kerasx.Input((3,)), shared])
    b = kerasx.Sequential([kerasx.Input((3,)), shared, layers.Activation("relu")])
    a.build()
    b.build()
    shared.set_weights([np.eye(3, 2), np.zeros(2)])
    x = _x()
    np.testing.assert_allclose(a.predict(x, verbose=0), x[:, :2], rtol=1e-6)
    np.testing.assert_allclose(b.predict(x, verbose=0), np.maximum(x[:, :2], 0), rtol=1e-6)


def test_build_adopts_trained_submodel_weights_and_init_creates_fresh_ones():
    encoder = kerasx.Sequential([kerasx.Input((3,)), layers.Dense(2)], name="encoder")
    encoder.compile("sgd", "mse")
    encoder.fit(_x(), np.ones((8, 2), np.float32), epochs=3, verbose=0)
    trained = encoder.get_weights()
    inputs = kerasx.Input((3,))
    autoencoder = kerasx.Model(inputs, layers.Dense(3, name="decoder")(encoder(inputs)))
    for ours, theirs in zip(autoencoder.get_layer("encoder").get_weights(), trained):
        np.testing.assert_array_equal(ours, theirs)
    # training the outer model trains the encoder object the user holds
    autoencoder.compile("sgd", "mse")
    autoencoder.fit(_x(), _x(), epochs=1, verbose=0)
    assert not np.allclose(encoder.get_weights()[0], trained[0])
    np.testing.assert_array_equal(encoder.get_weights()[0],
                                  autoencoder.get_weights()[0])
    # the pure init never adopts: fresh weights from the key
    params, _ = autoencoder.init(jax.random.key(1), jnp.ones((1, 3)))
    assert not np.allclose(params["encoder"]["dense"]["kernel"], encoder.get_weights()[0])


def test_shared_layer_with_incompatible_inputs_is_a_clear_error():
    shared = layers.Dense(2, name="shared")
    kerasx.Sequential([kerasx.Input((3,)), shared]).build()
    other = kerasx.Sequential([kerasx.Input((5,)), shared])
    with pytest.raises(ValueError, match="Layer 'sequential.*/shared' \\(Dense\\) already holds weights.*"
                                         "kernel: \\(3, 2\\).*kernel: \\(5, 2\\)"):
        other.build()
    np.testing.assert_array_equal(shared.kernel.shape, (3, 2))  # nothing changed


def test_trainable_false_reaches_inner_layers_and_freezes_batchnorm():
    base = kerasx.Sequential([kerasx.Input((3,)), layers.Dense(4), layers.BatchNormalization()],
                             name="base")
    base.trainable = False
    assert all(not l.trainable for l in base.layers)
    inputs = kerasx.Input((3,))
    model = kerasx.Model(inputs, layers.Dense(1, name="head")(base(inputs)))
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 6
    frozen = base.get_weights()
    model.compile("sgd", "mse")
    model.fit(_x(), np.ones((8, 1), np.float32), epochs=2, verbose=0)
    for before, after in zip(frozen, base.get_weights()):  # moving statistics included
        np.testing.assert_array_equal(before, after)
    base.trainable = True
    assert all(l.trainable for l in base.layers) and len(model.trainable_weights) == 6


def test_trainable_false_on_an_inner_layer_is_honoured():
    model = kerasx.Sequential([kerasx.Input((3,)), layers.Dense(4), layers.Dense(1)])
    model.layers[0].trainable = False
    mask = _tree.trainable_mask(model, model.params)
    assert mask["dense"] == {"kernel": False, "bias": False}
    assert mask["dense_1"] == {"kernel": True, "bias": True}
    before = model.layers[0].get_weights()
    model.compile("sgd", "mse")
    model.fit(_x(), np.ones((8, 1), np.float32), epochs=1, verbose=0)
    np.testing.assert_array_equal(before[0], model.layers[0].get_weights()[0])


def test_eager_training_call_updates_batchnorm_state_and_dropout_draws():
    bn = layers.BatchNormalization(momentum=0.5)
    x = _x()
    bn(x)  # inference: no update
    np.testing.assert_array_equal(bn.moving_mean.numpy(), np.zeros(3))
    bn(x, training=True)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.5 * x.mean(0), rtol=1e-5)
    drop = layers.Dropout(0.5)
    out = drop(np.ones((100, 10), np.float32), training=True)
    assert 0.3 < float((np.asarray(out) == 0).mean()) < 0.7


def test_graph_attributes_for_feature_extraction():
    inputs = kerasx.Input((3,), name="x")
    h = layers.Dense(4, name="hidden")(inputs)
    base = kerasx.Model(inputs, layers.Dense(2, name="out")(h))
    assert base.inputs == [inputs] and base.get_layer("hidden").output is h
    assert base.get_layer("hidden").input is inputs
    features = kerasx.Model(base.inputs, base.get_layer("hidden").output)
    x = _x()
    np.testing.assert_allclose(features.predict(x, verbose=0),
                               x @ base.get_layer("hidden").kernel.numpy(), rtol=1e-5, atol=1e-6)
    seq = kerasx.Sequential([kerasx.Input((3,)), layers.Dense(4), layers.Dense(2)])
    extractor = kerasx.Model(seq.inputs, seq.layers[0].output)
    assert extractor.predict(x, verbose=0).shape == (8, 4)
    np.testing.assert_array_equal(extractor.get_weights()[0], seq.get_weights()[0])
    with pytest.raises(AttributeError, match="never been called"):
        layers.Dense(2).output


def test_functional_node_training_false_pins_inference():
    base = kerasx.Sequential([kerasx.Input((3,)), layers.Dropout(0.9)], name="base")
    inputs = kerasx.Input((3,))
    model = kerasx.Model(inputs, base(inputs, training=False))
    x = np.ones((4, 3), np.float32)
    params, state = model.params, model.state
    y, _ = model.apply(params, state, x, training=True, rng=jax.random.key(0))
    np.testing.assert_array_equal(y, x)
    config = model.get_config()
    assert config["layers"][1]["inbound_nodes"][0]["kwargs"] == {"training": False}
    clone = kerasx.Model.from_config(config)
    y2, _ = clone.apply(clone.params, clone.state, x, training=True, rng=jax.random.key(0))
    np.testing.assert_array_equal(y2, x)


def test_summary_expands_nested_models_and_shows_trainable():
    base = kerasx.Sequential([kerasx.Input((4,)), layers.Dense(3), layers.Dense(2)], name="base")
    base.trainable = False
    x = kerasx.Input((4,))
    model = kerasx.Model(x, layers.Dense(1, name="head")(base(x)))
    lines = []
    model.summary(print_fn=lines.append, expand_nested=True, show_trainable=True)
    rows = [line.split() for line in lines if "(" in line and ")" in line and "Model" not in line]
    names = [r[0] for r in rows if r[0] not in ("Layer", "Total", "Trainable", "Non-trainable")]
    assert names == ["input_layer", "base", "dense", "dense_1", "head"]
    flags = {r[0]: r[-1] for r in rows if r[-1] in ("Y", "N")}
    assert flags == {"input_layer": "Y", "base": "N", "dense": "N", "dense_1": "N", "head": "Y"}
    assert any(line.startswith("  dense (Dense)") for line in lines)


class ReadsMissingWeight(layers.Layer):
    def call(self, x):
        return x * self.scale


def test_call_reading_a_weight_build_did_not_create_says_where_to_create_it():
    with pytest.raises(AttributeError, match="no attribute 'scale'.*create it in `build"):
        ReadsMissingWeight()(np.ones((2, 3), np.float32))
