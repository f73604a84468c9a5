"""The layer tree: one traversal for every container (models, subclassed layers, composites).

A layer's params/state pytrees hold its own weights at the top level and each sublayer's
pytrees under the sublayer's key: `{"kernel": ..., "dense": {"kernel": ..., "bias": ...}}`.
`Layer._sublayer_items()` lists the `(key, sublayer)` pairs in Keras order; everything here
walks that, so the trainer, saving and summary see models, subclassed layers and built-in
composites alike.

A built layer owns its current arrays (`layer._own`, its own weights only). `gather` assembles
a layer's pytrees from the objects of its tree, `assign` scatters pytrees back, and `adopt`
does the same while keeping the arrays of layers that already hold weights (`build` adopts,
`init` creates).
"""

from typing import Any, Dict, Iterator, List, Tuple

import jax
import jax.numpy as jnp
import numpy as np

from .._nested import get_path as get_path
from .._nested import set_path as set_path
from ..distribution._placement import host_array


def shape_str(shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def unique_key(layer, taken) -> str:
    """The layer's key in a container: its name, made unique among `taken` if it was auto-named.

    An auto-named layer gets its final name the first time it is placed in a container.
    """
    name = layer.name
    if name not in taken:
        return name
    if not layer._auto_named:
        raise ValueError(
            f"Two layers share the name '{name}' in one model; names must be unique. Give one "
            f"of them another `name=`."
        )
    i = 1
    while f"{name}_{i}" in taken:
        i += 1
    layer.name = f"{name}_{i}"
    return layer.name


def walk(layer, trainable: bool = True, path: Tuple[str, ...] = ()) -> Iterator[Tuple]:
    """Yields `(path, layer, effectively_trainable)` for `layer` and every layer under it,
    parents before children, sublayers in Keras order."""
    trainable = trainable and layer.trainable
    yield path, layer, trainable
    for key, sub in layer._sublayer_items():
        yield from walk(sub, trainable, path + (key,))


def weight_paths(layer, path: Tuple[str, ...] = ()) -> List[Tuple[str, Tuple[str, ...], Any]]:
    """All weights under `layer` in Keras order, as `(collection, path, owning_layer)`: each
    layer's own weights (its `weight_names()`), then its sublayers'; a layer whose Keras order
    interleaves the two (a wrapper that tracks its sublayer's kernel as its own) reorders its
    subtree's list in `_keras_weight_order`."""
    out = [(c, path + (k,), layer) for c, k in layer.weight_names()]
    for key, sub in layer._sublayer_items():
        out += weight_paths(sub, path + (key,))
    reorder = getattr(layer, "_keras_weight_order", None)
    return reorder(out, path) if reorder is not None else out


def trainable_mask(layer, params: Any, parent_trainable: bool = True) -> Any:
    """A pytree like `params` holding True where `fit` may update the weight."""
    trainable = parent_trainable and layer.trainable
    subs = dict(layer._sublayer_items())
    return {k: trainable_mask(subs[k], v, trainable) if k in subs
            else jax.tree.map(lambda _: trainable, v) for k, v in params.items()}


def uses_batch_statistics(layer) -> bool:
    """Whether a layer under `layer` normalizes with the batch's statistics when training."""
    return any(getattr(sub, "uses_batch_statistics", False) and trainable
               for _, sub, trainable in walk(layer))


def is_built(layer) -> bool:
    """Whether every layer of the tree holds its weights."""
    return all(sub._built for _, sub, _ in walk(layer))


def holds_weights(layer) -> bool:
    """Whether every layer of the tree holds all its weights (built, or weights created in
    `__init__` before any build)."""
    return all(sub._built or all(k in sub._own[c] for c, k in sub.weight_names())
               for _, sub, _ in walk(layer))


def gather(layer) -> Tuple[Dict, Dict]:
    """The layer's `(params, state)` pytrees, assembled from the arrays its tree holds."""
    params, state = dict(layer._own["params"]), dict(layer._own["state"])
    for key, sub in layer._sublayer_items():
        params[key], state[key] = gather(sub)
    return params, state


def assign(layer, params: Dict, state: Dict, mark_built: bool = True) -> None:
    """Hands `params`/`state` (in the tree's structure) to the layers that own them (and
    marks them built, unless `mark_built=False`: new values for weights made in `__init__`)."""
    subs = dict(layer._sublayer_items())
    layer._own = {"params": {k: v for k, v in params.items() if k not in subs},
                  "state": {k: v for k, v in state.items() if k not in subs}}
    layer._built = layer._built or mark_built
    for key, sub in subs.items():
        assign(sub, params.get(key, {}), state.get(key, {}), mark_built)


def adopt(layer, params: Dict, state: Dict) -> None:
    """Like `assign`, but a layer that already holds weights keeps them (after checking that
    their shapes match the fresh ones): a trained sub-model keeps what it learned. Every shape
    is checked before anything is assigned, so a mismatch leaves the tree as it was."""
    _check_adoptable(layer, params, state, layer.name)
    _adopt(layer, params, state)


def _split_own(layer, params, state):
    subs = dict(layer._sublayer_items())
    own = {"params": {k: v for k, v in params.items() if k not in subs},
           "state": {k: v for k, v in state.items() if k not in subs}}
    return own, subs


def _check_adoptable(layer, params, state, where):
    own, subs = _split_own(layer, params, state)
    if layer._built:
        for c in ("params", "state"):
            held_shapes = jax.tree.map(lambda a: tuple(np.shape(a)), layer._own[c])
            fresh_shapes = jax.tree.map(lambda a: tuple(a.shape), own[c])
            if held_shapes != fresh_shapes:
                raise ValueError(
                    f"Layer '{where}' ({type(layer).__name__}) already holds weights "
                    f"{_describe(held_shapes)}, but the model it is in needs "
                    f"{_describe(fresh_shapes)} for its inputs. A layer shared between models "
                    "must see inputs of the same shape in each.")
    for key, sub in subs.items():
        _check_adoptable(sub, params.get(key, {}), state.get(key, {}), f"{where}/{key}")


def _adopt(layer, params, state):
    own, subs = _split_own(layer, params, state)
    if not layer._built:
        # weights created before the build (`add_weight` in `__init__`) are kept
        held = layer._own
        layer._own = {c: {k: held[c][k] if k in held[c] and np.shape(held[c][k]) == np.shape(v)
                          else v for k, v in own[c].items()} for c in ("params", "state")}
        layer._built = True
    for key, sub in subs.items():
        _adopt(sub, params.get(key, {}), state.get(key, {}))


def _describe(shapes: Dict) -> str:
    flat = jax.tree_util.tree_leaves_with_path(shapes, is_leaf=lambda s: isinstance(s, tuple))
    return "{" + ", ".join(f"{jax.tree_util.keystr(p)[2:-2]}: {shape_str(s)}"
                           for p, s in flat) + "}"


def get_weights_from(layer, params, state) -> List[np.ndarray]:
    """The weights in `params`/`state` as NumPy arrays, in Keras order."""
    trees = {"params": params, "state": state}
    return [host_array(get_path(trees[c], p)) for c, p, _ in weight_paths(layer)]


def set_weights_into(layer, params, state, weights, where: str = ""):
    """Returns new `(params, state)` with `weights` (Keras order) in place; a wrong count or
    shape is a ValueError naming the layer, the weight and both shapes."""
    paths = weight_paths(layer)
    weights = list(weights)
    where = where or layer.name
    if len(weights) != len(paths):
        raise ValueError(
            f"Layer '{where}' expects a list of {len(paths)} weights in Keras order "
            f"({', '.join('/'.join(p) for _, p, _ in paths) or 'none'}), but received "
            f"{len(weights)}.")
    trees = {"params": params, "state": state}
    for (c, p, _), w in zip(paths, weights):
        old = get_path(trees[c], p)
        w = np.asarray(w)
        if tuple(w.shape) != tuple(old.shape):
            owner = "/".join((where,) + p[:-1])
            raise ValueError(
                f"Layer '{owner}': weight '{p[-1]}' has shape {shape_str(old.shape)}, but the "
                f"value given has shape {shape_str(w.shape)}.")
        trees[c] = set_path(trees[c], p, jnp.asarray(w, dtype=old.dtype))
    return trees["params"], trees["state"]


def _trainable_options(layer, params, options: str):
    """`(path, value, option)` for each weight of `params` that trains and has an entry in
    its layer's `options` dict (`_regularizers` / `_constraints`)."""
    for path, sub, trainable in walk(layer):
        if not trainable:
            continue
        for key, option in getattr(sub, options).items():
            try:
                value = get_path(params, path + (key,))
            except (KeyError, TypeError):
                continue  # a non-trainable weight (in `state`)
            yield path + (key,), value, option


def regularization_losses(layer, params) -> List[Any]:
    """The penalties of the regularized weights that train (Keras counts the trainable weights
    only), computed from `params`: pure, so `jax.grad` sees them."""
    return [jnp.asarray(regularizer(value), jnp.float32)
            for _, value, regularizer in _trainable_options(layer, params, "_regularizers")]


def has_constraints(layer) -> bool:
    return any(sub._constraints for _, sub, _ in walk(layer))


def apply_constraints(layer, params):
    """`params` with each trainable weight's constraint applied (after an optimizer update)."""
    for path, value, constraint in list(_trainable_options(layer, params, "_constraints")):
        params = set_path(params, path, constraint(value))
    return params


def check_ready(layer) -> None:
    """Raises the error of the first layer under `layer` that cannot run yet (a preprocessing
    layer that needs `adapt`): each layer that can be unready says so in `_check_ready()`."""
    for _, sub, _ in walk(layer):
        ready = getattr(sub, "_check_ready", None)
        if ready is not None:
            ready()
