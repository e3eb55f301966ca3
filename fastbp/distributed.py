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

import socket
import sys
import time
import traceback

import numpy as np

from .engine import Tallies, share_cores
from .training import Diverged, Trainer, make_progress, train

ABORT_PAUSE_S = 2.0  # between a failed rank's message and its abort of the job
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


def fit_on_ranks(net, model, comm, prepare):
    """Network.fit(..., comm=comm) of net, whose engine.Model is model, on this rank's shard:
    prepare() checks fit's arguments and returns (data, plan) as for a one-process fit (a
    rank whose checks fail aborts the job, as any failing rank does)."""
    check_comm(comm)
    return abort_on_error(comm, lambda: _fit_shard(net, model, comm, *prepare()))


def _fit_shard(net, model, comm, data, plan):
    # The same collective calls on every rank, or a hang: the same settings, and the same
    # batch_size (not cut to the shard) for the rounds every rank counts.
    check_same_on_ranks(comm, epochs=plan.epochs, batch_size=plan.batch_size,
                        average_every=plan.average_every,
                        validation=plan.validation is not None)
    comm.Bcast(net.params, root=0)  # every rank starts from rank 0's parameters
    kind = DataParallelTrainer if plan.average_every is None else LocalSGDTrainer
    trainer = kind(comm, model, data, plan)
    hosts = comm.allgather(socket.gethostname())
    with share_cores(hosts.count(hosts[comm.Get_rank()])):  # the ranks on this machine
        return train(net, trainer)


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
        # The process manager forwards a rank's stderr asynchronously and an abort can
        # kill it before the message is through (seen under load with MPICH's Hydra):
        # the message is worth a pause on a path that ends the job anyway.
        time.sleep(ABORT_PAUSE_S)
        comm.Abort(1)
        raise


class _ShardTrainer(Trainer):
    """What both data-parallel trainers add to the one-process Trainer: the shard sizes of
    every rank (batch_size, not cut to a shard, is the same on every rank), dropout masks
    that differ by rank, the exchange of each step's sums with the ranks' tallies and stop
    requests, logs over every rank's rows, callbacks that write files on rank 0 only."""

    cuts_batch_to_data = False

    def __init__(self, comm, model, data, plan):
        self.comm = comm  # before the session: the masks' seed reads the rank
        super().__init__(model, data, plan)
        self._any_interrupted = False
        counts = comm.allgather(data.X.shape[0])
        self.samples = sum(counts)  # over all ranks, for the epoch's accuracy
        self.batches = [-(-count // self.batch_size) for count in counts]  # per rank
        rank = comm.Get_rank()
        self.progress = make_progress(plan.verbose if rank == 0 else 0, plan.epochs,
                                      self.samples)
        if rank != 0:  # one rank writes the checkpoints and logs
            self.callbacks = [cb for cb in self.callbacks if not cb.writes_files]

    def mask_seed(self, seed):
        """Masks differ by rank, deterministically."""
        return seed ^ (self.comm.Get_rank() << 40)

    def exchange(self, local, size):
        """Sum local = [values (size of them)..., Tallies fields..., Ctrl-C flag] over ranks,
        in rank order, with this rank's flag set; return the summed values and Tallies and
        note whether any rank had Ctrl-C."""
        local[-1] = self.interrupted
        total = sum_over_ranks(self.comm, local)
        self._any_interrupted = bool(total[-1])
        return total[:size], Tallies.from_array(total[size:-1])

    def after_call(self, tallies):
        """After a step: stop every rank (the same step on each) if one had Ctrl-C."""
        if self._any_interrupted:
            raise KeyboardInterrupt

    def second_interrupt(self):
        """A second Ctrl-C on a rank: an error, which aborts the job."""
        raise RuntimeError("interrupted twice")

    def agree_to_stop(self, stop):
        """Whether any rank's callbacks asked to stop after this epoch (a Ctrl-C flag waits
        for the next step's exchange, so that every rank stops after the same step)."""
        return any(self.comm.allgather(bool(stop)))

    def end_of_epoch(self, logs, lr):
        """Show the epoch's progress over every rank's rows (only now known), then end it."""
        if self.progress is not None:
            self.progress.on_chunk_end(self.samples, logs)
        return super().end_of_epoch(logs, lr)

    def validation_tallies(self, data):
        """The validation Tallies over every rank's validation rows, the same on every
        rank."""
        local = super().validation_tallies(data).to_array()
        return Tallies.from_array(sum_over_ranks(self.comm, local))


def _exchange_buffer(size):
    """A float64 buffer for size values, the Tallies fields and a flag (exchange)."""
    return np.zeros(size + len(Tallies._fields) + 1)


class DataParallelTrainer(_ShardTrainer):
    """fit(comm=...): each step's gradient reduced over ranks (module docstring): a call
    per step."""

    batches_per_call = 1

    def __init__(self, comm, model, data, plan):
        super().__init__(comm, model, data, plan)
        # Kept across steps: the buffer of sums sent to rank 0.
        self._local = _exchange_buffer(model.params.size)

    def calls(self):
        for k in range(max(self.batches)):
            yield k, 1

    def where(self, first, count):
        return f"at step {first + 1}"

    def one_call(self, k, count, lrs):
        """Step k of the epoch: this rank's gradient sum, summed over ranks, applied as the
        weighted mean over the global batch; returns the global batch's tallies."""
        model, size = self.model, self.model.params.size
        grads, tallies = self.exchange(self._local_sums(k, self.optimizer.steps + 1), size)
        if self.plan.l2:  # the penalty's gradient, once for the global batch (step.py)
            model.add_weight_multiple(grads, self.plan.l2)
        self.session.apply((grads / tallies.weight).astype(model.params.dtype), float(lrs[0]))
        return tallies

    def _local_sums(self, k, step_number):
        """The exchange buffer holding [weighted gradient sum..., Tallies..., (flag)] of this
        rank's batch k (all zero when it has none left), in float64."""
        local, size = self._local, self.model.params.size
        local[:] = 0
        if k < self.batches[self.comm.Get_rank()]:
            tallies = self.session.gradient(self._order, k, step_number)
            local[:size] = self.session.grads
            local[:size] *= tallies.weight  # the mean over this rank's rows, back to their sum
            local[size:-1] = tallies.to_array()
        return local


class LocalSGDTrainer(_ShardTrainer):
    """fit(comm=..., average_every=H): each rank trains H batches of its shard per compiled
    call (the one-process Trainer's machinery), then the ranks average their parameters and
    optimizer state (module docstring): a call per round."""

    @property
    def batches_per_call(self):
        return self.plan.average_every

    def calls(self):
        H = self.plan.average_every
        for first in range(0, max(self.batches), H):
            yield first, max(min(H, count - first) for count in self.batches)  # this round's

    def where(self, first, count):
        H = self.plan.average_every
        return f"in round {first // H + 1} of {H} local steps"

    def one_call(self, first, steps, lrs):
        """The round of batches [first, first + steps) of the epoch: this rank's batches of
        it (maybe none) trained locally, then the average over ranks of the parameters and
        optimizer state, weighted by the rows' weights; returns the round's tallies."""
        model, opt = self.model, self.optimizer
        local = min(steps, self.batches[self.comm.Get_rank()] - first)
        stats = Tallies()
        if local > 0:
            stats = super(_ShardTrainer, self).one_call(first, local, lrs)
        n_params = model.params.size
        size = n_params + opt.state.size
        buffer = _exchange_buffer(size)
        buffer[:n_params] = model.params  # in float64, then weighted: sums of exact products
        buffer[n_params:size] = opt.state.ravel()
        buffer[:size] *= stats.weight
        buffer[size:-1] = stats.to_array()
        sums, tallies = self.exchange(buffer, size)
        model.params[:] = sums[:n_params] / tallies.weight
        opt.state.ravel()[:] = sums[n_params:] / tallies.weight
        return tallies
