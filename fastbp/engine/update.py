"""Optimizer steps over the flat parameter buffer, or any contiguous piece of it.

The update rules are PyTorch's (fastbp.optimizers documents them). The state rows (momentum
buffer or moments) are laid out like the parameters, so a piece of the buffer can be
stepped on its own: the parts of a training step each step their share.
"""

import math

import numpy as np
from numba import njit
from numba.extending import overload

from .codes import ADAM, RMSPROP, SGD, optimizers_of
from .config import DRIVER, INTERNAL
from .numba_ext import kinds_value


def step(kinds, hyper, params, grads, first, second, t, lr):
    """One update of the flat params from the mean batch gradient grads at step t (from 1),
    by the optimizer whose code is hyper.code (hyper a records.Hyper), compiled in only when
    kinds names it (codes.kinds; none: nothing to do). Compiled code only.

    Writes params and the state rows first (momentum buffer or first moment) and second
    (second moment; unused by SGD), all laid out like params. Arithmetic runs in the
    parameters' dtype, and every case is one branch-free loop so that LLVM vectorises it.
    """
    raise TypeError("step runs inside compiled kernels only")


@overload(step, prefer_literal=True, jit_options=INTERNAL)
def _step(kinds, hyper, params, grads, first, second, t, lr):
    compiled = optimizers_of(kinds_value(kinds))
    sgd, adam, rmsprop = SGD in compiled, ADAM in compiled, RMSPROP in compiled

    def impl(kinds, hyper, params, grads, first, second, t, lr):
        dt = params.dtype.type
        one, wd, lr_ = dt(1.0), dt(hyper.weight_decay), dt(lr)
        code = hyper.code
        if sgd and code == SGD:
            _sgd(params, grads, first, t, lr_, dt(hyper.momentum), hyper.nesterov != 0, wd)
        if adam and code == ADAM:
            beta1, beta2 = dt(hyper.beta1), dt(hyper.beta2)
            step_size = dt(lr / (1.0 - hyper.beta1 ** t))
            inv_sqrt_bc2 = 1.0 / math.sqrt(1.0 - hyper.beta2 ** t)
            # epsilon hat: eps added to sqrt(v) before its bias correction (optimizers.py)
            eps = dt(hyper.eps * (inv_sqrt_bc2 if hyper.eps_hat != 0 else 1.0))
            inv_sqrt_bc2 = dt(inv_sqrt_bc2)
            m, v = first, second
            if hyper.decoupled != 0:
                shrink = one - lr_ * wd
                for i in range(params.shape[0]):
                    params[i] *= shrink
                wd = dt(0.0)
            for i in range(params.shape[0]):
                g = grads[i] + wd * params[i]
                m[i] = beta1 * m[i] + (one - beta1) * g
                v[i] = beta2 * v[i] + (one - beta2) * g * g
                params[i] -= step_size * m[i] / (np.sqrt(v[i]) * inv_sqrt_bc2 + eps)
        if rmsprop and code == RMSPROP:
            alpha, eps, momentum = dt(hyper.alpha), dt(hyper.eps), dt(hyper.momentum)
            buf, v = first, second
            for i in range(params.shape[0]):
                g = grads[i] + wd * params[i]
                v[i] = alpha * v[i] + (one - alpha) * g * g
                grads[i] = g / (np.sqrt(v[i]) + eps)  # the step direction, in place
            if momentum != 0:
                for i in range(params.shape[0]):
                    buf[i] = momentum * buf[i] + grads[i]
                    params[i] -= lr_ * buf[i]
            else:
                for i in range(params.shape[0]):
                    params[i] -= lr_ * grads[i]

    return impl


@njit(**DRIVER)  # inlined: kinds reaches step as the constant it is
def step_flat(kinds, opt, params, lo, hi, update):
    """step on [lo, hi) of the flat buffers: the optimizer opt (a records.Opt) at update (a
    records.Step: its number and learning rate)."""
    step(kinds, opt.hyper, params[lo:hi], opt.grads[lo:hi], opt.first[lo:hi],
         opt.second[lo:hi], update.number, update.lr)


@njit(**INTERNAL)
def _sgd(params, grads, buf, t, lr, momentum, nesterov, wd):
    """SGD with optional weight decay and (Nesterov) momentum; writes params and buf."""
    n = params.shape[0]
    if wd != 0:
        for i in range(n):
            grads[i] += wd * params[i]
    if momentum == 0:
        for i in range(n):
            params[i] -= lr * grads[i]
        return
    if t == 1:
        for i in range(n):
            buf[i] = grads[i]
    else:
        for i in range(n):
            buf[i] = momentum * buf[i] + grads[i]
    if nesterov:
        for i in range(n):
            params[i] -= lr * (grads[i] + momentum * buf[i])
    else:
        for i in range(n):
            params[i] -= lr * buf[i]


@njit(**INTERNAL)
def sum_of_squares(v):
    """Sum of v[i]**2 in float64, in index order (a fixed order: the same result with any
    thread count)."""
    total = 0.0
    for i in range(v.shape[0]):
        total += float(v[i]) * float(v[i])
    return total


@njit(**INTERNAL)
def clip_to_norm(grads, norm, max_norm):
    """Scale grads (whose global 2-norm, over all of them, is norm) so that the norm is at
    most max_norm, as PyTorch's clip_grad_norm_ does. grads may be any part of the gradient."""
    scale = max_norm / (norm + 1e-6)
    if scale < 1.0:
        s = grads.dtype.type(scale)
        for i in range(grads.shape[0]):
            grads[i] *= s
