"""Networks to and from PyTorch: :meth:`fastbp.Network.to_torch` and
:func:`fastbp.from_torch` (``pip install torch``).

A network is an ``nn.Sequential`` of ``nn.Linear`` layers, each followed by its activation
module (none for identity): nn.Sigmoid, nn.Tanh, nn.ReLU, nn.LeakyReLU(0.01), nn.ELU(1.0),
nn.Softplus(), nn.GELU() and, at the output, nn.Softmax(dim=-1). The parameters are copied,
in the network's dtype, so both compute the same function. A network's input map
(input_scale, input_shift) is folded into the first Linear layer (its weight times the
scale, its bias plus the weight times the shift): the module takes the raw inputs, and its
outputs equal the network's to rounding.
"""

import numpy as np

from .engine.codes import BY_NAME, REGISTRY


def to_torch(weights, biases, activations, dtype, logits=False):
    """A network's layers as an ``nn.Sequential`` (module docstring).

    Parameters
    ----------
    weights, biases : list of ndarray
        Each layer's W (n_out, n_in) and b, with the network's input map folded in
        (Sequential has no per-feature map).
    activations : list of str
        Each layer's activation.
    dtype : np.float32 or np.float64
    logits : bool, default False
        Leave out the output activation, for PyTorch losses that take logits
        (``CrossEntropyLoss``, ``BCEWithLogitsLoss``; ``PoissonNLLLoss(log_input=True)``
        for an exp output, which needs it).

    Returns
    -------
    torch.nn.Sequential
    """
    import torch
    from torch import nn

    layers = []
    dtype = getattr(torch, np.dtype(dtype).name)
    for l, (W, b, activation) in enumerate(zip(weights, biases, activations)):
        linear = nn.Linear(W.shape[1], W.shape[0], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.copy()))
            linear.bias.copy_(torch.from_numpy(b.copy()))
        layers.append(linear)
        output = l == len(weights) - 1
        if activation == "exp" and not logits:
            raise ValueError("PyTorch has no module for an exp output (loss='poisson'): use "
                             "to_torch(logits=True), whose log-rates PoissonNLLLoss("
                             "log_input=True) takes, and torch.exp for the rates")
        if activation != "identity" and not (output and logits):
            known = BY_NAME[activation]
            layers.append(getattr(nn, known.torch_module)(
                **{k: v[0] for k, v in known.torch_settings.items()}))
    return nn.Sequential(*layers)


def read_sequential(module, loss=None):
    """The fastbp Network computing what ``module`` computes.

    Parameters
    ----------
    module : torch.nn.Sequential
        Linear layers, each followed by at most one activation module of the kinds in the
        module docstring (LeakyReLU with slope 0.01, ELU with alpha 1, Softplus with beta 1,
        GELU without approximation only).
    loss : {"cross_entropy", "binary_cross_entropy", "mse"}, optional
        By default from the output activation: cross_entropy after Softmax,
        binary_cross_entropy after Sigmoid, mse otherwise.

    Returns
    -------
    spec : dict
        Network's constructor arguments for the module (its dtype: float32 or float64).
    layers : list of (ndarray, ndarray or None)
        Each Linear layer's weight and bias (None without one).
    """
    from torch import nn

    names = {getattr(nn, a.torch_module): a.name for a in REGISTRY if a.torch_module}
    if not isinstance(module, nn.Sequential):
        raise TypeError(f"from_torch takes an nn.Sequential of Linear and activation modules, "
                        f"got {type(module).__name__}")
    linears, activations = [], []
    for i, child in enumerate(module):
        if isinstance(child, nn.Linear):
            if linears and len(activations) < len(linears):
                activations.append("identity")  # two Linear layers in a row
            linears.append(child)
        elif type(child) in names and len(activations) < len(linears):
            activations.append(_checked(child, names[type(child)]))
        elif isinstance(child, nn.Identity):
            continue
        else:
            raise ValueError(f"module {i} ({child}) is not a Linear layer or one activation "
                             f"after one: from_torch reads Linear layers, each followed by at "
                             f"most one of {', '.join(c.__name__ for c in names)}")
    if not linears:
        raise ValueError("the module has no Linear layer")
    if len(activations) < len(linears):
        activations.append("identity")
    sizes = [linears[0].in_features] + [linear.out_features for linear in linears]
    for a, b in zip(linears[:-1], linears[1:]):
        if a.out_features != b.in_features:
            raise ValueError(f"Linear layers do not chain: {a} then {b}")
    if loss is None:
        loss = {"softmax": "cross_entropy", "sigmoid": "binary_cross_entropy"}.get(
            activations[-1], "mse")
    dtype = np.dtype(str(linears[0].weight.dtype).replace("torch.", ""))
    spec = dict(sizes=sizes, activation=activations[:-1], output=activations[-1], loss=loss,
                dtype=dtype)
    layers = [(linear.weight.detach().cpu().numpy(),
               None if linear.bias is None else linear.bias.detach().cpu().numpy())
              for linear in linears]
    return spec, layers


def _checked(child, name):
    """name, if the module child has the settings of fastbp's activation of that name."""
    settings = BY_NAME[name].torch_settings
    if any(getattr(child, key) not in values for key, values in settings.items()):
        raise ValueError(f"{child}: fastbp's {name} has fixed settings ("
                         + ", ".join(f"{key} {values[0]!r}" for key, values in settings.items())
                         + ")")
    return name
