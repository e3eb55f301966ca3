"""asv: peak memory of a fit (data subset + parameters + workspace + runtime)."""

import numpy as np

from bench.common import data, peak_growth_bytes, targets, warm_network
from bench.configs import CONFIGS
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
