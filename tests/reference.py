"""A plain NumPy backpropagation, written for clarity, that the kernels are checked against.

It follows the seed document sample by sample with column vectors, and builds the output
error from the full Jacobian of the output activation times dloss/da; it never uses the
``delta = a - y`` shortcut that the kernels take.
"""

import numpy as np
from scipy.special import erf

LEAKY_SLOPE = 0.01


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


ACTIVATIONS = {
    "identity": (lambda z: z, lambda z: np.ones_like(z)),
    "sigmoid": (_sigmoid, lambda z: _sigmoid(z) * (1 - _sigmoid(z))),
    "tanh": (np.tanh, lambda z: 1 - np.tanh(z) ** 2),
    "relu": (lambda z: np.maximum(z, 0), lambda z: (z > 0).astype(float)),
    "leaky_relu": (lambda z: np.where(z > 0, z, LEAKY_SLOPE * z),
                   lambda z: np.where(z > 0, 1.0, LEAKY_SLOPE)),
    "elu": (lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
            lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0)))),
    "softplus": (lambda z: np.log1p(np.exp(z)), _sigmoid),
    "gelu": (lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
             lambda z: 0.5 * (1 + erf(z / np.sqrt(2))) + z * np.exp(-z * z / 2) / np.sqrt(2 * np.pi)),
}


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def activation(name, z):
    return softmax(z) if name == "softmax" else ACTIVATIONS[name][0](z)


def jacobian(name, z):
    """d sigma(z) / d z as a matrix (diagonal except for softmax)."""
    if name == "softmax":
        a = softmax(z)
        return np.diag(a) - np.outer(a, a)
    return np.diag(ACTIVATIONS[name][1](z))


def sample_loss(loss, a, y):
    if loss == "mse":
        return 0.5 * np.sum((a - y) ** 2)
    if loss == "cross_entropy":
        return -np.sum(y * np.log(a))
    return -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a))


def dloss_da(loss, a, y):
    if loss == "mse":
        return a - y
    if loss == "cross_entropy":
        return -y / a
    return -(y / a - (1 - y) / (1 - a))


def forward_sample(Ws, bs, acts, x):
    """Lists z[l], a[l] for one sample (a[0] = x)."""
    zs, As = [], [x]
    for W, b, name in zip(Ws, bs, acts):
        zs.append(W @ As[-1] + b)
        As.append(activation(name, zs[-1]))
    return zs, As


def forward(Ws, bs, acts, X):
    return np.array([forward_sample(Ws, bs, acts, x)[1][-1] for x in X])


def loss(Ws, bs, acts, loss_name, X, Y):
    return np.mean([sample_loss(loss_name, forward_sample(Ws, bs, acts, x)[1][-1], y)
                    for x, y in zip(X, Y)])


def backprop(Ws, bs, acts, loss_name, X, Y):
    """Mean gradients over the samples and the per-sample deltas of every layer."""
    grad_W = [np.zeros_like(W) for W in Ws]
    grad_b = [np.zeros_like(b) for b in bs]
    deltas = [np.zeros((len(X), len(b))) for b in bs]
    for i, (x, y) in enumerate(zip(X, Y)):
        zs, As = forward_sample(Ws, bs, acts, x)
        delta = jacobian(acts[-1], zs[-1]).T @ dloss_da(loss_name, As[-1], y)   # eq. (1)
        for l in range(len(Ws) - 1, -1, -1):
            deltas[l][i] = delta
            grad_W[l] += np.outer(delta, As[l]) / len(X)                       # eq. (3)
            grad_b[l] += delta / len(X)                                        # eq. (4)
            if l > 0:
                delta = (Ws[l].T @ delta) * np.diag(jacobian(acts[l - 1], zs[l - 1]))  # eq. (7)
    return grad_W, grad_b, deltas
