"""Cached kernels compiled from other sources are dropped, also under NUMBA_CACHE_DIR."""

import os
import subprocess
import sys
from pathlib import Path

_LIST_DIRS = ("import fastbp.cache as c; "
              "print('\\n'.join(str(d) for d in c.cache_directories()))")


def _import_fastbp(cache_dir, code="import fastbp"):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout.split()


def test_stale_kernels_under_numba_cache_dir_are_dropped(tmp_path):
    directories = [Path(d) for d in _import_fastbp(tmp_path, _LIST_DIRS)]
    assert len(directories) >= 2 and all(tmp_path in d.parents for d in directories)
    _import_fastbp(tmp_path)
    stamp = directories[0] / "fastbp-sources.sha256"
    current = stamp.read_text()
    kept = directories[0] / "kept.train-1.py311.nbi"
    kept.write_bytes(b"")
    _import_fastbp(tmp_path)  # same sources: cached kernels stay
    assert kept.exists()

    stamp.write_text("sources of another version")
    stale = directories[0] / "stale.train-1.py311.1.nbc"
    stale.write_bytes(b"")
    _import_fastbp(tmp_path)
    assert not kept.exists() and not stale.exists()
    assert stamp.read_text() == current
