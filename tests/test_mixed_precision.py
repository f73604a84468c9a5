"""Dtype policies against Keras 3: the same model under each policy gives the same dtypes and (to
the precision of the compute dtype) the same outputs and trained weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import dtype_policies, layers
from keras_oracle import require_keras

POLICIES = ["float32", "mixed_bfloat16", "bfloat16", "mixed_float16", "float16"]
TOL = {"float32": 1e-5, "mixed_bfloat16": 3e-2, "bfloat16": 6e-2, "mixed_float16": 3e-3,
       "float16": 6e-3}


@pytest.fixture
def global_policy():
    """Restores the global policy (kerasx's and Keras's) after the test."""
    yield
    dtype_policies.set_dtype_policy(None)
    try:
        import keras
        keras.config.set_dtype_policy("float32")
    except ImportError:
        pass


def _mlp(lib, policy):
    L = lib.layers
    return lib.Sequential([
        L.Input((6,)), L.Dense(16, activation="relu", dtype=policy),
        L.BatchNormalization(dtype=policy), L.Dense(8, dtype=policy),
        L.LayerNormalization(dtype=policy), L.Dropout(0.0, dtype=policy),
        L.Dense(3, dtype=policy), L.Activation("softmax", dtype="float32")])


def test_policy_names_and_their_dtypes_match_keras():
    keras = require_keras()
    for name in POLICIES:
        ours, theirs = dtype_policies.get(name), keras.dtype_policies.get(name)
        assert (ours.name, ours.compute_dtype, ours.variable_dtype) == \
            (theirs.name, theirs.compute_dtype, theirs.variable_dtype)
    for bad in ["mixed_int8", "float33"]:
        with pytest.raises(ValueError, match="dtype policy"):
            dtype_policies.get(bad)
    config = keras.dtype_policies.serialize(keras.dtype_policies.get("mixed_bfloat16"))
    assert dtype_policies.deserialize(config) == dtype_policies.get("mixed_bfloat16")
    assert dtype_policies.serialize(dtype_policies.get("mixed_bfloat16"))["config"] == \
        config["config"]


@pytest.mark.parametrize("policy", POLICIES)
def test_layer_dtypes_follow_the_policy_like_keras(policy):
    keras = require_keras()
    ours, theirs = layers.Dense(4, dtype=policy), keras.layers.Dense(4, dtype=policy)
    assert ours.dtype_policy.name == theirs.dtype_policy.name == policy
    assert ours.compute_dtype == theirs.compute_dtype
    assert ours.variable_dtype == theirs.variable_dtype == ours.dtype.name
    x = np.ones((2, 3), "float32")
    y = ours(x)
    assert y.dtype == theirs(x).dtype and ours.kernel.value.dtype == theirs.kernel.dtype
    assert layers.Dense.from_config(ours.get_config()).dtype_policy.name == policy
    # a Keras-written config (a policy dict) reads back into the same policy
    assert layers.Dense.from_config(theirs.get_config()).dtype_policy.name == policy


@pytest.mark.parametrize("policy", POLICIES)
def test_model_outputs_and_trained_weights_match_keras(policy):
    keras = require_keras()
    ours, theirs = _mlp(kerasx, policy), _mlp(keras, policy)
    ours.build((None, 6))
    theirs.set_weights(ours.get_weights())
    assert [w.dtype for w in ours.get_weights()] == [np.dtype(w.dtype) for w in theirs.weights]
    x = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, size=(32,))
    p_ours, p_theirs = ours.predict(x, verbose=0), theirs.predict(x, verbose=0)
    assert p_ours.dtype == p_theirs.dtype == np.float32  # the last layer is pinned to float32
    np.testing.assert_allclose(p_ours, p_theirs, atol=TOL[policy], rtol=TOL[policy])
    if policy == "mixed_float16":
        return  # trained through a LossScaleOptimizer: its own test
    for model in (ours, theirs):
        model.compile(optimizer=keras.optimizers.SGD(0.1) if model is theirs
                      else kerasx.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(np.asarray(a, "float32"), np.asarray(b, "float32"),
                                   atol=4 * TOL[policy], rtol=4 * TOL[policy])


def test_the_global_policy_applies_to_layers_made_after_it(global_policy):
    kerasx.mixed_precision.set_global_policy("mixed_bfloat16")
    assert kerasx.mixed_precision.global_policy().name == "mixed_bfloat16"
    assert kerasx.config.dtype_policy() is kerasx.mixed_precision.global_policy()
    dense = layers.Dense(2)
    assert dense.compute_dtype == "bfloat16" and dense.variable_dtype == "float32"
    assert layers.Input((3,)).dtype == jnp.float32  # inputs stay float32, as in Keras
    assert layers.Dense(2, dtype="float32").compute_dtype == "float32"
    kerasx.mixed_precision.set_global_policy("float32")
    assert layers.Dense(2).compute_dtype == "float32" and dense.compute_dtype == "bfloat16"


def test_mixed_policy_keeps_float32_weights_and_gradients():
    model = kerasx.Sequential([layers.Input((4,)), layers.Dense(3, dtype="mixed_bfloat16"),
                               layers.BatchNormalization(dtype="mixed_bfloat16")])
    model.build((None, 4))
    assert all(w.dtype == np.float32 for w in model.get_weights())
    x = jnp.ones((5, 4))

    def loss(params):
        y, _ = model.apply(params, model.state, x, training=True, rng=jax.random.key(0))
        assert y.dtype == jnp.bfloat16
        return jnp.sum(y.astype(jnp.float32) ** 2)

    grads = jax.grad(loss)(model.params)
    assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))
    _, new_state = model.apply(model.params, model.state, x, training=True, rng=jax.random.key(0))
    assert all(s.dtype == jnp.float32 for s in jax.tree.leaves(new_state))


def test_a_subclassed_layer_casts_its_inputs_and_weights():
    class Scale(layers.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")
            self.keep = self.add_weight(shape=(), initializer="ones", autocast=False)

        def call(self, x):
            assert x.dtype == jnp.bfloat16 and self.w.value.dtype == jnp.bfloat16
            assert self.keep.value.dtype == jnp.float32
            return x * self.w

    layer = Scale(dtype="mixed_bfloat16")
    y = layer(np.ones((2, 3), "float32"))
    assert y.dtype == jnp.bfloat16 and layer.w.value.dtype == jnp.float32


def test_summary_counts_bytes_by_each_weights_dtype():
    lines = []
    for policy in ("float32", "mixed_bfloat16", "bfloat16"):
        model = kerasx.Sequential([layers.Input((10,)), layers.Dense(10, dtype=policy)])
        out = []
        model.summary(print_fn=out.append)
        lines.append(next(line for line in out if "Total params" in line))
    assert lines[0] == lines[1] == " Total params: 110 (440 B)"  # mixed keeps float32 weights
    assert lines[2] == " Total params: 110 (220 B)"


def test_mixed_float16_trains_through_a_loss_scale_optimizer_like_keras(global_policy):
    keras = require_keras()
    models = []
    for lib in (kerasx, keras):
        lib.config.set_dtype_policy("mixed_float16") if lib is keras else \
            dtype_policies.set_dtype_policy("mixed_float16")
        model = lib.Sequential([lib.layers.Input((6,)), lib.layers.Dense(8, activation="relu"),
                                lib.layers.Dense(1, dtype="float32")])
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        assert type(model.optimizer).__name__ == "LossScaleOptimizer" or \
            type(model._trainer.optimizer).__name__ == "LossScaleOptimizer"
        models.append(model)
    ours, theirs = models
    theirs.set_weights(ours.get_weights())
    x = np.random.default_rng(0).normal(size=(32, 6)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    h1 = ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    h2 = theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=5e-3)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=5e-3, rtol=5e-3)
    without = kerasx.Sequential([layers.Input((6,)), layers.Dense(1)])
    without.compile(optimizer="sgd", loss="mse", auto_scale_loss=False)
    assert type(without._trainer.optimizer).__name__ == "SGD"


def test_mixed_float16_custom_loop_needs_a_loss_scaling_optimizer():
    """A custom loop under "mixed_float16" with a plain optimizer is an error that shows the
    fix; a LossScaleOptimizer, and `fit` (which adds one, or was told not to), run."""
    import jax.numpy as jnp
    kerasx.config.set_dtype_policy("mixed_float16")
    try:
        model = kerasx.Sequential([kerasx.Input((3,)), kerasx.layers.Dense(2)])
        params = model.params
        grads = jax.tree.map(jnp.zeros_like, params)
        sgd = kerasx.optimizers.SGD(0.1)
        with pytest.raises(ValueError, match=r"optimizer 'sgd' \(SGD\) does not scale the loss"
                                             r".*LossScaleOptimizer\(optimizer\)"):
            sgd.update(grads, sgd.init(params), params)
        scaled = kerasx.optimizers.LossScaleOptimizer(kerasx.optimizers.SGD(0.1))
        scaled.update(grads, scaled.init(params), params)
        x, y = np.ones((4, 3), "float32"), np.ones((4, 2), "float32")
        model.compile(kerasx.optimizers.SGD(0.1), "mse")
        model.fit(x, y, verbose=0)
        model.compile(kerasx.optimizers.SGD(0.1), "mse", auto_scale_loss=False)
        model.fit(x, y, verbose=0)
    finally:
        kerasx.config.set_dtype_policy(None)


def test_dtype_policy_map_gives_each_layer_its_policy_like_keras():
    keras = require_keras()
    policy_map = {"dense_a": "mixed_bfloat16", "dense_b": "float16"}
    ours = dtype_policies.DTypePolicyMap(default_policy="float32", policy_map=policy_map)
    theirs = keras.dtype_policies.DTypePolicyMap(
        default_policy="float32",
        policy_map={k: keras.dtype_policies.DTypePolicy(v) for k, v in policy_map.items()})
    x = np.ones((1, 3), "float32")
    for name in ("dense_a", "dense_b", "dense_c"):
        a = layers.Dense(2, name=name, dtype=ours)
        b = keras.layers.Dense(2, name=name, dtype=theirs)
        a(x), b(x)  # a built top-level layer: Keras looks its path (= its name) up
        assert (a.compute_dtype, a.variable_dtype) == (b.compute_dtype, b.variable_dtype), name
    layer = layers.Dense(2, name="dense_a", dtype=ours)
    assert layer(np.ones((1, 3), "float32")).dtype == jnp.bfloat16
    model = kerasx.Sequential([kerasx.Input((3,)), layer])
    restored = kerasx.Sequential.from_config(model.get_config())
    assert restored.layers[0].compute_dtype == "bfloat16"
    assert restored.layers[0].variable_dtype == "float32"
