"""Kernels compiled for one network's activations and loss (the default) against the kernel
set compiled for every activation, which the rest of the suite runs: the same bits."""

import numpy as np
import pytest

import fastbp
from conftest import HEADS, HIDDEN, make_targets

pytestmark = pytest.mark.specialised

# Every head once, and every hidden activation in at least one network (two hidden layers
# each): every branch of the activation, derivative and loss kernels in a specialisation.
PAIRS = [("identity", "sigmoid"), ("tanh", "relu"), ("leaky_relu", "elu"), ("softplus", "gelu"),
         ("relu", "tanh"), ("gelu", "sigmoid"), ("elu", "softplus")]
CASES = [(pair, loss, output) for pair, (loss, output) in zip(PAIRS, HEADS, strict=True)]
assert {name for pair in PAIRS for name in pair} == set(HIDDEN)


def _run(hidden, loss, output, specialise, monkeypatch):
    monkeypatch.setattr(fastbp.engine.config, "SPECIALISE", specialise)
    rng = np.random.default_rng(0)
    net = fastbp.Network([6, 5, 4, 3], activation=list(hidden), output=output, loss=loss,
                         dtype=np.float64, seed=0, dropout=[0.2, 0.0])
    X = rng.normal(size=(40, 6))
    y = make_targets(loss, 40, 3, rng)
    grads = net.backprop(X[:7], y[:7])
    history = net.fit(X, y, epochs=2, batch_size=8, lr=0.05)
    return [*grads[0], *grads[1], net.params, net.forward(X), np.array(history.history["loss"])]


@pytest.mark.parametrize("hidden,loss,output", CASES, ids=str)
def test_specialised_kernels_give_the_bits_of_the_general_ones(hidden, loss, output,
                                                              monkeypatch):
    general = _run(hidden, loss, output, False, monkeypatch)
    own = _run(hidden, loss, output, True, monkeypatch)
    for mine, theirs in zip(own, general):
        np.testing.assert_array_equal(mine, theirs)
