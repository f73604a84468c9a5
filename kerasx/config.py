"""`kerasx.config` (Keras 3's `keras.config`): kerasx's global settings.

    kerasx.config.set_floatx("bfloat16")          # new layers default to bfloat16
    kerasx.config.set_image_data_format("channels_first")
    kerasx.config.set_epsilon(1e-5)               # the fuzz factor of losses and metrics

Each setting is read where it applies, when that code runs or is traced: `floatx` gives the
dtype policy of layers created without `dtype=` (when no global policy is set) and the default
dtype of ops; `image_data_format` the `data_format` of image layers created without one;
`epsilon` the clipping/fuzz constant of losses, metrics and ops that Keras reads from
`backend.epsilon()`. Already created layers and already compiled steps keep what they read.
kerasx runs on JAX only: `set_backend` accepts "jax" alone.
"""


from . import _settings
from .dtype_policies import dtype_policy as dtype_policy
from .dtype_policies import set_dtype_policy as set_dtype_policy
from .utils._misc import disable_interactive_logging as disable_interactive_logging
from .utils._misc import enable_interactive_logging as enable_interactive_logging
from .utils._misc import is_interactive_logging_enabled as is_interactive_logging_enabled

_FLOATX_VALUES = ("bfloat16", "float16", "float32", "float64")
_BACKENDS = ("tensorflow", "jax", "torch", "numpy", "openvino")


def backend() -> str:
    """The backend: always "jax"."""
    return "jax"


def set_backend(backend: str) -> None:
    """Keras's backend switch; kerasx runs on JAX only, so only "jax" is accepted (a no-op).

    Args:
        backend: the backend name.
    """
    if backend == "jax":
        return
    if backend not in _BACKENDS:
        raise ValueError(f"Available backends are {_BACKENDS}. Received: backend={backend!r}")
    raise ValueError(
        f"kerasx runs on JAX only: it cannot switch to the {backend!r} backend. Use Keras 3 "
        f"itself for that backend (`keras.config.set_backend({backend!r})`). "
        f"Received: backend={backend!r}")


def floatx() -> str:
    """The default float dtype: that of the default dtype policy and of ops' float outputs."""
    return _settings.FLOATX


def set_floatx(value: str) -> None:
    """Sets the default float dtype.

    Layers created afterwards without `dtype=` (and with no global dtype policy set) compute and
    keep their weights in it. "float64" needs JAX's x64 mode (`jax.config.update(
    "jax_enable_x64", True)`), as JAX otherwise stores float64 arrays as float32.

    Args:
        value: "bfloat16", "float16", "float32" or "float64".
    """
    if value not in _FLOATX_VALUES:
        raise ValueError(f"Unknown `floatx` value: {value}. Expected one of "
                         f"{set(_FLOATX_VALUES)}")
    _settings.FLOATX = str(value)


def epsilon() -> float:
    """The fuzz factor of Keras's losses, metrics and ops (default 1e-7)."""
    return _settings.EPSILON


def set_epsilon(value: float) -> None:
    """Sets the fuzz factor that losses, metrics and ops read when they are traced.

    Args:
        value: a float, such as 1e-5.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"`epsilon` must be a float. Received: value={value!r}")
    _settings.EPSILON = value


def image_data_format() -> str:
    """The default `data_format` of image layers and ops: "channels_last" unless set."""
    return _settings.IMAGE_DATA_FORMAT


def set_image_data_format(data_format: str) -> None:
    """Sets the `data_format` that image layers created afterwards take by default.

    Args:
        data_format: "channels_last" or "channels_first".
    """
    value = str(data_format).lower()
    if value not in ("channels_first", "channels_last"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', "
                         f"'channels_last'}}. Received: data_format={data_format}")
    _settings.IMAGE_DATA_FORMAT = value


def enable_flash_attention() -> None:
    """Lets attention layers use flash attention where it can run (the default)."""
    _settings.FLASH_ATTENTION = None


def disable_flash_attention() -> None:
    """Stops attention layers created without `flash_attention=` from using flash attention."""
    _settings.FLASH_ATTENTION = False


def is_flash_attention_enabled():
    """False when disabled with `disable_flash_attention`, else None (enabled where possible),
    as Keras returns."""
    return _settings.FLASH_ATTENTION


def enable_traceback_filtering() -> None:
    """Keras's traceback filtering switch (kerasx keeps the flag; it filters no frames)."""
    _settings.TRACEBACK_FILTERING = True


def disable_traceback_filtering() -> None:
    """Keras's traceback filtering switch (kerasx keeps the flag; it filters no frames)."""
    _settings.TRACEBACK_FILTERING = False


def is_traceback_filtering_enabled() -> bool:
    """Whether traceback filtering is on (the flag `enable/disable_traceback_filtering` set)."""
    return _settings.TRACEBACK_FILTERING


def enable_unsafe_deserialization() -> None:
    """Allows loading configs that hold Python code (Keras's `safe_mode=False` everywhere).

    kerasx writes no Python bytecode into configs (a `Lambda` holding a lambda is saved without
    its code), so this only sets the flag that `kerasx.saving` exposes.
    """
    _settings.UNSAFE_DESERIALIZATION = True


def is_nnx_enabled() -> bool:
    """Whether Keras's Flax-NNX mode is on: always False (kerasx layers are their own pure
    init/apply pairs and need no NNX)."""
    return False


def max_epochs():
    """The cap on the epochs of any `fit` (None: no cap; env `KERAS_MAX_EPOCHS`)."""
    return _settings.MAX_EPOCHS


def set_max_epochs(max_epochs) -> None:
    """Caps the epochs of every `fit` (a debugging aid); None removes the cap.

    Args:
        max_epochs: a positive integer or None.
    """
    _settings.MAX_EPOCHS = _positive_or_none("max_epochs", max_epochs)


def max_steps_per_epoch():
    """The cap on the steps of one epoch of `fit`/`evaluate`/`predict` (None: no cap; env
    `KERAS_MAX_STEPS_PER_EPOCH`)."""
    return _settings.MAX_STEPS_PER_EPOCH


def set_max_steps_per_epoch(max_steps_per_epoch) -> None:
    """Caps the steps of every epoch of `fit`/`evaluate`/`predict`; None removes the cap.

    Args:
        max_steps_per_epoch: a positive integer or None.
    """
    _settings.MAX_STEPS_PER_EPOCH = _positive_or_none("max_steps_per_epoch", max_steps_per_epoch)


def _positive_or_none(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer or None. "
                         f"Received: {name}={value!r}")
    return value
