"""`image_dataset_from_directory`, `text_dataset_from_directory` and
`audio_dataset_from_directory`: batches of files read from class subfolders.

Each returns a `DirectoryDataset`, a `PyDataset` (so `fit`, `evaluate` and `predict` accept
it, and `workers=` loads files in parallel) with Keras's attributes `class_names` and
`file_paths`. Files are listed, shuffled and split exactly as Keras lists them (the same
`file_paths` order for the same seed).
"""

import math
import os
import wave

import numpy as np

from ._image import interpolation_method, pil_image
from ..training.py_dataset import PyDataset

__all__ = ["DirectoryDataset", "audio_dataset_from_directory", "image_dataset_from_directory",
           "text_dataset_from_directory"]

IMAGE_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")


# ---------------------------------------------------------------------------- indexing
def _valid_files(directory, follow_links, formats):
    walk = os.walk(directory, followlinks=follow_links)
    for root, _, files in sorted(walk, key=lambda w: w[0]):
        for fname in sorted(files):
            if fname.lower().endswith(formats):
                yield root, fname


def index_directory(directory, labels, formats, class_names=None, shuffle=True, seed=None,
                    follow_links=False, verbose=True):
    """Lists the files of `directory` with their labels, in Keras's order.

    Returns:
        `(file_paths, labels, class_names)`: with `labels="inferred"`, one class per
        subfolder (alphanumerical order, or the order of `class_names`) and int32 labels;
        with a list of labels, those (matched to the sorted file paths); with `None`, no
        labels. With `shuffle`, files and labels are shuffled together by
        `np.random.RandomState(seed)`.
    """
    if not os.path.isdir(directory):
        raise ValueError(f"The directory {directory!r} does not exist or is not a folder.")
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError("The `class_names` passed did not match the names of the "
                                 f"subdirectories of the target directory. Expected: {subdirs} "
                                 f"(or a subset of it), but received: class_names={class_names}")
            subdirs = list(class_names)
    else:
        subdirs = [""]
        if class_names is not None:
            if labels is None:
                raise ValueError("When `labels=None` (no labels), argument `class_names` "
                                 "cannot be specified.")
            raise ValueError("When argument `labels` is specified, argument `class_names` "
                             "cannot be specified (the `class_names` will be the sorted list "
                             "of labels).")
    filenames, file_labels = [], []
    for index, subdir in enumerate(subdirs):
        folder = os.path.join(directory, subdir)
        dirname = os.path.basename(folder)
        for root, fname in _valid_files(folder, follow_links, formats):
            filenames.append(os.path.join(dirname, os.path.relpath(os.path.join(root, fname),
                                                                   folder)))
            file_labels.append(index)
    if labels == "inferred":
        labels = np.asarray(file_labels, dtype="int32")
        class_names = subdirs
    elif labels is None:
        class_names = None
    else:
        if len(labels) != len(filenames):
            raise ValueError("Expected the lengths of `labels` to match the number of files in "
                             f"the target directory. len(labels) is {len(labels)} while we "
                             f"found {len(filenames)} files in directory {directory}.")
        class_names = [str(label) for label in sorted(set(labels))]
    if verbose:
        if labels is None:
            print(f"Found {len(filenames)} files.")
        else:
            print(f"Found {len(filenames)} files belonging to {len(class_names)} classes.")
    file_paths = [os.path.join(directory, f) for f in filenames]
    if shuffle:
        if seed is None:
            seed = np.random.randint(1e6)
        np.random.RandomState(seed).shuffle(file_paths)
        if labels is not None:
            np.random.RandomState(seed).shuffle(labels)
    return file_paths, labels, class_names


def _check_split(validation_split, subset, shuffle, seed):
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: "
                         f"{validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError('`subset` must be either "training", "validation" or "both", '
                         f"received: {subset}")
    if validation_split and shuffle and seed is None:
        raise ValueError("If using `validation_split` and shuffling the data, you must provide "
                         "a `seed` argument, to make sure that there is no overlap between the "
                         "training and validation subset.")


def _split(samples, labels, validation_split, subset, verbose=True):
    if not validation_split:
        return samples, labels
    num_val = int(validation_split * len(samples))
    if subset == "training":
        if verbose:
            print(f"Using {len(samples) - num_val} files for training.")
        cut = slice(None, len(samples) - num_val)
    else:
        if verbose:
            print(f"Using {num_val} files for validation.")
        cut = slice(len(samples) - num_val, None)
    return samples[cut], None if labels is None else labels[cut]


def _check_labels(labels, label_mode, what):
    if labels not in ("inferred", None) and not isinstance(labels, (list, tuple, np.ndarray)):
        raise ValueError("`labels` argument should be a list/tuple of integer labels, of the "
                         "same size as the number of files in the target directory. If you "
                         "wish to infer the labels from the subdirectory names in the target "
                         f'directory, pass `labels="inferred"`. If you wish to get a dataset '
                         f"that only contains {what} (no labels), pass `labels=None`. "
                         f"Received: labels={labels!r:.100}")
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError('`label_mode` argument must be one of "int", "categorical", "binary", '
                         f"or None. Received: label_mode={label_mode}")
    if labels is None or label_mode is None:
        return None, None
    return labels, label_mode


def _check_positive(name, v):
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={v!r}")


class DirectoryDataset(PyDataset):
    """Batches of files loaded from a directory: `(inputs, labels)`, or `inputs` alone.

    A `PyDataset`: `len()` is the number of batches, iterating it yields batches, and
    `fit`/`evaluate`/`predict` accept it. With `shuffle`, the order of the files is shuffled
    again at the end of every epoch of `fit` (`on_epoch_end`), as Keras's datasets reshuffle
    at every pass.

    Attributes:
        class_names: The class names (the label `i` is `class_names[i]`), or `None`.
        file_paths: The paths of the files, in the order of the first pass.

    It stands for the tf.data.Dataset Keras returns: `fit(shuffle=True)` keeps its batch order
    (its own `shuffle` reorders the files).
    """

    _keeps_batch_order = True

    def __init__(self, file_paths, labels, class_names, label_mode, batch_size, load,
                 collate=None, shuffle=False, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.file_paths = list(file_paths)
        self.labels = None if labels is None else np.asarray(labels)
        self.class_names = class_names
        self.label_mode = label_mode
        self.batch_size = batch_size
        self._load = load
        self._collate = collate or np.stack
        self._shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        self._order = np.arange(len(self.file_paths))

    def __len__(self):
        if self.batch_size is None:
            return len(self.file_paths)
        return math.ceil(len(self.file_paths) / self.batch_size)

    def _encode(self, labels):
        if self.label_mode == "binary":
            return labels.astype("float32")[:, None]
        if self.label_mode == "categorical":
            out = np.zeros((len(labels), len(self.class_names)), "float32")
            out[np.arange(len(labels)), labels] = 1.0
            return out
        return labels.astype("int32")

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"Batch index {index} out of range for a dataset of {len(self)} "
                             "batches.")
        bs = self.batch_size or 1
        rows = self._order[index * bs:(index + 1) * bs]
        inputs = self._collate([self._load(self.file_paths[i]) for i in rows])
        labels = None if self.labels is None else self._encode(self.labels[rows])
        if self.batch_size is None:
            inputs, labels = inputs[0], None if labels is None else labels[0]
        return inputs if labels is None else (inputs, labels)

    def on_epoch_end(self):
        if self._shuffle:
            self._order = self._rng.permutation(len(self.file_paths))


def _from_directory(directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                    validation_split, subset, follow_links, verbose, formats, what, load,
                    collate=None):
    labels, label_mode = _check_labels(labels, label_mode, what)
    if batch_size is not None:
        _check_positive("batch_size", batch_size)
    if labels is None and class_names is not None:
        raise ValueError("When `labels=None` (no labels), argument `class_names` cannot be "
                         "specified.")
    _check_split(validation_split, subset, shuffle, seed)
    if seed is None:
        seed = np.random.randint(1e6)
    paths, file_labels, class_names = index_directory(
        directory, labels, formats, class_names=class_names, shuffle=shuffle, seed=seed,
        follow_links=follow_links, verbose=verbose)
    if label_mode == "binary" and len(class_names) != 2:
        raise ValueError('When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")
    if file_labels is not None:
        file_labels = np.asarray(file_labels)

    def make(subset_name):
        p, l = _split(paths, file_labels, validation_split, subset_name, verbose)
        if not p:
            raise ValueError(f"No {what} found in directory {directory}"
                             + (f" for the {subset_name} subset" if subset_name else "")
                             + f". Allowed formats: {formats}")
        return DirectoryDataset(p, l, class_names, label_mode, batch_size, load, collate,
                                shuffle=shuffle, seed=seed)

    if subset == "both":
        return [make("training"), make("validation")]
    return make(subset)


# ---------------------------------------------------------------------------- images
def _image_loader(image_size, num_channels, interpolation, crop_to_aspect_ratio,
                  pad_to_aspect_ratio, data_format):
    Image = pil_image("image_dataset_from_directory")
    resample = interpolation_method(Image, interpolation)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[num_channels]
    height, width = image_size

    def load(path):
        with Image.open(path) as img:
            img.seek(0)  # the first frame of an animated GIF
            img = img.convert(mode)
            w, h = img.size
            if crop_to_aspect_ratio:
                crop_h = max(min(h, int(w * height / width)), 1)
                crop_w = max(min(w, int(h * width / height)), 1)
                top, left = (h - crop_h) // 2, (w - crop_w) // 2
                img = img.resize((width, height), resample,
                                 box=(left, top, left + crop_w, top + crop_h))
                x = np.asarray(img, "float32")
            elif pad_to_aspect_ratio:
                pad_h = max(h, int(w * height / width))
                pad_w = max(w, int(h * width / height))
                canvas = np.zeros((pad_h, pad_w) + ((num_channels,) if num_channels > 1 else ()),
                                  np.uint8)
                top, left = (pad_h - h) // 2, (pad_w - w) // 2
                canvas[top:top + h, left:left + w] = np.asarray(img)
                img = Image.fromarray(canvas, mode).resize((width, height), resample)
                x = np.asarray(img, "float32")
            else:
                x = np.asarray(img.resize((width, height), resample) if (w, h) != (width, height)
                               else img, "float32")
        if x.ndim == 2:
            x = x[:, :, None]
        return x.transpose(2, 0, 1) if data_format == "channels_first" else x

    return load


def image_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, color_mode="rgb", batch_size=32,
                                 image_size=(256, 256), shuffle=True, seed=None,
                                 validation_split=None, subset=None, interpolation="bilinear",
                                 follow_links=False, crop_to_aspect_ratio=False,
                                 pad_to_aspect_ratio=False, data_format=None, format="tf",
                                 verbose=True):
    """Generates a dataset of image batches from the image files in a directory.

    With `labels="inferred"`, `directory` holds one subfolder per class
    (`main/class_a/*.jpg`, `main/class_b/*.png`); files in nested folders count too.
    Supported formats: .bmp, .gif (first frame), .jpeg, .jpg, .png. Images are decoded and
    resized with Pillow (the "image" extra).

    Args:
        directory: The folder of the data.
        labels: `"inferred"` (from the subfolder names), `None` (no labels), or a list/tuple
            of integer labels, one per file in the alphanumerical order of their paths.
        label_mode: `"int"` (int32 labels), `"categorical"` (one-hot float32), `"binary"`
            (float32 0/1 of shape `(batch, 1)`, exactly 2 classes) or `None` (no labels).
        class_names: With `labels="inferred"`, the subfolders to use, in label order.
        color_mode: `"grayscale"`, `"rgb"` or `"rgba"` (1, 3 or 4 channels).
        batch_size: Images per batch, or `None` for single images.
        image_size: `(height, width)` that every image is resized to.
        shuffle: Whether to shuffle the files (otherwise alphanumerical order).
        seed: Random seed for shuffling (required with `validation_split` and `shuffle`).
        validation_split: Fraction of the files reserved for validation, in `(0, 1)`.
        subset: `"training"`, `"validation"` or `"both"` (with `validation_split`).
        interpolation: Resampling method: "bilinear", "nearest", "bicubic", "area",
            "lanczos3", "lanczos5", "hamming", "box", "lanczos".
        follow_links: Whether to follow symbolic links to subfolders.
        crop_to_aspect_ratio: Whether to crop the images' centers to the target aspect ratio
            before resizing (no distortion).
        pad_to_aspect_ratio: Whether to pad the images with zeros to the target aspect ratio
            before resizing (no distortion).
        data_format: `"channels_last"` (default) or `"channels_first"`.
        format: Accepted for compatibility ("tf" or "grain"); the result is always a
            kerasx `DirectoryDataset`.
        verbose: Whether to print the number of files and classes found.

    Returns:
        A `DirectoryDataset` of `(images, labels)` batches (float32 images of shape
        `(batch, height, width, channels)` with values in `[0, 255]`), or of `images` when
        there are no labels; with `subset="both"`, a list `[train, validation]`.

    Raises:
        ValueError: for a bad argument, or a folder without images.
        ImportError: when Pillow is not installed.
    """
    if color_mode not in ("rgb", "rgba", "grayscale"):
        raise ValueError('`color_mode` must be one of {"rgb", "rgba", "grayscale"}. '
                         f"Received: color_mode={color_mode}")
    num_channels = {"rgb": 3, "rgba": 4, "grayscale": 1}[color_mode]
    if len(tuple(image_size)) != 2:
        raise ValueError(f"`image_size` must be a tuple (height, width). Received: "
                         f"image_size={image_size}")
    image_size = tuple(int(s) for s in image_size)
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError("Only one of `crop_to_aspect_ratio`, `pad_to_aspect_ratio` can be set "
                         "to `True`.")
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    data_format = "channels_last" if data_format is None else data_format
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"`data_format` must be 'channels_last' or 'channels_first'. "
                         f"Received: data_format={data_format}")
    load = _image_loader(image_size, num_channels, interpolation, crop_to_aspect_ratio,
                         pad_to_aspect_ratio, data_format)
    return _from_directory(directory, labels, label_mode, class_names, batch_size, shuffle,
                           seed, validation_split, subset, follow_links, verbose,
                           IMAGE_FORMATS, "images", load)


# ---------------------------------------------------------------------------- text
def text_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                class_names=None, batch_size=32, max_length=None,
                                shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, format="tf", verbose=True):
    """Generates a dataset of text batches from the `.txt` files in a directory.

    Args:
        directory: The folder of the data (one subfolder per class with
            `labels="inferred"`).
        labels: `"inferred"`, `None`, or a list/tuple of integer labels (one per file, in the
            alphanumerical order of the paths).
        label_mode: `"int"`, `"categorical"`, `"binary"` or `None`.
        class_names: With `labels="inferred"`, the subfolders to use, in label order.
        batch_size: Texts per batch, or `None` for single texts.
        max_length: Maximum length of a text in bytes (longer texts are truncated, as Keras
            does with `tf.strings.substr`), or `None`.
        shuffle: Whether to shuffle the files.
        seed: Random seed for shuffling.
        validation_split: Fraction of the files reserved for validation.
        subset: `"training"`, `"validation"` or `"both"`.
        follow_links: Whether to follow symbolic links to subfolders.
        format: Accepted for compatibility ("tf" or "grain").
        verbose: Whether to print the number of files and classes found.

    Returns:
        A `DirectoryDataset` of `(texts, labels)` batches, texts a NumPy array of Python
        strings (dtype object); or a list `[train, validation]` with `subset="both"`.
    """
    if max_length is not None:
        _check_positive("max_length", max_length)
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')

    def load(path):
        with open(path, "rb") as f:
            data = f.read()
        if max_length is not None:
            data = data[:max_length]
        return data.decode("utf-8", errors="replace")

    def collate(texts):
        out = np.empty(len(texts), dtype=object)
        out[:] = texts
        return out

    return _from_directory(directory, labels, label_mode, class_names, batch_size, shuffle,
                           seed, validation_split, subset, follow_links, verbose, (".txt",),
                           "text files", load, collate)


# ---------------------------------------------------------------------------- audio
def read_wav(path):
    """A WAV file as float32 `(samples, channels)` in `[-1, 1]`, and its sampling rate
    (8-, 16-, 24- and 32-bit PCM, with the standard library's `wave`)."""
    with wave.open(path, "rb") as f:
        channels, width, rate = f.getnchannels(), f.getsampwidth(), f.getframerate()
        frames = f.readframes(f.getnframes())
    raw = np.frombuffer(frames, np.uint8)
    if width == 1:
        x = (raw.astype(np.float32) - 128.0) / 128.0
    elif width in (2, 4):
        x = np.frombuffer(frames, f"<i{width}").astype(np.float32) / float(2 ** (8 * width - 1))
    elif width == 3:
        b = raw.reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        v = np.where(v >= 1 << 23, v - (1 << 24), v)
        x = v.astype(np.float32) / float(1 << 23)
    else:
        raise ValueError(f"Unsupported WAV sample width of {width} bytes in {path}.")
    return x.reshape(-1, channels), rate


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int",
                                 class_names=None, batch_size=32, sampling_rate=None,
                                 output_sequence_length=None, ragged=False, shuffle=True,
                                 seed=None, validation_split=None, subset=None,
                                 follow_links=False, verbose=True):
    """Generates a dataset of audio batches from the `.wav` files in a directory.

    Files are decoded with the standard library's `wave` module (PCM WAV).

    Args:
        directory: The folder of the data (one subfolder per class with
            `labels="inferred"`).
        labels: `"inferred"`, `None`, or a list/tuple of integer labels.
        label_mode: `"int"`, `"categorical"`, `"binary"` or `None`.
        class_names: With `labels="inferred"`, the subfolders to use, in label order.
        batch_size: Clips per batch, or `None` for single clips.
        sampling_rate: The expected sampling rate of the files; a file with another rate
            raises a ValueError (kerasx does not resample). `None` accepts any rate.
        output_sequence_length: Clips are cut or zero-padded to this many samples; by
            default, each batch is zero-padded to its longest clip.
        ragged: Not supported (must be False).
        shuffle: Whether to shuffle the files.
        seed: Random seed for shuffling.
        validation_split: Fraction of the files reserved for validation.
        subset: `"training"`, `"validation"` or `"both"`.
        follow_links: Whether to follow symbolic links to subfolders.
        verbose: Whether to print the number of files and classes found.

    Returns:
        A `DirectoryDataset` of `(audio, labels)` batches, float32 audio of shape
        `(batch, samples, channels)`; or `[train, validation]` with `subset="both"`.
    """
    if ragged:
        raise ValueError("`ragged=True` is not supported by kerasx: batches are dense arrays. "
                         "Pass `output_sequence_length`, or leave it None to pad each batch.")
    if output_sequence_length is not None:
        _check_positive("output_sequence_length", output_sequence_length)
    if sampling_rate is not None:
        _check_positive("sampling_rate", sampling_rate)

    def load(path):
        x, rate = read_wav(path)
        if sampling_rate is not None and rate != sampling_rate:
            raise ValueError(f"{path} has a sampling rate of {rate} Hz, but "
                             f"`sampling_rate={sampling_rate}` was passed; kerasx does not "
                             "resample audio.")
        if output_sequence_length is not None:
            x = x[:output_sequence_length]
        return x

    def collate(clips):
        length = output_sequence_length or max(len(c) for c in clips)
        channels = {c.shape[1] for c in clips}
        if len(channels) != 1:
            raise ValueError(f"The clips of one batch have different numbers of channels: "
                             f"{sorted(channels)}.")
        out = np.zeros((len(clips), length, channels.pop()), np.float32)
        for i, c in enumerate(clips):
            out[i, :len(c)] = c
        return out

    return _from_directory(directory, labels, label_mode, class_names, batch_size, shuffle,
                           seed, validation_split, subset, follow_links, verbose, (".wav",),
                           "audio files", load, collate)
