"""Cached kernels compiled from other sources are dropped wherever Numba keeps them."""

import os
import subprocess
import sys
from pathlib import Path

import fastbp.cache as cache

_LIST_DIRS = ("import fastbp.cache as c\n"
              "for f in sorted({p.parent for p in c._PACKAGE.rglob('*.py')}):\n"
              "    print(c.cache_candidates(f)[0])")


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


def test_read_only_install_checks_numba_user_wide_folder(tmp_path, monkeypatch):
    """When a __pycache__ cannot be written, Numba caches in its user-wide folder: that is
    the one checked then."""
    monkeypatch.setattr(cache.config, "CACHE_DIR", "")
    monkeypatch.setattr(cache, "_user_wide_root", lambda: tmp_path)
    refresh = cache._refresh

    def read_only_package(directory, digest):
        if directory.name == "__pycache__":
            raise PermissionError(f"{directory} is read-only")
        refresh(directory, digest)

    monkeypatch.setattr(cache, "_refresh", read_only_package)
    user_wide = cache.cache_candidates(cache._PACKAGE)[1]
    assert tmp_path in user_wide.parents
    user_wide.mkdir(parents=True)
    (user_wide / "fastbp-sources.sha256").write_text("sources of another version")
    stale = user_wide / "stale.train-1.py311.nbi"
    stale.write_bytes(b"")
    cache.invalidate_stale_cache()
    assert not stale.exists()
    assert (user_wide / "fastbp-sources.sha256").read_text() == cache.sources_digest()
