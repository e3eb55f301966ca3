"""A user's first grid search, fastbp against scikit-learn, each in a fresh process.

    python bench/tools/first_search.py                         # this checkout
    python bench/tools/first_search.py --python venv/bin/python   # an installed fastbp

GridSearchCV over 8 settings (relu and tanh, two widths, two L2 penalties) x 3 folds of a
StandardScaler + MLP pipeline on breast_cancer, once with fastbp's FastbpClassifier and once
with scikit-learn's MLPClassifier, the same parameters. fastbp runs with an empty cache
(cold: every kernel compiled), then again on the cache it filled (warm); with --python, the
installed fastbp's first run is the one after the install (kernels compiled into the wheel).
Prints each process's wall time (interpreter start included), median of the rounds.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout root: bench

from bench.common import cpu_description, run_with_fair_blas  # noqa: E402

_SEARCH = r"""
import sys, warnings
warnings.simplefilter("ignore")  # max_iter=50 does not always converge
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
if sys.argv[1] == "fastbp":
    from fastbp.sklearn import FastbpClassifier as MLP
else:
    from sklearn.neural_network import MLPClassifier as MLP
X, y = load_breast_cancer(return_X_y=True)
grid = {"mlp__activation": ["relu", "tanh"], "mlp__hidden_layer_sizes": [(16,), (32,)],
        "mlp__alpha": [1e-4, 1e-2]}
pipeline = Pipeline([("scale", StandardScaler()), ("mlp", MLP(max_iter=50, random_state=0))])
search = GridSearchCV(pipeline, grid, cv=3).fit(X, y)
print(round(search.best_score_, 4))
"""


def run(python, checkout, cache, which):
    """(wall seconds, best score) of one fresh process of the search."""
    env = dict(os.environ, FASTBP_CACHE_DIR=cache)
    env.pop("PYTHONPATH", None)
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    started = time.perf_counter()
    done = subprocess.run([python, "-c", _SEARCH, which], cwd=checkout or tempfile.gettempdir(),
                          env=env, check=True, capture_output=True, text=True, timeout=900)
    return time.perf_counter() - started, done.stdout.split()[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", default=str(Path(__file__).resolve().parents[2]))
    parser.add_argument("--python", help="run an installed fastbp with this interpreter")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    python = args.python or sys.executable
    checkout = None if args.python else args.checkout
    times = {"fastbp, first run": [], "fastbp, cache filled": [], "scikit-learn": []}
    scores = {}
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as cache:
            for name in ("fastbp, first run", "fastbp, cache filled"):
                seconds, scores[name] = run(python, checkout, cache, "fastbp")
                times[name].append(seconds)
        seconds, scores["scikit-learn"] = run(python, None, tempfile.gettempdir(), "sklearn")
        times["scikit-learn"].append(seconds)
    print(f"{cpu_description()}, {os.cpu_count()} cores; {args.python or args.checkout}, "
          f"median of {args.rounds} rounds")
    print("| first GridSearchCV (8 settings x 3 folds) | process wall s | best score |")
    print("|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {scores[name]} |")


if __name__ == "__main__":
    run_with_fair_blas()
    main()
