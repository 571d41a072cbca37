"""The affine map of a fully connected layer as one graph node."""
from time import perf_counter

import numpy as np

from ..autograd import Function
from ..errors import ShapeError
from ..kernels import get as kernel
from ..kernels import gemm_job, get_mode, live_gemm, spin_team, tile_gemm
from ..kernels.blas_threads import THREADED_FROM_MACS, after_gemm, before_gemm
from ..kernels.split_gemm import matmul as split_matmul


def _product(a, b, out=None):
    """a @ b, written into `out` when given (a captured step's buffer, a NumPy array); a large product as fixed
    blocks on the engine's two threads (kernels/gemm_job.py), or on the engine's threads where BLAS runs on
    one (kernels/split_gemm.py)."""
    if type(a) is np.ndarray:
        layout = gemm_job.job_layout(a, b, out)
        if layout is not None:
            return gemm_job.matmul(a, b, out, layout)
    return _product_off_the_team(a, b, out)


def _product_off_the_team(a, b, out=None):
    """a @ b where it does not run as the team's job: split_gemm's blocks for NumPy arrays, else the array's @."""
    if type(a) is np.ndarray:
        macs = a.size * b.shape[-1]
        if macs < THREADED_FROM_MACS or a.dtype.char not in "fd":  # BLAS on the caller alone, or no BLAS
            return split_matmul(a, b, out)
        started = perf_counter()
        y = split_matmul(a, b, out)
        after_gemm(started, macs)  # one that waited for a BLAS worker put aside: one thread from now on
        return y
    return a @ b if out is None else np.matmul(a, b, out=out)


def _product_bias_relu(x, wt, b, out=None):
    """relu(x @ wt + b), as the kernel bias_relu computes it, written into `out` when given. Where the product
    runs as the team's job and b suits it (a C-contiguous NumPy vector of x's dtype), each thread clamps the
    blocks it has just computed, while they are in its cache; else one pass over the product after it."""
    layout = gemm_job.job_layout(x, wt, out) if type(x) is np.ndarray else None
    if (layout is not None and type(b) is np.ndarray and b.dtype == x.dtype and b.flags.c_contiguous
            and get_mode() != "reference"):
        return gemm_job.matmul(x, wt, out, layout, b)
    y = _product_off_the_team(x, wt, out) if layout is None else gemm_job.matmul(x, wt, out, layout)
    y2 = y.reshape(-1, y.shape[-1]) if y.ndim != 2 else y  # a fresh array (or out): the pass may overwrite it
    kernel("bias_relu", y2)(y2, b)
    return y


# fewer rows: at 64 rows the narrower product through OpenBLAS and the skip's two passes took as long as the
# whole product with BLAS on two threads, and the step ran 2.6 % slower (benchmarks/README.md, "Dead units'
# weight rows"); kernels/live_gemm.py's tiles, which need neither pass, pay from their shortest batch on
SKIP_DEAD_FROM_ROWS = 128


def _skips_dead_units(g, x) -> bool:
    """Whether _weight_grad looks for dead units in g: from SKIP_DEAD_FROM_ROWS rows, or from live_gemm.MIN_INNER
    rows where its tiles would take the live rows (_live_tiles_take_operands); else it multiplies them all."""
    if not (type(g) is np.ndarray and type(x) is np.ndarray and g.dtype.char in "fd" and g.flags.c_contiguous):
        return False
    rows = g.shape[0]
    return rows >= SKIP_DEAD_FROM_ROWS or (rows >= live_gemm.MIN_INNER and _live_tiles_take_operands(g, x))


def _weight_grad(g, x, out=None, live=None, tiles=None):
    """dL/dW = g^T @ x for the (rows, out) gradient g and (rows, in) input x, written into `out` when given.

    A unit whose column of g is all zeros (a ReLU unit dead on every row of the batch, which a trained net
    has many of) gets a weight-gradient row of zeros: sum over rows of 0 * x[:, k]. Where at least an eighth
    of the units are dead, only the live units' rows are multiplied, g[:, live]^T @ x, and the dead rows are
    written as +0, which is what the whole product gives them as long as x is finite. A non-finite x[b, k]
    would make the dead rows' column k NaN; it also makes every live row's column k non-finite, so a live
    part that is not all finite (or no live unit) takes the whole product instead. The live rows are the same
    sums as in the whole product, but BLAS may round them differently for the narrower product, so Linear and
    LinearReLU both come here and the fused layer keeps the unfused numbers.

    Where the batch is longer than tile_gemm's tiles take (float32, the team taking the products), the live rows
    are computed in fused tiles that read x as it is (kernels/live_gemm.py), with their own bits; up to
    live_gemm.EVERY_ROW_UP_TO rows the tiles also take every row where few or no units are dead, as they were
    faster than the whole product through OpenBLAS there too. Else, the skip's own passes are
    kernels rather than NumPy calls: the live columns gathered row by row in one
    pass (BLAS takes the gather as a transposed operand, g[:, live]^T), and one pass over the weight gradient
    that places the live rows, writes the dead ones as +0 and checks that the live part is finite. As NumPy
    calls (a fancy gather, isfinite, fill, a fancy scatter) those passes cost most of what the narrower product
    saves at batch 64 (benchmarks/README.md, "Dead units' weight rows"). `live`, where given, is
    live_columns(g) found already (LinearReLU's backward finds it in its mask pass); `tiles`, where given,
    _in_tiles(g.T, x, out) looked up already (there too)."""
    if _skips_dead_units(g, x):
        live_gemm.build_later()
        if live is None:
            live = kernel("live_columns", g)(g)
        units = g.shape[1]
        many_dead = 0 < live.size <= units - units // 8
        if many_dead or 0 < live.size and g.shape[0] <= live_gemm.EVERY_ROW_UP_TO:
            gw = np.empty((units, x.shape[1]), g.dtype) if out is None else out
            if _in_live_tiles(g, x, live, gw):
                if live_gemm.matmul_live(g, x, live, gw, spin_team.run):
                    return gw
                return _product(g.T, x, gw)
            out = gw
        if many_dead and g.shape[0] >= SKIP_DEAD_FROM_ROWS:
            gw = np.empty((units, x.shape[1]), g.dtype) if out is None else out
            part = _product(kernel("live_columns_turned", g)(g, live), x)
            if kernel("place_live_rows", part)(part, live, gw):
                return gw
            return _product(g.T, x, gw)
    gt = g.T
    if tiles is None:
        tiles = _in_tiles(gt, x, out)
    if tiles is not None:  # a batch of up to 64 rows
        if live is not None:  # the dead units' rows written +0, not multiplied (the same bits: tile_gemm)
            gw = np.empty((gt.shape[0], x.shape[1]), g.dtype) if out is None else out
            if tile_gemm.takes_live(gt, x, live, gw, tiles) and \
                    tile_gemm.matmul_live(gt, x, live, gw, spin_team.run, tiles):
                return gw
            return tile_gemm.matmul(gt, x, gw, spin_team.run, tiles)
        return tile_gemm.matmul(gt, x, out, spin_team.run, tiles)
    return _product(gt, x, out)


def _in_live_tiles(g, x, live, out) -> bool:
    """Whether _weight_grad computes the live rows of g^T @ x into `out` in kernels/live_gemm.py's fused tiles: it
    takes them, the team takes the products (as for _in_tiles) and the kernels are not the reference ones."""
    return live_gemm.takes(g, x, live, out) and _team_takes_live_tiles()


def _live_tiles_take_operands(g, x) -> bool:
    """_in_live_tiles's answer for g and x with some units dead, whichever they are."""
    return live_gemm.takes_operands(g, x) and _team_takes_live_tiles()


def _team_takes_live_tiles() -> bool:
    return gemm_job.takes_products() and gemm_job.team_threads() and get_mode() != "reference"


def _weight_first(x, w) -> bool:
    """True where x @ W^T is computed as (W @ x^T)^T: float32, a few rows against many output features over
    a long inner axis. OpenBLAS's sgemm packs the operands differently in that orientation, and for such
    shapes it was 10-35 % faster (dgemm: no faster; benchmarks/README.md, "The captured step at batch 64");
    Linear and LinearReLU decide alike, so the fused layer keeps the unfused numbers."""
    return (type(x) is np.ndarray and type(w) is np.ndarray and x.ndim == 2 and 4 * x.shape[0] <= w.shape[0]
            and x.shape[1] >= 512 and x.dtype == w.dtype == np.float32 and x.flags.c_contiguous
            and w.flags.c_contiguous)


def _transposed_product(x, w):
    """W @ x^T, (out_features, rows), C-contiguous: the layer's product before it is turned back. For a batch of
    up to 64 rows, in register tiles on the engine's two threads (kernels/tile_gemm.py)."""
    xt = x.T
    tiles = _in_tiles(w, xt)
    if tiles is not None:
        return tile_gemm.matmul(w, xt, None, spin_team.run, tiles)
    return _product(w, xt)


def _transposed_bias_relu(x, w, b, out=None):
    """relu(x @ W^T + b) computed as (W @ x^T)^T (_weight_first), into `out` when given: in register tiles, where
    they take the product, each thread turns the rows it has just computed and adds the bias and clamps them on
    the way (tile_gemm.takes_turned); else one pass after the product (kernel bias_relu_transposed). The same
    bits either way."""
    y = np.empty((x.shape[0], w.shape[0]), x.dtype) if out is None else out
    xt = x.T
    tiles = _in_tiles(w, xt)
    if tiles is not None and tile_gemm.takes_turned(tiles, b, y):
        tile_gemm.matmul(w, xt, None, spin_team.run, tiles, b, y)
        return y
    y_t = _product(w, xt) if tiles is None else tile_gemm.matmul(w, xt, None, spin_team.run, tiles)
    kernel("bias_relu_transposed", y_t)(y_t, b, y)
    return y


def _in_tiles(a, b, out=None):
    """The args block of a @ b in the engine's register tiles (kernels/tile_gemm.py: a layer's forward W @ x^T
    and weight gradient g^T @ x at a batch of up to 64 rows) where the layer computes it there: where the team
    takes the products (as gemm_job.job_layout decides), from as many multiply-adds as a product the team
    takes; else None."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] * a.shape[1] * b.shape[1] < gemm_job.FROM_MACS:
        return None  # a small product (the output layer's) without the layout's look-up
    tiles = tile_gemm.layout(a, b, out)
    if tiles is not None and gemm_job.takes_products() and gemm_job.team_threads() and get_mode() != "reference":
        return tiles
    return None


def check_layer(name: str, x_shape: tuple, w, b) -> None:
    """Raise ShapeError where an input of shape x_shape (..., in), w (out, in) and b (out,) or None do not make a
    layer `name`."""
    if w.ndim != 2 or len(x_shape) == 0 or x_shape[-1] != w.shape[1]:
        raise ShapeError(
            f"{name}: input of shape {tuple(x_shape)} does not fit a weight of shape {tuple(w.shape)}; "
            f"the weight must be (out_features, in_features) and the input's last axis in_features"
        )
    if b is not None and b.shape != (w.shape[0],):
        raise ShapeError(f"{name}: bias of shape {tuple(b.shape)} must be ({w.shape[0]},) for a weight of shape "
                         f"{tuple(w.shape)}")


def affine(x, w, b, out=None):
    """x @ W^T + b (b None: no bias), written into `out` when given: Linear's forward."""
    before_gemm()
    if _weight_first(x, w):
        y_t = _transposed_product(x, w)
        y = np.empty(y_t.shape[::-1], y_t.dtype) if out is None else out
        if b is not None:
            return np.add(y_t.T, b, out=y)  # turned back and the bias added in one pass
        np.copyto(y, y_t.T)
        return y
    y = _product(x, w.T, out)
    if b is not None:
        y += b  # in place: y is a fresh array (or out), so this saves one temporary
    return y


def affine_relu(x, w, b, out=None):
    """relu(x @ W^T + b), written into `out` when given: LinearReLU's forward."""
    before_gemm()
    if _weight_first(x, w):
        return _transposed_bias_relu(x, w, b, out)
    return _product_bias_relu(x, w.T, b, out)


def affine_grads(x, w, g, needs, has_bias, out=(None, None, None)):
    """(dL/dx, dL/dW, dL/db) of y = x @ W^T + b for g = dL/dy, each None where `needs` says no (Linear's
    backward; dL/db None too without a bias). out: arrays to write dL/dx and dL/dW into, or None each."""
    before_gemm()
    gx = _product(g, w, out[0]) if needs[0] else None
    gw = gb = None
    if needs[1] or (has_bias and needs[2]):
        g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
        if needs[1]:
            x2 = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
            gw = _weight_grad(g2, x2, out[1])
        if has_bias and needs[2]:
            gb = kernel("bias_grad", g2)(g2)
    return gx, gw, gb


def affine_relu_grads(x, w, y, g, needs, out=(None, None, None), masked=None):
    """(dL/dx, dL/dW, dL/db) of y = relu(x @ W^T + b) for g = dL/dy, each None where `needs` says no
    (LinearReLU's backward). masked: (gz, db, live), ReLU's backward of g with its column sums and live units
    found already (ops.LinearReLULinear's head pass), or None: the mask pass here. out: as affine_grads's."""
    g2 = g.reshape(-1, g.shape[-1]) if g.ndim != 2 else g
    x2 = x.reshape(-1, x.shape[-1]) if x.ndim != 2 else x
    live = tiles = None
    if needs[1] and g2.flags.c_contiguous:  # g2.T's layout is then that of the mask's result, gz.T
        tiles = _in_tiles(g2.T, x2, out[1])
    if masked is not None:
        gz, gb, live = masked
    else:
        y2 = y.reshape(-1, y.shape[-1]) if y.ndim != 2 else y
        if needs[1] and (_skips_dead_units(g2, x2) or tiles is not None):  # the mask's pass finds the live units
            gz, gb, live = kernel("relu_backward_bias_grad_live", g2)(g2, y2)
        else:
            gz, gb = kernel("relu_backward_bias_grad", g2)(g2, y2)
    before_gemm()
    gx = gw = None
    if needs[0]:
        gx_out = None if out[0] is None else out[0].reshape(-1, out[0].shape[-1])
        gx = _product(gz, w, gx_out)
        if x.ndim != 2:
            gx = gx.reshape(x.shape) if out[0] is None else out[0]
    if needs[1]:
        gw = _weight_grad(gz, x2, out[1], live, tiles)
    return gx, gw, (gb if needs[2] else None)


class Linear(Function):
    """y = x @ W^T + b, with W of shape (out, in) and b of shape (out,) (PyTorch's layout).

    x has shape (..., in); leading axes are batch axes. With g = dL/dy of shape (..., out):
        dL/dx = g @ W
        dL/dW = g^T @ x      (batch axes flattened, so the sum runs over every row; dead units'
                              rows without a product: _weight_grad)
        dL/db = sum of g over every axis but the last   (the fused column-sum kernel bias_grad)
    One node instead of MatMul + Transpose + Add: the hot path of an MLP. The products
    stay on BLAS (cuBLAS on the GPU).
    """

    @staticmethod
    def forward(ctx, x, w, b=None, out=None):
        check_layer("linear", x.shape, w, b)
        ctx.x, ctx.w, ctx.has_bias = x, w, b is not None
        return affine(x, w, b, out)

    @staticmethod
    def backward(ctx, g, out=(None, None, None)):
        """out: arrays to write dL/dx and dL/dW into (a captured step's buffers), or None each."""
        gx, gw, gb = affine_grads(ctx.x, ctx.w, g, ctx.needs_input_grad, ctx.has_bias, out)
        if ctx.has_bias:
            return gx, gw, gb
        return gx, gw


class LinearReLU(Function):
    """y = relu(x @ W^T + b): a Linear layer and the ReLU after it as one graph node.

    With g = dL/dy and gz = 0 where y <= 0, g elsewhere (Relu's backward, as PyTorch's):
        dL/dx = gz @ W,   dL/dW = gz^T @ x,   dL/db = sum of gz over every axis but the last
    Forward adds the bias and clamps in one in-place pass over the product (kernel
    "bias_relu"), or, where the product runs on the team (kernels/gemm_job.py), each thread
    on the block it has just computed; backward masks g and sums the bias gradient in one
    pass (kernel "relu_backward_bias_grad", which also finds the live units for the
    dead-unit skip). Same numbers as Linear then Relu; nn.Sequential uses it for a Linear
    directly followed by a ReLU.
    """

    @staticmethod
    def forward(ctx, x, w, b, out=None):
        check_layer("linear_relu", x.shape, w, b)
        y = affine_relu(x, w, b, out)
        ctx.x, ctx.w, ctx.y = x, w, y
        return y

    @staticmethod
    def backward(ctx, g, out=(None, None, None)):
        """out: arrays to write dL/dx and dL/dW into (a captured step's buffers), or None each."""
        return affine_relu_grads(ctx.x, ctx.w, ctx.y, g, ctx.needs_input_grad, out)
