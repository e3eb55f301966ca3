"""Every use of Numba's internals, so that a Numba upgrade has one file to check.

LLVM-level intrinsics (bit casts, views without copies, atomics), the BLAS and libc symbols
kernels call by name, and Numba's rule for where it caches a source folder's kernels.
Symbols are resolved by name rather than through ctypes function objects: kernels that
hold a ctypes pointer are not cacheable ("dynamic globals").
"""

from pathlib import Path

import scipy.linalg.cython_blas  # noqa: F401  (loads the sgemm/dgemm numba_xxgemm calls)
from llvmlite import ir
from numba import types
from numba.core import caching, cgutils, config
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.misc.appdirs import AppDirs
from numba.np.arrayobj import make_array, populate_array

# Views ------------------------------------------------------------------------------------


@intrinsic
def bits_to_float64(typingctx, bits):
    """Reinterpret the bits of an int64 as a float64 (an LLVM bitcast, so it vectorises)."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(bits), codegen


@intrinsic
def as_vector(typingctx, x):
    """The elements of the 2-D array x as one C-contiguous vector, without a copy; only for
    an x whose elements follow each other in memory in row order (elementwise.is_dense)."""
    if not isinstance(x, types.Array) or x.ndim != 2:
        return None
    vector = types.Array(x.dtype, 1, "C")

    def codegen(context, builder, signature, args):
        src = make_array(signature.args[0])(context, builder, args[0])
        dst = make_array(vector)(context, builder)
        n, m = cgutils.unpack_tuple(builder, src.shape)
        populate_array(dst, data=src.data, shape=cgutils.pack_array(builder, [builder.mul(n, m)]),
                       strides=cgutils.pack_array(builder, [src.itemsize]),
                       itemsize=src.itemsize, meminfo=src.meminfo, parent=src.parent)
        return impl_ret_borrowed(context, builder, vector, dst._getvalue())

    return vector(x), codegen


@intrinsic
def any_layout(typingctx, array):
    """The same array (no copy), typed with layout 'A' (any strides): arrays of different
    layouts passed through it share one compiled callee."""
    def codegen(context, builder, signature, args):
        return impl_ret_borrowed(context, builder, signature.return_type, args[0])

    return array.copy(layout="A")(array), codegen


def kinds_value(kinds):
    """The int a specialised kernel is compiled for, from the type of its compile-time
    ``kinds`` argument (codes.kinds): an overload's typing function reads it here."""
    if not isinstance(kinds, types.IntegerLiteral):
        raise TypeError("kinds must be a compile-time constant (see codes.kinds)")
    return kinds.literal_value


# BLAS -------------------------------------------------------------------------------------

_CHAR = ir.IntType(8)
_VOIDP = ir.IntType(8).as_pointer()


@intrinsic
def xxgemm(typingctx, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major BLAS gemm on the data pointers of arrays a, b, c (Fortran semantics), by
    the entry point Numba's own np.dot uses (numba_xxgemm), which takes alpha and beta."""
    dtype = c.dtype
    if dtype not in (types.float32, types.float64):
        return None
    sig = types.void(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        intp = context.get_value_type(types.intp)
        fnty = ir.FunctionType(
            ir.IntType(32),
            [_CHAR, _CHAR, _CHAR, intp, intp, intp, _VOIDP, _VOIDP, intp, _VOIDP, intp,
             _VOIDP, _VOIDP, intp],
        )
        fn = cgutils.get_or_insert_function(builder.module, fnty, "numba_xxgemm")
        arg_types = signature.args

        def integer(i):
            return context.cast(builder, args[i], arg_types[i], types.intp)

        def char(i):
            return builder.trunc(integer(i), _CHAR)

        def scalar_slot(i):
            slot = cgutils.alloca_once(builder, context.get_value_type(dtype))
            builder.store(context.cast(builder, args[i], arg_types[i], dtype), slot)
            return builder.bitcast(slot, _VOIDP)

        def data(i):
            array = context.make_array(arg_types[i])(context, builder, args[i])
            return builder.bitcast(array.data, _VOIDP)

        kind = ir.Constant(_CHAR, ord("s" if dtype == types.float32 else "d"))
        builder.call(fn, [kind, char(0), char(1), integer(2), integer(3), integer(4),
                          scalar_slot(5), data(6), integer(7), data(8), integer(9),
                          scalar_slot(10), data(11), integer(12)])
        return context.get_dummy_value()

    return sig, codegen


# Atomics and the scheduler ----------------------------------------------------------------
# Numba has no atomics; a barrier needs an atomic increment and an atomic read.


def _pointer(context, builder, array_type, array, index):
    ary = context.make_array(array_type)(context, builder, array)
    return cgutils.get_item_pointer(context, builder, array_type, ary, [index],
                                    wraparound=False)


@intrinsic
def atomic_increment(typingctx, counters, index):
    """counters[index] += 1 as one sequentially consistent atomic step."""
    def codegen(context, builder, signature, args):
        pointer = _pointer(context, builder, signature.args[0], *args)
        builder.atomic_rmw("add", pointer, ir.Constant(ir.IntType(64), 1), "seq_cst")
        return context.get_dummy_value()

    return types.void(counters, index), codegen


@intrinsic
def atomic_read(typingctx, counters, index):
    """counters[index], read atomically (never hoisted out of a waiting loop)."""
    def codegen(context, builder, signature, args):
        return builder.load_atomic(_pointer(context, builder, signature.args[0], *args),
                                   "seq_cst", 8)

    return types.int64(counters, index), codegen


@intrinsic
def sched_yield(typingctx):
    """Give the core to another runnable thread (libc's sched_yield)."""
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []),
                                            "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()

    return types.void(), codegen


# The disk cache ---------------------------------------------------------------------------


def user_wide_cache_root():
    """Numba's user-wide cache folder, used when a package's __pycache__ is not writable."""
    return Path(AppDirs(appname="numba", appauthor=False).user_cache_dir)


def cache_candidates(folder):
    """The folders Numba may cache the kernels of a source folder in, in its order of
    preference (it takes the first it can write to)."""
    # Numba's own rule for the sub-folder under a cache root is a private helper: with a
    # Numba that lacks it, only the in-tree folder is checked.
    subpath = getattr(getattr(caching, "_CacheLocator", None), "get_suitable_cache_subpath", None)
    if subpath is None:
        return [folder / "__pycache__"]
    sub = subpath(str(folder / "__init__.py"))
    if config.CACHE_DIR:
        return [Path(config.CACHE_DIR) / sub]
    return [folder / "__pycache__", user_wide_cache_root() / sub]
