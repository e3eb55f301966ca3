"""Compiled loops over many mini-batches: training, inference, loss. No Python and no
allocation per mini-batch.

Threads: training runs on the calling thread and lets BLAS thread each product. Inference
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
from .passes import (batch_w, batch_x, batch_y, errors_rows, forward_rows, layer_block,
                     update)


@njit(**JIT)
def gather(data, rows, ws, table, capacity):
    """Copy X[rows[i]], Y[rows[i]], weights[rows[i]] into row i of the batch x, y and w
    blocks, for every i; data is the tuple (X, Y, weights)."""
    X, Y, weights = data
    n = rows.shape[0]
    x = batch_x(ws, table, capacity, n)
    y = batch_y(ws, table, capacity, n)
    w = batch_w(ws, table, capacity, n)
    # Explicit loops: Numba's slice assignment goes through generic broadcasting code that
    # cost 3x more here (bench/perf_log.md).
    for i in range(n):
        src, dst = X[rows[i]], x[i]
        for k in range(src.shape[0]):
            dst[k] = src[k]
        src, dst = Y[rows[i]], y[i]
        for k in range(src.shape[0]):
            dst[k] = src[k]
        w[i] = weights[rows[i]]


@njit(**JIT)
def train_batches(data, order, start, stop, batch_size, params, table, loss_code, ws, stats,
                  lrs, opt, noise):
    """Train on the samples order[start:stop] of data = (X, Y, weights), batch_size at a time,
    updating params in place.

    lrs[b] is the learning rate of the b-th batch of this call. opt is the tuple
    (fused, code, hyper, grads, state, first_step, clip_norm): with ``fused`` (plain SGD, no
    clipping) the update is fused into the gradient product; otherwise the batch gradient
    goes to grads, is clipped to clip_norm when clip_norm > 0, and optimizers.step applies
    update number first_step + b + 1. noise = (dropout rates, seed) for the training pass.
    Each batch's loss is the weighted mean of its per-sample losses. Adds the weighted loss
    sum to stats[0], the correct-prediction count to stats[1] and the weight sum to stats[2]
    (losses measured on each batch before its update, as Keras reports training loss).

    Runs on the calling thread; BLAS threads each product itself (slabs of rows and units on
    Numba's threads measured slower for training at every standard configuration).
    """
    fused, code, hyper, grads, state, first_step, clip_norm = opt
    b = 0
    for first in range(start, stop, batch_size):
        rows = order[first:min(first + batch_size, stop)]
        n = rows.shape[0]
        t = first_step + b + 1
        gather(data, rows, ws, table, batch_size)
        x = batch_x(ws, table, batch_size, n)
        forward_rows(params, table, x, ws, batch_size, 0, n, noise, t)
        loss, correct = errors_rows(params, table, loss_code, n, ws, batch_size, 0, n, noise, t)
        w = batch_w(ws, table, batch_size, n)
        weight_sum = 0.0
        for i in range(n):
            weight_sum += w[i]
        if fused:
            update(table, x, ws, batch_size, params, -lrs[b] / weight_sum, 1.0, noise[0])
        else:
            update(table, x, ws, batch_size, grads, 1.0 / weight_sum, 0.0, noise[0])
            if clip_norm > 0:
                clip_by_global_norm(grads, clip_norm)
            step(code, hyper, params, grads, state, t, lrs[b])
        stats[0] += loss
        stats[1] += correct
        stats[2] += weight_sum
        b += 1


@njit(parallel=True, **JIT)
def forward_batches(X, capacity, params, table, ws, out, n_slabs, noise):
    """out = network outputs for every row of X, computed capacity rows at a time."""
    top = table.shape[0] - 1
    n_total = X.shape[0]
    for first in range(0, n_total, capacity):
        n = min(capacity, n_total - first)
        x = X[first:first + n]
        for s in prange(n_slabs):
            lo, hi = s * n // n_slabs, (s + 1) * n // n_slabs
            forward_rows(params, table, x, ws, capacity, lo, hi, noise, 0)
            a = layer_block(ws, table, capacity, n, top, A)
            for i in range(lo, hi):
                for j in range(a.shape[1]):
                    out[first + i, j] = a[i, j]


@njit(parallel=True, **JIT)
def loss_batches(data, capacity, params, table, loss_code, ws, slab_stats, noise):
    """(weighted sum of per-sample losses, correct count) over all rows of data = (X, Y,
    weights); parameters untouched."""
    X, Y, weights = data
    top = table.shape[0] - 1
    n_slabs = slab_stats.shape[0]
    n_total = X.shape[0]
    loss, correct = 0.0, 0
    for first in range(0, n_total, capacity):
        n = min(capacity, n_total - first)
        x = X[first:first + n]
        for s in prange(n_slabs):
            lo, hi = s * n // n_slabs, (s + 1) * n // n_slabs
            forward_rows(params, table, x, ws, capacity, lo, hi, noise, 0)
            slab_loss, slab_correct = output_error(
                loss_code, table[top, ACT], layer_block(ws, table, capacity, n, top, Z)[lo:hi],
                layer_block(ws, table, capacity, n, top, A)[lo:hi], Y[first + lo:first + hi],
                weights[first + lo:first + hi],
                layer_block(ws, table, capacity, n, top, DELTA)[lo:hi])
            slab_stats[s, 0] = slab_loss
            slab_stats[s, 1] = slab_correct
        for s in range(n_slabs):
            loss += slab_stats[s, 0]
            correct += slab_stats[s, 1]
    return loss, correct
