"""Cost of Adam, RMSprop, SGD momentum, per-epoch validation, dropout and float64 against
plain float32 SGD, on Fashion-MNIST (or its stand-in) subsets, interleaved, best of 4 epochs
each.

    python bench/tools/training_costs.py [config ...]

Not an asv suite (bench/tools/ has no __init__.py).
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout root

from bench.common import run_with_fair_blas  # noqa: E402
from bench.configs import CONFIGS  # noqa: E402
from bench.data import fashion_mnist_or_synthetic, one_hot  # noqa: E402

# name: (Network keyword arguments, fit keyword arguments besides lr)
VARIANTS = {"sgd": ({}, {}), "adam": ({}, {"optimizer": "adam"}),
            "rmsprop": ({}, {"optimizer": "rmsprop"}), "momentum": ({}, {"momentum": 0.9}),
            "validation": ({}, {"validation": True}), "dropout": ({"dropout": 0.2}, {}),
            "float64": ({"dtype": "float64"}, {})}


def main():
    X, y, X_test, y_test, source = fashion_mnist_or_synthetic()
    print(f"data: {source}; samples/s and ratio to plain SGD")
    for name in sys.argv[1:] or list(CONFIGS):
        cfg = CONFIGS[name]
        n = 4000 if name == "large" else 20000
        target = one_hot(y[:n]) if cfg.loss == "mse" else y[:n]
        val_target = one_hot(y_test[:n // 6]) if cfg.loss == "mse" else y_test[:n // 6]
        X64 = X[:n].astype("float64")
        runs = {}
        for variant, (net_kwargs, fit_kwargs) in VARIANTS.items():
            net = cfg.network(**net_kwargs)
            kwargs = dict(fit_kwargs, lr=1e-3 if "optimizer" in fit_kwargs
                          else cfg.lr / 10 if "momentum" in fit_kwargs else cfg.lr)
            if kwargs.pop("validation", False):
                kwargs["validation_data"] = (X_test[:n // 6], val_target)
            net.fit(X[:4 * cfg.batch_size], target[:4 * cfg.batch_size],
                    batch_size=cfg.batch_size, **kwargs)  # compile
            runs[variant] = (net, kwargs, [])
        for _ in range(4):
            for net, kwargs, speeds in runs.values():
                started = time.perf_counter()
                net.fit(X64 if net.dtype == X64.dtype else X[:n], target, epochs=1,
                        batch_size=cfg.batch_size, **kwargs)
                speeds.append(n / (time.perf_counter() - started))
        best = {k: max(v[2]) for k, v in runs.items()}
        print(name, "  ".join(f"{k} {v:,.0f} ({v / best['sgd']:.2f})" for k, v in best.items()),
              flush=True)


if __name__ == "__main__":
    run_with_fair_blas()
    main()
