"""What a kernel's first calls run while its Numba loop compiles in the background: the loop's own bits.

kernels/background.py compiles a loop off the caller's thread; until it is ready the registry runs
the kernel's twin from here. A twin gives the loop's results bit for bit, NaN signs and signed
zeros included, on every input it accepts (tests/test_kernels_first_call.py checks each against
its loop): otherwise a run's numbers would depend on how fast a compile went. Where it cannot, it
declines by returning NotImplemented (before writing anything), and the registry runs the loop,
compiling it on the caller's thread as it would have without a twin.

The twins do the loop's IEEE operations, one per element, in the loop's order: the references
where those do, and for the column sums a row-after-row sum from zero (NumPy sums a narrow
array's columns pairwise). One thing the order does not fix: where two NaNs meet in an operation,
which one comes out depends on which operand each compiler puts first. So a twin that does
arithmetic declines when a NaN is among its inputs; NaNs that arise inside (inf - inf, 0 * inf)
are all the machine's one default NaN, so meeting each other they give the same bits either way.
Softmax cross-entropy's loop takes the C library's log per row, and for float64 its exp per element,
which NumPy's own SIMD functions do not match: its twin calls the same C functions through ctypes, one
Python call each, so it declines logits with more than MAX_SOFTMAX_ELEMENTS calls to make (and label
smoothing, whose mixed float32/float64 arithmetic it does not repeat). float32's exp is the loop's
polynomial, repeated op for op in NumPy (cpu.exp_nonpositive_float32_array). Log-softmax's float32 exp rounds
differently from any array expression: no twin, it compiles at its first call.
"""
import ctypes

import numpy as np

from . import linear_reference, reference
from .reference import relu, relu_backward

__all__ = ["adam_update", "adam_update_group", "bias_grad", "bias_relu", "bias_relu_transposed", "relu",
           "relu_backward", "relu_backward_bias_grad", "sgd_update", "sgd_update_group", "adadelta_update",
           "adagrad_update", "adamax_update", "lion_update", "nadam_update", "radam_update", "rmsprop_update",
           "schedule_free_adamw_update", "softmax_cross_entropy", "live_columns", "live_columns_turned",
           "place_live_rows", "relu_backward_bias_grad_live"]

MAX_SUM_ROWS = 1024  # a NumPy call per row: taller arrays wait for their loop instead
MAX_SOFTMAX_ELEMENTS = 1 << 16  # Python calls, about 0.4 us each: float64 makes one per element, float32 one per row


def _nan_free(*arrays) -> bool:
    """True when no array holds a NaN (one pass each, no temporary: NumPy's min is NaN if an element is)."""
    for a in arrays:
        if a is not None and a.size and np.isnan(a.min()):
            return False
    return True


def bias_relu(h, b):
    """linear_cpu.bias_relu's bits: h = max(h + b, 0) in place."""
    return linear_reference.bias_relu(h, b) if _nan_free(h, b) else NotImplemented


def bias_relu_transposed(h_t, b, out):
    """linear_cpu.bias_relu_transposed's bits: out = max(h_t^T + b, 0)."""
    return linear_reference.bias_relu_transposed(h_t, b, out) if _nan_free(h_t, b) else NotImplemented


def _column_sums(g):
    """g's column sums row after row from zero in g's dtype (the loops' order)."""
    total = np.zeros(g.shape[1], g.dtype)
    for row in g:
        np.add(total, row, out=total)
    return total


def bias_grad(g):
    """cpu.bias_grad's bits: the column sums of the 2-D g."""
    if g.shape[0] > MAX_SUM_ROWS or not _nan_free(g):
        return NotImplemented
    return _column_sums(g)


def relu_backward_bias_grad(g, y):
    """linear_cpu.relu_backward_bias_grad's bits: (g masked where y <= 0, its column sums)."""
    if g.shape[0] > MAX_SUM_ROWS:
        return NotImplemented
    gz = relu_backward(g, y)  # selects, computes nothing: any NaN passes through unchanged
    return (gz, _column_sums(gz)) if _nan_free(gz) else NotImplemented


def relu_backward_bias_grad_live(g, y):
    """linear_cpu.relu_backward_bias_grad_live's bits: relu_backward_bias_grad's, and the live columns."""
    found = relu_backward_bias_grad(g, y)
    return found if found is NotImplemented else (*found, linear_reference.live_columns(found[0]))


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, amsgrad: bool, **options):
    """cpu.adam_update's bits (in place)."""
    if not _nan_free(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else None):
        return NotImplemented
    return reference.adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, amsgrad=amsgrad, **options)


def sgd_update(param, grad, momentum_buffer, *, momentum: float, first_step: bool, **options):
    """cpu.sgd_update's bits (in place); the buffer is read only after the first step."""
    if not _nan_free(param, grad, momentum_buffer if momentum != 0 and not first_step else None):
        return NotImplemented
    return reference.sgd_update(param, grad, momentum_buffer, momentum=momentum, first_step=first_step, **options)


def adam_update_group(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, *, amsgrad: bool, **options):
    """cpu.adam_update_group's bits (in place): adam_update on each parameter in turn."""
    if not _nan_free(*params, *grads, *exp_avgs, *exp_avg_sqs, *(max_exp_avg_sqs if amsgrad else ())):
        return NotImplemented
    for arrays in zip(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs):
        reference.adam_update(*arrays, amsgrad=amsgrad, **options)


def sgd_update_group(params, grads, momentum_buffers, *, momentum: float, first_step: bool, **options):
    """cpu.sgd_update_group's bits (in place): sgd_update on each parameter in turn."""
    if not _nan_free(*params, *grads, *(momentum_buffers if momentum != 0 and not first_step else ())):
        return NotImplemented
    for arrays in zip(params, grads, momentum_buffers):
        reference.sgd_update(*arrays, momentum=momentum, first_step=first_step, **options)


def _reference_twin(name: str):
    """The twin of update kernel `name` whose loop does the reference's operations in its order: the reference
    itself, declining NaN inputs. Every array argument counts as read (an unread optional state array that holds
    a NaN only makes the first call run the loop)."""
    update = getattr(reference, name)

    def twin(*arrays, **options):
        if not _nan_free(*arrays):
            return NotImplemented
        return update(*arrays, **options)

    twin.__name__, twin.__qualname__ = name, name
    twin.__doc__ = f"cpu.{name}'s bits (in place)."
    return twin


# the skip of dead units' weight rows (ops/linear.py _weight_grad, from 128 rows of batch): the references find,
# gather and place the same elements and compute nothing, so they are the loops' bits as they are
live_columns = linear_reference.live_columns
live_columns_turned = linear_reference.live_columns_turned
place_live_rows = linear_reference.place_live_rows


# the other optimizers' updates: each loop's cold compile would otherwise land on its optimizer's first step
adadelta_update = _reference_twin("adadelta_update")
adagrad_update = _reference_twin("adagrad_update")
adamax_update = _reference_twin("adamax_update")
lion_update = _reference_twin("lion_update")
nadam_update = _reference_twin("nadam_update")
radam_update = _reference_twin("radam_update")
rmsprop_update = _reference_twin("rmsprop_update")
schedule_free_adamw_update = _reference_twin("schedule_free_adamw_update")


def _c_math(name: str, ctype):
    """The C function `name` of one `ctype` argument that compiled loops call, as a NumPy ufunc of Python
    objects; None where the process's symbols do not include it."""
    try:  # the process's global symbols, which Numba's JIT links the loop's calls to (the C math library)
        function = getattr(ctypes.CDLL(None), name)
    except (AttributeError, OSError, TypeError):
        return None
    function.restype, function.argtypes = ctype, [ctype]
    return np.frompyfunc(function, 1, 1)


_C_EXP = _c_math("exp", ctypes.c_double)
_C_LOG = _c_math("log", ctypes.c_double)


def softmax_cross_entropy(z, target, label_smoothing: float):
    """cpu.softmax_cross_entropy's bits without label smoothing: per row, m = max, e = exp(z - m) in z's dtype,
    s = the float64 sum of e from left to right, loss = log(s) - (z[t] - m) and dz = e / s, minus 1 at the
    target, each rounded once to z's dtype."""
    # the float32 exp's NumPy form lives beside the loop it repeats, in cpu.py, which loads at the first CPU
    # kernel's need rather than with the package (this module does)
    from . import cpu  # noqa: PLC0415

    float32 = z.dtype == np.float32
    exp = cpu.exp_nonpositive_float32_array if float32 else _C_EXP if z.dtype == np.float64 else None
    calls = len(z) if float32 else z.size
    if (label_smoothing or exp is None or _C_LOG is None or calls > MAX_SOFTMAX_ELEMENTS
            or not np.isfinite(z).all()):  # finite: no NaN meets another, and max is the loop's max
        return NotImplemented
    rows, classes = z.shape
    if rows and (target.min() < 0 or target.max() >= classes):  # the loop raises its IndexError
        return NotImplemented
    dtype = z.dtype.type
    shifted = z - z.max(axis=1, keepdims=True)
    e = exp(shifted).astype(dtype)
    s = np.zeros(rows)
    for j in range(classes):
        s += e[:, j]
    every_row = np.arange(rows)
    loss = (_C_LOG(s).astype(np.float64) - shifted[every_row, target]).astype(dtype)
    dz = (e / s[:, None] - 0.0).astype(dtype)
    dz[every_row, target] -= dtype(1.0)
    return loss, dz
