"""The named groups of arguments the kernels take (design: a few records, not long lists).

Named tuples read the same inside Numba as in Python (``space.tallies``, ``opt.clip_norm``)
and unpack like the plain tuples they are; kernels read them by name, never by position.
"""

from typing import NamedTuple

import numpy as np


class Parameters(NamedTuple):
    """A network's flat parameters and its layer table (layout.py)."""
    params: np.ndarray
    table: np.ndarray


class Space(NamedTuple):
    """A workspace (layout.py): the flat buffer, the layer table, the batch capacity it was
    sized for, and a float64 (parts, 4) array of per-part tallies (step.py's columns)."""
    ws: np.ndarray
    table: np.ndarray
    capacity: int
    tallies: np.ndarray


class Data(NamedTuple):
    """Validated rows: X (n, inputs), Y (n, outputs) and the sample weights (n,),
    C-contiguous, of the network's dtype."""
    X: np.ndarray
    Y: np.ndarray
    weights: np.ndarray


class CSR(NamedTuple):
    """A sparse X in compressed sparse rows: row i holds the values data[indptr[i]:
    indptr[i + 1]] (the network's dtype) at the columns indices[indptr[i]:indptr[i + 1]]
    (int32); shape = (rows, columns). Built by validation.check_X."""
    data: np.ndarray
    indices: np.ndarray
    indptr: np.ndarray
    shape: tuple


class RawX(NamedTuple):
    """A dense X that the kernels convert as they read it, a row at a time: values (n,
    inputs), C-contiguous, in the dtype the user holds it in (uint8, int8, uint16, int16,
    float16 as its uint16 bit patterns with half True, or the other float precision); every
    row read becomes scale * row + shift in the network's dtype (scale, shift: per feature,
    of the network's dtype, each empty when not given); shape = values.shape. Built by
    validation.check_X."""
    values: np.ndarray
    half: bool
    scale: np.ndarray
    shift: np.ndarray
    shape: tuple


class SparseRows(NamedTuple):
    """What the first layer reads of a batch of a sparse X: the CSR X and the batch's row
    numbers in it (engine/sparse.py)."""
    X: CSR
    rows: np.ndarray


def _read_only(array):
    view = array.view()
    view.flags.writeable = False
    return view


def read_only(data):
    """data as read-only views, the form the kernels take it in: they never write it, and a
    read-only input (a memory map opened for reading, scikit-learn's read-only checks)
    would otherwise compile every kernel a second time, for a type that differs by that
    flag only. A CSR or RawX X has its three arrays made read-only."""
    X, Y, weights = data
    if isinstance(X, CSR):
        X = CSR(*map(_read_only, X[:3]), X.shape)
    elif isinstance(X, RawX):
        X = X._replace(values=_read_only(X.values), scale=_read_only(X.scale),
                       shift=_read_only(X.shift))
    else:
        X = _read_only(X)
    return Data(X, _read_only(Y), _read_only(weights))


class Opt(NamedTuple):
    """An optimizer step for the kernels: its hyper-parameters (codes.H_*), a buffer for the
    mean gradient (laid out like params), its state rows, and the clipping norm (0: none)."""
    hyper: np.ndarray
    grads: np.ndarray
    state: np.ndarray
    clip_norm: float


class Track(NamedTuple):
    """The per-layer record of fit(track_layers=True) (tracking.py): per part and layer the
    epoch's sums of ||delta||^2, ||grad W||^2 and ||change of W||^2 (float64, (parts,
    layers, 3)); per layer and unit whether its derivative was ever not near zero (uint8,
    (layers, widest layer)); a buffer laid out like params for the weights before each
    update; per part three (batch, 1) columns for one unit's z, a and derivatives
    (parts, 3, batch, 1); and the clock of the weighed steps: the number of the epoch's
    first update and the stride between weighed ones (int64, (2,))."""
    sums: np.ndarray
    live: np.ndarray
    before: np.ndarray
    columns: np.ndarray
    clock: np.ndarray


class Noise(NamedTuple):
    """Dropout: the rate of every layer (the output layer's 0) and the fit's mask seed."""
    rates: np.ndarray
    seed: int
