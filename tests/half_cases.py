"""The float16 sweep's inputs and cases: every element-wise op, activation, normalisation and loss that
takes float16, called the same way on the engine (m = tinygrad_opt, f = its nn.functional) and on torch.

A case is fn(m, f, *inputs) -> output; inputs are float16 tensors that require grad, and the sweep
compares the output and each input's gradient (of sum(y * w), w random float16) bit for bit.
"""
from __future__ import annotations

import numpy as np

# Edges of float16: signed zeros, infinities, NaN, its largest values, its smallest normal and subnormals.
EDGES = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 65504.0, -65504.0, 6.104e-05, -6.104e-05, 5.96e-08,
                  -5.96e-08, 3e-06, -3e-06, 1e-07, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 6.0, -6.0, 20.0,
                  -20.0, 11.0, -11.0, 88.0, -88.0, 1e4, -1e4], np.float16)


def values(seed: int, size: int = 1500) -> np.ndarray:
    """float16 values: the edges, normal draws at three scales, and magnitudes log-uniform over the range."""
    rng = np.random.default_rng(seed)
    sign = rng.choice([-1.0, 1.0], size)
    parts = [EDGES, rng.normal(size=size) * 3, rng.normal(size=size) * 0.05,
             sign * 10.0 ** rng.uniform(-8, 4.8, size), rng.uniform(-12, 12, size)]
    with np.errstate(over="ignore"):
        return np.concatenate(parts).astype(np.float16)


def upstream(seed: int, size: int) -> np.ndarray:
    """The weights w of sum(y * w): finite float16, mostly of order one, a few large and a few tiny."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=size)
    w[rng.random(size) < 0.05] *= 1000
    w[rng.random(size) < 0.05] *= 1e-5
    return w.astype(np.float16)


def _sub_rev(m, f, x):
    return 0.3 - x


UNARY = {
    "exp": lambda m, f, x: m.exp(x), "log": lambda m, f, x: m.log(x), "log1p": lambda m, f, x: m.log1p(x),
    "expm1": lambda m, f, x: m.expm1(x), "sqrt": lambda m, f, x: m.sqrt(x), "rsqrt": lambda m, f, x: m.rsqrt(x),
    "abs": lambda m, f, x: m.abs(x), "neg": lambda m, f, x: m.neg(x), "sign": lambda m, f, x: m.sign(x),
    "sin": lambda m, f, x: m.sin(x), "cos": lambda m, f, x: m.cos(x), "tan": lambda m, f, x: m.tan(x),
    "tanh": lambda m, f, x: m.tanh(x), "sigmoid": lambda m, f, x: m.sigmoid(x),
    "sinh": lambda m, f, x: m.sinh(x), "cosh": lambda m, f, x: m.cosh(x), "asin": lambda m, f, x: m.asin(x),
    "acos": lambda m, f, x: m.acos(x), "atan": lambda m, f, x: m.atan(x), "asinh": lambda m, f, x: m.asinh(x),
    "acosh": lambda m, f, x: m.acosh(x), "atanh": lambda m, f, x: m.atanh(x),
    "log2": lambda m, f, x: m.log2(x), "log10": lambda m, f, x: m.log10(x), "exp2": lambda m, f, x: m.exp2(x),
    "erf": lambda m, f, x: m.erf(x), "erfc": lambda m, f, x: m.erfc(x), "erfinv": lambda m, f, x: m.erfinv(x),
    "reciprocal": lambda m, f, x: m.reciprocal(x), "square": lambda m, f, x: m.square(x),
    "floor": lambda m, f, x: m.floor(x), "ceil": lambda m, f, x: m.ceil(x), "round": lambda m, f, x: m.round(x),
    "trunc": lambda m, f, x: m.trunc(x), "frac": lambda m, f, x: m.frac(x),
    "logit": lambda m, f, x: m.logit(x), "logit_eps": lambda m, f, x: m.logit(x, eps=0.01),
    "deg2rad": lambda m, f, x: m.deg2rad(x), "rad2deg": lambda m, f, x: m.rad2deg(x),
    "nan_to_num": lambda m, f, x: m.nan_to_num(x), "clamp": lambda m, f, x: m.clamp(x, -0.7, 2.3),
    "round_decimals": lambda m, f, x: m.round(x, decimals=2),
}

ACTIVATIONS = {
    "relu": lambda m, f, x: f.relu(x), "relu6": lambda m, f, x: f.relu6(x),
    "leaky_relu": lambda m, f, x: f.leaky_relu(x, 0.2291666),
    "gelu": lambda m, f, x: f.gelu(x), "gelu_tanh": lambda m, f, x: f.gelu(x, approximate="tanh"),
    "silu": lambda m, f, x: f.silu(x), "mish": lambda m, f, x: f.mish(x), "elu": lambda m, f, x: f.elu(x),
    "elu_alpha": lambda m, f, x: f.elu(x, 0.37), "selu": lambda m, f, x: f.selu(x),
    "celu": lambda m, f, x: f.celu(x, 0.61), "softplus": lambda m, f, x: f.softplus(x),
    "softplus_beta": lambda m, f, x: f.softplus(x, beta=1.7, threshold=4.3),
    "softsign": lambda m, f, x: f.softsign(x), "hardtanh": lambda m, f, x: f.hardtanh(x, -0.7, 1.3),
    "hardsigmoid": lambda m, f, x: f.hardsigmoid(x), "hardswish": lambda m, f, x: f.hardswish(x),
    "logsigmoid": lambda m, f, x: f.logsigmoid(x), "tanhshrink": lambda m, f, x: f.tanhshrink(x),
    "softshrink": lambda m, f, x: f.softshrink(x, 0.31), "hardshrink": lambda m, f, x: f.hardshrink(x, 0.31),
    "threshold": lambda m, f, x: f.threshold(x, 0.13, -2.7),
    "rrelu_eval": lambda m, f, x: f.rrelu(x, training=False),
    "glu": lambda m, f, x: f.glu(x.reshape(-1, 2), -1),
    "softmax": lambda m, f, x: f.softmax(x.reshape(-1, 7), -1),
    "log_softmax": lambda m, f, x: f.log_softmax(x.reshape(-1, 7), -1),
    "softmin": lambda m, f, x: f.softmin(x.reshape(-1, 7), -1),
}

SCALAR = {
    "add_scalar": lambda m, f, x: x + 0.1, "sub_scalar": lambda m, f, x: x - 0.1, "rsub_scalar": _sub_rev,
    "mul_scalar": lambda m, f, x: x * 0.1, "div_scalar": lambda m, f, x: x / 0.3,
    "rdiv_scalar": lambda m, f, x: 0.7 / x, "pow_2": lambda m, f, x: x ** 2, "pow_3": lambda m, f, x: x ** 3,
    "pow_half": lambda m, f, x: x ** 0.5, "pow_2_5": lambda m, f, x: x ** 2.5, "pow_-1": lambda m, f, x: x ** -1,
    "pow_-2": lambda m, f, x: x ** -2, "pow_-0_5": lambda m, f, x: x ** -0.5, "rpow": lambda m, f, x: 1.3 ** x,
    "add_alpha": lambda m, f, x: m.add(x, 0.1, alpha=0.7), "mul_int": lambda m, f, x: x * 3,
    "sub_alpha": lambda m, f, x: x.sub(0.3, alpha=1.7),
    "add_int": lambda m, f, x: x + 3, "div_int": lambda m, f, x: x / 3,
    "mul_numpy_scalar": lambda m, f, x: x * np.float64(0.1), "mul_large_int": lambda m, f, x: x * 100001,
    "mul_method": lambda m, f, x: x.mul(0.37), "div_function": lambda m, f, x: m.div(x, 0.37),
}

BINARY = {
    "add": lambda m, f, x, y: x + y, "add_tensor_alpha": lambda m, f, x, y: x.add(y, alpha=0.37),
    "sub_tensor_alpha": lambda m, f, x, y: m.sub(x, y, alpha=2.3), "sub": lambda m, f, x, y: x - y, "mul": lambda m, f, x, y: x * y,
    "div": lambda m, f, x, y: x / y, "pow": lambda m, f, x, y: m.abs(x) ** y,
    "atan2": lambda m, f, x, y: m.atan2(x, y), "hypot": lambda m, f, x, y: m.hypot(x, y),
    "logaddexp": lambda m, f, x, y: m.logaddexp(x, y), "maximum": lambda m, f, x, y: m.maximum(x, y),
    "minimum": lambda m, f, x, y: m.minimum(x, y), "xlogy": lambda m, f, x, y: m.xlogy(x, y),
    "copysign": lambda m, f, x, y: m.copysign(x, y), "fmod": lambda m, f, x, y: m.fmod(x, y),
    "remainder": lambda m, f, x, y: m.remainder(x, y), "lerp": lambda m, f, x, y: m.lerp(x, y, 0.3),
    "prelu": lambda m, f, x, y: f.prelu(x.reshape(-1, 1), y[:1]),
}

# Reductions over rows of 7 (normalisations, losses with reduction="none" and "mean").
ROWS = {
    "layer_norm": lambda m, f, x: f.layer_norm(x.reshape(-1, 7), (7,)),
    "normalize": lambda m, f, x: f.normalize(x.reshape(-1, 7), dim=-1),
    "sum": lambda m, f, x: x.reshape(-1, 7).sum(-1), "mean": lambda m, f, x: x.reshape(-1, 7).mean(-1),
    "logsumexp": lambda m, f, x: m.logsumexp(x.reshape(-1, 7), -1),
    "var": lambda m, f, x: x.reshape(-1, 7).var(-1), "std": lambda m, f, x: x.reshape(-1, 7).std(-1),
    "norm": lambda m, f, x: x.reshape(-1, 7).norm(dim=-1),
    "prod": lambda m, f, x: x.reshape(-1, 7).prod(-1),
    "cumsum": lambda m, f, x: x.reshape(-1, 7).cumsum(-1), "cumprod": lambda m, f, x: x.reshape(-1, 7).cumprod(-1),
    "prod_without_zeros": lambda m, f, x: (m.abs(x) + 1).reshape(-1, 7).prod(-1),
    "batch_norm": lambda m, f, x: f.batch_norm(x.reshape(-1, 7), None, None, training=True),
    "softmax_dim0": lambda m, f, x: f.softmax(x.reshape(-1, 7)[:63], 0),
    "log_softmax_dim0": lambda m, f, x: f.log_softmax(x.reshape(-1, 7)[:63], 0),
    "logsumexp_rows": lambda m, f, x: m.logsumexp(x.reshape(-1, 7), 0),
    "mean_all": lambda m, f, x: x.mean(), "sum_all": lambda m, f, x: x.sum(),
    "cross_entropy": lambda m, f, x: f.cross_entropy(x.reshape(-1, 7), _classes(m, x.numel() // 7), reduction="none"),
    "cross_entropy_mean": lambda m, f, x: f.cross_entropy(x.reshape(-1, 7), _classes(m, x.numel() // 7)),
    "cross_entropy_smoothing": lambda m, f, x: f.cross_entropy(x.reshape(-1, 7), _classes(m, x.numel() // 7),
                                                               label_smoothing=0.1, reduction="none"),
    "cross_entropy_smoothing_mean": lambda m, f, x: f.cross_entropy(x.reshape(-1, 7), _classes(m, x.numel() // 7),
                                                                    label_smoothing=0.1),
    "nll_loss": lambda m, f, x: f.nll_loss(x.reshape(-1, 7), _classes(m, x.numel() // 7), reduction="none"),
    "nll_loss_mean": lambda m, f, x: f.nll_loss(x.reshape(-1, 7), _classes(m, x.numel() // 7)),
}


def _classes(m, rows: int):
    return m.tensor(np.arange(rows) * 3 % 7)

LOSSES = {
    "mse_loss": lambda m, f, x, y: f.mse_loss(x, y, reduction="none"),
    "l1_loss": lambda m, f, x, y: f.l1_loss(x, y, reduction="none"),
    "smooth_l1_loss": lambda m, f, x, y: f.smooth_l1_loss(x, y, reduction="none", beta=0.7),
    "huber_loss": lambda m, f, x, y: f.huber_loss(x, y, reduction="none", delta=0.7),
    "bce_with_logits": lambda m, f, x, y: f.binary_cross_entropy_with_logits(x, m.sigmoid(y), reduction="none"),
    "bce": lambda m, f, x, y: f.binary_cross_entropy(m.sigmoid(m.nan_to_num(x)), m.sigmoid(m.nan_to_num(y)),
                                                        reduction="none"),
    "kl_div": lambda m, f, x, y: f.kl_div(x, m.sigmoid(y), reduction="none"),
    "mse_loss_mean": lambda m, f, x, y: f.mse_loss(x.reshape(-1, 7), y.reshape(-1, 7)),
    "smooth_l1_loss_mean": lambda m, f, x, y: f.smooth_l1_loss(x, y, beta=0.7),
    "huber_loss_sum": lambda m, f, x, y: f.huber_loss(x, y, reduction="sum", delta=0.7),
    "l1_loss_mean": lambda m, f, x, y: f.l1_loss(x, y),
    "cross_entropy_soft": lambda m, f, x, y: f.cross_entropy(x.reshape(-1, 7), f.softmax(y.reshape(-1, 7), -1),
                                                             reduction="none"),
}
