"""Parts of the work onto threads: how many parts a shape gets, which thread runs which
parts, the barrier between phases, and who owns the cores.

The number of parts of a training step (and of slabs of an inference chunk) comes from the
shapes, never from the thread count; each thread runs a fixed, contiguous set of parts and
the parts' sums are added in part order, so results are bitwise the same on any number of
threads. Threads are Python threads running compiled code with the GIL released, as many as
Numba's thread count allows (numba.set_num_threads, NUMBA_NUM_THREADS) and, when it is set
at import, OMP_NUM_THREADS (which Dask, among others, sets to 1 in its worker processes so
that their libraries do not each take every core; Numba does not read it), started once per
chunk of work: a parallel region per product measured slower, and Numba's parallel lowering
cost seconds of compilation. The matrix products inside run on one thread each
(backends.py): the parts are the only parallelism.
"""

import contextlib
import os
import threading

import numba
import numpy as np
from numba import njit

from .backends import one_thread
from .config import (INTERNAL, MIN_SLAB_ROWS, OMP_THREADS, PARTS_MIN_FLOP, SLABS,
                     SPINS_BEFORE_YIELD, TEAM_MIN_FLOP, TRAINING_PARTS)
from .numba_ext import atomic_increment, atomic_read, sched_yield

COUNT, ABORT = 0, 1  # the slots of a team's int64 sync array


@njit(**INTERNAL)
def share(t, parts, n, align=1):
    """The range [lo, hi) of range(n) that part t of parts works on; inner bounds are
    multiples of align."""
    lo = t * n // parts // align * align
    hi = n if t == parts - 1 else (t + 1) * n // parts // align * align
    return lo, hi


@njit(**INTERNAL)
def barrier(sync, k, parties):
    """The k-th barrier (k = 1, 2, ...) of ``parties`` threads sharing sync, whose slots start
    at 0: returns once every party has arrived, or at once when sync[ABORT] is set (a party
    failed and will never arrive). Spins briefly, then yields the core on every check."""
    atomic_increment(sync, COUNT)
    target = k * parties
    spins = 0
    while atomic_read(sync, COUNT) < target and atomic_read(sync, ABORT) == 0:
        spins += 1
        if spins > SPINS_BEFORE_YIELD:
            sched_yield()


def training_parts(flop_per_batch, flop_per_call):
    """Parts of a training step for batches of this much work, in compiled calls of this
    much (config.PARTS_MIN_FLOP, TEAM_MIN_FLOP)."""
    if flop_per_batch >= PARTS_MIN_FLOP and flop_per_call >= TEAM_MIN_FLOP:
        return TRAINING_PARTS
    return 1


def inference_slabs(rows):
    """Slabs of an inference chunk of this many rows (config.SLABS, fewer for few rows)."""
    return max(1, min(SLABS, rows // MIN_SLAB_ROWS))


@contextlib.contextmanager
def share_cores(processes):
    """On the calling thread, until the block ends, at most cores // processes Numba threads:
    for processes sharing this machine's cores (MPI ranks on one host) without
    oversubscribing them."""
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(before, (os.cpu_count() or 1) // processes)))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def run_team(kernel, parts, args):
    """Run kernel(team, *args) for every part, on min(Numba's thread count, OMP_NUM_THREADS,
    parts) threads: thread i (the calling thread is 0) takes parts [i * parts // threads,
    (i + 1) * parts // threads) and passes team = (first part, end part, parts, threads,
    sync).

    A thread that raises sets the abort slot, so the others leave their barriers instead of
    waiting forever; the first error is raised here once all have stopped. A Ctrl-C on the
    calling thread is held until every thread has stopped (fit defers it further, to the end
    of the call: training.Trainer.interrupts).
    """
    threads = max(1, min(numba.get_num_threads(), OMP_THREADS, parts))
    sync = np.zeros(2, dtype=np.int64)  # barrier count, abort
    errors = []

    def run(i):
        team = (i * parts // threads, (i + 1) * parts // threads, parts, threads, sync)
        try:
            with one_thread():
                kernel(team, *args)
        except BaseException as error:
            errors.append(error)
            sync[ABORT] = 1

    helpers = [threading.Thread(target=run, args=(i,), name=f"fastbp-part-{i}", daemon=True)
               for i in range(1, threads)]
    interrupted = None
    try:
        for helper in helpers:
            helper.start()
    except KeyboardInterrupt as stop:  # not every part will run: release the barriers
        interrupted = stop
        sync[ABORT] = 1
    if interrupted is None:
        run(0)
    for helper in helpers:  # the parts write the parameters: let them end, Ctrl-C or not
        while True:
            try:
                if helper.ident is None or not helper.is_alive():
                    break
                helper.join()
            except KeyboardInterrupt as stop:
                interrupted = stop
    if errors:
        raise errors[0]
    if interrupted is not None:
        raise interrupted
