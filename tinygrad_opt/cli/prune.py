"""Prune a trained checkpoint once (magnitude, random, whole hidden units or conv filters), optionally fine-tune,
and report.

Methods (weight matrices only; biases are kept, except a pruned filter's):
  global-l1      the smallest-magnitude weights over all layers together (layers end up unevenly sparse)
  l1             the smallest-magnitude weights of each layer, --amount of each
  random         --amount of each layer's weights chosen at random (a baseline for the others)
  ln-structured  whole hidden units: the --amount of each hidden layer's units whose incoming
                 weights have the smallest L--n norm; with --shrink the units are removed
                 physically, giving a smaller, faster model
  ln-filters     whole convolution filters (CNN checkpoints): the --amount of each conv's filters
                 with the smallest L--n norm, their bias and BatchNorm2d channels too; with --shrink
                 they are removed physically from the conv, its BatchNorm2d and the next layer
Prints test accuracy and sparsity before pruning, right after it and after --finetune-epochs
epochs of training with the masks fixed (the checkpoint's optimizer settings). Writes
DIR/pruned.ckpt, with the masks (weight_orig / weight_mask, as torch saves a pruned model:
`tinygrad-opt evaluate`, `quantize` and further `prune` runs read it, and later training
keeps the pruned weights at zero), and DIR/prune_report.json.
--amount counts what is still unpruned, as torch.nn.utils.prune does: 0.5 on a checkpoint
that is already 80% sparse prunes half of the remaining 20%, giving 90%.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..train.errors import ConfigError
from .options import finite_float
from .compress_common import add_checkpoint_data_arguments
from .outputs import check_output_folder

METHODS = ("global-l1", "l1", "random", "ln-structured", "ln-filters")
SHRINKING = ("ln-structured", "ln-filters")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="a .ckpt file or a run folder")
    parser.add_argument("--method", choices=METHODS, default="global-l1", help="how to choose what to prune (default global-l1)")
    parser.add_argument("--amount", type=finite_float, required=True, metavar="A",
                        help="fraction to prune, in [0, 1], of the weights (hidden units for ln-structured, each conv's "
                             "filters for ln-filters) not pruned yet")
    parser.add_argument("--n", type=finite_float, default=None,
                        help="norm order for ln-structured and ln-filters (default 2)")
    parser.add_argument("--shrink", action="store_true",
                        help="ln-structured: remove the pruned units physically (a smaller Linear pair); ln-filters: "
                             "remove the pruned filters (smaller convolutions, BatchNorm2d and next layer)")
    parser.add_argument("--finetune-epochs", type=int, default=0, metavar="N", help="epochs of fine-tuning after pruning (default 0)")
    parser.add_argument("--lr", type=finite_float, default=None, help="fine-tuning learning rate (default: the checkpoint's)")
    parser.add_argument("--batch-size", type=int, default=None, help="fine-tuning batch size (default: the checkpoint's)")
    parser.add_argument("--log-every", type=int, default=None, metavar="N",
                        help="fine-tuning: steps between reads of the running loss from the device (default: the "
                             "checkpoint's, else every step on cpu, 50 on cuda); the results do not depend on it")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="output folder (default: pruned-<method>-<amount> next to the checkpoint)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines while fine-tuning")
    add_checkpoint_data_arguments(parser)


def _check(args: argparse.Namespace) -> None:
    if not 0.0 <= args.amount <= 1.0:
        raise ConfigError(f"--amount must be a fraction in [0, 1], got {args.amount}")
    if args.finetune_epochs < 0:
        raise ConfigError(f"--finetune-epochs must be >= 0, got {args.finetune_epochs}")
    if args.shrink and args.method not in SHRINKING:
        raise ConfigError("--shrink removes whole hidden units or filters, so it needs --method ln-structured or "
                          "ln-filters")
    if args.method == "ln-structured" and args.amount >= 1.0:
        raise ConfigError(f"--amount {args.amount:g} would remove every hidden unit, leaving a model that predicts "
                          "one class; --method ln-structured needs an --amount below 1")
    if args.n is not None and args.method not in SHRINKING:  # global-l1 / l1 / random have no norm order
        raise ConfigError(f"--n sets the norm order of --method ln-structured or ln-filters, not {args.method}")
    if args.n is None:  # None, not 2, as argparse's default: --n 2 with global-l1 is refused too
        args.n = 2.0
    unused = [flag for flag, value in (("--lr", args.lr), ("--batch-size", args.batch_size),
                                       ("--log-every", args.log_every)) if value is not None]
    if unused and not args.finetune_epochs:
        verb = "sets" if len(unused) == 1 else "set"
        raise ConfigError(f"{', '.join(unused)} {verb} the fine-tuning, which is off: add --finetune-epochs N "
                          "(e.g. --finetune-epochs 1)")
    if args.method == "ln-filters" and args.amount >= 1.0:
        raise ConfigError(f"--amount {args.amount:g} would remove every filter; --method ln-filters needs an "
                          "--amount below 1 (each conv keeps some filters)")


def apply_method(model, method: str, amount: float, n: float = 2.0) -> None:
    """Prune `model`'s weight matrices in place with one of METHODS."""
    from ..compress.schedule import prunable_weights  # noqa: PLC0415
    from ..compress.filters import prune_filters  # noqa: PLC0415
    from ..compress.structured import prune_hidden_units  # noqa: PLC0415
    from ..nn.utils import prune  # noqa: PLC0415

    pairs = prunable_weights(model)
    if method == "global-l1":
        prune.global_unstructured(pairs, pruning_method=prune.L1Unstructured, amount=amount)
    elif method == "l1":
        for m, name in pairs:
            prune.l1_unstructured(m, name, amount)
    elif method == "random":
        for m, name in pairs:
            prune.random_unstructured(m, name, amount)
    elif method == "ln-filters":
        prune_filters(model, amount, n=n)
    else:
        prune_hidden_units(model, amount, n=n)


def run(args: argparse.Namespace) -> int:
    from .compress_common import finetune, load_checkpoint_and_data, test_accuracy  # noqa: PLC0415
    from ..compress.filters import alive_filters, conv_channels, shrink_filters  # noqa: PLC0415
    from ..compress.structured import hidden_sizes, shrink  # noqa: PLC0415
    from ..nn import Conv2d  # noqa: PLC0415
    from ..nn.utils import prune  # noqa: PLC0415
    from ..train.checkpoint import describe_checkpoint, save_checkpoint  # noqa: PLC0415
    from ..train.models import describe_model  # noqa: PLC0415
    from ..train.serialization import atomic_write_text  # noqa: PLC0415

    _check(args)
    loaded = load_checkpoint_and_data(args.checkpoint, args.data_dir, args.device)
    model, ckpt, data = loaded.model, loaded.checkpoint, loaded.data
    # the fine-tuning settings go through the one resolve path, before any work
    given = {key: getattr(args, key) for key in ("lr", "batch_size", "log_every") if getattr(args, key) is not None}
    loaded.config = loaded.config.updated(given).resolved()
    out = Path(args.out) if args.out else Path(ckpt["path"]).parent / f"pruned-{args.method}-{args.amount:g}"
    if (out / "pruned.ckpt").exists():
        raise ConfigError(f"{out} already holds a pruned checkpoint (pruned.ckpt); choose another --out folder")
    check_output_folder(out, "--out")
    convs = [m for m in model.modules() if isinstance(m, Conv2d)]
    if args.method == "ln-filters" and not convs:
        raise ConfigError(f"--method ln-filters prunes convolution filters, but {ckpt['path']} holds a "
                          f"{describe_model(ckpt['model_config'])} without any; use --method ln-structured to "
                          "prune its hidden units")
    print(f"checkpoint {ckpt['path']}: {describe_checkpoint(ckpt)}")
    report = {"checkpoint": ckpt["path"], "method": args.method, "amount": args.amount}
    stages = []

    def record(stage: str, m) -> None:
        acc = test_accuracy(m, data, args.device)
        sp = prune.sparsity(m, include="weights")
        filters = [int(alive_filters(c).sum()) for c in m.modules() if isinstance(c, Conv2d)]
        stages.append({"stage": stage, "accuracy": acc, "sparsity": sp.overall, "layers": sp.as_dict(),
                       **({"filters": filters} if filters else {})})
        shown = f"   conv filters {filters}" if filters else ""
        print(f"{stage:<24} test accuracy {100 * acc:6.2f}%   weight sparsity {100 * sp.overall:6.2f}%{shown}")

    record("before pruning", model)
    try:
        apply_method(model, args.method, args.amount, args.n)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    record("after pruning", model)
    model_config = dict(ckpt["model_config"])
    if args.shrink and args.method == "ln-filters":
        # pruned filters are exactly zero (bias and BatchNorm masked too), also in training, so fine-tuning the
        # shrunk model is fine-tuning the masked one, at the smaller model's cost
        before = conv_channels(model)
        try:
            model = shrink_filters(model)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        model_config["conv_channels"] = conv_channels(model)
        print(f"shrunk the convolutions from {before} to {model_config['conv_channels']} filters")
        record("shrunk", model)
    epochs_done = steps_done = 0
    if args.finetune_epochs:
        fixed = "of the shrunk model" if args.shrink and args.method == "ln-filters" else "with the masks fixed"
        print(f"fine-tuning {args.finetune_epochs} epochs {fixed} ...")
        trainer = finetune(model, loaded, args.finetune_epochs, verbose=not args.quiet, device=args.device)
        epochs_done, steps_done = trainer.epoch, trainer.step
        record(f"after {args.finetune_epochs} fine-tuning epochs", model)
    if args.shrink and args.method != "ln-filters":
        before = hidden_sizes(model)
        model = shrink(model)
        model_config["hidden"] = hidden_sizes(model)
        print(f"shrunk the hidden layers from {before} to {model_config['hidden']} units")
        record("shrunk", model)
    print(prune.sparsity(model, include="weights").table())

    out.mkdir(parents=True, exist_ok=True)
    state = {key: ckpt[key] for key in ("config", "data") if key in ckpt}
    state.update(model_config=model_config, model=model.state_dict(), epoch=int(ckpt.get("epoch", 0)) + epochs_done,
                 step=int(ckpt.get("step", 0)) + steps_done, history=list(ckpt.get("history") or []),
                 pruning={"method": args.method, "amount": args.amount, "n": args.n, "shrink": args.shrink,
                          "finetune_epochs": args.finetune_epochs, "source": ckpt["path"]})
    path = save_checkpoint(out / "pruned.ckpt", state)
    report["stages"] = stages
    report["hidden"] = model_config.get("hidden")
    if convs:
        report["conv_channels"] = conv_channels(model)
    atomic_write_text(out / "prune_report.json", json.dumps(report, indent=1) + "\n")
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=1) + "\n")
    print(f"wrote {path} and {out / 'prune_report.json'}; evaluate with: tinygrad-opt evaluate {path}")
    return 0
