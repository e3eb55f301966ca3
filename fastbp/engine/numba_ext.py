"""Every use of Numba's internals, so that a Numba upgrade has one file to check.

LLVM-level intrinsics (bit casts, views without copies, atomics), the matrix-product and libc
symbols kernels call by name, and the cache locator that puts fastbp's kernels in its cache folder.
Symbols are resolved by name rather than through ctypes function objects: kernels that
hold a ctypes pointer are not cacheable ("dynamic globals").
"""

from pathlib import Path

from llvmlite import ir
from numba import types
from numba.core import caching, cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

# Binds the library symbols below on import, before any kernel links.
from .cache import KERNEL_DIR, PACKAGE, seed
from .backends import (N_CLASSES, SYMBOL_BF16, SYMBOL_CHOICE, SYMBOL_DGEMM, SYMBOL_ONEDNN,
                       SYMBOL_SGEMM, SYMBOL_U8S8)

# Views ------------------------------------------------------------------------------------


def _bitcast(name, accepts, target):
    """An intrinsic name(value) reinterpreting the bits of a value of a type that accepts
    allows as the type target: an LLVM bitcast, so the loops around it vectorise. An integer
    wider than target keeps its low bits (Numba widens uint32 arithmetic to 64 bits)."""
    def typer(typingctx, value):
        if not accepts(value):
            return None

        def codegen(context, builder, signature, args):
            bits = args[0]
            if isinstance(value, types.Integer) and value.bitwidth > target.bitwidth:
                bits = builder.trunc(bits, ir.IntType(target.bitwidth))
            return builder.bitcast(bits, context.get_value_type(target))

        return target(value), codegen

    typer.__name__ = name
    return intrinsic(typer)


bits_to_float64 = _bitcast("bits_to_float64", lambda t: t == types.int64, types.float64)
float32_bits = _bitcast("float32_bits", lambda t: t == types.float32, types.uint32)
bits_to_float32 = _bitcast(
    "bits_to_float32", lambda t: isinstance(t, types.Integer) and not t.signed, types.float32)


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


@intrinsic
def as_mutable(typingctx, array):
    """The same array (no copy), typed as writable: inference passes rows of the read-only
    X and Y (records.read_only) through it, so the layer and loss kernels it calls are the
    ones training compiled for its workspace's writable blocks instead of a second copy of
    each (0.6 s of a first evaluate). Only for arrays the callee never writes."""
    def codegen(context, builder, signature, args):
        return impl_ret_borrowed(context, builder, signature.return_type, args[0])

    return array.copy(readonly=False)(array), codegen


def kinds_value(kinds):
    """The int a specialised kernel is compiled for, from the type of its compile-time
    ``kinds`` argument (codes.kinds): an overload's typing function reads it here."""
    if not isinstance(kinds, types.IntegerLiteral):
        raise TypeError("kinds must be a compile-time constant (see codes.kinds)")
    return kinds.literal_value


# Matrix-product libraries -----------------------------------------------------------------
# Called by the symbol names backends.py binds.

_CHAR = ir.IntType(8)
_INT = ir.IntType(32)
_VOIDP = ir.IntType(8).as_pointer()


def _library_gemm(cblas, bf16=False):
    """An intrinsic calling a row-major gemm(trans_a, trans_b, m, n, k, alpha, A, lda, B,
    ldb, beta, C, ldc) on the data pointers of arrays A, B, C: OpenBLAS's cblas_sgemm or
    cblas_dgemm by C's dtype (cblas=True: an order argument first, int sizes and flags), or
    oneDNN's dnnl_sgemm (64-bit sizes, 'N'/'T' flags, a status returned that cannot fail
    for valid shapes), or with bf16=True oneDNN's dnnl_gemm_bf16bf16f32 (A and B uint16
    arrays of bfloat16 bit patterns, float32 C; the same arguments; only where
    backends.has_bf16)."""
    size_type = types.int32 if cblas else types.int64
    flag = _INT if cblas else _CHAR
    flags = (111, 112) if cblas else (ord("N"), ord("T"))  # no transpose, transpose

    def typer(typingctx, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        if c.dtype not in ((types.float32, types.float64) if cblas else (types.float32,)):
            return None
        if {a.dtype, b.dtype} != {types.uint16 if bf16 else c.dtype}:
            return None
        sig = types.void(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

        def codegen(context, builder, signature, args):
            real = context.get_value_type(c.dtype)
            size = context.get_value_type(size_type)
            order = [_INT] if cblas else []
            fnty = ir.FunctionType(ir.VoidType() if cblas else _INT,
                                   order + [flag, flag, size, size, size, real, _VOIDP, size,
                                            _VOIDP, size, real, _VOIDP, size])
            symbol = (SYMBOL_SGEMM if c.dtype == types.float32 else SYMBOL_DGEMM) if cblas \
                else SYMBOL_BF16 if bf16 else SYMBOL_ONEDNN
            fn = cgutils.get_or_insert_function(builder.module, fnty, symbol)
            arg_types = signature.args

            def value(i, to):
                return context.cast(builder, args[i], arg_types[i], to)

            def trans(i):
                return builder.select(value(i, types.boolean), ir.Constant(flag, flags[1]),
                                      ir.Constant(flag, flags[0]))

            def data(i):
                array = context.make_array(arg_types[i])(context, builder, args[i])
                return builder.bitcast(array.data, _VOIDP)

            row_major = [ir.Constant(_INT, 101)] if cblas else []
            builder.call(fn, row_major + [
                trans(0), trans(1), value(2, size_type), value(3, size_type),
                value(4, size_type), value(5, c.dtype), data(6), value(7, size_type),
                data(8), value(9, size_type), value(10, c.dtype), data(11),
                value(12, size_type)])
            return context.get_dummy_value()

        return sig, codegen

    typer.__name__ = "openblas_gemm" if cblas else "onednn_bf16" if bf16 else "onednn_sgemm"
    return intrinsic(typer)


openblas_gemm = _library_gemm(cblas=True)
onednn_sgemm = _library_gemm(cblas=False)
onednn_bf16 = _library_gemm(cblas=False, bf16=True)


@intrinsic
def onednn_u8s8s32(typingctx, m, n, k, a, lda, b, ldb, c, ldc, offsets):
    """c = a @ b.T + offsets (added to every row) for uint8 a (m, k), int8 b (n, k), int32 c
    (m, n) and offsets (n,), row-major with leading dimensions lda, ldb, ldc, by oneDNN's
    dnnl_gemm_u8s8s32 (no zero points; exact, as long as its 16-bit pair sums do not
    saturate: backends.has_vnni)."""
    if (a.dtype, b.dtype, c.dtype, offsets.dtype) != (types.uint8, types.int8, types.int32,
                                                      types.int32):
        return None
    sig = types.void(m, n, k, a, lda, b, ldb, c, ldc, offsets)

    def codegen(context, builder, signature, args):
        size = ir.IntType(64)
        real = ir.FloatType()
        fnty = ir.FunctionType(_INT, [_CHAR, _CHAR, _CHAR, size, size, size, real, _VOIDP,
                                      size, _CHAR, _VOIDP, size, _CHAR, real, _VOIDP, size,
                                      _VOIDP])
        fn = cgutils.get_or_insert_function(builder.module, fnty, SYMBOL_U8S8)
        arg_types = signature.args

        def value(i):
            return context.cast(builder, args[i], arg_types[i], types.int64)

        def data(i):
            array = context.make_array(arg_types[i])(context, builder, args[i])
            return builder.bitcast(array.data, _VOIDP)

        def char(text):
            return ir.Constant(_CHAR, ord(text))

        # 'R': one offset per column of c (oneDNN's "row" vector of offsets)
        builder.call(fn, [char("N"), char("T"), char("R"), value(0), value(1), value(2),
                          ir.Constant(real, 1.0), data(3), value(4), ir.Constant(_CHAR, 0),
                          data(5), value(6), ir.Constant(_CHAR, 0), ir.Constant(real, 0.0),
                          data(7), value(8), data(9)])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def gemm_choice(typingctx, shape_class):
    """The library serving a shape class: an entry of backends.choice, read at every call
    (an external global, so a table chosen after compiling reaches cached kernels)."""
    def codegen(context, builder, signature, args):
        module = builder.module
        table = module.globals.get(SYMBOL_CHOICE)
        if table is None:
            table = ir.GlobalVariable(module, ir.ArrayType(_CHAR, N_CLASSES), SYMBOL_CHOICE)
            table.linkage = "external"
        index = context.cast(builder, args[0], signature.args[0], types.intp)
        value = builder.load(builder.gep(table, [ir.Constant(ir.IntType(64), 0), index]))
        return builder.sext(value, context.get_value_type(types.int64))

    return types.int64(shape_class), codegen


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


class KernelLocator(caching.UserWideCacheLocator):
    """Numba's cache locator for fastbp's own kernels: every source folder of the package
    caches under cache.KERNEL_DIR, in a sub-folder named by its path in the package (not on
    disk), so the cache never lands in a checkout and a copy of it stays valid wherever the
    same sources are installed (Numba stamps each entry with its file's content hash)."""

    def __init__(self, py_func, py_file):
        super().__init__(py_func, py_file)
        folder = Path(py_file).resolve().parent.relative_to(PACKAGE)
        self._cache_path = str(KERNEL_DIR / ".".join(("fastbp",) + folder.parts))

    @classmethod
    def from_function(cls, py_func, py_file):
        if not Path(py_file).resolve().is_relative_to(PACKAGE):
            return None  # not fastbp's: Numba's own locators decide
        return super().from_function(py_func, py_file)


def use_kernel_cache():
    """Cache fastbp's kernels under cache.KERNEL_DIR (seeded with those compiled when the
    installed wheel was built): called before any kernel is defined (Numba picks a
    function's cache folder when it is decorated)."""
    seed()
    if KernelLocator not in caching.CacheImpl._locator_classes:
        caching.CacheImpl._locator_classes.insert(0, KernelLocator)
