"""Where a bfloat16 network's products read their operands, and where the step rounds them.

A network of precision "bfloat16" (codes.BF16_BIT in its kinds) keeps its parameters, its
optimizer state, its z, a and delta in float32; only what feeds a matrix product is rounded
to bfloat16 (round to nearest, ties to even: bf16.py), into the workspace's operands
(layout.py), at these points, each written by the part that computed the values, before the
barrier that ends its phase:

    gather phase    the batch's x (its rows), and the weights (a share of the flat buffer):
                    once per step, after the previous step's update
    forward phase   a hidden layer's activations as the next layer reads them (after
                    dropout), for its product and for the gradient of the next layer
    forward phase   the output layer's delta (eq. 1), for eq. 7 and the gradient
    backward phase  each hidden layer's delta (eq. 7, after sigma' and dropout)

The products (forward, eq. 7, eq. 3) then read operands only, and sum in float32. What is not
a product's operand stays float32: the bias gradient sums the float32 delta, sigma' reads the
float32 z and a, the loss reads the float32 output. Every rounded element is computed by the
same part whichever thread runs it, so results stay the same on any number of threads.

A float32 network's kernels compile every function here to what it was before: the
functions below are overloads that read the precision bit of the compile-time ``kinds``, so
the branches of the other precision are not compiled. Compiled code only.
"""

from numba import njit
from numba.extending import overload

from .bf16 import to_bf16
from .codes import rounds_to_bf16
from .config import INTERNAL
from .layout import (DELTA, DELTA_BF16, FED_BF16, fed_block, layer_block, layer_input,
                     operand_block, operand_params, operand_x)
from .numba_ext import kinds_value
from .parallel import FLAT_ALIGN, share


def _bf16(kinds):
    return rounds_to_bf16(kinds_value(kinds))


def product_params(kinds, model, space):
    """The flat buffer whose weights the products read: the parameters, or their bfloat16
    copy in space's operands."""
    raise TypeError("product_params runs inside compiled kernels only")


@overload(product_params, prefer_literal=True, inline="always", jit_options=INTERNAL)
def _product_params(kinds, model, space):
    if _bf16(kinds):
        return lambda kinds, model, space: operand_params(space)
    return lambda kinds, model, space: model.params


def product_input(kinds, x, space, l, noise):
    """What layer l's products read of a batch whose inputs are x (n, n_0): layout's
    layer_input, or its bfloat16 copy in space's operands."""
    raise TypeError("product_input runs inside compiled kernels only")


@overload(product_input, prefer_literal=True, inline="always", jit_options=INTERNAL)
def _product_input(kinds, x, space, l, noise):
    if _bf16(kinds):
        return lambda kinds, x, space, l, noise: _operand_input(space, x.shape[0], l)
    return lambda kinds, x, space, l, noise: layer_input(x, space, l, noise)


@njit(**INTERNAL)
def _operand_input(space, n, l):
    """The bfloat16 copy of what layer l of an n-row batch reads (not inlined: its two
    returns, inlined, tripped Numba's SSA check)."""
    if l == 0:
        return operand_x(space, n)
    return operand_block(space, n, l - 1, FED_BF16)


def product_delta(kinds, space, n, l):
    """The delta of layer l of an n-row batch as the products read it: its block of the
    workspace, or its bfloat16 copy in space's operands."""
    raise TypeError("product_delta runs inside compiled kernels only")


@overload(product_delta, prefer_literal=True, inline="always", jit_options=INTERNAL)
def _product_delta(kinds, space, n, l):
    if _bf16(kinds):
        return lambda kinds, space, n, l: operand_block(space, n, l, DELTA_BF16)
    return lambda kinds, space, n, l: layer_block(space, n, l, DELTA)


def round_inputs(kinds, space, x, lo, hi):
    """Rows [lo, hi) of the batch inputs x rounded into space's operands (nothing for
    float32)."""
    raise TypeError("round_inputs runs inside compiled kernels only")


@overload(round_inputs, prefer_literal=True, inline="always", jit_options=INTERNAL)
def _round_inputs(kinds, space, x, lo, hi):
    if _bf16(kinds):
        return lambda kinds, space, x, lo, hi: to_bf16(
            x[lo:hi], operand_x(space, x.shape[0])[lo:hi])
    return lambda kinds, space, x, lo, hi: None


def round_weights(kinds, model, space, part):
    """Part's share (a records.Part) of the flat parameters rounded into space's operands
    (nothing for float32)."""
    raise TypeError("round_weights runs inside compiled kernels only")


@overload(round_weights, prefer_literal=True, inline="always", jit_options=INTERNAL)
def _round_weights(kinds, model, space, part):
    if _bf16(kinds):
        def impl(kinds, model, space, part):
            lo, hi = share(part.index, part.count, model.params.shape[0], FLAT_ALIGN)
            # as one row: to_bf16 takes 2-D blocks (the biases are rounded too, unread)
            to_bf16(model.params[lo:hi].reshape((1, hi - lo)),
                    operand_params(space)[lo:hi].reshape((1, hi - lo)))
        return impl
    return lambda kinds, model, space, part: None


def round_fed(kinds, space, l, block, noise):
    """A block (records.Block) of what hidden layer l feeds the next layer (its activations,
    after dropout) rounded into space's operands; nothing for float32 or the output layer."""
    raise TypeError("round_fed runs inside compiled kernels only")


@overload(round_fed, prefer_literal=True, inline="always", jit_options=INTERNAL)
def _round_fed(kinds, space, l, block, noise):
    if not _bf16(kinds):
        return lambda kinds, space, l, block, noise: None

    def impl(kinds, space, l, block, noise):
        if l == space.table.shape[0] - 1:  # the output feeds no product
            return
        n, r0, r1, u0, u1 = block
        to_bf16(fed_block(space, n, l, noise)[r0:r1, u0:u1],
                operand_block(space, n, l, FED_BF16)[r0:r1, u0:u1])
    return impl


def round_delta(kinds, space, l, block):
    """A block (records.Block) of layer l's delta rounded into space's operands (nothing for
    float32)."""
    raise TypeError("round_delta runs inside compiled kernels only")


@overload(round_delta, prefer_literal=True, inline="always", jit_options=INTERNAL)
def _round_delta(kinds, space, l, block):
    if not _bf16(kinds):
        return lambda kinds, space, l, block: None

    def impl(kinds, space, l, block):
        n, r0, r1, u0, u1 = block
        to_bf16(layer_block(space, n, l, DELTA)[r0:r1, u0:u1],
                operand_block(space, n, l, DELTA_BF16)[r0:r1, u0:u1])
    return impl

