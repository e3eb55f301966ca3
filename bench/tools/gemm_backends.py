"""Single-thread GFLOP/s of each matrix-product library on the products of the standard
configurations, and which library fastbp's table gives each shape on this CPU.

    python bench/tools/gemm_backends.py

Columns: NumPy's own BLAS (held to one thread with threadpoolctl, for reference), fastbp's
OpenBLAS (scipy-openblas32) and oneDNN, each the best of 5 rounds of repeated calls through
ctypes (~1 us of call overhead, which weighs only on the smallest shapes); for inference
shapes also oneDNN's u8 x s8 -> s32 product, GOP/s, as a quantized network runs it (7-bit
inputs: its rate does not depend on the values). Training shapes
are those of one part of a step as fit cuts it (2 parts: half the units of each hidden layer,
half the rows of the output layer); inference shapes those of one 512-row slab.
"""

import platform
import sys
import time
from pathlib import Path

import numpy as np
from llvmlite.binding import get_host_cpu_name
from threadpoolctl import threadpool_limits

sys.path[0] = str(Path(__file__).resolve().parents[2])  # the checkout root (see profile.py)

from bench.common import run_with_fair_blas  # noqa: E402
from bench.configs import CONFIGS  # noqa: E402
from fastbp.engine import backends  # noqa: E402
from fastbp.engine.parallel import training_parts  # noqa: E402

INFERENCE_ROWS = 512  # rows of one inference slab


def shapes():
    """(label, pattern, m, n, k) of every product of part 0 of a training step of each
    configuration, as fit cuts it into parts (hidden layers' units and the output layer's
    rows; step.py), and of the forward pass over an inference slab."""
    for cfg in CONFIGS.values():
        B = cfg.batch_size
        P = training_parts(cfg.flop_per_sample * B, float("inf"))  # parts of a long epoch
        top = len(cfg.sizes) - 2
        for l, (n_in, n_out) in enumerate(zip(cfg.sizes[:-1], cfg.sizes[1:])):
            rows, units = (B // P, n_out) if l == top else (B, n_out // P)
            yield f"{cfg.name} forward {rows}x{n_in}->{units}", 0, rows, units, n_in
            if l > 0:
                yield (f"{cfg.name} delta back {B}x{n_out}->{n_in // P}", 1, B, n_in // P,
                       n_out)
            yield f"{cfg.name} update {n_out // P}x{n_in}, K={B}", 2, n_out // P, n_in, B
        for n_in, n_out in zip(cfg.sizes[:-1], cfg.sizes[1:]):
            yield (f"{cfg.name} inference {INFERENCE_ROWS}x{n_in}->{n_out}", 0, INFERENCE_ROWS,
                   n_out, n_in)


def numpy_seconds(trans_a, trans_b, A, B, C, calls):
    a, b = (A.T if trans_a else A), (B.T if trans_b else B)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            np.matmul(a, b, out=C)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def int8_seconds(m, n, k, calls, rng):
    """Seconds per call of oneDNN's u8 x s8 -> s32 product of an (m, k) by a (n, k).T, with
    per-column offsets (QuantizedNetwork.forward's call), the best of 5 rounds."""
    codes = rng.integers(0, 128, (m, k), dtype=np.uint8)
    weights = rng.integers(-127, 128, (n, k), dtype=np.int8)
    out, offsets = np.zeros((m, n), np.int32), np.zeros(n, np.int32)
    args = (b"N", b"T", b"R", m, n, k, 1.0, codes.ctypes.data, k, 0, weights.ctypes.data, k,
            0, 0.0, out.ctypes.data, n, offsets.ctypes.data)
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            backends.onednn.dnnl_gemm_u8s8s32(*args)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def main():
    backends.choose()
    print(f"CPU: {platform.processor() or platform.machine()} "
          f"({get_host_cpu_name()}); {backends.describe()}")
    print("| product | NumPy's BLAS | OpenBLAS | oneDNN | fastbp uses | oneDNN int8 |")
    print("|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    with threadpool_limits(1, user_api="blas"), backends.one_thread():
        for label, pattern, m, n, k in shapes():
            product = backends.operands(pattern, m, n, k, rng)
            calls = max(1, int(2e7 / (m * n * k)))
            times = [numpy_seconds(*product, calls),
                     backends.seconds(backends.OPENBLAS, *product, calls)]
            if backends.onednn is not None:
                times.append(backends.seconds(backends.ONEDNN, *product, calls))
            rates = [f"{2 * m * n * k / t / 1e9:.0f}" for t in times] + ["-"] * (3 - len(times))
            used = backends.NAMES[backends.choice[backends.shape_class(pattern, m, n, k)]]
            int8 = "-"
            if "inference" in label and backends.onednn is not None:
                int8 = f"{2 * m * n * k / int8_seconds(m, n, k, calls, rng) / 1e9:.0f}"
            print(f"| {label} | " + " | ".join(rates) + f" | {used} | {int8} |", flush=True)


if __name__ == "__main__":
    run_with_fair_blas()
    main()
