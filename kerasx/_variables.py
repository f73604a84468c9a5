"""Weights as Keras-like variables, and the scopes that bind them to pure pytrees.

A built layer owns its current arrays; `layer.kernel`, `layer.weights`, ... hand out `Variable`
handles onto them. The same handles work inside the pure protocol: while `layer.apply(params,
state, x)` runs a subclassed layer's `call`, a `CallScope` binds every variable of that layer to
its entry in `params`/`state`, records `variable.assign(...)` as a state update, and runs the
layer's sublayers on their own entries. While `layer.init(rng, spec)` runs `build` (and a first
`call` that builds lazily created sublayers), the scope records `add_weight` and creates fresh
values from `rng`. Nothing is written to a layer object while a scope is active, so `init` and
`apply` stay pure under `jit`, `grad`, `vmap` and `scan`.
"""

import threading
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .distribution._placement import host_array

_local = threading.local()


def _scopes() -> List["CallScope"]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def current_scope() -> Optional["CallScope"]:
    """The innermost active scope, or None outside `init`/`apply` of a subclassed layer."""
    stack = _scopes()
    return stack[-1] if stack else None


def scope_of(layer) -> Optional["CallScope"]:
    """The innermost active scope that runs `layer` itself, or None."""
    for scope in reversed(_scopes()):
        if scope.layer is layer:
            return scope
    return None


class collect_losses:
    """Collects the losses that layers add (`add_loss`, activity regularizers) while
    `init`/`apply` run inside it: the pure form of Keras's `model.losses`.

    Example:
        with kerasx.layers.collect_losses() as losses:
            y, state = model.apply(params, state, x, training=True, rng=key)
        total = data_loss + sum(losses)
    """

    def __init__(self):
        self.losses: List[Any] = []

    def __enter__(self) -> List[Any]:
        stack = getattr(_local, "collectors", None)
        if stack is None:
            stack = _local.collectors = []
        stack.append(self)
        return self.losses

    def __exit__(self, *exc):
        _local.collectors.pop()
        return False


def record_loss(value) -> bool:
    """Adds `value` to the innermost `collect_losses`; False when none is active."""
    stack = getattr(_local, "collectors", None)
    if not stack:
        return False
    stack[-1].losses.append(value)
    return True


class WeightSpec(NamedTuple):
    """What `add_weight` recorded: enough to create the weight again, freshly, in `init`."""
    name: str
    shape: Tuple[int, ...]
    dtype: Any
    initializer: Callable
    trainable: bool

    @property
    def collection(self) -> str:
        return "params" if self.trainable else "state"


class CallScope:
    """Binds one layer's variables and sublayers to pytrees while its `build`/`call` runs.

    Args:
        layer: the layer whose `init` or `apply` runs.
        mode: "init" (record weights, create fresh values) or "apply" (read `params`/`state`).
        params, state: the layer's pytrees (own weights at the top level, each sublayer's under
            its key). In "init" mode they start empty and are filled.
        rng: the key of this `init`/`apply` (None: no randomness available).
        training: the `training` flag of the enclosing call.
        batch_mask: the padding mask `fit` passes (forwarded to sublayers that take it).
    """

    def __init__(self, layer, mode: str, params: Dict, state: Dict, rng=None,
                 training: bool = False, batch_mask=None):
        self.layer = layer
        self.mode = mode
        self.params = params
        self.state = state
        self.new_state = dict(state)
        self.rng = rng
        self.training = training
        self.batch_mask = batch_mask
        self._draws = 0
        subs = getattr(layer, "_sublayer_items", None)  # metrics hold variables, no sublayers
        self._keys = {id(sub): key for key, sub in (subs() if subs else [])}

    def __enter__(self):
        _scopes().append(self)
        return self

    def __exit__(self, *exc):
        stack = _scopes()
        assert stack and stack[-1] is self
        stack.pop()
        return False

    # ------------------------------------------------------------------ randomness
    def next_key(self, purpose: int = 0):
        """A fresh key from this scope's rng (None when it has none)."""
        if self.rng is None:
            return None
        self._draws += 1
        return jax.random.fold_in(jax.random.fold_in(self.rng, purpose), self._draws)

    # ------------------------------------------------------------------ variables
    def read(self, variable: "Variable"):
        tree = self.params if variable.collection == "params" else self.new_state
        if variable.name not in tree:
            raise ValueError(
                f"Layer '{self.layer.name}' ({type(self.layer).__name__}) reads its weight "
                f"'{variable.name}', which its `build` did not create. Create every weight in "
                "`build(input_shape)` (or `__init__`) with `self.add_weight(...)`.")
        return tree[variable.name]

    def write(self, variable: "Variable", value):
        if variable.collection == "params":
            raise ValueError(
                f"Layer '{self.layer.name}' ({type(self.layer).__name__}) assigns its trainable "
                f"weight '{variable.name}' inside `call`. The optimizer owns trainable weights; "
                "create a weight that `call` updates with `add_weight(..., trainable=False)`.")
        old = self.new_state[variable.name]
        value = jnp.asarray(value, dtype=old.dtype)
        if value.shape != old.shape:
            raise ValueError(
                f"Layer '{self.layer.name}': `{variable.name}.assign` expects shape "
                f"{tuple(old.shape)}, received {tuple(value.shape)}.")
        self.new_state[variable.name] = value

    # ------------------------------------------------------------------ sublayers
    def key_of(self, sublayer) -> str:
        key = self._keys.get(id(sublayer))
        if key is None:
            raise ValueError(
                f"Layer '{sublayer.name}' ({type(sublayer).__name__}) is called inside the "
                f"`call` of layer '{self.layer.name}' but is not one of its sublayers. Create "
                "sublayers in `__init__` (or `build`) and assign them as attributes "
                "(`self.dense = Dense(...)`): a layer made inside `call` would get new weights on "
                "every call.")
        return key

    def init_sublayer(self, sublayer, spec):
        """Creates `sublayer`'s fresh weights in this scope (once), for inputs like `spec`."""
        key = self.key_of(sublayer)
        if key not in self.params:
            sub_rng = self.next_key(1)
            if sub_rng is None:
                sub_rng = jax.random.key(0)
            self.params[key], self.state[key] = sublayer.init(sub_rng, spec)
            self.new_state[key] = self.state[key]
        return key


class Variable:
    """A handle on one weight of a layer: Keras's variable API over kerasx's pytrees.

    Outside `init`/`apply` it reads and writes the array the layer holds; inside a subclassed
    layer's `call` it reads the entry of the pytrees being applied (a tracer under `jit`), and
    `assign` records a state update. It behaves like an array in arithmetic (`x @ layer.kernel`)
    and in `kerasx.ops` / `np.asarray`; use `.value` to hand it to `jax.numpy` functions.

    Attributes:
        name: the weight's name in its layer ("kernel").
        path: "<layer name>/<weight name>".
        shape, dtype, ndim: of the array.
        trainable: whether `fit` updates it (False for state, and for a frozen layer's weights).
    """

    def __init__(self, owner, name: str, collection: str):
        self._owner = owner
        self.name = name
        self.collection = collection

    @property
    def path(self) -> str:
        return f"{self._owner.name}/{self.name}"

    @property
    def trainable(self) -> bool:
        return self.collection == "params" and self._owner.trainable

    @property
    def value(self):
        scope = scope_of(self._owner)
        if scope is not None:
            return scope.read(self)
        held = self._owner._own[self.collection]
        if self.name not in held:
            raise ValueError(
                f"Weight '{self.name}' of layer '{self._owner.name}' has no value yet: the layer "
                "is not built. Call it on data (or build the model that holds it) first.")
        return held[self.name]

    def assign(self, value):
        """Sets the weight's value (same shape; cast to its dtype)."""
        scope = scope_of(self._owner)
        if scope is not None:
            scope.write(self, value)
            return self
        held = self._owner._own[self.collection]
        old = self.value
        new = jnp.asarray(np.asarray(value) if not isinstance(value, jax.Array) else value,
                          dtype=old.dtype)
        if tuple(new.shape) != tuple(old.shape):
            raise ValueError(
                f"Weight '{self.path}' has shape {tuple(old.shape)}; the value assigned has "
                f"shape {tuple(new.shape)}.")
        held[self.name] = new
        return self

    def assign_add(self, value):
        return self.assign(self.value + value)

    def assign_sub(self, value):
        return self.assign(self.value - value)

    def numpy(self) -> np.ndarray:
        return host_array(self.value)

    @property
    def shape(self):
        return tuple(self.value.shape)

    @property
    def dtype(self):
        return self.value.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self):
        try:
            desc = f"shape={self.shape}, dtype={jnp.dtype(self.dtype).name}"
        except ValueError:
            desc = "unbuilt"
        return f"<Variable path={self.path}, {desc}>"

    # ------------------------------------------------------------------ array behaviour
    # NumPy defers to the reflected operators below (`np_array @ variable` works under jit).
    __array_ufunc__ = None

    def __jax_array__(self):
        return self.value

    def __array__(self, dtype=None, copy=None):
        out = host_array(self.value)
        return out if dtype is None else out.astype(dtype)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, idx):
        return self.value[idx]

    def astype(self, dtype):
        return self.value.astype(dtype)

    @property
    def T(self):
        return self.value.T

    def __neg__(self):
        return -self.value

    def __pos__(self):
        return self.value

    def __abs__(self):
        return abs(self.value)

    def __float__(self):
        return float(self.value)

    def __int__(self):
        return int(self.value)


def _binary(op):
    def forward(self, other):
        return op(self.value, _unwrap(other))

    def backward(self, other):
        return op(_unwrap(other), self.value)

    return forward, backward


def _unwrap(x):
    return x.value if isinstance(x, Variable) else x


for _name, _op in [("add", lambda a, b: a + b), ("sub", lambda a, b: a - b),
                   ("mul", lambda a, b: a * b), ("truediv", lambda a, b: a / b),
                   ("floordiv", lambda a, b: a // b), ("mod", lambda a, b: a % b),
                   ("pow", lambda a, b: a ** b), ("matmul", lambda a, b: a @ b)]:
    _f, _b = _binary(_op)
    setattr(Variable, f"__{_name}__", _f)
    setattr(Variable, f"__r{_name}__", _b)
for _name, _op in [("lt", lambda a, b: a < b), ("le", lambda a, b: a <= b),
                   ("gt", lambda a, b: a > b), ("ge", lambda a, b: a >= b)]:
    setattr(Variable, f"__{_name}__", _binary(_op)[0])
del _name, _op, _f, _b


class StepContext:
    """What a compiled train/test step tells the stateless model API while a user's
    `train_step` runs inside `fit`: the step's random key (for `stateless_call(...,
    training=True)`), and, filled by `stateless_call`, the losses the layers added and the
    params they ran on (for `compute_loss`)."""

    def __init__(self, rng=None):
        self.rng = rng
        self._draws = 0
        self.losses: List[Any] = []
        self.params = None

    def next_key(self):
        if self.rng is None:
            return None
        self._draws += 1
        return jax.random.fold_in(self.rng, self._draws)

    def __enter__(self):
        stack = getattr(_local, "steps", None)
        if stack is None:
            stack = _local.steps = []
        stack.append(self)
        return self

    def __exit__(self, *exc):
        _local.steps.pop()
        return False


def current_step() -> Optional[StepContext]:
    stack = getattr(_local, "steps", None)
    return stack[-1] if stack else None
