import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kerasx import layers
from kerasx.layers._convolutional import Conv1D, Conv2D
from harness import keras, run_layer_test


def x_of(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def spec(shape, dtype=jnp.float32):
    return jax.ShapeDtypeStruct(shape, dtype)


def np_init(key, shape, dtype=jnp.float32):
    """A NumPy initializer: random (so biases are tested too) and free of XLA compiles, which
    keeps these many-shape tests fast; the default initializers run in a few cases."""
    return jnp.asarray(np.random.default_rng(len(shape)).normal(size=shape) * 0.5, dtype)


def with_np_init(kwargs, default_init):
    if default_init:
        return kwargs
    return {"kernel_initializer": np_init, "bias_initializer": np_init, **kwargs}


def keras_conv(k, cls, kwargs):
    """The Keras layer with the same arguments; its weights are overwritten with ours, so it is
    built with zeros (Keras's random initializers compile anew for every kernel shape)."""
    return getattr(k.layers, cls)(**{"kernel_initializer": "zeros", "bias_initializer": "zeros",
                                     **kwargs})


# ------------------------------------------------------------------------------ against Keras 3
# (kwargs, input shape); odd sizes and non-square kernels throughout.
CONV2D_CASES = [
    (dict(filters=4, kernel_size=3), (2, 7, 7, 3)),
    (dict(filters=4, kernel_size=3, padding="same"), (2, 7, 7, 3)),
    (dict(filters=5, kernel_size=(2, 3), padding="same"), (2, 6, 9, 2)),
    (dict(filters=5, kernel_size=(3, 1)), (1, 5, 4, 2)),
    (dict(filters=3, kernel_size=3, strides=2), (2, 9, 8, 2)),
    (dict(filters=3, kernel_size=3, strides=2, padding="same"), (2, 9, 8, 2)),
    (dict(filters=3, kernel_size=(2, 4), strides=(1, 3), padding="same"), (2, 7, 10, 2)),
    (dict(filters=3, kernel_size=(4, 2), strides=(3, 2), padding="valid"), (1, 11, 7, 1)),
    (dict(filters=2, kernel_size=3, dilation_rate=2), (2, 9, 8, 3)),
    (dict(filters=2, kernel_size=3, dilation_rate=(2, 1), padding="same"), (2, 7, 6, 3)),
    (dict(filters=2, kernel_size=(2, 3), dilation_rate=(1, 3), padding="same"), (1, 5, 11, 2)),
    (dict(filters=4, kernel_size=3, groups=2), (2, 6, 5, 4)),
    (dict(filters=6, kernel_size=(3, 2), groups=3, strides=2, padding="same"), (2, 7, 7, 6)),
    (dict(filters=4, kernel_size=3, groups=4, padding="same"), (1, 5, 5, 4)),  # depthwise
    (dict(filters=4, kernel_size=1), (2, 3, 3, 5)),
    (dict(filters=4, kernel_size=5, padding="same"), (1, 3, 3, 2)),  # kernel larger than input
    (dict(filters=3, kernel_size=(5, 5)), (1, 5, 5, 1)),  # output 1x1
    (dict(filters=3, kernel_size=3, activation="relu", use_bias=False), (2, 5, 5, 2)),
    (dict(filters=3, kernel_size=2, activation="tanh", bias_initializer="ones"), (2, 5, 5, 2)),
    (dict(filters=3, kernel_size=3, strides=2, padding="same", data_format="channels_first"),
     (2, 2, 7, 6)),
    (dict(filters=4, kernel_size=(2, 3), groups=2, dilation_rate=2,
          data_format="channels_first"), (1, 4, 7, 8)),
]


@pytest.mark.parametrize("kwargs,shape", CONV2D_CASES,
                         ids=[f"{i}" for i in range(len(CONV2D_CASES))])
def test_conv2d_matches_keras(kwargs, shape):
    k = keras()
    ours = Conv2D(**with_np_init(kwargs, default_init=kwargs is CONV2D_CASES[0][0]))
    y, params, _ = run_layer_test(ours, x_of(shape), keras_conv(k, "Conv2D", kwargs),
                                  expected_num_weights=2 if kwargs.get("use_bias", True) else 1)
    kernel_size = kwargs["kernel_size"]
    kernel_size = (kernel_size,) * 2 if isinstance(kernel_size, int) else kernel_size
    channels = shape[1] if kwargs.get("data_format") == "channels_first" else shape[-1]
    assert params["kernel"].shape == kernel_size + (channels // kwargs.get("groups", 1),
                                                    kwargs["filters"])
    assert y.shape == k.layers.Conv2D(**kwargs).compute_output_shape(shape)


CONV1D_CASES = [
    (dict(filters=4, kernel_size=3), (2, 9, 3)),
    (dict(filters=4, kernel_size=3, padding="same"), (2, 9, 3)),
    (dict(filters=4, kernel_size=3, padding="causal"), (2, 9, 3)),
    (dict(filters=4, kernel_size=4, padding="causal", dilation_rate=2), (2, 10, 2)),
    (dict(filters=4, kernel_size=3, padding="causal", strides=2), (2, 9, 2)),
    (dict(filters=3, kernel_size=2, strides=3), (2, 11, 2)),
    (dict(filters=3, kernel_size=4, strides=2, padding="same"), (1, 7, 2)),
    (dict(filters=3, kernel_size=(3,), dilation_rate=(3,)), (2, 10, 2)),
    (dict(filters=3, kernel_size=3, dilation_rate=2, padding="same"), (2, 8, 2)),
    (dict(filters=6, kernel_size=3, groups=3, padding="same"), (2, 7, 6)),
    (dict(filters=4, kernel_size=5, groups=2, padding="causal", activation="relu"), (2, 6, 4)),
    (dict(filters=2, kernel_size=1, use_bias=False), (3, 5, 4)),
    (dict(filters=2, kernel_size=3, padding="causal", data_format="channels_first"), (2, 3, 7)),
    (dict(filters=2, kernel_size=2, strides=2, data_format="channels_first"), (2, 3, 7)),
]


@pytest.mark.parametrize("kwargs,shape", CONV1D_CASES,
                         ids=[f"{i}" for i in range(len(CONV1D_CASES))])
def test_conv1d_matches_keras(kwargs, shape):
    k = keras()
    ours = Conv1D(**with_np_init(kwargs, default_init=kwargs is CONV1D_CASES[0][0]))
    y, params, _ = run_layer_test(ours, x_of(shape), keras_conv(k, "Conv1D", kwargs),
                                  expected_num_weights=2 if kwargs.get("use_bias", True) else 1)
    kernel_size = kwargs["kernel_size"]
    kernel_size = (kernel_size,) if isinstance(kernel_size, int) else kernel_size
    channels = shape[1] if kwargs.get("data_format") == "channels_first" else shape[-1]
    assert params["kernel"].shape == kernel_size + (channels // kwargs.get("groups", 1),
                                                    kwargs["filters"])
    assert y.shape == k.layers.Conv1D(**kwargs).compute_output_shape(shape)


def test_causal_conv1d_does_not_see_the_future():
    conv = Conv1D(2, 3, padding="causal", kernel_initializer=np_init)
    x = x_of((1, 8, 2))
    params, state = conv.init(jax.random.key(0), x)
    y1, _ = conv.apply(params, state, x)
    x2 = x.copy()
    x2[0, 5] = 100.0
    y2, _ = conv.apply(params, state, x2)
    np.testing.assert_allclose(y1[0, :5], y2[0, :5])
    assert not np.allclose(y1[0, 5:], y2[0, 5:])


def test_uint8_images_are_cast_to_the_kernel_dtype():
    k = keras()
    img = np.random.default_rng(0).integers(0, 256, size=(2, 6, 6, 3)).astype("uint8")
    conv = Conv2D(4, 3, padding="same", kernel_initializer=np_init, bias_initializer=np_init)
    params, state = conv.init(jax.random.key(0), spec(img.shape, jnp.uint8))
    y, _ = conv.apply(params, state, img)
    assert y.dtype == jnp.float32
    assert conv.output_spec(spec(img.shape, jnp.uint8)).dtype == jnp.float32
    kc = keras_conv(k, "Conv2D", dict(filters=4, kernel_size=3, padding="same"))
    kc.build(img.shape)
    kc.set_weights(conv.get_weights_from(params, state))
    np.testing.assert_allclose(y, kc(img.astype("float32")), rtol=1e-4, atol=1e-3)


def test_conv_is_differentiable_and_vmappable():
    conv = Conv2D(3, (2, 3), strides=2, padding="same", kernel_initializer=np_init)
    x = x_of((2, 5, 7, 2))
    params, state = conv.init(jax.random.key(1), x)
    loss = lambda p: jnp.sum(conv.apply(p, state, x)[0] ** 2)
    grads = jax.jit(jax.grad(loss))(params)
    assert jax.tree.map(jnp.shape, grads) == jax.tree.map(jnp.shape, params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    # vmapping over an extra leading axis matches applying to each slice.
    xs = x_of((3, 2, 5, 7, 2), seed=2)
    ys = jax.vmap(lambda xi: conv.apply(params, state, xi)[0])(xs)
    np.testing.assert_allclose(ys[1], conv.apply(params, state, xs[1])[0], rtol=1e-5, atol=1e-5)


def test_kernel_initializer_and_config():
    conv = Conv2D(8, (3, 2), strides=1, padding="SAME", kernel_initializer="zeros",
                  bias_initializer="ones", name="c")
    params, _ = conv.init(jax.random.key(0), spec((1, 4, 4, 3)))
    assert params["kernel"].shape == (3, 2, 3, 8) and not np.any(params["kernel"])
    assert params["bias"].shape == (8,) and np.all(params["bias"] == 1)
    cfg = conv.get_config()
    assert cfg["name"] == "c" and cfg["kernel_size"] == (3, 2) and cfg["padding"] == "same"
    assert cfg["strides"] == (1, 1) and cfg["dilation_rate"] == (1, 1)
    assert cfg["data_format"] == "channels_last" and cfg["filters"] == 8
    assert Conv2D(1, 1).name == "conv2d" and Conv1D(1, 1).name == "conv1d"
    assert conv.weight_names() == [("params", "kernel"), ("params", "bias")]


# ------------------------------------------------------------------------------ symbolic shapes
@pytest.mark.parametrize("cls,kwargs,shape", [
    ("Conv2D", dict(filters=8, kernel_size=3), (28, 28, 1)),
    ("Conv2D", dict(filters=8, kernel_size=(3, 5), strides=2, padding="same"), (15, 17, 4)),
    ("Conv2D", dict(filters=4, kernel_size=3, dilation_rate=2, groups=2), (13, 11, 6)),
    ("Conv1D", dict(filters=6, kernel_size=4, padding="causal"), (10, 3)),
    ("Conv1D", dict(filters=6, kernel_size=4, strides=3), (10, 3)),
])
def test_symbolic_shapes_match_keras(cls, kwargs, shape):
    k = keras()
    ours = {"Conv2D": Conv2D, "Conv1D": Conv1D}[cls]
    y = ours(**kwargs)(layers.Input(shape))
    assert y.shape == getattr(k.layers, cls)(**kwargs).compute_output_shape((None,) + shape)
    assert y.dtype == jnp.float32


def test_numpy_integers_are_accepted_as_arguments():
    conv = Conv2D(np.int64(4), (np.int32(3), 2), strides=np.int64(1))
    assert conv.filters == 4 and type(conv.filters) is int
    assert conv.kernel_size == (3, 2) and all(type(v) is int for v in conv.kernel_size)


def test_symbolic_variable_spatial_dims_stay_none():
    assert Conv2D(4, 3)(layers.Input((None, None, 3))).shape == (None, None, None, 4)
    assert Conv2D(4, 5, strides=2)(layers.Input((None, 9, 3))).shape == (None, None, 3, 4)


def test_symbolic_conv_stack():
    x = layers.Input((28, 28, 1))
    y = Conv2D(16, 3, activation="relu")(x)
    y = Conv2D(32, 3, strides=2, padding="same")(y)
    assert y.shape == (None, 13, 13, 32)
    assert Conv1D(4, 3)(layers.Input((12, 2))).shape == (None, 10, 4)


# ------------------------------------------------------------------------------ errors that teach
@pytest.mark.parametrize("kwargs,match", [
    (dict(filters=0, kernel_size=3), r"`filters`.*'conv2d'.*positive integer.*filters=0"),
    (dict(filters=2.5, kernel_size=3), r"`filters`.*positive integer.*filters=2.5"),
    (dict(filters=6, kernel_size=3, groups=4), r"filters must be divisible.*filters=6, groups=4"),
    (dict(filters=6, kernel_size=3, groups=0), r"`groups`.*positive integer.*groups=0"),
    (dict(filters=2, kernel_size=(3, 3, 3)), r"`kernel_size`.*tuple of 2 integers.*\(3, 3, 3\)"),
    (dict(filters=2, kernel_size="3"), r"`kernel_size`.*integer or a tuple of 2.*'3'"),
    (dict(filters=2, kernel_size=(3, 0)), r"`kernel_size`.*positive.*\(3, 0\)"),
    (dict(filters=2, kernel_size=3, strides=0), r"`strides`.*positive.*strides=0"),
    (dict(filters=2, kernel_size=3, dilation_rate=(1, -1)), r"`dilation_rate`.*positive"),
    (dict(filters=2, kernel_size=3, padding="full"),
     r"`padding`.*'valid', 'same'.*padding='full'"),
    (dict(filters=2, kernel_size=3, padding="causal"), r"`padding`.*padding='causal'"),
    (dict(filters=2, kernel_size=3, strides=2, dilation_rate=2),
     r"strides > 1.*dilation_rate > 1.*strides=2, dilation_rate=2"),
    (dict(filters=2, kernel_size=3, data_format="NHWC"), r"`data_format`.*data_format='NHWC'"),
])
def test_conv2d_argument_errors_teach(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Conv2D(**kwargs)


def test_conv1d_argument_errors_teach():
    with pytest.raises(ValueError, match=r"`kernel_size`.*tuple of 1 integer.*\(3, 3\)"):
        Conv1D(2, (3, 3))
    with pytest.raises(ValueError, match=r"'conv1d'.*strides=\(2,\), dilation_rate=3"):
        Conv1D(2, 3, strides=(2,), dilation_rate=3)
    with pytest.raises(ValueError, match=r"`padding`.*'causal'.*padding='full'"):
        Conv1D(2, 3, padding="full")


def test_conv_input_errors_name_layer_and_shapes():
    conv = Conv2D(4, 3, groups=2, name="stem", kernel_initializer=np_init)
    with pytest.raises(ValueError, match=r"'stem'.*rank 4.*\(28, 28, 4\).*batch axis"):
        conv.init(jax.random.key(0), spec((28, 28, 4)))
    with pytest.raises(ValueError, match=r"'stem'.*divisible by groups=2.*3 channels.*\(1, 8, 8, 3\)"):
        conv.init(jax.random.key(0), spec((1, 8, 8, 3)))
    with pytest.raises(ValueError, match=r"'stem'.*at least \(3, 3\).*\(1, 2, 8, 4\).*padding='same'"):
        conv.init(jax.random.key(0), spec((1, 2, 8, 4)))
    with pytest.raises(ValueError, match=r"at least \(5,\).*\(1, 4, 2\)"):
        Conv1D(2, 3, dilation_rate=2).init(jax.random.key(0), spec((1, 4, 2)))
    # the same input is fine with 'same' padding
    assert Conv2D(4, 3, padding="same").output_spec(spec((1, 2, 2, 4))).shape == (1, 2, 2, 4)
    # applying to inputs with other channels than at init time
    params, state = conv.init(jax.random.key(0), spec((1, 8, 8, 4)))
    with pytest.raises(ValueError, match=r"'stem'.*built for inputs with 4 channels.*\(1, 8, 8, 6\)"):
        conv.apply(params, state, jnp.ones((1, 8, 8, 6)))


def test_nested_input_error_shows_shapes_not_values():
    x = jnp.ones((1, 4, 4, 2))
    with pytest.raises(ValueError, match=r"'conv2d'.*single tensor.*\(1, 4, 4, 2\)") as e:
        Conv2D(2, 3).init(jax.random.key(0), (x, x))
    assert "Array(" not in str(e.value)


def test_symbolic_error_names_the_layer():
    with pytest.raises(ValueError, match=r"'tiny'.*at least \(5, 5\)"):
        Conv2D(2, 5, name="tiny")(layers.Input((3, 3, 1)))
