"""Checks at the boundary: the arrays and the network's settings, and the rule machinery
with which every module checks its own scalar parameters.

Inputs are converted once to a C-contiguous array of the network's dtype (a copy only when the
dtype or layout differs), so the kernels never see other dtypes or layouts. Scalar parameters
are checked against tables of rules kept beside what they constrain (plan.FIT_SETTINGS,
optimizers.RULES, schedules.RULES, callbacks.RULES), so every such message reads "<name> must
<...>, got <value>". File formats (datasets.py, persist.py) report their own read errors,
naming the file.
"""

import mmap
import numbers
import sys

import numpy as np

from .engine.config import FINITE_CHECK_ROWS
from .engine import CSR, RawX
from .engine.codes import (ACTIVATIONS, BFLOAT16, BINARY_CROSS_ENTROPY, CROSS_ENTROPY, EXP,
                           HIDDEN_ACTIVATIONS, LOSSES, POISSON, PRECISIONS, SIGMOID, SOFTMAX)

INITS = ("auto", "he", "xavier", "lecun", "sklearn")
DTYPES = {"float32": np.float32, "float64": np.float64}


def check_sizes(sizes):
    """Return sizes as a list of ints (at least two, each >= 1)."""
    try:
        sizes = list(sizes)
    except TypeError:
        raise TypeError(f"sizes must be a list of layer widths such as [784, 128, 10], "
                        f"got {sizes!r}") from None
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least 2 entries (inputs and outputs), got {sizes}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"every layer width must be an integer >= 1, got {s!r} in {sizes}")
    return [int(s) for s in sizes]


def check_dtype(dtype):
    """Return np.float32 or np.float64."""
    key = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    if key not in DTYPES:
        raise TypeError(f"dtype must be np.float32 or np.float64 (or 'float32'/'float64'), "
                        f"got {dtype!r}")
    return DTYPES[key]


def check_precision(precision, dtype):
    """The code (engine.codes.PRECISIONS) of the products' input precision; bfloat16 takes
    float32 parameters (its master copy)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(map(repr, PRECISIONS))}, "
                         f"got {precision!r}")
    code = PRECISIONS.index(precision)
    if code == BFLOAT16 and dtype is not np.float32:
        raise ValueError("precision='bfloat16' keeps float32 parameters and sums: use "
                         "dtype=np.float32 (the default) with it")
    return code


def _activation_code(name, where):
    if not isinstance(name, str) or name not in ACTIVATIONS:
        raise ValueError(f"unknown {where} activation {name!r}; choose one of "
                         f"{', '.join(ACTIVATIONS)}")
    return ACTIVATIONS.index(name)


def check_activations(activation, output, loss, n_layers):
    """Return (loss code, list of activation codes per layer, hidden then output)."""
    if not isinstance(loss, str) or loss not in LOSSES:
        raise ValueError(f"unknown loss {loss!r}; choose one of {', '.join(LOSSES)}")
    loss_code = LOSSES.index(loss)
    n_hidden = n_layers - 1
    if isinstance(activation, str):
        _activation_code(activation, "hidden")  # a bad name is an error even with no hidden layer
        names = [activation] * n_hidden
    else:
        names = list(activation)
    if len(names) != n_hidden:
        raise ValueError(f"activation lists one name per hidden layer: the network has "
                         f"{n_hidden} hidden layers, got {len(names)} names")
    codes = [_activation_code(name, "hidden") for name in names]
    for code in (SOFTMAX, EXP):
        if code in codes:
            raise ValueError(f"{ACTIVATIONS[code]} is an output activation only; use one of "
                             f"{', '.join(HIDDEN_ACTIVATIONS)} for hidden layers")
    if output is None:
        output = {CROSS_ENTROPY: "softmax", BINARY_CROSS_ENTROPY: "sigmoid",
                  POISSON: "exp"}.get(loss_code, "identity")
    out_code = _activation_code(output, "output")
    if loss_code == CROSS_ENTROPY and out_code != SOFTMAX:
        raise ValueError(f"loss='cross_entropy' needs output='softmax', got {output!r}; "
                         f"for sigmoid outputs use loss='binary_cross_entropy'")
    if loss_code == BINARY_CROSS_ENTROPY and out_code != SIGMOID:
        raise ValueError(f"loss='binary_cross_entropy' needs output='sigmoid', got {output!r}")
    if (loss_code == POISSON) != (out_code == EXP):
        raise ValueError(f"loss='poisson' and output='exp' go together (the Poisson loss's "
                         f"log link), got loss={loss!r} with output={output!r}")
    return loss_code, codes + [out_code]


def check_output_width(output_code, n_outputs):
    """A softmax over one unit is always 1: such a network cannot learn."""
    if output_code == SOFTMAX and n_outputs == 1:
        raise ValueError("a softmax output over one unit is always 1, so the network cannot "
                         "learn: for two classes use one sigmoid output with "
                         "loss='binary_cross_entropy', or two outputs (sizes[-1] = 2)")


def check_init(init):
    if init not in INITS:
        raise ValueError(f"unknown init {init!r}; choose one of {', '.join(INITS)}")
    return init


def check_input_map(value, name, n_features, dtype):
    """A network's input_scale or input_shift (a number or one per feature, finite) as a
    read-only (n_features,) array of dtype of its own; an empty one for None."""
    if value is None:
        return np.empty(0, dtype)
    array = _as_numeric(value, name).astype(dtype)
    if array.ndim == 0:
        array = np.full(n_features, array, dtype)
    if array.shape != (n_features,):
        raise ValueError(f"{name} must be a number or one value per input feature "
                         f"({n_features}), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} must be finite, got {value!r}")
    array.flags.writeable = False  # the network's own copy (astype, np.full): not the caller's
    return array


def _as_numeric(data, name):
    array = np.asarray(data)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number)
                                     or array.dtype == bool):
        if name == "X" and (array.dtype.kind in "US" or not _converts(array)):
            raise TypeError(
                f"{name} holds text (dtype {array.dtype}): the network reads numbers only. "
                f"Encode text columns first, e.g. with scikit-learn's OneHotEncoder (and "
                f"ColumnTransformer to encode some columns and scale the others, in a "
                f"Pipeline before fastbp's estimator)")
        raise TypeError(f"{name} must hold numbers, got dtype {array.dtype}; "
                        f"convert it with np.asarray({name}, dtype=np.float32)")
    if np.iscomplexobj(array):
        raise TypeError(f"{name} is complex; pass its real part ({name}.real)")
    return array


def _converts(array):
    """Whether an object array's values all convert to float."""
    try:
        array.astype(np.float64)
    except (TypeError, ValueError):
        return False
    return True


def is_sparse(X):
    """Whether X is a SciPy sparse matrix or array (SciPy is not imported for this: a user
    holding one has imported it)."""
    scipy_sparse = sys.modules.get("scipy.sparse")
    return scipy_sparse is not None and scipy_sparse.issparse(X)


def check_X(X, n_features, dtype, finite=True, accept_sparse=True, input_map=None):
    """Return X as the kernels take it, checked for NaN and inf unless ``finite`` is False
    (the caller then checks with check_finite_X).

    Without input_map: a C-contiguous (n, n_features) array of dtype (a copy only when the
    dtype or layout differs). With input_map = (scale, shift), a network's map (arrays of
    dtype, each empty when not set): X held in a storage dtype (STORED_DTYPES), a memory
    map of the other float precision, or any X when the map is set, becomes a records.RawX,
    which the kernels convert and map row by row (no copy of a C-contiguous X); other X as
    without it. A SciPy sparse X becomes an engine CSR (values of dtype, times the scale;
    int32 columns) unless accept_sparse is False.
    """
    if _ready(X, n_features, dtype, input_map):
        if finite:
            check_finite_X(X)
        return X
    if is_sparse(X):
        if not accept_sparse:
            raise TypeError("this model takes dense X only; pass X.toarray()")
        return _check_sparse_X(X, n_features, dtype, finite, input_map)
    mapped = _is_mapped(X)
    X = _as_numeric(X, "X")
    if X.ndim != 2:
        hint = " (for one sample use X.reshape(1, -1))" if X.ndim == 1 else ""
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}{hint}")
    _check_shape(X.shape, n_features)
    if input_map is None:
        X = np.ascontiguousarray(X, dtype=dtype)
    else:
        X = _mapped_X(X, mapped, dtype, *input_map)
    if finite:
        check_finite_X(X)
    return X


def _ready(X, n_features, dtype, input_map):
    """Whether X is what check_X returns for it unchanged: a C-contiguous NumPy array (no
    subclass) of dtype and shape (n >= 1, n_features), for a network without an input map
    to apply. The common case, decided in well under a microsecond (a served row)."""
    return (type(X) is np.ndarray and X.dtype == dtype and X.ndim == 2
            and X.flags.c_contiguous and X.shape[0] > 0 and X.shape[1] == n_features
            and (input_map is None or not (input_map[0].size or input_map[1].size)))


# Dtypes of X read as they are, converted a batch at a time: those of data stored compactly
# (images, quantised sensors, half-precision exports), whose float copy would be 2 to 4
# times their size. Other integer and bool X are converted once, up front.
STORED_DTYPES = tuple(map(np.dtype, (np.uint8, np.int8, np.uint16, np.int16, np.float16)))
FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _is_mapped(X):
    """Whether X is a memory map or a view of one (np.memmap, np.load(mmap_mode=...))."""
    while X is not None:
        if isinstance(X, (np.memmap, mmap.mmap)):
            return True
        X = getattr(X, "base", None)
    return False


def _mapped_X(X, mapped, dtype, scale, shift):
    """check_X's X (numeric, 2-D, checked shape; mapped: a memory map's) for a network whose
    input map is (scale, shift): a records.RawX, or a plain array when nothing needs
    converting or mapping."""
    stored = X.dtype in STORED_DTYPES or (mapped and X.dtype in FLOATS)
    values = np.ascontiguousarray(X) if stored else np.ascontiguousarray(X, dtype=dtype)
    if values.dtype == dtype and not scale.size and not shift.size:
        return values
    half = values.dtype == np.float16
    return RawX(values.view(np.uint16) if half else values, half, scale, shift, values.shape)


def _check_shape(shape, n_features):
    if shape[0] == 0:
        raise ValueError("X is empty: it needs at least one sample (row)")
    if shape[1] != n_features:
        raise ValueError(f"X has {shape[1]} features per sample but the network expects "
                         f"{n_features} (sizes[0])")


def _check_sparse_X(X, n_features, dtype, finite, input_map):
    """A SciPy sparse X (any format) as an engine CSR; its arrays are the caller's when
    they have the types already (a CSR X of dtype with int32 columns) and input_map has
    no scale, else copies. A shift would make X dense: refused."""
    _check_shape(X.shape, n_features)
    if np.iscomplexobj(X.data) or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise TypeError(f"X must hold real numbers, got dtype {X.dtype}")
    X = X.tocsr()
    if X.shape[1] > np.iinfo(np.int32).max:
        raise ValueError(f"X has {X.shape[1]} columns; at most 2**31 - 1 are supported")
    data = np.ascontiguousarray(X.data, dtype=dtype)
    if input_map is not None:
        scale, shift = input_map
        if shift.size and shift.any():
            raise ValueError("a network with an input_shift makes every input non-zero: "
                             "pass X densely (X.toarray()), or build it without the shift")
        if scale.size:
            data = data * scale[X.indices]
    csr = CSR(data,
              np.ascontiguousarray(X.indices, dtype=np.int32),
              np.ascontiguousarray(X.indptr, dtype=np.int64), (int(X.shape[0]), int(X.shape[1])))
    if finite:
        check_finite_X(csr)
    return csr


def row_range(X, start, stop):
    """Rows [start, stop) of a checked X (an array, an engine CSR or RawX), without copying
    its values."""
    if isinstance(X, RawX):
        values = X.values[start:stop]
        return X._replace(values=values, shape=values.shape)
    if not isinstance(X, CSR):
        return X[start:stop]
    start, stop, _ = slice(start, stop).indices(X.shape[0])
    first, last = X.indptr[start], X.indptr[stop]
    return CSR(X.data[first:last], X.indices[first:last], X.indptr[start:stop + 1] - first,
               (stop - start, X.shape[1]))


def check_finite_after(X, tallies):
    """After a forward pass over X (checked but for NaN/inf) that returned tallies: X is read
    for NaN/inf only when the pass counted a row that may hold one (a full scan up front:
    ~5 ms of ~20 on 10,000 images, a quarter of an int8 pass). The float pass counts rows of
    non-finite first-layer pre-activations (from X, or an overflow); the int8 pass, rows of
    X holding a NaN or inf, which have no code."""
    if tallies.non_finite:
        check_finite_X(X)


def check_finite_X(X):
    """Raise ValueError, saying where, if X holds a NaN or an infinity."""
    if isinstance(X, CSR):
        bad = np.flatnonzero(~np.isfinite(X.data))
        if bad.size:
            row = int(np.searchsorted(X.indptr, bad[0], side="right")) - 1
            raise ValueError(f"X contains NaN or inf (first at row {row}, column "
                             f"{X.indices[bad[0]]}); clean or impute the data first")
        return
    if isinstance(X, RawX):
        X = X.values.view(np.float16) if X.half else X.values
    if X.dtype.kind != "f":
        return  # integers are finite
    for start in range(0, X.shape[0], FINITE_CHECK_ROWS):
        block = X[start:start + FINITE_CHECK_ROWS]
        if not np.isfinite(block).all():
            row, column = np.argwhere(~np.isfinite(block))[0]
            raise ValueError(f"X contains NaN or inf (first at row {start + row}, column "
                             f"{column}); clean or impute the data first")


def check_targets(y, loss_code, n_outputs, n_samples, dtype):
    """Return targets as a C-contiguous (n, n_outputs) array of dtype, one-hot for labels."""
    y = _as_numeric(y, "y")
    if y.shape[:1] != (n_samples,):
        raise ValueError(f"X has {n_samples} samples but y has "
                         f"{y.shape[0] if y.ndim else 'no'} entries: they must match")
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or inf; every target must be a finite number")
    if loss_code == CROSS_ENTROPY and y.ndim == 1:
        if not np.array_equal(y, np.round(y)):
            raise ValueError("cross_entropy labels of shape (n,) must be integer class indices")
        if y.min() < 0 or y.max() >= n_outputs:
            raise ValueError(f"class labels must lie in [0, {n_outputs - 1}] for {n_outputs} "
                             f"outputs, got values from {y.min()} to {y.max()}")
        Y = np.zeros((n_samples, n_outputs), dtype=dtype)
        Y[np.arange(n_samples), y.astype(np.int64)] = 1
        return Y
    if y.ndim == 1 and n_outputs == 1:
        y = y.reshape(-1, 1)
    if y.ndim != 2 or y.shape[1] != n_outputs:
        raise ValueError(f"y must have shape ({n_samples}, {n_outputs}) to match the "
                         f"{n_outputs} outputs, got {y.shape}")
    Y = np.ascontiguousarray(y, dtype=dtype)
    if loss_code == CROSS_ENTROPY:
        if (Y < 0).any() or not np.allclose(Y.sum(axis=1), 1.0, atol=1e-3):
            raise ValueError("cross_entropy targets of shape (n, k) must be probabilities: "
                             "non-negative rows that sum to 1 (or pass integer labels)")
        # Scaled to sum exactly 1 (a new array, never the caller's): the kernels' output
        # error a - y is the gradient of -sum y log softmax(z) only then; otherwise it is
        # off by (sum(y) - 1) * a.
        Y = Y / Y.sum(axis=1, keepdims=True)
    if loss_code == BINARY_CROSS_ENTROPY and ((Y < 0).any() or (Y > 1).any()):
        raise ValueError("binary_cross_entropy targets must lie in [0, 1]")
    if loss_code == POISSON and (Y < 0).any():
        raise ValueError("poisson targets must be counts or rates >= 0")
    return Y


# Parameter rules -----------------------------------------------------------------------
# A rule is what a parameter must be: a test and the words for the error message, so that a
# table of rules documents a function's parameters and every message has one form:
# "<name> must <be ...>, got <value>".


class Rule:
    """A parameter's constraint: ``rule(name, value)`` returns value or raises."""

    def __init__(self, test, must, error=ValueError):
        self.test, self.must, self.error = test, must, error

    def __call__(self, name, value):
        if not self.test(value):
            raise self.error(f"{name} must {self.must}, got {value!r}")
        return value


def _number(value):
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and bool(np.isfinite(value)))


def _integer(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


POSITIVE_INT = Rule(lambda v: _integer(v) and v >= 1, "be a positive integer")
NON_NEGATIVE_INT = Rule(lambda v: _integer(v) and v >= 0, "be an integer >= 0")
POSITIVE = Rule(lambda v: _number(v) and v > 0, "be a positive number")
NON_NEGATIVE = Rule(lambda v: _number(v) and v >= 0, "be a non-negative number")
FRACTION = Rule(lambda v: _number(v) and 0 <= v < 1, "lie in [0, 1)")
SPLIT = Rule(lambda v: _number(v) and 0 <= v < 1, "lie in (0, 1), or be 0 for none")


def one_of(*options):
    """A rule: value is one of options, strings or integers (True is not 1 here)."""
    words = ", ".join(repr(o) for o in options[:-1]) + f" or {options[-1]!r}"

    def test(value):
        kind = str if isinstance(value, str) else numbers.Integral
        return (isinstance(value, kind) and not isinstance(value, bool)
                and any(isinstance(o, kind) and value == o for o in options))

    return Rule(test, f"be {words}")


def optional(rule):
    """A rule: None, or what rule accepts."""
    return Rule(lambda v: v is None or rule.test(v), rule.must + " (or None)", rule.error)


def check(rules, **values):
    """Apply rules[name] to each value; return the values in the order given."""
    checked = [rules[name](name, value) for name, value in values.items()]
    return checked if len(checked) > 1 else checked[0]


def check_params(values, shape):
    """values as an array of this shape, all finite."""
    values = np.asarray(values)
    if values.shape != shape:
        raise ValueError(f"params must have shape {shape}, got {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("params must be finite (no NaN or inf)")
    return values


def check_validation_data(validation_data, validation_split):
    """The pair (X_val, y_val) of fit's validation_data, given without a validation_split."""
    if validation_split:
        raise ValueError("give validation_data or validation_split, not both")
    try:
        X_val, y_val = validation_data
    except (TypeError, ValueError):
        raise ValueError("validation_data must be a pair (X_val, y_val)") from None
    return X_val, y_val


def validation_rows(validation_split, n):
    """How many of n samples a validation_split holds out; both sides need one."""
    n_val = int(round(n * validation_split))
    if not 0 < n_val < n:
        raise ValueError(f"validation_split={validation_split} of {n} samples leaves {n_val} "
                         f"for validation and {n - n_val} for training; both need at least one")
    return n_val


def check_dropout(dropout, n_hidden):
    """Dropout rates as a list with one rate in [0, 1) per hidden layer."""
    rates = [dropout] * n_hidden if isinstance(dropout, numbers.Real) else list(dropout)
    if len(rates) != n_hidden:
        raise ValueError(f"dropout lists one rate per hidden layer: the network has {n_hidden} "
                         f"hidden layers, got {len(rates)} rates")
    for rate in rates:
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
            raise ValueError(f"every dropout rate must lie in [0, 1), got {rate!r}")
    return [float(r) for r in rates]


def check_weights(sample_weight, class_weight, Y, loss_code, dtype):
    """Per-sample weights (n,) of dtype: sample_weight times class_weight of each sample's
    class; ones when both are None."""
    n, k = Y.shape
    weights = np.ones(n, dtype=dtype)
    if sample_weight is not None:
        sample_weight = _as_numeric(sample_weight, "sample_weight")
        if sample_weight.shape != (n,):
            raise ValueError(f"sample_weight must have shape ({n},), one weight per sample, "
                             f"got {sample_weight.shape}")
        weights *= sample_weight.astype(dtype)
    if class_weight is not None:
        if loss_code == CROSS_ENTROPY:
            classes = Y.argmax(axis=1)
        elif loss_code == BINARY_CROSS_ENTROPY and k == 1:
            classes = (Y[:, 0] >= 0.5).astype(np.int64)
            k = 2
        else:
            raise ValueError("class_weight needs cross_entropy, or binary_cross_entropy with "
                             "one output; use sample_weight otherwise")
        if class_weight == "balanced":  # scikit-learn's rule: n / (k * count of the class)
            counts = np.bincount(classes, minlength=k)
            table = np.where(counts > 0, n / (k * np.maximum(counts, 1)), 0.0)
        elif isinstance(class_weight, dict):
            unknown = [c for c in class_weight if not (isinstance(c, numbers.Integral)
                                                       and 0 <= c < k)]
            if unknown:
                raise ValueError(f"class_weight keys must be class indices in [0, {k - 1}], "
                                 f"got {unknown}")
            table = np.array([class_weight.get(c, 1.0) for c in range(k)], dtype=float)
        else:
            raise TypeError(f"class_weight must be a dict {{class: weight}} or 'balanced', "
                            f"got {class_weight!r}")
        weights *= table[classes].astype(dtype)
    return check_weight_values(weights)


def check_weight_values(weights):
    """weights, unless one is not finite or negative, or all are zero."""
    if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("sample weights must be finite, non-negative and not all zero")
    return weights
