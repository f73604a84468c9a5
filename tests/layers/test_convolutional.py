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


# ============================================================================== the rest of the family
# Conv3D, Conv*DTranspose, DepthwiseConv*D, SeparableConv*D against Keras 3 on the same weights.
def keras_layer(k, cls, kwargs):
    """The Keras layer with the same arguments, its weights built with zeros (ours are loaded)."""
    zeros = {key: "zeros" for key in ("kernel_initializer", "bias_initializer",
                                      "depthwise_initializer", "pointwise_initializer")
             if key in getattr(k.layers, cls).__init__.__code__.co_varnames}
    return getattr(k.layers, cls)(**{**zeros, **kwargs})


def np_inits(cls, kwargs):
    keys = [key for key in ("kernel_initializer", "bias_initializer", "depthwise_initializer",
                            "pointwise_initializer")
            if key in cls.__init__.__code__.co_varnames and key not in kwargs]
    return {**{key: np_init for key in keys}, **kwargs}


FAMILY_CASES = [
    ("Conv3D", dict(filters=3, kernel_size=2), (2, 4, 5, 3, 2)),
    ("Conv3D", dict(filters=4, kernel_size=(2, 3, 1), strides=2, padding="same", groups=2),
     (1, 4, 5, 6, 4)),
    ("Conv3D", dict(filters=2, kernel_size=3, dilation_rate=(1, 2, 1), padding="same",
                    data_format="channels_first", activation="relu"), (1, 3, 4, 6, 3)),
    ("Conv3D", dict(filters=2, kernel_size=(3, 2, 2), strides=(1, 2, 3), use_bias=False),
     (2, 3, 5, 7, 1)),
    ("Conv1DTranspose", dict(filters=3, kernel_size=3), (2, 5, 2)),
    ("Conv1DTranspose", dict(filters=3, kernel_size=3, strides=2, padding="same"), (2, 5, 2)),
    ("Conv1DTranspose", dict(filters=3, kernel_size=2, strides=3), (2, 5, 2)),  # stride > kernel
    ("Conv1DTranspose", dict(filters=3, kernel_size=4, strides=3, padding="same",
                             output_padding=1), (2, 5, 2)),
    ("Conv1DTranspose", dict(filters=2, kernel_size=3, dilation_rate=2, padding="same",
                             data_format="channels_first"), (2, 3, 5)),
    ("Conv1DTranspose", dict(filters=2, kernel_size=5, strides=2, padding="valid",
                             output_padding=1), (1, 2, 3)),  # kernel larger than the input
    ("Conv2DTranspose", dict(filters=3, kernel_size=(3, 2), strides=(2, 3),
                             output_padding=(1, 2)), (2, 4, 3, 2)),
    ("Conv2DTranspose", dict(filters=3, kernel_size=(3, 2), strides=(2, 1), padding="same",
                             data_format="channels_first"), (2, 2, 4, 3)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=4, strides=2, padding="same",
                             output_padding=0), (1, 3, 3, 2)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=3, strides=2, padding="same",
                             output_padding=(1, 0), activation="tanh", use_bias=False),
     (1, 3, 4, 2)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=(2, 3), dilation_rate=(2, 1)), (1, 3, 4, 3)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=2, strides=2), (1, 2, 3, 2, 2)),
    ("Conv3DTranspose", dict(filters=2, kernel_size=3, strides=(1, 2, 2), padding="same",
                             data_format="channels_first"), (1, 2, 3, 2, 2)),
    ("Conv3DTranspose", dict(filters=3, kernel_size=(1, 2, 3), strides=(2, 1, 2),
                             output_padding=(1, 0, 1)), (2, 2, 2, 3, 1)),
    ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2), (2, 7, 3)),
    ("DepthwiseConv1D", dict(kernel_size=3, strides=2, padding="same",
                             data_format="channels_first"), (2, 3, 7)),
    ("DepthwiseConv1D", dict(kernel_size=2, dilation_rate=3, use_bias=False), (1, 8, 2)),
    ("DepthwiseConv2D", dict(kernel_size=(3, 2), depth_multiplier=3, padding="same"),
     (2, 5, 6, 2)),
    ("DepthwiseConv2D", dict(kernel_size=3, dilation_rate=2, data_format="channels_first",
                             activation="relu"), (2, 2, 7, 6)),
    ("DepthwiseConv2D", dict(kernel_size=2, strides=(2, 1)), (1, 5, 4, 3)),
    ("SeparableConv1D", dict(filters=4, kernel_size=3, depth_multiplier=2), (2, 7, 3)),
    ("SeparableConv1D", dict(filters=4, kernel_size=3, strides=2, padding="same",
                             data_format="channels_first"), (2, 3, 7)),
    ("SeparableConv2D", dict(filters=4, kernel_size=(3, 2), depth_multiplier=2,
                             padding="same"), (2, 5, 6, 2)),
    ("SeparableConv2D", dict(filters=2, kernel_size=3, dilation_rate=2, use_bias=False,
                             data_format="channels_first"), (2, 2, 7, 6)),
    ("SeparableConv2D", dict(filters=3, kernel_size=2, strides=2, activation="relu"),
     (1, 5, 5, 2)),
]


@pytest.mark.parametrize("cls,kwargs,shape", FAMILY_CASES,
                         ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(FAMILY_CASES)])
def test_conv_family_matches_keras(cls, kwargs, shape):
    k = keras()
    ours = getattr(layers, cls)
    theirs = keras_layer(k, cls, kwargs)
    y, params, _ = run_layer_test(ours(**np_inits(ours, kwargs)), x_of(shape), theirs)
    assert y.shape == tuple(theirs.compute_output_shape(shape))
    # the same weights, in the same order and layouts, as Keras
    assert [tuple(w.shape) for w in ours(**np_inits(ours, kwargs)).get_weights_from(params, {})] \
        == [tuple(w.shape) for w in theirs.get_weights()]


@pytest.mark.parametrize("cls,kwargs,shape", [
    ("Conv2DTranspose", dict(filters=2, kernel_size=3, strides=2), (1, 3, 3, 2)),
    ("SeparableConv1D", dict(filters=3, kernel_size=3, depth_multiplier=2), (1, 6, 2)),
])
def test_conv_family_default_initializers_load_into_keras(cls, kwargs, shape):
    """Default (glorot/zeros) initializers: weights of Keras's shapes, outputs equal Keras's."""
    k = keras()
    run_layer_test(getattr(layers, cls)(**kwargs), x_of(shape), keras_layer(k, cls, kwargs))


def test_transposed_conv_is_the_gradient_of_a_conv():
    """Conv2DTranspose with the kernel of a Conv2D (in <-> out) is the adjoint of that conv."""
    conv = Conv2D(3, (3, 2), strides=2, padding="same", use_bias=False, kernel_initializer=np_init)
    tconv = layers.Conv2DTranspose(2, (3, 2), strides=2, padding="same", use_bias=False,
                                   output_padding=(1, 1))
    x = x_of((1, 6, 5, 2))
    params, _ = conv.init(jax.random.key(0), x)
    y = conv.apply(params, {}, x)[0]
    _, vjp = jax.vjp(lambda xx: conv.apply(params, {}, xx)[0], x)
    cotangent = x_of(y.shape, seed=3)
    # Keras's transposed kernel (k..., filters, in) is the conv kernel (k..., in, filters) as is
    ty = tconv.apply({"kernel": params["kernel"]}, {}, cotangent)[0]
    assert ty.shape == x.shape
    np.testing.assert_allclose(ty, vjp(cotangent)[0], rtol=1e-5, atol=1e-5)


def test_depthwise_conv_equals_a_grouped_conv():
    dw = layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same",
                                depthwise_initializer=np_init, bias_initializer=np_init)
    x = x_of((2, 5, 5, 3))
    params, _ = dw.init(jax.random.key(0), x)
    assert params["kernel"].shape == (3, 3, 3, 2) and params["bias"].shape == (6,)
    grouped = Conv2D(6, 3, padding="same", groups=3)
    gparams = {"kernel": params["kernel"].reshape(3, 3, 1, 6), "bias": params["bias"]}
    np.testing.assert_allclose(dw.apply(params, {}, x)[0], grouped.apply(gparams, {}, x)[0],
                               rtol=1e-5, atol=1e-5)


def test_conv_family_is_differentiable():
    x = x_of((2, 6, 6, 2))
    stack = [layers.SeparableConv2D(4, 3, padding="same", activation="relu",
                                    depthwise_initializer=np_init, pointwise_initializer=np_init),
             layers.DepthwiseConv2D(3, strides=2, padding="same", depthwise_initializer=np_init),
             layers.Conv2DTranspose(2, 3, strides=2, padding="same", kernel_initializer=np_init)]
    params, h = [], x
    for layer in stack:
        params.append(layer.init(jax.random.key(0), h)[0])
        h = layer.apply(params[-1], {}, h)[0]
    assert h.shape == x.shape

    def loss(ps):
        h = x
        for layer, p in zip(stack, ps):
            h = layer.apply(p, {}, h)[0]
        return jnp.mean((h - x) ** 2)

    grads = jax.jit(jax.grad(loss))(params)
    assert jax.tree.map(jnp.shape, grads) == jax.tree.map(jnp.shape, params)
    assert all(bool(jnp.all(jnp.isfinite(g))) and bool(jnp.any(g != 0))
               for g in jax.tree.leaves(grads))


def test_conv_family_symbolic_shapes_match_keras():
    k = keras()
    for cls, kwargs, shape in [
        ("Conv3D", dict(filters=4, kernel_size=3, strides=2, padding="same"), (7, 8, 9, 2)),
        ("Conv2DTranspose", dict(filters=4, kernel_size=3, strides=2), (None, 5, 3)),
        ("Conv1DTranspose", dict(filters=2, kernel_size=4, strides=2, padding="same",
                                 output_padding=1), (6, 3)),
        ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=3), (10, 2)),
        ("SeparableConv2D", dict(filters=5, kernel_size=3), (None, None, 3)),
    ]:
        y = getattr(layers, cls)(**kwargs)(layers.Input(shape))
        assert y.shape == tuple(getattr(k.layers, cls)(**kwargs).compute_output_shape(
            (None,) + shape)), cls


def test_conv_family_configs_and_aliases():
    assert layers.Convolution3D is layers.Conv3D
    assert layers.Convolution1DTranspose is layers.Conv1DTranspose
    assert layers.Convolution2DTranspose is layers.Conv2DTranspose
    assert layers.Convolution3DTranspose is layers.Conv3DTranspose
    assert layers.SeparableConvolution1D is layers.SeparableConv1D
    assert layers.SeparableConvolution2D is layers.SeparableConv2D
    assert layers.Conv2DTranspose(2, 3).name == "conv2d_transpose"
    assert layers.DepthwiseConv2D(3).name == "depthwise_conv2d"
    cfg = layers.Conv3DTranspose(4, 3, 2, "same", "channels_first", 1).get_config()
    assert cfg["data_format"] == "channels_first" and cfg["output_padding"] == (1, 1, 1)
    assert layers.Conv2DTranspose(4, 3).get_config()["output_padding"] is None
    cfg = layers.SeparableConv1D(3, 2, depth_multiplier=2, pointwise_regularizer="l2").get_config()
    assert cfg["depth_multiplier"] == 2 and cfg["pointwise_regularizer"]["class_name"] == "L2"
    sep = layers.SeparableConv1D(3, 2)
    assert sep.weight_names() == [("params", "depthwise_kernel"), ("params", "pointwise_kernel"),
                                  ("params", "bias")]


@pytest.mark.parametrize("make,match", [
    (lambda: layers.Conv3D(0, 3), r"`filters`.*'conv3d'.*positive integer.*filters=0"),
    (lambda: layers.Conv3D(2, (3, 3)), r"`kernel_size`.*tuple of 3 integers"),
    (lambda: layers.Conv3D(2, 3, padding="causal"), r"`padding`.*padding='causal'"),
    (lambda: layers.Conv3D(2, 3, data_format="NDHWC"), r"`data_format`.*data_format='NDHWC'"),
    (lambda: layers.Conv2DTranspose(-1, 3), r"`filters`.*'conv2d_transpose'.*filters=-1"),
    (lambda: layers.Conv2DTranspose(2, 3, strides=2, output_padding=2),
     r"output_padding.*smaller.*strides.*output_padding=2, strides=2"),
    (lambda: layers.Conv1DTranspose(2, 3, output_padding=-1),
     r"`output_padding`.*non-negative.*output_padding=-1"),
    (lambda: layers.Conv2DTranspose(2, 3, strides=2, dilation_rate=2), r"strides > 1.*dilation"),
    (lambda: layers.Conv1DTranspose(2, 3, padding="causal"), r"`padding`.*padding='causal'"),
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=0),
     r"`depth_multiplier`.*'depthwise_conv2d'.*positive integer.*depth_multiplier=0"),
    (lambda: layers.DepthwiseConv1D(3, padding="causal"), r"`padding`.*padding='causal'"),
    (lambda: layers.DepthwiseConv2D(3, data_format="channels_middle"), r"`data_format`"),
    (lambda: layers.SeparableConv2D(0, 3), r"`filters`.*'separable_conv2d'.*filters=0"),
    (lambda: layers.SeparableConv1D(2, 3, depth_multiplier=-2), r"`depth_multiplier`.*=-2"),
    (lambda: layers.SeparableConv2D(2, (3, 0)), r"`kernel_size`.*positive"),
])
def test_conv_family_argument_errors_teach(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_conv_family_input_errors_name_layer_and_shapes():
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"'v'.*rank 5.*\(4, 4, 4, 2\).*batch axis"):
        layers.Conv3D(2, 3, name="v").init(key, spec((4, 4, 4, 2)))
    with pytest.raises(ValueError, match=r"'v'.*at least \(3, 3, 3\).*\(1, 4, 2, 4, 2\)"):
        layers.Conv3D(2, 3, name="v").init(key, spec((1, 4, 2, 4, 2)))
    with pytest.raises(ValueError, match=r"'t'.*rank 4.*\(1, 4, 4\)"):
        layers.Conv2DTranspose(2, 3, name="t").init(key, spec((1, 4, 4)))
    with pytest.raises(ValueError, match=r"'t'.*empty output.*\(1, 1, 2\)"):
        layers.Conv1DTranspose(2, 2, padding="same", output_padding=0, name="t").init(
            key, spec((1, 1, 2)))
    with pytest.raises(ValueError, match=r"'d'.*at least \(5, 5\).*\(1, 4, 8, 3\)"):
        layers.DepthwiseConv2D(5, name="d").init(key, spec((1, 4, 8, 3)))
    with pytest.raises(ValueError, match=r"'s'.*rank 3"):
        layers.SeparableConv1D(2, 3, name="s").init(key, spec((1, 4, 8, 3)))
    with pytest.raises(ValueError, match=r"'s'.*at least \(3,\)"):
        layers.SeparableConv1D(2, 3, name="s")(layers.Input((2, 3)))
    # applying to inputs with other channels than at init time
    for layer in [layers.Conv2DTranspose(2, 3, kernel_initializer=np_init),
                  layers.DepthwiseConv2D(3, depthwise_initializer=np_init),
                  layers.SeparableConv2D(2, 3, depthwise_initializer=np_init,
                                         pointwise_initializer=np_init)]:
        params, state = layer.init(key, spec((1, 5, 5, 3)))
        with pytest.raises(ValueError, match=r"built for inputs with 3 channels.*\(1, 5, 5, 4\)"):
            layer.apply(params, state, jnp.ones((1, 5, 5, 4)))
