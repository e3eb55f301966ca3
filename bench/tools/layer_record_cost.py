"""What fit(track_layers=True) costs: the time of a one-epoch fit with the per-layer record
against one without, for plain SGD and Adam on the four standard configurations, on
Fashion-MNIST (or its stand-in). Each round fits one epoch of each, in alternating order
(the machine's drift then falls on both alike); the cost is the median over --rounds of
tracked time / plain time - 1, with its quartiles. Epochs are full training sets: the
record weighs a fixed number of steps per epoch, so a shorter epoch would overstate it.

    python bench/tools/layer_record_cost.py [--rounds 11] [config ...]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout root

from bench.common import run_with_fair_blas  # noqa: E402
from bench.configs import CONFIGS  # noqa: E402
from bench.data import fashion_mnist_or_synthetic, one_hot  # noqa: E402


def epoch_seconds(net, X, target, settings):
    started = time.perf_counter()
    net.fit(X, target, epochs=1, **settings)
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--rounds", type=int, default=11)
    args = parser.parse_args()
    X, y, _, _, source = fashion_mnist_or_synthetic()
    print(f"data: {source}; cost of the record: median [quartiles] of {args.rounds} paired "
          "one-epoch fits")
    for name in args.configs:
        cfg = CONFIGS[name]
        target = one_hot(y) if cfg.loss == "mse" else y
        for optimizer, lr in (("sgd", cfg.lr), ("adam", 1e-3)):
            runs = []
            for tracked in (False, True):
                net = cfg.network()
                settings = dict(optimizer=optimizer, lr=lr, batch_size=cfg.batch_size,
                                track_layers=tracked)
                net.fit(X[:4 * cfg.batch_size], target[:4 * cfg.batch_size], **settings)
                runs.append((net, settings))
            ratios, plain = [], []
            for r in range(args.rounds):
                order = runs if r % 2 == 0 else runs[::-1]
                seconds = {id(run): epoch_seconds(run[0], X, target, run[1]) for run in order}
                plain.append(seconds[id(runs[0])])
                ratios.append(seconds[id(runs[1])] / seconds[id(runs[0])] - 1)
            q1, median, q3 = np.percentile(ratios, [25, 50, 75])
            print(f"{name:>7} {optimizer:>4}: plain epoch {np.median(plain):.2f} s, "
                  f"cost {median:+.1%} [{q1:+.1%}, {q3:+.1%}]", flush=True)


if __name__ == "__main__":
    run_with_fair_blas()
    main()
