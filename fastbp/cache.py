"""Keep Numba's on-disk cache consistent with the kernel sources.

Numba re-validates a cached function only against its own file; a kernel that calls into a
changed helper in another file would keep running the old code. So we stamp the cache with a
hash of every source file in the package and drop fastbp's cache files when it changes.
"""

import hashlib
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_STAMP_NAME = "fastbp-sources.sha256"


def sources_digest():
    """SHA-256 over the package's Python sources, in a fixed order."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def invalidate_stale_cache():
    """Delete the package's Numba cache files if the sources changed since they were written."""
    stamp = _PACKAGE / "__pycache__" / _STAMP_NAME
    current = sources_digest()
    try:
        if stamp.exists() and stamp.read_text() == current:
            return
        for pattern in ("*.nbi", "*.nbc"):
            for cached in _PACKAGE.rglob(f"__pycache__/{pattern}"):
                cached.unlink()
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(current)
    except OSError:
        pass  # read-only install: Numba then caches elsewhere and nothing here is stale
