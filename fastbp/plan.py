"""What one ``fit`` call trains on and how: checked once, at the boundary, into a frozen plan
that the trainers read (training.py, distributed.py) and never check again."""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import optimizers
from .engine import Data
from .callbacks import as_list
from .schedules import Schedule
from .validation import (NON_NEGATIVE, POSITIVE, POSITIVE_INT, SPLIT, Rule, one_of,
                         optional)

class Setting(NamedTuple):
    """One of fit's settings: its default and the rule its value must meet (None: checked
    where it is used, optimizers.make and callbacks.as_list)."""
    default: object
    rule: Rule | None = None


# The settings of Network.fit and Network.fit_data, declared once: their defaults and rules.
# Network.fit's signature spells the same names and defaults for its readers
# (tests/test_plan.py holds the two together); the checks and the plan are derived from
# this table. Rules run in this order.
FIT_SETTINGS = {
    "epochs": Setting(1, POSITIVE_INT),
    "batch_size": Setting(32, POSITIVE_INT),
    "lr": Setting(None, optional(POSITIVE)),
    "clip_norm": Setting(None, optional(POSITIVE)),
    "l2": Setting(0.0, NON_NEGATIVE),
    "schedule": Setting(None, optional(Rule(lambda v: isinstance(v, Schedule),
                                            "be a fastbp.schedules.Schedule", TypeError))),
    "validation_split": Setting(0.0, SPLIT),
    "verbose": Setting(0, one_of(0, 1, 2)),
    "on_divergence": Setting("raise", one_of("raise", "warn")),
    "average_every": Setting(None, optional(POSITIVE_INT)),
    "shuffle": Setting(True, Rule(lambda v: not isinstance(v, str) or v == "blocks",
                                  "be True, False or 'blocks'")),
    "track_layers": Setting(False, Rule(lambda v: isinstance(v, (bool, np.bool_)),
                                        "be True or False", TypeError)),
    "optimizer": Setting("sgd"),
    "momentum": Setting(0.0),
    "nesterov": Setting(False),
    "weight_decay": Setting(None),
    "seed": Setting(None),
    "callbacks": Setting(None),
}


def fit_settings(given):
    """Every setting of fit: those given (a mapping of names to values), the defaults for
    the others; TypeError for a name fit does not have."""
    unknown = set(given) - set(FIT_SETTINGS)
    if unknown:
        raise TypeError(f"fit has no setting {', '.join(sorted(unknown))}; its settings are "
                        f"{', '.join(FIT_SETTINGS)}")
    return {name: given.get(name, setting.default) for name, setting in FIT_SETTINGS.items()}


def check_settings(settings):
    """Raise, naming the setting, unless every ruled setting of fit is valid (settings as
    fit_settings gives them)."""
    for name, setting in FIT_SETTINGS.items():
        if setting.rule is not None:
            setting.rule(name, settings[name])


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
    None; clip_norm 0.0 for no clipping.
    """

    optimizer: optimizers.Optimizer
    order_rng: np.random.Generator
    rates: np.ndarray
    masks: MaskStream
    epochs: int
    batch_size: int
    schedule: Schedule | None
    clip_norm: float
    l2: float
    shuffle: bool | str
    validation: Data | None
    callbacks: tuple
    verbose: int
    on_divergence: str
    average_every: int | None
    track_layers: bool


def make_plan(settings, *, rng, rates, masks, validation):
    """The FitPlan of fit's settings (as fit_settings gives them, checked by
    check_settings): the optimizer made from a name and its settings, callbacks checked, the
    shuffles drawn from settings["seed"] or else from rng (the network's random stream)."""
    lr, seed, shuffle = settings["lr"], settings["seed"], settings["shuffle"]
    return FitPlan(
        optimizer=optimizers.make(settings["optimizer"], None if lr is None else float(lr),
                                  settings["momentum"], settings["nesterov"],
                                  settings["weight_decay"]),
        order_rng=rng if seed is None else np.random.default_rng(seed), rates=rates,
        masks=masks, epochs=settings["epochs"], batch_size=settings["batch_size"],
        schedule=settings["schedule"], clip_norm=float(settings["clip_norm"] or 0.0),
        l2=float(settings["l2"]), shuffle="blocks" if isinstance(shuffle, str) else bool(shuffle),
        validation=validation, callbacks=tuple(as_list(settings["callbacks"])),
        verbose=settings["verbose"], on_divergence=settings["on_divergence"],
        average_every=settings["average_every"], track_layers=bool(settings["track_layers"]))
