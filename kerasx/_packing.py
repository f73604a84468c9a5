"""Keras's `(x, y, sample_weight)` packing of a batch (`keras.utils.unpack_x_y_sample_weight`)."""


def unpack_x_y_sample_weight(data):
    """`(x, y, sample_weight)` from a batch `x`, `(x,)`, `(x, y)` or `(x, y, sample_weight)`;
    missing parts are None."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data[0], data[1], data[2]
    raise ValueError(
        "Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
        f"found: {data}")


def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """The inverse of `unpack_x_y_sample_weight`: `(x,)`, `(x, y)` or `(x, y, sample_weight)`."""
    if y is None:
        return (x,) if not isinstance(x, tuple) else (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)
