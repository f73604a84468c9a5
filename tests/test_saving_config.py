"""Architecture as config/JSON: every layer's get_config/from_config, the registry, and models.

Round trips check more than equal configs: the rebuilt layer initializes to the same weights
from the same key (so initializers survived) and computes the same outputs on the same weights;
a rebuilt model given the original's weights predicts the same. Keras 3 is the oracle for the
config keys and for the format (Keras-written JSON loads into kerasx with Keras's weights).
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import activations, initializers, layers
from kerasx.layers._base import _KERAS_ONLY_ARGS, Layer, as_spec
from kerasx.saving import (deserialize, get_registered_name, get_registered_object,
                           register_keras_serializable, serialize)
from keras_oracle import require_keras  # Keras, or skip the test that needs it


def json_round_trip(obj):
    return json.loads(json.dumps(obj))


def assert_trees_equal(a, b):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    jax.tree.map(lambda u, v: np.testing.assert_array_equal(np.asarray(u), np.asarray(v)), a, b)


# ------------------------------------------------------------------------------ every layer
def _x(shape, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    if np.issubdtype(np.dtype(dtype), np.integer):
        return jnp.asarray(rng.integers(0, 10, size=shape), dtype)
    return jnp.asarray(rng.normal(size=shape), dtype)


@register_keras_serializable(package="tests_saving_config")
def lambda_fn_for_tests(x, power=2):
    return x ** power


try:  # Keras's configs name it by the same registered name
    import keras as _keras
    _keras.saving.register_keras_serializable(package="tests_saving_config")(lambda_fn_for_tests)
except ImportError:
    pass


# (class name, constructor kwargs (mostly non-default), input shapes, input dtype, training)
LAYER_CASES = [
    ("InputLayer", dict(shape=(5,), name="inp", dtype="float32"), (2, 5), "float32", False),
    ("Dense", dict(units=3, activation="relu", use_bias=False, kernel_initializer="he_normal",
                   name="d", trainable=False), (2, 5), "float32", False),
    ("Dense", dict(units=4, kernel_initializer=initializers.RandomNormal(0.1, 0.3),
                   bias_initializer=initializers.Constant(0.5), dtype="bfloat16"),
     (2, 3, 5), "float32", False),
    ("Activation", dict(activation="gelu"), (2, 4), "float32", False),
    ("Flatten", dict(), (2, 3, 4), "float32", False),
    ("Reshape", dict(target_shape=(-1, 2)), (2, 3, 4), "float32", False),
    ("Embedding", dict(input_dim=10, output_dim=4,
                       embeddings_initializer=initializers.TruncatedNormal(stddev=0.5)),
     (2, 3), "int32", False),
    ("Conv1D", dict(filters=4, kernel_size=3, padding="causal", dilation_rate=2, groups=2,
                    activation="tanh", bias_initializer="ones"), (2, 9, 4), "float32", False),
    ("Conv2D", dict(filters=6, kernel_size=(3, 2), strides=2, padding="same",
                    data_format="channels_first", kernel_initializer="lecun_uniform"),
     (2, 4, 7, 8), "float32", False),
    ("MaxPooling1D", dict(pool_size=3, strides=2, padding="same"), (2, 9, 3), "float32", False),
    ("MaxPooling2D", dict(pool_size=(2, 3), data_format="channels_first"), (2, 3, 6, 6),
     "float32", False),
    ("AveragePooling1D", dict(pool_size=2, padding="same"), (2, 7, 3), "float32", False),
    ("AveragePooling2D", dict(pool_size=(3, 3), strides=(1, 2), padding="same"), (2, 5, 6, 2),
     "float32", False),
    ("GlobalMaxPooling1D", dict(keepdims=True), (2, 5, 3), "float32", False),
    ("GlobalMaxPooling2D", dict(data_format="channels_first"), (2, 3, 4, 5), "float32", False),
    ("GlobalAveragePooling1D", dict(), (2, 5, 3), "float32", False),
    ("GlobalAveragePooling2D", dict(keepdims=True), (2, 4, 5, 3), "float32", False),
    ("BatchNormalization", dict(axis=1, momentum=0.9, epsilon=1e-2, center=False,
                                gamma_initializer=initializers.RandomUniform(0.5, 1.5),
                                moving_variance_initializer=initializers.Constant(2.0)),
     (4, 3, 5), "float32", True),
    ("LayerNormalization", dict(axis=[1, 2], epsilon=1e-4, scale=False,
                                beta_initializer="random_normal"), (2, 3, 4), "float32", False),
    ("Dropout", dict(rate=0.3, noise_shape=(None, 1, None), seed=7), (2, 3, 4), "float32", True),
    ("Add", dict(name="plus"), [(2, 3), (2, 3)], "float32", False),
    ("Subtract", dict(), [(2, 3), (2, 1)], "float32", False),
    ("Multiply", dict(), [(2, 3), (2, 3), (2, 3)], "float32", False),
    ("Average", dict(), [(2, 4), (2, 4)], "float32", False),
    ("Maximum", dict(), [(2, 4), (2, 4)], "float32", False),
    ("Minimum", dict(), [(2, 4), (2, 4)], "float32", False),
    ("Concatenate", dict(axis=1), [(2, 3), (2, 5)], "float32", False),
    ("Dense", dict(units=3, kernel_regularizer=kerasx.regularizers.L1L2(0.01, 0.02),
                   bias_regularizer="l2", activity_regularizer=kerasx.regularizers.L1(0.1),
                   kernel_constraint=kerasx.constraints.MaxNorm(2.0, axis=0),
                   bias_constraint="non_neg"), (2, 5), "float32", False),
    ("BatchNormalization", dict(gamma_regularizer=kerasx.regularizers.L2(0.1),
                                beta_constraint=kerasx.constraints.UnitNorm()), (4, 3),
     "float32", True),
    ("Lambda", dict(function=lambda_fn_for_tests, arguments={"power": 3}), (2, 3), "float32",
     False),
    ("ReLU", dict(max_value=6.0, negative_slope=0.1, threshold=0.5), (2, 5), "float32", False),
    ("LeakyReLU", dict(negative_slope=0.05), (2, 5), "float32", False),
    ("ELU", dict(alpha=0.5), (2, 5), "float32", False),
    ("PReLU", dict(alpha_initializer=initializers.RandomUniform(0.0, 0.5), shared_axes=[1],
                   alpha_regularizer="l2", alpha_constraint="non_neg"), (2, 3, 4), "float32",
     False),
    ("Softmax", dict(axis=[1, 2]), (2, 3, 4), "float32", False),
    ("Identity", dict(), (2, 3), "float32", False),
    ("Permute", dict(dims=(2, 1)), (2, 3, 4), "float32", False),
    ("RepeatVector", dict(n=3), (2, 4), "float32", False),
    ("Cropping1D", dict(cropping=(2, 1)), (2, 6, 3), "float32", False),
    ("Cropping2D", dict(cropping=((1, 0), (2, 1)), data_format="channels_first"), (2, 3, 6, 7),
     "float32", False),
    ("ZeroPadding1D", dict(padding=(0, 2)), (2, 4, 3), "float32", False),
    ("ZeroPadding2D", dict(padding=(1, 2)), (2, 4, 5, 3), "float32", False),
    ("UpSampling1D", dict(size=3), (2, 4, 3), "float32", False),
    ("UpSampling2D", dict(size=(1, 2), data_format="channels_first"), (2, 2, 3, 4), "float32",
     False),
    ("Conv3D", dict(filters=4, kernel_size=(2, 3, 1), strides=(1, 2, 1), padding="same",
                    groups=2, activation="relu", kernel_regularizer="l2"), (2, 3, 5, 4, 2),
     "float32", False),
    ("Conv1DTranspose", dict(filters=3, kernel_size=3, strides=2, padding="same",
                             output_padding=1, bias_initializer="ones"), (2, 5, 2), "float32",
     False),
    ("Conv2DTranspose", dict(filters=2, kernel_size=(3, 2), strides=2,
                             data_format="channels_first", kernel_constraint="non_neg"),
     (2, 3, 4, 3), "float32", False),
    ("Conv3DTranspose", dict(filters=2, kernel_size=2, dilation_rate=(1, 2, 1), use_bias=False,
                             kernel_initializer="he_normal"), (1, 2, 3, 2, 2), "float32", False),
    ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2, padding="same",
                             depthwise_initializer="he_uniform", bias_initializer="ones",
                             depthwise_regularizer=kerasx.regularizers.L1(0.01)),
     (2, 6, 3), "float32", False),
    ("DepthwiseConv2D", dict(kernel_size=(3, 2), strides=2, data_format="channels_first",
                             activation="tanh", depthwise_constraint="non_neg"), (2, 2, 6, 5),
     "float32", False),
    ("SeparableConv1D", dict(filters=4, kernel_size=3, depth_multiplier=2,
                             pointwise_initializer="lecun_normal", pointwise_regularizer="l2",
                             bias_constraint="non_neg"), (2, 7, 3), "float32", False),
    ("SeparableConv2D", dict(filters=3, kernel_size=2, dilation_rate=2, use_bias=False,
                             data_format="channels_first"), (2, 2, 6, 5), "float32", False),
    ("MaxPooling3D", dict(pool_size=(1, 2, 2), padding="same"), (2, 3, 5, 4, 2), "float32",
     False),
    ("AveragePooling3D", dict(pool_size=2, strides=1, data_format="channels_first"),
     (2, 2, 3, 4, 3), "float32", False),
    ("GlobalMaxPooling3D", dict(keepdims=True), (2, 2, 3, 4, 3), "float32", False),
    ("GlobalAveragePooling3D", dict(data_format="channels_first"), (2, 2, 3, 4, 3), "float32",
     False),
    ("AdaptiveAveragePooling1D", dict(output_size=3), (2, 7, 2), "float32", False),
    ("AdaptiveAveragePooling2D", dict(output_size=(2, 3), data_format="channels_first"),
     (2, 2, 5, 7), "float32", False),
    ("AdaptiveAveragePooling3D", dict(output_size=2), (1, 3, 5, 4, 2), "float32", False),
    ("AdaptiveMaxPooling1D", dict(output_size=(4,), data_format="channels_first"), (2, 3, 7),
     "float32", False),
    ("AdaptiveMaxPooling2D", dict(output_size=3), (2, 5, 4, 2), "float32", False),
    ("AdaptiveMaxPooling3D", dict(output_size=(1, 2, 3)), (1, 3, 5, 4, 2), "float32", False),
    ("Cropping3D", dict(cropping=((1, 0), (0, 2), 1), data_format="channels_first"),
     (2, 2, 3, 4, 5), "float32", False),
    ("ZeroPadding3D", dict(padding=(1, 0, 2)), (2, 2, 2, 2, 1), "float32", False),
    ("UpSampling3D", dict(size=(1, 2, 3)), (2, 2, 2, 2, 1), "float32", False),
    ("UpSampling2D", dict(size=(2, 3), interpolation="bilinear"), (2, 3, 3, 2), "float32",
     False),
    # --- cases: convolution-pooling-3d (keep this marker)
    ("GroupNormalization", dict(groups=2, axis=1, epsilon=1e-2, center=False,
                                gamma_initializer=initializers.RandomUniform(0.5, 1.5),
                                gamma_regularizer="l2"), (2, 4, 3), "float32", False),
    ("UnitNormalization", dict(axis=[1, 2]), (2, 3, 4), "float32", False),
    ("RMSNormalization", dict(axis=[-2, -1], epsilon=1e-4), (2, 3, 4), "float32", False),
    ("SpectralNormalization", dict(layer=layers.Dense(3, activation="relu", name="inner"),
                                   power_iterations=2), (2, 5), "float32", True),
    ("SpatialDropout1D", dict(rate=0.3, seed=1, trainable=False), (2, 5, 3), "float32", True),
    ("SpatialDropout2D", dict(rate=0.2, data_format="channels_first", trainable=False),
     (2, 3, 4, 4), "float32", True),
    ("SpatialDropout3D", dict(rate=0.2, trainable=False), (2, 2, 2, 2, 3), "float32", True),
    ("GaussianNoise", dict(stddev=0.2, seed=3), (2, 4), "float32", True),
    ("GaussianDropout", dict(rate=0.3, seed=1), (2, 4), "float32", True),
    ("AlphaDropout", dict(rate=0.2, noise_shape=(None, 1, None), seed=2), (2, 3, 4), "float32",
     True),
    ("ActivityRegularization", dict(l1=0.01, l2=0.02), (2, 4), "float32", False),
    ("Dot", dict(axes=(2, 2), normalize=True), [(2, 3, 4), (2, 5, 4)], "float32", False),
    ("EinsumDense", dict(equation="abc,cde->abde", output_shape=(None, 2, 4), bias_axes="e",
                         activation="relu", bias_initializer="random_normal"), (2, 3, 5),
     "float32", False),
    ("ReversibleEmbedding", dict(input_dim=10, output_dim=4, tie_weights=False,
                                 logit_soft_cap=5.0), (2, 3), "int32", False),
    # --- cases: normalization-regularization-core (keep this marker)
    ("Normalization", dict(axis=(1, -1), mean=[[0.5], [1.0], [-1.0]], variance=[[2.0], [1.0], [0.5]],
                           invert=True), (2, 3, 4), "float32", False),
    ("Normalization", dict(axis=None, mean=1.5, variance=4.0, name="norm"), (2, 5), "float32",
     False),
    ("Discretization", dict(bin_boundaries=[-1.0, 0.0, 0.5], output_mode="one_hot"), (2, 3),
     "float32", False),
    ("Rescaling", dict(scale=[0.5, 2.0, 1.0], offset=-1.0), (2, 4, 4, 3), "float32", False),
    ("Resizing", dict(height=3, width=5, interpolation="nearest", crop_to_aspect_ratio=True,
                      data_format="channels_first"), (2, 2, 6, 7), "float32", False),
    ("Resizing", dict(height=4, width=4, pad_to_aspect_ratio=True, fill_value=1.0,
                      antialias=True), (2, 3, 6, 2), "float32", False),
    ("CenterCrop", dict(height=3, width=2, data_format="channels_first"), (2, 1, 5, 4),
     "float32", False),
    ("MelSpectrogram", dict(fft_length=64, sequence_stride=16, sequence_length=48,
                            window="hamming", sampling_rate=8000, num_mel_bins=10, min_freq=50.0,
                            max_freq=3000, top_db=60.0, mag_exp=1.0), (2, 200), "float32", False),
    ("STFTSpectrogram", dict(mode="psd", frame_length=32, frame_step=8, fft_length=64,
                             window="hamming", periodic=True, scaling="spectrum",
                             padding="same", expand_dims=True), (2, 100, 2), "float32", False),
    ("Resizing", dict(height=5, width=4, pad_to_aspect_ratio=True, bounding_box_format="xyxy"),
     (2, 6, 7, 3), "float32", False),
    ("CenterCrop", dict(height=3, width=4, bounding_box_format="rel_yxyx"), (2, 5, 6, 2),
     "float32", False),
    # --- cases: preprocessing (keep this marker)
    ("RandomFlip", dict(mode="vertical", seed=3), (2, 5, 6, 3), "float32", True),
    ("RandomRotation", dict(factor=(-0.2, 0.3), fill_mode="constant", interpolation="nearest",
                            seed=1, fill_value=2.0), (2, 5, 6, 3), "float32", True),
    ("RandomZoom", dict(height_factor=0.2, width_factor=(-0.1, 0.3), fill_mode="wrap", seed=2),
     (2, 5, 6, 3), "float32", True),
    ("RandomTranslation", dict(height_factor=0.1, width_factor=(-0.2, 0.1), fill_mode="nearest",
                               data_format="channels_first"), (2, 3, 5, 6), "float32", True),
    ("RandomContrast", dict(factor=(0.1, 0.4), value_range=(0, 1), seed=4), (2, 5, 6, 3),
     "float32", True),
    ("RandomBrightness", dict(factor=(-0.2, 0.1), value_range=(-1, 1), seed=5), (2, 5, 6, 3),
     "float32", True),
    ("RandomCrop", dict(height=3, width=4, seed=6), (2, 5, 6, 3), "float32", True),
    ("RandomGrayscale", dict(factor=0.3, seed=2),
     (2, 5, 6, 3), "float32", True),
    ("RandomColorDegeneration", dict(factor=(0.1, 0.6), value_range=(1, 0), seed=3),
     (2, 5, 6, 3), "float32", True),
    ("RandomHue", dict(factor=(0.1, 0.4), value_range=(0, 1), seed=4),
     (2, 5, 6, 3), "float32", True),
    ("RandomSaturation", dict(factor=0.4, value_range=(0, 1), seed=5),
     (2, 5, 6, 3), "float32", True),
    ("RandomColorJitter", dict(value_range=(0, 1), brightness_factor=0.2, contrast_factor=(0.1, 0.3), saturation_factor=0.3, hue_factor=0.1, seed=6),
     (2, 5, 6, 3), "float32", True),
    ("RandomInvert", dict(factor=(0.2, 0.8), value_range=(0, 1), seed=7),
     (2, 5, 6, 3), "float32", True),
    ("RandomPosterization", dict(factor=(2, 6), value_range=(0, 1), seed=8),
     (2, 5, 6, 3), "float32", True),
    ("RandomSharpness", dict(factor=(0.2, 0.9), value_range=(0, 1), seed=9),
     (2, 5, 6, 3), "float32", True),
    ("RandomShear", dict(x_factor=0.2, y_factor=(0.1, 0.3), interpolation="nearest", fill_mode="constant", fill_value=1.0, seed=10),
     (2, 5, 6, 3), "float32", True),
    ("Solarization", dict(addition_factor=0.2, threshold_factor=(0.3, 0.6), value_range=(0, 1), seed=11),
     (2, 5, 6, 3), "float32", True),
    ("AutoContrast", dict(value_range=(0, 1)),
     (2, 5, 6, 3), "float32", True),
    ("Equalization", dict(value_range=(0, 1), bins=64),
     (2, 5, 6, 3), "float32", True),
    ("RandomErasing", dict(factor=0.8, scale=(0.1, 0.4), fill_value=0.5, value_range=(0, 1), seed=12),
     (2, 5, 6, 3), "float32", True),
    ("RandomGaussianBlur", dict(factor=0.9, kernel_size=(3, 5), sigma=(0.2, 0.8), value_range=(0, 1), seed=13),
     (2, 5, 6, 3), "float32", True),
    ("RandomPerspective", dict(factor=0.7, scale=0.4, interpolation="nearest", fill_value=1.0, seed=14),
     (2, 5, 6, 3), "float32", True),
    ("RandomElasticTransform", dict(factor=(0.5, 1.0), scale=0.6, fill_mode="constant", fill_value=0.5, value_range=(0, 1), seed=15),
     (2, 5, 6, 3), "float32", True),
    ("MixUp", dict(alpha=0.4, seed=16),
     (2, 5, 6, 3), "float32", True),
    ("CutMix", dict(factor=0.8, seed=17),
     (2, 5, 6, 3), "float32", True),
    ("RandAugment", dict(value_range=(0, 1), num_ops=1, factor=0.3, interpolation="nearest", seed=18),
     (2, 5, 6, 3), "float32", True),
    ("AugMix", dict(value_range=(0, 1), num_chains=1, chain_depth=1, factor=0.2, alpha=0.5, all_ops=False, seed=19),
     (2, 5, 6, 3), "float32", True),
    ("ContrastLimitedAdaptiveHistogramEqualization",
     dict(value_range=(0, 1), clip_limit=2.0, tile_grid_size=(2, 3)), (2, 5, 6, 3), "float32", True),
    ("MaxNumBoundingBoxes", dict(max_number=3, fill_value=0, bounding_box_format="xyxy"),
     (2, 5, 6, 3), "float32", False),
    # --- cases: augmentation (keep this marker)
    ("JaxLayer", dict(
        call_fn=register_keras_serializable("tests_saving_config", "jax_call")(
            lambda params, inputs: jnp.tanh(inputs @ params["w"])),
        init_fn=register_keras_serializable("tests_saving_config", "jax_init")(
            lambda rng, inputs: {"w": jax.random.normal(rng, (inputs.shape[-1], 3))})),
     (2, 5), "float32", False),
    # --- cases: wrappers (keep this marker)
    ("SimpleRNN", dict(units=3, activation="relu", return_sequences=True, go_backwards=True,
                       kernel_regularizer="l2", dropout=0.1, seed=2, name="srnn"),
     (2, 4, 3), "float32", False),
    ("LSTM", dict(units=3, recurrent_activation="hard_sigmoid", unit_forget_bias=False,
                  bias_initializer="ones", return_state=True, unroll=True),
     (2, 4, 3), "float32", False),
    ("GRU", dict(units=2, reset_after=False, return_sequences=True, dropout=0.3,
                 recurrent_dropout=0.2, seed=4, zero_output_for_mask=True),
     (2, 4, 3), "float32", True),
    ("SimpleRNNCell", dict(units=3, use_bias=False), (2, 4), "float32", False),
    ("LSTMCell", dict(units=2, recurrent_initializer="glorot_uniform"), (2, 4), "float32", False),
    ("GRUCell", dict(units=2, reset_after=False), (2, 4), "float32", False),
    ("RNN", dict(cell=layers.GRUCell(3, name="cell"), return_sequences=True, go_backwards=True),
     (2, 4, 3), "float32", False),
    ("StackedRNNCells", dict(cells=[layers.LSTMCell(3), layers.SimpleRNNCell(2)]),
     (2, 4), "float32", False),
    ("Bidirectional", dict(layer=layers.LSTM(3, return_sequences=True), merge_mode="ave"),
     (2, 4, 3), "float32", False),
    ("TimeDistributed", dict(layer=layers.Dense(2, activation="tanh")),
     (2, 4, 3), "float32", False),
    ("Masking", dict(mask_value=0.5), (2, 4, 3), "float32", False),
    ("ConvLSTM1D", dict(filters=2, kernel_size=3, padding="same", return_sequences=True),
     (2, 3, 5, 2), "float32", False),
    ("ConvLSTM2D", dict(filters=2, kernel_size=(2, 1), strides=(1, 2), dropout=0.2, seed=3),
     (2, 2, 4, 4, 1), "float32", True),
    ("ConvLSTM3D", dict(filters=1, kernel_size=2, data_format="channels_first"),
     (1, 2, 1, 3, 3, 3), "float32", False),
    # --- cases: recurrent (keep this marker)
    ("MultiHeadAttention", dict(num_heads=2, key_dim=3, value_dim=4, dropout=0.2,
                                output_shape=(6,), attention_axes=(1,), sliding_window=2,
                                use_gate=True, kernel_initializer="he_normal",
                                bias_initializer=initializers.Constant(0.1), seed=3),
     (2, 4, 5), "float32", True),
    ("MultiHeadAttention", dict(num_heads=1, key_dim=2, use_bias=False, name="mha"),
     (2, 3, 4, 5), "float32", False),
    ("GroupQueryAttention", dict(head_dim=3, num_query_heads=4, num_key_value_heads=2,
                                 use_bias=False, kernel_regularizer="l2", seed=1),
     (2, 4, 5), "float32", False),
    ("Attention", dict(use_scale=True, score_mode="concat", dropout=0.3, seed=2),
     [(2, 4, 5), (2, 6, 5)], "float32", True),
    ("AdditiveAttention", dict(use_scale=False, dropout=0.1),
     [(2, 4, 5), (2, 6, 5), (2, 6, 5)], "float32", False),
    # --- cases: attention (keep this marker)
    ("CategoryEncoding", dict(num_tokens=10, output_mode="count", name="enc"), (2, 3), "int32",
     False),
    ("IntegerLookup", dict(vocabulary=[3, 1, 7], mask_token=0, num_oov_indices=2), (2, 4),
     "int32", False),
    ("IntegerLookup", dict(vocabulary=[3, 1, 7], output_mode="count", pad_to_max_tokens=True,
                           max_tokens=6), (2, 4), "int32", False),
    ("StringLookup", dict(vocabulary=["a", "b", "c"], invert=True, mask_token="[M]"), (2, 3),
     "int32", False),  # (TextVectorization takes strings only: its round trip is in
    # tests/layers/test_text_preprocessing.py)
    ("Hashing", dict(num_bins=5, mask_value=0, salt=[3, 4]), (2, 3), "int32", False),
    ("Hashing", dict(num_bins=4, output_mode="multi_hot"), (2, 3), "int32", False),
    ("HashedCrossing", dict(num_bins=7, output_mode="one_hot"), [(2,), (2,)], "int32", False),
    # --- cases: text-preprocessing (keep this marker)
]


def _public_layer_classes():
    return {v for k, v in vars(layers).items()
            if isinstance(v, type) and issubclass(v, Layer) and v is not Layer}


# Layers whose config holds an object that only its own library can describe: FlaxLayer holds a
# Flax module (saved through the module's own config, tested in tests/layers/test_jax_layer.py);
# and Wrapper, the abstract base of the wrappers.
# TextVectorization takes strings, which the shared cases do not make (round trips in
# tests/layers/test_text_preprocessing.py).
# Pipeline's config is Keras's: its layers and name only (tests/layers/test_augmentation.py).
NO_ROUND_TRIP_CASE = {"FlaxLayer", "Wrapper", "TextVectorization", "Pipeline"}
# Layers compared with Keras's config in their own tests, because the two libraries need
# different constructor arguments (a wrapped layer object, a function) for the same config.
KEYS_TESTED_ELSEWHERE = {"SpectralNormalization", "JaxLayer", "FlaxLayer", "Wrapper", "RNN",
                         "StackedRNNCells", "Bidirectional", "TimeDistributed", "Pipeline"}
# Keras 3 builds these only with TensorFlow installed (not a test dependency): their configs are
# checked against Keras's source in tests/layers/test_text_preprocessing.py.
KEYS_TESTED_ELSEWHERE |= {"TextVectorization", "StringLookup", "IntegerLookup", "Hashing",
                          "HashedCrossing"}


def test_the_cases_cover_every_public_layer_class():
    covered = {getattr(layers, name) for name, *_ in LAYER_CASES}
    missing = sorted(c.__name__ for c in _public_layer_classes() - covered
                     if c.__name__ not in NO_ROUND_TRIP_CASE)
    assert not missing, f"add config round-trip cases for {missing}"


def _check_same_layer(layer, clone, shapes, dtype, training):
    x = [_x(s, dtype, i) for i, s in enumerate(shapes)] if isinstance(shapes, list) else _x(shapes, dtype)
    key = jax.random.key(3)
    params, state = layer.init(key, as_spec(x))
    params2, state2 = clone.init(key, as_spec(x))
    # same initializers and hyperparameters: the same weights from the same key
    assert_trees_equal((params, state), (params2, state2))
    rng = jax.random.key(5) if training else None
    y, new_state = layer.apply(params, state, x, training=training, rng=rng)
    y2, new_state2 = clone.apply(params, state, x, training=training, rng=rng)
    assert_trees_equal((y, new_state), (y2, new_state2))
    # the clone lists its weights in the same (Keras) order: every array of the layer once, and
    # set_weights_into puts the original's list back where the original holds it
    weights = layer.get_weights_from(params, state)
    assert len(weights) == len(jax.tree.leaves((params, state)))
    other = clone.init(jax.random.key(4), as_spec(x))
    assert_trees_equal(clone.set_weights_into(*other, weights), (params, state))


@pytest.mark.parametrize("cls_name,kwargs,shapes,dtype,training", LAYER_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(LAYER_CASES)])
def test_layer_config_round_trip(cls_name, kwargs, shapes, dtype, training):
    layer = getattr(layers, cls_name)(**kwargs)
    config = layer.get_config()
    assert {"name", "dtype"} <= set(config)
    if cls_name != "InputLayer":  # (Keras's Discretization config has no `trainable`)
        assert config.get("trainable", True) == kwargs.get("trainable", True)
    text = json.dumps(config)  # JSON-ready as it is
    clone = type(layer).from_config(json.loads(text))
    assert type(clone) is type(layer) and clone.name == layer.name
    assert json_round_trip(clone.get_config()) == json.loads(text)
    assert clone.trainable == layer.trainable and clone.dtype == layer.dtype
    _check_same_layer(layer, clone, shapes, dtype, training)
    # ... and through the registry's format, from JSON text
    described = serialize(layer)
    assert described["module"] == "kerasx.layers" and described["class_name"] == cls_name
    assert described["registered_name"] is None
    clone2 = deserialize(json.loads(json.dumps(described)))
    assert type(clone2) is type(layer)
    _check_same_layer(layer, clone2, shapes, dtype, training)
    # a config without JSON's tuple-to-list conversion works too
    _check_same_layer(layer, type(layer).from_config(config), shapes, dtype, training)


def test_configs_hold_keras_names_for_activations_and_initializers():
    cfg = layers.Dense(3, activation="softmax", kernel_initializer="GlorotNormal").get_config()
    assert cfg["activation"] == "softmax"
    assert cfg["kernel_initializer"] == {"module": "kerasx.initializers", "class_name": "GlorotNormal",
                                         "config": {"seed": None}, "registered_name": None}
    assert cfg["bias_initializer"]["class_name"] == "Zeros"
    assert layers.Dense(3).get_config()["activation"] == "linear"
    emb = layers.Embedding(5, 2).get_config()["embeddings_initializer"]
    assert emb["class_name"] == "RandomUniform" and emb["config"]["minval"] == -0.05
    assert layers.Input((3,), batch_size=4, name="x").node.layer.get_config() == {
        "batch_shape": (4, 3), "dtype": "float32", "name": "x"}


def test_input_layer_takes_batch_shape_like_keras():
    layer = layers.InputLayer(batch_shape=[None, 28, 28, 1], dtype="int32", name="img")
    assert layer.shape == (28, 28, 1) and layer.batch_size is None and layer.dtype == jnp.int32
    with pytest.raises(ValueError, match="either `shape`"):
        layers.InputLayer(shape=(3,), batch_shape=(None, 3))


# ------------------------------------------------------------------------------ Keras oracle: keys
# (class name, kwargs valid for both kerasx and Keras 3)
KERAS_KEY_CASES = [
    ("Dense", dict(units=3, activation="relu", use_bias=False)),
    ("Activation", dict(activation="tanh")),
    ("Flatten", dict()),
    ("Reshape", dict(target_shape=(2, -1))),
    ("Embedding", dict(input_dim=7, output_dim=3)),
    ("Embedding", dict(input_dim=7, output_dim=3, mask_zero=True)),
    ("Conv1D", dict(filters=4, kernel_size=3, padding="causal", dilation_rate=2)),
    ("Conv2D", dict(filters=4, kernel_size=(3, 2), strides=2, padding="same", groups=2)),
    ("MaxPooling1D", dict(pool_size=3)),
    ("MaxPooling2D", dict(pool_size=(2, 3), strides=1, padding="same")),
    ("AveragePooling1D", dict(pool_size=2)),
    ("AveragePooling2D", dict(pool_size=2, data_format="channels_first")),
    ("GlobalMaxPooling1D", dict(keepdims=True)),
    ("GlobalMaxPooling2D", dict()),
    ("GlobalAveragePooling1D", dict()),
    ("GlobalAveragePooling2D", dict(data_format="channels_first")),
    ("BatchNormalization", dict(axis=1, momentum=0.9, center=False)),
    ("LayerNormalization", dict(axis=-1, epsilon=1e-5)),
    ("Dropout", dict(rate=0.25, noise_shape=(None, 1), seed=3)),
    ("Add", dict()), ("Subtract", dict()), ("Multiply", dict()), ("Average", dict()),
    ("Maximum", dict()), ("Minimum", dict()), ("Concatenate", dict(axis=1)),
    ("InputLayer", dict(shape=(3, 4))),
    ("Lambda", dict(function=lambda_fn_for_tests, arguments={"power": 3})),
    ("ReLU", dict(max_value=6.0, negative_slope=0.1, threshold=0.5)),
    ("LeakyReLU", dict(negative_slope=0.05)),
    ("ELU", dict(alpha=0.5)),
    ("PReLU", dict(shared_axes=[1, 2])),
    ("Softmax", dict(axis=1)),
    ("Identity", dict()), ("Permute", dict(dims=(2, 1))), ("RepeatVector", dict(n=3)),
    ("Cropping1D", dict(cropping=2)), ("Cropping2D", dict(cropping=(1, 2))),
    ("ZeroPadding1D", dict(padding=(0, 2))),
    ("ZeroPadding2D", dict(padding=((1, 2), (0, 3)), data_format="channels_first")),
    ("UpSampling1D", dict(size=3)), ("UpSampling2D", dict(size=(1, 2))),
    ("Conv3D", dict(filters=4, kernel_size=(2, 3, 1), strides=2, padding="same", groups=2)),
    ("Conv1DTranspose", dict(filters=3, kernel_size=3, strides=2, output_padding=1)),
    ("Conv2DTranspose", dict(filters=2, kernel_size=(3, 2), padding="same",
                             data_format="channels_first")),
    ("Conv3DTranspose", dict(filters=2, kernel_size=2, dilation_rate=(1, 2, 1),
                             use_bias=False)),
    ("DepthwiseConv1D", dict(kernel_size=3, depth_multiplier=2, padding="same")),
    ("DepthwiseConv2D", dict(kernel_size=(3, 2), strides=2, activation="tanh")),
    ("SeparableConv1D", dict(filters=4, kernel_size=3, depth_multiplier=2,
                             pointwise_initializer="he_normal")),
    ("SeparableConv2D", dict(filters=3, kernel_size=2, dilation_rate=2,
                             data_format="channels_first")),
    ("MaxPooling3D", dict(pool_size=(1, 2, 2), padding="same")),
    ("AveragePooling3D", dict(pool_size=2, strides=1, data_format="channels_first")),
    ("GlobalMaxPooling3D", dict(keepdims=True)),
    ("GlobalAveragePooling3D", dict(data_format="channels_first")),
    ("AdaptiveAveragePooling1D", dict(output_size=3)),
    ("AdaptiveAveragePooling2D", dict(output_size=(2, 3), data_format="channels_first")),
    ("AdaptiveAveragePooling3D", dict(output_size=2)),
    ("AdaptiveMaxPooling1D", dict(output_size=4, data_format="channels_first")),
    ("AdaptiveMaxPooling2D", dict(output_size=3)),
    ("AdaptiveMaxPooling3D", dict(output_size=(1, 2, 3))),
    ("Cropping3D", dict(cropping=((1, 0), (0, 2), (1, 1)), data_format="channels_first")),
    ("ZeroPadding3D", dict(padding=(1, 0, 2))),
    ("UpSampling3D", dict(size=(1, 2, 3))),
    ("UpSampling2D", dict(size=(2, 3), interpolation="bilinear")),
    # --- keras key cases: convolution-pooling-3d (keep this marker)
    ("GroupNormalization", dict(groups=2, axis=1, epsilon=1e-2)),
    ("UnitNormalization", dict(axis=[1, 2])), ("RMSNormalization", dict(epsilon=1e-4)),
    ("SpatialDropout1D", dict(rate=0.3, seed=1)),
    ("SpatialDropout2D", dict(rate=0.2, data_format="channels_first")),
    ("SpatialDropout3D", dict(rate=0.2)),
    ("GaussianNoise", dict(stddev=0.2, seed=3)), ("GaussianDropout", dict(rate=0.3)),
    ("AlphaDropout", dict(rate=0.2, noise_shape=(None, 1))),
    ("ActivityRegularization", dict(l1=0.01, l2=0.02)),
    ("Dot", dict(axes=(1, 2), normalize=True)),
    ("EinsumDense", dict(equation="abc,cd->abd", output_shape=(None, 4), bias_axes="d")),
    ("ReversibleEmbedding", dict(input_dim=10, output_dim=4, tie_weights=False,
                                 logit_soft_cap=5.0)),
    # --- keras key cases: normalization-regularization-core (keep this marker)
    ("Normalization", dict(axis=(1, 2), mean=[1.0, 2.0], variance=[3.0, 4.0], invert=True)),
    ("Discretization", dict(bin_boundaries=[0.0, 1.0], output_mode="count")),
    ("Rescaling", dict(scale=1 / 255, offset=-0.5)),
    ("Resizing", dict(height=8, width=6, interpolation="bicubic", pad_to_aspect_ratio=True,
                      fill_value=3.0)),
    ("CenterCrop", dict(height=4, width=3, data_format="channels_first")),
    ("MelSpectrogram", dict(fft_length=512, sequence_stride=128, num_mel_bins=40,
                            power_to_db=False)),
    ("STFTSpectrogram", dict(mode="magnitude", frame_length=128, frame_step=32,
                             window="hamming", scaling=None, expand_dims=True)),
    ("Resizing", dict(height=8, width=6, crop_to_aspect_ratio=True, bounding_box_format="xyxy")),
    ("CenterCrop", dict(height=4, width=3, bounding_box_format="center_xywh")),
    # --- keras key cases: preprocessing (keep this marker)
    ("RandomFlip", dict(mode="vertical", seed=3)),
    ("RandomRotation", dict(factor=(-0.2, 0.3), fill_mode="constant", interpolation="nearest",
                            seed=1, fill_value=2.0)),
    ("RandomZoom", dict(height_factor=0.2, width_factor=(-0.1, 0.3), fill_mode="wrap", seed=2)),
    ("RandomTranslation", dict(height_factor=0.1, width_factor=(-0.2, 0.1), fill_mode="nearest",
                               data_format="channels_first")),
    ("RandomContrast", dict(factor=(0.1, 0.4), value_range=(0, 1), seed=4)),
    ("RandomBrightness", dict(factor=0.2, value_range=(1, -1), seed=5)),
    ("RandomCrop", dict(height=3, width=4, seed=6)),
    ("RandomGrayscale", dict(factor=0.3)),
    ("RandomColorDegeneration", dict(factor=(0.1, 0.6), value_range=(1, 0), seed=3)),
    ("RandomHue", dict(factor=(0.1, 0.4), value_range=(0, 1), seed=4)),
    ("RandomSaturation", dict(factor=0.4, value_range=(0, 1), seed=5)),
    ("RandomColorJitter", dict(value_range=(0, 1), brightness_factor=0.2, contrast_factor=(0.1, 0.3), saturation_factor=0.3, hue_factor=0.1, seed=6)),
    ("RandomInvert", dict(factor=(0.2, 0.8), value_range=(0, 1), seed=7)),
    ("RandomPosterization", dict(factor=(2, 6), value_range=(0, 1), seed=8)),
    ("RandomSharpness", dict(factor=(0.2, 0.9), value_range=(0, 1), seed=9)),
    ("RandomShear", dict(x_factor=0.2, y_factor=(0.1, 0.3), interpolation="nearest", fill_mode="constant", fill_value=1.0, seed=10)),
    ("Solarization", dict(addition_factor=0.2, threshold_factor=(0.3, 0.6), value_range=(0, 1), seed=11)),
    ("AutoContrast", dict(value_range=(0, 1))),
    ("Equalization", dict(value_range=(0, 1), bins=64)),
    ("RandomErasing", dict(factor=0.8, scale=(0.1, 0.4), fill_value=0.5, value_range=(0, 1), seed=12)),
    ("RandomGaussianBlur", dict(factor=0.9, kernel_size=(3, 5), sigma=(0.2, 0.8), value_range=(0, 1), seed=13)),
    ("RandomPerspective", dict(factor=0.7, scale=0.4, interpolation="nearest", fill_value=1.0, seed=14)),
    ("RandomElasticTransform", dict(factor=(0.5, 1.0), scale=0.6, fill_mode="constant", fill_value=0.5, value_range=(0, 1), seed=15)),
    ("MixUp", dict(alpha=0.4, seed=16)),
    ("CutMix", dict(factor=0.8, seed=17)),
    ("RandAugment", dict(value_range=(0, 1), num_ops=1, factor=0.3, interpolation="nearest", seed=18)),
    ("AugMix", dict(value_range=(0, 1), num_chains=1, chain_depth=1, factor=0.2, alpha=0.5, all_ops=False, seed=19)),
    ("ContrastLimitedAdaptiveHistogramEqualization",
     dict(value_range=(0, 1), clip_limit=2.0, tile_grid_size=(2, 3))),
    ("MaxNumBoundingBoxes", dict(max_number=3, bounding_box_format="xyxy")),
    ("RandomFlip", dict(mode="horizontal", bounding_box_format="rel_xyxy")),
    # --- keras key cases: augmentation (keep this marker)
    # --- keras key cases: wrappers (keep this marker)
    ("SimpleRNN", dict(units=3, activation="relu", return_sequences=True, go_backwards=True,
                       dropout=0.1, seed=2)),
    ("LSTM", dict(units=3, recurrent_activation="hard_sigmoid", unit_forget_bias=False,
                  return_state=True, unroll=True, stateful=True)),
    ("GRU", dict(units=2, reset_after=False, recurrent_dropout=0.2)),
    ("SimpleRNNCell", dict(units=3, use_bias=False)),
    ("LSTMCell", dict(units=2, dropout=0.5)),
    ("GRUCell", dict(units=2, reset_after=False)),
    ("Masking", dict(mask_value=0.5)),
    ("ConvLSTM1D", dict(filters=2, kernel_size=3, padding="same", return_sequences=True)),
    ("ConvLSTM2D", dict(filters=2, kernel_size=(2, 1), strides=(1, 2), dropout=0.2)),
    ("ConvLSTM3D", dict(filters=1, kernel_size=2, data_format="channels_first")),
    # --- keras key cases: recurrent (keep this marker)
    ("MultiHeadAttention", dict(num_heads=2, key_dim=3, value_dim=4, dropout=0.1,
                                output_shape=(5,), attention_axes=(1,), sliding_window=3,
                                use_gate=True, use_bias=False, kernel_initializer="he_normal",
                                seed=4)),
    ("GroupQueryAttention", dict(head_dim=4, num_query_heads=4, num_key_value_heads=2,
                                 dropout=0.1, use_bias=False, sliding_window=2, seed=1)),
    ("Attention", dict(use_scale=True, score_mode="concat", dropout=0.2, seed=3)),
    ("AdditiveAttention", dict(use_scale=False, dropout=0.1)),
    # --- keras key cases: attention (keep this marker)
    ("CategoryEncoding", dict(num_tokens=5, output_mode="one_hot")),
    # (TextVectorization, StringLookup, IntegerLookup, Hashing, HashedCrossing: Keras builds
    # them on TensorFlow only, so they cannot be constructed here to compare configs)
    # --- keras key cases: text-preprocessing (keep this marker)
]


def test_the_keras_key_cases_cover_every_public_layer_class():
    covered = {getattr(layers, name) for name, _ in KERAS_KEY_CASES}
    assert not sorted(c.__name__ for c in _public_layer_classes() - covered
                      if c.__name__ not in KEYS_TESTED_ELSEWHERE)


@pytest.mark.parametrize("cls_name,kwargs", KERAS_KEY_CASES, ids=[c[0] for c in KERAS_KEY_CASES])
def test_config_keys_and_values_match_keras(cls_name, kwargs):
    """Documented differences: kerasx writes no Keras-only options (quantization, sparse/ragged/optional inputs, BatchNorm renorm/synchronized); its
    `dtype` is a dtype name where Keras writes a DTypePolicy dict; initializer configs list only
    the arguments kerasx's initializers take."""
    keras = require_keras()
    ours = getattr(layers, cls_name)(**kwargs).get_config()
    theirs = getattr(keras.layers, cls_name)(**kwargs).get_config()
    assert set(ours) - set(theirs) == set()
    assert set(theirs) - set(ours) <= set(_KERAS_ONLY_ARGS)
    ours, theirs = json_round_trip(ours), json_round_trip(theirs)
    for key in set(ours) & set(theirs):
        if key in ("name",):
            continue
        if key == "dtype":
            policy = theirs["dtype"]
            assert (policy["config"]["name"] if isinstance(policy, dict) else policy) == ours["dtype"]
        elif key == "function":  # the same registered function
            assert ours[key]["config"] == theirs[key]["config"]
        elif key.endswith("_initializer"):
            assert ours[key]["class_name"] == theirs[key]["class_name"], key
            assert {k: v for k, v in theirs[key]["config"].items() if k in ours[key]["config"]} \
                == ours[key]["config"], key
        else:
            assert ours[key] == theirs[key], key


def test_keras_only_arguments_are_dropped_at_defaults_and_refused_otherwise():
    keras = require_keras()
    for name, kwargs in KERAS_KEY_CASES:
        config = getattr(keras.layers, name)(**kwargs).get_config()
        layer = getattr(layers, name).from_config(config)  # Keras's own config, dtype policy and all
        assert json_round_trip(layer.get_config()) == json_round_trip(
            getattr(layers, name)(**kwargs, **({"name": config["name"]})).get_config())
    config = keras.layers.Dense(3, lora_rank=2).get_config()
    with pytest.raises(ValueError, match="lora_rank"):
        layers.Dense.from_config(config)
    # regularizers and constraints are kerasx arguments now: kept, not dropped
    config = keras.layers.Dense(3, kernel_regularizer="l2").get_config()
    assert isinstance(deserialize({"class_name": "Dense", "config": config,
                                   "module": "keras.layers"}).kernel_regularizer,
                      kerasx.regularizers.L2)


# ------------------------------------------------------------------------------ custom objects
@register_keras_serializable(package="TestPkg")
class ScaledDense(layers.Layer):
    """A custom layer with a weight, an activation argument and a float argument."""

    def __init__(self, units, scale=1.0, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.units, self.scale = units, scale
        self.activation = activations.get(activation)

    def init(self, rng, input_spec):
        return {"w": jax.random.normal(rng, (input_spec.shape[-1], self.units))}, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        return self.activation(self.scale * inputs @ params["w"]), state

    def weight_names(self):
        return [("params", "w")]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "scale": self.scale,
                "activation": activations.serialize(self.activation)}


@register_keras_serializable(package="TestPkg", name="cube_act")
def cube(x):
    return x * x * x


@register_keras_serializable(package="TestPkg")
class HalfOnes(initializers.Initializer):
    def __call__(self, key, shape, dtype=jnp.float32):
        return jnp.full(shape, 0.5, dtype)


class Unregistered(layers.Layer):
    def __init__(self, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.offset = offset

    def apply(self, params, state, inputs, *, training=False, rng=None):
        return inputs + self.offset, state

    def get_config(self):
        return {**super().get_config(), "offset": self.offset}


def unregistered_act(x):
    return jnp.sin(x)


def test_registry_names():
    assert get_registered_name(ScaledDense) == "TestPkg>ScaledDense"
    assert get_registered_name(cube) == "TestPkg>cube_act"
    assert get_registered_object("TestPkg>ScaledDense") is ScaledDense
    assert get_registered_object("Unregistered", custom_objects={"Unregistered": Unregistered}) \
        is Unregistered
    assert get_registered_object("nope") is None
    assert get_registered_name(Unregistered) == "Unregistered"
    assert activations.get("TestPkg>cube_act") is cube
    assert isinstance(initializers.get("TestPkg>HalfOnes"), HalfOnes)
    with pytest.raises(ValueError, match="get_config"):
        register_keras_serializable()(type("NoConfig", (), {}))


def test_custom_activation_in_a_builtin_layer_round_trips_by_registered_name():
    layer = layers.Dense(3, activation=cube, kernel_initializer=HalfOnes(), name="d")
    cfg = layer.get_config()
    assert cfg["activation"] == {"module": __name__, "class_name": "function",
                                 "config": "TestPkg>cube_act", "registered_name": "TestPkg>cube_act"}
    assert cfg["kernel_initializer"]["registered_name"] == "TestPkg>HalfOnes"
    clone = layers.Dense.from_config(json_round_trip(cfg))
    assert clone.activation is cube and isinstance(clone.kernel_initializer, HalfOnes)
    _check_same_layer(layer, clone, (2, 4), "float32", False)


def test_registered_custom_layer_round_trips_in_models():
    model = kerasx.Sequential([kerasx.Input((4,)), ScaledDense(3, scale=0.5, activation=cube),
                               layers.Dense(2, activation=cube)])
    described = serialize(model)["config"]["layers"][1]
    assert described["class_name"] == "ScaledDense"
    assert described["registered_name"] == "TestPkg>ScaledDense" and described["module"] == __name__
    clone = kerasx.models.model_from_json(model.to_json())
    assert type(clone.layers[0]) is ScaledDense and clone.layers[0].activation is cube
    _check_same_predictions(model, clone, np.random.default_rng(0).normal(size=(3, 4)))


def test_unregistered_custom_objects_load_with_custom_objects():
    x = kerasx.Input((4,), name="x")
    y = Unregistered(offset=2.0, name="shift")(layers.Dense(3, activation=unregistered_act)(x))
    model = kerasx.Model(x, y)
    text = model.to_json()
    cfg = json.loads(text)["config"]["layers"]
    assert cfg[2]["registered_name"] == "Unregistered"
    with pytest.raises(ValueError) as err:
        kerasx.models.model_from_json(text)
    msg = str(err.value)
    assert "'unregistered_act'" in msg and "custom_objects=" in msg
    assert "register_keras_serializable" in msg
    with pytest.raises(ValueError, match="class 'Unregistered'.*custom_objects=.*register_keras"):
        kerasx.models.model_from_json(text, custom_objects={"unregistered_act": unregistered_act})
    clone = kerasx.models.model_from_json(
        text, custom_objects={"Unregistered": Unregistered, "unregistered_act": unregistered_act})
    assert clone.get_layer("shift").offset == 2.0
    _check_same_predictions(model, clone, np.random.default_rng(1).normal(size=(2, 4)))
    # Keras 2 style: a bare name in the config, resolved by `custom_objects`
    bare = serialize(layers.Dense(2, name="d"))
    bare["config"]["activation"] = "unregistered_act"
    assert deserialize(bare, {"unregistered_act": unregistered_act}).activation is unregistered_act


def test_unknown_class_error_names_it_and_both_remedies():
    cfg = {"module": "my_project.layers", "class_name": "FancyLayer", "config": {"name": "f"},
           "registered_name": "FancyLayer"}
    with pytest.raises(ValueError) as err:
        deserialize(cfg)
    msg = str(err.value)
    assert "FancyLayer" in msg and "custom_objects={'FancyLayer': FancyLayer}" in msg
    assert "@kerasx.saving.register_keras_serializable()" in msg
    # a built-in name from another (untrusted) module is not taken for the built-in
    with pytest.raises(ValueError, match="Dense"):
        deserialize({"module": "my_project.layers", "class_name": "Dense",
                     "config": {"units": 2}, "registered_name": "Dense"})
    with pytest.raises(ValueError, match="lambda"):
        deserialize(serialize(layers.Dense(2, activation=lambda v: v)))


# ------------------------------------------------------------------------------ models
def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([np.abs(rng.normal(size=w.shape)).astype(w.dtype) + 0.5
                       for w in model.get_weights()])


def _check_same_predictions(model, clone, x):
    _randomize(model)
    clone.set_weights(model.get_weights())
    x = jax.tree.map(lambda a: np.asarray(a, np.float32) if np.asarray(a).dtype.kind == "f"
                     else np.asarray(a), x)
    assert_trees_equal(model.predict(x, verbose=0), clone.predict(x, verbose=0))
    assert [l.name for l in clone.layers] == [l.name for l in model.layers]
    # the rebuilt model describes itself the same way
    assert json.loads(clone.to_json()) == json.loads(model.to_json())


def test_sequential_round_trip():
    model = kerasx.Sequential([
        kerasx.Input((8, 8, 3), name="image"),
        layers.Conv2D(4, 3, padding="same", activation="relu"),
        layers.BatchNormalization(momentum=0.8),
        layers.MaxPooling2D(),
        layers.Dropout(0.2),
        layers.Flatten(),
        layers.Dense(5, activation="softmax", trainable=False),
    ], name="cnn")
    cfg = model.get_config()
    assert set(cfg) == {"name", "trainable", "dtype", "layers", "build_input_shape"}
    assert cfg["layers"][0]["class_name"] == "InputLayer"
    assert cfg["layers"][0]["config"] == {"batch_shape": (None, 8, 8, 3), "dtype": "float32",
                                          "name": "image"}
    clone = kerasx.models.model_from_json(model.to_json())
    assert type(clone) is kerasx.Sequential and clone.name == "cnn"
    assert not clone.layers[-1].trainable
    _check_same_predictions(model, clone, np.random.default_rng(0).normal(size=(3, 8, 8, 3)))
    again = kerasx.Sequential.from_config(json_round_trip(cfg))
    _check_same_predictions(model, again, np.random.default_rng(0).normal(size=(3, 8, 8, 3)))


def test_sequential_input_shape_argument_and_lazy_build():
    model = kerasx.Sequential([layers.Embedding(10, 4, input_shape=(5,)),
                               layers.GlobalAveragePooling1D(), layers.Dense(2)])
    x = np.random.default_rng(0).integers(0, 10, size=(3, 5)).astype("int32")
    clone = kerasx.models.model_from_json(model.to_json())
    _check_same_predictions(model, clone, x)

    lazy = kerasx.Sequential([layers.Dense(3), layers.Dense(1)])
    assert lazy.get_config()["build_input_shape"] is None
    assert [c["class_name"] for c in lazy.get_config()["layers"]] == ["Dense", "Dense"]
    clone = kerasx.Sequential.from_config(json_round_trip(lazy.get_config()))
    lazy.predict(np.ones((2, 4), np.float32), verbose=0)  # builds both
    clone.predict(np.ones((2, 4), np.float32), verbose=0)
    _check_same_predictions(lazy, clone, np.ones((2, 4)))
    assert lazy.get_config()["layers"][0]["config"]["batch_shape"] == (None, 4)


def test_models_nested_in_sequential_round_trip():
    inner = kerasx.Sequential([layers.Dense(4, activation="relu")], name="inner")
    i = kerasx.Input((4,))
    fn = kerasx.Model(i, layers.Dense(2)(i), name="fn")
    model = kerasx.Sequential([kerasx.Input((3,)), inner, fn, layers.Dense(1, activation=jax.nn.relu)])
    clone = kerasx.models.model_from_json(model.to_json())
    assert [type(l).__name__ for l in clone.layers] == ["Sequential", "Functional", "Dense"]
    _check_same_predictions(model, clone, np.random.default_rng(0).normal(size=(2, 3)))


def test_jax_functions_are_described_by_their_keras_name():
    assert layers.Dense(2, activation=jax.nn.relu).get_config()["activation"] == "relu"
    assert layers.Activation(jnp.tanh).get_config()["activation"] == "tanh"
    # jax.nn.gelu is the tanh approximation by default, not Keras's exact "gelu"
    cfg = layers.Activation(jax.nn.gelu).get_config()["activation"]
    assert cfg["class_name"] == "function" and cfg["config"] == "gelu"


def _functional_model():
    a = kerasx.Input((6,), name="tokens", dtype="int32")
    b = kerasx.Input((4,), name="features")
    shared = layers.Dense(4, activation="tanh", name="shared")
    e = layers.GlobalAveragePooling1D()(layers.Embedding(10, 3)(a))
    h = layers.Add()([shared(layers.Dense(4)(e)), shared(b)])  # one layer, two calls
    inner_seq = kerasx.Sequential([layers.Dense(5, activation="relu"), layers.LayerNormalization()],
                                  name="inner_seq")
    i = kerasx.Input((4,))
    inner_fn = kerasx.Model(i, [layers.Dense(2)(i), layers.Dense(3)(i)], name="inner_fn")
    first, second = inner_fn(h)
    again, _ = inner_fn(shared(b))  # a nested model called twice
    out = layers.Concatenate()([inner_seq(h), first, again])
    return kerasx.Model({"tokens": a, "features": b},
                        {"main": layers.Dense(1, name="main")(out), "aux": second, "hid": h})


def _functional_inputs(seed=0):
    rng = np.random.default_rng(seed)
    return {"tokens": rng.integers(0, 10, size=(3, 6)).astype("int32"),
            "features": rng.normal(size=(3, 4)).astype("float32")}


def test_functional_round_trip_with_dicts_shared_layers_and_nested_models():
    model = _functional_model()
    cfg = model.get_config()
    assert set(cfg) == {"name", "trainable", "layers", "input_layers", "output_layers"}
    assert cfg["input_layers"] == {"tokens": ["tokens", 0, 0], "features": ["features", 0, 0]}
    by_name = {l["name"]: l for l in cfg["layers"]}
    assert len(by_name["shared"]["inbound_nodes"]) == 3
    assert len(by_name["inner_fn"]["inbound_nodes"]) == 2
    assert cfg["output_layers"]["aux"] == ["inner_fn", 1, 1]  # Keras counts from 1 here
    assert by_name["concatenate"]["inbound_nodes"][0]["args"][0][2]["config"]["keras_history"] \
        == ["inner_fn", 1, 0]
    assert by_name["inner_seq"]["class_name"] == "Sequential"
    json.dumps(cfg)

    clone = kerasx.models.model_from_json(model.to_json())
    assert type(clone) is kerasx.models.Functional
    assert clone.output_names == model.output_names and clone.input_names == model.input_names
    assert len(clone.get_weights()) == len(model.get_weights())
    _check_same_predictions(model, clone, _functional_inputs())
    for rebuild in (kerasx.Model.from_config, kerasx.models.Functional.from_config):
        _check_same_predictions(model, rebuild(json_round_trip(cfg)), _functional_inputs(1))
    _check_same_predictions(model, deserialize(json_round_trip(serialize(model))),
                            _functional_inputs(2))


def test_functional_list_outputs_and_single_input():
    x = kerasx.Input((3,))
    h = layers.Dense(4)(x)
    model = kerasx.Model(x, [h, layers.Dense(2)(h)])
    cfg = model.get_config()
    assert cfg["input_layers"] == ["input_layer", 0, 0]
    assert cfg["output_layers"] == [["dense", 0, 0], ["dense_1", 0, 0]]
    _check_same_predictions(model, kerasx.models.model_from_json(model.to_json()),
                            np.ones((2, 3)))
    one = kerasx.Model([x], [h])
    assert one.get_config()["input_layers"] == [["input_layer", 0, 0]]
    clone = kerasx.models.model_from_json(one.to_json())
    assert isinstance(clone.inputs, list) and isinstance(clone.outputs, list)


def test_model_from_json_errors():
    with pytest.raises(ValueError, match="JSON"):
        kerasx.models.model_from_json("not json")
    i = kerasx.Input((2,), name="i")
    cfg = serialize(kerasx.Model(i, layers.Dense(1, name="d")(i)))
    cfg["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["d", 0, 0]
    with pytest.raises(ValueError, match="invalid functional config"):
        deserialize(cfg)


# ------------------------------------------------------------------------------ Keras oracle: format
def test_keras_written_json_loads_with_keras_weights():
    keras = require_keras()
    L = keras.layers
    seq = keras.Sequential([keras.Input((8, 8, 3)), L.Conv2D(4, 3, activation="relu", padding="same"),
                            L.BatchNormalization(), L.MaxPooling2D(), L.Dropout(0.2), L.Flatten(),
                            L.Dense(5, activation="softmax")])
    x = np.random.default_rng(0).normal(size=(3, 8, 8, 3)).astype("float32")
    ours = kerasx.models.model_from_json(seq.to_json())
    ours.set_weights(seq.get_weights())
    np.testing.assert_allclose(ours.predict(x, verbose=0), seq.predict(x, verbose=0), atol=1e-5)

    tokens = keras.Input((6,), dtype="int32", name="tokens")
    feats = keras.Input((4,), name="features")
    shared = L.Dense(4, name="shared")
    h = L.Add()([shared(L.GlobalAveragePooling1D()(L.Embedding(10, 4)(tokens))), shared(feats)])
    inner_seq = keras.Sequential([keras.Input((4,)), L.Dense(3, activation="gelu"),
                                  L.LayerNormalization()], name="inner_seq")
    i = keras.Input((4,))
    inner_fn = keras.Model(i, L.Dense(4)(i), name="inner_fn")
    h1 = inner_fn(h)
    model = keras.Model({"tokens": tokens, "features": feats},
                        [L.Concatenate()([inner_seq(h), inner_fn(h1), h1]), L.Dense(1)(h), h1])
    ours = kerasx.models.model_from_json(model.to_json())
    ours.set_weights(model.get_weights())  # the config's layer order is Keras's weight order
    xs = _functional_inputs()
    for a, b in zip(ours.predict(xs, verbose=0), model.predict(xs, verbose=0)):
        np.testing.assert_allclose(a, np.asarray(b), atol=1e-5)
    # kerasx writes the same graph description as Keras (names, node indices, IO structure)
    theirs, mine = model.get_config(), ours.get_config()
    assert mine["input_layers"] == json_round_trip(theirs["input_layers"])
    assert mine["output_layers"] == json_round_trip(theirs["output_layers"])
    history = lambda cfg: [[t["config"]["keras_history"] for t in jax.tree.leaves(
        n["args"], is_leaf=lambda d: isinstance(d, dict) and "class_name" in d)]
        for l in cfg["layers"] for n in l["inbound_nodes"]]
    assert history(json_round_trip(mine)) == history(json_round_trip(theirs))
