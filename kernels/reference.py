"""Every fused kernel as plain array expressions: the ground truth and the teaching copy.

Each function works on NumPy and CuPy arrays alike (`xp = array_module(x)`) and
computes exactly what the engine computed before the fused kernels existed, so
`tg.set_kernels("reference")` gives the original numbers. The Numba (cpu.py) and
CuPy (gpu.py) twins have the same signatures and are tested against these.

Conventions shared by all three versions:
- optimizer updates change `param` and their state arrays in place and return None;
  the caller's `grad` is never modified;
- Python-float hyperparameters enter the arithmetic in the array's dtype (NumPy's
  rule for a Python scalar next to an array), so float32 training stays float32;
- dropout draws no random numbers of its own: a 64-bit `seed` (drawn by the caller
  from the engine's generator) and each element's flat index go through a
  counter-based hash, so the mask can be regenerated in backward instead of stored,
  and every version (reference, Numba, CuPy) makes the same mask.
"""
from __future__ import annotations

import math

import numpy as np

from .opmath import HALF, half_in_float32


# module-level names for the functions the small-array paths call: NumPy's module __getattr__ keeps
# Python 3.11 from caching `np.<name>`, a dict lookup per use
_ndarray, _generic, _maximum, _copyto = np.ndarray, np.generic, np.maximum, np.copyto


def _xp(array):
    """numpy or cupy for `array`, without importing cupy when it is a NumPy array."""
    if type(array) is _ndarray or isinstance(array, _generic):
        return np
    import cupy  # noqa: PLC0415 - only reached for CuPy arrays

    return cupy


def add_at(target, index, values) -> None:
    """target[index] += values in place, repeated positions adding up (NumPy's add.at; CuPy's alike)."""
    xp = _xp(target)
    if hasattr(xp.add, "at"):  # NumPy, and CuPy >= 12.1
        xp.add.at(target, index, values)
    else:
        import cupyx  # noqa: PLC0415 - older CuPy spells ufunc.at this way

        cupyx.scatter_add(target, index, values)


# ---- softmax cross-entropy ------------------------------------------------------------

def softmax_cross_entropy(z, target, label_smoothing: float):
    """Per-row loss and its gradient for logits z (N, C) and class indices target (N,).

    With eps = label_smoothing, q = (1 - eps) * one_hot(target) + eps / C and
    logp = z - max(z) - log(sum(exp(z - max(z)))) row by row:
        loss_i = -sum_j q_ij logp_ij
               = log(s_i) - ((1 - eps) * shifted_i,t + eps / C * sum_j shifted_ij)
        dz_ij  = d loss_i / d z_ij = softmax(z)_ij - q_ij
    Returns (loss of shape (N,), dz of shape (N, C)), both in z's dtype; the loss
    node multiplies dz by the upstream gradient (/ N for "mean") in backward.
    """
    xp = _xp(z)
    n, c = z.shape
    eps = label_smoothing
    rows = xp.arange(n)
    shifted = z - z.max(axis=1, keepdims=True)
    picked = shifted[rows, target]
    if eps:
        picked = picked * (1.0 - eps) + shifted.sum(axis=1) * (eps / c)
    e = xp.exp(shifted, out=shifted)  # shifted is ours and no longer needed: reuse its memory
    s = e.sum(axis=1, keepdims=True)
    loss = xp.log(s)[:, 0] - picked
    e /= s  # softmax, in place
    if eps:
        e -= eps / c
    e[rows, target] -= 1.0 - eps
    return loss.astype(z.dtype, copy=False), e


# ---- log-softmax --------------------------------------------------------------------

def log_softmax(a, axis: int = -1):
    """y = a - m - log(s) along `axis`, with m = max(a), e = exp(a - m), s = sum(e).

    Subtracting the maximum first keeps exp from overflowing for any logits (the
    largest shifted value is 0, so s lies in [1, n]). Returns (y, p) with p = e / s,
    the softmax: log_softmax_backward reuses it instead of a second exp.
    float16 is computed in float32 as torch's half kernels: along the last axis s and log(s) are
    each rounded to float16 (torch keeps them in float16), along another axis the exponentials
    (its softmax writes them into its float16 output before dividing); y once at the end, and p
    stays float32.
    """
    xp = _xp(a)
    half = a.dtype == HALF
    if half:
        last = axis in (-1, a.ndim - 1)
        a = a.astype(xp.float32)
    y = a - a.max(axis=axis, keepdims=True)
    e = xp.exp(y)
    s = e.sum(axis=axis, keepdims=True)
    if half:
        if last:
            y -= xp.log(s.astype(HALF).astype(xp.float32)).astype(HALF)
            e *= 1 / s
        else:
            y -= xp.log(s)
            e = e.astype(HALF).astype(xp.float32) / s
        return y.astype(HALF), e
    y -= xp.log(s)  # y is ours: shift it in place
    e *= 1 / s  # and e becomes the softmax p (a division per row, not per element)
    return y, e


@half_in_float32
def log_softmax_backward(g, p, axis: int = -1):
    """dL/da = g - softmax(a) * sum(g, axis) = g - p * sum(g, axis)."""
    return g - p * g.sum(axis=axis, keepdims=True)


# ---- ReLU and the bias gradient ----------------------------------------------------

# A 0-d zero of each float dtype: a Python 0 next to a NumPy array is converted afresh on every
# call (NEP 50's weak scalar), which on a small array costs as much as the ufunc itself; a 0-d
# array of the array's own dtype gives the same result without that conversion.
_HOST_ZEROS = {np.dtype(np.float32): np.zeros((), np.float32), np.dtype(np.float64): np.zeros((), np.float64)}


def relu(a):
    """y = 0 where a < 0, else a: PyTorch's relu, so NaN and -0.0 pass unchanged.

    NumPy's maximum(p, q) returns q where p == q, so maximum(0, a) keeps a -0.0 that maximum(a, 0)
    would turn into +0.0; CUDA's max leaves the sign of a tie of zeros open, hence the select there.
    """
    zero = _HOST_ZEROS.get(a.dtype) if type(a) is _ndarray else None
    if zero is None:
        return relu_into(a)
    return _maximum(zero, a)


def relu_into(a, out=None):
    """relu(a) written into `out` (a new array when None); `out` may be `a` itself."""
    xp = _xp(a)
    if xp is np and a.dtype != HALF:  # NumPy's float16 maximum gives its first argument on a tie of zeros
        return np.maximum(a.dtype.type(0), a, out=out)
    y = xp.where(a < 0, xp.zeros((), a.dtype), a)
    if out is None:
        return y
    out[...] = y
    return out


def clamp(a, lo=None, hi=None):
    """torch.clamp with scalar bounds: y = (lo if a < lo else a), then (hi if y > hi else y); NaN a stays NaN.

    np.clip(a, 0, None) gives lo on a tie and so turns -0.0 into +0.0; torch keeps a there.
    """
    xp = _xp(a)
    y = a
    numpy = xp is np and a.dtype != HALF  # NumPy's float16 maximum/minimum give their first argument on a tie
    if lo is not None:
        y = np.maximum(lo, y) if numpy else xp.where(y < lo, xp.asarray(lo, y.dtype), y)
    if hi is not None:
        if numpy:
            fresh = y is not a and type(y) is _ndarray and y.dtype.kind == "f"  # (a 0-d result is a scalar)
            y = np.minimum(hi, y, out=y if fresh else None)
        else:
            y = xp.where(y > hi, xp.asarray(hi, y.dtype), y)
    return y


def relu_backward(g, y):
    """dL/da = 0 where y <= 0, else g, with y the forward output (PyTorch's threshold_backward).

    The mask is 0 at a == 0; a NaN output passes g on (NaN <= 0 is false), and a masked entry is +0
    whatever g holds there (an inf or NaN upstream gradient included), as in PyTorch.
    """
    zero = _HOST_ZEROS.get(y.dtype) if type(y) is _ndarray and type(g) is _ndarray and g.shape == y.shape else None
    if zero is None:
        xp = _xp(y)
        return xp.where(y <= 0, xp.zeros((), g.dtype), g)
    # np.where with a 0-d operand takes a slow broadcasting loop; a copy with a masked store does not
    out = g.copy()
    _copyto(out, zero, where=y <= zero)
    return out


def sum_rows(a):
    """The sum of each row of a 2-D array: a.sum(axis=1)."""
    return a.sum(axis=1)


def bias_grad(g):
    """dL/db for y = x W^T + b: the column sums of the 2-D upstream gradient g (rows, out)."""
    return g.sum(axis=0)


# ---- optimizer updates (in place) ----------------------------------------------------

def sgd_update(param, grad, momentum_buffer, *, lr: float, momentum: float, dampening: float,
               weight_decay: float, nesterov: bool, maximize: bool, first_step: bool) -> None:
    """SGD (see tinygrad_opt.optim.sgd.update for the formula)."""
    d_p = -grad if maximize else grad
    if weight_decay != 0:
        d_p = d_p + weight_decay * param
    if momentum != 0:
        if first_step:
            momentum_buffer[...] = d_p
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * d_p
        d_p = d_p + momentum * momentum_buffer if nesterov else momentum_buffer
    param -= lr * d_p


def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, step: int, lr: float, beta1: float,
                beta2: float, eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
                decoupled_weight_decay: bool = False) -> None:
    """Adam / AdamW / AMSGrad (see tinygrad_opt.optim.adam.update for the formula)."""
    xp = _xp(param)
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    exp_avg += (1 - beta1) * (g - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * g * g

    step_size = lr / (1 - beta1**step)
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    if amsgrad:
        xp.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    # one scratch array for the denominator and then the step (out= keeps 0-d results arrays)
    denom = xp.sqrt(max_exp_avg_sq if amsgrad else exp_avg_sq, out=xp.empty_like(param))
    denom /= bias_correction2_sqrt
    denom += eps
    xp.divide(exp_avg, denom, out=denom)  # reuse denom's memory for the step direction m / denom
    denom *= step_size
    param -= denom


def rmsprop_update(param, grad, square_avg, grad_avg, momentum_buffer, *, lr: float, alpha: float, eps: float,
                   weight_decay: float, momentum: float, centered: bool, maximize: bool) -> None:
    """RMSprop, plain or centered, with optional momentum (see tinygrad_opt.optim.rmsprop.update)."""
    xp = _xp(param)
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    square_avg *= alpha
    square_avg += (1 - alpha) * g * g
    avg = xp.empty_like(param)  # scratch for the denominator and then the step (out= keeps 0-d arrays)
    if centered:
        grad_avg += (1 - alpha) * (g - grad_avg)  # torch's lerp form of the running mean
        xp.multiply(grad_avg, grad_avg, out=avg)
        xp.subtract(square_avg, avg, out=avg)
        xp.sqrt(avg, out=avg)
    else:
        xp.sqrt(square_avg, out=avg)
    avg += eps
    if momentum > 0:
        momentum_buffer *= momentum
        momentum_buffer += g / avg
        param -= lr * momentum_buffer
    else:
        xp.divide(g, avg, out=avg)
        avg *= lr
        param -= avg


def adagrad_update(param, grad, state_sum, *, step: int, lr: float, lr_decay: float, weight_decay: float,
                   eps: float, maximize: bool) -> None:
    """Adagrad with learning-rate decay (see tinygrad_opt.optim.adagrad.update)."""
    xp = _xp(param)
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    clr = lr / (1 + (step - 1) * lr_decay)
    state_sum += g * g
    std = xp.sqrt(state_sum, out=xp.empty_like(param))  # scratch for the step (out= keeps 0-d arrays)
    std += eps
    xp.divide(g, std, out=std)
    std *= clr
    param -= std


def adadelta_update(param, grad, square_avg, acc_delta, *, lr: float, rho: float, eps: float, weight_decay: float,
                    maximize: bool) -> None:
    """Adadelta (see tinygrad_opt.optim.adadelta.update for the formula)."""
    xp = _xp(param)
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    square_avg *= rho
    square_avg += (1 - rho) * g * g
    std = xp.sqrt(square_avg + eps)
    delta = xp.sqrt(acc_delta + eps)
    delta /= std
    delta *= g
    acc_delta *= rho
    acc_delta += (1 - rho) * delta * delta
    param += -lr * delta


def lerp_(start, end, weight: float) -> None:
    """start = lerp(start, end, weight) in place, rounded as torch.lerp rounds it.

    torch evaluates start + weight * (end - start) for |weight| < 0.5 and
    end - (end - start) * (1 - weight) otherwise (exact at weight 1); optimizers that
    compare with torch bit for bit need the same branch.
    """
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        start[...] = end - (end - start) * (1 - weight)


def adamax_update(param, grad, exp_avg, exp_inf, *, step: int, lr: float, beta1: float, beta2: float, eps: float,
                  weight_decay: float, maximize: bool) -> None:
    """Adamax (see tinygrad_opt.optim.adamax.update for the formula)."""
    xp = _xp(param)
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    lerp_(exp_avg, g, 1 - beta1)
    exp_inf *= beta2
    xp.maximum(exp_inf, xp.abs(g) + eps, out=exp_inf)
    clr = lr / (1 - beta1**step)
    param += -clr * exp_avg / exp_inf


def nadam_update(param, grad, exp_avg, exp_avg_sq, *, step: int, lr: float, beta1: float, beta2: float,
                 eps: float, weight_decay: float, mu: float, mu_next: float, mu_product: float,
                 decoupled_weight_decay: bool, maximize: bool) -> None:
    """NAdam; `mu_product` already includes this step's `mu` (see tinygrad_opt.optim.nadam.update)."""
    xp = _xp(param)
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    lerp_(exp_avg, g, 1 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * g * g
    denom = xp.sqrt(exp_avg_sq / (1 - beta2**step))
    denom += eps
    param += -lr * (1.0 - mu) / (1.0 - mu_product) * g / denom
    param += -lr * mu_next / (1.0 - mu_product * mu_next) * exp_avg / denom


def radam_rectification(step: int, beta2: float) -> float | None:
    """RAdam's variance rectification r_t, or None while the SMA length rho_t is <= 5 (no adaptive step)."""
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * step * (beta2**step) / (1 - beta2**step)
    if rho_t <= 5.0:
        return None
    return ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5


def radam_update(param, grad, exp_avg, exp_avg_sq, *, step: int, lr: float, beta1: float, beta2: float,
                 eps: float, weight_decay: float, decoupled_weight_decay: bool, maximize: bool) -> None:
    """RAdam (see tinygrad_opt.optim.radam.update for the formula)."""
    xp = _xp(param)
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    lerp_(exp_avg, g, 1 - beta1)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * g * g
    bias_correction2 = 1 - beta2**step
    corrected = exp_avg / (1 - beta1**step)
    rect = radam_rectification(step, beta2)
    if rect is None:
        param -= corrected * lr
    else:
        adaptive = bias_correction2**0.5 / (xp.sqrt(exp_avg_sq) + eps)
        param -= corrected * lr * adaptive * rect


def lion_update(param, grad, exp_avg, *, lr: float, beta1: float, beta2: float, weight_decay: float,
                maximize: bool) -> None:
    """Lion (see tinygrad_opt.optim.lion.update for the formula)."""
    xp = _xp(param)
    g = -grad if maximize else grad
    param *= 1 - lr * weight_decay
    direction = xp.sign(exp_avg * beta1 + (1 - beta1) * g)
    param += -lr * direction
    exp_avg *= beta2
    exp_avg += (1 - beta2) * g


def schedule_free_adamw_update(param, grad, z, exp_avg_sq, *, lr: float, beta1: float, beta2: float, eps: float,
                               weight_decay: float, ckp1: float, bias_correction2: float) -> None:
    """Schedule-free AdamW (see tinygrad_opt.optim.schedule_free.adamw_update for the formula)."""
    xp = _xp(param)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * grad * grad
    denom = xp.sqrt(exp_avg_sq / bias_correction2)
    denom += eps
    normalized = grad / denom
    if weight_decay != 0:
        normalized += weight_decay * param
    lerp_(param, z, ckp1)
    param += lr * (beta1 * (1 - ckp1) - 1) * normalized
    z -= lr * normalized


# ---- pruning masks -------------------------------------------------------------------

def apply_mask(w, mask):
    """w * mask: a pruned weight from its original and its 0/1 mask (and, on g, its backward)."""
    return w * mask


# ---- dropout -------------------------------------------------------------------------

# splitmix64 (Steele, Lea & Flood 2014): a 64-bit counter-based generator; element i of a
# dropout call hashes seed + (i + 1) * GOLDEN. The top 32 bits are a uniform integer.
GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB


def dropout_threshold(p: float) -> int:
    """Drop element i when its 32-bit uniform u_i < threshold, so P(drop) = threshold / 2**32 ~= p."""
    return min(2**32, int(round(p * 2**32)))


def dropout_hash(seed: int, n: int, xp=np):
    """The 64-bit hashes of elements 0..n-1 for `seed` (uint64 arithmetic wraps modulo 2**64)."""
    z = xp.arange(1, n + 1, dtype=xp.uint64)
    z *= xp.uint64(GOLDEN)
    z += xp.uint64(seed)
    z ^= z >> xp.uint64(30)
    z *= xp.uint64(MIX1)
    z ^= z >> xp.uint64(27)
    z *= xp.uint64(MIX2)
    z ^= z >> xp.uint64(31)
    return z


def dropout(x, seed: int, p: float):
    """Inverted dropout: x * keep / (1 - p), keep_i = (u_i >= threshold(p)) from the hash of (seed, i).

    The same call on the upstream gradient g is the backward: dL/dx = g * keep / (1 - p).
    0 < p < 1; the flat index i runs over x in C order.
    """
    xp = _xp(x)
    u = dropout_hash(seed, x.size, xp) >> xp.uint64(32)
    keep = (u >= xp.uint64(dropout_threshold(p))).reshape(x.shape)
    mask = keep * x.dtype.type(1.0 / (1.0 - p))  # stays in x's float dtype
    return x * mask


# ---- gradient norm for clipping ------------------------------------------------------

def vector_norm(x, norm_type: float):
    """The `norm_type`-norm of all entries of x, as a 0-d array on x's device."""
    xp = _xp(x)
    if x.size == 0:
        return xp.zeros((), dtype=x.dtype)
    if norm_type == math.inf:
        return xp.abs(x).max()
    if norm_type == -math.inf:
        return xp.abs(x).min()
    if norm_type == 0:
        return xp.asarray(xp.count_nonzero(x), dtype=x.dtype)
    if norm_type == 1:
        return xp.abs(x).sum()
    if norm_type == 2:
        flat = x.reshape(-1)
        return xp.sqrt(xp.dot(flat, flat))
    return (xp.abs(x) ** norm_type).sum() ** (1.0 / norm_type)


def grad_norm(grads: list, norm_type: float):
    """The total `norm_type`-norm of several arrays on one device (the norm of their norms), 0-d."""
    norms = [vector_norm(g, norm_type) for g in grads]
    xp = _xp(norms[0])
    return vector_norm(xp.stack([n.astype(norms[0].dtype) for n in norms]), norm_type)


# ---- error function (GELU) -------------------------------------------------------------

def erf(x):
    """erf(x) = 2 / sqrt(pi) * integral_0^x exp(-t^2) dt, element-wise, in x's dtype.

    NumPy has no erf, so the host version calls math.erf (correctly rounded to double
    precision) element by element: exact but slow, the ground truth for cpu.erf.
    CuPy ships one (cupyx.scipy.special.erf).
    """
    if isinstance(x, (np.ndarray, np.generic)):
        out = np.empty(np.shape(x), dtype=x.dtype)
        flat = out.reshape(-1)
        for i, v in enumerate(np.asarray(x).reshape(-1).tolist()):
            flat[i] = math.erf(v)
        return out
    from cupyx.scipy.special import erf as cupy_erf  # noqa: PLC0415 - only reached for CuPy arrays

    return cupy_erf(x)


# ---- int8 matrix product (dynamic quantization) ------------------------------------------

INT8_FLOAT32_EXACT = 2 ** 24  # float32 represents every integer up to this exactly


def int8_matmul(x, w):
    """out[i, j] = sum_k int32(x[i, k]) * int32(w[j, k]): int8 (N, K) times int8 (M, K) transposed, int32 (N, M)."""
    xp = _xp(x)
    return x.astype(xp.int32) @ w.astype(xp.int32).T


def int8_matmul_via_float(x, w):
    """The same integers from a float GEMM (BLAS / cuBLAS speed).

    Every partial sum is an integer of magnitude at most K * 127 * 127: exact in float32
    while that is below 2**24 (K <= 1040), in float64 up to K ~ 5.6e11, so the cast back
    to int32 gives exactly the int32-accumulated result.
    """
    xp = _xp(x)
    ftype = xp.float32 if x.shape[1] * 127 * 127 < INT8_FLOAT32_EXACT else xp.float64
    return (x.astype(ftype) @ w.astype(ftype).T).astype(xp.int32)
