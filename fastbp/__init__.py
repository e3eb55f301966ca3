"""fastbp: fast CPU training of multilayer perceptrons by backpropagation."""

from .cache import invalidate_stale_cache

invalidate_stale_cache()  # before any kernel loads code cached by an older version

from . import callbacks, datasets, optimizers, schedules  # noqa: E402
from .network import Network  # noqa: E402
from .persist import load  # noqa: E402
from .training import History  # noqa: E402

__all__ = ["Network", "History", "load", "callbacks", "datasets", "optimizers", "schedules"]
__version__ = "0.1.0"
