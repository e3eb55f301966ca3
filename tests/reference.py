"""A plain NumPy backpropagation, written for clarity, that the kernels are checked against.

It follows the equations of docs/math.md sample by sample with column vectors, and builds the output
error from the full Jacobian of the output activation times dloss/da; it never uses the
``delta = a - y`` shortcut that the kernels take.
"""

import numpy as np
from scipy.special import erf, xlogy

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
    "exp": (np.exp, np.exp),
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
    if loss == "poisson":  # half the Poisson deviance
        return np.sum(xlogy(y, y / a) - y + a)
    return -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a))


def dloss_da(loss, a, y):
    if loss == "mse":
        return a - y
    if loss == "cross_entropy":
        return -y / a
    if loss == "poisson":
        return 1 - y / a
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


def flatten(Ws, bs):
    """The layers' arrays in the order of fastbp's flat buffer: W[0], b[0], W[1], b[1], ..."""
    return np.concatenate([np.concatenate([W.ravel(), b]) for W, b in zip(Ws, bs)])


def unflatten(p, sizes):
    """Copies W[l], b[l] of the flat parameter vector p (the inverse of flatten)."""
    Ws, bs, at = [], [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        Ws.append(p[at:at + n_in * n_out].reshape(n_out, n_in).copy())
        bs.append(p[at + n_in * n_out:at + n_in * n_out + n_out].copy())
        at += n_in * n_out + n_out
    return Ws, bs


def optimizer_step(opt, p, g, state, t, lr):
    """Update number t (from 1) of PyTorch's SGD, Adam, AdamW or RMSprop, written out in
    NumPy with learning rate lr; opt supplies the other hyper-parameters (a fastbp optimizer
    object read for its settings only), state is a dict this function keeps."""
    kind = type(opt).__name__
    if kind == "SGD":
        g = g + opt.weight_decay * p
        if opt.momentum:
            state["buf"] = g.copy() if t == 1 else opt.momentum * state["buf"] + g
            g = g + opt.momentum * state["buf"] if opt.nesterov else state["buf"]
        return p - lr * g
    if kind in ("Adam", "AdamW"):
        b1, b2 = opt.betas
        if kind == "AdamW":
            p = p * (1 - lr * opt.weight_decay)
        else:
            g = g + opt.weight_decay * p
        state["m"] = b1 * state.get("m", 0) + (1 - b1) * g
        state["v"] = b2 * state.get("v", 0) + (1 - b2) * g * g
        if opt.eps_hat:  # Kingma and Ba's efficient form, as scikit-learn writes it
            lr_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            return p - lr_t * state["m"] / (np.sqrt(state["v"]) + opt.eps)
        m_hat = state["m"] / (1 - b1 ** t)
        v_hat = state["v"] / (1 - b2 ** t)
        return p - lr * m_hat / (np.sqrt(v_hat) + opt.eps)
    assert kind == "RMSprop", kind
    g = g + opt.weight_decay * p
    state["v"] = opt.alpha * state.get("v", 0) + (1 - opt.alpha) * g * g
    d = g / (np.sqrt(state["v"]) + opt.eps)
    if opt.momentum:
        state["buf"] = opt.momentum * state.get("buf", 0) + d
        d = state["buf"]
    return p - lr * d


def train(p, sizes, acts, loss_name, X, Y, batch_size, epochs, opt, lr=None, clip_norm=None,
          l2=0.0, record=None, weigh_every=1):
    """Mini-batch training without shuffling from flat parameters p: batches of rows
    [0, batch_size), [batch_size, 2 batch_size), ... (the last one may be smaller), each
    followed by one optimizer_step. lr(epoch, step) gives the learning rate of the update
    that follows `step` earlier ones (default: opt.lr). With clip_norm, each gradient is
    scaled to at most that 2-norm as torch.nn.utils.clip_grad_norm_ does. l2 adds the
    gradient of 0.5 * l2 * sum ||W||^2 / (rows in the batch) (scikit-learn's alpha; weights
    only) before clipping. Returns the final flat parameters.

    With record (a dict), also the per-layer record of fit(track_layers=True), appended to
    record[quantity] as one list per epoch (History.layers has the definitions; gradient
    and update norms at the epoch's steps 1, 1 + weigh_every, ...)."""
    state, t = {}, 0
    layers = len(sizes) - 1
    for epoch in range(epochs):
        errors, grads, changes = np.zeros(layers), np.zeros(layers), np.zeros(layers)
        live = [np.zeros(n, bool) for n in sizes[1:-1]]
        steps = 0
        for first in range(0, len(X), batch_size):
            rows = slice(first, first + batch_size)
            t += 1
            Ws, bs = unflatten(p, sizes)
            grad_W, grad_b, deltas = backprop(Ws, bs, acts, loss_name, X[rows], Y[rows])
            grad_W = [G + l2 * W / len(X[rows]) for G, W in zip(grad_W, Ws)]
            g = flatten(grad_W, grad_b)
            if clip_norm is not None:
                g = g * min(1.0, clip_norm / (np.linalg.norm(g) + 1e-6))
            p = optimizer_step(opt, p, g, state, t,
                               opt.lr if lr is None else lr(epoch, t - 1))
            if record is not None:
                after, _ = unflatten(p, sizes)
                weighed = first // batch_size % weigh_every == 0
                steps += weighed
                for l in range(layers):
                    errors[l] += np.sum(deltas[l] ** 2)
                    if weighed:
                        grads[l] += np.sum(grad_W[l] ** 2)
                        changes[l] += np.sum((after[l] - Ws[l]) ** 2)
                for x in X[rows]:  # units whose derivative is not near zero somewhere
                    zs, _ = forward_sample(Ws, bs, acts, x)
                    for l in range(layers - 1):
                        slope = ACTIVATIONS[acts[l]][1](zs[l])
                        largest = 0.25 if acts[l] == "sigmoid" else 1.0
                        live[l] |= np.abs(slope) >= 1e-3 * largest
        if record is not None:
            Ws, _ = unflatten(p, sizes)
            weight_norm = np.array([np.linalg.norm(W) for W in Ws])
            quantities = {
                "delta_rms": np.sqrt(errors / (len(X) * np.array(sizes[1:]))),
                "grad_norm": np.sqrt(grads / steps),
                "weight_norm": weight_norm,
                "update_ratio": np.sqrt(changes / steps) / weight_norm,
                "dead_fraction": np.array([1 - u.mean() for u in live] + [np.nan])}
            for key, value in quantities.items():
                record.setdefault(key, []).append(value)
    return p
