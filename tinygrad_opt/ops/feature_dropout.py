"""Channel-wise dropout (Dropout2d): whole feature maps are kept or zeroed together."""
from ..autograd import Function


class FeatureDropout(Function):
    """y = x * keep / (1 - p) with keep of shape (N, C, 1, ...): one draw per (sample, channel).

    dL/dx = g * keep / (1 - p)
    The mask is tiny (N * C values), so it is drawn by the caller and kept for backward.
    `scaled_keep` is keep / (1 - p) in x's dtype.
    """

    @staticmethod
    def forward(ctx, x, scaled_keep=None):
        ctx.scaled_keep = scaled_keep
        return x * scaled_keep

    @staticmethod
    def backward(ctx, g):
        return (g * ctx.scaled_keep,)
