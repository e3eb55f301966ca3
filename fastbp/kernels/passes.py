"""One mini-batch through the network: forward pass and backward pass on flat buffers.

Views into the flat parameter and workspace buffers are made here; they cost no allocation.
"""

from numba import njit

from ..config import JIT
from ..functions import activate, output_error, scale_by_derivative
from ..layout import ACT, B_OFF, N_IN, N_OUT, UNIT_OFF, W_OFF
from .products import affine, error_back, outer_update


@njit(**JIT)
def _block(buf, start, rows, cols):
    """(rows, cols) C-contiguous view of buf[start:start + rows * cols]."""
    return buf[start:start + rows * cols].reshape((rows, cols))


@njit(**JIT)
def weight(params, table, l):
    """View of W[l], shape (n_out, n_in)."""
    return _block(params, table[l, W_OFF], table[l, N_OUT], table[l, N_IN])


@njit(**JIT)
def bias(params, table, l):
    """View of b[l], shape (n_out,)."""
    return params[table[l, B_OFF]:table[l, B_OFF] + table[l, N_OUT]]


@njit(**JIT)
def batch_x(ws, table, capacity, n):
    """View of the gathered inputs, shape (n, n_0)."""
    return _block(ws, 0, n, table[0, N_IN])


@njit(**JIT)
def batch_y(ws, table, capacity, n):
    """View of the gathered targets, shape (n, n_L)."""
    return _block(ws, capacity * table[0, N_IN], n, table[-1, N_OUT])


@njit(**JIT)
def layer_block(ws, table, capacity, n, l, which):
    """View of z (which=0), a (1) or delta (2) of layer l, shape (n, n_out)."""
    units = table[-1, UNIT_OFF] + table[-1, N_OUT]
    start = capacity * (table[0, N_IN] + table[-1, N_OUT] + which * units + table[l, UNIT_OFF])
    return _block(ws, start, n, table[l, N_OUT])


@njit(**JIT)
def forward(params, table, x, ws, capacity):
    """z[l] = a[l-1] @ W[l].T + b[l], a[l] = sigma(z[l]) for every layer, with a[-1] = x.

    x is any C-contiguous (n, n_0) array (the gathered batch, or rows of the caller's X);
    writes the first n rows of z and a of every layer.
    """
    n = x.shape[0]
    a_prev = x
    for l in range(table.shape[0]):
        z = layer_block(ws, table, capacity, n, l, 0)
        a = layer_block(ws, table, capacity, n, l, 1)
        affine(a_prev, weight(params, table, l), bias(params, table, l), z)
        activate(table[l, ACT], z, a)
        a_prev = a


@njit(**JIT)
def backward(params, table, loss_code, x, ws, capacity, target, alpha, beta):
    """Backpropagate the batch x after ``forward(params, table, x, ...)``; returns (loss sum,
    correct count). The batch targets are read from the workspace's y block.

    For every layer, top down: delta (seed eq. 1) from the output error or the recursion
    delta[l-1] = (delta[l] @ W[l]) * sigma'(z[l-1]) (eq. 6/7), then
    target_W[l] = beta * target_W[l] + alpha * delta[l].T @ a[l-1]   (eq. 3, summed over rows)
    target_b[l] = beta * target_b[l] + alpha * sum_rows delta[l]     (eq. 4).
    target is a buffer laid out like params: the gradient buffer (alpha = 1/n, beta = 0), or
    params itself for the fused SGD step (alpha = -lr/n, beta = 1). The recursion reads W[l]
    before W[l] is updated, so updating in place is exact.
    """
    n = x.shape[0]
    top = table.shape[0] - 1
    loss, correct = output_error(
        loss_code, table[top, ACT],
        layer_block(ws, table, capacity, n, top, 0), layer_block(ws, table, capacity, n, top, 1),
        batch_y(ws, table, capacity, n), layer_block(ws, table, capacity, n, top, 2))
    for l in range(top, -1, -1):
        delta = layer_block(ws, table, capacity, n, l, 2)
        W = weight(params, table, l)
        if l > 0:
            a_prev = layer_block(ws, table, capacity, n, l - 1, 1)
            delta_prev = layer_block(ws, table, capacity, n, l - 1, 2)
            error_back(delta, W, delta_prev)
            scale_by_derivative(table[l - 1, ACT], layer_block(ws, table, capacity, n, l - 1, 0),
                                a_prev, delta_prev)
        else:  # the inputs need no error: skip that product
            a_prev = x
        outer_update(alpha, delta, a_prev, beta, weight(target, table, l))
        target_b = bias(target, table, l)
        n_out = target_b.shape[0]
        for j in range(n_out):  # beta = 0 overwrites, as BLAS does: the buffer may hold NaN
            target_b[j] = beta * target_b[j] if beta != 0 else 0.0
        for i in range(n):  # rows in order: a fixed summation order, vectorised along units
            for j in range(n_out):
                target_b[j] += alpha * delta[i, j]
    return loss, correct
