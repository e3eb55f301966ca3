"""Speed on 1, 2, 4, ... threads up to this machine's cores: fastbp against PyTorch (training
and inference) and ONNX Runtime (inference), each library given that many threads.

    python bench/tools/cores.py [--configs ...] [--samples 10000] [--rounds 2]

Each (configuration, library, threads) runs in its own process through peers.py's worker
(the same network, data and timing: a warm-up epoch, the best of 2 timed epochs, the best of
10 forward passes over the 10,000 test images), with BENCH_THREADS set: PyTorch's intra-op
threads, ONNX Runtime's intra-op threads and Numba's thread count. fastbp cuts its work for
the machine's cores whatever the thread count (bitwise the same results), as a user's run
does. Prints samples/s and parallel efficiency, rate(t) / (t * rate(1)), per thread count.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[0] = str(ROOT)  # the checkout, not this folder (whose profile.py shadows Python's)

from bench.common import run_with_fair_blas  # noqa: E402
from bench.configs import CONFIGS  # noqa: E402
from bench.data import fashion_mnist_or_synthetic  # noqa: E402
from fastbp.engine.parallel import usable_cores  # noqa: E402

LIBRARIES = ("fastbp", "torch", "onnxruntime")


def thread_counts(cores):
    """1, 2, 4, ... below cores, then cores itself."""
    counts, t = [], 1
    while t < cores:
        counts.append(t)
        t *= 2
    return counts + [cores]


def run(library, config, threads, data_dir):
    """peers.py's worker for one (library, configuration) on threads threads."""
    import json
    env = dict(os.environ, BENCH_THREADS=str(threads))
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "peers.py"), "--worker",
                           library, config, data_dir, "2"], env=env, capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{library} {config} on {threads} threads:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    cores = usable_cores()
    counts = thread_counts(cores)
    X, y, X_test, y_test, source = fashion_mnist_or_synthetic()
    best = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, array in (("X", X[:args.samples]), ("y", y[:args.samples]),
                            ("X_test", X_test[:10000]), ("y_test", y_test[:10000])):
            np.save(os.path.join(folder, f"{name}.npy"), array)
        for r in range(args.rounds):  # interleaved, the best of the rounds kept
            for config in args.configs:
                for threads in counts:
                    for library in LIBRARIES:
                        print(f"round {r + 1}: {config} {library} {threads} threads",
                              file=sys.stderr, flush=True)
                        result = run(library, config, threads, folder)
                        rates = (result["n"] / result["epoch_s"] if result["epoch_s"] else None,
                                 result["n_test"] / result["inference_s"])
                        key = (config, library, threads)
                        previous = best.get(key, (None, 0))
                        best[key] = (max(filter(None, (rates[0], previous[0])), default=None),
                                     max(rates[1], previous[1]))
    print(f"{cores} usable cores; data: {source} ({args.samples} training samples, 10,000 "
          f"inferred); samples/s (parallel efficiency)\n")
    columns = [("training", "fastbp", 0), ("training", "torch", 0), ("inference", "fastbp", 1),
               ("inference", "torch", 1), ("inference", "onnxruntime", 1)]
    print("| config | threads | " + " | ".join(f"{what}, {lib}" for what, lib, _ in columns)
          + " |\n" + "|---" * (len(columns) + 2) + "|")
    for config in args.configs:
        for threads in counts:
            cells = []
            for _, library, i in columns:
                rate, single = best[(config, library, threads)][i], best[(config, library, 1)][i]
                cells.append(f"{rate:,.0f} ({rate / (threads * single):.0%})")
            print(f"| {config} | {threads} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    run_with_fair_blas()
    sys.exit(main())
