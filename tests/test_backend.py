"""backend.broadcast_to: the hand-built broadcast view behaves exactly as np.broadcast_to."""
import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_opt.backend import broadcast_to


@settings(max_examples=60, deadline=None)
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=1, min_dims=0, max_dims=4, max_side=4),
       dtype=st.sampled_from([np.float32, np.float64, np.int64, np.bool_]), strided=st.booleans())
def test_view_equals_numpy_broadcast_to(shapes, dtype, strided):
    (shape,), target = shapes.input_shapes, shapes.result_shape
    source = np.arange(int(np.prod(shape)) * 2).astype(dtype)
    a = source[::2].reshape(shape) if strided else source[: int(np.prod(shape))].reshape(shape)
    ours, theirs = broadcast_to(a, target), np.broadcast_to(a, target)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)
    assert not ours.flags.writeable  # one element stands for many: writing must fail, as in NumPy
    assert np.shares_memory(ours, a) or a.size == 0


def test_view_shares_memory_and_refuses_writes():
    g = np.arange(3.0).reshape(3, 1)
    v = broadcast_to(g, (2, 3, 4))
    assert v.base is not None and np.shares_memory(v, g)
    g[1, 0] = 10.0
    assert (v[:, 1, :] == 10.0).all()
    with pytest.raises(ValueError, match="read-only"):
        v[0, 0, 0] = 1.0


@pytest.mark.parametrize("shape, target", [((3,), (4,)), ((2, 3), (3,)), ((2, 1), (3, 3))])
def test_shapes_that_do_not_broadcast_raise_numpy_error(shape, target):
    with pytest.raises(ValueError) as ours:
        broadcast_to(np.zeros(shape), target)
    with pytest.raises(ValueError) as numpy_error:
        np.broadcast_to(np.zeros(shape), target)
    assert str(ours.value) == str(numpy_error.value)


def test_a_cupy_array_seen_before_any_cuda_check_is_on_cuda(monkeypatch):
    """CuPy is detected lazily: a CuPy array made before the engine ever asked for CUDA must
    still count as a device array (a stand-in module plays CuPy here, there is no GPU)."""
    import sys
    import types

    from tinygrad_opt import backend

    fake = types.ModuleType("cupy")
    array_type = type("ndarray", (), {"__module__": "cupy._core.core"})
    fake.ndarray = array_type
    fake.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=lambda: 1))
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_checked", False)
    device_array = array_type()
    assert backend.device_of(np.zeros(2)) == "cpu" and not backend._cupy_checked  # host arrays never import CuPy
    assert backend.device_of(device_array) == "cuda"
    assert backend.array_module(device_array) is fake
    assert backend.array_module(np.zeros(2)) is np


def test_numpy_scalars_take_the_host_kernels():
    from tinygrad_opt import kernels

    assert kernels.which("dropout", np.float32(1.0)) in ("cpu", "reference")
    assert kernels.get("dropout", np.float32(1.0)) is kernels.get("dropout", np.zeros(1, np.float32))
