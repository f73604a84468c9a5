"""`kerasx.config`'s settings against Keras 3's `keras.config`, the top-level names, `kerasx.backend`,
`DTypePolicyMap`, `clone_model` and the scopes."""

import jax
import numpy as np
import pytest

import kerasx
from kerasx import layers
from keras_oracle import require_keras


@pytest.fixture
def keras():
    """Keras, with kerasx's and Keras's settings restored after the test."""
    keras = require_keras()
    saved = (kerasx.config.floatx(), kerasx.config.epsilon(), kerasx.config.image_data_format(),
             kerasx.config.max_epochs(), kerasx.config.max_steps_per_epoch())
    ksaved = (keras.config.floatx(), keras.config.epsilon(), keras.config.image_data_format())
    yield keras
    kerasx.config.set_floatx(saved[0])
    kerasx.config.set_epsilon(saved[1])
    kerasx.config.set_image_data_format(saved[2])
    kerasx.config.set_max_epochs(saved[3])
    kerasx.config.set_max_steps_per_epoch(saved[4])
    kerasx.config.enable_flash_attention()
    kerasx.config.enable_traceback_filtering()
    keras.config.set_floatx(ksaved[0])
    _fresh_keras_policy()
    keras.config.set_epsilon(ksaved[1])
    keras.config.set_image_data_format(ksaved[2])
    keras.config.enable_flash_attention()
    keras.config.enable_traceback_filtering()


# ----------------------------------------------------------------------------- floatx
def _fresh_keras_policy():
    """Keras computes its global policy from floatx once, on first use, and keeps it until
    `clear_session`; this test models `set_floatx` at the start of a session."""
    from keras.src.backend.common import global_state

    global_state.set_global_attribute("dtype_policy", None)


@pytest.mark.parametrize("floatx", ["float16", "bfloat16", "float32"])
def test_set_floatx_sets_the_default_policy_and_op_dtypes_as_keras(keras, floatx):
    kerasx.config.set_floatx(floatx)
    keras.config.set_floatx(floatx)
    _fresh_keras_policy()
    assert kerasx.config.floatx() == keras.config.floatx() == floatx
    ours, theirs = layers.Dense(2), keras.layers.Dense(2)
    assert ours.dtype_policy.name == theirs.dtype_policy.name == floatx
    assert ours.compute_dtype == theirs.compute_dtype
    ours.build((None, 3))
    theirs.build((None, 3))
    assert ours.kernel.dtype == theirs.kernel.dtype
    for name in ("ones", "zeros", "eye"):
        args = (2,) if name == "eye" else ((2, 3),)
        assert str(getattr(kerasx.ops, name)(*args).dtype) == \
            str(getattr(keras.ops, name)(*args).dtype)
    assert str(kerasx.random.normal((2,)).dtype) == str(keras.random.normal((2,)).dtype)
    assert kerasx.backend.standardize_dtype(float) == keras.backend.standardize_dtype(float)


def test_set_floatx_leaves_layers_with_a_global_policy_or_dtype_alone(keras):
    kerasx.config.set_floatx("float16")
    assert layers.Dense(2, dtype="float32").dtype_policy.name == "float32"
    kerasx.config.set_dtype_policy("mixed_bfloat16")
    try:
        assert layers.Dense(2).dtype_policy.name == "mixed_bfloat16"
    finally:
        kerasx.config.set_dtype_policy(None)
    assert layers.Dense(2).dtype_policy.name == "float16"


def test_set_floatx_rejects_other_dtypes(keras):
    with pytest.raises(ValueError, match="Unknown `floatx` value: int32"):
        kerasx.config.set_floatx("int32")
    with pytest.raises(ValueError):
        keras.config.set_floatx("int32")


# ----------------------------------------------------------------------------- epsilon
LOSSES = ["categorical_crossentropy", "binary_crossentropy", "kl_divergence", "poisson",
          "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
          "categorical_focal_crossentropy"]


@pytest.mark.parametrize("eps", [1e-7, 1e-2])
def test_set_epsilon_reaches_losses_metrics_and_constraints_as_in_keras(keras, eps):
    kerasx.config.set_epsilon(eps)
    keras.config.set_epsilon(eps)
    assert kerasx.config.epsilon() == keras.config.epsilon() == eps
    y_true = np.array([[0., 1., 0.], [1., 0., 0.]], np.float32)
    y_pred = np.array([[0., 1., 0.], [0.3, 0.7, 0.]], np.float32)
    for name in LOSSES:
        np.testing.assert_allclose(getattr(kerasx.losses, name)(y_true, y_pred),
                                   getattr(keras.losses, name)(y_true, y_pred),
                                   rtol=1e-5, atol=1e-6, err_msg=name)
    # a loss object compiled (traced) after the change reads it too
    loss = kerasx.losses.BinaryCrossentropy()
    np.testing.assert_allclose(jax.jit(loss)(y_true, y_pred),
                               keras.losses.BinaryCrossentropy()(y_true, y_pred), rtol=1e-5)
    w = np.array([[0.0, 1e-3], [0.0, 2.0]], np.float32)
    np.testing.assert_allclose(kerasx.constraints.UnitNorm()(w), keras.constraints.UnitNorm()(w),
                               rtol=1e-5)
    ours, theirs = kerasx.metrics.F1Score(), keras.metrics.F1Score()
    yt = np.array([[1, 0], [0, 1], [1, 0]], np.float32)
    yp = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]], np.float32)
    ours.update_state(yt, yp)
    theirs.update_state(yt, yp)
    np.testing.assert_allclose(ours.result(), theirs.result(), rtol=1e-5)


def test_set_epsilon_rejects_non_numbers():
    with pytest.raises(ValueError, match="`epsilon` must be a float"):
        kerasx.config.set_epsilon("small")


# ----------------------------------------------------------------------------- data format
def test_set_image_data_format_sets_the_default_of_image_layers_as_keras(keras):
    kerasx.config.set_image_data_format("channels_first")
    keras.config.set_image_data_format("channels_first")
    for name, args in [("Conv2D", (2, 3)), ("MaxPooling2D", ()), ("AveragePooling1D", (2,)),
                       ("GlobalAveragePooling2D", ()), ("UpSampling2D", ()),
                       ("SpatialDropout2D", (0.1,)), ("ZeroPadding2D", ()), ("Conv3DTranspose",
                                                                             (2, 3))]:
        assert getattr(layers, name)(*args).data_format == \
            getattr(keras.layers, name)(*args).data_format == "channels_first", name
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 5)).astype(np.float32)
    ours, theirs = layers.Conv2D(4, 3), keras.layers.Conv2D(4, 3)
    theirs.build(x.shape)
    ours.build(x.shape)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-4, atol=1e-5)
    # (Keras 3.15's `ops.max_pool` fails with jax 0.10 here: the oracle is NumPy's 2x2 max)
    expected = x[:, :, :6, :4].reshape(2, 3, 3, 2, 2, 2).max(axis=(3, 5))
    np.testing.assert_allclose(kerasx.ops.max_pool(x, 2), expected, rtol=1e-6)
    np.testing.assert_allclose(layers.Flatten()(x), keras.layers.Flatten()(x))  # moved first
    kerasx.config.set_image_data_format("channels_last")
    assert layers.Conv2D(2, 3).data_format == "channels_last"
    np.testing.assert_allclose(layers.Flatten(data_format="channels_first")(x),
                               keras.layers.Flatten(data_format="channels_first")(x))
    with pytest.raises(ValueError, match="Flatten.*Received: data_format='nchw'"):
        layers.Flatten(data_format="nchw")


def test_set_image_data_format_rejects_other_values():
    with pytest.raises(ValueError, match="channels_first.*Received: data_format=nchw"):
        kerasx.config.set_image_data_format("nchw")


# ----------------------------------------------------------------------------- flags
def test_flags_read_as_in_keras(keras):
    assert kerasx.config.is_flash_attention_enabled() == keras.config.is_flash_attention_enabled()
    kerasx.config.disable_flash_attention()
    keras.config.disable_flash_attention()
    assert kerasx.config.is_flash_attention_enabled() is \
        keras.config.is_flash_attention_enabled() is False
    kerasx.config.enable_flash_attention()
    keras.config.enable_flash_attention()
    assert kerasx.config.is_flash_attention_enabled() == keras.config.is_flash_attention_enabled()
    kerasx.config.disable_traceback_filtering()
    keras.config.disable_traceback_filtering()
    assert kerasx.config.is_traceback_filtering_enabled() is \
        keras.config.is_traceback_filtering_enabled() is False
    kerasx.config.enable_traceback_filtering()
    assert kerasx.config.is_traceback_filtering_enabled() is True
    assert kerasx.config.is_nnx_enabled() is keras.config.is_nnx_enabled() is False
    assert kerasx.config.backend() == keras.config.backend() == "jax"


def test_set_backend_accepts_jax_only():
    kerasx.config.set_backend("jax")
    with pytest.raises(ValueError, match="runs on JAX only.*'torch'"):
        kerasx.config.set_backend("torch")
    with pytest.raises(ValueError, match="Available backends"):
        kerasx.config.set_backend("theano")


def test_unsafe_deserialization_flag():
    before = kerasx.saving.is_unsafe_deserialization_enabled()
    kerasx.config.enable_unsafe_deserialization()
    try:
        assert kerasx.saving.is_unsafe_deserialization_enabled()
    finally:
        kerasx._settings.UNSAFE_DESERIALIZATION = before


def test_max_epochs_and_steps_are_kept_and_checked(keras):
    assert kerasx.config.max_epochs() is None and kerasx.config.max_steps_per_epoch() is None
    kerasx.config.set_max_epochs(2)
    kerasx.config.set_max_steps_per_epoch(3)
    assert (kerasx.config.max_epochs(), kerasx.config.max_steps_per_epoch()) == (2, 3)
    with pytest.raises(ValueError, match="positive integer or None. Received: max_epochs=0"):
        kerasx.config.set_max_epochs(0)
    with pytest.raises(ValueError, match="max_steps_per_epoch=1.5"):
        kerasx.config.set_max_steps_per_epoch(1.5)


def test_max_epochs_and_steps_cap_fit(keras):
    model = kerasx.Sequential([kerasx.Input((4,)), layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((80, 4), np.float32), np.ones((80, 1), np.float32)
    kerasx.config.set_max_epochs(2)
    kerasx.config.set_max_steps_per_epoch(3)
    seen = {"epochs": 0, "batches": 0}

    class Count(kerasx.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            seen["epochs"] += 1

        def on_train_batch_begin(self, batch, logs=None):
            seen["batches"] += 1

    with pytest.warns(UserWarning):
        model.fit(x, y, batch_size=8, epochs=4, callbacks=[Count()], verbose=0)
    assert seen == {"epochs": 2, "batches": 6}


# ----------------------------------------------------------------------------- scopes
def test_device_places_new_arrays(keras):
    cpu = jax.devices("cpu")[0]
    with kerasx.device("cpu:0"):
        x = kerasx.ops.ones((2,))
    assert x.devices() == {cpu}
    with kerasx.device(cpu):
        assert kerasx.ops.zeros((1,)).devices() == {cpu}
    with keras.device("cpu:0"):  # the same names as Keras
        pass
    with pytest.raises(ValueError, match="Device not found: cpu:7"):
        kerasx.device("cpu:7")
    with pytest.raises(ValueError, match="Expected a string like 'gpu:0'"):
        kerasx.device(3)


def test_name_scope_paths_match_keras_and_name_ops(keras):
    from keras.src.backend.common.name_scope import current_path as keras_path

    with kerasx.name_scope("outer"), keras.name_scope("outer"):
        with kerasx.name_scope("inner"), keras.name_scope("inner"):
            assert kerasx.name_scope.current_path() == keras_path() == "outer/inner"
        with kerasx.name_scope("abs", override_parent="root/x"), \
                keras.name_scope("abs", override_parent="root/x"):
            assert kerasx.name_scope.current_path() == keras_path() == "root/x/abs"
    assert kerasx.name_scope.current_path() == keras_path() == ""

    def f(x):
        with kerasx.name_scope("block1"):
            return jax.numpy.sin(x)

    assert "block1" in jax.jit(f).lower(np.ones(3, np.float32)).as_text(debug_info=True)
    with pytest.raises(ValueError, match="cannot contain character `/`"):
        kerasx.name_scope("a/b")


# ----------------------------------------------------------------------------- top level
def test_top_level_names_are_kerasx_classes():
    assert kerasx.Layer is kerasx.layers.Layer
    assert kerasx.Loss is kerasx.losses.Loss and kerasx.Metric is kerasx.metrics.Metric
    assert kerasx.Optimizer is kerasx.optimizers.Optimizer
    assert kerasx.Initializer is kerasx.initializers.Initializer
    assert kerasx.Regularizer is kerasx.regularizers.Regularizer
    assert kerasx.InputSpec is kerasx.layers.InputSpec
    assert kerasx.KerasTensor is kerasx.layers.KerasTensor
    assert isinstance(kerasx.Input((3,)), kerasx.KerasTensor)
    assert kerasx.version() == kerasx.__version__
    assert kerasx.models.save_model is kerasx.saving.save_model
    assert kerasx.saving.custom_object_scope is kerasx.utils.custom_object_scope
    assert kerasx.saving.CustomObjectScope is kerasx.utils.CustomObjectScope


DTYPES = ["float16", "bfloat16", "float32", "int8", "uint8", "int32", "bool", "complex64", float,
          int, bool, None]


def test_backend_module_matches_keras(keras):
    for d in DTYPES:
        assert kerasx.backend.standardize_dtype(d) == keras.backend.standardize_dtype(d), d
        assert kerasx.backend.is_float_dtype(d) == keras.backend.is_float_dtype(d), d
        assert kerasx.backend.is_int_dtype(d) == keras.backend.is_int_dtype(d), d
    assert kerasx.backend.result_type("int8", "float16") == \
        keras.backend.result_type("int8", "float16")
    first = kerasx.backend.get_uid("m2_prefix")
    assert kerasx.backend.get_uid("m2_prefix") == first + 1
    assert kerasx.backend.floatx is kerasx.config.floatx


# ----------------------------------------------------------------------------- DTypePolicyMap
def test_dtype_policy_map_lookups_and_serialization_match_keras(keras):
    ours = kerasx.dtype_policies.DTypePolicyMap(default_policy="float32")
    theirs = keras.dtype_policies.DTypePolicyMap(default_policy="float32")
    for key, policy in [("encoder/layer_0/dense", "bfloat16"), ("encoder/.*", "float16"),
                        ("decoder", "bfloat16")]:
        ours[key] = policy
        theirs[key] = keras.dtype_policies.DTypePolicy(policy)
    for path in ["encoder/layer_0/dense", "encoder/attention/query", "decoder",
                 "decoder/attention", "other"]:
        assert ours[path].name == theirs[path].name, path
    assert ours.name == theirs.name and len(ours) == len(theirs) == 3
    assert "decoder" in ours and "nothing" not in ours
    assert (ours.compute_dtype, ours.variable_dtype) == (theirs.compute_dtype,
                                                         theirs.variable_dtype)
    assert kerasx.dtype_policies.serialize(ours) == keras.dtype_policies.serialize(theirs)
    back = kerasx.dtype_policies.deserialize(keras.dtype_policies.serialize(theirs))
    assert isinstance(back, kerasx.dtype_policies.DTypePolicyMap) and back == ours
    ours["encoder/attention/.*"] = "bfloat16"
    with pytest.raises(ValueError, match="matches multiple dtype policy"):
        ours["encoder/attention/query"]
    with pytest.raises(ValueError, match="already exist"):
        ours["decoder"] = "float32"
    with pytest.raises(ValueError, match="Cannot interpret"):
        ours["x"] = "not_a_dtype"
    with pytest.raises(ValueError, match="cannot be a `DTypePolicyMap`"):
        kerasx.dtype_policies.DTypePolicyMap(default_policy=ours)
    with pytest.raises(TypeError, match="must be a dict"):
        kerasx.dtype_policies.DTypePolicyMap(policy_map=[("a", "float16")])
    del ours["decoder"]
    assert "decoder" not in ours


def test_dtype_policy_map_without_default_follows_the_global_policy(keras):
    ours, theirs = kerasx.dtype_policies.DTypePolicyMap(), keras.dtype_policies.DTypePolicyMap()
    ours["a"] = "float16"
    theirs["a"] = keras.dtype_policies.DTypePolicy("float16")
    assert kerasx.dtype_policies.serialize(ours) == keras.dtype_policies.serialize(theirs)
    kerasx.config.set_floatx("bfloat16")
    assert ours.default_policy.name == ours["b"].name == "bfloat16"
    layer = layers.Dense(2, dtype=ours)  # before build, Keras's layers take the default too
    assert layer.compute_dtype == "bfloat16"


# ----------------------------------------------------------------------------- clone_model
def test_clone_model_rebuilds_the_architecture_with_new_weights(keras):
    x = np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32)
    seq = kerasx.Sequential([kerasx.Input((4,)), layers.Dense(3, name="d1"), layers.Dense(2)],
                            name="seq")
    inp = kerasx.Input((4,))
    fn = kerasx.Model(inp, layers.Dense(2)(layers.Dense(3, activation="relu")(inp)), name="fn")
    for model in (seq, fn):
        clone = kerasx.models.clone_model(model)
        assert type(clone) is type(model) and clone.name == model.name
        assert clone.get_config() == model.get_config()
        assert not np.allclose(clone.get_weights()[0], model.get_weights()[0])
        clone.set_weights(model.get_weights())
        np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0),
                                   rtol=1e-6)
    # Keras's clone of the same Sequential has the same property: its config is the original's
    kseq = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    assert keras.models.clone_model(kseq).get_config() == kseq.get_config()


def test_clone_model_with_clone_function_and_errors():
    shared = layers.Dense(3, name="shared")
    inner = kerasx.Sequential([layers.Dense(3, name="inner_dense")], name="inner")
    seq = kerasx.Sequential([kerasx.Input((4,)), shared, inner, layers.Dense(2)])
    keep_shared = lambda layer: layer if layer.name == "shared" else \
        layer.__class__.from_config(layer.get_config())  # noqa: E731
    clone = kerasx.models.clone_model(seq, clone_function=keep_shared, recursive=True)
    assert clone.layers[0] is shared and clone.layers[1] is not inner
    assert clone.layers[1].layers[0] is not inner.layers[0]
    assert clone.layers[2] is not seq.layers[2]
    with pytest.raises(ValueError, match="Expected `model` argument"):
        kerasx.models.clone_model("model")
    with pytest.raises(NotImplementedError, match="call_function"):
        kerasx.models.clone_model(seq, call_function=lambda *a: None)
    with pytest.raises(ValueError, match="return a Layer"):
        kerasx.models.clone_model(seq, clone_function=lambda layer: None)
