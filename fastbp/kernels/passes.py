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
def forward_rows(params, table, x, ws, capacity, lo, hi):
    """Forward pass of the rows [lo, hi) of the batch x (any C-contiguous (n, n_0) array):
    z[l] = a[l-1] @ W[l].T + b[l], a[l] = sigma(z[l]) for every layer, with a[-1] = x.

    Writes those rows of z and a of every layer; rows are independent, so slabs of rows can
    run on different threads.
    """
    n = x.shape[0]
    a_prev = x[lo:hi]
    for l in range(table.shape[0]):
        z = layer_block(ws, table, capacity, n, l, 0)[lo:hi]
        a = layer_block(ws, table, capacity, n, l, 1)[lo:hi]
        affine(a_prev, weight(params, table, l), bias(params, table, l), z)
        activate(table[l, ACT], z, a)
        a_prev = a


@njit(**JIT)
def forward(params, table, x, ws, capacity):
    """Forward pass of every row of x; see forward_rows."""
    forward_rows(params, table, x, ws, capacity, 0, x.shape[0])


@njit(**JIT)
def errors_rows(params, table, loss_code, n, ws, capacity, lo, hi):
    """Per-sample errors of the rows [lo, hi) of an n-row batch after its forward pass;
    returns (loss sum, correct count) of those rows.

    delta of the output layer from the output error (seed eq. 1), then the recursion
    delta[l-1] = (delta[l] @ W[l]) * sigma'(z[l-1]) (eq. 6/7) down to the first hidden layer;
    the inputs need no error, so that product is skipped. Targets come from the workspace's
    y block. Writes those rows of delta of every layer.
    """
    top = table.shape[0] - 1
    loss, correct = output_error(
        loss_code, table[top, ACT], layer_block(ws, table, capacity, n, top, 0)[lo:hi],
        layer_block(ws, table, capacity, n, top, 1)[lo:hi],
        batch_y(ws, table, capacity, n)[lo:hi], layer_block(ws, table, capacity, n, top, 2)[lo:hi])
    for l in range(top, 0, -1):
        delta_prev = layer_block(ws, table, capacity, n, l - 1, 2)[lo:hi]
        error_back(layer_block(ws, table, capacity, n, l, 2)[lo:hi], weight(params, table, l),
                   delta_prev)
        scale_by_derivative(table[l - 1, ACT], layer_block(ws, table, capacity, n, l - 1, 0)[lo:hi],
                            layer_block(ws, table, capacity, n, l - 1, 1)[lo:hi], delta_prev)
    return loss, correct


@njit(**JIT)
def update(table, x, ws, capacity, target, alpha, beta):
    """For every layer, after errors_rows over the whole batch x:
    target_W[l] = beta * target_W[l] + alpha * delta[l].T @ a[l-1]   (eq. 3, summed over rows)
    target_b[l] = beta * target_b[l] + alpha * sum over rows of delta[l]   (eq. 4)

    target is laid out like params: the gradient buffer (alpha = 1/n, beta = 0), or params
    itself for the fused SGD step (alpha = -lr/n, beta = 1; every delta was computed before,
    so updating in place is exact).
    """
    n = x.shape[0]
    for l in range(table.shape[0]):
        delta = layer_block(ws, table, capacity, n, l, 2)
        a_prev = x if l == 0 else layer_block(ws, table, capacity, n, l - 1, 1)
        outer_update(alpha, delta, a_prev, beta, weight(target, table, l))
        target_b = bias(target, table, l)
        n_out = target_b.shape[0]
        for j in range(n_out):  # beta = 0 overwrites, as BLAS does: the buffer may hold NaN
            target_b[j] = beta * target_b[j] if beta != 0 else 0.0
        for i in range(n):  # rows in order: a fixed summation order, vectorised along units
            for j in range(n_out):
                target_b[j] += alpha * delta[i, j]


@njit(**JIT)
def backward(params, table, loss_code, x, ws, capacity, target, alpha, beta):
    """Errors and parameter update (or gradient) of the whole batch x after ``forward``;
    returns (loss sum, correct count). See errors_rows and update."""
    n = x.shape[0]
    loss, correct = errors_rows(params, table, loss_code, n, ws, capacity, 0, n)
    update(table, x, ws, capacity, target, alpha, beta)
    return loss, correct
