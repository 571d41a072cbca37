"""Post-training dynamic int8 quantization of Linear layers (Conv2d layers: quantize_conv.py).

Weights, once, per output channel (symmetric):  s_w[j] = max_k |W[j, k]| / 127,
    Wq[j, k] = clip(round(W[j, k] / s_w[j]), -127, 127) as int8.
Activations, per batch (dynamic, symmetric):    s_x = max |x| / 127,  xq = round(x / s_x) as int8.
Product in integers, int32 accumulation:        acc[i, j] = sum_k xq[i, k] * Wq[j, k]
Back to float:                                 y[i, j] = acc[i, j] * s_x * s_w[j] + b[j]  (bias in float).
Weights take a quarter of float32's bytes; -128 is never used, so the range is symmetric.
"""
from __future__ import annotations

import copy
import numpy as np

from ..autograd import no_grad
from ..backend import array_module
from ..nn import Conv2d, Linear
from ..nn.module import Module
from ..tensor import Tensor
from .int8 import BACKENDS, int8_matmul
from .quantize_conv import QuantizedConv2d
from .scales import quantize_activation, quantize_per_channel
from .structured import effective


class QuantizedLinear(Module):
    """Inference-only Linear with int8 weights (per output channel) and dynamically quantized inputs.

    Buffers: `weight_int8` (out, in) int8, `weight_scale` (out,) float32 and `bias` (out,)
    float32 or None. The output is float32 and carries no gradient.
    Build one with `QuantizedLinear.from_float(linear)`.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, backend: str = "auto") -> None:
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"QuantizedLinear: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.in_features, self.out_features, self.backend = int(in_features), int(out_features), backend
        self.register_buffer("weight_int8", Tensor(np.zeros((out_features, in_features), dtype=np.int8)))
        self.register_buffer("weight_scale", Tensor(np.ones(out_features, dtype=np.float32)))
        self.register_buffer("bias", Tensor(np.zeros(out_features, dtype=np.float32)) if bias else None)

    @classmethod
    def from_float(cls, linear: Linear, backend: str = "auto") -> QuantizedLinear:
        """Quantize a (possibly pruned) Linear's effective weights; pruned zeros stay exactly zero."""
        if not isinstance(linear, Linear):
            raise TypeError(f"QuantizedLinear.from_float expects an nn.Linear, got {type(linear).__name__}")
        w = effective(linear, "weight")
        b = effective(linear, "bias")
        q = cls(linear.in_features, linear.out_features, bias=b is not None, backend=backend)
        wq, scale = quantize_per_channel(w)
        q.weight_int8.data, q.weight_scale.data = wq, scale
        if b is not None:
            q.bias.data = b.astype(array_module(b).float32)
        return q

    def dequantized_weight(self):
        """The float32 weights the int8 ones stand for: Wq * s_w[:, None]."""
        return self.weight_int8.data.astype(self.weight_scale.data.dtype) * self.weight_scale.data[:, None]

    def forward(self, input: Tensor) -> Tensor:
        x = input.data if isinstance(input, Tensor) else input
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(f"QuantizedLinear: input of shape {tuple(x.shape)} does not end in in_features={self.in_features}")
        lead = x.shape[:-1]
        x2 = x.reshape(-1, self.in_features)
        xq, sx = quantize_activation(x2)
        acc = int8_matmul(xq, self.weight_int8.data, self.backend)
        xp = array_module(acc)
        y = acc.astype(xp.float32)
        y *= self.weight_scale.data * xp.float32(sx)
        if self.bias is not None:
            y += self.bias.data
        return Tensor._make(y.reshape(*lead, self.out_features), False)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}, dtype=int8, backend={self.backend}")


# layers without parameters that quantize_dynamic leaves in place (they need no quantization)
def _param_free(m: Module) -> bool:
    return not any(p is not None for p in m._parameters.values())


def quantize_dynamic(model: Module, backend: str = "auto") -> Module:
    """A copy of `model` with every nn.Linear replaced by a QuantizedLinear and every nn.Conv2d by a
    QuantizedConv2d (the original is untouched).

    Any other layer with parameters (BatchNorm1d/2d, or a custom layer) cannot be quantized: a
    ValueError names it (fold a BatchNorm into the Linear or Conv2d before it with
    compress.fold_batchnorm first). Parameter-free layers (activations, Dropout, Flatten,
    containers) are kept. The copy is put in evaluation mode.
    """
    if backend not in BACKENDS:
        raise ValueError(f"quantize_dynamic: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    for name, m in model.named_modules():
        if isinstance(m, (Linear, Conv2d, QuantizedLinear, QuantizedConv2d)) or _param_free(m):
            continue
        params = [k for k, v in m._parameters.items() if v is not None]
        hint = (" Fold it into the preceding Linear or Conv2d first: compress.fold_batchnorm(model)."
                if "BatchNorm" in type(m).__name__ else "")
        raise ValueError(
            f"quantize_dynamic: cannot quantize layer {name or '(the model itself)'!r} ({type(m).__name__}, "
            f"parameters: {', '.join(params)}): only nn.Linear and nn.Conv2d layers are quantized, and "
            f"other layers must have no parameters.{hint}"
        )
    if isinstance(model, Linear):
        return QuantizedLinear.from_float(model, backend).eval()
    if isinstance(model, Conv2d):
        return QuantizedConv2d.from_float(model, backend).eval()
    with no_grad():
        out = copy.deepcopy(model)
    for _, parent in list(out.named_modules()):
        for child_name, child in list(parent._modules.items()):
            if isinstance(child, Linear):
                parent._modules[child_name] = QuantizedLinear.from_float(child, backend)
            elif isinstance(child, Conv2d):
                parent._modules[child_name] = QuantizedConv2d.from_float(child, backend)
    return out.eval()


def model_size(model: Module) -> dict[str, int]:
    """Bytes of the model: {"weights": weight matrices (float or int8), "total": every saved array}.

    "total" counts what state_dict() holds (parameters, biases, scales, buffers such as
    BatchNorm statistics), pruning masks excluded; pruned weights count at full size
    (they are stored dense).
    """
    weights = total = 0
    for _, m in model.named_modules():
        for name, t in list(m._parameters.items()) + [(k, v) for k, v in m._buffers.items() if k not in m._non_persistent_buffers]:
            if t is None or name.endswith("_mask"):
                continue
            nbytes = int(t.data.nbytes)
            total += nbytes
            if name in ("weight", "weight_orig", "weight_int8") and t.data.ndim >= 2:
                weights += nbytes
    return {"weights": weights, "total": total}
