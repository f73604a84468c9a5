"""fit/evaluate/predict behaviour a user relies on, and the errors that teach."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import kerasx
from kerasx import layers
from kerasx.training import _trainer
from keras_oracle import require_keras
from training_support import CountTraces

RNG = np.random.default_rng(1)
X = RNG.normal(size=(50, 4)).astype("float32")
Y = RNG.integers(0, 3, 50)


def classifier(**compile_kw):
    model = kerasx.Sequential([layers.Input((4,)), layers.Dense(8, activation="relu"),
                               layers.Dense(3, activation="softmax")])
    model.compile(**{"optimizer": "adam", "loss": "sparse_categorical_crossentropy",
                     "metrics": ["accuracy"], **compile_kw})
    return model


def test_fit_traces_the_step_once_for_a_partial_last_batch():
    counter = CountTraces()
    model = kerasx.Sequential([layers.Input((4,)), counter, layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(X, Y, batch_size=16, epochs=3, verbose=0)  # 16+16+16+2: the 2 are padded
    # building the weights, inferring output shapes, one train step: not one per batch shape
    assert counter.traces == 3
    after_fit = counter.traces
    model.fit(X, Y, batch_size=16, epochs=1, verbose=0)  # a second fit reuses the compiled step
    assert counter.traces == after_fit
    model.evaluate(X, Y, batch_size=16, verbose=0)
    model.evaluate(X, Y, batch_size=16, verbose=0)
    assert counter.traces == after_fit + 1
    model.predict(X, batch_size=16, verbose=0)
    model.predict(X, batch_size=16, verbose=0)
    assert counter.traces == after_fit + 2


def test_fit_learns_and_history_records_epochs():
    model = classifier(optimizer=kerasx.optimizers.Adam(0.05))
    x = RNG.normal(size=(200, 4)).astype("float32")
    y = (x[:, 0] > 0).astype(int) + (x[:, 1] > 0)
    history = model.fit(x, y, epochs=8, batch_size=20, verbose=0)
    assert history.epoch == list(range(8))
    assert set(history.history) == {"loss", "accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert model.history is history
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.7
    assert model.evaluate(x, y, verbose=0, return_dict=True).keys() == {"loss", "accuracy"}


def test_evaluate_returns_a_scalar_without_metrics():
    model = classifier(metrics=None)
    loss = model.evaluate(X, Y, verbose=0)
    assert isinstance(loss, float)
    # the mean cross-entropy of the model's predictions
    probs = model.predict(X, verbose=0)
    np.testing.assert_allclose(loss, -np.mean(np.log(probs[np.arange(len(Y)), Y])), rtol=1e-5)


def test_fit_before_compile_is_an_error():
    model = kerasx.Sequential([layers.Dense(2, input_shape=(4,))])
    with pytest.raises(RuntimeError, match="must call `compile\\(\\)` before `fit\\(\\)`"):
        model.fit(X, Y)


def test_x_and_y_of_different_lengths():
    with pytest.raises(ValueError, match="same number of samples.*x: \\[50\\].*y: \\[49\\]"):
        classifier().fit(X, Y[:49], verbose=0)


def test_labels_that_do_not_fit_the_loss():
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy|to_categorical"):
        classifier(loss="categorical_crossentropy").fit(X, Y, verbose=0)
    with pytest.raises(ValueError, match="categorical_crossentropy"):
        classifier().fit(X, np.eye(3)[Y], verbose=0)
    bad = Y.copy()
    bad[3] = 7
    with pytest.raises(ValueError, match="7"):
        classifier().fit(X, bad, verbose=0)


@pytest.mark.parametrize("arg,value,valid", [("loss", "cross_entropy", "binary_crossentropy"),
                                             ("optimizer", "adamax2", "adam"),
                                             ("metrics", ["acuracy"], "accuracy")])
def test_unknown_names_list_the_valid_ones(arg, value, valid):
    with pytest.raises(ValueError, match=valid):
        classifier(**{arg: value}).fit(X, Y, verbose=0)


def test_wrong_input_shape_in_fit():
    with pytest.raises(ValueError, match="expected shape=\\(None, 4\\), found shape=\\(50, 5\\)"):
        classifier().fit(np.ones((50, 5), np.float32), Y, verbose=0)


def test_callbacks_see_hooks_and_can_stop_training():
    events = []

    class Recorder(kerasx.callbacks.Callback):
        def on_train_begin(self, logs=None):
            events.append("train_begin")

        def on_epoch_end(self, epoch, logs=None):
            events.append(("epoch_end", epoch, sorted(logs)))

        def on_train_batch_end(self, batch, logs=None):
            events.append(("batch", batch))
            if batch == 1 and len([e for e in events if e[0] == "epoch_end"]) == 1:
                self.model.stop_training = True

        def on_train_end(self, logs=None):
            events.append("train_end")

    history = classifier().fit(X, Y, batch_size=25, epochs=5, verbose=0, callbacks=[Recorder()],
                               validation_data=(X, Y))
    assert events[0] == "train_begin" and events[-1] == "train_end"
    assert ("epoch_end", 0, ["accuracy", "loss", "val_accuracy", "val_loss"]) in events
    assert len(history.epoch) == 2  # stopped during the second epoch


def test_fit_on_an_iterable_of_batches():
    """A list of `(x, y)` batches trains and evaluates as the same arrays in the same order."""
    batches = [(X[i:i + 10], Y[i:i + 10]) for i in range(0, 50, 10)]
    model, reference = classifier(), classifier()
    reference.set_weights(model.get_weights())
    history = model.fit(batches, epochs=2, verbose=0)
    expected = reference.fit(X, Y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 2
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(history.history[key], expected.history[key], rtol=1e-6,
                                   err_msg=key)
    for a, b in zip(model.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(model.evaluate(batches, verbose=0),
                               model.evaluate(X, Y, batch_size=10, verbose=0), rtol=1e-6)


def test_frozen_layer_keeps_its_weights():
    model = kerasx.Sequential([layers.Input((4,)), layers.Dense(8, name="frozen"), layers.Dense(3)])
    model.get_layer("frozen").trainable = False
    model.compile(optimizer=kerasx.optimizers.AdamW(0.1), loss="mse")
    before = np.asarray(model.params["frozen"]["kernel"])
    last = np.asarray(model.params["dense"]["kernel"])
    model.fit(X, RNG.normal(size=(50, 3)), epochs=1, verbose=0)
    np.testing.assert_array_equal(model.params["frozen"]["kernel"], before)
    assert not np.allclose(model.params["dense"]["kernel"], last)


def test_optax_transformation_schedule_and_plain_callables():
    def my_loss(y_true, y_pred):
        return jnp.mean(jnp.abs(y_true - y_pred), axis=-1)

    def my_metric(y_true, y_pred):
        return jnp.max(jnp.abs(y_true - y_pred), axis=-1)

    target = RNG.normal(size=(50, 2)).astype("float32")
    model = kerasx.Sequential([layers.Dense(2, input_shape=(4,))])
    schedule = optax.linear_schedule(0.1, 0.0, 10)
    model.compile(optimizer=optax.sgd(schedule), loss=my_loss, metrics=[my_metric])
    params = model.params
    history = model.fit(X, target, epochs=2, shuffle=False, verbose=0)
    assert set(history.history) == {"loss", "my_metric"}

    # The same training written by hand with optax: batches of 32 and 18, the loss averaged
    # over each batch's rows; the epoch's loss and metric average over samples (Keras weighs
    # each batch's loss by its size).
    state = model.state

    def batch_loss(p, x, y):
        return jnp.mean(my_loss(y, model.apply(p, state, x)[0]))

    tx = optax.sgd(schedule)
    opt_state = tx.init(params)
    for epoch in range(2):
        seen = {"loss": 0.0, "my_metric": 0.0}
        for start in (0, 32):
            x, y = X[start:start + 32], target[start:start + 32]
            seen["loss"] += len(x) * float(batch_loss(params, x, y))
            seen["my_metric"] += float(jnp.sum(my_metric(y, model.apply(params, state, x)[0])))
            updates, opt_state = tx.update(jax.grad(batch_loss)(params, x, y), opt_state, params)
            params = optax.apply_updates(params, updates)
        for key, total in seen.items():
            np.testing.assert_allclose(history.history[key][epoch], total / 50, rtol=1e-5,
                                       err_msg=key)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
                 model.params, params)

    # An optax schedule drives kerasx's Adam exactly as the Keras schedule of the same formula,
    # and it does change the training (a constant rate gives other weights).
    start = model.get_weights()

    def fit_adam(learning_rate):
        model.set_weights(start)
        model.compile(optimizer=kerasx.optimizers.Adam(learning_rate), loss="mae")
        model.fit(X, target, epochs=3, shuffle=False, verbose=0)
        return model.get_weights()

    with_optax = fit_adam(optax.exponential_decay(0.01, 5, 0.5))
    with_keras = fit_adam(kerasx.optimizers.schedules.ExponentialDecay(0.01, 5, 0.5))
    constant = fit_adam(0.01)
    for a, b in zip(with_optax, with_keras):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(with_optax[0], constant[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("donate", [False, True], ids=["default", "donating"])
def test_fit_does_not_invalidate_params_the_user_holds(monkeypatch, donate):
    """Arrays a user holds (read from `model.params`/`model.state`, or handed to the model by a
    callback during `fit`) stay valid and unchanged through fit, evaluate and predict.

    On accelerators the jitted executions donate the train state's buffers (`_donate()`), so
    the trainer must train on private copies. The CPU backend leaves donation off, so the
    "donating" variant forces it (JAX's CPU backend implements donation): there, without the
    copies, the held arrays would be deleted. `_donate` is read when the executions are
    created, so it is patched before compile/fit."""
    patched = []
    if donate:
        def donating():
            patched.append(True)
            return (0,)

        monkeypatch.setattr(_trainer, "_donate", donating)
    model = kerasx.Sequential([layers.Input((4,)), layers.Dense(8, activation="relu"),
                               layers.BatchNormalization(), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    held = (model.params, model.state)
    handed = jax.tree.map(jnp.array, model.params)  # the user's own arrays, given to the model

    class HandWeights(kerasx.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                self.model.params = handed  # adopted by the next execution (epoch 2)

    expected = jax.tree.map(np.array, (held, handed))  # host copies of the values
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[HandWeights()])
    model.evaluate(X, Y, verbose=0)
    model.predict(X, verbose=0)
    leaves = jax.tree.leaves((held, handed))
    assert len(leaves) == 6 + 2 + 6  # params: 2 Dense + BatchNorm's gamma, beta; its 2 statistics
    assert not [leaf for leaf in leaves if leaf.is_deleted()]
    jax.tree.map(np.testing.assert_array_equal, (held, handed), expected)
    # fit trained (the model holds new arrays), and the donating variant did run donating
    # executions.
    assert not np.array_equal(model.params["dense"]["kernel"], expected[1]["dense"]["kernel"])
    assert not np.array_equal(model.state["batch_normalization"]["moving_mean"],
                              expected[0][1]["batch_normalization"]["moving_mean"])
    assert bool(patched) == donate


def test_dropout_model_trains_and_predict_is_deterministic():
    model = kerasx.Sequential([layers.Input((4,)), layers.Dense(16, activation="relu"),
                               layers.Dropout(0.5), layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = model.get_weights()
    history = model.fit(X, Y, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert not np.array_equal(model.get_weights()[0], before[0])  # it trained
    pred = model.predict(X, verbose=0)
    np.testing.assert_array_equal(pred, model.predict(X, verbose=0))
    # predict runs in inference mode: Dropout passes its input through, so the same network
    # without the Dropout layer predicts the same...
    twin = kerasx.Sequential([layers.Input((4,)), layers.Dense(16, activation="relu"),
                              layers.Dense(3, activation="softmax")])
    twin.set_weights(model.get_weights())
    np.testing.assert_allclose(pred, twin.predict(X, verbose=0), rtol=1e-6, atol=1e-7)
    # ...while in training mode it drops units.
    dropped, _ = model.apply(model.params, model.state, X, training=True, rng=jax.random.key(0))
    assert not np.allclose(dropped, pred, atol=1e-3)


def test_set_random_seed_makes_fit_reproducible():
    def run():
        kerasx.utils.set_random_seed(7)
        model = kerasx.Sequential([layers.Input((4,)), layers.Dense(8), layers.Dropout(0.3),
                                   layers.Dense(3, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(X, Y, epochs=2, batch_size=8, verbose=0)
        return model.get_weights()

    for a, b in zip(run(), run()):
        np.testing.assert_array_equal(a, b)


def test_progress_bar_output(capsys):
    classifier().fit(X, Y, batch_size=25, epochs=2, verbose=1)
    out = capsys.readouterr().out
    assert "Epoch 1/2" in out and "2/2" in out and "accuracy:" in out and "loss:" in out
    classifier().fit(X, Y, batch_size=25, epochs=2, verbose=2)
    out = capsys.readouterr().out
    assert out.count("2/2 - ") == 2


def test_initial_epoch_and_steps_per_epoch():
    model = classifier()
    history = model.fit(X, Y, batch_size=10, epochs=3, initial_epoch=1, steps_per_epoch=2, verbose=0)
    assert history.epoch == [1, 2]
    assert int(model._trainer.opt_state.iterations) == 4  # 2 epochs x 2 steps


@pytest.mark.parametrize("source", ["arrays", "generator"])
def test_evaluate_and_predict_steps_limit_the_batches_as_in_keras(source):
    keras = require_keras()  # the oracle; skips this test without Keras
    model = classifier()
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                               keras.layers.Dense(3, activation="softmax")])
    theirs.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    theirs.set_weights(model.get_weights())

    def data(with_y=True):
        if source == "arrays":
            return (X, Y) if with_y else (X,)
        batches = ((X[i:i + 8], Y[i:i + 8]) for i in range(0, 50, 8))
        return (batches,) if with_y else ((b[0] for b in batches),)

    kw = {"batch_size": 8} if source == "arrays" else {}
    ours = model.evaluate(*data(), steps=3, verbose=0, **kw)
    np.testing.assert_allclose(ours, theirs.evaluate(*data(), steps=3, verbose=0, **kw), rtol=1e-6)
    np.testing.assert_allclose(ours, model.evaluate(X[:24], Y[:24], verbose=0), rtol=1e-6)
    pred = model.predict(*data(with_y=False), steps=3, verbose=0, **kw)
    assert pred.shape == (24, 3)
    np.testing.assert_allclose(pred, theirs.predict(X[:24], verbose=0), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match=r"steps.*Received: steps=0"):
        model.evaluate(X, Y, steps=0, verbose=0)


def test_a_generator_that_runs_out_stops_training_with_keras_warning():
    def batches():
        for i in range(0, 40, 8):
            yield X[i:i + 8], Y[i:i + 8]

    model = classifier()
    with pytest.warns(UserWarning, match="Your input ran out of data; interrupting training"):
        history = model.fit(batches(), epochs=3, verbose=0)
    # The generator served one epoch; no empty epochs are reported.
    assert history.epoch == [0] and len(history.history["loss"]) == 1
    assert model.optimizer.iterations == 5
    with pytest.warns(UserWarning, match="ran out of data"):
        history = model.fit(batches(), epochs=3, steps_per_epoch=3, verbose=0)
    assert history.epoch == [0, 1] and len(history.history["loss"]) == 2
    # A list of batches is iterated afresh every epoch: no warning.
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        history = model.fit(list(batches()), epochs=3, verbose=0)
    assert history.epoch == [0, 1, 2]


def test_steps_per_epoch_beyond_the_data_warns_once():
    model = classifier()
    with pytest.warns(UserWarning, match=r"steps_per_epoch=9 is more than the 4 batches of 16") as rec:
        history = model.fit(X, Y, batch_size=16, steps_per_epoch=9, epochs=2, verbose=0)
    assert len(rec) == 1 and rec[0].filename == __file__
    assert model.optimizer.iterations == 8 and history.epoch == [0, 1]


def test_data_of_a_nearby_size_reuses_the_compiled_programs():
    counter = CountTraces()
    model = kerasx.Sequential([layers.Input((4,)), counter, layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = RNG.normal(size=(1010, 4)).astype("float32")
    y = RNG.integers(0, 3, 1010)
    model.fit(x[:1000], y[:1000], batch_size=32, verbose=0)
    model.evaluate(x[:1000], y[:1000], batch_size=32, verbose=0)
    after = counter.traces
    # 1000 and 1010 rows share a size bucket (1024): no new trace for fit or evaluate.
    history = model.fit(x, y, batch_size=32, verbose=0)
    model.evaluate(x, y, batch_size=32, verbose=0)
    assert counter.traces == after
    # predict too: 970 and 1010 rows run 31 and 32 batches of 32, in one bucket (1024).
    np.testing.assert_allclose(model.predict(x[:970], batch_size=32, verbose=0),
                               model.predict(x, batch_size=32, verbose=0)[:970], rtol=1e-6)
    assert model.predict(x, batch_size=32, verbose=0).shape == (1010, 3)
    assert counter.traces == after + 1  # one predict program for both sizes
    # ...and the padding rows are never trained on or counted: 1010 rows, 32 steps.
    assert model.optimizer.iterations == 32 + 32
    np.testing.assert_allclose(model.evaluate(x, y, batch_size=32, verbose=0),
                               model.evaluate(x, y, batch_size=1010, verbose=0), rtol=1e-5)
    assert np.isfinite(history.history["loss"][0])


def test_validation_steps_limits_the_validation_batches_as_in_keras():
    keras = require_keras()  # the oracle; skips this test without Keras
    model = classifier(optimizer="sgd")
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                               keras.layers.Dense(3, activation="softmax")])
    theirs.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    theirs.set_weights(model.get_weights())
    vx, vy = X[:30], Y[:30]
    kw = dict(batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=(vx, vy),
              validation_steps=2)
    ours = model.fit(X, Y, **kw).history
    keras_history = theirs.fit(X, Y, **kw).history
    for key in ("val_loss", "val_accuracy"):
        np.testing.assert_allclose(ours[key], keras_history[key], rtol=1e-5, err_msg=key)
    # Two batches of 8: the first 16 validation samples.
    np.testing.assert_allclose(ours["val_loss"][-1],
                               model.evaluate(vx[:16], vy[:16], verbose=0)[0], rtol=1e-6)


def test_a_validation_generator_that_runs_out_warns():
    def batches():
        for i in range(0, 24, 8):
            yield X[i:i + 8], Y[i:i + 8]

    model = classifier()
    with pytest.warns(UserWarning, match="`validation_data` ran out of batches: epoch 2") as rec:
        history = model.fit(X, Y, epochs=2, verbose=0, validation_data=batches())
    assert len(history.history["val_loss"]) == 1 and rec[0].filename == __file__


def test_fit_after_buffers_were_donated_to_an_unfinished_step():
    """On an accelerator, an interrupted jitted call leaves its donated inputs (the optimizer
    state) deleted; the next fit says what happened and starts a fresh optimizer state. Deleted
    weights (never donated by kerasx) are an error that says so (simulated with `.delete()`)."""
    model = classifier()
    model.fit(X, Y, epochs=1, verbose=0)
    for leaf in jax.tree.leaves(model._trainer.opt_state):
        leaf.delete()
    with pytest.warns(UserWarning, match="optimizer state .* was lost"):
        model.fit(X, Y, epochs=1, verbose=0)
    assert model.optimizer.iterations == 2  # a fresh optimizer state, then one epoch (2 steps)
    jax.tree.leaves(model.params)[0].delete()
    with pytest.raises(RuntimeError, match="weights of model .* are deleted device buffers"):
        model.fit(X, Y, epochs=1, verbose=0)


def test_run_eagerly_runs_python_inside_layers_and_trains_like_the_compiled_step():
    class Inspect(layers.Layer):
        """Counts the Python calls of `apply` and records the concrete values it gets."""

        def __init__(self, **kw):
            super().__init__(**kw)
            self.calls, self.seen = 0, []

        def apply(self, params, state, inputs, *, training=False, rng=None):
            self.calls += 1
            if not isinstance(inputs, jax.core.Tracer):
                self.seen.append(float(jnp.sum(inputs)))
            return inputs, state

    def make(**compile_kw):
        kerasx.utils.set_random_seed(4)
        probe = Inspect()
        m = kerasx.Sequential([layers.Input((4,)), layers.Dense(5, activation="relu"), probe,
                               layers.Dense(3, activation="softmax")])
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  **compile_kw)
        return m, probe

    eager, probe = make(run_eagerly=True)
    assert eager.run_eagerly
    history = eager.fit(X, Y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert probe.calls >= 8  # Python runs the layer at every step: 2 epochs of 4 batches
    eager.predict(X, batch_size=16, verbose=0)
    assert len(probe.seen) >= 4  # with concrete arrays where nothing is differentiated
    compiled, probe = make()
    assert not compiled.run_eagerly
    compiled_history = compiled.fit(X, Y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    compiled.predict(X, batch_size=16, verbose=0)
    assert probe.calls < 8 and probe.seen == []  # compiled: traced a few times, never concrete
    # Op by op, the same training as the compiled step (float32 rounding apart): the same
    # logs, weights, evaluation and predictions.
    for key in ("loss", "accuracy"):
        np.testing.assert_allclose(history.history[key], compiled_history.history[key],
                                   rtol=1e-5, err_msg=key)
    for a, b in zip(eager.get_weights(), compiled.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(eager.evaluate(X, Y, verbose=0),
                               compiled.evaluate(X, Y, verbose=0), rtol=1e-5)
    np.testing.assert_allclose(eager.predict(X, verbose=0), compiled.predict(X, verbose=0),
                               rtol=1e-5, atol=1e-6)
    compiled.run_eagerly = True  # Keras's settable attribute
    assert compiled.run_eagerly
    no_jit, probe = make(jit_compile=False)
    assert no_jit.run_eagerly
    no_jit_history = no_jit.fit(X, Y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    assert probe.calls >= 8  # Python runs it at every step, as with run_eagerly=True
    # the same eager program from the same seed: the same numbers
    assert no_jit_history.history == history.history
    for a, b in zip(eager.get_weights(), no_jit.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_train_on_batch_compiles_once_per_batch_size():
    counter = CountTraces()
    model = kerasx.Sequential([layers.Input((4,)), counter, layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    model.train_on_batch(X[:16], Y[:16])
    after = counter.traces
    for i in range(1, 3):
        loss = model.train_on_batch(X[16 * i:16 * i + 16], Y[16 * i:16 * i + 16])
    assert counter.traces == after and np.isfinite(loss)
    assert model.optimizer.iterations == 3


def test_train_on_batch_builds_the_optimizer_state_once():
    inits = []

    class CountedSGD(kerasx.optimizers.SGD):
        def init(self, params):  # Python runs when the state is built or traced
            inits.append(1)
            return super().init(params)

    model = kerasx.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=CountedSGD(0.1), loss="sparse_categorical_crossentropy")
    model.train_on_batch(X[:16], Y[:16])
    model.train_on_batch(X[16:32], Y[16:32])
    after = len(inits)  # built once, its structure traced once
    for i in range(2, 4):
        model.train_on_batch(X[16 * i:16 * i + 16], Y[16 * i:16 * i + 16])
    model.fit(X, Y, batch_size=16, verbose=0)
    assert len(inits) == after  # neither built nor traced again per call
    model.layers[0].trainable = False  # another optimizer (frozen kernel): a new state
    model.train_on_batch(X[:16], Y[:16])
    assert len(inits) > after


@pytest.mark.parametrize("as_dict", [False, True])
def test_predict_on_batch_is_predict_on_one_batch_with_one_compile_per_shape(as_dict):
    counter = CountTraces()
    inputs = layers.Input((4,))
    h = layers.BatchNormalization()(counter(layers.Dense(8, activation="relu")(inputs)))
    outs = [layers.Dense(3, activation="softmax", name="probs")(h), layers.Dense(1, name="score")(h)]
    model = kerasx.Model(inputs, {"probs": outs[0], "score": outs[1]} if as_dict else outs)
    model.compile(optimizer="sgd", loss=["sparse_categorical_crossentropy", "mse"] if not as_dict
                  else {"probs": "sparse_categorical_crossentropy", "score": "mse"})
    score = X[:, :1] * 2.0
    model.fit(X, [Y, score] if not as_dict else {"probs": Y, "score": score}, epochs=2, verbose=0)
    ours = model.predict_on_batch(X[:16])
    reference = model.predict(X[:16], batch_size=16, verbose=0)
    assert type(ours) is type(reference) and len(ours) == 2
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(reference)):
        assert isinstance(a, np.ndarray) and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-6)  # BatchNorm uses its moving statistics
    traces = counter.traces
    model.predict_on_batch(X[16:32])
    assert counter.traces == traces  # same batch shape: no new trace
    model.predict_on_batch(X[:5])
    assert counter.traces == traces + 1
    with pytest.raises(ValueError, match="4"):
        model.predict_on_batch(X[:, :3])
