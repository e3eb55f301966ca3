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
        self.X = rng.random((BATCH, 784)).astype(dtype)
        self.Y = np.eye(10, dtype=dtype)[rng.integers(0, 10, BATCH)]
        self.w = np.ones(BATCH, dtype)
        self.out = np.empty((BATCH, 10), dtype)
        self.space = self.model.space(BATCH, 1)
        self.batches = ((self.X, self.Y, self.w), np.arange(BATCH), 0, BATCH, BATCH)
        self.time_forward()
        self.time_backprop()
        self.time_sgd_step()

    def time_forward(self, *_):
        self.model.infer(self.X, self.Y[:0], self.w[:0], self.out)

    def time_backprop(self, *_):
        """Gradients into a separate buffer (the path other optimizers take)."""
        self.model.gradient(self.X, self.Y, self.w)

    def time_sgd_step(self, *_):
        """One serial training step with the update fused into the gradient products."""
        self.model.train_chunk(self.space, self.batches, (np.array([1e-6]), 0, 0.0), None,
                               None)
