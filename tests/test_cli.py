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
