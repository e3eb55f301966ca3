"""Where a training step's time goes, per configuration: microseconds per mini-batch for each
kernel of the step, each timed alone in a compiled loop (no Python per call).

    python bench/tools/profile.py [config ...] [--dtype float64]

Not an asv suite: bench/tools/ has no __init__.py, so asv never imports it (it reaches into
fastbp internals that older commits do not have).
"""

import argparse
import sys
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout root

from bench.common import timed  # noqa: E402
from bench.configs import CONFIGS  # noqa: E402
from bench.data import synthetic  # noqa: E402
from fastbp.functions import activate, output_error, scale_by_derivative  # noqa: E402
from fastbp.kernels.loop import gather, train_batches  # noqa: E402
from fastbp.kernels.passes import (batch_w, batch_x, batch_y, bias,  # noqa: E402
                                   layer_block, weight)
from fastbp.kernels.products import affine, error_back, outer_update  # noqa: E402
from fastbp.layout import ACT, workspace_size  # noqa: E402


@njit
def _repeat(kind, l, reps, data, rows, params, table, ws, B, loss_code):
    n = rows.shape[0]
    top = table.shape[0] - 1
    x = batch_x(ws, table, B, n)
    for _ in range(reps):
        if kind == 0:
            gather(data, rows, ws, table, B, 0, rows.shape[0])
        elif kind == 1:
            a_prev = x if l == 0 else layer_block(ws, table, B, n, l - 1, 1)
            affine(a_prev, weight(params, table, l), bias(params, table, l),
                   layer_block(ws, table, B, n, l, 0))
        elif kind == 2:
            activate(table[l, ACT], layer_block(ws, table, B, n, l, 0),
                     layer_block(ws, table, B, n, l, 1))
        elif kind == 3:
            output_error(loss_code, table[top, ACT], layer_block(ws, table, B, n, top, 0),
                         layer_block(ws, table, B, n, top, 1), batch_y(ws, table, B, n),
                         batch_w(ws, table, B, n), layer_block(ws, table, B, n, top, 2))
        elif kind == 4:
            error_back(layer_block(ws, table, B, n, l, 2), weight(params, table, l),
                       layer_block(ws, table, B, n, l - 1, 2))
        elif kind == 5:
            scale_by_derivative(table[l - 1, ACT], layer_block(ws, table, B, n, l - 1, 0),
                                layer_block(ws, table, B, n, l - 1, 1),
                                layer_block(ws, table, B, n, l - 1, 2))
        else:
            a_prev = x if l == 0 else layer_block(ws, table, B, n, l - 1, 1)
            outer_update(-1e-9, layer_block(ws, table, B, n, l, 2), a_prev, 1.0,
                         weight(params, table, l))


def profile(cfg, dtype, X, Y, reps):
    net = cfg.network(dtype)
    table, params, B = net._table, net.params, cfg.batch_size
    ws = np.zeros(workspace_size(net.sizes, B), dtype)
    rows = np.arange(B)
    data = (X, Y, np.ones(len(X), dtype))
    args = (data, rows, params, table, ws, B, net._loss_code)
    steps = [("gather", 0, 0)]
    L = len(net.sizes) - 1
    steps += [(f"affine {l}", 1, l) for l in range(L)]
    steps += [(f"activate {l}", 2, l) for l in range(L)]
    steps += [("output error", 3, 0)]
    steps += [(f"error_back {l}", 4, l) for l in range(L - 1, 0, -1)]
    steps += [(f"sigma' {l - 1}", 5, l) for l in range(L - 1, 0, -1)]
    steps += [(f"outer_update {l}", 6, l) for l in range(L - 1, -1, -1)]
    times = {}
    for name, kind, l in steps:
        _repeat(kind, l, 2, *args)
        best = min(timed(lambda: _repeat(kind, l, reps, *args)) for _ in range(3))
        times[name] = best / reps * 1e6
    order = np.arange(len(X))
    stats = np.zeros(3)
    n_batches = max(1, len(X) // B)
    lrs = np.full(n_batches, 1e-9)
    noise = (np.zeros(len(net.sizes) - 1), 0)

    def epoch(stop):
        train_batches(data, order, 0, stop, B, params, table, net._loss_code, ws, stats, lrs,
                      0, None, noise)  # None: fused plain SGD

    epoch(B * 4)
    whole = min(timed(lambda: epoch(n_batches * B)) for _ in range(3)) / n_batches * 1e6
    return times, whole


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", nargs="*", default=list(CONFIGS))
    parser.add_argument("--dtype", default="float32")
    args = parser.parse_args()
    X, y, _, _ = synthetic(20000, 10)
    X = X.astype(args.dtype)
    for name in args.configs:
        cfg = CONFIGS[name]
        Y = np.eye(10, dtype=args.dtype)[y]  # one-hot rows suit every loss here
        reps = max(20, int(2e8 / (cfg.flop_per_sample * cfg.batch_size)))
        times, whole = profile(cfg, args.dtype, X, Y, reps)
        total = sum(times.values())
        print(f"\n{name} ({args.dtype}, batch {cfg.batch_size}): whole step {whole:.1f} us "
              f"= {cfg.batch_size / whole * 1e6:,.0f} samples/s; parts add to {total:.1f} us")
        for part, us in times.items():
            print(f"  {part:<16} {us:9.1f} us  {us / total:6.1%}")


if __name__ == "__main__":
    main()
