"""Check analytical gradients against central finite differences over the full Jacobian."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from . import autograd
from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """The engine's gradient disagrees with the finite-difference estimate."""


def _as_tuple(inputs) -> tuple:
    if isinstance(inputs, Tensor):
        return (inputs,)
    return tuple(inputs)


def _evaluate(fn: Callable, inputs: tuple) -> np.ndarray:
    with no_grad():
        out = fn(*inputs)
    return np.asarray(out.numpy() if isinstance(out, Tensor) else out, dtype=np.float64).ravel()


def _analytical_jacobian(out: Tensor, checked: list) -> list:
    """One row per output element: backward with a one-hot upstream gradient."""
    xp = np if out.device == "cpu" else __import__("cupy")
    jacobians = [np.zeros((out.numel(), t.numel())) for t in checked]
    if not out.requires_grad:
        return jacobians
    for row in range(out.numel()):
        seed = xp.zeros(out.numel(), dtype=out.dtype)
        seed[row] = 1
        grads = autograd.grad_arrays(out, checked, seed.reshape(out.shape), retain_graph=True)
        for jac, g in zip(jacobians, grads):
            jac[row] = np.asarray(g.get() if hasattr(g, "get") else g).ravel()
    return jacobians


def _numerical_jacobian(fn: Callable, inputs: tuple, t: Tensor, n_out: int, eps: float) -> np.ndarray:
    """Central differences: column j = (f(x + eps e_j) - f(x - eps e_j)) / (2 eps)."""
    jac = np.zeros((n_out, t.numel()))
    if not t.data.flags.c_contiguous:
        t.data = t.data.copy()  # reshape(-1) must be a view so that perturbing it reaches fn
    flat = t.data.reshape(-1)  # perturb in place, restore after
    for j in range(t.numel()):
        original = flat[j].item()
        flat[j] = original + eps
        plus = _evaluate(fn, inputs)
        flat[j] = original - eps
        minus = _evaluate(fn, inputs)
        flat[j] = original
        jac[:, j] = (plus - minus) / (2 * eps)
    return jac


def gradcheck(
    fn: Callable,
    inputs: Sequence[Tensor] | Tensor,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Compare the gradient of every requires_grad input with central finite differences.

    `fn(*inputs)` may return a tensor of any shape: the whole Jacobian is checked,
    element by element, with |analytical - numerical| <= atol + rtol * |numerical|.
    Inputs must be float64 (float32 round-off swamps a finite difference).
    Returns True, or raises GradcheckError (or returns False with raise_exception=False).
    """
    inputs = _as_tuple(inputs)
    checked = [t for t in inputs if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input has requires_grad=True, so there is nothing to check")
    for position, t in enumerate(inputs):
        if isinstance(t, Tensor) and t.requires_grad and t.dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {position} is {t.dtype}; finite differences need float64 "
                "(float32 rounding error is ~1e-7 / eps). Build the inputs with dtype='float64'."
            )
        if isinstance(t, Tensor) and not t.is_leaf:
            raise ValueError(f"gradcheck: input {position} is not a leaf tensor; pass leaves (use .detach())")
    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    analytical = _analytical_jacobian(out, checked)
    for t, jac in zip(checked, analytical):
        position = next(i for i, x in enumerate(inputs) if x is t)
        numerical = _numerical_jacobian(fn, inputs, t, out.numel(), eps)
        error = np.abs(jac - numerical)
        bad = error > atol + rtol * np.abs(numerical)
        bad |= np.isnan(jac) != np.isnan(numerical)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            element = np.unravel_index(col, t.shape) if t.ndim else ()
            out_element = np.unravel_index(row, out.shape) if out.ndim else ()
            a, n = jac[row, col], numerical[row, col]
            message = (
                f"gradcheck failed for input {position} (shape {tuple(t.shape)}) at element "
                f"{tuple(int(i) for i in element)}, output element {tuple(int(i) for i in out_element)}: "
                f"analytical {a:.10g} vs numerical {n:.10g}; absolute error {abs(a - n):.3g}, "
                f"relative error {abs(a - n) / max(abs(n), 1e-300):.3g} (atol={atol}, rtol={rtol}); "
                f"{int(bad.sum())} of {bad.size} Jacobian entries disagree"
            )
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True
