import contextlib
import importlib
import os
from pathlib import Path

import numpy as np
import pytest

# Before fastbp is imported: the processes the tests start (command line, MPI ranks, Dask
# workers, new-process resumes) inherit it and share the suite's kernel sets too.
os.environ.setdefault("FASTBP_SPECIALISE", "0")

import fastbp  # noqa: E402

# Those processes import the fastbp this process runs (the checkout's under
# "python -m pytest"), not another installed copy: the same code, and the same kernels,
# which Numba caches beside each copy's sources (another copy compiles them all again).
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(Path(fastbp.__file__).parent.parent)] + os.environ.get("PYTHONPATH", "").split(
        os.pathsep)).rstrip(os.pathsep)

HIDDEN = ["identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu"]
# (loss, output activation) pairs that the library accepts.
HEADS = [("mse", "identity"), ("mse", "sigmoid"), ("mse", "softmax"), ("mse", "tanh"),
         ("cross_entropy", "softmax"), ("binary_cross_entropy", "sigmoid"), ("poisson", "exp")]


def make_targets(loss, n, k, rng):
    """Targets of the kind each loss takes (labels for cross_entropy)."""
    if loss == "cross_entropy":
        return rng.integers(0, k, size=n)
    if loss == "binary_cross_entropy":
        return (rng.random((n, k)) > 0.5).astype(float)
    if loss == "poisson":  # counts, zeros among them (0 log 0)
        return rng.poisson(1.5, size=(n, k)).astype(float)
    return rng.normal(size=(n, k))


@contextlib.contextmanager
def numba_threads(threads):
    """Run the block on this many Numba threads (at most the pool's), then restore."""
    import numba
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def one_hot(y, k):
    return np.eye(k)[y]


def oracle(name):
    """Import an optional library the tests check against (torch) or run on (sklearn).

    Without it the test is skipped, unless the space-separated environment variable
    FASTBP_REQUIRED_ORACLES names it: CI sets it for what it installs, so an install that
    silently failed fails the tests instead of skipping them.
    """
    if name in os.environ.get("FASTBP_REQUIRED_ORACLES", "").split():
        return importlib.import_module(name)
    return pytest.importorskip(name)


@pytest.fixture(autouse=True)
def every_activation_in_one_kernel_set(request, monkeypatch):
    """The suite builds networks of every activation and loss; compiling the kernels for each
    set of codes on its own would take minutes, so tests share one kernel set per loss and
    optimizer (fastbp.engine.config.SPECIALISE = False): the same source, with no branch
    pruned; so do the processes the tests start (FASTBP_SPECIALISE=0, set above). Tests
    marked ``specialised`` run the per-network kernels users get by default, and
    tests/test_specialised.py checks that those give the same bits."""
    monkeypatch.setattr(fastbp.engine.config, "SPECIALISE", "specialised" in request.keywords)


@pytest.fixture
def train_mode(monkeypatch):
    """set(parts=None, chunk_batches=None): cut every training step into this many parts
    (1: the serial step), and run chunk_batches batches per compiled call; None keeps the
    library's own choice."""
    def set_mode(parts=None, chunk_batches=None):
        if parts is not None:
            monkeypatch.setattr(fastbp.engine.session, "training_parts",
                                lambda *args, **kw: parts)
        monkeypatch.setattr(fastbp.engine.config, "CHUNK_BATCHES", chunk_batches)
    return set_mode


@pytest.fixture(scope="session")
def digits():
    oracle("sklearn")
    return fastbp.datasets.load_digits()
