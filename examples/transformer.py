"""A small Transformer (encoder-decoder) learns to sort digit strings, then decodes greedily
as one compiled program.

Run: python examples/transformer.py          (under a minute on a 2-core CPU)

The data is GENERATED: strings of 8 random digits ("30917248") whose target is the same digits
sorted ("01234789"). The model is Keras's classic Transformer:

* `PositionalEmbedding`, a SUBCLASSED layer (two `layers.Embedding` sublayers, `call`,
  `get_config`): token embedding + learned position embedding;
* an encoder block (self-attention with `layers.MultiHeadAttention`, residual,
  `layers.LayerNormalization`, a feed-forward block) over the input digits;
* a decoder block (causal self-attention, cross-attention to the encoder, feed-forward) over
  the target shifted right by a START token, trained with teacher forcing.

After training the script decodes the test strings GREEDILY, feeding each predicted digit back
in: the whole loop (8 forward passes) is ONE compiled program, `jax.jit` around
`jax.lax.fori_loop`, with the model used as a pure function `model.apply(params, state, x)`.
It prints the per-sequence exact match (all 8 digits right) of greedy decoding next to a naive
baseline (each digit guessed from its position alone), checks the compiled loop against the
same decoding done step by step from Python (`model.predict_on_batch` once per digit), and
shows that compiled programs are reused: the decoder is traced and compiled once for two calls
(compilations counted through `jax.monitoring`), and a second `model.predict` on the same shape
compiles nothing. It also rebuilds the subclassed layer from its `get_config()`. It exits with
status 1 if the model did not learn (exact match below --threshold, default 0.9; it reaches
about 1.0).

Smoke run: KERASX_EXAMPLE_SMOKE=1 python examples/transformer.py (what the tests run by
default) trains on 512 strings for 2 epochs, through the same code and printing the same lines.
"""

import argparse
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np

import kerasx as keras
from kerasx import layers, ops

# KERASX_EXAMPLE_SMOKE=1: a quick run for the tests, on a slice of the data and for fewer epochs.
SMOKE = os.environ.get("KERASX_EXAMPLE_SMOKE") == "1"

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--length", type=int, default=8, help="digits per string")
parser.add_argument("--train", type=int, default=512 if SMOKE else 8_000,
                    help="training strings")
parser.add_argument("--test", type=int, default=1000, help="test strings")
parser.add_argument("--epochs", type=int, default=2 if SMOKE else 5)
parser.add_argument("--embed-dim", type=int, default=64)
parser.add_argument("--heads", type=int, default=4)
parser.add_argument("--threshold", type=float, default=0.0 if SMOKE else 0.9,
                    help="exit 1 if greedy exact match is below this")
parser.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
args = parser.parse_args()

START = 10  # the decoder's first input token; digits are 0..9
VOCAB = 11


def make_data(n, length, rng):
    """`n` random digit strings and their sorted versions, as int32 arrays (n, length)."""
    digits = rng.integers(0, 10, size=(n, length)).astype("int32")
    return digits, np.sort(digits, axis=1)


def shift_right(targets):
    """Teacher forcing: the decoder sees START followed by the target minus its last digit."""
    return np.concatenate([np.full_like(targets[:, :1], START), targets[:, :-1]], axis=1)


class PositionalEmbedding(keras.layers.Layer):
    """Token embedding plus a learned embedding of each position."""

    def __init__(self, sequence_length, vocab_size, embed_dim, **kwargs):
        super().__init__(**kwargs)
        self.sequence_length = sequence_length
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.token_embeddings = layers.Embedding(vocab_size, embed_dim)
        self.position_embeddings = layers.Embedding(sequence_length, embed_dim)

    def call(self, inputs):
        positions = ops.arange(ops.shape(inputs)[-1])
        return self.token_embeddings(inputs) + self.position_embeddings(positions)

    def get_config(self):
        return {**super().get_config(), "sequence_length": self.sequence_length,
                "vocab_size": self.vocab_size, "embed_dim": self.embed_dim}


def feed_forward(x, dim, hidden):
    h = layers.Dense(hidden, activation="relu")(x)
    return layers.LayerNormalization()(x + layers.Dense(dim)(h))


def build_model(length, dim, heads):
    digits = keras.Input((length,), dtype="int32", name="digits")
    decoder_inputs = keras.Input((length,), dtype="int32", name="decoder_inputs")
    # Encoder: self-attention over the input digits.
    x = PositionalEmbedding(length, VOCAB, dim, name="encoder_embedding")(digits)
    attended = layers.MultiHeadAttention(heads, dim // heads)(x, x)
    encoded = feed_forward(layers.LayerNormalization()(x + attended), dim, 2 * dim)
    # Decoder: causal self-attention over the digits so far, then attention to the encoder.
    y = PositionalEmbedding(length, VOCAB, dim, name="decoder_embedding")(decoder_inputs)
    attended = layers.MultiHeadAttention(heads, dim // heads)(y, y, use_causal_mask=True)
    y = layers.LayerNormalization()(y + attended)
    attended = layers.MultiHeadAttention(heads, dim // heads)(y, encoded)
    y = feed_forward(layers.LayerNormalization()(y + attended), dim, 2 * dim)
    probs = layers.Dense(10, activation="softmax", name="next_digit")(y)
    return keras.Model([digits, decoder_inputs], probs, name="sorting_transformer")


keras.utils.set_random_seed(args.seed)
rng = np.random.default_rng(args.seed)
L = args.length
x_train, y_train = make_data(args.train, L, rng)
x_test, y_test = make_data(args.test, L, rng)
print(f"data: GENERATED digit strings of length {L}, {len(x_train)} for training, "
      f"{len(x_test)} for testing")
print(f"example: {''.join(map(str, x_test[0]))} -> {''.join(map(str, y_test[0]))}")

model = build_model(L, args.embed_dim, args.heads)
model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.summary()
history = model.fit([x_train, shift_right(y_train)], y_train, batch_size=64,
                    epochs=args.epochs, verbose=2)
losses = history.history["loss"]
print(f"training loss {losses[0]:.4g} -> {losses[-1]:.4g}")

# The subclassed layer round-trips through its config: same weights, same outputs.
embedding = model.get_layer("encoder_embedding")
clone = PositionalEmbedding.from_config(embedding.get_config())
clone(x_test[:4])  # builds it
clone.set_weights(embedding.get_weights())
print(f"PositionalEmbedding config {sorted(clone.get_config())}; rebuilt from it, same outputs: "
      f"{np.allclose(clone(x_test[:4]), embedding(x_test[:4]))}")


# Counting compilations: JAX reports each backend compile as a monitoring event.
compiles = [0]
jax.monitoring.register_event_duration_secs_listener(
    lambda event, duration, **kw: compiles.__setitem__(0, compiles[0] + 1)
    if event == "/jax/core/compile/backend_compile_duration" else None)

traces = [0]  # incremented by Python each time jax.jit traces greedy_decode


@jax.jit
def greedy_decode(params, state, digits):
    """Greedy decoding in one program: `length` forward passes, each choosing the likeliest
    digit at step i and writing it into the decoder's input at position i + 1."""
    traces[0] += 1
    batch, length = digits.shape
    decoder_inputs = jnp.full((batch, length), START, jnp.int32)
    decoded = jnp.zeros((batch, length), jnp.int32)

    def step(i, carry):
        decoder_inputs, decoded = carry
        probs, _ = model.apply(params, state, [digits, decoder_inputs], training=False)
        token = jnp.argmax(probs[:, i], axis=-1).astype(jnp.int32)
        decoded = decoded.at[:, i].set(token)
        decoder_inputs = decoder_inputs.at[:, i + 1].set(token, mode="drop")
        return decoder_inputs, decoded

    return jax.lax.fori_loop(0, length, step, (decoder_inputs, decoded))[1]


params, state = model.params, model.state
source = jnp.asarray(x_test)
compiles_before = compiles[0]
decoded = np.asarray(greedy_decode(params, state, source))
first_call = compiles[0] - compiles_before
compiles_before = compiles[0]
decoded_again = np.asarray(greedy_decode(params, state, source))
assert np.array_equal(decoded, decoded_again)
print(f"greedy decoding: traced {traces[0]} time(s) for 2 calls, {first_call} compile(s) on "
      f"the first call, {compiles[0] - compiles_before} on the second")

# The same greedy decoding step by step from Python, one model.predict_on_batch per digit.
step_by_step = np.full_like(x_test, START)
for i in range(L):
    token = model.predict_on_batch([x_test, step_by_step])[:, i].argmax(-1)
    if i + 1 < L:
        step_by_step[:, i + 1] = token
step_by_step = np.concatenate([step_by_step[:, 1:], token[:, None]], axis=1)
same = int(np.sum(np.all(step_by_step == decoded, axis=1)))
print(f"step-by-step decoding from Python agrees with the compiled loop on {same} of "
      f"{len(decoded)} strings")

exact = float(np.mean(np.all(decoded == y_test, axis=1)))
per_digit = float(np.mean(decoded == y_test))
# Naive baseline: at each position, the digit most often found there in sorted training strings.
position_mode = np.array([np.bincount(y_train[:, i], minlength=10).argmax() for i in range(L)])
baseline_digit = float(np.mean(y_test == position_mode))
baseline_exact = float(np.mean(np.all(y_test == position_mode, axis=1)))
for string, out in list(zip(x_test, decoded))[:3]:
    print(f"  {''.join(map(str, string))} -> {''.join(map(str, out))}")
print(f"greedy decoding: exact match {exact:.3f}, per-digit accuracy {per_digit:.3f}")
print(f"baseline (the likeliest digit at each position): exact match {baseline_exact:.3f}, "
      f"per-digit accuracy {baseline_digit:.3f}")

# Teacher-forced predictions through model.predict: the second call on the same shape reuses
# the compiled program.
teacher = [x_test, shift_right(y_test)]
compiles_before = compiles[0]
first = model.predict(teacher, batch_size=250, verbose=0)
first_call = compiles[0] - compiles_before
compiles_before = compiles[0]
second = model.predict(teacher, batch_size=250, verbose=0)
assert np.array_equal(first, second)
print(f"model.predict: {first_call} compile(s) on the first call, "
      f"{compiles[0] - compiles_before} on the second call of the same shape")
teacher_exact = float(np.mean(np.all(first.argmax(-1) == y_test, axis=1)))
print(f"teacher-forced exact match {teacher_exact:.3f}")

if exact < args.threshold:
    print(f"did not learn: exact match {exact:.3f} < {args.threshold}")
    sys.exit(1)
