"""Weight files: safetensors on disk, written atomically, loaded all-or-nothing.

A kerasx weights file is a standard safetensors file (https://github.com/huggingface/safetensors):
an 8-byte header length, a JSON header naming each tensor's dtype, shape and byte range, then
the raw bytes. Tensors are keyed by their path in the model's pytrees,
`params/<layer>/<weight>` and `state/<layer>/<weight>` (nested models add their name), so
any safetensors reader (NumPy, PyTorch, Rust) can open them and nothing is unpickled. The header's
metadata holds `{"format": "kerasx.weights", "version": "1", ...}`.
"""

import json
import os
import tempfile
from typing import Dict

import jax
import numpy as np

FORMAT_VERSION = "1"

# safetensors' NumPy API has no bfloat16; such tensors are stored as their uint16 bits and
# their dtype recorded in the metadata.
_BIT_VIEWS = {"bfloat16": np.uint16}


def write_atomic(filepath: str, data: bytes) -> None:
    """Writes `data` to `filepath` through a temporary file in the same folder, then renames it
    over the target: a crash mid-write leaves the previous file intact."""
    folder = os.path.dirname(os.path.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + os.path.basename(filepath) + ".",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _path_str(path) -> str:
    return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def flatten_tree(prefix: str, tree) -> Dict[str, np.ndarray]:
    """`{"prefix/a/b": array}` for the leaves of a nested dict of arrays."""
    flat = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        flat[f"{prefix}/{_path_str(path)}" if path else prefix] = np.asarray(leaf)
    return flat


def encode_tensors(tensors: Dict[str, np.ndarray], metadata: Dict[str, str]) -> bytes:
    """The bytes of a safetensors file holding `tensors` and string `metadata`."""
    from safetensors.numpy import save

    stored, viewed = {}, {}
    for key, value in tensors.items():
        value = np.ascontiguousarray(value)
        if value.dtype.name in _BIT_VIEWS:
            viewed[key] = value.dtype.name
            value = value.view(_BIT_VIEWS[value.dtype.name])
        stored[key] = value
    metadata = {**metadata, "bit_views": json.dumps(viewed)}
    return save(stored, metadata=metadata)


def read_tensors(filepath: str, expected_format: str):
    """Reads a safetensors file: `(tensors, metadata)`, or a ValueError that names the file."""
    from safetensors import safe_open

    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No kerasx file at '{filepath}'.")
    try:
        with safe_open(filepath, "np") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as e:  # safetensors raises its own SafetensorError for bad headers/bytes
        raise ValueError(
            f"Could not read '{filepath}': it is not a complete safetensors file (corrupt or "
            f"truncated?). The reader said: {e}"
        ) from None
    fmt = metadata.get("format")
    if fmt != expected_format:
        raise ValueError(
            f"'{filepath}' is not a {expected_format} file: its metadata says format={fmt!r}."
        )
    import ml_dtypes  # installed with jax

    for key, dtype in json.loads(metadata.get("bit_views", "{}")).items():
        tensors[key] = tensors[key].view(getattr(ml_dtypes, dtype))
    return tensors, metadata


def _scalar_fix(value, shape):
    """safetensors stores a 0-d tensor as shape (1,)."""
    return value.reshape(()) if tuple(shape) == () and value.shape == (1,) else value


def unflatten_like(prefix: str, template, tensors: Dict[str, np.ndarray], filepath: str):
    """A tree like `template` filled from `tensors`; a ValueError naming the file, the weight and
    both shapes for a missing tensor or a shape/dtype mismatch."""
    leaves = []
    for path, leaf in jax.tree_util.tree_flatten_with_path(template)[0]:
        key = f"{prefix}/{_path_str(path)}" if path else prefix
        if key not in tensors:
            raise ValueError(
                f"'{filepath}' has no weight '{key}' (layer '{_path_str(path[:-1])}'): it was "
                "saved from a model of another architecture."
            )
        value = _scalar_fix(tensors[key], np.shape(leaf))
        if tuple(value.shape) != tuple(np.shape(leaf)):
            raise ValueError(
                f"Weight '{key}' in '{filepath}' has shape {tuple(value.shape)}, but layer "
                f"'{_path_str(path[:-1])}' of this model expects {tuple(np.shape(leaf))}."
            )
        leaves.append(value.astype(leaf.dtype))
    return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), leaves)


def save_weights(model, filepath: str, overwrite: bool = True) -> None:
    """Writes the model's weights and layer state to a safetensors file (atomically)."""
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"'{filepath}' exists; pass overwrite=True to replace it.")
    tensors = {**flatten_tree("params", model.params), **flatten_tree("state", model.state)}
    metadata = {"format": "kerasx.weights", "version": FORMAT_VERSION, "model": model.name}
    write_atomic(filepath, encode_tensors(tensors, metadata))


def load_weights(model, filepath: str) -> None:
    """Loads weights saved by `save_weights` into a built model; all or nothing."""
    try:
        model._ensure_built()
    except ValueError:
        raise ValueError(
            f"Model '{model.name}' has no weights yet to load into. Build it first: give it an "
            "`Input`, call `model.build(input_shape)`, or call it on data."
        ) from None
    tensors, _ = read_tensors(filepath, "kerasx.weights")
    params = unflatten_like("params", model.params, tensors, filepath)
    state = unflatten_like("state", model.state, tensors, filepath)
    known = set(flatten_tree("params", model.params)) | set(flatten_tree("state", model.state))
    extra = sorted(set(tensors) - known)
    if extra:
        raise ValueError(
            f"'{filepath}' holds weights this model does not have: {extra[:5]}"
            + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
            + ". It was saved from a model of another architecture."
        )
    model.params, model.state = jax.device_put(params), jax.device_put(state)


# ---------------------------------------------------------------------------- whole models
class _NotSerializable(Exception):
    pass


def _training_modules():
    from ..training import losses, metrics, optimizers

    return {"optimizer": optimizers, "loss": losses, "metric": metrics}


def _spec_to_json(spec):
    """A compile argument (names, kerasx objects, lists/dicts of them) as JSON-able data."""
    from .. import saving

    if spec is None or isinstance(spec, (str, int, float, bool)):
        return spec
    if isinstance(spec, (list, tuple)):
        return [_spec_to_json(s) for s in spec]
    if isinstance(spec, dict):
        return {str(k): _spec_to_json(v) for k, v in spec.items()}
    if hasattr(spec, "get_config"):
        config = spec.get_config()
        if any(callable(v) for v in config.values()):  # e.g. a learning-rate schedule
            raise _NotSerializable(f"{type(spec).__name__} with {config}")
        for kind, module in _training_modules().items():
            if getattr(module, type(spec).__name__, None) is type(spec):
                return {"__kerasx_training__": kind, "class_name": type(spec).__name__,
                        "config": config}
        try:
            return {"__kerasx_object__": saving.serialize(spec)}
        except Exception as e:
            raise _NotSerializable(f"{spec!r}: {e}") from None
    try:  # a registered plain function
        return {"__kerasx_object__": saving.serialize(spec)}
    except Exception:
        raise _NotSerializable(repr(spec)) from None


def _spec_from_json(data, custom_objects):
    from .. import saving

    if isinstance(data, list):
        return [_spec_from_json(d, custom_objects) for d in data]
    if isinstance(data, dict):
        if "__kerasx_training__" in data:
            cls = getattr(_training_modules()[data["__kerasx_training__"]], data["class_name"])
            if data["__kerasx_training__"] == "optimizer":  # its learning rate may be a schedule
                return cls.from_config(data["config"], custom_objects=custom_objects)
            return cls(**data["config"])
        if "__kerasx_object__" in data:
            return saving.deserialize(data["__kerasx_object__"], custom_objects=custom_objects)
        return {k: _spec_from_json(v, custom_objects) for k, v in data.items()}
    return data


def save_model(model, filepath: str, overwrite: bool = True) -> None:
    """Writes the architecture, weights, layer state, compile arguments and optimizer state to
    one safetensors file (atomically). See `load_model`."""
    import warnings

    from .. import saving

    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"'{filepath}' exists; pass overwrite=True to replace it.")
    model._ensure_built()
    metadata = {"format": "kerasx.model", "version": FORMAT_VERSION,
                "model_config": json.dumps(saving.serialize(model))}
    tensors = {**flatten_tree("params", model.params), **flatten_tree("state", model.state)}
    trainer = model._trainer
    if trainer is not None:
        try:
            compile_config = {k: _spec_to_json(v) for k, v in trainer.compile_args.items()}
        except _NotSerializable as e:
            warnings.warn(f"Model '{model.name}' is saved without its compile() arguments: "
                          f"{e} cannot be serialized. Compile the loaded model again.")
            compile_config = None
        if compile_config is not None:
            metadata["compile_config"] = json.dumps(compile_config)
            opt_state = trainer._opt_state_now()
            if opt_state is not None:
                tensors.update(_flatten_any("optimizer", opt_state))
    write_atomic(filepath, encode_tensors(tensors, metadata))


def _flatten_any(prefix, tree):
    return {f"{prefix}/{jax.tree_util.keystr(path)}": np.asarray(leaf)
            for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


def model_to_bytes(model) -> bytes:
    """The bytes of `model.save` (architecture, weights, compile arguments, optimizer state):
    what `pickle` and `copy.deepcopy` carry for a model, as Keras 3 pickles a `.keras` file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.kerasx")
        save_model(model, path)
        with open(path, "rb") as f:
            return f.read()


def model_from_bytes(data: bytes):
    """The model that `model_to_bytes` wrote (its custom classes must be registered)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.kerasx")
        with open(path, "wb") as f:
            f.write(data)
        return load_model(path)


def load_model(filepath: str, custom_objects=None, compile: bool = True):
    """Rebuilds a model saved by `model.save`: same architecture, weights and layer state
    (its `predict` is bit-identical), compiled as it was with the optimizer state restored (its
    `fit` continues where the saved one stopped). Errors name the file and what is wrong; on
    error nothing is returned half-loaded."""
    from .. import saving

    tensors, metadata = read_tensors(filepath, "kerasx.model")
    try:
        config = json.loads(metadata["model_config"])
    except (KeyError, ValueError) as e:
        raise ValueError(f"'{filepath}' has no readable model architecture: {e}") from None
    model = saving.deserialize(config, custom_objects=custom_objects)
    model._ensure_built()
    params = unflatten_like("params", model.params, tensors, filepath)
    state = unflatten_like("state", model.state, tensors, filepath)
    model.params, model.state = jax.device_put(params), jax.device_put(state)
    if compile and "compile_config" in metadata:
        args = _spec_from_json(json.loads(metadata["compile_config"]), custom_objects)
        model.compile(**args)
        trainer = model._trainer
        template = trainer.optimizer_state_template()
        flat_template = jax.tree_util.tree_flatten_with_path(template)[0]
        leaves = []
        for path, leaf in flat_template:
            key = f"optimizer/{jax.tree_util.keystr(path)}"
            if key not in tensors:
                leaves = None  # saved before any optimizer state existed
                break
            value = _scalar_fix(tensors[key], leaf.shape)
            if tuple(value.shape) != tuple(leaf.shape):
                raise ValueError(f"Optimizer state '{key}' in '{filepath}' has shape "
                                 f"{tuple(value.shape)}; this model's optimizer expects {tuple(leaf.shape)}.")
            leaves.append(value.astype(leaf.dtype))
        if leaves is not None:
            trainer.opt_state = jax.device_put(
                jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(template), leaves))
    return model
