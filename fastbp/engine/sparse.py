"""The first layer over a sparse X: its forward product (z = x W^T + b) and its weight
gradient (eq. 3: delta^T x) read a batch's rows straight from X's compressed sparse rows,
touching only their non-zeros; the layers above see dense activations as always.

A dense first layer reads the batch gathered into the workspace (step.gather_rows); a sparse one
reads ``SparseRows(X, rows)``: X a records.CSR and rows the batch's row numbers in it. The
functions below take either form and are compiled for the one they get (overloads on the
argument's type), so the dense path is the code it was.

Both products run over one unit (row of W) at a time, the batch's non-zeros in row order:
row j of W (n_in values) stays in cache while the batch's rows pass over it, and every
output element is summed in the same order for any cut of the units or rows into parts,
so results are the same on any number of threads.
"""

import numpy as np
from numba import njit, types
from numba.extending import overload

from .config import INTERNAL
from .gemm import affine, outer_update
from .layout import batch_x
from .numba_ext import as_mutable
from .raw_inputs import is_raw, map_rows
from .records import CSR, SparseRows

_NO_ROWS = np.zeros(1, np.int64)  # row_numbers of a dense X: an empty view of it


def _instance_of(numba_type, record):
    """Whether numba_type is the type of a record (a NamedTuple class) of records.py."""
    return isinstance(numba_type, types.BaseNamedTuple) and numba_type.instance_class is record


def is_csr(X):
    """Whether X is a records.CSR, as a compile-time constant. Compiled code only (the
    overload below)."""
    raise TypeError("is_csr runs inside compiled kernels only")


@overload(is_csr, inline="always", jit_options=INTERNAL)
def _is_csr(X):
    answer = _instance_of(X, CSR)
    return lambda X: answer


def _unreachable(a_prev):
    """Whether a_prev is SparseRows of a dense X: typed in the branch of step.layer_forward
    that is compiled out for dense X, never run."""
    return _instance_of(a_prev, SparseRows) and not _instance_of(a_prev[0], CSR)


@njit(**INTERNAL)
def csr_affine(X, rows, W, b, z):
    """z = X[rows] @ W.T + b for X a records.CSR, rows (n,) its row numbers, W (m, n_in),
    b (m,); writes z (n, m). Each element sums the row's non-zeros in stored order, in
    float64."""
    data, indices, indptr = X.data, X.indices, X.indptr
    for j in range(W.shape[0]):
        w = W[j]
        for i in range(rows.shape[0]):
            r = rows[i]
            total = 0.0
            for k in range(indptr[r], indptr[r + 1]):
                total += data[k] * w[indices[k]]
            z[i, j] = total + b[j]


@njit(**INTERNAL)
def csr_outer_update(alpha, delta, X, rows, beta, T):
    """T = beta * T + alpha * delta.T @ X[rows] for delta (n, m), X a records.CSR, rows (n,),
    T (m, n_in) (eq. 3 summed over the batch); writes T. beta = 0 overwrites (T may hold
    NaN)."""
    data, indices, indptr = X.data, X.indices, X.indptr
    for j in range(T.shape[0]):
        t = T[j]
        if beta != 1:
            for c in range(t.shape[0]):
                t[c] = beta * t[c] if beta != 0 else 0.0
        for i in range(rows.shape[0]):
            d = alpha * delta[i, j]
            if d == 0.0:  # dead units (relu) and zero-weight rows add nothing
                continue
            r = rows[i]
            for k in range(indptr[r], indptr[r + 1]):
                t[indices[k]] += d * data[k]


def input_affine(a_prev, r0, r1, W, b, z):
    """z = a_prev[r0:r1] @ W.T + b for a layer's input a_prev, dense (n, n_in) or
    SparseRows. Compiled code only (the overload below)."""
    raise TypeError("input_affine runs inside compiled kernels only")


@overload(input_affine, inline="always", jit_options=INTERNAL)
def _input_affine(a_prev, r0, r1, W, b, z):
    if _unreachable(a_prev):
        return lambda a_prev, r0, r1, W, b, z: None
    if _instance_of(a_prev, SparseRows):
        def impl(a_prev, r0, r1, W, b, z):
            csr_affine(a_prev.X, a_prev.rows[r0:r1], W, b, z)
    else:
        def impl(a_prev, r0, r1, W, b, z):
            affine(a_prev[r0:r1], W, b, z)
    return impl


def input_outer_update(alpha, delta, a_prev, beta, T):
    """T = beta * T + alpha * delta.T @ a_prev for a layer's input a_prev, dense or
    SparseRows. Compiled code only (the overload below)."""
    raise TypeError("input_outer_update runs inside compiled kernels only")


@overload(input_outer_update, inline="always", jit_options=INTERNAL)
def _input_outer_update(alpha, delta, a_prev, beta, T):
    if _unreachable(a_prev):
        return lambda alpha, delta, a_prev, beta, T: None
    if _instance_of(a_prev, SparseRows):
        def impl(alpha, delta, a_prev, beta, T):
            csr_outer_update(alpha, delta, a_prev.X, a_prev.rows, beta, T)
    else:
        def impl(alpha, delta, a_prev, beta, T):
            outer_update(alpha, delta, a_prev, beta, T)
    return impl


def copy_rows(X, rows, x, lo, hi):
    """x[i] = X[rows[i]] for i in [lo, hi) when X is dense (a records.RawX converted and
    mapped, raw_inputs.py); nothing for a records.CSR (the first layer reads it in place).
    Compiled code only (the overload below)."""
    raise TypeError("copy_rows runs inside compiled kernels only")


@overload(copy_rows, inline="always", jit_options=INTERNAL)
def _copy_rows(X, rows, x, lo, hi):
    if is_raw(X):
        return lambda X, rows, x, lo, hi: map_rows(X, rows, x, lo, hi)
    if not isinstance(X, types.Array):
        return lambda X, rows, x, lo, hi: None

    def impl(X, rows, x, lo, hi):
        # Explicit loops: Numba's slice assignment goes through generic broadcasting code
        # that cost 3x more here (bench/perf_log.md).
        for i in range(lo, hi):
            src, dst = X[rows[i]], x[i]
            for k in range(src.shape[0]):
                dst[k] = src[k]
    return impl


def row_numbers(X):
    """arange(rows of X) for a records.CSR (inference's chunks take their rows from it), an
    empty array for a dense X (an array or a records.RawX). Compiled code only (the overload
    below)."""
    raise TypeError("row_numbers runs inside compiled kernels only")


@overload(row_numbers, inline="always", jit_options=INTERNAL)
def _row_numbers(X):
    if not _instance_of(X, CSR):
        return lambda X: _NO_ROWS[:0]  # a view: np.empty compiled 0.2 s of a first evaluate
    return lambda X: np.arange(X.shape[0])


def chunk_rows(X, first, n, all_rows, space):
    """(x, rows) of inference rows [first, first + n) of X: a view of a dense X and no rows;
    for a records.RawX the workspace's batch block (raw_inputs.fill_slab fills it) and no
    rows; for a records.CSR that block (never read: it gives the chunk's row count to the
    layers above) and all_rows[first:first + n]. Compiled code only (the overload below)."""
    raise TypeError("chunk_rows runs inside compiled kernels only")


@overload(chunk_rows, inline="always", jit_options=INTERNAL)
def _chunk_rows(X, first, n, all_rows, space):
    if isinstance(X, types.Array):  # X's rows, typed as the workspace's blocks (as_mutable)
        return lambda X, first, n, all_rows, space: (as_mutable(X[first:first + n]), all_rows)
    return lambda X, first, n, all_rows, space: (batch_x(space, n),
                                                 all_rows[first:first + n])
