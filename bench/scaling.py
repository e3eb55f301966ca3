"""Data-parallel training over ranks, measured here and modelled for more ranks.

    python bench/scaling.py            # needs mpi4py and mpiexec (pip install ".[mpi]")

Per standard configuration:
- the compute time of a step in one process (fit's compiled loop, 2 threads), measured;
- the time to reduce the flat gradient over 2 ranks on this machine's loopback, measured,
  for fastbp's fixed-order reduction (gather, sum in rank order, broadcast) and for MPI's
  own Allreduce, and the time of a whole data-parallel step with 2 ranks as fastbp runs it
  now (`fit(comm=...)`) and of a local-SGD step (`average_every=16`);
- the parallel efficiency predicted for P = 2..64 ranks (one per machine) on 10 and 100
  Gb/s networks: a step computes for t_step (each rank keeps its batch, so t_step does not
  change with P), then reduces S bytes with a ring all-reduce,
  t_comm = 2 (P - 1) / P * S / bandwidth + 2 log2(P) * latency, once per step for gradient
  averaging and once per H steps for average_every = H; efficiency = t_step / (t_step +
  t_comm / H). S is the float64 buffer fastbp exchanges (8 bytes per parameter).
  Latency: 20 us at 10 Gb/s (TCP over Ethernet), 2 us at 100 Gb/s (RDMA).
"""

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing bench/

from bench.common import run_with_fair_blas, targets, timed  # noqa: E402
from bench.configs import CONFIGS  # noqa: E402
from bench.data import fashion_mnist_or_synthetic  # noqa: E402

RANKS = (2, 4, 8, 16, 32, 64)
NETWORKS = {"10 Gb/s": (10e9 / 8, 20e-6), "100 Gb/s": (100e9 / 8, 2e-6)}
AVERAGE_EVERY = (1, 4, 16)
SAMPLES = 8192


def step_seconds(cfg, X, y):
    """Seconds per step of a one-process fit (best of 3 epochs after a warm-up)."""
    net = cfg.network()
    Y = targets(cfg, y)
    net.fit(X[:4 * cfg.batch_size], Y[:4 * cfg.batch_size], batch_size=cfg.batch_size,
            lr=cfg.lr)
    best = min(timed(lambda: net.fit(X, Y, batch_size=cfg.batch_size, lr=cfg.lr))
               for _ in range(3))
    return best / math.ceil(len(X) / cfg.batch_size)


def ring_seconds(P, nbytes, bandwidth, latency):
    return 2 * (P - 1) / P * nbytes / bandwidth + 2 * math.log2(P) * latency


def worker():
    """Under mpiexec -n 2: per configuration, the reduction times and the seconds per step of
    fit(comm=...) and fit(comm=..., average_every=16), printed as JSON by rank 0."""
    from mpi4py import MPI

    from fastbp.distributed import sum_over_ranks
    comm = MPI.COMM_WORLD
    X, y, *_ = fashion_mnist_or_synthetic()
    shard = slice(comm.Get_rank() * SAMPLES // 2, (comm.Get_rank() + 1) * SAMPLES // 2)
    results = {}
    for name, cfg in CONFIGS.items():
        net = cfg.network()
        # what a step exchanges: the gradient sums, 3 tallies and the Ctrl-C flag
        buffer = np.random.default_rng(comm.Get_rank()).random(net.params.size + 4)
        out = np.empty_like(buffer)
        timings = {}
        for label, reduce in (("ordered", lambda: sum_over_ranks(comm, buffer)),
                              ("allreduce", lambda: comm.Allreduce(buffer, out))):
            reduce()
            comm.Barrier()
            timings[label] = timed(lambda: [reduce() for _ in range(20)]) / 20
        Xs, Ys = X[shard], targets(cfg, y[shard])
        steps = math.ceil(len(Xs) / cfg.batch_size)
        for label, every in (("step_gradient_averaging", None), ("step_local_sgd_16", 16)):
            net.fit(Xs[:cfg.batch_size * 4], Ys[:cfg.batch_size * 4], batch_size=cfg.batch_size,
                    lr=cfg.lr, comm=comm, average_every=every)  # warm-up
            comm.Barrier()
            timings[label] = timed(lambda: net.fit(Xs, Ys, batch_size=cfg.batch_size,
                                                   lr=cfg.lr, comm=comm,
                                                   average_every=every)) / steps
        results[name] = dict(timings, params=net.params.size)
    if comm.Get_rank() == 0:
        print(json.dumps(results))


def main():
    mpiexec = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or \
        shutil.which("mpiexec")
    if mpiexec is None:
        sys.exit("needs mpiexec: pip install '.[mpi]'")
    X, y, _, _, source = fashion_mnist_or_synthetic()
    X, y = X[:SAMPLES], y[:SAMPLES]
    local = {name: step_seconds(cfg, X, y) for name, cfg in CONFIGS.items()}
    done = subprocess.run([mpiexec, "-n", "2", sys.executable, __file__, "--worker"],
                          capture_output=True, text=True,
                          env=dict(os.environ, NUMBA_NUM_THREADS="1"))
    if done.returncode != 0:
        sys.exit(done.stderr[-3000:])
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"data: {source}, {SAMPLES} samples; float32; 2 ranks on this machine's loopback")
    print()
    print("| config | parameters | step, one process | reduction, fixed order / Allreduce "
          "(2 ranks) | fit(comm) step now, 2 ranks | average_every=16 step now, 2 ranks |")
    print("|---|---|---|---|---|---|")
    for name, m in measured.items():
        print(f"| {name} | {m['params']:,} | {local[name] * 1e6:.0f} us | "
              f"{m['ordered'] * 1e6:.0f} / {m['allreduce'] * 1e6:.0f} us | "
              f"{m['step_gradient_averaging'] * 1e6:.0f} us | "
              f"{m['step_local_sgd_16'] * 1e6:.0f} us |")
    print()
    print("Predicted parallel efficiency (ring all-reduce model, module docstring), gradient "
          "averaging / average_every 4 / 16:")
    print()
    print("| config | network | " + " | ".join(f"P = {P}" for P in RANKS) + " |")
    print("|---|---|" + "---|" * len(RANKS))
    for name, m in measured.items():
        nbytes = 8 * (m["params"] + 4)
        for network, (bandwidth, latency) in NETWORKS.items():
            cells = []
            for P in RANKS:
                t_comm = ring_seconds(P, nbytes, bandwidth, latency)
                cells.append(" / ".join(f"{local[name] / (local[name] + t_comm / H):.2f}"
                                        for H in AVERAGE_EVERY))
            print(f"| {name} | {network} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    run_with_fair_blas()
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker()
    else:
        main()
