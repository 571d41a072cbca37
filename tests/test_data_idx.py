"""IDX reader/writer: round trips on synthetic files and every way a file can be broken."""
import gzip
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_opt.data import IDXFormatError, LabelRangeError, read_idx, write_idx
from tinygrad_opt.data.idx import IMAGES_MAGIC, LABELS_MAGIC
from tinygrad_opt.data.mnist import read_split
from tinygrad_opt.data.sources import MNIST

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


@settings(max_examples=25, deadline=None)
@given(
    array=st.sampled_from(DTYPES).flatmap(
        lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
                              elements={"allow_nan": False} if np.dtype(dt).kind == "f" else None)
    ),
    compressed=st.booleans(),
)
def test_round_trip_every_dtype(tmp_path_factory, array, compressed):
    path = tmp_path_factory.mktemp("idx") / ("a.idx.gz" if compressed else "a.idx")
    write_idx(path, array)
    assert path.read_bytes().startswith(b"\x1f\x8b") == compressed
    back = read_idx(path)
    assert back.dtype == array.dtype.newbyteorder("=") and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable and back.dtype.isnative


def test_header_layout_is_the_mnist_one(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "img", images)
    raw = (tmp_path / "img").read_bytes()
    assert struct.unpack(">IIII", raw[:16]) == (IMAGES_MAGIC, 2, 3, 4)
    assert raw[16:] == images.tobytes()
    write_idx(tmp_path / "lab", np.array([7, 2], np.uint8))
    assert struct.unpack(">II", (tmp_path / "lab").read_bytes()[:8]) == (LABELS_MAGIC, 2)


def test_big_endian_values_are_decoded(tmp_path):
    values = np.array([1, -2, 300000], dtype=np.int32)
    write_idx(tmp_path / "v.gz", values)
    assert gzip.decompress((tmp_path / "v.gz").read_bytes())[8:12] == b"\x00\x00\x00\x01"
    np.testing.assert_array_equal(read_idx(tmp_path / "v.gz"), values)


def test_gzip_detected_by_content_not_name(tmp_path):
    # browsers often unpack downloads but keep the .gz name, and the reverse happens too
    data = np.arange(10, dtype=np.uint8)
    write_idx(tmp_path / "raw", data)
    (tmp_path / "raw_named.gz").write_bytes((tmp_path / "raw").read_bytes())
    write_idx(tmp_path / "packed.gz", data)
    (tmp_path / "packed_named_raw").write_bytes((tmp_path / "packed.gz").read_bytes())
    for name in ("raw_named.gz", "packed_named_raw"):
        np.testing.assert_array_equal(read_idx(tmp_path / name), data)


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))


# ---- corrupt files: each error names the file and what is wrong --------------------

def _good_images(tmp_path, n=3):
    path = tmp_path / "train-images-idx3-ubyte"
    write_idx(path, np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8))
    return path


def _expect(path, match, **kwargs):
    with pytest.raises(IDXFormatError, match=match) as info:
        read_idx(path, **kwargs)
    message = str(info.value)
    assert str(path) in message, message
    assert "download it again" in message, message
    return message


def test_truncated_data(tmp_path):
    path = _good_images(tmp_path)
    path.write_bytes(path.read_bytes()[:-100])
    message = _expect(path, "truncated")
    assert str(3 * 28 * 28) in message and str(3 * 28 * 28 - 100) in message


def test_truncated_gzip(tmp_path):
    path = _good_images(tmp_path)
    gz = tmp_path / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(path.read_bytes())[:200])
    _expect(gz, "gzip data is truncated")


def test_corrupt_gzip_stream(tmp_path):
    gz = tmp_path / "bad.gz"
    packed = bytearray(gzip.compress(_good_images(tmp_path).read_bytes()))
    packed[30:60] = b"\xff" * 30  # scramble the deflate stream
    gz.write_bytes(bytes(packed))
    _expect(gz, "gzip")


def test_gzip_crc_mismatch(tmp_path):
    gz = tmp_path / "crc.gz"
    packed = bytearray(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x02ab"))
    packed[-8] ^= 0xFF  # the CRC32 trailer
    gz.write_bytes(bytes(packed))
    _expect(gz, "corrupt gzip")


def test_wrong_magic(tmp_path):
    path = tmp_path / "notidx"
    path.write_bytes(b"<html>404 Not Found</html>")  # what a broken mirror often serves
    _expect(path, "wrong magic number 0x3c68746d")


def test_unknown_type_code(tmp_path):
    path = tmp_path / "code"
    path.write_bytes(struct.pack(">HBBI", 0, 0x07, 1, 1) + b"\x00")
    _expect(path, "unknown data type code 0x07")


def test_zero_dimensions(tmp_path):
    path = tmp_path / "zero"
    path.write_bytes(struct.pack(">HBB", 0, 0x08, 0))
    _expect(path, "0 dimensions")


@pytest.mark.parametrize("content", [b"", b"\x00\x00"])
def test_too_short_for_magic(tmp_path, content):
    path = tmp_path / "short"
    path.write_bytes(content)
    _expect(path, "empty|too short")


def test_truncated_header(tmp_path):
    path = tmp_path / "hdr"
    path.write_bytes(struct.pack(">HBBI", 0, 0x08, 3, 60000))  # 3 dims declared, 1 given
    _expect(path, "truncated header")


def test_trailing_bytes(tmp_path):
    path = _good_images(tmp_path)
    path.write_bytes(path.read_bytes() + b"junk")
    _expect(path, "4 unexpected bytes")


def test_labels_file_given_as_images(tmp_path):
    path = tmp_path / "labels"
    write_idx(path, np.zeros(5, np.uint8))
    _expect(path, "wrong magic number 0x00000801, expected 0x00000803 for an image file", expect_magic=IMAGES_MAGIC)


def test_wrong_image_dimensions(tmp_path):
    path = tmp_path / "small"
    write_idx(path, np.zeros((4, 8, 8), np.uint8))
    _expect(path, r"dimensions \(4, 8, 8\) do not match the expected \('N', 28, 28\)",
            expect_magic=IMAGES_MAGIC, expect_shape=(None, 28, 28))


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "absent")


# ---- a split's two files must fit together and hold valid labels ---------------------

def test_read_split_checks_counts_and_label_range(tmp_path):
    images = _good_images(tmp_path, n=3)
    labels = tmp_path / "train-labels-idx1-ubyte"
    write_idx(labels, np.array([1, 2, 3, 4], np.uint8))
    with pytest.raises(IDXFormatError, match="3 images but .* 4 labels"):
        read_split(MNIST, images, labels)
    write_idx(labels, np.array([1, 12, 3], np.uint8))
    with pytest.raises(LabelRangeError,
                       match=r"train-labels-idx1-ubyte: label 12 at index 1 is outside \[0, 10\).*download it again"):
        read_split(MNIST, images, labels)
    write_idx(labels, np.array([1, -1, 3], np.int8))  # a signed label file
    with pytest.raises(IDXFormatError, match="expected 0x00000801"):
        read_split(MNIST, images, labels)
    write_idx(labels, np.array([9, 0, 3], np.uint8))
    x, y = read_split(MNIST, images, labels)
    assert x.shape == (3, 28, 28) and y.dtype == np.int64 and y.tolist() == [9, 0, 3]
