"""Train a smaller student MLP from a trained teacher checkpoint (knowledge distillation, Hinton et al. 2015).

The student learns from alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T))
+ (1 - alpha) * cross-entropy with the labels. It has the teacher's data set, input
scaling, activation and training recipe (optimizer, learning rate, batch size, epochs,
validation split) unless the options say otherwise; only the hidden sizes differ.
With --compare-scratch the same student (same initial weights, batches and epochs) is
also trained on the labels alone, the fair baseline. Writes the student's run to --out
(last.ckpt, history, test_report.json): `tinygrad-opt evaluate DIR` reads it.
"""
from __future__ import annotations

import argparse
import dataclasses
import json

from ..train.errors import ConfigError
from .options import finite_float, seed_value
from .outputs import check_output_folder


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--teacher", required=True, metavar="CHECKPOINT", help="the teacher: a .ckpt file or a run folder")
    parser.add_argument("--hidden", default="32", metavar="SIZES", help="the student's hidden sizes, e.g. 32 or 64,32 (default 32)")
    parser.add_argument("--temperature", "-T", type=finite_float, default=4.0, metavar="T", help="softmax temperature T > 0 (default 4)")
    parser.add_argument("--alpha", type=finite_float, default=0.9, help="weight of the soft-target term in [0, 1] (default 0.9)")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default: the teacher's)")
    parser.add_argument("--lr", type=finite_float, default=None, help="learning rate (default: the teacher's)")
    parser.add_argument("--batch-size", type=int, default=None, help="batch size (default: the teacher's)")
    parser.add_argument("--seed", type=seed_value, default=None, help="seed for the student's init and batches (default: the teacher's)")
    parser.add_argument("--log-every", type=int, default=None, metavar="N",
                        help="steps between reads of the running loss from the device (default: the teacher's, "
                             "else every step on cpu, 50 on cuda); the results do not depend on it")
    parser.add_argument("--compare-scratch", action="store_true",
                        help="also train the same student on the labels alone and report both")
    parser.add_argument("--out", metavar="DIR", default=None, help="the student's run folder (default runs/<dataset>-student-<time>)")
    parser.add_argument("--data-dir", metavar="DIR", help="folder holding the IDX files (default: the teacher's)")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    parser.add_argument("--json", metavar="FILE", help="also write the summary as JSON to FILE")


def _student_config(teacher_config, args: argparse.Namespace):
    """The teacher's settings with the options given: parsed and checked as `train` checks its own."""
    given = {key: getattr(args, key) for key in ("hidden", "epochs", "lr", "batch_size", "seed", "log_every", "out")
             if getattr(args, key) is not None}
    config = teacher_config.updated(given)
    # no early stopping: both students get exactly the same budget; a pruned teacher's student is dense
    config = dataclasses.replace(config, patience=None, quiet=args.quiet, prune="none", sparsity=None)
    # the student is an MLP whatever the teacher is (a CNN teacher's conv settings do not apply to it)
    config = dataclasses.replace(config, model="mlp", conv_widths=None, augment=False, augment_rotation=0.0,
                                 augment_scale=0.0)
    return config.resolved()


def train_student(config, data, split, teacher=None, T=4.0, alpha=0.9, out_dir=None, verbose=True):
    """(model, test EvalResult, trainer) of a student trained as `config` says, distilled when a teacher is given."""
    from ..backend import manual_seed  # noqa: PLC0415
    from ..compress.distill import DistillationLoss  # noqa: PLC0415
    from ..data import DataLoader  # noqa: PLC0415
    from ..train.factories import make_optimizer, make_scheduler  # noqa: PLC0415
    from ..train.models import build_model, mlp_config  # noqa: PLC0415
    from ..train.trainer import Trainer  # noqa: PLC0415

    (x_train, y_train), val = split
    manual_seed(config.seed)  # the same initial weights and batches for every student
    model_config = mlp_config(config, data.num_features, data.num_classes)
    student = build_model(model_config).to(config.device)
    loss_fn = DistillationLoss(student, teacher, T=T, alpha=alpha) if teacher is not None else None
    loader = DataLoader((x_train, y_train), batch_size=config.batch_size, shuffle=True)
    optimizer = make_optimizer(config, student.parameters())
    trainer = Trainer(
        student, optimizer, loss_fn, scheduler=make_scheduler(config, optimizer, len(loader)), l1=config.l1,
        l2=config.l2, clip_grad=config.clip_grad, out_dir=out_dir, progress=False, verbose=verbose,
        device=config.device, class_names=data.class_names, log_every=config.log_every,
        checkpoint_extra={"model_config": model_config, "config": config.to_dict(),
                          "data": {"dataset": data.name, "num_features": data.num_features,
                                   "class_names": list(data.class_names), "normalize": config.normalize},
                          "distillation": None if teacher is None else {"T": T, "alpha": alpha}},
    )
    trainer.fit(loader, None if val is None else DataLoader(val, batch_size=1024), epochs=config.epochs)
    if loss_fn is not None:
        loss_fn.remove()
    test = trainer.evaluate((data.x_test, data.y_test))
    return student, test, trainer


def run(args: argparse.Namespace) -> int:
    from pathlib import Path  # noqa: PLC0415

    from .compress_common import load_checkpoint_and_data, test_accuracy  # noqa: PLC0415
    from ..compress.distill import check_temperature_alpha  # noqa: PLC0415
    from ..train.checkpoint import describe_checkpoint  # noqa: PLC0415
    from ..train.run import default_out_dir, prepare_data  # noqa: PLC0415
    from ..train.serialization import atomic_write_text  # noqa: PLC0415

    try:
        T, alpha = check_temperature_alpha(args.temperature, args.alpha, "distill")
    except ValueError as err:
        raise ConfigError(str(err).replace("distill: temperature T", "--temperature").replace("distill: alpha", "--alpha")) from None
    loaded = load_checkpoint_and_data(args.teacher, args.data_dir, what="--teacher")
    teacher, data = loaded.model, loaded.data
    config = _student_config(loaded.config, args)
    out_dir = Path(config.out) if args.out else default_out_dir(f"{config.dataset}-student")
    if (out_dir / "last.ckpt").exists():
        raise ConfigError(f"{out_dir} already holds a run (last.ckpt); choose another --out folder")
    check_output_folder(out_dir, "--out")
    config = dataclasses.replace(config, out=str(out_dir))
    teacher_acc = test_accuracy(teacher, data, config.device)
    print(f"teacher {loaded.checkpoint['path']}: {describe_checkpoint(loaded.checkpoint)}; "
          f"test accuracy {100 * teacher_acc:.2f}%")
    _, train_split, val = prepare_data(config)
    sizes = "-".join(str(s) for s in [data.num_features, *config.hidden, data.num_classes])
    print(f"student {sizes}: distilled with T={T:g}, alpha={alpha:g}, {config.optimizer} lr {config.lr:g}, "
          f"batch {config.batch_size}, {config.epochs} epochs -> {out_dir}")
    _, distilled, _ = train_student(config, data, (train_split, val), teacher, T, alpha, out_dir, not args.quiet)
    atomic_write_text(out_dir / "test_report.json", json.dumps(distilled.to_dict(), indent=1) + "\n")
    summary = {"teacher": loaded.checkpoint["path"], "teacher_accuracy": teacher_acc, "student_hidden": config.hidden,
               "T": T, "alpha": alpha, "epochs": config.epochs, "distilled_accuracy": distilled.accuracy}
    if args.compare_scratch:
        print("the same student from scratch (labels only, same init, batches and epochs) ...")
        _, scratch, _ = train_student(config, data, (train_split, val), verbose=not args.quiet)
        summary["scratch_accuracy"] = scratch.accuracy
    print(f"test accuracy: teacher {100 * teacher_acc:.2f}%, distilled student {100 * distilled.accuracy:.2f}%"
          + (f", student from scratch {100 * summary['scratch_accuracy']:.2f}% "
             f"({100 * (distilled.accuracy - summary['scratch_accuracy']):+.2f} points from distillation)"
             if args.compare_scratch else ""))
    print(f"student run in {out_dir}; evaluate with: tinygrad-opt evaluate {out_dir / 'last.ckpt'}")
    if args.json:
        atomic_write_text(args.json, json.dumps(summary, indent=1) + "\n")
    return 0
