"""Matrix products, callable from nopython code (equation numbers: docs/math.md).

    gemm:          C = alpha * op(A) @ op(B) + beta * C      (any alpha and beta)
    affine:        z = x @ W.T + b                           (forward, z = W a + b per sample)
    error_back:    delta_prev = delta @ W                    (eq. 7 before the sigma' factor)
    outer_update:  T = beta * T + alpha * delta.T @ a        (eq. 3 summed over the batch)

Every product goes through gemm, which hands it to OpenBLAS or oneDNN by its shape class
(backends.py: a table measured on the running CPU; bfloat16 operands stored as bit patterns
to oneDNN's bf16 product, engine/bf16.py), always on one thread: each result
depends only on the shapes, so it is the same for any thread count. Operands are 2-D views
whose rows may be strided (a column block of a larger row-major array) but whose elements
within a row are contiguous. Register-blocked Numba loops lost to OpenBLAS at every standard
shape (bench/perf_log.md).
"""

import numpy as np
from numba import njit, types
from numba.extending import overload

from . import backends
from .config import (FAST_ROWS, INTERNAL, JIT, SMALL_PRODUCT, SPLIT_MAX_ROWS,
                     SPLIT_MIN_UNITS)
from .numba_ext import (any_layout, as_vector, gemm_choice, onednn_bf16, onednn_sgemm,
                        openblas_gemm)

# Transpose flags as NumPy booleans and arrays typed 'A': Numba compiles a function once per
# distinct literal argument and per layout (Python bools are literals), so the three products
# compiled three or four gemms; now one serves them all.
_NO, _YES = np.bool_(False), np.bool_(True)

_shape_class = njit(**INTERNAL)(backends.shape_class)


@njit(**INTERNAL)
def _leading(M):
    """Leading dimension of a 2-D view with unit column stride (row stride in elements)."""
    return M.strides[0] // M.itemsize


@njit(**INTERNAL)
def _pattern(trans_a, trans_b):
    """Index of (trans_a, trans_b) in backends.PATTERNS, or -1 (OpenBLAS always)."""
    if trans_a:
        return -1 if trans_b else 2
    return 0 if trans_b else 1


def _library(trans_a, trans_b, alpha, A, B, beta, C):
    """The library call of gemm, chosen by dtype when compiled: float64 goes to OpenBLAS,
    bfloat16 bit patterns (uint16 A and B, engine/bf16.py) to oneDNN's bf16 product, float32
    by the measured table."""


def _one_library(library):
    """The call of gemm through one library's intrinsic (numba_ext), whatever the shape."""
    def call(trans_a, trans_b, alpha, A, B, beta, C):
        m, n = C.shape
        k = A.shape[0] if trans_a else A.shape[1]
        library(trans_a, trans_b, m, n, k, alpha, A, _leading(A), B, _leading(B), beta, C,
                _leading(C))
    return call


@overload(_library, jit_options=INTERNAL)
def _library_typed(trans_a, trans_b, alpha, A, B, beta, C):
    if A.dtype == types.uint16:
        return _one_library(onednn_bf16)
    if C.dtype != types.float32:
        return _one_library(openblas_gemm)

    def call(trans_a, trans_b, alpha, A, B, beta, C):
        m, n = C.shape
        k = A.shape[0] if trans_a else A.shape[1]
        pattern = _pattern(trans_a, trans_b)
        if (pattern >= 0 and k > 0
                and gemm_choice(_shape_class(pattern, m, n, k)) == backends.ONEDNN):
            onednn_sgemm(trans_a, trans_b, m, n, k, alpha, A, _leading(A), B, _leading(B),
                         beta, C, _leading(C))
        else:
            openblas_gemm(trans_a, trans_b, m, n, k, alpha, A, _leading(A), B, _leading(B),
                          beta, C, _leading(C))
    return call


@njit(**JIT)
def gemm(trans_a, trans_b, alpha, A, B, beta, C):
    """C = alpha * op(A) @ op(B) + beta * C; op transposes if asked. Writes C only."""
    if C.shape[0] == 0 or C.shape[1] == 0:
        return
    _library(trans_a, trans_b, alpha, A, B, beta, C)


@njit(**INTERNAL)
def _row_step(n, n_out, n_in):
    """Rows per BLAS call for a row-wise product of n rows with (n_out, n_in) layer weights
    (config.FAST_ROWS). Takes the shape, not W: W comes in two layouts, and a function is
    compiled once per argument type."""
    if (FAST_ROWS < n <= SPLIT_MAX_ROWS and n_out >= SPLIT_MIN_UNITS
            and FAST_ROWS * n_in * n_out <= SMALL_PRODUCT):
        return FAST_ROWS
    return max(n, 1)  # 0 rows: no call


@njit(**JIT)
def affine(x, W, b, z):
    """z = x @ W.T + b for x (n, n_in), W (n_out, n_in), b (n_out,); writes z (n, n_out)."""
    n = x.shape[0]
    for i in range(n):  # bias first, then the product accumulates onto it (beta = 1)
        row = as_vector(z[i:i + 1])  # typed contiguous, so LLVM vectorises the copy
        for j in range(b.shape[0]):  # explicit loop: cheaper than Numba's slice assignment
            row[j] = b[j]
    rows = _row_step(n, W.shape[0], W.shape[1])
    for i in range(0, n, rows):
        gemm(_NO, _YES, 1.0, any_layout(x[i:i + rows]), any_layout(W), 1.0,
             any_layout(z[i:i + rows]))


@njit(**JIT)
def error_back(delta, W, delta_prev):
    """delta_prev = delta @ W for delta (n, n_out), W (n_out, n_in); writes delta_prev."""
    n = delta.shape[0]
    rows = _row_step(n, W.shape[0], W.shape[1])
    for i in range(0, n, rows):
        gemm(_NO, _NO, 1.0, any_layout(delta[i:i + rows]), any_layout(W), 0.0,
             any_layout(delta_prev[i:i + rows]))


@njit(**JIT)
def outer_update(alpha, delta, a, beta, T):
    """T = beta * T + alpha * delta.T @ a for delta (n, n_out), a (n, n_in); writes T."""
    gemm(_YES, _NO, alpha, any_layout(delta), any_layout(a), beta, any_layout(T))
