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

Works with mpi4py communicators (``mpi4py.MPI.COMM_WORLD``) or anything with the same
``Get_rank``, ``Get_size``, ``Gather``, ``Bcast``, ``allgather`` and ``Abort`` methods.
"""

import math
import sys
import traceback

import numpy as np

from .schedules import batch_learning_rates
from .training import Diverged, epoch_logs

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


def check_same_on_ranks(comm, **settings):
    """Raise ValueError on every rank unless every rank has the same settings (name=value),
    which decide what collective calls a rank makes (a rank that skipped one would leave the
    others waiting)."""
    seen = comm.allgather(settings)
    if any(other != settings for other in seen):
        raise ValueError(f"every rank must call fit with the same {', '.join(settings)}: "
                         f"the ranks have {seen}")


def abort_on_error(comm, work):
    """Run work(); if it raises on a rank of a multi-rank job, print the error and abort
    the job (the other ranks would wait for this one forever in the next collective)."""
    try:
        return work()
    except BaseException:
        if comm.Get_size() == 1:
            raise
        print(f"fastbp: rank {comm.Get_rank()} failed; aborting the MPI job:\n"
              f"{traceback.format_exc()}", file=sys.stderr, flush=True)
        comm.Abort(1)
        raise


class DataParallelTrainer:
    """Runs the epochs of a ``fit(comm=...)`` on this rank's validated shard, with the
    interface training.train expects (``epoch``, ``progress``).

    model is the network's engine.Model (parameters already broadcast), rates its dropout
    rates per layer, data the shard's (X, Y, sample weights), validate a function of no
    argument returning the validation logs over every rank's validation shard (or None).
    """

    def __init__(self, comm, model, rates, data, batch_size, optimizer, schedule, clip_norm,
                 order_rng, shuffle, validate, progress):
        self.comm, self.model, self.data = comm, model, data
        self.batch_size, self.optimizer, self.schedule = batch_size, optimizer, schedule
        self.clip_norm, self.order_rng, self.shuffle = clip_norm or 0.0, order_rng, shuffle
        self.validate, self.progress = validate, progress
        optimizer.bind(model.params)
        n = data[0].shape[0]
        counts = comm.allgather(n)
        self.samples = sum(counts)  # over all ranks, for the epoch's accuracy
        self.steps = max(-(-count // batch_size) for count in counts)
        self._order = np.arange(n)
        self._snapshot = model.empty_snapshot(optimizer.state)
        self._noise = None
        if rates.any():  # masks differ by rank: the seed differs by rank, deterministically
            seed = int(order_rng.integers(1, 2 ** 62)) ^ (comm.Get_rank() << 40)
            self._noise = (rates, seed)

    def epoch(self, epoch):
        """One epoch; returns its logs (over every rank's rows, the same on every rank).
        Raises Diverged, on every rank at the same step, after restoring the parameters and
        optimizer state of the step before."""
        model, opt = self.model, self.optimizer
        X, Y, weights = self.data
        if self.shuffle:
            self._order = self.order_rng.permutation(X.shape[0])
        tallies = np.zeros(3)  # weighted loss sum, correct count, weight sum
        lr = opt.lr
        B = self.batch_size
        for k in range(self.steps):
            total = sum_over_ranks(self.comm, self._local_sums(self._order[k * B:(k + 1) * B],
                                                               opt.steps + 1))
            tallies += total[-3:]
            grads = (total[:-3] / total[-1]).astype(model.params.dtype)
            lr = batch_learning_rates(opt.lr, self.schedule, opt.steps, opt.epochs, 1)[0]
            model.snapshot(opt.state, into=self._snapshot)
            model.apply_gradient(grads, opt, self.clip_norm, lr)
            if not (math.isfinite(total[-3]) and np.isfinite(model.params).all()):
                model.restore(self._snapshot, opt.state)
                raise Diverged(
                    f"training diverged in epoch {epoch + 1} at step {k + 1} (a loss or "
                    f"parameter became NaN or inf); the parameters were restored to their "
                    f"last finite state. Try a smaller learning rate than lr={lr:g}.")
            opt.steps += 1
        opt.epochs += 1
        logs = epoch_logs(model.loss_code, model.sizes[-1], tallies[0], tallies[2], tallies[1],
                          self.samples)
        if self.progress is not None:
            self.progress.on_chunk_end(self.samples, logs)
        validation_logs = self.validate()
        if validation_logs is not None:
            logs.update(validation_logs)
        logs["lr"] = lr
        return logs

    def _local_sums(self, rows, step_number):
        """[weighted gradient sum over rows..., loss sum, correct count, weight sum] of this
        rank's rows (all zero when it has none left), in float64."""
        local = np.zeros(self.model.params.size + 3)
        if rows.size:
            X, Y, weights = self.data
            grads, space = self.model.gradient(X[rows], Y[rows], weights[rows], self._noise,
                                               step_number)
            loss, correct, weight = space[3][0, :3]
            local[:-3] = grads
            local[:-3] *= weight  # the mean over this rank's rows, back to their sum
            local[-3:] = (loss, correct, weight)
        return local
