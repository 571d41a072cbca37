"""The backward of a ReLU layer and the thin layer after it (a classifier's head) in one pass over the hidden
activations.

An MLP's last hidden layer h = relu(x W1^T + b1), (rows, H), feeds a thin layer z = h W2^T + b2 with K outputs
(10 classes for MNIST). With g = dL/dz, (rows, K), the two layers' backward needs
    dh  = g @ W2                       (rows, H)   the hidden layer's gradient
    gz  = +0 where h <= 0, else dh     (rows, H)   ReLU's backward (PyTorch's threshold_backward)
    db1 = the column sums of gz, and the live units (the columns of gz that are not all zeros)
    dW2 = g^T @ h                      (K, H)
Unfused, four passes cross (rows, H) arrays: the product writes dh, the mask pass reads dh and h and writes
gz, and dW2's product reads h again. At a long batch those arrays have left the cache between the passes
(benchmarks/README.md, "The head's backward in one pass"). Here each thread of the team takes a block of the
H columns and runs down the rows in blocks of BLOCK rows: it computes the block's dh in register tiles
(tile_gemm.make_tile: K broadcasts of g and a few loads of W2's rows a tile, W2 staying in cache),
masks it against h's block and sums db1 and the live flags on the way, and then adds g_block^T h_block to dW2
in tiles while h's block is still in cache. So h is read from memory once, and gz written once.

The bits: dh[r, j] = (((0 + g[r,0] W2[0,j]) + g[r,1] W2[1,j]) + ...) in float32, a multiply then an add a term,
each rounded (as tile_gemm's tiles: no fused multiply-add); gz, db1 and the live units are what
kernels/linear_cpu.py's mask pass computes from that dh (db1 summed row after row); dW2[k, j] is summed in blocks
of BLOCK rows, each block's sum over its rows in order from +0 the same way, the blocks' sums added in order. So
they depend on neither the thread nor the column blocks, and `twin` repeats them with NumPy, operation for
operation: the first backward of a process runs the twin while the job compiles on the background thread (or
this one, where the twin declines: NaN among the inputs, whose choice between two NaNs the order does not fix,
or more than MAX_TWIN_ROWS rows). They differ from the unfused layers' products through BLAS by rounding.
"""
from __future__ import annotations

import functools
import threading

import numpy as np

from . import block_claims, job_build, lazy_jit, native_arrays, tile_gemm

# the args block, int64 slots: g (ROWS, K), W2 (K, H), h (ROWS, H), gz (ROWS, H) and dW2 (K, H) C-contiguous
# float32 at their addresses (DW2 0: not computed); DB1 the address of H float32 for db1; SUMS of H float32 that
# the threads sum db1 in and FLAGS of H uint8, both starting a cache line
CLAIM, PARTS, STEP, ROWS, K, H, G, W2, Y, GZ, DW2, DB1, SUMS, FLAGS = range(14)
SLOTS = 14

PARTS_WANTED = 2  # column blocks: one per thread of the team
BLOCK = 128  # rows a thread masks and adds to dW2 while they are in its cache (dW2's bits: module docstring)
MAX_OUTPUTS = 32  # the head's outputs (K) up to which ops.LinearReLULinear is built: a classifier's head
MAX_TWIN_ROWS = 8192  # the twin makes two NumPy calls a row for dW2: taller batches wait for the job instead

enabled = True  # False: the layers' backward runs unfused (benchmarks switch this off and on in one process)

# Numba's name, bound when Numba starts (lazy_jit: this module imports without it)
numba = None


def _bind_numba() -> None:
    global numba
    import numba  # noqa: PLC0415 - at Numba's start, not at this module's import (lazy_jit)


lazy_jit.on_start(_bind_numba)


def _make_columns(rows: int, vectors: int):
    """product_columns(a, a_step, a_row, q, q_row, c, c_row, inner, first_row, last_row, first, last, more):
    C[i, j] (+)= sum over t < inner of A[i, t] Q[t, j] for rows first_row..last_row-1 and columns first..last-1
    (a multiple of LANES wide) of C, in tiles of `rows` then one row, of `vectors` then one vector; A[i, t]
    at a + 4 * (t * a_step + i * a_row), Q's row t at q + 4 * t * q_row, C's row i at c + 4 * i * c_row."""
    tall, tall_one, row, row_one = (tile_gemm.make_tile(height, width, adds=True)
                                    for height, width in ((rows, vectors), (rows, 1), (1, vectors), (1, 1)))
    lanes = tile_gemm.LANES
    wide = vectors * lanes

    def product_columns(a, a_step, a_row, q, q_row, c, c_row, inner, first_row, last_row, first, last, more):
        i = first_row
        while i < last_row:
            full = i + rows <= last_row
            a_i, c_i = a + 4 * i * a_row, c + 4 * i * c_row
            j = first
            while j < last:
                q_j, c_ij = q + 4 * j, c_i + 4 * j
                if j + wide <= last:
                    if full:
                        tall(a_i, a_step, a_row, q_j, q_row, c_ij, c_row, inner, more)
                    else:
                        row(a_i, a_step, a_row, q_j, q_row, c_ij, c_row, inner, more)
                    j += wide
                else:
                    if full:
                        tall_one(a_i, a_step, a_row, q_j, q_row, c_ij, c_row, inner, more)
                    else:
                        row_one(a_i, a_step, a_row, q_j, q_row, c_ij, c_row, inner, more)
                    j += lanes
            i += rows if full else 1

    return numba.njit(nogil=True, inline="always")(product_columns)


def _mask_rows(h, gz, db1, flags, first_row, last_row, first, last):
    """gz = +0 where h <= 0 (a NaN h passes gz), db1 += gz and flags |= gz != 0 over columns first..last-1, row
    after row. Each loop runs over views whose columns start at 0: LLVM vectorises it then (from a nonzero start,
    Numba's check for a negative index stays in the loop and keeps LLVM from it)."""
    zero = np.float32(0.0)
    sums, live = db1[first:last], flags[first:last]
    for r in range(first_row, last_row):
        h_r, gz_r = h[r, first:last], gz[r, first:last]
        for j in range(last - first):
            v = zero if h_r[j] <= zero else gz_r[j]
            gz_r[j] = v
            sums[j] += v
            live[j] |= v != zero


def _columns_of(args, first, last):
    """Columns first..last-1 of gz, db1, the flags and dW2, row block after row block."""
    rows, k, h_units = args[ROWS], args[K], args[H]
    g, w2, y, gz, dw2 = args[G], args[W2], args[Y], args[GZ], args[DW2]
    h = numba.carray(native_arrays.pointer_at(y, np.float32), (rows, h_units))
    gz_rows = numba.carray(native_arrays.pointer_at(gz, np.float32), (rows, h_units))
    sums = native_arrays.array_at(args[SUMS], h_units, np.float32)
    flags = native_arrays.array_at(args[FLAGS], h_units, np.uint8)
    for j in range(first, last):
        sums[j] = np.float32(0.0)
        flags[j] = 0
    t = 0
    while t < rows:
        inner = min(BLOCK, rows - t)
        _product_columns(g, 1, k, w2, h_units, gz, h_units, k, t, t + inner, first, last, 0)  # dh = g @ W2
        _mask(h, gz_rows, sums, flags, t, t + inner, first, last)
        if dw2 != 0:  # dW2 (+)= g[t:t+inner]^T @ h[t:t+inner]
            _product_columns(g + 4 * t * k, k, 1, y + 4 * t * h_units, h_units, dw2, h_units, inner, 0, k, first,
                             last, 1 if t > 0 else 0)
        t += inner
    db1 = native_arrays.array_at(args[DB1], h_units, np.float32)
    for j in range(first, last):  # once at the end: db1 is NumPy's, and the threads' parts may share a line of it
        db1[j] = sums[j]


_product_columns = _mask = _columns = None


def _make_kernels() -> None:
    global _product_columns, _mask, _columns
    _product_columns = _make_columns(*tile_gemm.UNPACKED_TILE)
    _mask = numba.njit(nogil=True, inline="always", error_model="numpy")(_mask_rows)
    _columns = numba.njit(nogil=True, inline="always", error_model="numpy")(_columns_of)


lazy_jit.on_start(_make_kernels)


def _column_blocks(address):
    """The job: claim column blocks and compute each."""
    args = native_arrays.array_at(address, SLOTS, np.int64)
    parts, step, h_units = args[PARTS], args[STEP], args[H]
    while True:
        part = block_claims.claim(args, CLAIM)
        if part >= parts:
            return
        first = part * step
        _columns(args, first, min(first + step, h_units))


def _put_addresses(args, g, h, w2, gz, dw2, db1):
    args[G], args[W2], args[Y], args[GZ], args[DW2], args[DB1] = (g.ctypes.data, w2.ctypes.data, h.ctypes.data,
                                                                  gz.ctypes.data, dw2.ctypes.data, db1.ctypes.data)


_put = None  # _put_addresses compiled with the job: NumPy's .ctypes costs about a microsecond an array


def _compile_job():
    """The cfunc of _column_blocks (cached on disk where Numba can), and _put before it; needs Numba started."""
    global _put
    put = lazy_jit.cached(numba.njit, _put_addresses, error_model="numpy", _nrt=False, no_cfunc_wrapper=True)
    matrix = numba.types.Array(numba.types.float32, 2, "A", readonly=True)
    put.compile((numba.types.Array(numba.types.int64, 1, "C"), matrix, matrix, matrix, matrix, matrix,
                 numba.types.Array(numba.types.float32, 1, "A", readonly=True)))
    put.disable_compile()  # nothing compiles on the step's path
    _put = put
    return lazy_jit.cached(functools.partial(numba.cfunc, numba.types.void(numba.types.int64)), _column_blocks,
                           nopython=True, error_model="numpy")


_build = job_build.JobBuild(_compile_job)


def job_address() -> int | None:
    """The job's address once compiled, else None: the twin runs meanwhile (kernels/job_build.py)."""
    return _build.address()


def wait_built() -> bool:
    """Build the job now on this thread if it is not built (tests, benchmarks)."""
    _build.wait()
    return True


def takes(g, h, w2) -> bool:
    """Whether backward(g, h, w2, ...) runs here: float32 C-contiguous 2-D NumPy arrays g (rows, K), h (rows, H)
    and w2 (K, H), K at most MAX_OUTPUTS, H a multiple of 16 (whole vectors at every width), and Numba installed
    (without it the unfused layers' BLAS products beat the twin's NumPy calls)."""
    if not enabled or type(g) is not np.ndarray or type(h) is not np.ndarray or type(w2) is not np.ndarray:
        return False
    if not (g.dtype == h.dtype == w2.dtype == np.float32 and g.ndim == h.ndim == w2.ndim == 2):
        return False
    (rows, k), h_units = g.shape, h.shape[1]
    return (0 < k <= MAX_OUTPUTS and rows > 0 and h.shape[0] == rows and w2.shape == (k, h_units)
            and h_units % 16 == 0 and g.flags.c_contiguous and h.flags.c_contiguous and w2.flags.c_contiguous
            and lazy_jit.installed())


LINE = 64  # bytes of a cache line
_scratch: dict[int, tuple] = {}  # H -> (buffer, args block with SUMS and FLAGS) kept for the next call
_scratch_lock = threading.Lock()  # a backward on a second Python thread meanwhile sums into a buffer of its own


def _scratch_for(h_units: int) -> tuple[np.ndarray, np.ndarray]:
    """(flags, args block): H uint8 flags and H float32 sums, each starting a cache line, and an args block holding
    their addresses and the column blocks for H hidden units. The blocks start at multiples of 16 elements, so each
    thread's part then has lines of its own: with NumPy's 16-byte alignment both threads would write the line
    around the boundary at every row (false sharing: benchmarks/README.md, "The head's backward in one pass")."""
    size = -(-4 * h_units // LINE) * LINE
    raw = np.empty(2 * size + LINE, np.uint8)
    start = -raw.ctypes.data % LINE
    args = np.zeros(SLOTS, np.int64)
    args[SUMS], args[FLAGS] = raw.ctypes.data + start, raw.ctypes.data + start + size
    step = -(-h_units // PARTS_WANTED)
    step = -(-step // 16) * 16  # whole vectors at every width
    args[PARTS], args[STEP], args[H] = -(-h_units // step), step, h_units
    return raw[start + size:start + size + h_units], args


def backward(g, h, w2, run, dw2=True, gz=None, dw2_out=None):
    """(gz, db1, live, dW2) for the head's gradient g, the ReLU layer's output h and the head's weight w2 (module
    docstring: what each is and its bits): gz (rows, H), db1 (H,), live the live units' numbers (int64,
    ascending), dW2 (K, H), or None where dw2 is False. gz and dw2_out, where given, are C-contiguous float32
    arrays of those shapes to write into. `run`: spin_team.run, or the job's own call on this thread. Needs
    takes(g, h, w2)."""
    rows, k = g.shape
    h_units = h.shape[1]
    gz = np.empty((rows, h_units), np.float32) if gz is None else gz
    grad_w2 = (np.empty((k, h_units), np.float32) if dw2_out is None else dw2_out) if dw2 else None
    db1 = np.empty(h_units, np.float32)
    address = job_address()
    if address is None:
        live = twin(g, h, w2, gz, grad_w2, db1)
        if live is not NotImplemented:
            return gz, db1, live, grad_w2
        address = _build.wait()
    if _scratch_lock.acquire(blocking=False):
        try:
            kept = _scratch.get(h_units)
            if kept is None:
                kept = _scratch[h_units] = _scratch_for(h_units)
            return gz, db1, _run(address, run, kept, g, h, w2, gz, grad_w2, db1), grad_w2
        finally:
            _scratch_lock.release()
    return gz, db1, _run(address, run, _scratch_for(h_units), g, h, w2, gz, grad_w2, db1), grad_w2


def twin(g, h, w2, gz, dw2, db1):
    """The job's results with NumPy, operation for operation (module docstring: the bits), written into gz, db1
    and dw2 (None: not computed); returns the live units' numbers, or NotImplemented, having written nothing,
    where NaN is among the inputs or there are more than MAX_TWIN_ROWS rows."""
    rows, k = g.shape
    if rows > MAX_TWIN_ROWS or any(np.isnan(a.min()) for a in (g, h, w2)):
        return NotImplemented
    with np.errstate(all="ignore"):  # inf * 0 and inf - inf make NaN silently, as in the compiled job
        return _twin(g, h, w2, gz, dw2, db1)


def _twin(g, h, w2, gz, dw2, db1):
    rows, k = g.shape
    dh, term = np.zeros(gz.shape, np.float32), np.empty(gz.shape, np.float32)
    for j in range(k):  # dh = ((0 + g[:, 0] W2[0]) + g[:, 1] W2[1]) + ...
        np.multiply(g[:, j:j + 1], w2[j], out=term)
        np.add(dh, term, out=dh)
    gz.fill(0)
    np.copyto(gz, dh, where=h > 0)  # +0 where h <= 0 (no NaN h here)
    db1.fill(0)
    for row in gz:  # row after row
        np.add(db1, row, out=db1)
    if dw2 is not None:
        block_sum, outer = np.empty(dw2.shape, np.float32), np.empty(dw2.shape, np.float32)
        for start in range(0, rows, BLOCK):
            block_sum.fill(0)
            for t in range(start, min(start + BLOCK, rows)):
                np.multiply(g[t][:, None], h[t], out=outer)
                np.add(block_sum, outer, out=block_sum)
            if start == 0:
                np.copyto(dw2, block_sum)
            else:
                np.add(dw2, block_sum, out=dw2)
    return np.flatnonzero((gz != 0).any(axis=0))


def _run(address, run, scratch, g, h, w2, gz, grad_w2, db1) -> np.ndarray:
    """Run the job with `scratch` (_scratch_for's pair); returns the live units' numbers."""
    flags, kept_args = scratch
    args = kept_args.copy()
    args[ROWS], args[K] = g.shape
    _put(args, g, h, w2, gz, gz if grad_w2 is None else grad_w2, db1)
    if grad_w2 is None:
        args[DW2] = 0
    run(address, args)
    return np.flatnonzero(flags)
