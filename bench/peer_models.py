"""The same network and the same SGD step in every library a user could pick instead.

Each peer is a class built from a Config and identical initial parameters (a list of (W, b)
with W of shape (n_out, n_in)), with ``epoch(X, y, Y)`` (one shuffled pass of plain SGD;
y holds labels, Y one-hot rows) and ``forward(X)`` returning output activations as NumPy.
A peer whose products run in another precision than float32 says so (``precision``); one
that only infers (``inference_only``) trains its warm-up epoch and is timed on forward.
Frameworks are imported inside the classes so that importing this module costs nothing.

Every peer runs on THREADS threads, BENCH_THREADS: peers.py sets it to the cores fastbp cuts
its work for (fastbp.engine.parallel.usable_cores) unless it is set already, as
bench/tools/cores.py does to run each library at 1, 2, 4, ... threads.
"""

import os

import numpy as np

THREADS = int(os.environ.get("BENCH_THREADS") or os.cpu_count() or 1)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


class FastbpPeer:
    precision = "float32"
    network_precision = "float32"  # the Network's (an int8 peer infers from a float32 one)

    def __init__(self, cfg, init, seed):
        import warnings

        import numba
        numba.set_num_threads(min(THREADS, numba.config.NUMBA_NUM_THREADS))
        self.cfg = cfg
        with warnings.catch_warnings():  # bf16 emulated: the table says so
            warnings.simplefilter("ignore", RuntimeWarning)
            self.net = cfg.network(seed=seed, precision=self.network_precision)
        for (W, b), W_net, b_net in zip(init, self.net.weights, self.net.biases):
            W_net[:] = W
            b_net[:] = b

    def epoch(self, X, y, Y):
        self.net.fit(X, Y if self.cfg.loss == "mse" else y, epochs=1,
                     batch_size=self.cfg.batch_size, lr=self.cfg.lr)

    def forward(self, X):
        return self.net.forward(X)


class FastbpBf16Peer(FastbpPeer):
    """fastbp with precision="bfloat16": the products' operands rounded to bfloat16, float32
    sums, parameters and SGD (on the CPU's bf16 units where it has them, else emulated)."""

    precision = network_precision = "bfloat16"


class NumpyPeer:
    """The clean vectorised textbook loop: per mini-batch matrix products, in-place update."""

    def __init__(self, cfg, init, seed):
        self.cfg = cfg
        self.W = [W.copy() for W, _ in init]
        self.b = [b.copy() for _, b in init]
        self.rng = np.random.default_rng(seed)

    def _hidden(self, z):
        return _sigmoid(z) if self.cfg.hidden == "sigmoid" else np.maximum(z, 0)

    def _output(self, z):
        if self.cfg.output == "sigmoid":
            return _sigmoid(z)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def _activations(self, x):
        a = [x]
        for l, (W, b) in enumerate(zip(self.W, self.b)):
            z = a[-1] @ W.T + b
            a.append(self._output(z) if l == len(self.W) - 1 else self._hidden(z))
        return a

    def epoch(self, X, y, Y):
        order = self.rng.permutation(len(X))
        lr, B = self.cfg.lr, self.cfg.batch_size
        for start in range(0, len(X), B):
            rows = order[start:start + B]
            a = self._activations(X[rows])
            delta = a[-1] - Y[rows]
            if self.cfg.loss == "mse":
                delta *= a[-1] * (1 - a[-1])
            for l in range(len(self.W) - 1, -1, -1):
                grad_W = delta.T @ a[l]
                grad_b = delta.sum(axis=0)
                if l > 0:
                    delta = delta @ self.W[l]
                    delta *= a[l] * (1 - a[l]) if self.cfg.hidden == "sigmoid" else a[l] > 0
                self.W[l] -= (lr / len(rows)) * grad_W
                self.b[l] -= (lr / len(rows)) * grad_b

    def forward(self, X):
        return self._activations(X)[-1]


class TorchPeer:
    """nn.Sequential of nn.Linear, torch.optim.SGD, batches by indexing a permutation."""

    def __init__(self, cfg, init, seed):
        import torch
        torch.set_num_threads(THREADS)
        torch.manual_seed(seed)
        self.torch, self.cfg = torch, cfg
        layers = []
        for l, (W, b) in enumerate(init):
            linear = torch.nn.Linear(W.shape[1], W.shape[0])
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W))
                linear.bias.copy_(torch.from_numpy(b))
            layers.append(linear)
            if l < len(init) - 1:
                layers.append(torch.nn.Sigmoid() if cfg.hidden == "sigmoid" else torch.nn.ReLU())
        self.model = torch.nn.Sequential(*layers)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=cfg.lr)

    def _loss(self, logits, y, Y):
        if self.cfg.loss == "mse":  # sigmoid output, 0.5 * squared error summed, batch mean
            return 0.5 * ((self.torch.sigmoid(logits) - Y) ** 2).sum(dim=1).mean()
        return self.torch.nn.functional.cross_entropy(logits, y)

    def _precision(self):
        """The context the forward pass and the loss run in: none (float32)."""
        import contextlib
        return contextlib.nullcontext()

    def epoch(self, X, y, Y):
        torch = self.torch
        X, y, Y = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(Y)
        order = torch.randperm(len(X))
        B = self.cfg.batch_size
        for start in range(0, len(X), B):
            rows = order[start:start + B]
            with self._precision():
                loss = self._loss(self.model(X[rows]), y[rows], Y[rows])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()

    def forward(self, X):
        with self.torch.no_grad(), self._precision():
            logits = self.model(self.torch.from_numpy(X)).float()
            out = self.torch.sigmoid(logits) if self.cfg.output == "sigmoid" \
                else self.torch.softmax(logits, dim=1)
        return out.numpy()


class TorchBf16Peer(TorchPeer):
    """PyTorch's mixed precision as its documentation shows it: the forward pass and the loss
    under torch.autocast("cpu", dtype=torch.bfloat16) (Linear layers multiply bf16
    operands, the backward pass follows), float32 parameters and torch.optim.SGD."""

    precision = "bfloat16"

    def _precision(self):
        return self.torch.autocast("cpu", dtype=self.torch.bfloat16)


class OnnxRuntimePeer(TorchPeer):
    """Inference only: the PyTorch model (trained as TorchPeer trains it) exported with
    torch.onnx.export and run by ONNX Runtime, as users deploy such models."""

    inference_only = True

    def __init__(self, cfg, init, seed):
        super().__init__(cfg, init, seed)
        self.session = None

    def epoch(self, X, y, Y):
        super().epoch(X, y, Y)
        self.session = None  # new parameters: export again

    def _exported(self):
        """The trained model with its output activation, as ONNX bytes."""
        import io
        torch = self.torch
        output = torch.nn.Sigmoid() if self.cfg.output == "sigmoid" else torch.nn.Softmax(1)
        exported = io.BytesIO()
        torch.onnx.export(torch.nn.Sequential(self.model, output),
                          (torch.zeros(1, self.cfg.sizes[0]),), exported,
                          input_names=["x"], output_names=["p"],
                          dynamic_axes={"x": {0: "rows"}, "p": {0: "rows"}}, dynamo=False)
        return exported.getvalue()

    def forward(self, X):
        if self.session is None:
            import onnxruntime
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = THREADS
            self.session = onnxruntime.InferenceSession(self._exported(), options,
                                                        providers=["CPUExecutionProvider"])
        return self.session.run(None, {"x": X})[0]


class OnnxRuntimeInt8Peer(OnnxRuntimePeer):
    """The same ONNX model after ONNX Runtime's dynamic int8 quantization (quantize_dynamic:
    int8 weights per output channel, uint8 activations quantized per batch at run time), with
    ``reduce_range`` (7-bit weights) on CPUs without VNNI, as ONNX Runtime advises for them."""

    precision = "int8"

    def _exported(self):
        import tempfile
        from pathlib import Path

        import fastbp.engine.backends
        from onnxruntime.quantization import QuantType, quantize_dynamic
        with tempfile.TemporaryDirectory() as folder:
            source, target = Path(folder) / "float.onnx", Path(folder) / "int8.onnx"
            source.write_bytes(super()._exported())
            quantize_dynamic(source, target, per_channel=True, weight_type=QuantType.QInt8,
                             reduce_range=not fastbp.engine.backends.has_vnni())
            return target.read_bytes()


class FastbpInt8Peer(FastbpPeer):
    """Inference only: the network trained as FastbpPeer trains it, then quantized
    (Network.quantize, calibrated on the first 1000 training rows)."""

    inference_only = True
    precision = "int8"

    def epoch(self, X, y, Y):
        super().epoch(X, y, Y)
        self.quantized = self.net.quantize(X[:1000])

    def forward(self, X):
        return self.quantized.forward(X)


class JaxPeer:
    """jax.grad of the loss; a whole epoch inside one jax.jit, lax.scan over mini-batches."""

    def __init__(self, cfg, init, seed):
        import jax
        import jax.numpy as jnp
        self.jax, self.jnp, self.cfg = jax, jnp, cfg
        self.params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in init]
        self.key = jax.random.PRNGKey(seed)
        self._epoch = None

    def _logits(self, params, x):
        jax = self.jax
        for W, b in params[:-1]:
            z = x @ W.T + b
            x = jax.nn.sigmoid(z) if self.cfg.hidden == "sigmoid" else jax.nn.relu(z)
        W, b = params[-1]
        return x @ W.T + b

    def _loss(self, params, x, Y):
        jnp, jax = self.jnp, self.jax
        logits = self._logits(params, x)
        if self.cfg.loss == "mse":
            return 0.5 * jnp.mean(jnp.sum((jax.nn.sigmoid(logits) - Y) ** 2, axis=1))
        return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(logits), axis=1))

    def _build(self, n):
        jax = self.jax
        B, lr = self.cfg.batch_size, self.cfg.lr
        n_full = n // B
        grad = jax.grad(self._loss)

        def step(params, batch):
            g = grad(params, *batch)
            return jax.tree_util.tree_map(lambda p, gp: p - lr * gp, params, g), None

        def epoch(params, X, Y, key):
            order = jax.random.permutation(key, n)
            Xs, Ys = X[order], Y[order]
            batches = (Xs[:n_full * B].reshape(n_full, B, -1), Ys[:n_full * B].reshape(n_full, B, -1))
            params, _ = jax.lax.scan(step, params, batches)
            if n_full * B < n:  # the last, smaller batch
                params, _ = step(params, (Xs[n_full * B:], Ys[n_full * B:]))
            return params

        return jax.jit(epoch)

    def epoch(self, X, y, Y):
        if self._epoch is None:
            self._epoch = self._build(len(X))
            self._X, self._Y = self.jnp.asarray(X), self.jnp.asarray(Y)
        self.key, sub = self.jax.random.split(self.key)
        self.params = self._epoch(self.params, self._X, self._Y, sub)
        self.jax.block_until_ready(self.params)

    def forward(self, X):
        logits = self._logits(self.params, self.jnp.asarray(X))
        out = self.jax.nn.sigmoid(logits) if self.cfg.output == "sigmoid" \
            else self.jax.nn.softmax(logits)
        return np.asarray(out)


class SklearnPeer:
    """MLPClassifier(solver="sgd", momentum=0, alpha=0), one epoch per partial_fit.

    scikit-learn has no sigmoid + squared-error classifier: for the nielsen configuration it
    runs the same layer sizes with its softmax + log-loss output (the same FLOP count).
    """

    def __init__(self, cfg, init, seed):
        from sklearn.neural_network import MLPClassifier
        self.cfg, self.init = cfg, init
        self.model = MLPClassifier(
            hidden_layer_sizes=cfg.sizes[1:-1], activation="logistic" if cfg.hidden == "sigmoid"
            else "relu", solver="sgd", learning_rate_init=cfg.lr, momentum=0.0, alpha=0.0,
            batch_size=cfg.batch_size, shuffle=True, random_state=seed)
        self.started = False

    def epoch(self, X, y, Y):
        if not self.started:  # partial_fit builds the layers; then load the shared init
            self.model.partial_fit(X[:self.cfg.batch_size], y[:self.cfg.batch_size],
                                   classes=np.arange(10))
            for (W, b), coef, intercept in zip(self.init, self.model.coefs_,
                                               self.model.intercepts_):
                coef[:] = W.T  # in place: the solver holds references to these arrays
                intercept[:] = b
            self.started = True
        self.model.partial_fit(X, y)

    def forward(self, X):
        return self.model.predict_proba(X)


PEERS = {"fastbp": FastbpPeer, "numpy": NumpyPeer, "torch": TorchPeer, "jax": JaxPeer,
         "sklearn": SklearnPeer, "onnxruntime": OnnxRuntimePeer, "fastbp-int8": FastbpInt8Peer,
         "onnxruntime-int8": OnnxRuntimeInt8Peer, "fastbp-bf16": FastbpBf16Peer,
         "torch-bf16": TorchBf16Peer}
# The modules each peer needs, to skip it with a note when one is not installed.
REQUIRES = {"fastbp": ["fastbp"], "numpy": ["numpy"], "torch": ["torch"], "jax": ["jax"],
            "sklearn": ["sklearn"], "onnxruntime": ["onnxruntime", "onnx", "torch"],
            "fastbp-int8": ["fastbp"], "onnxruntime-int8": ["onnxruntime", "onnx", "torch"],
            "fastbp-bf16": ["fastbp"], "torch-bf16": ["torch"]}
