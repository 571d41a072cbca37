"""Reductions over axes (NumPy's `axis=` / `keepdims=` conventions)."""
from ..autograd import Function
from ..backend import broadcast_to
from ..errors import ShapeError
from ..summation import sum_axes


def normalize_axes(axis, ndim: int, op: str) -> tuple:
    """axis (None, int or tuple) -> tuple of non-negative axes; errors name the op."""
    if axis is None:
        return tuple(range(ndim))
    if type(axis) is int and -ndim <= axis < ndim:  # the common case, kept cheap
        return (axis % ndim,)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    out = []
    for ax in axes:
        if not -ndim <= ax < max(ndim, 1) or (ndim == 0 and ax not in (0, -1)):
            raise ShapeError(f"{op}: axis {ax} is out of range for a tensor with {ndim} dimensions")
        out.append(ax % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise ShapeError(f"{op}: repeated axis in {axis}")
    return tuple(out) if ndim else ()


def expand_to_input(g, in_shape: tuple, axes: tuple, keepdims: bool):
    """Reshape a reduced gradient so it broadcasts against the input again."""
    if not keepdims:
        g = g.reshape([1 if i in axes else n for i, n in enumerate(in_shape)])
    return g


class Sum(Function):
    """y = sum(a, axis).   dL/da = broadcast(g) to a's shape (every summand gets g)."""

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axes = normalize_axes(axis, a.ndim, "sum")
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
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
            # two can differ in the last bit) at a fraction of its call overhead; float16 and
            # integers keep mean()'s promotion.
            return sum_axes(a, axes, keepdims) / count
        return a.mean(axis=axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        g = expand_to_input(g, ctx.shape, ctx.axes, ctx.keepdims)
        return broadcast_to(g / ctx.count, ctx.shape)


class Max(Function):
    """y = max(a, axis) (values only, like NumPy's max / torch.amax).

    dL/da = g * [a == y] / (number of ties): the gradient is split evenly among ties.
    """

    @staticmethod
    def forward(ctx, a, axis=None, keepdims=False):
        axes = normalize_axes(axis, a.ndim, "max")
        if a.size == 0:
            raise ShapeError(f"max: cannot reduce an empty tensor of shape {tuple(a.shape)}")
        y = a.max(axis=axes, keepdims=True)
        ctx.a, ctx.y, ctx.axes, ctx.keepdims = a, y, axes, keepdims
        return y if keepdims else y.reshape([n for i, n in enumerate(a.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        g = expand_to_input(g, ctx.a.shape, ctx.axes, ctx.keepdims)
        winners = ctx.a == ctx.y
        ties = winners.sum(axis=ctx.axes, keepdims=True).astype(g.dtype)
        return winners * (g / ties)

