"""Classification metrics: accuracy, confusion matrix, precision / recall / F1 and a report.

Conventions follow scikit-learn so numbers can be compared directly:
- confusion_matrix[i, j] counts samples of true class i predicted as class j;
- precision = TP / (TP + FP), recall = TP / (TP + FN), F1 = 2 TP / (2 TP + FP + FN),
  each 0 where its denominator is 0 (sklearn's zero_division=0);
- "macro" averages over every class 0..num_classes-1 (as sklearn with
  labels=range(num_classes)), "weighted" weights each class by its support
  (the number of true samples), and classification_report returns sklearn's
  output_dict layout.
Inputs may be NumPy arrays, lists or Tensors; predictions may be class indices or
(N, C) scores/logits, which are turned into indices by argmax.
Labels are host-side bookkeeping, so everything here is NumPy.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..data.arrays import check_labels
from ..tensor import Tensor

_FIELDS = ("precision", "recall", "f1-score")


def to_labels(values: Any, name: str = "predictions") -> np.ndarray:
    """Class indices (int64, shape (N,)) from indices or from (N, C) logits/probabilities (argmax)."""
    if isinstance(values, Tensor):
        values = values.numpy()
    elif hasattr(values, "get") and not isinstance(values, np.ndarray):  # CuPy
        values = values.get()
    values = np.asarray(values)
    if values.ndim == 2:
        if values.shape[1] < 2:
            raise ValueError(f"{name}: scores of shape {values.shape} need at least 2 class columns to take an argmax")
        return values.argmax(axis=1).astype(np.int64)
    if values.ndim != 1:
        raise ValueError(f"{name}: expected class indices (N,) or scores (N, C), got shape {values.shape}")
    if values.dtype.kind == "f" and (not np.all(np.isfinite(values)) or np.any(values != np.round(values))):
        raise ValueError(
            f"{name}: 1-D values must be class indices, got non-integer floats; pass (N, C) scores for argmax"
        )
    if values.dtype.kind not in "iuf" and values.size:
        raise ValueError(f"{name}: class indices must be integers, got dtype {values.dtype}")
    return values.astype(np.int64)


def _pair(y_true: Any, y_pred: Any, num_classes: int | None) -> tuple[np.ndarray, np.ndarray, int]:
    t, p = to_labels(y_true, "y_true"), to_labels(y_pred, "y_pred")
    if len(t) != len(p):
        raise ValueError(f"y_true has {len(t)} samples but y_pred has {len(p)}")
    if num_classes is None:
        num_classes = int(max(t.max(initial=-1), p.max(initial=-1))) + 1
        if num_classes == 0:
            raise ValueError("cannot infer the number of classes from empty labels; pass num_classes")
    elif isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    hint = f"labels must be class indices 0..{num_classes - 1}; pass num_classes if there are more classes"
    check_labels(t, num_classes, "y_true", hint)
    check_labels(p, num_classes, "y_pred", hint)
    return t, p, int(num_classes)


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of samples whose predicted class equals the true class."""
    t, p = to_labels(y_true, "y_true"), to_labels(y_pred, "y_pred")
    if len(t) != len(p):
        raise ValueError(f"accuracy: y_true has {len(t)} samples but y_pred has {len(p)}")
    if len(t) == 0:
        raise ValueError("accuracy: no samples")
    return float(np.mean(t == p))


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """(num_classes, num_classes) int64 counts: row = true class, column = predicted class."""
    t, p, k = _pair(y_true, y_pred, num_classes)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (sklearn's zero_division=0)."""
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape)
    np.divide(num, den, out=out, where=den != 0)
    return out


def per_class_scores(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall, f1-score (float64) and support (int64) from a confusion matrix."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"per_class_scores: a confusion matrix must be square, got shape {cm.shape}")
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0)  # TP + FP
    support = cm.sum(axis=1)  # TP + FN
    return {
        "precision": _safe_divide(tp, predicted),
        "recall": _safe_divide(tp, support),
        "f1-score": _safe_divide(2 * tp, predicted + support),
        "support": support.astype(np.int64),
    }


def _average(scores: dict[str, np.ndarray], average: str) -> dict[str, float]:
    support = scores["support"]
    if average == "macro":
        weights = np.ones(len(support))
    elif average == "weighted":
        weights = support.astype(np.float64)
    else:
        raise ValueError(f"unknown average {average!r}: use 'macro', 'weighted' or None")
    total = weights.sum()
    return {f: float(scores[f] @ weights / total) if total else 0.0 for f in _FIELDS}


def _score(field: str, y_true: Any, y_pred: Any, num_classes: int | None, average: str | None):
    scores = per_class_scores(confusion_matrix(y_true, y_pred, num_classes))
    return scores[field] if average is None else _average(scores, average)[field]


def precision(y_true: Any, y_pred: Any, num_classes: int | None = None, average: str | None = "macro"):
    """Precision per class (average=None, an array) or its "macro" / "weighted" average (a float)."""
    return _score("precision", y_true, y_pred, num_classes, average)


def recall(y_true: Any, y_pred: Any, num_classes: int | None = None, average: str | None = "macro"):
    """Recall per class (average=None, an array) or its "macro" / "weighted" average (a float)."""
    return _score("recall", y_true, y_pred, num_classes, average)


def f1_score(y_true: Any, y_pred: Any, num_classes: int | None = None, average: str | None = "macro"):
    """F1 per class (average=None, an array) or its "macro" / "weighted" average (a float)."""
    return _score("f1-score", y_true, y_pred, num_classes, average)


def classification_report(
    y_true: Any,
    y_pred: Any,
    num_classes: int | None = None,
    class_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """sklearn's `classification_report(..., output_dict=True)` layout.

    {class name: {"precision", "recall", "f1-score", "support"}, ..., "accuracy": float,
     "macro avg": {...}, "weighted avg": {...}}; class names default to "0", "1", ...
    """
    if num_classes is None and class_names is not None:
        num_classes = len(class_names)
    cm = confusion_matrix(y_true, y_pred, num_classes)
    k = cm.shape[0]
    names = [str(i) for i in range(k)] if class_names is None else [str(n) for n in class_names]
    if len(names) != k:
        raise ValueError(f"classification_report: {len(names)} class names for {k} classes")
    if len(set(names)) != k:
        raise ValueError(f"classification_report: class names must be distinct, got {names}")
    scores = per_class_scores(cm)
    report: dict[str, Any] = {
        name: {**{f: float(scores[f][i]) for f in _FIELDS}, "support": int(scores["support"][i])}
        for i, name in enumerate(names)
    }
    total = int(cm.sum())
    report["accuracy"] = float(np.trace(cm) / total) if total else 0.0
    for average in ("macro", "weighted"):
        report[f"{average} avg"] = {**_average(scores, average), "support": total}
    return report


def format_report(report: dict[str, Any], digits: int = 4) -> str:
    """A readable table of a classification_report dict, laid out like sklearn's text report."""
    rows = [k for k in report if k not in ("accuracy", "macro avg", "weighted avg")]
    width = max([len(r) for r in rows] + [len("weighted avg"), digits])
    head = f"{'':>{width}} " + "".join(f"{h:>10}" for h in ("precision", "recall", "f1-score", "support"))
    lines = [head, ""]

    def line(label: str, entry: dict) -> str:
        values = "".join(f"{entry[f]:>10.{digits}f}" for f in _FIELDS)
        return f"{label:>{width}} {values}{entry['support']:>10d}"

    lines += [line(r, report[r]) for r in rows]
    lines.append("")
    if "accuracy" in report:
        total = report.get("macro avg", {}).get("support", 0)
        lines.append(f"{'accuracy':>{width}} {'':>20}{report['accuracy']:>10.{digits}f}{total:>10d}")
    for key in ("macro avg", "weighted avg"):
        if key in report:
            lines.append(line(key, report[key]))
    return "\n".join(lines)
