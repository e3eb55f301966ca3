"""One fit's work with the kernels: the Session the Python drivers talk to (fastbp.training,
fastbp.distributed, fastbp.lbfgs), from a fit's start to its end.

A Session owns what a fit allocates once: the workspace, cut into parts by the work of a
batch and of a compiled call; the optimizer's record for the kernels; the dropout masks'
record; the per-layer record; the snapshot to go back to. Its methods are the few things a
driver asks: train a run of batches, compute one batch's gradient, apply a gradient computed
elsewhere, snapshot and restore, and the layer record of the epoch.
"""

import numpy as np

from . import config, loops
from .compile_helper import inference_alongside
from .parallel import run_team, training_parts
from .records import (CORRECT, CSR, LOSS, WEIGHT, Batches, Hyper, Noise, Opt, RawX, Rates,
                      Snapshot, Tallies, Track, read_only)
from .tracking import ERRORS, GRADIENTS, UPDATES, weigh_stride, weighed_steps


def flop_per_sample(sizes):
    """Floating-point operations of one training step per sample: 6 per weight (forward,
    delta and gradient products, 2 each) less the first layer's delta product."""
    pairs = sum(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    return 6 * pairs - 2 * sizes[0] * sizes[1]


def chunk_batches(sizes, batch_size):
    """Batches per compiled call: about config.CHUNK_FLOP of work (config.CHUNK_BATCHES
    when set)."""
    if config.CHUNK_BATCHES is not None:
        return config.CHUNK_BATCHES
    samples = min(config.MAX_CHUNK_SAMPLES, config.CHUNK_FLOP / flop_per_sample(sizes))
    return max(1, int(samples) // batch_size)


def _in_part_order(values):
    """The sum of the parts' values, added in part order: the same on any number of
    threads."""
    total = 0.0
    for value in values:
        total += value
    return total


class Session:
    """The kernels' side of one fit of model on data.

    Parameters
    ----------
    model : engine.Model
    data : records.Data
        The training rows, validated.
    optimizer : fastbp.optimizers.Optimizer or None
        The optimizer that trains (bound to the parameters here); None for a session that
        only computes gradients.
    batch_size : int
    clip_norm : float, default 0
        Clip each step's gradient to this norm (0: no clipping).
    l2 : float, default 0
        The L2 penalty of each batch (the compiled step adds its gradient).
    dropout_rates : ndarray or None
        Every layer's dropout rate (the output layer's 0); None or all zero: no dropout.
    mask_seed : int, default 0
        The seed of the dropout masks.
    track_layers : bool, default False
        Keep the per-layer record (tracking.py).
    batches_per_call : int, optional
        Batches per compiled call; by default about config.CHUNK_FLOP of work (chunk_batches).
    parts : int, optional
        Parts of a step; by default from the work of a batch and of a call (training_parts).
    """

    def __init__(self, model, data, optimizer, batch_size, *, clip_norm=0.0, l2=0.0,
                 dropout_rates=None, mask_seed=0, track_layers=False, batches_per_call=None,
                 parts=None):
        self.model, self.data = model, read_only(data)
        self.optimizer = optimizer
        self.batch_size = batch_size
        self.l2 = l2
        n = data.X.shape[0]
        self.batches_per_call = chunk_batches(model.sizes, batch_size) \
            if batches_per_call is None else batches_per_call
        if parts is None:
            flop = flop_per_sample(model.sizes)
            parts = training_parts(flop * batch_size,
                                   flop * min(n, batch_size * self.batches_per_call))
        self.parts = parts
        self.space = model.space(batch_size, parts)
        self.grads = np.empty_like(model.params)  # the mean gradient, laid out like params
        dtype = model.params.dtype
        # A gradient alone: an optimizer step that does nothing (its kinds name none).
        self._no_step = Opt(Hyper(), self.grads, np.empty(1, dtype), np.empty(1, dtype), 0.0)
        self._opt, self._optimizer_code = None, None
        if optimizer is not None:
            optimizer.bind(model.params)
            self._saved = Snapshot(np.empty_like(model.params), np.empty_like(optimizer.state))
            # None for plain SGD (its update is fused into the gradient product): the
            # compiled loops then compile no optimizer step.
            if not (optimizer.fuses_into_gradient and not clip_norm):
                self._opt = self._optimizer_record(self.grads, clip_norm)
                self._optimizer_code = optimizer.code
        self._clip_norm = clip_norm
        self._noise = None
        if dropout_rates is not None and dropout_rates.any():
            self._noise = Noise(dropout_rates, mask_seed)
        self._track = None
        if track_layers:
            layers, widest = len(model.sizes) - 1, max(model.sizes[1:])
            self._track = Track(np.zeros((parts, layers, 3)), np.zeros((layers, widest), np.uint8),
                                np.empty_like(model.params),
                                np.empty((parts, 3, batch_size, 1), dtype), 1, 1)

    def _optimizer_record(self, grads, clip_norm):
        """The records.Opt of the session's optimizer stepping by grads."""
        state = self.optimizer.state
        # SGD keeps one state row: its first and "second" are the same row
        return Opt(self.optimizer.hyper(), grads, state[0], state[-1], clip_norm)

    # The shape of an epoch -----------------------------------------------------------------

    def epoch_steps(self):
        """Batches (steps) of an epoch over the session's rows."""
        return -(-self.data.X.shape[0] // self.batch_size)

    def batches(self, order, first, count):
        """The records.Batches of batches [first, first + count) of an epoch in order."""
        B, n = self.batch_size, self.data.X.shape[0]
        return Batches(self.data, order, first * B, min((first + count) * B, n), B)

    def block_rows(self):
        """Rows of a block of shuffle="blocks": config.SHUFFLE_BLOCK_BYTES of X (on
        average, for a sparse X), at least a batch."""
        X = self.data.X
        if isinstance(X, CSR):
            row_bytes = (X.data.nbytes + X.indices.nbytes) / X.shape[0]
        else:
            row_bytes = X.shape[1] * (X.values if isinstance(X, RawX) else X).itemsize
        return max(self.batch_size, int(config.SHUFFLE_BLOCK_BYTES // max(1.0, row_bytes)))

    # Training --------------------------------------------------------------------------------

    def train(self, order, first, count, lrs):
        """Train batches [first, first + count) of the epoch's order at the learning rates
        lrs (one per batch), as the optimizer's next updates, in one compiled call; returns
        their Tallies (each batch's loss measured before its update)."""
        rates = Rates(lrs, self.optimizer.steps, self.l2)
        return self._run(self.batches(order, first, count), rates, self._opt,
                         self._optimizer_code)

    def gradient(self, order, batch, step_number):
        """The mean gradient of batch number batch of order into self.grads (laid out like
        params; parameters untouched, no L2 term), with the dropout masks of update number
        step_number; returns the batch's Tallies."""
        rates = Rates(np.zeros(1), step_number - 1, 0.0)
        return self._run(self.batches(order, batch, 1), rates, self._no_step, None)

    def _run(self, batches, rates, opt, optimizer_code):
        """The compiled training loop on batches in the session's parts."""
        sums = self.space.sums
        sums[:] = 0
        kernel = loops.train_chunk(self.model.step_kinds(optimizer_code))
        with inference_alongside(kernel, self.model, self.data):
            run_team(kernel, self.parts, (self.model.kernel_model, self.space, batches, rates,
                                          opt, self._noise, self._track))
        return Tallies(_in_part_order(sums[:, LOSS]), _in_part_order(sums[:, CORRECT]),
                       _in_part_order(sums[:, WEIGHT]), batches.stop - batches.start)

    def apply(self, grads, lr):
        """Update the parameters by the mean gradient grads (laid out like params; clipped in
        place first when the session clips) as the optimizer's next step at learning rate
        lr."""
        kernel = loops.apply_gradient(self.model.step_kinds(self.optimizer.code))
        kernel(self._optimizer_record(grads, self._clip_norm), self.model.params, lr,
               self.optimizer.steps + 1)

    def snapshot(self):
        """Keep a copy of the parameters and the optimizer state, for restore."""
        self._saved.params[:] = self.model.params
        self._saved.state[:] = self.optimizer.state

    def restore(self):
        """Put back the parameters and the optimizer state of the last snapshot."""
        self.model.params[:] = self._saved.params
        self.optimizer.state[:] = self._saved.state

    # The per-layer record ----------------------------------------------------------------

    def start_epoch(self):
        """A new epoch of the per-layer record (nothing without one): its sums and live
        units zeroed, its weighed steps counted from the optimizer's next update."""
        if self._track is None:
            return
        self._track.sums[:] = 0
        self._track.live[:] = 0
        self._track = self._track._replace(first_step=self.optimizer.steps + 1,
                                           stride=weigh_stride(self.epoch_steps()))

    def layer_record(self):
        """The per-layer record of the epoch just trained (History.layers: one value per
        layer of each quantity), or None without tracking; the parts' sums added in part
        order."""
        track = self._track
        if track is None:
            return None
        sums = track.sums.sum(axis=0)  # (layers, 3)
        widths = np.array(self.model.sizes[1:])
        weighed = weighed_steps(self.epoch_steps())
        with np.errstate(over="ignore"):  # huge weights: an infinite norm, reported as such
            weight_norm = np.sqrt([float(np.square(W).sum()) for W in self.model.views()[0]])
        with np.errstate(divide="ignore", invalid="ignore"):
            update_ratio = np.sqrt(sums[:, UPDATES] / weighed) / weight_norm
        live = track.live.sum(axis=1) / widths
        return {"delta_rms": np.sqrt(sums[:, ERRORS] / (self.data.X.shape[0] * widths)),
                "grad_norm": np.sqrt(sums[:, GRADIENTS] / weighed),
                "weight_norm": weight_norm,
                "update_ratio": update_ratio,
                "dead_fraction": np.append(1.0 - live[:-1], np.nan)}

