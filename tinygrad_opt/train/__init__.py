"""Training utilities. For now: classification metrics (the training loop comes later)."""
from .metrics import (
    accuracy, classification_report, confusion_matrix, f1_score, format_report, per_class_scores, precision,
    recall, to_labels,
)

__all__ = [
    "accuracy", "confusion_matrix", "precision", "recall", "f1_score", "per_class_scores",
    "classification_report", "format_report", "to_labels",
]
