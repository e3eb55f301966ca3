"""What one ``fit`` call trains on and how: checked once, at the boundary, into a frozen plan
that the trainers read (training.py, distributed.py) and never check again."""

from dataclasses import dataclass

import numpy as np

from . import optimizers
from .engine import Data
from .callbacks import as_list
from .schedules import Schedule
from .validation import (NON_NEGATIVE, POSITIVE, POSITIVE_INT, SPLIT, Rule, check, one_of,
                         optional)

# The scalar options of Network.fit (arrays, targets and weights have their own checks).
FIT_RULES = {
    "epochs": POSITIVE_INT,
    "batch_size": POSITIVE_INT,
    "lr": optional(POSITIVE),
    "clip_norm": optional(POSITIVE),
    "l2": NON_NEGATIVE,
    "schedule": optional(Rule(lambda v: isinstance(v, Schedule),
                              "be a fastbp.schedules.Schedule", TypeError)),
    "validation_split": SPLIT,
    "verbose": one_of(0, 1, 2),
    "on_divergence": one_of("raise", "warn"),
    "average_every": optional(POSITIVE_INT),
    "shuffle": Rule(lambda v: not isinstance(v, str) or v == "blocks",
                    "be True, False or 'blocks'"),
}


@dataclass
class MaskStream:
    """Where a network's dropout masks are: its mask seed (drawn from the fit's random
    stream at its first fit with dropout) and the batches it has trained. A mask is a hash
    of (seed, step, layer, row, unit) (engine/elementwise.py), so with both saved a resumed
    fit draws the masks the uninterrupted one would have, and no two batches of one network
    share masks, whatever optimizer each fit brings."""

    seed: int | None = None
    batches: int = 0

    def fit_seed(self, order_rng, optimizer_steps):
        """The mask seed of a fit whose optimizer has taken optimizer_steps steps: the
        kernels key masks on the optimizer's step number, so the seed carries the offset
        of the network's batches from it (the network's own seed when they are equal, as
        in a first fit or one that continues with its optimizer)."""
        if self.seed is None:
            self.seed = int(order_rng.integers(1, 2 ** 62))
        offset = self.batches - optimizer_steps
        if offset == 0:
            return self.seed
        mixed = np.random.SeedSequence([self.seed, offset % 2 ** 64]).generate_state(1, np.uint64)
        return int(mixed[0]) % (2 ** 62 - 1) + 1


@dataclass(frozen=True)
class FitPlan:
    """How one fit call trains (see Network.fit for each setting), every value checked.

    batch_size is the caller's (a one-process trainer cuts it to the data, ranks keep it:
    every rank must count the same steps); optimizer is the object that trains (made from a
    name when fit got one); rates the dropout rate of every layer (the output layer's 0);
    order_rng draws the shuffles (and a network's first mask seed); masks is the network's
    MaskStream, which the trainer advances; validation the validated rows or
    None; clip_norm 0.0 for no clipping. The defaults are fit's.
    """

    optimizer: optimizers.Optimizer
    order_rng: np.random.Generator
    rates: np.ndarray
    masks: MaskStream
    epochs: int = 1
    batch_size: int = 32
    schedule: Schedule | None = None
    clip_norm: float = 0.0
    l2: float = 0.0
    shuffle: bool | str = True
    validation: Data | None = None
    callbacks: tuple = ()
    verbose: int = 0
    on_divergence: str = "raise"
    average_every: int | None = None
    track_layers: bool = False


def check_settings(epochs, batch_size, lr, clip_norm, l2, schedule, validation_split, verbose,
                   on_divergence, average_every, shuffle):
    """Raise, naming the setting, unless every scalar setting of fit is valid."""
    check(FIT_RULES, epochs=epochs, batch_size=batch_size, lr=lr, clip_norm=clip_norm, l2=l2,
          schedule=schedule, validation_split=validation_split, verbose=verbose,
          on_divergence=on_divergence, average_every=average_every, shuffle=shuffle)


def make_plan(*, lr, optimizer, momentum, nesterov, weight_decay, clip_norm, l2, shuffle,
              callbacks, **rest):
    """The FitPlan of fit's settings (checked by check_settings first): the optimizer made
    from a name and its settings, callbacks checked; rest as FitPlan has them."""
    return FitPlan(
        optimizer=optimizers.make(optimizer, None if lr is None else float(lr), momentum,
                                  nesterov, weight_decay),
        clip_norm=float(clip_norm or 0.0), l2=float(l2),
        shuffle="blocks" if isinstance(shuffle, str) else bool(shuffle),
        callbacks=tuple(as_list(callbacks)), **rest)
