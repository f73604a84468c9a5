"""Keras's guide "Making new layers and models via subclassing", condensed: each program runs on
Keras 3 and on kerasx with only the import changed (`lib`), and must give the same numbers."""

import numpy as np

import kerasx
from keras_oracle import require_keras  # Keras, or skip the test that needs it


def keras():
    return require_keras()


def guide_layers(lib):
    ops = lib.ops

    class Linear(lib.layers.Layer):  # weights created in __init__
        def __init__(self, units=32, input_dim=32):
            super().__init__()
            self.w = self.add_weight(shape=(input_dim, units), initializer="random_normal",
                                     trainable=True)
            self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    class ComputeSum(lib.layers.Layer):  # a non-trainable weight updated by call
        def __init__(self, input_dim):
            super().__init__()
            self.total = self.add_weight(initializer="zeros", shape=(input_dim,),
                                         trainable=False)

        def call(self, inputs):
            self.total.assign_add(ops.sum(inputs, axis=0))
            return self.total

    class LazyLinear(lib.layers.Layer):  # weights created in build
        def __init__(self, units=32):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1], self.units),
                                     initializer="random_normal", trainable=True)
            self.b = self.add_weight(shape=(self.units,), initializer="random_normal",
                                     trainable=True)

        def call(self, inputs):
            return ops.matmul(inputs, self.w) + self.b

    class MLPBlock(lib.layers.Layer):  # layers holding layers
        def __init__(self):
            super().__init__()
            self.linear_1 = LazyLinear(32)
            self.linear_2 = LazyLinear(32)
            self.linear_3 = LazyLinear(1)

        def call(self, inputs):
            x = ops.relu(self.linear_1(inputs))
            x = ops.relu(self.linear_2(x))
            return self.linear_3(x)

    class ActivityRegularizationLayer(lib.layers.Layer):  # add_loss
        def __init__(self, rate=1e-2):
            super().__init__()
            self.rate = rate

        def call(self, inputs):
            self.add_loss(self.rate * ops.mean(inputs))
            return inputs

    class OuterLayer(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.activity_reg = ActivityRegularizationLayer(1e-2)

        def call(self, inputs):
            return self.activity_reg(inputs)

    class OuterLayerWithKernelRegularizer(lib.layers.Layer):
        def __init__(self):
            super().__init__()
            self.dense = lib.layers.Dense(32, kernel_regularizer=lib.regularizers.l2(1e-3))

        def call(self, inputs):
            return self.dense(inputs)

    return (Linear, ComputeSum, LazyLinear, MLPBlock, OuterLayer,
            OuterLayerWithKernelRegularizer)


def test_the_guides_layers_behave_as_in_keras():
    k = keras()
    ours, theirs = guide_layers(kerasx), guide_layers(k)
    x = np.ones((2, 2), "float32")

    # Linear: weights from __init__, kept through the first call
    lin_o, lin_k = ours[0](4, 2), theirs[0](4, 2)
    lin_o.set_weights(lin_k.get_weights())
    np.testing.assert_allclose(lin_o(x), lin_k(x), rtol=1e-6)
    assert lin_o.weights == [lin_o.w, lin_o.b]

    # ComputeSum: the non-trainable total accumulates over eager calls
    sum_o, sum_k = ours[1](2), theirs[1](2)
    for expected in ([2.0, 2.0], [4.0, 4.0]):
        np.testing.assert_allclose(sum_o(x), expected)
        np.testing.assert_allclose(sum_k(x), expected)
    assert len(sum_o.weights) == 1 and len(sum_o.non_trainable_weights) == 1
    assert sum_o.trainable_weights == []

    # MLPBlock: sublayers built lazily on the first call, weights in Keras's order
    mlp_o, mlp_k = ours[3](), theirs[3]()
    data = np.random.default_rng(0).normal(size=(3, 64)).astype("float32")
    mlp_o(data)
    mlp_k(data)
    assert len(mlp_o.weights) == len(mlp_k.weights) == 6
    assert len(mlp_o.trainable_weights) == 6
    mlp_o.set_weights(mlp_k.get_weights())
    np.testing.assert_allclose(mlp_o(data), mlp_k(data), rtol=1e-5, atol=1e-6)

    # add_loss: losses of the last call, through a parent layer
    outer_o, outer_k = ours[4](), theirs[4]()
    assert len(outer_o.losses) == len(outer_k.losses) == 0
    outer_o(np.zeros((1, 1), "float32"))
    outer_k(np.zeros((1, 1), "float32"))
    assert len(outer_o.losses) == len(outer_k.losses) == 1
    data2 = np.random.default_rng(1).normal(size=(4, 3)).astype("float32")
    outer_o(data2)
    outer_k(data2)
    np.testing.assert_allclose(outer_o.losses[0], outer_k.losses[0], rtol=1e-6)

    # a regularized sublayer's penalty is in the parent's losses
    reg_o, reg_k = ours[5](), theirs[5]()
    reg_o(np.zeros((1, 1), "float32"))
    reg_k(np.zeros((1, 1), "float32"))
    reg_o.set_weights(reg_k.get_weights())
    assert len(reg_o.losses) == len(reg_k.losses) == 1
    np.testing.assert_allclose(reg_o.losses[0], reg_k.losses[0], rtol=1e-5)
