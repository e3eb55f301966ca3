"""Activations, their derivatives, the losses' output error and dropout, over blocks of a
batch, selected by the integer codes of codes.py.

LLVM vectorises an elementwise loop only when its trip count reaches a full round of vector
lanes (32 float32 here) and runs shorter loops one element at a time; it also left loops
calling the polynomial exp scalar on arrays typed 'A'. So the elementwise kernels take an
(n, m) block as one C-typed vector of n * m elements when its rows follow each other in
memory, and one row at a time otherwise (a column block of a layer): sigmoid over 30-unit
rows 4-5x faster (bench/perf_log.md).
"""

import math

import numpy as np
from numba import njit
from numba.extending import overload

from .codes import (ACTIVATIONS, BINARY_CROSS_ENTROPY, CROSS_ENTROPY, ELU, EXP, GELU,
                    IDENTITY, LEAKY_RELU, LEAKY_SLOPE, MSE, POISSON, RELU, SIGMOID, SOFTMAX,
                    SOFTPLUS, TANH, losses_of, uses)
from .config import DRIVER, INTERNAL
from .numba_ext import as_vector, kinds_value
from .scalar import exp_nonpositive, expm1_nonpositive, log1p_unit, sigmoid, softplus

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@njit(**INTERNAL)
def is_dense(x):
    """Whether the elements of the 2-D array x follow each other in memory in row order."""
    n, m = x.shape
    return ((m <= 1 or x.strides[1] == x.itemsize)
            and (n <= 1 or x.strides[0] == m * x.itemsize))


@njit(**DRIVER)
def _rows(dense, n, i):
    """Rows [lo, hi) of an n-row block that elementwise pass i covers: all of them in one
    pass when the block is dense, else row i (one call site per kernel, so LLVM inlines the
    vector loops once)."""
    return (0, n) if dense else (i, i + 1)


@njit(**INTERNAL)
def _exp_in_place(t):
    """t = exp(t) elementwise for a vector t <= 0."""
    for j in range(t.shape[0]):
        t[j] = exp_nonpositive(float(t[j]))


@njit(**INTERNAL)
def _expm1_in_place(t):
    """t = exp(t) - 1 elementwise for a vector t <= 0."""
    for j in range(t.shape[0]):
        t[j] = expm1_nonpositive(float(t[j]))


@njit(**DRIVER)
def _row_max(z, i):
    """The largest element of row i of z (inlined at its two call sites: a loop of three
    lines)."""
    z_max = z[i, 0]
    for j in range(1, z.shape[1]):
        z_max = max(z_max, z[i, j])
    return z_max


@njit(**INTERNAL)
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


# The three kernels below branch on activation and loss codes. Each is compiled for the
# codes one network uses (``kinds``, a compile-time constant: codes.kinds): the overload
# returns an implementation whose branches on unused codes test a constant False and are
# pruned before typing, so a first fit compiles only its own activations and loss (bench/
# perf_log.md). The branches test the constant first, then the code, in plain ``if`` blocks.


def activate(kinds, code, z, a):
    """a = sigma(z) for (n, m) arrays whose rows are contiguous; softmax is taken along each
    row. Writes a only. Compiled code only (the overload below)."""
    raise TypeError("activate runs inside compiled kernels only")


@overload(activate, prefer_literal=True, jit_options=INTERNAL)
def _activate(kinds, code, z, a):
    identity, sigmoid_, tanh, relu, leaky_relu, elu, softplus_, gelu, softmax, exp = (
        uses(kinds_value(kinds), c) for c in range(len(ACTIVATIONS)))

    def impl(kinds, code, z, a):
        n, m = z.shape
        if softmax:
            if code == SOFTMAX:
                _shifted_exp(z, a)
                for i in range(n):
                    total = 0.0
                    for j in range(m):
                        total += a[i, j]
                    inv = 1.0 / total
                    for j in range(m):
                        a[i, j] *= inv
                return
        zero = z.dtype.type(0.0)  # typed constants keep float32 loops in float32
        slope = z.dtype.type(LEAKY_SLOPE)
        dense = is_dense(z) and is_dense(a)
        for i in range(1 if dense else n):
            lo, hi = _rows(dense, n, i)
            zv, av = as_vector(z[lo:hi]), as_vector(a[lo:hi])
            # One straight loop per activation: LLVM vectorises each.
            if identity:
                if code == IDENTITY:
                    for j in range(zv.shape[0]):
                        av[j] = zv[j]
            if relu:
                if code == RELU:
                    for j in range(zv.shape[0]):
                        av[j] = max(zv[j], zero)
            if leaky_relu:
                if code == LEAKY_RELU:
                    for j in range(zv.shape[0]):
                        av[j] = zv[j] if zv[j] > zero else slope * zv[j]
            if sigmoid_:
                if code == SIGMOID:
                    for j in range(zv.shape[0]):
                        av[j] = sigmoid(float(zv[j]))
            # tanh, ELU and softplus in passes over the vector, so that the loop holding the
            # long polynomial (expm1, exp) is compiled once, not once per activation.
            if tanh:
                if code == TANH:  # tanh|z| = -m / (2 + m), m = expm1(-2|z|): exact near 0
                    for j in range(zv.shape[0]):
                        av[j] = -2.0 * abs(zv[j])
                    _expm1_in_place(av)
                    for j in range(zv.shape[0]):
                        t = -av[j] / (2.0 + av[j])
                        av[j] = t if zv[j] >= zero else -t
            if elu:
                if code == ELU:
                    for j in range(zv.shape[0]):
                        av[j] = min(zv[j], zero)
                    _expm1_in_place(av)
                    for j in range(zv.shape[0]):
                        av[j] = zv[j] if zv[j] > zero else av[j]
            if softplus_:
                if code == SOFTPLUS:  # max(z, 0) + log(1 + exp(-|z|))
                    for j in range(zv.shape[0]):
                        av[j] = -abs(zv[j])
                    _exp_in_place(av)
                    for j in range(zv.shape[0]):
                        av[j] = max(zv[j], zero) + log1p_unit(float(av[j]))
            if gelu:
                if code == GELU:  # exact erf form
                    for j in range(zv.shape[0]):
                        av[j] = 0.5 * zv[j] * (1.0 + math.erf(zv[j] * _INV_SQRT2))
            if exp:
                if code == EXP:  # the Poisson loss's output (log link); inf on overflow
                    for j in range(zv.shape[0]):
                        av[j] = math.exp(zv[j])

    return impl


def scale_by_derivative(kinds, code, z, a, delta):
    """delta *= sigma'(z) elementwise, for (n, m) arrays whose rows are contiguous, with
    a = sigma(z); not for softmax or exp (output activations). Compiled code only (the
    overload below)."""
    raise TypeError("scale_by_derivative runs inside compiled kernels only")


@overload(scale_by_derivative, prefer_literal=True, jit_options=INTERNAL)
def _scale_by_derivative(kinds, code, z, a, delta):
    _, sigmoid_, tanh, relu, leaky_relu, elu, softplus_, gelu, _, _ = (
        uses(kinds_value(kinds), c) for c in range(len(ACTIVATIONS)))

    def impl(kinds, code, z, a, delta):
        zero = z.dtype.type(0.0)
        one = z.dtype.type(1.0)
        slope = z.dtype.type(LEAKY_SLOPE)
        n = z.shape[0]
        dense = is_dense(z) and is_dense(a) and is_dense(delta)
        for i in range(1 if dense else n):
            lo, hi = _rows(dense, n, i)
            zv, av, dv = as_vector(z[lo:hi]), as_vector(a[lo:hi]), as_vector(delta[lo:hi])
            if sigmoid_:
                if code == SIGMOID:
                    for j in range(zv.shape[0]):
                        dv[j] *= av[j] * (one - av[j])
            if tanh:
                if code == TANH:
                    for j in range(zv.shape[0]):
                        dv[j] *= one - av[j] * av[j]
            if relu:
                if code == RELU:
                    for j in range(zv.shape[0]):
                        dv[j] = dv[j] if zv[j] > zero else zero
            if leaky_relu:
                if code == LEAKY_RELU:
                    for j in range(zv.shape[0]):
                        dv[j] *= one if zv[j] > zero else slope
            if elu:
                if code == ELU:
                    for j in range(zv.shape[0]):
                        dv[j] *= one if zv[j] > zero else av[j] + one
            if softplus_:
                if code == SOFTPLUS:
                    for j in range(zv.shape[0]):
                        dv[j] *= sigmoid(float(zv[j]))
            if gelu:
                if code == GELU:  # Phi(z) + z * phi(z)
                    for j in range(zv.shape[0]):
                        x = zv[j]
                        cdf = 0.5 * (1.0 + math.erf(x * _INV_SQRT2))
                        pdf = _INV_SQRT_2PI * exp_nonpositive(-0.5 * x * x)
                        dv[j] *= cdf + x * pdf
        # identity: sigma' = 1, nothing to do

    return impl


def output_error(kinds, loss_code, code, z, a, y, w, delta):
    """delta = w_i * dloss_i/dz for each sample row i (eq. 1 of docs/math.md), for the loss
    loss_code (compiled in only when kinds names it) and the output activation code;
    returns (sum of w_i times the per-sample losses, number of correct predictions). Writes
    delta only. Compiled code only (the overload below).

    cross_entropy (softmax), binary_cross_entropy (sigmoid) and poisson (exp) use
    delta = a - y, exact and stable; their losses come from z (log-sum-exp, softplus, the
    log of a = exp(z)) so no log(0) is ever taken. The Poisson loss is half the Poisson
    deviance, sum_k y_k log(y_k / a_k) - y_k + a_k (0 log 0 = 0). Correct counts
    (unweighted): argmax match for cross_entropy, element-wise 0.5 threshold for binary
    cross-entropy, 0 for mse and poisson.
    """
    raise TypeError("output_error runs inside compiled kernels only")


@overload(output_error, prefer_literal=True, jit_options=INTERNAL)
def _output_error(kinds, loss_code, code, z, a, y, w, delta):
    compiled = losses_of(kinds_value(kinds))
    cross_entropy = CROSS_ENTROPY in compiled
    binary = BINARY_CROSS_ENTROPY in compiled
    mse = MSE in compiled
    poisson = POISSON in compiled
    softmax = uses(kinds_value(kinds), SOFTMAX)

    def impl(kinds, loss_code, code, z, a, y, w, delta):
        n, m = z.shape
        loss = 0.0
        correct = 0
        if cross_entropy and loss_code == CROSS_ENTROPY:
            _shifted_exp(z, delta)  # delta holds exp(z - row max) until each row's loss
            for i in range(n):
                sample = 0.0
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
                loss += w[i] * sample
        if binary and loss_code == BINARY_CROSS_ENTROPY:
            for i in range(n):
                sample = 0.0
                for j in range(m):
                    delta[i, j] = a[i, j] - y[i, j]
                    sample += softplus(float(z[i, j])) - y[i, j] * z[i, j]
                    correct += (z[i, j] > 0) == (y[i, j] >= 0.5)
                loss += w[i] * sample
        if poisson and loss_code == POISSON:
            for i in range(n):
                sample = 0.0
                for j in range(m):
                    delta[i, j] = a[i, j] - y[i, j]
                    sample += a[i, j] - y[i, j] * z[i, j] - y[i, j]
                    if y[i, j] > 0:
                        sample += y[i, j] * math.log(y[i, j])
                loss += w[i] * sample
        if mse and loss_code == MSE:  # delta = J_sigma(z)^T (a - y)
            for i in range(n):
                sample = 0.0
                projection = 0.0
                for j in range(m):
                    diff = a[i, j] - y[i, j]
                    delta[i, j] = diff
                    sample += 0.5 * diff * diff
                    projection += a[i, j] * diff
                if softmax:
                    if code == SOFTMAX:  # softmax Jacobian: diag(a) - a a^T
                        for j in range(m):
                            delta[i, j] = a[i, j] * (delta[i, j] - projection)
                loss += w[i] * sample
            if code != SOFTMAX:
                scale_by_derivative(kinds, code, z, a, delta)
        for i in range(n):
            if w[i] != 1:
                for j in range(m):
                    delta[i, j] *= w[i]
        return loss, correct

    return impl


@njit(**INTERNAL)
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


@njit(**INTERNAL)
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


@njit(**INTERNAL)
def apply_dropout(values, out, noise, step, l, row0, col0):
    """out = values * keep_scale for each element of a block of layer l's units whose first
    element is unit col0 of batch row row0, at update ``step``; noise a records.Noise."""
    rates, seed = noise.rates, noise.seed
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            out[i, j] = values[i, j] * keep_scale(seed, step, l, row0 + i, col0 + j, rates[l])
