"""Shared setup of the asv suites: the data subset and a network warmed past its JIT."""

import functools
import platform
import time
from pathlib import Path

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


def cpu_description():
    """The CPU's model name, its generation as LLVM names it (what Numba compiles for) and
    the vector and low-precision units it has."""
    import llvmlite.binding as llvm
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    units = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16",
                         "amx_bf16", "amx_int8") if f in flags]
    return f"{model} ({llvm.get_host_cpu_name()}; {' '.join(units) or 'no AVX2'})"
