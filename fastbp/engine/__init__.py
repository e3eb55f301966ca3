"""fastbp's engine: every compiled kernel, and nothing else above it compiles.

    codes.py        activation, loss and optimizer codes (no Numba import)
    config.py       compilation flags and every tuning constant, with its reason
    numba_ext.py    every use of Numba's internals (intrinsics, library symbols, cache paths)
    backends.py     the matrix-product libraries and which serves each shape class
    cache.py        the per-user cache folder: compiled kernels, the measured product table
    records.py      the named records that cross a kernel's boundary, each field documented
    layout.py       where each layer lives in the flat parameter and workspace buffers
    scalar.py       scalar math written to vectorise (exp, expm1, log1p, sigmoid, softplus)
    elementwise.py  activations, derivatives, output error and dropout over blocks
    gemm.py         matrix products
    update.py       optimizer steps over the flat buffers
    parallel.py     parts onto threads, the barrier, who owns the cores
    step.py         ONE training step, as phases over (part, parts)
    loops.py        compiled loops: a chunk of training, inference, one gradient
    compile_helper.py  a helper process compiling inference while a cold fit compiles training
    int8.py         int8 inference
    model.py        the object the Python layers above talk to: a network's parameters
    session.py      one fit's work with the kernels (workspace, optimizer, dropout, record)

The names below are all the layers above import from the engine (with codes and config).
"""

from .numba_ext import use_kernel_cache

use_kernel_cache()  # before any kernel is defined

from .model import Model, squared_weights  # noqa: E402
from .parallel import share_cores  # noqa: E402
from .records import CSR, Data, Hyper, RawX, Tallies  # noqa: E402
from .session import Session  # noqa: E402

__all__ = ["CSR", "Data", "Hyper", "Model", "RawX", "Session", "Tallies", "share_cores",
           "squared_weights"]
