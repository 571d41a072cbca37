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
    OpSpec("max", lambda a, **p: a.max(**p), _torch_reduce("max"), params=_axis_params, domain="distinct"),
    OpSpec("reshape", lambda a, shape: a.reshape(shape), lambda a, shape: a.reshape(shape), params=_reshape),
    OpSpec("transpose", lambda a, axes: a.transpose(*axes), lambda a, axes: a.permute(axes), params=_perm),
    OpSpec("T", lambda a: a.T, lambda a: a.permute(tuple(reversed(range(a.ndim))))),
    OpSpec("getitem", lambda a, index: a[index], lambda a, index: a[_torch_index(index)], params=_index, min_dims=1),
]
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
]
OPS_BY_NAME.update({spec.name: spec for spec in OPS})
