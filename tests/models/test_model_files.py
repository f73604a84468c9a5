"""model.save / load_model: architecture, weights, state, compile arguments and optimizer state."""

import numpy as np
import pytest

import kerasx
from kerasx import layers

RNG = np.random.default_rng(8)
X = RNG.normal(size=(40, 6)).astype("float32")
Y = RNG.integers(0, 3, 40)


def net():
    inp = kerasx.Input((6,))
    inner = kerasx.Sequential([layers.Dense(8, activation="relu"), layers.BatchNormalization()],
                              name="block")
    out = layers.Dense(3, activation="softmax")(layers.Dropout(0.2)(inner(inp)))
    m = kerasx.Model(inp, out)
    m.compile(optimizer=kerasx.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    return m


def test_save_load_predicts_identically_and_fit_continues_exactly(tmp_path):
    kerasx.utils.set_random_seed(1)
    a = net()
    a.build()
    a.fit(X, Y, batch_size=16, epochs=2, verbose=0)
    path = str(tmp_path / "m.kerasx")
    a.save(path)
    b = kerasx.models.load_model(path)
    np.testing.assert_array_equal(a.predict(X, verbose=0), b.predict(X, verbose=0))
    assert b.optimizer.iterations == a.optimizer.iterations == 6
    kerasx.utils.set_random_seed(2)
    a.fit(X, Y, batch_size=16, epochs=3, initial_epoch=2, verbose=0)
    kerasx.utils.set_random_seed(2)
    b.fit(X, Y, batch_size=16, epochs=3, initial_epoch=2, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


def test_loading_a_weights_file_as_a_model_is_an_error(tmp_path):
    path = str(tmp_path / "w.safetensors")
    net().save_weights(path)
    with pytest.raises(ValueError, match="not a kerasx.model file"):
        kerasx.models.load_model(path)
