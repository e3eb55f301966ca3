"""int8 inference: a network's forward pass with its matrix products in u8 x s8 -> s32, for
quantized networks (fastbp/quantized.py). For each layer l, on a block of rows:

    q   = clip(round_half_even(a_prev / s[l]) + zp[l], 0, top)    uint8 (ONNX QuantizeLinear)
    acc = q @ Wq[l].T - zp[l] * (sum over k of Wq[l][:, k])        int32, exact (oneDNN)
    z   = float32(acc) * m[l] + b[l]                               m[l][j] = s[l] * sw[l][j]
    a   = sigma(z)

Wq[l] holds the int8 weights of layer l (per-output-unit scales sw[l]); s[l] and zp[l] are
the scale and zero point of layer l's input, from calibration; top is the largest input
code (127 without VNNI: backends.has_vnni). The division, the rounding and the
dequantizing multiply-add are computed as ONNX Runtime computes QuantizeLinear, Cast, Mul
and Add (no reciprocal, no fused multiply-add), so an exported model reproduces the integer
products. Activations and the loss are float inference's own (step.py).

Raw uint8 rows (pixels) are read as they are: quantized straight from the bytes (no float
copy of them), or, where their codes would be the pixels themselves (s[0] = 1, zp[0] = 0,
top = 255), not quantized at all; either way the codes, and so every result, are those of
the rows converted to float32, bit for bit.
"""

import numpy as np
from numba import njit, types
from numba.extending import overload

from . import config
from .backends import one_thread
from .config import DRIVER, INTERNAL, JIT
from .elementwise import activate, non_finite_rows
from .gemm import _leading
from .layout import ACT, N_IN, N_OUT, UNIT_OFF, A, Z, layer_block, weight
from .loops import _once, meet, slab_outputs
from .numba_ext import onednn_u8s8s32
from .parallel import inference_rows, inference_slabs, run_team, share
from .records import NON_FINITE, Scratch, Slab, read_only

# IEEE arithmetic, as ONNX Runtime's operators do it: without fastmath, LLVM neither turns
# x / s into x * (1 / s) nor fuses the dequantizing multiply and add.
_IEEE = dict(INTERNAL, fastmath=False)


@njit(**INTERNAL)
def _units(buffer, table, l):
    """Layer l's entries of a per-unit buffer."""
    return buffer[table[l, UNIT_OFF]:table[l, UNIT_OFF] + table[l, N_OUT]]


@njit(**INTERNAL)
def _rows(buffer, capacity, r0, r1, width):
    """Rows r0 to r1 of a flat buffer of capacity rows of its widest layer, as a C-contiguous
    (r1 - r0, width) block."""
    start = r0 * (buffer.shape[0] // capacity)
    return buffer[start:start + (r1 - r0) * width].reshape((r1 - r0, width))


@njit(**_IEEE)
def quantize(a, scale, zero_point, top, q):
    """q = clip(round_half_even(a / scale) + zero_point, 0, top) elementwise, for float32 or
    uint8 a (exact in float32) and uint8 q of the same shape (rows of each contiguous)."""
    low, high = np.float32(-zero_point), np.float32(top - zero_point)
    shift = np.float32(zero_point)
    for i in range(a.shape[0]):
        row, codes = a[i], q[i]  # rows as vectors, and selects, not min/max: 1.6x faster
        for j in range(row.shape[0]):
            v = np.float32(row[j]) / scale  # a uint8 widened in the loop: no copy
            v = v if v > low else low  # clipped before rounding, as ONNX Runtime does
            v = v if v < high else high
            codes[j] = np.uint8(np.int32(np.rint(v) + shift))


@njit(**_IEEE)
def dequantize(acc, multipliers, biases, z):
    """z = float32(acc) * multipliers + biases, per row of the int32 acc (a column's scale
    and bias for each unit)."""
    for i in range(acc.shape[0]):
        products, out = acc[i], z[i]
        for j in range(products.shape[0]):
            out[j] = np.float32(products[j]) * multipliers[j] + biases[j]


def layer_codes(a, q, l, codes):
    """Layer l's input codes for the rows a: quantized into codes, which is returned, or a
    itself where its uint8 values are the codes (module doc). Compiled code only."""
    raise TypeError("layer_codes runs inside compiled kernels only")


@overload(layer_codes, inline="always", jit_options=INTERNAL)
def _layer_codes(a, q, l, codes):
    if a.dtype != types.uint8:
        def impl(a, q, l, codes):
            quantize(a, q.scales[l], q.zero_points[l], q.top, codes)
            return codes
        return impl

    def impl_pixels(a, q, l, codes):
        if q.scales[l] == 1 and q.zero_points[l] == 0 and q.top == 255:
            return a
        quantize(a, q.scales[l], q.zero_points[l], q.top, codes)
        return codes
    return impl_pixels


def input_non_finite_rows(x):
    """How many rows of the input rows x hold a NaN or an infinity (none in integer rows).
    Compiled code only."""
    raise TypeError("input_non_finite_rows runs inside compiled kernels only")


@overload(input_non_finite_rows, inline="always", jit_options=INTERNAL)
def _input_non_finite_rows(x):
    if isinstance(x.dtype, types.Integer):
        return lambda x: 0
    return lambda x: non_finite_rows(x)


@njit(**DRIVER)
def quantized_block(kinds, q, space, scratch, a_prev, l, rows):
    """Forward pass of rows (r0, r1) of layer l with int8 products (module doc): writes
    those rows of layer l's z and a. a_prev is the whole (n, n_in) input of the layer;
    scratch a records.Scratch."""
    table = q.table
    r0, r1 = rows
    n = a_prev.shape[0]
    if r1 <= r0:
        return
    n_in, n_out = table[l, N_IN], table[l, N_OUT]
    # Rows r0 to r1 of every layer at the same place, r0 widest-layer rows in: the slabs of
    # a chunk run their layers without meeting, and must never share a scratch row. Each a
    # C-contiguous block: 2-D column blocks kept the loops below from vectorising.
    codes = layer_codes(a_prev[r0:r1], q, l, _rows(scratch.codes, space.capacity, r0, r1, n_in))
    acc = _rows(scratch.acc, space.capacity, r0, r1, n_out)
    onednn_u8s8s32(r1 - r0, n_out, n_in, codes, _leading(codes), weight(q.weights, table, l),
                   n_in, acc, _leading(acc), _units(q.offsets, table, l))
    z = layer_block(space, n, l, Z)[r0:r1]
    dequantize(acc, _units(q.multipliers, table, l), _units(q.biases, table, l), z)
    activate(kinds, table[l, ACT], z, layer_block(space, n, l, A)[r0:r1])


@_once
def infer(kinds):
    """The int8 inference loop for kinds: infer(team, q, space, scratch, data, out)."""

    @njit(**JIT)
    def infer_rows(team, q, space, scratch, data, out):
        """As loops.infer, with quantized_block for each layer's forward pass: outputs into
        out when it has rows; when data.Y has rows, each slab's weighted loss sum and
        correct count into its sums; always, its rows of X holding a NaN or inf into its
        non_finite sum (they have no codes: the caller reads X for them only then)."""
        X = data.X
        top = q.table.shape[0] - 1
        k = 0
        for first in range(0, X.shape[0], space.capacity):
            n = min(space.capacity, X.shape[0] - first)
            x = X[first:first + n]
            for s in range(team.first, team.end):
                lo, hi = share(s, team.parts, n)
                # the first layer apart: its input may be uint8 rows, the others' float32
                space.sums[s, NON_FINITE] += input_non_finite_rows(x[lo:hi])
                quantized_block(kinds, q, space, scratch, x, 0, (lo, hi))
                for l in range(1, top + 1):
                    quantized_block(kinds, q, space, scratch,
                                    layer_block(space, n, l - 1, A), l, (lo, hi))
                slab_outputs(kinds, q, space, Slab(s, first, n, lo, hi), data, out)
            k = meet(team, k)

    return infer_rows


def run(model, q, data, out):
    """int8 inference over data = Data(X, Y, weights) (X float32 or uint8, checked but for
    NaN and inf, which the pass counts; Y and weights float32) for the float32
    engine Model of the network's shape (its kinds and workspace layout) and the Quantized
    q: outputs into out when it has rows; returns the Tallies of the forward pass. At most
    config.FEW_ROWS rows run on the calling thread in its workspace (Model.few_rows), as
    Model.infer runs them."""
    n = data.X.shape[0]
    if n <= config.FEW_ROWS:
        few = model.few_rows()
        if not hasattr(few, "scratch"):
            few.scratch = _scratch(q, config.FEW_ROWS)
        with one_thread():
            infer(model.kinds)(few.team, q, few.space, few.scratch, read_only(data), out)
        return model.inference_tallies(few.space, data)
    capacity = min(n, inference_rows())
    slabs = inference_slabs(capacity)
    space = model.space(capacity, slabs)
    run_team(infer(model.kinds), slabs,
             (q, space, _scratch(q, capacity), read_only(data), out))
    return model.inference_tallies(space, data)


def _scratch(q, rows):
    """The records.Scratch of the int8 layers of q for up to rows rows."""
    return Scratch(np.empty(rows * int(q.table[:, N_IN].max()), np.uint8),
                   np.empty(rows * int(q.table[:, N_OUT].max()), np.int32))
