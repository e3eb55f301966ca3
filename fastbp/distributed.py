"""Data-parallel training over MPI: ``Network.fit(..., comm=comm)``.

Every rank passes its own shard of the data. Step k takes up to ``batch_size`` rows of each
rank's (shuffled) shard; each rank computes the weighted gradient sum of its rows, the sums
are added **in rank order** on rank 0 and broadcast (a gather, an ordered sum, a broadcast:
the result does not depend on MPI's choice of reduction algorithm), and every rank applies
the same update to the same parameters: all ranks hold the same bits after every step. The
gradient is the weighted mean over the global batch (the rows of every rank), so with equal
shards and no shuffling, training equals a one-process fit with ``batch_size * ranks`` whose
batch k is the ranks' batches k in rank order, to rounding.

An epoch has as many steps as the largest shard needs; a rank whose shard has run out adds
no rows to the later steps of the epoch (the global batch shrinks), so every row of every
shard is used once per epoch whatever the shard sizes.

With ``average_every=H`` (local SGD, for slow networks) each rank instead runs H steps on
its own batches inside the compiled loop, then the parameters and optimizer state are
averaged over ranks, weighted by the sample weight each rank trained on in those steps
(summed in rank order like the gradients): one exchange per H steps. With H = 1 and plain
SGD this equals gradient averaging, to rounding.

Ctrl-C (SIGINT) reaching any rank stops every rank after the same step: the signal only
raises a flag, which travels with that step's sums; fit then returns as a one-process fit
interrupted by Ctrl-C does. A second Ctrl-C on a rank aborts the job. A callback's request
to stop on any rank stops every rank at the end of the epoch.

Works with mpi4py communicators (``mpi4py.MPI.COMM_WORLD``) or anything with the same
``Get_rank``, ``Get_size``, ``Gather``, ``Bcast``, ``allgather`` and ``Abort`` methods.
"""

import contextlib
import os
import signal
import socket
import sys
import threading
import traceback

import numba
import numpy as np

from .schedules import batch_learning_rates
from .training import Diverged, Trainer

_COMM_METHODS = ("Get_rank", "Get_size", "Gather", "Bcast", "allgather", "Abort")


def check_comm(comm):
    """Refuse anything that is not an MPI communicator, saying what is missing."""
    missing = [name for name in _COMM_METHODS if not callable(getattr(comm, name, None))]
    if missing:
        raise TypeError(f"comm must be an MPI communicator such as mpi4py.MPI.COMM_WORLD; "
                        f"{type(comm).__name__} has no {', '.join(missing)}")


def sum_over_ranks(comm, local):
    """The sum over ranks of the float64 vector local, added in rank order on rank 0 and
    broadcast: every rank gets the same bits, whatever reduction algorithm MPI would pick."""
    rank, size = comm.Get_rank(), comm.Get_size()
    gathered = np.empty((size, local.size)) if rank == 0 else None
    comm.Gather(local, gathered, root=0)
    total = np.zeros(local.size)
    if rank == 0:
        for r in range(size):  # rank order, fixed
            total += gathered[r]
    comm.Bcast(total, root=0)
    return total


class RanksDisagree(ValueError):
    """Ranks called fit with settings that would make them run different collective calls;
    raised on every rank at once."""


def check_same_on_ranks(comm, **settings):
    """Raise RanksDisagree on every rank unless every rank has the same settings (name=value),
    which decide what collective calls a rank makes (a rank that skipped one would leave the
    others waiting)."""
    seen = comm.allgather(settings)
    if any(other != settings for other in seen):
        raise RanksDisagree(f"every rank must call fit with the same {', '.join(settings)}: "
                            f"the ranks have {seen}")


@contextlib.contextmanager
def threads_per_rank(comm):
    """On the calling thread, at most cores // (ranks on this machine) Numba threads until
    the block ends, so that ranks sharing a machine do not oversubscribe its cores."""
    hosts = comm.allgather(socket.gethostname())
    neighbours = hosts.count(hosts[comm.Get_rank()])
    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(before, (os.cpu_count() or 1) // neighbours)))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def abort_on_error(comm, work):
    """Run work(); if it raises on a rank of a multi-rank job, print the error and abort
    the job (the other ranks would wait for this one forever in the next collective), unless
    the error is one every rank raises at the same point (divergence, whose test reads the
    values all ranks share; settings the ranks disagree on): that one is raised as usual."""
    try:
        return work()
    except (Diverged, RanksDisagree):
        raise
    except BaseException:
        if comm.Get_size() == 1:
            raise
        print(f"fastbp: rank {comm.Get_rank()} failed; aborting the MPI job:\n"
              f"{traceback.format_exc()}", file=sys.stderr, flush=True)
        comm.Abort(1)
        raise


class _ShardTrainer(Trainer):
    """What both data-parallel trainers add to the one-process Trainer (whose constructor
    arguments follow comm; batch_size the same on every rank): the shard sizes of every
    rank, dropout masks that differ by rank, the exchange of each step's sums with the
    ranks' tallies and stop requests, and epoch logs over every rank's rows."""

    def __init__(self, comm, *args):
        super().__init__(*args)
        self.comm = comm
        self.interrupted = False
        counts = comm.allgather(self.data[0].shape[0])
        self.samples = sum(counts)  # over all ranks, for the epoch's accuracy
        self.batches = [-(-count // self.batch_size) for count in counts]  # per rank
        if self._noise is not None:  # masks differ by rank, deterministically
            rates, seed = self._noise
            self._noise = (rates, seed ^ (comm.Get_rank() << 40))

    def exchange(self, vector):
        """Sum vector = [values..., weighted loss sum, correct count, weight sum, flag] over
        ranks, in rank order, with this rank's Ctrl-C flag at its end; return the summed
        values and tallies (loss sum, correct count, weight sum) and note whether any rank
        had Ctrl-C."""
        vector[-1] = self.interrupted
        total = sum_over_ranks(self.comm, vector)
        self._any_interrupted = bool(total[-1])
        return total[:-4], total[-4:-1]

    def stop_if_interrupted(self):
        """After a step: stop every rank (the same step on each) if one had Ctrl-C."""
        if self._any_interrupted:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def interrupts(self):
        """While the block runs, Ctrl-C (on the main thread) only raises this rank's flag,
        which the next exchange shares; a second one raises an error, which aborts the job."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = signal.getsignal(signal.SIGINT)

        def request_stop(signum, frame):
            if self.interrupted:
                raise RuntimeError("interrupted twice")
            self.interrupted = True

        signal.signal(signal.SIGINT, request_stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def agree_to_stop(self, stop):
        """Whether any rank's callbacks asked to stop after this epoch."""
        return any(self.comm.allgather(bool(stop)))

    def shard_end_of_epoch(self, tallies, lr):
        """The epoch's logs from tallies = (weighted loss sum, correct count, weight sum)
        over every rank's rows: the same on every rank."""
        logs = self.logs(tallies, self.samples)
        if self.progress is not None:
            self.progress.on_chunk_end(self.samples, logs)
        return self.end_of_epoch(logs, lr)


class DataParallelTrainer(_ShardTrainer):
    """fit(comm=...): each step's gradient reduced over ranks (module docstring). Same
    constructor as Trainer, after comm."""

    def __init__(self, comm, *args):
        super().__init__(comm, *args)
        # The workspace (Trainer's, in parts as one process would cut the batch) and these
        # are kept across steps: the gradient, and the buffer of sums sent to rank 0.
        self.clip_norm = 0.0 if self._opt is None else self._opt[3]
        self._grads = np.empty_like(self.model.params)
        self._local = np.empty(self.model.params.size + 4)

    def samples_per_call(self):
        return min(self.data[0].shape[0], self.batch_size)  # a call per step

    def epoch(self, epoch):
        """One epoch; returns its logs (over every rank's rows, the same on every rank).
        Raises Diverged, on every rank at the same step, after restoring the parameters and
        optimizer state of the step before."""
        model, opt = self.model, self.optimizer
        if self.shuffle:
            self._order = self.order_rng.permutation(self.data[0].shape[0])
        tallies = np.zeros(3)  # weighted loss sum, correct count, weight sum
        lr = opt.lr
        for k in range(max(self.batches)):
            grads, step_tallies = self.exchange(self._local_sums(k * self.batch_size,
                                                                 opt.steps + 1))
            tallies += step_tallies
            if self.l2:  # the penalty's gradient, once for the global batch (step.py)
                for G, W in zip(model.views(grads)[0], model.views()[0]):
                    G += self.l2 * W
            grads = (grads / step_tallies[2]).astype(model.params.dtype)
            lr = batch_learning_rates(opt.lr, self.schedule, opt.steps, opt.epochs, 1)[0]
            model.snapshot(opt.state, into=self._snapshot)
            model.apply_gradient(grads, opt, self.clip_norm, lr)
            self.restore_if_diverged(step_tallies[0], f"in epoch {epoch + 1} at step {k + 1}",
                                     lr)
            opt.steps += 1
            self.stop_if_interrupted()
        return self.shard_end_of_epoch(tallies, lr)

    def _local_sums(self, start, step_number):
        """[weighted gradient sum..., loss sum, correct count, weight sum, (flag)] over this
        rank's rows order[start:start + batch_size] (all zero when it has none left), in
        float64."""
        local, n = self._local, self.data[0].shape[0]
        local[:] = 0
        if start < n:
            B = self.batch_size
            sums = self.model.batch_gradient(
                self._space, (self.data, self._order, start, min(start + B, n), B),
                self._grads, self._noise, step_number)
            local[:-4] = self._grads
            local[:-4] *= sums[2]  # the mean over this rank's rows, back to their sum
            local[-4:-1] = sums
        return local


class LocalSGDTrainer(_ShardTrainer):
    """fit(comm=..., average_every=H): each rank trains H batches of its shard per compiled
    call (the one-process Trainer's machinery), then the ranks average their parameters and
    optimizer state (module docstring). Same constructor as Trainer, after comm and H."""

    def __init__(self, comm, average_every, *args):
        self.average_every = average_every
        super().__init__(comm, *args)

    def samples_per_call(self):
        return min(self.data[0].shape[0], self.batch_size * self.average_every)  # a round

    def epoch(self, epoch):
        """One epoch of rounds of H local steps and an average; returns its logs (over every
        rank's rows, the same on every rank). Raises Diverged, on every rank in the same
        round, after restoring the state before that round."""
        model, opt, H, B = self.model, self.optimizer, self.average_every, self.batch_size
        n = self.data[0].shape[0]
        if self.shuffle:
            self._order = self.order_rng.permutation(n)
        tallies = np.zeros(3)  # weighted loss sum, correct count, weight sum
        mine = self.batches[self.comm.Get_rank()]
        lr = opt.lr
        for first in range(0, max(self.batches), H):
            steps = max(min(H, count - first) for count in self.batches)  # this round's
            local = min(H, mine - first)  # batches of this rank in this round (maybe none)
            lrs = np.array(batch_learning_rates(opt.lr, self.schedule, opt.steps, opt.epochs,
                                                steps))
            lr = float(lrs[-1])
            model.snapshot(opt.state, into=self._snapshot)
            stats = np.zeros(3)
            if local > 0:
                stats = model.train_chunk(
                    self._space, (self.data, self._order, first * B, min((first + local) * B,
                                                                         n), B),
                    (lrs, opt.steps, self.l2), self._opt, self._noise, self._optimizer_code)
            sums, round_tallies = self.exchange(np.concatenate(
                [model.params * stats[2], opt.state.ravel() * stats[2], stats, [0.0]]))
            tallies += round_tallies
            size = model.params.size
            model.params[:] = sums[:size] / round_tallies[2]
            opt.state.ravel()[:] = sums[size:] / round_tallies[2]
            self.restore_if_diverged(round_tallies[0], f"in epoch {epoch + 1} in round "
                                     f"{first // H + 1} of {H} local steps", lr)
            opt.steps += steps
            self.stop_if_interrupted()
        return self.shard_end_of_epoch(tallies, lr)
