"""Attention layers against Keras 3: MultiHeadAttention, GroupQueryAttention, Attention,
AdditiveAttention (same weights, same inputs, same masks)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import layers
from kerasx.layers._base import as_spec
from harness import keras

ATOL = 1e-5


def x_of(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def bools(shape, seed=0, p=0.3):
    m = np.random.default_rng(seed).random(shape) > p
    m[..., 0] = True  # no fully masked row: Keras's fused and einsum paths agree on those
    return m


def randomized(params, seed=1):
    """The params with every array replaced by random numbers (biases too: not zeros)."""
    leaves, tree = jax.tree.flatten(params)
    rng = np.random.default_rng(seed)
    return jax.tree.unflatten(tree, [jnp.asarray(rng.normal(scale=0.5, size=a.shape), a.dtype)
                                     for a in leaves])


def assert_close(a, b, atol=ATOL):
    jax.tree.map(lambda u, v: np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=atol,
                                                         rtol=atol), a, b)


def check_heads_layer(layer, keras_layer, args, kwargs=None, *, keras_kwargs=None):
    """init from specs, apply eagerly and under jit, output_spec, then Keras on the same
    weights (built by a call on the same inputs) gives the same outputs."""
    kwargs = dict(kwargs or {})
    params, state = layer.init(jax.random.key(0), *[as_spec(a) for a in args])
    params = randomized(params)
    tensors = {k: v for k, v in kwargs.items() if isinstance(v, np.ndarray)}
    flags = {k: v for k, v in kwargs.items() if k not in tensors}
    y, _ = jax.jit(functools.partial(layer.apply, **flags))(params, state, *args, **tensors)
    spec = layer.output_spec(*args, **kwargs)
    assert jax.tree.map(lambda s: s.shape, spec) == jax.tree.map(lambda a: a.shape, y)
    keras_layer.build(*[a.shape for a in args])
    keras_layer.set_weights(layer.get_weights_from(params, state))
    assert_close(y, keras_call(keras_layer, args, kwargs))
    return y, params, state


def keras_call(keras_layer, args, kwargs):
    """The Keras layer on its current weights, compiled as one function (Keras's stateless
    call under jit: the same computation as its eager call, without per-op compiles)."""
    tensors = {k: v for k, v in kwargs.items() if isinstance(v, (np.ndarray, list))}
    flags = {k: v for k, v in kwargs.items() if k not in tensors}
    tv = [v.value for v in keras_layer.trainable_variables]
    ntv = [v.value for v in keras_layer.non_trainable_variables]
    fn = jax.jit(lambda tv, ntv, args, tensors: keras_layer.stateless_call(
        tv, ntv, *args, **tensors, **flags)[0])
    return fn(tv, ntv, list(args), tensors)


# ------------------------------------------------------------------------------ MultiHeadAttention
Q, V, K = x_of((2, 4, 5), 0), x_of((2, 6, 7), 1), x_of((2, 6, 3), 2)

MHA_CASES = {
    "self": (dict(num_heads=2, key_dim=3), (Q, Q), {}),
    "cross_key": (dict(num_heads=3, key_dim=2), (Q, V, K), {}),
    "causal": (dict(num_heads=2, key_dim=3), (Q, Q), dict(use_causal_mask=True)),
    "causal_cross": (dict(num_heads=2, key_dim=3), (Q, V), dict(use_causal_mask=True)),
    "attention_mask": (dict(num_heads=2, key_dim=3), (Q, V),
                       dict(attention_mask=bools((2, 4, 6), 3))),
    "value_key_masks": (dict(num_heads=2, key_dim=3), (Q, V, K),
                        dict(value_mask=bools((2, 6), 4), key_mask=bools((2, 6), 5))),
    "masks_and_causal": (dict(num_heads=2, key_dim=3), (Q, Q),
                         dict(attention_mask=bools((2, 4, 4), 6), use_causal_mask=True)),
    "scores": (dict(num_heads=2, key_dim=3), (Q, V),
               dict(return_attention_scores=True, attention_mask=bools((2, 4, 6), 7))),
    "scores_causal": (dict(num_heads=2, key_dim=3), (Q, Q),
                      dict(return_attention_scores=True, use_causal_mask=True)),
    "output_shape_no_bias": (dict(num_heads=2, key_dim=3, output_shape=(2, 3), use_bias=False),
                             (Q, V), {}),
    "attention_axes_2": (dict(num_heads=2, key_dim=3, attention_axes=(1, 2)),
                         (x_of((2, 3, 4, 5), 8), x_of((2, 3, 4, 6), 9)),
                         dict(return_attention_scores=True)),
    "attention_axes_neg": (dict(num_heads=2, key_dim=3, attention_axes=-2),
                           (x_of((2, 3, 4, 5), 8), x_of((2, 3, 4, 5), 9)), {}),
    "sliding_window_gate": (dict(num_heads=2, key_dim=3, sliding_window=2, use_gate=True),
                            (Q, Q), dict(use_causal_mask=True)),
    "dropout_inference": (dict(num_heads=2, key_dim=3, dropout=0.5), (Q, V),
                          dict(value_mask=bools((2, 6), 10))),
}


SLOW_MHA_CASES = {"attention_axes_neg", "dropout_inference", "scores_causal"}


@pytest.mark.parametrize("case", [pytest.param(c, marks=pytest.mark.slow) if c in SLOW_MHA_CASES
                                  else c for c in MHA_CASES])
def test_multi_head_attention_matches_keras(case):
    kwargs, args, call = MHA_CASES[case]
    check_heads_layer(layers.MultiHeadAttention(**kwargs), keras().layers.MultiHeadAttention(**kwargs),
                      args, call)


def test_value_dim_other_than_key_dim_without_scores():
    """Keras 3.15 on JAX fails here (jax.nn.dot_product_attention needs equal head sizes and
    its fallback reshapes to the query's head size); its einsum path (with the scores) works,
    and kerasx's fused path gives the same numbers."""
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4)
    mask = bools((2, 4, 6), 26)
    k = keras().layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4)
    _, params, state = check_heads_layer(layer, k, (Q, V), dict(attention_mask=mask,
                                                                return_attention_scores=True))
    y, _ = jax.jit(layer.apply)(params, state, Q, V, attention_mask=mask)
    assert_close(y, keras_call(k, (Q, V), dict(attention_mask=mask,
                                               return_attention_scores=True))[0])


def test_multi_head_attention_weights_have_keras_shapes_and_order():
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4)
    params, state = layer.init(jax.random.key(0), as_spec(Q), as_spec(V))
    shapes = [w.shape for w in layer.get_weights_from(params, state)]
    assert shapes == [(5, 2, 3), (2, 3), (7, 2, 3), (2, 3), (7, 2, 4), (2, 4), (2, 4, 5), (5,)]
    k = keras().layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4)
    k.build(Q.shape, V.shape)
    assert shapes == [tuple(w.shape) for w in k.weights]
    # Keras's fans (fan_in = dim, fan_out = heads * key_dim): the same Glorot limit
    limit = np.sqrt(6.0 / (5 + 6))
    assert np.abs(np.asarray(params["query"]["kernel"])).max() <= limit
    assert np.abs(np.asarray(params["query"]["kernel"])).max() > 0.8 * limit


def test_query_mask_from_the_mask_channel_matches_keras_masking_model():
    """Keras takes the query's (and the value's) Keras mask; in kerasx it arrives as `mask`."""
    k = keras()
    x = Q.copy()
    x[0, 3:] = 0.0  # padding
    x[1, 1:] = 0.0
    inp = k.Input((4, 5))
    masked = k.layers.Masking()(inp)
    kl = k.layers.MultiHeadAttention(num_heads=2, key_dim=3)
    kmodel = k.Model(inp, kl(masked, masked))
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    params, state = layer.init(jax.random.key(0), as_spec(x))
    params = randomized(params)
    kl.set_weights(layer.get_weights_from(params, state))
    mask = np.any(x != 0.0, axis=-1)
    y, _ = layer.apply(params, state, x, x, mask=mask)
    y_keras = kmodel(x)
    assert_close(y, y_keras)
    # an explicit query_mask does the same (Keras 3 ignores that argument; kerasx honours it)
    y2, _ = layer.apply(params, state, x, x, query_mask=mask, value_mask=mask)
    assert_close(y2, y)
    # and through a kerasx functional model with Masking
    if hasattr(layers, "Masking"):
        xin = layers.Input((4, 5))
        mlayer = layers.MultiHeadAttention(num_heads=2, key_dim=3)
        h = layers.Masking()(xin)
        model = kerasx.Model(xin, mlayer(h, h))
        model.set_weights(layer.get_weights_from(params, state))
        assert_close(model.predict(x, verbose=0), y_keras)


def test_multi_head_attention_in_a_functional_model_trains_like_keras():
    k = keras()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 4, 5)).astype(np.float32)
    y = rng.normal(size=(32, 4, 3)).astype(np.float32)

    def build(lib):
        inp = lib.Input((4, 5))
        h = lib.layers.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.0)(inp, inp)
        h, _ = lib.layers.MultiHeadAttention(num_heads=1, key_dim=2)(
            h, h, use_causal_mask=True, return_attention_scores=True)
        return lib.Model(inp, lib.layers.Dense(3)(h))

    ours, theirs = build(kerasx), build(k)
    ours.set_weights(randomized(ours.get_weights()))
    theirs.set_weights(ours.get_weights())
    start = ours.get_weights()
    for model, lib in ((ours, kerasx), (theirs, k)):
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)
    assert max(np.abs(a - b).max() for a, b in zip(ours.get_weights(), start)) > 1e-3


@pytest.mark.parametrize("cls,kwargs,args,call", [
    ("MultiHeadAttention", dict(num_heads=2, key_dim=3), (Q, V, K),
     dict(attention_mask=bools((2, 4, 6), 12))),
    pytest.param("MultiHeadAttention", dict(num_heads=2, key_dim=3), (Q, Q),
                 dict(use_causal_mask=True), marks=pytest.mark.slow),
    pytest.param("GroupQueryAttention", dict(head_dim=3, num_query_heads=4,
                                             num_key_value_heads=2),
                 (Q, Q), dict(value_mask=bools((2, 4), 14)), marks=pytest.mark.slow),
], ids=["mha_masked", "mha_causal", "gqa"])
def test_gradients_match_keras(cls, kwargs, args, call):
    k = keras()
    layer = getattr(layers, cls)(**kwargs)
    params, state = layer.init(jax.random.key(0), *[as_spec(a) for a in args])
    params = randomized(params)
    target = x_of((2, 4, 5), 15)

    def loss(p, *xs):
        y, _ = layer.apply(p, state, *xs, **call)
        return jnp.mean((y - target) ** 2)

    grads, *dx = jax.jit(jax.grad(loss, argnums=tuple(range(len(args) + 1))))(params, *args)
    kl = getattr(k.layers, cls)(**kwargs)
    kl.build(*[a.shape for a in args])
    kl.set_weights(layer.get_weights_from(params, state))

    def keras_loss(tv, *xs):
        y, _ = kl.stateless_call(tv, [], *xs, **call)
        return jnp.mean((y - target) ** 2)

    tv = [v.value for v in kl.trainable_variables]
    kgrads, *kdx = jax.jit(jax.grad(keras_loss, argnums=tuple(range(len(args) + 1))))(tv, *args)
    for a, b in zip(layer.get_weights_from(grads, state), kgrads):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-4, rtol=1e-4)
    assert_close(dx, kdx, atol=1e-4)


def test_dropout_trains_with_a_key_and_is_off_in_inference():
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3, dropout=0.5)
    params, state = layer.init(jax.random.key(0), as_spec(Q))
    apply = jax.jit(layer.apply, static_argnames="training")
    y0, _ = apply(params, state, Q, Q)
    y1, _ = apply(params, state, Q, Q, training=True, rng=jax.random.key(1))
    y2, _ = apply(params, state, Q, Q, training=True, rng=jax.random.key(1))
    assert not np.allclose(y0, y1)
    assert_close(y1, y2)
    with pytest.raises(ValueError, match="random key"):
        layer.apply(params, state, Q, Q, training=True)


def test_eager_calls_build_from_every_argument_and_subclassed_use():
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    out = layer(Q, V, key=K)  # eager: key and value of other widths than the query
    assert out.shape == (2, 4, 5)
    assert [w.shape for w in layer.get_weights()][2] == (3, 2, 3)  # key kernel from the key

    class Block(layers.Layer):
        def __init__(self):
            super().__init__()
            self.mha = layers.MultiHeadAttention(num_heads=2, key_dim=3)

        def call(self, q, v):
            return self.mha(q, v)

    block = Block()
    params, state = block.init(jax.random.key(0), as_spec(Q), as_spec(V))
    assert params["multi_head_attention"]["value"]["kernel"].shape == (7, 2, 3)
    y, _ = block.apply(params, state, Q, V)
    assert y.shape == (2, 4, 5)
    built = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    built.build((None, 4, 5), (None, 6, 7))
    assert built.get_weights()[2].shape == (7, 2, 3)


def test_symbolic_calls_and_a_model_with_an_attention_mask_input():
    q, v = layers.Input((4, 5)), layers.Input((6, 7))
    out, scores = layers.MultiHeadAttention(num_heads=2, key_dim=3)(
        q, v, return_attention_scores=True, use_causal_mask=True)
    assert out.shape == (None, 4, 5) and scores.shape == (None, 2, 4, 6)
    y, sc = kerasx.Model([q, v], [out, scores]).predict([Q, V], verbose=0)
    assert y.shape == (2, 4, 5) and np.allclose(np.asarray(sc).sum(-1), 1.0, atol=1e-5)
    assert np.all(np.asarray(sc)[:, :, 0, 1:] == 0.0)  # causal
    m = layers.Input((4, 6), dtype="bool")
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    model = kerasx.Model([q, v, m], mha(q, v, attention_mask=m))
    mask = bools((2, 4, 6), 27)
    y = model.predict([Q, V, mask], verbose=0)
    k = keras().layers.MultiHeadAttention(num_heads=2, key_dim=3)
    k.build(Q.shape, V.shape)
    k.set_weights(mha.get_weights())
    assert_close(y, k(Q, V, attention_mask=mask))


def test_calls_with_every_argument_a_keyword_like_keras():
    """`mha(query=q, value=v, key=k)`, as the keras-io Transformer examples write it: the
    keyword named like the first input parameter is the input, eagerly, symbolically and
    inside another layer's `call`."""
    mask = bools((2, 4, 6), 31)
    k = keras().layers.MultiHeadAttention(num_heads=2, key_dim=3)
    expected = k(query=Q, value=V, key=K, attention_mask=mask)
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    mha(query=Q, value=V, key=K)
    mha.set_weights(k.get_weights())
    assert_close(mha(query=Q, value=V, key=K, attention_mask=mask), expected)
    assert_close(mha(Q, value=V, key=K, attention_mask=mask), expected)

    q, v, kk, m = (layers.Input((4, 5)), layers.Input((6, 7)), layers.Input((6, 3)),
                   layers.Input((4, 6), dtype="bool"))
    model = kerasx.Model([q, v, kk, m], mha(query=q, value=v, key=kk, attention_mask=m))
    assert_close(model.predict([Q, V, K, mask], verbose=0), expected)

    def block(lib):
        class Block(lib.layers.Layer):
            def __init__(self):
                super().__init__()
                self.attention = lib.layers.MultiHeadAttention(num_heads=2, key_dim=3)

            def call(self, inputs):
                return self.attention(query=inputs, value=inputs, key=inputs)

        return Block()

    ours, theirs = block(kerasx), block(keras())
    expected = theirs(Q)
    ours(Q)
    ours.set_weights(theirs.get_weights())
    assert_close(ours(Q), expected)
    with pytest.raises(TypeError, match="Layer 'multi_head_attention.*' .*called without inputs: "
                                        "pass them as the first argument or as `query=`"):
        layers.MultiHeadAttention(num_heads=2, key_dim=3)(value=V)


# ------------------------------------------------------------------------------ GroupQueryAttention
VQ = x_of((2, 6, 5), 16)
GQA_CASES = {
    "self": (dict(head_dim=3, num_query_heads=4, num_key_value_heads=2), (Q, Q), {}),
    "mqa_cross_key": (dict(head_dim=2, num_query_heads=3, num_key_value_heads=1), (Q, VQ, K), {}),
    "causal_scores": (dict(head_dim=3, num_query_heads=4, num_key_value_heads=2), (Q, Q),
                      dict(use_causal_mask=True, return_attention_scores=True)),
    "masks": (dict(head_dim=3, num_query_heads=4, num_key_value_heads=4, use_bias=False), (Q, VQ),
              dict(attention_mask=bools((2, 4, 6), 17), value_mask=bools((2, 6), 18))),
    "query_mask_window_gate": (dict(head_dim=3, num_query_heads=2, num_key_value_heads=1,
                                    sliding_window=2, use_gate=True), (Q, Q),
                               dict(query_mask=bools((2, 4), 19))),
}


@pytest.mark.parametrize("case", list(GQA_CASES))
def test_group_query_attention_matches_keras(case):
    kwargs, args, call = GQA_CASES[case]
    check_heads_layer(layers.GroupQueryAttention(**kwargs),
                      keras().layers.GroupQueryAttention(**kwargs), args, call)


def test_grouped_query_attention_is_the_same_class():
    assert layers.GroupedQueryAttention is layers.GroupQueryAttention


# ------------------------------------------------------------------------------ Attention, Additive
AQ, AV, AK = x_of((2, 4, 5), 20), x_of((2, 6, 5), 21), x_of((2, 6, 5), 22)
ATT_CASES = {
    "dot": (dict(), [AQ, AV], {}),
    "dot_scale_key": (dict(use_scale=True), [AQ, AV, AK], {}),
    "concat_scale": (dict(use_scale=True, score_mode="concat"), [AQ, AV], {}),
    "concat_masks": (dict(score_mode="concat"), [AQ, AV],
                     dict(mask=[bools((2, 4), 23), bools((2, 6), 24)])),
    "causal_scores": (dict(use_scale=True), [AQ, AQ],
                      dict(use_causal_mask=True, return_attention_scores=True)),
    "value_mask_only": (dict(), [AQ, AV], dict(mask=[None, bools((2, 6), 25)])),
}


def check_list_layer(layer, keras_layer, inputs, call):
    params, state = layer.init(jax.random.key(0), as_spec(inputs))
    params = jax.tree.map(lambda a: a + 0.3, params)  # not the initial ones
    flags = {k: v for k, v in call.items() if k != "mask"}
    y, _ = jax.jit(functools.partial(layer.apply, **flags))(params, state, inputs,
                                                             mask=call.get("mask"))
    keras_layer.build([a.shape for a in inputs])
    keras_layer.set_weights(layer.get_weights_from(params, state))
    assert_close(y, keras_call(keras_layer, [inputs], call))
    return y


@pytest.mark.parametrize("case", list(ATT_CASES))
def test_attention_matches_keras(case):
    kwargs, inputs, call = ATT_CASES[case]
    check_list_layer(layers.Attention(**kwargs), keras().layers.Attention(**kwargs), inputs, call)


@pytest.mark.parametrize("case", ["dot", "dot_scale_key", "concat_masks", "causal_scores"])
def test_additive_attention_matches_keras(case):
    kwargs, inputs, call = ATT_CASES[case]
    kwargs = {k: v for k, v in kwargs.items() if k != "score_mode"}
    check_list_layer(layers.AdditiveAttention(**kwargs), keras().layers.AdditiveAttention(**kwargs),
                     inputs, call)


def test_attention_takes_both_masks_from_earlier_layers_like_keras():
    if not hasattr(layers, "Masking"):
        pytest.skip("kerasx.layers.Masking is not there")
    k = keras()
    x, v = AQ.copy(), AV.copy()
    x[0, 2:] = 0.0
    v[1, 3:] = 0.0

    def build(lib):
        q_in, v_in = lib.Input((4, 5)), lib.Input((6, 5))
        out = lib.layers.Attention(use_scale=True)(
            [lib.layers.Masking()(q_in), lib.layers.Masking()(v_in)])
        return lib.Model([q_in, v_in], out)

    ours, theirs = build(kerasx), build(k)
    ours.set_weights([np.asarray(1.7, np.float32)])
    theirs.set_weights(ours.get_weights())
    y, _, mask = ours.apply_with_masks(ours.params, ours.state, [x, v])
    assert_close(y, theirs([x, v]))
    np.testing.assert_array_equal(np.asarray(mask), np.any(x != 0, axis=-1))


def test_attention_dropout_needs_a_key_when_training():
    layer = layers.Attention(dropout=0.5)
    params, state = layer.init(jax.random.key(0), as_spec([AQ, AV]))
    with pytest.raises(ValueError, match="random key"):
        layer.apply(params, state, [AQ, AV], training=True)
    y, _ = layer.apply(params, state, [AQ, AV], training=True, rng=jax.random.key(0))
    assert y.shape == (2, 4, 5)


def test_regularizer_losses_match_keras():
    k = keras()
    kwargs = dict(num_heads=2, key_dim=3, kernel_regularizer="l2", bias_regularizer="l1",
                  activity_regularizer="l1")
    layer = layers.MultiHeadAttention(**kwargs)
    layer(Q, Q)
    layer.set_weights(randomized(layer.get_weights()))
    layer(Q, Q)  # the activity penalties of this call
    kl = k.layers.MultiHeadAttention(**kwargs)
    kl.build(Q.shape, Q.shape)
    kl.set_weights(layer.get_weights())
    kl(Q, Q)
    np.testing.assert_allclose(sorted(float(v) for v in layer.losses),
                               sorted(float(v) for v in kl.losses), rtol=1e-5)


def test_flash_attention_true_is_a_clear_error_where_cudnn_cannot_run():
    if jax.devices()[0].platform == "gpu":
        pytest.skip("cuDNN may run here")
    layer = layers.MultiHeadAttention(num_heads=2, key_dim=8, flash_attention=True)
    params, state = layer.init(jax.random.key(0), as_spec(Q))
    with pytest.raises(ValueError, match="flash_attention=True.*cuDNN"):
        layer.apply(params, state, Q, Q)


# ------------------------------------------------------------------------------ bad input
def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="key_dim"):
        layers.MultiHeadAttention(num_heads=2)
    with pytest.raises(ValueError, match="num_heads.*Received: num_heads=0"):
        layers.MultiHeadAttention(num_heads=0, key_dim=2)
    with pytest.raises(ValueError, match="value_dim"):
        layers.MultiHeadAttention(2, 3, value_dim=-1)
    with pytest.raises(ValueError, match="Dropout is not supported when flash attention"):
        layers.MultiHeadAttention(2, 3, dropout=0.1, flash_attention=True)
    with pytest.raises(ValueError, match="attention_axes"):
        layers.MultiHeadAttention(2, 3, attention_axes="1")
    with pytest.raises(ValueError, match="divisible by `num_key_value_heads`"):
        layers.GroupQueryAttention(head_dim=2, num_query_heads=3, num_key_value_heads=2)
    with pytest.raises(ValueError, match="score_mode"):
        layers.Attention(score_mode="add")
    with pytest.raises(ValueError, match="sliding_window"):
        layers.GroupQueryAttention(2, 2, 1, sliding_window=0)


def test_bad_shapes_are_clear_errors():
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=3)
    params, state = mha.init(jax.random.key(0), as_spec(Q), as_spec(V))
    with pytest.raises(ValueError, match="same batch size.*query.shape=\\(2, 4, 5\\)"):
        mha.init(jax.random.key(0), as_spec(Q), as_spec(x_of((3, 6, 7))))
    with pytest.raises(ValueError, match="same batch size"):
        mha.apply(params, state, Q, x_of((3, 6, 7)))
    with pytest.raises(ValueError, match="attention_mask.*broadcasts to \\(2, 4, 6\\)"):
        mha.apply(params, state, Q, V, attention_mask=np.ones((2, 4, 5), bool))
    with pytest.raises(ValueError, match="value_mask"):
        mha.apply(params, state, Q, V, value_mask=np.ones((2, 4), bool))
    with pytest.raises(ValueError, match="value.*key.*except the last"):
        mha.apply(params, state, Q, V, x_of((2, 5, 7)))
    with pytest.raises(ValueError, match="attention_axes"):
        layers.MultiHeadAttention(2, 3, attention_axes=(3,)).init(jax.random.key(0), as_spec(Q))
    with pytest.raises(ValueError, match="flash attention"):
        layers.MultiHeadAttention(2, 3, flash_attention=True).apply(
            params, state, Q, V, return_attention_scores=True)
    gqa = layers.GroupQueryAttention(head_dim=2, num_query_heads=2, num_key_value_heads=1)
    with pytest.raises(ValueError, match="last dimension of `query_shape` and `value_shape`"):
        gqa.init(jax.random.key(0), as_spec(Q), as_spec(V))
    att = layers.Attention()
    with pytest.raises(ValueError, match="list of inputs"):
        att.init(jax.random.key(0), as_spec(AQ))
    params, state = att.init(jax.random.key(0), as_spec([AQ, AV]))
    with pytest.raises(ValueError, match="value_mask.*\\(2, 6\\)"):
        att.apply(params, state, [AQ, AV], mask=[None, np.ones((2, 4), bool)])
    with pytest.raises(ValueError, match="mask must be a list"):
        att.apply(params, state, [AQ, AV], mask=np.ones((2, 4), bool))


def test_a_masked_value_from_another_branch_reaches_attention_like_keras():
    """Cross-attention in a functional model: the value's mask (from its own Masking) goes to
    `value_mask`, as Keras passes `{argument}_mask` for each further tensor argument."""
    k = keras()
    rng = np.random.default_rng(0)
    q = rng.normal(size=(2, 3, 4)).astype("float32")
    v = rng.normal(size=(2, 5, 4)).astype("float32")
    v[0, 3:] = 0.0  # masked steps of the first value sequence
    models = []
    for lib in (kerasx, k):
        qi, vi = lib.Input((3, 4)), lib.Input((5, 4))
        mv = lib.layers.Masking(0.0)(vi)
        out = lib.layers.MultiHeadAttention(num_heads=2, key_dim=2, name="mha")(qi, mv)
        models.append(lib.Model([qi, vi], out))
    ours, theirs = models
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict([q, v], verbose=0), theirs.predict([q, v], verbose=0),
                               atol=1e-5, rtol=1e-5)


def test_disable_flash_attention_reaches_layers_created_after_it():
    keras_ = keras()
    try:
        kerasx.config.disable_flash_attention()
        keras_.config.disable_flash_attention()
        for name in ("MultiHeadAttention", "GroupQueryAttention"):
            args = (2, 4) if name == "MultiHeadAttention" else (4, 2, 2)
            ours = getattr(kerasx.layers, name)(*args)
            theirs = getattr(keras_.layers, name)(*args)
            assert ours._flash_attention is False and theirs._flash_attention is False
            explicit = getattr(kerasx.layers, name)(*args, flash_attention=True)
            assert explicit._flash_attention is True
    finally:
        kerasx.config.enable_flash_attention()
        keras_.config.enable_flash_attention()
    assert kerasx.layers.MultiHeadAttention(2, 4)._flash_attention is None


def test_default_names_are_keras_names():
    k = keras()
    for make in (lambda L: L.MultiHeadAttention(2, 3), lambda L: L.GroupQueryAttention(4, 2, 1),
                 lambda L: L.Attention(), lambda L: L.AdditiveAttention()):
        ours, theirs = make(layers), make(k.layers)
        assert ours.name.rstrip("_0123456789") == theirs.name.rstrip("_0123456789")
