"""Image file helpers of `keras.utils` (load_img, img_to_array, array_to_img, save_img) on
Pillow, the optional "image" extra (`pip install kerasx[image]`)."""

import io
import pathlib
import warnings

import numpy as np

__all__ = ["array_to_img", "img_to_array", "load_img", "save_img"]


def pil_image(what):
    """Pillow's `PIL.Image` module, or an ImportError that names the extra to install."""
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(
            f"`{what}` needs Pillow, which is not installed. Install kerasx's optional "
            "\"image\" extra: `pip install kerasx[image]` (or `pip install pillow`).") from e
    return Image


def interpolation_method(Image, interpolation, what="interpolation"):
    resampling = getattr(Image, "Resampling", Image)
    methods = {"nearest": resampling.NEAREST, "bilinear": resampling.BILINEAR,
               "bicubic": resampling.BICUBIC, "hamming": resampling.HAMMING,
               "box": resampling.BOX, "lanczos": resampling.LANCZOS,
               "area": resampling.BOX, "lanczos3": resampling.LANCZOS,
               "lanczos5": resampling.LANCZOS}
    if interpolation not in methods:
        raise ValueError(f"Invalid interpolation method {interpolation} specified. Supported "
                         f"methods are {', '.join(methods)}")
    return methods[interpolation]


def _data_format(data_format):
    data_format = "channels_last" if data_format is None else str(data_format).lower()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', "
                         f"'channels_last'}}. Received: data_format={data_format}")
    return data_format


def array_to_img(x, data_format=None, scale=True, dtype=None):
    """Converts a 3D image array to a PIL Image.

    Args:
        x: Array of shape `(height, width, channels)` (or channels first), 1, 3 or 4
            channels.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        scale: Whether to rescale the values to `[0, 255]` (min to 0, max to 255).
        dtype: Dtype the array is read as (default float32).

    Returns:
        A PIL Image ("L", "I", "RGB" or "RGBA").
    """
    data_format = _data_format(data_format)
    Image = pil_image("array_to_img")
    x = np.asarray(x, dtype=dtype or "float32")
    if x.ndim != 3:
        raise ValueError("Expected image array to have rank 3 (single image). "
                         f"Got array with shape: {x.shape}")
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    channels = x.shape[2]
    if channels == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if channels == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if channels == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {channels}")


def img_to_array(img, data_format=None, dtype=None):
    """Converts a PIL Image (or any 2D/3D array-like) to a 3D NumPy array.

    Args:
        img: A PIL Image.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        dtype: Dtype of the result (default float32).

    Returns:
        An array of shape `(height, width, channels)` (or channels first).
    """
    data_format = _data_format(data_format)
    x = np.asarray(img, dtype=dtype or "float32")
    if x.ndim == 3:
        return x.transpose(2, 0, 1) if data_format == "channels_first" else x
    if x.ndim == 2:
        return x[None] if data_format == "channels_first" else x[:, :, None]
    raise ValueError(f"Unsupported image shape: {x.shape}")


def save_img(path, x, data_format=None, file_format=None, scale=True, **kwargs):
    """Saves an image stored as an array to a path or file object.

    Args:
        path: Path or file object.
        x: Image array (see `array_to_img`).
        data_format: `"channels_last"` (default) or `"channels_first"`.
        file_format: Image format ("png", "jpeg", ...); defaults to the path's suffix.
        scale: Whether to rescale the values to `[0, 255]`.
        **kwargs: Further arguments of `PIL.Image.save`.
    """
    data_format = _data_format(data_format)
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower()
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn("The JPEG format does not support RGBA images, converting to RGB.")
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest",
             keep_aspect_ratio=False):
    """Loads an image into PIL format.

    Args:
        path: Path of the image file (str, bytes or `pathlib.Path`) or an `io.BytesIO`.
        color_mode: `"grayscale"`, `"rgb"` or `"rgba"`.
        target_size: `(height, width)` to resize to, or `None` for the original size.
        interpolation: Resampling method when resizing: "nearest", "bilinear", "bicubic",
            "hamming", "box" or "lanczos".
        keep_aspect_ratio: Whether to crop the image's center to the target aspect ratio
            before resizing.

    Returns:
        A PIL Image.
    """
    Image = pil_image("load_img")
    if isinstance(path, io.BytesIO):
        img = Image.open(path)
    elif isinstance(path, (pathlib.Path, bytes, str)):
        with open(path, "rb") as f:
            img = Image.open(io.BytesIO(f.read()))
    else:
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode in ("rgba", "rgb"):
        if img.mode != color_mode.upper():
            img = img.convert(color_mode.upper())
    else:
        raise ValueError('color_mode must be "grayscale", "rgb", or "rgba". '
                         f"Received: color_mode={color_mode!r}")
    if target_size is not None:
        size = (int(target_size[1]), int(target_size[0]))
        if img.size != size:
            resample = interpolation_method(Image, interpolation)
            if keep_aspect_ratio:
                width, height = img.size
                crop_h = min(height, (width * size[1]) // size[0])
                crop_w = min(width, (height * size[0]) // size[1])
                top, left = (height - crop_h) // 2, (width - crop_w) // 2
                img = img.resize(size, resample, box=[left, top, left + crop_w, top + crop_h])
            else:
                img = img.resize(size, resample)
    return img
