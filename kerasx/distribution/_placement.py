"""Where kerasx puts arrays under a distribution: shardings for weight trees (by path), for
the optimizer state (it follows its weights), and for batches (split along the batch axis).
Used by the layers' build and by the trainer; users work with `_distribution_lib`'s names."""

from typing import Any, Dict, Optional, Sequence, Tuple

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from ._distribution_lib import TensorLayout, distribution


class WeightRef:
    """What `Distribution.get_variable_layout` is asked about: a weight's `path` and `shape`
    (`_paths`: the other spellings of the path the layout map may use)."""

    def __init__(self, paths: Sequence[str], shape):
        self.path, self._paths, self.shape = paths[0], tuple(paths), tuple(shape)

    def __repr__(self):
        return f"<weight {self.path} shape={self.shape}>"


def _key_names(keypath) -> Tuple[str, ...]:
    return tuple(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k))))
                 for k in keypath)


def replicated(dist) -> NamedSharding:
    return NamedSharding(dist.device_mesh.backend_mesh, PartitionSpec())


def layout_sharding(layout: TensorLayout, shape, what: str) -> NamedSharding:
    """The sharding of `layout` for an array of `shape`, checked: rank and divisibility."""
    axes, mesh = tuple(layout.axes), layout.device_mesh
    if len(axes) != len(shape):
        raise ValueError(f"The layout {axes} of {what} has {len(axes)} axes but the array has "
                         f"shape {tuple(shape)} ({len(shape)} axes).")
    for i, (axis, size) in enumerate(zip(axes, shape)):
        if axis is None:
            continue
        names = axis if isinstance(axis, tuple) else (axis,)
        parts = int(np.prod([mesh.axis_size(n) for n in names]))
        if size % parts:
            raise ValueError(
                f"The layout {axes} of {what} splits axis {i} (size {size}) across mesh axis "
                f"{axis!r} of {parts} devices, which does not divide it. Pick a mesh axis whose "
                "size divides the weight, or leave that axis unsplit (None).")
    return layout.backend_layout


def weight_shardings(dist, tree, prefix: Optional[str] = None, prefix_first: bool = False):
    """A sharding per leaf of a weight tree (`{layer: {weight: array}}`), from the layout the
    distribution gives the weight's path: its path in the tree (`multi_head_attention/query/
    kernel`, as Keras spells a functional model's weights), then with the model's name in
    front (`sequential/dense/kernel`, a Sequential's in Keras), then as `variable.path` spells
    it (`query/kernel`)."""
    def one(keypath, leaf):
        names = _key_names(keypath)
        joined = "/".join(names)
        paths = [joined] + ([f"{prefix}/{joined}"] if prefix else [])
        if prefix_first:  # a layer's own weights: `dense/kernel` before `kernel`
            paths.reverse()
        if len(names) > 2:  # also as `variable.path` spells it: `query/kernel`
            paths.append("/".join(names[-2:]))
        ref = WeightRef(paths, np.shape(leaf))
        layout = dist.get_variable_layout(ref)
        if layout is None:
            return replicated(dist)
        if layout.device_mesh is None:
            layout = TensorLayout(layout.axes, dist.device_mesh)
        return layout_sharding(layout, ref.shape, f"weight '{joined}'")
    return jax.tree_util.tree_map_with_path(one, tree)


def following_shardings(dist, opt_state, params, param_shardings):
    """Shardings for an optimizer state: a leaf shaped like a weight, under a tree path that
    ends with that weight's path (Adam's `mu['dense']['kernel']`), takes the weight's sharding;
    everything else (step counts, scalars) is replicated."""
    by_path = {}
    for (kp, leaf), sh in zip(jax.tree_util.tree_flatten_with_path(params)[0],
                              jax.tree.leaves(param_shardings)):
        by_path[_key_names(kp)] = (np.shape(leaf), sh)

    def one(keypath, leaf):
        names = _key_names(keypath)
        for start in range(len(names)):
            hit = by_path.get(names[start:])
            if hit is not None and hit[0] == np.shape(leaf):
                return hit[1]
        return replicated(dist)
    return jax.tree_util.tree_map_with_path(one, opt_state)


def batch_sharding(dist, ndim: int, axis: int = 0) -> NamedSharding:
    spec = [None] * ndim
    spec[axis] = dist.batch_dim_name
    return NamedSharding(dist.device_mesh.backend_mesh, PartitionSpec(*spec))


def data_axis_size(dist) -> int:
    return dist.device_mesh.axis_size(dist.batch_dim_name)


def constrain(tree, shardings):
    return jax.tree.map(jax.lax.with_sharding_constraint, tree, shardings)


def put(tree, shardings):
    """`tree` placed with `shardings` (arrays already placed so are kept as they are)."""
    def one(a, s):
        if isinstance(a, jax.Array) and a.sharding == s:
            return a
        if isinstance(a, jax.Array) and jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
            # a typed random key: place its data (replicated layouts only)
            return jax.random.wrap_key_data(one(jax.random.key_data(a), s),
                                            impl=jax.random.key_impl(a))
        if jax.process_count() > 1 and not (isinstance(a, jax.Array)
                                             and a.is_fully_addressable is False):
            # every process holds the whole value: each puts in its own devices' shards
            a = np.asarray(a)
            return jax.make_array_from_callback(a.shape, s, lambda idx: a[idx])
        return jax.device_put(a, s)
    return jax.tree.map(one, tree, shardings)


def current():
    return distribution()


class TrainPlacement:
    """The shardings of one model's arrays under a distribution, for the trainer: the weights
    (by path), the optimizer state (following its weights), batches (split along axis 0) and
    everything else (replicated). `constrain_*` keep arrays in place inside compiled steps;
    `put_*` place them before a step."""

    def __init__(self, dist, model_name: str, params, state):
        self.dist = dist
        self.params = weight_shardings(dist, params, model_name)
        self.state = weight_shardings(dist, state, model_name)
        self.replicated = replicated(dist)
        self._opt = None  # (opt_state structure, shardings)

    def opt_shardings(self, opt_state, params):
        structure = jax.tree.structure(opt_state)
        if self._opt is None or self._opt[0] != structure:
            self._opt = (structure, following_shardings(self.dist, opt_state, params,
                                                        self.params))
        return self._opt[1]

    def constrain_batch(self, batch):
        def one(a):
            if not hasattr(a, "ndim") or a.ndim == 0:
                return a
            return jax.lax.with_sharding_constraint(a, batch_sharding(self.dist, a.ndim))
        return jax.tree.map(one, batch)

    def constrain_train_state(self, params, state, opt_state):
        params = constrain(params, self.params)
        state = constrain(state, self.state)
        if self._opt is not None and self._opt[0] == jax.tree.structure(opt_state):
            opt_state = constrain(opt_state, self._opt[1])
        return params, state, opt_state

    def put_weights(self, params, state):
        return put(params, self.params), put(state, self.state)

    def put_replicated(self, tree):
        return jax.tree.map(lambda a: put(a, self.replicated), tree)


def host_array(a) -> np.ndarray:
    """`a` as a NumPy array; an array sharded across the processes of a multi-process job is
    gathered from all of them (every process must call this together)."""
    if isinstance(a, jax.Array) and not a.is_fully_addressable and not a.is_fully_replicated:
        from jax.experimental import multihost_utils
        return np.asarray(multihost_utils.process_allgather(a, tiled=True))
    return np.asarray(a)


def process_rows(dist, tree):
    """This process's share of stepped outputs `(steps, global batch, ...)` (split along axis
    1 as the process fed its rows): `(steps, its batch, ...)` arrays it can read."""
    from jax.experimental import multihost_utils
    mesh = dist.device_mesh.backend_mesh

    def one(a):
        spec = PartitionSpec(None, dist.batch_dim_name, *([None] * (a.ndim - 2)))
        a = jax.device_put(a, NamedSharding(mesh, spec))
        return multihost_utils.global_array_to_host_local_array(a, mesh, spec)
    return jax.tree.map(one, tree)
