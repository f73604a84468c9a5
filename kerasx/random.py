"""Random draws with Keras's signatures (`keras.random`), each pure given its key.

Every function takes `seed=`:

- an int: a fixed key (`jax.random.key(seed)`): the same draw every call, as in Keras;
- a JAX key (typed `jax.random.key`, or a raw uint32 `(2,)` key): used as is;
- a `SeedGenerator`: a fresh key per call (see `SeedGenerator.next`);
- None: inside a subclassed layer's `call` (run by `apply`), a key derived from the `rng` of that
  `apply`; elsewhere a fresh key from NumPy's global RNG (seed it with
  `kerasx.utils.set_random_seed`). Under `jax.jit` outside `apply` that would be one constant
  key, so it is an error there (as in Keras): pass a key.

Inside `apply`, draws with `seed=None` or a `SeedGenerator` come from the `rng` passed to
`apply`, so a layer's randomness is explicit and `jit`-safe; with no `rng` they raise an error
that names the layer.
"""

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from . import _seeding
from . import _settings
from . import _variables

_FLOATX = "float32"
_SCOPE_PURPOSE = 3  # the `purpose` of keys that random draws take from a CallScope


def _scope_key(opname: str, scope):
    key = scope.next_key(_SCOPE_PURPOSE)
    if key is None:
        layer = scope.layer
        raise ValueError(
            f"{opname}: layer '{layer.name}' ({type(layer).__name__}) draws random numbers in "
            "`call`, but it is being applied without a random key. Pass one to `apply`: "
            f"`layer.apply(params, state, x, training=True, rng=jax.random.key(0))`, or call "
            "the model with training=True inside `fit` (which supplies keys).")
    return key


class SeedGenerator:
    """A source of fresh keys for random ops (`seed=SeedGenerator(...)`).

    Outside `apply` it is stateful: each `next()` advances its own key, so repeated draws
    differ and the sequence is reproducible from `seed` (eagerly: under `jax.jit` outside a
    layer, pass keys as arguments instead). Inside a subclassed layer's `call` (run by
    `apply`) it hands out keys derived from the `rng` of that `apply`, so the layer stays a
    pure function of its key.

    Args:
        seed: an int (None: drawn from NumPy's global RNG).
        name: a name for the generator.
    """

    _count = 0

    def __init__(self, seed: Optional[int] = None, name: Optional[str] = None, **kwargs):
        if kwargs:
            raise ValueError(f"SeedGenerator: unrecognized keyword arguments {sorted(kwargs)}")
        if name is None:
            SeedGenerator._count += 1
            name = f"seed_generator_{SeedGenerator._count}"
        self.name = name
        self._initial_seed = seed
        if seed is None:
            seed = int(np.random.randint(1, 2**31 - 1))
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise ValueError(f"SeedGenerator: `seed` must be an int. Received: seed={seed!r}")
        self._seed = int(seed)
        self._key = jax.random.key(self._seed)
        self._draws = 0

    @property
    def state(self):
        """`[seed, draws]` as uint32, like Keras's seed state."""
        return jnp.asarray([self._seed % 2**32, self._draws], dtype=jnp.uint32)

    def next(self, ordered: bool = True):
        """A fresh JAX key: from the enclosing `apply`'s rng inside a layer call, else the
        generator's own next key."""
        scope = _variables.current_scope()
        if scope is not None:
            if scope.rng is None:
                # a layer applied without a key (building it, inference): as a Keras
                # SeedGenerator variable would, it draws from its own seed, here folded with
                # the scope's draw count, so the layer stays a pure function of its inputs
                scope._draws += 1
                return jax.random.fold_in(self._key, scope._draws)
            return _scope_key(f"SeedGenerator '{self.name}'", scope)
        if _tracing():
            raise _baked_key_error(f"SeedGenerator '{self.name}'", "drawing a key")
        key = jax.random.fold_in(self._key, self._draws)
        self._draws += 1
        return key

    def get_config(self):
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"<SeedGenerator name={self.name} seed={self._seed} draws={self._draws}>"


def _tracing() -> bool:
    """Whether a JAX transformation (jit, grad, vmap, scan, ...) is tracing right now."""
    return isinstance(jnp.zeros(()), jax.core.Tracer)


def _baked_key_error(opname, what):
    return ValueError(
        f"{opname}: {what} inside a function that JAX is tracing (jit, grad, vmap, scan, ...) "
        "and outside a layer's `apply` would bake one key into the compiled program, giving "
        "the same draw on every call. Pass the key in as an argument instead: "
        "`fn = jax.jit(lambda x, key: random.normal(x.shape, seed=key))`, or draw inside a "
        "layer's `call` run by `apply(..., rng=key)`.")


def _is_key(x) -> bool:
    return isinstance(x, jax.Array) and jnp.issubdtype(x.dtype, jax.dtypes.prng_key)


def _key_from_seed(seed, opname: str = "random"):
    """The JAX key a random op uses for `seed` (see the module docstring)."""
    if isinstance(seed, SeedGenerator):
        return seed.next()
    if seed is None:
        scope = _variables.current_scope()
        if scope is not None:
            return _scope_key(opname, scope)
        if _tracing():
            raise _baked_key_error(opname, "seed=None")
        return _seeding.next_rng_key()
    if _is_key(seed):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return jax.random.key(int(seed))
    if isinstance(seed, (jax.Array, np.ndarray)) and seed.shape == (2,) and \
            seed.dtype == np.uint32:
        return jax.random.wrap_key_data(jnp.asarray(seed))
    raise TypeError(f"{opname}: `seed` must be None, an int, a JAX key or a SeedGenerator. "
                    f"Received: seed={seed!r}")


def _shape(opname, shape):
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        shape = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise TypeError(f"{opname}: `shape` must be a tuple of ints. "
                        f"Received: shape={shape!r}") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"{opname}: `shape` must hold non-negative sizes. "
                         f"Received: shape={shape}")
    return shape


def _dtype(opname, dtype, default, kind):
    dtype = jnp.dtype(default if dtype is None else dtype)
    if not jax.config.jax_enable_x64:
        dtype = jax.dtypes.canonicalize_dtype(dtype)
    ok = jnp.issubdtype(dtype, jnp.floating if kind == "float" else jnp.integer)
    if not ok:
        kind_name = "a floating point" if kind == "float" else "an integer"
        raise ValueError(f"{opname}: `dtype` must be {kind_name} dtype. "
                         f"Received: dtype={dtype.name}")
    return dtype


def _value(x):
    """`x`, or the array of a Variable (anything with `__jax_array__`)."""
    if isinstance(x, (jax.Array, np.ndarray)) or not callable(getattr(x, "__jax_array__",
                                                                       None)):
        return x
    return x.__jax_array__()


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from a normal distribution `N(mean, stddev**2)`.

    Args:
        shape: the output shape.
        mean, stddev: the distribution's parameters (scalars or broadcastable tensors).
        dtype: a float dtype (default float32).
        seed: None, an int, a JAX key or a `SeedGenerator` (see the module docstring).
    """
    opname = "random.normal"
    shape, dtype = _shape(opname, shape), _dtype(opname, dtype, _settings.FLOATX, "float")
    key = _key_from_seed(seed, opname)
    sample = jax.random.normal(key, shape, dtype)
    return (sample * _value(stddev) + _value(mean)).astype(dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Samples uniformly from `[minval, maxval)` (a float dtype, default float32)."""
    opname = "random.uniform"
    shape, dtype = _shape(opname, shape), _dtype(opname, dtype, _settings.FLOATX, "float")
    key = _key_from_seed(seed, opname)
    return jax.random.uniform(key, shape, dtype, minval=_value(minval), maxval=_value(maxval))


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Samples integers uniformly from `[minval, maxval)`."""
    opname = "random.randint"
    shape, dtype = _shape(opname, shape), _dtype(opname, dtype, "int32", "int")
    key = _key_from_seed(seed, opname)
    return jax.random.randint(key, shape, _value(minval), _value(maxval), dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Samples from a normal distribution truncated to `mean +/- 2 * stddev`."""
    opname = "random.truncated_normal"
    shape, dtype = _shape(opname, shape), _dtype(opname, dtype, _settings.FLOATX, "float")
    key = _key_from_seed(seed, opname)
    sample = jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype)
    return (sample * _value(stddev) + _value(mean)).astype(dtype)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Zeroes entries of `inputs` with probability `rate`; scales the rest by `1 / (1 - rate)`.

    Args:
        inputs: the tensor.
        rate: the fraction dropped, in [0, 1].
        noise_shape: the shape of the keep mask, broadcast over `inputs` (None entries take
            the size of `inputs`), e.g. `(batch, 1, features)` to drop whole features.
        seed: as for every random op.
    """
    opname = "random.dropout"
    inputs = jnp.asarray(_value(inputs))
    if not isinstance(rate, jax.core.Tracer) and not 0.0 <= float(rate) <= 1.0:
        raise ValueError(f"{opname}: `rate` must be in [0, 1]. Received: rate={rate}")
    if not isinstance(rate, jax.core.Tracer):
        if float(rate) == 1.0:
            return jnp.zeros_like(inputs)
        if float(rate) == 0.0:
            return inputs
    if noise_shape is None:
        noise_shape = inputs.shape
    else:
        if len(noise_shape) != inputs.ndim:
            raise ValueError(f"{opname}: `noise_shape` must have one entry per axis of "
                             f"`inputs`. Received: noise_shape={noise_shape}, "
                             f"inputs.shape={inputs.shape}")
        noise_shape = tuple(inputs.shape[i] if d is None else int(d)
                            for i, d in enumerate(noise_shape))
    key = _key_from_seed(seed, opname)
    keep_prob = 1.0 - rate
    keep = jax.random.bernoulli(key, keep_prob, noise_shape)
    keep = jnp.broadcast_to(keep, inputs.shape)
    scaled = (inputs / jnp.asarray(keep_prob, inputs.dtype)).astype(inputs.dtype)
    return jnp.where(keep, scaled, jnp.zeros_like(inputs))


def shuffle(x, axis=0, seed=None):
    """`x` with its slices along `axis` in a random order (a permutation along `axis`)."""
    opname = "random.shuffle"
    x = jnp.asarray(_value(x))
    if not isinstance(axis, (int, np.integer)) or not -x.ndim <= axis < max(x.ndim, 1):
        raise ValueError(f"{opname}: `axis` must be an int in [-{x.ndim}, {x.ndim - 1}]. "
                         f"Received: axis={axis!r}")
    key = _key_from_seed(seed, opname)
    return jax.random.permutation(key, x, axis=int(axis), independent=False)


def categorical(logits, num_samples, dtype="int32", seed=None):
    """Draws `num_samples` class indices per row of 2-D `logits` `(batch, classes)`.

    Returns `(batch, num_samples)`.
    """
    opname = "random.categorical"
    logits = jnp.asarray(_value(logits))
    if logits.ndim != 2:
        raise ValueError(f"{opname}: `logits` must be 2-D (batch_size, num_classes). "
                         f"Received: logits.shape={logits.shape}")
    dtype = _dtype(opname, dtype, "int32", "int")
    key = _key_from_seed(seed, opname)
    samples = jax.random.categorical(key, logits, axis=-1,
                                     shape=(int(num_samples), logits.shape[0]))
    return samples.T.astype(dtype)


def gamma(shape, alpha, dtype=None, seed=None):
    """Samples from a Gamma distribution with concentration `alpha` (scale 1)."""
    opname = "random.gamma"
    shape, dtype = _shape(opname, shape), _dtype(opname, dtype, _settings.FLOATX, "float")
    key = _key_from_seed(seed, opname)
    return jax.random.gamma(key, jnp.asarray(_value(alpha)), shape, dtype)


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Samples from a Beta distribution with parameters `alpha`, `beta`."""
    opname = "random.beta"
    shape, dtype = _shape(opname, shape), _dtype(opname, dtype, _settings.FLOATX, "float")
    key = _key_from_seed(seed, opname)
    return jax.random.beta(key, jnp.asarray(_value(alpha)), jnp.asarray(_value(beta)), shape,
                           dtype)


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Samples the number of successes in `counts` trials of probability `probabilities`."""
    opname = "random.binomial"
    shape, dtype = _shape(opname, shape), _dtype(opname, dtype, _settings.FLOATX, "float")
    key = _key_from_seed(seed, opname)
    return jax.random.binomial(key, jnp.asarray(_value(counts)),
                               jnp.asarray(_value(probabilities)), shape, dtype)

