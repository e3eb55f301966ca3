"""Inputs the user holds in another dtype (a records.RawX: uint8 images, a float16 or
float64 memory map, ...), converted to the network's dtype row by row as the kernels read
them, and mapped by the network's input scale and shift: x = scale * X[row] + shift.

Training converts each batch's rows as it gathers them (step.gather_rows, through
sparse.copy_rows); inference converts each slab's rows of a chunk into the workspace's batch
block before the first layer reads them (fill_slab). X itself is never copied whole, and
the kernels above the gather see the network's dtype only.
"""

import numpy as np
from numba import njit, types
from numba.extending import overload

from .config import INTERNAL
from .records import RawX


def is_raw(numba_type):
    """Whether numba_type is the type of a records.RawX (at compile time)."""
    return isinstance(numba_type, types.BaseNamedTuple) and numba_type.instance_class is RawX


# 2**(e - 25) for the exponent field e of a float16: its value is (1024 + mantissa) times
# this for e in 1..30, and mantissa times HALF_POWERS[1] = 2**-24 for e = 0 (subnormal).
HALF_POWERS = 2.0 ** (np.arange(32) - 25)


@njit(**INTERNAL)
def half_value(bits):
    """The float16 whose bit pattern is bits (a uint16), exactly, as a float64. Numba has no
    float16 type on the CPU, so a float16 X reaches the kernels as its bit patterns."""
    b = np.int64(bits)
    exponent, mantissa = (b >> 10) & 31, b & 1023
    if exponent == 31:
        value = np.inf if mantissa == 0 else np.nan
    elif exponent == 0:
        value = mantissa * HALF_POWERS[1]
    else:
        value = (1024 + mantissa) * HALF_POWERS[exponent]
    return -value if b & 0x8000 else value


@njit(**INTERNAL)
def convert_row(src, half, dst):
    """dst = src in dst's dtype, the same bits as ndarray.astype; half: src holds float16
    bit patterns."""
    f = dst.dtype.type
    if half:
        for k in range(dst.shape[0]):
            dst[k] = f(half_value(src[k]))
    else:
        for k in range(dst.shape[0]):
            dst[k] = f(src[k])


@njit(**INTERNAL)
def map_row(X, r, dst):
    """dst = scale * X[r] + shift elementwise, in dst's dtype, for row r of a records.RawX;
    an empty scale or shift is left out (no map at all: the plain conversion)."""
    scale, shift = X.scale, X.shift
    convert_row(X.values[r], X.half, dst)
    if scale.shape[0] == 0 and shift.shape[0] == 0:
        return
    if shift.shape[0] == 0:
        for k in range(dst.shape[0]):
            dst[k] *= scale[k]
    elif scale.shape[0] == 0:
        for k in range(dst.shape[0]):
            dst[k] += shift[k]
    else:  # one fused multiply-add where the CPU has it (fastmath "contract")
        for k in range(dst.shape[0]):
            dst[k] = dst[k] * scale[k] + shift[k]


@njit(**INTERNAL)
def map_rows(X, rows, x, lo, hi):
    """x[i] = the mapped row rows[i] of X (a records.RawX), for i in [lo, hi)."""
    for i in range(lo, hi):
        map_row(X, rows[i], x[i])


def fill_slab(X, first, lo, hi, x):
    """For a records.RawX X: x[i] = the mapped row first + i of X for i in [lo, hi), the
    rows of an inference slab; nothing for other X (the first layer reads them in place).
    Compiled code only (the overload below)."""
    raise TypeError("fill_slab runs inside compiled kernels only")


@overload(fill_slab, inline="always", jit_options=INTERNAL)
def _fill_slab(X, first, lo, hi, x):
    if not is_raw(X):
        return lambda X, first, lo, hi, x: None

    def impl(X, first, lo, hi, x):
        for i in range(lo, hi):
            map_row(X, first + i, x[i])
    return impl
