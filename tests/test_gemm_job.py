"""kernels/gemm_job.py: a product as fixed blocks, each a one-thread cblas call, whose bits depend on the shape alone:
the same with one thread or two, compiled or through its ctypes twin, and in the engine's eager and replayed steps."""
from __future__ import annotations

import ctypes
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import tinygrad_opt as tg
from tinygrad_opt.kernels import blas_threads, gemm_job, spin_team, tile_gemm
from tinygrad_opt.ops import linear

pytestmark = pytest.mark.skipif(gemm_job.cblas() is None, reason="NumPy's BLAS is not OpenBLAS's 64-bit build")

# (rows, inner, cols): the seed MLP's products at batch 64 and 512, and odd shapes whose last block is short
SHAPES = [(256, 784, 64), (64, 784, 256), (181, 64, 784), (512, 256, 10), (10, 512, 256), (513, 37, 19),
          (17, 3, 33), (1, 5, 40), (40, 5, 1)]
LAYOUTS = ["NN", "NT", "TN", "TT"]  # T: the operand is a transposed view of a C-contiguous array (no copy)


def operands(rows, inner, cols, layout, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((inner, rows) if layout[0] == "T" else (rows, inner)).astype(dtype)
    b = rng.standard_normal((cols, inner) if layout[1] == "T" else (inner, cols)).astype(dtype)
    return (a.T if layout[0] == "T" else a), (b.T if layout[1] == "T" else b)


def compiled_job():
    assert gemm_job.wait_built()
    return ctypes.CFUNCTYPE(None, ctypes.c_int64)(gemm_job.job_address())


def run_job(a, b, threads: int):
    """The product through the job on `threads` threads at once (0: its Python twin); (result, args block)."""
    c = np.full((a.shape[0], b.shape[1]), np.nan, a.dtype)
    args = np.zeros(gemm_job.SLOTS, np.int64)
    gemm_job.fill_args(args, a, b, c)
    with gemm_job.one_blas_thread():
        if threads == 0:
            gemm_job.twin_product(args)
        else:
            job = compiled_job()
            start = threading.Barrier(threads)

            def work():
                start.wait()
                job(args.ctypes.data)  # ctypes releases the GIL: the threads run the job at the same time

            team = [threading.Thread(target=work) for _ in range(threads)]
            for thread in team:
                thread.start()
            for thread in team:
                thread.join()
    return c, args


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("rows,inner,cols", SHAPES)
def test_the_blocks_give_the_same_bits_on_one_thread_two_threads_and_the_twin(rows, inner, cols, layout, dtype):
    a, b = operands(rows, inner, cols, layout, dtype)
    twin, _ = run_job(a, b, 0)
    one, args_one = run_job(a, b, 1)
    two, args_two = run_job(a, b, 2)
    parts = int(args_one[gemm_job.PARTS])
    assert args_one[gemm_job.CLAIM] == parts + 1  # one thread claimed every block, then found none
    assert args_two[gemm_job.CLAIM] == parts + 2  # both threads ran the job (each left on a claim past the end)
    assert twin.tobytes() == one.tobytes() == two.tobytes()
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(one, a @ b, rtol=tol, atol=tol * inner)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows,inner,cols", [(4096, 784, 256), (64, 784, 256), (181, 64, 784), (1100, 37, 19)])
def test_the_bias_and_relu_on_each_block_are_the_kernels_bits(two_engine_threads, monkeypatch, rows, inner, cols,
                                                              dtype):
    """relu(a @ b + bias) through the job (each thread on its blocks, row or column blocks) and through its twin:
    the bits of the product then the kernel bias_relu, NaN, infinities and signed zeros included."""
    from tinygrad_opt.kernels import linear_cpu  # noqa: PLC0415 - Numba's loop, the yardstick

    a, b = operands(rows, inner, cols, "NT", dtype, seed=rows)
    a[0, :2] = np.nan
    a[1, 0] = np.inf
    bias = np.random.default_rng(cols).standard_normal(cols).astype(dtype)
    bias[:3] = (-0.0, np.nan, -np.inf)
    layout = gemm_job.job_layout(a, b)
    assert layout is not None
    want = gemm_job.matmul(a, b, None, layout)
    linear_cpu.bias_relu(want, bias)
    assert gemm_job.wait_built()
    on_the_team = gemm_job.matmul(a, b, None, layout, bias)
    monkeypatch.setattr(gemm_job, "job_address", lambda: None)
    through_the_twin = gemm_job.matmul(a, b, None, layout, bias)
    assert on_the_team.tobytes() == want.tobytes() == through_the_twin.tobytes()
    assert (want >= 0).sum() + np.isnan(want).sum() == want.size and (want == 0).any()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_matmul_takes_operands_of_every_layout_read_only_or_not(two_engine_threads, monkeypatch, layout, dtype):
    """The job's path writes the operands' addresses in compiled code closed to new signatures: transposed views
    and read-only arrays reach it (each must convert to one of its signatures), with the twin's bits."""
    assert gemm_job.wait_built()
    for read_only in (False, True):
        a, b = operands(256, 784, 64, layout, dtype, seed=int(read_only))
        for array in (a, b):
            array.setflags(write=not read_only)
        layout_args = gemm_job.job_layout(a, b)
        assert layout_args is not None
        on_the_job = gemm_job.matmul(a, b, None, layout_args)
        with monkeypatch.context() as patch:
            patch.setattr(gemm_job, "job_address", lambda: None)
            through_the_twin = gemm_job.matmul(a, b, None, layout_args)
        assert on_the_job.tobytes() == through_the_twin.tobytes()
        np.testing.assert_allclose(on_the_job, a @ b, rtol=1e-4, atol=1e-3)


def test_the_blocks_depend_on_the_shape_alone_and_cover_the_result():
    for rows, inner, cols in [(256, 784, 64), (64, 784, 256), (512, 784, 256), (256, 64, 784), (190, 4096, 784),
                              (10, 512, 256), (513, 37, 19), (17, 3, 33), (1, 5, 40), (40, 5, 1), (15, 9, 15)]:
        by_columns, step, parts = gemm_job.blocks(rows, inner, cols, 4)
        extent = cols if by_columns else rows
        assert step % gemm_job.ALIGN == 0 and 1 <= parts <= gemm_job.PARTS_WANTED
        assert (parts - 1) * step < extent <= parts * step
    # the seed MLP's products: rows, except where each row block would read a large (inner, cols) operand whole
    assert not gemm_job.blocks(256, 784, 64, 4)[0]  # W1 @ x^T at batch 64: x^T (200 KB) read by both blocks
    assert not gemm_job.blocks(256, 64, 784, 4)[0]  # dW1 at batch 64
    assert gemm_job.blocks(64, 784, 256, 4)[0]  # x @ W1^T: W1^T (800 KB) would be read by both row blocks
    assert not gemm_job.blocks(512, 784, 256, 4)[0]  # ... unless x is the larger operand
    assert gemm_job.blocks(10, 512, 256, 4)[0]  # ten rows: too few to split


def test_only_the_layouts_blas_takes_without_copies():
    a = np.ones((8, 6), np.float32)
    assert gemm_job.takes(a, a.T) and gemm_job.takes(a.T, a) and gemm_job.takes(a[:, :4].T, a[:, :5])
    assert not gemm_job.takes(a[:, ::2], a[:3])  # no unit stride on either axis
    assert not gemm_job.takes(a, a.astype(np.float64).T)  # mixed dtypes
    assert not gemm_job.takes(a.astype(np.float16), a.astype(np.float16).T)
    assert not gemm_job.takes(a, a)  # shapes that do not fit
    assert not gemm_job.takes(a, a.T, out=np.empty((8, 8), np.float32).T)  # out must be C-contiguous
    assert not gemm_job.takes(a, np.ones((6, 0), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_engine_routes_large_products_to_the_job_and_gets_its_bits(two_engine_threads, monkeypatch, dtype):
    a, b = operands(256, 784, 64, "NT", dtype)
    assert gemm_job.routes(a, b)
    expected, _ = run_job(a, b, 2)
    assert linear._product(a, b).tobytes() == expected.tobytes()
    out = np.empty((256, 64), dtype)
    assert linear._product(a, b, out) is out and out.tobytes() == expected.tobytes()
    small = operands(64, 256, 10, "NT", dtype)  # below FROM_MACS: OpenBLAS's own call, as before
    assert not gemm_job.routes(*small)
    assert linear._product(*small).tobytes() == np.matmul(*small).tobytes()
    monkeypatch.setattr(gemm_job, "team_products", False)  # TINYGRAD_OPT_TEAM_PRODUCTS=0
    assert not gemm_job.routes(a, b)
    assert linear._product(a, b).tobytes() == np.matmul(a, b).tobytes()


def test_one_engine_thread_or_blas_left_alone_keeps_openblas_products(two_engine_threads):
    a, b = operands(256, 784, 64, "NT", np.float32)
    for setting in (1, "off"):
        tg.kernels.set_blas_threads(setting)
        assert not gemm_job.routes(a, b)
    tg.kernels.set_blas_threads(3)
    assert gemm_job.routes(a, b)


def test_after_the_engines_own_loops_split_gemm_decides(two_engine_threads, monkeypatch):
    a, b = operands(256, 784, 64, "NT", np.float32)
    monkeypatch.setattr(gemm_job, "blas_yields_to_engine_threads", lambda: True)
    assert not gemm_job.routes(a, b)


def test_the_blas_thread_count_is_restored_after_the_job(two_engine_threads):
    get = gemm_job.cblas()["threads"][0]
    blas_threads.apply_policy()
    before = get()
    a, b = operands(256, 784, 64, "NT", np.float32)
    gemm_job.matmul(a, b)
    assert get() == before == 2


FRESH_PROCESS = """
import numpy as np
import tinygrad_opt as tg
from tinygrad_opt.kernels import gemm_job, lazy_jit
tg.kernels.set_blas_threads(2)
rng = np.random.default_rng(3)
w, x = rng.standard_normal((256, 784)).astype(np.float32), rng.standard_normal((64, 784)).astype(np.float32)
before = gemm_job.matmul(w, x.T)
assert not lazy_jit.started() and gemm_job.job_address() is None  # the twin ran: no Numba imported for it
assert gemm_job.wait_built() and gemm_job.job_address() is not None
after = gemm_job.matmul(w, x.T)
print(before.tobytes() == after.tobytes())
"""


def test_before_numba_starts_the_twin_gives_the_compiled_jobs_bits():
    done = subprocess.run([sys.executable, "-c", FRESH_PROCESS], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "True"


def mlp_step_bits(batch: int, steps: int, capture: bool) -> list[bytes]:
    """The seed MLP (784-256-10, ReLU, cross-entropy, Adam) for `steps` steps: the losses' and weights' bytes."""
    tg.manual_seed(0)
    model = tg.nn.Sequential(tg.nn.Linear(784, 256), tg.nn.ReLU(), tg.nn.Linear(256, 10))
    optimizer = tg.optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        loss = tg.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        return loss

    run = tg.compile(step) if capture else step
    rng = np.random.default_rng(batch)
    data = [(tg.Tensor(rng.random((batch, 784), dtype=np.float32)), tg.Tensor(rng.integers(0, 10, batch)))
            for _ in range(2)]
    losses = [run(*data[i % 2]).data.tobytes() for i in range(steps)]
    return losses + [p.data.tobytes() for p in model.parameters()]


@pytest.mark.parametrize("batch", [64, 512])
def test_the_replayed_mlp_step_gives_the_eager_bits_through_the_job(two_engine_threads, monkeypatch, batch):
    calls = []
    real, real_tiles = gemm_job.matmul, tile_gemm.matmul
    monkeypatch.setattr(gemm_job, "matmul", lambda a, b, out=None, layout=None, relu_bias=None:
                        calls.append(a.shape) or real(a, b, out, layout, relu_bias))
    real_live = tile_gemm.matmul_live
    monkeypatch.setattr(tile_gemm, "matmul", lambda a, *rest: calls.append(a.shape) or real_tiles(a, *rest))
    monkeypatch.setattr(tile_gemm, "matmul_live", lambda a, *rest: calls.append(a.shape) or real_live(a, *rest))
    eager = mlp_step_bits(batch, 5, capture=False)
    assert len(calls) >= 5 * 2  # the first layer's forward and weight gradient at least, each step
    assert mlp_step_bits(batch, 5, capture=True) == eager
    calls.clear()
    monkeypatch.setattr(gemm_job, "team_products", False)
    mlp_step_bits(batch, 2, capture=False)
    assert not calls


def test_the_teams_helper_joins_and_the_bits_are_those_of_the_caller_alone(two_engine_threads, monkeypatch):
    """Through spin_team.run: the helper takes a block in some of the calls (the claim counter ends at parts + 2),
    and every call gives the bits of the job run by the caller alone."""
    monkeypatch.setattr(spin_team, "machine_overloaded", lambda: False)  # the helper may join even under load
    gemm_job.wait_built()
    seen = []
    real_run = spin_team.run

    def run(job, args):
        real_run(job, args)
        seen.append(int(args[gemm_job.CLAIM]) - int(args[gemm_job.PARTS]))

    monkeypatch.setattr(spin_team, "run", run)
    for dtype in (np.float32, np.float64):
        for shape, layout in [((256, 784, 64), "NT"), ((190, 64, 784), "NN"), ((256, 64, 784), "TN")]:
            a, b = operands(*shape, layout, dtype)
            alone, _ = run_job(a, b, 1)
            deadline = time.monotonic() + 5
            seen.clear()
            while time.monotonic() < deadline and seen.count(2) < 3:
                assert gemm_job.matmul(a, b).tobytes() == alone.tobytes()
            assert seen.count(2) >= 3, seen[:20]  # the helper took part
    monkeypatch.setattr(spin_team, "ready", lambda: False)  # the team off: the caller alone
    seen.clear()
    assert gemm_job.matmul(a, b).tobytes() == alone.tobytes() and seen == [1]


def test_blas_gets_its_threads_back_only_when_the_last_job_leaves(two_engine_threads):
    get = gemm_job.cblas()["threads"][0]
    blas_threads.apply_policy()
    with gemm_job.one_blas_thread():
        with gemm_job.one_blas_thread():  # as a second Python thread's job would
            assert get() == 1
        assert get() == 1  # the first job's blocks still need one BLAS thread
    assert get() == 2
