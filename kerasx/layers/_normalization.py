"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization,
UnitNormalization, RMSNormalization, SpectralNormalization.

The batch, layer and group normalizations follow Keras 3's numerics exactly (statistics by `mean`/biased `var`, then
`x * inv + (beta - mean * inv)` with `inv = gamma * rsqrt(var + epsilon)`), computed in at
least float32 so that bfloat16/float16 inputs keep precise statistics.
"""

import warnings
from numbers import Real
from typing import Any, List, Optional, Sequence, Tuple, Union

import jax
import jax.numpy as jnp

from .. import initializers
from ._wrapper import Wrapper
from ._base import Layer, apply_layer, shape_str


def _check_number(layer: Layer, arg: str, value: Any, lo: float, hi: Optional[float] = None) -> float:
    """Returns `float(value)` or raises a teaching ValueError naming the layer and argument."""
    ok = isinstance(value, Real) and not isinstance(value, bool) and value >= lo and (
        hi is None or value <= hi)
    if not ok:
        expected = f"a float between {lo} and {hi}" if hi is not None else f"a float >= {lo}"
        raise ValueError(
            f"Received an invalid value for `{arg}` of layer '{layer.name}', expected "
            f"{expected}. Received: {arg}={value!r}"
        )
    return float(value)


def _compute_dtype(dtype):
    """At least float32: statistics of bfloat16/float16 (or integer) inputs are computed in float32."""
    return jnp.result_type(dtype, jnp.float32)


def _masked_moments(x, mask, reduce_axes):
    """Mean and biased variance of `x` over `reduce_axes`, each sample weighted by `mask`.

    `mask` has shape `(batch,)` (axis 0 of `x`); padding rows (weight 0) may hold anything, even
    inf/nan. An all-zero mask gives a zero mean and variance.
    """
    w = jnp.broadcast_to(mask.reshape((-1,) + (1,) * (x.ndim - 1)), x.shape)
    count = jnp.sum(w, axis=reduce_axes)
    count = jnp.where(count > 0, count, 1.0)
    keep = w != 0
    mean = jnp.sum(w * jnp.where(keep, x, 0.0), axis=reduce_axes) / count
    centered = jnp.where(keep, x - jnp.expand_dims(mean, reduce_axes), 0.0)
    variance = jnp.sum(w * jnp.square(centered), axis=reduce_axes) / count
    return mean, variance


class BatchNormalization(Layer):
    """Normalizes each feature with batch statistics in training and moving averages otherwise.

    In training (`apply(..., training=True)`) the layer returns
    `gamma * (x - mean(x)) / sqrt(var(x) + epsilon) + beta`, with the mean and biased variance
    taken over every axis but `axis`, and returns new moving statistics in its state:
    `moving = moving * momentum + batch_statistic * (1 - momentum)`.
    In inference (`training=False`) it uses `moving_mean`/`moving_variance` and returns its
    state unchanged. As in Keras, a layer with `trainable=False` is frozen: it always runs in
    inference mode, even with `training=True`.

    A padded batch (the last partial batch of an epoch, padded to keep one compiled shape) is
    normalized with the statistics of its real samples only: pass
    `apply(..., training=True, batch_mask=m)` with `m` of shape `(batch,)`, 1.0 for real samples
    and 0.0 for padding rows. The mean and biased variance are then weighted by `m` (broadcast
    over the other reduced axes), and so are the new moving statistics; the outputs of padding
    rows are finite but meaningless. In inference the mask is ignored.

    Weights (Keras order): `gamma` (params, if `scale`), `beta` (params, if `center`),
    `moving_mean`, `moving_variance` (state).

    Args:
        axis: integer, the features axis (the one that is *not* reduced), e.g. `-1` after a
            channels-last Conv2D, `1` for channels-first.
        momentum: momentum of the moving averages, in [0, 1].
        epsilon: small float added to the variance to avoid dividing by zero.
        center: whether to add the learned offset `beta`.
        scale: whether to multiply by the learned scale `gamma`.
        beta_initializer, gamma_initializer: initializers of `beta` and `gamma`.
        moving_mean_initializer, moving_variance_initializer: initializers of the moving
            statistics.

    Input shape:
        Any shape `(batch_size, ...)`.
    Output shape:
        Same as the input shape (dtype: the layer's dtype).

    Example:
        >>> bn = BatchNormalization()
        >>> params, state = bn.init(jax.random.key(0), x)
        >>> y, state = bn.apply(params, state, x, training=True)   # updates the statistics
        >>> y, _ = bn.apply(params, state, x)                       # inference
    """

    supports_masking = True  # passes an input mask through, as in Keras

    # Training normalizes with the batch's own statistics, so a padded batch needs `batch_mask`.
    uses_batch_statistics = True
    takes_batch_mask = True
    # computed in float32 from float32 weights whatever the policy (Keras's autocast=False)
    _float32_weights = ("gamma", "beta", "moving_mean", "moving_variance")

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer="zeros",
                 gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.beta_regularizer, self.beta_constraint = self._weight_options(
            "beta", beta_regularizer, beta_constraint)
        self.gamma_regularizer, self.gamma_constraint = self._weight_options(
            "gamma", gamma_regularizer, gamma_constraint)
        if not isinstance(axis, int) or isinstance(axis, bool):
            raise ValueError(
                f"Received an invalid value for `axis` of layer '{self.name}', expected an "
                f"integer (BatchNormalization normalizes one features axis; for several axes "
                f"use LayerNormalization). Received: axis={axis!r}"
            )
        self.axis = axis
        self.momentum = _check_number(self, "momentum", momentum, 0.0, 1.0)
        self.epsilon = _check_number(self, "epsilon", epsilon, 0.0)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)

    def _axis_for(self, shape) -> int:
        """The features axis as a non-negative index for inputs of `shape`, or a teaching error."""
        ndim = len(shape)
        if not -ndim <= self.axis < ndim:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization) has axis={self.axis}, which is out of "
                f"bounds for inputs of rank {ndim} (shape {shape_str(shape)}); expected an axis "
                f"in [{-ndim}, {ndim})."
            )
        return self.axis % ndim

    def init(self, rng, input_spec):
        self._check_rank(input_spec, range(1, 100))
        ax = self._axis_for(input_spec.shape)
        shape = (input_spec.shape[ax],)
        k_gamma, k_beta, k_mean, k_var = jax.random.split(rng, 4)
        params = {}
        if self.scale:
            params["gamma"] = self.gamma_initializer(k_gamma, shape, self.dtype)
        if self.center:
            params["beta"] = self.beta_initializer(k_beta, shape, self.dtype)
        state = {
            "moving_mean": self.moving_mean_initializer(k_mean, shape, self.dtype),
            "moving_variance": self.moving_variance_initializer(k_var, shape, self.dtype),
        }
        return params, state

    def apply(self, params, state, inputs, *, training=False, rng=None, batch_mask=None):
        ax = self._axis_for(inputs.shape)
        channels = state["moving_mean"].shape[0]
        if inputs.shape[ax] != channels:
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization) was built for {channels} features on "
                f"axis {self.axis}, but received inputs of shape {shape_str(inputs.shape)}."
            )
        if batch_mask is not None and tuple(batch_mask.shape) != tuple(inputs.shape[:1]):
            raise ValueError(
                f"Layer '{self.name}' (BatchNormalization) expects `batch_mask` of shape "
                f"(batch,) = {shape_str(inputs.shape[:1])} for inputs of shape "
                f"{shape_str(inputs.shape)}, but received shape {shape_str(batch_mask.shape)}."
            )
        dtype = _compute_dtype(inputs.dtype)
        x = inputs.astype(dtype)
        moving_mean = state["moving_mean"].astype(dtype)
        moving_variance = state["moving_variance"].astype(dtype)

        if training and self.trainable:
            reduce_axes = tuple(i for i in range(x.ndim) if i != ax)
            if batch_mask is None or ax == 0:  # (axis=0: statistics never mix samples)
                mean = jnp.mean(x, axis=reduce_axes)
                variance = jnp.var(x, axis=reduce_axes)  # biased, as in Keras
            else:
                mean, variance = _masked_moments(x, batch_mask.astype(dtype), reduce_axes)
            new_mean = moving_mean * self.momentum + mean * (1.0 - self.momentum)
            new_variance = moving_variance * self.momentum + variance * (1.0 - self.momentum)
            state = {
                **state,
                "moving_mean": new_mean.astype(state["moving_mean"].dtype),
                "moving_variance": new_variance.astype(state["moving_variance"].dtype),
            }
        else:
            mean, variance = moving_mean, moving_variance

        bshape = [1] * x.ndim
        bshape[ax] = channels
        inv = jax.lax.rsqrt(variance.reshape(bshape) + self.epsilon)
        if self.scale:
            inv = inv * params["gamma"].astype(dtype).reshape(bshape)
        res = -mean.reshape(bshape) * inv
        if self.center:
            res = res + params["beta"].astype(dtype).reshape(bshape)
        return (x * inv + res).astype(self.compute_dtype), state

    def output_spec(self, input_spec):
        self._check_rank(input_spec, range(1, 100))
        self._axis_for(input_spec.shape)
        return jax.ShapeDtypeStruct(tuple(input_spec.shape), self.compute_dtype)

    def weight_names(self):
        names = []
        if self.scale:
            names.append(("params", "gamma"))
        if self.center:
            names.append(("params", "beta"))
        return names + [("state", "moving_mean"), ("state", "moving_variance")]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                "moving_mean_initializer": initializers.serialize(self.moving_mean_initializer),
                "moving_variance_initializer": initializers.serialize(
                    self.moving_variance_initializer),
                **self._weight_options_config("beta", "gamma")}


class LayerNormalization(Layer):
    """Normalizes each sample over `axis` (by default the last axis), independently of the batch.

    Returns `gamma * (x - mean) / sqrt(var + epsilon) + beta`, with the mean and biased variance
    taken over `axis` for each sample.

    `gamma` and `beta` follow Keras 3's layout exactly, so `set_weights` from a Keras layer
    works: their shape is the input's sizes on the *raw* axis values sorted as given, signs
    included (`sorted(axis)`), and in `apply` they are reshaped (not transposed) to the input's
    rank with the normalized axes kept. For an int or a same-sign list this is the shape of the
    normalized axes in order; for a mixed-sign list it is not: `axis=[1, -1]` on inputs
    `(batch, 3, 4)` sorts to `[-1, 1]`, so `gamma` has shape `(4, 3)`, read as `(1, 3, 4)`.

    Weights (Keras order): `gamma` (if `scale` or `rms_scaling`), `beta` (if `center` and not
    `rms_scaling`).

    Args:
        axis: integer or list of integers, the axes to normalize over (never the batch axis).
        epsilon: small float added to the variance to avoid dividing by zero.
        center: whether to add the learned offset `beta`.
        scale: whether to multiply by the learned scale `gamma`.
        beta_initializer, gamma_initializer: initializers of `beta` and `gamma`.
        rms_scaling: deprecated in Keras, kept for parity (with the same warning): returns
            `gamma * x / sqrt(var + epsilon)`, with no centering and no `beta`, and always a
            `gamma`, whatever `center` and `scale` say. It scales by the variance, not the root
            mean square.

    Input shape:
        Any shape `(batch_size, ...)`.
    Output shape:
        Same as the input shape (dtype: the layer's dtype).
    """

    supports_masking = True  # passes an input mask through, as in Keras

    _float32_weights = ("gamma", "beta")  # kept in float32 under a mixed policy, as Keras

    def __init__(self, axis: Union[int, Sequence[int]] = -1, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        rms_scaling = bool(kwargs.pop("rms_scaling", False))
        if rms_scaling:
            warnings.warn(
                "You passed `rms_scaling=True`, which is deprecated. This argument incorrectly "
                "scales the input by the variance, not the root mean square (as in Keras 3).",
                UserWarning, stacklevel=2,
            )
        super().__init__(**kwargs)
        is_int = lambda a: isinstance(a, int) and not isinstance(a, bool)
        if isinstance(axis, (list, tuple)) and axis and all(is_int(a) for a in axis):
            axis = list(axis)
        elif not is_int(axis):
            raise ValueError(
                f"Received an invalid value for `axis` of layer '{self.name}', expected an "
                f"integer or a non-empty list of integers. Received: axis={axis!r}"
            )
        self.axis = axis
        self.epsilon = _check_number(self, "epsilon", epsilon, 0.0)
        self.center = bool(center)
        self.scale = bool(scale)
        self.rms_scaling = rms_scaling
        self.beta_regularizer, self.beta_constraint = self._weight_options(
            "beta", beta_regularizer, beta_constraint)
        self.gamma_regularizer, self.gamma_constraint = self._weight_options(
            "gamma", gamma_regularizer, gamma_constraint)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)

    @property
    def _has_gamma(self) -> bool:
        return self.scale or self.rms_scaling

    @property
    def _has_beta(self) -> bool:
        return self.center and not self.rms_scaling

    def _axes_for(self, shape) -> List[int]:
        """The normalized axes as sorted non-negative indices for inputs of `shape`."""
        ndim = len(shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        for a in axes:
            if not -ndim <= a < ndim:
                raise ValueError(
                    f"Layer '{self.name}' (LayerNormalization) has axis={self.axis}, which is out "
                    f"of bounds for inputs of rank {ndim} (shape {shape_str(shape)}); expected "
                    f"axes in [{-ndim}, {ndim})."
                )
        norm = sorted(a % ndim for a in axes)
        if len(set(norm)) != len(norm):
            raise ValueError(
                f"Layer '{self.name}' (LayerNormalization) received a repeated axis: "
                f"axis={self.axis} for inputs of rank {ndim}."
            )
        return norm

    def _weight_shape(self, shape) -> Tuple[int, ...]:
        """Keras's gamma/beta shape: the sizes on the raw axis values, sorted (signs included)."""
        self._axes_for(shape)
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        wshape = tuple(shape[a] for a in sorted(axes))
        if len(wshape) == len(shape) and wshape != tuple(shape):
            # Keras then broadcasts the weights unreshaped against the inputs, which fails.
            raise ValueError(
                f"Layer '{self.name}' (LayerNormalization) normalizes over every axis with "
                f"axis={self.axis}, so its weights (Keras layout: the sizes on sorted(axis) = "
                f"{sorted(axes)}) would have shape {shape_str(wshape)}, which does not broadcast "
                f"against inputs of shape {shape_str(shape)}. List the axes with one sign, e.g. "
                f"axis={list(range(len(shape)))}."
            )
        return wshape

    def init(self, rng, input_spec):
        self._check_rank(input_spec, range(1, 100))
        shape = self._weight_shape(input_spec.shape)
        k_gamma, k_beta = jax.random.split(rng)
        params = {}
        if self._has_gamma:
            params["gamma"] = self.gamma_initializer(k_gamma, shape, self.dtype)
        if self._has_beta:
            params["beta"] = self.beta_initializer(k_beta, shape, self.dtype)
        return params, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        axes = self._axes_for(inputs.shape)
        wshape = self._weight_shape(inputs.shape)
        for k, w in params.items():
            if tuple(w.shape) != wshape:
                raise ValueError(
                    f"Layer '{self.name}' (LayerNormalization) has '{k}' of shape "
                    f"{shape_str(w.shape)} for axis={self.axis}, but received inputs of shape "
                    f"{shape_str(inputs.shape)} (expected weights of shape {shape_str(wshape)})."
                )
        dtype = _compute_dtype(inputs.dtype)
        x = inputs.astype(dtype)
        # Keras reshapes (never transposes) the weights to the input's rank.
        bshape = [1] * x.ndim
        for a in axes:
            bshape[a] = x.shape[a]
        variance = jnp.var(x, axis=tuple(axes), keepdims=True)  # biased, as in Keras
        inv = jax.lax.rsqrt(variance + self.epsilon)
        if self.rms_scaling:
            out = x * inv * params["gamma"].astype(dtype).reshape(bshape)
        else:
            mean = jnp.mean(x, axis=tuple(axes), keepdims=True)
            if self.scale:
                inv = inv * params["gamma"].astype(dtype).reshape(bshape)
            res = -mean * inv
            if self.center:
                res = res + params["beta"].astype(dtype).reshape(bshape)
            out = x * inv + res
        if jnp.issubdtype(inputs.dtype, jnp.floating):
            # Keras's layer_normalization returns the input dtype (LayerNormalization does
            # not autocast its inputs) before the layer casts to its own dtype.
            out = out.astype(inputs.dtype)
        return out.astype(self.compute_dtype), state

    def output_spec(self, input_spec):
        self._check_rank(input_spec, range(1, 100))
        self._weight_shape(input_spec.shape)
        return jax.ShapeDtypeStruct(tuple(input_spec.shape), self.compute_dtype)

    def weight_names(self):
        return ([("params", "gamma")] if self._has_gamma else []) + (
            [("params", "beta")] if self._has_beta else [])

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "rms_scaling": self.rms_scaling,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                **self._weight_options_config("beta", "gamma")}


def _check_int_axis(layer: Layer, axis: Any) -> int:
    if not isinstance(axis, int) or isinstance(axis, bool):
        raise ValueError(
            f"Received an invalid value for `axis` of layer '{layer.name}', expected an "
            f"integer. Received: axis={axis!r}"
        )
    return axis


def _int_or_int_list(layer: Layer, axis: Any, error=ValueError):
    """`axis` as an int or a list of ints (Keras keeps a list as a list), or a teaching error."""
    is_int = lambda a: isinstance(a, int) and not isinstance(a, bool)
    if isinstance(axis, (list, tuple)) and axis and all(is_int(a) for a in axis):
        return list(axis)
    if is_int(axis):
        return axis
    raise error(
        f"Received an invalid value for `axis` of layer '{layer.name}', expected an integer "
        f"or a non-empty list of integers. Received: axis={axis!r}"
    )


def _normalized_axes(layer: Layer, axis, shape) -> List[int]:
    """`axis` (int or list) as sorted non-negative indices into `shape`, or a teaching error."""
    ndim = len(shape)
    axes = axis if isinstance(axis, list) else [axis]
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(
                f"Layer '{layer.name}' ({type(layer).__name__}) has axis={axis}, which is out of "
                f"bounds for inputs of rank {ndim} (shape {shape_str(shape)}); expected axes in "
                f"[{-ndim}, {ndim})."
            )
    norm = sorted(a % ndim for a in axes)
    if len(set(norm)) != len(norm):
        raise ValueError(
            f"Layer '{layer.name}' ({type(layer).__name__}) received a repeated axis: "
            f"axis={axis} for inputs of rank {ndim}."
        )
    return norm


class GroupNormalization(Layer):
    """Normalizes each sample over groups of channels (Wu & He, 2018).

    The channels on `axis` are split into `groups` groups of equal size; each group of each
    sample is normalized with its own mean and biased variance (taken over the group's channels
    and every other non-batch axis), then scaled by `gamma` and shifted by `beta` per channel.
    `groups=1` is LayerNormalization over all non-batch axes; `groups=-1` (one group per
    channel) is instance normalization. Statistics are computed in at least float32.

    Weights (Keras order): `gamma` (if `scale`), `beta` (if `center`), each of shape
    `(channels,)`.

    Args:
        groups: positive integer dividing the number of channels, or -1 for one group per
            channel (default 32).
        axis: integer, the channels axis (default -1).
        epsilon: small float added to the variance to avoid dividing by zero.
        center: whether to add the learned offset `beta`.
        scale: whether to multiply by the learned scale `gamma`.
        beta_initializer, gamma_initializer: initializers of `beta` and `gamma`.
        beta_regularizer, gamma_regularizer, beta_constraint, gamma_constraint: optional
            regularizers and constraints of the weights.

    Input shape:
        Any shape `(batch_size, ...)` with a known size on `axis`.
    Output shape:
        Same as the input shape (dtype: the layer's dtype).
    """

    supports_masking = True

    def __init__(self, groups: int = 32, axis: int = -1, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        # Keras: GroupNormalization neither casts its inputs nor its weights (autocast=False);
        # it computes in float32 and returns its inputs' dtype
        self.autocast = False
        if not isinstance(groups, int) or isinstance(groups, bool) or (groups <= 0 and groups != -1):
            raise ValueError(
                f"Received an invalid value for `groups` of layer '{self.name}', expected a "
                f"positive integer (or -1 for instance normalization). Received: groups={groups!r}"
            )
        self.groups = groups
        self.axis = _check_int_axis(self, axis)
        self.epsilon = _check_number(self, "epsilon", epsilon, 0.0)
        self.center = bool(center)
        self.scale = bool(scale)
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer, self.beta_constraint = self._weight_options(
            "beta", beta_regularizer, beta_constraint)
        self.gamma_regularizer, self.gamma_constraint = self._weight_options(
            "gamma", gamma_regularizer, gamma_constraint)

    def _layout(self, shape) -> Tuple[int, int, int]:
        """`(axis, channels, groups)` for inputs of `shape`, or a teaching error."""
        self._check_rank(jax.ShapeDtypeStruct(tuple(shape), jnp.float32), range(2, 100))
        ax = _normalized_axes(self, self.axis, shape)[0]
        if ax == 0:
            raise ValueError(
                f"Layer '{self.name}' (GroupNormalization) cannot normalize over the batch axis; "
                f"received axis={self.axis} for inputs of shape {shape_str(shape)}.")
        channels = shape[ax]
        groups = channels if self.groups == -1 else self.groups
        if channels < groups:
            raise ValueError(
                f"Layer '{self.name}' (GroupNormalization): the number of groups ({groups}) "
                f"cannot be more than the number of channels ({channels}) on axis {self.axis}. "
                f"Received inputs of shape {shape_str(shape)}."
            )
        if channels % groups:
            raise ValueError(
                f"Layer '{self.name}' (GroupNormalization): the number of groups ({groups}) "
                f"must divide the number of channels ({channels}) on axis {self.axis}. "
                f"Received inputs of shape {shape_str(shape)}."
            )
        return ax, channels, groups

    def init(self, rng, input_spec):
        _, channels, _ = self._layout(input_spec.shape)
        k_gamma, k_beta = jax.random.split(rng)
        params = {}
        if self.scale:
            params["gamma"] = self.gamma_initializer(k_gamma, (channels,), self.dtype)
        if self.center:
            params["beta"] = self.beta_initializer(k_beta, (channels,), self.dtype)
        return params, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        ax, channels, groups = self._layout(inputs.shape)
        dtype = _compute_dtype(inputs.dtype)
        grouped_shape = inputs.shape[:ax] + (groups, channels // groups) + inputs.shape[ax + 1:]
        x = inputs.astype(dtype).reshape(grouped_shape)
        reduce_axes = tuple(i for i in range(1, x.ndim) if i != ax)
        mean = jnp.mean(x, axis=reduce_axes, keepdims=True)
        variance = jnp.var(x, axis=reduce_axes, keepdims=True)  # biased, as in Keras
        bshape = [1] * x.ndim
        bshape[ax], bshape[ax + 1] = groups, channels // groups
        inv = jax.lax.rsqrt(variance + self.epsilon)
        if self.scale:
            inv = inv * params["gamma"].astype(dtype).reshape(bshape)
        res = -mean * inv
        if self.center:
            res = res + params["beta"].astype(dtype).reshape(bshape)
        out = (x * inv + res).reshape(inputs.shape)
        if jnp.issubdtype(inputs.dtype, jnp.floating):
            out = out.astype(inputs.dtype)  # as Keras: the input dtype, then the layer's
        return out.astype(self.compute_dtype), state

    def output_spec(self, input_spec):
        self._layout(input_spec.shape)
        return jax.ShapeDtypeStruct(tuple(input_spec.shape), self.compute_dtype)

    def weight_names(self):
        return ([("params", "gamma")] if self.scale else []) + (
            [("params", "beta")] if self.center else [])

    def get_config(self):
        return {**super().get_config(), "groups": self.groups, "axis": self.axis,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": initializers.serialize(self.beta_initializer),
                "gamma_initializer": initializers.serialize(self.gamma_initializer),
                **self._weight_options_config("beta", "gamma")}


class UnitNormalization(Layer):
    """Scales each sample to unit L2 norm over `axis`: `x / sqrt(sum(x ** 2))`.

    As in Keras, the inverse norm is capped at `1e12`, so an all-zero slice stays zero.

    Args:
        axis: integer or list of integers, the axes to normalize over (default -1).

    Input shape:
        Any shape `(batch_size, ...)`.
    Output shape:
        Same as the input shape and dtype.
    """

    supports_masking = True

    def __init__(self, axis: Union[int, Sequence[int]] = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = _int_or_int_list(self, axis, error=TypeError)

    def apply(self, params, state, inputs, *, training=False, rng=None):
        axes = tuple(_normalized_axes(self, self.axis, inputs.shape))
        x = inputs if jnp.issubdtype(inputs.dtype, jnp.floating) else inputs.astype(self.dtype)
        inv_norm = jax.lax.rsqrt(jnp.sum(jnp.square(x), axis=axes, keepdims=True))
        return x * jnp.minimum(inv_norm, jnp.asarray(1e12, x.dtype)), state

    def output_spec(self, input_spec):
        _normalized_axes(self, self.axis, input_spec.shape)
        dtype = input_spec.dtype if jnp.issubdtype(input_spec.dtype, jnp.floating) else self.dtype
        return jax.ShapeDtypeStruct(tuple(input_spec.shape), dtype)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class RMSNormalization(Layer):
    """Root-mean-square normalization (Zhang & Sennrich, 2019): `x * rsqrt(mean(x**2) + eps) * scale`.

    The mean of squares is taken over `axis` for each sample, in at least float32; unlike
    LayerNormalization there is no centering and no offset.

    Weights: `scale` (initialized to ones), of the input's sizes on `sorted(axis)`.

    Args:
        axis: integer or list of integers, the axes to normalize over (default -1). A list
            must use one sign (all non-negative or all negative), as Keras's weight layout
            sorts the raw values.
        epsilon: small float added to the mean of squares (default 1e-6).

    Input shape:
        Any shape `(batch_size, ...)`.
    Output shape:
        Same as the input shape and dtype.
    """

    supports_masking = True

    def __init__(self, axis: Union[int, Sequence[int]] = -1, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = _int_or_int_list(self, axis)
        if isinstance(self.axis, list) and len({a < 0 for a in self.axis}) > 1:
            raise ValueError(
                f"Received an invalid value for `axis` of layer '{self.name}': list the axes "
                f"with one sign (all non-negative or all negative). Received: axis={self.axis}"
            )
        self.epsilon = _check_number(self, "epsilon", epsilon, 0.0)

    def _layout(self, shape):
        axes = _normalized_axes(self, self.axis, shape)
        if 0 in axes:
            raise ValueError(
                f"Layer '{self.name}' (RMSNormalization) cannot normalize over the batch axis; "
                f"received axis={self.axis} for inputs of shape {shape_str(shape)}.")
        return axes, tuple(shape[a] for a in axes)

    def init(self, rng, input_spec):
        _, wshape = self._layout(input_spec.shape)
        return {"scale": jnp.ones(wshape, self.dtype)}, {}

    def apply(self, params, state, inputs, *, training=False, rng=None):
        axes, wshape = self._layout(inputs.shape)
        if tuple(params["scale"].shape) != wshape:
            raise ValueError(
                f"Layer '{self.name}' (RMSNormalization) has 'scale' of shape "
                f"{shape_str(params['scale'].shape)}, but received inputs of shape "
                f"{shape_str(inputs.shape)} (expected {shape_str(wshape)} for axis={self.axis})."
            )
        dtype = _compute_dtype(inputs.dtype)
        x = inputs.astype(dtype)
        bshape = [1] * x.ndim
        for a in axes:
            bshape[a] = x.shape[a]
        rrms = jax.lax.rsqrt(jnp.mean(jnp.square(x), axis=tuple(axes), keepdims=True)
                             + self.epsilon)
        out = x * rrms * params["scale"].astype(dtype).reshape(bshape)
        out_dtype = inputs.dtype if jnp.issubdtype(inputs.dtype, jnp.floating) else self.dtype
        return out.astype(out_dtype), state

    def output_spec(self, input_spec):
        self._layout(input_spec.shape)
        dtype = input_spec.dtype if jnp.issubdtype(input_spec.dtype, jnp.floating) else self.dtype
        return jax.ShapeDtypeStruct(tuple(input_spec.shape), dtype)

    def weight_names(self):
        return [("params", "scale")]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}


def _l2_normalize_all(v):
    """Keras's `normalize(v, axis=None)`: `v * min(rsqrt(sum(v**2)), 1 / 1e-7)`."""
    inv = jax.lax.rsqrt(jnp.sum(jnp.square(v)))
    return v * jnp.minimum(inv, jnp.asarray(1e7, v.dtype))


class SpectralNormalization(Wrapper):
    """Wraps a layer with a `kernel` (or `embeddings`) and divides it by its spectral norm.

    In training (`apply(..., training=True)`) the largest singular value `sigma` of the
    wrapped layer's kernel, reshaped to `(-1, kernel.shape[-1])`, is estimated by
    `power_iterations` steps of power iteration from the vector `u` (held in the state, and
    returned updated), and the wrapped layer runs with `kernel / sigma`; gradients flow through
    `sigma` into the kernel (not through `u`). An all-zero kernel is left as it is. In
    inference the wrapped layer runs with its kernel as stored and `u` is unchanged.

    This is what Keras 3 computes under its JAX trainer (`fit`). Keras's eager call with
    `training=True` also overwrites the stored kernel with `kernel / sigma`; kerasx's `apply`
    is pure and never changes params.

    Weights: the wrapped layer's weights under its name, and `vector_u` (state, shape
    `(1, kernel.shape[-1])`, truncated normal with stddev 0.02), listed in Keras's order: the
    kernel, then `vector_u`, then the wrapped layer's other weights.

    Args:
        layer: the layer to wrap (e.g. `Dense`, `Conv2D`, `Embedding`).
        power_iterations: positive integer, the number of power iterations per training call.

    Input shape:
        The wrapped layer's.
    Output shape:
        The wrapped layer's (floating outputs cast to the input dtype when it is floating).
    """

    def __init__(self, layer: Layer, power_iterations: int = 1, **kwargs):
        super().__init__(layer, **kwargs)
        if (not isinstance(power_iterations, int) or isinstance(power_iterations, bool)
                or power_iterations <= 0):
            raise ValueError(
                f"Received an invalid value for `power_iterations` of layer '{self.name}', "
                f"expected a positive integer. Received: power_iterations={power_iterations!r}")
        self.power_iterations = power_iterations

    def _key(self) -> str:
        return self._sublayer_items()[0][0]

    def _kernel_name(self, sub_params) -> str:
        for name in ("kernel", "embeddings"):
            if name in sub_params:
                return name
        raise ValueError(
            f"Layer '{self.name}' (SpectralNormalization) wraps layer '{self.layer.name}' "
            f"({type(self.layer).__name__}), which has no weight 'kernel' nor 'embeddings'. "
            f"Its weights: {sorted(sub_params)}.")

    def init(self, rng, input_spec):
        k_layer, k_u = jax.random.split(rng)
        sub_params, sub_state = self.layer.init(k_layer, input_spec)
        kernel = sub_params[self._kernel_name(sub_params)]
        u = initializers.TruncatedNormal(stddev=0.02)(k_u, (1, kernel.shape[-1]), kernel.dtype)
        key = self._key()
        return {key: sub_params}, {"vector_u": u, key: sub_state}

    def _normalized(self, kernel, u):
        w = kernel.reshape(-1, kernel.shape[-1])
        v = None
        for _ in range(self.power_iterations):
            v = _l2_normalize_all(u @ w.T)
            u = _l2_normalize_all(v @ w)
        u, v = jax.lax.stop_gradient(u), jax.lax.stop_gradient(v)
        sigma = (v @ w) @ u.T
        return u, (w / sigma).reshape(kernel.shape)

    def apply(self, params, state, inputs, *, training=False, rng=None, **kwargs):
        key = self._key()
        sub_params = params[key]
        u = state["vector_u"]
        if training:
            name = self._kernel_name(sub_params)
            kernel = sub_params[name]
            new_u, new_kernel = self._normalized(kernel, u.astype(kernel.dtype))
            is_zero = jnp.all(kernel == 0)
            u = jnp.where(is_zero, u, new_u.astype(u.dtype))
            sub_params = {**sub_params, name: jnp.where(is_zero, kernel, new_kernel)}
        out, sub_state = apply_layer(self.layer, sub_params, state[key], inputs,
                                     training=training, rng=rng, **kwargs)
        if jnp.issubdtype(inputs.dtype, jnp.floating):
            out = jax.tree.map(lambda o: o.astype(inputs.dtype)
                               if jnp.issubdtype(o.dtype, jnp.floating) else o, out)
        return out, {**state, "vector_u": u, key: sub_state}

    def output_spec(self, input_spec):
        out = self.layer.output_spec(input_spec)
        if jnp.issubdtype(input_spec.dtype, jnp.floating):
            out = jax.tree.map(lambda o: jax.ShapeDtypeStruct(o.shape, input_spec.dtype)
                               if jnp.issubdtype(o.dtype, jnp.floating) else o, out)
        return out

    def weight_names(self):
        return [("state", "vector_u")]

    def _keras_weight_order(self, entries, path):
        """Keras's order: the wrapped layer's kernel (which Keras's wrapper tracks as its own),
        then `vector_u`, then the wrapped layer's other weights."""
        u = entries[0]
        kernel = next((e for e in entries[1:] if e[1][-1] in ("kernel", "embeddings")
                       and e[1][:-1] == path + (self._key(),)), None)
        if kernel is None:
            return entries
        return [kernel, u] + [e for e in entries[1:] if e is not kernel]

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}
