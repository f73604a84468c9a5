"""The model and data that the distribution tests train on one device, on 8 forced host
devices and in two processes, expecting the same weights."""

import numpy as np

import kerasx as keras

GLOBAL_BATCH = 16
VOCAB, SEQ = 32, 8


def data(n=96):
    rng = np.random.default_rng(0)
    x = rng.integers(1, VOCAB, size=(n, SEQ)).astype("int32")
    y = (x[:, 0] % 4).astype("int32")
    return x, y


def make_model():
    """Embedding, self-attention and Dense layers: kernels big enough to split 4 ways."""
    keras.utils.set_random_seed(7)
    inputs = keras.Input((SEQ,), dtype="int32")
    h = keras.layers.Embedding(VOCAB, 16)(inputs)
    h = keras.layers.MultiHeadAttention(num_heads=4, key_dim=8)(h, h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    h = keras.layers.Dense(32, activation="relu")(h)
    outputs = keras.layers.Dense(4)(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model
