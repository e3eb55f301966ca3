"""Saved networks: a save killed at any moment leaves a loadable file (the old one or the
new one), and files that are not fastbp models are refused with a clear ValueError."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastbp

_SAVER = textwrap.dedent("""
    import sys
    import fastbp
    net = fastbp.Network([784, 1024, 1024, 10], seed=0)   # 7.5 MB of parameters
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        net.params[:] = i
        net.save(sys.argv[1])
""")


def test_a_killed_save_leaves_the_old_file_or_the_new_one(tmp_path):
    """30 saving processes killed with SIGKILL at random moments: the file always loads,
    and its parameters are all from one save (all equal, the value of one iteration)."""
    path = tmp_path / "model.npz"
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(30):
        saver = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)],
                                 stdout=subprocess.PIPE, text=True)
        assert saver.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.3))
        saver.send_signal(signal.SIGKILL)
        saver.wait()
        if not path.exists():  # killed before its first save finished
            continue
        params = fastbp.load(path).params
        assert params.size == 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 10250
        assert (params == params[0]).all(), "parameters mixed from two saves"
        seen.add(float(params[0]))
    assert len(seen) > 1  # the kills landed at different iterations


def test_save_leaves_no_temporary_file_and_keeps_the_umask(tmp_path):
    net = fastbp.Network([3, 2], seed=0)
    net.save(tmp_path / "a.npz")
    net.save(tmp_path / "a.npz")  # over an existing file
    assert os.listdir(tmp_path) == ["a.npz"]
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.npz").stat().st_mode & 0o777 == 0o666 & ~umask


def _npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("problem,make,message", [
    ("truncated", lambda p, good: p.write_bytes(good[:len(good) // 2]), "not a readable"),
    ("corrupted", lambda p, good: p.write_bytes(good[:100] + b"\0" * 200 + good[300:]),
     "not a readable"),
    ("empty", lambda p, good: p.write_bytes(b""), "not a readable"),
    ("text", lambda p, good: p.write_text("hello"), "not a readable"),
    ("foreign npz", lambda p, good: _npz(p, weights=np.zeros(3)), "not a readable"),
    ("pickled object", lambda p, good: _npz(p, spec=np.array([{"a": 1}], dtype=object),
                                             params=np.zeros(3)), "not a readable"),
    ("newer format", lambda p, good: _npz(p, params=np.zeros(3), spec=np.array(json.dumps(
        {"sizes": [1, 2], "format": 99}))), "newer fastbp: upgrade"),
    ("no format", lambda p, good: _npz(p, params=np.zeros(3), spec=np.array(json.dumps(
        {"sizes": [1, 2]}))), "format None"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_files_that_are_not_models_are_refused_clearly(tmp_path, problem, make, message):
    good_path = tmp_path / "good.npz"
    fastbp.Network([4, 3, 2], seed=0).save(good_path)
    bad = tmp_path / "bad.npz"
    make(bad, good_path.read_bytes())
    with pytest.raises(ValueError, match=message) as error:
        fastbp.load(bad)
    assert str(bad) in str(error.value)


def test_a_missing_file_stays_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastbp.load(tmp_path / "nothing.npz")
