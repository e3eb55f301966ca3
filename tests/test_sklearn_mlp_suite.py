"""scikit-learn's own tests of its MLPs, run on fastbp's estimators.

The test file of the installed scikit-learn (sklearn/neural_network/tests/test_mlp.py) is
imported, not copied, while ``sklearn.neural_network.MLPClassifier`` and ``MLPRegressor``
are fastbp's classes, so its ``from sklearn.neural_network import MLPClassifier,
MLPRegressor`` binds fastbp's; its test functions are then collected from this module. A new
scikit-learn brings its new tests with it. The few that cannot apply, because they read or
write scikit-learn's private internals, are skipped below with their reasons; each of the
behaviours they check has a fastbp test of its own, named in the reason.
"""

import importlib.util
import os
from unittest import mock

import pytest

from conftest import oracle

oracle("sklearn")
import sklearn.neural_network  # noqa: E402

from fastbp.sklearn import FastbpClassifier, FastbpRegressor  # noqa: E402

SUITE = "sklearn.neural_network.tests.test_mlp"

# test name: why it cannot run on fastbp, and where fastbp tests the same behaviour
CANNOT_APPLY = {
    "test_fit": "builds a model by assigning scikit-learn's private training state "
                "(_coef_grads, _coef_velocity, _no_improvement_count, ...) before "
                "partial_fit; its worked example is "
                "test_sklearn.py::test_worked_example_of_one_sgd_step",
    "test_gradient": "calls scikit-learn's private _loss_grad_lbfgs; fastbp's lbfgs loss and "
                     "gradient are checked against finite differences in "
                     "test_sklearn.py::test_lbfgs_minimises_scikit_learns_objective",
    "test_learning_rate_warmstart": "reads the learning rate of scikit-learn's private "
                                    "optimizer object (_optimizer.learning_rate); "
                                    "test_sklearn.py::"
                                    "test_invscaling_rate_follows_the_samples_seen",
    "test_adaptive_learning_rate": "reads the learning rate of scikit-learn's private "
                                   "optimizer object (_optimizer.learning_rate); "
                                   "test_sklearn.py::"
                                   "test_count_without_improvement_carries_over_as_"
                                   "scikit_learns",
}


def _import_with_fastbp_estimators():
    """The installed test module, imported while scikit-learn's MLPs are fastbp's."""
    spec = importlib.util.find_spec(SUITE)
    if spec is None:
        pytest.skip(f"this scikit-learn is installed without its tests ({SUITE})",
                    allow_module_level=True)
    module = importlib.util.module_from_spec(spec)
    with mock.patch.multiple(sklearn.neural_network, MLPClassifier=FastbpClassifier,
                             MLPRegressor=FastbpRegressor):
        spec.loader.exec_module(module)
    return module


_suite = _import_with_fastbp_estimators()
for _name, _test in vars(_suite).items():
    if _name.startswith("test_") and callable(_test):
        if _name in CANNOT_APPLY:
            _test = pytest.mark.skip(reason=CANNOT_APPLY[_name])(_test)
        globals()[_name] = _test
# a name in the list that scikit-learn no longer has is a stale entry
STALE = set(CANNOT_APPLY) - set(vars(_suite))
pytestmark = getattr(_suite, "pytestmark", [])


@pytest.fixture
def global_random_seed():
    """scikit-learn's seed fixture: SKLEARN_TESTS_GLOBAL_RANDOM_SEED (one seed in
    [0, 99]) or 42, its default."""
    return int(os.environ.get("SKLEARN_TESTS_GLOBAL_RANDOM_SEED", 42))


def test_skip_list_names_only_tests_that_exist():
    assert not STALE, f"scikit-learn has no {sorted(STALE)} any more: remove them from " \
                      f"CANNOT_APPLY"


def test_the_suite_runs_on_fastbp():
    """The imported tests see fastbp's estimators, not scikit-learn's."""
    assert _suite.MLPClassifier is FastbpClassifier
    assert _suite.MLPRegressor is FastbpRegressor
    assert sklearn.neural_network.MLPClassifier is not FastbpClassifier  # restored
