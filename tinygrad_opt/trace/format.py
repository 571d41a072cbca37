"""Plain-text formatting of arrays and tables for traces and teaching output."""
from __future__ import annotations

from typing import Sequence

import numpy as np

SMALL = 12  # arrays with at most this many elements are printed in full (a 3x4 weight fits)


def format_array(a, max_elements: int = SMALL, precision: int = 4) -> str:
    """One line of text for an array: every value when small, shape and statistics when big.

    >>> format_array(np.array([1.0, -0.5]))
    '[1.0, -0.5]'
    """
    if a is None:
        return "-"
    a = np.asarray(a)
    if a.size <= max_elements:
        text = np.array2string(a, separator=", ", max_line_width=10_000, threshold=max_elements + 1,
                               formatter={"float_kind": lambda v: format_number(v, precision)})
        return " ".join(text.split())  # one line: rows of a matrix follow each other
    flat = a.ravel()
    if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.bool_):
        head = ", ".join(str(v) for v in flat[:4])
        return f"[{head}, ...] shape {a.shape} {a.dtype}"
    f = flat.astype(np.float64)
    num = lambda v: format_number(v, precision)  # noqa: E731
    head = ", ".join(num(v) for v in f[:4]) if np.issubdtype(a.dtype, np.floating) else ", ".join(str(v) for v in flat[:4])
    return (f"[{head}, ...] shape {a.shape}  mean {num(f.mean())}  std {num(f.std())}  "
            f"min {num(f.min())}  max {num(f.max())}")

def format_number(v, precision: int) -> str:
    """A float in `precision` significant digits that still looks like a float (1.0, not 1)."""
    text = f"{v:.{precision}g}"
    return text if any(c in text for c in ".eni") else text + ".0"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> str:
    """Left-aligned columns; the last column is not padded, so long values do not widen the table."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row[:-1]):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])] + [cells[-1]]
        return (indent + "  ".join(padded)).rstrip()

    return "\n".join([line(headers)] + [line(row) for row in rows])
