"""The RNN loop's input projection placement (`input_projection_placement` in
kerasx/layers/_recurrent.py): projecting all the timesteps before the loop computes what the
per-step projection (Keras's cell) computes, outputs and gradients, with masks, dropout,
go_backwards, unroll and mixed precision; and it matches Keras's LSTM/GRU on the same weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import layers
from kerasx.layers import _recurrent
from kerasx.layers._base import as_spec
from keras_oracle import require_keras


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _mask():
    m = np.ones((3, 6), bool)
    m[0, 4:] = False
    m[1, :2] = False
    m[2, 3] = False
    return m


def _both_placements(monkeypatch, fn):
    """fn() run with the projection forced before the loop, then inside it."""
    out = {}
    for placement in ("before_scan", "in_scan"):
        monkeypatch.setattr(_recurrent, "input_projection_placement",
                            lambda platform, p=placement: p)
        out[placement] = fn()
    return out["before_scan"], out["in_scan"]


def _close(a, b, atol=1e-5):
    for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(u, np.float32), np.asarray(v, np.float32),
                                   atol=atol, rtol=atol)


def test_the_choice_is_explicit_and_valid():
    for platform in ("cpu", "gpu", "tpu"):
        assert _recurrent.input_projection_placement(platform) in ("before_scan", "in_scan")
    assert _recurrent.input_projection_placement("cpu") == "in_scan"  # measured faster
    assert _recurrent.input_projection_placement("gpu") == "before_scan"  # unmeasured


CASES = [
    ("LSTM", dict(return_sequences=True), dict(mask=True)),
    ("GRU", dict(return_state=True, go_backwards=True), dict(mask=True)),
    ("GRU", dict(reset_after=False, dropout=0.3, recurrent_dropout=0.2,
                 return_sequences=True), dict(training=True)),
    ("LSTM", dict(dropout=0.3, recurrent_dropout=0.2, go_backwards=True), dict(training=True)),
    ("SimpleRNN", dict(dropout=0.4, unroll=True, return_sequences=True), dict(training=True)),
    ("LSTM", dict(dropout=0.3, return_state=True), dict(training=True, mask=True)),
]


@pytest.mark.parametrize("name,kwargs,call", CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(CASES)])
def test_placements_give_the_same_outputs_and_gradients(monkeypatch, name, kwargs, call):
    x = _x((3, 6, 5))
    layer = getattr(layers, name)(4, **kwargs)
    params, state = layer.init(jax.random.key(1), as_spec(x))
    kw = {"mask": _mask()} if call.get("mask") else {}
    if call.get("training"):
        kw.update(training=True, rng=jax.random.key(7))

    def run():
        def loss(p, xx):
            y, _ = layer.apply(p, state, xx, **kw)
            return sum(jnp.sum(t ** 2) for t in jax.tree.leaves(y)), y

        (_, y), grads = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))(
            params, x)
        return y, grads

    before, inside = _both_placements(monkeypatch, run)
    _close(before, inside)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_mixed_precision_placements_agree_and_match_keras(monkeypatch, name):
    """Under a mixed policy the states start in the compute dtype (Keras's cells do too); an
    LSTM with dtype="mixed_bfloat16" failed in its scan (float32 carry, bfloat16 update)."""
    k = require_keras()
    x = _x((3, 6, 5))
    layer = getattr(layers, name)(4, return_sequences=True, dtype="mixed_bfloat16")
    params, state = layer.init(jax.random.key(1), as_spec(x))

    def run():
        y, _ = jax.jit(lambda p, xx: layer.apply(p, state, xx))(params, x)
        return y

    before, inside = _both_placements(monkeypatch, run)
    assert before.dtype == inside.dtype == jnp.bfloat16
    _close(before, inside, atol=2e-2)
    theirs = getattr(k.layers, name)(4, return_sequences=True, dtype="mixed_bfloat16")
    theirs.build(x.shape)
    theirs.set_weights(layer.get_weights_from(params, state))
    expected = theirs(x)
    assert str(expected.dtype) == "bfloat16"
    _close(before, np.asarray(expected, np.float32), atol=3e-2)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_before_scan_matches_keras_with_gradients(monkeypatch, name):
    """The hoisted projection (kerasx's choice off the CPU) against Keras's per-step cell."""
    k = require_keras()
    monkeypatch.setattr(_recurrent, "input_projection_placement", lambda platform: "before_scan")
    x = _x((3, 6, 5))
    mask = _mask()
    ours = getattr(layers, name)(4, return_sequences=True)
    theirs = getattr(k.layers, name)(4, return_sequences=True)
    params, state = ours.init(jax.random.key(2), as_spec(x))
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights_from(params, state))

    def loss(p):
        return jnp.sum(ours.apply(p, state, x, mask=mask)[0] ** 2)

    _close(ours.apply(params, state, x, mask=mask)[0], np.asarray(theirs(x, mask=mask)))
    grads = ours.get_weights_from(jax.jit(jax.grad(loss))(params), state)
    tv = [v.value for v in theirs.trainable_variables]
    ntv = [v.value for v in theirs.non_trainable_variables]

    def keras_loss(tv_):
        y, _ = theirs.stateless_call(tv_, ntv, x, mask=mask)
        return jnp.sum(y ** 2)

    order = {id(v): i for i, v in enumerate(theirs.trainable_variables)}
    keras_grads = jax.grad(keras_loss)(tv)
    _close(grads, [keras_grads[order[id(v)]] for v in theirs.weights], atol=1e-4)


@pytest.mark.parametrize("name,kwargs", [
    ("LSTM", dict()), ("GRU", dict(go_backwards=True)),
    ("SimpleRNN", dict(zero_output_for_mask=True)), ("LSTM", dict(zero_output_for_mask=True)),
])
def test_last_output_without_stacked_outputs_matches_keras(name, kwargs):
    """Without return_sequences the loop keeps only the last output (no stacked outputs);
    the last step of row 0 is masked, which zero_output_for_mask turns into zeros."""
    k = require_keras()
    x = _x((3, 6, 5))
    mask = _mask()
    mask[0, -1] = False
    ours = getattr(layers, name)(4, return_state=True, **kwargs)
    theirs = getattr(k.layers, name)(4, return_state=True, **kwargs)
    params, state = ours.init(jax.random.key(3), as_spec(x))
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights_from(params, state))
    for m in (None, mask):
        kw = {} if m is None else {"mask": m}
        got, _ = jax.jit(lambda p, xx: ours.apply(p, state, xx, **kw))(params, x)
        _close(got, [np.asarray(t) for t in theirs(x, **kw)])
    full = getattr(layers, name)(4, return_sequences=True, **kwargs)
    seq, _ = full.apply(params, state, x, mask=mask)
    last, _ = ours.apply(params, state, x, mask=mask)
    _close(last[0], seq[:, -1])
