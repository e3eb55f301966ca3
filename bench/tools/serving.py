"""Serving speed: rows/s at batch 1, 32, 1,000 and 10,000, and the latency of one row (p50,
p99), of fastbp's forward pass (float32, and int8 from Network.quantize) against ONNX
Runtime (the same network exported by Network.to_onnx, in float32 and after ONNX Runtime's
dynamic int8 quantization) and PyTorch (Network.to_torch). The "pixels" systems serve the
same network made to read raw pixels (input_scale=1/255): fastbp's int8 model fed the uint8
images as they are, ONNX Runtime's int8 model fed them converted to float32 beforehand (the
conversion not timed).

    python bench/tools/serving.py                          # the four standard configurations
    python bench/tools/serving.py --configs small --rounds 5

Every configuration's network is trained for one epoch of plain SGD on 10,000 rows
(Fashion-MNIST, or synthetic rows of the same shapes when its files are absent) from the same
seed in every process, so every system serves the same function. Each system runs in its own
process, the systems in a rotated order in each round; a throughput is the best of the
rounds, a latency the round with the lowest median. Batches run on every core
(BENCH_THREADS, as in peers.py), except ONNX Runtime's batches of one row, which run on one
thread as it serves them best; fastbp runs one row on one thread. OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE are unset for every process (fair BLAS, bench/README.md).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path[0] = str(ROOT)  # the checkout, not this folder (whose profile.py shadows Python's)

from bench.common import cpu_description, fair_env, run_with_fair_blas  # noqa: E402
from bench.configs import CONFIGS  # noqa: E402

BATCHES = (1, 32, 1000, 10000)
SYSTEMS = ("fastbp", "fastbp-int8", "onnxruntime", "onnxruntime-int8", "torch",
           "fastbp-int8-pixels", "onnxruntime-int8-pixels")
# Each system's rows/s against its peer's in the summary.
PEERS = (("fastbp", "onnxruntime"), ("fastbp-int8", "onnxruntime-int8"),
         ("fastbp-int8-pixels", "onnxruntime-int8-pixels"))
LATENCY_CALLS = 3000


def _network(config):
    """The configuration's network after one epoch on 10,000 rows; the test rows."""
    from bench.data import fashion_mnist_or_synthetic, one_hot
    X, y, X_test, _, _ = fashion_mnist_or_synthetic()
    cfg = CONFIGS[config]
    net = cfg.network()
    net.fit(X[:10000], one_hot(y[:10000]) if cfg.loss == "mse" else y[:10000], epochs=1,
            batch_size=cfg.batch_size, lr=cfg.lr)
    return net, X, np.ascontiguousarray(X_test)


def _pixels(X):
    """Pixels in [0, 1] as the uint8 values they were (Fashion-MNIST's are k / 255)."""
    return np.rint(X * 255).astype(np.uint8)


def _pixel_network(net):
    """net made to read raw pixels: the same parameters, input_scale=1/255."""
    import fastbp
    twin = fastbp.Network(net.sizes, activation=net.activations[:-1],
                          output=net.activations[-1], loss=net.loss_name,
                          input_scale=1 / 255)
    twin.params = net.params
    return twin


def _forward(system, net, X_calibration, threads):
    """The system's forward pass on net, as a function of a batch of its rows (_rows)."""
    if system.endswith("-pixels"):
        net, X_calibration = _pixel_network(net), _pixels(X_calibration)
        system = system[:-len("-pixels")]
    if system == "fastbp":
        return net.forward
    if system == "fastbp-int8":
        return net.quantize(X_calibration[:1000]).forward
    if system == "torch":
        import torch
        torch.set_num_threads(threads)
        model = net.to_torch()

        def forward(X):
            with torch.inference_mode():
                return model(torch.from_numpy(X)).numpy()
        return forward
    import onnxruntime
    model = net.to_onnx().SerializeToString()
    if system == "onnxruntime-int8":
        import tempfile

        from onnxruntime.quantization import QuantType, quantize_dynamic

        from fastbp.engine.backends import has_vnni
        with tempfile.TemporaryDirectory() as folder:
            source, target = Path(folder) / "float.onnx", Path(folder) / "int8.onnx"
            source.write_bytes(model)
            quantize_dynamic(source, target, per_channel=True, weight_type=QuantType.QInt8,
                             reduce_range=not has_vnni())
            model = target.read_bytes()
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return lambda X: session.run(None, {"X": X})[0]


def worker(system, config):
    """{batch: rows/s} and the one-row latencies' (p50, p99) in microseconds of one system."""
    from bench.peer_models import THREADS
    net, X_train, X_test = _network(config)
    if system.endswith("-pixels"):  # fastbp reads the bytes; ONNX Runtime, float32 pixels
        X_test = _pixels(X_test)
        X_test = X_test if system.startswith("fastbp") else X_test.astype(np.float32)
    forward = _forward(system, net, X_train, THREADS)
    one_row = _forward(system, net, X_train, 1) if system.startswith("onnxruntime") \
        else forward
    rates = {}
    for batch in BATCHES:
        run = one_row if batch == 1 else forward
        rows = X_test[:2000] if batch == 1 else X_test  # one row at a time: fewer
        chunks = [rows[i:i + batch] for i in range(0, len(rows) - batch + 1, batch)]
        run(chunks[0])  # warm: compiled, sessions and caches ready
        best = min(_seconds(lambda: [run(chunk) for chunk in chunks]) for _ in range(3))
        rates[batch] = len(chunks) * batch / best
    row = X_test[:1]
    for _ in range(200):
        one_row(row)
    times = []
    for _ in range(LATENCY_CALLS):
        started = time.perf_counter_ns()
        one_row(row)
        times.append((time.perf_counter_ns() - started) / 1e3)
    times.sort()
    return {"rates": rates, "p50": times[len(times) // 2], "p99": times[int(len(times) * 0.99)]}


def _seconds(fn):
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _run(system, config):
    done = subprocess.run([sys.executable, __file__, "--worker", system, config],
                          env=fair_env(), capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"{system} {config} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.splitlines()[-1])
    result["rates"] = {int(b): r for b, r in result["rates"].items()}
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    runs = {(c, s): [] for c in args.configs for s in args.systems}
    for r in range(args.rounds):
        order = args.systems[r % len(args.systems):] + args.systems[:r % len(args.systems)]
        for c in args.configs:
            for s in order:
                print(f"round {r + 1}/{args.rounds}: {c} {s}", file=sys.stderr, flush=True)
                runs[c, s].append(_run(s, c))
    print(f"{cpu_description()}, {os.cpu_count()} cores; median-latency round of "
          f"{args.rounds}, best throughput of {args.rounds}")
    print()
    print("| config | system | " + " | ".join(f"rows/s at {b:,}" for b in BATCHES)
          + " | one row p50 us | p99 us | p50 / ONNX Runtime's |")
    print("|---" * (len(BATCHES) + 5) + "|")
    for c in args.configs:
        latency = {s: min(runs[c, s], key=lambda run: run["p50"]) for s in args.systems}
        reference = latency.get("onnxruntime")
        for s in args.systems:
            rates = [max(run["rates"][b] for run in runs[c, s]) for b in BATCHES]
            ratio = f"{latency[s]['p50'] / reference['p50']:.2f}x" if reference else "-"
            print(f"| {c} | {s} | " + " | ".join(f"{rate:,.0f}" for rate in rates)
                  + f" | {latency[s]['p50']:.1f} | {latency[s]['p99']:.1f} | {ratio} |")
    print()
    print("Rows/s ratios, each fastbp system / its ONNX Runtime peer:")
    for c in args.configs:
        for ours, theirs in PEERS:
            if (c, ours) in runs and (c, theirs) in runs:
                ratios = [max(run["rates"][b] for run in runs[c, ours])
                          / max(run["rates"][b] for run in runs[c, theirs]) for b in BATCHES]
                print(f"- {c}, {ours} / {theirs}: " + ", ".join(
                    f"batch {b:,} {r:.2f}x" for b, r in zip(BATCHES, ratios)))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        print(json.dumps(worker(sys.argv[2], sys.argv[3])))
    else:
        run_with_fair_blas()
        main()
