import numpy as np
import pytest

import fastbp

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu"]
# (loss, output activation) pairs that the library accepts.
HEADS = [("mse", "identity"), ("mse", "sigmoid"), ("mse", "softmax"), ("mse", "tanh"),
         ("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid")]


def make_targets(loss, n, k, rng):
    """Targets of the kind each loss takes (labels for cross_entropy)."""
    if loss == "cross_entropy":
        return rng.integers(0, k, size=n)
    if loss == "binary_cross_entropy":
        return (rng.random((n, k)) > 0.5).astype(float)
    return rng.normal(size=(n, k))


def one_hot(y, k):
    return np.eye(k)[y]


@pytest.fixture(scope="session")
def digits():
    pytest.importorskip("sklearn")
    return fastbp.datasets.load_digits()
