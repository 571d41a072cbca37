"""CuPy versions of the fused kernels, for CUDA arrays (one kernel launch each).

Imported only when a kernel is first needed on a CUDA array. The kernels are CuPy
ElementwiseKernel / ReductionKernel / RawKernel objects, created on first use and
compiled by CuPy at their first call for each dtype (CuPy caches the binaries in
~/.cupy/kernel_cache, so later processes skip the compiler).

Nothing here reads a value back to the host: hyperparameters go in as kernel
arguments, dropout's seed comes from the host generator, and the gradient norm
stays a 0-d device array until the caller asks for a Python float.

The elementwise kernels are compiled with --fmad=false: like the reference's
separate CuPy operations they round after every multiply and add (no fused
multiply-add), so they agree with reference.py to the last bit or nearly so.
Where CuPy's own operation is already a single launch (the bias gradient's column
sum, the mask product) there is no kernel here: the registry
runs the reference, which on CuPy arrays is that one launch.
"""
from __future__ import annotations

import math

import cupy as cp
import numpy as np

from . import reference
from .registry import takes

_OPTIONS = ("--fmad=false",)
_kernels: dict[str, object] = {}


def _elementwise(name: str, in_params: str, out_params: str, body: str, preamble: str = ""):
    """An ElementwiseKernel made once (CuPy compiles it per dtype at its first call)."""
    kernel = _kernels.get(name)
    if kernel is None:
        kernel = cp.ElementwiseKernel(in_params, out_params, body, name, preamble=preamble, options=_OPTIONS)
        _kernels[name] = kernel
    return kernel


def _same_float(*arrays) -> bool:
    """Every given array is a CuPy array of the first one's float dtype (what the kernels assume)."""
    dtype = arrays[0].dtype
    return dtype.char in "fd" and all(a is None or (isinstance(a, cp.ndarray) and a.dtype == dtype) for a in arrays)


# ---- softmax cross-entropy: one warp per row ---------------------------------------------

_SOFTMAX_XENT = r"""
extern "C" __global__ void tg_softmax_xent_${T}(const ${T}* z, const long long* target, ${T}* loss, ${T}* dz,
                                               long long n, long long c, ${T} keep, ${T} share, int smooth) {
    long long row = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
    int lane = threadIdx.x % 32;
    if (row >= n) return;  // row is the same for the whole warp, so the warp leaves together
    const ${T}* zr = z + row * c;
    ${T}* dr = dz + row * c;
    ${T} m = zr[0];
    for (long long j = lane; j < c; j += 32) {
        ${T} v = zr[j];
        if (v > m || v != v) m = v;  // NaN wins, as in NumPy's max
    }
    for (int offset = 16; offset > 0; offset /= 2) {
        ${T} o = __shfl_xor_sync(0xffffffffu, m, offset);
        if (o > m || o != o) m = o;
    }
    double s = 0.0, total = 0.0;  // double accumulators, as in the Numba kernel
    for (long long j = lane; j < c; j += 32) {
        ${T} shifted = zr[j] - m;
        ${T} e = exp(shifted);
        dr[j] = e;
        s += e;
        total += shifted;
    }
    for (int offset = 16; offset > 0; offset /= 2) {
        s += __shfl_xor_sync(0xffffffffu, s, offset);
        total += __shfl_xor_sync(0xffffffffu, total, offset);
    }
    long long t = target[row];
    bool valid = t >= 0 && t < c;  // F.cross_entropy checks targets; never read out of bounds anyway
    if (lane == 0) {
        double picked = valid ? (double)(zr[t] - m) : 0.0;
        if (smooth) picked = (double)((${T})picked * keep) + total * (double)share;
        loss[row] = valid ? (${T})(log(s) - picked) : (${T})__longlong_as_double(0x7ff8000000000000LL);  // NaN
    }
    for (long long j = lane; j < c; j += 32) {
        ${T} d = (${T})((double)dr[j] / s - (double)share);
        if (j == t) d -= keep;
        dr[j] = d;
    }
}
"""


def _raw(name: str, source: str, ctype: str):
    key = f"{name}_{ctype}"
    kernel = _kernels.get(key)
    if kernel is None:
        kernel = cp.RawKernel(source.replace("${T}", ctype), f"{name}_{ctype}", options=_OPTIONS)
        _kernels[key] = kernel
    return kernel


@takes(lambda z, target, label_smoothing: isinstance(z, cp.ndarray) and isinstance(target, cp.ndarray)
       and z.ndim == 2 and z.shape[1] > 0 and z.dtype in (np.float32, np.float64) and target.dtype.kind in "iu")
def softmax_cross_entropy(z, target, label_smoothing: float):
    z = cp.ascontiguousarray(z)
    target = cp.ascontiguousarray(target, dtype=cp.int64)
    n, c = z.shape
    ctype = "float" if z.dtype == np.float32 else "double"
    t = z.dtype.type
    eps = label_smoothing
    loss = cp.empty(n, z.dtype)
    dz = cp.empty_like(z)
    if n:
        warps_per_block = 8
        blocks = (n + warps_per_block - 1) // warps_per_block
        _raw("tg_softmax_xent", _SOFTMAX_XENT, ctype)(
            (blocks,), (32 * warps_per_block,),
            (z, target, loss, dz, np.int64(n), np.int64(c), t(1.0 - eps), t(eps / c), np.int32(bool(eps))))
    return loss, dz


# ---- ReLU (PyTorch's: 0 where a < 0, else a; CUDA's max would leave a tie of -0.0 and 0 open) ----

_RELU = "y = a < (T)0 ? (T)0 : a;"


@takes(lambda a: _same_float(a))
def relu(a):
    return _elementwise("tg_relu", "T a", "T y", _RELU)(a)


def _bias_relu_kernel():
    return _elementwise("tg_bias_relu", "T h, T b", "T y", "T a = h + b; " + _RELU)


@takes(lambda h, b: h.ndim == 2 and b.shape == (h.shape[1],) and _same_float(h, b))
def bias_relu(h, b):
    return _bias_relu_kernel()(h, b, h)


@takes(lambda h_t, b, out: h_t.ndim == 2 and b.shape == (h_t.shape[0],) and out.shape == h_t.shape[::-1]
       and _same_float(h_t, b, out))
def bias_relu_transposed(h_t, b, out):
    return _bias_relu_kernel()(h_t.T, b, out)


# ---- ReLU backward -------------------------------------------------------------------

@takes(lambda g, y: g.shape == y.shape and _same_float(g, y))
def relu_backward(g, y):
    kernel = _elementwise("tg_relu_backward", "T g, T y", "T out", "out = y <= (T)0 ? (T)0 : g;")
    return kernel(g, y)


# ---- optimizer updates (in place) ----------------------------------------------------

def _sgd_takes(param, grad, momentum_buffer, *, momentum: float, **_) -> bool:
    return _same_float(param, grad, momentum_buffer if momentum != 0 else None) and grad.shape == param.shape


@takes(_sgd_takes)
def sgd_update(param, grad, momentum_buffer, *, lr: float, momentum: float, dampening: float,
               weight_decay: float, nesterov: bool, maximize: bool, first_step: bool) -> None:
    has_momentum = momentum != 0
    t = param.dtype.type
    head = """
        T d = neg ? -grad : grad;
        if (has_wd) d = d + wd * param;
    """
    tail = "param = param - lr * d;"
    args = (grad, t(lr), t(weight_decay), t(momentum), t(1 - dampening), np.int32(maximize),
            np.int32(weight_decay != 0), np.int32(first_step), np.int32(nesterov))
    params_in = "T grad, T lr, T wd, T momentum, T damp_keep, int32 neg, int32 has_wd, int32 first, int32 nesterov"
    if has_momentum:
        body = head + """
        T b;
        if (first) { b = d; } else { b = buf * momentum; b = b + damp_keep * d; }
        buf = b;
        d = nesterov ? d + momentum * b : b;
        """ + tail
        _elementwise("tg_sgd_momentum", params_in, "T param, T buf", body)(*args, param, momentum_buffer)
    else:
        _elementwise("tg_sgd", params_in, "T param", head + tail)(*args, param)


_ADAM_BODY = """
    T p = param;
    T g = neg ? -grad : grad;
    if (decay_mode == 1) p = p * decay;
    else if (decay_mode == 2) g = g + wd * p;
    T mm = m + c1 * (g - m);
    m = mm;
    T vv = v * beta2;
    vv = vv + c2 * g * g;
    v = vv;
    %s
    T d = sqrt(vv);
    d = d / bc2;
    d = d + eps;
    d = mm / d;
    d = d * step_size;
    param = p - d;
"""
_AMSGRAD = "if (!(vmax >= vv || vmax != vmax)) vmax = vv; vv = vmax;"


def _adam_takes(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, amsgrad: bool, **_) -> bool:
    return (_same_float(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq if amsgrad else None)
            and grad.shape == param.shape)


@takes(_adam_takes)
def adam_update(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, *, step: int, lr: float, beta1: float,
                beta2: float, eps: float, weight_decay: float, amsgrad: bool, maximize: bool,
                decoupled_weight_decay: bool = False) -> None:
    t = param.dtype.type
    decay_mode = 0 if weight_decay == 0 else (1 if decoupled_weight_decay else 2)
    params_in = "T grad, T c1, T c2, T beta2, T wd, T decay, T step_size, T bc2, T eps, int32 neg, int32 decay_mode"
    args = (grad, t(1 - beta1), t(1 - beta2), t(beta2), t(weight_decay), t(1 - lr * weight_decay),
            t(lr / (1 - beta1**step)), t((1 - beta2**step) ** 0.5), t(eps), np.int32(maximize), np.int32(decay_mode))
    if amsgrad:
        kernel = _elementwise("tg_amsgrad", params_in, "T param, T m, T v, T vmax", _ADAM_BODY % _AMSGRAD)
        kernel(*args, param, exp_avg, exp_avg_sq, max_exp_avg_sq)
    else:
        _elementwise("tg_adam", params_in, "T param, T m, T v", _ADAM_BODY % "")(*args, param, exp_avg, exp_avg_sq)


def _rmsprop_takes(param, grad, square_avg, grad_avg, momentum_buffer, *, momentum: float, centered: bool,
                   **_) -> bool:
    return (_same_float(param, grad, square_avg, grad_avg if centered else None,
                        momentum_buffer if momentum > 0 else None) and grad.shape == param.shape)


@takes(_rmsprop_takes)
def rmsprop_update(param, grad, square_avg, grad_avg, momentum_buffer, *, lr: float, alpha: float, eps: float,
                   weight_decay: float, momentum: float, centered: bool, maximize: bool) -> None:
    has_momentum = momentum > 0
    t = param.dtype.type
    body = """
        T p = param;
        T g = neg ? -grad : grad;
        if (has_wd) g = g + wd * p;
        T s = sq * alpha;
        s = s + c1 * g * g;
        sq = s;
    """
    if centered:
        body += """
        T a = ga + c1 * (g - ga);
        ga = a;
        T avg = a * a;
        avg = s - avg;
        avg = sqrt(avg);
        """
    else:
        body += "T avg = sqrt(s);"
    body += "avg = avg + eps;"
    if has_momentum:
        body += "T b = buf * momentum; b = b + g / avg; buf = b; param = p - lr * b;"
    else:
        body += "T d = g / avg; d = d * lr; param = p - d;"
    outs = ["T param", "T sq"] + (["T ga"] if centered else []) + (["T buf"] if has_momentum else [])
    arrays = [param, square_avg] + ([grad_avg] if centered else []) + ([momentum_buffer] if has_momentum else [])
    kernel = _elementwise(f"tg_rmsprop_{int(centered)}{int(has_momentum)}",
                          "T grad, T alpha, T c1, T wd, T eps, T lr, T momentum, int32 neg, int32 has_wd",
                          ", ".join(outs), body)
    kernel(grad, t(alpha), t(1 - alpha), t(weight_decay), t(eps), t(lr), t(momentum), np.int32(maximize),
           np.int32(weight_decay != 0), *arrays)


@takes(lambda param, grad, state_sum, **_: _same_float(param, grad, state_sum) and grad.shape == param.shape)
def adagrad_update(param, grad, state_sum, *, step: int, lr: float, lr_decay: float, weight_decay: float,
                   eps: float, maximize: bool) -> None:
    t = param.dtype.type
    body = """
        T p = param;
        T g = neg ? -grad : grad;
        if (has_wd) g = g + wd * p;
        T s = acc + g * g;
        acc = s;
        T d = sqrt(s);
        d = d + eps;
        d = g / d;
        d = d * clr;
        param = p - d;
    """
    kernel = _elementwise("tg_adagrad", "T grad, T wd, T clr, T eps, int32 neg, int32 has_wd", "T param, T acc", body)
    kernel(grad, t(weight_decay), t(lr / (1 + (step - 1) * lr_decay)), t(eps), np.int32(maximize),
           np.int32(weight_decay != 0), param, state_sum)


# ---- dropout -------------------------------------------------------------------------

_DROPOUT = f"""
    unsigned long long z = (unsigned long long)(i + 1) * {reference.GOLDEN:#x}ULL + seed;
    z = (z ^ (z >> 30)) * {reference.MIX1:#x}ULL;
    z = (z ^ (z >> 27)) * {reference.MIX2:#x}ULL;
    z = z ^ (z >> 31);
    y = (z >> 32) >= threshold ? x * scale : x * (T)0;
"""


@takes(lambda x, seed, p: x.dtype.char in "fd")  # (NumPy scalars never get here: they stay on the host kernels)
def dropout(x, seed: int, p: float):
    kernel = _elementwise("tg_dropout", "T x, uint64 seed, uint64 threshold, T scale", "T y", _DROPOUT)
    # i, the element's index, runs over the output in C order, as the reference's flat index does
    return kernel(x, np.uint64(seed), np.uint64(reference.dropout_threshold(p)), x.dtype.type(1.0 / (1.0 - p)))


# ---- gradient norm for clipping ------------------------------------------------------

_NANMAX = "__device__ double tg_nanmax(double a, double b) { return (a != a || a > b) ? a : b; }"


def _reduction(name: str, map_expr: str, reduce_expr: str, preamble: str = ""):
    kernel = _kernels.get(name)
    if kernel is None:
        kernel = cp.ReductionKernel("T x", "float64 y", map_expr, reduce_expr, "y = a", "0", name,
                                    reduce_type="double", preamble=preamble)
        _kernels[name] = kernel
    return kernel


@takes(lambda grads, norm_type: norm_type in (2.0, 1.0, math.inf) and all(g.dtype.char in "fd" for g in grads))
def grad_norm(grads: list, norm_type: float):
    """One reduction kernel per array (double accumulators), combined on the device; 0-d result."""
    if norm_type == 2.0:
        kernel = _reduction("tg_sum_squares", "(double)x * (double)x", "a + b")
        total = cp.sqrt(cp.stack([kernel(g) for g in grads]).sum())
    elif norm_type == 1.0:
        kernel = _reduction("tg_sum_abs", "fabs((double)x)", "a + b")
        total = cp.stack([kernel(g) for g in grads]).sum()
    else:
        kernel = _reduction("tg_max_abs", "fabs((double)x)", "tg_nanmax(a, b)", _NANMAX)
        total = cp.stack([kernel(g) for g in grads]).max()  # cupy's max propagates NaN
    return total.astype(grads[0].dtype)


# ---- the optimizers added after the first four (same conventions) ------------------------

def _update_takes(param, grad, *state, **_) -> bool:
    """What the later optimizer kernels take: the gradient and every state array like the parameter."""
    return _same_float(param, grad, *state) and grad.shape == param.shape


_LERP_M = "mm = low ? mm + w * (g - mm) : g - (g - mm) * w_rest;"  # torch's two lerp branches (reference.lerp_)


def _lerp_args(t, weight: float) -> tuple:
    return t(weight), t(1 - weight), np.int32(abs(weight) < 0.5)


@takes(_update_takes)
def adamax_update(param, grad, exp_avg, exp_inf, *, step: int, lr: float, beta1: float, beta2: float, eps: float,
                  weight_decay: float, maximize: bool) -> None:
    t = param.dtype.type
    body = """
        T p = param;
        T g = neg ? -grad : grad;
        if (has_wd) g = g + wd * p;
        T mm = m;
        """ + _LERP_M + """
        m = mm;
        T uu = u * beta2;
        T a = fabs(g) + eps;
        if (!(uu >= a || uu != uu)) uu = a;
        u = uu;
        param = p + neg_clr * mm / uu;
    """
    kernel = _elementwise("tg_adamax", "T grad, T wd, T w, T w_rest, int32 low, T beta2, T eps, T neg_clr, "
                                       "int32 neg, int32 has_wd", "T param, T m, T u", body)
    kernel(grad, t(weight_decay), *_lerp_args(t, 1 - beta1), t(beta2), t(eps), t(-(lr / (1 - beta1**step))),
           np.int32(maximize), np.int32(weight_decay != 0), param, exp_avg, exp_inf)


@takes(_update_takes)
def adadelta_update(param, grad, square_avg, acc_delta, *, lr: float, rho: float, eps: float, weight_decay: float,
                    maximize: bool) -> None:
    t = param.dtype.type
    body = """
        T p = param;
        T g = neg ? -grad : grad;
        if (has_wd) g = g + wd * p;
        T vv = v * rho;
        vv = vv + c * g * g;
        v = vv;
        T d = sqrt(u + eps);
        d = d / sqrt(vv + eps);
        d = d * g;
        T uu = u * rho;
        u = uu + c * d * d;
        param = p + neg_lr * d;
    """
    kernel = _elementwise("tg_adadelta", "T grad, T wd, T rho, T c, T eps, T neg_lr, int32 neg, int32 has_wd",
                          "T param, T v, T u", body)
    kernel(grad, t(weight_decay), t(rho), t(1 - rho), t(eps), t(-lr), np.int32(maximize), np.int32(weight_decay != 0),
           param, square_avg, acc_delta)


_ADAM_FAMILY_HEAD = """
    T p = param;
    T g = neg ? -grad : grad;
    if (decay_mode == 1) p = p * decay;
    else if (decay_mode == 2) g = g + wd * p;
    T mm = m;
    """ + _LERP_M + """
    m = mm;
    T vv = v * beta2;
    vv = vv + c2 * g * g;
    v = vv;
"""
_ADAM_FAMILY_IN = "T grad, T wd, T decay, T w, T w_rest, int32 low, T beta2, T c2, int32 neg, int32 decay_mode"


@takes(_update_takes)
def nadam_update(param, grad, exp_avg, exp_avg_sq, *, step: int, lr: float, beta1: float, beta2: float,
                 eps: float, weight_decay: float, mu: float, mu_next: float, mu_product: float,
                 decoupled_weight_decay: bool, maximize: bool) -> None:
    t = param.dtype.type
    body = _ADAM_FAMILY_HEAD + """
        T d = sqrt(vv / bc2);
        d = d + eps;
        p = p + coef_g * g / d;
        param = p + coef_m * mm / d;
    """
    kernel = _elementwise("tg_nadam", _ADAM_FAMILY_IN + ", T bc2, T eps, T coef_g, T coef_m", "T param, T m, T v",
                          body)
    decay_mode = 0 if weight_decay == 0 else (1 if decoupled_weight_decay else 2)
    kernel(grad, t(weight_decay), t(1 - lr * weight_decay), *_lerp_args(t, 1 - beta1), t(beta2), t(1 - beta2),
           np.int32(maximize), np.int32(decay_mode), t(1 - beta2**step), t(eps),
           t(-lr * (1.0 - mu) / (1.0 - mu_product)), t(-lr * mu_next / (1.0 - mu_product * mu_next)),
           param, exp_avg, exp_avg_sq)


@takes(_update_takes)
def radam_update(param, grad, exp_avg, exp_avg_sq, *, step: int, lr: float, beta1: float, beta2: float,
                 eps: float, weight_decay: float, decoupled_weight_decay: bool, maximize: bool) -> None:
    t = param.dtype.type
    body = _ADAM_FAMILY_HEAD + """
        T d = mm / bc1;
        d = d * lr;
        if (rectified) {
            T a = sqrt(vv) + eps;
            d = d * (sqrt_bc2 / a);
            d = d * rect;
        }
        param = p - d;
    """
    kernel = _elementwise("tg_radam", _ADAM_FAMILY_IN + ", T bc1, T lr, T sqrt_bc2, T eps, T rect, int32 rectified",
                          "T param, T m, T v", body)
    decay_mode = 0 if weight_decay == 0 else (1 if decoupled_weight_decay else 2)
    rect = reference.radam_rectification(step, beta2)
    kernel(grad, t(weight_decay), t(1 - lr * weight_decay), *_lerp_args(t, 1 - beta1), t(beta2), t(1 - beta2),
           np.int32(maximize), np.int32(decay_mode), t(1 - beta1**step), t(lr), t((1 - beta2**step) ** 0.5), t(eps),
           t(0.0 if rect is None else rect), np.int32(rect is not None), param, exp_avg, exp_avg_sq)


@takes(_update_takes)
def lion_update(param, grad, exp_avg, *, lr: float, beta1: float, beta2: float, weight_decay: float,
                maximize: bool) -> None:
    t = param.dtype.type
    body = """
        T g = neg ? -grad : grad;
        T p = param * decay;
        T c = m * beta1;
        c = c + c1 * g;
        T s = c > 0 ? one : (c < 0 ? -one : c);
        param = p + neg_lr * s;
        T mm = m * beta2;
        m = mm + c2 * g;
    """
    kernel = _elementwise("tg_lion", "T grad, T decay, T beta1, T c1, T neg_lr, T beta2, T c2, T one, int32 neg",
                          "T param, T m", body)
    kernel(grad, t(1 - lr * weight_decay), t(beta1), t(1 - beta1), t(-lr), t(beta2), t(1 - beta2), t(1.0),
           np.int32(maximize), param, exp_avg)


@takes(_update_takes)
def schedule_free_adamw_update(param, grad, z, exp_avg_sq, *, lr: float, beta1: float, beta2: float, eps: float,
                               weight_decay: float, ckp1: float, bias_correction2: float) -> None:
    t = param.dtype.type
    body = """
        T y = param;
        T vv = v * beta2;
        vv = vv + c2 * grad * grad;
        v = vv;
        T d = sqrt(vv / bc2);
        d = d + eps;
        T u = grad / d;
        if (has_wd) u = u + wd * y;
        y = low ? y + w * (z - y) : z - (z - y) * w_rest;
        param = y + coef_y * u;
        z = z - lr * u;
    """
    kernel = _elementwise("tg_schedule_free_adamw", "T grad, T beta2, T c2, T bc2, T eps, T wd, int32 has_wd, T w, "
                                                    "T w_rest, int32 low, T coef_y, T lr", "T param, T z, T v", body)
    kernel(grad, t(beta2), t(1 - beta2), t(bias_correction2), t(eps), t(weight_decay), np.int32(weight_decay != 0),
           *_lerp_args(t, ckp1), t(lr * (beta1 * (1 - ckp1) - 1)), t(lr), param, z, exp_avg_sq)


# ---- int8 matrix product: cuBLAS on the int8 values as floats (exact, see the reference) ----

@takes(lambda x, w: x.dtype == np.int8 and w.dtype == np.int8 and x.ndim == 2 and w.ndim == 2)
def int8_matmul(x, w):
    return reference.int8_matmul_via_float(x, w)
