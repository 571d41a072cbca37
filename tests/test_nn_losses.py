"""Every loss and its options next to torch 2.13: values and gradients in float64, errors for bad input."""
import itertools
import warnings

import numpy as np
import pytest

import tinygrad_opt as tg
import tinygrad_opt.nn.functional as F
from tinygrad_opt import nn
from tinygrad_opt.errors import ShapeError
from tinygrad_opt.ops.loss import known_target_range

torch = pytest.importorskip("torch")
TF = torch.nn.functional
REDUCTIONS = ["mean", "sum", "none"]


def pair(array, requires_grad=True):
    array = np.asarray(array, dtype=np.float64)
    return tg.Tensor(array, requires_grad=requires_grad), torch.tensor(array, requires_grad=requires_grad)


def check(out, tout, inputs, tol=None):
    """Same value; same gradients of every (ours, theirs) input pair for one random upstream gradient."""
    tol = tol or dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **tol)
    assert out.shape == tuple(tout.shape) and out.dtype == np.float64
    g = np.random.default_rng(0).standard_normal(tuple(tout.shape))
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    for ours, theirs in inputs:
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), **tol)


CE_CASES = list(itertools.product(
    [(5, 4), (3, 4, 2, 3), (4,)],  # (N, C), (N, C, d1, d2), unbatched (C,)
    [False, True],  # class weights
    [-100, 1],  # ignore_index
    [0.0, 0.25],  # label_smoothing
    REDUCTIONS,
))


@pytest.mark.parametrize("shape,weighted,ignore_index,smoothing,reduction", CE_CASES)
def test_cross_entropy_class_indices_match_torch(shape, weighted, ignore_index, smoothing, reduction):
    rng = np.random.default_rng(sum(shape))
    c = shape[1] if len(shape) > 1 else shape[0]
    target_shape = (shape[0],) + shape[2:] if len(shape) > 1 else ()
    target = rng.integers(0, c, target_shape)
    if target.ndim:
        target.reshape(-1)[:2] = 1  # some targets hit the ignored class
    z, tz = pair(rng.standard_normal(shape) * 2)
    weight = rng.uniform(0.2, 2.0, c) if weighted else None
    out = F.cross_entropy(z, tg.Tensor(target), None if weight is None else tg.Tensor(weight),
                          ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)
    tout = TF.cross_entropy(tz, torch.from_numpy(target), None if weight is None else torch.from_numpy(weight),
                            ignore_index=ignore_index, reduction=reduction, label_smoothing=smoothing)
    check(out, tout, [(z, tz)])
    module = nn.CrossEntropyLoss(None if weight is None else tg.Tensor(weight), ignore_index=ignore_index,
                                 reduction=reduction, label_smoothing=smoothing)
    np.testing.assert_allclose(module(z, target).numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2), (4,)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_probability_targets_match_torch(shape, weighted, smoothing, reduction):
    rng = np.random.default_rng(len(shape))
    class_axis = 1 if len(shape) > 1 else 0
    probs = rng.dirichlet(np.ones(shape[class_axis]), size=int(np.prod(shape)) // shape[class_axis])
    probs = np.moveaxis(probs.reshape(tuple(np.delete(shape, class_axis)) + (shape[class_axis],)), -1, class_axis)
    z, tz = pair(rng.standard_normal(shape))
    q, tq = pair(probs)
    weight = rng.uniform(0.2, 2.0, shape[class_axis]) if weighted else None
    out = F.cross_entropy(z, q, weight, reduction=reduction, label_smoothing=smoothing)
    tout = TF.cross_entropy(tz, tq, None if weight is None else torch.from_numpy(weight), reduction=reduction,
                            label_smoothing=smoothing)
    check(out, tout, [(z, tz), (q, tq)])


def test_cross_entropy_fast_path_is_one_fused_node_and_general_path_agrees():
    rng = np.random.default_rng(7)
    logits, target = rng.standard_normal((6, 5)), rng.integers(0, 5, 6)
    fast = F.cross_entropy(tg.Tensor(logits, requires_grad=True), target)
    assert type(fast._ctx).__name__ == "CrossEntropy"
    z = tg.Tensor(logits, requires_grad=True)
    general = F.cross_entropy(z, target, tg.Tensor(np.ones(5)))  # unit weights: the general path
    assert type(general._ctx).__name__ == "NLLLoss"
    np.testing.assert_allclose(general.numpy(), fast.numpy(), rtol=1e-12)
    with known_target_range(target, 0, 4):  # the Trainer's promise keeps the fused path
        assert type(F.cross_entropy(z, target)._ctx).__name__ == "CrossEntropy"


def test_cross_entropy_all_targets_ignored_is_nan_with_zero_gradient_like_torch():
    z, tz = pair(np.random.default_rng(1).standard_normal((3, 4)))
    target = np.full(3, -100)
    out, tout = F.cross_entropy(z, target, label_smoothing=0.1), TF.cross_entropy(tz, torch.from_numpy(target),
                                                                                   label_smoothing=0.1)
    assert np.isnan(out.item()) and np.isnan(tout.item())
    out.backward()
    tout.backward()
    np.testing.assert_array_equal(z.grad.numpy(), tz.grad.numpy())
    assert np.all(z.grad.numpy() == 0)


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4), (3,)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("ignore_index", [-100, 2])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_matches_torch(shape, weighted, ignore_index, reduction):
    rng = np.random.default_rng(3)
    c = shape[1] if len(shape) > 1 else shape[0]
    target = rng.integers(0, c, (shape[0],) + shape[2:] if len(shape) > 1 else ())
    x, tx = pair(rng.standard_normal(shape))
    weight = rng.uniform(0.2, 2.0, c) if weighted else None
    out = nn.NLLLoss(None if weight is None else tg.Tensor(weight), ignore_index=ignore_index, reduction=reduction)(
        x, tg.Tensor(target))
    tout = torch.nn.NLLLoss(None if weight is None else torch.from_numpy(weight), ignore_index=ignore_index,
                            reduction=reduction)(tx, torch.from_numpy(target))
    check(out, tout, [(x, tx)])


def test_weighted_losses_keep_weight_as_a_buffer_like_torch():
    for name in ("CrossEntropyLoss", "NLLLoss", "BCELoss", "BCEWithLogitsLoss"):
        ours = getattr(nn, name)(weight=tg.Tensor([1.0, 2.0]))
        theirs = getattr(torch.nn, name)(weight=torch.tensor([1.0, 2.0]))
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert list(getattr(nn, name)().state_dict()) == list(getattr(torch.nn, name)().state_dict())


@pytest.mark.parametrize("name,options", [
    ("l1_loss", {}), ("smooth_l1_loss", {}), ("smooth_l1_loss", {"beta": 0.3}), ("smooth_l1_loss", {"beta": 0.0}),
    ("huber_loss", {}), ("huber_loss", {"delta": 0.4}), ("mse_loss", {}),
])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_regression_losses_match_torch(name, options, reduction):
    rng = np.random.default_rng(5)
    x, tx = pair(rng.standard_normal((4, 3)))
    y, ty = pair(rng.standard_normal((4, 3)))
    x.data[0, 0], y.data[0, 0] = 1.0, 1.0  # d == 0: torch's gradient there
    tx.data[0, 0], ty.data[0, 0] = 1.0, 1.0
    out, tout = getattr(F, name)(x, y, reduction=reduction, **options), getattr(TF, name)(tx, ty, reduction=reduction,
                                                                                            **options)
    check(out, tout, [(x, tx), (y, ty)])
    module = {"l1_loss": "L1Loss", "smooth_l1_loss": "SmoothL1Loss", "huber_loss": "HuberLoss", "mse_loss": "MSELoss"}
    layer = getattr(nn, module[name])(reduction=reduction, **options)
    np.testing.assert_allclose(layer(x, y).numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["l1_loss", "mse_loss", "huber_loss"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_weighted_regression_losses_match_torch(name, reduction):
    rng = np.random.default_rng(6)
    x, tx = pair(rng.standard_normal((3, 4)))
    y, ty = pair(rng.standard_normal((3, 4)))
    w, tw = pair(rng.uniform(0.1, 2.0, (3, 4)))
    out = getattr(F, name)(x, y, reduction=reduction, weight=w)
    tout = getattr(TF, name)(tx, ty, reduction=reduction, weight=tw)
    check(out, tout, [(x, tx), (y, ty), (w, tw)])


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_matches_torch_including_clamped_logs(weighted, reduction):
    rng = np.random.default_rng(8)
    probs = rng.uniform(0.01, 0.99, (4, 3))
    probs[0, 0], probs[0, 1] = 0.0, 1.0  # log clamped at -100, as torch
    x, tx = pair(probs)
    y, ty = pair(rng.uniform(0, 1, (4, 3)), requires_grad=False)
    weight = rng.uniform(0.5, 2.0, (3,)) if weighted else None
    out = nn.BCELoss(None if weight is None else tg.Tensor(weight), reduction=reduction)(x, y)
    tout = torch.nn.BCELoss(None if weight is None else torch.from_numpy(weight), reduction=reduction)(tx, ty)
    check(out, tout, [(x, tx)])


def test_bce_target_gradient_matches_torch():
    x, tx = pair(np.array([0.2, 0.5, 0.9]), requires_grad=False)
    y, ty = pair(np.array([0.1, 0.6, 1.0]))
    check(F.binary_cross_entropy(x, y), TF.binary_cross_entropy(tx, ty), [(y, ty)])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_weight_and_pos_weight_match_torch(reduction):
    rng = np.random.default_rng(9)
    x, tx = pair(rng.standard_normal((4, 3)) * 5)
    y, ty = pair(rng.uniform(0, 1, (4, 3)))
    weight, pos_weight = rng.uniform(0.5, 2, (3,)), rng.uniform(0.5, 3, (3,))
    out = nn.BCEWithLogitsLoss(tg.Tensor(weight), reduction=reduction, pos_weight=tg.Tensor(pos_weight))(x, y)
    tout = torch.nn.BCEWithLogitsLoss(torch.from_numpy(weight), reduction=reduction,
                                      pos_weight=torch.from_numpy(pos_weight))(tx, ty)
    check(out, tout, [(x, tx), (y, ty)])


@pytest.mark.parametrize("reduction", ["batchmean", "sum", "none", "mean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_loss_module_matches_torch(reduction, log_target):
    rng = np.random.default_rng(10)
    x, tx = pair(np.log(rng.dirichlet(np.ones(4), 3)))
    target = rng.dirichlet(np.ones(4), 3)
    target = np.log(target) if log_target else target
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reduction="mean" warns, in both
        out = nn.KLDivLoss(reduction=reduction, log_target=log_target)(x, target)
        tout = torch.nn.KLDivLoss(reduction=reduction, log_target=log_target)(tx, torch.from_numpy(target))
    check(out, tout, [(x, tx)])


def test_deprecated_size_average_and_reduce_map_like_torch():
    x, tx = pair(np.random.default_rng(2).standard_normal((3, 2)))
    y = np.zeros((3, 2))
    for size_average, reduce in [(False, None), (None, False), (True, True)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = nn.L1Loss(size_average, reduce)
            theirs = torch.nn.L1Loss(size_average, reduce)
        assert ours.reduction == theirs.reduction
        np.testing.assert_allclose(ours(x, y).numpy(), theirs(tx, torch.from_numpy(y)).detach().numpy())
    with pytest.warns(UserWarning, match="reduction='sum'"):
        nn.MSELoss(size_average=False)


# ---- bad input -------------------------------------------------------------------------
@pytest.mark.parametrize("make_loss", [
    lambda: F.cross_entropy(tg.randn(3, 4), tg.Tensor([0, 7, 1])),
    lambda: F.cross_entropy(tg.randn(2, 4, 3), tg.Tensor(np.array([[0, 1, 7], [0, 0, 0]]))),
    lambda: F.nll_loss(tg.randn(3, 4), tg.Tensor([0, 7, 1]), ignore_index=1),
])
def test_target_out_of_range_is_an_index_error_naming_the_value(make_loss):
    with pytest.raises(IndexError, match=r"target 7 is out of range for 4 classes") as info:
        make_loss()
    assert isinstance(info.value, ValueError)  # what the engine raised before: both work


def test_ignore_index_outside_the_classes_is_allowed_but_other_negatives_are_not():
    assert np.isfinite(F.cross_entropy(tg.randn(3, 4), tg.Tensor([0, -100, 1])).item())
    assert np.isfinite(F.cross_entropy(tg.randn(3, 4), tg.Tensor([0, -1, 1]), ignore_index=-1).item())
    with pytest.raises(IndexError, match=r"target -1 is out of range.*or equal ignore_index=-100"):
        F.cross_entropy(tg.randn(3, 4), tg.Tensor([0, -1, -100]))


@pytest.mark.parametrize("call,error,match", [
    (lambda: F.cross_entropy(tg.randn(3, 4), tg.Tensor([0, 1, 2]), tg.ones(3)), ShapeError,
     r"weight must have shape \(4,\), one per class, got \(3,\)"),
    (lambda: F.cross_entropy(tg.randn(3, 4), tg.rand(3, 4), ignore_index=0), ValueError,
     "ignore_index=0 is not supported for class-probability targets"),
    (lambda: F.nll_loss(tg.randn(3, 4), tg.Tensor([0, 1])), ShapeError, r"targets of shape \(3,\).*got \(2,\)"),
    (lambda: F.nll_loss(tg.Tensor([[0, 1]]), tg.Tensor([0])), TypeError, "nll_loss: input must be a floating-point"),
    (lambda: F.binary_cross_entropy(tg.Tensor([0.5, 1.5]), tg.Tensor([1.0, 0.0])), ValueError,
     r"between 0 and 1, got values in \[0.5, 1.5\]"),
    (lambda: F.binary_cross_entropy(tg.Tensor([0.5, 0.5]), tg.Tensor([1.0])), ShapeError, "must be the same as"),
    (lambda: F.smooth_l1_loss(tg.randn(2), tg.randn(2), beta=-1.0), ValueError, "beta must be >= 0, got -1.0"),
    (lambda: nn.HuberLoss(delta=0.0), ValueError, "delta must be > 0, got 0.0"),
    (lambda: F.l1_loss(tg.randn(2, 3), tg.randn(2, 3), weight=tg.ones(3)), ValueError,
     "weights and input must have the same size"),
    (lambda: nn.L1Loss(reduction="avg"), ValueError, "reduction='avg' is not one of"),
    (lambda: nn.KLDivLoss(reduction="avg"), ValueError, "reduction='avg' is not one of"),
])
def test_loss_errors_name_the_problem(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("dtype", ["int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", ">i8", ">u4"])
def test_class_target_check_takes_every_integer_dtype_and_names_the_index_outside(dtype):
    """The one-reduction check (indices viewed as unsigned) and the min/max it falls back on agree."""
    from tinygrad_opt.ops.loss import check_class_targets  # noqa: PLC0415

    good = np.array([0, 3, 9, 2, 9, 0], dtype)
    assert check_class_targets(good, 10, "cross_entropy") is True
    assert check_class_targets(good[::2], 10, "cross_entropy") is True  # strided
    with pytest.raises(IndexError, match="target 10 is out of range for 10 classes"):
        check_class_targets(np.array([0, 10, 3], dtype), 10, "cross_entropy")
    if np.dtype(dtype).kind == "i":
        with pytest.raises(IndexError, match="target -1 is out of range for 10 classes"):
            check_class_targets(np.array([0, -1, 3], dtype), 10, "cross_entropy")
        assert check_class_targets(np.array([0, -100, 3], dtype), 10, "cross_entropy", ignore_index=-100) is False
