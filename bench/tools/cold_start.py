"""A user's first run: seconds and compiled functions of a fresh process with empty caches,
beside scikit-learn's.

    python bench/tools/cold_start.py                      # this checkout, 3 rounds
    python bench/tools/cold_start.py --checkout ../old    # another checkout, for before/after
    python bench/tools/cold_start.py --python venv/bin/python   # an installed fastbp

Each round starts a fresh process with an empty fastbp cache (FASTBP_CACHE_DIR: kernels and
the measured product table; for an older checkout also NUMBA_CACHE_DIR) and times
``import fastbp``, ``Network([784, 128, 10])``, a first ``fit`` of one epoch on 4,000 rows,
``evaluate`` and ``predict`` (with --job digits: ``Network([64, 64, 10])`` and 10 epochs on
scikit-learn's digits), counting the functions Numba compiles in each step
(numba.core.event). A second process then repeats the job on the cache the first filled: it
should compile nothing. With --python, the interpreter of an environment where fastbp was
installed by ``pip install .`` runs the jobs outside any checkout: its first run is the one
after the install (the kernels compiled into the wheel). Each round also runs scikit-learn's
MLPClassifier on the same job in a fresh process. Prints the median of the rounds, per step,
and each process's whole wall time (interpreter start included).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout root: bench

from bench.common import cpu_description, run_with_fair_blas  # noqa: E402

_JOB = r"""
import json, time
_started = time.perf_counter()
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
{data}
net = timed("Network(...)", lambda: fastbp.Network([X.shape[1], {hidden}, 10], seed=0))
timed("first fit", lambda: net.fit(X, y, epochs={epochs}, batch_size=32, lr=0.1))
timed("evaluate", lambda: net.evaluate(X[:1000], y[:1000]))
timed("predict", lambda: net.predict(X[:1000]))
steps["in-process total"] = (time.perf_counter() - _started, len(compiled))
print(json.dumps(steps))
"""

_SKLEARN = r"""
import json, time, warnings
started = time.perf_counter()
import numpy as np
from sklearn.neural_network import MLPClassifier
{data}
warnings.simplefilter("ignore")  # a few epochs do not converge
model = MLPClassifier(({hidden},), max_iter={epochs}, batch_size=32, random_state=0).fit(X, y)
model.score(X[:1000], y[:1000]); model.predict(X[:1000])
print(json.dumps({"in-process total": time.perf_counter() - started}))
"""

# The jobs: how X and y are made, the hidden layer's width, the epochs.
JOBS = {
    "784-128-10": dict(data="rng = np.random.default_rng(0); "
                            "X = rng.random((4000, 784), dtype=np.float32); "
                            "y = rng.integers(0, 10, 4000)", hidden=128, epochs=1),
    "digits": dict(data="from sklearn.datasets import load_digits; "
                        "X, y = load_digits(return_X_y=True); X = (X / 16).astype(np.float32)",
                   hidden=64, epochs=10),
}


def _filled(script, job):
    """script with job's {data}, {hidden} and {epochs} written in."""
    for name, value in job.items():
        script = script.replace("{" + name + "}", str(value))
    return script


def run_job(python, checkout, cache, job):
    """{step: (seconds, compiled functions)} of one fresh process of job, plus its whole
    wall time; checkout None: the fastbp installed for python, run from outside any
    checkout."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, FASTBP_CACHE_DIR=cache)
    env.pop("PYTHONPATH", None)
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
    started = time.perf_counter()
    done = subprocess.run([python, "-c", job], cwd=checkout or tempfile.gettempdir(),
                          env=env, check=True, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    steps = json.loads(done.stdout.strip().splitlines()[-1])
    steps = {k: v if isinstance(v, list) else [v, 0] for k, v in steps.items()}
    steps["process wall"] = [wall, steps["in-process total"][1]]
    return steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkout", default=str(Path(__file__).resolve().parents[2]),
                        help="the fastbp checkout to measure (default: this one)")
    parser.add_argument("--python", help="run an installed fastbp with this interpreter "
                        "instead of a checkout")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--job", choices=JOBS, default="784-128-10")
    args = parser.parse_args()
    python = args.python or sys.executable
    checkout = None if args.python else args.checkout
    job, sklearn_job = (_filled(script, JOBS[args.job]) for script in (_JOB, _SKLEARN))
    cold, warm, sklearn = [], [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(run_job(python, checkout, cache, job))
            warm.append(run_job(python, checkout, cache, job))
        sklearn.append(run_job(python, None, tempfile.gettempdir(), sklearn_job))
    print(f"{cpu_description()}, {os.cpu_count()} cores; "
          f"{args.python or args.checkout}, job {args.job}, median of {args.rounds} rounds")
    print("| step | cold s | cold compiles | warm s | warm compiles |")
    print("|---|---|---|---|---|")
    for step in cold[0]:
        cells = []
        for runs in (cold, warm):
            cells += [f"{statistics.median(run[step][0] for run in runs):.2f}",
                      f"{statistics.median(run[step][1] for run in runs):g}"]
        print(f"| {step} | " + " | ".join(cells) + " |")
    print(f"scikit-learn MLPClassifier, the same job in a fresh process: "
          f"{statistics.median(run['in-process total'][0] for run in sklearn):.2f} s in the "
          f"process, {statistics.median(run['process wall'][0] for run in sklearn):.2f} s "
          f"of process wall time")


if __name__ == "__main__":
    run_with_fair_blas()
    main()
