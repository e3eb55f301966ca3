"""bfloat16 operands (engine/bf16.py): rounding to nearest, ties to even, against a reference
that decides by distance and against PyTorch's conversion; the emulated product against an
exact one within float32's summation bound; the native product (bf16 units) against the
emulated one where the CPU has the units."""

import numpy as np
import pytest
from numba import njit

from conftest import oracle
from fastbp.engine import backends
from fastbp.engine.bf16 import bf16_gemm, bf16_rows, round_rows

_NO, _YES = np.bool_(False), np.bool_(True)


@njit
def _rounded(x):
    out = np.empty_like(x)
    round_rows(x, out)
    return out


@njit
def _bits(x):
    out = np.empty(x.shape, np.uint16)
    bf16_rows(x, out)
    return out


@njit
def _product(trans_a, trans_b, alpha, A, B, beta, C):
    bf16_gemm(trans_a, trans_b, alpha, A, B, beta, C)


def _nearest_bf16(x):
    """The bfloat16 nearest each float32 of x, decided by distance in float64: the two
    bfloat16 values around x (x with its low 16 bits cleared, and one bf16 step further from
    zero; past the largest, 2**128, which is inf), the nearer, on a tie the one whose last
    significand bit is 0. NaN stays NaN."""
    x = np.asarray(x, np.float32).ravel()
    with np.errstate(invalid="ignore", over="ignore"):  # NaN and inf: decided at the end
        return _nearest_finite(x)


def _nearest_finite(x):
    toward_zero = (x.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    low = toward_zero.astype(np.float64)
    magnitude = np.abs(low)
    # one bf16 step at low's binade (subnormals: the smallest step, 2**-133)
    exponent = np.floor(np.log2(np.where(magnitude > 0, magnitude, 1.0)))
    step = np.where(magnitude >= 2.0 ** -126, 2.0 ** (exponent - 7), 2.0 ** -133)
    high = low + np.copysign(step, x.astype(np.float64))
    distance_low = np.abs(x.astype(np.float64) - low)
    distance_high = np.abs(high - x.astype(np.float64))
    low_is_even = (toward_zero.view(np.uint32) >> 16) & 1 == 0
    take_low = (distance_low < distance_high) | ((distance_low == distance_high) & low_is_even)
    result = np.where(take_low, low, high).astype(np.float32)  # 2**128 -> inf
    return np.where(np.isnan(x), np.float32(np.nan), result).reshape(-1)


def _cases():
    """float32 values of every kind: normal at many scales, exact ties and near-ties, the
    largest finite values (which round to inf), subnormals, zeros, infinities and NaN."""
    rng = np.random.default_rng(0)
    normal = rng.standard_normal(4000) * 10.0 ** rng.integers(-30, 30, 4000)
    bits = rng.integers(0, 2 ** 32, 4000, dtype=np.uint64).astype(np.uint32)
    ties = (bits & np.uint32(0xFFFF0000)) | np.uint32(0x8000)
    near = np.concatenate([ties - np.uint32(1), ties + np.uint32(1)])
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0,
                        np.finfo(np.float32).max, -np.finfo(np.float32).max,
                        np.finfo(np.float32).tiny, 1e-45, -1e-45, 3.3895314e38], np.float32)
    return np.concatenate([normal.astype(np.float32), special,
                           *(b.view(np.float32) for b in (bits, ties, near))])


def test_rounding_is_to_nearest_with_ties_to_even():
    x = _cases().reshape(1, -1)
    expected = _nearest_bf16(x)
    rounded = _rounded(x).ravel()
    np.testing.assert_array_equal(rounded, expected)  # NaN where NaN (assert_array_equal)
    bits = _bits(x).ravel()
    finite = ~np.isnan(expected)
    np.testing.assert_array_equal(
        (bits[finite].astype(np.uint32) << 16).view(np.float32), expected[finite])
    # a NaN stays a NaN, quiet, with its sign; never an infinity
    nan_bits = bits[~finite]
    assert np.all(nan_bits & 0x7F80 == 0x7F80) and np.all(nan_bits & 0x0040)
    # the low 16 bits of every float32 result are zero: a bfloat16 value exactly
    assert np.all(rounded[finite].view(np.uint32) & 0xFFFF == 0)


def test_rounding_agrees_with_pytorch():
    torch = oracle("torch")
    x = _cases()
    theirs = torch.from_numpy(x).to(torch.bfloat16).to(torch.float32).numpy()
    np.testing.assert_array_equal(_rounded(x.reshape(1, -1)).ravel(), theirs)


def _operands(m, n, k, seed):
    rng = np.random.default_rng(seed)
    A = (rng.standard_normal((m, k)) * 3).astype(np.float32)
    B = rng.standard_normal((k, n)).astype(np.float32)
    return _rounded(A), _rounded(B)


@pytest.mark.parametrize("m, n, k", [(1, 7, 5), (33, 20, 300), (128, 64, 784)])
def test_the_emulated_product_is_exact_but_for_float32_sums(m, n, k):
    """Products of bf16 values are exact in float32: the emulated product differs from the
    exact product of the rounded operands by float32 summation only, at most
    k * 2**-24 * (|A| @ |B|) (the classic bound, to first order), plus beta * C's."""
    A, B = _operands(m, n, k, seed=k)
    exact = A.astype(np.float64) @ B.astype(np.float64)
    C = np.ones((m, n), np.float32)
    _product(_NO, _NO, np.float32(1.0), A, B, np.float32(2.0), C)
    bound = (k + 2) * 2.0 ** -24 * (np.abs(A).astype(np.float64) @ np.abs(B) + 2.0)
    assert np.all(np.abs(C - (exact + 2.0)) <= bound)
    # the transposed layouts of the training step's products give the same numbers
    Ct = np.empty((m, n), np.float32)
    _product(_YES, _NO, np.float32(1.0), np.ascontiguousarray(A.T), B, np.float32(0.0), Ct)
    assert np.all(np.abs(Ct - exact) <= bound)
    _product(_NO, _YES, np.float32(1.0), A, np.ascontiguousarray(B.T), np.float32(0.0), Ct)
    assert np.all(np.abs(Ct - exact) <= bound)


@pytest.mark.skipif(not backends.has_bf16(), reason="this CPU has no bf16 units (AVX512_BF16 or "
                    "AMX-BF16) that oneDNN's bf16 product runs on; the native path is "
                    "measured and tested on one that has them")
@pytest.mark.parametrize("m, n, k", [(1, 7, 5), (33, 20, 300), (128, 64, 784)])
def test_the_native_product_agrees_with_the_emulated_one(m, n, k):
    A, B = _operands(m, n, k, seed=k)
    exact = A.astype(np.float64) @ B.astype(np.float64)
    bound = (k + 2) * 2.0 ** -24 * (np.abs(A).astype(np.float64) @ np.abs(B))
    emulated, native = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
    _product(_NO, _NO, np.float32(1.0), A, B, np.float32(0.0), emulated)
    with backends.one_thread():
        _product(_NO, _NO, np.float32(1.0), _bits(A), _bits(B), np.float32(0.0), native)
    assert np.all(np.abs(native - exact) <= bound)
    assert np.all(np.abs(native - emulated) <= 2 * bound)


def test_bf16_units_are_used_only_where_the_cpu_has_them():
    import llvmlite.binding as llvm
    features = llvm.get_host_cpu_features()
    if not (features.get("avx512bf16") or features.get("amx-bf16")):
        assert not backends.has_bf16()
