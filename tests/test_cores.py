"""The cores the work is cut for: read from the affinity mask, the cgroup quota or
FASTBP_CORES; parts and slabs that grow with them; and the same bits on any thread count for
any core count (FASTBP_CORES = 2, 4, 8, 16 on this machine, 1 to 8 threads)."""

import os
import subprocess
import sys
import textwrap

import pytest

from fastbp.engine import parallel
from fastbp.engine.config import PARTS_MIN_FLOP

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from bench.configs import CONFIGS  # noqa: E402


@pytest.fixture
def cores(monkeypatch):
    """Reads usable_cores afresh with its inputs patched: cores(affinity=..., quota=...,
    setting=...)."""
    def read(affinity=8, quota=None, setting=None):
        monkeypatch.setattr(parallel.os, "sched_getaffinity", lambda pid: set(range(affinity)))
        monkeypatch.setattr(parallel, "cgroup_quota", lambda: quota)
        monkeypatch.setattr(parallel, "CORES_SETTING", setting)
        parallel.available_cores.cache_clear()
        parallel.usable_cores.cache_clear()
        return parallel.usable_cores()

    yield read
    parallel.available_cores.cache_clear()
    parallel.usable_cores.cache_clear()


def test_usable_cores_are_the_affinity_mask_capped_by_the_quota(cores):
    assert cores(affinity=8) == 8
    assert cores(affinity=8, quota=2.5) == 3  # a quota of 2.5 CPUs keeps 3 cores busy
    assert cores(affinity=2, quota=16.0) == 2
    assert cores(affinity=8, quota=0.2) == 1
    assert cores(affinity=2, setting="16") == 16  # FASTBP_CORES wins, even above the mask
    for bad in ("0", "-3", "four", "2.5"):
        with pytest.raises(ValueError, match=f"FASTBP_CORES='{bad}': use a whole number"):
            cores(setting=bad)


def test_cgroup_quota_from_v2_and_v1_files(tmp_path):
    own = tmp_path / "cgroup"
    root = tmp_path / "fs"
    # v2: the tightest of the cgroup and its ancestors
    (root / "box" / "job").mkdir(parents=True)
    (root / "box" / "job" / "cpu.max").write_text("max 100000\n")
    (root / "box" / "cpu.max").write_text("400000 100000\n")
    own.write_text("0::/box/job\n")
    assert parallel.cgroup_quota(own, root) == 4.0
    # v1: the cpu controller's mount, quota over period; -1 is no quota
    (root / "cpu,cpuacct" / "job").mkdir(parents=True)
    (root / "cpu,cpuacct" / "job" / "cpu.cfs_quota_us").write_text("150000\n")
    (root / "cpu,cpuacct" / "job" / "cpu.cfs_period_us").write_text("100000\n")
    own.write_text("4:memory:/job\n3:cpu,cpuacct:/job\n")
    assert parallel.cgroup_quota(own, root) == 1.5
    (root / "cpu,cpuacct" / "job" / "cpu.cfs_quota_us").write_text("-1\n")
    assert parallel.cgroup_quota(own, root) is None
    own.write_text("0::/\n")  # no cpu.max at all
    assert parallel.cgroup_quota(own, tmp_path / "empty") is None
    assert parallel.cgroup_quota(tmp_path / "missing", root) is None


@pytest.mark.parametrize("n_cores, expected", [
    (1, {"nielsen": 1, "small": 1, "medium": 1, "large": 1}),
    (2, {"nielsen": 2, "small": 2, "medium": 2, "large": 2}),  # as before cores counted
    (4, {"nielsen": 2, "small": 4, "medium": 4, "large": 4}),
    (8, {"nielsen": 2, "small": 4, "medium": 4, "large": 8}),
    (16, {"nielsen": 2, "small": 4, "medium": 4, "large": 8})])
def test_parts_and_slabs_grow_with_the_cores(cores, n_cores, expected):
    cores(affinity=n_cores)
    for name, parts in expected.items():
        cfg = CONFIGS[name]
        batch = cfg.flop_per_sample * cfg.batch_size
        assert parallel.training_parts(batch, 60000 * cfg.flop_per_sample) == parts, name
    assert parallel.training_parts(PARTS_MIN_FLOP / 2, 1e12) == 1  # too little per batch
    assert parallel.inference_rows() == 512 * n_cores
    assert parallel.inference_slabs(parallel.inference_rows()) == n_cores
    assert parallel.inference_slabs(100) == 1


_SCRIPT = textwrap.dedent("""
    import hashlib, sys
    import numba
    import numpy as np
    import fastbp
    sys.path.insert(0, sys.argv[1])
    from bench.configs import CONFIGS

    def digest(*arrays):
        return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes()
                                       for a in arrays)).hexdigest()[:16]

    rng = np.random.default_rng(0)
    X = rng.random((768, 784), dtype=np.float32)
    y = rng.integers(0, 10, 768)
    weights = 1 + np.arange(768) % 3
    rows = rng.random((3000, 784), dtype=np.float32)
    cfg_parts = {name: fastbp.engine.parallel.training_parts(
        cfg.flop_per_sample * cfg.batch_size, 768 * cfg.flop_per_sample)
        for name, cfg in CONFIGS.items()}
    print("parts", *[cfg_parts[name] for name in CONFIGS])
    for threads in (1, 2, 3, 4, 8):
        numba.set_num_threads(threads)
        found = []
        for name, cfg in CONFIGS.items():
            targets = np.eye(10, dtype=np.float32)[y] if cfg.loss == "mse" else y
            plain = cfg.network(seed=1)
            plain.fit(X, targets, epochs=1, batch_size=cfg.batch_size, lr=cfg.lr)
            found.append(digest(plain.params))
            noisy = cfg.network(seed=2, dropout=0.2)
            opt = fastbp.optimizers.Adam(lr=1e-3)
            noisy.fit(X, targets, epochs=1, batch_size=cfg.batch_size, optimizer=opt,
                      clip_norm=0.5, sample_weight=weights)
            found.append(digest(noisy.params, opt.state))
            found.append(digest(plain.forward(rows)))
        print(threads, *found)
""")


@pytest.mark.parametrize("n_cores", [2, 4, 8, 16])
def test_the_same_bits_on_any_thread_count(n_cores):
    """For each core count the work is cut for, plain SGD, Adam with clipping, dropout and
    sample weights, and inference over 3000 rows give the same bits on 1, 2, 3, 4 and 8
    threads (8 oversubscribe this machine: correct, only slower), for the shapes of the four
    standard configurations."""
    root = os.path.join(os.path.dirname(__file__), "..")
    env = dict(os.environ, FASTBP_CORES=str(n_cores), NUMBA_NUM_THREADS="8")
    env.pop("OMP_NUM_THREADS", None)
    done = subprocess.run([sys.executable, "-c", _SCRIPT, root], env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    parts = lines[0].split()[1:]
    assert parts == [str(min(p, n_cores)) for p in (2, 4, 4, 8)]  # nielsen .. large
    by_threads = {line.split()[0]: line.split()[1:] for line in lines[1:] if line}
    assert list(by_threads) == ["1", "2", "3", "4", "8"]
    for threads, found in by_threads.items():
        assert found == by_threads["1"], f"{threads} threads differ from 1 at {n_cores} cores"


def test_ranks_on_one_host_share_the_cores_it_may_run_on(cores, monkeypatch):
    """share_cores gives each of the processes on a host cores // processes threads of the
    cores this process may run on: not os.cpu_count's whole machine, nor FASTBP_CORES (which
    cuts the work, and may name more cores than there are)."""
    import numba
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 64)
    before = numba.get_num_threads()
    for setting in (None, "16"):
        cores(affinity=2, setting=setting)
        with parallel.share_cores(2):
            assert numba.get_num_threads() == 1
        assert numba.get_num_threads() == before
