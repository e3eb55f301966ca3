"""Keep Numba's on-disk cache consistent with the kernel sources.

Numba re-validates a cached function only against its own file; a kernel that calls into a
changed helper in another file would keep running the old code. So we stamp each cache
directory holding fastbp's kernels with a hash of every source file in the package and drop
the cached kernels there when it changes. Those directories are the package's __pycache__
folders, or, when NUMBA_CACHE_DIR is set, the folders Numba makes for them under it.
"""

import hashlib
from pathlib import Path

from numba.core import caching, config

_PACKAGE = Path(__file__).resolve().parent
_STAMP_NAME = "fastbp-sources.sha256"


def sources_digest():
    """SHA-256 over the package's Python sources, in a fixed order."""
    digest = hashlib.sha256()
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(_PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def cache_directories():
    """Where Numba caches the kernels of each source folder of the package."""
    folders = sorted({path.parent for path in _PACKAGE.rglob("*.py")})
    in_tree = [folder / "__pycache__" for folder in folders]
    # Numba's own rule for the sub-folder of a source folder under NUMBA_CACHE_DIR: a private
    # helper, so with a Numba that lacks it only the in-tree folders are checked.
    subpath = getattr(getattr(caching, "_CacheLocator", None), "get_suitable_cache_subpath", None)
    if not config.CACHE_DIR or subpath is None:
        return in_tree
    return [Path(config.CACHE_DIR) / subpath(str(folder / "__init__.py")) for folder in folders]


def invalidate_stale_cache():
    """Delete the package's Numba cache files wherever they were written from other sources."""
    current = sources_digest()
    for directory in cache_directories():
        stamp = directory / _STAMP_NAME
        try:
            if stamp.exists() and stamp.read_text() == current:
                continue
            for pattern in ("*.nbi", "*.nbc"):
                for cached in directory.glob(pattern):
                    cached.unlink()
            directory.mkdir(parents=True, exist_ok=True)
            stamp.write_text(current)
        except OSError:
            pass  # read-only: Numba then caches elsewhere and nothing here is stale
