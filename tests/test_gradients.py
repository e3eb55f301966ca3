"""Gradients against three independent oracles: central finite differences, the plain NumPy
reference, and PyTorch autograd where it is installed."""

import numpy as np
import pytest

import fastbp
import reference
from fastbp.engine.codes import kinds
from conftest import HEADS, HIDDEN, make_targets, one_hot, oracle

SHAPES = [[3, 5, 2], [4, 3, 4, 3]]


def _network(sizes, hidden, output, loss, dtype=np.float64, seed=0):
    net = fastbp.Network(sizes, activation=hidden, output=output, loss=loss, dtype=dtype,
                         seed=seed)
    # Non-zero biases so every code path (and every kink side) is exercised.
    for b in net.biases:
        b[:] = np.random.default_rng(seed + 1).normal(scale=0.3, size=b.shape)
    return net


def _reference_targets(loss, y, k):
    return one_hot(y, k) if loss == "cross_entropy" else y


def _finite_difference(net, X, y, h=1e-6):
    grad = np.empty_like(net.params)
    for i in range(net.params.size):
        saved = net.params[i]
        net.params[i] = saved + h
        up = net.loss(X, y)
        net.params[i] = saved - h
        down = net.loss(X, y)
        net.params[i] = saved
        grad[i] = (up - down) / (2 * h)
    return grad


def _flat(grad_W, grad_b):
    return np.concatenate([np.concatenate([W.ravel(), b]) for W, b in zip(grad_W, grad_b)])


def _relative_error(a, b):
    return np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300)


@pytest.mark.parametrize("sizes", SHAPES, ids=lambda s: "-".join(map(str, s)))
@pytest.mark.parametrize("n", [1, 6])
@pytest.mark.parametrize("loss,output", HEADS, ids=lambda v: str(v))
@pytest.mark.parametrize("hidden", HIDDEN)
def test_backprop_matches_finite_differences(hidden, loss, output, n, sizes):
    rng = np.random.default_rng(42)
    net = _network(sizes, hidden, output, loss)
    X = rng.normal(size=(n, sizes[0]))
    y = make_targets(loss, n, sizes[-1], rng)
    grad_W, grad_b = net.backprop(X, y)
    assert _relative_error(_flat(grad_W, grad_b), _finite_difference(net, X, y)) < 1e-6


@pytest.mark.parametrize("off", [0.0, 4e-4, -9e-4])
def test_soft_cross_entropy_targets_give_the_gradient_of_the_loss(off):
    """Probability rows (label smoothing, distillation) whose sums are off 1 by as much as
    fit accepts: the gradient is still that of the reported loss."""
    rng = np.random.default_rng(8)
    net = _network([4, 5, 3], "tanh", "softmax", "cross_entropy")
    X = rng.normal(size=(6, 4))
    Y = rng.dirichlet(np.ones(3), size=6) * (1 + off)
    grad_W, grad_b = net.backprop(X, Y)
    assert _relative_error(_flat(grad_W, grad_b), _finite_difference(net, X, Y)) < 1e-6
    # The loss is that of the rows scaled to sum to 1 (see fastbp.validation.check_targets).
    Y_normalised = Y / Y.sum(axis=1, keepdims=True)
    assert net.loss(X, Y) == pytest.approx(
        reference.loss(net.weights, net.biases, net.activations, "cross_entropy", X,
                       Y_normalised), rel=1e-12)


@pytest.mark.parametrize("loss,output", HEADS, ids=lambda v: str(v))
@pytest.mark.parametrize("hidden", HIDDEN)
def test_backprop_matches_reference(hidden, loss, output):
    rng = np.random.default_rng(7)
    sizes = [4, 6, 5, 3]
    net = _network(sizes, hidden, output, loss)
    X = rng.normal(size=(9, sizes[0]))
    y = make_targets(loss, 9, sizes[-1], rng)
    Y = _reference_targets(loss, y, sizes[-1])
    acts = net.activations
    grad_W, grad_b, deltas = net.backprop(X, y, return_deltas=True)
    ref_W, ref_b, ref_deltas = reference.backprop(net.weights, net.biases, acts, loss, X, Y)
    for ours, theirs in zip(grad_W + grad_b + deltas, ref_W + ref_b + ref_deltas):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(net.forward(X), reference.forward(net.weights, net.biases, acts, X),
                               rtol=1e-12, atol=1e-14)
    assert net.loss(X, y) == pytest.approx(
        reference.loss(net.weights, net.biases, acts, loss, X, Y), rel=1e-12)


@pytest.mark.parametrize("loss,output", HEADS, ids=lambda v: str(v))
@pytest.mark.parametrize("hidden", ["sigmoid", "relu", "gelu"])
def test_float32_agrees_with_float64(hidden, loss, output):
    """float32 stays within single-precision rounding of the float64 computation."""
    rng = np.random.default_rng(3)
    sizes = [20, 16, 8, 4]
    net64 = _network(sizes, hidden, output, loss)
    net32 = fastbp.Network(sizes, activation=hidden, output=output, loss=loss,
                           dtype=np.float32)
    net32.params = net64.params.astype(np.float32)
    net64.params = net32.params.astype(np.float64)  # identical starting values
    X = rng.normal(size=(16, sizes[0]))
    y = make_targets(loss, 16, sizes[-1], rng)
    g64 = _flat(*net64.backprop(X, y))
    g32 = _flat(*net32.backprop(X, y))
    assert g32.dtype == np.float32
    assert _relative_error(g32.astype(np.float64), g64) < 1e-5
    np.testing.assert_allclose(net32.forward(X), net64.forward(X), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("loss,output", HEADS, ids=lambda v: str(v))
@pytest.mark.parametrize("hidden", HIDDEN)
def test_backprop_matches_torch_autograd(hidden, loss, output):
    torch = oracle("torch")
    F = torch.nn.functional
    torch_act = {"identity": lambda z: z, "sigmoid": torch.sigmoid, "tanh": torch.tanh,
                 "relu": F.relu, "leaky_relu": lambda z: F.leaky_relu(z, 0.01), "elu": F.elu,
                 "softplus": F.softplus, "gelu": F.gelu,
                 "softmax": lambda z: torch.softmax(z, dim=1), "exp": torch.exp}
    rng = np.random.default_rng(11)
    sizes = [5, 7, 3]
    net = _network(sizes, hidden, output, loss)
    X = rng.normal(size=(8, sizes[0]))
    y = make_targets(loss, 8, sizes[-1], rng)
    Y = torch.tensor(_reference_targets(loss, y, sizes[-1]))
    params = [torch.tensor(p, requires_grad=True) for p in net.weights + net.biases]
    a = torch.tensor(X)
    Ws, bs = params[:2], params[2:]
    for W, b, name in zip(Ws, bs, net.activations):
        a = torch_act[name](a @ W.T + b)
    if loss == "mse":
        value = 0.5 * ((a - Y) ** 2).sum(dim=1).mean()
    elif loss == "cross_entropy":
        value = -(Y * torch.log(a)).sum(dim=1).mean()
    elif loss == "poisson":
        # xlogy(y, y / a) written as two terms: its autograd is NaN where y = 0
        value = (torch.xlogy(Y, Y) - Y * torch.log(a) - Y + a).sum(dim=1).mean()
    else:
        value = F.binary_cross_entropy(a, Y, reduction="sum") / len(X)
    value.backward()
    grad_W, grad_b = net.backprop(X, y)
    assert net.loss(X, y) == pytest.approx(value.item(), rel=1e-10)
    for ours, p in zip(grad_W + grad_b, params):
        np.testing.assert_allclose(ours, p.grad.numpy(), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_wide_layers_agree_with_reference(dtype):
    """Layers wide enough for BLAS to thread and for K to be cut into blocks."""
    sizes, n = [800, 200, 10], 16
    rng = np.random.default_rng(5)
    net = _network(sizes, "tanh", "softmax", "cross_entropy", dtype=dtype)
    X = rng.normal(size=(n, sizes[0]))
    y = rng.integers(0, sizes[-1], n)
    grad_W, grad_b, deltas = net.backprop(X, y, return_deltas=True)
    Ws = [W.astype(np.float64) for W in net.weights]
    bs = [b.astype(np.float64) for b in net.biases]
    X_ref = X.astype(dtype).astype(np.float64)
    ref = reference.backprop(Ws, bs, net.activations, "cross_entropy", X_ref, one_hot(y, 10))
    tol = dict(rtol=1e-9, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-3, atol=1e-5)
    for ours, theirs in zip(grad_W + grad_b + deltas, ref[0] + ref[1] + ref[2]):
        np.testing.assert_allclose(ours, theirs, **tol)


def test_exp_nonpositive_matches_numpy():
    """The vectorisable exp behind sigmoid, softmax, softplus and gelu matches np.exp."""
    from fastbp.engine.scalar import exp_nonpositive
    t = np.concatenate([-np.logspace(-12, np.log10(708), 4000), [0.0, -1e-300, -0.5]])
    ours = np.array([exp_nonpositive(v) for v in t])
    np.testing.assert_allclose(ours, np.exp(t), rtol=5e-16, atol=0)  # within 2 ulp
    assert exp_nonpositive(-1000.0) == pytest.approx(np.exp(-708.0), rel=1e-15, abs=0)


def _activate(kinds_value, code, z, a):
    """The engine's activate kernel, compiled for kinds_value, called from Python."""
    from numba import njit

    from fastbp.engine.elementwise import activate

    @njit
    def run(code, z, a):
        activate(kinds_value, code, z, a)

    run(code, z, a)


def test_vectorisable_functions_match_numpy():
    """expm1 and log1p written for vectorisation, and the tanh, ELU and softplus built on
    them, agree with NumPy to a few ulp in float64 and pass NaN through."""
    from fastbp.engine.codes import ELU, MSE, SOFTPLUS, TANH
    from fastbp.engine.scalar import expm1_nonpositive, log1p_unit
    near_zero = np.logspace(-300, np.log10(800), 6000)
    t = np.concatenate([-near_zero, [0.0, -0.5, -np.nextafter(0.5, 0), -np.nextafter(0.5, 1)]])
    np.testing.assert_allclose([expm1_nonpositive(v) for v in t], np.expm1(t), rtol=5e-16, atol=0)
    u = np.concatenate([np.logspace(-300, 0, 6000), [0.0]])
    np.testing.assert_allclose([log1p_unit(v) for v in u], np.log1p(u), rtol=5e-16, atol=0)
    z = np.concatenate([near_zero[near_zero < 700], -near_zero[near_zero < 700],
                        np.linspace(-50, 50, 9999), [np.nan]]).reshape(-1, 3)
    with np.errstate(invalid="ignore"):  # the NaN
        expected = {TANH: np.tanh(z), ELU: np.where(z > 0, z, np.expm1(np.minimum(z, 0))),
                    SOFTPLUS: np.logaddexp(0, z)}
    for code, rtol in ((TANH, 5e-16), (ELU, 5e-16), (SOFTPLUS, 8e-16)):
        for view in (z, z[:, :2]):  # one dense block, and row by row
            a = np.empty_like(view)
            _activate(kinds([TANH, ELU, SOFTPLUS], [MSE]), code, view, a)
            np.testing.assert_allclose(a, expected[code][:, :view.shape[1]], rtol=rtol, atol=0)
