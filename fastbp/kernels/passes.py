"""One mini-batch through the network: forward pass and backward pass on flat buffers.

Views into the flat parameter and workspace buffers are made here; they cost no allocation.
``noise`` is the pair (dropout rates per layer as a float64 array, seed): rates of zero
everywhere mean no dropout (inference, evaluation, backprop).
"""

import numpy as np
from numba import njit

from ..config import DRIVER, JIT
from ..functions import activate, output_error, scale_by_derivative
from ..layout import A, ACT, B_OFF, DELTA, FED, N_IN, N_OUT, UNIT_OFF, W_OFF, Z
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
    return ws[:n * table[0, N_IN]].reshape((n, table[0, N_IN]))


@njit(**JIT)
def batch_y(ws, table, capacity, n):
    """View of the gathered targets, shape (n, n_L)."""
    return _block(ws, capacity * table[0, N_IN], n, table[-1, N_OUT])


@njit(**JIT)
def batch_w(ws, table, capacity, n):
    """View of the gathered sample weights, shape (n,)."""
    start = capacity * (table[0, N_IN] + table[-1, N_OUT])
    return ws[start:start + n]


@njit(**JIT)
def batch_weight_sum(ws, table, capacity, n):
    """Sum of the n gathered sample weights, in row order."""
    w = batch_w(ws, table, capacity, n)
    total = 0.0
    for i in range(n):
        total += w[i]
    return total


@njit(**JIT)
def layer_block(ws, table, capacity, n, l, which):
    """View of block ``which`` (layout.Z, A, DELTA or FED) of layer l, shape (n, n_out)."""
    units = table[-1, UNIT_OFF] + table[-1, N_OUT]
    start = capacity * (table[0, N_IN] + table[-1, N_OUT] + 1 + which * units
                        + table[l, UNIT_OFF])
    return _block(ws, start, n, table[l, N_OUT])


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(**JIT)
def keep_scale(seed, step, l, i, j, rate):
    """Inverted-dropout multiplier of unit j of layer l for batch row i at update ``step``:
    0 with probability ``rate``, else 1 / (1 - rate).

    A counter-based hash (SplitMix64's finaliser) of (seed, step, l, i, j): the forward and
    backward passes recompute the same mask without storing it, and it does not depend on
    threads or on how the epoch is cut into chunks.
    """
    h = np.uint64(seed) ^ (np.uint64(step) * _GOLDEN)
    h ^= (np.uint64(l) << np.uint64(48)) ^ (np.uint64(i) << np.uint64(24)) ^ np.uint64(j)
    h = (h ^ (h >> np.uint64(30))) * _MIX1
    h = (h ^ (h >> np.uint64(27))) * _MIX2
    h ^= h >> np.uint64(31)
    u = (h >> np.uint64(11)) * (1.0 / 9007199254740992.0)  # 53 random bits in [0, 1)
    return 0.0 if u < rate else 1.0 / (1.0 - rate)


@njit(**JIT)
def apply_dropout(values, out, noise, step, l, row0, col0):
    """out = values * keep_scale for each element of a block of layer l's units whose first
    element is unit col0 of batch row row0."""
    rates, seed = noise
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            out[i, j] = values[i, j] * keep_scale(seed, step, l, row0 + i, col0 + j, rates[l])


@njit(**DRIVER)
def forward_rows(params, table, x, ws, capacity, lo, hi, noise, step):
    """Forward pass of the rows [lo, hi) of the batch x (any C-contiguous (n, n_0) array):
    z[l] = a[l-1] @ W[l].T + b[l], a[l] = sigma(z[l]) for every layer, with a[-1] = x; a layer
    with dropout feeds the next one a[l] * mask (its FED block) instead of a[l].

    Writes those rows of z, a (and FED) of every layer; rows are independent, so slabs of
    rows can run on different threads.
    """
    n = x.shape[0]
    a_prev = x[lo:hi]
    for l in range(table.shape[0]):
        z = layer_block(ws, table, capacity, n, l, Z)[lo:hi]
        a = layer_block(ws, table, capacity, n, l, A)[lo:hi]
        affine(a_prev, weight(params, table, l), bias(params, table, l), z)
        activate(table[l, ACT], z, a)
        a_prev = a
        if noise[0][l] > 0:
            a_prev = layer_block(ws, table, capacity, n, l, FED)[lo:hi]
            apply_dropout(a, a_prev, noise, step, l, lo, 0)


@njit(**DRIVER)
def errors_rows(params, table, loss_code, n, ws, capacity, lo, hi, noise, step):
    """Per-sample errors of the rows [lo, hi) of an n-row batch after its forward pass;
    returns (weighted loss sum, correct count) of those rows.

    delta of the output layer from the output error (seed eq. 1), scaled by each row's
    sample weight, then the recursion delta[l-1] = (delta[l] @ W[l]) * sigma'(z[l-1])
    (eq. 6/7), times the dropout mask where layer l-1 has dropout, down to the first hidden
    layer; the inputs need no error, so that product is skipped. Targets and weights come
    from the workspace's y and w blocks. Writes those rows of delta of every layer.
    """
    top = table.shape[0] - 1
    loss, correct = output_error(
        loss_code, table[top, ACT], layer_block(ws, table, capacity, n, top, Z)[lo:hi],
        layer_block(ws, table, capacity, n, top, A)[lo:hi],
        batch_y(ws, table, capacity, n)[lo:hi], batch_w(ws, table, capacity, n)[lo:hi],
        layer_block(ws, table, capacity, n, top, DELTA)[lo:hi])
    for l in range(top, 0, -1):
        delta_prev = layer_block(ws, table, capacity, n, l - 1, DELTA)[lo:hi]
        error_back(layer_block(ws, table, capacity, n, l, DELTA)[lo:hi],
                   weight(params, table, l), delta_prev)
        scale_by_derivative(table[l - 1, ACT],
                            layer_block(ws, table, capacity, n, l - 1, Z)[lo:hi],
                            layer_block(ws, table, capacity, n, l - 1, A)[lo:hi], delta_prev)
        if noise[0][l - 1] > 0:
            apply_dropout(delta_prev, delta_prev, noise, step, l - 1, lo, 0)
    return loss, correct


@njit(**JIT)
def layer_input(x, ws, table, capacity, n, l, noise):
    """What layer l reads from an n-row batch x: x itself for the first layer, else layer
    l - 1's activations, after dropout (its FED block) when that layer has dropout; noise is
    None (no dropout) or (rates, seed)."""
    if l == 0:
        return x
    if noise is not None and noise[0][l - 1] > 0:
        return layer_block(ws, table, capacity, n, l - 1, FED)
    return layer_block(ws, table, capacity, n, l - 1, A)


@njit(**DRIVER)
def update(table, x, ws, capacity, target, alpha, beta, noise):
    """For every layer, after errors_rows over the whole batch x:
    target_W[l] = beta * target_W[l] + alpha * delta[l].T @ a[l-1]   (eq. 3, summed over rows)
    target_b[l] = beta * target_b[l] + alpha * sum over rows of delta[l]   (eq. 4)
    where a[l-1] is what layer l read (after dropout, per ``noise``).

    target is laid out like params: the gradient buffer (alpha = 1/sum of weights, beta = 0),
    or params itself for the fused SGD step (alpha = -lr/sum of weights, beta = 1; every delta
    was computed before, so updating in place is exact).
    """
    n = x.shape[0]
    for l in range(table.shape[0]):
        update_units(alpha, layer_block(ws, table, capacity, n, l, DELTA),
                     layer_input(x, ws, table, capacity, n, l, noise), beta,
                     weight(target, table, l), bias(target, table, l))


@njit(**JIT)
def update_units(alpha, delta, a_prev, beta, W, b):
    """W = beta * W + alpha * delta.T @ a_prev and b = beta * b + alpha * sum over rows of
    delta, for delta (n, m), a_prev (n, n_in), W (m, n_in), b (m,): all units of a layer, or
    a block of them (delta a column block, W and b the matching rows)."""
    outer_update(alpha, delta, a_prev, beta, W)
    for j in range(b.shape[0]):  # beta = 0 overwrites, as BLAS does: the buffer may hold NaN
        b[j] = beta * b[j] if beta != 0 else 0.0
    for i in range(delta.shape[0]):  # rows in order: a fixed summation order, along units
        for j in range(b.shape[0]):
            b[j] += alpha * delta[i, j]


@njit(**JIT)
def backward(params, table, loss_code, x, ws, capacity, target, alpha, beta, noise, step):
    """Errors and parameter update (or gradient) of the whole batch x after ``forward_rows``
    with the same noise and step; returns (weighted loss sum, correct count). See errors_rows
    and update."""
    n = x.shape[0]
    loss, correct = errors_rows(params, table, loss_code, n, ws, capacity, 0, n, noise, step)
    update(table, x, ws, capacity, target, alpha, beta, noise)
    return loss, correct
