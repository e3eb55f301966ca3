"""One training step, written once, as named phases over parts. Equation numbers are those of
docs/math.md.

A step on a batch of n rows runs these phases in order (loops.train_chunk). In each, part t
of ``parts`` (a records.Part) does its share, cut so that no two parts write the same memory;
when the parts run on several threads a barrier separates the phases.

    gather_phase     rows of the batch: x, y and the sample weights into the workspace (and a
                     bfloat16 network's operands: x and a share of the weights rounded)
    forward_phase l  for each layer l from the first: the units of a hidden layer,
                     z = a_prev @ W[units].T + b[units], a = sigma(z), and the dropout mask of
                     those units; the rows of the output layer (softmax and the loss need
                     whole rows), and their output error delta^L = w_i * dloss_i/dz (eq. 1)
    backward_phase l for each layer l from the top down to layer 1: units of layer l - 1,
                     delta[l-1] = (delta[l] @ W[l][:, units]) * sigma'(z) (eq. 7), times the
                     mask
    gradient_phase   units of every layer: T_W = beta * T_W + alpha * delta.T @ a_prev and the
                     same for b (eq. 3, 4): the fused SGD update (T = params), or the mean
                     gradient (T = grads) and the optimizer's update of those units at once,
                     while their gradient is in cache; with clipping, the gradient's sum of
                     squares instead. An L2 penalty 0.5 * l2 * sum ||W||^2 (weights only) on
                     the batch's weighted loss sum adds (l2 / weight sum) * W to the mean
                     gradient: with plain SGD, W shrinks by that much times lr first
    optimizer_phase  only with clipping (it needs the whole gradient's norm): a share of the
                     flat buffers, clipped, then the optimizer's update

A bfloat16 network's products read operands rounded at fixed points of these phases
(precision.py). With parts == 1 this is the plain serial step. Each share depends only on
(t, parts) and the shapes, so every matrix element is computed by the same call whichever
thread runs its part.

The phases take the records of records.py: ``model`` (Parameters), ``space`` (Space),
``step`` (Step: the batch's rows, the update's number, rate and L2 penalty). ``opt`` is None
for plain SGD (no optimizer step is compiled) or an Opt, ``noise`` None without dropout or a
Noise, ``track`` None without the layer record or a Track: each an argument of its own, so
that Numba compiles out the branches of the absent ones. ``kinds`` (codes.kinds) is the
compile-time set of activation, loss and optimizer codes the kernels are compiled for; the
functions here are inlined into the loops (config.DRIVER), so it reaches the kernels that
branch on codes as the constant it is.
"""

import math

from numba import njit

from .config import DRIVER, INTERNAL
from .elementwise import activate, apply_dropout, output_error, scale_by_derivative
from .gemm import error_back
from .layout import (ACT, B_OFF, LOSS_CODE, N_IN, N_OUT, A, DELTA, FED, Z, batch_w, batch_x,
                     batch_y, bias, layer_block, weight, weight_range)
from .numba_ext import as_vector
from .parallel import FLAT_ALIGN, share
from .precision import (product_delta, product_input, product_params, round_delta, round_fed,
                        round_inputs, round_weights)
from .records import CORRECT, LOSS, SQUARES, WEIGHT, Block, Inputs, LayerRows, SparseRows
from .sparse import copy_rows, input_affine, input_outer_update, is_csr
from .tracking import (GRADIENTS, keep_weights, mark_live_units, tally_change, tally_errors,
                       tally_flat_updates, tally_gradient, weighs_step)
from .update import clip_to_norm, step_flat, sum_of_squares


# Pieces of the phases --------------------------------------------------------------------------


@njit(**INTERNAL)
def gather_rows(step, space, lo, hi):
    """Copy X[rows[i]], Y[rows[i]], weights[rows[i]] into row i of the batch x, y and w
    blocks of the workspace, for i in [lo, hi) of the step's rows. A sparse X (a
    records.CSR) is not copied: the first layer reads it in place (sparse.py)."""
    data, rows = step.data, step.rows
    n = rows.shape[0]
    y, w = batch_y(space, n), batch_w(space, n)
    copy_rows(data.X, rows, batch_x(space, n), lo, hi)
    # Explicit loops: Numba's slice assignment goes through generic broadcasting code that
    # cost 3x more here (bench/perf_log.md).
    for i in range(lo, hi):
        src, dst = data.Y[rows[i]], y[i]
        for k in range(src.shape[0]):
            dst[k] = src[k]
        w[i] = data.weights[rows[i]]


@njit(**DRIVER)
def forward_block(kinds, model, space, a_prev, l, block, noise, step_number):
    """Forward pass of a block (records.Block) of layer l: z = a_prev @ W[l].T + b[l] and
    a = sigma(z) (softmax needs all units of a row), then a * mask into FED when layer l has
    dropout (the masks of update number step_number), and for a bfloat16 network what the
    layer feeds the next rounded (precision.py). a_prev is the whole input of the layer as
    the products read it: (n, n_in), or SparseRows for the first layer of a sparse X. Writes
    that block of z, a (and FED, and the operands)."""
    params, table = model.params, model.table
    z = layer_block(space, block.n, l, Z)[block.r0:block.r1, block.u0:block.u1]
    a = layer_block(space, block.n, l, A)[block.r0:block.r1, block.u0:block.u1]
    input_affine(a_prev, block.r0, block.r1,
                 weight(product_params(kinds, model, space), table, l)[block.u0:block.u1],
                 bias(params, table, l)[block.u0:block.u1], z)
    activate(kinds, table[l, ACT], z, a)
    if noise is not None and noise.rates[l] > 0:
        apply_dropout(a, layer_block(space, block.n, l, FED)[block.r0:block.r1,
                                                             block.u0:block.u1],
                      noise, step_number, l, block.r0, block.u0)
    round_fed(kinds, space, l, block, noise)


@njit(**DRIVER)
def layer_forward(kinds, model, space, inputs, l, block, noise, step_number):
    """forward_block of layer l reading what its product reads of the batch (records.Inputs):
    x, layer l - 1's output (precision.product_input), or for the first layer of a sparse X
    (a records.CSR) SparseRows(X, rows)."""
    if is_csr(inputs.X) and l == 0:  # is_csr is a constant: compiled out for a dense X
        forward_block(kinds, model, space, SparseRows(inputs.X, inputs.rows), l, block, noise,
                      step_number)
    else:
        forward_block(kinds, model, space, product_input(kinds, inputs.x, space, l, noise), l,
                      block, noise, step_number)


@njit(**DRIVER)
def output_block(kinds, model, space, block, y, w):
    """Output error (eq. 1) of a block (all units of rows r0 to r1) of the output layer after
    their forward pass, with their targets y and sample weights w; returns (weighted loss
    sum, correct count). Writes those rows of the output layer's delta."""
    table = model.table
    top = table.shape[0] - 1
    m = table[top, N_OUT]
    r0, r1 = block.r0, block.r1
    # Blocks typed 'A' like the hidden layers' column blocks: output_error's callees compile
    # once for both (C-typed rows compiled them twice, ~1 s more in a first fit, and ran no
    # faster).
    return output_error(kinds, table[0, LOSS_CODE], table[top, ACT],
                        layer_block(space, block.n, top, Z)[r0:r1, 0:m],
                        layer_block(space, block.n, top, A)[r0:r1, 0:m], y, w,
                        layer_block(space, block.n, top, DELTA)[r0:r1, 0:m])


@njit(**DRIVER)
def error_back_block(kinds, model, space, n, l, units, noise, step_number):
    """delta[l-1][:, u0:u1] = (delta[l] @ W[l][:, u0:u1]) * sigma'(z[l-1][:, u0:u1]) (eq. 7)
    for an n-row batch, units = (u0, u1), times the dropout mask of those units when layer
    l - 1 has dropout (and its bfloat16 copy, precision.py). Writes that column block of
    delta[l-1] (and of the operands)."""
    table = model.table
    u0, u1 = units
    delta_prev = layer_block(space, n, l - 1, DELTA)[0:n, u0:u1]
    error_back(product_delta(kinds, space, n, l),
               weight(product_params(kinds, model, space), table, l)[:, u0:u1], delta_prev)
    scale_by_derivative(kinds, table[l - 1, ACT], layer_block(space, n, l - 1, Z)[0:n, u0:u1],
                        layer_block(space, n, l - 1, A)[0:n, u0:u1], delta_prev)
    if noise is not None and noise.rates[l - 1] > 0:
        apply_dropout(delta_prev, delta_prev, noise, step_number, l - 1, 0, u0)
    round_delta(kinds, space, l - 1, Block(n, 0, n, u0, u1))


@njit(**DRIVER)
def gradient_block(alpha, delta, delta_operand, a_prev, beta, W, b):
    """W = beta * W + alpha * delta.T @ a_prev and b = beta * b + alpha * sum over rows of
    delta (eq. 3, 4), for delta (n, m), a_prev (n, n_in) or SparseRows, W (m, n_in), b (m,):
    all units of a layer or a block of them (delta a column block, W and b the matching
    rows); the product reads delta as delta_operand (delta itself, or its bfloat16 copy)."""
    input_outer_update(alpha, delta_operand, a_prev, beta, W)
    for j in range(b.shape[0]):  # beta = 0 overwrites, as BLAS does: the buffer may hold NaN
        b[j] = beta * b[j] if beta != 0 else 0.0
    for i in range(delta.shape[0]):  # rows in order: a fixed summation order, along units
        row = as_vector(delta[i:i + 1])  # typed contiguous, so LLVM vectorises the sum
        for j in range(b.shape[0]):
            b[j] += alpha * row[j]


@njit(**DRIVER)
def layer_gradient(kinds, inputs, space, l, noise, alpha, beta, rows):
    """gradient_block of layer l's units rows.u0 to rows.u1 into rows (a records.LayerRows:
    the matching rows of W[l] and entries of b[l]), reading the input layer_forward gave
    layer l's product."""
    n = inputs.x.shape[0]
    u0, u1 = rows.u0, rows.u1
    delta = layer_block(space, n, l, DELTA)[0:n, u0:u1]
    if is_csr(inputs.X) and l == 0:
        gradient_block(alpha, delta, delta, SparseRows(inputs.X, inputs.rows), beta, rows.W,
                       rows.b)
    else:
        gradient_block(alpha, delta, product_delta(kinds, space, n, l)[0:n, u0:u1],
                       product_input(kinds, inputs.x, space, l, noise), beta, rows.W, rows.b)


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
def step_units(kinds, opt, params, table, l, units, step):
    """The optimizer's update (opt, as in the gradient phase) of units = (u0, u1) of layer l:
    rows u0 to u1 of W[l] and those entries of b[l], two contiguous ranges of the flat
    buffers."""
    u0, u1 = units
    w0, w1 = weight_range(table, l, u0, u1)
    step_flat(kinds, opt, params, w0, w1, step)
    step_flat(kinds, opt, params, table[l, B_OFF] + u0, table[l, B_OFF] + u1, step)


@njit(**DRIVER)
def inputs_of(step, space):
    """What the first layer reads of the step's batch (records.Inputs): the gathered rows."""
    return Inputs(step.data.X, step.rows, batch_x(space, step.rows.shape[0]))


@njit(**DRIVER)
def clips(opt):
    """Whether the step ends with the optimizer phase: an optimizer that clips."""
    return opt is not None and opt.clip_norm > 0


# The phases --------------------------------------------------------------------------------------


@njit(**DRIVER)
def gather_phase(kinds, part, model, space, step):
    """Part's share of the batch's rows gathered into the workspace; for a bfloat16 network,
    those rows of x and part's share of the weights rounded into the operands."""
    n = step.rows.shape[0]
    lo, hi = share(part.index, part.count, n)
    gather_rows(step, space, lo, hi)
    round_inputs(kinds, space, batch_x(space, n), lo, hi)
    round_weights(kinds, model, space, part)


@njit(**DRIVER)
def forward_phase(kinds, part, model, space, step, l, noise, track):
    """Part's share of layer l's forward pass: units of a hidden layer, rows of the output
    layer, whose output error and loss it computes too, adding its weighted loss sum and
    correct count to its sums (and the squares of its deltas to the record, with track)."""
    table = model.table
    t = part.index
    n = step.rows.shape[0]
    top = table.shape[0] - 1
    if l < top:
        r0, r1 = 0, n
        u0, u1 = share(t, part.count, table[l, N_OUT])
    else:
        r0, r1 = share(t, part.count, n)
        u0, u1 = 0, table[l, N_OUT]
    block = Block(n, r0, r1, u0, u1)
    layer_forward(kinds, model, space, inputs_of(step, space), l, block, noise, step.number)
    if l == top:
        loss, correct = output_block(kinds, model, space, block,
                                     batch_y(space, n)[block.r0:block.r1],
                                     batch_w(space, n)[block.r0:block.r1])
        space.sums[t, LOSS] += loss
        space.sums[t, CORRECT] += correct
        round_delta(kinds, space, top, block)
        if track is not None:
            tally_errors(track, t, top,
                         layer_block(space, n, top, DELTA)[block.r0:block.r1, block.u0:block.u1])


@njit(**DRIVER)
def backward_phase(kinds, part, model, space, step, l, noise, track):
    """Part's share of the error of layer l - 1 from layer l's (eq. 7): its units."""
    table = model.table
    t = part.index
    n = step.rows.shape[0]
    units = share(t, part.count, table[l, N_IN])
    error_back_block(kinds, model, space, n, l, units, noise, step.number)
    if track is not None:
        u0, u1 = units
        tally_errors(track, t, l - 1, layer_block(space, n, l - 1, DELTA)[0:n, u0:u1])
        mark_live_units(kinds, track, t, table[l - 1, ACT], l - 1, u0,
                        layer_block(space, n, l - 1, Z)[0:n, u0:u1],
                        layer_block(space, n, l - 1, A)[0:n, u0:u1])


@njit(**DRIVER)
def gradient_phase(kinds, part, model, space, step, opt, noise, track):
    """Part's share of the gradient (eq. 3, 4) of every layer, its units: plain SGD (opt None)
    adds -lr / weight sum times the gradient to the parameters, in place; else the mean
    gradient goes into opt.grads, stepped at once or, with clipping, in the optimizer phase
    (its sum of squares into the part's sums). Part 0 adds the batch's weight sum to its
    sums."""
    params, table = model.params, model.table
    t = part.index
    n = step.rows.shape[0]
    w = batch_w(space, n)
    weight_sum = 0.0
    for i in range(n):  # in row order: every part gets the same sum
        weight_sum += w[i]
    if t == 0:
        space.sums[t, WEIGHT] += weight_sum
    target = params if opt is None else opt.grads
    alpha = -step.lr / weight_sum if opt is None else 1.0 / weight_sum
    decay = step.l2 / weight_sum  # the L2 term's factor in the mean gradient
    inputs = inputs_of(step, space)
    squares = 0.0
    weigh = False  # whether the record weighs this step
    if track is not None:
        weigh = weighs_step(track, step.number)
    for l in range(table.shape[0]):
        lo, hi = share(t, part.count, table[l, N_OUT])
        W, b = weight(target, table, l)[lo:hi], bias(target, table, l)[lo:hi]
        if track is not None:  # (nested ifs: Numba prunes `x is None` tests only)
            if weigh:
                keep_weights(track, params, table, l, lo, hi)
        if opt is None and decay != 0:  # W -= lr * decay * W, then the product adds in
            scale(W.reshape(-1), 1.0 - step.lr * decay)
        layer_gradient(kinds, inputs, space, l, noise, alpha, 1.0 if opt is None else 0.0,
                       LayerRows(W, b, lo, hi))
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
                step_units(kinds, opt, params, table, l, (lo, hi), step)
        if track is not None:
            if weigh:
                if opt is None:  # the change is -lr times the mean gradient
                    change = tally_change(track, t, params, table, l, lo, hi)
                    track.sums[t, l, GRADIENTS] += change / (step.lr * step.lr)
                elif opt.clip_norm == 0:  # with clipping: in the optimizer phase
                    tally_change(track, t, params, table, l, lo, hi)
    space.sums[t, SQUARES] = squares


@njit(**DRIVER)
def optimizer_phase(kinds, part, model, space, step, opt, track):
    """With clipping: part's share of the flat buffers clipped to the norm of the whole
    gradient (the parts' sums of squares, added in part order), then stepped."""
    params = model.params
    lo, hi = share(part.index, part.count, params.shape[0], FLAT_ALIGN)
    total = 0.0
    for u in range(part.count):
        total += space.sums[u, SQUARES]
    clip_to_norm(opt.grads[lo:hi], math.sqrt(total), opt.clip_norm)
    step_flat(kinds, opt, params, lo, hi, step)
    if track is not None:
        if weighs_step(track, step.number):
            tally_flat_updates(track, part.index, params, model.table, lo, hi)
