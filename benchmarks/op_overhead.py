"""Per-op cost of forward + backward on tiny tensors: the engine vs PyTorch CPU vs plain NumPy.

Each measurement builds a chain of CHAIN ops of one kind on an n x n tensor, runs
backward through it, and divides by CHAIN, so the fixed cost of entering backward()
is spread out and what remains is the per-op overhead. The capture column is the engine's
chain through tg.compile: recorded twice, then replayed (no graph, no Tensor per op; runs of element-wise ops
fused into one loop, capture/fusion.py, once compiled in the background). The NumPy column is the same
forward and a hand-written backward with no autograd at all: the floor. Engines are
measured interleaved, REPEATS times each, and the median is reported.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/op_overhead.py
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import tinygrad_opt as tg
from tinygrad_opt.capture import fusion
from tinygrad_opt.kernels import background

CHAIN = 32


def engine_case(op: str, n: int, capture: bool = False):
    """The chain on the engine; capture=True runs it through tg.compile (recorded twice, then replayed)."""
    rng = np.random.default_rng(0)
    x0 = rng.uniform(0.5, 1.0, (n, n)).astype(np.float32)
    w0 = rng.uniform(0.5, 1.0, (n, n)).astype(np.float32) / n
    x = tg.Tensor(x0, requires_grad=True)
    w = tg.Tensor(w0, requires_grad=True)
    step = {
        "add": lambda y: y + w, "mul": lambda y: y * w, "matmul": lambda y: y @ w,
        "tanh": lambda y: y.tanh(), "relu": lambda y: y.relu(), "exp": lambda y: (-y).exp(),
        "log_softmax": lambda y: y.log_softmax(axis=1), "mean": lambda y: y.mean(axis=1, keepdims=True) + x,
    }[op]

    def run():
        x.grad = w.grad = None
        y = x
        for _ in range(CHAIN):
            y = step(y)
        y.sum().backward()

    if not capture:
        return run
    holder = tg.optim.SGD([x, w], lr=0.0)  # its zero_grad is an effect the replay repeats (p.grad = None is not)

    def captured_run():
        holder.zero_grad()
        y = x
        for _ in range(CHAIN):
            y = step(y)
        y.sum().backward()

    compiled = tg.compile(captured_run)
    compiled()
    compiled()
    background.wait_idle(120)  # the steady state: loops compiled in the background (fused runs) are ready
    if not compiled.replaying:
        raise RuntimeError(f"op_overhead: the {op} chain was not captured: {compiled.eager_reason}")
    return compiled


def torch_case(op: str, n: int):
    import torch

    rng = np.random.default_rng(0)
    x = torch.tensor(rng.uniform(0.5, 1.0, (n, n)).astype(np.float32), requires_grad=True)
    w = torch.tensor(rng.uniform(0.5, 1.0, (n, n)).astype(np.float32) / n, requires_grad=True)
    step = {
        "add": lambda y: y + w, "mul": lambda y: y * w, "matmul": lambda y: y @ w,
        "tanh": torch.tanh, "relu": torch.relu, "exp": lambda y: (-y).exp(),
        "log_softmax": lambda y: torch.log_softmax(y, dim=1), "mean": lambda y: y.mean(dim=1, keepdim=True) + x,
    }[op]

    def run():
        x.grad = w.grad = None
        y = x
        for _ in range(CHAIN):
            y = step(y)
        y.sum().backward()

    return run


def numpy_case(op: str, n: int):
    """The same chain with a hand-written backward and no graph: what NumPy alone costs."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 1.0, (n, n)).astype(np.float32)
    w = rng.uniform(0.5, 1.0, (n, n)).astype(np.float32) / n

    def run():
        saved = []
        y = x
        for _ in range(CHAIN):  # forward, saving what backward needs
            if op == "add":
                y = y + w
            elif op == "mul":
                saved.append(y); y = y * w
            elif op == "matmul":
                saved.append(y); y = y @ w
            elif op == "tanh":
                y = np.tanh(y); saved.append(y)
            elif op == "relu":
                y = np.maximum(y, 0); saved.append(y)
            elif op == "exp":
                y = np.exp(-y); saved.append(y)
            elif op == "log_softmax":
                s = y - y.max(axis=1, keepdims=True)
                y = s - np.log(np.exp(s).sum(axis=1, keepdims=True)); saved.append(y)
            elif op == "mean":
                y = y.mean(axis=1, keepdims=True) + x
        g = np.ones_like(y)
        gw = np.zeros_like(w)
        gx = np.zeros_like(x)
        for i in reversed(range(CHAIN)):
            if op == "add":
                gw += g
            elif op == "mul":
                gw += g * saved[i]; g = g * w
            elif op == "matmul":
                gw += saved[i].T @ g; g = g @ w.T
            elif op == "tanh":
                g = g * (1 - saved[i] * saved[i])
            elif op == "relu":
                g = g * (saved[i] > 0)
            elif op == "exp":
                g = -(g * saved[i])
            elif op == "log_softmax":
                g = g - np.exp(saved[i]) * g.sum(axis=1, keepdims=True)
            elif op == "mean":
                gx += g; g = np.broadcast_to(g.sum(axis=1, keepdims=True) / x.shape[1], x.shape)
        return gx + g, gw

    return run


def time_call(fn, inner: int, clock=time.perf_counter) -> float:
    start = clock()
    for _ in range(inner):
        fn()
    return (clock() - start) / inner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--ops", nargs="+",
                        default=["add", "mul", "matmul", "relu", "tanh", "exp", "mean", "log_softmax"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--inner", type=int, default=30)
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: this process's CPU time (time.process_time), which sees through other load")
    args = parser.parse_args()
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    try:
        import torch

        torch.set_num_threads(1)  # tiny tensors: threads only add overhead, for both sides
        has_torch = True
    except ImportError:
        has_torch = False
        print("torch is not installed: the PyTorch column is skipped")

    print(f"per-op forward+backward, microseconds of {args.clock} time (median of {args.repeats} interleaved runs, "
          f"chains of {CHAIN} ops)")
    fuses = "yes" if fusion.is_enabled() else "no"
    print(f"capture fuses element-wise runs: {fuses} ({fusion.ENV_VAR}=0 turns it off)")
    header = (f"{'op':<12}{'n x n':>7}{'engine':>10}{'capture':>10}{'torch':>10}{'numpy':>10}{'eng/torch':>11}"
              f"{'cap/torch':>11}{'eng/numpy':>11}")
    print(header)
    print("-" * len(header))
    ratios, captured, floors = [], [], []
    for n in args.sizes:
        for op in args.ops:
            cases = {"engine": engine_case(op, n), "capture": engine_case(op, n, capture=True),
                     "numpy": numpy_case(op, n)}
            if has_torch:
                cases["torch"] = torch_case(op, n)
            for fn in cases.values():  # warm up (also Numba compilation, caches)
                fn()
            background.wait_idle(120)  # no loop compiles on the worker thread while the cases are timed
            samples = {name: [] for name in cases}
            for _ in range(args.repeats):
                for name, fn in cases.items():
                    samples[name].append(time_call(fn, args.inner, clock) / CHAIN * 1e6)
            med = {name: statistics.median(v) for name, v in samples.items()}
            t = med.get("torch", float("nan"))
            ratios.append(med["engine"] / t)
            captured.append(med["capture"])
            floors.append(med["numpy"])
            print(f"{op:<12}{n:>7}{med['engine']:>10.2f}{med['capture']:>10.2f}{t:>10.2f}{med['numpy']:>10.2f}"
                  f"{med['engine'] / t:>11.2f}{med['capture'] / t:>11.2f}{med['engine'] / med['numpy']:>11.2f}")
    if has_torch:
        print(f"\ngeometric mean engine/torch: {float(np.exp(np.mean(np.log(ratios)))):.2f} (target <= 1.0)")
    if 1 in args.sizes:  # the overhead above what NumPy itself takes for the op's arrays
        k = args.sizes.index(1) * len(args.ops)
        above = [c - f for c, f in zip(captured[k:k + len(args.ops)], floors[k:k + len(args.ops)])]
        print(f"captured 1x1: median {statistics.median(captured[k:k + len(args.ops)]):.2f} us per op, "
              f"median {statistics.median(above):.2f} us above the NumPy floor (target <= 2 us)")


if __name__ == "__main__":
    main()
