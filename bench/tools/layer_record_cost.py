"""What fit(track_layers=True) costs: samples per second with and without the per-layer
record, for plain SGD and Adam on the four standard configurations, on Fashion-MNIST (or
its stand-in), interleaved in one process, best of --epochs one-epoch fits each. Epochs
are full training sets: the record weighs a fixed number of steps per epoch, so a shorter
epoch would overstate its cost.

    python bench/tools/layer_record_cost.py [--epochs 5] [config ...]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout root

from bench.configs import CONFIGS  # noqa: E402
from bench.data import fashion_mnist_or_synthetic, one_hot  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    X, y, _, _, source = fashion_mnist_or_synthetic()
    print(f"data: {source}; best samples/s of {args.epochs} epochs; tracked / plain")
    for name in args.configs:
        cfg = CONFIGS[name]
        n = len(X)
        target = one_hot(y[:n]) if cfg.loss == "mse" else y[:n]
        for optimizer, lr in (("sgd", cfg.lr), ("adam", 1e-3)):
            runs = {}
            for tracked in (False, True):
                net = cfg.network()
                settings = dict(optimizer=optimizer, lr=lr, batch_size=cfg.batch_size,
                                track_layers=tracked)
                net.fit(X[:4 * cfg.batch_size], target[:4 * cfg.batch_size], **settings)
                runs[tracked] = (net, settings, [])
            for _ in range(args.epochs):
                for net, settings, speeds in runs.values():
                    started = time.perf_counter()
                    net.fit(X[:n], target, epochs=1, **settings)
                    speeds.append(n / (time.perf_counter() - started))
            plain, tracked = max(runs[False][2]), max(runs[True][2])
            print(f"{name:>7} {optimizer:>4}: plain {plain:,.0f}/s, tracked {tracked:,.0f}/s, "
                  f"cost {1 - tracked / plain:+.1%}", flush=True)


if __name__ == "__main__":
    main()
