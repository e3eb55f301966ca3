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


def train(net, X, Y, epochs, batch_size, lr, order_rng, shuffle, validation, verbose):
    """Run ``epochs`` epochs of plain SGD on validated arrays; return a History.

    On divergence the parameters go back to their state before the chunk that produced a
    non-finite value, and FloatingPointError is raised. Ctrl-C stops after the current
    chunk, keeping every completed mini-batch, and returns the history so far.
    """
    n = X.shape[0]
    params = net._params
    table = net._table
    ws = np.empty(workspace_size(net.sizes, batch_size), dtype=net.dtype)
    last_good = np.empty_like(params)
    stats = np.zeros(2)
    chunk = chunk_samples(net.sizes, batch_size)
    classify = net._loss_code != MSE
    history = History()
    order = np.arange(n)
    try:
        for epoch in range(epochs):
            started = time.perf_counter()
            if shuffle:
                order = order_rng.permutation(n)
            stats[:] = 0
            for start in range(0, n, chunk):
                stop = min(start + chunk, n)
                last_good[:] = params
                sgd_batches(X, Y, order, start, stop, batch_size, params, table,
                            net._loss_code, lr, ws, stats)
                if not (math.isfinite(stats[0]) and math.isfinite(params.sum(dtype=np.float64))):
                    params[:] = last_good
                    raise FloatingPointError(
                        f"training diverged in epoch {epoch + 1} between samples {start} and "
                        f"{stop} of the shuffled order (a loss or parameter became NaN or inf); "
                        f"the parameters were restored to their last finite state. Try a "
                        f"smaller learning rate than lr={lr}.")
            seconds = time.perf_counter() - started
            logs = {"loss": float(stats[0] / n)}
            if classify:
                logs["accuracy"] = float(stats[1] / _accuracy_denominator(net, n))
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
