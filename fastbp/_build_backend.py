"""The build backend: setuptools', plus the kernel cache filled for the building machine.

A wheel built here (``pip install .`` builds one) carries, in fastbp/_seed/, the kernels that
``fastbp warmup`` compiles by default and this CPU's measured product table, so that the
first run after the install loads them instead of compiling (engine/cache.py copies them
into the per-user cache folder at the first import). They are only used where they match:
Numba keys every entry by its version, the CPU's name and features and the source's hash,
so on another machine or with another Numba they are ignored and kernels are compiled as
usual. FASTBP_BUILD_CACHE=0 builds a wheel without them (for wheels meant for other
machines). This module is loaded from the source tree by pip (pyproject.toml:
backend-path); it never imports fastbp itself: the warm-up runs in a child process.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from setuptools import build_meta
from setuptools.build_meta import *  # noqa: F401,F403  (every hook not defined here)

_PACKAGE = Path(__file__).resolve().parent
SEED = _PACKAGE / "_seed"


def _fill_seed():
    """Compile the default kernels into SEED; a failure only leaves the wheel without them."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as root:
        # The build environment reaches the child through PYTHONPATH (pip's isolation): keep
        # it, after the sources.
        path = os.pathsep.join(filter(None, [str(_PACKAGE.parent),
                                             os.environ.get("PYTHONPATH")]))
        env = dict(os.environ, FASTBP_CACHE_DIR=root, PYTHONPATH=path)
        try:
            done = subprocess.run([sys.executable, "-m", "fastbp", "warmup"], env=env,
                                  capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as error:
            print(f"fastbp: kernels not compiled at install ({error})", file=sys.stderr)
            return
        if done.returncode == 0:  # and the whole product table, measured for this CPU
            done = subprocess.run([sys.executable, "-c", "import fastbp.engine.backends as b;"
                                   " b.choose()"], env=env, capture_output=True, text=True,
                                  timeout=600)
        if done.returncode != 0:
            print(f"fastbp: kernels not compiled at install:\n{done.stderr[-2000:]}",
                  file=sys.stderr)
            return
        shutil.rmtree(SEED, ignore_errors=True)
        shutil.copytree(root, SEED)
    print(f"fastbp: default kernels compiled for this machine in "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    if os.environ.get("FASTBP_BUILD_CACHE", "1") != "0":
        _fill_seed()
    try:
        return build_meta.build_wheel(wheel_directory, config_settings, metadata_directory)
    finally:
        shutil.rmtree(SEED, ignore_errors=True)  # nothing left in the source tree
