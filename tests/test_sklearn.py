import numpy as np
import pytest

from conftest import oracle

sklearn = oracle("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.model_selection import cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from fastbp.sklearn import FastbpClassifier, FastbpRegressor  # noqa: E402


def test_classifier_in_a_pipeline_with_string_labels(digits):
    X_train, y_train, X_test, y_test = digits
    names = np.array(list("abcdefghij"))
    model = make_pipeline(StandardScaler(), FastbpClassifier(hidden_layer_sizes=(64,),
                                                             epochs=15, lr=0.05, random_state=0))
    model.fit(X_train, names[y_train])
    assert set(model.predict(X_test)) <= set(names)
    assert model.score(X_test, names[y_test]) > 0.93
    proba = model.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10) and np.allclose(proba.sum(1), 1, atol=1e-5)


def test_clone_params_and_cross_validation(digits):
    X_train, y_train, _, _ = digits
    model = FastbpClassifier(hidden_layer_sizes=(32,), epochs=5, random_state=0)
    assert clone(model).get_params() == model.get_params()
    scores = cross_val_score(model, X_train, y_train, cv=3)
    assert scores.min() > 0.8


def test_same_random_state_same_model(digits):
    X_train, y_train, X_test, _ = digits
    a = FastbpClassifier(epochs=2, random_state=3).fit(X_train, y_train)
    b = FastbpClassifier(epochs=2, random_state=3).fit(X_train, y_train)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_regressor_learns_a_smooth_function():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(2000, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    model = FastbpRegressor(hidden_layer_sizes=(32, 32), activation="tanh", epochs=60,
                            lr=0.05, random_state=0).fit(X[:1500], y[:1500])
    assert model.predict(X[1500:]).shape == (500,)
    assert model.score(X[1500:], y[1500:]) > 0.95


def test_unfitted_and_bad_input():
    from sklearn.exceptions import NotFittedError
    with pytest.raises(NotFittedError):
        FastbpClassifier().predict(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="at least 2 classes"):
        FastbpClassifier().fit(np.zeros((3, 2)), [1, 1, 1])
