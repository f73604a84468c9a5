"""kerasx.random: Keras's signatures, shapes and dtypes, determinism for a fixed seed, the
distributions (moments and bounds on large draws), and keys drawn inside `apply`."""

import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kerasx import layers
from kerasx import random
from keras_oracle import require_keras  # Keras, or skip the test that needs it

N = 200_000  # draws for the distribution checks


# ---------------------------------------------------------------------------- API
def _params(fn):
    return [(p.name, p.default, p.kind) for p in inspect.signature(fn).parameters.values()]


def test_signatures_match_keras():
    keras = require_keras()
    names = sorted(n for n in dir(keras.random) if not n.startswith("_"))
    for name in names:
        assert hasattr(random, name), name
        if name != "SeedGenerator":
            assert _params(getattr(random, name)) == _params(getattr(keras.random, name)), name
    assert _params(random.SeedGenerator.__init__) == _params(
        keras.random.SeedGenerator.__init__)


def _spec(fn, *args, **kwargs):
    """Shape and dtype of a draw, traced without running (fast)."""
    out = jax.eval_shape(lambda: fn(*args, **kwargs))
    return out.shape, jnp.dtype(out.dtype)


@pytest.mark.parametrize("name, args", [
    ("normal", ((2, 3),)), ("uniform", ((2, 3),)), ("truncated_normal", ((2, 3),)),
    ("randint", ((2, 3), 0, 5)), ("gamma", ((2, 3), 2.0)), ("beta", ((2, 3), 2.0, 3.0)),
    ("binomial", ((2, 3), 5, 0.5)),
])
@pytest.mark.parametrize("dtype", [None, "float16", "int8"])
def test_shapes_and_dtypes_match_keras(name, args, dtype):
    keras = require_keras()
    kwargs = {} if dtype is None else {"dtype": dtype}
    try:
        theirs = _spec(getattr(keras.random, name), *args, seed=1, **kwargs)
    except Exception:  # Keras rejects this dtype for this distribution: so do we
        with pytest.raises((ValueError, TypeError)):
            _spec(getattr(random, name), *args, seed=1, **kwargs)
        return
    assert _spec(getattr(random, name), *args, seed=1, **kwargs) == theirs


def test_categorical_shuffle_dropout_shapes_and_dtypes_match_keras():
    keras = require_keras()
    logits, x = np.zeros((3, 4), "float32"), np.ones((3, 4), "float16")
    for ours, theirs in [
        (lambda: random.categorical(logits, 5, seed=0),
         lambda: keras.random.categorical(logits, 5, seed=0)),
        (lambda: random.categorical(logits, 2, dtype="int8", seed=0),
         lambda: keras.random.categorical(logits, 2, dtype="int8", seed=0)),
        (lambda: random.shuffle(x, axis=1, seed=0), lambda: keras.random.shuffle(x, 1, seed=0)),
        (lambda: random.dropout(x, 0.5, seed=0), lambda: keras.random.dropout(x, 0.5, seed=0)),
    ]:
        assert _spec(ours) == _spec(theirs)


# ---------------------------------------------------------------------------- seeds
def test_int_seed_is_deterministic_and_seeds_differ():
    a = random.normal((5,), seed=42)
    np.testing.assert_array_equal(a, random.normal((5,), seed=42))
    assert not np.allclose(a, random.normal((5,), seed=43))


def test_jax_key_is_used_as_is():
    key = jax.random.key(7)
    np.testing.assert_array_equal(random.normal((5,), seed=key), jax.random.normal(key, (5,)))
    np.testing.assert_array_equal(random.uniform((5,), seed=key), jax.random.uniform(key, (5,)))
    raw = jax.random.PRNGKey(7)  # a legacy raw uint32 key
    np.testing.assert_array_equal(random.normal((5,), seed=raw), jax.random.normal(raw, (5,)))


def test_seed_generator_advances_and_is_reproducible():
    gen = random.SeedGenerator(3)
    a, b = random.normal((4,), seed=gen), random.normal((4,), seed=gen)
    assert not np.allclose(a, b)
    other = random.SeedGenerator(3)
    np.testing.assert_array_equal(a, random.normal((4,), seed=other))
    np.testing.assert_array_equal(b, random.normal((4,), seed=other))
    assert not np.allclose(a, random.normal((4,), seed=random.SeedGenerator(4)))
    config = gen.get_config()
    assert config["seed"] == 3
    clone = random.SeedGenerator.from_config(config)
    np.testing.assert_array_equal(a, random.normal((4,), seed=clone))
    assert gen.state.dtype == jnp.uint32 and int(gen.state[1]) == 2


def test_seed_none_draws_from_numpys_global_rng():
    np.random.seed(0)
    a = random.normal((4,))
    b = random.normal((4,))
    assert not np.allclose(a, b)
    np.random.seed(0)
    np.testing.assert_array_equal(a, random.normal((4,)))
    np.random.seed(0)
    gen = random.SeedGenerator()  # an unseeded generator also follows the global seed
    np.random.seed(0)
    np.testing.assert_array_equal(random.normal((4,), seed=gen),
                                  random.normal((4,), seed=random.SeedGenerator()))


def test_unkeyed_draws_under_jit_outside_apply_are_errors():
    """A key drawn while tracing would be a constant of the compiled program."""
    with pytest.raises(ValueError, match=r"random.normal: seed=None inside a function that JAX "
                                         r"is tracing.*Pass the key in as an argument"):
        jax.jit(lambda: random.normal((2,)))()
    gen = random.SeedGenerator(1, name="gen")
    with pytest.raises(ValueError, match=r"SeedGenerator 'gen': drawing a key inside"):
        jax.jit(lambda x: random.dropout(x, 0.5, seed=gen))(np.ones(3))
    # a fixed seed is fine: the same draw as outside jit
    np.testing.assert_allclose(jax.jit(lambda: random.normal((2,), seed=3))(),
                               random.normal((2,), seed=3), rtol=1e-6)


def test_draws_under_jit_with_a_key():
    fn = jax.jit(lambda key: random.normal((3,), seed=key) + random.uniform((3,), seed=key))
    key = jax.random.key(1)  # used as is under jit too
    np.testing.assert_allclose(fn(key), jax.random.normal(key, (3,)) + jax.random.uniform(key, (3,)),
                               rtol=1e-6)
    assert not np.allclose(fn(jax.random.key(1)), fn(jax.random.key(2)))


# ---------------------------------------------------------------------------- distributions
_LOGITS = np.log(np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]], "float32"))
_draws = {}


def draws():
    """Every large draw of the distribution tests, made by one program compiled once (with
    XLA's quickest CPU settings: compiling the samplers dominates the cost)."""
    if not _draws:
        def program():
            n = 20_000  # gamma, beta and binomial are rejection samplers
            return {
                "normal": random.normal((N,), mean=2.0, stddev=3.0, seed=0),
                "uniform": random.uniform((N,), minval=-1.0, maxval=3.0, seed=1),
                "randint": random.randint((N,), 2, 7, seed=2),
                "truncated_normal": random.truncated_normal((N,), mean=1.0, stddev=0.5,
                                                            seed=3),
                "gamma": random.gamma((n,), alpha=3.0, seed=4),
                "beta": random.beta((n,), alpha=2.0, beta=5.0, seed=5),
                "binomial": random.binomial((n,), counts=10, probabilities=0.3, seed=6),
                "categorical": random.categorical(_LOGITS, 50_000, seed=7),
                "dropout": random.dropout(jnp.ones((N,)), 0.3, seed=8),
            }

        lowered = jax.jit(program).lower()
        try:
            compiled = lowered.compile(compiler_options={
                "xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False})
        except Exception:  # an XLA without these options
            compiled = lowered.compile()
        _draws.update({k: np.asarray(v) for k, v in compiled().items()})
    return _draws


def test_normal_moments():
    x = draws()["normal"]
    assert abs(x.mean() - 2.0) < 0.03 and abs(x.std() - 3.0) < 0.03


def test_uniform_bounds_and_moments():
    x = draws()["uniform"]
    assert x.min() >= -1.0 and x.max() < 3.0
    assert abs(x.mean() - 1.0) < 0.02 and abs(x.var() - 16 / 12) < 0.02


def test_randint_bounds_and_frequencies():
    x = draws()["randint"]
    assert x.dtype == np.int32 and x.min() == 2 and x.max() == 6
    np.testing.assert_allclose(np.bincount(x)[2:] / N, 0.2, atol=0.01)


def test_truncated_normal_within_two_stddev():
    x = draws()["truncated_normal"]
    assert x.min() >= 1.0 - 2 * 0.5 and x.max() <= 1.0 + 2 * 0.5
    assert abs(x.mean() - 1.0) < 0.01
    assert abs(x.std() - 0.5 * 0.8796) < 0.01  # the std of N(0, 1) truncated at +/- 2


def test_gamma_beta_binomial_moments():
    g, b, n = draws()["gamma"], draws()["beta"], draws()["binomial"]
    assert abs(g.mean() - 3.0) < 0.06 and abs(g.var() - 3.0) < 0.2
    assert 0.0 <= b.min() and b.max() <= 1.0 and abs(b.mean() - 2 / 7) < 0.01
    assert abs(n.mean() - 3.0) < 0.05 and abs(n.var() - 2.1) < 0.1
    assert n.min() >= 0 and n.max() <= 10 and np.all(n == np.round(n))


def test_categorical_frequencies_follow_the_softmax():
    for row, p in zip(draws()["categorical"], np.exp(_LOGITS)):
        np.testing.assert_allclose(np.bincount(row, minlength=3) / len(row), p, atol=0.01)


def test_shuffle_is_a_permutation_of_slices():
    x = np.arange(40, dtype="float32").reshape(10, 4)
    y = np.asarray(random.shuffle(x, seed=0))
    assert not np.array_equal(x, y)
    assert sorted(map(tuple, y)) == sorted(map(tuple, x))  # rows move whole
    z = np.asarray(random.shuffle(x, axis=1, seed=0))
    assert sorted(map(tuple, z.T)) == sorted(map(tuple, x.T))


def test_dropout_rate_and_scaling():
    y = draws()["dropout"]
    assert abs((y == 0).mean() - 0.3) < 0.01
    np.testing.assert_allclose(y[y != 0], 1 / 0.7, rtol=1e-6)
    x = np.ones((5,), "float32")
    np.testing.assert_array_equal(random.dropout(x, 0.0, seed=0), x)
    np.testing.assert_array_equal(random.dropout(x, 1.0, seed=0), np.zeros(5))


def test_dropout_noise_shape_drops_whole_features():
    x = np.ones((64, 8, 16), "float32")
    y = np.asarray(random.dropout(x, 0.5, noise_shape=(None, 1, 16), seed=0))
    kept = y != 0
    assert np.all(kept == kept[:, :1, :])  # the same mask along the time axis
    assert 0.4 < kept.mean() < 0.6


# ---------------------------------------------------------------------------- inside apply
class NoisyDense(layers.Layer):
    """Adds Gaussian noise (seed=None) and applies dropout from a SeedGenerator."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = random.SeedGenerator(1337)

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], 4), initializer="ones", name="w")

    def call(self, x, training=False):
        h = x @ self.w
        if training:
            h = h + random.normal(h.shape, stddev=0.1)
            h = random.dropout(h, 0.5, seed=self.seed_generator)
        return h


def test_draws_inside_apply_come_from_its_rng():
    layer = NoisyDense(name="noisy")
    x = np.ones((8, 3), "float32")
    params, state = layer.init(jax.random.key(0), x)
    out1, _ = layer.apply(params, state, x, training=True, rng=jax.random.key(1))
    out2, _ = layer.apply(params, state, x, training=True, rng=jax.random.key(1))
    out3, _ = layer.apply(params, state, x, training=True, rng=jax.random.key(2))
    np.testing.assert_array_equal(out1, out2)  # pure: the same key gives the same draws
    assert not np.allclose(out1, out3)
    assert np.any(np.asarray(out1) == 0) and not np.allclose(out1[out1 != 0], 6.0)
    jitted = jax.jit(lambda p, s, v, k: layer.apply(p, s, v, training=True, rng=k)[0])
    np.testing.assert_allclose(jitted(params, state, x, jax.random.key(1)), out1, rtol=1e-6)
    inference, _ = layer.apply(params, state, x)
    np.testing.assert_allclose(inference, 3.0 * np.ones((8, 4)))


def test_draws_inside_apply_without_rng_name_the_layer():
    layer = NoisyDense(name="noisy_layer")
    x = np.ones((2, 3), "float32")
    params, state = layer.init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=r"layer 'noisy_layer' \(NoisyDense\) draws random "
                                         r"numbers in `call`.*rng="):
        layer.apply(params, state, x, training=True)


def test_seed_generator_in_apply_does_not_advance_its_own_state():
    layer = NoisyDense()
    x = np.ones((2, 3), "float32")
    params, state = layer.init(jax.random.key(0), x)
    layer.apply(params, state, x, training=True, rng=jax.random.key(1))
    assert int(layer.seed_generator.state[1]) == 0
