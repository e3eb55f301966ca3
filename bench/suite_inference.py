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


class ForwardOneRow:
    """Latency of serving one row (float32): forward and predict of a single test image."""
    params = list(CONFIGS)
    param_names = ["config"]

    def setup(self, config):
        _, self.net = warm_network(config)
        self.row = data()[2][:1].copy()

    def time_forward_one_row(self, config):
        self.net.forward(self.row)

    def time_predict_one_row(self, config):
        self.net.predict(self.row)
