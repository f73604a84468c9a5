"""Keras's own guides, condensed, run with only the import changed.

Each test builds the guide's model from one function given either `keras` or `kerasx` as the
module, loads the same weights into both, and checks that they predict the same and that both
learn the guide's (small, synthetic) task through `fit`.
"""

import numpy as np
import pytest

import kerasx
from keras_oracle import require_keras


# ------------------------------------------------------------------------------ image classification
def image_classifier(keras, input_shape):
    """keras-io "Image classification from scratch": augmentation, Rescaling, an Xception-like
    stack of SeparableConv2D blocks with residual 1x1 convolutions, global pooling."""
    layers = keras.layers
    augmentation = keras.Sequential([layers.RandomFlip("horizontal"), layers.RandomRotation(0.1)])
    inputs = keras.Input(shape=input_shape)
    x = augmentation(inputs)
    x = layers.Rescaling(1.0 / 255)(x)
    x = layers.Conv2D(16, 3, strides=2, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    previous = x
    for size in [16, 32]:
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
        x = layers.SeparableConv2D(size, 3, padding="same")(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        residual = layers.Conv2D(size, 1, strides=2, padding="same")(previous)
        x = layers.add([x, residual])
        previous = x
    x = layers.SeparableConv2D(32, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.25)(x)
    outputs = layers.Dense(1)(x)
    return keras.Model(inputs, outputs)


def bright_half_images(n, size=16, seed=0):
    """Label 1: the top half is the brighter one (a horizontal flip keeps the label)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 120, size=(n, size, size, 3)).astype("float32")
    y = rng.integers(0, 2, n)
    half = size // 2
    x[y == 1, :half] += 120
    x[y == 0, half:] += 120
    return x, y.astype("float32")


def _image_models(keras, x):
    ours, theirs = image_classifier(kerasx, x.shape[1:]), image_classifier(keras, x.shape[1:])
    assert len(ours.get_weights()) == len(theirs.get_weights())
    theirs.set_weights(ours.get_weights())
    for lib, model in ((kerasx, ours), (keras, theirs)):
        model.compile(optimizer=lib.optimizers.Adam(3e-3),
                      loss=lib.losses.BinaryCrossentropy(from_logits=True),
                      metrics=[lib.metrics.BinaryAccuracy(name="acc", threshold=0.0)])
    return ours, theirs


def test_image_classification_from_scratch_builds_and_predicts_like_keras():
    keras = require_keras()
    x, y = bright_half_images(32)
    ours, theirs = _image_models(keras, x)
    np.testing.assert_allclose(ours.predict(x[:8], verbose=0), theirs.predict(x[:8], verbose=0),
                               atol=1e-4, rtol=1e-4)
    history = ours.fit(x, y, epochs=1, batch_size=16, verbose=0)  # augmentation runs in fit
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.slow
def test_image_classification_from_scratch_learns_like_keras():
    keras = require_keras()
    x, y = bright_half_images(96)
    ours, theirs = _image_models(keras, x)
    for model in (ours, theirs):
        model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    x_test, y_test = bright_half_images(64, seed=1)
    ours_acc = ours.evaluate(x_test, y_test, verbose=0, return_dict=True)["acc"]
    theirs_acc = theirs.evaluate(x_test, y_test, verbose=0, return_dict=True)["acc"]
    assert ours_acc >= 0.85 and theirs_acc >= 0.85, (ours_acc, theirs_acc)


# ------------------------------------------------------------------------------ text classification
def text_classifier(keras, vocab, length):
    """keras-io "Bidirectional LSTM on IMDB": Embedding(mask_zero) -> two Bidirectional LSTMs."""
    layers = keras.layers
    inputs = keras.Input(shape=(length,), dtype="int32")
    x = layers.Embedding(vocab, 8, mask_zero=True)(inputs)
    x = layers.Bidirectional(layers.LSTM(8, return_sequences=True))(x)
    x = layers.Bidirectional(layers.LSTM(8))(x)
    outputs = layers.Dense(1, activation="sigmoid")(x)
    return keras.Model(inputs, outputs)


def negation_sentences(n, length=8, seed=0):
    """Sentences of word ids, padded with 0: "good" (1) or "bad" (2), flipped by "not" (3)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, length), "int32")
    y = np.zeros(n, "float32")
    for i in range(n):
        words = list(rng.integers(4, 12, rng.integers(1, 4)))
        good = rng.integers(0, 2)
        negated = rng.integers(0, 2)
        words += ([3] if negated else []) + [1 if good else 2]
        words += list(rng.integers(4, 12, rng.integers(0, 2)))
        x[i, :len(words)] = words[:length]
        y[i] = float(good != negated)
    return x, y


def test_bidirectional_lstm_text_classification_runs_unchanged():
    keras = require_keras()
    x, y = negation_sentences(256)
    ours, theirs = text_classifier(kerasx, 12, x.shape[1]), text_classifier(keras, 12, x.shape[1])
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(ours.predict(x[:16], verbose=0), theirs.predict(x[:16], verbose=0),
                               atol=1e-5, rtol=1e-5)
    for model in (ours, theirs):
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):  # the same training, step by step
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)
