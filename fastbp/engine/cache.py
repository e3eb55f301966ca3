"""Where fastbp keeps what it computes once per machine: one folder per user.

    <root>/kernels/<sources>/   Numba's disk cache of every fastbp kernel
    <root>/gemm-choice-*.json   the measured choice of matrix-product library (backends.py)

<root> is FASTBP_CACHE_DIR when set, else the platform's cache folder for fastbp (on Linux
~/.cache/fastbp); never a source checkout. <sources> is a hash of every source file of the
package: Numba re-validates a cached function only against its own file, so a kernel that
calls a helper changed in another file would keep running the old code; with one folder per
version of the sources no kernel cached from other sources is ever loaded. When <root>
cannot be written, a folder under the system's temporary folder takes its place.

A wheel built by ``pip install .`` carries the default kernels compiled for the building
machine and its measured product table (fastbp/_seed, made by fastbp/_build_backend.py):
the first import of that version copies them into the cache folder (``seed``). Numba only
loads an entry compiled by its own version for this CPU, so a seed from elsewhere is
ignored and kernels are compiled as usual.
"""

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from numba.misc.appdirs import AppDirs

from .config import CACHE_DIR

PACKAGE = Path(__file__).resolve().parent.parent  # all of fastbp: kernels call across it


def sources_digest():
    """SHA-256 over the package's Python sources, in a fixed order."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _writable(folder):
    """folder, created if need be, when this process can write there; else None."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
        return folder
    except OSError:
        return None


def _root():
    preferred = Path(CACHE_DIR or AppDirs("fastbp", appauthor=False).user_cache_dir)
    user = os.getuid() if hasattr(os, "getuid") else 0
    fallback = Path(tempfile.gettempdir()) / f"fastbp-{user}"
    return _writable(preferred) or _writable(fallback) or preferred


ROOT = _root()
KERNELS = ROOT / "kernels"
SOURCES = sources_digest()[:16]
KERNEL_DIR = KERNELS / SOURCES  # this version's kernels (numba_ext.KernelLocator)
SEED = PACKAGE / "_seed"  # what the wheel's build compiled (_build_backend.py), if anything


def seed():
    """Copy the kernels and tables compiled when this version was built into the cache
    folder, unless this version has run here before; never raises (a failed copy only
    means compiling as usual)."""
    source = SEED / "kernels" / SOURCES
    if KERNEL_DIR.exists() or not source.is_dir():
        return
    staging = KERNELS / f".{SOURCES}.{os.getpid()}"  # complete before it takes the name
    try:
        shutil.copytree(source, staging)
        staging.rename(KERNEL_DIR)  # fails when another process got there first: fine
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    for table in SEED.glob("gemm-choice-*.json"):
        if not (ROOT / table.name).exists():
            try:
                shutil.copyfile(table, ROOT / table.name)
            except OSError:
                pass


def size(folder):
    """(files, bytes) under folder."""
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    return len(files), sum(p.stat().st_size for p in files)


def describe():
    """Lines saying where the cache is and how big each part of it is."""
    lines = [f"cache folder: {ROOT} (FASTBP_CACHE_DIR overrides)"]
    versions = sorted(p for p in KERNELS.glob("[!.]*")) if KERNELS.exists() else []
    for folder in versions:
        files, total = size(folder)
        mark = " (this version of fastbp)" if folder.name == SOURCES else ""
        lines.append(f"  kernels/{folder.name}: {files} files, {total / 2**20:.1f} MiB{mark}")
    if not versions:
        lines.append("  kernels: none compiled yet")
    for table in sorted(ROOT.glob("gemm-choice-*.json")):
        lines.append(f"  {table.name}: the measured matrix-product table")
    files, total = size(ROOT)
    lines.append(f"total: {files} files, {total / 2**20:.1f} MiB")
    return lines


def clear():
    """Delete every cached kernel and measured table; returns the bytes freed."""
    _, total = size(ROOT)
    shutil.rmtree(KERNELS, ignore_errors=True)
    for table in ROOT.glob("gemm-choice-*.json"):
        table.unlink(missing_ok=True)
    return total
