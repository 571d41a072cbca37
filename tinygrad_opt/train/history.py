"""The metrics history files (JSON and CSV, rewritten atomically after each epoch) and the curve plot."""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Sequence

from .serialization import atomic_write_text


def _columns(history: Sequence[dict[str, Any]]) -> list[str]:
    columns: list[str] = []
    for record in history:
        columns += [k for k in record if k not in columns]
    return columns


def history_csv(history: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(history), lineterminator="\n")
    writer.writeheader()
    for record in history:
        writer.writerow({k: repr(v) if isinstance(v, float) else v for k, v in record.items()})
    return buffer.getvalue()


def write_history(folder: str | os.PathLike, history: Sequence[dict[str, Any]]) -> tuple[Path, Path]:
    """history.json (a list of per-epoch records) and history.csv (one row per epoch) in `folder`."""
    folder = Path(folder)
    json_path = atomic_write_text(folder / "history.json", json.dumps(list(history), indent=1) + "\n")
    csv_path = atomic_write_text(folder / "history.csv", history_csv(history))
    return json_path, csv_path


def read_history(path: str | os.PathLike) -> list[dict[str, Any]]:
    return json.loads(Path(path).read_text())


def plot_history(history: Sequence[dict[str, Any]], path: str | os.PathLike, title: str = "") -> Path | None:
    """Loss and accuracy against epoch (train and validation) as a PNG; None when matplotlib is missing."""
    try:
        import matplotlib  # noqa: PLC0415 - optional extra "plot"

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return None
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    for key, label, ax in (("train_loss", "train", ax_loss), ("val_loss", "validation", ax_loss),
                           ("train_acc", "train", ax_acc), ("val_acc", "validation", ax_acc)):
        points = [(e, r[key]) for e, r in zip(epochs, history) if key in r]
        if points:
            ax.plot(*zip(*points), marker="o", markersize=3, label=label)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
    return path
