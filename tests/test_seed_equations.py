"""Equations (1)-(7) of docs/math.md on a 2-2-1 network worked out by hand.

x = (1, 2), W1 = [[1, -1], [0.5, 1]], b1 = (0, -1), relu hidden layer;
W2 = [[2, -1]], b2 = (0.5), identity output, mse loss, target y = 1.
Forward: z1 = (1 - 2 + 0, 0.5 + 2 - 1) = (-1, 1.5), a1 = relu(z1) = (0, 1.5);
z2 = 2 * 0 - 1 * 1.5 + 0.5 = -1, a2 = -1; loss = 0.5 * (a2 - y)^2 = 2.
"""

import numpy as np
import pytest

import fastbp

X = np.array([[1.0, 2.0]])
Y = np.array([1.0])


@pytest.fixture
def net():
    net = fastbp.Network([2, 2, 1], activation="relu", output="identity", loss="mse",
                         dtype=np.float64)
    net.weights[0][:] = [[1, -1], [0.5, 1]]
    net.biases[0][:] = [0, -1]
    net.weights[1][:] = [[2, -1]]
    net.biases[1][:] = [0.5]
    return net


def test_forward_and_loss(net):
    assert net.forward(X)[0, 0] == -1.0
    assert net.loss(X, Y) == 2.0


def test_eq1_output_error_is_dloss_dz(net):
    # delta2 = dloss/dz2 = a2 - y = -2; check it as a derivative too: moving z2 by h is
    # moving b2 by h.
    *_, deltas = net.backprop(X, Y, return_deltas=True)
    assert deltas[1][0, 0] == -2.0
    h = 1e-6
    net.biases[1][0] += h
    up = net.loss(X, Y)
    net.biases[1][0] -= 2 * h
    down = net.loss(X, Y)
    assert (up - down) / (2 * h) == pytest.approx(-2.0, rel=1e-9)


def test_eq2_eq3_weight_gradient_is_delta_times_previous_activation(net):
    # dloss/dW2 = delta2 * a1^T = -2 * (0, 1.5) = (0, -3)
    grad_W, _ = net.backprop(X, Y)
    np.testing.assert_array_equal(grad_W[1], [[0.0, -3.0]])


def test_eq4_bias_gradient_is_delta(net):
    _, grad_b = net.backprop(X, Y)
    np.testing.assert_array_equal(grad_b[1], [-2.0])


def test_eq5_to_eq7_delta_recursion(net):
    # delta1 = (W2^T delta2) * relu'(z1) = (2 * -2, -1 * -2) * (0, 1) = (0, 2)
    grad_W, grad_b, deltas = net.backprop(X, Y, return_deltas=True)
    np.testing.assert_array_equal(deltas[0], [[0.0, 2.0]])
    # and then eq. 3/4 one layer down: dloss/dW1 = delta1 x^T, dloss/db1 = delta1
    np.testing.assert_array_equal(grad_W[0], [[0.0, 0.0], [2.0, 4.0]])
    np.testing.assert_array_equal(grad_b[0], [0.0, 2.0])


def test_sgd_step_subtracts_lr_times_gradient(net):
    before = net.params.copy()
    grad_W, grad_b = net.backprop(X, Y)
    net.fit(X, Y, epochs=1, batch_size=1, lr=0.1, shuffle=False)
    expected = before - 0.1 * np.concatenate(
        [np.concatenate([W.ravel(), b]) for W, b in zip(grad_W, grad_b)])
    np.testing.assert_allclose(net.params, expected, rtol=1e-15, atol=1e-15)
