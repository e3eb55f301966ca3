"""Who owns the cores. Training: BLAS, threading each matrix product of large enough
batches (Numba runs on the calling thread). Inference and loss: Numba's threads, one slab of
rows each, with BLAS held to one thread so the two thread pools never compete (measured: 20x
slower when they do, bench/perf_log.md).

SLABS is how many slabs each chunk of rows is cut into. It is fixed, never taken from the
thread count, so results are bitwise the same with 1 or 2 threads; 2 matches the machines
fastbp is tuned on.
"""

import contextlib
import threading

from threadpoolctl import ThreadpoolController

SLABS = 2
# Training batches with less floating-point work than this run with BLAS on one thread:
# OpenBLAS's own threading of such products costs more than it saves (small configuration,
# batch 12-16: 56-74k samples/s with 2 BLAS threads, 87-93k with 1; bench/perf_log.md).
SERIAL_BLAS_FLOP = 2e7
_controller = None
_lock = threading.Lock()


def blas_threads_for_training(flop_per_batch):
    """Context manager for fit: BLAS on one thread for small batches, untouched otherwise."""
    if flop_per_batch < SERIAL_BLAS_FLOP:
        return blas_single_threaded()
    return contextlib.nullcontext()


def blas_single_threaded():
    """Context manager that holds every loaded BLAS to one thread."""
    global _controller
    with _lock:
        if _controller is None:  # scanning the loaded libraries costs ~ms: do it once
            _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
