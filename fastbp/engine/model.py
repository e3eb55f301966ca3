"""The engine as the Python layers above see it: one object per network holding the flat
parameters and the layer table, with the few operations asked of the kernels (train a chunk,
infer, a gradient, snapshot, restore). Arrays reach it validated (validation.py).
"""

import numpy as np

from .config import INFERENCE_ROWS
from .layout import layer_table, n_params, parameter_views, workspace_size
from .loops import gradient, infer, train_chunk
from .parallel import blas_single_threaded, inference_slabs, run_team
from .step import CORRECT, LOSS, WEIGHT


class Model:
    """Flat parameters, layer table and loss of one network, and the kernels that use them.

    Parameters
    ----------
    sizes : list of int
    activation_codes : list of int, one per non-input layer (codes.py)
    loss_code : int
    dtype : np.float32 or np.float64
    """

    def __init__(self, sizes, activation_codes, loss_code, dtype):
        self.sizes = list(sizes)
        self.loss_code = loss_code
        self.table = layer_table(self.sizes, activation_codes)
        self.params = np.zeros(n_params(self.sizes), dtype=dtype)
        self._kernel_model = (self.params, self.table, loss_code)

    def views(self, buffer=None):
        """Lists of views (W[l], b[l]) into params, or into a buffer laid out like it."""
        return parameter_views(self.params if buffer is None else buffer, self.table)

    def space(self, capacity, parts):
        """A workspace for batches of up to capacity rows, with tallies for parts parts."""
        return (np.empty(workspace_size(self.sizes, capacity), dtype=self.params.dtype),
                self.table, capacity, np.zeros((parts, 4)))

    # Training ----------------------------------------------------------------------------

    def train_chunk(self, space, batches, run, opt, noise):
        """Train on one chunk of batches (loops.train_chunk) in as many parts as space has
        tallies rows; returns the chunk's (weighted loss sum, correct count, weight sum)."""
        tallies = space[3]
        tallies[:] = 0
        run_team(train_chunk, tallies.shape[0], (self._kernel_model, space, batches, run, opt,
                                                 noise))
        totals = np.zeros(3)
        for part in tallies:  # in part order: the same sums on any number of threads
            totals += part[:3]
        return totals

    def snapshot(self, state, into):
        """Copy the parameters and an optimizer state into the pair of buffers into (made
        once per fit by empty_snapshot), for restore."""
        into[0][:] = self.params
        into[1][:] = state

    def empty_snapshot(self, state):
        """Buffers for snapshot."""
        return np.empty_like(self.params), np.empty_like(state)

    def restore(self, snapshot, state):
        """Put back the parameters and the optimizer state saved by snapshot."""
        self.params[:] = snapshot[0]
        state[:] = snapshot[1]

    # Inference and gradients -------------------------------------------------------------

    def infer(self, X, Y, weights, out):
        """Forward pass over X (loops.infer): outputs into out when it has rows, and when Y
        has rows the weighted loss sum and correct count, returned with the number of rows
        whose first-layer pre-activations are not finite."""
        capacity = min(X.shape[0], INFERENCE_ROWS)
        space = self.space(capacity, inference_slabs(capacity))
        with blas_single_threaded():
            run_team(infer, space[3].shape[0], (self._kernel_model, space, (X, Y, weights), out))
        tallies = space[3]
        return tallies[:, LOSS].sum(), int(tallies[:, CORRECT].sum()), int(tallies[:, 2].sum())

    def gradient(self, X, Y, weights, noise=None, step_number=0):
        """The gradient of the weighted mean loss over all rows (loops.gradient), as a buffer
        laid out like params, and the workspace that holds each layer's z, a and delta; with
        noise = (dropout rates, seed), the masks of update step_number."""
        space = self.space(X.shape[0], 1)
        grads = np.empty_like(self.params)
        gradient(self._kernel_model, space, (X, Y, weights), grads, noise, step_number)
        return grads, space

    def loss_sum(self, space):
        """Weighted loss sum and weight sum tallied in a gradient's workspace."""
        return space[3][0, LOSS], space[3][0, WEIGHT]
