"""The three matrix products of a step against NumPy, small and BLAS-threaded sizes."""

import numpy as np
import pytest

from fastbp.kernels import products

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
    products.affine(x, W, b, z)
    np.testing.assert_allclose(z, x.astype(float) @ W.T + b, **_tolerance(dtype))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_error_back(shape, dtype):
    n, n_in, n_out = shape
    rng = np.random.default_rng(1)
    delta, W = (rng.normal(size=s).astype(dtype) for s in ((n, n_out), (n_out, n_in)))
    out = np.full((n, n_in), np.nan, dtype)
    products.error_back(delta, W, out)
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
    products.outer_update(alpha, delta, a, beta, T)
    np.testing.assert_allclose(T, expected, **_tolerance(dtype))
