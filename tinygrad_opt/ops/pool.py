"""Pooling over the last two axes of (N, C, H, W): max, average and adaptive average."""
from ..autograd import Function
from ..backend import array_module
from ..kernels import get as kernel


def _pad_plane(x, top: int, bottom: int, left: int, right: int, value: float):
    xp = array_module(x)
    n, c, h, w = x.shape
    out = xp.full((n, c, h + top + bottom, w + left + right), value, dtype=x.dtype)
    out[:, :, top:top + h, left:left + w] = x
    return out


def max_pool2d_with_argmax(x, kernel_size, stride, padding, dilation, output_size, out=None):
    """(out, argmax, padded plane shape): the pooled array and each window's winner in the padded plane.

    The padding is (pad_h, pad_w) of -inf on top/left, and on bottom/right as much as the
    output size needs (ceil_mode windows may hang past the padding). `out`: an array to write
    the pooled values into (a captured step's buffer).
    """
    (kh, kw), (sh, sw), (ph, pw), (dh, dw), (oh, ow) = kernel_size, stride, padding, dilation, output_size
    h, w = x.shape[2:]
    bottom = max((oh - 1) * sh + dh * (kh - 1) + 1 - h - ph, 0)
    right = max((ow - 1) * sw + dw * (kw - 1) + 1 - w - pw, 0)
    if ph or pw or bottom or right:
        lowest = float("-inf") if x.dtype.kind == "f" else array_module(x).iinfo(x.dtype).min
        xpad = _pad_plane(x, ph, bottom, pw, right, lowest)
    else:
        xpad = x
    into = {} if out is None else {"out": out}
    out, argmax = kernel("max_pool2d_forward", xpad)(xpad, kh, kw, sh, sw, dh, dw, oh, ow, **into)
    return out, argmax, xpad.shape[2:]


def torch_indices(argmax, padded_width: int, padding, width: int):
    """Arg-max positions y * Wp + x in the padded plane as torch reports them: a * W + b unpadded."""
    ph, pw = padding
    return (argmax // padded_width - ph) * width + (argmax % padded_width - pw)


class MaxPool2d(Function):
    """y[n, c, p, q] = max over (i, j) of xpad[n, c, p*sh + i*dh, q*sw + j*dw], xpad padded with -inf.

    The gradient routes each output's gradient to the element that won its window (the
    first maximum; NaN wins; overlapping windows add up):
        dL/dx[n, c, a, b] = sum over (p, q) with argmax(p, q) = (a, b) of g[n, c, p, q]
    out (tg.compile's replay): an array to write the output into.
    """

    @staticmethod
    def forward(ctx, x, kernel_size=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1), output_size=(1, 1),
                out=None):
        out, argmax, padded = max_pool2d_with_argmax(x, kernel_size, stride, padding, dilation, output_size, out)
        ctx.argmax, ctx.padded, ctx.crop = argmax, padded, (padding[0], padding[1], x.shape[2], x.shape[3])
        ctx.window = (*kernel_size, *stride, *dilation)
        return out

    @staticmethod
    def backward(ctx, g):
        hp, wp = ctx.padded
        ph, pw, h, w = ctx.crop
        gpad = kernel("max_pool2d_backward", g)(g, ctx.argmax, hp, wp, *ctx.window)
        return (gpad[:, :, ph:ph + h, pw:pw + w],)


def avg_pool_divisors(xp, size: int, out: int, kernel_size: int, stride: int, pad: int, count_include_pad: bool):
    """Per output position along one axis: how many rows torch divides by (a 1-D array)."""
    start = xp.arange(out) * stride - pad
    end = xp.minimum(start + kernel_size, size + pad)  # windows stop at the far padding edge
    if count_include_pad:
        return end - start
    return xp.minimum(end, size) - xp.maximum(start, 0)


class AvgPool2d(Function):
    """y[n, c, p, q] = sum over the (kh, kw) window of xpad (zero padded) / D[p, q].

    D is divisor_override if given; else the window's size clipped to the padded input
    (count_include_pad=True) or the number of real input elements in it (False), torch's rule.
    Backward spreads each output gradient evenly over its window:
        dL/dx[n, c, a, b] = sum over windows (p, q) containing (a, b) of g[n, c, p, q] / D[p, q]
    """

    @staticmethod
    def forward(ctx, x, kernel_size=(1, 1), stride=(1, 1), padding=(0, 0), output_size=(1, 1),
                count_include_pad=True, divisor_override=None):
        xp = array_module(x)
        (kh, kw), (sh, sw), (ph, pw), (oh, ow) = kernel_size, stride, padding, output_size
        h, w = x.shape[2:]
        bottom = max((oh - 1) * sh + kh - h - ph, 0)
        right = max((ow - 1) * sw + kw - w - pw, 0)
        xpad = _pad_plane(x, ph, bottom, pw, right, 0.0) if (ph or pw or bottom or right) else x
        total = xp.zeros(x.shape[:2] + (oh, ow), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                total += xpad[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw]
        if divisor_override is not None:
            scale = xp.asarray(1.0 / divisor_override, dtype=x.dtype)
        else:
            rows = avg_pool_divisors(xp, h, oh, kh, sh, ph, count_include_pad)
            cols = avg_pool_divisors(xp, w, ow, kw, sw, pw, count_include_pad)
            scale = (1.0 / (rows[:, None] * cols[None, :])).astype(x.dtype)
        ctx.scale, ctx.geometry = scale, (kh, kw, sh, sw, ph, pw, oh, ow, h, w, xpad.shape)
        total *= scale
        return total

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        kh, kw, sh, sw, ph, pw, oh, ow, h, w, padded = ctx.geometry
        share = g * ctx.scale
        gpad = xp.zeros(padded, dtype=g.dtype)
        for i in range(kh):
            for j in range(kw):
                gpad[:, :, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += share
        return (gpad[:, :, ph:ph + h, pw:pw + w],)


def adaptive_bins(xp, size: int, out: int, dtype):
    """P (out, size): row p averages input rows floor(p*size/out) .. ceil((p+1)*size/out) - 1 (torch's bins)."""
    p = xp.arange(out)
    start = (p * size) // out
    end = -((-(p + 1) * size) // out)
    index = xp.arange(size)
    inside = (index[None, :] >= start[:, None]) & (index[None, :] < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


class AdaptiveAvgPool2d(Function):
    """y = P_h @ x @ P_w^T plane by plane, P the averaging matrices of torch's adaptive bins
    (a rectangle's mean is the mean over its rows of the means over its columns).
        dL/dx = P_h^T @ g @ P_w
    """

    @staticmethod
    def forward(ctx, x, output_size=(1, 1)):
        xp = array_module(x)
        h, w = x.shape[-2:]
        rows = adaptive_bins(xp, h, output_size[0], x.dtype)
        cols = adaptive_bins(xp, w, output_size[1], x.dtype)
        ctx.rows, ctx.cols = rows, cols
        return xp.matmul(xp.matmul(rows, x), cols.T)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        return (xp.matmul(xp.matmul(ctx.rows.T, g), ctx.cols),)
