"""Search hyperparameters with Optuna: many short training runs, bad ones pruned early.

Each trial trains one configuration for --epochs epochs and scores it on the
validation split (--metric). The study lives in --storage (default: OUT/study.db,
SQLite), so re-running the same command resumes it, and the same command on other
machines pointed at one PostgreSQL database (or one journal file on a shared disk)
joins it: --trials is the study's total, shared by all workers. At the end: a table
of the best trials, OUT/trials.csv, OUT/optimization_history.png,
OUT/param_importances.png and OUT/best_config.toml, which retrains the winner:
    tinygrad-opt train --config OUT/best_config.toml --epochs 10
The search space (see README, "Hyperparameter search") has built-in defaults; --space
FILE (TOML or YAML) replaces or extends them.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from ..train.config import DATASETS, DEVICES, MODELS, TrainConfig
from ..train.config_file import read_config_file
from ..train.errors import ConfigError
from .main import EXIT_INTERRUPTED
from .options import finite_float, seed_value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("search")
    g.add_argument("--trials", type=int, default=20, metavar="N",
                   help="trials in the study, over all workers and machines (default 20)")
    g.add_argument("--timeout", type=finite_float, default=None, metavar="S", help="start no new trial after S seconds")
    g.add_argument("--space", metavar="FILE", help="search-space file (TOML/YAML) on top of the built-in space")
    g.add_argument("--metric", default="val_acc", choices=("val_acc", "val_loss"),
                   help="validation accuracy (maximised, default) or loss (minimised)")
    g.add_argument("--pruner", default="median", choices=("median", "hyperband", "none"),
                   help="how bad trials are stopped early (default median)")
    g.add_argument("--enqueue", action="append", default=[], metavar="K=V,...",
                   help="a starting point tried first, e.g. 'lr=1e-5,optimizer=sgd' or JSON (repeatable)")
    g.add_argument("--seed", type=seed_value, default=None,
                   help="seed of the sampler (worker k: seed + k) and of every trial's training "
                        "(default: --config's seed, else 0)")
    g.add_argument("--top", type=int, default=10, metavar="K", help="rows in the results table (default 10)")
    g.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    g.add_argument("--quiet", action="store_true", help="no per-trial lines or table")
    s = parser.add_argument_group("study and workers")
    s.add_argument("--study", metavar="NAME", help="study name (default: the dataset's name, then -cnn or -lenet5 "
                   "for those models)")
    s.add_argument("--storage", metavar="URL",
                   help="sqlite:///PATH, postgresql://USER@HOST:PORT/DB or journal:PATH (default sqlite in --out)")
    s.add_argument("--workers", type=int, default=1, metavar="K", help="worker processes on this machine (default 1)")
    s.add_argument("--out", metavar="DIR", help="output folder (default runs/tune-<study>)")
    s.add_argument("--heartbeat", type=finite_float, default=10.0, metavar="S",
                   help="seconds between heartbeats of a running trial (default 10)")
    s.add_argument("--grace", type=finite_float, default=None, metavar="S",
                   help="a trial silent this long is failed as dead (default 3 heartbeats + 5 s)")
    t = parser.add_argument_group("training (shared by every trial)")
    t.add_argument("--config", metavar="FILE", help="a train config file (TOML/YAML) with the shared settings")
    t.add_argument("--dataset", choices=DATASETS, help="dataset (default digits, embedded)")
    t.add_argument("--model", choices=MODELS,
                   help="model family, which also picks the built-in search space: mlp (default; hidden layers, "
                        "dropout, ...), cnn (conv widths, dropout, optimizer, schedule) or lenet5")
    t.add_argument("--data-dir", metavar="DIR", help="folder of the MNIST / Fashion-MNIST IDX files")
    t.add_argument("--epochs", type=int, metavar="N", help="epochs per trial (default 3)")
    t.add_argument("--val-fraction", type=finite_float, metavar="F", help="validation share of the training set (default 0.1)")
    t.add_argument("--device", choices=DEVICES, help="device (default cpu)")


def parse_point(text: str) -> dict[str, Any]:
    """'lr=1e-5,optimizer=sgd' or a JSON object -> {"lr": 1e-5, "optimizer": "sgd"}."""
    text = text.strip()
    if text.startswith("{"):
        try:
            point = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(f"--enqueue: not valid JSON ({err.msg}): {text!r}") from None
        if not isinstance(point, dict):
            raise ConfigError(f"--enqueue: expected a JSON object, got {text!r}")
        return point
    point: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        if "=" not in item:
            raise ConfigError(f"--enqueue: expected KEY=VALUE pairs separated by commas, got {item!r}")
        key, raw = (x.strip() for x in item.split("=", 1))
        try:
            point[key] = json.loads(raw)
        except json.JSONDecodeError:
            point[key] = raw  # a bare word such as sgd
    return point


def build_settings(args: argparse.Namespace):
    """TuneSettings from the parsed options (user errors become ConfigError: one line, exit code 2)."""
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise ConfigError("tinygrad-opt tune needs Optuna: pip install 'tinygrad_opt[tune]'") from None
    from ..tune import SpaceError, TuneSettings, load_space

    base: dict[str, Any] = {}
    if args.config:
        base.update({str(k).replace("-", "_"): v for k, v in read_config_file(args.config).items()})
    for key in ("dataset", "data_dir", "epochs", "val_fraction", "device", "model"):
        value = getattr(args, key)
        if value is not None:
            base[key] = value
    base.setdefault("epochs", 3)
    seed = args.seed if args.seed is not None else int(base.get("seed", 0))
    base["seed"] = seed
    base.pop("out", None)
    base.pop("quiet", None)
    TrainConfig.from_dict(base, source=f"config file {args.config}" if args.config else "tune options")
    shared = TrainConfig.from_dict(base, source="tune options")
    # another model family is another space: its study must not resume the MLP's
    default_study = shared.dataset + ("" if shared.model == "mlp" else f"-{shared.model}")
    study = args.study if args.study is not None else default_study  # an empty --study is refused, not replaced
    try:
        space = load_space(args.space, model=shared.model)
        for text in args.enqueue:
            point = parse_point(text)
            # each value parsed as its setting now, not when its trial runs (a wasted slot)
            # (a name that is no setting is left to the space, whose message lists the searched ones)
            shared.updated({k: v for k, v in point.items() if k in TrainConfig.keys()}, source="--enqueue")
            space.enqueue.append(point)
        space = type(space)(space.params, space.fixed, space.enqueue)  # re-validate the added points
        return TuneSettings(
            trials=args.trials, timeout=args.timeout, storage=args.storage, study=study, workers=args.workers,
            out=args.out or "", metric=args.metric, pruner=args.pruner, seed=seed, heartbeat=args.heartbeat,
            grace=args.grace, space=space, base=base, top=args.top, plots=not args.no_plots, verbose=not args.quiet,
        )
    except ConfigError:
        raise
    except (SpaceError, ValueError) as err:
        raise ConfigError(_as_flags(str(err))) from None


def _as_flags(message: str) -> str:
    """TuneSettings names its parameters as `name=value`; the command line knows them as `--name value`."""
    message = message.replace("TuneSettings: ", "")
    return re.sub(r"\b([a-z][a-z_]*)=(?=\S)", lambda m: f"--{m.group(1).replace('_', '-')} ", message)


def run(args: argparse.Namespace) -> int:
    settings = build_settings(args)
    from ..tune.runner import run_tune

    try:
        result = run_tune(settings)
    except KeyboardInterrupt:
        print(f"\ntinygrad-opt tune: interrupted; the study {settings.study!r} keeps every finished trial. Resume it "
              "by running the same command again (same --study, and --storage or --out): it runs the remaining "
              "trials without repeating the configurations already scored", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, RuntimeError) as err:
        if isinstance(err, ConfigError):
            raise
        raise ConfigError(_as_flags(str(err))) from err
    done = result.counts["COMPLETE"] + result.counts["PRUNED"] + result.counts["FAIL"]
    return 0 if done and result.best_value is not None else 1
