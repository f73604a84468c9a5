import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kerasx.layers import _merging as m
from kerasx.layers._base import KerasTensor
from kerasx.layers._core import Dense, Input
from harness import keras, run_layer_test


def x_of(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def spec(shape):
    return jax.ShapeDtypeStruct(shape, jnp.float32)


ELEMENTWISE = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]

SHAPE_CASES = [  # (input shapes, output shape)
    ([(4, 5), (4, 5), (4, 5)], (4, 5)),  # Subtract uses the first two
    ([(2, 3, 4), (2, 1, 4)], (2, 3, 4)),  # a size-1 axis broadcasts
    ([(2, 4), (2, 3, 4)], (2, 3, 4)),  # lower rank: new axes right after the batch axis
]


@pytest.mark.parametrize("shapes,out_shape", SHAPE_CASES, ids=lambda s: str(s).replace(" ", ""))
@pytest.mark.parametrize("cls", ELEMENTWISE)
def test_elementwise_merges_match_keras(cls, shapes, out_shape):
    if cls == "Subtract":
        shapes = shapes[:2]
    k = keras()
    xs = [x_of(s, seed=i) for i, s in enumerate(shapes)]
    y, params, state = run_layer_test(getattr(m, cls)(), xs, getattr(k.layers, cls)(),
                                      expected_num_weights=0)
    assert y.shape == out_shape
    assert params == {} and state == {}


@pytest.mark.parametrize("axis,shapes", [
    (-1, [(2, 3), (2, 4)]),
    (1, [(2, 3, 4), (2, 5, 4), (2, 1, 4)]),
    (-2, [(2, 3, 4), (2, 2, 4)]),
    (0, [(2, 3), (5, 3)]),
])
def test_concatenate_matches_keras(axis, shapes):
    k = keras()
    xs = [x_of(s, seed=i) for i, s in enumerate(shapes)]
    y, _, _ = run_layer_test(m.Concatenate(axis=axis), xs, k.layers.Concatenate(axis=axis))
    assert y.shape == np.concatenate(xs, axis=axis).shape


def test_values():
    a, b, c = (jnp.full((2, 2), v) for v in (1.0, 4.0, -2.0))
    np.testing.assert_array_equal(m.add([a, b, c]), 3.0)
    np.testing.assert_array_equal(m.subtract([a, b]), -3.0)
    np.testing.assert_array_equal(m.multiply([a, b, c]), -8.0)
    np.testing.assert_array_equal(m.average([a, b, c]), 1.0)
    np.testing.assert_array_equal(m.maximum([a, b, c]), 4.0)
    np.testing.assert_array_equal(m.minimum([a, b, c]), -2.0)
    np.testing.assert_array_equal(m.concatenate([a, b], axis=0), jnp.concatenate([a, b], 0))


@pytest.mark.parametrize("fn,expected", [
    (m.add, (None, 4, 8)), (m.subtract, (None, 4, 8)), (m.multiply, (None, 4, 8)),
    (m.average, (None, 4, 8)), (m.maximum, (None, 4, 8)), (m.minimum, (None, 4, 8)),
])
def test_functional_forms_on_symbolic_tensors(fn, expected):
    a, b = Input((4, 8)), Input((8,))
    out = fn([a, b], name="merged")
    assert isinstance(out, KerasTensor) and out.shape == expected
    assert out.node.layer.name == "merged"
    assert out.node.input_tensors == [a, b]


def test_concatenate_functional_and_operator():
    a, b = Input((4, 8)), Input((4, 3))
    assert m.concatenate([a, b]).shape == (None, 4, 11)
    assert m.concatenate([a, a], axis=1).shape == (None, 8, 8)
    assert m.Concatenate(axis=-2)([a, a]).shape == (None, 8, 8)
    assert isinstance((a + a).node.layer, m.Add) and (a + a).shape == (None, 4, 8)
    h = Dense(8)(a)
    assert m.add([h, a]).shape == (None, 4, 8)


def test_shape_mismatch_errors_name_layer_and_shapes():
    with pytest.raises(ValueError, match="'add'.*Add.*incompatible shapes.*\\[\\(2, 3\\), \\(2, 4\\)\\]"):
        m.Add().init(jax.random.key(0), [spec((2, 3)), spec((2, 4))])
    with pytest.raises(ValueError, match="'add'.*different batch sizes.*\\[\\(2, 3\\), \\(5, 3\\)\\]"):
        m.Add().apply({}, {}, [jnp.ones((2, 3)), jnp.ones((5, 3))])
    with pytest.raises(ValueError, match="'c'.*Concatenate.*except for the concatenation axis.*"
                                         "\\[\\(2, 3, 4\\), \\(2, 5, 4\\)\\]"):
        m.Concatenate(name="c").init(jax.random.key(0), [spec((2, 3, 4)), spec((2, 5, 4))])
    with pytest.raises(ValueError, match="same rank.*\\[\\(2, 3\\), \\(2, 3, 1\\)\\]"):
        m.Concatenate().init(jax.random.key(0), [spec((2, 3)), spec((2, 3, 1))])
    with pytest.raises(ValueError, match="axis=2 is out of bounds"):
        m.Concatenate(axis=2).init(jax.random.key(0), [spec((2, 3)), spec((2, 3))])
    # symbolic calls report the layer and the input shapes
    with pytest.raises(ValueError, match="(?s)'multiply'.*incompatible.*\\(None, 4\\)', '\\(None, 5\\)"):
        m.multiply([Input((4,)), Input((5,))])
    with pytest.raises(ValueError, match="(?s)'concatenate'.*\\(None, 4, 2\\)', '\\(None, 5, 3\\)"):
        m.concatenate([Input((4, 2)), Input((5, 3))])


def test_input_count_errors():
    with pytest.raises(ValueError, match="'subtract'.*exactly 2 inputs.*3 inputs"):
        m.Subtract().init(jax.random.key(0), [spec((2, 3))] * 3)
    with pytest.raises(ValueError, match="'add'.*at least 1 input.*Received 0"):
        m.Add().init(jax.random.key(0), [])
    with pytest.raises(ValueError, match="'maximum'.*list of tensors"):
        m.Maximum().init(jax.random.key(0), spec((2, 3)))
    with pytest.raises(ValueError, match="`axis` of layer 'concatenate'.*axis='x'"):
        m.Concatenate(axis="x")


def test_merge_under_grad_and_config():
    a, b = jnp.ones((2, 3)), jnp.full((2, 3), 2.0)
    g = jax.grad(lambda u: m.Multiply().apply({}, {}, [u, b])[0].sum())(a)
    np.testing.assert_array_equal(g, b)
    assert m.Concatenate(axis=1, name="cat").get_config()["axis"] == 1


# ------------------------------------------------------------------------------ one input (Keras 3 parity)
SINGLE = ["Add", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"]


@pytest.mark.parametrize("shape", [(2, 3), (2, 3, 4)])
@pytest.mark.parametrize("cls", SINGLE)
def test_single_input_merges_match_keras(cls, shape):
    # Keras 3 accepts a list of one tensor for every merge layer but Subtract: it returns it.
    k = keras()
    x = x_of(shape)
    y, params, state = run_layer_test(getattr(m, cls)(), [x], getattr(k.layers, cls)(),
                                      expected_num_weights=0)
    np.testing.assert_array_equal(y, x)
    assert params == {} and state == {}
    np.testing.assert_array_equal(getattr(m, cls.lower())([x]), x)  # functional form, arrays


@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_single_input_concatenate_axes_match_keras(axis):
    k = keras()
    x = x_of((2, 3, 4))
    y, _, _ = run_layer_test(m.Concatenate(axis=axis), (x,), k.layers.Concatenate(axis=axis))
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("cls", SINGLE)
def test_single_int_input_keeps_keras_dtype(cls):
    k = keras()
    x = np.arange(6, dtype="int32").reshape(2, 3)
    y, _ = getattr(m, cls)().apply({}, {}, [jnp.asarray(x)])
    y_keras = np.asarray(getattr(k.layers, cls)()([x]))
    assert y.dtype == y_keras.dtype  # Average divides: float32; the others keep int32
    np.testing.assert_array_equal(y, y_keras)


@pytest.mark.parametrize("cls", SINGLE)
def test_single_symbolic_input(cls):
    a = Input((4, 8))
    for out in (getattr(m, cls)(name="one")([a]), getattr(m, cls.lower())([a], name="one")):
        assert isinstance(out, KerasTensor) and out.shape == (None, 4, 8)
        assert out.node.layer.name == "one" and out.node.input_tensors == [a]


def test_subtract_needs_exactly_two_inputs_like_keras():
    k = keras()
    x = x_of((2, 3))
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        k.layers.Subtract()([x])
    msg = "'subtract'.*Subtract.*exactly 2 inputs.*Received 1 input of shapes \\[\\(2, 3\\)\\]"
    with pytest.raises(ValueError, match=msg):
        m.Subtract().init(jax.random.key(0), [spec((2, 3))])
    with pytest.raises(ValueError, match=msg):
        m.Subtract().apply({}, {}, [jnp.asarray(x)])
    with pytest.raises(ValueError, match=msg):
        m.subtract([x])
    with pytest.raises(ValueError, match="(?s)'subtract'.*exactly 2 inputs.*Received 1 input.*None, 3"):
        m.subtract([Input((3,))])
    with pytest.raises(ValueError, match="'subtract'.*exactly 2 inputs.*Received 0 inputs"):
        m.Subtract()([])


@pytest.mark.parametrize("cls", ELEMENTWISE[:1] + SINGLE[1:])
def test_zero_inputs_error_names_layer(cls):
    # Keras 3 fails on [] with an accidental TypeError ('NoneType' object is not subscriptable);
    # kerasx raises a ValueError that says what was expected.
    name = "merge_0"
    msg = f"'{name}' \\({cls}\\) should be called on a list of at least 1 input. Received 0 inputs"
    layer = getattr(m, cls)(name=name)
    with pytest.raises(ValueError, match=msg):
        layer.init(jax.random.key(0), [])
    with pytest.raises(ValueError, match=msg):
        layer.apply({}, {}, [])
    with pytest.raises(ValueError, match=msg):
        layer([])  # a symbolic call on an empty list
    with pytest.raises(ValueError, match=msg):
        getattr(m, cls.lower())([], name=name)


@pytest.mark.parametrize("cls", SINGLE)
def test_single_input_config_round_trip(cls):
    kwargs = {"axis": 1} if cls == "Concatenate" else {}
    layer = getattr(m, cls)(name="one", **kwargs)
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    x = x_of((2, 3))
    np.testing.assert_array_equal(clone.apply({}, {}, [jnp.asarray(x)])[0], x)
    # a config written by Keras 3 loads too, and the layer takes one input
    k = keras()
    from_keras = type(layer).from_config(getattr(k.layers, cls)(name="k", **kwargs).get_config())
    np.testing.assert_array_equal(from_keras.apply({}, {}, [jnp.asarray(x)])[0], x)


# ------------------------------------------------------------------------------ Dot
DOT_CASES = [  # (shapes, axes, normalize)
    ([(3, 4), (3, 4)], -1, False),
    ([(3, 4), (3, 4)], 1, True),
    ([(2, 3, 4), (2, 5, 4)], 2, True),
    ([(2, 3, 4), (2, 3, 5)], 1, False),
    ([(2, 3, 4), (2, 4)], (2, 1), False),
    ([(2, 4), (2, 4, 3)], (1, 1), True),
    ([(2, 3, 4, 5), (2, 5, 6)], (-1, 1), False),
    ([(2, 3, 4, 5), (2, 6, 4, 2)], (2, 2), True),
]


@pytest.mark.parametrize("shapes,axes,normalize", DOT_CASES,
                         ids=lambda s: str(s).replace(" ", ""))
def test_dot_matches_keras(shapes, axes, normalize):
    k = keras()
    xs = [x_of(s, seed=i) for i, s in enumerate(shapes)]
    y, _, _ = run_layer_test(m.Dot(axes, normalize=normalize), xs,
                             k.layers.Dot(axes, normalize=normalize), expected_num_weights=0,
                             atol=1e-5)
    assert y.shape == tuple(k.layers.Dot(axes).compute_output_shape(shapes))


def test_dot_functional_and_cosine():
    a, b = Input((4, 8)), Input((5, 8))
    out = m.dot([a, b], axes=2, name="att")
    assert out.shape == (None, 4, 5) and out.node.layer.name == "att"
    x = jnp.asarray(x_of((3, 6)))
    np.testing.assert_allclose(m.dot([x, 2 * x], axes=1, normalize=True), 1.0, rtol=1e-5)
    assert m.Dot(1).compute_mask([x, x], [None, jnp.ones((3,), bool)]) is None


def test_dot_errors_teach():
    with pytest.raises(TypeError, match="`axes`.*axes='a'"):
        m.Dot("a")
    with pytest.raises(ValueError, match="`axes`.*pair.*axes=\\(1, 2, 3\\)"):
        m.Dot((1, 2, 3))
    with pytest.raises(ValueError, match="'d'.*Dot.*size 4 on axis 1.*size 5 on axis 1"):
        m.Dot(1, name="d").init(jax.random.key(0), [spec((2, 4)), spec((2, 5))])
    with pytest.raises(ValueError, match="batch axis 0"):
        m.Dot(0).init(jax.random.key(0), [spec((2, 4)), spec((2, 4))])
    with pytest.raises(ValueError, match="exactly 2 inputs"):
        m.Dot(1).init(jax.random.key(0), [spec((2, 4))] * 3)
    with pytest.raises(ValueError, match="out of bounds"):
        m.Dot(3).init(jax.random.key(0), [spec((2, 4)), spec((2, 4))])
    with pytest.raises(ValueError, match="different batch sizes"):
        m.Dot(1).init(jax.random.key(0), [spec((2, 4)), spec((3, 4))])
    assert m.Dot((1, 2), normalize=True).get_config()["axes"] == (1, 2)
