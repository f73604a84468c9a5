"""The shared layer test harness: one layer through init/apply, jit, output_spec and Keras 3."""

import functools

import jax
import numpy as np

from kerasx.layers._base import as_spec
from keras_oracle import require_keras  # Keras, or skip the test that needs it


def keras():
    return require_keras()


def run_layer_test(layer, x, keras_layer=None, *, training=False, rng=None, atol=1e-4,
                   expected_num_weights=None):
    """Checks a kerasx layer end to end and returns `(outputs, params, state)`.

    - `init` from a spec (no data) gives params whose Keras-order weights load into
      `keras_layer` (so layouts match), and `output_spec` equals `jax.eval_shape(apply)`;
    - `apply` gives the same result with and without `jax.jit`;
    - if `keras_layer` is given, its output on the same weights and inputs matches within `atol`.
    """
    params, state = layer.init(jax.random.key(0), as_spec(x))
    apply = functools.partial(layer.apply, training=training)
    y, new_state = apply(params, state, x, rng=rng)
    y_jit, new_state_jit = jax.jit(apply)(params, state, x, rng=rng)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5), y, y_jit)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5),
                 new_state, new_state_jit)
    spec = layer.output_spec(as_spec(x))
    shaped = jax.eval_shape(lambda p, s, xx: apply(p, s, xx, rng=rng)[0], params, state, x)
    assert jax.tree.map(lambda s: (s.shape, s.dtype), spec) == jax.tree.map(
        lambda s: (s.shape, s.dtype), shaped)
    # state keeps its structure so containers never branch on it
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    weights = layer.get_weights_from(params, state)
    if expected_num_weights is not None:
        assert len(weights) == expected_num_weights
    if keras_layer is not None:
        xs = [np.asarray(a) for a in x] if isinstance(x, (list, tuple)) else np.asarray(x)
        if not keras_layer.built:
            keras_layer.build([a.shape for a in xs] if isinstance(xs, list) else xs.shape)
        keras_layer.set_weights(weights)
        y_keras = keras_layer(xs, training=training) if _takes_training(keras_layer) else keras_layer(xs)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b),
                                                             atol=atol, rtol=atol), y, y_keras)
    return y, params, new_state


def _takes_training(keras_layer):
    import inspect
    return "training" in inspect.signature(keras_layer.call).parameters
