"""Callbacks: code that runs between epochs of ``Network.fit`` and may stop training.

A callback subclasses :class:`Callback` and overrides any of ``on_train_begin(logs)``,
``on_epoch_end(epoch, logs)`` (return True, or set ``self.model.stop_training``, to stop) and
``on_train_end(logs)``. ``self.model`` is the network being trained. In data-parallel
training (``fit(comm=...)``) every rank runs its callbacks on the same logs, except those
that write files (``writes_files = True``: checkpoints and loggers), which run on rank 0 only.
"""

import csv
import json
import math
from pathlib import Path

from .validation import NON_NEGATIVE_INT, POSITIVE_INT, check, one_of

RULES = {"mode": one_of("auto", "min", "max"), "patience": NON_NEGATIVE_INT,
         "every": POSITIVE_INT}


class Callback:
    """Base class: every hook does nothing."""

    model = None
    writes_files = False  # True: runs on rank 0 only in data-parallel training

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs):
        pass

    def on_epoch_end(self, epoch, logs):
        pass

    def on_train_end(self, logs):
        pass


class EarlyStopping(Callback):
    """Stop when a monitored figure has stopped improving.

    Parameters
    ----------
    monitor : str, default "val_loss"
        A key of the epoch logs ("loss", "accuracy", "val_loss", "val_accuracy").
    patience : int, default 0
        Epochs without improvement to tolerate before stopping.
    min_delta : float, default 0
        A change smaller than this is no improvement.
    mode : {"auto", "min", "max"}, default "auto"
        Whether lower or higher is better; "auto" means higher for accuracies, lower otherwise.
    restore_best : bool, default True
        At the end of training, put back the parameters of the best epoch.

    Attributes
    ----------
    best : float
    best_epoch : int or None
    stopped_epoch : int or None
        The epoch (0-based) after which training stopped, if it did.
    """

    def __init__(self, monitor="val_loss", patience=0, min_delta=0.0, mode="auto",
                 restore_best=True):
        mode, self.patience = check(RULES, mode=mode, patience=patience)
        self.monitor, self.min_delta = monitor, abs(float(min_delta))
        self.higher_is_better = mode == "max" or (mode == "auto" and "accuracy" in monitor)
        self.restore_best = restore_best

    def on_train_begin(self, logs):
        self.best = -math.inf if self.higher_is_better else math.inf
        self.best_epoch = self.stopped_epoch = None
        self.best_params = None
        self.wait = 0

    def _improved(self, value):
        if self.higher_is_better:
            return value > self.best + self.min_delta
        return value < self.best - self.min_delta

    def on_epoch_end(self, epoch, logs):
        check_monitored(self.monitor, logs)
        value = logs[self.monitor]
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_params = self.model.params.copy()
            return False
        self.wait += 1
        if self.wait >= max(self.patience, 1):  # Keras: stop after `patience` flat epochs
            self.stopped_epoch = epoch
            return True
        return False

    def on_train_end(self, logs):
        if self.restore_best and self.best_params is not None:
            self.model.params[:] = self.best_params


class ModelCheckpoint(Callback):
    """Save the network (``fastbp.load`` reads it back) every ``every`` epochs.

    ``path`` may hold ``{epoch}`` (1-based) and any log key, e.g. "net-{epoch:03d}.npz".
    With ``optimizer`` (the object passed to ``fit``), each file also holds the optimizer,
    so training resumes exactly from it (``fastbp.load(path, with_optimizer=True)``).
    """

    writes_files = True

    def __init__(self, path, every=1, optimizer=None):
        self.path, self.every = str(path), check(RULES, every=every)
        self.optimizer = optimizer

    def on_epoch_end(self, epoch, logs):
        if (epoch + 1) % self.every == 0:
            self.model.save(self.path.format(epoch=epoch + 1, **logs),
                            optimizer=self.optimizer)


class CSVLogger(Callback):
    """Append one row per epoch (epoch, then the log keys) to a CSV file."""

    writes_files = True

    def __init__(self, path):
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs):
        row = {"epoch": epoch, **logs}
        new_file = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new_file:
                writer.writeheader()
            writer.writerow(row)


class JSONLogger(Callback):
    """Append one JSON object per epoch ({"epoch": ..., log keys...}) to a JSON-lines file."""

    writes_files = True

    def __init__(self, path):
        self.path = Path(path)

    def on_epoch_end(self, epoch, logs):
        with self.path.open("a") as f:
            f.write(json.dumps({"epoch": epoch, **logs}) + "\n")


class ProgressBar(Callback):
    """A tqdm bar per epoch with loss and accuracy so far (``fit(verbose=1)``), updated after
    every chunk of compiled work; one printed line per epoch with ``bar=False``
    (``verbose=2``) or when tqdm is not installed.
    """

    def __init__(self, epochs, n_samples, bar=True):
        self.epochs, self.n_samples = epochs, n_samples
        self._tqdm = None
        if bar:
            try:
                from tqdm.auto import tqdm
                self._tqdm = tqdm
            except ImportError:
                pass
        self._bar = None

    def on_epoch_begin(self, epoch):
        if self._tqdm is not None:
            self._bar = self._tqdm(total=self.n_samples, unit="sample", unit_scale=True,
                                   desc=f"epoch {epoch + 1}/{self.epochs}", leave=True)

    def on_chunk_end(self, samples_done, logs):
        if self._bar is not None:
            self._bar.update(samples_done - self._bar.n)
            self._bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)

    def on_epoch_end(self, epoch, logs):
        shown = " - ".join(f"{k} {v:.4f}" for k, v in logs.items())
        if self._bar is not None:
            self._bar.set_postfix_str(shown, refresh=False)
            self._bar.close()
            self._bar = None
        else:
            print(f"epoch {epoch + 1}/{self.epochs} - {shown}", flush=True)

    def on_train_end(self, logs):
        if self._bar is not None:  # an epoch cut short by Ctrl-C or divergence
            self._bar.close()
            self._bar = None


def check_monitored(monitor, logs):
    """EarlyStopping's monitored value must be in the epoch logs."""
    if monitor not in logs:
        raise ValueError(f"EarlyStopping monitors {monitor!r}, which the epoch logs lack (they "
                         f"have {sorted(logs)}); pass validation_data or validation_split to "
                         f"fit, or monitor='loss'")


def as_list(callbacks):
    """fit's callbacks as a list of Callback instances (one callback alone is accepted)."""
    if callbacks is None:
        return []
    callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else [callbacks]
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be fastbp.callbacks.Callback instances, got "
                            f"{type(cb).__name__}")
    return callbacks
