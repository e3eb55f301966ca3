"""fit(track_layers=True): the per-layer record tallied inside the compiled step equals the
NumPy reference's, full batch and mini-batches, for each kind of update, in one part or
several; and tracking changes no bit of training."""

import pickle

import numpy as np
import pytest

import fastbp
import reference
from conftest import one_hot, oracle

SIZES = [6, 8, 5, 3]
ACTIVATIONS = ["relu", "sigmoid"]


def _network():
    """A 6-8-5-3 relu-sigmoid-softmax network in float64 with three relu units that never
    fire (biases of -50) and two saturated sigmoid units (biases of +30): dead units for the
    record to find."""
    net = fastbp.Network(SIZES, activation=ACTIVATIONS, dtype=np.float64, seed=3)
    net.biases[0][:3] = -50.0
    net.biases[1][:2] = 30.0
    return net


def _problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6))
    return X, rng.integers(0, 3, 50)


UPDATES = {
    "sgd": (lambda: fastbp.optimizers.SGD(lr=0.2), {}),
    "sgd, momentum, l2": (lambda: fastbp.optimizers.SGD(lr=0.1, momentum=0.9), {"l2": 0.5}),
    "adam, clipped": (lambda: fastbp.optimizers.Adam(lr=0.01), {"clip_norm": 0.3}),
    "rmsprop": (lambda: fastbp.optimizers.RMSprop(lr=0.01), {}),
}


@pytest.mark.parametrize("parts", [1, 3])
@pytest.mark.parametrize("batch_size", [50, 16, 2, 1])
@pytest.mark.parametrize("update", list(UPDATES))
def test_record_equals_the_reference(update, batch_size, parts, train_mode):
    """Two epochs without shuffling: every quantity of every layer and epoch equals the
    NumPy reference's (tests/reference.py), and the parameters are bitwise those of the
    same fit without tracking."""
    train_mode(parts)
    X, y = _problem()
    make, settings = UPDATES[update]
    start = _network()
    expected = {}
    reference.train(start.params.copy(), SIZES, start.activations, "cross_entropy", X,
                    one_hot(y, 3), batch_size, 2, make(), clip_norm=settings.get("clip_norm"),
                    l2=settings.get("l2", 0.0), record=expected,
                    weigh_every=max(1, -(-len(X) // batch_size) // 16))  # 3 at batch size 1
    tracked, plain = _network(), _network()
    history = tracked.fit(X, y, epochs=2, batch_size=batch_size, optimizer=make(),
                          shuffle=False, track_layers=True, **settings)
    plain.fit(X, y, epochs=2, batch_size=batch_size, optimizer=make(), shuffle=False,
              **settings)
    np.testing.assert_array_equal(tracked.params, plain.params)
    record = history.layers
    assert set(record) == set(expected)
    for key, values in expected.items():
        assert record[key].shape == (2, 3), key
        np.testing.assert_allclose(record[key], np.array(values), rtol=1e-10, atol=1e-14,
                                   err_msg=key)
    # the planted dead units: 3 of 8 relu units, 2 of 5 saturated sigmoid units at least
    assert (record["dead_fraction"][:, 0] >= 3 / 8).all()
    assert (record["dead_fraction"][:, 1] >= 2 / 5).all()
    assert np.isnan(record["dead_fraction"][:, 2]).all()


def test_tracking_changes_no_bit_with_dropout_and_shuffling(train_mode):
    train_mode(2)
    X, y = _problem()
    runs = []
    for track in (False, True):
        net = fastbp.Network(SIZES, activation=ACTIVATIONS, seed=0, dropout=[0.3, 0.2])
        history = net.fit(X, y, epochs=3, batch_size=8, optimizer="adam", track_layers=track)
        runs.append((net.params.copy(), history))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert runs[0][1].history == runs[1][1].history
    assert runs[0][1].layers == {}
    layers = runs[1][1].layers
    assert all(value.shape == (3, 3) for value in layers.values())
    assert np.isfinite(layers["delta_rms"]).all() and (layers["delta_rms"] > 0).all()


def test_track_layers_must_be_a_bool():
    X, y = _problem()
    with pytest.raises(TypeError, match="track_layers must be True or False, got 'yes'"):
        fastbp.Network(SIZES, seed=0).fit(X, y, track_layers="yes")


def test_the_last_epochs_record_is_kept_saved_and_pickled(tmp_path):
    """net.layer_record is the last epoch's row of the last tracked fit (a later fit without
    tracking keeps it), and it survives save + load and pickling."""
    X, y = _problem()
    net = _network()
    assert net.layer_record is None
    history = net.fit(X, y, epochs=3, batch_size=8, track_layers=True)
    record = net.layer_record
    assert record["epoch"] == 3
    for key, values in history.layers.items():
        np.testing.assert_array_equal(record[key], values[-1], err_msg=key)
    net.fit(X, y, epochs=1)
    assert net.layer_record == record
    net.save(tmp_path / "net.npz")
    loaded = fastbp.load(tmp_path / "net.npz")
    np.testing.assert_array_equal(loaded.layer_record["dead_fraction"], record["dead_fraction"])
    assert {k: v for k, v in loaded.layer_record.items() if k != "dead_fraction"} == \
        {k: v for k, v in record.items() if k != "dead_fraction"}
    assert pickle.loads(pickle.dumps(net)).layer_record["epoch"] == 3


def test_the_plot_has_a_panel_per_quantity():
    """History.plot: loss, accuracy and one panel per quantity of the record, log scale but
    for the dead fraction, a line per layer (hidden layers only for the dead fraction)."""
    oracle("matplotlib")
    X, y = _problem()
    history = _network().fit(X, y, epochs=2, batch_size=8, track_layers=True)
    figure = history.plot()
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert len(panels) == 7
    record_panels = panels[2:]
    assert [ax.get_yscale() for ax in record_panels] == ["log"] * 4 + ["linear"]
    assert [len(ax.get_lines()) for ax in record_panels] == [3, 3, 3, 3, 2]
    np.testing.assert_array_equal(record_panels[0].get_lines()[1].get_ydata(),
                                  history.layers["delta_rms"][:, 1])
    plain = _network().fit(X, y, epochs=2, batch_size=8).plot()
    assert len([ax for ax in plain.axes if ax.get_visible()]) == 2
