"""Bounding boxes against Keras 3: `kerasx.utils.bounding_boxes`, the boxes (and segmentation
masks) of dict inputs to the geometric augmentation layers, MaxNumBoundingBoxes, and
ContrastLimitedAdaptiveHistogramEqualization.

The layers' random draws cannot match Keras's, so boxes are compared on the same transformation
(Keras's `transform_bounding_boxes` given the parameters kerasx drew), through whole calls where
a single-valued factor range fixes the transformation, and by exact properties (a box around a
bright rectangle stays around it when the image is flipped or cropped).
"""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kerasx import layers
from kerasx.utils import bounding_boxes as bb
from harness import keras, run_layer_test

FORMATS = ["xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy", "rel_yxyx",
           "rel_xywh", "rel_center_xywh"]
H, W = 16, 20


def kbb():
    return keras().utils.bounding_boxes


def boxes(shape=(2, 5), seed=0, low=0.0, high=12.0):
    """Random "xyxy" boxes inside (or near) an H x W image."""
    rng = np.random.default_rng(seed)
    b = rng.uniform(low, high, shape + (4,)).astype(np.float32)
    b[..., 2:] = b[..., :2] + rng.uniform(1, 7, shape + (2,)).astype(np.float32)
    return b


def close(a, b, atol=1e-4):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=1e-5)


# --------------------------------------------------------------------------------- the utils
@pytest.mark.parametrize("target", FORMATS)
def test_convert_format_matches_keras(target):
    b = boxes()
    for source in ("xyxy", "rel_yxyx", "center_yxhw", "xywh", "rel_center_xywh"):
        src = np.asarray(kbb().convert_format(b, "xyxy", source, height=H, width=W))
        close(bb.convert_format(src, source, target, height=H, width=W),
              kbb().convert_format(src, source, target, height=H, width=W))
    # upper case and a dict of boxes, as Keras
    out = bb.convert_format({"boxes": b, "labels": np.arange(5)}, "XYXY", target.upper(),
                            height=H, width=W)
    close(out["boxes"], kbb().convert_format(b, "xyxy", target, height=H, width=W))
    assert out["boxes"].dtype == jnp.float32 and list(out["labels"]) == list(range(5))


def test_convert_format_is_jittable_and_checks_its_arguments():
    b = boxes()
    f = jax.jit(functools.partial(bb.convert_format, source="xyxy", target="rel_xywh"))
    close(f(b, height=H, width=W), bb.convert_format(b, "xyxy", "rel_xywh", H, W))
    with pytest.raises(ValueError, match="last dimension of 4"):
        bb.convert_format(np.zeros((2, 3)), "xyxy", "xywh")
    with pytest.raises(ValueError, match="target.*xyxy.*Received: target='xyz'"):
        bb.convert_format(b, "xyxy", "xyz")
    with pytest.raises(ValueError, match="height.*width"):
        bb.convert_format(b, "xyxy", "rel_xyxy")


def test_clip_to_image_size_matches_keras():
    b = boxes(low=-6, high=22)
    labels = np.arange(10, dtype=np.int32).reshape(2, 5)
    for fmt, data in (("xyxy", b), ("rel_xyxy", b / 15.0)):
        ours = bb.clip_to_image_size({"boxes": data, "labels": labels}, H, W, fmt)
        theirs = kbb().clip_to_image_size({"boxes": data, "labels": labels}, H, W, fmt)
        close(ours["boxes"], theirs["boxes"])
        np.testing.assert_array_equal(ours["labels"], theirs["labels"])
    assert (np.asarray(bb.clip_to_image_size(
        {"boxes": np.float32([[30, 2, 40, 5]]), "labels": np.int32([3])}, H, W)["labels"])
            == -1).all()
    with pytest.raises(NotImplementedError, match="xyxy"):
        bb.clip_to_image_size({"boxes": b}, H, W, "xywh")
    with pytest.raises(ValueError, match="`height` and `width`"):
        bb.clip_to_image_size({"boxes": b})


def test_affine_transform_crop_and_pad_match_keras():
    b = boxes((3, 4))
    args = (np.float32([20, -45, 90]), np.float32([0.1, 0, -0.2]), np.float32([0, 0.3, 0.1]),
            np.float32([1, 1.2, 0.8]), np.float32([0, 10, -5]), np.float32([5, 0, 3]), H, W)
    close(bb.affine_transform(b, *args), kbb().affine_transform(b, *args), atol=1e-3)
    close(bb.affine_transform(b, *args, center_x=0.2, center_y=0.7),
          kbb().affine_transform(b, *args, center_x=0.2, center_y=0.7), atol=1e-3)
    one = [a[:1] if isinstance(a, np.ndarray) else a for a in args]
    close(bb.affine_transform(b[0], *one), bb.affine_transform(b[:1], *one)[0])  # one image
    close(bb.crop(b, 2, 3, 9, 10), kbb().crop(b, 2, 3, 9, 10))
    close(bb.pad(b, 2, 3), kbb().pad(b, 2, 3))
    for fn, a in ((bb.affine_transform, args), (bb.crop, (2, 3, 9, 10)), (bb.pad, (2, 3))):
        with pytest.raises(NotImplementedError, match="xyxy"):
            fn(b, *a, bounding_box_format="yxyx")


@pytest.mark.parametrize("encoding", ["center_yxhw", "center_xywh"])
def test_box_deltas_match_keras_and_invert_each_other(encoding):
    anchors, b = boxes((6,), seed=1), boxes((2, 6), seed=2)
    for kwargs in (dict(anchor_format="xyxy", box_format="xywh"),
                   dict(anchor_format="rel_xyxy", box_format="center_xywh",
                        variance=[0.1, 0.1, 0.2, 0.2], image_shape=(H, W, 3))):
        a = anchors / np.float32([W, H, W, H]) if kwargs["anchor_format"] == "rel_xyxy" \
            else anchors
        deltas = bb.encode_box_to_deltas(a, b, encoding_format=encoding, **kwargs)
        close(deltas, kbb().encode_box_to_deltas(a, b, encoding_format=encoding, **kwargs))
        decoded = bb.decode_deltas_to_boxes(a, deltas, encoded_format=encoding, **kwargs)
        close(decoded, kbb().decode_deltas_to_boxes(a, deltas, encoded_format=encoding,
                                                    **kwargs))
        close(decoded, b, atol=1e-3)  # deltas encode the boxes (given in box_format)
    levels = bb.decode_deltas_to_boxes({"P3": anchors}, {"P3": deltas[0] * 0}, "xyxy", "xyxy",
                                       encoded_format=encoding)
    close(levels["P3"], anchors)
    with pytest.raises(ValueError, match="variance"):
        bb.encode_box_to_deltas(anchors, b, "xyxy", "xyxy", variance=[1, 2, 3])
    with pytest.raises(ValueError, match="encoding_format"):
        bb.encode_box_to_deltas(anchors, b, "xyxy", "xyxy", encoding_format="xyxy")
    with pytest.raises(ValueError, match="encoded_format"):
        bb.decode_deltas_to_boxes(anchors, b, "xyxy", "xyxy", encoded_format="xyxy")


@pytest.mark.parametrize("fmt", ["xyxy", "center_yxhw", "rel_xyxy"])
def test_compute_iou_matches_keras(fmt):
    b1, b2 = boxes((2, 4), seed=3), boxes((2, 3), seed=4)
    b2[0, 0] = b1[0, 1]  # one identical pair: IoU 1
    b1[1, 2] = -1.0  # a padding box, masked with use_masking
    conv = lambda x: np.asarray(kbb().convert_format(x, "xyxy", fmt, height=H, width=W))  # noqa
    b1, b2 = conv(b1), conv(b2)
    kwargs = dict(image_shape=(H, W, 3)) if fmt.startswith("rel") else {}
    for x1, x2 in ((b1, b2), (b1[0], b2[0]), (b1, b2[0])):
        close(bb.compute_iou(x1, x2, fmt, **kwargs), kbb().compute_iou(x1, x2, fmt, **kwargs))
    close(bb.compute_iou(b1, b2, fmt, use_masking=True, mask_val=-2, **kwargs),
          kbb().compute_iou(b1, b2, fmt, use_masking=True, mask_val=-2, **kwargs))
    close(jax.jit(lambda a, b: bb.compute_iou(a, b, fmt, **kwargs))(b1, b2),
          kbb().compute_iou(b1, b2, fmt, **kwargs))


def test_compute_iou_and_ciou_check_their_arguments_and_ciou_matches_keras():
    b1, b2 = boxes((2, 4), seed=5), boxes((2, 4), seed=6)
    for fmt in ("xyxy", "xywh"):
        close(bb.compute_ciou(b1, b2, fmt), kbb().compute_ciou(b1, b2, fmt))
    close(bb.compute_ciou(b1, b1, "xyxy"), np.ones((2, 4)), atol=1e-5)
    with pytest.raises(ValueError, match="relative"):
        bb.compute_ciou(b1, b2, "rel_xyxy")
    with pytest.raises(ValueError, match="image_shape"):
        bb.compute_iou(b1, b2, "rel_xyxy")
    with pytest.raises(ValueError, match="boxes1"):
        bb.compute_iou(np.zeros((1, 2, 3, 4)), b2, "xyxy")


def test_the_module_has_every_name_keras_exports():
    k = keras()
    names = {n for n in dir(k.utils.bounding_boxes) if not n.startswith("_")}
    assert names <= set(dir(bb)) and set(bb.__all__) == names


# ------------------------------------------------------------ boxes through augmentation layers
def _keras_transform(layer_name, kwargs, fmt, b, labels, keras_transformation):
    layer = getattr(keras().layers, layer_name)(**kwargs, bounding_box_format=fmt)
    return layer.transform_bounding_boxes({"boxes": b.copy(), "labels": labels.copy()},
                                          keras_transformation, training=True)


_FLIPS = np.array([True, False, True]).reshape(3, 1, 1, 1)
_SHEAR = np.float32([[0.2, 0.1], [-0.3, 0.1], [0.1, -0.2]])
_TRANSLATIONS = np.float32([[3, -2], [-5, 4], [0.5, 0.25]])
_HZ, _WZ = np.float32([[0.7], [1.3], [1.0]]), np.float32([[0.8], [1.1], [0.6]])
_ANGLES = np.float32([20, -45, 90])
_START = np.repeat(np.float32([[[0, 0], [H - 1, 0], [0, H - 1], [H - 1, H - 1]]]), 3, axis=0)
_PERSPECTIVE = {"apply_perspective": np.array([True, False, True]), "start_points": _START,
                "end_points": _START * (1 + np.random.default_rng(7).uniform(
                    -0.25, 0.25, (3, 4, 2)).astype(np.float32))}
_SHAPE = (3, H, H, 1)  # square: Keras shears boxes in fractions of the size (see RandomShear)
SAME_TRANSFORMATION = [  # (layer, kwargs, our draws, Keras's transformation, formats)
    ("RandomFlip", dict(mode="horizontal"), {"flips": _FLIPS},
     {"flips": _FLIPS, "input_shape": _SHAPE}, FORMATS),
    ("RandomFlip", dict(mode="vertical"), {"flips": _FLIPS},
     {"flips": _FLIPS, "input_shape": _SHAPE}, ["xyxy", "rel_yxyx"]),
    ("RandomFlip", dict(), {"flips": _FLIPS}, {"flips": _FLIPS, "input_shape": _SHAPE},
     ["center_xywh"]),
    ("RandomTranslation", dict(height_factor=0.2, width_factor=0.2),
     {"translations": _TRANSLATIONS}, {"translations": _TRANSLATIONS, "input_shape": _SHAPE},
     ["xyxy", "rel_xywh", "center_yxhw"]),
    ("RandomZoom", dict(height_factor=0.3), {"height_zoom": _HZ, "width_zoom": _WZ},
     {"height_zoom": _HZ, "width_zoom": _WZ, "input_shape": _SHAPE}, ["xyxy", "yxyx", "rel_xyxy"]),
    # Keras's RandomRotation reads boxes as "xyxy" whatever its format: compared in "xyxy"
    ("RandomRotation", dict(factor=0.2), {"angle": _ANGLES},
     {"angle": _ANGLES, "image_height": H, "image_width": H, "batch_size": 3}, ["xyxy"]),
    ("RandomShear", dict(x_factor=0.3, y_factor=0.3), {"shear_factor": _SHEAR},
     {"shear_factor": _SHEAR, "input_shape": _SHAPE}, ["xyxy", "center_yxhw", "rel_xyxy"]),
    # Keras's RandomPerspective returns its boxes in "xyxy" whatever its format: compared there
    ("RandomPerspective", dict(scale=0.5), _PERSPECTIVE, {**_PERSPECTIVE, "input_shape": _SHAPE},
     ["xyxy"]),
]


@pytest.mark.parametrize("name,kwargs,draws,theirs,formats", SAME_TRANSFORMATION,
                         ids=[c[0] for c in SAME_TRANSFORMATION])
def test_boxes_move_as_keras_moves_them_on_the_same_transformation(name, kwargs, draws,
                                                                    theirs, formats):
    # Some boxes reach out of the image: clipped, label -1. Not for RandomFlip: Keras clips its
    # flipped boxes (relative coordinates) to the pixel size, so not at all; kerasx clips.
    b = boxes((3, 4), low=0, high=8) if name == "RandomFlip" else boxes((3, 4), low=-2, high=12)
    labels = np.arange(12, dtype=np.int32).reshape(3, 4)
    for fmt in formats:
        given = np.asarray(kbb().convert_format(b, "xyxy", fmt, height=H, width=H))
        layer = getattr(layers, name)(**kwargs, bounding_box_format=fmt)
        ours = layer._boxes_through({"boxes": given, "labels": labels}, _SHAPE,
                                    jax.tree.map(jnp.asarray, draws), True)
        expected = _keras_transform(name, kwargs, fmt, given, labels, theirs)
        close(ours["boxes"], expected["boxes"], atol=1e-4)
        np.testing.assert_array_equal(ours["labels"], expected["labels"])


def test_random_crop_moves_boxes_into_the_window():
    b = boxes((3, 4), low=4, high=6)  # inside the 12 x 12 window at (3, 3) of a 16 x 16 image
    labels = np.arange(12, dtype=np.int32).reshape(3, 4)
    ours = layers.RandomCrop(12, 12, bounding_box_format="xyxy")._boxes_through(
        {"boxes": b, "labels": labels}, _SHAPE, {"h_start": jnp.int32(3), "w_start": jnp.int32(3)},
        True)
    theirs = _keras_transform("RandomCrop", dict(height=12, width=12), "xyxy", b, labels, (3, 3))
    close(ours["boxes"], theirs["boxes"])
    np.testing.assert_array_equal(ours["labels"], labels)
    # unequal offsets: x moves by the column offset (Keras's own layer swaps the two offsets)
    out = layers.RandomCrop(12, 12, bounding_box_format="xyxy")._boxes_through(
        {"boxes": np.float32([[[5, 6, 8, 9], [0, 0, 1, 1]]]), "labels": np.int32([[1, 2]])},
        (1, 16, 16, 1), {"h_start": jnp.int32(4), "w_start": jnp.int32(2)}, True)
    close(out["boxes"], [[[3, 2, 6, 5], [0, 0, 0, 0]]])
    np.testing.assert_array_equal(out["labels"], [[1, -1]])  # the box left the window


@pytest.mark.parametrize("name,kwargs", [
    ("RandomRotation", dict(factor=(0.1, 0.1))),
    ("RandomTranslation", dict(height_factor=(0.2, 0.2), width_factor=(-0.3, -0.3))),
    ("RandomZoom", dict(height_factor=(0.2, 0.2), width_factor=(-0.3, -0.3))),
])
def test_dict_calls_match_keras_for_fixed_transformations(name, kwargs):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, H, W, 3)).astype(np.float32)
    b = boxes((2, 3), low=-1, high=14)
    labels = np.int32([[1, 2, 3], [4, 5, 6]])
    for fmt in (["xyxy"] if name == "RandomRotation" else ["xyxy", "rel_center_xywh"]):
        given = np.asarray(kbb().convert_format(b, "xyxy", fmt, height=H, width=W))

        def data():
            return {"images": x.copy(), "labels": np.eye(2, dtype=np.float32),
                    "bounding_boxes": {"boxes": given.copy(), "labels": labels.copy()}}

        layer = getattr(layers, name)(**kwargs, bounding_box_format=fmt)
        ours, _ = jax.jit(functools.partial(layer.apply, training=True))({}, {}, data(),
                                                                         rng=jax.random.key(0))
        theirs = getattr(keras().layers, name)(**kwargs, bounding_box_format=fmt)(
            data(), training=True)
        close(ours["images"], theirs["images"], atol=1e-3)
        close(ours["bounding_boxes"]["boxes"], theirs["bounding_boxes"]["boxes"], atol=1e-3)
        np.testing.assert_array_equal(ours["bounding_boxes"]["labels"],
                                      theirs["bounding_boxes"]["labels"])
        close(ours["labels"], np.eye(2))
        spec = layer.output_spec(jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype),
                                              data()))
        assert jax.tree.map(lambda s: (s.shape, s.dtype), spec) == jax.tree.map(
            lambda a: (a.shape, a.dtype), ours)


def _rectangles(boxes_xyxy, shape):
    """Images that are 1 inside each (integer) box and 0 elsewhere."""
    img = np.zeros(shape, np.float32)
    for i, (x1, y1, x2, y2) in enumerate(boxes_xyxy.astype(int)):
        img[i, y1:y2, x1:x2] = 1.0
    return img


def _box_around(img):
    ys, xs = np.nonzero(img[..., 0] > 0.5)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


@pytest.mark.parametrize("layer", [
    layers.RandomFlip(bounding_box_format="yxyx"),
    layers.RandomFlip("vertical", bounding_box_format="xyxy", data_format="channels_first"),
    layers.RandomCrop(9, 11, bounding_box_format="rel_xywh"),
], ids=["flip", "flip-channels-first", "crop"])
def test_boxes_stay_around_their_rectangles(layer):
    b = np.float32([[3, 4, 9, 10], [10, 2, 17, 6], [5, 8, 8, 12], [0, 0, 6, 5], [12, 9, 20, 16],
                    [4, 4, 12, 12]])
    x = _rectangles(b, (6, H, W, 1))
    fmt = layer.bounding_box_format
    given = np.asarray(bb.convert_format(b[:, None], "xyxy", fmt, height=H, width=W))
    channels_first = layer.data_format == "channels_first"
    images = np.transpose(x, (0, 3, 1, 2)) if channels_first else x
    data = {"images": images, "bounding_boxes": {"boxes": given,
                                                 "labels": np.ones((6, 1), np.int32)}}
    for key in range(3):
        out, _ = layer.apply({}, {}, data, training=True, rng=jax.random.key(key))
        y = np.asarray(out["images"])
        y = np.transpose(y, (0, 2, 3, 1)) if channels_first else y
        oh, ow = y.shape[1:3]
        moved = np.asarray(bb.convert_format(out["bounding_boxes"]["boxes"], fmt, "xyxy",
                                             height=oh, width=ow))[:, 0]
        for i in range(6):
            if out["bounding_boxes"]["labels"][i, 0] == -1:
                assert not (y[i] > 0.5).any()  # the rectangle left the image with its box
            else:
                close(moved[i], _box_around(y[i]), atol=1e-4)


def test_rand_augment_moves_boxes_through_its_chosen_operations_in_turn():
    """Each chosen operation moves the boxes as that layer does alone (tested against Keras
    above), with the draws it makes for the images; colour operations leave them."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, H, H, 3)).astype(np.float32)
    b, labels = boxes((2, 3), low=0, high=8), np.int32([[1, 2, 3], [4, 5, 6]])
    layer = layers.RandAugment(num_ops=3, factor=0.6, bounding_box_format="xyxy")
    apply = jax.jit(functools.partial(layer.apply, training=True))
    moved_some = False
    for seed in range(4):
        key = jax.random.key(seed)
        out, _ = apply({}, {}, {"images": x, "bounding_boxes": {"boxes": b, "labels": labels}},
                       rng=key)
        draws = layer._draw(key, 2, H, H)
        expected, expected_labels = jnp.asarray(b), jnp.asarray(labels)
        for index, op_key in zip(np.asarray(draws["layer_idxes"]), draws["keys"]):
            part = layer._parts[int(index)]
            if part._boxes == "move":
                moved = part._move_boxes(expected, part._draw(op_key, 2, H, H), H, H)[0]
                clipped = bb.clip_to_image_size({"boxes": moved, "labels": expected_labels},
                                                H, H)
                expected, expected_labels = clipped["boxes"], clipped["labels"]
                moved_some = True
        close(out["bounding_boxes"]["boxes"], expected, atol=1e-4)
        np.testing.assert_array_equal(out["bounding_boxes"]["labels"], expected_labels)
    assert moved_some


def test_inference_keeps_boxes_except_where_the_images_change():
    b = np.float32([[[2, 3, 8, 9]]])
    data = {"images": np.zeros((1, H, W, 3), np.float32),
            "bounding_boxes": {"boxes": b, "labels": np.int32([[7]])}}
    out, _ = layers.RandomRotation(0.3, bounding_box_format="xyxy").apply({}, {}, data)
    close(out["bounding_boxes"]["boxes"], b)
    # RandomCrop crops at inference too (kerasx; see its docstring): the boxes follow
    # (Keras's window: 8 x 8 from the offset (0, 2) that centres the 16 x 16 square crop)
    data["images"] = np.random.default_rng(0).uniform(size=(1, H, W, 3)).astype(np.float32)
    out, _ = layers.RandomCrop(8, 8, bounding_box_format="xyxy").apply({}, {}, data)
    close(out["images"], data["images"][:, 0:8, 2:10])
    close(out["bounding_boxes"]["boxes"], [[[0, 3, 6, 8]]])


def test_single_images_colour_layers_and_jit():
    b = np.float32([[2, 3, 8, 9], [10, 1, 12, 4]])
    data = {"images": np.zeros((H, W, 3), np.float32),
            "bounding_boxes": {"boxes": b, "labels": np.int32([1, 2])}}
    layer = layers.RandomTranslation((0.25, 0.25), (0.1, 0.1), bounding_box_format="xyxy")
    out, _ = jax.jit(functools.partial(layer.apply, training=True))({}, {}, data,
                                                                    rng=jax.random.key(0))
    assert out["images"].shape == (H, W, 3)
    close(out["bounding_boxes"]["boxes"], np.minimum(b + np.float32([2, 4, 2, 4]),
                                                     np.float32([W, H, W, H])))
    # colour layers pass boxes through (as Keras)
    out, _ = layers.RandomBrightness(0.2, bounding_box_format="xyxy").apply(
        {}, {}, data, training=True, rng=jax.random.key(0))
    close(out["bounding_boxes"]["boxes"], b)


@pytest.mark.parametrize("name,kwargs", [
    ("RandomRotation", dict(factor=(0.1, 0.1), fill_mode="constant")),
    ("RandomZoom", dict(height_factor=(-0.3, -0.3))),
])
def test_segmentation_masks_match_keras_for_fixed_transformations(name, kwargs):
    rng = np.random.default_rng(0)
    data = {"images": rng.uniform(0, 255, (2, H, W, 3)).astype(np.float32),
            "segmentation_masks": rng.integers(0, 4, (2, H, W, 1)).astype(np.uint8)}
    ours, _ = getattr(layers, name)(**kwargs).apply({}, {}, data, training=True,
                                                    rng=jax.random.key(0))
    theirs = getattr(keras().layers, name)(**kwargs)(jax.tree.map(np.copy, data), training=True)
    assert ours["segmentation_masks"].dtype == np.uint8  # masks keep their dtype
    np.testing.assert_array_equal(ours["segmentation_masks"], theirs["segmentation_masks"])
    close(ours["images"], theirs["images"], atol=1e-3)


@pytest.mark.parametrize("layer", [
    layers.RandomFlip(), layers.RandomCrop(9, 11, data_format="channels_first"),
    layers.RandomTranslation(0.3, 0.3, fill_mode="constant", interpolation="nearest"),
    layers.RandomBrightness(0.3),
], ids=["flip", "crop-channels-first", "translation", "brightness"])
def test_segmentation_masks_move_with_their_images(layer):
    b = np.float32([[3, 4, 9, 10], [10, 2, 17, 6], [5, 8, 8, 12]])
    x = _rectangles(b, (3, H, W, 1))
    if layer.data_format == "channels_first":
        x = np.transpose(x, (0, 3, 1, 2))
    data = {"images": x, "segmentation_masks": x.astype(np.int32) * 2}
    spec = layer.output_spec(jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), data))
    for key in range(2):
        out, _ = jax.jit(functools.partial(layer.apply, training=True))({}, {}, data,
                                                                        rng=jax.random.key(key))
        assert out["segmentation_masks"].dtype == jnp.int32
        expected = np.round(np.asarray(out["images"])) * 2
        if isinstance(layer, layers.RandomBrightness):
            expected = data["segmentation_masks"]  # colour layers leave masks alone
        np.testing.assert_array_equal(out["segmentation_masks"], expected)
        assert jax.tree.map(lambda s: (s.shape, s.dtype), spec) == jax.tree.map(
            lambda a: (a.shape, a.dtype), out)
    # at inference masks stay (RandomCrop crops them, as its images)
    out, _ = layer.apply({}, {}, data)
    assert out["segmentation_masks"].shape == spec["segmentation_masks"].shape


def test_bad_box_inputs_get_clear_errors():
    images = np.zeros((2, 8, 8, 3), np.float32)
    good = {"boxes": np.zeros((2, 3, 4), np.float32), "labels": np.zeros((2, 3), np.int32)}
    with pytest.raises(ValueError, match="bounding box format.*RandomFlip"):
        layers.RandomFlip().apply({}, {}, {"images": images, "bounding_boxes": good})
    flip = layers.RandomFlip(bounding_box_format="xyxy")
    with pytest.raises(ValueError, match=r"RandomFlip.*\(batch, num_boxes, 4\).*\(2, 3\)"):
        flip.apply({}, {}, {"images": images, "bounding_boxes": {**good,
                                                                 "boxes": np.zeros((2, 3))}})
    with pytest.raises(ValueError, match=r"RandomFlip.*one entry per box.*\(2, 4\)"):
        flip.apply({}, {}, {"images": images, "bounding_boxes": {**good,
                                                                 "labels": np.zeros((2, 4))}})
    with pytest.raises(ValueError, match="RandomFlip.*'boxes' and 'labels'"):
        flip.apply({}, {}, {"images": images, "bounding_boxes": {"boxes": good["boxes"]}})
    with pytest.raises(ValueError, match="RandomFlip.*key 'images'.*'masks'"):
        flip.apply({}, {}, {"images": images, "masks": images})
    with pytest.raises(ValueError, match=r"RandomFlip.*masks.*\(2, 8, 4, 1\)"):
        flip.apply({}, {}, {"images": images, "segmentation_masks": np.zeros((2, 8, 4, 1))})
    with pytest.raises(NotImplementedError, match="RandomElasticTransform.*bounding boxes"):
        layers.RandomElasticTransform(bounding_box_format="xyxy").apply(
            {}, {}, {"images": images, "bounding_boxes": good})
    with pytest.raises(NotImplementedError, match="RandAugment.*segmentation masks"):
        layers.RandAugment().apply({}, {}, {"images": images,
                                            "segmentation_masks": images[..., :1]})
    with pytest.raises(ValueError, match="bounding_box_format.*Received: bounding_box_format='xy'"):
        layers.RandomZoom(0.1, bounding_box_format="xy")


def test_bounding_box_format_is_in_the_config_as_keras():
    layer = layers.RandomZoom(0.2, bounding_box_format="center_xywh", seed=2)
    config = layer.get_config()
    assert config["bounding_box_format"] == "center_xywh"
    assert layers.RandomZoom.from_config(json.loads(json.dumps(config))).bounding_box_format \
        == "center_xywh"
    assert "bounding_box_format" not in layers.RandomZoom(0.2).get_config()
    theirs = keras().layers.RandomZoom(0.2, bounding_box_format="center_xywh").get_config()
    assert layers.RandomZoom.from_config(theirs).bounding_box_format == "center_xywh"


# ------------------------------------------------------------------------ MaxNumBoundingBoxes
def test_max_num_bounding_boxes_matches_keras():
    images = np.random.default_rng(0).integers(0, 255, (2, 6, 6, 3)).astype(np.uint8)
    b = boxes((2, 3))
    labels = np.int32([[1, 2, 3], [4, 5, 6]])
    for kwargs in (dict(max_number=5), dict(max_number=2, fill_value=-3)):
        ours = layers.MaxNumBoundingBoxes(**kwargs, bounding_box_format="xyxy")
        theirs = keras().layers.MaxNumBoundingBoxes(**kwargs, bounding_box_format="xyxy")
        for data in ({"images": images, "bounding_boxes": {"boxes": b, "labels": labels}},
                     {"images": images[0], "bounding_boxes": {"boxes": b[0],
                                                              "labels": labels[0]}}):
            out, _ = jax.jit(ours.apply)({}, {}, data)
            expected = theirs(jax.tree.map(np.copy, data))
            for path in (("bounding_boxes", "boxes"), ("bounding_boxes", "labels")):
                got, want = out[path[0]][path[1]], expected[path[0]][path[1]]
                assert got.shape == want.shape and got.dtype == want.dtype
                close(got, want)
            np.testing.assert_array_equal(out["images"], data["images"])
            assert out["images"].dtype == np.uint8  # images pass through untouched, as Keras
            spec = ours.output_spec(jax.tree.map(
                lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), data))
            assert jax.tree.map(lambda s: (s.shape, s.dtype), spec) == jax.tree.map(
                lambda a: (a.shape, a.dtype), out)


def test_max_num_bounding_boxes_arguments_and_config():
    with pytest.raises(ValueError, match="max_number.*positive integer"):
        layers.MaxNumBoundingBoxes(0)
    with pytest.raises(ValueError, match="bounding box format"):
        layers.MaxNumBoundingBoxes(3).apply({}, {}, {
            "images": np.zeros((1, 4, 4, 3)),
            "bounding_boxes": {"boxes": np.zeros((1, 2, 4)), "labels": np.zeros((1, 2))}})
    layer = layers.MaxNumBoundingBoxes(4, fill_value=0, bounding_box_format="xyxy")
    clone = layers.MaxNumBoundingBoxes.from_config(json.loads(json.dumps(layer.get_config())))
    assert (clone.max_number, clone.fill_value, clone.bounding_box_format) == (4, 0, "xyxy")
    theirs = keras().layers.MaxNumBoundingBoxes(4, bounding_box_format="xyxy").get_config()
    assert layers.MaxNumBoundingBoxes.from_config(theirs).fill_value == -1


# ------------------------------------------------------------------------------------- CLAHE
CLAHE_CASES = [  # (Keras's CLAHE takes seconds per new shape: the variants run with -m slow)
    pytest.param((2, 16, 16, 3), dict(), id="defaults"),
    pytest.param((2, 13, 10, 1), dict(tile_grid_size=(3, 4), clip_limit=2.0), id="padded"),
    pytest.param((1, 9, 7, 2), dict(clip_limit=0.0, tile_grid_size=(2, 2)), id="no-clip",
                 marks=pytest.mark.slow),
    pytest.param((2, 12, 12, 3), dict(value_range=(0, 1), tile_grid_size=(4, 3)),
                 id="value-range", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("shape,kwargs", CLAHE_CASES)
def test_clahe_matches_keras(shape, kwargs):
    high = 1.0 if kwargs.get("value_range") == (0, 1) else 255.0
    x = (np.random.default_rng(0).uniform(0, 1, shape) ** 2 * high).astype(np.float32)
    cls = "ContrastLimitedAdaptiveHistogramEqualization"
    for training in (False, True):  # applied in both, as Keras
        run_layer_test(getattr(layers, cls)(**kwargs), x, getattr(keras().layers, cls)(**kwargs),
                       training=training, atol=1e-3)


def test_clahe_layouts_and_arguments():
    cls = "ContrastLimitedAdaptiveHistogramEqualization"
    x = np.random.default_rng(1).uniform(0, 255, (2, 3, 10, 12)).astype(np.float32)
    ours = getattr(layers, cls)(tile_grid_size=(2, 3), data_format="channels_first")
    theirs = getattr(keras().layers, cls)(tile_grid_size=(2, 3), data_format="channels_first")
    y = ours.apply({}, {}, x)[0]
    close(y, theirs(x), atol=1e-3)
    last = getattr(layers, cls)(tile_grid_size=(2, 3))  # one image = a batch of one
    close(last.apply({}, {}, x[0].transpose(1, 2, 0))[0], y[0].transpose(1, 2, 0), atol=1e-3)
    with pytest.raises(ValueError, match="tile_grid_size.*Received: tile_grid_size=\\(0, 2\\)"):
        getattr(layers, cls)(tile_grid_size=(0, 2))
    with pytest.raises(ValueError, match="clip_limit"):
        getattr(layers, cls)(clip_limit="4")
    with pytest.raises(ValueError, match="value_range"):
        getattr(layers, cls)(value_range=(1, 1))
