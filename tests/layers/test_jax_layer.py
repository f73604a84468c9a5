"""JaxLayer and FlaxLayer against Keras 3's, on the same functions, weights and inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx.layers._jax_layer import FlaxLayer, JaxLayer
from kerasx.saving import register_keras_serializable
from harness import keras, run_layer_test


def x_of(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def trees(layer, params, state):
    """Our flat params/state as the wrapped function's pytrees (to hand them to Keras: its
    JaxLayer creates weights from an `init_fn` only with TensorFlow installed)."""
    tree_p, keys_p, tree_s, keys_s = layer._layout
    return (jax.tree.unflatten(tree_p, [np.asarray(params[k]) for k in keys_p]),
            jax.tree.unflatten(tree_s, [np.asarray(state[k]) for k in keys_s]))


@register_keras_serializable(package="tests_jax_layer")
def mlp_init(rng, inputs):
    k1, k2 = jax.random.split(rng)
    d = inputs.shape[-1]
    return {"dense": {"w": jax.random.normal(k1, (d, 8)) * 0.3, "b": jnp.zeros(8)},
            "out": [jax.random.normal(k2, (8, 3)) * 0.3, jnp.full((3,), 0.1)]}


@register_keras_serializable(package="tests_jax_layer")
def mlp_call(params, inputs):
    h = jnp.tanh(inputs @ params["dense"]["w"] + params["dense"]["b"])
    w, b = params["out"]
    return h @ w + b


def stateful_init(rng, inputs, training):
    params = {"w": jax.random.normal(rng, (inputs.shape[-1], 4)) * 0.5}
    state = {"mean": jnp.zeros(4), "count": jnp.zeros((), jnp.int32)}
    return params, state


def stateful_call(params, state, rng, inputs, training):
    h = inputs @ params["w"]
    if training:
        new_state = {"mean": 0.9 * state["mean"] + 0.1 * h.mean(axis=0),
                     "count": state["count"] + 1}
        keep = jax.random.bernoulli(rng, 0.5, h.shape)
        return jnp.where(keep, h * 2, 0.0), new_state
    return h - state["mean"], state


def test_jax_layer_matches_keras_and_keeps_weight_order():
    k = keras()
    layer = JaxLayer(mlp_call, mlp_init)
    x = x_of((4, 5))
    params, state = layer.init(jax.random.key(0), jax.ShapeDtypeStruct((4, 5), jnp.float32))
    ref = k.layers.JaxLayer(mlp_call, params=trees(layer, params, state)[0])
    y, params, state = run_layer_test(layer, x, ref, expected_num_weights=4, atol=1e-5)
    assert y.shape == (4, 3)
    assert list(params) == ["dense/b", "dense/w", "out/0", "out/1"]  # tree_flatten order
    assert [tuple(w.shape) for w in ref.weights] == [(8,), (5, 8), (8, 3), (3,)]
    grads = jax.grad(lambda p: layer.apply(p, state, x)[0].sum())(params)
    assert set(grads) == set(params)


def test_jax_layer_state_rng_and_training_match_keras():
    k = keras()
    layer = JaxLayer(stateful_call, stateful_init, seed=3)
    x = x_of((6, 5))
    params, state = layer.init(jax.random.key(0), jax.ShapeDtypeStruct((6, 5), jnp.float32))
    assert [n for n in layer.weight_names()] == [("params", "w"), ("state", "count"),
                                                 ("state", "mean")]
    ref = k.layers.JaxLayer(stateful_call, params=trees(layer, params, state)[0],
                            state=trees(layer, params, state)[1])
    assert [tuple(w.shape) for w in ref.weights] == [
        tuple(w.shape) for w in layer.get_weights_from(params, state)]
    # inference: deterministic, state unchanged
    y, new_state = layer.apply(params, state, x)
    np.testing.assert_allclose(y, np.asarray(ref(x, training=False)), atol=1e-5)
    assert new_state == state
    # training: the state update is deterministic; the mask comes from our rng
    y, new_state = jax.jit(lambda p, s, r: layer.apply(p, s, x, training=True, rng=r))(
        params, state, jax.random.key(1))
    ref(x, training=True)
    keras_state = dict(zip(["count", "mean"], [np.asarray(w) for w in ref.non_trainable_weights]))
    assert int(new_state["count"]) == 1 == int(keras_state["count"])
    np.testing.assert_allclose(new_state["mean"], keras_state["mean"], atol=1e-5)
    assert new_state["count"].dtype == jnp.int32
    h = np.asarray(x @ params["w"])
    kept = np.asarray(y) != 0
    np.testing.assert_allclose(np.asarray(y)[kept], 2 * h[kept], rtol=1e-5)
    assert 0 < kept.mean() < 1
    with pytest.raises(ValueError, match="'jl'.*JaxLayer.*rng=jax.random.key"):
        JaxLayer(stateful_call, stateful_init, name="jl").apply(params, state, x, training=True)


def test_jax_layer_given_params_and_object_api():
    w = np.ones((3, 2), "float32")
    layer = JaxLayer(lambda params, inputs: inputs @ params["w"], params={"w": w})
    assert layer.weight_names() == [("params", "w")]
    params, state = layer.init(jax.random.key(0), jax.ShapeDtypeStruct((1, 3), jnp.float32))
    np.testing.assert_array_equal(params["w"], w)
    out = layer(jnp.ones((2, 3)))
    np.testing.assert_array_equal(out, 3.0)
    assert [v.shape for v in layer.get_weights()] == [(3, 2)]
    # no weights at all
    relu = JaxLayer(lambda inputs: jax.nn.relu(inputs))
    np.testing.assert_array_equal(relu(jnp.array([[-1.0, 2.0]])), [[0.0, 2.0]])


def test_jax_layer_errors_teach():
    with pytest.raises(ValueError, match="`call_fn` must take an argument named `inputs`"):
        JaxLayer(lambda x: x)
    with pytest.raises(ValueError, match="unsupported argument `foo` in `call_fn`"):
        JaxLayer(lambda inputs, foo: inputs)
    with pytest.raises(ValueError, match="unsupported argument `params` in `init_fn`"):
        JaxLayer(mlp_call, lambda params, inputs: None)
    with pytest.raises(ValueError, match="cannot all be None"):
        JaxLayer(mlp_call)
    with pytest.raises(ValueError, match="callable `call_fn`"):
        JaxLayer("f")
    bad = JaxLayer(lambda params, state, inputs: (inputs, {"other": 1.0}),
                   params={"w": 1.0}, state={"s": 0.0})
    params, state = bad.init(jax.random.key(0), jax.ShapeDtypeStruct((1, 2), jnp.float32))
    with pytest.raises(ValueError, match="structure of the state"):
        bad.apply(params, state, jnp.ones((1, 2)))
    with pytest.raises(ValueError, match="leaves must be arrays"):
        JaxLayer(mlp_call, params={"w": "text"})


def test_jax_layer_config_round_trip():
    layer = JaxLayer(mlp_call, mlp_init, name="mlp", seed=2)
    config = layer.get_config()
    assert config["call_fn"]["config"] == "tests_jax_layer>mlp_call"
    clone = JaxLayer.from_config(config)
    assert clone.call_fn is mlp_call and clone.init_fn is mlp_init
    assert "seed" not in config  # as Keras's config
    spec = jax.ShapeDtypeStruct((2, 5), jnp.float32)
    a = layer.init(jax.random.key(0), spec)
    b = clone.init(jax.random.key(0), spec)
    jax.tree.map(np.testing.assert_array_equal, a, b)


# ------------------------------------------------------------------------------ FlaxLayer
try:  # FlaxLayer's tests need flax; the JaxLayer tests run without it
    import flax.linen as flax_linen
except ImportError:
    flax_linen = None


def need_flax():
    pytest.importorskip("flax.linen", reason="FlaxLayer needs flax (`pip install flax`)")


if flax_linen is not None:
    class FlaxMLP(flax_linen.Module):
        @flax_linen.compact
        def __call__(self, x, training=False):
            x = flax_linen.Dense(6)(x)
            x = flax_linen.BatchNorm(use_running_average=not training, momentum=0.8)(x)
            x = flax_linen.Dropout(0.5, deterministic=not training)(x)
            return flax_linen.Dense(2)(x)


    class FlaxPlain(flax_linen.Module):
        def setup(self):
            self.dense = flax_linen.Dense(3)

        def __call__(self, x):
            return self.dense(x)

        def encode(self, x):
            return jnp.tanh(self.dense(x))


def test_flax_layer_matches_keras():
    need_flax()
    k = keras()
    x = x_of((8, 4))
    layer = FlaxLayer(FlaxMLP())
    params, state = layer.init(jax.random.key(0), jax.ShapeDtypeStruct((8, 4), jnp.float32))
    assert set(params) == {"params/Dense_0/kernel", "params/Dense_0/bias",
                           "params/BatchNorm_0/scale", "params/BatchNorm_0/bias",
                           "params/Dense_1/kernel", "params/Dense_1/bias"}
    assert set(state) == {"batch_stats/BatchNorm_0/mean", "batch_stats/BatchNorm_0/var"}
    p_tree, s_tree = trees(layer, params, state)
    ref = k.layers.FlaxLayer(FlaxMLP(), variables={**p_tree, **s_tree})
    assert [tuple(w.shape) for w in ref.weights] == [
        tuple(w.shape) for w in layer.get_weights_from(params, state)]
    y, new_state = layer.apply(params, state, x)
    np.testing.assert_allclose(y, np.asarray(ref(x, training=False)), atol=1e-5)
    # training: batch statistics update the state; dropout from our rng
    y, new_state = layer.apply(params, state, x, training=True, rng=jax.random.key(1))
    ref(x, training=True)
    ref_state = [np.asarray(w) for w in ref.non_trainable_weights]
    for ours, theirs in zip(layer.get_weights_from(params, new_state)[-2:], ref_state):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert not np.allclose(new_state["batch_stats/BatchNorm_0/mean"], 0.0)


def test_flax_layer_method_and_variables():
    need_flax()
    module = FlaxPlain()
    variables = module.init(jax.random.key(0), jnp.ones((1, 4)))
    layer = FlaxLayer(module, method="encode", variables=variables)
    x = x_of((2, 4))
    y = layer(x)
    expected = module.apply(variables, x, method=module.encode)
    np.testing.assert_allclose(y, expected, atol=1e-6)
    assert [n for _, n in layer.weight_names()] == ["params/dense/bias", "params/dense/kernel"]


@pytest.mark.parametrize("kind", ["jax", "flax"])
def test_jax_and_flax_layers_train_in_a_model(kind):
    if kind == "flax":
        need_flax()
    layer = FlaxLayer(FlaxMLP()) if kind == "flax" else JaxLayer(mlp_call, mlp_init)
    model = kerasx.Sequential([kerasx.Input((4,)), layer])
    model.compile(optimizer="adam", loss="mse")
    x, y = x_of((32, 4)), x_of((32, 2 if kind == "flax" else 3), seed=1)
    before = [np.asarray(w) for w in model.get_weights()]
    history = model.fit(x, y, epochs=4, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    after = model.get_weights()
    assert all(not np.allclose(a, b) for a, b in zip(before, after))  # params and state moved
    if kind == "jax":  # deterministic: the loss goes down
        assert history.history["loss"][-1] < history.history["loss"][0]


def test_jax_layer_config_keys_match_keras():
    k = keras()
    ours = JaxLayer(mlp_call, mlp_init).get_config()
    theirs = k.layers.JaxLayer(mlp_call, mlp_init).get_config()
    assert set(ours) == set(theirs)
    assert theirs["call_fn"]["class_name"] == ours["call_fn"]["class_name"] == "function"
