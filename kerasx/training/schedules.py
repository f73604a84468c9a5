"""Learning-rate schedules with Keras 3's names, arguments, formulas and configs.

A schedule is an object `schedule(step) -> learning_rate`: `step` is the optimizer's
update count (an int32 scalar, 0 for the first update; it may be traced), and the result a
float32 scalar. `__call__` is a pure `jax.numpy` function with no Python branching on the step,
so a schedule runs inside a jitted train step and is also a plain optax schedule:

>>> schedule = ExponentialDecay(0.1, decay_steps=1000, decay_rate=0.96)
>>> opt = kerasx.optimizers.SGD(learning_rate=schedule)   # a kerasx optimizer
>>> tx = optax.sgd(learning_rate=schedule)                 # or an optax one

Unlike an arbitrary callable, a schedule has a config (`get_config`/`from_config`,
`serialize`/`deserialize`), so an optimizer built with one, and a model compiled with that
optimizer, can be saved and loaded. Subclass `LearningRateSchedule` (implement `__call__` and
`get_config`) and register the class with `@kerasx.saving.register_keras_serializable()` to make
your own schedule saveable. Computations are in float32 (Keras's `floatx`), op for op as Keras
does them.
"""

import math

import jax.numpy as jnp
import numpy as np

__all__ = [
    "LearningRateSchedule",
    "ExponentialDecay",
    "PiecewiseConstantDecay",
    "PolynomialDecay",
    "InverseTimeDecay",
    "CosineDecay",
    "CosineDecayRestarts",
    "serialize",
    "deserialize",
]

_DTYPE = jnp.float32


def _f32(x):
    return jnp.asarray(x, _DTYPE)


def _step(step):
    """The step count as a float32 scalar."""
    return jnp.asarray(step).astype(_DTYPE)


def _floor_div(x, d):
    """`floor(x / d)`, exact at the multiples of `d`.

    XLA's division is not always exactly rounded: under `jit` it divides by a constant as a
    multiplication by the reciprocal, and XLA:CPU's vectorized division is approximate too, so
    `41 / 41` can come out as 0.99999994 and its floor as 0 (a staircase one step late). One
    step of correction against `q * d` (exact for integer-valued floats below 2**24) gives the
    floor of the exact quotient, as Keras computes it eagerly on a scalar step.
    """
    q = jnp.floor(x / d)
    q = q + (x >= (q + 1) * d).astype(x.dtype)
    return q - (x < q * d).astype(x.dtype)


def _check_positive(arg, value):
    if not _is_number(value) or not value > 0:
        raise ValueError(f"Argument `{arg}` must be > 0. Received: {arg}={value!r}")


def _is_number(value):
    if isinstance(value, bool):
        return False
    return isinstance(value, (int, float, np.number)) or (
        hasattr(value, "dtype") and np.ndim(value) == 0)  # a 0-d NumPy or JAX array


def _check_number(arg, value, allow_none=False):
    if value is None and allow_none:
        return
    if not _is_number(value):
        raise ValueError(
            f"Argument `{arg}` must be a Python number{' or None' if allow_none else ''}. "
            f"Received: {arg}={value!r}"
        )


class LearningRateSchedule:
    """Base class of learning-rate schedules: `schedule(step) -> learning rate`.

    Subclasses implement `__call__(self, step)` (pure `jax.numpy`, jit-safe: `step` may be a
    traced int32 scalar) and, to be serializable, `get_config(self)` returning the constructor
    arguments. `from_config(config)` is `cls(**config)`.

    Example:
        >>> class InverseSqrt(LearningRateSchedule):
        ...     def __init__(self, initial_learning_rate):
        ...         self.initial_learning_rate = initial_learning_rate
        ...     def __call__(self, step):
        ...         return self.initial_learning_rate / jnp.sqrt(step + 1.0)
        ...     def get_config(self):
        ...         return {"initial_learning_rate": self.initial_learning_rate}
    """

    def __call__(self, step):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `__call__(self, step)`."
        )

    def get_config(self):
        raise NotImplementedError(
            f"Learning rate schedule '{type(self).__name__}' must override `get_config()` in "
            "order to be serializable."
        )

    @classmethod
    def from_config(cls, config):
        """Builds the schedule from `get_config()`'s dict.

        Args:
            config: The dict `get_config()` returns.

        Returns:
            A `LearningRateSchedule`.
        """
        return cls(**config)

    def __repr__(self):
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            return object.__repr__(self)
        return f"{type(self).__name__}({args})"


class _RateDecay(LearningRateSchedule):
    """The arguments, checks and config that ExponentialDecay and InverseTimeDecay share, and
    their progress `step / decay_steps` (floored with `staircase`)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase, name):
        _check_number("initial_learning_rate", initial_learning_rate)
        _check_positive("decay_steps", decay_steps)
        _check_number("decay_rate", decay_rate)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.decay_rate = decay_rate
        self.staircase = staircase
        self.name = name

    def _progress(self, step):
        step, decay_steps = _step(step), _f32(self.decay_steps)
        return _floor_div(step, decay_steps) if self.staircase else step / decay_steps

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "staircase": self.staircase,
            "name": self.name,
        }


class ExponentialDecay(_RateDecay):
    """`initial_learning_rate * decay_rate ** (step / decay_steps)`.

    Args:
        initial_learning_rate: A float, the learning rate at step 0.
        decay_steps: A positive int: the learning rate is multiplied by `decay_rate` every
            `decay_steps` steps.
        decay_rate: A float.
        staircase: If True, `step / decay_steps` is floored, so the rate decays in steps.
        name: The schedule's name. Defaults to `"ExponentialDecay"`.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="ExponentialDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return _f32(self.initial_learning_rate) * jnp.power(_f32(self.decay_rate),
                                                            self._progress(step))


class PiecewiseConstantDecay(LearningRateSchedule):
    """A constant learning rate per interval of steps.

    The rate is `values[0]` while `step <= boundaries[0]`, `values[i]` while
    `boundaries[i-1] < step <= boundaries[i]`, and `values[-1]` once `step > boundaries[-1]`.

    Args:
        boundaries: Strictly increasing step counts (ints; they are cast to the step's dtype).
        values: The learning rates, one more than `boundaries`.
        name: The schedule's name. Defaults to `"PiecewiseConstant"`.
    """

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(
                "The length of boundaries should be 1 less than the length of values. Received: "
                f"boundaries={boundaries} of length {len(boundaries)}, and values={values} of "
                f"length {len(values)}."
            )
        for arg, seq in (("boundaries", boundaries), ("values", values)):
            for v in seq:
                _check_number(arg, v)
        if any(a >= b for a, b in zip(boundaries, boundaries[1:])):
            raise ValueError(
                f"Argument `boundaries` must be strictly increasing. Received: boundaries={boundaries}"
            )
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        step = jnp.asarray(step)
        boundaries = jnp.asarray(self.boundaries).astype(step.dtype)
        values = _f32(self.values)
        # How many boundaries the step is past: 0 for step <= boundaries[0], ...
        index = jnp.sum((step > boundaries).astype(jnp.int32))
        return values[index]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class PolynomialDecay(LearningRateSchedule):
    """Decays from `initial_learning_rate` to `end_learning_rate` in `decay_steps` steps.

    `(initial - end) * (1 - min(step, decay_steps) / decay_steps) ** power + end`. With `cycle`,
    `decay_steps` is instead multiplied by `ceil(step / decay_steps)` (1 at step 0), so the
    decay restarts from a lower peak each period.

    Args:
        initial_learning_rate: A float, the learning rate at step 0.
        decay_steps: A positive int.
        end_learning_rate: A float. Defaults to 0.0001.
        power: A float, the power of the polynomial. Defaults to 1.0.
        cycle: Whether to cycle beyond `decay_steps`.
        name: The schedule's name. Defaults to `"PolynomialDecay"`.
    """

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0,
                 cycle=False, name="PolynomialDecay"):
        _check_number("initial_learning_rate", initial_learning_rate)
        _check_positive("decay_steps", decay_steps)
        _check_number("end_learning_rate", end_learning_rate)
        _check_number("power", power)
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.end_learning_rate = end_learning_rate
        self.power = power
        self.cycle = cycle
        self.name = name

    def __call__(self, step):
        initial = _f32(self.initial_learning_rate)
        end = _f32(self.end_learning_rate)
        step = _step(step)
        decay_steps = _f32(self.decay_steps)
        if self.cycle:
            periods = _floor_div(step, decay_steps)
            periods = periods + (step > periods * decay_steps).astype(step.dtype)  # the ceiling
            decay_steps = decay_steps * jnp.where(step == 0, _f32(1.0), periods)
        else:
            step = jnp.minimum(step, decay_steps)
        p = step / decay_steps
        # p <= 1, but p = 1 may come out as 1.0000001 under jit (see `_floor_div`): clamp, or a
        # fractional power of the negative rest would be NaN.
        return (initial - end) * jnp.power(jnp.maximum(1 - p, 0.0), _f32(self.power)) + end

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "end_learning_rate": self.end_learning_rate,
            "power": self.power,
            "cycle": self.cycle,
            "name": self.name,
        }


class InverseTimeDecay(_RateDecay):
    """`initial_learning_rate / (1 + decay_rate * step / decay_steps)`.

    Args:
        initial_learning_rate: A float, the learning rate at step 0.
        decay_steps: A positive number: how often the decay is applied.
        decay_rate: A float.
        staircase: If True, `step / decay_steps` is floored.
        name: The schedule's name. Defaults to `"InverseTimeDecay"`.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False,
                 name="InverseTimeDecay"):
        super().__init__(initial_learning_rate, decay_steps, decay_rate, staircase, name)

    def __call__(self, step):
        return _f32(self.initial_learning_rate) / (_f32(1.0) + _f32(self.decay_rate)
                                                   * self._progress(step))


def _cosine(step, decay_steps, decay_from, alpha):
    """`decay_from * ((1 - alpha) * 0.5 * (1 + cos(pi * step / decay_steps)) + alpha)`."""
    cosine_decayed = 0.5 * (1.0 + jnp.cos(_f32(math.pi) * (step / decay_steps)))
    return decay_from * ((1 - alpha) * cosine_decayed + alpha)


class CosineDecay(LearningRateSchedule):
    """Cosine decay, optionally after a linear warmup (SGDR, Loshchilov & Hutter 2016).

    Without `warmup_target`: `initial_learning_rate * ((1 - alpha) * c + alpha)` with
    `c = 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps))`. With `warmup_target`,
    the rate first rises linearly from `initial_learning_rate` to `warmup_target` over
    `warmup_steps` steps, then decays as above from `warmup_target` over `decay_steps` steps.

    Args:
        initial_learning_rate: A float, the learning rate at step 0.
        decay_steps: A positive int, the number of steps to decay over.
        alpha: The final learning rate, as a fraction of the decay's starting rate.
            Defaults to 0.
        name: The schedule's name. Defaults to `"CosineDecay"`.
        warmup_target: A float, the learning rate reached at the end of the warmup; None (the
            default) for no warmup.
        warmup_steps: A non-negative int, the number of warmup steps. Defaults to 0.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        _check_number("initial_learning_rate", initial_learning_rate)
        _check_positive("decay_steps", decay_steps)
        _check_number("alpha", alpha)
        _check_number("warmup_target", warmup_target, allow_none=True)
        _check_number("warmup_steps", warmup_steps)
        if warmup_steps < 0:
            raise ValueError(f"Argument `warmup_steps` must be >= 0. Received: warmup_steps={warmup_steps!r}")
        self.initial_learning_rate = initial_learning_rate
        self.decay_steps = decay_steps
        self.alpha = alpha
        self.name = name
        self.warmup_target = warmup_target
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        initial = _f32(self.initial_learning_rate)
        decay_steps = _f32(self.decay_steps)
        step = _step(step)
        if self.warmup_target is None:
            return _cosine(jnp.minimum(step, decay_steps), decay_steps, initial, self.alpha)
        target = _f32(self.warmup_target)
        warmup_steps = _f32(self.warmup_steps)
        step = jnp.minimum(step, decay_steps + warmup_steps)
        warmup = (target - initial) * (step / warmup_steps) + initial
        decay = _cosine(step - warmup_steps, decay_steps, target, self.alpha)
        return jnp.where(step < warmup_steps, warmup, decay)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "decay_steps": self.decay_steps,
            "alpha": self.alpha,
            "name": self.name,
            "warmup_target": self.warmup_target,
            "warmup_steps": self.warmup_steps,
        }


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts (SGDR, Loshchilov & Hutter 2016).

    The multiplier decays from 1 to `alpha` over `first_decay_steps` steps; then the schedule
    restarts, each period `t_mul` times longer than the last and starting from `m_mul` times
    the previous peak.

    Args:
        initial_learning_rate: A float, the learning rate at step 0.
        first_decay_steps: A positive int, the length of the first period.
        t_mul: A positive float, the growth of each period's length. Defaults to 2.
        m_mul: A float, the factor of each period's peak. Defaults to 1.
        alpha: The minimum learning rate, as a fraction of `initial_learning_rate`.
            Defaults to 0.
        name: The schedule's name. Defaults to `"SGDRDecay"`.
    """

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0,
                 name="SGDRDecay"):
        _check_number("initial_learning_rate", initial_learning_rate)
        _check_positive("first_decay_steps", first_decay_steps)
        _check_positive("t_mul", t_mul)
        _check_number("m_mul", m_mul)
        _check_number("alpha", alpha)
        self.initial_learning_rate = initial_learning_rate
        self.first_decay_steps = first_decay_steps
        self.t_mul = t_mul
        self.m_mul = m_mul
        self.alpha = alpha
        self.name = name

    def __call__(self, step):
        initial = _f32(self.initial_learning_rate)
        alpha = _f32(self.alpha)
        t_mul = _f32(self.t_mul)
        step, first_decay_steps = _step(step), _f32(self.first_decay_steps)
        completed = step / first_decay_steps
        if self.t_mul == 1.0:  # equal periods (a config value, not the step: no tracing issue)
            i_restart = _floor_div(step, first_decay_steps)
            completed = completed - i_restart
        else:  # period i lasts t_mul**i: invert the geometric sum
            i_restart = jnp.floor(jnp.log(1.0 - completed * (1.0 - t_mul)) / jnp.log(t_mul))
            sum_r = (1.0 - jnp.power(t_mul, i_restart)) / (1.0 - t_mul)
            completed = (completed - sum_r) / jnp.power(t_mul, i_restart)
        m_fac = jnp.power(_f32(self.m_mul), i_restart)
        cosine_decayed = 0.5 * m_fac * (1.0 + jnp.cos(_f32(math.pi) * completed))
        return initial * ((1 - alpha) * cosine_decayed + alpha)

    def get_config(self):
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "first_decay_steps": self.first_decay_steps,
            "t_mul": self.t_mul,
            "m_mul": self.m_mul,
            "alpha": self.alpha,
            "name": self.name,
        }


_BUILTINS = {cls.__name__: cls for cls in (
    ExponentialDecay, PiecewiseConstantDecay, PolynomialDecay, InverseTimeDecay, CosineDecay,
    CosineDecayRestarts)}
_MODULE = "kerasx.optimizers.schedules"


def _plain(value):
    """Config values as JSON-ready Python data."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # NumPy and JAX arrays
        return value.tolist()
    return value


def serialize(learning_rate_schedule):
    """Describes a schedule as a JSON-ready dict, in Keras 3's format.

    Args:
        learning_rate_schedule: A `LearningRateSchedule` (a custom one needs `get_config()`).

    Returns:
        `{"module", "class_name", "config", "registered_name"}`.

    Raises:
        TypeError: if the argument is not a `LearningRateSchedule`.
        NotImplementedError: for a custom schedule without `get_config()`.
    """
    from ..saving import get_registered_name

    if not isinstance(learning_rate_schedule, LearningRateSchedule):
        raise TypeError(
            "`serialize` expects a `LearningRateSchedule` (e.g. kerasx.optimizers.schedules."
            f"ExponentialDecay(...)). Received: {learning_rate_schedule!r}"
        )
    cls = type(learning_rate_schedule)
    builtin = _BUILTINS.get(cls.__name__) is cls
    config = learning_rate_schedule.get_config()
    if not isinstance(config, dict):
        raise TypeError(f"The `get_config()` method of {cls.__name__} should return a dict. "
                        f"Received: {config!r}")
    return {"module": _MODULE if builtin else cls.__module__, "class_name": cls.__name__,
            "config": _plain(config),
            "registered_name": None if builtin else get_registered_name(cls)}


def deserialize(config, custom_objects=None):
    """Rebuilds a schedule from `serialize`'s dict (Keras-written ones load too).

    Args:
        config: `{"class_name", "config", "module"?, "registered_name"?}`. A
            `LearningRateSchedule` is returned as it is.
        custom_objects: Optional `{name: class}` for custom schedules that are not registered
            with `@kerasx.saving.register_keras_serializable()`.

    Returns:
        A `LearningRateSchedule`.

    Raises:
        ValueError: for a malformed config or an unknown class.
    """
    from ..saving import get_registered_object

    if isinstance(config, LearningRateSchedule):
        return config
    if not (isinstance(config, dict) and isinstance(config.get("class_name"), str)
            and isinstance(config.get("config"), dict)):
        raise ValueError(
            "Expected a serialized learning-rate schedule: a dict with 'class_name' and 'config' "
            f"keys, as `kerasx.optimizers.schedules.serialize` returns. Received: {config!r}"
        )
    class_name = config["class_name"]
    cls = None
    for name in (config.get("registered_name"), class_name):
        if isinstance(name, str) and cls is None:
            cls = get_registered_object(name, custom_objects)
    module = config.get("module")
    if cls is None and (module is None or module.startswith(("keras.", "kerasx."))):
        cls = _BUILTINS.get(class_name)
    if cls is None or not hasattr(cls, "from_config"):
        raise ValueError(
            f"Unknown learning-rate schedule '{class_name}': it is not a kerasx built-in "
            f"({', '.join(_BUILTINS)}) and was not found among the registered objects or "
            f"`custom_objects`. Pass it, e.g. `custom_objects={{'{class_name}': {class_name}}}`, "
            "or decorate the class with `@kerasx.saving.register_keras_serializable()`."
        )
    return cls.from_config(dict(config["config"]))
