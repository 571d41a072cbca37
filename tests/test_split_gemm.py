"""kernels/split_gemm.py: a large product split by columns over the engine's threads only where this machine's
BLAS gives the whole product's bits that way, and then bitwise the whole product."""
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt.kernels import split_gemm
from tinygrad_opt.kernels.blas_threads import single_blas_thread
from tinygrad_opt.kernels.split_gemm import _kind, _parts, matmul, verdicts


@pytest.fixture
def blas_yields_to_engine_threads(monkeypatch):
    """As after the engine's loops have run with two threads: BLAS on one, products split where the blocks agree.
    No verdicts yet: each test probes afresh."""
    monkeypatch.setattr(split_gemm, "blas_yields_to_engine_threads", lambda: True)
    monkeypatch.setattr(split_gemm, "engine_threads", lambda: 2)
    monkeypatch.setattr(split_gemm, "_verdicts", {})
    with single_blas_thread():
        yield


def _count_splits(monkeypatch) -> list:
    """Calls of the split path (the probe's included) from now on: one entry per call, its block count."""
    calls = []
    real = split_gemm._split_product

    def counting(a, b, out, parts):
        calls.append(parts)
        return real(a, b, out, parts)

    monkeypatch.setattr(split_gemm, "_split_product", counting)
    return calls


def _columnwise(a, b, out=None):
    """A BLAS whose blocks agree by construction: every column of the product its own matrix-vector call on a fresh
    copy of b's column, whichever block that column is in."""
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    for j in range(b.shape[1]):
        out[:, j] = np.matmul(a, np.ascontiguousarray(b[:, j]))
    return out


# the default CNN's fully connected products at batch 32, 64 and 256: forward, dL/dx, dL/dW (g^T @ x)
CNN_SHAPES = [(n, 3136, 128) for n in (32, 64, 256)] + [(n, 128, 3136) for n in (32, 64, 256)] + [(128, 64, 3136),
                                                                                                   (128, 256, 3136)]


@pytest.mark.parametrize("m,k,n", CNN_SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_split_product_is_the_whole_product_bitwise(blas_yields_to_engine_threads, m, k, n, dtype):
    """Whatever this machine's BLAS does with column blocks, the answer is the whole product's bits; the split path
    runs (after its probe) exactly where the verdict says the blocks agree."""
    rng = np.random.default_rng(m + k + n)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    for left, right in ((a, b), (np.asfortranarray(a), b), (a, np.asfortranarray(b))):  # the layouts Linear passes
        parts = _parts(left, right, None)
        assert parts > 1
        np.testing.assert_array_equal(matmul(left, right), left @ right)  # the first call: probe, whole product
        agrees = verdicts()[_kind(left, right, parts)]
        with pytest.MonkeyPatch.context() as counter:
            calls = _count_splits(counter)
            np.testing.assert_array_equal(matmul(left, right), left @ right)
            out = np.full((m, n), np.nan, dtype=dtype)
            assert matmul(left, right, out) is out
            np.testing.assert_array_equal(out, left @ right)
        assert calls == ([parts, parts] if agrees else [])


def test_blocks_that_round_differently_are_never_used(blas_yields_to_engine_threads, monkeypatch):
    """A BLAS whose column blocks differ from its whole product in the last bit: the engine finds out on the first
    call and from then on computes every such product whole."""
    a = np.random.default_rng(1).standard_normal((64, 3136)).astype(np.float32)
    b = np.random.default_rng(2).standard_normal((3136, 128)).astype(np.float32)

    def blocks_round_up(x, y, out=None):
        result = np.matmul(x, y, out=out)
        if y.shape[1] < b.shape[1]:  # a block
            np.nextafter(result, np.inf, out=result)
        return result

    monkeypatch.setattr(split_gemm, "_product", blocks_round_up)
    want = np.matmul(a, b)
    np.testing.assert_array_equal(matmul(a, b), want)  # the probe's call
    assert verdicts() == {_kind(a, b, 2): False}
    calls = _count_splits(monkeypatch)
    for _ in range(3):
        np.testing.assert_array_equal(matmul(a, b), want)
        out = np.empty((64, 128), np.float32)
        np.testing.assert_array_equal(matmul(a, b, out), want)
    assert calls == []


def test_the_probe_multiplies_random_operands_not_the_callers(blas_yields_to_engine_threads, monkeypatch):
    """Operands whose sums are exact in any order (ones) must not make blocks that round differently look equal."""
    def blocks_round_up(x, y, out=None):
        result = np.matmul(x, y, out=out)
        if y.shape[1] < 128:
            np.nextafter(result, np.inf, out=result)
        return result

    monkeypatch.setattr(split_gemm, "_product", blocks_round_up)
    ones = np.ones((64, 3136), np.float32), np.ones((3136, 128), np.float32)
    matmul(*ones)
    assert verdicts() == {_kind(*ones, 2): False}


def test_blocks_run_on_several_threads_where_they_agree(blas_yields_to_engine_threads, monkeypatch):
    """With a BLAS whose blocks agree (every column its own call) the product is split and its blocks run on two
    threads, bitwise the whole product."""
    seen = set()

    def watching(x, y, out=None):
        seen.add(threading.get_ident())
        return _columnwise(x, y, out)

    monkeypatch.setattr(split_gemm, "_product", watching)
    rng = np.random.default_rng(3)
    a = rng.standard_normal((256, 3136)).astype(np.float32)
    b = rng.standard_normal((3136, 128)).astype(np.float32)
    want = _columnwise(a, b)
    np.testing.assert_array_equal(matmul(a, b), want)  # the probe's call
    assert verdicts() == {_kind(a, b, 2): True}
    for _ in range(200):  # the pool's thread joins within a few calls; a busy VM can delay its wake-ups
        seen.clear()
        np.testing.assert_array_equal(matmul(a, b), want)
        if len(seen) > 1:
            break
    assert len(seen) > 1


def test_this_machines_blas_splits_on_several_threads_where_its_verdict_says(blas_yields_to_engine_threads,
                                                                              monkeypatch):
    """The real BLAS on the CNN's largest forward product: several threads where its blocks agree, the caller's
    alone where they do not."""
    seen = set()
    real = split_gemm._product

    def watching(*args, **kwargs):
        seen.add(threading.get_ident())
        return real(*args, **kwargs)

    a = np.ones((256, 3136), np.float32)
    b = np.ones((3136, 128), np.float32)
    matmul(a, b)  # the probe
    agrees = verdicts()[_kind(a, b, 2)]
    monkeypatch.setattr(split_gemm, "_product", watching)
    for _ in range(20):
        seen.clear()
        matmul(a, b)
        if len(seen) > 1:
            break
    assert len(seen) == (2 if agrees else 1)


def test_threads_meeting_a_new_product_at_once_get_the_whole_products_bits(blas_yields_to_engine_threads):
    rng = np.random.default_rng(4)
    a = rng.standard_normal((64, 3136)).astype(np.float32)
    b = rng.standard_normal((3136, 128)).astype(np.float32)
    want = a @ b
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: matmul(a, b), range(8)))
    for got in results:
        np.testing.assert_array_equal(got, want)
    assert list(verdicts()) == [_kind(a, b, 2)]


def test_what_is_not_split(blas_yields_to_engine_threads, monkeypatch):
    big_a, big_b = np.ones((64, 3136), np.float32), np.ones((3136, 128), np.float32)
    assert _parts(big_a, big_b, None) == 2
    assert _parts(np.ones((64, 128), np.float32), np.ones((128, 10), np.float32), None) == 1  # small: one call
    assert _parts(big_a[None], big_b, None) == 1  # batched
    assert _parts(big_a, big_b.astype(np.float64), None) == 1  # mixed dtypes: NumPy's promotion, unsplit
    assert _parts(big_a.astype(np.int64), big_b.astype(np.int64), None) == 1
    assert _parts(big_a, big_b, np.empty((128, 64), np.float32).T) == 1  # out not C-contiguous
    assert _parts(np.ones((64, 6272), np.float32)[:, ::2], big_b, None) == 1  # neither C- nor F-contiguous
    assert _parts(np.ones((2048, 3136), np.float32), np.ones((3136, 16), np.float32), None) == 1  # too narrow
    monkeypatch.setattr(split_gemm, "blas_yields_to_engine_threads", lambda: False)
    assert _parts(big_a, big_b, None) == 1  # BLAS has threads of its own
    monkeypatch.setattr(split_gemm, "blas_yields_to_engine_threads", lambda: True)
    monkeypatch.setattr(split_gemm, "engine_threads", lambda: 1)
    assert _parts(big_a, big_b, None) == 1


def test_no_probe_once_enough_kinds_are_known(blas_yields_to_engine_threads, monkeypatch):
    """After MAX_VERDICTS kinds a new kind of product is computed whole, without a probe's two extra products."""
    monkeypatch.setattr(split_gemm, "MAX_VERDICTS", 1)
    monkeypatch.setattr(split_gemm, "_verdicts", {("another kind",): True})
    probes = []
    monkeypatch.setattr(split_gemm, "_agrees", lambda *args: probes.append(args) or True)
    a, b = np.ones((64, 3136), np.float32), np.ones((3136, 128), np.float32)
    calls = _count_splits(monkeypatch)
    np.testing.assert_array_equal(matmul(a, b), a @ b)
    assert probes == [] and calls == [] and verdicts() == {("another kind",): True}


def test_linear_layers_after_a_convolution_split_where_the_blocks_agree_and_match_unsplit(monkeypatch):
    """The CNN's Linear + ReLU layer: forward and gradients the same with the split as without, and its three
    products (forward, dL/dx, dL/dW) split exactly where this machine's verdict says the blocks agree."""
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
    monkeypatch.setattr(split_gemm, "_verdicts", {})
    monkeypatch.setattr(split_gemm, "blas_yields_to_engine_threads", lambda: False)
    with single_blas_thread():  # as BLAS runs once it yields to the engine's threads
        unsplit = run()
        assert calls == []
        monkeypatch.setattr(split_gemm, "blas_yields_to_engine_threads", lambda: True)
        monkeypatch.setattr(split_gemm, "engine_threads", lambda: 2)
        first = run()  # each product probes its kind
        assert len(verdicts()) == 3 and len(calls) == 3  # the probes' splits
        calls.clear()
        split = run()
    assert len(calls) == sum(verdicts().values())
    for got, probed, want in zip(split, first, unsplit):
        np.testing.assert_array_equal(probed, want)
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
