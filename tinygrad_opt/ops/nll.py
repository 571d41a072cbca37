"""Negative log-likelihood with class weights, an ignored class and label smoothing (torch's nll_loss,
and the class-index half of torch's cross_entropy after its log_softmax)."""
from ..autograd import Function
from ..kernels import get as kernel


class NLLLoss(Function):
    """Log-probabilities x (N, C, d1, ...), class targets t (N, d1, ...), class weights w (C,).

    For every position i: k_i = 0 where t_i == ignore_index, else 1; w_i = w[t_i] * k_i
    (k_i without weights); eps = label_smoothing (cross_entropy's; 0 for nll_loss):
        loss_i = -(1 - eps) * w_i * x[i, t_i]  -  eps / C * k_i * sum_c w_c x[i, c]
    "mean" divides the sum by W = sum_i w_i (torch's weighted mean, also for the smoothing
    term; NaN when every target is ignored), "sum" sums, "none" keeps (N, d1, ...). Backward:
        dL/dx[i, c] = -s_i * k_i * ((1 - eps) * w_i * [c == t_i] + eps / C * w_c)
    with s_i = g / W for "mean", g for "sum", g_i for "none". Targets and weights get no
    gradient (they are options, as in torch). Both directions are kernels (kernels/loss_reference.py
    holds the array expressions; the Numba loops pick one value per row of an (N, C) input).
    """

    @staticmethod
    def forward(ctx, x, target=None, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        loss, ctx.w, ctx.total_weight = kernel("nll_loss", x)(x, target, weight, ignore_index, reduction,
                                                               label_smoothing)
        ctx.target, ctx.weight, ctx.num_classes = target, weight, x.shape[1]
        ctx.options = (ignore_index, reduction, label_smoothing)
        return loss

    @staticmethod
    def backward(ctx, g):
        return kernel("nll_loss_backward", g)(g, ctx.target, ctx.w, ctx.total_weight, ctx.weight, ctx.num_classes,
                                              *ctx.options)
