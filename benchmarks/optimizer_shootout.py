"""Every optimizer on one task with the same tuning budget: who trains an MLP (or the CNN) best, and by how much.

For each optimizer: an Optuna study (TPE, seeded) of `--trials` short runs tunes the learning
rate (log scale, from default/30 to default x 10 around the optimizer's default) and the weight
decay (log scale 1e-6..1e-2, or the optimizer's own default: 0, except AdamW's 0.01 and Muon's 0.1)
on the validation split; each optimizer's study is seeded by its place in the full list, so a run
of a few optimizers repeats their studies from the full run; then `--seeds` full runs of the
best setting report the test accuracy after every epoch (mean and spread, after epoch 1, 3 and
the last), the wall time per epoch and the training-loss curve. Every run uses the same model,
data, batch size and epochs; only the optimizer and its two tuned numbers change. Optimizers
with a momentum knob (sgd, rmsprop, sam over sgd) run with `--momentum` (0.9, not tuned).

    python benchmarks/optimizer_shootout.py                     # full MNIST, every optimizer
    python benchmarks/optimizer_shootout.py --model cnn         # the same for train --model cnn
    python benchmarks/optimizer_shootout.py --model cnn --time-steps 50 --out times.json  # step times alone
    python benchmarks/optimizer_shootout.py --dataset digits --trials 4 --seeds 2 --epochs 3 \\
        --optimizers adam sgd lion                              # a quick look

Writes benchmarks/results/optimizer_shootout.json (every number, the command and the machine)
and optimizer_shootout.png (the loss curves), and prints a table. The verdict line ranks the
optimizers by mean final test accuracy and calls a lead real only where it exceeds the sum of
the two runs' standard deviations.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
from tinygrad_opt.train.config import OPTIMIZERS, TrainConfig, optimizer_defaults  # noqa: E402
from tinygrad_opt.train import Callback  # noqa: E402
from tinygrad_opt.train.run import build_trainer, prepare_data  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
# full-batch methods, not mini-batch trainers: left out unless asked for
DEFAULT_OPTIMIZERS = [name for name in OPTIMIZERS if name not in ("rprop", "lbfgs")]
NO_DECAY = ("rprop", "lbfgs")
STUDY_ORDER = DEFAULT_OPTIMIZERS + [name for name in OPTIMIZERS if name not in DEFAULT_OPTIMIZERS]
WITH_MOMENTUM = ("sgd", "rmsprop", "sam")  # run with --momentum (schedulefree-sgd and muon have their own)


class TestAccuracy(Callback):
    """The test accuracy after each epoch (on the weights the trainer evaluates: schedule-free's average)."""

    def __init__(self, test):
        self.test, self.accuracy = test, []

    def on_epoch_end(self, trainer, epoch, logs):
        self.accuracy.append(trainer.evaluate(self.test).accuracy)


def run(config: TrainConfig, data, train, val, test=None):
    """Train `config`; returns (history, per-epoch test accuracies or None, seconds per epoch)."""
    callback = TestAccuracy(test) if test is not None else None
    trainer, train_loader, val_loader, _ = build_trainer(config, data, train, val,
                                                         callbacks=[callback] if callback else [])
    started = time.perf_counter()
    history = trainer.fit(train_loader, val_loader, config.epochs)
    seconds = (time.perf_counter() - started) / max(1, len(history))
    return history, (callback.accuracy if callback else None), seconds


def momentum_of(name: str) -> dict:
    return {"momentum": MOMENTUM} if name in WITH_MOMENTUM else {}


MOMENTUM = 0.9


def tune(name: str, base: TrainConfig, data, train, val, trials: int, seed: int) -> tuple[dict, list]:
    """The best {lr, weight_decay} of `trials` short runs (validation accuracy), and every trial."""
    import optuna  # noqa: PLC0415 - only the tuning needs it

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    default_lr, default_decay, _ = optimizer_defaults(base.sam_base if name == "sam" else name)

    def objective(trial):
        values = {"lr": trial.suggest_float("lr", default_lr / 30, default_lr * 10, log=True)}
        if name not in NO_DECAY and trial.suggest_categorical("decay", [False, True]):
            values["weight_decay"] = trial.suggest_float("weight_decay", 1e-6, 1e-2, log=True)
        config = base.updated({"optimizer": name, **values, **momentum_of(name)}).resolved()
        history, _, _ = run(config, data, train, val)
        accuracy = history[-1]["val_acc"]
        return accuracy if math.isfinite(history[-1]["val_loss"]) else 0.0

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial({"lr": default_lr, "decay": False})  # the default setting is always one of the trials
    study.optimize(objective, n_trials=trials, catch=(ValueError, FloatingPointError, RuntimeError))
    # a trial without "decay" ran at the optimizer's default weight decay: the final runs must too
    best = {"lr": study.best_params["lr"], "weight_decay": study.best_params.get("weight_decay", default_decay)}
    return best, [{"params": t.params, "val_acc": t.value} for t in study.trials]


def summary(values: list[float]) -> dict:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}


def verdict(rows: list[dict]) -> list[str]:
    """Rank by mean final accuracy; a lead counts only where it exceeds the two spreads together."""
    ranked = sorted(rows, key=lambda r: -r["final"]["mean"])
    lines = []
    for better, worse in zip(ranked, ranked[1:]):
        gap = better["final"]["mean"] - worse["final"]["mean"]
        spread = better["final"]["std"] + worse["final"]["std"]
        relation = "ahead of" if gap > spread else "level with (gap within the spread)"
        lines.append(f"{better['optimizer']} {relation} {worse['optimizer']}: +{gap * 100:.2f} points "
                     f"(spreads {better['final']['std'] * 100:.2f} + {worse['final']['std'] * 100:.2f})")
    return lines


def plot(rows: list[dict], path: Path) -> Path | None:
    try:
        import matplotlib  # noqa: PLC0415

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    styles = ("-", "--", ":")  # the colour cycle has 10 colours: more optimizers than that need a second cue
    for index, row in enumerate(rows):
        curves = np.array(row["train_loss"])
        epochs = np.arange(1, curves.shape[1] + 1)
        ax.plot(epochs, curves.mean(axis=0), label=row["optimizer"], linestyle=styles[index // 10 % len(styles)])
        ax.fill_between(epochs, curves.min(axis=0), curves.max(axis=0), alpha=0.15)
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss (mean over seeds, band: min..max)")
    ax.set_yscale("log")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="mnist", choices=["mnist", "fashion-mnist", "digits"])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--optimizers", nargs="+", default=DEFAULT_OPTIMIZERS, choices=OPTIMIZERS)
    parser.add_argument("--trials", type=int, default=12, help="Optuna trials per optimizer")
    parser.add_argument("--tune-epochs", type=int, default=1, help="epochs of each tuning trial")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of each final run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--model", default="mlp", choices=["mlp", "cnn", "lenet5"],
                        help="the network every optimizer trains (train --model); --hidden is the MLP's")
    parser.add_argument("--hidden", default="256")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--momentum", type=float, default=0.9, help="for sgd, rmsprop, sam (over sgd)")
    parser.add_argument("--train-size", type=int, default=None, help="use only this many training examples")
    parser.add_argument("--tune-train-size", type=int, default=None,
                        help="tuning trials use only the first this many training examples (the final runs all)")
    parser.add_argument("--time-steps", type=int, default=0, metavar="N",
                        help="no tuning or accuracy runs: time N training steps of each optimizer (its default lr) in "
                             "--time-rounds interleaved rounds and report seconds per epoch of the full training set")
    parser.add_argument("--time-rounds", type=int, default=3)
    parser.add_argument("--combine", nargs="+", default=None, metavar="JSON",
                        help="no training: merge the rows of earlier result files (e.g. optimizer lists split "
                             "over processes) into --out's table, verdict and plot")
    parser.add_argument("--out", default=str(RESULTS / "optimizer_shootout.json"))
    args = parser.parse_args(argv)
    if args.combine:
        return combine(args.combine, Path(args.out), argv)

    global MOMENTUM
    MOMENTUM = args.momentum
    base = TrainConfig().updated({"dataset": args.dataset, "data_dir": args.data_dir, "model": args.model,
                                  "hidden": args.hidden,
                                  "batch_size": args.batch_size, "epochs": args.tune_epochs, "quiet": True})
    data, train, val = prepare_data(base.resolved())
    if args.train_size:
        train = (train[0][:args.train_size], train[1][:args.train_size])
    if args.time_steps:
        return epoch_times(args.optimizers, base, data, train, args.time_steps, args.time_rounds, Path(args.out), argv)
    test = (data.x_test, data.y_test)
    tune_train = train if not args.tune_train_size else (train[0][:args.tune_train_size],
                                                         train[1][:args.tune_train_size])
    rows = []
    for name in args.optimizers:
        started = time.perf_counter()
        best, trials = tune(name, base, data, tune_train, val, args.trials, seed=STUDY_ORDER.index(name))
        finals, curves, seconds, accuracy = [], [], [], []
        for seed in range(args.seeds):
            config = base.updated({"optimizer": name, "epochs": args.epochs, "seed": seed, **best,
                                   **momentum_of(name)}).resolved()
            history, test_acc, per_epoch = run(config, data, train, val, test)
            accuracy.append(test_acc)
            curves.append([r["train_loss"] for r in history])
            seconds.append(per_epoch)
        row = {"optimizer": name, "best": best, "trials": trials,
               "final": summary([a[-1] for a in accuracy]),
               "after_1": summary([a[0] for a in accuracy]),
               "after_3": summary([a[min(2, len(a) - 1)] for a in accuracy]),
               "seconds_per_epoch": summary(seconds), "test_accuracy": accuracy, "train_loss": curves,
               "wall_seconds": time.perf_counter() - started}
        rows.append(row)
        print(f"{name:<20} lr {best['lr']:.3g} wd {best['weight_decay']:.2g}: test "
              f"{row['final']['mean'] * 100:.2f} +- {row['final']['std'] * 100:.2f} %  "
              f"({row['seconds_per_epoch']['mean']:.1f} s/epoch)", flush=True)

    return report(rows, Path(args.out), {"settings": vars(args)}, argv)


def report(rows: list[dict], out: Path, extra: dict, argv: list[str] | None) -> dict:
    """Print the table and verdict of `rows`; write them (with the command and machine) to `out` and its plot."""
    print(f"\n{'optimizer':<20}{'lr':>9}{'wd':>9}{'epoch 1':>9}{'epoch 3':>9}{'final':>16}{'s/epoch':>9}")
    for r in sorted(rows, key=lambda r: -r["final"]["mean"]):
        print(f"{r['optimizer']:<20}{r['best']['lr']:>9.2g}{r['best']['weight_decay']:>9.1g}"
              f"{r['after_1']['mean'] * 100:>8.2f}%{r['after_3']['mean'] * 100:>8.2f}%"
              f"{r['final']['mean'] * 100:>9.2f} +-{r['final']['std'] * 100:>4.2f}"
              f"{r['seconds_per_epoch']['mean']:>9.2f}")
    lines = verdict(rows)
    print("\n" + "\n".join(lines))
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"command": "python benchmarks/optimizer_shootout.py " + " ".join(argv if argv is not None else
                                                                              sys.argv[1:]),
              "machine": ", ".join(part for part in (platform.machine(), f"{os.cpu_count()} logical CPUs",
                                                     platform.processor()) if part),
              "python": platform.python_version(), "load_average_at_end": os.getloadavg(),
              **extra, "rows": rows, "verdict": lines}
    out.write_text(json.dumps(result, indent=1))
    figure = plot(rows, out.with_suffix(".png"))
    print(f"wrote {out}" + (f" and {figure}" if figure else ""))
    return result


def epoch_times(names: list[str], base: TrainConfig, data, train, steps: int, rounds: int, out: Path,
                argv: list[str] | None) -> dict:
    """Seconds per epoch of each optimizer's training step alone, for a quiet machine: the accuracy runs time
    whole epochs, which a shared machine's load swamps. Each round trains every optimizer for `steps` batches
    (its default lr; one warm-up round first, untimed), optimizers interleaved; the median over rounds
    scaled to the full training set's batches."""
    subset = (train[0][:steps * base.batch_size], train[1][:steps * base.batch_size])
    batches = math.ceil(len(train[0]) / base.batch_size)
    seconds = {name: [] for name in names}
    for round_ in range(rounds + 1):
        for name in names:
            config = base.updated({"optimizer": name, "epochs": 1, **momentum_of(name)}).resolved()
            trainer, loader, _, _ = build_trainer(config, data, subset, None)
            started = time.perf_counter()
            trainer.fit(loader, None, 1)
            if round_:  # round 0 compiles and warms caches
                seconds[name].append((time.perf_counter() - started) / len(loader) * batches)
    rows = [{"optimizer": name, "seconds_per_epoch": statistics.median(v), "rounds": v} for name, v in seconds.items()]
    print(f"seconds per epoch of {batches} batches of {base.batch_size} (median of {rounds} interleaved rounds of "
          f"{steps} steps each; load average {os.getloadavg()[0]:.2f})")
    for row in sorted(rows, key=lambda r: r["seconds_per_epoch"]):
        print(f"{row['optimizer']:<20}{row['seconds_per_epoch']:>9.2f}")
    command = "python benchmarks/optimizer_shootout.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = {"command": command, "machine": ", ".join(part for part in (platform.machine(),
                                                                        f"{os.cpu_count()} logical CPUs",
                                                                        platform.processor()) if part),
              "load_average_at_end": os.getloadavg(), "steps": steps, "rounds": rounds, "rows": rows}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return result


def combine(paths: list[str], out: Path, argv: list[str] | None) -> dict:
    """One report from several result files of the same settings (only their optimizer lists may differ)."""
    parts = [json.loads(Path(p).read_text()) for p in paths]
    settings = [{k: v for k, v in part["settings"].items() if k not in ("optimizers", "out")} for part in parts]
    if any(s != settings[0] for s in settings[1:]):
        raise SystemExit(f"optimizer_shootout.py --combine: the files were made with different settings: {settings}")
    rows = [row for part in parts for row in part["rows"]]
    names = [row["optimizer"] for row in rows]
    if len(set(names)) != len(names):
        raise SystemExit(f"optimizer_shootout.py --combine: an optimizer appears twice: {names}")
    return report(rows, out, {"settings": settings[0], "parts": [{"command": p["command"],
                                                                  "load_average_at_end": p.get("load_average_at_end")}
                                                                 for p in parts]}, argv)


if __name__ == "__main__":
    main()
