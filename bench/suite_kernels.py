"""asv: the engine alone on one mini-batch of 64, for a few layer widths."""

import numpy as np

import fastbp

BATCH = 64


class Kernels:
    params = ([64, 256, 1024], ["float32", "float64"])
    param_names = ["width", "dtype"]

    def setup(self, width, dtype):
        rng = np.random.default_rng(0)
        net = fastbp.Network([784, width, width, 10], dtype=dtype, seed=0)
        self.model = net._model
        X = rng.random((BATCH, 784)).astype(dtype)
        Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, BATCH)]
        self.data = net.training_data(X, Y)
        self.out = np.empty((BATCH, 10), dtype)
        self.session = self.model.session(self.data, fastbp.optimizers.SGD(lr=1e-6), BATCH,
                                          batches_per_call=1, parts=1)
        self.order, self.lrs = np.arange(BATCH), np.array([1e-6])
        self.time_forward()
        self.time_backprop()
        self.time_sgd_step()

    def time_forward(self, *_):
        self.model.infer(self.model.no_targets(self.data.X), self.out)

    def time_backprop(self, *_):
        """Gradients into a separate buffer (the path other optimizers take)."""
        self.model.gradient(self.data)

    def time_sgd_step(self, *_):
        """One serial training step with the update fused into the gradient products."""
        self.session.train(self.order, 0, 1, self.lrs)
