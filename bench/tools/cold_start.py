"""A user's first run: seconds and compiled functions of a fresh process with empty caches.

    python bench/tools/cold_start.py                      # this checkout, 3 rounds
    python bench/tools/cold_start.py --checkout ../old    # another checkout, for before/after

Each round starts a fresh process with an empty Numba cache (NUMBA_CACHE_DIR) and an empty
fastbp cache (FASTBP_CACHE_DIR, the measured table of matrix-product libraries) and times
``import fastbp``, ``Network([784, 128, 10])``, a first ``fit`` of one epoch on 4,000 rows,
``evaluate`` and ``predict``, counting the functions Numba compiles in each step
(numba.core.event). A second process then repeats the job on the caches the first filled: it
should compile nothing. Prints the median of the rounds, per step.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout root: bench

from bench.common import cpu_description  # noqa: E402

_JOB = r"""
import json, time
from numba.core import event
compiled = []
class Count(event.Listener):
    def on_start(self, ev): pass
    def on_end(self, ev): compiled.append(ev.data["dispatcher"])
event.register("numba:compile", Count())
steps = {}
def timed(name, fn):
    start, before = time.perf_counter(), len(compiled)
    value = fn()
    steps[name] = (time.perf_counter() - start, len(compiled) - before)
    return value
import numpy as np
fastbp = timed("import fastbp", lambda: __import__("fastbp"))
rng = np.random.default_rng(0)
X = rng.random((4000, 784), dtype=np.float32)
y = rng.integers(0, 10, 4000)
net = timed("Network(...)", lambda: fastbp.Network([784, 128, 10], seed=0))
timed("first fit", lambda: net.fit(X, y, epochs=1, batch_size=32, lr=0.1))
timed("evaluate", lambda: net.evaluate(X[:1000], y[:1000]))
timed("predict", lambda: net.predict(X[:1000]))
print(json.dumps(steps))
"""


def run_job(checkout, numba_cache, fastbp_cache):
    """{step: (seconds, compiled functions)} of one fresh process of the job."""
    env = dict(os.environ, NUMBA_CACHE_DIR=numba_cache, FASTBP_CACHE_DIR=fastbp_cache,
               PYTHONPATH=str(checkout))
    done = subprocess.run([sys.executable, "-c", _JOB], cwd=checkout, env=env, check=True,
                          capture_output=True, text=True, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", default=str(Path(__file__).resolve().parents[2]),
                        help="the fastbp checkout to measure (default: this one)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cold, warm = [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as numba_cache, \
                tempfile.TemporaryDirectory() as fastbp_cache:
            cold.append(run_job(args.checkout, numba_cache, fastbp_cache))
            warm.append(run_job(args.checkout, numba_cache, fastbp_cache))
    print(f"{cpu_description()}, {os.cpu_count()} cores; {args.checkout}, "
          f"median of {args.rounds} rounds")
    print("| step | cold s | cold compiles | warm s | warm compiles |")
    print("|---|---|---|---|---|")
    totals = {"cold": [0.0] * args.rounds, "warm": [0.0] * args.rounds}
    for step in cold[0]:
        cells = []
        for name, runs in (("cold", cold), ("warm", warm)):
            for r, run in enumerate(runs):
                totals[name][r] += run[step][0]
            cells += [f"{statistics.median(run[step][0] for run in runs):.2f}",
                      f"{statistics.median(run[step][1] for run in runs):g}"]
        print(f"| {step} | " + " | ".join(cells) + " |")
    print(f"| total | {statistics.median(totals['cold']):.2f} | "
          f"{statistics.median(sum(s[1] for s in run.values()) for run in cold):g} | "
          f"{statistics.median(totals['warm']):.2f} | "
          f"{statistics.median(sum(s[1] for s in run.values()) for run in warm):g} |")


if __name__ == "__main__":
    main()
