import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kerasx import layers
from harness import keras, run_layer_test


def x_of(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.mark.parametrize("activation", [None, "relu", "softmax", "gelu", "tanh"])
@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_matches_keras(activation, use_bias):
    k = keras()
    run_layer_test(layers.Dense(5, activation=activation, use_bias=use_bias), x_of((4, 3)),
                   k.layers.Dense(5, activation=activation, use_bias=use_bias),
                   expected_num_weights=2 if use_bias else 1)


def test_dense_on_rank3_inputs():
    k = keras()
    run_layer_test(layers.Dense(2), x_of((2, 3, 4)), k.layers.Dense(2))


@pytest.mark.parametrize("name", ["relu", "sigmoid", "softmax", "tanh", "gelu", "silu", "swish",
                                  "elu", "selu", "softplus", "leaky_relu", "linear"])
def test_activation_matches_keras(name):
    k = keras()
    run_layer_test(layers.Activation(name), x_of((3, 6)), k.layers.Activation(name))


def test_flatten_and_reshape_match_keras():
    k = keras()
    run_layer_test(layers.Flatten(), x_of((2, 3, 4, 5)), k.layers.Flatten())
    run_layer_test(layers.Reshape((4, -1)), x_of((2, 3, 4)), k.layers.Reshape((4, -1)))
    run_layer_test(layers.Reshape((12,)), x_of((2, 3, 4)), k.layers.Reshape((12,)))


def test_embedding_matches_keras():
    k = keras()
    ids = np.array([[0, 3, 9], [2, 2, 1]], dtype="int32")
    run_layer_test(layers.Embedding(10, 4), ids, k.layers.Embedding(10, 4))


def test_dense_errors_teach():
    with pytest.raises(ValueError, match="units.*positive integer.*units=0"):
        layers.Dense(0)
    d = layers.Dense(3)
    params, state = d.init(jax.random.key(0), jax.ShapeDtypeStruct((1, 4), jnp.float32))
    with pytest.raises(ValueError, match="'dense'.*last axis is 4.*\\(2, 5\\)"):
        d.apply(params, state, jnp.ones((2, 5)))


def test_reshape_error_names_shapes():
    with pytest.raises(ValueError, match="cannot reshape samples of shape \\(3, 4\\)"):
        layers.Reshape((5, -1)).init(jax.random.key(0), jax.ShapeDtypeStruct((2, 3, 4), jnp.float32))


def test_unknown_activation_lists_valid_ones():
    with pytest.raises(ValueError, match="Unknown activation: 'relux'.*'relu'"):
        layers.Dense(3, activation="relux")


def test_layer_called_on_arrays_runs_eagerly_and_mixed_inputs_are_refused():
    dense = layers.Dense(3)
    y = dense(np.ones((2, 2), np.float32))
    np.testing.assert_allclose(y, np.ones((2, 2)) @ dense.kernel.numpy() + dense.bias.numpy(),
                               rtol=1e-6)
    with pytest.raises(TypeError, match="mix of symbolic tensors"):
        layers.Add()([layers.Input((2,)), np.ones((1, 2), np.float32)])


def test_symbolic_shapes():
    x = layers.Input((28, 28, 1))
    y = layers.Dense(7)(layers.Flatten()(x))
    assert y.shape == (None, 7)


# ------------------------------------------------------------------------------ EinsumDense
from kerasx import initializers  # noqa: E402
from kerasx.layers._core import EinsumDense, ReversibleEmbedding  # noqa: E402

EINSUM_CASES = [  # (equation, output_shape, bias_axes, input shape, kernel shape)
    ("ab,bc->ac", 4, None, (3, 5), (5, 4)),
    ("abc,cd->abd", (None, 6), "d", (2, 3, 5), (5, 6)),
    ("abc,cde->abde", (None, 2, 4), "de", (2, 3, 5), (5, 2, 4)),
    ("abcd,cde->abe", (3, 4), "e", (2, 3, 5, 2), (5, 2, 4)),
    ("...b,bc->...c", 4, "c", (2, 3, 5), (5, 4)),
    ("ab...,bc->ac...", (4,), "c", (2, 5, 3), (5, 4)),
    ("abc,bcd->abd", (4, 3), "b", (2, 4, 5), (4, 5, 3)),
]


@pytest.mark.parametrize("equation,out_shape,bias_axes,x_shape,k_shape", EINSUM_CASES)
def test_einsum_dense_matches_keras(equation, out_shape, bias_axes, x_shape, k_shape):
    k = keras()
    kw = dict(bias_initializer=initializers.RandomNormal(stddev=0.5), activation="tanh")
    layer = EinsumDense(equation, out_shape, bias_axes=bias_axes, **kw)
    ref = k.layers.EinsumDense(equation, out_shape, bias_axes=bias_axes, activation="tanh")
    ref.build(x_shape)
    assert [tuple(w.shape) for w in ref.weights][0] == k_shape
    y, params, _ = run_layer_test(layer, x_of(x_shape), ref,
                                  expected_num_weights=1 + (bias_axes is not None), atol=1e-5)
    assert params["kernel"].shape == k_shape
    assert [tuple(w.shape) for w in ref.weights] == [tuple(w.shape) for w in
                                                     layer.get_weights_from(params, {})]
    assert all(d in (None, e) for d, e in zip(ref.compute_output_shape(x_shape), y.shape))


def test_einsum_dense_variance_scaling_counts_kernel_axes_like_keras():
    # "abc,cde->abde": fan_in = 64, fan_out = 8 * 16 (not Keras's default conv-style fans)
    layer = EinsumDense("abc,cde->abde", (None, 8, 16), kernel_initializer="he_normal")
    params, _ = layer.init(jax.random.key(0), jax.ShapeDtypeStruct((2, 3, 64), jnp.float32))
    std = float(np.std(np.asarray(params["kernel"])))
    assert abs(std - np.sqrt(2.0 / 64)) < 0.02, std
    layer = EinsumDense("ab,bc->ac", 300, kernel_initializer="glorot_uniform")
    params, _ = layer.init(jax.random.key(0), jax.ShapeDtypeStruct((2, 100), jnp.float32))
    assert float(np.max(np.abs(params["kernel"]))) <= np.sqrt(6.0 / 400) + 1e-6


def test_einsum_dense_errors_teach():
    spec = lambda s: jax.ShapeDtypeStruct(s, jnp.float32)
    with pytest.raises(ValueError, match="`equation`.*X,Y->Z.*equation='ab->c'"):
        EinsumDense("ab->c", 3)
    with pytest.raises(ValueError, match="output axis 'e'.*neither"):
        EinsumDense("ab,bc->ae", 3)
    with pytest.raises(ValueError, match="weight axis 'x'.*neither"):
        EinsumDense("ab,bx->ab", 3)
    with pytest.raises(ValueError, match="`bias_axes`.*bias_axes='z'"):
        EinsumDense("ab,bc->ac", 3, bias_axes="z")
    with pytest.raises(ValueError, match="`output_shape` needs 2 entries"):
        EinsumDense("abc,cd->abd", 3)
    with pytest.raises(ValueError, match="`output_shape`.*output_shape=0"):
        EinsumDense("ab,bc->ac", 0)
    with pytest.raises(ValueError, match="'ed'.*rank 3.*\\(2, 5\\)"):
        EinsumDense("abc,cd->abd", (None, 4), name="ed").init(jax.random.key(0), spec((2, 5)))
    with pytest.raises(ValueError, match="shared axis 'b'.*input size 3, output size 4"):
        EinsumDense("abc,cd->abd", (4, 6)).init(jax.random.key(0), spec((2, 3, 5)))


def test_einsum_dense_config_and_symbolic():
    layer = EinsumDense("abc,cde->abde", [None, 2, 4], bias_axes="e", activation="relu")
    cfg = layer.get_config()
    assert cfg["output_shape"] == (None, 2, 4) and cfg["equation"] == "abc,cde->abde"
    clone = EinsumDense.from_config(cfg)
    assert clone.get_config() == cfg
    assert layer(layers.Input((7, 5))).shape == (None, 7, 2, 4)


# ------------------------------------------------------------------------------ ReversibleEmbedding
@pytest.mark.parametrize("tie", [True, False])
@pytest.mark.parametrize("cap", [None, 2.0])
def test_reversible_embedding_matches_keras(tie, cap):
    k = keras()
    ids = np.array([[1, 4, 0], [9, 2, 2]], "int32")
    layer = ReversibleEmbedding(10, 4, tie_weights=tie, logit_soft_cap=cap,
                                embeddings_initializer="random_normal")
    ref = k.layers.ReversibleEmbedding(10, 4, tie_weights=tie, logit_soft_cap=cap)
    y, params, state = run_layer_test(layer, ids, ref, expected_num_weights=1 + (not tie))
    h = jnp.asarray(x_of((2, 3, 4)))
    logits, _ = layer.apply(params, state, h, reverse=True)
    np.testing.assert_allclose(logits, np.asarray(ref(np.asarray(h), reverse=True)), atol=1e-5)
    assert logits.shape == (2, 3, 10)
    if cap:
        assert float(jnp.max(jnp.abs(logits))) < cap
    jitted = jax.jit(lambda p, x: layer.apply(p, {}, x, reverse=True)[0])(params, h)
    np.testing.assert_allclose(jitted, logits, atol=1e-6)


def test_reversible_embedding_reverse_dtype_symbolic_errors_config():
    layer = ReversibleEmbedding(10, 4, reverse_dtype="float32", dtype="bfloat16")
    params, state = layer.init(jax.random.key(0), jax.ShapeDtypeStruct((2, 3), jnp.int32))
    logits, _ = layer.apply(params, state, jnp.ones((2, 4), jnp.bfloat16), reverse=True)
    assert logits.dtype == jnp.float32
    emb = ReversibleEmbedding(10, 4)
    x = layers.Input((3,), dtype="int32")
    h = emb(x)
    assert h.shape == (None, 3, 4) and emb(h, reverse=True).shape == (None, 3, 10)
    with pytest.raises(ValueError, match="'r'.*reverse=True.*output_dim=4.*\\(2, 5\\)"):
        ReversibleEmbedding(10, 4, name="r").apply(params, state, jnp.ones((2, 5)), reverse=True)
    with pytest.raises(ValueError, match="`logit_soft_cap`.*logit_soft_cap=-1"):
        ReversibleEmbedding(10, 4, logit_soft_cap=-1)
    with pytest.raises(ValueError, match="`input_dim`"):
        ReversibleEmbedding(0, 4)
    cfg = ReversibleEmbedding(10, 4, tie_weights=False, logit_soft_cap=3.0).get_config()
    assert cfg["tie_weights"] is False and cfg["logit_soft_cap"] == 3.0
    assert ReversibleEmbedding.from_config(cfg).get_config() == cfg


def test_a_plain_call_argument_reaches_the_layer_in_functional_models():
    """`emb(h, reverse=True)` in a functional model: the symbolic shape and the built model use
    the argument (it is not traced as an array)."""
    import kerasx
    ids = kerasx.Input((4,), dtype="int32")
    emb = layers.ReversibleEmbedding(10, 6, name="emb")
    h = emb(ids)
    logits = emb(h, reverse=True)
    assert logits.shape == (None, 4, 10)
    model = kerasx.Model(ids, logits)
    x = np.arange(8, dtype="int32").reshape(2, 4)
    y = model.predict(x, verbose=0)
    np.testing.assert_allclose(y, np.asarray(emb(emb(x), reverse=True)), rtol=1e-5, atol=1e-7)
