"""What a kernel's first calls run while its Numba loop compiles in the background: the loop's own bits.

kernels/background.py compiles a loop off the caller's thread; until it is ready the registry runs
the kernel's twin from here. A twin gives the loop's results bit for bit, NaN signs and signed
zeros included, on every input the loop takes (tests/test_kernels_first_call.py checks each
against its loop): otherwise a run's numbers would depend on how fast a compile went. Where it
cannot, it declines by returning NotImplemented (before writing anything), and the registry runs
the loop, compiling it on the caller's thread as it would have without a twin.

The twins are the references where those do the loop's operations, one IEEE operation per element,
in the loop's order. The column sums copy the loops' order (row after row from zero; NumPy sums a
narrow array's columns pairwise) but decline when a sum comes out NaN: where two NaNs meet, which
one's sign survives depends on which operand each compiler puts first. Softmax cross-entropy and
log-softmax round differently from any array expression: no twin, they compile at their first call.
"""
import numpy as np

from .linear_reference import bias_relu, bias_relu_transposed
from .reference import adam_update, relu, relu_backward, sgd_update

__all__ = ["adam_update", "bias_grad", "bias_relu", "bias_relu_transposed", "relu", "relu_backward",
           "relu_backward_bias_grad", "sgd_update"]

MAX_SUM_ROWS = 1024  # a NumPy call per row: taller arrays wait for their loop instead


def _column_sums(g):
    """g's column sums row after row from zero in g's dtype (the loops' order), or None if one is NaN."""
    if g.shape[0] > MAX_SUM_ROWS:
        return None
    total = np.zeros(g.shape[1], g.dtype)
    for row in g:
        np.add(total, row, out=total)
    return None if np.isnan(total).any() else total


def bias_grad(g):
    """cpu.bias_grad's bits: the column sums of the 2-D g (NotImplemented where they come out NaN)."""
    total = _column_sums(g)
    return NotImplemented if total is None else total


def relu_backward_bias_grad(g, y):
    """linear_cpu.relu_backward_bias_grad's bits: (g masked where y <= 0, its column sums)."""
    gz = relu_backward(g, y)
    total = _column_sums(gz)
    return NotImplemented if total is None else (gz, total)
