"""Parts of the work onto threads: how many parts a shape gets, which thread runs which
parts, the barrier between phases, and who owns the cores.

The number of parts of a training step (and of slabs of an inference chunk) comes from the
shapes and the cores the process may use (usable_cores), never from the thread count; each
thread runs a fixed, contiguous set of parts and the parts' sums are added in part order, so
results are bitwise the same on any number of threads, and on any machine given the same
FASTBP_CORES. Threads are Python threads running compiled code with the GIL released, as
many as Numba's thread count allows (numba.set_num_threads, NUMBA_NUM_THREADS) and, when it is set
at import, OMP_NUM_THREADS (which Dask, among others, sets to 1 in its worker processes so
that their libraries do not each take every core; Numba does not read it), started once per
chunk of work: a parallel region per product measured slower, and Numba's parallel lowering
cost seconds of compilation. The matrix products inside run on one thread each
(backends.py): the parts are the only parallelism.
"""

import contextlib
import functools
import math
import os
import threading
from pathlib import Path

import numba
import numpy as np
from numba import njit

from .backends import one_thread
from .config import (CORES_SETTING, INTERNAL, MIN_SLAB_ROWS, OMP_THREADS, PARTS_BY_FLOP,
                     PARTS_MIN_FLOP, SLAB_ROWS, SPINS_BEFORE_YIELD, TEAM_MIN_FLOP)
from .numba_ext import atomic_increment, atomic_read, sched_yield
from .records import Team

COUNT, ABORT = 0, 1  # the slots of a team's int64 sync array


# Parts of the flat buffers (the parameters' length) are cut at multiples of this many
# elements: two parts never write one cache line.
FLAT_ALIGN = 16


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


def cgroup_quota(own=Path("/proc/self/cgroup"), root=Path("/sys/fs/cgroup")):
    """The CPU quota, in cores (quota / period), of the process whose cgroup file is own:
    the tightest of its cgroup's and their ancestors', or None without one. cgroup v2's
    cpu.max ("max 100000": none; "400000 100000": 4 cores), else v1's cpu.cfs_quota_us (-1:
    none) over cpu.cfs_period_us, under the v1 "cpu" controller's mount."""
    try:
        entries = own.read_text().splitlines()
    except OSError:
        return None
    limits = []
    for entry in entries:  # "0::/path" (v2), or "3:cpu,cpuacct:/path" (v1)
        _, controllers, path = entry.split(":", 2)
        if controllers and "cpu" not in controllers.split(","):
            continue
        for mount in ([root] if not controllers else [root / controllers, root / "cpu"]):
            folder = mount / path.lstrip("/")
            for up in [folder, *folder.parents]:
                limits.append(_quota_in(up))
                if up == mount:
                    break
    limits = [limit for limit in limits if limit is not None]
    return min(limits) if limits else None


def _quota_in(folder):
    """The CPU quota of one cgroup folder, in cores, or None."""
    try:
        quota, period = (folder / "cpu.max").read_text().split()
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


@functools.cache
def available_cores():
    """The cores this process may run on: those in its CPU affinity mask, capped by its
    cgroup's CPU quota rounded up (a container limited to 4 CPUs on a 64-core host has 4).
    Read once per process."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity masks on this system (macOS)
        cores = os.cpu_count() or 1
    quota = cgroup_quota()
    return max(1, min(cores, math.ceil(quota))) if quota is not None else max(1, cores)


@functools.cache
def usable_cores():
    """The cores the work is cut for: FASTBP_CORES when set (to reproduce the bits of a
    machine with that many), else available_cores(). Read once per process: parts and slabs
    follow it, so it must not change under a running fit."""
    if CORES_SETTING is None:
        return available_cores()
    try:
        cores = int(CORES_SETTING)
    except ValueError:
        cores = 0
    if cores < 1:
        raise ValueError(f"FASTBP_CORES={CORES_SETTING!r}: use a whole number of cores >= 1, "
                         f"or unset it to use the cores this process may run on")
    return cores


def training_parts(flop_per_batch, flop_per_call):
    """Parts of a training step for batches of this much work, in compiled calls of this
    much: none unless both pay for threads (config.PARTS_MIN_FLOP, TEAM_MIN_FLOP), then by
    the batch's work (config.PARTS_BY_FLOP), at most one per core."""
    if flop_per_batch < PARTS_MIN_FLOP or flop_per_call < TEAM_MIN_FLOP:
        return 1
    parts = max(p for threshold, p in PARTS_BY_FLOP if flop_per_batch >= threshold)
    return max(1, min(parts, usable_cores()))


def inference_rows():
    """Rows per inference chunk: config.SLAB_ROWS per core."""
    return SLAB_ROWS * usable_cores()


def inference_slabs(rows):
    """Slabs of an inference chunk of this many rows: one per core, fewer for few rows
    (config.MIN_SLAB_ROWS)."""
    return max(1, min(usable_cores(), rows // MIN_SLAB_ROWS))


@contextlib.contextmanager
def share_cores(processes):
    """On the calling thread, until the block ends, at most cores // processes Numba threads:
    for processes sharing this machine's cores (MPI ranks on one host) without
    oversubscribing them."""
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(before, available_cores() // processes)))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def run_team(kernel, parts, args):
    """Run kernel(team, *args) for every part, on min(Numba's thread count, OMP_NUM_THREADS,
    parts) threads: thread i (the calling thread is 0) takes parts [i * parts // threads,
    (i + 1) * parts // threads) and passes its records.Team.

    A thread that raises sets the abort slot, so the others leave their barriers instead of
    waiting forever; the first error is raised here once all have stopped. A Ctrl-C on the
    calling thread is held until every thread has stopped (fit defers it further, to the end
    of the call: training.Trainer.interrupts).
    """
    threads = max(1, min(numba.get_num_threads(), OMP_THREADS, parts))
    sync = np.zeros(2, dtype=np.int64)  # barrier count, abort
    errors = []

    def run(i):
        team = Team(i * parts // threads, (i + 1) * parts // threads, parts, threads, sync)
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
