"""Weight files: safetensors on disk, written atomically, checked on load, loaded all-or-nothing.

A kerasx weights file is a standard safetensors file (https://github.com/huggingface/safetensors):
an 8-byte header length, a JSON header naming each tensor's dtype, shape and byte range, then
the raw bytes. Tensors are keyed by their path in the model's pytrees,
`params/<layer>/<weight>` and `state/<layer>/<weight>` (nested models add their name), so
any safetensors reader (NumPy, PyTorch, Rust) can open them and nothing is unpickled. The header's
metadata holds `{"format": "kerasx.weights", "version": "2", ...}`.

Since version 2 the metadata also holds `digests`: the SHA-256 of every tensor's bytes (as
stored: little-endian, C order) and of every other metadata entry. safetensors itself checks
only that the header is consistent, so a bit flipped on disk or in a copy would otherwise load
silently as different weights; with the digests such a file fails to load, naming the tensor
or entry that changed. Version-1 files (written before the digests) still load, with a warning.
"""

import hashlib
import json
import os
import re
import secrets
import socket
import stat
import sys
import tempfile
import warnings
import zipfile
from typing import Dict

import jax
import numpy as np

from ..distribution._placement import host_array

FORMAT_VERSION = "2"
_READABLE_VERSIONS = ("1", "2")  # version 1 files have no digests
_DIGESTS = "digests"
_DIGEST_ALGORITHM = "sha256"

# safetensors' NumPy API has no bfloat16; such tensors are stored as their uint16 bits and
# their dtype recorded in the metadata.
_BIT_VIEWS = {"bfloat16": np.uint16}


# ---------------------------------------------------------------------------- atomic writes
# A temporary file is `.{target name}.kerasx-tmp-{host}-{pid}-{random}`: the host and the pid of
# its writer let a later save of the same target tell a file left by a killed writer (same
# host, process gone) from one being written right now.
_TMP_MARK = ".kerasx-tmp-"
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def write_atomic(filepath: str, data: bytes) -> None:
    """Writes `data` to `filepath` through a temporary file in the same folder, then renames it
    over the target: a crash mid-write leaves the previous file intact.

    Like a plain `open(filepath, "wb")`: a symlink is followed (its target gets the new content
    and the link stays a link), a new file gets the permissions `0o666 & ~umask`, and an existing
    file keeps its own. The temporary files that killed writers left for this target are removed
    first, so that they do not pile up; no other file is touched."""
    if jax.process_count() > 1 and jax.process_index() != 0:
        return  # a multi-process job: every process computed `data` (gathers are collective),
        # and process 0 writes it
    target = os.path.realpath(filepath)
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(target)
    mode = _kept_mode(target)
    fd, tmp = _create_temporary(target)
    try:
        with os.fdopen(fd, "wb") as f:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_folder(folder)


def _create_temporary(target: str):
    """`(fd, path)` of a new, empty temporary file next to `target`. It is created with mode
    0o666, so the umask applies as for any new file (`mkstemp` would make it 0o600)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | \
        getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = f"{_temporary_prefix(target)}{_HOST}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # the same random name: draw another
            continue


def _temporary_prefix(target: str) -> str:
    folder, name = os.path.split(target)
    return os.path.join(folder, f".{name}{_TMP_MARK}")


def _kept_mode(target: str):
    """The permission bits of an existing regular file at `target` (an overwrite keeps them,
    as `open(target, "wb")` would), or None for a new file."""
    try:
        st = os.stat(target)
    except OSError:
        return None
    return stat.S_IMODE(st.st_mode) & 0o777 if stat.S_ISREG(st.st_mode) else None


def remove_stale_temporaries(target: str) -> None:
    """Removes the temporary files of `target` that writers killed mid-save left behind: files
    named by `write_atomic`'s pattern for this very target, written on this host by a process
    that no longer runs. Anything else (other targets' files, a live writer's file, a file
    named almost so) is left alone."""
    prefix = os.path.basename(_temporary_prefix(target))
    pattern = re.compile(re.escape(prefix) + r"([0-9a-f]{6})-([0-9]{1,10})-[0-9a-f]{8}")
    try:
        entries = list(os.scandir(os.path.dirname(target)))
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name) if entry.name.startswith(prefix) else None
        if match is None or match.group(1) != _HOST or _process_alive(int(match.group(2))):
            continue
        try:
            if entry.is_file(follow_symlinks=False):
                os.remove(entry.path)
        except OSError:  # removed meanwhile by another writer, or not ours to remove
            pass


def _process_alive(pid: int) -> bool:
    """Whether process `pid` runs (or may run: when in doubt, True, so nothing is removed)."""
    if pid == os.getpid() or os.name == "nt":  # on Windows os.kill would terminate it
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):  # not ours to signal, or a bogus pid
        return True
    return True


def _fsync_folder(folder: str) -> None:
    """Flushes the rename to disk, so that a power cut after `save` returns keeps the new
    file; folders that cannot be opened or synced (some systems) are skipped."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _path_str(path) -> str:
    return "/".join(str(getattr(k, "key", getattr(k, "idx", k))) for k in path)


def flatten_tree(prefix: str, tree) -> Dict[str, np.ndarray]:
    """`{"prefix/a/b": array}` for the leaves of a nested dict of arrays."""
    flat = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        flat[f"{prefix}/{_path_str(path)}" if path else prefix] = host_array(leaf)
    return flat


# ---------------------------------------------------------------------------- encoding
def encode_tensors(tensors: Dict[str, np.ndarray], metadata: Dict[str, str]) -> bytes:
    """The bytes of a safetensors file holding `tensors` and string `metadata` (with the
    `bit_views` and `digests` entries added)."""
    stored, viewed = {}, {}
    for key, value in tensors.items():
        value = np.ascontiguousarray(value)
        if value.dtype.name in _BIT_VIEWS:
            viewed[key] = value.dtype.name
            value = value.view(_BIT_VIEWS[value.dtype.name])
        stored[key] = _little_endian(value)
    return encode_raw(stored, {**metadata, "bit_views": json.dumps(viewed)})


def encode_raw(stored: Dict[str, np.ndarray], metadata: Dict[str, str]) -> bytes:
    """The bytes of a safetensors file holding the contiguous little-endian arrays `stored` as
    they are, and `metadata` with its `digests` entry: the SHA-256 of each tensor's bytes and
    of each metadata entry, which `read_tensors` checks."""
    from safetensors.numpy import save

    digests = {"algorithm": _DIGEST_ALGORITHM,
               "metadata": {k: _text_digest(v) for k, v in metadata.items()},
               "tensors": {k: _tensor_digest(v) for k, v in stored.items()}}
    return save(stored, metadata={**metadata, _DIGESTS: json.dumps(digests, sort_keys=True)})


def _little_endian(value: np.ndarray) -> np.ndarray:
    """`value` with its bytes in the file's order (a copy only for big-endian data)."""
    order = value.dtype.byteorder
    if order == ">" or (order == "=" and sys.byteorder == "big"):
        return value.astype(value.dtype.newbyteorder("<"))
    return value


def _tensor_digest(value: np.ndarray) -> str:
    """The SHA-256 of a tensor's bytes as the file stores them, hashed in place (hashlib reads
    the array's buffer directly and releases the GIL while it does)."""
    value = _little_endian(value)
    return hashlib.sha256(np.ascontiguousarray(value).data if value.size else b"").hexdigest()


def _text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


# ---------------------------------------------------------------------------- reading
def read_tensors(filepath: str, expected_format: str):
    """Reads a kerasx safetensors file: `(tensors, metadata)`, checked against the digests
    stored when it was written. Anything else is a ValueError that names the file and says
    what is wrong: another format (a Keras `.keras` archive, HDF5, JSON, a folder), a truncated
    or corrupted file (naming the tensor or entry that changed), or an entry kerasx cannot read."""
    from safetensors import safe_open

    _check_is_a_file(filepath)
    try:
        with safe_open(filepath, "np") as f:
            metadata = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as e:  # safetensors raises its own SafetensorError for bad headers/bytes
        raise ValueError(_unreadable(filepath, e)) from None
    if _DIGESTS in metadata:
        _check_digests(filepath, metadata, tensors)
    fmt = metadata.get("format")
    if fmt != expected_format:
        raise ValueError(
            f"'{filepath}' is not a {expected_format} file: its metadata says format={fmt!r}."
        )
    _check_version(filepath, metadata)
    _apply_bit_views(filepath, metadata, tensors)
    return tensors, metadata


def _check_is_a_file(filepath: str) -> None:
    """Errors for what is not a file at all (safetensors would say only 'corrupt')."""
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No kerasx file at '{filepath}'.")
    if os.path.isdir(filepath):
        what = ("looks like a TensorFlow SavedModel folder (it holds saved_model.pb), which "
                "kerasx cannot read" if os.path.exists(os.path.join(filepath, "saved_model.pb"))
                else "is a directory")
        raise ValueError(f"'{filepath}' {what}: expected a kerasx file (one safetensors file, "
                         "as `model.save` or `model.save_weights` writes).")
    if os.path.getsize(filepath) == 0:
        raise ValueError(f"'{filepath}' is empty (0 bytes): expected a kerasx safetensors file. "
                         "Was it created by a save or a copy that did not finish?")


def _unreadable(filepath: str, error: Exception) -> str:
    """The message for a file safetensors cannot parse: what the file is, when its first bytes
    say so, else corrupt or truncated."""
    foreign = _foreign_format(filepath)
    if foreign is not None:
        return (f"'{filepath}' {foreign}. kerasx reads only its own safetensors files (as "
                "`model.save` / `model.save_weights` write them).")
    return (f"Could not read '{filepath}': it is not a complete safetensors file (corrupt or "
            f"truncated?). The reader said: {error}")


def _foreign_format(filepath: str):
    """What a file that is not safetensors is, from its first bytes, or None. Each signature
    below is impossible at the start of a valid safetensors file (whose first 8 bytes are a
    header length far below 2**56)."""
    try:
        with open(filepath, "rb") as f:
            head = f.read(16)
    except OSError:
        return None
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _describe_zip(filepath)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return ("is an HDF5 file (a Keras 2 `.h5` model, which kerasx cannot read, or a Keras "
                "`.weights.h5` file: load that from a path ending in `.weights.h5`)")
    if head.startswith(b"\x93NUMPY"):
        return "is a NumPy `.npy` array file (load it with `numpy.load`)"
    if b"\x00" not in head[:8] and head.lstrip()[:1] in (b"{", b"["):
        return ("is a JSON text file (a model architecture from `model.to_json()`? rebuild it "
                "with `kerasx.models.model_from_json`)")
    return None


def _describe_zip(filepath: str) -> str:
    try:
        with zipfile.ZipFile(filepath) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return "starts like a zip archive (a truncated Keras `.keras` file?) but is unreadable"
    if "config.json" in names or "model.weights.h5" in names:
        return ("looks like a Keras `.keras` zip archive (it holds "
                f"{', '.join(n for n in ('config.json', 'model.weights.h5') if n in names)}), "
                "which kerasx reads from a path ending in `.keras`: rename it, then "
                "`kerasx.models.load_model(path)`")
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    return f"is a zip archive (holding {shown or 'nothing'}), not a kerasx file"


def _json_entry(filepath: str, metadata: Dict[str, str], entry: str, default=None):
    """The JSON value of metadata `entry` (`default` when absent); malformed or hostile JSON
    (nested deeper than Python can parse) is a ValueError naming the file and the entry."""
    if entry not in metadata:
        return default
    try:
        return json.loads(metadata[entry])
    except RecursionError:
        reason = "it is nested too deeply to be read"
    except ValueError as e:
        reason = f"it is not valid JSON ({e})"
    raise ValueError(f"'{filepath}': its metadata entry '{entry}' cannot be read: {reason}.")


def _check_digests(filepath: str, metadata: Dict[str, str], tensors) -> None:
    """Checks every metadata entry and tensor against the digests recorded when the file was
    written: a difference is a ValueError naming the file and the entry or tensor."""
    digests = _digest_table(filepath, metadata)
    entries = set(metadata) - {_DIGESTS}
    _compare_digests(filepath, "metadata entry", entries, digests["metadata"],
                     lambda e: _text_digest(metadata[e]))
    _compare_digests(filepath, "tensor", set(tensors), digests["tensors"],
                     lambda k: _tensor_digest(tensors[k]))


def _digest_table(filepath: str, metadata: Dict[str, str]) -> Dict:
    table = _json_entry(filepath, metadata, _DIGESTS)
    expected = (f"a JSON object {{\"algorithm\": \"{_DIGEST_ALGORITHM}\", \"metadata\": "
                "{entry: hex digest}, \"tensors\": {tensor: hex digest}}")
    ok = isinstance(table, dict) and all(
        isinstance(table.get(part), dict) and all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in table[part].items())
        for part in ("metadata", "tensors"))
    if not ok:
        raise ValueError(f"'{filepath}': its metadata entry '{_DIGESTS}' is not {expected}; "
                         f"received {metadata[_DIGESTS][:200]!r}.")
    if table.get("algorithm") != _DIGEST_ALGORITHM:
        raise ValueError(f"'{filepath}': its metadata entry '{_DIGESTS}' uses the algorithm "
                         f"{table.get('algorithm')!r}; this kerasx checks "
                         f"'{_DIGEST_ALGORITHM}' (a newer kerasx wrote the file?).")
    return table


def _compare_digests(filepath, what, present, recorded, digest_of) -> None:
    gone, added = sorted(set(recorded) - present), sorted(present - set(recorded))
    if gone:
        raise ValueError(f"'{filepath}' is corrupt: the {what} '{gone[0]}' it held when written "
                         "is gone (the header changed after the file was written).")
    if added:
        raise ValueError(f"'{filepath}' is corrupt: it holds a {what} '{added[0]}' that was not "
                         "there when it was written (the header changed after the file was "
                         "written).")
    for name in sorted(present):
        actual = digest_of(name)
        if actual != recorded[name]:
            raise ValueError(
                f"'{filepath}' is corrupt: the {what} '{name}' does not match the "
                f"{_DIGEST_ALGORITHM} digest recorded when the file was written (expected "
                f"{recorded[name][:16]}..., received {actual[:16]}...). The file changed on "
                "disk or in a copy (a flipped bit, a partial copy or an edit); use another "
                "copy of it.")


def _check_version(filepath: str, metadata: Dict[str, str]) -> None:
    version = metadata.get("version")
    if version not in _READABLE_VERSIONS:
        raise ValueError(f"'{filepath}' has format version {version!r}; this kerasx reads "
                         f"versions {', '.join(_READABLE_VERSIONS)} (a newer kerasx wrote it?).")
    if _DIGESTS in metadata:
        return
    if version != "1":
        raise ValueError(f"'{filepath}' is corrupt: it lacks the metadata entry '{_DIGESTS}' "
                         f"that every version-{version} file holds, so its contents cannot be "
                         "checked.")
    warnings.warn(f"'{filepath}' was written by an older kerasx (format version 1), without "
                  "digests of its contents, so they cannot be verified: a corrupted file would "
                  "load as different weights. Save it again to add the digests.", stacklevel=4)


def _apply_bit_views(filepath: str, metadata: Dict[str, str], tensors) -> None:
    """Views the tensors listed in the `bit_views` entry (stored as unsigned-integer bits) as
    their real dtype (bfloat16)."""
    import ml_dtypes  # installed with jax

    views = _json_entry(filepath, metadata, "bit_views", {})
    where = f"'{filepath}': its metadata entry 'bit_views'"
    if not isinstance(views, dict):
        raise ValueError(f"{where} should map tensor names to dtype names; received "
                         f"{type(views).__name__}.")
    for key, dtype in views.items():
        if key not in tensors:
            raise ValueError(f"{where} names the tensor '{key}', which the file does not hold.")
        if not isinstance(dtype, str) or dtype not in _BIT_VIEWS:
            raise ValueError(f"{where} gives tensor '{key}' the dtype {dtype!r}; expected one "
                             f"of {sorted(_BIT_VIEWS)}.")
        bits = np.dtype(_BIT_VIEWS[dtype])
        if tensors[key].dtype != bits:
            raise ValueError(f"{where} says tensor '{key}' holds {dtype} values as {bits.name} "
                             f"bits, but the file stores it as {tensors[key].dtype.name}.")
        tensors[key] = tensors[key].view(getattr(ml_dtypes, dtype))


def _scalar_fix(value, shape):
    """safetensors stores a 0-d tensor as shape (1,)."""
    return value.reshape(()) if tuple(shape) == () and value.shape == (1,) else value


def _matching(prefix: str, template, tensors: Dict[str, np.ndarray], filepath: str):
    """The file's array for each leaf of `template` (arrays or `jax.ShapeDtypeStruct`s), in
    leaf order, after checking that each exists with the leaf's shape; a ValueError naming the
    file, the weight and both shapes otherwise. Nothing is copied or converted yet."""
    values = []
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
        values.append(value)
    return values


def _keys(prefix: str, tree):
    """The file keys of a tree's leaves (as `flatten_tree` names them), without reading them."""
    return [f"{prefix}/{_path_str(path)}" if path else prefix
            for path, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def _converted(template, values):
    """A tree like `template` holding `values` (leaf order) in the template's dtypes."""
    leaves = jax.tree_util.tree_leaves(template)
    return jax.tree_util.tree_unflatten(
        jax.tree_util.tree_structure(template),
        [np.asarray(v).astype(leaf.dtype, copy=False) for v, leaf in zip(values, leaves)])


def unflatten_like(prefix: str, template, tensors: Dict[str, np.ndarray], filepath: str):
    """A tree like `template` filled from `tensors`; a ValueError naming the file, the weight and
    both shapes for a missing tensor or a shape mismatch (checked for every weight before any
    is converted)."""
    return _converted(template, _matching(prefix, template, tensors, filepath))


def _check_no_extra(filepath: str, tensors, known, ignored_prefix=None) -> None:
    extra = sorted(k for k in set(tensors) - set(known)
                   if ignored_prefix is None or not k.startswith(ignored_prefix))
    if extra:
        raise ValueError(
            f"'{filepath}' holds weights this model does not have: {extra[:5]}"
            + (f" and {len(extra) - 5} more" if len(extra) > 5 else "")
            + ". It was saved from a model of another architecture."
        )


def _weights_from_file(template, tensors, filepath, ignored_prefix=None):
    """`(params, state)` shaped like `template` (a pair of trees of arrays or shape structs)
    made of the file's arrays, on the device. Every weight's presence and shape, and the
    absence of weights the model does not have, are checked before anything is converted."""
    params_t, state_t = template
    params_v = _matching("params", params_t, tensors, filepath)
    state_v = _matching("state", state_t, tensors, filepath)
    known = set(_keys("params", params_t)) | set(_keys("state", state_t))
    _check_no_extra(filepath, tensors, known, ignored_prefix)
    return (jax.device_put(_converted(params_t, params_v)),
            jax.device_put(_converted(state_t, state_v)))


def _load_into(model, tensors, filepath, ignored_prefix=None) -> None:
    """Puts the file's params and state into `model`, all or nothing.

    A built model's weights are replaced. An unbuilt model is built from the file directly:
    the shapes its architecture needs come from `jax.eval_shape` of its `init`, which allocates
    nothing, so a file whose config asks for a huge layer fails on the shape check before any
    weight exists, and no weight is drawn at random only to be overwritten."""
    if model.built:
        params, state = _weights_from_file(model._trees(), tensors, filepath, ignored_prefix)
        model.params, model.state = params, state
        return
    from ..models._model import _spec_from_shapes

    def from_file(spec):
        shapes = jax.eval_shape(lambda key: model.init(key, spec), jax.random.key(0))
        return _weights_from_file(shapes, tensors, filepath, ignored_prefix)

    spec = _spec_from_shapes(model._input_spec_shapes(), model._input_dtypes())
    model._init_from_spec(spec, weights=from_file)


def save_weights(model, filepath: str, overwrite: bool = True) -> None:
    """Writes the model's weights and layer state to a safetensors file (atomically)."""
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"'{filepath}' exists; pass overwrite=True to replace it.")
    tensors = {**flatten_tree("params", model.params), **flatten_tree("state", model.state)}
    metadata = {"format": "kerasx.weights", "version": FORMAT_VERSION, "model": model.name}
    write_atomic(filepath, encode_tensors(tensors, metadata))


def load_weights(model, filepath: str) -> None:
    """Loads weights saved by `save_weights` into a model; all or nothing. A model that knows its
    input shape but is not built yet is built with the file's weights (none are initialised)."""
    if not model.built and model._input_spec_shapes() is None:
        raise ValueError(
            f"Model '{model.name}' has no weights yet to load into. Build it first: give it an "
            "`Input`, call `model.build(input_shape)`, or call it on data."
        )
    tensors, _ = read_tensors(filepath, "kerasx.weights")
    _load_into(model, tensors, filepath)


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
            return _training_object(data, custom_objects)
        if "__kerasx_object__" in data:
            return saving.deserialize(data["__kerasx_object__"], custom_objects=custom_objects)
        return {k: _spec_from_json(v, custom_objects) for k, v in data.items()}
    return data


def _training_object(data, custom_objects):
    """The optimizer, loss or metric that `_spec_to_json` described; a ValueError saying what
    is unknown otherwise (a config is data: only kerasx's own classes are looked up)."""
    kind, name, config = data["__kerasx_training__"], data.get("class_name"), data.get("config")
    modules = _training_modules()
    if not isinstance(kind, str) or kind not in modules:
        raise ValueError(f"unknown kind of training object {kind!r}; expected one of "
                         f"{sorted(modules)}")
    cls = getattr(modules[kind], name, None) if isinstance(name, str) else None
    if not (isinstance(cls, type) and hasattr(cls, "get_config")):
        raise ValueError(f"unknown {kind} class {name!r}: kerasx has no {kind} of that name")
    if not isinstance(config, dict):
        raise ValueError(f"the config of {kind} {name!r} should be a JSON object; received "
                         f"{config!r:.200}")
    try:
        if kind == "optimizer":  # its learning rate may be a schedule
            return cls.from_config(config, custom_objects=custom_objects)
        return cls(**config)
    except TypeError as e:
        raise ValueError(f"cannot rebuild {kind} {name!r} from its config {config!r:.200}: "
                         f"{e}") from None


def save_model(model, filepath: str, overwrite: bool = True) -> None:
    """Writes the architecture, weights, layer state, compile arguments and optimizer state to
    one safetensors file (atomically). See `load_model`."""
    from .. import saving

    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"'{filepath}' exists; pass overwrite=True to replace it.")
    model._ensure_built()
    metadata = {"format": "kerasx.model", "version": FORMAT_VERSION,
                "model_config": json.dumps(saving.serialize(model))}
    tensors = {**flatten_tree("params", model.params), **flatten_tree("state", model.state)}
    compile_config = _compile_config(model, "saved", "the loaded model")
    if compile_config is not None:
        metadata["compile_config"] = json.dumps(compile_config)
        opt_state = model._trainer._opt_state_now()
        if opt_state is not None:
            tensors.update(_flatten_any("optimizer", opt_state))
    write_atomic(filepath, encode_tensors(tensors, metadata))


def _compile_config(model, done: str, target: str):
    """The model's compile() arguments as JSON-able data; None when it is not compiled, or
    (with a warning saying the model is `done` without them) when one cannot be serialized."""
    if model._trainer is None:
        return None
    try:
        return {k: _spec_to_json(v) for k, v in model._trainer.compile_args.items()}
    except _NotSerializable as e:
        warnings.warn(f"Model '{model.name}' is {done} without its compile() arguments: {e} "
                      f"cannot be serialized. Compile {target} again.")
        return None


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


def unbuilt_model_config(model):
    """What `pickle` and `copy.deepcopy` carry for a model that has no weights yet: its config
    and, when compiled, its compile() arguments (as JSON-able data)."""
    from .. import saving

    return {"model_config": saving.serialize(model),
            "compile_config": _compile_config(model, "copied", "the copy")}


def model_from_unbuilt_config(data):
    """The model that `unbuilt_model_config` described: unbuilt, compiled as it was."""
    from .. import saving

    model = saving.deserialize(data["model_config"])
    if data["compile_config"] is not None:
        model.compile(**_spec_from_json(data["compile_config"], None))
    return model


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
    error nothing is returned half-loaded.

    The weights are never initialised: the architecture's shapes are computed without
    allocating anything (`jax.eval_shape`) and checked against the file's tensors, whose arrays
    then become the model's weights."""
    tensors, metadata = read_tensors(filepath, "kerasx.model")
    config = _json_entry(filepath, metadata, "model_config")
    compile_config = _json_entry(filepath, metadata, "compile_config") if compile else None
    model = _rebuild_model(filepath, config, custom_objects)
    if not model.built and model._input_spec_shapes() is None:
        raise ValueError(
            f"'{filepath}' holds model '{model.name}' ({type(model).__name__}), whose config "
            "does not say its input shape, so its weights cannot be placed. Give the model an "
            "`Input` (or build it in its constructor) before saving it.")
    _load_into(model, tensors, filepath, ignored_prefix="optimizer/")
    if compile_config is not None:
        _compile_from_file(model, filepath, compile_config, tensors, custom_objects)
    return model


def _rebuild_model(filepath: str, config, custom_objects):
    """The (unbuilt) model that the `model_config` entry describes; errors name the file and
    the entry."""
    from .. import saving
    from ..models._model import Model

    where = f"'{filepath}': its metadata entry 'model_config'"
    if config is None:
        raise ValueError(f"{where} is missing: the file holds no model architecture.")
    if not isinstance(config, dict):
        raise ValueError(f"{where} should be a serialized model (a JSON object); received "
                         f"{type(config).__name__}.")
    try:
        model = saving.deserialize(config, custom_objects=custom_objects)
    except RecursionError:
        raise ValueError(f"{where} is nested too deeply to be a model architecture.") from None
    except Exception as e:
        raise ValueError(f"{where} cannot be rebuilt into a model: {e}") from e
    if not isinstance(model, Model):
        raise ValueError(f"{where} describes a {type(model).__name__}, not a model.")
    return model


def _compile_from_file(model, filepath: str, compile_config, tensors, custom_objects) -> None:
    """Compiles `model` with the arguments of the `compile_config` entry, then restores the
    optimizer state; errors name the file and the entry."""
    where = f"'{filepath}': its metadata entry 'compile_config'"
    if not isinstance(compile_config, dict):
        raise ValueError(f"{where} should be a JSON object of compile() arguments; received "
                         f"{type(compile_config).__name__}.")
    try:
        model.compile(**_spec_from_json(compile_config, custom_objects))
    except RecursionError:
        raise ValueError(f"{where} is nested too deeply to be compile() arguments.") from None
    except Exception as e:
        raise ValueError(f"{where} cannot be used to compile the model: {e}") from e
    _restore_optimizer_state(model._trainer, filepath, tensors)


def _restore_optimizer_state(trainer, filepath: str, tensors) -> None:
    """Puts the file's `optimizer/...` tensors into the trainer's optimizer state, when the file
    holds any (a model saved before its first step has none); they must match the state of the
    optimizer compiled from the file exactly."""
    template = trainer.optimizer_state_template()
    flat = jax.tree_util.tree_flatten_with_path(template)[0]
    keys = [f"optimizer/{jax.tree_util.keystr(path)}" for path, _ in flat]
    stored = {k for k in tensors if k.startswith("optimizer/")}
    if not stored:
        return
    missing, extra = sorted(set(keys) - stored), sorted(stored - set(keys))
    if missing or extra:
        raise ValueError(f"'{filepath}' holds optimizer state that does not fit the optimizer "
                         f"its compile_config names: missing {missing[:3]}, unexpected "
                         f"{extra[:3]}.")
    leaves = []
    for key, (_, leaf) in zip(keys, flat):
        value = _scalar_fix(tensors[key], leaf.shape)
        if tuple(value.shape) != tuple(leaf.shape):
            raise ValueError(f"Optimizer state '{key}' in '{filepath}' has shape "
                             f"{tuple(value.shape)}; this model's optimizer expects "
                             f"{tuple(leaf.shape)}.")
        leaves.append(value)
    trainer.opt_state = jax.device_put(jax.tree_util.tree_unflatten(
        jax.tree_util.tree_structure(template),
        [v.astype(leaf.dtype, copy=False) for v, (_, leaf) in zip(leaves, flat)]))
