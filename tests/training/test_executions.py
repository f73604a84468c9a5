"""How fit/evaluate/predict reach the device: resident data and executions of many steps in one
jitted call, streamed chunks, one trace per fit, and the same numbers whichever path runs."""

import chex
import jax
import numpy as np
import pytest

import kerasx
from kerasx import layers
from kerasx.training import _data
from training_support import CountTraces

RNG = np.random.default_rng(7)
X = RNG.normal(size=(50, 4)).astype("float32")   # 50 = 3 batches of 16 + a partial one of 2
Y = RNG.integers(0, 3, 50)
SW = RNG.uniform(0.5, 2.0, 50).astype("float32")


def model(batchnorm=False, dropout=False, **compile_kw):
    kerasx.utils.set_random_seed(3)
    body = [layers.Input((4,)), layers.Dense(8, activation="relu")]
    if batchnorm:
        body.append(layers.BatchNormalization())
    if dropout:
        body.append(layers.Dropout(0.3))
    m = kerasx.Sequential(body + [layers.Dense(3, activation="softmax")])
    m.compile(**{"optimizer": kerasx.optimizers.Adam(0.01), "loss": "sparse_categorical_crossentropy",
                 "metrics": ["accuracy"], **compile_kw})
    return m


def fit_weights(m, x=X, y=Y, **fit_kw):
    kerasx.utils.set_random_seed(11)  # the same shuffles and dropout keys for every path
    h = m.fit(x, y, **{"batch_size": 16, "epochs": 3, "verbose": 0, **fit_kw})
    return m.get_weights(), h.history


@pytest.mark.parametrize("batchnorm,dropout", [(False, False), (True, False), (False, True)])
def test_every_path_gives_the_same_weights(batchnorm, dropout):
    """Whole-epoch executions, one step per call, odd-sized executions and streamed chunks
    train the same model to the same weights and logs."""
    ref_w, ref_h = fit_weights(model(batchnorm, dropout, steps_per_execution=1),
                               sample_weight=SW, shuffle=True)
    for kw in [dict(), dict(steps_per_execution=3), dict(data_on_device=True),
               dict(data_on_device=True, steps_per_execution=3), dict(data_on_device=False),
               dict(data_on_device=False, steps_per_execution=2)]:
        w, h = fit_weights(model(batchnorm, dropout, **kw), sample_weight=SW, shuffle=True)
        for a, b in zip(ref_w, w):
            np.testing.assert_allclose(a, b, atol=1e-5, err_msg=str(kw))
        for k in ref_h:
            np.testing.assert_allclose(ref_h[k], h[k], rtol=1e-5, err_msg=f"{kw} {k}")


def test_an_iterable_of_batches_trains_like_the_arrays():
    ref_w, _ = fit_weights(model(batchnorm=True), shuffle=False)
    batches = [(X[i:i + 16], Y[i:i + 16]) for i in range(0, 50, 16)]
    w, _ = fit_weights(model(batchnorm=True), batches, None, batch_size=None)
    for a, b in zip(ref_w, w):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("kw, new_shape_traces", [
    (dict(data_on_device=True), 1), (dict(data_on_device=True, steps_per_execution=3), 1),
    (dict(data_on_device=False), 1), (dict(), 1), (dict(steps_per_execution=1), 1),
    (dict(data_on_device=False, steps_per_execution=1), 0)])
def test_one_trace_per_fit_with_batchnorm_and_a_partial_batch(kw, new_shape_traces):
    counter = CountTraces()
    m = kerasx.Sequential([layers.Input((4,)), counter, layers.BatchNormalization(),
                           layers.Dense(3, activation="softmax")])
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"], **kw)
    m.fit(X, Y, batch_size=16, epochs=3, verbose=0, validation_data=(X[:21], Y[:21]))
    # building the weights, inferring output shapes, the train execution, the test execution
    assert counter.traces == 4
    m.fit(X, Y, batch_size=16, epochs=2, verbose=0)
    m.evaluate(X[:21], Y[:21], batch_size=16, verbose=0)
    assert counter.traces == 4
    # resident data, and a streamed chunk of 2 batches rather than 4, are part of the
    # program's signature: a new data shape compiles once more; chunks of one batch do not
    m.evaluate(X, Y, batch_size=16, verbose=0)
    m.evaluate(X, Y, batch_size=16, verbose=0)
    assert counter.traces == 4 + new_shape_traces


def test_execution_bounds_are_traced_values_not_compile_time_constants():
    """Over resident data any run length reuses one program; a streamed chunk's rows are part
    of the signature, so each execution length compiles once, whatever the epochs' windows."""
    for on_device, spes, traces in ((True, ("auto", 1, 3, 100), 1), (False, (1, 3), 2)):
        chex.clear_trace_counter()
        m = model(data_on_device=on_device)
        m.fit(X, Y, batch_size=16, verbose=0)  # builds the trainer
        t = m._trainer
        execution, traced = t._make_train_exec(t.optimizer), []

        def watched(*args):  # Python runs when JAX traces
            traced.append(True)
            return execution(*args)

        t._train_exec = jax.jit(chex.assert_max_traces(watched, n=traces))
        for spe in spes:
            t.steps_per_execution = spe
            m.fit(X, Y, batch_size=16, epochs=2, verbose=0)
            m.fit(X, Y, batch_size=16, epochs=1, verbose=0, steps_per_epoch=2)
            if not on_device:  # a chunk's shape does not depend on the size of the data
                m.fit(X[:37], Y[:37], batch_size=16, epochs=1, verbose=0)
        assert len(traced) == traces  # fit ran the watched program


def test_batch_callbacks_see_one_call_per_execution():
    calls = []

    class Batches(kerasx.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            calls.append(("begin", batch))

        def on_train_batch_end(self, batch, logs=None):
            calls.append(("end", batch, sorted(logs)))

    model(steps_per_execution=3).fit(X, Y, batch_size=16, verbose=0, callbacks=[Batches()])
    # 4 steps in executions [0, 3) and [3, 4), as Keras reports them (begin step, last step)
    assert calls == [("begin", 0), ("end", 2, ["accuracy", "loss"]),
                     ("begin", 3), ("end", 3, ["accuracy", "loss"])]


def test_auto_runs_every_batch_for_a_callback_with_batch_hooks():
    seen = []

    class Batches(kerasx.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(batch)
            assert isinstance(logs["loss"], jax.Array)  # a device value: no host sync per step

    model().fit(X, Y, batch_size=16, epochs=2, verbose=0, callbacks=[Batches()])
    assert seen == [0, 1, 2, 3] * 2


def test_stop_training_from_a_batch_hook_ends_the_epoch_at_the_execution():
    class Stop(kerasx.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    h = model(steps_per_execution=1).fit(X, Y, batch_size=16, epochs=5, verbose=0, callbacks=[Stop()])
    assert h.epoch == [0]


def test_execution_length_chosen_automatically():
    m = model()
    m.fit(X[:2], Y[:2], verbose=0)  # builds the trainer
    t = m._trainer
    big = _data.DeviceFeed(np.zeros((6400, 4), np.float32), np.zeros(6400), None, 32)
    assert t._execution_length(big, [], "train", verbose=0) == 200         # the whole epoch
    assert t._execution_length(big, [], "train", verbose=2) == 200
    assert t._execution_length(big, [], "train", verbose=1) == 10          # 20 bar updates
    assert t._execution_length(big, [kerasx.callbacks.History()], "train", verbose=0) == 200

    class EpochOnly(kerasx.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            pass

    class PerBatch(kerasx.callbacks.Callback):
        def on_batch_end(self, batch, logs=None):
            pass

    assert t._execution_length(big, [EpochOnly()], "train", verbose=0) == 200
    assert t._execution_length(big, [PerBatch()], "train", verbose=0) == 1
    assert t._execution_length(big, [PerBatch()], "test", verbose=0) == 200


def test_predict_and_evaluate_agree_across_paths():
    m = model()
    m.fit(X, Y, batch_size=16, epochs=2, verbose=0)
    ref = m.predict(X, batch_size=16, verbose=0)
    ref_eval = m.evaluate(X, Y, batch_size=16, verbose=0, sample_weight=SW)
    for kw in [dict(steps_per_execution=1), dict(steps_per_execution=3),
               dict(data_on_device=False), dict(data_on_device=False, steps_per_execution=2)]:
        m2 = model(**kw)
        m2.set_weights(m.get_weights())
        np.testing.assert_allclose(m2.predict(X, batch_size=16, verbose=0), ref, atol=1e-6)
        np.testing.assert_allclose(m2.evaluate(X, Y, batch_size=16, verbose=0, sample_weight=SW),
                                   ref_eval, rtol=1e-6)
    batches = [X[i:i + 16] for i in range(0, 50, 16)]
    np.testing.assert_allclose(m.predict(iter(batches), verbose=0), ref, atol=1e-6)


def test_a_generator_keeps_its_first_batch_and_continues_across_epochs():
    drawn = []

    def gen():
        i = 0
        while True:
            drawn.append(i)
            yield X[(16 * i) % 48:(16 * i) % 48 + 16], Y[(16 * i) % 48:(16 * i) % 48 + 16]
            i += 1

    h = model().fit(gen(), epochs=3, steps_per_epoch=2, verbose=0)
    assert len(h.epoch) == 3
    # the batch read to build the model is trained on; 6 steps read 6 batches, plus at most
    # one read ahead
    assert drawn[:6] == list(range(6)) and len(drawn) <= 7


def test_iterable_batches_of_different_sizes_are_padded_to_one_shape():
    counter = CountTraces()
    m = kerasx.Sequential([layers.Input((4,)), counter, layers.Dense(3, activation="softmax")])
    m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    sizes = [16, 16, 10, 8]
    batches, i = [], 0
    for s in sizes:
        batches.append((X[i:i + s], Y[i:i + s]))
        i += s
    m.fit(batches, epochs=2, verbose=0)
    assert counter.traces == 3
    ref2 = kerasx.Sequential([layers.Input((4,)), layers.Dense(3, activation="softmax")])
    ref2.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    ref2.set_weights([w for w in m.get_weights()])
    # the padded rows do not count: the loss equals the mean over the 10 real samples
    loss_padded = m.evaluate([batches[2]], verbose=0)
    loss_plain = ref2.evaluate(X[32:42], Y[32:42], batch_size=10, verbose=0)
    np.testing.assert_allclose(loss_padded, loss_plain, rtol=1e-6)


def test_invalid_settings_are_named():
    with pytest.raises(ValueError, match="steps_per_execution.*Received: steps_per_execution=0"):
        model(steps_per_execution=0)
    with pytest.raises(ValueError, match="data_on_device.*Received: data_on_device='yes'"):
        model(data_on_device="yes")


def test_data_larger_than_the_budget_streams(monkeypatch):
    assert isinstance(_data.make_feed(X, Y, None, 16), _data.DeviceFeed)
    assert isinstance(_data.make_feed(X, Y, None, 16, on_device=False), _data.StreamFeed)
    monkeypatch.setattr(_data, "device_data_budget", lambda: 100)
    assert isinstance(_data.make_feed(X, Y, None, 16), _data.StreamFeed)
    assert isinstance(_data.make_feed(X, Y, None, 16, on_device=True), _data.DeviceFeed)
    monkeypatch.undo()
    # the CPU backend's device is host memory: large arrays that XLA cannot read in place
    # (float64 becomes float32, a copy) stream rather than being copied whole
    big = np.zeros((40_000, 4))
    assert isinstance(_data.make_feed(big, None, None, 16), _data.StreamFeed)
    assert isinstance(_data.make_feed(big.astype(np.float32), None, None, 16), _data.DeviceFeed)
    strided = np.zeros((100_000, 8), np.float32)[:, :4]  # 1.6 MB, not contiguous
    assert isinstance(_data.make_feed(strided, None, None, 16), _data.StreamFeed)


def test_conv_models_on_the_cpu_run_one_step_per_call_with_the_same_result():
    def convnet(**kw):
        kerasx.utils.set_random_seed(5)
        m = kerasx.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(3, 3, activation="relu"),
                               layers.Conv2D(2, 2), layers.Flatten(),
                               layers.Dense(3, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", **kw)
        return m

    x = RNG.normal(size=(40, 6, 6, 1)).astype("float32")
    y = RNG.integers(0, 3, 40)
    auto, looped = convnet(), convnet(loop_steps=True)
    w_auto, h_auto = fit_weights(auto, x, y, shuffle=True)
    w_loop, h_loop = fit_weights(looped, x, y, shuffle=True)
    assert auto._trainer.loop_train_steps is False   # a 3-channel conv kernel is trained
    assert looped._trainer.loop_train_steps is True
    for a, b in zip(w_auto, w_loop):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(h_auto["loss"], h_loop["loss"], rtol=1e-5)
    # a single-channel conv (the MNIST convnet's) keeps the loop, which is faster there
    one = kerasx.Sequential([layers.Input((6, 6, 1)), layers.Conv2D(3, 3), layers.Flatten(),
                             layers.Dense(3, activation="softmax")])
    one.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    one.fit(x, y, verbose=0)
    assert one._trainer.loop_train_steps is True


@pytest.mark.parametrize("on_device", [True, False])
def test_epoch_orders_are_permutations_fixed_by_seed_and_epoch(on_device):
    a = np.asarray(_data.epoch_permutation(5, 0, 1000, on_device=on_device))
    assert sorted(a.tolist()) == list(range(1000))
    np.testing.assert_array_equal(a, np.asarray(_data.epoch_permutation(5, 0, 1000, on_device=on_device)))
    assert not np.array_equal(a, np.asarray(_data.epoch_permutation(5, 1, 1000, on_device=on_device)))
    assert not np.array_equal(a, np.asarray(_data.epoch_permutation(6, 0, 1000, on_device=on_device)))


def test_a_fit_resumed_at_initial_epoch_matches_an_uninterrupted_one_bit_for_bit():
    """Shuffles depend on (seed, epoch) and dropout keys on (fit key, step number), so with the
    same seed, 2 epochs + a fit from initial_epoch=2 equal 4 epochs, dropout included."""
    def run(splits):
        m = model(dropout=True)
        m.build()  # the weights' key is drawn here, not inside the first fit
        for start, stop in splits:
            kerasx.utils.set_random_seed(21)
            m.fit(X, Y, batch_size=16, epochs=stop, initial_epoch=start, verbose=0, sample_weight=SW)
        return m.get_weights()

    whole, resumed = run([(0, 4)]), run([(0, 2), (2, 4)])
    for a, b in zip(whole, resumed):
        np.testing.assert_array_equal(a, b)
    other = run([(0, 2), (2, 3), (3, 4)])
    for a, b in zip(whole, other):
        np.testing.assert_array_equal(a, b)


@pytest.fixture
def host_reads(monkeypatch):
    """Counts reads of device values on the host (`float(x)`, `np.asarray(x)`, `jax.device_get`
    all go through `ArrayImpl._value`)."""
    from jax._src import array as jax_array

    count = [0]
    value = jax_array.ArrayImpl._value

    def counted(self):
        count[0] += 1
        return value.fget(self)

    monkeypatch.setattr(jax_array.ArrayImpl, "_value", property(counted))
    return count


@pytest.mark.parametrize("spe,verbose", [(1, 0), (1, 1), (4, 2), ("auto", 1)])
def test_host_reads_do_not_grow_with_the_number_of_steps(host_reads, spe, verbose, capsys):
    probe = jax.numpy.ones(()) + 1
    float(probe)
    assert host_reads[0] >= 1  # the counter sees a host read

    def reads(n):
        x, y = np.tile(X, (n // 50 + 1, 1))[:n], np.tile(Y, n // 50 + 1)[:n]
        m = model(steps_per_execution=spe)
        m.fit(x, y, batch_size=4, epochs=1, verbose=0, validation_data=(x[:8], y[:8]))  # compiles
        host_reads[0] = 0
        m.fit(x, y, batch_size=4, epochs=2, verbose=verbose, validation_data=(x[:8], y[:8]))
        m.evaluate(x, y, batch_size=4, verbose=verbose)
        return host_reads[0]

    # 16 against 64 steps an epoch: the logs are read at epoch ends, not per step or execution
    assert reads(64) == reads(256)
    capsys.readouterr()


def test_resident_data_is_placed_in_slices_into_one_padded_buffer(monkeypatch):
    """Resident data moves a sixteenth at a time into a buffer of the size bucket (no second
    whole copy on the host or the device) and trains exactly like streamed chunks."""
    moved = []
    real_put = jax.device_put
    monkeypatch.setattr(_data.jax, "device_put", lambda a, *r, **k: (
        moved.append(np.shape(a)[0]), real_put(a, *r, **k))[1])
    feed = _data.DeviceFeed(X, Y, SW, batch_size=16)
    monkeypatch.undo()
    assert moved == [4] * 12 + [2] + [4] * 12 + [2] + [4] * 12 + [2]  # x, y, sw: 50 rows each
    rows = _data.bucket_rows(50)
    np.testing.assert_array_equal(np.asarray(feed.data["x"]),
                                  np.concatenate([X, np.zeros((rows - 50, 4), X.dtype)]))
    np.testing.assert_array_equal(np.asarray(feed.data["y"])[:50], Y)
    np.testing.assert_array_equal(np.asarray(feed.data["sw"]), np.r_[SW, np.zeros(rows - 50)])
    resident = fit_weights(model(data_on_device=True), sample_weight=SW, epochs=2)
    streamed = fit_weights(model(data_on_device=False), sample_weight=SW, epochs=2)
    for a, b in zip(resident[0], streamed[0]):
        np.testing.assert_array_equal(a, b)
    assert resident[1] == streamed[1]


@pytest.mark.parametrize("features", [(256,), (16, 16, 1)], ids=["flat", "images"])
def test_large_arrays_on_the_cpu_are_read_in_place_and_train_like_streamed_chunks(features):
    """On the CPU backend a resident array over 1 MiB is not copied: XLA reads the user's
    memory (HostRows). It trains, evaluates and predicts exactly as streamed chunks do."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=(1300,) + features).astype(np.float32)  # 1.3 MB
    y = rng.integers(0, 3, 1300).astype(np.int32)
    feed = _data.DeviceFeed(x, y, None, batch_size=64)
    rows = feed.data["x"]
    assert isinstance(rows, _data.HostRows)
    start = rows.flat.unsafe_buffer_pointer() + rows.shift * 4
    assert start == x.ctypes.data  # the user's own memory, not a copy
    assert isinstance(_data.make_feed(x, y, None, 64), _data.DeviceFeed)
    assert isinstance(_data.make_feed(x.astype(np.float64), y, None, 64), _data.StreamFeed)

    def run(on_device):
        kerasx.utils.set_random_seed(2)
        m = kerasx.Sequential([layers.Input(features), layers.Flatten(),
                               layers.Dense(8, activation="relu"), layers.Dropout(0.2),
                               layers.Dense(3, activation="softmax")])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], data_on_device=on_device)
        h = m.fit(x, y, batch_size=64, epochs=2, verbose=0, validation_data=(x[:300], y[:300]))
        return (m.get_weights(), h.history, m.evaluate(x, y, batch_size=100, verbose=0),
                m.predict(x, batch_size=100, verbose=0))

    in_place, streamed = run(True), run(False)
    for a, b in zip(in_place[0], streamed[0]):
        np.testing.assert_array_equal(a, b)
    assert in_place[1] == streamed[1]
    assert in_place[2] == streamed[2]
    np.testing.assert_array_equal(in_place[3], streamed[3])
