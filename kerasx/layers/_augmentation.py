"""Image augmentation layers: random flips, rotations, zooms, crops and colour changes.

Each layer is the identity at inference (`training=False`, the default of `apply`; exceptions
as in Keras: AutoContrast always applies, RandomCrop crops to its target size) and draws a
random transformation per image when training, from the `rng` key passed to `apply` only:

    y, _ = layer.apply({}, {}, images, training=True, rng=jax.random.key(0))

Everything in `apply` is jittable, so the layers run on the device inside a compiled train step.
A layer's `seed` is folded into that key, so two layers with different seeds draw differently from
the same key. Inputs are batched `(batch, height, width, channels)` or single images
`(height, width, channels)` (channels first with `data_format="channels_first"`); outputs have
the layer's dtype (float32 by default).

Dict inputs take Keras's form `{"images": ..., "labels": ..., "bounding_boxes": {"boxes": ...,
"labels": ...}, "segmentation_masks": ...}` (all but "images" optional). The geometric layers
(RandomFlip, RandomTranslation, RandomZoom, RandomRotation, RandomShear, RandomPerspective,
RandomCrop; RandAugment its boxes only) move the boxes, given in the layer's
`bounding_box_format`, and the masks with their images: boxes become float32 and are clipped to
the output image, and boxes left with no area get the label -1; masks are sampled
nearest-neighbour and keep their dtype. The colour layers pass boxes and masks through; "labels"
pass through (MixUp and CutMix mix them, and their masks; MixUp appends each partner's boxes,
CutMix takes no boxes, as in Keras). Resizing and CenterCrop (`_preprocessing.py`) take the
same dicts. Box arithmetic is in `_bounding_boxes.py` (public as
`kerasx.utils.bounding_boxes`).

Internally each layer splits its work in two: `_draw(rng, batch, height, width)` draws the random
parameters (a dict of arrays, named as Keras's `get_random_transformation` names them), and
`_transform(images, draws)` applies them to channels-last batches. Tests compare `_transform`
with Keras's `transform_images` on the same parameters.
"""

import functools
import math
from numbers import Real
from typing import Any, Dict, Optional

import jax
import jax.numpy as jnp

from . import _bounding_boxes as bbox
from ._base import Layer, apply_layer, apply_masked, shape_str
from ._convolutional import _standardize_data_format
from ._wrapper import deserialize_layer, serialize_layer

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("nearest", "bilinear")


def _is_number(x) -> bool:
    return isinstance(x, Real) and not isinstance(x, bool)


# ------------------------------------------------------------------------------ geometry helpers
def _affine_transform(images, transform, interpolation, fill_mode, fill_value):
    """Samples channels-last `images` (B, H, W, C) through per-image projective transforms.

    `transform` is (B, 8): `[a0, a1, a2, b0, b1, b2, c0, c1]` maps an output pixel (x, y) to the
    input point ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k), k = c0 x + c1 y + 1 (Keras's
    `ops.image.affine_transform` convention).
    """
    _, h, w, _ = images.shape
    ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                          indexing="ij")
    t = transform.astype(jnp.float32)[:, :, None, None]
    a0, a1, a2, b0, b1, b2, c0, c1 = (t[:, i] for i in range(8))
    k = c0 * xs + c1 * ys + 1.0
    x_in = (a0 * xs + a1 * ys + a2) / k
    y_in = (b0 * xs + b1 * ys + b2) / k
    order = 0 if interpolation == "nearest" else 1

    def one_channel(img, yy, xx):
        return jax.scipy.ndimage.map_coordinates(img, [yy, xx], order=order, mode=fill_mode,
                                                 cval=fill_value)

    per_channel = jax.vmap(one_channel, in_axes=(2, None, None), out_axes=2)
    return jax.vmap(per_channel)(images, y_in, x_in).astype(images.dtype)


def _affine_matrix(angle, translate_x, translate_y, scale, shear_x, shear_y, height, width):
    """(B, 8) transforms for rotations/shears (degrees) about the image centre (as Keras)."""
    rad = math.pi / 180.0
    angle, shear_x, shear_y = angle * rad, jnp.tan(shear_x * rad), jnp.tan(shear_y * rad)
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    a0 = scale * (cos + shear_x * sin)
    a1 = scale * (-sin + shear_x * cos)
    a2 = translate_x + cx - cx * a0 - cy * a1
    b0 = scale * (shear_y * cos + sin)
    b1 = scale * (shear_y * -sin + cos)
    b2 = translate_y + cy - cx * b0 - cy * b1
    zeros = jnp.zeros_like(a0)
    return jnp.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)


# ------------------------------------------------------------------------------ the base class
_DICT_KEYS = ("images", "labels", "bounding_boxes", "segmentation_masks")


class _ImageAugmentation(Layer):
    """Shared machinery: argument checks, layouts, the rng, identity at inference, and dict
    inputs `{"images": ..., "labels": ..., "bounding_boxes": {"boxes": ..., "labels": ...}}`."""

    supports_masking = False
    _random = True        # draws from `rng` when training
    _has_seed = True      # takes a `seed` (and writes it in its config)
    _needs_rgb = False    # takes only 3-channel images
    # What a dict input's bounding boxes go through: "keep" (unchanged: colour layers, as in
    # Keras), "move" (geometric layers: `_move_boxes`), None (not supported, as in Keras).
    _boxes = "keep"
    _moves_boxes_at_inference = False  # RandomCrop: its images change at inference too
    _takes_masks = True  # segmentation masks supported where bounding boxes are

    def __init__(self, seed: Optional[int] = None, data_format: Optional[str] = None,
                 bounding_box_format: Optional[str] = None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ValueError(
                f"Received an invalid value for `seed` of layer '{self.name}' "
                f"({type(self).__name__}), expected an integer or None. Received: seed={seed!r}")
        self.seed = seed
        self.data_format = _standardize_data_format(self, data_format)
        if bounding_box_format is not None:
            if not isinstance(bounding_box_format, str) or \
                    bounding_box_format.lower() not in bbox.SUPPORTED_FORMATS:
                raise self._bad("bounding_box_format",
                                "None or one of " + ", ".join(bbox.SUPPORTED_FORMATS),
                                bounding_box_format)
        self.bounding_box_format = bounding_box_format

    # ---- argument helpers (used in subclasses' __init__)
    def _bad(self, arg, expected, value):
        return ValueError(
            f"Received an invalid value for `{arg}` of layer '{self.name}' "
            f"({type(self).__name__}), expected {expected}. Received: {arg}={value!r}")

    def _range_factor(self, factor, arg, low, high, low_open=False):
        """Keras's `height_factor`-style factor: a number f gives (-|f|, |f|), a pair sorted."""
        def ok(v):
            return _is_number(v) and (low < v if low_open else low <= v) and v <= high
        bracket = "(" if low_open else "["
        expected = f"a number or a list of two numbers in the range {bracket}{low}, {high}]"
        if isinstance(factor, (tuple, list)):
            if len(factor) != 2 or not all(ok(v) for v in factor):
                raise self._bad(arg, expected, factor)
            return tuple(sorted(factor))
        if not ok(factor):
            raise self._bad(arg, expected, factor)
        return (-abs(factor), abs(factor))

    def _base_factor(self, factor, bounds=(-1.0, 1.0), arg="factor"):
        """Keras's base-layer factor: a number f gives (max(-|f|, low), |f|); a pair sorted."""
        expected = f"a number or a list of two numbers in the range [{bounds[0]}, {bounds[1]}]"
        if isinstance(factor, (tuple, list)):
            if len(factor) != 2 or not all(_is_number(v) for v in factor) or \
                    factor[0] > bounds[1] or factor[1] < bounds[0]:
                raise self._bad(arg, expected, factor)
            return tuple(sorted(factor))
        if not _is_number(factor) or not bounds[0] <= factor <= bounds[1]:
            raise self._bad(arg, expected, factor)
        return (max(-abs(factor), bounds[0]), abs(factor))

    def _choice(self, arg, value, allowed):
        if value not in allowed:
            raise self._bad(arg, "one of " + ", ".join(repr(a) for a in allowed), value)
        return value

    def _value_range(self, value_range, sort=False):
        if not isinstance(value_range, (tuple, list)) or len(value_range) != 2 or \
                not all(_is_number(v) for v in value_range) or value_range[0] == value_range[1]:
            raise self._bad("value_range", "a list of two different numbers, e.g. (0, 255)",
                            value_range)
        return sorted(value_range) if sort else value_range

    # ---- shapes
    def _check_input(self, spec):
        if isinstance(spec, dict):
            self._check_dict(spec)
        else:
            self._check_images(spec)

    def _check_dict(self, spec):
        """Checks a dict input's keys and shapes (Keras's `{"images": ..., ...}` form)."""
        where = _check_dict_keys(self, spec)
        images = spec["images"]
        self._check_images(images)
        if "segmentation_masks" in spec:
            if self._boxes is None or not self._takes_masks:
                raise NotImplementedError(
                    f"{where} does not transform segmentation masks in kerasx.")
            masks = spec["segmentation_masks"]
            ha, wa = self._hw_axes(len(images.shape))
            if len(masks.shape) != len(images.shape) or \
                    (masks.shape[ha], masks.shape[wa]) != (images.shape[ha], images.shape[wa]):
                raise ValueError(
                    f"{where} expects segmentation masks of the images' rank, height and width. "
                    f"Received images of shape {shape_str(images.shape)} and masks of shape "
                    f"{shape_str(masks.shape)}")
        if "bounding_boxes" not in spec:
            return
        if self._boxes is None:
            raise NotImplementedError(
                f"{where} does not transform bounding boxes (neither does Keras's).")
        if not self.bounding_box_format:
            raise ValueError(
                "You passed an input with a 'bounding_boxes' key, but you didn't specify a "
                f"bounding box format. Pass a `bounding_box_format` argument to your "
                f"{type(self).__name__} layer, e.g. `bounding_box_format='xyxy'`.")
        _check_bounding_boxes(where, spec["bounding_boxes"], images)

    def _check_images(self, spec):
        self._check_rank(spec, (3, 4))
        if self._needs_rgb:
            channels = spec.shape[-1 if self.data_format == "channels_last" else -3]
            if channels != 3:
                raise ValueError(
                    f"Layer '{self.name}' ({type(self).__name__}) expects RGB images with 3 "
                    f"channels, but received shape {shape_str(spec.shape)}.")

    def _hw_axes(self, rank):
        return (rank - 3, rank - 2) if self.data_format == "channels_last" else (rank - 2, rank - 1)

    def _output_shape(self, shape):
        return tuple(shape)

    def init(self, rng, input_spec):
        self.output_spec(input_spec)
        return {}, {}

    def output_spec(self, input_spec):
        self._check_input(input_spec)
        images = input_spec["images"] if isinstance(input_spec, dict) else input_spec
        out = jax.ShapeDtypeStruct(self._output_shape(tuple(images.shape)), self.compute_dtype)
        if not isinstance(input_spec, dict):
            return out
        specs = {k: _spec_of(v) for k, v in input_spec.items() if k != "images"}
        specs["images"] = out
        if "segmentation_masks" in specs:
            masks = specs["segmentation_masks"]
            shape = list(self._output_shape(tuple(images.shape)))
            shape[self._channel_axis(len(shape))] = masks.shape[self._channel_axis(len(shape))]
            specs["segmentation_masks"] = jax.ShapeDtypeStruct(tuple(shape), masks.dtype)
        if "bounding_boxes" in specs:
            boxes = specs["bounding_boxes"]["boxes"]
            specs["bounding_boxes"]["boxes"] = jax.ShapeDtypeStruct(boxes.shape, jnp.float32)
        return specs

    # ---- calling
    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_input(inputs)
        if not isinstance(inputs, dict):
            return self._run(inputs, training, rng)[0], state
        images = jnp.asarray(inputs["images"])
        out = {k: jax.tree.map(jnp.asarray, v) for k, v in inputs.items()}
        out["images"], draws = self._run(images, training, rng)
        if "bounding_boxes" in inputs:
            out["bounding_boxes"] = self._boxes_through(inputs["bounding_boxes"], images.shape,
                                                        draws, training)
        if "segmentation_masks" in inputs:
            out["segmentation_masks"] = self._masks_through(out["segmentation_masks"], draws)
        return out, state

    def _channel_axis(self, rank):
        return rank - 1 if self.data_format == "channels_last" else rank - 3

    def _masks_through(self, masks, draws):
        """Segmentation masks moved as the images were (nearest-neighbour sampling; colour
        layers leave them unchanged, as Keras); they keep their dtype."""
        if self._boxes != "move" or (draws is None and not self._moves_boxes_at_inference):
            return masks
        m = masks.astype(jnp.float32)
        unbatched = m.ndim == 3
        if unbatched:
            m = m[None]
        if self.data_format == "channels_first":
            m = jnp.transpose(m, (0, 2, 3, 1))
        m = self._inference(m) if draws is None else self._transform_masks(m, draws)
        if self.data_format == "channels_first":
            m = jnp.transpose(m, (0, 3, 1, 2))
        m = m[0] if unbatched else m
        if jnp.issubdtype(masks.dtype, jnp.integer):
            m = jnp.round(m)
        return m.astype(masks.dtype)

    def _transform_masks(self, masks, draws):
        return self._transform(masks, draws)

    def _boxes_through(self, bounding_boxes, image_shape, draws, training):
        """The bounding boxes of a dict input, moved as the images were (float32 boxes in the
        layer's `bounding_box_format`; labels -1 for boxes pushed out of the image)."""
        out = dict(bounding_boxes)
        boxes = jnp.asarray(bounding_boxes["boxes"]).astype(jnp.float32)
        labels = jnp.asarray(bounding_boxes["labels"])
        out["boxes"], out["labels"] = boxes, labels
        if self._boxes != "move" or (draws is None and not self._moves_boxes_at_inference):
            return out
        unbatched = boxes.ndim == 2
        if unbatched:
            boxes, labels = boxes[None], labels[None]
        ha, wa = self._hw_axes(len(image_shape))
        height, width = image_shape[ha], image_shape[wa]
        fmt = self.bounding_box_format.lower()
        xyxy = bbox.convert_format(boxes, fmt, "xyxy", height, width)
        moved, out_height, out_width = self._move_boxes(xyxy, draws, height, width)
        clipped = bbox.clip_to_image_size({"boxes": moved, "labels": labels}, out_height,
                                          out_width, "xyxy")
        boxes = bbox.convert_format(clipped["boxes"], "xyxy", fmt, out_height, out_width)
        labels = clipped["labels"]
        out["boxes"], out["labels"] = (boxes[0], labels[0]) if unbatched else (boxes, labels)
        return out

    def _move_boxes(self, boxes, draws, height, width):
        """`(boxes, out_height, out_width)`: `(batch, N, 4)` "xyxy" pixel boxes moved as the
        images are by `draws` (None at inference), and the output image size."""
        raise NotImplementedError

    def _run(self, inputs, training, rng):
        """`(outputs, draws)`: the images transformed and the parameters drawn (None when
        not training)."""
        x = jnp.asarray(inputs).astype(self.compute_dtype)
        unbatched = x.ndim == 3
        if unbatched:
            x = x[None]
        if self.data_format == "channels_first":
            x = jnp.transpose(x, (0, 2, 3, 1))
        if training:
            if self._random:
                self._need_rng(rng)
                if self.seed is not None:
                    rng = jax.random.fold_in(rng, self.seed)
            draws = self._draw(rng, x.shape[0], x.shape[1], x.shape[2])
            y = self._transform(x, draws)
        else:
            draws, y = None, self._inference(x)
        y = y.astype(self.compute_dtype)
        if self.data_format == "channels_first":
            y = jnp.transpose(y, (0, 3, 1, 2))
        return (y[0] if unbatched else y), draws

    def _inference(self, images):
        return images

    def _draw(self, rng, batch, height, width) -> Dict[str, Any]:
        raise NotImplementedError

    def _transform(self, images, draws):
        raise NotImplementedError

    def get_config(self):
        config = {**super().get_config(), "data_format": self.data_format}
        if self.bounding_box_format is not None:  # as Keras: written only when set
            config["bounding_box_format"] = self.bounding_box_format
        if self._has_seed:
            config["seed"] = self.seed
        return config


def _spec_of(x):
    return jax.tree.map(lambda a: a if isinstance(a, jax.ShapeDtypeStruct) else
                        jax.ShapeDtypeStruct(tuple(jnp.shape(a)), jnp.result_type(a)), x)


def _check_dict_keys(layer, spec) -> str:
    """Checks the keys of a dict input (Keras's `{"images", "labels", "bounding_boxes",
    "segmentation_masks"}`); returns how errors name the layer."""
    where = f"Layer '{layer.name}' ({type(layer).__name__})"
    unknown = sorted(set(spec) - set(_DICT_KEYS))
    if "images" not in spec or unknown:
        raise ValueError(
            f"{where} takes images, or a dict with the key 'images' and optionally "
            f"'labels', 'bounding_boxes' and 'segmentation_masks'. Received keys: "
            f"{sorted(spec)}")
    return where


def _check_bounding_boxes(where, bounding_boxes, images):
    """Checks `{"boxes": (batch, N, 4), "labels": (batch, N[, ...])}` (no batch axis for a
    single image) against the images' spec."""
    if not isinstance(bounding_boxes, dict) or "boxes" not in bounding_boxes or \
            "labels" not in bounding_boxes:
        raise ValueError(
            f"{where} expects `bounding_boxes` to be a dict with keys 'boxes' and 'labels'. "
            f"Received: bounding_boxes={bounding_boxes!r}")
    boxes, labels = bounding_boxes["boxes"], bounding_boxes["labels"]
    rank = len(images.shape) - 1  # (N, 4) for a single image, (batch, N, 4) for a batch
    bshape, lshape = tuple(boxes.shape), tuple(labels.shape)
    if len(bshape) != rank or bshape[-1] != 4:
        raise ValueError(
            f"{where} expects bounding_boxes['boxes'] of shape "
            f"{'(batch, num_boxes, 4)' if rank == 3 else '(num_boxes, 4)'} for images of shape "
            f"{shape_str(images.shape)}. Received: shape {shape_str(bshape)}")
    if len(lshape) < rank - 1 or lshape[:rank - 1] != bshape[:-1]:
        raise ValueError(
            f"{where} expects bounding_boxes['labels'] to have one entry per box, shape "
            f"{shape_str(bshape[:-1])}. Received: shape {shape_str(lshape)}")
    if rank == 3 and images.shape[0] is not None and bshape[0] is not None and \
            bshape[0] != images.shape[0]:
        raise ValueError(
            f"{where} expects one row of boxes per image. Received images of shape "
            f"{shape_str(images.shape)} and boxes of shape {shape_str(bshape)}")


class _AffineAugmentation(_ImageAugmentation):
    """A geometric augmentation with Keras's fill_mode/interpolation/fill_value arguments."""

    def __init__(self, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.fill_mode = self._choice("fill_mode", fill_mode, _FILL_MODES)
        self.interpolation = self._choice("interpolation", interpolation, _INTERPOLATIONS)
        if not _is_number(fill_value):
            raise self._bad("fill_value", "a number", fill_value)
        self.fill_value = float(fill_value)

    def _transform(self, images, draws):
        return _affine_transform(images, draws["transform"], self.interpolation, self.fill_mode,
                                 self.fill_value)

    def _transform_masks(self, masks, draws):
        return _affine_transform(masks, draws["transform"], "nearest", self.fill_mode,
                                 self.fill_value)

    def get_config(self):
        return {**super().get_config(), "fill_mode": self.fill_mode,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


# ------------------------------------------------------------------------------ geometry and light
class RandomFlip(_ImageAugmentation):
    """Randomly flips images horizontally and/or vertically when training.

    Each image is flipped with probability 1/2; with `"horizontal_and_vertical"` the same draw
    flips it both ways (as Keras). Identity at inference.

    Given a dict `{"images": ..., "labels": ..., "bounding_boxes": {"boxes": ...,
    "labels": ...}, "segmentation_masks": ...}` (Keras's form), the boxes (in
    `bounding_box_format`) and masks are flipped with their images and the labels pass
    through; the other geometric layers (RandomTranslation, RandomZoom, RandomRotation,
    RandomShear, RandomPerspective, RandomCrop) take such dicts too.

    Args:
        mode: `"horizontal"` (left-right), `"vertical"` (top-bottom) or
            `"horizontal_and_vertical"` (default).
        seed: optional integer folded into the `rng` given to `apply`.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        bounding_box_format: the format of the boxes of dict inputs (`"xyxy"`, `"yxyx"`,
            `"xywh"`, `"center_xywh"`, `"center_yxhw"`, `"rel_xyxy"`, ...), or None (default)
            when there are none.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last), or
        a dict of them with `bounding_boxes` `{"boxes": (batch, num_boxes, 4), "labels":
        (batch, num_boxes)}`.
    Output shape:
        Same as the input shape, in the layer's dtype (boxes float32; boxes flipped out of the
        image get the label -1).
    """

    _boxes = "move"

    def __init__(self, mode="horizontal_and_vertical", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.mode = self._choice("mode", mode,
                                 ("horizontal", "vertical", "horizontal_and_vertical"))

    def _draw(self, rng, batch, height, width):
        return {"flips": jax.random.uniform(rng, (batch, 1, 1, 1)) <= 0.5}

    def _transform(self, images, draws):
        flips = draws["flips"]
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            images = jnp.where(flips, jnp.flip(images, axis=2), images)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            images = jnp.where(flips, jnp.flip(images, axis=1), images)
        return images

    def _move_boxes(self, boxes, draws, height, width):
        flips = draws["flips"].reshape(-1, 1, 1)
        x1, y1, x2, y2 = (boxes[..., i:i + 1] for i in range(4))
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            x1, x2 = jnp.where(flips, width - x2, x1), jnp.where(flips, width - x1, x2)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            y1, y2 = jnp.where(flips, height - y2, y1), jnp.where(flips, height - y1, y2)
        return jnp.concatenate([x1, y1, x2, y2], axis=-1), height, width

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


class RandomRotation(_AffineAugmentation):
    """Randomly rotates images about their centre when training.

    Args:
        factor: a fraction of 2*pi: a number f rotates by an angle drawn in [-f*360, f*360]
            degrees, a pair `(lower, upper)` in [lower*360, upper*360]. Positive angles rotate
            counter-clockwise.
        fill_mode: how points outside the input are filled: `"reflect"` (default), `"wrap"`,
            `"constant"` or `"nearest"`.
        interpolation: `"bilinear"` (default) or `"nearest"`.
        seed: optional integer folded into the `rng` given to `apply`.
        fill_value: the value outside the image with `fill_mode="constant"`.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        bounding_box_format: the format of the boxes of dict inputs (see RandomFlip),
            or None (default).

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    _boxes = "move"

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None,
                 fill_value=0.0, data_format=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, **kwargs)
        self.factor = self._base_factor(factor)

    def _draw(self, rng, batch, height, width):
        angle = jax.random.uniform(rng, (batch,), minval=self.factor[0] * 360.0,
                                   maxval=self.factor[1] * 360.0)
        zeros, ones = jnp.zeros((batch,)), jnp.ones((batch,))
        return {"angle": angle, "transform": _affine_matrix(angle, zeros, zeros, ones, zeros,
                                                            zeros, height, width)}

    def _move_boxes(self, boxes, draws, height, width):
        angle = draws["angle"]
        zeros, ones = jnp.zeros_like(angle), jnp.ones_like(angle)
        moved = bbox.affine_transform(boxes, angle, zeros, zeros, ones, zeros, zeros, height,
                                      width)
        return moved, height, width

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomZoom(_AffineAugmentation):
    """Randomly zooms images in or out when training.

    Args:
        height_factor: a number f zooms the height by 1 + u, u drawn in [-f, f]; a pair
            `(lower, upper)` draws u in [lower, upper]. Values in (-1, 1]; positive values zoom
            out (the image shrinks), negative values zoom in.
        width_factor: the same for the width; None (default) zooms both by the same draw,
            keeping the aspect ratio.
        fill_mode: `"reflect"` (default), `"wrap"`, `"constant"` or `"nearest"`.
        interpolation: `"bilinear"` (default) or `"nearest"`.
        seed: optional integer folded into the `rng` given to `apply`.
        fill_value: the value outside the image with `fill_mode="constant"`.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        bounding_box_format: the format of the boxes of dict inputs (see RandomFlip),
            or None (default).

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    _boxes = "move"

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, **kwargs)
        self._height = self._range_factor(height_factor, "height_factor", -1.0, 1.0, True)
        self._width = (None if width_factor is None else
                       self._range_factor(width_factor, "width_factor", -1.0, 1.0, True))
        self.height_factor, self.width_factor = height_factor, width_factor

    def _draw(self, rng, batch, height, width):
        kh, kw = jax.random.split(rng)
        hz = jax.random.uniform(kh, (batch,), minval=1.0 + self._height[0],
                                maxval=1.0 + self._height[1])
        wz = hz if self._width is None else jax.random.uniform(
            kw, (batch,), minval=1.0 + self._width[0], maxval=1.0 + self._width[1])
        zeros = jnp.zeros((batch,))
        transform = jnp.stack([wz, zeros, (width - 1.0) / 2.0 * (1.0 - wz), zeros, hz,
                               (height - 1.0) / 2.0 * (1.0 - hz), zeros, zeros], axis=1)
        return {"height_zoom": hz[:, None], "width_zoom": wz[:, None], "transform": transform}

    def _move_boxes(self, boxes, draws, height, width):
        # the inverse of the images' map: input x = z * x_out + (width - 1) / 2 * (1 - z)
        hz, wz = draws["height_zoom"][:, :, None], draws["width_zoom"][:, :, None]
        x_off, y_off = (width - 1.0) / 2.0 * (1.0 - wz), (height - 1.0) / 2.0 * (1.0 - hz)
        x1, y1, x2, y2 = (boxes[..., i:i + 1] for i in range(4))
        moved = jnp.concatenate([(x1 - x_off) / wz, (y1 - y_off) / hz, (x2 - x_off) / wz,
                                 (y2 - y_off) / hz], axis=-1)
        return moved, height, width

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}


class RandomTranslation(_AffineAugmentation):
    """Randomly shifts images vertically and horizontally when training.

    Args:
        height_factor: a fraction of the height: a number f shifts by u * height, u drawn in
            [-f, f]; a pair `(lower, upper)` draws u in [lower, upper]. Values in [-1, 1];
            positive values shift down.
        width_factor: the same for the width; positive values shift right.
        fill_mode: `"reflect"` (default), `"wrap"`, `"constant"` or `"nearest"`.
        interpolation: `"bilinear"` (default) or `"nearest"`.
        seed: optional integer folded into the `rng` given to `apply`.
        fill_value: the value outside the image with `fill_mode="constant"`.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        bounding_box_format: the format of the boxes of dict inputs (see RandomFlip),
            or None (default).

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    _boxes = "move"

    def __init__(self, height_factor, width_factor, fill_mode="reflect",
                 interpolation="bilinear", seed=None, fill_value=0.0, data_format=None,
                 **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, **kwargs)
        self._height = self._range_factor(height_factor, "height_factor", -1.0, 1.0)
        self._width = self._range_factor(width_factor, "width_factor", -1.0, 1.0)
        self.height_factor, self.width_factor = height_factor, width_factor

    def _draw(self, rng, batch, height, width):
        kh, kw = jax.random.split(rng)
        ty = jax.random.uniform(kh, (batch,), minval=self._height[0], maxval=self._height[1])
        tx = jax.random.uniform(kw, (batch,), minval=self._width[0], maxval=self._width[1])
        tx, ty = tx * width, ty * height
        zeros, ones = jnp.zeros((batch,)), jnp.ones((batch,))
        transform = jnp.stack([ones, zeros, -tx, zeros, ones, -ty, zeros, zeros], axis=1)
        return {"translations": jnp.stack([tx, ty], axis=1), "transform": transform}

    def _move_boxes(self, boxes, draws, height, width):
        shift = draws["translations"][:, None, :]  # (batch, 1, [x, y]) in pixels
        return boxes + jnp.concatenate([shift, shift], axis=-1), height, width

    def get_config(self):
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}


class RandomContrast(_ImageAugmentation):
    """Randomly changes the contrast of each image when training.

    Each channel of an image becomes `(x - mean) * c + mean` (mean over the pixels), clipped to
    `value_range`, with c drawn in [1 - lower, 1 + upper] (Keras 3's convention: a number f
    gives `factor=(0, f)`, so c lies in [1, 1 + f]).

    Args:
        factor: a number in [0, 1] or a pair `(lower, upper)`.
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = self._base_factor(factor, (0.0, 1.0))
        self.value_range = self._value_range(value_range)

    def _draw(self, rng, batch, height, width):
        return {"contrast_factor": jax.random.uniform(
            rng, (batch, 1, 1, 1), minval=1.0 - self.factor[0], maxval=1.0 + self.factor[1])}

    def _transform(self, images, draws):
        mean = jnp.mean(images, axis=(1, 2), keepdims=True)
        out = (images - mean) * draws["contrast_factor"].astype(images.dtype) + mean
        return jnp.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomBrightness(_ImageAugmentation):
    """Randomly brightens or darkens each image when training.

    Adds `u * (max - min)` of `value_range` to every pixel, u drawn in `factor`'s range, and
    clips the result to `value_range`.

    Args:
        factor: a number f in [-1, 1] draws u in [-|f|, |f|]; a pair `(lower, upper)` draws u
            in [lower, upper] (e.g. `(0.1, 0.3)` only brightens).
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    def __init__(self, factor, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = self._base_factor(factor)
        self.value_range = self._value_range(value_range, sort=True)

    def _draw(self, rng, batch, height, width):
        delta = jax.random.uniform(rng, (batch, 1, 1, 1), minval=self.factor[0],
                                   maxval=self.factor[1])
        return {"rgb_delta": delta * (self.value_range[1] - self.value_range[0])}

    def _transform(self, images, draws):
        return jnp.clip(images + draws["rgb_delta"].astype(images.dtype),
                        self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomCrop(_ImageAugmentation):
    """Randomly crops a `height` x `width` window out of the images when training.

    One window position is drawn per call (the same for the whole batch, as Keras). Inputs
    not larger than the target on both sides get Keras's deterministic fallback instead: the
    target-size window at the offset that centres a crop of the target's aspect ratio, resized
    (bilinear) to the target size where the image is too small. At inference the layer applies
    that same deterministic crop, so the output always has the target size (Keras 3 returns
    the input unchanged at inference, whose shape then disagrees with its own
    `compute_output_shape`).

    Bounding boxes of dict inputs move with the window (x by its column offset, y by its row
    offset; Keras 3 swaps the two) and are clipped to it, those left empty getting the label
    -1 (Keras clips only at 0 and keeps the labels).

    Args:
        height: the output height.
        width: the output width.
        seed: optional integer folded into the `rng` given to `apply`.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        bounding_box_format: the format of the boxes of dict inputs (see RandomFlip),
            or None (default).

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        `(batch, target_height, target_width, channels)` (or unbatched), in the layer's dtype.
    """

    _boxes = "move"
    _moves_boxes_at_inference = True

    def __init__(self, height, width, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        for arg, v in (("height", height), ("width", width)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise self._bad(arg, "a positive integer", v)
        self.height, self.width = height, width

    def _output_shape(self, shape):
        shape = list(shape)
        ha, wa = self._hw_axes(len(shape))
        for axis in (ha, wa):
            if shape[axis] is None:
                raise ValueError(
                    f"Layer '{self.name}' (RandomCrop) needs a known height and width. "
                    f"Received shape {shape_str(shape)}.")
        shape[ha], shape[wa] = self.height, self.width
        return tuple(shape)

    def _center_window(self, h, w):
        """`(top, left, rows, cols)` of the deterministic window: as Keras, the target size
        from the offset that centres the aspect-ratio crop, clipped to the image."""
        ch = max(min(h, int(float(w * self.height) / self.width)), 1)
        cw = max(min(w, int(float(h * self.width) / self.height)), 1)
        hs, ws = int(float(h - ch) / 2), int(float(w - cw) / 2)
        return hs, ws, min(self.height, h - hs), min(self.width, w - ws)

    def _center_resize(self, images):
        _, h, w, c = images.shape
        hs, ws, _, _ = self._center_window(h, w)
        # the window, resized to the target size if it was clipped
        images = images[:, hs:hs + self.height, ws:ws + self.width, :]
        if images.shape[1:3] != (self.height, self.width):
            images = jax.image.resize(images, (images.shape[0], self.height, self.width, c),
                                      method="bilinear", antialias=False)
        return images

    def _inference(self, images):
        return self._center_resize(images)

    def _draw(self, rng, batch, height, width):
        kh, kw = jax.random.split(rng)
        if height > self.height and width > self.width:
            hs = jax.random.uniform(kh, (), maxval=float(height - self.height + 1))
            ws = jax.random.uniform(kw, (), maxval=float(width - self.width + 1))
            return {"h_start": hs.astype(jnp.int32), "w_start": ws.astype(jnp.int32)}
        return {}

    def _transform(self, images, draws):
        if not draws:
            return self._center_resize(images)
        b, _, _, c = images.shape
        zero = jnp.zeros((), jnp.int32)
        return jax.lax.dynamic_slice(images, (zero, draws["h_start"], draws["w_start"], zero),
                                     (b, self.height, self.width, c))

    def _move_boxes(self, boxes, draws, height, width):
        if draws:
            top = draws["h_start"].astype(boxes.dtype)
            left = draws["w_start"].astype(boxes.dtype)
            sy = sx = 1.0
        else:  # the deterministic window (and its resize), as the images
            top, left, rows, cols = self._center_window(height, width)
            sy, sx = self.height / rows, self.width / cols
        x1, y1, x2, y2 = (boxes[..., i:i + 1] for i in range(4))
        moved = jnp.concatenate([(x1 - left) * sx, (y1 - top) * sy, (x2 - left) * sx,
                                 (y2 - top) * sy], axis=-1)
        return moved, self.height, self.width

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}


# ------------------------------------------------------------------------------ colour helpers
_GRAY_WEIGHTS = (0.2989, 0.587, 0.114)


def _to_range(images, source, target):
    """Maps values linearly from the `source` (min, max) range to the `target` one."""
    if tuple(source) == tuple(target):
        return images
    images = (images - source[0]) / (source[1] - source[0])
    return images * (target[1] - target[0]) + target[0]


def _grayscale(images):
    """(B, H, W, 3) RGB -> (B, H, W, 1) luma (Keras's weights); 1-channel images unchanged."""
    if images.shape[-1] == 1:
        return images
    return jnp.tensordot(images, jnp.asarray(_GRAY_WEIGHTS, images.dtype), axes=(-1, -1))[..., None]


def _rgb_to_hsv(images):
    eps = jnp.finfo(images.dtype).eps
    images = jnp.where(jnp.abs(images) < eps, 0.0, images)
    r, g, b = images[..., 0], images[..., 1], images[..., 2]
    value = jnp.maximum(jnp.maximum(r, g), b)
    spread = value - jnp.minimum(jnp.minimum(r, g), b)
    saturation = jnp.where(value > 0, spread / jnp.where(value > 0, value, 1.0), 0.0)
    norm = 1.0 / (6.0 * jnp.where(spread > 0, spread, 1.0))
    hue = jnp.where(value == g, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0)
    hue = jnp.where(value == r, norm * (g - b), hue)
    hue = jnp.where(spread > 0, hue, 0.0) + (hue < 0.0).astype(hue.dtype)
    return jnp.stack([hue, saturation, value], axis=-1)


def _hsv_to_rgb(images):
    h, s, v = images[..., 0], images[..., 1], images[..., 2]
    dh = jnp.mod(h, 1.0) * 6.0
    dr = jnp.clip(jnp.abs(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = jnp.clip(2.0 - jnp.abs(dh - 2.0), 0.0, 1.0)
    db = jnp.clip(2.0 - jnp.abs(dh - 4.0), 0.0, 1.0)
    return jnp.stack([v * (1.0 - s + s * d) for d in (dr, dg, db)], axis=-1)


def _depthwise_same(images, kernel2d):
    """Convolves each channel of (B, H, W, C) with the (kh, kw) kernel, zero 'same' padding."""
    c = images.shape[-1]
    kernel = jnp.tile(kernel2d.astype(images.dtype)[:, :, None, None], (1, 1, 1, c))
    return jax.lax.conv_general_dilated(images, kernel, (1, 1), "SAME",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"),
                                        feature_group_count=c)


def _uniform(key, shape, low, high):
    return jax.random.uniform(key, shape, minval=low, maxval=high)


# ------------------------------------------------------------------------ colour and more geometry
class RandomGrayscale(_ImageAugmentation):
    """Randomly turns images to grayscale (kept with their channel count) when training.

    Args:
        factor: the probability, in [0, 1], that an image is turned to grayscale (default 0.5).
        data_format: `"channels_last"` (default) or `"channels_first"`.
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)`, 1 or 3 channels.
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if not _is_number(factor) or not 0 <= factor <= 1:
            raise self._bad("factor", "a number between 0 and 1", factor)
        self.factor = factor

    def _check_images(self, spec):
        super()._check_images(spec)
        if spec.shape[-1 if self.data_format == "channels_last" else -3] not in (1, 3):
            raise ValueError(
                f"Layer '{self.name}' (RandomGrayscale) expects images with 1 or 3 channels, but "
                f"received shape {shape_str(spec.shape)}.")

    def _draw(self, rng, batch, height, width):
        return {"should_apply": (jax.random.uniform(rng, (batch,)) < self.factor)[:, None, None,
                                                                                   None]}

    def _transform(self, images, draws):
        return jnp.where(draws["should_apply"], _grayscale(images), images)

    def get_config(self):
        config = {**super().get_config(), "factor": self.factor}
        if self.seed is None:  # Keras writes no seed for this layer
            config.pop("seed")
        return config


class RandomColorDegeneration(_ImageAugmentation):
    """Randomly blends images towards their grayscale version when training.

    Each image becomes `x + u * (gray(x) - x)`, clipped to `value_range`, u drawn in the
    factor's range.

    Args:
        factor: a number f in [-1, 1] draws u in [-|f|, |f|]; a pair `(lower, upper)` in it.
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        data_format: `"channels_last"` (default) or `"channels_first"`.
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)`, 1 or 3 channels.
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = self._base_factor(factor)
        self.value_range = self._value_range(value_range, sort=True)

    def _draw(self, rng, batch, height, width):
        return {"factor": _uniform(rng, (batch, 1, 1, 1), *self.factor)}

    def _transform(self, images, draws):
        out = images + draws["factor"] * (_grayscale(images) - images)
        return jnp.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomHue(_ImageAugmentation):
    """Randomly shifts the hue of RGB images when training.

    The hue (in [0, 1), wrapping) moves by `+-u / 2`, u drawn in the factor's range and the
    sign drawn at random (Keras's convention).

    Args:
        factor: a number f in [0, 1] draws u in [0, f]; a pair `(lower, upper)` in it.
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        data_format: `"channels_last"` (default) or `"channels_first"`.
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        `(batch, height, width, 3)` or `(height, width, 3)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    _needs_rgb = True

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = self._base_factor(factor, (0, 1))
        self.value_range = self._value_range(value_range)

    def _draw(self, rng, batch, height, width):
        k1, k2 = jax.random.split(rng)
        sign = jnp.where(jax.random.uniform(k1, (batch,)) > 0.5, -1.0, 1.0)
        return {"factor": sign * _uniform(k2, (batch,), *self.factor) * 0.5}

    def _transform(self, images, draws):
        hsv = _rgb_to_hsv(_to_range(images, self.value_range, (0, 1)))
        h = hsv[..., 0] + draws["factor"].astype(images.dtype)[:, None, None]
        h = jnp.where(h > 1.0, h - 1.0, h)
        h = jnp.where(h < 0.0, h + 1.0, h)
        rgb = jnp.clip(_hsv_to_rgb(jnp.stack([h, hsv[..., 1], hsv[..., 2]], axis=-1)), 0, 1)
        return _to_range(rgb, (0, 1), self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomSaturation(_ImageAugmentation):
    """Randomly changes the saturation of RGB images when training.

    The HSV saturation is multiplied by `u / (1 - u)`, u drawn in the factor's range, and
    clipped to `value_range` (Keras's convention: u = 0.5 keeps the image, u -> 1 saturates
    fully, u <= 0 gives grayscale).

    Args:
        factor: a number f in [-1, 1] draws u in [-|f|, |f|]; a pair `(lower, upper)` in it.
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        data_format: `"channels_last"` (default) or `"channels_first"`.
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        `(batch, height, width, 3)` or `(height, width, 3)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    _needs_rgb = True

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = self._base_factor(factor)
        self.value_range = self._value_range(value_range, sort=True)

    def _draw(self, rng, batch, height, width):
        u = _uniform(rng, (batch,), *self.factor)
        return {"factor": u / (1.0 - u + 1e-7)}

    def _transform(self, images, draws):
        hsv = _rgb_to_hsv(images)
        s = jnp.clip(hsv[..., 1] * draws["factor"].astype(images.dtype)[:, None, None],
                     self.value_range[0], self.value_range[1])
        return _hsv_to_rgb(jnp.stack([hsv[..., 0], s, hsv[..., 2]], axis=-1))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomColorJitter(_ImageAugmentation):
    """Randomly changes brightness, contrast, saturation and hue, in that order, when training.

    Each given factor applies the layer of the same name (`RandomBrightness`,
    `RandomContrast`, `RandomSaturation`, `RandomHue`) with this layer's `value_range`.

    Args:
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        brightness_factor: `RandomBrightness`'s factor, or None to skip it.
        contrast_factor: `RandomContrast`'s factor, or None to skip it.
        saturation_factor: `RandomSaturation`'s factor, or None to skip it.
        hue_factor: `RandomHue`'s factor, or None to skip it.
        seed: optional integer folded into the `rng` given to `apply`.
        data_format: `"channels_last"` (default) or `"channels_first"`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)`; 3 channels when a
        saturation or hue factor is given.
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None,
                 saturation_factor=None, hue_factor=None, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = self._value_range(value_range)
        self.brightness_factor, self.contrast_factor = brightness_factor, contrast_factor
        self.saturation_factor, self.hue_factor = saturation_factor, hue_factor
        parts = []
        for cls, factor in ((RandomBrightness, brightness_factor),
                            (RandomContrast, contrast_factor),
                            (RandomSaturation, saturation_factor), (RandomHue, hue_factor)):
            if factor is not None:
                parts.append(cls(factor=factor, value_range=value_range,
                                 name=f"{self.name}_{cls.__name__}"))
        # plain helpers holding hyperparameters, not sublayers: kept out of the layer tree
        object.__setattr__(self, "_parts", tuple(parts))
        self._needs_rgb = saturation_factor is not None or hue_factor is not None

    def _draw(self, rng, batch, height, width):
        keys = jax.random.split(rng, 4)
        return tuple(p._draw(k, batch, height, width) for p, k in zip(self._parts, keys))

    def _transform(self, images, draws):
        for part, d in zip(self._parts, draws):
            images = part._transform(images, d)
        return images

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "brightness_factor": self.brightness_factor,
                "contrast_factor": self.contrast_factor,
                "saturation_factor": self.saturation_factor, "hue_factor": self.hue_factor}


class RandomInvert(_ImageAugmentation):
    """Randomly inverts images (`value_range[1] - x`) when training.

    Args:
        factor: the inversion probability p is drawn in [0, f] for a number f in [0, 1]
            (default 1.0), or in `(lower, upper)`; each image is inverted with probability p.
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        seed: optional integer folded into the `rng` given to `apply`.
        data_format: `"channels_last"` (default) or `"channels_first"`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = self._base_factor(factor, (0, 1))
        self.value_range = self._value_range(value_range)

    def _draw(self, rng, batch, height, width):
        k1, k2 = jax.random.split(rng)
        p = _uniform(k1, (batch,), *self.factor)
        return {"apply_inversion": jax.random.uniform(k2, (batch,)) < p}

    def _transform(self, images, draws):
        return jnp.where(draws["apply_inversion"][:, None, None, None],
                         self.value_range[1] - images, images)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomPosterization(_ImageAugmentation):
    """Randomly reduces the number of bits per channel when training.

    Values are mapped to [0, 255], keep their top `bits` bits (`bits` drawn in
    [lower, upper) per image, or exactly `lower` when both are equal) and are mapped back.

    Args:
        factor: an integer f in [1, 8] gives `(1, f)`; or a pair `(lower, upper)`.
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        data_format: `"channels_last"` (default) or `"channels_first"`.
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        values = factor if isinstance(factor, (tuple, list)) else (factor,)
        if len(values) not in (1, 2) or not all(
                isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 8 for v in values):
            raise self._bad("factor", "an integer or a pair of integers in [1, 8]", factor)
        self.factor = self._base_factor(factor, (1, 8))
        self.value_range = self._value_range(value_range, sort=True)

    def _draw(self, rng, batch, height, width):
        if self.factor[0] != self.factor[1]:
            bits = jax.random.randint(rng, (batch,), self.factor[0], self.factor[1])
        else:
            bits = jnp.full((batch,), self.factor[0], jnp.int32)
        return {"shift_factor": 8 - bits}

    def _transform(self, images, draws):
        shift = draws["shift_factor"].astype(jnp.int32)[:, None, None, None]
        x = _to_range(images, self.value_range, (0, 255)).astype(jnp.uint8).astype(jnp.int32)
        x = jnp.left_shift(jnp.right_shift(x, shift), shift).astype(images.dtype)
        return _to_range(x, (0, 255), self.value_range)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomSharpness(_ImageAugmentation):
    """Randomly sharpens or blurs images when training.

    Each image becomes `x + (1 - 2u) * (smooth(x) - x)`, clipped to `value_range`, with
    `smooth` a 3x3 smoothing filter and u drawn in the factor's range (u = 0.5 keeps it).

    Args:
        factor: a number f in [0, 1] draws u in [0, f]; a pair `(lower, upper)` in it.
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        data_format: `"channels_last"` (default) or `"channels_first"`.
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = self._base_factor(factor, (0, 1))
        self.value_range = self._value_range(value_range, sort=True)

    def _draw(self, rng, batch, height, width):
        return {"factor": _uniform(rng, (batch,), *self.factor)}

    def _transform(self, images, draws):
        s = (draws["factor"] * 2).astype(images.dtype)[:, None, None, None]
        a, b = 1.0 / 13.0, 5.0 / 13.0
        kernel = jnp.asarray([[a, a, a], [a, b, a], [a, a, a]], images.dtype)
        out = images + (1.0 - s) * (_depthwise_same(images, kernel) - images)
        return jnp.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class Solarization(_ImageAugmentation):
    """Randomly solarizes images when training: values above a threshold are inverted.

    Values are mapped to [0, 255], shifted up by a drawn addition (clipped to [0, 255]), and
    those at or above a drawn threshold become `255 - x`; then mapped back. The addition is
    drawn in [lower, upper * 255] of `addition_factor`, the threshold likewise (Keras's
    convention; the defaults 0 invert every pixel).

    Args:
        addition_factor: a number f in [0, 1] gives `(0, f)`; or a pair `(lower, upper)`.
        threshold_factor: the same for the threshold.
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        seed: optional integer folded into the `rng` given to `apply`.
        data_format: `"channels_last"` (default) or `"channels_first"`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255),
                 seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.addition_factor = self._unit_factor(addition_factor, "addition_factor")
        self.threshold_factor = self._unit_factor(threshold_factor, "threshold_factor")
        self.value_range = self._value_range(value_range, sort=True)

    def _unit_factor(self, factor, arg):
        lower, upper = self._range_factor(factor, arg, 0.0, 1.0)
        return (lower, upper) if isinstance(factor, (tuple, list)) else (0, factor)

    def _draw(self, rng, batch, height, width):
        k1, k2 = jax.random.split(rng)
        shape = (batch, 1, 1, 1)
        return {"additions": _uniform(k1, shape, self.addition_factor[0],
                                      self.addition_factor[1] * 255),
                "thresholds": _uniform(k2, shape, self.threshold_factor[0],
                                       self.threshold_factor[1] * 255)}

    def _transform(self, images, draws):
        x = jnp.clip(_to_range(images, self.value_range, (0, 255)) + draws["additions"], 0, 255)
        x = jnp.where(x < draws["thresholds"], x, 255 - x)
        return _to_range(x, (0, 255), self.value_range)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "addition_factor": self.addition_factor,
                "threshold_factor": self.threshold_factor}


class AutoContrast(_ImageAugmentation):
    """Stretches each channel of each image to the full `value_range` (not random).

    As in Keras, the layer applies in training and at inference alike: per image and channel,
    values go from [min, max] to [0, 255] in the `(0, 255)` scale, then back to `value_range`.
    Constant channels are left unchanged.

    Args:
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        data_format: `"channels_last"` (default) or `"channels_first"`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    _random = False
    _has_seed = False

    def __init__(self, value_range=(0, 255), data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = self._value_range(value_range, sort=True)

    def _draw(self, rng, batch, height, width):
        return {}

    def _transform(self, images, draws):
        x = _to_range(images, self.value_range, (0, 255))
        low = jnp.min(x, axis=(1, 2), keepdims=True)
        high = jnp.max(x, axis=(1, 2), keepdims=True)
        scale = 255.0 / (high - low)
        out = jnp.clip(x * scale - low * scale, 0.0, 255.0)
        out = _to_range(out, (0, 255), self.value_range)
        return jnp.where(jnp.isnan(out), images, out)

    def _inference(self, images):
        return self._transform(images, {})

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range}


class Equalization(_ImageAugmentation):
    """Equalizes the histogram of each channel when training (not random).

    As Keras, the histogram of a channel is taken over the whole batch (`bins` bins of the
    `(0, 255)` scale) and the values are mapped through its normalized cumulative sum.
    Identity at inference, as in Keras.

    Args:
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        bins: the number of histogram bins (default 256).
        data_format: `"channels_last"` (default) or `"channels_first"`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    _random = False
    _has_seed = False

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        if not isinstance(bins, int) or isinstance(bins, bool) or bins < 2:
            raise self._bad("bins", "an integer of at least 2", bins)
        self.bins = bins
        self.value_range = self._value_range(value_range, sort=True)

    def _draw(self, rng, batch, height, width):
        return {}

    def _equalize(self, channel):
        lo, hi = self.value_range
        scale = 255.0 / (hi - lo)
        channel = channel * scale + (0.0 - lo * scale)
        idx = jnp.clip((channel * (self.bins - 1) / 255.0).astype(jnp.int32), 0, self.bins - 1)
        hist = jnp.bincount(idx.reshape(-1), length=self.bins)
        cdf = jnp.cumsum(hist)
        cdf_min = cdf[jnp.argmax(cdf > 0)]
        denominator = cdf[-1] - cdf_min
        denominator = jnp.where(denominator == 0, 1, denominator)
        lut = jnp.clip(jnp.round((cdf - cdf_min) * 255 / denominator), 0, 255)
        lookup = jnp.clip(channel / 255.0 * (self.bins - 1), 0, self.bins - 1).astype(jnp.int32)
        out = jnp.where(jnp.count_nonzero(hist) <= 1, channel, lut[lookup].astype(channel.dtype))
        back = (hi - lo) / 255.0
        return out * back + (lo - 0.0 * back)

    def _transform(self, images, draws):
        return jnp.stack([self._equalize(images[..., i]) for i in range(images.shape[-1])],
                         axis=-1)

    def get_config(self):
        return {**super().get_config(), "bins": self.bins, "value_range": self.value_range}


class ContrastLimitedAdaptiveHistogramEqualization(_ImageAugmentation):
    """Contrast Limited Adaptive Histogram Equalization (CLAHE), in training and inference alike.

    As Keras: the images (mapped from `value_range` to [0, 255]) are cut into
    `tile_grid_size` tiles (the bottom and right edges padded by reflection so the tiles are
    equal); each tile's histogram of the integer parts of its values (256 bins) is clipped at
    `clip_limit * tile_pixels / 256`, the excess spread evenly over the bins, and its
    normalized cumulative sum gives the tile's mapping. Each pixel's value is the bilinear
    blend of the mappings of the four nearest tile centres (edge tiles repeated), mapped back
    to `value_range`. Not random: the layer has no seed.

    Args:
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        clip_limit: the contrast limit (default 4.0); 0 or less disables the clipping.
        tile_grid_size: `(rows, cols)` of tiles (default `(8, 8)`).
        data_format: `"channels_last"` (default) or `"channels_first"`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype (Keras returns the input's dtype,
        truncating integer images; kerasx keeps the fractional values).
    """

    _random = False
    _has_seed = False
    _boxes = None  # as Keras

    def __init__(self, value_range=(0, 255), clip_limit=4.0, tile_grid_size=(8, 8),
                 data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range = self._value_range(value_range)
        if not _is_number(clip_limit):
            raise self._bad("clip_limit", "a number", clip_limit)
        self.clip_limit = clip_limit
        if not isinstance(tile_grid_size, (tuple, list)) or len(tile_grid_size) != 2 or not all(
                isinstance(v, int) and not isinstance(v, bool) and v > 0
                for v in tile_grid_size):
            raise self._bad("tile_grid_size", "a pair of positive integers (rows, cols)",
                            tile_grid_size)
        self.tile_grid_size = tile_grid_size

    def _draw(self, rng, batch, height, width):
        return {}

    def _inference(self, images):
        return self._transform(images, {})

    def _transform(self, images, draws):
        return _clahe(images, tuple(self.value_range), float(self.clip_limit),
                      tuple(self.tile_grid_size))

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "clip_limit": self.clip_limit, "tile_grid_size": self.tile_grid_size}


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _clahe(images, value_range, clip_limit, tile_grid_size):
    """CLAHE of channels-last (B, H, W, C) images; jitted per hyperparameters and shape
    (so eager calls compile once, not op by op)."""
    x = _to_range(images.astype(jnp.float32), value_range, (0, 255))
    b, h, w, c = x.shape
    gh, gw = tile_grid_size
    th, tw = -(-h // gh), -(-w // gw)
    if th * gh != h or tw * gw != w:
        x = jnp.pad(x, ((0, 0), (0, th * gh - h), (0, tw * gw - w), (0, 0)),
                    mode="symmetric")
    # one 256-bin histogram per (image, tile row, tile col, channel), by a scatter-add
    values = jnp.clip(x.astype(jnp.int32), 0, 255)
    tiles = values.reshape(b, gh, th, gw, tw, c).transpose(0, 1, 3, 5, 2, 4)
    tiles = tiles.reshape(b * gh * gw * c, th * tw)
    flat = tiles + (jnp.arange(b * gh * gw * c, dtype=jnp.int32) * 256)[:, None]
    hist = jnp.bincount(flat.reshape(-1), length=b * gh * gw * c * 256)
    hist = hist.reshape(b, gh, gw, c, 256).astype(jnp.float32)
    if clip_limit > 0:
        clipped = jnp.clip(hist, 0, clip_limit * (th * tw) / 256.0)
        hist = clipped + jnp.sum(hist - clipped, axis=-1, keepdims=True) / 256.0
    cdf = jnp.cumsum(hist, axis=-1)
    cdf_min = jnp.min(cdf, axis=-1, keepdims=True)
    denominator = th * tw - cdf_min
    denominator = jnp.where(denominator == 0, 1.0, denominator)
    lut = jnp.clip((cdf - cdf_min) * 255.0 / denominator, 0, 255)
    lut = jnp.pad(lut, ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0)), mode="edge")

    def grid(n, tile, tiles_n):  # the two neighbouring tile centres and the blend weight
        pos = (jnp.arange(n * tiles_n, dtype=jnp.float32) - tile / 2.0) / tile + 1.0
        low = jnp.floor(pos)
        weight = pos - low
        return (jnp.clip(low, 0, tiles_n + 1).astype(jnp.int32),
                jnp.clip(low + 1, 0, tiles_n + 1).astype(jnp.int32), weight)

    y0, y1, wy = grid(th, th, gh)
    x0, x1, wx = grid(tw, tw, gw)
    pixels = jnp.clip(x, 0, 255).astype(jnp.int32)
    bi = jnp.arange(b)[:, None, None, None]
    ci = jnp.arange(c)[None, None, None, :]

    def at(yy, xx):
        return lut[bi, yy[None, :, None, None], xx[None, None, :, None], ci, pixels]

    wx, wy = wx[None, None, :, None], wy[None, :, None, None]
    top = at(y0, x0) * (1.0 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1.0 - wx) + at(y1, x1) * wx
    out = (top * (1.0 - wy) + bottom * wy)[:, :h, :w, :]
    return _to_range(out, (0, 255), value_range)


class MaxNumBoundingBoxes(_ImageAugmentation):
    """Pads or truncates the bounding boxes of each image to exactly `max_number`.

    Takes Keras's dict `{"images": ..., "bounding_boxes": {"boxes": (batch, N, 4), "labels":
    (batch, N)}, ...}`: the first `max_number` boxes and labels are kept and missing ones are
    filled with `fill_value`, so that batches have a static shape. Images and the other
    entries pass through unchanged, in training and inference alike. As Keras, a
    `bounding_box_format` must be given for inputs with boxes (any format: the boxes are not
    moved).

    Args:
        max_number: the number of boxes per image in the output.
        fill_value: the value of padding boxes and labels (default -1).
        bounding_box_format: the boxes' format (e.g. `"xyxy"`).
        data_format: `"channels_last"` (default) or `"channels_first"`.

    Input shape:
        A dict as above (or a single image's `(N, 4)` boxes and `(N,)` labels), or images.
    Output shape:
        The same dict with boxes `(batch, max_number, 4)` (float32) and labels
        `(batch, max_number)`.
    """

    _random = False
    _has_seed = False

    def __init__(self, max_number, fill_value=-1, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(max_number, int) or isinstance(max_number, bool) or max_number < 1:
            raise self._bad("max_number", "a positive integer", max_number)
        if not _is_number(fill_value) or int(fill_value) != fill_value:
            raise self._bad("fill_value", "an integer", fill_value)
        self.max_number, self.fill_value = max_number, int(fill_value)

    def _resize(self, x, axis):
        x = jax.lax.slice_in_dim(x, 0, min(self.max_number, x.shape[axis]), axis=axis)
        widths = [(0, 0)] * x.ndim
        widths[axis] = (0, self.max_number - x.shape[axis])
        return jnp.pad(x, widths, constant_values=jnp.asarray(self.fill_value, x.dtype))

    def output_spec(self, input_spec):
        self._check_input(input_spec)
        if not isinstance(input_spec, dict):
            return _spec_of(input_spec)
        specs = _spec_of(dict(input_spec))
        if "bounding_boxes" in specs:
            boxes, labels = specs["bounding_boxes"]["boxes"], specs["bounding_boxes"]["labels"]
            axis = len(boxes.shape) - 2
            bshape, lshape = list(boxes.shape), list(labels.shape)
            bshape[axis] = lshape[axis] = self.max_number
            specs["bounding_boxes"] = {
                **specs["bounding_boxes"],
                "boxes": jax.ShapeDtypeStruct(tuple(bshape), jnp.float32),
                "labels": jax.ShapeDtypeStruct(tuple(lshape), labels.dtype)}
        return specs

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_input(inputs)
        out = jax.tree.map(jnp.asarray, inputs)
        if isinstance(inputs, dict) and "bounding_boxes" in inputs:
            boxes = out["bounding_boxes"]["boxes"].astype(jnp.float32)
            axis = boxes.ndim - 2
            out["bounding_boxes"] = {
                **out["bounding_boxes"], "boxes": self._resize(boxes, axis),
                "labels": self._resize(out["bounding_boxes"]["labels"], axis)}
        return out, state

    def get_config(self):
        config = {**super().get_config(), "max_number": self.max_number}
        if self.fill_value != -1:  # Keras writes no fill_value (and loses it); kerasx keeps it
            config["fill_value"] = self.fill_value
        return config


class RandomErasing(_ImageAugmentation):
    """Randomly erases a rectangle of each image when training (Zhong et al., 2017).

    The rectangle's sides are `sqrt(s) * side`, s drawn in `scale` per side, at a random
    position; the erased pixels take `fill_value` (or Gaussian noise times `value_range[1]`
    when it is None), clipped to `value_range`. Each image is erased with a probability drawn
    in the factor's range.

    Args:
        factor: a number f in [0, 1] (default 1.0) gives the range `(0, f)`; or a pair.
        scale: the range of the erased area's fraction per side before the square root, a
            number f in [0, 1] giving `(0, f)` or a pair (default `(0.02, 0.33)`).
        fill_value: None (noise), a number, or a list of one number per channel (3).
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        seed: optional integer folded into the `rng` given to `apply`.
        data_format: `"channels_last"` (default) or `"channels_first"`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255),
                 seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = self._base_factor(factor, (0, 1))
        self.scale = self._base_factor(scale, (0, 1), arg="scale")
        if fill_value is not None and not _is_number(fill_value) and not (
                isinstance(fill_value, (tuple, list)) and len(fill_value) == 3
                and all(_is_number(v) for v in fill_value)):
            raise self._bad("fill_value", "None, a number or a list of three numbers",
                            fill_value)
        self.fill_value = fill_value
        self.value_range = self._value_range(value_range)

    def _draw(self, rng, batch, height, width):
        k = jax.random.split(rng, 6)
        mix = jnp.sqrt(_uniform(k[0], (batch, 2), *self.scale))

        def bounds(key, length, ratio):
            size = ratio * length
            start = jax.random.uniform(key, (batch,)) * (length - size)
            return start, start + size

        x0, x1 = bounds(k[1], width, mix[:, 0])
        y0, y1 = bounds(k[2], height, mix[:, 1])
        gy, gx = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32),
                              jnp.arange(width, dtype=jnp.float32), indexing="ij")
        c = lambda v: v[:, None, None, None]  # noqa: E731
        masks = ((gx[None, :, :, None] >= c(x0)) & (gx[None, :, :, None] < c(x1))
                 & (gy[None, :, :, None] >= c(y0)) & (gy[None, :, :, None] < c(y1)))
        p = _uniform(k[3], (batch,), *self.factor)
        draws = {"apply_erasing": jax.random.uniform(k[4], (batch,)) < p, "batch_masks": masks}
        if self.fill_value is None:
            draws["noise_key"] = k[5]
        return draws

    def _transform(self, images, draws):
        if self.fill_value is None:
            fill = jax.random.normal(draws["noise_key"], images.shape, images.dtype) \
                * self.value_range[1]
        else:
            fill = jnp.broadcast_to(jnp.asarray(self.fill_value, images.dtype), images.shape)
        fill = jnp.clip(fill, self.value_range[0], self.value_range[1])
        erased = jnp.where(draws["batch_masks"], fill, images)
        return jnp.where(draws["apply_erasing"][:, None, None, None], erased, images)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "fill_value": self.fill_value, "value_range": self.value_range}


class RandomGaussianBlur(_ImageAugmentation):
    """Randomly blurs images with a Gaussian filter when training.

    One pair of standard deviations (x, y) is drawn per call in `sigma`'s range; each image is
    blurred with a probability drawn in the factor's range (zero 'same' padding), and the
    result is clipped to `value_range`.

    Args:
        factor: a number f in [0, 1] (default 1.0) gives the range `(0, f)`; or a pair.
        kernel_size: an odd integer or a pair of odd integers `(width, height)` (default 3).
        sigma: a number f in [0, 1] (default 1.0) gives the range `(0, f)`; or a pair.
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        data_format: `"channels_last"` (default) or `"channels_first"`.
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255),
                 data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = self._base_factor(factor, (0, 1))
        sizes = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size,) * 2
        if len(sizes) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                      and v % 2 == 1 for v in sizes):
            raise self._bad("kernel_size", "an odd positive integer or a pair of them",
                            kernel_size)
        self.kernel_size = sizes
        self.sigma = self._base_factor(sigma, (0, 1), arg="sigma")
        self.value_range = self._value_range(value_range)

    def _draw(self, rng, batch, height, width):
        k1, k2, k3 = jax.random.split(rng, 3)
        p = _uniform(k1, (batch,), *self.factor)
        return {"should_apply_blur": jax.random.uniform(k2, (batch,)) < p,
                "blur_factor": _uniform(k3, (2,), *self.sigma) + 1e-6}

    def _transform(self, images, draws):
        sigma = draws["blur_factor"].astype(images.dtype)

        def kernel1d(size, s):
            x = jnp.arange(size, dtype=images.dtype) - (size - 1) / 2
            k = jnp.exp(-0.5 * (x / s) ** 2)
            return k / jnp.sum(k)

        kernel = jnp.outer(kernel1d(self.kernel_size[1], sigma[1]),
                           kernel1d(self.kernel_size[0], sigma[0]))
        blurred = _depthwise_same(images, kernel)
        out = jnp.where(draws["should_apply_blur"][:, None, None, None], blurred, images)
        return jnp.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "kernel_size": self.kernel_size,
                "sigma": self.sigma, "value_range": self.value_range}


class RandomShear(_AffineAugmentation):
    """Randomly shears images along x and/or y when training.

    The output pixel (x, y) samples the input at `(x + sx * y, y + sy * x)` (shear about the
    top-left corner, as Keras), with sx, sy drawn in the factors' ranges and one random sign
    per image.

    Args:
        x_factor: a number f in [0, 1] draws sx in [-f, f]; a pair `(lower, upper)` draws it in
            that range (Keras allows only [0, 1] there; kerasx also takes [-1, 0), so that the
            `(-f, f)` pairs of configs load).
        y_factor: the same for sy.
        interpolation: `"bilinear"` (default) or `"nearest"`.
        fill_mode: `"reflect"` (default), `"wrap"`, `"constant"` or `"nearest"`.
        fill_value: the value outside the image with `fill_mode="constant"`.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        bounding_box_format: the format of the boxes of dict inputs (see RandomFlip),
            or None (default).
        seed: optional integer folded into the `rng` given to `apply`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    _boxes = "move"

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, data_format=None, seed=None, **kwargs):
        super().__init__(fill_mode=fill_mode, interpolation=interpolation, seed=seed,
                         fill_value=fill_value, data_format=data_format, **kwargs)
        self.x_factor = self._shear_factor(x_factor, "x_factor")
        self.y_factor = self._shear_factor(y_factor, "y_factor")

    def _shear_factor(self, factor, arg):
        # A number must lie in [0, 1] as in Keras; a pair may reach down to -1, so that the
        # `(-f, f)` pairs that get_config writes (Keras's too) load again.
        if isinstance(factor, (tuple, list)):
            return self._range_factor(factor, arg, -1.0, 1.0)
        return self._range_factor(factor, arg, 0.0, 1.0)

    def _draw(self, rng, batch, height, width):
        k1, k2, k3 = jax.random.split(rng, 3)
        sign = jnp.where(jax.random.uniform(k1, (batch,)) > 0.5, -1.0, 1.0)
        sy = _uniform(k2, (batch,), *self.y_factor) * sign
        sx = _uniform(k3, (batch,), *self.x_factor) * sign
        zeros, ones = jnp.zeros((batch,)), jnp.ones((batch,))
        return {"shear_factor": jnp.stack([sx, sy], axis=1),
                "transform": jnp.stack([ones, sx, zeros, sy, ones, zeros, zeros, zeros], axis=1)}

    def _move_boxes(self, boxes, draws, height, width):
        # output (x, y) shows input (x + sx y, y + sy x): a box's corners move by -sx y along
        # x, then by -sy x along y; each side keeps its outermost corner (Keras's rule, taken
        # in pixels where Keras takes it in fractions of the size, the same for square images)
        sx, sy = draws["shear_factor"][:, 0:1], draws["shear_factor"][:, 1:2]
        x1, y1, x2, y2 = (boxes[..., i] for i in range(4))
        x1, x2 = (jnp.where(sx < 0, x1 - sx * y1, x1 - sx * y2),
                  jnp.where(sx < 0, x2 - sx * y2, x2 - sx * y1))
        y1, y2 = (jnp.where(sy > 0, y1 - sy * x2, y1 - sy * x1),
                  jnp.where(sy > 0, y2 - sy * x1, y2 - sy * x2))
        return jnp.stack([x1, y1, x2, y2], axis=-1), height, width

    def get_config(self):
        return {**super().get_config(), "x_factor": self.x_factor, "y_factor": self.y_factor}


# ------------------------------------------------------------------------- warps, mixing, policies
class RandomPerspective(_ImageAugmentation):
    """Randomly applies a perspective warp to images when training.

    The four corners move by up to `scale / 2` of their coordinates (corner (x, y) goes to
    `(x, y) * (1 + u)`, u drawn per coordinate in [-scale/2, scale/2]); the image is resampled
    through the homography between the corners, with `fill_value` outside. Each image is warped
    with a probability drawn in the factor's range.

    Args:
        factor: a number f in [0, 1] (default 1.0) gives the range `(0, f)`; or a pair.
        scale: the strength of the warp, in [0, 1] (default 1.0).
        interpolation: `"bilinear"` (default) or `"nearest"`.
        fill_value: the value outside the image.
        seed: optional integer folded into the `rng` given to `apply`.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        bounding_box_format: the format of the boxes of dict inputs (see RandomFlip),
            or None (default).

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    _boxes = "move"

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0, seed=None,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = self._base_factor(factor, (0, 1))
        if not _is_number(scale) or not 0 <= scale <= 1:
            raise self._bad("scale", "a number in [0, 1]", scale)
        self.scale = scale
        self.interpolation = self._choice("interpolation", interpolation, _INTERPOLATIONS)
        if not _is_number(fill_value):
            raise self._bad("fill_value", "a number", fill_value)
        self.fill_value = fill_value

    def _draw(self, rng, batch, height, width):
        k1, k2, k3 = jax.random.split(rng, 3)
        p = _uniform(k1, (batch,), *self.factor)
        apply = jax.random.uniform(k2, (batch,)) < p
        u = _uniform(k3, (batch, 4, 2), -0.5 * self.scale, 0.5 * self.scale)
        start = jnp.broadcast_to(jnp.asarray(
            [[0.0, 0.0], [width - 1, 0.0], [0.0, height - 1], [width - 1, height - 1]],
            jnp.float32), (batch, 4, 2))
        return {"apply_perspective": apply, "start_points": start, "end_points": start + start * u}

    @staticmethod
    def _homography(start, end):
        """(B, 8) transforms mapping output points `end` to input points `start`."""
        sx, sy, ex, ey = start[..., 0], start[..., 1], end[..., 0], end[..., 1]
        zeros, ones = jnp.zeros_like(ex), jnp.ones_like(ex)
        x_rows = jnp.stack([ex, ey, ones, zeros, zeros, zeros, -sx * ex, -sx * ey], axis=-1)
        y_rows = jnp.stack([zeros, zeros, zeros, ex, ey, ones, -sy * ex, -sy * ey], axis=-1)
        a = jnp.concatenate([x_rows, y_rows], axis=1)
        b = jnp.concatenate([sx, sy], axis=-1)[..., None]
        return jnp.linalg.solve(a, b)[..., 0]

    def _transform(self, images, draws):
        transform = self._homography(draws["start_points"].astype(jnp.float32),
                                     draws["end_points"].astype(jnp.float32))
        warped = _affine_transform(images, transform, self.interpolation, "constant",
                                   self.fill_value)
        return jnp.where(draws["apply_perspective"][:, None, None, None], warped, images)

    def _transform_masks(self, masks, draws):
        transform = self._homography(draws["start_points"].astype(jnp.float32),
                                     draws["end_points"].astype(jnp.float32))
        warped = _affine_transform(masks, transform, "nearest", "constant", self.fill_value)
        return jnp.where(draws["apply_perspective"][:, None, None, None], warped, masks)

    def _move_boxes(self, boxes, draws, height, width):
        # the images sample input points through the homography: boxes go through its inverse,
        # each the box around its four moved corners
        transform = self._homography(draws["start_points"].astype(jnp.float32),
                                     draws["end_points"].astype(jnp.float32))
        ones = jnp.ones_like(transform[:, :1])
        inverse = jnp.linalg.inv(jnp.concatenate([transform, ones], axis=1).reshape(-1, 3, 3))
        x1, y1, x2, y2 = (boxes[..., i] for i in range(4))
        points = jnp.stack([jnp.stack([x1, x2, x1, x2], axis=-1),
                            jnp.stack([y1, y2, y2, y1], axis=-1),
                            jnp.ones(x1.shape + (4,), boxes.dtype)], axis=-1)  # (B, N, 4, 3)
        moved = jnp.einsum("bij,bnkj->bnki", inverse, points)
        xs, ys = moved[..., 0] / moved[..., 2], moved[..., 1] / moved[..., 2]
        new = jnp.stack([xs.min(-1), ys.min(-1), xs.max(-1), ys.max(-1)], axis=-1)
        return jnp.where(draws["apply_perspective"][:, None, None], new, boxes), height, width

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


class _MixingAugmentation(_ImageAugmentation):
    """Mixes each image with another image of the batch; takes Keras's dicts `{"images",
    "labels", "bounding_boxes", "segmentation_masks"}` too and then mixes the labels in the
    same proportions (the boxes and masks as each layer says)."""

    _mixes_boxes = True  # CutMix: False (bounding boxes raise, as in Keras)

    def _check_input(self, spec):
        if not isinstance(spec, dict):
            return super()._check_input(spec)
        where = f"Layer '{self.name}' ({type(self).__name__})"
        if "bounding_boxes" in spec and not self._mixes_boxes:
            raise NotImplementedError(
                f"{where} does not transform bounding boxes (neither does Keras's).")
        super()._check_input(spec)
        images = spec["images"]
        if "labels" in spec and len(images.shape) == 4 and (
                len(spec["labels"].shape) < 1 or spec["labels"].shape[0] != images.shape[0]):
            raise ValueError(
                f"{where} needs one label row per image. Received images of shape "
                f"{shape_str(images.shape)} and labels of shape "
                f"{shape_str(spec['labels'].shape)}.")

    def init(self, rng, input_spec):
        self._check_input(input_spec)
        return {}, {}

    def output_spec(self, input_spec):
        """The inference shapes (when training, MixUp doubles the number of boxes)."""
        self._check_input(input_spec)
        if not isinstance(input_spec, dict):
            return jax.ShapeDtypeStruct(tuple(input_spec.shape), self.compute_dtype)
        out = {k: _spec_of(v) for k, v in input_spec.items()}
        out["images"] = jax.ShapeDtypeStruct(tuple(input_spec["images"].shape),
                                             self.compute_dtype)
        if "labels" in out:
            out["labels"] = jax.ShapeDtypeStruct(out["labels"].shape, self.compute_dtype)
        if "bounding_boxes" in out:
            boxes = out["bounding_boxes"]["boxes"]
            out["bounding_boxes"]["boxes"] = jax.ShapeDtypeStruct(boxes.shape, jnp.float32)
        return out

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self._check_input(inputs)
        if not isinstance(inputs, dict):
            return self._run(inputs, training, rng)[0], state
        out = {k: jax.tree.map(jnp.asarray, v) for k, v in inputs.items()}
        out["images"], draws = self._run(inputs["images"], training, rng)
        batched = jnp.ndim(inputs["images"]) == 4
        if "labels" in inputs:
            labels = out["labels"].astype(self.compute_dtype)
            if draws is not None and labels.ndim >= 1 and batched:
                labels = self._mix_labels(labels, draws)
            out["labels"] = labels
        if "bounding_boxes" in inputs:
            boxes = dict(out["bounding_boxes"])
            boxes["boxes"] = boxes["boxes"].astype(jnp.float32)
            out["bounding_boxes"] = self._mix_boxes(boxes, draws, batched) if training else boxes
        if "segmentation_masks" in inputs and draws is not None and batched:
            out["segmentation_masks"] = self._mix_masks(out["segmentation_masks"], draws)
        return out, state

    def _mix_labels(self, labels, draws):
        w = draws["mix_weight"].reshape((-1,) + (1,) * (labels.ndim - 1)).astype(labels.dtype)
        return w * labels + (1.0 - w) * labels[draws["permutation_order"]]

    def _mix_boxes(self, bounding_boxes, draws, batched):
        raise NotImplementedError

    def _mix_masks(self, masks, draws):
        """Batched masks (data_format layout) mixed as their images were."""
        raise NotImplementedError


class MixUp(_MixingAugmentation):
    """Mixes each image with a random other image of the batch when training (MixUp).

    Image i becomes `w * x[i] + (1 - w) * x[perm[i]]`, w drawn from Beta(alpha, alpha) per
    image and `perm` a random permutation of the batch. Given Keras's dict `{"images": ...,
    "labels": ..., "bounding_boxes": {"boxes": ..., "labels": ...}, "segmentation_masks": ...}`,
    the labels and masks are mixed with the same weights (masks become the layer's dtype), and
    each image keeps its boxes and gets its partner's appended (as Keras: `(batch, 2 N, 4)`
    boxes in `bounding_box_format`, and `(batch, 2 N)` box labels).

    Args:
        alpha: the Beta distribution's parameter (default 0.2).
        data_format: `"channels_last"` (default) or `"channels_first"`.
        seed: optional integer folded into the `rng` given to `apply`.
        bounding_box_format: the format of the boxes of dict inputs (e.g. `"xyxy"`), needed
            when they have boxes.

    Input shape:
        `(batch, height, width, channels)` images, or a dict of them with `labels` of shape
        `(batch, ...)`.
    Output shape:
        Same as the input, in the layer's dtype (twice the boxes when training).
    """

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if not _is_number(alpha) or alpha <= 0:
            raise self._bad("alpha", "a positive number", alpha)
        self.alpha = alpha

    def _draw(self, rng, batch, height, width):
        k1, k2 = jax.random.split(rng)
        return {"permutation_order": jax.random.permutation(k1, batch),
                "mix_weight": jax.random.beta(k2, self.alpha, self.alpha, (batch,))}

    def _transform(self, images, draws):
        w = draws["mix_weight"].astype(images.dtype)[:, None, None, None]
        return w * images + (1.0 - w) * images[draws["permutation_order"]]

    def _mix_boxes(self, bounding_boxes, draws, batched):
        # Keras: each image keeps its boxes and gets its partner's after them; a single image
        # is its own partner
        out = dict(bounding_boxes)
        boxes, labels = bounding_boxes["boxes"], bounding_boxes["labels"]
        if not batched:
            out["boxes"] = jnp.concatenate([boxes, boxes], axis=0)
            out["labels"] = jnp.concatenate([labels, labels], axis=0)
            return out
        perm = draws["permutation_order"]
        out["boxes"] = jnp.concatenate([boxes, boxes[perm]], axis=1)
        out["labels"] = jnp.concatenate([labels, labels[perm]], axis=1)
        return out

    def _mix_masks(self, masks, draws):
        masks = masks.astype(self.compute_dtype)
        w = draws["mix_weight"].astype(masks.dtype)[:, None, None, None]
        return w * masks + (1.0 - w) * masks[draws["permutation_order"]]

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


class CutMix(_MixingAugmentation):
    """Pastes a random rectangle of another image of the batch into each image when training.

    The rectangle's sides are `sqrt(1 - w)` of the image's, w drawn from Beta(a, a) with a
    drawn in the factor's range; the partner image comes from a random permutation of the
    batch. Given a dict `{"images": ..., "labels": ..., "segmentation_masks": ...}`, the labels
    are mixed in proportion to the pasted area and the masks get the same rectangle pasted
    (they keep their dtype); bounding boxes are not supported (as in Keras). Single (unbatched)
    images are left unchanged, as in Keras.

    Args:
        factor: a number f in [0, 1] (default 1.0) gives the range `(0, f)`; or a pair.
        seed: optional integer folded into the `rng` given to `apply`.
        data_format: `"channels_last"` (default) or `"channels_first"`.

    Input shape:
        `(batch, height, width, channels)` images, or a dict of them with `labels` of shape
        `(batch, ...)`.
    Output shape:
        Same as the input, in the layer's dtype.
    """

    _mixes_boxes = False  # as Keras: CutMix does not transform bounding boxes

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = self._base_factor(factor, (0, 1))

    def _run(self, inputs, training, rng):
        if jnp.ndim(inputs) == 3:  # Keras: no mixing partner for a single image
            return super()._run(inputs, False, rng)
        return super()._run(inputs, training, rng)

    def _draw(self, rng, batch, height, width):
        k = jax.random.split(rng, 5)
        alpha = _uniform(k[0], (), *self.factor) + 1e-6
        ratio = jnp.sqrt(1.0 - jax.random.beta(k[1], alpha, alpha, (batch,)))

        def bounds(key, length):
            size = ratio * length
            start = jax.random.uniform(key, (batch,)) * (length - size)
            return start, start + size

        x0, x1 = bounds(k[2], width)
        y0, y1 = bounds(k[3], height)
        gy, gx = jnp.meshgrid(jnp.arange(height, dtype=jnp.float32),
                              jnp.arange(width, dtype=jnp.float32), indexing="ij")
        c = lambda v: v[:, None, None, None]  # noqa: E731
        masks = ((gx[None, :, :, None] >= c(x0)) & (gx[None, :, :, None] < c(x1))
                 & (gy[None, :, :, None] >= c(y0)) & (gy[None, :, :, None] < c(y1)))
        return {"permutation_order": jax.random.permutation(k[4], batch), "batch_masks": masks,
                "mix_weight": 1.0 - (x1 - x0) * (y1 - y0) / (width * height)}

    def _transform(self, images, draws):
        return jnp.where(draws["batch_masks"], images[draws["permutation_order"]], images)

    def _mix_masks(self, masks, draws):
        pasted = draws["batch_masks"]
        if self.data_format == "channels_first":
            pasted = jnp.transpose(pasted, (0, 3, 1, 2))
        return jnp.where(pasted, masks[draws["permutation_order"]], masks)

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class RandomElasticTransform(_ImageAugmentation):
    """Randomly distorts images with a smooth random displacement field when training.

    A distortion strength d is drawn in `scale`'s range per call; each pixel is displaced by
    `alpha * blur(noise)`, with `alpha = 0.1 * d * max(height, width)`, Gaussian noise of
    standard deviation `sigma = 0.05 * d * min(height, width)` blurred by a Gaussian of that
    sigma. Each image is distorted with a probability drawn in the factor's range; results are
    clipped to `value_range`.

    Differences from Keras 3 (whose layer does not run under jit): the blur kernel has the
    static size `int(6 * sigma_max) | 1` for the largest sigma of `scale` (a larger kernel only
    adds near-zero taps), and the x and y displacements are drawn independently (Keras draws
    them from the same seed, so they are equal).

    Args:
        factor: a number f in [0, 1] (default 1.0) gives the range `(0, f)`; or a pair.
        scale: the distortion strength, a number f in [0, 1] (default 1.0) giving `(0, f)`,
            or a pair.
        interpolation: `"bilinear"` (default) or `"nearest"`.
        fill_mode: `"reflect"` (default), `"wrap"`, `"constant"`, `"nearest"` or `"mirror"`.
        fill_value: the value outside the image with `fill_mode="constant"`.
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        seed: optional integer folded into the `rng` given to `apply`.
        data_format: `"channels_last"` (default) or `"channels_first"`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    _boxes = None  # bounding boxes not supported yet

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_mode="reflect",
                 fill_value=0.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.factor = self._base_factor(factor, (0, 1))
        self.scale = self._base_factor(scale, (0, 1), arg="scale")
        self.interpolation = self._choice("interpolation", interpolation, _INTERPOLATIONS)
        self.fill_mode = self._choice("fill_mode", fill_mode, _FILL_MODES + ("mirror",))
        if not _is_number(fill_value):
            raise self._bad("fill_value", "a number", fill_value)
        self.fill_value = fill_value
        self.value_range = self._value_range(value_range)

    def _draw(self, rng, batch, height, width):
        k = jax.random.split(rng, 5)
        p = _uniform(k[0], (batch,), *self.factor)
        return {"apply_transform": jax.random.uniform(k[1], (batch,)) < p,
                "distortion_factor": _uniform(k[2], (), *self.scale),
                "dx": jax.random.normal(k[3], (batch, height, width)),
                "dy": jax.random.normal(k[4], (batch, height, width))}

    def _transform(self, images, draws):
        if self.scale[1] == 0 or self.factor[1] == 0:
            return images
        _, h, w, _ = images.shape
        d = draws["distortion_factor"].astype(jnp.float32)
        alpha = max(h, w) * 0.1 * d
        sigma = jnp.maximum(min(h, w) * 0.05 * d, 1e-6)
        size = int(6 * min(h, w) * 0.05 * self.scale[1]) | 1
        x = jnp.arange(size, dtype=jnp.float32) - (size - 1) / 2
        k1 = jnp.exp(-0.5 * (x / sigma) ** 2)
        k1 = k1 / jnp.sum(k1)
        kernel = jnp.outer(k1, k1)
        dx = _depthwise_same((draws["dx"] * sigma)[..., None], kernel)[..., 0]
        dy = _depthwise_same((draws["dy"] * sigma)[..., None], kernel)[..., 0]
        ys, xs = jnp.meshgrid(jnp.arange(h, dtype=jnp.float32), jnp.arange(w, dtype=jnp.float32),
                              indexing="ij")
        y_in, x_in = ys + alpha * dy, xs + alpha * dx
        order = 0 if self.interpolation == "nearest" else 1

        def one_channel(img, yy, xx):
            return jax.scipy.ndimage.map_coordinates(img, [yy, xx], order=order,
                                                     mode=self.fill_mode, cval=self.fill_value)

        warped = jax.vmap(jax.vmap(one_channel, in_axes=(2, None, None), out_axes=2))(
            images, y_in, x_in).astype(images.dtype)
        out = jnp.where(draws["apply_transform"][:, None, None, None], warped, images)
        return jnp.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "value_range": self.value_range}


@functools.lru_cache(maxsize=64)
def _policy_parts(names, factor, value_range, interpolation):
    """The augmentation layers that RandAugment and AugMix choose from (Keras's settings);
    cached, so layers with equal hyperparameters share them (and their compiled code)."""
    value_range = list(value_range)
    make = {
        "random_shear": lambda: RandomShear(x_factor=factor, y_factor=factor,
                                            interpolation=interpolation),
        "random_translation": lambda: RandomTranslation(height_factor=factor, width_factor=factor,
                                                        interpolation=interpolation),
        "random_rotation": lambda: RandomRotation(factor=factor, interpolation=interpolation),
        "random_brightness": lambda: RandomBrightness(factor=factor, value_range=value_range),
        "random_color_degeneration": lambda: RandomColorDegeneration(
            factor=factor, value_range=value_range),
        "random_contrast": lambda: RandomContrast(factor=factor, value_range=value_range),
        "random_sharpness": lambda: RandomSharpness(factor=factor, value_range=value_range),
        "random_posterization": lambda: RandomPosterization(
            factor=max(1, int(8 * factor[1])), value_range=value_range),
        "solarization": lambda: Solarization(addition_factor=factor, threshold_factor=factor,
                                             value_range=value_range),
        "auto_contrast": lambda: AutoContrast(value_range=value_range),
        "equalization": lambda: Equalization(value_range=value_range),
    }
    return tuple(make[n]() for n in names)


def _apply_op(parts, index, images, key):
    """Applies `parts[index]` (a traced index; `len(parts)` means no operation) with fresh draws
    from `key`, through `lax.switch` so only the chosen operation runs."""
    b, h, w, _ = images.shape

    def branch(part):
        return lambda im: part._transform(im, part._draw(key, b, h, w)).astype(im.dtype)

    return jax.lax.switch(index, [branch(p) for p in parts] + [lambda im: im], images)


@functools.partial(jax.jit, static_argnums=0)
def _rand_augment(policy, images, idxes, keys):
    """RandAugment's operations in sequence; jitted per policy (hyperparameters) and shape."""
    parts = _policy_parts(*policy)

    def step(img, xs):  # one operation; scanned, so it compiles once
        return _apply_op(parts, xs[0], img, xs[1]), None

    return jax.lax.scan(step, images, (idxes, keys))[0]


@functools.partial(jax.jit, static_argnums=(0, 4, 5))
def _rand_augment_boxes(policy, boxes, idxes, keys, height, width):
    """The "xyxy" boxes through RandAugment's operations in sequence (the draws of each
    operation recomputed from its key, as `_apply_op` draws them); boxes that an operation
    pushes out of the image become empty (zeros), as each of Keras's layers clips them."""
    parts = _policy_parts(*policy)
    batch = boxes.shape[0]

    def branch(part):
        def run(bx, key):
            if part._boxes != "move":
                return bx
            moved, h, w = part._move_boxes(bx, part._draw(key, batch, height, width), height,
                                           width)
            clipped = bbox.clip_to_image_size({"boxes": moved}, h, w, "xyxy")["boxes"]
            return jnp.where((bbox._area(clipped) > 0)[..., None], clipped, 0.0)
        return run

    def step(bx, xs):
        return jax.lax.switch(xs[0], [branch(p) for p in parts], bx, xs[1]), None

    return jax.lax.scan(step, boxes, (idxes, keys))[0]


@functools.partial(jax.jit, static_argnums=(0, 1))
def _aug_mix_chains(policy, depth, images, idxes, keys, weights):
    """The weighted sum of AugMix's chains; jitted per policy, depth and shape."""
    parts = _policy_parts(*policy)

    def step(img, xs):  # one operation of a chain (len(parts) means none)
        return _apply_op(parts, xs[0], img, xs[1]), None

    def chain(mixed, xs):  # one chain, added with its weight
        chain_idxes, key, weight = xs
        out = jax.lax.scan(step, images, (chain_idxes, jax.random.split(key, depth)))[0]
        return mixed + out * weight.astype(images.dtype), None

    return jax.lax.scan(chain, jnp.zeros_like(images), (idxes, keys, weights))[0]


class RandAugment(_ImageAugmentation):
    """Applies `num_ops` augmentations chosen at random from a fixed list when training.

    The list (Keras's): RandomShear, RandomTranslation, RandomRotation, RandomBrightness,
    RandomColorDegeneration, RandomContrast, RandomSharpness, RandomPosterization,
    Solarization, AutoContrast, Equalization, each with the magnitude `factor`. The operations
    are drawn once per call (the same for the whole batch, as Keras); each draws its own
    random parameters.

    Bounding boxes of dict inputs (with `bounding_box_format`) go through the chosen geometric
    operations in turn; segmentation masks are not supported.

    Args:
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        num_ops: the number of operations applied in sequence (default 2).
        factor: the operations' magnitude, a number f in [0, 1] (default 0.5) giving `(0, f)`,
            or a pair.
        interpolation: `"bilinear"` (default) or `"nearest"`, for the geometric operations.
        seed: optional integer folded into the `rng` given to `apply`.
        data_format: `"channels_last"` (default) or `"channels_first"`.
        bounding_box_format: the format of the boxes of dict inputs (see RandomFlip),
            or None (default).

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    _NAMES = ("random_shear", "random_translation", "random_rotation", "random_brightness",
              "random_color_degeneration", "random_contrast", "random_sharpness",
              "random_posterization", "solarization", "auto_contrast", "equalization")

    _boxes = "move"
    _takes_masks = False

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear",
                 seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = self._value_range(value_range)
        if not isinstance(num_ops, int) or isinstance(num_ops, bool) or num_ops < 0:
            raise self._bad("num_ops", "a non-negative integer", num_ops)
        self.num_ops = num_ops
        self.factor = self._base_factor(factor, (0, 1))
        self.interpolation = self._choice("interpolation", interpolation, _INTERPOLATIONS)
        # hashable hyperparameters: equal layers share the parts and the compiled transform
        object.__setattr__(self, "_policy", (self._NAMES, tuple(self.factor),
                                             tuple(self.value_range), self.interpolation))
        object.__setattr__(self, "_parts", _policy_parts(*self._policy))

    def _draw(self, rng, batch, height, width):
        k1, k2 = jax.random.split(rng)
        return {"layer_idxes": jax.random.randint(k1, (self.num_ops,), 0, len(self._parts)),
                "keys": jax.random.split(k2, max(self.num_ops, 1))}

    def _transform(self, images, draws):
        if self.num_ops == 0:
            return images
        return _rand_augment(self._policy, images, draws["layer_idxes"], draws["keys"])

    def _move_boxes(self, boxes, draws, height, width):
        if self.num_ops == 0:
            return boxes, height, width
        return (_rand_augment_boxes(self._policy, boxes, draws["layer_idxes"], draws["keys"],
                                    height, width), height, width)

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range, "num_ops": self.num_ops,
                "factor": self.factor, "interpolation": self.interpolation}


class AugMix(_ImageAugmentation):
    """Mixes the image with several random augmentation chains when training (AugMix).

    `num_chains` chains each apply up to `chain_depth` operations drawn at random from the
    operations list (each step may also be skipped); the chains are averaged with Dirichlet
    weights and mixed with the original image with a Beta(alpha, alpha) weight, then clipped
    to `value_range`. Choices are made once per call for the whole batch, as Keras does
    (Keras draws them with Python's `random`; kerasx draws them from `rng`, so it runs
    under jit).

    Args:
        value_range: the `(min, max)` range of the inputs (default `(0, 255)`).
        num_chains: the number of chains (default 3).
        chain_depth: the maximum number of operations per chain (default 3).
        factor: the operations' magnitude, a number f in [0, 1] (default 0.3) giving `(0, f)`,
            or a pair.
        alpha: the Dirichlet and Beta parameter (default 1.0).
        all_ops: True (default) to also use the brightness, colour, contrast and sharpness
            operations; False for the geometric and histogram ones only.
        interpolation: `"bilinear"` (default) or `"nearest"`, for the geometric operations.
        seed: optional integer folded into the `rng` given to `apply`.
        data_format: `"channels_last"` (default) or `"channels_first"`.

    Input shape:
        `(batch, height, width, channels)` or `(height, width, channels)` (channels last).
    Output shape:
        Same as the input shape, in the layer's dtype.
    """

    _BASE = ("random_shear", "random_translation", "random_rotation", "random_posterization",
             "solarization", "auto_contrast", "equalization")
    _EXTRA = ("random_brightness", "random_color_degeneration", "random_contrast",
              "random_sharpness")

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3, alpha=1.0,
                 all_ops=True, interpolation="bilinear", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = self._value_range(value_range)
        for arg, v in (("num_chains", num_chains), ("chain_depth", chain_depth)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise self._bad(arg, "a positive integer", v)
        self.num_chains, self.chain_depth = num_chains, chain_depth
        self.factor = self._base_factor(factor, (0, 1))
        if not _is_number(alpha) or alpha <= 0:
            raise self._bad("alpha", "a positive number", alpha)
        self.alpha = alpha
        self.all_ops = bool(all_ops)
        self.interpolation = self._choice("interpolation", interpolation, _INTERPOLATIONS)
        names = self._BASE + (self._EXTRA if self.all_ops else ())
        # hashable hyperparameters: equal layers share the parts and the compiled transform
        object.__setattr__(self, "_policy", (names, tuple(self.factor), tuple(self.value_range),
                                             self.interpolation))
        object.__setattr__(self, "_parts", _policy_parts(*self._policy))

    def _draw(self, rng, batch, height, width):
        k = jax.random.split(rng, 4)
        gamma = jax.random.gamma(k[0], self.alpha, (self.num_chains,))
        return {"chain_mixing_weights": gamma / jnp.sum(gamma),
                "weight_sample": jax.random.beta(k[1], self.alpha, self.alpha),
                "layer_idxes": jax.random.randint(k[2], (self.num_chains, self.chain_depth), 0,
                                                  len(self._parts) + 1),
                "keys": jax.random.split(k[3], self.num_chains)}

    def _transform(self, images, draws):
        mixed = _aug_mix_chains(self._policy, self.chain_depth, images, draws["layer_idxes"],
                                draws["keys"], draws["chain_mixing_weights"])
        w = draws["weight_sample"].astype(images.dtype)
        return jnp.clip(w * images + (1 - w) * mixed, self.value_range[0], self.value_range[1])

    def get_config(self):
        return {**super().get_config(), "value_range": self.value_range,
                "num_chains": self.num_chains, "chain_depth": self.chain_depth,
                "factor": self.factor, "alpha": self.alpha, "all_ops": self.all_ops,
                "interpolation": self.interpolation}


class Pipeline(Layer):
    """Applies a series of layers in turn (Keras's `Pipeline`): an augmentation or preprocessing
    pipeline that is a plain layer, not a model.

    As in Keras, calling it directly on data trains by default (`pipeline(images)` augments);
    inside a model it follows the model's `training`. Masks pass from each layer to the next.

    Args:
        layers: the layers, applied first to last.
        name: the layer's name.
    """

    supports_masking = True

    def __init__(self, layers, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if not isinstance(layers, (list, tuple)) or not all(isinstance(l, Layer) for l in layers):
            raise ValueError(
                f"Layer '{self.name}' (Pipeline) takes a list of kerasx layers. Received: "
                f"layers={layers!r}")
        self._pipeline_layers = list(layers)

    def _keys(self):
        return [key for key, _ in self._sublayer_items()]

    def init(self, rng, input_spec):
        params, state = {}, {}
        spec = input_spec
        for i, (key, layer) in enumerate(self._sublayer_items()):
            params[key], state[key] = layer.init(jax.random.fold_in(rng, i), spec)
            spec = jax.eval_shape(lambda p, s, x: apply_layer(layer, p, s, x)[0],
                                  params[key], state[key], spec)
        return params, state

    def apply(self, params, state, inputs, *, training=False, rng=None, mask=None):
        new_state = dict(state)
        x = inputs
        for i, (key, layer) in enumerate(self._sublayer_items()):
            layer_rng = None if rng is None else jax.random.fold_in(rng, i)
            x, new_state[key], mask = apply_masked(layer, params[key], state[key], x, mask,
                                                   training=training, rng=layer_rng)
        return x, new_state

    def _eager_call(self, inputs, args, kwargs):
        kwargs = dict(kwargs)
        kwargs.setdefault("training", True)  # Keras: a pipeline called on data augments
        return super()._eager_call(inputs, args, kwargs)

    def get_config(self):
        return {"layers": [serialize_layer(l) for l in self._pipeline_layers], "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError("A Pipeline config maps `layers` to a list of serialized layers. "
                             f"Received: layers={layers!r}")
        return cls([deserialize_layer(l, custom_objects) for l in layers], name=config.get("name"))
