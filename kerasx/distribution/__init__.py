"""Keras 3's `keras.distribution`: device meshes, layouts, and data / model parallelism on
`jax.sharding`. See `_distribution_lib`."""

from ._distribution_lib import DataParallel as DataParallel
from ._distribution_lib import DeviceMesh as DeviceMesh
from ._distribution_lib import Distribution as Distribution
from ._distribution_lib import LayoutMap as LayoutMap
from ._distribution_lib import ModelParallel as ModelParallel
from ._distribution_lib import TensorLayout as TensorLayout
from ._distribution_lib import distribute_tensor as distribute_tensor
from ._distribution_lib import distribution as distribution
from ._distribution_lib import get_device_count as get_device_count
from ._distribution_lib import initialize as initialize
from ._distribution_lib import list_devices as list_devices
from ._distribution_lib import set_distribution as set_distribution
