"""One table of every Tensor op, used by the gradcheck, PyTorch and CUDA test files.

Each spec says how to call the op on engine Tensors and on torch tensors, how many
inputs it takes, and which values keep it away from kinks and poles, so the same
hypothesis-generated cases drive every check.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, mutually_broadcastable_shapes


@dataclass
class OpSpec:
    name: str
    engine: Callable  # (*tensors, **params) -> Tensor
    torch: Callable  # (*torch_tensors, **params) -> torch tensor
    arity: int = 1
    domain: str = "any"  # any | positive | nonzero (away from 0) | clipband
    shapes: str = "broadcast"  # broadcast | matmul | single
    params: Callable = field(default=lambda shape, draw: {})  # extra keyword arguments
    min_dims: int = 0
    float32_atol: float = 1e-6  # the torch comparison's absolute tolerance in float32


def _axis_params(shape, draw):
    ndim = len(shape)
    choices = [None] + list(range(-ndim, ndim)) if ndim else [None]
    return {"axis": draw(st.sampled_from(choices)), "keepdims": draw(st.booleans())}


def _softmax_axis(shape, draw):
    ndim = max(len(shape), 1)
    return {"axis": draw(st.sampled_from(list(range(-ndim, ndim))))}


def _perm(shape, draw):
    return {"axes": tuple(draw(st.permutations(list(range(len(shape))))))}


def _reshape(shape, draw):
    size = int(np.prod(shape))
    target = draw(st.sampled_from([(size,), (1, size), (size, 1), (-1,)] + ([(2, size // 2)] if size % 2 == 0 else [])))
    return {"shape": target}


def _index(shape, draw):
    if len(shape) == 0:
        return {"index": ()}
    n = shape[0]
    kind = draw(st.sampled_from(["int", "slice", "array", "array2d"]))
    if kind == "int":
        return {"index": draw(st.integers(-n, n - 1))}
    if kind == "slice":
        return {"index": slice(draw(st.integers(0, n)), None, draw(st.integers(1, 2)))}
    picks = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=5))  # repeats allowed
    if kind == "array":
        return {"index": np.array(picks)}
    return {"index": (np.array(picks), Ellipsis)}


def _torch_index(index):
    import torch

    def conv(p):
        return torch.from_numpy(p) if isinstance(p, np.ndarray) else p

    return tuple(conv(p) for p in index) if isinstance(index, tuple) else conv(index)


def _torch_reduce(fn_name):
    def run(t, axis=None, keepdims=False):
        import torch

        if axis is None:
            dims = tuple(range(t.ndim))
        else:
            dims = (axis,)
        if fn_name == "max":
            return torch.amax(t, dim=dims, keepdim=keepdims) if t.ndim else t.clone()
        fn = getattr(torch, fn_name)
        return fn(t, dim=dims, keepdim=keepdims) if t.ndim else fn(t)

    return run


# ---- the PyTorch-parity op surface: params use torch's names, so one call serves both engines ----

def _dims(shape, draw, tuples=True, none=True):
    """A dim for a reduction: None, an int, or (tuples) a tuple of distinct dims; 0-d takes 0 / -1."""
    ndim = len(shape)
    n = max(ndim, 1)
    kinds = (["none"] if none else []) + ["int"] + (["tuple"] if tuples and ndim else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-n, n - 1))
    return tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))


def _reduce(tuples=True, none=True):
    def params(shape, draw):
        return {"dim": _dims(shape, draw, tuples, none), "keepdim": draw(st.booleans())}
    return params


def _one_dim(shape, draw):
    n = max(len(shape), 1)
    return {"dim": draw(st.integers(-n, n - 1))}


def _var_params(shape, draw):
    p = _reduce()(shape, draw)
    dim = p["dim"]
    dims = range(len(shape)) if dim is None else ((dim,) if isinstance(dim, int) else dim)
    count = int(np.prod([shape[d] for d in dims])) if shape else 1
    p["correction"] = draw(st.sampled_from([0, 1])) if count > 1 else 0  # n - 1 = 0 divides by zero (nan)
    return p


def _norm_params(shape, draw):
    p = _reduce()(shape, draw)
    p["p"] = draw(st.sampled_from([2, 1, 3, float("inf"), "fro"]))
    if p["p"] == "fro" and isinstance(p["dim"], tuple) and len(p["dim"]) > 2:
        p["p"] = 2  # torch takes 'fro' over at most two dims (a matrix norm)
    return p


def _two_dims(shape, draw):
    n = max(len(shape), 1)
    return {"dim0": draw(st.integers(-n, n - 1)), "dim1": draw(st.integers(-n, n - 1))}


def _flatten_params(shape, draw):
    n = max(len(shape), 1)
    start = draw(st.integers(0, n - 1))
    return {"start_dim": start, "end_dim": draw(st.integers(start, n - 1))}


def _unflatten_params(shape, draw):
    dim = draw(st.integers(0, len(shape) - 1))
    size = shape[dim]
    return {"dim": dim, "sizes": draw(st.sampled_from([(size,), (1, size), (size, 1), (-1, 1)]))}


def _squeeze_params(shape, draw):
    return {"dim": _dims(shape, draw, tuples=True, none=True)}


def _unsqueeze_params(shape, draw):
    return {"dim": draw(st.integers(-len(shape) - 1, len(shape)))}


def _expand_params(shape, draw):
    sizes = [draw(st.sampled_from([n, -1])) if n != 1 else draw(st.integers(1, 3)) for n in shape]
    lead = draw(st.lists(st.integers(1, 3), max_size=2))
    return {"sizes": tuple(lead + sizes)}


def _repeat_params(shape, draw):
    extra = draw(st.integers(0, 1))
    return {"repeats": tuple(draw(st.integers(1, 3)) for _ in range(len(shape) + extra))}


def _flip_params(shape, draw):
    if not shape:
        return {"dims": ()}
    return {"dims": tuple(draw(st.lists(st.integers(0, len(shape) - 1), max_size=len(shape), unique=True)))}


def _roll_params(shape, draw):
    if not shape or draw(st.booleans()):
        return {"shifts": draw(st.integers(-5, 5)), "dims": None}
    dims = tuple(draw(st.lists(st.integers(0, len(shape) - 1), min_size=1, max_size=len(shape), unique=True)))
    return {"shifts": tuple(draw(st.integers(-5, 5)) for _ in dims), "dims": dims}


def _diagonal(shape, draw):
    return {"diagonal": draw(st.integers(-2, 2))}


def _split_params(shape, draw):
    dim = draw(st.integers(0, len(shape) - 1))
    return {"size": draw(st.integers(1, shape[dim])), "dim": dim}


def _gather_params(shape, draw):
    """A dim and an int64 index no larger than the input in the other dims, entries in range."""
    dim = draw(st.integers(0, len(shape) - 1))
    index_shape = tuple(draw(st.integers(1, n)) if d != dim else draw(st.integers(1, 4)) for d, n in enumerate(shape))
    seed = draw(st.integers(0, 2**16))
    index = np.random.default_rng(seed).integers(0, shape[dim], size=index_shape)
    return {"dim": dim, "index": index}


def _scatter_params(shape, draw):
    dim = draw(st.integers(0, len(shape) - 1))
    seed = draw(st.integers(0, 2**16))
    return {"dim": dim, "index": np.random.default_rng(seed).integers(0, shape[dim], size=shape)}


def _scatter_unique_params(shape, draw):
    """An index that names each place along dim once (a permutation per slice): scatter's result is then
    torch's whatever order its writes take."""
    dim = draw(st.integers(0, len(shape) - 1))
    seed = draw(st.integers(0, 2**16))
    return {"dim": dim, "index": np.argsort(np.random.default_rng(seed).random(shape), axis=dim)}


def _index_select_params(shape, draw):
    dim = draw(st.integers(0, len(shape) - 1))
    picks = draw(st.lists(st.integers(0, shape[dim] - 1), min_size=1, max_size=5))  # repeats allowed
    return {"dim": dim, "index": np.array(picks)}


def _sort_params(shape, draw):
    return {"dim": _one_dim(shape, draw)["dim"], "descending": draw(st.booleans())}


def _topk_params(shape, draw):
    dim = _one_dim(shape, draw)["dim"]
    n = shape[dim] if shape else 1
    return {"k": draw(st.integers(0, n)), "dim": dim, "largest": draw(st.booleans())}


def _torch_module():
    import torch

    return torch


def _weighted_pieces(pieces):
    """One scalar that weights each piece differently, so a gradient sent to the wrong piece shows."""
    total = pieces[0].sum() * 0.0
    for i, piece in enumerate(pieces):
        total = total + piece.sum() * float(i + 1)
    return total


def _torch_prod(a, dim, keepdim):
    """torch.prod has no keepdim for the full product; reshape to the kept shape instead."""
    if dim is not None:
        return a.prod(dim, keepdim)
    return a.prod().reshape((1,) * a.ndim) if keepdim else a.prod()


def _as_torch(index):
    return _torch_module().from_numpy(np.asarray(index))


def _pad_params(mode):
    """Widths for the last one or two dims, within what the mode allows (reflect: below the size)."""
    def params(shape, draw):
        m = draw(st.integers(1, min(2, len(shape))))
        pad = []
        for n in reversed(shape[-m:]):
            limit = n - 1 if mode == "reflect" else (n if mode != "constant" else 3)
            low = -min(n // 2, 1) if mode == "constant" else 0
            pad += [draw(st.integers(low, limit)), draw(st.integers(low, limit))]
        return {"pad": tuple(pad), "mode": mode}
    return params


def _engine_pad(a, pad, mode):
    import tinygrad_opt.nn.functional as F

    return F.pad(a, pad, mode=mode)


def _torch_pad(a, pad, mode):
    """torch pads with a non-constant mode only with one or two leading batch/channel dims: add one if missing."""
    import torch.nn.functional as F

    if mode != "constant" and a.ndim == len(pad) // 2:
        return F.pad(a.unsqueeze(0), pad, mode=mode).squeeze(0)
    return F.pad(a, pad, mode=mode)


BREADTH_OPS = [
    # reductions
    OpSpec("sum_dim", lambda a, **p: a.sum(**p), lambda a, **p: a.sum(**p), params=_reduce()),
    OpSpec("mean_dim", lambda a, **p: a.mean(**p), lambda a, **p: a.mean(**p), params=_reduce()),
    OpSpec("amax", lambda a, **p: a.amax(**p), lambda a, dim, keepdim: a.amax(() if dim is None else dim, keepdim),
           params=_reduce(), domain="distinct"),
    OpSpec("amin", lambda a, **p: a.amin(**p), lambda a, dim, keepdim: a.amin(() if dim is None else dim, keepdim),
           params=_reduce(), domain="distinct"),
    OpSpec("max_all", lambda a: a.max(), lambda a: a.max(), domain="distinct"),
    OpSpec("max_dim", lambda a, **p: a.max(**p).values, lambda a, **p: a.max(**p).values,
           params=_reduce(tuples=False, none=False), domain="distinct"),
    OpSpec("min_dim", lambda a, **p: a.min(**p).values, lambda a, **p: a.min(**p).values,
           params=_reduce(tuples=False, none=False), domain="distinct"),
    OpSpec("prod", lambda a, **p: a.prod(**p), lambda a, dim, keepdim: _torch_prod(a, dim, keepdim),
           params=_reduce(tuples=False)),
    OpSpec("var", lambda a, **p: a.var(**p), lambda a, **p: a.var(**p), params=_var_params),
    OpSpec("std", lambda a, **p: a.std(**p), lambda a, **p: a.std(**p), params=_var_params),
    OpSpec("logsumexp", lambda a, **p: a.logsumexp(**p), lambda a, **p: a.logsumexp(**p), params=_reduce(none=False)),
    OpSpec("norm", lambda a, **p: a.norm(**p), lambda a, **p: a.norm(**p), params=_norm_params, domain="distinct_abs"),
    OpSpec("cumsum", lambda a, dim: a.cumsum(dim), lambda a, dim: a.cumsum(dim), params=_one_dim),
    OpSpec("cumprod", lambda a, dim: a.cumprod(dim), lambda a, dim: a.cumprod(dim), params=_one_dim),
    # shape
    OpSpec("transpose", lambda a, **p: a.transpose(**p), lambda a, **p: a.transpose(**p), params=_two_dims),
    OpSpec("mT", lambda a: a.mT, lambda a: a.mT, min_dims=2),
    OpSpec("view", lambda a, shape: a.view(shape), lambda a, shape: a.reshape(shape), params=_reshape),
    OpSpec("flatten", lambda a, **p: a.flatten(**p), lambda a, **p: a.flatten(**p), params=_flatten_params),
    OpSpec("unflatten", lambda a, **p: a.unflatten(**p), lambda a, **p: a.unflatten(**p), params=_unflatten_params,
           min_dims=1),
    OpSpec("squeeze", lambda a, dim: a.squeeze(dim), lambda a, dim: a.squeeze() if dim is None else a.squeeze(dim),
           params=_squeeze_params),
    OpSpec("unsqueeze", lambda a, dim: a.unsqueeze(dim), lambda a, dim: a.unsqueeze(dim), params=_unsqueeze_params),
    OpSpec("expand", lambda a, sizes: a.expand(*sizes), lambda a, sizes: a.expand(*sizes), params=_expand_params,
           min_dims=1),
    OpSpec("repeat", lambda a, repeats: a.repeat(*repeats), lambda a, repeats: a.repeat(*repeats),
           params=_repeat_params,
           min_dims=1),
    OpSpec("flip", lambda a, dims: a.flip(*dims), lambda a, dims: a.flip(dims), params=_flip_params, min_dims=1),
    OpSpec("roll", lambda a, **p: a.roll(**p), lambda a, **p: a.roll(**p), params=_roll_params),
    OpSpec("tril", lambda a, diagonal: a.tril(diagonal), lambda a, diagonal: a.tril(diagonal), params=_diagonal,
           min_dims=2),
    OpSpec("triu", lambda a, diagonal: a.triu(diagonal), lambda a, diagonal: a.triu(diagonal), params=_diagonal,
           min_dims=2),
    OpSpec("split", lambda a, size, dim: _weighted_pieces(a.split(size, dim)),
           lambda a, size, dim: _weighted_pieces(a.split(size, dim)), params=_split_params, min_dims=1),
    OpSpec("chunk", lambda a, size, dim: _weighted_pieces(a.chunk(size, dim)),
           lambda a, size, dim: _weighted_pieces(a.chunk(size, dim)), params=_split_params, min_dims=1),
    OpSpec("unbind", lambda a, dim: _weighted_pieces(a.unbind(dim)), lambda a, dim: _weighted_pieces(a.unbind(dim)),
           params=lambda shape, draw: {"dim": draw(st.integers(0, len(shape) - 1))}, min_dims=1),
    OpSpec("cat", lambda a, dim: _tg().cat([a, a.exp(), a * 2.0], dim),
           lambda a, dim: _torch_module().cat([a, a.exp(), a * 2.0], dim),
           params=lambda shape, draw: {"dim": draw(st.integers(-len(shape), len(shape) - 1))}, min_dims=1),
    OpSpec("stack", lambda a, dim: _tg().stack([a, a.exp()], dim),
           lambda a, dim: _torch_module().stack([a, a.exp()], dim),
           params=_unsqueeze_params),
    OpSpec("where", lambda a, b: _tg().where(a > 0, a, b), lambda a, b: _torch_module().where(a > 0, a, b), arity=2,
           domain="nonzero"),
    # element-wise
    OpSpec("log1p", lambda a: a.log1p(), lambda a: a.log1p(), domain="positive"),
    OpSpec("expm1", lambda a: a.expm1(), lambda a: a.expm1()),
    OpSpec("rsqrt", lambda a: a.rsqrt(), lambda a: a.rsqrt(), domain="positive"),
    OpSpec("sin", lambda a: a.sin(), lambda a: a.sin()),
    OpSpec("cos", lambda a: a.cos(), lambda a: a.cos()),
    OpSpec("sign", lambda a: a.sign() * a, lambda a: a.sign() * a, domain="nonzero"),
    OpSpec("floor", lambda a: a.floor() + a, lambda a: a.floor() + a, domain="off_integers"),
    OpSpec("ceil", lambda a: a.ceil() + a, lambda a: a.ceil() + a, domain="off_integers"),
    OpSpec("round", lambda a: a.round() + a, lambda a: a.round() + a, domain="off_integers"),
    OpSpec("tan", lambda a: a.tan(), lambda a: a.tan(), domain="unit"),
    OpSpec("sinh", lambda a: a.sinh(), lambda a: a.sinh()),
    OpSpec("cosh", lambda a: a.cosh(), lambda a: a.cosh()),
    OpSpec("asin", lambda a: a.asin(), lambda a: a.asin(), domain="unit"),
    OpSpec("acos", lambda a: a.acos(), lambda a: a.acos(), domain="unit"),
    OpSpec("atan", lambda a: a.atan(), lambda a: a.atan()),
    OpSpec("asinh", lambda a: a.asinh(), lambda a: a.asinh()),
    OpSpec("acosh", lambda a: a.acosh(), lambda a: a.acosh(), domain="above_one"),
    OpSpec("atanh", lambda a: a.atanh(), lambda a: a.atanh(), domain="unit"),
    OpSpec("log2", lambda a: a.log2(), lambda a: a.log2(), domain="positive"),
    OpSpec("log10", lambda a: a.log10(), lambda a: a.log10(), domain="positive"),
    OpSpec("exp2", lambda a: a.exp2(), lambda a: a.exp2()),
    OpSpec("atan2", lambda a, b: a.atan2(b), lambda a, b: a.atan2(b), arity=2, domain="nonzero"),
    OpSpec("hypot", lambda a, b: a.hypot(b), lambda a, b: a.hypot(b), arity=2, domain="nonzero"),
    OpSpec("logaddexp", lambda a, b: a.logaddexp(b), lambda a, b: a.logaddexp(b), arity=2),
    OpSpec("xlogy", lambda a, b: a.xlogy(b), lambda a, b: a.xlogy(b), arity=2, domain="positive"),
    OpSpec("trunc", lambda a: a.trunc() + a, lambda a: a.trunc() + a, domain="off_integers"),
    OpSpec("add_alpha", lambda a, b: a.add(b, alpha=-2.5), lambda a, b: a.add(b, alpha=-2.5), arity=2),
    OpSpec("sub_alpha", lambda a, b: a.sub(b, alpha=3), lambda a, b: a.sub(b, alpha=3), arity=2),
    OpSpec("reciprocal", lambda a: a.reciprocal(), lambda a: a.reciprocal(), domain="nonzero"),
    OpSpec("square", lambda a: a.square(), lambda a: a.square()),
    OpSpec("maximum", lambda a, b: a.maximum(b), lambda a, b: a.maximum(b), arity=2),
    OpSpec("minimum", lambda a, b: a.minimum(b), lambda a, b: a.minimum(b), arity=2),
    OpSpec("clamp_tensors", lambda a, b: a.clamp(b - 0.5, b + 0.5), lambda a, b: a.clamp(b - 0.5, b + 0.5), arity=2),
    OpSpec("clamp_min_tensor", lambda a, b: a.clamp(min=b), lambda a, b: a.clamp(min=b), arity=2),
    OpSpec("clamp_max_tensor", lambda a, b: a.clamp(max=b), lambda a, b: a.clamp(max=b), arity=2),
    OpSpec("masked_fill", lambda a: a.masked_fill(a > 0, 0.5), lambda a: a.masked_fill(a > 0, 0.5), domain="nonzero"),
    # selection
    OpSpec("gather", lambda a, dim, index: a.gather(dim, _tg().tensor(index)),
           lambda a, dim, index: a.gather(dim, _as_torch(index)), params=_gather_params, min_dims=1),
    OpSpec("scatter_add", lambda a, dim, index: a.scatter_add(dim, _tg().tensor(index), a * a),
           lambda a, dim, index: a.scatter_add(dim, _as_torch(index), a * a), params=_scatter_params, min_dims=1),
    OpSpec("scatter", lambda a, dim, index: a.scatter(dim, _tg().tensor(index), a * a),
           lambda a, dim, index: a.scatter(dim, _as_torch(index), a * a), params=_scatter_unique_params, min_dims=1),
    OpSpec("index_select", lambda a, dim, index: a.index_select(dim, _tg().tensor(index)),
           lambda a, dim, index: a.index_select(dim, _as_torch(index)), params=_index_select_params, min_dims=1),
    OpSpec("pad_constant", _engine_pad, _torch_pad, params=_pad_params("constant"), min_dims=1),
    OpSpec("pad_reflect", _engine_pad, _torch_pad, params=_pad_params("reflect"), min_dims=1),
    OpSpec("pad_replicate", _engine_pad, _torch_pad, params=_pad_params("replicate"), min_dims=1),
    OpSpec("pad_circular", _engine_pad, _torch_pad, params=_pad_params("circular"), min_dims=1),
    OpSpec("sort", lambda a, **p: a.sort(**p).values, lambda a, **p: a.sort(**p).values, params=_sort_params,
           domain="distinct"),
    OpSpec("topk", lambda a, **p: a.topk(**p).values, lambda a, **p: a.topk(**p).values, params=_topk_params,
           domain="distinct"),
]


def _tg():
    import tinygrad_opt

    return tinygrad_opt


OPS = [
    OpSpec("add", lambda a, b: a + b, lambda a, b: a + b, arity=2),
    OpSpec("sub", lambda a, b: a - b, lambda a, b: a - b, arity=2),
    OpSpec("mul", lambda a, b: a * b, lambda a, b: a * b, arity=2),
    OpSpec("div", lambda a, b: a / b, lambda a, b: a / b, arity=2, domain="nonzero"),
    OpSpec("pow", lambda a, b: a ** b, lambda a, b: a ** b, arity=2, domain="positive"),
    OpSpec("pow_scalar", lambda a: a ** 3.0, lambda a: a ** 3.0),
    OpSpec("rsub_scalar", lambda a: 2.0 - a, lambda a: 2.0 - a),
    OpSpec("rdiv_scalar", lambda a: 2.0 / a, lambda a: 2.0 / a, domain="nonzero"),
    OpSpec("neg", lambda a: -a, lambda a: -a),
    OpSpec("matmul", lambda a, b: a @ b, lambda a, b: a @ b, arity=2, shapes="matmul"),
    OpSpec("exp", lambda a: a.exp(), lambda a: a.exp()),
    OpSpec("log", lambda a: a.log(), lambda a: a.log(), domain="positive"),
    OpSpec("sqrt", lambda a: a.sqrt(), lambda a: a.sqrt(), domain="positive"),
    OpSpec("abs", lambda a: a.abs(), lambda a: a.abs(), domain="nonzero"),
    OpSpec("relu", lambda a: a.relu(), lambda a: a.relu(), domain="nonzero"),
    OpSpec("sigmoid", lambda a: a.sigmoid(), lambda a: a.sigmoid()),
    OpSpec("tanh", lambda a: a.tanh(), lambda a: a.tanh()),
    OpSpec("clip", lambda a: a.clip(-0.5, 0.5), lambda a: a.clamp(-0.5, 0.5), domain="clipband"),
    OpSpec("softmax", lambda a, axis: a.softmax(axis), lambda a, axis: a.softmax(axis) if a.ndim else a.reshape(1).softmax(0).reshape(()),
           params=_softmax_axis),
    OpSpec("log_softmax", lambda a, axis: a.log_softmax(axis),
           lambda a, axis: a.log_softmax(axis) if a.ndim else a.reshape(1).log_softmax(0).reshape(()), params=_softmax_axis),
    OpSpec("sum", lambda a, **p: a.sum(**p), _torch_reduce("sum"), params=_axis_params),
    OpSpec("mean", lambda a, **p: a.mean(**p), _torch_reduce("mean"), params=_axis_params),
    OpSpec("amax_axis", lambda a, **p: a.amax(**p), _torch_reduce("max"), params=_axis_params, domain="distinct"),
    OpSpec("reshape", lambda a, shape: a.reshape(shape), lambda a, shape: a.reshape(shape), params=_reshape),
    OpSpec("permute", lambda a, axes: a.permute(*axes), lambda a, axes: a.permute(axes), params=_perm),
    OpSpec("T", lambda a: a.T, lambda a: a.permute(tuple(reversed(range(a.ndim))))),
    OpSpec("getitem", lambda a, index: a[index], lambda a, index: a[_torch_index(index)], params=_index, min_dims=1),
]
OPS += BREADTH_OPS
OPS_BY_NAME = {spec.name: spec for spec in OPS}


def values(rng: np.random.Generator, shape: tuple, domain: str) -> np.ndarray:
    """float64 values suited to the op's domain (kept away from kinks, poles and ties)."""
    x = rng.uniform(-2, 2, size=shape)
    if domain == "positive":
        x = rng.uniform(0.3, 2, size=shape)
    elif domain == "nonzero":
        x = np.sign(x + (x == 0)) * rng.uniform(0.2, 2, size=shape)
    elif domain == "clipband":  # stay clear of the clip edges at +-0.5
        x = np.where(np.abs(np.abs(x) - 0.5) < 0.05, x + 0.2, x)
    elif domain == "distinct":  # no ties, well separated, so max has one winner per slice
        x = (rng.permutation(x.size).reshape(shape) * 0.1 + rng.uniform(0, 0.01, size=shape))
    elif domain == "distinct_abs":  # distinct magnitudes away from 0, random signs (norms: no kinks, no ties)
        x = (rng.permutation(x.size).reshape(shape) * 0.1 + 0.2) * rng.choice([-1.0, 1.0], size=shape)
    elif domain == "off_integers":  # clear of the jumps of floor / ceil / round
        x = np.floor(x * 2) / 2 + 0.25
    elif domain == "unit":  # inside (-1, 1), clear of the poles of asin / acos / atanh
        x = x * 0.4
    elif domain == "above_one":  # clear of acosh's pole at 1
        x = rng.uniform(1.3, 3, size=shape)
    return np.asarray(x, dtype=np.float64)


@st.composite
def op_cases(draw, spec: OpSpec, max_side: int = 4):
    """(list of input shapes, params, seed) for one op."""
    if spec.shapes == "matmul":
        k = draw(st.integers(1, 3))
        a_kind = draw(st.sampled_from(["1d", "2d", "batched"]))
        b_kind = draw(st.sampled_from(["1d", "2d", "batched"]))
        n, m, batch = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 2))
        a = {"1d": (k,), "2d": (n, k), "batched": (batch, n, k)}[a_kind]
        b = {"1d": (k,), "2d": (k, m), "batched": (batch, k, m)}[b_kind]
        shapes = [a, b]
    elif spec.arity == 2:
        shapes = list(draw(mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=max_side)).input_shapes)
    else:
        shapes = [draw(array_shapes(min_dims=spec.min_dims, max_dims=3, min_side=1, max_side=max_side))]
    params = spec.params(shapes[0], draw)
    seed = draw(st.integers(0, 2**31 - 1))
    return shapes, params, seed


# ---- nnlayers: activations, normalisation, embedding and losses (nn.functional) ----------------------
def _nn_f():
    import tinygrad_opt.nn.functional as F  # noqa: PLC0415 - the table stays importable without tinygrad_opt.nn

    return F


def _halves(a):
    """a and 2a - 1 side by side on a new last dim (GLU's two halves), from the methods both libraries share."""
    pair = a.unsqueeze(-1).repeat(*([1] * a.ndim), 2)
    return pair * (pair.cumsum(-1) - a.unsqueeze(-1)) - 1  # [a * a - 1, a * 2a - 1]: two different halves


def _torch_f():
    import torch.nn.functional as TF  # noqa: PLC0415 - torch is imported lazily everywhere in this table

    return TF


def _like_zeros(a):
    import tinygrad_opt as tg  # noqa: PLC0415

    return tg.Tensor(np.zeros(a.shape, dtype=a.dtype), device=a.device)


def _class_rows(a):
    """A tensor of shape (n, ...) as (n, C) scores and class targets 0, 1, ... cycling over C."""
    n = a.shape[0]
    c = int(np.prod(a.shape[1:]))
    return (n, c), np.arange(n) % c


def _ce_engine(a, weight, ignore, smoothing):
    import tinygrad_opt as tg  # noqa: PLC0415

    (n, c), t = _class_rows(a)
    ignore = _ignored_class(ignore, c)
    w = tg.Tensor(np.linspace(0.5, 1.5, c).astype(a.dtype), device=a.device) if weight else None
    return _nn_f().cross_entropy(a.reshape(n, c), tg.Tensor(t, device=a.device), w, ignore_index=ignore,
                                 label_smoothing=smoothing)


def _ce_torch(a, weight, ignore, smoothing):
    import torch  # noqa: PLC0415

    (n, c), t = _class_rows(a)
    ignore = _ignored_class(ignore, c)
    w = torch.tensor(np.linspace(0.5, 1.5, c)).to(a.dtype) if weight else None
    return _torch_f().cross_entropy(a.reshape(n, c), torch.from_numpy(t), w, ignore_index=ignore,
                                    label_smoothing=smoothing)


def _ignored_class(ignore: bool, c: int) -> int:
    """The last class when asked and there are two or more (all targets ignored is a NaN loss), else -100."""
    return c - 1 if ignore and c > 1 else -100


def _ce_params(shape, draw):
    return {"weight": draw(st.booleans()), "ignore": draw(st.booleans()),
            "smoothing": draw(st.sampled_from([0.0, 0.2]))}


def _nll_params(shape, draw):
    return {"weight": draw(st.booleans()), "ignore": draw(st.booleans()),
            "reduction": draw(st.sampled_from(["mean", "sum", "none"]))}


def _nll_engine(a, weight, ignore, reduction):
    import tinygrad_opt as tg  # noqa: PLC0415

    (n, c), t = _class_rows(a)
    ignore = _ignored_class(ignore, c)
    w = tg.Tensor(np.linspace(0.5, 1.5, c).astype(a.dtype), device=a.device) if weight else None
    return _nn_f().nll_loss(a.reshape(n, c), tg.Tensor(t, device=a.device), w, ignore_index=ignore, reduction=reduction)


def _nll_torch(a, weight, ignore, reduction):
    import torch  # noqa: PLC0415

    (n, c), t = _class_rows(a)
    ignore = _ignored_class(ignore, c)
    w = torch.tensor(np.linspace(0.5, 1.5, c)).to(a.dtype) if weight else None
    return _torch_f().nll_loss(a.reshape(n, c), torch.from_numpy(t), w, ignore_index=ignore, reduction=reduction)


def _embedding_rows(a):
    n = a.shape[0]
    return np.array([0, n - 1, 0, n // 2])


def _embedding_engine(a):
    import tinygrad_opt as tg  # noqa: PLC0415

    return _nn_f().embedding(tg.Tensor(_embedding_rows(a), device=a.device), a.reshape(a.shape[0], -1))


def _embedding_torch(a):
    import torch  # noqa: PLC0415

    return _torch_f().embedding(torch.from_numpy(_embedding_rows(a)), a.reshape(a.shape[0], -1))


def _layer_norm_params(shape, draw):
    return {"k": draw(st.integers(1, len(shape))), "affine": draw(st.booleans())}


def _layer_norm_engine(a, k, affine):
    import tinygrad_opt as tg  # noqa: PLC0415

    shape = a.shape[a.ndim - k:]
    w = b = None
    if affine:
        w = tg.Tensor(np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape).astype(a.dtype), device=a.device)
        b = tg.Tensor(np.linspace(-1, 1, int(np.prod(shape))).reshape(shape).astype(a.dtype), device=a.device)
    return _nn_f().layer_norm(a, shape, w, b)


def _layer_norm_torch(a, k, affine):
    import torch  # noqa: PLC0415

    shape = tuple(a.shape[a.ndim - k:])
    w = b = None
    if affine:
        w = torch.tensor(np.linspace(0.5, 1.5, int(np.prod(shape))).reshape(shape)).to(a.dtype)
        b = torch.tensor(np.linspace(-1, 1, int(np.prod(shape))).reshape(shape)).to(a.dtype)
    # torch in float64, rounded to a's dtype: the engine computes float32 layer norms in float64, and on
    # short normalized axes torch's own float32 gradient is off by more than the float32 tolerance
    wide = [None if t is None else t.double() for t in (w, b)]
    return _torch_f().layer_norm(a.double(), shape, *wide).to(a.dtype)


def _reduction(shape, draw):
    return {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}


OPS += [
    OpSpec("leaky_relu", lambda a: _nn_f().leaky_relu(a, 0.1), lambda a: _torch_f().leaky_relu(a, 0.1),
           domain="nonzero"),
    OpSpec("hardtanh", lambda a: _nn_f().hardtanh(a, -0.5, 0.5), lambda a: _torch_f().hardtanh(a, -0.5, 0.5),
           domain="clipband"),
    OpSpec("relu6", lambda a: _nn_f().relu6(a * 2.5), lambda a: _torch_f().relu6(a * 2.5), domain="nonzero"),
    OpSpec("elu", lambda a: _nn_f().elu(a, 1.5), lambda a: _torch_f().elu(a, 1.5), domain="nonzero"),
    OpSpec("selu", lambda a: _nn_f().selu(a), lambda a: _torch_f().selu(a), domain="nonzero"),
    OpSpec("gelu", lambda a: _nn_f().gelu(a), lambda a: _torch_f().gelu(a)),
    OpSpec("gelu_tanh", lambda a: _nn_f().gelu(a, approximate="tanh"),
           lambda a: _torch_f().gelu(a, approximate="tanh")),
    OpSpec("silu", lambda a: _nn_f().silu(a), lambda a: _torch_f().silu(a)),
    OpSpec("mish", lambda a: _nn_f().mish(a), lambda a: _torch_f().mish(a)),
    OpSpec("softplus", lambda a: _nn_f().softplus(a * 4, beta=2.0, threshold=6.0),
           lambda a: _torch_f().softplus(a * 4, beta=2.0, threshold=6.0), domain="nonzero"),
    OpSpec("logsigmoid", lambda a: _nn_f().logsigmoid(a * 4), lambda a: _torch_f().logsigmoid(a * 4)),
    OpSpec("layer_norm", _layer_norm_engine, _layer_norm_torch, params=_layer_norm_params, min_dims=1),
    OpSpec("embedding", _embedding_engine, _embedding_torch, min_dims=1),  # padding_idx: tests/test_nn_layers.py
    OpSpec("nll_loss", _nll_engine, _nll_torch, params=_nll_params, min_dims=2),
    OpSpec("cross_entropy_general", _ce_engine, _ce_torch, params=_ce_params, min_dims=2),
    OpSpec("l1_loss", lambda a, reduction: _nn_f().l1_loss(a, _like_zeros(a), reduction=reduction),
           lambda a, reduction: _torch_f().l1_loss(a, a.detach() * 0, reduction=reduction), domain="nonzero",
           params=_reduction),
    OpSpec("smooth_l1_loss",
           lambda a, reduction: _nn_f().smooth_l1_loss(a, _like_zeros(a), reduction=reduction, beta=0.7),
           lambda a, reduction: _torch_f().smooth_l1_loss(a, a.detach() * 0, reduction=reduction, beta=0.7),
           params=_reduction),
    OpSpec("huber_loss", lambda a, reduction: _nn_f().huber_loss(a, _like_zeros(a), reduction=reduction, delta=0.7),
           lambda a, reduction: _torch_f().huber_loss(a, a.detach() * 0, reduction=reduction, delta=0.7),
           params=_reduction),
    OpSpec("binary_cross_entropy",
           lambda a, b, reduction="mean": _nn_f().binary_cross_entropy(*_nn_bce_args(a, b), reduction=reduction),
           lambda a, b, reduction="mean": _torch_f().binary_cross_entropy(*_torch_bce_args(a, b), reduction=reduction),
           arity=2, params=_reduction),
]
OPS_BY_NAME = {spec.name: spec for spec in OPS}


def _nn_bce_args(a, b):
    """Probabilities sigmoid(a) and targets sigmoid(b), both broadcast to a common shape (BCE wants equal shapes)."""
    import tinygrad_opt as tg  # noqa: PLC0415

    shape = np.broadcast_shapes(a.shape, b.shape)
    ones = tg.Tensor(np.ones(shape, dtype=a.dtype), device=a.device)
    return a.sigmoid() * ones, b.sigmoid() * ones


def _torch_bce_args(a, b):
    return torch_broadcast(a.sigmoid(), b.sigmoid())


def torch_broadcast(a, b):
    import torch  # noqa: PLC0415

    return torch.broadcast_tensors(a, b)


# core: copies and remainder (tensor.py's operators and casts)
OPS += [
    OpSpec("clone", lambda a: a.clone(), lambda a: a.clone()),
    OpSpec("remainder", lambda a, b: a % b, lambda a, b: a % b, arity=2, domain="positive"),
    OpSpec("remainder_scalar", lambda a: a % 0.7, lambda a: a % 0.7, domain="positive"),
    OpSpec("fmod", lambda a, b: a.fmod(b), lambda a, b: a.fmod(b), arity=2, domain="positive"),
]
OPS_BY_NAME.update({spec.name: spec for spec in OPS})


# core: in-place ops and x[idx] = v recorded on a non-leaf (the same code runs on both engines)
def _setitem_region(a):
    h = a * 1
    h[..., :1] = a[..., -1:] * 2
    return h


OPS += [
    OpSpec("setitem", _setitem_region, _setitem_region, min_dims=1),
    OpSpec("copy_", lambda a: (a * 1).copy_(a * 3), lambda a: (a * 1).copy_(a * 3)),
    OpSpec("mul_", lambda a: (a * 1).mul_(a), lambda a: (a * 1).mul_(a)),
    OpSpec("add_alpha", lambda a: (a * 2).add_(a, alpha=-0.5), lambda a: (a * 2).add_(a, alpha=-0.5)),
]
OPS_BY_NAME.update({spec.name: spec for spec in OPS})


# cnnperf: batch norm over channel blocks (ops.BatchNormChannels), plain and with its fused ReLU
def _two_images(a, module):
    """(2, C, L) from a: a and 0.5 * a + 1 as two images, a's first axis (if any) the channels."""
    pair = module.stack([a, a * 0.5 + 1.0])
    return pair.reshape(2, a.shape[0] if a.ndim else 1, -1)


def _batch_norm_engine(a, relu=False):
    import tinygrad_opt as tg  # noqa: PLC0415
    from tinygrad_opt.nn.functional_image import batch_norm_relu  # noqa: PLC0415

    x = _two_images(a, tg)
    c = x.shape[1]
    w = tg.Tensor(np.linspace(0.5, 1.5, c), device=a.device).to(a.dtype)
    b = tg.Tensor(np.linspace(-0.2, 0.3, c), device=a.device).to(a.dtype)
    return batch_norm_relu(x, None, None, w, b, training=True, relu=relu)


def _batch_norm_torch(a, relu=False):
    import torch  # noqa: PLC0415

    # in float64, rounded to a's dtype: the engine computes in float64 per element, and with two
    # values per channel torch's own float32 gradient is off by more than the float32 tolerance.
    # The two images are built in a's dtype first, as the engine builds them: with a near 2 the two
    # values of a channel (a, 0.5 a + 1) nearly cancel, and building them in float64 instead would
    # normalise a different difference
    x = _two_images(a, torch).double()
    c = x.shape[1]
    w = torch.tensor(np.linspace(0.5, 1.5, c))
    b = torch.tensor(np.linspace(-0.2, 0.3, c))
    y = _torch_f().batch_norm(x, None, None, w, b, training=True)
    return (y.relu() if relu else y).to(a.dtype)


OPS += [
    OpSpec("batch_norm_train", _batch_norm_engine, _batch_norm_torch),
    OpSpec("batch_norm_relu", lambda a: _batch_norm_engine(a, relu=True), lambda a: _batch_norm_torch(a, relu=True),
           domain="nonzero"),
]
OPS_BY_NAME.update({spec.name: spec for spec in OPS})


# ops with their own backward where a composition's gradient differed from torch's at the edges
OPS += [
    OpSpec("lerp", lambda a, b: a.lerp(b, 0.3), lambda a, b: a.lerp(b, 0.3), arity=2),
    OpSpec("lerp_large_weight", lambda a, b: a.lerp(b, 0.8), lambda a, b: a.lerp(b, 0.8), arity=2),
    OpSpec("lerp_tensor_weight", lambda a, b: a.lerp(b, a * b), lambda a, b: a.lerp(b, a * b), arity=2),
    OpSpec("copysign", lambda a, b: a.copysign(b), lambda a, b: a.copysign(b), arity=2, domain="nonzero"),
    OpSpec("logit", lambda a: (a * 0.5 + 0.5).logit(), lambda a: (a * 0.5 + 0.5).logit(), domain="unit"),
    OpSpec("logit_eps", lambda a: (a * 0.5 + 0.5).logit(eps=0.05), lambda a: (a * 0.5 + 0.5).logit(eps=0.05),
           domain="unit"),
    OpSpec("hardswish", lambda a: _nn_f().hardswish(a * 2), lambda a: _torch_f().hardswish(a * 2),
           domain="nonzero"),
    # alpha 0.5: torch's float64 celu backward rounds 1 / alpha to float32, exact for a power of 2
    OpSpec("celu", lambda a: _nn_f().celu(a, 0.5), lambda a: _torch_f().celu(a, 0.5), domain="nonzero"),
    OpSpec("cosine_similarity", lambda a, b: _nn_f().cosine_similarity(a, b, dim=-1),
           lambda a, b: _torch_f().cosine_similarity(a, b, dim=-1), arity=2, domain="nonzero", min_dims=1,
           float32_atol=1e-5),  # a one-element axis: cos is +-1, its gradient 0 up to float32 roundoff of |x|^-1 size
]
OPS_BY_NAME.update({spec.name: spec for spec in OPS})


# order statistics, NaN-skipping reductions and the error functions
def _kth_params(shape, draw):
    n = max(len(shape), 1)
    dim = draw(st.integers(-n, n - 1))
    size = shape[dim] if shape else 1
    return {"k": draw(st.integers(1, size)), "dim": dim, "keepdim": draw(st.booleans())}


OPS += [
    OpSpec("median_all", lambda a: a.median(), lambda a: a.median(), domain="distinct"),
    OpSpec("nanmedian_all", lambda a: a.nanmedian(), lambda a: a.nanmedian(), domain="distinct"),
    OpSpec("median_dim", lambda a, **p: a.median(**p).values, lambda a, **p: a.median(**p).values,
           params=_reduce(tuples=False, none=False), domain="distinct"),
    OpSpec("nanmedian_dim", lambda a, **p: a.nanmedian(**p).values, lambda a, **p: a.nanmedian(**p).values,
           params=_reduce(tuples=False, none=False), domain="distinct"),
    OpSpec("kthvalue", lambda a, **p: a.kthvalue(**p).values, lambda a, **p: a.kthvalue(**p).values,
           params=_kth_params, domain="distinct"),
    OpSpec("mode", lambda a, **p: a.mode(**p).values, lambda a, **p: a.mode(**p).values,
           params=_reduce(tuples=False, none=False), domain="distinct"),
    OpSpec("cummax", lambda a, dim: a.cummax(dim).values, lambda a, dim: a.cummax(dim).values, params=_one_dim,
           domain="distinct"),
    OpSpec("cummin", lambda a, dim: a.cummin(dim).values, lambda a, dim: a.cummin(dim).values, params=_one_dim,
           domain="distinct"),
    OpSpec("logcumsumexp", lambda a, dim: a.logcumsumexp(dim), lambda a, dim: a.logcumsumexp(dim), params=_one_dim),
    OpSpec("nansum", lambda a, **p: a.nansum(**p), lambda a, **p: a.nansum(**p), params=_reduce()),
    OpSpec("nanmean", lambda a, **p: a.nanmean(**p), lambda a, **p: a.nanmean(**p), params=_reduce()),
    OpSpec("erf", lambda a: a.erf(), lambda a: a.erf()),
    OpSpec("erfc", lambda a: a.erfc(), lambda a: a.erfc()),
    OpSpec("erfinv", lambda a: a.erfinv(), lambda a: a.erfinv(), domain="unit"),
]
OPS_BY_NAME.update({spec.name: spec for spec in OPS})

OPS += [
    OpSpec("hardsigmoid", lambda a: _nn_f().hardsigmoid(a * 2), lambda a: _torch_f().hardsigmoid(a * 2),
           domain="nonzero"),
]
OPS_BY_NAME.update({spec.name: spec for spec in OPS})
OPS += [
    OpSpec("hardshrink", lambda a: _nn_f().hardshrink(a, 0.3), lambda a: _torch_f().hardshrink(a, 0.3),
           domain="nonzero"),
    OpSpec("softshrink", lambda a: _nn_f().softshrink(a, 0.1), lambda a: _torch_f().softshrink(a, 0.1),
           domain="nonzero"),
    OpSpec("glu", lambda a: _nn_f().glu(_halves(a), -1), lambda a: _torch_f().glu(_halves(a), -1)),
]
OPS_BY_NAME.update({spec.name: spec for spec in OPS})


# quantile / nanquantile: q a number, a 0-d or 1-d constant tensor, or computed from the input (its gradient)
_QUANTILE_QS = [0.0, 0.3, 0.75, 1.0, "scalar_tensor", "vector", "from_input"]


def _quantile_params(shape, draw):
    ndim = len(shape)
    return {"q": draw(st.sampled_from(_QUANTILE_QS)),
            "dim": draw(st.sampled_from([None] + list(range(-max(ndim, 1), max(ndim, 1))))),
            "keepdim": draw(st.booleans()),
            "interpolation": draw(st.sampled_from(["linear", "lower", "higher", "midpoint", "nearest"]))}


def _quantile_q(a, q, constant):
    """q as the row asks: a number, a constant tensor of a's dtype, or (from_input) one or two values in
    (0.1, 0.9) computed from a's first elements, so that the gradient reaches a through q too."""
    if q == "from_input":
        return a.reshape(-1)[:2].tanh() * 0.4 + 0.5
    if q == "scalar_tensor":
        return constant(0.4)
    if q == "vector":
        return constant([0.9, 0.0, 0.55])
    return q


def _engine_quantile(a, q, name="quantile", **p):
    import tinygrad_opt as tg  # noqa: PLC0415

    q = _quantile_q(a, q, lambda v: tg.tensor(v, dtype=a.dtype, device=a.device))
    return getattr(a, name)(q, **p)


def _torch_quantile(a, q, name="quantile", **p):
    import torch  # noqa: PLC0415

    q = _quantile_q(a, q, lambda v: torch.tensor(v, dtype=a.dtype))
    return getattr(a, name)(q, **p)


OPS += [
    OpSpec("quantile", _engine_quantile, _torch_quantile, params=_quantile_params, domain="distinct"),
    OpSpec("nanquantile", lambda a, **p: _engine_quantile(a, name="nanquantile", **p),
           lambda a, **p: _torch_quantile(a, name="nanquantile", **p), params=_quantile_params, domain="distinct"),
]
OPS_BY_NAME.update({spec.name: spec for spec in OPS})


# prelu with a weight computed from the input (one slope, or one per channel of dim 1), so the gradient
# checks reach the weight; rrelu in eval (training draws from each library's own generator:
# tests/test_parametric_rectifier_torch.py)
def _prelu_weight(a):
    if a.ndim >= 2:
        return a.reshape(a.shape[0], a.shape[1], -1)[0, :, 0] * 0.3 + 0.2
    return a.reshape(-1)[:1] * 0.3 + 0.2


OPS += [
    OpSpec("prelu", lambda a: _nn_f().prelu(a, _prelu_weight(a)), lambda a: _torch_f().prelu(a, _prelu_weight(a)),
           domain="nonzero"),
    OpSpec("rrelu_eval", lambda a: _nn_f().rrelu(a, 0.1, 0.4), lambda a: _torch_f().rrelu(a, 0.1, 0.4),
           domain="nonzero"),
]
OPS_BY_NAME.update({spec.name: spec for spec in OPS})
