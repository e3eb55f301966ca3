"""Where a training step's time goes, per configuration: microseconds per mini-batch for each
phase of the step (fastbp/engine/step.py), each timed alone in a compiled loop, for part 0 of
1, 2, 4 ... parts (what one thread does when the step is cut that way), and the whole step
as fit runs it.

    python bench/tools/profile.py [config ...] [--dtype float64] [--parts 1 2 4 8]

Not an asv suite: bench/tools/ has no __init__.py, so asv never imports it (it reaches into
fastbp internals that older commits do not have).
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout root

from bench.common import run_with_fair_blas, timed  # noqa: E402
from bench.configs import CONFIGS  # noqa: E402
from bench.data import synthetic  # noqa: E402
from fastbp.engine.backends import one_thread  # noqa: E402
from fastbp.engine.records import Data, Part, Step  # noqa: E402
from fastbp.engine.step import (backward_phase, forward_phase, gather_phase,  # noqa: E402
                                gradient_phase)
from fastbp.optimizers import SGD  # noqa: E402

GATHER, FORWARD, BACKWARD, GRADIENT = range(4)


def _repeater(kinds):
    """A compiled loop running one phase (which, layer l) of a part reps times, for kinds:
    plain SGD, no dropout, no record."""
    @njit
    def repeat(which, l, part, reps, model, space, step):
        for _ in range(reps):
            if which == GATHER:
                gather_phase(kinds, part, model, space, step)
            elif which == FORWARD:
                forward_phase(kinds, part, model, space, step, l, None, None)
            elif which == BACKWARD:
                backward_phase(kinds, part, model, space, step, l, None, None)
            else:
                gradient_phase(kinds, part, model, space, step, None, None, None)

    return repeat


def phases(L):
    """(name, which, layer) of each phase of a plain SGD step of an L-layer network, in
    order."""
    return ([("gather", GATHER, 0)]
            + [(f"forward {l}", FORWARD, l) for l in range(L - 1)]
            + [("output + error", FORWARD, L - 1)]
            + [(f"delta {l - 1}", BACKWARD, l) for l in range(L - 1, 0, -1)]
            + [("gradient (SGD)", GRADIENT, 0)])


def profile(cfg, dtype, X, Y, reps, parts):
    """{phase name: us of part 0 of parts}, and the whole step (us) as fit runs it."""
    net = cfg.network(dtype)
    model, B = net._model, cfg.batch_size
    data = Data(X, Y, np.ones(len(X), dtype))
    step = Step(data, np.arange(B), 1, 1e-9, 0.0)
    times = {}
    repeat = _repeater(model.kinds)
    with one_thread():  # as the parts' threads run
        for P in parts:
            space = model.space(B, P)
            for name, which, l in phases(len(net.sizes) - 1):
                args = (which, l, Part(0, P), reps, model.kernel_model, space, step)
                repeat(*args[:3], 2, *args[4:])
                best = min(timed(lambda: repeat(*args)) for _ in range(3))
                times.setdefault(name, {})[P] = best / reps * 1e6
    n_batches = max(1, len(X) // B)
    session = model.session(data, SGD(lr=1e-9), B, batches_per_call=n_batches)
    order, lrs = np.arange(len(X)), np.full(n_batches, 1e-9)
    session.train(order, 0, 4, lrs)
    whole = min(timed(lambda: session.train(order, 0, n_batches, lrs))
                for _ in range(3)) / n_batches * 1e6
    return times, whole, session.parts


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--parts", nargs="+", type=int, default=[1, 2, 4, 8])
    args = parser.parse_args()
    X, y, _, _ = synthetic(20000, 10)
    X = X.astype(args.dtype)
    for name in args.configs:
        cfg = CONFIGS[name]
        Y = np.eye(10, dtype=args.dtype)[y]  # one-hot rows suit every loss here
        reps = max(20, int(2e8 / (cfg.flop_per_sample * cfg.batch_size)))
        times, whole, own = profile(cfg, args.dtype, X, Y, reps, args.parts)
        print(f"\n{name} ({args.dtype}, batch {cfg.batch_size}): whole step {whole:.1f} us "
              f"= {cfg.batch_size / whole * 1e6:,.0f} samples/s in {own} part(s)")
        print(f"  {'phase':<16}" + "".join(f"{f'part 0 of {P}':>14}" for P in args.parts))
        for phase_name, by_parts in times.items():
            print(f"  {phase_name:<16}" + "".join(f"{by_parts[P]:11.1f} us" for P in args.parts))
        totals = [sum(t[P] for t in times.values()) for P in args.parts]
        print(f"  {'sum':<16}" + "".join(f"{t:11.1f} us" for t in totals))


if __name__ == "__main__":
    run_with_fair_blas()
    main()
