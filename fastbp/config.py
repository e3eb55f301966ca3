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
