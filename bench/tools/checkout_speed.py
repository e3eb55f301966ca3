"""Training and inference speed of two fastbp checkouts side by side: a change's before/after.

    python bench/tools/checkout_speed.py ../before            # against this checkout
    python bench/tools/checkout_speed.py ../before --rounds 5 --configs small medium

For each standard configuration (bench/configs.py), rounds of one fresh process per checkout,
in alternating order, each training one warm-up epoch and then 3 epochs of plain SGD on the
same 20,000 Fashion-MNIST rows (synthetic rows when the files are absent), and timing the
forward pass over the 10,000 test rows; both checkouts' kernels are compiled before the first
round. Prints the best samples/s of each, and their ratio. OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE are unset for the measured processes (fair BLAS, bench/README.md).
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(HERE))  # the checkout root: bench

from bench.common import cpu_description, fair_env, run_with_fair_blas  # noqa: E402

_JOB = r"""
import json, sys, time
import numpy as np
sys.path.append({bench!r})  # after the checkout measured: its fastbp is imported
from bench.configs import CONFIGS
from bench.data import fashion_mnist_or_synthetic, one_hot
X, y, X_test, _, _ = fashion_mnist_or_synthetic()
X, y = X[:20000], y[:20000]
cfg = CONFIGS[{config!r}]
targets = one_hot(y) if cfg.loss == "mse" else y
net = cfg.network()
net.fit(X, targets, epochs=1, batch_size=cfg.batch_size, lr=cfg.lr)
train = []
for _ in range(3):
    start = time.perf_counter()
    net.fit(X, targets, epochs=1, batch_size=cfg.batch_size, lr=cfg.lr)
    train.append(len(X) / (time.perf_counter() - start))
net.forward(X_test)
infer = []
for _ in range(5):
    start = time.perf_counter()
    net.forward(X_test)
    infer.append(len(X_test) / (time.perf_counter() - start))
print(json.dumps([max(train), max(infer)]))
"""


def run(checkout, config):
    """(training samples/s, inference samples/s) of one fresh process of checkout."""
    env = dict(fair_env(), PYTHONPATH=str(checkout))
    done = subprocess.run([sys.executable, "-c", _JOB.format(bench=str(HERE), config=config)],
                          cwd=checkout, env=env, check=True, capture_output=True, text=True,
                          timeout=900)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", help="the other checkout (the one before the change)")
    parser.add_argument("--after", default=str(HERE), help="default: this checkout")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--configs", nargs="+", default=["nielsen", "small", "medium", "large"])
    args = parser.parse_args()
    checkouts = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    best = {}
    for config in args.configs:
        for checkout in checkouts.values():  # compile both first
            run(checkout, config)
        for r in range(args.rounds):
            order = list(checkouts.items())
            for name, checkout in (order if r % 2 == 0 else order[::-1]):
                train, infer = run(checkout, config)
                old = best.get((config, name), (0.0, 0.0))
                best[(config, name)] = (max(old[0], train), max(old[1], infer))
    print(f"{cpu_description()}, {os.cpu_count()} cores; best of {args.rounds} rounds; "
          f"before: {checkouts['before']}, after: {checkouts['after']}")
    print("| config | training before | after | after / before | inference before | after "
          "| after / before |")
    print("|---|---|---|---|---|---|---|")
    for config in args.configs:
        (tb, ib), (ta, ia) = best[(config, "before")], best[(config, "after")]
        print(f"| {config} | {tb / 1e3:.0f}k | {ta / 1e3:.0f}k | {ta / tb:.3f} | "
              f"{ib / 1e3:.0f}k | {ia / 1e3:.0f}k | {ia / ib:.3f} |")


if __name__ == "__main__":
    run_with_fair_blas()
    main()
