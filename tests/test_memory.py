"""Peak memory of fit: within data + 3 x parameters + workspace + 100 MB (issue 4); no
growth over many rounds of fit, predict, save and load.

Measured as the growth of this process's peak resident set during the call, after resetting
the kernel's peak counter (Linux: /proc/self/clear_refs, "5")."""

import os

import numpy as np
import pytest

import fastbp
from fastbp.engine.layout import workspace_size

MB = 2 ** 20
pytestmark = pytest.mark.skipif(not os.access("/proc/self/clear_refs", os.W_OK),
                                reason="needs Linux's resettable peak RSS counter")


def _status_bytes(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def peak_growth(call):
    """Bytes by which call() raised this process's peak resident set above its current one."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")
    before = _status_bytes("VmRSS")
    call()
    return _status_bytes("VmHWM") - before


def test_the_meter_sees_a_copy():
    X = np.ones((4000, 784), np.float32)
    assert peak_growth(lambda: X.astype(np.float64)) >= 2 * X.nbytes * 0.95


@pytest.mark.parametrize("sizes,batch_size,optimizer", [
    ([784, 30, 10], 10, "sgd"),
    ([784, 256, 128, 10], 64, "adam"),
])
def test_fit_peak_memory_within_budget(sizes, batch_size, optimizer):
    rng = np.random.default_rng(0)
    X = rng.random((40000, 784), dtype=np.float32)  # 125 MB, big enough to see a copy
    y = rng.integers(0, 10, 40000)
    net = fastbp.Network(sizes, seed=0)
    net.fit(X[:100], y[:100], batch_size=batch_size, optimizer=optimizer)  # compile first
    growth = peak_growth(lambda: net.fit(X, y, batch_size=batch_size, optimizer=optimizer))
    budget = (X.nbytes + y.nbytes + 3 * net.params.nbytes
              + workspace_size(sizes, batch_size) * net.params.itemsize + 100 * MB)
    assert growth <= budget, f"fit grew the peak RSS by {growth / MB:.0f} MB > {budget / MB:.0f}"


def test_no_growth_over_200_rounds_of_fit_predict_save_load(tmp_path):
    """After 20 warm-up rounds, 180 more rounds of building, fitting, predicting, saving and
    loading a network leave the resident set where it was, to within 8 MB (a leak of a
    parameter buffer per round, 150 KB, would add 27 MB; of the optimizer state, twice that)."""
    rng = np.random.default_rng(0)
    X = rng.random((256, 64), dtype=np.float32)
    y = rng.integers(0, 10, 256)
    path = tmp_path / "round.npz"

    def one_round(seed):
        net = fastbp.Network([64, 512, 10], seed=seed)
        net.fit(X, y, batch_size=32, optimizer="adam")
        net.predict(X)
        net.save(path)
        fastbp.load(path).forward(X)

    for seed in range(20):
        one_round(seed)
    before = _status_bytes("VmRSS")
    for seed in range(20, 200):
        one_round(seed)
    growth = _status_bytes("VmRSS") - before
    assert growth < 8 * MB, f"the resident set grew by {growth / MB:.1f} MB"
