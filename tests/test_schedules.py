import numpy as np
import pytest

import fastbp
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


def test_per_step_schedule_equals_manual_steps():
    """One full batch per epoch: step t must use lr * (t + 1) / 3 during the warm-up."""
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(10, 3)), rng.integers(0, 2, 10)
    net = fastbp.Network([3, 4, 2], dtype=np.float64, seed=0)
    manual = fastbp.Network([3, 4, 2], dtype=np.float64, seed=0)
    for factor in (1 / 3, 2 / 3, 1.0, 1.0):
        manual.fit(X, y, epochs=1, batch_size=10, lr=0.3 * factor, shuffle=False)
    net.fit(X, y, epochs=4, batch_size=10, lr=0.3, shuffle=False,
            schedule=schedules.Warmup(3))
    np.testing.assert_allclose(net.params, manual.params, rtol=1e-13)


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
