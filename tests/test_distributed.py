"""Data-parallel fit over MPI (fastbp.distributed): the same bits on every rank, equal to a
one-process fit of the concatenated batches, unequal shards, and a failing rank aborting
the job instead of hanging it. Multi-rank cases run under the mpiexec of the `mpich` wheel."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import fastbp
from fastbp.distributed import check_comm, check_same_on_ranks, sum_over_ranks

from conftest import oracle

oracle("mpi4py")  # skips the module without it (unless CI requires it)
from mpi4py import MPI  # noqa: E402

MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent)) or shutil.which(
    "mpiexec")

# Shared by the scripts: deterministic data, the fit's arguments, a hash per epoch.
_COMMON = textwrap.dedent("""
    import hashlib, json, sys
    import numpy as np
    import fastbp
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()

    def digest(*arrays):
        return hashlib.sha256(b"".join(a.tobytes() for a in arrays)).hexdigest()[:16]

    class Hashes(fastbp.callbacks.Callback):
        def __init__(self, opt):
            super().__init__()
            self.opt, self.seen = opt, []
        def on_epoch_end(self, epoch, logs=None):
            self.seen.append(digest(self.model.params, self.opt.state))

    def report(result):  # one file per rank: ranks' stdout lines can interleave
        with open(f"{sys.argv[1]}/rank{rank}.json", "w") as f:
            json.dump(dict(result, rank=rank), f)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(96, 12))
    y = rng.integers(0, 3, 96)
""")

_EQUAL_SHARDS = _COMMON + textwrap.dedent("""
    B = 8
    def shard(A, r):  # rank r's batch k is rows [k*size*B + r*B, ... + B) of the whole
        return np.concatenate([A[k * size * B + r * B:k * size * B + (r + 1) * B]
                               for k in range(len(A) // (size * B))])
    kwargs = dict(epochs=3, batch_size=B, shuffle=False, clip_norm=1.0, l2=0.05,
                  schedule=fastbp.schedules.CosineAnnealingLR(3))
    X_val, y_val = rng.normal(size=(30, 12)), rng.integers(0, 3, 30)
    net = fastbp.Network([12, 16, 3], dtype="float64", seed=rank)  # rank 0's is broadcast
    opt = fastbp.optimizers.Adam(lr=1e-2)
    hashes = Hashes(opt)
    history = net.fit(shard(X, rank), shard(y, rank), optimizer=opt, comm=comm,
                      validation_data=(X_val[rank::size], y_val[rank::size]),
                      callbacks=[hashes], **kwargs)
    result = {"hashes": hashes.seen, "history": history.history}
    if rank == 0:  # the one-process fit of the concatenated batches
        alone = fastbp.Network([12, 16, 3], dtype="float64", seed=0)
        reference = alone.fit(X, y, optimizer=fastbp.optimizers.Adam(lr=1e-2),
                              validation_data=(X_val, y_val),
                              **dict(kwargs, batch_size=B * size))
        error = np.abs(net.params - alone.params).max() / np.abs(alone.params).max()
        result.update(error=float(error), reference=reference.history)
    report(result)
""")


def _mpiexec(script, ranks, folder, timeout=300):
    if MPIEXEC is None:
        pytest.skip("no mpiexec (pip install mpich)")
    # One thread per rank; and MPICH's progress loop sleeps between polls when nothing
    # arrives: ranks and the other test workers share the cores, and a rank busy-polling at
    # a collective took a core from the rank still working (5 s of CPU per example run).
    env = dict(os.environ, NUMBA_NUM_THREADS="1", MPIR_CVAR_CH4_PROGRESS_THROTTLE="1",
               MPIR_CVAR_ENABLE_HEAVY_YIELD="1")
    return subprocess.run([MPIEXEC, "-n", str(ranks), sys.executable, "-c", script,
                           str(folder)], capture_output=True, text=True, timeout=timeout,
                          env=env)


def _results(done, folder, ranks):
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads((folder / f"rank{r}.json").read_text()) for r in range(ranks)]


def test_two_ranks_equal_one_process_and_each_other(tmp_path):
    """Equal shards, no shuffling, Adam with clipping, an L2 penalty and a schedule,
    validation shards, float64: every rank holds the same parameter and optimizer-state bits
    after every epoch, equal to a one-process fit with twice the batch (and the whole
    validation set) to 1e-10, with the same logs."""
    ranks = _results(_mpiexec(_EQUAL_SHARDS, 2, tmp_path), tmp_path, 2)
    assert ranks[0]["hashes"] == ranks[1]["hashes"] and len(ranks[0]["hashes"]) == 3
    assert len(set(ranks[0]["hashes"])) == 3  # the parameters moved every epoch
    assert ranks[0]["error"] < 1e-10
    history, reference = ranks[0]["history"], ranks[0]["reference"]
    assert history.keys() == reference.keys() >= {"loss", "accuracy", "val_loss",
                                                  "val_accuracy", "lr"}
    for key in history:
        np.testing.assert_allclose(history[key], reference[key], rtol=1e-10)
    assert ranks[1]["history"] == history


_UNEQUAL = _COMMON + textwrap.dedent("""
    rows = slice(0, 70) if rank == 0 else slice(70, 96)  # 70 and 26 rows: 9 and 4 batches
    net = fastbp.Network([12, 16, 3], seed=0, dropout=0.2)
    opt = fastbp.optimizers.SGD(lr=0.05, momentum=0.9)
    hashes = Hashes(opt)
    net.fit(X[rows], y[rows], epochs=2, batch_size=8, optimizer=opt, comm=comm,
            sample_weight=np.arange(96)[rows] % 3, callbacks=[hashes])
    report({"hashes": hashes.seen, "steps": opt.steps})
""")


def test_unequal_shards_dropout_and_weights_agree_across_ranks(tmp_path):
    """Shards of 70 and 26 rows: each epoch takes the larger shard's 9 steps (the smaller
    rank adds no rows to the last 5), with dropout (masks differ by rank) and sample
    weights; both ranks end every epoch with the same bits."""
    ranks = _results(_mpiexec(_UNEQUAL, 2, tmp_path), tmp_path, 2)
    assert ranks[0]["hashes"] == ranks[1]["hashes"]
    assert ranks[0]["steps"] == ranks[1]["steps"] == 18


_LOCAL_SGD = _COMMON + textwrap.dedent("""
    B = 8
    mine = slice(rank * 48, (rank + 1) * 48)
    params = []
    for average_every in (None, 1):  # plain SGD: averaging updates == averaging gradients
        net = fastbp.Network([12, 16, 3], dtype="float64", seed=0)
        net.fit(X[mine], y[mine], epochs=2, batch_size=B, shuffle=False, lr=0.1, comm=comm,
                average_every=average_every)
        params.append(net.params)
    error = np.abs(params[1] - params[0]).max() / np.abs(params[0]).max()
    # Unequal shards (70 and 26 rows: 9 and 4 batches), Adam, dropout, 4 local steps.
    rows = slice(0, 70) if rank == 0 else slice(70, 96)
    net = fastbp.Network([12, 16, 3], seed=rank, dropout=0.2)
    opt = fastbp.optimizers.Adam(lr=1e-2)
    hashes = Hashes(opt)
    logger = fastbp.callbacks.JSONLogger(f"{sys.argv[1]}/log-rank{rank}.jsonl")
    history = net.fit(X[rows], y[rows], epochs=2, batch_size=8, optimizer=opt, comm=comm,
                      average_every=4, callbacks=[hashes, logger])
    # A batch larger than the small shard (76 and 20 rows, batches of 32): both ranks count
    # the same rounds (3 and 1 batches), so neither waits for the other forever.
    small = slice(0, 76) if rank == 0 else slice(76, 96)
    big_batches = fastbp.Network([12, 16, 3], seed=0)
    big_batches.fit(X[small], y[small], epochs=2, batch_size=32, comm=comm, average_every=1)
    report({"error": float(error), "hashes": hashes.seen, "steps": opt.steps,
            "loss": history.history["loss"], "big": digest(big_batches.params)})
""")


def test_local_sgd_agrees_across_ranks_and_with_gradient_averaging(tmp_path):
    """average_every=1 with plain SGD equals gradient averaging to 1e-10 (float64); with
    average_every=4, Adam, dropout and unequal shards (rounds of 4, 4 and 1 steps per epoch)
    every rank ends every epoch with the same bits."""
    ranks = _results(_mpiexec(_LOCAL_SGD, 2, tmp_path), tmp_path, 2)
    assert ranks[0]["error"] < 1e-10 and ranks[1]["error"] < 1e-10
    assert ranks[0]["hashes"] == ranks[1]["hashes"] and len(set(ranks[0]["hashes"])) == 2
    assert ranks[0]["steps"] == ranks[1]["steps"] == 18
    assert ranks[0]["loss"] == ranks[1]["loss"]
    assert ranks[0]["big"] == ranks[1]["big"]
    # Loggers (callbacks that write files) run on rank 0 only.
    assert len((tmp_path / "log-rank0.jsonl").read_text().splitlines()) == 2
    assert not (tmp_path / "log-rank1.jsonl").exists()


_DIVERGING = _COMMON + textwrap.dedent("""
    net = fastbp.Network([12, 16, 3], seed=0)
    net.fit(X[rank::2], y[rank::2], batch_size=8, lr=0.01, comm=comm)
    before = net.params.copy()
    try:
        net.fit(X[rank::2] * 1e30, y[rank::2], batch_size=8, lr=1e30, comm=comm)
        raised = False
    except FloatingPointError:
        raised = True
    report({"raised": raised, "restored": bool((net.params == before).all()),
            "hash": digest(net.params)})
""")


def test_divergence_stops_every_rank_together(tmp_path):
    """A diverging fit raises FloatingPointError on every rank at the same step (the test
    reads values all ranks share) and every rank keeps its last finite parameters: the job
    goes on, it is not aborted."""
    ranks = _results(_mpiexec(_DIVERGING, 2, tmp_path), tmp_path, 2)
    assert all(r["raised"] and r["restored"] for r in ranks)
    assert ranks[0]["hash"] == ranks[1]["hash"]


_STOPPING = _COMMON + textwrap.dedent("""
    import signal, warnings

    class OnRankOne(fastbp.callbacks.Callback):  # acts on rank 1 only, after epoch 0
        def __init__(self, action):
            super().__init__()
            self.action = action
        def on_epoch_end(self, epoch, logs=None):
            if rank == 1 and epoch == 0:
                self.action(self.model)

    result = {}
    for name, action in [("ctrl_c", lambda net: signal.raise_signal(signal.SIGINT)),
                         ("callback", lambda net: setattr(net, "stop_training", True))]:
        for average_every in (None, 2):
            net = fastbp.Network([12, 16, 3], seed=0)
            opt = fastbp.optimizers.SGD(lr=0.05)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                history = net.fit(X[rank::2], y[rank::2], epochs=5, batch_size=8,
                                  optimizer=opt, comm=comm, average_every=average_every,
                                  callbacks=[OnRankOne(action)])
            result[f"{name}-{average_every}"] = {
                "epochs": len(history.epoch), "steps": opt.steps, "hash": digest(net.params),
                "warned": any("fit interrupted" in str(w.message) for w in caught)}
    report(result)
""")


def test_ctrl_c_or_a_callback_on_one_rank_stops_every_rank_together(tmp_path):
    """SIGINT on rank 1 after epoch 0 stops both ranks after the first step of epoch 1 (the
    flag travels with that step's sums), with the interruption warning and the same bits;
    a callback on rank 1 asking to stop after epoch 0 stops both ranks there. Both with
    gradient averaging and with average_every=2."""
    ranks = _results(_mpiexec(_STOPPING, 2, tmp_path), tmp_path, 2)
    for key, first in ranks[0].items():
        if key == "rank":
            continue
        second = ranks[1][key]
        assert first["hash"] == second["hash"] and first["steps"] == second["steps"]
        assert first["epochs"] == second["epochs"] == 1
        per_step = 2 if key.endswith("2") else 1  # 6 steps per epoch, in rounds of 2
        if key.startswith("ctrl_c"):
            assert first["warned"] and second["warned"]
            assert first["steps"] == 6 + per_step
        else:
            assert not first["warned"] and first["steps"] == 6


_FAILING = _COMMON + textwrap.dedent("""
    width = 12 if rank == 0 else 11  # rank 1's shard is malformed
    fastbp.Network([12, 16, 3], seed=0).fit(X[:, :width], y, comm=comm)
""")


def test_a_failing_rank_aborts_the_job(tmp_path):
    """Rank 1 raises in input validation while rank 0 waits in the first collective: the
    job ends (non-zero exit) with rank 1's error instead of hanging."""
    done = _mpiexec(_FAILING, 2, tmp_path, timeout=120)
    assert done.returncode != 0
    assert "rank 1 failed; aborting the MPI job" in done.stderr
    assert "features" in done.stderr


def test_one_rank_equals_plain_fit():
    """COMM_SELF (no mpiexec): the data-parallel path on one rank equals the one-process
    fit to rounding (float64), and reports the same logs."""
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(50, 6)), rng.integers(0, 2, 50)
    runs = []
    for comm in (None, MPI.COMM_SELF):
        net = fastbp.Network([6, 8, 2], dtype="float64", seed=0)
        history = net.fit(X, y, epochs=2, batch_size=16, optimizer="rmsprop", comm=comm,
                          validation_split=0.2)
        runs.append((net.params.copy(), history.history))
    np.testing.assert_allclose(runs[1][0], runs[0][0], rtol=1e-12, atol=1e-14)
    for key in ("loss", "val_loss"):
        np.testing.assert_allclose(runs[1][1][key], runs[0][1][key], rtol=1e-12)
    for key in ("accuracy", "val_accuracy"):
        assert runs[1][1][key] == runs[0][1][key]


class _TwoRanks:
    """allgather as if a second rank had passed validation data and this one not."""

    def allgather(self, value):
        return [value, {"validation": True}]


def test_sum_over_ranks_and_refusals():
    assert sum_over_ranks(MPI.COMM_SELF, np.array([1.5, -2.0])).tolist() == [1.5, -2.0]
    with pytest.raises(TypeError, match="comm must be an MPI communicator.*Gather"):
        check_comm(object())
    check_same_on_ranks(MPI.COMM_SELF, validation=False)
    with pytest.raises(ValueError, match="every rank must call fit with the same validation"):
        check_same_on_ranks(_TwoRanks(), validation=False)
    with pytest.raises(ValueError, match="average_every goes with comm"):
        fastbp.Network([6, 8, 2]).fit(np.zeros((4, 6)), np.zeros(4, int), average_every=2)


def test_the_mpi_example_runs(tmp_path):
    """examples/train_mpi.py under mpiexec -n 2, as the README launches it."""
    example = Path(__file__).resolve().parents[1] / "examples" / "train_mpi.py"
    script = example.read_text()
    done = _mpiexec(script, 2, tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    accuracy = float(done.stdout.split("test accuracy ")[1].split()[0])
    assert accuracy > 0.8
