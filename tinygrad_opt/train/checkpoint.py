"""Checkpoints: one pickle-free file holding everything needed to resume or rebuild a run.

A checkpoint (see serialization.py for the file format) is a dict with the keys
  format, version      "tinygrad_opt-checkpoint", 1
  model_config         how to rebuild the model (train.models.build_model)
  model                the model's state_dict (parameters and buffers, NumPy arrays)
  optimizer, scheduler their state_dicts (scheduler None without a schedule)
  epoch, step          completed epochs and optimizer steps
  history              one dict of metrics per completed epoch
  best, early_stopping the monitored metric's best value/epoch, early-stopping state
  partial              None, or the position inside an interrupted epoch
  rng_state            tg.get_rng_state() at that point
  callbacks            state of callbacks that have one
  config               the full effective run config (TrainConfig.to_dict())
  data                 dataset name, number of features, class names
Write it with `save_checkpoint` (atomic); read it with `load_checkpoint`, rebuild the
model with `model_from_checkpoint`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..nn import Module
from ..nn.utils.prune import reparametrize_like
from .errors import ArchitectureMismatchError, CheckpointError
from .models import build_model, describe_model
from .serialization import StateFormatError, atomic_write_bytes, dumps_state, loads_state

FORMAT = "tinygrad_opt-checkpoint"
VERSION = 1


def checkpoint_bytes(state: dict[str, Any]) -> bytes:
    """The file contents of a checkpoint holding `state` (format and version added)."""
    return dumps_state({"format": FORMAT, "version": VERSION, **state})


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write `state` as a checkpoint, atomically (temp file + fsync + os.replace)."""
    return atomic_write_bytes(path, checkpoint_bytes(state))


def resolve_checkpoint_path(path: str | os.PathLike) -> Path:
    """A checkpoint file, or a run folder (its last.ckpt); missing files are a CheckpointError."""
    path = Path(path).expanduser()
    if path.is_dir():
        path = path / "last.ckpt"
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} not found (give a .ckpt file or a run folder holding last.ckpt)")
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by save_checkpoint (a file, or a run folder's last.ckpt)."""
    path = resolve_checkpoint_path(path)
    try:
        state = loads_state(path)
    except StateFormatError as err:
        raise CheckpointError(str(err)) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a tinygrad_opt checkpoint (no '{FORMAT}' marker)")
    version = state.get("version")
    if not _is_count(version) or version < 1:
        raise CheckpointError(f"{path} is damaged: its format version is {version!r}, not a positive integer")
    if version > VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {state['version']}, newer than this "
                              f"tinygrad_opt reads ({VERSION}); upgrade tinygrad_opt")
    check_schema(state, path)
    state["path"] = str(path)
    return state


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# key -> (what it must be, the check); keys a checkpoint may lack are checked only when present
_SCHEMA = {
    "model_config": ("a mapping", lambda v: isinstance(v, dict) and isinstance(v.get("type", "mlp"), str)),
    "model": ("a mapping of names to arrays",
              lambda v: isinstance(v, dict) and all(isinstance(k, str) and isinstance(a, np.ndarray) for k, a in v.items())),
    "optimizer": ("an optimizer state_dict (state and param_groups) or null", lambda v: v is None or (
        isinstance(v, dict) and isinstance(v.get("state"), dict) and isinstance(v.get("param_groups"), list)
        and all(isinstance(g, dict) for g in v["param_groups"]))),
    "scheduler": ("a mapping or null", lambda v: v is None or isinstance(v, dict)),
    "epoch": ("a non-negative integer", _is_count),
    "step": ("a non-negative integer", _is_count),
    "history": ("a list of per-epoch mappings", lambda v: isinstance(v, list) and all(isinstance(h, dict) for h in v)),
    "best": ("a mapping or null", lambda v: v is None or isinstance(v, dict)),
    "early_stopping": ("a mapping or null", lambda v: v is None or isinstance(v, dict)),
    "partial": ("a mapping or null", lambda v: v is None or isinstance(v, dict)),
    "rng_state": ("a mapping of device to generator state or null",
                  lambda v: v is None or (isinstance(v, dict) and all(isinstance(s, dict) for s in v.values()))),
    "callbacks": ("a mapping or null", lambda v: v is None or isinstance(v, dict)),
    "config": ("a mapping or null", lambda v: v is None or isinstance(v, dict)),
    "data": ("a mapping or null", lambda v: v is None or isinstance(v, dict)),
}


def check_schema(state: dict[str, Any], path: str | os.PathLike) -> None:
    """Raise CheckpointError naming the first entry that is not what save_checkpoint writes."""
    for key, (what, ok) in _SCHEMA.items():
        if key in state and not ok(state[key]):
            raise CheckpointError(f"{path} is damaged: its {key!r} entry is not {what} "
                                  f"(got {type(state[key]).__name__})")


def _shape(value: Any) -> tuple:
    return tuple(getattr(value, "shape", ()))


def load_model_state(model: Module, state_dict: dict[str, Any], source: str = "the checkpoint") -> None:
    """Load weights into `model`, or raise ArchitectureMismatchError naming every key and shape that differs.

    A pruned run's weights (`<name>_orig`, `<name>_mask`) load into a fresh model: its
    parameters get the pruning reparametrisation first (nn.utils.prune.reparametrize_like).
    """
    reparametrize_like(model, state_dict)
    local = {k: _shape(v) for k, v in model.state_dict(keep_vars=True).items()}
    saved = {k: _shape(v) for k, v in state_dict.items()}
    problems = []
    differing = [f"{k} {saved[k]} vs {local[k]}" for k in local if k in saved and saved[k] != local[k]]
    if differing:
        problems.append("shapes differ (checkpoint vs model): " + ", ".join(differing))
    missing = [f"{k} {local[k]}" for k in local if k not in saved]
    unexpected = [f"{k} {saved[k]}" for k in saved if k not in local]
    if missing:
        problems.append("missing from the checkpoint: " + ", ".join(missing))
    if unexpected:
        problems.append("in the checkpoint but not in the model: " + ", ".join(unexpected))
    if problems:
        raise ArchitectureMismatchError.about(
            "{what}. Build the model with the checkpoint's own settings (or start a new run in another output "
            "folder, {out})", what=f"{source} was saved from a different architecture: " + "; ".join(problems))
    model.load_state_dict(state_dict)


def model_from_checkpoint(checkpoint: dict[str, Any] | str | os.PathLike, device: str = "cpu",
                          weights: str = "model") -> tuple[Module, dict[str, Any]]:
    """(model, checkpoint): the model rebuilt from the checkpoint's model_config with its weights, in eval mode.

    weights="model" loads the weights as saved; "best" loads the early-stopping best weights
    when the checkpoint holds them (else the saved ones).
    """
    ckpt = checkpoint if isinstance(checkpoint, dict) else load_checkpoint(checkpoint)
    if "model_config" not in ckpt or "model" not in ckpt:
        raise CheckpointError(f"{ckpt.get('path', 'checkpoint')} holds no model_config/model to rebuild a model from")
    try:
        model = build_model(ckpt["model_config"])
    except ValueError as err:
        raise CheckpointError(f"{ckpt.get('path', 'checkpoint')}: {err}") from None
    state = ckpt["model"]
    best = (ckpt.get("early_stopping") or {}).get("best_state")
    if weights == "best" and best:
        state = best
    load_model_state(model, state, f"checkpoint {ckpt.get('path', '')}".strip())
    model.to(device)
    model.eval()
    return model, ckpt


def describe_checkpoint(ckpt: dict[str, Any]) -> str:
    data = ckpt.get("data") or {}
    return (f"{describe_model(ckpt.get('model_config', {}))} trained on {data.get('dataset', '?')} "
            f"for {ckpt.get('epoch', '?')} epochs ({ckpt.get('step', '?')} steps)")
