"""Reading the pickled batches of the CIFAR-10 and CIFAR-100 archives safely."""

import numpy as np

from ._common import RestrictedUnpickler

def load_batch(fpath, label_key="labels"):
    """`(data, labels)` of one CIFAR batch file: uint8 `(n, 3, 32, 32)` and a list of ints."""
    with open(fpath, "rb") as f:
        d = RestrictedUnpickler(f, encoding="bytes").load()
    d = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in d.items()}
    data = np.asarray(d["data"], np.uint8)
    return data.reshape(data.shape[0], 3, 32, 32), d[label_key]
