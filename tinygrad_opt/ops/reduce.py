"""Reductions over dims: sum, mean, amax/amin (values only), with NumPy's axis tuples inside."""
from ..autograd import Function
from ..backend import broadcast_to
from ..errors import ShapeError
from ..summation import sum_axes


def normalize_axes(axis, ndim: int, op: str) -> tuple:
    """axis (None, int or tuple) -> tuple of non-negative axes; errors name the op.

    A 0-d tensor accepts dim 0 and -1, as in PyTorch, and has no axes to reduce. An empty
    tuple means every dim, as torch.sum(x, dim=()) does.
    """
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, kept cheap
        return (axis % ndim,)
    axes = (axis,) if not isinstance(axis, (tuple, list)) else tuple(axis)
    if not axes:
        return tuple(range(ndim))
    out = []
    for ax in axes:
        if isinstance(ax, bool) or not hasattr(ax, "__index__"):
            raise TypeError(f"{op}: dim must be an int or a tuple of ints, got {axis!r}")
        ax = int(ax)
        if not -max(ndim, 1) <= ax < max(ndim, 1):
            raise IndexError(
                f"{op}: dim {ax} is out of range for a tensor with {ndim} dimensions "
                f"(expected one in [{-max(ndim, 1)}, {max(ndim, 1) - 1}])"
            )
        out.append(ax % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: dim {ax} appears more than once in {axis}")
    return tuple(out) if ndim else ()


def reduced_shape(shape: tuple, axes: tuple, keepdims: bool) -> tuple:
    """The shape of a reduction's result."""
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def expand_to_input(g, in_shape: tuple, axes: tuple, keepdims: bool):
    """Reshape a reduced gradient so it broadcasts against the input again."""
    if not keepdims:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(in_shape)])
    return g


def narrow_integer(a) -> bool:
    """Bool and integer dtypes below 64 bits: torch sums and multiplies them in int64 (NumPy: uint8 in uint64)."""
    return a.dtype.kind in "biu" and a.dtype.itemsize < 8


class Sum(Function):
    """y = sum(a, axis).   dL/da = broadcast(g) to a's shape (every summand gets g)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axes = normalize_axes(axis, a.ndim, "sum")
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
        if narrow_integer(a):
            return a.sum(axis=axes, keepdims=keepdims, dtype="int64")
        return sum_axes(a, axes, keepdims)

    @staticmethod
    def backward(ctx, g):
        return broadcast_to(expand_to_input(g, ctx.shape, ctx.axes, ctx.keepdims), ctx.shape)


class Mean(Function):
    """y = sum(a, axis) / n, n = number of reduced elements.   dL/da = broadcast(g) / n."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axes = normalize_axes(axis, a.ndim, "mean")
        count = 1
        for ax in axes:
            count *= a.shape[ax]
        ctx.shape, ctx.axes, ctx.keepdims, ctx.count = a.shape, axes, keepdims, count
        if a.dtype.kind == "f" and a.dtype.itemsize >= 4 and count:
            # NumPy's mean is this same sum and division (it divides float32 in float64, so the
            # two can differ in the last bit) at a fraction of its call overhead; float16 keeps
            # mean()'s own accumulation.
            return sum_axes(a, axes, keepdims) / count
        if a.dtype.kind not in "fc":
            raise TypeError(
                f"mean(): input dtype must be floating point, got {a.dtype}; convert first with .float() or .double()"
            )
        return a.mean(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        g = expand_to_input(g, ctx.shape, ctx.axes, ctx.keepdims)
        return broadcast_to(g / ctx.count, ctx.shape)


def check_reduced_dims_not_empty(shape: tuple, axes: tuple, op: str, dim_given: bool = True) -> None:
    """A max/min over a zero-length dim has no value: torch raises IndexError (RuntimeError when no
    dim was given); over other dims of an empty tensor the result is just empty."""
    if not dim_given and 0 in shape:
        raise ShapeError(f"{op}(): the input of shape {tuple(shape)} is empty, so it has no value over all dims; "
                         "pass dim= to reduce over a dim with elements")
    for ax in axes:
        if shape[ax] == 0:
            raise IndexError(
                f"{op}(): expected reduction dim {ax} to have non-zero size (input shape {tuple(shape)}); "
                "reduce over a dim with elements, or check the tensor is not empty"
            )


def _extreme_forward(ctx, a, axis, keepdims, op: str, nan_wins: bool = False):
    axes = normalize_axes(axis, a.ndim, op)
    check_reduced_dims_not_empty(a.shape, axes, op, axis is not None)
    y = a.max(axis=axes, keepdims=True) if op == "amax" else a.min(axis=axes, keepdims=True)
    ctx.a, ctx.y, ctx.axes, ctx.keepdims, ctx.nan_wins = a, y, axes, keepdims, nan_wins
    return y if keepdims else y.reshape(reduced_shape(a.shape, axes, False))


def _extreme_backward(ctx, g):
    g = expand_to_input(g, ctx.a.shape, ctx.axes, ctx.keepdims)
    winners = ctx.a == ctx.y
    ties = winners.sum(axis=ctx.axes, keepdims=True).astype(g.dtype)
    if ctx.nan_wins and ctx.a.dtype.kind == "f" and not ties.all():  # a NaN result equals nothing
        winners = winners | (ctx.a != ctx.a)
        ties = winners.sum(axis=ctx.axes, keepdims=True).astype(g.dtype)
    return winners * (g / ties)


class Max(Function):
    """y = max(a, axis) (values only, torch.amax).

    dL/da = g * [a == y] / (number of ties): the gradient is split evenly among ties. A NaN maximum
    equals nothing, so torch.amax's gradient there is NaN everywhere; with nan_wins (torch.max without
    a dim) the NaNs count as the ties: dL/da = g * [a is NaN] / (number of NaNs).
    """

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False, nan_wins=False):
        return _extreme_forward(ctx, a, axis, keepdims, "amax", nan_wins)

    backward = staticmethod(_extreme_backward)


class Min(Function):
    """y = min(a, axis) (values only, torch.amin).

    dL/da = g * [a == y] / (number of ties): the gradient is split evenly among ties; NaN as in Max.
    """

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False, nan_wins=False):
        return _extreme_forward(ctx, a, axis, keepdims, "amin", nan_wins)

    backward = staticmethod(_extreme_backward)
