"""IDX files (the MNIST container): gz or raw, checked against the md5 of the decompressed bytes."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from pathlib import Path

import numpy as np

from aae_cli.data.reason import reason
from aae_cli.errors import DataError

UBYTE = 0x08  # the only element type the MNIST-format datasets use


def read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when the name ends in .gz."""
    try:
        raw = path.read_bytes()
        return gzip.decompress(raw) if path.suffix == ".gz" else raw
    except (OSError, EOFError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
        msg = f"{path}: cannot read it ({reason(e)}); the file is damaged, replace it with a good copy"
        raise DataError(msg) from e


def parse_idx(data: bytes, where: str) -> np.ndarray:
    """Decode IDX bytes: 2 zero bytes, a type code, the number of dims, then big-endian uint32 dims."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{where}: not an IDX file (bad magic number); replace it with the original file")
    if data[2] != UBYTE:
        raise DataError(f"{where}: IDX element type 0x{data[2]:02x} is not supported (only 0x08, ubyte)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise DataError(f"{where}: truncated IDX header; replace the file with the original")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(dims, dtype=np.int64))
    if len(data) - header != expected:
        raise DataError(
            f"{where}: IDX header announces {dims} = {expected} bytes of data but the file holds "
            f"{len(data) - header}; the file is truncated or damaged, replace it with the original"
        )
    # Copy so the array owns writable memory (torch.from_numpy warns on read-only buffers).
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims).copy()


def read_idx(path: Path, md5: str | None = None) -> np.ndarray:
    """Read one IDX file; when md5 is given, the decompressed bytes must match it."""
    data = read_bytes(path)
    if md5 is not None:
        got = hashlib.md5(data).hexdigest()
        if got != md5:
            raise DataError(
                f"{path}: checksum mismatch (md5 of the decompressed data is {got}, expected {md5}); "
                "the file is damaged or a different version: re-download it or replace it with the original"
            )
    return parse_idx(data, str(path))


def find_idx(folder: Path, stem: str) -> Path | None:
    """`stem.gz` or the uncompressed `stem` inside folder, whichever exists (gz first)."""
    for name in (stem + ".gz", stem):
        p = folder / name
        if p.is_file():
            return p
    return None
