"""Bad input gets a clear error naming the problem, and leaves the model untouched."""

import numpy as np
import pytest

import fastbp

X = np.random.default_rng(0).normal(size=(6, 4))
y = np.array([0, 1, 2, 0, 1, 2])


@pytest.fixture
def net():
    return fastbp.Network([4, 5, 3], seed=0)


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(sizes=[4]), ValueError, "at least 2"),
    (dict(sizes=[4, 0, 3]), ValueError, "integer >= 1"),
    (dict(sizes=[4, 2.5, 3]), ValueError, "integer >= 1"),
    (dict(sizes=5), TypeError, "list of layer widths"),
    (dict(sizes=[4, 3], activation="swish"), ValueError, "unknown hidden activation 'swish'"),
    (dict(sizes=[4, 5, 3], activation="softmax"), ValueError, "output activation only"),
    (dict(sizes=[4, 5, 5, 3], activation=["relu"]), ValueError, "one name per hidden layer"),
    (dict(sizes=[4, 3], loss="hinge"), ValueError, "unknown loss 'hinge'"),
    (dict(sizes=[4, 3], output="bogus"), ValueError, "unknown output activation"),
    (dict(sizes=[4, 3], loss="cross_entropy", output="sigmoid"), ValueError, "needs output='softmax'"),
    (dict(sizes=[4, 3], loss="binary_cross_entropy", output="softmax"), ValueError, "needs output='sigmoid'"),
    (dict(sizes=[4, 3], dtype=np.int32), TypeError, "float32"),
    (dict(sizes=[4, 3], dtype="float16"), TypeError, "float32"),
    (dict(sizes=[4, 3], init="orthogonal"), ValueError, "unknown init"),
    (dict(sizes=[784, 1], loss="cross_entropy"), ValueError,
     "softmax output over one unit is always 1.*binary_cross_entropy"),
    (dict(sizes=[4, 1], loss="mse", output="softmax"), ValueError, "always 1"),
])
def test_bad_network_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        fastbp.Network(**kwargs)


@pytest.mark.parametrize("X_bad,y_bad,error,match", [
    (X[:, :3], y, ValueError, "3 features per sample but the network expects 4"),
    (X, y[:5], ValueError, "X has 6 samples but y has 5"),
    (np.where(np.eye(6, 4) > 0, np.nan, X), y, ValueError, "NaN or inf"),
    (np.where(np.eye(6, 4) > 0, np.inf, X), y, ValueError, "NaN or inf"),
    (X, np.where(y == 2, np.nan, y), ValueError, "y contains NaN"),
    (X, y + 1, ValueError, r"labels must lie in \[0, 2\]"),
    (X, y - 1, ValueError, r"labels must lie in \[0, 2\]"),
    (X, y + 0.5, ValueError, "integer class indices"),
    (np.empty((0, 4)), np.empty(0), ValueError, "X is empty"),
    (X[0], y, ValueError, "must be 2-D"),
    (X.astype(str), y, TypeError, "holds text .*OneHotEncoder .*ColumnTransformer"),
    (X.astype(object), y, TypeError, r"must hold numbers.*np.asarray\(X, dtype=np.float32\)"),
    (X, np.full((6, 3), 0.5), ValueError, "sum to 1"),
    (X, np.zeros((6, 2)), ValueError, r"shape \(6, 3\)"),
])
def test_bad_fit_input_is_rejected_without_change(net, X_bad, y_bad, error, match):
    before = net.params.copy()
    with pytest.raises(error, match=match):
        net.fit(X_bad, y_bad)
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("kwargs,match", [
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(epochs=1.5), "epochs must be a positive integer"),
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(lr=-0.1), "lr must be a positive number"),
    (dict(lr=float("nan")), "lr must be a positive number"),
    (dict(validation_data=X), "validation_data must be a pair"),
])
def test_bad_fit_options(net, kwargs, match):
    with pytest.raises(ValueError, match=match):
        net.fit(X, y, **kwargs)


def test_binary_and_mse_targets():
    bce = fastbp.Network([4, 2], loss="binary_cross_entropy")
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        bce.fit(X, np.full((6, 2), 1.5))
    mse = fastbp.Network([4, 1], loss="mse")
    mse.fit(X, np.arange(6.0))  # (n,) targets for a single output
    with pytest.raises(ValueError, match=r"shape \(6, 1\)"):
        mse.fit(X, np.zeros((6, 2)))


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
# first inference chunk and slab, a later slab, the last row (in a later block of the check)
@pytest.mark.parametrize("row", [0, 1500, 4999])
def test_inference_rejects_non_finite_X(value, row):
    # forward, evaluate and loss check X for NaN/inf through the first layer's
    # pre-activations, not a separate pass: a bad value anywhere must still be found and
    # located.
    net = fastbp.Network([4, 5, 3], seed=0)
    X_big = np.random.default_rng(1).normal(size=(5000, 4))
    X_big[row, 2] = value
    y_big = np.arange(5000) % 3
    for method in (net.forward, net.predict, lambda X: net.evaluate(X, y_big),
                   lambda X: net.loss(X, y_big)):
        with pytest.raises(ValueError, match=f"NaN or inf \\(first at row {row}, column 2\\)"):
            method(X_big)


def test_inference_overflow_is_not_an_input_error():
    # Finite inputs whose pre-activations overflow are valid input: outputs come back.
    net = fastbp.Network([4, 3], output="sigmoid", loss="binary_cross_entropy", seed=0,
                         dtype="float32")
    X_huge = np.full((2, 4), 3e38, dtype=np.float32)
    with np.errstate(over="ignore"):
        assert np.isinf(X_huge @ net.weights[0].T).any()  # the case under test happens
    out = net.forward(X_huge)
    assert np.all((out >= 0) & (out <= 1))


def test_other_methods_validate_too(net):
    with pytest.raises(ValueError, match="features"):
        net.forward(X[:, :2])
    with pytest.raises(ValueError, match="labels"):
        net.evaluate(X, y + 5)
    with pytest.raises(ValueError, match="NaN"):
        net.backprop(np.full((2, 4), np.nan), [0, 1])


@pytest.mark.parametrize("make,match", [
    (lambda: fastbp.schedules.StepLR(2, gamma=-0.5), "gamma must be a positive number"),
    (lambda: fastbp.schedules.CosineAnnealingLR(3, eta_min_factor=-1),
     "eta_min_factor must be a non-negative number"),
    (lambda: fastbp.callbacks.EarlyStopping(patience=-1), "patience must be an integer >= 0"),
    (lambda: fastbp.callbacks.EarlyStopping(mode="up"), "mode must be 'auto', 'min' or 'max'"),
    (lambda: fastbp.callbacks.ModelCheckpoint("x.npz", every=0), "every must be a positive"),
    (lambda: fastbp.optimizers.Adam(betas=(0.9, 1.0)), r"betas\[1\] must lie in \[0, 1\)"),
])
def test_bad_object_arguments_follow_the_rules(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(verbose=True), ValueError, "verbose must be 0, 1 or 2, got True"),
    (dict(verbose=3), ValueError, "verbose must be 0, 1 or 2"),
    (dict(validation_split=-0.1), ValueError, r"validation_split must lie in \(0, 1\)"),
    (dict(on_divergence=None), ValueError, "on_divergence must be 'raise' or 'warn'"),
    (dict(schedule="cosine"), TypeError, "schedule must be a fastbp.schedules.Schedule"),
])
def test_fit_options_follow_the_rules_and_change_nothing(net, kwargs, error, match):
    before = net.params.copy()
    with pytest.raises(error, match=match):
        net.fit(X, y, **kwargs)
    np.testing.assert_array_equal(net.params, before)
