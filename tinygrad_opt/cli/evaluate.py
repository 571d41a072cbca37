"""Evaluate a checkpoint on a test set: accuracy, macro and per-class precision / recall / F1, confusion matrix.

The model is rebuilt from the checkpoint (its model config and weights); the data set,
data folder and input scaling default to the ones the checkpoint was trained with.
"""
from __future__ import annotations

import argparse
import json

from ..train.config import DATASETS, DEVICES, resolve_normalize
from ..train.errors import ConfigError
from .options import _choice_normalizer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT",
                        help="a .ckpt file, or a run folder: the weights the run ended with (last.ckpt, "
                             "or best.ckpt when it used early stopping), or a prune / quantize --out folder")
    parser.add_argument("--dataset", choices=DATASETS, type=_choice_normalizer,
                        help="data set to evaluate on (default: the checkpoint's)")
    parser.add_argument("--data-dir", metavar="DIR", help="folder holding the IDX files (default: the checkpoint's)")
    parser.add_argument("--split", choices=("test", "train"), default="test", help="which split (default test)")
    parser.add_argument("--batch-size", type=int, default=1024, help="evaluation batch size (default 1024)")
    parser.add_argument("--device", choices=DEVICES, default="cpu", help="device (default cpu)")
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON to FILE")


# what `prune --out` and `quantize --out` folders hold instead of a run's last.ckpt
COMPRESSED_CHECKPOINTS = ("pruned.ckpt", "quantized.ckpt")


def final_checkpoint(path):
    """For a run folder, the checkpoint holding the weights the run ended with (for a prune or quantize
    output folder, its pruned.ckpt or quantized.ckpt); a file as it is."""
    if path.is_dir() and not (path / "last.ckpt").is_file():
        found = [path / name for name in COMPRESSED_CHECKPOINTS if (path / name).is_file()]
        return found[0] if len(found) == 1 else path
    if not path.is_dir():
        return path
    from ..train.checkpoint import load_checkpoint  # noqa: PLC0415

    early = (load_checkpoint(path / "last.ckpt").get("config") or {}).get("patience")
    return path / "best.ckpt" if early and (path / "best.ckpt").is_file() else path / "last.ckpt"


def run(args: argparse.Namespace) -> int:
    from pathlib import Path  # noqa: PLC0415

    from ..data import load_dataset  # noqa: PLC0415
    from .compress_common import checkpoint_model  # noqa: PLC0415
    from ..train.checkpoint import describe_checkpoint, load_checkpoint  # noqa: PLC0415
    from ..train.evaluation import evaluate  # noqa: PLC0415
    from ..train.serialization import atomic_write_text  # noqa: PLC0415

    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be a positive integer, got {args.batch_size}")
    ckpt = load_checkpoint(final_checkpoint(Path(args.checkpoint)))
    saved = ckpt.get("config") or {}
    info = ckpt.get("data") or {}
    dataset = args.dataset or info.get("dataset") or saved.get("dataset", "digits")
    data_dir = args.data_dir if args.data_dir is not None else saved.get("data_dir")
    normalize = resolve_normalize(info.get("normalize") or saved.get("normalize") or "unit", dataset)
    data = load_dataset(dataset, data_dir=data_dir, normalize=normalize)
    model_config = ckpt.get("model_config") or {}
    expected = (model_config.get("in_features"), model_config.get("num_classes"))
    if expected != (data.num_features, data.num_classes):
        raise ConfigError(
            f"checkpoint {ckpt['path']} holds a model for {expected[0]} input features and {expected[1]} classes "
            f"(trained on {info.get('dataset', '?')}), but {dataset} has {data.num_features} features and "
            f"{data.num_classes} classes; evaluate it on {info.get('dataset', 'the data set it was trained on')}"
        )
    model = checkpoint_model(ckpt, device=args.device)  # a quantized checkpoint too
    x, y = (data.x_test, data.y_test) if args.split == "test" else (data.x_train, data.y_train)
    result = evaluate(model, (x, y), class_names=data.class_names, batch_size=args.batch_size, device=args.device)
    print(f"checkpoint {ckpt['path']}: {describe_checkpoint(ckpt)}")
    print(result.format(title=f"{dataset} {args.split} set"))
    if args.json:
        atomic_write_text(args.json, json.dumps(result.to_dict(), indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0
