"""A float32 matrix product in register tiles, C = A @ Q, each element summed in order: a layer's forward W @ x^T
at a small batch, and its weight gradient g^T @ x.

The first layer's forward product at a small batch, W @ x^T (out_features, in) x (in, batch), has a long inner
axis and only `batch` columns; its weight gradient, g^T @ x (out_features, batch) x (batch, in), a short one.
OpenBLAS packs the operands of both and runs below its own peak there (benchmarks/README.md, "The forward
product in register tiles"). Here a tile of rows x vectors * LANES elements of C stays in registers while the
inner axis t runs: `rows` broadcasts of A[i, t] and `vectors` loads of Q's row t feed rows * vectors
multiply-adds a step (PACKED_TILE, UNPACKED_TILE). For the forward, each thread first packs x^T into rows of
the batch (`_pack_rows`, 16 x 16 blocks turned in registers); the gradient reads x's rows as they are.

Every element is C[i, j] = (((0 + A[i,0] Q[0,j]) + A[i,1] Q[1,j]) + ...) in float32, a multiply then an add,
each rounded (no fused multiply-add): the same sum NumPy computes with one multiply and one add per t in order
(`twin_rows`). So the bits depend on neither the tile's size, the vector width of the CPU, the thread that
computed a row nor Numba's start: the twin gives them before the compiled job exists. Two roundings a term
make the sum's error about twice OpenBLAS's fused one's (README, "Kernels").

A job for the spinning team (kernels/spin_team.py, as gemm_job's): the rows of C cut into PARTS_WANTED blocks,
each thread claiming blocks from a counter in the args block (and, for the forward, packing x^T into a buffer
of its own). ops/linear.py takes it for the weight-first forward product and for the weight gradient, where
the team takes the products (gemm_job.job_layout's rule; TINYGRAD_OPT_TEAM_PRODUCTS); matmul_live multiplies
only a weight gradient's live rows and writes the others +0.
"""
from __future__ import annotations

import functools
import threading

import numpy as np

from . import block_claims, job_build, lazy_jit, native_arrays
from .registry import get as kernel

# the args block, int64 slots: A is read at A + 4 * (t * A_STEP + i * A_ROW) (bytes), Q's row t at
# Q + 4 * t * Q_ROW; X, where not 0, is the C-contiguous (n, k) x whose x^T each thread packs first, into its
# own buffer at Q + its arrival * n * k floats
CLAIM, PARTS, STEP, M, N, K, A, A_STEP, A_ROW, Q, Q_ROW, C, X, ARRIVAL = range(14)
# matmul_live's: the live rows' numbers (int64, M of them; 0: every row), C's row count, a flag back
LIVE, UNITS, NONFINITE = range(14, 17)
PACKED = 17  # 1 where X is to be packed (a layer's forward), else 0: read by the caller's address writer
# a layer's forward fused with its bias and ReLU: the (n, m) output relu(C^T + bias) and the bias, or 0
TURNED, BIAS = 18, 19
SLOTS = 20

PARTS_WANTED = 2  # one block per thread of the team
ROWS = 4  # rows of C in a tile of the packed product (the forward's); block bounds are multiples of it
MAX_COLUMNS = 64  # x^T with more columns stays on BLAS: the packed tiles were measured up to a batch of 64
MAX_INNER_UNPACKED = 64  # rows of Q read as they are (a weight gradient's batch): measured up to 64

# Numba's names, bound when Numba starts (lazy_jit: this module imports without it)
numba = ir = types = intrinsic = None
LANES = 8  # float32 lanes of the widest vector the CPU has (16 with AVX-512), known at Numba's start
# (rows, vectors of LANES columns) of a tile, so that rows * vectors accumulators fit the registers: the packed
# product's (a long inner axis) and the unpacked one's (a weight gradient's short batch axis: more rows a tile,
# fewer passes over Q; the shapes tried: benchmarks/README.md, "The weight gradient in register tiles")
PACKED_TILE = (ROWS, 3)
UNPACKED_TILE = (ROWS, 3)


def _bind_numba() -> None:
    global numba, ir, types, intrinsic, LANES, PACKED_TILE, UNPACKED_TILE
    import numba  # noqa: PLC0415 - at Numba's start, not at this module's import (lazy_jit)
    from llvmlite import binding, ir  # noqa: PLC0415
    from numba import types  # noqa: PLC0415
    from numba.extending import intrinsic  # noqa: PLC0415
    wide = "+avx512f" in binding.get_host_cpu_features().flatten().split(",")
    LANES = 16 if wide else 8
    PACKED_TILE, UNPACKED_TILE = ((ROWS, 4), (2 * ROWS, 3)) if wide else ((ROWS, 3), (ROWS, 3))  # of 32 or 16


lazy_jit.on_start(_bind_numba)


def make_tile(rows: int, vectors: int, mapped: bool = False, fused: bool = False, ahead: bool = False,
              adds: bool = False):
    """The intrinsic tile(a, a_step, a_row, q, q_row, c, c_row, inner) for `rows` x `vectors` * LANES elements of C:
    acc[r, v] += A[a + t*a_step + r*a_row] * Q[q + t*q_row + v*LANES :+LANES] for t < inner (>= 1), then
    stored at c + r*c_row + v*LANES; every address an int64 (bytes), every step in elements.

    mapped: tile(a, a_step, index, q, q_row, c, c_row, inner) for the rows u_r = index[r] (index: the address of
    int64 row numbers) of A (at a + t*a_step + u_r) and of C (at c + u_r*c_row + v*LANES); it returns 1 where a
    value it stored is not finite, else 0.

    fused: tile(..., inner, more), each term a fused multiply-add, acc = fma(A, Q, acc), rounded once
    (kernels/live_gemm.py's); where `more` is not 0 the sum is added to the value stored at C (C + acc, one
    rounded add), else stored as it is. ahead (with fused): tile(..., inner, more, offset), and at each t a
    prefetch of the Q elements `offset` bytes past the row's (the caller's next tile's, as it reads them).
    adds (without fused): tile(..., inner, more), a multiply and an add a term as without it, and `more` as with
    fused (kernels/head_backward.py's tiles, which a NumPy twin repeats)."""
    adds = adds or fused

    def typed():
        number = types.int64
        signature = (number if mapped else types.void)(*[number] * (8 + adds + ahead))

        def codegen(context, builder, sig, args):
            f32, i32, i64 = ir.FloatType(), ir.IntType(32), ir.IntType(64)
            vector = ir.VectorType(f32, LANES)
            a_addr, a_step_, a_row_, q_addr, q_row_, c_addr, c_row_, inner_ = args[:8]
            if fused:
                fma = builder.module.globals.get(f"llvm.fma.v{LANES}f32") or ir.Function(
                    builder.module, ir.FunctionType(vector, [vector] * 3), f"llvm.fma.v{LANES}f32")
            a_base = builder.inttoptr(a_addr, f32.as_pointer())
            q_base = builder.inttoptr(q_addr, f32.as_pointer())
            c_base = builder.inttoptr(c_addr, f32.as_pointer())
            if mapped:  # the rows' numbers, loaded once before the loop
                index = builder.inttoptr(a_row_, i64.as_pointer())
                row_at = [builder.load(builder.gep(index, [ir.Constant(i64, r)]), align=8) for r in range(rows)]
            else:
                row_at = [builder.mul(ir.Constant(i64, r), a_row_) for r in range(rows)]
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
            if ahead:  # read, keep in every cache level
                prefetch = builder.module.globals.get("llvm.prefetch.p0i8") or ir.Function(
                    builder.module, ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer(), i32, i32, i32]),
                    "llvm.prefetch.p0i8")
                later = builder.gep(builder.bitcast(q_t, ir.IntType(8).as_pointer()), [args[9]])
                for v in range(vectors):
                    builder.call(prefetch, [builder.gep(later, [ir.Constant(i64, 4 * v * LANES)]), ir.Constant(i32, 0),
                                            ir.Constant(i32, 3), ir.Constant(i32, 1)])
            q_vectors = [builder.load(builder.bitcast(builder.gep(q_t, [ir.Constant(i64, v * LANES)]),
                                                      vector.as_pointer()), align=4) for v in range(vectors)]
            a_t = builder.gep(a_base, [builder.mul(t, a_step_)])
            summed = []
            for r in range(rows):
                scalar = builder.load(builder.gep(a_t, [row_at[r]]), align=4)
                broadcast = builder.shuffle_vector(builder.insert_element(undefined, scalar, ir.Constant(i32, 0)),
                                                   undefined, splat)
                if fused:
                    summed.append([builder.call(fma, [broadcast, q_vectors[v], acc[r][v]]) for v in range(vectors)])
                else:
                    summed.append([builder.fadd(acc[r][v], builder.fmul(broadcast, q_vectors[v]))
                                   for v in range(vectors)])
            following = builder.add(t, ir.Constant(i64, 1))
            t.add_incoming(ir.Constant(i64, 0), entry)
            t.add_incoming(following, loop)
            for r in range(rows):
                for v in range(vectors):
                    acc[r][v].add_incoming(zero, entry)
                    acc[r][v].add_incoming(summed[r][v], loop)
            builder.cbranch(builder.icmp_signed("<", following, inner_), loop, done)
            builder.position_at_end(done)
            flags = None
            adding = builder.icmp_signed("!=", args[8], ir.Constant(i64, 0)) if adds else None
            for r in range(rows):
                row_offset = builder.mul(row_at[r], c_row_) if mapped else builder.mul(ir.Constant(i64, r), c_row_)
                for v in range(vectors):
                    offset = builder.add(row_offset, ir.Constant(i64, v * LANES))
                    target = builder.bitcast(builder.gep(c_base, [offset]), vector.as_pointer())
                    value = summed[r][v]
                    if adds:  # a select, not + 0: the sum's -0 stays -0
                        value = builder.select(adding, builder.fadd(builder.load(target, align=4), value), value)
                    builder.store(value, target, align=4)
                    if mapped:  # x - x is NaN for an infinity or a NaN, 0 else
                        odd = builder.fcmp_unordered("!=", builder.fsub(value, value), zero)
                        flags = odd if flags is None else builder.or_(flags, odd)
            if mapped:
                lanes_bits = builder.bitcast(flags, ir.IntType(LANES))
                return builder.zext(builder.icmp_unsigned("!=", lanes_bits, ir.Constant(ir.IntType(LANES), 0)), i64)
            return context.get_dummy_value()

        return signature, codegen

    if ahead:
        def tile(typingctx, a, a_step, a_row, q, q_row, c, c_row, inner, more, offset):
            return typed()
    elif adds:
        def tile(typingctx, a, a_step, a_row, q, q_row, c, c_row, inner, more):
            return typed()
    else:
        def tile(typingctx, a, a_step, a_row, q, q_row, c, c_row, inner):
            return typed()
    tile.__name__ = (f"tile_{rows}x{vectors}{'_mapped' if mapped else ''}{'_fused' if fused else ''}"
                     f"{'_adds' if adds and not fused else ''}{'_ahead' if ahead else ''}")
    return intrinsic(tile)


def _make_rows(rows: int, vectors: int, unit: str):
    """rows_of_product(a, a_step, a_row, q, q_row, c, n, k, first, last) in tiles of `rows` x `vectors`: rows
    first..last-1 of C (row stride n) = A @ Q (k, n), A[i, t] at a + 4 * (t * a_step + i * a_row), Q's row t at
    q + 4 * t * q_row; addresses in bytes, steps in elements. Short ends: a block of at least `rows` rows ends
    with a tile over its last `rows` rows, overlapping the one before it (its rows computed again, to the same
    bits, as each element is the same in-order sum in any tile: a tile of one row is a chain of dependent adds a
    column, which waits on the adder's latency where a tall tile keeps it busy); shorter blocks in tiles of one row; the
    columns' end in tiles of one vector.
    unit: which of a_step and a_row is 1, a constant to the tiles rather than a loaded step (each tile's loop then
    computes fewer addresses): "a_step" for a row-major A (a layer's W), "a_row" for a transposed view (g^T)."""
    full, one, row, row_one = (make_tile(rows, vectors), make_tile(rows, 1), make_tile(1, vectors),
                               make_tile(1, 1))
    wide, lanes = vectors * LANES, LANES

    def rows_of_product(a, a_step, a_row, q, q_row, c, n, k, first, last):
        if unit == "a_step":
            a_step = 1
        else:
            a_row = 1
        i = first
        while i < last:
            if i + rows > last and last - first >= rows:
                i = last - rows  # the last tile overlaps the one before it (_make_rows' docstring)
            tall = i + rows <= last
            j = 0
            while j < n:
                a_i, q_j, c_ij = a + 4 * i * a_row, q + 4 * j, c + 4 * (i * n + j)
                if j + wide <= n:
                    if tall:
                        full(a_i, a_step, a_row, q_j, q_row, c_ij, n, k)
                    else:
                        row(a_i, a_step, a_row, q_j, q_row, c_ij, n, k)
                    j += wide
                else:
                    if tall:
                        one(a_i, a_step, a_row, q_j, q_row, c_ij, n, k)
                    else:
                        row_one(a_i, a_step, a_row, q_j, q_row, c_ij, n, k)
                    j += lanes
            i += rows if tall else 1

    return numba.njit(nogil=True, inline="always")(rows_of_product)


def _make_live_rows(rows: int, vectors: int):
    """live_rows(a, a_step, live, q, q_row, c, n, k, count, units, first, last): rows live[first..last-1] (live:
    the address of `count` ascending int64 row numbers) of C (units, n) = A @ Q, A[u, t] at a + 4 * (t * a_step
    + u), in mapped tiles; the other rows of C from the one after live[first - 1] (from 0 where first is 0) up
    to live[last - 1] (to the last where last is count) written +0. Returns 1 where a live value is not finite."""
    full, one, row, row_one = (make_tile(rows, vectors, True), make_tile(rows, 1, True),
                               make_tile(1, vectors, True), make_tile(1, 1, True))
    wide, lanes = vectors * LANES, LANES

    def live_rows(a, a_step, live, q, q_row, c, n, k, count, units, first, last):
        bad = 0
        i = first
        while i < last:
            if i + rows > last and last - first >= rows:
                i = last - rows  # as in _make_rows
            tall = i + rows <= last
            index = live + 8 * i
            j = 0
            while j < n:
                q_j, c_j = q + 4 * j, c + 4 * j
                if j + wide <= n:
                    if tall:
                        bad |= full(a, a_step, index, q_j, q_row, c_j, n, k)
                    else:
                        bad |= row(a, a_step, index, q_j, q_row, c_j, n, k)
                    j += wide
                else:
                    if tall:
                        bad |= one(a, a_step, index, q_j, q_row, c_j, n, k)
                    else:
                        bad |= row_one(a, a_step, index, q_j, q_row, c_j, n, k)
                    j += lanes
            i += rows if tall else 1
        numbers = native_arrays.array_at(live, count, np.int64)
        unit = 0 if first == 0 else numbers[first - 1] + 1
        stop = units if last == count else numbers[last - 1] + 1
        i = first
        zero = np.float32(0.0)
        while unit < stop:
            if i < last and numbers[i] == unit:
                i += 1
            else:
                dead = native_arrays.array_at(c + 4 * unit * n, n, np.float32)
                for j in range(n):
                    dead[j] = zero
            unit += 1
        return bad

    return numba.njit(nogil=True, inline="always")(live_rows)


_packed_rows = _unpacked_rows = _live_rows = None


def _make_tiles() -> None:
    global _packed_rows, _unpacked_rows, _live_rows
    _packed_rows, _unpacked_rows = _make_rows(*PACKED_TILE, "a_step"), _make_rows(*UNPACKED_TILE, "a_row")
    _live_rows = _make_live_rows(*UNPACKED_TILE)


lazy_jit.on_start(_make_tiles)


BLOCK = 16  # x^T is packed in blocks of BLOCK x BLOCK, turned in registers


def _make_transpose_block(bias_relu: bool):
    """The intrinsic turn_block(x, x_row, q, q_row) (bias_relu: turn_block_bias_relu(x, x_row, q, q_row, bias)): the
    BLOCK x BLOCK block at x (rows x_row elements apart) turned into the one at q: BLOCK vector loads, log2(BLOCK)
    rounds of pairwise shuffles (each swaps one bit of the row index with the same bit of the column index), BLOCK
    vector stores. bias_relu: each turned row v := v + bias[0:BLOCK], then +0 where v < 0 (kernel bias_relu's
    operations), before its store."""
    def codegen(context, builder, sig, args):
        f32, i32, i64 = ir.FloatType(), ir.IntType(32), ir.IntType(64)
        vector = ir.VectorType(f32, BLOCK)
        x_addr, x_row_, q_addr, q_row_ = args[:4]
        x_base, q_base = builder.inttoptr(x_addr, f32.as_pointer()), builder.inttoptr(q_addr, f32.as_pointer())

        def row_pointer(base, step, r):
            return builder.bitcast(builder.gep(base, [builder.mul(ir.Constant(i64, r), step)]),
                                   vector.as_pointer())

        rows = [builder.load(row_pointer(x_base, x_row_, r), align=4) for r in range(BLOCK)]
        bit = 1
        while bit < BLOCK:
            low = ir.Constant(ir.VectorType(i32, BLOCK),
                              [c if not c & bit else BLOCK + (c ^ bit) for c in range(BLOCK)])
            high = ir.Constant(ir.VectorType(i32, BLOCK), [c | bit if not c & bit else BLOCK + c for c in range(BLOCK)])
            turned = list(rows)
            for r in range(BLOCK):
                if not r & bit:
                    turned[r] = builder.shuffle_vector(rows[r], rows[r | bit], low)
                    turned[r | bit] = builder.shuffle_vector(rows[r], rows[r | bit], high)
            rows, bit = turned, bit * 2
        if bias_relu:
            bias_vector = builder.load(builder.inttoptr(args[4], vector.as_pointer()), align=4)
            zero = ir.Constant(vector, [0.0] * BLOCK)
            summed = [builder.fadd(row, bias_vector) for row in rows]
            rows = [builder.select(builder.fcmp_ordered("<", v, zero), zero, v) for v in summed]
        for r in range(BLOCK):
            builder.store(rows[r], row_pointer(q_base, q_row_, r), align=4)
        return context.get_dummy_value()

    number = types.int64
    if bias_relu:
        def turn_block_bias_relu(typingctx, x, x_row, q, q_row, bias):
            return types.void(number, number, number, number, number), codegen
        return intrinsic(turn_block_bias_relu)

    def turn_block(typingctx, x, x_row, q, q_row):
        return types.void(number, number, number, number), codegen
    return intrinsic(turn_block)


_turn_block = _turn_block_bias_relu = None


def _make_turn() -> None:
    global _turn_block, _turn_block_bias_relu
    _turn_block, _turn_block_bias_relu = _make_transpose_block(False), _make_transpose_block(True)


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


@lazy_jit.deferred(lambda fn: numba.njit(nogil=True, inline="always")(fn))
def _turn_bias_relu(c, bias, y, m, n, first, last):
    """y[:, first:last] = relu(C[first:last]^T + bias[first:last]) for the (m, n) C and the (n, m) y, both
    C-contiguous (n a multiple of BLOCK): kernel bias_relu_transposed's operations on each element, v = c + b, then
    +0 where v < 0."""
    whole = first + (last - first) // BLOCK * BLOCK
    for j in range(first, whole, BLOCK):  # blocks of BLOCK units: turned, biased and clamped in registers
        for r in range(0, n, BLOCK):
            _turn_block_bias_relu(c + 4 * (j * n + r), n, y + 4 * (r * m + j), m, bias + 4 * j)
    if whole == last:
        return
    count = last - whole  # the last few units (m not a multiple of BLOCK): the same operations one by one
    cs = native_arrays.array_at(c + 4 * whole * n, count * n, np.float32)
    b = native_arrays.array_at(bias + 4 * whole, count, np.float32)
    zero = np.float32(0.0)
    for r in range(n):
        row = native_arrays.array_at(y + 4 * (r * m + whole), count, np.float32)
        for j in range(count):
            v = cs[j * n + r] + b[j]
            row[j] = zero if v < zero else v  # PyTorch's relu: -0.0 and NaN pass unchanged


def _product_blocks(address):
    """The job: claim row blocks of C and compute each; where X is given, this thread first packs x^T into its own
    buffer (reading rows another core has just written costs more here than packing them again), and where
    TURNED is given, turns each block it computed into those columns of relu(C^T + bias) while the block is in
    its cache."""
    args = native_arrays.array_at(address, SLOTS, np.int64)
    n, k, x = args[N], args[K], args[X]
    q = args[Q]
    if x != 0:
        q += 4 * n * k * block_claims.claim(args, ARRIVAL)
    packed = x == 0
    parts, step, m = args[PARTS], args[STEP], args[M]
    while True:
        part = block_claims.claim(args, CLAIM)
        if part >= parts:
            return
        if not packed:
            _pack_rows(x, q, n, k, 0, k)
            packed = True
        first, last = part * step, min(part * step + step, m)
        if x != 0:
            _packed_rows(args[A], args[A_STEP], args[A_ROW], q, args[Q_ROW], args[C], n, k, first, last)
            if args[TURNED] != 0:
                _turn_bias_relu(args[C], args[BIAS], args[TURNED], m, n, first, last)
        elif args[LIVE] != 0:
            if _live_rows(args[A], args[A_STEP], args[LIVE], q, args[Q_ROW], args[C], n, k, m, args[UNITS], first,
                          last):
                args[NONFINITE] = 1
        else:
            _unpacked_rows(args[A], args[A_STEP], args[A_ROW], q, args[Q_ROW], args[C], n, k, first, last)


def _compile_job():
    """The cfunc of _product_blocks (cached on disk where Numba can), and the address writers before it; needs
    Numba started."""
    global _put_natively, _put_live_natively, _put_turned_natively
    compile_ = functools.partial(lazy_jit.cached, numba.njit, error_model="numpy", _nrt=False, no_cfunc_wrapper=True)
    put, put_live, put_turned = compile_(_put_operands), compile_(_put_live), compile_(_put_turned)
    block, matrix = types.Array(types.int64, 1, "C"), types.Array(types.float32, 2, "A", readonly=True)
    put.compile((block, matrix, matrix, matrix))  # every float32 matrix converts to a read-only "A" array
    put_live.compile((block, types.Array(types.int64, 1, "A", readonly=True)))
    put_turned.compile((block, types.Array(types.float32, 1, "A", readonly=True), matrix))
    for compiled in (put, put_live, put_turned):
        compiled.disable_compile()  # nothing compiles on the step's path
    _put_natively, _put_live_natively, _put_turned_natively = put, put_live, put_turned
    return lazy_jit.cached(functools.partial(numba.cfunc, types.void(types.int64)), _product_blocks, nopython=True,
                           error_model="numpy")


# queued ahead of the kernels waiting on the background thread, whose first-call twins cost far less than this
# job's (twin_rows: two NumPy calls per term of the sums)
_build = job_build.JobBuild(_compile_job, first=True)


def job_address() -> int | None:
    """The job's address once compiled, else None: the twin runs meanwhile (kernels/job_build.py)."""
    return _build.address()


def wait_built() -> bool:
    """Build the job now on this thread if it is not built (tests, benchmarks)."""
    _build.wait()
    return True


enabled = True  # False: every product stays on BLAS (benchmarks switch the tiles off and on in one process)


MAX_LAYOUTS = 64  # kinds of product whose args block is kept; later kinds are worked out at each call
_layouts: dict[tuple, np.ndarray | None] = {}  # (shapes, strides, dtypes) -> args block without the addresses


def layout(a, b, out=None) -> np.ndarray | None:
    """The args block of a @ b but its addresses where the tiles take the product (into `out`), else None; kept
    per kind of product. Taken: float32, n = b's columns a multiple of 16, at least two tiles of rows, and
    either a layer's forward W @ x^T (`a` with rows of unit stride, `b` a transposed view of a C-contiguous
    (n, k) x with n at most MAX_COLUMNS: packed first) or its weight gradient g^T @ x (`a` a transposed view,
    columns of unit stride; `b` rows of unit stride, k at most MAX_INNER_UNPACKED: read as they are); `out`
    None or a C-contiguous writeable float32 array of the result's shape."""
    if not enabled or type(a) is not np.ndarray or type(b) is not np.ndarray:
        return None
    key = (a.shape, a.strides, b.shape, b.strides, a.dtype.char, b.dtype.char)
    args = _layouts.get(key, False)
    if args is False:
        args = _new_layout(a, b) if _takes_layout(a, b) else None
        if len(_layouts) < MAX_LAYOUTS:
            _layouts[key] = args
    if args is None or out is None:
        return args
    if type(out) is np.ndarray and out.dtype == np.float32 and out.flags.c_contiguous and out.flags.writeable \
            and out.shape == (a.shape[0], b.shape[1]):
        return args
    return None


def _takes_layout(a, b) -> bool:
    if a.dtype != np.float32 or b.dtype != np.float32 or a.ndim != 2 or b.ndim != 2:
        return False
    (m, k), n = a.shape, b.shape[1]
    if k != b.shape[0] or n % 16 != 0 or n < 16 or m < 2 * ROWS or k < 1 or _a_steps(a) is None:
        return False
    a_step, a_row = _a_steps(a)
    if _packs(b):
        return n <= MAX_COLUMNS and a_step == 1  # W row-major (_make_rows' unit)
    return _b_rows(b) and k <= MAX_INNER_UNPACKED and a_row == 1  # g^T a transposed view


def _new_layout(a, b) -> np.ndarray:
    """Every slot of a @ b's args block but the addresses (A, C, and Q or X) and the live rows' (matmul_live)."""
    (m, k), n = a.shape, b.shape[1]
    args = np.zeros(SLOTS, np.int64)
    _blocks(args, m)
    args[N], args[K] = n, k
    args[A_STEP], args[A_ROW] = _a_steps(a)
    args[Q_ROW] = n if _packs(b) else b.strides[0] // 4
    args[PACKED] = _packs(b)
    return args


def _blocks(args: np.ndarray, m: int) -> None:
    """PARTS_WANTED blocks of m rows, their bounds multiples of ROWS."""
    step = -(-m // PARTS_WANTED)
    step = -(-step // ROWS) * ROWS
    args[PARTS], args[STEP], args[M] = -(-m // step), step, m


def _a_steps(a) -> tuple[int, int] | None:
    """(a_step, a_row) in elements: A[i, t] at t * a_step + i * a_row; None where neither axis has unit stride."""
    s0, s1 = a.strides
    if s1 == 4 and s0 % 4 == 0:
        return 1, s0 // 4
    if s0 == 4 and s1 % 4 == 0:
        return s1 // 4, 1
    return None


def _packs(b) -> bool:
    """Whether b is x^T for a C-contiguous x: the job packs it into rows."""
    return b.strides == (4, 4 * b.shape[0])


def _b_rows(b) -> bool:
    return b.strides[1] == 4 and b.strides[0] % 4 == 0 and b.strides[0] >= 4 * b.shape[1]


_scratch: dict[tuple, tuple] = {}
_scratch_lock = threading.Lock()  # a product from a second Python thread meanwhile packs into a buffer of its own


def _buffer(k: int, n: int) -> tuple[np.ndarray, int]:
    """PARTS_WANTED (k, n) buffers, one per thread, that x^T is packed into, and their address; kept per shape."""
    kept = _scratch.get((k, n))
    if kept is None:
        q = np.empty((PARTS_WANTED, k, n), np.float32)
        kept = _scratch[(k, n)] = (q, q.ctypes.data)
    return kept


def _put_operands(args, a, b, c):
    """The args block's addresses of A, of b (X where the job packs it, else Q) and of C."""
    args[A] = a.ctypes.data
    if args[PACKED]:
        args[X] = b.ctypes.data
    else:
        args[Q] = b.ctypes.data
    args[C] = c.ctypes.data


def _put_live(args, live):
    args[LIVE] = live.ctypes.data


def _put_turned(args, bias, turned):
    args[BIAS] = bias.ctypes.data
    args[TURNED] = turned.ctypes.data


# the three compiled with the job: NumPy's .ctypes costs a microsecond
_put_natively = _put_live_natively = _put_turned_natively = None


def matmul(a, b, out=None, run=None, layout_args: np.ndarray | None = None, relu_bias: np.ndarray | None = None,
           turned: np.ndarray | None = None) -> np.ndarray:
    """a @ b (into `out`, C-contiguous, when given) where layout(a, b) takes it: on the team where `run`
    (spin_team.run) is given and the job is compiled, else the twin on this thread; the same bits every way.
    `layout_args`:
    layout(a, b)'s answer where the caller has it. For a layer's forward (W @ x^T) with `relu_bias` and `turned`
    (takes_turned), turned := relu((a @ b)^T + relu_bias) too, kernel bias_relu_transposed's bits: each thread
    turns the rows it has just computed."""
    args = (layout(a, b) if layout_args is None else layout_args).copy()
    if not args[PACKED]:
        return _matmul(a, b, out, run, args, None, 0)
    if _scratch_lock.acquire(blocking=False):
        try:
            return _matmul(a, b, out, run, args, *_buffer(a.shape[1], b.shape[1]), relu_bias, turned)
        finally:
            _scratch_lock.release()
    q = np.empty((PARTS_WANTED, a.shape[1], b.shape[1]), np.float32)
    return _matmul(a, b, out, run, args, q, q.ctypes.data, relu_bias, turned)


def _matmul(a, b, out, run, args, q, q_address, relu_bias=None, turned=None) -> np.ndarray:
    c = np.empty((a.shape[0], b.shape[1]), np.float32) if out is None else out
    address = job_address()
    if address is None or run is None:
        if q is not None:  # the rows of x^T, as the job packs them
            np.copyto(q[0], b)
            b = q[0]
        twin_rows(a, b, c)
        if turned is not None:
            kernel("bias_relu_transposed", c)(c, relu_bias, turned)
        return c
    _put_natively(args, a, b, c)
    if q is not None:
        args[Q] = q_address
    if turned is not None:
        _put_turned_natively(args, relu_bias, turned)
    run(address, args)
    return c


def takes_turned(layout_args: np.ndarray, relu_bias, turned) -> bool:
    """Whether matmul(a, b, ..., layout_args, relu_bias, turned) may fuse the bias and ReLU for layout(a, b)'s
    answer: a layer's forward (packed), the (m,) bias and the (n, m) output C-contiguous writeable float32."""
    m, n = layout_args[M], layout_args[N]
    return (bool(layout_args[PACKED]) and type(relu_bias) is np.ndarray and relu_bias.dtype == np.float32
            and relu_bias.shape == (m,) and relu_bias.flags.c_contiguous and type(turned) is np.ndarray
            and turned.dtype == np.float32 and turned.shape == (n, m) and turned.flags.c_contiguous
            and turned.flags.writeable)


def takes_live(a, b, live, out, layout_args: np.ndarray | None = None) -> bool:
    """Whether matmul_live(a, b, live, out) runs here: layout(a, b, out) for a weight gradient (a = g^T), `live`
    C-contiguous int64 row numbers, some rows but not all, and `out` given."""
    args = layout(a, b, out) if layout_args is None else layout_args
    return (out is not None and args is not None and not args[PACKED] and type(live) is np.ndarray
            and live.dtype == np.int64 and live.ndim == 1 and live.flags.c_contiguous and 0 < live.size < a.shape[0])


def matmul_live(a, b, live, out, run=None, layout_args: np.ndarray | None = None) -> bool:
    """out = a @ b for a weight gradient whose rows other than `live` (ascending) are dead units' (a's rows all
    zeros): the live rows in tiles, the others written +0, which is what the whole product gives them where b is
    finite. A non-finite b[t, j] makes column j of every live row non-finite too (a live row's 0 * inf is NaN):
    then it returns False and `out` holds other values than the whole product's (the caller computes that
    instead). The live rows have the whole product's bits: each is the same in-order sum. Before the job is
    compiled, the twin computes the whole product (True). Needs takes_live(a, b, live, out)."""
    address = job_address()
    if address is None or run is None:
        twin_rows(a, b, out)
        return True
    args = (layout(a, b) if layout_args is None else layout_args).copy()
    _blocks(args, live.size)
    args[UNITS] = a.shape[0]
    _put_natively(args, a, b, out)
    _put_live_natively(args, live)
    run(address, args)
    return args[NONFINITE] == 0


def twin_rows(a, q, c) -> None:
    """C = A @ Q summed as the tiles sum it (module docstring), in NumPy: one rounded product and one rounded
    sum per element and t, t in order."""
    c[...] = 0
    term = np.empty_like(c)
    with np.errstate(all="ignore"):  # inf * 0 and inf - inf make NaN silently, as in the compiled tiles
        for t in range(a.shape[1]):
            np.multiply(a[:, t, None], q[t], out=term)
            np.add(c, term, out=c)
