"""`Wrapper`: the base of layers that hold one other layer (Keras's `keras.layers.Wrapper`).

`Bidirectional`, `TimeDistributed` and `SpectralNormalization` are wrappers: the wrapped layer
is a sublayer of the layer tree (its weights nest under its key), and the config holds the
wrapped layer's own config, as Keras writes it.
"""

from typing import Any, Dict

from ._base import Layer


class Wrapper(Layer):
    """A layer that augments another layer (abstract: subclasses implement `init`/`apply`).

    Args:
        layer: the layer to wrap (a kerasx layer).
    """

    def __init__(self, layer: Layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise ValueError(
                f"Layer '{self.name}' ({type(self).__name__}) wraps a kerasx layer. Received: "
                f"layer={layer!r} of type {type(layer).__name__}")
        self.layer = layer

    def get_config(self) -> Dict[str, Any]:
        return {**super().get_config(), "layer": serialize_layer(self.layer)}

    @classmethod
    def from_config(cls, config: Dict[str, Any], custom_objects=None) -> "Wrapper":
        config = dict(config)
        config["layer"] = deserialize_layer(config["layer"], custom_objects)
        return super().from_config(config)


def serialize_layer(layer: Layer) -> Dict[str, Any]:
    """A layer's Keras 3 config dict (`{"module", "class_name", "config", ...}`).

    The serializer lives in `kerasx.saving` (it knows every class by name, so it imports the
    layers); a layer that holds another layer reaches it through here, when a config is written.
    """
    from ..saving._serialization import serialize
    return serialize(layer)


def deserialize_layer(config: Dict[str, Any], custom_objects=None) -> Layer:
    """The layer that `serialize_layer` described (also a config that Keras 3 wrote)."""
    from ..saving._serialization import deserialize
    return deserialize(config, custom_objects)
