"""Input a user gets wrong, or in an unusual form: empty arrays, nested Python lists, targets
that would broadcast against the outputs."""

import re

import numpy as np
import pytest

import kerasx
from kerasx import layers

RNG = np.random.default_rng(0)
X = RNG.random((10, 2), dtype=np.float32)
Y = X.sum(axis=1, keepdims=True)


def model(units=1, loss="mse"):
    kerasx.utils.set_random_seed(1)
    m = kerasx.Sequential([layers.Input((2,)), layers.Dense(units)])
    m.compile(optimizer="sgd", loss=loss)
    return m


@pytest.mark.parametrize("call", ["fit", "evaluate", "train_on_batch", "test_on_batch"])
def test_empty_arrays_are_a_clear_error(call):
    empty_x, empty_y = np.zeros((0, 2), np.float32), np.zeros((0, 1), np.float32)
    m = model()
    with pytest.raises(ValueError, match=r"at least one sample.*0 samples.*\(0, 2\)"):
        getattr(m, call)(empty_x, empty_y, **({"verbose": 0} if call in ("fit", "evaluate") else {}))


def test_empty_validation_data_is_a_clear_error():
    with pytest.raises(ValueError, match="at least one sample"):
        model().fit(X, Y, verbose=0, validation_data=(X[:0], Y[:0]))


def test_predict_on_no_samples_returns_no_rows_of_the_output_shape():
    m = model(units=3)
    out = m.predict(np.zeros((0, 2), np.float32), verbose=0)
    assert out.shape == (0, 3) and out.dtype == np.float32
    unbuilt = kerasx.Sequential([layers.Dense(4)])
    assert unbuilt.predict(np.zeros((0, 7), np.float32), verbose=0).shape == (0, 4)


def test_nested_python_lists_work_as_the_arrays_they_spell():
    xs, ys = X.tolist(), Y.tolist()
    a = model()
    ha = a.fit(X, Y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    b = model()  # the same seed before its weights are drawn (at its first fit)
    hb = b.fit(xs, ys, batch_size=4, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(hb.history["loss"], ha.history["loss"], rtol=1e-6)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wb, wa, rtol=1e-6)
    np.testing.assert_allclose(b.predict(xs, verbose=0), a.predict(X, verbose=0), rtol=1e-6)
    assert b.evaluate(xs, Y[:, 0].tolist(), verbose=0) == pytest.approx(
        a.evaluate(X, Y, verbose=0), rel=1e-6)
    assert b.train_on_batch(xs[:4], ys[:4]) == pytest.approx(a.train_on_batch(X[:4], Y[:4]),
                                                             rel=1e-6)


def test_ragged_nested_lists_are_a_clear_error():
    with pytest.raises(ValueError, match=r"`x`.*nested lists of numbers of one rectangular"):
        model().fit([[0.1, 0.2], [0.3]], [[1.0], [2.0]], verbose=0)


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
@pytest.mark.parametrize("units, y_shape", [(1, (10, 5)), (3, (10, 1)), (2, (10, 3)),
                                            (1, (10, 2, 1))])
def test_targets_that_would_broadcast_against_the_outputs_are_an_error(loss, units, y_shape):
    m = model(units, loss)
    expected = re.escape(f"y_true.shape={tuple(y_shape)}, y_pred.shape=(10, {units})")
    with pytest.raises(ValueError, match=expected):
        m.fit(X, np.zeros(y_shape, np.float32), verbose=0)
    with pytest.raises(ValueError, match="entry by entry"):
        m.evaluate(X, np.zeros(y_shape, np.float32), verbose=0)


@pytest.mark.parametrize("y", [Y[:, 0], Y, Y[:, :, None]], ids=["(n,)", "(n, 1)", "(n, 1, 1)"])
def test_targets_with_or_without_a_trailing_axis_of_one_still_fit(y):
    """Keras adds or drops a trailing axis of 1 to match the outputs; those targets are fine."""
    h = model().fit(X, y, epochs=2, verbose=0)
    assert np.isfinite(h.history["loss"]).all()


def test_string_data_and_string_inputs_say_to_vectorize_first():
    import kerasx
    model = kerasx.Sequential([kerasx.layers.Input((1,)), kerasx.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="`x` holds strings.*TextVectorization"):
        model.fit(np.array([["a b"], ["c"]]), np.ones((2, 1)), verbose=0)
    with pytest.raises(ValueError, match="`x` holds Python objects.*pad_sequences"):
        model.predict(np.array([[1, 2], [3]], dtype=object), verbose=0)
    with pytest.raises(ValueError, match="numeric inputs.*dtype='string'.*TextVectorization"):
        kerasx.Input((1,), dtype="string")
