"""Fashion-MNIST test accuracy of the same trained networks in float32 and in int8 inference
(Network.quantize, calibrated on the first 1000 training images), and of the same networks
trained from the same start with bfloat16 products (precision="bfloat16"), over seeds.

    python bench/tools/precision_accuracy.py [--epochs 5] [--seeds 0 1 2] [--readme]

Networks: the four standard configurations (bench/configs.py: their plain SGD, learning
rate and batch size, for --epochs epochs) and the README's time-to-accuracy recipe
(784-256-10, Adam 2e-3 with a cosine over 15 epochs, batches of 128). Prints a markdown
table: per network, the mean over seeds of each precision's accuracy and of its difference
from float32's (with the smallest and largest difference); with --readme, also into
bench/README.md's block "precision-accuracy". Needs the real Fashion-MNIST files (apt-get
install dataset-fashion-mnist).
"""

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

sys.path[0] = str(Path(__file__).resolve().parents[2])  # the checkout, not this folder

import fastbp  # noqa: E402
from bench.common import cpu_description, run_with_fair_blas, write_readme  # noqa: E402
from bench.configs import CONFIGS  # noqa: E402
from fastbp.engine import backends  # noqa: E402

RECIPE_EPOCHS = 15


def trained(name, seed, epochs, X, y, precision="float32"):
    """The network of name (a configuration, or "recipe") trained from seed with products of
    that precision."""
    if name == "recipe":
        net = fastbp.Network([784, 256, 10], seed=seed, precision=precision)
        net.fit(X, y, epochs=RECIPE_EPOCHS, batch_size=128,
                optimizer=fastbp.optimizers.Adam(lr=2e-3),
                schedule=fastbp.schedules.CosineAnnealingLR(RECIPE_EPOCHS))
        return net
    cfg = CONFIGS[name]
    net = cfg.network(seed=seed, precision=precision)
    targets = np.eye(10, dtype=np.float32)[y] if cfg.loss == "mse" else y
    net.fit(X, targets, epochs=epochs, batch_size=cfg.batch_size, lr=cfg.lr)
    return net


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--networks", nargs="+", default=[*CONFIGS, "recipe"])
    parser.add_argument("--readme", action="store_true",
                        help="also write the table into bench/README.md")
    args = parser.parse_args(argv)
    if fastbp.datasets.find_fashion_mnist() is None:
        parser.error("needs the Fashion-MNIST files: apt-get install dataset-fashion-mnist")
    X, y, X_test, y_test = fastbp.datasets.load_fashion_mnist()
    lines = [f"{cpu_description()}: int8 inputs of {7 if not backends.has_vnni() else 8} bits "
             f"(VNNI: {backends.has_vnni()}); bfloat16 products on "
             f"{'the bf16 units' if backends.has_bf16() else 'the emulated path'}; seeds "
             f"{args.seeds}; configurations trained {args.epochs} epochs, the recipe "
             f"{RECIPE_EPOCHS}. `python bench/tools/precision_accuracy.py "
             + " ".join(argv if argv is not None else sys.argv[1:]) + "`", "",
             "| network | float32 | int8 | int8 - float32 (min, max) | bfloat16 training "
             "| bfloat16 - float32 (min, max) |", "|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    warnings.simplefilter("ignore", RuntimeWarning)  # bf16 emulated: said above
    for name in args.networks:
        accuracies = []
        for seed in args.seeds:
            net = trained(name, seed, args.epochs, X, y)
            quantized = net.quantize(X[:1000])
            bf16 = trained(name, seed, args.epochs, X, y, "bfloat16")
            # argmax of the outputs: nielsen's mse loss has no accuracy of its own
            accuracies.append([(model.forward(X_test).argmax(axis=1) == y_test).mean()
                               for model in (net, quantized, bf16)])
        floats, ints, bf16s = np.array(accuracies).T
        cells = [f"{floats.mean():.4f}"]
        for other in (ints, bf16s):
            difference = other - floats
            cells += [f"{other.mean():.4f}", f"{difference.mean():+.4f} "
                      f"({difference.min():+.4f}, {difference.max():+.4f})"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    if args.readme:
        write_readme(Path(__file__).resolve().parents[1] / "README.md", "\n".join(lines),
                     "precision-accuracy")
    return 0


if __name__ == "__main__":
    run_with_fair_blas()
    sys.exit(main())
