"""Differences a differential sweep against torch 2.13 found (reductions' dtype=, empty tensors, bool
inputs, NaN maxima); each test compares with torch on the same input."""
import numpy as np
import pytest

import tinygrad_opt as tg
from weighted_loss import weighted_sum

torch = pytest.importorskip("torch")


def same(ours, theirs):
    theirs = theirs.detach().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    assert ours.shape == tuple(theirs.shape)
    assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    rtol = {8: 1e-12, 4: 1e-6, 2: 1e-3}.get(theirs.dtype.itemsize, 0) if theirs.dtype.kind == "f" else 0
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=rtol, atol=0)  # float32: libm's last bit may differ


INTS = np.array([[3, -5, 2], [0, 7, -1]])


@pytest.mark.parametrize("data", [INTS, INTS > 0, INTS.astype(np.float32)])
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_and_mean_take_dtype_and_cast_first(name, data):
    for kwargs in ({}, {"dim": 1}, {"dim": (0, 1), "keepdim": True}):
        ours = getattr(tg.tensor(data), name)(dtype=tg.float64, **kwargs)
        same(ours, getattr(torch.tensor(data), name)(dtype=torch.float64, **kwargs))
    same(getattr(tg, name)(tg.tensor(data), 0, dtype=tg.float64), getattr(torch, name)(torch.tensor(data), 0,
                                                                                       dtype=torch.float64))


def test_sum_dtype_keeps_the_gradient_flowing_through_the_cast():
    data = np.array([[0.5, -1.5], [2.0, 3.0]], np.float32)
    x, t = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    (x.sum(dim=0, dtype=tg.float64) ** 2).sum().backward()
    (t.sum(dim=0, dtype=torch.float64) ** 2).sum().backward()
    same(x.grad, t.grad)


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_scans_take_dtype(name):
    for data in (INTS, INTS > 0, INTS.astype(np.float32)):
        same(getattr(tg.tensor(data), name)(1, dtype=tg.float64),
             getattr(torch.tensor(data), name)(1, dtype=torch.float64))


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_takes_dtype(name):
    data = np.array([[0.5, -1.5, 2.0]], np.float32)
    same(getattr(tg.tensor(data), name)(-1, dtype=tg.float64),
         getattr(torch.tensor(data), name)(-1, dtype=torch.float64))
    same(getattr(tg, name)(tg.tensor(data), 1, dtype=tg.float64),
         getattr(torch, name)(torch.tensor(data), 1, dtype=torch.float64))


@pytest.mark.parametrize("kwargs", [{}, {"dim": 0}, {"dim": 1}, {"dim": -1, "keepdim": True}])
def test_prod_of_an_empty_tensor_and_its_gradient(kwargs):
    data = np.zeros((0, 3))
    x, t = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, u = x.prod(**kwargs), t.prod(**kwargs)
    same(y, u)
    weighted_sum(y, tg).backward()
    weighted_sum(u, torch).backward()
    same(x.grad, t.grad)


@pytest.mark.parametrize("name", ["amax", "amin", "max", "min", "argmax", "argmin"])
def test_extremes_of_an_empty_tensor_over_a_dim_with_elements_are_empty(name):
    data = np.zeros((0, 3), np.float32)
    for kwargs in ({"dim": 1}, {"dim": -1, "keepdim": True}):
        ours, theirs = getattr(tg.tensor(data), name)(**kwargs), getattr(torch.tensor(data), name)(**kwargs)
        if name in ("max", "min"):
            same(ours.values, theirs.values)
            same(ours.indices, theirs.indices)
        else:
            same(ours, theirs)


@pytest.mark.parametrize("name", ["amax", "amin", "max", "min", "argmax", "argmin"])
def test_extremes_over_a_zero_length_dim_raise_index_error_as_torch(name):
    x, t = tg.zeros(0, 3), torch.zeros(0, 3)
    with pytest.raises(IndexError):
        getattr(t, name)(dim=0)
    with pytest.raises(IndexError, match=f"{name}.*dim 0"):
        getattr(x, name)(dim=0)


@pytest.mark.parametrize("name", ["amax", "amin", "max", "min"])
def test_extremes_of_an_empty_tensor_over_all_dims_raise_runtime_error_as_torch(name):
    with pytest.raises(RuntimeError):
        getattr(torch.zeros(0, 3), name)()
    with pytest.raises(RuntimeError, match=f"{name}.*empty"):
        getattr(tg.zeros(0, 3), name)()


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_refuses_bool_but_max_with_a_dim_takes_it(name):
    data = INTS > 0
    with pytest.raises(RuntimeError):
        getattr(torch.tensor(data), name)()
    with pytest.raises(TypeError, match=f"{name}.*bool"):
        getattr(tg.tensor(data), name)()
    ours, theirs = tg.tensor(data).max(dim=1), torch.tensor(data).max(dim=1)
    same(ours.values, theirs.values)
    same(ours.indices, theirs.indices)


def test_sign_of_a_bool_tensor_is_itself():
    same(tg.tensor(INTS > 0).sign(), torch.tensor(INTS > 0).sign())


@pytest.mark.parametrize("name", ["max", "min", "amax", "amin"])
def test_a_nan_maximum_has_torchs_gradient(name):
    """max() sends it to the NaN; amax's tie count is zero there, so torch's gradient is NaN everywhere."""
    data = np.array([0.0, np.nan, 3.0, -1.0])
    x, t = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    getattr(x, name)().backward()
    getattr(t, name)().backward()
    same(x.grad, t.grad)


# ---- torch's named arithmetic and logic methods (methods/arith.py) ----------------
def _pairs():
    ints = np.array([[3, -5, 2], [0, 7, -1]])
    return {"f32": ints.astype(np.float32) / 2, "f64": ints / 3.0, "i64": ints, "i32": ints.astype(np.int32),
            "bool": ints > 0}


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "true_divide", "multiply", "subtract", "divide"])
def test_named_arithmetic_promotes_as_the_operators(name):
    for a in _pairs().values():
        for b in list(_pairs().values()) + [2, 2.5, -3]:
            if "sub" in name and (a.dtype == bool or getattr(b, "dtype", None) == bool):
                with pytest.raises(RuntimeError):
                    getattr(torch.tensor(a), name)(torch.tensor(b) if isinstance(b, np.ndarray) else b)
                with pytest.raises(TypeError, match="bool"):
                    getattr(tg.tensor(a), name)(tg.tensor(b) if isinstance(b, np.ndarray) else b)
                continue
            ours = getattr(tg.tensor(a), name)(tg.tensor(b) if isinstance(b, np.ndarray) else b)
            theirs = getattr(torch.tensor(a), name)(torch.tensor(b) if isinstance(b, np.ndarray) else b)
            same(ours, theirs)


def test_add_and_sub_take_alpha_with_torchs_gradient():
    a, b = np.array([1.0, -2.0, 0.5]), np.array([[3.0], [-1.0]])
    x, y = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    t, u = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ours, theirs = tg.add(x, y, alpha=-2.5) * x.sub(y, alpha=3), torch.add(t, u, alpha=-2.5) * t.sub(u, alpha=3)
    same(ours, theirs)
    weighted_sum(ours, tg).backward()
    weighted_sum(theirs, torch).backward()
    same(x.grad, t.grad)
    same(y.grad, u.grad)
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).add(torch.tensor([1, 2]), alpha=0.5)
    with pytest.raises(TypeError, match="alpha"):
        tg.tensor([1, 2]).add(tg.tensor([1, 2]), alpha=0.5)


@pytest.mark.parametrize("mode", ["trunc", "floor"])
def test_div_rounding_modes_round_as_torch_and_integers_stay_integers(mode):
    a, b = np.array([-7, 7, -7, 7, 0, -6, 5]), np.array([2, -2, -2, 2, 3, 3, 5])
    same(tg.tensor(a).div(tg.tensor(b), rounding_mode=mode), torch.tensor(a).div(torch.tensor(b), rounding_mode=mode))
    same(tg.div(tg.tensor(a), 2, rounding_mode=mode), torch.div(torch.tensor(a), 2, rounding_mode=mode))
    fa, fb = np.array([-7.5, 7.0, -7.0, 1.0, 0.0]), np.array([2.0, -2.0, -0.0, 0.0, 3.0])
    same(tg.tensor(fa).div(tg.tensor(fb), rounding_mode=mode),
         torch.tensor(fa).div(torch.tensor(fb), rounding_mode=mode))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        tg.tensor(a).div(0, rounding_mode=mode)
    with pytest.raises(RuntimeError, match="rounding_mode"):
        tg.tensor(a).div(2, rounding_mode="round")


@pytest.mark.parametrize("name", ["neg", "negative", "reciprocal", "square", "trunc", "fix"])
def test_named_unary_methods_match_torch_values_dtypes_and_gradients(name):
    for key, a in _pairs().items():
        if key == "bool" and name in ("neg", "negative", "trunc", "fix"):
            continue
        same(getattr(tg.tensor(a), name)(), getattr(torch.tensor(a), name)())
        same(getattr(tg, name)(tg.tensor(a)), getattr(torch, name)(torch.tensor(a)))
    data = np.array([-2.5, -0.4, 0.3, 1.7])
    x, t = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    weighted_sum(getattr(x, name)(), tg).backward()
    weighted_sum(getattr(t, name)(), torch).backward()
    same(x.grad, t.grad)


@pytest.mark.parametrize("name", ["bitwise_and", "bitwise_or", "bitwise_xor", "logical_and", "logical_or",
                                  "logical_xor", "__and__", "__or__", "__xor__"])
def test_bitwise_and_logical_binary_ops(name):
    values = _pairs()
    for a in ("i64", "i32", "bool"):
        for b in ("i64", "i32", "bool"):
            same(getattr(tg.tensor(values[a]), name)(tg.tensor(values[b])),
                 getattr(torch.tensor(values[a]), name)(torch.tensor(values[b])))
    if name.startswith("logical"):
        same(getattr(tg.tensor(values["f32"]), name)(tg.tensor(values["i64"])),
             getattr(torch.tensor(values["f32"]), name)(torch.tensor(values["i64"])))
    else:
        with pytest.raises(TypeError, match="integer and bool"):
            getattr(tg.tensor(values["f32"]), name)(tg.tensor(values["f32"]))


def test_mask_operators_combine_as_torch():
    data = np.array([[3, -5, 2], [0, 1, -1]])
    x, t = tg.tensor(data), torch.tensor(data)
    same(((x > 0) & (x < 3)) | ~(x == 1) ^ (x == 0), ((t > 0) & (t < 3)) | ~(t == 1) ^ (t == 0))
    same(~x, ~t)
    same(True & (x > 0), True & (t > 0))
    same(3 | x, 3 | t)


@pytest.mark.parametrize("name", ["isnan", "isinf", "isfinite", "logical_not", "bitwise_not"])
def test_value_tests_and_negations(name):
    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1.5], np.float32)
    for key, a in list(_pairs().items()) + [("special", special)]:
        if name == "bitwise_not" and a.dtype.kind == "f":
            continue
        same(getattr(tg.tensor(a), name)(), getattr(torch.tensor(a), name)())
        same(getattr(tg, name)(tg.tensor(a)), getattr(torch, name)(torch.tensor(a)))


def test_integer_tensors_to_negative_integer_powers_as_torch():
    base, exponent = np.array([3, 1, -1, 0, 2, -2, -1, 5]), np.array([-1, -1, -1, -1, -2, -1, -2, 2])
    same(tg.tensor(base) ** tg.tensor(exponent), torch.tensor(base) ** torch.tensor(exponent))
    same(2 ** tg.tensor(exponent), 2 ** torch.tensor(exponent))
    same(tg.tensor(base) ** tg.tensor(-1), torch.tensor(base) ** torch.tensor(-1))
    with pytest.raises(RuntimeError, match="negative integer powers"):
        torch.tensor(base) ** -1
    with pytest.raises(RuntimeError, match="negative integer powers"):
        tg.tensor(base) ** -1


# ---- in-place forms, shape helpers, selection and new_* ------------------------------
@pytest.mark.parametrize("name, args", [
    ("abs_", ()), ("neg_", ()), ("exp_", ()), ("sigmoid_", ()), ("tanh_", ()), ("relu_", ()), ("sin_", ()),
    ("floor_", ()), ("trunc_", ()), ("round_", ()), ("sign_", ()), ("reciprocal_", ()), ("square_", ()),
    ("pow_", (2,)), ("clamp_min_", (0.1,)), ("clamp_max_", (0.2,)), ("remainder_", (0.7,)),
])
def test_in_place_forms_change_the_tensor_and_differentiate_as_torch(name, args):
    data = np.array([[-1.3, 0.4, 2.2], [0.9, -0.2, 1.6]])
    x, t = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, u = x * 1.5, t * 1.5
    assert getattr(y, name)(*args) is y
    getattr(u, name)(*args)
    same(y, u)
    weighted_sum(y, tg).backward()
    weighted_sum(u, torch).backward()
    same(x.grad, t.grad)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        getattr(x, name)(*args)


def test_masked_fill_in_place_records_the_value_gradient():
    data = np.array([[-1.0, 2.0], [3.0, -4.0]])
    x, t = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    v, w = tg.tensor(0.5, dtype=tg.float64, requires_grad=True), torch.tensor(0.5, dtype=torch.float64,
                                                                          requires_grad=True)
    y, u = x * 2, t * 2
    y.masked_fill_(y < 0, v)
    u.masked_fill_(u < 0, w)
    same(y, u)
    weighted_sum(y, tg).backward()
    weighted_sum(u, torch).backward()
    same(x.grad, t.grad)
    same(v.grad, w.grad)


def test_t_contiguous_movedim_narrow_as_torch():
    data = np.arange(24.0).reshape(2, 3, 4)
    x, t = tg.tensor(data), torch.tensor(data)
    same(x[0].t(), t[0].t())
    same(x[0, 0].t(), t[0, 0].t())
    with pytest.raises(RuntimeError):
        x.t()
    same(x.transpose(0, 2).contiguous(), t.transpose(0, 2).contiguous())
    assert x.contiguous() is x
    for source, destination in ((0, -1), ((0, 1), (2, 0)), (-1, 0), ((2, 0), (0, 1))):
        same(x.movedim(source, destination), t.movedim(source, destination))
        same(x.moveaxis(source, destination), t.moveaxis(source, destination))
    same(x.narrow(2, 1, 2), t.narrow(2, 1, 2))
    same(x.narrow(-1, -2, 2), t.narrow(-1, -2, 2))
    with pytest.raises(RuntimeError):
        x.narrow(1, 2, 2)
    narrowed = x.narrow(1, 0, 1)
    narrowed.fill_(-1.0)  # shares memory with x, as torch's
    assert (x[:, 0] == -1.0).all().item()


def test_masked_select_and_nonzero():
    data = np.array([[1.5, -2.0, 0.0], [0.0, 3.0, -1.0]])
    x, t = tg.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    for mask in (data > 0, (data > 0)[:1]):
        ours, theirs = x.masked_select(tg.tensor(mask)), t.masked_select(torch.tensor(mask))
        same(ours, theirs)
    weighted_sum(ours, tg).backward()
    weighted_sum(theirs, torch).backward()
    same(x.grad, t.grad)
    for d in (data, data > 0, np.array(0.0), np.array(2), np.zeros((0, 2))):
        same(tg.tensor(d).nonzero(), torch.tensor(d).nonzero())
        for a, b in zip(tg.tensor(d).nonzero(as_tuple=True), torch.tensor(d).nonzero(as_tuple=True)):
            same(a, b)


def test_new_factories_take_selfs_dtype():
    for data in (np.zeros((2, 2), np.float32), np.zeros(3, np.int64)):
        x, t = tg.tensor(data), torch.tensor(data)
        same(x.new_zeros(2, 3), t.new_zeros(2, 3))
        same(x.new_ones((2,)), t.new_ones((2,)))
        same(x.new_full((2, 1), 3), t.new_full((2, 1), 3))
        same(x.new_tensor([1, 2]), t.new_tensor([1, 2]))
        same(x.new_zeros(2, dtype=tg.float64), t.new_zeros(2, dtype=torch.float64))
        assert x.new_empty(4, 1).shape == (4, 1) and x.new_empty(4, 1).dtype == x.dtype
    assert tg.zeros(2).new_ones(2, requires_grad=True).requires_grad


def test_pow_method_and_function():
    data = np.array([0.5, 2.0, 3.0])
    same(tg.tensor(data).pow(2), torch.tensor(data).pow(2))
    same(tg.pow(tg.tensor(data), tg.tensor(data)), torch.pow(torch.tensor(data), torch.tensor(data)))
    same(tg.pow(2, tg.tensor(data)), torch.pow(2, torch.tensor(data)))


def test_errors_torch_raises_as_runtime_error():
    x = tg.zeros(2, 3)
    with pytest.raises(RuntimeError, match="item"):
        x.item()
    with pytest.raises(RuntimeError, match="flatten"):
        x.flatten(1, 0)


def test_a_uint8_index_is_a_mask_as_in_torch():
    data = np.arange(12.0).reshape(3, 4)
    mask = np.array([1, 0, 1], np.uint8)
    same(tg.tensor(data)[tg.tensor(mask)], torch.tensor(data)[torch.tensor(mask)])


def test_factories_take_size_as_a_keyword_and_arange_checks_its_step():
    for name in ("zeros", "ones", "empty"):
        assert getattr(tg, name)(size=(2, 3)).shape == tuple(getattr(torch, name)(size=(2, 3)).shape)
    assert tg.randn(size=(4,)).shape == (4,) and tg.rand(size=[2, 2]).shape == (2, 2)
    with pytest.raises(TypeError, match="size"):
        tg.zeros(2, size=(2,))
    for args in ((0, 5, 0), (0, 5, -1), (5, 0, 1)):
        with pytest.raises(RuntimeError):
            torch.arange(*args)
        with pytest.raises(RuntimeError, match="arange"):
            tg.arange(*args)
    same(tg.arange(0, 0, -1), torch.arange(0, 0, -1))


@pytest.mark.parametrize("name", ["tan", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh", "atanh",
                                  "log2", "log10", "exp2", "arcsin", "arctanh"])
def test_further_unary_functions_on_floats_ints_and_special_values(name):
    special = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 0.5, -0.5, 2.0, 8.0])
    for data in (special, special.astype(np.float32), np.array([[-2, 0, 1], [3, 8, -1]]), np.array([True, False])):
        same(getattr(tg.tensor(data), name)(), getattr(torch.tensor(data), name)())
        same(getattr(tg, name)(tg.tensor(data)), getattr(torch, name)(torch.tensor(data)))


@pytest.mark.parametrize("name", ["atan2", "hypot", "logaddexp", "arctan2"])
def test_further_binary_functions_and_their_gradients_at_the_edges(name):
    a, b = np.array([0.0, 1.0, -2.0, 3.0, -np.inf]), np.array([0.0, -2.0, -0.5, np.inf, -np.inf])
    x, y = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    t, u = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ours, theirs = getattr(x, name)(y), getattr(t, name)(u)
    same(ours, theirs)
    weighted_sum(ours, tg).backward()
    weighted_sum(theirs, torch).backward()
    same(x.grad, t.grad)
    same(y.grad, u.grad)
    ints = np.array([[1, -2], [3, 0]], np.float32)
    same(getattr(tg, name)(tg.tensor(ints), tg.tensor(ints.T.copy())),
         getattr(torch, name)(torch.tensor(ints), torch.tensor(ints.T.copy())))


def test_python_ints_outside_a_small_integer_dtype_wrap_as_torch():
    small = {"uint8": np.array([0, 2, 5, 200], np.uint8), "int8": np.array([1, -2, 100], np.int8)}
    for data in small.values():
        for scalar in (-3, 200, -300):
            same(tg.tensor(data) + scalar, torch.tensor(data) + scalar)
            same(scalar * tg.tensor(data), scalar * torch.tensor(data))
            same(tg.tensor(data) - scalar, torch.tensor(data) - scalar)


def test_the_minus_operator_refuses_bools_as_torch():
    for call in (lambda L: L.tensor([True]) - L.tensor([False]), lambda L: L.tensor([1.0]) - True,
                 lambda L: True - L.tensor([1]), lambda L: L.tensor([1]) - L.tensor([True]),
                 lambda L: L.tensor([1.0]).sub(L.tensor([True]), alpha=2)):
        with pytest.raises(RuntimeError):
            call(torch)
        with pytest.raises(TypeError, match="bool"):
            call(tg)
    x = tg.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="bool"):
        x -= True
