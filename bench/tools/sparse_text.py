"""fastbp against scikit-learn's MLPClassifier on a sparse text problem, side by side in one
process; both estimators with scikit-learn's defaults (adam, batch 200, float64 since X is
float64) for the same number of epochs; the seconds of each fit (best of --repeat) and the
test accuracy (80/20 split).

--problem counts: a CSR X of rows x columns at the given density (random counts 1-3, about
rows * columns * density non-zeros), two classes from a linear rule plus noise.

--problem tfidf: a generated corpus of --rows documents, each about --words words long, over
a vocabulary of --columns words ("w0", "w1", ...) drawn from a Zipf law, except that a share
of each document's words come from the 300 words its topic favours (one of --topics);
scikit-learn's TfidfVectorizer turns the text into X and the topic is the label.

    python bench/tools/sparse_text.py --rows 100000 --columns 50000 --density 0.001
    python bench/tools/sparse_text.py --problem tfidf --rows 100000 --columns 50000
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.neural_network import MLPClassifier

from fastbp.sklearn import FastbpClassifier


def counts(rows, columns, density, seed=0):
    """(X, y): counts in CSR, two classes from a linear rule plus noise."""
    rng = np.random.default_rng(seed)
    # a Generator: its sampling of positions does not permute all rows * columns of them
    X = sp.random(rows, columns, density=density, format="csr", random_state=rng,
                  data_rvs=lambda k: rng.integers(1, 4, k).astype(np.float64))
    score = X @ rng.normal(size=columns)
    return X, (score + 0.5 * rng.normal(size=rows) > np.median(score)).astype(int)


def corpus(documents, vocabulary, topics, words, topic_share=0.1, seed=0):
    """(texts, topics): documents of Zipf-distributed words, topic_share of each document's
    words from the 300 its topic favours."""
    rng = np.random.default_rng(seed)
    zipf = 1.0 / np.arange(1, vocabulary + 1)
    favoured = np.stack([rng.choice(vocabulary, 300, replace=False) for _ in range(topics)])
    label = rng.integers(0, topics, documents)
    lengths = np.maximum(rng.poisson(words, documents), 1)
    owner = np.repeat(np.arange(documents), lengths)  # the document of every word drawn
    ids = rng.choice(vocabulary, owner.size, p=zipf / zipf.sum())
    topical = rng.random(owner.size) < topic_share
    ids[topical] = favoured[label[owner[topical]], rng.integers(0, 300, topical.sum())]
    names = np.array([f"w{i}" for i in range(vocabulary)])
    texts = [" ".join(part) for part in np.split(names[ids], np.cumsum(lengths)[:-1])]
    return texts, label


def tfidf(documents, vocabulary, topics, words):
    """(X, y): TfidfVectorizer's CSR of the corpus above, and its topics."""
    texts, y = corpus(documents, vocabulary, topics, words)
    return TfidfVectorizer().fit_transform(texts), y


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", choices=("counts", "tfidf"), default="counts")
    parser.add_argument("--rows", type=int, default=20000, help="rows or documents")
    parser.add_argument("--columns", type=int, default=50000, help="columns or vocabulary")
    parser.add_argument("--density", type=float, default=0.001, help="counts only")
    parser.add_argument("--words", type=int, default=60, help="tfidf: mean document length")
    parser.add_argument("--topics", type=int, default=10, help="tfidf: classes")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    if args.problem == "counts":
        X, y = counts(args.rows, args.columns, args.density)
    else:
        X, y = tfidf(args.rows, args.columns, args.topics, args.words)
    cut = int(0.8 * X.shape[0])
    X, X_test, y, y_test = X[:cut], X[cut:], y[:cut], y[cut:]
    print(f"{args.problem}: X {X.shape[0]} x {X.shape[1]} CSR, {X.nnz} non-zeros "
          f"({X.nnz / X.shape[0] / X.shape[1]:.3%}); {args.epochs} epochs, "
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
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout root: bench
    from bench.common import run_with_fair_blas
    run_with_fair_blas()
    main()
