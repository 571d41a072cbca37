"""The seed's MNIST run in tinygrad_opt, PyTorch (CPU) and JAX on the same machine, batch for batch.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/mnist_vs_torch.py --epochs 3

Recipe: 784-256-10 MLP, ReLU, cross-entropy, Adam lr 1e-3, batch 64, pixels scaled to
[0, 1], all 60,000 training images, 10 epochs by default. Every framework starts from the
same initial weights (the engine's, built with tg.manual_seed(seed)) and gets the very
same mini-batches: each epoch's permutation comes from one NumPy generator seeded alike in
every process, and every batch is gathered in NumPy and handed over without a copy where
the framework allows. Each loop does the same work per batch: forward, loss, zero_grad,
backward, step, and reading the loss back as a float for the running loss.

Each framework runs in its own long-lived worker process (this script with --worker),
with the thread count set in its environment before anything is imported, so no two
frameworks' thread pools share the cores; the parent tells the workers to run one epoch
each in turn (epochs alternate, so a busy machine slows all alike) and collects the times.
Frameworks that are not installed are skipped (pip install -e '.[bench]' for JAX).

Prints the seconds per epoch of each (the mean over epochs 2..N, since epoch 1 includes
one-time compilation; all epochs are listed), the ratios to the engine and the test
accuracies. On a shared machine wall times mostly measure the other jobs, so it also
prints an epoch time estimated from the fastest block of 100 batches (s*, like timeit's
minimum) and that ratio.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from peers import thread_environment  # noqa: E402

FRAMEWORKS = ("engine", "torch", "jax")
MODULES = {"engine": "numba", "torch": "torch", "jax": "optax"}
BLOCK = 100  # batches per timed block


def default_data_dir() -> str | None:
    shared = ROOT.parent / "shared" / "data" / "mnist"
    return str(shared) if shared.is_dir() else None  # None: the normal search (TINYGRAD_OPT_DATA, cache)


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator):
    order = rng.permutation(len(y))
    return [(x.take(order[i:i + batch_size], axis=0), y.take(order[i:i + batch_size]))
            for i in range(0, len(y), batch_size)]


def run_epoch(step, epoch_batches) -> tuple[float, float, float]:
    """(mean loss, wall seconds, seconds estimated from the fastest block of BLOCK batches)."""
    total, blocks = 0.0, []
    start = block_start = time.perf_counter()
    for i, (xb, yb) in enumerate(epoch_batches, start=1):
        total += step(xb, yb)
        if i % BLOCK == 0:
            now = time.perf_counter()
            blocks.append(now - block_start)
            block_start = now
    wall = time.perf_counter() - start
    best = min(blocks) / BLOCK * len(epoch_batches) if blocks else wall
    return total / len(epoch_batches), wall, best


# ---- one framework per worker: (step(xb, yb) -> float, accuracy(x, y) -> float) ------------

def initial_state(args, features: int, classes: int) -> dict:
    """The engine's initial weights for this seed, as NumPy arrays (every framework starts here)."""
    import tinygrad_opt as tg  # noqa: PLC0415
    from tinygrad_opt.train import build_mlp  # noqa: PLC0415

    tg.manual_seed(args.seed)
    return build_mlp(features, classes, hidden=[args.hidden]).state_dict()


def engine_framework(args, state: dict):
    import tinygrad_opt as tg  # noqa: PLC0415
    from tinygrad_opt import nn, optim  # noqa: PLC0415
    from tinygrad_opt.train import build_mlp  # noqa: PLC0415

    model = build_mlp(state["0.weight"].shape[1], state["2.weight"].shape[0], hidden=[args.hidden])
    model.load_state_dict(state)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()

    def step(xb, yb) -> float:
        loss = loss_fn(model(tg.Tensor._make(xb, False)), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    def accuracy(x, y) -> float:
        model.eval()
        with tg.no_grad():
            result = float((model(tg.Tensor(x)).numpy().argmax(axis=1) == y).mean())
        model.train()
        return result

    return step, accuracy


def torch_framework(args, state: dict):
    import torch  # noqa: PLC0415

    torch.set_num_threads(args.threads)
    features, hidden, classes = state["0.weight"].shape[1], args.hidden, state["2.weight"].shape[0]
    model = torch.nn.Sequential(torch.nn.Linear(features, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, classes))
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()})
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step(xb, yb) -> float:
        loss = loss_fn(model(torch.from_numpy(xb)), torch.from_numpy(yb))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    def accuracy(x, y) -> float:
        model.eval()
        with torch.no_grad():
            result = float((model(torch.from_numpy(x)).numpy().argmax(axis=1) == y).mean())
        model.train()
        return result

    return step, accuracy


def jax_framework(args, state: dict):
    import jax  # noqa: PLC0415
    import jax.numpy as jnp  # noqa: PLC0415
    import optax  # noqa: PLC0415

    params = {k.replace(".", "_"): jnp.asarray(v) for k, v in state.items()}  # 0_weight, 0_bias, 2_weight, 2_bias
    tx = optax.adam(args.lr)
    carry = {"params": params, "opt": tx.init(params)}

    def logits(p, x):
        h = jax.nn.relu(x @ p["0_weight"].T + p["0_bias"])
        return h @ p["2_weight"].T + p["2_bias"]

    def loss_fn(p, x, y):
        return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits(p, x)), y[:, None], axis=1))

    def train_step(p, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, opt_state = tx.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, loss

    train_step = jax.jit(train_step, donate_argnums=(0, 1))  # retraces once for the short last batch
    predict = jax.jit(logits)

    def step(xb, yb) -> float:
        carry["params"], carry["opt"], loss = train_step(carry["params"], carry["opt"], xb, yb.astype(np.int32))
        return float(loss)

    def accuracy(x, y) -> float:
        return float((np.asarray(predict(carry["params"], x)).argmax(axis=1) == y).mean())

    return step, accuracy


def worker(args) -> None:
    """Wait for "epoch" lines on stdin, run one epoch each, answer with one JSON line; "test" for accuracy."""
    from tinygrad_opt.data import load_dataset  # noqa: PLC0415

    data = load_dataset("mnist", data_dir=args.data_dir, normalize="unit")
    x, y = data.x_train, data.y_train
    state = {k: np.asarray(v) for k, v in initial_state(args, data.num_features, data.num_classes).items()}
    build = {"engine": engine_framework, "torch": torch_framework, "jax": jax_framework}[args.worker]
    step, accuracy = build(args, state)
    rng = np.random.default_rng(args.seed)  # the same permutations in every worker
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "epoch":
            loss, wall, best = run_epoch(step, batches(x, y, args.batch_size, rng))
            print(json.dumps({"loss": loss, "wall": wall, "best": best}), flush=True)
        elif command == "test":
            print(json.dumps({"accuracy": accuracy(data.x_test, data.y_test)}), flush=True)
        else:
            return


class Worker:
    """One framework's worker process, spoken to one line at a time."""

    def __init__(self, name: str, args, argv: list[str]):
        env = dict(os.environ, **thread_environment(args.threads))
        self.name = name
        self.process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--worker", name, *argv],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.ask(None)

    def ask(self, command: str | None) -> dict:
        if command is not None:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit(f"mnist_vs_torch.py: the {self.name} worker stopped (exit code {self.process.wait()})")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.write("quit\n")
        self.process.stdin.close()
        self.process.wait()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads of every library (all cores)")
    parser.add_argument("--frameworks", nargs="+", default=list(FRAMEWORKS), choices=FRAMEWORKS)
    parser.add_argument("--data-dir", default=default_data_dir(), help="MNIST IDX folder (default ../shared/data/mnist)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--worker", choices=FRAMEWORKS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return {}
    names = [n for n in args.frameworks if importlib.util.find_spec(MODULES[n]) is not None]
    for n in set(args.frameworks) - set(names):
        print(f"{n}: {MODULES[n]} is not installed, skipped")
    passed = ["--batch-size", str(args.batch_size), "--lr", str(args.lr), "--hidden", str(args.hidden),
              "--seed", str(args.seed), "--threads", str(args.threads)] + (["--data-dir", args.data_dir]
                                                                             if args.data_dir else [])
    workers = [Worker(n, args, passed) for n in names]
    print(f"MNIST 784-{args.hidden}-10 MLP, ReLU, Adam lr {args.lr:g}, batch {args.batch_size}, {args.epochs} "
          f"epochs, {args.threads} threads per framework, each in its own process, {os.cpu_count()} cores")
    print(f"{'epoch':>5}" + "".join(f"{n + ' s':>11}{n + ' s*':>12}{n + ' loss':>13}" for n in names))
    rows = []
    try:
        for epoch in range(1, args.epochs + 1):
            row = {"epoch": epoch}
            for w in workers:
                row[w.name] = w.ask("epoch")
            rows.append(row)
            print(f"{epoch:>5}" + "".join(f"{row[n]['wall']:>11.3f}{row[n]['best']:>12.3f}{row[n]['loss']:>13.4f}"
                                          for n in names), flush=True)
        accuracy = {w.name: w.ask("test")["accuracy"] for w in workers}
    finally:
        for w in workers:
            w.close()
    steady = rows[1:] or rows
    wall = {n: float(np.mean([r[n]["wall"] for r in steady])) for n in names}
    best = {n: float(min(r[n]["best"] for r in rows)) for n in names}
    result = {"epochs": rows, "seconds_per_epoch": wall, "seconds_per_epoch_best_block": best,
              "test_accuracy": accuracy, "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    span = f"epochs 2-{args.epochs}" if len(rows) > 1 else "epoch 1"
    base = names[0]
    print(f"seconds per epoch, wall ({span}): " + ", ".join(
        f"{n} {wall[n]:.3f} ({wall[n] / wall[base]:.2f}x {base})" for n in names))
    print(f"seconds per epoch* from the fastest {BLOCK}-batch block: " + ", ".join(
        f"{n} {best[n]:.3f} ({best[n] / best[base]:.2f}x {base})" for n in names))
    print("test accuracy: " + ", ".join(f"{n} {accuracy[n]:.4f}" for n in names)
          + f"   (load average {result['load_average']})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
