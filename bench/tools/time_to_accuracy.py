"""Wall time to a Fashion-MNIST test accuracy (default 0.89) for fastbp and its peers, each
following one recipe in a fresh process.

    python bench/tools/time_to_accuracy.py [--target 0.89] [--rounds 3] [--peers ...]

The recipe (README.md, "Time to accuracy"): a 784-256-10 ReLU network with a softmax output
and cross-entropy, Adam (lr 2e-3, betas 0.9 and 0.999, eps 1e-8) with the learning rate
annealed by a cosine over 15 epochs (per epoch), mini-batches of 128 reshuffled every epoch,
pixels in [0, 1], each library's own default initialisation. After every epoch the model is
evaluated on the 10,000 test images; the time to accuracy is the wall time from building
the model (compilation included: fastbp loads its kernels from the disk cache, which a
warm-up process fills first; JAX compiles its epoch) to the end of the first evaluation at
or above the target. scikit-learn's MLPClassifier has no learning-rate schedule for Adam:
it keeps lr 2e-3 (otherwise the same recipe).

Needs the real Fashion-MNIST files (apt-get install dataset-fashion-mnist). Not an asv
suite (bench/tools/ has no __init__.py).
"""

import argparse
import importlib.util
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# The checkout root in place of this folder, whose profile.py would shadow the standard
# library's (PyTorch imports it).
sys.path[0] = str(Path(__file__).resolve().parents[2])

from bench.common import run_with_fair_blas  # noqa: E402

SIZES, LR, BATCH, EPOCHS = (784, 256, 10), 2e-3, 128, 15


def _cosine(epoch):
    """The recipe's learning rate in epoch (from 0)."""
    return LR * 0.5 * (1 + math.cos(math.pi * epoch / EPOCHS))


class Fastbp:
    def __init__(self):
        import fastbp
        self.net = fastbp.Network(list(SIZES), seed=0)
        self.optimizer = fastbp.optimizers.Adam(lr=LR)
        self.schedule = fastbp.schedules.CosineAnnealingLR(EPOCHS)

    def epoch(self, X, y):
        # The optimizer object counts epochs and steps: each call continues the schedule.
        self.net.fit(X, y, epochs=1, batch_size=BATCH, optimizer=self.optimizer,
                     schedule=self.schedule)

    def accuracy(self, X, y):
        return self.net.evaluate(X, y)["accuracy"]


class Torch:
    def __init__(self):
        import torch
        torch.set_num_threads(2)
        torch.manual_seed(0)
        self.torch = torch
        self.model = torch.nn.Sequential(torch.nn.Linear(SIZES[0], SIZES[1]), torch.nn.ReLU(),
                                         torch.nn.Linear(SIZES[1], SIZES[2]))
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.schedule = torch.optim.lr_scheduler.CosineAnnealingLR(self.opt, EPOCHS)

    def epoch(self, X, y):
        torch = self.torch
        X, y = torch.from_numpy(X), torch.from_numpy(y)
        order = torch.randperm(len(X))
        for start in range(0, len(X), BATCH):
            rows = order[start:start + BATCH]
            loss = torch.nn.functional.cross_entropy(self.model(X[rows]), y[rows])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        self.schedule.step()

    def accuracy(self, X, y):
        with self.torch.no_grad():
            return float((self.model(self.torch.from_numpy(X)).argmax(1).numpy() == y).mean())


class Jax:
    """Adam written out (the peers here use no optax); an epoch is one jit, lax.scan over
    the full batches, then the last smaller batch."""

    def __init__(self):
        import jax
        import jax.numpy as jnp
        self.jax, self.jnp = jax, jnp
        key = jax.random.PRNGKey(0)
        self.params = []
        for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):  # PyTorch's default, as JAX has none
            key, k_w, k_b = jax.random.split(key, 3)
            bound = 1 / math.sqrt(n_in)
            self.params.append((jax.random.uniform(k_w, (n_out, n_in), minval=-bound,
                                                   maxval=bound),
                                jax.random.uniform(k_b, (n_out,), minval=-bound, maxval=bound)))
        zeros = jax.tree_util.tree_map(jnp.zeros_like, self.params)
        self.state = (zeros, zeros, 0)
        self.key, self.epochs, self._epoch = key, 0, None

    def _logits(self, params, x):
        (W1, b1), (W2, b2) = params
        return self.jax.nn.relu(x @ W1.T + b1) @ W2.T + b2

    def _build(self, n):
        jax, jnp = self.jax, self.jnp
        n_full = n // BATCH

        def loss(params, x, y):
            logits = self._logits(params, x)
            return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], 1))

        grad = jax.grad(loss)

        def step(carry, batch):
            params, (m, v, t), lr = carry
            g = grad(params, *batch)
            t = t + 1
            m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
            v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
            scale = lr / (1 - 0.9 ** t)
            correction = jnp.sqrt(1 - 0.999 ** t)
            params = jax.tree_util.tree_map(
                lambda p, m, v: p - scale * m / (jnp.sqrt(v) / correction + 1e-8), params, m, v)
            return (params, (m, v, t), lr), None

        def epoch(params, state, lr, X, y, key):
            order = jax.random.permutation(key, n)
            Xs, ys = X[order], y[order]
            full = (Xs[:n_full * BATCH].reshape(n_full, BATCH, -1),
                    ys[:n_full * BATCH].reshape(n_full, BATCH))
            carry, _ = jax.lax.scan(step, (params, state, lr), full)
            if n_full * BATCH < n:
                carry, _ = step(carry, (Xs[n_full * BATCH:], ys[n_full * BATCH:]))
            return carry[0], carry[1]

        return jax.jit(epoch)

    def epoch(self, X, y):
        if self._epoch is None:
            self._epoch = self._build(len(X))
            self._X, self._y = self.jnp.asarray(X), self.jnp.asarray(y)
        self.key, sub = self.jax.random.split(self.key)
        self.params, self.state = self._epoch(self.params, self.state, _cosine(self.epochs),
                                              self._X, self._y, sub)
        self.epochs += 1

    def accuracy(self, X, y):
        logits = self._logits(self.params, self.jnp.asarray(X))
        return float((np.asarray(logits).argmax(1) == y).mean())


class Sklearn:
    def __init__(self):
        from sklearn.neural_network import MLPClassifier
        self.model = MLPClassifier(hidden_layer_sizes=SIZES[1:-1], solver="adam",
                                   learning_rate_init=LR, batch_size=BATCH, random_state=0)

    def epoch(self, X, y):
        self.model.partial_fit(X, y, classes=np.arange(SIZES[-1]))

    def accuracy(self, X, y):
        return float((self.model.predict(X) == y).mean())


PEERS = {"fastbp": Fastbp, "torch": Torch, "jax": Jax, "sklearn": Sklearn}


def worker(peer, target):
    """One run: (seconds, accuracy) after every epoch, until the target or EPOCHS."""
    from fastbp.datasets import load_fashion_mnist
    X, y, X_test, y_test = load_fashion_mnist()
    started = time.perf_counter()
    model = PEERS[peer]()
    curve = []
    for _ in range(EPOCHS):
        model.epoch(X, y)
        accuracy = model.accuracy(X_test, y_test)
        curve.append((time.perf_counter() - started, accuracy))
        if accuracy >= target:
            break
    return curve


def _run(peer, target):
    done = subprocess.run([sys.executable, __file__, "--worker", peer, str(target)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{peer} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.89)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    args = parser.parse_args()
    from fastbp.datasets import find_fashion_mnist
    if find_fashion_mnist() is None:
        parser.error("needs the Fashion-MNIST files: apt-get install dataset-fashion-mnist")
    peers = [p for p in args.peers if p == "fastbp" or importlib.util.find_spec(p) is not None]
    _run("fastbp", 0.0)  # fills fastbp's kernel cache: the runs below start warm
    runs = {p: [] for p in peers}
    for r in range(args.rounds):  # interleaved, every peer once per round
        for p in peers:
            print(f"round {r + 1}/{args.rounds}: {p}", file=sys.stderr, flush=True)
            runs[p].append(_run(p, args.target))
    print(f"| library | time to {args.target} (best, median of {args.rounds}) | epochs | "
          f"accuracy then |")
    print("|---|---|---|---|")
    for p, curves in runs.items():
        reached = sorted((c[-1][0], len(c), c[-1][1]) for c in curves if c[-1][1] >= args.target)
        if not reached:
            best = max(c[-1][1] for c in curves)
            print(f"| {p} | not reached in {EPOCHS} epochs (best {best:.4f}) | | |")
            continue
        median = reached[len(reached) // 2][0]
        seconds, epochs, accuracy = reached[0]
        missed = len(curves) - len(reached)
        print(f"| {p} | {seconds:.1f} s, {median:.1f} s"
              + (f" ({missed} runs missed)" if missed else "")
              + f" | {epochs} | {accuracy:.4f} |")
    return 0


if __name__ == "__main__":
    run_with_fair_blas()
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], float(sys.argv[3]))))
    else:
        sys.exit(main())
