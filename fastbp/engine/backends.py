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
The table is measured once per CPU and library versions, at the first Model, and kept in a
file (``choose``).
"""

import contextlib
import ctypes
import json
import os
import threading
import time
from importlib import metadata
from pathlib import Path

import llvmlite.binding as llvm
import numpy as np
import scipy_openblas32
from numba.misc.appdirs import AppDirs

from .config import (CACHE_DIR, GEMM_BUCKETS, GEMM_MARGIN, GEMM_REPRESENTATIVE, GEMM_SETTING,
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
SYMBOL_U8S8 = "fastbp_onednn_u8s8s32"

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


_ONEDNN_SIGNATURE = ctypes.CFUNCTYPE(  # dnnl_sgemm: row-major, sizes by value
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
    llvm.add_symbol(SYMBOL_ONEDNN, _address(library, "dnnl_sgemm"))
    llvm.add_symbol(SYMBOL_U8S8, _address(library, "dnnl_gemm_u8s8s32"))
    return library, openmp


openblas = _load_openblas()
onednn, _openmp = _load_onednn()
if onednn is None:
    llvm.add_symbol(SYMBOL_ONEDNN, ctypes.cast(_absent, ctypes.c_void_p).value)
    llvm.add_symbol(SYMBOL_U8S8, ctypes.cast(_absent_u8s8, ctypes.c_void_p).value)
llvm.add_symbol(SYMBOL_CHOICE, choice.ctypes.data)


@contextlib.contextmanager
def one_thread():
    """On the calling thread, oneDNN runs on one thread until the block ends (OpenMP's thread
    count is a per-thread setting; the caller's own is put back)."""
    if _openmp is None:
        yield
        return
    before = _openmp.omp_get_max_threads()
    _openmp.omp_set_num_threads(1)
    try:
        yield
    finally:
        _openmp.omp_set_num_threads(before)


def has_vnni():
    """Whether this CPU has an int8 dot-product instruction (AVX512_VNNI or AVX_VNNI), with
    which u8 x s8 products take full 8-bit inputs: without one, oneDNN's kernels add pairs of
    u8 x s8 products in 16 bits, which saturate unless the u8 inputs keep to 7 bits."""
    features = llvm.get_host_cpu_features()
    return bool(features.get("avx512vnni") or features.get("avxvnni"))


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


def measure():
    """The choice table measured now: for each shape class, the time of one product at its
    representative shape (config.GEMM_REPRESENTATIVE) with each library; oneDNN where it is
    faster by more than config.GEMM_MARGIN. Takes about a second; one thread."""
    table = np.zeros(N_CLASSES, dtype=np.int8)
    if onednn is None:
        return table
    rng = np.random.default_rng(0)
    with one_thread():
        for _, index, (pattern, m, n, k) in classes():
            product = operands(pattern, m, n, k, rng)
            calls = max(1, int(2e5 / (m * n * k)))
            times = [seconds(library, *product, calls, rounds=3)
                     for library in (OPENBLAS, ONEDNN)]
            if times[ONEDNN] * (1 + GEMM_MARGIN) < times[OPENBLAS]:
                table[index] = ONEDNN
    return table


def _table_file():
    """Where this CPU's table is kept: a name from the CPU and the library versions."""
    cpu = f"{llvm.get_host_cpu_name()}-{_versions()}".replace(" ", "_").replace("/", "_")
    root = CACHE_DIR or AppDirs("fastbp", appauthor=False).user_cache_dir
    return Path(root) / f"gemm-choice-{cpu}.json"


def _versions():
    blas = openblas.scipy_openblas_get_config().split()[1].decode()
    if onednn is None:
        return f"openblas{blas}"
    onednn.dnnl_version.restype = ctypes.POINTER(ctypes.c_int32 * 3)  # major, minor, patch
    return f"openblas{blas}-onednn{'.'.join(map(str, onednn.dnnl_version().contents))}"


_lock = threading.Lock()
_chosen = False


def choose():
    """Fill the choice table, once per process: read from this CPU's file, or measured and
    written there (atomically: processes starting together agree on one file); or set by
    FASTBP_GEMM."""
    global _chosen
    with _lock:
        if _chosen:
            return
        if GEMM_SETTING not in GEMM_SETTINGS:
            raise ValueError(f"FASTBP_GEMM={GEMM_SETTING!r}: use 'auto', 'openblas' or "
                             f"'onednn'")
        if GEMM_SETTING == "onednn" and onednn is None:
            raise RuntimeError("FASTBP_GEMM=onednn, but oneDNN could not be loaded: pip "
                               "install onednn-cpu-gomp (it needs the system's libgomp.so.1)")
        _chosen = True
        if GEMM_SETTING != "auto":
            choice[:] = ONEDNN if GEMM_SETTING == "onednn" else OPENBLAS
            return
        path = _table_file()
        settings = {"buckets": GEMM_BUCKETS, "representative": GEMM_REPRESENTATIVE,
                    "margin": GEMM_MARGIN}
        try:
            saved = json.loads(path.read_text())
            if saved["settings"] != json.loads(json.dumps(settings)):
                raise ValueError("measured with other settings")
            table = np.array([NAMES.index(saved["choice"][label]) for label, _, _ in classes()],
                             dtype=np.int8)
        except (OSError, ValueError, KeyError, TypeError):  # none, unreadable or outdated
            table = measure()
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                temporary = path.with_suffix(f".{os.getpid()}.tmp")
                choice_by_label = {label: NAMES[table[i]] for label, i, _ in classes()}
                temporary.write_text(json.dumps({"settings": settings,
                                                 "choice": choice_by_label}, indent=1))
                os.replace(temporary, path)
            except OSError:
                pass  # a read-only home: measured again by the next process
        choice[:] = table


def describe():
    """The libraries in use and, per class, which serves it (for bench/ and bug reports)."""
    return {"openblas": openblas.scipy_openblas_get_config().decode(),
            "onednn": None if onednn is None else _versions().split("onednn")[1],
            "onednn_classes": int((choice == ONEDNN).sum()), "classes": N_CLASSES}
