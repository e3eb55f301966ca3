"""Compile ahead: fill Numba's disk cache for given network configurations, so that the
first fit of a container, a cluster worker or a CI job starts training at once.

    python -m fastbp warmup --activation relu tanh --loss cross_entropy --optimizer sgd adam

Kernels are compiled per set of activation and loss codes, optimizer and dtype (never per
layer width or batch size), so a warm-up on a tiny network covers every size. Set
NUMBA_CACHE_DIR to a shared or image-baked folder to carry the cache to other machines of
the same CPU kind.
"""

import argparse
import itertools
import time

import numpy as np

from .engine.codes import HIDDEN_ACTIVATIONS, LOSSES
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
            optimizers=("sgd",), dtypes=("float32",), dropout=False):
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

    Returns
    -------
    list of str
        One line per configuration, with the seconds it took.
    """
    report = []
    rng = np.random.default_rng(0)
    X = rng.normal(size=(8, 4))
    for hidden, loss, optimizer, dtype, drop in itertools.product(
            activations, losses, optimizers, dtypes, (0.0, 0.5) if dropout else (0.0,)):
        hidden = [hidden] if isinstance(hidden, str) else list(hidden)
        for output in (outputs or [_DEFAULT_OUTPUT[loss]]):
            started = time.perf_counter()
            net = Network([4] + [3] * len(hidden) + [2], activation=hidden, output=output,
                          loss=loss, dtype=dtype, dropout=drop)
            y = rng.integers(0, 2, 8) if loss == "cross_entropy" else rng.random((8, 2))
            if loss == "mse":
                y = y - 0.5
            net.fit(X, y, epochs=1, batch_size=4, **OPTIMIZERS[optimizer])
            net.predict(X)
            net.evaluate(X, y)
            net.backprop(X, y)
            report.append(f"{'+'.join(hidden)} -> {output}, {loss}, {optimizer}, {dtype}"
                          f"{', dropout' if drop else ''}: {time.perf_counter() - started:.1f} s")
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fastbp warmup", description=__doc__.splitlines()[0])
    parser.add_argument("--activation", nargs="+", default=["relu"],
                        help="hidden activations; join a network's several with '+', e.g. "
                             "relu+tanh (choices: " + ", ".join(HIDDEN_ACTIVATIONS) + ")")
    parser.add_argument("--output", nargs="+", help="output activations (default: the loss's)")
    parser.add_argument("--loss", nargs="+", default=["cross_entropy"], choices=LOSSES)
    parser.add_argument("--optimizer", nargs="+", default=["sgd"], choices=list(OPTIMIZERS))
    parser.add_argument("--dtype", nargs="+", default=["float32"],
                        choices=["float32", "float64"])
    parser.add_argument("--dropout", action="store_true", help="also the dropout variant")
    args = parser.parse_args(argv)
    activations = [tuple(a.split("+")) for a in args.activation]
    for name in {n for group in activations for n in group} - set(HIDDEN_ACTIVATIONS):
        parser.error(f"unknown hidden activation {name!r}")
    started = time.perf_counter()
    for line in warm_up(activations, args.output, args.loss, args.optimizer, args.dtype,
                        args.dropout):
        print(line)
    print(f"compiled or loaded in {time.perf_counter() - started:.1f} s")
    return 0
