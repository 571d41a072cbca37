"""The Tensor op surface against torch where gradients are not the point: integer and bool ops,
ties, named tuples, argument spellings, factories and error messages (op_specs.py drives the
float gradients)."""
import numpy as np
import pytest

import tinygrad_opt as tg

torch = pytest.importorskip("torch")


def same(ours, theirs):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert ours.shape == tuple(theirs.shape)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    np.testing.assert_array_equal(ours.numpy(), theirs)


# ---- torch's meanings where NumPy's differ ----------------------------------------
def test_transpose_swaps_two_dims_and_permute_permutes():
    data = np.arange(24.0).reshape(2, 3, 4)
    x, t = tg.Tensor(data), torch.tensor(data)
    same(x.transpose(0, 1), t.transpose(0, 1))
    same(tg.Tensor(data[0]).transpose(0, 1), t[0].transpose(0, 1))  # 2-D: swapped, not unchanged
    same(x.transpose(-1, 0), t.transpose(-1, 0))
    same(x.permute(2, 0, 1), t.permute(2, 0, 1))
    same(tg.permute(x, (1, 2, 0)), torch.permute(t, (1, 2, 0)))
    same(x.mT, t.mT)
    same(tg.Tensor(data[0]).T, t[0].T)
    same(tg.transpose(x, 1, 2), torch.transpose(t, 1, 2))


def test_size_dim_numel_are_methods():
    x = tg.zeros(2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.dim() == 3 and x.numel() == 24 and tg.numel(x) == 24
    with pytest.raises(IndexError, match="size: dim 3 is out of range"):
        x.size(3)


def test_reductions_take_dim_keepdim_positionally_and_numpy_spellings():
    data = np.arange(24.0).reshape(2, 3, 4)
    x, t = tg.Tensor(data), torch.tensor(data)
    same(x.sum(1), t.sum(1))
    same(x.sum(1, True), t.sum(1, True))
    same(x.sum(dim=(0, 2), keepdim=True), t.sum(dim=(0, 2), keepdim=True))
    same(x.sum(axis=1, keepdims=True), t.sum(1, keepdim=True))
    same(x.mean(dim=-1), t.mean(dim=-1))
    same(tg.sum(x, dim=0), torch.sum(t, dim=0))
    same(x.sum(dim=()), t.sum(dim=()))  # torch: an empty dim tuple reduces every dim
    with pytest.raises(TypeError, match="both dim= and axis="):
        x.sum(dim=0, axis=1)


def test_zero_dim_tensors_accept_dim_0_and_minus_1():
    x, t = tg.Tensor(3.0), torch.tensor(3.0)
    for name in ("sum", "mean", "amax", "amin", "logsumexp", "cumsum", "prod", "argmax"):
        for d in (0, -1):
            same(getattr(x, name)(d), getattr(t, name)(d))
    values, indices = x.max(0)
    same(values, t.max(0).values)
    same(indices, t.max(0).indices)
    with pytest.raises(IndexError):
        x.sum(1)


def test_max_min_with_dim_return_values_and_first_index_among_ties():
    data = np.array([[1.0, 3.0, 3.0, 2.0], [2.0, 2.0, 2.0, 1.0]])
    for op in ("max", "min"):
        x = tg.Tensor(data, requires_grad=True)
        t = torch.tensor(data, requires_grad=True)
        ours, theirs = getattr(x, op)(dim=1), getattr(t, op)(dim=1)
        assert type(ours).__name__ == op and ours._fields == ("values", "indices")
        same(ours.indices, theirs.indices)
        values, _ = ours  # unpacks like torch's named tuple
        same(values, theirs.values)
        values.sum().backward()
        theirs.values.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())  # routed to the selected index only
        kept = getattr(tg.Tensor(data), op)(1, keepdim=True)
        assert kept.values.shape == (2, 1) and kept.indices.shape == (2, 1)


def test_max_without_dim_and_amax_split_ties_evenly():
    data = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    for ours_fn, torch_fn in [(lambda a: a.max(), lambda a: a.max()), (lambda a: a.amin(1), lambda a: a.amin(1)),
                              (lambda a: a.amax((0, 1)), lambda a: a.amax((0, 1)))]:
        x, t = tg.Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        ours_fn(x).sum().backward()
        torch_fn(t).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())


def test_max_with_a_tensor_is_elementwise_maximum_and_ties_split_in_half():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])
    x, y = tg.Tensor(a, requires_grad=True), tg.Tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    x.max(y).sum().backward()
    tx.max(ty).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(y.grad.numpy(), ty.grad.numpy())
    assert x.grad.numpy()[1] == 0.5


def test_argmax_argmin_all_any_on_integers_and_bools():
    data = np.array([[3, 1, 3], [0, 5, 5]])
    x, t = tg.Tensor(data), torch.tensor(data)
    same(x.argmax(), t.argmax())
    same(x.argmax(1), t.argmax(1))
    same(x.argmin(dim=0, keepdim=True), t.argmin(dim=0, keepdim=True))
    same(x.argmax(keepdim=True), t.argmax(keepdim=True))
    same(x.all(), t.all())
    same(x.any(1), t.any(1))
    same(tg.all(x > 0, dim=0), torch.all(t > 0, dim=0))
    same(x.sum(), t.sum())
    same(x.prod(1), t.prod(1))
    same(x.cumsum(1), t.cumsum(1))
    same(x.cumprod(0), t.cumprod(0))
    same(x.max(), t.max())
    same(x.max(1).values, t.max(1).values)
    same(tg.Tensor(data.astype(np.int32)).cumsum(0), torch.tensor(data.astype(np.int32)).cumsum(0))


def test_floating_only_ops_refuse_integer_tensors_like_torch():
    x = tg.Tensor([1, 2, 3])
    for op in ("mean", "var", "std", "norm", "softmax", "log_softmax"):
        with pytest.raises(TypeError, match=op):
            getattr(x, op)() if op not in ("softmax", "log_softmax") else getattr(x, op)(0)


def test_floating_ops_promote_integers_to_the_default_float():
    x, t = tg.Tensor([1, 2, 3]), torch.tensor([1, 2, 3])
    for op in ("log1p", "expm1", "rsqrt", "sin", "cos"):
        np.testing.assert_allclose(getattr(x, op)().numpy(), getattr(t, op)().numpy(), rtol=1e-6)
        assert getattr(x, op)().dtype == np.float32
    np.testing.assert_allclose(x.logsumexp(0).numpy(), t.logsumexp(0).numpy(), rtol=1e-6)
    assert x.logsumexp(0).dtype == np.float32


def test_floor_ceil_round_sign_and_their_zero_gradient():
    data = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.2, -0.7, 0.0])
    x, t = tg.Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    for op in ("floor", "ceil", "round", "sign"):
        same(getattr(x, op)(), getattr(t, op)())  # round: half to even
        getattr(x, op)().sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), 0.0)
        x.grad = None
    same(x.round(decimals=1), t.round(decimals=1))
    ints, tints = tg.Tensor([1, -2]), torch.tensor([1, -2])
    same(ints.floor(), tints.floor())
    same(ints.sign(), tints.sign())


def test_floor_division_and_remainder_follow_python_signs():
    a, b = np.array([5, -5, 5, -5]), np.array([3, 3, -3, -3])
    same(tg.Tensor(a) // tg.Tensor(b), torch.tensor(a) // torch.tensor(b))
    same(tg.Tensor(a) % tg.Tensor(b), torch.tensor(a) % torch.tensor(b))
    fa = np.array([5.5, -5.5, 0.25])
    same(tg.Tensor(fa) % 2, torch.tensor(fa) % 2)
    same(tg.Tensor(fa) // 2, torch.tensor(fa) // 2)
    same(7 % tg.Tensor(b), 7 % torch.tensor(b))
    same(tg.remainder(tg.Tensor(a), 4), torch.remainder(torch.tensor(a), 4))
    x = tg.Tensor(fa, requires_grad=True)
    assert not (x // 2).requires_grad  # torch has no gradient for floor_divide


def test_remainder_gradient_wrt_divisor_is_minus_floor():
    a, b = np.array([5.5, -5.5, 3.0]), np.array([2.0, 2.0, -4.0])
    x, y = tg.Tensor(a, requires_grad=True), tg.Tensor(b, requires_grad=True)
    tx, ty = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (x % y).sum().backward()
    (tx % ty).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(y.grad.numpy(), ty.grad.numpy())


def test_clamp_with_tensor_bounds_matches_torch_values_and_gradients():
    """Including the edges (a == bound) and crossed bounds (min > max: max wins)."""
    a = np.array([0.0, 1.0, 2.0, 3.0, 1.5, 1.5])
    lo = np.array([1.0, 1.0, 1.0, 1.0, 2.0, 1.5])
    hi = np.array([2.0, 2.0, 2.0, 2.0, 1.0, 1.5])
    xs = [tg.Tensor(v, requires_grad=True) for v in (a, lo, hi)]
    ts = [torch.tensor(v, requires_grad=True) for v in (a, lo, hi)]
    same(xs[0].clamp(xs[1], xs[2]), ts[0].clamp(ts[1], ts[2]))
    xs[0].clamp(min=xs[1], max=xs[2]).sum().backward()
    ts[0].clamp(min=ts[1], max=ts[2]).sum().backward()
    for mine, theirs in zip(xs, ts):
        np.testing.assert_array_equal(mine.grad.numpy(), theirs.grad.numpy())
    same(tg.Tensor(a).clip(tg.Tensor(2.0), tg.Tensor(4.0)), torch.tensor(a).clip(torch.tensor(2.0), torch.tensor(4.0)))
    same(tg.Tensor([1, 2]).clamp(0.5, 1.5), torch.tensor([1, 2]).clamp(0.5, 1.5))
    same(tg.clamp(tg.Tensor(a), max=1.0), torch.clamp(torch.tensor(a), max=1.0))
    with pytest.raises(ValueError, match="at least one of min and max"):
        tg.Tensor(a).clamp()


def test_prod_gradient_with_one_and_several_zeros():
    data = np.array([[0.0, 2.0, 3.0], [0.0, 0.0, 3.0], [1.0, 2.0, 3.0]])
    x, t = tg.Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    x.prod(1).sum().backward()
    t.prod(1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    x2, t2 = tg.Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    x2.prod().backward()
    t2.prod().backward()
    np.testing.assert_array_equal(x2.grad.numpy(), t2.grad.numpy())


def test_cumprod_gradient_with_zeros():
    data = np.array([2.0, 0.0, 3.0, 0.0, 4.0])
    x, t = tg.Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    weights = np.arange(1.0, 6.0)
    (x.cumprod(0) * tg.Tensor(weights)).sum().backward()
    (t.cumprod(0) * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())


def test_var_std_unbiased_and_correction_spellings():
    data = np.random.default_rng(0).normal(size=(3, 4))
    x, t = tg.Tensor(data), torch.tensor(data)
    np.testing.assert_allclose(x.var().numpy(), t.var().numpy())
    np.testing.assert_allclose(x.var(1, unbiased=False).numpy(), t.var(1, unbiased=False).numpy())
    np.testing.assert_allclose(x.std(0, correction=0, keepdim=True).numpy(),
                               t.std(0, correction=0, keepdim=True).numpy())
    np.testing.assert_allclose(tg.std(x, dim=1).numpy(), torch.std(t, dim=1).numpy())
    z = tg.Tensor(np.ones((2, 3)), requires_grad=True)
    tz = torch.tensor(np.ones((2, 3)), requires_grad=True)
    z.std(1).sum().backward()
    tz.std(1).sum().backward()
    np.testing.assert_array_equal(z.grad.numpy(), tz.grad.numpy())  # zero spread: 0, not nan


def test_norm_variants():
    data = np.array([[3.0, -4.0], [-1.0, 2.0]])
    x, t = tg.Tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    for p in (2, 1, float("inf"), -float("inf"), 0, 3, "fro"):
        np.testing.assert_allclose(x.norm(p).numpy(), t.norm(p).detach().numpy(), err_msg=str(p))
        np.testing.assert_allclose(x.norm(p, dim=1, keepdim=True).numpy(),
                                   t.norm(p, dim=1, keepdim=True).detach().numpy())
    tie = np.array([3.0, -3.0, 1.0])
    y, ty = tg.Tensor(tie, requires_grad=True), torch.tensor(tie, requires_grad=True)
    y.norm(float("inf")).backward()
    ty.norm(float("inf")).backward()
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy())
    zero, tzero = tg.Tensor(np.zeros(3), requires_grad=True), torch.tensor(np.zeros(3), requires_grad=True)
    zero.norm().backward()
    tzero.norm().backward()
    np.testing.assert_array_equal(zero.grad.numpy(), tzero.grad.numpy())


def test_logsumexp_is_stable_for_large_and_infinite_inputs():
    data = np.array([[1000.0, 1000.0], [-np.inf, -np.inf], [np.inf, 1.0]])
    np.testing.assert_array_equal(tg.Tensor(data).logsumexp(1).numpy(), torch.tensor(data).logsumexp(1).numpy())


def test_sort_topk_named_tuples_stable_ties_and_nan():
    data = np.array([[3.0, 1.0, 3.0, np.nan, 2.0], [1.0, 1.0, 0.0, 1.0, 5.0]])
    x, t = tg.Tensor(data), torch.tensor(data)
    for descending in (False, True):
        ours, theirs = x.sort(dim=1, descending=descending), t.sort(dim=1, descending=descending, stable=True)
        assert ours._fields == ("values", "indices")
        same(ours.values, theirs.values)
        same(ours.indices, theirs.indices)
    same(tg.sort(x, 0).values, torch.sort(t, 0).values)
    ints = np.array([4, 1, 3, 1])
    same(tg.Tensor(ints).topk(2).values, torch.tensor(ints).topk(2).values)
    same(tg.Tensor(ints).topk(2, largest=False).indices, torch.tensor(ints).topk(2, largest=False).indices)
    same(tg.Tensor(ints).argsort(descending=True), torch.tensor(ints).argsort(descending=True, stable=True))
    with pytest.raises(IndexError, match="topk: k"):
        tg.Tensor(ints).topk(5)


def test_gather_scatter_add_index_select_on_integers_and_errors():
    data = np.arange(12).reshape(3, 4)
    x, t = tg.Tensor(data), torch.tensor(data)
    index = np.array([[0, 2], [1, 1], [3, 0]])
    same(x.gather(1, tg.Tensor(index)), t.gather(1, torch.tensor(index)))
    same(tg.gather(x, 0, tg.Tensor(index[:2, :2] % 3)), torch.gather(t, 0, torch.tensor(index[:2, :2] % 3)))
    src = np.ones((3, 2), dtype=np.int64)
    same(x.scatter_add(1, tg.Tensor(index), tg.Tensor(src)), t.scatter_add(1, torch.tensor(index), torch.tensor(src)))
    same(x.index_select(0, tg.Tensor([2, 0, 2])), t.index_select(0, torch.tensor([2, 0, 2])))
    with pytest.raises(IndexError, match="gather: index 4 is out of bounds for dim 1 with size 4"):
        x.gather(1, tg.Tensor([[4]]))
    with pytest.raises(IndexError, match="index_select: index -1"):
        x.index_select(0, tg.Tensor([-1]))
    with pytest.raises(TypeError, match="integer"):
        x.gather(1, tg.Tensor([[0.5]]))
    with pytest.raises(tg.ShapeError, match="gather: index of shape"):
        x.gather(1, tg.Tensor([0, 1]))


def test_shape_ops_match_torch():
    data = np.arange(24.0).reshape(2, 3, 4)
    x, t = tg.Tensor(data), torch.tensor(data)
    same(x.view(4, -1), t.view(4, -1))
    same(x.flatten(), t.flatten())
    same(x.flatten(1), t.flatten(1))
    same(x.flatten(0, 1), t.flatten(0, 1))
    same(tg.flatten(x, start_dim=1, end_dim=-1), torch.flatten(t, start_dim=1, end_dim=-1))
    same(x.unflatten(2, (2, -1)), t.unflatten(2, (2, -1)))
    same(x[:, :1].squeeze(), t[:, :1].squeeze())
    same(x[:, :1].squeeze(0), t[:, :1].squeeze(0))  # not size 1: unchanged
    same(x.unsqueeze(-1), t.unsqueeze(-1))
    same(tg.unsqueeze(x, 0), torch.unsqueeze(t, 0))
    same(x[:, :1].expand(2, 3, 4), t[:, :1].expand(2, 3, 4))
    same(x[:, :1].expand(5, -1, 3, -1), t[:, :1].expand(5, -1, 3, -1))
    same(x.repeat(2, 1, 2), t.repeat(2, 1, 2))
    same(x.repeat(2, 1, 1, 1), t.repeat(2, 1, 1, 1))
    same(x.flip(0, 2), t.flip(0, 2))
    same(x.roll(1), t.roll(1))
    same(x.roll((1, -2), (0, 2)), t.roll((1, -2), (0, 2)))
    same(x.tril(), t.tril())
    same(x.triu(1), t.triu(1))
    same(tg.tril(x, -1), torch.tril(t, -1))
    for ours, theirs in zip(x.split(3, 2), t.split(3, 2)):
        same(ours, theirs)
    for ours, theirs in zip(tg.split(x, [1, 2], 1), torch.split(t, [1, 2], 1)):
        same(ours, theirs)
    assert len(x.chunk(3, 1)) == len(t.chunk(3, 1))
    for ours, theirs in zip(x.chunk(3, 2), t.chunk(3, 2)):
        same(ours, theirs)
    for ours, theirs in zip(tg.unbind(x, 1), torch.unbind(t, 1)):
        same(ours, theirs)
    same(tg.cat([x, x[:1]]), torch.cat([t, t[:1]]))
    same(tg.cat([x, x], dim=-1), torch.cat([t, t], dim=-1))
    same(tg.stack([x, x], dim=1), torch.stack([t, t], dim=1))
    same(tg.cat([tg.Tensor([1, 2]), tg.Tensor([0.5])]), torch.cat([torch.tensor([1, 2]), torch.tensor([0.5])]))


def test_view_and_expand_share_memory_with_their_base():
    base = np.zeros((2, 3))
    x = tg.from_numpy(base)
    v = x.view(6)
    base[0, 0] = 7.0
    assert v.numpy()[0] == 7.0 and x.numpy()[0, 0] == 7.0


def test_shape_errors_name_the_op_and_shapes():
    x = tg.zeros(2, 3)
    with pytest.raises(tg.ShapeError, match=r"cat: tensor 1 has shape \(2, 4\) but tensor 0 has \(2, 3\)"):
        tg.cat([x, tg.zeros(2, 4)])
    with pytest.raises(tg.ShapeError, match="stack: tensor 1"):
        tg.stack([x, tg.zeros(3, 2)])
    with pytest.raises(tg.ShapeError, match=r"expand: the size of dim 1 \(3\)"):
        x.expand(2, 4)
    with pytest.raises(tg.ShapeError, match="split: sizes"):
        x.split([1, 1], 1)
    with pytest.raises(tg.ShapeError, match="tril: needs a tensor with at least 2 dims"):
        tg.zeros(3).tril()
    with pytest.raises(tg.ShapeError, match="mT"):
        tg.zeros(3).mT
    with pytest.raises(IndexError, match=r"transpose: dim 2 is out of range .* \[-2, 1\]"):
        x.transpose(0, 2)
    with pytest.raises(tg.ShapeError, match="masked_fill: mask of shape"):
        x.masked_fill(tg.zeros(4) > 0, 1.0)
    with pytest.raises(TypeError, match="masked_fill: the mask must be a bool"):
        x.masked_fill(tg.zeros(3), 1.0)
    with pytest.raises(TypeError, match="cumsum: dim is required"):
        x.cumsum(None)
    with pytest.raises(tg.ShapeError, match="where: condition"):
        tg.where(tg.zeros(4) > 0, x, 1.0)


def test_where_masked_fill_and_nonzero_form():
    data = np.array([[1.0, -2.0], [-3.0, 4.0]])
    x, t = tg.Tensor(data), torch.tensor(data)
    same(tg.where(x > 0, x, 0.0), torch.where(t > 0, t, 0.0))
    same(tg.where(x > 0, 1.0, 0.0), torch.where(t > 0, 1.0, 0.0))
    same(x.where(x > 0, tg.Tensor(-1.0)), t.where(t > 0, torch.tensor(-1.0)))
    for ours, theirs in zip(tg.where(x > 0), torch.where(t > 0)):
        same(ours, theirs)
    same(x.masked_fill(x < 0, 0.0), t.masked_fill(t < 0, 0.0))
    value, tvalue = tg.Tensor(2.0, requires_grad=True), torch.tensor(2.0, requires_grad=True, dtype=torch.float64)
    x.masked_fill(x < 0, value).sum().backward()
    t.masked_fill(t < 0, tvalue).sum().backward()
    assert value.grad.item() == tvalue.grad.item() == 2.0


def test_factories_match_torch_dtypes_and_values():
    same(tg.full((2, 3), 1.5), torch.full((2, 3), 1.5))
    same(tg.full((2,), 3), torch.full((2,), 3))
    same(tg.full((2,), True), torch.full((2,), True))
    same(tg.linspace(0, 1, 5), torch.linspace(0, 1, 5))
    same(tg.linspace(-1, 1, 1), torch.linspace(-1, 1, 1))
    assert tg.empty(2, 3).shape == (2, 3) and tg.empty(2, dtype="float64").dtype == np.float64
    r = tg.randint(3, 7, (100,))
    assert r.dtype == np.int64 and r.numpy().min() >= 3 and r.numpy().max() < 7 and len(set(r.tolist())) == 4
    assert tg.randint(5, (2, 2)).shape == (2, 2)
    base = tg.zeros(2, 3, dtype="float64")
    for fn in (tg.zeros_like, tg.ones_like, tg.empty_like, tg.rand_like, tg.randn_like):
        out = fn(base)
        assert out.shape == (2, 3) and out.dtype == np.float64
    assert tg.ones_like(base, dtype="float32").dtype == np.float32
    same(tg.full_like(tg.Tensor([1, 2]), 2.7), torch.full_like(torch.tensor([1, 2]), 2.7))
    assert tg.randint_like(base, 4).dtype == np.float64 and tg.randint_like(base, 4).numpy().max() < 4
    assert tg.rand_like(base, requires_grad=True).requires_grad
    with pytest.raises(TypeError, match="rand_like"):
        tg.rand_like(tg.Tensor([1, 2]))
    with pytest.raises(ValueError, match="randint: high"):
        tg.randint(5, 5, (2,))


def test_from_numpy_shares_memory_both_ways():
    array = np.arange(3.0)
    t = tg.from_numpy(array)
    array[0] = 5.0
    assert t.numpy()[0] == 5.0
    t.data[1] = 6.0
    assert array[1] == 6.0
    with pytest.raises(TypeError, match="from_numpy"):
        tg.from_numpy([1.0, 2.0])


def test_softmax_takes_dim_and_axis():
    data = np.random.default_rng(1).normal(size=(2, 3))
    x, t = tg.Tensor(data), torch.tensor(data)
    np.testing.assert_allclose(x.softmax(dim=0).numpy(), t.softmax(dim=0).numpy())
    np.testing.assert_allclose(tg.log_softmax(x, 0).numpy(), torch.log_softmax(t, 0).numpy())
    np.testing.assert_allclose(x.softmax(axis=1).numpy(), t.softmax(1).numpy())


def test_pad_modes_and_errors():
    import tinygrad_opt.nn.functional as F
    import torch.nn.functional as TF

    data = np.arange(12.0).reshape(1, 3, 4)
    x, t = tg.Tensor(data), torch.tensor(data)
    for mode in ("constant", "reflect", "replicate", "circular"):
        same(F.pad(x, (2, 1), mode=mode), TF.pad(t, (2, 1), mode=mode))
    same(F.pad(x, (1, 1, 1, 0), value=-1.0), TF.pad(t, (1, 1, 1, 0), value=-1.0))
    same(F.pad(x, (-1, 2)), TF.pad(t, (-1, 2)))  # a negative width crops
    with pytest.raises(ValueError, match=r"pad: reflect padding of \(4, 0\) on dim 2 of size 4 is out of range"):
        F.pad(x, (4, 0), mode="reflect")
    with pytest.raises(ValueError, match="padding length must be even"):
        F.pad(x, (1,))
    with pytest.raises(ValueError, match="mode must be"):
        F.pad(x, (1, 1), mode="mirror")


@pytest.mark.parametrize("op", ["cat", "stack", "where"])
def test_mixed_float_dtypes_keep_every_gradient(op):
    """cat/stack/where promote a float32 input beside a float64 one through a recorded cast, as torch."""
    a32 = np.array([1.0, -2.0, 3.0], dtype=np.float32)
    b64 = np.array([0.5, 4.0, -1.0])
    a, b = tg.Tensor(a32, requires_grad=True), tg.Tensor(b64, requires_grad=True)
    ta, tb = torch.tensor(a32, requires_grad=True), torch.tensor(b64, requires_grad=True)
    if op == "where":
        mask = np.array([True, False, True])
        out, ref = tg.where(tg.Tensor(mask), a, b), torch.where(torch.from_numpy(mask), ta, tb)
    else:
        out, ref = getattr(tg, op)([a, b]), getattr(torch, op)([ta, tb])
    assert out.dtype == np.float64 and str(ref.dtype) == "torch.float64"
    (out * out).sum().backward()
    (ref * ref).sum().backward()
    assert a.grad is not None and a.grad.dtype == np.float32
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-12)
