"""Fused hot loops behind one registry (installed as tinygrad_opt.kernels).

Every fused kernel has three versions with one signature:
  reference.py  plain NumPy/CuPy array expressions: the ground truth, and the teaching copy
  cpu.py        Numba loops for NumPy arrays (imported and compiled lazily, cached on disk)
  gpu.py        CuPy kernels for CUDA arrays (compiled lazily by CuPy, cached on disk)
A fast version declares the inputs it handles (`@takes(predicate)`); the registry runs the
reference for the others, so no kernel repeats that decision.
`get(name, array)` returns the version to run for the array's device under the
current mode, set by `set_kernels("auto" | "numba" | "reference")` or, at import,
by the environment variable TINYGRAD_OPT_KERNELS. Float matrix products are not here:
they stay on BLAS / cuBLAS.

    relu = kernels.get("relu", a)      # once per call site and device: a dict lookup
    y = relu(a)
"""
from . import reference
from .registry import (ENV_VAR, MODES, available, get, get_mode, per_array, register, set_kernels, takes, which,
                       with_fallback)

# name: (cpu version, gpu version); None = the reference is already one pass / one launch there
_FAST = {
    "softmax_cross_entropy": ("cpu:softmax_cross_entropy", "gpu:softmax_cross_entropy"),
    "log_softmax": ("cpu:log_softmax", None),  # cupy reduces rows in one launch each already
    "log_softmax_backward": ("cpu:log_softmax_backward", None),
    "bias_grad": ("cpu:bias_grad", None),
    "sum_rows": ("cpu:sum_rows", None),  # cupy reduces in one launch already  # cupy's sum over axis 0 is one launch already
    "sgd_update": ("cpu:sgd_update", "gpu:sgd_update"),
    "adam_update": ("cpu:adam_update", "gpu:adam_update"),
    "rmsprop_update": ("cpu:rmsprop_update", "gpu:rmsprop_update"),
    "adagrad_update": ("cpu:adagrad_update", "gpu:adagrad_update"),
    "adadelta_update": ("cpu:adadelta_update", "gpu:adadelta_update"),
    "adamax_update": ("cpu:adamax_update", "gpu:adamax_update"),
    "nadam_update": ("cpu:nadam_update", "gpu:nadam_update"),
    "radam_update": ("cpu:radam_update", "gpu:radam_update"),
    "lion_update": ("cpu:lion_update", "gpu:lion_update"),
    "schedule_free_adamw_update": ("cpu:schedule_free_adamw_update", "gpu:schedule_free_adamw_update"),
    "apply_mask": ("cpu:apply_mask", None),  # one cupy multiply
    "dropout": ("cpu:dropout", "gpu:dropout"),
    "grad_norm": ("cpu:grad_norm", "gpu:grad_norm"),
    "int8_matmul": ("cpu:int8_matmul", "gpu:int8_matmul"),
    "erf": ("cpu:erf", None),  # cupyx.scipy.special.erf is one launch already
}

for _name, (_cpu, _gpu) in _FAST.items():
    register(_name, reference=getattr(reference, _name), cpu=_cpu, gpu=_gpu)
# the optimizer updates over all the parameters of a group in one call (the CPU's shares the work between
# two threads); elsewhere the update of each parameter in turn
register("adam_update_group", reference=per_array("adam_update"), cpu="cpu:adam_update_group")
register("sgd_update_group", reference=per_array("sgd_update"), cpu="cpu:sgd_update_group")
# ReLU's forward is one SIMD ufunc in NumPy: the loop is faster only from this size on (on CUDA a select:
# cupy.maximum's max leaves the sign of a tie of zeros open)
register("relu", reference=reference.relu, cpu="cpu:relu", gpu="gpu:relu", cpu_from_size=4096)
# its backward: the reference's two ufuncs cost less than the loop's checks and call below 512 elements
register("relu_backward", reference=reference.relu_backward, cpu="cpu:relu_backward", gpu="gpu:relu_backward",
         cpu_from_size=512)

# convolution and max pooling (conv_reference.py, conv_cpu.py, conv_gpu.py)
from . import conv_reference  # noqa: E402

_CONV_FAST = {
    "im2col": ("conv_cpu:im2col", "conv_gpu:im2col"),
    "col2im": ("conv_cpu:col2im", "conv_gpu:col2im"),
    "max_pool2d_forward": ("conv_cpu:max_pool2d_forward", "conv_gpu:max_pool2d_forward"),
    "max_pool2d_backward": ("conv_cpu:max_pool2d_backward", "conv_gpu:max_pool2d_backward"),
}
for _name, (_cpu, _gpu) in _CONV_FAST.items():
    register(_name, reference=getattr(conv_reference, _name), cpu=_cpu, gpu=_gpu)

# Linear followed by ReLU (ops.LinearReLU): bias + ReLU forward in place, mask + bias gradient in one pass
from . import linear_reference  # noqa: E402

_CPU_ONLY = ("relu_backward_bias_grad", "relu_backward_bias_grad_live", "live_columns", "live_columns_turned",
             "place_live_rows")
for _name in ("bias_relu", "bias_relu_transposed") + _CPU_ONLY:
    register(_name, reference=getattr(linear_reference, _name), cpu=f"linear_cpu:{_name}",
             gpu=None if _name in _CPU_ONLY else f"gpu:{_name}")

# the activations' forward and backward passes (ops.LeakyRelu, ops.Silu, ops.Elu, ops.Gelu, ops.Softplus): activation_*.py
from . import activation_reference  # noqa: E402

for _name in ("leaky_relu", "leaky_relu_backward", "silu", "silu_backward", "elu", "elu_backward", "gelu",
              "gelu_backward", "softplus", "softplus_backward"):
    register(_name, reference=getattr(activation_reference, _name), cpu=f"activation_cpu:{_name}",
             gpu=f"activation_gpu:{_name}")

# Tanh's backward: one pass instead of three NumPy calls, which are as fast below 512 elements
register("tanh_backward", reference=activation_reference.tanh_backward, cpu="activation_cpu:tanh_backward",
         cpu_from_size=512)

# the regression losses and nll_loss (ops/regression_loss.py, ops/nll.py): loss_*.py
from . import loss_reference  # noqa: E402

for _name in ("l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "nll_loss_backward"):
    register(_name, reference=getattr(loss_reference, _name), cpu=f"loss_cpu:{_name}")

# layer normalisation over the rows of a (rows, m) array (ops.LayerNorm): layer_norm_*.py
from . import layer_norm_reference  # noqa: E402

for _name in ("layer_norm", "layer_norm_backward"):
    register(_name, reference=getattr(layer_norm_reference, _name), cpu=f"layer_norm_cpu:{_name}")

# Embedding's backward: rows added at indices (embedding_*.py)
from . import embedding_reference  # noqa: E402

register("index_add_rows", reference=embedding_reference.index_add_rows, cpu="embedding_cpu:index_add_rows")

# BLAS's thread count for the engine's matrix products under load (blas_threads.py)
from .blas_threads import get_blas_threads, set_blas_threads  # noqa: E402

__all__ = ["ENV_VAR", "MODES", "available", "get", "get_mode", "register", "set_kernels", "which", "reference",
           "takes", "with_fallback", "get_blas_threads", "set_blas_threads"]

# batch normalisation over channel blocks (ops.BatchNormChannels): statistics, forward, backward
from . import batchnorm_reference  # noqa: E402

for _name in ("batch_norm_stats", "batch_norm_forward", "batch_norm_backward"):
    register(_name, reference=getattr(batchnorm_reference, _name), cpu=f"batchnorm_cpu:{_name}")

# flushing subnormal floats to zero on the engine's CPU threads (denormal.py; tg.set_flush_denormal)
from .denormal import flush_denormal, flush_denormal_enabled, set_flush_denormal  # noqa: E402

__all__ += ["set_flush_denormal", "flush_denormal_enabled", "flush_denormal"]

# first calls run a twin with the loop's bits while the loop compiles in the background (first_call.py, background.py)
from . import first_call  # noqa: E402
from .registry import set_first_call  # noqa: E402

for _name in first_call.__all__:
    set_first_call(_name, getattr(first_call, _name))

# the package's environment variables, read where first needed; check_environment() reads them all now
from .environment import check_environment  # noqa: E402

__all__ += ["check_environment"]

# erfc and erfinv (ops/special.py; erf is reference.erf / cpu.erf): special_*.py
from . import special_reference  # noqa: E402

for _name in ("erfc", "erfinv"):
    register(_name, reference=getattr(special_reference, _name), cpu=f"special_cpu:{_name}")
