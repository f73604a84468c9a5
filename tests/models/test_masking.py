"""The mask channel (Keras's compute_mask / supports_masking / call(mask=)) through functional
and Sequential graphs and into the loss, with a small subclassed mask-making layer; Keras 3 is
the oracle."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import layers
from keras_oracle import require_keras  # Keras, or skip the test that needs it


def keras():
    return require_keras()


def mask_layers(lib, ops):
    """A mask maker (time steps whose first feature is 0 are padding) and a mask consumer."""

    class MaskPadding(lib.layers.Layer):
        def call(self, x):
            return x

        def compute_mask(self, inputs, previous_mask=None):
            return ops.not_equal(inputs[..., 0], 0.0)

    class ZeroMasked(lib.layers.Layer):
        supports_masking = True

        def call(self, x, mask=None):
            if mask is None:
                return x
            return x * ops.cast(mask, x.dtype)[..., None]

    return MaskPadding, ZeroMasked


class _JnpOps:  # the two ops the test layers need, for kerasx (kerasx.ops comes separately)
    not_equal = staticmethod(jnp.not_equal)
    cast = staticmethod(lambda x, dtype: jnp.asarray(x).astype(dtype))


def make(lib, ops, sequential=False):
    MaskPadding, ZeroMasked = mask_layers(lib, ops)
    if sequential:
        model = lib.Sequential([lib.Input((6, 3)), MaskPadding(), lib.layers.Dense(4),
                                ZeroMasked(), lib.layers.Dense(2)])
    else:
        inputs = lib.Input((6, 3))
        h = lib.layers.Dense(4, activation="tanh")(MaskPadding()(inputs))
        a = ZeroMasked()(h)
        b = lib.layers.Dense(4)(h)
        merged = lib.layers.Add()([a, b])        # merges the two (equal) masks
        model = lib.Model(inputs, lib.layers.Dense(2)(merged))
    model.compile(optimizer=lib.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(24, 6, 3)).astype("float32")
    lengths = rng.integers(1, 7, size=24)
    for i, n in enumerate(lengths):
        x[i, n:, :] = 0.0            # padded time steps
    y = rng.normal(size=(24, 6, 2)).astype("float32")
    return x, y


@pytest.mark.parametrize("sequential", [False, True], ids=["functional", "sequential"])
def test_masks_flow_to_consumers_and_the_loss_like_keras(sequential):
    k = keras()
    x, y = _data()
    ours, theirs = make(kerasx, _JnpOps, sequential), make(k, k.ops, sequential)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    # the loss counts the unmasked time steps only (Keras averages over the valid entries)
    np.testing.assert_allclose(ours.evaluate(x, y, verbose=0), theirs.evaluate(x, y, verbose=0),
                               rtol=1e-5)
    h1 = ours.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    h2 = theirs.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-5)
    # Metrics weight the entries by the output's mask, as Keras's evaluate does (checked above:
    # evaluate returns [loss, mae]). Keras's JAX fit drops the mask from its training metrics
    # (measured: its training mae is the unmasked one), so only the loss is compared here.
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_output_masks_are_returned_by_apply_with_masks():
    x, _ = _data()
    model = make(kerasx, _JnpOps)
    params, state = model.params, model.state
    y, _, mask = jax.jit(lambda p, s: model.apply_with_masks(p, s, x))(params, state)
    np.testing.assert_array_equal(mask, x[..., 0] != 0)
    y2, _ = model.apply(params, state, x)
    np.testing.assert_array_equal(y, y2)
    # a layer that does not support masking stops the mask
    plain = kerasx.Sequential([kerasx.Input((6, 3)), mask_layers(kerasx, _JnpOps)[0](),
                               layers.Flatten()])
    assert plain.apply_with_masks(plain.params, plain.state, x)[2] is None


def gated_layer(lib, ops):
    """A layer called with two tensors and a tensor keyword: `gated(x, gate, bias=b)`."""

    class Gated(lib.layers.Layer):
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, x_shape, gate_shape):
            self.w = self.add_weight(shape=(x_shape[-1], self.units), name="w")
            self.g = self.add_weight(shape=(gate_shape[-1], self.units), name="g")

        def call(self, x, gate, bias=None, scale=1.0):
            out = ops.matmul(x, self.w) * ops.sigmoid(ops.matmul(gate, self.g))
            if bias is not None:
                out = out + bias
            return out * scale

        def get_config(self):
            return {**super().get_config(), "units": self.units}

    return Gated


class _Ops2:
    matmul = staticmethod(lambda a, b: a @ b)
    sigmoid = staticmethod(jax.nn.sigmoid)


def test_call_arguments_are_recorded_in_the_graph_and_its_config():
    k = keras()

    def make(lib, ops):
        Gated = gated_layer(lib, ops)
        x, gate, bias = lib.Input((4,)), lib.Input((2,)), lib.Input((3,))
        out = Gated(3, name="gated")(x, gate, bias=bias, scale=2.0)
        return lib.Model([x, gate, bias], out), Gated

    (ours, OurGated), (theirs, TheirGated) = make(kerasx, _Ops2), make(k, k.ops)
    ours.set_weights(theirs.get_weights())
    rng = np.random.default_rng(1)
    data = [rng.normal(size=(5, n)).astype("float32") for n in (4, 2, 3)]
    np.testing.assert_allclose(ours.predict(data, verbose=0), theirs.predict(data, verbose=0),
                               rtol=1e-5, atol=1e-6)
    node = ours.get_config()["layers"][-1]["inbound_nodes"][0]
    assert len(node["args"]) == 2 and node["kwargs"]["scale"] == 2.0
    assert node["kwargs"]["bias"]["class_name"] == "__keras_tensor__"
    clone = kerasx.Model.from_config(ours.get_config(), custom_objects={"Gated": OurGated})
    clone.set_weights(ours.get_weights())
    np.testing.assert_allclose(clone.predict(data, verbose=0), ours.predict(data, verbose=0),
                               rtol=1e-6)
    # Keras's own JSON of the same graph loads into kerasx
    from_keras = kerasx.models.model_from_json(theirs.to_json(),
                                               custom_objects={"Gated": OurGated})
    from_keras.set_weights(theirs.get_weights())
    np.testing.assert_allclose(from_keras.predict(data, verbose=0),
                               theirs.predict(data, verbose=0), rtol=1e-5, atol=1e-6)


def test_training_metrics_count_the_unmasked_entries():
    x, y = _data()
    model = make(kerasx, _JnpOps, sequential=True)
    model.compile(optimizer=kerasx.optimizers.SGD(0.0), loss="mse", metrics=["mae"])
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0).history
    error = np.abs(model.predict(x, verbose=0) - y).mean(-1)
    np.testing.assert_allclose(history["mae"][0], error[x[..., 0] != 0].mean(), rtol=1e-5)


def test_lambda_passes_a_mask_only_when_given_one_as_in_keras():
    x, _ = _data()
    maker = mask_layers(kerasx, _JnpOps)[0]
    keep = kerasx.Sequential([kerasx.Input((6, 3)), maker(),
                              layers.Lambda(jnp.square, mask=lambda inputs, mask: mask)])
    drop = kerasx.Sequential([kerasx.Input((6, 3)), maker(), layers.Lambda(jnp.square)])
    np.testing.assert_array_equal(keep.apply_with_masks(keep.params, keep.state, x)[2],
                                  x[..., 0] != 0)
    assert drop.apply_with_masks(drop.params, drop.state, x)[2] is None


# ------------------------------------------------ the mask channel outside fit: symbolic and eager
def needs_mask_layers(lib):
    """Layers whose `call` needs the mask (they fail without it, as Keras's guide's
    TemporalSoftmax does), one of them holding a sublayer."""
    ops = lib.ops

    class MaskedMean(lib.layers.Layer):
        def call(self, x, mask=None):
            if mask is None:
                raise ValueError("MaskedMean needs its mask")
            m = ops.expand_dims(ops.cast(mask, x.dtype), -1)
            return ops.sum(x * m, axis=1) / ops.maximum(ops.sum(m, axis=1), 1.0)

    class DenseThenMaskedMean(lib.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = lib.layers.Dense(3)
            self.mean = MaskedMean()

        def call(self, x, mask=None):
            return self.mean(self.dense(x), mask=mask)

    return MaskedMean, DenseThenMaskedMean


@pytest.mark.parametrize("build", ["functional", "sequential"])
def test_a_call_that_needs_its_mask_gets_it_while_the_model_is_built_like_keras(build):
    k = keras()
    tokens = np.array([[3, 1, 4, 0, 0], [1, 5, 0, 0, 0], [9, 2, 6, 5, 3]], "int32")
    preds, start = [], None
    for lib in (kerasx, k):
        MaskedMean, DenseThenMaskedMean = needs_mask_layers(lib)
        embed = lib.layers.Embedding(10, 4, mask_zero=True)
        if build == "functional":
            inputs = lib.Input((None,), dtype="int32")
            x = embed(inputs)
            # symbolic tensors carry their masks, as Keras's do
            assert x._keras_mask.shape == (None, None) and x._keras_mask.dtype == "bool"
            model = lib.Model(inputs, [MaskedMean()(x), DenseThenMaskedMean()(x)])
        else:
            model = lib.Sequential([lib.Input((None,), dtype="int32"), embed,
                                    DenseThenMaskedMean()])
        start = start or model.get_weights()
        model.set_weights(start)
        preds.append(model.predict(tokens, verbose=0))
        lines = []
        model.summary(print_fn=lambda line, *a, **k: lines.append(line))  # shapes with masks
        assert any("(None, 3)" in line for line in lines)
    for a, b in zip(jax.tree.leaves(preds[0]), jax.tree.leaves(preds[1])):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_eager_outputs_carry_their_masks_like_keras():
    k = keras()
    tokens = np.array([[3, 1, 4, 0, 0], [1, 5, 0, 0, 0]], "int32")
    for lib in (kerasx, k):
        embed = lib.layers.Embedding(10, 4, mask_zero=True)
        embed.build((None, 5))
        x = embed(tokens)
        np.testing.assert_array_equal(x._keras_mask, tokens != 0)
    # which layers pass the mask on, drop it, or make their own, compared with Keras
    outs = []
    for lib in (kerasx, k):
        embed = lib.layers.Embedding(10, 4, mask_zero=True)
        x = embed(tokens)
        row = {}
        for name, layer in [("dense", lib.layers.Dense(3)), ("flatten", lib.layers.Flatten()),
                            ("pool", lib.layers.GlobalAveragePooling1D()),
                            ("lstm_seq", lib.layers.LSTM(2, return_sequences=True)),
                            ("lstm", lib.layers.LSTM(2)),
                            ("masking", lib.layers.Masking(0.0))]:
            mask = getattr(layer(x), "_keras_mask", None)
            row[name] = None if mask is None else np.asarray(mask)
        outs.append(row)
    assert outs[0].keys() == outs[1].keys()
    for name in outs[0]:
        ours, theirs = outs[0][name], outs[1][name]
        assert (ours is None) == (theirs is None), name
        if ours is not None:
            np.testing.assert_array_equal(ours, theirs, err_msg=name)


def test_an_eager_call_passes_the_inputs_mask_to_call_like_keras():
    k = keras()
    tokens = np.array([[3, 1, 4, 0, 0], [1, 5, 0, 0, 0]], "int32")
    outs, start = [], None
    for lib in (k, kerasx):
        MaskedMean, DenseThenMaskedMean = needs_mask_layers(lib)
        embed = lib.layers.Embedding(10, 4, mask_zero=True)
        x = embed(tokens)
        if start is None:
            start = embed.get_weights()
        embed.set_weights(start)
        x = embed(tokens)
        # a layer with a sublayer, built by this first call, sees the mask while it is built
        nested = DenseThenMaskedMean()
        nested(x)
        if lib is kerasx:
            nested.set_weights(nested_weights)
        else:
            nested_weights = nested.get_weights()
        outs.append((np.asarray(MaskedMean()(x)), np.asarray(nested(x)),
                     np.asarray(lib.layers.LSTM(2, kernel_initializer="ones",
                                                recurrent_initializer="ones")(x))))
    for a, b in zip(outs[0], outs[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


# the layers a sequence's mask meets after Embedding(mask_zero=True) or Masking
MASK_CASES = [
    ("Dense", dict(units=3)), ("Activation", dict(activation="tanh")),
    ("Dropout", dict(rate=0.5)), ("SpatialDropout1D", dict(rate=0.5)),
    ("GaussianNoise", dict(stddev=0.1)), ("LayerNormalization", dict()),
    ("BatchNormalization", dict()), ("UnitNormalization", dict()), ("ReLU", dict()),
    ("Identity", dict()), ("Masking", dict(mask_value=0.0)),
    ("Conv1D", dict(filters=2, kernel_size=2)), ("Conv1D", dict(filters=2, kernel_size=3,
                                                                padding="same")),
    ("MaxPooling1D", dict(pool_size=2)), ("AveragePooling1D", dict(pool_size=2)),
    ("GlobalAveragePooling1D", dict()), ("GlobalAveragePooling1D", dict(keepdims=True)),
    ("GlobalMaxPooling1D", dict()), ("Flatten", dict()), ("Reshape", dict(target_shape=(-1,))),
    ("Permute", dict(dims=(2, 1))), ("ZeroPadding1D", dict(padding=1)),
    ("Cropping1D", dict(cropping=1)), ("UpSampling1D", dict(size=2)),
    ("SimpleRNN", dict(units=2)), ("SimpleRNN", dict(units=2, return_sequences=True)),
    ("LSTM", dict(units=2, return_sequences=True, go_backwards=True)),
    ("GRU", dict(units=2, return_sequences=True)), ("GRU", dict(units=2)),
]


def _layer(lib, name, kwargs):
    if name == "TimeDistributed":
        return lib.layers.TimeDistributed(lib.layers.Dense(2))
    if name == "Bidirectional":
        return lib.layers.Bidirectional(lib.layers.LSTM(2, return_sequences=True))
    return getattr(lib.layers, name)(**kwargs)


MASK_CASES += [("TimeDistributed", {}), ("Bidirectional", {})]


def _same_outputs_and_masks(theirs, ours):
    """Equal outputs, and the same `_keras_mask` on them (or none on both)."""
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-5, atol=1e-5)
    our_mask, their_mask = (getattr(t, "_keras_mask", None) for t in (ours, theirs))
    assert (our_mask is None) == (their_mask is None), (our_mask, their_mask)
    if our_mask is not None:
        np.testing.assert_array_equal(np.asarray(our_mask), np.asarray(their_mask))


@pytest.mark.parametrize("cls_name,kwargs", MASK_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(MASK_CASES)])
def test_a_mask_through_each_layer_like_keras(cls_name, kwargs):
    """An input carrying a (batch, steps) mask: the output (the layers that take the mask use
    it) and whether, and which, mask the output carries, against Keras on the same weights."""
    import warnings
    k = keras()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 4)).astype("float32")
    mask = np.ones((2, 6), bool)
    mask[0, 3:] = False
    results = []
    for lib in (k, kerasx):
        layer = _layer(lib, cls_name, kwargs)
        layer(x)  # built
        if lib is kerasx:
            layer.set_weights(weights)
        else:
            weights = layer.get_weights()
        tagged = jnp.asarray(x)
        tagged._keras_mask = jnp.asarray(mask)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = layer(tagged)
        results.append(out)
    _same_outputs_and_masks(*results)


@pytest.mark.parametrize("name,both", [
    ("MultiHeadAttention", True), ("Attention", True), ("Add", True), ("Add", False),
    ("Maximum", True), ("Minimum", True), ("Minimum", False), ("Concatenate", True),
    ("Concatenate", False), ("Concatenate1", True), ("Subtract", True), ("Average", True)])
def test_masks_of_several_inputs_reach_the_layer_like_keras(name, both):
    """Two tensors carrying masks (the query's and the value's, or a merge's inputs), or only
    the first one a mask."""
    import warnings
    k = keras()
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 6, 4)).astype("float32")
    q_mask = np.ones((2, 6), bool)
    q_mask[0, 4:] = False
    v_mask = np.ones((2, 6), bool)
    v_mask[1, 2:] = False
    results = []
    for lib in (k, kerasx):
        layer = (lib.layers.MultiHeadAttention(2, 3) if name == "MultiHeadAttention"
                 else lib.layers.Concatenate(axis=1) if name == "Concatenate1"
                 else getattr(lib.layers, name)())
        call = (lambda a, b: layer(a, b)) if name == "MultiHeadAttention" else \
            (lambda a, b: layer([a, b]))
        call(x, x[:, ::-1])  # built
        if lib is kerasx:
            layer.set_weights(weights)
        else:
            weights = layer.get_weights()
        a, b = jnp.asarray(x), jnp.asarray(x[:, ::-1])
        a._keras_mask = jnp.asarray(q_mask)
        if both:
            b._keras_mask = jnp.asarray(v_mask)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = call(a, b)
        results.append(out)
    _same_outputs_and_masks(*results)


def test_an_explicit_mask_argument_wins_over_the_attached_one_like_keras():
    k = keras()
    tokens = np.array([[3, 1, 4, 0, 0], [1, 5, 0, 0, 0]], "int32")
    explicit = np.array([[1, 0, 1, 0, 1], [1, 1, 1, 1, 1]], bool)
    outs = []
    for lib in (kerasx, k):
        MaskedMean, _ = needs_mask_layers(lib)
        inputs, given = lib.Input((5,), dtype="int32"), lib.Input((5,), dtype="bool")
        x = lib.layers.Embedding(10, 4, mask_zero=True, embeddings_initializer="ones")(inputs)
        sym = lib.Model([inputs, given], MaskedMean()(x, mask=given))
        eager = MaskedMean()(lib.layers.Embedding(10, 4, mask_zero=True,
                                                  embeddings_initializer="ones")(tokens),
                             mask=explicit)
        outs.append((sym.predict([tokens, explicit], verbose=0), np.asarray(eager)))
    for a, b in zip(outs[0], outs[1]):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def _masks_seen_by_sublayers(lib):
    """An Embedding(mask_zero=True), then a layer whose `call` calls a mask-taking sublayer on
    its inputs (mask left to the framework), then a nested functional model fed that output."""

    class Probe(lib.layers.Layer):  # zeroes the masked steps: shows the mask it got
        supports_masking = True

        def call(self, x, mask=None):
            return x if mask is None else x * lib.ops.cast(mask, x.dtype)[..., None]

    class Outer(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.probe = Probe()
            self.supports_masking = True

        def call(self, inputs, mask=None):
            return self.probe(inputs) + 1.0

    inner_in = lib.Input((None, 3))
    inner = lib.Model(inner_in, Probe()(inner_in))
    ids = lib.Input((None,), dtype="int32")
    x = lib.layers.Embedding(5, 3, mask_zero=True, embeddings_initializer="ones")(ids)
    return lib.Model(ids, [Outer()(x), inner(x)])


def test_sublayers_and_nested_models_see_the_masks_of_their_inputs_like_keras():
    ids = np.array([[1, 2, 0, 0], [3, 0, 0, 0]], "int32")
    ours = _masks_seen_by_sublayers(kerasx).predict(ids, verbose=0)
    theirs = _masks_seen_by_sublayers(keras()).predict(ids, verbose=0)
    assert np.all(np.asarray(theirs[0])[0, 2:] == 1.0)  # Keras: the masked steps zeroed, + 1
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-6)
