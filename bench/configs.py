"""The four standard configurations the benchmarks measure (bench/README.md)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    name: str
    sizes: tuple
    hidden: str          # hidden activation
    output: str          # output activation
    loss: str
    batch_size: int
    lr: float

    @property
    def flop_per_sample(self):
        """Training FLOP per sample: 6 * sum(n_in * n_out) - 2 * sizes[0] * sizes[1]."""
        pairs = sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))
        return 6 * pairs - 2 * self.sizes[0] * self.sizes[1]

    @property
    def inference_flop_per_sample(self):
        """Forward-pass FLOP (or integer OP) per sample: 2 * sum(n_in * n_out)."""
        return 2 * sum(a * b for a, b in zip(self.sizes[:-1], self.sizes[1:]))

    def network(self, dtype="float32", seed=0, **kwargs):
        """The configuration's fastbp.Network; kwargs go to its constructor (e.g. dropout)."""
        import fastbp
        return fastbp.Network(list(self.sizes), activation=self.hidden, output=self.output,
                              loss=self.loss, dtype=dtype, seed=seed, **kwargs)


CONFIGS = {c.name: c for c in [
    Config("nielsen", (784, 30, 10), "sigmoid", "sigmoid", "mse", 10, 3.0),
    Config("small", (784, 128, 10), "relu", "softmax", "cross_entropy", 32, 0.1),
    Config("medium", (784, 256, 128, 10), "relu", "softmax", "cross_entropy", 64, 0.1),
    Config("large", (784, 1024, 1024, 10), "relu", "softmax", "cross_entropy", 256, 0.1),
]}
