"""Tests for kerasx.utils' data helpers: pad_sequences, normalize, split_dataset,
timeseries_dataset_from_array, get_file, image files, *_dataset_from_directory, and the
small re-exports (Keras 3 is the oracle where it runs without TensorFlow)."""

import hashlib
import io
import os
import random
import tarfile
import urllib.error
import urllib.request
import wave
import zipfile

import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import utils
from keras_oracle import require_keras

RNG = np.random.default_rng(0)


# ---------------------------------------------------------------------------- pad_sequences
SEQS = [[1, 2, 3], [4, 5], [], [6, 7, 8, 9, 10]]


@pytest.mark.parametrize("kwargs", [
    {}, {"maxlen": 3}, {"maxlen": 6, "padding": "post"}, {"maxlen": 2, "truncating": "post"},
    {"padding": "post", "truncating": "post", "maxlen": 4, "value": -1.0},
    {"dtype": "float32", "value": 0.5},
])
def test_pad_sequences_matches_keras(kwargs):
    keras = require_keras()
    ours = utils.pad_sequences(SEQS, **kwargs)
    theirs = keras.utils.pad_sequences(SEQS, **kwargs)
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)


def test_pad_sequences_vectors_and_strings_match_keras():
    keras = require_keras()
    seqs = [RNG.normal(size=(n, 2)) for n in (3, 1, 4)]
    np.testing.assert_array_equal(utils.pad_sequences(seqs, maxlen=3, dtype="float32"),
                                  keras.utils.pad_sequences(seqs, maxlen=3, dtype="float32"))
    words = [["a", "b"], ["c"]]
    np.testing.assert_array_equal(utils.pad_sequences(words, dtype=object, value="<pad>"),
                                  keras.utils.pad_sequences(words, dtype=object, value="<pad>"))


def test_pad_sequences_errors():
    assert utils.pad_sequences(SEQS, maxlen=0).shape == (4, 0)  # (Keras fails on maxlen=0)
    with pytest.raises(ValueError, match="`sequences` must be iterable"):
        utils.pad_sequences(5)
    with pytest.raises(ValueError, match="list of iterables. Found non-iterable: 3"):
        utils.pad_sequences([[1], 3])
    with pytest.raises(ValueError, match='Padding type "middle" not understood'):
        utils.pad_sequences(SEQS, padding="middle")
    with pytest.raises(ValueError, match='Truncating type "x" not understood'):
        utils.pad_sequences(SEQS, truncating="x")
    with pytest.raises(ValueError, match="dtype=object"):
        utils.pad_sequences(SEQS, value="pad")
    with pytest.raises(ValueError, match=r"Shape of sample \(3,\) of sequence at position 1"):
        utils.pad_sequences([np.zeros((2, 2)), np.zeros((2, 3))])


# ---------------------------------------------------------------------------- normalize
def test_normalize_other_axes():
    x = RNG.normal(size=(4, 5))
    np.testing.assert_allclose(utils.normalize(x, 0), x / np.sqrt((x ** 2).sum(0)))
    np.testing.assert_allclose(utils.normalize(x, None, 1), x / np.abs(x).sum())


@pytest.mark.parametrize("axis, order", [(-1, 2), (1, 1), (-1, 3)])
def test_normalize_matches_keras(axis, order):
    keras = require_keras()
    x = RNG.normal(size=(4, 5)).astype("float32")
    x[1] = 0.0  # a zero row stays zero
    np.testing.assert_allclose(utils.normalize(x, axis, order),
                               keras.utils.normalize(x, axis, order), rtol=1e-6)
    # a JAX array goes through ops.normalize, as Keras's tensors go through ops.nn.normalize
    np.testing.assert_allclose(np.asarray(utils.normalize(jnp.asarray(x), axis, order)),
                               np.asarray(keras.utils.normalize(jnp.asarray(x), axis, order)),
                               rtol=1e-5, atol=1e-6)


def test_to_categorical_is_kept():
    np.testing.assert_array_equal(utils.to_categorical([1, 0], 2), [[0, 1], [1, 0]])


# ---------------------------------------------------------------------------- split_dataset
@pytest.mark.parametrize("left, right", [
    (0.8, None), (None, 0.25), (30, None), (None, 7), (0.5, 0.3), (10, 20), (0.333, None),
])
def test_split_dataset_sizes_match_keras(left, right):
    dataset_utils = require_keras("keras.src.utils.dataset_utils")
    n = 50
    expected = dataset_utils._rescale_dataset_split_sizes(left, right, n)
    a, b = utils.split_dataset(np.arange(n), left_size=left, right_size=right)
    assert (len(a), len(b)) == expected
    np.testing.assert_array_equal(a, np.arange(expected[0]))  # the first samples ...
    np.testing.assert_array_equal(b, np.arange(n - expected[1], n))  # ... and the last


def test_split_dataset_structures_and_shuffle():
    x, y = RNG.normal(size=(20, 3)), np.arange(20)
    (xl, yl), (xr, yr) = utils.split_dataset((x, y), left_size=0.75, shuffle=True, seed=7)
    # Keras: random.seed(seed); random.shuffle(the list of samples)
    order = list(range(20))
    random.seed(7)
    random.shuffle(order)
    np.testing.assert_array_equal(yl, order[:15])
    np.testing.assert_array_equal(yr, order[15:])
    np.testing.assert_array_equal(xl, x[order[:15]])
    left, right = utils.split_dataset([x, y], right_size=5)
    assert isinstance(left, list) and left[0].shape == (15, 3) and right[1].tolist() == [15, 16, 17, 18, 19]
    # As in Keras, a list is a list of arrays (features), not an array of rows.
    a, b = utils.split_dataset([[1, 2], [3, 4], [5, 6]], left_size=1)
    assert isinstance(a, list) and [v.tolist() for v in a] == [[1], [3], [5]]


def test_split_dataset_errors():
    with pytest.raises(ValueError, match="At least one of the `left_size` or `right_size`"):
        utils.split_dataset(np.arange(10))
    with pytest.raises(ValueError, match="`left_size` should be either a positive integer"):
        utils.split_dataset(np.arange(10), left_size=10)
    with pytest.raises(ValueError, match="greater than 1"):
        utils.split_dataset(np.arange(10), left_size=0.6, right_size=0.6)
    with pytest.raises(TypeError, match="Invalid `left_size` Type"):
        utils.split_dataset(np.arange(10), left_size="5")
    with pytest.raises(ValueError, match="same first dimension"):
        utils.split_dataset((np.arange(10), np.arange(9)), left_size=2)
    with pytest.raises(TypeError, match="`dataset` argument must be"):
        utils.split_dataset({"x": np.arange(3)}, left_size=1)


# ---------------------------------------------------------------------------- timeseries
def windows_by_hand(data, targets, length, stride, rate, start, end):
    """Window i: data[start + i*stride + j*rate], j < length; target targets[start + i*stride]."""
    out, tgt, i = [], [], 0
    while start + i * stride + (length - 1) * rate < end and \
            (targets is None or i * stride < len(targets)):
        first = start + i * stride
        out.append([data[first + j * rate] for j in range(length)])
        if targets is not None:
            tgt.append(targets[first])
        i += 1
    return np.array(out), np.array(tgt)


@pytest.mark.parametrize("length, stride, rate, batch, start, end", [
    (3, 1, 1, 4, None, None), (4, 2, 2, 3, 2, 18), (5, 3, 1, 128, 1, None), (2, 1, 3, 5, None, 12),
])
def test_timeseries_windows_match_the_definition(length, stride, rate, batch, start, end):
    data = np.arange(20 * 2).reshape(20, 2)
    targets = np.arange(100, 120)
    ds = utils.timeseries_dataset_from_array(data, targets, length, sequence_stride=stride,
                                             sampling_rate=rate, batch_size=batch,
                                             start_index=start, end_index=end)
    batches = list(ds)
    assert len(batches) == len(ds) and all(len(b[0]) <= batch for b in batches)
    windows = np.concatenate([b[0] for b in batches])
    tgts = np.concatenate([b[1] for b in batches])
    expected, expected_t = windows_by_hand(data, targets, length, stride, rate, start or 0,
                                           end or 20)
    np.testing.assert_array_equal(windows, expected)
    np.testing.assert_array_equal(tgts, expected_t)


def test_timeseries_shuffle_unbatched_no_targets_and_fit():
    data = np.arange(30, dtype="float32")
    ds = utils.timeseries_dataset_from_array(data, None, 4, batch_size=None, shuffle=True, seed=3)
    positions = np.arange(27)
    np.random.RandomState(3).shuffle(positions)  # Keras shuffles the start positions so
    got = np.stack(list(ds))
    assert got.shape == (27, 4)
    np.testing.assert_array_equal(got[:, 0], positions)
    np.testing.assert_array_equal(got, positions[:, None] + np.arange(4))
    # fit accepts it: targets shorter than the data cut the number of windows, as in Keras
    x = RNG.normal(size=(40, 3)).astype("float32")
    ds = utils.timeseries_dataset_from_array(x, x[5:, 0], 5, batch_size=8)
    model = kerasx.Sequential([kerasx.layers.Input((5, 3)), kerasx.layers.Flatten(),
                               kerasx.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(ds, epochs=2, verbose=0)
    assert len(ds) == 5 and len(history.history["loss"]) == 2


def test_fit_keeps_the_batch_order_of_a_timeseries_dataset_as_keras_does_a_tf_dataset():
    x = RNG.normal(size=(60, 3)).astype("float32")
    ds = utils.timeseries_dataset_from_array(x, x[5:, 0], 5, batch_size=8)
    weights = []
    for shuffle in (True, False):
        kerasx.utils.set_random_seed(0)
        model = kerasx.Sequential([kerasx.layers.Input((5, 3)), kerasx.layers.Flatten(),
                                   kerasx.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        model.fit(ds, epochs=3, shuffle=shuffle, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    # a PyDataset of the user's own is reordered by fit(shuffle=True), as in Keras
    class Batches(kerasx.utils.PyDataset):
        def __len__(self):
            return len(ds)

        def __getitem__(self, i):
            return ds[i]

    kerasx.utils.set_random_seed(0)
    model = kerasx.Sequential([kerasx.layers.Input((5, 3)), kerasx.layers.Flatten(),
                               kerasx.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(Batches(), epochs=3, verbose=0)
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), weights[0]))


def test_timeseries_errors():
    data = np.arange(10)
    with pytest.raises(ValueError, match="`sequence_length` must be a positive integer"):
        utils.timeseries_dataset_from_array(data, None, 0)
    with pytest.raises(ValueError, match="`start_index` must be lower than the length"):
        utils.timeseries_dataset_from_array(data, None, 2, start_index=10)
    with pytest.raises(ValueError, match="`end_index` must be higher than `start_index`"):
        utils.timeseries_dataset_from_array(data, None, 2, start_index=5, end_index=4)
    with pytest.raises(ValueError, match="`sampling_rate` must be a positive integer"):
        utils.timeseries_dataset_from_array(data, None, 2, sampling_rate=0)


# ---------------------------------------------------------------------------- get_file
@pytest.fixture
def served(tmp_path, monkeypatch):
    """urlopen answers from a dict of payloads; KERASX_HOME is a fresh folder."""
    payloads, requests = {}, []
    monkeypatch.setenv("KERASX_HOME", str(tmp_path / "home"))

    def fake_urlopen(url, timeout=None):
        requests.append(url)
        if url not in payloads:
            raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")
        return io.BytesIO(payloads[url])

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return payloads, requests, tmp_path / "home"


def test_get_file_downloads_checks_and_caches(served, capsys):
    payloads, requests, home = served
    payloads["https://example.com/data/a.bin"] = b"hello"
    sha, md5 = hashlib.sha256(b"hello").hexdigest(), hashlib.md5(b"hello").hexdigest()
    path = utils.get_file(origin="https://example.com/data/a.bin", file_hash=sha)
    assert path == str(home / "datasets" / "a.bin") and open(path, "rb").read() == b"hello"
    assert utils.get_file("a.bin", "https://example.com/data/a.bin", file_hash=sha) == path
    assert utils.get_file("a.bin", "https://example.com/data/a.bin", md5_hash=md5) == path
    assert len(requests) == 1  # served from the cache
    utils.get_file("a.bin", "https://example.com/data/a.bin", force_download=True,
                   cache_subdir="other", cache_dir=str(home / "elsewhere"))
    assert len(requests) == 2 and (home / "elsewhere" / "other" / "a.bin").exists()
    with open(path, "wb") as f:
        f.write(b"stale")
    utils.get_file("a.bin", "https://example.com/data/a.bin", file_hash=sha)  # re-downloads
    assert len(requests) == 3 and open(path, "rb").read() == b"hello"
    assert "re-download" in capsys.readouterr().out


def test_get_file_hash_mismatch_and_offline(served):
    payloads, _, home = served
    payloads["https://example.com/b.bin"] = b"data"
    with pytest.raises(ValueError, match=r"expected SHA-256 0{64}, received [0-9a-f]{64}"):
        utils.get_file("b.bin", "https://example.com/b.bin", file_hash="0" * 64)
    with pytest.raises(ValueError, match="expected MD5 0{32}"):
        utils.get_file("b.bin", "https://example.com/b.bin", file_hash="0" * 32)
    assert os.listdir(home / "datasets") == []  # nothing left behind
    with pytest.raises(ConnectionError, match=r"offline.*copy it to .*c\.bin"):
        utils.get_file("c.bin", "https://example.com/c.bin")
    with pytest.raises(ValueError, match='specify the "origin"'):
        utils.get_file("x.bin")
    with pytest.raises(ValueError, match="Paths are no longer accepted"):
        utils.get_file(os.path.join("sub", "x.bin"), "https://example.com/x.bin")


def test_get_file_extracts_tar_and_zip(served):
    payloads, _, home = served
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:gz") as tar:
        info = tarfile.TarInfo("folder/inner.txt")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    payloads["https://example.com/arch.tar.gz"] = tar_bytes.getvalue()
    zip_bytes = io.BytesIO()
    with zipfile.ZipFile(zip_bytes, "w") as z:
        z.writestr("z/inner.txt", "zz")
    payloads["https://example.com/z.zip"] = zip_bytes.getvalue()
    # Keras's naming: "name.ext" extracts into "name_extracted"; a name without a dot is
    # the folder itself and the archive is "name_archive".
    out = utils.get_file("arch.tar.gz", "https://example.com/arch.tar.gz", extract=True)
    assert out == str(home / "datasets" / "arch_extracted")
    assert open(os.path.join(out, "folder", "inner.txt")).read() == "hi"
    out = utils.get_file("zfolder", "https://example.com/z.zip", extract=True)
    assert out == str(home / "datasets" / "zfolder")
    assert (home / "datasets" / "zfolder_archive").exists()
    assert open(os.path.join(out, "z", "inner.txt")).read() == "zz"
    with pytest.raises(ValueError, match="Could not extract"):
        payloads["https://example.com/plain"] = b"not an archive"
        utils.get_file("plain", "https://example.com/plain", extract=True)


# ---------------------------------------------------------------------------- images
def test_image_helpers_match_keras(tmp_path):
    keras = require_keras()
    x = RNG.uniform(0, 255, size=(6, 8, 3)).astype("float32")
    for kwargs in ({}, {"scale": False}, {"data_format": "channels_first"}):
        arr = x.transpose(2, 0, 1) if kwargs.get("data_format") else x
        np.testing.assert_array_equal(np.asarray(utils.array_to_img(arr, **kwargs)),
                                      np.asarray(keras.utils.array_to_img(arr, **kwargs)))
    img = keras.utils.array_to_img(x, scale=False)
    for kwargs in ({}, {"data_format": "channels_first"}, {"dtype": "uint8"}):
        np.testing.assert_array_equal(utils.img_to_array(img, **kwargs),
                                      keras.utils.img_to_array(img, **kwargs))
    utils.save_img(str(tmp_path / "ours.png"), x)
    keras.utils.save_img(str(tmp_path / "theirs.png"), x)
    for kwargs in ({}, {"color_mode": "grayscale"}, {"color_mode": "rgba"},
                   {"target_size": (3, 5), "interpolation": "bilinear"},
                   {"target_size": (4, 4), "keep_aspect_ratio": True}):
        ours = np.asarray(utils.load_img(tmp_path / "ours.png", **kwargs))
        theirs = np.asarray(keras.utils.load_img(str(tmp_path / "theirs.png"), **kwargs))
        np.testing.assert_array_equal(ours, theirs)
    gray = utils.img_to_array(utils.load_img(tmp_path / "ours.png", color_mode="grayscale"))
    assert gray.shape == (6, 8, 1)


def test_image_helper_errors(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="rank 3"):
        utils.array_to_img(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="Unsupported channel number: 2"):
        utils.array_to_img(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="Unsupported image shape"):
        utils.img_to_array(np.zeros((2, 2, 2, 2)))
    with pytest.raises(TypeError, match="path should be path-like"):
        utils.load_img(3)
    utils.save_img(str(tmp_path / "a.png"), np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="color_mode must be"):
        utils.load_img(str(tmp_path / "a.png"), color_mode="cmyk")
    with pytest.raises(ValueError, match="Invalid interpolation method cubic"):
        utils.load_img(str(tmp_path / "a.png"), target_size=(3, 3), interpolation="cubic")
    import sys
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    with pytest.raises(ImportError, match=r"Pillow.*kerasx\[image\]"):
        utils.load_img(str(tmp_path / "a.png"))


# ---------------------------------------------------------------------------- from directory
COLORS = {"cats": (255, 0, 0), "dogs": (0, 255, 0), "fish": (0, 0, 255)}


@pytest.fixture
def image_dir(tmp_path):
    from PIL import Image
    root = tmp_path / "images"
    k = 0
    for name, color in COLORS.items():
        (root / name / "nested").mkdir(parents=True)
        for i in range(3):
            sub = root / name / ("nested" if i == 2 else "")
            size = (6 + i, 4 + k % 3)  # (width, height): sizes differ
            Image.new("RGB", size, color).save(sub / f"img{i}.{'png' if i else 'jpg'}")
            k += 1
    (root / "cats" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    return root


def test_image_dataset_lists_files_as_keras(image_dir):
    dataset_utils = require_keras("keras.src.utils.dataset_utils")
    for shuffle, seed in ((False, None), (True, 42)):
        ds = utils.image_dataset_from_directory(image_dir, batch_size=4, image_size=(5, 7),
                                                shuffle=shuffle, seed=seed, verbose=False)
        paths, labels, names = dataset_utils.index_directory(
            str(image_dir), "inferred", formats=(".bmp", ".gif", ".jpeg", ".jpg", ".png"),
            shuffle=shuffle, seed=seed, verbose=False)
        assert ds.file_paths == paths and ds.class_names == names == ["cats", "dogs", "fish"]
        np.testing.assert_array_equal(ds.labels, labels)
    assert len(ds) == 3
    x, y = ds[0]
    assert x.shape == (4, 5, 7, 3) and x.dtype == np.float32 and y.dtype == np.int32
    for img, label in zip(x, y):  # every pixel has its class's color
        np.testing.assert_allclose(img, np.broadcast_to(COLORS[ds.class_names[label]], img.shape),
                                   atol=1)


def test_image_dataset_options(image_dir):
    ds = utils.image_dataset_from_directory(
        image_dir, label_mode="categorical", color_mode="grayscale", batch_size=None,
        image_size=(4, 4), shuffle=False, class_names=["fish", "cats"], verbose=False,
        crop_to_aspect_ratio=True)
    x, y = ds[0]
    assert x.shape == (4, 4, 1) and y.tolist() == [1.0, 0.0] and len(ds) == 6
    train, val = utils.image_dataset_from_directory(
        image_dir, validation_split=0.34, subset="both", seed=1, batch_size=2, image_size=(3, 3),
        verbose=False)
    assert len(train.file_paths) == 6 and len(val.file_paths) == 3
    assert not set(train.file_paths) & set(val.file_paths)
    ds = utils.image_dataset_from_directory(image_dir, labels=None, batch_size=9,
                                            image_size=(3, 3), pad_to_aspect_ratio=True,
                                            verbose=False, seed=0)
    assert ds.class_names is None and ds[0].shape == (9, 3, 3, 3)
    binary = utils.image_dataset_from_directory(image_dir, label_mode="binary",
                                                class_names=["cats", "dogs"], batch_size=6,
                                                image_size=(3, 3), seed=0, verbose=False)
    assert binary[0][1].shape == (6, 1) and binary[0][1].dtype == np.float32
    # fit accepts the dataset as it is
    ds = utils.image_dataset_from_directory(image_dir, batch_size=4, image_size=(4, 4), seed=0,
                                            verbose=False)
    model = kerasx.Sequential([kerasx.layers.Input((4, 4, 3)), kerasx.layers.Flatten(),
                               kerasx.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert len(model.fit(ds, epochs=2, verbose=0).history["loss"]) == 2


def test_image_dataset_errors(image_dir, tmp_path):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="No images found in directory"):
        utils.image_dataset_from_directory(tmp_path / "empty", verbose=False)
    with pytest.raises(ValueError, match="does not exist"):
        utils.image_dataset_from_directory(tmp_path / "nowhere", verbose=False)
    with pytest.raises(ValueError, match='label_mode="binary"`, there must be exactly 2'):
        utils.image_dataset_from_directory(image_dir, label_mode="binary", verbose=False)
    with pytest.raises(ValueError, match="you must provide a `seed`"):
        utils.image_dataset_from_directory(image_dir, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match="`validation_split` must be set"):
        utils.image_dataset_from_directory(image_dir, subset="training", seed=1)
    with pytest.raises(ValueError, match="did not match the names of the subdirectories"):
        utils.image_dataset_from_directory(image_dir, class_names=["cats", "cows"])
    with pytest.raises(ValueError, match="`color_mode` must be one of"):
        utils.image_dataset_from_directory(image_dir, color_mode="cmyk")
    with pytest.raises(ValueError, match="`label_mode` argument must be one of"):
        utils.image_dataset_from_directory(image_dir, label_mode="sparse")
    with pytest.raises(ValueError, match="Expected the lengths of `labels` to match"):
        utils.image_dataset_from_directory(image_dir, labels=[0, 1], verbose=False)


def test_text_dataset_from_directory(tmp_path):
    for label, texts in (("neg", ["bad", "awful movie"]), ("pos", ["good", "great fun", "ok"])):
        (tmp_path / label).mkdir()
        for i, t in enumerate(texts):
            (tmp_path / label / f"{i}.txt").write_text(t)
    ds = utils.text_dataset_from_directory(tmp_path, batch_size=8, shuffle=False, max_length=5,
                                           verbose=False)
    texts, labels = ds[0]
    assert texts.tolist() == ["bad", "awful", "good", "great", "ok"]
    assert labels.tolist() == [0, 0, 1, 1, 1] and ds.class_names == ["neg", "pos"]
    ds = utils.text_dataset_from_directory(tmp_path, labels=[1, 0, 1, 0, 1], shuffle=False,
                                           label_mode="binary", verbose=False)
    assert ds[0][1][:, 0].tolist() == [1, 0, 1, 0, 1] and ds.class_names == ["0", "1"]
    with pytest.raises(ValueError, match="`max_length` must be a positive integer"):
        utils.text_dataset_from_directory(tmp_path, max_length=0)
    # With shuffle, every epoch of fit (on_epoch_end) visits the files in a new order.
    ds = utils.text_dataset_from_directory(tmp_path, batch_size=5, seed=3, verbose=False)
    first = ds[0][0].tolist()
    orders = []
    for _ in range(4):
        ds.on_epoch_end()
        orders.append(ds[0][0].tolist())
    assert all(sorted(o) == sorted(first) for o in orders) and any(o != first for o in orders)
    ds = utils.text_dataset_from_directory(tmp_path, batch_size=5, shuffle=False, verbose=False)
    ds.on_epoch_end()
    assert ds[0][0].tolist() == ["bad", "awful movie", "good", "great fun", "ok"]


def write_wav(path, samples, rate=16000, width=2):
    with wave.open(str(path), "wb") as f:
        f.setnchannels(samples.shape[1])
        f.setsampwidth(width)
        f.setframerate(rate)
        f.writeframes((samples * 2 ** (8 * width - 1)).astype(f"<i{width}").tobytes())


def test_audio_dataset_from_directory(tmp_path):
    clips = {("yes", 0): np.full((5, 1), 0.5), ("yes", 1): np.full((3, 1), -0.25),
             ("no", 0): np.full((4, 1), 0.125)}
    for (label, i), samples in clips.items():
        (tmp_path / label).mkdir(exist_ok=True)
        write_wav(tmp_path / label / f"{i}.wav", samples)
    ds = utils.audio_dataset_from_directory(tmp_path, batch_size=3, shuffle=False, verbose=False)
    audio, labels = ds[0]
    assert audio.shape == (3, 5, 1) and audio.dtype == np.float32 and labels.tolist() == [0, 1, 1]
    np.testing.assert_allclose(audio[:, :, 0], [[0.125] * 4 + [0], [0.5] * 5, [-0.25] * 3 + [0, 0]])
    ds = utils.audio_dataset_from_directory(tmp_path, batch_size=2, output_sequence_length=4,
                                            shuffle=False, verbose=False)
    assert ds[0][0].shape == (2, 4, 1) and ds[1][0].shape == (1, 4, 1)
    with pytest.raises(ValueError, match="has a sampling rate of 16000 Hz"):
        utils.audio_dataset_from_directory(tmp_path, sampling_rate=8000, verbose=False)[0]
    with pytest.raises(ValueError, match="`ragged=True` is not supported"):
        utils.audio_dataset_from_directory(tmp_path, ragged=True)


# ---------------------------------------------------------------------------- small re-exports
def test_reexports_are_kerasx_objects():
    assert utils.Progbar is kerasx.callbacks.Progbar
    assert utils.serialize_keras_object is kerasx.saving.serialize_keras_object
    assert utils.deserialize_keras_object is kerasx.saving.deserialize_keras_object
    assert utils.get_registered_name is kerasx.saving.get_registered_name
    assert utils.register_keras_serializable is kerasx.saving.register_keras_serializable
    assert utils.custom_object_scope is utils.CustomObjectScope


def test_custom_object_scope_lets_deserialize_find_the_class():
    class Twice(kerasx.layers.Layer):
        def apply(self, params, state, x, *, training=False, rng=None):
            return 2 * x, state

    config = kerasx.saving.serialize_keras_object(Twice(name="t"))
    with pytest.raises(Exception, match="Twice"):
        kerasx.saving.deserialize_keras_object(config)
    before = dict(utils.get_custom_objects())
    with utils.custom_object_scope({"Twice": Twice}):
        layer = kerasx.saving.deserialize_keras_object(config)
    assert isinstance(layer, Twice) and layer.name == "t"
    assert utils.get_custom_objects() == before  # restored
    with pytest.raises(TypeError, match="dictionaries"):
        utils.custom_object_scope(["Twice"])


def test_symbolic_helpers():
    a, b = kerasx.Input((3,), name="a"), kerasx.Input((3,), name="b")
    h = kerasx.layers.Dense(2)(a)
    out = kerasx.layers.Add()([h, kerasx.layers.Dense(2)(b)])
    assert utils.is_keras_tensor(out) and not utils.is_keras_tensor(np.zeros(3))
    assert utils.get_source_inputs(out) == [a, b]
    assert utils.get_source_inputs(a) == [a]
    assert utils.get_source_inputs(h) == [a]


def test_standardize_dtype_matches_keras():
    keras = require_keras()
    for dtype in ("float32", np.int32, "bfloat16", jnp.float16, "bool", int, float):
        assert utils.standardize_dtype(dtype) == keras.utils.standardize_dtype(dtype)


def test_clear_session_and_interactive_logging(caplog, capsys):
    utils.clear_session()
    assert utils.is_interactive_logging_enabled()
    from kerasx.utils._misc import print_msg
    try:
        utils.disable_interactive_logging()
        assert not utils.is_interactive_logging_enabled()
        with caplog.at_level("INFO", logger="kerasx"):
            print_msg("to the log")
        assert "to the log" in caplog.text and capsys.readouterr().out == ""
    finally:
        utils.enable_interactive_logging()
    print_msg("to stdout")
    assert capsys.readouterr().out == "to stdout\n"


def test_config_behaves_as_keras():
    keras = require_keras()
    for cls in (utils.Config, keras.utils.Config):
        c = cls(lr=0.1, momentum=0.9)
        c.nesterov = True
        c["decay"] = 0.0
        assert (c.lr, c["nesterov"], len(c), list(c)) == (0.1, True, 4,
                                                          ["decay", "lr", "momentum", "nesterov"])
        assert c.as_dict() == {"lr": 0.1, "momentum": 0.9, "nesterov": True, "decay": 0.0}
        assert "lr" in c and c.get("nope", 3) == 3 and c.to_json().startswith('{"lr": 0.1')
        with pytest.raises(AttributeError, match="Unknown attribute: 'momentun'. Did you mean "
                                                 "'momentum'"):
            c.momentun
        c.freeze()
        assert c.frozen
        with pytest.raises(ValueError, match="config is frozen"):
            c.lr = 1.0
        with pytest.raises(ValueError, match="config is frozen"):
            del c["lr"]
        c.unfreeze()
        assert c.pop("lr") == 0.1


# ---------------------------------------------------------------------------- plot_model
def test_plot_model_writes_the_layer_graph(tmp_path, monkeypatch):
    a, b = kerasx.Input((3,), name="a"), kerasx.Input((3,), name="b")
    h = kerasx.layers.Dense(2, activation="relu", name="d1")(a)
    out = kerasx.layers.Add(name="sum")([h, kerasx.layers.Dense(2, name="d2")(b)])
    model = kerasx.Model([a, b], out)
    path = tmp_path / "model.dot"
    assert utils.plot_model(model, str(path), show_shapes=True, show_layer_activations=True,
                            show_trainable=True, rankdir="LR") is None
    dot = path.read_text()
    assert dot.startswith('digraph "') and "rankdir=LR" in dot
    labels = {line.split()[0]: line for line in dot.splitlines() if "[label=" in line}
    assert len(labels) == 5
    by_name = {name: next(k for k, v in labels.items() if f"{{{name} (" in v)
               for name in ("a", "b", "d1", "d2", "sum")}
    for src, dst in (("a", "d1"), ("b", "d2"), ("d1", "sum"), ("d2", "sum")):
        assert f"{by_name[src]} -> {by_name[dst]};" in dot
    assert dot.count("->") == 4
    assert "Activation: relu" in labels[by_name["d1"]]
    assert "Input shape: [(None, 2), (None, 2)]|Output shape: (None, 2)" in labels[by_name["sum"]]
    monkeypatch.setattr("shutil.which", lambda name: None)  # no Graphviz installed
    with pytest.raises(ImportError, match="install graphviz"):
        utils.plot_model(model, str(tmp_path / "model.png"))
    monkeypatch.setitem(__import__("sys").modules, "pydot", None)
    with pytest.raises(ImportError, match=r"install pydot \(`pip install pydot`\)"):
        utils.model_to_dot(model)
    with pytest.raises(ValueError, match="has not yet been built"):
        utils.plot_model(kerasx.Sequential([kerasx.layers.Dense(2)]), str(path))
    with pytest.raises(ValueError, match="`rankdir` must be 'TB'"):
        utils.plot_model(model, str(path), rankdir="BT")
