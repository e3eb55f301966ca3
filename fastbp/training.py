"""The Python side of fit: epochs, shuffling, chunks of compiled work, learning rates,
callbacks, progress, divergence and Ctrl-C.

The compiled loop runs a chunk of mini-batches (about 0.1 s of work) per call, so Python is
back in control often enough for progress output, Ctrl-C and divergence checks while costing
nothing measurable per mini-batch.
"""

import contextlib
import math
import signal
import threading
import warnings

import numpy as np

from .callbacks import ProgressBar
from .engine import Tallies
from .engine.codes import BINARY_CROSS_ENTROPY, CROSS_ENTROPY
from .schedules import batch_learning_rates


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
    layers : dict of str to ndarray of shape (epochs, layers)
        With ``fit(track_layers=True)``, for every epoch and every layer l (0: the first
        hidden layer, the last: the output layer): ``"delta_rms"``, the root mean square of
        the error delta^l = w_i dloss_i/dz^l over the epoch's samples and the layer's units;
        ``"grad_norm"``, the root mean square of ||grad W^l|| (the mean gradient of a batch,
        with the L2 term, before clipping) over 16 to 31 evenly spaced steps of the epoch
        (steps 1, 1 + s, 1 + 2s, ... with s = max(1, steps // 16); each costs passes over
        all the weights); ``"weight_norm"``, ||W^l|| at the epoch's end;
        ``"update_ratio"``, the root mean square over the same steps of ||change of W^l||
        in the step, divided by that ||W^l||; ``"dead_fraction"``, the fraction of
        the layer's units whose activation derivative stayed below 1e-3 of the
        activation's largest one on every sample of the epoch (NaN for the output layer).
        Empty without tracking.
    """

    def __init__(self):
        self.history = {}
        self.epoch = []
        self._layers = {}

    @property
    def layers(self):
        return {key: np.array(rows) for key, rows in self._layers.items()}

    def _append(self, epoch, logs, layers=None):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)
        for key, row in (layers or {}).items():
            self._layers.setdefault(key, []).append(row)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"

    def plot(self, path=None):
        """Draw the loss and accuracy per epoch, training and validation, and the per-layer
        record when there is one (a panel per quantity), with matplotlib; save the figure
        to path when given. Returns the figure (fastbp.plotting)."""
        from .plotting import plot_history
        return plot_history(self, path)


class Diverged(FloatingPointError):
    """Training produced a non-finite loss or parameter; the parameters were restored."""


def epoch_logs(loss_code, n_outputs, tallies, prefix=""):
    """{"loss": weighted mean loss} plus "accuracy" for classification losses (correct
    argmax rows for cross_entropy, correct outputs for binary_cross_entropy), of the Tallies
    of a run over some rows."""
    logs = {prefix + "loss": float(tallies.loss / tallies.weight)}
    if loss_code in (CROSS_ENTROPY, BINARY_CROSS_ENTROPY):  # classifiers only
        per = tallies.rows * (n_outputs if loss_code == BINARY_CROSS_ENTROPY else 1)
        logs[prefix + "accuracy"] = float(tallies.correct / per)
    return logs


def predictions(loss_name, a):
    """What predict returns for the outputs a of a network with this loss: class indices
    (cross_entropy), 0/1 integers (binary_cross_entropy) or the outputs (mse, poisson: the
    rates); shape (n,) for one output unit."""
    if loss_name == "cross_entropy":
        return a.argmax(axis=1)
    if loss_name == "binary_cross_entropy":
        a = (a > 0.5).astype(np.int64)
    return a[:, 0] if a.shape[1] == 1 else a


def _all_finite(values):
    """Whether values holds no NaN or inf, by one sum (NumPy's warning for inf + -inf is
    silenced: the caller reports divergence itself)."""
    with np.errstate(invalid="ignore"):
        return math.isfinite(values.sum(dtype=np.float64))


def block_order(rng, n, block):
    """A permutation of range(n) from rng: the blocks [s, s + block) in random order, the
    rows within each in random order."""
    starts = rng.permutation(np.arange(0, n, block))
    return np.concatenate([s + rng.permutation(min(block, n - s)) for s in starts])


class Trainer:
    """Runs the epochs of one ``fit`` call: model (the network's engine.Model) trained on
    data (engine.Data, validated) as plan (plan.FitPlan) says, through the fit's
    engine.Session.

    An epoch is a sequence of calls, each on a range of the epoch's batches (``calls``):
    around each, the learning rates, a snapshot to go back to, the divergence check and the
    step count; ``one_call`` trains one range and returns its Tallies. Here a call is a
    chunk of batches in one compiled loop; the data-parallel trainers (fastbp.distributed)
    override the calls, what one does, and what follows it.
    """

    cuts_batch_to_data = True  # a batch larger than the data is the data
    batches_per_call = None  # by the session's rule: about config.CHUNK_FLOP of work

    def __init__(self, model, data, plan):
        self.model, self.data, self.plan = model, data, plan
        self.optimizer = opt = plan.optimizer
        n = data.X.shape[0]
        batch_size = min(plan.batch_size, n) if self.cuts_batch_to_data else plan.batch_size
        self.samples = n  # the rows of one epoch
        self.callbacks = list(plan.callbacks)
        self.progress = make_progress(plan.verbose, plan.epochs, n)
        self.interrupted = False  # Ctrl-C was pressed (interrupts)
        self.interrupted_twice = False
        # Dropout masks come from the network's mask stream, whose seed is drawn from the
        # random stream only when dropout is on (so fits without it keep the same shuffles).
        mask_seed = 0
        if plan.rates.any():
            mask_seed = self.mask_seed(plan.masks.fit_seed(plan.order_rng, opt.steps))
        self.session = model.session(
            data, opt, batch_size, clip_norm=plan.clip_norm, l2=plan.l2,
            dropout_rates=plan.rates, mask_seed=mask_seed, track_layers=plan.track_layers,
            batches_per_call=self.batches_per_call)
        self.batch_size = batch_size
        self._order = np.arange(n)

    def mask_seed(self, seed):
        """The seed of this process's dropout masks, from the fit's."""
        return seed

    def calls(self):
        """(first batch, batches) of each call of an epoch: chunks of about
        config.CHUNK_FLOP of work."""
        per_call = self.session.batches_per_call
        total = self.session.epoch_steps()
        for first in range(0, total, per_call):
            yield first, min(per_call, total - first)

    def one_call(self, first, count, lrs):
        """Train batches [first, first + count) of the epoch at the learning rates lrs in one
        compiled loop; return their Tallies."""
        return self.session.train(self._order, first, count, lrs)

    def where(self, first, count):
        """Where in an epoch the call on batches [first, first + count) is, in words."""
        batches = self.session.batches(self._order, first, count)
        return (f"between samples {batches.start} and {batches.stop} of the shuffled "
                f"order")

    def after_call(self, tallies):
        """After each call: stop if Ctrl-C was pressed (interrupts), else show the progress
        so far (tallies summed over the epoch's calls)."""
        if self.interrupted:
            raise KeyboardInterrupt
        if self.progress is not None:
            self.progress.on_chunk_end(int(tallies.rows), self.logs(tallies))

    def epoch(self, epoch):
        """One epoch; returns its logs. Raises Diverged after restoring the state before the
        call that diverged."""
        opt, session = self.optimizer, self.session
        n = self.data.X.shape[0]
        if self.plan.shuffle == "blocks":
            self._order = block_order(self.plan.order_rng, n, session.block_rows())
        elif self.plan.shuffle:
            self._order = self.plan.order_rng.permutation(n)
        tallies = Tallies()
        session.start_epoch()
        lr = opt.lr
        for first, count in self.calls():
            lrs = np.array(batch_learning_rates(opt.lr, self.plan.schedule, opt.steps,
                                                opt.epochs, count))
            lr = float(lrs[-1])
            session.snapshot()
            try:
                tallies += self.one_call(first, count, lrs)
            except KeyboardInterrupt:  # the call completed (parallel.run_team): keep it
                raise
            except BaseException:  # the call is unusable: back to its start
                session.restore()
                raise
            self.restore_if_diverged(tallies.loss, lr, epoch, first, count)
            opt.steps += count
            self.plan.masks.batches += count
            self.after_call(tallies)
        return self.end_of_epoch(self.logs(tallies), lr)

    def restore_if_diverged(self, loss_sum, lr, epoch, first, count):
        """After the call on batches [first, first + count) of epoch: if loss_sum or a
        parameter is not finite, restore the snapshot and raise Diverged saying where (and
        lr); the words are only made then."""
        if math.isfinite(loss_sum) and _all_finite(self.model.params):
            return
        self.session.restore()
        raise Diverged(
            f"training diverged in epoch {epoch + 1} {self.where(first, count)} (a loss or "
            f"parameter became NaN or inf); the parameters were restored to their last "
            f"finite state. Try a smaller learning rate than lr={lr:g}.")

    def layer_record(self):
        """The per-layer record of the epoch just trained, or None (Session.layer_record)."""
        return self.session.layer_record()

    def end_of_epoch(self, logs, lr):
        """Count the epoch; return its training logs with the validation logs and the last
        batch's learning rate lr."""
        self.optimizer.epochs += 1
        if self.plan.validation is not None:
            logs.update(epoch_logs(self.model.loss_code, self.model.sizes[-1],
                                   self.validation_tallies(self.plan.validation), "val_"))
        logs["lr"] = lr
        return logs

    def validation_tallies(self, data):
        """The Tallies of the forward pass over the validation rows."""
        return self.model.loss_tallies(data)

    @contextlib.contextmanager
    def interrupts(self):
        """The context in which fit runs: Ctrl-C (SIGINT, on the main thread) only raises the
        interrupted flag, which the trainer reads after every call and every epoch, so that
        training stops between calls, never inside one (the parameters are then those of
        the last completed call, whatever the signal interrupted: a kernel, a compile, a
        callback, the start or join of the helper threads); a second Ctrl-C raises at once
        (second_interrupt). Off the main thread no handler can be installed: Ctrl-C goes to
        the main thread, not to this fit."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def request_stop(signum, frame):
            if self.interrupted:
                self.second_interrupt()
            self.interrupted = True

        previous = signal.signal(signal.SIGINT, request_stop)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def second_interrupt(self):
        """A second Ctrl-C during one fit: KeyboardInterrupt at once, out of fit."""
        self.interrupted_twice = True
        raise KeyboardInterrupt

    def agree_to_stop(self, stop):
        """Whether to stop after this epoch, given whether the callbacks asked to; raises
        KeyboardInterrupt if Ctrl-C was pressed."""
        if self.interrupted:
            raise KeyboardInterrupt
        return stop

    def logs(self, tallies):
        """The logs of the Tallies of (some of) an epoch."""
        return epoch_logs(self.model.loss_code, self.model.sizes[-1], tallies)


def train(net, trainer):
    """Run the trainer's epochs with its callbacks; return a History.

    Ctrl-C stops after the current chunk (Trainer.interrupts), keeping every completed
    mini-batch, and returns the history so far; a second Ctrl-C raises KeyboardInterrupt.
    On divergence the parameters (and optimizer state) go back to their state before the
    chunk that produced a non-finite value; then ``on_divergence="raise"`` raises
    FloatingPointError, ``"warn"`` warns and returns the history so far.
    """
    history = History()
    callbacks = list(trainer.callbacks)
    if trainer.progress is not None:
        callbacks.append(trainer.progress)
    net.stop_training = False
    with trainer.interrupts():
        try:
            for cb in callbacks:
                cb.set_model(net)
                cb.on_train_begin({})
            _run_epochs(net, trainer, callbacks, history)
        except KeyboardInterrupt:
            if trainer.interrupted_twice:
                raise
            warnings.warn(f"fit interrupted: stopped after {len(history.epoch)} complete "
                          f"epochs; the parameters are those of the last completed "
                          f"mini-batch", RuntimeWarning, stacklevel=3)
        finally:
            for cb in callbacks:
                cb.on_train_end({})
    return history


def _run_epochs(net, trainer, callbacks, history):
    for epoch in range(trainer.plan.epochs):
        if trainer.progress is not None:
            trainer.progress.on_epoch_begin(epoch)
        try:
            logs = trainer.epoch(epoch)
        except Diverged as error:
            if trainer.plan.on_divergence == "raise":
                raise
            warnings.warn(str(error), RuntimeWarning, stacklevel=4)
            return
        history._append(epoch, logs, trainer.layer_record())
        stop = [cb.on_epoch_end(epoch, logs) for cb in callbacks]
        if trainer.agree_to_stop(any(stop) or net.stop_training):
            return


def make_progress(verbose, epochs, n_samples):
    """The progress reporter for fit's verbose level (0: none, 1: bar, 2: a line per epoch)."""
    if verbose == 0:
        return None
    return ProgressBar(epochs, n_samples, bar=verbose == 1)
