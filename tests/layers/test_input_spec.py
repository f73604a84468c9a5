"""`InputSpec`: a layer's declared input requirements are checked wherever it is called, with the
same verdicts as Keras 3."""

import numpy as np
import pytest

import kerasx
from kerasx import layers
from keras_oracle import require_keras

# (InputSpec kwargs, input shape, input dtype)
CASES = [
    (dict(ndim=3), (2, 4, 5), "float32"), (dict(ndim=3), (2, 4), "float32"),
    (dict(min_ndim=2), (2,), "float32"), (dict(max_ndim=2), (2, 3, 4), "float32"),
    (dict(axes={-1: 5}), (2, 5), "float32"), (dict(axes={-1: 5}), (2, 4), "float32"),
    (dict(shape=(None, 28, 28, 1)), (3, 28, 28, 1), "float32"),
    (dict(shape=(None, 28, 28, 1)), (3, 28, 27, 1), "float32"),
    (dict(shape=(None, 28, 28, 1), allow_last_axis_squeeze=True), (3, 28, 28), "float32"),
    (dict(dtype="int32"), (2, 3), "float32"), (dict(dtype="int32"), (2, 3), "int32"),
]


@pytest.mark.parametrize("kwargs,shape,dtype", CASES)
def test_same_verdict_as_keras(kwargs, shape, dtype):
    keras = require_keras()
    from keras.src.layers.input_spec import assert_input_compatibility as keras_check
    x = np.zeros(shape, dtype)
    try:
        keras_check(keras.layers.InputSpec(**kwargs), x, "probe")
        keras_ok = True
    except ValueError:
        keras_ok = False
    try:
        kerasx.layers._input_spec.assert_input_compatibility(layers.InputSpec(**kwargs), x, "probe")
        ours_ok = True
    except ValueError as e:
        ours_ok = False
        assert "layer 'probe'" in str(e)
    assert ours_ok == keras_ok


class Picky(layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.input_spec = layers.InputSpec(ndim=2, axes={-1: 3})

    def call(self, x):
        return x * 2.0


def test_a_layer_with_an_input_spec_is_checked_eagerly_symbolically_and_in_models():
    layer = Picky(name="picky")
    np.testing.assert_allclose(np.asarray(layer(np.ones((2, 3), "float32"))), 2.0)
    with pytest.raises(ValueError, match="layer 'picky'.*expected axis -1.*value 3"):
        layer(np.ones((2, 4), "float32"))
    with pytest.raises(ValueError, match="layer 'picky2'.*expected ndim=2, found ndim=3"):
        Picky(name="picky2")(kerasx.Input((4, 3)))
    model = kerasx.Sequential([kerasx.Input((4,)), layers.Dense(3), Picky(name="inner")])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 4), "float32"), np.ones((4, 3), "float32"), verbose=0)
    with pytest.raises(ValueError, match="layer 'inner'.*ndim=2, found ndim=3"):
        kerasx.Sequential([kerasx.Input((4,)), layers.Reshape((2, 2)), layers.Dense(3),
                           Picky(name="inner")]).build()
    late = kerasx.Sequential([layers.Dense(5), Picky(name="late")])  # built by its first call
    with pytest.raises(ValueError, match="layer 'late'.*expected axis -1.*value 3"):
        late.predict(np.ones((2, 4), "float32"), verbose=0)


def test_input_spec_arguments_are_validated_and_round_trip():
    with pytest.raises(TypeError, match="axes.*integer keys"):
        layers.InputSpec(axes={"last": 3})
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        layers.InputSpec(ndim=2, axes={3: 1})
    spec = layers.InputSpec(shape=(None, 4), dtype="float32", axes={1: 4})
    again = layers.InputSpec.from_config(spec.get_config())
    assert again.get_config() == spec.get_config() and again.ndim == 2
    assert "shape=(None, 4)" in repr(spec)
