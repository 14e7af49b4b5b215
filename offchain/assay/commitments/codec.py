"""Canonical tensor encoding and the binary container jobs carry as inline input / output bytes.

One tensor is ``header || data``: the header is dtype (u8, ONNX ``TensorProto.DataType`` number),
rank (u8) and each dimension (u64 big-endian); the data is the elements in row-major (C) order,
each little-endian, with no padding (ONNX raw data is little-endian too). A *container* is
``"ASYT" || version u8 (=1) || count u32 BE`` followed by, per tensor, ``name_len u16 BE || name
(UTF-8) || header || data``. Byte layouts are in docs/commitments.md. Decoding is strict: exactly one
byte string decodes to a given list of tensors (no trailing bytes, no duplicate or empty names,
booleans only 0 or 1), and sizes are checked against the buffer before anything is allocated.

This module is pure: no hashing, no I/O. It must never accept a buffer it cannot re-encode to the
same bytes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import ml_dtypes
import numpy as np

from ..errors import AssayError

MAGIC = b"ASYT"
VERSION = 1
MAX_RANK = 255
MAX_NAME_BYTES = 0xFFFF


class CodecError(AssayError, ValueError):
    """Bytes that are not a canonical tensor / tensor container, or a tensor that cannot be encoded."""


class UnsupportedDtype(CodecError):
    """A dtype with no canonical byte encoding here (strings, sub-byte types)."""

    hint = (
        "supported: float32/64/16, bfloat16, float8 (e4m3fn, e4m3fnuz, e5m2, e5m2fnuz, e8m0fnu), "
        "int8/16/32/64, uint8/16/32/64, bool, complex64/128; cast the tensor to one of them"
    )


@dataclass(frozen=True)
class DType:
    code: int  # ONNX TensorProto.DataType
    name: str  # ONNX name
    np: np.dtype  # little-endian numpy dtype

    @property
    def itemsize(self) -> int:
        return self.np.itemsize


def _dt(code: int, name: str, t) -> DType:
    return DType(code, name, np.dtype(t).newbyteorder("<"))


_ALL = [
    _dt(1, "FLOAT", np.float32),
    _dt(2, "UINT8", np.uint8),
    _dt(3, "INT8", np.int8),
    _dt(4, "UINT16", np.uint16),
    _dt(5, "INT16", np.int16),
    _dt(6, "INT32", np.int32),
    _dt(7, "INT64", np.int64),
    _dt(9, "BOOL", np.bool_),
    _dt(10, "FLOAT16", np.float16),
    _dt(11, "DOUBLE", np.float64),
    _dt(12, "UINT32", np.uint32),
    _dt(13, "UINT64", np.uint64),
    _dt(14, "COMPLEX64", np.complex64),
    _dt(15, "COMPLEX128", np.complex128),
    _dt(16, "BFLOAT16", ml_dtypes.bfloat16),
    _dt(17, "FLOAT8E4M3FN", ml_dtypes.float8_e4m3fn),
    _dt(18, "FLOAT8E4M3FNUZ", ml_dtypes.float8_e4m3fnuz),
    _dt(19, "FLOAT8E5M2", ml_dtypes.float8_e5m2),
    _dt(20, "FLOAT8E5M2FNUZ", ml_dtypes.float8_e5m2fnuz),
    _dt(24, "FLOAT8E8M0", ml_dtypes.float8_e8m0fnu),
]
DTYPES: dict[int, DType] = {d.code: d for d in _ALL}
"""Supported dtypes by ONNX code. Element size in bytes is ``DTYPES[code].itemsize``."""

_BY_NP: dict[np.dtype, DType] = {d.np.newbyteorder("="): d for d in _ALL}


def dtype_of(code: int) -> DType:
    """The :class:`DType` of an ONNX dtype code."""
    try:
        return DTYPES[code]
    except KeyError:
        raise UnsupportedDtype(f"dtype code {code} has no canonical encoding") from None


def dtype_code(dtype) -> int:
    """ONNX dtype code of a numpy dtype (any byte order)."""
    dt = np.dtype(dtype)
    d = _BY_NP.get(dt.newbyteorder("="))
    if d is None:
        raise UnsupportedDtype(f"numpy dtype {dt} has no canonical encoding")
    return d.code


def canonical_array(arr) -> np.ndarray:
    """``arr`` as a C-contiguous little-endian array of a supported dtype (no copy when it already is)."""
    a = np.asarray(arr)
    code = dtype_code(a.dtype)
    return np.asarray(a, dtype=DTYPES[code].np, order="C")  # (np.ascontiguousarray would make 0-d 1-d)


def encode_header(code: int, shape: Sequence[int]) -> bytes:
    """dtype u8 || rank u8 || dims u64 BE: the header shared by encodings and tensor roots."""
    dtype_of(code)
    if len(shape) > MAX_RANK:
        raise CodecError(f"rank {len(shape)} > {MAX_RANK}", "reshape the tensor to fewer dimensions")
    for d in shape:
        if not 0 <= int(d) < 2**64:
            raise CodecError(f"dimension {d} outside [0, 2**64)", "dimensions are non-negative integers")
    return struct.pack(f">BB{len(shape)}Q", code, len(shape), *(int(d) for d in shape))


def tensor_data(arr) -> bytes:
    """The canonical data bytes of a tensor: elements row-major, each little-endian."""
    return canonical_array(arr).tobytes()


def encode_tensor(arr) -> bytes:
    """Canonical encoding of one tensor: header || data."""
    a = canonical_array(arr)
    return encode_header(dtype_code(a.dtype), a.shape) + a.tobytes()


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


class _Reader:
    def __init__(self, buf: bytes | bytearray | memoryview):
        self.mv = memoryview(buf).cast("B")
        self.pos = 0

    def take(self, n: int, what: str) -> memoryview:
        if n > len(self.mv) - self.pos:
            raise CodecError(
                f"truncated: {what} needs {n} bytes at offset {self.pos}, only {len(self.mv) - self.pos} left",
                "the bytes were cut or are not an Assay tensor encoding; re-encode them with assay.commitments.codec",
            )
        out = self.mv[self.pos : self.pos + n]
        self.pos += n
        return out

    def header(self) -> tuple[DType, tuple[int, ...]]:
        code, rank = self.take(2, "tensor header")
        dt = dtype_of(code)
        dims = struct.unpack(f">{rank}Q", self.take(8 * rank, "dimensions"))
        return dt, dims

    def tensor(self) -> np.ndarray:
        dt, dims = self.header()
        n = _numel(dims)
        left = len(self.mv) - self.pos
        if n * dt.itemsize > left:  # checked before allocating anything
            raise CodecError(
                f"truncated: a {dt.name} tensor of shape {list(dims)} needs {n * dt.itemsize} data bytes, {left} left",
                "the bytes were cut or the header is corrupt; re-encode the tensor",
            )
        raw = self.take(n * dt.itemsize, "tensor data")
        a = np.frombuffer(raw, dtype=dt.np, count=n).reshape(dims)
        if dt.code == 9 and n and np.frombuffer(raw, dtype=np.uint8).max() > 1:
            raise CodecError("a BOOL tensor holds a byte other than 0 or 1", "encode booleans as 0x00 / 0x01")
        return a.astype(dt.np.newbyteorder("="), copy=True)

    def end(self) -> None:
        if self.pos != len(self.mv):
            raise CodecError(
                f"{len(self.mv) - self.pos} trailing bytes after offset {self.pos}",
                "the bytes are not one canonical encoding; re-encode them",
            )


def decode_tensor(buf: bytes | bytearray | memoryview) -> np.ndarray:
    """Inverse of :func:`encode_tensor` (strict: the whole buffer must be one tensor)."""
    r = _Reader(buf)
    a = r.tensor()
    r.end()
    return a


def _items(tensors: Mapping[str, object] | Iterable[tuple[str, object]]) -> list[tuple[str, object]]:
    return list(tensors.items()) if isinstance(tensors, Mapping) else list(tensors)


def _check_name(name: str, seen: set[str]) -> bytes:
    if not isinstance(name, str) or not name:
        raise CodecError(f"tensor name {name!r} must be a non-empty string", "name each tensor after the graph value")
    b = name.encode("utf-8")
    if len(b) > MAX_NAME_BYTES:
        raise CodecError(f"tensor name of {len(b)} bytes > {MAX_NAME_BYTES}", "use a shorter name")
    if name in seen:
        raise CodecError(f"duplicate tensor name {name!r}", "give every tensor a distinct name")
    seen.add(name)
    return b


def encode_tensors(tensors: Mapping[str, object] | Iterable[tuple[str, object]]) -> bytes:
    """Container of named tensors, in the given order (the graph's input / output order)."""
    items = _items(tensors)
    if len(items) >= 2**32:
        raise CodecError("too many tensors", "split them")
    out = [MAGIC, struct.pack(">BI", VERSION, len(items))]
    seen: set[str] = set()
    for name, arr in items:
        nb = _check_name(name, seen)
        out.append(struct.pack(">H", len(nb)) + nb)
        out.append(encode_tensor(arr))
    return b"".join(out)


def decode_tensors(buf: bytes | bytearray | memoryview) -> list[tuple[str, np.ndarray]]:
    """Inverse of :func:`encode_tensors`: the (name, array) list in container order."""
    r = _Reader(buf)
    magic = bytes(r.take(4, "magic"))
    if magic != MAGIC:
        raise CodecError(
            f"not an Assay tensor container (magic {magic!r}, expected {MAGIC!r})",
            "encode inputs with assay.commitments.codec.encode_tensors",
        )
    (version,) = r.take(1, "version")
    if version != VERSION:
        raise CodecError(f"container version {version} is not supported (expected {VERSION})", "upgrade assay")
    (count,) = struct.unpack(">I", r.take(4, "count"))
    out: list[tuple[str, np.ndarray]] = []
    seen: set[str] = set()
    for _ in range(count):
        (ln,) = struct.unpack(">H", r.take(2, "name length"))
        try:
            name = bytes(r.take(ln, "name")).decode("utf-8")
        except UnicodeDecodeError as e:
            raise CodecError(f"tensor name is not UTF-8: {e}", "names are UTF-8 strings") from e
        _check_name(name, seen)
        out.append((name, r.tensor()))
    r.end()
    return out
