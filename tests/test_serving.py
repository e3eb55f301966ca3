"""Inference on few rows (engine/model.Model._infer_few: the calling thread, a workspace kept
per thread) gives the bits of the general path, and two threads may serve one network."""

import threading

import numpy as np
import pytest
import scipy.sparse as sp

import fastbp
from conftest import oracle
from fastbp.engine import config

NETWORKS = {
    "relu softmax float32": dict(sizes=[12, 9, 4], activation="relu"),
    "tanh sigmoid bce float64": dict(sizes=[12, 7, 3], activation="tanh", output="sigmoid",
                                     loss="binary_cross_entropy", dtype=np.float64),
    "elu identity mse": dict(sizes=[12, 8, 5, 2], activation="elu", output="identity",
                             loss="mse"),
}


def _targets(net, n, rng):
    if net.loss_name == "cross_entropy":
        return rng.integers(0, net.sizes[-1], n)
    if net.loss_name == "binary_cross_entropy":
        return (rng.random((n, net.sizes[-1])) > 0.5).astype(float)
    return rng.normal(size=(n, net.sizes[-1]))


def _served(net, X, y, weights):
    return (net.forward(X), net.predict(X), net.evaluate(X, y),
            net.evaluate(X, y, sample_weight=weights))


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("rows", [1, 2, 7, config.FEW_ROWS])
@pytest.mark.parametrize("kind", ["dense", "csr", "uint8"])
def test_few_rows_give_the_general_paths_bits(name, rows, kind, monkeypatch):
    rng = np.random.default_rng(rows)
    spec = NETWORKS[name]
    raw = (rng.random((rows, spec["sizes"][0])) * 255).astype(np.uint8)
    net = fastbp.Network(**spec, seed=3, input_scale=1 / 255 if kind == "uint8" else None)
    X = {"dense": raw / 255.0, "csr": sp.csr_matrix(np.where(raw > 128, raw / 255.0, 0.0)),
         "uint8": raw}[kind]
    y, weights = _targets(net, rows, rng), rng.random(rows) + 0.5
    few = _served(net, X, y, weights)
    monkeypatch.setattr(config, "FEW_ROWS", 0)  # every call through the general path
    general = _served(net, X, y, weights)
    for mine, theirs in zip(few[:2], general[:2]):
        np.testing.assert_array_equal(mine, theirs)
    assert few[2:] == general[2:]


@pytest.mark.parametrize("rows", [1, 7, config.FEW_ROWS])
def test_few_rows_of_int8_inference_give_the_general_paths_bits(rows, monkeypatch):
    rng = np.random.default_rng(rows)
    net = fastbp.Network([12, 9, 4], seed=3)
    X, y = rng.random((rows, 12)), rng.integers(0, 4, rows)
    q = net.quantize(rng.random((200, 12)))
    few = q.forward(X), q.evaluate(X, y)
    monkeypatch.setattr(config, "FEW_ROWS", 0)
    general = q.forward(X), q.evaluate(X, y)
    np.testing.assert_array_equal(few[0], general[0])
    assert few[1] == general[1]


def test_threads_serving_one_network_get_their_own_rows():
    rng = np.random.default_rng(0)
    net = fastbp.Network([12, 16, 4], seed=0)
    X = rng.normal(size=(400, 12))
    expected = np.vstack([net.forward(X[i:i + 1]) for i in range(400)])  # one thread
    results, errors = [None] * 4, []

    def serve(t):
        try:
            results[t] = np.vstack([net.forward(X[i:i + 1]) for i in range(t, 400, 4)])
        except BaseException as error:  # reported below: a thread's exception is not raised
            errors.append(error)

    threads = [threading.Thread(target=serve, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for t in range(4):
        np.testing.assert_array_equal(results[t], expected[t::4])


def test_estimators_plain_input_check_agrees_with_scikit_learns():
    oracle("sklearn")
    from fastbp.sklearn import FastbpClassifier
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 5)), rng.integers(0, 3, 60)
    model = FastbpClassifier((8,), max_iter=3, random_state=0).fit(X, y)
    row = X[:1]
    assert model._plain_input(row)
    # the same answers as through validate_data (a list is not a plain input)
    np.testing.assert_array_equal(model.predict_proba(row), model.predict_proba(row.tolist()))
    np.testing.assert_array_equal(model.predict(X), model.predict(X.tolist()))
    np.testing.assert_array_equal(model.predict(X),
                                  model._label_binarizer.inverse_transform(model._forward(X)))
    for bad, message in ((np.full((1, 5), np.nan), "NaN"), (X[:1, :4], "5 features")):
        assert not model._plain_input(bad)
        with pytest.raises(ValueError, match=message):
            model.predict(bad)
    assert not model._plain_input(X.astype(np.float16)) and not model._plain_input(X[:0])


def test_estimators_fitted_with_feature_names_still_warn():
    oracle("sklearn")
    pd = oracle("pandas")
    from fastbp.sklearn import FastbpClassifier
    rng = np.random.default_rng(0)
    X, y = pd.DataFrame(rng.normal(size=(40, 3)), columns=list("abc")), rng.integers(0, 2, 40)
    model = FastbpClassifier((4,), max_iter=2, random_state=0).fit(X, y)
    assert not model._plain_input(X.to_numpy())
    with pytest.warns(UserWarning, match="feature names"):
        model.predict(X.to_numpy())
