"""Bounding-box arithmetic in jax.numpy: formats, clipping, affine maps, IoU and anchor deltas.

The public functions are Keras 3's `keras.utils.bounding_boxes` (re-exported as
`kerasx.utils.bounding_boxes`); the augmentation layers use the same functions to move the boxes
of `{"images": ..., "bounding_boxes": {"boxes": ..., "labels": ...}}` inputs with the images.
Everything here is jittable once the formats (strings) and ranks are fixed.

Formats (case-insensitive), as Keras:
    `"xyxy"` `[left, top, right, bottom]`, `"yxyx"` `[top, left, bottom, right]`,
    `"xywh"` `[left, top, width, height]`, `"center_xywh"` `[center_x, center_y, width, height]`,
    `"center_yxhw"` `[center_y, center_x, height, width]`, and the relative `"rel_xyxy"`,
    `"rel_yxyx"`, `"rel_xywh"`, `"rel_center_xywh"`, whose coordinates are fractions of the
    image's width and height.
"""

import math

import jax.numpy as jnp

SUPPORTED_FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy",
                     "rel_yxyx", "rel_xywh", "rel_center_xywh")
_EPSILON = 1e-7  # Keras's backend.epsilon()


def _split(boxes):
    return tuple(boxes[..., i:i + 1] for i in range(4))


def _cat(*parts):
    return jnp.concatenate(parts, axis=-1)


def _to_xyxy(boxes, fmt, height, width):
    a, b, c, d = _split(boxes)
    if fmt == "xyxy":
        return boxes
    if fmt == "yxyx":
        return _cat(b, a, d, c)
    if fmt == "xywh":
        return _cat(a, b, a + c, b + d)
    if fmt == "center_xywh":
        return _cat(a - c / 2.0, b - d / 2.0, a + c / 2.0, b + d / 2.0)
    if fmt == "center_yxhw":
        return _cat(b - d / 2.0, a - c / 2.0, b + d / 2.0, a + c / 2.0)
    if fmt == "rel_xyxy":
        return _cat(a * width, b * height, c * width, d * height)
    if fmt == "rel_yxyx":
        return _cat(b * width, a * height, d * width, c * height)
    if fmt == "rel_xywh":
        return _cat(a * width, b * height, (a + c) * width, (b + d) * height)
    # rel_center_xywh
    return _cat((a - c / 2.0) * width, (b - d / 2.0) * height, (a + c / 2.0) * width,
                (b + d / 2.0) * height)


def _from_xyxy(boxes, fmt, height, width):
    x1, y1, x2, y2 = _split(boxes)
    if fmt == "xyxy":
        return boxes
    if fmt == "yxyx":
        return _cat(y1, x1, y2, x2)
    if fmt == "xywh":
        return _cat(x1, y1, x2 - x1, y2 - y1)
    if fmt == "center_xywh":
        return _cat(x1 + (x2 - x1) / 2.0, y1 + (y2 - y1) / 2.0, x2 - x1, y2 - y1)
    if fmt == "center_yxhw":
        return _cat(y1 + (y2 - y1) / 2.0, x1 + (x2 - x1) / 2.0, y2 - y1, x2 - x1)
    if fmt == "rel_xyxy":
        return _cat(x1 / width, y1 / height, x2 / width, y2 / height)
    if fmt == "rel_yxyx":
        return _cat(y1 / height, x1 / width, y2 / height, x2 / width)
    if fmt == "rel_xywh":
        return _cat(x1 / width, y1 / height, (x2 - x1) / width, (y2 - y1) / height)
    # rel_center_xywh
    return _cat((x1 + (x2 - x1) / 2.0) / width, (y1 + (y2 - y1) / 2.0) / height,
                (x2 - x1) / width, (y2 - y1) / height)


def standardize_format(fmt, what="bounding_box_format"):
    """The lower-case format name; a ValueError naming the formats for anything else."""
    if not isinstance(fmt, str) or fmt.lower() not in SUPPORTED_FORMATS:
        raise ValueError(
            f"Received an invalid value for `{what}`, expected one of {SUPPORTED_FORMATS} "
            f"(case-insensitive). Received: {what}={fmt!r}")
    return fmt.lower()


def convert_format(boxes, source, target, height=None, width=None, dtype="float32"):
    """Converts bounding boxes between formats.

    Args:
        boxes: an array of shape `(..., 4)`, or a dict whose `"boxes"` entry is one (a new dict
            with the converted boxes is returned).
        source: the format of `boxes` (see the module's docstring).
        target: the format to convert to.
        height: the image height, needed when exactly one of the formats is relative.
        width: the image width, likewise.
        dtype: the dtype of the result (default `"float32"`).

    Returns:
        The converted boxes (or dict), in `dtype`.
    """
    if isinstance(boxes, dict):
        out = dict(boxes)
        out["boxes"] = convert_format(boxes["boxes"], source, target, height, width, dtype)
        return out
    boxes = jnp.asarray(boxes)
    if boxes.ndim < 1 or boxes.shape[-1] != 4:
        raise ValueError("`boxes` must be a tensor with the last dimension of 4. "
                         f"Received: boxes.shape={boxes.shape}")
    source = standardize_format(source, "source")
    target = standardize_format(target, "target")
    if (source.startswith("rel_") or target.startswith("rel_")) and (
            height is None or width is None):
        raise ValueError(
            "convert_format() must receive `height` and `width` to convert between relative "
            f"and absolute formats. Received: source={source!r}, target={target!r}, "
            f"height={height}, width={width}.")
    boxes = boxes.astype(dtype)
    if source == target:
        return boxes
    height = None if height is None else jnp.asarray(height).astype(dtype)
    width = None if width is None else jnp.asarray(width).astype(dtype)
    if source.startswith("rel_") and target.startswith("rel_"):
        source, target = source[4:], target[4:]
    return _from_xyxy(_to_xyxy(boxes, source, height, width), target, height, width)


def _area(boxes):
    x1, y1, x2, y2 = _split(boxes)
    return ((x2 - x1) * (y2 - y1))[..., 0]


def _mask_labels(labels, keep):
    """`labels` where `keep` (one flag per box) holds, else -1 (Keras's empty-box label)."""
    labels = jnp.asarray(labels)
    keep = keep.reshape(keep.shape + (1,) * (labels.ndim - keep.ndim))
    return jnp.where(keep, labels, jnp.asarray(-1, labels.dtype))


def clip_to_image_size(bounding_boxes, height=None, width=None, bounding_box_format="xyxy"):
    """Clips boxes to the image; boxes left with no area get the label -1.

    Args:
        bounding_boxes: a dict with `"boxes"` of shape `(N, 4)` or `(batch, N, 4)` and
            (optional) `"labels"` of shape `(N,)` or `(batch, N)`.
        height: the image height (needed for `"xyxy"`).
        width: the image width (needed for `"xyxy"`).
        bounding_box_format: `"xyxy"` (default) or `"rel_xyxy"` (clipped to [0, 1]).

    Returns:
        A new dict with the clipped boxes and labels.
    """
    if bounding_box_format not in ("xyxy", "rel_xyxy"):
        raise NotImplementedError(
            "clip_to_image_size() supports the formats 'xyxy' and 'rel_xyxy' (as Keras). "
            f"Received: bounding_box_format={bounding_box_format!r}")
    if bounding_box_format == "xyxy" and (height is None or width is None):
        raise ValueError("`height` and `width` must be set if `format='xyxy'`. "
                         f"Received: height={height}, width={width}")
    boxes = jnp.asarray(bounding_boxes["boxes"])
    if bounding_box_format == "xyxy":
        hmax = jnp.asarray(height).astype(boxes.dtype)
        wmax = jnp.asarray(width).astype(boxes.dtype)
    else:
        hmax = wmax = jnp.asarray(1.0, boxes.dtype)
    x1, y1, x2, y2 = _split(boxes)
    boxes = _cat(jnp.clip(x1, 0, wmax), jnp.clip(y1, 0, hmax), jnp.clip(x2, 0, wmax),
                 jnp.clip(y2, 0, hmax))
    out = dict(bounding_boxes)
    out["boxes"] = boxes
    if bounding_boxes.get("labels") is not None:
        out["labels"] = _mask_labels(bounding_boxes["labels"], _area(boxes) > 0)
    return out


def _batched_params(values, batch):
    return [jnp.broadcast_to(jnp.asarray(v, jnp.float32).reshape(-1), (batch,)) for v in values]


def affine_transform(boxes, angle, translate_x, translate_y, scale, shear_x, shear_y, height,
                     width, center_x=None, center_y=None, bounding_box_format="xyxy"):
    """Moves boxes through an affine map (rotation, translation, scale, shear); each result is
    the box around the four moved corners.

    The map is the one Keras's image layers apply (angles in degrees, counter-clockwise; the
    translations fractions of `width - 1` and `height - 1`; the centre `(center_x, center_y)`
    fractions of the image, default 0.5).

    Args:
        boxes: `(batch, N, 4)` (or `(N, 4)` for one image) boxes in `"xyxy"` format.
        angle: rotation angles in degrees, one per image `(batch,)` (or a number).
        translate_x: horizontal translations (fractions), per image.
        translate_y: vertical translations (fractions), per image.
        scale: scale factors, per image.
        shear_x: shear angles along x in degrees, per image.
        shear_y: shear angles along y in degrees, per image.
        height: the image height.
        width: the image width.
        center_x: the x of the centre of the map, a fraction of the width (default 0.5).
        center_y: the y of the centre of the map, a fraction of the height (default 0.5).
        bounding_box_format: only `"xyxy"` (as Keras).

    Returns:
        The moved boxes, of the shape of `boxes`.
    """
    if bounding_box_format != "xyxy":
        raise NotImplementedError(
            "affine_transform() supports only bounding_box_format='xyxy' (as Keras). "
            f"Received: bounding_box_format={bounding_box_format!r}")
    boxes = jnp.asarray(boxes)
    single = boxes.ndim == 2
    if single:
        boxes = boxes[None]
    if boxes.ndim != 3 or boxes.shape[-1] != 4:
        raise ValueError("affine_transform() expects boxes of shape (N, 4) or (batch, N, 4). "
                         f"Received: boxes.shape={boxes.shape}")
    batch = boxes.shape[0]
    angle, tx, ty, scale, sx, sy = _batched_params(
        (angle, translate_x, translate_y, scale, shear_x, shear_y), batch)
    cx = (0.5 if center_x is None else center_x) * (width - 1.0)
    cy = (0.5 if center_y is None else center_y) * (height - 1.0)
    deg = math.pi / 180.0
    rot, sx, sy = -angle * deg, -sx * deg, -sy * deg
    tx, ty = -tx * (width - 1.0), -ty * (height - 1.0)
    a = jnp.cos(rot - sy) / jnp.cos(sy)
    b = a * jnp.tan(sx) + jnp.sin(rot)
    c = -jnp.sin(rot - sy) / jnp.cos(sy)
    d = jnp.cos(rot) - c * jnp.tan(sx)
    a0, a1, b0, b1 = d * scale, -b * scale, -c * scale, a * scale
    a2 = cx - a0 * (cx + tx) - a1 * (cy + ty)
    b2 = cy - b0 * (cx + tx) - b1 * (cy + ty)
    col = lambda v: v[:, None, None]  # noqa: E731  (batch, 1 box, 1 corner)
    x1, y1, x2, y2 = (boxes[..., i].astype(jnp.float32) for i in range(4))
    xs = jnp.stack([x1, x2, x2, x1], axis=-1)  # (batch, N, 4 corners)
    ys = jnp.stack([y1, y1, y2, y2], axis=-1)
    new_x = col(a0) * xs + col(a1) * ys + col(a2)
    new_y = col(b0) * xs + col(b1) * ys + col(b2)
    out = jnp.stack([new_x.min(-1), new_y.min(-1), new_x.max(-1), new_y.max(-1)], axis=-1)
    return out[0] if single else out


def crop(boxes, top, left, height, width, bounding_box_format="xyxy"):
    """Boxes in the coordinates of the window `(top, left, height, width)`, clipped to it.

    Args:
        boxes: `(N, 4)` or `(batch, N, 4)` boxes in `"xyxy"` format.
        top: the window's top offset.
        left: the window's left offset.
        height: the window's height (None: no clipping at the bottom).
        width: the window's width (None: no clipping at the right).
        bounding_box_format: only `"xyxy"` (as Keras).

    Returns:
        The cropped boxes.
    """
    _only_xyxy("crop", bounding_box_format)
    x1, y1, x2, y2 = _split(jnp.asarray(boxes))
    return _cat(jnp.clip(x1 - left, 0, width), jnp.clip(y1 - top, 0, height),
                jnp.clip(x2 - left, 0, width), jnp.clip(y2 - top, 0, height))


def _only_xyxy(fn: str, bounding_box_format):
    if bounding_box_format != "xyxy":
        raise NotImplementedError(
            f"{fn}() supports only bounding_box_format='xyxy' (as Keras). "
            f"Received: bounding_box_format={bounding_box_format!r}")


def pad(boxes, top, left, height=None, width=None, bounding_box_format="xyxy"):
    """Boxes in the coordinates of the image padded by `top` rows and `left` columns.

    Args:
        boxes: `(N, 4)` or `(batch, N, 4)` boxes in `"xyxy"` format.
        top: the rows added above.
        left: the columns added on the left.
        height: unused (as Keras).
        width: unused (as Keras).
        bounding_box_format: only `"xyxy"` (as Keras).

    Returns:
        The shifted boxes.
    """
    _only_xyxy("pad", bounding_box_format)
    x1, y1, x2, y2 = _split(jnp.asarray(boxes))
    return _cat(x1 + left, y1 + top, x2 + left, y2 + top)


def _check_variance(variance):
    if variance is None:
        return None
    variance = jnp.asarray(variance, jnp.float32)
    if variance.ndim < 1 or variance.shape[-1] != 4:
        raise ValueError(f"`variance` must be length 4, got {variance}")
    return variance


def _hw(image_shape):
    if image_shape is None:
        return None, None
    height, width, _ = image_shape
    return height, width


def encode_box_to_deltas(anchors, boxes, anchor_format, box_format,
                         encoding_format="center_yxhw", variance=None, image_shape=None):
    """Encodes boxes as offsets and log-scales relative to anchors.

    Args:
        anchors: `(N, 4)` anchor boxes in `anchor_format`.
        boxes: `(N, 4)` or `(batch, N, 4)` boxes in `box_format`.
        anchor_format: the format of `anchors`.
        box_format: the format of `boxes`.
        encoding_format: `"center_yxhw"` (default) or `"center_xywh"`: the order of the deltas.
        variance: optional 4 numbers that divide the deltas.
        image_shape: `(height, width, channels)`, needed for relative formats.

    Returns:
        The deltas, of the shape of `boxes`.
    """
    variance = _check_variance(variance)
    if encoding_format not in ("center_xywh", "center_yxhw"):
        raise ValueError("`encoding_format` should be one of 'center_xywh' or 'center_yxhw', "
                         f"got {encoding_format}")
    height, width = _hw(image_shape)
    anchors = convert_format(anchors, anchor_format, encoding_format, height, width)
    boxes = convert_format(boxes, box_format, encoding_format, height, width)
    anchor_dims = jnp.maximum(anchors[..., 2:], _EPSILON)
    box_dims = jnp.maximum(boxes[..., 2:], _EPSILON)
    deltas = jnp.concatenate([(boxes[..., :2] - anchors[..., :2]) / anchor_dims,
                              jnp.log(box_dims / anchor_dims)], axis=-1)
    return deltas if variance is None else deltas / variance


def decode_deltas_to_boxes(anchors, boxes_delta, anchor_format, box_format,
                           encoded_format="center_yxhw", variance=None, image_shape=None):
    """Decodes deltas relative to anchors back into boxes (the inverse of
    `encode_box_to_deltas`).

    Args:
        anchors: `(N, 4)` anchors in `anchor_format`, or a dict of them per feature level.
        boxes_delta: `(N, 4)` or `(batch, N, 4)` deltas, or a dict of them with the keys of
            `anchors`.
        anchor_format: the format of `anchors`.
        box_format: the format of the boxes returned.
        encoded_format: `"center_yxhw"` (default) or `"center_xywh"`: the order of the deltas.
        variance: optional 4 numbers that multiply the deltas.
        image_shape: `(height, width, channels)`, needed for relative formats.

    Returns:
        The boxes in `box_format` (a dict per level when given dicts).
    """
    variance = _check_variance(variance)
    if encoded_format not in ("center_xywh", "center_yxhw"):
        raise ValueError("`encoded_format` should be 'center_xywh' or 'center_yxhw', but got "
                         f"'{encoded_format}'.")
    height, width = _hw(image_shape)

    def decode(anchor, delta):
        anchor = convert_format(anchor, anchor_format, encoded_format, height, width)
        delta = jnp.asarray(delta)
        if variance is not None:
            delta = delta * variance
        box = jnp.concatenate([delta[..., :2] * anchor[..., 2:] + anchor[..., :2],
                               jnp.exp(delta[..., 2:]) * anchor[..., 2:]], axis=-1)
        return convert_format(box, encoded_format, box_format, height, width)

    if isinstance(anchors, dict) and isinstance(boxes_delta, dict):
        return {level: decode(anchor, boxes_delta[level]) for level, anchor in anchors.items()}
    return decode(anchors, boxes_delta)


def compute_iou(boxes1, boxes2, bounding_box_format, use_masking=False, mask_val=-1,
                image_shape=None):
    """The pairwise intersection over union of two sets of boxes.

    Args:
        boxes1: `(M, 4)` or `(batch, M, 4)` boxes.
        boxes2: `(N, 4)` or `(batch, N, 4)` boxes.
        bounding_box_format: the format of both.
        use_masking: if True, pairs where either box has all coordinates below 0 (padding)
            get `mask_val`.
        mask_val: the value of masked pairs (default -1).
        image_shape: `(height, width, channels)`, needed for relative formats.

    Returns:
        `(M, N)`, or `(batch, M, N)` when either input is batched.
    """
    boxes1, boxes2 = jnp.asarray(boxes1), jnp.asarray(boxes2)
    for i, b in ((1, boxes1), (2, boxes2)):
        if b.ndim not in (2, 3):
            raise ValueError(
                f"compute_iou() expects boxes{i} to be batched, or to be unbatched. Received "
                f"len(boxes1.shape)={boxes1.ndim}, len(boxes2.shape)={boxes2.ndim}. Expected "
                f"either len(boxes{i}.shape)=2 or len(boxes{i}.shape)=3.")
    if "rel" in bounding_box_format and image_shape is None:
        raise ValueError("When using relative bounding box formats (e.g. `rel_yxyx`) the "
                         f"`image_shape` argument must be provided. Received `image_shape`: "
                         f"{image_shape}")
    height, width = _hw(image_shape)
    b1 = convert_format(boxes1, bounding_box_format, "xyxy", height, width)
    b2 = convert_format(boxes2, bounding_box_format, "xyxy", height, width)
    t = lambda v: jnp.swapaxes(v, -1, -2)  # noqa: E731  (..., N, 1) -> (..., 1, N)
    ix = jnp.maximum(jnp.minimum(b1[..., 2:3], t(b2[..., 2:3]))
                     - jnp.maximum(b1[..., 0:1], t(b2[..., 0:1])), 0.0)
    iy = jnp.maximum(jnp.minimum(b1[..., 3:4], t(b2[..., 3:4]))
                     - jnp.maximum(b1[..., 1:2], t(b2[..., 1:2])), 0.0)
    inter = ix * iy
    union = _area(b1)[..., :, None] + _area(b2)[..., None, :] - inter
    iou = inter / (union + _EPSILON)
    if not use_masking:
        return iou
    pad1 = jnp.max(b1, axis=-1, keepdims=True) < 0
    pad2 = t(jnp.max(b2, axis=-1, keepdims=True) < 0)
    return jnp.where(pad1 | pad2, jnp.asarray(mask_val, iou.dtype), iou)


def compute_ciou(boxes1, boxes2, bounding_box_format, image_shape=None):
    """The complete IoU (IoU minus centre-distance and aspect-ratio penalties) of paired boxes.

    Args:
        boxes1: `(..., 4)` boxes.
        boxes2: `(..., 4)` boxes, paired elementwise with `boxes1`.
        bounding_box_format: the format of both (relative formats are refused, as in Keras).
        image_shape: `(height, width, channels)` (unused by absolute formats).

    Returns:
        The CIoU of each pair, of shape `boxes1.shape[:-1]`.
    """
    if "rel" in bounding_box_format:
        raise ValueError("When using relative bounding box formats (e.g. `rel_yxyx`) the "
                         f"`image_shape` argument must be provided. Received `image_shape`: "
                         f"{image_shape}")
    height, width = _hw(image_shape)
    b1 = convert_format(boxes1, bounding_box_format, "xyxy", height, width)
    b2 = convert_format(boxes2, bounding_box_format, "xyxy", height, width)
    x11, y11, x12, y12 = (b1[..., i] for i in range(4))
    x21, y21, x22, y22 = (b2[..., i] for i in range(4))
    w1, h1 = x12 - x11, y12 - y11 + _EPSILON
    w2, h2 = x22 - x21, y22 - y21 + _EPSILON
    inter = (jnp.maximum(jnp.minimum(x12, x22) - jnp.maximum(x11, x21), 0)
             * jnp.maximum(jnp.minimum(y12, y22) - jnp.maximum(y11, y21), 0))
    union = w1 * h1 + w2 * h2 - inter + _EPSILON
    iou = inter / (union + _EPSILON)
    convex_w = jnp.maximum(x12, x22) - jnp.minimum(x11, x21)
    convex_h = jnp.maximum(y12, y22) - jnp.minimum(y11, y21)
    diagonal = convex_w ** 2 + convex_h ** 2 + _EPSILON
    centres = ((x11 + x12) / 2 - (x21 + x22) / 2) ** 2 + ((y11 + y12) / 2 - (y21 + y22) / 2) ** 2
    v = (4 / math.pi ** 2) * (jnp.arctan(w2 / h2) - jnp.arctan(w1 / h1)) ** 2
    alpha = v / (v - iou + (1 + _EPSILON))
    return iou - (centres / diagonal + v * alpha)
