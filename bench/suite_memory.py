"""asv: peak memory of a fit (data subset + parameters + workspace + runtime)."""

import os
import tempfile
import tracemalloc

import numpy as np

from bench.common import data, peak_growth_bytes, targets, warm_network
from bench.configs import CONFIGS
from fastbp import Network
from fastbp.engine.layout import workspace_size


class FitMemory:
    params = list(CONFIGS)
    param_names = ["config"]
    timeout = 600

    def setup_cache(self):
        # Loaded once in another process: the full Fashion-MNIST load would otherwise set
        # the benchmark process's peak, hiding the fit's.
        return data()

    def setup(self, subset, config):
        X, y, _, _ = subset
        self.cfg, self.net = warm_network(config, source=subset)
        self.X, self.target = X, targets(self.cfg, y)

    def _fit(self):
        self.net.fit(self.X, self.target, epochs=1, batch_size=self.cfg.batch_size,
                     lr=self.cfg.lr)

    def peakmem_fit(self, subset, config):
        self._fit()

    def track_fit_growth_of_budget(self, subset, config):
        """Peak RSS growth of fit over the resident set just before it, as a fraction of
        issue 4's budget: data + 3 x parameters + workspace + 100 MB (<= 1 is within)."""
        itemsize = self.net.params.itemsize
        budget = (self.X.nbytes + np.asarray(self.target).nbytes
                  + 3 * self.net.params.nbytes + 100 * 2 ** 20
                  + workspace_size(self.net.sizes, self.cfg.batch_size) * itemsize)
        return peak_growth_bytes(self._fit) / budget

    track_fit_growth_of_budget.unit = "fraction"


class MemmapFitMemory:
    """A fit over the training images as a uint8 memory map (input_scale=1/255): the memory
    it allocates, as a fraction of the float32 copy of X it avoids (issue 27: under 0.15).
    Measured with tracemalloc (NumPy's allocations): the file's cached pages, which the
    resident set counts while they are mapped, are not the process's to free."""

    timeout = 600

    def setup(self):
        X, y, _, _ = data()
        self.folder = tempfile.TemporaryDirectory()
        path = os.path.join(self.folder.name, "images.u8")
        images = np.clip(np.rint(X * 255), 0, 255).astype(np.uint8)
        images.tofile(path)
        self.X = np.memmap(path, dtype=np.uint8, mode="r", shape=images.shape)
        self.y = y
        self.net = Network([X.shape[1], 128, 10], seed=0, input_scale=1 / 255)
        self.net.fit(self.X[:256], y[:256], batch_size=64)  # compiled before measuring

    def teardown(self):
        del self.X
        self.folder.cleanup()

    def track_memmap_fit_allocated_fraction(self):
        tracemalloc.start()
        try:
            self.net.fit(self.X, self.y, batch_size=64)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return peak / (self.X.size * 4)

    track_memmap_fit_allocated_fraction.unit = "fraction"
