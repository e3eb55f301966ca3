"""int8 inference (Network.quantize): the scheme derived independently in NumPy, the integer
products exact, the same bits on any thread count, ONNX Runtime running the exported graph
to the same outputs, files, accuracy, and the errors a user can meet."""

import numpy as np
import pytest

import fastbp
from fastbp.engine import backends
from reference import activation

from conftest import numba_threads, oracle

pytestmark = pytest.mark.skipif(backends.onednn is None, reason="needs oneDNN (onednn-cpu-gomp)")


def _activate(name, z):
    """reference.activation on every row of z (softmax normalises each row)."""
    return np.array([activation(name, row) for row in z]) if name == "softmax" \
        else activation(name, z)


def _layer_inputs(net, X):
    """Each layer's input over the rows X, by a NumPy forward pass of the float network."""
    inputs, a = [], X.astype(np.float64)
    for W, b, name in zip(net.weights, net.biases, net.activations):
        inputs.append(a)
        a = _activate(name, a @ W.T.astype(np.float64) + b)
    return inputs


def _reference_forward(q, X):
    """The quantized forward pass in NumPy from q's codes and scales (int64 products)."""
    top = 2 ** q.activation_bits - 1
    a = X.astype(np.float32)
    for l, (Wq, sw, b, name) in enumerate(zip(q.weight_codes, q.weight_scales, q.biases,
                                              q.activations)):
        s, zp = q.input_scales[l], int(q.input_zero_points[l])
        codes = np.rint(np.clip(a / s, -zp, top - zp)).astype(np.int64) + zp
        acc = (codes - zp) @ Wq.astype(np.int64).T
        a = _activate(name, acc.astype(np.float32) * (s * sw) + b)
    return a


def _trained(sizes, hidden, output, loss, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], 600) if loss == "cross_entropy" \
        else rng.normal(size=(600, sizes[-1]))
    net = fastbp.Network(sizes, activation=hidden, output=output, loss=loss, seed=seed,
                         dtype=dtype)
    net.fit(X, y, epochs=3, batch_size=32, lr=0.01)
    return net, X


def test_the_scheme_follows_its_definition():
    """Weights: symmetric per output unit, |W - sw * Wq| <= sw / 2 and the largest |Wq| of a
    row 127; inputs: the range of each layer's input on the calibration rows, widened to 0,
    over 2**bits - 1 codes, zero mapping to the zero point."""
    net, X = _trained([20, 16, 12, 5], "tanh", "softmax", "cross_entropy")
    q = net.quantize(X[:300])
    assert q.activation_bits == (8 if backends.has_vnni() else 7)
    top = 2 ** q.activation_bits - 1
    for W, Wq, sw in zip(net.weights, q.weight_codes, q.weight_scales):
        assert Wq.dtype == np.int8 and Wq.shape == W.shape
        assert np.all(np.abs(W - sw[:, None] * Wq) <= sw[:, None] / 2 * (1 + 1e-6))
        np.testing.assert_array_equal(np.abs(Wq).max(axis=1), 127)
    for l, a in enumerate(_layer_inputs(net, X[:300])):
        low, high = min(a.min(), 0), max(a.max(), 0)
        np.testing.assert_allclose(q.input_scales[l], (high - low) / top, rtol=1e-6)
        assert q.input_zero_points[l] == round(-low / q.input_scales[l])
    for b_q, b in zip(q.biases, net.biases):
        np.testing.assert_array_equal(b_q, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_equals_the_numpy_reference_bitwise(dtype):
    """With relu and identity (no transcendental rounding), every output is the NumPy
    reference's bit for bit: the codes, the exact integer products, the dequantizing
    multiply-add; including rows outside the calibrated range (clipped) and 3000 rows
    (several inference chunks, two slabs each)."""
    net, X = _trained([30, 64, 48, 3], "relu", "identity", "mse", dtype=dtype)
    q = net.quantize(X[:200])
    rows = np.concatenate([X, 3 * X, X, X, X])
    np.testing.assert_array_equal(q.forward(rows), _reference_forward(q, rows))


@pytest.mark.parametrize("hidden, output, loss", [("sigmoid", "softmax", "cross_entropy"),
                                                   ("gelu", "sigmoid", "binary_cross_entropy")])
def test_forward_is_near_the_reference_with_any_activation(hidden, output, loss):
    """With transcendental activations the float rounding of an activation may move a value
    across a code boundary: the outputs stay within a few code steps of the reference."""
    if loss == "binary_cross_entropy":
        rng = np.random.default_rng(1)
        X = rng.normal(size=(500, 12)).astype(np.float32)
        net = fastbp.Network([12, 20, 4], activation=hidden, output=output, loss=loss, seed=1)
        net.fit(X, (rng.random((500, 4)) > 0.5).astype(float), epochs=2, lr=0.05)
    else:
        net, X = _trained([12, 20, 4], hidden, output, loss)
    q = net.quantize(X)
    np.testing.assert_allclose(q.forward(X), _reference_forward(q, X), atol=2e-3)


def test_the_same_bits_on_any_thread_count():
    """Repeated on two threads: the slabs of a chunk run their layers without meeting, so a
    slab's scratch rows must never be another's at any layer (a race once corrupted rows)."""
    net, X = _trained([40, 256, 96, 10], "relu", "softmax", "cross_entropy")
    q = net.quantize(X)
    rows = np.tile(X, (4, 1))  # 2400 rows: three chunks of two slabs
    with numba_threads(1):
        serial = q.forward(rows)
    with numba_threads(2):
        for _ in range(30):
            np.testing.assert_array_equal(q.forward(rows), serial)


def test_predict_and_evaluate_follow_forward():
    net, X = _trained([16, 24, 6], "relu", "softmax", "cross_entropy")
    y = net.predict(X)
    q = net.quantize(X)
    a = q.forward(X).astype(np.float64)
    np.testing.assert_array_equal(q.predict(X), a.argmax(axis=1))
    logs = q.evaluate(X, y)
    assert logs["accuracy"] == pytest.approx((a.argmax(axis=1) == y).mean())
    assert logs["loss"] == pytest.approx(-np.log(a[np.arange(len(y)), y]).mean(), rel=1e-5)
    weights = np.random.default_rng(0).random(len(y))
    weighted = -(weights * np.log(a[np.arange(len(y)), y])).sum() / weights.sum()
    assert q.evaluate(X, y, sample_weight=weights)["loss"] == pytest.approx(weighted, rel=1e-5)


def test_accuracy_stays_near_float32(digits):
    X_train, y_train, X_test, y_test = digits
    net = fastbp.Network([64, 128, 64, 10], seed=0)
    net.fit(X_train, y_train, epochs=20, batch_size=32, lr=0.1)
    q = net.quantize(X_train[:500])
    assert q.evaluate(X_test, y_test)["accuracy"] >= net.evaluate(X_test, y_test)["accuracy"] - 0.01
    assert (q.predict(X_test) == net.predict(X_test)).mean() >= 0.98


def test_save_and_load_give_the_same_model(tmp_path):
    net, X = _trained([16, 24, 6], "tanh", "softmax", "cross_entropy")
    net.metadata["class_names"] = list("abcdef")
    q = net.quantize(X)
    q.save(tmp_path / "q.npz")
    back = fastbp.load(tmp_path / "q.npz")
    assert isinstance(back, fastbp.quantized.QuantizedNetwork) and repr(back) == repr(q)
    assert back.metadata == {"class_names": list("abcdef")}
    np.testing.assert_array_equal(back.forward(X), q.forward(X))
    # A float network's file stays readable beside it, and a damaged quantized one is refused.
    net.save(tmp_path / "float.npz")
    assert isinstance(fastbp.load(tmp_path / "float.npz"), fastbp.Network)
    with np.load(tmp_path / "q.npz") as data:
        contents = {name: data[name] for name in data.files}
    contents["array_weight_codes"] = contents["array_weight_codes"][:-1]
    np.savez(tmp_path / "damaged.npz", **contents)
    with pytest.raises(ValueError, match="damaged.npz holds a quantized network this fastbp "
                                         "cannot use.*do not match its layer sizes"):
        fastbp.load(tmp_path / "damaged.npz")


@pytest.mark.parametrize("hidden, output, loss", [("relu", "identity", "mse"),
                                                   ("tanh", "softmax", "cross_entropy")])
def test_onnx_runtime_runs_the_exported_model_to_the_same_outputs(tmp_path, hidden, output,
                                                                   loss):
    """The exported graph's integer products are fastbp's: with relu and identity its
    outputs are forward's bit for bit; otherwise within float rounding of the activations
    (a code moved by an ulp of tanh is a few steps of 2e-3 at most)."""
    ort = oracle("onnxruntime")
    net, X = _trained([30, 40, 32, 5], hidden, output, loss)
    q = net.quantize(X[:200])
    q.to_onnx(tmp_path / "q.onnx")
    session = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"])
    rows = np.concatenate([X, 3 * X]).astype(np.float32)  # also clipped at the range's top
    theirs = session.run(None, {"X": rows})[0]
    ours = q.forward(rows)
    if hidden == "relu":
        np.testing.assert_array_equal(theirs, ours)
    else:
        np.testing.assert_allclose(theirs, ours, atol=2e-3)
        assert (theirs.argmax(axis=1) == ours.argmax(axis=1)).mean() >= 0.99


def test_bad_input_is_refused_with_a_reason():
    net, X = _trained([8, 6, 3], "relu", "softmax", "cross_entropy")
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        net.quantize(bad)
    q = net.quantize(X)
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        q.forward(bad)
    # NaN and inf have no code: the pass counts their rows, on every path (one row, a later
    # chunk of many), and the error then says where
    with pytest.raises(ValueError, match=r"first at row 0, column 2"):
        q.forward(bad[3:4])
    many = np.tile(X, (10, 1))
    many[-2, 5] = -np.inf
    with pytest.raises(ValueError, match=rf"first at row {len(many) - 2}, column 5"):
        q.evaluate(many, np.zeros(len(many), int))
    with pytest.raises(ValueError, match="X has 7 features per sample but the network "
                                         "expects 8"):
        q.forward(X[:, :7])
    with pytest.raises(ValueError, match="activation_bits must be 7, 8 or None, got 4"):
        net.quantize(X, activation_bits=4)


def test_eight_bit_inputs_only_where_the_cpu_multiplies_them_exactly():
    """8-bit codes are refused without VNNI; with it they are exact: relu and identity (no
    transcendental rounding) give the NumPy reference's bits."""
    net, X = _trained([8, 6, 3], "relu", "identity", "mse")
    if backends.has_vnni():
        q = net.quantize(X, activation_bits=8)
        assert q.input_zero_points.max() <= 255
        np.testing.assert_array_equal(q.forward(X), _reference_forward(q, X).astype(np.float32))
    else:
        with pytest.raises(ValueError, match="activation_bits=8 needs a CPU with AVX512_VNNI"):
            net.quantize(X, activation_bits=8)
        assert net.quantize(X, activation_bits=7).activation_bits == 7


def _pixel_network(seed=0):
    """A relu network over raw uint8 pixels (input_scale=1/255) and 3000 rows of them: more
    than one inference chunk."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (3000, 49), dtype=np.uint8)
    net = fastbp.Network([49, 32, 4], activation="relu", output="softmax", seed=seed,
                         input_scale=1 / 255)
    net.fit(pixels[:600], rng.integers(0, 4, 600), epochs=2, lr=0.05)
    return net, pixels


def test_uint8_rows_give_the_float_rows_bits():
    """Raw uint8 rows are quantized straight from their bytes: the same codes, and so the
    same outputs and logs, as the same rows converted to float32, in one chunk or several,
    and on the few-row path. Calibrated on uint8, the first layer spans 0 to 255."""
    net, pixels = _pixel_network()
    q = net.quantize(pixels[:500])
    top = 2 ** q.activation_bits - 1
    assert q.input_scales[0] == np.float32(255 / top) and q.input_zero_points[0] == 0
    floats = pixels.astype(np.float32)
    for rows in (slice(0, 3000), slice(5, 6), slice(0, 40)):
        np.testing.assert_array_equal(q.forward(pixels[rows]), q.forward(floats[rows]))
    y = q.predict(floats)
    assert q.evaluate(pixels, y) == q.evaluate(floats, y)
    np.testing.assert_allclose(q.forward(floats), _reference_forward(q, floats), atol=1e-6)


def test_uint8_rows_are_the_codes_with_eight_bits(monkeypatch):
    """With 8-bit codes, a network calibrated on uint8 rows codes its first layer's input
    with scale 1 and zero point 0: the pixels are the codes, passed to the product as they
    are (no copy, checked by memory), with the bits of the general path. Run on any CPU by
    letting 8 bits through (without VNNI the product may saturate, the same way on both
    paths)."""
    from numba import njit

    from fastbp.engine.int8 import layer_codes
    monkeypatch.setattr(backends, "has_vnni", lambda: True)
    net, pixels = _pixel_network(seed=1)
    q = net.quantize(pixels[:500], activation_bits=8)
    assert q.input_scales[0] == 1 and q.input_zero_points[0] == 0
    np.testing.assert_array_equal(q.forward(pixels), q.forward(pixels.astype(np.float32)))

    @njit
    def codes_of(a, kernel_q, l, scratch):
        return layer_codes(a, kernel_q, l, scratch)

    scratch = np.empty_like(pixels[:8])
    assert np.shares_memory(codes_of(pixels[:8], q._kernel_q, 0, scratch), pixels)
    floats = pixels[:8].astype(np.float32)
    np.testing.assert_array_equal(codes_of(floats, q._kernel_q, 0, scratch), pixels[:8])
    assert not np.shares_memory(codes_of(floats, q._kernel_q, 0, scratch), floats)
