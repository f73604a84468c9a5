"""Rematerialization: `kerasx.RematScope` / `kerasx.remat` (Keras 3's names) over `jax.checkpoint`.

What is checked: the scope stack and the errors; which layers each mode rematerializes (by the
`checkpoint` equations in the traced program); that remat changes no number (outputs,
gradients, state updates, added losses, two epochs of `fit`), also against Keras 3 running the
same models in its own `RematScope`; and that it lowers the compiled peak memory (XLA's
`memory_analysis().temp_size_in_bytes`) of a deep MLP's train step on this CPU backend.
"""

import pickle
import threading

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.core import jaxprs_in_params

import kerasx
from kerasx import layers
from kerasx._remat import RematMode, get_current_remat_mode
from kerasx.layers._base import apply_layer

# Keras is imported by the oracle tests only: they skip without it
from keras_oracle import keras, require_keras

RNG = np.random.default_rng(0)


def count_checkpoints(fn, *args):
    """The `jax.checkpoint` equations in the program `fn(*args)` traces to (at any depth)."""
    def walk(jaxpr):
        return sum((eqn.primitive.name in ("checkpoint", "remat", "remat2"))
                   + sum(walk(sub) for sub in jaxprs_in_params(eqn.params))
                   for eqn in jaxpr.eqns)
    return walk(jax.make_jaxpr(fn)(*args).jaxpr)


def mlp(mode=None, **scope_kw):
    with kerasx.RematScope(mode, **scope_kw):
        return kerasx.Sequential([
            kerasx.Input((6,)),
            layers.Dense(16, activation="gelu", name="d1"),
            layers.Dense(8, activation="relu", name="d2"),
            layers.Dense(3, name="d3")])


def forward_checkpoints(model, batch):
    x = jnp.ones((batch,) + tuple(model.inputs[0].shape[1:]))
    return count_checkpoints(lambda p, s, x: model.apply(p, s, x)[0], model.params, model.state, x)


# ------------------------------------------------------------------------------------ the scope
def test_scope_stack_nesting_and_exit():
    assert get_current_remat_mode() is None
    with kerasx.RematScope() as outer:
        assert get_current_remat_mode() == RematMode("full", 1024, [])
        with kerasx.RematScope("larger_than", output_size_threshold=10):
            assert get_current_remat_mode() == RematMode("larger_than", 10, [])
        with kerasx.RematScope(None):  # a mode of None is active and disables remat
            assert get_current_remat_mode() == RematMode(None, 1024, [])
        assert get_current_remat_mode().mode == "full"
        assert outer.mode == "full"
    assert get_current_remat_mode() is None
    with pytest.raises(RuntimeError):
        with kerasx.RematScope("list_of_layers", layer_names=("a", "b")):
            assert get_current_remat_mode().layer_names == ["a", "b"]
            raise RuntimeError("inside")
    assert get_current_remat_mode() is None  # popped on an exception too


def test_scope_matches_keras():
    keras_mode = require_keras("keras.src.backend.common.remat").get_current_remat_mode
    for kw in [{}, {"mode": "activations"}, {"mode": "larger_than", "output_size_threshold": 7},
               {"mode": "list_of_layers", "layer_names": ["x"]}, {"mode": None}]:
        with kerasx.RematScope(**kw), keras.RematScope(**kw):
            assert tuple(get_current_remat_mode()) == tuple(keras_mode())


def test_scope_is_per_thread():
    seen = []
    with kerasx.RematScope("full"):
        t = threading.Thread(target=lambda: seen.append(get_current_remat_mode()))
        t.start()
        t.join()
    assert seen == [None]


def test_layers_read_the_scope_when_created():
    with kerasx.RematScope("full"):
        inside = layers.Dense(2)
        with kerasx.RematScope(None):
            off = layers.Dense(2)
    outside = layers.Dense(2)
    assert inside._remat_mode.mode == "full"
    assert off._remat_mode.mode is None
    assert outside._remat_mode is None
    assert pickle.loads(pickle.dumps(inside))._remat_mode == inside._remat_mode
    with kerasx.RematScope("full"):  # calling inside a scope does not change a layer's mode
        x = jnp.ones((2, 3))
        outside(x)
        p, _ = outside.init(jax.random.key(0), x)
        assert count_checkpoints(lambda p, x: apply_layer(outside, p, {}, x)[0], p, x) == 0
    p, _ = inside.init(jax.random.key(0), x)
    assert count_checkpoints(lambda p, x: apply_layer(inside, p, {}, x)[0], p, x) == 1


# ------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("mode", ["Full", "all", "", 1, True, ["full"]])
def test_unknown_mode(mode):
    with pytest.raises(ValueError, match="Invalid mode .*Supported modes are: 'full', "
                                         "'activations', 'larger_than', 'list_of_layers', or None"):
        kerasx.RematScope(mode=mode)
    if isinstance(mode, str):  # Keras rejects the same values
        with pytest.raises(ValueError, match="Invalid mode"):
            keras.RematScope(mode=mode)


@pytest.mark.parametrize("threshold", [-1, -0.5, float("nan"), "1024", None, True, [10]])
def test_bad_threshold(threshold):
    with pytest.raises(ValueError, match="output_size_threshold"):
        kerasx.RematScope("larger_than", output_size_threshold=threshold)


@pytest.mark.parametrize("names", ["dense_1", ["dense_1", 3], 5])
def test_bad_layer_names(names):
    with pytest.raises(ValueError, match="layer_names"):
        kerasx.RematScope("list_of_layers", layer_names=names)


def test_remat_needs_a_callable():
    with pytest.raises(TypeError, match="callable"):
        kerasx.remat(3)


# ------------------------------------------------------------------------------------ which layers
@pytest.mark.parametrize("mode, kw, expected", [
    (None, {}, 0),
    ("full", {}, 3),                                       # every layer
    ("activations", {}, 3),                                # every Dense has an activation (linear too)
    ("list_of_layers", {"layer_names": ["d2", "zz"]}, 1),  # d2 only
    ("larger_than", {"output_size_threshold": 32}, 1),     # d1: 4*16=64 > 32; d2: 32, not > 32
    ("larger_than", {"output_size_threshold": 31}, 2),     # d1 and d2 (32 > 31); d3: 12
    ("larger_than", {"output_size_threshold": 1024}, 0),   # the default: nothing so small
])
def test_which_layers_are_rematerialized(mode, kw, expected):
    m = mlp(mode, **kw)
    x = jnp.ones((4, 6))
    assert count_checkpoints(lambda p, s, x: m.apply(p, s, x)[0], m.params, m.state, x) == expected


def test_activations_mode_wraps_only_the_activation():
    with kerasx.RematScope("activations"):
        dense = layers.Dense(4, activation="relu")
        relu = layers.ReLU()  # no `activation` attribute: not rematerialized (as in Keras)
        act = layers.Activation("tanh")
    x = jnp.ones((2, 3))
    p, _ = dense.init(jax.random.key(0), x)
    original = dense.activation
    assert count_checkpoints(lambda p, x: apply_layer(dense, p, {}, x)[0], p, x) == 1
    assert dense.activation is original  # restored after the call
    np.testing.assert_allclose(dense(x), jnp.maximum(x @ dense.kernel.value + dense.bias.value, 0))
    jaxpr = jax.make_jaxpr(lambda p, x: apply_layer(dense, p, {}, x)[0])(p, x)
    inner = [e for e in jaxpr.jaxpr.eqns if e.primitive.name in ("checkpoint", "remat", "remat2")][0]
    assert "dot_general" not in str(inner.params["jaxpr"])  # the matmul stays outside
    assert count_checkpoints(lambda x: apply_layer(relu, {}, {}, x)[0], x) == 0
    assert count_checkpoints(lambda x: apply_layer(act, {}, {}, x)[0], x) == 1


def test_nested_model_by_name():
    with kerasx.RematScope("list_of_layers", layer_names=["block"]):
        block = kerasx.Sequential([layers.Dense(8, activation="tanh"), layers.Dense(8)], name="block")
        model = kerasx.Sequential([kerasx.Input((5,)), block, layers.Dense(1)])
    x = jnp.ones((3, 5))
    assert count_checkpoints(lambda p, s, x: model.apply(p, s, x)[0], model.params, model.state, x) == 1


# ------------------------------------------------------------------------------------ numbers
class Block(layers.Layer):
    """A subclassed layer with sublayers, dropout, batch statistics and an added loss."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = layers.Dense(12, activation="silu", activity_regularizer="l2")
        self.norm = layers.BatchNormalization()
        self.drop = layers.Dropout(0.3)

    def call(self, x, training=None):
        y = self.norm(self.dense(x), training=training)
        self.add_loss(0.01 * jnp.mean(y ** 2))
        return self.drop(y, training=training)


def block_model(mode, **kw):
    with kerasx.RematScope(mode, **kw):
        return kerasx.Sequential([kerasx.Input((6,)), Block(name="block"),
                                  layers.Dense(4, activation="gelu"), layers.Dense(1)])


@pytest.mark.parametrize("mode, kw", [
    ("full", {}), ("activations", {}), ("larger_than", {"output_size_threshold": 20}),
    pytest.param("list_of_layers", {"layer_names": ["block"]}, marks=pytest.mark.slow)])
def test_same_outputs_gradients_state_and_losses(mode, kw):
    plain, rem = block_model(None), block_model(mode, **kw)
    rem.set_weights(plain.get_weights())
    x = jnp.asarray(RNG.normal(size=(8, 6)), jnp.float32)
    key = jax.random.key(3)

    def run(model):
        def loss(p, s):
            with kerasx.layers.collect_losses() as added:
                y, new_s = model.apply(p, s, x, training=True, rng=key)
            return jnp.mean(y ** 2) + sum(added), (y, new_s, added)
        (l, aux), g = jax.jit(jax.value_and_grad(loss, has_aux=True))(model.params, model.state)
        return l, aux, g

    a, b = run(plain), run(rem)
    assert len(a[1][2]) == len(b[1][2]) == 2  # add_loss + activity regularizer, both reach out
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)
    assert forward_checkpoints(rem, 8) >= 1


def test_two_epochs_of_fit_same_weights():
    x = RNG.normal(size=(40, 6)).astype("float32")
    y = RNG.normal(size=(40, 1)).astype("float32")
    plain, rem = block_model(None), block_model("full")
    rem.set_weights(plain.get_weights())
    # Block, its Dense, BatchNormalization and Dropout, then two Dense: 6 checkpoints
    assert forward_checkpoints(plain, 16) == 0 and forward_checkpoints(rem, 16) == 6
    hist = []
    for m in (plain, rem):
        m.compile(optimizer=kerasx.optimizers.Adam(0.01), loss="mse")
        kerasx.utils.set_random_seed(7)  # the same dropout keys
        hist.append(m.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history["loss"])
    np.testing.assert_allclose(hist[0], hist[1], rtol=1e-5)
    for u, v in zip(plain.get_weights(), rem.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6)


def test_remat_function_kwargs_and_gradients():
    def fn(x, scale=1.0, offset=0.0, square=False):
        y = jnp.sin(x) * scale + offset
        return y * y if square else y

    x = jnp.array([1.0, 2.0, 3.0])
    r = kerasx.remat(fn)
    assert r.__name__ == "fn"
    np.testing.assert_allclose(r(x, scale=2.0, offset=1.0), fn(x, scale=2.0, offset=1.0))
    np.testing.assert_allclose(r(x), fn(x))
    np.testing.assert_allclose(r(x, square=True), fn(x, square=True))  # a Python bool is static
    g = jax.grad(lambda x: r(x, scale=3.0, square=True).sum())
    np.testing.assert_allclose(g(x), jax.grad(lambda x: fn(x, scale=3.0, square=True).sum())(x),
                               rtol=1e-6)
    assert count_checkpoints(lambda x: r(x, square=True), x) == 1
    assert count_checkpoints(jax.grad(lambda x: r(x).sum()), x) >= 1
    # eager layers, as in Keras's test: `remat(ReLU())(x)`
    xs = RNG.normal(size=(5, 4)).astype("float32")
    np.testing.assert_allclose(kerasx.remat(layers.ReLU())(xs), np.maximum(xs, 0))


def remat_in_call(lib):
    """Keras's `remat` docstring example, for `lib`: a layer whose `call` runs a
    rematerialized function."""

    class RematInCall(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.remat_function = lib.remat(self.intermediate_function)

        def intermediate_function(self, x):
            for _ in range(2):
                x = x + x * 0.1
            return x

        def call(self, inputs):
            return self.remat_function(inputs)

    return RematInCall


RematInCall = remat_in_call(kerasx)


# ------------------------------------------------------------------------------------ Keras oracle
def _arch(L, custom):
    inputs = L.Input(shape=(6,))
    x = L.Dense(16, activation="gelu", name="d1")(inputs)
    x = L.Dense(16, activation="relu", name="d2")(x)
    if custom is not None:
        x = custom()(x)
    x = L.Dense(8, activation="silu", name="d3")(x)
    return inputs, L.Dense(1, name="d4")(x)


@pytest.mark.parametrize("mode, kw", [
    ("full", {}),
    pytest.param("activations", {}, marks=pytest.mark.slow),
    pytest.param("larger_than", {"output_size_threshold": 100}, marks=pytest.mark.slow),
    pytest.param("list_of_layers", {"layer_names": ["d2", "d3"]}, marks=pytest.mark.slow)])
def test_fit_matches_keras_in_remat_scope(mode, kw):
    KerasRematInCall = remat_in_call(keras)

    x = RNG.normal(size=(48, 6)).astype("float32")
    y = RNG.normal(size=(48, 1)).astype("float32")
    with kerasx.RematScope(mode, **kw):
        kx = kerasx.Model(*_arch(kerasx.layers, RematInCall))
    with keras.RematScope(mode, **kw):
        kr = keras.Model(*_arch(keras.layers, KerasRematInCall))
    kr.set_weights(kx.get_weights())
    assert forward_checkpoints(kx, 16) >= 1
    for m, lib in ((kx, kerasx), (kr, keras)):
        m.compile(optimizer=lib.optimizers.Adam(0.01), loss="mse")
    h1 = kx.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history["loss"]
    h2 = kr.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(h1, h2, rtol=1e-4, atol=1e-5)
    for u, v in zip(kx.get_weights(), kr.get_weights()):
        np.testing.assert_allclose(u, v, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(kx.predict(x, verbose=0), kr.predict(x, verbose=0), rtol=1e-4,
                               atol=1e-5)


# ------------------------------------------------------------------------------------ memory
def train_step_temp_bytes(model, batch):
    """XLA's temporary buffer size for one compiled SGD train step of `model` (no data needed)."""
    width = model.inputs[0].shape[-1]
    p, s = model.params, model.state
    x = jax.ShapeDtypeStruct((batch, width), jnp.float32)
    y = jax.ShapeDtypeStruct((batch, 1), jnp.float32)

    def step(p, x, y):
        loss = lambda p: jnp.mean((model.apply(p, s, x, training=True)[0] - y) ** 2)
        return jax.tree.map(lambda w, g: w - 0.01 * g, p, jax.grad(loss)(p))

    compiled = jax.jit(step, donate_argnums=0).lower(p, x, y).compile()
    return compiled.memory_analysis().temp_size_in_bytes


def deep_mlp(mode, depth, width, activation="gelu", **kw):
    with kerasx.RematScope(mode, **kw):
        return kerasx.Sequential([kerasx.Input((width,))] + [
            layers.Dense(width, activation=activation) for _ in range(depth)] + [layers.Dense(1)])


def _memory_case(depth, width, batch):
    plain = train_step_temp_bytes(deep_mlp(None, depth, width), batch)
    full = train_step_temp_bytes(deep_mlp("full", depth, width), batch)
    return plain, full


def test_remat_lowers_peak_memory_of_a_deep_mlp():
    # Activations (batch x width) well above the weights, so XLA cannot park them in the
    # gradient buffers; GELU (exact, Keras's default) keeps several per layer without remat.
    plain, full = _memory_case(depth=8, width=128, batch=1024)
    assert full < 0.75 * plain, (plain, full)


@pytest.mark.slow
def test_remat_lowers_peak_memory_of_a_24_layer_mlp():
    depth, width, batch = 24, 256, 2048
    plain, full = _memory_case(depth, width, batch)
    act = train_step_temp_bytes(deep_mlp("activations", depth, width), batch)
    big = train_step_temp_bytes(deep_mlp("larger_than", depth, width,
                                         output_size_threshold=1000), batch)
    print(f"temp bytes: no remat {plain}, full {full}, activations {act}, larger_than {big}")
    assert full < 0.75 * plain and act < 0.75 * plain and big < 0.75 * plain
