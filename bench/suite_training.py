"""asv: one training epoch (plain SGD, shuffled) of each standard configuration."""

from bench.common import data, targets, warm_network
from bench.configs import CONFIGS


class TrainingEpoch:
    params = (list(CONFIGS), ["float32", "float64"])
    param_names = ["config", "dtype"]
    number = 1
    repeat = (3, 7, 60.0)
    warmup_time = 0
    timeout = 600

    def setup(self, config, dtype):
        self.cfg, self.net = warm_network(config, dtype)
        X, y, _, _ = data()
        # Data in the network's dtype, as a float64 user holds it: otherwise each fit would
        # time a float32 -> float64 copy of X too (nielsen float64: 0.44x float32 with it).
        self.X, self.target = X.astype(dtype), targets(self.cfg, y, dtype)

    def time_epoch(self, config, dtype):
        self.net.fit(self.X, self.target, epochs=1, batch_size=self.cfg.batch_size,
                     lr=self.cfg.lr)
