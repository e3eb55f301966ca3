"""A cold first fit starts a helper process compiling the inference loop; the first evaluate
and predict after it compile nothing, and the cache serves a second process."""

import json
import os
import subprocess
import sys

import pytest

from fastbp.engine.parallel import available_cores

# A first fit, evaluate and predict; prints which functions the process compiled itself and
# whether a helper was started for the network's kinds.
_JOB = """
import json, sys
import numpy as np
from numba.core import event
import fastbp
from fastbp.engine import compile_helper

compiled = []

class Record(event.Listener):
    def on_start(self, ev):
        compiled.append(ev.data["dispatcher"].py_func.__qualname__)

    def on_end(self, ev):
        pass

event.register("numba:compile", Record())
rng = np.random.default_rng(0)
X = rng.random((200, 6), dtype=np.float32)
y = rng.integers(0, 3, 200)
net = fastbp.Network([6, 5, 3], seed=0)
net.fit(X, y, epochs=2, batch_size=20)
fit_compiled = len(compiled)
log = net.evaluate(X, y)
labels = net.predict(X)
print(json.dumps({"fit": fit_compiled, "after_fit": compiled[fit_compiled:],
                  "helper": net._model.kinds in compile_helper._helpers,
                  "accuracy": log["accuracy"], "predicted": float((labels == y).mean())}))
"""


def _run_job(cache_dir, **env):
    env = dict(os.environ, FASTBP_CACHE_DIR=str(cache_dir), FASTBP_SPECIALISE="1", **env)
    done = subprocess.run([sys.executable, "-c", _JOB], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.skipif(available_cores() < 2, reason="the helper runs only with a core to spare")
def test_a_cold_fit_leaves_inference_compiled_for_the_first_evaluate(tmp_path):
    cold = _run_job(tmp_path)
    assert cold["fit"] > 0 and cold["helper"]  # a cold fit, and it started the helper
    assert cold["after_fit"] == []  # evaluate and predict loaded what the helper compiled
    assert cold["accuracy"] == cold["predicted"]
    warm = _run_job(tmp_path)
    assert warm["fit"] == 0 and warm["after_fit"] == [] and not warm["helper"]
    assert warm["accuracy"] == cold["accuracy"]


def test_no_helper_when_turned_off(tmp_path):
    off = _run_job(tmp_path, FASTBP_COMPILE_HELPER="0")
    assert not off["helper"]
    assert "infer.<locals>.infer_rows" in off["after_fit"]  # compiled by the process itself
