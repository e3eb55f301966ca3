"""fastbp: fast CPU training of multilayer perceptrons by backpropagation."""

from . import callbacks, datasets, optimizers, schedules
from .network import Network, load
from .training import History

__all__ = ["Network", "History", "load", "callbacks", "datasets", "optimizers", "schedules"]
__version__ = "0.1.0"
