"""Inputs held in their own dtype (uint8, int8, uint16, int16, float16, memory maps) are
converted batch by batch inside the kernels, with the network's input map applied: the
results must equal converting (and mapping) X up front with NumPy, bitwise where the
operations are the same, and X must never be copied whole."""

import tracemalloc

import numpy as np
import pytest

import fastbp

STORED = [np.uint8, np.int8, np.uint16, np.int16]


def _data(dtype, n=600, features=12, seed=0):
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    X = rng.integers(info.min, info.max, size=(n, features), endpoint=True, dtype=dtype)
    return X, rng.integers(0, 3, n)


def _fit(X, y, dtype=np.float32, **network_settings):
    """A seeded network, trained 2 epochs with Adam and a validation split."""
    net = fastbp.Network([X.shape[1], 16, 3], seed=1, dtype=dtype, **network_settings)
    history = net.fit(X, y, epochs=2, batch_size=32, optimizer="adam", lr=1e-3,
                      validation_split=0.2)
    return net, history


def _assert_same_run(a, b):
    (net_a, history_a), (net_b, history_b) = a, b
    np.testing.assert_array_equal(net_a.params, net_b.params)
    assert history_a.history == history_b.history


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stored", STORED)
def test_stored_integers_train_as_their_conversion(stored, dtype):
    X, y = _data(stored)
    raw = _fit(X, y, dtype)
    _assert_same_run(raw, _fit(X.astype(dtype), y, dtype))
    np.testing.assert_array_equal(raw[0].forward(X), raw[0].forward(X.astype(dtype)))
    assert raw[0].evaluate(X, y) == raw[0].evaluate(X.astype(dtype), y)


def test_input_scale_and_shift_equal_mapping_up_front():
    X, y = _data(np.uint8)
    scale, shift = np.float32(1 / 255), np.linspace(-1, 1, 12).astype(np.float32)
    _assert_same_run(_fit(X, y, input_scale=1 / 255), _fit(X.astype(np.float32) * scale, y))
    _assert_same_run(_fit(X, y, input_shift=shift), _fit(X.astype(np.float32) + shift, y))
    # a float X of the network's dtype is mapped too
    Xf = X.astype(np.float32)
    _assert_same_run(_fit(Xf, y, input_scale=1 / 255), _fit(Xf * scale, y))
    # both: one fused multiply-add per element in the kernels, two roundings in NumPy
    both, _ = _fit(X, y, input_scale=1 / 255, input_shift=shift)
    up_front, _ = _fit(X.astype(np.float32) * scale + shift, y)
    np.testing.assert_allclose(both.params, up_front.params, rtol=0, atol=1e-5)
    mapped = (X * np.float64(scale) + shift).astype(np.float32)
    np.testing.assert_allclose(both.forward(X), up_front.forward(mapped), atol=1e-6)


def test_per_feature_scale_and_zero_scale():
    X, y = _data(np.uint8)
    scale = np.arange(12, dtype=np.float32) / 255  # feature 0 scaled to nothing
    net, _ = _fit(X, y, input_scale=scale)
    reference, _ = _fit(X.astype(np.float32) * scale, y)
    np.testing.assert_array_equal(net.params, reference.params)
    np.testing.assert_array_equal(net.input_scale, scale)
    assert net.input_shift is None and not net.input_scale.flags.writeable


def test_every_float16_converts_exactly():
    bits = np.arange(1 << 16, dtype=np.uint16)
    half = bits.view(np.float16)
    half = half[np.isfinite(half)].reshape(-1, 1)
    net = fastbp.Network([1, 1], loss="mse", dtype=np.float64)
    net.params = [1.0, 0.0]  # forward(x) = 1 * x + 0: x itself, every float16 exactly
    out = net.forward(half)
    nonzero = half[:, 0] != 0  # 1 * -0 + 0 is +0
    np.testing.assert_array_equal(out[nonzero], half[nonzero].astype(np.float64))


def test_float16_trains_as_its_conversion_and_reports_nan():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((600, 12)).astype(np.float16)
    X[0, 0], X[1, 1], X[2, 2] = 6e-8, -3e-5, 65504  # subnormal, small negative, largest
    y = rng.integers(0, 3, 600)
    _assert_same_run(_fit(X, y), _fit(X.astype(np.float32), y))
    X[5, 7] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf \(first at row 5, column 7\)"):
        fastbp.Network([12, 3]).fit(X, y)
    with pytest.raises(ValueError, match=r"NaN or inf \(first at row 5, column 7\)"):
        fastbp.Network([12, 3]).forward(X)


@pytest.fixture
def uint8_file(tmp_path):
    X, y = _data(np.uint8, n=2000, features=64)
    path = tmp_path / "images.u8"
    X.tofile(path)
    return np.memmap(path, dtype=np.uint8, mode="r", shape=X.shape), X, y


def test_read_only_memory_map_trains_as_the_array(uint8_file):
    mapped, X, y = uint8_file
    assert not mapped.flags.writeable
    _assert_same_run(_fit(mapped, y, input_scale=1 / 255), _fit(X, y, input_scale=1 / 255))
    net, _ = _fit(mapped, y, input_scale=1 / 255)
    np.testing.assert_array_equal(net.predict(mapped), net.predict(X))
    assert net.evaluate(mapped, y) == net.evaluate(X, y)


def test_float64_memory_map_is_read_in_place(tmp_path):
    X, y = _data(np.int16, n=20_000, features=50)
    X = X / 1000.0
    path = tmp_path / "x.f8"
    X.tofile(path)
    mapped = np.memmap(path, dtype=np.float64, mode="r", shape=X.shape)
    _assert_same_run(_fit(mapped, y), _fit(X.astype(np.float32), y))
    net = fastbp.Network([50, 16, 3], seed=1)
    net.fit(mapped[:300], y[:300], batch_size=32)  # the kernels measured, compiled first
    tracemalloc.start()
    try:
        net.fit(mapped, y, batch_size=32)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.5 * X.size * 4, f"peak {peak / 2**20:.1f} MiB: a float32 copy?"


def test_fit_over_a_memory_map_makes_no_float_copy(tmp_path):
    rows, features = 40_000, 784
    path = tmp_path / "big.u8"
    rng = np.random.default_rng(0)
    rng.integers(0, 256, size=(rows, features), dtype=np.uint8).tofile(path)
    X = np.memmap(path, dtype=np.uint8, mode="r", shape=(rows, features))
    y = rng.integers(0, 10, rows)
    net = fastbp.Network([features, 32, 10], seed=0, input_scale=1 / 255)
    net.fit(X[:256], y[:256], batch_size=128)  # compiles outside the measurement
    tracemalloc.start()
    try:
        net.fit(X, y, batch_size=128, validation_split=0.1)
        net.evaluate(X, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    float_copy = rows * features * 4
    # What remains is the targets (one-hot, 10 floats a row), the order and the workspaces.
    assert peak < 0.15 * float_copy, f"peak {peak / 2**20:.1f} MiB"
    print(f"peak {peak / 2**20:.1f} MiB")


def test_saved_with_the_map(tmp_path):
    X, y = _data(np.uint8)
    shift = np.linspace(-1, 1, 12)
    net, _ = _fit(X, y, input_scale=1 / 255, input_shift=shift)
    net.save(tmp_path / "m.npz")
    loaded = fastbp.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(loaded.input_scale, net.input_scale)
    np.testing.assert_array_equal(loaded.input_shift, net.input_shift)
    np.testing.assert_array_equal(loaded.forward(X), net.forward(X))
    plain, _ = _fit(X, y)
    plain.save(tmp_path / "plain.npz")
    assert fastbp.load(tmp_path / "plain.npz").input_scale is None


def test_exports_and_int8_apply_the_map():
    X, y = _data(np.uint8)
    net, _ = _fit(X, y, input_scale=1 / 255, input_shift=-0.5)
    expected = net.forward(X)
    quantized = net.quantize(X[:300])
    np.testing.assert_allclose(quantized.forward(X), expected, atol=2e-2)
    torch = pytest.importorskip("torch")
    module = net.to_torch()
    got = module(torch.from_numpy(X.astype(np.float32))).detach().numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(fastbp.from_torch(module).forward(X), expected, atol=1e-6)


def test_onnx_applies_the_map():
    ort = pytest.importorskip("onnxruntime")
    X, y = _data(np.uint8)
    net, _ = _fit(X, y, input_scale=1 / 255, input_shift=-0.5)
    session = ort.InferenceSession(net.to_onnx().SerializeToString())
    got = session.run(None, {"X": X.astype(np.float32)})[0]
    np.testing.assert_allclose(got, net.forward(X), atol=1e-6)


def test_sparse_input_takes_the_scale_not_a_shift():
    sparse = pytest.importorskip("scipy.sparse")
    X, _ = _data(np.uint8)
    net = fastbp.Network([12, 8, 3], seed=0, input_scale=1 / 255)
    np.testing.assert_allclose(net.forward(sparse.csr_matrix(X)), net.forward(X), atol=1e-6)
    with pytest.raises(ValueError, match="input_shift makes every input non-zero"):
        fastbp.Network([12, 3], input_shift=1.0).forward(sparse.csr_matrix(X))


@pytest.mark.parametrize("settings, message", [
    ({"input_scale": [1.0, 2.0]}, r"input_scale must be a number or one value per input "
                                  r"feature \(12\), got shape \(2,\)"),
    ({"input_shift": np.nan}, "input_shift must be finite"),
    ({"input_scale": "big"}, "input_scale must hold numbers"),
])
def test_bad_maps_are_refused(settings, message):
    with pytest.raises((ValueError, TypeError), match=message):
        fastbp.Network([12, 3], **settings)


def test_block_shuffle_visits_blocks_in_a_seeded_order(uint8_file, monkeypatch):
    from fastbp.engine import config
    from fastbp.training import block_order
    order = block_order(np.random.default_rng(0), 1000, 64)
    np.testing.assert_array_equal(np.sort(order), np.arange(1000))
    blocks = order // 64
    changes = np.flatnonzero(np.diff(blocks)) + 1
    assert len(changes) == 15  # each block is visited once, all of its rows together
    assert len(set(blocks[np.r_[0, changes]])) == 16 and not np.array_equal(order, np.sort(order))
    mapped, X, y = uint8_file
    monkeypatch.setattr(config, "SHUFFLE_BLOCK_BYTES", 64 * 200)  # 200 rows of 64 bytes
    a, _ = _fit(mapped, y, input_scale=1 / 255)
    net = fastbp.Network([64, 16, 3], seed=1, input_scale=1 / 255)
    h = net.fit(mapped, y, epochs=2, batch_size=32, optimizer="adam", lr=1e-3,
                validation_split=0.2, shuffle="blocks")
    again = fastbp.Network([64, 16, 3], seed=1, input_scale=1 / 255)
    h2 = again.fit(X, y, epochs=2, batch_size=32, optimizer="adam", lr=1e-3,
                   validation_split=0.2, shuffle="blocks")
    np.testing.assert_array_equal(net.params, again.params)  # reproducible from the seed
    assert h.history == h2.history and not np.array_equal(net.params, a.params)
    with pytest.raises(ValueError, match="shuffle must be True, False or 'blocks'"):
        net.fit(X, y, shuffle="rows")
