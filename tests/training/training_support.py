"""Small helpers shared by the training tests (imported as a sibling module, like
tests/layers/harness.py)."""

import numpy as np

from kerasx import layers
from kerasx.callbacks import Callback


class CountTraces(layers.Layer):
    """Identity layer that counts how often JAX traces it (Python runs only when tracing)."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.traces = 0

    def apply(self, params, state, inputs, *, training=False, rng=None):
        self.traces += 1
        return inputs, state


class ScoreFeeder(Callback):
    """Writes `values[epoch]` into the epoch logs under `key` (put it before the callback under
    test: every callback gets the same logs dict)."""

    def __init__(self, values, key="score"):
        super().__init__()
        self.values, self.key = list(values), key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class WeightRecorder(Callback):
    """Keeps a copy of the weights at the end of every epoch."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


def assert_weights_equal(a, b):
    assert len(a) == len(b)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
