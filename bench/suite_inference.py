"""asv: forward pass over the 10,000 test images."""

from bench.common import data, warm_network
from bench.configs import CONFIGS


class Forward:
    params = (list(CONFIGS), ["float32", "float64"])
    param_names = ["config", "dtype"]
    warmup_time = 0

    def setup(self, config, dtype):
        _, self.net = warm_network(config, dtype)
        self.X_test = data()[2]

    def time_forward(self, config, dtype):
        self.net.forward(self.X_test)
