"""Keras 3's own file formats: `.keras` model archives and `.weights.h5` weight files.

A `.weights.h5` file is an HDF5 file laid out as Keras 3's `saving_lib` writes it: one group
per saveable object, named by the path Keras walks to reach it, each holding a `vars` group
(attribute `name`: the object's name) of datasets `"0"`, `"1"`, ... in Keras weight order:

    vars                                  the model itself (no weights of its own)
    layers/dense/vars/0, .../1            the model's first Dense layer: kernel, bias
    layers/dense_1/vars/...               its second Dense layer
    layers/sequential/layers/conv2d/...   a layer of a nested Sequential model
    optimizer/vars/0, 1, 2, ...           iterations, learning rate, then the slots

A layer's path segment is the snake-case of its class name, made unique within its container
(`dense`, `dense_1`, ...) in the order of Keras's `model.layers`: the order of `add` for a
Sequential model, Keras's graph order (by depth from the inputs, then first use) for a
functional one, which is computed here from the kerasx graph, so that a model and its Keras
twin address every weight by the same path.

Layers that hold sublayers, and subclassed layers and models, follow Keras's walk over object
attributes (`saving_lib._walk_saveable`): a sublayer held by an attribute is named by it, in a
list or dict by its class (as above), each object written once, where the walk first meets it:

    layers/lstm/cell/vars/0, 1, 2                       LSTM: its cell's kernel, ...
    layers/rnn/cell/cells/gru_cell/vars/...             RNN of a list of cells (StackedRNNCells)
    layers/bidirectional/forward_layer/cell/vars/...    Bidirectional (and backward_layer)
    layers/time_distributed/layer/vars/...              TimeDistributed, SpectralNormalization
    layers/multi_head_attention/query_dense/vars/...    MultiHeadAttention (GroupQueryAttention:
                                                        `_query_dense`, ..., `_output_dense`)
    block/proj/vars/..., block/stack/dense_1/vars/...   a subclassed model's `self.block`, its
                                                        `self.proj` and `self.stack = [...]`

A `.keras` file is a zip archive (stored, not compressed) of `config.json` (the model config
with its `compile_config`), `metadata.json` and `model.weights.h5` (the layout above).

Every write is atomic (`_files.write_atomic`: a temporary file, then a rename); every load
checks the whole file against the model before any weight changes. Reading and writing HDF5
needs h5py (`pip install "kerasx[keras-format]"`).
"""

import datetime
import io
import json
import os
import re
import warnings
import zipfile

import jax
import numpy as np

from . import _files
from .._nested import get_path as _get
from .._nested import set_path as _set
from ..distribution._placement import host_array

_CONFIG = "config.json"
_METADATA = "metadata.json"
_WEIGHTS = "model.weights.h5"
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# The version of the Keras file format this module writes (Keras checks none when loading).
_KERAS_VERSION = "3.15.1"


def _h5py():
    try:
        import h5py
    except ImportError:
        raise ImportError(
            "Reading and writing Keras files (`.keras`, `.weights.h5`) needs h5py, which is not "
            'installed. Install it with `pip install "kerasx[keras-format]"` (or `pip install '
            "h5py`).") from None
    return h5py


def is_keras_model_path(filepath) -> bool:
    return isinstance(filepath, (str, os.PathLike)) and os.fspath(filepath).endswith(".keras")


def is_keras_weights_path(filepath) -> bool:
    return isinstance(filepath, (str, os.PathLike)) and os.fspath(filepath).endswith(".weights.h5")


def is_kerasx_file(filepath) -> bool:
    """Whether the file at `filepath` is kerasx's own safetensors format despite a Keras suffix
    (kerasx wrote every suffix in its own format before it wrote Keras's): neither a zip
    archive nor HDF5, and starting like safetensors (an 8-byte header length, then `{`)."""
    try:
        with open(filepath, "rb") as f:
            head = f.read(9)
    except OSError:
        return False
    return len(head) == 9 and not head.startswith((b"PK", _HDF5_SIGNATURE[:4])) and \
        head[8:9] == b"{" and int.from_bytes(head[:8], "little") < 2 ** 32


# ---------------------------------------------------------------------------- the layout
def snake_case(name: str) -> str:
    """Keras's `to_snake_case`: `"Conv2D"` -> `"conv2d"`, `"BatchNormalization"` ->
    `"batch_normalization"`, `"PReLU"` -> `"p_re_lu"`."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _keras_graph_order(model):
    """The layers of a kerasx functional model in the order of Keras's `model.layers` for the
    same graph (Keras's `map_graph`): by decreasing depth (distance to the outputs), layers of
    equal depth in the order a depth-first walk from the outputs first meets them."""
    from ..models._functional import _leaves

    finished, in_progress, postorder, first_seen = set(), set(), [], {}
    layer_of = {}

    def visit(tensor):
        node = tensor.node
        if node is None or id(node) in finished:
            return
        if id(node) in in_progress:
            raise ValueError(f"Model '{model.name}': its graph has a cycle.")
        layer_of[id(node.layer)] = node.layer
        first_seen.setdefault(id(node.layer), len(first_seen))
        in_progress.add(id(node))
        for t in node.input_tensors:
            visit(t)
        in_progress.discard(id(node))
        finished.add(id(node))
        postorder.append(node)

    for t in _leaves(model._outputs):
        visit(t)
    node_depth, layer_depth = {}, {}
    for node in reversed(postorder):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = depth
        node_depth[id(node)] = depth
        for t in node.input_tensors:
            if t.node is not None and id(t.node) in finished:
                node_depth[id(t.node)] = max(depth + 1, node_depth.get(id(t.node), 0))
    for t in _leaves(model._inputs):  # inputs that no output uses
        if id(t.node.layer) not in layer_depth:
            layer_of[id(t.node.layer)] = t.node.layer
            layer_depth[id(t.node.layer)] = 0
            first_seen[id(t.node.layer)] = -1
    order = sorted(layer_depth, key=lambda i: (-layer_depth[i], first_seen[i]))
    return [layer_of[i] for i in order]


def _keras_layer_items(model):
    """`(kerasx key, layer)` pairs of a Sequential or functional model's layers in the order of
    Keras's `model.layers`."""
    from ..models._functional import Functional
    from ..models._sequential import Sequential

    items = model._sublayer_items()
    if isinstance(model, Sequential):
        return items
    if isinstance(model, Functional):
        key_of = {id(layer): key for key, layer in items}
        ordered = _keras_graph_order(model)
        if sorted(map(id, ordered)) != sorted(key_of):
            raise ValueError(f"Model '{model.name}': its layers do not match its graph; cannot "
                             "lay it out as Keras does.")
        return [(key_of[id(layer)], layer) for layer in ordered]
    return items


# The class names Keras's own classes have where kerasx's differ (a path segment is the
# snake-case of the class name inside lists, and at the top of Sequential/functional models).
_KERAS_CLASS_NAMES = {"GroupQueryAttention": "GroupedQueryAttention"}
# Keras's attribute names for sublayers that kerasx holds under other names, per kerasx
# class: Keras's MultiHeadAttention is walked through its public properties (`query_dense`:
# the walk visits public names first and every object once), and both attention layers keep
# their output projection as `_output_dense`.
_KERAS_ATTRIBUTES = {
    "MultiHeadAttention": {"_query_dense": "query_dense", "_key_dense": "key_dense",
                           "_value_dense": "value_dense",
                           "_attention_output_dense": "output_dense"},
    "GroupQueryAttention": {"_attention_output_dense": "_output_dense"}}


def _keras_class_name(layer) -> str:
    from .. import layers as kerasx_layers

    name = type(layer).__name__
    if getattr(kerasx_layers, name, None) is type(layer):
        return _KERAS_CLASS_NAMES.get(name, name)
    return name


def _name_key(name: str) -> str:
    """Keras's walk order of attribute names: public names (sorted), then private ones."""
    return f"~{name}" if name.startswith("_") else name


def _keras_children(layer):
    """`(attribute name, value)` pairs through which Keras's saving walk (`_walk_saveable`)
    reaches the sublayers of `layer`, in its order: a Sequential or functional model's
    `layers` (in Keras's order); for any other layer, the attributes that hold layers or
    containers of layers (public names first, each sorted), and for a subclassed model also
    its `layers` property, in its place among the public names."""
    from ..models._functional import Functional
    from ..models._model import Model
    from ..models._sequential import Sequential

    if isinstance(layer, (Sequential, Functional)):
        return [("layers", [sub for _, sub in _keras_layer_items(layer)])]
    attrs = dict(layer.__dict__.get("_tracked", {}))
    renames = {}
    for cls in type(layer).__mro__:
        if cls.__module__.startswith("kerasx."):
            renames = _KERAS_ATTRIBUTES.get(cls.__name__, {})
            break
    attrs = {renames.get(k, k): v for k, v in attrs.items()}
    if isinstance(layer, Model) and "layers" not in attrs:
        attrs["layers"] = [sub for _, sub in layer._sublayer_items()]
    return sorted(attrs.items(), key=lambda item: _name_key(item[0]))


def _own_entries(layer, tree_path):
    """`[(collection, tree path)]` of the variables Keras saves as the layer's own (its
    `vars` group), in Keras's order. A SpectralNormalization also tracks its wrapped layer's
    kernel as its own: `[kernel, vector_u]`."""
    from ..layers._normalization import SpectralNormalization

    own = [(c, tree_path + (k,)) for c, k in layer.weight_names()]
    if isinstance(layer, SpectralNormalization):
        key = layer._key()
        names = [k for c, k in layer.layer.weight_names() if c == "params"]
        kernel = next((k for k in ("kernel", "embeddings") if k in names), None)
        if kernel is not None:
            own = [("params", tree_path + (key, kernel))] + own
    return own


def keras_layout(model):
    """`[(h5 path, layer, [(collection, tree path)])]` for the model and every layer in it, in
    the order of Keras's saving walk: the H5 group of each (`<h5 path>/vars`) and where the
    variables that group holds sit in the model's params/state pytrees.

    It follows Keras's `saving_lib._walk_saveable`: a layer reached through an attribute is
    named by the attribute (`cell`, `forward_layer`, `layer`, `query_dense`, ...; a
    subclassed layer's `self.dense` is `dense`); a layer in a list, tuple or dict (a model's
    `layers`, `StackedRNNCells.cells`, a list attribute of a subclassed layer) by the
    snake-case of its class name made unique in that container (`dense`, `dense_1`), a nested
    container as `container`; each layer once, where the walk first meets it. A layer with
    weights that the walk cannot reach (held by no attribute) is a NotImplementedError."""
    from ..layers import _tree
    from ..layers._base import Layer

    out, visited = [], set()

    def join(path, name):
        return f"{path}/{name}" if path else name

    def visit(layer, h5_path, tree_path):
        if id(layer) in visited:
            return
        visited.add(id(layer))
        out.append((h5_path, layer, _own_entries(layer, tree_path)))
        key_of = {id(sub): key for key, sub in layer._sublayer_items()}
        for attr, value in _keras_children(layer):
            visit_value(value, join(h5_path, attr), key_of, tree_path, set())

    def visit_value(value, h5_path, key_of, tree_path, containers):
        if isinstance(value, Layer):
            if id(value) in key_of:
                visit(value, h5_path, tree_path + (key_of[id(value)],))
            return
        if not isinstance(value, (list, tuple, dict)) or id(value) in containers:
            return
        containers.add(id(value))
        used = {}
        for item in (value.values() if isinstance(value, dict) else value):
            if isinstance(item, Layer):
                name = snake_case(_keras_class_name(item))
            elif isinstance(item, (list, tuple, dict)):
                name = "container"
            else:
                continue
            if name in used:
                used[name] += 1
                name = f"{name}_{used[name]}"
            else:
                used[name] = 0
            visit_value(item, join(h5_path, name), key_of, tree_path, containers)

    visit(model, "", ())
    for path, layer, _ in _tree.walk(model):
        if id(layer) not in visited and _tree.weight_paths(layer):
            raise NotImplementedError(
                f"Layer '{'/'.join((model.name,) + path)}' ({type(layer).__name__}) holds "
                "weights that Keras's file layout has no place for: it is not an attribute of "
                "the layer that holds it, nor in a list or dict attribute. Save the model in "
                "kerasx's own format (`.kerasx`, `.weights.safetensors`) instead.")
    return out


def _group(h5_path: str) -> str:
    return f"{h5_path}/vars" if h5_path else "vars"


def _weight_arrays(model):
    """`[(h5 path, layer name, [arrays])]` for the model, in Keras's layout."""
    trees = dict(zip(("params", "state"), model._trees()))
    return [(h5_path, layer.name, [host_array(_get(trees[c], p)) for c, p in entries])
            for h5_path, layer, entries in keras_layout(model)]


# ---------------------------------------------------------------------------- writing HDF5
def _set_dataset(group, key, value):
    value = np.asarray(value)
    if value.dtype.name == "bfloat16":  # as Keras: the array as is, its dtype in an attribute
        group.create_dataset(key, data=value).attrs["dtype"] = "bfloat16"
    else:
        group[key] = value


def _h5_bytes(model, optimizer_vars=None) -> bytes:
    """The bytes of an HDF5 file holding the model's weights (and optimizer variables) in
    Keras's layout."""
    h5py = _h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        for h5_path, name, arrays in _weight_arrays(model):
            group = f.create_group(_group(h5_path))
            group.attrs["name"] = name
            for i, a in enumerate(arrays):
                _set_dataset(group, str(i), a)
        if optimizer_vars is not None:
            name, arrays = optimizer_vars
            group = f.create_group("optimizer/vars")
            group.attrs["name"] = name
            for i, a in enumerate(arrays):
                _set_dataset(group, str(i), a)
    return buffer.getvalue()


def save_weights(model, filepath, overwrite: bool = True) -> None:
    """Writes the model's weights to a Keras `.weights.h5` file (atomically), which Keras 3's
    `model.load_weights` reads."""
    filepath = os.fspath(filepath)
    if not is_keras_weights_path(filepath):
        raise ValueError("The filename must end in `.weights.h5` to be written in Keras's "
                         f"format. Received: filepath={filepath}")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"'{filepath}' exists; pass overwrite=True to replace it.")
    _h5py()
    if not model.built and model._input_spec_shapes() is None:
        raise ValueError(f"Model '{model.name}' has no weights yet to save. Build it first: "
                         "give it an `Input`, call `model.build(input_shape)`, or call it on data.")
    model._ensure_built()
    _files.write_atomic(filepath, _h5_bytes(model))


# ---------------------------------------------------------------------------- reading HDF5
def _check_file(filepath: str, what: str) -> None:
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No file at '{filepath}'.")
    if os.path.isdir(filepath):
        raise ValueError(f"'{filepath}' is a directory: expected {what}.")
    if os.path.getsize(filepath) == 0:
        raise ValueError(f"'{filepath}' is empty (0 bytes): expected {what}. Was it created by "
                         "a save or a copy that did not finish?")


def _read_h5(source, filepath: str):
    """`{h5 path of a vars group: (name attribute, {dataset key: array})}` for every `vars`
    group of the HDF5 file `source` (a path or a file object); every dataset is read here, so
    a truncated or corrupt file fails before anything is used. Errors name `filepath`."""
    h5py = _h5py()
    groups = {}
    try:
        with h5py.File(source, "r") as f:
            def visit(name, obj):
                if isinstance(obj, h5py.Group) and (name == "vars" or name.endswith("/vars")):
                    values = {}
                    for key, ds in obj.items():
                        if not isinstance(ds, h5py.Dataset):
                            continue
                        value = ds[()]
                        if ds.attrs.get("dtype") == "bfloat16":
                            import ml_dtypes
                            value = np.asarray(value).view(ml_dtypes.bfloat16) \
                                if np.asarray(value).dtype.itemsize == 2 else \
                                np.asarray(value, ml_dtypes.bfloat16)
                        values[key] = np.asarray(value)
                    name_attr = obj.attrs.get("name")
                    if isinstance(name_attr, bytes):
                        name_attr = name_attr.decode("utf-8", "replace")
                    groups[name[:-len("vars")].rstrip("/")] = (name_attr, values)
            f.visititems(visit)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as e:
        raise ValueError(f"Could not read '{filepath}': it is not a complete HDF5 weights file "
                         f"(corrupt or truncated?). h5py said: {e}") from None
    return groups


def _template(model):
    """The model's `(params, state)` as trees of arrays or shape structs (allocating nothing
    for a model that is not built yet)."""
    if model.built:
        return model._trees()
    from ..models._model import _spec_from_shapes

    spec = _spec_from_shapes(model._input_spec_shapes(), model._input_dtypes())
    return jax.eval_shape(lambda key: model.init(key, spec), jax.random.key(0))


def _flat_weights(model, groups, filepath: str):
    """The file's weights as `{"params/<kerasx path>": array, "state/...": ...}` (the keys of
    `_files.flatten_tree`), after checking that every layer's group holds as many weights as
    the layer has, each of the shape the layer needs, and that the file holds no weights the
    model lacks. Errors name the file, the layer and the H5 path."""
    tensors, used = {}, set()
    trees = dict(zip(("params", "state"), _template(model)))
    for h5_path, layer, entries in keras_layout(model):
        _, values = groups.get(h5_path, (None, {}))
        used.add(h5_path)
        where = f"'{_group(h5_path)}'"
        if len(values) != len(entries) or any(str(i) not in values for i in range(len(entries))):
            raise ValueError(
                f"'{filepath}': layer '{layer.name}' ({type(layer).__name__}) has "
                f"{len(entries)} weights, but the file's group {where} holds {len(values)} "
                f"({', '.join(sorted(values)) or 'none'}). It was saved from a model of another "
                "architecture.")
        for i, (c, p) in enumerate(entries):
            value = values[str(i)]
            expected = tuple(_get(trees[c], p).shape)
            if tuple(np.shape(value)) != expected:
                raise ValueError(
                    f"'{filepath}': layer '{layer.name}' ({type(layer).__name__}) expects its "
                    f"weight '{p[-1]}' with shape {expected}, but the file's "
                    f"'{_group(h5_path)}/{i}' has shape {tuple(np.shape(value))}. It was saved "
                    "from a model of another architecture.")
            tensors[f"{c}/" + "/".join(p)] = value
    # layer state that Keras does not save (a stateful RNN's carried states): kept as it is,
    # zeros in a model built from the file
    for path, leaf in jax.tree_util.tree_flatten_with_path(trees["state"])[0]:
        key = f"state/{_files._path_str(path)}"
        if key not in tensors:
            tensors[key] = np.asarray(leaf) if model.built else np.zeros(leaf.shape, leaf.dtype)
    extra = sorted(p for p, (_, values) in groups.items()
                   if p not in used and values and p.split("/")[0] != "optimizer")
    if extra:
        raise ValueError(f"'{filepath}' holds weights this model does not have, in the groups "
                         f"{[_group(p) for p in extra[:5]]}. It was saved from a model of "
                         "another architecture.")
    return tensors


def _load_groups(model, groups, filepath: str) -> None:
    """Puts the weights of `groups` into `model`, all or nothing (shapes checked first)."""
    if not model.built and model._input_spec_shapes() is None:
        raise ValueError(f"Model '{model.name}' has no weights yet to load into. Build it first: "
                         "give it an `Input`, call `model.build(input_shape)`, or call it on "
                         "data.")
    _files._load_into(model, _flat_weights(model, groups, filepath), filepath)


def load_weights(model, filepath) -> None:
    """Loads a Keras `.weights.h5` file (as Keras 3's `save_weights` writes), or the weights of a
    `.keras` archive, into the model; all or nothing: a file of another architecture, with other
    shapes, truncated or corrupt raises a ValueError naming the file, and the model's weights
    stay as they were."""
    filepath = os.fspath(filepath)
    if is_keras_model_path(filepath):
        _check_file(filepath, "a Keras `.keras` archive")
        with _open_archive(filepath) as archive:
            groups = _read_h5(io.BytesIO(_member(archive, _WEIGHTS, filepath)), filepath)
    else:
        _check_file(filepath, "a Keras `.weights.h5` file")
        _check_hdf5(filepath)
        groups = _read_h5(filepath, filepath)
    _load_groups(model, groups, filepath)


def _check_hdf5(filepath: str) -> None:
    with open(filepath, "rb") as f:
        head = f.read(8)
    if head != _HDF5_SIGNATURE:
        foreign = _files._foreign_format(filepath)
        if head.startswith(b"PK"):
            foreign = "is a zip archive (a `.keras` model? load it with `load_model`)"
        raise ValueError(f"'{filepath}' is not an HDF5 file" + (f": it {foreign}" if foreign
                                                                   else " (corrupt?)")
                         + ". Expected a Keras `.weights.h5` file.")


# ---------------------------------------------------------------------------- configs
_KERAS_MODULES = {"kerasx.layers": "keras.layers", "kerasx.initializers": "keras.initializers",
                  "kerasx.regularizers": "keras.regularizers",
                  "kerasx.constraints": "keras.constraints",
                  "kerasx.optimizers": "keras.optimizers",
                  "kerasx.optimizers.schedules": "keras.optimizers.schedules",
                  "kerasx.activations": "keras.activations", "kerasx.losses": "keras.losses",
                  "kerasx.metrics": "keras.metrics"}
_KERAS_MODEL_MODULES = {"Functional": "keras.src.models.functional", "Sequential": "keras",
                        "Model": "keras"}


def to_keras_config(config):
    """A kerasx config with Keras's module names, so that Keras 3 finds its own classes."""
    if isinstance(config, list):
        return [to_keras_config(v) for v in config]
    if not isinstance(config, dict):
        return config
    out = {k: to_keras_config(v) for k, v in config.items()}
    module = out.get("module")
    if isinstance(module, str) and module.startswith("kerasx"):
        if module == "kerasx.models":
            out["module"] = _KERAS_MODEL_MODULES.get(out.get("class_name"), "keras.models")
        elif module in _KERAS_MODULES:
            out["module"] = _KERAS_MODULES[module]
    return out


class _NotForKeras(Exception):
    pass


def _keras_spec(spec, serialize):
    """A compile() loss/metric argument as Keras's compile_config holds it (names as they are,
    objects serialized); `_NotForKeras` for an object Keras could not rebuild."""
    if spec is None or isinstance(spec, (str, int, float, bool)):
        return spec
    if isinstance(spec, (list, tuple)):
        return [_keras_spec(s, serialize) for s in spec]
    if isinstance(spec, dict):
        return {str(k): _keras_spec(v, serialize) for k, v in spec.items()}
    try:
        out = to_keras_config(serialize(spec))
    except Exception as e:
        raise _NotForKeras(f"{spec!r}: {e}") from None
    module = out.get("module") if isinstance(out, dict) else None
    if not (isinstance(module, str) and (module == "builtins" or module.startswith("keras."))):
        raise _NotForKeras(f"{spec!r} (not one of Keras's built-in losses and metrics)")
    return out


def _keras_compile_config(model):
    """The model's compile() arguments as Keras's `compile_config`; None when the model is not
    compiled, or (with a warning) when Keras could not rebuild one of them."""
    trainer = model._trainer
    if trainer is None:
        return None
    from ..training import losses, metrics, optimizers

    try:
        optimizer = trainer.optimizer
        if not (isinstance(optimizer, optimizers.Optimizer) and
                getattr(optimizers, type(optimizer).__name__, None) is type(optimizer)):
            raise _NotForKeras(f"the optimizer {optimizer!r} (not a kerasx built-in optimizer)")
        try:
            optimizer_config = to_keras_config(optimizers.serialize(optimizer))
        except Exception as e:
            raise _NotForKeras(f"the optimizer {optimizer!r}: {e}") from None
        args = trainer.compile_args
        steps = args.get("steps_per_execution", 1)
        return {"optimizer": optimizer_config,
                "loss": _keras_spec(args.get("loss"), losses.serialize),
                "loss_weights": _keras_spec(args.get("loss_weights"), losses.serialize),
                "metrics": _keras_spec(args.get("metrics"), metrics.serialize),
                "weighted_metrics": _keras_spec(args.get("weighted_metrics"), metrics.serialize),
                "run_eagerly": bool(trainer.run_eagerly),
                "steps_per_execution": steps if isinstance(steps, int) else 1,
                "jit_compile": not trainer.run_eagerly}
    except _NotForKeras as e:
        warnings.warn(f"Model '{model.name}' is saved without its compile() arguments: {e} "
                      "cannot be described in Keras's format. Compile the loaded model again.",
                      stacklevel=4)
        return None


# ---------------------------------------------------------------------------- optimizer state
# Keras's optimizer variables after `iterations` and `learning_rate` (the latter only for a
# float learning rate), for each supported optimizer: lists of the slots, each slot holding
# one variable per trainable weight (in Keras's trainable-weight order); `interleaved` slots
# come as (slot a of weight 0, slot b of weight 0, slot a of weight 1, ...).
def _slot_layout(optimizer):
    """`[(interleaved, [slot names])]` for the kerasx optimizer, or None when Keras keeps its
    state in other variables than kerasx (or kerasx cannot say)."""
    from ..training import optimizers as o

    if type(optimizer) not in (o.SGD, o.Adam, o.AdamW, o.RMSprop):
        return None
    if optimizer.use_ema or optimizer.gradient_accumulation_steps:
        return None
    if type(optimizer) is o.SGD:
        return [(False, ["momentum"])] if optimizer.momentum != 0 else []
    if type(optimizer) in (o.Adam, o.AdamW):
        return [(True, ["momentum", "velocity"])] + (
            [(False, ["velocity_hat"])] if optimizer.amsgrad else [])
    layout = [(False, ["velocity"])]  # RMSprop
    if optimizer.momentum > 0:
        layout.append((False, ["momentum"]))
    if optimizer.centered:
        layout.append((False, ["average_gradient"]))
    return layout


def _trainable_paths(model):
    """Tree paths of the weights Keras's `model.trainable_variables` lists, in its order."""
    from ..layers import _tree
    from ..models._functional import Functional
    from ..models._sequential import Sequential

    trainable_of = {id(layer): t for _, layer, t in _tree.walk(model)}
    out = []

    def visit(layer, path):
        # Keras: a Sequential/functional model's layers in `model.layers` order; any other
        # layer's own weights, then its sublayers' (kerasx's `weight_paths` order)
        if isinstance(layer, (Sequential, Functional)):
            for key, sub in _keras_layer_items(layer):
                visit(sub, path + (key,))
            return
        if getattr(layer, "_keras_weight_order", None) is not None:  # SpectralNormalization
            out.extend(p for c, p, owner in _tree.weight_paths(layer, path)
                       if c == "params" and trainable_of[id(owner)])
            return
        out.extend(path + (k,) for c, k in layer.weight_names()
                   if c == "params" and trainable_of[id(layer)])
        for key, sub in layer._sublayer_items():
            visit(sub, path + (key,))

    visit(model, ())
    return out


def _find_optimizer_state(opt_state):
    from ..training.optimizers import OptimizerState

    found = [n for n in jax.tree.leaves(opt_state, is_leaf=lambda x: isinstance(x, OptimizerState))
             if isinstance(n, OptimizerState)]
    return found[0] if len(found) == 1 else None


def _optimizer_variables(model):
    """`(name, [arrays])`: the compiled optimizer's state as Keras's optimizer variables; None
    (with a warning) when its state cannot be mapped onto Keras's variables."""
    trainer = model._trainer
    optimizer = trainer.optimizer
    layout = _slot_layout(optimizer)
    state = _find_optimizer_state(trainer._opt_state_now()) if layout is not None else None
    if state is None:
        warnings.warn(f"Model '{model.name}' is saved without its optimizer state: kerasx "
                      f"cannot write the state of {type(optimizer).__name__} ({optimizer!r}) as "
                      "Keras's optimizer variables (supported: SGD, Adam, AdamW and RMSprop "
                      "without use_ema or gradient accumulation). The loaded model's optimizer "
                      "starts afresh.", stacklevel=4)
        return None
    paths = _trainable_paths(model)
    arrays = [np.asarray(state.iterations, np.int32).reshape(())]
    if optimizer._schedule is None:
        arrays.append(np.asarray(state.learning_rate, np.float32).reshape(()))
    for interleaved, names in layout:
        if interleaved:
            arrays += [np.asarray(_get(state.slots[n], p)) for p in paths for n in names]
        else:
            arrays += [np.asarray(_get(state.slots[n], p)) for n in names for p in paths]
    return optimizer.name, arrays


def _restore_optimizer(model, values, filepath: str) -> None:
    """Puts Keras's optimizer variables `values` (`{"0": array, ...}`) into the compiled
    model's optimizer state; warns and keeps a fresh state when they do not fit (as Keras)."""
    import jax.numpy as jnp

    from ..training.optimizers import OptimizerState

    trainer = model._trainer
    optimizer = trainer.optimizer
    layout = _slot_layout(optimizer)
    opt_state = trainer._opt_state_now()
    state = _find_optimizer_state(opt_state) if layout is not None else None

    def skip(reason):
        warnings.warn(f"'{filepath}': the optimizer state is not loaded ({reason}); the "
                      "optimizer starts afresh.", stacklevel=4)

    if state is None:
        return skip(f"kerasx cannot map Keras's optimizer variables onto the state of "
                    f"{type(optimizer).__name__}")
    paths = _trainable_paths(model)
    head = 1 if optimizer._schedule is not None else 2
    expected = head + sum(len(names) for _, names in layout) * len(paths)
    if len(values) not in (head, expected) or any(str(i) not in values for i in range(len(values))):
        return skip(f"the file holds {len(values)} optimizer variables; {type(optimizer).__name__}"
                    f" of this model has {expected}")
    arrays = [values[str(i)] for i in range(len(values))]
    iterations = jnp.asarray(np.asarray(arrays[0]).reshape(()), state.iterations.dtype)
    learning_rate = (jnp.asarray(np.asarray(arrays[1]).reshape(()), jnp.float32) if head == 2
                     else optimizer._lr_at(iterations))  # a schedule: its value at the step
    slots = state.slots
    if len(arrays) == expected:
        flat = iter(arrays[head:])
        new = {}
        for interleaved, names in layout:
            order = ([(p, n) for p in paths for n in names] if interleaved
                     else [(p, n) for n in names for p in paths])
            for p, n in order:
                new[(n, p)] = next(flat)
        slots = dict(slots)
        for (n, p), value in new.items():
            old = _get(slots[n], p)
            if tuple(np.shape(value)) != tuple(old.shape):
                return skip(f"its '{n}' variable for weight '{'/'.join(p)}' has shape "
                            f"{tuple(np.shape(value))}, not {tuple(old.shape)}")
        for (n, p), value in new.items():
            slots[n] = _set(slots[n], p, jnp.asarray(value, _get(slots[n], p).dtype))
    new_state = state._replace(iterations=iterations, learning_rate=learning_rate, slots=slots)
    trainer.opt_state = jax.device_put(jax.tree.map(
        lambda n: new_state if isinstance(n, OptimizerState) else n, opt_state,
        is_leaf=lambda x: isinstance(x, OptimizerState)))


# ---------------------------------------------------------------------------- whole models
def save_model(model, filepath, overwrite: bool = True) -> None:
    """Writes the model as a Keras 3 `.keras` archive (atomically): `config.json` (its config and
    compile() arguments), `metadata.json` and `model.weights.h5` (weights, and the optimizer
    state for SGD, Adam, AdamW and RMSprop). Keras 3's `keras.saving.load_model` reads it."""
    from .. import saving

    filepath = os.fspath(filepath)
    if not is_keras_model_path(filepath):
        raise ValueError("Invalid `filepath` argument: expected a `.keras` extension. "
                         f"Received: filepath={filepath}")
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"'{filepath}' exists; pass overwrite=True to replace it.")
    _h5py()
    model._ensure_built()
    keras_layout(model)  # fails early for what the format cannot hold
    config = to_keras_config(saving.serialize(model))
    if _is_subclassed_model(model) and "build_config" not in config:
        # Keras builds a subclassed model from this before it loads the weights
        config["build_config"] = {"input_shape": _as_lists(model._input_spec_shapes())}
    compile_config = _keras_compile_config(model)
    optimizer_vars = None
    if compile_config is not None:
        config["compile_config"] = compile_config
        optimizer_vars = _optimizer_variables(model)
    metadata = {"keras_version": _KERAS_VERSION, "kerasx": True,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(_METADATA, json.dumps(metadata))
        z.writestr(_CONFIG, json.dumps(config, default=_json_default))
        z.writestr(_WEIGHTS, _h5_bytes(model, optimizer_vars))
    _files.write_atomic(filepath, buffer.getvalue())


def _is_subclassed_model(model) -> bool:
    from ..models._functional import Functional
    from ..models._sequential import Sequential

    return not isinstance(model, (Sequential, Functional))


def _as_lists(shapes):
    """Input shapes (tuples, nested in lists, tuples or dicts) as JSON lists."""
    if isinstance(shapes, dict):
        return {k: _as_lists(v) for k, v in shapes.items()}
    if isinstance(shapes, (list, tuple)) and all(d is None or isinstance(d, int) for d in shapes):
        return list(shapes)
    return [_as_lists(s) for s in shapes]


def _as_shapes(shapes):
    """`build_config["input_shape"]` (JSON lists) as shape tuples, nested as it is."""
    if isinstance(shapes, dict):
        return {k: _as_shapes(v) for k, v in shapes.items()}
    if isinstance(shapes, (list, tuple)) and all(d is None or isinstance(d, int) for d in shapes):
        return tuple(shapes)
    return [_as_shapes(s) for s in shapes]


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.dtype):
        return obj.name
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable: {obj!r}")


class _open_archive:
    def __init__(self, filepath):
        self.filepath = filepath

    def __enter__(self):
        try:
            self.zip = zipfile.ZipFile(self.filepath)
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            with open(self.filepath, "rb") as f:
                head = f.read(8)
            foreign = _files._foreign_format(self.filepath)
            if head == _HDF5_SIGNATURE:
                what = ("it is an HDF5 file (Keras weights? load them with `model.load_weights` "
                        "from a path ending in `.weights.h5`)")
            elif foreign and "zip" not in foreign:
                what = f"it {foreign}"
            else:
                what = f"it is not a complete zip archive (corrupt or truncated?): {e}"
            raise ValueError(f"Could not read '{self.filepath}' as a Keras `.keras` archive: "
                             f"{what}.") from None
        return self.zip

    def __exit__(self, *exc):
        self.zip.close()


def _member(archive, name, filepath):
    if name not in archive.namelist():
        raise ValueError(f"'{filepath}' is not a Keras `.keras` archive: it holds no '{name}' "
                         f"(it holds {archive.namelist()[:5]}).")
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        raise ValueError(f"Could not read '{name}' in '{filepath}': the archive is corrupt or "
                         f"truncated ({e}).") from None


def _is_serialized(value) -> bool:
    return isinstance(value, dict) and isinstance(value.get("class_name"), str) and \
        "config" in value


def _from_keras_spec(spec, deserialize):
    """A loss/metric argument of Keras's compile_config with its serialized objects rebuilt
    (a dict that is not one is a mapping of output names)."""
    if _is_serialized(spec):
        return deserialize(spec)
    if isinstance(spec, list):
        return [_from_keras_spec(s, deserialize) for s in spec]
    if isinstance(spec, dict):
        return {k: _from_keras_spec(v, deserialize) for k, v in spec.items()}
    return spec


def _keras_compile_args(compile_config):
    """kerasx compile() arguments from Keras's `compile_config`."""
    from ..training import losses, metrics

    args = {"loss": _from_keras_spec(compile_config.get("loss"), losses.deserialize),
            "loss_weights": compile_config.get("loss_weights"),
            "metrics": _from_keras_spec(compile_config.get("metrics"), metrics.deserialize),
            "weighted_metrics": _from_keras_spec(compile_config.get("weighted_metrics"),
                                                 metrics.deserialize)}
    args["optimizer"] = compile_config.get("optimizer") or "rmsprop"
    steps = compile_config.get("steps_per_execution")
    if isinstance(steps, int) and not isinstance(steps, bool) and steps > 1:
        args["steps_per_execution"] = steps
    if compile_config.get("run_eagerly"):
        args["run_eagerly"] = True
    return args


def load_model(filepath, custom_objects=None, compile: bool = True):
    """Reads a Keras 3 `.keras` archive (written by Keras or by kerasx) into a kerasx model: its
    architecture (for the layers kerasx has), weights, and, when `compile` and the file holds
    them, its compile() arguments and optimizer state. Errors name the file and what is wrong;
    a layer class kerasx lacks is named."""
    from .. import saving
    from ..models._model import Model

    filepath = os.fspath(filepath)
    _check_file(filepath, "a Keras `.keras` archive")
    with _open_archive(filepath) as archive:
        raw_config = _member(archive, _CONFIG, filepath)
        weights = _member(archive, _WEIGHTS, filepath) if _WEIGHTS in archive.namelist() else None
        if weights is None:
            names = archive.namelist()
            raise ValueError(f"'{filepath}' holds no '{_WEIGHTS}' (it holds {names[:5]}); "
                             "kerasx reads `.keras` archives with HDF5 weights only.")
    try:
        config = json.loads(raw_config)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"'{filepath}': its '{_CONFIG}' is not valid JSON: {e}") from None
    if not isinstance(config, dict):
        raise ValueError(f"'{filepath}': its '{_CONFIG}' should be a serialized model (a JSON "
                         f"object); received {type(config).__name__}.")
    groups = _read_h5(io.BytesIO(weights), filepath)
    try:
        model = saving.deserialize({k: v for k, v in config.items() if k != "compile_config"},
                                   custom_objects=custom_objects)
    except Exception as e:
        raise ValueError(f"'{filepath}': its '{_CONFIG}' cannot be rebuilt into a kerasx model: "
                         f"{e}") from e
    if not isinstance(model, Model):
        raise ValueError(f"'{filepath}' describes a {type(model).__name__}, not a model.")
    build = config.get("build_config") or {}
    if not model.built and model._input_spec_shapes() is None and build.get("input_shape"):
        model.build(_as_shapes(build["input_shape"]))
    _load_groups(model, groups, filepath)
    compile_config = config.get("compile_config") if compile else None
    if compile_config:
        if not isinstance(compile_config, dict):
            raise ValueError(f"'{filepath}': its compile_config should be a JSON object; "
                             f"received {type(compile_config).__name__}.")
        try:
            model.compile(**_keras_compile_args(compile_config))
        except Exception as e:
            raise ValueError(f"'{filepath}': its compile_config cannot be used to compile the "
                             f"model: {e}") from e
        _, values = groups.get("optimizer", (None, {}))
        if values:
            _restore_optimizer(model, values, filepath)
    return model
