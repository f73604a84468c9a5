"""Preprocessing layers without randomness: Normalization, Discretization, Rescaling, Resizing,
CenterCrop (Keras 3's `keras.layers`).

Normalization and Discretization learn from data with `adapt(data)` before they are used.
Normalization's adapted mean and variance are its (non-trainable) weights, in Keras's order
`[mean, variance, count]`, so they are saved with the model and survive `get_weights` /
`set_weights`; Discretization's adapted `bin_boundaries` are part of its config, as in Keras.
"""

import math
from typing import Iterable

import jax
import jax.numpy as jnp
import numpy as np

from ..ops import image as image_ops
from . import _bounding_boxes as bbox
from ._base import Layer, shape_str
from ._convolutional import _standardize_data_format

_EPSILON = 1e-7  # Keras's backend.epsilon()


# ---------------------------------------------------------------------------------- helpers
def _is_array(data) -> bool:
    return isinstance(data, (np.ndarray, jax.Array))


def _first(batch):
    """The inputs of a batch: `x` of an `(x, y)` or `(x, y, sample_weight)` tuple."""
    return batch[0] if isinstance(batch, tuple) else batch


def _batches(layer, data, batch_size, steps) -> Iterable[np.ndarray]:
    """`data` (an array, or an iterable of batches) as an iterator of NumPy batches; `steps`
    limits the number of batches, `batch_size` splits an array into batches."""
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
            batch_size, (int, np.integer)) or batch_size < 1):
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): `batch_size` of "
                         f"`adapt` must be a positive integer. Received: batch_size={batch_size!r}")
    if steps is not None and (isinstance(steps, bool) or not isinstance(
            steps, (int, np.integer)) or steps < 1):
        raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): `steps` of `adapt` "
                         f"must be a positive integer. Received: steps={steps!r}")
    if _is_array(data):
        data = np.asarray(data)
        if data.ndim == 0:
            raise ValueError(f"Layer '{layer.name}' ({type(layer).__name__}): `adapt` needs "
                             "an array with a batch axis; received a scalar.")
        size = batch_size or max(len(data), 1)
        it = (data[i:i + size] for i in range(0, len(data), size))
    elif isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
        raise TypeError(
            f"Layer '{layer.name}' ({type(layer).__name__}): `adapt` takes a NumPy or JAX "
            "array, or an iterable of batches (a list of arrays, a generator, a dataset "
            f"yielding `x` or `(x, y)`). Received: {type(data).__name__}")
    else:
        it = (np.asarray(_first(b)) for b in data)
    count = 0
    for batch in it:
        if steps is not None and count >= steps:
            break
        if batch.size == 0:
            continue
        count += 1
        yield batch
    if count == 0:
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}): `adapt` received an empty "
            "dataset (no samples). Pass at least one non-empty batch.")


def _positive_int(layer: str, arg: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"Layer {layer} expects `{arg}` to be a positive integer. Received: "
                         f"{arg}={value!r}")
    return int(value)


# ---------------------------------------------------------------------------------- Normalization
class Normalization(Layer):
    """Shifts and scales inputs to mean 0 and variance 1: `(x - mean) / sqrt(variance)`.

    The mean and variance are passed to the constructor or learned from data with
    `adapt(data)`; then they are the layer's non-trainable weights `[mean, variance, count]`
    (Keras's order; `count` is kept at 0, as Keras 3 does).

    Args:
        axis: the axis or axes (ints, batch axis = 0) that keep a separate mean and variance
            per index; None for one scalar mean and variance. Default -1 (the features).
        mean: the mean value(s), broadcast to the shape of the kept axes. Pass it with
            `variance`, or call `adapt` instead.
        variance: the variance value(s), of the same shape as `mean`.
        invert: apply the inverse transformation `mean + x * sqrt(variance)`.

    Input shape:
        Any; the kept axes must have known sizes.

    Output shape:
        The same as the input (float32).

    Example:
        layer = kerasx.layers.Normalization(axis=-1)
        layer.adapt(x_train)              # an array, or an iterable of batches
        model = kerasx.Sequential([kerasx.Input((3,)), layer, kerasx.layers.Dense(1)])
    """

    supports_masking = True

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
            axis = (int(axis),)
        elif isinstance(axis, (list, tuple)) and all(
                isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis):
            axis = tuple(int(a) for a in axis)
        else:
            raise ValueError("Layer Normalization expects `axis` to be an int, a tuple of ints "
                             f"or None. Received: axis={axis!r}")
        self.axis = axis
        if (mean is None) != (variance is None):
            raise ValueError(
                "Layer Normalization: when setting values directly, both `mean` and "
                f"`variance` must be set. Received: mean={mean!r} and variance={variance!r}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError(
                    "Layer Normalization: `mean` and `variance` must have the same shape. "
                    f"Received: mean shape {np.shape(mean)} and variance shape "
                    f"{np.shape(variance)}")
            if len(np.shape(mean)) > len(self.axis):
                raise ValueError(
                    "Layer Normalization: the rank of `mean` must be at most the number of "
                    f"axes ({len(self.axis)}). Received: mean shape {np.shape(mean)} for "
                    f"axis={self.axis}")
        self.input_mean = mean
        self.input_variance = variance
        self.invert = bool(invert)
        self._adapted = None  # (mean, variance) as NumPy arrays, once `adapt` has run
        self._ready = mean is not None

    # The weights a model or a file hands over (`load_weights`, `set_weights`) make an
    # un-adapted layer usable, as adapting it would: held values other than the fresh zeros
    # and ones mark the layer as adapted.
    @property
    def _own(self):
        return self.__dict__["_own_store"]

    @_own.setter
    def _own(self, value):
        self.__dict__["_own_store"] = value
        self._refresh_ready()

    def _refresh_ready(self) -> bool:
        if self.__dict__.get("_ready", True):
            return True
        state = self.__dict__.get("_own_store", {}).get("state", {})
        mean, var = state.get("mean"), state.get("variance")
        if mean is None or var is None or any(isinstance(v, jax.core.Tracer)
                                               for v in (mean, var)):
            return False
        if np.any(np.asarray(mean) != 0) or np.any(np.asarray(var) != 1):
            self._ready = True
        return self._ready

    def _geometry(self, shape):
        """(kept axes, reduced axes, broadcast shape, mean/variance shape) for `shape`."""
        ndim = len(shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError(
                f"Layer '{self.name}' (Normalization): all `axis` values must be in the range "
                f"[-ndim, ndim). Received inputs of shape {shape_str(shape)} (ndim={ndim}), "
                f"while axis={self.axis}")
        keep = tuple(sorted({a % ndim for a in self.axis}))
        reduce = tuple(d for d in range(ndim) if d not in keep)
        broadcast = tuple(shape[d] if d in keep else 1 for d in range(ndim))
        return keep, reduce, broadcast, tuple(shape[d] for d in keep)

    def _constant_stats(self, shape):
        """The constructor's mean and variance broadcast to the inputs' rank."""
        keep, _, broadcast, _ = self._geometry(shape)
        out = []
        for value in (self.input_mean, self.input_variance):
            value = np.asarray(value, np.float64)
            expanded = [1] * len(shape)
            for i in range(1, value.ndim + 1):
                expanded[keep[-i]] = value.shape[-i]
            try:
                out.append(np.broadcast_to(value.reshape(expanded), broadcast))
            except ValueError:
                raise ValueError(
                    f"Layer '{self.name}' (Normalization): `mean`/`variance` of shape "
                    f"{np.shape(value)} cannot be broadcast to the kept axes {keep} of inputs "
                    f"of shape {shape_str(shape)}.") from None
        return out

    def init(self, rng, input_spec):
        if not hasattr(input_spec, "shape") or len(input_spec.shape) == 0:
            raise ValueError(
                f"Layer '{self.name}' (Normalization) expects one tensor with a batch axis. "
                f"Received: {input_spec!r}")
        shape = tuple(input_spec.shape)
        if self.input_mean is not None:
            self._constant_stats(shape)  # checks that they broadcast
            return {}, {}
        _, _, _, stats_shape = self._geometry(shape)
        if self._adapted is not None:
            mean, var = self._adapted
            if mean.shape != stats_shape:
                raise ValueError(
                    f"Layer '{self.name}' (Normalization) was adapted on data whose kept axes "
                    f"have shape {mean.shape}, but received inputs of shape "
                    f"{shape_str(shape)} (kept axes {stats_shape}).")
        else:
            mean, var = np.zeros(stats_shape), np.ones(stats_shape)
        return {}, {"mean": jnp.asarray(mean, self.dtype),
                    "variance": jnp.asarray(var, self.dtype),
                    "count": jnp.zeros((), jnp.int32)}

    def weight_names(self):
        if self.input_mean is not None:
            return []
        return [("state", "mean"), ("state", "variance"), ("state", "count")]

    def apply(self, params, state, inputs, *, training=False, rng=None):
        x = jnp.asarray(inputs).astype(self.compute_dtype)
        if self.input_mean is not None:
            mean, var = (jnp.asarray(v, self.compute_dtype) for v in self._constant_stats(x.shape))
        else:
            if not self._ready:
                self._not_adapted(x)
            _, _, broadcast, stats_shape = self._geometry(x.shape)
            if tuple(state["mean"].shape) != stats_shape:
                raise ValueError(
                    f"Layer '{self.name}' (Normalization) holds a mean of shape "
                    f"{shape_str(state['mean'].shape)}, but received inputs of shape "
                    f"{shape_str(x.shape)} (kept axes {stats_shape}).")
            mean = state["mean"].reshape(broadcast).astype(self.compute_dtype)
            var = state["variance"].reshape(broadcast).astype(self.compute_dtype)
        std = jnp.maximum(jnp.sqrt(var), jnp.asarray(_EPSILON, self.compute_dtype))
        if self.invert:
            return mean + x * std, state
        return (x - mean) / std, state

    def _check_adapted(self):
        if not self._refresh_ready():  # (`variable.assign` changes the held values in place)
            raise ValueError(
                f"Layer '{self.name}' (Normalization) has no mean and variance yet. Call "
                "`layer.adapt(data)` before using it, or pass `mean=` and `variance=` to the "
                "constructor (or load weights that hold them).")

    def _not_adapted(self, x):
        """Raises on concrete inputs (an eager call). Traced (a shape inference, or a model's
        compiled step), nothing is checked here, so a model may be built before its
        Normalization layer is adapted, as in Keras; `fit`, `evaluate` and `predict` check
        every layer's `_check_ready` on the host before they run."""
        if not isinstance(x, jax.core.Tracer):
            self._check_adapted()

    def _check_ready(self):
        if self.input_mean is None:
            self._check_adapted()

    def adapt(self, data, batch_size=None, steps=None):
        """Computes the mean and variance of `data` and makes them the layer's weights.

        Args:
            data: a NumPy or JAX array (batch axis first), or an iterable of batches (a list
                of arrays, a generator, a dataset yielding `x` or `(x, y)` batches).
            batch_size: for an array, the size of the batches it is streamed in (default:
                all at once).
            steps: the number of batches to use (default: all).
        """
        if self.input_mean is not None:
            raise ValueError(
                f"Layer '{self.name}' (Normalization) was given `mean` and `variance` in its "
                "constructor; it cannot also be adapted. Create it without them to adapt it.")
        total_mean = total_m2 = None
        total = 0
        stats_shape = None
        for batch in _batches(self, data, batch_size, steps):
            _, reduce, _, shape = self._geometry(batch.shape)
            if stats_shape is None:
                stats_shape = shape
                if self._has_weights() and "mean" in self._own["state"]:
                    held = tuple(self._own["state"]["mean"].shape)
                    if held != stats_shape:
                        raise ValueError(
                            f"Layer '{self.name}' (Normalization) was built for inputs whose "
                            f"kept axes have shape {held}, but `adapt` received data of shape "
                            f"{shape_str(batch.shape)} (kept axes {stats_shape}).")
                first_shape = batch.shape
            elif shape != stats_shape:
                raise ValueError(
                    f"Layer '{self.name}' (Normalization): `adapt` received a batch of shape "
                    f"{shape_str(batch.shape)} whose kept axes {shape} differ from those of "
                    f"the first batch {stats_shape}.")
            b = batch.astype(np.float64)
            n = math.prod(batch.shape[d] for d in reduce)
            b_mean = b.mean(axis=reduce)
            b_m2 = ((b - b.mean(axis=reduce, keepdims=True)) ** 2).sum(axis=reduce)
            if total_mean is None:
                total_mean, total_m2, total = b_mean, b_m2, n
            else:  # Chan et al.'s pairwise update of the mean and the sum of squares
                delta = b_mean - total_mean
                new_total = total + n
                total_mean = total_mean + delta * (n / new_total)
                total_m2 = total_m2 + b_m2 + delta ** 2 * (total * n / new_total)
                total = new_total
        mean = np.asarray(total_mean, np.float32)
        var = np.asarray(total_m2 / total, np.float32)
        self._adapted = (mean, var)
        if not self._has_weights():
            self._build_for(jax.ShapeDtypeStruct(first_shape, jnp.float32))
        own = {"params": dict(self._own["params"]), "state": dict(self._own["state"])}
        own["state"]["mean"] = jnp.asarray(mean, self.dtype)
        own["state"]["variance"] = jnp.asarray(var, self.dtype)
        self._own = own
        self._ready = True

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "invert": self.invert,
                "mean": np.array(self.input_mean).tolist(),
                "variance": np.array(self.input_variance).tolist()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("axis"), list):
            config["axis"] = tuple(config["axis"])
        return super().from_config(config)


# ---------------------------------------------------------------------------------- Discretization
def _summarize(values: np.ndarray, epsilon: float) -> np.ndarray:
    """A `(2, k)` summary of `values` (values, weights): every `step`-th sorted value, where
    `step` keeps about `1 / epsilon` of them, each standing for `step` samples."""
    values = np.sort(np.reshape(values, [-1]))
    step = max(values.size / (1.0 / epsilon), 1)
    picked = values[int(step - 1)::int(step)]
    return np.stack([picked, np.full(picked.shape, step, dtype=picked.dtype)])


def _compress(summary: np.ndarray, epsilon: float) -> np.ndarray:
    """The summary re-sampled at the cumulative-weight quantiles `epsilon, 2 * epsilon, ...`
    (left as it is when it holds fewer than `1 / epsilon` entries)."""
    if summary.shape[1] * epsilon < 1:
        return summary
    quantiles = epsilon + np.arange(0.0, 1.0, epsilon)
    cumulative = summary[1].cumsum()
    fractions = cumulative / cumulative[-1]
    values = np.interp(quantiles, fractions, summary[0])
    cumulative = np.interp(quantiles, fractions, cumulative)
    weights = np.diff(cumulative, prepend=0.0)
    return np.stack((values, weights)).astype("float32")


def _merge(new: np.ndarray, old: np.ndarray, epsilon: float) -> np.ndarray:
    both = np.concatenate((new, old), axis=1)
    return _compress(both[:, np.argsort(both[0])], epsilon)


_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count")


def _encode(indices, output_mode, depth, dtype):
    """Keras's categorical encodings of integer `indices` (all in `[0, depth)`)."""
    if output_mode == "int":
        return indices.astype(dtype)
    if indices.ndim == 0:
        indices = indices[None]
    if output_mode == "one_hot":
        if indices.ndim > 1 and indices.shape[-1] == 1:
            indices = indices[..., 0]
        return jax.nn.one_hot(indices, depth, dtype=dtype)
    hot = jax.nn.one_hot(indices, depth, dtype=dtype)
    axis = 1 if indices.ndim > 1 else 0
    return jnp.max(hot, axis=axis) if output_mode == "multi_hot" else jnp.sum(hot, axis=axis)


class Discretization(Layer):
    """Buckets continuous values into bins: outputs the index of each value's bin.

    Args:
        bin_boundaries: the bin edges (a sorted list); the outer bins extend to -inf and inf,
            so `[0., 1., 2.]` makes the bins `(-inf, 0)`, `[0, 1)`, `[1, 2)`, `[2, inf)`.
        num_bins: the number of bins to learn with `adapt(data)` (instead of
            `bin_boundaries`).
        epsilon: the error tolerance of the quantiles `adapt` estimates (e.g. 0.01).
        output_mode: "int" (the bin indices), "one_hot", "multi_hot" or "count" (as in
            Keras's CategoryEncoding).
        sparse: must be False (sparse outputs need TensorFlow).

    Input shape:
        Any.

    Output shape:
        "int": the input's (int32). "one_hot": the input's plus a last axis of the number of
        bins (replacing a last axis of size 1). "multi_hot"/"count": `(batch, ..., bins)` with
        the second axis reduced.
    """

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int",
                 sparse=False, dtype=None, name=None, **kwargs):
        super().__init__(dtype=dtype, name=name, **kwargs)
        if sparse:
            raise ValueError(
                "Layer Discretization: `sparse=True` is not supported (sparse outputs need "
                f"the TensorFlow backend). Received: sparse={sparse!r}")
        if output_mode not in _OUTPUT_MODES:
            raise ValueError(
                f"Layer Discretization expects `output_mode` to be one of {_OUTPUT_MODES}. "
                f"Received: output_mode={output_mode!r}")
        if num_bins is not None:
            num_bins = _positive_int("Discretization", "num_bins", num_bins)
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(
                "Layer Discretization: set either `num_bins` or `bin_boundaries`, not both. "
                f"Received: num_bins={num_bins} and bin_boundaries={bin_boundaries}")
        if num_bins is None and bin_boundaries is None:
            raise ValueError("Layer Discretization: you need to set either `num_bins` (and "
                             "call `adapt`) or `bin_boundaries`.")
        if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not (
                0 < epsilon <= 1):
            raise ValueError("Layer Discretization expects `epsilon` to be a number in (0, 1]. "
                             f"Received: epsilon={epsilon!r}")
        self.bin_boundaries = None if bin_boundaries is None else self._check_boundaries(
            bin_boundaries)
        self.num_bins = num_bins
        self.epsilon = epsilon
        self.output_mode = output_mode
        self.sparse = False

    @staticmethod
    def _check_boundaries(bin_boundaries):
        values = np.asarray(bin_boundaries, np.float64)
        if values.ndim != 1 or np.any(np.diff(values) < 0):
            raise ValueError("Layer Discretization expects `bin_boundaries` to be a sorted "
                             f"list of numbers. Received: bin_boundaries={bin_boundaries!r}")
        return [float(v) for v in values]

    @property
    def _out_dtype(self):
        return jnp.int32 if self.output_mode == "int" else self.compute_dtype

    def apply(self, params, state, inputs, *, training=False, rng=None):
        if self.bin_boundaries is None:
            raise ValueError(
                f"Layer '{self.name}' (Discretization) has no bin boundaries yet. Call "
                "`layer.adapt(data)` before using it, or pass `bin_boundaries=` to the "
                "constructor.")
        x = jnp.asarray(inputs)
        boundaries = jnp.asarray(self.bin_boundaries, x.dtype if jnp.issubdtype(
            x.dtype, jnp.floating) else jnp.float32)
        indices = jnp.digitize(x, boundaries).astype(jnp.int32)
        depth = len(self.bin_boundaries) + 1
        return _encode(indices, self.output_mode, depth, self._out_dtype), state

    def adapt(self, data, batch_size=None, steps=None):
        """Learns `num_bins` bins of about equal counts from the quantiles of `data`.

        Args:
            data: a NumPy or JAX array, or an iterable of batches (a list of arrays, a
                generator, a dataset yielding `x` or `(x, y)` batches).
            batch_size: for an array, the size of the batches it is summarized in.
            steps: the number of batches to use (default: all).
        """
        if self.num_bins is None:
            raise ValueError(
                f"Layer '{self.name}' (Discretization) was created with `bin_boundaries`; "
                "it cannot be adapted. Create it with `num_bins` instead.")
        summary = np.array([[], []], dtype="float32")
        for batch in _batches(self, data, batch_size, steps):
            summary = _merge(_summarize(batch.astype("float32"), self.epsilon), summary,
                             self.epsilon)
        self.bin_boundaries = _compress(summary, 1.0 / self.num_bins)[0, :-1].tolist()

    def get_config(self):
        # Keras's keys exactly (its config has no `trainable`)
        return {"bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins,
                "epsilon": self.epsilon, "output_mode": self.output_mode, "sparse": self.sparse,
                "name": self.name, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        boundaries = config.get("bin_boundaries")
        if boundaries is not None and config.get("num_bins") is not None:
            # an adapted layer: both are set; the boundaries come back after construction
            config.pop("bin_boundaries")
            layer = super().from_config(config)
            layer.bin_boundaries = cls._check_boundaries(boundaries)
            return layer
        return super().from_config(config)


# ---------------------------------------------------------------------------------- Rescaling
class Rescaling(Layer):
    """Rescales inputs: `inputs * scale + offset` (e.g. `scale=1/255` for pixel values).

    Args:
        scale: a number, or a list of numbers that broadcasts against the inputs' last axes
            (one per channel).
        offset: the same, added after scaling.

    Input shape:
        Any.

    Output shape:
        The same as the input, in the layer's dtype.
    """

    supports_masking = True

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("scale", scale), ("offset", offset)):
            try:
                arr = np.asarray(value, np.float64)
            except (TypeError, ValueError):
                arr = None
            if arr is None or isinstance(value, (bool, str)) or not np.all(np.isfinite(arr)):
                raise ValueError(f"Layer Rescaling expects `{arg}` to be a number or a list of "
                                 f"numbers. Received: {arg}={value!r}")
        self.scale = scale.tolist() if isinstance(scale, np.ndarray) else scale
        self.offset = offset.tolist() if isinstance(offset, np.ndarray) else offset

    def apply(self, params, state, inputs, *, training=False, rng=None):
        x = jnp.asarray(inputs).astype(self.compute_dtype)
        return x * jnp.asarray(self.scale, self.compute_dtype) + jnp.asarray(self.offset, self.compute_dtype), state

    def get_config(self):
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


# ---------------------------------------------------------------------------------- images
_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5")


def _image_axes(layer, spec):
    layer._check_rank(spec, (3, 4))
    rank = len(spec.shape)
    return (rank - 3, rank - 2) if layer.data_format == "channels_last" else (rank - 2, rank - 1)


def _saturate_cast(x, dtype):
    """`x` cast to `dtype`, clipped to its range first for integer dtypes."""
    dtype = jnp.dtype(dtype)
    if jnp.issubdtype(dtype, jnp.integer):
        info = jnp.iinfo(dtype)
        x = jnp.clip(x, info.min, info.max)
    return x.astype(dtype)


def _box_format(layer, value):
    """Checks a `bounding_box_format` argument (None or one of Keras's formats)."""
    if value is not None and (not isinstance(value, str) or
                              value.lower() not in bbox.SUPPORTED_FORMATS):
        raise ValueError(
            f"Received an invalid value for `bounding_box_format` of layer '{layer.name}' "
            f"({type(layer).__name__}), expected None or one of "
            f"{', '.join(bbox.SUPPORTED_FORMATS)}. Received: bounding_box_format={value!r}")
    return value


class _ImageDictLayer(Layer):
    """Resizing/CenterCrop: images, or Keras's dict `{"images", "labels", "bounding_boxes":
    {"boxes", "labels"}, "segmentation_masks"}` (all but "images" optional)."""

    def _check_dict(self, spec):
        from ._augmentation import _check_bounding_boxes, _check_dict_keys
        where = _check_dict_keys(self, spec)
        images = spec["images"]
        ha, wa = _image_axes(self, images)
        if "segmentation_masks" in spec:
            masks = spec["segmentation_masks"]
            if len(masks.shape) != len(images.shape) or \
                    (masks.shape[ha], masks.shape[wa]) != (images.shape[ha], images.shape[wa]):
                raise ValueError(
                    f"{where} expects segmentation masks of the images' rank, height and width. "
                    f"Received images of shape {shape_str(images.shape)} and masks of shape "
                    f"{shape_str(masks.shape)}")
        if "bounding_boxes" in spec:
            if not self.bounding_box_format:
                raise ValueError(
                    "You passed an input with a 'bounding_boxes' key, but you didn't specify a "
                    "bounding box format. Pass a `bounding_box_format` argument to your "
                    f"{type(self).__name__} layer, e.g. `bounding_box_format='xyxy'`.")
            _check_bounding_boxes(where, spec["bounding_boxes"], images)

    def init(self, rng, input_spec):
        if isinstance(input_spec, dict):
            self._check_dict(input_spec)
        else:
            _image_axes(self, input_spec)
        return {}, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        if not isinstance(inputs, dict):
            x = jnp.asarray(inputs)
            _image_axes(self, x)
            return self._images(x), state
        self._check_dict(inputs)
        out = {k: jax.tree.map(jnp.asarray, v) for k, v in inputs.items()}
        images = out["images"]
        ha, wa = _image_axes(self, images)
        out["images"] = self._images(images)
        if "segmentation_masks" in out:
            out["segmentation_masks"] = self._masks(out["segmentation_masks"])
        if "bounding_boxes" in out:
            boxes = dict(out["bounding_boxes"])
            fmt = self.bounding_box_format.lower()
            height, width = images.shape[ha], images.shape[wa]
            xyxy = bbox.convert_format(boxes["boxes"], fmt, "xyxy", height, width)
            moved = self._move_boxes(xyxy, boxes["boxes"].astype(jnp.float32), height, width)
            moved["labels"] = boxes["labels"]
            clipped = bbox.clip_to_image_size(moved, self.height, self.width, "xyxy")
            xyxy = clipped["boxes"]
            if "empty" in moved:  # Resizing: all -1 or all 0 input boxes become zeros
                xyxy = jnp.where(moved["empty"][..., None], 0.0, xyxy)
            boxes["boxes"] = bbox.convert_format(xyxy, "xyxy", fmt, self.height, self.width)
            boxes["labels"] = clipped["labels"]
            out["bounding_boxes"] = boxes
        return out, state

    def _images(self, x):
        raise NotImplementedError

    def _masks(self, masks):
        raise NotImplementedError

    def _move_boxes(self, xyxy, original, height, width):
        """`{"boxes": ...}`: "xyxy" boxes of a `height` x `width` image moved to the output."""
        raise NotImplementedError

    def get_config(self):
        config = {**super().get_config(), "data_format": self.data_format}
        if self.bounding_box_format is not None:  # as Keras: written only when set
            config["bounding_box_format"] = self.bounding_box_format
        return config


class Resizing(_ImageDictLayer):
    """Resizes images to `(height, width)`.

    Dict inputs `{"images": ..., "labels": ..., "bounding_boxes": {"boxes": ..., "labels": ...},
    "segmentation_masks": ...}` (Keras's form) resize their masks too (nearest neighbour, dtype
    kept) and move the boxes (given in `bounding_box_format`; float32, clipped to the output,
    label -1 for boxes left with no area, all-zero or all -1 boxes become zeros); labels pass.

    Args:
        height, width: the output size.
        interpolation: "bilinear" (default), "nearest", "bicubic", "lanczos3" or "lanczos5".
        crop_to_aspect_ratio: crop the largest centred window of the target aspect ratio
            first (no distortion).
        pad_to_aspect_ratio: pad the short side evenly to the target aspect ratio first.
        fill_mode: how padded areas are filled; only "constant".
        fill_value: the value of padded areas.
        antialias: low-pass filter when downsampling.
        data_format: "channels_last" (default) or "channels_first".
        bounding_box_format: the format of the boxes of dict inputs (`"xyxy"`, `"yxyx"`,
            `"xywh"`, `"center_xywh"`, `"center_yxhw"`, `"rel_..."`), or None.

    Input shape:
        `(batch, height, width, channels)` or one image `(height, width, channels)`
        (channels first: `(..., channels, height, width)`), or a dict as above.

    Output shape:
        The same with the target height and width; integer images stay integer (rounded).
    """

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0,
                 antialias=False, data_format=None, bounding_box_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height = _positive_int("Resizing", "height", height)
        self.width = _positive_int("Resizing", "width", width)
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"Layer Resizing expects `interpolation` to be one of "
                             f"{_INTERPOLATIONS}. Received: interpolation={interpolation!r}")
        if fill_mode != "constant":
            raise ValueError("Layer Resizing supports only fill_mode='constant'. Received: "
                             f"fill_mode={fill_mode!r}")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError("Layer Resizing: set at most one of `crop_to_aspect_ratio` and "
                             "`pad_to_aspect_ratio`.")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.antialias = bool(antialias)
        self.data_format = _standardize_data_format(self, data_format)
        self.bounding_box_format = _box_format(self, bounding_box_format)

    def _resize(self, x, interpolation):
        floating = jnp.issubdtype(x.dtype, jnp.floating)
        x_in = x if floating else x.astype(self.compute_dtype)
        y = image_ops.resize(x_in, (self.height, self.width),
                             interpolation=interpolation, antialias=self.antialias,
                             crop_to_aspect_ratio=self.crop_to_aspect_ratio,
                             pad_to_aspect_ratio=self.pad_to_aspect_ratio,
                             fill_mode=self.fill_mode, fill_value=self.fill_value,
                             data_format=self.data_format)
        if y.dtype != x.dtype:
            y = _saturate_cast(jnp.round(y) if not floating else y, x.dtype)
        return y

    def _images(self, x):
        return self._resize(x, self.interpolation)

    def _masks(self, masks):
        return self._resize(masks, "nearest")

    def _move_boxes(self, xyxy, original, height, width):
        empty = jnp.all(original == -1, axis=-1) | jnp.all(original == 0, axis=-1)
        x1, y1, x2, y2 = (xyxy[..., i] for i in range(4))
        if self.pad_to_aspect_ratio:
            r = min(self.height / height, self.width / width)
            top, left = (self.height - height * r) // 2, (self.width - width * r) // 2
            sx = sy = r
            dx, dy = left, top
        elif self.crop_to_aspect_ratio:
            source, target = width / height, self.width / self.height
            new_w = self.height * source if source > target else float(self.width)
            new_h = float(self.height) if source > target else self.width / source
            sx, sy = new_w / width, new_h / height
            dx, dy = -((new_w - self.width) // 2), -((new_h - self.height) // 2)
        else:
            sx, sy, dx, dy = self.width / width, self.height / height, 0.0, 0.0
        boxes = jnp.stack([x1 * sx + dx, y1 * sy + dy, x2 * sx + dx, y2 * sy + dy], axis=-1)
        return {"boxes": boxes, "empty": empty}

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias}


class CenterCrop(_ImageDictLayer):
    """Crops the central `(height, width)` window of images; an image smaller than that is
    first cropped to the target aspect ratio and resized (bilinear), as Keras does.

    Dict inputs `{"images": ..., "labels": ..., "bounding_boxes": {"boxes": ..., "labels": ...},
    "segmentation_masks": ...}` (Keras's form) crop their masks as the images (as Keras: in the
    layer's dtype, resized bilinearly when upscaled) and move the boxes (given in
    `bounding_box_format`; float32, clipped to the crop, label -1 for boxes left with no area);
    labels pass.

    Args:
        height, width: the output size.
        data_format: "channels_last" (default) or "channels_first".
        bounding_box_format: the format of the boxes of dict inputs (see Resizing), or None.

    Input shape:
        `(batch, height, width, channels)` or one image `(height, width, channels)`
        (channels first: `(..., channels, height, width)`), or a dict as above.

    Output shape:
        The same with the target height and width, in the layer's dtype.
    """

    def __init__(self, height, width, data_format=None, bounding_box_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height = _positive_int("CenterCrop", "height", height)
        self.width = _positive_int("CenterCrop", "width", width)
        self.data_format = _standardize_data_format(self, data_format)
        self.bounding_box_format = _box_format(self, bounding_box_format)

    def _images(self, x):
        x = x.astype(self.compute_dtype)
        h_axis, w_axis = _image_axes(self, x)
        h, w = x.shape[h_axis], x.shape[w_axis]
        if h >= self.height and w >= self.width:
            top, left = (h - self.height) // 2, (w - self.width) // 2
            x = jax.lax.slice_in_dim(x, top, top + self.height, axis=h_axis)
            return jax.lax.slice_in_dim(x, left, left + self.width, axis=w_axis)
        y = image_ops.resize(x, (self.height, self.width), interpolation="bilinear",
                             crop_to_aspect_ratio=True, data_format=self.data_format)
        return y.astype(self.compute_dtype)

    def _masks(self, masks):
        return self._images(masks)  # as Keras: the images' transformation

    def _move_boxes(self, xyxy, original, height, width):
        if height >= self.height and width >= self.width:
            top, left = int((height - self.height) / 2), int((width - self.width) / 2)
            crop_h, crop_w = self.height, self.width
        else:
            crop_h = max(min(height, int(float(width * self.height) / self.width)), 1)
            crop_w = max(min(width, int(float(height * self.width) / self.height)), 1)
            top, left = int(float(height - crop_h) / 2), int(float(width - crop_w) / 2)
        x1, y1, x2, y2 = (xyxy[..., i] for i in range(4))
        sx, sy = self.width / crop_w, self.height / crop_h

        def cx(v):
            return (jnp.clip(v, left, left + crop_w) - left) * sx

        def cy(v):
            return (jnp.clip(v, top, top + crop_h) - top) * sy

        return {"boxes": jnp.stack([cx(x1), cy(y1), cx(x2), cy(y2)], axis=-1)}

    def get_config(self):
        return {**super().get_config(), "height": self.height, "width": self.width}
