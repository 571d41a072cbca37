"""A weight gradient's live rows at a long batch: dW[live] = g[:, live]^T @ x in register tiles of fused
multiply-adds, the batch axis in blocks, the dead units' rows written +0.

At a large batch, a trained ReLU layer's weight gradient has many dead units (every row of g zero), and
ops/linear.py multiplies only the live ones. That product is thin: at batch 4096 about 70 live units of 256
against x's 784 columns, a (70, 4096) x (4096, 784) product. OpenBLAS packs all of x into its own layout for
it, and so many bytes packed for so few rows of the result ran it at about 40 % of its own square-product rate
(benchmarks/README.md, "The live rows in fused tiles"). Here x is read as it is: a tile of rows x vectors *
LANES elements of dW stays in registers while t runs over a block of INNER_BLOCK rows of x, `rows` broadcasts
of g[t, live[r]] and `vectors` loads of x's row t feeding rows * vectors fused multiply-adds a step
(tile_gemm.make_tile, fused); the tiles of one block of t go over the same few columns of x while they are in
cache, and the first of them fetches the next columns' part of x ahead. Each thread of the team takes a block
of columns.

The bits: each element is dW[u, j] = b_0 + b_1 + ... in order, b_i the sum over block i's t in order, each
term one fused multiply-add (acc = fma(g[t, u], x[t, j], acc) from +0), each + one rounded add. So they depend
on neither the tile's shape, the vector width, the thread nor the column blocks, but they differ from
OpenBLAS's (its own blocks of t) and from tile_gemm's short-batch tiles (a multiply and an add a term). NumPy
has no fused multiply-add to give a twin with these bits before the job is compiled: the first product waits
for the compile instead (matmul_live), so a process computes the product one way from its first step. The
layer hands the compile to the background thread at its first long batch (build_later), before any unit is
likely dead.
"""
from __future__ import annotations

import functools

import numpy as np

from . import block_claims, job_build, lazy_jit, native_arrays, tile_gemm

# the args block, int64 slots: g[t, u] at G + 4 * (t * G_ROW + u), x's row t at X + 4 * t * X_ROW, dW's row u at
# C + 4 * u * N; LIVE the address of COUNT ascending int64 unit numbers of UNITS; NONFINITE a flag back
CLAIM, PARTS, STEP, N, K, G, G_ROW, X, X_ROW, C, LIVE, COUNT, UNITS, NONFINITE = range(14)
SLOTS = 14

PARTS_WANTED = 2  # column blocks: one per thread of the team
INNER_BLOCK = 128  # rows of x a tile runs through before its sum is added to dW (the bits: module docstring)
EVERY_ROW_UP_TO = 256  # rows of batch up to which ops/linear.py gives the tiles every row where few units are dead
MIN_INNER = tile_gemm.MAX_INNER_UNPACKED + 1  # shorter batches: tile_gemm's tiles, one pass over t
# rows x units x columns from which the tiles take a weight gradient: below, OpenBLAS's small product was as
# fast or faster (a 10-class layer's dW2 at 96 rows 4.6 against 8.9 us; benchmarks/README.md, "The live rows
# in fused tiles")
FROM_MACS = 1 << 21

enabled = True  # False: the live rows go to BLAS (benchmarks switch this off and on in one process)

# Numba's name, bound when Numba starts (lazy_jit: this module imports without it)
numba = None


def _bind_numba() -> None:
    global numba
    import numba  # noqa: PLC0415 - at Numba's start, not at this module's import (lazy_jit)


lazy_jit.on_start(_bind_numba)


def _make_live_columns(rows: int, vectors: int):
    """live_columns(g, g_row, live, x, x_row, c, n, k, count, units, first, last): columns first..last-1 of dW
    (units, n): the live rows' (live: the address of `count` ascending int64 unit numbers) in fused tiles of
    `rows`, tile_gemm.ROWS, then one row, of `vectors` then one vector; the other rows +0. Returns 1 where a
    live value is not finite."""
    tall, middle = rows, min(tile_gemm.ROWS, rows)
    wide_tall, wide_middle, wide_one = (tile_gemm.make_tile(height, vectors, True, True)
                                        for height in (tall, middle, 1))
    thin_tall, thin_middle, thin_one = (tile_gemm.make_tile(height, 1, True, True) for height in (tall, middle, 1))
    leading = tile_gemm.make_tile(tall, vectors, True, True, True)
    lanes = tile_gemm.LANES
    wide, block = vectors * lanes, INNER_BLOCK

    def live_columns(g, g_row, live, x, x_row, c, n, k, count, units, first, last):
        bad = 0
        t = 0
        while t < k:
            inner = min(block, k - t)
            more = 1 if t > 0 else 0
            g_t, x_t = g + 4 * t * g_row, x + 4 * t * x_row
            j = first
            while j < last:
                whole = j + wide <= last
                x_j, c_j = x_t + 4 * j, c + 4 * j
                # the first row tile fetches the next column tile's part of x ahead (else the next block's first)
                ahead = 4 * wide if j + 2 * wide <= last else 4 * (inner * x_row + first - j)
                i = 0
                while i < count:
                    index, left = live + 8 * i, count - i
                    if left >= tall:
                        if whole and i == 0:
                            bad |= leading(g_t, g_row, index, x_j, x_row, c_j, n, inner, more, ahead)
                        elif whole:
                            bad |= wide_tall(g_t, g_row, index, x_j, x_row, c_j, n, inner, more)
                        else:
                            bad |= thin_tall(g_t, g_row, index, x_j, x_row, c_j, n, inner, more)
                        i += tall
                    elif left >= middle:
                        if whole:
                            bad |= wide_middle(g_t, g_row, index, x_j, x_row, c_j, n, inner, more)
                        else:
                            bad |= thin_middle(g_t, g_row, index, x_j, x_row, c_j, n, inner, more)
                        i += middle
                    else:
                        if whole:
                            bad |= wide_one(g_t, g_row, index, x_j, x_row, c_j, n, inner, more)
                        else:
                            bad |= thin_one(g_t, g_row, index, x_j, x_row, c_j, n, inner, more)
                        i += 1
                j += wide if whole else lanes
            t += inner
        numbers = native_arrays.array_at(live, count, np.int64)
        zero = np.float32(0.0)
        i = 0
        for unit in range(units):
            if i < count and numbers[i] == unit:
                i += 1
                continue
            dead = native_arrays.array_at(c + 4 * (unit * n + first), last - first, np.float32)
            for j in range(last - first):
                dead[j] = zero
        return bad

    return numba.njit(nogil=True, inline="always")(live_columns)


_live_columns = None


def _make_kernels() -> None:
    global _live_columns
    _live_columns = _make_live_columns(*tile_gemm.UNPACKED_TILE)


lazy_jit.on_start(_make_kernels)


def _column_blocks(address):
    """The job: claim column blocks of dW and compute each."""
    args = native_arrays.array_at(address, SLOTS, np.int64)
    parts, step, n = args[PARTS], args[STEP], args[N]
    while True:
        part = block_claims.claim(args, CLAIM)
        if part >= parts:
            return
        first, last = part * step, min(part * step + step, n)
        if _live_columns(args[G], args[G_ROW], args[LIVE], args[X], args[X_ROW], args[C], n, args[K], args[COUNT],
                         args[UNITS], first, last):
            args[NONFINITE] = 1


def _compile_job():
    """The cfunc of _column_blocks (cached on disk where Numba can); needs Numba started."""
    return lazy_jit.cached(functools.partial(numba.cfunc, numba.types.void(numba.types.int64)), _column_blocks,
                           nopython=True, error_model="numpy")


_build = job_build.JobBuild(_compile_job)


def build_later() -> None:
    """Hand the job's compile to the background thread (kernels/job_build.py) if it is not built, so that the
    first product rarely waits for it; nothing where that thread is off or Numba has not started."""
    if _build.job is None and lazy_jit.started():
        _build.hand()


def _job_address() -> int:
    """The job's address, compiled first on this thread if it is not (loaded from Numba's cache where it can; a
    compile the background thread has begun is waited for)."""
    return _build.wait()


def wait_built() -> bool:
    """Build the job now if it is not built (tests, benchmarks)."""
    _build.wait()
    return True


@functools.cache
def available() -> bool:
    """Whether the job can run here: Numba is installed and the CPU multiplies and adds in one instruction (else
    LLVM's fma would be a library call a lane)."""
    if not lazy_jit.installed():
        return False
    from llvmlite import binding  # noqa: PLC0415 - Numba's own dependency, imported where this path is taken

    return "+fma" in binding.get_host_cpu_features().flatten().split(",")


def takes_operands(g, x) -> bool:
    """Whether the live rows of g^T @ x may run here, whichever units are live: float32, g (rows, units) and x
    (rows, n) C-contiguous with at least MIN_INNER rows, n a multiple of 16, rows x units x n at least FROM_MACS,
    Numba installed and the CPU with fused multiply-adds. Nothing here depends on Numba's start or the
    machine's load."""
    if not enabled or type(g) is not np.ndarray or type(x) is not np.ndarray:
        return False
    if g.dtype != np.float32 or x.dtype != np.float32 or g.ndim != 2 or x.ndim != 2:
        return False
    (k, units), n = g.shape, x.shape[1]
    return (x.shape[0] == k and k >= MIN_INNER and n % 16 == 0 and k * units * n >= FROM_MACS
            and g.flags.c_contiguous and x.flags.c_contiguous and available())


def takes(g, x, live, out) -> bool:
    """Whether matmul_live(g, x, live, out) computes out = g^T @ x here: takes_operands(g, x), `live` C-contiguous
    int64 unit numbers (some units, or all) and `out` a C-contiguous writeable (units, n) float32 array."""
    if type(out) is not np.ndarray or out.dtype != np.float32 or not takes_operands(g, x):
        return False
    units = g.shape[1]
    return (out.shape == (units, x.shape[1]) and out.flags.c_contiguous and out.flags.writeable
            and type(live) is np.ndarray and live.dtype == np.int64 and live.ndim == 1 and live.flags.c_contiguous
            and 0 < live.size <= units)


def matmul_live(g, x, live, out, run) -> bool:
    """out = g^T @ x for a weight gradient whose units other than `live` (ascending) are dead (g's columns all
    zeros): the live rows in fused tiles (module docstring: their bits), the others written +0, which is what
    the whole product gives them where x is finite. A non-finite x[t, j] makes column j of every live row
    non-finite too (a live row's 0 * inf is NaN): then it returns False and `out` holds other values than the
    whole product's (the caller computes that instead). `run`: spin_team.run, or the job's own call on this
    thread. Needs takes(g, x, live, out)."""
    address = _job_address()
    k, units = g.shape
    n = x.shape[1]
    args = np.zeros(SLOTS, np.int64)
    step = -(-n // PARTS_WANTED)
    step = -(-step // 16) * 16  # column blocks start at multiples of 16: whole vectors at every width
    args[PARTS], args[STEP], args[N], args[K] = -(-n // step), step, n, k
    args[G], args[G_ROW], args[X], args[X_ROW] = g.ctypes.data, units, x.ctypes.data, n
    args[C], args[LIVE], args[COUNT], args[UNITS] = out.ctypes.data, live.ctypes.data, live.size, units
    run(address, args)
    return args[NONFINITE] == 0

