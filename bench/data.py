"""Benchmark data: Fashion-MNIST when its files are installed, otherwise a deterministic
stand-in of the same shapes and value range (so every benchmark runs without a download)."""

import numpy as np

N_TRAIN, N_TEST, N_FEATURES, N_CLASSES = 60000, 10000, 784, 10


def synthetic(n_train=N_TRAIN, n_test=N_TEST, seed=0):
    """Learnable stand-in: pixels in [0, 1] from 10 class prototypes plus noise."""
    rng = np.random.default_rng(seed)
    prototypes = rng.random((N_CLASSES, N_FEATURES), dtype=np.float32)
    arrays = []
    for n in (n_train, n_test):
        y = rng.integers(0, N_CLASSES, n)
        X = 0.5 * prototypes[y] + 0.5 * rng.random((n, N_FEATURES), dtype=np.float32)
        arrays += [X.astype(np.float32), y.astype(np.int64)]
    return tuple(arrays)


def fashion_mnist_or_synthetic():
    """(X_train, y_train, X_test, y_test, source name)."""
    from fastbp.datasets import find_fashion_mnist, load_fashion_mnist
    if find_fashion_mnist() is not None:
        return (*load_fashion_mnist(), "fashion-mnist")
    return (*synthetic(), "synthetic")


def one_hot(y, dtype=np.float32):
    return np.eye(N_CLASSES, dtype=dtype)[y]
