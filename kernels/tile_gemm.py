"""A float32 matrix product for a few dozen columns, C = A @ Q, in register tiles: each element summed in order.

The first layer's forward product at a small batch, W @ x^T (out_features, in) x (in, batch), has a long inner
axis and only `batch` columns. OpenBLAS packs both operands for it and runs well below its own peak there
(benchmarks/README.md, "The forward product in register tiles"). Here, with x^T packed once into rows of the
batch (`_pack_rows`, blocks turned in registers), a tile of ROWS rows of C and VECTORS vectors of LANES
columns stays in registers while the inner axis t runs: ROWS broadcasts of A[i, t] and VECTORS loads of
Q[t, :] feed ROWS * VECTORS multiply-adds a step.

Every element is C[i, j] = (((0 + A[i,0] Q[0,j]) + A[i,1] Q[1,j]) + ...) in float32, a multiply then an add,
each rounded (no fused multiply-add): the same sum NumPy computes with one multiply and one add per t in order
(`twin_rows`). So the bits depend on neither the tile's size, the vector width of the CPU, the thread that
computed a row nor Numba's start: the twin gives them before the compiled job exists. Two roundings a term
make the sum's error about twice OpenBLAS's fused one's (README, "Kernels").

A job for the spinning team (kernels/spin_team.py, as gemm_job's): the rows of C cut into PARTS_WANTED blocks,
each thread claiming blocks from a counter in the args block and packing x^T into a buffer of its own.
ops/linear.py takes it for the weight-first forward product where the team takes the products
(gemm_job.takes_products: TINYGRAD_OPT_TEAM_PRODUCTS).
"""
from __future__ import annotations

import functools
import threading

import numpy as np

from . import background, block_claims, lazy_jit, native_arrays

# the args block: int64 slots; each thread packs x^T into its own buffer, Q + its arrival * N * K floats
CLAIM, PARTS, STEP, M, N, K, A, LDA, Q, C, X, ARRIVAL = range(12)
SLOTS = 16

PARTS_WANTED = 2  # one block per thread of the team
ROWS = 4  # MR: rows of C in a tile
MAX_COLUMNS = 64  # products with more columns stay on BLAS: the tiles were measured up to a batch of 64

# Numba's names, bound when Numba starts (lazy_jit: this module imports without it)
numba = ir = types = intrinsic = None
LANES = 8  # float32 lanes of the widest vector the CPU has (16 with AVX-512), known at Numba's start
VECTORS = 3  # NV: vectors of LANES columns in a tile, so that MR * NV accumulators fit the registers


def _bind_numba() -> None:
    global numba, ir, types, intrinsic, LANES, VECTORS
    import numba  # noqa: PLC0415 - at Numba's start, not at this module's import (lazy_jit)
    from llvmlite import binding, ir  # noqa: PLC0415
    from numba import types  # noqa: PLC0415
    from numba.extending import intrinsic  # noqa: PLC0415
    wide = "+avx512f" in binding.get_host_cpu_features().flatten().split(",")
    LANES, VECTORS = (16, 4) if wide else (8, 3)  # 16 or 12 accumulators of 32 or 16 vector registers


lazy_jit.on_start(_bind_numba)


def _make_tile(rows: int, vectors: int):
    """The intrinsic tile(a, a_step, a_row, q, q_row, c, c_row, inner) for `rows` x `vectors` * LANES elements of C:
    acc[r, v] += A[a + t*a_step + r*a_row] * Q[q + t*q_row + v*LANES :+LANES] for t < inner (>= 1), then
    stored at c + r*c_row + v*LANES; every address an int64 (bytes), every step in elements."""
    def tile(typingctx, a, a_step, a_row, q, q_row, c, c_row, inner):
        number = types.int64
        signature = types.void(number, number, number, number, number, number, number, number)

        def codegen(context, builder, sig, args):
            f32, i32, i64 = ir.FloatType(), ir.IntType(32), ir.IntType(64)
            vector = ir.VectorType(f32, LANES)
            a_addr, a_step_, a_row_, q_addr, q_row_, c_addr, c_row_, inner_ = args
            a_base = builder.inttoptr(a_addr, f32.as_pointer())
            q_base = builder.inttoptr(q_addr, f32.as_pointer())
            c_base = builder.inttoptr(c_addr, f32.as_pointer())
            zero = ir.Constant(vector, [0.0] * LANES)
            undefined = ir.Constant(vector, ir.Undefined)
            splat = ir.Constant(ir.VectorType(i32, LANES), [0] * LANES)
            entry = builder.block
            loop = builder.append_basic_block("tile_loop")
            done = builder.append_basic_block("tile_done")
            builder.branch(loop)
            builder.position_at_end(loop)
            t = builder.phi(i64)
            acc = [[builder.phi(vector) for _ in range(vectors)] for _ in range(rows)]
            q_t = builder.gep(q_base, [builder.mul(t, q_row_)])
            q_vectors = [builder.load(builder.bitcast(builder.gep(q_t, [ir.Constant(i64, v * LANES)]),
                                                      vector.as_pointer()), align=4) for v in range(vectors)]
            a_t = builder.gep(a_base, [builder.mul(t, a_step_)])
            summed = []
            for r in range(rows):
                scalar = builder.load(builder.gep(a_t, [builder.mul(ir.Constant(i64, r), a_row_)]), align=4)
                broadcast = builder.shuffle_vector(builder.insert_element(undefined, scalar, ir.Constant(i32, 0)),
                                                   undefined, splat)
                summed.append([builder.fadd(acc[r][v], builder.fmul(broadcast, q_vectors[v])) for v in range(vectors)])
            following = builder.add(t, ir.Constant(i64, 1))
            t.add_incoming(ir.Constant(i64, 0), entry)
            t.add_incoming(following, loop)
            for r in range(rows):
                for v in range(vectors):
                    acc[r][v].add_incoming(zero, entry)
                    acc[r][v].add_incoming(summed[r][v], loop)
            builder.cbranch(builder.icmp_signed("<", following, inner_), loop, done)
            builder.position_at_end(done)
            for r in range(rows):
                for v in range(vectors):
                    offset = builder.add(builder.mul(ir.Constant(i64, r), c_row_), ir.Constant(i64, v * LANES))
                    target = builder.bitcast(builder.gep(c_base, [offset]), vector.as_pointer())
                    builder.store(summed[r][v], target, align=4)
            return context.get_dummy_value()

        return signature, codegen

    tile.__name__ = f"tile_{rows}x{vectors}"
    return intrinsic(tile)


_tile_full = _tile_row = _tile_one = _tile_row_one = None


def _make_tiles() -> None:
    global _tile_full, _tile_row, _tile_one, _tile_row_one
    _tile_full, _tile_one = _make_tile(ROWS, VECTORS), _make_tile(ROWS, 1)
    _tile_row, _tile_row_one = _make_tile(1, VECTORS), _make_tile(1, 1)


lazy_jit.on_start(_make_tiles)


@lazy_jit.deferred(lambda fn: numba.njit(nogil=True, inline="always")(fn))
def _rows_of_product(a, lda, q, c, n, k, first, last):
    """Rows first..last-1 of C (row stride n) = A (row stride lda) @ Q (k, n), addresses in bytes."""
    wide = VECTORS * LANES
    i = first
    while i < last:
        tall = i + ROWS <= last
        j = 0
        while j < n:
            a_i, q_j, c_ij = a + 4 * i * lda, q + 4 * j, c + 4 * (i * n + j)
            if j + wide <= n:
                if tall:
                    _tile_full(a_i, 1, lda, q_j, n, c_ij, n, k)
                else:
                    _tile_row(a_i, 1, lda, q_j, n, c_ij, n, k)
                j += wide
            else:
                if tall:
                    _tile_one(a_i, 1, lda, q_j, n, c_ij, n, k)
                else:
                    _tile_row_one(a_i, 1, lda, q_j, n, c_ij, n, k)
                j += LANES
        i += ROWS if tall else 1


BLOCK = 16  # x^T is packed in blocks of BLOCK x BLOCK, turned in registers


def _transpose_block(typingctx, x, x_row, q, q_row):
    """The intrinsic: the BLOCK x BLOCK block at x (rows x_row elements apart) turned into the one at q:
    BLOCK vector loads, log2(BLOCK) rounds of pairwise shuffles (each swaps one bit of the row index with the
    same bit of the column index), BLOCK vector stores."""
    number = types.int64
    signature = types.void(number, number, number, number)

    def codegen(context, builder, sig, args):
        f32, i32, i64 = ir.FloatType(), ir.IntType(32), ir.IntType(64)
        vector = ir.VectorType(f32, BLOCK)
        x_addr, x_row_, q_addr, q_row_ = args
        x_base, q_base = builder.inttoptr(x_addr, f32.as_pointer()), builder.inttoptr(q_addr, f32.as_pointer())

        def row_pointer(base, step, r):
            return builder.bitcast(builder.gep(base, [builder.mul(ir.Constant(i64, r), step)]), vector.as_pointer())

        rows = [builder.load(row_pointer(x_base, x_row_, r), align=4) for r in range(BLOCK)]
        bit = 1
        while bit < BLOCK:
            low = ir.Constant(ir.VectorType(i32, BLOCK), [c if not c & bit else BLOCK + (c ^ bit) for c in range(BLOCK)])
            high = ir.Constant(ir.VectorType(i32, BLOCK), [c | bit if not c & bit else BLOCK + c for c in range(BLOCK)])
            turned = list(rows)
            for r in range(BLOCK):
                if not r & bit:
                    turned[r] = builder.shuffle_vector(rows[r], rows[r | bit], low)
                    turned[r | bit] = builder.shuffle_vector(rows[r], rows[r | bit], high)
            rows, bit = turned, bit * 2
        for r in range(BLOCK):
            builder.store(rows[r], row_pointer(q_base, q_row_, r), align=4)
        return context.get_dummy_value()

    return signature, codegen


_turn_block = None


def _make_turn() -> None:
    global _turn_block
    _turn_block = intrinsic(_transpose_block)


lazy_jit.on_start(_make_turn)


@lazy_jit.deferred(lambda fn: numba.njit(nogil=True, inline="always")(fn))
def _pack_rows(x, q, n, k, first, last):
    """Q[t, j] = x[j, t] for t in first..last-1 (first a multiple of BLOCK; n one too): rows of x^T packed from
    the (n, k) C-contiguous x, addresses in bytes."""
    whole = first + (last - first) // BLOCK * BLOCK
    for t in range(first, whole, BLOCK):
        for j in range(0, n, BLOCK):
            _turn_block(x + 4 * (j * k + t), k, q + 4 * (t * n + j), n)
    if whole < last:
        xs = native_arrays.array_at(x, n * k, np.float32)
        qs = native_arrays.array_at(q, n * k, np.float32)
        for t in range(whole, last):
            for j in range(n):
                qs[t * n + j] = xs[j * k + t]


def _product_blocks(address):
    """The job: pack x^T into this thread's own buffer, then claim row blocks of C and compute each. A buffer
    per thread: reading rows another core has just written costs more here than packing them again."""
    args = native_arrays.array_at(address, SLOTS, np.int64)
    n, k = args[N], args[K]
    q = args[Q] + 4 * n * k * block_claims.claim(args, ARRIVAL)
    packed = False
    parts, step, m = args[PARTS], args[STEP], args[M]
    while True:
        part = block_claims.claim(args, CLAIM)
        if part >= parts:
            return
        if not packed:
            _pack_rows(args[X], q, n, k, 0, k)
            packed = True
        first = part * step
        _rows_of_product(args[A], args[LDA], q, args[C], n, k, first, min(first + step, m))


def _build_job():
    """The cfunc of _product_blocks (cached on disk where Numba can); needs Numba started."""
    return lazy_jit.cached(functools.partial(numba.cfunc, types.void(types.int64)), _product_blocks, nopython=True,
                           error_model="numpy")


_job = None
_building: object = None
_build_lock = threading.Lock()


def _build_now() -> None:
    global _job
    _job = _build_job()


def job_address() -> int | None:
    """The job's address once compiled, else None. The first ask after Numba's start hands its compile to the
    background thread (kernels/background.py) ahead of the kernels queued there, whose first-call twins cost far
    less than this job's (twin_rows: two NumPy calls per term of the sums), or compiles it here where that thread
    is off."""
    global _building
    if _job is not None:
        return _job.address
    if not lazy_jit.started():  # the engine starts Numba where no import of its own is under way
        return None
    with _build_lock:
        if _building is None:
            handed = background.compile_later(_build_now, (), {}, first=True)
            _building = handed if handed is not None else True
            if handed is None:
                _build_now()
    return None if _job is None else _job.address


def wait_built() -> bool:
    """Build the job now on this thread if it is not built (tests, benchmarks)."""
    lazy_jit.start()
    with _build_lock:
        if _job is None:
            _build_now()
    return True


enabled = True  # False: every product stays on BLAS (benchmarks switch the tiles off and on in one process)


def takes(a, b) -> bool:
    """Whether a @ b runs here: float32, `a` with unit column stride, `b` a transposed view of a C-contiguous
    (n, k) array (x.T) with n a multiple of 16 and at most MAX_COLUMNS, and a long enough inner axis."""
    if not enabled or type(a) is not np.ndarray or type(b) is not np.ndarray:
        return False
    if a.dtype != np.float32 or b.dtype != np.float32 or a.ndim != 2 or b.ndim != 2:
        return False
    (m, k), n = a.shape, b.shape[1]
    return (k == b.shape[0] and n % 16 == 0 and 16 <= n <= MAX_COLUMNS and m >= 2 * ROWS and k >= 1
            and a.strides[1] == 4 and a.strides[0] % 4 == 0 and b.strides == (4, 4 * k))


_scratch: dict[tuple, np.ndarray] = {}
_scratch_lock = threading.Lock()  # a product from a second Python thread meanwhile packs into a buffer of its own


def _buffer(k: int, n: int) -> np.ndarray:
    """PARTS_WANTED (k, n) buffers, one per thread, that x^T is packed into; kept per shape."""
    q = _scratch.get((k, n))
    if q is None:
        q = _scratch[(k, n)] = np.empty((PARTS_WANTED, k, n), np.float32)
    return q


def matmul(a, b, out=None, run=None) -> np.ndarray:
    """a @ b (into `out`, C-contiguous, when given) for takes(a, b): on the team where `run` (spin_team.run) is
    given and the job is compiled, else the twin on this thread; the same bits every way."""
    if _scratch_lock.acquire(blocking=False):
        try:
            return _matmul(a, b, out, run, _buffer(a.shape[1], b.shape[1]))
        finally:
            _scratch_lock.release()
    return _matmul(a, b, out, run, np.empty((PARTS_WANTED, a.shape[1], b.shape[1]), np.float32))


def _matmul(a, b, out, run, q) -> np.ndarray:
    (m, k), n = a.shape, b.shape[1]
    c = np.empty((m, n), np.float32) if out is None else out
    address = job_address()
    if address is None or run is None:
        np.copyto(q[0], b)
        twin_rows(a, q[0], c)
        return c
    args = np.zeros(SLOTS, np.int64)
    step = -(-m // PARTS_WANTED)
    step = -(-step // ROWS) * ROWS
    args[PARTS], args[STEP], args[M], args[N], args[K] = -(-m // step), step, m, n, k
    args[A], args[LDA], args[Q], args[C], args[X] = a.ctypes.data, a.strides[0] // 4, q.ctypes.data, c.ctypes.data, b.ctypes.data
    run(address, args)
    return c


def twin_rows(a, q, c) -> None:
    """C = A @ Q summed as the tiles sum it (module docstring), in NumPy: one rounded product and one rounded
    sum per element and t, t in order."""
    c[...] = 0
    term = np.empty_like(c)
    with np.errstate(all="ignore"):  # inf * 0 and inf - inf make NaN silently, as in the compiled tiles
        for t in range(a.shape[1]):
            np.multiply(a[:, t, None], q[t], out=term)
            np.add(c, term, out=c)
