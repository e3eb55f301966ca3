"""A model of training speed on more cores than this machine has, from costs measured here.

    python bench/tools/thread_scaling.py [config ...] [--cores 2 4 8 16 64]

For each standard configuration (plain SGD, float32): the time of every phase of a step for
part 0 of 1, 2, 4 and 8 parts (bench/tools/profile.py), fitted per phase as a + b / P (a: the
per-call cost that does not shrink, b: the work that divides); the whole step measured on
this machine's two threads in 1 and 2 parts, whose gap to the phases' sum is the per-phase
cost of running parts side by side (barrier, imbalance, the other core's traffic); and a
barrier alone. Predicted step on P cores in P parts:

    T(P) = sum over phases (a + b / P) + phases * (side-by-side cost at 2 threads * P / 2)

(a barrier on one shared counter costs about linearly in the threads that touch it). A
model, not a measurement: it ignores memory bandwidth shared by many cores, turbo clocks
that drop as cores wake, and BLAS's own threading (which 1 part uses for large batches).
"""

import argparse
import importlib.util
import sys
import threading
import time
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout root

from bench.common import run_with_fair_blas, timed  # noqa: E402
from bench.configs import CONFIGS  # noqa: E402
from bench.data import synthetic  # noqa: E402
from fastbp.engine.parallel import barrier  # noqa: E402
from fastbp.optimizers import SGD  # noqa: E402

MEASURED_PARTS = (1, 2, 4, 8)
# profile.py beside this file (by path: "profile" is also a standard library module).
_spec = importlib.util.spec_from_file_location("phase_profile", Path(__file__).with_name("profile.py"))
_phase_profile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_phase_profile)
profile = _phase_profile.profile


@njit(nogil=True)
def _barriers(sync, count, parties):
    for k in range(1, count + 1):
        barrier(sync, k, parties)


def barrier_seconds(count=200_000):
    """Seconds per barrier crossed by two threads."""
    sync = np.zeros(2, dtype=np.int64)
    _barriers(sync, 1, 1)
    sync[:] = 0
    other = threading.Thread(target=_barriers, args=(sync, count, 2))
    started = time.perf_counter()
    other.start()
    _barriers(sync, count, 2)
    other.join()
    return (time.perf_counter() - started) / count


def whole_step(cfg, X, Y, parts):
    """Seconds per step of fit's loop in the given number of parts on this machine."""
    net = cfg.network()
    B = cfg.batch_size
    n_batches = len(X) // B
    session = net._model.session(net.training_data(X, Y), SGD(lr=1e-9), B,
                                 batches_per_call=n_batches, parts=parts)
    order, lrs = np.arange(len(X)), np.full(n_batches, 1e-9)
    session.train(order, 0, 4, lrs)
    best = min(timed(lambda: session.train(order, 0, n_batches, lrs)) for _ in range(3))
    return best / n_batches


def fit_phase(times):
    """(a, b) of a + b / P fitted to {P: seconds} by least squares."""
    P = np.array(sorted(times), dtype=float)
    A = np.stack([np.ones_like(P), 1 / P], axis=1)
    (a, b), *_ = np.linalg.lstsq(A, np.array([times[p] for p in sorted(times)]), rcond=None)
    return max(a, 0.0), max(b, 0.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--cores", nargs="+", type=int, default=[2, 4, 8, 16, 64])
    args = parser.parse_args()
    X, y, _, _ = synthetic(8192, 10)
    Y = np.eye(10, dtype=np.float32)[y]
    crossing = barrier_seconds()
    print(f"barrier, 2 threads: {crossing * 1e6:.2f} us")
    print("\n| config | phases | 1 part here | 2 parts here | side by side, per phase | "
          + " | ".join(f"{p} cores" for p in args.cores) + " |")
    print("|---" * (5 + len(args.cores)) + "|")
    for name in args.configs:
        cfg = CONFIGS[name]
        reps = max(20, int(2e8 / (cfg.flop_per_sample * cfg.batch_size)))
        times, _, _ = profile(cfg, "float32", X, Y, reps, MEASURED_PARTS)
        fits = [fit_phase({P: t[P] * 1e-6 for P in MEASURED_PARTS}) for t in times.values()]
        n_phases = len(fits)
        one, two = whole_step(cfg, X, Y, 1), whole_step(cfg, X, Y, 2)
        side_by_side = max(0.0, (two - sum(a + b / 2 for a, b in fits)) / n_phases)

        def predicted(P):
            return sum(a + b / P for a, b in fits) + n_phases * side_by_side * P / 2

        speed = [cfg.batch_size / predicted(P) for P in args.cores]
        print(f"| {name} | {n_phases} | {cfg.batch_size / one / 1e3:.0f}k | "
              f"{cfg.batch_size / two / 1e3:.0f}k | {side_by_side * 1e6:.1f} us | "
              + " | ".join(f"{s / 1e3:.0f}k ({s * one / cfg.batch_size:.1f}x)" for s in speed)
              + " |")


if __name__ == "__main__":
    run_with_fair_blas()
    main()
