"""Optimizers over the flat parameter buffer, with PyTorch's names, parameters and defaults
(but SGD's learning rate: 0.1).

Each optimizer keeps its state (momentum buffer or moment estimates, and the step count) in
flat arrays laid out like ``Network.params``, so reusing one object across ``fit`` calls
continues training exactly as one longer run would. The update runs inside the compiled
training loop: the engine steps them once per mini-batch with the batch's gradient.

Update rules (g is the mean gradient of the batch, p the parameters, t the step count, from 1):

- SGD: g += weight_decay * p; with momentum, buf = g at t = 1, else momentum * buf + g, and
  the step direction is g + momentum * buf (nesterov) or buf; p -= lr * direction.
- Adam: g += weight_decay * p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
  p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps); with ``eps_hat=True``
  (TensorFlow's and scikit-learn's form) p -= lr sqrt(1 - b2^t) / (1 - b1^t) * m /
  (sqrt(v) + eps) instead.
- AdamW: p *= 1 - lr * weight_decay (decoupled), then Adam without the L2 term.
- RMSprop: g += weight_decay * p; v = alpha v + (1 - alpha) g^2; d = g / (sqrt(v) + eps);
  with momentum, buf = momentum * buf + d and p -= lr * buf, else p -= lr * d.
"""

import numpy as np

from .engine import Hyper, codes
from .validation import FRACTION, NON_NEGATIVE, POSITIVE

# Hyper-parameter rules (validation.Rule): every message reads "<name> must ..., got ...".
RULES = {"lr": POSITIVE, "momentum": FRACTION, "weight_decay": NON_NEGATIVE, "eps": POSITIVE,
         "alpha": FRACTION, "betas[0]": FRACTION, "betas[1]": FRACTION}


def check_betas(betas):
    """Adam's (beta1, beta2), each in [0, 1)."""
    try:
        beta1, beta2 = betas
    except (TypeError, ValueError):
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}") from None
    return (float(RULES["betas[0]"]("betas[0]", beta1)),
            float(RULES["betas[1]"]("betas[1]", beta2)))


def check_nesterov(nesterov, momentum):
    """Nesterov momentum needs a momentum."""
    if nesterov and momentum == 0:
        raise ValueError("nesterov=True needs a momentum > 0")
    return bool(nesterov)


def check_state(state, shape, dtype, optimizer_name):
    """An optimizer object's state must fit the network it is used with again."""
    if state.shape != shape or state.dtype != dtype:
        raise ValueError(f"this {optimizer_name} holds state for {state.shape[1]} {state.dtype} "
                         f"parameters; the network has {shape[1]} {np.dtype(dtype)}: use a new "
                         f"optimizer object for another network")


def check_optimizer_choice(optimizer, names, lr, momentum, nesterov, weight_decay):
    """fit's optimizer argument: an object (then lr, momentum, nesterov and weight_decay are
    its own), or one of names (momentum and nesterov only for "sgd"). Returns the name, or
    None for an object."""
    name = optimizer.lower() if isinstance(optimizer, str) else None
    is_object = name is None and all(hasattr(optimizer, a) for a in ("lr", "hyper", "bind"))
    if not is_object and name not in names:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(names)} "
                         f"or pass an object from fastbp.optimizers")
    if is_object:
        if lr is not None:
            raise ValueError("give lr either to fit or to the optimizer object, not both: the "
                             f"object's lr={optimizer.lr} rules")
        if momentum or nesterov or weight_decay is not None:
            raise ValueError("momentum, nesterov and weight_decay belong to the optimizer "
                             "object when one is given")
    elif name != "sgd" and (momentum or nesterov):
        raise ValueError(f"momentum/nesterov are SGD's; for {name} build the object, e.g. "
                         f"fastbp.optimizers.RMSprop(momentum=0.9)")
    return name


class Optimizer:
    """Base class: hyperparameters, flat state and the step count of one optimizer.

    Attributes
    ----------
    lr : float
        Base learning rate (a schedule multiplies it).
    steps : int
        Updates made so far (PyTorch's ``step``); schedules with ``interval="step"`` read it.
    epochs : int
        Epochs completed so far; schedules with ``interval="epoch"`` read it.
    """

    code = codes.SGD
    n_state = 0

    def __init__(self, lr):
        self.lr = _rule("lr", lr)
        self.steps = 0
        self.epochs = 0
        self.state = None

    def hyper(self):
        """The hyper-parameters as the kernels read them (an engine Hyper record)."""
        return Hyper(code=float(self.code), **{name: float(value) for name, value
                                               in self._hyper_fields().items()})

    def _hyper_fields(self):
        """The Hyper fields this optimizer sets (the others are 0)."""
        return {}

    def bind(self, params):
        """Allocate the state for these parameters (once); later fits must match them."""
        shape = (max(self.n_state, 1), params.size)
        if self.state is None:
            self.state = np.zeros(shape, dtype=params.dtype)
        else:
            check_state(self.state, shape, params.dtype, type(self).__name__)

    @property
    def fuses_into_gradient(self):
        """True when the update is p -= lr * g: then it is fused into the gradient product."""
        return False

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                           if k not in ("state", "steps", "epochs"))
        return f"{type(self).__name__}({fields})"


def _rule(name, value):
    """The hyper-parameter as a float, checked by its rule (RULES)."""
    return float(RULES[name](name, value))


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum and L2 weight decay."""

    code = codes.SGD
    n_state = 1

    # lr=0.1, not PyTorch's 1e-3 (a late placeholder there, where lr used to be required):
    # plain SGD at 1e-3 barely moves an MLP in an epoch, and fit(optimizer="sgd") has always
    # meant 0.1, so SGD() and "sgd" are the same optimizer.
    def __init__(self, lr=0.1, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(lr)
        self.momentum = _rule("momentum", momentum)
        self.weight_decay = _rule("weight_decay", weight_decay)
        self.nesterov = check_nesterov(nesterov, self.momentum)

    def _hyper_fields(self):
        return {"momentum": self.momentum, "nesterov": self.nesterov,
                "weight_decay": self.weight_decay}

    @property
    def fuses_into_gradient(self):
        return self.momentum == 0 and self.weight_decay == 0


class Adam(Optimizer):
    """Adam (Kingma and Ba) with PyTorch's bias correction; weight_decay is an L2 term.
    eps_hat=True adds eps before the second moment's bias correction, as TensorFlow and
    scikit-learn do (the paper's "epsilon hat"; module docstring)."""

    code = codes.ADAM
    n_state = 2
    _decoupled = False

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 eps_hat=False):
        super().__init__(lr)
        self.betas = check_betas(betas)
        self.eps = _rule("eps", eps)
        self.weight_decay = _rule("weight_decay", weight_decay)
        self.eps_hat = bool(eps_hat)

    def _hyper_fields(self):
        return {"beta1": self.betas[0], "beta2": self.betas[1], "eps": self.eps,
                "weight_decay": self.weight_decay, "decoupled": self._decoupled,
                "eps_hat": self.eps_hat}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter)."""

    _decoupled = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 eps_hat=False):
        super().__init__(lr, betas, eps, weight_decay, eps_hat)


class RMSprop(Optimizer):
    """RMSprop (uncentred), optionally with momentum and L2 weight decay."""

    code = codes.RMSPROP
    n_state = 2

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0):
        super().__init__(lr)
        self.alpha = _rule("alpha", alpha)
        self.eps = _rule("eps", eps)
        self.weight_decay = _rule("weight_decay", weight_decay)
        self.momentum = _rule("momentum", momentum)

    def _hyper_fields(self):
        return {"alpha": self.alpha, "eps": self.eps, "weight_decay": self.weight_decay,
                "momentum": self.momentum}


NAMES = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


def make(optimizer, lr, momentum, nesterov, weight_decay):
    """The optimizer object fit uses, from a name or an object (see Network.fit)."""
    name = check_optimizer_choice(optimizer, NAMES, lr, momentum, nesterov, weight_decay)
    if name is None:
        return optimizer
    given = {} if lr is None else {"lr": lr}  # else the class's default rate
    if weight_decay is not None:
        given["weight_decay"] = weight_decay
    if name == "sgd":
        return SGD(momentum=momentum, nesterov=nesterov, **given)
    return NAMES[name](**given)


def describe(optimizer, params):
    """The JSON values that restore rebuilds optimizer from (with its state array): class,
    settings, step and epoch counts. optimizer must have trained on params (its state)."""
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a fastbp.optimizers object, got "
                        f"{type(optimizer).__name__}")
    if optimizer.state is None:
        raise ValueError(f"{optimizer!r} has not trained yet: it has no state to save")
    check_state(optimizer.state, (max(optimizer.n_state, 1), params.size), params.dtype,
                type(optimizer).__name__)
    settings = {k: v for k, v in vars(optimizer).items() if k not in ("state", "steps",
                                                                        "epochs")}
    return {"class": type(optimizer).__name__, "settings": settings,
            "steps": optimizer.steps, "epochs": optimizer.epochs}


def restore(described, state, params):
    """The optimizer describe described, with its state array, bound to params."""
    classes = {cls.__name__: cls for cls in NAMES.values()}
    if described.get("class") not in classes:
        raise ValueError(f"unknown optimizer class {described.get('class')!r} in the file")
    optimizer = classes[described["class"]](**described["settings"])
    optimizer.state = np.array(state, dtype=params.dtype)
    optimizer.bind(params)  # checks the state's shape against the network
    optimizer.steps, optimizer.epochs = int(described["steps"]), int(described["epochs"])
    return optimizer
