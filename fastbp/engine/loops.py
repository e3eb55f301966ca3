"""Compiled loops over many rows: training a chunk of mini-batches, inference, and the
gradient of one batch. No Python and no allocation per mini-batch.

Tuples as in step.py: ``model = (params, table, loss code)``, ``space`` the workspace
(layout.py), opt and noise None or their tuples.
"""

import numpy as np
from numba import njit

from .config import JIT
from .elementwise import non_finite_rows
from .layout import A, N_OUT, Z, layer_block, layer_input
from .parallel import barrier, share
from .step import CORRECT, LOSS, forward_block, n_phases, output_block, phase


@njit(**JIT)
def train_chunk(team, model, space, batches, run, opt, noise):
    """Train on the samples order[start:stop] of data, batch_size at a time, updating params
    (and the optimizer state) in place; this thread runs parts [t0, t1) of each step.

    team = (t0, t1, parts, threads, sync): the threads of a team share sync (int64, [barrier
    count, abort], zeros at the start) and meet at a barrier after every phase (none with one
    thread). batches = (data, order, start, stop, batch_size) with data = (X, Y, weights).
    run = (lrs, first_step): the b-th batch of this call is update number first_step + b + 1,
    at learning rate lrs[b]. Each part adds its (weighted loss sum, correct count, weight sum)
    to its row of space's tallies; losses are measured on each batch before its update.
    """
    t0, t1, parts, threads, sync = team
    data, order, start, stop, batch_size = batches
    lrs, first_step = run
    table = model[1]
    k = 0
    b = 0
    for first in range(start, stop, batch_size):
        rows = order[first:min(first + batch_size, stop)]
        for p in range(n_phases(table, opt)):
            for t in range(t0, t1):
                phase(p, (t, parts), model, space, (data, rows), (lrs[b], first_step + b + 1),
                      opt, noise)
            if threads > 1:
                k += 1
                barrier(sync, k, threads)
        b += 1


@njit(**JIT)
def gradient(model, space, data, grads, noise, step_number):
    """grads = the gradient of the weighted mean loss over every row of data = (X, Y,
    weights), one batch, parameters untouched; the workspace keeps each layer's z, a and
    delta (for backprop's deltas) and the tallies row 0 its loss sum, correct count and
    weight sum. noise and step_number give the dropout masks, as training draws them."""
    params = model[0]
    rows = np.arange(data[0].shape[0])
    state = np.empty((1, 1), dtype=params.dtype)  # unused: no optimizer phase runs
    opt = (0, np.zeros(1), grads, state, 0.0)
    for p in range(n_phases(model[1], opt) - 1):
        phase(p, (0, 1), model, space, (data, rows), (0.0, step_number), opt, noise)


@njit(**JIT)
def infer(team, model, space, data, out):
    """Forward pass over every row of data = (X, Y, weights), capacity rows at a time, each
    chunk cut into as many slabs as space's tallies have rows; parameters untouched. team =
    (first slab, end slab, slabs, threads, sync) as in train_chunk: this thread runs slabs
    [s0, s1) of every chunk, and the threads meet at a barrier after each chunk (the next
    one reuses the workspace).

    When out has rows, out = the network's outputs. When Y has rows, adds to tallies[s] the
    weighted loss sum and the correct count of slab s. Always adds to tallies[s, 2] the rows
    of slab s whose first-layer pre-activation is not finite: a NaN or inf anywhere in a row
    of X makes its whole row of z[0] NaN or inf, so the caller checks X for non-finite values
    only when this count is non-zero, instead of reading all of X once more.
    """
    s0, s1, n_slabs, threads, sync = team
    _, table, _ = model
    tallies = space[3]
    X, Y, weights = data
    top = table.shape[0] - 1
    capacity = space[2]
    k = 0
    for first in range(0, X.shape[0], capacity):
        n = min(capacity, X.shape[0] - first)
        x = X[first:first + n]
        for s in range(s0, s1):
            lo, hi = share(s, n_slabs, n)
            for l in range(top + 1):
                forward_block(model, space, layer_input(x, space, l, None), l, (lo, hi),
                              (0, table[l, N_OUT]), None, 0)
            tallies[s, 2] += non_finite_rows(layer_block(space, n, 0, Z)[lo:hi])
            a = layer_block(space, n, top, A)
            if out.shape[0] > 0:
                for i in range(lo, hi):
                    for j in range(a.shape[1]):
                        out[first + i, j] = a[i, j]
            if Y.shape[0] > 0:
                loss, correct = output_block(model, space, n, (lo, hi), Y[first + lo:first + hi],
                                             weights[first + lo:first + hi])
                tallies[s, LOSS] += loss
                tallies[s, CORRECT] += correct
        if threads > 1:
            k += 1
            barrier(sync, k, threads)
