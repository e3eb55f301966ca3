"""fastbp against scikit-learn's MLPClassifier on a text-like sparse problem, side by side in
one process: a CSR X of rows x columns at the given density (random non-negative counts,
about rows * columns * density non-zeros), labels from a sparse linear rule plus noise; both
estimators with scikit-learn's defaults (adam, batch 200, float64 since X is float64) for
the same number of epochs; the seconds of each fit (best of --repeat) and the test
accuracy.

    python bench/tools/sparse_text.py --rows 20000 --columns 50000 --density 0.001 --epochs 3
"""

import argparse
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from fastbp.sklearn import FastbpClassifier


def problem(rows, columns, density, seed=0):
    """(X_train, X_test, y_train, y_test): counts in CSR, two classes from a linear rule."""
    rng = np.random.default_rng(seed)
    X = sp.random(rows, columns, density=density, format="csr", random_state=seed,
                  data_rvs=lambda k: rng.integers(1, 4, k).astype(np.float64))
    score = X @ rng.normal(size=columns)
    y = (score + 0.5 * rng.normal(size=rows) > np.median(score)).astype(int)
    cut = int(0.8 * rows)
    return X[:cut], X[cut:], y[:cut], y[cut:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--columns", type=int, default=50000)
    parser.add_argument("--density", type=float, default=0.001)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    X, X_test, y, y_test = problem(args.rows, args.columns, args.density)
    print(f"X: {X.shape[0]} x {X.shape[1]} CSR, {X.nnz} non-zeros; {args.epochs} epochs, "
          f"hidden ({args.hidden},)")
    with warnings.catch_warnings():  # compile first: the timed fits measure training
        warnings.simplefilter("ignore", ConvergenceWarning)
        FastbpClassifier(hidden_layer_sizes=(args.hidden,), max_iter=1).fit(X[:400], y[:400])
    seconds = {}
    for name, cls in (("fastbp", FastbpClassifier), ("scikit-learn", MLPClassifier)):
        times = []
        for _ in range(args.repeat):
            model = cls(hidden_layer_sizes=(args.hidden,), max_iter=args.epochs, random_state=0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                started = time.perf_counter()
                model.fit(X, y)
                times.append(time.perf_counter() - started)
        seconds[name] = min(times)
        print(f"{name:>12}: {seconds[name]:7.2f} s, test accuracy "
              f"{model.score(X_test, y_test):.4f}")
    print(f"speed-up: {seconds['scikit-learn'] / seconds['fastbp']:.1f}x")


if __name__ == "__main__":
    main()
