"""Keras 3's JAX guide "Customizing what happens in fit()", condensed: each program runs on Keras 3
and on kerasx with only the import changed, and must give the same numbers."""

import jax
import numpy as np
import pytest

import kerasx
from keras_oracle import require_keras  # Keras, or skip the test that needs it


def keras():
    return require_keras()


RNG = np.random.default_rng(0)
X = RNG.random((100, 8)).astype("float32")   # 100 = 3 batches of 32 and a partial batch of 4
Y = RNG.random((100, 1)).astype("float32")


def first_example(lib, guide_names=True):
    """The guide's first example: compute_loss_and_updates + train_step over compiled metrics.
    (Keras's own default test_step calls a method named `compute_loss_and_updates` with another
    signature, so validation needs `guide_names=False`.)"""

    class CustomModel(lib.Model):
        def loss_and_updates(self, trainable_variables, non_trainable_variables,
                                     metrics_variables, x, y, sample_weight, training=False):
            y_pred, non_trainable_variables = self.stateless_call(
                trainable_variables, non_trainable_variables, x, training=training)
            loss, (trainable_variables, non_trainable_variables, metrics_variables) = \
                self.stateless_compute_loss(trainable_variables, non_trainable_variables,
                                            metrics_variables, x=x, y=y, y_pred=y_pred,
                                            sample_weight=sample_weight, training=training)
            return loss, (y_pred, non_trainable_variables, metrics_variables)

        def train_step(self, state, data):
            (trainable_variables, non_trainable_variables, optimizer_variables,
             metrics_variables) = state
            x, y, sample_weight = lib.utils.unpack_x_y_sample_weight(data)
            grad_fn = jax.value_and_grad(self.loss_and_updates, has_aux=True)
            (loss, (y_pred, non_trainable_variables, metrics_variables)), grads = grad_fn(
                trainable_variables, non_trainable_variables, metrics_variables, x, y,
                sample_weight, training=True)
            trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
                optimizer_variables, grads, trainable_variables)
            new_metrics_vars = []
            logs = {}
            for metric in self.metrics:
                this_metric_vars = metrics_variables[
                    len(new_metrics_vars):len(new_metrics_vars) + len(metric.variables)]
                if metric.name == "loss":
                    this_metric_vars = metric.stateless_update_state(
                        this_metric_vars, loss, sample_weight=sample_weight)
                else:
                    this_metric_vars = metric.stateless_update_state(
                        this_metric_vars, y, y_pred, sample_weight=sample_weight)
                logs[metric.name] = metric.stateless_result(this_metric_vars)
                new_metrics_vars += this_metric_vars
            state = (trainable_variables, non_trainable_variables, optimizer_variables,
                     new_metrics_vars)
            return logs, state

    if guide_names:
        CustomModel.compute_loss_and_updates = CustomModel.loss_and_updates
    inputs = lib.Input(shape=(8,))
    hidden = lib.layers.Dense(6, activation="relu")(inputs)
    outputs = lib.layers.Dense(1)(lib.layers.BatchNormalization()(hidden))
    model = CustomModel(inputs, outputs)
    model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse", metrics=["mae"])
    return model


def lower_level_example(lib):
    """The guide's second example: no loss in compile, metrics as attributes."""

    class CustomModel(lib.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_tracker = lib.metrics.Mean(name="loss")
            self.mae_metric = lib.metrics.MeanAbsoluteError(name="mae")
            self.loss_fn = lib.losses.MeanSquaredError()

        def compute_loss_and_updates(self, trainable_variables, non_trainable_variables, x, y,
                                     sample_weight, training=False):
            y_pred, non_trainable_variables = self.stateless_call(
                trainable_variables, non_trainable_variables, x, training=training)
            loss = self.loss_fn(y, y_pred, sample_weight=sample_weight)
            return loss, (y_pred, non_trainable_variables)

        def train_step(self, state, data):
            (trainable_variables, non_trainable_variables, optimizer_variables,
             metrics_variables) = state
            x, y, sample_weight = lib.utils.unpack_x_y_sample_weight(data)
            grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
            (loss, (y_pred, non_trainable_variables)), grads = grad_fn(
                trainable_variables, non_trainable_variables, x, y, sample_weight,
                training=True)
            trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
                optimizer_variables, grads, trainable_variables)
            loss_tracker_vars = metrics_variables[:len(self.loss_tracker.variables)]
            mae_metric_vars = metrics_variables[len(self.loss_tracker.variables):]
            loss_tracker_vars = self.loss_tracker.stateless_update_state(
                loss_tracker_vars, loss, sample_weight=sample_weight)
            mae_metric_vars = self.mae_metric.stateless_update_state(
                mae_metric_vars, y, y_pred, sample_weight=sample_weight)
            logs = {self.loss_tracker.name: self.loss_tracker.stateless_result(loss_tracker_vars),
                    self.mae_metric.name: self.mae_metric.stateless_result(mae_metric_vars)}
            new_metrics_vars = loss_tracker_vars + mae_metric_vars
            return logs, (trainable_variables, non_trainable_variables, optimizer_variables,
                          new_metrics_vars)

        @property
        def metrics(self):
            return [self.loss_tracker, self.mae_metric]

    inputs = lib.Input(shape=(8,))
    outputs = lib.layers.Dense(1)(lib.layers.Dropout(0.0)(inputs))
    model = CustomModel(inputs, outputs)
    model.compile(optimizer=lib.optimizers.SGD(0.05))
    return model


def custom_test_step_example(lib):
    """The guide's third example: a custom test_step, used by evaluate."""

    class CustomModel(lib.Model):
        def test_step(self, state, data):
            x, y, sample_weight = lib.utils.unpack_x_y_sample_weight(data)
            trainable_variables, non_trainable_variables, metrics_variables = state
            y_pred, non_trainable_variables = self.stateless_call(
                trainable_variables, non_trainable_variables, x, training=False)
            loss, (trainable_variables, non_trainable_variables, metrics_variables) = \
                self.stateless_compute_loss(trainable_variables, non_trainable_variables,
                                            metrics_variables, x=x, y=y, y_pred=y_pred,
                                            sample_weight=sample_weight, training=False)
            new_metrics_vars = []
            logs = {}
            for metric in self.metrics:
                this_metric_vars = metrics_variables[
                    len(new_metrics_vars):len(new_metrics_vars) + len(metric.variables)]
                if metric.name == "loss":
                    this_metric_vars = metric.stateless_update_state(
                        this_metric_vars, loss, sample_weight=sample_weight)
                else:
                    this_metric_vars = metric.stateless_update_state(
                        this_metric_vars, y, y_pred, sample_weight=sample_weight)
                logs[metric.name] = metric.stateless_result(this_metric_vars)
                new_metrics_vars += this_metric_vars
            return logs, (trainable_variables, non_trainable_variables, new_metrics_vars)

    inputs = lib.Input(shape=(8,))
    outputs = lib.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(loss="mse", metrics=["mae"])
    return model


def _pair(make):
    k = keras()
    ours, theirs = make(kerasx), make(k)
    ours.set_weights(theirs.get_weights())
    return ours, theirs


def _close_histories(h1, h2):
    assert set(h1.history) == set(h2.history)
    for key in h2.history:
        np.testing.assert_allclose(h1.history[key], h2.history[key], rtol=2e-5, err_msg=key)


@pytest.mark.parametrize("make", [first_example, lower_level_example],
                         ids=["first_example", "lower_level"])
def test_custom_train_step_matches_keras(make):
    ours, theirs = _pair(make)
    h1 = ours.fit(X, Y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    h2 = theirs.fit(X, Y, batch_size=32, epochs=3, shuffle=False, verbose=0)
    _close_histories(h1, h2)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


def test_custom_train_step_with_validation_and_steps_per_execution():
    ours, theirs = _pair(lambda lib: first_example(lib, guide_names=False))
    ours.compile(optimizer=kerasx.optimizers.SGD(0.05), loss="mse", metrics=["mae"],
                 steps_per_execution=2)
    theirs.compile(optimizer=keras().optimizers.SGD(0.05), loss="mse", metrics=["mae"],
                   steps_per_execution=2)
    ours.set_weights(theirs.get_weights())
    kw = dict(batch_size=16, epochs=2, shuffle=False, verbose=0, validation_split=0.2)
    _close_histories(ours.fit(X, Y, **kw), theirs.fit(X, Y, **kw))


def test_custom_test_step_matches_keras_evaluate():
    ours, theirs = _pair(custom_test_step_example)
    got = ours.evaluate(X, Y, batch_size=32, return_dict=True, verbose=0)
    want = theirs.evaluate(X, Y, batch_size=32, return_dict=True, verbose=0)
    assert set(got) == set(want)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-5, err_msg=key)


def test_stateless_api_in_a_hand_written_loop():
    """stateless_call / optimizer.stateless_apply / metric.stateless_* outside fit, under jit."""
    model = first_example(kerasx)
    model.fit(X[:32], Y[:32], batch_size=32, epochs=1, verbose=0)  # builds the optimizer state
    tv = [v.value for v in model.trainable_variables]
    ntv = [v.value for v in model.non_trainable_variables]
    assert len(tv) == 6 and len(ntv) == 2  # BatchNorm's moving statistics
    y_pred, new_ntv = jax.jit(lambda a, b: model.stateless_call(a, b, X[:8]))(tv, ntv)
    np.testing.assert_allclose(y_pred, model.predict(X[:8], verbose=0), rtol=1e-6)
    _, trained_ntv = model.stateless_call(tv, ntv, X[:8], training=True)
    assert not np.allclose(trained_ntv[0], ntv[0])  # moving mean moved, weights untouched
    np.testing.assert_array_equal(model.non_trainable_variables[0].numpy(), ntv[0])
    with pytest.raises(ValueError, match="has 6 trainable_variables; received a list of 5"):
        model.stateless_call(tv[:5], ntv, X[:8])
    assert [m.name for m in model.metrics] == ["loss", "compile_metrics"]


def gan_example(lib):
    """A GAN-style model: a generator and a discriminator (two sub-models), one train_step that
    computes the discriminator's and the generator's losses with separate gradients (the data
    carries the generator's noise, so both frameworks see the same randomness)."""

    class GAN(lib.Model):
        def __init__(self, generator, discriminator, **kwargs):
            super().__init__(**kwargs)
            self.generator = generator
            self.discriminator = discriminator
            self.d_loss_tracker = lib.metrics.Mean(name="d_loss")
            self.g_loss_tracker = lib.metrics.Mean(name="g_loss")
            self.n_gen = len(generator.trainable_variables)

        def call(self, data, training=False):
            noise = data["noise"] if isinstance(data, dict) else data
            return self.discriminator(self.generator(noise, training=training),
                                      training=training)

        def gan_losses(self, trainable_variables, non_trainable_variables, real, noise):
            bce = lib.losses.BinaryCrossentropy(from_logits=True)
            fake = self.generator.stateless_call(
                trainable_variables[:self.n_gen], non_trainable_variables[:0], noise,
                training=True)[0]
            d_vars = trainable_variables[self.n_gen:]
            d_fake = self.discriminator.stateless_call(
                [jax.lax.stop_gradient(v) for v in d_vars], [], fake, training=True)[0]
            g_loss = bce(jax.numpy.ones_like(d_fake), d_fake)
            d_real = self.discriminator.stateless_call(d_vars, [], real, training=True)[0]
            d_on_fake = self.discriminator.stateless_call(
                d_vars, [], jax.lax.stop_gradient(fake), training=True)[0]
            d_loss = (bce(jax.numpy.ones_like(d_real), d_real) +
                      bce(jax.numpy.zeros_like(d_on_fake), d_on_fake))
            return d_loss + g_loss, (d_loss, g_loss)

        def train_step(self, state, data):
            trainable_variables, non_trainable_variables, optimizer_variables, metrics_vars = state
            real, noise = data[0]["real"], data[0]["noise"]
            (_, (d_loss, g_loss)), grads = jax.value_and_grad(self.gan_losses, has_aux=True)(
                trainable_variables, non_trainable_variables, real, noise)
            trainable_variables, optimizer_variables = self.optimizer.stateless_apply(
                optimizer_variables, grads, trainable_variables)
            d_vars = self.d_loss_tracker.stateless_update_state(metrics_vars[:2], d_loss)
            g_vars = self.g_loss_tracker.stateless_update_state(metrics_vars[2:], g_loss)
            logs = {"d_loss": self.d_loss_tracker.stateless_result(d_vars),
                    "g_loss": self.g_loss_tracker.stateless_result(g_vars)}
            return logs, (trainable_variables, non_trainable_variables, optimizer_variables,
                          d_vars + g_vars)

        @property
        def metrics(self):
            return [self.d_loss_tracker, self.g_loss_tracker]

    generator = lib.Sequential([lib.Input((4,)), lib.layers.Dense(8, activation="relu"),
                                lib.layers.Dense(6)], name="generator")
    discriminator = lib.Sequential([lib.Input((6,)), lib.layers.Dense(8, activation="relu"),
                                    lib.layers.Dense(1)], name="discriminator")
    gan = GAN(generator, discriminator)
    gan.compile(optimizer=lib.optimizers.Adam(1e-2))
    return gan


def test_gan_style_custom_train_step_matches_keras():
    k = keras()
    ours, theirs = gan_example(kerasx), gan_example(k)
    for o, t in ((ours.generator, theirs.generator), (ours.discriminator, theirs.discriminator)):
        o.set_weights(t.get_weights())
    noise = RNG.normal(size=(64, 4)).astype("float32")
    real = RNG.normal(loc=2.0, size=(64, 6)).astype("float32")
    data = {"real": real, "noise": noise}
    y = np.zeros((64, 1), "float32")  # unused by the step; fit wants targets
    h1 = ours.fit(data, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    h2 = theirs.fit(data, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    _close_histories(h1, h2)
    for o, t in ((ours.generator, theirs.generator), (ours.discriminator, theirs.discriminator)):
        for a, b in zip(o.get_weights(), t.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_custom_predict_step_is_used_by_predict():
    def make(lib):
        class Doubled(lib.Model):
            def predict_step(self, state, data):
                outputs, non_trainable = super().predict_step(state, data)
                return outputs * 2.0, non_trainable

        inputs = lib.Input((8,))
        return Doubled(inputs, lib.layers.Dense(3)(inputs))

    ours, theirs = _pair(make)
    np.testing.assert_allclose(ours.predict(X, batch_size=32, verbose=0),
                               theirs.predict(X, batch_size=32, verbose=0), rtol=1e-5)
    plain = ours.apply(ours.params, ours.state, X)[0]
    np.testing.assert_allclose(ours.predict(X, verbose=0), 2 * np.asarray(plain), rtol=1e-6)


def test_custom_step_model_saves_its_optimizer_state(tmp_path):
    model = first_example(kerasx)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    model.fit(X, Y, batch_size=32, epochs=1, verbose=0)
    path = str(tmp_path / "custom.kerasx")
    model.save(path)
    loaded = kerasx.models.load_model(path, custom_objects={"CustomModel": type(model)})
    saved = jax.tree.leaves(model._trainer.opt_state)
    assert len(saved) == 14 and all(
        np.array_equal(a, b) for a, b in zip(saved, jax.tree.leaves(loaded._trainer.opt_state)))
    model.fit(X, Y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    loaded.fit(X, Y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_custom_train_step_updating_a_frozen_weight_is_a_clear_error():
    class Sneaky(kerasx.Model):
        def train_step(self, state, data):
            trainable, non_trainable, optimizer_variables, metrics_variables = state
            non_trainable = [v * 0.5 for v in non_trainable]  # "trains" the frozen layer
            return {}, (trainable, non_trainable, optimizer_variables, metrics_variables)

    inputs = kerasx.Input((8,))
    frozen = kerasx.layers.Dense(4, name="frozen")
    model = Sneaky(inputs, kerasx.layers.Dense(1)(frozen(inputs)))
    frozen.trainable = False
    model.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="changed the weight 'frozen/kernel', which is frozen"):
        model.fit(X, Y, epochs=1, verbose=0)


class PytreeStep(kerasx.Model):
    """kerasx's pytree form: the same training as compile(loss="mse"), written on pytrees."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = kerasx.metrics.Mean(name="loss")

    def pytree_train_step(self, train_state, data):
        import optax

        x, y, _ = kerasx.utils.unpack_x_y_sample_weight(data)

        def loss_fn(params):
            y_pred, new_state = self.apply(params, train_state["state"], x, training=True,
                                           rng=train_state["rng"])
            return jax.numpy.mean((y_pred - y) ** 2), new_state

        (loss, new_state), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            train_state["params"])
        updates, opt_state = self.optimizer.update(grads, train_state["opt_state"],
                                                   train_state["params"])
        metrics = self.loss_tracker.stateless_update_state(train_state["metrics"], loss,
                                                           sample_weight=x.shape[0])
        return ({"loss": self.loss_tracker.stateless_result(metrics)},
                {**train_state, "params": optax.apply_updates(train_state["params"], updates),
                 "state": new_state, "opt_state": opt_state, "metrics": metrics})

    @property
    def metrics(self):
        return [self.loss_tracker]


def test_pytree_train_step_trains_like_the_builtin_step():
    def make(cls):
        inputs = kerasx.Input((8,))
        hidden = kerasx.layers.Dense(6, activation="relu", name="hidden")(inputs)
        model = cls(inputs, kerasx.layers.Dense(1, name="out")(
            kerasx.layers.BatchNormalization()(hidden)))
        model.compile(optimizer=kerasx.optimizers.Adam(1e-2), loss="mse")
        return model

    ours, builtin = make(PytreeStep), make(kerasx.Model)
    builtin.set_weights(ours.get_weights())
    ours.get_layer("hidden").trainable = False          # masked by optimizer.update
    builtin.get_layer("hidden").trainable = False
    for model in (ours, builtin):
        model.compile(optimizer=kerasx.optimizers.Adam(1e-2), loss="mse")
    h1 = ours.fit(X, Y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    h2 = builtin.fit(X, Y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-5)
    for a, b in zip(ours.get_weights(), builtin.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    frozen = ours.get_layer("hidden").get_weights()
    np.testing.assert_array_equal(frozen[0], builtin.get_layer("hidden").get_weights()[0])
