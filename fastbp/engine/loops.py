"""Compiled loops over many rows: training a chunk of mini-batches (also a gradient alone:
the step with no optimizer to apply it), and inference. No Python and no allocation per
mini-batch.

Each loop is compiled for the activation, loss and optimizer codes of one network: the
functions below make it once per ``kinds`` (codes.kinds), a constant of the closure, so that
only those codes' branches are compiled (a first fit compiled every activation and loss
before), and Numba caches each on disk like any kernel (a closure's constants are part of
its cache key). Their arguments are the records of records.py, as in step.py.
"""

import math

import numpy as np
from numba import njit

from .config import DRIVER, JIT
from .codes import rounds_to_bf16
from .elementwise import non_finite_rows
from .layout import N_OUT, A, Z, layer_block
from .numba_ext import as_mutable
from .parallel import barrier, share
from .precision import round_inputs, round_weights
from .raw_inputs import fill_slab
from .records import CORRECT, LOSS, NON_FINITE, Block, Inputs, Part, Slab, Step
from .sparse import chunk_rows, row_numbers
from .step import (backward_phase, clips, forward_phase, gather_phase, gradient_phase,
                   layer_forward, optimizer_phase, output_block)
from .update import clip_to_norm, step, sum_of_squares

_MADE = {}
_FIRST_LAYER = np.int64(0)  # not a literal 0: that would compile layer_block once more


def _once(make):
    """make(kinds) memoised per process: the same closure for the same kinds."""
    def get(kinds):
        key = (make.__module__, make.__name__, kinds)
        if key not in _MADE:
            _MADE[key] = make(kinds)
        return _MADE[key]

    get.__doc__ = make.__doc__
    return get


@njit(**DRIVER)
def meet(team, k):
    """The team's k + 1-th barrier (none for a team of one thread); returns k + 1."""
    if team.threads > 1:
        barrier(team.sync, k + 1, team.threads)
    return k + 1


@_once
def train_chunk(kinds):
    """The training loop for kinds: train(team, model, space, batches, rates, opt, noise,
    track)."""

    @njit(**JIT)
    def train(team, model, space, batches, rates, opt, noise, track):
        """Train on the batches (records.Batches) at the rates (records.Rates), updating
        params (and the optimizer state) in place; this thread runs parts [team.first,
        team.end) of each step (records.Team), the phases of step.py in order, the threads
        meeting at a barrier after every phase. Each part adds its weighted loss sum and
        correct count, part 0 the weight sum, to space's sums; losses are measured on each
        batch before its update."""
        top = model.table.shape[0] - 1
        k = 0  # barriers met
        b = 0  # batches trained
        for first in range(batches.start, batches.stop, batches.size):
            step = Step(batches.data, batches.order[first:min(first + batches.size,
                                                              batches.stop)],
                        rates.first_step + b + 1, rates.lrs[b], rates.l2)
            for t in range(team.first, team.end):
                gather_phase(kinds, Part(t, team.parts), model, space, step)
            k = meet(team, k)
            for l in range(top + 1):
                for t in range(team.first, team.end):
                    forward_phase(kinds, Part(t, team.parts), model, space, step, l, noise,
                                  track)
                k = meet(team, k)
            for l in range(top, 0, -1):
                for t in range(team.first, team.end):
                    backward_phase(kinds, Part(t, team.parts), model, space, step, l, noise,
                                   track)
                k = meet(team, k)
            for t in range(team.first, team.end):
                gradient_phase(kinds, Part(t, team.parts), model, space, step, opt, noise,
                               track)
            k = meet(team, k)
            if clips(opt):
                for t in range(team.first, team.end):
                    optimizer_phase(kinds, Part(t, team.parts), model, space, step, opt, track)
                k = meet(team, k)
            b += 1

    return train


@njit(**DRIVER)
def slab_outputs(kinds, model, space, slab, data, out):
    """After the forward pass of a slab (records.Slab) of an inference chunk: its rows'
    outputs into out when it has rows; when data.Y has rows, their weighted loss sum and
    correct count added to the slab's sums."""
    lo, hi, first = slab.lo, slab.hi, slab.first
    a = layer_block(space, slab.n, model.table.shape[0] - 1, A)
    if out.shape[0] > 0:
        for i in range(lo, hi):
            for j in range(a.shape[1]):
                out[first + i, j] = a[i, j]
    if data.Y.shape[0] > 0:
        loss, correct = output_block(kinds, model, space, Block(slab.n, lo, hi, 0, 0),
                                     as_mutable(data.Y[first + lo:first + hi]),
                                     as_mutable(data.weights[first + lo:first + hi]))
        space.sums[slab.index, LOSS] += loss
        space.sums[slab.index, CORRECT] += correct


@_once
def infer(kinds):
    """The inference loop for kinds: infer(team, model, space, data, out)."""
    bf16 = rounds_to_bf16(kinds)  # a constant of the closure: its branch compiled out or in

    @njit(**JIT)
    def infer_rows(team, model, space, data, out):
        """Forward pass over every row of data (records.Data), capacity rows at a time, each
        chunk cut into as many slabs as space's sums have parts; parameters untouched. This
        thread runs slabs [team.first, team.end) of every chunk, and the threads meet at a
        barrier after each chunk (the next one reuses the workspace).

        When out has rows, out = the network's outputs. When data.Y has rows, adds each
        slab's weighted loss sum and correct count to its sums. Always adds to the slab's
        non_finite sum the rows whose first-layer pre-activation is not finite: a NaN or inf
        anywhere in a row of X makes its whole row of z[0] NaN or inf, so the caller checks X
        for non-finite values only when this count is non-zero, instead of reading all of X
        once more.

        A bfloat16 network's products read rounded operands, as in training (precision.py).
        """
        table = model.table
        X = data.X
        top = table.shape[0] - 1
        all_rows = row_numbers(X)
        k = 0
        if bf16:  # the weights rounded once, every slab's share, before any product
            for s in range(team.first, team.end):
                round_weights(kinds, model, space, Part(s, team.parts))
            k = meet(team, k)
        for first in range(0, X.shape[0], space.capacity):
            n = min(space.capacity, X.shape[0] - first)
            x, rows = chunk_rows(X, first, n, all_rows, space)
            inputs = Inputs(X, rows, x)
            for s in range(team.first, team.end):
                lo, hi = share(s, team.parts, n)
                fill_slab(X, first, lo, hi, x)
                round_inputs(kinds, space, x, lo, hi)
                for l in range(top + 1):
                    layer_forward(kinds, model, space, inputs, l,
                                  Block(n, lo, hi, 0, table[l, N_OUT]), None, 0)
                space.sums[s, NON_FINITE] += non_finite_rows(
                    layer_block(space, n, _FIRST_LAYER, Z)[lo:hi])
                slab_outputs(kinds, model, space, Slab(s, first, n, lo, hi), data, out)
            k = meet(team, k)

    return infer_rows


@_once
def apply_gradient(kinds):
    """The update of a gradient computed elsewhere (summed over ranks, say), for the optimizer
    in kinds: apply(opt, params, lr, step_number)."""

    @njit(**JIT)
    def apply(opt, params, lr, step_number):
        """Clip opt.grads (the mean gradient, laid out like params) to opt.clip_norm when it
        is positive, then update params and the optimizer state rows in place as update
        number step_number at learning rate lr."""
        if opt.clip_norm > 0:
            clip_to_norm(opt.grads, math.sqrt(sum_of_squares(opt.grads)), opt.clip_norm)
        step(kinds, opt.hyper, params, opt.grads, opt.first, opt.second, step_number, lr)

    return apply
