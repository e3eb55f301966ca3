"""Training speed over batch sizes 1 to 4096 (small configuration, float32), as a PNG.

    python bench/tools/batch_curve.py [--config small] [--out bench/batch_curve.png]

Each point: best of 3 epochs over a subset sized so that every point does similar work.
Not an asv suite (bench/tools/ has no __init__.py).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout root

from bench.common import run_with_fair_blas, timed  # noqa: E402
from bench.configs import CONFIGS  # noqa: E402
from bench.data import fashion_mnist_or_synthetic, one_hot  # noqa: E402

# Powers of two, plus points on both sides of the switches between training paths
# (threads.HALVES_FLOP: batch 9 | 10 and 85 | 86 for the small configuration).
BATCHES = [1, 2, 4, 8, 9, 10, 12, 16, 32, 64, 85, 86, 128, 256, 512, 1024, 2048, 4096]


def measure(cfg, X, y):
    target = one_hot(y) if cfg.loss == "mse" else y
    speeds = {}
    for batch in BATCHES:
        n = min(len(X), max(4 * batch, 20000 if batch >= 8 else 5000))
        net = cfg.network()
        net.fit(X[:2 * batch], target[:2 * batch], batch_size=batch, lr=cfg.lr / 10)
        best = min(timed(lambda: net.fit(X[:n], target[:n], batch_size=batch, lr=cfg.lr / 10))
                   for _ in range(3))
        speeds[batch] = n / best
        print(f"batch {batch:5d}: {speeds[batch]:12,.0f} samples/s", flush=True)
    return speeds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small", choices=list(CONFIGS))
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[1]
                                             / "batch_curve.png"))
    args = parser.parse_args()
    X, y, _, _, source = fashion_mnist_or_synthetic()
    cfg = CONFIGS[args.config]
    speeds = measure(cfg, X, y)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(list(speeds), list(speeds.values()), marker="o")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("batch size")
    ax.set_ylabel("training samples/s")
    ax.set_title(f"fastbp, {cfg.name} ({'-'.join(map(str, cfg.sizes))}), float32, {source}")
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    run_with_fair_blas()
    main()
