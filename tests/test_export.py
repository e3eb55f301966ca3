"""Models that leave fastbp: ONNX models run by ONNX Runtime, and PyTorch modules both ways,
for every activation and output."""

import numpy as np
import pytest

import fastbp
from conftest import HEADS, HIDDEN, oracle

# Every hidden activation once, with every (loss, output) pair the library accepts.
CASES = [(hidden, loss, output) for hidden in HIDDEN for loss, output in HEADS[:1]] + \
        [("tanh", loss, output) for loss, output in HEADS[1:]]


def _network(hidden, loss, output, dtype=np.float32):
    net = fastbp.Network([6, 9, 7, 4], activation=hidden, output=output, loss=loss,
                         dtype=dtype, seed=1)
    rng = np.random.default_rng(2)
    net.params = net.params + rng.normal(0, 0.3, net.params.size)  # biases too, not zero
    return net, rng.normal(0, 2, (50, 6))


@pytest.mark.parametrize("hidden,loss,output", CASES)
def test_onnx_model_matches_forward(hidden, loss, output, tmp_path):
    """The written model, loaded by ONNX Runtime, gives forward's outputs to 1e-5."""
    ort = oracle("onnxruntime")
    onnx = oracle("onnx")
    net, X = _network(hidden, loss, output)
    path = tmp_path / "model.onnx"
    model = net.to_onnx(path)
    assert model.opset_import[0].version == 17 and onnx.load(str(path)) == model
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = session.run(["Y"], {"X": X.astype(np.float32)})[0]
    assert out.dtype == np.float32 and out.shape == (50, 4)
    np.testing.assert_allclose(out, net.forward(X), rtol=1e-5, atol=1e-5)


def test_onnx_float64_and_refusals():
    ort = oracle("onnxruntime")
    oracle("onnx")
    net, X = _network("tanh", "cross_entropy", "softmax", dtype=np.float64)
    model = net.to_onnx(dtype="float64")
    session = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(["Y"], {"X": X})[0], net.forward(X), rtol=1e-12)
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        net.to_onnx(dtype="float16")


@pytest.mark.parametrize("hidden,loss,output", CASES)
def test_torch_round_trip(hidden, loss, output):
    """to_torch computes forward (float64: to rounding), and from_torch of it gives back the
    same network: sizes, activations, loss, parameters."""
    torch = oracle("torch")
    net, X = _network(hidden, loss, output, dtype=np.float64)
    if output == "exp":  # no torch module: the log-rates, which PoissonNLLLoss takes
        with pytest.raises(ValueError, match="logits=True"):
            net.to_torch()
        with torch.no_grad():
            log_rates = net.to_torch(logits=True)(torch.from_numpy(X))
        np.testing.assert_allclose(torch.exp(log_rates).numpy(), net.forward(X), rtol=1e-12)
        return
    module = net.to_torch()
    with torch.no_grad():
        out = module(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(out, net.forward(X), rtol=1e-12, atol=1e-14)
    back = fastbp.from_torch(module, loss=loss)
    assert back.sizes == net.sizes and back.activations == net.activations
    assert back.loss_name == net.loss_name and back.dtype == net.dtype
    np.testing.assert_array_equal(back.params, net.params)


def test_from_torch_reads_a_module_built_in_torch():
    """A module written in PyTorch, trained there one step, converted: the same outputs; the
    loss follows the output activation; logits=True leaves the output activation out."""
    torch = oracle("torch")
    nn = torch.nn
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(5, 8), nn.GELU(), nn.Linear(8, 8), nn.Linear(8, 3),
                           nn.Softmax(dim=-1))
    X = torch.randn(20, 5)
    y = torch.randint(0, 3, (20,))
    loss = nn.functional.nll_loss(torch.log(module(X)), y)
    loss.backward()
    with torch.no_grad():
        for p in module.parameters():
            p -= 0.1 * p.grad
    net = fastbp.from_torch(module)
    assert net.activations == ["gelu", "identity", "softmax"]
    assert net.loss_name == "cross_entropy" and net.dtype == np.float32
    with torch.no_grad():
        np.testing.assert_allclose(net.forward(X.numpy()), module(X).numpy(), rtol=1e-5,
                                   atol=1e-6)
    assert net.evaluate(X.numpy(), y.numpy())["loss"] == pytest.approx(loss.item(), rel=1e-2)
    logits = net.to_torch(logits=True)
    assert not isinstance(logits[-1], nn.Softmax)
    np.testing.assert_allclose(
        torch.softmax(logits(X), dim=-1).detach().numpy(), net.forward(X.numpy()), rtol=1e-5,
        atol=1e-6)
    regression = fastbp.from_torch(nn.Sequential(nn.Linear(5, 2)))
    assert regression.loss_name == "mse" and regression.activations == ["identity"]


def test_from_torch_refuses_what_it_cannot_represent():
    torch = oracle("torch")
    nn = torch.nn
    with pytest.raises(TypeError, match="nn.Sequential"):
        fastbp.from_torch(nn.Linear(3, 2))
    with pytest.raises(ValueError, match="not a Linear layer or one activation"):
        fastbp.from_torch(nn.Sequential(nn.Linear(3, 4), nn.Dropout(), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="fixed settings"):
        fastbp.from_torch(nn.Sequential(nn.Linear(3, 4), nn.LeakyReLU(0.2), nn.Linear(4, 2)))
    with pytest.raises(ValueError, match="do not chain"):
        fastbp.from_torch(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(5, 2)))
