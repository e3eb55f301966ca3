"""The integer codes by which kernels select an activation, a loss or an optimizer.

Kernels take codes rather than functions so that one compiled (and disk-cached) loop serves
every network: a kernel that takes a compiled function as an argument misses Numba's disk
cache in every new process (bench/perf_log.md). No Numba import here: validation reads
these names without loading the engine.
"""

ACTIVATIONS = ("identity", "sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "gelu",
               "softmax")
IDENTITY, SIGMOID, TANH, RELU, LEAKY_RELU, ELU, SOFTPLUS, GELU, SOFTMAX = range(len(ACTIVATIONS))
HIDDEN_ACTIVATIONS = ACTIVATIONS[:SOFTMAX]
RELU_FAMILY = (RELU, LEAKY_RELU, ELU, GELU)  # He initialisation suits these

LOSSES = ("mse", "cross_entropy", "binary_cross_entropy")
MSE, CROSS_ENTROPY, BINARY_CROSS_ENTROPY = range(len(LOSSES))

SGD, ADAM, RMSPROP = range(3)
# Slots of the float64 hyper-parameter vector the optimizer step reads.
H_MOMENTUM, H_NESTEROV, H_WEIGHT_DECAY, H_BETA1, H_BETA2, H_EPS, H_ALPHA, H_DECOUPLED = range(8)
N_HYPER = 8
