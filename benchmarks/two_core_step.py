"""Probe: the seed MLP's training step with each core owning half of the hidden units, against tg.compile's replay.

The replayed step (benchmarks/peers.py's tinygrad_opt-capture-flush) splits each big product over both cores
inside OpenBLAS and each Adam call over the caller and kernels/parallel.py's resident helper: a hand-off per
product and per update. Here the step is written out in plain NumPy and the engine's kernels (no Python of
the engine around them), and cut the other way where FORMS says: two threads that each own half of the
hidden layer (rows of W1, entries of b1, columns of the activations):

  both threads   W1[half] forward (weight first where ops/linear.py's _weight_first says so), bias + ReLU
                 into a[:, half]                                                        -- one hand-off --
  main thread    layer 2's forward, cross-entropy, dW2, db2, da (all tiny)
  both threads   ReLU mask and db1 of its columns, dW1[half] = gz[:, half]^T x, Adam on W1[half] and b1[half];
                 the main thread also Adam on W2, b2                                    -- one hand-off --

"lean" is the same step with the replay's own schedule (whole products on BLAS's threads, Adam shared with
the resident helper; the replay here keeps its products off the spinning team, TINYGRAD_OPT_TEAM_PRODUCTS's
switch, so that they are OpenBLAS's whole products): the baseline for the schedule itself, since the replay adds its Python to the step.
Products in the halves run with BLAS on ONE thread (two single-thread sgemm calls side by side); the Numba
loops are nogil twins of the engine's kernels (the same code). The bits: OpenBLAS's threaded driver sums the
inner axis in other blocks than its one-thread driver (K=784: 392+392 against 400+384), so a half on one
thread equals the whole two-thread product only when summed over the threaded blocks (find_blocks; the
blocking depends on the shape only). Where no blocking does (small products, which OpenBLAS gives other kernels,
or a CPU whose one-thread kernels sum in another order: on the AVX2 Zen 3 neither halved product of B=16 or 100
matches; on the AVX-512 Xeon every batch tried did), the form runs plain halves and is marked "other bits on
this CPU": timed, but not the replay's equal. --check runs each other form from the replay's state on the
replay's batches and compares the parameters with the replay's bit for bit.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/two_core_step.py --batches 64,512,4096
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/two_core_step.py --check --batches 64,512,4096
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import peers  # noqa: E402
import tinygrad_opt as tg  # noqa: E402
from tinygrad_opt.kernels import blas_threads, cpu, gemm_job, linear_cpu  # noqa: E402
from tinygrad_opt.kernels.parallel import _in_flush_mode  # noqa: E402
from tinygrad_opt.ops.linear import _weight_first, _weight_grad  # noqa: E402


def _nogil(fn):
    return numba.njit(nogil=True, error_model="numpy")(fn.py_func)


bias_relu_t = _nogil(linear_cpu._bias_relu_transposed)
bias_relu = _nogil(linear_cpu._bias_relu)
relu_back = _nogil(linear_cpu._relu_backward_bias_grad_live)
ZERO = np.float32(0)


def threaded_blocks(k: int, q: int) -> tuple:
    """The inner-axis blocks OpenBLAS's threaded driver sums a product in (level3_thread.c: Q at a time while
    two Q's remain, then the rest in two halves), for a block size q."""
    blocks, start = [], 0
    while start < k:
        size = k - start
        if size >= 2 * q:
            size = q
        elif size > q:
            size = (size + 1) // 2
        blocks.append((start, start + size))
        start += size
    return tuple(blocks)


def blocked(a, b, blocks, out=None):
    """a @ b as the sum of the blocks' products, in order (one BLAS call where blocks is None)."""
    if blocks is None:
        return np.matmul(a, b, out=out)
    lo, hi = blocks[0]
    out = np.matmul(a[:, lo:hi], b[lo:hi], out=out)
    for lo, hi in blocks[1:]:
        out += a[:, lo:hi] @ b[lo:hi]
    return out


def find_blocks(whole, halves, a_shape, b_shape, dtype, k: int, blas):
    """The inner-axis blocks with which halves(a, b, blocks), on one BLAS thread, equals whole(a, b) on BLAS's
    current thread count bit for bit (random data; the blocking depends on the shapes only): None (one call
    per half already does), the blocks, or False where no candidate does."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape).astype(dtype), rng.standard_normal(b_shape).astype(dtype)
    reference = whole(a, b).tobytes()
    threads = blas.get_num_threads()
    blas.set_num_threads(1)
    try:
        for blocks in [None] + sorted({threaded_blocks(k, q) for q in range(8, k + 8, 8)}, key=len):
            if halves(a, b, blocks).tobytes() == reference:
                return blocks
    finally:
        blas.set_num_threads(threads)
    return False


class Worker:
    """A resident thread that runs one function per hand-off (a lock released, another acquired)."""

    def __init__(self) -> None:
        self.go, self.done = threading.Lock(), threading.Lock()
        self.go.acquire()
        self.done.acquire()
        self.fn = None
        self.error = None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            self.go.acquire()
            try:
                _in_flush_mode(self.fn)
            except BaseException as error:  # noqa: BLE001
                self.error = error
            self.done.release()

    def start(self, fn) -> None:
        self.fn = fn
        self.go.release()

    def wait(self) -> None:
        self.done.acquire()
        if self.error is not None:
            raise self.error


FORMS = {  # name -> (layer 1's forward in halves, its backward in halves, Adam of W1/b1 in the halves' threads)
    "lean": (False, False, False),  # the replay's schedule without its Python: products on BLAS's own threads
    "halves": (True, True, True),  # the brief's form: one hand-off before layer 2, one at the end
    "halves-wholefwd": (False, True, True),  # layer 1's forward as one product on BLAS's threads, the rest halved
    "halves-backward": (False, True, False),  # only mask, db1 and dW1 halved: what a replay can take unfused
}


OTHER_BITS = "other bits on this CPU"


class SplitStep:
    """The seed step (784-H-10, ReLU, mean cross-entropy, Adam) in plain NumPy and the engine's kernels, the
    hidden units split over two threads as FORMS[form] says. Products in the halves run with BLAS on one
    thread; products outside them on BLAS's own count (`blas_own`)."""

    def __init__(self, params: list, states: list, step: int, batch: int, form: str, lr: float = peers.LR,
                 betas=(0.9, 0.999), eps: float = 1e-8) -> None:
        self.split_forward, self.split_backward, self.split_adam = FORMS[form]
        self.blas = blas_threads._blas()
        self.blas_own = self.blas.get_num_threads()
        self.w1, self.b1, self.w2, self.b2 = params  # updated in place
        self.m, self.v = [s[0] for s in states], [s[1] for s in states]
        self.step_count = step
        self.lr, self.beta1, self.beta2, self.eps = lr, betas[0], betas[1], eps
        hidden, inputs = self.w1.shape
        dtype = self.w1.dtype
        self.halves = [(0, hidden // 2), (hidden // 2, hidden)]
        self.a = np.empty((batch, hidden), dtype)
        self.gz = np.empty((batch, hidden), dtype)
        self.db1 = np.empty(hidden, dtype)
        self.live = np.empty(hidden, np.uint8)  # the mask pass's live-unit flags and numbers (unused here)
        self.live_numbers = np.empty(hidden, np.int64)
        self.dw1 = np.empty_like(self.w1)
        self.weight_first = _weight_first(np.empty((batch, inputs), dtype), self.w1)
        self.forward_blocks = self.dw1_blocks = None
        if self.split_forward:
            self.forward_blocks = find_blocks(*_forward_products(batch, self.w1, self.weight_first), inputs, self.blas)
        if self.split_backward:
            self.dw1_blocks = find_blocks(*_dw1_products(batch, self.w1), batch, self.blas)
        # The halved products with no blocking that gives the whole product's bits (OpenBLAS's small-product
        # kernels on one thread, or a CPU whose one-thread kernels sum in another order than its threaded ones):
        # the form runs them as plain halves and gives other bits than the replay, so it can only be timed.
        self.other_bits = [name for name, blocks in (("layer 1's forward", self.forward_blocks),
                                                     ("dW1", self.dw1_blocks)) if blocks is False]
        self.forward_blocks = self.forward_blocks or None
        self.dw1_blocks = self.dw1_blocks or None
        self.worker = Worker()
        self.adam = cpu._ADAM_LOOPS.get((0, False)) or cpu._loop_for(cpu._ADAM_LOOPS, cpu._adam_loop, (0, False))

    def _adam(self, p, g, m, v) -> None:
        """The engine's Adam loop over these (flat) arrays on this thread alone."""
        counters = np.zeros(1, np.int64)
        self.adam(p, g, m, v, m, self.k, self.wide, counters, 0, max(p.size, 1))

    def _forward_half(self, h: int) -> None:
        lo, hi = self.halves[h]
        x, w = self.x, self.w1[lo:hi]
        if self.weight_first:
            bias_relu_t(blocked(w, x.T, self.forward_blocks), self.b1[lo:hi], self.a[:, lo:hi], ZERO)
        else:
            out = self.a[:, lo:hi]
            blocked(x, w.T, self.forward_blocks, out)
            bias_relu(out, self.b1[lo:hi], ZERO)

    def _backward_half(self, h: int) -> None:
        lo, hi = self.halves[h]
        relu_back(self.da[:, lo:hi], self.a[:, lo:hi], self.gz[:, lo:hi], self.db1[lo:hi], self.live[lo:hi],
                  self.live_numbers[lo:hi], ZERO)
        blocked(self.gz[:, lo:hi].T, self.x, self.dw1_blocks, self.dw1[lo:hi])
        if self.split_adam:
            cols = self.w1.shape[1]
            flat = slice(lo * cols, hi * cols)  # W1's rows lo:hi are one contiguous run of its flat state
            self._adam(self.w1.reshape(-1)[flat], self.dw1.reshape(-1)[flat], self.m[0].reshape(-1)[flat],
                       self.v[0].reshape(-1)[flat])
            self._adam(self.b1[lo:hi], self.db1[lo:hi], self.m[1][lo:hi], self.v[1][lo:hi])

    def _in_halves(self, half) -> None:
        self.blas.set_num_threads(1)
        self.worker.start(lambda: half(1))
        try:
            half(0)
        finally:
            self.worker.wait()
            self.blas.set_num_threads(self.blas_own)

    def __call__(self, x, t):
        self.x = x
        self.step_count += 1
        s = self.step_count
        dtype = self.w1.dtype
        self.k = np.array([1 - self.beta1, 1 - self.beta2, self.beta2, 0.0, 1.0, self.lr / (1 - self.beta1**s),
                           (1 - self.beta2**s) ** 0.5, self.eps], dtype)  # as cpu.adam_update_group makes it
        self.wide = cpu._wide_constants(self.k)
        if self.split_forward:
            self._in_halves(self._forward_half)
        elif self.weight_first:  # as ops.LinearReLU.forward
            linear_cpu.bias_relu_transposed(self.w1 @ x.T, self.b1, self.a)
        else:
            np.matmul(x, self.w1.T, out=self.a)
            linear_cpu.bias_relu(self.a, self.b1)
        z = self.a @ self.w2.T  # layer 2, loss and layer 2's backward as ops.Linear and ops.CrossEntropy
        z += self.b2
        loss, dz = cpu.softmax_cross_entropy(z, t, 0.0)
        gz2 = dz * (np.ones((), dtype) / x.shape[0])
        self.da = gz2 @ self.w2
        dw2 = gz2.T @ self.a
        db2 = cpu.bias_grad(gz2)
        if self.split_backward:
            self._in_halves(self._backward_half)
        else:
            self.gz, self.db1 = linear_cpu.relu_backward_bias_grad(self.da, self.a)
            self.dw1 = _weight_grad(self.gz, x)  # as ops.LinearReLU.backward: dead units' rows not multiplied
        if self.split_adam:
            self._adam(self.w2.reshape(-1), dw2.reshape(-1), self.m[2].reshape(-1), self.v[2].reshape(-1))
            self._adam(self.b2, db2, self.m[3], self.v[3])
        else:  # the engine's group update, W1's blocks shared with parallel.py's resident helper
            cpu.adam_update_group([self.w1, self.b1, self.w2, self.b2], [self.dw1, self.db1, dw2, db2], self.m,
                                  self.v, [None] * 4, step=s, lr=self.lr, beta1=self.beta1, beta2=self.beta2,
                                  eps=self.eps, weight_decay=0.0, amsgrad=False, maximize=False)
        return loss


def _forward_products(batch: int, w1, weight_first: bool):
    """(whole, halves) functions of random (x, w) for layer 1's forward, in the layouts the step uses."""
    cut = w1.shape[0] // 2
    if weight_first:
        return (lambda x, w: w @ x.T,
                lambda x, w, blocks: np.concatenate([blocked(w[:cut], x.T, blocks), blocked(w[cut:], x.T, blocks)]),
                (batch, w1.shape[1]), w1.shape, w1.dtype)
    return (lambda x, w: x @ w.T,
            lambda x, w, blocks: np.concatenate([blocked(x, w[:cut].T, blocks), blocked(x, w[cut:].T, blocks)], 1),
            (batch, w1.shape[1]), w1.shape, w1.dtype)


def _dw1_products(batch: int, w1):
    """(whole, halves) functions of random (gz, x) for dW1 = gz^T x, in the layouts the step uses."""
    cut = w1.shape[0] // 2
    return (lambda g, x: g.T @ x,
            lambda g, x, blocks: np.concatenate([blocked(g[:, :cut].T, x, blocks), blocked(g[:, cut:].T, x, blocks)]),
            (batch, w1.shape[0]), (batch, w1.shape[1]), w1.dtype)


def replay_case(batch: int, flush: bool):
    step, to_float, sync = peers.tinygrad_opt_case(batch, capture=True, flush=flush)
    return step, to_float, sync


def snapshot(step):
    """Copies of the model's parameters and Adam's (exp_avg, exp_avg_sq) and step count."""
    params = [p.data.copy() for p in step.model.parameters()]
    states = []
    count = 0
    for p in step.model.parameters():
        st = step.optimizer.state[p]
        states.append((np.array(st["exp_avg"].data if hasattr(st["exp_avg"], "data") else st["exp_avg"]),
                       np.array(st["exp_avg_sq"].data if hasattr(st["exp_avg_sq"], "data") else st["exp_avg_sq"])))
        count = int(st["step"]) if not hasattr(st["step"], "item") else int(st["step"].item())
    return params, states, count


def check(batches, steps: int) -> bool:
    """Whole steps of each form from the replay's state on the replay's batches against the replay's, bit for bit;
    and whether plain one-thread halves (no blocks) would already have matched BLAS's two threads."""
    ok = True
    for batch in batches:
        step, _, sync = replay_case(batch, flush=True)
        for _ in range(3):
            step()
        sync()
        params, states, count = snapshot(step)
        forms = {form: SplitStep(*copied(params, states), count, batch, form) for form in FORMS}
        data = [(tg.Tensor(x).data, tg.Tensor(y).data) for x, y in peers.batches(batch)]
        for _ in range(steps):
            step()
        sync()
        after = [p.data for p in step.model.parameters()]
        halves = forms["halves"]
        forward, dw1 = (("none matches" if name in halves.other_bits else blocks) for name, blocks in
                        (("layer 1's forward", halves.forward_blocks), ("dW1", halves.dw1_blocks)))
        print(f"B={batch}: inner-axis blocks for the halves: forward {forward}, dW1 {dw1}")
        for form, split in forms.items():
            if split.other_bits:
                print(f"    {form:16s} {OTHER_BITS}: no inner-axis blocking of {' or '.join(split.other_bits)}'s "
                      "halves on one thread reproduces BLAS's threaded product; not compared")
                continue
            for i in range(3, 3 + steps):
                split(*data[i % peers.POOL])
            same = all(a.tobytes() == b.tobytes() for a, b in zip(after, split_params(split)))
            print(f"    {form:16s} {steps} steps == the replay's, bit for bit: {same}")
            ok &= same
    return ok


def copied(params, states):
    return [p.copy() for p in params], [(m.copy(), v.copy()) for m, v in states]


def split_params(split):
    return [split.w1, split.b1, split.w2, split.b2]


def timed(batches, rounds: int, seconds: float) -> None:
    """Interleaved blocks of the replay and each form, one process; medians of the blocks' steps/s."""
    for batch in batches:
        step, to_float, sync = replay_case(batch, flush=True)
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < 2.0:  # warm up past the compile and the subnormal onset
            step()
        sync()
        params, states, count = snapshot(step)
        forms = {form: SplitStep(*copied(params, states), count, batch, form) for form in FORMS}
        data = [(tg.Tensor(x).data, tg.Tensor(y).data) for x, y in peers.batches(batch)]
        per_block = max(20, int(seconds * {64: 2000, 512: 500, 4096: 80}.get(batch, 200)))
        rates: dict[str, list] = {"replay": [], **{name: [] for name in forms}}
        for r in range(rounds):
            for name in (list(rates) if r % 2 == 0 else list(rates)[::-1]):
                t = time.perf_counter()
                if name == "replay":
                    for _ in range(per_block):
                        loss = step()
                    to_float(loss)
                else:
                    split = forms[name]
                    for i in range(per_block):
                        split(*data[i % peers.POOL])
                rates[name].append(per_block / (time.perf_counter() - t))
        medians = {name: float(np.median(values)) for name, values in rates.items()}
        line = [f"B={batch}: replay {medians['replay']:7.1f} steps/s"]
        line += [f"{name} {medians[name]:7.1f} ({medians[name] / medians['lean']:.3f}x lean"
                 + (f", {OTHER_BITS})" if forms[name].other_bits else ")") for name in forms]
        print("  ".join(line), flush=True)
        for name, values in rates.items():
            print(f"    {name:16s} {[round(v) for v in values]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="64")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=0.5, help="per block")
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--steps", type=int, default=5, help="--check: whole steps compared")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    if blas_threads._blas() is None:
        print("BLAS's thread count is out of reach (no threadpoolctl): the probe needs it; nothing timed")
        return
    tg.set_flush_denormal(True)
    blas_threads.set_blas_threads(2)  # the replay's products on two BLAS threads whatever the load: fixed bits
    gemm_job.team_products = False  # ... OpenBLAS's whole products, as every form here computes them (not the team's blocks)
    if args.check:
        sys.exit(0 if check(batches, args.steps) else 1)
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    timed(batches, args.rounds, args.seconds)


if __name__ == "__main__":
    main()
