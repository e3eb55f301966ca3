import os
import subprocess
import sys

from conftest import oracle
from fastbp import cli


def test_cli_trains_on_digits(capsys):
    oracle("sklearn")
    assert cli.main(["--epochs", "15", "--quiet"]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("test accuracy ")[1].split(",")[0])
    assert accuracy > 0.9
    assert "samples/s" in out and "wall time" in out


def test_cli_rejects_bad_arguments():
    done = subprocess.run([sys.executable, "-m", "fastbp", "--data-dir", "/nowhere"],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "--data-dir goes with --dataset fashion-mnist" in done.stderr


def test_cli_reports_missing_fashion_mnist(tmp_path):
    done = subprocess.run([sys.executable, "-m", "fastbp", "--dataset", "fashion-mnist",
                           "--data-dir", str(tmp_path)], capture_output=True, text=True)
    assert done.returncode == 2 and "Fashion-MNIST files not found" in done.stderr


_COUNT_COMPILES = """
import numpy as np
from numba.core import event
import fastbp
compiled = []
class Count(event.Listener):
    def on_start(self, ev): pass
    def on_end(self, ev): compiled.append(ev.data["dispatcher"].py_func.__name__)
event.register("numba:compile", Count())
rng = np.random.default_rng(1)
X, y = rng.normal(size=(300, 20)), rng.integers(0, 5, 300)
net = fastbp.Network([20, 32, 16, 5], activation=["relu", "tanh"], dtype="float64", seed=0)
net.fit(X, y, epochs=2, batch_size=16, optimizer="adam")
net.fit(X, y, epochs=1, batch_size=64)
net.predict(X), net.evaluate(X, y), net.backprop(X[:5], y[:5])
print(compiled)
"""


def test_warmup_compiles_what_a_later_fit_runs(tmp_path):
    """After `python -m fastbp warmup` for a configuration, a new process fitting another
    network of that configuration (other sizes, batch sizes) compiles nothing."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "fastbp", "warmup", "--activation", "relu+tanh",
                           "--optimizer", "sgd", "adam", "--dtype", "float64"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "relu+tanh -> softmax, cross_entropy, adam, float64" in done.stdout
    later = subprocess.run([sys.executable, "-c", _COUNT_COMPILES], capture_output=True,
                           text=True, env=env)
    assert later.returncode == 0, later.stderr
    assert later.stdout.strip() == "[]"
