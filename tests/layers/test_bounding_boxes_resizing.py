"""Bounding boxes and segmentation masks through Resizing, CenterCrop, MixUp and CutMix, against
Keras 3.

Resizing and CenterCrop are deterministic, so whole dict calls are compared with Keras's. MixUp
and CutMix draw at random: their dict outputs are compared with Keras's `transform_*` methods
given the parameters kerasx drew (`layer._draw` on the same key).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kerasx import layers
from harness import keras

H, W = 12, 16


def close(a, b, atol=1e-4):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=1e-5)


def sample(batch=2, n=4, fmt="xyxy", seed=0, height=H, width=W, channels_first=False):
    """A dict input: images, one-hot labels, boxes in `fmt` (one all-zero padding box, one
    partly outside) and int32 masks."""
    rng = np.random.default_rng(seed)
    shape = (batch, 3, height, width) if channels_first else (batch, height, width, 3)
    mshape = (batch, 1, height, width) if channels_first else (batch, height, width, 1)
    b = rng.uniform(0, min(height, width) - 4, (batch, n, 4)).astype(np.float32)
    b[..., 2:] = b[..., :2] + rng.uniform(1, 6, (batch, n, 2)).astype(np.float32)
    b[:, 0] = 0.0  # padding box (Keras's empty box)
    b[:, 1] = [1.0, 2.0, width + 3.0, height - 1.0]  # sticks out to the right
    boxes = np.asarray(keras().utils.bounding_boxes.convert_format(
        b, "xyxy", fmt, height=height, width=width), np.float32)
    return {"images": rng.uniform(0, 255, shape).astype(np.float32),
            "labels": np.eye(batch, dtype=np.float32),
            "bounding_boxes": {"boxes": boxes,
                               "labels": rng.integers(0, 5, (batch, n)).astype(np.int32)},
            "segmentation_masks": rng.integers(0, 4, mshape).astype(np.int32)}


def copy(d):
    return {k: ({kk: np.array(vv) for kk, vv in v.items()} if isinstance(v, dict)
                else np.array(v)) for k, v in d.items()}


def compare_dicts(ours, theirs, atol=1e-3, mask_dtype=True):
    assert set(ours) == set(theirs)
    close(ours["images"], theirs["images"], atol=atol)
    if "labels" in ours:
        close(ours["labels"], theirs["labels"])
    if "bounding_boxes" in ours:
        close(ours["bounding_boxes"]["boxes"], theirs["bounding_boxes"]["boxes"])
        np.testing.assert_array_equal(np.asarray(ours["bounding_boxes"]["labels"]),
                                      np.asarray(theirs["bounding_boxes"]["labels"]))
    if "segmentation_masks" in ours:
        close(ours["segmentation_masks"], theirs["segmentation_masks"], atol=atol)
        if mask_dtype:
            assert ours["segmentation_masks"].dtype == np.asarray(
                theirs["segmentation_masks"]).dtype


def whole_call(ours, theirs, data):
    out, _ = ours.apply({}, {}, copy(data))
    return out, theirs(copy(data))


# ---------------------------------------------------------------------------------- Resizing
RESIZE_MODES = [dict(), dict(crop_to_aspect_ratio=True), dict(pad_to_aspect_ratio=True),
                dict(pad_to_aspect_ratio=True, fill_value=2.0, interpolation="nearest")]


@pytest.mark.parametrize("size", [(8, 8), (20, 10)])
@pytest.mark.parametrize("kwargs", RESIZE_MODES, ids=lambda k: "-".join(k) or "stretch")
@pytest.mark.parametrize("fmt", ["xyxy", "rel_yxyx", "center_xywh"])
def test_resizing_moves_boxes_and_masks_as_keras(fmt, kwargs, size):
    data = sample(fmt=fmt)
    kw = dict(height=size[0], width=size[1], bounding_box_format=fmt, **kwargs)
    out, theirs = whole_call(layers.Resizing(**kw), keras().layers.Resizing(**kw), data)
    compare_dicts(out, theirs)
    assert out["segmentation_masks"].shape == (2,) + size + (1,)


def test_resizing_single_images_and_channels_first_as_keras():
    data = sample(batch=1, fmt="xywh")
    single = {"images": data["images"][0], "segmentation_masks": data["segmentation_masks"][0],
              "bounding_boxes": {k: v[0] for k, v in data["bounding_boxes"].items()}}
    kw = dict(height=6, width=9, crop_to_aspect_ratio=True, bounding_box_format="xywh")
    out, theirs = whole_call(layers.Resizing(**kw), keras().layers.Resizing(**kw), single)
    compare_dicts(out, theirs)
    assert out["bounding_boxes"]["boxes"].shape == (4, 4)
    data = sample(fmt="xyxy", channels_first=True)
    kw = dict(height=7, width=10, pad_to_aspect_ratio=True, bounding_box_format="xyxy",
              data_format="channels_first")
    out, theirs = whole_call(layers.Resizing(**kw), keras().layers.Resizing(**kw), data)
    compare_dicts(out, theirs)


def test_resizing_dicts_run_under_jit_and_output_spec_agrees():
    data = sample(fmt="rel_xyxy")
    layer = layers.Resizing(6, 8, pad_to_aspect_ratio=True, bounding_box_format="rel_xyxy")
    eager, _ = layer.apply({}, {}, data)
    jitted, _ = jax.jit(lambda d: layer.apply({}, {}, d))(data)
    jax.tree.map(lambda a, b: close(a, b), eager, jitted)
    spec = layer.output_spec(jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), data))
    assert jax.tree.map(lambda s: (s.shape, s.dtype), spec) == \
        jax.tree.map(lambda a: (a.shape, a.dtype), eager)


# -------------------------------------------------------------------------------- CenterCrop
@pytest.mark.parametrize("size", [(8, 10), (12, 16), (14, 9), (20, 24)])
@pytest.mark.parametrize("fmt", ["xyxy", "rel_xywh", "center_yxhw"])
def test_center_crop_moves_boxes_and_masks_as_keras(fmt, size):
    data = sample(fmt=fmt)
    kw = dict(height=size[0], width=size[1], bounding_box_format=fmt)
    out, theirs = whole_call(layers.CenterCrop(**kw), keras().layers.CenterCrop(**kw), data)
    compare_dicts(out, theirs)


def test_center_crop_single_image_channels_first_as_keras():
    data = sample(batch=1, fmt="yxyx", channels_first=True)
    single = {"images": data["images"][0], "segmentation_masks": data["segmentation_masks"][0],
              "bounding_boxes": {k: v[0] for k, v in data["bounding_boxes"].items()}}
    kw = dict(height=14, width=6, bounding_box_format="yxyx", data_format="channels_first")
    out, theirs = whole_call(layers.CenterCrop(**kw), keras().layers.CenterCrop(**kw), single)
    compare_dicts(out, theirs)


# ------------------------------------------------------------------------------------- MixUp
def test_mixup_appends_the_partners_boxes_and_mixes_masks_as_keras():
    data = sample(batch=4, fmt="center_xywh", seed=3)
    data["labels"] = np.eye(4, dtype=np.float32)
    layer = layers.MixUp(alpha=0.8, bounding_box_format="center_xywh")
    key = jax.random.key(5)
    out, _ = layer.apply({}, {}, copy(data), training=True, rng=key)
    draws = layer._draw(key, 4, H, W)
    k = keras().layers.MixUp(alpha=0.8, bounding_box_format="center_xywh")
    t = {"mix_weight": np.asarray(draws["mix_weight"]),
         "permutation_order": np.asarray(draws["permutation_order"])}
    close(out["images"], k.transform_images(data["images"], t), atol=1e-3)
    close(out["labels"], k.transform_labels(data["labels"], t))
    kb = k.transform_bounding_boxes(copy(data)["bounding_boxes"], t)
    close(out["bounding_boxes"]["boxes"], kb["boxes"])
    assert out["bounding_boxes"]["boxes"].shape == (4, 8, 4)
    # Keras concatenates the box labels along the batch axis (shape (2 batch, N), which no
    # longer lines up with the boxes); kerasx appends them per image, next to their boxes
    perm = t["permutation_order"]
    lab = data["bounding_boxes"]["labels"]
    np.testing.assert_array_equal(out["bounding_boxes"]["labels"],
                                  np.concatenate([lab, lab[perm]], axis=1))
    assert sorted(np.asarray(kb["labels"]).ravel()) == sorted(np.concatenate(
        [lab, lab[perm]]).ravel())
    # masks: Keras's own mixing of images on the same draws (its mask method flattens them)
    close(out["segmentation_masks"],
          k.transform_images(data["segmentation_masks"].astype(np.float32), t), atol=1e-4)
    assert out["segmentation_masks"].dtype == jnp.float32
    # at inference everything passes (boxes as float32)
    inf, _ = layer.apply({}, {}, copy(data))
    close(inf["bounding_boxes"]["boxes"], data["bounding_boxes"]["boxes"])
    np.testing.assert_array_equal(inf["segmentation_masks"], data["segmentation_masks"])


def test_mixup_single_image_is_its_own_partner():
    # Keras mixes a single image with itself; with boxes its call fails (it concatenates the
    # box labels along the wrong axis), kerasx gives the image's boxes twice, as for a batch
    data = sample(batch=1, fmt="xyxy")
    single = {"images": data["images"][0],
              "bounding_boxes": {k: v[0] for k, v in data["bounding_boxes"].items()}}
    out, _ = layers.MixUp(bounding_box_format="xyxy").apply(
        {}, {}, copy(single), training=True, rng=jax.random.key(0))
    theirs = keras().layers.MixUp()({"images": single["images"]}, training=True)
    close(out["images"], theirs["images"], atol=1e-3)
    close(out["bounding_boxes"]["boxes"], np.concatenate([single["bounding_boxes"]["boxes"]] * 2))
    np.testing.assert_array_equal(out["bounding_boxes"]["labels"],
                                  np.concatenate([single["bounding_boxes"]["labels"]] * 2))


# ------------------------------------------------------------------------------------ CutMix
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_cutmix_pastes_the_same_rectangle_into_the_masks_as_keras(data_format):
    cf = data_format == "channels_first"
    data = sample(batch=4, seed=1, channels_first=cf)
    data.pop("bounding_boxes")
    data["labels"] = np.eye(4, dtype=np.float32)
    layer = layers.CutMix(data_format=data_format)
    key = jax.random.key(7)
    out, _ = layer.apply({}, {}, copy(data), training=True, rng=key)
    draws = layer._draw(key, 4, H, W)
    batch_masks = np.asarray(draws["batch_masks"])
    if cf:
        batch_masks = batch_masks.transpose(0, 3, 1, 2)
    k = keras().layers.CutMix(data_format=data_format)
    t = {"permutation_order": np.asarray(draws["permutation_order"]),
         "batch_masks": batch_masks, "mix_weight": np.asarray(draws["mix_weight"])}
    close(out["labels"], k.transform_labels(data["labels"], t), atol=1e-5)
    close(out["segmentation_masks"], k.transform_segmentation_masks(
        data["segmentation_masks"], t), atol=0)
    assert out["segmentation_masks"].dtype == jnp.int32  # Keras: float32 (pasted values)
    assert np.any(np.asarray(out["segmentation_masks"]) != data["segmentation_masks"])


def test_cutmix_refuses_boxes_as_keras():
    data = sample(fmt="xyxy")
    with pytest.raises(NotImplementedError, match="CutMix.*bounding boxes"):
        layers.CutMix(bounding_box_format="xyxy").apply({}, {}, copy(data), training=True,
                                                       rng=jax.random.key(0))
    with pytest.raises(NotImplementedError):
        keras().layers.CutMix(bounding_box_format="xyxy")(copy(data), training=True)


# ------------------------------------------------------------------------------ errors/config
@pytest.mark.parametrize("name,args", [("Resizing", (6, 6)), ("CenterCrop", (6, 6)),
                                       ("MixUp", ())])
def test_bad_dict_inputs_get_clear_errors(name, args):
    data = sample(fmt="xyxy")
    with pytest.raises(ValueError, match="bounding box format"):
        getattr(layers, name)(*args).apply({}, {}, copy(data), training=True,
                                            rng=jax.random.key(0))
    with pytest.raises(ValueError, match="didn't specify a bounding box format"):
        getattr(keras().layers, name)(*args)(copy(data), training=True)
    with pytest.raises(ValueError, match=f"{name}.*bounding_box_format.*'xyz'"):
        getattr(layers, name)(*args, bounding_box_format="xyz")
    layer = getattr(layers, name)(*args, bounding_box_format="xyxy")
    bad = copy(data)
    bad["bounding_boxes"]["boxes"] = bad["bounding_boxes"]["boxes"][:, :, :3]
    with pytest.raises(ValueError, match=rf"{name}.*num_boxes, 4.*\(2, 4, 3\)"):
        layer.apply({}, {}, bad)
    bad = copy(data)
    bad["segmentation_masks"] = bad["segmentation_masks"][:, :5]
    with pytest.raises(ValueError, match=rf"{name}.*masks.*\(2, 5, 16, 1\)"):
        layer.apply({}, {}, bad)
    with pytest.raises(ValueError, match=f"{name}.*key 'images'.*'masks'"):
        layer.apply({}, {}, {"images": data["images"], "masks": data["segmentation_masks"]})


@pytest.mark.parametrize("name,args", [("Resizing", (6, 5)), ("CenterCrop", (6, 5)),
                                       ("MixUp", ()), ("CutMix", ())])
def test_bounding_box_format_config_is_written_only_when_set_as_keras(name, args):
    for kw in ({}, {"bounding_box_format": "rel_xyxy"}):
        ours = getattr(layers, name)(*args, **kw).get_config()
        theirs = getattr(keras().layers, name)(*args, **kw).get_config()
        assert ("bounding_box_format" in ours) == ("bounding_box_format" in theirs) == bool(kw)
        assert set(ours) - {"name", "trainable", "dtype"} <= set(theirs)
        again = getattr(layers, name).from_config(ours)
        assert again.get_config() == ours
