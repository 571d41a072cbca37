"""A whole training run from a TrainConfig: data, model, optimizer, schedule, loop, outputs, test report.

This is what `tinygrad-opt train` calls, and what a tuner or a script calls to train
"like the CLI" (pass callbacks to watch each epoch):

    from tinygrad_opt.train import TrainConfig, run_training
    result = run_training(TrainConfig(hidden=[64], epochs=5, out="runs/try"))
    result.test.accuracy, result.history[-1]["val_loss"], result.out_dir

The output folder gets config.toml (the effective config), last.ckpt, best.ckpt,
history.json, history.csv, curves.png (with matplotlib) and test_report.json.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterable

from ..backend import cuda_is_available, manual_seed, to_device, GPU_INSTALL_HINT
from .config import TrainConfig
from .config_file import save_config
from .errors import ConfigError
from ..data import DataLoader, check_batch_size, load_dataset, train_val_split
from ..nn import Module
from .callbacks import Callback
from .checkpoint import load_checkpoint, resolve_checkpoint_path
from .early_stopping import EarlyStopping
from .errors import CheckpointError
from .evaluation import EvalResult
from .factories import make_optimizer, make_scheduler
from ..data.affine import RandomAffineLoader
from ..data.augment import RandomShiftLoader
from .models import build_model, describe_model, model_config_for
from .out_lock import hold_out_folder
from .serialization import atomic_write_text
from .trainer import Trainer

# Settings that may differ when a run is resumed. Architecture settings (hidden, batchnorm,
# dataset) reach the weight loading, which names any key/shape that does not fit; the rest
# must match, or the resumed run would not be the run that was saved.
RESUME_OVERRIDABLE = ("epochs", "patience", "out", "quiet", "device", "data_dir", "hidden", "batchnorm", "dataset",
                      "log_every", "capture")
EVAL_BATCH_SIZE = 1024


@dataclass
class RunResult:
    """What run_training produced."""

    config: TrainConfig  # the effective config
    out_dir: Path
    history: list[dict[str, Any]]
    test: EvalResult  # on the test split, with the final (or early-stopping best) weights
    model: Module
    trainer: Trainer
    seconds: float


def default_out_dir(dataset: str) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{dataset}-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def resume_config(config: TrainConfig, checkpoint: dict[str, Any], explicit: Iterable[str]) -> TrainConfig:
    """The saved run's config with the explicitly given settings applied; conflicting ones are a ConfigError."""
    saved = TrainConfig.from_dict(checkpoint.get("config") or {}, source=f"checkpoint {checkpoint.get('path')}")
    built = (checkpoint.get("model_config") or {}).get("dropout")
    if built is not None:  # the model's own value: older checkpoints stored dropout 0 for the CNN's default 0.5
        saved = dataclasses.replace(saved, dropout=float(built))
    changes = {}
    conflicts = []
    for key in explicit:
        new, old = getattr(config, key), getattr(saved, key)
        if new == old:
            continue
        if key in RESUME_OVERRIDABLE:
            changes[key] = new
        else:
            conflicts.append(f"{key} ({old!r} in the checkpoint, {new!r} given)")
    if conflicts:
        raise ConfigError.about(
            "{resume} continues the saved run, but these settings differ from it: {conflicts}. Drop them, or start "
            "a new run in another {out} folder (only {overridable} may change)",
            conflicts=", ".join(conflicts), overridable=", ".join(RESUME_OVERRIDABLE))
    merged = dataclasses.replace(saved, **changes)
    if merged.schedule == "onecycle" and merged.epochs != saved.epochs:
        raise ConfigError.about("{epochs} cannot change when resuming a onecycle schedule (its cycle spans the "
                                "saved {saved} epochs); start a new run to train longer", saved=saved.epochs)
    return merged


def _check_device(device: str) -> None:
    if device == "cuda" and not cuda_is_available():
        raise ConfigError.about("{device} cuda was requested but CUDA is not available: {hint}", hint=GPU_INSTALL_HINT)


def prepare_data(config: TrainConfig):
    """(dataset splits, (x_train, y_train), (x_val, y_val) or None), with the batch size checked."""
    data = load_dataset(config.dataset, data_dir=config.data_dir, normalize=config.normalize)
    x_train, y_train = data.x_train, data.y_train
    val = None
    if config.val_fraction > 0:
        x_train, y_train, x_val, y_val = train_val_split(x_train, y_train, config.val_fraction, seed=config.seed)
        val = (x_val, y_val)
    try:
        check_batch_size(config.batch_size, len(y_train), f"the {config.dataset} training set")
    except (TypeError, ValueError) as err:
        raise ConfigError.about("{batch_size}: {err}", err=err) from None
    return data, (x_train, y_train), val


def build_trainer(config: TrainConfig, data, train: tuple, val: tuple | None, *,
                  callbacks: Iterable[Callback] = (), out_dir: Path | None = None,
                  progress: bool = False, verbose: bool = False):
    """The seeded model, loaders, optimizer, schedule, early stopping and Trainer for `config`.

    Everything is built in one fixed order after `manual_seed(config.seed)`, since that
    order fixes the random draws: a CLI run and a tuning trial of the same config train
    identically. Returns (trainer, train_loader, val_loader, model_config). With an
    `out_dir`, checkpoints carry what `evaluate` and `--resume` need to rebuild the run.
    """
    manual_seed(config.seed)
    model_config = model_config_for(config, data.num_features, data.num_classes)
    model = build_model(model_config).to(config.device)
    train_loader = DataLoader(train, batch_size=config.batch_size, shuffle=True)
    if config.augment:
        side = int(round(data.num_features ** 0.5))
        if side * side != data.num_features:
            raise ConfigError.about("{augment} shifts square one-channel images, but {name} has {features} features "
                                    "per sample", name=data.name, features=data.num_features)
        if config.augment_rotation or config.augment_scale:
            train_loader = RandomAffineLoader(train_loader, (1, side, side), config.augment_rotation,
                                              config.augment_scale, max_shift=2)
        else:
            train_loader = RandomShiftLoader(train_loader, (1, side, side), max_shift=2)
    val_loader = None if val is None else DataLoader(val, batch_size=EVAL_BATCH_SIZE)
    optimizer = make_optimizer(config, model.parameters())
    scheduler = make_scheduler(config, optimizer, len(train_loader))
    early = EarlyStopping(config.patience, monitor=config.monitor) if config.patience else None
    extra = None
    if out_dir is not None:
        extra = {
            "model_config": model_config, "config": config.to_dict(),
            "data": {"dataset": data.name, "num_features": data.num_features,
                     "class_names": list(data.class_names), "normalize": config.normalize},
        }
    trainer = Trainer(
        model, optimizer, scheduler=scheduler, l1=config.l1, l2=config.l2, clip_grad=config.clip_grad,
        early_stopping=early, monitor=config.monitor, callbacks=[*pruning_callbacks(config, verbose), *callbacks],
        out_dir=out_dir,
        progress=progress, verbose=verbose, device=config.device, class_names=data.class_names,
        checkpoint_extra=extra, log_every=config.log_every, capture=config.capture,
        flush_denormal=config.flush_denormal,
    )
    return trainer, train_loader, val_loader, model_config


def pruning_callbacks(config: TrainConfig, verbose: bool = False) -> list[Callback]:
    """[GradualPruningCallback] when the config prunes (`prune` other than "none"), else []."""
    if config.prune == "none":
        return []
    from ..compress.callback import GradualPruningCallback  # noqa: PLC0415 - only runs that prune need it

    return [GradualPruningCallback(config.sparsity, method=config.prune, start_epoch=config.prune_start_epoch,
                                   end_epoch=config.prune_end_epoch, frequency=config.prune_frequency,
                                   verbose=verbose)]


def run_training(config: TrainConfig, *, resume: str | os.PathLike | dict | None = None,
                 explicit: Iterable[str] | None = None, given: Iterable[str] = (), callbacks: Iterable[Callback] = (),
                 progress: bool | None = None, log: Callable[[str], None] | None = None) -> RunResult:
    """Train as `config` says, write the outputs, evaluate on the test split; see the module docstring.

    resume: a checkpoint path, run folder or loaded checkpoint to continue (its config is
    used; `explicit` names the settings of `config` that were given on purpose and override
    it, see RESUME_OVERRIDABLE). given: the settings given one by one (the command line's options), which
    the run must read, see TrainConfig.resolved. log: where progress lines go (default print; quiet: none).
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"run_training: config must be a TrainConfig, got {type(config).__name__}"
                        + ("; for a dict of settings use TrainConfig.from_dict(d)" if isinstance(config, dict) else ""))
    started = time.perf_counter()
    checkpoint = None
    if resume is not None:
        checkpoint = resume if isinstance(resume, dict) else load_checkpoint(resume)
        config = resume_config(config, checkpoint, explicit if explicit is not None else ())
        done = checkpoint.get("epoch", 0)
        if config.epochs < done:
            raise ConfigError.about("{epochs} {given} is fewer than the {done} epochs {path} has already trained: "
                                    "give {epochs} {more} or more to train on, or evaluate it with tinygrad-opt "
                                    "evaluate {path}", given=config.epochs, done=done, more=done + 1,
                                    path=checkpoint["path"])
        if config.out is None or "out" not in (explicit or ()):
            config = dataclasses.replace(config, out=str(Path(checkpoint["path"]).parent))
    config = config.resolved(given)
    if log is None:
        log = (lambda line: None) if config.quiet else (lambda line: print(line, flush=True))
    _check_device(config.device)
    out_dir = Path(config.out) if config.out else default_out_dir(config.dataset)
    if checkpoint is None and (out_dir / "last.ckpt").exists():
        raise ConfigError.about("{path} already holds a run (last.ckpt): continue it with {resume} {path}, or "
                                "choose another {out} folder", path=out_dir)
    config = dataclasses.replace(config, out=str(out_dir))

    data, (x_train, y_train), val = prepare_data(config)
    if config.device == "cuda":  # the data goes to the GPU once; batches are sliced there
        x_train, y_train = to_device(x_train, "cuda"), to_device(y_train, "cuda")
        val = None if val is None else (to_device(val[0], "cuda"), to_device(val[1], "cuda"))
    trainer, train_loader, val_loader, model_config = build_trainer(
        config, data, (x_train, y_train), val, callbacks=callbacks, out_dir=out_dir,
        progress=(not config.quiet and sys.stderr.isatty()) if progress is None else progress,
        verbose=not config.quiet,
    )
    model = trainer.model
    if checkpoint is not None:
        trainer.load_state_dict(checkpoint, f"checkpoint {checkpoint['path']}")
        trainer.last_checkpoint = Path(checkpoint["path"])
    with hold_out_folder(out_dir):
        if checkpoint is None and (out_dir / "last.ckpt").exists():  # written by a run that ended meanwhile
            raise ConfigError.about("{path} already holds a run (last.ckpt): continue it with {resume} {path}, or "
                                    "choose another {out} folder", path=out_dir)
        save_config(config, out_dir / "config.toml")

        n_val = 0 if val is None else len(val[1])
        action = f"resuming from {checkpoint['path']} (epoch {trainer.epoch})" if checkpoint else "training"
        log(f"{action}: {describe_model(model_config)} on {data.name} ({len(y_train)} train / {n_val} val / "
            f"{len(data.y_test)} test samples), {config.optimizer} lr {config.lr:g}, batch {config.batch_size}, "
            f"{config.epochs} epochs, schedule {config.schedule}, device {config.device} -> {out_dir}")
        history = trainer.fit(train_loader, val_loader, epochs=config.epochs)

        test = trainer.evaluate((data.x_test, data.y_test), batch_size=EVAL_BATCH_SIZE)
        atomic_write_text(out_dir / "test_report.json", json.dumps(test.to_dict(), indent=1) + "\n")
    seconds = time.perf_counter() - started
    return RunResult(config=config, out_dir=out_dir, history=history, test=test, model=model, trainer=trainer,
                     seconds=seconds)


def checkpoint_for_resume(value: str | os.PathLike | bool, out: str | None) -> Path:
    """The checkpoint --resume means: a file, a run folder's last.ckpt, or (bare --resume) --out's last.ckpt."""
    if value is True:
        if not out:
            raise ConfigError.about("{resume} without a path needs {out} DIR (the run folder to continue)")
        value = out
    try:
        return resolve_checkpoint_path(value)
    except CheckpointError as err:
        raise ConfigError(str(err)) from None
