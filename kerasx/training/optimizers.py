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
`apply_gradients` does (its JAX backend), in the same order:

1. unscale the gradients by `loss_scale_factor`, if set;
2. with `gradient_accumulation_steps=n`: add them to the accumulators, and on
   every n-th update use the average of the last n gradients (other updates
   change no weight and no optimizer slot);
3. clip the gradients (`clipnorm` per variable, `global_clipnorm`, or `clipvalue`);
4. decay the weights, `w -= w * weight_decay * lr` (needs `params`);
5. take the optimizer step with `lr`;
6. with `use_ema`: update the moving average of the weights and, every
   `ema_overwrite_frequency` steps, overwrite the weights with it;
7. `iterations += 1`.

`lr` is the float learning rate, or `schedule(iterations)` for a schedule (a
callable of the step count; the first update uses step 0, like Keras). A
`kerasx.optimizers.schedules.LearningRateSchedule` is serialized with the
optimizer's config (so a model compiled with it saves and loads); any other
callable (an optax schedule, a lambda) works but has no config.

The state is an `OptimizerState(iterations, learning_rate, slots, ema,
accumulators)`: the step count (every update, as Keras's `_iterations`), the
learning rate the next update will use (read it with
`current_learning_rate(state)`, change a float one with
`set_learning_rate(state, value)`), the per-parameter accumulators, and the
EMA weights and accumulated gradients (None when unused).
"""

import re
from collections.abc import MutableMapping
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import dtype_policies
from . import schedules as schedules_module

__all__ = [
    "OptimizerState",
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "Adadelta",
    "Adafactor",
    "Adamax",
    "Ftrl",
    "Lamb",
    "Lion",
    "Muon",
    "Nadam",
    "ScheduleFreeAdamW",
    "LossScaleOptimizer",
    "LossScaleState",
    "OptimizerMap",
    "MultiOptimizer",
    "MultiOptimizerState",
    "current_learning_rate",
    "swap_ema_weights",
    "serialize",
    "deserialize",
    "get",
]

Schedule = Callable[[jax.Array], jax.Array]


class OptimizerState(NamedTuple):
    """State of a kerasx optimizer."""

    iterations: jax.Array  # i32[], number of updates applied so far (Keras `optimizer._iterations`)
    learning_rate: jax.Array  # f32[], the learning rate the next update uses
    slots: Any  # per-optimizer accumulators, each a pytree shaped like params
    ema: Any = None  # with use_ema: the moving average of the weights, shaped like params
    accumulators: Any = None  # with gradient_accumulation_steps: the summed gradients


def _tree_map(fn, *trees):
    return jax.tree_util.tree_map(fn, *trees)


def _zeros_like(params):
    return _tree_map(jnp.zeros_like, params)


def _is_masked(x):
    return isinstance(x, optax.MaskedNode)


def _key_name(key):
    for attr in ("key", "name", "idx"):
        if hasattr(key, attr):
            return str(getattr(key, attr))
    return str(key)


def _path_string(path):
    """A pytree path as Keras's variable path: `{"dense": {"kernel": w}}` -> "dense/kernel"."""
    return "/".join(_key_name(k) for k in path)


def _check_number(arg, value, low=None, high=None, low_open=False, high_open=False, allow_none=False):
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "-inf" if low is None else str(low)
        hi = "inf" if high is None else str(high)
        interval = ("(" if low_open or low is None else "[") + f"{lo}, {hi}" + (
            ")" if high_open or high is None else "]")
        raise ValueError(
            f"Received an invalid value for `{arg}`, expected a float in {interval}"
            + (" or None" if allow_none else "") + f". Received: {arg}={value!r}"
        )


def _check_unit_interval(arg, value):
    _check_number(arg, value, 0.0, 1.0)


_BASE_ARGS = ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum",
              "ema_overwrite_frequency", "loss_scale_factor", "gradient_accumulation_steps", "name")


def _base(local_vars):
    """The base-class keyword arguments among a subclass `__init__`'s `locals()`."""
    return {k: local_vars[k] for k in _BASE_ARGS if k in local_vars}


class Optimizer:
    """Base class: Keras's shared optimizer logic (learning rate, clipping, weight decay,
    EMA, gradient accumulation, loss scaling).

    Subclasses implement `_init_slots(params)` and
    `_step(grads, slots, lr, iterations, params) -> (updates, slots)`, where
    `updates` are what gets added to the weights, `iterations` is Keras's
    `optimizer.iterations` (updates applied, counting an accumulation cycle as
    one) and `params` the weights after weight decay (None when `update` was
    called without them).

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
        use_ema: If True, keep an exponential moving average of the weights
            (in the state's `ema`): `ema = ema_momentum * ema + (1 - ema_momentum) * w`
            after each step (`ema = w` after the first).
        ema_momentum: Float in [0, 1], the EMA momentum. Defaults to 0.99.
        ema_overwrite_frequency: Int >= 1 or None: with `use_ema`, the weights
            are overwritten by their moving average every this many iterations.
            With None, use `finalize_variable_values` or the `SwapEMAWeights`
            callback.
        loss_scale_factor: Float or None: gradients are divided by it (the loss
            is multiplied by it in `scale_loss`).
        gradient_accumulation_steps: Int >= 2 or None: the weights are updated
            every this many calls, with the average of the gradients since the
            last update. Schedules see every call (`state.iterations`);
            bias corrections and EMA see the number of real updates.
        name: The optimizer's name.
    """

    def __init__(
        self,
        learning_rate,
        weight_decay=None,
        clipnorm=None,
        clipvalue=None,
        global_clipnorm=None,
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        kwargs.pop("decay", None)  # Keras 2's argument, ignored by Keras 3 too
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        if callable(learning_rate):
            self._schedule = learning_rate
        elif isinstance(learning_rate, (int, float)) and not isinstance(learning_rate, bool):
            self._schedule = None
            learning_rate = float(learning_rate)
            _check_number("learning_rate", learning_rate, 0.0)
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
        if gradient_accumulation_steps and (
                not isinstance(gradient_accumulation_steps, int)
                or isinstance(gradient_accumulation_steps, bool) or gradient_accumulation_steps < 2):
            raise ValueError(
                "`gradient_accumulation_steps` must be an integer >= 2. "
                f"Received: gradient_accumulation_steps={gradient_accumulation_steps!r}"
            )
        if use_ema:
            if not isinstance(ema_momentum, (int, float)) or not 0 <= ema_momentum <= 1:
                raise ValueError("`ema_momentum` must be in the range [0, 1]. "
                                 f"Received: ema_momentum={ema_momentum!r}")
            if ema_overwrite_frequency and (
                    not isinstance(ema_overwrite_frequency, int) or ema_overwrite_frequency < 1):
                raise ValueError(
                    "`ema_overwrite_frequency` must be an integer >= 1 or None. "
                    f"Received: ema_overwrite_frequency={ema_overwrite_frequency!r}"
                )
        if loss_scale_factor is not None:
            _check_number("loss_scale_factor", loss_scale_factor, 0.0, low_open=True)
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = bool(use_ema)
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps or None
        self.name = name or type(self)._default_name
        self._exclude_from_weight_decay_pattern = None

    _default_name = "optimizer"

    # -- optax interface ---------------------------------------------------

    def init(self, params) -> OptimizerState:
        """Returns the initial state for `params` (a pytree of arrays)."""
        iterations = jnp.zeros((), jnp.int32)
        return OptimizerState(
            iterations=iterations,
            learning_rate=self._lr_at(iterations),
            slots=self._init_slots(params),
            ema=_zeros_like(params) if self.use_ema else None,
            accumulators=_zeros_like(params) if self.gradient_accumulation_steps else None,
        )

    # Set on the optimizers that `compile` owns (it decides on loss scaling: `auto_scale_loss`)
    # and on the one a LossScaleOptimizer wraps.
    _loss_scaling_decided = False

    def _check_loss_scaling(self):
        """Under the global "mixed_float16" policy, float16 gradients underflow to zero unless
        the loss is scaled: a custom loop must use a LossScaleOptimizer (`fit` adds one)."""
        if self._loss_scaling_decided or isinstance(self, LossScaleOptimizer):
            return
        if dtype_policies.dtype_policy().name == "mixed_float16":
            raise ValueError(
                f"The global dtype policy is 'mixed_float16', and optimizer "
                f"'{self.name}' ({type(self).__name__}) does not scale the loss: float16 "
                "gradients underflow to zero without it. In a custom training loop, wrap the "
                "optimizer: `optimizer = keras.optimizers.LossScaleOptimizer(optimizer)`, "
                "multiply the loss by `optimizer.scale_loss(loss, opt_state)` before taking "
                "gradients, and `optimizer.update` unscales them (`fit` does all this itself).")

    def _needs_params(self):
        return bool(self.weight_decay) or self.use_ema

    def update(self, updates, state: OptimizerState, params=None, **extra_args):
        """Returns `(updates, new_state)` for gradients `updates` (jit-safe).

        Args:
            updates: The gradients, a pytree like `params`.
            state: The current `OptimizerState`.
            params: The current weights; required with `weight_decay` or `use_ema`
                (and by Lamb, Ftrl, Adafactor, Muon and ScheduleFreeAdamW).
            **extra_args: Ignored (optax `GradientTransformationExtraArgs` protocol).

        Returns:
            The deltas to add to the weights (`optax.apply_updates`) and the new state.
        """
        self._check_loss_scaling()
        del extra_args
        if not isinstance(state, OptimizerState):
            raise ValueError(
                f"`{self.name}.update` expects the state returned by `{self.name}.init(params)`. "
                f"Received: state of type {type(state).__name__}"
            )
        if params is None and self._needs_params():
            raise ValueError(
                f"Optimizer `{self.name}` ({type(self).__name__}, weight_decay={self.weight_decay}, "
                f"use_ema={self.use_ema}) needs the current weights: call `update(grads, state, params)`."
            )
        grads = updates
        if self.loss_scale_factor is not None:
            scale = self.loss_scale_factor
            grads = _tree_map(lambda g: g / jnp.asarray(scale, jnp.asarray(g).dtype), grads)
        if params is not None:
            grads = _tree_map(lambda g, p: jnp.asarray(g).astype(jnp.asarray(p).dtype), grads, params)
        lr = state.learning_rate
        n = self.gradient_accumulation_steps
        iterations = state.iterations // n if n else state.iterations
        accumulators = state.accumulators
        if n:
            is_update = (state.iterations + 1) % n == 0
            summed = _tree_map(lambda g, a: g + a, grads, state.accumulators)
            grads = _tree_map(lambda s, g: jnp.where(is_update, s / n, g), summed, grads)
            accumulators = _tree_map(lambda s: jnp.where(is_update, jnp.zeros_like(s), s), summed)
        grads = self._clip(grads)
        decayed = None if params is None else self._decay(params, lr)
        deltas, slots = self._step(grads, state.slots, lr, iterations, decayed)
        if decayed is not None and decayed is not params:
            deltas = _tree_map(lambda d, q, p: (q - p) + d, deltas, decayed, params)
        if n:
            deltas = _tree_map(lambda d: jnp.where(is_update, d, jnp.zeros_like(d)), deltas)
            slots = _tree_map(lambda new, old: jnp.where(is_update, new, old), slots, state.slots)
        ema = state.ema
        if self.use_ema:
            momentum = jnp.where(iterations != 0, jnp.float32(self.ema_momentum), jnp.float32(0.0))

            def average(e, p, d):
                m = momentum.astype(e.dtype)
                return m * e + (1 - m) * (p + d)

            ema = _tree_map(average, state.ema, params, deltas)
            if self.ema_overwrite_frequency:
                overwrite = (iterations + 1) % self.ema_overwrite_frequency == 0
                deltas = _tree_map(lambda d, e, p: jnp.where(overwrite, e - p, d), deltas, ema, params)
        next_iterations = state.iterations + 1
        next_lr = self._lr_at(next_iterations) if self._schedule is not None else lr
        return deltas, OptimizerState(iterations=next_iterations, learning_rate=next_lr, slots=slots,
                                      ema=ema, accumulators=accumulators)

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

    def iterations_of(self, opt_state):
        """Keras's `optimizer.iterations` for `opt_state`: the updates applied, an accumulation
        cycle of `gradient_accumulation_steps` calls counting as one."""
        n = self.gradient_accumulation_steps
        its = _find_state(opt_state, OptimizerState).iterations
        return its // n if n else its

    # -- loss scaling and EMA ----------------------------------------------

    def scale_loss(self, loss, opt_state=None):
        """Returns `loss * loss_scale_factor` (the loss as is without one), as Keras's
        `optimizer.scale_loss`; a train step differentiates the scaled loss."""
        if self.loss_scale_factor is not None:
            return loss * self.loss_scale_factor
        return loss

    def finalize_variable_values(self, params, opt_state):
        """Returns the weights to keep at the end of training: with `use_ema`, the moving
        averages held in `opt_state` (Keras's `finalize_variable_values`); else `params`."""
        if not self.use_ema:
            return params
        return swap_ema_weights(params, opt_state)[0]

    # -- gradient clipping and weight decay --------------------------------

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
            if not leaves:
                return grads
            norm = jnp.sqrt(jnp.sum(jnp.stack([jnp.sum(jnp.square(g)) for g in leaves])))
            # Keras's form: a no-op for finite norms, NaN for inf/NaN norms.
            scale = c * jnp.minimum(1.0 / norm, 1.0 / c) + (norm - norm)
            return _tree_map(lambda g: g * scale.astype(g.dtype), grads)
        if self.clipvalue:
            v = self.clipvalue
            return _tree_map(lambda g: jnp.clip(g, -v, v), grads)
        return grads

    def exclude_from_weight_decay(self, var_list=None, var_names=None):
        """Excludes weights whose name (the last part of their path, e.g. "bias") matches
        one of the regular expressions `var_names` from weight decay (Keras's method).

        Args:
            var_list: Not supported (kerasx weights are arrays in a pytree); use `var_names`.
            var_names: A list of strings; a weight whose name contains any of them is not
                decayed.
        """
        if var_list:
            raise NotImplementedError(
                "`exclude_from_weight_decay(var_list=...)` is not supported by kerasx optimizers: "
                "pass `var_names=[...]` (matched against the weights' names, e.g. 'bias').")
        self._exclude_from_weight_decay_pattern = (
            re.compile("|".join(set(var_names))) if var_names else None)

    def _weight_decay_for(self, path, leaf):
        """The weight decay of one weight (None for none), given its path ("dense/kernel")."""
        pattern = self._exclude_from_weight_decay_pattern
        if pattern is not None and re.search(pattern, path.split("/")[-1]):
            return None
        return self.weight_decay

    def _decay(self, params, lr):
        """`params` after Keras's weight decay `w - w * wd * lr` (params itself when none)."""
        if not self.weight_decay and type(self)._weight_decay_for is Optimizer._weight_decay_for:
            return params
        def decay(path, p):
            if _is_masked(p):
                return p
            wd = self._weight_decay_for(_path_string(path), p)
            if not wd:
                return p
            return p - p * jnp.asarray(wd, p.dtype) * lr.astype(p.dtype)
        return jax.tree_util.tree_map_with_path(decay, params)

    # -- per-optimizer parts -----------------------------------------------

    def _init_slots(self, params):
        raise NotImplementedError

    def _step(self, grads, slots, lr, iterations, params):
        raise NotImplementedError

    # -- misc --------------------------------------------------------------

    def get_config(self):
        """Returns the constructor arguments as a dict (Keras's keys).

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
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
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

    # -- Keras 3's stateless API, for a training loop written by hand ---------

    def build(self, var_list):
        """Creates the optimizer's state for `var_list`, a flat list of variables (or arrays),
        as Keras's `optimizer.build(model.trainable_variables)`: then `variables` holds that
        state and `stateless_apply` updates values given in the order of `var_list`.

        Args:
            var_list: the variables to optimize (`model.trainable_variables`).
        """
        values = [jnp.asarray(getattr(v, "value", v)) for v in var_list]
        state = self.init(values)
        self._built = {"treedef": jax.tree.structure(state), "count": len(values),
                       "values": jax.tree.leaves(state)}

    @property
    def variables(self):
        """The optimizer's state after `build`, as a flat list of variables (`.value`,
        `.assign`, `.numpy()`); empty before `build`."""
        built = self.__dict__.get("_built")
        if built is None:
            return []
        return [_StateVariable(self, i) for i in range(len(built["values"]))]

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """One update without side effects, Keras 3's JAX API: `optimizer_variables` (values
        of `variables`, in that order), `grads` and `trainable_variables` (values, in the
        order given to `build`) in; returns `(trainable_variables, optimizer_variables)`.
        Jittable."""
        built = self.__dict__.get("_built")
        if built is None:
            raise ValueError(
                f"Optimizer '{self.name}' has no state yet: call "
                "`optimizer.build(model.trainable_variables)` before `stateless_apply`.")
        values = [getattr(v, "value", v) for v in trainable_variables]
        grads = list(grads)
        if not len(grads) == len(values) == built["count"]:
            raise ValueError(
                f"Optimizer '{self.name}' was built for {built['count']} variables; "
                f"`stateless_apply` received {len(grads)} gradients and {len(values)} "
                "trainable values.")
        optimizer_variables = [getattr(v, "value", v) for v in optimizer_variables]
        if len(optimizer_variables) != built["treedef"].num_leaves:
            raise ValueError(
                f"Optimizer '{self.name}' has {built['treedef'].num_leaves} variables; "
                f"`stateless_apply` received {len(optimizer_variables)} optimizer values.")
        state = jax.tree.unflatten(built["treedef"], optimizer_variables)
        updates, state = self.update(grads, state, values)
        return list(optax.apply_updates(values, updates)), jax.tree.leaves(state)

    def as_optax(self) -> optax.GradientTransformationExtraArgs:
        """Returns this optimizer as a plain `optax.GradientTransformationExtraArgs` tuple."""
        return optax.GradientTransformationExtraArgs(self.init, self.update)

    def __repr__(self):
        config = {**self.get_config(), "learning_rate": self.learning_rate}
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        return f"{type(self).__name__}({args})"


class _StateVariable:
    """One value of an optimizer's state after `build` (Keras's optimizer variable)."""

    def __init__(self, optimizer, index):
        self._optimizer, self._index = optimizer, index

    @property
    def value(self):
        return self._optimizer._built["values"][self._index]

    def assign(self, value):
        old = self.value
        self._optimizer._built["values"][self._index] = jnp.asarray(value, old.dtype).reshape(
            old.shape)

    def numpy(self):
        return np.asarray(self.value)

    shape = property(lambda self: self.value.shape)
    dtype = property(lambda self: self.value.dtype)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.value, dtype=dtype)

    def __repr__(self):
        return f"<{self._optimizer.name} variable {self._index}, shape={tuple(self.shape)}>"


def _find_state(opt_state, kind):
    for node in jax.tree_util.tree_leaves(opt_state, is_leaf=lambda x: isinstance(x, kind)):
        if isinstance(node, kind):
            return node
    raise ValueError(f"No `{kind.__name__}` found in the given optimizer state "
                     f"(of type {type(opt_state).__name__}).")


def swap_ema_weights(params, opt_state):
    """Swaps the weights and the EMA weights held in an optimizer state.

    Args:
        params: The weights pytree the optimizer updates.
        opt_state: A state holding `OptimizerState`s with EMA (optimizers with
            `use_ema=True`), possibly inside optax wrappers (freezing masks,
            `MultiOptimizer`): weights that no EMA covers are left as they are.

    Returns:
        `(params, opt_state)`: the EMA values as weights, and the state holding the
        former weights as its EMA.

    Raises:
        ValueError: if no optimizer in the state uses EMA, or the EMA does not have
            the structure of `params`.
    """
    found = []
    current = [params]

    def swap(node):
        if not (isinstance(node, OptimizerState) and node.ema is not None):
            return node
        found.append(node)
        old = current[0]
        try:
            current[0] = jax.tree_util.tree_map(
                lambda e, p: p if _is_masked(e) else jnp.asarray(e).astype(jnp.asarray(p).dtype),
                node.ema, old, is_leaf=_is_masked)
            new_ema = jax.tree_util.tree_map(
                lambda e, p: e if _is_masked(e) else jnp.asarray(p).astype(jnp.asarray(e).dtype),
                node.ema, old, is_leaf=_is_masked)
        except ValueError as e:
            raise ValueError("The optimizer's EMA weights do not have the structure of the given "
                             f"weights: {e}") from None
        return node._replace(ema=new_ema)

    new_state = jax.tree_util.tree_map(swap, opt_state, is_leaf=lambda x: isinstance(x, OptimizerState))
    if not found:
        raise ValueError("SwapEMAWeights / swap_ema_weights need an optimizer with `use_ema=True`; "
                         "the optimizer state holds no EMA weights.")
    return current[0], new_state


class SGD(Optimizer):
    """Gradient descent, optionally with (Nesterov) momentum.

    Keras formulas: `m = momentum * m - lr * g`; then `w += m`, or with Nesterov
    `w += momentum * m - lr * g`. Without momentum, `w -= lr * g`.

    Args:
        learning_rate: A float or schedule. Defaults to 0.01.
        momentum: Float in [0, 1]. Defaults to 0.
        nesterov: Whether to use Nesterov momentum.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
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
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        super().__init__(learning_rate, **_base(locals()), **kwargs)
        _check_unit_interval("momentum", momentum)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _init_slots(self, params):
        return {"momentum": _zeros_like(params)} if self.momentum != 0 else {}

    def _step(self, grads, slots, lr, iterations, params):
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


def _check_betas(**betas):
    for arg, value in betas.items():
        _check_unit_interval(arg, value)


class Adam(Optimizer):
    """Adam, with Keras's formulation.

    `m += (g - m) * (1 - beta_1)`, `v += (g**2 - v) * (1 - beta_2)`,
    `w -= m * alpha / (sqrt(v) + epsilon)` with
    `alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t)`, `t = iterations + 1`.
    With `amsgrad`, `v` is replaced by its running maximum in the step.

    Args:
        learning_rate: A float or schedule. Defaults to 0.001.
        beta_1: Decay rate of the first moment, in [0, 1]. Defaults to 0.9.
        beta_2: Decay rate of the second moment, in [0, 1]. Defaults to 0.999.
        epsilon: Added to `sqrt(v)`. Defaults to 1e-7.
        amsgrad: Whether to use the AMSGrad variant.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
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
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        super().__init__(learning_rate, **_base(locals()), **kwargs)
        _check_betas(beta_1=beta_1, beta_2=beta_2)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = bool(amsgrad)

    def _init_slots(self, params):
        slots = {"momentum": _zeros_like(params), "velocity": _zeros_like(params)}
        if self.amsgrad:
            slots["velocity_hat"] = _zeros_like(params)
        return slots

    def _step(self, grads, slots, lr, iterations, params):
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
        clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
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
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        if weight_decay is None:
            raise ValueError("Argument `weight_decay` must be a float. Received: weight_decay=None")
        super().__init__(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon,
                         amsgrad=amsgrad, **_base(locals()), **kwargs)


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
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
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
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        super().__init__(learning_rate, **_base(locals()), **kwargs)
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

    def _step(self, grads, slots, lr, iterations, params):
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
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
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
        use_ema=False,
        ema_momentum=0.99,
        ema_overwrite_frequency=None,
        loss_scale_factor=None,
        gradient_accumulation_steps=None,
        name=None,
        **kwargs,
    ):
        super().__init__(learning_rate, **_base(locals()), **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def _init_slots(self, params):
        init = self.initial_accumulator_value
        return {"accumulator": _tree_map(lambda p: jnp.full_like(p, init), params)}

    def _step(self, grads, slots, lr, iterations, params):
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


class Adamax(Optimizer):
    """Adamax, Adam's infinity-norm variant, with Keras's formulation.

    `m += (g - m) * (1 - beta_1)`, `u = max(beta_2 * u, |g|)`,
    `w -= lr * m / ((1 - beta_1**t) * (u + epsilon))`, `t = iterations + 1`.

    Args:
        learning_rate: A float or schedule. Defaults to 0.001.
        beta_1: Decay rate of the first moment, in [0, 1]. Defaults to 0.9.
        beta_2: Decay rate of the infinity norm, in [0, 1]. Defaults to 0.999.
        epsilon: Added to `u`. Defaults to 1e-7.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
    """

    _default_name = "adamax"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, **_base(locals()), **kwargs)
        _check_betas(beta_1=beta_1, beta_2=beta_2)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _init_slots(self, params):
        return {"momentum": _zeros_like(params), "norm": _zeros_like(params)}

    def _step(self, grads, slots, lr, iterations, params):
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        t = (iterations + 1).astype(jnp.float32)
        b1_power = jnp.power(jnp.float32(b1), t)
        m = _tree_map(lambda m, g: m + (g - m) * (1 - b1), slots["momentum"], grads)
        u = _tree_map(lambda u, g: jnp.maximum(b2 * u, jnp.abs(g)), slots["norm"], grads)
        deltas = _tree_map(
            lambda m, u: -((lr.astype(m.dtype) * m) / ((1 - b1_power.astype(m.dtype)) * (u + eps))), m, u)
        return deltas, {"momentum": m, "norm": u}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Nadam (Adam with Nesterov momentum), with Keras's momentum-decay schedule.

    `u_t = beta_1 * (1 - 0.5 * 0.96**t)`, `prod_t = prod_{t-1} * u_t`;
    `m += (g - m) * (1 - beta_1)`, `v += (g**2 - v) * (1 - beta_2)`;
    `m_hat = u_{t+1} * m / (1 - prod_t * u_{t+1}) + (1 - u_t) * g / (1 - prod_t)`,
    `w -= lr * m_hat / (sqrt(v / (1 - beta_2**t)) + epsilon)`, `t = iterations + 1`.

    Args:
        learning_rate: A float or schedule. Defaults to 0.001.
        beta_1: In [0, 1]. Defaults to 0.9.
        beta_2: In [0, 1]. Defaults to 0.999.
        epsilon: Defaults to 1e-7.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
    """

    _default_name = "nadam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, **_base(locals()), **kwargs)
        _check_betas(beta_1=beta_1, beta_2=beta_2)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _init_slots(self, params):
        leaves = jax.tree_util.tree_leaves(params)
        dtype = jnp.asarray(leaves[0]).dtype if leaves else jnp.float32
        return {"momentum": _zeros_like(params), "velocity": _zeros_like(params),
                "u_product": jnp.ones((), dtype)}

    def _step(self, grads, slots, lr, iterations, params):
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        u_product = slots["u_product"]
        t = (iterations + 1).astype(u_product.dtype)
        u_product = u_product * b1 * (1.0 - 0.5 * jnp.power(0.96, t))

        def new_m(m, g):
            return m + (g - m) * (1 - b1)

        def new_v(v, g):
            return v + (jnp.square(g) - v) * (1 - b2)

        m = _tree_map(new_m, slots["momentum"], grads)
        v = _tree_map(new_v, slots["velocity"], grads)

        def delta(m, v, g):
            dt = m.dtype
            local_step, next_step = t.astype(dt), t.astype(dt) + 1
            decay = jnp.asarray(0.96, dt)
            beta_1, beta_2 = jnp.asarray(b1, dt), jnp.asarray(b2, dt)
            u_t = beta_1 * (1.0 - 0.5 * jnp.power(decay, local_step))
            u_t_1 = beta_1 * (1.0 - 0.5 * jnp.power(decay, next_step))
            prod_t = u_product.astype(dt)
            prod_t_1 = prod_t * u_t_1
            m_hat = (u_t_1 * m) / (1 - prod_t_1) + ((1 - u_t) * g) / (1 - prod_t)
            v_hat = v / (1 - jnp.power(beta_2, local_step))
            return -((m_hat * lr.astype(dt)) / (jnp.sqrt(v_hat) + eps))

        deltas = _tree_map(delta, m, v, grads)
        return deltas, {"momentum": m, "velocity": v, "u_product": u_product}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Adadelta, with Keras's formulation.

    `a_g = rho * a_g + (1 - rho) * g**2`,
    `d = -sqrt(a_d + epsilon) * g / sqrt(a_g + epsilon)`,
    `a_d = rho * a_d + (1 - rho) * d**2`, `w += lr * d`.

    Args:
        learning_rate: A float or schedule. Defaults to 0.001.
        rho: Decay rate, in [0, 1]. Defaults to 0.95.
        epsilon: Defaults to 1e-7.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
    """

    _default_name = "adadelta"

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, **_base(locals()), **kwargs)
        _check_unit_interval("rho", rho)
        self.rho = rho
        self.epsilon = epsilon

    def _init_slots(self, params):
        return {"accumulated_grad": _zeros_like(params), "accumulated_delta_var": _zeros_like(params)}

    def _step(self, grads, slots, lr, iterations, params):
        rho, eps = self.rho, self.epsilon
        acc_g = _tree_map(lambda a, g: rho * a + (1 - rho) * jnp.square(g), slots["accumulated_grad"], grads)
        delta = _tree_map(lambda ad, g, ag: -((jnp.sqrt(ad + eps) * g) / jnp.sqrt(ag + eps)),
                          slots["accumulated_delta_var"], grads, acc_g)
        acc_d = _tree_map(lambda ad, d: rho * ad + (1 - rho) * jnp.square(d),
                          slots["accumulated_delta_var"], delta)
        deltas = _tree_map(lambda d: lr.astype(d.dtype) * d, delta)
        return deltas, {"accumulated_grad": acc_g, "accumulated_delta_var": acc_d}

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Lion(Optimizer):
    """Lion (evolved sign momentum), with Keras's formulation.

    `w -= lr * sign(beta_1 * m + (1 - beta_1) * g)`, then
    `m = beta_2 * m + (1 - beta_2) * g`.

    Args:
        learning_rate: A float or schedule. Defaults to 0.001.
        beta_1: In (0, 1]. Defaults to 0.9.
        beta_2: In [0, 1]. Defaults to 0.99.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
    """

    _default_name = "lion"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, **_base(locals()), **kwargs)
        if not isinstance(beta_1, (int, float)) or beta_1 <= 0 or beta_1 > 1:
            raise ValueError("Argument `beta_1` must be in the [0, 1] range. Otherwise, the "
                             f"optimizer degenerates to SignSGD. Received: beta_1={beta_1!r}.")
        _check_unit_interval("beta_2", beta_2)
        self.beta_1 = beta_1
        self.beta_2 = beta_2

    def _init_slots(self, params):
        return {"momentum": _zeros_like(params)}

    def _step(self, grads, slots, lr, iterations, params):
        b1, b2 = self.beta_1, self.beta_2

        def delta(m, g):
            dt = g.dtype
            return -(lr.astype(dt) * jnp.sign(m * jnp.asarray(b1, dt) + g * (1.0 - jnp.asarray(b1, dt))))

        deltas = _tree_map(delta, slots["momentum"], grads)
        m = _tree_map(lambda m, g: m * jnp.asarray(b2, g.dtype) + g * (1.0 - jnp.asarray(b2, g.dtype)),
                      slots["momentum"], grads)
        return deltas, {"momentum": m}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Lamb(Optimizer):
    """LAMB (layer-wise adaptive Adam), with Keras's formulation.

    Adam's `m` and `v`, `r = (m / (1 - beta_1**t)) / (sqrt(v / (1 - beta_2**t)) + epsilon)`,
    and `w -= lr * trust * r` with `trust = ||w|| / ||r||` (1 when either norm is 0).

    Args:
        learning_rate: A float or schedule. Defaults to 0.001.
        beta_1: In [0, 1]. Defaults to 0.9.
        beta_2: In [0, 1]. Defaults to 0.999.
        epsilon: Defaults to 1e-7.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
    """

    _default_name = "lamb"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, **_base(locals()), **kwargs)
        _check_betas(beta_1=beta_1, beta_2=beta_2)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon

    def _needs_params(self):
        return True

    def _init_slots(self, params):
        return {"momentum": _zeros_like(params), "velocity": _zeros_like(params)}

    def _step(self, grads, slots, lr, iterations, params):
        b1, b2, eps = self.beta_1, self.beta_2, self.epsilon
        t = (iterations + 1).astype(jnp.float32)
        m = _tree_map(lambda m, g: m + (g - m) * (1 - b1), slots["momentum"], grads)
        v = _tree_map(lambda v, g: v + (jnp.square(g) - v) * (1 - b2), slots["velocity"], grads)

        def delta(m, v, w):
            dt = w.dtype
            b1_power = jnp.power(jnp.asarray(b1, dt), t.astype(dt))
            b2_power = jnp.power(jnp.asarray(b2, dt), t.astype(dt))
            update = (m / (1.0 - b1_power)) / (jnp.sqrt(v / (1.0 - b2_power)) + eps)
            w_norm = jnp.sqrt(jnp.sum(jnp.square(w)))
            g_norm = jnp.sqrt(jnp.sum(jnp.square(update)))
            safe = jnp.where(g_norm > 0, g_norm, 1.0)
            ratio = jnp.where(w_norm > 0, jnp.where(g_norm > 0, w_norm / safe, 1.0), 1.0)
            return -(ratio * lr.astype(dt) * update)

        return _tree_map(delta, m, v, params), {"momentum": m, "velocity": v}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}


class Ftrl(Optimizer):
    """FTRL-proximal, with Keras's formulation (and its L2-shrinkage and `beta`).

    `n' = n + g**2`; `z += g + 2 * l2_shrinkage * w - (n'**-p - n**-p) / lr * w`
    (`p = learning_rate_power`); `w = (clip(z, -l1, l1) - z) / (n'**-p / lr + 2 * l2')`
    with `l2' = l2 + beta / (2 * lr)`; `n = n'`.

    Args:
        learning_rate: A float or schedule. Defaults to 0.001.
        learning_rate_power: <= 0. Defaults to -0.5.
        initial_accumulator_value: >= 0, the starting `n`. Defaults to 0.1.
        l1_regularization_strength: >= 0. Defaults to 0.
        l2_regularization_strength: >= 0. Defaults to 0.
        l2_shrinkage_regularization_strength: >= 0. Defaults to 0.
        beta: Defaults to 0.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
    """

    _default_name = "ftrl"

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, **_base(locals()), **kwargs)
        if initial_accumulator_value < 0.0:
            raise ValueError("`initial_accumulator_value` needs to be positive or zero. Received: "
                             f"initial_accumulator_value={initial_accumulator_value}.")
        if learning_rate_power > 0.0:
            raise ValueError("`learning_rate_power` needs to be negative or zero. Received: "
                             f"learning_rate_power={learning_rate_power}.")
        for arg, value in [("l1_regularization_strength", l1_regularization_strength),
                           ("l2_regularization_strength", l2_regularization_strength),
                           ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength)]:
            if value < 0.0:
                raise ValueError(f"`{arg}` needs to be positive or zero. Received: {arg}={value}.")
        self.learning_rate_power = learning_rate_power
        self.initial_accumulator_value = initial_accumulator_value
        self.l1_regularization_strength = l1_regularization_strength
        self.l2_regularization_strength = l2_regularization_strength
        self.l2_shrinkage_regularization_strength = l2_shrinkage_regularization_strength
        self.beta = beta

    def _needs_params(self):
        return True

    def _init_slots(self, params):
        init = self.initial_accumulator_value
        return {"accumulator": _tree_map(lambda p: jnp.full_like(p, init), params),
                "linear": _zeros_like(params)}

    def _step(self, grads, slots, lr, iterations, params):
        p = self.learning_rate_power
        l1 = self.l1_regularization_strength
        shrink = self.l2_shrinkage_regularization_strength
        new_accum = _tree_map(lambda a, g: a + jnp.square(g), slots["accumulator"], grads)

        def new_linear(z, g, w, a, na):
            lr_ = lr.astype(w.dtype)
            grad_to_use = g + 2 * shrink * w
            return z + (grad_to_use - ((jnp.power(na, -p) - jnp.power(a, -p)) / lr_) * w)

        linear = _tree_map(new_linear, slots["linear"], grads, params, slots["accumulator"], new_accum)

        def delta(z, na, w):
            lr_ = lr.astype(w.dtype)
            l2 = self.l2_regularization_strength + self.beta / (2.0 * lr_)
            quadratic = jnp.power(na, -p) / lr_ + 2 * l2
            return (jnp.clip(z, -l1, l1) - z) / quadratic - w

        deltas = _tree_map(delta, linear, new_accum, params)
        return deltas, {"accumulator": new_accum, "linear": linear}

    def get_config(self):
        return {
            **super().get_config(),
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            "l1_regularization_strength": self.l1_regularization_strength,
            "l2_regularization_strength": self.l2_regularization_strength,
            "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
            "beta": self.beta,
        }


class Adafactor(Optimizer):
    """Adafactor, with Keras's formulation (factored second moments for weights of rank >= 2).

    With `t = iterations + 1`, `rho = min(lr, 1 / sqrt(t))`,
    `alpha = max(epsilon_2, rms(w)) * rho`, `b = 1 - t**beta_2_decay`: a weight of
    rank >= 2 keeps row and column averages `r`, `c` of `g**2 + epsilon_1` and uses
    `v = (r / mean(r))[..., None] * c[..., None, :]`; others keep `v` itself. Then
    `u = g / sqrt(v)`, `w -= alpha * u / max(1, rms(u) / clip_threshold)`.

    Args:
        learning_rate: A float or schedule. Defaults to 0.001.
        beta_2_decay: Defaults to -0.8.
        epsilon_1: Defaults to 1e-30.
        epsilon_2: Defaults to 1e-3.
        clip_threshold: Defaults to 1.0.
        relative_step: Whether the learning rate is capped by `1 / sqrt(t)`
            (Keras always caps the step size this way). Defaults to True.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
    """

    _default_name = "adafactor"

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3,
                 clip_threshold=1.0, relative_step=True,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, **_base(locals()), **kwargs)
        _check_number("clip_threshold", clip_threshold, 0.0, low_open=True)
        self.beta_2_decay = beta_2_decay
        self.epsilon_1 = epsilon_1
        self.epsilon_2 = epsilon_2
        self.clip_threshold = clip_threshold
        self.relative_step = relative_step

    def _needs_params(self):
        return True

    def _init_slots(self, params):
        def r(p):
            p = jnp.asarray(p)
            return jnp.zeros(p.shape[:-1], p.dtype) if p.ndim >= 2 else jnp.zeros((), p.dtype)

        def c(p):
            p = jnp.asarray(p)
            return jnp.zeros(p.shape[:-2] + p.shape[-1:], p.dtype) if p.ndim >= 2 else jnp.zeros((), p.dtype)

        return {"r": _tree_map(r, params), "c": _tree_map(c, params), "velocity": _zeros_like(params)}

    def _step(self, grads, slots, lr, iterations, params):
        t = (iterations + 1).astype(jnp.float32)

        def rms(x):
            return jnp.sqrt(jnp.mean(jnp.square(x)))

        def one(g, w, r, c, v):
            dt = w.dtype
            local_step = t.astype(dt)
            rho_t = jnp.minimum(lr.astype(dt), 1 / jnp.sqrt(local_step))
            alpha_t = jnp.maximum(jnp.asarray(self.epsilon_2, dt), rms(w)) * rho_t
            g2 = jnp.square(g) + self.epsilon_1
            beta_2_t = 1 - jnp.power(local_step, self.beta_2_decay)
            if w.ndim >= 2:
                r = beta_2_t * r + (1 - beta_2_t) * jnp.mean(g2, axis=-1)
                c = beta_2_t * c + (1 - beta_2_t) * jnp.mean(g2, axis=-2)
                v = jnp.expand_dims(r / jnp.mean(r, axis=-1, keepdims=True), -1) * jnp.expand_dims(c, -2)
            else:
                v = beta_2_t * v + (1 - beta_2_t) * g2
            u_t = g / jnp.sqrt(v)
            u_hat = u_t / jnp.maximum(jnp.asarray(1.0, dt), rms(u_t) / self.clip_threshold)
            return -(alpha_t * u_hat), r, c, v

        out = _tree_map(one, grads, params, slots["r"], slots["c"], slots["velocity"])
        treedef = jax.tree_util.tree_structure(grads)
        parts = [jax.tree_util.tree_unflatten(treedef, [leaf[i] for leaf in treedef.flatten_up_to(out)])
                 for i in range(4)]
        return parts[0], {"r": parts[1], "c": parts[2], "velocity": parts[3]}

    def get_config(self):
        return {
            **super().get_config(),
            "beta_2_decay": self.beta_2_decay,
            "epsilon_1": self.epsilon_1,
            "epsilon_2": self.epsilon_2,
            "clip_threshold": self.clip_threshold,
            "relative_step": self.relative_step,
        }


class Muon(Optimizer):
    """Muon (momentum orthogonalised by Newton-Schulz) for 2-D weights, AdamW for the rest.

    Keras's formulation: a 2-D weight that is not an embedding (with
    `exclude_embeddings`) and matches none of `exclude_layers` (regular
    expressions searched in its path, e.g. "dense/kernel") takes
    `m = momentum * m + g`, `u = NS5(g + momentum * m)` (Nesterov) or `NS5(m)`,
    `w -= lr * u * sqrt(max(rows, cols)) * rms_rate` and decays with
    `weight_decay`; every other weight takes a Keras Adam step with
    `lr * adam_lr_ratio` and decays with `adam_weight_decay`.

    Args:
        learning_rate: A float or schedule. Defaults to 0.001.
        adam_beta_1, adam_beta_2: The AdamW betas. Defaults to 0.9, 0.999.
        adam_weight_decay: Weight decay of the AdamW weights. Defaults to 0.004.
        epsilon: AdamW epsilon. Defaults to 1e-7.
        weight_decay: Weight decay of the Muon weights. Defaults to 0.004.
        exclude_layers: List of regular expressions; matching weights use AdamW.
        exclude_embeddings: Whether weights with "embedding" in their path use AdamW.
        muon_a, muon_b, muon_c: Newton-Schulz coefficients.
        adam_lr_ratio: AdamW learning-rate multiplier. Defaults to 1.
        momentum: Muon momentum. Defaults to 0.95.
        ns_steps: Newton-Schulz iterations. Defaults to 5.
        nesterov: Whether to use Nesterov momentum. Defaults to True.
        rms_rate: Update scale (None: no scaling). Defaults to 0.2.
        clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
    """

    _default_name = "muon"

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999,
                 adam_weight_decay=0.004, epsilon=1e-7, weight_decay=0.004, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, exclude_layers=None,
                 exclude_embeddings=True, muon_a=3.4445, muon_b=-4.7750, muon_c=2.0315,
                 adam_lr_ratio=1, momentum=0.95, ns_steps=5, nesterov=True, rms_rate=0.2,
                 **kwargs):
        super().__init__(learning_rate, **_base(locals()), **kwargs)
        _check_betas(adam_beta_1=adam_beta_1, adam_beta_2=adam_beta_2, momentum=momentum)
        if adam_weight_decay is not None:
            _check_number("adam_weight_decay", adam_weight_decay, 0.0)
        if not isinstance(ns_steps, int) or ns_steps < 0:
            raise ValueError(f"Received an invalid value for `ns_steps`, expected an integer >= 0. "
                             f"Received: ns_steps={ns_steps!r}")
        self.adam_beta_1 = adam_beta_1
        self.adam_beta_2 = adam_beta_2
        self.epsilon = epsilon
        self.muon_a = muon_a
        self.muon_b = muon_b
        self.muon_c = muon_c
        self.adam_lr_ratio = adam_lr_ratio
        self.momentum = momentum
        self.ns_steps = ns_steps
        self.nesterov = nesterov
        self.exclude_embeddings = exclude_embeddings
        self.exclude_layers = list(exclude_layers or [])
        self.adam_weight_decay = adam_weight_decay
        self.rms_rate = rms_rate

    def _needs_params(self):
        return True

    def _should_use_adamw(self, path, shape):
        if len(shape) != 2:
            return True
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(keyword, path) for keyword in self.exclude_layers)

    def _weight_decay_for(self, path, leaf):
        pattern = self._exclude_from_weight_decay_pattern
        if pattern is not None and re.search(pattern, path.split("/")[-1]):
            return None
        return self.adam_weight_decay if self._should_use_adamw(path, jnp.shape(leaf)) else self.weight_decay

    def _init_slots(self, params):
        def velocity(path, p):
            if self._should_use_adamw(_path_string(path), jnp.shape(p)):
                return jnp.zeros_like(p)
            return jnp.zeros((0,), jnp.asarray(p).dtype)  # no AdamW velocity for a Muon weight
        return {"momentum": _zeros_like(params),
                "velocity": jax.tree_util.tree_map_with_path(velocity, params)}

    def _newton_schulz(self, x):
        a, b, c = self.muon_a, self.muon_b, self.muon_c
        transposed = x.shape[-2] > x.shape[-1]
        if transposed:
            x = jnp.swapaxes(x, -1, -2)
        x = x / (jnp.linalg.norm(x, axis=(-2, -1), keepdims=True) + 1e-7)
        for _ in range(self.ns_steps):
            temp_a = x @ jnp.swapaxes(x, -1, -2)
            temp_b = b * temp_a + c * temp_a @ temp_a
            x = a * x + temp_b @ x
        return jnp.swapaxes(x, -1, -2) if transposed else x

    def _step(self, grads, slots, lr, iterations, params):
        t = (iterations + 1).astype(jnp.float32)
        b1, b2, eps, mom = self.adam_beta_1, self.adam_beta_2, self.epsilon, self.momentum

        def one(path, g, m, v):
            if self._should_use_adamw(_path_string(path), g.shape):
                dt = g.dtype
                lr_ = (lr * self.adam_lr_ratio).astype(dt)
                b1_power = jnp.power(jnp.asarray(b1, dt), t.astype(dt))
                b2_power = jnp.power(jnp.asarray(b2, dt), t.astype(dt))
                alpha = lr_ * jnp.sqrt(1 - b2_power) / (1 - b1_power)
                m = m + (g - m) * (1 - b1)
                v = v + (jnp.square(g) - v) * (1 - b2)
                return -((m * alpha) / (jnp.sqrt(v) + eps)), m, v
            m = m + (g + m * (mom - 1))
            update = self._newton_schulz(g + mom * m if self.nesterov else m)
            step = lr * update
            if self.rms_rate is not None:
                step = step * jnp.sqrt(jnp.float32(max(g.shape[0], g.shape[1]))) * self.rms_rate
            return -step.astype(g.dtype), m, v

        out = jax.tree_util.tree_map_with_path(one, grads, slots["momentum"], slots["velocity"])
        treedef = jax.tree_util.tree_structure(grads)
        parts = [jax.tree_util.tree_unflatten(treedef, [leaf[i] for leaf in treedef.flatten_up_to(out)])
                 for i in range(3)]
        return parts[0], {"momentum": parts[1], "velocity": parts[2]}

    def get_config(self):
        return {
            **super().get_config(),
            "adam_beta_1": self.adam_beta_1,
            "adam_beta_2": self.adam_beta_2,
            "epsilon": self.epsilon,
            "exclude_layers": self.exclude_layers,
            "muon_a": self.muon_a,
            "muon_b": self.muon_b,
            "muon_c": self.muon_c,
            "adam_lr_ratio": self.adam_lr_ratio,
            "momentum": self.momentum,
            "ns_steps": self.ns_steps,
            "nesterov": self.nesterov,
            "exclude_embeddings": self.exclude_embeddings,
            "adam_weight_decay": self.adam_weight_decay,
            "rms_rate": self.rms_rate,
        }


class ScheduleFreeAdamW(Optimizer):
    """Schedule-Free AdamW (Defazio et al., 2024), with Keras's formulation.

    The slot `momentum` (`z`, starting at the weights) takes Adam-normalised
    steps, `z -= lr_t * g / (sqrt(v / (1 - beta_2**t)) + epsilon)` with
    `lr_t = lr * min(t / warmup_steps, 1)`; the average `x` is recovered from the
    weights `y = (1 - beta_1) * z + beta_1 * x`, updated as
    `x = (1 - 1/t) * x + z / t`, and the weights become the new `y`.

    Args:
        learning_rate: A float or schedule. Defaults to 0.0025.
        beta_1: Interpolation between `z` and `x`, in (0, 1]. Defaults to 0.9.
        beta_2: In [0, 1]. Defaults to 0.999.
        epsilon: Defaults to 1e-8.
        warmup_steps: Linear warm-up length (0: none). Defaults to 0.
        weight_decay, clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
            ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, name:
            See `Optimizer`.
    """

    _default_name = "schedule_free_adam_w"

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        super().__init__(learning_rate, **_base(locals()), **kwargs)
        _check_number("beta_1", beta_1, 0.0, 1.0, low_open=True)
        _check_unit_interval("beta_2", beta_2)
        if not isinstance(warmup_steps, int) or isinstance(warmup_steps, bool) or warmup_steps < 0:
            raise ValueError("Received an invalid value for `warmup_steps`, expected an integer >= 0. "
                             f"Received: warmup_steps={warmup_steps!r}")
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.warmup_steps = warmup_steps

    def _needs_params(self):
        return True

    def _init_slots(self, params):
        return {"momentum": _tree_map(lambda p: jnp.array(p, copy=True), params),
                "velocity": _zeros_like(params)}

    def _step(self, grads, slots, lr, iterations, params):
        t = (iterations + 1).astype(jnp.float32)

        def one(g, w, z, v):
            dt = w.dtype
            local_step = t.astype(dt)
            b1, b2, eps = (jnp.asarray(x, dt) for x in (self.beta_1, self.beta_2, self.epsilon))
            lr_ = lr.astype(dt)
            if self.warmup_steps > 0:
                lr_ = lr_ * jnp.minimum(local_step / jnp.asarray(self.warmup_steps, dt), 1.0)
            bias_correction_2 = 1 - jnp.power(b2, local_step)
            v = v + (jnp.square(g) - v) * (1 - b2)
            denom = jnp.sqrt(v / bias_correction_2) + eps
            z_new = z - (lr_ * g) / denom
            weight = 1.0 / local_step
            x_old = (w - (1 - b1) * z) / b1
            x_new = (1 - weight) * x_old + weight * z_new
            y_new = (1 - b1) * z_new + b1 * x_new
            return y_new - w, z_new, v

        out = _tree_map(one, grads, params, slots["momentum"], slots["velocity"])
        treedef = jax.tree_util.tree_structure(grads)
        parts = [jax.tree_util.tree_unflatten(treedef, [leaf[i] for leaf in treedef.flatten_up_to(out)])
                 for i in range(3)]
        return parts[0], {"momentum": parts[1], "velocity": parts[2]}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "warmup_steps": self.warmup_steps}


class LossScaleState(NamedTuple):
    """State of a `LossScaleOptimizer`."""

    step_counter: jax.Array  # i32[], finite steps since the scale last changed
    dynamic_scale: jax.Array  # f32[], the current loss scale
    inner: Any  # the inner optimizer's state


class LossScaleOptimizer(Optimizer):
    """Dynamic loss scaling around another optimizer (Keras's `LossScaleOptimizer`).

    The train step multiplies the loss by the current scale (`scale_loss(loss,
    opt_state)`); `update` divides the gradients by it. When a gradient is not
    finite, the step is skipped (no weight and no inner state changes) and the
    scale is halved; after `dynamic_growth_steps` finite steps in a row it is
    doubled. The scale and the counter live in the state (`LossScaleState`).

    Args:
        inner_optimizer: The kerasx `Optimizer` to wrap (its `loss_scale_factor`
            is set to None).
        initial_scale: The first loss scale. Defaults to 2**15.
        dynamic_growth_steps: Finite steps after which the scale doubles. Defaults to 2000.
        name: The optimizer's name.
    """

    _default_name = "loss_scale_optimizer"

    def __init__(self, inner_optimizer, initial_scale=2.0**15, dynamic_growth_steps=2000, name=None,
                 **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer no longer supports `dynamic=False`. Instead, simply "
                             "set `loss_scale_factor` directly on the `inner_optimizer`.")
        defaults = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                    "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                    "loss_scale_factor": None, "gradient_accumulation_steps": None}
        for arg, default in defaults.items():
            if arg in kwargs and kwargs.pop(arg) != default:
                raise ValueError(f"LossScaleOptimizer does not support `{arg}`. Instead, set "
                                 f"`{arg}` on the `inner_optimizer`.")
        if kwargs:
            raise ValueError(f"LossScaleOptimizer does not support arguments: `{'`, `'.join(kwargs)}`.")
        if not isinstance(inner_optimizer, Optimizer) or isinstance(inner_optimizer, LossScaleOptimizer):
            raise ValueError("Argument `inner_optimizer` must be a kerasx Optimizer (not a "
                             f"LossScaleOptimizer). Received: inner_optimizer={inner_optimizer!r}")
        _check_number("initial_scale", initial_scale, 0.0, low_open=True)
        if not isinstance(dynamic_growth_steps, int) or isinstance(dynamic_growth_steps, bool) \
                or dynamic_growth_steps < 1:
            raise ValueError("Received an invalid value for `dynamic_growth_steps`, expected an "
                             f"integer >= 1. Received: dynamic_growth_steps={dynamic_growth_steps!r}")
        super().__init__(0.0, name=name)
        self.inner_optimizer = inner_optimizer
        self.initial_scale = initial_scale
        self.dynamic_growth_steps = dynamic_growth_steps
        self.inner_optimizer.loss_scale_factor = None
        self.inner_optimizer._loss_scaling_decided = True

    @property
    def learning_rate(self):
        """The inner optimizer's learning rate (as in Keras)."""
        inner = self.__dict__.get("inner_optimizer")
        return 0.0 if inner is None else inner.learning_rate

    @learning_rate.setter
    def learning_rate(self, value):
        inner = self.__dict__.get("inner_optimizer")
        if inner is not None:
            inner.learning_rate = value

    @property
    def _schedule(self):  # the trainer asks whether the learning rate is settable
        return getattr(self.inner_optimizer, "_schedule", None)

    @_schedule.setter
    def _schedule(self, value):
        pass

    def init(self, params) -> LossScaleState:
        """Returns the initial state for `params`."""
        return LossScaleState(step_counter=jnp.zeros((), jnp.int32),
                              dynamic_scale=jnp.asarray(self.initial_scale, jnp.float32),
                              inner=self.inner_optimizer.init(params))

    def update(self, updates, state, params=None, **extra_args):
        """Returns `(updates, new_state)`: the inner optimizer's step on the unscaled gradients,
        or zero updates and the unchanged inner state when a gradient is not finite."""
        del extra_args
        if not isinstance(state, LossScaleState):
            raise ValueError(f"`{self.name}.update` expects the state returned by `{self.name}.init"
                             f"(params)`. Received: state of type {type(state).__name__}")
        leaves = jax.tree_util.tree_leaves(updates)
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in leaves])) if leaves else jnp.array(True)
        scale = state.dynamic_scale
        unscaled = _tree_map(lambda g: g / scale.astype(jnp.asarray(g).dtype), updates)
        deltas, inner = self.inner_optimizer.update(unscaled, state.inner, params)
        deltas = _tree_map(lambda d: jnp.where(finite, d, jnp.zeros_like(d)), deltas)
        inner = _tree_map(lambda new, old: jnp.where(finite, new, old), inner, state.inner)
        grow = state.step_counter == self.dynamic_growth_steps - 1
        counter = jnp.where(finite & ~grow, state.step_counter + 1, 0).astype(jnp.int32)
        new_scale = jnp.where(finite, jnp.where(grow, scale * 2.0, scale), scale * 0.5)
        return deltas, LossScaleState(step_counter=counter, dynamic_scale=new_scale, inner=inner)

    def scale_loss(self, loss, opt_state=None):
        """Returns `loss` times the current loss scale (read from `opt_state`; the initial
        scale without one)."""
        if opt_state is None:
            return loss * self.initial_scale
        scale = _find_state(opt_state, LossScaleState).dynamic_scale
        return loss * scale.astype(jnp.asarray(loss).dtype)

    def iterations_of(self, opt_state):
        return self.inner_optimizer.iterations_of(opt_state)

    def set_learning_rate(self, opt_state, learning_rate):
        inner = self.inner_optimizer.set_learning_rate(opt_state.inner, learning_rate)
        return opt_state._replace(inner=inner)

    def finalize_variable_values(self, params, opt_state):
        return self.inner_optimizer.finalize_variable_values(params, opt_state)

    @property
    def use_ema(self):
        return getattr(self.inner_optimizer, "use_ema", False)

    @use_ema.setter
    def use_ema(self, value):
        pass

    def get_config(self):
        return {"name": self.name, "inner_optimizer": serialize(self.inner_optimizer),
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = deserialize(config.pop("inner_optimizer"), custom_objects=custom_objects)
        return cls(inner, **config)

    def __repr__(self):
        return (f"LossScaleOptimizer(inner_optimizer={self.inner_optimizer!r}, initial_scale="
                f"{self.initial_scale!r}, dynamic_growth_steps={self.dynamic_growth_steps!r}, "
                f"name={self.name!r})")


class _VariableInfo(NamedTuple):
    """What an optimizer selector is given for a weight: Keras-style `path` ("dense/kernel"),
    `name` ("kernel"), `shape` and `dtype`."""

    path: str
    name: str
    shape: tuple
    dtype: Any


class OptimizerMap(MutableMapping):
    """Maps weight paths ("encoder/dense/kernel") to optimizers, for `MultiOptimizer`.

    A key matches a path exactly, or else as a regular expression (`re.fullmatch`):
    `"encoder/.*"` covers everything under the layer `encoder`. Unmatched paths get
    `default_optimizer`.

    Args:
        default_optimizer: The kerasx `Optimizer` for unmatched weights.
        optimizer_map: Optional `{path or pattern: Optimizer}`.
    """

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError("default_optimizer must be a kerasx Optimizer instance. "
                            f"Received: {default_optimizer}")
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"optimizer_map must be a dictionary. Received: {optimizer_map}")
        self._default_optimizer = default_optimizer
        self._optimizer_map = {}
        for key, optimizer in (optimizer_map or {}).items():
            self[key] = optimizer

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def __getitem__(self, key):
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matching = [pattern for pattern in self._optimizer_map if re.fullmatch(pattern, key)]
        if len(matching) > 1:
            raise ValueError(f"Multiple optimizers assigned to variable {key}: patterns {matching}.")
        if matching:
            return self._optimizer_map[matching[0]]
        return self._default_optimizer

    def __setitem__(self, key, optimizer):
        if key in self._optimizer_map:
            raise ValueError(f"'{key}' already exists in the OptimizerMap with value "
                             f"{self._optimizer_map[key]}. Please make sure to not use duplicated keys.")
        if not isinstance(key, str):
            raise ValueError(f"key must be a string. Received: {key}")
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"optimizer must be a kerasx Optimizer instance. Received: {optimizer}")
        if isinstance(optimizer, LossScaleOptimizer):
            raise ValueError("optimizer cannot be LossScaleOptimizer.")
        if isinstance(optimizer, MultiOptimizer):
            raise ValueError("optimizer cannot be MultiOptimizer.")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key):
        del self._optimizer_map[key]

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable):
        return self[variable.path]

    def get_config(self):
        return {"default_optimizer": serialize(self._default_optimizer),
                "optimizer_map": {k: serialize(v) for k, v in self._optimizer_map.items()}}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        default = deserialize(config["default_optimizer"], custom_objects=custom_objects)
        mapping = config.get("optimizer_map") or {}
        if isinstance(mapping, dict) and "config" in mapping and "class_name" in mapping:
            mapping = mapping["config"]  # Keras serializes the plain dict as {"class_name": "__dict__", ...}
        return cls(default, {k: deserialize(v, custom_objects=custom_objects) for k, v in mapping.items()})


class MultiOptimizerState(NamedTuple):
    """State of a `MultiOptimizer`."""

    iterations: jax.Array  # i32[], updates applied
    inner: Any  # optax multi_transform state: one (masked) state per inner optimizer


class MultiOptimizer(Optimizer):
    """Different optimizers for different weights (Keras's `MultiOptimizer`).

    Each weight goes to the optimizer that `optimizer_map` picks for it: an
    `OptimizerMap` (paths and patterns to optimizers), or a callable given a
    record with the weight's Keras-style `path` ("dense/kernel"), `name`,
    `shape` and `dtype`, returning a kerasx `Optimizer`. Each inner optimizer
    updates its own weights with its own state, as if alone.

    The learning rate seen through `model.optimizer.learning_rate` is the first
    inner optimizer's; setting it sets all of them.

    Args:
        optimizer_map: An `OptimizerMap` or a callable as above.
        loss_scale_factor: If set, overrides the inner optimizers' `loss_scale_factor`.
        name: The optimizer's name.
    """

    _default_name = "multi_optimizer"

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        if not callable(optimizer_map):
            raise ValueError("Argument `optimizer_map` must be an OptimizerMap or a callable "
                             f"returning an optimizer for a weight. Received: {optimizer_map!r}")
        super().__init__(0.0, loss_scale_factor=loss_scale_factor, name=name)
        self._optimizer_map = optimizer_map
        self._inner_optimizers = []
        if hasattr(optimizer_map, "values"):
            for opt in optimizer_map.values():
                self._add_inner(opt)
        default = getattr(optimizer_map, "default_optimizer", None)
        if default is not None:
            self._add_inner(default)

    def _add_inner(self, opt):
        if not isinstance(opt, Optimizer):
            raise ValueError(f"Optimizer for a weight is not a kerasx Optimizer instance: {opt!r}")
        if isinstance(opt, LossScaleOptimizer):
            raise ValueError("LossScaleOptimizer cannot be used inside an MultiOptimizer.")
        if isinstance(opt, MultiOptimizer):
            raise ValueError("MultiOptimizer cannot be used inside an MultiOptimizer.")
        if not any(opt is o for o in self._inner_optimizers):
            if self.loss_scale_factor is not None:
                opt.loss_scale_factor = self.loss_scale_factor
            self._inner_optimizers.append(opt)
        return next(i for i, o in enumerate(self._inner_optimizers) if o is opt)

    @property
    def learning_rate(self):
        raise AttributeError(
            "Learning rate cannot be accessed on a MultiOptimizer. Access the learning rate on the "
            "individual sub-optimizers instead (`optimizer.optimizers`).")

    @learning_rate.setter
    def learning_rate(self, value):
        if "_inner_optimizers" in self.__dict__:
            raise AttributeError(
                "Learning rate cannot be set on a MultiOptimizer. Set the learning rate on the "
                "individual sub-optimizers instead.")

    @property
    def optimizers(self):
        """The inner optimizers."""
        return list(self._inner_optimizers)

    @property
    def use_ema(self):
        return any(getattr(o, "use_ema", False) for o in getattr(self, "_inner_optimizers", []))

    @use_ema.setter
    def use_ema(self, value):
        pass

    def _labels(self, params):
        """A tree of inner-optimizer indices (as strings) for `params`. A weight path keeps the
        optimizer it was first given (a selector may return a new optimizer on every call)."""
        assigned = self.__dict__.setdefault("_assigned", {})

        def label(path, p):
            key = (_path_string(path), tuple(jnp.shape(p)))
            if key not in assigned:
                info = _VariableInfo(key[0], _key_name(path[-1]) if path else "", key[1],
                                     getattr(p, "dtype", None))
                assigned[key] = self._add_inner(self._optimizer_map(info))
            return str(assigned[key])

        return jax.tree_util.tree_map_with_path(label, params)

    def _transform(self, params):
        labels = self._labels(params)
        return optax.multi_transform({str(i): o for i, o in enumerate(self._inner_optimizers)}, labels)

    def _needs_params(self):
        return any(o._needs_params() for o in self._inner_optimizers)

    def init(self, params) -> MultiOptimizerState:
        return MultiOptimizerState(iterations=jnp.zeros((), jnp.int32),
                                   inner=self._transform(params).init(params))

    def update(self, updates, state, params=None, **extra_args):
        del extra_args
        if not isinstance(state, MultiOptimizerState):
            raise ValueError(f"`{self.name}.update` expects the state returned by `{self.name}.init"
                             f"(params)`. Received: state of type {type(state).__name__}")
        labels_from = params if params is not None else updates
        deltas, inner = self._transform(labels_from).update(updates, state.inner, params)
        return deltas, MultiOptimizerState(iterations=state.iterations + 1, inner=inner)

    def iterations_of(self, opt_state):
        return _find_state(opt_state, MultiOptimizerState).iterations

    def set_learning_rate(self, opt_state, learning_rate):
        return replace_learning_rate(opt_state, learning_rate)

    def scale_loss(self, loss, opt_state=None):
        if self.loss_scale_factor is not None:
            return loss * self.loss_scale_factor
        return loss

    def finalize_variable_values(self, params, opt_state):
        if not self.use_ema:
            return params
        return swap_ema_weights(params, opt_state)[0]

    def get_config(self):
        mapping = self._optimizer_map
        if not isinstance(mapping, OptimizerMap):
            # A selector function has no config: returned as is (as a custom schedule is), so
            # saving a model compiled with it warns that the compile arguments are not saved.
            return {"optimizer_map": mapping, "loss_scale_factor": self.loss_scale_factor,
                    "name": self.name}
        return {"optimizer_map": {"module": _MODULE, "class_name": "OptimizerMap",
                                  "config": mapping.get_config(), "registered_name": None},
                "loss_scale_factor": self.loss_scale_factor, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        mapping = config["optimizer_map"]
        if isinstance(mapping, dict):
            mapping = OptimizerMap.from_config(mapping.get("config", mapping), custom_objects=custom_objects)
        config["optimizer_map"] = mapping
        return cls(**config)

    def __repr__(self):
        return f"MultiOptimizer(optimizers={self._inner_optimizers!r}, name={self.name!r})"


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


_MODULE = "kerasx.optimizers"

_CLASSES = [SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adafactor, Adamax, Ftrl, Lamb, Lion, Muon,
            Nadam, ScheduleFreeAdamW, LossScaleOptimizer, MultiOptimizer]
# Keras's lookup: the class name in lower case ("adamw", "rmsprop", "schedulefreeadamw").
_BY_NAME = {cls.__name__.lower(): cls for cls in _CLASSES}
_BUILTINS = {cls.__name__: cls for cls in _CLASSES + [OptimizerMap]}


def serialize(optimizer):
    """Describes an optimizer as a JSON-ready dict, in Keras 3's format.

    Args:
        optimizer: A kerasx `Optimizer` (a custom subclass needs a `get_config()` that
            returns its constructor arguments).

    Returns:
        `{"module", "class_name", "config", "registered_name"}`.
    """
    from ..saving import get_registered_name

    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"`serialize` expects a kerasx Optimizer (e.g. kerasx.optimizers.Adam()). "
                        f"Received: {optimizer!r}")
    cls = type(optimizer)
    builtin = _BUILTINS.get(cls.__name__) is cls
    return {"module": _MODULE if builtin else cls.__module__, "class_name": cls.__name__,
            "config": optimizer.get_config(),
            "registered_name": None if builtin else get_registered_name(cls)}


def deserialize(config, custom_objects=None):
    """Rebuilds an optimizer from `serialize`'s dict (Keras-written ones load too).

    Args:
        config: `{"class_name", "config", "module"?, "registered_name"?}`; the class name
            of a built-in optimizer is case-insensitive, as in Keras.
        custom_objects: Optional `{name: class}` for custom optimizer or schedule classes.

    Returns:
        The optimizer.

    Raises:
        ValueError: for a malformed config or an unknown class.
    """
    from ..saving import get_registered_object

    if isinstance(config, Optimizer):
        return config
    if not (isinstance(config, dict) and isinstance(config.get("class_name"), str)
            and isinstance(config.get("config", {}), dict)):
        raise ValueError("Expected a serialized optimizer: a dict with 'class_name' and 'config' keys, "
                         f"as `kerasx.optimizers.serialize` returns. Received: {config!r}")
    class_name = config["class_name"]
    cls = None
    for name in (config.get("registered_name"), class_name):
        if isinstance(name, str) and cls is None:
            cls = get_registered_object(name, custom_objects)
    if cls is None:
        cls = _BY_NAME.get(class_name.lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer: {class_name!r}. Expected one of {sorted(_BY_NAME)} "
                         "(case-insensitive), or a custom class passed in `custom_objects` or "
                         "registered with `@kerasx.saving.register_keras_serializable()`.")
    inner = dict(config.get("config", {}))
    if hasattr(cls, "from_config"):
        try:
            return cls.from_config(inner, custom_objects=custom_objects)
        except TypeError:
            return cls.from_config(inner)
    return cls(**inner)


def get(identifier):
    """Resolves an optimizer identifier.

    Args:
        identifier: A name (`"sgd"`, `"adam"`, `"adamw"`, `"rmsprop"`, `"adagrad"`,
            `"adadelta"`, `"adafactor"`, `"adamax"`, `"ftrl"`, `"lamb"`, `"lion"`,
            `"muon"`, `"nadam"`, `"schedulefreeadamw"`, case-insensitive) for that
            optimizer with Keras defaults; a `serialize` dict; a kerasx `Optimizer`
            class or instance; or any optax `GradientTransformation` (returned as is).

    Returns:
        An object with optax's `init`/`update` interface.

    Raises:
        ValueError: for an unknown name or an unsupported identifier.
    """
    if isinstance(identifier, (Optimizer, optax.GradientTransformation)):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    names = sorted(k for k in _BY_NAME if k not in ("lossscaleoptimizer", "multioptimizer"))
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in names:
            raise ValueError(
                f"Unknown optimizer: {identifier!r}. Expected one of {names} "
                "(case-insensitive), a kerasx optimizer, or an optax GradientTransformation."
            )
        return _BY_NAME[key]()
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise ValueError(
        f"Could not interpret optimizer identifier: {identifier!r}. Expected one of "
        f"{names}, a kerasx optimizer, or an optax GradientTransformation."
    )
