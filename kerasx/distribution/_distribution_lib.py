"""Keras 3's distribution API (`keras.distribution`) on `jax.sharding`.

A `Distribution` says where weights and batches live: a `DeviceMesh` (a named grid of devices,
a `jax.sharding.Mesh`), and a `TensorLayout` (named mesh axes per array axis, a
`jax.sharding.NamedSharding`) for each weight and for the data. `DataParallel` replicates the
weights and splits every batch along the mesh's batch axis; `ModelParallel` also splits the
weights that a `LayoutMap` (regular expressions over weight paths) names.

kerasx applies the distribution that is set when a model is built (weights are created
already sharded, by a jitted init with output shardings) and when `fit` / `evaluate` /
`predict` run (the compiled executions take sharded weights and batches, and keep the weights
and the optimizer state in their layouts). The only global state is the current distribution,
as in Keras.
"""

import collections
import contextlib
import math
import os
import re
import warnings
from typing import Any, Optional, Sequence

import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

DEFAULT_BATCH_DIM_NAME = "batch"
_current = {"distribution": None}  # Keras's global attribute "distribution"


# ---------------------------------------------------------------------- devices and processes
def list_devices(device_type: Optional[str] = None):
    """The devices available for distributed computation, as `"platform:id"` strings
    (global devices in a multi-process job).

    Args:
        device_type: `"cpu"`, `"gpu"` or `"tpu"`; by default the accelerators if there are any,
            else the CPUs.
    """
    return [f"{d.platform}:{d.id}" for d in _jax_devices(device_type)]


def get_device_count(device_type: Optional[str] = None) -> int:
    """The number of devices of `device_type` (default: accelerators if any, else CPUs)."""
    return len(_jax_devices(device_type))


def _jax_devices(device_type):
    if device_type is None:
        return jax.devices()
    kind = str(device_type).lower()
    if kind not in ("cpu", "gpu", "tpu", "cuda", "rocm"):
        raise ValueError(f"Expected `device_type` to be 'cpu', 'gpu' or 'tpu'. "
                         f"Received: device_type={device_type!r}")
    try:
        return jax.devices(kind)
    except RuntimeError as e:
        raise ValueError(f"No {kind} devices are available here ({e}). The devices present "
                         f"are {[f'{d.platform}:{d.id}' for d in jax.devices()]}.") from None


def initialize(job_addresses: Optional[str] = None, num_processes: Optional[int] = None,
               process_id: Optional[int] = None):
    """Joins this process to a multi-process job (`jax.distributed.initialize`).

    Call it first thing in every process, with the same `job_addresses` and `num_processes`
    and each process's own `process_id`; `jax.devices()` then lists the devices of every
    process, and a `DeviceMesh` spans them all.

    Args:
        job_addresses: the coordinator's `"host:port"` (process 0's), or all processes'
            addresses comma-separated (the first is the coordinator). Default: the environment
            variable `KERAS_DISTRIBUTION_JOB_ADDRESSES`.
        num_processes: the number of processes (`KERAS_DISTRIBUTION_NUM_PROCESSES`).
        process_id: this process's index in `0 .. num_processes - 1`
            (`KERAS_DISTRIBUTION_PROCESS_ID`).
    """
    env = os.environ
    if job_addresses is None:
        job_addresses = env.get("KERAS_DISTRIBUTION_JOB_ADDRESSES")
    if num_processes is None and "KERAS_DISTRIBUTION_NUM_PROCESSES" in env:
        num_processes = int(env["KERAS_DISTRIBUTION_NUM_PROCESSES"])
    if process_id is None and "KERAS_DISTRIBUTION_PROCESS_ID" in env:
        process_id = int(env["KERAS_DISTRIBUTION_PROCESS_ID"])
    coordinator = job_addresses
    if job_addresses and "," in job_addresses:
        addresses = [a.strip() for a in job_addresses.split(",")]
        if num_processes is not None and num_processes != len(addresses):
            raise ValueError(f"`job_addresses` lists {len(addresses)} jobs ({addresses}) but "
                             f"num_processes={num_processes}.")
        coordinator = addresses[0]
    if num_processes is not None and (not isinstance(num_processes, int) or num_processes < 1):
        raise ValueError(f"Expected `num_processes` to be a positive integer. "
                         f"Received: num_processes={num_processes!r}")
    if process_id is not None and num_processes is not None and \
            not 0 <= process_id < num_processes:
        raise ValueError(f"Expected `process_id` in 0..{num_processes - 1}. "
                         f"Received: process_id={process_id!r}")
    try:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                   process_id=process_id)
    except ValueError as e:
        if coordinator is None:  # JAX found no cluster (TPU pod, SLURM, MPI) to ask
            raise ValueError(
                "kerasx.distribution.initialize() needs the coordinator's address: pass "
                "`job_addresses='host:port'` (process 0's address) with `num_processes` and "
                "`process_id`, or set KERAS_DISTRIBUTION_JOB_ADDRESSES, "
                "KERAS_DISTRIBUTION_NUM_PROCESSES and KERAS_DISTRIBUTION_PROCESS_ID. "
                f"(JAX: {e})") from None
        raise


# ---------------------------------------------------------------------- mesh and layouts
class DeviceMesh:
    """A named grid of devices (a `jax.sharding.Mesh`).

    Args:
        shape: the grid's shape, e.g. `(8,)` for data parallelism or `(2, 4)` for data and
            model parallelism.
        axis_names: a name per axis, e.g. `("batch", "model")`; layouts refer to these.
        devices: the devices (JAX devices or `"cpu:0"`-style names); default all of
            `list_devices()`.
    """

    def __init__(self, shape, axis_names, devices=None):
        if not shape or not axis_names:
            raise ValueError(f"DeviceMesh needs a non-empty `shape` and `axis_names`. "
                             f"Received: shape={shape}, axis_names={axis_names}")
        shape, axis_names = tuple(int(s) for s in shape), tuple(axis_names)
        if len(shape) != len(axis_names):
            raise ValueError(f"DeviceMesh's `shape` and `axis_names` must have the same length. "
                             f"Received: shape={shape}, axis_names={axis_names}")
        if len(set(axis_names)) != len(axis_names):
            raise ValueError(f"DeviceMesh's `axis_names` must be distinct. Received: {axis_names}")
        if devices is None:
            present = jax.devices()
            if math.prod(shape) > len(present):
                raise ValueError(
                    f"DeviceMesh of shape {shape} needs {math.prod(shape)} devices, but only "
                    f"{len(present)} are present ({list_devices()}). On a CPU, "
                    "XLA_FLAGS=--xla_force_host_platform_device_count=N (set before importing "
                    "jax) makes N host devices.")
            devices = present[:math.prod(shape)] if math.prod(shape) < len(present) else present
        devices = np.asarray([_to_jax_device(d) for d in np.ravel(np.asarray(devices,
                                                                             dtype=object))],
                             dtype=object)
        if math.prod(shape) != devices.size:
            raise ValueError(f"DeviceMesh of shape {shape} needs {math.prod(shape)} devices; "
                             f"received {devices.size} devices.")
        self._shape, self._axis_names = shape, axis_names
        self._devices = devices.reshape(shape)
        self._backend_mesh = None

    @property
    def shape(self):
        return self._shape

    @property
    def axis_names(self):
        return self._axis_names

    @property
    def devices(self):
        return self._devices

    @property
    def backend_mesh(self) -> jax.sharding.Mesh:
        if self._backend_mesh is None:
            self._backend_mesh = jax.sharding.Mesh(self._devices, self._axis_names)
        return self._backend_mesh

    def axis_size(self, name) -> int:
        return self._shape[self._axis_names.index(name)]

    def __repr__(self):
        return f"<DeviceMesh shape={self.shape}, axis_names={self.axis_names}>"


def _to_jax_device(d):
    if isinstance(d, str):
        platform, _, index = d.partition(":")
        for dev in jax.devices():
            if dev.platform == platform.lower() and str(dev.id) == index:
                return dev
        raise ValueError(f"No device named {d!r}; the devices are {list_devices()}.")
    return d


class TensorLayout:
    """How one array is laid out on a mesh: a mesh axis name (or None) per array axis
    (a `jax.sharding.NamedSharding`).

    Args:
        axes: per array axis, the mesh axis it is split along, or None (not split).
        device_mesh: the `DeviceMesh`; a `LayoutMap` fills it in.
    """

    def __init__(self, axes, device_mesh: Optional[DeviceMesh] = None):
        self._axes = tuple(axes)
        self._device_mesh = device_mesh
        self._validate_axes()

    @property
    def axes(self):
        return self._axes

    @property
    def device_mesh(self):
        return self._device_mesh

    @device_mesh.setter
    def device_mesh(self, device_mesh):
        if self._device_mesh is not None:
            raise ValueError(f"This TensorLayout already has a device mesh ({self._device_mesh}).")
        self._device_mesh = device_mesh
        self._validate_axes()

    @property
    def backend_layout(self) -> NamedSharding:
        if self._device_mesh is None:
            raise ValueError(f"TensorLayout {self.axes} has no device mesh yet; pass "
                             "`device_mesh=` or put it in a LayoutMap.")
        return NamedSharding(self._device_mesh.backend_mesh, PartitionSpec(*self._axes))

    def _validate_axes(self):
        if self._device_mesh is not None:
            valid = set(self._device_mesh.axis_names)
            used = [a for axis in self._axes if axis is not None
                    for a in (axis if isinstance(axis, tuple) else (axis,))]
            unknown = sorted(set(used) - valid)
            if unknown:
                raise ValueError(
                    f"TensorLayout axes {self._axes} name mesh axes {unknown} that the mesh "
                    f"does not have; its axes are {self._device_mesh.axis_names}.")

    def __repr__(self):
        return f"<TensorLayout axes={self.axes}, device_mesh={self.device_mesh}>"


class LayoutMap(collections.abc.MutableMapping):
    """Weight paths → `TensorLayout`s. Keys are regular expressions matched (fully) against a
    weight's path, e.g. `layout_map[".*dense.*kernel"] = (None, "model")`; a tuple of axis
    names stands for a `TensorLayout` on this map's mesh.

    Args:
        device_mesh: the `DeviceMesh` the layouts refer to.
    """

    def __init__(self, device_mesh: Optional[DeviceMesh] = None):
        self._layout_map = collections.OrderedDict()
        self._device_mesh = device_mesh

    def __getitem__(self, key):
        if key in self._layout_map:
            return self._layout_map[key]
        matches = [p for p in self._layout_map if re.fullmatch(p, key)]
        if len(matches) > 1:
            raise ValueError(f"Path '{key}' matches several LayoutMap keys: {matches}. Make each "
                             "weight path match at most one key.")
        return self._layout_map[matches[0]] if matches else None

    def __setitem__(self, key, layout):
        if key in self._layout_map:
            raise ValueError(f"'{key}' is already in the LayoutMap (as {self._layout_map[key]}); "
                             "keys must not repeat.")
        if isinstance(layout, (tuple, list)):
            layout = TensorLayout(tuple(layout))
        if not isinstance(layout, TensorLayout):
            raise ValueError(f"A LayoutMap value must be a TensorLayout or a tuple of axis names. "
                             f"Received: {layout!r} of type {type(layout).__name__}")
        if layout.device_mesh is None and self._device_mesh is not None:
            layout.device_mesh = self._device_mesh
        self._layout_map[key] = layout

    def __delitem__(self, key):
        return self._layout_map.pop(key)

    def __len__(self):
        return len(self._layout_map)

    def __iter__(self):
        return iter(self._layout_map)

    @property
    def device_mesh(self):
        return self._device_mesh


# ---------------------------------------------------------------------- distributions
class Distribution:
    """Where weights and data live. Subclasses say which `TensorLayout` a weight
    (`get_variable_layout`) and a batch (`get_data_layout`) get.

    Args:
        device_mesh: the `DeviceMesh`.
        batch_dim_name: the mesh axis that batches are split along.
        auto_shard_dataset: whether each process feeds its own share of the data (kerasx's
            array and iterable inputs are always each process's share; kept for Keras).
    """

    def __init__(self, device_mesh, batch_dim_name=None, auto_shard_dataset=True):
        self._device_mesh = device_mesh
        self._batch_dim_name = batch_dim_name
        self._auto_shard_dataset = auto_shard_dataset
        self._num_processes = jax.process_count()
        self._process_id = jax.process_index()
        self._is_multi_process = self._num_processes > 1

    @property
    def device_mesh(self):
        return self._device_mesh

    @property
    def batch_dim_name(self):
        return self._batch_dim_name

    @property
    def num_processes(self):
        return self._num_processes

    @property
    def num_model_replicas(self):
        raise NotImplementedError

    @property
    def data_shard_id(self):
        replicas = self.num_model_replicas
        if replicas >= self.num_processes:
            return self._process_id
        return self._process_id // (self.num_processes // replicas)

    @property
    def auto_shard_dataset(self):
        return self._auto_shard_dataset

    @auto_shard_dataset.setter
    def auto_shard_dataset(self, value):
        self._auto_shard_dataset = value

    def get_data_layout(self, data_shape) -> TensorLayout:
        axes = [None] * len(data_shape)
        if axes:
            axes[0] = self.batch_dim_name
        return TensorLayout(axes, self.device_mesh)

    def get_variable_layout(self, variable) -> TensorLayout:
        raise NotImplementedError

    def get_tensor_layout(self, path):
        return None

    def distribute_dataset(self, dataset):
        """The dataset this process feeds: kerasx takes each process's inputs as its share of
        every global batch, so this is the dataset itself."""
        return dataset

    @contextlib.contextmanager
    def scope(self):
        """Makes this the current distribution inside the `with` block."""
        previous = distribution()
        set_distribution(self)
        try:
            yield
        finally:
            set_distribution(previous)

    def __repr__(self):
        return f"<{type(self).__name__} device_mesh={self.device_mesh}>"


class DataParallel(Distribution):
    """Data parallelism: every device holds all the weights; each batch is split along the
    mesh's (first) axis, and the gradients are summed across devices by XLA.

    Args:
        device_mesh: a 1-D `DeviceMesh` (of a multi-axis one the first axis splits the data).
        devices: the devices for a 1-D mesh (instead of `device_mesh`).
        auto_shard_dataset: see `Distribution`.
    """

    def __init__(self, device_mesh=None, devices=None, auto_shard_dataset=True):
        if device_mesh is not None and devices is not None:
            raise ValueError("Pass DataParallel either `device_mesh` or `devices`, not both.")
        if device_mesh is not None:
            if not isinstance(device_mesh, DeviceMesh):
                raise ValueError(f"Expected `device_mesh` to be a DeviceMesh. Received: "
                                 f"{device_mesh!r} of type {type(device_mesh).__name__}")
            if len(device_mesh.shape) != 1:
                warnings.warn(f"DataParallel expects a 1-D mesh; received shape "
                              f"{device_mesh.shape}. Its first axis "
                              f"'{device_mesh.axis_names[0]}' splits the data.", stacklevel=2)
            batch = device_mesh.axis_names[0]
        else:
            devs = jax.devices() if devices is None else list(devices)
            device_mesh = DeviceMesh((len(devs),), (DEFAULT_BATCH_DIM_NAME,), devs)
            batch = DEFAULT_BATCH_DIM_NAME
        super().__init__(device_mesh, batch, auto_shard_dataset)

    @property
    def num_model_replicas(self):
        return self.device_mesh.devices.size

    def get_variable_layout(self, variable):
        layout = getattr(variable, "_layout", None)
        if layout is not None:
            return layout
        return TensorLayout([None] * len(variable.shape), self.device_mesh)


class ModelParallel(Distribution):
    """Model (and data) parallelism: the weights a `LayoutMap` names are split across the
    mesh as it says (the rest replicated), and batches along `batch_dim_name`.

    Args:
        layout_map: a `LayoutMap` of weight-path patterns to layouts (its mesh is the mesh).
        batch_dim_name: the mesh axis batches are split along (default its first axis).
        auto_shard_dataset: see `Distribution`.
    """

    def __init__(self, *, layout_map=None, batch_dim_name=None, auto_shard_dataset=True,
                 **kwargs):
        kwargs.pop("device_mesh", None)  # Keras takes the mesh from the layout map
        if kwargs:
            raise TypeError(f"ModelParallel got unexpected arguments: {sorted(kwargs)}")
        if layout_map is None:
            raise ValueError("ModelParallel needs a `layout_map` (a LayoutMap).")
        if not isinstance(layout_map, LayoutMap):
            raise ValueError(f"Expected `layout_map` to be a LayoutMap. Received: "
                             f"{layout_map!r} of type {type(layout_map).__name__}")
        if layout_map.device_mesh is None:
            raise ValueError("The LayoutMap given to ModelParallel has no device mesh; create it "
                             "as LayoutMap(device_mesh).")
        mesh = layout_map.device_mesh
        batch_dim_name = batch_dim_name or mesh.axis_names[0]
        if batch_dim_name not in mesh.axis_names:
            raise ValueError(f"`batch_dim_name`={batch_dim_name!r} is not an axis of the mesh "
                             f"{mesh.axis_names}.")
        super().__init__(mesh, batch_dim_name, auto_shard_dataset)
        self._layout_map = layout_map

    @property
    def num_model_replicas(self):
        return self.device_mesh.axis_size(self.batch_dim_name)

    def get_variable_layout(self, variable):
        layout = getattr(variable, "_layout", None)
        if layout is not None:
            return layout
        layout = self._layout_map[variable.path]
        if layout is None and getattr(variable, "_paths", None):
            for path in variable._paths[1:]:  # other spellings of the path (see `WeightRef`)
                layout = self._layout_map[path]
                if layout is not None:
                    break
        if layout is not None:
            return layout
        return TensorLayout([None] * len(variable.shape), self.device_mesh)

    def get_tensor_layout(self, path):
        return self._layout_map[path]


def distribution() -> Optional[Distribution]:
    """The current distribution (None: everything on one device)."""
    return _current["distribution"]


def set_distribution(value: Optional[Distribution]):
    """Sets the current distribution (None to go back to one device)."""
    if value is not None and not isinstance(value, Distribution):
        raise ValueError(f"Expected a Distribution (DataParallel, ModelParallel) or None. "
                         f"Received: {value!r} of type {type(value).__name__}")
    _current["distribution"] = value


def distribute_tensor(tensor, layout):
    """`tensor` laid out as `layout` (a `TensorLayout` or a `jax.sharding.Sharding`): a
    sharding constraint inside a jitted function, a transfer outside."""
    sharding = layout.backend_layout if isinstance(layout, TensorLayout) else layout
    if isinstance(tensor, jax.core.Tracer):
        return jax.lax.with_sharding_constraint(tensor, sharding)
    if isinstance(tensor, jax.Array) and tensor.sharding == sharding:
        return tensor
    return jax.device_put(tensor, sharding)
