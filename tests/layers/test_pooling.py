import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kerasx import layers
from kerasx.layers import _pooling as P
from kerasx.layers._pooling import (AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D,
                                    GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D,
                                    MaxPooling1D, MaxPooling2D)
from harness import keras, run_layer_test


def x_of(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def spec(shape, dtype=jnp.float32):
    return jax.ShapeDtypeStruct(shape, dtype)


def keras_kwargs(kwargs, rank):
    """Keras 3's AveragePooling layers require `pool_size`; ours default it as MaxPooling does."""
    return {"pool_size": 2 if rank == 1 else (2, 2), **kwargs}


# ------------------------------------------------------------------------------ against Keras 3
POOL2D_CASES = [
    (dict(), (2, 6, 6, 3)),
    (dict(), (2, 7, 5, 2)),  # odd sizes: the last row/column is dropped
    (dict(padding="same"), (2, 7, 5, 2)),
    (dict(pool_size=3, strides=1), (1, 5, 6, 2)),
    (dict(pool_size=3, strides=2, padding="same"), (2, 7, 8, 2)),
    (dict(pool_size=(2, 3), padding="same"), (1, 5, 7, 3)),
    (dict(pool_size=(3, 2), strides=(1, 2)), (2, 6, 5, 1)),
    (dict(pool_size=2, strides=3, padding="same"), (1, 8, 7, 2)),  # strides > pool_size
    (dict(pool_size=(1, 3), strides=(2, 1), padding="same"), (1, 5, 6, 2)),
    (dict(pool_size=4, padding="same"), (1, 3, 3, 2)),  # window larger than input
    (dict(pool_size=(2, 3), strides=1, padding="same", data_format="channels_first"),
     (2, 3, 5, 4)),
    (dict(pool_size=2, data_format="channels_first"), (1, 2, 5, 7)),
]

POOL1D_CASES = [
    (dict(), (2, 8, 3)),
    (dict(), (2, 7, 3)),
    (dict(padding="same"), (2, 7, 3)),
    (dict(pool_size=3, strides=1), (2, 7, 2)),
    (dict(pool_size=3, strides=2, padding="same"), (2, 8, 2)),
    (dict(pool_size=(4,), strides=(3,), padding="same"), (1, 10, 2)),
    (dict(pool_size=2, strides=3, padding="same"), (1, 9, 1)),
    (dict(pool_size=3, padding="same", data_format="channels_first"), (2, 3, 7)),
]


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("kwargs,shape", POOL2D_CASES, ids=[str(i) for i in range(len(POOL2D_CASES))])
def test_pooling2d_matches_keras(mode, kwargs, shape):
    k = keras()
    ours, theirs = {"max": (MaxPooling2D, k.layers.MaxPooling2D),
                    "average": (AveragePooling2D, k.layers.AveragePooling2D)}[mode]
    kk = keras_kwargs(kwargs, 2)
    y, params, state = run_layer_test(ours(**kwargs), x_of(shape), theirs(**kk),
                                      expected_num_weights=0)
    assert params == {} and state == {}
    assert y.shape == theirs(**kk).compute_output_shape(shape)


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("kwargs,shape", POOL1D_CASES, ids=[str(i) for i in range(len(POOL1D_CASES))])
def test_pooling1d_matches_keras(mode, kwargs, shape):
    k = keras()
    ours, theirs = {"max": (MaxPooling1D, k.layers.MaxPooling1D),
                    "average": (AveragePooling1D, k.layers.AveragePooling1D)}[mode]
    kk = keras_kwargs(kwargs, 1)
    y, _, _ = run_layer_test(ours(**kwargs), x_of(shape), theirs(**kk), expected_num_weights=0)
    assert y.shape == theirs(**kk).compute_output_shape(shape)


GLOBAL = ["GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
          "GlobalAveragePooling2D"]


@pytest.mark.parametrize("name", GLOBAL)
@pytest.mark.parametrize("kwargs", [dict(), dict(keepdims=True),
                                    dict(keepdims=True, data_format="channels_first")],
                         ids=["default", "keepdims", "channels_first"])
def test_global_pooling_matches_keras(name, kwargs):
    k = keras()
    shape = (2, 5, 3) if name.endswith("1D") else (2, 5, 3, 4)
    y, _, _ = run_layer_test(getattr(P, name)(**kwargs), x_of(shape),
                             getattr(k.layers, name)(**kwargs), expected_num_weights=0)
    assert y.shape == getattr(k.layers, name)(**kwargs).compute_output_shape(shape)


# ------------------------------------------------------------------------------ semantics
def test_same_average_pooling_averages_unpadded_elements_only():
    x = jnp.arange(1.0, 10.0).reshape(1, 3, 3, 1)  # [[1 2 3] [4 5 6] [7 8 9]]
    pool = AveragePooling2D(2, padding="same")
    y, _ = pool.apply({}, {}, x)
    # windows: {1,2,4,5}, {3,6}, {7,8}, {9}: no zeros from the padding in the means
    np.testing.assert_allclose(y[0, :, :, 0], [[3.0, 4.5], [7.5, 9.0]])
    ones, _ = AveragePooling2D(3, strides=1, padding="same").apply({}, {}, jnp.ones((1, 4, 5, 2)))
    np.testing.assert_allclose(ones, 1.0)


def test_max_pooling_with_padding_ignores_padded_values():
    x = -jnp.arange(1.0, 6.0).reshape(1, 5, 1)  # all negative: zero padding would win
    y, _ = MaxPooling1D(2, padding="same").apply({}, {}, x)
    np.testing.assert_allclose(y[0, :, 0], [-1.0, -3.0, -5.0])


def test_integer_inputs():
    img = np.random.default_rng(0).integers(0, 256, size=(2, 4, 5, 3)).astype("uint8")
    y, _ = MaxPooling2D(padding="same").apply({}, {}, img)
    assert y.dtype == jnp.uint8
    np.testing.assert_array_equal(y[:, 0, 0], img[:, :2, :2].max(axis=(1, 2)))
    y, _ = AveragePooling2D().apply({}, {}, img)
    assert y.dtype == jnp.float32
    np.testing.assert_allclose(y[:, 0, 0], img[:, :2, :2].astype("float32").mean(axis=(1, 2)))
    assert GlobalAveragePooling2D().output_spec(spec(img.shape, jnp.uint8)).dtype == jnp.float32
    assert GlobalMaxPooling2D().output_spec(spec(img.shape, jnp.uint8)).dtype == jnp.uint8
    neg = np.array([[[-5], [-3], [-7]]], dtype="int32")
    y, _ = MaxPooling1D(2, padding="same").apply({}, {}, neg)
    np.testing.assert_array_equal(y[0, :, 0], [-3, -7])


def test_pooling_is_differentiable():
    x = x_of((2, 5, 5, 2))
    for layer in [MaxPooling2D(padding="same"), AveragePooling2D(3, 2, padding="same"),
                  GlobalAveragePooling2D()]:
        g = jax.jit(jax.grad(lambda xx: jnp.sum(layer.apply({}, {}, xx)[0])))(x)
        assert g.shape == x.shape and bool(jnp.all(jnp.isfinite(g)))


def test_defaults_names_config_and_aliases():
    assert MaxPooling2D().pool_size == (2, 2) and MaxPooling2D().strides == (2, 2)
    assert AveragePooling1D().pool_size == (2,) and AveragePooling1D(3, 1).strides == (1,)
    assert MaxPooling2D().name == "max_pooling2d"
    assert GlobalAveragePooling2D().name == "global_average_pooling2d"
    cfg = AveragePooling2D((2, 3), padding="SAME", name="p").get_config()
    assert cfg["name"] == "p" and cfg["pool_size"] == (2, 3) and cfg["strides"] == (2, 3)
    assert cfg["padding"] == "same" and cfg["data_format"] == "channels_last"
    assert GlobalMaxPooling1D(keepdims=True).get_config()["keepdims"] is True
    assert P.MaxPool1D is MaxPooling1D and P.MaxPool2D is MaxPooling2D
    assert P.AvgPool1D is AveragePooling1D and P.AvgPool2D is AveragePooling2D
    assert P.GlobalMaxPool1D is GlobalMaxPooling1D and P.GlobalMaxPool2D is GlobalMaxPooling2D
    assert P.GlobalAvgPool1D is GlobalAveragePooling1D
    assert P.GlobalAvgPool2D is GlobalAveragePooling2D


# ------------------------------------------------------------------------------ symbolic shapes
@pytest.mark.parametrize("name,kwargs,shape", [
    ("MaxPooling2D", dict(), (28, 28, 8)),
    ("MaxPooling2D", dict(pool_size=3, strides=2, padding="same"), (15, 13, 4)),
    ("AveragePooling2D", dict(pool_size=(2, 3)), (7, 11, 2)),
    ("MaxPooling1D", dict(pool_size=3, strides=1), (10, 3)),
    ("AveragePooling1D", dict(padding="same"), (9, 3)),
    ("GlobalAveragePooling2D", dict(), (7, 7, 16)),
    ("GlobalMaxPooling2D", dict(keepdims=True), (7, 7, 16)),
    ("GlobalAveragePooling1D", dict(keepdims=True), (10, 3)),
    ("GlobalMaxPooling1D", dict(), (10, 3)),
])
def test_symbolic_shapes_match_keras(name, kwargs, shape):
    k = keras()
    y = getattr(P, name)(**kwargs)(layers.Input(shape))
    if not name.startswith("Global"):
        kwargs = keras_kwargs(kwargs, len(shape) - 1)
    assert y.shape == getattr(k.layers, name)(**kwargs).compute_output_shape((None,) + shape)


# ------------------------------------------------------------------------------ errors that teach
@pytest.mark.parametrize("make,match", [
    (lambda: MaxPooling2D(0), r"`pool_size`.*'max_pooling2d'.*positive.*pool_size=0"),
    (lambda: MaxPooling2D((2, 2, 2)), r"`pool_size`.*tuple of 2 integers.*\(2, 2, 2\)"),
    (lambda: AveragePooling1D((2, 2)), r"`pool_size`.*tuple of 1 integer.*\(2, 2\)"),
    (lambda: MaxPooling1D(2, strides=0), r"`strides`.*positive.*strides=0"),
    (lambda: AveragePooling2D(2, strides=1.5), r"`strides`.*integer.*strides=1.5"),
    (lambda: MaxPooling2D(padding="causal"), r"`padding`.*'valid', 'same'.*padding='causal'"),
    (lambda: MaxPooling2D(data_format="NHWC"), r"`data_format`.*data_format='NHWC'"),
    (lambda: GlobalAveragePooling2D(data_format="NCHW"), r"`data_format`.*data_format='NCHW'"),
])
def test_argument_errors_teach(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_input_errors_name_layer_and_shapes():
    pool = MaxPooling2D(3, name="pool")
    with pytest.raises(ValueError, match=r"'pool'.*rank 4.*\(8, 8, 3\).*add a batch axis"):
        pool.init(jax.random.key(0), spec((8, 8, 3)))
    with pytest.raises(ValueError, match=r"'pool'.*at least \(3, 3\).*\(1, 2, 8, 3\).*padding='same'"):
        pool.init(jax.random.key(0), spec((1, 2, 8, 3)))
    with pytest.raises(ValueError, match=r"'pool'.*at least \(3, 3\)"):
        pool(layers.Input((8, 2, 3)))
    assert MaxPooling2D(3, padding="same").output_spec(spec((1, 2, 8, 3))).shape == (1, 1, 3, 3)
    with pytest.raises(ValueError, match=r"'global_max_pooling1d'.*rank 3.*\(2, 4, 4, 3\)"):
        GlobalMaxPooling1D().init(jax.random.key(0), spec((2, 4, 4, 3)))


# ============================================================================== 3D pooling
POOL3D_CASES = [
    (dict(), (2, 4, 5, 3, 2)),
    (dict(pool_size=2, padding="same"), (2, 3, 5, 3, 2)),
    (dict(pool_size=(2, 3, 1), strides=1, padding="same", data_format="channels_first"),
     (1, 2, 3, 5, 3)),
    (dict(pool_size=(1, 2, 3), strides=(1, 2, 1), data_format="channels_first"), (2, 2, 3, 5, 3)),
    (dict(pool_size=3, strides=2, padding="same"), (1, 4, 3, 5, 1)),
]


@pytest.mark.parametrize("mode", ["max", "average"])
@pytest.mark.parametrize("kwargs,shape", POOL3D_CASES,
                         ids=[str(i) for i in range(len(POOL3D_CASES))])
def test_pooling3d_matches_keras(mode, kwargs, shape):
    k = keras()
    name = {"max": "MaxPooling3D", "average": "AveragePooling3D"}[mode]
    kk = {"pool_size": (2, 2, 2), **kwargs}  # Keras's AveragePooling3D requires pool_size
    theirs = getattr(k.layers, name)(**kk)
    y, _, _ = run_layer_test(getattr(layers, name)(**kwargs), x_of(shape), theirs,
                             expected_num_weights=0)
    assert y.shape == theirs.compute_output_shape(shape)


@pytest.mark.parametrize("name", ["GlobalMaxPooling3D", "GlobalAveragePooling3D"])
@pytest.mark.parametrize("kwargs", [dict(), dict(keepdims=True, data_format="channels_first")],
                         ids=["default", "keepdims-channels_first"])
def test_global_pooling3d_matches_keras(name, kwargs):
    k = keras()
    shape = (2, 2, 3, 4, 3)
    theirs = getattr(k.layers, name)(**kwargs)
    y, _, _ = run_layer_test(getattr(layers, name)(**kwargs), x_of(shape), theirs,
                             expected_num_weights=0)
    assert y.shape == theirs.compute_output_shape(shape)


def test_pooling3d_names_aliases_and_errors():
    assert layers.MaxPool3D is layers.MaxPooling3D and layers.AvgPool3D is layers.AveragePooling3D
    assert layers.GlobalMaxPool3D is layers.GlobalMaxPooling3D
    assert layers.GlobalAvgPool3D is layers.GlobalAveragePooling3D
    assert layers.MaxPooling3D().pool_size == (2, 2, 2)
    assert layers.MaxPooling3D().strides == (2, 2, 2)
    assert layers.AveragePooling3D(3, 1).strides == (1, 1, 1)
    assert layers.GlobalAveragePooling3D().name == "global_average_pooling3d"
    with pytest.raises(ValueError, match=r"`pool_size`.*tuple of 3 integers.*\(2, 2\)"):
        layers.MaxPooling3D((2, 2))
    with pytest.raises(ValueError, match=r"`data_format`.*data_format='NDHWC'"):
        layers.AveragePooling3D(data_format="NDHWC")
    with pytest.raises(ValueError, match=r"'p3'.*rank 5.*\(4, 4, 4, 3\).*batch axis"):
        layers.MaxPooling3D(name="p3").init(jax.random.key(0), spec((4, 4, 4, 3)))
    with pytest.raises(ValueError, match=r"'p3'.*at least \(3, 3, 3\).*\(1, 4, 2, 4, 1\)"):
        layers.AveragePooling3D(3, name="p3").init(jax.random.key(0), spec((1, 4, 2, 4, 1)))
    with pytest.raises(ValueError, match=r"'global_max_pooling3d'.*rank 5.*\(2, 4, 4, 3\)"):
        layers.GlobalMaxPooling3D().init(jax.random.key(0), spec((2, 4, 4, 3)))


# ============================================================================== adaptive pooling
ADAPTIVE_CASES = [
    (1, dict(output_size=3), (2, 7, 3)),
    (1, dict(output_size=5, data_format="channels_first"), (2, 3, 8)),
    (1, dict(output_size=(5,)), (2, 4, 2)),  # more outputs than inputs: overlapping windows
    (1, dict(output_size=4), (1, 8, 2)),  # divisible: plain pooling
    (2, dict(output_size=(2, 3)), (2, 5, 7, 2)),
    (2, dict(output_size=4, data_format="channels_first"), (2, 2, 6, 3)),
    (2, dict(output_size=1), (2, 5, 4, 2)),  # global pooling
    (3, dict(output_size=(2, 3, 1)), (2, 3, 7, 4, 2)),
    (3, dict(output_size=2, data_format="channels_first"), (1, 2, 5, 4, 3)),
]


@pytest.mark.parametrize("mode", ["Max", "Average"])
@pytest.mark.parametrize("rank,kwargs,shape", ADAPTIVE_CASES,
                         ids=[str(i) for i in range(len(ADAPTIVE_CASES))])
def test_adaptive_pooling_matches_keras(mode, rank, kwargs, shape):
    k = keras()
    name = f"Adaptive{mode}Pooling{rank}D"
    theirs = getattr(k.layers, name)(**kwargs)
    y, params, _ = run_layer_test(getattr(layers, name)(**kwargs), x_of(shape), theirs,
                                  expected_num_weights=0)
    assert params == {}
    assert y.shape == tuple(theirs.compute_output_shape(shape))


def _adaptive_reference(x, output_size, reduce):
    """PyTorch's adaptive pooling rule, one output at a time, channels_last."""
    out = np.zeros((x.shape[0],) + tuple(output_size) + (x.shape[-1],), x.dtype)
    for index in np.ndindex(*output_size):
        window = tuple(slice((i * n) // o, -((-(i + 1) * n) // o))
                       for i, n, o in zip(index, x.shape[1:-1], output_size))
        out[(slice(None),) + index] = reduce(x[(slice(None),) + window],
                                             axis=tuple(range(1, x.ndim - 1)))
    return out


@pytest.mark.parametrize("output_size,shape", [((7,), (2, 3, 2)), ((5, 3), (1, 2, 7, 2)),
                                               ((4, 1, 6), (1, 3, 2, 4, 1))])
def test_adaptive_pooling_follows_the_pytorch_window_rule(output_size, shape):
    """Also where outputs outnumber inputs; there Keras 3.15's JAX backend may read out of
    bounds through float rounding (NaN for length 3 -> 7), so a NumPy loop is the oracle."""
    x = x_of(shape)
    rank = len(output_size)
    for mode, reduce in [("Max", np.max), ("Average", np.mean)]:
        layer = getattr(layers, f"Adaptive{mode}Pooling{rank}D")(output_size)
        y, _ = jax.jit(lambda xx: layer.apply({}, {}, xx))(x)
        np.testing.assert_allclose(y, _adaptive_reference(x, output_size, reduce), rtol=1e-6,
                                   atol=1e-6)


def test_adaptive_pooling_any_input_size_and_gradients():
    pool = layers.AdaptiveAveragePooling2D((2, 2))
    assert pool(layers.Input((None, None, 3))).shape == (None, 2, 2, 3)
    assert pool.output_spec(spec((1, 9, 13, 3))).shape == (1, 2, 2, 3)
    x = x_of((2, 5, 7, 2))
    for layer in [pool, layers.AdaptiveMaxPooling2D(3)]:
        g = jax.jit(jax.grad(lambda xx: jnp.sum(layer.apply({}, {}, xx)[0])))(x)
        assert g.shape == x.shape and bool(jnp.all(jnp.isfinite(g)))
    # average of integers is float; max keeps the dtype
    img = np.arange(2 * 4 * 4).reshape(1, 4, 4, 2).astype("uint8")
    assert layers.AdaptiveAveragePooling2D(2).apply({}, {}, img)[0].dtype == jnp.float32
    assert layers.AdaptiveMaxPooling2D(2).apply({}, {}, img)[0].dtype == jnp.uint8
    np.testing.assert_array_equal(layers.AdaptiveMaxPooling2D(2).apply({}, {}, img)[0],
                                  MaxPooling2D(2).apply({}, {}, img)[0])


def test_adaptive_pooling_config_and_errors():
    cfg = layers.AdaptiveMaxPooling2D(3, data_format="channels_first", name="a").get_config()
    assert cfg["output_size"] == (3, 3) and cfg["data_format"] == "channels_first"
    assert layers.AdaptiveAveragePooling1D(4).output_size == (4,)
    assert layers.AdaptiveAveragePooling3D(2).name == "adaptive_average_pooling3d"
    with pytest.raises(ValueError, match=r"`output_size`.*'adaptive_max_pooling2d'.*tuple of 2"):
        layers.AdaptiveMaxPooling2D((2, 2, 2))
    with pytest.raises(ValueError, match=r"`output_size`.*positive.*output_size=0"):
        layers.AdaptiveAveragePooling1D(0)
    with pytest.raises(ValueError, match=r"`data_format`.*data_format='NCW'"):
        layers.AdaptiveAveragePooling1D(2, data_format="NCW")
    with pytest.raises(ValueError, match=r"'ap'.*rank 4.*\(5, 5, 3\).*batch axis"):
        layers.AdaptiveAveragePooling2D(2, name="ap").init(jax.random.key(0), spec((5, 5, 3)))
    with pytest.raises(ValueError, match=r"'ap'.*rank 5"):
        layers.AdaptiveMaxPooling3D(2, name="ap")(layers.Input((4, 4, 3)))
