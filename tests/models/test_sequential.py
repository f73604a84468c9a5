import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import kerasx
from kerasx import layers
from kerasx.models import Sequential


def mlp(**kw):
    return Sequential([layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dense(3)], **kw)


def test_names_are_unique_within_a_model_and_layers_listed():
    model = mlp()
    assert [l.name for l in model.layers] == ["dense", "dense_1"]
    assert model.get_layer("dense_1") is model.layers[1]
    assert model.get_layer(index=0) is model.layers[0]
    with pytest.raises(ValueError, match="No layer named 'nope'.*\\['dense', 'dense_1'\\]"):
        model.get_layer("nope")


def test_params_are_readable_dicts_in_keras_layout():
    model = mlp()
    shapes = jax.tree.map(jnp.shape, model.params)
    assert shapes == {"dense": {"kernel": (4, 8), "bias": (8,)}, "dense_1": {"kernel": (8, 3), "bias": (3,)}}
    assert model.count_params() == 4 * 8 + 8 + 8 * 3 + 3
    assert [w.shape for w in model.get_weights()] == [(4, 8), (8,), (8, 3), (3,)]


def test_add_and_input_forms_agree():
    a = Sequential()
    a.add(kerasx.Input((4,)))
    a.add(layers.Dense(2))
    b = Sequential([layers.Dense(2, input_shape=(4,))])
    assert jax.tree.map(jnp.shape, a.params) == jax.tree.map(jnp.shape, b.params)


def test_lazy_build_on_first_data():
    model = Sequential([layers.Dense(5), layers.Dense(2)])
    assert not model.built
    y = model.predict(np.ones((7, 3), np.float32), verbose=0)
    assert y.shape == (7, 2) and model.built
    assert model.params["dense"]["kernel"].shape == (3, 5)


def test_unbuilt_model_explains_how_to_build():
    with pytest.raises(ValueError, match="does not know its input shape"):
        Sequential([layers.Dense(2)]).params


def test_pure_init_apply_under_jit_grad_vmap():
    model = mlp()
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    params, state = model.init(jax.random.key(0), x[:1])
    y, state2 = jax.jit(lambda p, s, x: model.apply(p, s, x))(params, state, x)
    assert y.shape == (6, 3)

    def loss(p, xi):
        out, _ = model.apply(p, state, xi[None])
        return jnp.sum(out ** 2)

    per_example = jax.vmap(jax.grad(loss), in_axes=(None, 0))(params, x)
    assert per_example["dense"]["kernel"].shape == (6, 4, 8)
    full = jax.grad(lambda p: sum(loss(p, xi) for xi in x))(params)
    np.testing.assert_allclose(per_example["dense"]["kernel"].sum(0), full["dense"]["kernel"], rtol=1e-4, atol=1e-5)


def test_assigning_params_changes_predict():
    model = mlp()
    x = np.ones((2, 4), np.float32)
    zeros = jax.tree.map(jnp.zeros_like, model.params)
    model.params = zeros
    np.testing.assert_array_equal(model.predict(x, verbose=0), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="kernel.*shape"):
        model.params = {"dense": {"kernel": jnp.zeros((5, 8)), "bias": jnp.zeros(8)},
                        "dense_1": zeros["dense_1"]}


def test_wrong_input_shape_names_layer_and_shapes():
    model = mlp()
    with pytest.raises(ValueError, match="layer 'dense'.*expected shape=\\(None, 4\\), found shape=\\(2, 5\\)"):
        model.predict(np.ones((2, 5), np.float32), verbose=0)


def test_set_weights_checks_length_and_shapes():
    model = mlp()
    w = model.get_weights()
    with pytest.raises(ValueError, match="expects a list of 4 weights.*received 3"):
        model.set_weights(w[:3])
    bad = list(w)
    bad[2] = np.zeros((3, 8))
    with pytest.raises(ValueError, match="dense_1.*'kernel' has shape \\(8, 3\\).*\\(3, 8\\)"):
        model.set_weights(bad)
    new = [np.full(a.shape, 0.5, np.float32) for a in w]
    model.set_weights(new)
    np.testing.assert_array_equal(model.params["dense_1"]["kernel"], new[2])


def test_summary_table(capsys):
    model = mlp()
    model.summary()
    out = capsys.readouterr().out
    assert 'Model: "sequential"' in out
    assert "dense (Dense)" in out and "(None, 8)" in out and "(None, 3)" in out
    assert "Total params: 67" in out and "Trainable params: 67" in out
    model.layers[0].trainable = False
    model.summary()
    out = capsys.readouterr().out
    assert "Trainable params: 27" in out and "Non-trainable params: 40" in out


def test_model_called_on_arrays_uses_current_params():
    model = mlp()
    x = np.ones((2, 4), np.float32)
    np.testing.assert_allclose(np.asarray(model(x)), model.predict(x, verbose=0), rtol=1e-6)


def test_pop_and_add_keep_existing_weights():
    model = mlp()
    k = np.asarray(model.params["dense"]["kernel"])
    model.pop()
    model.add(layers.Dense(5))
    np.testing.assert_array_equal(model.params["dense"]["kernel"], k)
    assert model.params["dense_1"]["kernel"].shape == (8, 5)


def test_unknown_sequence_length_builds_valid_convolutions():
    import kerasx
    from kerasx import layers
    tokens = kerasx.Input((None,), dtype="int32")
    h = layers.Conv1D(8, 5)(layers.Embedding(10, 4)(tokens))
    assert h.shape == (None, None, 8)
    model = kerasx.Model(tokens, layers.GlobalMaxPooling1D()(h))
    assert model.predict(np.ones((2, 7), "int32"), verbose=0).shape == (2, 8)
    seq = kerasx.Sequential([kerasx.Input((None, 3)), layers.Conv1D(4, 3),
                             layers.GlobalAveragePooling1D()])
    lines = []
    seq.summary(print_fn=lines.append)
    assert any("(None, None, 4)" in line for line in lines)
    seq.compile("sgd", "mse")
    seq.fit(np.ones((8, 12, 3), "float32"), np.ones((8, 4), "float32"), verbose=0)
    assert seq.predict(np.ones((2, 20, 3), "float32"), verbose=0).shape == (2, 4)


def test_build_with_unknown_dimensions_keeps_them_unknown():
    """`model.build((None, None))` (Keras's masking guide): any sequence length afterwards."""
    model = Sequential([layers.Embedding(50, 4, mask_zero=True), layers.LSTM(3)])
    model.build((None, None))
    assert model.input_shape == (None, None) and model.output_shape == (None, 3)
    for length in (5, 9):
        assert model.predict(np.ones((2, length), "int32"), verbose=0).shape == (2, 3)


def test_input_shape_and_output_shape_as_keras():
    model = Sequential([kerasx.Input((6,)), layers.Dense(2)])
    assert model.input_shape == (None, 6) and model.output_shape == (None, 2)
    with pytest.raises(AttributeError):
        Sequential([layers.Dense(2)]).output_shape


def test_other_sequence_lengths_than_the_built_one_like_keras():
    """Keras's Sequential checks the rank and the feature axis of its input only (its first
    layer's input spec): built for (or declared with) one sequence length, it runs on others.
    A layer holding a Sequential, called on an Input of unknown length (the keras-io
    Transformer examples' `dense_proj`), builds it at a stand-in length and runs it on others."""
    x = np.ones((2, 8, 16), np.float32)
    lazy = Sequential([layers.Dense(4)])
    lazy(x)
    assert lazy(np.ones((2, 10, 16), np.float32)).shape == (2, 10, 4)
    declared = Sequential([kerasx.Input((8, 16)), layers.Dense(4)])
    assert declared(np.ones((2, 10, 16), np.float32)).shape == (2, 10, 4)
    with pytest.raises(ValueError, match="expected shape=\\(None, 8, 16\\), found shape=\\(2, 10, 15\\)"):
        declared(np.ones((2, 10, 15), np.float32))

    class Block(layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense_proj = Sequential([layers.Dense(8, activation="relu"), layers.Dense(16)])

        def call(self, inputs):
            return inputs + self.dense_proj(inputs)

    inputs = kerasx.Input((None, 16))
    model = kerasx.Model(inputs, Block()(inputs))
    assert model.output_shape == (None, None, 16)
    assert model.predict(x, verbose=0).shape == (2, 8, 16)
    assert model.predict(np.ones((2, 5, 16), np.float32), verbose=0).shape == (2, 5, 16)
