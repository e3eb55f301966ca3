"""The command line's data: a CSV file with a header, an .npz file, .npy files, IDX files, or
a built-in dataset name, read into features X and (when present) targets y.

Every problem with a file raises ValueError (FileNotFoundError for a missing one) naming the
file and, for a CSV cell, its line and column, so the command line can print one line.
"""

import csv
import math
from pathlib import Path

import numpy as np

from .datasets import load_digits, load_fashion_mnist, read_idx

BUILT_IN = ("digits", "fashion-mnist")
FORMATS = ("a CSV file with a header, an .npz file with arrays X and y, X.npy or "
           "X.npy,y.npy, IDX files (images with their labels file beside them), or "
           "digits / fashion-mnist")


# The delimiters a CSV file's is sniffed among (--sep gives any other).
DELIMITERS = ",;\t|"
# Bytes of a CSV file read to sniff its delimiter.
SNIFF_BYTES = 1 << 16


class Data:
    """Features X (float64, n x features), targets y (1-D, or None), the feature names and
    the target's name (None when the format has no names), and notes for the user on how the
    file was read (a list of str)."""

    def __init__(self, X, y, features, target, notes=()):
        self.X, self.y, self.features, self.target = X, y, features, target
        self.notes = list(notes)


def read(spec, target=None, features=None, split="train", sep=None):
    """The Data in spec (see FORMATS).

    For a CSV file: sep is its delimiter (default: sniffed among DELIMITERS); target names
    the targets' column (default: the last); features, when given (a trained model's
    feature names), are the columns read as X, in that order, and the target column is then
    read only if the file has it. An unnamed first column of distinct integers, the index
    pandas' to_csv writes, is dropped (with a note). split picks a built-in dataset's
    "train" or "test" part.
    """
    if spec in BUILT_IN:
        return _built_in(spec, split)
    if "," in spec:
        x_path, y_path = spec.split(",", 1)
        return Data(_numeric(_npy(x_path), x_path), _labels(_npy(y_path), y_path), None, None)
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f"{spec}: no such file")
    name = path.name.lower()
    if name.endswith(".csv"):
        return _csv(path, target, features, sep)
    if name.endswith(".npz"):
        return _npz(path)
    if name.endswith(".npy"):
        return Data(_numeric(_npy(path), path), None, None, None)
    if "idx" in name:
        return _idx(path)
    raise ValueError(f"{spec}: unknown data format; give {FORMATS}")


def _built_in(name, split):
    if name == "digits":
        X_train, y_train, X_test, y_test = load_digits()
    else:
        X_train, y_train, X_test, y_test = load_fashion_mnist()
    X, y = (X_train, y_train) if split == "train" else (X_test, y_test)
    return Data(X.astype(np.float64), y, None, None)


def _npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (ValueError, OSError) as error:
        raise ValueError(f"{path} is not a readable .npy file: {error}") from None


def _numeric(X, where):
    """X as a 2-D float64 array, or ValueError naming where it came from."""
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.ndim > 2:
        X = X.reshape(len(X), -1)
    if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise ValueError(f"{where}: features must be numbers, got dtype {X.dtype}")
    return X.astype(np.float64)


def _labels(y, where):
    if y.ndim != 1:
        raise ValueError(f"{where}: targets must be one value per row, got shape {y.shape}")
    return y


def _npz(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            if "X" not in data:
                raise ValueError(f"{path} has no array named X (it has "
                                 f"{', '.join(data.files) or 'none'})")
            X = _numeric(data["X"], path)
            y = _labels(data["y"], path) if "y" in data else None
    except (OSError, EOFError) as error:
        raise ValueError(f"{path} is not a readable .npz file: {error}") from None
    if y is not None and len(y) != len(X):
        raise ValueError(f"{path}: X has {len(X)} rows but y has {len(y)}")
    return Data(X, y, None, None)


def _idx(path):
    """IDX images (flattened; uint8 pixels scaled to [0, 1]) and, when the labels file is
    beside them (images-idx3 -> labels-idx1 in the name), their labels."""
    images = read_idx(path)
    X = images.reshape(len(images), -1).astype(np.float64)
    if images.dtype == np.uint8:
        X /= 255.0
    labels_path = path.with_name(path.name.replace("images-idx3", "labels-idx1"))
    y = None
    if labels_path != path and labels_path.exists():
        y = read_idx(labels_path).astype(np.int64)
        if len(y) != len(X):
            raise ValueError(f"{labels_path} has {len(y)} labels for {len(X)} images")
    return Data(X, y, None, None)


def _delimiter(path, f):
    """The delimiter of the CSV file open as f (rewound after): the one of DELIMITERS that
    splits its first lines into the same number of cells, a comma when none does."""
    sample = f.read(SNIFF_BYTES)
    f.seek(0)
    if "\n" in sample and len(sample) == SNIFF_BYTES:
        sample = sample[:sample.rindex("\n")]  # whole lines only
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def _index_column(header, rows):
    """Whether the first column is an unnamed index, as pandas' to_csv writes by default: no
    name (or pandas' "Unnamed: 0") and a distinct integer in every row."""
    if len(header) < 2 or header[0] not in ("", "Unnamed: 0"):
        return False
    try:
        values = [int(row[0]) for row in rows]
    except ValueError:
        return False
    return len(set(values)) == len(values)


def _csv(path, target, features, sep):
    notes = []
    with open(path, newline="") as f:
        reader = csv.reader(f, delimiter=sep or _delimiter(path, f))
        header = next(reader, None)
        if not header:
            raise ValueError(f"{path} is empty: a CSV file needs a header line")
        header = [name.strip() for name in header]
        rows = [row for row in reader if row]
    if not rows:
        raise ValueError(f"{path} has a header but no data rows")
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(f"{path}, line {line}: {len(row)} cells, the header has "
                             f"{len(header)}")
    if features is None and _index_column(header, rows):
        notes.append(f"{path}: the unnamed first column holds a distinct integer per row, "
                     f"an index (pandas' to_csv writes one unless index=False): not a "
                     f"feature, left out")
        header, rows = header[1:], [row[1:] for row in rows]
    if features is not None:  # a trained model's columns
        missing = [name for name in features if name not in header]
        if missing:
            raise ValueError(f"{path} lacks the model's feature column(s) "
                             f"{', '.join(missing[:5])}")
        if target is not None and target not in header:
            target = None  # nothing to score against: predictions only
    elif target is None:
        target = header[-1]
    elif target not in header:
        raise ValueError(f"{path} has no column {target!r}; its columns are "
                         f"{', '.join(header)}")
    if features is None:
        features = [name for name in header if name != target]
    X = np.empty((len(rows), len(features)))
    for j, name in enumerate(features):
        column = header.index(name)
        for i, row in enumerate(rows):
            try:
                X[i, j] = value = float(row[column])
            except ValueError:
                raise ValueError(f"{path}, line {i + 2}, column {column + 1} ({name}): "
                                 f"{row[column]!r} is not a number") from None
            if not math.isfinite(value):  # here, before any statistic of the column
                raise ValueError(f"{path}, line {i + 2}, column {column + 1} ({name}): "
                                 f"{row[column]!r} is not a finite number")
    y = None
    if target is not None:
        y = _typed([row[header.index(target)].strip() for row in rows])
    return Data(X, y, features, target, notes)


def _typed(cells):
    """The cells as int64 if all are integers, else float64 if all are numbers, else str."""
    for kind in (int, float):
        try:
            return np.array([kind(cell) for cell in cells])
        except ValueError:
            continue
    return np.array(cells)
