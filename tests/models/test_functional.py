import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import layers


def test_multi_input_multi_output_with_dicts():
    a = kerasx.Input((4,), name="a")
    b = kerasx.Input((3,), name="b")
    h = layers.Dense(8, activation="relu")(layers.Concatenate()([a, b]))
    model = kerasx.Model({"a": a, "b": b}, {"cls": layers.Dense(2, name="cls")(h),
                                              "reg": layers.Dense(1, name="reg")(h)})
    assert model.output_names == ["cls", "reg"]
    x = {"a": np.ones((5, 4), np.float32), "b": np.ones((5, 3), np.float32)}
    out = model.predict(x, verbose=0)
    assert set(out) == {"cls", "reg"} and out["cls"].shape == (5, 2) and out["reg"].shape == (5, 1)


def test_list_inputs_also_accept_dict_by_input_name():
    a = kerasx.Input((4,), name="a")
    b = kerasx.Input((4,), name="b")
    model = kerasx.Model([a, b], [layers.Add()([a, b]), layers.Dense(2)(a)])
    xa, xb = np.ones((3, 4), np.float32), 2 * np.ones((3, 4), np.float32)
    y1, y2 = model.predict([xa, xb], verbose=0)
    np.testing.assert_allclose(y1, 3 * np.ones((3, 4)))
    z1, _ = model.predict({"a": xa, "b": xb}, verbose=0)
    np.testing.assert_allclose(z1, y1)


def test_shared_layer_shares_weights():
    shared = layers.Dense(3, name="shared")
    a, b = kerasx.Input((4,)), kerasx.Input((4,))
    model = kerasx.Model([a, b], layers.Add()([shared(a), shared(b)]))
    assert [l.name for l in model.layers] == ["input_layer", "input_layer_1", "shared", "add"]
    assert set(model.params) == {"input_layer", "input_layer_1", "shared", "add"}
    assert len(model.get_weights()) == 2
    x = np.random.default_rng(0).normal(size=(2, 4)).astype("float32")
    y = model.predict([x, x], verbose=0)
    single = np.asarray(x @ model.params["shared"]["kernel"] + model.params["shared"]["bias"])
    np.testing.assert_allclose(y, 2 * single, rtol=1e-5, atol=1e-6)


def test_model_used_as_layer_nests_params():
    inner = kerasx.Sequential([layers.Dense(4, activation="relu", input_shape=(3,)), layers.Dense(2)], name="inner")
    x = kerasx.Input((3,))
    model = kerasx.Model(x, layers.Activation("softmax")(inner(x)))
    assert model.params["inner"]["dense"]["kernel"].shape == (3, 4)
    xs = np.ones((2, 3), np.float32)
    out = model.predict(xs, verbose=0)
    inner.params = model.params["inner"]
    np.testing.assert_allclose(out, jax.nn.softmax(inner.predict(xs, verbose=0)), rtol=1e-5)
    assert [type(l).__name__ for l in model.layers] == ["InputLayer", "Sequential", "Activation"]


def test_functional_pure_apply_and_jit():
    x = kerasx.Input((5,))
    model = kerasx.Model(x, layers.Dense(2)(layers.Dense(4)(x)))
    params, state = model.init(jax.random.key(1), np.ones((1, 5), np.float32))
    y, _ = jax.jit(model.apply)(params, state, jnp.ones((3, 5)))
    assert y.shape == (3, 2)


def test_functional_wrong_input_shape_error():
    x = kerasx.Input((5,), name="features")
    model = kerasx.Model(x, layers.Dense(2)(x))
    with pytest.raises(ValueError, match="Input 'features'.*expected shape=\\(None, 5\\), found shape=\\(2, 4\\)"):
        model.predict(np.ones((2, 4), np.float32), verbose=0)


def test_symbolic_shape_mismatch_names_layer():
    a, b = kerasx.Input((4,)), kerasx.Input((5,))
    with pytest.raises(ValueError, match="add"):
        layers.Add()([a, b])


def test_outputs_must_come_from_given_inputs():
    a, b = kerasx.Input((4,)), kerasx.Input((4,))
    with pytest.raises(ValueError, match="not in `inputs`"):
        kerasx.Model(a, layers.Add()([a, b]))


def test_summary_lists_input_layers(capsys):
    x = kerasx.Input((4,))
    kerasx.Model(x, layers.Dense(2)(x)).summary()
    out = capsys.readouterr().out
    assert "input_layer (InputLayer)" in out and "(None, 4)" in out and "Total params: 10" in out


def _ticket_model(lib):
    """Keras's functional guide: three inputs, one of them joining the graph late."""
    title, body = lib.Input(shape=(None,), name="title"), lib.Input(shape=(None,), name="body")
    tags = lib.Input(shape=(3,), name="tags")
    t = lib.layers.LSTM(4)(lib.layers.Embedding(10, 2)(title))
    b = lib.layers.LSTM(2)(lib.layers.Embedding(10, 2)(body))
    x = lib.layers.concatenate([t, b, tags])
    return lib.Model([title, body, tags], [lib.layers.Dense(1, name="priority")(x),
                                           lib.layers.Dense(2, name="department")(x)])


def test_layers_and_weights_follow_keras_order_by_depth():
    """Keras orders `model.layers` (and so `get_weights()`) deepest first, not by first use:
    the 'tags' input, one step from the concatenation, comes after both LSTMs."""
    from keras_oracle import require_keras

    keras = require_keras()
    ours, theirs = _ticket_model(kerasx), _ticket_model(keras)
    assert [type(l).__name__ for l in ours.layers] == [type(l).__name__ for l in theirs.layers]
    assert [l.name for l in ours.layers][:2] == ["title", "body"] and ours.layers[6].name == "tags"
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in theirs.weights]
    theirs.set_weights(ours.get_weights())
    rng = np.random.default_rng(0)
    data = [rng.integers(0, 10, (2, 5)), rng.integers(0, 10, (2, 3)),
            rng.random((2, 3), "float32")]
    for a, b in zip(ours.predict(data, verbose=0), theirs.predict(data, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


def test_input_shape_and_output_shape_as_keras():
    single = kerasx.Model(*(lambda i: (i, layers.Dense(3)(i)))(kerasx.Input((4,))))
    assert single.input_shape == (None, 4) and single.output_shape == (None, 3)
    model = _ticket_model(kerasx)
    assert model.input_shape == [(None, None), (None, None), (None, 3)]
    assert model.output_shape == [(None, 1), (None, 2)]


def test_from_config_of_custom_layer_whose_config_has_no_name():
    """A custom `get_config` that returns only the constructor's arguments (Keras's guide):
    `from_config` must not hand the layer a `name` its `__init__` does not take."""

    class CustomDense(layers.Layer):
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units))

        def call(self, inputs):
            return inputs @ self.w

        def get_config(self):
            return {"units": self.units}

    inputs = kerasx.Input((4,))
    model = kerasx.Model(inputs, CustomDense(10)(inputs))
    new_model = kerasx.Model.from_config(model.get_config(),
                                         custom_objects={"CustomDense": CustomDense})
    new_model.set_weights(model.get_weights())
    x = np.ones((2, 4), "float32")
    np.testing.assert_allclose(new_model(x), model(x), rtol=1e-6)
