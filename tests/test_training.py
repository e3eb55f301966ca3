import os
import signal
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pytest

import fastbp
import reference
from conftest import one_hot


@pytest.mark.parametrize("chunk_batches", [None, 1, 2])
@pytest.mark.parametrize("parts", [1, 2, 3])
def test_one_epoch_equals_reference_sgd_steps(parts, chunk_batches, train_mode):
    """shuffle=False, 10 samples, batch 4: exactly the steps on rows 0-3, 4-7, then 8-9 (with
    chunks of one or two batches, across compiled calls; the last partial batch in a chunk of
    its own or after a full one)."""
    train_mode(parts, chunk_batches)
    rng = np.random.default_rng(0)
    net = fastbp.Network([3, 4, 2], activation="tanh", loss="mse", dtype=np.float64, seed=1)
    X = rng.normal(size=(10, 3))
    Y = rng.normal(size=(10, 2))
    Ws = [W.copy() for W in net.weights]
    bs = [b.copy() for b in net.biases]
    for rows in (slice(0, 4), slice(4, 8), slice(8, 10)):
        grad_W, grad_b, _ = reference.backprop(Ws, bs, net.activations, "mse", X[rows], Y[rows])
        Ws = [W - 0.3 * g for W, g in zip(Ws, grad_W)]
        bs = [b - 0.3 * g for b, g in zip(bs, grad_b)]
    net.fit(X, Y, epochs=1, batch_size=4, lr=0.3, shuffle=False)
    for ours, theirs in zip(net.weights + net.biases, Ws + bs):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_history_loss_is_mean_of_batch_losses_before_update():
    rng = np.random.default_rng(1)
    net = fastbp.Network([3, 3], dtype=np.float64, seed=0)
    X = rng.normal(size=(6, 3))
    y = rng.integers(0, 3, size=6)
    first_half = net.loss(X[:3], y[:3])
    history = net.fit(X[:3], y[:3], epochs=1, batch_size=3, lr=0.1, shuffle=False)
    assert history.history["loss"] == [pytest.approx(first_half, rel=1e-12)]


def test_xor_converges():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0, 1, 1, 0])
    net = fastbp.Network([2, 8, 2], activation="tanh", seed=0)
    history = net.fit(X, y, epochs=2000, batch_size=4, lr=0.5)
    np.testing.assert_array_equal(net.predict(X), y)
    assert history.history["loss"][-1] < 0.05 < history.history["loss"][0]


def test_binary_xor_converges():
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    y = np.array([0.0, 1.0, 1.0, 0.0])
    net = fastbp.Network([2, 8, 1], activation="tanh", loss="binary_cross_entropy", seed=0)
    net.fit(X, y, epochs=2000, batch_size=2, lr=0.5)
    np.testing.assert_array_equal(net.predict(X), y)


def test_digits_reaches_high_accuracy(digits):
    X_train, y_train, X_test, y_test = digits
    net = fastbp.Network([64, 64, 10], seed=0)
    history = net.fit(X_train, y_train, epochs=30, batch_size=32, lr=0.1,
                      validation_data=(X_test, y_test))
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy", "lr"}
    assert len(history.history["val_accuracy"]) == 30
    assert history.history["val_accuracy"][-1] == net.evaluate(X_test, y_test)["accuracy"]
    assert net.evaluate(X_test, y_test)["accuracy"] > 0.95
    assert history.history["loss"][-1] < history.history["loss"][0] / 5


def test_textbook_sigmoid_mse_network_learns(digits):
    X_train, y_train, X_test, y_test = digits
    net = fastbp.Network([64, 30, 10], activation="sigmoid", output="sigmoid", loss="mse",
                         seed=0)
    net.fit(X_train, one_hot(y_train, 10), epochs=30, batch_size=10, lr=3.0)
    assert (net.forward(X_test).argmax(1) == y_test).mean() > 0.9


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_seed_gives_identical_parameters(digits, dtype):
    X_train, y_train, _, _ = digits
    runs = []
    for _ in range(2):
        net = fastbp.Network([64, 32, 10], dtype=dtype, seed=3)
        net.fit(X_train, y_train, epochs=2, batch_size=16, lr=0.1)
        runs.append(net.params.copy())
    np.testing.assert_array_equal(runs[0], runs[1])
    other = fastbp.Network([64, 32, 10], dtype=dtype, seed=3)
    other.fit(X_train, y_train, epochs=2, batch_size=16, lr=0.1, seed=99)
    assert not np.array_equal(other.params, runs[0])


_THREADS_SCRIPT = textwrap.dedent("""
    import hashlib, numpy as np, fastbp
    def digest(*arrays):
        return hashlib.sha256(b"".join(a.tobytes() for a in arrays)).hexdigest()[:16]
    rng = np.random.default_rng(0)
    X = rng.random((2048, 784), dtype=np.float32)
    y = rng.integers(0, 10, 2048)
    results = []
    # The library's own choice of parts: two parts (batches 256 and 7, and the
    # 784-256-128-10 fits at 32), one part with Adam at 64.
    net = fastbp.Network([784, 512, 256, 10], seed=0, dropout=[0.2, 0.1])
    net.fit(X, y, epochs=1, batch_size=256, lr=0.05)
    net.fit(X, y, epochs=1, batch_size=7, lr=0.05)
    net.fit(X[:512], y[:512], epochs=1, batch_size=64, optimizer="adam", clip_norm=1.0,
            sample_weight=np.arange(512) % 3)
    results += [digest(net.params), digest(net.forward(X)), net.evaluate(X, y)["loss"]]
    plain = fastbp.Network([784, 256, 128, 10], seed=1)
    plain.fit(X, y, epochs=1, batch_size=32, lr=0.05, sample_weight=1 + np.arange(2048) % 3)
    plain.fit(X, y, epochs=1, batch_size=32, optimizer="adam", clip_norm=0.5)
    results.append(digest(plain.params))
    # More parts and slabs than this machine has cores: 4 parts on 1 to 4 threads.
    fastbp.engine.session.training_parts = lambda *args, **kwargs: 4
    fastbp.engine.parallel.usable_cores = lambda: 4
    opt = fastbp.optimizers.Adam(lr=1e-3)
    net.fit(X, y, epochs=2, batch_size=48, optimizer=opt, clip_norm=0.5,
            sample_weight=1 + np.arange(2048) % 4)
    results += [digest(net.params, opt.state), digest(net.forward(X)), net.evaluate(X, y)["loss"]]
    plain.fit(X, y, epochs=1, batch_size=20, lr=0.01)
    results.append(digest(plain.params))
    print(*results)
""")


def _run(script, threads, library="auto"):
    env = dict(os.environ, NUMBA_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               OMP_NUM_THREADS=str(threads), FASTBP_GEMM=library)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.parametrize("library", ["openblas", "onednn"])
def test_bitwise_identical_on_one_to_four_threads(library):
    """Numba, BLAS and OpenMP threads 1, 2, 3 and 4 (more threads than this machine's cores
    is fine for a correctness test): shuffling, dropout, Adam, clipping, sample weights,
    inference and evaluation, with the library's own parts and with 4 parts and slabs; each
    matrix-product library serving every product it can."""
    if library == "onednn" and fastbp.engine.backends.onednn is None:
        pytest.skip("oneDNN is not installed")
    runs = {threads: _run(_THREADS_SCRIPT, threads, library) for threads in (1, 2, 3, 4)}
    assert len(set(runs.values())) == 1, runs


@pytest.mark.parametrize("sizes,activation,fit_kwargs", [
    ([64, 48, 32, 10], "relu", {"lr": 0.1}),
    ([64, 30, 10], "sigmoid", {"lr": 0.1}),
    ([64, 10], "relu", {"lr": 0.1}),
    ([64, 48, 32, 10], "relu", {"lr": 0.05, "momentum": 0.9, "nesterov": True,
                                "weight_decay": 1e-3}),
    ([64, 48, 32, 10], "tanh", {"optimizer": "adam", "clip_norm": 0.5}),
    ([64, 30, 10], "relu", {"optimizer": "adamw", "weight_decay": 0.1}),
    ([64, 30, 10], "relu", {"optimizer": "rmsprop", "clip_norm": 0.1}),
    ([64, 48, 32, 10], "relu", {"lr": 0.1, "dropout": 0.3}),
    ([64, 48, 32, 10], "sigmoid", {"optimizer": "adam", "dropout": [0.2, 0.1]}),
])
@pytest.mark.parametrize("chunk_batches", [None, 2])
def test_training_in_parts_matches_the_serial_step(digits, train_mode, sizes, activation,
                                                   fit_kwargs, chunk_batches):
    X_train, y_train, _, _ = digits
    weights = 1.0 + np.arange(len(y_train)) % 3
    fit_kwargs = dict(fit_kwargs)
    dropout = fit_kwargs.pop("dropout", 0.0)
    results = []
    for parts in (1, 2, 3):
        train_mode(parts, chunk_batches)
        net = fastbp.Network(sizes, activation=activation, dtype=np.float64, seed=0,
                             dropout=dropout)
        history = net.fit(X_train, y_train, epochs=2, batch_size=13, seed=0,
                          sample_weight=weights, **fit_kwargs)
        results.append((net.params.copy(), history.history["loss"]))
    for params, losses in results[1:]:  # 2 and 3 parts against the serial step
        np.testing.assert_allclose(params, results[0][0], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(losses, results[0][1], rtol=1e-12)


@pytest.mark.parametrize("fit_kwargs", [{"lr": 0.1},
                                        {"optimizer": fastbp.optimizers.Adam, "clip_norm": 0.5}])
def test_float32_training_in_parts_matches_serial_and_reference(digits, train_mode, fit_kwargs):
    """float32, the default dtype, trained in two parts and in one, against the
    float64 NumPy reference from the same starting values: 12 updates of 26 rows."""
    X, y = digits[0][:312], digits[1][:312]
    sizes = [64, 48, 32, 10]
    fit_kwargs = dict(fit_kwargs)
    make = fit_kwargs.pop("optimizer", None)
    results = []
    for parts in (2, 1):
        train_mode(parts)
        net = fastbp.Network(sizes, dtype=np.float32, seed=0)
        net.fit(X, y, epochs=1, batch_size=26, shuffle=False,
                optimizer=make() if make else "sgd", **fit_kwargs)
        results.append(net.params.astype(np.float64))
    start = fastbp.Network(sizes, dtype=np.float32, seed=0)
    opt = make() if make else fastbp.optimizers.SGD(lr=0.1)
    expected = reference.train(start.params.astype(np.float64), sizes, start.activations,
                               "cross_entropy", X.astype(np.float64), one_hot(y, 10), 26, 1,
                               opt, clip_norm=fit_kwargs.get("clip_norm"))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(results[0], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("parts", [1, 2])
def test_chunk_boundaries_change_no_bit(digits, train_mode, parts):
    """An epoch cut into compiled calls of one or three batches trains exactly as one call:
    the update count, the scheduled rates, the dropout masks, the optimizer state and the
    last partial batch carry across the calls."""
    X, y = digits[0][:500], digits[1][:500]  # 450 training rows: 14 batches of 32, then 2
    runs = []
    for chunk_batches in (None, 1, 3):
        train_mode(parts, chunk_batches)
        net = fastbp.Network([64, 48, 32, 10], seed=0, dropout=[0.2, 0.1])
        opt = fastbp.optimizers.Adam(lr=0.01)
        schedule = fastbp.schedules.Warmup(5, after=fastbp.schedules.ExponentialLR(
            0.95, interval="step"))
        history = net.fit(X, y, epochs=2, batch_size=32, optimizer=opt, clip_norm=1.0,
                          schedule=schedule, sample_weight=1 + np.arange(500) % 3,
                          validation_split=0.1)
        runs.append((net.params.copy(), opt.state.copy(), opt.steps, history.history))
    for params, state, steps, history in runs[1:]:
        np.testing.assert_array_equal(params, runs[0][0])
        np.testing.assert_array_equal(state, runs[0][1])
        assert steps == runs[0][2] == 30
        assert history.keys() == runs[0][3].keys()
        for key, values in history.items():  # the parts add their loss sums per call
            assert values == pytest.approx(runs[0][3][key], rel=1e-12), key


def test_a_failing_part_releases_the_others_and_restores_the_parameters(digits, monkeypatch,
                                                                        train_mode):
    # The thread of part 0 runs the real kernel; the thread of part 1 fails at once. Without
    # the abort slot, part 0 would wait at its first barrier forever.
    train_mode(parts=2)
    real_run_team = fastbp.engine.session.run_team

    def run_team(kernel, parts, args):
        def part_1_fails(team, *rest):
            if team.first == 1:
                raise MemoryError("simulated failure of part 1")
            kernel(team, *rest)

        real_run_team(part_1_fails, parts, args)

    monkeypatch.setattr(fastbp.engine.parallel.numba, "get_num_threads", lambda: 2)
    X_train, y_train, _, _ = digits
    net = fastbp.Network([64, 32, 10], seed=0)
    adam = fastbp.optimizers.Adam()
    net.fit(X_train[:64], y_train[:64], batch_size=16, optimizer=adam)
    before, state_before = net.params.copy(), adam.state.copy()
    monkeypatch.setattr(fastbp.engine.session, "run_team", run_team)
    with pytest.raises(MemoryError, match="simulated"):
        net.fit(X_train, y_train, batch_size=16, optimizer=adam)
    np.testing.assert_array_equal(net.params, before)
    np.testing.assert_array_equal(adam.state, state_before)


@pytest.mark.parametrize("parts", [1, 2])
def test_two_networks_train_at_once_in_two_threads(digits, train_mode, parts):
    train_mode(parts)
    X_train, y_train, _, _ = digits
    serial = []
    for seed in (0, 1):
        net = fastbp.Network([64, 48, 10], seed=seed)
        net.fit(X_train, y_train, epochs=3, batch_size=8)
        serial.append(net.params.copy())
    nets = [fastbp.Network([64, 48, 10], seed=seed) for seed in (0, 1)]
    threads = [threading.Thread(target=n.fit, args=(X_train, y_train),
                                kwargs=dict(epochs=3, batch_size=8)) for n in nets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for net, expected in zip(nets, serial):
        np.testing.assert_array_equal(net.params, expected)


def test_two_threads_predict_while_a_third_trains(digits):
    """Two threads predicting with one network (over and over) while a third trains another
    get the same outputs, and the trained network the same parameters, as sequential runs."""
    X_train, y_train, X_test, _ = digits
    predictor = fastbp.Network([64, 48, 10], seed=0)
    predictor.fit(X_train, y_train, epochs=2)
    expected_out = predictor.forward(X_test)
    alone = fastbp.Network([64, 48, 10], seed=1)
    alone.fit(X_train, y_train, epochs=4, batch_size=8)
    trained = fastbp.Network([64, 48, 10], seed=1)
    outputs, stop = [], threading.Event()

    def predict():
        while not stop.is_set():
            outputs.append(predictor.forward(X_test))

    readers = [threading.Thread(target=predict) for _ in range(2)]
    for reader in readers:
        reader.start()
    try:
        trained.fit(X_train, y_train, epochs=4, batch_size=8)
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert len(outputs) >= 2
    for out in outputs:
        np.testing.assert_array_equal(out, expected_out)
    np.testing.assert_array_equal(trained.params, alone.params)


def _diverging_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 5))
    y = rng.normal(size=(64, 2))
    # Diverges in the third epoch, on its fourth batch of 4 rows (the oracle below finds it).
    return X, y, lambda: fastbp.optimizers.SGD(lr=0.1, momentum=0.9)


def _states_until_divergence(X, y, make_optimizer, batch_size):
    """Oracle: train one batch per fit call (shuffle off), keeping copies of the parameters,
    optimizer state and step count before each batch, until a batch diverges. Returns those
    copies; the last one is the state before the batch that diverged."""
    net = fastbp.Network([5, 16, 2], activation="relu", loss="mse", seed=0)
    opt = make_optimizer()
    states = []
    for _ in range(100):
        for first in range(0, len(X), batch_size):
            state = None if opt.state is None else opt.state.copy()  # None before binding
            states.append((net.params.copy(), state, opt.steps))
            try:
                net.fit(X[first:first + batch_size], y[first:first + batch_size],
                        batch_size=batch_size, optimizer=opt, shuffle=False)
            except FloatingPointError:
                return states
    raise AssertionError("the oracle run did not diverge")


@pytest.mark.parametrize("parts", [1, 2])
@pytest.mark.parametrize("chunk_batches", [1, 2])
@pytest.mark.parametrize("on_divergence", ["raise", "warn"])
def test_divergence_restores_the_state_before_the_failing_chunk(train_mode, on_divergence,
                                                                chunk_batches, parts):
    X, y, make_optimizer = _diverging_problem()
    states = _states_until_divergence(X, y, make_optimizer, 4)
    batches_per_epoch = 16
    failing = len(states) - 1
    epoch, within = divmod(failing, batches_per_epoch)
    assert epoch >= 1  # some epochs complete first: the restore is not to the start
    chunk_start = epoch * batches_per_epoch + within // chunk_batches * chunk_batches
    expected_params, expected_state, expected_steps = states[chunk_start]

    train_mode(parts, chunk_batches)
    net = fastbp.Network([5, 16, 2], activation="relu", loss="mse", seed=0)
    opt = make_optimizer()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if on_divergence == "raise":
            with pytest.raises(FloatingPointError, match="smaller learning rate"):
                net.fit(X, y, epochs=100, batch_size=4, optimizer=opt, shuffle=False)
        else:
            history = net.fit(X, y, epochs=100, batch_size=4, optimizer=opt, shuffle=False,
                              on_divergence="warn")
            assert len(history.epoch) == epoch
    # One warning with "warn", none with "raise": no stray NumPy warning from the checks.
    assert [str(w.message)[:18] for w in caught] == (
        ["training diverged "] if on_divergence == "warn" else [])
    np.testing.assert_array_equal(net.params, expected_params)
    np.testing.assert_array_equal(opt.state, expected_state)
    assert opt.steps == expected_steps == chunk_start


def test_fit_continues_from_current_parameters(digits):
    X_train, y_train, _, _ = digits
    once = fastbp.Network([64, 16, 10], seed=0)
    once.fit(X_train, y_train, epochs=2, batch_size=32, seed=5, shuffle=False)
    twice = fastbp.Network([64, 16, 10], seed=0)
    twice.fit(X_train, y_train, epochs=1, batch_size=32, shuffle=False)
    twice.fit(X_train, y_train, epochs=1, batch_size=32, shuffle=False)
    np.testing.assert_array_equal(once.params, twice.params)


_SIGINT_SCRIPT = textwrap.dedent("""
    import warnings, numpy as np, fastbp
    rng = np.random.default_rng(0)
    X = rng.random((20000, 100), dtype=np.float32)
    y = rng.integers(0, 10, 20000)
    net = fastbp.Network([100, 256, 10], seed=0)
    before = net.params.copy()

    class Announce(fastbp.callbacks.Callback):
        def on_epoch_end(self, epoch, logs):
            if epoch == 0:  # training is under way: the parent may interrupt now
                print("training", flush=True)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = net.fit(X, y, epochs=100000, batch_size=32, lr=0.01, callbacks=[Announce()])
    trained = not np.array_equal(before, net.params)
    ours = [w for w in caught if issubclass(w.category, RuntimeWarning)
            and "fit interrupted" in str(w.message)]
    print(len(history.epoch), trained and bool(np.isfinite(net.params).all()), len(ours),
          flush=True)
""")


def test_ctrl_c_stops_cleanly_and_keeps_the_model():
    child = subprocess.Popen([sys.executable, "-c", _SIGINT_SCRIPT], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "training"
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=120)
    finally:
        child.kill()
    assert child.returncode == 0, err
    epochs, trained_and_finite, n_warnings = out.split()
    assert 1 <= int(epochs) < 100000  # stopped early; the parameters moved and stayed finite
    assert trained_and_finite == "True" and n_warnings == "1"


@pytest.mark.parametrize("batch_size", [1, 3, 4096])
def test_batch_sizes_from_one_to_4096(batch_size):
    rng = np.random.default_rng(6)
    X = rng.normal(size=(5000, 8))
    y = (X[:, 0] > 0).astype(int)
    net = fastbp.Network([8, 16, 2], seed=0)
    history = net.fit(X, y, epochs=2, batch_size=batch_size, lr=0.05)
    assert np.isfinite(net.params).all()
    assert history.history["loss"][1] < history.history["loss"][0]


def _train_in_child(queue, X, y):
    net = fastbp.Network([64, 48, 10], seed=0)
    net.fit(X, y, epochs=2, batch_size=40)
    queue.put(net.params)


def test_a_forked_process_trains_after_the_parent_did(digits):
    """No Numba threading layer is started, so fork is safe: a child forked after the
    parent trained (in 2 parts, on threads) trains to the parent's bits."""
    import multiprocessing
    X_train, y_train, _, _ = digits
    parent = fastbp.Network([64, 48, 10], seed=0)
    parent.fit(X_train, y_train, epochs=2, batch_size=40)  # 6e5 FLOP per batch: 2 parts
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_train_in_child, args=(queue, X_train, y_train))
    child.start()
    params = queue.get(timeout=120)
    child.join(timeout=60)
    assert child.exitcode == 0
    np.testing.assert_array_equal(params, parent.params)
