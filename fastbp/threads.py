"""Who owns the cores. Training at mid-sized batches: two halves of every
batch on two threads (kernels/halves.py), BLAS on one thread. Other training: BLAS,
threading each matrix product of large enough batches (Numba runs on the calling thread).
Inference and loss: Numba's threads, one slab of
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
# Batches between these amounts of work run as two halves on two threads
# (kernels/halves.py) with BLAS on one thread. Against the serial loop on Fashion-MNIST
# (bench/perf_log.md), halves/serial for plain SGD: 784-128-10 at batch 10-32 (4e6-2.6e7
# FLOP) 1.09-1.37, 784-256-128-10 at batch 32 (3.2e7) 1.61; below, nielsen's batch 10
# (9.6e5) loses to per-call overhead. Above, measured one mode per process: about even
# from 4e7 to 7e7 (784-128-10 at batch 64-128: 0.98-1.12, 784-256-128-10 at 48: 1.2, at
# 64: 0.95-1.1) and losing from 1e8 (784-128-10 at 256, 784-256-128-10 at 96: 0.8-0.9).
# With other optimizers, where the step is split too, inside the window: 1.09-1.77 (Adam,
# momentum, RMSprop, clipping; 784-128-10 at 16-32, 784-256-128-10 at 32).
HALVES_FLOP = (4e6, 3.5e7)
# Fits with an optimizer step (anything but plain SGD without clipping) split that step too,
# a memory-bound pass the serial loop runs on one core, so the halves pay up to twice the
# work: 784-256-128-10 with Adam at batch 64 (6.4e7 FLOP), one mode per process, 6 runs
# each: halves 60-73k samples/s, serial 61-68k (medians 69k vs 63k), where plain SGD at the
# same batch runs 0.92x in halves.
STEP_WIDENS_HALVES = 2.0
_controller = None
_lock = threading.Lock()


def trains_in_halves(flop_per_batch, with_step):
    """Whether fit runs each batch as two halves on two threads (kernels/halves.py);
    with_step: the fit has an optimizer step apart from the gradient product."""
    low, high = HALVES_FLOP
    return low <= flop_per_batch <= high * (STEP_WIDENS_HALVES if with_step else 1.0)


def blas_threads_for_training(flop_per_batch, halves):
    """Context manager for fit: BLAS on one thread for small batches and for training in
    halves (the halves are the threads), untouched otherwise."""
    if halves or flop_per_batch < SERIAL_BLAS_FLOP:
        return blas_single_threaded()
    return contextlib.nullcontext()


def blas_single_threaded():
    """Context manager that holds every loaded BLAS to one thread."""
    global _controller
    with _lock:
        if _controller is None:  # scanning the loaded libraries costs ~ms: do it once
            _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
