"""fit's settings, declared once in plan.FIT_SETTINGS: Network.fit spells the same names and
defaults, and fit_data takes them."""

import inspect

import numpy as np
import pytest

import fastbp
from fastbp.plan import FIT_SETTINGS, fit_settings

# fit's arguments that are not settings: the arrays, their weights and comm
ARRAYS = {"self", "X", "y", "validation_data", "sample_weight", "class_weight", "comm"}


def test_fit_spells_the_table():
    parameters = inspect.signature(fastbp.Network.fit).parameters
    assert set(parameters) - ARRAYS == set(FIT_SETTINGS)
    for name, setting in FIT_SETTINGS.items():
        assert parameters[name].default == setting.default, name


def test_unknown_settings_are_named():
    with pytest.raises(TypeError, match="no setting epoch;"):
        fit_settings({"epoch": 3})


def test_fit_data_trains_as_fit():
    rng = np.random.default_rng(0)
    X, y = rng.random((40, 5)), rng.integers(0, 3, 40)
    by_fit, by_data = (fastbp.Network([5, 4, 3], seed=0) for _ in range(2))
    h1 = by_fit.fit(X, y, epochs=2, batch_size=8, optimizer="adam", l2=0.01,
                    validation_split=0.25)
    data = by_data.training_data(X, np.eye(3)[y])
    h2 = by_data.fit_data(data, epochs=2, batch_size=8, optimizer="adam", l2=0.01,
                          validation_split=0.25)
    np.testing.assert_array_equal(by_fit.params, by_data.params)
    assert h1.history == h2.history
    outputs, logs = by_data.forward_data(data)
    np.testing.assert_array_equal(outputs, by_data.forward(X))
    assert logs == by_data.evaluate(X, y)


@pytest.mark.parametrize("settings,error,match", [
    (dict(epochs=0), ValueError, "epochs must be a positive integer"),
    (dict(average_every=2), ValueError, "average_every goes with comm"),
    (dict(track_layers="yes"), TypeError, "track_layers must be True or False"),
])
def test_fit_data_checks_the_settings_as_fit(settings, error, match):
    net = fastbp.Network([2, 2], seed=0)
    data = net.training_data(np.ones((4, 2)), np.eye(2)[[0, 1, 0, 1]])
    before = net.params.copy()
    with pytest.raises(error, match=match):
        net.fit_data(data, **settings)
    np.testing.assert_array_equal(net.params, before)
