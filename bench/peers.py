"""Side-by-side speed comparison of fastbp with the libraries a user could pick instead.

    python bench/peers.py                 # full run (about 10 minutes), rewrites bench/README.md
    python bench/peers.py --smoke         # tiny subset, proves the machinery works (CI)

Every peer trains the same network from the same initial parameters on the same data with
the same batch size and learning rate, each in its own subprocess; runs are interleaved over
rounds and the best epoch of each peer is kept (bench/README.md). Peers that are not
installed are skipped with a note.
"""

import argparse
import datetime
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # run from a checkout without installing bench/

from bench.common import (blas_kernels, cpu_description, fair_env,  # noqa: E402
                          run_with_fair_blas, timed, write_readme)
from bench.configs import CONFIGS  # noqa: E402
from bench.data import fashion_mnist_or_synthetic, one_hot, synthetic  # noqa: E402
if not os.environ.get("BENCH_THREADS"):  # for the workers, before peer_models reads it
    from fastbp.engine.parallel import usable_cores
    os.environ["BENCH_THREADS"] = str(usable_cores())
from bench.peer_models import PEERS, REQUIRES, THREADS  # noqa: E402

# A full run also rewrites the project README's speed summary (its block "speed").
PEER_NAMES = {"numpy": "NumPy", "torch": "PyTorch", "jax": "JAX", "sklearn": "scikit-learn",
              "onnxruntime": "ONNX Runtime", "onnxruntime-int8": "ONNX Runtime int8"}


# Workers (run in subprocesses) -------------------------------------------------------------

def initial_parameters(cfg, seed=0):
    """He normal for ReLU layers, Glorot uniform otherwise (fastbp's "auto"), zero biases."""
    rng = np.random.default_rng(seed)
    init = []
    for l, (n_in, n_out) in enumerate(zip(cfg.sizes[:-1], cfg.sizes[1:])):
        relu = cfg.hidden == "relu" and l < len(cfg.sizes) - 2
        if relu:
            W = rng.normal(0, np.sqrt(2 / n_in), (n_out, n_in))
        else:
            limit = np.sqrt(6 / (n_in + n_out))
            W = rng.uniform(-limit, limit, (n_out, n_in))
        init.append((W.astype(np.float32), np.zeros(n_out, np.float32)))
    return init


def _memory_mb(field):
    """VmRSS (resident now) or VmHWM (peak resident) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train_worker(peer, config, data_dir, epochs):
    cfg = CONFIGS[config]
    # Plain .npy files load without a temporary copy, so the loaded data is the baseline.
    X, y, X_test, y_test = (np.load(os.path.join(data_dir, f"{name}.npy"))
                            for name in ("X", "y", "X_test", "y_test"))
    Y = one_hot(y)
    baseline = _memory_mb("VmRSS")
    model = PEERS[peer](cfg, initial_parameters(cfg), seed=1)
    started = time.perf_counter()
    model.epoch(X, y, Y)  # warm-up: includes JIT compilation
    first = time.perf_counter() - started
    accuracy = float((model.forward(X_test).argmax(axis=1) == y_test).mean())
    seconds = []
    for _ in range(0 if getattr(model, "inference_only", False) else epochs):
        started = time.perf_counter()
        model.epoch(X, y, Y)
        seconds.append(time.perf_counter() - started)
    inference = []
    for _ in range(10):  # ~10-50 ms each: the best of 3 moved by 20% between runs
        started = time.perf_counter()
        model.forward(X_test)
        inference.append(time.perf_counter() - started)
    return {"first_epoch_s": first, "epoch_s": min(seconds, default=None), "accuracy": accuracy,
            "precision": getattr(model, "precision", "float32"),
            "inference_s": min(inference), "n": len(X), "n_test": len(X_test),
            "peak_rss_mb": _memory_mb("VmHWM"), "training_rss_mb": _memory_mb("VmHWM") - baseline}


def gemm_worker(size=2048, repeats=7, warm_up_s=3.0):
    """The ceilings of each precision, on every core: the best float32 GEMM rate, FLOP/s,
    of NumPy's OpenBLAS (after warm_up_s of products: on these machines its rate climbs from
    ~170 to ~280 GFLOP/s over the first couple of seconds) and of oneDNN's sgemm, each
    library's rate, and the best u8 x s8 -> s32 rate, OP/s, of the oneDNN fastbp's int8
    products use, with the inputs' most significant bit clear (7-bit, as fastbp's are on
    CPUs without VNNI; the rate does not depend on the values); the bf16 x bf16 -> f32 rate,
    FLOP/s, of oneDNN's bf16 product where the CPU has bf16 units (backends.has_bf16), else
    None; and the kernels each BLAS runs (bench.common.blas_kernels)."""
    import ctypes

    from fastbp.engine import backends
    rng = np.random.default_rng(0)
    A = rng.random((size, size), dtype=np.float32)
    B = rng.random((size, size), dtype=np.float32)
    started = time.perf_counter()
    while time.perf_counter() - started < warm_up_s:
        A @ B
    rates = {"numpy": 2 * size ** 3 / min(timed(lambda: A @ B) for _ in range(repeats))}
    result = {"int8_ops": None, "bf16_flops": None, "blas": blas_kernels()}
    if backends.onednn is not None:
        ctypes.CDLL("libgomp.so.1").omp_set_num_threads(THREADS)
        C = np.empty((size, size), np.float32)
        args = (b"N", b"N", size, size, size, 1.0, A.ctypes.data, size, B.ctypes.data, size,
                0.0, C.ctypes.data, size)
        rates["onednn"] = 2 * size ** 3 / min(timed(lambda: backends.onednn.dnnl_sgemm(*args))
                                              for _ in range(repeats))
        codes = rng.integers(0, 128, (size, size), dtype=np.uint8)
        weights = rng.integers(-127, 128, (size, size), dtype=np.int8)
        out, offsets = np.zeros((size, size), np.int32), np.zeros(size, np.int32)
        args = (b"N", b"T", b"R", size, size, size, 1.0, codes.ctypes.data, size, 0,
                weights.ctypes.data, size, 0, 0.0, out.ctypes.data, size, offsets.ctypes.data)
        best = min(timed(lambda: backends.onednn.dnnl_gemm_u8s8s32(*args))
                   for _ in range(repeats))
        result["int8_ops"] = 2 * size ** 3 / best
        if backends.has_bf16():  # oneDNN's bf16 product, operands bfloat16 bit patterns
            halves = (A.view(np.uint32) >> 16).astype(np.uint16)  # truncated: any values do
            args = (b"N", b"N", size, size, size, 1.0, halves.ctypes.data, size,
                    halves.ctypes.data, size, 0.0, C.ctypes.data, size)
            best = min(timed(lambda: backends.onednn.dnnl_gemm_bf16bf16f32(*args))
                       for _ in range(repeats))
            result["bf16_flops"] = 2 * size ** 3 / best
    result["gemm_rates"] = rates
    result["gemm_flops"] = max(rates.values())
    return result


_STARTUP = ("import numpy as np, fastbp; "
            "net = fastbp.Network([784, 128, 10]); "
            "net.fit(np.zeros((64, 784), np.float32), np.zeros(64, int), epochs=1)")


def startup_seconds():
    """Cold (empty fastbp cache: kernels and product table) and warm wall seconds of import + first fit, in subprocesses."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(fair_env(), FASTBP_CACHE_DIR=cache)
        times = [timed(lambda: subprocess.run([sys.executable, "-c", _STARTUP], env=env,
                                               check=True)) for _ in range(3)]
    return {"cold_s": times[0], "warm_s": min(times[1:])}


# Driver --------------------------------------------------------------------------------------

def _run_worker(args):
    done = subprocess.run([sys.executable, __file__, "--worker", *args], capture_output=True,
                          text=True, env=fair_env())
    if done.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def available_peers(names):
    present, notes = [], []
    for name in names:
        missing = [m for m in REQUIRES[name] if importlib.util.find_spec(m) is None]
        if missing:
            notes.append(f"{name} skipped: {', '.join(missing)} not installed")
        else:
            present.append(name)
    return present, notes


def machine_description():
    """The CPU (bench.common.cpu_description), the cores and Python."""
    return (f"{cpu_description()}, {os.cpu_count()} cores ({THREADS} threads per library), "
            f"Python {platform.python_version()}")


def commit():
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, text=True,
                          capture_output=True)
    return done.stdout.strip() or "unknown"


def measure(config_names, peer_names, rounds, epochs, samples, n_test, smoke):
    X, y, X_test, y_test, source = synthetic(samples, n_test) + ("synthetic",) if smoke \
        else fashion_mnist_or_synthetic()
    results = {c: {p: [] for p in peer_names} for c in config_names}
    with tempfile.TemporaryDirectory() as tmp:
        for name, array in (("X", X[:samples]), ("y", y[:samples]), ("X_test", X_test[:n_test]),
                            ("y_test", y_test[:n_test])):
            np.save(os.path.join(tmp, f"{name}.npy"), array)
        for r in range(rounds):  # interleave: every peer once per round, per config
            for c in config_names:
                for p in peer_names:
                    print(f"round {r + 1}/{rounds}: {c} {p}", file=sys.stderr, flush=True)
                    results[c][p].append(_run_worker([p, c, tmp, str(epochs)]))
    # --smoke: one short GEMM run (the machinery, not a ceiling worth quoting).
    gemms = [_run_worker(["gemm", "0.2" if smoke else "3.0"]) for _ in range(1 if smoke else 2)]
    ceilings = {"float32": max(g["gemm_flops"] for g in gemms),
                "int8": max(g["int8_ops"] or 0 for g in gemms) or None,
                "bfloat16": max(g.get("bf16_flops") or 0 for g in gemms) or None,
                "float32_by_library": {lib: max(g["gemm_rates"].get(lib, 0) for g in gemms)
                                       for lib in gemms[0]["gemm_rates"]},
                "blas": gemms[0]["blas"]}
    return results, ceilings, source


def summarize(results, ceilings):
    rows = {}
    for c, by_peer in results.items():
        cfg = CONFIGS[c]
        row = {}
        for p, runs in by_peer.items():
            trained = [r for r in runs if r["epoch_s"] is not None]  # none: inference only
            best = min(trained or runs, key=lambda r: r["epoch_s"] or 0)
            row[p] = {"samples_per_s": best["n"] / best["epoch_s"] if trained else None,
                      "inference_per_s": best["n_test"] / min(r["inference_s"] for r in runs),
                      "accuracy": best["accuracy"], "precision": best["precision"],
                      "first_epoch_s": min(r["first_epoch_s"] for r in runs),
                      "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
                      "training_rss_mb": max(r["training_rss_mb"] for r in runs)}
        row["_ceiling"] = ceilings["float32"] / cfg.flop_per_sample
        rows[c] = row
    return rows


def _ratio(rows, c, key, ours="fastbp", precision="float32"):
    """ours's figure, the other peers' of that precision, and the best of those."""
    mine = rows[c][ours][key]
    others = {p: v[key] for p, v in rows[c].items()
              if p not in (ours, "_ceiling") and v[key] is not None
              and v["precision"] == precision}
    best = max(others.values()) if others else float("nan")
    return mine, others, best


def markdown(rows, ceilings, startup, meta, notes):
    peers = [p for p in next(iter(rows.values())) if p != "_ceiling"]
    first = next(iter(rows.values()))
    trainers = [p for p in peers if first[p]["samples_per_s"] is not None]
    fastbp_in = {"float32": "fastbp", "int8": "fastbp-int8", "bfloat16": "fastbp-bf16"}
    lines = [f"Measured {meta['date']} on {meta['machine']}, commit {meta['commit']}, data: "
             f"{meta['source']} ({meta['samples']} training samples), best epoch of "
             f"{meta['epochs']} after a warm-up epoch, {meta['rounds']} interleaved rounds.",
             f"Command: `{meta['command']}`", "",
             f"GEMM ceilings: {ceilings['float32'] / 1e9:.0f} GFLOP/s (2048x2048 float32, "
             f"the best of " + ", ".join(f"{lib} {rate / 1e9:.0f}" for lib, rate in
                                         ceilings["float32_by_library"].items())
             + ")" + (f", {ceilings['int8'] / 1e9:.0f} GOP/s (2048x2048 u8 x s8 -> "
                      f"s32 through oneDNN, {THREADS} threads)" if ceilings["int8"] else "")
             + (f", {ceilings['bfloat16'] / 1e9:.0f} GFLOP/s (2048x2048 bf16 x bf16 -> f32 "
                f"through oneDNN on the CPU's bf16 units)." if ceilings.get("bfloat16")
                else "; bf16: this CPU has no bf16 units (not measured)."),
             "Every process ran with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset (fair BLAS); "
             "the BLAS libraries loaded and the kernels they ran: "
             + "; ".join(ceilings["blas"]) + ".",
             "", "Training samples/s, the precision of each peer's products in its column "
             "(ratio = fastbp of that precision / peer):", "",
             "| config | " + " | ".join(f"{p} ({first[p]['precision']})" for p in trainers)
             + " | fastbp / best peer | fraction of ceiling |"
             + (" fastbp-bf16 / best bfloat16 peer | fastbp-bf16 / fastbp | fastbp-bf16 / "
                "best float32 peer |" if "fastbp-bf16" in trainers else ""),
             "|---" * (len(trainers) + 3 + 3 * ("fastbp-bf16" in trainers)) + "|"]
    for c, row in rows.items():
        ours, theirs, best = _ratio(rows, c, "samples_per_s")
        cells = []
        for p in trainers:
            mine = row[fastbp_in[row[p]["precision"]]]["samples_per_s"]
            cells.append(f"{mine:,.0f}" if p.startswith("fastbp") else
                         f"{row[p]['samples_per_s']:,.0f} "
                         f"({mine / row[p]['samples_per_s']:.2f}x)")
        cells += [f"**{ours / best:.2f}x**", f"{ours / row['_ceiling']:.0%}"]
        if "fastbp-bf16" in trainers:
            bf16, _, best_bf16 = _ratio(rows, c, "samples_per_s", "fastbp-bf16", "bfloat16")
            cells += [f"**{bf16 / best_bf16:.2f}x**", f"{bf16 / ours:.2f}x",
                      f"{bf16 / best:.2f}x"]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    precisions = list(dict.fromkeys(first[p]["precision"] for p in peers))
    compared = [q for q in precisions if fastbp_in[q] in peers]
    lines += ["", "Inference samples/s, forward over the test images (the precision of each "
              "peer's products in its column):", "",
              "| config | " + " | ".join(f"{p} ({first[p]['precision']})" for p in peers) + " | "
              + " | ".join(f"{fastbp_in[q]} / best {q} peer" for q in compared)
              + "".join(f" | {fastbp_in[q]} / fastbp" for q in compared if q != "float32")
              + " | " + " | ".join(f"{fastbp_in[q]}, fraction of the {q} ceiling"
                                   for q in compared) + " |",
              "|---" * (len(peers) + 3 * len(compared)) + "|"]
    for c, row in rows.items():
        cells = [f"{row[p]['inference_per_s']:,.0f}" for p in peers]
        for q in compared:
            mine, _, best = _ratio(rows, c, "inference_per_s", fastbp_in[q], q)
            cells.append(f"**{mine / best:.2f}x**")
        cells += [f"{row[fastbp_in[q]]['inference_per_s'] / row['fastbp']['inference_per_s']:.2f}x"
                  for q in compared if q != "float32"]
        work = CONFIGS[c].inference_flop_per_sample
        cells += [f"{row[fastbp_in[q]]['inference_per_s'] * work / ceilings[q]:.0%}"
                  if ceilings.get(q) else "-" for q in compared]
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    lines += ["", "Test accuracy after one epoch from identical initial parameters (same "
              "function, different shuffles; an inference-only peer's in the precision it infers "
              "in), and the first epoch's seconds (JIT included):", "",
              "| config | " + " | ".join(peers) + " |", "|---" * (len(peers) + 1) + "|"]
    for c, row in rows.items():
        lines.append(f"| {c} | " + " | ".join(
            f"{row[p]['accuracy']:.3f} ({row[p]['first_epoch_s']:.1f} s)" for p in peers)
            + " |")
    lines += ["", "Memory, MB: peak RSS of the worker process, and in parentheses its growth "
              "above the resident size once the data was loaded (library + model + training):",
              "", "| config | " + " | ".join(peers) + " |", "|---" * (len(peers) + 1) + "|"]
    for c, row in rows.items():
        lines.append(f"| {c} | " + " | ".join(
            f"{row[p]['peak_rss_mb']:.0f} ({row[p]['training_rss_mb']:.0f})" for p in peers) + " |")
    lines += ["", "fastbp start-up (import + first fit of 784-128-10, fresh process): " + (
        f"cold (empty fastbp cache: kernels and product table) {startup['cold_s']:.1f} s, warm {startup['warm_s']:.1f} s."
        if startup else "not measured (--smoke)."), ""]
    lines += [f"Note: {n}." for n in notes]
    return "\n".join(lines)


def summary(rows, meta):
    """The project README's speed section: training against the best peer, inference against
    ONNX Runtime (float32 and int8), from a full run's rows."""
    trainers = [p for p, v in next(iter(rows.values())).items()
                if p not in ("fastbp", "_ceiling") and v["samples_per_s"] is not None
                and v["precision"] == "float32"]
    lines = ["Training samples/s on Fashion-MNIST, float32, plain SGD, side by side in one run "
             "with the best of " + ", ".join(PEER_NAMES[p] for p in trainers)
             + f" ({meta['machine']}, {meta['date']}; `python bench/peers.py`; every library "
             "with its BLAS's own kernels for this CPU):", "",
             "| config | network, batch | fastbp | best peer | ratio |", "|---|---|---|---|---|"]

    def k(value):
        return f"{value / 1e3:.1f}k" if value < 1e5 else f"{value / 1e3:.0f}k"

    for c, row in rows.items():
        cfg = CONFIGS[c]
        ours, theirs, best = _ratio(rows, c, "samples_per_s")
        peer = max(theirs, key=theirs.get)
        network = "-".join(map(str, cfg.sizes)) + f" {cfg.hidden}/{cfg.loss}"
        lines.append(f"| {c} | {network}, {cfg.batch_size} | {k(ours)} | {k(best)} "
                     f"({PEER_NAMES[peer]}) | {ours / best:.2f}x |")
    inference = []
    for ours, theirs in (("fastbp", "onnxruntime"), ("fastbp-int8", "onnxruntime-int8")):
        if all(ours in row and theirs in row for row in rows.values()):
            ratios = [row[ours]["inference_per_s"] / row[theirs]["inference_per_s"]
                      for row in rows.values()]
            inference.append(f"{ours} / {PEER_NAMES[theirs]} " + " / ".join(
                f"{r:.2f}x" for r in ratios))
    if all("fastbp-bf16" in row and "torch-bf16" in row for row in rows.values()):
        ratios = [row["fastbp-bf16"]["samples_per_s"] / row["torch-bf16"]["samples_per_s"]
                  for row in rows.values()]
        lines += ["", "bfloat16 training, fastbp's precision=\"bfloat16\" / PyTorch's autocast "
                  "(" + ", ".join(rows) + "): " + " / ".join(f"{r:.2f}x" for r in ratios)
                  + (" on the CPU's bf16 units." if meta["bf16_units"] else
                     ", both emulated: this CPU has no bf16 units.")]
    if inference:
        lines += ["", "Inference over the 10,000 test images (" + ", ".join(rows)
                  + "): " + "; ".join(inference) + "."]
    return "\n".join(textwrap.fill(line, 96) if not line.startswith("|") else line
                     for line in lines)


def chart(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    peers = [p for p, v in next(iter(rows.values())).items()
             if p != "_ceiling" and v["samples_per_s"] is not None]
    configs = list(rows)
    width = 0.8 / len(peers)
    fig, ax = plt.subplots(figsize=(9, 4.5))
    for i, p in enumerate(peers):
        ax.bar([j + i * width for j in range(len(configs))],
               [rows[c][p]["samples_per_s"] for c in configs], width, label=p)
    ax.set_xticks([j + width * (len(peers) - 1) / 2 for j in range(len(configs))], configs)
    ax.set_yscale("log")
    ax.set_ylabel("training samples/s (log scale)")
    ax.set_title("One epoch of plain SGD, same network and batch")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--peers", nargs="+", default=list(PEERS), choices=list(PEERS))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs per worker")
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--smoke", action="store_true",
                        help="tiny synthetic data, one round, no README/chart unless asked")
    parser.add_argument("--readme", help="markdown file to update (default bench/README.md)")
    parser.add_argument("--chart", help="PNG path (default bench/peers.png)")
    parser.add_argument("--block", default="peers",
                        help="the README block the table replaces, between <!-- BLOCK:begin --> "
                             "and <!-- BLOCK:end --> (default: %(default)s, the full comparison, "
                             "which also rewrites the chart and the project README's summary)")
    args = parser.parse_args(argv)
    full = args.block == "peers"
    if args.smoke:
        args.rounds, args.epochs, args.samples, n_test = 1, 1, 512, 256
    else:
        n_test = 10000
        args.readme = args.readme or str(HERE / "README.md")
        args.chart = args.chart or (str(HERE / "peers.png") if full else None)
    peers, notes = available_peers(args.peers)
    if "fastbp" not in peers:
        parser.error("fastbp itself is not importable: pip install . first")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    results, ceilings, source = measure(args.configs, peers, args.rounds, args.epochs,
                                          args.samples, n_test, args.smoke)
    rows = summarize(results, ceilings)
    meta = {"date": datetime.date.today().isoformat(), "machine": machine_description(),
            "commit": commit(), "source": source, "samples": min(args.samples, 60000),
            "epochs": args.epochs, "rounds": args.rounds,
            "bf16_units": ceilings["bfloat16"] is not None,
            "command": "python bench/peers.py " + " ".join(argv if argv is not None
                                                           else sys.argv[1:])}
    # Not in --smoke: its cold start compiles a kernel set (~20 s) for a figure not kept.
    text = markdown(rows, ceilings, None if args.smoke else startup_seconds(), meta, notes)
    print(text)
    if args.readme:
        write_readme(args.readme, text, args.block)
    if not args.smoke and full and set(args.configs) == set(CONFIGS):
        write_readme(HERE.parent / "README.md", summary(rows, meta), "speed")
    if args.chart:
        chart(rows, args.chart)
    if args.smoke:  # each peer computes the same function: accuracies must not diverge
        for c, row in rows.items():
            accuracies = [row[p]["accuracy"] for p in peers]
            print(f"{c}: accuracy spread {max(accuracies) - min(accuracies):.3f}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind = sys.argv[2]
        result = gemm_worker(warm_up_s=float(sys.argv[3])) if kind == "gemm" else train_worker(
            kind, sys.argv[3], sys.argv[4], int(sys.argv[5]))
        print(json.dumps(result))
    else:
        run_with_fair_blas()
        sys.exit(main())
