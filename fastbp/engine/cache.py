"""Keep Numba's on-disk cache consistent with the kernel sources.

Numba re-validates a cached function only against its own file; a kernel that calls into a
changed helper in another file would keep running the old code. So we stamp each cache
folder holding fastbp's kernels with a hash of every source file in the package and drop
the cached kernels there when it changes. For each source folder that is where Numba puts
them: under NUMBA_CACHE_DIR when it is set, else the folder's __pycache__, else (a
read-only install) Numba's user-wide cache folder.
"""

import hashlib
from pathlib import Path

from .numba_ext import cache_candidates

_PACKAGE = Path(__file__).resolve().parent.parent  # all of fastbp: kernels call across it
_STAMP_NAME = "fastbp-sources.sha256"


def sources_digest():
    """SHA-256 over the package's Python sources, in a fixed order."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _refresh(directory, digest):
    """Drop the cached kernels in directory unless its stamp says they come from these
    sources, then stamp it; OSError if it cannot be written."""
    stamp = directory / _STAMP_NAME
    if stamp.exists() and stamp.read_text() == digest:
        return
    for pattern in ("*.nbi", "*.nbc"):
        for cached in directory.glob(pattern):
            cached.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    stamp.write_text(digest)


def invalidate_stale_cache():
    """Delete the package's Numba cache files wherever they were written from other sources."""
    digest = sources_digest()
    for folder in sorted({path.parent for path in _PACKAGE.rglob("*.py")}):
        for directory in cache_candidates(folder):
            try:
                _refresh(directory, digest)
                break  # the first writable candidate is the one Numba uses
            except OSError:
                continue
