import numpy as np
import pytest

import fastbp
from conftest import HEADS, HIDDEN
from fastbp.engine.layout import n_params


def test_params_is_one_buffer_and_weights_are_views():
    net = fastbp.Network([5, 4, 3], seed=0)
    assert net.params.ndim == 1 and net.params.flags.c_contiguous
    assert net.params.size == n_params([5, 4, 3]) == 5 * 4 + 4 + 4 * 3 + 3
    assert [W.shape for W in net.weights] == [(4, 5), (3, 4)]
    assert [b.shape for b in net.biases] == [(4,), (3,)]
    net.weights[1][2, 3] = 7.5
    net.biases[0][1] = -2.0
    assert 7.5 in net.params and -2.0 in net.params
    for view in net.weights + net.biases:
        assert np.shares_memory(view, net.params)


def test_params_setter_copies_into_the_buffer():
    net = fastbp.Network([3, 2], seed=0)
    buffer = net.params
    net.params = np.arange(8)
    assert net.params is buffer
    np.testing.assert_array_equal(net.weights[0], [[0, 1, 2], [3, 4, 5]])
    with pytest.raises(ValueError, match="shape"):
        net.params = np.zeros(3)
    with pytest.raises(ValueError, match="finite"):
        net.params = np.full(8, np.nan)


def test_same_seed_same_parameters_and_dtypes():
    a = fastbp.Network([10, 8, 3], seed=5)
    b = fastbp.Network([10, 8, 3], seed=5)
    c = fastbp.Network([10, 8, 3], seed=6)
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    assert a.params.dtype == np.float32
    assert fastbp.Network([2, 2], dtype="float64").params.dtype == np.float64


@pytest.mark.parametrize("init,activation,std", [
    ("he", "relu", np.sqrt(2 / 400)), ("lecun", "tanh", np.sqrt(1 / 400)),
    ("xavier", "tanh", np.sqrt(2 / (400 + 300))), ("auto", "relu", np.sqrt(2 / 400)),
    ("auto", "sigmoid", np.sqrt(2 / (400 + 300)))])
def test_init_scale(init, activation, std):
    net = fastbp.Network([400, 300, 2], activation=activation, init=init, seed=0)
    assert net.weights[0].std() == pytest.approx(std, rel=0.02)
    assert not net.biases[0].any()


def test_default_output_follows_loss():
    assert fastbp.Network([2, 3], loss="cross_entropy").activations[-1] == "softmax"
    assert fastbp.Network([2, 3], loss="binary_cross_entropy").activations[-1] == "sigmoid"
    assert fastbp.Network([2, 3], loss="mse").activations[-1] == "identity"
    textbook = fastbp.Network([784, 30, 10], activation="sigmoid", output="sigmoid", loss="mse")
    assert textbook.activations == ["sigmoid", "sigmoid"]


def test_per_layer_activations():
    net = fastbp.Network([3, 4, 5, 2], activation=["tanh", "gelu"])
    assert net.activations == ["tanh", "gelu", "softmax"]


def test_predict_and_evaluate_kinds():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(7, 4))
    ce = fastbp.Network([4, 3], seed=0)
    assert ce.predict(X).shape == (7,) and ce.predict(X).dtype.kind == "i"
    np.testing.assert_array_equal(ce.predict(X), ce.forward(X).argmax(1))
    np.testing.assert_allclose(ce.forward(X).sum(1), 1.0, rtol=1e-6)
    labels = ce.predict(X)
    labels[:3] = (labels[:3] + 1) % 3  # three of seven wrong
    result = ce.evaluate(X, labels)
    assert result["accuracy"] == 4 / 7
    picked = ce.forward(X).astype(np.float64)[np.arange(7), labels]
    assert result["loss"] == pytest.approx(-np.log(picked).mean(), rel=1e-5)
    bce = fastbp.Network([4, 1], loss="binary_cross_entropy", seed=0)
    assert set(np.unique(bce.predict(X))) <= {0, 1} and bce.predict(X).shape == (7,)
    mse = fastbp.Network([4, 2], loss="mse", seed=0)
    np.testing.assert_array_equal(mse.predict(X), mse.forward(X))
    assert set(mse.evaluate(X, np.zeros((7, 2)))) == {"loss"}


def test_forward_in_chunks_equals_one_batch():
    """More rows than one inference step holds: the chunked path gives the same numbers."""
    rng = np.random.default_rng(1)
    net = fastbp.Network([6, 5, 3], dtype=np.float64, seed=0)
    X = rng.normal(size=(2500, 6))
    expected = np.concatenate([net.forward(X[i:i + 1]) for i in range(0, 2500, 97)])
    np.testing.assert_allclose(net.forward(X)[::97], expected, rtol=1e-13)


def test_probability_targets_match_labels():
    rng = np.random.default_rng(2)
    net = fastbp.Network([4, 3], dtype=np.float64, seed=0)
    X = rng.normal(size=(5, 4))
    y = rng.integers(0, 3, size=5)
    assert net.loss(X, y) == net.loss(X, np.eye(3)[y])
    soft = np.full((5, 3), 1 / 3)
    assert net.loss(X, soft) == pytest.approx(-np.log(net.forward(X)).mean(1).mean())


def test_read_only_and_non_contiguous_inputs():
    rng = np.random.default_rng(3)
    X = np.asfortranarray(rng.normal(size=(20, 4)))
    y = rng.integers(0, 3, size=20)
    X.flags.writeable = False
    y.flags.writeable = False
    net = fastbp.Network([4, 3], seed=0)
    expected = net.forward(np.ascontiguousarray(X))
    np.testing.assert_array_equal(net.forward(X), expected)
    same = fastbp.Network([4, 3], seed=0)
    for fit in (net.fit, same.fit):  # read-only strided views, then plain copies
        fit(X, y, epochs=2, batch_size=4)
        fit(X[::2], y[::2], epochs=1, batch_size=3)
        X, y = np.ascontiguousarray(X), y.copy()
    np.testing.assert_array_equal(net.params, same.params)
    assert not np.array_equal(net.params, fastbp.Network([4, 3], seed=0).params)


def test_extreme_logits_give_finite_loss():
    net = fastbp.Network([1, 2], dtype=np.float64)
    net.weights[0][:] = [[1000.0], [-1000.0]]
    assert net.loss([[1.0]], [1]) == pytest.approx(2000.0)
    bce = fastbp.Network([1, 1], loss="binary_cross_entropy", dtype=np.float64)
    bce.weights[0][:] = [[800.0]]
    assert bce.loss([[1.0]], [0.0]) == pytest.approx(800.0)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss,output", HEADS, ids=str)
def test_save_and_load_round_trip(tmp_path, loss, output, dtype):
    """Every hidden activation (one per layer), every output and loss, both dtypes, with
    dropout: the spec and the parameters come back, and so do the predictions."""
    rng = np.random.default_rng(4)
    net = fastbp.Network([5] + [4] * len(HIDDEN) + [3], activation=HIDDEN, output=output,
                         loss=loss, dtype=dtype, init="lecun", dropout=[0.3] * len(HIDDEN),
                         seed=1)
    net.params = rng.normal(size=net.params.size)  # biases too, as after training
    X = rng.normal(size=(20, 5))
    net.save(tmp_path / "model")
    loaded = fastbp.load(tmp_path / "model")
    assert repr(loaded) == repr(net)
    assert (loaded.sizes, loaded.activations, loaded.loss_name, loaded.dtype, loaded.init,
            loaded.dropout) == (net.sizes, net.activations, net.loss_name, net.dtype, net.init,
                                net.dropout)
    np.testing.assert_array_equal(loaded.params, net.params)
    np.testing.assert_array_equal(loaded.forward(X), net.forward(X))
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
