"""`kerasx.activations` against `keras.activations`: every Keras activation, by function and by
name, on the same inputs (including the edges of the piecewise ones)."""

import jax
import numpy as np
import pytest

from kerasx import activations, layers
from keras_oracle import require_keras

X = np.concatenate([np.linspace(-7.0, 7.0, 57), [-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0]]
                   ).astype("float32").reshape(4, 16)

# (name, kwargs): every public activation of Keras 3, some with non-default arguments
CASES = [(name, {}) for name in [
    "celu", "elu", "exponential", "gelu", "glu", "hard_shrink", "hard_sigmoid", "hard_silu",
    "hard_swish", "hard_tanh", "leaky_relu", "linear", "log_sigmoid", "log_softmax", "mish",
    "relu", "relu6", "selu", "sigmoid", "silu", "soft_shrink", "softmax", "softplus", "softsign",
    "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus", "swish", "tanh", "tanh_shrink"]] + [
    ("relu", dict(negative_slope=0.1, max_value=4.0, threshold=0.5)),
    ("relu", dict(max_value=2.0)), ("elu", dict(alpha=0.5)), ("celu", dict(alpha=2.0)),
    ("gelu", dict(approximate=True)), ("leaky_relu", dict(negative_slope=0.05)),
    ("softmax", dict(axis=0)), ("sparsemax", dict(axis=0)), ("glu", dict(axis=0)),
    ("hard_shrink", dict(threshold=1.0)), ("soft_shrink", dict(threshold=1.0)),
    ("squareplus", dict(b=1.0)), ("threshold", dict(threshold=0.5, default_value=-1.0)),
]


def _sparsemax_reference(x, axis):
    """The Euclidean projection onto the simplex, with tau found by bisection (NumPy, float64).

    Keras 3.15's own sparsemax is not the oracle here: on the JAX backend it takes tau from the sum
    of the cumulative sums over the support instead of the cumulative sum at its end, so its rows
    do not sum to 1 once two or more entries are in the support (`keras.activations.sparsemax(
    [[-7., -6.75, ...]])` sums to 32.7). kerasx computes the definition (Martins & Astudillo 2016).
    """
    z = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    lo, hi = z.min(-1, keepdims=True) - 1, z.max(-1, keepdims=True)
    for _ in range(200):
        tau = (lo + hi) / 2
        over = np.maximum(z - tau, 0).sum(-1, keepdims=True) > 1
        lo, hi = np.where(over, tau, lo), np.where(over, hi, tau)
    return np.moveaxis(np.maximum(z - (lo + hi) / 2, 0), -1, axis)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_activation_matches_keras(name, kwargs):
    keras = require_keras()
    ours = np.asarray(getattr(activations, name)(X, **kwargs))
    if name == "sparsemax":
        theirs = _sparsemax_reference(X, kwargs.get("axis", -1))
        np.testing.assert_allclose(ours.sum(kwargs.get("axis", -1)), 1.0, rtol=1e-5)
        one_in_support = np.asarray([[1.0, 2.0, 4.0]], "float32")  # where Keras is right
        np.testing.assert_allclose(np.asarray(activations.sparsemax(one_in_support)),
                                   np.asarray(keras.activations.sparsemax(one_in_support)))
    else:
        theirs = np.asarray(getattr(keras.activations, name)(X, **kwargs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    jitted = jax.jit(lambda x: getattr(activations, name)(x, **kwargs))(X)
    np.testing.assert_allclose(np.asarray(jitted), ours, rtol=1e-6, atol=1e-6)


def test_every_keras_activation_is_here_and_found_by_name():
    keras = require_keras()
    public = {n for n in dir(keras.activations) if not n.startswith("_")}
    assert public - set(dir(activations)) == set()
    for name in public - {"get", "serialize", "deserialize"}:
        if name in ("threshold", "sparsemax"):  # threshold needs its arguments; sparsemax above
            continue
        fn = activations.get(name)
        assert fn is getattr(activations, name) or name in ("swish", "hard_swish")
        np.testing.assert_allclose(np.asarray(fn(X)), np.asarray(keras.activations.get(name)(X)),
                                   rtol=1e-6, atol=1e-6)


def test_activation_names_round_trip_like_keras():
    keras = require_keras()
    for name in ["relu6", "mish", "hard_silu", "log_sigmoid", "sparsemax", "celu", "glu"]:
        assert activations.serialize(activations.get(name)) == \
            keras.activations.serialize(keras.activations.get(name))
    assert activations.serialize(activations.hard_swish) == "hard_silu"
    assert activations.serialize(jax.nn.relu6) == "relu6"
    layer = layers.Dense(4, activation="mish")
    assert layers.Dense.from_config(layer.get_config()).activation is activations.mish


def test_activation_errors_name_the_problem():
    with pytest.raises(ValueError, match="Unknown activation: 'mishy'.*mish"):
        activations.get("mishy")
    with pytest.raises(ValueError, match="even size"):
        activations.glu(np.ones((2, 3), "float32"))
