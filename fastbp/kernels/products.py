"""The three matrix products of a training step, named after the equations they compute.

    affine:        z = x @ W.T + b                       (forward, seed z = W a + b)
    error_back:    delta_prev = delta @ W                (eq. 7 before the sigma' factor)
    outer_update:  T = beta * T + alpha * delta.T @ a    (eq. 3 summed over the batch)

All three go to BLAS. Register-blocked Numba loops (4 rows in flight, serial or split over
2 threads) lost to OpenBLAS's small-matrix kernels at every layer size of the standard
configurations, and Numba's OpenMP threads fought OpenBLAS's for the two cores when both ran
in one step (medium: 20x slower). bench/perf_log.md has the figures.
"""

from numba import njit

from ..config import JIT
from .blas import gemm


@njit(**JIT)
def affine(x, W, b, z):
    """z = x @ W.T + b for x (n, n_in), W (n_out, n_in), b (n_out,); writes z (n, n_out)."""
    for i in range(x.shape[0]):  # bias first, then the product accumulates onto it (beta = 1)
        for j in range(b.shape[0]):  # explicit loop: cheaper than Numba's slice assignment
            z[i, j] = b[j]
    gemm(False, True, 1.0, x, W, 1.0, z)


@njit(**JIT)
def error_back(delta, W, delta_prev):
    """delta_prev = delta @ W for delta (n, n_out), W (n_out, n_in); writes delta_prev (n, n_in)."""
    gemm(False, False, 1.0, delta, W, 0.0, delta_prev)


@njit(**JIT)
def outer_update(alpha, delta, a, beta, T):
    """T = beta * T + alpha * delta.T @ a for delta (n, n_out), a (n, n_in); writes T (n_out, n_in)."""
    gemm(True, False, alpha, delta, a, beta, T)
