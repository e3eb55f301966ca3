"""A spin barrier for threads running compiled code at the same time, callable from nopython
code.

Numba has no atomics, so the two operations the barrier needs are LLVM instructions emitted
by intrinsics. sched_yield is resolved by symbol name (as numba_xxgemm is), so kernels that
use it stay cacheable.
"""

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from ..config import JIT

SPINS_BEFORE_YIELD = 2000  # ~1 us of spinning, then give the core away each round


def _pointer(context, builder, array_type, array, index):
    ary = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, ary, [index],
                                    wraparound=False)


@intrinsic
def _atomic_increment(typingctx, counters, index):
    """counters[index] += 1 as one sequentially consistent atomic step."""
    def codegen(context, builder, signature, args):
        pointer = _pointer(context, builder, signature.args[0], *args)
        builder.atomic_rmw("add", pointer, ir.Constant(ir.IntType(64), 1), "seq_cst")
        return context.get_dummy_value()

    return types.void(counters, index), codegen


@intrinsic
def _atomic_read(typingctx, counters, index):
    """counters[index], read atomically (never hoisted out of a waiting loop)."""
    def codegen(context, builder, signature, args):
        return builder.load_atomic(_pointer(context, builder, signature.args[0], *args),
                                   "seq_cst", 8)

    return types.int64(counters, index), codegen


@intrinsic
def _sched_yield(typingctx):
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []),
                                            "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


COUNT, ABORT = 0, 1  # the slots of a barrier's int64 sync array


@njit(**JIT)
def barrier(sync, k, parties):
    """The k-th barrier (k = 1, 2, ...) of ``parties`` threads sharing sync, whose slots
    start at 0: returns once every party has arrived, or at once when sync[ABORT] is set
    (a party failed and will never arrive).

    Spins briefly, then yields the core on every check, so that more runnable threads than
    cores (two networks training at once) slow down instead of starving each other.
    """
    _atomic_increment(sync, COUNT)
    target = k * parties
    spins = 0
    while _atomic_read(sync, COUNT) < target and _atomic_read(sync, ABORT) == 0:
        spins += 1
        if spins > SPINS_BEFORE_YIELD:
            _sched_yield()
