"""Matrix products, callable from nopython code.

    gemm:          C = alpha * op(A) @ op(B) + beta * C      (BLAS, any alpha and beta)
    affine:        z = x @ W.T + b                           (forward, seed z = W a + b)
    error_back:    delta_prev = delta @ W                    (eq. 7 before the sigma' factor)
    outer_update:  T = beta * T + alpha * delta.T @ a        (eq. 3 summed over the batch)

``np.dot`` inside Numba reaches the BLAS that SciPy ships, but only with alpha=1, beta=0; the
fused SGD update needs beta=1, so gemm calls the same entry point with its own alpha and beta.
Operands are 2-D views whose rows may be strided (a column block of a larger row-major
array) but whose elements within a row are contiguous. Every call depends only on shapes, so
results are reproducible; register-blocked Numba loops lost to OpenBLAS at every standard
shape (bench/perf_log.md).
"""

import numpy as np
from numba import njit

from .config import (FAST_ROWS, INTERNAL, JIT, K_BLOCK, SMALL_PRODUCT, SPLIT_MAX_ROWS,
                     SPLIT_MIN_UNITS)
from .numba_ext import any_layout, as_vector, xxgemm

_NO_TRANS, _TRANS = ord("n"), ord("t")
# Transpose flags as NumPy booleans and arrays typed 'A': Numba compiles a function once per
# distinct literal argument and per layout (Python bools are literals), so the three products
# compiled three or four gemms; now one serves them all.
_NO, _YES = np.bool_(False), np.bool_(True)


@njit(**INTERNAL)
def _leading(M):
    """Leading dimension of a 2-D view with unit column stride (row stride in elements)."""
    return M.strides[0] // M.itemsize


@njit(**JIT)
def gemm(trans_a, trans_b, alpha, A, B, beta, C):
    """C = alpha * op(A) @ op(B) + beta * C; op transposes if asked. Writes C only.

    Row-major C is column-major C.T = op(B).T @ op(A).T, so the operands swap. The inner
    dimension is summed in blocks of at most K_BLOCK, in a fixed order (config.K_BLOCK).
    """
    m, n = C.shape
    k = A.shape[0] if trans_a else A.shape[1]
    if m == 0 or n == 0:
        return
    n_blocks = (k + K_BLOCK - 1) // K_BLOCK
    block = ((k + n_blocks - 1) // n_blocks + 31) // 32 * 32
    for k0 in range(0, k, block):
        k1 = min(k0 + block, k)
        # Sub-blocks are views at an offset; the leading dimensions stay those of A and B.
        A_k = A[k0:k1] if trans_a else A[:, k0:k1]
        B_k = B[:, k0:k1] if trans_b else B[k0:k1]
        xxgemm(_TRANS if trans_b else _NO_TRANS, _TRANS if trans_a else _NO_TRANS,
               n, m, k1 - k0, alpha, B_k, _leading(B), A_k, _leading(A),
               beta if k0 == 0 else 1.0, C, _leading(C))


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
