"""The engine as the Python layers above see it: one object per network holding the flat
parameters and the layer table, with the few operations asked of the kernels (train a chunk,
infer, a gradient, snapshot, restore). Arrays reach it validated (validation.py).
"""

import numpy as np

from . import backends, config, loops
from .codes import N_HYPER, OPTIMIZERS, general_kinds, kinds, with_optimizer
from .layout import (A, N_OUT, block_start, layer_table, n_params, parameter_views,
                     workspace_size)
from .parallel import inference_rows, inference_slabs, run_team
from .records import Data, Noise, Opt, Parameters, RawX, Space, Track, read_only
from .step import CORRECT, LOSS, NON_FINITE


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
        self.table = layer_table(self.sizes, activation_codes, loss_code)
        self.params = np.zeros(n_params(self.sizes), dtype=dtype)
        # What the kernels are compiled for (config.SPECIALISE): this network's codes, or
        # every code, one kernel set for every network.
        self._specialised = config.SPECIALISE
        self.kinds = kinds(activation_codes, [loss_code]) if self._specialised \
            else general_kinds()
        self._kernel_model = Parameters(self.params, self.table)
        backends.choose()  # which library serves each product (once per process)

    def _step_kinds(self, optimizer_code):
        """The kinds of a kernel that also runs the step of the optimizer of optimizer_code
        (None: plain SGD, fused into the gradient): that optimizer, or every one in a general
        kernel set."""
        if optimizer_code is None:
            return self.kinds
        return with_optimizer(self.kinds, [optimizer_code] if self._specialised else OPTIMIZERS)

    def views(self, buffer=None):
        """Lists of views (W[l], b[l]) into params, or into a buffer laid out like it."""
        return parameter_views(self.params if buffer is None else buffer, self.table)

    def space(self, capacity, parts):
        """A workspace for batches of up to capacity rows, with tallies for parts parts."""
        return Space(np.empty(workspace_size(self.sizes, capacity), dtype=self.params.dtype),
                     self.table, capacity, np.zeros((parts, 4)))

    # Training ----------------------------------------------------------------------------

    def track(self, parts, capacity):
        """A zeroed records.Track for training in parts on batches of at most capacity
        rows."""
        layers, widest = len(self.sizes) - 1, max(self.sizes[1:])
        return Track(np.zeros((parts, layers, 3)), np.zeros((layers, widest), np.uint8),
                     np.empty_like(self.params),
                     np.empty((parts, 3, capacity, 1), self.params.dtype), np.ones(2, np.int64))

    def train_chunk(self, space, batches, run, opt, noise, optimizer_code=None, track=None):
        """Train on one chunk of batches (loops.train_chunk) in as many parts as space has
        tallies rows; opt is None for plain SGD fused into the gradient, else (hyper, grads,
        state, clip_norm) for the optimizer of optimizer_code; track a records.Track adding
        to the per-layer record, or None. Returns the chunk's (weighted loss sum, correct
        count, weight sum)."""
        tallies = space.tallies
        tallies[:] = 0
        kernel = loops.train_chunk(self._step_kinds(optimizer_code))
        batches = (read_only(batches[0]),) + tuple(batches[1:])
        run_team(kernel, tallies.shape[0],
                 (self._kernel_model, space, batches, run, opt, noise, track))
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
        capacity = min(X.shape[0], inference_rows())
        space = self.space(capacity, inference_slabs(capacity))
        run_team(loops.infer(self.kinds), space.tallies.shape[0],
                 (self._kernel_model, space, read_only((X, Y, weights)), out))
        tallies = space.tallies
        return (tallies[:, LOSS].sum(), int(tallies[:, CORRECT].sum()),
                int(tallies[:, NON_FINITE].sum()))

    def input_ranges(self, X, input_map):
        """(lows, highs): the smallest and largest value each layer reads over the rows of X
        (X itself for the first layer, the activations of layer l - 1 for layer l), by the
        forward pass, a chunk of inference rows at a time, with the network's input map
        (scale, shift) applied to X first (validation.check_X); X's own range is the
        first layer's."""
        layers = self.table.shape[0]
        lows, highs = np.full(layers, np.inf), np.full(layers, -np.inf)
        lows[0], highs[0] = X.min(), X.max()
        no_targets = np.empty((0, self.sizes[-1]), self.params.dtype)
        chunk = inference_rows()
        scale, shift = input_map
        for first in range(0, X.shape[0], chunk):
            x = X[first:first + chunk]
            if scale.size or shift.size:
                x = RawX(x, False, scale, shift, x.shape)
            space = self.space(x.shape[0], 1)  # holds every row's activations afterwards
            # the arrays' types as infer passes them: no second compile of the loop
            run_team(loops.infer(self.kinds), 1,
                     (self._kernel_model, space,
                      read_only((x, no_targets, np.empty(0, self.params.dtype))), no_targets))
            for l in range(1, layers):
                a = self.block(space, l - 1, A)
                lows[l], highs[l] = min(lows[l], a.min()), max(highs[l], a.max())
        return lows, highs

    def loss_sums(self, data):
        """(weighted loss sum, weight sum, correct count, rows) of the forward pass over
        data = Data(X, Y, weights), and the number of rows whose first-layer pre-activations
        are not finite (as infer)."""
        loss, correct, non_finite = self.infer(*data, np.empty((0, self.sizes[-1]),
                                                               self.params.dtype))
        return (np.array([loss, data.weights.sum(dtype=np.float64), correct, data.X.shape[0]]),
                non_finite)

    def gradient(self, X, Y, weights, noise=None, step_number=1):
        """The gradient of the weighted mean loss over all rows, as a buffer laid out like
        params, and the workspace that holds each layer's z, a and delta: the training step
        on one batch of every row, with no optimizer to apply it (parameters untouched).
        With noise = (dropout rates, seed), the masks of update number step_number."""
        n = X.shape[0]
        space = self.space(n, 1)
        grads = np.empty_like(self.params)
        self.batch_gradient(space, (Data(X, Y, weights), np.arange(n), 0, n, n), grads,
                            None if noise is None else Noise(*noise), step_number)
        return grads, space

    def batch_gradient(self, space, batch, grads, noise, step_number):
        """The mean gradient of one batch into grads (laid out like params), parameters
        untouched, in as many parts as space has tallies rows; batch = (data, order, start,
        stop, batch_size) as for train_chunk, with stop - start <= batch_size. Returns the
        batch's (weighted loss sum, correct count, weight sum)."""
        no_step = Opt(np.zeros(N_HYPER), grads, np.empty((1, 1), self.params.dtype), 0.0)
        return self.train_chunk(space, batch, (np.zeros(1), step_number - 1, 0.0), no_step,
                                noise)

    def apply_gradient(self, grads, optimizer, clip_norm, lr):
        """Update the parameters by the mean gradient grads (laid out like params; clipped in
        place first when clip_norm > 0) with optimizer (bound to params), as its next step
        at learning rate lr."""
        kernel = loops.apply_gradient(self._step_kinds(optimizer.code))
        kernel(optimizer.hyper(), self.params, grads, optimizer.state, clip_norm, lr,
               optimizer.steps + 1)

    def block(self, space, l, which):
        """A copy of block which (layout.Z, A, DELTA or FED) of layer l of the batch held in a
        gradient's workspace."""
        n = space.capacity  # a gradient's workspace holds exactly its batch
        start = block_start(space.table, n, l, which)
        width = space.table[l, N_OUT]
        return space.ws[start:start + n * width].reshape(n, width).copy()
