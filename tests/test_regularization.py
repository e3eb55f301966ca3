"""Dropout and sample/class weights."""

import numpy as np
import pytest

import fastbp
from fastbp.engine.layout import A, FED


def _training_pass(net, X, Y, seed, step):
    """The forward and backward pass that fit runs on a batch of all rows of X with dropout
    (seed, update number step); returns (workspace, weighted loss sum, mean gradient)."""
    data = fastbp.engine.Data(X, Y, np.ones(len(X)))
    grads, space = net._model.gradient(data, dropout_rates=net._rates, mask_seed=seed,
                                       step_number=step)
    return space, space.sums[0, 0], grads  # part 0's weighted loss sum


def test_dropout_mask_statistics():
    rng = np.random.default_rng(0)
    net = fastbp.Network([20, 400, 3], activation="sigmoid", dropout=0.3, dtype=np.float64)
    X = rng.normal(size=(50, 20))
    space, _, _ = _training_pass(net, X, np.eye(3)[rng.integers(0, 3, 50)], seed=7, step=1)
    a = net._model.block(space, 0, A)
    fed = net._model.block(space, 0, FED)
    scale = fed / a  # sigmoid outputs are never 0
    dropped = np.isclose(scale, 0)
    assert np.allclose(scale[~dropped], 1 / 0.7)
    # 20,000 Bernoulli(0.3) draws: the fraction lies within 5 standard deviations.
    assert abs(dropped.mean() - 0.3) < 5 * np.sqrt(0.3 * 0.7 / dropped.size)
    # Another step, another mask; the same step, the same mask.
    space2, _, _ = _training_pass(net, X, np.zeros((50, 3)), seed=7, step=2)
    assert not np.array_equal(np.isclose(net._model.block(space2, 0, FED), 0), dropped)
    space3, _, _ = _training_pass(net, X, np.zeros((50, 3)), seed=7, step=1)
    np.testing.assert_array_equal(net._model.block(space3, 0, FED), fed)


def test_dropout_gradient_matches_finite_differences_for_a_fixed_mask():
    rng = np.random.default_rng(1)
    net = fastbp.Network([4, 6, 5, 3], activation="tanh", dropout=[0.4, 0.2], dtype=np.float64,
                         seed=0)
    X = rng.normal(size=(7, 4))
    Y = np.eye(3)[rng.integers(0, 3, 7)]
    _, _, grads = _training_pass(net, X, Y, seed=3, step=5)

    def loss():
        return _training_pass(net, X, Y, seed=3, step=5)[1] / 7

    fd = np.empty_like(grads)
    for i in range(net.params.size):
        saved = net.params[i]
        net.params[i] = saved + 1e-6
        up = loss()
        net.params[i] = saved - 1e-6
        down = loss()
        net.params[i] = saved
        fd[i] = (up - down) / 2e-6
    assert np.linalg.norm(fd - grads) / np.linalg.norm(grads) < 1e-6


def test_dropout_is_off_at_inference_and_reproducible():
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(40, 5)), rng.integers(0, 2, 40)
    plain = fastbp.Network([5, 16, 2], seed=0)
    dropped = fastbp.Network([5, 16, 2], seed=0, dropout=0.5)
    np.testing.assert_array_equal(plain.forward(X), dropped.forward(X))
    assert plain.loss(X, y) == dropped.loss(X, y)
    runs = []
    for _ in range(2):
        net = fastbp.Network([5, 16, 2], seed=0, dropout=0.5)
        net.fit(X, y, epochs=3, batch_size=8)
        runs.append(net.params.copy())
    np.testing.assert_array_equal(*runs)
    plain.fit(X, y, epochs=3, batch_size=8)
    assert not np.array_equal(plain.params, runs[0])  # dropout changed the training


@pytest.mark.parametrize("dropout,match", [(1.0, r"\[0, 1\)"), ([0.1], "one rate per hidden"),
                                           (-0.1, r"\[0, 1\)")])
def test_bad_dropout(dropout, match):
    with pytest.raises(ValueError, match=match):
        fastbp.Network([3, 4, 4, 2], dropout=dropout)


def test_weighted_loss_equals_repeated_samples():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(9, 4)), rng.integers(0, 3, 9)
    w = rng.integers(0, 4, 9)
    w[0] = 2
    net = fastbp.Network([4, 5, 3], dtype=np.float64, seed=0)
    X_rep, y_rep = np.repeat(X, w, axis=0), np.repeat(y, w)
    assert net.loss(X, y, sample_weight=w) == pytest.approx(net.loss(X_rep, y_rep), rel=1e-12)
    # One full-batch step on the weighted data is one full-batch step on the repeated data.
    weighted = fastbp.Network([4, 5, 3], dtype=np.float64, seed=0)
    repeated = fastbp.Network([4, 5, 3], dtype=np.float64, seed=0)
    weighted.fit(X, y, epochs=1, batch_size=9, lr=0.5, sample_weight=w)
    repeated.fit(X_rep, y_rep, epochs=1, batch_size=len(y_rep), lr=0.5)
    np.testing.assert_allclose(weighted.params, repeated.params, rtol=1e-12, atol=1e-14)


def test_class_weight_is_a_sample_weight_per_class():
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(30, 4)), rng.integers(0, 3, 30)
    by_class = fastbp.Network([4, 3], dtype=np.float64, seed=0)
    by_sample = fastbp.Network([4, 3], dtype=np.float64, seed=0)
    h1 = by_class.fit(X, y, epochs=2, batch_size=7, class_weight={0: 2.0, 2: 0.5})
    h2 = by_sample.fit(X, y, epochs=2, batch_size=7,
                       sample_weight=np.array([2.0, 1.0, 0.5])[y])
    np.testing.assert_array_equal(by_class.params, by_sample.params)
    assert h1.history["loss"] == h2.history["loss"]
    balanced = fastbp.validation.check_weights(None, "balanced", np.eye(3)[y], 1, np.float64)
    counts = np.bincount(y)
    np.testing.assert_allclose(balanced, 30 / (3 * counts[y]))


@pytest.mark.parametrize("kwargs,match", [
    (dict(sample_weight=np.ones(5)), r"shape \(6,\)"),
    (dict(sample_weight=-np.ones(6)), "non-negative"),
    (dict(sample_weight=np.zeros(6)), "not all zero"),
    (dict(class_weight={5: 1.0}), "class indices"),
    (dict(class_weight=[1, 2]), "dict"),
])
def test_bad_weights(kwargs, match):
    X, y = np.ones((6, 2)), np.array([0, 1, 0, 1, 0, 1])
    net = fastbp.Network([2, 2])
    before = net.params.copy()
    with pytest.raises((ValueError, TypeError), match=match):
        net.fit(X, y, **kwargs)
    np.testing.assert_array_equal(net.params, before)
