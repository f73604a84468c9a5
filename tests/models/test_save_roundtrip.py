"""Whole-model save/load round trips for Sequential, functional and nested models with
BatchNormalization and Dropout, trained with several optimizers.

A loaded model must predict and evaluate bit-identically, hold the same weights, BatchNorm
moving statistics and optimizer state, and `fit(initial_epoch=...)` on it must end with the very
weights of an uninterrupted run. Also: seeded fits are deterministic, weight files load into a
fresh model of the same architecture, JSON rebuilds the architecture, and uncompiled models (or
`compile=False`) save and load.

Determinism recipe (as in test_model_files.py): the model is built (weights initialized) under
its own seed before `set_random_seed(SEED)`; `fit` then draws its dropout key and shuffle seed
from the seeded global RNG, and step `i` of a run uses `fold_in(key, i)`. A resumed
`fit(initial_epoch=1)` seeded with the same SEED draws the same key and shuffle seed, so its
epoch 1 is the uninterrupted run's epoch 1.

Compiling a train step takes seconds on a CPU, so each case trains only two models: the
uninterrupted run, which checkpoints itself after its first epoch, and the model loaded from
that checkpoint, which resumes.
"""

import jax
import numpy as np
import pytest

import kerasx
from kerasx import layers, optimizers

SEED = 7
RNG = np.random.default_rng(11)
N, BATCH = 24, 8
STEPS = N // BATCH
IMAGES = RNG.normal(size=(N, 5, 5, 2)).astype("float32")
VECTORS = RNG.normal(size=(N, 6)).astype("float32")
EXTRA = RNG.normal(size=(N, 3)).astype("float32")
Y = RNG.integers(0, 3, N)


# ------------------------------------------------------------------------------ the models
def sequential_model():
    return kerasx.Sequential([
        layers.Input((5, 5, 2)),
        layers.Conv2D(3, 3, padding="same"),
        layers.BatchNormalization(),
        layers.Activation("relu"),
        layers.MaxPooling2D(2),
        layers.Flatten(),
        layers.Dropout(0.3),
        layers.Dense(4, activation="relu"),
        layers.Dense(3, activation="softmax"),
    ], name="seq")


def functional_model():
    """Two inputs, two branches merged by Add, then Concatenate with the second input."""
    a = kerasx.Input((6,), name="a")
    b = kerasx.Input((3,), name="b")
    left = layers.Dense(5, activation="relu")(a)
    right = layers.BatchNormalization()(layers.Dense(5)(a))
    h = layers.Add()([left, right])
    h = layers.Concatenate()([layers.Dropout(0.25)(h), b])
    h = layers.BatchNormalization(momentum=0.8)(h)
    out = layers.Dense(3, activation="softmax")(h)
    return kerasx.Model([a, b], out, name="func")


def nested_model():
    """A Sequential inside a functional model (with a shared layer) inside a Sequential."""
    inner = kerasx.Sequential([layers.Dense(5), layers.BatchNormalization(),
                               layers.Activation("relu")], name="inner")
    inp = kerasx.Input((6,))
    h = inner(inp)
    shared = layers.Dense(5, name="shared")
    mid_out = layers.Add()([shared(h), shared(layers.Dropout(0.3, seed=3)(h))])
    mid = kerasx.Model(inp, mid_out, name="mid")
    return kerasx.Sequential([layers.Input((6,)), mid, layers.BatchNormalization(),
                              layers.Dropout(0.2), layers.Dense(3, activation="softmax")],
                             name="outer")


# kind: (model, inputs, number of BatchNormalization layers)
KINDS = {
    "sequential": (sequential_model, IMAGES, 1),
    "functional": (functional_model, [VECTORS, EXTRA], 2),
    "nested": (nested_model, VECTORS, 2),
}

OPTIMIZERS = {
    "adam": lambda: optimizers.Adam(0.01),
    "adamw_amsgrad": lambda: optimizers.AdamW(0.01, weight_decay=0.05, amsgrad=True),
    "sgd_nesterov": lambda: optimizers.SGD(0.05, momentum=0.9, nesterov=True),
    "rmsprop_centered": lambda: optimizers.RMSprop(0.01, momentum=0.5, centered=True),
}

CASES = [("sequential", "adamw_amsgrad"), ("functional", "sgd_nesterov"),
         ("nested", "rmsprop_centered")]


def make(kind, optimizer=None, init_seed=0):
    """The model of `kind`, built under `init_seed` (so that its weights are fixed before the
    fit's seed is set), and compiled with `optimizer` unless it is None."""
    kerasx.utils.set_random_seed(init_seed)
    model = KINDS[kind][0]()
    model.build()
    if optimizer is not None:
        model.compile(optimizer=OPTIMIZERS[optimizer](), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
    return model


def fit(model, kind, epochs, initial_epoch=0, seed=SEED, callbacks=None):
    kerasx.utils.set_random_seed(seed)
    model.fit(KINDS[kind][1], Y, batch_size=BATCH, epochs=epochs, initial_epoch=initial_epoch,
              callbacks=callbacks, verbose=0)


def snapshot(tree):
    return jax.tree.map(lambda v: np.array(v, copy=True), tree)


def assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert np.asarray(u).dtype == np.asarray(v).dtype
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))


def assert_lists_equal(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def moving_stats(state):
    """Every BatchNorm moving mean/variance in a state tree, by path."""
    flat = jax.tree_util.tree_flatten_with_path(state)[0]
    return {jax.tree_util.keystr(p): np.asarray(v) for p, v in flat
            if "moving_" in jax.tree_util.keystr(p)}


class Checkpoint(kerasx.callbacks.Callback):
    """After the first epoch: saves the model and its weights, and records what the model
    holds and computes then."""

    def __init__(self, folder, x):
        super().__init__()
        self.path, self.weights_path = str(folder / "m.kerasx"), str(folder / "m.weights.safetensors")
        self.x = x

    def on_epoch_end(self, epoch, logs=None):
        if epoch != 0:
            return
        m = self.model
        m.save(self.path)
        m.save_weights(self.weights_path)
        self.weights, self.state = m.get_weights(), snapshot(m.state)
        self.opt_state, self.iterations = snapshot(m._trainer._opt_state_now()), m.optimizer.iterations
        self.predictions = m.predict(self.x, verbose=0)
        self.scores = m.evaluate(self.x, Y, verbose=0, return_dict=True)


# ------------------------------------------------------------------------------ save / load
@pytest.mark.parametrize("kind,optimizer", CASES, ids=[f"{k}-{o}" for k, o in CASES])
def test_checkpoint_loads_bit_identically_and_fit_resumes_exactly(tmp_path, kind, optimizer):
    x = KINDS[kind][1]
    a = make(kind, optimizer)
    ckpt = Checkpoint(tmp_path, x)
    fit(a, kind, epochs=2, callbacks=[ckpt])  # the uninterrupted run
    assert ckpt.iterations == STEPS and a.optimizer.iterations == 2 * STEPS
    stats = moving_stats(ckpt.state)
    assert len(stats) == 2 * KINDS[kind][2]
    assert not any(np.all(v == 0) or np.all(v == 1) for v in stats.values())  # they moved
    slots = jax.tree.leaves(ckpt.opt_state.slots)
    assert slots and all(np.any(s != 0) for s in slots)

    b = kerasx.models.load_model(ckpt.path)
    assert type(b) is type(a) and b.name == a.name
    assert kerasx.saving.serialize(b) == kerasx.saving.serialize(a)
    assert_lists_equal(b.get_weights(), ckpt.weights)
    assert_trees_equal(b.state, ckpt.state)
    np.testing.assert_array_equal(b.predict(x, verbose=0), ckpt.predictions)
    assert b.evaluate(x, Y, verbose=0, return_dict=True) == ckpt.scores
    # the optimizer: same class and hyperparameters, iteration count and moments
    assert type(b._trainer.optimizer) is type(a._trainer.optimizer)
    assert b.optimizer.get_config() == a.optimizer.get_config()
    assert b.optimizer.iterations == STEPS
    assert b.optimizer.learning_rate == a.optimizer.learning_rate
    assert_trees_equal(b._trainer.opt_state, ckpt.opt_state)

    # the loaded model resumes exactly where the uninterrupted run went on
    fit(b, kind, epochs=2, initial_epoch=1)
    assert b.optimizer.iterations == 2 * STEPS
    assert_lists_equal(b.get_weights(), a.get_weights())
    assert_trees_equal(b.state, a.state)
    assert_trees_equal(b._trainer.opt_state, a._trainer.opt_state)
    np.testing.assert_array_equal(b.predict(x, verbose=0), a.predict(x, verbose=0))
    assert any(np.any(u != v) for u, v in zip(ckpt.weights, b.get_weights()))  # it trained

    # compile=False: the same weights and state, no optimizer; compiling gives a fresh one
    c = kerasx.models.load_model(ckpt.path, compile=False)
    assert c.optimizer is None
    assert_lists_equal(c.get_weights(), ckpt.weights)
    assert_trees_equal(c.state, ckpt.state)
    with pytest.raises(RuntimeError, match="compile"):
        c.fit(x, Y, verbose=0)
    c.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert c.optimizer.iterations == 0

    # the architecture through JSON, then the weights file: a fresh model predicts the same
    d = kerasx.models.model_from_json(a.to_json())
    assert type(d) is type(a) and d.to_json() == a.to_json()
    d.build()
    assert any(np.any(u != v) for u, v in zip(ckpt.weights, d.get_weights()))
    d.load_weights(ckpt.weights_path)
    assert_lists_equal(d.get_weights(), ckpt.weights)
    assert_trees_equal(d.state, ckpt.state)
    np.testing.assert_array_equal(d.predict(x, verbose=0), ckpt.predictions)


def test_two_fits_from_one_seed_are_bit_identical():
    kind = "nested"
    a, b = make(kind, "adam"), make(kind, "adam")
    fit(a, kind, epochs=2)
    fit(b, kind, epochs=2)
    assert_lists_equal(a.get_weights(), b.get_weights())
    assert_trees_equal(a._trainer.opt_state, b._trainer.opt_state)
    # another seed draws other dropout masks and another batch order
    fit(a, kind, epochs=3, initial_epoch=2, seed=SEED)
    fit(b, kind, epochs=3, initial_epoch=2, seed=SEED + 1)
    assert any(np.any(u != v) for u, v in zip(a.get_weights(), b.get_weights()))


def test_json_rebuilds_nested_models_and_shared_layers():
    a = make("nested")
    b = kerasx.models.model_from_json(a.to_json())
    assert [type(l).__name__ for l in b.layers] == [type(l).__name__ for l in a.layers]
    mid = b.get_layer("mid")
    assert isinstance(mid, kerasx.models.Functional)
    assert isinstance(mid.get_layer("inner"), kerasx.Sequential)
    # the shared Dense is one layer, called twice, with one set of weights
    shared = mid.get_layer("shared")
    assert sum(l is shared for l in mid.layers) == 1
    assert sum(node.layer is shared for node in mid._nodes) == 2
    b.build()
    assert set(b.params["mid"]["shared"]) == {"kernel", "bias"}
    assert jax.tree.structure(b.params) == jax.tree.structure(a.params)
    assert jax.tree.structure(b.state) == jax.tree.structure(a.state)


def test_uncompiled_model_saves_and_loads(tmp_path):
    kind = "functional"
    x = KINDS[kind][1]
    a = make(kind)
    path = str(tmp_path / "m.kerasx")
    a.save(path)
    expected = a.predict(x, verbose=0)
    for compile_ in (True, False):
        b = kerasx.models.load_model(path, compile=compile_)
        assert b.optimizer is None
        assert_lists_equal(b.get_weights(), a.get_weights())
        np.testing.assert_array_equal(b.predict(x, verbose=0), expected)
