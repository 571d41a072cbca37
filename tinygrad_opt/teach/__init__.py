"""Helpers for learning backprop with the engine: value formatting, graph drawing, hand-derived gradients.

    from tinygrad_opt.teach import format_array, to_dot, render
    from tinygrad_opt.teach.mlp_by_hand import forward, backward   # textbook formulas in NumPy

Nothing here is needed to train a model; it exists so a learner can check every
number the engine produces. This package must stay light: the core imports
`format` and `dot` at start-up, so they import NumPy and nothing of nn or optim.
"""
from .dot import render, to_dot
from .format import format_array, format_table

__all__ = ["format_array", "format_table", "to_dot", "render"]
