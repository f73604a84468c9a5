"""Oracle tests of the rest of `kerasx.losses` (hinge, KL, Poisson, focal, Dice, Circle, CTC, ...)
against Keras 3: class and function forms, reductions, sample weights, configs, lookup by name,
`serialize`/`deserialize`, use in `fit`, and bad input."""

import numpy as np
import pytest

import kerasx
from kerasx import losses

from keras_oracle import keras  # the oracle tests skip without Keras

N, K = 6, 4
RTOL = ATOL = 1e-5
REDUCTIONS = ["sum_over_batch_size", "sum", "none", "mean_with_sample_weight"]


def _probs(rng, shape):
    p = rng.random(shape).astype("float32") + 0.05
    return p / p.sum(-1, keepdims=True)


def _data(kind, seed=0):
    """(y_true, y_pred) for a family of losses."""
    rng = np.random.default_rng(seed)
    if kind == "binary":  # 0/1 labels: the hinge losses map them to -1/1
        return rng.integers(0, 2, (N, 3)).astype("float32"), rng.normal(size=(N, 3)).astype("float32")
    if kind == "signed":  # -1/1 labels, and one label vector that is neither (kept as is)
        return np.sign(rng.normal(size=(N, 3))).astype("float32"), rng.normal(size=(N, 3)).astype("float32")
    if kind == "binary_col_vs_vec":  # (n,) labels with (n, 1) outputs: the wrapper expands
        return rng.integers(0, 2, N).astype("float32"), rng.normal(size=(N, 1)).astype("float32")
    if kind == "probs01":
        return rng.integers(0, 2, (N, 3)).astype("float32"), rng.random((N, 3)).astype("float32")
    if kind == "onehot_scores":
        return np.eye(K, dtype="float32")[rng.integers(0, K, N)], rng.normal(size=(N, K)).astype("float32")
    if kind == "onehot_probs":
        return np.eye(K, dtype="float32")[rng.integers(0, K, N)], _probs(rng, (N, K))
    if kind == "dists":
        t = _probs(rng, (N, K))
        t[0, 0] = 0.0  # exercises the clipping to [1e-7, 1]
        return t, _probs(rng, (N, K))
    if kind == "counts":
        return rng.poisson(2.0, (N, 3)).astype("float32"), rng.random((N, 3)).astype("float32") * 3
    if kind == "reg":
        t = rng.normal(size=(N, 3)).astype("float32")
        t[0, 0] = 0.0  # MAPE divides by max(|y|, 1e-7)
        return t, rng.normal(size=(N, 3)).astype("float32") * 2
    if kind == "reg_vec_vs_col":
        return rng.normal(size=N).astype("float32"), rng.normal(size=(N, 1)).astype("float32")
    if kind == "sparse_probs":
        return rng.integers(0, K, N), _probs(rng, (N, K))
    if kind == "embeddings":
        e = rng.normal(size=(N, 5)).astype("float32")
        return np.array([0, 1, 0, 1, 2, 2]), e / np.linalg.norm(e, axis=-1, keepdims=True)
    if kind == "ctc":
        labels = np.array([[1, 2, 0], [3, 0, 0], [1, 1, 2], [2, 3, 1], [0, 0, 0], [2, 0, 0]])
        return labels, rng.normal(size=(N, 7, K)).astype("float32")
    raise KeyError(kind)


# (class name, constructor kwargs, function kwargs, data kinds)
CASES = [
    ("Hinge", {}, {}, ["binary", "signed", "binary_col_vs_vec"]),
    ("SquaredHinge", {}, {}, ["binary", "signed"]),
    ("CategoricalHinge", {}, {}, ["onehot_scores"]),
    ("KLDivergence", {}, {}, ["dists"]),
    ("Poisson", {}, {}, ["counts"]),
    ("LogCosh", {}, {}, ["reg", "reg_vec_vs_col"]),
    ("MeanAbsolutePercentageError", {}, {}, ["reg", "reg_vec_vs_col"]),
    ("MeanSquaredLogarithmicError", {}, {}, ["counts", "reg"]),
    ("CosineSimilarity", {}, {}, ["reg"]),
    ("BinaryFocalCrossentropy", {}, {}, ["probs01"]),
    ("BinaryFocalCrossentropy",
     {"apply_class_balancing": True, "alpha": 0.4, "gamma": 1.5, "from_logits": True,
      "label_smoothing": 0.1}, None, ["binary", "binary_col_vs_vec"]),
    ("CategoricalFocalCrossentropy", {}, {}, ["onehot_probs"]),
    ("CategoricalFocalCrossentropy",
     {"alpha": [0.1, 0.2, 0.3, 0.4], "gamma": 3.0, "from_logits": True, "label_smoothing": 0.2},
     None, ["onehot_scores"]),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.3}, {"q": 0.3}, ["sparse_probs"]),
    ("Dice", {}, {}, ["probs01"]),
    ("Dice", {"axis": (1,)}, None, ["probs01"]),
    ("Tversky", {"alpha": 0.3, "beta": 0.7}, None, ["probs01"]),
    ("Tversky", {"axis": [1]}, None, ["probs01"]),
    ("Circle", {}, {}, ["embeddings"]),
    ("Circle", {"gamma": 10.0, "margin": 0.2, "remove_diagonal": False}, None, ["embeddings"]),
    ("CTC", {}, {}, ["ctc"]),
]
PARAMS = [pytest.param(cls, kw, fkw, kind, id=f"{cls}-{i}-{kind}")
          for i, (cls, kw, fkw, kinds) in enumerate(CASES) for kind in kinds]
# Keras's function names for the classes (the function takes the class's options but
# reduction/name; `None` above: the same options as the class).
FUNCTION_OF = {"Hinge": "hinge", "SquaredHinge": "squared_hinge",
               "CategoricalHinge": "categorical_hinge", "KLDivergence": "kl_divergence",
               "Poisson": "poisson", "LogCosh": "log_cosh",
               "MeanAbsolutePercentageError": "mean_absolute_percentage_error",
               "MeanSquaredLogarithmicError": "mean_squared_logarithmic_error",
               "CosineSimilarity": "cosine_similarity",
               "BinaryFocalCrossentropy": "binary_focal_crossentropy",
               "CategoricalFocalCrossentropy": "categorical_focal_crossentropy",
               "CategoricalGeneralizedCrossEntropy": "categorical_generalized_cross_entropy",
               "Dice": "dice", "Tversky": "tversky", "Circle": "circle", "CTC": "ctc"}


@pytest.mark.parametrize("cls_name, kwargs, fn_kwargs, kind", PARAMS)
def test_loss_matches_keras(cls_name, kwargs, fn_kwargs, kind):
    y_true, y_pred = _data(kind)
    weights = np.random.default_rng(1).uniform(0.2, 2.0, N).astype("float32")
    per_sample = losses.get(cls_name).per_sample(y_true, y_pred)
    # The slow losses (a scan, a pairwise matrix) check two reductions; the others all four.
    for reduction in REDUCTIONS[::2] if cls_name in ("CTC", "Circle") else REDUCTIONS:
        ours = getattr(losses, cls_name)(reduction=reduction, **kwargs)
        ref = getattr(keras.losses, cls_name)(reduction=reduction, **kwargs)
        # A loss reduced over the whole batch (Dice, axis=None) takes no per-sample weights.
        for sw in [None] if np.ndim(per_sample) == 0 else [None, weights]:
            got = np.asarray(ours(y_true, y_pred, sample_weight=sw))
            want = np.asarray(ref(y_true, y_pred, sample_weight=sw))
            assert got.shape == want.shape, (reduction, sw is not None)
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL,
                                       err_msg=f"{reduction}, weighted={sw is not None}")
    config = ours.get_config()
    ref_config = ref.get_config()
    if cls_name == "CosineSimilarity":  # Keras drops `axis` from the config; kerasx keeps it
        assert config.pop("axis") == kwargs.get("axis", -1)
    assert config == ref_config
    # The function form, through `squeeze_or_expand_to_same_rank` as the class applies it.
    fn_name = FUNCTION_OF[cls_name]
    fn_kwargs = {k: v for k, v in kwargs.items()} if fn_kwargs is None else fn_kwargs
    if kind.endswith("vs_vec") or kind.endswith("vs_col"):
        return
    got = getattr(losses, fn_name)(y_true, y_pred, **fn_kwargs)
    want = getattr(keras.losses, fn_name)(y_true, y_pred, **fn_kwargs)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=RTOL, atol=ATOL)


def test_losses_are_jit_safe_and_differentiable():
    import jax

    for cls_name in ("BinaryFocalCrossentropy", "Circle", "CTC"):
        kind = {"BinaryFocalCrossentropy": "probs01", "Circle": "embeddings", "CTC": "ctc"}[cls_name]
        y_true, y_pred = _data(kind)
        loss = losses.get(cls_name)
        value, grad = jax.jit(jax.value_and_grad(lambda p: loss(y_true, p)))(y_pred)
        np.testing.assert_allclose(value, loss(y_true, y_pred), rtol=1e-5)
        assert np.all(np.isfinite(np.asarray(grad))), cls_name


def test_names_resolve_like_keras():
    """Every name of Keras's loss table resolves to the matching kerasx loss."""
    from keras.src.losses import ALL_OBJECTS_DICT

    for name, obj in ALL_OBJECTS_DICT.items():
        if name in ("Loss", "LossFunctionWrapper"):
            continue
        ours = losses.get(name)
        assert isinstance(ours, losses.Loss), name
        if isinstance(obj, type):
            assert type(ours).__name__ == obj.__name__, name
        else:  # Keras gives the function; kerasx the class wrapping that function
            assert ours.fn.__name__ == obj.__name__, name
    assert isinstance(losses.get("categorical_generalized_cross_entropy"),
                      losses.CategoricalGeneralizedCrossEntropy)
    assert isinstance(kerasx.losses.get({"class_name": "Tversky", "config": {"alpha": 0.2}}),
                      losses.Tversky)


@pytest.mark.parametrize("cls_name, kwargs", [
    ("Hinge", {}), ("CosineSimilarity", {"axis": 0}), ("CTC", {"name": "c"}),
    ("BinaryFocalCrossentropy", {"gamma": 3.0, "reduction": "sum"}),
    ("CategoricalFocalCrossentropy", {"alpha": [0.5, 0.5]}), ("Dice", {"axis": [1, 2]}),
    ("Tversky", {"beta": 0.9}), ("Circle", {"margin": 0.1}),
    ("CategoricalGeneralizedCrossEntropy", {"q": 0.7}),
])
def test_serialize_matches_keras_and_round_trips(cls_name, kwargs):
    ours = getattr(losses, cls_name)(**kwargs)
    data = losses.serialize(ours)
    want = keras.losses.serialize(getattr(keras.losses, cls_name)(**kwargs))
    if cls_name == "CosineSimilarity":
        assert data["config"].pop("axis") == 0
        assert data == want
        data["config"]["axis"] = 0
    else:
        assert data == want
    back = losses.deserialize(data)
    assert type(back) is type(ours) and back.get_config() == ours.get_config()


def test_serialize_functions_and_names():
    for fn_name in ("hinge", "kl_divergence", "dice", "ctc", "binary_focal_crossentropy"):
        data = losses.serialize(getattr(losses, fn_name))
        assert data == keras.losses.serialize(getattr(keras.losses, fn_name))
        assert losses.deserialize(data) is getattr(losses, fn_name)
    assert losses.deserialize("mse") is losses.mean_squared_error
    assert losses.deserialize("kld") is losses.kl_divergence
    assert isinstance(losses.deserialize("Poisson"), losses.Poisson)
    assert losses.serialize(None) is None and losses.deserialize(None) is None

    def my_loss(y_true, y_pred):
        return (y_true - y_pred) ** 2

    assert losses.deserialize("my_loss", custom_objects={"my_loss": my_loss}) is my_loss


# ---------------------------------------------------------------------------- fit
def _dense(activation):
    return lambda L: [L.Input((5,)), L.Dense(3, activation=activation)]


# (loss, architecture, target kind, metrics); a callable takes the module (kerasx or keras).
FIT_CASES = [
    ("hinge", _dense("tanh"), "binary", ["hinge", "squared_hinge"]),
    (lambda m: m.losses.KLDivergence(), _dense("softmax"), "onehot",
     ["kl_divergence", "categorical_hinge", "cosine_similarity"]),
    (lambda m: m.losses.Poisson(reduction="sum"), _dense("softplus"), "counts",
     ["poisson", "mean_squared_logarithmic_error", "root_mean_squared_error",
      lambda m: m.metrics.LogCoshError(), lambda m: m.metrics.MeanAbsolutePercentageError()]),
    (lambda m: m.losses.CategoricalFocalCrossentropy(from_logits=True, gamma=1.0), _dense(None),
     "onehot", [lambda m: m.metrics.CategoricalCrossentropy(from_logits=True)]),
    (lambda m: m.losses.Dice(), _dense("sigmoid"), "binary", []),
    (lambda m: m.losses.Tversky(alpha=0.7, beta=0.3, axis=1), _dense("sigmoid"), "binary", []),
    (lambda m: m.losses.BinaryFocalCrossentropy(apply_class_balancing=True), _dense("sigmoid"),
     "binary", [lambda m: m.metrics.BinaryCrossentropy()]),
    (lambda m: m.losses.CategoricalGeneralizedCrossEntropy(q=0.4), _dense("softmax"), "labels",
     ["sparse_categorical_accuracy"]),
    (lambda m: m.losses.Circle(gamma=4.0), lambda L: [L.Input((5,)), L.Dense(4),
                                                      L.UnitNormalization()], "labels", []),
    ("ctc", lambda L: [L.Input((7, 5)), L.Dense(4)], "ctc", []),
]


# The first three and the last two run by default; the rest are marked slow.
FIT_PARAMS = [pytest.param(*case, id=f"fit{i}",
                           marks=[pytest.mark.slow] if 3 <= i < len(FIT_CASES) - 2 else [])
              for i, case in enumerate(FIT_CASES)]


@pytest.mark.parametrize("loss, arch, target, metrics", FIT_PARAMS)
def test_compile_and_fit_match_keras(loss, arch, target, metrics):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(32, 7, 5) if target == "ctc" else (32, 5)).astype("float32")
    y = {"binary": lambda: rng.integers(0, 2, (32, 3)).astype("float32"),
         "onehot": lambda: np.eye(3, dtype="float32")[rng.integers(0, 3, 32)],
         "counts": lambda: rng.poisson(1.5, (32, 3)).astype("float32"),
         "labels": lambda: np.tile(np.arange(4) % 3, 8),
         "ctc": lambda: np.tile([[1, 2, 0], [3, 3, 1], [2, 0, 0], [1, 3, 2]], (8, 1))}[target]()

    def compile_kw(m):
        return dict(optimizer=m.optimizers.SGD(0.05),
                    loss=loss(m) if callable(loss) else loss,
                    metrics=[mt(m) if callable(mt) else mt for mt in metrics])

    kx = kerasx.Sequential(arch(kerasx.layers))
    kr = keras.Sequential(arch(keras.layers))
    kr.set_weights(kx.get_weights())
    kx.compile(**compile_kw(kerasx))
    kr.compile(**compile_kw(keras))
    kw = dict(epochs=2, batch_size=16, shuffle=False, verbose=0)
    h1, h2 = kx.fit(x, y, **kw).history, kr.fit(x, y, **kw).history
    assert set(h1) == set(h2)
    for key in h2:
        assert np.all(np.isfinite(h1[key])), key
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-4, atol=1e-4, err_msg=key)
    for a, b in zip(kx.get_weights(), kr.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------- padded last batches (Dice, Tversky, Circle)
# These losses couple the rows of a batch (sums over the batch, pairs of samples): the padding
# rows of kerasx's padded last batch must not enter them. 20 samples in batches of 8 leave a
# last batch of 4; Keras runs it at its real size.
PADDED_LOSSES = {
    "dice": lambda m: m.losses.Dice(),
    "tversky": lambda m: m.losses.Tversky(alpha=0.7, beta=0.3),
    "tversky_axis1": lambda m: m.losses.Tversky(axis=1),
    "circle": lambda m: m.losses.Circle(gamma=4.0),
}


def _padded_case(name, seed=5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(20, 5)).astype("float32")
    if name == "circle":
        return x, np.arange(20) % 3, lambda L: [L.Input((5,)), L.Dense(4), L.UnitNormalization()]
    return (x, rng.integers(0, 2, (20, 3)).astype("float32"),
            lambda L: [L.Input((5,)), L.Dense(3, activation="sigmoid")])


@pytest.mark.parametrize("name, feed", [
    ("dice", "arrays"), ("dice", "batches"), ("tversky", "arrays"), ("circle", "arrays"),
    *[pytest.param(*case, marks=pytest.mark.slow) for case in [
        ("dice", "streamed"), ("dice", "weighted"), ("tversky_axis1", "arrays"),
        ("circle", "batches")]]])
def test_padded_last_batch_matches_keras(name, feed):
    x, y, arch = _padded_case(name)
    sw = np.linspace(0.5, 2.0, 20).astype("float32") if feed == "weighted" else None
    kx = kerasx.Sequential(arch(kerasx.layers))
    kr = keras.Sequential(arch(keras.layers))
    kr.set_weights(kx.get_weights())
    kx.compile(optimizer=kerasx.optimizers.SGD(0.05), loss=PADDED_LOSSES[name](kerasx),
               data_on_device=feed != "streamed")
    kr.compile(optimizer=keras.optimizers.SGD(0.05), loss=PADDED_LOSSES[name](keras))
    kw = dict(epochs=2, shuffle=False, verbose=0)
    h2 = kr.fit(x, y, batch_size=8, sample_weight=sw, **kw).history["loss"]
    if feed == "batches":  # an iterable of (x, y) batches, padded batch by batch
        h1 = kx.fit([(x[i:i + 8], y[i:i + 8]) for i in range(0, 20, 8)], **kw).history["loss"]
    else:
        h1 = kx.fit(x, y, batch_size=8, sample_weight=sw, **kw).history["loss"]
    np.testing.assert_allclose(h1, h2, rtol=1e-5, atol=1e-6)
    for a, b in zip(kx.get_weights(), kr.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(kx.evaluate(x, y, batch_size=8, verbose=0),
                               kr.evaluate(x, y, batch_size=8, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["dice", "tversky", "tversky_axis1", "circle"])
def test_row_mask_leaves_padding_out(name):
    """`per_sample_with_row_mask` on a batch padded with junk rows (inf, NaN) gives, reduced
    over the real rows, Keras's loss of the unpadded batch."""
    import jax

    from kerasx.training.losses import reduce_padded

    _, y, _ = _padded_case(name)
    y = y[:6]
    rng = np.random.default_rng(1)
    if name == "circle":
        p = rng.normal(size=(6, 4)).astype("float32")
        p /= np.linalg.norm(p, axis=-1, keepdims=True)
    else:
        p = rng.random((6, 3)).astype("float32")
    pad = lambda a, v: np.concatenate([a, np.full((3,) + a.shape[1:], v, a.dtype)])
    row_mask = np.array([1.0] * 6 + [0.0] * 3, "float32")
    loss = PADDED_LOSSES[name](kerasx)
    y_pad = pad(y, 0 if name == "circle" else np.nan)
    p_pad = pad(p, np.inf)
    values, mask = jax.jit(loss.per_sample_with_row_mask)(y_pad, p_pad, row_mask)
    got = reduce_padded(values, row_mask, row_mask, 6, loss.reduction, mask)
    want = PADDED_LOSSES[name](keras)(y, p)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("make, match", [
    (lambda: losses.Hinge(reduction="avg"), "reduction"),
    (lambda: losses.BinaryFocalCrossentropy(label_smoothing=1.5), "label_smoothing"),
    (lambda: losses.BinaryFocalCrossentropy(gamma=-1.0), "gamma"),
    (lambda: losses.CategoricalFocalCrossentropy(axis=True), "axis"),
    (lambda: losses.CategoricalGeneralizedCrossEntropy(q=1.0), "q"),
    (lambda: losses.CategoricalGeneralizedCrossEntropy(q=0), "q"),
    (lambda: losses.Dice(axis="rows"), "axis"),
    (lambda: losses.Tversky(axis=(1, 2.0)), "axis"),
    (lambda: losses.CosineSimilarity(axis=None), "axis"),
])
def test_bad_arguments_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"y_true.*\(batch_size, max_length\).*Received"):
        losses.CTC()(np.ones((2, 3, 1)), np.zeros((2, 5, 4), "float32"))
    with pytest.raises(ValueError, match=r"y_pred.*\(batch_size, max_length, num_classes\)"):
        losses.ctc(np.ones((2, 3)), np.zeros((2, 5), "float32"))
    with pytest.raises(ValueError, match=r"alpha.*4 classes"):
        losses.CategoricalFocalCrossentropy(alpha=[0.5, 0.5])(*_data("onehot_probs"))
    with pytest.raises(ValueError, match="same shape"):
        losses.BinaryFocalCrossentropy()(np.zeros((N, 3)), np.zeros((N, 2), "float32"))
    with pytest.raises(ValueError, match=r"Circle.*\(batch, dim\)"):
        losses.Circle()(np.zeros(N), np.zeros((N, 2, 2), "float32"))
    with pytest.raises(ValueError, match="Unknown loss"):
        losses.get("hinge_loss_typo")
    with pytest.raises(ValueError, match="Unknown loss"):
        losses.deserialize("nope")
    with pytest.raises(ValueError, match="should be a dict"):
        losses.deserialize({"class_name": "Hinge", "config": "hinge"})
    with pytest.raises(ValueError, match="Cannot rebuild loss 'Hinge'"):
        losses.deserialize({"class_name": "Hinge", "config": {"delta": 1.0}})
    with pytest.raises(ValueError, match="class_name"):
        losses.deserialize(42)


def test_label_checks_before_fit():
    """Shapes that would broadcast or mix label conventions are caught on the host."""
    with pytest.raises(ValueError, match="entry by entry"):
        losses.check_labels("hinge", (8, 5), (8, 1))
    with pytest.raises(ValueError, match="one-hot"):
        losses.check_labels(losses.CategoricalFocalCrossentropy(), (8,), (8, 4))
    with pytest.raises(ValueError, match=r"labels in \[0, 4\)"):
        losses.check_labels("categorical_generalized_cross_entropy", (3,), (3, 4),
                            np.array([0, 1, 7]))
