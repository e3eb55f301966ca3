"""The scikit-learn estimators: scikit-learn's own estimator checks, training equal to
scikit-learn's MLPs from the same start, its stopping rule, partial_fit, warm_start, early
stopping, and failed fits that change nothing."""

import warnings

import numpy as np
import pytest

from conftest import oracle

sklearn = oracle("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import cross_val_score, train_test_split  # noqa: E402
from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from fastbp.sklearn import FastbpClassifier, FastbpRegressor  # noqa: E402

# Short fits end before they converge; the tests about that warning catch it themselves.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@parametrize_with_checks([FastbpClassifier(), FastbpRegressor()])
def test_scikit_learn_estimator_checks(estimator, check):
    """Every check scikit-learn runs on its own estimators, default parameters, no
    expected failures (scikit-learn declares none for MLPClassifier / MLPRegressor)."""
    check(estimator)


def _problem(kind, n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    if kind == "multiclass":
        return X, np.array(["a", "b", "c"])[X[:, :3].argmax(axis=1)]
    if kind == "binary":
        return X, (X[:, 0] + X[:, 1] > 0).astype(int)
    if kind == "multilabel":
        return X, (X[:, :3] > 0).astype(int)
    if kind == "poisson":  # counts of two outputs, with a log-linear mean
        return X, rng.poisson(np.exp(0.3 * X[:, :2] + 0.5)).astype(float)
    return X, X[:, :2] @ np.array([[1.0, -2.0], [0.5, 1.0]]) + 0.1 * rng.normal(size=(n, 2))


PAIRS = {"multiclass": (FastbpClassifier, MLPClassifier),
         "binary": (FastbpClassifier, MLPClassifier),
         "multilabel": (FastbpClassifier, MLPClassifier),
         "regression": (FastbpRegressor, MLPRegressor),
         "poisson": (FastbpRegressor, MLPRegressor)}


def _from_the_same_start(kind, solver, alpha, weights):
    """(fastbp's estimator, scikit-learn's) trained 4 epochs from the same parameters with
    the same batches (no shuffling), after a first epoch that builds both."""
    X, y = _problem(kind)
    settings = dict(hidden_layer_sizes=(7, 4), activation="tanh", solver=solver, alpha=alpha,
                    batch_size=25, learning_rate_init=0.05, momentum=0.8, shuffle=False,
                    max_iter=1, random_state=0)
    if kind == "poisson":
        settings["loss"] = "poisson"
    ours_cls, theirs_cls = PAIRS[kind]
    ours = ours_cls(**settings, dtype="float64").fit(X, y, sample_weight=weights)
    theirs = theirs_cls(**settings).fit(X, y, sample_weight=weights)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert a.shape == b.shape
        b[...] = a  # the same start
    for model in (ours, theirs):
        model.set_params(warm_start=True, max_iter=4).fit(X, y, sample_weight=weights)
    return X, ours, theirs


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("kind", list(PAIRS))
def test_training_equals_scikit_learn_from_the_same_start(kind, solver):
    """From the same parameters, with the same batches, L2 penalty, sample weights and
    solver, both libraries reach the same parameters: scikit-learn's MLP as the oracle."""
    weights = np.random.default_rng(1).integers(1, 4, 60).astype(float)
    X, ours, theirs = _from_the_same_start(kind, solver, 0.3, weights)
    assert ours.n_layers_ == theirs.n_layers_ and ours.n_outputs_ == theirs.n_outputs_
    assert ours.out_activation_ == theirs.out_activation_
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    if kind in ("regression", "poisson"):
        np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-10)
    else:
        np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-10)
        np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    # The recorded losses are close, not equal: fastbp adds the L2 term of the epoch's end
    # weights over the epoch's weight sum, scikit-learn each batch's own over the batch's,
    # and it averages the batches' weighted means by rows.
    np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=5e-2)


@pytest.mark.parametrize("kind", list(PAIRS))
def test_loss_curve_equals_scikit_learns_without_penalty(kind):
    """Without the L2 term and with equal weights, the losses recorded per epoch (each
    batch's before its update; squared error averaged over outputs too) are scikit-learn's."""
    _, ours, theirs = _from_the_same_start(kind, "adam", 0.0, None)
    np.testing.assert_allclose(ours.loss_curve_[1:], theirs.loss_curve_[1:], rtol=1e-10)


@pytest.mark.parametrize("cls", [FastbpClassifier, FastbpRegressor])
@pytest.mark.parametrize("settings", [dict(tol=1e9), dict(tol=1e9, n_iter_no_change=3),
                                      dict(solver="sgd", learning_rate="adaptive", tol=1e9,
                                           n_iter_no_change=2),
                                      dict(early_stopping=True, tol=1e9, n_iter_no_change=4)])
def test_stopping_rule_counts_epochs_as_scikit_learn(cls, settings):
    """With a tol no epoch can meet, the number of epochs depends on the rule only:
    n_iter_no_change + 1 epochs, or, with the adaptive rate, every division of the rate
    by 5 from 1e-3 down to 1e-6 first (5 rounds of n_iter_no_change + 1 epochs)."""
    kind = "multiclass" if cls is FastbpClassifier else "regression"
    X, y = _problem(kind, n=80)
    ours = cls(random_state=0, **settings).fit(X, y)
    theirs = PAIRS[kind][1](random_state=0, **settings).fit(X, y)
    assert ours.n_iter_ == theirs.n_iter_ == len(ours.loss_curve_)
    if settings.get("early_stopping"):
        assert ours.best_loss_ is None and len(ours.validation_scores_) == ours.n_iter_
        assert ours.best_validation_score_ == max(ours.validation_scores_)
    else:
        assert ours.best_loss_ == min(ours.loss_curve_) and ours.validation_scores_ is None


def test_count_without_improvement_carries_over_as_scikit_learns():
    """The count of epochs without improvement lives on between fits, as scikit-learn's: a
    warm start after a fit that stopped stops after one more epoch that does not improve,
    and partial_fit calls divide the adaptive rate every n_iter_no_change + 1 of them."""
    X, y = _problem("multiclass", n=80)
    settings = dict(solver="sgd", tol=1e9, n_iter_no_change=3, random_state=0)
    for cls in (FastbpClassifier, MLPClassifier):
        model = cls(warm_start=True, **settings)
        epochs = [model.fit(X, y).n_iter_ for _ in range(3)]
        assert epochs == [5, 1, 1], cls  # the first epoch always improves on inf
        assert model._no_improvement_count == 6, cls
        model = cls(learning_rate="adaptive", **settings)
        for _ in range(9):  # a first call, then two rounds of 4 without improvement
            model.partial_fit(X, y, classes=np.unique(y))
        rate = model._optimizer.lr if cls is FastbpClassifier else model._optimizer.learning_rate
        assert rate == pytest.approx(1e-3 / 25), cls


def test_convergence_warning_when_max_iter_runs_out():
    X, y = _problem("binary")
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        FastbpClassifier(max_iter=3).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        FastbpClassifier(max_iter=30, tol=1e9, n_iter_no_change=2).fit(X, y)  # stops at 3


def test_invscaling_rate_follows_the_samples_seen():
    X, y = _problem("binary")
    model = FastbpClassifier(solver="sgd", learning_rate="invscaling", learning_rate_init=0.2,
                             power_t=0.3, max_iter=4, tol=0).fit(X, y)
    assert model.t_ == 4 * len(X)
    assert model._optimizer.lr == pytest.approx(0.2 / (model.t_ + 1) ** 0.3)


def test_early_stopping_keeps_the_best_epoch():
    """The returned parameters score best_validation_score_ on scikit-learn's split (the
    same train_test_split from random_state: stratified for a binary problem, not for a
    multiclass one, as scikit-learn splits)."""
    for kind in ("multiclass", "binary"):
        X, y = _problem(kind, n=200)
        model = FastbpClassifier(hidden_layer_sizes=(16,), early_stopping=True,
                                 validation_fraction=0.2, max_iter=40, n_iter_no_change=40,
                                 learning_rate_init=0.05, random_state=3)
        model.fit(X, y)
        _, X_val, _, y_val = train_test_split(X, y, random_state=np.random.RandomState(3),
                                              test_size=0.2,
                                              stratify=y if kind == "binary" else None)
        # the best epoch is not the last: the returned parameters are an earlier epoch's
        assert np.argmax(model.validation_scores_) < len(model.validation_scores_) - 1, kind
        assert model.score(X_val, y_val) == model.best_validation_score_, kind
    with pytest.raises(ValueError, match="The least populated classes in y have only 1 "
                                         r"member.*Classes with too few members are: \['True'\]"):
        FastbpClassifier(early_stopping=True).fit([[1, 2], [2, 3], [3, 4], [4, 5]], [0, 0, 0, 1])


def test_worked_example_of_one_sgd_step():
    """One SGD step of a 3-2-1 logistic network on one row, worked out by hand (the
    example in scikit-learn's own tests): sigmoid hidden units h = g(W1 x + b1), output
    o = g(W2 h + b2), delta2 = o - y, delta1 = (W2^T delta2) * h (1 - h), and each weight
    moves by lr * (delta a^T + alpha W) (alpha over the batch's one row)."""
    x, y = np.array([[0.6, 0.8, 0.7]]), np.array([0])
    model = FastbpClassifier(solver="sgd", learning_rate_init=0.1, alpha=0.1,
                             activation="logistic", hidden_layer_sizes=2, momentum=0,
                             random_state=1)
    model.partial_fit(x, y, classes=[0, 1])  # builds the network; now set its parameters
    model.coefs_[0][:] = [[0.1, 0.2], [0.3, 0.1], [0.5, 0.0]]
    model.coefs_[1][:] = [[0.1], [0.2]]
    model.intercepts_[0][:] = [0.1, 0.1]
    model.intercepts_[1][:] = [1.0]
    model.partial_fit(x, y)
    np.testing.assert_allclose(model.coefs_[0], [[0.098, 0.195756], [0.2956664, 0.096008],
                                                 [0.4939998, -0.002244]], atol=5e-4)
    np.testing.assert_allclose(model.coefs_[1], [[0.04706], [0.154089]], atol=5e-4)
    np.testing.assert_allclose(model.intercepts_[0], [0.098333, 0.09626], atol=5e-4)
    np.testing.assert_allclose(model.intercepts_[1], [0.9235], atol=5e-4)
    assert model.predict_proba(x)[0, 1] == pytest.approx(0.739, abs=5e-4)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_partial_fit_equals_fit_epoch_by_epoch(dropout):
    """k calls of partial_fit (one epoch each, the optimizer kept) equal one fit of k epochs,
    bitwise, shuffled and with dropout too; classes are needed at the first call."""
    X, y = _problem("multiclass")
    settings = dict(hidden_layer_sizes=(8,), random_state=0, tol=0, batch_size=16,
                    dropout=dropout)
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        FastbpClassifier(**settings).partial_fit(X, y)
    stepped = FastbpClassifier(**settings)
    for _ in range(3):
        stepped.partial_fit(X, y, classes=["a", "b", "c"])
    whole = FastbpClassifier(max_iter=3, **settings).fit(X, y)
    np.testing.assert_array_equal(stepped.network_.params, whole.network_.params)
    assert stepped.loss_curve_ == whole.loss_curve_ and stepped.t_ == whole.t_
    with pytest.raises(ValueError, match="has classes not in"):
        stepped.partial_fit(X, np.where(y == "a", "z", y))
    regressor = FastbpRegressor(hidden_layer_sizes=(8,))
    regressor.partial_fit(*_problem("regression"))
    assert regressor.n_iter_ == 1 and regressor.predict(X).shape == (len(X), 2)


def test_warm_start_continues_from_the_fitted_network():
    X, y = _problem("multiclass")
    model = FastbpClassifier(max_iter=3, warm_start=True, random_state=0).fit(X, y)
    network, start = model.network_, model.network_.params.copy()
    model.fit(X, y)
    assert model.network_ is network and not np.array_equal(network.params, start)
    assert len(model.loss_curve_) == 6 and model.n_iter_ == 3
    with pytest.raises(ValueError, match="warm_start can only be used where `y` has the "
                                         "same classes"):
        model.fit(X[y != "a"], y[y != "a"])
    cold = FastbpClassifier(max_iter=3, random_state=0).fit(X, y)
    assert len(cold.loss_curve_) == 3


@pytest.mark.parametrize("kind", ["multiclass", "binary", "multilabel"])
def test_classifier_outputs(kind):
    X, y = _problem(kind)
    model = FastbpClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0)
    model.fit(X, y)
    proba = model.predict_proba(X)
    n_columns = 3 if kind != "binary" else 2
    assert proba.shape == (len(X), n_columns) and ((proba >= 0) & (proba <= 1)).all()
    if kind != "multilabel":
        np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-12)
        np.testing.assert_array_equal(model.predict(X), model.classes_[proba.argmax(axis=1)])
    else:
        np.testing.assert_array_equal(model.predict(X), (proba > 0.5).astype(int))
    np.testing.assert_allclose(model.predict_log_proba(X), np.log(proba))
    assert model.score(X, y) > 0.8  # learns the rule behind the labels


def test_dtype_follows_X_unless_given():
    X, y = _problem("binary")
    assert FastbpClassifier(max_iter=2).fit(X, y).network_.dtype == np.float64
    assert FastbpClassifier(max_iter=2).fit(X.astype(np.float32), y).network_.dtype == \
        np.float32
    fast = FastbpClassifier(max_iter=2, dtype="float32").fit(X, y)
    assert fast.network_.dtype == np.float32 and fast.predict_proba(X).dtype == np.float32


def test_refusals_use_scikit_learns_words():
    X, y = _problem("binary")
    with pytest.raises(ValueError, match="dropout needs a stochastic solver"):
        FastbpClassifier(solver="lbfgs", dropout=0.1).fit(X, y)
    assert not hasattr(FastbpClassifier(solver="lbfgs"), "partial_fit")  # as scikit-learn's
    assert not hasattr(FastbpRegressor(solver="lbfgs"), "partial_fit")
    with pytest.raises(ValueError, match="The 'alpha' parameter of FastbpRegressor must be"):
        FastbpRegressor(alpha=-1).fit(X, y)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping"):
        FastbpRegressor(early_stopping=True).partial_fit(X, y)
    with pytest.raises(NotFittedError):
        FastbpClassifier().predict(X)
    one_class = FastbpClassifier(early_stopping=True, max_iter=3).fit(X, np.full(len(X), 7))
    assert one_class.classes_.tolist() == [7] and (one_class.predict(X) == 7).all()  # theirs too
    with pytest.raises(ValueError, match="The 'loss' parameter of FastbpRegressor must be"):
        FastbpRegressor(loss="huber").fit(X, y)
    with pytest.raises(ValueError, match="loss='poisson' needs targets y >= 0"):
        FastbpRegressor(loss="poisson").fit(X, y - 0.5)
    counts = FastbpRegressor(loss="poisson", max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="trained with loss='poisson', not 'squared_error'"):
        counts.set_params(loss="squared_error", warm_start=True).fit(X, y)
    assert counts.out_activation_ == "exp" and (counts.predict(X) > 0).all()


def test_a_failed_fit_leaves_the_estimator_as_it_was():
    """A fit that diverges (a huge rate on huge targets) raises scikit-learn's error and
    changes nothing: the fitted network, its predictions and the fitted attributes stay
    those of the last fit."""
    X, y = _problem("regression")
    model = FastbpRegressor(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    before = model.predict(X)
    attributes = {k: v for k, v in vars(model).items() if k.endswith("_")}
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        model.set_params(solver="sgd", learning_rate_init=1e30, momentum=0).fit(X, y * 1e30)
    np.testing.assert_array_equal(model.predict(X), before)
    assert {k: v for k, v in vars(model).items() if k.endswith("_")}.keys() == attributes.keys()
    assert model.loss_curve_ == attributes["loss_curve_"]
    assert model.network_ is attributes["network_"]


def test_classifier_in_a_pipeline_with_string_labels(digits):
    X_train, y_train, X_test, y_test = digits
    names = np.array(list("abcdefghij"))
    model = make_pipeline(StandardScaler(), FastbpClassifier(hidden_layer_sizes=(64,),
                                                             random_state=0))
    model.fit(X_train, names[y_train])
    assert set(model.predict(X_test)) <= set(names)
    assert model.score(X_test, names[y_test]) > 0.93


def test_clone_params_and_cross_validation(digits):
    X_train, y_train, _, _ = digits
    model = FastbpClassifier(hidden_layer_sizes=(32,), max_iter=20, random_state=0)
    assert clone(model).get_params() == model.get_params()
    scores = cross_val_score(model, X_train, y_train, cv=3)
    assert scores.min() > 0.8


def test_same_random_state_same_model(digits):
    X_train, y_train, X_test, _ = digits
    a = FastbpClassifier(max_iter=2, random_state=3).fit(X_train, y_train)
    b = FastbpClassifier(max_iter=2, random_state=3).fit(X_train, y_train)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_regressor_learns_a_smooth_function():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(2000, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    model = FastbpRegressor(hidden_layer_sizes=(32, 32), activation="tanh",
                            random_state=0).fit(X[:1500], y[:1500])
    assert model.predict(X[1500:]).shape == (500,)
    assert model.score(X[1500:], y[1500:]) > 0.95


# L-BFGS -------------------------------------------------------------------------------------


def _lbfgs_problems():
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris
    for load in (load_iris, load_breast_cancer, load_digits, load_diabetes):
        X, y = load(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        if load is load_diabetes:
            y = (y - y.mean()) / y.std()
        yield load.__name__, X, y, (FastbpRegressor, MLPRegressor) if load is load_diabetes \
            else (FastbpClassifier, MLPClassifier)


@pytest.mark.parametrize("name, X, y, classes", list(_lbfgs_problems()))
def test_lbfgs_scores_as_scikit_learns_lbfgs(name, X, y, classes):
    """solver="lbfgs" on the bundled datasets: 5-fold cross-validated accuracy (R^2 for
    diabetes) within 0.01 of scikit-learn's lbfgs on average over 3 seeds."""
    ours, theirs = classes
    scores = {cls: np.mean([cross_val_score(cls(solver="lbfgs", hidden_layer_sizes=(32,),
                                                max_iter=100, random_state=seed), X, y, cv=5)
                            .mean() for seed in range(3)])
              for cls in (ours, theirs)}
    assert scores[ours] >= scores[theirs] - 0.01, scores


def test_lbfgs_minimises_scikit_learns_objective():
    """The objective lbfgs reports (loss_) is scikit-learn's at the returned parameters:
    the weighted mean loss plus 0.5 alpha ||W||^2 over the weight sum, computed here in
    NumPy; and its gradient is the objective's, by central finite differences."""
    X, y = _problem("multiclass", n=80)
    weights = 1 + np.arange(80) % 3
    model = FastbpClassifier(solver="lbfgs", hidden_layer_sizes=(7,), alpha=0.3, max_iter=30,
                             random_state=0).fit(X, y, sample_weight=weights)
    proba = model.predict_proba(X)
    rows = np.searchsorted(model.classes_, y)
    loss = -(weights * np.log(proba[np.arange(80), rows])).sum() / weights.sum()
    penalty = sum((W ** 2).sum() for W in model.coefs_)
    assert model.loss_ == pytest.approx(loss + 0.5 * 0.3 * penalty / weights.sum(), rel=1e-9)
    assert model.n_iter_ <= 30 and model.t_ == 0 and not hasattr(model, "loss_curve_")

    network = model.network_
    data = network.training_data(X, model._target_matrix(rows, network.dtype),
                                 weights.astype(float))
    captured = {}

    def fake_minimize(objective, x0, **options):  # SciPy's place: read the objective
        captured["objective"] = objective
        return type("Result", (), {"x": x0, "fun": 0.0, "message": ""})()

    import scipy.optimize
    real = scipy.optimize.minimize
    scipy.optimize.minimize = fake_minimize
    try:
        network.minimize(data, l2=0.3, max_iter=1, max_fun=1)
    finally:
        scipy.optimize.minimize = real
    objective = captured["objective"]
    x = network.params.astype(np.float64)
    value, grad = objective(x.copy())
    assert value == pytest.approx(model.loss_, rel=1e-12)
    rng = np.random.default_rng(0)
    for i in rng.choice(x.size, 12, replace=False):
        step = np.zeros_like(x)
        step[i] = 1e-6
        numeric = (objective(x + step)[0] - objective(x - step)[0]) / 2e-6
        assert grad[i] == pytest.approx(numeric, rel=1e-5, abs=1e-8)


def test_lbfgs_stops_at_max_fun_with_scikit_learns_warning():
    X, y = _problem("multiclass", n=120)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        model = FastbpClassifier(solver="lbfgs", hidden_layer_sizes=(20,), max_fun=10,
                                 max_iter=150, random_state=1).fit(X, y)
    assert model.n_iter_ <= 10
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        FastbpRegressor(solver="lbfgs", max_iter=2, random_state=1).fit(X, X[:, 0])


def test_lbfgs_warm_start_continues_from_the_fitted_parameters():
    """Two warm-started fits of 5 iterations each end where scikit-learn's would not
    start over: the second starts from the first's parameters (its first loss is the
    first fit's last), and a stochastic warm-started fit after lbfgs starts a new record."""
    X, y = _problem("binary", n=100)
    model = FastbpClassifier(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=5,
                             warm_start=True, random_state=0).fit(X, y)
    first = model.loss_
    model.fit(X, y)
    assert model.loss_ <= first
    model.set_params(solver="adam", max_iter=2).fit(X, y)
    assert len(model.loss_curve_) == 2


def test_partial_fit_refuses_other_classes_and_never_stops_with_infinite_patience():
    X, y = _problem("binary")
    model = FastbpClassifier(solver="sgd").partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match=r"`classes=\[1, 2\]` is not the same as on last call"):
        model.partial_fit(X, y, classes=[1, 2])
    model.partial_fit(X, y, classes=[0, 1])  # the same classes again: fine
    # n_iter_no_change=np.inf: no number of epochs without improvement stops training
    model = FastbpClassifier(solver="sgd", tol=1e9, n_iter_no_change=np.inf, max_iter=30)
    with pytest.warns(ConvergenceWarning):
        model.fit(X, y)
    assert model.n_iter_ == 30


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_non_finite_weights_raise_scikit_learns_error_and_change_nothing(solver):
    rng = np.random.RandomState(0)
    X = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    model = FastbpRegressor(solver=solver)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="Solver produced non-finite parameter weights. "
                                             "The input data may contain large values"):
            model.fit(X, rng.standard_normal(10))
    assert not hasattr(model, "network_")


def test_a_diverging_fit_with_early_stopping_keeps_its_best_epoch():
    """As scikit-learn's (its issue 29504): no error; here the fit stops at the divergence
    with a warning and keeps the best validation epoch's parameters."""
    from sklearn.datasets import load_iris
    X, y = load_iris(return_X_y=True)
    model = FastbpRegressor(hidden_layer_sizes=100, activation="identity", solver="sgd",
                            learning_rate_init=1, max_iter=20, early_stopping=True,
                            random_state=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(X, y)
    assert [str(w.message)[:26] for w in caught] == ["training diverged in epoch"]
    assert model.n_iter_ < 20  # stopped there: no "maximum iterations" warning
    assert np.isfinite(model.network_.params).all()
    assert np.isfinite(model.predict(X)).all()


# fastbp's additions: class_weight, validation_loss_curve_, callbacks --------------------

def test_class_weight_is_a_weight_per_sample_of_its_class():
    """A dict of labels, or "balanced" (n / (classes * count)), trains exactly as the
    sample weights it stands for; it multiplies given sample weights."""
    from sklearn.utils.class_weight import compute_sample_weight
    X, y = _problem("multiclass", n=90)
    settings = dict(hidden_layer_sizes=(6,), max_iter=5, random_state=0)
    row_weight = 1 + np.arange(90) % 4
    for class_weight in ({"a": 3.0, "c": 0.5}, "balanced"):
        per_row = compute_sample_weight(class_weight, y)
        weighted = FastbpClassifier(class_weight=class_weight, **settings).fit(X, y)
        explicit = FastbpClassifier(**settings).fit(X, y, sample_weight=per_row)
        np.testing.assert_array_equal(weighted.network_.params, explicit.network_.params)
        both = FastbpClassifier(class_weight=class_weight, **settings).fit(
            X, y, sample_weight=row_weight)
        product = FastbpClassifier(**settings).fit(X, y, sample_weight=row_weight * per_row)
        np.testing.assert_array_equal(both.network_.params, product.network_.params)
    # binary: one sigmoid output, weighted by its labels
    X, y = _problem("binary", n=90)
    weighted = FastbpClassifier(class_weight={1: 4.0}, **settings).fit(X, y)
    explicit = FastbpClassifier(**settings).fit(X, y, sample_weight=np.where(y == 1, 4.0, 1))
    np.testing.assert_array_equal(weighted.network_.params, explicit.network_.params)
    assert "class_weight" not in FastbpRegressor().get_params()


def test_class_weight_refusals():
    X, y = _problem("multiclass")
    with pytest.raises(ValueError, match="are not in class_weight"):
        FastbpClassifier(class_weight={"z": 2.0}, max_iter=2).fit(X, y)
    with pytest.raises(ValueError, match="partial_fit does not see: pass class_weight="
                                         r"compute_class_weight\('balanced'"):
        FastbpClassifier(class_weight="balanced").partial_fit(X, y, classes=np.unique(y))
    FastbpClassifier(class_weight={"a": 2.0}).partial_fit(X, y, classes=np.unique(y))
    X, Y = _problem("multilabel")
    with pytest.raises(ValueError, match="for multilabel targets pass sample_weight"):
        FastbpClassifier(class_weight="balanced", max_iter=2).fit(X, Y)
    with pytest.raises(ValueError, match="The 'class_weight' parameter"):
        FastbpClassifier(class_weight="even").fit(X, Y)


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_validation_loss_curve_is_the_loss_on_scikit_learns_split(kind):
    """validation_loss_curve_ holds the data loss on the early-stopping split after each
    epoch: at the best epoch (whose parameters the model keeps) it equals the loss
    computed here in NumPy from the model's predictions on that split."""
    cls = FastbpClassifier if kind == "multiclass" else FastbpRegressor
    X, y = _problem(kind, n=200)
    model = cls(hidden_layer_sizes=(16,), early_stopping=True, validation_fraction=0.2,
                max_iter=30, n_iter_no_change=30, learning_rate_init=0.05, random_state=3)
    model.fit(X, y)
    _, X_val, _, y_val = train_test_split(X, y, random_state=np.random.RandomState(3),
                                          test_size=0.2)
    if kind == "multiclass":
        proba = model.predict_proba(X_val)
        expected = -np.log(proba[np.arange(len(y_val)),
                                 np.searchsorted(model.classes_, y_val)]).mean()
    else:  # half the squared error, averaged over rows and outputs
        expected = 0.5 * np.mean((model.predict(X_val) - y_val) ** 2)
    curve = model.validation_loss_curve_
    assert len(curve) == len(model.validation_scores_) == model.n_iter_
    assert curve[int(np.argmax(model.validation_scores_))] == pytest.approx(expected,
                                                                           rel=1e-10)
    assert cls(max_iter=2).fit(X, y).validation_loss_curve_ is None


def test_validation_curves_continue_over_warm_starts_that_turn_early_stopping_on():
    """A warm start extends the curves; one that turns early stopping on starts its record
    (scikit-learn's fails there, appending to None)."""
    X, y = _problem("multiclass", n=120)
    model = FastbpClassifier(warm_start=True, max_iter=3, random_state=0).fit(X, y)
    assert model.validation_scores_ is None
    model.set_params(early_stopping=True).fit(X, y)
    assert len(model.validation_scores_) == len(model.validation_loss_curve_) == 3
    model.fit(X, y)
    assert len(model.validation_loss_curve_) == 6 and len(model.loss_curve_) == 9
    model.set_params(early_stopping=False).fit(X, y)
    assert len(model.loss_curve_) == 12 and np.isfinite(model.best_loss_)


def test_callbacks_see_scikit_learns_record_and_may_stop():
    from fastbp.callbacks import Callback, EarlyStopping

    class Record(Callback):
        def on_train_begin(self, logs):
            self.logs = []

        def on_epoch_end(self, epoch, logs):
            self.logs.append(dict(logs))
            return epoch == 3  # stop after the fourth epoch

    X, y = _problem("multiclass", n=120)
    record = Record()
    model = FastbpClassifier(early_stopping=True, max_iter=50, random_state=0,
                             callbacks=[record])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # stopped: no warning
        model.fit(X, y)
    assert model.n_iter_ == 4
    assert model.callbacks[0] is record and record.model is model.network_
    assert [logs["loss"] for logs in record.logs] == model.loss_curve_
    assert [logs["val_loss"] for logs in record.logs] == model.validation_loss_curve_
    assert [logs["validation_score"] for logs in record.logs] == model.validation_scores_
    # fastbp's EarlyStopping on the validation loss, beside scikit-learn's rule
    stop = EarlyStopping(monitor="val_loss", patience=1, restore_best=False)
    model = FastbpRegressor(early_stopping=True, max_iter=200, learning_rate_init=0.1,
                            n_iter_no_change=200, random_state=0, callbacks=[stop])
    model.fit(*_problem("regression", n=120))
    assert model.n_iter_ == stop.stopped_epoch + 1 < 200
    with pytest.raises(ValueError, match="'lbfgs' has no epochs"):
        FastbpClassifier(solver="lbfgs", callbacks=[Record()]).fit(X, y)
    with pytest.raises(TypeError, match="callbacks must be fastbp.callbacks.Callback"):
        FastbpClassifier(callbacks=[print]).fit(X, y)
    assert clone(model).get_params()["callbacks"][0] is not stop  # clone copies them


def test_assigned_coefs_and_intercepts_are_copied_into_the_network():
    X, y = _problem("regression")
    model = FastbpRegressor(hidden_layer_sizes=(4,), activation="identity", max_iter=2,
                            random_state=0).fit(X, y)
    rng = np.random.default_rng(1)
    coefs = [rng.normal(size=W.shape) for W in model.coefs_]
    intercepts = [rng.normal(size=b.shape) for b in model.intercepts_]
    model.coefs_, model.intercepts_ = coefs, intercepts
    expected = (X @ coefs[0] + intercepts[0]) @ coefs[1] + intercepts[1]  # identity units
    np.testing.assert_allclose(model.predict(X), expected, rtol=1e-12)
    before = model.network_.params.copy()
    with pytest.raises(ValueError, match=r"coefs_ must be arrays of the fitted model's "
                                         r"shapes \[\(5, 4\), \(4, 2\)\]"):
        model.coefs_ = [coefs[0], coefs[1].T]
    with pytest.raises(ValueError, match="intercepts_ must be finite"):
        model.intercepts_ = [intercepts[0], np.array([np.nan, 0.0])]
    np.testing.assert_array_equal(model.network_.params, before)
    with pytest.raises(NotFittedError):
        FastbpRegressor().coefs_ = coefs
