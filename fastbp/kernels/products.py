"""The three matrix products of a training step, named after the equations they compute.

    affine:        z = x @ W.T + b                       (forward, seed z = W a + b)
    error_back:    delta_prev = delta @ W                (eq. 7 before the sigma' factor)
    outer_update:  T = beta * T + alpha * delta.T @ a    (eq. 3 summed over the batch)

All three go to BLAS. For 9 to 32 rows, the two row-wise products (affine, error_back) of a
layer whose W is wider than 32 units and small enough that 8 rows stay on OpenBLAS's
small-matrix path (8 x n_in x n_out <= 1e6) go to BLAS 8 rows at a time: on such layers
OpenBLAS runs 8-row products fast and 10- to 32-row ones slowly (784 -> 128 at 10 rows:
71.5 us in one call, 29.4 us in 8-row calls). For narrower layers one call is faster
(784 -> 30 at 10 rows: 4.9 vs 5.9 us), and for wider ones 8-row calls leave that path too
and cost 2-2.5x (784 -> 512 at 32 rows: 318 vs 822 us); bench/perf_log.md has the table.
Rows are independent in both products, so the split changes nothing mathematically, and as
it depends only on the shape, results stay reproducible. Register-blocked Numba loops (4
rows in flight, serial or split over 2 threads) lost to OpenBLAS's small-matrix kernels at
every layer size of the standard configurations, and Numba's OpenMP threads fought
OpenBLAS's for the two cores when both ran in one step (medium: 20x slower).
"""

import numpy as np
from numba import njit

from ..config import JIT
from .blas import any_layout, gemm

# gemm's transpose flags as NumPy booleans and its arrays typed 'A': Numba compiles a function
# once per distinct literal argument and per layout, and Python bools are literals, so the
# three products compiled three or four gemms; now one serves them all.
_NO, _YES = np.bool_(False), np.bool_(True)

FAST_ROWS = 8  # rows per BLAS call on OpenBLAS's fast path
SPLIT_MAX_ROWS = 32  # above this many rows one call wins again
SPLIT_MIN_UNITS = 33  # narrower layers: one call wins
SMALL_PRODUCT = 1e6  # rows x n_in x n_out up to which OpenBLAS takes its small-matrix path


@njit(**JIT)
def _row_step(n, n_out, n_in):
    """Rows per BLAS call for a row-wise product of n rows with (n_out, n_in) layer weights
    (see the module doc). Takes the shape, not W: W comes in two layouts, and a function
    Numba compiles once per argument type."""
    if (FAST_ROWS < n <= SPLIT_MAX_ROWS and n_out >= SPLIT_MIN_UNITS
            and FAST_ROWS * n_in * n_out <= SMALL_PRODUCT):
        return FAST_ROWS
    return max(n, 1)  # 0 rows: no call


@njit(**JIT)
def affine(x, W, b, z):
    """z = x @ W.T + b for x (n, n_in), W (n_out, n_in), b (n_out,); writes z (n, n_out)."""
    n = x.shape[0]
    for i in range(n):  # bias first, then the product accumulates onto it (beta = 1)
        for j in range(b.shape[0]):  # explicit loop: cheaper than Numba's slice assignment
            z[i, j] = b[j]
    rows = _row_step(n, W.shape[0], W.shape[1])
    for i in range(0, n, rows):
        gemm(_NO, _YES, 1.0, any_layout(x[i:i + rows]), any_layout(W), 1.0,
             any_layout(z[i:i + rows]))


@njit(**JIT)
def error_back(delta, W, delta_prev):
    """delta_prev = delta @ W for delta (n, n_out), W (n_out, n_in).

    Writes delta_prev (n, n_in).
    """
    n = delta.shape[0]
    rows = _row_step(n, W.shape[0], W.shape[1])
    for i in range(0, n, rows):
        gemm(_NO, _NO, 1.0, any_layout(delta[i:i + rows]), any_layout(W), 0.0,
             any_layout(delta_prev[i:i + rows]))


@njit(**JIT)
def outer_update(alpha, delta, a, beta, T):
    """T = beta * T + alpha * delta.T @ a for delta (n, n_out), a (n, n_in).

    Writes T (n_out, n_in).
    """
    gemm(_YES, _NO, alpha, any_layout(delta), any_layout(a), beta, any_layout(T))
