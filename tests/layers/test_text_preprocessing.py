"""Text and categorical preprocessing layers: TextVectorization, StringLookup, IntegerLookup,
Hashing, HashedCrossing, CategoryEncoding.

Keras 3 runs all but CategoryEncoding on TensorFlow (not installed here), so their expected
values are worked out by hand from Keras's algorithm (keras/src/layers/preprocessing/
index_lookup.py, text_vectorization.py) or copied from the examples in Keras's docstrings
(outputs of real Keras runs); each case says which. CategoryEncoding runs on JAX in Keras and
is checked against Keras directly.
"""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import layers
from kerasx.layers import _text_preprocessing as tp
from kerasx.saving import deserialize, serialize
from harness import run_layer_test
from keras_oracle import require_keras

# A small corpus. After "lower_and_strip_punctuation" and whitespace split:
#   "the cat sat" / "the dog sat" / "the cat the cat" / "a bird"
# counts: the 4, cat 3, sat 2, dog 1, bird 1, a 1. Keras sorts by count (descending) and
# breaks ties by the token, descending (np.lexsort((tokens, counts))[::-1]): dog > bird > a.
CORPUS = ["The cat sat.", "The dog sat!", "The cat, the cat.", "A bird"]
LEARNED = ["the", "cat", "sat", "dog", "bird", "a"]


# ------------------------------------------------------------------------------ TextVectorization
def test_text_vectorization_adapt_vocabulary_and_indices():
    layer = layers.TextVectorization()
    layer.adapt(CORPUS)
    # int mode: the mask token "" (padding) at 0, "[UNK]" at 1, then the learned tokens
    assert layer.get_vocabulary() == ["", "[UNK]"] + LEARNED
    assert layer.get_vocabulary(include_special_tokens=False) == LEARNED
    assert layer.vocabulary_size() == 8
    # "the bird sat on a mat": the=2 bird=6 sat=4 on=OOV(1) a=7 mat=OOV(1); rows padded with 0
    out = layer(["the bird sat on a mat", "Cat!"])
    assert out.dtype == jnp.int32
    np.testing.assert_array_equal(out, [[2, 6, 4, 1, 7, 1], [3, 0, 0, 0, 0, 0]])


def test_text_vectorization_keras_docstring_examples():
    # keras TextVectorization docstring: adapt then call, max_len=4
    layer = layers.TextVectorization(max_tokens=5000, output_mode="int",
                                     output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    np.testing.assert_array_equal(layer([["foo qux bar"], ["qux baz"]]),
                                  [[4, 1, 3, 0], [1, 2, 0, 0]])
    # ... and a vocabulary passed directly
    layer = layers.TextVectorization(max_tokens=5000, output_mode="int",
                                     output_sequence_length=4,
                                     vocabulary=["earth", "wind", "and", "fire"])
    assert layer.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
    np.testing.assert_array_equal(layer(["earth wind and fire", "fire and earth x y"]),
                                  [[2, 3, 4, 5], [5, 4, 2, 1]])


def test_text_vectorization_max_tokens_and_sequence_length():
    # max_tokens=5 keeps 5 - 2 (mask, OOV) = 3 learned tokens: the most frequent
    layer = layers.TextVectorization(max_tokens=5, output_sequence_length=3)
    layer.adapt(CORPUS)
    assert layer.get_vocabulary() == ["", "[UNK]", "the", "cat", "sat"]
    # cut to 3 / padded to 3
    np.testing.assert_array_equal(layer(["dog sat the cat", "cat"]), [[1, 4, 2], [3, 0, 0]])
    # a single string gives one row
    np.testing.assert_array_equal(layer("the cat"), [2, 3, 0])


def test_text_vectorization_multi_hot_count_and_tf_idf():
    # non-int modes: no mask index, "[UNK]" is index 0
    for mode in ("multi_hot", "count"):
        layer = layers.TextVectorization(output_mode=mode)
        layer.adapt(CORPUS)
        assert layer.get_vocabulary() == ["[UNK]"] + LEARNED
        out = layer(["cat cat dog zebra", "the"])
        expected = ([[1, 0, 1, 0, 1, 0, 0], [0, 1, 0, 0, 0, 0, 0]] if mode == "multi_hot"
                    else [[1, 0, 2, 0, 1, 0, 0], [0, 1, 0, 0, 0, 0, 0]])
        np.testing.assert_array_equal(out, expected)
        assert out.dtype == jnp.float32
    # tf_idf: idf = log(1 + num_docs / (1 + doc_count)), 4 documents; doc counts:
    # the 3, cat 2, sat 2, dog 1, bird 1, a 1; the OOV index gets the mean idf
    layer = layers.TextVectorization(output_mode="tf_idf")
    layer.adapt(CORPUS)
    idf = [math.log(1 + 4 / (1 + d)) for d in (3, 2, 2, 1, 1, 1)]
    out = layer(["the the cat zebra"])
    expected = [np.mean(idf), 2 * idf[0], idf[1], 0, 0, 0, 0]
    np.testing.assert_allclose(out, [expected], rtol=1e-6)
    # pad_to_max_tokens: vectors max_tokens wide
    layer = layers.TextVectorization(max_tokens=10, output_mode="multi_hot",
                                     pad_to_max_tokens=True)
    layer.adapt(CORPUS)
    assert layer(["cat"]).shape == (1, 10)
    np.testing.assert_array_equal(layer("cat sat"), [0, 0, 1, 1, 0, 0, 0, 0, 0, 0])  # one text


def test_text_vectorization_standardize_split_and_ngrams():
    # ngrams=2: 1-grams then 2-grams of each document (joined by a space)
    layer = layers.TextVectorization(ngrams=2, standardize="lower")
    layer.adapt(["A b", "a b c"])
    # counts: a 2, b 2, "a b" 2, c 1, "b c" 1; ties by token descending: b > a b > a; c > b c
    assert layer.get_vocabulary(False) == ["b", "a b", "a", "c", "b c"]
    np.testing.assert_array_equal(layer(["a b c"]), [[4, 2, 5, 3, 6]])
    # ngrams=(2,): bigrams only
    layer = layers.TextVectorization(ngrams=(2,), standardize=None)
    layer.adapt(["x y z"])
    assert layer.get_vocabulary(False) == ["y z", "x y"]
    # strip_punctuation keeps case; character split keeps spaces as tokens
    layer = layers.TextVectorization(standardize="strip_punctuation", split="character")
    layer.adapt(["ab, a"])  # "ab a": a 2, then b and " " (1 each; "b" > " ")
    assert layer.get_vocabulary(False) == ["a", "b", " "]
    # split=None: each string is a token
    layer = layers.TextVectorization(split=None, standardize=None)
    layer.adapt(["x y", "x y", "z"])
    assert layer.get_vocabulary(False) == ["x y", "z"]
    np.testing.assert_array_equal(layer([["x y"], ["q"]]), [[2], [1]])


def upper_first(strings):
    return np.char.upper(strings)


def comma_split(strings):
    return [s.split(",") for s in strings]


def test_text_vectorization_callables():
    kerasx.saving.register_keras_serializable("tests_text")(upper_first)
    kerasx.saving.register_keras_serializable("tests_text")(comma_split)
    layer = layers.TextVectorization(standardize=upper_first, split=comma_split)
    layer.adapt(["a,b", "b,c"])
    assert layer.get_vocabulary(False) == ["B", "C", "A"]
    np.testing.assert_array_equal(layer(["c,a,x"]), [[3, 4, 1]])
    clone = layers.TextVectorization.from_config(json.loads(json.dumps(layer.get_config())))
    np.testing.assert_array_equal(clone(["c,a,x"]), [[3, 4, 1]])


def test_text_vectorization_adapt_on_batches():
    # an iterable of batches (with (x, y) tuples) learns the same vocabulary as the array
    def batches():
        yield np.array(CORPUS[:2]), np.array([0, 1])
        yield np.array(CORPUS[2:]), np.array([1, 0])

    layer = layers.TextVectorization()
    layer.adapt(batches())
    assert layer.get_vocabulary(False) == LEARNED
    layer = layers.TextVectorization()
    layer.adapt(iter([CORPUS[:3], CORPUS[3:]]), steps=1)  # the first batch only
    assert layer.get_vocabulary(False) == ["the", "cat", "sat", "dog"]


def test_text_vectorization_config_keeps_the_vocabulary():
    layer = layers.TextVectorization(max_tokens=20, output_sequence_length=5, name="vec")
    layer.adapt(CORPUS)
    config = json.loads(json.dumps(layer.get_config()))
    assert config["vocabulary"] == LEARNED and config["vocabulary_size"] == 8
    for clone in (layers.TextVectorization.from_config(config),
                  deserialize(json.loads(json.dumps(serialize(layer))))):
        assert clone.get_vocabulary() == layer.get_vocabulary()
        np.testing.assert_array_equal(clone(CORPUS), layer(CORPUS))
        assert json.loads(json.dumps(clone.get_config())) == config
    # tf_idf: the weights come back too
    layer = layers.TextVectorization(output_mode="tf_idf", max_tokens=12,
                                     pad_to_max_tokens=True)
    layer.adapt(CORPUS)
    clone = layers.TextVectorization.from_config(json.loads(json.dumps(layer.get_config())))
    np.testing.assert_allclose(clone(CORPUS), layer(CORPUS), rtol=1e-6)
    # set_vocabulary replaces the vocabulary
    layer = layers.TextVectorization()
    layer.set_vocabulary(["b", "a"])
    assert layer.get_vocabulary() == ["", "[UNK]", "b", "a"]


def test_text_vectorization_errors():
    layer = layers.TextVectorization(name="vec")
    with pytest.raises(ValueError, match=r"'vec' \(TextVectorization\).*adapt.*vocabulary"):
        layer(["some text"])
    with pytest.raises(ValueError, match="empty dataset"):
        layer.adapt([])
    with pytest.raises(ValueError, match="empty dataset"):
        layer.adapt(iter([]))
    with pytest.raises(ValueError, match="output_mode"):
        layers.TextVectorization(output_mode="bag")
    with pytest.raises(ValueError, match="TextVectorization.*max_tokens"):
        layers.TextVectorization(max_tokens=1)
    with pytest.raises(ValueError, match=r"\(TextVectorization\).*repeated"):
        layers.TextVectorization(vocabulary=["a", "a"])
    with pytest.raises(ValueError, match="output_sequence_length"):
        layers.TextVectorization(output_mode="multi_hot", output_sequence_length=4)
    with pytest.raises(ValueError, match="standardize"):
        layers.TextVectorization(standardize="upper")
    with pytest.raises(ValueError, match="ngrams"):
        layers.TextVectorization(ngrams=0)
    with pytest.raises(ValueError, match="ragged"):
        layers.TextVectorization(ragged=True)
    with pytest.raises(ValueError, match="static vocabulary"):
        layers.TextVectorization(vocabulary=["a"]).adapt(["a b"])
    with pytest.raises(ValueError, match="last dimension must be 1"):
        layers.TextVectorization(vocabulary=["a"])(np.array([["a", "b"]]))


def test_string_layers_inside_a_model_raise_a_clear_error():
    vec = layers.TextVectorization(vocabulary=["a", "b"], name="vec")
    inp = kerasx.Input((1,), dtype="int32")
    with pytest.raises(ValueError, match=r"'vec' \(TextVectorization\).*before `fit`"):
        vec(inp)
    with pytest.raises(ValueError, match=r"'vec' \(TextVectorization\).*before `fit`"):
        jax.jit(lambda x: vec.apply({}, {}, x)[0])(jnp.zeros((2, 1), jnp.int32))
    lookup = layers.StringLookup(vocabulary=["a"], name="words")
    with pytest.raises(ValueError, match=r"'words' \(StringLookup\).*before `fit`"):
        kerasx.Sequential([kerasx.Input((3,), dtype="int32"), lookup,
                           layers.Dense(1)]).predict(np.zeros((2, 3), "int32"), verbose=0)


# ------------------------------------------------------------------------------ StringLookup
def test_string_lookup_keras_docstring_examples():
    vocab = ["a", "b", "c", "d"]
    data = [["a", "c", "d"], ["d", "z", "b"]]
    np.testing.assert_array_equal(layers.StringLookup(vocabulary=vocab)(data),
                                  [[1, 3, 4], [4, 0, 2]])
    layer = layers.StringLookup()
    layer.adapt(data)  # d 2; then ties z > c > b > a
    assert layer.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    np.testing.assert_array_equal(layer(data), [[5, 3, 1], [1, 2, 4]])
    one_hot = layers.StringLookup(vocabulary=vocab, output_mode="one_hot")
    np.testing.assert_array_equal(one_hot(["a", "b", "c", "d", "z"]), np.eye(5)[[1, 2, 3, 4, 0]])
    data = [["a", "c", "d", "d"], ["d", "z", "b", "z"]]
    np.testing.assert_array_equal(
        layers.StringLookup(vocabulary=vocab, output_mode="multi_hot")(data),
        [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]])
    np.testing.assert_array_equal(
        layers.StringLookup(vocabulary=vocab, output_mode="count")(data),
        [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]])
    layer = layers.StringLookup(output_mode="tf_idf")
    layer.set_vocabulary(vocab, idf_weights=[0.25, 0.75, 0.6, 0.4])  # OOV: the mean, 0.5
    np.testing.assert_allclose(layer(data), [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]])
    layer = layers.StringLookup(output_mode="tf_idf")
    layer.set_vocabulary(["[UNK]"] + vocab, idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(layer(data), [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]])
    inverse = layers.StringLookup(vocabulary=vocab, invert=True)
    np.testing.assert_array_equal(inverse([[1, 3, 4], [4, 0, 2]]),
                                  [["a", "c", "d"], ["d", "[UNK]", "b"]])


def test_string_lookup_mask_and_oov_indices():
    # mask token at 0 (int mode), two OOV indices 1 and 2, tokens from 3
    layer = layers.StringLookup(vocabulary=["a", "b"], mask_token="[MASK]", num_oov_indices=2)
    assert layer.get_vocabulary() == ["[MASK]", "[UNK]", "[UNK]", "a", "b"]
    out = np.asarray(layer([["a", "[MASK]", "b", "zz", "yy"]]))
    np.testing.assert_array_equal(out[0, :3], [3, 0, 4])
    assert set(out[0, 3:]) <= {1, 2}
    # the same OOV token always gets the same index
    assert np.asarray(layer(["zz"]))[0] == out[0, 3]
    # non-int modes: masked tokens encode to nothing, no mask index
    layer = layers.StringLookup(vocabulary=["a", "b"], mask_token="", output_mode="count")
    np.testing.assert_array_equal(layer([["a", "", "a", "q"]]), [[1, 2, 0]])
    # a vocabulary that starts with the special tokens is taken as it is
    layer = layers.StringLookup(vocabulary=["", "[UNK]", "x"], mask_token="")
    assert layer.get_vocabulary() == ["", "[UNK]", "x"]
    # num_oov_indices=0: OOV is an error
    with pytest.raises(ValueError, match="num_oov_indices=0"):
        layers.StringLookup(vocabulary=["a"], num_oov_indices=0)(["b"])


def test_string_lookup_config_round_trip_and_errors():
    layer = layers.StringLookup(max_tokens=6, mask_token="[M]", name="look")
    layer.adapt(np.array([["x", "y", "x"], ["z", "x", "y"]]))
    config = json.loads(json.dumps(layer.get_config()))
    assert config["vocabulary"] == ["x", "y", "z"] and config["encoding"] == "utf-8"
    clone = layers.StringLookup.from_config(config)
    assert clone.get_vocabulary() == layer.get_vocabulary() == ["[M]", "[UNK]", "x", "y", "z"]
    with pytest.raises(ValueError, match="repeated"):
        layers.StringLookup(vocabulary=["a", "a"])
    with pytest.raises(ValueError, match="empty vocabulary"):
        layers.StringLookup(vocabulary=[])
    with pytest.raises(ValueError, match="mask token"):
        layers.StringLookup(vocabulary=["a", "[M]"], mask_token="[M]")
    with pytest.raises(ValueError, match="larger than the maximum"):
        layers.StringLookup(vocabulary=["a", "b", "c"], max_tokens=3)
    with pytest.raises(ValueError, match="output_mode"):
        layers.StringLookup(output_mode="int", invert=True, vocabulary=["a"]).__class__(
            output_mode="one_hot", invert=True)
    with pytest.raises(ValueError, match="idf_weights"):
        layers.StringLookup(vocabulary=["a"], output_mode="tf_idf")
    with pytest.raises(RuntimeError, match="vocabulary before"):
        layers.StringLookup(output_mode="multi_hot", name="nv")(["a"])


# ------------------------------------------------------------------------------ IntegerLookup
def test_integer_lookup_keras_docstring_examples():
    vocab = [12, 36, 1138, 42]
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    np.testing.assert_array_equal(layers.IntegerLookup(vocabulary=vocab)(data),
                                  [[1, 3, 4], [4, 0, 2]])
    layer = layers.IntegerLookup()
    layer.adapt(data)  # 42 twice; then ties by value descending
    assert layer.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    np.testing.assert_array_equal(layer(data), [[5, 2, 1], [1, 3, 4]])
    # two OOV indices, "floormod": 37 % 2 = 1, 1000 % 2 = 0
    layer = layers.IntegerLookup(vocabulary=vocab, num_oov_indices=2)
    np.testing.assert_array_equal(layer(np.array([[12, 1138, 42], [37, 1000, 36]])),
                                  [[2, 4, 5], [1, 0, 3]])
    layer = layers.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=4)
    np.testing.assert_array_equal(layer(np.array([100, 300, 700, 1100, 1700, 2000])), [0] * 6)
    # oov_method="farmhash": kerasx's documented hash instead (Hashing's buckets), eager == jit
    layer = layers.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=4,
                                 oov_method="farmhash")
    oov = np.array([100, 300, 700, 1100, 1700, 2000, 20], "int32")
    jitted = jax.jit(lambda x: layer.apply({}, {}, x)[0])(oov)
    np.testing.assert_array_equal(layer(oov), jitted)
    np.testing.assert_array_equal(jitted[:6], layers.Hashing(num_bins=4)(oov[:6]))
    assert jitted[6] == 5 and len(set(np.asarray(jitted[:6]).tolist())) > 1
    np.testing.assert_array_equal(
        layers.IntegerLookup(vocabulary=vocab, output_mode="one_hot")(
            np.array([12, 36, 1138, 42, 7])), np.eye(5)[[1, 2, 3, 4, 0]])
    inverse = layers.IntegerLookup(vocabulary=vocab, invert=True)
    np.testing.assert_array_equal(inverse(np.array([[1, 3, 4], [4, 0, 2]])),
                                  [[12, 1138, 42], [42, -1, 36]])
    data = np.array([[12, 1138, 42, 42], [42, 7, 36, 7]])
    layer = layers.IntegerLookup(output_mode="tf_idf", vocabulary=vocab,
                                 idf_weights=[0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(layer(data), [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]])


@pytest.mark.parametrize("mode", ["int", "one_hot", "multi_hot", "count"])
def test_integer_lookup_is_jittable(mode):
    layer = layers.IntegerLookup(vocabulary=[5, 3, 9], mask_token=0, output_mode=mode)
    x = jnp.array([[5, 0, 9, 4], [3, 3, 7, 0]], jnp.int32)
    y, _, _ = run_layer_test(layer, x)  # eager == jit, output_spec
    if mode == "int":  # mask 0 -> 0, OOV -> 1, 5 -> 2, 3 -> 3, 9 -> 4
        np.testing.assert_array_equal(y, [[2, 0, 4, 1], [3, 3, 1, 0]])
    if mode == "count":  # no mask index: OOV 0, 5 -> 1, 3 -> 2, 9 -> 3; masked ids dropped
        np.testing.assert_array_equal(y, [[1, 1, 0, 1], [1, 0, 2, 0]])


def test_integer_lookup_inside_a_model():
    lookup = layers.IntegerLookup(vocabulary=[10, 20, 30], output_mode="multi_hot")
    model = kerasx.Sequential([kerasx.Input((3,), dtype="int32"), lookup,
                               layers.Dense(1, kernel_initializer="ones")])
    x = np.array([[10, 10, 99], [20, 30, 30]], "int32")
    # multi-hot [OOV, 10, 20, 30] summed by a kernel of ones
    np.testing.assert_allclose(model.predict(x, verbose=0), [[2.0], [2.0]])
    clone = layers.IntegerLookup.from_config(json.loads(json.dumps(lookup.get_config())))
    assert clone.get_vocabulary() == [-1, 10, 20, 30]
    # Hashing of integers and CategoryEncoding inside a functional model, compiled
    inp = kerasx.Input((2,), dtype="int32")
    hashed = layers.Hashing(num_bins=6)(inp)
    encoded = layers.CategoryEncoding(num_tokens=6, output_mode="count")(hashed)
    model = kerasx.Model(inp, encoded)
    x = np.array([[4, 4], [17, 123456]], "int32")
    expected = np.eye(6)[np.asarray(layers.Hashing(num_bins=6)(x.astype(str)))].sum(axis=1)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    # eager calls compute on the host with int64: values beyond int32 are found too
    np.testing.assert_array_equal(layers.IntegerLookup(vocabulary=[2 ** 40, 5])(
        np.array([2 ** 40, 5, 2 ** 41])), [1, 2, 0])


def test_a_saved_model_keeps_an_adapted_vocabulary(tmp_path):
    lookup = layers.IntegerLookup(output_mode="multi_hot")
    lookup.adapt(np.array([[3, 3, 9], [4, 9, 9]]))  # 9 three times, 3 twice, then 4
    model = kerasx.Sequential([kerasx.Input((3,), dtype="int32"), lookup, layers.Dense(2)])
    x = np.array([[3, 4, 1], [9, 9, 9]], "int32")
    model.save(tmp_path / "m.keras")
    loaded = kerasx.saving.load_model(tmp_path / "m.keras")
    assert loaded.layers[0].get_vocabulary() == [-1, 9, 3, 4]
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_vocabulary_from_a_file_and_adapting_again(tmp_path):
    path = tmp_path / "vocab.txt"
    path.write_text("[UNK]\nfire\nearth\n", encoding="utf-8")  # special token first: kept
    layer = layers.StringLookup(vocabulary=str(path))
    assert layer.get_vocabulary() == ["[UNK]", "fire", "earth"]
    layer = layers.TextVectorization()
    layer.adapt(["b b a"])
    layer.adapt(["c"])  # a new adapt replaces the vocabulary (Keras resets its counts)
    assert layer.get_vocabulary() == ["", "[UNK]", "c"]


def test_integer_lookup_errors():
    with pytest.raises(ValueError, match="max_tokens"):
        layers.IntegerLookup(max_tokens=1)
    with pytest.raises(ValueError, match="num_oov_indices"):
        layers.IntegerLookup(num_oov_indices=-1)
    with pytest.raises(ValueError, match="vocabulary_dtype"):
        layers.IntegerLookup(vocabulary_dtype="int32")
    with pytest.raises(ValueError, match="salt"):
        layers.IntegerLookup(salt=3)
    with pytest.raises(ValueError, match="num_oov_indices=0"):
        layers.IntegerLookup(vocabulary=[1], num_oov_indices=0)(np.array([2]))
    with pytest.raises(ValueError, match="empty dataset"):
        layers.IntegerLookup().adapt(np.zeros((0,), "int64"))


# ------------------------------------------------------------------------------ hashing
def _fnv1a(data: bytes) -> int:  # FNV-1a 32, the reference definition
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) % 2 ** 32
    return h


def _fmix32(h: int) -> int:  # MurmurHash3's finalizer, the reference definition
    h ^= h >> 16
    h = (h * 0x85EBCA6B) % 2 ** 32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) % 2 ** 32
    return h ^ (h >> 16)


def test_the_hash_is_the_documented_one():
    assert _fnv1a(b"a") == 0xE40C292C and _fnv1a(b"foobar") == 0xBF9CF968  # FNV test vectors
    for value, text in [("a", b"a"), ("foobar", b"foobar"), (-17, b"-17"), (0, b"0"),
                        ("héllo", "héllo".encode())]:
        assert tp._hash_value(value, tp._seed_of(None)) == _fmix32(_fnv1a(text))
    layer = layers.Hashing(num_bins=7)
    words = ["cat", "dog", "héllo", ""]
    np.testing.assert_array_equal(layer(words), [_fmix32(_fnv1a(w.encode())) % 7 for w in words])
    # a salt [a, b] changes the initial state: fmix32((fmix32((offset ^ a) * p) ^ b) * p)
    a, b = 12, 34
    seed = _fmix32(((_fmix32(((0x811C9DC5 ^ a) * 0x01000193) % 2 ** 32) ^ b) * 0x01000193)
                   % 2 ** 32)
    h = seed
    for byte in b"cat":
        h = ((h ^ byte) * 0x01000193) % 2 ** 32
    # with a mask value, bucket 0 is the mask's and the others hash into [1, num_bins)
    assert np.asarray(layers.Hashing(num_bins=7, salt=[a, b], mask_value="x")(["cat"]))[0] == \
        _fmix32(h) % 6 + 1


def test_integer_hashing_on_jax_matches_the_host_strings():
    ints = np.array([0, 1, 7, -1, 9, 10, 99, 100, 12345, -98765, 2 ** 31 - 1, -2 ** 31, 10 ** 9],
                    np.int64)
    for salt in (None, 1337, (5, 9)):
        layer = layers.Hashing(num_bins=1000, salt=salt)
        on_host = layer(ints.astype(str))      # strings: NumPy on the host
        jitted = jax.jit(lambda x: layer.apply({}, {}, x)[0])(jnp.asarray(ints, jnp.int32))
        np.testing.assert_array_equal(on_host, jitted)
        np.testing.assert_array_equal(layer(ints), jitted)  # eager integers: NumPy code
        np.testing.assert_array_equal(layer(np.array([0.5, 7.9, -1.5, 12345.25])),  # floats
                                      layer(np.array(["0", "7", "-1", "12345"])))  # truncate
    # eager integers beyond int32 hash their decimal strings too
    big = np.array([2 ** 40, -3 * 10 ** 12], np.int64)
    np.testing.assert_array_equal(layers.Hashing(97)(big), layers.Hashing(97)(big.astype(str)))
    assert not np.array_equal(layers.Hashing(1000)(ints.astype(str)),
                              layers.Hashing(1000, salt=1)(ints.astype(str)))


def test_hashing_mask_and_output_modes():
    layer = layers.Hashing(num_bins=4, mask_value="")
    out = np.asarray(layer([["a"], [""], ["b"], ["c"]]))
    assert out[1, 0] == 0 and set(out[[0, 2, 3], 0]) <= {1, 2, 3}
    x = np.array([[3, 8], [5, 5]], "int32")
    ids = np.asarray(layers.Hashing(num_bins=5)(x))
    np.testing.assert_array_equal(layers.Hashing(5, output_mode="one_hot")(x), np.eye(5)[ids])
    np.testing.assert_array_equal(layers.Hashing(5, output_mode="multi_hot")(x),
                                  np.eye(5)[ids].max(axis=1))
    np.testing.assert_array_equal(layers.Hashing(5, output_mode="count")(x),
                                  np.eye(5)[ids].sum(axis=1))
    run_layer_test(layers.Hashing(5, output_mode="one_hot", mask_value=3), jnp.asarray(x))
    with pytest.raises(ValueError, match="num_bins"):
        layers.Hashing(num_bins=0)
    with pytest.raises(ValueError, match="output_mode"):
        layers.Hashing(num_bins=3, output_mode="tf_idf")
    with pytest.raises(ValueError, match="dtype"):
        layers.Hashing(num_bins=3, dtype="float32")
    with pytest.raises(ValueError, match="salt"):
        layers.Hashing(num_bins=3, salt="x")


def test_hashed_crossing():
    layer = layers.HashedCrossing(num_bins=50)
    a, b = np.array([1, 2, 3, 2], "int32"), np.array([4, 5, 6, 5], "int32")
    jitted = jax.jit(lambda x, y: layer.apply({}, {}, (x, y))[0])(a, b)
    np.testing.assert_array_equal(layer((a.astype(str), b)), jitted)  # host == jit
    assert jitted[1] == jitted[3] and jitted.shape == (4,)
    assert not np.array_equal(layer((a, b)), layer((b, a)))  # the order of features matters
    expected = [np.uint32(0)] * 4
    for i in range(4):  # the documented mixing
        h = 0x811C9DC5
        for v in (a[i], b[i]):
            h = _fmix32(((h ^ _fmix32(_fnv1a(str(v).encode()))) * 0x01000193) % 2 ** 32)
        expected[i] = h % 50
    np.testing.assert_array_equal(jitted, expected)
    out = layers.HashedCrossing(num_bins=50, output_mode="one_hot")((a[:, None], b[:, None]))
    np.testing.assert_array_equal(out, np.eye(50)[expected])
    with pytest.raises(ValueError, match="at least two"):
        layer((a,))
    with pytest.raises(ValueError, match="equal shape"):
        layer((a, b[:2]))
    with pytest.raises(ValueError, match="output_mode"):
        layers.HashedCrossing(num_bins=3, output_mode="count")


# ------------------------------------------------------------------------------ CategoryEncoding
@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count"])
@pytest.mark.parametrize("x", [np.array([[0, 1], [0, 0], [1, 2], [3, 1]]),
                               np.array([[0], [3], [2]]), np.array([1, 3, 3, 0]),
                               np.array([[0, 5, -1], [2, 2, 2]])],
                         ids=["2d", "col", "1d", "out_of_range"])
def test_category_encoding_matches_keras(mode, x):
    keras = require_keras()
    run_layer_test(layers.CategoryEncoding(num_tokens=4, output_mode=mode), jnp.asarray(x),
                   keras.layers.CategoryEncoding(num_tokens=4, output_mode=mode))


def test_category_encoding_count_weights_and_errors():
    keras = require_keras()
    x = np.array([[0, 1, 1], [2, 3, 0]])
    w = np.array([[0.5, 1.0, 2.0], [1.5, 0.25, 1.0]], "float32")
    ours = layers.CategoryEncoding(4, output_mode="count")(x, count_weights=w)
    theirs = keras.layers.CategoryEncoding(4, output_mode="count")(x, count_weights=w)
    np.testing.assert_allclose(ours, np.asarray(theirs), rtol=1e-6)
    with pytest.raises(ValueError, match="count_weights"):
        layers.CategoryEncoding(4, output_mode="one_hot")(x, count_weights=w)
    with pytest.raises(ValueError, match="num_tokens"):
        layers.CategoryEncoding()
    with pytest.raises(ValueError, match="num_tokens"):
        layers.CategoryEncoding(0)
    with pytest.raises(ValueError, match="output_mode"):
        layers.CategoryEncoding(3, output_mode="tf_idf")
    config = layers.CategoryEncoding(5, output_mode="count", name="enc").get_config()
    assert layers.CategoryEncoding.from_config(config).get_config() == config


# ------------------------------------------------------------------------------ a text pipeline
def test_text_classifier_pipeline_learns():
    rng = np.random.default_rng(0)
    filler = ["the", "movie", "was", "plot", "and", "actors", "really", "quite"]
    texts, labels = [], []
    for i in range(64):
        label = i % 2
        words = list(rng.choice(filler, size=4)) + [("great" if label else "awful")]
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + "!")
        labels.append(label)
    vectorizer = layers.TextVectorization(max_tokens=20, output_sequence_length=6)
    vectorizer.adapt(texts)
    x = vectorizer(texts)  # on the host, before fit
    y = np.array(labels, "float32")
    kerasx.utils.set_random_seed(1)
    model = kerasx.Sequential([layers.Embedding(vectorizer.vocabulary_size(), 8),
                               layers.GlobalAveragePooling1D(),
                               layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=kerasx.optimizers.Adam(0.05), loss="binary_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=25, batch_size=16, verbose=0)
    preds = model.predict(vectorizer(["Great acting", "awful plot, really"]), verbose=0)
    assert preds[0, 0] > 0.5 > preds[1, 0]
    assert model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"] == 1.0
