"""`clone_model` (Keras 3's `keras.models.clone_model`): the same architecture, new weights."""

from typing import Any, Callable, Dict, Optional

from ..layers._base import Layer
from ..saving._serialization import deserialize, serialize
from ._functional import Functional
from ._sequential import Sequential


def _layer_classes(layer: Layer, out: Dict[str, Any]) -> Dict[str, Any]:
    """The classes of `layer` and every layer inside it by name, so that custom classes that
    are not registered can be rebuilt from their configs."""
    out.setdefault(type(layer).__name__, type(layer))
    for _, sub in layer._sublayer_items():
        _layer_classes(sub, out)
    return out


def _default_clone(layer: Layer) -> Layer:
    return type(layer).from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function: Optional[Callable] = None,
                call_function: Optional[Callable] = None, recursive: bool = False, **kwargs):
    """A new model with the architecture of `model` and freshly initialized weights.

    Layers are rebuilt from their configs (`layer.__class__.from_config(layer.get_config())`),
    so no weights are shared with `model`; copy them with
    `clone.set_weights(model.get_weights())` if needed.

    Args:
        model: a `Sequential`, functional or subclassed (config-serializable) model.
        input_tensors: not supported yet (must be None).
        clone_function: `layer -> new layer`, applied to each layer of a `Sequential` (for
            example to share a layer: `lambda layer: layer if layer.name == "emb" else
            layer.__class__.from_config(layer.get_config())`). Not supported for functional
            models yet.
        call_function: not supported yet (must be None).
        recursive: apply `clone_function` inside nested `Sequential` models too.

    Returns:
        The new model (built for the same input shape when `model` knew it).
    """
    if kwargs:
        raise ValueError(f"Unexpected keyword argument(s) for `clone_model`: {sorted(kwargs)}")
    if not isinstance(model, Layer):
        raise ValueError("Expected `model` argument to be a `Model` instance. "
                         f"Received: model={model!r}")
    if input_tensors is not None or call_function is not None:
        raise NotImplementedError(
            "kerasx's `clone_model` does not support `input_tensors` or `call_function` yet. "
            "Received: " + ", ".join(
                f"{k}={v!r}" for k, v in (("input_tensors", input_tensors),
                                          ("call_function", call_function)) if v is not None))
    if clone_function is not None and not callable(clone_function):
        raise ValueError("Expected `clone_function` to be callable. "
                         f"Received: clone_function={clone_function!r}")
    if isinstance(model, Sequential) and (clone_function is not None or recursive):
        return _clone_sequential(model, clone_function or _default_clone, recursive)
    if clone_function is not None and isinstance(model, Functional):
        raise NotImplementedError(
            "kerasx's `clone_model` applies `clone_function` to `Sequential` models only; for "
            f"the functional model '{model.name}', rebuild it from its config or call the "
            "cloned layers on new `Input`s.")
    clone = deserialize(serialize(model), custom_objects=_layer_classes(model, {}))
    if isinstance(clone, Sequential) and clone._input_shape is not None:
        clone.build(clone._input_shape)
    return clone


def _clone_sequential(model: Sequential, clone_function: Callable, recursive: bool):
    layers = []
    for layer in model.layers:
        if recursive and isinstance(layer, Sequential):
            layers.append(_clone_sequential(layer, clone_function, recursive))
        else:
            new = clone_function(layer)
            if not isinstance(new, Layer):
                raise ValueError("Expected `clone_function` to return a Layer. Received: "
                                 f"{new!r} for layer '{layer.name}'")
            layers.append(new)
    clone = Sequential(layers, name=model.name)
    if model._input_shape is not None:
        clone.build(model._input_shape)
    return clone
