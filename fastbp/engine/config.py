"""Compilation flags, every tuning constant of the engine and every environment variable the
library reads, each with its reason.

The measurements behind each number are in bench/perf_log.md.
"""

import os

# Environment variables ---------------------------------------------------------------------
# Every one the library reads, read here, once, at import. Reading one never raises: a bad
# value is reported where it is first used, naming the variable.


def _threads_cap(value):
    """OMP_NUM_THREADS as a thread cap (unset or not an integer: no cap)."""
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1 << 30


# Kernels are compiled for the activations one network uses (codes.kinds, loops.py): a first
# fit compiles ~1.5 s less. False compiles every activation into one set of kernels per loss
# and optimizer instead, which pays when one process builds networks of many activations (a
# grid search over them, the test suite): each set costs a few seconds to compile. The
# environment variable FASTBP_SPECIALISE=0 sets it to False in every process that inherits
# it (Dask's spawned workers, subprocesses).
SPECIALISE = os.environ.get("FASTBP_SPECIALISE", "1") != "0"

# FASTBP_GEMM: "auto" (the measured table), "openblas" (oneDNN not even loaded) or "onednn"
# (every product it can take, for tests and comparisons); checked by backends.choose.
GEMM_SETTING = os.environ.get("FASTBP_GEMM", "auto")
GEMM_SETTINGS = ("auto", "openblas", "onednn")

# FASTBP_BF16=emulated: bfloat16 networks multiply on the emulated path (float32 products of
# rounded operands) even where the CPU has bf16 units, to compare the two paths.
BF16_NATIVE = os.environ.get("FASTBP_BF16", "native") != "emulated"

# FASTBP_CACHE_DIR: where the measured table of matrix-product libraries is kept (default:
# the user's cache folder).
CACHE_DIR = os.environ.get("FASTBP_CACHE_DIR") or None

# FASTBP_COMPILE_HELPER=0: no helper process compiling the inference loop while a first fit
# compiles its training loop (compile_helper.py).
COMPILE_HELPER = os.environ.get("FASTBP_COMPILE_HELPER", "1") != "0"

# FASTBP_CORES: the number of cores the parts and slabs are cut for (parallel.usable_cores),
# instead of the cores this process may use; checked at its first use. The same value gives
# the same bits on machines with different core counts.
CORES_SETTING = os.environ.get("FASTBP_CORES")

# OMP_NUM_THREADS caps the threads of the parts (parallel.run_team), read at import as
# OpenMP runtimes read it at load: Dask, among others, sets it to 1 in its worker processes
# so that their libraries do not each take every core (Numba does not read it), and a Dask
# LocalCluster created in this process later sets it in this process's environment too, for
# its workers.
OMP_THREADS = _threads_cap(os.environ.get("OMP_NUM_THREADS"))


# fastmath without "nnan"/"ninf": the divergence checks must still see NaN and inf.
# "reassoc" lets LLVM vectorise reductions; the order it picks is fixed at compile time, so
# results stay independent of the thread count.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Every kernel: nopython, cached on disk, GIL released (two networks may train at once in two
# Python threads; the parts of a step run on Python threads). error_model="numpy": a float
# division by zero gives inf/NaN, caught by the divergence check, instead of a Python
# exception check in every division, which kept LLVM from vectorising the optimizer loops.
JIT = dict(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")

# Kernels that only other kernels call get no wrappers for calls from Python or C: each
# wrapper (unboxing the arguments, tuples of arrays here) is code compiled in a first run.
INTERNAL = dict(JIT, no_cpython_wrapper=True, no_cfunc_wrapper=True)

# Kernels that only other kernels call and that call many others themselves (the phases of a
# step), and helpers with a single call site, are inlined into their callers at Numba IR
# level instead of compiled on their own: Numba emits machine code for a compiled function
# together with its whole callee tree, so a separately compiled driver emitted most of the
# library once more (a quarter of a first fit's compile time; bench/perf_log.md). Small
# helpers called from many places stay separate: Numba re-reads an inlined function at
# every call site.
DRIVER = dict(JIT, inline="always")

# expm1 is marked for LLVM to always inline (LLVM's own inliner found it too big, and a loop
# still holding a call does not vectorise: 4x slower; bench/perf_log.md). It keeps its own
# fastmath flags (no reassociation: its series are summed in the order written).
SCALAR_EXACT = dict(JIT, fastmath={"contract"}, forceinline=True)

# Matrix products (gemm.py) ---------------------------------------------------------------

# Each product goes to OpenBLAS or oneDNN by a table measured on the running CPU
# (backends.py), with a row per shape class: the transposition pattern and, for each of the
# result's rows and columns and the inner dimension, the bucket of sizes it falls in (up to
# 16, 48, 96, 192, 384, more: the sizes common in MLPs, 10, 32, 64, 128, 256, 784, sit
# inside a bucket, not on an edge). Each class is measured at one shape: these sizes for the
# buckets. With fewer buckets, a quarter of the standard configurations' products went to
# the slower library, some by 3x; with these, none by more than 7%, for about 1.4 s of
# measuring (648 classes) once per CPU (bench/perf_log.md).
# oneDNN serves a class only when faster there by GEMM_MARGIN: OpenBLAS is the default.
GEMM_BUCKETS = (16, 48, 96, 192, 384)
GEMM_REPRESENTATIVE = (10, 32, 64, 128, 256, 784)
GEMM_MARGIN = 0.05

# For 9 to 32 rows, layers wider than 32 units whose 8-row product stays on OpenBLAS's
# small-matrix path (rows x n_in x n_out <= SMALL_PRODUCT) run their row-wise products 8 rows
# per call (784 -> 128 at 10 rows: over twice as fast; bench/perf_log.md). Narrower or wider
# layers lose with the split.
FAST_ROWS = 8
SPLIT_MAX_ROWS = 32
SPLIT_MIN_UNITS = 33
SMALL_PRODUCT = 1e6

# Chunks of training (engine/session.py) -----------------------------------------------------

# Floating-point work per compiled call of a one-process fit: long enough that the call's
# overhead (thread starts, the Python between calls) is lost in it, short enough (~0.1 s)
# that progress output, Ctrl-C and divergence checks stay responsive.
CHUNK_FLOP = 1e10
# ... and at most this many rows per call (tiny networks: a chunk of CHUNK_FLOP would be
# seconds of shuffled gathering with no progress shown).
MAX_CHUNK_SAMPLES = 1 << 16
# None: chunks of about CHUNK_FLOP of work. An integer: exactly this many batches per
# compiled call, so tests can make every epoch cross several calls and check what carries
# from one to the next (step count, learning rates, dropout masks, the restore snapshot).
CHUNK_BATCHES = None

# Validation (fastbp/validation.py): X is scanned for NaN and inf this many rows at a time, so
# the boolean temporary stays a few MB.
FINITE_CHECK_ROWS = 4096

# fit(shuffle="blocks"): the rows of X are visited in blocks of about this many bytes (and
# at least one batch), the blocks in a random order and the rows within each shuffled; a
# few MiB read together keep an epoch over a memory-mapped file mostly sequential (the
# operating system reads ahead within a block) while batches still mix thousands of rows.
SHUFFLE_BLOCK_BYTES = 8 << 20

# Parts and threads (parallel.py) ---------------------------------------------------------

# A training step is cut into parts (step.py) when a batch holds at least this many
# floating-point operations: fits of 2 parts against 1 gained from nielsen's batch of 10
# (9.6e5 FLOP) up (bench/perf_log.md, session 5). Every product runs on one thread
# (backends.py), so above it parts are the only way to use a second core.
PARTS_MIN_FLOP = 5e5
# ... and only when a compiled call has at least this much work: each call starts and joins
# the helper threads (about 0.1-0.2 ms here, 5-10 MFLOP of one core's work): without it,
# tiny datasets such as scikit-learn's wine trained 3-4x slower per epoch on 2 threads than
# on one (bench/perf_log.md).
TEAM_MIN_FLOP = 2e7
# How many parts, by the work of a batch: at least this many FLOP per batch for each number
# of parts, never more parts than cores (parallel.training_parts). Measured on 2-core
# machines up to 2 parts; above, the model of bench/README.md ("More cores: a model",
# bench/tools/thread_scaling.py: per-phase costs and the barrier's, measured here) put the
# best number of parts at 4 for small and medium (1.3e7 and 6.4e7 FLOP per batch), 8 for
# large (2.4e9) and 2 for nielsen (9.6e5); its optimum grows as the square root of the work
# per batch, which puts 16 parts at about 8x large's batch.
PARTS_BY_FLOP = ((PARTS_MIN_FLOP, 2), (1e7, 4), (1e9, 8), (2e10, 16))
# Inference cuts its rows into chunks of SLAB_ROWS rows per core, each chunk into one slab
# per core (fewer when a slab would have under MIN_SLAB_ROWS rows: a thread start costs more
# than such a slab), each slab run on its own thread. Numbers from the cores, never the thread
# count: the per-slab loss sums are added in slab order.
SLAB_ROWS = 512
MIN_SLAB_ROWS = 64
# Inference on at most this many rows (one slab, as above) runs on the calling thread in a
# workspace kept per thread (model.Model.infer): a thread team, a fresh workspace and the
# general tallies cost more than the forward pass of one row of 784-128-10 (bench/perf_log.md).
FEW_ROWS = MIN_SLAB_ROWS

# The spin barrier between phases spins this many rounds (~1 us), then yields the core each
# round, so that more runnable threads than cores slow down instead of starving each other.
SPINS_BEFORE_YIELD = 2000
