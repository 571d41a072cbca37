"""Train an MLP classifier on the embedded digits, MNIST or Fashion-MNIST.

With no options it trains on the embedded 8x8 digits (offline) and reports the test
accuracy. Settings come from the defaults, then --config FILE (TOML, or YAML with
pyyaml; the keys are the option names, e.g. batch_size = 64), then the options given.
Outputs go to --out (default runs/<dataset>-<time>): config.toml, last.ckpt, best.ckpt,
history.json, history.csv, curves.png and test_report.json.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
import warnings
from typing import Iterator

from ..capture import CaptureWarning
from ..train.config import TrainConfig
from ..train.config_file import load_config, read_config_file, save_config
from ..train.run import checkpoint_for_resume, run_training
from .options import add_config_arguments, explicit_settings
from .outputs import check_output_folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="read settings from a TOML (or YAML) file; options given override it")
    parser.add_argument("--save-config", metavar="FILE",
                        help="write the effective config to FILE (TOML, or YAML for .yaml/.yml) and exit without training")
    parser.add_argument("--resume", nargs="?", const=True, metavar="CHECKPOINT",
                        help="continue a run from a checkpoint file or run folder (bare --resume: --out's last.ckpt); "
                             "its per-epoch losses equal those of an uninterrupted run")
    add_config_arguments(parser)


def build_config(args: argparse.Namespace) -> tuple[TrainConfig, set[str]]:
    """(config, names of the settings chosen on purpose: in the file or on the command line)."""
    given = explicit_settings(args)
    config, chosen = TrainConfig(), set(given)
    if args.config:
        config = load_config(args.config)
        chosen |= {str(k).replace("-", "_") for k in read_config_file(args.config)}
    return dataclasses.replace(config, **given), chosen  # argparse has parsed each given value already


def run(args: argparse.Namespace) -> int:
    config, chosen = build_config(args)
    # an option on the command line must be read by the run whatever its value; a config file's keys are
    # checked by value only, since a written effective config (config.toml, best_config.toml) holds them all
    flags = set(explicit_settings(args))
    check_output_folder(config.out, "--out")  # also when it came from a config file
    if args.save_config:
        path = save_config(config.resolved(flags), args.save_config)
        print(f"wrote the effective config to {path}")
        return 0
    resume = checkpoint_for_resume(args.resume, config.out) if args.resume else None
    with capture_notes():
        result = run_training(config, resume=resume, explicit=chosen, given=flags)
    test, out = result.test, result.out_dir
    print(f"test accuracy {test.accuracy:.4f}  loss {test.loss:.4f}  macro F1 {test.f1:.4f}  "
          f"({test.num_samples} samples; {result.trainer.epoch} epochs in {result.seconds:.1f} s)")
    files = [p.name for p in sorted(out.iterdir()) if p.is_file() and not p.name.startswith(".")]
    print(f"outputs in {out}: {', '.join(files)}")
    if not config.quiet:
        final = "best.ckpt" if result.trainer.early_stopping is not None else "last.ckpt"
        print(f"full report: tinygrad-opt evaluate {out / final}")
    return 0


@contextlib.contextmanager
def capture_notes() -> Iterator[None]:
    """Why a run's step is not replayed (a value read in it, ...): one stderr line, not a warning with source."""
    with warnings.catch_warnings():
        show = warnings.showwarning

        def note(message, category, filename, lineno, file=None, line=None):
            if not issubclass(category, CaptureWarning):
                return show(message, category, filename, lineno, file, line)
            reason = str(message).split("): ", 1)[-1]
            print(f"note: capture: {reason} (--no-capture skips the attempt)", file=sys.stderr)

        warnings.showwarning = note
        yield
