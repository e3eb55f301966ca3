"""Sparse X (SciPy matrices and arrays): the first layer's compiled sparse products against
the dense path and the NumPy reference, the same bits on any thread count, the estimators,
and the refusals."""

import warnings

import numpy as np
import pytest

import fastbp
import reference
from conftest import numba_threads, oracle

sp = oracle("scipy").sparse


def _problem(n=240, m=60, density=0.08, seed=0):
    rng = np.random.default_rng(seed)
    X = sp.random(n, m, density=density, format="csr", random_state=seed) * 3.0
    return X, rng.integers(0, 4, n)


@pytest.mark.parametrize("sizes", [[60, 4], [60, 16, 4], [60, 24, 12, 4]])
@pytest.mark.parametrize("fit", [dict(optimizer="adam", dropout=0.3),
                                 dict(lr=0.05, l2=1e-3, validation_split=0.2),
                                 dict(optimizer="sgd", momentum=0.9, clip_norm=0.5)])
def test_training_on_sparse_X_is_training_on_its_dense_copy(sizes, fit):
    """Every optimizer path of the step (plain SGD fused into the gradient, an optimizer
    step per part, clipping), dropout, the L2 term and a validation split: the parameters,
    outputs and logs of a fit on a CSR X are those of the fit on X.toarray(), to float64
    rounding (the sparse sums skip the zeros)."""
    X, y = _problem()
    fit = dict(fit)
    dropout = fit.pop("dropout", 0.0)
    nets = [fastbp.Network(sizes, dtype=np.float64, seed=1, dropout=dropout) for _ in "ab"]
    histories = [net.fit(data, y, epochs=3, batch_size=32, seed=2, **fit)
                 for net, data in zip(nets, (X, X.toarray()))]
    np.testing.assert_allclose(nets[0].params, nets[1].params, rtol=1e-12, atol=1e-13)
    for key, values in histories[1].history.items():
        np.testing.assert_allclose(histories[0].history[key], values, rtol=1e-12)
    np.testing.assert_allclose(nets[0].forward(X), nets[1].forward(X.toarray()), rtol=1e-12)
    np.testing.assert_array_equal(nets[0].predict(X), nets[1].predict(X.toarray()))
    assert nets[0].evaluate(X, y) == pytest.approx(nets[1].evaluate(X.toarray(), y), rel=1e-12)


def test_gradient_on_sparse_X_equals_the_numpy_reference():
    X, y = _problem(n=30)
    net = fastbp.Network([60, 9, 5, 4], activation="tanh", dtype=np.float64, seed=3)
    net.params = net.params + np.random.default_rng(4).normal(0, 0.2, net.params.size)
    grad_W, grad_b = net.backprop(X, y)
    ref_W, ref_b, _ = reference.backprop(net.weights, net.biases, net.activations,
                                         "cross_entropy", X.toarray(), np.eye(4)[y])
    for ours, theirs in zip(grad_W + grad_b, ref_W + ref_b):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("convert", [sp.csc_matrix, sp.coo_matrix, sp.csr_array,
                                     lambda X: X.astype(np.float32)])
def test_every_sparse_format_and_dtype_gives_the_same_outputs(convert):
    """CSC, COO, sparse arrays and float32 values are converted to the network's CSR; an X
    with unsorted columns and duplicate entries (summed, as SciPy reads them) too."""
    X, y = _problem()
    net = fastbp.Network([60, 16, 4], seed=0)
    net.fit(X, y, epochs=1)
    expected = net.forward(X.toarray())
    np.testing.assert_allclose(net.forward(convert(X)), expected, rtol=1e-5, atol=1e-6)
    # each row's entries twice at half their values, the second time in reverse order
    indices, data = [], []
    for i in range(X.shape[0]):
        row = slice(X.indptr[i], X.indptr[i + 1])
        indices += [X.indices[row][::-1], X.indices[row]]
        data += [X.data[row][::-1] / 2, X.data[row] / 2]
    doubled = sp.csr_matrix((np.concatenate(data), np.concatenate(indices), 2 * X.indptr),
                            shape=X.shape)
    assert doubled.nnz == 2 * X.nnz and not doubled.has_sorted_indices
    np.testing.assert_allclose(net.forward(doubled), expected, rtol=1e-5, atol=1e-6)


def test_the_same_bits_on_any_thread_count():
    """The sparse products run unit by unit in a fixed order: 1 and 2 threads, and a step
    cut into several parts, give the same parameters bit for bit."""
    X, y = _problem(n=600, m=400, density=0.02)
    results = []
    for threads in (1, 2):
        with numba_threads(threads):
            net = fastbp.Network([400, 512, 64, 4], seed=5)  # wide: the step runs in parts
            net.fit(X, y, epochs=2, batch_size=128, optimizer="adam", seed=6)
            results.append(net.params.copy())
    np.testing.assert_array_equal(results[0], results[1])


def test_sparse_X_is_checked_as_dense_X_is():
    X, y = _problem()
    net = fastbp.Network([60, 8, 4], seed=0)
    bad = X.copy()
    bad.data[5] = np.nan
    row, column = np.argwhere(np.isnan(bad.toarray()))[0]
    with pytest.raises(ValueError, match=f"X contains NaN or inf \\(first at row {row}, "
                                         f"column {column}\\)"):
        net.fit(bad, y)
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        net.forward(bad)
    with pytest.raises(ValueError, match="X has 59 features per sample but the network "
                                         "expects 60"):
        net.forward(X[:, :59])
    with pytest.raises(ValueError, match="X is empty"):
        net.forward(X[:0])
    with pytest.raises(TypeError, match="dense X only; pass X.toarray()"):
        net.quantize(X)
    assert np.isfinite(net.params).all()


def test_estimators_take_sparse_X():
    """The estimators accept CSR and CSC X (as scikit-learn's MLPs do) and train as on the
    dense copy: adam with early stopping, lbfgs, partial_fit."""
    oracle("sklearn")
    from sklearn.exceptions import ConvergenceWarning

    from fastbp.sklearn import FastbpClassifier, FastbpRegressor
    X, y = _problem()
    for settings in (dict(early_stopping=True), dict(solver="lbfgs")):
        ours = FastbpClassifier(hidden_layer_sizes=(12,), max_iter=15, random_state=0,
                                **settings)
        with warnings.catch_warnings():  # short fits: a ConvergenceWarning
            warnings.simplefilter("ignore", ConvergenceWarning)
            sparse_fit = ours.fit(sp.csc_matrix(X), y).predict_proba(X)
            dense_fit = ours.fit(X.toarray(), y).predict_proba(X)
        np.testing.assert_allclose(sparse_fit, dense_fit, rtol=1e-9, atol=1e-12)
    target = X @ np.arange(60.0) / 60
    regressor = FastbpRegressor(hidden_layer_sizes=(8,), random_state=0)
    regressor.partial_fit(X, target)
    dense = FastbpRegressor(hidden_layer_sizes=(8,), random_state=0).partial_fit(
        X.toarray(), target)
    np.testing.assert_allclose(regressor.predict(X), dense.predict(X), rtol=1e-9)
