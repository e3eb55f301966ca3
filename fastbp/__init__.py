"""fastbp: fast CPU training of multilayer perceptrons by backpropagation."""

from .network import Network
from .training import History

__all__ = ["Network", "History"]
__version__ = "0.1.0"
