"""gemm and the three matrix products of a step against NumPy, with each library serving
every product, on small and large sizes and on strided views."""

import numpy as np
import pytest

from fastbp.engine import backends
from fastbp.engine.gemm import affine, error_back, gemm, outer_update


@pytest.fixture(params=backends.NAMES, autouse=True)
def library(request):
    """Every test here runs with OpenBLAS, then oneDNN, serving every product it can."""
    if request.param == "onednn" and backends.onednn is None:
        pytest.skip("oneDNN is not loaded (FASTBP_GEMM=openblas, or not installed)")
    backends.choose()
    saved = backends.choice.copy()
    backends.choice[:] = backends.NAMES.index(request.param)
    yield request.param
    backends.choice[:] = saved


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("trans_a,trans_b", [(False, True), (True, False), (False, False)])
@pytest.mark.parametrize("k", [1, 7, 383, 1000])
def test_gemm_on_strided_views(dtype, trans_a, trans_b, k):
    """Operands are strided views, as the kernels pass column blocks; columns beside C are
    never written."""
    rng = np.random.default_rng(k)
    m, n = 9, 13
    A = rng.normal(size=(k, m + 3) if trans_a else (m, k + 5)).astype(dtype)
    A = A[:, 1:m + 1] if trans_a else A[:, 2:k + 2]
    B = rng.normal(size=(n, k + 4) if trans_b else (k, n + 2)).astype(dtype)
    B = B[:, 3:k + 3] if trans_b else B[:, 1:n + 1]
    C_full = rng.normal(size=(m, n + 6)).astype(dtype)
    C = C_full[:, 4:n + 4]
    wide = np.float64
    expected = (-0.7 * (A.T if trans_a else A).astype(wide) @ (B.T if trans_b else B).astype(wide)
                + 0.5 * C.astype(wide))
    outside = C_full.copy()
    gemm(trans_a, trans_b, -0.7, A, B, 0.5, C)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(C, expected, **tol)
    np.testing.assert_array_equal(C_full[:, :4], outside[:, :4])  # columns beside C kept
    np.testing.assert_array_equal(C_full[:, n + 4:], outside[:, n + 4:])


SHAPES = [(1, 3, 2), (7, 33, 5), (37, 785, 61), (130, 400, 300)]  # (n, n_in, n_out)


def _tolerance(dtype):
    # float32: sums of up to 785 products of unit normals carry ~1e-5 absolute rounding
    return dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_affine(shape, dtype):
    n, n_in, n_out = shape
    rng = np.random.default_rng(0)
    x, W, b = (rng.normal(size=s).astype(dtype) for s in ((n, n_in), (n_out, n_in), (n_out,)))
    z = np.full((n, n_out), np.nan, dtype)
    affine(x, W, b, z)
    np.testing.assert_allclose(z, x.astype(float) @ W.T + b, **_tolerance(dtype))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_error_back(shape, dtype):
    n, n_in, n_out = shape
    rng = np.random.default_rng(1)
    delta, W = (rng.normal(size=s).astype(dtype) for s in ((n, n_out), (n_out, n_in)))
    out = np.full((n, n_in), np.nan, dtype)
    error_back(delta, W, out)
    np.testing.assert_allclose(out, delta.astype(float) @ W, **_tolerance(dtype))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alpha,beta", [(0.5, 0.0), (-0.1, 1.0), (2.0, -0.5)])
def test_outer_update(shape, dtype, alpha, beta):
    n, n_in, n_out = shape
    rng = np.random.default_rng(2)
    delta, a = (rng.normal(size=s).astype(dtype) for s in ((n, n_out), (n, n_in)))
    T = rng.normal(size=(n_out, n_in)).astype(dtype)
    expected = beta * T.astype(float) + alpha * delta.astype(float).T @ a
    if beta == 0.0:
        T[:] = np.nan  # beta = 0 must overwrite, never read
    outer_update(alpha, delta, a, beta, T)
    np.testing.assert_allclose(T, expected, **_tolerance(dtype))
