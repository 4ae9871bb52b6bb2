"""Hostile and broken files: every reader, fed mutated copies of a valid file, either reads it or raises its
one clear error (DataError / CheckpointError). Nothing else: no other exception, no crash, no unpickling.

The default run tries FUZZ_EXAMPLES inputs per reader (env AAE_FUZZ_EXAMPLES, default 150); the `slow`
run tries 3000 per reader.
"""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from aae_cli.checkpoint import load_checkpoint
from aae_cli.data.idx import read_idx
from aae_cli.data.svhn import read_svhn_mat
from aae_cli.data.user import load_user_data
from aae_cli.errors import CheckpointError, DataError

FUZZ_EXAMPLES = int(os.environ.get("AAE_FUZZ_EXAMPLES", "150"))


@st.composite
def mutations(draw: st.DrawFn, size: int) -> list[tuple[str, int, bytes]]:
    """A few edits of a file of `size` bytes: truncate, overwrite bytes, insert bytes."""
    edits = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["truncate", "flip", "insert", "zero"]))
        pos = draw(st.integers(0, max(0, size - 1)))
        blob = draw(st.binary(min_size=1, max_size=16))
        edits.append((kind, pos, blob))
    return edits


def mutate(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    b = bytearray(data)
    for kind, pos, blob in edits:
        pos = min(pos, len(b))
        if kind == "truncate":
            del b[pos:]
        elif kind == "flip":
            b[pos:pos + len(blob)] = bytes(x ^ 0xFF for x in blob)
        elif kind == "insert":
            b[pos:pos] = blob
        else:
            b[pos:pos + len(blob)] = bytes(len(blob))
    return bytes(b)


def fuzz(seed_file: Path, read: Callable[[Path], object], allowed: type[Exception], examples: int) -> None:
    data = seed_file.read_bytes()
    target = seed_file.with_name("fuzzed" + "".join(seed_file.suffixes))
    seen = {"ok": 0, "refused": 0}

    @settings(max_examples=examples, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutations(len(data)))
    def check(edits: list[tuple[str, int, bytes]]) -> None:
        target.write_bytes(mutate(data, edits))
        try:
            read(target)
            seen["ok"] += 1
        except allowed as e:
            assert "\n" not in str(e).strip(), "errors are one line"
            seen["refused"] += 1

    check()
    assert seen["refused"] > 0, "no mutation was ever refused: the fuzzer is not reaching the reader"


@pytest.fixture(scope="module")
def seeds(tmp_path_factory, ) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("seeds")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 8, 8), dtype=np.uint8)
    y = np.arange(20) % 4
    out: dict[str, Path] = {}
    # IDX (gzip and raw)
    raw = bytes([0, 0, 8, 3]) + np.array([20, 8, 8], ">u4").tobytes() + x.tobytes()
    out["idx"] = d / "images-idx3-ubyte"
    out["idx"].write_bytes(raw)
    out["idx.gz"] = d / "images-idx3-ubyte.gz"
    out["idx.gz"].write_bytes(gzip.compress(raw, mtime=0))
    # SVHN .mat
    out["mat"] = d / "svhn.mat"
    scipy.io.savemat(out["mat"], {"X": rng.integers(0, 256, (32, 32, 3, 12), dtype=np.uint8),
                                  "y": (np.arange(12) % 10 + 1).reshape(-1, 1)})
    # user arrays
    out["npy"] = d / "data.npy"
    np.save(out["npy"], x)
    out["npz"] = d / "data.npz"
    np.savez(out["npz"], x=x, y=y)
    out["h5"] = d / "data.h5"
    with h5py.File(out["h5"], "w") as f:
        f["x"] = x
        f["y"] = y
    out["png"] = d / "img.png"
    buf = io.BytesIO()
    Image.fromarray(x[0]).save(buf, format="PNG")
    out["png"].write_bytes(buf.getvalue())
    return out


def image_folder_reader(png: Path) -> Callable[[Path], object]:
    """A folder of 12 good images plus the fuzzed one."""
    folder = png.parent / "folder"
    folder.mkdir(exist_ok=True)
    for i in range(12):
        (folder / f"ok{i}.png").write_bytes(png.read_bytes())

    def read(fuzzed: Path) -> object:
        (folder / "fuzzed.png").write_bytes(fuzzed.read_bytes())
        return load_user_data(folder)

    return read


READERS = ["idx", "idx.gz", "mat", "npy", "npz", "h5", "png"]


def run_reader(name: str, seeds: dict[str, Path], examples: int) -> None:
    if name.startswith("idx"):
        fuzz(seeds[name], read_idx, DataError, examples)
    elif name == "mat":
        fuzz(seeds[name], read_svhn_mat, DataError, examples)
    elif name == "png":
        fuzz(seeds[name], image_folder_reader(seeds[name]), DataError, examples)
    else:
        fuzz(seeds[name], load_user_data, DataError, examples)


@pytest.mark.parametrize("name", READERS)
def test_fuzz_data_readers(name: str, seeds: dict[str, Path]) -> None:
    run_reader(name, seeds, FUZZ_EXAMPLES)


def test_fuzz_checkpoint_reader(tiny_run: Path) -> None:
    fuzz(tiny_run, load_checkpoint, CheckpointError, FUZZ_EXAMPLES)


@pytest.mark.slow
@pytest.mark.parametrize("name", READERS)
def test_fuzz_data_readers_thousands(name: str, seeds: dict[str, Path]) -> None:
    run_reader(name, seeds, 3000)


@pytest.mark.slow
def test_fuzz_checkpoint_reader_thousands(tiny_run: Path) -> None:
    fuzz(tiny_run, load_checkpoint, CheckpointError, 3000)


def test_pickled_arrays_are_refused(tmp_path: Path) -> None:
    evil = tmp_path / "evil.npy"
    np.save(evil, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError):
        load_user_data(evil)
