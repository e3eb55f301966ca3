"""fastbp: fast CPU training of multilayer perceptrons by backpropagation."""

from . import datasets
from .network import Network
from .training import History

__all__ = ["Network", "History", "datasets"]
__version__ = "0.1.0"
