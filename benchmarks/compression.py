"""Compression on full MNIST with a 784-256-10 MLP: gradual pruning, structured shrinking, int8, distillation.

    python benchmarks/compression.py --data-dir DIR            # everything (~4 minutes on 2 cores)
    python benchmarks/compression.py --data-dir DIR --only int8,structured --epochs 3

Every run uses the same recipe (Adam lr 1e-3, batch 128, --epochs epochs, seed 0 unless
stated), so the numbers compare directly:
- dense: the 784-256-10 baseline (also the teacher and the model that gets quantized and shrunk);
- gradual global magnitude pruning (Zhu & Gupta) to 50/80/90/95/98% of the weight matrices'
  entries, pruning every --prune-every steps from epoch 1 to 60% of the run, then fine-tuning;
- structured: 50% of the hidden units (lowest L2 norm of incoming weights) pruned, fine-tuned
  --finetune-epochs, then physically removed (784-128-10); inference time on batch 1000;
- int8: dynamic quantization of the dense model: accuracy, weight bytes, inference time
  (every int8 product backend);
- distillation: 784-32-10 students, from scratch vs distilled from the dense teacher
  (T, alpha), same epochs, batch and initialisation, averaged over 3 seeds.
Results print as tables, go to --json, and the sparsity plot to --plot.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time


def _threads_from_argv(argv) -> None:
    """--threads N must act before NumPy (BLAS) and Numba start their thread pools."""
    for i, arg in enumerate(argv):
        value = None
        if arg.startswith("--threads="):
            value = arg.split("=", 1)[1]
        elif arg == "--threads" and i + 1 < len(argv):
            value = argv[i + 1]
        if value:
            for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
                os.environ[var] = value


_threads_from_argv(sys.argv[1:])

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tinygrad_opt as tg  # noqa: E402
import tinygrad_opt.nn.functional as F  # noqa: E402
from tinygrad_opt import nn, optim  # noqa: E402
from tinygrad_opt.compress import (  # noqa: E402
    GradualPruner, distillation_loss, model_size, prune_hidden_units, quantize_dynamic, shrink,
)
from tinygrad_opt.compress.int8 import BACKENDS  # noqa: E402
from tinygrad_opt.data import load_dataset  # noqa: E402
from tinygrad_opt.nn.utils import prune  # noqa: E402

SPARSITIES = (0.5, 0.8, 0.9, 0.95, 0.98)


def mlp(hidden: int, seed: int) -> nn.Module:
    tg.manual_seed(seed)
    return nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def train(model, x, y, epochs, seed=0, lr=1e-3, batch=128, pruner=None, teacher_logits=None, T=4.0, alpha=0.9):
    """Plain mini-batch Adam; with teacher_logits the loss is the distillation loss."""
    opt = optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            out = model(tg.Tensor(x[idx]))
            if teacher_logits is None:
                loss = F.cross_entropy(out, y[idx])
            else:
                loss = distillation_loss(out, teacher_logits[idx], y[idx], T=T, alpha=alpha)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if pruner is not None:
                pruner.step()
    model.eval()
    return model


def logits(model, x, batch=2000):
    model.eval()
    with tg.no_grad():
        return np.concatenate([model(tg.Tensor(x[i:i + batch])).numpy() for i in range(0, len(x), batch)])


def accuracy(model, x, y) -> float:
    return float((logits(model, x).argmax(1) == y).mean())


def time_models(models: dict, x, repeats=40) -> dict:
    """Best-of-`repeats` seconds of one forward pass on x per model (no graph), the models run in turn.

    On a shared machine other processes only ever add time, so the minimum is the
    steadiest estimate of a model's own cost (timeit's advice), and running the models
    in turn exposes them to the same load.
    """
    xt = tg.Tensor(x)
    times = {name: [] for name in models}
    with tg.no_grad():
        for m in models.values():
            m.eval()
            for _ in range(3):
                m(xt)
        for _ in range(repeats):
            for name, m in models.items():
                t = time.perf_counter()
                m(xt)
                times[name].append(time.perf_counter() - t)
    return {name: min(v) for name, v in times.items()}


def time_blocks(models: dict, x, repeats=30, rounds=2) -> dict:
    """Best-of seconds per model, each model timed in a block of `repeats` passes, all blocks `rounds` times.

    Blocks rather than alternation: Numba's and the BLAS library's thread pools each spin
    for a while after a call, and alternating them on two cores makes each look slow.
    """
    xt = tg.Tensor(x)
    best = {name: float("inf") for name in models}
    with tg.no_grad():
        for _ in range(rounds):
            for name, m in models.items():
                m.eval()
                m(xt)
                m(xt)
                n = max(3, repeats // 20) if name == "numpy" else repeats  # the reference is ~50x slower
                for _ in range(n):
                    t = time.perf_counter()
                    m(xt)
                    best[name] = min(best[name], time.perf_counter() - t)
    return best


def run_pruning(data, dense_acc, args, results):
    x, y, xt, yt = data
    steps = (len(x) + 127) // 128
    begin, end = steps, max(steps, int(0.6 * args.epochs * steps))
    rows = []
    for s in SPARSITIES:
        t = time.perf_counter()
        model = mlp(256, 0)
        pruner = GradualPruner(model, s, begin_step=begin, end_step=end, frequency=args.prune_every)
        train(model, x, y, args.epochs, pruner=pruner)
        acc = accuracy(model, xt, yt)
        report = prune.sparsity(model, include="weights")
        rows.append({"sparsity": s, "measured_sparsity": report.overall, "accuracy": acc,
                     "layer_sparsity": {k: v.sparsity for k, v in report.items()},
                     "delta_points": 100 * (acc - dense_acc), "seconds": time.perf_counter() - t})
        print(f"  gradual global-l1 {100 * s:.0f}%: acc {100 * acc:.2f}% ({100 * (acc - dense_acc):+.2f} points), "
              f"layers {', '.join(f'{k} {100 * v.sparsity:.1f}%' for k, v in report.items())}", flush=True)
    results["pruning"] = {"schedule": {"begin_step": begin, "end_step": end, "frequency": args.prune_every,
                                       "epochs": args.epochs}, "rows": rows}
    if args.plot:
        plot(rows, dense_acc, args.plot)


def plot(rows, dense_acc, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [100 * r["sparsity"] for r in rows]
    ax.plot(xs, [100 * r["accuracy"] for r in rows], "o-", label="gradual global magnitude pruning")
    ax.axhline(100 * dense_acc, color="gray", linestyle="--", label=f"dense ({100 * dense_acc:.2f}%)")
    for xv, r in zip(xs, rows):
        ax.annotate(f"{100 * r['accuracy']:.2f}", (xv, 100 * r["accuracy"]), textcoords="offset points",
                    xytext=(0, -14), ha="center", fontsize=8)
    ax.set_xlabel("sparsity of the weight matrices (%)")
    ax.set_ylabel("MNIST test accuracy (%)")
    ax.set_title("784-256-10 MLP: accuracy against sparsity")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"  plot written to {path}")


def run_structured(data, dense, dense_acc, args, results):
    x, y, xt, yt = data
    model = mlp(256, 0)
    model.load_state_dict(dense.state_dict())
    prune_hidden_units(model, 0.5, n=2)
    pruned_acc = accuracy(model, xt, yt)
    train(model, x, y, args.finetune_epochs, seed=1)
    tuned_acc = accuracy(model, xt, yt)
    small = shrink(model)
    small_acc = accuracy(small, xt, yt)
    timed = time_models({"dense": dense, "shrunk": small}, xt[:1000])
    t_dense, t_small = timed["dense"], timed["shrunk"]
    results["structured"] = {
        "hidden_units": [256, small[0].out_features], "acc_dense": dense_acc, "acc_pruned_no_finetune": pruned_acc,
        "acc_finetuned": tuned_acc, "acc_shrunk": small_acc, "finetune_epochs": args.finetune_epochs,
        "ms_dense_batch1000": 1000 * t_dense, "ms_shrunk_batch1000": 1000 * t_small, "speedup": t_dense / t_small,
        "params_dense": sum(p.numel() for p in dense.parameters()), "params_shrunk": sum(p.numel() for p in small.parameters()),
    }
    r = results["structured"]
    print(f"  structured 50% of hidden units: 256 -> {r['hidden_units'][1]} units; acc {100 * pruned_acc:.2f}% right after "
          f"pruning, {100 * tuned_acc:.2f}% after {args.finetune_epochs} fine-tuning epochs, {100 * small_acc:.2f}% shrunk "
          f"({100 * (small_acc - dense_acc):+.2f} points vs dense)")
    print(f"  inference, batch 1000: dense {r['ms_dense_batch1000']:.2f} ms, shrunk {r['ms_shrunk_batch1000']:.2f} ms "
          f"-> {r['speedup']:.2f}x faster", flush=True)


def run_int8(data, dense, dense_acc, args, results):
    _, _, xt, yt = data
    models = {"float32": dense}
    models.update({backend: quantize_dynamic(dense, backend=backend) for backend in BACKENDS})
    big = time_blocks(models, xt[:1000], repeats=30)
    one = time_blocks(models, xt[:1], repeats=300)
    rows = {backend: {"accuracy": accuracy(models[backend], xt, yt), "ms_batch1000": 1000 * big[backend],
                      "ms_batch1": 1000 * one[backend], "speed_vs_float32_batch1000": big["float32"] / big[backend]}
            for backend in BACKENDS}
    size_f, size_q = model_size(dense), model_size(models["auto"])
    results["int8"] = {"acc_float": dense_acc, "backends": rows, "ms_float_batch1000": 1000 * big["float32"],
                       "ms_float_batch1": 1000 * one["float32"],
                       "bytes_float": size_f, "bytes_int8": size_q,
                       "weight_ratio": size_f["weights"] / size_q["weights"], "total_ratio": size_f["total"] / size_q["total"]}
    r = results["int8"]
    print(f"  int8: accuracy {100 * dense_acc:.2f}% float32 -> {100 * rows['auto']['accuracy']:.2f}% int8 "
          f"({100 * (rows['auto']['accuracy'] - dense_acc):+.2f} points)")
    print(f"  weight matrices {size_f['weights']} -> {size_q['weights']} bytes ({r['weight_ratio']:.2f}x smaller); "
          f"whole model {size_f['total']} -> {size_q['total']} bytes ({r['total_ratio']:.2f}x)")
    print(f"  inference batch 1000: float32 {r['ms_float_batch1000']:.2f} ms; int8 " +
          ", ".join(f"{b} {v['ms_batch1000']:.2f} ms ({v['speed_vs_float32_batch1000']:.2f}x)" for b, v in rows.items()))
    print(f"  inference batch 1: float32 {1000 * r['ms_float_batch1']:.1f} us; int8 " +
          ", ".join(f"{b} {1000 * v['ms_batch1']:.1f} us" for b, v in rows.items()), flush=True)


def run_distill(data, dense, dense_acc, args, results):
    x, y, xt, yt = data
    teacher_logits = logits(dense, x)
    scratch, distilled = [], []
    for seed in range(3):
        a = accuracy(train(mlp(32, seed), x, y, args.epochs, seed=seed), xt, yt)
        b = accuracy(train(mlp(32, seed), x, y, args.epochs, seed=seed, teacher_logits=teacher_logits,
                           T=args.temperature, alpha=args.alpha), xt, yt)
        scratch.append(a)
        distilled.append(b)
        print(f"  student 784-32-10, seed {seed}: from scratch {100 * a:.2f}%, distilled {100 * b:.2f}%", flush=True)
    results["distill"] = {"teacher_acc": dense_acc, "T": args.temperature, "alpha": args.alpha, "epochs": args.epochs,
                          "scratch": scratch, "distilled": distilled,
                          "scratch_mean": float(np.mean(scratch)), "distilled_mean": float(np.mean(distilled))}
    r = results["distill"]
    print(f"  mean over 3 seeds: from scratch {100 * r['scratch_mean']:.2f}%, distilled {100 * r['distilled_mean']:.2f}% "
          f"({100 * (r['distilled_mean'] - r['scratch_mean']):+.2f} points; teacher {100 * dense_acc:.2f}%)", flush=True)


def run_timing_only(args) -> dict:
    """Inference times only (untrained weights: the cost does not depend on the values), batch 1000 and 1."""
    x = np.random.default_rng(0).random((1000, 784), dtype=np.float32)
    dense = mlp(256, 0).eval()
    pruned = mlp(256, 0)
    pruned.load_state_dict(dense.state_dict())
    small = shrink(prune_hidden_units(pruned, 0.5)).eval()
    models = {"float32": dense, "shrunk 784-128-10": small}
    models.update({f"int8 {b}": quantize_dynamic(dense, backend=b) for b in BACKENDS if b != "numpy"})
    out = {}
    for batch in (1000, 1):
        best = time_blocks(models, x[:batch], repeats=200 if batch == 1 else 40, rounds=3)
        out[batch] = {name: 1000 * t for name, t in best.items()}
        print(f"  batch {batch}: " + ", ".join(f"{name} {1000 * t:.3f} ms ({best['float32'] / t:.2f}x)" for name, t in best.items()),
              flush=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=None, help="folder with the MNIST IDX files (else TINYGRAD_OPT_DATA / cache)")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--finetune-epochs", type=int, default=2)
    parser.add_argument("--prune-every", type=int, default=50, help="optimizer steps between pruning steps")
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--alpha", type=float, default=0.9)
    parser.add_argument("--only", default="pruning,structured,int8,distill")
    parser.add_argument("--threads", type=int, default=None,
                        help="BLAS and Numba threads (default: all cores); 1 gives steadier timings on a busy machine")
    parser.add_argument("--timing-only", action="store_true",
                        help="only inference times of dense, shrunk and int8 models (untrained weights, no data needed)")
    parser.add_argument("--json", default=None, help="write the results here")
    parser.add_argument("--plot", default=None, help="accuracy-against-sparsity PNG")
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    if args.timing_only:
        print(f"inference times, best of blocks of passes, {args.threads or os.cpu_count()} thread(s):")
        timing = run_timing_only(args)
        if args.json:
            with open(args.json, "w") as fh:
                json.dump({"threads": args.threads or os.cpu_count(), "ms": timing}, fh, indent=2)
        return 0
    data = load_dataset("mnist", data_dir=args.data_dir, download=False)
    started = time.perf_counter()
    print(f"dense 784-256-10, {args.epochs} epochs (Adam lr 1e-3, batch 128, seed 0) ...", flush=True)
    dense = train(mlp(256, 0), data.x_train, data.y_train, args.epochs)
    dense_acc = accuracy(dense, data.x_test, data.y_test)
    print(f"  dense accuracy {100 * dense_acc:.2f}%", flush=True)
    results = {"epochs": args.epochs, "dense_acc": dense_acc, "threads": args.threads or os.cpu_count()}
    if "pruning" in parts:
        run_pruning(data, dense_acc, args, results)
    if "structured" in parts:
        run_structured(data, dense, dense_acc, args, results)
    if "int8" in parts:
        run_int8(data, dense, dense_acc, args, results)
    if "distill" in parts:
        run_distill(data, dense, dense_acc, args, results)
    results["seconds"] = time.perf_counter() - started
    print(f"done in {results['seconds']:.0f} s")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
