"""Each fused kernel against its reference twin, with the effective memory bandwidth.

For every kernel and size (elements of float32), the fused version (Numba on the
CPU, CuPy with --device cuda) and the reference (the plain NumPy/CuPy expressions)
run interleaved in blocks; the median block gives the time per call. GB/s is the
least traffic the operation needs (each input read once, each output written once)
divided by the time: a fused one-pass kernel can reach the memory bandwidth, the
reference pays for its temporaries.

The CNN's kernels (im2col/col2im, max pooling, and the batch-norm kernels where they are
registered) run on the layers of `train --model cnn` on MNIST: "elements" is the size
of the layer's input, so the batch is elements / (C * H * W) images.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/kernels.py
    python benchmarks/kernels.py --parallel     (also time parallel=True twins of the CPU loops)
    python benchmarks/kernels.py --device cuda --quick
    python benchmarks/kernels.py --kernels im2col col2im max_pool batch_norm   (the CNN's rows only)
"""
from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
import tinygrad_opt as tg  # noqa: E402,F401 - loads tinygrad_opt.kernels

F32 = 4


def cases(n: int, xp, rng):
    """name -> (make arguments, bytes moved, loop name in cpu.py for --parallel or None)."""
    def arr(*shape):
        return xp.asarray(rng.standard_normal(shape).astype(np.float32))

    def pos(*shape):
        return xp.asarray(np.abs(rng.standard_normal(shape)).astype(np.float32))

    def targets(rows, classes):
        return xp.asarray(rng.integers(0, classes, rows))

    cols = 256
    rows = max(1, n // cols)
    classes = 10
    sgd = dict(lr=1e-6, momentum=0.9, dampening=0.0, weight_decay=1e-4, nesterov=True, maximize=False, first_step=False)
    adam = dict(step=10, lr=1e-6, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False)
    adamw = dict(adam, weight_decay=1e-2, amsgrad=True, decoupled_weight_decay=True)
    rms = dict(lr=1e-6, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.9, centered=True, maximize=False)
    ada = dict(step=10, lr=1e-6, lr_decay=0.0, weight_decay=0.0, eps=1e-10, maximize=False)
    grads = [arr(n // 2), arr(n - n // 2)]
    adamax = dict(step=10, lr=1e-6, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-4, maximize=False)
    nadam = dict(step=10, lr=1e-6, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-2, mu=0.45, mu_next=0.46,
                 mu_product=0.1, decoupled_weight_decay=True, maximize=False)
    radam = dict(step=10, lr=1e-6, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled_weight_decay=False,
                 maximize=False)
    lion = dict(lr=1e-7, beta1=0.9, beta2=0.99, weight_decay=1e-2, maximize=False)
    sf_adamw = dict(lr=1e-6, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-4, ckp1=0.1,
                    bias_correction2=1 - 0.999**10)
    return {
        "relu": (lambda: ((arr(n),), {}), 2 * n * F32, "_relu"),
        "relu_backward": (lambda: ((arr(n), xp.maximum(arr(n), 0)), {}), 3 * n * F32, "_relu_backward"),
        "tanh_backward": (lambda: ((arr(n), xp.tanh(arr(n))), {}), 3 * n * F32, None),
        "gelu (exact, erf)": (lambda: ((arr(n), "none"), {}), 3 * n * F32, None),
        "smooth_l1_loss (mean)": (lambda: ((arr(n), arr(n), 1.0, "mean"), {}), 3 * n * F32, None),
        "huber_loss (none)": (lambda: ((arr(n), arr(n), 1.0, "none"), {}), 4 * n * F32, None),
        "nll_loss (rows of 10)": (lambda: ((arr(n // classes, classes), targets(n // classes, classes), None, -100,
                                            "mean", 0.0), {}), None, None),
        "nll_loss_backward (rows of 10)": (lambda: ((xp.asarray(np.float32(1.0)), targets(n // classes, classes),
                                                     xp.ones(n // classes, np.float32), np.float32(n // classes), None,
                                                     classes, -100, "mean", 0.0), {}), None, None),
        "bias_grad": (lambda: ((arr(rows, cols),), {}), (rows + 1) * cols * F32, None),
        "sum_rows": (lambda: ((arr(n // 64, 64),), {}), (n + n // 64) * F32, None),
        # MNIST-shaped logits (rows of 10): the per-row work is what the loops are for
        "log_softmax": (lambda: ((arr(n // classes, classes),), {}), 3 * n * F32, None),
        "log_softmax_backward": (lambda: ((arr(n // classes, classes), pos(n // classes, classes)), {}),
                                 3 * n * F32, None),
        "softmax_cross_entropy": (lambda: ((arr(n // classes, classes), xp.asarray(rng.integers(0, classes, n // classes)), 0.1), {}),
                                  2 * n * F32 + (n // classes) * (8 + F32), None),
        "sgd_update (momentum, nesterov)": (lambda: ((arr(n), arr(n), arr(n)), sgd), 5 * n * F32, None),
        "adam_update": (lambda: ((arr(n), arr(n), arr(n), pos(n), None), adam), 7 * n * F32, None),
        "adam_update (AdamW, amsgrad)": (lambda: ((arr(n), arr(n), arr(n), pos(n), pos(n)), adamw), 9 * n * F32, None),
        "rmsprop_update (centered, momentum)": (lambda: ((arr(n), arr(n), pos(n) + 1, arr(n) * 0, arr(n)), rms),
                                                9 * n * F32, None),
        "adagrad_update": (lambda: ((arr(n), arr(n), pos(n)), ada), 5 * n * F32, "_adagrad"),
        "adamax_update": (lambda: ((arr(n), arr(n), arr(n), pos(n) + 1), adamax), 7 * n * F32, None),
        "nadam_update (decoupled decay)": (lambda: ((arr(n), arr(n), arr(n), pos(n)), nadam), 7 * n * F32, None),
        "radam_update (rectified)": (lambda: ((arr(n), arr(n), arr(n), pos(n)), radam), 7 * n * F32, None),
        "lion_update": (lambda: ((arr(n), arr(n), arr(n)), lion), 5 * n * F32, None),
        "schedule_free_adamw_update": (lambda: ((arr(n), arr(n), arr(n), pos(n)), sf_adamw), 7 * n * F32,
                                       "_schedule_free_adamw"),
        "apply_mask (bool mask)": (lambda: ((arr(n), arr(n) > 0), {}), 2 * n * F32 + n, "_apply_bool_mask"),
        "dropout": (lambda: ((arr(n), 12345, 0.5), {}), 2 * n * F32, "_dropout"),
        "grad_norm": (lambda: ((grads, 2.0), {}), n * F32, None),
    }


def conv_cases(n: int, xp, rng):
    """The CNN's kernels on its MNIST layers, batch = n // (one image's input elements); bytes from the arrays."""
    def arr(*shape):
        return xp.asarray(rng.standard_normal(shape).astype(np.float32))

    def batch(c: int, side: int) -> int:
        return max(1, n // (c * side * side))

    # conv2 of the cnn: 32 -> 64 channels, 3x3, padding 1 on 14x14 maps (padded 16x16)
    b2 = batch(32, 16)
    conv2 = (3, 3, 1, 1, 1, 1, 14, 14)
    cols = (lambda: ((arr(32 * 9, b2 * 14 * 14), b2, 32, 16, 16, *conv2[:6], 14, 14), {}))
    # the first pooling: 2x2 windows over the 32 x 28 x 28 maps of conv1
    b1 = batch(32, 28)
    pool = (2, 2, 2, 2, 1, 1, 14, 14)

    def pooled():
        out, argmax = _reference("max_pool2d_forward")(arr(b1, 32, 28, 28), *pool)
        return (arr(*out.shape), argmax, 28, 28, *pool[:6]), {}

    # conv1 (1 -> 32 channels on the padded 30x30 image) and the second pooling (64 x 14x14 -> 7x7):
    # rows of 28 and 7 outputs, the other lengths the fixed-length loops are compiled for
    b0 = batch(1, 30)
    b3 = batch(64, 14)
    pool2 = (2, 2, 2, 2, 1, 1, 7, 7)

    def pooled2():
        out, argmax = _reference("max_pool2d_forward")(arr(b3, 64, 14, 14), *pool2)
        return (arr(*out.shape), argmax, 14, 14, *pool2[:6]), {}

    # BatchNorm2d after conv1 as channel blocks (A, C, L) = (N, 32, 28 * 28)
    def blocks():
        return arr(b1, 32, 28 * 28)

    def bn_params():
        return (xp.asarray(rng.uniform(0.5, 2.0, 32)), xp.asarray(rng.standard_normal(32)))

    def bn_backward():
        x3 = blocks()
        mean, var = _reference("batch_norm_stats")(x3)
        scale, shift = bn_params()
        return (arr(*x3.shape), x3, mean, 1.0 / xp.sqrt(var + 1e-5), scale, shift, True, True, True), {}

    return {
        "im2col (conv2 3x3, 32 ch, 14x14)": (lambda: ((arr(b2, 32, 16, 16), *conv2), {}), None, None),
        "col2im (conv2 3x3, 32 ch, 14x14)": (cols, None, None),
        "max_pool2d_forward (2x2, 32 x 28x28)": (lambda: ((arr(b1, 32, 28, 28), *pool), {}), None, None),
        "max_pool2d_backward (2x2, 32 x 28x28)": (pooled, None, None),
        "im2col (conv1 3x3, 1 ch, 28x28)": (lambda: ((arr(b0, 1, 30, 30), 3, 3, 1, 1, 1, 1, 28, 28), {}), None, None),
        "max_pool2d_forward (2x2, 64 x 14x14)": (lambda: ((arr(b3, 64, 14, 14), *pool2), {}), None, None),
        "max_pool2d_backward (2x2, 64 x 14x14)": (pooled2, None, None),
        "batch_norm_stats (32 x 28x28)": (lambda: ((blocks(),), {}), None, None),
        "batch_norm_forward (+ReLU, 32 x 28x28)": (lambda: ((blocks(), *bn_params(), True), {}), None, None),
        "batch_norm_backward (+ReLU, training)": (bn_backward, None, None),
    }


# modules holding the reference twins; batchnorm_reference only where the batch-norm kernels exist
REFERENCE_MODULES = ("reference", "conv_reference", "batchnorm_reference", "activation_reference",
                     "loss_reference")


def _reference(name: str):
    """The reference twin of kernel `name`, from whichever kernels/*_reference.py defines it (None if none)."""
    for module_name in REFERENCE_MODULES:
        try:
            module = importlib.import_module(f"tinygrad_opt.kernels.{module_name}")
        except ImportError:
            continue
        if hasattr(module, name):
            return getattr(module, name)
    return None


def moved_bytes(args, result) -> int:
    """The least traffic of a call: every array argument read once, every array it returns written once."""
    def size(obj) -> int:
        if hasattr(obj, "nbytes") and hasattr(obj, "shape"):
            return int(obj.nbytes)
        if isinstance(obj, (list, tuple)):
            return sum(size(o) for o in obj)
        return 0

    return size(list(args)) + size(result)


def kernel_name(label: str) -> str:
    return label.split(" ")[0]


def timed(fn, args, kwargs, sync, inner: int) -> float:
    sync()
    start = time.perf_counter()
    for _ in range(inner):
        fn(*args, **kwargs)
    sync()
    return (time.perf_counter() - start) / inner


def parallel_twin(loop_name: str):
    """A parallel=True compilation of cpu.py's loop (prange becomes a parallel loop); not cached."""
    import numba  # noqa: PLC0415
    from tinygrad_opt.kernels import cpu  # noqa: PLC0415

    return numba.njit(parallel=True, error_model="numpy")(getattr(cpu, loop_name).py_func)


def run_parallel_variant(label, fast, args, kwargs, loop_name):
    """Call the public CPU wrapper with its serial loop swapped for the parallel twin."""
    from tinygrad_opt.kernels import cpu  # noqa: PLC0415

    serial = getattr(cpu, loop_name)
    twin = _twins.setdefault(loop_name, parallel_twin(loop_name))

    def call(*a, **k):
        setattr(cpu, loop_name, twin)
        try:
            return fast(*a, **k)
        finally:
            setattr(cpu, loop_name, serial)

    return call


_twins: dict = {}


FIRST_CALL = r"""
import sys, time
t0 = time.perf_counter()
import numpy as np
import tinygrad_opt as tg
t1 = time.perf_counter()
from tinygrad_opt.kernels import cpu
t2 = time.perf_counter()
print(f"import tinygrad_opt {(t1 - t0) * 1e3:.0f} ms; import numba + kernels/cpu.py {(t2 - t1) * 1e3:.0f} ms")
x = np.ones((256, 16), np.float32)  # 4096 elements: from there on the registry runs ReLU's Numba loop
calls = {  # the first call of the process also pays Numba's one-time start-up (LLVM initialisation)
    "relu (first: + Numba start-up)": lambda: cpu.relu(x),
    "softmax_cross_entropy": lambda: cpu.softmax_cross_entropy(x, np.zeros(256, np.int64), 0.1),
    "relu_backward": lambda: cpu.relu_backward(x, x), "bias_grad": lambda: cpu.bias_grad(x),
    "sum_rows": lambda: cpu.sum_rows(x),
    "log_softmax": lambda: cpu.log_softmax(x),
    "log_softmax_backward": lambda: cpu.log_softmax_backward(x, x),
    "sgd_update": lambda: cpu.sgd_update(x, x, x.copy(), lr=0.1, momentum=0.9, dampening=0.0, weight_decay=0.0,
                                         nesterov=False, maximize=False, first_step=False),
    "adam_update": lambda: cpu.adam_update(x.copy(), x, x.copy(), x.copy(), None, step=1, lr=0.1, beta1=0.9, beta2=0.99,
                                           eps=1e-8, weight_decay=0.0, amsgrad=False, maximize=False),
    "rmsprop_update": lambda: cpu.rmsprop_update(x.copy(), x, x.copy(), None, None, lr=0.1, alpha=0.9, eps=1e-8,
                                                 weight_decay=0.0, momentum=0.0, centered=False, maximize=False),
    "adagrad_update": lambda: cpu.adagrad_update(x.copy(), x, x.copy(), step=1, lr=0.1, lr_decay=0.0,
                                                 weight_decay=0.0, eps=1e-10, maximize=False),
    "adamax_update": lambda: cpu.adamax_update(x.copy(), x, x.copy(), x.copy(), step=1, lr=0.1, beta1=0.9,
                                               beta2=0.99, eps=1e-8, weight_decay=0.0, maximize=False),
    "lion_update": lambda: cpu.lion_update(x.copy(), x, x.copy(), lr=0.1, beta1=0.9, beta2=0.99, weight_decay=0.0,
                                           maximize=False),
    "apply_mask": lambda: cpu.apply_mask(x, x > 0), "dropout": lambda: cpu.dropout(x, 1, 0.5),
    "grad_norm": lambda: cpu.grad_norm([x], 2.0),
}
for name, call in calls.items():
    start = time.perf_counter()
    call()
    print(f"  {name:<32}{(time.perf_counter() - start) * 1e3:8.1f} ms")
"""


def first_calls() -> None:
    """Time import and each kernel's first call (float32) in fresh processes: cold cache, then warm."""
    import subprocess  # noqa: PLC0415
    import tempfile  # noqa: PLC0415

    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONPATH=str(root))
        for label in ("cold: empty Numba cache, every kernel compiles", "warm: loaded from the cache written above"):
            print(label)
            done = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, capture_output=True, text=True)
            print(done.stdout.rstrip() or done.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**4, 10**5, 10**6, 10**7])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--budget", type=float, default=0.05, help="target seconds per timing block")
    parser.add_argument("--kernels", nargs="+", default=None, help="only kernels whose name starts with these")
    parser.add_argument("--parallel", action="store_true", help="also time parallel=True twins of the CPU loops")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="Numba threads for --parallel")
    parser.add_argument("--quick", action="store_true", help="sizes 1e4 and 1e6, 3 repeats (for gpu_check.sh)")
    parser.add_argument("--first-call", action="store_true",
                        help="only time import and each Numba kernel's first call, cold and with the cache warm")
    args = parser.parse_args()
    if args.first_call:
        first_calls()
        return
    if args.quick:
        args.sizes, args.repeats, args.budget = [10**4, 10**6], 3, 0.02

    from tinygrad_opt import kernels  # noqa: PLC0415

    if args.device == "cuda":
        if not tg.cuda_is_available():
            raise SystemExit("--device cuda: CuPy with a CUDA device is not available here")
        import cupy as xp  # noqa: PLC0415

        sync = xp.cuda.get_current_stream().synchronize
    else:
        xp = np
        sync = lambda: None  # noqa: E731
    if args.parallel:
        import numba  # noqa: PLC0415

        numba.set_num_threads(args.threads)
    tg.set_kernels("auto")
    rng = np.random.default_rng(0)
    print(f"fused kernels vs reference on {args.device}, float32, median of {args.repeats} interleaved blocks; "
          f"load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    extra = f"{'parallel us':>12}{'par/serial':>11}" if args.parallel else ""
    header = (f"{'kernel':<40}{'elements':>10}{'reference us':>14}{'fused us':>11}{'speedup':>9}{'ref GB/s':>10}"
              f"{'fused GB/s':>11}{extra}")
    print(header)
    print("-" * len(header))
    registered = set(kernels.available())
    for n in args.sizes:
        table = {**cases(n, xp, rng), **conv_cases(n, xp, rng)}
        for label, (make, nbytes, loop_name) in table.items():
            if args.kernels and not any(label.startswith(k) for k in args.kernels):
                continue
            name = kernel_name(label)
            if name not in registered or _reference(name) is None:
                continue  # a kernel this checkout does not have yet (the batch-norm kernels)
            call_args, kwargs = make()
            fast = kernels.get(name, call_args[0][0] if name == "grad_norm" else call_args[0])
            versions = {"reference": _reference(name), "fused": fast}
            if nbytes is None:
                nbytes = moved_bytes(call_args, versions["reference"](*call_args, **kwargs))
            if args.parallel and args.device == "cpu" and loop_name:
                versions["parallel"] = run_parallel_variant(label, fast, call_args, kwargs, loop_name)
            for fn in versions.values():  # warm up: compile, load caches
                fn(*call_args, **kwargs)
            inner = {k: max(1, int(args.budget / max(timed(fn, call_args, kwargs, sync, 1), 1e-7)))
                     for k, fn in versions.items()}
            samples = {k: [] for k in versions}
            for _ in range(args.repeats):
                for k, fn in versions.items():
                    samples[k].append(timed(fn, call_args, kwargs, sync, inner[k]))
            med = {k: statistics.median(v) for k, v in samples.items()}
            line = (f"{label:<40}{n:>10.0e}{med['reference'] * 1e6:>14.1f}{med['fused'] * 1e6:>11.1f}"
                    f"{med['reference'] / med['fused']:>8.2f}x{nbytes / med['reference'] / 1e9:>10.2f}"
                    f"{nbytes / med['fused'] / 1e9:>11.2f}")
            if "parallel" in med:
                line += f"{med['parallel'] * 1e6:>12.1f}{med['fused'] / med['parallel']:>10.2f}x"
            print(line, flush=True)


if __name__ == "__main__":
    main()
