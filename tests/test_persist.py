"""Saved networks: a save killed at any moment leaves a loadable file (the old one or the
new one), and files that are not fastbp models are refused with a clear ValueError."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import fastbp

_SAVER = textwrap.dedent("""
    import sys
    import fastbp
    net = fastbp.Network([784, 1024, 1024, 10], seed=0)   # 7.5 MB of parameters
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        net.params[:] = i
        net.save(sys.argv[1])
        print("saved", i, flush=True)
""")


def test_a_killed_save_leaves_the_old_file_or_the_new_one(tmp_path):
    """30 saving processes killed with SIGKILL at random moments: the file always loads,
    and its parameters are all from one save (all equal, the value of one iteration); at
    most one temporary file is left (the last killed save's: each save removes the ones
    before).
    Each kill comes after a chosen number of completed saves (0 to 3, read from the saver,
    not timed), plus a random delay into the next ones, so the kills land at different
    iterations however slow the machine is."""
    path = tmp_path / "model.npz"
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(30):
        saver = subprocess.Popen([sys.executable, "-c", _SAVER, str(path)],
                                 stdout=subprocess.PIPE, text=True)
        assert saver.stdout.readline().strip() == "ready"
        completed = int(rng.integers(0, 4))
        for _ in range(completed):
            assert saver.stdout.readline().split()[0] == "saved"
        time.sleep(rng.uniform(0.0, 0.05))
        saver.send_signal(signal.SIGKILL)
        saver.wait()
        assert len(_temporaries(tmp_path)) <= 1
        if not path.exists():  # killed before its first save finished
            continue
        params = fastbp.load(path).params
        assert params.size == 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 10250
        assert (params == params[0]).all(), "parameters mixed from two saves"
        assert params[0] >= completed  # no save the saver reported is lost
        seen.add(float(params[0]))
    assert len(seen) > 1  # the kills landed at different iterations


def _temporaries(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


_LOCKED_WRITER = textwrap.dedent("""
    import fcntl, sys, time
    f = open(sys.argv[1], "xb")  # a save's temporary file, held as a running save holds it
    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
    print("locked", flush=True)
    sys.stdin.readline()
""")


@pytest.mark.skipif(sys.platform == "win32", reason="no flock on Windows: stale files stay")
def test_a_save_removes_dead_saves_temporaries_and_never_a_running_ones(tmp_path):
    """Stale temporary files of saves to the same name (unlocked: their writer died) are
    removed; one a live process holds locked, and files of other names, stay."""
    path = tmp_path / "model.npz"
    stale = [tmp_path / ".model.npz.123.5f0e9a1b2c3d.tmp", tmp_path / ".model.npz.77.4021.tmp"]
    others = [tmp_path / ".model.npz.bak.1.ab.tmp", tmp_path / ".other.npz.1.ab.tmp",
              tmp_path / "model.npz.1.ab.tmp"]
    for file in stale + others:
        file.write_bytes(b"partial")
    running = tmp_path / ".model.npz.999.aaaaaaaaaaaa.tmp"
    writer = subprocess.Popen([sys.executable, "-c", _LOCKED_WRITER, str(running)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "locked"
        fastbp.Network([3, 2], seed=0).save(path)
        assert _temporaries(tmp_path) == sorted(f.name for f in others + [running])
    finally:
        writer.communicate("done\n")
    fastbp.Network([3, 2], seed=0).save(path)  # its writer gone, the file is stale now
    assert _temporaries(tmp_path) == sorted(f.name for f in others)
    assert fastbp.load(path).sizes == [3, 2]


_CONCURRENT_SAVER = textwrap.dedent("""
    import sys
    import fastbp
    net = fastbp.Network([784, 256, 10], seed=0)
    for i in range(int(sys.argv[2])):
        net.params[:] = i
        net.save(sys.argv[1])
    print("finished", flush=True)
""")


@pytest.mark.skipif(sys.platform == "win32", reason="no flock on Windows: stale files stay")
def test_concurrent_savers_with_kills_lose_no_save_and_leave_no_debris(tmp_path):
    """Six processes save to one path at once, two of them killed mid-way: the others
    finish every save (none had its temporary file removed under it, which would fail its
    rename), the file loads, and the next save leaves no temporary file at all."""
    path = tmp_path / "model.npz"
    savers = [subprocess.Popen([sys.executable, "-c", _CONCURRENT_SAVER, str(path),
                                "1000000" if doomed else "40"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for doomed in (True, True, False, False, False, False)]
    survivors = savers[2:]
    for saver in survivors:
        out, err = saver.communicate(timeout=300)
        assert out.strip() == "finished", err
    for saver in savers[:2]:  # still saving when the others are done: killed mid-save
        saver.send_signal(signal.SIGKILL)
        saver.wait()
    assert len(_temporaries(tmp_path)) <= 2
    fastbp.load(path)
    fastbp.Network([784, 256, 10], seed=0).save(path)
    assert _temporaries(tmp_path) == []


def test_save_leaves_no_temporary_file_and_keeps_the_umask(tmp_path):
    net = fastbp.Network([3, 2], seed=0)
    net.save(tmp_path / "a.npz")
    net.save(tmp_path / "a.npz")  # over an existing file
    assert os.listdir(tmp_path) == ["a.npz"]
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "a.npz").stat().st_mode & 0o777 == 0o666 & ~umask


def _npz(path, **arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("problem,make,message", [
    ("truncated", lambda p, good: p.write_bytes(good[:len(good) // 2]),
     "not a fastbp model file .*: it is a zip archive that NumPy cannot read"),
    ("corrupted", lambda p, good: p.write_bytes(good[:100] + b"\0" * 200 + good[300:]),
     "not a fastbp model file .*: it is a zip archive that NumPy cannot read"),
    ("empty", lambda p, good: p.write_bytes(b""), "not a fastbp model file .*: it is empty"),
    ("text", lambda p, good: p.write_text("hello"),
     "not a fastbp model file .*: it is a text file, starting 'hello'"),
    ("foreign npz", lambda p, good: _npz(p, weights=np.zeros(3)),
     "not a fastbp model file .*: it is an .npz or zip archive without a model's arrays"),
    ("pickled object", lambda p, good: _npz(p, spec=np.array([{"a": 1}], dtype=object),
                                             params=np.zeros(3)),
     "not a fastbp model file .*: it holds pickled Python objects, .* never loads"),
    ("newer format", lambda p, good: _npz(p, params=np.zeros(3), spec=np.array(json.dumps(
        {"sizes": [1, 2], "format": 99}))), "newer fastbp: upgrade"),
    ("no format", lambda p, good: _npz(p, params=np.zeros(3), spec=np.array(json.dumps(
        {"sizes": [1, 2]}))), "format None"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_files_that_are_not_models_are_refused_clearly(tmp_path, problem, make, message):
    good_path = tmp_path / "good.npz"
    fastbp.Network([4, 3, 2], seed=0).save(good_path)
    bad = tmp_path / "bad.npz"
    make(bad, good_path.read_bytes())
    with pytest.raises(ValueError, match=message) as error:
        fastbp.load(bad)
    assert str(bad) in str(error.value)


def test_a_missing_file_stays_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastbp.load(tmp_path / "nothing.npz")


_RESUME = textwrap.dedent("""
    import hashlib, sys
    import numpy as np
    import fastbp
    case, stage, path = sys.argv[1:]
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 10)), rng.integers(0, 3, 200)

    def make():
        name, _, dropout = case.partition("+")
        net = fastbp.Network([10, 16, 16, 3], seed=0,
                             dropout=[0.3, 0.1] if dropout else 0.0)
        opt = {"sgd": lambda: fastbp.optimizers.SGD(lr=0.05),
               "momentum": lambda: fastbp.optimizers.SGD(lr=0.05, momentum=0.9, nesterov=True),
               "adam": lambda: fastbp.optimizers.Adam(lr=1e-2),
               "adamw": lambda: fastbp.optimizers.AdamW(lr=1e-2, weight_decay=0.01),
               "rmsprop": lambda: fastbp.optimizers.RMSprop(lr=1e-3, momentum=0.5)}[name]()
        return net, opt

    def fit(net, opt, epochs=2):  # shuffled batches, a schedule over the 4 epochs
        net.fit(X, y, epochs=epochs, batch_size=16, optimizer=opt,
                schedule=fastbp.schedules.CosineAnnealingLR(4, interval="step"))

    if stage == "first":  # 2 epochs, then saved with the optimizer
        net, opt = make()
        fit(net, opt)
        net.save(path, optimizer=opt)
        sys.exit()
    if stage == "resumed":  # a new process: loaded, 2 epochs more
        net, opt = fastbp.load(path, with_optimizer=True)
        fit(net, opt)
    elif stage == "two calls":  # the same two calls in one process
        net, opt = make()
        fit(net, opt)
        fit(net, opt)
    else:  # "one call": 4 epochs at once
        net, opt = make()
        fit(net, opt, epochs=4)
    print(hashlib.sha256(net.params.tobytes() + opt.state.tobytes()).hexdigest(), opt.steps,
          opt.epochs)
""")


def _resume_run(case, stage, path):
    done = subprocess.run([sys.executable, "-c", _RESUME, case, stage, str(path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip()


@pytest.mark.parametrize("case", ["momentum", "adam", "sgd+dropout", "momentum+dropout",
                                  "adam+dropout", "adamw+dropout", "rmsprop+dropout"])
def test_training_resumes_exactly_in_a_new_process(tmp_path, case):
    """fit 2 epochs, save with the optimizer, load in a new process and fit 2 more: the
    parameters, optimizer state and counts are bitwise those of the same two calls without
    the save, and of one fit of 4 epochs; with dropout too (the masks continue from the
    network's mask stream, saved with it). Shuffling and a per-step schedule included."""
    path = tmp_path / "checkpoint.npz"
    _resume_run(case, "first", path)
    resumed = _resume_run(case, "resumed", path)
    assert resumed == _resume_run(case, "two calls", path)
    assert resumed.split()[1:] == [str(4 * 13), "4"]  # 13 batches per epoch, 4 epochs
    assert resumed == _resume_run(case, "one call", path)


def test_metadata_travels_with_the_model(tmp_path):
    """JSON metadata saved and loaded as it was; a value JSON cannot hold fails the save,
    leaving the previous file."""
    net = fastbp.Network([3, 4, 2], seed=0)
    path = tmp_path / "m.npz"
    net.save(path)
    assert fastbp.load(path).metadata == {}
    net.metadata = {"classes": ["cat", "dog"], "scale": [0.5, 2.0], "trained": {"epochs": 3}}
    net.save(path)
    assert fastbp.load(path).metadata == net.metadata
    net.metadata = {"bad": object()}
    with pytest.raises(TypeError, match="not JSON serializable"):
        net.save(path)
    assert fastbp.load(path).metadata["classes"] == ["cat", "dog"]


def test_loading_an_optimizer_that_was_not_saved_is_refused(tmp_path):
    net = fastbp.Network([3, 2], seed=0)
    net.save(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="holds no optimizer: save it with"):
        fastbp.load(tmp_path / "plain.npz", with_optimizer=True)
    with pytest.raises(ValueError, match="has not trained yet"):
        net.save(tmp_path / "x.npz", optimizer=fastbp.optimizers.Adam())
    loaded = fastbp.load(tmp_path / "plain.npz")  # the random stream comes back too
    assert loaded._rng.integers(1 << 30) == net._rng.integers(1 << 30)


def test_checkpoints_resume_too(tmp_path, digits):
    """A checkpoint written after epoch 2 of a 4-epoch fit with dropout, loaded and trained
    2 more epochs, ends bitwise where the 4-epoch fit did."""
    X, y, _, _ = digits
    net, opt = fastbp.Network([64, 16, 10], seed=0, dropout=0.3), fastbp.optimizers.Adam()
    net.fit(X, y, epochs=4, optimizer=opt,
            callbacks=[fastbp.callbacks.ModelCheckpoint(tmp_path / "net-{epoch}.npz",
                                                        optimizer=opt)])
    restored, restored_opt = fastbp.load(tmp_path / "net-4.npz", with_optimizer=True)
    np.testing.assert_array_equal(restored.params, net.params)
    np.testing.assert_array_equal(restored_opt.state, opt.state)
    assert (restored_opt.steps, restored_opt.epochs) == (opt.steps, opt.epochs)
    resumed, resumed_opt = fastbp.load(tmp_path / "net-2.npz", with_optimizer=True)
    resumed.fit(X, y, epochs=2, optimizer=resumed_opt)
    np.testing.assert_array_equal(resumed.params, net.params)
    np.testing.assert_array_equal(resumed_opt.state, opt.state)


def test_dropout_masks_never_repeat_across_fits(digits):
    """Two fits with a new optimizer each (whose step counts start again at 1) draw other
    masks than the first fit's: the same parameters and unshuffled batches give another
    training loss. The mask seed of a fit that continues with its optimizer is the
    network's own."""
    from fastbp.plan import MaskStream
    X, y, _, _ = digits
    net = fastbp.Network([64, 32, 10], seed=0, dropout=0.5)
    losses = [net.fit(X, y, epochs=1, lr=1e-30, shuffle=False).history["loss"][0]
              for _ in range(2)]  # lr 1e-30: the parameters stay put, to rounding
    assert losses[0] != losses[1]
    stream = MaskStream(seed=12345, batches=40)
    assert stream.fit_seed(None, 40) == 12345
    seeds = {stream.fit_seed(None, steps) for steps in (0, 1, 39, 41, 10 ** 6)}
    assert len(seeds) == 5 and 12345 not in seeds
    assert all(1 <= seed < 2 ** 62 for seed in seeds)


def test_a_pickled_network_keeps_its_weights_as_views_of_its_parameters(digits):
    """joblib and Dask move networks (and the estimators holding them) by pickle: after the
    round trip weights and biases are still views into params, so training, setting params
    and the estimators' coefs_ all see the same numbers, and training continues bitwise as
    the original does."""
    import pickle
    X, y, _, _ = digits
    net = fastbp.Network([64, 16, 10], seed=0)
    net.fit(X, y, epochs=1, lr=0.1)
    copy = pickle.loads(pickle.dumps(net))
    for a, b in zip(copy.weights + copy.biases, net.weights + net.biases):
        np.testing.assert_array_equal(a, b)
        assert np.shares_memory(a, copy.params)
    net.fit(X, y, epochs=1, lr=0.1)
    copy.fit(X, y, epochs=1, lr=0.1)
    np.testing.assert_array_equal(copy.params, net.params)
    np.testing.assert_array_equal(copy.weights[0], net.weights[0])
    copy.params = np.zeros_like(copy.params)
    assert not copy.weights[1].any()
