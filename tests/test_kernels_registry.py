"""The kernel registry: modes, the environment variable, lazy imports and Numba's on-disk cache."""
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt import kernels

ROOT = Path(__file__).resolve().parent.parent
NAMES = ["adagrad_update", "adam_update", "apply_mask", "bias_grad", "dropout", "grad_norm", "log_softmax",
         "log_softmax_backward", "relu", "relu_backward", "rmsprop_update", "sgd_update", "softmax_cross_entropy",
         "sum_rows"]
NAMES = sorted(NAMES + ["erf"])  # nnlayers: GELU's error function
NAMES = sorted(NAMES + ["int8_matmul"])  # cli: the quantized Linear's product
NAMES = sorted(NAMES + ["col2im", "im2col", "max_pool2d_backward", "max_pool2d_forward"])  # kernels/conv_*.py
NAMES = sorted(NAMES + ["bias_relu", "relu_backward_bias_grad"])  # kernels/linear_*.py (ops.LinearReLU)
NAMES = sorted(NAMES + ["live_columns", "live_columns_turned", "place_live_rows"])  # kernels/linear_*.py (dL/dW without dead units' rows)
NAMES = sorted(NAMES + ["relu_backward_bias_grad_live"])  # kernels/linear_*.py (LinearReLU's mask pass finds them)
NAMES = sorted(NAMES + ["adamax_update", "nadam_update", "radam_update", "lion_update",
                       "schedule_free_adamw_update"])  # optimizer kernels added later
NAMES = sorted(NAMES + ["batch_norm_backward", "batch_norm_forward", "batch_norm_stats"])  # kernels/batchnorm_*.py
NAMES = sorted(NAMES + ["elu", "elu_backward", "gelu", "gelu_backward", "leaky_relu", "leaky_relu_backward", "silu",
                       "silu_backward", "softplus", "softplus_backward"])  # kernels/activation_*.py
NAMES = sorted(NAMES + ["layer_norm", "layer_norm_backward"])  # kernels/layer_norm_*.py
NAMES = sorted(NAMES + ["index_add_rows"])  # kernels/embedding_*.py
NAMES = sorted(NAMES + ["tanh_backward"])  # kernels/activation_*.py
NAMES = sorted(NAMES + ["huber_loss", "l1_loss", "nll_loss", "nll_loss_backward",
                       "smooth_l1_loss"])  # kernels/loss_*.py
NAMES = sorted(NAMES + ["bias_relu_transposed"])  # kernels/linear_*.py: ops.LinearReLU's weight-first product
NAMES = sorted(NAMES + ["adam_update_group", "sgd_update_group"])  # one optimizer update over a whole parameter group
NAMES = sorted(NAMES + ["erfc", "erfinv"])  # kernels/special_*.py (ops.Erfc, ops.Erfinv)
NAMES = sorted(NAMES + ["adadelta_update"])  # optim/adadelta.py's update


@pytest.fixture
def restore_mode():
    mode = kernels.get_mode()
    yield
    tg.set_kernels(mode)


def run_python(code: str, env: dict | None = None, cwd=None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), TINYGRAD_OPT_KERNELS="auto")  # whatever mode this run uses
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=240)


def test_every_fused_kernel_is_registered_with_a_reference():
    assert kernels.available() == NAMES
    x = np.zeros(3, np.float32)
    for name in NAMES:
        assert callable(kernels.get(name, x))


def test_modes_pick_the_version(restore_mode):
    pytest.importorskip("numba")
    x = np.ones(4, np.float32)
    large = np.ones(4096, np.float32)  # ReLU's forward loop runs from 4096 elements
    tg.set_kernels("auto")
    assert kernels.which("adam_update", x) == "cpu"
    assert kernels.get("relu", large) is not kernels.reference.relu
    tg.set_kernels("reference")
    assert kernels.which("adam_update", x) == "reference"
    assert kernels.get("relu", large) is kernels.reference.relu
    tg.set_kernels("numba")
    assert kernels.which("dropout", x) == "cpu"


def test_bad_mode_and_unknown_kernel_are_clear_errors():
    with pytest.raises(ValueError, match="unknown kernel mode 'fast'.*'auto', 'numba', 'reference'"):
        tg.set_kernels("fast")
    with pytest.raises(KeyError, match="no kernel named 'conv'.*adam_update"):
        kernels.get("conv", np.ones(1))


def test_training_gives_the_same_weights_in_both_modes(restore_mode):
    """A few Adam steps of a small MLP with dropout: the fused path equals the reference path."""
    from tinygrad_opt import nn, optim
    import tinygrad_opt.nn.functional as F

    def train(mode):
        tg.set_kernels(mode)
        tg.manual_seed(3)
        model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 4))
        opt = optim.Adam(model.parameters(), lr=0.01)
        rng = np.random.default_rng(0)
        for _ in range(4):
            x = tg.Tensor(rng.standard_normal((6, 5)).astype(np.float32))
            y = tg.Tensor(rng.integers(0, 4, 6))
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
            loss.backward()
            optim.clip_grad_norm_(model.parameters(), 0.5)
            opt.step()
            opt.zero_grad()
        return [p.numpy() for p in model.parameters()]

    for a, b in zip(train("auto"), train("reference")):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_environment_variable_sets_the_mode_when_first_asked():
    done = run_python("import tinygrad_opt as tg; print(tg.kernels.get_mode())", {"TINYGRAD_OPT_KERNELS": "reference"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "reference"
    bad = run_python("import tinygrad_opt as tg; tg.kernels.get_mode()", {"TINYGRAD_OPT_KERNELS": "turbo"})
    assert bad.returncode != 0
    assert "EnvironmentSettingError" in bad.stderr
    assert "TINYGRAD_OPT_KERNELS" in bad.stderr and "'turbo'" in bad.stderr


def test_import_is_lazy_and_fast():
    """Importing the package imports neither Numba nor CuPy; asking for a kernel without a first-call twin
    imports Numba; one with a twin leaves it to the background thread, on the twin's first call."""
    done = run_python("""
        import sys, time
        start = time.perf_counter()
        import tinygrad_opt as tg
        elapsed = time.perf_counter() - start
        print(elapsed, "numba" in sys.modules, "cupy" in sys.modules)
        import numpy as np
        from tinygrad_opt.kernels import background, cpu
        g, y = np.ones(4096, np.float32), np.ones(4096, np.float32)
        relu_backward = tg.kernels.get("relu_backward", g)  # has a twin
        print("numba" in sys.modules)
        relu_backward(g, y)
        print("numba" in sys.modules, background.wait_idle(240), "numba" in sys.modules)
        tg.kernels.get("log_softmax", np.ones((4, 3), np.float32))  # no twin: Numba now, on this thread
        print(type(cpu._log_softmax_float32).__name__)
    """, {"TINYGRAD_OPT_BACKGROUND_COMPILE": "1"})
    assert done.returncode == 0, done.stderr
    first, second, third, fourth = done.stdout.splitlines()
    elapsed, numba_loaded, cupy_loaded = first.split()
    assert numba_loaded == "False" and cupy_loaded == "False"
    assert float(elapsed) < 2.0  # about 0.15 s on the development machine; generous for loaded CI machines
    assert second == "False"
    if _has_numba():
        assert third.split()[1:] == ["True", "True"]
        assert fourth == "CPUDispatcher"


def _has_numba() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def test_without_numba_every_kernel_runs_its_reference_from_the_first_call():
    """The kernel modules import without Numba (lazy_jit); its absence shows when it would start: a warning, and
    the reference for kernels with a first-call twin too (no twin's bits first, the reference's after)."""
    done = run_python("""
        import sys, warnings
        sys.modules["numba"] = None  # as if Numba were not installed
        import numpy as np, tinygrad_opt as tg
        from tinygrad_opt.kernels import reference
        g = np.ones((4, 3), np.float32)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            bias_grad = tg.kernels.get("bias_grad", g)  # has a twin
            log_softmax = tg.kernels.get("log_softmax", g)  # has none
        print(bias_grad is reference.bias_grad, log_softmax is reference.log_softmax,
              any("cpu.py is unavailable" in str(w.message) for w in caught))
    """, {"TINYGRAD_OPT_BACKGROUND_COMPILE": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True", "True"]


@pytest.mark.skipif(not _has_numba(), reason="Numba is not installed")
def test_kernel_without_twin_starts_numba_where_it_is_asked_for():
    """With the background compile off, asking for a kernel imports Numba on the asking thread, and the kernel
    modules' loops are then Numba dispatchers, not stand-ins (lazy_jit)."""
    done = run_python("""
        import sys
        import numpy as np, tinygrad_opt as tg
        from tinygrad_opt.kernels import cpu, linear_cpu
        print("numba" in sys.modules, type(cpu._relu).__name__, type(linear_cpu._bias_relu).__name__)
        tg.kernels.get("relu_backward", np.ones(4096, np.float32))
        print("numba" in sys.modules, type(cpu._relu).__name__, type(linear_cpu._bias_relu).__name__)
    """, {"TINYGRAD_OPT_BACKGROUND_COMPILE": "0"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["False Deferred Deferred", "True CPUDispatcher CPUDispatcher"]


@pytest.mark.skipif(not _has_numba(), reason="Numba is not installed")
def test_numba_cache_goes_to_numba_cache_dir(tmp_path):
    cache = tmp_path / "cache"
    done = run_python("""
        import numpy as np, tinygrad_opt as tg
        from tinygrad_opt.kernels import cpu, lazy_jit
        x = np.tile(np.array([-1.0, 2.0], np.float32), 2048)  # large enough for the Numba loop
        print(lazy_jit.cache_usable, cpu.relu(x)[:2].tolist())
    """, {"NUMBA_CACHE_DIR": str(cache)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "[0.0,", "2.0]"]
    assert list(cache.rglob("*relu*.nbi")), "no cache index written"


@pytest.mark.skipif(not _has_numba(), reason="Numba is not installed")
def test_kernels_work_without_any_cache_location():
    """When Numba finds no writable cache location the kernels compile per process, with one warning."""
    done = run_python("""
        import warnings
        warnings.simplefilter("always")
        import numba.core.caching as caching
        impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")
        impl._locator_classes = []   # as if nothing were writable (private API: the test may need updating)
        import numpy as np, tinygrad_opt as tg
        from tinygrad_opt.kernels import cpu, lazy_jit
        with warnings.catch_warnings(record=True) as caught:  # at Numba's start: the first loop's call
            values = cpu.relu(np.tile(np.array([-1.0, 2.0]), 2048))[:2].tolist()
        print(lazy_jit.cache_usable, len([w for w in caught if "cache" in str(w.message)]))
        print(values)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["False 1", "[0.0, 2.0]"]


@pytest.mark.skipif(not _has_numba(), reason="Numba is not installed")
def test_cache_next_to_an_installed_package(tmp_path):
    """Laid out as an install (tinygrad_opt/kernels inside the package), the cache lands in its __pycache__."""
    site = tmp_path / "site"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "tinygrad_opt", site / "tinygrad_opt", ignore=ignore)
    shutil.copytree(ROOT / "kernels", site / "tinygrad_opt" / "kernels", ignore=ignore)
    env = dict(os.environ, PYTHONPATH=str(site))
    env.pop("NUMBA_CACHE_DIR", None)
    code = """
        import numpy as np, tinygrad_opt as tg
        from tinygrad_opt.kernels import cpu
        print(tg.kernels.__file__)
        print(cpu.relu(np.tile(np.array([-1.0, 2.0], np.float32), 2048))[:2].tolist())
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=240)
    assert done.returncode == 0, done.stderr
    where, values = done.stdout.splitlines()
    assert where.startswith(str(site))
    assert values == "[0.0, 2.0]"
    assert list((site / "tinygrad_opt" / "kernels" / "__pycache__").glob("*relu*.nbi"))


def test_the_registry_sends_inputs_a_fast_version_does_not_take_to_the_reference(restore_mode, monkeypatch):
    from tinygrad_opt.kernels import registry

    calls = []

    @registry.takes(lambda a, scale: a.dtype == np.float32)
    def fast(a, scale):
        calls.append("fast")
        return a * scale

    def slow(a, scale):
        calls.append("reference")
        return a * scale

    monkeypatch.setitem(registry._table, "scale_for_test", {"reference": slow, "cpu": fast, "gpu": None})
    tg.set_kernels("auto")  # forgets the versions resolved so far
    kernel = kernels.get("scale_for_test", np.ones(2))
    assert kernel(np.ones(2, np.float32), 2.0).tolist() == [2.0, 2.0]
    assert kernel(np.ones(2, np.float64), 3.0).tolist() == [3.0, 3.0]
    assert calls == ["fast", "reference"]
    tg.set_kernels("reference")
    assert kernels.get("scale_for_test", np.ones(2)) is slow
    monkeypatch.undo()
    tg.set_kernels("auto")


def test_no_fast_kernel_makes_the_fallback_decision_itself():
    """Every registered fast version declares `@takes(...)` and never calls its reference twin."""
    import ast

    for source in ("cpu.py", "gpu.py", "conv_cpu.py"):
        tree = ast.parse((ROOT / "kernels" / source).read_text())
        functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
        for name in set(NAMES) & set(functions):
            node = functions[name]
            decorators = [d.func.id for d in node.decorator_list if isinstance(d, ast.Call) and isinstance(d.func, ast.Name)]
            assert "takes" in decorators, f"{source}: {name} does not declare the inputs it takes"
            called = {c.func.attr for c in ast.walk(node) if isinstance(c, ast.Call)
                      and isinstance(c.func, ast.Attribute) and getattr(c.func.value, "id", None) == "reference"}
            assert not called & set(NAMES), f"{source}: {name} calls the reference itself ({called})"
