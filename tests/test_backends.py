"""The matrix-product libraries: no thread-count side effects on the rest of the process,
the measured choice kept per CPU, and the FASTBP_GEMM setting."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from threadpoolctl import threadpool_info

import fastbp
from fastbp.engine import backends


def _others():
    """{library file: thread count} of every thread pool threadpoolctl sees but fastbp's own
    OpenBLAS copy (held to one thread for good), as seen from the calling thread."""
    return {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()
            if "scipy_openblas32" not in pool["filepath"]}


class _Probe(fastbp.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_epoch_end(self, epoch, logs=None):
        self.seen.append(_others())


@pytest.mark.parametrize("batch_size", [8, 256])  # one part, and two
def test_fit_and_forward_leave_other_thread_pools_alone(digits, batch_size):
    """NumPy's and SciPy's BLAS and the OpenMP runtime keep their thread counts during fit
    (seen from a callback, between chunks) and after fit and forward."""
    X, y, _, _ = digits
    before = _others()
    assert before, "threadpoolctl should see NumPy's BLAS at least"
    net = fastbp.Network([64, 512, 10], seed=0)
    probe = _Probe()
    net.fit(X, y, epochs=2, batch_size=batch_size, callbacks=[probe])
    net.forward(X)
    assert probe.seen == [before, before]
    assert _others() == before


_TABLE_SCRIPT = textwrap.dedent("""
    import fastbp
    from fastbp.engine import backends
    backends.choose()
    print(backends._table_file(), "".join(map(str, backends.choice)))
""")


def _table_run(cache, setting="auto"):
    env = dict(os.environ, FASTBP_CACHE_DIR=str(cache), FASTBP_GEMM=setting)
    done = subprocess.run([sys.executable, "-c", _TABLE_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    path, table = done.stdout.split()
    return path, table


@pytest.mark.skipif(backends.onednn is None, reason="oneDNN is not installed")
def test_measured_choice_is_kept_and_remeasured_when_unreadable(tmp_path):
    path, table = _table_run(tmp_path)
    saved = json.loads(open(path).read())
    assert len(saved["choice"]) == backends.N_CLASSES == len(table)
    assert set(saved["choice"].values()) <= set(backends.NAMES)
    # A tampered file is what the next process uses: the table is read, not re-measured.
    saved["choice"] = {label: "openblas" for label in saved["choice"]}
    open(path, "w").write(json.dumps(saved))
    assert _table_run(tmp_path) == (path, "0" * backends.N_CLASSES)
    # Measured with other settings (config.GEMM_*), or unreadable: measured again, rewritten.
    for stale in (json.dumps(dict(saved, settings={"margin": 0.5})), "{not json"):
        open(path, "w").write(stale)
        assert len(_table_run(tmp_path)[1]) == backends.N_CLASSES
        assert len(json.loads(open(path).read())["choice"]) == backends.N_CLASSES


def test_setting_forces_a_library(tmp_path):
    assert _table_run(tmp_path, "openblas")[1] == "0" * backends.N_CLASSES
    if backends.onednn is not None:
        assert _table_run(tmp_path, "onednn")[1] == "1" * backends.N_CLASSES
    # A bad value never breaks the import: the first network says what is wrong.
    done = subprocess.run([sys.executable, "-c", "import fastbp; fastbp.Network([2, 2])"],
                          capture_output=True, text=True, env=dict(os.environ, FASTBP_GEMM="mkl"))
    assert done.returncode != 0
    assert "FASTBP_GEMM='mkl': use 'auto', 'openblas' or 'onednn'" in done.stderr


def test_classes_cover_the_table_once():
    rows = sorted(index for _, index, _ in backends.classes())
    assert rows == list(range(backends.N_CLASSES))
    # A shape falls in the class of the representative of its buckets.
    assert backends.shape_class(0, 10, 15, 784) == backends.shape_class(0, 10, 10, 512)
    assert backends.shape_class(2, 64, 130, 256) == backends.shape_class(2, 60, 128, 200)
    assert backends.shape_class(2, 64, 130, 256) != backends.shape_class(2, 32, 130, 256)


@pytest.mark.skipif(backends.onednn is None, reason="oneDNN is not installed")
def test_libraries_agree_on_a_fit(digits):
    """The same fit with each library serving every product: equal to float32 rounding."""
    X, y, _, _ = digits
    params = []
    backends.choose()
    saved = backends.choice.copy()
    try:
        for library in (backends.OPENBLAS, backends.ONEDNN):
            backends.choice[:] = library
            net = fastbp.Network([64, 256, 128, 10], seed=0)
            net.fit(X, y, epochs=2, batch_size=32, optimizer="adam", lr=1e-3)
            params.append(net.params.copy())
    finally:
        backends.choice[:] = saved
    np.testing.assert_allclose(params[0], params[1], rtol=1e-3, atol=1e-4)
    assert not np.array_equal(params[0], params[1])  # the two libraries really both ran


_NETWORK_TABLE_SCRIPT = textwrap.dedent("""
    import fastbp
    from fastbp.engine import backends
    fastbp.Network([64, 20, 10])
    print(backends._table_file())
""")


@pytest.mark.skipif(backends.onednn is None, reason="oneDNN is not installed")
def test_a_network_measures_its_own_classes_and_later_ones_add_theirs(tmp_path):
    """A first network measures only the classes its products can fall in; the file keeps
    them, and a later process adds the rest without measuring the first ones again."""
    env = dict(os.environ, FASTBP_CACHE_DIR=str(tmp_path), FASTBP_GEMM="auto")
    done = subprocess.run([sys.executable, "-c", _NETWORK_TABLE_SCRIPT], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    path = done.stdout.split()[0]
    saved = json.loads(open(path).read())
    mine = {label for label, _, _ in backends.network_classes([64, 20, 10])}
    assert set(saved["choice"]) == mine and 0 < len(mine) < backends.N_CLASSES
    # (rows, units, n_in) for units in every bucket up to n_out's: parts take any share.
    assert "NT m=784 n=10 k=64" in mine and "NT m=10 n=32 k=64" in mine
    assert "NT m=10 n=64 k=64" not in mine
    saved["choice"] = {label: "onednn" for label in mine}  # what the next process must keep
    open(path, "w").write(json.dumps(saved))
    _, table = _table_run(tmp_path)
    assert {label for label, i, _ in backends.classes() if table[i] == "1"} >= mine
    assert len(json.loads(open(path).read())["choice"]) == backends.N_CLASSES
