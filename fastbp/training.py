"""The Python side of fit: epochs, shuffling, chunks of compiled work, history, divergence.

The compiled loop runs a chunk of mini-batches (about 0.1 s of work) per call, so Python is
back in control often enough for progress output, Ctrl-C and divergence checks while costing
nothing measurable per mini-batch.
"""

import math
import time
import warnings

import numpy as np

from .functions import BINARY_CROSS_ENTROPY, MSE
from .kernels.loop import sgd_batches
from .layout import workspace_size

# Floating-point work per compiled call; sets the chunk length (see module docstring).
_CHUNK_FLOP = 1e10
_MAX_CHUNK_SAMPLES = 1 << 16


class History:
    """Per-epoch training record, as returned by :meth:`fastbp.Network.fit`.

    Attributes
    ----------
    history : dict of str to list of float
        ``"loss"`` (mean training loss over the epoch's mini-batches, each measured before
        its update), ``"accuracy"`` for classification losses, and ``"val_loss"`` /
        ``"val_accuracy"`` when validation data was given.
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


def flop_per_sample(sizes):
    """Floating-point operations of one training step per sample (design.md, section 1)."""
    pairs = sum(n_in * n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    return 6 * pairs - 2 * sizes[0] * sizes[1]


def chunk_samples(sizes, batch_size):
    """Samples per compiled call: a whole number of batches, about _CHUNK_FLOP of work."""
    samples = min(_MAX_CHUNK_SAMPLES, _CHUNK_FLOP / flop_per_sample(sizes))
    return batch_size * max(1, int(samples) // batch_size)


def _accuracy_denominator(net, n):
    return n * net.sizes[-1] if net._loss_code == BINARY_CROSS_ENTROPY else n


def _sgd_epoch(net, X, Y, order, batch_size, lr, ws, epoch):
    """One epoch of plain SGD in chunks of compiled work; returns (loss sum, correct count).

    After each chunk the loss and the parameters must be finite; if not, the parameters go
    back to their state before that chunk and FloatingPointError is raised.
    """
    params = net._params
    last_good = np.empty_like(params)
    stats = np.zeros(2)
    chunk = chunk_samples(net.sizes, batch_size)
    for start in range(0, X.shape[0], chunk):
        stop = min(start + chunk, X.shape[0])
        last_good[:] = params
        sgd_batches(X, Y, order, start, stop, batch_size, params, net._table, net._loss_code,
                    lr, ws, stats)
        if not (math.isfinite(stats[0]) and math.isfinite(params.sum(dtype=np.float64))):
            params[:] = last_good
            raise FloatingPointError(
                f"training diverged in epoch {epoch + 1} between samples {start} and {stop} "
                f"of the shuffled order (a loss or parameter became NaN or inf); the "
                f"parameters were restored to their last finite state. Try a smaller "
                f"learning rate than lr={lr}.")
    return stats[0], stats[1]


def train(net, X, Y, epochs, batch_size, lr, order_rng, shuffle, validation, verbose):
    """Run ``epochs`` epochs of plain SGD on validated arrays; return a History.

    On divergence the parameters go back to their state before the chunk that produced a
    non-finite value, and FloatingPointError is raised. Ctrl-C stops after the current
    chunk, keeping every completed mini-batch, and returns the history so far.
    """
    n = X.shape[0]
    ws = np.empty(workspace_size(net.sizes, batch_size), dtype=net.dtype)
    history = History()
    order = np.arange(n)
    try:
        for epoch in range(epochs):
            started = time.perf_counter()
            if shuffle:
                order = order_rng.permutation(n)
            loss, correct = _sgd_epoch(net, X, Y, order, batch_size, lr, ws, epoch)
            seconds = time.perf_counter() - started
            logs = {"loss": float(loss / n)}
            if net._loss_code != MSE:
                logs["accuracy"] = float(correct / _accuracy_denominator(net, n))
            if validation is not None:
                logs.update(net._evaluate_arrays(*validation, prefix="val_"))
            history._append(epoch, logs)
            if verbose:
                shown = " - ".join(f"{k} {v:.4f}" for k, v in logs.items())
                print(f"epoch {epoch + 1}/{epochs} - {shown} - {seconds:.2f}s - "
                      f"{n / seconds:,.0f} samples/s", flush=True)
    except KeyboardInterrupt:
        warnings.warn(f"fit interrupted: stopped after {len(history.epoch)} complete epochs; "
                      f"the parameters are those of the last completed mini-batch",
                      RuntimeWarning, stacklevel=3)
    return history
