"""fastbp: fast CPU training of multilayer perceptrons by backpropagation."""

from . import callbacks, datasets, optimizers, schedules
from .network import Network, load
from .training import History


def from_torch(module, loss=None):
    """A Network from a ``torch.nn.Sequential`` of Linear and activation modules, with its
    parameters (fastbp.torch_convert.from_torch has the details)."""
    from .torch_convert import from_torch as convert
    return convert(module, loss)


__all__ = ["Network", "History", "load", "from_torch", "callbacks", "datasets", "optimizers",
           "schedules"]
__version__ = "0.1.0"
