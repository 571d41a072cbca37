"""benchmarks/kernels.py's CNN rows: each case is a valid call whose fused and reference results agree."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_opt import kernels

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("bench_kernels", ROOT / "benchmarks" / "kernels.py")
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


def _arrays(result):
    return [r for r in (result if isinstance(result, tuple) else (result,)) if isinstance(r, np.ndarray)]


@pytest.mark.parametrize("label", list(bench.conv_cases(20000, np, np.random.default_rng(0))))
def test_each_cnn_case_runs_and_the_fused_kernel_matches_its_reference(label):
    name = bench.kernel_name(label)
    if name not in kernels.available():
        pytest.skip(f"{name} is not a registered kernel in this checkout")
    make, nbytes, _ = bench.conv_cases(20000, np, np.random.default_rng(0))[label]
    args, kwargs = make()
    expected = bench._reference(name)(*args, **kwargs)
    got = kernels.get(name, args[0])(*args, **kwargs)
    for a, b in zip(_arrays(expected), _arrays(got), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
    assert bench.moved_bytes(args, expected) >= sum(a.nbytes for a in args if isinstance(a, np.ndarray)) > 0


def test_the_script_prints_the_cnn_rows():
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "kernels.py"), "--sizes", "20000", "--repeats",
                           "1", "--budget", "0.001", "--kernels", "im2col", "col2im", "max_pool"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.split(" ")[0] in kernels.available()]
    assert [r.split(" ")[0] for r in rows] == ["im2col", "col2im", "max_pool2d_forward", "max_pool2d_backward",
                                               "im2col", "max_pool2d_forward", "max_pool2d_backward"]
    assert all(float(r.split()[-3].rstrip("x")) > 0 for r in rows)  # the speed-up column
