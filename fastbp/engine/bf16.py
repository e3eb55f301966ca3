"""bfloat16 operands of matrix products: float32 values rounded to bfloat16 (8 bits of
significand, float32's exponent range), round to nearest, ties to even, as CPUs' bf16 units,
PyTorch and oneDNN round them.

A bf16 product takes its operands rounded and sums in float32. Two paths give the same
numbers up to the order of the float32 sums:

    native    operands stored as bf16 bit patterns (uint16), multiplied by oneDNN's
              dnnl_gemm_bf16bf16f32 on the CPU's bf16 units (backends.has_bf16)
    emulated  operands stored as float32 values that bf16 holds exactly, multiplied by the
              float32 gemm: the product of two bf16 values has at most 16 significant bits,
              so float32 holds it exactly, and only the sums round, in float32

gemm.gemm takes both: it is compiled for the operands' dtype.

Rounding (float32 bits u): add 0x7FFF plus the lowest kept bit (bit 16) and drop the low 16
bits; a finite value that rounds past bf16's largest becomes inf, as it should; a NaN stays
a NaN (its sign kept, made quiet, so that rounding cannot carry it into inf).
"""

import numpy as np
from numba import njit, types
from numba.extending import overload

from .config import INTERNAL
from .numba_ext import bits_to_float32, float32_bits

_HALF_MINUS_ONE = np.uint32(0x7FFF)
_QUIET = np.uint32(0x0040)  # the highest significand bit of a bf16: a quiet NaN


@njit(**INTERNAL)
def bf16_bits(x):
    """The bfloat16 nearest the float32 x (ties to even), as its 16-bit pattern in a
    uint32."""
    u = float32_bits(x)
    # np.uint32 at each step: Numba widens integer arithmetic to 64 bits, which halves the
    # lanes of the vectorised loops (no overflow: a NaN is the only input past 0xFF800000)
    half = np.uint32(_HALF_MINUS_ONE + np.uint32(np.uint32(u >> np.uint32(16)) & np.uint32(1)))
    rounded = np.uint32(np.uint32(u + half) >> np.uint32(16))
    nan = np.uint32(np.uint32(u >> np.uint32(16)) | _QUIET)
    return nan if x != x else rounded  # a select, not a branch: the loops vectorise


@njit(**INTERNAL)
def round_to_bf16(x):
    """The bfloat16 nearest the float32 x (ties to even), as a float32."""
    return bits_to_float32(np.uint32(bf16_bits(x) << np.uint32(16)))


@njit(**INTERNAL)
def round_rows(src, dst):
    """dst = src rounded to bfloat16, as float32 values (the emulated path's operands), for
    2-D float32 src and dst of one shape whose rows are contiguous."""
    for i in range(src.shape[0]):
        row, out = src[i], dst[i]  # rows as vectors: the inner loop vectorises
        for j in range(row.shape[0]):
            out[j] = round_to_bf16(row[j])


@njit(**INTERNAL)
def bf16_rows(src, dst):
    """dst = src rounded to bfloat16, as bit patterns (the native path's operands), for 2-D
    float32 src and uint16 dst of one shape whose rows are contiguous."""
    for i in range(src.shape[0]):
        row, out = src[i], dst[i]
        for j in range(row.shape[0]):
            out[j] = np.uint16(bf16_bits(row[j]))


def to_bf16(src, dst):
    """dst = src rounded to bfloat16, in dst's form: float32 values (round_rows) or uint16
    bit patterns (bf16_rows). Compiled code only (the overload below)."""
    raise TypeError("to_bf16 runs inside compiled kernels only")


@overload(to_bf16, inline="always", jit_options=INTERNAL)
def _to_bf16(src, dst):
    if dst.dtype == types.uint16:
        return lambda src, dst: bf16_rows(src, dst)
    return lambda src, dst: round_rows(src, dst)
