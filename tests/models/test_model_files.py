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


@kerasx.saving.register_keras_serializable(package="test_model_files")
def abs_error(y_true, y_pred):
    import jax.numpy as jnp

    return jnp.mean(jnp.abs(y_true - y_pred), axis=-1)


class Scale(layers.Layer):
    """A custom layer, not registered: loads only through `custom_objects`."""

    def __init__(self, factor=2.0, **kw):
        super().__init__(**kw)
        self.factor = factor

    def apply(self, params, state, inputs, *, training=False, rng=None):
        return inputs * self.factor, state

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


def test_custom_layer_and_registered_loss_survive_save_and_load(tmp_path):
    y = RNG.normal(size=(40, 2)).astype("float32")
    model = kerasx.Sequential([layers.Input((6,)), layers.Dense(2), Scale(3.0)])
    model.compile(optimizer="adam", loss=abs_error, metrics=["mae"])
    model.fit(X, y, epochs=1, verbose=0)
    path = str(tmp_path / "custom.kerasx")
    model.save(path)
    with pytest.raises(ValueError, match="Scale.*custom_objects"):
        kerasx.models.load_model(path)
    loaded = kerasx.models.load_model(path, custom_objects={"Scale": Scale})
    assert isinstance(loaded.layers[-1], Scale) and loaded.layers[-1].factor == 3.0
    assert loaded._trainer.compile_args["loss"] is abs_error  # the registered function itself
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert loaded.evaluate(X, y, verbose=0) == model.evaluate(X, y, verbose=0)
