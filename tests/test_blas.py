import numpy as np
import pytest

from fastbp.kernels.blas import gemm


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm_matches_numpy(dtype, trans_a, trans_b):
    rng = np.random.default_rng(0)
    m, k, n = 5, 7, 3
    A = rng.normal(size=(k, m) if trans_a else (m, k)).astype(dtype)
    B = rng.normal(size=(n, k) if trans_b else (k, n)).astype(dtype)
    C = rng.normal(size=(m, n)).astype(dtype)
    expected = 0.5 * (A.T if trans_a else A) @ (B.T if trans_b else B) - 2.0 * C
    gemm(trans_a, trans_b, 0.5, A, B, -2.0, C)
    np.testing.assert_allclose(C, expected, rtol=1e-5 if dtype == np.float32 else 1e-12)


def test_gemm_beta_zero_ignores_garbage():
    A = np.ones((2, 2))
    C = np.full((2, 2), np.nan)
    gemm(False, False, 1.0, A, A, 0.0, C)
    np.testing.assert_array_equal(C, 2.0)
