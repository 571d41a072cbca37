"""Lessons built on the engine: the tiny MLP by hand, finite differences, one watched training step.

    from tinygrad_opt.teach.mlp_by_hand import forward, backward   # textbook formulas in NumPy
    from tinygrad_opt.teach.one_step import run_one_step           # what `tinygrad-opt trace` prints

Nothing here is needed to train a model; it exists so a learner can check every
number the engine produces. It sits above nn, optim and trace (it uses all three);
nothing below it imports it. The formatting and drawing helpers it re-exports live in
tinygrad_opt.trace.
"""
from ..trace import format_array, format_table, render, to_dot

__all__ = ["format_array", "format_table", "to_dot", "render"]
