"""Learning-rate schedules: a factor applied to the optimizer's base lr, per step or per epoch.

A schedule maps a time t (the optimizer's update count for ``interval="step"``, its completed
epochs for ``interval="epoch"``) to a multiplier of the base learning rate. Because t comes
from the optimizer object, reusing the object in another ``fit`` continues the schedule.
"""

import math

from .validation import NON_NEGATIVE, POSITIVE, POSITIVE_INT, check, one_of

RULES = {"step_size": POSITIVE_INT, "T_max": POSITIVE_INT, "warmup": POSITIVE_INT,
         "interval": one_of("epoch", "step"), "gamma": POSITIVE,
         "eta_min_factor": NON_NEGATIVE}


def check_same_interval(after, interval):
    """The schedule after a warm-up counts in the warm-up's unit."""
    if after.interval != interval:
        raise ValueError("the schedule after a warm-up must use the same interval")


class Schedule:
    """Base class; ``factor(t)`` is the multiplier of the base learning rate at time t."""

    def __init__(self, interval="epoch"):
        self.interval = check(RULES, interval=interval)

    def factor(self, t):
        raise NotImplementedError

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class Constant(Schedule):
    """The base learning rate throughout."""

    def factor(self, t):
        return 1.0


class StepLR(Schedule):
    """Multiply by gamma every step_size units of time (PyTorch's StepLR)."""

    def __init__(self, step_size, gamma=0.1, interval="epoch"):
        super().__init__(interval)
        self.step_size, gamma = check(RULES, step_size=step_size, gamma=gamma)
        self.gamma = float(gamma)

    def factor(self, t):
        return self.gamma ** (t // self.step_size)


class ExponentialLR(Schedule):
    """Multiply by gamma every unit of time (PyTorch's ExponentialLR)."""

    def __init__(self, gamma, interval="epoch"):
        super().__init__(interval)
        self.gamma = float(check(RULES, gamma=gamma))

    def factor(self, t):
        return self.gamma ** t


class CosineAnnealingLR(Schedule):
    """Half a cosine from 1 down to eta_min_factor over T_max units, then stay there."""

    def __init__(self, T_max, eta_min_factor=0.0, interval="epoch"):
        super().__init__(interval)
        self.T_max, eta_min_factor = check(RULES, T_max=T_max,
                                           eta_min_factor=eta_min_factor)
        self.eta_min_factor = float(eta_min_factor)

    def factor(self, t):
        t = min(t, self.T_max)
        cosine = 0.5 * (1.0 + math.cos(math.pi * t / self.T_max))
        return self.eta_min_factor + (1.0 - self.eta_min_factor) * cosine


class Warmup(Schedule):
    """Linear warm-up over the first ``warmup`` units (factor (t + 1) / warmup), then
    ``after`` (another schedule, same interval) with its time counted from the warm-up's end."""

    def __init__(self, warmup, after=None, interval="step"):
        super().__init__(interval)
        self.warmup = check(RULES, warmup=warmup)
        self.after = after if after is not None else Constant(interval)
        check_same_interval(self.after, interval)

    def factor(self, t):
        if t < self.warmup:
            return (t + 1) / self.warmup
        return self.after.factor(t - self.warmup)


def batch_learning_rates(base_lr, schedule, first_step, epoch, n_batches):
    """Learning rates for n_batches consecutive updates starting at update first_step in
    the given epoch (a list of floats)."""
    if schedule is None:
        return [base_lr] * n_batches
    if schedule.interval == "epoch":
        return [base_lr * schedule.factor(epoch)] * n_batches
    return [base_lr * schedule.factor(first_step + b) for b in range(n_batches)]
