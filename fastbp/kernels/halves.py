"""Training with every mini-batch cut in two halves, one per core, on two threads.

Each step runs as a sequence of phases separated by a barrier. In each phase, part t (0 or
1) does its half of the work, split so that no two parts write the same memory:

    gather            rows of the batch
    hidden layer l    units of layer l: z[:, half] = a_prev @ W[half].T + b[half], sigma
                      (and the dropout mask of those units)
    output layer      rows (softmax and the loss need whole rows), output error
    delta of l - 1    units of layer l - 1: delta_prev[:, half] = delta @ W[:, half], * sigma'
                      (* mask)
    update            units of every layer: W[half] += alpha * delta[:, half].T @ a_prev
                      (plain SGD), else the mean gradient of those units into grads
    step              other optimizers: the step on half of the flat parameters, state and
                      gradient (with clipping, the norm is the parts' two sums of squares)

Every product is a single-threaded BLAS call on half the output, so each matrix element is
computed by the same call shape whichever core runs it. The two parts run on two Python
threads (kernels release the GIL) that meet at a spin barrier after each phase: one thread
start per chunk of batches, instead of a parallel region per product (2 fork/joins per batch
measured slower), and no Numba parallel lowering, which doubled the first compile. With one
thread the same phases run part 0 then part 1 in turn: bitwise the same parameters with 1
or 2 threads. Every optimizer, clipping and dropout (masks by absolute row and unit).
"""

import math

from numba import njit

from ..config import DRIVER, JIT
from ..functions import activate, output_error, scale_by_derivative
from ..layout import A, ACT, DELTA, FED, N_IN, N_OUT, Z
from ..optimizers import clip_to_norm, step, sum_of_squares
from .blas import any_layout
from .loop import gather
from .passes import (apply_dropout, batch_w, batch_weight_sum, batch_x, batch_y, bias,
                     layer_block, layer_input, update_units, weight)
from .products import affine, error_back
from .sync import barrier

PARTS = 2


@njit(**JIT)
def _half(t, n, align=1):
    """The range [lo, hi) of range(n) that part t works on; inner bounds are multiples of
    align."""
    lo = t * n // PARTS // align * align
    hi = n if t == PARTS - 1 else (t + 1) * n // PARTS // align * align
    return lo, hi


@njit(**DRIVER)
def _phase(p, t, data, rows, params, table, loss_code, ws, capacity, lr, partial, opt, noise,
           update):
    """Part t's share of phase p of training step number ``update`` on the batch rows (see
    the module doc); opt is None for plain SGD (the update fused into the gradient product),
    else (code, hyper, grads, state, clip_norm) as in loop.train_batches; noise is None
    without dropout, else (rates, seed) as there. ``update`` numbers the dropout masks too.

    partial[t, :3] accumulates part t's (weighted loss sum, correct count, weight sum);
    partial[t, 3] is the sum of squares of the gradient of part t's units in this step."""
    top = table.shape[0] - 1
    n = rows.shape[0]
    x = batch_x(ws, table, capacity, n)
    if p == 0:
        lo, hi = _half(t, n)
        gather(data, rows, ws, table, capacity, lo, hi)
    elif p <= top:
        l = p - 1
        lo, hi = _half(t, table[l, N_OUT])
        z = layer_block(ws, table, capacity, n, l, Z)[:, lo:hi]
        a = layer_block(ws, table, capacity, n, l, A)[:, lo:hi]
        affine(layer_input(x, ws, table, capacity, n, l, noise), weight(params, table, l)[lo:hi],
               bias(params, table, l)[lo:hi], z)
        activate(table[l, ACT], z, a)
        if noise is not None and noise[0][l] > 0:  # what the next layer reads
            apply_dropout(a, layer_block(ws, table, capacity, n, l, FED)[:, lo:hi], noise,
                          update, l, 0, lo)
    elif p == top + 1:
        lo, hi = _half(t, n)
        a_prev = layer_input(x, ws, table, capacity, n, top, noise)
        # Rows typed like the hidden layers' column blocks: activate, affine and
        # scale_by_derivative compile once for both (a first fit compiled ~3 s less).
        z = any_layout(layer_block(ws, table, capacity, n, top, Z)[lo:hi])
        a = any_layout(layer_block(ws, table, capacity, n, top, A)[lo:hi])
        affine(a_prev[lo:hi], weight(params, table, top), bias(params, table, top), z)
        activate(table[top, ACT], z, a)
        loss, correct = output_error(
            loss_code, table[top, ACT], z, a, batch_y(ws, table, capacity, n)[lo:hi],
            batch_w(ws, table, capacity, n)[lo:hi],
            any_layout(layer_block(ws, table, capacity, n, top, DELTA)[lo:hi]))
        partial[t, 0] += loss
        partial[t, 1] += correct
    elif p <= 2 * top + 1:
        l = 2 * top + 2 - p  # from the top layer down to layer 1
        lo, hi = _half(t, table[l, N_IN])
        delta_prev = layer_block(ws, table, capacity, n, l - 1, DELTA)[:, lo:hi]
        error_back(layer_block(ws, table, capacity, n, l, DELTA),
                   weight(params, table, l)[:, lo:hi], delta_prev)
        scale_by_derivative(table[l - 1, ACT],
                            layer_block(ws, table, capacity, n, l - 1, Z)[:, lo:hi],
                            layer_block(ws, table, capacity, n, l - 1, A)[:, lo:hi], delta_prev)
        if noise is not None and noise[0][l - 1] > 0:
            apply_dropout(delta_prev, delta_prev, noise, update, l - 1, 0, lo)
    elif p == 2 * top + 2:
        weight_sum = batch_weight_sum(ws, table, capacity, n)
        if t == 0:
            partial[t, 2] += weight_sum
        # Plain SGD (opt None): W[half] += (-lr / weight sum) * gradient, in place; else the
        # mean gradient of the part's units into grads, for the step phase.
        target = params if opt is None else opt[2]
        alpha = -lr / weight_sum if opt is None else 1.0 / weight_sum
        squares = 0.0
        for l in range(top + 1):
            lo, hi = _half(t, table[l, N_OUT])
            W, b = weight(target, table, l)[lo:hi], bias(target, table, l)[lo:hi]
            update_units(alpha, layer_block(ws, table, capacity, n, l, DELTA)[:, lo:hi],
                         layer_input(x, ws, table, capacity, n, l, noise),
                         1.0 if opt is None else 0.0, W, b)
            if opt is not None and opt[4] > 0:  # clipping; rows lo:hi of W[l] are contiguous
                squares += sum_of_squares(W.reshape(-1)) + sum_of_squares(b)
        partial[t, 3] = squares
    elif opt is not None:  # the optimizer's step on the part's half of the flat buffers
        code, hyper, grads, state, clip_norm = opt
        lo, hi = _half(t, params.shape[0], 16)  # 16 elements: the parts never share a line
        if clip_norm > 0:  # the parts' sums of squares, added in a fixed order
            clip_to_norm(grads[lo:hi], math.sqrt(partial[0, 3] + partial[1, 3]), clip_norm)
        step(code, hyper, params[lo:hi], grads[lo:hi], state[0][lo:hi], state[-1][lo:hi], update,
             lr)


@njit(**DRIVER)
def _n_phases(table, opt):
    """Phases of one step (see _phase): gather, one per layer forward, one per layer but the
    first backward, the update, and the optimizer's step unless opt is None."""
    return 2 * table.shape[0] + (1 if opt is None else 2)


@njit(**JIT)
def train_part(t, data, order, start, stop, batch_size, params, table, loss_code, ws, lrs,
               first_step, opt, noise, partial, sync):
    """Part t of training on the samples order[start:stop], as loop.train_batches computes
    it, each step cut in halves (module doc); the batches are updates first_step + 1, ...;
    opt and noise as in _phase (None compiles no optimizer step, no dropout). The caller
    runs part 0 and part 1 at the same time on two threads (the GIL is released). A barrier
    after every phase; sync = [barrier count, abort], both 0 at the start (abort set to 1
    releases every barrier: the other part failed). Adds part t's (weighted loss sum,
    correct count, weight sum) to partial[t, :3]."""
    n_phases = _n_phases(table, opt)
    k = 0
    b = 0
    for first in range(start, stop, batch_size):
        rows = order[first:min(first + batch_size, stop)]
        for p in range(n_phases):
            _phase(p, t, data, rows, params, table, loss_code, ws, batch_size, lrs[b], partial,
                   opt, noise, first_step + b + 1)
            k += 1
            barrier(sync, k, PARTS)
        b += 1


@njit(**JIT)
def train_halves_on_one_thread(data, order, start, stop, batch_size, params, table, loss_code,
                               ws, lrs, first_step, opt, noise, partial):
    """Both parts of train_part on the calling thread: the same phases, part 0 then part 1
    (bitwise the same results)."""
    n_phases = _n_phases(table, opt)
    b = 0
    for first in range(start, stop, batch_size):
        rows = order[first:min(first + batch_size, stop)]
        for p in range(n_phases):
            for t in range(PARTS):
                _phase(p, t, data, rows, params, table, loss_code, ws, batch_size, lrs[b],
                       partial, opt, noise, first_step + b + 1)
        b += 1
