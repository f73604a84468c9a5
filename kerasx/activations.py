"""Activation functions by Keras name."""

from typing import Callable, Union

import jax
import jax.numpy as jnp


def linear(x):
    return x


def relu(x):
    return jax.nn.relu(x)


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
}


def get(identifier: Union[str, Callable, None]) -> Callable:
    """Returns the activation function for a Keras name, a callable, or None (linear).

    Raises:
        ValueError: for an unknown name, listing the valid ones.
    """
    if identifier is None:
        return linear
    if callable(identifier):
        return identifier
    if isinstance(identifier, str):
        fn = _ACTIVATIONS.get(identifier.lower())
        if fn is None:
            raise ValueError(
                f"Unknown activation: '{identifier}'. Expected one of "
                f"{sorted(_ACTIVATIONS)} or a callable."
            )
        return fn
    raise TypeError(
        "Expected `activation` to be a string, a callable or None. "
        f"Received: activation={identifier!r} of type {type(identifier).__name__}"
    )


def serialize(fn: Callable) -> Union[str, Callable]:
    """The Keras name of an activation function, or the callable itself if it has none."""
    for name, f in _ACTIVATIONS.items():
        if f is fn:
            return name
    return fn
