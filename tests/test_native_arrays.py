"""kernels/native_arrays: an int64 address seen as an array inside nopython code (what a team job does with the
addresses in its args block)."""
import numpy as np
import pytest

pytest.importorskip("numba")

from tinygrad_opt.kernels import lazy_jit, native_arrays  # noqa: E402


@pytest.fixture(scope="module")
def through_address():
    """A nopython function that views `size` elements at an address, doubles them in place, returns their sum and
    the view's Numba type name."""
    lazy_jit.start()
    import numba

    @numba.njit
    def double(address, size, dtype):
        a = native_arrays.array_at(address, size, dtype)
        total = a.dtype.type(0)
        for i in range(a.size):
            a[i] = a[i] * 2
            total += a[i]
        return total

    return double


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.uint32])
def test_a_view_at_an_address_reads_and_writes_the_arrays_memory(through_address, dtype):
    a = np.arange(1, 11).astype(dtype)
    total = through_address(a.ctypes.data, a.size, dtype)
    np.testing.assert_array_equal(a, np.arange(1, 11).astype(dtype) * 2)  # written through the view: no copy
    assert total == np.arange(1, 11).sum() * 2


def test_a_view_of_part_of_an_array_touches_only_that_part(through_address):
    a = np.ones(8, np.float64)
    through_address(a.ctypes.data + 3 * a.itemsize, 2, np.float64)
    np.testing.assert_array_equal(a, [1, 1, 1, 2, 2, 1, 1, 1])


def test_the_view_has_the_numba_type_of_a_contiguous_array_passed_from_python():
    """So a loop compiled for arrays passed from Python takes the views without another compile."""
    lazy_jit.start()
    import numba

    a = np.zeros(3, np.float32)
    view = numba.njit(lambda address: native_arrays.array_at(address, 3, np.float32))
    view(a.ctypes.data)
    assert view.nopython_signatures[0].return_type == numba.typeof(a)


def test_a_size_of_zero_gives_an_empty_view(through_address):
    a = np.ones(2, np.float32)
    assert through_address(a.ctypes.data, 0, np.float32) == 0
    np.testing.assert_array_equal(a, [1, 1])
