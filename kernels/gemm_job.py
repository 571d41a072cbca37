"""One 2-D float32/float64 matrix product as a job for two threads: fixed blocks, each one single-threaded BLAS call.

OpenBLAS's own two-thread product wakes its sleeping worker at every product (the engine has it sleep right
after one, kernels/parallel.py). Here the product is cut into PARTS_WANTED blocks of the result, rows or
columns, and a thread computes a block by calling OpenBLAS's cblas_?gemm on one thread. The job is a Numba
cfunc `job(args_address)` run by kernels/spin_team.py: each thread that runs it claims block numbers from a
counter in the args block (block_claims.claim) until none is left, so a thread that comes late finds fewer
or none, and one thread alone computes them all.

The blocks' bounds depend on the product's shape only, never on how many threads ran or who ran which block:
a block is the same BLAS call on the same addresses either way, so the result's bits are the same with the
second thread or without it, under load or not. They are not the whole product's bits: OpenBLAS's float32
kernels on an AVX2 core round a block of rows or columns differently from the whole (split_gemm.py). So
`twin_product`, the path taken before the job is compiled, makes the same cblas calls through ctypes on the
calling thread: a step before Numba's start and a step after it give the same bits.

Which axis (`blocks`): rows of the result, unless each row block would read a large (inner, cols) operand
whole (over WHOLE_OPERAND_BYTES, and larger than the (rows, inner) one that column blocks read whole): a row
half then packs that whole operand again on each thread, where a column half reads only its share
(benchmarks/README.md, "Linear's products as two blocks on the spinning team", has the measurements). A block
boundary is a multiple of ALIGN, so every block but the last is whole tiles of OpenBLAS's micro-kernels.

BLAS must compute each block on the calling thread; `one_blas_thread` sets OpenBLAS's thread count to one
for the job and back after (a store in OpenBLAS; no thread is started or stopped).
"""
from __future__ import annotations

import ctypes
import functools
import threading

import numpy as np

from . import block_claims, environment, job_build, lazy_jit, native_arrays, spin_team
from .blas_threads import _blas, blas_yields_to_engine_threads, engine_threads, get_blas_threads
from .registry import get as kernel

# the args block: int64 slots, filled by `fill_args`
CLAIM, PARTS, STEP, EXTENT, BY_COLUMNS, FUNCTION, TRANS_A, TRANS_B, M, N, K, A, LDA, B, LDB, C, LDC, \
    A_STEP, B_STEP, C_STEP, DOUBLE, BIAS = range(22)  # BIAS: a bias vector's address for relu(c + bias), or 0
SLOTS = 24

PARTS_WANTED = 2  # one block per thread of the team (its caller and its helper)
ALIGN = 16  # block bounds are multiples of this: whole tiles of OpenBLAS's sgemm/dgemm micro-kernels
WHOLE_OPERAND_BYTES = 256 << 10  # an operand every block reads whole: up to half a Zen 3 core's L2 (blocks)
ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112  # CBLAS's enums

# Numba's names, bound when Numba starts (lazy_jit: this module imports without it)
numba = ir = types = intrinsic = None


def _bind_numba() -> None:
    global numba, ir, types, intrinsic
    import numba  # noqa: PLC0415 - at Numba's start, not at this module's import (lazy_jit)
    from llvmlite import ir  # noqa: PLC0415
    from numba import types  # noqa: PLC0415
    from numba.extending import intrinsic  # noqa: PLC0415


lazy_jit.on_start(_bind_numba)
_intrinsic = lazy_jit.deferred(lambda fn: intrinsic(fn))
_inline = lazy_jit.deferred(lambda fn: numba.njit(inline="always", nogil=True, error_model="numpy")(fn))


@_intrinsic
def _call_gemm(typingctx, function, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """cblas_?gemm64_ at address `function` (row-major; float32 or float64 by alpha's type; addresses as int64)."""
    if not isinstance(alpha, types.Float) or beta != alpha:
        return None
    integers = (function, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc)
    if not all(isinstance(x, types.Integer) for x in integers):
        return None

    def codegen(context, builder, signature, args):
        i32, i64, byte_pointer = ir.IntType(32), ir.IntType(64), ir.IntType(8).as_pointer()
        real = ir.FloatType() if alpha.bitwidth == 32 else ir.DoubleType()
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, real, byte_pointer, i64,
                                               byte_pointer, i64, real, byte_pointer, i64])
        (fn, ta, tb, mm, nn, kk, al, aa, la, bb, lb, be, cc, lc) = args

        def int64(value, typ):
            return context.cast(builder, value, typ, types.int64)

        def int32(value, typ):
            return builder.trunc(int64(value, typ), i32)

        def pointer(value, typ):
            return builder.inttoptr(int64(value, typ), byte_pointer)

        s = signature.args
        callee = builder.inttoptr(int64(fn, s[0]), fnty.as_pointer())
        builder.call(callee, [ir.Constant(i32, ROW_MAJOR), int32(ta, s[1]), int32(tb, s[2]), int64(mm, s[3]),
                              int64(nn, s[4]), int64(kk, s[5]), al, pointer(aa, s[7]), int64(la, s[8]),
                              pointer(bb, s[9]), int64(lb, s[10]), be, pointer(cc, s[12]), int64(lc, s[13])])
        return context.get_dummy_value()

    return types.none(function, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc), codegen


@_inline
def _bias_relu_block(c_address, bias_address, rows, cols, row_bytes, dtype):
    """relu(c + bias) in place over a block of the result just computed (linear_cpu.bias_relu's operations)."""
    bias = native_arrays.array_at(bias_address, cols, dtype)
    zero = dtype(0.0)
    for r in range(rows):
        row = native_arrays.array_at(c_address + r * row_bytes, cols, dtype)  # one row: the loop vectorises
        for j in range(cols):
            v = row[j] + bias[j]
            row[j] = zero if v < zero else v  # PyTorch's relu: -0.0 and NaN pass unchanged


def _gemm_blocks(address):
    """The job: claim blocks from args[CLAIM] and compute each (see the module docstring)."""
    args = native_arrays.array_at(address, SLOTS, np.int64)
    parts, step, extent = args[PARTS], args[STEP], args[EXTENT]
    while True:
        part = block_claims.claim(args, CLAIM)
        if part >= parts:
            return
        start = part * step
        size = min(step, extent - start)
        m, n, a, b = args[M], args[N], args[A], args[B]
        if args[BY_COLUMNS]:
            n = size
            b += start * args[B_STEP]
        else:
            m = size
            a += start * args[A_STEP]
        c = args[C] + start * args[C_STEP]
        bias = args[BIAS]
        if bias != 0 and args[BY_COLUMNS]:
            bias += start * args[C_STEP]  # the block's columns: C_STEP is one element then
        if args[DOUBLE]:
            _call_gemm(args[FUNCTION], args[TRANS_A], args[TRANS_B], m, n, args[K], 1.0, a, args[LDA], b,
                       args[LDB], 0.0, c, args[LDC])
            if bias != 0:
                _bias_relu_block(c, bias, m, n, 8 * args[LDC], np.float64)
        else:
            _call_gemm(args[FUNCTION], args[TRANS_A], args[TRANS_B], m, n, args[K], np.float32(1.0), a,
                       args[LDA], b, args[LDB], np.float32(0.0), c, args[LDC])
            if bias != 0:
                _bias_relu_block(c, bias, m, n, 4 * args[LDC], np.float32)


_put_natively = None  # _put_operands_natively compiled, once the job is


def _compile_job():
    """The cfunc of _gemm_blocks (cached on disk where Numba can), and _put_natively before it; needs Numba
    started."""
    global _put_natively
    put = lazy_jit.cached(numba.njit, _put_operands_natively, error_model="numpy", _nrt=False,
                          no_cfunc_wrapper=True)
    for real in (types.float32, types.float64):  # read-only "A" arrays: every array converts to them, read-only
        matrix = types.Array(real, 2, "A", readonly=True)  # or not, as stored or a transposed view
        put.compile((types.Array(types.int64, 1, "C"), matrix, matrix, matrix))
    put.disable_compile()  # nothing compiles on the step's path
    _put_natively = put
    return lazy_jit.cached(functools.partial(numba.cfunc, types.void(types.int64)), _gemm_blocks, nopython=True,
                           error_model="numpy")


_build = job_build.JobBuild(_compile_job)


def job_address() -> int | None:
    """The job's address once it is compiled, else None (the twin runs meanwhile: kernels/job_build.py); None
    where BLAS is not OpenBLAS's 64-bit interface (cblas)."""
    if _build.job is None and cblas() is None:
        return None
    return _build.address()


def wait_built() -> bool:
    """Build the job now on this thread if it is not built (tests, benchmarks); False where it cannot be."""
    if _build.job is None and cblas() is None:
        return False
    _build.wait()
    return True


# ---- OpenBLAS's entry points ----------------------------------------------------------------------------

_functions: dict | None = None


def cblas() -> dict | None:
    """{"f": sgemm's address, "d": dgemm's, "ctypes": {"f"/"d": callable through ctypes}, "threads": (get, set)}
    of the OpenBLAS NumPy loaded (its 64-bit integer interface), or None where BLAS is not that library."""
    global _functions
    if _functions is None:
        _functions = _find_cblas() or {}
    return _functions or None


def _find_cblas() -> dict | None:
    blas = _blas()
    if blas is None or blas.internal_api != "openblas":
        return None
    library = blas.dynlib
    found = {}
    for key, names in (("f", ("scipy_cblas_sgemm64_", "cblas_sgemm64_")),
                       ("d", ("scipy_cblas_dgemm64_", "cblas_dgemm64_")),
                       ("get", ("scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_")),
                       ("set", ("scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_"))):
        function = next((getattr(library, name) for name in names if hasattr(library, name)), None)
        if function is None:
            return None
        found[key] = function
    get, set_ = found.pop("get"), found.pop("set")
    get.argtypes, get.restype = [], ctypes.c_int
    set_.argtypes, set_.restype = [ctypes.c_int], None
    addresses = {key: ctypes.cast(function, ctypes.c_void_p).value for key, function in found.items()}
    calls = {key: _prototype(real)(addresses[key]) for key, real in (("f", ctypes.c_float), ("d", ctypes.c_double))}
    return {**addresses, "ctypes": calls, "threads": (get, set_)}


def _prototype(real):
    """ctypes' type of cblas_?gemm64_ with addresses passed as int64 (row-major ints, 64-bit sizes)."""
    i32, i64 = ctypes.c_int, ctypes.c_int64
    return ctypes.CFUNCTYPE(None, i32, i32, i32, i64, i64, i64, real, i64, i64, i64, i64, real, i64, i64)


class one_blas_thread:
    """`with one_blas_thread():` OpenBLAS computes each product on the calling thread; its count is restored
    when the last thread inside such a block leaves it (two Python threads may run jobs at once, and one
    must not give BLAS its threads back under the other's blocks)."""

    __slots__ = ()
    _inside = 0
    _restore = 1
    _lock = threading.Lock()

    def __enter__(self):
        cls = one_blas_thread
        with cls._lock:
            if cls._inside == 0:
                get, set_ = cblas()["threads"]
                cls._restore = get()
                if cls._restore != 1:
                    set_(1)
            cls._inside += 1
        return self

    def __exit__(self, *exc):
        cls = one_blas_thread
        with cls._lock:
            cls._inside -= 1
            if cls._inside == 0 and cls._restore != 1:
                cblas()["threads"][1](cls._restore)
        return False


# ---- the engine's products -------------------------------------------------------------------------------

ENV_VAR = "TINYGRAD_OPT_TEAM_PRODUCTS"  # "0": the products stay on OpenBLAS's own threads
FROM_MACS = 1 << 19  # multiply-adds from which a product goes to the team: below, the hand-off costs more than half
team_products: bool | None = None  # None until first asked: then the environment's


def routes(a, b, out=None) -> bool:
    """Whether the engine computes a @ b as this job (job_layout)."""
    return job_layout(a, b, out) is not None


def job_layout(a, b, out=None) -> np.ndarray | None:
    """The args block of a @ b without its addresses (for matmul) where the engine computes the product as this
    job, else None: the switch is on (TINYGRAD_OPT_TEAM_PRODUCTS), the product is large enough and takes() it,
    the engine uses two threads or more (blas_threads.engine_threads; BLAS's policy not "off") and its own
    parallel loops have not taken BLAS's threads (then split_gemm.py decides). Nothing here depends on the
    machine's load or on Numba's start, so a process computes a product one way."""
    on = team_products if team_products is not None else takes_products()  # the cached value without a call
    if not on or type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim != 2 or b.ndim != 2:
        return None
    if a.shape[0] * a.shape[1] * b.shape[1] < FROM_MACS:
        return None
    layout = _layout_args(a, b)
    if layout is None or (out is not None and not _fits(out, a, b)):
        return None
    return layout if team_threads() else None


def team_threads() -> bool:
    """Whether the engine's products may run on the team now: it uses two threads or more (engine_threads; BLAS's
    policy not "off") and its own parallel loops have not taken BLAS's threads (then split_gemm.py decides)."""
    return engine_threads() > 1 and get_blas_threads() != "off" and not blas_yields_to_engine_threads()


def takes_products() -> bool:
    """Whether the team takes the large products: `team_products`, from TINYGRAD_OPT_TEAM_PRODUCTS when first asked."""
    global team_products
    if team_products is None:
        team_products = environment.read(ENV_VAR)
    return team_products


def matmul(a, b, out=None, layout: np.ndarray | None = None, relu_bias: np.ndarray | None = None) -> np.ndarray:
    """a @ b (into `out` when given) as the job's blocks: on the team (spin_team.run: its helper joins where the
    machine has room) once the job is compiled, else its twin on this thread; the same bits every way (module
    docstring). Needs takes(a, b, out); `layout`, job_layout's answer where the caller has it.

    `relu_bias` (a C-contiguous vector of the result's dtype, one entry per column): relu(a @ b + relu_bias)
    instead, as the kernel bias_relu computes it, each thread clamping its block right after computing it,
    while the block is in its cache (the twin: one bias_relu pass after the blocks)."""
    c = np.empty((a.shape[0], b.shape[1]), a.dtype) if out is None else out
    args = (_layout_args(a, b) if layout is None else layout).copy()
    address = job_address()
    (_put_operands if address is None else _put_natively)(args, a, b, c)
    if relu_bias is not None and address is not None:
        args[BIAS] = relu_bias.ctypes.data
    with one_blas_thread():
        if address is None:
            twin_product(args)
        else:
            spin_team.run(address, args)
    if relu_bias is not None and address is None:
        kernel("bias_relu", c)(c, relu_bias)  # the registry's choice, twin or loop: the loop's bits either way
    return c


# ---- the product's layout and blocks --------------------------------------------------------------------

def _operand(x, rows: int, cols: int):
    """(transposed flag, leading dimension) of a 2-D array as row-major BLAS takes it, or None."""
    size = x.itemsize
    s0, s1 = x.strides
    if s1 == size and s0 >= max(cols, 1) * size and s0 % size == 0:
        return NO_TRANS, s0 // size
    if s0 == size and s1 >= max(rows, 1) * size and s1 % size == 0:
        return TRANS, s1 // size
    return None


def takes(a, b, out=None) -> bool:
    """Whether a @ b can run as this job: 2-D float32/float64 NumPy arrays of one dtype, each with one axis of
    unit stride (as stored or a transposed view), `out` None or a C-contiguous array of the result's shape."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray or a.ndim != 2 or b.ndim != 2:
        return False
    return _layout_args(a, b) is not None and (out is None or _fits(out, a, b))


def _takes_layout(a, b) -> bool:
    if cblas() is None or a.dtype != b.dtype or a.dtype.char not in "fd" or a.shape[1] != b.shape[0] or 0 in a.shape or 0 in b.shape:
        return False
    return _operand(a, *a.shape) is not None and _operand(b, *b.shape) is not None


def _fits(out, a, b) -> bool:
    return (type(out) is np.ndarray and out.dtype == a.dtype and out.flags.c_contiguous and out.flags.writeable
            and out.shape == (a.shape[0], b.shape[1]))


MAX_LAYOUTS = 256  # kinds of product whose args block is kept; later kinds are worked out at each call
_layouts: dict[tuple, np.ndarray | None] = {}  # (shapes, strides, dtypes) -> args block without the addresses


def _layout_args(a, b) -> np.ndarray | None:
    """The args block of a @ b for 2-D NumPy arrays but the three addresses (A, B, C), kept per kind of product
    (a product's layout decides all of it, and working it out costs more than the job's hand-off); None where
    the job does not take the product."""
    key = (a.shape, a.strides, b.shape, b.strides, a.dtype.char, b.dtype.char)
    args = _layouts.get(key, False)
    if args is False:
        args = None
        if _takes_layout(a, b):
            args = np.zeros(SLOTS, np.int64)
            _fill_layout(args, a, b)
        if len(_layouts) < MAX_LAYOUTS:
            _layouts[key] = args
    return args


def blocks(rows: int, inner: int, cols: int, itemsize: int) -> tuple[bool, int, int]:
    """(by columns, block size, block count) of a (rows, inner) x (inner, cols) product: fixed by its shape alone.

    Rows of the result, unless each row block would read the whole (inner, cols) operand and that operand is
    larger than WHOLE_OPERAND_BYTES and than the (rows, inner) one, which column blocks read whole instead;
    an axis too short for two blocks is not split (see the module docstring for the times)."""
    rows_split, cols_split = rows >= 2 * ALIGN, cols >= 2 * ALIGN
    by_columns = cols_split and (not rows_split or (inner * cols * itemsize > WHOLE_OPERAND_BYTES and rows < cols))
    extent = cols if by_columns else rows
    step = -(-extent // PARTS_WANTED)
    step = -(-step // ALIGN) * ALIGN
    return by_columns, step, -(-extent // step)


def fill_args(args: np.ndarray, a, b, c) -> None:
    """Write the product c = a @ b into the args block (an int64 array of SLOTS), its claim counter at 0."""
    _fill_layout(args, a, b)
    _put_operands(args, a, b, c)


def _put_operands(args: np.ndarray, a, b, c) -> None:
    """The args block's addresses of the product's operands and result."""
    args[A], args[B], args[C] = a.ctypes.data, b.ctypes.data, c.ctypes.data


def _put_operands_natively(args, a, b, c):
    """_put_operands in nopython code, for a job's every call once Numba has started: NumPy's .ctypes costs more
    per array than this call for all three (signatures: _build_now)."""
    args[A] = a.ctypes.data
    args[B] = b.ctypes.data
    args[C] = c.ctypes.data


def _fill_layout(args: np.ndarray, a, b) -> None:
    """Every slot of a @ b's args block but the addresses (A, B, C), the claim counter at 0."""
    (rows, inner), cols = a.shape, b.shape[1]
    size = a.itemsize
    trans_a, lda = _operand(a, rows, inner)
    trans_b, ldb = _operand(b, inner, cols)
    by_columns, step, parts = blocks(rows, inner, cols, size)
    a_step = size * (lda if trans_a == NO_TRANS else 1)  # bytes from one row of op(a) to the next
    b_step = size * (1 if trans_b == NO_TRANS else ldb)  # bytes from one column of op(b) to the next
    double = a.dtype.char == "d"
    args[:DOUBLE + 1] = (0, parts, step, cols if by_columns else rows, by_columns, cblas()["d" if double else "f"],
                         trans_a, trans_b, rows, cols, inner, 0, lda, 0, ldb, 0, cols, a_step, b_step,
                         size if by_columns else size * cols, double)


def twin_product(args: np.ndarray) -> None:
    """The job for the calling thread alone, in Python: the same cblas call per block through ctypes, so the
    same bits as the compiled job, where Numba has not started or the job is not compiled yet. Needs one BLAS
    thread (one_blas_thread)."""
    gemm = cblas()["ctypes"]["d" if args[DOUBLE] else "f"]
    parts, step, extent = int(args[PARTS]), int(args[STEP]), int(args[EXTENT])
    for part in range(parts):
        start = part * step
        size = min(step, extent - start)
        m, n, a, b = int(args[M]), int(args[N]), int(args[A]), int(args[B])
        if args[BY_COLUMNS]:
            n, b = size, b + start * int(args[B_STEP])
        else:
            m, a = size, a + start * int(args[A_STEP])
        c = int(args[C]) + start * int(args[C_STEP])
        gemm(ROW_MAJOR, int(args[TRANS_A]), int(args[TRANS_B]), m, n, int(args[K]), 1.0, a, int(args[LDA]), b,
             int(args[LDB]), 0.0, c, int(args[LDC]))
