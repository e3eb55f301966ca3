import numpy as np
import pytest

import fastbp
import reference
from fastbp import schedules


def test_factors():
    assert [schedules.StepLR(2, gamma=0.5).factor(t) for t in range(5)] == [1, 1, .5, .5, .25]
    assert [schedules.ExponentialLR(0.9).factor(t) for t in range(3)] == pytest.approx(
        [1, 0.9, 0.81])
    cosine = schedules.CosineAnnealingLR(4, eta_min_factor=0.1)
    assert [cosine.factor(t) for t in (0, 2, 4, 9)] == pytest.approx([1, 0.55, 0.1, 0.1])
    warm = schedules.Warmup(3, after=schedules.ExponentialLR(0.5, interval="step"))
    assert [warm.factor(t) for t in range(6)] == pytest.approx([1 / 3, 2 / 3, 1, 1, 0.5, 0.25])
    assert schedules.Constant().factor(100) == 1.0


def test_per_epoch_schedule_in_history():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    history = fastbp.Network([3, 2], seed=0).fit(
        X, y, epochs=4, lr=0.2, schedule=schedules.StepLR(1, gamma=0.5))
    assert history.history["lr"] == pytest.approx([0.2, 0.1, 0.05, 0.025])


SCHEDULES = {
    "step-epoch": lambda: schedules.StepLR(1, gamma=0.5),
    "cosine-epoch": lambda: schedules.CosineAnnealingLR(3, eta_min_factor=0.1),
    "warmup-step": lambda: schedules.Warmup(4, after=schedules.ExponentialLR(0.8,
                                                                             interval="step")),
    "cosine-step": lambda: schedules.CosineAnnealingLR(7, interval="step"),
}
OPTIMIZERS = {
    "momentum": lambda: fastbp.optimizers.SGD(lr=0.2, momentum=0.9),
    "adam": lambda: fastbp.optimizers.Adam(lr=0.02),
    "rmsprop": lambda: fastbp.optimizers.RMSprop(lr=0.01, momentum=0.5),
}


@pytest.mark.parametrize("chunk_batches", [None, 2])
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS))
@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_scheduled_training_matches_reference(schedule, optimizer, chunk_batches, train_mode):
    """Three epochs of batches of 5, 5 and 2 rows: every update's rate is the base rate times
    the factor at the epoch (interval="epoch") or at the update count ("step"), checked on
    the parameters against the NumPy reference training loop."""
    train_mode(chunk_batches=chunk_batches)
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(12, 3)), rng.integers(0, 2, 12)
    net = fastbp.Network([3, 4, 2], activation="tanh", dtype=np.float64, seed=0)
    sched = SCHEDULES[schedule]()
    opt = OPTIMIZERS[optimizer]()

    def lr(epoch, step):
        return opt.lr * sched.factor(epoch if sched.interval == "epoch" else step)

    expected = reference.train(net.params.copy(), net.sizes, net.activations, "cross_entropy",
                               X, np.eye(2)[y], 5, 3, opt, lr)
    history = net.fit(X, y, epochs=3, batch_size=5, optimizer=opt, schedule=sched,
                      shuffle=False)
    np.testing.assert_allclose(net.params, expected, rtol=1e-10, atol=1e-12)
    last_step = [3 * (epoch + 1) - 1 for epoch in range(3)]
    assert history.history["lr"] == pytest.approx([lr(e, s) for e, s in zip(range(3), last_step)],
                                                  rel=1e-15)


def test_schedule_continues_with_the_optimizer_object():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(10, 3)), rng.integers(0, 2, 10)
    opt = fastbp.optimizers.SGD(lr=0.4)
    net = fastbp.Network([3, 2], seed=0)
    first = net.fit(X, y, epochs=2, optimizer=opt, schedule=schedules.ExponentialLR(0.5))
    second = net.fit(X, y, epochs=2, optimizer=opt, schedule=schedules.ExponentialLR(0.5))
    assert first.history["lr"] + second.history["lr"] == pytest.approx([0.4, 0.2, 0.1, 0.05])


@pytest.mark.parametrize("make,match", [
    (lambda: schedules.StepLR(0), "step_size"),
    (lambda: schedules.CosineAnnealingLR(0), "T_max"),
    (lambda: schedules.Warmup(0), "warmup"),
    (lambda: schedules.Constant(interval="batch"), "interval"),
    (lambda: schedules.Warmup(2, after=schedules.StepLR(2)), "same interval"),
])
def test_bad_schedules(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_fit_rejects_a_non_schedule():
    with pytest.raises(TypeError, match="Schedule"):
        fastbp.Network([2, 2]).fit([[0.0, 1.0]], [1], schedule=lambda t: 1.0)
