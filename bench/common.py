"""Shared setup of the asv suites: the data subset and a network warmed past its JIT."""

import functools
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np

from bench.configs import CONFIGS
from bench.data import fashion_mnist_or_synthetic, one_hot

TRAIN_SAMPLES = 10000  # a fixed subset, big enough for stable epoch times

# Set on some machines for old OpenBLAS builds, they make a current OpenBLAS run older, slower
# kernels (NumPy's on a Zen 5: 239 GFLOP/s with OPENBLAS_CORETYPE=Haswell, 454 without): a
# benchmark unsets them for its own processes, so that every peer (and the ceiling) runs the
# kernels its BLAS picks for this CPU. Tests and CI leave them alone.
UNFAIR_BLAS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def fair_env(env=None):
    """env (default: this process's environment) without UNFAIR_BLAS."""
    return {k: v for k, v in (os.environ if env is None else env).items()
            if k not in UNFAIR_BLAS}


def run_with_fair_blas():
    """Start this command again without UNFAIR_BLAS when either is set (BLAS libraries read
    them when loaded): a benchmark's first call; the processes it starts inherit the fair
    environment."""
    if any(name in os.environ for name in UNFAIR_BLAS):
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], fair_env())


def blas_kernels():
    """One line per BLAS library loaded in this process: its name, version and the kernels it
    runs on this CPU (threadpoolctl's "architecture")."""
    from threadpoolctl import threadpool_info
    return [f"{info.get('internal_api')} {info.get('version')} "
            f"({info.get('architecture', 'kernels not reported')}, "
            f"{os.path.basename(info.get('filepath', ''))})"
            for info in threadpool_info() if info.get("user_api") == "blas"]


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


def write_readme(path, text, block):
    """Put text between the markers <!-- block:begin --> and <!-- block:end --> of the
    markdown file at path (appended, with them, when it has none)."""
    begin, end = f"<!-- {block}:begin -->", f"<!-- {block}:end -->"
    readme = Path(path).read_text()
    replaced = f"{begin}\n{text}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    Path(path).write_text(pattern.sub(lambda _: replaced, readme) if pattern.search(readme)
                          else readme + "\n" + replaced + "\n")
