"""Orbax checkpoints: sharded pytrees, and models in Keras 3's `OrbaxCheckpoint` layout.

Two things live here, both written through orbax-checkpoint's v1 API (install it with
`pip install "kerasx[orbax]"`):

Sharded pytrees (`save_sharded` / `restore_sharded`). Every process of a multi-process JAX job
calls `save_sharded` with the same global arrays; each process writes only the shards it holds
(one copy of replicated data), so no array is ever gathered on one host. `restore_sharded`
reads each array straight into the sharding it is asked for, which may differ from the one
it was saved with (another mesh, another number of devices or processes):

    mesh = Mesh(np.array(jax.devices()).reshape(2, 4), ("data", "model"))
    kernel = jax.device_put(kernel, NamedSharding(mesh, P("data", "model")))
    save_sharded("/ckpt/step_100", {"kernel": kernel})
    # later, on 8 devices in one row, or on one device:
    restored = restore_sharded("/ckpt/step_100", {"kernel": NamedSharding(mesh8, P("x"))})

Models (`model_state_tree`, `load_weights`, `load_model`): the callback
`kerasx.callbacks.OrbaxCheckpoint` saves, as Keras 3's does, one numbered step folder per
save holding a `pytree` checkpointable shaped like Keras's `model.get_state_tree()`:

    {"trainable_variables":     {"seq": {"dense": {"kernel": ..., "bias": ...}}},
     "non_trainable_variables": {"seq": {"bn": {"moving_mean": ..., ...}}},
     "optimizer_variables":     {"adam": {"iteration": ..., "learning_rate": ...,
                                          "seq_dense_kernel_momentum": ..., ...}},
     "metrics_variables":       {"loss": {"total": ..., "count": ...}, ...}}

(keyed by Keras's variable paths: the names of the layers from the model down), and, unless
only weights are saved, a `model_config` checkpointable holding the model's JSON config.
A model and its Keras twin (same layer names) therefore read each other's checkpoints.
"""

import json
import os
import warnings

import jax
import numpy as np

from . import _files
from .._nested import get_path as _get
from .._nested import set_path as _set

__all__ = ["is_orbax_checkpoint", "latest_checkpoint", "load_model", "load_weights",
           "model_state_tree", "restore_sharded", "save_sharded"]

# The name under which optimizer states Keras has no variables for are kept (as a flat list).
_KERASX_OPT_STATE = "kerasx_opt_state"


def ocp():
    """orbax-checkpoint's v1 API, with an error that says how to install it."""
    try:
        import orbax.checkpoint as orbax_checkpoint
    except ImportError:
        raise ImportError(
            "Orbax checkpoints need the orbax-checkpoint package, which is not installed. "
            'Install it with `pip install "kerasx[orbax]"` (or `pip install orbax-checkpoint`).'
        ) from None
    return orbax_checkpoint.v1


def is_multiprocess() -> bool:
    """Whether this is one process of a multi-process JAX job (`jax.distributed.initialize`)."""
    return jax.process_count() > 1


def process_index() -> int:
    """This process's index in a multi-process JAX job (0 in a single process)."""
    return jax.process_index()


_barriers = [0]  # every process passes the same barriers in the same order: a shared count


def sync_processes(key: str) -> None:
    """A barrier across the processes of a multi-process job; a no-op in a single process."""
    if is_multiprocess():
        ocp()  # orbax must be installed
        from orbax.checkpoint import multihost

        _barriers[0] += 1
        multihost.sync_global_processes(f"{key}_{_barriers[0]}")


def as_global_arrays(tree):
    """In a multi-process job, the process-local arrays of `tree` (a replica each process holds,
    as a model trained without a distribution has) as global arrays replicated over one device
    per process, which orbax can save (process 0's copy is written); global arrays and
    everything in a single process are returned as they are."""
    if not is_multiprocess():
        return tree
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    first = {}
    for d in jax.devices():
        first.setdefault(d.process_index, d)
    mesh = Mesh(np.array([first[i] for i in sorted(first)]), ("processes",))
    replicated = NamedSharding(mesh, PartitionSpec())
    mine = first[jax.process_index()]

    def globalize(x):
        if not isinstance(x, jax.Array) or not x.is_fully_addressable:
            return x
        local = jax.device_put(x, mine)
        return jax.make_array_from_single_device_arrays(x.shape, replicated, [local])

    return jax.tree.map(globalize, tree)


# ---------------------------------------------------------------------------- sharded pytrees
def save_sharded(path, tree, *, overwrite: bool = False) -> None:
    """Saves a pytree of (possibly sharded) arrays to the checkpoint folder `path`.

    Each process writes only the shards its devices hold (replicated shards once), so arrays
    larger than one host's memory are saved without gathering. In a multi-process job every
    process must call it with the same tree (global arrays) and the same `path`, on a file
    system they share; it returns when the checkpoint is complete.

    Args:
        path: The checkpoint folder to create.
        tree: A pytree (nested dicts, lists, tuples) of `jax.Array`s (any sharding), NumPy
            arrays and Python scalars.
        overwrite: Replace an existing checkpoint at `path` (otherwise an existing `path` is
            an error).
    """
    path = os.fspath(path)
    for key_path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        if not isinstance(leaf, (jax.Array, np.ndarray, np.generic, int, float, bool)):
            where = f"'{_path_name(key_path)}'" if key_path else "the root"
            raise TypeError(f"save_sharded: the leaf at {where} is a {type(leaf).__name__}; "
                            "expected arrays (jax.Array, np.ndarray) or Python numbers.")
    exists = os.path.exists(path)
    sync_processes("kerasx_save_sharded_exists")  # all look before any process writes
    if exists and not overwrite:
        raise FileExistsError(f"save_sharded: '{path}' exists; pass overwrite=True to replace it.")
    ocp().save(path, tree, overwrite=overwrite)


def _saved_metadata(path, checkpointable_name="AUTO"):
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"No orbax checkpoint at '{path}' (no such folder).")
    try:
        return ocp().metadata(path, checkpointable_name=checkpointable_name).metadata
    except (FileNotFoundError, ValueError) as e:
        raise ValueError(f"'{path}' is not an orbax checkpoint (or not a complete one): "
                         f"{e}") from None


def _abstract_leaf(target, meta, where, path):
    """A `jax.ShapeDtypeStruct` with a sharding for one saved array, from what the caller asked
    for (a sharding, a ShapeDtypeStruct, an array) and what the checkpoint says."""
    shape = tuple(getattr(meta, "shape", ()))
    if not hasattr(meta, "shape"):  # a saved Python scalar: comes back as it was saved
        return meta
    dtype = getattr(meta, "dtype", None)
    if target is None:
        sharding = None
    elif isinstance(target, jax.sharding.Sharding):
        sharding = target
    elif isinstance(target, (jax.ShapeDtypeStruct, jax.Array)):
        if tuple(target.shape) != shape:
            raise ValueError(f"restore_sharded('{path}'): the array at {where} was saved with "
                             f"shape {shape}; the target asks for shape {tuple(target.shape)}.")
        sharding, dtype = getattr(target, "sharding", None), target.dtype
    else:
        raise TypeError(f"restore_sharded('{path}'): the target at {where} is a "
                        f"{type(target).__name__}; expected a jax.sharding.Sharding, a "
                        "jax.ShapeDtypeStruct, a jax.Array or None.")
    try:
        return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)
    except ValueError as e:
        raise ValueError(f"restore_sharded('{path}'): the sharding asked for the array at "
                         f"{where} (shape {shape}) does not fit it: {e}") from None


def _path_name(key_path) -> str:
    """A pytree key path as `"dense/kernel"`."""
    parts = []
    for k in key_path:
        for attr in ("key", "idx", "name"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return "/".join(parts)


def _key_set(tree):
    return {_path_name(p) for p, _ in jax.tree_util.tree_leaves_with_path(
        tree, is_leaf=lambda x: x is None)}


def restore_sharded(path, target=None):
    """Restores a pytree saved by `save_sharded`, each array straight into its target sharding.

    Every process reads only the pieces its own devices need; the sharding may differ from the
    one the array was saved with (another mesh shape, another number of devices or processes).
    In a multi-process job every process must call it with the same `target`.

    Args:
        path: The checkpoint folder.
        target: What to restore into, a pytree of the saved tree's structure whose leaves are
            `jax.sharding.Sharding`s (shape and dtype as saved), `jax.ShapeDtypeStruct`s with
            a `sharding` (the shape must be the saved one; the dtype converts), `jax.Array`s
            (their shape, dtype and sharding) or None (as saved); or one
            `jax.sharding.Sharding` for every array; or None: every array in the sharding it
            was saved with (which needs the same devices).

    Returns:
        The pytree, with `jax.Array` leaves placed as asked (saved Python scalars come back as
        Python scalars).
    """
    path = os.fspath(path)
    meta = _saved_metadata(path)
    if target is None or isinstance(target, jax.sharding.Sharding):
        abstract = jax.tree.map(lambda m: _abstract_leaf(target, m, "", path), meta)
    else:
        is_target_leaf = lambda x: x is None or isinstance(  # noqa: E731
            x, (jax.sharding.Sharding, jax.ShapeDtypeStruct, jax.Array))
        saved, wanted = _key_set(meta), _key_set(jax.tree.map(lambda x: 0, target,
                                                              is_leaf=is_target_leaf))
        if saved != wanted:
            missing, extra = sorted(saved - wanted), sorted(wanted - saved)
            raise ValueError(
                f"restore_sharded('{path}'): the target's structure differs from the saved "
                f"tree's. Saved but not in the target: {missing[:8] or 'none'}; in the target but "
                f"not saved: {extra[:8] or 'none'}.")
        flat_meta = dict((_path_name(p), m)
                         for p, m in jax.tree_util.tree_leaves_with_path(meta))
        abstract = jax.tree_util.tree_map_with_path(
            lambda p, t: _abstract_leaf(t, flat_meta[_path_name(p)], f"'{_path_name(p)}'",
                                        path),
            target, is_leaf=is_target_leaf)
    return ocp().load(path, abstract)


# ---------------------------------------------------------------------------- Keras's paths
def _segment(layer):
    """The path segment a layer adds to the paths of the weights under it (Keras's name
    scopes): a functional model builds its layers outside its own scope, so adds none."""
    from ..models._functional import Functional

    return None if isinstance(layer, Functional) else layer.name


def _weight_entries(model):
    """`(collection, tree path, Keras variable path, trainable)` for every weight of the model,
    in Keras order."""
    out = []

    def visit(layer, tree_path, names, trainable):
        trainable = trainable and layer.trainable
        seg = _segment(layer)
        names = names + ((seg,) if seg else ())
        for collection, key in layer.weight_names():
            out.append((collection, tree_path + (key,), "/".join(names + (key,)),
                        trainable and collection == "params"))
        for key, sub in layer._sublayer_items():
            visit(sub, tree_path + (key,), names, trainable)

    visit(model, (), (), True)
    seen = {}
    for _, tree_path, var_path, _ in out:
        if var_path in seen:
            raise ValueError(
                f"The variable path '{var_path}' is found twice in model '{model.name}' (weights "
                f"{'/'.join(seen[var_path])} and {'/'.join(tree_path)}); an orbax checkpoint "
                "keys weights by path, so give the layers unique names.")
        seen[var_path] = tree_path
    return out


def _nest(flat):
    """`{"a/b/c": v}` -> `{"a": {"b": {"c": v}}}`."""
    out = {}
    for path, value in flat.items():
        node = out
        parts = path.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


def _flatten(tree, prefix=""):
    """`{"a": {"b": v}}` -> `{"a/b": v}`."""
    out = {}
    for key, value in (tree or {}).items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out


# ---------------------------------------------------------------------------- optimizer state
def _optimizer_variables(model, entries, opt_state=None):
    """`{optimizer name: {variable name: array}}`, as Keras names its optimizer's variables."""
    trainer = model._trainer
    optimizer = trainer.optimizer
    name = getattr(optimizer, "name", None)
    name = name if isinstance(name, str) and name else "optimizer"  # an optax transformation
    opt_state = trainer._opt_state_now() if opt_state is None else opt_state
    if opt_state is None:
        return {}
    from . import _keras_format

    layout = _keras_format._slot_layout(optimizer)
    state = _keras_format._find_optimizer_state(opt_state) if layout is not None else None
    if state is None:  # kept as kerasx's own flat list, restored by structure
        leaves = jax.tree.leaves(opt_state)
        return {name: {_KERASX_OPT_STATE: {str(i): leaf for i, leaf in enumerate(leaves)}}}
    out = {"iteration": state.iterations}
    if optimizer._schedule is None:
        out["learning_rate"] = state.learning_rate
    for _, names in layout:
        for slot in names:
            for _, tree_path, var_path, trainable in entries:
                if trainable:
                    out[f"{var_path.replace('/', '_')}_{slot}"] = _get(state.slots[slot],
                                                                       tree_path)
    return {name: out}


class _OptimizerMismatch(ValueError):
    """The saved optimizer state does not fit the model's optimizer."""


def _restore_optimizer(model, entries, saved, where):
    """Puts saved optimizer variables into the compiled model's optimizer state; a state that
    does not fit raises `_OptimizerMismatch` (naming the variable) and changes nothing."""
    import jax.numpy as jnp

    from ..training.optimizers import OptimizerState
    from . import _keras_format

    trainer = model._trainer
    optimizer = trainer.optimizer
    opt_state = trainer._opt_state_now()
    if opt_state is None or not saved:
        return
    if len(saved) != 1:
        raise _OptimizerMismatch(
            f"{where}: its optimizer_variables hold {sorted(saved)}; expected one optimizer.")
    (saved_name, values), = saved.items()
    values = _flatten(values)
    layout = _keras_format._slot_layout(optimizer)
    state = _keras_format._find_optimizer_state(opt_state) if layout is not None else None
    if state is None:
        leaves, treedef = jax.tree.flatten(opt_state)
        keys = [f"{_KERASX_OPT_STATE}/{i}" for i in range(len(leaves))]
        if sorted(values) != sorted(keys):
            raise _OptimizerMismatch(
                f"{where}: the optimizer state saved for '{saved_name}' does not fit the state "
                f"of {type(optimizer).__name__} of model '{model.name}' ({len(values)} saved "
                f"entries, {len(leaves)} expected).")
        new = []
        for key, leaf in zip(keys, leaves):
            value = values[key]
            if tuple(np.shape(value)) != tuple(np.shape(leaf)):
                raise _OptimizerMismatch(
                    f"{where}: the optimizer state entry {key} has shape "
                    f"{tuple(np.shape(value))}; expected {tuple(np.shape(leaf))}.")
            new.append(jnp.asarray(value, leaf.dtype))
        trainer.opt_state = jax.tree.unflatten(treedef, new)
        return
    expected, = _optimizer_variables(model, entries, opt_state).values()
    missing = sorted(set(expected) - set(values))
    if missing:
        raise _OptimizerMismatch(
            f"{where}: the optimizer variables lack {missing[:6]} (saved: {sorted(values)[:6]}"
            "...); the checkpoint was written for another model or optimizer.")
    for key, old in expected.items():
        if tuple(np.shape(values[key])) != tuple(np.shape(old)):
            raise _OptimizerMismatch(
                f"{where}: the optimizer variable '{key}' has shape "
                f"{tuple(np.shape(values[key]))}; expected {tuple(np.shape(old))}.")
    iterations = jnp.asarray(values["iteration"], state.iterations.dtype).reshape(())
    learning_rate = (jnp.asarray(values["learning_rate"], jnp.float32).reshape(())
                     if "learning_rate" in expected else optimizer._lr_at(iterations))
    slots = dict(state.slots)
    for _, names in layout:
        for slot in names:
            for _, tree_path, var_path, trainable in entries:
                if trainable:
                    old = _get(slots[slot], tree_path)
                    value = values[f"{var_path.replace('/', '_')}_{slot}"]
                    slots[slot] = _set(slots[slot], tree_path, jnp.asarray(value, old.dtype))
    new_state = state._replace(iterations=iterations, learning_rate=learning_rate, slots=slots)
    trainer.opt_state = jax.tree.map(
        lambda n: new_state if isinstance(n, OptimizerState) else n, opt_state,
        is_leaf=lambda x: isinstance(x, OptimizerState))


# ---------------------------------------------------------------------------- metrics state
def _metrics_variables(model, metrics_state):
    """The compiled loss and metrics' accumulators, named as Keras's `metrics_variables`."""
    trainer = model._trainer
    if metrics_state is None or trainer is None:
        return {}
    if not (isinstance(metrics_state, dict) and "losses" in metrics_state):
        return {"metrics": {str(i): v for i, v in enumerate(jax.tree.leaves(metrics_state))}}
    out = {}
    for name, (total, count) in zip(trainer.loss_names, metrics_state["losses"]):
        out[name] = {"total": total, "count": count}
    for (_, name, _, _), state in zip(trainer.metrics, metrics_state["metrics"]):
        leaves = jax.tree_util.tree_leaves_with_path(state)
        out[name] = {_path_name(p).replace("/", "_") or "value": leaf for p, leaf in leaves}
    return out


# ---------------------------------------------------------------------------- models
def model_state_tree(model, opt_state=None, metrics_state=None, weights_only=False):
    """The model's state as Keras's `model.get_state_tree()` lays it out.

    Args:
        model: A built kerasx model.
        opt_state: The optimizer state to write (during `fit`, the running one); by default
            the compiled model's current one.
        metrics_state: The compiled metrics' accumulators (during `fit`), or None.
        weights_only: Only the weights (`trainable_variables`, `non_trainable_variables`).

    Returns:
        `{"trainable_variables": ..., "non_trainable_variables": ..., "optimizer_variables":
        ..., "metrics_variables": ...}`, nested dicts keyed by Keras's variable paths.
    """
    model._ensure_built()
    trees = dict(zip(("params", "state"), model._trees()))
    entries = _weight_entries(model)
    trainable, non_trainable = {}, {}
    for collection, tree_path, var_path, is_trainable in entries:
        (trainable if is_trainable else non_trainable)[var_path] = _get(trees[collection],
                                                                        tree_path)
    out = {"trainable_variables": _nest(trainable),
           "non_trainable_variables": _nest(non_trainable)}
    if weights_only:
        return out
    compiled = model._trainer is not None
    out["optimizer_variables"] = _optimizer_variables(model, entries, opt_state) if compiled else {}
    out["metrics_variables"] = _metrics_variables(model, metrics_state) if compiled else {}
    return out


def model_config_json(model) -> str:
    """The model's config (with its compile() arguments) as Keras's JSON, which Keras's
    `load_model` rebuilds (for the layers both have)."""
    from .. import saving
    from . import _keras_format

    config = _keras_format.to_keras_config(saving.serialize(model))
    compile_config = _keras_format._keras_compile_config(model)
    if compile_config is not None:
        config["compile_config"] = compile_config
    return json.dumps(config, default=_keras_format._json_default)


def is_orbax_checkpoint(path) -> bool:
    """Whether `path` is an orbax checkpoint folder (one step) or a folder of numbered steps."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return False
    try:
        contents = os.listdir(path)
    except OSError:
        return False
    if {"orbax.checkpoint", "_CHECKPOINT_METADATA", "pytree"} & set(contents):
        return True
    return any(name.isdigit() and os.path.isdir(os.path.join(path, name)) for name in contents)


def latest_checkpoint(directory):
    """The folder of the latest complete step in an `OrbaxCheckpoint` directory."""
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"No orbax checkpoint directory at '{directory}'.")
    steps = [int(n) for n in os.listdir(directory)
             if n.isdigit() and os.path.isdir(os.path.join(directory, n))
             and os.path.exists(os.path.join(directory, n, "_CHECKPOINT_METADATA"))]
    if not steps:
        raise ValueError(f"No complete checkpoints found in '{directory}' (no numbered step "
                         "folders).")
    return os.path.join(directory, str(max(steps)))


def _step_path(path):
    path = os.fspath(path)
    if not is_orbax_checkpoint(path):
        raise ValueError(f"'{path}' is not an orbax checkpoint folder (one written by "
                         "`kerasx.callbacks.OrbaxCheckpoint` or Keras's, or one of its step "
                         "folders).")
    contents = os.listdir(path)
    if "pytree" in contents or "_CHECKPOINT_METADATA" in contents and not any(
            n.isdigit() for n in contents):
        return path
    return latest_checkpoint(path)


def _default_sharding(reference):
    """Where arrays the model has no counterpart for (metric accumulators) go: replicated over
    the mesh of the model's first array (or its one device)."""
    for leaf in jax.tree.leaves(reference):
        sharding = getattr(leaf, "sharding", None)
        if isinstance(sharding, jax.sharding.NamedSharding):
            return jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec())
        if isinstance(sharding, jax.sharding.SingleDeviceSharding):
            return sharding
        return None
    return None


def _abstract_state(step_path, reference):
    """The saved `pytree` as an abstract tree; arrays that the model holds (weights, optimizer
    state) go straight into the sharding of the model's array at the same path."""
    meta = _saved_metadata(step_path, checkpointable_name="pytree")
    ref = _flatten({k: v for k, v in reference.items() if isinstance(v, dict)})
    default = _default_sharding(reference)

    def abstract(m, key):
        if isinstance(m, dict):  # kept even when empty: the structure must match the saved one
            return {k: abstract(v, f"{key}{k}" if not key else f"{key}/{k}") for k, v in m.items()}
        if not hasattr(m, "shape"):
            return m
        r = ref.get(key)
        sharding = default
        if isinstance(r, jax.Array) and tuple(r.shape) == tuple(m.shape):
            sharding = r.sharding  # else: reported as a shape error after loading
        return jax.ShapeDtypeStruct(tuple(m.shape), m.dtype, sharding=sharding)

    return abstract(meta, "")


def _assign_weights(model, loaded, where):
    """Puts the loaded trainable/non-trainable variables into the model: all or nothing."""
    entries = _weight_entries(model)
    params, state = model._trees()
    trees = {"params": params, "state": state}
    saved = {**_flatten(loaded.get("trainable_variables")),
             **_flatten(loaded.get("non_trainable_variables"))}
    new = {"params": params, "state": state}
    for collection, tree_path, var_path, _ in entries:
        if var_path not in saved:
            raise ValueError(f"{where} has no weight '{var_path}' of model '{model.name}' "
                             f"(it holds {sorted(saved)[:6]}...): it was written for another "
                             "model, or the layers are named differently.")
        old = _get(trees[collection], tree_path)
        value = saved[var_path]
        if tuple(np.shape(value)) != tuple(np.shape(old)):
            raise ValueError(f"{where}: the weight '{var_path}' has shape "
                             f"{tuple(np.shape(value))}; model '{model.name}' expects "
                             f"{tuple(np.shape(old))}.")
        if not isinstance(value, jax.Array) or value.dtype != old.dtype:
            value = jax.numpy.asarray(value, old.dtype)
        new[collection] = _set(new[collection], tree_path, value)
    # Keras's random layers keep their seed in a variable; kerasx keeps keys out of the weights
    extra = sorted(k for k in set(saved) - {e[2] for e in entries}
                   if not k.endswith("seed_generator_state"))
    if extra:
        raise ValueError(f"{where} holds weights model '{model.name}' does not have: "
                         f"{extra[:6]}; it was written for another model.")
    model._set_trees(new["params"], new["state"])
    return entries


def load_weights(model, path) -> None:
    """Loads an orbax checkpoint into a model: its weights, and, for a compiled model whose
    checkpoint holds them, the optimizer state (as Keras's `model.load_weights`). Weights that
    do not fit are an error and change nothing; an optimizer state that does not fit the
    model's optimizer is skipped with a warning.

    Each array is read straight into the sharding of the model's array it replaces.

    Args:
        model: A kerasx model (built, or buildable from its inputs).
        path: An `OrbaxCheckpoint` directory (its latest step is read) or one step folder.
    """
    step = _step_path(path)
    where = f"Orbax checkpoint '{step}'"
    model._ensure_built()
    reference = model_state_tree(model, weights_only=model._trainer is None)
    abstract = _abstract_state(step, reference)
    loaded = ocp().load_checkpointables(step, {"pytree": abstract})["pytree"]
    entries = _assign_weights(model, loaded, where)
    if model._trainer is not None and loaded.get("optimizer_variables"):
        try:
            _restore_optimizer(model, entries, loaded["optimizer_variables"], where)
        except _OptimizerMismatch as e:  # as Keras: the weights load, the optimizer starts afresh
            warnings.warn(f"{e} The optimizer state is not loaded; the optimizer starts afresh.",
                          stacklevel=2)


def load_model(path, custom_objects=None, compile: bool = True):
    """Rebuilds a model from an orbax checkpoint saved with its config (an `OrbaxCheckpoint`
    with `save_weights_only=False`, by kerasx or Keras): architecture, weights, and when
    `compile` its compile() arguments and optimizer state (Keras's `load_model`)."""
    from .. import saving
    from ..models._model import Model
    from . import _keras_format

    step = _step_path(path)
    where = f"Orbax checkpoint '{step}'"
    saved = set(ocp().checkpointables_metadata(step).metadata)
    if "model_config" not in saved:
        raise ValueError(f"{where} holds no model configuration (it was saved with "
                         "save_weights_only=True); build the model and call `load_weights`.")
    raw = ocp().load_checkpointables(step, {"model_config": None})["model_config"]["config"]
    config = json.loads(raw)
    model = saving.deserialize({k: v for k, v in config.items() if k != "compile_config"},
                               custom_objects=custom_objects)
    if not isinstance(model, Model):
        raise ValueError(f"{where} describes a {type(model).__name__}, not a model.")
    build = config.get("build_config") or {}
    if not model.built and model._input_spec_shapes() is None and build.get("input_shape"):
        model.build(tuple(build["input_shape"]))
    compile_config = config.get("compile_config") if compile else None
    if compile_config:
        model.compile(**_keras_format._keras_compile_args(compile_config))
    load_weights(model, step)
    return model

