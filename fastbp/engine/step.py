"""One training step, written once, as phases over (part, parts). Equation numbers are
those of docs/math.md.

A step on a batch of n rows runs these phases in order. In each, part t of ``parts`` does
its share, cut so that no two parts write the same memory; when the parts run on several
threads a barrier separates the phases (loops.train_chunk, parallel.py).

    gather       rows of the batch: x, y and the sample weights into the workspace
    layer l      units of hidden layer l: z = a_prev @ W[units].T + b[units], a = sigma(z),
                 and the dropout mask of those units (one phase per hidden layer)
    output       rows of the output layer (softmax and the loss need whole rows), and their
                 output error delta^L = w_i * dloss_i/dz (eq. 1)
    delta l-1    units of layer l - 1: delta[l-1] = (delta[l] @ W[l][:, units]) * sigma'(z)
                 (eq. 7), times the mask; one phase per layer from the top down to layer 1
    gradient     units of every layer: T_W = beta * T_W + alpha * delta.T @ a_prev and the
                 same for b (eq. 3, 4): the fused SGD update (T = params), or the mean
                 gradient (T = grads) and the optimizer's update of those units at once,
                 while their gradient is in cache; with clipping, the gradient's sum of
                 squares instead. An L2 penalty 0.5 * l2 * sum ||W||^2 (weights only) on
                 the batch's weighted loss sum adds (l2 / weight sum) * W to the mean
                 gradient: with plain SGD, W shrinks by that much times lr first
    optimizer    only with clipping (it needs the whole gradient's norm): a share of the flat
                 buffers, clipped, then the optimizer's update

With parts == 1 this is the plain serial step. Each share depends only on (t, parts) and the
shapes, so every matrix element is computed by the same call whichever thread runs its part.

Arguments travel in a few tuples: ``model = (params, table)``, ``space`` (the workspace,
layout.py), ``batch = (data, rows)`` with data = (X, Y, sample weights) and rows the batch's
indices into them, ``run = (lr, update number, l2)``; ``opt`` is None for plain SGD (no
optimizer step is compiled) or (hyper, grads, state, clip_norm), ``noise`` None without
dropout or (rates per layer, seed). opt and noise stay arguments of their own: Numba prunes a
branch on ``x is None`` only for an argument. ``kinds`` (codes.kinds) is the compile-time set of
activation, loss and optimizer codes the kernels are compiled for; the functions here are
inlined into the loops (config.DRIVER), so it reaches the kernels that branch on codes as
the constant it is.
"""

import math

from numba import njit

from .config import DRIVER, INTERNAL
from .elementwise import activate, apply_dropout, output_error, scale_by_derivative
from .gemm import error_back
from .layout import (A, ACT, B_OFF, DELTA, FED, LOSS_CODE, N_IN, N_OUT, Z, batch_w,
                     batch_x, batch_y, bias, layer_block, layer_input, weight,
                     weight_range)
from .numba_ext import as_vector
from .parallel import share
from .records import SparseRows
from .sparse import copy_rows, input_affine, input_outer_update, is_csr
from .tracking import (GRADIENTS, keep_weights, mark_live_units, tally_change, tally_errors,
                       tally_flat_updates, tally_gradient, weighs_step)
from .update import clip_to_norm, step, sum_of_squares

LOSS, CORRECT, WEIGHT, SQUARES = range(4)  # the columns of space's tallies
NON_FINITE = WEIGHT  # inference's use of that column: rows of non-finite first-layer z


@njit(**INTERNAL)
def gather(data, rows, space, lo, hi):
    """Copy X[rows[i]], Y[rows[i]], weights[rows[i]] into row i of the batch x, y and w
    blocks of the workspace, for i in [lo, hi); data = (X, Y, weights). A sparse X (a
    records.CSR) is not copied: the first layer reads it in place (sparse.py)."""
    X, Y, weights = data
    n = rows.shape[0]
    y, w = batch_y(space, n), batch_w(space, n)
    copy_rows(X, rows, batch_x(space, n), lo, hi)
    # Explicit loops: Numba's slice assignment goes through generic broadcasting code that
    # cost 3x more here (bench/perf_log.md).
    for i in range(lo, hi):
        src, dst = Y[rows[i]], y[i]
        for k in range(src.shape[0]):
            dst[k] = src[k]
        w[i] = weights[rows[i]]


@njit(**DRIVER)
def forward_block(kinds, model, space, n, a_prev, l, block, noise, step_number):
    """Forward pass of a block of layer l of an n-row batch, block = (r0, r1, u0, u1) its
    rows and units: z = a_prev @ W[l].T + b[l] and a = sigma(z) (softmax needs all units
    of a row), then a * mask into FED when layer l has dropout. a_prev is the whole input of
    the layer: (n, n_in), or SparseRows for the first layer of a sparse X. Writes that
    block of z, a (and FED)."""
    params, table = model
    r0, r1, u0, u1 = block
    z = layer_block(space, n, l, Z)[r0:r1, u0:u1]
    a = layer_block(space, n, l, A)[r0:r1, u0:u1]
    input_affine(a_prev, r0, r1, weight(params, table, l)[u0:u1],
                 bias(params, table, l)[u0:u1], z)
    activate(kinds, table[l, ACT], z, a)
    if noise is not None and noise.rates[l] > 0:
        apply_dropout(a, layer_block(space, n, l, FED)[r0:r1, u0:u1], noise, step_number, l,
                      r0, u0)


@njit(**DRIVER)
def layer_forward(kinds, model, space, X, rows, x, l, block, noise, step_number):
    """forward_block of layer l of the batch rows of X (x: the batch block of the workspace,
    holding those rows when X is dense), reading layer l's input: x, layer l - 1's output,
    or for the first layer of a sparse X (a records.CSR) SparseRows(X, rows)."""
    n = x.shape[0]
    if is_csr(X) and l == 0:  # is_csr is a constant: the branch is compiled out for dense X
        forward_block(kinds, model, space, n, SparseRows(X, rows), l, block, noise,
                      step_number)
    else:
        forward_block(kinds, model, space, n, layer_input(x, space, l, noise), l, block,
                      noise, step_number)


@njit(**DRIVER)
def layer_gradient(alpha, delta, X, rows, x, space, l, noise, beta, W, b):
    """gradient_block of (units of) layer l with the input layer_forward gave it."""
    if is_csr(X) and l == 0:
        gradient_block(alpha, delta, SparseRows(X, rows), beta, W, b)
    else:
        gradient_block(alpha, delta, layer_input(x, space, l, noise), beta, W, b)


@njit(**DRIVER)
def output_block(kinds, model, space, n, rows, y, w):
    """Output error (eq. 1) of rows (r0, r1) of the output layer of an n-row batch after
    their forward pass, with their targets y and sample weights w; returns (weighted loss
    sum, correct count). Writes those rows of the output layer's delta."""
    table = model.table
    top = table.shape[0] - 1
    r0, r1 = rows
    m = table[top, N_OUT]
    # Blocks typed 'A' like the hidden layers' column blocks: output_error's callees compile
    # once for both (C-typed rows compiled them twice, ~1 s more in a first fit, and ran no
    # faster).
    return output_error(kinds, table[top, LOSS_CODE], table[top, ACT],
                        layer_block(space, n, top, Z)[r0:r1, 0:m],
                        layer_block(space, n, top, A)[r0:r1, 0:m], y, w,
                        layer_block(space, n, top, DELTA)[r0:r1, 0:m])


@njit(**DRIVER)
def error_back_block(kinds, model, space, n, l, units, noise, step_number):
    """delta[l-1][:, units] = (delta[l] @ W[l][:, units]) * sigma'(z[l-1][:, units]) (eq. 7)
    for an n-row batch, times the dropout mask of those units when layer l - 1 has dropout.
    Writes that column block of delta[l-1]."""
    params, table = model
    u0, u1 = units
    delta_prev = layer_block(space, n, l - 1, DELTA)[0:n, u0:u1]
    error_back(layer_block(space, n, l, DELTA), weight(params, table, l)[:, u0:u1], delta_prev)
    scale_by_derivative(kinds, table[l - 1, ACT], layer_block(space, n, l - 1, Z)[0:n, u0:u1],
                        layer_block(space, n, l - 1, A)[0:n, u0:u1], delta_prev)
    if noise is not None and noise.rates[l - 1] > 0:
        apply_dropout(delta_prev, delta_prev, noise, step_number, l - 1, 0, u0)


@njit(**DRIVER)
def gradient_block(alpha, delta, a_prev, beta, W, b):
    """W = beta * W + alpha * delta.T @ a_prev and b = beta * b + alpha * sum over rows of
    delta (eq. 3, 4), for delta (n, m), a_prev (n, n_in) or SparseRows, W (m, n_in), b (m,):
    all units of a layer or a block of them (delta a column block, W and b the matching
    rows)."""
    input_outer_update(alpha, delta, a_prev, beta, W)
    for j in range(b.shape[0]):  # beta = 0 overwrites, as BLAS does: the buffer may hold NaN
        b[j] = beta * b[j] if beta != 0 else 0.0
    for i in range(delta.shape[0]):  # rows in order: a fixed summation order, along units
        row = as_vector(delta[i:i + 1])  # typed contiguous, so LLVM vectorises the sum
        for j in range(b.shape[0]):
            b[j] += alpha * row[j]


@njit(**INTERNAL)
def scale(v, factor):
    """v *= factor, elementwise."""
    f = v.dtype.type(factor)
    for i in range(v.shape[0]):
        v[i] *= f


@njit(**INTERNAL)
def add_scaled(out, v, factor):
    """out += factor * v, elementwise."""
    f = v.dtype.type(factor)
    for i in range(v.shape[0]):
        out[i] += f * v[i]


@njit(**DRIVER)
def step_units(kinds, opt, params, table, l, units, run):
    """The optimizer's update (opt, run as in phase) of units [u0, u1) of layer l: rows u0 to
    u1 of W[l] and those entries of b[l], two contiguous ranges of the flat buffers."""
    hyper, grads, state, _ = opt
    lr, step_number, _ = run
    u0, u1 = units
    w0, w1 = weight_range(table, l, u0, u1)
    b0, b1 = table[l, B_OFF] + u0, table[l, B_OFF] + u1
    step(kinds, hyper, params[w0:w1], grads[w0:w1], state[0][w0:w1], state[-1][w0:w1],
         step_number, lr)
    step(kinds, hyper, params[b0:b1], grads[b0:b1], state[0][b0:b1], state[-1][b0:b1],
         step_number, lr)


@njit(**DRIVER)
def n_phases(table, opt):
    """Phases of one step: gather, one per layer forward, one per layer but the first
    backward, the gradient, and the optimizer's when it clips."""
    return 2 * table.shape[0] + (2 if opt is not None and opt.clip_norm > 0 else 1)


@njit(**DRIVER)
def phase(kinds, where, model, space, batch, run, opt, noise, track):
    """Part t's share of phase p (module doc) of a training step; where = (p, t, parts).
    Adds part t's weighted loss sum and correct count (output phase) and the batch's weight
    sum (part 0, gradient phase) to its row of space's tallies, and sets its gradient sum of
    squares there. With track (a records.Track; None compiles none of it), also tallies the
    per-layer record of tracking.py for part t's share."""
    p, t, parts = where
    params, table = model
    tallies = space.tallies
    data, rows = batch
    lr, step_number, l2 = run
    top = table.shape[0] - 1
    n = rows.shape[0]
    x = batch_x(space, n)
    if p == 0:
        lo, hi = share(t, parts, n)
        gather(data, rows, space, lo, hi)
    elif p <= top + 1:  # layer l forward: units of a hidden layer, rows of the output layer
        l = p - 1
        if l < top:
            lo, hi = 0, n
            u0, u1 = share(t, parts, table[l, N_OUT])
        else:
            lo, hi = share(t, parts, n)
            u0, u1 = 0, table[l, N_OUT]
        layer_forward(kinds, model, space, data.X, rows, x, l, (lo, hi, u0, u1), noise,
                      step_number)
        if l == top:
            loss, correct = output_block(kinds, model, space, n, (lo, hi),
                                         batch_y(space, n)[lo:hi], batch_w(space, n)[lo:hi])
            tallies[t, LOSS] += loss
            tallies[t, CORRECT] += correct
            if track is not None:
                tally_errors(track, t, top, layer_block(space, n, top, DELTA)[lo:hi, u0:u1])
    elif p <= 2 * top + 1:  # delta of layer l - 1, from the top layer down to layer 1
        l = 2 * top + 2 - p
        units = share(t, parts, table[l, N_IN])
        error_back_block(kinds, model, space, n, l, units, noise, step_number)
        if track is not None:
            u0, u1 = units
            tally_errors(track, t, l - 1, layer_block(space, n, l - 1, DELTA)[0:n, u0:u1])
            mark_live_units(kinds, track, t, table[l - 1, ACT], l - 1, u0,
                            layer_block(space, n, l - 1, Z)[0:n, u0:u1],
                            layer_block(space, n, l - 1, A)[0:n, u0:u1])
    elif p == 2 * top + 2:
        # Plain SGD (opt None): W[units] += (-lr / weight sum) * gradient, in place; else the
        # mean gradient of the part's units into grads, stepped at once or, with clipping,
        # in the optimizer phase.
        w = batch_w(space, n)
        weight_sum = 0.0
        for i in range(n):  # in row order: every part gets the same sum
            weight_sum += w[i]
        if t == 0:
            tallies[t, WEIGHT] += weight_sum
        target = params if opt is None else opt.grads
        alpha = -lr / weight_sum if opt is None else 1.0 / weight_sum
        decay = l2 / weight_sum  # the L2 term's factor in the mean gradient
        squares = 0.0
        weigh = False  # whether the record weighs this step
        if track is not None:
            weigh = weighs_step(track, step_number)
        for l in range(top + 1):
            lo, hi = share(t, parts, table[l, N_OUT])
            W, b = weight(target, table, l)[lo:hi], bias(target, table, l)[lo:hi]
            if track is not None:  # (nested ifs: Numba prunes `x is None` tests only)
                if weigh:
                    keep_weights(track, params, table, l, lo, hi)
            if opt is None and decay != 0:  # W -= lr * decay * W, then the product adds in
                scale(W.reshape(-1), 1.0 - lr * decay)
            layer_gradient(alpha, layer_block(space, n, l, DELTA)[0:n, lo:hi], data.X, rows, x,
                           space, l, noise, 1.0 if opt is None else 0.0, W, b)
            if opt is not None and decay != 0:  # grads of W += decay * W
                add_scaled(W.reshape(-1), weight(params, table, l)[lo:hi].reshape(-1), decay)
            if track is not None:
                if opt is not None:
                    if weigh:  # before a step may reuse grads
                        tally_gradient(track, t, opt.grads, table, l, lo, hi)
            if opt is not None:
                if opt.clip_norm > 0:  # clipping; rows lo:hi of W[l] are contiguous
                    squares += sum_of_squares(W.reshape(-1)) + sum_of_squares(b)
                else:
                    step_units(kinds, opt, params, table, l, (lo, hi), run)
            if track is not None:
                if weigh:
                    if opt is None:  # the change is -lr times the mean gradient
                        change = tally_change(track, t, params, table, l, lo, hi)
                        track.sums[t, l, GRADIENTS] += change / (lr * lr)
                    elif opt.clip_norm == 0:  # with clipping: in the optimizer phase
                        tally_change(track, t, params, table, l, lo, hi)
        tallies[t, SQUARES] = squares
    elif opt is not None:  # clipping, then the step, on the part's share of the flat buffers
        hyper, grads, state, clip_norm = opt
        lo, hi = share(t, parts, params.shape[0], 16)  # 16 elements: parts never share a line
        total = 0.0
        for u in range(parts):  # the parts' sums of squares, added in part order
            total += tallies[u, SQUARES]
        clip_to_norm(grads[lo:hi], math.sqrt(total), clip_norm)
        step(kinds, hyper, params[lo:hi], grads[lo:hi], state[0][lo:hi], state[-1][lo:hi],
             step_number, lr)
        if track is not None:
            if weighs_step(track, step_number):
                tally_flat_updates(track, t, params, table, lo, hi)
