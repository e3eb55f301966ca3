"""The engine as the Python layers above see it: one object per network holding the flat
parameters and the layer table, with what is asked of the kernels outside a fit (inference,
a gradient, input ranges), and the training Session of each fit (session.py). Arrays reach it
validated (validation.py).
"""

import threading

import numpy as np

from . import backends, config, int8, loops
from .codes import BFLOAT16, FLOAT32, OPTIMIZERS, general_kinds, kinds, with_optimizer
from .compile_helper import wait_for_helper
from .layout import (N_OUT, A, DELTA, block_start, layer_table, n_params, operands_size,
                     parameter_views, workspace_size)
from .parallel import inference_rows, inference_slabs, run_team
from .records import (CORRECT, LOSS, NON_FINITE, PART_SUMS, Data, Parameters, Quantized, RawX,
                      Space, Tallies, Team, read_only)
from .session import Session


class Model:
    """Flat parameters, layer table and loss of one network, and the kernels that use them.

    Parameters
    ----------
    sizes : list of int
    activation_codes : list of int, one per non-input layer (codes.py)
    loss_code : int
    dtype : np.float32 or np.float64
    precision : int, default codes.FLOAT32
        The products' input precision, a code of codes.PRECISIONS (BFLOAT16: float32
        parameters only).
    """

    def __init__(self, sizes, activation_codes, loss_code, dtype, precision=FLOAT32):
        self.sizes = list(sizes)
        self.loss_code = loss_code
        self.precision = precision
        self.table = layer_table(self.sizes, activation_codes, loss_code)
        self.params = np.zeros(n_params(self.sizes), dtype=dtype)
        # What the kernels are compiled for (config.SPECIALISE): this network's codes, or
        # every code, one kernel set for every network; its precision either way.
        self._specialised = config.SPECIALISE
        self.kinds = kinds(activation_codes, [loss_code], precision) if self._specialised \
            else general_kinds(precision)
        self.kernel_model = Parameters(self.params, self.table)
        backends.choose(self.sizes)  # which library serves each of its products
        self._few = threading.local()  # per thread: the workspace of inference on few rows
        # The targets and weights of inference without targets: none, read-only (as the
        # kernels take them), made once.
        self._no_Y = np.empty((0, self.sizes[-1]), dtype)
        self._no_weights = np.empty(0, dtype)
        for empty in (self._no_Y, self._no_weights):
            empty.flags.writeable = False

    def __getstate__(self):
        """A copy or pickle leaves out the per-thread workspaces (made again when used)."""
        state = self.__dict__.copy()
        del state["_few"]
        return state

    def __setstate__(self, state):
        state.setdefault("precision", FLOAT32)  # pickled by a fastbp without precisions
        self.__dict__.update(state)
        self._few = threading.local()

    def step_kinds(self, optimizer_code):
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
        """A workspace for batches of up to capacity rows, with sums for parts parts (and
        the bfloat16 operands of a bfloat16 network: bit patterns for the CPU's bf16 units
        where it has them, else float32 values, the emulated path; engine/bf16.py)."""
        if self.precision == BFLOAT16:
            operands = np.empty(operands_size(self.sizes, capacity), backends.bf16_storage())
        else:
            operands = np.empty(0, self.params.dtype)
        return Space(np.empty(workspace_size(self.sizes, capacity), dtype=self.params.dtype),
                     self.table, capacity, np.zeros((parts, PART_SUMS)), operands)

    def session(self, data, optimizer, batch_size, **settings):
        """The training Session of one fit on data (session.Session has the settings)."""
        return Session(self, data, optimizer, batch_size, **settings)

    # Inference and gradients -------------------------------------------------------------

    def infer(self, data, out):
        """Forward pass over data (a records.Data; loops.infer): outputs into out when it has
        rows; returns the Tallies (loss and correct count when data.Y has rows, the rows whose
        first-layer pre-activations are not finite)."""
        if data.X.shape[0] <= config.FEW_ROWS:
            return self._infer_few(data, out)
        capacity = min(data.X.shape[0], inference_rows())
        space = self.space(capacity, inference_slabs(capacity))
        wait_for_helper(self.kinds)
        run_team(loops.infer(self.kinds), space.sums.shape[0],
                 (self.kernel_model, space, read_only(data), out))
        return self.inference_tallies(space, data)

    def _infer_few(self, data, out):
        """infer for at most config.FEW_ROWS rows, which the general path runs as one slab on
        the calling thread too: the same kernel call, without a thread team, in this
        thread's workspace (few_rows)."""
        few = self.few_rows()
        wait_for_helper(self.kinds)
        with backends.one_thread():
            loops.infer(self.kinds)(few.team, self.kernel_model, few.space, read_only(data), out)
        return self.inference_tallies(few.space, data)

    def few_rows(self):
        """This thread's workspace for inference on at most config.FEW_ROWS rows, kept per
        thread (two threads may serve one network at once): a namespace holding space (one
        slab, its sums zeroed here) and team (a team of one); int8.run adds its scratch."""
        few = self._few
        if not hasattr(few, "space"):
            few.space = self.space(config.FEW_ROWS, 1)
            few.team = Team(0, 1, 1, 1, np.zeros(2, np.int64))
        few.space.sums[:] = 0
        return few

    @staticmethod
    def inference_tallies(space, data):
        """The Tallies of a forward pass over data from the slabs' sums in space."""
        sums = space.sums
        weight = data.weights.sum(dtype=np.float64) if data.Y.shape[0] else 0.0
        return Tallies(_slab_total(sums, LOSS), int(_slab_total(sums, CORRECT)), weight,
                       data.X.shape[0], int(_slab_total(sums, NON_FINITE)))

    def loss_tallies(self, data):
        """The Tallies of the forward pass over data, keeping no outputs."""
        return self.infer(data, self.no_outputs())

    def no_outputs(self):
        """An output array of no rows (a forward pass that keeps none)."""
        return np.empty((0, self.sizes[-1]), self.params.dtype)

    def no_targets(self, X):
        """Data of X alone: no targets, no weights (inference of outputs only)."""
        return Data(X, self._no_Y, self._no_weights)

    def outputs(self, rows):
        """The network's outputs for rows (an X alone, or a records.Data whose loss is
        tallied too), and the forward pass's Tallies (infer)."""
        data = rows if isinstance(rows, Data) else self.no_targets(rows)
        out = np.empty((data.X.shape[0], self.sizes[-1]), dtype=self.params.dtype)
        return out, self.infer(data, out)

    def input_ranges(self, X, input_map):
        """(lows, highs): the smallest and largest value each layer reads over the rows of X
        (X itself for the first layer, the activations of layer l - 1 for layer l), by the
        forward pass, a chunk of inference rows at a time, with the network's input map
        (scale, shift) applied to X first (validation.check_X); X's own range is the
        first layer's."""
        layers = len(self.sizes) - 1
        lows, highs = np.full(layers, np.inf), np.full(layers, -np.inf)
        lows[0], highs[0] = X.min(), X.max()
        chunk = inference_rows()
        scale, shift = input_map
        for first in range(0, X.shape[0], chunk):
            x = X[first:first + chunk]
            if scale.size or shift.size:
                x = RawX(x, False, scale, shift, x.shape)
            space = self.space(x.shape[0], 1)  # holds every row's activations afterwards
            data = self.no_targets(x)  # the types infer passes: no second compile of the loop
            run_team(loops.infer(self.kinds), 1,
                     (self.kernel_model, space, read_only(data), self.no_outputs()))
            for l in range(1, layers):
                a = self.block(space, l - 1, A)
                lows[l], highs[l] = min(lows[l], a.min()), max(highs[l], a.max())
        return lows, highs

    def gradient(self, data, dropout_rates=None, mask_seed=0, step_number=1):
        """The gradient of the weighted mean loss over all rows of data, as a buffer laid out
        like params, and the workspace that holds each layer's z, a and delta: the training
        step on one batch of every row, in one part, with no optimizer to apply it
        (parameters untouched). With dropout, the masks of update number step_number."""
        n = data.X.shape[0]
        session = self.session(data, None, n, dropout_rates=dropout_rates,
                               mask_seed=mask_seed, batches_per_call=1, parts=1)
        session.gradient(np.arange(n), 0, step_number)
        return session.grads, session.space

    def block(self, space, l, which):
        """A copy of block which (layout.Z, A, DELTA or FED) of layer l of the batch held in a
        gradient's workspace."""
        n = space.capacity  # a gradient's workspace holds exactly its batch
        start = block_start(space.table, n, l, which)
        width = space.table[l, N_OUT]
        return space.ws[start:start + n * width].reshape(n, width).copy()

    # int8 inference (int8.py) ----------------------------------------------------------------

    def quantized(self, weight_codes, weight_scales, biases, input_scales, input_zero_points,
                  top):
        """The records.Quantized of a quantized network of this layout (its lists per layer:
        int8 weight codes, their per-unit scales, float32 biases; its arrays per layer: input
        scales and zero points; top, the largest input code)."""
        weights = np.zeros(self.params.shape, np.int8)
        for view, W in zip(parameter_views(weights, self.table)[0], weight_codes):
            view[:] = W
        multipliers, offsets = [], []
        for l, (W, sw) in enumerate(zip(weight_codes, weight_scales)):
            multipliers.append(input_scales[l] * sw)  # float32 * float32, as exported
            offsets.append(-input_zero_points[l] * W.sum(axis=1, dtype=np.int32))
        return Quantized(self.table, weights, np.concatenate(biases),
                         np.concatenate(multipliers).astype(np.float32),
                         np.concatenate(offsets).astype(np.int32), input_scales,
                         input_zero_points, top)

    def infer_int8(self, q, data, out):
        """int8 inference of the records.Quantized q over data (int8.run); returns its
        Tallies."""
        return int8.run(self, q, data, out)

    def deltas(self, space):
        """Copies of every layer's delta held in a gradient's workspace (gradient)."""
        return [self.block(space, l, DELTA) for l in range(len(self.sizes) - 1)]

    def add_weight_multiple(self, grads, factor):
        """grads (laid out like params) += factor * W for every layer's weights (not the
        biases): the gradient of the L2 penalty 0.5 * factor * sum ||W||^2, for gradients
        summed outside the compiled step (which adds its own)."""
        for G, W in zip(self.views(grads)[0], self.views()[0]):
            G += factor * W

    def squared_weights(self):
        """sum ||W||^2 over every layer's weights (not the biases), in float64: the L2
        penalty's sum (inf for huge weights)."""
        return squared_weights(self.views()[0])


def _slab_total(sums, column):
    """The slabs' sums of one column (records.LOSS, ...) added in slab order; one slab's as it
    is (what the sum gives, without NumPy's reduction: a served row's)."""
    return sums[0, column] if sums.shape[0] == 1 else sums[:, column].sum()


def squared_weights(weights):
    """sum ||W||^2 over the weight matrices, each summed in its dtype, added in float64 (inf
    for huge weights). np.square(...).sum() rather than np.dot: NumPy's BLAS threads would
    wake up and spin-wait for a while after the call, taking a core from the next compiled
    call (bench/perf_log.md)."""
    with np.errstate(over="ignore"):
        return sum(float(np.square(W).sum()) for W in weights)


