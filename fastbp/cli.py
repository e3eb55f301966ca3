"""Command line: train a network on a real dataset and report accuracy and speed; compile
ahead.

    python -m fastbp                      # scikit-learn's digits (no download)
    python -m fastbp --dataset fashion-mnist --hidden 256 128 --epochs 20
    python -m fastbp warmup --activation relu --optimizer sgd adam   # fill the kernel cache
"""

import argparse
import sys
import time

from .datasets import find_fashion_mnist, load_digits, load_fashion_mnist
from .network import Network

# Per dataset: hidden widths, epochs, batch size, learning rate.
DEFAULTS = {"digits": ([64], 30, 32, 0.1), "fashion-mnist": ([256, 128], 30, 64, 0.1)}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="fastbp", description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["digits", "fashion-mnist"], default="digits")
    parser.add_argument("--data-dir", help="folder with the Fashion-MNIST IDX files")
    parser.add_argument("--hidden", type=int, nargs="+", help="hidden layer widths")
    parser.add_argument("--activation", default="relu")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    args = parser.parse_args(argv)
    if args.data_dir and args.dataset != "fashion-mnist":
        parser.error("--data-dir goes with --dataset fashion-mnist")
    if args.dataset == "fashion-mnist" and find_fashion_mnist(args.data_dir) is None:
        parser.error("Fashion-MNIST files not found: apt-get install dataset-fashion-mnist, "
                     "or pass --data-dir")
    hidden, epochs, batch_size, lr = DEFAULTS[args.dataset]
    args.hidden = args.hidden or hidden
    args.epochs = args.epochs or epochs
    args.batch_size = args.batch_size or batch_size
    args.lr = args.lr or lr
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["warmup"]:
        from . import warmup
        return warmup.main(argv[1:])
    args = parse_args(argv)
    if args.dataset == "digits":
        X_train, y_train, X_test, y_test = load_digits(seed=args.seed)
    else:
        X_train, y_train, X_test, y_test = load_fashion_mnist(args.data_dir)
    sizes = [X_train.shape[1], *args.hidden, 10]
    net = Network(sizes, activation=args.activation, dtype=args.dtype, seed=args.seed)
    print(f"{args.dataset}: {len(X_train)} training and {len(X_test)} test samples; {net}")
    started = time.perf_counter()
    history = net.fit(X_train, y_train, epochs=args.epochs, batch_size=args.batch_size,
                      lr=args.lr, verbose=0 if args.quiet else 1)
    wall = time.perf_counter() - started
    test = net.evaluate(X_test, y_test)
    samples_per_s = len(X_train) * len(history.epoch) / wall
    print(f"test accuracy {test['accuracy']:.4f}, test loss {test['loss']:.4f}")
    print(f"{samples_per_s:,.0f} training samples/s over the whole fit (a first run also "
          f"compiles), wall time {wall:.2f} s for {len(history.epoch)} epochs")
    return 0
