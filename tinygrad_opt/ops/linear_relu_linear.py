"""A ReLU layer and the thin layer after it (a classifier's head) as one graph node."""
import numpy as np

from ..autograd import Function
from ..kernels import gemm_job, get_mode, head_backward, spin_team
from ..kernels import get as kernel
from .linear import affine, affine_grads, affine_relu, affine_relu_grads, check_layer


class LinearReLULinear(Function):
    """z = relu(x @ W1^T + b1) @ W2^T + b2: Linear, ReLU, Linear as one graph node, the last with few outputs.

    With h = relu(x @ W1^T + b1), g = dL/dz and gz = 0 where h <= 0, g @ W2 elsewhere:
        dL/dW2 = g^T @ h,   dL/db2 = sum of g over every axis but the last
        dL/dx = gz @ W1,    dL/dW1 = gz^T @ x,   dL/db1 = sum of gz over every axis but the last
    Forward is LinearReLU's then Linear's (the same calls, the same numbers). Backward is Linear's then
    LinearReLU's, except where kernels/head_backward.py takes the arrays (float32, a batch on the engine's
    team): there g @ W2, ReLU's mask, dL/db1, the live units and dL/dW2 come from one pass over h instead of
    four passes over (rows, hidden) arrays. Its bits (ordered float32 sums, dL/dW2 in blocks of rows) differ
    from the unfused layers' by rounding; that module's docstring says how. nn.Sequential uses this node for a
    Linear, a ReLU and a Linear with at most head_backward.MAX_OUTPUTS outputs that no ReLU follows.
    """

    @staticmethod
    def forward(ctx, x, w1, b1, w2, b2, out=None):
        check_layer("linear_relu", x.shape, w1, b1)
        check_layer("linear", x.shape[:-1] + w1.shape[:1], w2, b2)  # the hidden layer's shape, before its work
        h = affine_relu(x, w1, b1)
        ctx.x, ctx.w1, ctx.h, ctx.w2 = x, w1, h, w2
        return affine(h, w2, b2, out)

    @staticmethod
    def backward(ctx, g, out=(None,) * 5):
        """out: arrays to write dL/dx, dL/dW1 and dL/dW2 into (a captured step's buffers), or None each."""
        x, w1, h, w2 = ctx.x, ctx.w1, ctx.h, ctx.w2
        needs = ctx.needs_input_grad
        first_needs = needs[:3]
        g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
        h2 = h.reshape(-1, h.shape[-1]) if h.ndim != 2 else h
        db2 = kernel("bias_grad", g2)(g2) if needs[4] else None
        if not any(first_needs):
            _, dw2, _ = affine_grads(h, w2, g, (False, needs[3], False), False, (None, out[3], None))
            return None, None, None, dw2, db2
        if _in_one_pass(g2, h2, w2, out[3]):
            gz, db1, live, dw2 = head_backward.backward(g2, h2, w2, spin_team.run, needs[3], None, out[3])
            gx, dw1, db1 = affine_relu_grads(x, w1, h, gz, first_needs, out[:3], (gz, db1, live))
        else:
            gh, dw2, _ = affine_grads(h, w2, g, (True, needs[3], False), False, (None, out[3], None))
            gx, dw1, db1 = affine_relu_grads(x, w1, h, gh, first_needs, out[:3])
        return gx, dw1, db1, dw2, db2


def _in_one_pass(g, h, w2, dw2_out) -> bool:
    """Whether the head's backward runs as head_backward's one pass: it takes the arrays, the team takes the
    products (as ops/linear.py's tiles ask) and the kernels are not the reference ones; dW2's buffer, where
    given, a C-contiguous float32 array."""
    if h.shape[-1] % 16:  # the common refusal first (a small model's hidden layer): this runs every backward
        return False
    if dw2_out is not None and not (type(dw2_out) is np.ndarray and dw2_out.dtype == np.float32
                                    and dw2_out.flags.c_contiguous):
        return False
    return (head_backward.takes(g, h, w2) and gemm_job.takes_products() and gemm_job.team_threads()
            and get_mode() != "reference")
