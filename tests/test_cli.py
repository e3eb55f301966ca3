"""The command line: the demo, train / evaluate / predict / info over the user's files (CSV,
npz, npy, IDX), one-line errors with exit status 2, and compiling ahead."""

import argparse
import csv
import gzip
import os
import subprocess
import sys

import numpy as np
import pytest

import fastbp
from conftest import oracle
from fastbp import cli


def _fastbp(*args, cwd=None):
    """Run the command line in a new process, as a user would."""
    return subprocess.run([sys.executable, "-m", "fastbp", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd)


def _wine_csv(path, rows=slice(None)):
    """scikit-learn's wine as a CSV with a header and text class names in 'cultivar',
    which is not the last column."""
    sklearn_datasets = oracle("sklearn").datasets
    data = sklearn_datasets.load_wine()
    names = np.array(["barolo", "grignolino", "barbera"])
    order = np.random.default_rng(0).permutation(len(data.target))[rows]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["cultivar"] + list(data.feature_names))
        for i in order:
            writer.writerow([names[data.target[i]]] + [f"{v:g}" for v in data.data[i]])
    return names


def test_train_evaluate_predict_info_on_a_csv_file(tmp_path):
    """A classifier from a CSV file with text labels in a named column, saved, scored on
    held-out rows, predicting class names (and probabilities), described by info."""
    names = _wine_csv(tmp_path / "train.csv", slice(0, 140))
    _wine_csv(tmp_path / "test.csv", slice(140, None))
    model = tmp_path / "wine.npz"
    done = _fastbp("train", tmp_path / "train.csv", "--target", "cultivar", "--hidden", "32",
                   "--epochs", "40", "--lr", "0.01", "--validation-split", "0.2",
                   "--save", model)
    assert done.returncode == 0, done.stderr
    assert "140 rows, 13 features, classification of 3 classes" in done.stdout
    assert "val_accuracy" in done.stdout and model.exists()
    done = _fastbp("evaluate", model, tmp_path / "test.csv")
    assert done.returncode == 0, done.stderr
    accuracy = float(done.stdout.split("accuracy ")[1])
    assert accuracy > 0.85  # 38 held-out wines, standardised features
    done = _fastbp("predict", model, tmp_path / "test.csv", "--proba", "--output",
                   tmp_path / "out.csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.reader(open(tmp_path / "out.csv")))
    assert rows[0] == ["prediction", "p(barbera)", "p(barolo)", "p(grignolino)"]
    assert len(rows) == 39 and {row[0] for row in rows[1:]} <= set(names)
    np.testing.assert_allclose([sum(map(float, row[1:])) for row in rows[1:]], 1, atol=1e-5)
    done = _fastbp("info", model)
    assert done.returncode == 0, done.stderr
    assert "classes (3): barbera, barolo, grignolino" in done.stdout
    assert "target 'cultivar'" in done.stdout and "40 epochs, adam" in done.stdout
    # a reader that stops early (| head) ends the output quietly, with status 0
    rows = (tmp_path / "test.csv").read_text().splitlines()
    (tmp_path / "many.csv").write_text("\n".join(rows[:1] + rows[1:] * 300) + "\n")
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {sys.executable} -m fastbp predict "
                           f"{model} {tmp_path / 'many.csv'} --proba | head -n 2"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert done.stdout.splitlines()[0].startswith("prediction,p(barbera)")


def test_regression_from_npz_and_npy_pairs(tmp_path):
    """Float targets make a regressor (standardised target, predictions in its units);
    .npz and X.npy,y.npy give the same data."""
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, (600, 3))
    y = 50 + 20 * (np.sin(2 * X[:, 0]) + X[:, 1] * X[:, 2])
    np.savez(tmp_path / "train.npz", X=X[:500], y=y[:500])
    np.save(tmp_path / "X.npy", X[500:])
    np.save(tmp_path / "y.npy", y[500:])
    model = tmp_path / "reg.npz"
    done = _fastbp("train", tmp_path / "train.npz", "--hidden", "32", "32", "--epochs", "60",
                   "--save", model)
    assert done.returncode == 0, done.stderr
    assert "regression" in done.stdout
    done = _fastbp("evaluate", model, f"{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}")
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.split("R^2 ")[1].split(",")[0]) > 0.9
    done = _fastbp("predict", model, tmp_path / "X.npy")
    predictions = np.array([float(v) for v in done.stdout.split()[1:]])
    assert done.stdout.startswith("prediction") and len(predictions) == 100
    assert abs(predictions.mean() - y[500:].mean()) < 5  # in the target's units


def test_idx_files_and_the_plot(tmp_path):
    """IDX images with their labels file beside them; --plot writes the curves."""
    oracle("matplotlib")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200).astype(np.uint8)
    images = (rng.integers(0, 60, (200, 4, 4)) + 150 * labels[:, None, None]).astype(np.uint8)
    for name, array, code in (("train-images-idx3-ubyte.gz", images, 3),
                              ("train-labels-idx1-ubyte.gz", labels, 1)):
        header = bytes([0, 0, 0x08, code]) + b"".join(
            n.to_bytes(4, "big") for n in array.shape)
        with gzip.open(tmp_path / name, "wb") as f:
            f.write(header + array.tobytes())
    done = _fastbp("train", tmp_path / "train-images-idx3-ubyte.gz", "--epochs", "5",
                   "--validation-split", "0.25", "--plot", tmp_path / "curves.png", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "200 rows, 16 features, classification of 2 classes" in done.stdout
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_info_prints_the_layer_record(tmp_path):
    """train --track-layers saves the last epoch's per-layer record; info prints it, a row
    per layer, with the saved values."""
    model = tmp_path / "wine.npz"
    _wine_csv(tmp_path / "train.csv")
    done = _fastbp("train", tmp_path / "train.csv", "--target", "cultivar", "--hidden", "16",
                   "8", "--epochs", "4", "--track-layers", "--save", model, "--quiet")
    assert done.returncode == 0, done.stderr
    record = fastbp.load(model).layer_record
    done = _fastbp("info", model)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    start = lines.index("layer record of epoch 4 of its fit:")
    assert lines[start + 1].split() == ["layer", *cli.LAYER_COLUMNS]
    rows = [line.split() for line in lines[start + 2:]]
    assert [row[0] for row in rows] == ["1", "2", "3"]
    for row, l in zip(rows, range(3)):
        for name, text in zip(cli.LAYER_COLUMNS, row[1:]):
            value = record[name][l]
            assert text == "-" if np.isnan(value) else float(text) == float(f"{value:.4g}")


@pytest.mark.parametrize("content,message", [
    ("a,b,label\n1,2,x\n3,oops,y\n", "line 3, column 2 (b): 'oops' is not a number"),
    ("a,b,label\n1,2,x\n3,4,y\n5,nan,x\n", "line 4, column 2 (b): 'nan' is not a finite number"),
    ("a,b,label\n1,2,x\n3,4\n", "line 3: 2 cells, the header has 3"),
    ("a,b,label\n", "has a header but no data rows"),
    ("a,b,label\n1,2,x\n3,4,x\n", "one class (x)"),
])
def test_bad_csv_files_give_one_line_and_status_2(tmp_path, content, message):
    (tmp_path / "bad.csv").write_text(content)
    done = _fastbp("train", tmp_path / "bad.csv")
    assert done.returncode == 2 and message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_other_bad_input_gives_one_line_and_status_2(tmp_path):
    (tmp_path / "d.csv").write_text("a,b,label\n1,2,x\n3,4,y\n5,6,x\n")
    cases = [
        (("train", tmp_path / "missing.csv"), "no such file"),
        (("train", tmp_path / "d.csv", "--target", "nope"), "has no column 'nope'"),
        (("train", tmp_path / "d.txt"), "no such file"),  # written just below
        (("evaluate", tmp_path / "d.csv", tmp_path / "d.csv"), "is not a fastbp model file"),
    ]
    for args, message in cases:  # before d.txt exists
        done = _fastbp(*args)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)
    (tmp_path / "d.txt").write_text("x")
    cases = [(("train", tmp_path / "d.txt"), "unknown data format")]
    model = tmp_path / "m.npz"
    fastbp.Network([5, 3, 2], seed=0).save(model)
    cases.append((("predict", model, tmp_path / "d.csv"), "has 2 features; the model takes 5"))
    for args, message in cases:
        done = _fastbp(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, \
            (args, done.stderr)


def test_demo_trains_on_digits(capsys):
    oracle("sklearn")
    assert cli.main(["--epochs", "15", "--quiet"]) == 0
    out = capsys.readouterr().out
    accuracy = float(out.split("test accuracy ")[1].split(",")[0])
    assert accuracy > 0.9
    assert "samples/s" in out and "wall time" in out


def test_demo_rejects_bad_arguments(tmp_path):
    done = _fastbp("--data-dir", "/nowhere")
    assert done.returncode == 2 and "--data-dir goes with --dataset fashion-mnist" in done.stderr
    done = _fastbp("--dataset", "fashion-mnist", "--data-dir", tmp_path)
    assert done.returncode == 2 and "Fashion-MNIST files not found" in done.stderr


_COUNT_COMPILES = """
import numpy as np
from numba.core import event
import fastbp
compiled = []
class Count(event.Listener):
    def on_start(self, ev): pass
    def on_end(self, ev): compiled.append(ev.data["dispatcher"].py_func.__name__)
event.register("numba:compile", Count())
rng = np.random.default_rng(1)
X, y = rng.normal(size=(300, 20)), rng.integers(0, 5, 300)
net = fastbp.Network([20, 32, 16, 5], activation=["relu", "tanh"], dtype="float64", seed=0)
net.fit(X, y, epochs=2, batch_size=16, optimizer="adam")
net.fit(X, y, epochs=1, batch_size=64)
net.predict(X), net.evaluate(X, y), net.backprop(X[:5], y[:5])
print(compiled)
"""


def test_warmup_compiles_what_a_later_fit_runs(tmp_path):
    """After `python -m fastbp warmup` for a configuration, a new process fitting another
    network of that configuration (other sizes, batch sizes) compiles nothing. Both with the
    kernels users get by default, compiled for the network's own activations (the suite's
    FASTBP_SPECIALISE=0 would compile every activation into an empty cache)."""
    env = dict(os.environ, FASTBP_CACHE_DIR=str(tmp_path), FASTBP_SPECIALISE="1")
    done = subprocess.run([sys.executable, "-m", "fastbp", "warmup", "--activation", "relu+tanh",
                           "--optimizer", "sgd", "adam", "--dtype", "float64"],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "relu+tanh -> softmax, cross_entropy, adam, float64" in done.stdout
    later = subprocess.run([sys.executable, "-c", _COUNT_COMPILES], capture_output=True,
                           text=True, env=env)
    assert later.returncode == 0, later.stderr
    assert later.stdout.strip() == "[]"


def test_info_cache_and_warmup_clear(tmp_path):
    """fastbp info --cache names the cache folder and its kernels; warmup --clear empties
    it."""
    env = dict(os.environ, FASTBP_CACHE_DIR=str(tmp_path), FASTBP_SPECIALISE="1")
    fit = "import numpy as np, fastbp; fastbp.Network([2, 2]).fit(np.eye(2), [0, 1])"
    subprocess.run([sys.executable, "-c", fit], env=env, check=True, timeout=300)
    info = subprocess.run([sys.executable, "-m", "fastbp", "info", "--cache"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert info.returncode == 0, info.stderr
    assert info.stdout.startswith(f"cache folder: {tmp_path}")
    assert "(this version of fastbp)" in info.stdout
    assert list((tmp_path / "kernels").rglob("*.nbi"))
    cleared = subprocess.run([sys.executable, "-m", "fastbp", "warmup", "--clear"], env=env,
                             capture_output=True, text=True, timeout=300)
    assert cleared.returncode == 0, cleared.stderr
    assert "MiB freed" in cleared.stdout
    assert not list(tmp_path.rglob("*.nbi")) and not list(tmp_path.glob("gemm-choice-*"))
    bad = subprocess.run([sys.executable, "-m", "fastbp", "info"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "name a saved model (MODEL.npz), or --cache" in bad.stderr


_REAL_USE = """
from numba.core import event
compiled = []
class Count(event.Listener):
    def on_start(self, ev): pass
    def on_end(self, ev): compiled.append(ev)
event.register("numba:compile", Count())
from sklearn.datasets import load_breast_cancer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from fastbp.sklearn import FastbpClassifier
X, y = load_breast_cancer(return_X_y=True)
model = make_pipeline(StandardScaler(), FastbpClassifier((32,), max_iter=3, random_state=0))
model.fit(X, y).score(X, y)
print(len(compiled))
"""


@pytest.mark.specialised
def test_warmup_defaults_cover_an_estimators_first_real_fit(tmp_path):
    """The warm-up of the estimators' defaults (a tiny binary problem) compiles what a first
    real fit of them compiles (a pipeline on breast_cancer, other sizes): a later process
    compiles nothing."""
    pytest.importorskip("sklearn")
    env = dict(os.environ, FASTBP_CACHE_DIR=str(tmp_path), FASTBP_SPECIALISE="1")
    name = "FastbpClassifier, 2 classes (relu, sigmoid, adam, float64)"
    warm = subprocess.run([sys.executable, "-c", "from fastbp import warmup; "
                           f"print(warmup._run({name!r}, warmup.DEFAULTS[{name!r}]))"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert warm.returncode == 0, warm.stderr
    assert int(warm.stdout.split(",")[-1].strip(" )\n")) > 0  # it compiled them
    later = subprocess.run([sys.executable, "-c", _REAL_USE], env=env, capture_output=True,
                           text=True, timeout=600)
    assert later.returncode == 0, later.stderr
    assert later.stdout.split()[-1] == "0"


def test_the_command_line_explains_itself(capsys):
    """--help lists every command and the data formats; every option of every command has
    help text, with its default where it has one; a mistyped command gets a suggestion;
    info on a file that is not a model says what it is."""
    assert cli.main(["--help"]) == 0
    shown = capsys.readouterr().out
    for command in cli.COMMANDS:
        assert f"    {command} " in shown
    assert "CSV file" in shown and "IDX files" in shown
    parser = cli._parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help, (name, action.dest)
    with pytest.raises(SystemExit) as stop:
        cli.main(["train", "--help"])
    assert stop.value.code == 0
    assert "passes over the data (default: 20)" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit) as stop:
        cli.main(["warmup", "--help"])
    assert "a cluster worker, a CI job" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit) as stop:
        cli.main(["trian", "data.csv"])
    assert stop.value.code == 2
    assert "unknown command 'trian'; did you mean 'train'?" in capsys.readouterr().err


def test_info_on_a_file_that_is_not_a_model(tmp_path, capsys):
    table = tmp_path / "wine.csv"
    table.write_text(",alcohol,malic_acid\n0,14.2,1.7\n")
    array = tmp_path / "X.npy"
    np.save(array, np.zeros(3))
    for path, what in ((table, "it is a text file (a table?), starting ',alcohol,malic_acid'"),
                       (array, "it holds one NumPy array (.npy)")):
        with pytest.raises(SystemExit) as stop:
            cli.main(["info", str(path)])
        assert stop.value.code == 2
        error = capsys.readouterr().err
        assert "is not a fastbp model file" in error and what in error
        assert "allow_pickle" not in error


def test_tables_as_pandas_writes_them(tmp_path):
    """pandas' default to_csv (an unnamed index column) and a ';'-separated copy give the
    same 13 features of wine, the index left out with a note; --sep names a delimiter the
    sniffer is not asked to guess; many distinct integer targets get a note."""
    pandas = oracle("pandas")
    wine = oracle("sklearn").datasets.load_wine(as_frame=True).frame.sort_values("target")
    wine.to_csv(tmp_path / "indexed.csv")
    wine.to_csv(tmp_path / "semicolons.csv", sep=";", index=False)
    wine.to_csv(tmp_path / "colons.csv", sep=":", index=False)
    for name, extra in (("indexed.csv", ()), ("semicolons.csv", ()),
                        ("colons.csv", ("--sep", ":"))):
        done = _fastbp("train", tmp_path / name, "--target", "target", "--epochs", "1",
                       "--quiet", *extra)
        assert done.returncode == 0, done.stderr
        assert "178 rows, 13 features, classification of 3 classes" in done.stdout
        assert ("an index (pandas' to_csv writes one" in done.stderr) == (name == "indexed.csv")
    counts = pandas.DataFrame({"x": np.arange(200) % 7, "visits": np.arange(200) % 40})
    counts.to_csv(tmp_path / "counts.csv", index=False)
    done = _fastbp("train", tmp_path / "counts.csv", "--epochs", "1", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "40 distinct integers" in done.stderr and "--task regression" in done.stderr


def test_the_validation_split_is_seeded_and_stratified():
    """A class-sorted table holds out each class in its share, the same rows for the same
    seed; the training and validation rows part the table."""
    labels = np.repeat([0, 1, 2], [59, 71, 48])  # wine's classes, sorted
    train, val = cli.validation_rows(len(labels), 0.2, 0, labels)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(len(labels)))
    assert np.bincount(labels[val]).tolist() == [12, 14, 10]
    again, val_again = cli.validation_rows(len(labels), 0.2, 0, labels)
    assert np.array_equal(val, val_again)
    assert not np.array_equal(val, cli.validation_rows(len(labels), 0.2, 1, labels)[1])
    train, val = cli.validation_rows(100, 0.25, 0)  # a regressor's: a random quarter
    assert len(val) == 25 and not np.array_equal(val, np.arange(75, 100))
    assert [len(part) for part in cli.validation_rows(10, 0.0, 0)] == [10, 0]
    for fraction in (1.0, -0.1):
        with pytest.raises(cli.UsageError, match="must be in"):
            cli.validation_rows(10, fraction, 0)
