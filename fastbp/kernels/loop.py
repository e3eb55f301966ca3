"""Compiled loops over many mini-batches: training, inference, loss. No Python and no
allocation per mini-batch.

Threads: train_batches runs on the calling thread and lets BLAS thread each product
(mid-sized batches go to kernels/halves.py instead). Inference
and loss cut each chunk of rows into a fixed number of slabs (``n_slabs``, from the caller,
never from the thread count), one per Numba thread, each calling a single-threaded BLAS (the
caller holds BLAS to one thread so the two thread pools never compete for the cores). With
one thread or two, the same slabs compute the same numbers in the same order.
"""

from numba import njit, prange

from ..config import JIT
from ..functions import output_error
from ..layout import A, ACT, DELTA, Z
from ..optimizers import clip_by_global_norm, step
from .passes import (batch_w, batch_weight_sum, batch_x, batch_y, errors_rows, forward_rows,
                     layer_block, update)


@njit(**JIT)
def gather(data, rows, ws, table, capacity, lo, hi):
    """Copy X[rows[i]], Y[rows[i]], weights[rows[i]] into row i of the batch x, y and w
    blocks, for i in [lo, hi); data is the tuple (X, Y, weights)."""
    X, Y, weights = data
    n = rows.shape[0]
    x = batch_x(ws, table, capacity, n)
    y = batch_y(ws, table, capacity, n)
    w = batch_w(ws, table, capacity, n)
    # Explicit loops: Numba's slice assignment goes through generic broadcasting code that
    # cost 3x more here (bench/perf_log.md).
    for i in range(lo, hi):
        src, dst = X[rows[i]], x[i]
        for k in range(src.shape[0]):
            dst[k] = src[k]
        src, dst = Y[rows[i]], y[i]
        for k in range(src.shape[0]):
            dst[k] = src[k]
        w[i] = weights[rows[i]]


@njit(**JIT)
def train_batches(data, order, start, stop, batch_size, params, table, loss_code, ws, stats,
                  lrs, first_step, opt, noise):
    """Train on the samples order[start:stop] of data = (X, Y, weights), batch_size at a time,
    updating params in place.

    lrs[b] is the learning rate of the b-th batch of this call, which is update number
    first_step + b + 1. opt is None for plain SGD without clipping: the update is fused into
    the gradient product (and no optimizer step is compiled). Otherwise opt is the tuple
    (code, hyper, grads, state, clip_norm): the batch gradient goes to grads, is clipped to
    clip_norm when clip_norm > 0, and optimizers.step applies it. noise = (dropout rates,
    seed) for the training pass.
    Each batch's loss is the weighted mean of its per-sample losses. Adds the weighted loss
    sum to stats[0], the correct-prediction count to stats[1] and the weight sum to stats[2]
    (losses measured on each batch before its update, as Keras reports training loss).

    Runs on the calling thread; BLAS threads each product itself (a parallel region per
    product measured slower; see halves.py for the split that pays).
    """
    b = 0
    for first in range(start, stop, batch_size):
        rows = order[first:min(first + batch_size, stop)]
        n = rows.shape[0]
        t = first_step + b + 1
        gather(data, rows, ws, table, batch_size, 0, n)
        x = batch_x(ws, table, batch_size, n)
        forward_rows(params, table, x, ws, batch_size, 0, n, noise, t)
        loss, correct = errors_rows(params, table, loss_code, n, ws, batch_size, 0, n, noise, t)
        weight_sum = batch_weight_sum(ws, table, batch_size, n)
        if opt is None:
            update(table, x, ws, batch_size, params, -lrs[b] / weight_sum, 1.0, noise)
        else:
            code, hyper, grads, state, clip_norm = opt
            update(table, x, ws, batch_size, grads, 1.0 / weight_sum, 0.0, noise)
            if clip_norm > 0:
                clip_by_global_norm(grads, clip_norm)
            step(code, hyper, params, grads, state[0], state[-1], t, lrs[b])
        stats[0] += loss
        stats[1] += correct
        stats[2] += weight_sum
        b += 1


@njit(**JIT)
def _non_finite_rows(z):
    """How many rows of z hold a NaN or an infinity."""
    count = 0
    for i in range(z.shape[0]):
        probe = 0.0
        for j in range(z.shape[1]):  # inf * 0 and NaN * 0 are NaN: one branch-free sum
            probe += z[i, j] * 0.0
        if probe != probe:
            count += 1
    return count


@njit(parallel=True, **JIT)
def infer_batches(data, capacity, params, table, loss_code, ws, out, slab_stats, noise):
    """Forward pass over every row of data = (X, Y, weights), capacity rows at a time;
    parameters untouched.

    When out has rows, out = the network's outputs. When Y has rows, adds to slab_stats[s]
    the weighted loss sum and the correct-prediction count of slab s. Always adds to
    slab_stats[s, 2] the rows of slab s whose first-layer pre-activation is not finite: a NaN
    or inf anywhere in a row of X makes its whole row of z[0] NaN or inf, so the caller can
    check X for non-finite values only when this count is non-zero, instead of reading all
    of X once more before the pass.
    """
    X, Y, weights = data
    top = table.shape[0] - 1
    n_slabs = slab_stats.shape[0]
    n_total = X.shape[0]
    for first in range(0, n_total, capacity):
        n = min(capacity, n_total - first)
        x = X[first:first + n]
        for s in prange(n_slabs):
            lo, hi = s * n // n_slabs, (s + 1) * n // n_slabs
            forward_rows(params, table, x, ws, capacity, lo, hi, noise, 0)
            slab_stats[s, 2] += _non_finite_rows(layer_block(ws, table, capacity, n, 0, Z)[lo:hi])
            a = layer_block(ws, table, capacity, n, top, A)[lo:hi]
            if out.shape[0] > 0:
                for i in range(hi - lo):
                    for j in range(a.shape[1]):
                        out[first + lo + i, j] = a[i, j]
            if Y.shape[0] > 0:
                loss, correct = output_error(
                    loss_code, table[top, ACT], layer_block(ws, table, capacity, n, top, Z)[lo:hi],
                    a, Y[first + lo:first + hi], weights[first + lo:first + hi],
                    layer_block(ws, table, capacity, n, top, DELTA)[lo:hi])
                slab_stats[s, 0] += loss
                slab_stats[s, 1] += correct
