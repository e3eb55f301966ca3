"""The Python side of fit: epochs, shuffling, chunks of compiled work, learning rates,
callbacks, progress, divergence and Ctrl-C.

The compiled loop runs a chunk of mini-batches (about 0.1 s of work) per call, so Python is
back in control often enough for progress output, Ctrl-C and divergence checks while costing
nothing measurable per mini-batch.
"""

import math
import threading
import warnings

import numba
import numpy as np

from .callbacks import ProgressBar
from .functions import BINARY_CROSS_ENTROPY, MSE
from .kernels.halves import PARTS, train_halves_on_one_thread, train_part
from .kernels.loop import train_batches
from .kernels.sync import ABORT
from .layout import workspace_size
from .schedules import batch_learning_rates
from .threads import blas_threads_for_training, trains_in_halves

# Floating-point work per compiled call; sets the chunk length (see module docstring).
_CHUNK_FLOP = 1e10
_MAX_CHUNK_SAMPLES = 1 << 16
# None: chunks of about _CHUNK_FLOP of work. An integer: exactly this many batches per
# compiled call, so tests can make every epoch cross several calls and check what carries
# from one to the next (step count, learning rates, dropout masks, the restore snapshot).
CHUNK_BATCHES = None


class History:
    """Per-epoch training record, as returned by :meth:`fastbp.Network.fit`.

    Attributes
    ----------
    history : dict of str to list of float
        ``"loss"`` (mean training loss over the epoch's mini-batches, each measured before
        its update), ``"accuracy"`` for classification losses, ``"val_loss"`` /
        ``"val_accuracy"`` with validation data, and ``"lr"`` (the last batch's rate).
    epoch : list of int
        The epoch numbers (0-based) that completed.
    """

    def __init__(self):
        self.history = {}
        self.epoch = []

    def _append(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


class Diverged(FloatingPointError):
    """Training produced a non-finite loss or parameter; the parameters were restored."""


def flop_per_sample(sizes):
    """Floating-point operations of one training step per sample (design.md, section 1)."""
    pairs = sum(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    return 6 * pairs - 2 * sizes[0] * sizes[1]


def epoch_logs(net, loss_sum, weight_sum, correct, samples, prefix=""):
    """{"loss": weighted mean loss} plus "accuracy" for classification losses (correct
    argmax rows for cross_entropy, correct outputs for binary_cross_entropy)."""
    logs = {prefix + "loss": float(loss_sum / weight_sum)}
    if net._loss_code != MSE:
        per = samples * net.sizes[-1] if net._loss_code == BINARY_CROSS_ENTROPY else samples
        logs[prefix + "accuracy"] = float(correct / per)
    return logs


def chunk_samples(sizes, batch_size):
    """Samples per compiled call: a whole number of batches, about _CHUNK_FLOP of work
    (CHUNK_BATCHES batches when set)."""
    if CHUNK_BATCHES is not None:
        return batch_size * CHUNK_BATCHES
    samples = min(_MAX_CHUNK_SAMPLES, _CHUNK_FLOP / flop_per_sample(sizes))
    return batch_size * max(1, int(samples) // batch_size)


def _all_finite(values):
    """Whether values holds no NaN or inf, by one sum (NumPy's warning for inf + -inf is
    silenced: the caller reports divergence itself)."""
    with np.errstate(invalid="ignore"):
        return math.isfinite(values.sum(dtype=np.float64))


class Trainer:
    """Runs the epochs of one ``fit`` call on validated arrays (see Network.fit)."""

    def __init__(self, net, data, batch_size, optimizer, schedule, clip_norm, order_rng,
                 shuffle, validation, callbacks, progress):
        self.net, self.data = net, data  # data: validated (X, Y, sample weights)
        self.batch_size, self.optimizer, self.schedule = batch_size, optimizer, schedule
        self.order_rng, self.shuffle, self.validation = order_rng, shuffle, validation
        self.callbacks, self.progress = callbacks, progress
        params = net._params
        optimizer.bind(params)
        fused = optimizer.fuses_into_gradient and not clip_norm
        # None for plain SGD (its update is fused into the gradient product): the compiled
        # loops then compile no optimizer step.
        self._opt = None if fused else (optimizer.code, optimizer.hyper(), np.empty_like(params),
                                        optimizer.state, float(clip_norm or 0.0))
        self.halves = trains_in_halves(flop_per_sample(net.sizes) * batch_size,
                                       with_step=not fused)
        self._sync = np.zeros(2, dtype=np.int64)  # the halves' barrier count and abort flag
        self._ws = np.empty(workspace_size(net.sizes, batch_size), dtype=net.dtype)
        self._last_params = np.empty_like(params)
        self._last_state = np.empty_like(optimizer.state)
        self._order = np.arange(data[0].shape[0])
        # Dropout masks come from the fit's random stream (drawn only when dropout is on, so
        # fits without it keep the same shuffles).
        seed = int(order_rng.integers(1, 2 ** 62)) if net._rates.any() else 0
        self._noise = (net._rates, seed)
        self._halves_noise = self._noise if net._rates.any() else None  # None: no dropout code

    def _train_in_halves(self, start, stop, stats, lrs):
        """train_batches' work as two halves (kernels/halves.py): part 1 on a helper thread
        and part 0 on this one when Numba may use two threads, else both here."""
        net = self.net
        partial = np.zeros((PARTS, 4))
        args = (self.data, self._order, start, stop, self.batch_size, net._params, net._table,
                net._loss_code, self._ws, lrs, self.optimizer.steps, self._opt,
                self._halves_noise, partial)
        if numba.get_num_threads() < PARTS:
            train_halves_on_one_thread(*args)
        else:
            self._sync[:] = 0
            errors = []

            def run(part):
                try:
                    train_part(part, *args, self._sync)
                except BaseException as error:
                    errors.append(error)
                    self._sync[ABORT] = 1  # the other part must not wait forever

            helper = threading.Thread(target=run, args=(1,), name="fastbp-half", daemon=True)
            helper.start()
            run(0)
            helper.join()
            if errors:  # the chunk is unusable: back to its start
                net._params[:] = self._last_params
                self.optimizer.state[:] = self._last_state
                raise errors[0]
        stats += partial[0, :3] + partial[1, :3]

    def epoch(self, epoch):
        """One epoch; returns its logs. Raises Diverged after restoring the last good state."""
        net, opt, n = self.net, self.optimizer, self.data[0].shape[0]
        if self.shuffle:
            self._order = self.order_rng.permutation(n)
        stats = np.zeros(3)
        chunk = chunk_samples(net.sizes, self.batch_size)
        lr = opt.lr
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            n_batches = -(-(stop - start) // self.batch_size)
            lrs = np.array(batch_learning_rates(opt.lr, self.schedule, opt.steps, opt.epochs,
                                                n_batches))
            lr = float(lrs[-1])
            self._last_params[:] = net._params
            self._last_state[:] = opt.state
            if self.halves:
                self._train_in_halves(start, stop, stats, lrs)
            else:
                train_batches(self.data, self._order, start, stop, self.batch_size,
                              net._params, net._table, net._loss_code, self._ws, stats, lrs,
                              opt.steps, self._opt, self._noise)
            if not (math.isfinite(stats[0]) and _all_finite(net._params)):
                net._params[:] = self._last_params
                opt.state[:] = self._last_state
                raise Diverged(
                    f"training diverged in epoch {epoch + 1} between samples {start} and "
                    f"{stop} of the shuffled order (a loss or parameter became NaN or inf); "
                    f"the parameters were restored to their last finite state. Try a smaller "
                    f"learning rate than lr={lr:g}.")
            opt.steps += n_batches
            if self.progress is not None:
                self.progress.on_chunk_end(
                    stop, epoch_logs(net, stats[0], stats[2], stats[1], stop))
        opt.epochs += 1
        logs = epoch_logs(net, stats[0], stats[2], stats[1], n)
        if self.validation is not None:
            logs.update(net._evaluate_arrays(*self.validation, prefix="val_"))
        logs["lr"] = lr
        return logs


def train(trainer, epochs, on_divergence):
    """Run the epochs with the callbacks; return a History.

    Ctrl-C stops after the current chunk, keeping every completed mini-batch, and returns
    the history so far. On divergence the parameters (and optimizer state) go back to their
    state before the chunk that produced a non-finite value; then ``on_divergence="raise"``
    raises FloatingPointError, ``"warn"`` warns and returns the history so far.
    """
    net = trainer.net
    history = History()
    callbacks = list(trainer.callbacks)
    if trainer.progress is not None:
        callbacks.append(trainer.progress)
    net.stop_training = False
    for cb in callbacks:
        cb.set_model(net)
        cb.on_train_begin({})
    try:
        with blas_threads_for_training(flop_per_sample(net.sizes) * trainer.batch_size,
                                       trainer.halves):
            _run_epochs(trainer, epochs, on_divergence, callbacks, history)
    except KeyboardInterrupt:
        warnings.warn(f"fit interrupted: stopped after {len(history.epoch)} complete epochs; "
                      f"the parameters are those of the last completed mini-batch",
                      RuntimeWarning, stacklevel=3)
    finally:
        for cb in callbacks:
            cb.on_train_end({})
    return history


def _run_epochs(trainer, epochs, on_divergence, callbacks, history):
    for epoch in range(epochs):
        if trainer.progress is not None:
            trainer.progress.on_epoch_begin(epoch)
        try:
            logs = trainer.epoch(epoch)
        except Diverged as error:
            if on_divergence == "raise":
                raise
            warnings.warn(str(error), RuntimeWarning, stacklevel=4)
            return
        history._append(epoch, logs)
        stop = [cb.on_epoch_end(epoch, logs) for cb in callbacks]
        if any(stop) or trainer.net.stop_training:
            return


def make_progress(verbose, epochs, n_samples):
    """The progress reporter for fit's verbose level (0: none, 1: bar, 2: a line per epoch)."""
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1 or 2, got {verbose!r}")
    if verbose == 0:
        return None
    return ProgressBar(epochs, n_samples, bar=verbose == 1)
