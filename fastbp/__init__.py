"""fastbp: fast CPU training of multilayer perceptrons by backpropagation."""

from . import callbacks, datasets, optimizers, schedules
from .network import Network, from_torch, load
from .training import History


__all__ = ["Network", "History", "load", "from_torch", "callbacks", "datasets", "optimizers",
           "schedules"]
__version__ = "0.1.0"
