"""bfloat16 operands (engine/bf16.py): rounding to nearest, ties to even, against a reference
that decides by distance and against PyTorch's conversion; the emulated product against an
exact one within float32's summation bound; the native product (bf16 units) against the
emulated one where the CPU has the units. Then bfloat16 networks (precision="bfloat16"):
gradients and outputs against a NumPy reference that rounds at the same points, the same
bits in any number of parts, files, resuming and the errors."""

import warnings

import numpy as np
import pytest
from numba import njit

import reference
from conftest import make_targets, numba_threads, one_hot, oracle
import fastbp
from fastbp.engine import backends
from fastbp.engine.bf16 import bf16_rows, round_rows
from fastbp.engine.gemm import gemm
from fastbp.engine.layout import A, DELTA
from fastbp.engine.records import Data

_NO, _YES = np.bool_(False), np.bool_(True)


@njit
def _rounded(x):
    out = np.empty_like(x)
    round_rows(x, out)
    return out


@njit
def _bits(x):
    out = np.empty(x.shape, np.uint16)
    bf16_rows(x, out)
    return out


@njit
def _product(trans_a, trans_b, alpha, A, B, beta, C):
    gemm(trans_a, trans_b, alpha, A, B, beta, C)


def _nearest_bf16(x):
    """The bfloat16 nearest each float32 of x, decided by distance in float64: the two
    bfloat16 values around x (x with its low 16 bits cleared, and one bf16 step further from
    zero; past the largest, 2**128, which is inf), the nearer, on a tie the one whose last
    significand bit is 0. NaN stays NaN."""
    x = np.asarray(x, np.float32).ravel()
    with np.errstate(invalid="ignore", over="ignore"):  # NaN and inf: decided at the end
        return _nearest_finite(x)


def _nearest_finite(x):
    toward_zero = (x.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    low = toward_zero.astype(np.float64)
    magnitude = np.abs(low)
    # one bf16 step at low's binade (subnormals: the smallest step, 2**-133)
    exponent = np.floor(np.log2(np.where(magnitude > 0, magnitude, 1.0)))
    step = np.where(magnitude >= 2.0 ** -126, 2.0 ** (exponent - 7), 2.0 ** -133)
    high = low + np.copysign(step, x.astype(np.float64))
    distance_low = np.abs(x.astype(np.float64) - low)
    distance_high = np.abs(high - x.astype(np.float64))
    low_is_even = (toward_zero.view(np.uint32) >> 16) & 1 == 0
    take_low = (distance_low < distance_high) | ((distance_low == distance_high) & low_is_even)
    result = np.where(take_low, low, high).astype(np.float32)  # 2**128 -> inf
    return np.where(np.isnan(x), np.float32(np.nan), result).reshape(-1)


def _cases():
    """float32 values of every kind: normal at many scales, exact ties and near-ties, the
    largest finite values (which round to inf), subnormals, zeros, infinities and NaN."""
    rng = np.random.default_rng(0)
    normal = rng.standard_normal(4000) * 10.0 ** rng.integers(-30, 30, 4000)
    bits = rng.integers(0, 2 ** 32, 4000, dtype=np.uint64).astype(np.uint32)
    ties = (bits & np.uint32(0xFFFF0000)) | np.uint32(0x8000)
    near = np.concatenate([ties - np.uint32(1), ties + np.uint32(1)])
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0,
                        np.finfo(np.float32).max, -np.finfo(np.float32).max,
                        np.finfo(np.float32).tiny, 1e-45, -1e-45, 3.3895314e38], np.float32)
    return np.concatenate([normal.astype(np.float32), special,
                           *(b.view(np.float32) for b in (bits, ties, near))])


def test_rounding_is_to_nearest_with_ties_to_even():
    x = _cases().reshape(1, -1)
    expected = _nearest_bf16(x)
    rounded = _rounded(x).ravel()
    np.testing.assert_array_equal(rounded, expected)  # NaN where NaN (assert_array_equal)
    bits = _bits(x).ravel()
    finite = ~np.isnan(expected)
    np.testing.assert_array_equal(
        (bits[finite].astype(np.uint32) << 16).view(np.float32), expected[finite])
    # a NaN stays a NaN, quiet, with its sign; never an infinity
    nan_bits = bits[~finite]
    assert np.all(nan_bits & 0x7F80 == 0x7F80) and np.all(nan_bits & 0x0040)
    # the low 16 bits of every float32 result are zero: a bfloat16 value exactly
    assert np.all(rounded[finite].view(np.uint32) & 0xFFFF == 0)


def test_rounding_agrees_with_pytorch():
    torch = oracle("torch")
    x = _cases()
    theirs = torch.from_numpy(x).to(torch.bfloat16).to(torch.float32).numpy()
    np.testing.assert_array_equal(_rounded(x.reshape(1, -1)).ravel(), theirs)


def _operands(m, n, k, seed):
    rng = np.random.default_rng(seed)
    A = (rng.standard_normal((m, k)) * 3).astype(np.float32)
    B = rng.standard_normal((k, n)).astype(np.float32)
    return _rounded(A), _rounded(B)


@pytest.mark.parametrize("m, n, k", [(1, 7, 5), (33, 20, 300), (128, 64, 784)])
def test_the_emulated_product_is_exact_but_for_float32_sums(m, n, k):
    """Products of bf16 values are exact in float32: the emulated product differs from the
    exact product of the rounded operands by float32 summation only, at most
    k * 2**-24 * (|A| @ |B|) (the classic bound, to first order), plus beta * C's."""
    A, B = _operands(m, n, k, seed=k)
    exact = A.astype(np.float64) @ B.astype(np.float64)
    C = np.ones((m, n), np.float32)
    _product(_NO, _NO, np.float32(1.0), A, B, np.float32(2.0), C)
    bound = (k + 2) * 2.0 ** -24 * (np.abs(A).astype(np.float64) @ np.abs(B) + 2.0)
    assert np.all(np.abs(C - (exact + 2.0)) <= bound)
    # the transposed layouts of the training step's products give the same numbers
    Ct = np.empty((m, n), np.float32)
    _product(_YES, _NO, np.float32(1.0), np.ascontiguousarray(A.T), B, np.float32(0.0), Ct)
    assert np.all(np.abs(Ct - exact) <= bound)
    _product(_NO, _YES, np.float32(1.0), A, np.ascontiguousarray(B.T), np.float32(0.0), Ct)
    assert np.all(np.abs(Ct - exact) <= bound)


@pytest.mark.skipif(not backends.has_bf16(), reason="this CPU has no bf16 units (AVX512_BF16 or "
                    "AMX-BF16) that oneDNN's bf16 product runs on; the native path is "
                    "measured and tested on one that has them")
@pytest.mark.parametrize("m, n, k", [(1, 7, 5), (33, 20, 300), (128, 64, 784)])
def test_the_native_product_agrees_with_the_emulated_one(m, n, k):
    A, B = _operands(m, n, k, seed=k)
    exact = A.astype(np.float64) @ B.astype(np.float64)
    bound = (k + 2) * 2.0 ** -24 * (np.abs(A).astype(np.float64) @ np.abs(B))
    emulated, native = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
    _product(_NO, _NO, np.float32(1.0), A, B, np.float32(0.0), emulated)
    with backends.one_thread():
        _product(_NO, _NO, np.float32(1.0), _bits(A), _bits(B), np.float32(0.0), native)
    assert np.all(np.abs(native - exact) <= bound)
    assert np.all(np.abs(native - emulated) <= 2 * bound)


def test_bf16_units_are_used_only_where_the_cpu_has_them():
    import llvmlite.binding as llvm
    features = llvm.get_host_cpu_features()
    if not (features.get("avx512bf16") or features.get("amx-bf16")):
        assert not backends.has_bf16()


# bfloat16 networks ---------------------------------------------------------------------------


def _bf16(x):
    """x (float32) rounded to bfloat16 by the distance reference, in x's shape."""
    return _nearest_bf16(x).reshape(np.shape(x))


def _reference(net, X, Y):
    """A bfloat16 network's gradient (weighted mean, unit weights), deltas and outputs, in
    float32 NumPy, rounding at the points the kernels do: x and the weights, what each
    hidden layer feeds the next, each delta where it enters a product; sigma' from the
    float32 z, the bias gradient from the float32 delta."""
    acts = net.activations
    Wr = [_bf16(W) for W in net.weights]
    fed, zs = [_bf16(X)], []
    for W, b, name in zip(Wr, net.biases, acts):
        z = (fed[-1] @ W.T + b).astype(np.float32)
        zs.append(z)
        fed.append(_bf16(reference.activation(name, z) if name != "softmax"
                         else np.array([reference.softmax(row) for row in z])))
    a_out = np.array([reference.activation(acts[-1], z) for z in zs[-1]], np.float32)
    delta = np.array([reference.jacobian(acts[-1], z).T @ reference.dloss_da(net.loss_name, a, y)
                      for z, a, y in zip(zs[-1], a_out, Y)], np.float32)
    n = len(X)
    grad_W, grad_b, deltas = [None] * len(Wr), [None] * len(Wr), [None] * len(Wr)
    for l in range(len(Wr) - 1, -1, -1):
        deltas[l] = delta
        grad_W[l] = _bf16(delta).T @ fed[l] / np.float32(n)
        grad_b[l] = delta.sum(axis=0) / np.float32(n)
        if l > 0:
            derivative = reference.ACTIVATIONS[acts[l - 1]][1](zs[l - 1])
            delta = ((_bf16(delta) @ Wr[l]) * derivative).astype(np.float32)
    return grad_W, grad_b, deltas, a_out


def _scale_error(mine, theirs):
    """Largest difference, relative to the largest magnitude of theirs."""
    return np.max(np.abs(mine - theirs)) / np.max(np.abs(theirs))


@pytest.mark.parametrize("activation, output, loss", [
    ("relu", "softmax", "cross_entropy"), ("tanh", "identity", "mse"),
    ("gelu", "sigmoid", "binary_cross_entropy")])
def test_bf16_gradients_agree_with_a_reference_rounding_at_the_same_points(activation, output,
                                                                             loss):
    """Against the reference that rounds where the kernels do, only the order of float32
    sums differs (one bf16 rounding turned by it would show as ~2**-8): agreement to 1e-5 of
    the scale. Against float32 products the gradients differ by bf16's rounding, ~1e-3: the
    rounding happens, at those points."""
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 13)).astype(np.float32)
    Y = make_targets(loss, 40, 5, rng)
    net = fastbp.Network([13, 11, 9, 5], activation=activation, output=output, loss=loss,
                         seed=2, precision="bfloat16")
    targets = one_hot(Y, 5) if loss == "cross_entropy" else Y.astype(np.float32)
    grad_W, grad_b, deltas, outputs = _reference(net, X, targets)
    mine_W, mine_b, mine_deltas = net.backprop(X, Y, return_deltas=True)
    float32 = fastbp.Network([13, 11, 9, 5], activation=activation, output=output, loss=loss,
                             seed=2)
    their_W, _ = float32.backprop(X, Y)
    for l in range(3):
        assert _scale_error(mine_W[l], grad_W[l]) < 1e-5
        assert _scale_error(mine_b[l], grad_b[l]) < 1e-5
        assert _scale_error(mine_deltas[l], deltas[l]) < 1e-5
        assert _scale_error(their_W[l], grad_W[l]) > 1e-4
    assert _scale_error(net.forward(X), outputs) < 1e-5


def test_bf16_forward_rounds_inputs_it_reads_in_place():
    """The forward pass reads X where it is (no copy for float32 rows), so its bf16 copy is
    made in the operands: X itself is left as it was, and rows given as uint8 pixels with an
    input scale give the same outputs as the same values in float32."""
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (70, 16)).astype(np.uint8)
    net = fastbp.Network([16, 12, 4], seed=0, precision="bfloat16", input_scale=1 / 255)
    X = pixels.astype(np.float32)
    before = X.copy()
    np.testing.assert_array_equal(net.forward(X), net.forward(pixels))
    np.testing.assert_array_equal(X, before)
    scaled = fastbp.Network([16, 12, 4], seed=0, precision="bfloat16")
    scaled.params = net.params
    np.testing.assert_allclose(net.forward(pixels), scaled.forward(X / np.float32(255)),
                               rtol=0, atol=1e-6)


@pytest.mark.parametrize("fit_kwargs", [
    {"lr": 0.1}, {"optimizer": "adam", "clip_norm": 0.5, "dropout": 0.2}])
def test_bf16_training_gives_the_same_bits_on_any_thread_count(digits, train_mode,
                                                               fit_kwargs):
    """Steps cut into 3 parts, run on 1, 2 and 3 threads: the same bits (every rounded
    operand is written by its part, whichever thread runs it); and against the serial step
    (1 part: other cuts of the products, other float32 sums), close."""
    X_train, y_train, X_test, _ = digits
    fit_kwargs = dict(fit_kwargs)
    dropout = fit_kwargs.pop("dropout", 0.0)

    def train(parts, threads):
        train_mode(parts, 2)
        with numba_threads(threads):
            net = fastbp.Network([64, 48, 32, 10], seed=0, dropout=dropout,
                                 precision="bfloat16")
            history = net.fit(X_train[:600], y_train[:600], epochs=2, batch_size=50, seed=1,
                              **fit_kwargs)
            return net.params.copy(), history.history["loss"], net.forward(X_test)

    threaded = [train(3, threads) for threads in (1, 2, 3)]
    for params, losses, outputs in threaded[1:]:
        np.testing.assert_array_equal(params, threaded[0][0])
        assert losses == threaded[0][1]
        np.testing.assert_array_equal(outputs, threaded[0][2])
    serial = train(1, 1)
    np.testing.assert_allclose(serial[0], threaded[0][0], rtol=0, atol=1e-3)
    np.testing.assert_allclose(serial[1], threaded[0][1], rtol=1e-3)


def test_bf16_learns_as_float32_does(digits):
    """Same seed, same steps: bf16 products reach float32's accuracy on digits within a few
    points (bf16 with float32 master weights and sums, Kalamkar et al. 2019), and are not
    float32's bits."""
    X_train, y_train, X_test, y_test = digits
    scores, params = {}, {}
    for precision in ("float32", "bfloat16"):
        net = fastbp.Network([64, 64, 10], seed=0, precision=precision)
        net.fit(X_train, y_train, epochs=15, batch_size=32, lr=0.1, seed=0)
        scores[precision] = net.evaluate(X_test, y_test)["accuracy"]
        params[precision] = net.params
    assert scores["float32"] > 0.9
    assert abs(scores["bfloat16"] - scores["float32"]) < 0.03
    assert not np.array_equal(params["bfloat16"], params["float32"])


def test_bf16_saves_loads_and_resumes_exactly(tmp_path, digits):
    X_train, y_train, _, _ = digits
    X, y = X_train[:400], y_train[:400]
    straight = fastbp.Network([64, 32, 10], seed=0, precision="bfloat16", dropout=0.1)
    opt = fastbp.optimizers.Adam(lr=1e-3)
    straight.fit(X, y, epochs=2, batch_size=40, optimizer=opt)
    straight.fit(X, y, epochs=1, batch_size=40, optimizer=opt)
    halted = fastbp.Network([64, 32, 10], seed=0, precision="bfloat16", dropout=0.1)
    opt = fastbp.optimizers.Adam(lr=1e-3)
    halted.fit(X, y, epochs=2, batch_size=40, optimizer=opt)
    halted.save(tmp_path / "net.npz", optimizer=opt)
    resumed, opt = fastbp.load(tmp_path / "net.npz", with_optimizer=True)
    assert resumed.precision == "bfloat16"
    resumed.fit(X, y, epochs=1, batch_size=40, optimizer=opt)
    np.testing.assert_array_equal(resumed.params, straight.params)
    # partial_fit continues the same way
    np.testing.assert_array_equal(resumed.forward(X), straight.forward(X))


def test_bf16_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="dtype=np.float32"):
        fastbp.Network([4, 3], dtype=np.float64, precision="bfloat16")
    with pytest.raises(ValueError, match="precision must be one of 'float32', 'bfloat16'"):
        fastbp.Network([4, 3], precision="fp16")
    sparse = oracle("scipy.sparse")
    net = fastbp.Network([4, 3], precision="bfloat16")
    with pytest.raises(TypeError, match="dense X only"):
        net.forward(sparse.csr_matrix(np.eye(4, dtype=np.float32)))


def test_bf16_warns_once_where_it_runs_emulated(monkeypatch):
    monkeypatch.setattr(backends, "_warned_emulated", [])
    monkeypatch.setattr(backends, "has_bf16", lambda: False)
    with pytest.warns(RuntimeWarning, match="runs emulated"):
        fastbp.Network([4, 3], precision="bfloat16")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fastbp.Network([4, 3], precision="bfloat16")
        fastbp.Network([4, 3])


def test_the_native_path_stores_the_operands_as_bf16_bit_patterns(monkeypatch):
    """The layout of the operands the bf16 units read, checked on any CPU: after a step
    whose operands are stored as uint16, the batch's inputs and the weights are the bit
    patterns of their rounded values, and so are a hidden layer's activations and the
    output layer's delta against the float32 blocks they were rounded from. (On a CPU
    without the units oneDNN's bf16 product declines to run, so the values of z, a and delta
    are not checked here; test_bf16_training_on_the_units... checks them where it runs.)"""
    monkeypatch.setattr(backends, "bf16_storage", lambda: np.uint16)
    rng = np.random.default_rng(4)
    n, sizes = 20, [13, 11, 5]
    X = rng.standard_normal((n, 13)).astype(np.float32)
    Y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, n)]
    net = fastbp.Network(sizes, seed=0, precision="bfloat16")
    model = net._model
    _, space = model.gradient(Data(X, Y, np.ones(n, np.float32)))
    operands = space.operands
    assert operands.dtype == np.uint16

    def bits(x):
        return (_bf16(np.asarray(x, np.float32)).view(np.uint32) >> 16).astype(np.uint16)

    units = sum(sizes[1:])
    np.testing.assert_array_equal(operands[:n * 13].reshape(n, 13), bits(X))
    weights_at = n * (13 + 2 * units)
    for W, (start, width) in zip(net.weights, [(0, 13 * 11), (13 * 11 + 11, 11 * 5)]):
        np.testing.assert_array_equal(operands[weights_at + start:weights_at + start + width],
                                      bits(W).ravel())
    fed = operands[n * 13:n * (13 + 11)].reshape(n, 11)  # layer 0's, what layer 1 reads
    np.testing.assert_array_equal(fed, bits(model.block(space, 0, A)))
    top_delta = operands[n * (13 + units + 11):n * (13 + 2 * units)].reshape(n, 5)
    np.testing.assert_array_equal(top_delta, bits(model.block(space, 1, DELTA)))


@pytest.mark.skipif(not backends.has_bf16(), reason="this CPU has no bf16 units (AVX512_BF16 or "
                    "AMX-BF16) that oneDNN's bf16 product runs on; the native path is "
                    "measured and tested on one that has them")
def test_bf16_training_on_the_units_agrees_with_the_emulated_path(digits, monkeypatch):
    """The same step on the bf16 units and emulated: the same operands, products exact in
    both, only the order of float32 sums differs, so after training the parameters agree
    closely (not bitwise: the libraries sum in their own orders)."""
    X_train, y_train, X_test, _ = digits
    runs = {}
    for native in (True, False):
        monkeypatch.setattr(fastbp.engine.config, "BF16_NATIVE", native)
        net = fastbp.Network([64, 48, 10], seed=0, precision="bfloat16")
        grad_W, _ = net.backprop(X_train[:100], y_train[:100])
        net.fit(X_train[:500], y_train[:500], epochs=1, batch_size=50, lr=0.1, seed=0)
        runs[native] = grad_W, net.forward(X_test)
    for mine, theirs in zip(runs[True][0], runs[False][0]):
        assert _scale_error(mine, theirs) < 1e-4
    assert _scale_error(runs[True][1], runs[False][1]) < 1e-2


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")
def test_bf16_in_the_estimators_the_command_line_and_the_exports(tmp_path, digits):
    """precision= in the estimators (kept by clone, fit and partial_fit), --precision on the
    command line (saved in the model file), and the exports: float32 weights, so ONNX
    Runtime computes the float32 network's outputs from them."""
    oracle("sklearn")
    from sklearn.base import clone

    from fastbp import cli
    from fastbp.sklearn import FastbpClassifier
    X_train, y_train, X_test, y_test = digits
    model = FastbpClassifier((32,), max_iter=10, learning_rate_init=0.01, random_state=0,
                             precision="bfloat16")
    model = clone(model).fit(X_train, y_train)
    assert model.get_params()["precision"] == "bfloat16"
    assert model.network_.precision == "bfloat16" and model.network_.dtype is np.float32
    before = model.network_.params.copy()
    model.partial_fit(X_train, y_train)
    assert not np.array_equal(model.network_.params, before)
    assert model.score(X_test, y_test) > 0.9

    table = tmp_path / "digits.csv"
    np.savetxt(table, np.column_stack([X_train[:300], y_train[:300]]), delimiter=",",
               header=",".join([f"x{i}" for i in range(64)] + ["digit"]), comments="")
    saved = tmp_path / "model.npz"
    assert cli.main(["train", str(table), "--target", "digit", "--epochs", "1", "--quiet",
                     "--precision", "bfloat16", "--save", str(saved)]) == 0
    assert fastbp.load(saved).precision == "bfloat16"

    ort = oracle("onnxruntime")
    net = model.network_
    session = ort.InferenceSession(net.to_onnx().SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    exported = session.run(["Y"], {"X": X_test})[0]
    as_float32 = fastbp.Network(net.sizes, output="softmax")
    as_float32.params = net.params
    np.testing.assert_allclose(exported, as_float32.forward(X_test), rtol=1e-5, atol=1e-6)
    assert np.abs(exported - net.forward(X_test)).max() > 1e-4  # bf16 products differ
