"""Acceptance run of `tinygrad-opt tune` on MNIST with the seed's 784-256-10 MLP.

    python benchmarks/tune_mnist.py                      # full MNIST, 30 trials of <= 3 epochs, 1 and 2 workers
    python benchmarks/tune_mnist.py --subsample 10000    # a fixed 10k-image subsample of the training set

For each worker count, a fresh study searches examples/tune_space.toml (hidden fixed at
[256]; learning rate, batch size, optimizer and momentum, dropout, schedule, one of
weight decay / L1 / L2) with the median pruner, and the wall time is measured. Then
the best configuration of the 1-worker search is retrained for --retrain-epochs
epochs with `run_training` (what `tinygrad-opt train --config best_config.toml
--epochs 10` runs), next to the seed's default recipe (Adam, lr 1e-3, batch 64, no
schedule, no regularisation) for the same number of epochs; both report the final
validation accuracy (the same held-out split as the search) and, for information,
the test accuracy. Everything is written to --out, with summary.json.

--subsample N writes the first N images of a seeded permutation of the training set
(and the whole test set) as IDX files under --out, and every run reads that folder as
its --data-dir, so best_config.toml retrains on the same subsample.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from tinygrad_opt.train.config import TrainConfig  # noqa: E402
from tinygrad_opt.data import write_idx  # noqa: E402
from tinygrad_opt.data.mnist import load_idx_raw  # noqa: E402


def default_data_dir() -> str | None:
    shared = ROOT.parent / "shared" / "data" / "mnist"
    return str(shared) if shared.is_dir() else None  # None: the normal search (TINYGRAD_OPT_DATA, cache)


def make_subsample(data_dir: str | None, n: int, out: Path, seed: int = 0) -> str:
    """Write n training images (seeded permutation, original order kept) and the full test set as IDX."""
    (x_train, y_train, x_test, y_test), source = load_idx_raw("mnist", data_dir=data_dir)
    keep = np.sort(np.random.default_rng(seed).permutation(len(y_train))[:n])
    folder = out / f"mnist-subsample-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    write_idx(folder / "train-images-idx3-ubyte.gz", x_train[keep])
    write_idx(folder / "train-labels-idx1-ubyte.gz", y_train[keep].astype(np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte.gz", x_test)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", y_test.astype(np.uint8))
    print(f"subsample: {n} of {len(y_train)} training images from {source} -> {folder}", flush=True)
    return str(folder)


def retrain(values: dict, epochs: int, out: Path) -> dict:
    from tinygrad_opt.train import run_training

    if out.exists():
        shutil.rmtree(out)
    config = TrainConfig.from_dict({**values, "epochs": epochs, "out": str(out), "quiet": True})
    started = time.perf_counter()
    result = run_training(config, progress=False)
    last = result.history[-1]
    return {"config": {k: v for k, v in values.items()}, "epochs": epochs, "val_acc": last["val_acc"],
            "val_loss": last["val_loss"], "test_acc": result.test.accuracy, "seconds": time.perf_counter() - started}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=default_data_dir())
    parser.add_argument("--subsample", type=int, default=0, metavar="N", help="use N training images (0: all)")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial")
    parser.add_argument("--retrain-epochs", type=int, default=10)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--val-fraction", type=float, default=0.1)
    parser.add_argument("--space", default=str(ROOT / "examples" / "tune_space.toml"))
    parser.add_argument("--pruner", default="median")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/tune-mnist-bench")
    args = parser.parse_args()

    from tinygrad_opt.tune import TuneSettings, load_space, run_tune

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data_dir = make_subsample(args.data_dir, args.subsample, out, args.seed) if args.subsample else args.data_dir
    base = {"dataset": "mnist", "data_dir": data_dir, "epochs": args.epochs, "val_fraction": args.val_fraction,
            "seed": args.seed}
    summary: dict = {"command": " ".join([sys.executable, *sys.argv]), "subsample": args.subsample or None,
                     "trials": args.trials, "epochs_per_trial": args.epochs, "cpu_count": os.cpu_count(),
                     "load_average_at_start": os.getloadavg(), "searches": {}}
    best_values = None
    for k in args.workers:
        study_dir = out / f"workers-{k}"
        if study_dir.exists():
            shutil.rmtree(study_dir)  # a fresh study each time, so the timing covers all the trials
        settings = TuneSettings(trials=args.trials, workers=k, study=f"mnist-{k}w", out=str(study_dir),
                                space=load_space(args.space), base=base, pruner=args.pruner, seed=args.seed)
        print(f"\n=== search with {k} worker(s) ===", flush=True)
        started = time.perf_counter()
        result = run_tune(settings)
        seconds = time.perf_counter() - started
        summary["searches"][k] = {"seconds": seconds, "best_val_acc": result.best_value,
                                  "best_trial": None if result.best_number is None else result.best_number + 1,
                                  "counts": result.counts, "best_config": result.best_config,
                                  "load_average_after": os.getloadavg()}
        print(f"search with {k} worker(s): {seconds:.0f} s, best val_acc {result.best_value:.4f}", flush=True)
        if best_values is None:
            best_values = result.best_config
    print(f"\n=== retraining for {args.retrain_epochs} epochs ===", flush=True)
    tuned = retrain(best_values, args.retrain_epochs, out / "retrain-best")
    print(f"tuned:   val_acc {tuned['val_acc']:.4f}  test_acc {tuned['test_acc']:.4f}  ({tuned['seconds']:.0f} s)  "
          f"{tuned['config']}", flush=True)
    default = {**base, "hidden": [256], "optimizer": "adam", "lr": 1e-3, "batch_size": 64}
    seed_default = retrain(default, args.retrain_epochs, out / "retrain-default")
    print(f"default: val_acc {seed_default['val_acc']:.4f}  test_acc {seed_default['test_acc']:.4f}  "
          f"({seed_default['seconds']:.0f} s)  Adam lr 1e-3 batch 64", flush=True)
    summary.update(tuned=tuned, default=seed_default, tuned_beats_default=tuned["val_acc"] > seed_default["val_acc"])
    (out / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    print("\nsearch times: " + ", ".join(f"{k} worker(s) {v['seconds']:.0f} s" for k, v in summary["searches"].items()))
    print(f"10-epoch validation accuracy: tuned {tuned['val_acc']:.4f} vs default {seed_default['val_acc']:.4f} "
          f"-> {'tuned wins' if summary['tuned_beats_default'] else 'default wins'}; summary in {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
