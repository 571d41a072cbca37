"""kernels/split_gemm.py: a large product split by columns over the engine's threads is the whole product, bitwise."""
import threading

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt.kernels import split_gemm
from tinygrad_opt.kernels.split_gemm import _parts, matmul


@pytest.fixture
def blas_yields_to_engine_threads(monkeypatch):
    """As after the engine's loops have run with two threads: BLAS on one, products split."""
    monkeypatch.setattr(split_gemm, "blas_yields_to_engine_threads", lambda: True)
    monkeypatch.setattr(split_gemm, "engine_threads", lambda: 2)


# the default CNN's fully connected products at batch 32, 64 and 256: forward, dL/dx, dL/dW (g^T @ x)
CNN_SHAPES = [(n, 3136, 128) for n in (32, 64, 256)] + [(n, 128, 3136) for n in (32, 64, 256)] + [(128, 64, 3136),
                                                                                                   (128, 256, 3136)]


@pytest.mark.parametrize("m,k,n", CNN_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_split_product_is_the_whole_product_bitwise(blas_yields_to_engine_threads, m, k, n, dtype):
    rng = np.random.default_rng(m + k + n)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    for left, right in ((a, b), (np.asfortranarray(a), b), (a, np.asfortranarray(b))):  # the layouts Linear passes
        assert _parts(left, right, None) > 1
        np.testing.assert_array_equal(matmul(left, right), left @ right)
        out = np.full((m, n), np.nan, dtype=dtype)
        assert matmul(left, right, out) is out
        np.testing.assert_array_equal(out, left @ right)


def test_blocks_run_on_several_threads(blas_yields_to_engine_threads, monkeypatch):
    seen = set()
    real = np.matmul

    def watching(*args, **kwargs):
        seen.add(threading.get_ident())
        return real(*args, **kwargs)

    from tinygrad_opt.kernels import blas_threads
    before = blas_threads.get_blas_threads()
    blas_threads.set_blas_threads(2)
    try:
        a = np.ones((256, 3136), np.float32)
        b = np.ones((3136, 128), np.float32)
        monkeypatch.setattr(split_gemm.np, "matmul", watching)
        for _ in range(20):  # the pool's thread joins within a few calls
            matmul(a, b)
            if len(seen) > 1:
                break
    finally:
        blas_threads.set_blas_threads(before)
    assert len(seen) > 1


def test_what_is_not_split(blas_yields_to_engine_threads, monkeypatch):
    big_a, big_b = np.ones((64, 3136), np.float32), np.ones((3136, 128), np.float32)
    assert _parts(big_a, big_b, None) == 2
    assert _parts(np.ones((64, 128), np.float32), np.ones((128, 10), np.float32), None) == 1  # small: one call
    assert _parts(big_a[None], big_b, None) == 1  # batched
    assert _parts(big_a, big_b.astype(np.float64), None) == 1  # mixed dtypes: NumPy's promotion, unsplit
    assert _parts(big_a.astype(np.int64), big_b.astype(np.int64), None) == 1
    assert _parts(big_a, big_b, np.empty((128, 64), np.float32).T) == 1  # out not C-contiguous
    assert _parts(np.ones((2048, 3136), np.float32), np.ones((3136, 16), np.float32), None) == 1  # too narrow
    monkeypatch.setattr(split_gemm, "blas_yields_to_engine_threads", lambda: False)
    assert _parts(big_a, big_b, None) == 1  # BLAS has threads of its own
    monkeypatch.setattr(split_gemm, "blas_yields_to_engine_threads", lambda: True)
    monkeypatch.setattr(split_gemm, "engine_threads", lambda: 1)
    assert _parts(big_a, big_b, None) == 1


def test_linear_layers_after_a_convolution_split_and_match_unsplit(monkeypatch):
    """The CNN's Linear + ReLU layer: forward and gradients the same with the split as without."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3136)).astype(np.float32)
    w = (rng.standard_normal((128, 3136)) * 0.02).astype(np.float32)
    b = np.zeros(128, np.float32)

    def run():
        xt, wt, bt = (tg.tensor(v, requires_grad=True) for v in (x, w, b))
        y = tg.nn.functional.relu(tg.nn.functional.linear(xt, wt, bt))
        (y * y).sum().backward()
        return y.numpy(), xt.grad.numpy(), wt.grad.numpy()

    calls = []
    monkeypatch.setattr(split_gemm, "map_chunks", lambda fn, chunks: calls.append(len(chunks)) or
                        [fn(*c) for c in chunks])
    monkeypatch.setattr(split_gemm, "blas_yields_to_engine_threads", lambda: False)
    unsplit = run()
    assert calls == []
    monkeypatch.setattr(split_gemm, "blas_yields_to_engine_threads", lambda: True)
    monkeypatch.setattr(split_gemm, "engine_threads", lambda: 2)
    split = run()
    assert len(calls) == 3  # forward, dL/dx, dL/dW
    for got, want in zip(split, unsplit):
        np.testing.assert_array_equal(got, want)


def test_products_share_the_engines_threads_only_once_its_loops_have_run():
    """Under "auto", a process that ran no convolution (an MLP) keeps BLAS's own threads and splits nothing."""
    import os
    import subprocess
    import sys

    pytest.importorskip("threadpoolctl")
    if (os.cpu_count() or 1) < 2:
        pytest.skip("needs two cores for the engine's threads")
    code = (
        "import numpy as np, tinygrad_opt as tg\n"
        "from tinygrad_opt.kernels import blas_threads, split_gemm\n"
        "a, b = np.ones((64, 3136), np.float32), np.ones((3136, 128), np.float32)\n"
        "x = tg.Tensor(a, requires_grad=True); w = tg.Tensor(b.T.copy(), requires_grad=True)\n"
        "tg.nn.functional.linear(x, w).sum().backward()\n"
        "before = (blas_threads.blas_yields_to_engine_threads(), split_gemm._parts(a, b, None))\n"
        "img = tg.Tensor(np.ones((16, 4, 12, 12), np.float32))\n"
        "tg.nn.functional.conv2d(img, tg.Tensor(np.ones((8, 4, 3, 3), np.float32)), padding=1)\n"
        "blas_threads.before_gemm()\n"
        "print(before, (blas_threads.blas_yields_to_engine_threads(), split_gemm._parts(a, b, None)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TINYGRAD_OPT_BLAS_THREADS"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = done.stdout.strip().split(") (")
    assert before == "(False, 1"  # BLAS keeps its own threads: nothing split
    assert after.startswith("True, ") and int(after.rstrip(")").split(", ")[1]) > 1
