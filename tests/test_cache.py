"""fastbp's kernels are cached in one per-user folder, never in the sources, and kernels
cached from other sources are never loaded."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fastbp.engine.cache as cache

# A kernel (the inference loop, engine/loops.py) calling a helper whose constant lives in
# another file (the leaky ReLU slope): Numba checks a cached kernel against its own file only.
_PROBE = ("import numpy as np, fastbp\n"
          "net = fastbp.Network([1, 1], output='leaky_relu', loss='mse', dtype='float64')\n"
          "net.params = [1.0, 0.0]\n"
          "print(fastbp.__file__, net.forward(np.array([[-2.0]]))[0, 0])")


def _probe(src, cache_dir):
    """Run _PROBE with the package copied to src and FASTBP_CACHE_DIR=cache_dir; its output."""
    env = dict(os.environ, PYTHONPATH=str(src), FASTBP_CACHE_DIR=str(cache_dir),
               FASTBP_SPECIALISE="1")  # the probe's own small kernels
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=src,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    where, value = done.stdout.split()
    assert Path(where).is_relative_to(src)  # the copy ran, not the installed package
    return float(value)


def _cache_files(root):
    return {p: p.stat().st_mtime_ns for p in root.rglob("*.nb[ic]")}


def test_an_edited_helper_reaches_cached_kernels_and_sources_stay_clean(tmp_path):
    """A copy of the package runs in new processes: its kernels are cached under
    FASTBP_CACHE_DIR, none inside the copy; a second process loads them; after a helper's
    file is edited, the next process runs the new code."""
    src, cache_dir = tmp_path / "src", tmp_path / "cache"
    shutil.copytree(cache.PACKAGE, src / "fastbp", ignore=shutil.ignore_patterns("__pycache__"))
    assert _probe(src, cache_dir) == pytest.approx(-0.02, rel=1e-12)
    cached = _cache_files(cache_dir)
    assert any(p.name.startswith("loops.infer.") for p in cached)
    assert all(p.parent.parent.parent == cache_dir / "kernels" for p in cached)
    assert not _cache_files(src)  # nothing written into the sources
    assert _probe(src, cache_dir) == pytest.approx(-0.02, rel=1e-12)
    assert _cache_files(cache_dir) == cached  # loaded, not compiled again

    [helper] = [p for p in (src / "fastbp").rglob("*.py")
                if "LEAKY_SLOPE = 0.01" in p.read_text()]
    helper.write_text(helper.read_text().replace("LEAKY_SLOPE = 0.01", "LEAKY_SLOPE = 0.5"))
    assert _probe(src, cache_dir) == pytest.approx(-1.0, rel=1e-12)
    versions = sorted(p.name for p in (cache_dir / "kernels").iterdir())
    assert len(versions) == 2  # the edited sources' kernels in a folder of their own


def test_an_unwritable_cache_folder_falls_back_to_a_temporary_one(tmp_path, monkeypatch):
    """FASTBP_CACHE_DIR that cannot be created (under a file) gives the system's temporary
    folder, not an error and not the sources."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(cache, "CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(cache.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    root = cache._root()
    assert root.parent == tmp_path / "tmp" and root.name.startswith("fastbp-")
    assert root.is_dir()


def test_describe_and_clear(tmp_path, monkeypatch):
    """describe names the folder and sizes each version's kernels; clear empties it."""
    monkeypatch.setattr(cache, "ROOT", tmp_path)
    monkeypatch.setattr(cache, "KERNELS", tmp_path / "kernels")
    kernel = tmp_path / "kernels" / cache.SOURCES / "fastbp.engine" / "loops.train-1.py311.nbi"
    kernel.parent.mkdir(parents=True)
    kernel.write_bytes(b"x" * 2048)
    (tmp_path / "gemm-choice-cpu.json").write_text("{}")
    lines = cache.describe()
    assert lines[0].startswith(f"cache folder: {tmp_path}")
    assert any(f"kernels/{cache.SOURCES}: 1 files" in line and "this version" in line
               for line in lines)
    assert lines[-1].startswith("total: 2 files")
    assert cache.clear() == 2048 + 2
    assert not (tmp_path / "kernels").exists()
    assert not list(tmp_path.glob("gemm-choice-*"))
    assert cache.describe()[1] == "  kernels: none compiled yet"


def test_seed_copies_the_install_time_kernels_once(tmp_path, monkeypatch):
    """Kernels compiled when the wheel was built (fastbp/_seed) are copied into the cache
    folder at the first import of that version, with the product table; a version that has
    run here before keeps its own."""
    seed = tmp_path / "seed"
    built = seed / "kernels" / cache.SOURCES / "fastbp.engine" / "loops.train-1.py311.nbi"
    built.parent.mkdir(parents=True)
    built.write_bytes(b"compiled at install")
    (seed / "gemm-choice-cpu.json").write_text("{}")
    root = tmp_path / "cache"
    monkeypatch.setattr(cache, "SEED", seed)
    monkeypatch.setattr(cache, "ROOT", root)
    monkeypatch.setattr(cache, "KERNELS", root / "kernels")
    monkeypatch.setattr(cache, "KERNEL_DIR", root / "kernels" / cache.SOURCES)
    cache.seed()
    copied = root / "kernels" / cache.SOURCES / "fastbp.engine" / "loops.train-1.py311.nbi"
    assert copied.read_bytes() == b"compiled at install"
    assert (root / "gemm-choice-cpu.json").exists()
    assert [p.name for p in (root / "kernels").iterdir()] == [cache.SOURCES]  # no staging
    copied.write_bytes(b"compiled here since")
    cache.seed()
    assert copied.read_bytes() == b"compiled here since"
