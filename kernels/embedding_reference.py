"""Adding rows into a matrix at given row indices (Embedding's backward), as plain array expressions.

    index_add_rows(target, index, values):  target[index[i]] += values[i] for every i, in place,
    repeated indices adding up (in index order: NumPy's add.at). The twin of embedding_cpu.py.
"""
from __future__ import annotations

from .reference import _xp


def index_add_rows(target, index, values) -> None:
    xp = _xp(target)
    if hasattr(xp.add, "at"):  # NumPy, and CuPy >= 12.1
        xp.add.at(target, index, values)
    else:
        import cupyx  # noqa: PLC0415 - older CuPy spells ufunc.at this way

        cupyx.scatter_add(target, index, values)
