"""A strict reader of MATLAB v5 .mat files (the SVHN format), numeric arrays only.

Why not scipy.io.loadmat: fed damaged files it can crash the interpreter (a segmentation fault, found by
fuzzing) instead of raising. Here every size is checked against the bytes present before it is used, so a
damaged or hostile file can only end in one DataError.

Format (MathWorks, "MAT-File Format", Level 5): a 128-byte header, then data elements, each an 8-byte tag
(type, byte count) or a 4-byte "small element" tag, padded to 8 bytes. miCOMPRESSED elements hold one
zlib-compressed element; miMATRIX elements hold array flags, dimensions, a name and the real part.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from aae_cli.errors import DataError

MI_MATRIX, MI_COMPRESSED = 14, 15
# data element type -> numpy dtype (little-endian; byte-swapped for big-endian files)
MI_TYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 9: "f8", 12: "i8", 13: "u8"}
MAX_DECOMPRESSED = 8 << 30  # larger than SVHN's extra_32x32 X (1.6 GB); a bound against zip bombs


class _Bad(Exception):
    """Internal: what is wrong with the file, turned into a DataError with the path."""


class _Reader:
    def __init__(self, buf: bytes | memoryview, endian: str) -> None:
        self.buf, self.pos, self.endian = memoryview(buf), 0, endian

    def left(self) -> int:
        return len(self.buf) - self.pos

    def u32(self, at: int) -> int:
        return int(np.frombuffer(self.buf, self.endian + "u4", count=1, offset=at)[0])

    def element(self) -> tuple[int, memoryview]:
        """Next data element: (type, payload), moving past its padding."""
        if self.left() < 8:
            raise _Bad("truncated element tag")
        first = self.u32(self.pos)
        if first >> 16:  # small data element: 2-byte size, 2-byte type, 4 bytes of data
            typ, size = first & 0xFFFF, first >> 16
            if size > 4:
                raise _Bad("bad small element size")
            data = self.buf[self.pos + 4:self.pos + 4 + size]
            self.pos += 8
            return typ, data
        typ, size = first, self.u32(self.pos + 4)
        if size > self.left() - 8:
            raise _Bad(f"element of {size} bytes runs past the end of the file")
        data = self.buf[self.pos + 8:self.pos + 8 + size]
        self.pos += 8 + (size if typ == MI_COMPRESSED else (size + 7) // 8 * 8)
        self.pos = min(self.pos, len(self.buf))
        return typ, data


def _numeric(typ: int, data: memoryview, endian: str) -> np.ndarray:
    if typ not in MI_TYPES:
        raise _Bad(f"unsupported data type {typ}")
    dtype = np.dtype(endian + MI_TYPES[typ])
    if len(data) % dtype.itemsize:
        raise _Bad("data length is not a whole number of elements")
    return np.frombuffer(data, dtype=dtype)


def _matrix(payload: memoryview, endian: str) -> tuple[str, np.ndarray]:
    r = _Reader(payload, endian)
    typ, flags = r.element()
    if typ != 6 or len(flags) < 8:
        raise _Bad("bad array flags")
    flag_word = int(np.frombuffer(flags, endian + "u4", count=1)[0])
    if flag_word & 0x0800:
        raise _Bad("complex arrays are not supported")
    typ, dims_raw = r.element()
    dims = _numeric(typ, dims_raw, endian).astype(np.int64)
    if typ != 5 or len(dims) < 2 or (dims < 0).any():
        raise _Bad("bad dimensions")
    typ, name_raw = r.element()
    if typ not in (1, 2):
        raise _Bad("bad array name")
    name = bytes(name_raw).decode("ascii", errors="replace")
    typ, real = r.element()
    values = _numeric(typ, real, endian)
    if values.size != int(np.prod(dims)):
        raise _Bad(f"array '{name}' announces shape {tuple(dims)} but holds {values.size} values")
    return name, values.reshape(tuple(int(d) for d in dims), order="F")


def read_mat(path: Path, names: set[str]) -> dict[str, np.ndarray]:
    """The numeric arrays called `names` in a v5 .mat file (others are skipped without being decoded)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot read it ({e.strerror or e})") from None
    try:
        if len(raw) < 128:
            raise _Bad("shorter than the 128-byte header")
        indicator = raw[126:128]
        if indicator not in (b"IM", b"MI"):
            raise _Bad("not a MATLAB v5 file (v7.3 files are HDF5: save with -v7 or earlier)")
        endian = "<" if indicator == b"IM" else ">"
        r = _Reader(raw, endian)
        r.pos = 128
        out: dict[str, np.ndarray] = {}
        while r.left() >= 8 and len(out) < len(names):
            typ, payload = r.element()
            if typ == MI_COMPRESSED:
                d = zlib.decompressobj()
                inner = d.decompress(payload, MAX_DECOMPRESSED)
                if d.unconsumed_tail:
                    raise _Bad("compressed element larger than the size limit")
                typ, payload = _Reader(inner, endian).element()
            if typ != MI_MATRIX:
                continue
            name, arr = _matrix(payload, endian)
            if name in names:
                out[name] = arr.astype(arr.dtype.newbyteorder("="), copy=False)
        return out
    except _Bad as e:
        msg = f"{path}: not a readable .mat file ({e}); replace it (or delete it and use --download)"
        raise DataError(msg) from None
    except (zlib.error, ValueError, MemoryError) as e:
        raise DataError(f"{path}: not a readable .mat file ({type(e).__name__}: {e}); replace it") from None
