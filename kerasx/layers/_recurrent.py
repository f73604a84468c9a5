"""Recurrent layers: cells (SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells), the `RNN`
loop over them (SimpleRNN, LSTM, GRU) and the wrappers Bidirectional and TimeDistributed
(Keras 3's `keras.layers`).

Weights follow Keras 3's layouts so Keras weights load with `set_weights`: `kernel`
`(input_dim, k * units)`, `recurrent_kernel` `(units, k * units)`, `bias` `(k * units,)` (GRU
with `reset_after=True`: `(2, 3 * units)`, input bias then recurrent bias), with the gates in
Keras's order (LSTM: i, f, c, o; GRU: z, r, h). The time loop is one `jax.lax.scan` (or a
Python loop with `unroll=True`) with Keras's mask semantics: a masked step keeps the states and
repeats the previous output (zeros with `zero_output_for_mask=True`).

A cell is any layer whose `apply(params, state, inputs, states, ...)` (or Keras-style
`call(inputs, states)`) returns `(output, new_states)` and that has a `state_size`.
"""

from numbers import Integral, Real

import jax
import jax.numpy as jnp
import numpy as np

from .. import activations, initializers
from ._wrapper import Wrapper, deserialize_layer, serialize_layer
from ._base import KerasTensor, Layer, apply_layer, as_spec, shape_str, takes_mask


# ------------------------------------------------------------------------------ helpers
def _positive_int(layer: str, arg: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value <= 0:
        raise ValueError(
            f"Received an invalid value for argument `{arg}` of layer '{layer}', expected a "
            f"positive integer. Received: {arg}={value!r}")
    return int(value)


def _rate(layer: str, arg: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not 0 <= value <= 1:
        raise ValueError(
            f"Received an invalid value for argument `{arg}` of layer '{layer}', expected a "
            f"float between 0 and 1 (the fraction of the units to drop). Received: {arg}={value!r}")
    return float(value)


def _bool(layer: str, arg: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(
            f"Received an invalid value for argument `{arg}` of layer '{layer}', expected True "
            f"or False. Received: {arg}={value!r}")
    return bool(value)


def _is_nested(x) -> bool:
    return isinstance(x, (list, tuple))


def _dropout_masks(key, count: int, shape, rate: float, dtype):
    """`count` inverted-dropout masks (or one mask when count is 1) of `shape`."""
    keep = jax.random.bernoulli(key, 1.0 - rate, (count,) + tuple(shape))
    masks = keep.astype(dtype) / jnp.asarray(1.0 - rate, dtype)
    return masks[0] if count == 1 else masks


def _project(x, w, masks, gates: int, per_gate=None):
    """`x @ w` where `w` holds `gates` blocks of columns; `masks` (one mask, or one per gate
    stacked on a leading axis) multiply `x` first (Keras's dropout masks). `x` is one step
    `(batch, features)`, or all of them `(time, batch, features)` with step-shaped masks, which
    then needs `per_gate` said explicitly."""
    if masks is None:
        return x @ w
    if per_gate is None:
        per_gate = masks.ndim != x.ndim
    if not per_gate:
        return (x * masks) @ w
    blocks = jnp.split(w, gates, axis=-1)
    return jnp.concatenate([(x * masks[g]) @ blocks[g] for g in range(gates)], axis=-1)


def input_projection_placement(platform: str) -> str:
    """Where the RNN loop over a built-in cell (SimpleRNNCell, LSTMCell, GRUCell) multiplies
    the inputs by `kernel`: "before_scan" (one matmul over all the timesteps before the time
    loop, which then carries only the recurrent matmul) or "in_scan" (one matmul per step
    inside the loop, as Keras writes the cell). Both compute the same sums.

    CPU: "in_scan", measured (`benchmarks/sequence_speed.py --placement`, forward + backward,
    batch 64, 200 steps, 128 features, 128 units, 2-core x86 machine, jax 0.10.2): the
    per-step projection was faster, LSTM 206 against 247 ms per call, GRU 165 against 188
    (medians of 5 rounds; the hand-written JAX versions measured the same). Hoisting writes
    and reads back a (time, batch, gates * units) array forwards and its gradient backwards,
    which costs more on this CPU than it saves over 200 smaller matmuls.
    GPU and TPU: "before_scan", unmeasured: one large matmul fills an accelerator far better
    than one small matmul per step in a sequential loop (cuDNN's RNN kernels precompute the
    input projection the same way).

    Args:
        platform: `jax.default_backend()`: "cpu", "gpu", "tpu", ...
    Returns:
        "before_scan" or "in_scan".
    """
    return "in_scan" if platform == "cpu" else "before_scan"


def _cell_initial_state(cell, batch_size: int, dtype):
    """A cell's initial states, in the structure Keras gives them (its `get_initial_state`,
    else zeros for each entry of `state_size`)."""
    fn = getattr(cell, "get_initial_state", None)
    if fn is not None:
        return fn(batch_size=batch_size)
    size = cell.state_size
    if _is_nested(size):
        return [jnp.zeros((batch_size, int(d)), dtype) for d in size]
    return jnp.zeros((batch_size, int(size)), dtype)


def _output_size(cell) -> int:
    size = getattr(cell, "output_size", None)
    if size is not None:
        return int(size)
    size = cell.state_size
    if _is_nested(size):
        size = size[0]
        while _is_nested(size):
            size = size[0]
    return int(size)


class _Projected:
    """A step's inputs already multiplied by `kernel` (the RNN loop projected all the
    timesteps at once before its loop)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


def _input_projection(x, kernel, masks, gates: int):
    """A cell's `x @ kernel` (with its dropout masks), or the value already projected."""
    if isinstance(x, _Projected):
        return x.value
    return _project(x, kernel, masks, gates)


# ------------------------------------------------------------------------------ cells
class _Cell(Layer):
    """The common part of SimpleRNNCell, LSTMCell and GRUCell."""

    _gates = 1  # blocks of `units` columns in the kernels

    def _setup(self, units, activation, recurrent_activation, use_bias, kernel_initializer,
               recurrent_initializer, bias_initializer, kernel_regularizer,
               recurrent_regularizer, bias_regularizer, kernel_constraint,
               recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed):
        self.units = _positive_int(self.name, "units", units)
        self.activation = activations.get(activation)
        self.recurrent_activation = (None if recurrent_activation is None
                                     else activations.get(recurrent_activation))
        self.use_bias = _bool(self.name, "use_bias", use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer, self.kernel_constraint = self._weight_options(
            "kernel", kernel_regularizer, kernel_constraint)
        self.recurrent_regularizer, self.recurrent_constraint = self._weight_options(
            "recurrent_kernel", recurrent_regularizer, recurrent_constraint)
        self.bias_regularizer, self.bias_constraint = self._weight_options(
            "bias", bias_regularizer, bias_constraint)
        self.dropout = _rate(self.name, "dropout", dropout)
        self.recurrent_dropout = _rate(self.name, "recurrent_dropout", recurrent_dropout)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral)):
            raise ValueError(
                f"Received an invalid value for argument `seed` of layer '{self.name}', expected "
                f"an integer or None. Received: seed={seed!r}")
        self.seed = None if seed is None else int(seed)

    @property
    def output_size(self) -> int:
        return self.units

    def get_initial_state(self, batch_size=None):
        """Zeros for each state: `[h]` (`[h, c]` for LSTMCell), each `(batch_size, units)`,
        in the compute dtype (as Keras)."""
        sizes = self.state_size if _is_nested(self.state_size) else [self.state_size]
        return [jnp.zeros((batch_size, d), self.compute_dtype) for d in sizes]

    def _step_dim(self, input_spec) -> int:
        spec = as_spec(input_spec)
        if not hasattr(spec, "shape") or len(spec.shape) != 2:
            shape = shape_str(spec.shape) if hasattr(spec, "shape") else spec
            raise ValueError(
                f"Cell '{self.name}' ({type(self).__name__}) runs on one timestep at a time and "
                f"expects inputs of shape (batch, features). Received: {shape}. To run it over "
                f"sequences, wrap it: `kerasx.layers.RNN(cell)`.")
        return int(spec.shape[-1])

    def _bias(self, key):
        return self.bias_initializer(key, (self._gates * self.units,), self.dtype)

    def init(self, rng, input_spec, *args, **kwargs):
        dim = self._step_dim(input_spec)
        k1, k2, k3 = jax.random.split(rng, 3)
        n = self._gates * self.units
        params = {"kernel": self.kernel_initializer(k1, (dim, n), self.dtype),
                  "recurrent_kernel": self.recurrent_initializer(k2, (self.units, n), self.dtype)}
        if self.use_bias:
            params["bias"] = self._bias(k3)
        return params, {}

    def weight_names(self):
        names = [("params", "kernel"), ("params", "recurrent_kernel")]
        return names + ([("params", "bias")] if self.use_bias else [])

    def _masks(self, x, h, training, rng):
        """Keras's dropout masks: drawn from `rng` alone, so the RNN loop, which passes the
        same key at every step, uses the same masks at every step of a call. With
        `recurrent_dropout`, one mask per gate (Keras's implementation 1)."""
        use_in = training and 0.0 < self.dropout < 1.0
        use_rec = training and 0.0 < self.recurrent_dropout < 1.0
        if not (use_in or use_rec):
            return None, None
        self._need_rng(rng)
        key = rng if self.seed is None else jax.random.fold_in(rng, self.seed)
        k_in, k_rec = jax.random.split(key)
        count = self._gates if self.recurrent_dropout > 0 else 1
        dp = _dropout_masks(k_in, count, x.shape, self.dropout, x.dtype) if use_in else None
        rdp = (_dropout_masks(k_rec, count, h.shape, self.recurrent_dropout, h.dtype)
               if use_rec else None)
        return dp, rdp

    def apply(self, params, state, inputs, states=None, *, training=False, rng=None,
              dropout_masks=None, projected=False, project_only=False):
        """One step: returns `((output, new_states), state)`; `new_states` is a list when
        `states` is one (Keras's cells), else an array. `dropout_masks`: the `(input_mask,
        recurrent_mask)` pair of `_masks` (the RNN loop draws it once per call), else drawn
        from `rng` when training.

        The RNN loop's input projection (see `input_projection_placement`): `project_only=True`
        returns `(inputs @ kernel, state)` for the inputs of all the timesteps `(time, batch,
        features)` (with the step-shaped dropout masks); `projected=True` runs one step on such
        a projected input `(batch, gates * units)` instead of the raw one."""
        if project_only:
            x = inputs.astype(params["kernel"].dtype) if jnp.issubdtype(
                inputs.dtype, jnp.floating) else inputs
            dp = None if dropout_masks is None else dropout_masks[0]
            per_gate = dp is not None and dp.ndim == x.ndim
            return _project(x, params["kernel"], dp, self._gates, per_gate), state
        nested = _is_nested(states)
        if states is None:
            states, nested = self.get_initial_state(inputs.shape[0]), True
        states = list(states) if nested else [states]
        x = inputs.astype(params["kernel"].dtype) if jnp.issubdtype(
            inputs.dtype, jnp.floating) else inputs
        if dropout_masks is not None:
            dp, rdp = dropout_masks
        else:
            dp, rdp = self._masks(x, states[0], training, rng)
        if projected:
            x, dp = _Projected(x), None
        out, new_states = self._step(params, x, states, dp, rdp)
        return (out, new_states if nested else new_states[0]), state

    def _config(self):
        return {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            **self._weight_options_config("kernel"),
            "recurrent_regularizer": self._weight_options_config(
                "recurrent_kernel")["recurrent_kernel_regularizer"],
            "recurrent_constraint": self._weight_options_config(
                "recurrent_kernel")["recurrent_kernel_constraint"],
            **self._weight_options_config("bias"),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }


class SimpleRNNCell(_Cell):
    """The cell of a fully-connected RNN: `h = activation(x @ kernel + h_prev @
    recurrent_kernel + bias)`.

    Args:
        units: positive integer, the size of the output and state.
        activation: default "tanh".
        use_bias: whether to add `bias`.
        kernel_initializer, recurrent_initializer, bias_initializer: for `kernel`
            `(input_dim, units)`, `recurrent_kernel` `(units, units)` and `bias` `(units,)`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint: for the same weights.
        dropout: fraction of the input units to drop in training (one mask per call).
        recurrent_dropout: fraction of the state units to drop in training.
        seed: optional integer folded into the `rng` that draws the dropout masks.

    Input shape:
        `inputs` `(batch, input_dim)`, `states` a list of one `(batch, units)` array.
    Output shape:
        `(output, [new_state])`, both `(batch, units)`.
    """

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self._setup(units, activation, None, use_bias, kernel_initializer,
                    recurrent_initializer, bias_initializer, kernel_regularizer,
                    recurrent_regularizer, bias_regularizer, kernel_constraint,
                    recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed)

    @property
    def state_size(self):
        return self.units

    def _step(self, params, x, states, dp, rdp):
        h = states[0]
        z = _input_projection(x, params["kernel"], dp, 1)
        if self.use_bias:
            z = z + params["bias"]
        z = z + _project(h, params["recurrent_kernel"], rdp, 1)
        out = self.activation(z)
        return out, [out]

    def get_config(self):
        return {**super().get_config(), **self._config()}


class LSTMCell(_Cell):
    """The cell of an LSTM (Hochreiter 1997), Keras's gates i, f, c, o:
    `c = f * c_prev + i * activation(z_c)`, `h = o * activation(c)`.

    Args:
        units: positive integer, the size of the output and of each state.
        activation: default "tanh"; recurrent_activation (the gates): default "sigmoid".
        use_bias: whether to add `bias`.
        kernel_initializer, recurrent_initializer, bias_initializer: for `kernel`
            `(input_dim, 4 * units)`, `recurrent_kernel` `(units, 4 * units)`, `bias`
            `(4 * units,)`.
        unit_forget_bias: start the forget gate's bias at 1 (the bias initializer elsewhere).
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint: for the same weights.
        dropout, recurrent_dropout: fractions of the input / state units to drop in training
            (masks drawn once per call; with `recurrent_dropout`, one mask per gate).
        seed: optional integer folded into the `rng` that draws the dropout masks.

    Input shape:
        `inputs` `(batch, input_dim)`, `states` `[h, c]`, each `(batch, units)`.
    Output shape:
        `(h, [h, c])`.
    """

    _gates = 4

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, implementation=2, **kwargs):
        super().__init__(**kwargs)
        self._setup(units, activation, recurrent_activation, use_bias, kernel_initializer,
                    recurrent_initializer, bias_initializer, kernel_regularizer,
                    recurrent_regularizer, bias_regularizer, kernel_constraint,
                    recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed)
        self.unit_forget_bias = _bool(self.name, "unit_forget_bias", unit_forget_bias)
        self.implementation = implementation  # accepted for Keras; one implementation here

    @property
    def state_size(self):
        return [self.units, self.units]

    def _bias(self, key):
        if not self.unit_forget_bias:
            return super()._bias(key)
        k1, k2 = jax.random.split(key)
        u = self.units
        return jnp.concatenate([self.bias_initializer(k1, (u,), self.dtype),
                                jnp.ones((u,), self.dtype),
                                self.bias_initializer(k2, (2 * u,), self.dtype)])

    def _step(self, params, x, states, dp, rdp):
        h, c = states[0], states[1]
        z = (_input_projection(x, params["kernel"], dp, 4)
             + _project(h, params["recurrent_kernel"], rdp, 4))
        if self.use_bias:
            z = z + params["bias"]
        zi, zf, zc, zo = jnp.split(z, 4, axis=-1)
        ra = self.recurrent_activation
        c = ra(zf) * c + ra(zi) * self.activation(zc)
        h = ra(zo) * self.activation(c)
        return h, [h, c]

    def get_config(self):
        config = self._config()
        config["recurrent_activation"] = activations.serialize(self.recurrent_activation)
        config["unit_forget_bias"] = self.unit_forget_bias
        return {**super().get_config(), **config}


class GRUCell(_Cell):
    """The cell of a GRU (Cho et al. 2014), Keras's gates z, r, h:
    `h = z * h_prev + (1 - z) * activation(x_h + r * (h_prev @ rk_h))` with
    `reset_after=True` (the default, cuDNN's form), or `... activation(x_h + (r * h_prev) @
    rk_h)` with `reset_after=False`.

    Args:
        units: positive integer, the size of the output and state.
        activation: default "tanh"; recurrent_activation (the gates): default "sigmoid".
        use_bias: whether to add `bias`: `(2, 3 * units)` (input bias, recurrent bias) with
            `reset_after=True`, else `(3 * units,)`.
        kernel_initializer, recurrent_initializer, bias_initializer: for `kernel`
            `(input_dim, 3 * units)`, `recurrent_kernel` `(units, 3 * units)` and `bias`.
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint: for the same weights.
        dropout, recurrent_dropout: fractions of the input / state units to drop in training.
        seed: optional integer folded into the `rng` that draws the dropout masks.
        reset_after: apply the reset gate after the recurrent matrix product (default True).

    Input shape:
        `inputs` `(batch, input_dim)`, `states` a list of one `(batch, units)` array.
    Output shape:
        `(output, [new_state])`, both `(batch, units)`.
    """

    _gates = 3

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, recurrent_constraint=None,
                 bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, reset_after=True,
                 seed=None, implementation=2, **kwargs):
        super().__init__(**kwargs)
        self._setup(units, activation, recurrent_activation, use_bias, kernel_initializer,
                    recurrent_initializer, bias_initializer, kernel_regularizer,
                    recurrent_regularizer, bias_regularizer, kernel_constraint,
                    recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed)
        self.reset_after = _bool(self.name, "reset_after", reset_after)
        self.implementation = implementation

    @property
    def state_size(self):
        return self.units

    def _bias(self, key):
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        return self.bias_initializer(key, shape, self.dtype)

    def _step(self, params, x, states, dp, rdp):
        h = states[0]
        u = self.units
        rk = params["recurrent_kernel"]
        in_bias = rec_bias = None
        if self.use_bias:
            if self.reset_after:
                in_bias, rec_bias = params["bias"][0], params["bias"][1]
            else:
                in_bias = params["bias"]
        xz = _input_projection(x, params["kernel"], dp, 3)
        if in_bias is not None:
            xz = xz + in_bias
        x_z, x_r, x_h = jnp.split(xz, 3, axis=-1)
        ra = self.recurrent_activation
        if rdp is not None and rdp.ndim == h.ndim:
            rdp = jnp.stack([rdp] * 3)
        h_g = [h, h, h] if rdp is None else [h * rdp[0], h * rdp[1], h * rdp[2]]
        if self.reset_after:
            if rdp is None:
                hh = h @ rk
            else:
                hh = jnp.concatenate([h_g[g] @ rk[:, g * u:(g + 1) * u] for g in range(3)], -1)
            if rec_bias is not None:
                hh = hh + rec_bias
            h_z, h_r, h_h = jnp.split(hh, 3, axis=-1)
            z, r = ra(x_z + h_z), ra(x_r + h_r)
            cand = self.activation(x_h + r * h_h)
        else:
            if rdp is None:
                hzr = h @ rk[:, :2 * u]
            else:
                hzr = jnp.concatenate([h_g[0] @ rk[:, :u], h_g[1] @ rk[:, u:2 * u]], -1)
            h_z, h_r = jnp.split(hzr, 2, axis=-1)
            z, r = ra(x_z + h_z), ra(x_r + h_r)
            cand = self.activation(x_h + (r * h_g[2]) @ rk[:, 2 * u:])
        out = z * h + (1 - z) * cand
        return out, [out]

    def get_config(self):
        config = self._config()
        config["recurrent_activation"] = activations.serialize(self.recurrent_activation)
        config["reset_after"] = self.reset_after
        return {**super().get_config(), **config}


_BUILT_IN_CELLS = (SimpleRNNCell, LSTMCell, GRUCell)  # exactly these (a subclass may differ)


def _check_cell(where: str, cell):
    if not isinstance(cell, Layer):
        raise ValueError(
            f"{where} expects RNN cells that are kerasx layers (a cell from "
            "`kerasx.layers`, or a `Layer` subclass whose `call(inputs, states)` returns "
            f"`(output, new_states)`). Received: {cell!r}")
    if getattr(cell, "state_size", None) is None:
        raise ValueError(
            f"{where}: the cell {cell!r} has no `state_size`; an RNN cell must define it (an "
            "integer, or a list with one integer per state).")


class StackedRNNCells(Layer):
    """Cells run one after the other at each timestep, as one cell (Keras's stacked RNN).

    The output of each cell is the input of the next; the states are a list with each
    cell's states. Its weights are the cells' weights, in order.

    Args:
        cells: a list of RNN cells.

    Input shape:
        `inputs` `(batch, input_dim)`, `states` a list with each cell's states.
    Output shape:
        `(the last cell's output, [each cell's new states])`.
    """

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        if not _is_nested(cells) or not cells:
            raise ValueError(
                f"Layer '{self.name}' (StackedRNNCells) expects a non-empty list of cells. "
                f"Received: cells={cells!r}")
        for cell in cells:
            _check_cell(f"Layer '{self.name}' (StackedRNNCells)", cell)
        self.cells = list(cells)

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return _output_size(self.cells[-1])

    def get_initial_state(self, batch_size=None):
        return [_cell_initial_state(c, batch_size, self.compute_dtype) for c in self.cells]

    def _keys(self):
        return [k for k, _ in self._sublayer_items()]

    def init(self, rng, input_spec, *args, **kwargs):
        spec = as_spec(input_spec)
        params, state = {}, {}
        batch = spec.shape[0]
        for i, (key, cell) in enumerate(self._sublayer_items()):
            st = jax.eval_shape(lambda: _cell_initial_state(cell, batch, self.compute_dtype))
            params[key], state[key] = cell.init(jax.random.fold_in(rng, i), spec, st)
            spec = jax.ShapeDtypeStruct((batch, _output_size(cell)), spec.dtype)
        return params, state

    def apply(self, params, state, inputs, states=None, *, training=False, rng=None):
        if states is None:
            states = self.get_initial_state(inputs.shape[0])
        new_states, new_state = [], {}
        x = inputs
        for i, ((key, cell), s) in enumerate(zip(self._sublayer_items(), states)):
            is_list = _is_nested(s)
            s = list(s) if is_list else [s]
            cell_rng = None if rng is None else jax.random.fold_in(rng, i)
            (x, ns), new_state[key] = apply_layer(cell, params[key], state[key], x, s,
                                                  training=training, rng=cell_rng)
            ns = list(ns) if _is_nested(ns) else [ns]
            if len(ns) == 1 and not is_list:
                ns = ns[0]
            new_states.append(ns)
        return (x, new_states), new_state

    def weight_names(self):
        return []

    def get_config(self):
        return {**super().get_config(), "cells": [serialize_layer(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["cells"] = [deserialize_layer(c, custom_objects) for c in config["cells"]]
        return super().from_config(config)


# ------------------------------------------------------------------------------ the RNN loop
class RNN(Layer):
    """Runs a cell over the timesteps of a sequence (Keras's base recurrent layer).

    Args:
        cell: an RNN cell (SimpleRNNCell, LSTMCell, GRUCell, a user-written cell with
            `state_size` and `call(inputs, states) -> (output, new_states)`), or a list of
            cells (run as `StackedRNNCells`).
        return_sequences: return the output of every timestep `(batch, timesteps, units)`
            rather than the last one `(batch, units)`.
        return_state: also return the final states: `(output, *states)`.
        go_backwards: process the sequence backwards (outputs in processing order).
        stateful: keep the final states of a batch (in the layer's state) as the initial
            states of the next batch. Needs a fixed batch size: `batch_size=` on the layer,
            `kerasx.Input(batch_shape=...)` in a functional graph, or a first call on data.
            `reset_states()` zeroes them. A batch of one (kerasx's shape probes) runs from
            zero states and leaves them unchanged.
        unroll: run the time loop as Python code (one traced step per timestep) instead of
            `jax.lax.scan`.
        zero_output_for_mask: output zeros at masked steps (else the previous output).

    Call arguments (of `apply` and of calling the layer):
        mask: optional boolean `(batch, timesteps)`; False marks a padding step (skipped:
            states carried, previous output repeated). A mask made by an earlier layer
            (`Masking`) arrives here in a model.
        initial_state: optional list of initial states (zeros by default).
        training: enables dropout (needs `rng`).

    Input shape:
        `(batch, timesteps, features)` (more axes for convolutional cells).
    Output shape:
        `(batch, timesteps, units)` with `return_sequences`, else `(batch, units)`; with
        `return_state`, a tuple `(output, *final_states)`.
    """

    supports_masking = True

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False,
                 stateful=False, unroll=False, zero_output_for_mask=False, **kwargs):
        super().__init__(**kwargs)
        if _is_nested(cell):
            cell = StackedRNNCells(list(cell))
        _check_cell(f"Layer '{self.name}' ({type(self).__name__})", cell)
        size = cell.state_size
        if not (isinstance(size, Integral) or _is_nested(size)):
            raise ValueError(
                f"Layer '{self.name}': the cell's `state_size` must be an integer or a list of "
                f"integers (one per state). Received: state_size={size!r}")
        self.cell = cell
        for arg in ("return_sequences", "return_state", "go_backwards", "stateful", "unroll",
                    "zero_output_for_mask"):
            setattr(self, arg, _bool(self.name, arg, locals()[arg]))
        self._stateful_batch = self._batch_size_arg

    @property
    def state_size(self):
        size = self.cell.state_size
        return list(size) if _is_nested(size) else [size]

    def _cell_key(self) -> str:
        return self._sublayer_items()[0][0]

    def get_initial_state(self, batch_size):
        """The zero states for a batch: a list (Keras's structure)."""
        fn = getattr(self.cell, "get_initial_state", None)
        if fn is not None:
            init = fn(batch_size=batch_size)
            return list(init) if _is_nested(init) else [init]
        return [[jnp.zeros((batch_size, d), self.compute_dtype) for d in s] if _is_nested(s)
                else jnp.zeros((batch_size, int(s)), self.dtype) for s in self.state_size]

    def _zero_states(self, x):
        """The zero states for sequences shaped like `x` (an array or a spec)."""
        fn = getattr(self.cell, "_initial_state_for", None)
        if fn is not None:  # cells whose state shape depends on the input's (ConvLSTM)
            return list(fn(x.shape[0], tuple(x.shape[2:])))
        return self.get_initial_state(x.shape[0])

    # -------------------------------------------------------------- building
    def __call__(self, inputs, *args, **kwargs):
        if self.stateful and isinstance(inputs, KerasTensor):
            batch = inputs.shape[0]
            if batch is None:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) is stateful, which needs a "
                    "fixed batch size, but its input has shape "
                    f"{shape_str(inputs.shape)}. Give the batch size with "
                    "`kerasx.Input(batch_shape=(batch, timesteps, features))` (or `batch_size=`).")
            self._stateful_batch = batch
        return super().__call__(inputs, *args, **kwargs)

    def _build_for(self, spec):
        if self.stateful and self._stateful_batch is None and hasattr(spec, "shape"):
            self._stateful_batch = int(spec.shape[0])  # an eager first call on data
        super()._build_for(spec)

    def _check_spec(self, spec):
        if not hasattr(spec, "shape") or len(spec.shape) < 3:
            shape = shape_str(spec.shape) if hasattr(spec, "shape") else spec
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects sequences of rank 3 "
                f"(batch, timesteps, features). Received: inputs of shape {shape}")
        if len(spec.shape) != 3 and isinstance(self.cell, (_Cell, StackedRNNCells)):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects sequences of rank 3 "
                f"(batch, timesteps, features). Received: inputs of shape "
                f"{shape_str(spec.shape)}")

    def init(self, rng, input_spec, *args, **kwargs):
        spec = as_spec(input_spec)
        self._check_spec(spec)
        step = jax.ShapeDtypeStruct((spec.shape[0],) + tuple(spec.shape[2:]), spec.dtype)
        states_spec = jax.eval_shape(lambda: self._zero_states(spec))
        key = self._cell_key()
        cell_params, cell_state = self.cell.init(rng, step, states_spec)
        state = {key: cell_state}
        if self.stateful:
            batch = self._stateful_batch if self._stateful_batch is not None else spec.shape[0]
            state["states"] = jax.tree.leaves(self._zero_states(
                jax.ShapeDtypeStruct((int(batch),) + tuple(spec.shape[1:]), spec.dtype)))
        return {key: cell_params}, state

    def weight_names(self):
        return []  # the cell's weights (a sublayer); stateful states are not weights, as in Keras

    # -------------------------------------------------------------- running
    def _initial_states(self, state, x, initial_state):
        zeros = self._zero_states(x)
        treedef = jax.tree.structure(zeros)
        if initial_state is None:
            if self.stateful:
                held = state["states"]
                if held[0].shape[0] != x.shape[0]:
                    if x.shape[0] == 1:  # kerasx's batch-of-one shape probes
                        return zeros, False
                    hint = ("" if held[0].shape[0] != 1 else
                            " (A Sequential model builds its layers for a batch of one: give "
                            "the batch size to the layer with `batch_size=`.)")
                    raise ValueError(
                        f"Layer '{self.name}' ({type(self).__name__}) is stateful with batch "
                        f"size {held[0].shape[0]}, so every batch must have that size. "
                        f"Received: inputs of shape {shape_str(x.shape)}.{hint}")
                return jax.tree.unflatten(treedef, held), True
            return zeros, True
        leaves = jax.tree.leaves(initial_state)
        if len(leaves) != treedef.num_leaves:
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects `initial_state` with "
                f"{treedef.num_leaves} state(s) of shapes "
                f"{[shape_str(z.shape) for z in jax.tree.leaves(zeros)]}. Received: "
                f"{len(leaves)} array(s) of shapes {[shape_str(jnp.shape(a)) for a in leaves]}")
        for z, a in zip(jax.tree.leaves(zeros), leaves):
            if tuple(jnp.shape(a)) != tuple(z.shape):
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}): an initial state has shape "
                    f"{shape_str(jnp.shape(a))}, expected {shape_str(z.shape)}.")
        return jax.tree.unflatten(treedef, [jnp.asarray(a, z.dtype) for a, z in
                                            zip(leaves, jax.tree.leaves(zeros))]), True

    def _check_mask(self, mask, x):
        mask = jnp.asarray(mask)
        if mask.ndim == 3 and mask.shape[-1] == 1:
            mask = mask[..., 0]
        if mask.shape != tuple(x.shape[:2]):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) expects a mask of shape "
                f"(batch, timesteps) = {shape_str(x.shape[:2])} for inputs of shape "
                f"{shape_str(x.shape)}. Received: mask of shape {shape_str(mask.shape)}")
        return mask if mask.dtype == jnp.bool_ else mask.astype(bool)

    def _projects_before_loop(self) -> bool:
        """Whether `_run` projects the inputs of all the timesteps before its loop: for the
        built-in cells (exactly; a subclass may change the step), where
        `input_projection_placement` says so."""
        cell = self.cell
        return (type(cell) in _BUILT_IN_CELLS
                and cell.activity_regularizer is None
                and getattr(cell, "input_spec", None) is None
                and input_projection_placement(jax.default_backend()) == "before_scan")

    def _run(self, params, cell_state, x, states, mask, training, rng, need_sequence=True):
        """The time loop. Returns `(last_output, outputs (batch, time, ...), final_states,
        cell_state)`; outputs in processing order (reversed with go_backwards), as Keras.
        With `need_sequence=False` the outputs may be None (only the last one is kept)."""
        key = self._cell_key()
        cell = self.cell
        treedef = jax.tree.structure(states)
        if self.go_backwards:
            x = jnp.flip(x, axis=1)
            mask = None if mask is None else jnp.flip(mask, axis=1)
        xs = jnp.swapaxes(x, 0, 1)
        ms = None if mask is None else jnp.swapaxes(mask, 0, 1)

        extra, step_rng = {}, rng
        if isinstance(cell, _Cell):  # draw the dropout masks once, outside the loop
            first = xs[0]
            if jnp.issubdtype(first.dtype, jnp.floating):
                first = first.astype(params[key]["kernel"].dtype)
            extra["dropout_masks"] = cell._masks(first, jax.tree.leaves(states)[0], training,
                                                 rng)
            step_rng = None
            if self._projects_before_loop():
                # all the timesteps' `x @ kernel` as one matmul; the loop runs the rest
                xs, _ = apply_layer(cell, params[key], cell_state, xs, training=training,
                                    project_only=True, **extra)
                extra["projected"] = True

        def cell_step(cs, x_t, s, t):
            # a user cell draws its randomness per step, as Keras's seed generator advances
            t_rng = None if step_rng is None else jax.random.fold_in(step_rng, t)
            (out, new), cs = apply_layer(cell, params[key], cs, x_t, s, training=training,
                                         rng=t_rng, **extra)
            new = list(new) if _is_nested(new) else [new]
            return out, jax.tree.unflatten(treedef, jax.tree.leaves(new)), cs

        def keep(m, new, old):  # m: (batch,) True = real step
            m = m.reshape(m.shape + (1,) * (new.ndim - 1))
            return jnp.where(m, new, old)

        if self.unroll:
            outs, prev = [], None
            for t in range(xs.shape[0]):
                out, new, cell_state = cell_step(cell_state, xs[t], states, t)
                if ms is not None:
                    prev = jnp.zeros_like(out) if prev is None else prev
                    out = keep(ms[t], out, prev)
                    new = jax.tree.map(lambda n, o: keep(ms[t], n, o), new, states)
                    prev = out
                states = new
                outs.append(out)
            outputs = jnp.stack(outs)
        else:
            steps = jnp.arange(xs.shape[0], dtype=jnp.int32)

            def body(carry, inp):
                s, cs = carry
                x_t, m_t, t = inp
                out, new, cs = cell_step(cs, x_t, s, t)
                if m_t is None:
                    return (new, cs), out
                if self.zero_output_for_mask:
                    prev = jnp.zeros_like(out)
                else:
                    prev = s[0]
                    if _is_nested(prev):
                        prev = s[-1][0] if _is_nested(s[-1]) else s[-1]
                out = keep(m_t, out, prev)
                new = jax.tree.map(lambda n, o: keep(m_t, n, o), new, s)
                return (new, cs), out

            if not need_sequence and type(cell) in _BUILT_IN_CELLS:
                # A built-in cell's output is its first state, and masked steps keep both, so
                # the last output is the final first state: the loop need not stack outputs
                # (nor the backward pass read their zero gradients back).
                def last_only(carry, inp):
                    carry, _ = body(carry, inp)
                    return carry, None

                (states, cell_state), _ = jax.lax.scan(
                    last_only, (states, cell_state), (xs, ms, steps))
                last = jax.tree.leaves(states)[0]
                if ms is not None and self.zero_output_for_mask:
                    last = keep(ms[-1], last, jnp.zeros_like(last))
                return last, None, states, cell_state
            (states, cell_state), outputs = jax.lax.scan(
                body, (states, cell_state), (xs, ms, steps))
        return outputs[-1], jnp.swapaxes(outputs, 0, 1), states, cell_state

    def apply(self, params, state, inputs, *, training=False, rng=None, mask=None,
              initial_state=None):
        self._check_spec(as_spec(inputs))
        x = inputs
        if jnp.issubdtype(x.dtype, jnp.floating) and x.dtype != self.dtype:
            x = x.astype(self.dtype)
        if self.unroll and x.shape[1] is None:
            raise ValueError(f"Layer '{self.name}': cannot unroll over an unknown number of "
                             "timesteps.")
        states, keep_state = self._initial_states(state, x, initial_state)
        if mask is not None:
            mask = self._check_mask(mask, x)
        key = self._cell_key()
        last, outputs, final, cell_state = self._run(params, state[key], x, states, mask,
                                                     training, rng,
                                                     need_sequence=self.return_sequences)
        new_state = {**state, key: cell_state}
        if self.stateful and keep_state:
            new_state["states"] = [jax.lax.stop_gradient(s).astype(h.dtype) for s, h in
                                   zip(jax.tree.leaves(final), state["states"])]
        output = outputs if self.return_sequences else last
        if self.return_state:
            return (output, *final), new_state
        return output, new_state

    def compute_mask(self, inputs, previous_mask=None):
        mask = previous_mask
        if _is_nested(mask):
            mask = mask[0] if mask else None
        if mask is not None and jnp.ndim(mask) == 3:
            mask = mask[..., 0]
        out = mask if self.return_sequences else None
        if self.return_state and out is not None:
            return [out] + [None] * len(jax.tree.leaves(self.state_size))
        return out

    # -------------------------------------------------------------- stateful
    def reset_states(self):
        """Zeroes the states a stateful layer carries between batches (Keras's alias)."""
        self.reset_state()

    def reset_state(self):
        """Zeroes the states a stateful layer carries between batches."""
        held = self._own["state"].get("states") if self.stateful else None
        if held is not None:
            self._own["state"]["states"] = [jnp.zeros_like(s) for s in held]

    @property
    def states(self):
        """The states a stateful layer carries (None for a layer that is not stateful or not
        built)."""
        return self._own["state"].get("states") if self.stateful else None

    # -------------------------------------------------------------- config
    def _loop_config(self):
        return {"return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": self.stateful,
                "unroll": self.unroll, "zero_output_for_mask": self.zero_output_for_mask}

    def get_config(self):
        return {**super().get_config(), **self._loop_config(), "cell": serialize_layer(self.cell)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["cell"] = deserialize_layer(config["cell"], custom_objects)
        return super().from_config(config)


_CELL_ARGS = ("units", "activation", "use_bias", "kernel_initializer", "recurrent_initializer",
              "bias_initializer", "kernel_regularizer", "recurrent_regularizer",
              "bias_regularizer", "kernel_constraint", "recurrent_constraint",
              "bias_constraint", "dropout", "recurrent_dropout", "seed")


class _CellRNN(RNN):
    """SimpleRNN / LSTM / GRU: an RNN over a built-in cell, configured by the cell's arguments."""

    _cell_class = None
    _cell_name = None
    _extra_cell_args = ()

    def __init__(self, cell_kwargs, loop_kwargs, kwargs):
        use_cudnn = kwargs.pop("use_cudnn", "auto")
        if use_cudnn not in ("auto", True, False):
            raise ValueError("Invalid value received for argument `use_cudnn`. Expected one of "
                             f"{{'auto', True, False}}. Received: use_cudnn={use_cudnn!r}")
        cell = self._cell_class(name=self._cell_name, dtype=kwargs.get("dtype"),
                                trainable=kwargs.get("trainable", True), **cell_kwargs)
        super().__init__(cell, **loop_kwargs, **kwargs)
        self.use_cudnn = use_cudnn

    def __getattr__(self, name):
        cell = self.__dict__.get("cell")
        if cell is not None and name in _CELL_ARGS + self._extra_cell_args + (
                "recurrent_activation",):
            return getattr(cell, name)
        return super().__getattr__(name)

    def get_config(self):
        config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            config.pop(key, None)
        base = Layer.get_config(self)
        return {**base, **config, **self._loop_config()}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return Layer.from_config.__func__(cls, config)


def _loop_kwargs(return_sequences, return_state, go_backwards, stateful, unroll, kwargs):
    out = dict(return_sequences=return_sequences, return_state=return_state,
               go_backwards=go_backwards, stateful=stateful, unroll=unroll)
    if "zero_output_for_mask" in kwargs:
        out["zero_output_for_mask"] = kwargs.pop("zero_output_for_mask")
    return out


class SimpleRNN(_CellRNN):
    """A fully-connected RNN: `h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel +
    bias)` over the timesteps (an `RNN` over a `SimpleRNNCell` named "simple_rnn_cell").

    Args:
        units, activation ("tanh"), use_bias, kernel_initializer, recurrent_initializer,
        bias_initializer, kernel_regularizer, recurrent_regularizer, bias_regularizer,
        activity_regularizer, kernel_constraint, recurrent_constraint, bias_constraint,
        dropout, recurrent_dropout, seed: as in `SimpleRNNCell`.
        return_sequences, return_state, go_backwards, stateful, unroll: as in `RNN`.

    Input shape:
        `(batch, timesteps, features)`.
    Output shape:
        `(batch, timesteps, units)` with `return_sequences`, else `(batch, units)`; with
        `return_state`, `(output, h)`.
    """

    _cell_class = SimpleRNNCell
    _cell_name = "simple_rnn_cell"

    def get_config(self):
        config = super().get_config()
        config.pop("seed", None)  # Keras 3's SimpleRNN config has no `seed`
        return config

    def __init__(self, units, activation="tanh", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, seed=None, **kwargs):
        cell_kwargs = dict(
            units=units, activation=activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed)
        loop = _loop_kwargs(return_sequences, return_state, go_backwards, stateful, unroll,
                            kwargs)
        super().__init__(cell_kwargs, loop, dict(kwargs, activity_regularizer=activity_regularizer))


class LSTM(_CellRNN):
    """Long Short-Term Memory (Hochreiter 1997) over the timesteps (an `RNN` over an
    `LSTMCell` named "lstm_cell"; Keras's weights and gate order i, f, c, o).

    Args:
        units, activation ("tanh"), recurrent_activation ("sigmoid"), use_bias,
        kernel_initializer, recurrent_initializer, bias_initializer, unit_forget_bias,
        kernel_regularizer, recurrent_regularizer, bias_regularizer, activity_regularizer,
        kernel_constraint, recurrent_constraint, bias_constraint, dropout,
        recurrent_dropout, seed: as in `LSTMCell`.
        return_sequences, return_state, go_backwards, stateful, unroll: as in `RNN`.
        use_cudnn: accepted for Keras ("auto", True or False); XLA compiles one kernel.

    Input shape:
        `(batch, timesteps, features)`.
    Output shape:
        `(batch, timesteps, units)` with `return_sequences`, else `(batch, units)`; with
        `return_state`, `(output, h, c)`.
    """

    _cell_class = LSTMCell
    _cell_name = "lstm_cell"
    _extra_cell_args = ("unit_forget_bias",)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", unit_forget_bias=True, kernel_regularizer=None,
                 recurrent_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False,
                 return_state=False, go_backwards=False, stateful=False, unroll=False,
                 use_cudnn="auto", **kwargs):
        cell_kwargs = dict(
            units=units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            unit_forget_bias=unit_forget_bias, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout,
            recurrent_dropout=recurrent_dropout, seed=seed)
        loop = _loop_kwargs(return_sequences, return_state, go_backwards, stateful, unroll,
                            kwargs)
        kwargs.pop("implementation", None)
        super().__init__(cell_kwargs, loop, dict(kwargs, activity_regularizer=activity_regularizer,
                                                 use_cudnn=use_cudnn))


class GRU(_CellRNN):
    """Gated Recurrent Unit (Cho et al. 2014) over the timesteps (an `RNN` over a `GRUCell`
    named "gru_cell"; Keras's weights and gate order z, r, h; `reset_after=True` by default).

    Args:
        units, activation ("tanh"), recurrent_activation ("sigmoid"), use_bias,
        kernel_initializer, recurrent_initializer, bias_initializer, kernel_regularizer,
        recurrent_regularizer, bias_regularizer, activity_regularizer, kernel_constraint,
        recurrent_constraint, bias_constraint, dropout, recurrent_dropout, seed,
        reset_after: as in `GRUCell`.
        return_sequences, return_state, go_backwards, stateful, unroll: as in `RNN`.
        use_cudnn: accepted for Keras ("auto", True or False).

    Input shape:
        `(batch, timesteps, features)`.
    Output shape:
        `(batch, timesteps, units)` with `return_sequences`, else `(batch, units)`; with
        `return_state`, `(output, h)`.
    """

    _cell_class = GRUCell
    _cell_name = "gru_cell"
    _extra_cell_args = ("reset_after",)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal",
                 bias_initializer="zeros", kernel_regularizer=None, recurrent_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, reset_after=True,
                 use_cudnn="auto", **kwargs):
        cell_kwargs = dict(
            units=units, activation=activation, recurrent_activation=recurrent_activation,
            use_bias=use_bias, kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer, bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
            dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
            reset_after=reset_after)
        loop = _loop_kwargs(return_sequences, return_state, go_backwards, stateful, unroll,
                            kwargs)
        kwargs.pop("implementation", None)
        super().__init__(cell_kwargs, loop, dict(kwargs, activity_regularizer=activity_regularizer,
                                                 use_cudnn=use_cudnn))


# ------------------------------------------------------------------------------ wrappers
def _clone(layer: Layer, **overrides) -> Layer:
    config = {**layer.get_config(), **overrides}
    return type(layer).from_config(config)


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards, and merges the outputs.

    The forward layer is a fresh copy of `layer` named "forward_<name>"; the backward one is
    `backward_layer`, or a fresh copy with `go_backwards` flipped named "backward_<name>".
    Their weights are listed forward first, as in Keras. With `return_sequences`, the backward
    outputs are flipped back to the input's time order, and masked steps output zeros.

    Args:
        layer: a recurrent layer (`LSTM`, `GRU`, `SimpleRNN`, `RNN`).
        merge_mode: "concat" (default), "sum", "mul", "ave", or None (a list of both outputs).
        weights: not supported (must be None); use `set_weights` after building.
        backward_layer: optional recurrent layer for the backward direction.

    Call arguments:
        mask, initial_state (forward states then backward states), training.

    Input shape:
        `(batch, timesteps, features)`.
    Output shape:
        The merged output (the last dimension doubled with "concat"); with `return_state`,
        `(output, *forward_states, *backward_states)`.
    """

    supports_masking = True

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer) or not hasattr(layer, "go_backwards"):
            raise ValueError(
                f"Layer '{self.name}' (Bidirectional) wraps a recurrent kerasx layer (LSTM, "
                f"GRU, SimpleRNN, RNN). Received: layer={layer!r}")
        if backward_layer is not None and (not isinstance(backward_layer, Layer) or
                                           not hasattr(backward_layer, "go_backwards")):
            raise ValueError(
                f"Layer '{self.name}' (Bidirectional): `backward_layer` must be a recurrent "
                f"kerasx layer. Received: backward_layer={backward_layer!r}")
        if merge_mode not in ("sum", "mul", "ave", "concat", None):
            raise ValueError(
                f"Layer '{self.name}' (Bidirectional): invalid merge mode. Received: "
                f"merge_mode={merge_mode!r}. Expected one of 'sum', 'mul', 'ave', 'concat', None.")
        if weights is not None:
            raise ValueError(
                f"Layer '{self.name}' (Bidirectional): the `weights` argument is not supported; "
                "build the layer and call `set_weights` instead.")
        base = layer.name[len("forward_"):] if layer.name.startswith("forward_") else layer.name
        forward = _clone(layer, name=f"forward_{base}")
        if backward_layer is None:
            base = layer.name[len("backward_"):] if layer.name.startswith("backward_") \
                else layer.name
            backward = _clone(layer, name=f"backward_{base}", go_backwards=not layer.go_backwards)
        else:
            backward = backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(
                f"Layer '{self.name}' (Bidirectional): the forward and backward layers should "
                f"have different `go_backwards` values. Received: forward_layer.go_backwards="
                f"{forward.go_backwards}, backward_layer.go_backwards={backward.go_backwards}")
        for attr in ("stateful", "return_sequences", "return_state"):
            if getattr(forward, attr) != getattr(backward, attr):
                raise ValueError(
                    f"Layer '{self.name}' (Bidirectional): the forward and backward layers are "
                    f"expected to have the same value for attribute '{attr}', got "
                    f"{getattr(forward, attr)} for the forward layer and "
                    f"{getattr(backward, attr)} for the backward layer.")
        for sub in (forward, backward):
            if hasattr(sub, "zero_output_for_mask"):
                sub.zero_output_for_mask = sub.return_sequences
        self.forward_layer = forward
        self.backward_layer = backward
        self.merge_mode = merge_mode
        self.stateful = forward.stateful
        self.return_sequences = forward.return_sequences
        self.return_state = forward.return_state
        self._stateful_batch = self._batch_size_arg

    def _keys(self):
        return [k for k, _ in self._sublayer_items()]

    def __call__(self, inputs, *args, **kwargs):
        if self.stateful and isinstance(inputs, KerasTensor):
            for sub in (self.forward_layer, self.backward_layer):
                if inputs.shape[0] is None:
                    raise ValueError(
                        f"Layer '{self.name}' (Bidirectional) is stateful, which needs a fixed "
                        f"batch size, but its input has shape {shape_str(inputs.shape)}. Use "
                        "`kerasx.Input(batch_shape=(batch, timesteps, features))`.")
                sub._stateful_batch = inputs.shape[0]
        return super().__call__(inputs, *args, **kwargs)

    def _build_for(self, spec):
        if self.stateful and hasattr(spec, "shape"):
            for sub in (self.forward_layer, self.backward_layer):
                if getattr(sub, "_stateful_batch", None) is None:
                    sub._stateful_batch = int(spec.shape[0])
        super()._build_for(spec)

    def init(self, rng, input_spec, *args, **kwargs):
        kf, kb = self._keys()
        k1, k2 = jax.random.split(rng)
        pf, sf = self.forward_layer.init(k1, input_spec)
        pb, sb = self.backward_layer.init(k2, input_spec)
        return {kf: pf, kb: pb}, {kf: sf, kb: sb}

    def weight_names(self):
        return []

    def apply(self, params, state, inputs, *, training=False, rng=None, mask=None,
              initial_state=None):
        kf, kb = self._keys()
        fwd_state = bwd_state = None
        if initial_state is not None:
            initial_state = list(initial_state)
            half = len(initial_state) // 2
            fwd_state, bwd_state = initial_state[:half], initial_state[half:]
        rf = rb = None
        if rng is not None:
            rf, rb = jax.random.split(rng)
        kw = {} if mask is None else {"mask": mask}
        y, sf = apply_layer(self.forward_layer, params[kf], state[kf], inputs,
                            training=training, rng=rf, initial_state=fwd_state, **kw)
        y_rev, sb = apply_layer(self.backward_layer, params[kb], state[kb], inputs,
                                training=training, rng=rb, initial_state=bwd_state, **kw)
        states = ()
        if self.return_state:
            states = tuple(y[1:]) + tuple(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = jnp.flip(y_rev, axis=1)
        if self.merge_mode == "concat":
            out = jnp.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            out = y + y_rev
        elif self.merge_mode == "ave":
            out = (y + y_rev) / 2
        elif self.merge_mode == "mul":
            out = y * y_rev
        else:
            out = (y, y_rev)
        new_state = {**state, kf: sf, kb: sb}
        if self.return_state:
            return ((*out, *states) if self.merge_mode is None else (out, *states)), new_state
        return out, new_state

    def compute_mask(self, inputs, previous_mask=None):
        mask = previous_mask
        if _is_nested(mask):
            mask = mask[0] if mask else None
        if mask is not None and jnp.ndim(mask) == 3:
            mask = mask[..., 0]
        if self.return_sequences:
            out = [mask, mask] if self.merge_mode is None else mask
        else:
            out = [None, None] if self.merge_mode is None else None
        if out is None or (isinstance(out, list) and out[0] is None):
            return None
        if self.return_state:
            n = 2 * len(jax.tree.leaves(self.forward_layer.state_size))
            return (out if isinstance(out, list) else [out]) + [None] * n
        return out

    def reset_states(self):
        self.reset_state()

    def reset_state(self):
        """Zeroes the carried states of both directions (stateful layers)."""
        for sub in (self.forward_layer, self.backward_layer):
            if hasattr(sub, "reset_state"):
                sub.reset_state()

    def get_config(self):
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": serialize_layer(self.forward_layer),
                "backward_layer": serialize_layer(self.backward_layer)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["layer"] = deserialize_layer(config["layer"], custom_objects)
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize_layer(config["backward_layer"], custom_objects)
        return super().from_config(config)


class TimeDistributed(Wrapper):
    """Applies a layer to every timestep of its input (the same weights at each step).

    The steps run in a `jax.lax.scan` over the time axis: a layer with state (BatchNorm
    statistics) updates it step by step, and a stochastic layer draws fresh noise at each
    step, as in Keras. A mask `(batch, timesteps)` is passed on to a layer that takes one
    (one `(batch,)` slice per step) and is the output's mask too.

    Args:
        layer: the layer to apply.

    Input shape:
        `(batch, timesteps, ...)`: rank 3 or more.
    Output shape:
        `(batch, timesteps) + the layer's output shape for (batch, ...)`.
    """

    supports_masking = True

    def __init__(self, layer, **kwargs):
        super().__init__(layer, **kwargs)

    def _key(self):
        return self._sublayer_items()[0][0]

    def _step_spec(self, spec):
        if not hasattr(spec, "shape") or len(spec.shape) < 3:
            shape = shape_str(spec.shape) if hasattr(spec, "shape") else spec
            raise ValueError(
                f"Layer '{self.name}' (TimeDistributed) expects inputs of rank 3 or more "
                f"(batch, timesteps, ...). Received: inputs of shape {shape}")
        return jax.ShapeDtypeStruct((spec.shape[0],) + tuple(spec.shape[2:]), spec.dtype)

    def init(self, rng, input_spec, *args, **kwargs):
        p, s = self.layer.init(rng, self._step_spec(as_spec(input_spec)))
        key = self._key()
        return {key: p}, {key: s}

    def weight_names(self):
        return []

    def apply(self, params, state, inputs, *, training=False, rng=None, mask=None):
        self._step_spec(as_spec(inputs))
        key = self._key()
        if mask is not None:
            mask = jnp.asarray(mask)
            if mask.ndim < 2 or tuple(mask.shape[:2]) != tuple(inputs.shape[:2]):
                raise ValueError(
                    f"Layer '{self.name}' (TimeDistributed) expects a mask whose first two "
                    f"dimensions (batch, timesteps) match the inputs' "
                    f"{shape_str(inputs.shape[:2])}. Received: mask of shape "
                    f"{shape_str(mask.shape)}")
        pass_mask = mask is not None and takes_mask(self.layer)
        xs = jnp.swapaxes(inputs, 0, 1)
        ms = jnp.swapaxes(mask, 0, 1) if pass_mask else None
        steps = jnp.arange(xs.shape[0])

        def body(s, inp):
            x_t, t, m_t = inp
            step_rng = None if rng is None else jax.random.fold_in(rng, t)
            kw = {} if m_t is None else {"mask": m_t}
            out, s = apply_layer(self.layer, params[key], s, x_t, training=training,
                                 rng=step_rng, **kw)
            return s, out

        sub_state, outs = jax.lax.scan(body, state[key], (xs, steps, ms))
        outs = jax.tree.map(lambda o: jnp.swapaxes(o, 0, 1), outs)
        return outs, {**state, key: sub_state}

