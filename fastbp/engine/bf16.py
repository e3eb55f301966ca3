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

Rounding (float32 bits u): add 0x7FFF plus the lowest kept bit (bit 16) and drop the low 16
bits; a finite value that rounds past bf16's largest becomes inf, as it should; a NaN stays
a NaN (its sign kept, made quiet, so that rounding cannot carry it into inf).
"""

import numpy as np
from numba import njit, types
from numba.extending import overload

from .config import INTERNAL
from .gemm import _leading, gemm
from .numba_ext import bits_to_float32, float32_bits, onednn_bf16

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


def bf16_gemm(trans_a, trans_b, alpha, A, B, beta, C):
    """C = alpha * op(A) @ op(B) + beta * C for operands rounded to bfloat16: float32 ones
    (round_rows) through the float32 gemm, the emulated path; uint16 ones (bf16_rows)
    through oneDNN's bf16 product, the native path. Compiled code only."""
    raise TypeError("bf16_gemm runs inside compiled kernels only")


@overload(bf16_gemm, jit_options=INTERNAL)
def _bf16_gemm(trans_a, trans_b, alpha, A, B, beta, C):
    if A.dtype == types.float32:
        return lambda trans_a, trans_b, alpha, A, B, beta, C: gemm(
            trans_a, trans_b, alpha, A, B, beta, C)

    def native(trans_a, trans_b, alpha, A, B, beta, C):
        if C.shape[0] == 0 or C.shape[1] == 0:
            return
        m, n = C.shape
        k = A.shape[0] if trans_a else A.shape[1]
        onednn_bf16(trans_a, trans_b, m, n, k, alpha, A, _leading(A), B, _leading(B), beta,
                    C, _leading(C))
    return native
