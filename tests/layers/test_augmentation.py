"""Image augmentation layers against Keras 3.

The random draws cannot match Keras's, so the oracle tests compare the deterministic parts:
factor ranges of a single value (a fixed transformation) with `training=True`, Keras's
`transform_images` on the same drawn parameters, and the identity at inference. The random
parts are checked by exact properties (a flip is the input or its flip, a crop is a window of
the input, values stay in `value_range`) and by reproducibility under `jax.jit`.
"""

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kerasx
from kerasx import layers
from harness import keras, run_layer_test


def images(shape=(2, 7, 9, 3), seed=0, high=255.0):
    return np.random.default_rng(seed).uniform(0, high, size=shape).astype(np.float32)


@functools.partial(jax.jit, static_argnums=0)
def _train(layer, x, key):
    return layer.apply({}, {}, x, training=True, rng=key)[0]


def train(layer, x, key=0):
    """The layer's training output under jit (compiled once per layer object and shape)."""
    return np.asarray(_train(layer, x, jax.random.key(key)))


def close(a, b, atol=1e-4):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol, rtol=1e-5)


# ---------------------------------------------------------------------- fixed transformations
FIXED = [  # (class name, kwargs): a single-valued range makes the training output deterministic
    ("RandomRotation", dict(factor=(0.1, 0.1))),
    ("RandomRotation", dict(factor=(-0.3, -0.3), fill_mode="constant", fill_value=7.0)),
    ("RandomRotation", dict(factor=(0.2, 0.2), fill_mode="wrap", interpolation="nearest")),
    ("RandomRotation", dict(factor=(0.15, 0.15), fill_mode="nearest")),
    ("RandomZoom", dict(height_factor=(0.2, 0.2))),
    ("RandomZoom", dict(height_factor=(-0.3, -0.3), width_factor=(0.4, 0.4),
                        fill_mode="constant", interpolation="nearest")),
    ("RandomTranslation", dict(height_factor=(0.2, 0.2), width_factor=(-0.3, -0.3))),
    ("RandomTranslation", dict(height_factor=(-0.25, -0.25), width_factor=(0.1, 0.1),
                               fill_mode="wrap")),
    ("RandomBrightness", dict(factor=(0.3, 0.3))),
    ("RandomBrightness", dict(factor=(-0.2, -0.2), value_range=(0, 1))),
    ("RandomContrast", dict(factor=0.0)),
    ("RandomCrop", dict(height=7, width=5)),   # full height: Keras's deterministic window
    ("RandomCrop", dict(height=10, width=4)),  # taller than the input: crop and resize
    ("RandomGrayscale", dict(factor=1.0)),
    ("RandomColorDegeneration", dict(factor=(0.4, 0.4))),
    ("RandomSaturation", dict(factor=(0.7, 0.7), value_range=(0, 1))),
    ("RandomHue", dict(factor=0.0)),
    ("RandomInvert", dict(factor=(1.0, 1.0))),
    ("RandomPosterization", dict(factor=(3, 3))),
    ("RandomSharpness", dict(factor=(0.8, 0.8))),
    ("Solarization", dict()),  # threshold 0: every pixel inverted
    ("AutoContrast", dict()),
    ("Equalization", dict(bins=8)),
    ("RandomGaussianBlur", dict(factor=(1.0, 1.0), sigma=(0.7, 0.7), kernel_size=5)),
    ("RandomShear", dict()),
    ("RandomColorJitter", dict(brightness_factor=(0.2, 0.2), contrast_factor=0.0,
                               saturation_factor=(0.6, 0.6), hue_factor=0.0)),
]


def _ids(cases):
    return [f"{c}-{i}" for i, (c, _) in enumerate(cases)]


def _params(cases, slow=()):
    """The cases as pytest params; those at the `slow` indices (variants that repeat what the
    others check) run only in the full suite (`-m slow` or no `-m` at all)."""
    return [pytest.param(*c, id=f"{c[0]}-{i}", marks=[pytest.mark.slow] if i in slow else [])
            for i, c in enumerate(cases)]


@pytest.mark.parametrize("name,kwargs", _params(FIXED, slow={2, 3, 5, 7, 9, 10, 12, 13, 14, 15,
                                                               16, 17, 18, 19, 20, 21, 22, 23,
                                                               24}))
def test_fixed_transformations_match_keras_when_training(name, kwargs):
    x = images(high=1.0 if kwargs.get("value_range") == (0, 1) else 255.0)
    run_layer_test(getattr(layers, name)(**kwargs), x, getattr(keras().layers, name)(**kwargs),
                   training=True, rng=jax.random.key(1), atol=1e-3)


@pytest.mark.parametrize("name,kwargs", _params(FIXED[:9:2], slow={1, 2, 3}))
def test_channels_first_and_unbatched_inputs_match_keras(name, kwargs):
    k = keras()
    x = images()
    ours = getattr(layers, name)(**kwargs, data_format="channels_first")
    theirs = getattr(k.layers, name)(**kwargs, data_format="channels_first")
    xc = np.transpose(x, (0, 3, 1, 2))
    close(train(ours, xc), theirs(xc, training=True), atol=1e-3)
    single = getattr(layers, name)(**kwargs)
    close(train(single, x[0]), getattr(k.layers, name)(**kwargs)(x[0], training=True), atol=1e-3)


def test_contrast_matches_keras_on_the_same_factors():
    k = keras()
    x = images()
    c = np.array([0.6, 1.4], np.float32).reshape(2, 1, 1, 1)
    for kwargs in (dict(factor=0.5), dict(factor=(0.2, 0.7), value_range=(10, 200))):
        ours = layers.RandomContrast(**kwargs)._transform(jnp.asarray(x), {"contrast_factor": c})
        theirs = k.layers.RandomContrast(**kwargs).transform_images(x, {"contrast_factor": c})
        close(ours, theirs, atol=1e-3)


def _b(*v):
    return np.array(v)


def _col(*v):
    return np.array(v, np.float32).reshape(-1, 1, 1, 1)


_MASK = np.zeros((3, 7, 9, 3), bool)
_MASK[:, 2:5, 1:4] = True
_CORNERS = np.repeat(np.float32([[[0, 0], [8, 0], [0, 6], [8, 6]]]), 3, axis=0)
_SHEAR = np.array([[0.2, 0.1], [-0.3, 0.1], [0.1, -0.2]], np.float32)
TRANSFORMS = [  # (class name, kwargs, our draws, Keras's transformation if it differs, scale)
    ("RandomGrayscale", {}, {"should_apply": _b(1, 0, 1).astype(bool)[:, None, None, None]},
     _b(1, 0, 1).astype(bool)[:, None, None, None], 255),
    ("RandomColorDegeneration", dict(factor=0.5), {"factor": _col(0.3, -0.4, 0.9)}, None, 255),
    ("RandomHue", dict(factor=0.5), {"factor": np.float32([0.3, -0.4, 0.1])}, None, 255),
    ("RandomHue", dict(factor=0.5, value_range=(0, 1)), {"factor": np.float32([0.3, -0.4, 0.1])},
     None, 1),
    ("RandomSaturation", dict(factor=0.5), {"factor": np.float32([0.3, 2.0, 0.0])}, None, 255),
    ("RandomSaturation", dict(factor=0.5, value_range=(0, 1)),
     {"factor": np.float32([0.3, 2.0, 0.0])}, None, 1),
    ("RandomInvert", {}, {"apply_inversion": _b(1, 0, 1).astype(bool)}, None, 255),
    ("RandomPosterization", dict(factor=(2, 5)), {"shift_factor": np.uint8([3, 6, 1])}, None, 255),
    ("RandomPosterization", dict(factor=(2, 5), value_range=(-1, 1)),
     {"shift_factor": np.uint8([3, 6, 1])}, None, -1),
    ("RandomSharpness", dict(factor=0.5), {"factor": np.float32([0.1, 0.5, 0.9])}, None, 255),
    ("Solarization", dict(addition_factor=0.5, threshold_factor=0.5),
     {"additions": _col(10, 50, 0), "thresholds": _col(100, 200, 30)}, None, 255),
    ("Solarization", dict(value_range=(0, 1)),
     {"additions": _col(10, 50, 0), "thresholds": _col(100, 200, 30)}, None, 1),
    ("AutoContrast", dict(value_range=(0, 1)), {}, None, 1),
    ("Equalization", dict(bins=16, value_range=(0, 1)), {}, None, 1),
    ("RandomErasing", dict(fill_value=5.0),
     {"batch_masks": _MASK, "apply_erasing": _b(1, 0, 1).astype(bool)},
     {"batch_masks": _MASK, "apply_erasing": _b(1, 0, 1).astype(bool),
      "fill_value": np.full(_MASK.shape, 5.0, np.float32)}, 255),
    ("RandomGaussianBlur", dict(kernel_size=(3, 5)),
     {"blur_factor": np.float32([0.5, 1.3]), "should_apply_blur": _b(1, 0, 1).astype(bool)},
     None, 255),
    ("RandomShear", dict(x_factor=0.3, y_factor=0.2, fill_mode="constant"),
     {"transform": np.stack([np.ones(3), _SHEAR[:, 0], np.zeros(3), _SHEAR[:, 1], np.ones(3),
                             np.zeros(3), np.zeros(3), np.zeros(3)], 1).astype(np.float32)},
     {"shear_factor": _SHEAR}, 255),
    ("RandomPerspective", dict(scale=0.6, fill_value=3.0),
     {"apply_perspective": _b(1, 0, 1).astype(bool), "start_points": _CORNERS,
      "end_points": _CORNERS * (1 + np.random.default_rng(1).uniform(-0.3, 0.3, (3, 4, 2)))
      .astype(np.float32)}, None, 255),
    ("MixUp", {}, {"mix_weight": np.float32([0.2, 0.9, 0.5]), "permutation_order": _b(2, 0, 1)},
     None, 255),
    ("CutMix", {}, {"batch_masks": _MASK, "permutation_order": _b(1, 2, 0)}, None, 255),
]


@pytest.mark.parametrize("name,kwargs,draws,keras_draws,scale",
                         _params(TRANSFORMS, slow={3, 5, 8, 11}))
def test_transformations_match_keras_on_the_same_random_parameters(name, kwargs, draws,
                                                                   keras_draws, scale):
    x = images((3, 7, 9, 3), high=1.0)
    x = x * 2 - 1 if scale == -1 else x * scale
    ours = getattr(layers, name)(**kwargs)._transform(jnp.asarray(x), draws)
    theirs = getattr(keras().layers, name)(**kwargs).transform_images(
        x, draws if keras_draws is None else keras_draws, training=True)
    close(ours, theirs, atol=1e-4 * max(abs(scale), 1))


def test_random_crop_at_inference_is_kerass_deterministic_crop():
    # Keras 3 returns the input unchanged at inference (contradicting its compute_output_shape);
    # kerasx applies the deterministic crop Keras uses when no random window fits
    k = keras()
    x = images((2, 9, 8, 3))
    theirs_layer = k.layers.RandomCrop(4, 6)
    expected = theirs_layer.transform_images(
        x, theirs_layer.get_random_transformation(x, training=False), training=True)
    y, _ = layers.RandomCrop(4, 6).apply({}, {}, x)
    close(y, expected)
    assert y.shape == (2, 4, 6, 3)


ALL = [("RandomFlip", dict()), ("RandomRotation", dict(factor=0.2)),
       ("RandomZoom", dict(height_factor=0.2, width_factor=0.1)),
       ("RandomTranslation", dict(height_factor=0.1, width_factor=0.2)),
       ("RandomContrast", dict(factor=0.5)), ("RandomBrightness", dict(factor=0.4)),
       ("RandomGrayscale", dict()), ("RandomColorDegeneration", dict(factor=0.5)),
       ("RandomHue", dict(factor=0.5)), ("RandomSaturation", dict(factor=0.5)),
       ("RandomColorJitter", dict(brightness_factor=0.2, hue_factor=0.3)),
       ("RandomInvert", dict()), ("RandomPosterization", dict(factor=(2, 6))),
       ("RandomSharpness", dict(factor=0.8)),
       ("Solarization", dict(addition_factor=0.3, threshold_factor=0.5)),
       ("RandomErasing", dict()), ("RandomGaussianBlur", dict(sigma=(0.5, 1.0))),
       ("RandomShear", dict(x_factor=0.3, y_factor=0.3)),
       ("RandomPerspective", dict(scale=0.5)), ("RandomElasticTransform", dict(scale=0.8)),
       ("MixUp", dict()), ("CutMix", dict()), ("RandAugment", dict(num_ops=2)),
       ("AugMix", dict(num_chains=2, chain_depth=2, all_ops=False))]


@pytest.mark.parametrize("name,kwargs", ALL, ids=_ids(ALL))
def test_inference_is_the_identity_as_in_keras(name, kwargs):
    x = images()
    y, _ = getattr(layers, name)(**kwargs).apply({}, {}, x)  # training=False by default
    close(y, getattr(keras().layers, name)(**kwargs)(x, training=False), atol=0)
    close(y, x, atol=0)
    # an integer image comes out as floats of the same values
    yi, _ = getattr(layers, name)(**kwargs).apply({}, {}, x.astype(np.uint8))
    assert yi.dtype == jnp.float32
    close(yi, x.astype(np.uint8), atol=0)


@pytest.mark.parametrize("name,kwargs", _params(
    ALL + [("RandomCrop", dict(height=4, width=5))],
    slow={2, 3, 4, 6, 7, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 21, 23}))
def test_same_key_same_output_under_jit(name, kwargs):
    x = images((4, 7, 9, 3))
    layer = getattr(layers, name)(**kwargs)
    a, b = train(layer, x, 3), train(layer, x, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, train(layer, x, 4)) or name == "RandomCrop"
    with pytest.raises(ValueError, match=f"{name}.*needs a random key"):
        layer.apply({}, {}, x, training=True)


@pytest.mark.parametrize("name,kwargs", [ALL[1], ALL[5], ("RandomCrop", dict(height=4, width=5))],
                         ids=["RandomRotation", "RandomBrightness", "RandomCrop"])
def test_seeds_fold_into_the_key(name, kwargs):
    x = images((4, 9, 9, 3))
    outs = [train(getattr(layers, name)(**kwargs, seed=s), x, 3) for s in (1, 2)]
    assert not np.array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], train(getattr(layers, name)(**kwargs, seed=1), x, 3))


# ------------------------------------------------------------------ properties of random ones
@pytest.mark.parametrize("mode", ["horizontal", "vertical", "horizontal_and_vertical"])
def test_random_flip_flips_each_image_or_leaves_it(mode):
    x = images((16, 4, 5, 2))
    y = train(layers.RandomFlip(mode), x)
    flipped = {"horizontal": x[:, :, ::-1], "vertical": x[:, ::-1],
               "horizontal_and_vertical": x[:, ::-1, ::-1]}[mode]
    same = np.all(y == x, axis=(1, 2, 3))
    flip = np.all(y == flipped, axis=(1, 2, 3))
    assert np.all(same | flip) and same.any() and flip.any()
    # Keras on a forced flip agrees
    k_layer = keras().layers.RandomFlip(mode)
    forced = np.ones((16, 1, 1, 1), bool)
    close(layers.RandomFlip(mode)._transform(jnp.asarray(x), {"flips": forced}),
          k_layer.transform_images(x, {"flips": forced, "input_shape": x.shape}), atol=0)


def test_random_crop_takes_one_window_of_the_target_size():
    x = images((3, 9, 8, 2))
    crop = layers.RandomCrop(4, 5)
    y = train(crop, x)
    assert y.shape == (3, 4, 5, 2)
    windows = [(i, j) for i in range(6) for j in range(4)
               if np.array_equal(x[:, i:i + 4, j:j + 5], y)]
    assert len(windows) == 1  # the same window for the whole batch, as Keras
    starts = {tuple(np.argwhere(x[0] == train(crop, x, k)[0, 0, 0, 0])[0][:2])
              for k in range(12)}
    assert len(starts) > 1
    assert layers.RandomCrop(4, 5).output_spec(jax.ShapeDtypeStruct((None, 9, 8, 2), jnp.uint8)) \
        == jax.ShapeDtypeStruct((None, 4, 5, 2), jnp.float32)


def test_color_layers_stay_in_value_range_and_in_their_factor_range():
    x = images((16, 5, 5, 3))
    y = train(layers.RandomBrightness(0.5), x)
    assert y.min() >= 0 and y.max() <= 255
    delta = (y - x)[np.abs(y - x) > 0]
    assert np.abs(delta).max() <= 0.5 * 255 + 1e-3
    y = train(layers.RandomBrightness((0.1, 0.2), value_range=(0, 1)), x / 255.0)
    assert y.min() >= 0 and y.max() <= 1 and np.all(y >= x / 255.0)
    y = train(layers.RandomContrast(0.9, value_range=(0, 255)), x)
    assert y.min() >= 0 and y.max() <= 255
    # Keras 3 draws the contrast factor in [1 - lower, 1 + upper] with factor=f meaning (0, f)
    assert layers.RandomContrast(0.3).factor == keras().layers.RandomContrast(0.3).factor


def test_random_rotation_by_a_quarter_turn_rotates_the_pixels():
    x = images((2, 5, 5, 1))
    y = train(layers.RandomRotation((0.25, 0.25), interpolation="nearest"), x)
    close(y, np.rot90(x, k=1, axes=(1, 2)), atol=1e-4)


def test_per_image_choices_give_the_image_or_its_transform():
    x = images((16, 4, 5, 3))
    gray = np.repeat(np.tensordot(x, [0.2989, 0.587, 0.114], axes=(-1, -1))[..., None], 3, -1)
    for layer, other in ((layers.RandomGrayscale(), gray), (layers.RandomInvert(), 255.0 - x)):
        y = train(layer, x)
        same = np.all(np.isclose(y, x), axis=(1, 2, 3))
        changed = np.all(np.isclose(y, other, atol=1e-3), axis=(1, 2, 3))
        assert np.all(same | changed) and same.any() and changed.any(), type(layer).__name__


def test_posterization_keeps_only_the_top_bits():
    x = np.round(images((8, 4, 4, 3)))
    y = train(layers.RandomPosterization(factor=(2, 4)), x)  # 2 or 3 bits: multiples of 32 or 64
    assert np.all(np.mod(y, 32) == 0) and np.all(y <= x) and np.all(x - y < 64)


def test_random_erasing_fills_one_rectangle_per_erased_image():
    x = images((8, 10, 12, 3), high=1.0) + 2.0  # never equal to the fill value
    y = train(layers.RandomErasing(factor=(1.0, 1.0), scale=(0.1, 0.3), fill_value=1.0,
                                   value_range=(0, 5)), x)
    erased = np.any(y != x, axis=(1, 2, 3))
    assert erased.any()
    for img, out in zip(x, y):
        changed = np.all(out != img, axis=-1)
        assert np.all(out[changed] == 1.0)
        if changed.any():
            rows, cols = np.where(changed.any(1))[0], np.where(changed.any(0))[0]
            assert changed[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].all()  # a rectangle


def test_colour_layers_keep_values_in_value_range():
    x = images((8, 5, 5, 3), high=1.0)
    for layer in (layers.RandomHue(0.8, value_range=(0, 1)),
                  layers.RandomSaturation(0.9, value_range=(0, 1)),
                  layers.RandomColorDegeneration(1.0, value_range=(0, 1)),
                  layers.RandomSharpness(1.0, value_range=(0, 1)),
                  layers.RandomGaussianBlur(value_range=(0, 1)),
                  layers.Solarization(0.5, 0.5, value_range=(0, 1)),
                  layers.RandomColorJitter((0, 1), 0.5, 0.5, 0.5, 0.5)):
        y = train(layer, x)
        assert y.min() >= -1e-6 and y.max() <= 1 + 1e-6, type(layer).__name__


def test_autocontrast_applies_at_inference_too_as_in_keras():
    x = images((2, 5, 6, 3), high=100.0) + 50.0
    y, _ = layers.AutoContrast().apply({}, {}, x)
    close(y, keras().layers.AutoContrast()(x, training=False), atol=1e-3)
    assert np.allclose(y.min(axis=(1, 2)), 0, atol=1e-3) and np.allclose(y.max(axis=(1, 2)), 255)


def test_mixup_mixes_images_and_labels_with_the_same_weights():
    x = images((6, 4, 5, 3))
    labels = np.eye(6, dtype=np.float32)  # the mixed labels show the weights and partners
    layer = layers.MixUp(alpha=0.5)
    out, _ = layer.apply({}, {}, {"images": x, "labels": labels}, training=True,
                         rng=jax.random.key(0))
    y, mixed = np.asarray(out["images"]), np.asarray(out["labels"])
    np.testing.assert_allclose(mixed.sum(1), 1.0, atol=1e-5)
    for i in range(6):
        w = mixed[i, i] if np.count_nonzero(mixed[i] > 1e-6) > 1 else 1.0
        partner = int(np.argmax(np.where(np.arange(6) == i, -1, mixed[i]))) if w < 1 else i
        close(y[i], w * x[i] + (1 - w) * x[partner], atol=1e-3)
    spec = layer.output_spec({"images": jax.ShapeDtypeStruct((6, 4, 5, 3), jnp.uint8),
                              "labels": jax.ShapeDtypeStruct((6, 6), jnp.int32)})
    assert spec["labels"] == jax.ShapeDtypeStruct((6, 6), jnp.float32)
    # Keras mixes labels the same way on the same weights and permutation
    t = {"mix_weight": np.float32([0.3, 0.6, 1.0]), "permutation_order": _b(1, 2, 0)}
    close(layer._mix_labels(jnp.eye(3), t), keras().layers.MixUp().transform_labels(
        np.eye(3, dtype=np.float32), t), atol=1e-6)


def test_cutmix_pastes_a_partner_rectangle_and_mixes_labels_by_area():
    x = images((6, 8, 8, 3))
    labels = np.eye(6, dtype=np.float32)
    out, _ = layers.CutMix().apply({}, {}, {"images": x, "labels": labels}, training=True,
                                   rng=jax.random.key(2))
    y, mixed = np.asarray(out["images"]), np.asarray(out["labels"])
    for i in range(6):
        pasted = np.all(y[i] != x[i], axis=-1)
        partners = [j for j in range(6) if j != i and mixed[i, j] > 1e-6]
        if partners:
            j = partners[0]
            assert np.all(y[i][pasted] == x[j][pasted])
            rows, cols = np.where(pasted.any(1))[0], np.where(pasted.any(0))[0]
            nr, nc = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
            assert pasted.sum() == nr * nc  # a rectangle
            # the label weight is the continuous box's area: a box over nr x nc pixel centres
            area = 1 - mixed[i, i]
            assert (nr - 1) * (nc - 1) / 64 - 1e-6 <= area <= (nr + 1) * (nc + 1) / 64 + 1e-6
        else:
            assert not pasted.any()
    # a single image has no partner: unchanged, as in Keras
    close(train(layers.CutMix(), x[0]), x[0], atol=0)
    # Keras's label mixing on the same draws
    t = {"mix_weight": np.float32([0.3, 0.6, 1.0]).reshape(3, 1, 1, 1),
         "permutation_order": _b(1, 2, 0)}
    close(layers.CutMix()._mix_labels(jnp.eye(3), t),
          keras().layers.CutMix().transform_labels(np.eye(3, dtype=np.float32), t), atol=1e-6)


def test_elastic_transform_moves_pixels_smoothly_and_can_be_turned_off():
    x = images((2, 16, 16, 3))
    y = train(layers.RandomElasticTransform(scale=(1.0, 1.0)), x)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 255
    assert np.abs(y - x).mean() > 1.0
    for off in (dict(factor=0.0), dict(scale=0.0)):  # Keras returns the images then too
        close(train(layers.RandomElasticTransform(**off), x), x, atol=0)
        close(keras().layers.RandomElasticTransform(**off)(x, training=True), x, atol=1e-6)


def test_policies_use_kerass_operations_and_magnitudes():
    k = keras()
    for ours, theirs in ((layers.RandAugment(factor=0.4), k.layers.RandAugment(factor=0.4)),
                         (layers.AugMix(factor=0.3, all_ops=False),
                          k.layers.AugMix(factor=0.3, all_ops=False)),
                         (layers.AugMix(), k.layers.AugMix())):
        names = type(ours)._NAMES if isinstance(ours, layers.RandAugment) \
            else ours._policy[0]
        expected = theirs._AUGMENT_LAYERS if hasattr(theirs, "_AUGMENT_LAYERS") \
            else theirs._augment_layers
        assert sorted(names) == sorted(expected)
        for name, part in zip(names, ours._parts):
            mine, keras_cfg = part.get_config(), getattr(theirs, name).get_config()
            for key in ("factor", "x_factor", "height_factor", "addition_factor", "value_range"):
                if key in mine:
                    assert json_equal(mine[key], keras_cfg[key]), (name, key)
    x = images((2, 6, 6, 3))
    close(train(layers.RandAugment(num_ops=0), x), k.layers.RandAugment(num_ops=0)(
        x, training=True), atol=0)


def json_equal(a, b):
    import json
    return json.loads(json.dumps(a)) == json.loads(json.dumps(b))


# ------------------------------------------------------------------------------ in models
def test_augmentation_is_active_in_fit_and_the_identity_in_predict():
    x = np.zeros((16, 2, 2, 1), np.float32)
    y = np.full((16, 1), 4.0, np.float32)  # reached only through the training-time shift
    model = kerasx.Sequential([
        layers.Input((2, 2, 1)), layers.RandomFlip(),
        layers.RandomBrightness((0.5, 0.5), value_range=(0, 2)), layers.Flatten(),
        layers.Dense(1, kernel_initializer="ones", use_bias=False, trainable=False)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < 1e-6  # 4 pixels shifted by 1.0: output 4
    np.testing.assert_allclose(model.predict(x, verbose=0), 0.0)


def test_a_small_convnet_with_random_augmentation_trains():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (32, 8, 8, 1)).astype(np.float32)
    y = x.mean(axis=(1, 2, 3))[:, None]
    model = kerasx.Sequential([
        layers.Input((8, 8, 1)), layers.RandomFlip(), layers.RandomRotation(0.1),
        layers.RandomCrop(6, 6), layers.Flatten(), layers.Dense(1)])
    model.compile(optimizer=kerasx.optimizers.Adam(0.01), loss="mse")
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    p1, p2 = model.predict(x, verbose=0), model.predict(x, verbose=0)
    np.testing.assert_array_equal(p1, p2)  # no randomness at inference


# ------------------------------------------------------------------------------ errors
def test_bad_arguments_name_the_layer_and_the_value():
    with pytest.raises(ValueError, match="factor.*RandomRotation.*Received: factor=2"):
        layers.RandomRotation(2)
    with pytest.raises(ValueError, match="fill_mode.*RandomRotation.*Received: fill_mode=.mirror."):
        layers.RandomRotation(0.1, fill_mode="mirror")
    with pytest.raises(ValueError, match="interpolation.*RandomZoom"):
        layers.RandomZoom(0.1, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"height_factor.*RandomZoom.*\(-1.0, 1.0\]"):
        layers.RandomZoom(-1.0)
    with pytest.raises(ValueError, match="width_factor.*RandomTranslation"):
        layers.RandomTranslation(0.1, (0.1, 0.2, 0.3))
    with pytest.raises(ValueError, match="mode.*RandomFlip.*diagonal"):
        layers.RandomFlip("diagonal")
    with pytest.raises(ValueError, match="factor.*RandomContrast"):
        layers.RandomContrast(1.5)
    with pytest.raises(ValueError, match="value_range.*RandomBrightness"):
        layers.RandomBrightness(0.1, value_range=(0, 1, 2))
    with pytest.raises(ValueError, match="height.*RandomCrop.*positive integer"):
        layers.RandomCrop(0, 3)
    with pytest.raises(ValueError, match="seed.*RandomFlip"):
        layers.RandomFlip(seed="a")
    with pytest.raises(ValueError, match="data_format.*RandomFlip"):
        layers.RandomFlip(data_format="nhwc")


def test_bad_arguments_of_the_colour_layers():
    with pytest.raises(ValueError, match="factor.*RandomGrayscale"):
        layers.RandomGrayscale(1.5)
    with pytest.raises(ValueError, match="factor.*RandomPosterization.*integer"):
        layers.RandomPosterization(9)
    with pytest.raises(ValueError, match="factor.*RandomPosterization.*integer"):
        layers.RandomPosterization(2.5)
    with pytest.raises(ValueError, match="kernel_size.*RandomGaussianBlur.*odd"):
        layers.RandomGaussianBlur(kernel_size=4)
    with pytest.raises(ValueError, match="fill_value.*RandomErasing"):
        layers.RandomErasing(fill_value=(1, 2))
    with pytest.raises(ValueError, match="addition_factor.*Solarization"):
        layers.Solarization(addition_factor=1.5)
    with pytest.raises(ValueError, match="x_factor.*RandomShear"):
        layers.RandomShear(x_factor=-0.2)
    with pytest.raises(ValueError, match="bins.*Equalization"):
        layers.Equalization(bins=1)
    with pytest.raises(ValueError, match="factor.*RandomHue"):
        layers.RandomHue(factor=(2, 3))


def test_bad_arguments_of_the_mixing_and_policy_layers():
    with pytest.raises(ValueError, match="alpha.*MixUp"):
        layers.MixUp(alpha=0)
    with pytest.raises(ValueError, match="factor.*CutMix"):
        layers.CutMix(factor=2.0)
    with pytest.raises(ValueError, match="scale.*RandomPerspective"):
        layers.RandomPerspective(scale=1.5)
    with pytest.raises(ValueError, match="fill_mode.*RandomElasticTransform"):
        layers.RandomElasticTransform(fill_mode="edge")
    with pytest.raises(ValueError, match="num_ops.*RandAugment"):
        layers.RandAugment(num_ops=-1)
    with pytest.raises(ValueError, match="chain_depth.*AugMix"):
        layers.AugMix(chain_depth=0)
    with pytest.raises(NotImplementedError, match="CutMix.*bounding boxes"):
        layers.CutMix().apply({}, {}, {"images": np.zeros((2, 4, 4, 3)),
                                       "bounding_boxes": np.zeros((2, 1, 4))})
    with pytest.raises(ValueError, match="CutMix.*one label row per image"):
        layers.CutMix().apply({}, {}, {"images": np.zeros((2, 4, 4, 3)),
                                       "labels": np.zeros((3, 2))})


def test_bad_inputs_name_the_layer_and_the_shape():
    with pytest.raises(ValueError, match=r"RandomHue.*3 channels.*\(2, 4, 4, 1\)"):
        layers.RandomHue(0.2).init(None, jax.ShapeDtypeStruct((2, 4, 4, 1), jnp.float32))
    with pytest.raises(ValueError, match="RandomColorJitter.*3 channels"):
        layers.RandomColorJitter(saturation_factor=0.2).apply({}, {}, np.zeros((2, 4, 4, 2)))
    layers.RandomColorJitter(brightness_factor=0.2).apply({}, {}, np.zeros((2, 4, 4, 2)))
    with pytest.raises(ValueError, match="RandomGrayscale.*1 or 3 channels"):
        layers.RandomGrayscale().apply({}, {}, np.zeros((2, 4, 4, 2)))
    with pytest.raises(ValueError, match=r"RandomFlip.*rank 3 or 4.*\(2, 3\)"):
        layers.RandomFlip().init(None, jax.ShapeDtypeStruct((2, 3), jnp.float32))
    with pytest.raises(ValueError, match="RandomCrop.*rank 3 or 4"):
        layers.RandomCrop(2, 2).apply({}, {}, np.zeros((1, 2, 4, 4, 3)))
    with pytest.raises(NotImplementedError, match="RandomElasticTransform.*segmentation masks"):
        layers.RandomElasticTransform().apply({}, {}, {
            "images": np.zeros((1, 4, 4, 3)), "segmentation_masks": np.zeros((1, 4, 4, 1))})


def test_pipeline_applies_its_layers_like_keras_and_round_trips():
    k = keras()
    x = np.random.default_rng(0).uniform(0, 255, size=(2, 8, 8, 3)).astype("float32")
    ours = layers.Pipeline([layers.Rescaling(1 / 255.0), layers.CenterCrop(4, 4)], name="prep")
    theirs = k.layers.Pipeline([k.layers.Rescaling(1 / 255.0), k.layers.CenterCrop(4, 4)],
                               name="prep")
    np.testing.assert_allclose(np.asarray(ours(x)), np.asarray(theirs(x)), rtol=1e-6)
    config = ours.get_config()
    assert set(config) == set(theirs.get_config()) == {"layers", "name"}
    assert [c["class_name"] for c in config["layers"]] == ["Rescaling", "CenterCrop"]
    clone = layers.Pipeline.from_config(json.loads(json.dumps(config)))
    np.testing.assert_allclose(np.asarray(clone(x)), np.asarray(ours(x)))
    keras_config = json.loads(json.dumps(theirs.get_config()))
    np.testing.assert_allclose(np.asarray(layers.Pipeline.from_config(keras_config)(x)),
                               np.asarray(ours(x)), rtol=1e-6)
    # called on data it augments (training by default, as Keras); in a model it follows `fit`
    flip = layers.Pipeline([layers.RandomFlip("horizontal", seed=1)])
    outs = {np.asarray(flip(x[:1])).tobytes() for _ in range(12)}
    assert len(outs) == 2
    model = kerasx.Sequential([kerasx.Input((8, 8, 3)), flip, layers.Flatten(), layers.Dense(1)])
    np.testing.assert_allclose(model.predict(x, verbose=0), model.predict(x, verbose=0))
    with pytest.raises(ValueError, match="list of kerasx layers"):
        layers.Pipeline(layers.Rescaling(2.0))
