"""Adding rows into a matrix at given row indices (Embedding's backward), as plain array expressions.

    index_add_rows(target, index, values):  target[index[i]] += values[i] for every i, in place,
    repeated indices adding up (in index order: NumPy's add.at). The twin of embedding_cpu.py.
"""
from __future__ import annotations

from .reference import add_at


def index_add_rows(target, index, values) -> None:
    add_at(target, index, values)
