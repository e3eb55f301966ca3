"""Scalar functions in float64, written so that the loops calling them vectorise.

This llvmlite has no vector math library, so math.exp, math.expm1 and math.log1p stay scalar
libm calls in every loop; these polynomial forms vectorise, 5-10x faster per element
(bench/perf_log.md).
"""

import math

import numpy as np
from numba import njit

from .config import JIT, SCALAR_EXACT
from .numba_ext import bits_to_float64

_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10


# The scalar functions below compute in float64: their callers pass float(x), so each is
# compiled once, not once per argument type (fewer functions in a first compile), and
# only when a network uses it (explicit signatures compiled all five at import).

# Without reassociation: LLVM would otherwise fold the two-part ln 2 back into one constant
# (relative error 2.4e-14 near t = -707 instead of ~2e-16).
@njit(**dict(JIT, fastmath={"contract"}))
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
    return p * bits_to_float64((np.int64(k) + 1023) << 52)


@njit(**SCALAR_EXACT)
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


@njit(**dict(JIT, fastmath={"contract"}))
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


@njit(**JIT)
def sigmoid(x):
    """1 / (1 + exp(-x)), from exp of a non-positive argument only, so it never overflows."""
    e = exp_nonpositive(-abs(x))
    s = 1.0 / (1.0 + e)
    return s if x >= 0 else e * s


@njit(**JIT)
def softplus(x):
    """log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)): no overflow, exact for large |x|."""
    return max(x, 0.0) + log1p_unit(exp_nonpositive(-abs(x)))
