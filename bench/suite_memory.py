"""asv: peak memory of a fit (data subset + parameters + workspace + runtime)."""

from bench.common import data, targets, warm_network
from bench.configs import CONFIGS


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

    def peakmem_fit(self, subset, config):
        self.net.fit(self.X, self.target, epochs=1, batch_size=self.cfg.batch_size,
                     lr=self.cfg.lr)
