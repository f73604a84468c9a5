"""Keras-style subclassing (build / add_weight / call, layers holding layers, subclassed models)
compiled to the pure init/apply, checked against Keras 3 on the same weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import layers
from keras_oracle import require_keras  # Keras, or skip the test that needs it


def keras():
    return require_keras()


def _data(n=32, d=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


# ---------------------------------------------------------------------------- kerasx classes
class Linear(layers.Layer):
    def __init__(self, units=4, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                 initializer="random_normal", name="w")
        self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

    def call(self, inputs):
        return inputs @ self.w + self.b


class Block(layers.Layer):
    """Sublayers as attributes (one in a list), a non-trainable counter, dropout."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.linear = Linear(8)
        self.stack = [layers.Dense(6, activation="tanh"), layers.Dense(3)]
        self.dropout = layers.Dropout(0.5)

    def call(self, x, training=None):
        h = jax.nn.relu(self.linear(x))
        h = self.dropout(h, training=training)
        for layer in self.stack:
            h = layer(h)
        return h


class MLP(kerasx.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.block = Block()
        self.head = layers.Dense(1)

    def call(self, x, training=False):
        return self.head(self.block(x, training=training))


# ---------------------------------------------------------------------------- Keras twins
def keras_classes():
    k = keras()

    class KLinear(k.layers.Layer):
        def __init__(self, units=4, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                     initializer="random_normal", name="w")
            self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b")

        def call(self, inputs):
            return k.ops.matmul(inputs, self.w) + self.b

    class KBlock(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.linear = KLinear(8)
            self.stack = [k.layers.Dense(6, activation="tanh"), k.layers.Dense(3)]
            self.dropout = k.layers.Dropout(0.5)

        def call(self, x, training=None):
            h = k.ops.relu(self.linear(x))
            h = self.dropout(h, training=training)
            for layer in self.stack:
                h = layer(h)
            return h

    class KMLP(k.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.block = KBlock()
            self.head = k.layers.Dense(1)

        def call(self, x, training=False):
            return self.head(self.block(x, training=training))

    return KLinear, KBlock, KMLP


# ---------------------------------------------------------------------------- tests
def test_subclassed_layer_params_follow_attributes_and_keras_order():
    block = Block()
    params, state = block.init(jax.random.key(0), jnp.ones((1, 5)))
    assert jax.tree.map(jnp.shape, params) == {
        "linear": {"w": (5, 8), "b": (8,)}, "dense": {"kernel": (8, 6), "bias": (6,)},
        "dense_1": {"kernel": (6, 3), "bias": (3,)}, "dropout": {}}
    block(np.ones((2, 5), np.float32))
    assert [v.path for v in block.weights] == [
        "linear/w", "linear/b", "dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias"]
    assert isinstance(block.linear.w, kerasx.layers.Layer.__init__.__globals__["Variable"])


def test_subclassed_layer_outputs_and_gradients_match_keras():
    _, KBlock, _ = keras_classes()
    x, _ = _data()
    ours, theirs = Block(), KBlock()
    ours(x)
    theirs(x)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-6)

    params, state = kerasx.layers._tree.gather(ours)
    grads = jax.grad(lambda p: jnp.sum(ours.apply(p, state, x)[0] ** 2))(params)
    tv = [v.value for v in theirs.trainable_variables]
    ntv = [v.value for v in theirs.non_trainable_variables]

    def keras_loss(tv):
        y, _ = theirs.stateless_call(tv, ntv, x)
        return jnp.sum(y ** 2)

    keras_grads = jax.grad(keras_loss)(tv)
    ours_flat = ours.get_weights_from(grads, state)
    for a, b in zip(ours_flat, keras_grads):
        np.testing.assert_allclose(a, np.asarray(b), rtol=1e-4, atol=1e-5)
    # under jit, and with dropout active the key decides the mask
    y1, _ = jax.jit(lambda p, s: ours.apply(p, s, x, training=True, rng=jax.random.key(1)))(
        params, state)
    y2, _ = ours.apply(params, state, x, training=True, rng=jax.random.key(2))
    assert not np.allclose(y1, y2)
    with pytest.raises(ValueError, match="Dropout.*needs a random key"):
        ours.apply(params, state, x, training=True)


def test_subclassed_model_fit_matches_keras():
    _, _, KMLP = keras_classes()
    k = keras()
    x, y = _data(64)
    ours, theirs = MLP(), KMLP()
    ours.block.dropout.rate = theirs.block.dropout.rate = 0.0  # same randomness: none
    ours(x[:1])
    theirs(x[:1])
    ours.set_weights(theirs.get_weights())
    ours.compile(optimizer=kerasx.optimizers.SGD(0.05), loss="mse")
    theirs.compile(optimizer=k.optimizers.SGD(0.05), loss="mse")
    h1 = ours.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    h2 = theirs.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-4)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-4, atol=1e-5)
    assert [v.path for v in ours.trainable_weights][:2] == ["linear/w", "linear/b"]


def test_transfer_learning_with_frozen_base_matches_keras():
    k = keras()
    x, y = _data(64)

    def make(lib):
        base = lib.Sequential([lib.Input((5,)), lib.layers.Dense(8, activation="relu"),
                               lib.layers.BatchNormalization(), lib.layers.Dense(4)],
                              name="base")
        inputs = lib.Input((5,))
        model = lib.Model(inputs, lib.layers.Dense(1)(base(inputs, training=False)))
        return base, model

    base_o, ours = make(kerasx)
    base_k, theirs = make(k)
    ours.set_weights(theirs.get_weights())
    # pre-train the base a little (BatchNorm statistics move), then freeze it
    for base, lib in ((base_o, kerasx), (base_k, k)):
        base.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        base.fit(x, np.tile(y, (1, 4)), batch_size=16, epochs=1, shuffle=False, verbose=0)
        base.trainable = False
    frozen = base_o.get_weights()
    for model, lib in ((ours, kerasx), (theirs, k)):
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for a, b in zip(frozen, base_o.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert len(ours.trainable_weights) == len(theirs.trainable_weights) == 2
    assert len(ours.non_trainable_weights) == len(theirs.non_trainable_weights) == 8


class Counter(layers.Layer):
    """A non-trainable weight that `call` updates with `assign`."""

    def build(self, input_shape):
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False,
                                     name="count")

    def call(self, x, training=None):
        if training:
            self.count.assign(self.count + x.shape[0])
        return x


def test_variable_assign_in_call_is_state_updated_by_fit_and_eager_calls():
    counter = Counter()
    model = kerasx.Sequential([kerasx.Input((5,)), counter, layers.Dense(1)])
    params, state = model.params, model.state
    _, new_state = model.apply(params, state, np.ones((3, 5), np.float32), training=True)
    assert float(new_state["counter"]["count"]) == 3.0
    assert float(counter.count.numpy()) == 0.0  # apply is pure
    model.compile("sgd", "mse")
    x, y = _data(40)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    assert float(counter.count.numpy()) == 80.0
    counter(np.ones((2, 5), np.float32), training=True)
    assert float(counter.count.numpy()) == 82.0


class AddsWeightInCall(layers.Layer):
    def call(self, x):
        w = self.add_weight(shape=(x.shape[-1],), name="late")
        return x * w


class MakesLayerInCall(layers.Layer):
    def call(self, x):
        return layers.Dense(2)(x)


class AssignsTrainable(layers.Layer):
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="w")

    def call(self, x):
        self.w.assign(self.w * 2)
        return x * self.w


def test_misuse_gives_clear_errors():
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="'adds_weight_in_call'.*`add_weight` after it was built"):
        AddsWeightInCall()(x)
    with pytest.raises(ValueError, match="called inside the `call` of layer 'makes_layer_in_call'"
                                         ".*not one of its sublayers"):
        MakesLayerInCall()(x)
    with pytest.raises(ValueError, match="assigns its trainable weight 'w' inside `call`"):
        AssignsTrainable()(x)


class FunctionalSubclass(kerasx.Model):
    def __init__(self, **kwargs):
        inputs = kerasx.Input((5,))
        outputs = layers.Dense(1, name="out")(layers.Dense(4, name="hidden")(inputs))
        super().__init__(inputs, outputs, **kwargs)
        self.marker = "custom"

    def describe(self):
        return f"{self.marker}:{len(self.layers)}"


def test_functional_subclass_form_trains_and_keeps_its_methods():
    model = FunctionalSubclass()
    assert isinstance(model, FunctionalSubclass) and model.describe() == "custom:3"
    assert [l.name for l in model.layers] == ["input_layer", "hidden", "out"]
    model.compile("sgd", "mse")
    x, y = _data()
    before = model.get_weights()[0].copy()
    model.fit(x, y, epochs=1, verbose=0)
    assert not np.allclose(before, model.get_weights()[0])


def test_registered_subclassed_layer_saves_and_loads(tmp_path):
    @kerasx.saving.register_keras_serializable(package="tests_subclassing")
    class Scaled(layers.Layer):
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.inner = layers.Dense(units)

        def build(self, input_shape):
            self.scale = self.add_weight(shape=(self.units,), initializer="ones", name="scale")

        def call(self, x):
            return self.inner(x) * self.scale

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    model = kerasx.Sequential([kerasx.Input((5,)), Scaled(3), layers.Dense(1)])
    model.compile("adam", "mse")
    x, y = _data()
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "m.kerasx")
    model.save(path)
    loaded = kerasx.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [v.path for v in loaded.layers[0].weights] == ["scaled/scale", "dense/kernel",
                                                         "dense/bias"]
