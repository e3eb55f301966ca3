"""A helper process that compiles a network's inference loop while its first fit compiles the
training loop, so that a cold first evaluate or predict does not compile again.

Numba compiles on one thread per process (one global lock), and a first fit on an empty
cache spends seconds compiling its training loop (loops.train_chunk). The moment that
compile starts (Numba's "numba:compile" event, sent on a cache miss only), a helper process
compiles the inference loop (loops.infer) for the same kinds and for the argument types the
fit's rows give, into the same kernel cache. The first evaluate or predict then loads it
from there, after waiting for a helper still at work rather than compiling the same loop
again. On a 2-core machine a cold fit + evaluate + predict of 784-128-10 went from 8.5 to
5.8 s (bench/perf_log.md).

A helper starts only where a core is free for it (two or more cores, OMP_NUM_THREADS not 1,
as in Dask's workers) and at most once per kinds per process; FASTBP_COMPILE_HELPER=0 turns
it off. It is best effort: a helper that fails or guessed other types only leaves the
first evaluate to compile, as it would without one.

The helper runs ``compile_helper.main()`` in a new interpreter, reading (kinds, signature)
pickled on its stdin.
"""

import contextlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
from numba import typeof
from numba.core import event

from . import config, loops
from .config import OMP_THREADS
from .parallel import available_cores
from .records import Team, read_only

# The longest a first inference waits for its helper before compiling on its own.
WAIT_SECONDS = 120

_helpers = {}  # kinds -> the subprocess.Popen of the helper compiling its inference loop


def inference_signature(model, data):
    """The argument types of model's inference loop over rows like data's (records.Data):
    those Model.infer passes for an evaluate or a predict of such rows."""
    team = Team(0, 1, 1, 1, np.zeros(2, np.int64))
    return tuple(typeof(arg) for arg in (team, model.kernel_model, model.space(1, 1),
                                         read_only(data), model.no_outputs()))


def _core_to_spare():
    return config.COMPILE_HELPER and OMP_THREADS > 1 and available_cores() > 1


@contextlib.contextmanager
def inference_alongside(train_kernel, model, data):
    """Run the block (the first call of train_kernel, a loops.train_chunk loop) so that, should
    Numba start compiling train_kernel in it, a helper process compiles model's inference
    loop for rows like data's meanwhile."""
    if train_kernel.overloads or model.kinds in _helpers or not _core_to_spare():
        yield
        return

    class Starter(event.Listener):
        def on_start(self, ev):
            if ev.data["dispatcher"] is train_kernel and model.kinds not in _helpers:
                _helpers[model.kinds] = _start(model.kinds, inference_signature(model, data))

        def on_end(self, ev):
            pass

    with event.install_listener("numba:compile", Starter()):
        yield


def _start(kinds, signature):
    """The helper process compiling loops.infer(kinds) for signature (None if it could not
    start)."""
    package_root = str(Path(__file__).resolve().parents[2])  # this fastbp, not another copy
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    try:
        helper = subprocess.Popen([sys.executable, "-c", f"import {__name__} as h; h.main()"],
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=env)
        with helper.stdin:
            helper.stdin.write(pickle.dumps((kinds, signature)))
        return helper
    except (OSError, ValueError, pickle.PicklingError):  # no interpreter to start, a closed pipe
        return None


def wait_for_helper(kinds):
    """Before a first inference of kinds in this process: wait for the helper compiling its
    loop, if one is at work (then the loop loads from the cache instead of compiling)."""
    helper = _helpers.get(kinds)
    if helper is None or helper.poll() is not None:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        helper.wait(WAIT_SECONDS)


def main():
    """The helper: compile loops.infer(kinds) for signature, both read from stdin, into the
    kernel cache."""
    kinds, signature = pickle.load(sys.stdin.buffer)
    loops.infer(kinds).compile(signature)
