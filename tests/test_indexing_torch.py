"""Indexing as torch's: where advanced indices put their dims, booleans, mixed indices, errors and iteration."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_opt as tg

SHAPE = (2, 3, 4, 5)


@st.composite
def index_parts(draw):
    """Up to four parts: ints, slices, None, Ellipsis (at most one), int lists/arrays and boolean masks."""
    parts, dim, used_ellipsis = [], 0, False
    for _ in range(draw(st.integers(1, 4))):
        size = SHAPE[min(dim, len(SHAPE) - 1)]
        kind = draw(st.sampled_from(["int", "slice", "none", "ellipsis", "list", "array2d", "bool", "tensor0d"]))
        if kind == "int":
            parts.append(draw(st.integers(-size, size - 1)))
        elif kind == "slice":
            parts.append(slice(draw(st.integers(0, size)), None, draw(st.integers(1, 2))))
        elif kind == "none":
            parts.append(None)
            continue
        elif kind == "ellipsis" and not used_ellipsis:
            used_ellipsis = True
            parts.append(Ellipsis)
            continue
        elif kind == "list":
            parts.append(draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=3)))
        elif kind == "array2d":
            parts.append(np.array(draw(st.lists(st.integers(0, size - 1), min_size=2, max_size=2))).reshape(2, 1))
        elif kind == "bool":
            parts.append(np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size))))
        else:
            parts.append(("tensor0d", draw(st.integers(0, size - 1))))
        dim += 1
        if dim >= len(SHAPE):
            break
    return tuple(parts)


def _ours(parts):
    return tuple(tg.Tensor(p[1]) if isinstance(p, tuple) else tg.Tensor(p) if isinstance(p, np.ndarray) else p
                 for p in parts)


def _theirs(parts):
    return tuple(torch.tensor(p[1]) if isinstance(p, tuple) else torch.from_numpy(p) if isinstance(p, np.ndarray)
                 else p for p in parts)


@settings(max_examples=300, deadline=None)
@given(parts=index_parts())
def test_index_matches_torch_in_shape_values_and_gradient(parts):
    values = np.arange(np.prod(SHAPE), dtype=np.float64).reshape(SHAPE)
    x, tx = tg.Tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    try:
        expected = tx[_theirs(parts)]
    except IndexError:
        with pytest.raises(IndexError):
            x[_ours(parts)]
        return
    got = x[_ours(parts)]
    assert got.shape == tuple(expected.shape)
    np.testing.assert_array_equal(got.numpy(), expected.detach().numpy())
    weights = np.random.default_rng(0).standard_normal(got.shape)
    (got * tg.Tensor(weights)).sum().backward()
    (expected * torch.from_numpy(weights)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


def test_issue_example_int_slice_list():
    x = tg.Tensor(np.arange(24.0).reshape(2, 3, 4))
    tx = torch.arange(24.0).reshape(2, 3, 4)
    assert x[0, :, [0, 1]].shape == tuple(tx[0, :, [0, 1]].shape) == (3, 2)
    np.testing.assert_array_equal(x[0, :, [0, 1]].numpy(), tx[0, :, [0, 1]].numpy())
    assert x[[0, 1], :, [0, 1]].shape == tuple(tx[[0, 1], :, [0, 1]].shape) == (2, 3)


def test_out_of_range_is_an_index_error_so_python_protocols_work():
    t = tg.Tensor([[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(IndexError, match="out of bounds.*shape \\(2, 2\\)"):
        t[2]
    rows = [row.tolist() for row in t]
    assert rows == [[1.0, 2.0], [3.0, 4.0]]
    assert len(list(t)) == len(t) == 2
    a, b = t
    assert a.tolist() == [1.0, 2.0] and b.tolist() == [3.0, 4.0]
    np.testing.assert_array_equal(np.asarray(t), [[1.0, 2.0], [3.0, 4.0]])
    assert np.asarray(t, dtype=np.int64).dtype == np.int64
    with pytest.raises(TypeError):
        len(tg.Tensor(1.0))
    with pytest.raises(TypeError):
        iter(tg.Tensor(1.0))


def test_tensor_as_index_and_boolean_masks():
    x = tg.Tensor([10.0, 20.0, 30.0], requires_grad=True)
    picked = x[tg.Tensor([2, 0, 2])]
    assert picked.tolist() == [30.0, 10.0, 30.0]
    picked.sum().backward()
    assert x.grad.tolist() == [1.0, 0.0, 2.0]
    assert x[x > 15].tolist() == [20.0, 30.0]
    assert [10, 20, 30][tg.Tensor(1)] == 20  # a one-element int tensor is an index, as torch's


def test_basic_index_is_a_view_and_advanced_a_copy_as_torch():
    x = tg.zeros(3, 2)
    assert np.shares_memory(x[1].data, x.data) and np.shares_memory(x[:, 0].data, x.data)
    assert not np.shares_memory(x[[0, 1]].data, x.data)


def test_bool_ambiguity_is_a_runtime_error_as_torch():
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(tg.Tensor([1.0, 2.0]))
    assert bool(tg.Tensor([3.0]))
