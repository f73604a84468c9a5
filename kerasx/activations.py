"""Activation functions by Keras name."""

from typing import Callable, Union

import jax
import jax.numpy as jnp

from .ops import nn as _nn
from .saving._registry import get_registered_object


def linear(x):
    return x


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """`max(x, 0)` by default; below `threshold` the slope is `negative_slope`, and outputs
    saturate at `max_value` (Keras's arguments)."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return jax.nn.relu(x)
    x = jnp.asarray(x)
    y = jnp.where(x > threshold, x, jnp.zeros_like(x)) if threshold != 0.0 else jax.nn.relu(x)
    if max_value is not None:
        y = jnp.clip(y, 0.0, max_value)
    if negative_slope != 0.0:
        y = y - negative_slope * jax.nn.relu(threshold - x)
    return y


def relu6(x):
    return jax.nn.relu6(x)


def sigmoid(x):
    return jax.nn.sigmoid(x)


def softmax(x, axis=-1):
    return jax.nn.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    return jax.nn.log_softmax(x, axis=axis)


def tanh(x):
    return jnp.tanh(x)


def gelu(x, approximate=False):
    # Keras 3 defaults to the exact (erf) form.
    return jax.nn.gelu(x, approximate=approximate)


def silu(x):
    return jax.nn.silu(x)


swish = silu


def elu(x, alpha=1.0):
    return jax.nn.elu(x, alpha=alpha)


def selu(x):
    return jax.nn.selu(x)


def softplus(x):
    return jax.nn.softplus(x)


def softsign(x):
    return jax.nn.soft_sign(x)


def leaky_relu(x, negative_slope=0.2):
    # Keras 3's `leaky_relu` activation uses negative_slope=0.2.
    return jax.nn.leaky_relu(x, negative_slope=negative_slope)


def hard_sigmoid(x):
    return jax.nn.hard_sigmoid(x)


def exponential(x):
    return jnp.exp(x)


def celu(x, alpha=1.0):
    return jax.nn.celu(x, alpha=alpha)


def glu(x, axis=-1):
    """The first half of `x` along `axis` times the sigmoid of the second half."""
    return _nn.glu(x, axis=axis)


def hard_shrink(x, threshold=0.5):
    return _nn.hard_shrink(x, threshold=threshold)


def soft_shrink(x, threshold=0.5):
    return _nn.soft_shrink(x, threshold=threshold)


def hard_silu(x):
    return jax.nn.hard_silu(x)


hard_swish = hard_silu


def hard_tanh(x):
    return jax.nn.hard_tanh(x)


def log_sigmoid(x):
    return jax.nn.log_sigmoid(x)


def mish(x):
    """`x * tanh(softplus(x))`."""
    return x * jnp.tanh(jax.nn.softplus(x))


def sparse_plus(x):
    return jax.nn.sparse_plus(x)


def sparse_sigmoid(x):
    return jax.nn.sparse_sigmoid(x)


def sparsemax(x, axis=-1):
    return _nn.sparsemax(x, axis=axis)


def squareplus(x, b=4):
    return jax.nn.squareplus(x, b=b)


def tanh_shrink(x):
    return x - jnp.tanh(x)


def threshold(x, threshold, default_value):
    """`x` where `x > threshold`, else `default_value`."""
    return _nn.threshold(x, threshold, default_value)


_ACTIVATIONS = {
    "linear": linear,
    "relu": relu,
    "sigmoid": sigmoid,
    "softmax": softmax,
    "log_softmax": log_softmax,
    "tanh": tanh,
    "gelu": gelu,
    "silu": silu,
    "swish": swish,
    "elu": elu,
    "selu": selu,
    "softplus": softplus,
    "softsign": softsign,
    "leaky_relu": leaky_relu,
    "hard_sigmoid": hard_sigmoid,
    "exponential": exponential,
    "relu6": relu6,
    "celu": celu,
    "glu": glu,
    "hard_shrink": hard_shrink,
    "soft_shrink": soft_shrink,
    "hard_silu": hard_silu,
    "hard_swish": hard_swish,
    "hard_tanh": hard_tanh,
    "log_sigmoid": log_sigmoid,
    "mish": mish,
    "sparse_plus": sparse_plus,
    "sparse_sigmoid": sparse_sigmoid,
    "sparsemax": sparsemax,
    "squareplus": squareplus,
    "tanh_shrink": tanh_shrink,
    "threshold": threshold,
}


# JAX functions that compute exactly a Keras activation, so a layer given one (e.g.
# `activation=jax.nn.relu`) describes it by the Keras name. Not `jax.nn.gelu` (tanh approximation
# by default, Keras's is exact) nor `jax.nn.leaky_relu` (slope 0.01, Keras's 0.2).
_JAX_EQUIVALENTS = (
    (jax.nn.relu, "relu"), (jax.nn.sigmoid, "sigmoid"), (jax.nn.softmax, "softmax"),
    (jax.nn.log_softmax, "log_softmax"), (jnp.tanh, "tanh"), (jax.nn.silu, "silu"),
    (jax.nn.elu, "elu"), (jax.nn.selu, "selu"), (jax.nn.softplus, "softplus"),
    (jax.nn.soft_sign, "softsign"), (jax.nn.hard_sigmoid, "hard_sigmoid"), (jnp.exp, "exponential"),
    (jax.nn.relu6, "relu6"), (jax.nn.celu, "celu"), (jax.nn.hard_silu, "hard_silu"),
    (jax.nn.hard_tanh, "hard_tanh"), (jax.nn.log_sigmoid, "log_sigmoid"),
    (jax.nn.sparse_plus, "sparse_plus"), (jax.nn.sparse_sigmoid, "sparse_sigmoid"),
)


def get(identifier: Union[str, Callable, dict, None]) -> Callable:
    """Returns the activation function for a Keras name, a registered name ("package>name"),
    a serialized function dict (as `serialize` returns), a callable, or None (linear).

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        fn = _ACTIVATIONS.get(identifier.lower())
        if fn is None:
            fn = get_registered_object(identifier)
        if fn is None:
            raise ValueError(
                f"Unknown activation: '{identifier}'. Expected one of "
                f"{sorted(_ACTIVATIONS)}, the registered name ('package>name') of a function "
                "decorated with @kerasx.saving.register_keras_serializable(), or a callable."
            )
        return fn
    raise TypeError(
        "Expected `activation` to be a string, a callable or None. "
        f"Received: activation={identifier!r} of type {type(identifier).__name__}"
    )


def serialize(fn: Callable) -> Union[str, dict]:
    """The Keras name of a built-in activation ("relu"); for any other function, Keras 3's
    function dict `{"module", "class_name": "function", "config": name, "registered_name"}`
    whose name is its registered name ("package>name") or its `__name__`.

    A custom activation round-trips through a config when it is registered with
    `@kerasx.saving.register_keras_serializable()` or passed as `custom_objects=` on loading.
    """
    for name, f in _ACTIVATIONS.items():
        if f is fn:
            return name
    for f, name in _JAX_EQUIVALENTS:
        if f is fn:
            return name
    from .saving._serialization import serialize as serialize_object
    return serialize_object(fn)


def deserialize(config: Union[str, dict], custom_objects=None) -> Callable:
    """The activation function that `serialize` described (a name or a function dict)."""
    if isinstance(config, str) and not custom_objects:
        return get(config)
    from .saving._serialization import deserialize as deserialize_object
    fn = deserialize_object(config, custom_objects)
    if not callable(fn):
        raise TypeError(f"Expected the config {config!r} to describe a function. Received: {fn!r}")
    return fn
