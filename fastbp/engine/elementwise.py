"""Activations, their derivatives, the losses' output error and dropout, over blocks of a
batch, selected by the integer codes of codes.py.

LLVM vectorises an elementwise loop only when its trip count reaches a full round of vector
lanes (32 float32 here) and runs shorter loops one element at a time; it also left loops
calling the polynomial exp scalar on arrays typed 'A'. So the elementwise kernels take an
(n, m) block as one C-typed vector of n * m elements when its rows follow each other in
memory, and one row at a time otherwise (a column block of a layer): sigmoid over 30-unit
rows 6.5 -> 1.4 ns per element (bench/perf_log.md).
"""

import math

import numpy as np
from numba import njit

from .codes import (BINARY_CROSS_ENTROPY, CROSS_ENTROPY, ELU, IDENTITY, LEAKY_RELU, MSE, RELU,
                    SIGMOID, SOFTMAX, SOFTPLUS, TANH)
from .config import DRIVER, JIT
from .numba_ext import as_vector
from .scalar import exp_nonpositive, expm1_nonpositive, log1p_unit, sigmoid, softplus

LEAKY_SLOPE = 0.01
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit(**JIT)
def is_dense(x):
    """Whether the elements of the 2-D array x follow each other in memory in row order."""
    n, m = x.shape
    return ((m <= 1 or x.strides[1] == x.itemsize)
            and (n <= 1 or x.strides[0] == m * x.itemsize))



# _activate_vector and _scale_vector_by_derivative have one call site each: inlined there at
# Numba IR level (config.DRIVER), their loops are not compiled once more as functions of
# their own (with the one-line _rows: a first fit 43 -> 40 compiled functions).
@njit(**DRIVER)
def _activate_vector(code, z, a):
    """a = sigma(z) elementwise for vectors z, a; any activation but softmax."""
    zero = z.dtype.type(0.0)  # typed constants keep float32 loops in float32
    slope = z.dtype.type(LEAKY_SLOPE)
    # One straight loop per activation: LLVM vectorises each.
    if code == IDENTITY:
        for j in range(z.shape[0]):
            a[j] = z[j]
    elif code == RELU:
        for j in range(z.shape[0]):
            a[j] = max(z[j], zero)
    elif code == LEAKY_RELU:
        for j in range(z.shape[0]):
            a[j] = z[j] if z[j] > zero else slope * z[j]
    elif code == SIGMOID:
        for j in range(z.shape[0]):
            a[j] = sigmoid(z[j])
    # tanh, ELU and softplus in passes over the vector, so that the loop holding the long
    # polynomial (expm1, exp) is compiled once, not once per activation.
    elif code == TANH:  # tanh|z| = -m / (2 + m), m = expm1(-2|z|): exact near 0, no overflow
        for j in range(z.shape[0]):
            a[j] = -2.0 * abs(z[j])
        _expm1_in_place(a)
        for j in range(z.shape[0]):
            t = -a[j] / (2.0 + a[j])
            a[j] = t if z[j] >= zero else -t
    elif code == ELU:
        for j in range(z.shape[0]):
            a[j] = min(z[j], zero)
        _expm1_in_place(a)
        for j in range(z.shape[0]):
            a[j] = z[j] if z[j] > zero else a[j]
    elif code == SOFTPLUS:  # max(z, 0) + log(1 + exp(-|z|))
        for j in range(z.shape[0]):
            a[j] = -abs(z[j])
        _exp_in_place(a)
        for j in range(z.shape[0]):
            a[j] = max(z[j], zero) + log1p_unit(a[j])
    else:  # GELU, exact erf form
        for j in range(z.shape[0]):
            a[j] = 0.5 * z[j] * (1.0 + math.erf(z[j] * _INV_SQRT2))


@njit(**DRIVER)
def _rows(dense, n, i):
    """Rows [lo, hi) of an n-row block that elementwise pass i covers: all of them in one
    pass when the block is dense, else row i (one call site per kernel, so LLVM inlines the
    vector loops once)."""
    return (0, n) if dense else (i, i + 1)


@njit(**JIT)
def _exp_in_place(t):
    """t = exp(t) elementwise for a vector t <= 0."""
    for j in range(t.shape[0]):
        t[j] = exp_nonpositive(t[j])


@njit(**JIT)
def _expm1_in_place(t):
    """t = exp(t) - 1 elementwise for a vector t <= 0."""
    for j in range(t.shape[0]):
        t[j] = expm1_nonpositive(t[j])


@njit(**DRIVER)
def _row_max(z, i):
    """The largest element of row i of z (inlined at its two call sites: a loop of three
    lines)."""
    z_max = z[i, 0]
    for j in range(1, z.shape[1]):
        z_max = max(z_max, z[i, j])
    return z_max


@njit(**JIT)
def _shifted_exp(z, e):
    """e = exp(z - the maximum of its row), for (n, m) arrays whose rows are contiguous:
    shifted so exp never overflows. The exps of all rows run in one loop when e is dense
    (rows are often too short to vectorise: 10 classes)."""
    n, m = z.shape
    for i in range(n):
        z_max = _row_max(z, i)
        for j in range(m):
            e[i, j] = z[i, j] - z_max
    dense = is_dense(e)
    for i in range(1 if dense else n):
        lo, hi = _rows(dense, n, i)
        _exp_in_place(as_vector(e[lo:hi]))


@njit(**JIT)
def activate(code, z, a):
    """a = sigma(z) for (n, m) arrays whose rows are contiguous; softmax is taken along each
    row. Writes a only."""
    n, m = z.shape
    if code != SOFTMAX:
        dense = is_dense(z) and is_dense(a)
        for i in range(1 if dense else n):
            lo, hi = _rows(dense, n, i)
            _activate_vector(code, as_vector(z[lo:hi]), as_vector(a[lo:hi]))
        return
    _shifted_exp(z, a)  # softmax
    for i in range(n):
        total = 0.0
        for j in range(m):
            total += a[i, j]
        inv = 1.0 / total
        for j in range(m):
            a[i, j] *= inv


@njit(**DRIVER)
def _scale_vector_by_derivative(code, z, a, delta):
    """delta *= sigma'(z) elementwise for vectors with a = sigma(z); not for identity or
    softmax."""
    zero = z.dtype.type(0.0)
    one = z.dtype.type(1.0)
    slope = z.dtype.type(LEAKY_SLOPE)
    if code == SIGMOID:
        for j in range(z.shape[0]):
            delta[j] *= a[j] * (one - a[j])
    elif code == TANH:
        for j in range(z.shape[0]):
            delta[j] *= one - a[j] * a[j]
    elif code == RELU:
        for j in range(z.shape[0]):
            delta[j] = delta[j] if z[j] > zero else zero
    elif code == LEAKY_RELU:
        for j in range(z.shape[0]):
            delta[j] *= one if z[j] > zero else slope
    elif code == ELU:
        for j in range(z.shape[0]):
            delta[j] *= one if z[j] > zero else a[j] + one
    elif code == SOFTPLUS:
        for j in range(z.shape[0]):
            delta[j] *= sigmoid(z[j])
    else:  # GELU: Phi(z) + z * phi(z)
        for j in range(z.shape[0]):
            x = z[j]
            cdf = 0.5 * (1.0 + math.erf(x * _INV_SQRT2))
            pdf = _INV_SQRT_2PI * exp_nonpositive(-0.5 * x * x)
            delta[j] *= cdf + x * pdf


@njit(**JIT)
def scale_by_derivative(code, z, a, delta):
    """delta *= sigma'(z) elementwise, for (n, m) arrays whose rows are contiguous, with
    a = sigma(z); not for softmax."""
    if code == IDENTITY:
        return
    n = z.shape[0]
    dense = is_dense(z) and is_dense(a) and is_dense(delta)
    for i in range(1 if dense else n):
        lo, hi = _rows(dense, n, i)
        _scale_vector_by_derivative(code, as_vector(z[lo:hi]), as_vector(a[lo:hi]),
                                    as_vector(delta[lo:hi]))


@njit(**JIT)
def output_error(loss_code, code, z, a, y, w, delta):
    """delta = w_i * dloss_i/dz for each sample row i (seed eq. 1); returns (sum of w_i times
    the per-sample losses, number of correct predictions). Writes delta only.

    cross_entropy (softmax) and binary_cross_entropy (sigmoid) use delta = a - y, exact and
    stable; their losses come from z (log-sum-exp, softplus) so no log(0) is ever taken.
    Correct counts (unweighted): argmax match for cross_entropy, element-wise 0.5 threshold
    for binary cross-entropy, 0 for mse.
    """
    n, m = z.shape
    loss = 0.0
    correct = 0
    if loss_code == CROSS_ENTROPY:
        _shifted_exp(z, delta)  # delta holds exp(z - row max) until each row's loss is taken
    for i in range(n):
        sample = 0.0
        if loss_code == CROSS_ENTROPY:
            total = 0.0
            for j in range(m):
                total += delta[i, j]
            log_sum_exp = _row_max(z, i) + math.log(total)
            best_a, best_y = 0, 0
            for j in range(m):
                delta[i, j] = a[i, j] - y[i, j]
                sample += y[i, j] * (log_sum_exp - z[i, j])
                if a[i, j] > a[i, best_a]:
                    best_a = j
                if y[i, j] > y[i, best_y]:
                    best_y = j
            correct += best_a == best_y
        elif loss_code == BINARY_CROSS_ENTROPY:
            for j in range(m):
                delta[i, j] = a[i, j] - y[i, j]
                sample += softplus(z[i, j]) - y[i, j] * z[i, j]
                correct += (z[i, j] > 0) == (y[i, j] >= 0.5)
        else:  # MSE: delta = J_sigma(z)^T (a - y)
            projection = 0.0
            for j in range(m):
                diff = a[i, j] - y[i, j]
                delta[i, j] = diff
                sample += 0.5 * diff * diff
                projection += a[i, j] * diff
            if code == SOFTMAX:  # softmax Jacobian: diag(a) - a a^T
                for j in range(m):
                    delta[i, j] = a[i, j] * (delta[i, j] - projection)
        loss += w[i] * sample
    if loss_code == MSE and code != SOFTMAX:
        scale_by_derivative(code, z, a, delta)
    for i in range(n):
        if w[i] != 1:
            for j in range(m):
                delta[i, j] *= w[i]
    return loss, correct


@njit(**JIT)
def non_finite_rows(z):
    """How many rows of z hold a NaN or an infinity."""
    count = 0
    for i in range(z.shape[0]):
        probe = 0.0
        for j in range(z.shape[1]):  # inf * 0 and NaN * 0 are NaN: one branch-free sum
            probe += z[i, j] * 0.0
        if probe != probe:
            count += 1
    return count


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@njit(**JIT)
def keep_scale(seed, step, l, i, j, rate):
    """Inverted-dropout multiplier of unit j of layer l for batch row i at update ``step``:
    0 with probability ``rate``, else 1 / (1 - rate).

    A counter-based hash (SplitMix64's finaliser) of (seed, step, l, i, j): the forward and
    backward passes recompute the same mask without storing it, and it does not depend on
    threads or on how the epoch is cut into chunks.
    """
    h = np.uint64(seed) ^ (np.uint64(step) * _GOLDEN)
    h ^= (np.uint64(l) << np.uint64(48)) ^ (np.uint64(i) << np.uint64(24)) ^ np.uint64(j)
    h = (h ^ (h >> np.uint64(30))) * _MIX1
    h = (h ^ (h >> np.uint64(27))) * _MIX2
    h ^= h >> np.uint64(31)
    u = (h >> np.uint64(11)) * (1.0 / 9007199254740992.0)  # 53 random bits in [0, 1)
    return 0.0 if u < rate else 1.0 / (1.0 - rate)


@njit(**JIT)
def apply_dropout(values, out, noise, step, l, row0, col0):
    """out = values * keep_scale for each element of a block of layer l's units whose first
    element is unit col0 of batch row row0, at update ``step``; noise = (rates per layer,
    seed)."""
    rates, seed = noise
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            out[i, j] = values[i, j] * keep_scale(seed, step, l, row0 + i, col0 + j, rates[l])
