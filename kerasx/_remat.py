"""Rematerialization (gradient checkpointing): Keras 3's `RematScope` and `remat`.

Rematerialization trades compute for memory: the activations a layer computes are not kept
for the backward pass but computed again from the layer's inputs when the gradient needs them.
Underneath it is `jax.checkpoint`.

Layers read the active scope once, when they are created (`Layer.__init__` stores
`get_current_remat_mode()`, as Keras's `Operation.__init__` does); where a layer runs
(`kerasx.layers._base.apply_layer`), `rematerialized_apply` wraps its `apply` as the mode says:

- "full": the whole `apply` of every layer created in the scope is checkpointed;
- "activations": only the layer's `activation` (layers that have one, such as `Dense`);
- "larger_than": the layer's `apply` when its outputs hold more than `output_size_threshold`
  elements (all outputs, batch axis included, as Keras counts them);
- "list_of_layers": the `apply` of the layers whose names are in `layer_names`;
- None: nothing (a scope that switches rematerialization off for the layers made inside it).

Rematerialization only matters under differentiation, so a call on concrete arrays outside
any JAX transformation runs the function as it is.

What it saves depends on the backend's compiler. Measured on XLA:CPU (jax 0.10, the compiled
train step's `memory_analysis().temp_size_in_bytes`, 24 `Dense(256)` layers, batch 2048): XLA
keeps each Dense's matmul output and recomputes only the elementwise ops after it, so "full"
keeps two activations per layer: with GELU 192.5 MiB -> 96.5 MiB, with SiLU 144.5 -> 96.5, but
with tanh (whose gradient needs only its output, one activation per layer) 50.5 -> 96.5.
"""

import functools
import math
import numbers
import threading
from collections import namedtuple
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend.core import jaxpr_as_fun

from ._variables import collect_losses, record_loss

_MODES = ("full", "activations", "larger_than", "list_of_layers", None)

_local = threading.local()  # one stack of scopes per thread, as Keras's global state


def _scope_stack():
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


class RematScope:
    """A context manager that enables rematerialization for the layers created inside it.

    Rematerialization (gradient checkpointing) trades memory for compute: a layer's
    intermediate activations are recomputed in the backward pass instead of being stored.
    Use it where the layers are created (`Dense(...)`, a model's layers): the mode is read
    when a layer is created and applies wherever the layer later runs (`fit`, `apply`, under
    `jax.grad`). Scopes nest; the innermost one wins.

    Args:
        mode: the rematerialization mode:
            - "full": every layer created in the scope is rematerialized;
            - "activations": the activation of layers that have an `activation` (e.g.
              `Dense(..., activation="relu")`) is rematerialized;
            - "larger_than": layers whose outputs have more than `output_size_threshold`
              elements (batch axis included) are rematerialized;
            - "list_of_layers": the layers named in `layer_names` are rematerialized;
            - None: no rematerialization.
        output_size_threshold: the output size (number of elements) above which a layer is
            rematerialized in "larger_than" mode. Default 1024.
        layer_names: the layer names for "list_of_layers" mode (a list of strings). Default
            an empty list.

    Example:
        with kerasx.RematScope(mode="list_of_layers", layer_names=["dense_1"]):
            model = kerasx.Sequential([
                kerasx.layers.Dense(512, activation="relu", name="dense_1"),
                kerasx.layers.Dense(10, name="dense_2"),
            ])
    """

    def __init__(self, mode="full", output_size_threshold=1024, layer_names=None):
        if not any(mode is m or (isinstance(mode, str) and mode == m) for m in _MODES):
            raise ValueError(
                f"Invalid mode {mode!r}. Supported modes are: 'full', 'activations', "
                f"'larger_than', 'list_of_layers', or None. Received: mode={mode!r}")
        if (isinstance(output_size_threshold, bool)
                or not isinstance(output_size_threshold, numbers.Real)
                or math.isnan(output_size_threshold) or output_size_threshold < 0):
            raise ValueError(
                "Received an invalid value for `output_size_threshold`, expected a "
                "non-negative number (a count of output elements). "
                f"Received: output_size_threshold={output_size_threshold!r}")
        if layer_names is None:
            layer_names = []
        elif isinstance(layer_names, str):
            raise ValueError(
                "Received an invalid value for `layer_names`, expected a list of layer names. "
                f"Received: layer_names={layer_names!r} (a single string; write "
                f"layer_names=[{layer_names!r}])")
        else:
            try:
                layer_names = list(layer_names)
            except TypeError:
                raise ValueError(
                    "Received an invalid value for `layer_names`, expected a list of layer "
                    f"names. Received: layer_names={layer_names!r}") from None
            bad = [n for n in layer_names if not isinstance(n, str)]
            if bad:
                raise ValueError(
                    "Received an invalid value for `layer_names`, expected a list of layer "
                    f"names (strings). Received: layer_names={layer_names!r}")
        self.mode = mode
        self.output_size_threshold = output_size_threshold
        self.layer_names = layer_names
        self._pop_on_exit = False

    def __enter__(self):
        _scope_stack().append(self)
        self._pop_on_exit = True
        return self

    def __exit__(self, *exc):
        if self._pop_on_exit:
            stack = _scope_stack()
            if stack and stack[-1] is self:
                stack.pop()
            elif self in stack:
                stack.remove(self)
            self._pop_on_exit = False
        return False

    def __repr__(self):
        return (f"RematScope(mode={self.mode!r}, output_size_threshold="
                f"{self.output_size_threshold!r}, layer_names={self.layer_names!r})")


RematMode = namedtuple("RematMode", ["mode", "output_size_threshold", "layer_names"])


def get_current_remat_mode() -> Optional[RematMode]:
    """The innermost active `RematScope` as a `RematMode`, or None outside every scope."""
    stack = _scope_stack()
    if not stack:
        return None
    scope = stack[-1]
    return RematMode(scope.mode, scope.output_size_threshold, list(scope.layer_names))


def remat(f: Callable) -> Callable:
    """Applies rematerialization to a function or layer: `jax.checkpoint` in kerasx.

    The returned function computes what `f` computes; under `jax.grad` (and so in `fit`)
    the activations inside `f` are not stored for the backward pass but recomputed from its
    inputs. Array arguments (at any depth of lists, tuples and dicts) are traced; other
    arguments (flags, strings, Python numbers) are passed to `f` as they are. Losses that
    layers add inside `f` (`add_loss`, activity regularizers) reach the enclosing
    `collect_losses`/`fit` as usual.

    Args:
        f: a callable (a function, or a built layer) to rematerialize.

    Returns:
        A function with the signature of `f`.

    Example:
        class Block(kerasx.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.inner = kerasx.remat(self.intermediate)

            def intermediate(self, x):
                for _ in range(4):
                    x = x + jnp.sin(x)
                return x

            def call(self, inputs):
                return self.inner(inputs)
    """
    if not callable(f):
        raise TypeError(f"`remat` expects a callable (a function or a layer). Received: f={f!r}")

    def rematerialized(*args, **kwargs):
        return _checkpoint_call(f, args, kwargs)

    functools.update_wrapper(rematerialized, f, updated=())  # a layer has no __name__: skipped
    return rematerialized


# ------------------------------------------------------------------------------ internals
def _is_array(x) -> bool:
    return isinstance(x, (jax.Array, np.ndarray, np.generic))


def _tracing(dynamic) -> bool:
    """Whether a JAX transformation is tracing: one of the arrays is a tracer, or an array
    made here would be one (arrays closed over by `f` under `jit`/`grad`)."""
    return (any(isinstance(x, jax.core.Tracer) for x in dynamic)
            or isinstance(jnp.zeros(()), jax.core.Tracer))


def _split(args, kwargs):
    """The arrays among `(args, kwargs)` (traced by the checkpoint), and a function that puts
    new values for them back among the other arguments (passed through unchanged)."""
    leaves, treedef = jax.tree.flatten((args, kwargs))
    is_dyn = [_is_array(leaf) for leaf in leaves]
    dynamic = [leaf for leaf, d in zip(leaves, is_dyn) if d]

    def rebuild(values):
        it = iter(values)
        return jax.tree.unflatten(treedef, [next(it) if d else leaf
                                            for leaf, d in zip(leaves, is_dyn)])

    return dynamic, rebuild


def _pure(fn, rebuild):
    """`fn` as a function of the argument arrays alone, returning `(result, added_losses)`:
    losses recorded inside the checkpoint leave it as outputs (never as leaked tracers)."""

    def pure(dynamic):
        args, kwargs = rebuild(dynamic)
        with collect_losses() as added:
            out = fn(*args, **kwargs)
        return out, list(added)

    return pure


def _finish(out_and_losses):
    out, added = out_and_losses
    for loss in added:
        record_loss(loss)
    return out


def _checkpoint_call(fn, args, kwargs):
    """`fn(*args, **kwargs)` under `jax.checkpoint` (run as is outside any transformation)."""
    dynamic, rebuild = _split(args, kwargs)
    if not _tracing(dynamic):
        return fn(*args, **kwargs)
    return _finish(jax.checkpoint(_pure(fn, rebuild))(dynamic))


def _output_size(outputs) -> int:
    """Keras's count for "larger_than": the elements of every array output (0 for others)."""
    return sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(outputs)
               if hasattr(leaf, "shape"))


def _call_if_larger(fn, threshold, args, kwargs):
    """A layer's `apply` (returning `(outputs, state)`), checkpointed when its outputs hold
    more than `threshold` elements. The function is traced once: its jaxpr gives the output
    size and then runs, checkpointed or not (so side effects of tracing happen once)."""
    dynamic, rebuild = _split(args, kwargs)
    if not _tracing(dynamic):
        return fn(*args, **kwargs)
    closed, shapes = jax.make_jaxpr(_pure(fn, rebuild), return_shape=True)(dynamic)
    run = jaxpr_as_fun(closed)
    if _output_size(shapes[0][0]) > threshold:
        run = jax.checkpoint(run)
    flat = run(*jax.tree.leaves(dynamic))
    return _finish(jax.tree.unflatten(jax.tree.structure(shapes), flat))


_activation_swap = threading.RLock()  # two threads tracing one layer never interleave swaps


def _with_remat_activation(layer, fn):
    """`fn` run while the layer's `activation` is rematerialized (Keras's "activations": the
    attribute is swapped for the duration of the call, which only traces or runs `fn`)."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with _activation_swap:
            original = layer.activation
            object.__setattr__(layer, "activation", remat(original))  # not tracked as a sublayer
            try:
                return fn(*args, **kwargs)
            finally:
                object.__setattr__(layer, "activation", original)

    return call


def rematerialized_apply(layer: Any, apply_fn: Callable) -> Callable:
    """`apply_fn` (the layer's `apply`, returning `(outputs, state)`) wrapped as the layer's
    remat mode says.

    The mode is the `RematMode` the layer stored when it was created (`layer._remat_mode`);
    without one, `apply_fn` itself is returned.
    """
    mode = getattr(layer, "_remat_mode", None)
    if mode is None or mode.mode is None:
        return apply_fn
    if mode.mode == "full":
        return remat(apply_fn)
    if mode.mode == "list_of_layers":
        return remat(apply_fn) if layer.name in mode.layer_names else apply_fn
    if mode.mode == "larger_than":
        threshold = mode.output_size_threshold
        return functools.wraps(apply_fn)(
            lambda *args, **kwargs: _call_if_larger(apply_fn, threshold, args, kwargs))
    if mode.mode == "activations" and getattr(layer, "activation", None) is not None:
        return _with_remat_activation(layer, apply_fn)
    return apply_fn
