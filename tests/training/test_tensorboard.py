"""kerasx.callbacks.TensorBoard: event files written through a real `fit`, read back with
TensorBoard's own reader, checked against `history.history` and Keras 3's tags and layout."""

import glob
import os
import sys

import numpy as np
import optax
import pytest

pytest.importorskip("tensorboardX")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

import kerasx  # noqa: E402
from kerasx import layers  # noqa: E402
from kerasx.callbacks import Callback, LearningRateScheduler, TensorBoard  # noqa: E402
from kerasx.training.callbacks import overrides_batch_hooks  # noqa: E402

RNG = np.random.default_rng(3)
X = RNG.normal(size=(40, 4)).astype("float32")   # batch_size=8: 5 steps per epoch
Y = RNG.integers(0, 3, 40)
VX, VY = X[:16], Y[:16]


def small_model(optimizer=None, batchnorm=False, **compile_kw):
    stack = [layers.Input((4,)), layers.Dense(3)]
    stack += [layers.BatchNormalization()] if batchnorm else []
    model = kerasx.Sequential(stack + [layers.Activation("softmax")])
    model.compile(optimizer=optimizer or kerasx.optimizers.SGD(0.1),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], **compile_kw)
    return model


def read_run(run_dir):
    acc = event_accumulator.EventAccumulator(
        str(run_dir), size_guidance={"scalars": 0, "histograms": 0, "images": 0})
    acc.Reload()
    return acc


def scalars(acc, tag):
    """`(steps, values)` of a scalar tag."""
    events = acc.Scalars(tag)
    return [e.step for e in events], np.array([e.value for e in events])


class ExecutionCounter(Callback):
    """Counts `on_train_batch_end` calls (one per jitted execution) without asking for batches."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def _uses_batch_hooks(self, kind):
        return False

    def on_train_batch_end(self, batch, logs=None):
        self.calls += 1


def test_epoch_scalars_learning_rate_and_layout(tmp_path):
    model = small_model()
    tensorboard = TensorBoard(log_dir=tmp_path / "logs")
    counter = ExecutionCounter()
    schedule = LearningRateScheduler(lambda epoch: 0.1 * 0.5 ** epoch)
    history = model.fit(X, Y, batch_size=8, epochs=3, validation_data=(VX, VY), verbose=0,
                        callbacks=[schedule, tensorboard, counter])

    # update_freq="epoch" keeps whole-epoch executions: one call per epoch.
    assert not overrides_batch_hooks(tensorboard, "train")
    assert counter.calls == 3
    assert sorted(os.listdir(tmp_path / "logs")) == ["train", "validation"]

    train, val = read_run(tmp_path / "logs" / "train"), read_run(tmp_path / "logs" / "validation")
    assert set(train.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"}
    assert set(val.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy",
                                          "evaluation_loss_vs_iterations",
                                          "evaluation_accuracy_vs_iterations"}
    assert not train.Tags()["histograms"]
    for name in ["loss", "accuracy"]:
        steps, values = scalars(train, f"epoch_{name}")
        assert steps == [0, 1, 2]
        np.testing.assert_allclose(values, history.history[name], rtol=1e-6)
        steps, values = scalars(val, f"epoch_{name}")
        assert steps == [0, 1, 2]
        np.testing.assert_allclose(values, history.history[f"val_{name}"], rtol=1e-6)
        # Validation against the optimizer's iterations, as Keras writes it.
        steps, values = scalars(val, f"evaluation_{name}_vs_iterations")
        assert steps == [5, 10, 15]
        np.testing.assert_allclose(values, history.history[f"val_{name}"], rtol=1e-6)
    steps, values = scalars(train, "epoch_learning_rate")
    assert steps == [0, 1, 2]
    np.testing.assert_allclose(values, [0.1, 0.05, 0.025], rtol=1e-6)


def test_batch_scalars_every_n_steps(tmp_path):
    tensorboard = TensorBoard(log_dir=tmp_path, update_freq=3, write_steps_per_second=True)
    assert overrides_batch_hooks(tensorboard, "train")
    assert not overrides_batch_hooks(tensorboard, "test")
    history = small_model().fit(X, Y, batch_size=8, epochs=3, verbose=0, callbacks=[tensorboard])
    train = read_run(tmp_path / "train")
    assert not os.path.exists(tmp_path / "validation")
    steps, values = scalars(train, "batch_loss")
    assert steps == [3, 6, 9, 12, 15]  # the global train step, across epochs
    assert values[-1] == pytest.approx(history.history["loss"][-1], rel=1e-6)  # end of epoch 3
    assert scalars(train, "batch_steps_per_second")[0] == [3, 6, 9, 12, 15]
    steps, values = scalars(train, "epoch_steps_per_second")
    assert steps == [0, 1, 2] and np.all(values > 0)

    # With steps_per_execution=2 the hooks run at steps 2, 4, 5 | 7, 9, 10 | 12, 14, 15: each
    # multiple of 3 is written at the end of the execution that reaches it.
    tensorboard = TensorBoard(log_dir=tmp_path / "spe", update_freq=3)
    small_model(steps_per_execution=2).fit(X, Y, batch_size=8, epochs=3, verbose=0,
                                           callbacks=[tensorboard])
    assert scalars(read_run(tmp_path / "spe" / "train"), "batch_loss")[0] == [4, 7, 9, 12, 15]


def test_histograms_images_second_fit_and_evaluate(tmp_path):
    model = small_model(batchnorm=True)
    tensorboard = TensorBoard(log_dir=tmp_path, histogram_freq=2, write_images=True)
    model.fit(X, Y, batch_size=8, epochs=3, validation_data=(VX, VY), verbose=0,
              callbacks=[tensorboard])
    train = read_run(tmp_path / "train")
    names = ["dense/kernel", "dense/bias", "batch_normalization/gamma",
             "batch_normalization/beta", "batch_normalization/moving_mean",
             "batch_normalization/moving_variance"]
    assert sorted(train.Tags()["histograms"]) == sorted(f"{n}/histogram" for n in names)
    assert [e.step for e in train.Histograms("dense/kernel/histogram")] == [0, 2]
    last = train.Histograms("dense/kernel/histogram")[-1].histogram_value  # the final weights
    kernel = np.asarray(model.params["dense"]["kernel"])
    assert last.num == kernel.size
    np.testing.assert_allclose([last.min, last.max, last.sum],
                               [kernel.min(), kernel.max(), kernel.sum()], rtol=1e-5, atol=1e-6)
    assert sorted(train.Tags()["images"]) == sorted(f"{n}/image" for n in names)
    image = train.Images("dense/kernel/image")[-1]
    assert (image.height, image.width) == (3, 4)  # Keras's layout: the long side across

    # A second fit with the same callback adds event files to the same directories and carries
    # on the global step; a standalone evaluate writes at the optimizer's iterations.
    model.fit(X, Y, batch_size=8, initial_epoch=3, epochs=4, validation_data=(VX, VY),
              verbose=0, callbacks=[tensorboard])
    loss = model.evaluate(VX, VY, verbose=0, callbacks=[tensorboard])[0]
    assert len(glob.glob(str(tmp_path / "train" / "events.out.tfevents.*"))) == 2
    assert scalars(read_run(tmp_path / "train"), "epoch_loss")[0] == [0, 1, 2, 3]
    steps, values = scalars(read_run(tmp_path / "validation"), "evaluation_loss_vs_iterations")
    assert steps == [5, 10, 15, 20, 20]
    assert values[-1] == pytest.approx(loss, rel=1e-6)


def test_optimizer_without_learning_rate_and_profile(tmp_path):
    # An optax schedule exposes no learning rate: the tag is left out, the rest written.
    optimizer = optax.sgd(optax.linear_schedule(0.1, 0.01, 10))
    tensorboard = TensorBoard(log_dir=tmp_path, profile_batch=2)
    assert overrides_batch_hooks(tensorboard, "train")  # profiling sees single batches
    small_model(optimizer).fit(X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[tensorboard])
    train = read_run(tmp_path / "train")
    assert set(train.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy"}
    assert glob.glob(str(tmp_path / "train" / "plugins" / "profile" / "*" / "*.xplane.pb"))


@pytest.mark.parametrize("kwargs, argument", [
    (dict(update_freq="step"), "update_freq"),
    (dict(update_freq=0), "update_freq"),
    (dict(update_freq=True), "update_freq"),
    (dict(histogram_freq=-1), "histogram_freq"),
    (dict(histogram_freq=0.5), "histogram_freq"),
    (dict(embeddings_freq=1), "embeddings_freq"),
    (dict(profile_batch=(5, 2)), "profile_batch"),
    (dict(profile_batch="a,b"), "profile_batch"),
    (dict(profile_batch=-1), "profile_batch"),
    (dict(write_images=True), "histogram_freq"),
])
def test_invalid_arguments_name_the_argument(tmp_path, kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`|{argument}="):
        TensorBoard(log_dir=tmp_path, **kwargs)


def test_accepted_keras_arguments(tmp_path):
    tensorboard = TensorBoard(log_dir=tmp_path, write_graph=False, update_freq="batch",
                              profile_batch="2,4", embeddings_metadata="meta.tsv")
    assert tensorboard.update_freq == 1
    assert (tensorboard._start_batch, tensorboard._stop_batch) == (2, 4)
    assert not os.listdir(tmp_path)  # nothing is written before training


def test_missing_tensorboardx_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboardX", None)
    with pytest.raises(ImportError, match=r'pip install "kerasx\[tensorboard\]"'):
        TensorBoard(log_dir=tmp_path)
