"""Padding over any dims with torch's modes: constant, reflect, replicate, circular (F.pad, and
Conv2d's padding_mode through nn/functional_image.pad2d).

g is the upstream gradient dL/dy.
"""
import numpy as np

from ..autograd import Function
from ..backend import array_module
from ..kernels.reference import add_at

# torch's mode names -> NumPy's np.pad modes that fill the border the same way
NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class ConstantPad(Function):
    """y = a with `widths` (before, after) entries of `value` added per dim; negative widths crop.

    dL/da = g cut back to a's region (the padding does not depend on a); cropped entries get 0.
    """

    @staticmethod
    def forward(ctx, a, widths=(), value=0.0):
        xp = array_module(a)
        crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for (lo, hi), n in zip(widths, a.shape))
        grow = tuple((max(lo, 0), max(hi, 0)) for lo, hi in widths)
        ctx.shape, ctx.crop, ctx.grow = a.shape, crop, grow
        return xp.pad(a[crop], grow, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, g):
        inner = g[tuple(slice(lo, g.shape[d] - hi) for d, (lo, hi) in enumerate(ctx.grow))]
        grad = array_module(g).zeros(ctx.shape, dtype=g.dtype)
        grad[ctx.crop] = inner
        return grad


class IndexPad(Function):
    """y = a with borders copied from a itself: reflect (mirror without the edge), replicate (the
    edge repeated) or circular (wrap around). Per dim, output position i reads input position
    source[i], where source is np.pad(arange(n), widths, NumPy's mode); y = a[ix_(sources)].

    dL/da = g scatter-added back through source, one dim at a time (each border entry sends its
    gradient to the entry it copied; the sum over copies is the chain rule).
    """

    @staticmethod
    def forward(ctx, a, widths=(), mode="reflect"):
        xp = array_module(a)
        sources = [np.pad(np.arange(n), w, mode=NUMPY_MODES[mode]) for n, w in zip(a.shape, widths)]
        ctx.shape, ctx.sources = a.shape, [xp.asarray(s) for s in sources]
        return a[xp.ix_(*ctx.sources)]

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        for d, (n, source) in enumerate(zip(ctx.shape, ctx.sources)):
            if g.shape[d] == n and not (source != xp.arange(n)).any():
                continue  # this dim was not padded
            shape = list(g.shape)
            shape[d] = n
            summed = xp.zeros(shape, dtype=g.dtype)
            add_at(summed, (slice(None),) * d + (source,), g)
            g = summed
        return g
