"""General matrix product C = alpha * op(A) @ op(B) + beta * C, callable from nopython code.

``np.dot`` inside Numba reaches the BLAS that SciPy ships, but only with alpha=1, beta=0.
The fused SGD update ``W += (-lr/n) * delta.T @ a_prev`` needs beta=1, so we call the same
entry point Numba itself uses (``numba_xxgemm``, resolved by symbol name, hence cacheable)
with our own alpha and beta.
"""

import scipy.linalg.cython_blas  # noqa: F401  (Numba's BLAS helper loads its sgemm/dgemm)
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic

from ..config import JIT

_CHAR = ir.IntType(8)
_VOIDP = ir.IntType(8).as_pointer()
_NO_TRANS, _TRANS = ord("n"), ord("t")


@intrinsic
def _xxgemm(typingctx, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """Column-major BLAS gemm on the data pointers of arrays a, b, c (Fortran semantics)."""
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


# OpenBLAS splits a long inner dimension K into blocks whose sizes depend on the thread count,
# which changes the summation order: measured here with 1 vs 2 threads, results differ for
# K = 16 (mod 32) above 448 (float32) or 384 (float64), never for K <= 384. So we cut K into
# blocks of at most 384, multiples of 32, and accumulate them in a fixed order: bitwise the
# same results with 1 or 2 threads (tests/test_training.py checks it).
K_BLOCK = 384


@intrinsic
def any_layout(typingctx, array):
    """The same array (no copy), typed with layout 'A' (any strides): arrays of different
    layouts passed through it share one compiled callee."""
    def codegen(context, builder, signature, args):
        return impl_ret_borrowed(context, builder, signature.return_type, args[0])

    return array.copy(layout="A")(array), codegen


@njit(**JIT)
def _leading(M):
    """Leading dimension of a 2-D view with unit column stride (row stride in elements)."""
    return M.strides[0] // M.itemsize


@njit(**JIT)
def gemm(trans_a, trans_b, alpha, A, B, beta, C):
    """C = alpha * op(A) @ op(B) + beta * C; op transposes if asked. Writes C only.

    A, B, C are 2-D views whose rows may be strided (a column block of a larger row-major
    array) but whose elements within a row are contiguous. Row-major C is column-major C.T =
    op(B).T @ op(A).T, so the operands swap.
    """
    m, n = C.shape
    k = A.shape[0] if trans_a else A.shape[1]
    if m == 0 or n == 0:
        return
    n_blocks = (k + K_BLOCK - 1) // K_BLOCK
    block = ((k + n_blocks - 1) // n_blocks + 31) // 32 * 32
    for k0 in range(0, k, block):
        k1 = min(k0 + block, k)
        # Sub-blocks are views at an offset; the leading dimensions stay those of A and B.
        A_k = A[k0:k1] if trans_a else A[:, k0:k1]
        B_k = B[:, k0:k1] if trans_b else B[k0:k1]
        _xxgemm(_TRANS if trans_b else _NO_TRANS, _TRANS if trans_a else _NO_TRANS,
                n, m, k1 - k0, alpha, B_k, _leading(B), A_k, _leading(A),
                beta if k0 == 0 else 1.0, C, _leading(C))
