"""fastbp's scikit-learn estimators against scikit-learn's MLPClassifier / MLPRegressor:
5-fold cross-validated score and wall time, both with default parameters except
hidden_layer_sizes and the solver (a pair of columns per solver), inside StandardScaler
pipelines (MaxAbsScaler for the sparse dataset, which it keeps sparse).

    python bench/tools/sklearn_parity.py [--datasets iris wine ...] [--solvers adam lbfgs]

Datasets: scikit-learn's bundled iris, wine, breast cancer, digits (accuracy), diabetes (R^2)
and linnerud (R^2 averaged over its 3 targets), the first --fashion-rows images of the
Fashion-MNIST training set (accuracy; skipped without the files: apt-get install
dataset-fashion-mnist), and tfidf_text: the TF-IDF CSR of a generated corpus of 2,000
documents over 5,000 words in 5 topics (sparse_text.py's, accuracy). Folds:
scikit-learn's default for cross_val_score (stratified for classifiers, unshuffled). Each
library runs the cross-validation with random_state 0, 1, ... (--seeds), alternating;
the score is the mean +- standard deviation over every fold of every seed (one seed's
score is mostly the luck of its initialisation on these small sets). Time: the median
over seeds of one whole cross-validation's wall time in this process (one job), after a
warm-up fit of each estimator so that fastbp's kernels are loaded from the disk cache
rather than timed compiling. Prints a Markdown table.
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import cross_val_score
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MaxAbsScaler, StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
# after the standard library, whose profile module tools/profile.py would shadow
sys.path.append(str(Path(__file__).resolve().parent))
from fastbp.datasets import load_fashion_mnist  # noqa: E402
from fastbp.sklearn import FastbpClassifier, FastbpRegressor  # noqa: E402
from sparse_text import tfidf  # noqa: E402

HIDDEN = (100,)


def _fashion(rows):
    X, y, _, _ = load_fashion_mnist()
    return X[:rows].astype(np.float64), y[:rows]


def load(name, fashion_rows):
    """(X, y, is_classification) of a dataset."""
    bundled = {"iris": datasets.load_iris, "wine": datasets.load_wine,
               "breast_cancer": datasets.load_breast_cancer, "digits": datasets.load_digits,
               "diabetes": datasets.load_diabetes, "linnerud": datasets.load_linnerud}
    if name == "fashion_mnist":
        X, y = _fashion(fashion_rows)
        return X, y, True
    if name == "tfidf_text":
        X, y = tfidf(2000, 5000, 5, 60)
        return X, y, True
    X, y = bundled[name](return_X_y=True)
    return X, y, name not in ("diabetes", "linnerud")


def cross_validate(estimator, X, y):
    """(scores, seconds) of 5-fold cross_val_score over a scaling pipeline."""
    model = make_pipeline(MaxAbsScaler() if sp.issparse(X) else StandardScaler(), estimator)
    started = time.perf_counter()
    scores = cross_val_score(model, X, y, cv=5)
    return scores, time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=[
        "iris", "wine", "breast_cancer", "digits", "diabetes", "linnerud", "fashion_mnist",
        "tfidf_text"])
    parser.add_argument("--solvers", nargs="+", default=["adam", "lbfgs"],
                        choices=["adam", "sgd", "lbfgs"])
    parser.add_argument("--fashion-rows", type=int, default=5000)
    parser.add_argument("--seeds", type=int, default=3,
                        help="random_state 0 .. seeds-1, each a cross-validation per library")
    parser.add_argument("--max-iter", type=int, default=200, help="both libraries' max_iter")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    columns = [f"{solver}: {what}" for solver in args.solvers
               for what in ("scikit-learn", "fastbp", "s, speed-up")]
    print("| dataset | rows x features | metric | " + " | ".join(columns) + " |")
    print("|---|---|---|" + "---|" * len(columns))
    for name in args.datasets:
        try:
            X, y, classification = load(name, args.fashion_rows)
        except FileNotFoundError as error:
            print(f"| {name} | skipped: {error} |")
            continue
        peers = {"scikit-learn": MLPClassifier if classification else MLPRegressor,
                 "fastbp": FastbpClassifier if classification else FastbpRegressor}
        some = np.random.default_rng(0).permutation(X.shape[0])[:60]
        for cls in peers.values():  # warm-up: kernels loaded, not timed compiling
            for solver in args.solvers:
                cls(hidden_layer_sizes=HIDDEN, solver=solver, random_state=0, max_iter=2).fit(
                    X[some], y[some]).score(X[some], y[some])
        cells = []
        for solver in args.solvers:
            scores = {peer: [] for peer in peers}
            seconds = {peer: [] for peer in peers}
            for seed in range(args.seeds):  # the libraries alternate
                for peer, cls in peers.items():
                    fold_scores, took = cross_validate(
                        cls(hidden_layer_sizes=HIDDEN, solver=solver, max_iter=args.max_iter,
                            random_state=seed), X, y)
                    scores[peer].extend(fold_scores)
                    seconds[peer].append(took)
            sk, fb = np.array(scores["scikit-learn"]), np.array(scores["fastbp"])
            sk_s, fb_s = np.median(seconds["scikit-learn"]), np.median(seconds["fastbp"])
            cells += [f"{sk.mean():.3f} +- {sk.std():.3f}",
                      f"{fb.mean():.3f} +- {fb.std():.3f} ({fb.mean() - sk.mean():+.3f})",
                      f"{sk_s:.2f} / {fb_s:.2f}, {sk_s / fb_s:.1f}x"]
        print(f"| {name} | {X.shape[0]} x {X.shape[1]} | "
              f"{'accuracy' if classification else 'R^2'} | " + " | ".join(cells) + " |",
              flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout root: bench
    from bench.common import run_with_fair_blas
    run_with_fair_blas()
    main()
