"""Shared setup of the asv suites: the data subset and a network warmed past its JIT."""

import functools
import time

import numpy as np

from bench.configs import CONFIGS
from bench.data import fashion_mnist_or_synthetic, one_hot

TRAIN_SAMPLES = 10000  # a fixed subset, big enough for stable epoch times


@functools.lru_cache(maxsize=None)
def data():
    X, y, X_test, y_test, _ = fashion_mnist_or_synthetic()
    return X[:TRAIN_SAMPLES], y[:TRAIN_SAMPLES], X_test, y_test


def targets(cfg, y, dtype=np.float32):
    """Labels for cross-entropy, one-hot rows for the textbook mse network."""
    return one_hot(y, dtype) if cfg.loss == "mse" else y


def warm_network(config, dtype="float32", source=data):
    """A network of the configuration whose kernels are already compiled for dtype.

    ``source`` is the loader, or the (X, y, X_test, y_test) tuple itself.
    """
    cfg = CONFIGS[config]
    X, y, _, _ = source() if callable(source) else source
    net = cfg.network(dtype)
    net.fit(X[:2 * cfg.batch_size], targets(cfg, y[:2 * cfg.batch_size]), epochs=1,
            batch_size=cfg.batch_size, lr=cfg.lr)
    net.forward(X[:10])
    return cfg, net


def timed(fn):
    """Wall seconds of one call of fn()."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def peak_growth_bytes(call):
    """Bytes by which call() raised this process's peak resident set above its resident set
    just before (Linux: the peak counter is reset through /proc/self/clear_refs)."""
    def status(field):
        with open("/proc/self/status") as lines:
            return next(int(line.split()[1]) * 1024 for line in lines
                        if line.startswith(field + ":"))

    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = status("VmRSS")
    call()
    return status("VmHWM") - before
