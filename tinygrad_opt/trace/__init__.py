"""Watching backprop: `tg.trace()` records each forward op and each backward step.

    with tg.trace(model=model) as t:
        loss = loss_fn(model(x), y)
        loss.backward()
    print(t)                  # the forward pass, then the backward pass step by step
    t.steps[0].upstream       # every number is there as a NumPy array

record.py holds the recorder; format.py, names.py and formulas.py turn its numbers,
tensors and ops into text; dot.py, graph.py and html_page.py draw graphs. This package
sits just above autograd and imports nothing of nn, optim or teach (teach builds its
lessons on top of it).
"""
from .dot import render, to_dot
from .format import format_array, format_table
from .record import BackwardStep, ForwardStep, Trace, TracedValue, creation_site, trace

__all__ = ["trace", "Trace", "ForwardStep", "BackwardStep", "TracedValue", "to_dot", "render", "format_array",
           "format_table", "creation_site"]
