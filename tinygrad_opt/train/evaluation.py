"""Evaluating a classifier: loss, accuracy, macro and per-class precision / recall / F1, confusion matrix."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..autograd import no_grad
from ..backend import array_module, to_device
from ..data import ArrayDataset, DataLoader, TensorDataset
from ..nn import CrossEntropyLoss, Module
from ..tensor import Tensor
from . import metrics


@dataclass
class EvalResult:
    """What `evaluate` measured. `report` is train.metrics.classification_report's dict (sklearn's layout)."""

    loss: float
    accuracy: float
    precision: float  # macro averages over the classes
    recall: float
    f1: float
    confusion_matrix: np.ndarray
    report: dict[str, Any]
    class_names: list[str] = field(default_factory=list)

    @property
    def num_samples(self) -> int:
        return int(self.confusion_matrix.sum())

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (the confusion matrix as nested lists)."""
        return {
            "loss": self.loss, "accuracy": self.accuracy, "precision": self.precision, "recall": self.recall,
            "f1": self.f1, "num_samples": self.num_samples, "class_names": list(self.class_names),
            "report": self.report, "confusion_matrix": self.confusion_matrix.tolist(),
        }

    def format(self, title: str = "test set", digits: int = 4) -> str:
        """The printed report: headline numbers, per-class table and confusion matrix."""
        lines = [
            f"{title}: {self.num_samples} samples",
            f"  loss {self.loss:.{digits}f}   accuracy {self.accuracy:.{digits}f}",
            f"  macro precision {self.precision:.{digits}f}   recall {self.recall:.{digits}f}   F1 {self.f1:.{digits}f}",
            "",
            metrics.format_report(self.report, digits=digits),
            "",
            "confusion matrix (rows: true class, columns: predicted class)",
            format_confusion_matrix(self.confusion_matrix, self.class_names),
        ]
        return "\n".join(lines)


def format_confusion_matrix(cm: np.ndarray, class_names: Sequence[str] | None = None) -> str:
    k = cm.shape[0]
    names = [str(n) for n in (class_names or range(k))]
    short = [n if len(n) <= 8 else n[:7] + "." for n in names]
    width = max(max(len(str(int(v))) for v in cm.ravel()) if cm.size else 1, max(len(s) for s in short)) + 1
    label_width = max(len(s) for s in short)
    head = " " * (label_width + 1) + "".join(f"{s:>{width}}" for s in short)
    rows = [f"{short[i]:>{label_width}} " + "".join(f"{int(v):>{width}}" for v in cm[i]) for i in range(k)]
    return "\n".join([head] + rows)


def _batches(data: Any, batch_size: int) -> DataLoader:
    """A DataLoader as is; a tuple (x, y) or an (Array/Tensor)Dataset in order, `batch_size` at a time."""
    if isinstance(data, DataLoader):
        return data
    if not (isinstance(data, (ArrayDataset, TensorDataset)) or (isinstance(data, (tuple, list)) and len(data) == 2)):
        items = f" of {len(data)} items" if isinstance(data, (tuple, list)) else ""
        raise TypeError(f"evaluate: data must be a DataLoader, an ArrayDataset or a tuple (inputs, targets), got "
                        f"{type(data).__name__}{items}")
    return DataLoader(data, batch_size=batch_size)


def evaluate(model: Module, data: Any, loss_fn: Module | None = None, num_classes: int | None = None,
             class_names: Sequence[str] | None = None, batch_size: int = 1024,
             device: str | None = None) -> EvalResult:
    """Run `model` over `data` (a DataLoader, an ArrayDataset or a tuple (x, y)) without gradients.

    The model is put in eval mode (Dropout off, BatchNorm on running statistics) and back
    in its previous mode afterwards. loss_fn defaults to cross-entropy; its mean over each
    batch is weighted by the batch size, so `loss` is the mean over all samples. Batches go
    to `device` (default: where the model's parameters are).
    """
    loss_fn = loss_fn or CrossEntropyLoss()
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else "cpu"
    was_training = model.training
    model.eval()
    total_loss, count = 0.0, 0
    predictions, targets = [], []
    try:
        with no_grad():
            for xb, yb in _batches(data, batch_size):
                xb, yb = to_device(xb, device), to_device(yb, device)
                out = model(Tensor._make(xb, False))
                n = int(yb.shape[0])
                total_loss += float(loss_fn(out, yb).item()) * n
                count += n
                predictions.append(to_device(array_module(out.data).argmax(out.data, axis=1), "cpu"))
                targets.append(to_device(yb, "cpu"))
                if num_classes is None:
                    num_classes = int(out.shape[1])
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate: the data holds no samples")
    y_true, y_pred = np.concatenate(targets), np.concatenate(predictions)
    names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
    report = metrics.classification_report(y_true, y_pred, num_classes=num_classes, class_names=names)
    macro = report["macro avg"]
    return EvalResult(
        loss=total_loss / count, accuracy=float(report["accuracy"]), precision=macro["precision"],
        recall=macro["recall"], f1=macro["f1-score"],
        confusion_matrix=metrics.confusion_matrix(y_true, y_pred, num_classes), report=report, class_names=names,
    )
