"""Who owns the cores. Training: BLAS, threading each matrix product (Numba runs on the
calling thread). Inference and loss: Numba's threads, one slab of rows each, with BLAS held to
one thread so the two thread pools never compete (measured: 20x slower when they do,
bench/perf_log.md).

SLABS is how many slabs each chunk of rows is cut into. It is fixed, never taken from the
thread count, so results are bitwise the same with 1 or 2 threads; 2 matches the machines
fastbp is tuned on.
"""

import threading

from threadpoolctl import ThreadpoolController

SLABS = 2
_controller = None
_lock = threading.Lock()


def blas_single_threaded():
    """Context manager that holds every loaded BLAS to one thread."""
    global _controller
    with _lock:
        if _controller is None:  # scanning the loaded libraries costs ~ms: do it once
            _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
