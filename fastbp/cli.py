"""Command line: train on your data, evaluate, predict, describe a model; the demo; compiling
ahead.

    fastbp train data.csv --target label --hidden 256 128 --epochs 20 --save model.npz
    fastbp evaluate model.npz test.csv           # loss and accuracy, or R^2 and MSE
    fastbp predict model.npz new.csv --output predictions.csv [--proba]
    fastbp info model.npz                        # spec, parameter count, how it was trained
    fastbp info --cache                          # where compiled kernels are cached, its size
    python -m fastbp                             # demo: scikit-learn's digits (no download)
    python -m fastbp --dataset fashion-mnist --hidden 256 128 --epochs 20
    fastbp warmup --activation relu --optimizer sgd adam   # fill the kernel cache

DATA is a CSV file with a header (the targets in the column --target names, by default the
last), an .npz file with arrays X and y, X.npy or X.npy,y.npy, IDX files (images, with the
labels file beside them), or digits / fashion-mnist (their training part for train, their
test part for evaluate and predict). Integer or text targets make a classifier (the class
names are kept in the model), numbers a regressor; --task overrides. Features (and a
regressor's target) are standardised with the training data's mean and standard deviation,
kept in the model. Bad input gives a one-line error and exit status 2.
"""

import argparse
import csv
import datetime
import difflib
import os
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__, data_files
from .engine.codes import PRECISIONS
from .datasets import find_fashion_mnist, load_digits, load_fashion_mnist
from .network import Network, load
from .plotting import LAYER_PANELS

# Every command, with its line in ``fastbp --help``.
COMMANDS = {"train": "train a network on DATA and save it",
            "evaluate": "score a saved model on DATA",
            "predict": "predict DATA's targets with a saved model",
            "info": "describe a saved model, or the kernel cache",
            "warmup": "compile ahead: fill the kernel cache (fastbp warmup -h)",
            "demo": "train on a built-in dataset, report accuracy and speed (the default "
                    "without a command)"}
SEP_HELP = "the CSV file's delimiter (default: sniffed among , ; tab and |)"
# Integer targets with more distinct values than this make a classifier with a note that
# --task regression may be meant (counts, years, prices in whole units).
MANY_CLASSES = 20
# The demo's settings per dataset: hidden widths, epochs, batch size, learning rate.
DEFAULTS = {"digits": ([64], 30, 32, 0.1), "fashion-mnist": ([256, 128], 30, 64, 0.1)}


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def main(argv=None):
    """The ``fastbp`` command; returns its exit status: 0 done, 2 bad input, 1 divergence."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        return _command(argv)
    except BrokenPipeError:  # the reader left (fastbp predict ... | head): not an error
        return _quiet_stdout()


def _quiet_stdout():
    """Standard output pointed at the null device, so that the interpreter's last flush
    into a closed pipe cannot fail once more; returns 0."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


def _command(argv):
    if argv[:1] == ["warmup"]:
        from . import warmup
        return warmup.main(argv[1:])
    if argv[:1] == ["demo"]:
        return demo(argv[1:])
    parser = _parser()
    if argv[:1] in (["-h"], ["--help"]):
        parser.print_help()
        return 0
    if not argv or argv[0].startswith("-"):
        return demo(argv)
    if argv[0] not in COMMANDS:
        close = difflib.get_close_matches(argv[0], COMMANDS, n=1)
        parser.exit(2, f"fastbp: error: unknown command {argv[0]!r}"
                    + (f"; did you mean {close[0]!r}?" if close else "")
                    + f" (commands: {', '.join(COMMANDS)}; fastbp --help says more)\n")
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except BrokenPipeError:  # an OSError, but no user error: main ends it quietly
        raise
    except (UsageError, ValueError, OSError, ImportError) as error:
        parser.exit(2, f"fastbp {args.command}: error: {error}\n")
    except FloatingPointError as error:  # divergence: not bad input, still one line
        parser.exit(1, f"fastbp {args.command}: {error}\n")


class _DefaultsShown(argparse.HelpFormatter):
    """Help text followed by the option's default, unless it says its own or has none (None,
    or False for a switch)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if ("(default" in text or any(action.default is v for v in (None, False))
                or action.default == argparse.SUPPRESS or not action.option_strings):
            return text
        return text + " (default: %(default)s)"


def _parser():
    parser = argparse.ArgumentParser(prog="fastbp", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, **kwargs):
        """A subcommand whose help shows the options' defaults."""
        return commands.add_parser(name, help=COMMANDS[name], description=COMMANDS[name],
                                   formatter_class=_DefaultsShown,
                                   **kwargs)

    train = command("train")
    train.add_argument("data", metavar="DATA", help="the training rows: " + data_files.FORMATS)
    train.add_argument("--target", help="CSV column of the targets (default: the last)")
    train.add_argument("--sep", help=SEP_HELP)
    train.add_argument("--task", choices=["auto", "classification", "regression"],
                       default="auto", help="auto: integer or text targets make a "
                       "classifier, other numbers a regressor")
    train.add_argument("--hidden", type=int, nargs="+", default=[128], metavar="WIDTH",
                       help="hidden layer widths")
    train.add_argument("--activation", default="relu", help="hidden activation")
    train.add_argument("--epochs", type=int, default=20, help="passes over the data")
    train.add_argument("--optimizer", default="adam", choices=["sgd", "adam", "adamw",
                                                               "rmsprop"], help="optimizer")
    train.add_argument("--lr", type=float, help="learning rate (default: the optimizer's)")
    train.add_argument("--batch-size", type=int, default=64, help="rows per update")
    train.add_argument("--validation-split", type=float, default=0.0, metavar="F",
                       help="hold out this fraction of the rows for validation: drawn by "
                            "--seed, of every class alike for a classifier; the "
                            "standardisation statistics come from the other rows")
    train.add_argument("--no-standardize", action="store_true",
                       help="train on the features as they are")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                       help="the parameters' precision")
    train.add_argument("--precision", choices=PRECISIONS, default="float32",
                       help="the products' input precision: bfloat16 rounds their operands "
                            "and sums in float32, on the CPU's bf16 units where it has them "
                            "(with --dtype float32)")
    train.add_argument("--seed", type=int, default=0, help="seeds the initial weights and "
                       "the shuffling")
    train.add_argument("--save", metavar="MODEL.npz", help="write the trained model there")
    train.add_argument("--plot", metavar="CURVES.png",
                       help="draw loss and accuracy per epoch and the per-layer record of "
                            "--track-layers, which it turns on (needs matplotlib)")
    train.add_argument("--track-layers", action="store_true",
                       help="record per epoch and layer the RMS error delta, gradient and "
                            "weight norms, update ratio and dead units; saved with the model "
                            "(fastbp info shows the last epoch's)")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    train.set_defaults(run=run_train)
    evaluate = command("evaluate")
    evaluate.add_argument("model", metavar="MODEL.npz", help="a model fastbp train saved")
    evaluate.add_argument("data", metavar="DATA", help="rows with targets: "
                          + data_files.FORMATS)
    evaluate.add_argument("--target", help="CSV column of the targets (default: the model's)")
    evaluate.add_argument("--sep", help=SEP_HELP)
    evaluate.set_defaults(run=run_evaluate)
    predict = command("predict")
    predict.add_argument("model", metavar="MODEL.npz", help="a model fastbp train saved")
    predict.add_argument("data", metavar="DATA", help="the rows: " + data_files.FORMATS)
    predict.add_argument("--sep", help=SEP_HELP)
    predict.add_argument("--output", metavar="OUT.csv", help="default: standard output")
    predict.add_argument("--proba", action="store_true", help="also each class's probability")
    predict.set_defaults(run=run_predict)
    info = command("info")
    info.add_argument("model", metavar="MODEL.npz", nargs="?",
                      help="a model saved by fastbp train --save or Network.save")
    info.add_argument("--cache", action="store_true",
                      help="where compiled kernels are cached and how big the cache is")
    info.set_defaults(run=run_info)
    # listed in the help; main runs them before parsing, with their own options
    command("warmup", add_help=False)
    command("demo", add_help=False)
    return parser


# train ------------------------------------------------------------------------------------

def run_train(args):
    data = _read(args.data, args.target, split="train", sep=args.sep)
    if data.y is None:
        raise UsageError(f"{args.data} has no targets to train on")
    task = args.task
    if task == "auto":
        task = "regression" if np.issubdtype(data.y.dtype, np.floating) else "classification"
        distinct = len(np.unique(data.y))
        if task == "classification" and np.issubdtype(data.y.dtype, np.integer) \
                and distinct > MANY_CLASSES:
            _note(f"the targets hold {distinct} distinct integers: training a classifier of "
                  f"{distinct} classes; if they measure a quantity, --task regression")
    meta = {"task": task, "features": data.features, "target": data.target}
    if task == "classification":
        classes, y = np.unique(data.y, return_inverse=True)
        if len(classes) < 2:
            raise UsageError(f"{args.data}: the targets hold one class ({classes[0]}); a "
                             f"classifier needs at least 2")
        meta["classes"] = classes.tolist()
    else:
        y = _as_float(data.y, args.data)
    train_rows, val_rows = validation_rows(len(y), args.validation_split, args.seed,
                                           y if task == "classification" else None)
    # the statistics of the training rows only: the validation rows stay unseen
    X = _standardizer(meta, data.X, train_rows, not args.no_standardize)
    if task == "classification":
        sizes, loss = [X.shape[1], *args.hidden, len(classes)], "cross_entropy"
    else:
        y = _target_scaler(meta, y, train_rows, not args.no_standardize)
        sizes, loss = [X.shape[1], *args.hidden, 1], "mse"
    net = Network(sizes, activation=args.activation, loss=loss, dtype=args.dtype,
                  seed=args.seed, precision=args.precision)
    verbose = _verbosity(args.quiet)
    print(f"{args.data}: {len(X)} rows, {X.shape[1]} features, {task}"
          + (f" of {len(meta['classes'])} classes" if task == "classification" else "")
          + f"; {net}")
    started = time.perf_counter()
    validation = None
    if len(val_rows):
        validation = (X[val_rows], y[val_rows])
        X, y = X[train_rows], y[train_rows]
    history = net.fit(X, y, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      optimizer=args.optimizer, validation_data=validation,
                      verbose=verbose, track_layers=args.track_layers or bool(args.plot))
    wall = time.perf_counter() - started
    last = {key: values[-1] for key, values in history.history.items()}
    print(f"trained {len(history.epoch)} epochs in {wall:.2f} s: "
          + ", ".join(f"{key} {value:.4f}" for key, value in last.items() if key != "lr"))
    meta["trained"] = {"data": args.data, "rows": len(X), "epochs": len(history.epoch),
                       "batch_size": args.batch_size, "optimizer": args.optimizer,
                       "lr": last["lr"], "validation_split": args.validation_split,
                       "final": last, "seconds": round(wall, 3), "seed": args.seed,
                       "date": datetime.datetime.now().isoformat(timespec="seconds"),
                       "fastbp": __version__}
    net.metadata = meta
    if args.save:
        net.save(args.save)
        print(f"saved to {args.save}")
    if args.plot:
        history.plot(args.plot)
        print(f"learning curves in {args.plot}")
    return 0


def _read(spec, target, **options):
    """data_files.read, with its notes on how it read the file written to standard error."""
    data = data_files.read(spec, target, **options)
    for note in data.notes:
        _note(note)
    return data


def _note(text):
    print(f"note: {text}", file=sys.stderr)


def _verbosity(quiet):
    """fit's verbose: progress bars (written to standard error) only on a terminal, a line per
    epoch into a pipe or a file, nothing with --quiet."""
    return 0 if quiet else (1 if sys.stderr.isatty() else 2)


def validation_rows(n, fraction, seed, labels=None):
    """(training rows, validation rows) of n rows, each sorted: a seeded random fraction of
    them held out for validation, of each class alike when labels (class codes) are given
    (stratified: every class in both parts, in its share, when it has the rows); all rows
    and none for fraction 0."""
    if not 0 <= fraction < 1:
        raise UsageError(f"--validation-split must be in [0, 1), got {fraction}")
    if fraction == 0:
        return np.arange(n), np.arange(0)
    rng = np.random.default_rng(seed)
    groups = [np.arange(n)] if labels is None else [np.flatnonzero(labels == c)
                                                     for c in np.unique(labels)]
    held = []
    for rows in groups:
        rows = rng.permutation(rows)
        held.append(rows[:int(round(len(rows) * fraction))])
    val = np.sort(np.concatenate(held))
    if not len(val) or len(val) == n:
        raise UsageError(f"--validation-split {fraction} of {n} rows leaves "
                         + ("no validation rows" if not len(val) else "no training rows"))
    return np.setdiff1d(np.arange(n), val), val


def _standardizer(meta, X, rows, on):
    """X standardised with the column means and deviations of its rows (kept in meta), or
    as is."""
    if not on:
        return X
    fitted = X if len(rows) == len(X) else X[rows]
    mean, std = fitted.mean(axis=0), fitted.std(axis=0)
    std[std == 0] = 1.0  # a constant column stays constant (zero)
    meta["standardize"] = {"mean": mean.tolist(), "std": std.tolist()}
    return (X - mean) / std


def _target_scaler(meta, y, rows, on):
    """y standardised with the mean and deviation of its rows (kept in meta), or as is."""
    if not on:
        return y
    fitted = y if len(rows) == len(y) else y[rows]
    mean, std = float(fitted.mean()), float(fitted.std()) or 1.0
    meta["target_scale"] = {"mean": mean, "std": std}
    return (y - mean) / std


def _as_float(y, where):
    try:
        return y.astype(np.float64)
    except ValueError:
        raise UsageError(f"{where}: regression targets must be numbers") from None


# evaluate, predict, info -------------------------------------------------------------------

def _model_and_data(args, target=None):
    net = load(args.model)
    meta = net.metadata
    named = meta.get("features") if Path(args.data).suffix.lower() == ".csv" else None
    data = _read(args.data, target or meta.get("target"), features=named, split="test",
                 sep=args.sep)
    if data.X.shape[1] != net.sizes[0]:
        raise UsageError(f"{args.data} has {data.X.shape[1]} features; the model takes "
                         f"{net.sizes[0]}")
    X = data.X
    if "standardize" in meta:
        X = (X - np.array(meta["standardize"]["mean"])) / np.array(meta["standardize"]["std"])
    return net, meta, X, data.y


def _classes(net, meta):
    """The class names of a classifier (a softmax network; indices when it was saved without
    them), or None for a regressor."""
    if net.loss_name != "cross_entropy":
        return None
    return meta.get("classes", list(range(net.sizes[-1])))


def _outputs(net, meta, X):
    """The network's outputs in the targets' units (a regressor's un-standardised)."""
    out = net.forward(X).astype(np.float64)
    if "target_scale" in meta:
        out = out * meta["target_scale"]["std"] + meta["target_scale"]["mean"]
    return out


def run_evaluate(args):
    net, meta, X, y = _model_and_data(args, args.target)
    if y is None:
        raise UsageError(f"{args.data} has no targets to score against")
    out = _outputs(net, meta, X)
    classes = _classes(net, meta)
    if classes is not None:
        index = {str(c): i for i, c in enumerate(classes)}
        unknown = sorted({str(v) for v in y} - set(index))
        if unknown:
            raise UsageError(f"{args.data} has labels the model never saw: "
                             f"{', '.join(unknown[:5])}")
        codes = np.array([index[str(v)] for v in y])
        scores = net.evaluate(X, codes)
        print(f"{len(y)} rows: loss {scores['loss']:.4f}, accuracy {scores['accuracy']:.4f}")
    else:
        y = _as_float(y, args.data)
        residual = y - out[:, 0]
        mse = float(np.mean(residual ** 2))
        r2 = 1 - mse / float(np.var(y)) if np.var(y) > 0 else float("nan")
        print(f"{len(y)} rows: R^2 {r2:.4f}, MSE {mse:.6g}")
    return 0


def run_predict(args):
    net, meta, X, _ = _model_and_data(args)
    out = _outputs(net, meta, X)
    stream = open(args.output, "w", newline="") if args.output else sys.stdout
    try:
        writer = csv.writer(stream)
        classes = _classes(net, meta)
        if classes is not None:
            writer.writerow(["prediction"] + ([f"p({c})" for c in classes] if args.proba
                                               else []))
            for row in out:
                writer.writerow([classes[int(row.argmax())]]
                                + ([f"{p:.6g}" for p in row] if args.proba else []))
        else:
            if args.proba:
                raise UsageError("--proba goes with classifiers; this model is a regressor")
            writer.writerow(["prediction"])
            writer.writerows([[f"{v:.6g}"] for v in out[:, 0]])
    finally:
        if stream is not sys.stdout:
            stream.close()
    if args.output:
        print(f"{len(out)} predictions written to {args.output}")
    return 0


def run_info(args):
    if args.cache:
        from .engine import cache
        print("\n".join(cache.describe()))
        if args.model is None:
            return 0
    if args.model is None:
        raise UsageError("name a saved model (MODEL.npz), or --cache")
    net = load(args.model)
    meta = net.metadata
    print(f"{args.model}: {net}")
    per_layer = " + ".join(f"{W.size + b.size:,}" for W, b in zip(net.weights, net.biases))
    print(f"parameters: {net.params.size:,} ({per_layer} per layer)")
    if not meta:
        print("no metadata (saved from Python without it)")
        return 0
    print(f"task: {meta['task']}" + (f", target {meta['target']!r}" if meta.get("target")
                                     else ""))
    if "classes" in meta:
        print(f"classes ({len(meta['classes'])}): {', '.join(map(str, meta['classes']))}")
    features = meta.get("features") or []
    print(f"features: {net.sizes[0]}" + (f" ({', '.join(features[:8])}"
                                         + (", ...)" if len(features) > 8 else ")")
                                         if features else "")
          + ("; standardised" if "standardize" in meta else ""))
    trained = meta.get("trained")
    if trained:
        final = ", ".join(f"{k} {v:.4f}" for k, v in trained["final"].items() if k != "lr")
        print(f"trained on {trained['data']} ({trained['rows']} rows) for {trained['epochs']} "
              f"epochs, {trained['optimizer']} at lr {trained['lr']:g}, batches of "
              f"{trained['batch_size']}, in {trained['seconds']} s on {trained['date']} "
              f"(fastbp {trained['fastbp']})")
        print(f"final epoch: {final}")
    if net.layer_record is not None:
        print(layer_table(net.layer_record))
    return 0


LAYER_COLUMNS = tuple(key for key, _, _ in LAYER_PANELS)  # the record's quantities


def layer_table(record):
    """The lines of a network's layer_record: one row per layer, one column per quantity."""
    lines = [f"layer record of epoch {record['epoch']} of its fit:",
             "  layer " + "".join(f"{name:>14}" for name in LAYER_COLUMNS)]
    for l in range(len(record["delta_rms"])):
        values = [record[name][l] for name in LAYER_COLUMNS]
        lines.append(f"  {l + 1:>5} " + "".join(
            f"{'-':>14}" if np.isnan(v) else f"{v:>14.4g}" for v in values))
    return "\n".join(lines)


# the demo -----------------------------------------------------------------------------------

def demo(argv):
    """python -m fastbp [--dataset ...]: train on a built-in dataset, report accuracy and
    speed."""
    parser = argparse.ArgumentParser(
        prog="fastbp demo", description="Train on a built-in dataset and report test "
        "accuracy and speed (python -m fastbp without a command runs it too). Commands for "
        "your own data: fastbp --help", formatter_class=_DefaultsShown)
    parser.add_argument("--dataset", choices=["digits", "fashion-mnist"], default="digits",
                        help="scikit-learn's digits, or Fashion-MNIST's IDX files")
    parser.add_argument("--data-dir", help="folder with the Fashion-MNIST IDX files "
                        "(default: where dataset-fashion-mnist installs them)")
    parser.add_argument("--hidden", type=int, nargs="+", help="hidden layer widths "
                        "(default: the dataset's)")
    parser.add_argument("--activation", default="relu", help="hidden activation")
    parser.add_argument("--epochs", type=int, help="passes over the data (default: the "
                        "dataset's)")
    parser.add_argument("--batch-size", type=int, help="rows per update (default: the "
                        "dataset's)")
    parser.add_argument("--lr", type=float, help="SGD's learning rate (default: the dataset's)")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                        help="the parameters' precision")
    parser.add_argument("--precision", choices=PRECISIONS, default="float32",
                        help="the products' input precision")
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights and the "
                        "shuffling")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch output")
    args = parser.parse_args(argv)
    if args.data_dir and args.dataset != "fashion-mnist":
        parser.error("--data-dir goes with --dataset fashion-mnist")
    if args.dataset == "fashion-mnist" and find_fashion_mnist(args.data_dir) is None:
        parser.error("Fashion-MNIST files not found: apt-get install dataset-fashion-mnist, "
                     "or pass --data-dir")
    hidden, epochs, batch_size, lr = DEFAULTS[args.dataset]
    if args.dataset == "digits":
        X_train, y_train, X_test, y_test = load_digits(seed=args.seed)
    else:
        X_train, y_train, X_test, y_test = load_fashion_mnist(args.data_dir)
    net = Network([X_train.shape[1], *(args.hidden or hidden), 10],
                  activation=args.activation, dtype=args.dtype, seed=args.seed,
                  precision=args.precision)
    print(f"{args.dataset}: {len(X_train)} training and {len(X_test)} test samples; {net}")
    started = time.perf_counter()
    history = net.fit(X_train, y_train, epochs=args.epochs or epochs,
                      batch_size=args.batch_size or batch_size, lr=args.lr or lr,
                      verbose=_verbosity(args.quiet))
    wall = time.perf_counter() - started
    test = net.evaluate(X_test, y_test)
    samples_per_s = len(X_train) * len(history.epoch) / wall
    print(f"test accuracy {test['accuracy']:.4f}, test loss {test['loss']:.4f}")
    print(f"{samples_per_s:,.0f} training samples/s over the whole fit (a first run also "
          f"compiles), wall time {wall:.2f} s for {len(history.epoch)} epochs")
    return 0
