"""Dtype names as torch spells them (`tg.float32`, `tg.int64`, ...): NumPy dtypes underneath.

`tg.float32 == "float32" == np.float32` all hold, so user code may pass any of them.
"""
import numpy as np

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # noqa: A001 - torch.float is float32
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)  # noqa: A001 - torch.int is int32
int64 = long = np.dtype(np.int64)
bool = np.dtype(np.bool_)  # noqa: A001 - torch.bool

# torch's legacy type strings, for Tensor.type()
_TYPE_NAMES = {
    float16: "HalfTensor", float32: "FloatTensor", float64: "DoubleTensor", int8: "CharTensor",
    uint8: "ByteTensor", int16: "ShortTensor", int32: "IntTensor", int64: "LongTensor", bool: "BoolTensor",
}
_FROM_TYPE_NAME = {name: dtype for dtype, name in _TYPE_NAMES.items()}


def type_name(dtype: np.dtype) -> str:
    """torch.Tensor.type()'s answer for a CPU tensor of this dtype, e.g. 'torch.FloatTensor'."""
    name = _TYPE_NAMES.get(np.dtype(dtype))
    if name is None:
        raise TypeError(f"type(): dtype {dtype} has no torch type name")
    return "torch." + name


def from_type_name(name: str):
    """The dtype of a torch type string ('torch.DoubleTensor' or 'torch.cuda.DoubleTensor'), else None."""
    short = name.rsplit(".", 1)[-1]
    return _FROM_TYPE_NAME.get(short) if name.startswith("torch.") else None


NAMES = ("float16", "half", "float32", "float", "float64", "double", "int8", "uint8", "int16", "short",
         "int32", "int", "int64", "long", "bool")
