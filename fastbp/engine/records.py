"""The named records that cross the boundary of a compiled kernel, each field documented here
once (design: a few records, not long lists of arguments).

Named tuples read the same inside Numba as in Python (``space.capacity``, ``opt.clip_norm``);
kernels and the Python around them read them by field name, never by position. A record that
is None ("absent": no optimizer step, no dropout, no layer record) stays an argument of its
own, because Numba compiles out a branch on ``x is None`` only for an argument.

Scalars in a record are part of its value, not of its type: a record of new numbers reaches
the same compiled kernel.
"""

from typing import NamedTuple

import numpy as np

# The network ---------------------------------------------------------------------------------


class Parameters(NamedTuple):
    """A network's flat parameters (1-D, every W[l] and b[l] at the table's offsets) and its
    layer table (layout.py)."""
    params: np.ndarray
    table: np.ndarray


# Work space and tallies ----------------------------------------------------------------------


# The parts' sums: what each part of a training step (or slab of an inference chunk) adds
# up, one row per part of a float64 (parts, 5) array, in these columns: the weighted loss sum
# sum(w_i * loss_i) of its rows, their correct predictions (unweighted), the batch's weight
# sum (part 0 of the gradient phase only), its share's gradient sum of squares (clipping
# only), and in inference its rows whose first-layer z is not finite. One array rather than a
# record of five: a compiled helper that takes a workspace gets it flattened into scalar
# arguments, and five arrays made a first run's compiling 2.5% longer (bench/perf_log.md).
# The Python side adds the parts in part order into Tallies (Session, Model).
LOSS, CORRECT, WEIGHT, SQUARES, NON_FINITE = range(5)
PART_SUMS = 5


class Space(NamedTuple):
    """A workspace (layout.py): the flat buffer ws laid out by the layer table for batches of up
    to capacity rows, the parts' sums (parts, PART_SUMS), and the bfloat16 operands of a
    bfloat16 network (layout.py; float32 values, or uint16 bit patterns for the bf16 units;
    empty for a float32 network)."""
    ws: np.ndarray
    table: np.ndarray
    capacity: int
    sums: np.ndarray
    operands: np.ndarray


class Tallies(NamedTuple):
    """What a run of batches (or a forward pass) adds up, the same fields wherever it travels
    (training calls, evaluation, the sums exchanged between MPI ranks): the weighted loss sum
    sum(w_i * loss_i), the count of correct predictions, the weight sum sum(w_i), the rows,
    and the rows whose first-layer pre-activation was not finite (inference only; 0 when not
    counted). ``a + b`` adds them field by field (not a tuple's concatenation)."""

    loss: float = 0.0
    correct: float = 0.0
    weight: float = 0.0
    rows: float = 0.0
    non_finite: float = 0.0

    def __add__(self, other):
        return Tallies(*(mine + theirs for mine, theirs in zip(self, other)))

    def to_array(self):
        """The fields as a float64 vector, in field order (MPI's exchange)."""
        return np.array(self, dtype=np.float64)

    @classmethod
    def from_array(cls, values):
        """The inverse of to_array."""
        return cls(*(float(v) for v in values))


# The rows a kernel reads ---------------------------------------------------------------------


class Data(NamedTuple):
    """Validated rows: X (n, inputs) as the kernels read it (an array, a CSR or a RawX), Y
    (n, outputs) and the sample weights (n,), C-contiguous, of the network's dtype."""
    X: object
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


class Inputs(NamedTuple):
    """What the first layer reads of a batch: X as the kernels take it (Data.X), the batch's
    row numbers in it, and x, the batch's dense rows (n, inputs): gathered into the workspace
    in training, a view of X or X's rows mapped into the workspace in inference; for a CSR X
    x only gives the row count, the first layer reading X's rows in place."""
    X: object
    rows: np.ndarray
    x: np.ndarray


class Batches(NamedTuple):
    """A compiled call's batches: the rows order[start:stop] of data, size at a time (the last
    one may be shorter)."""
    data: Data
    order: np.ndarray
    start: int
    stop: int
    size: int


# Threads and their shares --------------------------------------------------------------------


class Team(NamedTuple):
    """One thread's place in a team (parallel.run_team): it runs parts [first, end) of parts,
    beside threads - 1 others; sync (int64, [barrier count, abort]) is the team's, shared."""
    first: int
    end: int
    parts: int
    threads: int
    sync: np.ndarray


class Part(NamedTuple):
    """Part index of count, whose share of each phase parallel.share gives."""
    index: int
    count: int


class Block(NamedTuple):
    """Rows [r0, r1) and units [u0, u1) of a layer of an n-row batch."""
    n: int
    r0: int
    r1: int
    u0: int
    u1: int


class LayerRows(NamedTuple):
    """Rows u0 to u1 of W[l] (u1 - u0, n_in) and the same entries of b[l], of the parameters
    or of a buffer laid out like them (the mean gradient), and u0 and u1."""
    W: np.ndarray
    b: np.ndarray
    u0: int
    u1: int


class Slab(NamedTuple):
    """Slab index of an inference chunk: its rows [lo, hi) of the chunk of n rows that starts
    at row first of X."""
    index: int
    first: int
    n: int
    lo: int
    hi: int


# Training ------------------------------------------------------------------------------------


class Rates(NamedTuple):
    """A compiled call's schedule: its b-th batch is update number first_step + b + 1, at
    learning rate lrs[b] (float64 array), with the L2 penalty l2 (step.py)."""
    lrs: np.ndarray
    first_step: int
    l2: float


class Step(NamedTuple):
    """One update: the rows of data (numbers into it) of its batch, its number (from 1: the
    optimizer's bias corrections and the dropout masks read it), learning rate and L2
    penalty."""
    data: Data
    rows: np.ndarray
    number: int
    lr: float
    l2: float


class Hyper(NamedTuple):
    """An optimizer's settings for the kernels (fastbp.optimizers documents each), all float64;
    code is the optimizer's code (codes.SGD, ADAM, RMSPROP), which the step reads when its
    kernel was compiled for several optimizers (codes.general_kinds)."""
    code: float = 0.0
    momentum: float = 0.0
    nesterov: float = 0.0
    weight_decay: float = 0.0
    beta1: float = 0.0
    beta2: float = 0.0
    eps: float = 0.0
    alpha: float = 0.0
    decoupled: float = 0.0
    eps_hat: float = 0.0


class Opt(NamedTuple):
    """An optimizer step for the kernels: its settings, a buffer for the mean gradient (laid out
    like params), its state rows (first: momentum buffer or first moment; second: second
    moment, the same row as first for SGD, which has one), and the clipping norm (0: none)."""
    hyper: Hyper
    grads: np.ndarray
    first: np.ndarray
    second: np.ndarray
    clip_norm: float


class Noise(NamedTuple):
    """Dropout: the rate of every layer (the output layer's 0) and the fit's mask seed."""
    rates: np.ndarray
    seed: int


class Track(NamedTuple):
    """The per-layer record of fit(track_layers=True) (tracking.py): per part and layer the
    epoch's sums of ||delta||^2, ||grad W||^2 and ||change of W||^2 (float64, (parts, layers,
    3), columns tracking.ERRORS, GRADIENTS, UPDATES); per layer and unit whether its
    derivative was ever not near zero (uint8, (layers, widest layer)); a buffer laid out like
    params for the weights before each update; per part three (batch, 1) columns for one
    unit's z, a and derivatives (parts, 3, batch, 1); and the weighed steps: those
    first_step + k * stride (first_step: the number of the epoch's first update)."""
    sums: np.ndarray
    live: np.ndarray
    before: np.ndarray
    columns: np.ndarray
    first_step: int
    stride: int


class Snapshot(NamedTuple):
    """Copies of the parameters and of the optimizer state, to go back to."""
    params: np.ndarray
    state: np.ndarray


# int8 inference (int8.py) ---------------------------------------------------------------------


class Quantized(NamedTuple):
    """A quantized network for the kernels. Per layer l: the int8 weights at W[l]'s offsets
    of a buffer laid out like the parameters, and, at its units' offsets (layout.UNIT_OFF)
    of per-unit buffers: the bias b[l], the multiplier m[l] and the offset -zp[l] * (row sums of
    Wq[l]). Per layer: the input's scale and zero point. top: the largest input code."""
    table: np.ndarray
    weights: np.ndarray
    biases: np.ndarray
    multipliers: np.ndarray
    offsets: np.ndarray
    scales: np.ndarray
    zero_points: np.ndarray
    top: int


class Scratch(NamedTuple):
    """int8 inference's flat buffers for capacity rows of the widest layer: the uint8 input
    codes and the int32 products."""
    codes: np.ndarray
    acc: np.ndarray


def _read_only(array):
    """array itself when read-only already, else a read-only view of it."""
    if not array.flags.writeable:
        return array
    view = array.view()
    view.flags.writeable = False
    return view


def read_only(data):
    """data as read-only views, the form the kernels take it in: they never write it, and a
    read-only input (a memory map opened for reading, scikit-learn's read-only checks)
    would otherwise compile every kernel a second time, for a type that differs by that
    flag only. A CSR or RawX X has its arrays made read-only."""
    X = data.X
    if isinstance(X, CSR):
        X = X._replace(data=_read_only(X.data), indices=_read_only(X.indices),
                       indptr=_read_only(X.indptr))
    elif isinstance(X, RawX):
        X = X._replace(values=_read_only(X.values), scale=_read_only(X.scale),
                       shift=_read_only(X.shift))
    else:
        X = _read_only(X)
    return Data(X, _read_only(data.Y), _read_only(data.weights))
