"""Data layer: packaged MNIST, Fashion-MNIST, SVHN (local + download over a local HTTP server), user data."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import shutil
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from aae_cli.data import dataset_names, load_dataset, mnist_family, resolve_data_dir, svhn
from aae_cli.data.base import DataSplits
from aae_cli.data.idx import parse_idx, read_idx
from aae_cli.errors import DataError

# ---------------------------------------------------------------- helpers


def one_line_error(excinfo: pytest.ExceptionInfo[DataError]) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and msg
    return msg


def write_idx(path: Path, arr: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def raw_md5(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.md5(gzip.decompress(data) if path.suffix == ".gz" else data).hexdigest()


def write_svhn_mat(path: Path, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A small .mat in the real SVHN layout; labels 1..10 (10 = digit 0)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    y = (np.arange(n) % 10 + 1).astype(np.uint8).reshape(n, 1)
    scipy.io.savemat(str(path), {"X": x, "y": y})
    return x, y


def svhn_rows(x: np.ndarray) -> np.ndarray:
    return x.transpose(3, 2, 0, 1).reshape(x.shape[3], -1)


def all_rows(d: DataSplits) -> np.ndarray:
    return np.concatenate([d.train.x, d.validation.x, d.test.x])


def sizes(d: DataSplits) -> tuple[int, int, int]:
    return len(d.train), len(d.validation), len(d.test)


# ---------------------------------------------------------------- registry, data dir, limit


def test_registry_names() -> None:
    assert dataset_names() == ["fashion-mnist", "mnist", "svhn", "svhn-extra"]


def test_resolve_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AAE_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir(None) == tmp_path / "env"
    monkeypatch.delenv("AAE_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_dir() == tmp_path / "xdg" / "aae"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_dir() == tmp_path / "home" / ".cache" / "aae"


def test_unknown_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as e:
        load_dataset("mnsit")
    msg = one_line_error(e)
    assert "'mnist'" in msg and "svhn-extra" in msg and ".npz" in msg and "folder" in msg


def test_limit(tmp_path: Path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((100, 4), np.float32))
    d = load_dataset(str(tmp_path / "a.npy"), limit=5)
    assert sizes(d) == (5, 10, 10) and "limit" in d.source
    with pytest.raises(DataError) as e:
        load_dataset(str(tmp_path / "a.npy"), limit=81)
    msg = one_line_error(e)
    assert "81" in msg and "80" in msg
    with pytest.raises(DataError):
        load_dataset(str(tmp_path / "a.npy"), limit=0)


# ---------------------------------------------------------------- MNIST (packaged)


@pytest.fixture(scope="module")
def mnist() -> DataSplits:
    return load_dataset("mnist")


def test_mnist_splits(mnist: DataSplits) -> None:
    assert sizes(mnist) == (50_000, 10_000, 10_000)
    for s in (mnist.train, mnist.validation, mnist.test):
        assert s.x.dtype == np.uint8 and s.x.shape[1] == 784
        assert s.y is not None and s.y.dtype == np.int64 and s.y.min() == 0 and s.y.max() == 9
    assert mnist.image_shape == (1, 28, 28) and mnist.n_classes == 10 and mnist.dim == 784
    assert int(mnist.train.y[0]) == 5  # the first MNIST training digit
    assert int(mnist.test.y[0]) == 7
    assert mnist.source["files"]["train-images-idx3-ubyte"]["md5"] == "6bbc9ace898e44ae57da46a324031adb"
    assert "last 10000" in mnist.source["split"]


def test_mnist_checksum_mismatch_via_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for stem in mnist_family.STEMS:
        if stem != mnist_family.TRAIN_LABELS:
            shutil.copy(mnist_family.PACKAGED_DIR / f"{stem}.gz", tmp_path)
    raw = bytearray(gzip.decompress((mnist_family.PACKAGED_DIR / "train-labels-idx1-ubyte.gz").read_bytes()))
    raw[100] ^= 1  # still a valid IDX file, only the checksum can tell
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(bytes(raw))
    monkeypatch.setattr(mnist_family, "PACKAGED_DIR", tmp_path)
    with pytest.raises(DataError) as e:
        load_dataset("mnist")
    msg = one_line_error(e)
    assert "train-labels-idx1-ubyte" in msg and "checksum" in msg and "re-download" in msg


def test_idx_reader_direct(tmp_path: Path) -> None:
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        write_idx(tmp_path / name, arr)
        np.testing.assert_array_equal(read_idx(tmp_path / name, raw_md5(tmp_path / name)), arr)
    with pytest.raises(DataError, match="checksum"):
        read_idx(tmp_path / "a-idx3-ubyte", "0" * 32)
    good = (tmp_path / "a-idx3-ubyte").read_bytes()
    bad = {
        "short.idx": good[:-1],  # size mismatch
        "header.idx": good[:6],  # truncated dims
        "magic.idx": b"\x01" + good[1:],
        "dtype.idx": good[:2] + b"\x0d" + good[3:],  # float IDX: unsupported
        "trunc.gz": gzip.compress(good)[:-10],
        "garbage.gz": b"not gzip at all",
    }
    for name, data in bad.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(DataError) as e:
            read_idx(tmp_path / name)
        assert name in one_line_error(e)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=40), st.sampled_from([b"", b"\x00\x00\x08", b"\x00\x00\x08\x02\x00\x00\x00\x02"]))
def test_idx_parse_never_crashes(data: bytes, prefix: bytes) -> None:
    try:
        out = parse_idx(prefix + data, "fuzz")
    except DataError:
        return
    assert out.dtype == np.uint8


# ---------------------------------------------------------------- Fashion-MNIST


@pytest.mark.skipif(not mnist_family.FASHION_SYSTEM_DIR.is_dir(), reason="no dataset-fashion-mnist package")
def test_fashion_system(tmp_path: Path) -> None:
    d = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert sizes(d) == (50_000, 10_000, 10_000) and d.image_shape == (1, 28, 28)
    assert d.train.x.dtype == np.uint8 and int(d.train.y[0]) == 9  # first item: ankle boot


def test_fashion_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist_family, "FASHION_SYSTEM_DIR", tmp_path / "nowhere")
    with pytest.raises(DataError) as e:
        load_dataset("fashion-mnist", data_dir=tmp_path)
    msg = one_line_error(e)
    for part in [*mnist_family.STEMS, str(tmp_path / "fashion-mnist"), str(tmp_path / "nowhere"), "apt-get"]:
        assert part in msg


def test_fashion_from_data_dir_uncompressed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (12, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(12) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (3, 28, 28)),
        "t10k-labels-idx1-ubyte": np.array([1, 2, 3]),
    }
    for stem, arr in files.items():
        write_idx(folder / stem, arr)
    monkeypatch.setattr(mnist_family, "FASHION_MD5", {s: raw_md5(folder / s) for s in files})
    monkeypatch.setattr(mnist_family, "N_VALIDATION", 2)
    d = load_dataset("fashion-mnist", data_dir=tmp_path)
    assert sizes(d) == (10, 2, 3)
    np.testing.assert_array_equal(d.validation.x, files["train-images-idx3-ubyte"][10:].reshape(2, -1))
    assert d.source["files"]["t10k-labels-idx1-ubyte"]["path"] == str(folder / "t10k-labels-idx1-ubyte")


# ---------------------------------------------------------------- SVHN


@pytest.fixture
def svhn_small(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(svhn, "SVHN_VALIDATION", 3)


def test_svhn_local(tmp_path: Path, svhn_small: None) -> None:
    (tmp_path / "svhn").mkdir()
    tx, _ = write_svhn_mat(tmp_path / "svhn" / svhn.TRAIN, 10, 0)
    sx, _ = write_svhn_mat(tmp_path / "svhn" / svhn.TEST, 4, 1)
    d = load_dataset("svhn", data_dir=tmp_path)
    assert sizes(d) == (7, 3, 4) and d.image_shape == (3, 32, 32) and d.n_classes == 10
    assert d.train.x.dtype == np.uint8 and d.train.y.dtype == np.int64
    np.testing.assert_array_equal(d.train.x, svhn_rows(tx)[:7])
    np.testing.assert_array_equal(d.validation.x, svhn_rows(tx)[7:])
    np.testing.assert_array_equal(d.test.x, svhn_rows(sx))
    assert d.train.y.tolist() == [1, 2, 3, 4, 5, 6, 7] and d.validation.y.tolist() == [8, 9, 0]  # 10 -> 0
    assert "last 3" in d.source["split"]


def test_svhn_extra(tmp_path: Path, svhn_small: None) -> None:
    (tmp_path / "svhn").mkdir()
    tx, _ = write_svhn_mat(tmp_path / "svhn" / svhn.TRAIN, 10, 0)
    write_svhn_mat(tmp_path / "svhn" / svhn.TEST, 4, 1)
    ex, _ = write_svhn_mat(tmp_path / "svhn" / svhn.EXTRA, 5, 2)
    d = load_dataset("svhn-extra", data_dir=tmp_path)
    assert sizes(d) == (12, 3, 4)
    np.testing.assert_array_equal(d.train.x, np.concatenate([svhn_rows(tx)[:7], svhn_rows(ex)]))
    assert svhn.EXTRA in d.source["split"]


def test_svhn_missing_offline(tmp_path: Path) -> None:
    with pytest.raises(DataError) as e:
        load_dataset("svhn", data_dir=tmp_path)
    msg = one_line_error(e)
    for part in (svhn.TRAIN, svhn.TEST, svhn.EXTRA, str(tmp_path / "svhn"), "--download"):
        assert part in msg


def test_svhn_corrupt_file(tmp_path: Path) -> None:
    (tmp_path / "svhn").mkdir()
    (tmp_path / "svhn" / svhn.TRAIN).write_bytes(b"MATLAB 5.0 MAT-file" + bytes(50))
    write_svhn_mat(tmp_path / "svhn" / svhn.TEST, 4, 1)
    with pytest.raises(DataError) as e:
        load_dataset("svhn", data_dir=tmp_path)
    assert svhn.TRAIN in one_line_error(e)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder served on 127.0.0.1; AAE_SVHN_URL points at it."""
    root = tmp_path / "served"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv("AAE_SVHN_URL", f"http://127.0.0.1:{server.server_address[1]}/svhn")
    yield root
    server.shutdown()
    server.server_close()


def test_svhn_download(
    tmp_path: Path,
    served: Path,
    svhn_small: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (served / "svhn").mkdir()
    tx, _ = write_svhn_mat(served / "svhn" / svhn.TRAIN, 10, 0)
    write_svhn_mat(served / "svhn" / svhn.TEST, 4, 1)
    md5 = {f: raw_md5(served / "svhn" / f) for f in (svhn.TRAIN, svhn.TEST)}
    monkeypatch.setattr(svhn, "SVHN_MD5", {**md5, svhn.EXTRA: "0" * 32})
    data = tmp_path / "data"
    d = load_dataset("svhn", data_dir=data, download=True)
    assert sizes(d) == (7, 3, 4)
    np.testing.assert_array_equal(d.train.x, svhn_rows(tx)[:7])
    assert sorted(p.name for p in (data / "svhn").iterdir()) == [svhn.TEST, svhn.TRAIN]  # no temp files left
    assert d.source["files"][svhn.TRAIN]["md5_verified"] is True
    assert "downloading" in capsys.readouterr().err
    # Second load: files are local, nothing is fetched.
    d2 = load_dataset("svhn", data_dir=data, download=True)
    assert d2.source["files"][svhn.TRAIN]["md5_verified"] is False


def test_svhn_download_bad_checksum(tmp_path: Path, served: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (served / "svhn").mkdir()
    write_svhn_mat(served / "svhn" / svhn.TRAIN, 10, 0)
    write_svhn_mat(served / "svhn" / svhn.TEST, 4, 1)
    monkeypatch.setattr(svhn, "SVHN_MD5", {svhn.TRAIN: "0" * 32, svhn.TEST: "0" * 32, svhn.EXTRA: "0" * 32})
    with pytest.raises(DataError) as e:
        load_dataset("svhn", data_dir=tmp_path / "data", download=True)
    msg = one_line_error(e)
    assert "md5" in msg and svhn.TRAIN in msg
    assert list((tmp_path / "data" / "svhn").iterdir()) == []


def test_svhn_download_failures(tmp_path: Path, served: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 404: the served folder is empty.
    with pytest.raises(DataError) as e:
        load_dataset("svhn", data_dir=tmp_path / "data", download=True)
    msg = one_line_error(e)
    assert "/svhn/train_32x32.mat" in msg and str(tmp_path / "data" / "svhn") in msg
    # Connection refused: a port nobody listens on.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AAE_SVHN_URL", f"http://127.0.0.1:{port}/")
    with pytest.raises(DataError) as e:
        load_dataset("svhn", data_dir=tmp_path / "data", download=True)
    assert f"http://127.0.0.1:{port}/train_32x32.mat" in one_line_error(e)
    assert list((tmp_path / "data" / "svhn").iterdir()) == []


# ---------------------------------------------------------------- user data: arrays


def test_npy_uint8_images(tmp_path: Path) -> None:
    x = np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    np.save(tmp_path / "imgs.npy", x)
    d = load_dataset(str(tmp_path / "imgs.npy"))
    assert sizes(d) == (40, 5, 5) and d.image_shape == (1, 28, 28) and d.n_classes is None
    assert d.train.x.dtype == np.uint8 and d.train.y is None
    assert d.source["unit_range"] is True and "default_rng(0)" in d.source["split"]
    perm = np.random.default_rng(0).permutation(50)
    np.testing.assert_array_equal(d.validation.x, x[perm[:5]].reshape(5, -1))
    np.testing.assert_array_equal(d.test.x, x[perm[5:10]].reshape(5, -1))
    np.testing.assert_array_equal(d.train.x, x[perm[10:]].reshape(40, -1))
    assert load_dataset(str(tmp_path / "imgs.npy")).source == d.source  # deterministic


def test_npy_rows_float(tmp_path: Path) -> None:
    np.save(tmp_path / "unit.npy", np.linspace(0, 1, 20 * 784).reshape(20, 784))
    d = load_dataset(str(tmp_path / "unit.npy"))
    assert d.train.x.dtype == np.float32 and d.image_shape == (1, 28, 28)
    assert d.source["unit_range"] is True and d.source["image_shape_guessed"] is True
    np.save(tmp_path / "wide.npy", np.linspace(-2, 3, 20 * 10).reshape(20, 10))
    d = load_dataset(str(tmp_path / "wide.npy"))
    assert d.source["unit_range"] is False and d.image_shape == (1, 1, 10)
    np.save(tmp_path / "ints.npy", np.ones((20, 3 * 16 * 16), np.int64))
    d = load_dataset(str(tmp_path / "ints.npy"))
    assert d.train.x.dtype == np.float32 and d.image_shape == (3, 16, 16)


@pytest.mark.parametrize("layout", ["nhwc", "nchw"])
def test_npy_color_layouts(tmp_path: Path, layout: str) -> None:
    chw = np.random.default_rng(0).integers(0, 256, (20, 3, 5, 6), dtype=np.uint8)
    np.save(tmp_path / "c.npy", chw.transpose(0, 2, 3, 1) if layout == "nhwc" else chw)
    d = load_dataset(str(tmp_path / "c.npy"))
    assert d.image_shape == (3, 5, 6)
    np.testing.assert_array_equal(np.sort(all_rows(d), axis=0), np.sort(chw.reshape(20, -1), axis=0))


def test_npz_labels_remap_and_pairing(tmp_path: Path) -> None:
    n = 30
    x = np.repeat(np.arange(n, dtype=np.float32)[:, None] / n, 16, axis=1)  # row i holds i/n
    y = np.array([3, 7, 9])[np.arange(n) % 3]
    np.savez(tmp_path / "d.npz", images=x, labels=y)
    d = load_dataset(str(tmp_path / "d.npz"))
    assert d.n_classes == 3 and d.source["label_values"] == [3, 7, 9] and d.image_shape == (1, 4, 4)
    for s in (d.train, d.validation, d.test):
        idx = np.rint(s.x[:, 0] * n).astype(int)
        np.testing.assert_array_equal(s.y, idx % 3)  # labels still belong to their rows
    assert d.source["keys"] == {"all": {"x": "images", "y": "labels"}}


def test_npz_explicit_splits(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    arrs = {f"x_{s}": rng.random((k, 8, 8)) for s, k in (("train", 12), ("val", 4), ("test", 5))}
    arrs |= {"y_train": np.arange(12) % 2, "y_val": np.array([0, 1, 0, 1]), "y_test": np.ones(5, np.int32)}
    np.savez(tmp_path / "s.npz", **arrs)
    d = load_dataset(str(tmp_path / "s.npz"))
    assert sizes(d) == (12, 4, 5) and d.n_classes == 2 and d.source["split"].startswith("explicit")
    np.testing.assert_allclose(d.validation.x, arrs["x_val"].reshape(4, -1))
    # Without validation: a seeded 10% of x_train becomes validation.
    del arrs["x_val"], arrs["y_val"]
    arrs["x_train"], arrs["y_train"] = rng.random((20, 8, 8)), np.arange(20) % 2
    np.savez(tmp_path / "s2.npz", **arrs)
    d = load_dataset(str(tmp_path / "s2.npz"))
    assert sizes(d) == (18, 2, 5) and "x_train" in d.source["split"]


def test_hdf5(tmp_path: Path) -> None:
    with h5py.File(tmp_path / "d.h5", "w") as f:
        f["x"] = np.random.default_rng(0).integers(0, 256, (20, 4, 4, 1), dtype=np.uint8)
        f["y"] = np.arange(20) % 4
    d = load_dataset(str(tmp_path / "d.h5"))
    assert sizes(d) == (16, 2, 2) and d.image_shape == (1, 4, 4) and d.n_classes == 4
    assert d.source["kind"] == "hdf5"
    with h5py.File(tmp_path / "link.h5", "w") as f:
        f["x"] = h5py.ExternalLink(str(tmp_path / "d.h5"), "/x")
    with pytest.raises(DataError, match="external link"):
        load_dataset(str(tmp_path / "link.h5"))


# ---------------------------------------------------------------- user data: image folders


def _png(path: Path, value: int, size: tuple[int, int] = (6, 5), mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 0, 255 - value)
    Image.new(mode, size, color).save(path)


def test_image_folder_flat(tmp_path: Path) -> None:
    for i in range(12):
        _png(tmp_path / "imgs" / f"{i:02d}.png", i * 10)
    (tmp_path / "imgs" / "notes.txt").write_text("ignored")
    d = load_dataset(str(tmp_path / "imgs"))
    assert sizes(d) == (10, 1, 1) and d.image_shape == (1, 5, 6) and d.n_classes is None
    assert d.train.x.dtype == np.uint8 and d.source["kind"] == "image-folder"
    assert sorted(all_rows(d)[:, 0].tolist()) == [i * 10 for i in range(12)]


def test_image_folder_classes(tmp_path: Path) -> None:
    for i in range(6):
        _png(tmp_path / "c" / "dog" / f"{i}.png", 200)
        _png(tmp_path / "c" / "cat" / f"{i}.jpg", 10, mode="RGB" if i == 0 else "L")
    d = load_dataset(str(tmp_path / "c"))
    assert d.source["classes"] == ["cat", "dog"] and d.n_classes == 2 and d.image_shape == (3, 5, 6)
    for s in (d.train, d.validation, d.test):
        np.testing.assert_array_equal(s.y, (s.x[:, 0] > 100).astype(int))  # dog (bright) = 1


# ---------------------------------------------------------------- bad inputs


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    np.savez(path, **arrays)


BAD_ARRAYS = {
    "one_dim.npy": np.arange(20),
    "no_rows.npy": np.zeros((0, 28, 28)),
    "five_dim.npy": np.zeros((20, 2, 2, 2, 2)),
    "no_channels.npy": np.zeros((20, 5, 6, 7)),
    "nan.npy": np.r_[np.zeros(99), np.nan].reshape(20, 5),
    "inf.npy": np.r_[np.zeros(99), np.inf].reshape(20, 5),
    "few.npy": np.zeros((9, 4)),
    "strings.npy": np.array([["a", "b"]] * 20),
}


@pytest.mark.parametrize("name", sorted(BAD_ARRAYS))
def test_bad_arrays(tmp_path: Path, name: str) -> None:
    np.save(tmp_path / name, BAD_ARRAYS[name])
    with pytest.raises(DataError) as e:
        load_dataset(str(tmp_path / name))
    assert name in one_line_error(e)


@pytest.mark.parametrize(
    ("arrays", "match"),
    [
        ({"x": np.zeros((20, 4)), "y": np.zeros(19, int)}, "20 images but 19 labels"),
        ({"x": np.zeros((20, 4)), "y": -np.ones(20, int)}, "negative"),
        ({"x": np.zeros((20, 4)), "y": np.full(20, 0.5)}, "whole numbers"),
        ({"x": np.zeros((20, 4)), "x_train": np.zeros((20, 4))}, "one convention"),
        ({"pixels": np.zeros((20, 4))}, "no image array"),
        ({"x_train": np.zeros((20, 4)), "x_test": np.zeros((5, 5))}, "different image shapes"),
        (
            {"x_train": np.zeros((20, 4)), "y_train": np.ones(20, int), "x_test": np.zeros((5, 4))},
            "some splits",
        ),
    ],
)
def test_bad_npz(tmp_path: Path, arrays: dict[str, np.ndarray], match: str) -> None:
    _save_npz(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataError, match=match) as e:
        load_dataset(str(tmp_path / "bad.npz"))
    one_line_error(e)


def test_pickled_data_refused(tmp_path: Path) -> None:
    obj = np.empty(20, dtype=object)
    obj[:] = [{"evil": i} for i in range(20)]
    np.savez(tmp_path / "p.npz", x=obj)
    np.save(tmp_path / "p.npy", obj, allow_pickle=True)
    for name in ("p.npz", "p.npy"):
        with pytest.raises(DataError) as e:
            load_dataset(str(tmp_path / name))
        assert "pickled" in one_line_error(e)


@pytest.mark.parametrize("name", ["c.npy", "c.npz", "c.h5", "c.hdf5"])
def test_corrupt_files(tmp_path: Path, name: str) -> None:
    if name.endswith(".npz"):  # a real zip with a damaged member
        np.savez_compressed(tmp_path / name, x=np.arange(4000.0).reshape(20, 200))
        b = bytearray((tmp_path / name).read_bytes())
        b[200:260] = bytes(60)
        (tmp_path / name).write_bytes(bytes(b))
    else:
        (tmp_path / name).write_bytes(b"\x93NUMPY garbage" + bytes(range(256)))
    with pytest.raises(DataError) as e:
        load_dataset(str(tmp_path / name))
    assert name in one_line_error(e)


def test_bad_image_folders(tmp_path: Path) -> None:
    for i in range(11):
        _png(tmp_path / "sizes" / f"{i:02d}.png", 1)
    _png(tmp_path / "sizes" / "99.png", 1, size=(7, 7))
    with pytest.raises(DataError) as e:
        load_dataset(str(tmp_path / "sizes"))
    msg = one_line_error(e)
    assert "99.png" in msg and "7x7" in msg and "6x5" in msg

    for i in range(11):
        _png(tmp_path / "broken" / f"{i:02d}.png", 1)
    (tmp_path / "broken" / "05.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(DataError) as e:
        load_dataset(str(tmp_path / "broken"))
    assert "05.png" in one_line_error(e)

    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images"):
        load_dataset(str(tmp_path / "empty"))


def test_unsupported_suffix(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("1,2,3\n")
    with pytest.raises(DataError, match="unsupported file type"):
        load_dataset(str(tmp_path / "d.csv"))
