"""Where each layer lives in the flat buffers.

Parameters: for each layer l, W[l] (n_out x n_in, row-major) then b[l] (n_out), back to back
in one 1-D array. Workspace (per batch capacity B): the gathered batch inputs x (B x n_0),
targets y (B x n_L) and sample weights w (B), then four (B x units) blocks holding, for every
non-input layer, z, a, delta and "fed" (a after dropout, what the next layer reads when the
layer has dropout). Kernels read both through the layer table built here and address the
workspace through a records.Space.

A bfloat16 network (engine/precision.py) has a second buffer beside the workspace, its
operands: what its products read, rounded to bfloat16 (float32 values or uint16 bit
patterns): the batch inputs x (B x n_0), then two (B x units) blocks, for every non-input
layer, of its fed activations and of its delta, then the weights, laid out like the
parameters (the biases' places unused).

The layer table is one int64 array, a row per non-input layer, whose columns are named
below, rather than a record of one array per column: every compiled helper that takes it (or
a workspace, which holds it) gets a record flattened into scalar arguments, and six arrays
made nielsen's training step 7% slower and a first run's compiling longer than this one
array (bench/perf_log.md).
"""

import numpy as np
from numba import njit

from .config import DRIVER, INTERNAL

# The layer table's columns: the layer's inputs (the previous layer's width), its units,
# where W[l] (n_out x n_in, row-major) and b[l] start in the flat parameters, where its units
# start among all non-input units (the workspace blocks, per-unit buffers), its activation's
# code, and the network's loss code (the same on every row).
N_IN, N_OUT, W_OFF, B_OFF, UNIT_OFF, ACT, LOSS_CODE = range(7)
# The per-layer workspace blocks. NumPy integers rather than Python ints: Numba compiles a
# function once per distinct literal int argument, so passing Z, A, DELTA and FED as
# literals compiled layer_block once per block (4 times) in a first fit.
Z, A, DELTA, FED = (np.int64(k) for k in range(4))
# The per-layer blocks of the bfloat16 operands: the activations a layer feeds the next (after
# dropout), its delta.
FED_BF16, DELTA_BF16 = (np.int64(k) for k in range(2))


def layer_table(sizes, activation_codes, loss_code):
    """The (L, 7) int64 layer table of a network of these sizes, activations and loss."""
    table = np.zeros((len(sizes) - 1, 7), dtype=np.int64)
    offset = 0
    units = 0
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        table[l] = (n_in, n_out, offset, offset + n_in * n_out, units, activation_codes[l],
                    loss_code)
        offset += n_in * n_out + n_out
        units += n_out
    return table


def n_params(sizes):
    """Number of weights and biases of a network with these layer sizes."""
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def workspace_size(sizes, capacity):
    """Length of the flat workspace for batches of up to ``capacity`` samples."""
    return capacity * (sizes[0] + sizes[-1] + 1 + 4 * sum(sizes[1:]))


def operands_size(sizes, capacity):
    """Length of the bfloat16 operands of batches of up to ``capacity`` samples."""
    return capacity * (sizes[0] + 2 * sum(sizes[1:])) + n_params(sizes)


def parameter_views(params, table):
    """Lists of reshaped views (W[l], b[l]) into the flat ``params`` buffer."""
    weights, biases = [], []
    for n_in, n_out, w_off, b_off in table[:, :UNIT_OFF]:
        weights.append(params[w_off:w_off + n_out * n_in].reshape(n_out, n_in))
        biases.append(params[b_off:b_off + n_out])
    return weights, biases


# Views, inside kernels: they cost no allocation. ----------------------------------------


@njit(**INTERNAL)
def _block(buf, start, rows, cols):
    """(rows, cols) C-contiguous view of buf[start:start + rows * cols]."""
    return buf[start:start + rows * cols].reshape((rows, cols))


@njit(**INTERNAL)
def weight(params, table, l):
    """View of W[l], shape (n_out, n_in), in params or any buffer laid out like it."""
    return _block(params, table[l, W_OFF], table[l, N_OUT], table[l, N_IN])


@njit(**INTERNAL)
def weight_range(table, l, u0, u1):
    """[start, stop) of rows u0 to u1 of W[l] in params (one contiguous range)."""
    return table[l, W_OFF] + u0 * table[l, N_IN], table[l, W_OFF] + u1 * table[l, N_IN]


@njit(**INTERNAL)
def bias(params, table, l):
    """View of b[l], shape (n_out,)."""
    return params[table[l, B_OFF]:table[l, B_OFF] + table[l, N_OUT]]


@njit(**INTERNAL)
def batch_x(space, n):
    """View of the gathered inputs of an n-row batch, shape (n, n_0)."""
    width = space.table[0, N_IN]
    return space.ws[:n * width].reshape((n, width))


@njit(**INTERNAL)
def batch_y(space, n):
    """View of the gathered targets, shape (n, n_L)."""
    table = space.table
    return _block(space.ws, space.capacity * table[0, N_IN], n, table[-1, N_OUT])


@njit(**INTERNAL)
def batch_w(space, n):
    """View of the gathered sample weights, shape (n,)."""
    table = space.table
    start = space.capacity * (table[0, N_IN] + table[-1, N_OUT])
    return space.ws[start:start + n]


def block_start(table, capacity, l, which):
    """Offset in the workspace of block ``which`` (Z, A, DELTA or FED) of layer l."""
    units = table[-1, UNIT_OFF] + table[-1, N_OUT]
    return capacity * (table[0, N_IN] + table[-1, N_OUT] + 1 + which * units
                       + table[l, UNIT_OFF])


_block_start = njit(**DRIVER)(block_start)  # the same formula inside kernels


@njit(**INTERNAL)
def layer_block(space, n, l, which):
    """View of block ``which`` (Z, A, DELTA or FED) of layer l for an n-row batch, shape
    (n, n_out)."""
    return _block(space.ws, _block_start(space.table, space.capacity, l, which), n,
                  space.table[l, N_OUT])


@njit(**INTERNAL)
def fed_block(space, n, l, noise):
    """What layer l feeds the next of an n-row batch: its activations, after dropout (its FED
    block) when it has dropout; noise is None (no dropout) or a records.Noise."""
    if noise is not None and noise.rates[l] > 0:
        return layer_block(space, n, l, FED)
    return layer_block(space, n, l, A)


@njit(**INTERNAL)
def layer_input(x, space, l, noise):
    """What layer l reads from the batch x: x itself for the first layer, else what layer
    l - 1 feeds it (fed_block)."""
    if l == 0:
        return x
    return fed_block(space, x.shape[0], l - 1, noise)


@njit(**INTERNAL)
def operand_x(space, n):
    """View of the bfloat16 batch inputs of an n-row batch, shape (n, n_0)."""
    width = space.table[0, N_IN]
    return space.operands[:n * width].reshape((n, width))


@njit(**INTERNAL)
def operand_block(space, n, l, which):
    """View of bfloat16 operand block ``which`` (FED_BF16 or DELTA_BF16) of layer l for an
    n-row batch, shape (n, n_out)."""
    table = space.table
    units = table[-1, UNIT_OFF] + table[-1, N_OUT]
    start = space.capacity * (table[0, N_IN] + which * units + table[l, UNIT_OFF])
    return _block(space.operands, start, n, table[l, N_OUT])


@njit(**INTERNAL)
def operand_params(space):
    """View of the bfloat16 weights, laid out like the parameters (weight() reads them)."""
    table = space.table
    units = table[-1, UNIT_OFF] + table[-1, N_OUT]
    start = space.capacity * (table[0, N_IN] + 2 * units)
    return space.operands[start:start + table[-1, B_OFF] + table[-1, N_OUT]]
