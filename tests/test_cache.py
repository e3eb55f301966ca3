"""Cached kernels compiled from other sources are dropped wherever Numba keeps them."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastbp.engine.cache as cache
import fastbp.engine.numba_ext as numba_ext

# A kernel (the inference loop, engine/loops.py) calling a helper whose constant lives in
# another file (the leaky ReLU slope): Numba checks a cached kernel against its own file only.
_PROBE = ("import numpy as np, fastbp\n"
          "net = fastbp.Network([1, 1], output='leaky_relu', loss='mse', dtype='float64')\n"
          "net.params = [1.0, 0.0]\n"
          "print(fastbp.__file__, net.forward(np.array([[-2.0]]))[0, 0])")


def _probe(copies):
    """Run _PROBE in a new process for each (src, cache_dir) at once; their outputs."""
    children = []
    for src, cache_dir in copies:
        env = dict(os.environ, PYTHONPATH=str(src))
        env.pop("NUMBA_CACHE_DIR", None)
        env["FASTBP_SPECIALISE"] = "1"  # the probe's own small kernels: 4 compiles of them
        if cache_dir is not None:
            env["NUMBA_CACHE_DIR"] = str(cache_dir)
        children.append(subprocess.Popen([sys.executable, "-c", _PROBE], env=env, cwd=src,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True))
    values = []
    for (src, _), child in zip(copies, children):
        out, err = child.communicate(timeout=300)
        assert child.returncode == 0, err
        where, value = out.split()
        assert Path(where).is_relative_to(src)  # the copy ran, not the installed package
        values.append(float(value))
    return values


def _cache_files(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*.nb[ic]")}


def test_an_edited_helper_reaches_cached_kernels_in_other_folders(tmp_path):
    """Copies of the package run in new processes, a helper's file is edited, and the next
    process must run the new code: with the cache in the package's __pycache__ folder, and
    under NUMBA_CACHE_DIR (both at once, one per core). Unchanged sources keep their cached
    kernels."""
    copies = [(tmp_path / "in-tree", None), (tmp_path / "env", tmp_path / "numba-cache")]
    for src, _ in copies:
        shutil.copytree(cache._PACKAGE, src / "fastbp",
                        ignore=shutil.ignore_patterns("__pycache__"))
    roots = [cache_dir or src for src, cache_dir in copies]
    assert _probe(copies) == [pytest.approx(-0.02, rel=1e-12)] * 2
    cached = [_cache_files(root) for root in roots]
    for files in cached:  # the inference loop was cached
        assert any(p.name.startswith("loops.infer.") for p in files)
    assert _probe(copies) == [pytest.approx(-0.02, rel=1e-12)] * 2
    assert [_cache_files(root) for root in roots] == cached  # loaded, not compiled again

    for src, _ in copies:
        [helper] = [p for p in (src / "fastbp").rglob("*.py")
                    if "LEAKY_SLOPE = 0.01" in p.read_text()]
        helper.write_text(helper.read_text().replace("LEAKY_SLOPE = 0.01", "LEAKY_SLOPE = 0.5"))
    assert _probe(copies) == [pytest.approx(-1.0, rel=1e-12)] * 2


def test_read_only_install_checks_numba_user_wide_folder(tmp_path, monkeypatch):
    """When a __pycache__ cannot be written, Numba caches in its user-wide folder: that is
    the one checked then."""
    monkeypatch.setattr(numba_ext.config, "CACHE_DIR", "")
    monkeypatch.setattr(numba_ext, "user_wide_cache_root", lambda: tmp_path)
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
