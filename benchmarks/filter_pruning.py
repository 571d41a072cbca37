"""Filter pruning of a trained CNN: accuracy before, after pruning and after fine-tuning, and inference speed.

    python benchmarks/filter_pruning.py --checkpoint runs/CNN/best.ckpt --threads 1 --json results.json

The checkpoint is a `tinygrad-opt train --model cnn` (or lenet5) run. Steps:
1. the dense model's test accuracy;
2. compress.prune_filters(model, --amount): --amount of each conv's filters (lowest L--n norm), their bias
   and BatchNorm2d channels masked; the test accuracy right after;
3. compress.shrink_filters: the pruned filters removed physically (checked: same accuracy as the masked model);
4. --finetune-epochs of training of the shrunk model with the checkpoint's optimizer (lr: --lr), as
   `tinygrad-opt prune --method ln-filters --shrink --finetune-epochs N` does; the test accuracy after;
5. inference time of the dense and the shrunk model on --batch test images: --rounds interleaved rounds
   (the order alternates each round, so both see the same load), one forward pass per model per round,
   the median per model; the speed-up is the ratio of the medians. --int8 adds both models quantized.
Issue 14's target: 50% of the filters cost <= 0.5 points after fine-tuning and give >= 1.5x at batch 1000.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time


def _threads_from_argv(argv) -> None:
    """--threads N must act before NumPy (BLAS) and Numba start their thread pools."""
    for i, arg in enumerate(argv):
        value = arg.split("=", 1)[1] if arg.startswith("--threads=") else (
            argv[i + 1] if arg == "--threads" and i + 1 < len(argv) else None)
        if value:
            for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
                os.environ[var] = value


_threads_from_argv(sys.argv[1:])

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tinygrad_opt as tg  # noqa: E402
from tinygrad_opt.cli.compress_common import finetune, load_checkpoint_and_data, test_accuracy  # noqa: E402
from tinygrad_opt.compress import conv_channels, model_size, prune_filters, shrink_filters  # noqa: E402
from tinygrad_opt.compress.quantized_checkpoint import quantize_model  # noqa: E402


def n_parameters(model) -> int:
    return sum(int(p.numel()) for p in model.parameters())


def interleaved_medians(models: dict, x, rounds: int) -> dict:
    """Median seconds of one forward pass per model, the models timed in turn, the order reversed every round."""
    xt = tg.Tensor(x)
    names = list(models)
    times: dict = {name: [] for name in names}
    with tg.no_grad():
        for m in models.values():  # warm-up: kernels compiled, buffers allocated
            m.eval()
            m(xt)
        for r in range(rounds):
            for name in names if r % 2 == 0 else names[::-1]:
                start = time.perf_counter()
                models[name](xt)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(v) for name, v in times.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", required=True, help="a CNN checkpoint (.ckpt) or run folder")
    parser.add_argument("--data-dir", default=None, help="folder with the IDX files (default: the checkpoint's)")
    parser.add_argument("--amount", type=float, default=0.5, help="fraction of each conv's filters (default 0.5)")
    parser.add_argument("--n", type=float, default=2.0, help="norm order ranking the filters (default 2)")
    parser.add_argument("--finetune-epochs", type=int, default=1)
    parser.add_argument("--lr", type=float, default=None, help="fine-tuning lr (default: the checkpoint's)")
    parser.add_argument("--batch", type=int, default=1000, help="inference batch for the timing (default 1000)")
    parser.add_argument("--rounds", type=int, default=15, help="interleaved timing rounds (default 15)")
    parser.add_argument("--int8", action="store_true", help="also time and score both models quantized to int8")
    parser.add_argument("--timing-only", action="store_true", help="skip fine-tuning and the accuracies")
    parser.add_argument("--threads", type=int, default=None, help="BLAS / Numba threads (set before import)")
    parser.add_argument("--json", default=None, help="write the results here")
    args = parser.parse_args(argv)

    loaded = load_checkpoint_and_data(args.checkpoint, args.data_dir)
    dense, data = loaded.model, loaded.data
    results: dict = {"checkpoint": str(loaded.checkpoint["path"]), "amount": args.amount, "n": args.n,
                     "threads": args.threads, "batch": args.batch, "rounds": args.rounds}
    masked = prune_filters(copy.deepcopy(dense), args.amount, n=args.n)
    small = shrink_filters(masked)
    results["filters"] = {"dense": conv_channels(dense), "shrunk": conv_channels(small)}
    results["parameters"] = {"dense": n_parameters(dense), "shrunk": n_parameters(small)}
    print(f"filters {conv_channels(dense)} -> {conv_channels(small)}; parameters "
          f"{n_parameters(dense):,} -> {n_parameters(small):,}")
    if not args.timing_only:
        accuracy = {"dense": test_accuracy(dense, data), "after pruning": test_accuracy(masked, data),
                    "shrunk": test_accuracy(small, data)}
        assert abs(accuracy["shrunk"] - accuracy["after pruning"]) < 2e-4, "shrinking changed the predictions"
        if args.finetune_epochs:
            start = time.perf_counter()
            finetune(small, loaded, args.finetune_epochs, lr=args.lr, verbose=False)
            results["finetune_seconds"] = time.perf_counter() - start
            accuracy[f"after {args.finetune_epochs} fine-tuning epochs"] = test_accuracy(small, data)
        results["accuracy"] = accuracy
        for stage, acc in accuracy.items():
            print(f"{stage:<28} test accuracy {100 * acc:6.2f}%   ({100 * (acc - accuracy['dense']):+.2f} points)")
    models = {"dense": dense, "shrunk": small}
    if args.int8:
        models.update({"dense int8": quantize_model(dense), "shrunk int8": quantize_model(small)})
        results["bytes"] = {name: model_size(m)["total"] for name, m in models.items()}
        if not args.timing_only:
            for name in ("dense int8", "shrunk int8"):
                results["accuracy"][name] = test_accuracy(models[name], data)
                print(f"{name:<28} test accuracy {100 * results['accuracy'][name]:6.2f}%")
    x = data.x_test[:args.batch]
    medians = interleaved_medians(models, x, args.rounds)
    results["seconds"] = medians
    results["speedup"] = {name: medians["dense"] / t for name, t in medians.items()}
    for name, t in medians.items():
        print(f"inference, batch {len(x)}, {name:<12} {1000 * t:8.2f} ms (median of {args.rounds})   "
              f"{medians['dense'] / t:5.2f}x the dense model's speed")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
