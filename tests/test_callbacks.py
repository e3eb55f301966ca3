import json

import numpy as np
import pytest

import fastbp
from fastbp.callbacks import Callback, CSVLogger, EarlyStopping, JSONLogger, ModelCheckpoint


class Recorder(Callback):
    """Keeps the parameters and logs of every epoch."""

    def on_train_begin(self, logs):
        self.params, self.logs = [], []

    def on_epoch_end(self, epoch, logs):
        self.params.append(self.model.params.copy())
        self.logs.append(dict(logs))


@pytest.fixture
def noisy():
    """A small problem that overfits, so validation loss turns back up."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 10))
    y = (X[:, 0] + rng.normal(scale=2.0, size=60) > 0).astype(int)
    return X[:30], y[:30], X[30:], y[30:]


def test_early_stopping_restores_the_best_epoch(noisy):
    X, y, X_val, y_val = noisy
    net = fastbp.Network([10, 64, 2], seed=0)
    recorder = Recorder()
    stopper = EarlyStopping(patience=3)
    history = net.fit(X, y, epochs=300, lr=0.2, batch_size=5, validation_data=(X_val, y_val),
                      callbacks=[recorder, stopper])
    losses = history.history["val_loss"]
    best = int(np.argmin(losses))
    assert stopper.best_epoch == best and stopper.stopped_epoch == best + 3
    assert len(losses) == best + 4 < 300
    np.testing.assert_array_equal(net.params, recorder.params[best])


def test_early_stopping_without_restoring_keeps_the_last_epoch(noisy):
    X, y, X_val, y_val = noisy
    net = fastbp.Network([10, 64, 2], seed=0)
    recorder = Recorder()
    net.fit(X, y, epochs=300, lr=0.2, batch_size=5, validation_data=(X_val, y_val),
            callbacks=[recorder, EarlyStopping(patience=2, restore_best=False)])
    np.testing.assert_array_equal(net.params, recorder.params[-1])


def test_early_stopping_on_accuracy_and_bad_monitor(noisy):
    X, y, X_val, y_val = noisy
    stopper = EarlyStopping(monitor="val_accuracy", patience=1)
    assert stopper.higher_is_better
    fastbp.Network([10, 2]).fit(X, y, epochs=3, validation_split=0.2, callbacks=stopper)
    with pytest.raises(ValueError, match="the epoch logs lack"):
        fastbp.Network([10, 2]).fit(X, y, epochs=2, callbacks=[EarlyStopping()])


def test_a_callback_can_stop_training(noisy):
    X, y, _, _ = noisy

    class StopAtTwo(Callback):
        def on_epoch_end(self, epoch, logs):
            return epoch == 1

    history = fastbp.Network([10, 2]).fit(X, y, epochs=10, callbacks=[StopAtTwo()])
    assert history.epoch == [0, 1]


def test_checkpoints_and_loggers(tmp_path, noisy):
    X, y, X_val, y_val = noisy
    net = fastbp.Network([10, 8, 2], seed=0)
    recorder = Recorder()
    net.fit(X, y, epochs=4, validation_data=(X_val, y_val), callbacks=[
        recorder, ModelCheckpoint(tmp_path / "net-{epoch}.npz", every=2),
        CSVLogger(tmp_path / "log.csv"), JSONLogger(tmp_path / "log.jsonl")])
    assert sorted(p.name for p in tmp_path.glob("net-*")) == ["net-2.npz", "net-4.npz"]
    restored = fastbp.load(tmp_path / "net-2.npz")
    np.testing.assert_array_equal(restored.params, recorder.params[1])
    rows = (tmp_path / "log.csv").read_text().splitlines()
    assert rows[0].split(",")[:3] == ["epoch", "loss", "accuracy"] and len(rows) == 5
    lines = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [0, 1, 2, 3]
    assert lines[2]["val_loss"] == pytest.approx(recorder.logs[2]["val_loss"])


def test_callbacks_must_be_callbacks():
    with pytest.raises(TypeError, match="Callback"):
        fastbp.Network([2, 2]).fit([[0.0, 1.0]], [1], callbacks=[print])


def test_validation_split_holds_out_the_last_samples(noisy):
    X, y, _, _ = noisy
    net = fastbp.Network([10, 2], seed=0)
    history = net.fit(X, y, epochs=3, batch_size=4, validation_split=0.2)
    assert history.history["val_loss"][-1] == net.loss(X[-6:], y[-6:])
    # Training saw only the other rows: the same as fitting them alone, whatever the held-out
    # rows hold.
    alone = fastbp.Network([10, 2], seed=0)
    alone.fit(X[:-6], y[:-6], epochs=3, batch_size=4)
    np.testing.assert_array_equal(net.params, alone.params)
    other = fastbp.Network([10, 2], seed=0)
    other.fit(np.concatenate([X[:-6], -X[-6:]]), np.concatenate([y[:-6], 1 - y[-6:]]), epochs=3,
              batch_size=4, validation_split=0.2)
    np.testing.assert_array_equal(other.params, alone.params)
    with pytest.raises(ValueError, match="not both"):
        net.fit(X, y, validation_split=0.2, validation_data=(X, y))
    with pytest.raises(ValueError, match="validation_split"):
        net.fit(X, y, validation_split=1.5)


@pytest.mark.parametrize("verbose", [1, 2])
def test_progress_output(noisy, capsys, verbose):
    X, y, _, _ = noisy
    fastbp.Network([10, 2]).fit(X, y, epochs=2, verbose=verbose)
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "epoch 2/2" in text and "loss" in text and "accuracy" in text
