"""The libraries behind gemm.py's matrix products, and which one serves each class of shapes
on the running CPU.

    OpenBLAS  the scipy-openblas32 wheel: every product unless the table says otherwise
    oneDNN    the onednn-cpu-gomp wheel: float32 products where it measured faster, and
              every int8 product of a quantized network (u8 x s8 -> s32)

Both are fastbp's own: a copy of OpenBLAS that nothing else in the process loads (NumPy and
SciPy bring their own), set to one thread once; and oneDNN's OpenMP thread count set to one
on the threads that call it, and put back on the calling thread (``one_thread``). So fit and
forward never change the BLAS thread count that other code sees, and every product runs on
one thread with a summation order fixed by its shape: the same bits for any thread count.

Compiled kernels call the libraries by fixed symbol names (numba_ext.py), bound here before
any kernel is linked; the choice table is an int8 array at a fixed address, read by the
kernels at every call, so cached kernels follow a table measured after they were compiled.
Each row is measured once per CPU and library versions, when the first network whose products
can fall in it is built, and kept in a file (``choose``).
"""

import ctypes
import functools
import json
import os
import threading
import time
import warnings
from importlib import metadata
from pathlib import Path

import llvmlite.binding as llvm
import numpy as np
import scipy_openblas32

from . import config
from .cache import ROOT
from .config import (GEMM_BUCKETS, GEMM_MARGIN, GEMM_REPRESENTATIVE, GEMM_SETTING,
                     GEMM_SETTINGS)

OPENBLAS, ONEDNN = 0, 1
NAMES = ("openblas", "onednn")
# Transposition patterns with a column in the table (others always go to OpenBLAS):
# forward z = x W^T, error back delta W, weight update delta^T a.
PATTERNS = ((False, True), (False, False), (True, False))
N_BUCKETS = len(GEMM_BUCKETS) + 1
N_CLASSES = len(PATTERNS) * N_BUCKETS ** 3

SYMBOL_SGEMM, SYMBOL_DGEMM = "fastbp_cblas_sgemm", "fastbp_cblas_dgemm"
SYMBOL_ONEDNN, SYMBOL_CHOICE = "fastbp_onednn_sgemm", "fastbp_gemm_choice"
SYMBOL_U8S8, SYMBOL_BF16 = "fastbp_onednn_u8s8s32", "fastbp_onednn_bf16bf16f32"

# The table the kernels read (never reallocated: its address is bound to SYMBOL_CHOICE).
choice = np.zeros(N_CLASSES, dtype=np.int8)


def shape_class(pattern, m, n, k):
    """Row of the choice table for a product of pattern (index in PATTERNS) giving an (m, n)
    result over an inner dimension k; compiled for the kernels too (gemm.py)."""
    index = pattern
    for size in (m, n, k):
        bucket = 0
        for edge in GEMM_BUCKETS:
            if size > edge:
                bucket += 1
        index = index * N_BUCKETS + bucket
    return index


# Loading and binding -----------------------------------------------------------------------

def _address(library, name):
    return ctypes.cast(getattr(library, name), ctypes.c_void_p).value


_ONEDNN_SIGNATURE = ctypes.CFUNCTYPE(  # dnnl_sgemm, dnnl_gemm_bf16bf16f32: row-major
    ctypes.c_int32, ctypes.c_char, ctypes.c_char, *[ctypes.c_int64] * 3, ctypes.c_float,
    ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_float,
    ctypes.c_void_p, ctypes.c_int64)
_U8S8_SIGNATURE = ctypes.CFUNCTYPE(  # dnnl_gemm_u8s8s32: row-major, offsets of A, B and C
    ctypes.c_int32, ctypes.c_char, ctypes.c_char, ctypes.c_char, *[ctypes.c_int64] * 3,
    ctypes.c_float, ctypes.c_void_p, ctypes.c_int64, ctypes.c_uint8, ctypes.c_void_p,
    ctypes.c_int64, ctypes.c_int8, ctypes.c_float, ctypes.c_void_p, ctypes.c_int64,
    ctypes.c_void_p)
# Stand-ins bound when oneDNN is absent, so that cached kernels still link; the table never
# points at the first, and a quantized network refuses to exist without oneDNN.
_absent = _ONEDNN_SIGNATURE(lambda *args: 1)
_absent_u8s8 = _U8S8_SIGNATURE(lambda *args: 1)


def _load_openblas():
    path = Path(scipy_openblas32.get_lib_dir()) / f"lib{scipy_openblas32.get_library()}.so"
    library = ctypes.CDLL(str(path))  # RTLD_LOCAL: its symbols stay its own
    library.scipy_openblas_set_num_threads(1)
    library.scipy_openblas_get_config.restype = ctypes.c_char_p
    llvm.add_symbol(SYMBOL_SGEMM, _address(library, "scipy_cblas_sgemm"))
    llvm.add_symbol(SYMBOL_DGEMM, _address(library, "scipy_cblas_dgemm"))
    return library


def _load_onednn():
    """oneDNN and the OpenMP runtime it runs on, or (None, None) when either is missing
    (oneDNN is then never chosen)."""
    if GEMM_SETTING == "openblas":
        return None, None
    try:  # the wheel puts the library in its prefix's lib/, wherever that prefix is
        path = next(f.locate() for f in metadata.files("onednn-cpu-gomp")
                    if f.name == "libdnnl.so.3")
        library = ctypes.CDLL(str(path))
        openmp = ctypes.CDLL("libgomp.so.1")  # the one libdnnl is linked against
    except (metadata.PackageNotFoundError, StopIteration, TypeError, OSError):
        return None, None
    library.dnnl_sgemm.argtypes = _ONEDNN_SIGNATURE._argtypes_
    library.dnnl_gemm_u8s8s32.argtypes = _U8S8_SIGNATURE._argtypes_
    library.dnnl_gemm_bf16bf16f32.argtypes = _ONEDNN_SIGNATURE._argtypes_
    llvm.add_symbol(SYMBOL_ONEDNN, _address(library, "dnnl_sgemm"))
    llvm.add_symbol(SYMBOL_U8S8, _address(library, "dnnl_gemm_u8s8s32"))
    llvm.add_symbol(SYMBOL_BF16, _address(library, "dnnl_gemm_bf16bf16f32"))
    return library, openmp


openblas = _load_openblas()
onednn, _openmp = _load_onednn()
if onednn is None:
    llvm.add_symbol(SYMBOL_ONEDNN, ctypes.cast(_absent, ctypes.c_void_p).value)
    llvm.add_symbol(SYMBOL_U8S8, ctypes.cast(_absent_u8s8, ctypes.c_void_p).value)
    llvm.add_symbol(SYMBOL_BF16, ctypes.cast(_absent, ctypes.c_void_p).value)
llvm.add_symbol(SYMBOL_CHOICE, choice.ctypes.data)


class one_thread:
    """``with one_thread():`` on the calling thread, oneDNN runs on one thread until the block
    ends (OpenMP's thread count is a per-thread setting; the caller's own is put back). A
    class rather than a generator: it wraps every served row (0.7 us instead of 1.4)."""

    __slots__ = ("_before",)

    def __enter__(self):
        if _openmp is not None:
            self._before = _openmp.omp_get_max_threads()
            if self._before != 1:
                _openmp.omp_set_num_threads(1)

    def __exit__(self, *exc):
        if _openmp is not None and self._before != 1:
            _openmp.omp_set_num_threads(self._before)


def has_vnni():
    """Whether this CPU has an int8 dot-product instruction (AVX512_VNNI or AVX_VNNI), with
    which u8 x s8 products take full 8-bit inputs: without one, oneDNN's kernels add pairs of
    u8 x s8 products in 16 bits, which saturate unless the u8 inputs keep to 7 bits."""
    features = llvm.get_host_cpu_features()
    return bool(features.get("avx512vnni") or features.get("avxvnni"))


@functools.cache
def has_bf16():
    """Whether bfloat16 products run on this CPU's bf16 units: it has them (AVX512_BF16 or
    AMX-BF16) and oneDNN's dnnl_gemm_bf16bf16f32 runs a product (it answers
    "unimplemented" on CPUs it has no bf16 kernels for, AVX2-only ones among them)."""
    features = llvm.get_host_cpu_features()
    if onednn is None or not (features.get("avx512bf16") or features.get("amx-bf16")):
        return False
    a = np.full(4, 0x3F80, np.uint16)  # 2x2 matrices of bfloat16 ones
    c = np.zeros(4, np.float32)
    with one_thread():
        status = onednn.dnnl_gemm_bf16bf16f32(b"N", b"N", 2, 2, 2, 1.0, a.ctypes.data, 2,
                                              a.ctypes.data, 2, 0.0, c.ctypes.data, 2)
    return status == 0 and bool(np.all(c == 2))


_warned_emulated = []


def warn_if_emulated():
    """Warn, once per process, that bfloat16 products run emulated here (no bf16 units): no
    faster than float32, with the same numbers as on the units."""
    if has_bf16() or _warned_emulated:
        return
    _warned_emulated.append(True)
    warnings.warn("this CPU has no bf16 units (AVX512_BF16 or AMX) that oneDNN runs on: "
                  "precision='bfloat16' runs emulated, with the numbers of the bf16 units but "
                  "not their speed: no faster than float32 here", RuntimeWarning, stacklevel=3)
def bf16_storage():
    """The dtype a bfloat16 network's operands are stored in: uint16 bit patterns, for the
    bf16 units, where has_bf16 and config.BF16_NATIVE; else float32 values (emulated)."""
    return np.uint16 if config.BF16_NATIVE and has_bf16() else np.float32


# Choosing ----------------------------------------------------------------------------------

def operands(pattern, m, n, k, rng):
    """(trans_a, trans_b, A, B, C) of a float32 product of pattern with an (m, n) result
    over k, with random A and B, for ``seconds``."""
    trans_a, trans_b = PATTERNS[pattern]
    A = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    B = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    return trans_a, trans_b, A, B, np.zeros((m, n), np.float32)


def seconds(backend, trans_a, trans_b, A, B, C, calls, rounds=5):
    """Seconds per call of C = op(A) @ op(B) by library backend: the best of rounds rounds of
    calls (through ctypes: ~1 us more per call for both libraries, which hides differences
    only on products too small to matter)."""
    m, n = C.shape
    k = A.shape[0] if trans_a else A.shape[1]
    a, b, c = (ctypes.c_void_p(M.ctypes.data) for M in (A, B, C))
    if backend == OPENBLAS:
        f = openblas.scipy_cblas_sgemm
        args = (101, 112 if trans_a else 111, 112 if trans_b else 111, m, n, k,
                ctypes.c_float(1.0), a, A.shape[1], b, B.shape[1], ctypes.c_float(0.0), c, n)
    else:
        f = onednn.dnnl_sgemm
        args = (b"T" if trans_a else b"N", b"T" if trans_b else b"N", m, n, k, 1.0, a,
                A.shape[1], b, B.shape[1], 0.0, c, n)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            f(*args)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def classes():
    """(label, row of the choice table, (pattern, m, n, k) of its representative shape) for
    every shape class; the label names that shape, as in the file of a measured table."""
    for pattern, (trans_a, trans_b) in enumerate(PATTERNS):
        for m in GEMM_REPRESENTATIVE:
            for n in GEMM_REPRESENTATIVE:
                for k in GEMM_REPRESENTATIVE:
                    label = f"{'NT'[trans_a]}{'NT'[trans_b]} m={m} n={n} k={k}"
                    yield label, shape_class(pattern, m, n, k), (pattern, m, n, k)


def network_classes(sizes):
    """The classes (as ``classes`` gives them) that the products of a network with these
    layer sizes can fall in, for any number of rows and parts: per layer the forward product
    (rows, units, n_in), the error sent back (rows, units of n_in, n_out) and the weight
    update (units, n_in, rows), where the parts of a step (step.py) take any share of a
    layer's units."""
    def at_most(size):  # a size in each bucket up to size's
        return {min(rep, size) for rep in GEMM_REPRESENTATIVE}

    wanted = set()
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        for rows in GEMM_REPRESENTATIVE:  # one size in each bucket
            wanted.update(shape_class(0, rows, units, n_in) for units in at_most(n_out))
            wanted.update(shape_class(1, rows, units, n_out) for units in at_most(n_in))
            wanted.update(shape_class(2, units, n_in, rows) for units in at_most(n_out))
    return [c for c in classes() if c[1] in wanted]


def measure(which):
    """{label: library} measured now for the classes which (as ``classes`` gives them): the
    time of one product at the class's representative shape (config.GEMM_REPRESENTATIVE)
    with each library; oneDNN where it is faster by more than config.GEMM_MARGIN. One
    thread; about 1.6 ms a class."""
    if onednn is None:
        return {label: OPENBLAS for label, _, _ in which}
    chosen = {}
    rng = np.random.default_rng(0)
    with one_thread():
        for label, _, (pattern, m, n, k) in which:
            product = operands(pattern, m, n, k, rng)
            calls = max(1, int(2e5 / (m * n * k)))
            times = [seconds(library, *product, calls, rounds=3)
                     for library in (OPENBLAS, ONEDNN)]
            chosen[label] = ONEDNN if times[ONEDNN] * (1 + GEMM_MARGIN) < times[OPENBLAS] \
                else OPENBLAS
    return chosen


def _table_file():
    """Where this CPU's table is kept: a name from the CPU and the library versions."""
    cpu = f"{llvm.get_host_cpu_name()}-{_versions()}".replace(" ", "_").replace("/", "_")
    return ROOT / f"gemm-choice-{cpu}.json"


def _versions():
    blas = openblas.scipy_openblas_get_config().split()[1].decode()
    if onednn is None:
        return f"openblas{blas}"
    onednn.dnnl_version.restype = ctypes.POINTER(ctypes.c_int32 * 3)  # major, minor, patch
    return f"openblas{blas}-onednn{'.'.join(map(str, onednn.dnnl_version().contents))}"


def _settings():
    return json.loads(json.dumps({"buckets": GEMM_BUCKETS, "representative": GEMM_REPRESENTATIVE,
                                  "margin": GEMM_MARGIN}))


def _read_table(path):
    """{label: library} of the classes measured in the file at path (empty when there is
    none, or it is unreadable or measured with other settings)."""
    try:
        saved = json.loads(path.read_text())
        if saved["settings"] != _settings():
            return {}
        return {label: NAMES.index(name) for label, name in saved["choice"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _write_table(path, known):
    """Add known to the file at path (atomically: processes measuring at once each keep what
    the others wrote before them); a read-only home keeps it in this process only."""
    try:
        merged = {**_read_table(path), **known}
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps({"settings": _settings(), "choice": {
            label: NAMES[merged[label]] for label, _, _ in classes() if label in merged}},
            indent=1))
        os.replace(temporary, path)
    except OSError:
        pass


_lock = threading.Lock()
_known = None  # {label: library} of the classes this process has read or measured
_filled = np.zeros(N_CLASSES, dtype=bool)  # rows of choice set: each is set once per process


def choose(sizes=None):
    """Fill the rows of the choice table that the products of a network with layer sizes
    ``sizes`` can use (None: every row), those not filled before in this process: read from
    this CPU's file, or measured now and added there; or all set by FASTBP_GEMM. A first
    network measures its own classes only (784-128-10: 120 of the 648, 0.2 s instead of
    1 s)."""
    global _known
    with _lock:
        if GEMM_SETTING not in GEMM_SETTINGS:
            raise ValueError(f"FASTBP_GEMM={GEMM_SETTING!r}: use 'auto', 'openblas' or "
                             f"'onednn'")
        if GEMM_SETTING == "onednn" and onednn is None:
            raise RuntimeError("FASTBP_GEMM=onednn, but oneDNN could not be loaded: pip "
                               "install onednn-cpu-gomp (it needs the system's libgomp.so.1)")
        if GEMM_SETTING != "auto":
            choice[:] = ONEDNN if GEMM_SETTING == "onednn" else OPENBLAS
            return
        path = _table_file()
        if _known is None:
            _known = _read_table(path)
        wanted = [c for c in (classes() if sizes is None else network_classes(sizes))
                  if not _filled[c[1]]]
        missing = [c for c in wanted if c[0] not in _known]
        if missing:
            _known.update(measure(missing))
            _write_table(path, _known)
        for label, index, _ in wanted:
            choice[index] = _known[label]
            _filled[index] = True


def describe():
    """The libraries in use and, per class, which serves it (for bench/ and bug reports)."""
    return {"openblas": openblas.scipy_openblas_get_config().decode(),
            "onednn": None if onednn is None else _versions().split("onednn")[1],
            "onednn_classes": int((choice == ONEDNN).sum()), "classes": N_CLASSES}
