"""The compiled training loop: many mini-batches per call, no Python and no allocation per batch."""

from numba import njit

from ..config import JIT
from ..functions import output_error
from ..layout import ACT
from .passes import backward, batch_x, batch_y, forward, layer_block


@njit(**JIT)
def gather(X, Y, rows, ws, table, capacity):
    """Copy the samples X[rows], Y[rows] into the workspace's batch x and y blocks."""
    n = rows.shape[0]
    x = batch_x(ws, table, capacity, n)
    y = batch_y(ws, table, capacity, n)
    # Explicit loops: Numba's slice assignment goes through generic broadcasting code that
    # cost 3x more here (bench/perf_log.md).
    for i in range(n):
        src, dst = X[rows[i]], x[i]
        for k in range(src.shape[0]):
            dst[k] = src[k]
        src, dst = Y[rows[i]], y[i]
        for k in range(src.shape[0]):
            dst[k] = src[k]


@njit(**JIT)
def sgd_batches(X, Y, order, start, stop, batch_size, params, table, loss_code, lr, ws, stats):
    """Plain SGD over the samples order[start:stop], batch_size at a time, updating params in place.

    Adds the summed per-sample loss to stats[0] and the correct-prediction count to stats[1]
    (each measured on the batch before its update, as Keras reports training loss).
    """
    for first in range(start, stop, batch_size):
        rows = order[first:min(first + batch_size, stop)]
        n = rows.shape[0]
        gather(X, Y, rows, ws, table, batch_size)
        x = batch_x(ws, table, batch_size, n)
        forward(params, table, x, ws, batch_size)
        loss, correct = backward(params, table, loss_code, x, ws, batch_size, params, -lr / n, 1.0)
        stats[0] += loss
        stats[1] += correct


@njit(**JIT)
def forward_batches(X, capacity, params, table, ws, out):
    """out = network outputs for every row of X, computed capacity rows at a time."""
    top = table.shape[0] - 1
    n_total = X.shape[0]
    for first in range(0, n_total, capacity):
        n = min(capacity, n_total - first)
        forward(params, table, X[first:first + n], ws, capacity)
        out[first:first + n] = layer_block(ws, table, capacity, n, top, 1)


@njit(**JIT)
def loss_batches(X, Y, capacity, params, table, loss_code, ws):
    """(sum of per-sample losses, correct count) over all rows of X, Y; parameters untouched."""
    top = table.shape[0] - 1
    n_total = X.shape[0]
    loss, correct = 0.0, 0
    for first in range(0, n_total, capacity):
        n = min(capacity, n_total - first)
        forward(params, table, X[first:first + n], ws, capacity)
        batch_loss, batch_correct = output_error(
            loss_code, table[top, ACT], layer_block(ws, table, capacity, n, top, 0),
            layer_block(ws, table, capacity, n, top, 1), Y[first:first + n],
            layer_block(ws, table, capacity, n, top, 2))
        loss += batch_loss
        correct += batch_correct
    return loss, correct
