"""asv: the compiled kernels alone on one mini-batch of 64, for a few layer widths."""

import numpy as np

import fastbp
from fastbp.kernels.passes import backward, batch_w, batch_y, forward_rows
from fastbp.layout import workspace_size

BATCH = 64


class Kernels:
    params = ([64, 256, 1024], ["float32", "float64"])
    param_names = ["width", "dtype"]

    def setup(self, width, dtype):
        rng = np.random.default_rng(0)
        self.net = fastbp.Network([784, width, width, 10], dtype=dtype, seed=0)
        self.ws = np.zeros(workspace_size(self.net.sizes, BATCH), dtype=dtype)
        self.table = self.net._table
        self.x = rng.random((BATCH, 784)).astype(dtype)
        batch_y(self.ws, self.table, BATCH, BATCH)[:] = np.eye(10)[rng.integers(0, 10, BATCH)]
        batch_w(self.ws, self.table, BATCH, BATCH)[:] = 1
        self.noise = (np.zeros(3), 0)
        self.grads = np.zeros_like(self.net.params)
        self.time_forward()
        self.time_backprop()
        self.time_sgd_step()

    def time_forward(self, *_):
        forward_rows(self.net.params, self.table, self.x, self.ws, BATCH, 0, BATCH, self.noise, 0)

    def time_backprop(self, *_):
        """Gradients into a separate buffer (the path other optimizers take)."""
        backward(self.net.params, self.table, self.net._loss_code, self.x, self.ws, BATCH,
                 self.grads, 1.0 / BATCH, 0.0, self.noise, 0)

    def time_sgd_step(self, *_):
        """Backward with the update fused into the gradient products (plain SGD)."""
        backward(self.net.params, self.table, self.net._loss_code, self.x, self.ws, BATCH,
                 self.net.params, -1e-6 / BATCH, 1.0, self.noise, 0)
