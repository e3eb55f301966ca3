"""The integer codes by which kernels select an activation, a loss or an optimizer.

Kernels take codes rather than functions so that one compiled (and disk-cached) loop serves
every network: a kernel that takes a compiled function as an argument misses Numba's disk
cache in every new process (bench/perf_log.md). No Numba import here: validation reads
these names without loading the engine.
"""

from typing import NamedTuple

# The fixed settings of two activations, which the exporters (ONNX, PyTorch) write too:
# leaky_relu(z) = z for z > 0, else LEAKY_SLOPE * z; elu(z) = z for z > 0, else
# ELU_ALPHA * (exp(z) - 1) (the kernels compute it with ELU_ALPHA = 1).
LEAKY_SLOPE = 0.01
ELU_ALPHA = 1.0


class Activation(NamedTuple):
    """One activation, as the kernels and the exporters know it."""
    name: str
    hidden: bool  # may follow a hidden layer (softmax and exp are output activations only)
    he_init: bool  # init="auto" gives the layer before it He initialisation (else Xavier)
    torch_module: str | None  # its torch.nn module (None: no module, identity or exp)
    torch_settings: dict  # the module's settings: for each, the values that mean fastbp's
    #                      activation, the first being the one fastbp.to_torch builds with
    onnx_op: str | None  # its ONNX operator, with onnx_attributes (None: gelu, composed)
    onnx_attributes: dict


# The registry: an activation's code is its index here.
REGISTRY = (
    Activation("identity", True, False, None, {}, "Identity", {}),
    Activation("sigmoid", True, False, "Sigmoid", {}, "Sigmoid", {}),
    Activation("tanh", True, False, "Tanh", {}, "Tanh", {}),
    Activation("relu", True, True, "ReLU", {}, "Relu", {}),
    Activation("leaky_relu", True, True, "LeakyReLU", {"negative_slope": (LEAKY_SLOPE,)},
               "LeakyRelu", {"alpha": LEAKY_SLOPE}),
    Activation("elu", True, True, "ELU", {"alpha": (ELU_ALPHA,)}, "Elu", {"alpha": ELU_ALPHA}),
    Activation("softplus", True, False, "Softplus", {"beta": (1.0,)}, "Softplus", {}),
    Activation("gelu", True, True, "GELU", {"approximate": ("none",)}, None, {}),
    Activation("softmax", False, False, "Softmax", {"dim": (-1, 1, None)}, "Softmax",
               {"axis": -1}),
    Activation("exp", False, False, None, {}, "Exp", {}),
)
ACTIVATIONS = tuple(activation.name for activation in REGISTRY)
(IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU, ELU, SOFTPLUS, GELU, SOFTMAX,
 EXP) = range(len(ACTIVATIONS))
BY_NAME = {activation.name: activation for activation in REGISTRY}
HIDDEN_ACTIVATIONS = tuple(a.name for a in REGISTRY if a.hidden)
RELU_FAMILY = tuple(code for code, a in enumerate(REGISTRY) if a.he_init)

LOSSES = ("mse", "cross_entropy", "binary_cross_entropy", "poisson")
MSE, CROSS_ENTROPY, BINARY_CROSS_ENTROPY, POISSON = range(len(LOSSES))

SGD, ADAM, RMSPROP = range(3)

# The input precision of the products (engine/precision.py): float32, or bfloat16 operands
# with float32 sums.
PRECISIONS = ("float32", "bfloat16")
FLOAT32, BFLOAT16 = range(len(PRECISIONS))

# Kernels are compiled for the codes one network uses: ``kinds`` is the set of them as one
# int, a compile-time constant of the kernels (loops.py): bit c for each activation code c
# used, bit LOSS_BIT + the loss code, and bit OPTIMIZER_BIT + the optimizer code when the
# training step has one apart from plain SGD fused into the gradient product. Code is
# compiled for the codes in the set only; a kernel whose set holds several losses or
# optimizers picks one at run time by the code its data carries (the layer table's loss
# field, records.Hyper's code), as it always does for the activations. Bit BF16_BIT says
# that the products take bfloat16 operands: a kernel set is compiled for one precision.
LOSS_BIT = 16
OPTIMIZER_BIT = 24
BF16_BIT = 30
OPTIMIZERS = (SGD, ADAM, RMSPROP)


def kinds(activation_codes, loss_codes, precision=FLOAT32):
    """The int naming the activation codes, the losses and the precision (a code of
    PRECISIONS) a kernel serves (no optimizer)."""
    value = 1 << BF16_BIT if precision == BFLOAT16 else 0
    for code in set(loss_codes):
        value |= 1 << (LOSS_BIT + code)
    for code in set(activation_codes):
        value |= 1 << code
    return value


def general_kinds(precision=FLOAT32):
    """The kinds of the kernels that serve every network of a precision: every activation
    and loss (and, through with_optimizer, every optimizer)."""
    return kinds(range(len(ACTIVATIONS)), range(len(LOSSES)), precision)


def with_optimizer(kinds_value, optimizer_codes):
    """kinds_value, also naming the optimizers (empty: plain SGD fused into the gradient)."""
    for code in optimizer_codes:
        kinds_value |= 1 << (OPTIMIZER_BIT + code)
    return kinds_value


def uses(kinds_value, activation_code):
    """Whether kinds_value includes this activation code."""
    return bool(kinds_value >> activation_code & 1)


def losses_of(kinds_value):
    """The loss codes of kinds_value."""
    return tuple(code for code in range(len(LOSSES)) if kinds_value >> (LOSS_BIT + code) & 1)


def optimizers_of(kinds_value):
    """The optimizer codes of kinds_value (empty: plain SGD fused into the gradient)."""
    return tuple(code for code in OPTIMIZERS if kinds_value >> (OPTIMIZER_BIT + code) & 1)


def rounds_to_bf16(kinds_value):
    """Whether kinds_value's products take bfloat16 operands."""
    return bool(kinds_value >> BF16_BIT & 1)
