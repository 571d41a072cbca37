"""Run kernels/gpu.py without a GPU: a stand-in for the few CuPy pieces it uses.

kernels/gpu.py is loaded as a private copy whose `cp` is a NumPy-backed stand-in. Its
ElementwiseKernel, ReductionKernel and RawKernel objects keep their CUDA C source and, when
called, compile that same source as C++ with g++ (-ffp-contract=off, the host twin of
--fmad=false) and run it on NumPy arrays, following CuPy's calling rules:

- ElementwiseKernel: the type placeholder T comes from the array arguments and must match
  exactly (CuPy raises "Type is mismatched"); scalars are cast to their parameter's type;
  all arguments broadcast together; outputs passed in must have the broadcast shape; `i` is
  the C-order flat index over that shape (CuPy merges contiguous axes but never reorders them).
- ReductionKernel: a full reduction (axis=None) to a 0-d array, in one thread.
- RawKernel: every argument's type must be the parameter's C type (CuPy passes a NumPy scalar
  by its own size, so a mismatch would be read as garbage on the GPU); the grid runs block by
  block, each thread a host thread, and __shfl_xor_sync exchanges values inside a warp of 32.

What it cannot check: CUDA's own exp/log (host libm differs by ulps), fused multiply-add
(both sides avoid it), flush-to-zero of float32 subnormals (CuPy compiles with -ftz=true),
and everything about memory and speed. `cuda_sources()` returns every kernel built so far as
one CUDA file in plain pointer form, for a syntax check with nvcc where it is installed.
"""
from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np

CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double", np.dtype(np.int32): "int",
          np.dtype(np.int64): "long long", np.dtype(np.uint64): "unsigned long long", np.dtype(np.bool_): "bool"}
FROM_CTYPE = {v: k for k, v in CTYPES.items()}
CTYPES_PY = {"float": ctypes.c_float, "double": ctypes.c_double, "int": ctypes.c_int, "long long": ctypes.c_longlong,
             "unsigned long long": ctypes.c_ulonglong, "bool": ctypes.c_bool}
HOST_PRELUDE = """#include <cmath>
#include <cstddef>
#include <cstring>
using std::sqrt; using std::exp; using std::log; using std::fabs;
#define __device__
"""
WARP_PRELUDE = r"""
#include <barrier>
#include <thread>
#include <vector>
#define __global__
struct tg_dim3 { unsigned x, y, z; };
thread_local tg_dim3 threadIdx, blockIdx;
tg_dim3 blockDim, gridDim;
static std::barrier<>* tg_warp_barrier[32];
static unsigned char tg_warp_slot[32][32][8];
template <class V> V __shfl_xor_sync(unsigned, V v, int lane_mask) {
    unsigned lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    std::memcpy(tg_warp_slot[warp][lane], &v, sizeof(V));
    tg_warp_barrier[warp]->arrive_and_wait();  // every lane has written
    V other;
    std::memcpy(&other, tg_warp_slot[warp][lane ^ lane_mask], sizeof(V));
    tg_warp_barrier[warp]->arrive_and_wait();  // every lane has read
    return other;
}
static double __longlong_as_double(long long v) { double d; std::memcpy(&d, &v, 8); return d; }
"""


class Emulator:
    """Compiles kernel sources with g++ into `build_dir` (once per distinct source) and keeps their CUDA forms."""

    def __init__(self, build_dir: str | Path):
        self.build_dir = Path(build_dir)
        self.build_dir.mkdir(parents=True, exist_ok=True)
        self._cuda: dict[str, str] = {}  # kernel name -> CUDA source in pointer form

    def compile(self, source: str, tag: str) -> ctypes.CDLL:
        digest = hashlib.sha1(source.encode()).hexdigest()[:16]
        lib = self.build_dir / f"{tag}_{digest}.so"
        if not lib.exists():
            cpp = lib.with_suffix(".cpp")
            cpp.write_text(source)
            done = subprocess.run(["g++", "-std=c++20", "-O0", "-ffp-contract=off", "-shared", "-fPIC", "-pthread",
                                   str(cpp), "-o", str(lib)], capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"kernel {tag} does not compile as C++:\n{done.stderr}\n{source}")
        return ctypes.CDLL(str(lib))

    def add_cuda(self, name: str, source: str) -> None:
        self._cuda.setdefault(name, source)

    def cuda_sources(self) -> str:
        parts = [f"namespace tg_kernel_{k} {{\n{src}\n}}\n" for k, src in enumerate(self._cuda.values())]
        return "#include <cstddef>\n" + "".join(parts)

    def module(self):
        """A stand-in for the cupy module as far as kernels/gpu.py uses it."""
        emulator = self
        m = types.ModuleType("cupy_stand_in")
        for name in ("ascontiguousarray", "asarray", "empty", "empty_like", "zeros", "stack", "sqrt", "maximum",
                     "int64", "float32", "float64"):
            setattr(m, name, getattr(np, name))
        m.ndarray = np.ndarray

        class ElementwiseKernel(_Elementwise):
            _emulator = emulator

        class ReductionKernel(_Reduction):
            _emulator = emulator

        class RawKernel(_Raw):
            _emulator = emulator

        m.ElementwiseKernel, m.ReductionKernel, m.RawKernel = ElementwiseKernel, ReductionKernel, RawKernel
        return m

    def load_gpu_module(self, filename: str = "gpu.py"):
        """A private copy of tinygrad_opt.kernels.gpu (or another CuPy file of kernels/) bound to the stand-in
        (the real package is untouched)."""
        from tinygrad_opt import kernels

        path = Path(kernels.__file__).with_name(filename)
        spec = importlib.util.spec_from_file_location(f"{kernels.__name__}._{path.stem}_emulated", path)
        module = importlib.util.module_from_spec(spec)
        saved = sys.modules.get("cupy")
        sys.modules["cupy"] = self.module()  # only while gpu.py runs `import cupy as cp`
        try:
            spec.loader.exec_module(module)
        finally:
            if saved is None:
                del sys.modules["cupy"]
            else:
                sys.modules["cupy"] = saved
        return module


def _params(spec: str) -> list[tuple[str, str]]:
    """[(type, name)] of a CuPy parameter list such as "T x, uint64 seed"."""
    out = []
    for part in filter(str.strip, spec.split(",")):
        words = part.split()
        if len(words) != 2:
            raise ValueError(f"unsupported parameter {part!r} (raw and other keywords are not emulated)")
        out.append((words[0], words[1]))
    return out


def _dtype_of(typ: str, placeholders: dict) -> np.dtype:
    return placeholders[typ] if len(typ) == 1 else np.dtype(typ)


class _Elementwise:
    _emulator: Emulator

    def __init__(self, in_params, out_params, operation, name="kernel", reduce_dims=True, preamble="", **kwargs):
        self.ins, self.outs = _params(in_params), _params(out_params)
        if "i" in [n for _, n in self.ins + self.outs]:
            raise ValueError("Can not use 'i' as a parameter name")
        unknown = set(kwargs) - {"options", "loop_prep", "after_loop"}
        if unknown:
            raise TypeError(f"ElementwiseKernel: unexpected arguments {sorted(unknown)}")
        self.operation, self.name, self.preamble = operation, name, preamble

    def __call__(self, *args):
        nin, nout = len(self.ins), len(self.outs)
        if len(args) not in (nin, nin + nout):
            raise TypeError(f"Wrong number of arguments for {self.name!r}: {len(args)}, not {nin} or {nin + nout}")
        ins, outs = list(args[:nin]), list(args[nin:])
        placeholders: dict[str, np.dtype] = {}
        for (typ, name), a in list(zip(self.outs, outs)) + list(zip(self.ins, ins)):
            if isinstance(a, np.ndarray):
                want = placeholders.setdefault(typ, a.dtype) if len(typ) == 1 else np.dtype(typ)
                if a.dtype != want:
                    raise TypeError(f"{self.name}: Type is mismatched. {name} {a.dtype} {want} {typ}")
            elif outs and (typ, name) in self.outs:
                raise TypeError("Output arguments must be cupy.ndarray")
        arrays = [a for a in ins + outs if isinstance(a, np.ndarray)]
        if not arrays:
            raise ValueError("Loop size is undecided.")
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
        if any(o.shape != shape for o in outs):
            raise ValueError("Out shape is mismatched")
        if not outs:
            outs = [np.empty(shape, _dtype_of(t, placeholders)) for t, _ in self.outs]
        if 0 not in shape:
            self._run(ins, outs, shape, placeholders)
        return outs[0] if nout == 1 else tuple(outs)

    def _run(self, ins, outs, shape, placeholders):
        typedefs = "".join(f"typedef {CTYPES[d]} {t};\n" for t, d in sorted(placeholders.items()))
        params, refs, call, write_back = [], [], [], []
        for is_out, (typ, name), a in [(False, p, a) for p, a in zip(self.ins, ins)] + \
                                      [(True, p, a) for p, a in zip(self.outs, outs)]:
            ctype = CTYPES[_dtype_of(typ, placeholders)]
            const = "" if is_out else "const "
            if isinstance(a, np.ndarray):
                buf = np.ascontiguousarray(np.broadcast_to(a, shape)) if not is_out else (
                    a if a.flags.c_contiguous else np.ascontiguousarray(a))
                if is_out and buf is not a:
                    write_back.append((a, buf))
                params.append(f"{const}{ctype}* _raw_{name}")
                refs.append(f"{const}{typ if len(typ) == 1 else ctype} &{name} = _raw_{name}[i];")
                call.append(ctypes.c_void_p(buf.ctypes.data))
                call.append(buf)  # keep alive until the call; dropped below
            else:
                params.append(f"const {ctype} {name}")
                call.append(CTYPES_PY[ctype](np.asarray(a).astype(FROM_CTYPE[ctype]).item()))
        body = "\n    ".join(refs) + "\n" + self.operation
        kernel_name = f"{self.name}_{'_'.join(CTYPES[d].replace(' ', '') for _, d in sorted(placeholders.items()))}"
        self._emulator.add_cuda(kernel_name, (
            f"{typedefs}{self.preamble}\n"
            f"extern \"C\" __global__ void {kernel_name}({', '.join(params)}, ptrdiff_t _n) {{\n"
            "  for (ptrdiff_t i = (ptrdiff_t)blockIdx.x * blockDim.x + threadIdx.x; i < _n;"
            " i += (ptrdiff_t)blockDim.x * gridDim.x) {\n    " + body + ";\n  }\n}\n"))
        source = (f"{HOST_PRELUDE}{typedefs}{self.preamble}\n"
                  f"extern \"C\" void run({', '.join(params)}, ptrdiff_t _n) {{\n"
                  "  for (ptrdiff_t i = 0; i < _n; ++i) {\n    " + body + ";\n  }\n}\n")
        lib = self._emulator.compile(source, self.name)
        lib.run(*[c for c in call if not isinstance(c, np.ndarray)], ctypes.c_ssize_t(int(np.prod(shape))))
        for a, buf in write_back:
            a[...] = buf


class _Reduction:
    _emulator: Emulator

    def __init__(self, in_params, out_params, map_expr, reduce_expr, post_map_expr, identity, name="reduce_kernel",
                 reduce_type=None, reduce_dims=True, preamble="", options=()):
        self.ins, self.outs = _params(in_params), _params(out_params)
        if len(self.ins) != 1 or len(self.outs) != 1:
            raise NotImplementedError("the emulator reduces one input to one output")
        self.map_expr, self.reduce_expr, self.post_map_expr = map_expr, reduce_expr, post_map_expr
        self.identity, self.name, self.preamble = identity, name, preamble
        self.reduce_type = reduce_type or self.ins[0][0]

    def __call__(self, x, axis=None):
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self.name}: a reduction needs an array, got {type(x).__name__}")
        if axis is not None:
            raise NotImplementedError("the emulator does full reductions only")
        (typ, xname), (otyp, yname) = self.ins[0], self.outs[0]
        placeholders = {typ: x.dtype} if len(typ) == 1 else {}
        if len(typ) != 1 and x.dtype != np.dtype(typ):
            raise TypeError(f"{self.name}: Type is mismatched. {xname} {x.dtype} {typ}")
        out = np.empty((), _dtype_of(otyp, placeholders))
        ctype, otype = CTYPES[x.dtype], CTYPES[out.dtype]
        kernel_name = f"{self.name}_{ctype.replace(' ', '')}"
        typedefs = "".join(f"typedef {CTYPES[d]} {t};\n" for t, d in placeholders.items())
        code = (f"{typedefs}{self.preamble}\n#define REDUCE(a, b) ({self.reduce_expr})\n"
                f"#define POST_MAP(a) ({self.post_map_expr})\n"
                f"extern \"C\" __global__ void {kernel_name}(const {ctype}* _raw_{xname}, {otype}* _raw_{yname},"
                f" ptrdiff_t _n) {{\n"
                f"  typedef {self.reduce_type} _type_reduce;\n"
                f"  _type_reduce _s = _type_reduce({self.identity});\n"
                f"  for (ptrdiff_t _j = threadIdx.x; _j < _n; _j += blockDim.x) {{\n"
                f"    const {typ if len(typ) == 1 else ctype} {xname} = _raw_{xname}[_j];\n"
                f"    _type_reduce _a = static_cast<_type_reduce>({self.map_expr});\n"
                f"    _s = REDUCE(_s, _a);\n  }}\n"
                f"  {otype} &{yname} = _raw_{yname}[0];\n  POST_MAP(_s);\n}}\n#undef REDUCE\n#undef POST_MAP\n")
        self._emulator.add_cuda(kernel_name, code)
        host = (HOST_PRELUDE + "#define __global__\nstruct tg_dim3 { long long x; };\n"
                "static const tg_dim3 threadIdx = {0}, blockDim = {1};\n" + code)
        lib = self._emulator.compile(host, self.name)
        xc = np.ascontiguousarray(x)
        getattr(lib, kernel_name)(ctypes.c_void_p(xc.ctypes.data), ctypes.c_void_p(out.ctypes.data),
                                  ctypes.c_ssize_t(xc.size))
        return out


class _Raw:
    _emulator: Emulator

    def __init__(self, code, name, options=(), **kwargs):
        self.code, self.name = code, name
        found = re.search(r"void\s+" + re.escape(name) + r"\s*\(([^)]*)\)", code)
        if found is None:
            raise ValueError(f"RawKernel: no function {name!r} in its source")
        self.param_types = [" ".join(p.split()[:-1]).replace(" *", "*") for p in found.group(1).split(",")]

    def __call__(self, grid, block, args):
        if len(args) != len(self.param_types):
            raise TypeError(f"{self.name}: {len(args)} arguments for {len(self.param_types)} parameters")
        self._emulator.add_cuda(self.name, self.code)
        holders = []
        for typ, a in zip(self.param_types, args):
            base = typ.replace("const", "").replace("*", "").strip()
            if typ.endswith("*"):
                if not isinstance(a, np.ndarray) or CTYPES.get(a.dtype) != base or not a.flags.c_contiguous:
                    raise TypeError(f"{self.name}: parameter {typ} needs a C-contiguous {base} array, got {a!r:.60}")
                holders.append(ctypes.c_void_p(a.ctypes.data))
            else:
                if not isinstance(a, np.generic) or CTYPES.get(a.dtype) != base:
                    raise TypeError(f"{self.name}: parameter {typ} needs a NumPy scalar of C type {base}, "
                                    f"got {type(a).__name__} (CuPy would pass it with the wrong size or bits)")
                holders.append(CTYPES_PY[base](a.item()))
        forward = ", ".join(f"*({t}*)tg_args[{k}]" for k, t in enumerate(self.param_types))
        source = (HOST_PRELUDE + WARP_PRELUDE + self.code.replace('extern "C" __global__', "") + f"""
extern "C" void launch(unsigned blocks, unsigned threads, void** tg_args) {{
    blockDim = {{threads, 1, 1}};
    gridDim = {{blocks, 1, 1}};
    unsigned warps = (threads + 31) / 32;
    for (unsigned b = 0; b < blocks; ++b) {{
        for (unsigned w = 0; w < warps; ++w) tg_warp_barrier[w] = new std::barrier<>(32);
        std::vector<std::thread> pool;
        for (unsigned t = 0; t < threads; ++t)
            pool.emplace_back([=] {{ threadIdx = {{t, 0, 0}}; blockIdx = {{b, 0, 0}}; {self.name}({forward}); }});
        for (auto& th : pool) th.join();
        for (unsigned w = 0; w < warps; ++w) delete tg_warp_barrier[w];
    }}
}}
""")
        if block[0] % 32:
            raise ValueError(f"{self.name}: the emulator runs whole warps; block {block} is not a multiple of 32")
        lib = self._emulator.compile(source, self.name)
        pointers = (ctypes.c_void_p * len(holders))(*[ctypes.addressof(h) for h in holders])
        lib.launch(ctypes.c_uint(grid[0]), ctypes.c_uint(block[0]), pointers)


def nvcc_check(source: str, build_dir: str | Path, options=("-fmad=false", "-ftz=true")) -> str:
    """Compile CUDA source to PTX for sm_90 (H100); returns the compiler's messages, raises on an error."""
    cu = Path(build_dir) / "all_kernels.cu"
    cu.write_text(source)
    done = subprocess.run(["nvcc", "--ptx", "-arch=compute_90", "-std=c++17", *options, str(cu),
                           "-o", str(cu.with_suffix(".ptx"))], capture_output=True, text=True, env=dict(os.environ))
    if done.returncode:
        raise RuntimeError(f"nvcc rejects the kernels:\n{done.stderr}")
    return done.stderr
