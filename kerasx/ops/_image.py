"""Image ops (`keras.ops.image`): colour conversions, resizing, geometric transforms,
patches, filters, SSIM. Images are 3D (one image) or 4D (a batch), "channels_last" by default.
"""

import jax
import jax.numpy as jnp
import numpy as np

from .. import random as _random
from ._core import _tensor
from ._core import keras_op
from ._core import result_type
from ._nn import _data_format
from ._nn import _padding
from ._nn import _tuple

_INTERPOLATION_ORDER = {"nearest": 0, "bilinear": 1}
_FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")
_RESIZE_METHODS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic")
_SCALE_METHODS = ("linear", "bilinear", "trilinear", "cubic", "bicubic", "tricubic",
                  "lanczos3", "lanczos5")


def _image_op(fn):
    return keras_op(fn, name=f"ops.image.{fn.__name__}")


def _images(opname, images, arg="images", ranks=(3, 4)):
    images = _tensor(images)
    if images.ndim not in ranks:
        raise ValueError(f"{opname}: `{arg}` must have rank 3 (one image) or 4 (a batch). "
                         f"Received: {arg}.shape={images.shape}")
    return images


def _to_nhwc(images, data_format):
    """A 4D channels_last batch, plus a function that undoes the conversion."""
    single = images.ndim == 3
    x = images[None] if single else images
    if data_format == "channels_first":
        x = jnp.transpose(x, (0, 2, 3, 1))

    def back(y):
        if data_format == "channels_first":
            y = jnp.transpose(y, (0, 3, 1, 2))
        return y[0] if single else y

    return x, back


def _choice(opname, value, options, arg):
    if value not in options:
        raise ValueError(f"{opname}: `{arg}` must be one of {tuple(options)}. "
                         f"Received: {arg}={value!r}")
    return value


# ---------------------------------------------------------------------------- colour
@_image_op
def rgb_to_grayscale(images, data_format=None):
    """RGB images to one-channel grayscale (weights 0.2989, 0.5870, 0.1140)."""
    opname = "ops.image.rgb_to_grayscale"
    images = _images(opname, images)
    axis = -1 if _data_format(opname, data_format) == "channels_last" else -3
    if images.shape[axis] not in (1, 3):
        raise ValueError(f"{opname}: images must have 1 or 3 channels. "
                         f"Received: images.shape={images.shape}")
    if images.shape[axis] == 1:
        return images
    dtype = images.dtype
    x = images.astype(result_type(dtype, float))
    weights = jnp.asarray([0.2989, 0.5870, 0.1140], x.dtype)
    gray = jnp.tensordot(x, weights, axes=((axis % x.ndim,), (0,)))
    return jnp.expand_dims(gray, axis).astype(dtype)


def _split_channels(images, axis):
    return [jnp.take(images, i, axis=axis) for i in range(3)]


@_image_op
def rgb_to_hsv(images, data_format=None):
    """RGB images (floats in [0, 1]) to HSV (hue, saturation, value in [0, 1])."""
    opname = "ops.image.rgb_to_hsv"
    images = _images(opname, images)
    axis = -1 if _data_format(opname, data_format) == "channels_last" else -3
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise ValueError(f"{opname}: `images` must have a float dtype. "
                         f"Received: images.dtype={images.dtype}")
    eps = jnp.finfo(images.dtype).eps
    images = jnp.where(jnp.abs(images) < eps, jnp.zeros_like(images), images)
    r, g, b = _split_channels(images, axis)
    value = jnp.maximum(jnp.maximum(r, g), b)
    spread = value - jnp.minimum(jnp.minimum(r, g), b)
    saturation = jnp.where(value > 0, spread / jnp.where(value > 0, value, 1.0), 0.0)
    scale = 1.0 / (6.0 * jnp.where(spread > 0, spread, 1.0))
    hue = jnp.where(value == r, scale * (g - b),
                    jnp.where(value == g, scale * (b - r) + 1.0 / 3.0,
                              scale * (r - g) + 2.0 / 3.0))
    hue = jnp.where(spread > 0, hue, 0.0)
    hue = jnp.where(hue < 0, hue + 1.0, hue)
    return jnp.stack([hue, saturation, value], axis=axis).astype(images.dtype)


@_image_op
def hsv_to_rgb(images, data_format=None):
    """HSV images (floats in [0, 1]) to RGB."""
    opname = "ops.image.hsv_to_rgb"
    images = _images(opname, images)
    axis = -1 if _data_format(opname, data_format) == "channels_last" else -3
    if not jnp.issubdtype(images.dtype, jnp.floating):
        raise ValueError(f"{opname}: `images` must have a float dtype. "
                         f"Received: images.dtype={images.dtype}")
    h, s, v = _split_channels(images, axis)
    sector = jnp.mod(h, 1.0) * 6.0
    r = jnp.clip(jnp.abs(sector - 3.0) - 1.0, 0.0, 1.0)
    g = jnp.clip(2.0 - jnp.abs(sector - 2.0), 0.0, 1.0)
    b = jnp.clip(2.0 - jnp.abs(sector - 4.0), 0.0, 1.0)
    rgb = [v * (1.0 - s + s * c) for c in (r, g, b)]
    return jnp.stack(rgb, axis=axis).astype(images.dtype)


# ---------------------------------------------------------------------------- resizing
@_image_op
def resize(images, size, interpolation="bilinear", antialias=False,
           crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, fill_mode="constant",
           fill_value=0.0, data_format=None):
    """Resizes images to `size = (height, width)`.

    Args:
        interpolation: "bilinear", "nearest", "bicubic", "lanczos3" or "lanczos5".
        antialias: low-pass filter when downsampling.
        crop_to_aspect_ratio: centre-crop to the target aspect ratio first.
        pad_to_aspect_ratio: pad (with `fill_value`) to the target aspect ratio first.
    """
    opname = "ops.image.resize"
    images = _images(opname, images)
    data_format = _data_format(opname, data_format)
    _choice(opname, interpolation, _RESIZE_METHODS, "interpolation")
    if fill_mode != "constant":
        raise ValueError(f"{opname}: only fill_mode='constant' is supported. "
                         f"Received: fill_mode={fill_mode!r}")
    if crop_to_aspect_ratio and pad_to_aspect_ratio:
        raise ValueError(f"{opname}: pass at most one of `crop_to_aspect_ratio` and "
                         "`pad_to_aspect_ratio`.")
    if len(size) != 2:
        raise ValueError(f"{opname}: `size` must be (height, width). Received: size={size}")
    th, tw = int(size[0]), int(size[1])
    x, back = _to_nhwc(images, data_format)
    _, h, w, _ = x.shape
    if crop_to_aspect_ratio:
        ch = max(min(h, int(w * th / tw)), 1)
        cw = max(min(w, int(h * tw / th)), 1)
        top, left = int((h - ch) / 2), int((w - cw) / 2)
        x = x[:, top:top + ch, left:left + cw, :]
    elif pad_to_aspect_ratio:
        ph = max(h, int(w * th / tw))
        pw = max(w, int(h * tw / th))
        top, left = int((ph - h) / 2), int((pw - w) / 2)
        if top > 0:
            x = jnp.pad(x, ((0, 0), (top, top), (0, 0), (0, 0)), constant_values=fill_value)
        elif left > 0:
            x = jnp.pad(x, ((0, 0), (0, 0), (left, left), (0, 0)), constant_values=fill_value)
    out = jax.image.resize(x, (x.shape[0], th, tw, x.shape[3]), method=interpolation,
                           antialias=antialias)
    return back(out)


@_image_op
def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method,
                        antialias=True):
    """Scales and translates `images` over `spatial_dims` (as `jax.image.scale_and_translate`)."""
    _choice("ops.image.scale_and_translate", method, _SCALE_METHODS, "method")
    return jax.image.scale_and_translate(_tensor(images), tuple(output_shape),
                                         tuple(spatial_dims), _tensor(scale),
                                         _tensor(translation), method, antialias)


# ---------------------------------------------------------------------------- padding, cropping
def _resolve_box(opname, size, before, after, target, names):
    given = [before, after, target]
    if given.count(None) != 1:
        raise ValueError(f"{opname}: give exactly two of `{names[0]}`, `{names[1]}`, "
                         f"`{names[2]}`. Received: {names[0]}={before}, {names[1]}={after}, "
                         f"{names[2]}={target}")
    for name, v in zip(names, given):
        if v is not None and v < 0:
            raise ValueError(f"{opname}: `{name}` must be >= 0. Received: {name}={v}")
    return before, after, target


@_image_op
def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None,
               right_padding=None, target_height=None, target_width=None, data_format=None):
    """Zero-pads images; give two of (top, bottom, target_height) and of (left, right,
    target_width)."""
    opname = "ops.image.pad_images"
    images = _images(opname, images)
    data_format = _data_format(opname, data_format)
    top, bottom, th = _resolve_box(opname, None, top_padding, bottom_padding, target_height,
                                   ("top_padding", "bottom_padding", "target_height"))
    left, right, tw = _resolve_box(opname, None, left_padding, right_padding, target_width,
                                   ("left_padding", "right_padding", "target_width"))
    x, back = _to_nhwc(images, data_format)
    h, w = x.shape[1], x.shape[2]
    top = th - bottom - h if top is None else top
    bottom = th - top - h if bottom is None else bottom
    left = tw - right - w if left is None else left
    right = tw - left - w if right is None else right
    for name, v in (("top_padding", top), ("bottom_padding", bottom),
                    ("left_padding", left), ("right_padding", right)):
        if v < 0:
            raise ValueError(f"{opname}: the target size is smaller than the images; "
                             f"`{name}` would be {v}. Received: images.shape={images.shape}")
    return back(jnp.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0))))


@_image_op
def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None,
                right_cropping=None, target_height=None, target_width=None, data_format=None):
    """Crops images; give two of (top, bottom, target_height) and of (left, right,
    target_width)."""
    opname = "ops.image.crop_images"
    images = _images(opname, images)
    data_format = _data_format(opname, data_format)
    top, bottom, th = _resolve_box(opname, None, top_cropping, bottom_cropping, target_height,
                                   ("top_cropping", "bottom_cropping", "target_height"))
    left, right, tw = _resolve_box(opname, None, left_cropping, right_cropping, target_width,
                                   ("left_cropping", "right_cropping", "target_width"))
    x, back = _to_nhwc(images, data_format)
    h, w = x.shape[1], x.shape[2]
    top = h - th - bottom if top is None else top
    th = h - bottom - top if th is None else th
    left = w - tw - right if left is None else left
    tw = w - right - left if tw is None else tw
    if top < 0 or left < 0 or th < 0 or tw < 0 or top + th > h or left + tw > w:
        raise ValueError(f"{opname}: the crop box (top={top}, left={left}, height={th}, "
                         f"width={tw}) does not fit images of height {h} and width {w}.")
    return back(x[:, top:top + th, left:left + tw, :])


# ---------------------------------------------------------------------------- geometric transforms
def _sample(image, coords, order, mode, cval):
    """`image` (H, W, C) sampled at `coords` (2, ...) for every channel."""
    return jax.vmap(
        lambda ch: jax.scipy.ndimage.map_coordinates(ch, list(coords), order, mode, cval),
        in_axes=-1, out_axes=-1)(image)


@_image_op
def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant",
                     fill_value=0, data_format=None):
    """Applies projective transforms `[a0, a1, a2, b0, b1, b2, c0, c1]` to images.

    Each output point `(x, y)` is read from the input at
    `((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)` with `k = c0 x + c1 y + 1`.
    `transform` is `(8,)` or `(batch, 8)`.
    """
    opname = "ops.image.affine_transform"
    images = _images(opname, images)
    data_format = _data_format(opname, data_format)
    order = _INTERPOLATION_ORDER[_choice(opname, interpolation, _INTERPOLATION_ORDER,
                                         "interpolation")]
    _choice(opname, fill_mode, _FILL_MODES, "fill_mode")
    transform = _tensor(transform)
    if transform.ndim not in (1, 2) or transform.shape[-1] != 8:
        raise ValueError(f"{opname}: `transform` must have shape (8,) or (batch, 8). "
                         f"Received: transform.shape={transform.shape}")
    x, back = _to_nhwc(images, data_format)
    t = jnp.broadcast_to(transform, (x.shape[0], 8)).astype(result_type(x.dtype, float))
    yy, xx = jnp.meshgrid(jnp.arange(x.shape[1]), jnp.arange(x.shape[2]), indexing="ij")

    def one(image, t):
        k = t[6] * xx + t[7] * yy + 1.0
        src_x = (t[0] * xx + t[1] * yy + t[2]) / k
        src_y = (t[3] * xx + t[4] * yy + t[5]) / k
        return _sample(image, (src_y, src_x), order, fill_mode, fill_value)

    return back(jax.vmap(one)(x, t).astype(x.dtype))


def _homography(start, end):
    """The 8 coefficients mapping `end` points onto `start` points (batched)."""
    sx, sy = start[..., 0], start[..., 1]
    ex, ey = end[..., 0], end[..., 1]
    zero, one = jnp.zeros_like(ex), jnp.ones_like(ex)
    rows_x = jnp.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], axis=-1)
    rows_y = jnp.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], axis=-1)
    a = jnp.concatenate([rows_x, rows_y], axis=-2)
    b = jnp.concatenate([sx, sy], axis=-1)
    return jnp.linalg.solve(a, b[..., None])[..., 0]


@_image_op
def perspective_transform(images, start_points, end_points, interpolation="bilinear",
                          fill_value=0, data_format=None):
    """Warps images so that the four `start_points` move to `end_points` ((4, 2) x/y)."""
    opname = "ops.image.perspective_transform"
    images = _images(opname, images)
    data_format = _data_format(opname, data_format)
    order = _INTERPOLATION_ORDER[_choice(opname, interpolation, _INTERPOLATION_ORDER,
                                         "interpolation")]
    start, end = _tensor(start_points), _tensor(end_points)
    for arg, p in (("start_points", start), ("end_points", end)):
        if p.shape[-2:] != (4, 2) or p.ndim not in (2, 3):
            raise ValueError(f"{opname}: `{arg}` must have shape (4, 2) or (batch, 4, 2). "
                             f"Received: {arg}.shape={p.shape}")
    if start.shape != end.shape:
        raise ValueError(f"{opname}: `start_points` and `end_points` must have the same shape. "
                         f"Received: {start.shape} and {end.shape}")
    x, back = _to_nhwc(images, data_format)
    coeffs = _homography(start.astype("float32"), end.astype("float32"))
    coeffs = jnp.broadcast_to(coeffs.reshape(-1, 8), (x.shape[0], 8))
    yy, xx = jnp.meshgrid(jnp.arange(x.shape[1]), jnp.arange(x.shape[2]), indexing="ij")

    def one(image, t):
        k = t[6] * xx + t[7] * yy + 1.0
        src_x = (t[0] * xx + t[1] * yy + t[2]) / k
        src_y = (t[3] * xx + t[4] * yy + t[5]) / k
        return _sample(image, (src_y, src_x), order, "constant", fill_value)

    return back(jax.vmap(one)(x, coeffs).astype(x.dtype))


@_image_op
def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """`inputs` sampled at `coordinates` (one row per input axis) by interpolation.

    Args:
        order: 0 (nearest) or 1 (linear).
        fill_mode: "constant", "nearest", "wrap", "mirror" or "reflect".
    """
    opname = "ops.image.map_coordinates"
    inputs = _tensor(inputs)
    coordinates = _tensor(coordinates)
    if coordinates.ndim < 2 or coordinates.shape[0] != inputs.ndim:
        raise ValueError(f"{opname}: `coordinates` must have rank >= 2 and one row per axis "
                         f"of `inputs`. Received: inputs.shape={inputs.shape}, "
                         f"coordinates.shape={coordinates.shape}")
    _choice(opname, fill_mode, _FILL_MODES, "fill_mode")
    if order not in (0, 1):
        raise ValueError(f"{opname}: `order` must be 0 or 1. Received: order={order!r}")
    return jax.scipy.ndimage.map_coordinates(inputs, list(coordinates), order, fill_mode,
                                             fill_value)


# ---------------------------------------------------------------------------- filters
def _gaussian_1d(size, sigma, dtype):
    x = jnp.arange(size, dtype=dtype) - (size - 1) / 2.0
    k = jnp.exp(-0.5 * (x / sigma) ** 2)
    return k / jnp.sum(k)


def _depthwise_same(x, kernel):
    """Convolves every channel of NHWC `x` with the 2-D `kernel`, "same" zero padding."""
    c = x.shape[-1]
    k = jnp.broadcast_to(kernel[:, :, None, None], kernel.shape + (1, c)).astype(x.dtype)
    return jax.lax.conv_general_dilated(x, k, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        feature_group_count=c)


@_image_op
def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """Blurs images with a Gaussian of `kernel_size` (height, width) and `sigma`."""
    opname = "ops.image.gaussian_blur"
    images = _images(opname, images)
    data_format = _data_format(opname, data_format)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    sh, sw = (sigma, sigma) if isinstance(sigma, (int, float)) else sigma
    x, back = _to_nhwc(images, data_format)
    dtype = result_type(x.dtype, float)
    kernel = jnp.outer(_gaussian_1d(kh, sh, dtype), _gaussian_1d(kw, sw, dtype))
    return back(_depthwise_same(x.astype(dtype), kernel).astype(x.dtype))


@_image_op
def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear",
                      fill_mode="reflect", fill_value=0.0, seed=None, data_format=None):
    """Elastic deformation: pixels move along a random displacement field, smoothed by a
    Gaussian of `sigma` and scaled by `alpha`.

    Args:
        seed: an int, a JAX key or a `kerasx.random.SeedGenerator` (see `kerasx.random`).
    """
    opname = "ops.image.elastic_transform"
    images = _images(opname, images)
    data_format = _data_format(opname, data_format)
    order = _INTERPOLATION_ORDER[_choice(opname, interpolation, _INTERPOLATION_ORDER,
                                         "interpolation")]
    _choice(opname, fill_mode, _FILL_MODES, "fill_mode")
    x, back = _to_nhwc(images, data_format)
    dtype = result_type(x.dtype, float)
    b, h, w, _ = x.shape
    key_x, key_y = jax.random.split(_random._key_from_seed(seed, opname))
    size = int(6 * float(sigma)) | 1
    kernel = jnp.outer(_gaussian_1d(size, sigma, dtype), _gaussian_1d(size, sigma, dtype))
    fields = [_depthwise_same((jax.random.normal(k, (b, h, w, 1), dtype) * sigma), kernel)[
        ..., 0] * alpha for k in (key_x, key_y)]
    yy, xx = jnp.meshgrid(jnp.arange(h), jnp.arange(w), indexing="ij")

    def one(image, dx, dy):
        return _sample(image, (yy + dy, xx + dx), order, fill_mode, fill_value)

    return back(jax.vmap(one)(x, fields[0], fields[1]).astype(x.dtype))


@_image_op
def sobel_edges(images, data_format=None):
    """Sobel gradients of a 4D batch of images: `(..., 2)` holding `[dy, dx]` per channel."""
    opname = "ops.image.sobel_edges"
    images = _images(opname, images, ranks=(4,))
    data_format = _data_format(opname, data_format)
    x, back = _to_nhwc(images, data_format)
    sobel_y = jnp.asarray([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], x.dtype)
    dy = back(_depthwise_same(x, sobel_y))
    dx = back(_depthwise_same(x, sobel_y.T))
    return jnp.stack([dy, dx], axis=-1)


@_image_op
def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03,
         data_format=None):
    """Structural similarity index between two images (or batches), averaged over channels."""
    opname = "ops.image.ssim"
    image1 = _images(opname, image1, "image1")
    image2 = _images(opname, image2, "image2")
    if image1.shape != image2.shape:
        raise ValueError(f"{opname}: `image1` and `image2` must have the same shape. "
                         f"Received: {image1.shape} and {image2.shape}")
    data_format = _data_format(opname, data_format)
    dtype = image1.dtype
    compute = result_type(dtype, float)
    a, back = _to_nhwc(image1.astype(compute), data_format)
    b, _ = _to_nhwc(image2.astype(compute), data_format)
    g = _gaussian_1d(filter_size, filter_sigma, compute)
    kernel = jnp.outer(g, g)
    c = a.shape[-1]
    k = jnp.broadcast_to(kernel[:, :, None, None], kernel.shape + (1, c))

    def blur(z):
        return jax.lax.conv_general_dilated(z, k, (1, 1), "VALID",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                            feature_group_count=c)

    mu1, mu2 = blur(a), blur(b)
    s11 = blur(a * a) - mu1 * mu1
    s22 = blur(b * b) - mu2 * mu2
    s12 = blur(a * b) - mu1 * mu2
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 * mu1 + mu2 * mu2 + c1) *
                                                   (s11 + s22 + c2))
    out = jnp.mean(m, axis=(1, 2, 3))
    return (out[0] if image1.ndim == 3 else out).astype(dtype)


# ---------------------------------------------------------------------------- patches
def _patches(opname, x, size, strides, dilation_rate, padding, data_format, n):
    size = _tuple(opname, size, n, "size")
    strides = size if strides is None else _tuple(opname, strides, n, "strides")
    dilation = _tuple(opname, dilation_rate, n, "dilation_rate")
    padding = _padding(opname, padding)
    single = x.ndim == n + 1
    if single:
        x = x[None]
    if data_format == "channels_first":
        x = jnp.moveaxis(x, 1, -1)
    spatial = "DHW"[-n:]
    patches = jax.lax.conv_general_dilated_patches(
        x, size, strides, padding.upper(), rhs_dilation=dilation,
        dimension_numbers=("N" + spatial + "C", "OI" + spatial, "N" + spatial + "C"))
    # features come out ordered (channel, *window); Keras orders them (*window, channel)
    c = x.shape[-1]
    lead = patches.shape[:-1]
    patches = patches.reshape(lead + (c, int(np.prod(size))))
    patches = jnp.swapaxes(patches, -1, -2).reshape(lead + (-1,))
    if data_format == "channels_first":
        patches = jnp.moveaxis(patches, -1, 1)
    return patches[0] if single else patches


@_image_op
def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid",
                    data_format=None):
    """Patches of `size` (h, w) from images, flattened into the channel axis.

    A 3-element `size` extracts 3D patches from volumes (as `extract_patches_3d`).
    Output `(batch, rows, cols, h * w * channels)` for channels_last.
    """
    opname = "ops.image.extract_patches"
    x = _tensor(images)
    data_format = _data_format(opname, data_format)
    if not isinstance(size, int) and len(size) == 3:
        return _patches(opname, _images(opname, x, ranks=(4, 5)), size, strides,
                        dilation_rate, padding, data_format, 3)
    return _patches(opname, _images(opname, x), size, strides, dilation_rate, padding,
                    data_format, 2)


@_image_op
def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid",
                       data_format=None):
    """3D patches of `size` (d, h, w) from volumes, flattened into the channel axis."""
    opname = "ops.image.extract_patches_3d"
    x = _images(opname, volumes, "volumes", ranks=(4, 5))
    return _patches(opname, x, size, strides, dilation_rate, padding,
                    _data_format(opname, data_format), 3)
