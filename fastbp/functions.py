"""Activations, their derivatives and the losses, selected by integer code inside kernels.

Kernels take codes rather than functions so that one compiled (and disk-cached) loop serves
every network; the branch on the code sits outside the element loops. (A kernel that takes a
compiled function as an argument misses Numba's disk cache in every new process:
bench/perf_log.md.)
"""

import math

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from .config import DRIVER, JIT, SCALAR_EXACT
from .dense import as_vector, is_dense

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu",
               "softmax")
IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU, ELU, SOFTPLUS, GELU, SOFTMAX = range(len(ACTIVATIONS))
HIDDEN_ACTIVATIONS = ACTIVATIONS[:SOFTMAX]

LOSSES = ("mse", "cross_entropy", "binary_cross_entropy")
MSE, CROSS_ENTROPY, BINARY_CROSS_ENTROPY = range(len(LOSSES))

LEAKY_SLOPE = 0.01
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@intrinsic
def _bits_to_float64(typingctx, bits):
    """Reinterpret the bits of an int64 as a float64 (an LLVM bitcast, so it vectorises)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(bits), codegen


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10


# The scalar functions below take and return float64 only (explicit signatures): float32
# arguments are converted at the call, so each is compiled once, not once per argument
# type (a first fit: 40 -> 37 compiled functions); they compute in float64 either way.

# Without reassociation: LLVM would otherwise fold the two-part ln 2 back into one constant
# (relative error 2.4e-14 near t = -707 instead of ~2e-16).
@njit("float64(float64)", **dict(JIT, fastmath={"contract"}))
def exp_nonpositive(t):
    """exp(t) in float64 for t <= 0, within a few ulp of np.exp (exp(-708) below -708).

    This llvmlite has no vector math library, so math.exp stays a scalar call in every loop;
    this form (t = k ln 2 + r, a degree-13 polynomial for e^r, 2^k from the exponent bits)
    vectorises: sigmoid over 100,000 values went from 13.3 to 1.6 ns each.
    """
    t = max(t, -708.0)
    k = math.floor(t * _LOG2E + 0.5)
    r = (t - k * _LN2_HI) - k * _LN2_LO
    # Taylor series to r^13 / 13! by Horner's rule, written out so LLVM sees straight code.
    p = 1.0 / 6227020800.0
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    return p * _bits_to_float64((np.int64(k) + 1023) << 52)


@njit("float64(float64)", **SCALAR_EXACT)
def expm1_nonpositive(t):
    """exp(t) - 1 in float64 for t <= 0, within a few ulp of np.expm1; vectorises, unlike
    math.expm1 (a scalar libm call: 14 ns per ELU element against ~2)."""
    # Far from 0, exp(t) <= 0.61 and subtracting 1 loses at most 2 bits. Near 0 the
    # subtraction would cancel: there, the series t (1 + t/2 (1 + t/3 (1 + ...))) to
    # t^16 / 16!, under 1e-18 of the sum for |t| <= 0.5. Both are computed and one is
    # selected, so the loops calling this stay branch-free and vectorise.
    far = exp_nonpositive(t) - 1.0
    p = 1.0
    p = 1.0 + t * (1.0 / 16.0) * p
    p = 1.0 + t * (1.0 / 15.0) * p
    p = 1.0 + t * (1.0 / 14.0) * p
    p = 1.0 + t * (1.0 / 13.0) * p
    p = 1.0 + t * (1.0 / 12.0) * p
    p = 1.0 + t * (1.0 / 11.0) * p
    p = 1.0 + t * (1.0 / 10.0) * p
    p = 1.0 + t * (1.0 / 9.0) * p
    p = 1.0 + t * (1.0 / 8.0) * p
    p = 1.0 + t * (1.0 / 7.0) * p
    p = 1.0 + t * (1.0 / 6.0) * p
    p = 1.0 + t * (1.0 / 5.0) * p
    p = 1.0 + t * (1.0 / 4.0) * p
    p = 1.0 + t * (1.0 / 3.0) * p
    p = 1.0 + t * 0.5 * p
    return far if t < -0.5 else t * p


@njit("float64(float64)", **dict(JIT, fastmath={"contract"}))
def log1p_unit(u):
    """log(1 + u) in float64 for 0 <= u <= 1, within a few ulp of np.log1p; vectorises,
    unlike math.log1p (softplus: 40 ns per element against ~3).

    log(1 + u) = 2 atanh(s) with s = u / (2 + u) <= 1/3, a series in s^2 <= 1/9 summed to
    s^35 / 35 (under 2e-18 of the sum); s is formed without rounding 1 + u.
    """
    s = u / (2.0 + u)
    w = s * s
    q = 1.0 / 35.0
    q = q * w + 1.0 / 33.0
    q = q * w + 1.0 / 31.0
    q = q * w + 1.0 / 29.0
    q = q * w + 1.0 / 27.0
    q = q * w + 1.0 / 25.0
    q = q * w + 1.0 / 23.0
    q = q * w + 1.0 / 21.0
    q = q * w + 1.0 / 19.0
    q = q * w + 1.0 / 17.0
    q = q * w + 1.0 / 15.0
    q = q * w + 1.0 / 13.0
    q = q * w + 1.0 / 11.0
    q = q * w + 1.0 / 9.0
    q = q * w + 1.0 / 7.0
    q = q * w + 1.0 / 5.0
    q = q * w + 1.0 / 3.0
    q = q * w + 1.0
    return 2.0 * s * q


@njit("float64(float64)", **JIT)
def _sigmoid(x):
    # exp of a non-positive argument only, so it never overflows.
    e = exp_nonpositive(-abs(x))
    s = 1.0 / (1.0 + e)
    return s if x >= 0 else e * s


@njit("float64(float64)", **JIT)
def _softplus(x):
    return max(x, 0.0) + log1p_unit(exp_nonpositive(-abs(x)))


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
            a[j] = _sigmoid(z[j])
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
            delta[j] *= _sigmoid(z[j])
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
                sample += _softplus(z[i, j]) - y[i, j] * z[i, j]
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
