"""`copy.deepcopy(model)` and `pickle` of built and compiled models (Keras 3 pickles a model as
its saved file): the copy predicts the same, keeps the optimizer state and trains on its own."""

import copy
import pickle

import numpy as np
import pytest

import kerasx
from kerasx import layers


def _trained():
    inputs = kerasx.Input((3,))
    h = layers.BatchNormalization()(layers.Dense(4, activation="relu")(inputs))
    model = kerasx.Model(inputs, layers.Dense(2)(h))
    model.compile(optimizer="adam", loss="mse")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 3)).astype("float32"), rng.normal(size=(32, 2)).astype("float32")
    model.fit(x, y, epochs=2, verbose=0)
    return model, x, y


@pytest.mark.parametrize("clone", [copy.deepcopy, lambda m: pickle.loads(pickle.dumps(m))],
                         ids=["deepcopy", "pickle"])
def test_copies_predict_the_same_and_train_on_their_own(clone):
    model, x, y = _trained()
    other = clone(model)
    assert other is not model and other.layers[1] is not model.layers[1]
    np.testing.assert_array_equal(other.predict(x, verbose=0), model.predict(x, verbose=0))
    before = model.get_weights()
    other.fit(x, y, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(before, model.get_weights()):  # the original did not move
        np.testing.assert_array_equal(a, b)
    # the copy kept the optimizer state: both continue identically from here
    model.fit(x, y, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_layers_deepcopy_with_their_weights():
    dense = layers.Dense(2)
    dense(np.ones((1, 3), np.float32))
    twin = copy.deepcopy(dense)
    np.testing.assert_array_equal(twin.kernel.numpy(), dense.kernel.numpy())
    twin.kernel.assign(np.zeros((3, 2)))
    assert not np.array_equal(twin.kernel.numpy(), dense.kernel.numpy())
