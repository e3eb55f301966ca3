"""Optimizer updates against NumPy re-implementations of PyTorch's formulas, step by step,
and against torch.optim itself when it is installed."""

import numpy as np
import pytest

import fastbp
import reference
from conftest import oracle
from fastbp import optimizers

CASES = {
    "sgd": lambda: optimizers.SGD(lr=0.1),
    "sgd-wd": lambda: optimizers.SGD(lr=0.1, weight_decay=0.05),
    "momentum": lambda: optimizers.SGD(lr=0.05, momentum=0.9),
    "nesterov": lambda: optimizers.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    "adam": lambda: optimizers.Adam(lr=0.01),
    "adam-wd": lambda: optimizers.Adam(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    "adam-eps-hat": lambda: optimizers.Adam(lr=0.01, eps=1e-3, eps_hat=True),
    "adamw": lambda: optimizers.AdamW(lr=0.01),
    "rmsprop": lambda: optimizers.RMSprop(lr=0.01),
    "rmsprop-momentum": lambda: optimizers.RMSprop(lr=0.005, alpha=0.9, momentum=0.8,
                                                   weight_decay=0.01),
}


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(12, 4))
    y = rng.integers(0, 3, 12)
    return X, y


@pytest.mark.parametrize("chunk_batches", [None, 1, 2])
@pytest.mark.parametrize("case", list(CASES))
def test_steps_match_the_formulas(case, chunk_batches, train_mode):
    """Three epochs of batches of 5, 5 and 2 rows against PyTorch's update rules written out
    in NumPy (tests/reference.py), with the gradients from the NumPy reference backprop: nine
    updates, so bias corrections and momenta run past the first batch of an epoch and, with
    chunks of one or two batches, across compiled calls."""
    train_mode(chunk_batches=chunk_batches)
    X, y = _problem()
    net = fastbp.Network([4, 6, 3], activation="tanh", dtype=np.float64, seed=1)
    expected = reference.train(net.params.copy(), net.sizes, net.activations, "cross_entropy",
                               X, np.eye(3)[y], 5, 3, CASES[case]())
    opt = CASES[case]()
    net.fit(X, y, epochs=3, batch_size=5, optimizer=opt, shuffle=False)
    assert opt.steps == 9
    np.testing.assert_allclose(net.params, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("chunk_batches,parts", [(None, None), (1, 2)])
@pytest.mark.parametrize("case,clip_norm", [("sgd", None), ("momentum", None), ("adam", None),
                                            ("adam", 0.5), ("rmsprop-momentum", None)])
def test_l2_penalty_matches_the_formulas(case, clip_norm, chunk_batches, parts, train_mode):
    """fit(l2=...) against the reference with the penalty's gradient l2 * W / batch rows on
    the weights only (biases untouched by it), before clipping and the optimizer: batches of
    5, 5 and 2 rows, so the penalty weighs more on the small one; in one part and in two."""
    train_mode(chunk_batches=chunk_batches, parts=parts)
    X, y = _problem(2)
    net = fastbp.Network([4, 6, 3], activation="tanh", dtype=np.float64, seed=1)
    expected = reference.train(net.params.copy(), net.sizes, net.activations, "cross_entropy",
                               X, np.eye(3)[y], 5, 3, CASES[case](), clip_norm=clip_norm,
                               l2=0.7)
    without = reference.train(net.params.copy(), net.sizes, net.activations, "cross_entropy",
                              X, np.eye(3)[y], 5, 3, CASES[case](), clip_norm=clip_norm)
    assert np.abs(expected - without).max() > 1e-3  # the penalty matters here
    net.fit(X, y, epochs=3, batch_size=5, optimizer=CASES[case](), shuffle=False,
            clip_norm=clip_norm, l2=0.7)
    np.testing.assert_allclose(net.params, expected, rtol=1e-10, atol=1e-12)


TORCH = {"sgd": "SGD", "sgd-wd": "SGD", "momentum": "SGD", "nesterov": "SGD", "adam": "Adam",
         "adam-wd": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop",
         "rmsprop-momentum": "RMSprop"}


@pytest.mark.parametrize("case", list(TORCH))  # torch.optim has no epsilon-hat Adam
def test_steps_match_torch_optim(case):
    """Two epochs of batches of 5, 5 and 2 rows: six torch.optim steps."""
    torch = oracle("torch")
    X, y = _problem(1)
    net = fastbp.Network([4, 5, 3], activation="tanh", dtype=np.float64, seed=2)
    ours = CASES[case]()
    kwargs = {k: v for k, v in vars(ours).items() if k not in ("state", "steps", "epochs",
                                                                "eps_hat")}
    tensors = [torch.tensor(a.copy(), requires_grad=True) for a in net.weights + net.biases]
    theirs = getattr(torch.optim, TORCH[case])(tensors, **kwargs)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    for _ in range(2):
        for rows in (slice(0, 5), slice(5, 10), slice(10, 12)):
            (W1, W2), (b1, b2) = tensors[:2], tensors[2:]
            logits = torch.tanh(Xt[rows] @ W1.T + b1) @ W2.T + b2
            loss = torch.nn.functional.cross_entropy(logits, yt[rows])
            theirs.zero_grad()
            loss.backward()
            theirs.step()
    net.fit(X, y, epochs=2, batch_size=5, optimizer=ours, shuffle=False)
    for mine, t in zip(net.weights + net.biases, tensors):
        np.testing.assert_allclose(mine, t.detach().numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("make", [lambda: optimizers.Adam(lr=0.01),
                                  lambda: optimizers.SGD(lr=0.05, momentum=0.9)])
def test_state_carries_over_between_fits(make):
    X, y = _problem(2)
    one = fastbp.Network([4, 6, 3], dtype=np.float64, seed=3)
    one.fit(X, y, epochs=4, batch_size=5, optimizer=make())
    two = fastbp.Network([4, 6, 3], dtype=np.float64, seed=3)
    opt = make()
    two.fit(X, y, epochs=2, batch_size=5, optimizer=opt)
    two.fit(X, y, epochs=2, batch_size=5, optimizer=opt)
    assert opt.steps == 4 * 3 and opt.epochs == 4
    np.testing.assert_array_equal(one.params, two.params)


def test_clip_norm_scales_the_gradient():
    X, y = _problem(3)
    net = fastbp.Network([4, 6, 3], dtype=np.float64, seed=4)
    grad_W, grad_b = net.backprop(X, y)
    g = np.concatenate([np.concatenate([W.ravel(), b]) for W, b in zip(grad_W, grad_b)])
    norm = np.linalg.norm(g)
    expected = net.params - 0.1 * g * (0.5 * norm / (norm + 1e-6))
    net.fit(X, y, epochs=1, batch_size=12, lr=0.1, clip_norm=0.5 * norm, shuffle=False)
    np.testing.assert_allclose(net.params, expected, rtol=1e-12)


@pytest.mark.parametrize("name,default_lr", [("sgd", 0.1), ("adam", 1e-3), ("Adam", 1e-3),
                                              ("adamw", 1e-3), ("rmsprop", 1e-2)])
def test_optimizer_names_and_their_default_rates(name, default_lr):
    X, y = _problem(4)
    fits = []
    for lr in (None, default_lr, 2 * default_lr):
        net = fastbp.Network([4, 3], dtype=np.float64, seed=0)
        net.fit(X, y, epochs=2, batch_size=5, optimizer=name, lr=lr)
        fits.append(net.params)
    np.testing.assert_array_equal(fits[0], fits[1])
    assert not np.allclose(fits[0], fits[2])


def test_optimizer_defaults():
    assert optimizers.make("adam", None, 0, False, None).lr == 1e-3
    assert optimizers.make("adamw", None, 0, False, None).weight_decay == 1e-2
    assert optimizers.make("sgd", None, 0.9, True, 1e-4).nesterov


@pytest.mark.parametrize("kwargs,match", [
    (dict(optimizer="lbfgs"), "unknown optimizer"),
    (dict(optimizer=optimizers.Adam(), lr=0.1), "not both"),
    (dict(optimizer=optimizers.Adam(), momentum=0.9), "belong to the optimizer object"),
    (dict(optimizer="adam", momentum=0.9), "momentum/nesterov are SGD's"),
    (dict(clip_norm=-1.0), "clip_norm must be a positive number"),
    (dict(on_divergence="ignore"), "on_divergence"),
])
def test_bad_optimizer_arguments(kwargs, match):
    X, y = _problem()
    with pytest.raises(ValueError, match=match):
        fastbp.Network([4, 3]).fit(X, y, **kwargs)


@pytest.mark.parametrize("make,match", [
    (lambda: optimizers.SGD(lr=-1), "lr must be a positive"),
    (lambda: optimizers.SGD(momentum=1.0), r"momentum must lie in \[0, 1\)"),
    (lambda: optimizers.SGD(nesterov=True), "nesterov=True needs a momentum"),
    (lambda: optimizers.Adam(betas=0.9), "betas must be a pair"),
    (lambda: optimizers.RMSprop(eps=0), "eps must be a positive"),
])
def test_bad_optimizer_objects(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_an_optimizer_object_serves_one_network():
    X, y = _problem()
    opt = optimizers.Adam()
    fastbp.Network([4, 3]).fit(X, y, optimizer=opt)
    with pytest.raises(ValueError, match="new optimizer object"):
        fastbp.Network([4, 5, 3]).fit(X, y, optimizer=opt)
