"""The Python side of fit: epochs, shuffling, chunks of compiled work, learning rates,
callbacks, progress, divergence and Ctrl-C.

The compiled loop runs a chunk of mini-batches (about 0.1 s of work) per call, so Python is
back in control often enough for progress output, Ctrl-C and divergence checks while costing
nothing measurable per mini-batch.
"""

import contextlib
import math
import warnings

import numpy as np

from .callbacks import ProgressBar
from .engine.codes import BINARY_CROSS_ENTROPY, MSE
from .engine.parallel import training_parts
from .schedules import batch_learning_rates

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

    def plot(self, path=None):
        """Draw the loss and accuracy per epoch, training and validation, with matplotlib;
        save the figure to path when given. Returns the figure (fastbp.plotting)."""
        from .plotting import plot_history
        return plot_history(self, path)


class Diverged(FloatingPointError):
    """Training produced a non-finite loss or parameter; the parameters were restored."""


def flop_per_sample(sizes):
    """Floating-point operations of one training step per sample: 6 per weight (forward,
    delta and gradient products, 2 each) less the first layer's delta product."""
    pairs = sum(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    return 6 * pairs - 2 * sizes[0] * sizes[1]


def epoch_logs(loss_code, n_outputs, loss_sum, weight_sum, correct, samples, prefix=""):
    """{"loss": weighted mean loss} plus "accuracy" for classification losses (correct
    argmax rows for cross_entropy, correct outputs for binary_cross_entropy)."""
    logs = {prefix + "loss": float(loss_sum / weight_sum)}
    if loss_code != MSE:
        per = samples * n_outputs if loss_code == BINARY_CROSS_ENTROPY else samples
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
    """Runs the epochs of one ``fit`` call on validated arrays (see Network.fit).

    model is the network's engine.Model, rates its dropout rates per layer (the output
    layer's 0), validate a function of no argument returning the validation logs (or None),
    data the validated (X, Y, sample weights).
    """

    def __init__(self, model, rates, data, batch_size, optimizer, schedule, clip_norm, l2,
                 order_rng, shuffle, validate, progress):
        self.model, self.data, self.batch_size = model, data, batch_size
        self.l2 = l2
        self.optimizer, self.schedule = optimizer, schedule
        self.order_rng, self.shuffle, self.validate = order_rng, shuffle, validate
        self.progress = progress
        optimizer.bind(model.params)
        fused = optimizer.fuses_into_gradient and not clip_norm
        # None for plain SGD (its update is fused into the gradient product): the compiled
        # loops then compile no optimizer step.
        self._opt = None if fused else (optimizer.hyper(), np.empty_like(model.params),
                                        optimizer.state, float(clip_norm or 0.0))
        self._optimizer_code = None if fused else optimizer.code
        self.flop_per_batch = flop_per_sample(model.sizes) * batch_size
        self.parts = training_parts(self.flop_per_batch,
                                    flop_per_sample(model.sizes) * self.samples_per_call())
        self._space = model.space(batch_size, self.parts)
        self._order = np.arange(data[0].shape[0])
        self._snapshot = model.empty_snapshot(optimizer.state)
        # Dropout masks come from the fit's random stream, drawn only when dropout is on (so
        # fits without it keep the same shuffles). None: no dropout code is compiled.
        self._noise = None
        if rates.any():
            self._noise = (rates, int(order_rng.integers(1, 2 ** 62)))

    def samples_per_call(self):
        """Rows of this process's data that one compiled call trains on (at most)."""
        return min(self.data[0].shape[0], chunk_samples(self.model.sizes, self.batch_size))

    def epoch(self, epoch):
        """One epoch; returns its logs. Raises Diverged after restoring the last good state."""
        model, opt, n = self.model, self.optimizer, self.data[0].shape[0]
        if self.shuffle:
            self._order = self.order_rng.permutation(n)
        stats = np.zeros(3)
        chunk = chunk_samples(model.sizes, self.batch_size)
        lr = opt.lr
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            n_batches = -(-(stop - start) // self.batch_size)
            lrs = np.array(batch_learning_rates(opt.lr, self.schedule, opt.steps, opt.epochs,
                                                n_batches))
            lr = float(lrs[-1])
            model.snapshot(opt.state, into=self._snapshot)
            try:
                stats += model.train_chunk(
                    self._space, (self.data, self._order, start, stop, self.batch_size),
                    (lrs, opt.steps, self.l2), self._opt, self._noise, self._optimizer_code)
            except KeyboardInterrupt:  # the chunk completed: keep it
                raise
            except BaseException:  # the chunk is unusable: back to its start
                model.restore(self._snapshot, opt.state)
                raise
            self.restore_if_diverged(stats[0], f"in epoch {epoch + 1} between samples {start} "
                                     f"and {stop} of the shuffled order", lr)
            opt.steps += n_batches
            if self.progress is not None:
                self.progress.on_chunk_end(stop, self.logs(stats, stop))
        return self.end_of_epoch(self.logs(stats, n), lr)

    def restore_if_diverged(self, loss_sum, where, lr):
        """After the work since the last snapshot: if loss_sum or a parameter is not
        finite, restore the snapshot and raise Diverged saying where (and lr)."""
        if math.isfinite(loss_sum) and _all_finite(self.model.params):
            return
        self.model.restore(self._snapshot, self.optimizer.state)
        raise Diverged(
            f"training diverged {where} (a loss or parameter became NaN or inf); the "
            f"parameters were restored to their last finite state. Try a smaller learning "
            f"rate than lr={lr:g}.")

    def end_of_epoch(self, logs, lr):
        """Count the epoch; return its training logs with the validation logs and the last
        batch's learning rate lr."""
        self.optimizer.epochs += 1
        validation_logs = self.validate()
        if validation_logs is not None:
            logs.update(validation_logs)
        logs["lr"] = lr
        return logs

    def interrupts(self):
        """The context in which the epochs run; Ctrl-C raises KeyboardInterrupt as usual."""
        return contextlib.nullcontext()

    def agree_to_stop(self, stop):
        """Whether to stop after this epoch, given whether the callbacks asked to."""
        return stop

    def logs(self, stats, samples):
        """The epoch logs of (weighted loss sum, correct count, weight sum) over samples."""
        return epoch_logs(self.model.loss_code, self.model.sizes[-1], stats[0], stats[2],
                          stats[1], samples)


def train(net, trainer, epochs, callbacks, on_divergence):
    """Run the epochs with the callbacks; return a History.

    Ctrl-C stops after the current chunk, keeping every completed mini-batch, and returns
    the history so far. On divergence the parameters (and optimizer state) go back to their
    state before the chunk that produced a non-finite value; then ``on_divergence="raise"``
    raises FloatingPointError, ``"warn"`` warns and returns the history so far.
    """
    history = History()
    callbacks = list(callbacks)
    if trainer.progress is not None:
        callbacks.append(trainer.progress)
    net.stop_training = False
    for cb in callbacks:
        cb.set_model(net)
        cb.on_train_begin({})
    try:
        with trainer.interrupts():
            _run_epochs(net, trainer, epochs, on_divergence, callbacks, history)
    except KeyboardInterrupt:
        warnings.warn(f"fit interrupted: stopped after {len(history.epoch)} complete epochs; "
                      f"the parameters are those of the last completed mini-batch",
                      RuntimeWarning, stacklevel=3)
    finally:
        for cb in callbacks:
            cb.on_train_end({})
    return history


def _run_epochs(net, trainer, epochs, on_divergence, callbacks, history):
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
        if trainer.agree_to_stop(any(stop) or net.stop_training):
            return


def make_progress(verbose, epochs, n_samples):
    """The progress reporter for fit's verbose level (0: none, 1: bar, 2: a line per epoch)."""
    if verbose == 0:
        return None
    return ProgressBar(epochs, n_samples, bar=verbose == 1)
