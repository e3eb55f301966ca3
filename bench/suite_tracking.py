"""asv: figures that are not speeds: start-up seconds and accuracy after a fixed training run
(so a silent correctness regression shows in the history too)."""

import os
import subprocess
import sys
import tempfile
import time

from bench.common import data, targets
from bench.configs import CONFIGS

# A user's first job (bench/tools/cold_start.py has it step by step, beside scikit-learn's):
# import, Network, a first fit of one epoch, evaluate and predict.
_START = ("import numpy as np, fastbp; "
          "X = np.random.default_rng(0).random((4000, 784), dtype=np.float32); "
          "y = np.arange(4000) % 10; "
          "net = fastbp.Network([784, 128, 10], seed=0); "
          "net.fit(X, y, epochs=1, batch_size=32, lr=0.1); "
          "net.evaluate(X[:1000], y[:1000]); net.predict(X[:1000])")


# Counts the functions Numba compiles during _START: a deterministic companion to the
# cold-start seconds, which move by +-20% on a busy or throttled machine.
_COUNT_COMPILES = ("from numba.core import event\n"
                   "compiled = []\n"
                   "class Count(event.Listener):\n"
                   "    def on_start(self, ev): pass\n"
                   "    def on_end(self, ev): compiled.append(ev.data['dispatcher'])\n"
                   "event.register('numba:compile', Count())\n"
                   + _START.replace("; ", "\n") + "\nprint(len(compiled))")


def _start_seconds(cache_dir):
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", _START], check=True,
                   env=dict(os.environ, FASTBP_CACHE_DIR=cache_dir))
    return time.perf_counter() - started


class StartUp:
    timeout = 600
    number = 1
    repeat = 1

    def track_cold_start_seconds(self):
        """Fresh process, empty fastbp cache (kernels and product table): import, Network,
        first fit, evaluate, predict (bench/tools/cold_start.py's job)."""
        with tempfile.TemporaryDirectory() as cache:
            return _start_seconds(cache)

    track_cold_start_seconds.unit = "seconds"

    def track_warm_start_seconds(self):
        """Fresh process, cache filled by a previous process."""
        with tempfile.TemporaryDirectory() as cache:
            _start_seconds(cache)
            return min(_start_seconds(cache) for _ in range(2))

    track_warm_start_seconds.unit = "seconds"

    def track_cold_start_compiled_functions(self):
        """Functions (signatures) Numba compiles in the cold start above."""
        with tempfile.TemporaryDirectory() as cache:
            done = subprocess.run([sys.executable, "-c", _COUNT_COMPILES], check=True,
                                  capture_output=True, text=True,
                                  env=dict(os.environ, FASTBP_CACHE_DIR=cache))
        return int(done.stdout.split()[-1])

    track_cold_start_compiled_functions.unit = "functions"


class Accuracy:
    params = ["small", "nielsen"]
    param_names = ["config"]
    timeout = 600

    def track_test_accuracy(self, config):
        """Test accuracy after 2 epochs on the 10,000-sample subset, fixed seeds."""
        cfg = CONFIGS[config]
        X, y, X_test, y_test = data()
        net = cfg.network(seed=0)
        net.fit(X, targets(cfg, y), epochs=2, batch_size=cfg.batch_size, lr=cfg.lr, seed=0)
        return float((net.forward(X_test).argmax(axis=1) == y_test).mean())

    track_test_accuracy.unit = "accuracy"
