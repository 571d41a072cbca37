"""Reading and writing IDX files, the format MNIST and Fashion-MNIST ship in.

An IDX file is a 4-byte magic number, one big-endian uint32 per dimension, then the
data in C order, big-endian. The magic number is two zero bytes, a type code and the
number of dimensions: MNIST image files start 0x00000803 (uint8, 3 dims: count, rows,
cols) and label files 0x00000801 (uint8, 1 dim). Files may be gzip-compressed; the
reader looks at the content, not the name, because browsers often unpack `.gz` files
without renaming them.

Every check names the file and what is wrong, because a half-downloaded MNIST file is
the most common way for this to fail.
"""
from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import REDOWNLOAD_HINT, IDXFormatError

# type code -> big-endian NumPy dtype (the IDX spec's six types)
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODE_OF_KIND = {(dt.kind, dt.itemsize): code for code, dt in IDX_DTYPES.items()}

IMAGES_MAGIC = 0x00000803  # 2051: uint8, 3 dimensions
LABELS_MAGIC = 0x00000801  # 2049: uint8, 1 dimension
GZIP_SIGNATURE = b"\x1f\x8b"


def _fail(name: str, problem: str) -> IDXFormatError:
    return IDXFormatError(f"IDX file {name}: {problem}; {REDOWNLOAD_HINT}")


def decompress_if_gzip(raw: bytes, name: str) -> bytes:
    """Gunzip `raw` if it starts with the gzip signature; a broken stream is an IDXFormatError."""
    if not raw.startswith(GZIP_SIGNATURE):
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as err:  # the stream stops before its end marker: a cut-off download
        raise _fail(name, f"the gzip data is truncated ({len(raw)} bytes on disk): {err}") from err
    except (gzip.BadGzipFile, zlib.error) as err:
        raise _fail(name, f"corrupt gzip data: {err}") from err


def parse_idx(payload: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse uncompressed IDX bytes into a native-endian NumPy array, validating every field."""
    if len(payload) < 4:
        raise _fail(name, f"only {len(payload)} bytes, too short to hold the 4-byte IDX magic number")
    zero, code, ndim = struct.unpack(">HBB", payload[:4])
    magic = struct.unpack(">I", payload[:4])[0]
    if zero != 0:
        raise _fail(
            name,
            f"wrong magic number 0x{magic:08x}: an IDX file starts with two zero bytes "
            "(MNIST images start 0x00000803, labels 0x00000801); this is not an (uncompressed or gzip) IDX file",
        )
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02x}" for c in IDX_DTYPES)
        raise _fail(name, f"unknown data type code 0x{code:02x} in magic number 0x{magic:08x} (valid codes: {known})")
    if ndim == 0:
        raise _fail(name, f"magic number 0x{magic:08x} declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(payload) < header:
        raise _fail(
            name, f"truncated header: {ndim} dimensions need {header} header bytes, the file has {len(payload)}"
        )
    dims = struct.unpack(f">{ndim}I", payload[4:header])
    dtype = IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize  # Python ints: a damaged header cannot overflow
    found = len(payload) - header
    if found < expected:
        raise _fail(
            name,
            f"truncated: dimensions {dims} of {dtype.name} need {expected} data bytes but only {found} are present",
        )
    if found > expected:
        raise _fail(name, f"{found - expected} unexpected bytes after the {expected} data bytes of dimensions {dims}")
    data = np.frombuffer(payload, dtype=dtype, offset=header).reshape(dims)
    return data.astype(dtype.newbyteorder("="))  # a writable, native-endian copy


def read_idx(
    path: str | os.PathLike,
    expect_magic: int | None = None,
    expect_shape: tuple[int | None, ...] | None = None,
) -> np.ndarray:
    """Read an IDX file (raw or gzip) and check it is the kind of file the caller wants.

    `expect_magic` (e.g. IMAGES_MAGIC) pins the type code and number of dimensions;
    `expect_shape` pins dimensions, None meaning any size (e.g. (None, 28, 28)).
    Errors are IDXFormatError naming the file; a missing file is FileNotFoundError.
    """
    path = Path(path)
    name = str(path)
    raw = path.read_bytes()
    if not raw:
        raise _fail(name, "the file is empty")
    payload = decompress_if_gzip(raw, name)
    array = parse_idx(payload, name)
    if expect_magic is not None:
        magic = struct.unpack(">I", payload[:4])[0]
        if magic != expect_magic:
            what = {IMAGES_MAGIC: "an image file", LABELS_MAGIC: "a label file"}.get(expect_magic, "this file")
            raise _fail(name, f"wrong magic number 0x{magic:08x}, expected 0x{expect_magic:08x} for {what}")
    if expect_shape is not None:
        fits = len(expect_shape) == array.ndim and all(e is None or e == d for e, d in zip(expect_shape, array.shape))
        if not fits:
            want = tuple("N" if e is None else e for e in expect_shape)
            raise _fail(name, f"dimensions {array.shape} do not match the expected {want}")
    return array


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write `array` as an IDX file; gzip-compressed when the name ends in `.gz`."""
    array = np.asarray(array)
    code = _CODE_OF_KIND.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise TypeError(
            f"write_idx: IDX cannot store dtype {array.dtype}; use uint8, int8, int16, int32, float32 or float64"
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"write_idx: IDX needs 1 to 255 dimensions, got an array of shape {array.shape}")
    header = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(payload) if path.name.endswith(".gz") else payload)
