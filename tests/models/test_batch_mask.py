"""Models forward `batch_mask` to the layers that take it (BatchNormalization, nested models)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import layers
from kerasx.layers._base import Layer, apply_layer
from kerasx.models import Sequential

N_REAL = 5


def padded_batch(shape=(8, 4), seed=0):
    """A batch whose rows past N_REAL are large garbage, and its mask."""
    rng = np.random.default_rng(seed)
    x = (1.5 + 2.0 * rng.normal(size=shape)).astype("float32")
    x[N_REAL:] = (1e4 + 1e3 * rng.normal(size=(shape[0] - N_REAL,) + shape[1:])).astype("float32")
    mask = np.zeros(shape[0], np.float32)
    mask[:N_REAL] = 1.0
    return x, mask


class Double(Layer):
    """A user-written layer with the plain `apply` signature (no `batch_mask`)."""

    def apply(self, params, state, inputs, *, training=False, rng=None):
        return 2.0 * inputs, state


def bn(**kw):
    return layers.BatchNormalization(momentum=0.5, **kw)


def sequential_model():
    return Sequential([layers.Dense(6, input_shape=(4,)), bn(), Double(), layers.Dense(3), bn()])


def functional_model():
    x = kerasx.Input((4,))
    h = bn()(layers.Dense(6)(x))
    return kerasx.Model(x, [layers.Dense(2)(Double()(h)), bn()(layers.Dense(3)(x))])


def nested_in_functional():
    inner = Sequential([layers.Dense(5, input_shape=(4,)), bn()], name="inner")
    x = kerasx.Input((4,))
    return kerasx.Model(x, layers.Dense(2)(bn()(inner(x))))


def nested_in_sequential():
    x = kerasx.Input((4,))
    inner = kerasx.Model(x, bn()(layers.Dense(5)(x)), name="inner")
    return Sequential([kerasx.Input((4,)), inner, Double(), layers.Dense(3), bn()])


def assert_trees_close(a, b, atol=1e-5):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, atol=atol, rtol=1e-5), a, b)


@pytest.mark.parametrize("make", [sequential_model, functional_model, nested_in_functional,
                                  nested_in_sequential])
def test_models_forward_the_mask_to_batch_norm(make):
    model = make()
    x, mask = padded_batch()
    params, state = model.init(jax.random.key(0), x)
    apply = jax.jit(model.apply, static_argnames="training")
    y, new_state = apply(params, state, x, training=True, batch_mask=mask)
    y_ref, ref_state = model.apply(params, state, x[:N_REAL], training=True)
    assert_trees_close(new_state, ref_state)
    assert_trees_close(jax.tree.map(lambda a: a[:N_REAL], y), y_ref)
    # without the mask, the padding rows skew the statistics
    _, skewed = model.apply(params, state, x, training=True)
    assert not all(np.allclose(a, b, atol=1e-3) for a, b in
                   zip(jax.tree.leaves(skewed), jax.tree.leaves(ref_state)))


def test_model_without_batch_norm_accepts_and_ignores_the_mask():
    model = Sequential([layers.Dense(6, input_shape=(4,)), Double(), layers.Dropout(0.5),
                        layers.Dense(3)])
    x, mask = padded_batch()
    params, state = model.init(jax.random.key(0), x)
    rng = jax.random.key(1)
    y, s = model.apply(params, state, x, training=True, rng=rng, batch_mask=mask)
    y_ref, s_ref = model.apply(params, state, x, training=True, rng=rng)
    np.testing.assert_array_equal(y, y_ref)
    jax.tree.map(np.testing.assert_array_equal, s, s_ref)


def test_inference_ignores_the_mask():
    model = nested_in_functional()
    x, mask = padded_batch()
    params, state = model.init(jax.random.key(0), x)
    y, s = model.apply(params, state, x, batch_mask=mask)
    y_ref, _ = model.apply(params, state, x)
    np.testing.assert_array_equal(y, y_ref)
    jax.tree.map(np.testing.assert_array_equal, s, state)


def test_apply_layer_passes_the_mask_only_to_layers_that_take_it():
    x, mask = padded_batch()
    y, _ = apply_layer(Double(), {}, {}, x, training=True, rng=None, batch_mask=mask)
    np.testing.assert_array_equal(y, 2.0 * x)
    layer = bn()
    params, state = layer.init(jax.random.key(0), x)
    _, s = apply_layer(layer, params, state, x, training=True, rng=None, batch_mask=mask)
    _, s_ref = layer.apply(params, state, x[:N_REAL], training=True)
    assert_trees_close(s, s_ref)
    with pytest.raises(TypeError):  # the plain layer really lacks the keyword
        Double().apply({}, {}, x, batch_mask=mask)
