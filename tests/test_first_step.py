"""The first kernel call of a process sets Numba up without importing scipy.linalg (nor keeping another thread from
importing it), and Numba still works as before."""
import importlib.util
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    import tinygrad_opt as tg
    from tinygrad_opt import kernels
    kernels.set_kernels("numba")
    logits = tg.randn(64, 10, requires_grad=True)     # the first kernel call: Numba's CPU target is set up
    tg.nn.functional.cross_entropy(logits, tg.randint(0, 10, (64,))).backward()
    print("scipy.linalg" in sys.modules)
    import numba
    import numba.np.arraymath
    print(numba.np.arraymath._HAVE_BLAS)

    @numba.njit
    def dot(a, b):                                     # jitted np.dot imports scipy.linalg when it compiles
        return np.dot(a, b)

    print(float(dot(np.ones((2, 3)), np.ones((3, 2)))[0, 0]))
""")


@pytest.mark.skipif(importlib.util.find_spec("scipy") is None, reason="without SciPy there is no import to avoid")
def test_the_first_kernel_call_leaves_scipy_linalg_unimported_and_jitted_dot_working():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    scipy_linalg_imported, have_blas, dot = done.stdout.split()
    assert scipy_linalg_imported == "False"
    assert have_blas == "True"  # what Numba's own check finds where SciPy is installed
    assert dot == "3.0"


RACE = textwrap.dedent("""
    import numpy as np
    from numba.core.registry import cpu_target
    from tinygrad_opt.kernels import cpu, lazy_jit
    context = cpu_target.target_context
    set_up = context.refresh
    imported = []

    def refresh():  # another thread imports SciPy's BLAS while the engine sets Numba up
        if not imported:
            import scipy.linalg.cython_blas
            imported.append(scipy.linalg.cython_blas.__name__)
        return set_up()

    context.refresh = refresh
    lazy_jit.start()
    print(imported[0], cpu.relu(np.tile(np.array([-1.0, 2.0], np.float32), 4096))[:2].tolist())
""")


@pytest.mark.skipif(importlib.util.find_spec("scipy") is None, reason="without SciPy there is no import to avoid")
def test_an_import_of_scipy_during_numbas_set_up_succeeds():
    """Numba may start on the background thread (kernels/lazy_jit.py) while the caller's thread goes on: the set-up
    keeps Numba from importing scipy.linalg by swapping Numba's own check, not by blocking the import for all."""
    done = subprocess.run([sys.executable, "-c", RACE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["scipy.linalg.cython_blas", "[0.0,", "2.0]"]
