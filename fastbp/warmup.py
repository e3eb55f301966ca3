"""Compile ahead: fill the kernel cache, so that the first fit of a container, a cluster
worker, a CI job or a fresh install starts training at once.

    fastbp warmup                   # the defaults: Network, fastbp train, the estimators
    fastbp warmup --activation relu tanh --loss cross_entropy --optimizer sgd adam
    fastbp warmup --clear           # empty the cache (fastbp info --cache shows it)

Kernels are compiled per set of activation and loss codes, optimizer and dtype (never per
layer width or batch size), so a warm-up on a tiny network covers every size. The cache
folder is per user (FASTBP_CACHE_DIR moves it: point it at a shared or image-baked folder to
carry the cache to other machines of the same CPU kind).
"""

import argparse
import itertools
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np

from .engine import cache
from .engine import config as engine_config
from .engine.codes import HIDDEN_ACTIVATIONS, LOSSES, PRECISIONS
from .network import Network

OPTIMIZERS = {  # the fit arguments that reach each compiled variant of the training step
    "sgd": dict(optimizer="sgd", lr=0.01),  # plain SGD: the update fused into the gradient
    "sgd-momentum": dict(optimizer="sgd", lr=0.01, momentum=0.9),  # also weight decay, clipping
    "adam": dict(optimizer="adam"),  # also AdamW
    "rmsprop": dict(optimizer="rmsprop"),
}
_DEFAULT_OUTPUT = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid",
                   "poisson": "exp", "mse": "identity"}


def warm_up(activations=("relu",), outputs=None, losses=("cross_entropy",),
            optimizers=("sgd",), dtypes=("float32",), dropout=False, precisions=("float32",)):
    """Compile (or load from the disk cache) everything fit, predict, evaluate and backprop
    run for each combination of the arguments.

    Parameters
    ----------
    activations : sequence of str
        Hidden activations; a network using several of them needs one warm-up with all of
        them, as ``activations=[("relu", "tanh")]``: each entry is one hidden activation or
        a tuple of the hidden activations of one network.
    outputs : sequence of str, optional
        Output activations; by default each loss's own (softmax, sigmoid, identity).
    losses, optimizers, dtypes : sequences of str
        optimizers: "sgd", "sgd-momentum" (also weight decay or clipping), "adam"
        (also "adamw"), "rmsprop".
    dropout : bool
        Also the variant of the training step with dropout.
    precisions : sequence of str
        The products' input precisions, "float32" and "bfloat16" (with the float32 dtype
        only: other pairs are skipped).

    Returns
    -------
    list of str
        One line per configuration, with the seconds it took.
    """
    report = []
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 4))
    for hidden, loss, optimizer, dtype, drop, precision in itertools.product(
            activations, losses, optimizers, dtypes, (0.0, 0.5) if dropout else (0.0,),
            precisions):
        if precision == "bfloat16" and dtype != "float32":
            continue
        hidden = [hidden] if isinstance(hidden, str) else list(hidden)
        for output in (outputs or [_DEFAULT_OUTPUT[loss]]):
            started = time.perf_counter()
            net = Network([4] + [3] * len(hidden) + [2], activation=hidden, output=output,
                          loss=loss, dtype=dtype, dropout=drop, precision=precision)
            y = rng.integers(0, 2, 8) if loss == "cross_entropy" else rng.random((8, 2))
            if loss == "mse":
                y = y - 0.5
            net.fit(X, y, epochs=1, batch_size=4, **OPTIMIZERS[optimizer])
            net.predict(X)
            net.evaluate(X, y)
            net.backprop(X, y)
            report.append(f"{'+'.join(hidden)} -> {output}, {loss}, {optimizer}, {dtype}"
                          f"{', dropout' if drop else ''}"
                          f"{', bfloat16 products' if precision == 'bfloat16' else ''}: "
                          f"{time.perf_counter() - started:.1f} s")
    return report


# What the defaults compile: each entry point as a user first calls it, on tiny data, so that
# it compiles exactly the kernels (activations, loss, optimizer, dtype, input types) that the
# same call on real data compiles.

def _network_defaults():
    """Network's defaults: ReLU, softmax and cross-entropy, fit's plain SGD, float32."""
    X, y = _tiny(np.float32), np.arange(8) % 3
    net = Network([4, 3, 3], seed=0)
    net.fit(X, y, epochs=1, batch_size=4)
    net.evaluate(X, y)
    net.predict(X)


# The commands run as a user runs them, in a process of their own that reports what it
# compiled (the command line is a layer above this module: no import of it here).
_COMMANDS = """
import sys
from numba.core import event
compiled = []
class Count(event.Listener):
    def on_start(self, ev): pass
    def on_end(self, ev): compiled.append(ev)
event.register("numba:compile", Count())
from fastbp.cli import main
data, model = sys.argv[1:]
for argv in (["train", data, "--epochs", "1", "--quiet", "--save", model],
             ["evaluate", model, data], ["predict", model, data, "--output", model + ".csv"]):
    if main(argv) != 0:
        raise SystemExit(f"fastbp {' '.join(argv)} failed")
print("compiled", len(compiled))
"""


def _cli_train(task):
    """``fastbp train`` with its defaults (ReLU, Adam, float32, standardised float64 features)
    on a tiny CSV, then ``fastbp evaluate`` and ``fastbp predict`` of the saved model; the
    number of functions that compiled."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        data, model = os.path.join(folder, "data.csv"), os.path.join(folder, "model.npz")
        X = _tiny(np.float64)
        y = np.arange(8) % 3 if task == "classes" else X.sum(axis=1)
        np.savetxt(data, np.column_stack([X, y]), delimiter=",", header="a,b,c,d,y",
                   comments="", fmt="%.6g" if task == "numbers" else ["%.6g"] * 4 + ["%d"])
        done = subprocess.run([sys.executable, "-c", _COMMANDS, data, model],
                              capture_output=True, text=True, timeout=1800,
                              env=dict(os.environ, FASTBP_COMPILE_HELPER="0"))
        if done.returncode != 0:
            raise RuntimeError(f"fastbp train/evaluate/predict failed:\n{done.stderr}")
        return int(done.stdout.split()[-1])


def _estimator(kind, activation="relu", classes=3):
    """A scikit-learn estimator's defaults (Adam, L2 alpha, X's dtype: float64 here) through
    fit, predict, predict_proba and score."""
    from .sklearn import FastbpClassifier, FastbpRegressor
    X = _tiny(np.float64)
    if kind == "classifier":
        model = FastbpClassifier((3,), activation=activation, max_iter=1, random_state=0)
        y = np.arange(8) % classes
        model.fit(X, y).predict_proba(X)
    else:
        model = FastbpRegressor(hidden_layer_sizes=(3,), activation=activation, max_iter=1,
                                random_state=0)
        y = X.sum(axis=1)
        model.fit(X, y)
    model.predict(X)
    model.score(X, y)


def _tiny(dtype):
    return np.random.default_rng(0).normal(size=(8, 4)).astype(dtype)


DEFAULTS = {
    "Network(...).fit, evaluate, predict (relu, softmax, sgd, float32)": (_network_defaults,),
    "fastbp train/evaluate/predict, classes (relu, softmax, adam, float32)": (_cli_train,
                                                                            "classes"),
    "fastbp train/evaluate/predict, numbers (relu, identity, adam, float32)": (_cli_train,
                                                                             "numbers"),
    "FastbpClassifier, 3 classes (relu, softmax, adam, float64)": (_estimator, "classifier"),
    "FastbpClassifier, 2 classes (relu, sigmoid, adam, float64)": (_estimator, "classifier",
                                                                   "relu", 2),
    "FastbpRegressor (relu, identity, adam, float64)": (_estimator, "regressor"),
    "FastbpClassifier, 3 classes (tanh, softmax, adam, float64)": (_estimator, "classifier",
                                                                   "tanh"),
    "FastbpClassifier, 2 classes (tanh, sigmoid, adam, float64)": (_estimator, "classifier",
                                                                   "tanh", 2),
}


def _run(name, job):
    """Run one job (in a worker process); (name, seconds, functions compiled), without the
    engine's compile helper (the jobs run in parallel already, and each counts what it
    compiled)."""
    from numba.core import event

    compiled = []

    class Count(event.Listener):
        def on_start(self, ev):
            pass

        def on_end(self, ev):
            compiled.append(ev)

    started = time.perf_counter()
    helper, engine_config.COMPILE_HELPER = engine_config.COMPILE_HELPER, False
    try:
        with event.install_listener("numba:compile", Count()), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # one epoch of tiny data does not converge
            elsewhere = job[0](*job[1:])  # what a job run in a process of its own compiled
    finally:
        engine_config.COMPILE_HELPER = helper
    return name, time.perf_counter() - started, len(compiled) + (elsewhere or 0)


def warm_defaults(jobs=None, include_estimators=True):
    """Compile (or load from the cache) what the defaults of Network, ``fastbp train`` and
    the scikit-learn estimators compile (DEFAULTS), in ``jobs`` processes at once (default:
    the cores this process may use; compiling holds one lock per process).

    Returns
    -------
    list of (str, float, int)
        Per entry of DEFAULTS: its name, the seconds it took and how many functions it
        compiled (0: all loaded from the cache).
    """
    chosen = {name: job for name, job in DEFAULTS.items()
              if include_estimators or job[0] is not _estimator}
    if jobs is None:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if jobs <= 1:
        return [_run(name, job) for name, job in chosen.items()]
    with ProcessPoolExecutor(min(jobs, len(chosen)), mp_context=get_context("spawn")) as pool:
        return list(pool.map(_run, chosen, chosen.values()))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastbp warmup",
                                     description=" ".join(__doc__.split("\n\n")[0].split()),
                                     epilog="Without --activation, --loss, --optimizer, "
                                     "--dtype, --precision or --output: the defaults ("
                                     + "; ".join(DEFAULTS)
                                     + ").")
    parser.add_argument("--activation", nargs="+",
                        help="hidden activations; join a network's several with '+', e.g. "
                             "relu+tanh (choices: " + ", ".join(HIDDEN_ACTIVATIONS) + ")")
    parser.add_argument("--output", nargs="+", help="output activations (default: the loss's)")
    parser.add_argument("--loss", nargs="+", choices=LOSSES)
    parser.add_argument("--optimizer", nargs="+", choices=list(OPTIMIZERS))
    parser.add_argument("--dtype", nargs="+", choices=["float32", "float64"])
    parser.add_argument("--precision", nargs="+", choices=PRECISIONS,
                        help="the products' input precisions (bfloat16: float32 dtype only)")
    parser.add_argument("--dropout", action="store_true", help="also the dropout variant")
    parser.add_argument("--jobs", type=int, help="processes compiling the defaults at once "
                        "(default: the cores this process may use)")
    parser.add_argument("--clear", action="store_true",
                        help="empty the cache folder (kernels and measured tables) and stop")
    args = parser.parse_args(argv)
    if args.clear:
        freed = cache.clear()
        print(f"emptied {cache.ROOT}: {freed / 2**20:.1f} MiB freed")
        return 0
    started = time.perf_counter()
    print(f"kernel cache: {cache.KERNEL_DIR}")
    if not any((args.activation, args.output, args.loss, args.optimizer, args.dtype,
                args.precision)):
        try:
            import sklearn  # noqa: F401  (the estimators need it)
            estimators = True
        except ImportError:
            estimators = False
            print("scikit-learn is not installed: its estimators' kernels are left out")
        for name, seconds, compiled in warm_defaults(args.jobs, estimators):
            print(f"{name}: {seconds:.1f} s, "
                  + (f"{compiled} functions compiled" if compiled else "loaded from the cache"))
    else:
        activations = [tuple(a.split("+")) for a in args.activation or ["relu"]]
        for name in {n for group in activations for n in group} - set(HIDDEN_ACTIVATIONS):
            parser.error(f"unknown hidden activation {name!r}")
        for line in warm_up(activations, args.output, args.loss or ["cross_entropy"],
                            args.optimizer or ["sgd"], args.dtype or ["float32"],
                            args.dropout, args.precision or ["float32"]):
            print(line)
    print(f"compiled or loaded in {time.perf_counter() - started:.1f} s")
    return 0
