"""The seed's MNIST run in tinygrad_opt and in PyTorch (CPU) on the same machine, batch for batch.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/mnist_vs_torch.py --epochs 3

Recipe: 784-256-10 MLP, ReLU, cross-entropy, Adam lr 1e-3, batch 64, pixels scaled to
[0, 1], all 60,000 training images, 10 epochs by default. Both frameworks start from the
same initial weights (the engine's, copied into torch) and get the very same mini-batches:
each epoch's permutation comes from one NumPy generator and every batch is gathered once
in NumPy, then handed to both (torch through torch.from_numpy, no copy). Both loops do the
same work per batch: forward, loss, zero_grad, backward, step, and loss.item() for the
running loss. Epochs alternate between the two, so a busy machine slows both alike.
torch.set_num_threads uses the machine's core count (NumPy's BLAS uses all cores by default).

Prints the seconds per epoch of each (the mean over epochs 2..N, since epoch 1 includes
one-time compilation; all epochs are listed), their ratio and both test accuracies. On a
shared machine wall times mostly measure the other jobs, so it also prints an epoch time
estimated from the fastest block of 100 batches (s*, like timeit's minimum) and that ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tinygrad_opt as tg  # noqa: E402
from tinygrad_opt import nn, optim  # noqa: E402
from tinygrad_opt.data import load_dataset  # noqa: E402
from tinygrad_opt.train import build_mlp  # noqa: E402


def default_data_dir() -> str | None:
    shared = ROOT.parent / "shared" / "data" / "mnist"
    return str(shared) if shared.is_dir() else None  # None: the normal search (TINYGRAD_OPT_DATA, cache)


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, rng: np.random.Generator):
    order = rng.permutation(len(y))
    return [(x.take(order[i:i + batch_size], axis=0), y.take(order[i:i + batch_size]))
            for i in range(0, len(y), batch_size)]


BLOCK = 100  # batches per timed block


def run_epoch(step, epoch_batches) -> tuple[float, float, float]:
    """(mean loss, wall seconds, seconds estimated from the fastest block of BLOCK batches).

    The estimate (fastest block's time per batch x batches) is what the epoch takes when
    nothing else competes for the cores, as timeit's minimum: on a shared machine the
    wall time mostly measures the other jobs.
    """
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


def engine_step(model, opt, loss_fn):
    def step(xb, yb) -> float:
        loss = loss_fn(model(tg.Tensor._make(xb, False)), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def torch_step(torch, model, opt, loss_fn):
    def step(xb, yb) -> float:
        loss = loss_fn(model(torch.from_numpy(xb)), torch.from_numpy(yb))
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()
    return step


def engine_accuracy(model, x, y) -> float:
    model.eval()
    with tg.no_grad():
        return float((model(tg.Tensor(x)).numpy().argmax(axis=1) == y).mean())


def torch_accuracy(torch, model, x, y) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).numpy().argmax(axis=1) == y).mean())


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads (default: all cores)")
    parser.add_argument("--data-dir", default=default_data_dir(), help="MNIST IDX folder (default ../shared/data/mnist)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    import torch  # noqa: PLC0415 - the comparison needs it; nothing else in the project does

    torch.set_num_threads(args.threads)
    data = load_dataset("mnist", data_dir=args.data_dir, normalize="unit")
    x, y = data.x_train, data.y_train

    tg.manual_seed(args.seed)
    engine = build_mlp(data.num_features, data.num_classes, hidden=[args.hidden])
    engine_opt = optim.Adam(engine.parameters(), lr=args.lr)
    engine_loss = nn.CrossEntropyLoss()
    reference = torch.nn.Sequential(torch.nn.Linear(data.num_features, args.hidden), torch.nn.ReLU(),
                                    torch.nn.Linear(args.hidden, data.num_classes))
    reference.load_state_dict({k: torch.from_numpy(v) for k, v in engine.state_dict().items()})  # same start
    reference_opt = torch.optim.Adam(reference.parameters(), lr=args.lr)
    reference_loss = torch.nn.CrossEntropyLoss()

    print(f"MNIST {data.num_features}-{args.hidden}-{data.num_classes} MLP, ReLU, Adam lr {args.lr:g}, batch "
          f"{args.batch_size}, {len(y)} train / {len(data.y_test)} test, {args.epochs} epochs, torch threads "
          f"{args.threads}, NumPy {np.__version__}, torch {torch.__version__}, {os.cpu_count()} cores")
    print(f"{'epoch':>5} {'engine s':>9} {'torch s':>9} {'engine s*':>10} {'torch s*':>9} "
          f"{'engine loss':>12} {'torch loss':>11}")
    rng = np.random.default_rng(args.seed)
    engine_train = engine_step(engine, engine_opt, engine_loss)
    reference_train = torch_step(torch, reference, reference_opt, reference_loss)
    rows = []
    for epoch in range(1, args.epochs + 1):
        epoch_batches = batches(x, y, args.batch_size, rng)  # gathered once, shared by both
        engine.train()
        reference.train()
        e_loss, e_wall, e_best = run_epoch(engine_train, epoch_batches)
        t_loss, t_wall, t_best = run_epoch(reference_train, epoch_batches)
        rows.append({"epoch": epoch, "engine_s": e_wall, "torch_s": t_wall, "engine_s_best_block": e_best,
                     "torch_s_best_block": t_best, "engine_loss": e_loss, "torch_loss": t_loss})
        print(f"{epoch:>5} {e_wall:>9.3f} {t_wall:>9.3f} {e_best:>10.3f} {t_best:>9.3f} {e_loss:>12.4f} {t_loss:>11.4f}",
              flush=True)
    steady = rows[1:] or rows
    mean = {k: float(np.mean([r[k] for r in steady])) for k in ("engine_s", "torch_s")}
    best = {k: float(min(r[k] for r in rows)) for k in ("engine_s_best_block", "torch_s_best_block")}
    result = {
        "epochs": rows, "engine_s_per_epoch": mean["engine_s"], "torch_s_per_epoch": mean["torch_s"],
        "ratio": mean["engine_s"] / mean["torch_s"],
        "engine_s_per_epoch_best_block": best["engine_s_best_block"],
        "torch_s_per_epoch_best_block": best["torch_s_best_block"],
        "ratio_best_block": best["engine_s_best_block"] / best["torch_s_best_block"],
        "engine_test_accuracy": engine_accuracy(engine, data.x_test, data.y_test),
        "torch_test_accuracy": torch_accuracy(torch, reference, data.x_test, data.y_test),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    span = f"epochs 2-{args.epochs}" if len(rows) > 1 else "epoch 1"
    print(f"seconds per epoch, wall ({span}): engine {mean['engine_s']:.3f}, torch {mean['torch_s']:.3f}, "
          f"ratio engine/torch {result['ratio']:.2f}")
    print(f"seconds per epoch* from the fastest {BLOCK}-batch block: engine {best['engine_s_best_block']:.3f}, "
          f"torch {best['torch_s_best_block']:.3f}, ratio engine/torch {result['ratio_best_block']:.2f}")
    print(f"test accuracy: engine {result['engine_test_accuracy']:.4f}, torch {result['torch_test_accuracy']:.4f}"
          f"   (load average {result['load_average']})")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
