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
