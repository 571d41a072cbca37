"""Quantize a checkpoint's Linear and Conv2d layers to int8 (dynamic, per-channel) and compare it with float32.

Weights become int8 with one scale per output unit or filter (max |w| / 127); each batch of
inputs gets one scale (max |x| / 127); products are summed in int32 (a convolution as im2col
and one int8 product) and scaled back to float, biases added in float. BatchNorm layers are
folded into the Linear or Conv2d before them first.
Reports test accuracy, model size (bytes of the weight matrices and of everything saved)
and inference time (best of --repeats forward passes on --timing-batch test samples,
float32 and int8 in turn), before and after. Pruned checkpoints work: their zeros stay zero.
With --out DIR the int8 model is saved as DIR/quantized.ckpt, which `tinygrad-opt evaluate` reads.
"""
from __future__ import annotations

import argparse
import json

from ..train.errors import ConfigError
from .compress_common import add_checkpoint_data_arguments

BACKEND_CHOICES = ("auto", "numpy", "numba", "blas")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", metavar="CHECKPOINT", help="a .ckpt file or a run folder")
    parser.add_argument("--backend", choices=BACKEND_CHOICES, default="auto",
                        help="how int8 x int8 products are summed in int32: numpy (reference), numba (a parallel "
                             "kernel), blas (an exact float GEMM) or auto (numba for small batches, blas for large)")
    parser.add_argument("--timing-batch", type=int, default=1000, metavar="N", help="batch size for the timing (default 1000)")
    parser.add_argument("--repeats", type=int, default=30, help="timed forward passes per model (default 30)")
    parser.add_argument("--out", metavar="DIR", default=None,
                        help="also save the int8 model as DIR/quantized.ckpt (evaluate reads it)")
    add_checkpoint_data_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from .compress_common import load_checkpoint_and_data, test_accuracy, time_models  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from ..compress.quantize import model_size  # noqa: PLC0415
    from ..compress.quantized_checkpoint import is_quantized, quantize_model, quantized_model_config  # noqa: PLC0415
    from ..nn import BatchNorm1d  # noqa: PLC0415
    from ..train.checkpoint import describe_checkpoint, save_checkpoint  # noqa: PLC0415
    from ..train.serialization import atomic_write_text  # noqa: PLC0415

    if args.timing_batch < 1 or args.repeats < 1:
        raise ConfigError(f"--timing-batch and --repeats must be positive, got {args.timing_batch} and {args.repeats}")
    out = Path(args.out) if args.out else None
    if out is not None and (out / "quantized.ckpt").exists():
        raise ConfigError(f"{out} already holds a quantized checkpoint (quantized.ckpt); choose another --out folder")
    loaded = load_checkpoint_and_data(args.checkpoint, args.data_dir, args.device)
    model, ckpt, data = loaded.model, loaded.checkpoint, loaded.data
    print(f"checkpoint {ckpt['path']}: {describe_checkpoint(ckpt)}")
    if is_quantized(ckpt["model_config"]):
        raise ConfigError(f"{ckpt['path']} is already quantized; give the float checkpoint it came from")
    try:
        qmodel = quantize_model(model, backend=args.backend)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    if any(isinstance(m, BatchNorm1d) for m in model.modules()):  # BatchNorm2d too
        print("folded the BatchNorm layers into the layers before them (inference statistics)")

    acc_f, acc_q = test_accuracy(model, data, args.device), test_accuracy(qmodel, data, args.device)
    size_f, size_q = model_size(model), model_size(qmodel)
    n = min(args.timing_batch, len(data.x_test))
    x = data.x_test[:n]
    if args.device == "cuda":
        from ..backend import to_device  # noqa: PLC0415

        x = to_device(x, "cuda")
    times = time_models({"float32": model, "int8": qmodel}, x, repeats=args.repeats)

    rows = [
        ("test accuracy", f"{100 * acc_f:.2f}%", f"{100 * acc_q:.2f}%", f"{100 * (acc_q - acc_f):+.2f} points"),
        ("weight matrices (bytes)", f"{size_f['weights']:,}", f"{size_q['weights']:,}",
         f"{size_f['weights'] / max(size_q['weights'], 1):.2f}x smaller"),
        ("whole model (bytes)", f"{size_f['total']:,}", f"{size_q['total']:,}",
         f"{size_f['total'] / max(size_q['total'], 1):.2f}x smaller"),
        (f"inference, batch {n} (ms)", f"{1000 * times['float32']:.3f}", f"{1000 * times['int8']:.3f}",
         f"{times['float32'] / times['int8']:.2f}x speed"),
    ]
    widths = [max(len(r[i]) for r in rows + [("", "float32", "int8", "")]) for i in range(4)]
    print(f"{'':<{widths[0]}}  {'float32':>{widths[1]}}  {'int8':>{widths[2]}}")
    for r in rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}")
    print(f"int8 products: backend {args.backend}; the time is the best of {args.repeats} passes")
    report = {"checkpoint": ckpt["path"], "backend": args.backend, "accuracy_float32": acc_f, "accuracy_int8": acc_q,
              "bytes_float32": size_f, "bytes_int8": size_q, "timing_batch": n,
              "seconds_float32": times["float32"], "seconds_int8": times["int8"]}
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        state = {key: ckpt[key] for key in ("config", "data") if key in ckpt}
        state.update(model_config=quantized_model_config(ckpt["model_config"], args.backend),
                     model=qmodel.state_dict(), epoch=int(ckpt.get("epoch", 0)), step=int(ckpt.get("step", 0)),
                     history=list(ckpt.get("history") or []),
                     quantization={"backend": args.backend, "source": ckpt["path"]})
        path = save_checkpoint(out / "quantized.ckpt", state)
        report["quantized_checkpoint"] = str(path)
        print(f"wrote {path}; evaluate with: tinygrad-opt evaluate {path}")
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0
