"""Recurrent layers (SimpleRNN, LSTM, GRU, RNN over cells, Bidirectional, TimeDistributed,
Masking) against Keras 3 on the same weights: outputs, gradients, masks, state, training."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import layers
from kerasx.layers._base import as_spec
from keras_oracle import require_keras


def keras():
    return require_keras()


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _mask(batch=3, steps=5):
    """Padding at the end, at the start, in the middle, and none."""
    m = np.ones((batch, steps), bool)
    m[0, 3:] = False
    m[1, :2] = False
    if batch > 2:
        m[2, 2] = False
    return m


def _close(a, b, atol=1e-5):
    a = list(a) if isinstance(a, (list, tuple)) else [a]
    b = list(b) if isinstance(b, (list, tuple)) else [b]
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_allclose(np.asarray(u), np.asarray(v), atol=atol, rtol=atol)


def _pair(name, *args, **kwargs):
    ours = getattr(layers, name)(*args, **kwargs)
    theirs = getattr(keras().layers, name)(*args, **kwargs)
    return ours, theirs


def _run_both(ours, theirs, x, **call_kwargs):
    """Fresh kerasx weights loaded into the Keras layer; both outputs (kerasx's jitted too)."""
    params, state = ours.init(jax.random.key(1), as_spec(x))
    y, _ = jax.jit(lambda p, s, xx, kw: ours.apply(p, s, xx, **kw))(params, state, x, call_kwargs)
    spec = ours.output_spec(as_spec(x))
    assert jax.tree.map(lambda s: s.shape, spec) == jax.tree.map(lambda s: s.shape, y)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights_from(params, state))
    return y, theirs(x, **call_kwargs), params, state


CELL_LAYERS = [("SimpleRNN", {}), ("LSTM", {}), ("GRU", {}), ("GRU", dict(reset_after=False)),
               ("LSTM", dict(use_bias=False, unit_forget_bias=False)),
               ("SimpleRNN", dict(activation="relu"))]
LOOPS = [dict(), dict(return_sequences=True), dict(return_state=True),
         dict(go_backwards=True, return_sequences=True),
         dict(unroll=True, return_sequences=True, return_state=True),
         dict(go_backwards=True, unroll=True)]
# the default run: every layer and every loop option at least once; the full grid is slow
_QUICK = {(1, 2), (2, 3), (3, 4), (4, 5)}
OUTPUT_CASES = [pytest.param(n, k, l, id=f"{n}{k}-{l}",
                             marks=() if (i, j) in _QUICK else pytest.mark.slow)
                for i, (n, k) in enumerate(CELL_LAYERS) for j, l in enumerate(LOOPS)]


@pytest.mark.parametrize("name,kwargs,loop", OUTPUT_CASES)
def test_outputs_match_keras(name, kwargs, loop):
    x = _x((3, 5, 4))
    ours, theirs = _pair(name, 6, **kwargs, **loop)
    y, y_keras, params, _ = _run_both(ours, theirs, x)
    _close(y, y_keras)
    if loop.get("return_state"):
        assert isinstance(y, tuple) and len(y) == 1 + len(ours.state_size)


def test_weight_layouts_and_names_follow_keras():
    x = _x((2, 3, 4))
    for name, shapes in [("SimpleRNN", [(4, 6), (6, 6), (6,)]),
                         ("LSTM", [(4, 24), (6, 24), (24,)]),
                         ("GRU", [(4, 18), (6, 18), (2, 18)])]:
        layer = getattr(layers, name)(6)
        params, state = layer.init(jax.random.key(0), as_spec(x))
        assert [w.shape for w in layer.get_weights_from(params, state)] == shapes
        cell_key = {"SimpleRNN": "simple_rnn_cell", "LSTM": "lstm_cell", "GRU": "gru_cell"}[name]
        assert set(params) == {cell_key}
        assert set(params[cell_key]) == {"kernel", "recurrent_kernel", "bias"}
    assert layers.GRU(6, reset_after=False).init(
        jax.random.key(0), as_spec(x))[0]["gru_cell"]["bias"].shape == (18,)
    # unit_forget_bias: the forget block of the LSTM bias starts at one
    bias = layers.LSTM(3).init(jax.random.key(0), as_spec(x))[0]["lstm_cell"]["bias"]
    np.testing.assert_array_equal(bias, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])


MASK_LOOPS = {"seq": dict(return_sequences=True), "last": dict(),
              "backwards": dict(return_sequences=True, go_backwards=True),
              "zero_output": dict(return_sequences=True, zero_output_for_mask=True),
              "unroll": dict(return_sequences=True, unroll=True),
              "state": dict(return_state=True)}
_QUICK_MASK = {("LSTM", "seq"), ("GRU", "backwards"), ("SimpleRNN", "zero_output"),
               ("LSTM", "unroll")}
MASK_CASES = [pytest.param(n, l, id=f"{n}-{i}",
                           marks=() if (n, i) in _QUICK_MASK else pytest.mark.slow)
              for n in ("SimpleRNN", "LSTM", "GRU") for i, l in MASK_LOOPS.items()]


@pytest.mark.parametrize("name,loop", MASK_CASES)
def test_explicit_mask_matches_keras(name, loop):
    x, mask = _x((3, 5, 4)), _mask()
    ours, theirs = _pair(name, 5, **loop)
    y, y_keras, _, _ = _run_both(ours, theirs, x, mask=mask)
    _close(y, y_keras)


def test_mask_from_masking_layer_in_sequential_matches_keras():
    x = _x((3, 5, 4))
    x[0, 3:] = 0.0
    x[1, :2] = 0.0
    k = keras()
    ours = kerasx.Sequential([layers.Input((5, 4)), layers.Masking(0.0),
                              layers.LSTM(5, return_sequences=True), layers.GRU(3)])
    theirs = k.Sequential([k.Input((5, 4)), k.layers.Masking(0.0),
                           k.layers.LSTM(5, return_sequences=True), k.layers.GRU(3)])
    ours.build()
    theirs.set_weights(ours.get_weights())
    _close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))
    # the mask reaches the RNN (the result differs from running unmasked on the zeros)
    unmasked = kerasx.Sequential([layers.Input((5, 4)), layers.LSTM(5, return_sequences=True),
                                  layers.GRU(3)])
    unmasked.build()
    unmasked.set_weights(ours.get_weights())
    assert not np.allclose(unmasked.predict(x, verbose=0), ours.predict(x, verbose=0))


def test_masking_layer_matches_keras():
    x = _x((2, 4, 3))
    x[0, 1] = 0.5
    layer = layers.Masking(mask_value=0.5)
    y, _ = layer.apply({}, {}, x)
    k = keras().layers.Masking(mask_value=0.5)
    _close(y, k(x))
    np.testing.assert_array_equal(layer.compute_mask(x), np.asarray(k.compute_mask(x)))
    assert layer.compute_mask(x).shape == (2, 4) and not bool(layer.compute_mask(x)[0, 1])


@pytest.mark.slow
def test_mask_in_functional_model():
    k = keras()
    x = _x((3, 5, 4))
    x[2, 4:] = 0.0
    inp = layers.Input((5, 4))
    out = layers.SimpleRNN(4, return_sequences=True)(layers.Masking()(inp))
    ours = kerasx.Model(inp, out)
    kin = k.Input((5, 4))
    theirs = k.Model(kin, k.layers.SimpleRNN(4, return_sequences=True)(k.layers.Masking()(kin)))
    ours.build()
    theirs.set_weights(ours.get_weights())
    _close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


def _loss_grads_keras(theirs, weights, x, **call_kwargs):
    """Gradients of sum(outputs ** 2) w.r.t. the Keras layer's weights (Keras order)."""
    theirs.set_weights(weights)
    tv = [v.value for v in theirs.trainable_variables]
    ntv = [v.value for v in theirs.non_trainable_variables]

    def loss(tv_):
        y, _ = theirs.stateless_call(tv_, ntv, x, **call_kwargs)
        return sum(jnp.sum(t ** 2) for t in jax.tree.leaves(y))

    order = {id(v): i for i, v in enumerate(theirs.trainable_variables)}
    grads = jax.grad(loss)(tv)
    return [grads[order[id(v)]] for v in theirs.weights]


@pytest.mark.parametrize("name,loop,masked", [
    ("LSTM", dict(return_sequences=True), True),
    ("GRU", dict(return_state=True, go_backwards=True), True),
    pytest.param("SimpleRNN", dict(go_backwards=True), False, marks=pytest.mark.slow),
    pytest.param("LSTM", dict(unroll=True), True, marks=pytest.mark.slow),
])
def test_gradients_match_keras(name, loop, masked):
    x = _x((3, 5, 4))
    kw = {"mask": _mask()} if masked else {}
    ours, theirs = _pair(name, 4, **loop)
    params, state = ours.init(jax.random.key(2), as_spec(x))
    theirs.build(x.shape)

    def loss(p):
        y, _ = ours.apply(p, state, x, **kw)
        return sum(jnp.sum(t ** 2) for t in jax.tree.leaves(y))

    grads = ours.get_weights_from(jax.grad(loss)(params), state)
    expected = _loss_grads_keras(theirs, ours.get_weights_from(params, state), x, **kw)
    _close(grads, expected, atol=1e-4)


def test_stateful_over_two_batches_matches_keras():
    k = keras()
    x1, x2 = _x((2, 4, 3), 1), _x((2, 4, 3), 2)
    ours = layers.LSTM(5, stateful=True, return_sequences=True)
    theirs = k.layers.LSTM(5, stateful=True, return_sequences=True)
    y1 = ours(x1)  # the eager call builds it for this batch size
    theirs.build(x1.shape)
    theirs.set_weights(ours.get_weights())
    _close(y1, theirs(x1))
    _close(ours(x2), theirs(x2))  # continues from the states left by the first batch
    assert len(ours.get_weights()) == 3  # carried states are not weights (as in Keras)
    ours.reset_states()
    theirs.reset_states()
    _close(ours(x2), theirs(x2))
    fresh = layers.LSTM(5, return_sequences=True)
    fresh(x2)
    fresh.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.states[0], np.asarray(fresh(x2))[:, -1], atol=1e-5)


def test_stateful_model_keeps_state_across_calls_and_fit_runs():
    x1, x2 = _x((2, 4, 3), 1), _x((2, 4, 3), 2)
    rnn = layers.GRU(3, stateful=True, batch_size=2, input_shape=(4, 3))
    model = kerasx.Sequential([rnn])
    first = np.asarray(model(x1))
    second = np.asarray(model(x2))  # continues from the states the first call left
    rnn.reset_states()
    assert not np.allclose(second, model(x2))
    rnn.reset_states()
    np.testing.assert_allclose(first, model(x1), atol=1e-6)
    model.compile(optimizer=kerasx.optimizers.SGD(0.1), loss="mse")
    model.fit(np.concatenate([x1, x2]), np.ones((4, 3), "float32"), batch_size=2,
              shuffle=False, verbose=0)
    assert rnn.states[0].shape == (2, 3) and np.abs(rnn.states[0]).sum() > 0
    # the pure API threads the carried states explicitly
    layer = layers.LSTM(4, stateful=True, return_sequences=True)
    params, state = layer.init(jax.random.key(0), as_spec(x1))
    step = jax.jit(lambda p, s, x: layer.apply(p, s, x))
    y1, state = step(params, state, x1)
    y2, state = step(params, state, x2)
    ref = layers.LSTM(4, return_sequences=True)
    h = ref.apply(params, {"lstm_cell": {}}, np.concatenate([x1, x2], axis=1))[0]
    np.testing.assert_allclose(np.concatenate([y1, y2], axis=1), h, atol=1e-5)


def test_initial_state_argument_matches_keras():
    x = _x((2, 4, 3))
    h0, c0 = _x((2, 5), 3), _x((2, 5), 4)
    ours, theirs = _pair("LSTM", 5, return_sequences=True)
    y, y_keras, _, _ = _run_both(ours, theirs, x, initial_state=[h0, c0])
    _close(y, y_keras)
    with pytest.raises(ValueError, match="initial_state"):
        params, state = ours.init(jax.random.key(0), as_spec(x))
        ours.apply(params, state, x, initial_state=[h0])


def test_training_dropout_is_seeded_by_rng_and_constant_over_time():
    x = _x((4, 6, 3))
    layer = layers.SimpleRNN(5, dropout=0.5, recurrent_dropout=0.3, return_sequences=True)
    params, state = layer.init(jax.random.key(0), as_spec(x))
    y_inf, _ = layer.apply(params, state, x)
    train = jax.jit(lambda p, s, xx, r: layer.apply(p, s, xx, training=True, rng=r))
    y1, _ = train(params, state, x, jax.random.key(1))
    y2, _ = train(params, state, x, jax.random.key(1))
    y3, _ = train(params, state, x, jax.random.key(2))
    np.testing.assert_array_equal(y1, y2)
    assert not np.allclose(y1, y_inf) and not np.allclose(y1, y3)
    with pytest.raises(ValueError, match="random key"):
        layer.apply(params, state, x, training=True)
    # the same input mask at every step: a zero-recurrent SimpleRNN with a linear activation
    # drops the same input features at each step
    lin = layers.SimpleRNN(3, dropout=0.5, activation="linear", use_bias=False,
                           return_sequences=True)
    p, s = lin.init(jax.random.key(0), as_spec(x))
    p = {"simple_rnn_cell": {"kernel": jnp.eye(3), "recurrent_kernel": jnp.zeros((3, 3))}}
    ones = jnp.ones((4, 6, 3))
    y, _ = lin.apply(p, s, ones, training=True, rng=jax.random.key(5))
    np.testing.assert_array_equal(y[:, 0], y[:, -1])
    assert set(np.unique(np.asarray(y))) <= {0.0, 2.0}


@pytest.mark.slow
def test_lstm_and_gru_training_dropout():
    """Per-gate masks with recurrent_dropout: they run and differ from inference."""
    x = _x((4, 6, 3))
    for cls in (layers.LSTM, layers.GRU):
        l = cls(4, dropout=0.2, recurrent_dropout=0.2)
        p, s = l.init(jax.random.key(0), as_spec(x))
        both = jax.jit(lambda p_, s_, xx: (l.apply(p_, s_, xx, training=True,
                                                   rng=jax.random.key(0))[0],
                                           l.apply(p_, s_, xx)[0]))
        assert not np.allclose(*both(p, s, x))


# ------------------------------------------------------------------------------ cells
def test_cells_step_like_keras():
    k = keras()
    x = _x((3, 4))
    for name, states in [("SimpleRNNCell", [_x((3, 5), 1)]),
                         ("LSTMCell", [_x((3, 5), 1), _x((3, 5), 2)]),
                         ("GRUCell", [_x((3, 5), 1)])]:
        cell = getattr(layers, name)(5)
        params, state = cell.init(jax.random.key(0), as_spec(x))
        (out, new), _ = cell.apply(params, state, x, states)
        kcell = getattr(k.layers, name)(5)
        kcell.build(x.shape)
        kcell.set_weights(cell.get_weights_from(params, state))
        kout, knew = kcell(x, states)
        _close(out, kout)
        _close(new, knew)


def test_rnn_over_cells_and_stacked_cells_matches_keras():
    k = keras()
    x = _x((3, 5, 4))
    ours = layers.RNN([layers.LSTMCell(4), layers.GRUCell(3), layers.SimpleRNNCell(2)],
                      return_sequences=True, return_state=True)
    theirs = k.layers.RNN([k.layers.LSTMCell(4), k.layers.GRUCell(3),
                           k.layers.SimpleRNNCell(2)], return_sequences=True, return_state=True)
    y, y_keras, _, _ = _run_both(ours, theirs, x)
    assert len(y) == 4 and isinstance(ours.cell, layers.StackedRNNCells)
    _close(jax.tree.leaves(y), jax.tree.leaves(y_keras))


@pytest.mark.slow
def test_masked_stacked_cells_match_keras():
    k = keras()
    x = _x((3, 5, 4))
    ours2 = layers.RNN(layers.StackedRNNCells([layers.GRUCell(3), layers.LSTMCell(2)]),
                       return_sequences=True)
    theirs2 = k.layers.RNN(k.layers.StackedRNNCells([k.layers.GRUCell(3), k.layers.LSTMCell(2)]),
                           return_sequences=True)
    y, y_keras, _, _ = _run_both(ours2, theirs2, x, mask=_mask())
    _close(y, y_keras)


class MinimalCell(layers.Layer):
    """The Keras guide's user-written cell (kerasx version)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                name="recurrent_kernel")

    def get_config(self):
        return {**super().get_config(), "units": self.units}

    def call(self, inputs, states):
        prev = states[0]
        out = jnp.tanh(inputs @ self.kernel + prev @ self.recurrent_kernel)
        return out, [out]


def _keras_minimal_cell(units):
    k = keras()

    class KMinimalCell(k.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units),
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            out = k.ops.tanh(k.ops.matmul(inputs, self.kernel) +
                             k.ops.matmul(states[0], self.recurrent_kernel))
            return out, [out]

    return KMinimalCell(units)


@pytest.mark.parametrize("loop", [dict(return_sequences=True),
                                  pytest.param(dict(return_state=True), marks=pytest.mark.slow)])
def test_user_written_cell_matches_keras(loop):
    k = keras()
    x = _x((3, 5, 4))
    ours = layers.RNN(MinimalCell(3), **loop)
    theirs = k.layers.RNN(_keras_minimal_cell(3), **loop)
    y, y_keras, _, _ = _run_both(ours, theirs, x, mask=_mask())
    _close(y, y_keras)
    # stacked with a built-in cell, eagerly on data
    stacked = layers.RNN([MinimalCell(3), layers.LSTMCell(2)])
    kst = k.layers.RNN([_keras_minimal_cell(3), k.layers.LSTMCell(2)])
    y = stacked(x)
    kst.build(x.shape)
    kst.set_weights(stacked.get_weights())
    _close(y, kst(x))


# ------------------------------------------------------------------------------ wrappers
@pytest.mark.parametrize("merge_mode", ["concat", None] + [
    pytest.param(m, marks=pytest.mark.slow) for m in ("sum", "mul", "ave")])
def test_bidirectional_merge_modes_match_keras(merge_mode):
    k = keras()
    x = _x((3, 5, 4))
    ours = layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode=merge_mode)
    theirs = k.layers.Bidirectional(k.layers.LSTM(3, return_sequences=True),
                                    merge_mode=merge_mode)
    y, y_keras, params, _ = _run_both(ours, theirs, x)
    _close(jax.tree.leaves(y), jax.tree.leaves(y_keras))
    assert list(params) == ["forward_lstm", "backward_lstm"]
    y, _ = ours.apply(params, {"forward_lstm": {"lstm_cell": {}}, "backward_lstm": {"lstm_cell": {}}},
                      x, mask=_mask())
    _close(jax.tree.leaves(y), jax.tree.leaves(theirs(x, mask=_mask())))


def test_bidirectional_return_state_backward_layer_and_masks_match_keras():
    k = keras()
    x = _x((3, 5, 4))
    ours = layers.Bidirectional(layers.GRU(3, return_state=True),
                                backward_layer=layers.GRU(3, return_state=True,
                                                          go_backwards=True, activation="relu"))
    theirs = k.layers.Bidirectional(k.layers.GRU(3, return_state=True),
                                    backward_layer=k.layers.GRU(3, return_state=True,
                                                                go_backwards=True,
                                                                activation="relu"))
    y, y_keras, _, _ = _run_both(ours, theirs, x, mask=_mask())
    assert len(y) == 3
    _close(y, y_keras)
    # in a Sequential model after Masking
    xs = _x((3, 5, 4))
    xs[0, 3:] = 0
    ours = kerasx.Sequential([layers.Input((5, 4)), layers.Masking(),
                              layers.Bidirectional(layers.SimpleRNN(3, return_sequences=True)),
                              layers.Bidirectional(layers.LSTM(2), merge_mode="sum")])
    theirs = k.Sequential([k.Input((5, 4)), k.layers.Masking(),
                           k.layers.Bidirectional(k.layers.SimpleRNN(3, return_sequences=True)),
                           k.layers.Bidirectional(k.layers.LSTM(2), merge_mode="sum")])
    ours.build()
    theirs.set_weights(ours.get_weights())
    _close(ours.predict(xs, verbose=0), theirs.predict(xs, verbose=0))


def test_time_distributed_matches_keras_and_passes_masks():
    k = keras()
    x = _x((3, 5, 4))
    ours, theirs = layers.TimeDistributed(layers.Dense(2)), k.layers.TimeDistributed(
        k.layers.Dense(2))
    y, y_keras, params, _ = _run_both(ours, theirs, x)
    _close(y, y_keras)
    assert y.shape == (3, 5, 2)
    x4 = _x((2, 3, 6, 2))
    ours = layers.TimeDistributed(layers.Conv1D(3, 2))
    theirs = k.layers.TimeDistributed(k.layers.Conv1D(3, 2))
    y, y_keras, _, _ = _run_both(ours, theirs, x4)
    _close(y, y_keras)
    # Masking -> TimeDistributed(Dense) -> LSTM: the mask passes through to the LSTM
    xm = _x((3, 5, 4))
    xm[1, :3] = 0
    ours = kerasx.Sequential([layers.Input((5, 4)), layers.Masking(),
                              layers.TimeDistributed(layers.Dense(3)), layers.LSTM(2)])
    theirs = k.Sequential([k.Input((5, 4)), k.layers.Masking(),
                           k.layers.TimeDistributed(k.layers.Dense(3)), k.layers.LSTM(2)])
    ours.build()
    theirs.set_weights(ours.get_weights())
    _close(ours.predict(xm, verbose=0), theirs.predict(xm, verbose=0))


def test_fit_two_epochs_matches_keras():
    k = keras()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 5, 3)).astype("float32")
    y = rng.normal(size=(16, 2)).astype("float32")
    ours = kerasx.Sequential([layers.Input((5, 3)), layers.LSTM(4), layers.Dense(2)])
    theirs = k.Sequential([k.Input((5, 3)), k.layers.LSTM(4), k.layers.Dense(2)])
    ours.build()
    theirs.set_weights(ours.get_weights())
    ours.compile(optimizer=kerasx.optimizers.SGD(0.1), loss="mse")
    theirs.compile(optimizer=k.optimizers.SGD(0.1), loss="mse")
    ours.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    _close(ours.get_weights(), theirs.get_weights(), atol=1e-4)


# ------------------------------------------------------------------------------ errors
def test_bad_input_errors():
    x2 = _x((3, 4))
    with pytest.raises(ValueError, match=r"rank 3.*\(3, 4\)"):
        layers.LSTM(3).init(jax.random.key(0), as_spec(x2))
    with pytest.raises(ValueError, match=r"rank 3"):
        layers.RNN(layers.GRUCell(3)).init(jax.random.key(0), as_spec(x2))
    x = _x((3, 5, 4))
    layer = layers.GRU(3)
    params, state = layer.init(jax.random.key(0), as_spec(x))
    with pytest.raises(ValueError, match=r"mask of shape.*\(3, 5\).*\(3, 4\)"):
        layer.apply(params, state, x, mask=np.ones((3, 4), bool))
    with pytest.raises(ValueError, match="units"):
        layers.LSTM(0)
    with pytest.raises(ValueError, match="units"):
        layers.SimpleRNNCell(2.5)
    with pytest.raises(ValueError, match="dropout"):
        layers.GRU(3, dropout=1.5)
    with pytest.raises(ValueError, match="recurrent_dropout"):
        layers.LSTMCell(3, recurrent_dropout=-0.1)
    with pytest.raises(ValueError, match="use_cudnn"):
        layers.LSTM(3, use_cudnn="yes")
    with pytest.raises(ValueError, match="merge mode"):
        layers.Bidirectional(layers.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="recurrent"):
        layers.Bidirectional(layers.Dense(3))
    with pytest.raises(ValueError, match="go_backwards"):
        layers.Bidirectional(layers.LSTM(3), backward_layer=layers.LSTM(3))
    with pytest.raises(ValueError, match="state_size"):
        layers.RNN(layers.Dense(3))
    with pytest.raises(ValueError, match="rank 3 or more"):
        layers.TimeDistributed(layers.Dense(3)).init(jax.random.key(0), as_spec(x2))
    with pytest.raises(ValueError, match="timesteps"):
        td = layers.TimeDistributed(layers.Dense(3))
        p, s = td.init(jax.random.key(0), as_spec(x))
        td.apply(p, s, x, mask=np.ones((3, 2), bool))


def test_stateful_needs_a_fixed_batch_size():
    with pytest.raises(ValueError, match="fixed batch size"):
        layers.LSTM(3, stateful=True)(layers.Input((5, 4)))
    layer = layers.SimpleRNN(3, stateful=True)
    layer(_x((2, 5, 4)))
    with pytest.raises(ValueError, match="batch size 2"):
        layer(_x((3, 5, 4)))


def test_symbolic_shapes_and_summary():
    inp = layers.Input((None, 4))
    out = layers.Bidirectional(layers.LSTM(3, return_sequences=True))(inp)
    assert out.shape == (None, None, 6)
    seq, h, c = layers.LSTM(3, return_state=True)(inp)
    assert seq.shape == h.shape == c.shape == (None, 3)


def test_keras_model_json_with_recurrent_layers_loads_and_predicts_the_same():
    k = keras()
    x = _x((3, 5, 4))
    x[0, 3:] = 0
    theirs = k.Sequential([
        k.Input((5, 4)), k.layers.Masking(),
        k.layers.Bidirectional(k.layers.LSTM(3, return_sequences=True), merge_mode="sum"),
        k.layers.TimeDistributed(k.layers.Dense(2)),
        k.layers.RNN([k.layers.GRUCell(2), k.layers.SimpleRNNCell(3)])])
    ours = kerasx.models.model_from_json(theirs.to_json())
    ours.build()
    ours.set_weights(theirs.get_weights())
    _close(ours.predict(x, verbose=0), theirs.predict(x, verbose=0))


def test_regularizers_constraints_and_trainable_reach_the_cell_weights():
    k = keras()
    x = _x((2, 3, 4))
    ours = layers.LSTM(3, kernel_regularizer="l2", recurrent_regularizer="l1",
                       bias_constraint="non_neg")
    theirs = k.layers.LSTM(3, kernel_regularizer="l2", recurrent_regularizer="l1")
    ours(x)
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    _close(sorted(float(v) for v in ours.losses), sorted(float(v) for v in theirs.losses))
    assert ours.kernel_regularizer is ours.cell.kernel_regularizer
    assert type(ours.cell.bias_constraint).__name__ == "NonNeg"
    frozen = layers.GRU(2, trainable=False)
    frozen(x)
    assert len(frozen.trainable_weights) == 0 and len(frozen.non_trainable_weights) == 3


def test_encoder_decoder_with_states_as_initial_state_matches_keras():
    """The seq2seq pattern: an encoder's final states start a decoder (functional API)."""
    k = keras()
    enc_x, dec_x = _x((3, 5, 4), 0), _x((3, 6, 2), 1)

    def build(lib_layers, model_cls):
        ei, di = lib_layers.Input((5, 4)), lib_layers.Input((6, 2))
        _, h, c = lib_layers.LSTM(3, return_state=True)(ei)
        out = lib_layers.LSTM(3, return_sequences=True)(di, initial_state=[h, c])
        return model_cls([ei, di], lib_layers.TimeDistributed(lib_layers.Dense(2))(out))

    ours, theirs = build(layers, kerasx.Model), build(k.layers, k.Model)
    ours.build()
    theirs.set_weights(ours.get_weights())
    _close(ours.predict([enc_x, dec_x], verbose=0), theirs.predict([enc_x, dec_x], verbose=0))


@pytest.mark.slow
def test_model_with_recurrent_layers_saves_and_loads_in_kerasx_format(tmp_path):
    x = _x((3, 5, 4))
    model = kerasx.Sequential([layers.Input((5, 4)), layers.Masking(),
                               layers.Bidirectional(layers.GRU(3, return_sequences=True)),
                               layers.TimeDistributed(layers.Dense(2)),
                               layers.RNN([layers.LSTMCell(2), MinimalCell(2)])])
    path = str(tmp_path / "model.kerasx")
    model.save(path)
    loaded = kerasx.models.load_model(path, custom_objects={"MinimalCell": MinimalCell})
    _close(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("kind", ["sequential", "functional"])
def test_a_declared_batch_size_builds_stateful_models(kind):
    """`Input(batch_shape=(2, ...))` fixes the batch a model is built for, as in Keras: a stateful
    LSTM behind it needs no `batch_size=` of its own, and its states carry across batches."""
    import kerasx
    inp = kerasx.Input(batch_shape=(2, 5, 3))
    lstm = kerasx.layers.LSTM(4, stateful=True)
    model = kerasx.Sequential([inp, lstm]) if kind == "sequential" else kerasx.Model(inp, lstm(inp))
    x = np.random.default_rng(0).normal(size=(4, 5, 3)).astype("float32")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, np.zeros((4, 4), "float32"), batch_size=2, shuffle=False, verbose=0)
    assert lstm.states[0].shape == (2, 4)
    lstm.reset_states()
    first = np.asarray(model(x[:2]))
    assert not np.allclose(first, np.asarray(model(x[:2])))  # the states carried over
    lstm.reset_states()
    np.testing.assert_allclose(np.asarray(model(x[:2])), first, rtol=1e-6)


def test_embedding_mask_zero_drives_a_bidirectional_lstm_like_keras():
    """Keras's text-classification stack: Embedding(mask_zero=True) -> Bidirectional(LSTM) ->
    Dense, on padded sequences; the padding steps are skipped as in Keras."""
    import kerasx
    k = keras()
    x = np.array([[3, 5, 2, 0, 0], [7, 1, 0, 0, 0], [4, 4, 4, 4, 9]], "int32")
    models = []
    for lib in (kerasx, k):
        L = lib.layers
        models.append(lib.Sequential([L.Input((5,), dtype="int32"),
                                      L.Embedding(10, 4, mask_zero=True),
                                      L.Bidirectional(L.LSTM(3)), L.Dense(1)]))
    ours, theirs = models
    ours.build((None, 5))
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               atol=1e-5, rtol=1e-5)
    emb = ours.layers[0]
    np.testing.assert_array_equal(np.asarray(emb.compute_mask(x)), x != 0)
    assert kerasx.layers.Embedding(3, 2).compute_mask(x) is None


def test_a_user_cell_draws_new_randomness_at_every_step():
    """A Keras-style cell that drops units with `keras.random.dropout(seed=self.seed_generator)`
    gets a new mask at each time step (Keras's seed generator advances per call), not one
    mask repeated over the sequence; the same key gives the same draws."""
    import kerasx
    from kerasx import ops

    class DropCell(kerasx.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units, self.state_size = units, units
            self.seed_generator = kerasx.random.SeedGenerator(1)

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                          initializer="ones")

        def call(self, x, states, training=False):
            h = ops.matmul(x, self.kernel)
            if training:
                h = kerasx.random.dropout(h, 0.5, seed=self.seed_generator)
            return h, [h]

    for unroll in (False, True):
        rnn = kerasx.layers.RNN(DropCell(64), return_sequences=True, unroll=unroll)
        x = np.ones((1, 6, 2), "float32")
        params, state = rnn.init(jax.random.key(0), x)
        out, _ = rnn.apply(params, state, x, training=True, rng=jax.random.key(3))
        kept = np.asarray(out)[0] != 0  # (steps, units)
        assert len({tuple(row) for row in kept}) == 6, unroll  # six different masks
        again, _ = rnn.apply(params, state, x, training=True, rng=jax.random.key(3))
        np.testing.assert_array_equal(out, again)
