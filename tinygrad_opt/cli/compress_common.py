"""Shared steps of the prune / quantize / distill commands: a checkpoint's model and data, timing, fine-tuning."""
from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..autograd import no_grad
from ..train.config import TrainConfig, resolve_normalize
from ..train.errors import ConfigError
from ..nn.module import Module
from ..tensor import Tensor


@dataclass
class Loaded:
    """A checkpoint's model (eval mode), the checkpoint, its training config and its data set."""

    model: Module
    checkpoint: dict[str, Any]
    config: TrainConfig
    data: Any  # data.DatasetSplits


def add_checkpoint_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", metavar="DIR", help="folder holding the IDX files (default: the checkpoint's)")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="device (default cpu)")
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")


def load_checkpoint_and_data(path: str, data_dir: str | None = None, device: str = "cpu", what: str = "CHECKPOINT") -> Loaded:
    """Rebuild the model of a checkpoint (pruned ones included) and load the data set it was trained on.

    `path` is a .ckpt file, a run folder (last.ckpt, or best.ckpt after early stopping) or a
    `tinygrad-opt prune` / `quantize` output folder (pruned.ckpt / quantized.ckpt).
    """
    from .evaluate import final_checkpoint  # noqa: PLC0415
    from ..data import load_dataset  # noqa: PLC0415
    from ..train.checkpoint import load_checkpoint  # noqa: PLC0415

    ckpt = load_checkpoint(final_checkpoint(Path(path)))  # prune / quantize output folders too
    if not ckpt.get("config"):
        raise ConfigError(f"{what} {ckpt['path']} holds no training config; give a checkpoint written by tinygrad-opt train")
    config = TrainConfig.from_dict(ckpt["config"], source=f"checkpoint {ckpt['path']}")
    if data_dir is not None:
        config = dataclasses.replace(config, data_dir=data_dir)
    info = ckpt.get("data") or {}
    normalize = resolve_normalize(info.get("normalize") or config.normalize, config.dataset)
    data = load_dataset(info.get("dataset") or config.dataset, data_dir=config.data_dir, normalize=normalize)
    return Loaded(checkpoint_model(ckpt, device), ckpt, config, data)


def checkpoint_model(ckpt: dict[str, Any], device: str = "cpu") -> Module:
    """The model a loaded checkpoint holds, in evaluation mode: a float one (train.model_from_checkpoint) or the
    int8 one `tinygrad-opt quantize --out` wrote (compress.quantized_checkpoint)."""
    from ..compress.quantized_checkpoint import is_quantized, quantized_from_checkpoint  # noqa: PLC0415
    from ..train.checkpoint import model_from_checkpoint  # noqa: PLC0415

    if is_quantized(ckpt.get("model_config")):
        return quantized_from_checkpoint(ckpt, device)
    return model_from_checkpoint(ckpt, device=device)[0]


def test_accuracy(model: Module, data: Any, device: str = "cpu") -> float:
    from ..train.evaluation import evaluate  # noqa: PLC0415

    return evaluate(model, (data.x_test, data.y_test), batch_size=1024, device=device).accuracy


def time_models(models: dict[str, Module], x: Any, repeats: int = 30) -> dict[str, float]:
    """Best-of-`repeats` seconds of one forward pass on x per model, the models run in turn.

    Other processes only ever add time, so the minimum is the steadiest estimate on a
    shared machine (timeit's advice); running the models in turn exposes them to the same load.
    """
    xt = Tensor(x)
    times: dict[str, list[float]] = {name: [] for name in models}
    with no_grad():
        for m in models.values():
            m.eval()
            m(xt)
        for _ in range(repeats):
            for name, m in models.items():
                start = time.perf_counter()
                out = m(xt)
                _ = out.numpy() if out.device != "cpu" else out  # a GPU result is waited for
                times[name].append(time.perf_counter() - start)
    return {name: min(v) for name, v in times.items()}


def finetune(model: Module, loaded: Loaded, epochs: int, lr: float | None = None, batch_size: int | None = None,
             loss_fn: Module | None = None, verbose: bool = True, device: str = "cpu", log_every: int | None = None):
    """Train `model` for `epochs` more epochs with the checkpoint's optimizer settings (lr / batch size overridable).

    The loss is read back from the device as often as the checkpoint's run did (its --log-every),
    unless `log_every` says otherwise. The global generator is seeded with the checkpoint's
    seed first, so the same call fine-tunes the same way on every run.

    Returns the Trainer (its history holds the epochs' metrics). Pruning masks stay as they are.
    """
    from ..backend import manual_seed  # noqa: PLC0415
    from ..data import DataLoader  # noqa: PLC0415
    from ..train.factories import make_optimizer  # noqa: PLC0415
    from ..train.run import prepare_data  # noqa: PLC0415
    from ..train.trainer import Trainer  # noqa: PLC0415

    config = loaded.config
    changes = {k: v for k, v in (("lr", lr), ("batch_size", batch_size), ("log_every", log_every)) if v is not None}
    if changes:
        config = dataclasses.replace(config, **changes)
    _, (x_train, y_train), val = prepare_data(config)
    manual_seed(config.seed)  # the batch order (and dropout): the same fine-tuning on every run
    loader = DataLoader((x_train, y_train), batch_size=config.batch_size, shuffle=True)
    val_loader = None if val is None else DataLoader(val, batch_size=1024)
    trainer = Trainer(model, make_optimizer(config, model.parameters()), loss_fn, verbose=verbose, progress=False,
                      device=device, monitor="val_loss", log_every=config.log_every)
    trainer.fit(loader, val_loader, epochs=epochs)
    model.eval()
    return trainer
