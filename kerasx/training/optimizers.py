"""Optimizers with Keras 3 defaults and update formulas, usable as optax transformations.

Each optimizer is an object with the optax `GradientTransformation` interface,
`init(params) -> state` and `update(grads, state, params=None) -> (updates, state)`,
so it drops into `optax.chain`, `optax.MultiSteps` or a hand-written train step:

>>> opt = Adam(learning_rate=1e-3)
>>> opt_state = opt.init(params)
>>> updates, opt_state = opt.update(grads, opt_state, params)
>>> params = optax.apply_updates(params, updates)

The formulas are Keras's, not optax's (they differ in small ways): Keras Adam
folds the bias correction into the learning rate and adds epsilon outside
`sqrt(v)`; Keras RMSprop and Adagrad add epsilon inside the `sqrt`; Keras
Adagrad starts its accumulator at 0.1. One `update` does what one Keras
`apply_gradients` does, in the same order:

1. clip the gradients (`clipnorm` per variable, `global_clipnorm`, or `clipvalue`);
2. decay the weights, `w -= w * weight_decay * lr` (needs `params`);
3. take the optimizer step with `lr`;
4. `iterations += 1`.

`lr` is the float learning rate, or `schedule(iterations)` for a schedule (a
callable of the step count; the first update uses step 0, like Keras). A
`kerasx.optimizers.schedules.LearningRateSchedule` is serialized with the
optimizer's config (so a model compiled with it saves and loads); any other
callable (an optax schedule, a lambda) works but has no config.

The state is an `OptimizerState(iterations, learning_rate, slots)`: the step
count, the learning rate the next update will use (read it with
`current_learning_rate(state)`, change a float one with
`set_learning_rate(state, value)`), and the per-parameter accumulators.
"""

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import schedules as schedules_module

__all__ = [
    "OptimizerState",
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "current_learning_rate",
    "get",
]

Schedule = Callable[[jax.Array], jax.Array]


class OptimizerState(NamedTuple):
    """State of a kerasx optimizer."""

    iterations: jax.Array  # i32[], number of updates applied so far (Keras `optimizer.iterations`)
    learning_rate: jax.Array  # f32[], the learning rate the next update uses
    slots: Any  # per-optimizer accumulators, each a pytree shaped like params


def _tree_map(fn, *trees):
    return jax.tree_util.tree_map(fn, *trees)


def _zeros_like(params):
    return _tree_map(jnp.zeros_like, params)


class Optimizer:
    """Base class: Keras's shared optimizer logic (learning rate, clipping, weight decay).

    Subclasses implement `_init_slots(params)` and
    `_step(grads, slots, lr, iterations) -> (updates, slots)`, where `updates`
    are what gets added to the weights.

    Args:
        learning_rate: A float, or a schedule: a callable mapping the step count
            (an int32 scalar, 0 for the first update) to a learning rate, such
            as a `kerasx.optimizers.schedules.LearningRateSchedule` (serializable)
            or an optax schedule.
        weight_decay: If set, weights decay as `w -= w * weight_decay * lr`
            before each step.
        clipnorm: If set, each gradient leaf is rescaled to an L2 norm of at most
            `clipnorm`.
        clipvalue: If set, gradients are clipped elementwise to
            `[-clipvalue, clipvalue]`.
        global_clipnorm: If set, all gradients are rescaled together so their
            global L2 norm is at most `global_clipnorm`.
        name: The optimizer's name.
    """

    def __init__(
        self,
        learning_rate,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
    ):
        if callable(learning_rate):
            self._schedule = learning_rate
        elif isinstance(learning_rate, (int, float)) and not isinstance(learning_rate, bool):
            self._schedule = None
            learning_rate = float(learning_rate)
        else:
            raise ValueError(
                "Argument `learning_rate` should be a float or a schedule (a callable of the step "
                f"count). Received: learning_rate={learning_rate!r}"
            )
        given = {"clipnorm": clipnorm, "clipvalue": clipvalue, "global_clipnorm": global_clipnorm}
        if sum(v is not None for v in given.values()) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                + ", ".join(f"{k}={v}" for k, v in given.items())
            )
        for arg, value in [("weight_decay", weight_decay), *given.items()]:
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0):
                raise ValueError(
                    f"Received an invalid value for `{arg}`, expected a non-negative float or None. "
                    f"Received: {arg}={value!r}"
                )
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.name = name or type(self)._default_name

    _default_name = "optimizer"

    # -- optax interface ---------------------------------------------------

    def init(self, params) -> OptimizerState:
        """Returns the initial state for `params` (a pytree of arrays)."""
        iterations = jnp.zeros((), jnp.int32)
        return OptimizerState(
            iterations=iterations,
            learning_rate=self._lr_at(iterations),
            slots=self._init_slots(params),
        )

    def update(self, updates, state: OptimizerState, params=None, **extra_args):
        """Returns `(updates, new_state)` for gradients `updates` (jit-safe).

        Args:
            updates: The gradients, a pytree like `params`.
            state: The current `OptimizerState`.
            params: The current weights; required when `weight_decay` is set.
            **extra_args: Ignored (optax `GradientTransformationExtraArgs` protocol).

        Returns:
            The deltas to add to the weights (`optax.apply_updates`) and the new state.
        """
        del extra_args
        if not isinstance(state, OptimizerState):
            raise ValueError(
                f"`{self.name}.update` expects the state returned by `{self.name}.init(params)`. "
                f"Received: state of type {type(state).__name__}"
            )
        if self.weight_decay and params is None:
            raise ValueError(
                f"Optimizer `{self.name}` has weight_decay={self.weight_decay} and needs the current "
                "weights: call `update(grads, state, params)`."
            )
        lr = state.learning_rate
        grads = self._clip(updates)
        if params is not None:
            grads = _tree_map(lambda g, p: jnp.asarray(g).astype(jnp.asarray(p).dtype), grads, params)
        deltas, slots = self._step(grads, state.slots, lr, state.iterations)
        if self.weight_decay:
            wd = self.weight_decay
            deltas = _tree_map(
                lambda d, p: d - p * jnp.asarray(wd, p.dtype) * lr.astype(p.dtype), deltas, params
            )
        iterations = state.iterations + 1
        next_lr = self._lr_at(iterations) if self._schedule is not None else lr
        return deltas, OptimizerState(iterations=iterations, learning_rate=next_lr, slots=slots)

    # -- learning rate -----------------------------------------------------

    def _lr_at(self, iterations):
        if self._schedule is None:
            return jnp.asarray(self.learning_rate, jnp.float32)
        return jnp.asarray(self._schedule(iterations), jnp.float32)

    def current_learning_rate(self, opt_state):
        """Returns the learning rate the next update will use (Keras `optimizer.learning_rate`).

        `opt_state` may also be a larger optax state (e.g. from `optax.chain`)
        holding this optimizer's `OptimizerState`.
        """
        lr = current_learning_rate(opt_state)
        if lr is None:
            raise ValueError(
                f"No `OptimizerState` found in the state given to `{self.name}.current_learning_rate`. "
                f"Received: opt_state of type {type(opt_state).__name__}"
            )
        return lr

    def set_learning_rate(self, opt_state: OptimizerState, learning_rate) -> OptimizerState:
        """Returns `opt_state` with a new float learning rate (for callbacks such as ReduceLROnPlateau).

        Raises:
            TypeError: if the optimizer was built with a schedule.
        """
        if self._schedule is not None:
            raise TypeError(
                f"Optimizer `{self.name}` was created with a learning-rate schedule, so its learning "
                "rate is not settable. Create it with a float `learning_rate` instead."
            )
        return opt_state._replace(learning_rate=jnp.asarray(learning_rate, jnp.float32))

    # -- gradient clipping -------------------------------------------------

    def _clip(self, grads):
        if self.clipnorm:
            c = self.clipnorm

            def clip_leaf(g):
                l2sum = jnp.sum(jnp.square(g))
                safe = jnp.where(l2sum > 0, l2sum, jnp.ones_like(l2sum))
                l2norm = jnp.where(l2sum > 0, jnp.sqrt(safe), l2sum)
                return g * c / jnp.maximum(l2norm, c)

            return _tree_map(clip_leaf, grads)
        if self.global_clipnorm:
            c = self.global_clipnorm
            leaves = jax.tree_util.tree_leaves(grads)
            norm = jnp.sqrt(jnp.sum(jnp.stack([jnp.sum(jnp.square(g)) for g in leaves])))
            # Keras's form: a no-op for finite norms, NaN for inf/NaN norms.
            scale = c * jnp.minimum(1.0 / norm, 1.0 / c) + (norm - norm)
            return _tree_map(lambda g: g * scale.astype(g.dtype), grads)
        if self.clipvalue:
            v = self.clipvalue
            return _tree_map(lambda g: jnp.clip(g, -v, v), grads)
        return grads

    # -- per-optimizer parts -----------------------------------------------

    def _init_slots(self, params):
        raise NotImplementedError

    def _step(self, grads, slots, lr, iterations):
        raise NotImplementedError

    # -- misc --------------------------------------------------------------

    def get_config(self):
        """Returns the constructor arguments as a dict.

        A `LearningRateSchedule` learning rate is given in its serialized form
        (`kerasx.optimizers.schedules.serialize`), as Keras does; any other
        schedule (a callable without a config) is returned as is.
        """
        return {
            "name": self.name,
            "learning_rate": self._learning_rate_config(),
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm,
            "clipvalue": self.clipvalue,
        }

    def _learning_rate_config(self):
        lr = self.learning_rate
        if isinstance(lr, schedules_module.LearningRateSchedule):
            try:
                return schedules_module.serialize(lr)
            except NotImplementedError:  # a custom schedule without get_config()
                return lr
        return lr

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Builds the optimizer from `get_config()`'s dict.

        Args:
            config: The dict `get_config()` returns; a serialized schedule as
                `learning_rate` is rebuilt with `kerasx.optimizers.schedules.deserialize`.
            custom_objects: Optional `{name: class}` for custom schedule classes.

        Returns:
            The optimizer.
        """
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules_module.deserialize(
                config["learning_rate"], custom_objects=custom_objects)
        return cls(**config)

    def as_optax(self) -> optax.GradientTransformationExtraArgs:
        """Returns this optimizer as a plain `optax.GradientTransformationExtraArgs` tuple."""
        return optax.GradientTransformationExtraArgs(self.init, self.update)

    def __repr__(self):
        config = {**self.get_config(), "learning_rate": self.learning_rate}
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"{type(self).__name__}({args})"


def _check_unit_interval(arg, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
        raise ValueError(
            f"Received an invalid value for `{arg}`, expected a float in [0, 1]. Received: {arg}={value!r}"
        )


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum.

    Keras formulas: `m = momentum * m - lr * g`; then `w += m`, or with Nesterov
    `w += momentum * m - lr * g`. Without momentum, `w -= lr * g`.

    Args:
        learning_rate: A float or schedule. Defaults to 0.01.
        momentum: Float in [0, 1]. Defaults to 0.
        nesterov: Whether to use Nesterov momentum.
        weight_decay, clipnorm, clipvalue, global_clipnorm, name: See `Optimizer`.
    """

    _default_name = "sgd"

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        nesterov=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        _check_unit_interval("momentum", momentum)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _init_slots(self, params):
        return {"momentum": _zeros_like(params)} if self.momentum != 0 else {}

    def _step(self, grads, slots, lr, iterations):
        if self.momentum == 0:
            return _tree_map(lambda g: -(g * lr.astype(g.dtype)), grads), slots
        mom = self.momentum

        def new_m(m, g):
            return m * jnp.asarray(mom, m.dtype) - g * lr.astype(g.dtype)

        momentums = _tree_map(new_m, slots["momentum"], grads)
        deltas = _tree_map(new_m, momentums, grads) if self.nesterov else momentums
        return deltas, {"momentum": momentums}

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam, with Keras's formulation.

    `m += (g - m) * (1 - beta_1)`, `v += (g**2 - v) * (1 - beta_2)`,
    `w -= m * alpha / (sqrt(v) + epsilon)` with
    `alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`, `t = iterations + 1`.
    With `amsgrad`, `v` is replaced by its running maximum in the step.

    Args:
        learning_rate: A float or schedule. Defaults to 0.001.
        beta_1: Decay rate of the first moment. Defaults to 0.9.
        beta_2: Decay rate of the second moment. Defaults to 0.999.
        epsilon: Added to `sqrt(v)`. Defaults to 1e-7.
        amsgrad: Whether to use the AMSGrad variant.
        weight_decay, clipnorm, clipvalue, global_clipnorm, name: See `Optimizer`.
    """

    _default_name = "adam"

    def __init__(
        self,
        learning_rate=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = bool(amsgrad)

    def _init_slots(self, params):
        slots = {"momentum": _zeros_like(params), "velocity": _zeros_like(params)}
        if self.amsgrad:
            slots["velocity_hat"] = _zeros_like(params)
        return slots

    def _step(self, grads, slots, lr, iterations):
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        t = (iterations + 1).astype(jnp.float32)
        alpha = lr * jnp.sqrt(1 - jnp.power(jnp.float32(b2), t)) / (1 - jnp.power(jnp.float32(b1), t))
        m = _tree_map(lambda m, g: m + (g - m) * (1 - b1), slots["momentum"], grads)
        v = _tree_map(lambda v, g: v + (jnp.square(g) - v) * (1 - b2), slots["velocity"], grads)
        new_slots = {"momentum": m, "velocity": v}
        v_used = v
        if self.amsgrad:
            v_used = _tree_map(jnp.maximum, slots["velocity_hat"], v)
            new_slots["velocity_hat"] = v_used
        deltas = _tree_map(lambda m, v: -((m * alpha.astype(m.dtype)) / (jnp.sqrt(v) + eps)), m, v_used)
        return deltas, new_slots

    def get_config(self):
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "amsgrad": self.amsgrad,
        }


class AdamW(Adam):
    """Adam with decoupled weight decay: `w -= w * weight_decay * lr` before each Adam step.

    Args:
        learning_rate: A float or schedule. Defaults to 0.001.
        weight_decay: Defaults to 0.004 (must not be None).
        beta_1, beta_2, epsilon, amsgrad: See `Adam`.
        clipnorm, clipvalue, global_clipnorm, name: See `Optimizer`.
    """

    _default_name = "adam_w"  # Keras's auto-generated name for AdamW.

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
    ):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")
        super().__init__(
            learning_rate,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=amsgrad,
            weight_decay=weight_decay,
            clipnorm=clipnorm,
            clipvalue=clipvalue,
            global_clipnorm=global_clipnorm,
            name=name,
        )


class RMSprop(Optimizer):
    """RMSprop, with Keras's formulation (epsilon inside the square root).

    `v = rho * v + (1 - rho) * g**2`; `step = lr * g / sqrt(v + epsilon)`, or
    with `centered`, `lr * g / sqrt(v - a**2 + epsilon)` where
    `a = rho * a + (1 - rho) * g`. With momentum, `m = momentum * m + step` and
    `w -= m`; otherwise `w -= step`.

    Args:
        learning_rate: A float or schedule. Defaults to 0.001.
        rho: Decay of the squared-gradient average. Defaults to 0.9.
        momentum: Defaults to 0.
        epsilon: Defaults to 1e-7.
        centered: Whether to normalise by the gradient variance estimate.
        weight_decay, clipnorm, clipvalue, global_clipnorm, name: See `Optimizer`.
    """

    _default_name = "rm_sprop"  # Keras's auto-generated name for RMSprop.

    def __init__(
        self,
        learning_rate=0.001,
        rho=0.9,
        momentum=0.0,
        epsilon=1e-7,
        centered=False,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = bool(centered)

    def _init_slots(self, params):
        slots = {"velocity": _zeros_like(params)}
        if self.momentum > 0:
            slots["momentum"] = _zeros_like(params)
        if self.centered:
            slots["average_gradient"] = _zeros_like(params)
        return slots

    def _step(self, grads, slots, lr, iterations):
        rho, eps = self.rho, self.epsilon
        v = _tree_map(lambda v, g: rho * v + (1 - rho) * jnp.square(g), slots["velocity"], grads)
        new_slots = {"velocity": v}
        if self.centered:
            a = _tree_map(lambda a, g: rho * a + (1 - rho) * g, slots["average_gradient"], grads)
            new_slots["average_gradient"] = a
            denominator = _tree_map(lambda v, a: v - jnp.square(a) + eps, v, a)
        else:
            denominator = _tree_map(lambda v: v + eps, v)
        increment = _tree_map(lambda g, d: (lr.astype(g.dtype) * g) / jnp.sqrt(d), grads, denominator)
        if self.momentum > 0:
            mom = self.momentum
            m = _tree_map(lambda m, inc: mom * m + inc, slots["momentum"], increment)
            new_slots["momentum"] = m
            return _tree_map(jnp.negative, m), new_slots
        return _tree_map(jnp.negative, increment), new_slots

    def get_config(self):
        return {
            **super().get_config(),
            "rho": self.rho,
            "momentum": self.momentum,
            "epsilon": self.epsilon,
            "centered": self.centered,
        }


class Adagrad(Optimizer):
    """Adagrad, with Keras's formulation.

    `acc += g**2` (starting from `initial_accumulator_value`), then
    `w -= lr * g / sqrt(acc + epsilon)`.

    Args:
        learning_rate: A float or schedule. Defaults to 0.001.
        initial_accumulator_value: Starting value of the accumulators. Defaults to 0.1.
        epsilon: Defaults to 1e-7.
        weight_decay, clipnorm, clipvalue, global_clipnorm, name: See `Optimizer`.
    """

    _default_name = "adagrad"

    def __init__(
        self,
        learning_rate=0.001,
        initial_accumulator_value=0.1,
        epsilon=1e-7,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        name=None,
    ):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _init_slots(self, params):
        init = self.initial_accumulator_value
        return {"accumulator": _tree_map(lambda p: jnp.full_like(p, init), params)}

    def _step(self, grads, slots, lr, iterations):
        eps = self.epsilon
        acc = _tree_map(lambda a, g: a + jnp.square(g), slots["accumulator"], grads)
        deltas = _tree_map(lambda g, a: -((lr.astype(g.dtype) * g) / jnp.sqrt(a + eps)), grads, acc)
        return deltas, {"accumulator": acc}

    def get_config(self):
        return {
            **super().get_config(),
            "initial_accumulator_value": self.initial_accumulator_value,
            "epsilon": self.epsilon,
        }


def current_learning_rate(opt_state):
    """Finds the current learning rate in an optimizer state, or returns None.

    Looks for the first kerasx `OptimizerState`, or an optax
    `inject_hyperparams` state with a `learning_rate` hyperparameter, anywhere
    in `opt_state` (so chained or wrapped states work).
    """
    def is_injected(x):  # optax's Inject(Stateful)HyperparamsState
        return isinstance(x, tuple) and isinstance(getattr(x, "hyperparams", None), dict)

    def is_node(x):
        return isinstance(x, OptimizerState) or is_injected(x)

    for node in jax.tree_util.tree_leaves(opt_state, is_leaf=is_node):
        if isinstance(node, OptimizerState):
            return node.learning_rate
        if is_injected(node) and "learning_rate" in node.hyperparams:
            return node.hyperparams["learning_rate"]
    return None


def replace_learning_rate(opt_state, learning_rate):
    """Returns `opt_state` with every learning rate it holds (kerasx `OptimizerState`s and optax
    `inject_hyperparams` states) set to `learning_rate`; the shapes and dtypes stay the same, so
    a jitted step that takes the state is not compiled again.

    Raises:
        ValueError: if the state holds no settable learning rate.
    """
    def is_injected(x):
        return isinstance(x, tuple) and isinstance(getattr(x, "hyperparams", None), dict)

    found = []

    def replace(node):
        if isinstance(node, OptimizerState):
            found.append(node)
            return node._replace(learning_rate=jnp.asarray(learning_rate, node.learning_rate.dtype))
        if is_injected(node) and "learning_rate" in node.hyperparams:
            found.append(node)
            old = node.hyperparams["learning_rate"]
            hyper = {**node.hyperparams, "learning_rate": jnp.asarray(learning_rate, jnp.asarray(old).dtype)}
            return node._replace(hyperparams=hyper)
        return node

    new_state = jax.tree_util.tree_map(
        replace, opt_state, is_leaf=lambda x: isinstance(x, OptimizerState) or is_injected(x))
    if not found:
        raise ValueError(
            "This optimizer's state holds no settable learning rate. Use a kerasx optimizer "
            "(e.g. kerasx.optimizers.Adam(1e-3)) or wrap an optax one with "
            "`optax.inject_hyperparams(optax.adam)(learning_rate=1e-3)`."
        )
    return new_state


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get(identifier):
    """Resolves an optimizer identifier.

    Args:
        identifier: A name (`"sgd"`, `"adam"`, `"adamw"`, `"rmsprop"`,
            `"adagrad"`, case-insensitive) for that optimizer with Keras
            defaults; a kerasx `Optimizer`; or any optax `GradientTransformation`
            (both returned as is).

    Returns:
        An object with optax's `init`/`update` interface.

    Raises:
        ValueError: for an unknown name or an unsupported identifier.
    """
    if isinstance(identifier, (Optimizer, optax.GradientTransformation)):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in _BY_NAME:
            raise ValueError(
                f"Unknown optimizer: {identifier!r}. Expected one of {sorted(_BY_NAME)} "
                "(case-insensitive), a kerasx optimizer, or an optax GradientTransformation."
            )
        return _BY_NAME[key]()
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise ValueError(
        f"Could not interpret optimizer identifier: {identifier!r}. Expected one of "
        f"{sorted(_BY_NAME)}, a kerasx optimizer, or an optax GradientTransformation."
    )
