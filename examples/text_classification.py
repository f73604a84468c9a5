"""Text classification: TextVectorization, Embedding(mask_zero=True) and a Bidirectional LSTM.

Run: python examples/text_classification.py          (about 10 s on a 2-core CPU)
     python examples/text_classification.py --imdb   (the real IMDB reviews: downloads them)

By default the data is GENERATED, so the example runs offline: short review-like sentences
("the plot was not very good at all") whose label is the adjective's sentiment, flipped when
"not" or "never" comes before it. A bag of words cannot learn that flip (it is an XOR of two
words); a recurrent model reading the words in order can. The script turns the strings into
padded word ids with TextVectorization (adapted on the training sentences), trains
Embedding(mask_zero=True) -> Bidirectional(LSTM) -> Dense, and prints the test accuracy overall
and on the negated sentences alone (about 1.0 for both).

With --imdb it loads `kerasx.datasets.imdb` (25,000 training reviews as word ids, checksummed
and cached) instead, keeping the 20,000 most frequent words and the first 200 of each review.

Smoke run: KERASX_EXAMPLE_SMOKE=1 python examples/text_classification.py (what the tests run
by default) trains on 256 sentences for two epochs, through the same code and printing the same
lines.
"""

import os
import sys

import numpy as np

import kerasx
from kerasx import layers

SMOKE = os.environ.get("KERASX_EXAMPLE_SMOKE") == "1"
IMDB = "--imdb" in sys.argv[1:]

SUBJECTS = ["the movie", "this film", "the plot", "the acting", "the ending", "the music"]
VERBS = ["was", "is", "felt", "seemed"]
ADVERBS = ["", "really", "quite", "very", "truly"]
POSITIVE = ["good", "great", "wonderful", "fun", "moving"]
NEGATIVE = ["bad", "boring", "awful", "dull", "weak"]
NEGATIONS = ["not", "never"]
ENDINGS = ["", "at all", "to me", "overall", "in the end"]


def sentences(n, rng):
    """`n` generated sentences, their labels (1 = positive) and whether each is negated."""
    texts, labels, negated = [], [], []
    for _ in range(n):
        good, neg = rng.integers(0, 2), rng.integers(0, 2)
        words = [rng.choice(SUBJECTS), rng.choice(VERBS)]
        words += [rng.choice(NEGATIONS)] if neg else []
        words += [rng.choice(ADVERBS), rng.choice(POSITIVE if good else NEGATIVE),
                  rng.choice(ENDINGS)]
        texts.append(" ".join(w for w in words if w))
        labels.append(float(good != neg))
        negated.append(bool(neg))
    return np.array(texts), np.array(labels, "float32"), np.array(negated)


kerasx.utils.set_random_seed(0)
if IMDB:
    vocab_size, length = 20_000, 200
    (x_train, y_train), (x_test, y_test) = kerasx.datasets.imdb.load_data(num_words=vocab_size)
    x_train = kerasx.utils.pad_sequences(x_train, maxlen=length)
    x_test = kerasx.utils.pad_sequences(x_test, maxlen=length)
    neg_test = np.zeros(len(x_test), bool)
    print(f"data: IMDB reviews, {len(x_train)} for training, {len(x_test)} for testing")
else:
    rng = np.random.default_rng(0)
    train_text, y_train, _ = sentences(256 if SMOKE else 3000, rng)
    test_text, y_test, neg_test = sentences(500, rng)
    length = 10
    vectorizer = layers.TextVectorization(output_mode="int", output_sequence_length=length)
    vectorizer.adapt(train_text)
    vocab_size = vectorizer.vocabulary_size()
    x_train, x_test = vectorizer(train_text), vectorizer(test_text)
    print(f"data: GENERATED sentences (pass --imdb for the real IMDB reviews), "
          f"{len(x_train)} for training, {len(x_test)} for testing, {vocab_size} words")
    print(f'example: "{test_text[0]}" -> {np.asarray(x_test[0]).tolist()} '
          f"(label {int(y_test[0])})")

model = kerasx.Sequential([
    layers.Input((length,), dtype="int32"),
    layers.Embedding(vocab_size, 32, mask_zero=True),  # id 0 is padding: the LSTM skips it
    layers.Bidirectional(layers.LSTM(32)),
    layers.Dense(1, activation="sigmoid"),
])
model.compile(optimizer=kerasx.optimizers.Adam(3e-3), loss="binary_crossentropy",
              metrics=["accuracy"])
model.summary()
history = model.fit(x_train, y_train, batch_size=32, epochs=2 if SMOKE else 8,
                    validation_split=0.1, verbose=2)
losses = history.history["loss"]
print(f"training loss {losses[0]:.4f} -> {losses[-1]:.4f}")
_, accuracy = model.evaluate(x_test, y_test, verbose=0)
predicted = model.predict(x_test, verbose=0)[:, 0] > 0.5
print(f"test accuracy {accuracy:.3f}")
if neg_test.any():
    negated_accuracy = float(np.mean(predicted[neg_test] == (y_test[neg_test] > 0.5)))
    print(f"test accuracy on negated sentences {negated_accuracy:.3f}")
