"""kerasx.ops called with arguments that Keras rejects: clear errors that name the op, the
argument, and what was received."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kerasx import ops
from kerasx import random as kr

from keras_oracle import keras  # imported by the one oracle test; skips it without Keras

x23 = np.ones((2, 3), "float32")
x4 = np.ones((4,), "float32")
img = np.ones((1, 6, 6, 3), "float32")


def case(name, fn, error, *fragments, keras_fn=None):
    return pytest.param(fn, error, fragments, keras_fn, id=name)


# (id, call, error type, message fragments, the same call in Keras)
CASES = [
    case("add_shapes", lambda o: o.add(x23, x4), ValueError, "ops.add", "`x1`", "`x2`",
         "x1.shape=(2, 3)", "x2.shape=(4,)"),
    case("where_shapes", lambda o: o.where(x23 > 0, x23, x4), ValueError, "ops.where",
         "x2.shape=(4,)"),
    case("sum_float_axis", lambda o: o.sum(x23, axis=1.5), TypeError, "ops.sum", "`axis`",
         "axis=1.5"),
    case("mean_axis_out_of_range", lambda o: o.mean(x23, axis=2), ValueError, "ops.mean",
         "`axis`", "rank 2"),
    case("max_tuple_float_axis", lambda o: o.max(x23, axis=(0, 1.0)), TypeError, "ops.max",
         "axis=(0, 1.0)"),
    case("argmax_float_axis", lambda o: o.argmax(x23, axis=0.5), TypeError, "ops.argmax",
         "axis=0.5"),
    case("softmax_float_axis", lambda o: o.softmax(x23, axis=1.0), TypeError, "ops.softmax",
         "axis=1.0"),
    case("expand_dims_float_axis", lambda o: o.expand_dims(x23, 0.0), TypeError,
         "ops.expand_dims", "axis=0.0"),
    case("take_axis_out_of_range", lambda o: o.take(x23, np.array([0]), axis=3), ValueError,
         "ops.take", "axis"),
    case("matmul_shapes", lambda o: o.matmul(x23, x23), ValueError, "ops.matmul",
         "x1.shape=(2, 3)", "x2.shape=(2, 3)"),
    case("dot_shapes", lambda o: o.dot(x23, x4), ValueError, "ops.dot", "x2.shape=(4,)"),
    case("reshape_size", lambda o: o.reshape(x23, (4, 2)), ValueError, "ops.reshape",
         "newshape=(4, 2)", "(2, 3)"),
    case("reshape_two_unknowns", lambda o: o.reshape(x23, (-1, -1)), ValueError,
         "ops.reshape", "-1"),
    case("concatenate_shapes", lambda o: o.concatenate([x23, np.ones((2, 4))], axis=0),
         ValueError, "ops.concatenate", "(2, 3)", "(2, 4)"),
    case("stack_shapes", lambda o: o.stack([x23, np.ones((3, 2))]), ValueError, "ops.stack",
         "same shape"),
    case("transpose_axes", lambda o: o.transpose(x23, (0,)), ValueError, "ops.transpose",
         "axes"),
    case("squeeze_non_unit_axis", lambda o: o.squeeze(x23, axis=0), ValueError, "ops.squeeze",
         "size 2"),
    case("broadcast_to_shape", lambda o: o.broadcast_to(x23, (4, 3)), ValueError,
         "ops.broadcast_to", "(4, 3)"),
    case("split_uneven", lambda o: o.split(x23, 2, axis=1), ValueError, "ops.split",
         "3 ", "2 equal sections"),
    case("ones_bad_shape", lambda o: o.ones((2, "a")), TypeError, "ops.ones", "`shape`"),
    case("cast_bad_dtype", lambda o: o.cast(x23, "float99"), ValueError, "ops.cast",
         "`dtype`", "float99"),
    case("pad_bad_mode", lambda o: o.pad(x23, 1, mode="mirror"), ValueError, "ops.pad",
         "`mode`", "mirror"),
    case("pad_constant_values_mode", lambda o: o.pad(x23, 1, mode="edge", constant_values=1),
         ValueError, "ops.pad", "constant_values"),
    case("where_one_branch", lambda o: o.where(x23 > 0, x23), ValueError, "ops.where", "x2"),
    case("ldexp_float_exponent", lambda o: o.ldexp(x23, x23), TypeError, "ops.ldexp",
         "x2.dtype=float32"),
    case("histogram_float_bins", lambda o: o.histogram(x4, bins=2.5), TypeError,
         "ops.histogram", "bins=2.5"),
    case("array_split_float", lambda o: o.array_split(x4, 2.0), TypeError, "ops.array_split",
         "indices_or_sections=2.0"),
    case("vander_2d", lambda o: o.vander(x23), ValueError, "ops.vander", "x.shape=(2, 3)"),
    case("diagonal_same_axes", lambda o: o.diagonal(x23, axis1=1, axis2=1), ValueError,
         "ops.diagonal", "axis1", "axis2"),
    case("select_not_lists", lambda o: o.select(x23 > 0, x23), ValueError, "ops.select",
         "condlist"),
    case("searchsorted_2d", lambda o: o.searchsorted(x23, x4), ValueError, "ops.searchsorted",
         "sorted_sequence.shape=(2, 3)"),
    case("rot90_axes", lambda o: o.rot90(x23, axes=(0, 0)), ValueError, "ops.rot90", "axes"),
    case("eye_float_n", lambda o: o.eye(2.5), TypeError, "ops.eye", "`N`"),
    case("einsum_mismatch", lambda o: o.einsum("ij,jk->ik", x23, x23), ValueError,
         "ops.einsum"),
    case("scatter_update_reduction", lambda o: o.scatter_update(x23, [[0, 0]], [1.0],
                                                                reduction="sub"),
         ValueError, "ops.scatter_update", "reduction='sub'"),
    case("scan_unroll", lambda o: o.scan(lambda c, x: (c, x), 0.0, x4, unroll=0), ValueError,
         "ops.scan", "unroll=0"),
    case("top_k_too_large", lambda o: o.top_k(x4, 5), ValueError, "ops.top_k", "k=5"),
    case("segment_sum_ids", lambda o: o.segment_sum(x4, np.array([0, 1]), num_segments=2),
         ValueError, "ops.segment_sum", "segment_ids.shape=(2,)"),
    case("stft_int_input", lambda o: o.stft(np.ones(16, "int32"), 4, 2, 4), TypeError,
         "ops.stft", "int32"),
    case("stft_stride", lambda o: o.stft(np.ones(16, "float32"), 4, 0, 4), ValueError,
         "ops.stft", "sequence_stride=0"),
    case("one_hot_sparse", lambda o: o.one_hot(np.array([0, 1]), 3, sparse=True), ValueError,
         "ops.one_hot", "sparse"),
    case("multi_hot_num_classes", lambda o: o.multi_hot(np.array([0, 1])), ValueError,
         "ops.multi_hot", "num_classes"),
    case("conv_bad_padding", lambda o: o.conv(img, np.ones((3, 3, 3, 2)), padding="full"),
         ValueError, "ops.conv", "`padding`", "full"),
    case("conv_channels", lambda o: o.conv(img, np.ones((3, 3, 2, 2), "float32")), ValueError,
         "ops.conv", "channels", "kernel.shape=(3, 3, 2, 2)"),
    case("conv_transpose_channels", lambda o: o.conv_transpose(img, np.ones((3, 3, 2, 2))),
         ValueError, "ops.conv_transpose", "kernel.shape"),
    case("max_pool_rank", lambda o: o.max_pool(x23, 2, strides=2), ValueError,
         "ops.max_pool", "inputs.shape=(2, 3)"),
    case("depth_to_space_block", lambda o: o.depth_to_space(img, 1), ValueError,
         "ops.depth_to_space", "block_size"),
    case("categorical_crossentropy_shapes",
         lambda o: o.categorical_crossentropy(x23, np.ones((2, 4))), ValueError,
         "ops.categorical_crossentropy", "target.shape=(2, 3)"),
    case("binary_crossentropy_shapes",
         lambda o: o.binary_crossentropy(x23, x4), ValueError, "ops.binary_crossentropy",
         "output.shape=(4,)"),
    case("sparse_categorical_crossentropy_shapes",
         lambda o: o.sparse_categorical_crossentropy(np.zeros((3,)), x23), ValueError,
         "ops.sparse_categorical_crossentropy", "target.shape=(3,)"),
    case("attention_rank", lambda o: o.dot_product_attention(x23, x23, x23), ValueError,
         "ops.dot_product_attention", "query.shape=(2, 3)"),
    case("psnr_shapes", lambda o: o.psnr(x23, x4, 1.0), ValueError, "ops.psnr",
         "x1.shape=(2, 3)"),
    case("normalize_order", lambda o: o.normalize(x23, order=0), ValueError, "ops.normalize",
         "order=0"),
    case("inv_not_square", lambda o: o.inv(x23), ValueError, "ops.inv", "x.shape=(2, 3)"),
    case("solve_shapes", lambda o: o.solve(np.eye(3), x4), ValueError, "ops.solve",
         "b.shape=(4,)"),
    case("cholesky_not_pd", lambda o: o.cholesky(-np.eye(2, dtype="float32")), ValueError,
         "ops.cholesky", "positive definite"),
    case("qr_mode", lambda o: o.qr(x23, mode="full"), ValueError, "ops.qr", "mode='full'"),
    case("fft_not_pair", lambda o: o.fft(x4), ValueError, "ops.fft", "(real, imag)"),
    case("view_as_complex_last_axis", lambda o: o.view_as_complex(x23), ValueError,
         "ops.view_as_complex", "size 2"),
    case("rearrange_pattern", lambda o: o.rearrange(x23, "a b -> a c"), ValueError,
         "ops.rearrange", "pattern"),
    case("resize_interpolation", lambda o: o.image.resize(img, (3, 3), interpolation="cubic"),
         ValueError, "ops.image.resize", "`interpolation`", "cubic"),
    case("resize_rank", lambda o: o.image.resize(x23, (3, 3)), ValueError, "ops.image.resize",
         "images.shape=(2, 3)"),
    case("affine_fill_mode", lambda o: o.image.affine_transform(img, np.zeros((1, 8)),
                                                                fill_mode="edge"),
         ValueError, "ops.image.affine_transform", "`fill_mode`"),
    case("map_coordinates_order", lambda o: o.image.map_coordinates(x23, np.zeros((2, 4)), 3),
         ValueError, "ops.image.map_coordinates", "order=3"),
    case("pad_images_args", lambda o: o.image.pad_images(img, 1, 1), ValueError,
         "ops.image.pad_images", "top_padding", "target_height"),
    case("crop_images_too_big", lambda o: o.image.crop_images(img, 0, 0, target_height=8,
                                                              target_width=2),
         ValueError, "ops.image.crop_images", "height 6"),
]


@pytest.mark.parametrize("fn, error, fragments, keras_fn", CASES)
def test_error_names_op_and_argument(fn, error, fragments, keras_fn):
    with pytest.raises(error) as info:
        fn(ops)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"


@pytest.mark.parametrize("fn, error, fragments, keras_fn", CASES)
def test_keras_rejects_the_same_call(fn, error, fragments, keras_fn):
    """These are errors in Keras too (the types may differ: Keras often lets JAX raise)."""
    if fragments[0] == "ops.one_hot":
        pytest.skip("Keras returns a sparse (BCOO) tensor; kerasx has no sparse tensors")
    if fragments[0] == "ops.max_pool":
        pytest.skip("Keras's JAX backend pools a rank-2 input as if it had no spatial axes")
    keras_ops = keras.ops
    with pytest.raises(Exception):
        fn(keras_ops)


def test_shape_errors_are_raised_while_tracing():
    """Under jit, shape errors come at trace time with the same message."""
    with pytest.raises(ValueError, match="ops.add: `x1` and `x2`"):
        jax.jit(lambda a, b: ops.add(a, b))(x23, x4)
    with pytest.raises(TypeError, match="ops.sum: `axis` must be an int or a tuple of ints"):
        jax.jit(lambda a: ops.sum(a, axis=1.5))(x23)


def test_errors_from_jax_are_prefixed_with_the_op():
    with pytest.raises(TypeError) as info:
        ops.bitwise_and(x23, x23)  # JAX rejects floats; the op is named in front
    assert str(info.value).startswith("ops.bitwise_and: ")


def test_random_errors_name_the_function_and_argument():
    with pytest.raises(TypeError, match=r"random.normal: `seed` must be None, an int, a JAX "
                                        r"key or a SeedGenerator. Received: seed='a'"):
        kr.normal((2,), seed="a")
    with pytest.raises(ValueError, match=r"random.uniform: `dtype` must be a floating point "
                                         r"dtype. Received: dtype=int32"):
        kr.uniform((2,), dtype="int32", seed=1)
    with pytest.raises(ValueError, match=r"random.randint: `dtype` must be an integer dtype"):
        kr.randint((2,), 0, 3, dtype="float32", seed=1)
    with pytest.raises(ValueError, match=r"random.dropout: `rate` must be in \[0, 1\]. "
                                         r"Received: rate=1.5"):
        kr.dropout(x23, 1.5, seed=1)
    with pytest.raises(ValueError, match=r"random.categorical: `logits` must be 2-D"):
        kr.categorical(x4, 2, seed=1)
    with pytest.raises(TypeError, match=r"random.normal: `shape` must be a tuple of ints"):
        kr.normal("ab", seed=1)
    with pytest.raises(ValueError, match=r"SeedGenerator: `seed` must be an int"):
        kr.SeedGenerator(seed=1.5)
    assert jnp.asarray(kr.normal((2,), seed=1)).shape == (2,)
