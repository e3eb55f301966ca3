"""Compilation settings shared by every kernel.

fastmath without ``nnan``/``ninf``: the divergence checks must still see NaN and inf.
``reassoc`` lets LLVM vectorise reductions; the order it picks is fixed at compile time,
so results stay independent of the thread count.
"""

FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

# Keyword arguments of every compiled kernel: nopython, cached on disk, GIL released so
# two networks can train at once in two Python threads. error_model="numpy": a float
# division by zero gives inf/NaN (caught by the divergence check) instead of a Python
# ZeroDivisionError check in every division, which also kept LLVM from vectorising the
# optimizer loops (Adam: 4.3 -> see bench/perf_log.md).
JIT = dict(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")

# Kernels that only other kernels call and that call many others themselves (a step's
# phases and passes) are inlined into their callers at Numba IR level instead of being
# compiled on their own. Numba turns every compiled function into machine code together with
# its whole callee tree, so a separately compiled driver emitted most of the library once
# more: a first fit compiled ~20 s before, ~15 s after (bench/perf_log.md). Helpers with a
# single call site are inlined the same way. Small helpers called from many places stay
# separate: Numba re-reads an inlined function at every call site, which costs more than
# compiling it once.
DRIVER = dict(JIT, inline="always")

# expm1 (its series and the exp it calls) is marked for LLVM to always inline: LLVM's own
# inliner judged it too big, and a loop still holding a call does not vectorise (over 100,000
# values: 10.9 ns each as a call, 2.7 inlined). It is still compiled on its own, with its
# own fastmath flags (no reassociation: its series are summed in the order written), which
# inlining keeps.
SCALAR_EXACT = dict(JIT, fastmath={"contract"}, forceinline=True)
