"""What a fit over uint8 images on disk costs in memory and time: Fashion-MNIST's training
images, tiled to --gigabytes of uint8 rows in a file, trained one epoch as an np.memmap with
input_scale=1/255 (converted batch by batch inside the kernels), against the float32 copy
of X that converting up front would have made. Each measurement runs in a fresh process;
memory is sampled every 5 ms from /proc/self/status: RssAnon (the process's own memory,
what a float copy would add to) and the traced peak of NumPy's allocations. Then the epoch
time of the same fit over 60,000 rows held as a uint8 memmap against a float32 array in
memory (the conversion's cost), best of --rounds.

    python bench/tools/memmap_memory.py [--gigabytes 2] [--rounds 5] [--folder /tmp]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import run_with_fair_blas  # noqa: E402
from bench.data import fashion_mnist_or_synthetic  # noqa: E402

FEATURES = 784
SIZES = [FEATURES, 128, 10]

CHILD = r"""
import json, sys, threading, time, tracemalloc
import numpy as np
import fastbp

path, rows, what, rounds = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
X = np.memmap(path, dtype=np.uint8, mode="r", shape=(rows, 784))
y = np.load(path + ".labels.npy")
net = fastbp.Network([784, 128, 10], seed=0, input_scale=1 / 255)
warm = np.asarray(X[:512])
net.fit(warm, y[:512], batch_size=64)  # compiles before any measurement
if what == "float32":
    X = np.asarray(X, dtype=np.float32) / np.float32(255)
    net = fastbp.Network([784, 128, 10], seed=0)
    net.fit(X[:512], y[:512], batch_size=64)


def rss_anon():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024


if what == "memory":
    peak, stop = [rss_anon()], threading.Event()
    start = peak[0]

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], rss_anon())
            time.sleep(0.005)

    sampler = threading.Thread(target=sample)
    tracemalloc.start()
    sampler.start()
    began = time.perf_counter()
    net.fit(X, y, batch_size=64, validation_split=0.05)
    seconds = time.perf_counter() - began
    stop.set()
    sampler.join()
    traced = tracemalloc.get_traced_memory()[1]
    print(json.dumps({"anon_growth": peak[0] - start, "traced_peak": traced,
                      "seconds": seconds}))
else:
    best = float("inf")
    for _ in range(rounds):
        began = time.perf_counter()
        net.fit(X, y, batch_size=64)
        best = min(best, time.perf_counter() - began)
    print(json.dumps({"seconds": best}))
"""


def write_images(path, rows):
    """rows of Fashion-MNIST training images (repeated) as raw uint8 at path, and their
    labels beside it."""
    X, y, _, _, source = fashion_mnist_or_synthetic()
    images = np.clip(np.rint(X * 255), 0, 255).astype(np.uint8)
    out = np.memmap(path, dtype=np.uint8, mode="w+", shape=(rows, FEATURES))
    for first in range(0, rows, len(images)):
        count = min(len(images), rows - first)
        out[first:first + count] = images[:count]
    out.flush()
    del out
    np.save(path + ".labels.npy", np.resize(y, rows))
    return source


def child(path, rows, what, rounds=1):
    result = subprocess.run([sys.executable, "-c", CHILD, path, str(rows), what, str(rounds)],
                            capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(result.stdout.splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gigabytes", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--folder", default=tempfile.gettempdir())
    args = parser.parse_args()
    rows = int(args.gigabytes * 2**30) // FEATURES
    with tempfile.TemporaryDirectory(dir=args.folder) as folder:
        big = os.path.join(folder, "big.u8")
        source = write_images(big, rows)
        print(f"data: {source}, {rows} rows x {FEATURES} uint8 = {rows * FEATURES / 2**30:.2f} "
              f"GiB on disk; network {SIZES}, batch 64, one epoch")
        memory = child(big, rows, "memory")
        copy = rows * FEATURES * 4
        print(f"memmap fit: own memory (RssAnon) grew {memory['anon_growth'] / 2**20:.0f} MiB, "
              f"NumPy's traced peak {memory['traced_peak'] / 2**20:.0f} MiB, against the "
              f"{copy / 2**20:.0f} MiB float32 copy avoided: "
              f"{memory['anon_growth'] / copy:.1%} of it; epoch {memory['seconds']:.1f} s")
        small = os.path.join(folder, "small.u8")
        write_images(small, 60_000)
        mapped = child(small, 60_000, "memmap", args.rounds)["seconds"]
        in_memory = child(small, 60_000, "float32", args.rounds)["seconds"]
        print(f"60,000 rows, best of {args.rounds} epochs: uint8 memmap {mapped:.3f} s, "
              f"float32 in memory {in_memory:.3f} s ({mapped / in_memory - 1:+.1%})")


if __name__ == "__main__":
    run_with_fair_blas()
    main()
