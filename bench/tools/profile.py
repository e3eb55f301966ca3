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

from bench.common import timed  # noqa: E402
from bench.configs import CONFIGS  # noqa: E402
from bench.data import synthetic  # noqa: E402
from fastbp.engine.backends import one_thread  # noqa: E402
from fastbp.engine.parallel import training_parts  # noqa: E402
from fastbp.engine.step import n_phases, phase  # noqa: E402
from fastbp.training import flop_per_sample  # noqa: E402


def _repeater(kinds):
    """A compiled loop running phase p of part t of parts reps times, for kinds."""
    @njit
    def repeat(p, t, parts, reps, model, space, batch, run):
        for _ in range(reps):
            phase(kinds, (p, t, parts), model, space, batch, run, None, None)  # plain SGD

    return repeat


def phase_names(L):
    """The phases of a plain SGD step of an L-layer network, in order."""
    return (["gather"] + [f"forward {l}" for l in range(L - 1)] + ["output + error"]
            + [f"delta {l - 1}" for l in range(L - 1, 0, -1)] + ["gradient (SGD)"])


def profile(cfg, dtype, X, Y, reps, parts):
    """{phase name: us of part 0 of parts}, and the whole step (us) as fit runs it."""
    net = cfg.network(dtype)
    model, B = net._model, cfg.batch_size
    data = (X, Y, np.ones(len(X), dtype))
    batch = (data, np.arange(B))
    run = (1e-9, 1, 0.0)
    times = {}
    repeat = _repeater(model.kinds)
    with one_thread():  # as the parts' threads run
        for P in parts:
            space = model.space(B, P)
            for p, name in enumerate(phase_names(len(net.sizes) - 1)):
                repeat(p, 0, P, 2, model._kernel_model, space, batch, run)
                best = min(timed(lambda: repeat(p, 0, P, reps, model._kernel_model, space,
                                                batch, run)) for _ in range(3))
                times.setdefault(name, {})[P] = best / reps * 1e6
    n_batches = max(1, len(X) // B)
    flop = flop_per_sample(net.sizes) * B
    own = training_parts(flop, flop * n_batches)
    space = model.space(B, own)
    order = np.arange(len(X))

    def chunk(stop):
        model.train_chunk(space, (data, order, 0, stop, B), (np.full(n_batches, 1e-9), 0, 0.0), None,
                          None)

    chunk(B * 4)
    whole = min(timed(lambda: chunk(n_batches * B)) for _ in range(3)) / n_batches * 1e6
    assert n_phases(model.table, None) == len(times)
    return times, whole, own


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
    main()
