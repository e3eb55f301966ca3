"""Compiled loops over many rows: training a chunk of mini-batches (also a gradient alone:
the step with no optimizer to apply it), and inference. No Python and no allocation per
mini-batch.

Each loop is compiled for the activation, loss and optimizer codes of one network: the
functions below make it once per ``kinds`` (codes.kinds), a constant of the closure, so that
only those codes' branches are compiled (a first fit compiled every activation and loss
before), and Numba caches each on disk like any kernel (a closure's constants are part of
its cache key). Tuples as in step.py: ``model = (params, table)``, ``space`` the workspace
(layout.py), opt and noise None or their tuples.
"""

import math

import numpy as np
from numba import njit

from .config import DRIVER, JIT
from .elementwise import non_finite_rows
from .layout import A, N_OUT, Z, layer_block
from .parallel import barrier, share
from .raw_inputs import fill_slab
from .sparse import chunk_rows, row_numbers
from .step import CORRECT, LOSS, NON_FINITE, layer_forward, n_phases, output_block, phase
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


@_once
def train_chunk(kinds):
    """The training loop for kinds: train(team, model, space, batches, run, opt, noise,
    track)."""

    @njit(**JIT)
    def train(team, model, space, batches, run, opt, noise, track):
        """Train on the samples order[start:stop] of data, batch_size at a time, updating
        params (and the optimizer state) in place; this thread runs parts [t0, t1) of each
        step.

        team = (t0, t1, parts, threads, sync): the threads of a team share sync (int64,
        [barrier count, abort], zeros at the start) and meet at a barrier after every phase
        (none with one thread). batches = (data, order, start, stop, batch_size) with data =
        (X, Y, weights). run = (lrs, first_step, l2): the b-th batch of this call is update
        number first_step + b + 1, at learning rate lrs[b], with the L2 penalty l2 (step.py).
        Each part adds its (weighted loss sum, correct count, weight sum) to its row of
        space's tallies; losses are measured on each batch before its update.
        """
        t0, t1, parts, threads, sync = team
        data, order, start, stop, batch_size = batches
        lrs, first_step, l2 = run
        table = model.table
        k = 0
        b = 0
        for first in range(start, stop, batch_size):
            rows = order[first:min(first + batch_size, stop)]
            for p in range(n_phases(table, opt)):
                for t in range(t0, t1):
                    phase(kinds, (p, t, parts), model, space, (data, rows),
                          (lrs[b], first_step + b + 1, l2), opt, noise, track)
                if threads > 1:
                    k += 1
                    barrier(sync, k, threads)
            b += 1

    return train


@njit(**DRIVER)
def slab_outputs(kinds, model, space, n, first, slab, Y, weights, out):
    """After the forward pass of slab = (s, lo, hi), rows lo to hi of an n-row inference
    chunk starting at row first of X: their outputs into out when it has rows; when Y has
    rows, their weighted loss sum and correct count added to row s of space's tallies."""
    s, lo, hi = slab
    a = layer_block(space, n, model.table.shape[0] - 1, A)
    if out.shape[0] > 0:
        for i in range(lo, hi):
            for j in range(a.shape[1]):
                out[first + i, j] = a[i, j]
    if Y.shape[0] > 0:
        loss, correct = output_block(kinds, model, space, n, (lo, hi), Y[first + lo:first + hi],
                                     weights[first + lo:first + hi])
        space.tallies[s, LOSS] += loss
        space.tallies[s, CORRECT] += correct


@_once
def infer(kinds):
    """The inference loop for kinds: infer(team, model, space, data, out)."""

    @njit(**JIT)
    def infer_rows(team, model, space, data, out):
        """Forward pass over every row of data = (X, Y, weights), capacity rows at a time,
        each chunk cut into as many slabs as space's tallies have rows; parameters
        untouched. team = (first slab, end slab, slabs, threads, sync) as in train: this
        thread runs slabs [s0, s1) of every chunk, and the threads meet at a barrier after
        each chunk (the next one reuses the workspace).

        When out has rows, out = the network's outputs. When Y has rows, adds to tallies[s]
        the weighted loss sum and the correct count of slab s. Always adds to tallies[s,
        NON_FINITE]
        the rows of slab s whose first-layer pre-activation is not finite: a NaN or inf
        anywhere in a row of X makes its whole row of z[0] NaN or inf, so the caller checks
        X for non-finite values only when this count is non-zero, instead of reading all of
        X once more.
        """
        s0, s1, n_slabs, threads, sync = team
        table = model.table
        tallies = space.tallies
        X, Y, weights = data
        top = table.shape[0] - 1
        capacity = space.capacity
        all_rows = row_numbers(X)
        k = 0
        for first in range(0, X.shape[0], capacity):
            n = min(capacity, X.shape[0] - first)
            x, rows = chunk_rows(X, first, n, all_rows, space)
            for s in range(s0, s1):
                lo, hi = share(s, n_slabs, n)
                fill_slab(X, first, lo, hi, x)
                for l in range(top + 1):
                    layer_forward(kinds, model, space, X, rows, x, l,
                                  (lo, hi, 0, table[l, N_OUT]), None, 0)
                tallies[s, NON_FINITE] += non_finite_rows(
                    layer_block(space, n, _FIRST_LAYER, Z)[lo:hi])
                slab_outputs(kinds, model, space, n, first, (s, lo, hi), Y, weights, out)
            if threads > 1:
                k += 1
                barrier(sync, k, threads)

    return infer_rows


@_once
def apply_gradient(kinds):
    """The update of a gradient computed elsewhere (summed over ranks, say), for the optimizer
    in kinds: apply(hyper, params, grads, state, clip_norm, lr, step_number)."""

    @njit(**JIT)
    def apply(hyper, params, grads, state, clip_norm, lr, step_number):
        """Clip grads (the mean gradient, laid out like params) to clip_norm when it is
        positive, then update params and the optimizer state rows in place as update
        number step_number at learning rate lr."""
        if clip_norm > 0:
            clip_to_norm(grads, math.sqrt(sum_of_squares(grads)), clip_norm)
        step(kinds, hyper, params, grads, state[0], state[-1], step_number, lr)

    return apply
