"""tinygrad_opt: a from-scratch reverse-mode autodiff engine with a model-optimisation toolbox."""
from ._kernels_import import load_kernels

kernels = load_kernels()

from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402
from .backend import cuda_is_available, get_rng_state, manual_seed, set_rng_state  # noqa: E402
from .errors import DeviceError, EnvironmentSettingError, GraphFreedError, ShapeError  # noqa: E402
from .factories import arange, eye, ones, ones_like, rand, randn, zeros, zeros_like  # noqa: E402
from .functional import (  # noqa: E402
    abs, clip, exp, log, log_softmax, matmul, max, mean, relu, reshape, sigmoid, softmax, sqrt, sum,
    tanh, transpose,
)
from .gradcheck import GradcheckError, gradcheck  # noqa: E402
from .promotion import get_default_dtype, promote_types, result_type, set_default_dtype  # noqa: E402
from .dtypes import (  # noqa: E402
    bool, double, float, float16, float32, float64, half, int, int8, int16, int32, int64, long, short, uint8,
)
from .tensor import Tensor, tensor  # noqa: E402
from .trace import to_dot, trace  # noqa: E402

# the PyTorch-parity surface: factories and tg.<name> functions
from .factories import (  # noqa: E402
    empty, empty_like, from_numpy, full, full_like, linspace, rand_like, randint, randint_like, randn_like,
)
from .functional import (  # noqa: E402
    all, amax, amin, any, argmax, argmin, argsort, cat, ceil, chunk, clamp, concat, concatenate, cos, cumprod,
    cumsum, expm1, flatten, flip, floor, floor_divide, gather, index_select, log1p, logsumexp, masked_fill,
    maximum, min, minimum, norm, numel, permute, prod, remainder, roll, round, rsqrt, scatter_add, sign, sin,
    sort, split, squeeze, stack, std, topk, tril, triu, unbind, unflatten, unsqueeze, var, where,
)

from .functional_arith import (  # noqa: E402
    add, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, div, divide, fix, isfinite, isinf, isnan, logical_and,
    logical_not, logical_or, logical_xor, mul, multiply, neg, negative, pow, reciprocal, square, sub, subtract,
    true_divide, trunc,
)
from .functional_arith import (  # noqa: E402
    acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan, arctan2, arctanh, asin, asinh, atan, atan2, atanh,
    cosh, exp2, hypot, log2, log10, logaddexp, sinh, tan,
)
from .functional_arith import (  # noqa: E402
    addcdiv, addcmul, addmm, addmv, allclose, argwhere, bmm, clone, copysign, count_nonzero, deg2rad, diag, diagonal,
    diff, dot, eq, logit, positive,
    equal, fliplr, flipud, float_power, fmod, frac, ge, greater, gt, inner, isclose, le, lerp, less, lt,
    masked_select, mm, moveaxis, movedim, mv, nan_to_num, narrow, ne, nonzero, outer, rad2deg, ravel,
    repeat_interleave, sgn, signbit, swapaxes, t, take, take_along_dim, tile, xlogy,
)  # not trace: tg.trace() is the recorder (trace/); the matrix trace is the method x.trace()

from .functional_arith import (  # noqa: E402
    cummax, cummin, erf, erfc, erfinv, kthvalue, logcumsumexp, median, mode, msort, nanmean, nanmedian, nansum,
)
from .functional_arith import aminmax, hardshrink, std_mean, var_mean  # noqa: E402
from .functional_arith import nanquantile, prelu, quantile  # noqa: E402

set_kernels = kernels.set_kernels
set_flush_denormal = kernels.set_flush_denormal  # torch.set_flush_denormal: kernels/denormal.py

__version__ = "0.1.0"

__all__ = [
    "Tensor", "tensor", "zeros", "ones", "randn", "rand", "arange", "eye", "zeros_like", "ones_like",
    "manual_seed", "get_rng_state", "set_rng_state", "no_grad", "enable_grad", "is_grad_enabled",
    "set_grad_enabled", "inference_mode",
    "gradcheck", "GradcheckError", "trace", "to_dot", "set_kernels", "cuda_is_available",
    "ShapeError", "DeviceError", "GraphFreedError", "EnvironmentSettingError", "kernels",
    "abs", "clip", "exp", "log", "log_softmax", "matmul", "max", "mean", "relu", "reshape", "sigmoid",
    "softmax", "sqrt", "sum", "tanh", "transpose",
    "get_default_dtype", "set_default_dtype", "result_type", "promote_types",
    "float16", "half", "float32", "float", "float64", "double", "int8", "uint8", "int16", "short", "int32", "int",
    "int64", "long", "bool", "set_flush_denormal",
]
__all__ += [
    "empty", "empty_like", "from_numpy", "full", "full_like", "linspace", "rand_like", "randint", "randint_like",
    "randn_like", "all", "amax", "amin", "any", "argmax", "argmin", "argsort", "cat", "ceil", "chunk", "clamp",
    "concat", "concatenate", "cos", "cumprod", "cumsum", "expm1", "flatten", "flip", "floor", "floor_divide",
    "gather", "index_select", "log1p", "logsumexp", "masked_fill", "maximum", "min", "minimum", "norm", "numel",
    "permute", "prod", "remainder", "roll", "round", "rsqrt", "scatter_add", "sign", "sin", "sort", "split",
    "squeeze", "stack", "std", "topk", "tril", "triu", "unbind", "unflatten", "unsqueeze", "var", "where",
]

__all__ += ["erf", "erfc", "erfinv", "special"]
__all__ += ["msort", "aminmax", "hardshrink", "var_mean", "std_mean"]
__all__ += ["quantile", "nanquantile", "prelu", "rrelu", "rrelu_"]
__all__ += ["cummax", "cummin", "kthvalue", "logcumsumexp", "median", "mode", "nanmean", "nanmedian", "nansum"]

_SUBPACKAGES = ("nn", "optim", "regularizers", "data", "train", "special")


def __getattr__(name: str):
    """`tg.nn`, `tg.optim`, ... import on first use, so `import tinygrad_opt` stays fast."""
    if name in _SUBPACKAGES:
        import importlib

        return importlib.import_module(f".{name}", __name__)
    if name in ("rrelu", "rrelu_"):  # torch.rrelu lives with F.rrelu in nn, imported on first use like nn
        from .nn import functional_parametric

        return getattr(functional_parametric, f"torch_{name}")
    if name in ("compile", "CaptureWarning"):  # capture imports nn and optim: on first use, like them
        from . import capture

        return getattr(capture, name)
    raise AttributeError(f"module 'tinygrad_opt' has no attribute {name!r}")
