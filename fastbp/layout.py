"""Where each layer lives in the flat buffers.

Parameters: for each layer l, W[l] (n_out x n_in, row-major) then b[l] (n_out), back to back
in one 1-D array. Workspace (per batch capacity B): the gathered batch inputs x (B x n_0),
targets y (B x n_L) and sample weights w (B), then four (B x units) blocks holding, for every
non-input layer, z, a, delta and "fed" (a after dropout, what the next layer reads when the
layer has dropout). Kernels read both from the int64 table built here, one row per layer.
"""

import numpy as np

# Columns of the layer table.
N_IN, N_OUT, W_OFF, B_OFF, UNIT_OFF, ACT = range(6)
# The per-layer workspace blocks. NumPy integers rather than Python ints: Numba compiles a
# function once per distinct literal int argument, so passing Z, A, DELTA and FED as
# literals compiled layer_block once per block (4 times) in a first fit.
Z, A, DELTA, FED = (np.int64(k) for k in range(4))


def layer_table(sizes, activation_codes):
    """Return the (L, 6) int64 table: n_in, n_out, W offset, b offset, unit offset, activation."""
    table = np.zeros((len(sizes) - 1, 6), dtype=np.int64)
    offset = 0
    units = 0
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        table[l] = (n_in, n_out, offset, offset + n_in * n_out, units, activation_codes[l])
        offset += n_in * n_out + n_out
        units += n_out
    return table


def n_params(sizes):
    """Number of weights and biases of a network with these layer sizes."""
    return sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))


def workspace_size(sizes, capacity):
    """Length of the flat workspace for batches of up to ``capacity`` samples."""
    return capacity * (sizes[0] + sizes[-1] + 1 + 4 * sum(sizes[1:]))


def parameter_views(params, table):
    """Lists of reshaped views (W[l], b[l]) into the flat ``params`` buffer."""
    weights, biases = [], []
    for n_in, n_out, w_off, b_off, _, _ in table:
        weights.append(params[w_off:w_off + n_out * n_in].reshape(n_out, n_in))
        biases.append(params[b_off:b_off + n_out])
    return weights, biases
