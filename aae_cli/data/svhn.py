"""SVHN cropped digits (32x32 RGB) from the MATLAB v5 files, optionally with the 531k `extra` images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from aae_cli.data.base import DataSplits, Split, register_dataset
from aae_cli.data.download import fetch
from aae_cli.data.matv5 import read_mat
from aae_cli.errors import DataError

TRAIN = "train_32x32.mat"
TEST = "test_32x32.mat"
EXTRA = "extra_32x32.mat"
SVHN_MD5 = {  # published with the files; tests swap in their own
    TRAIN: "e26dedcc434d2e4c54c9b2d4a06d8373",
    TEST: "eb5a983be6a315427106f1b69d9c4a5e",
    EXTRA: "a93ce644f1a588dc4d68dda5feec44a7",
}
SVHN_VALIDATION = 5000  # last rows of train_32x32.mat
DEFAULT_URL = "http://ufldl.stanford.edu/housenumbers/"
URL_ENV = "AAE_SVHN_URL"



def base_url() -> str:
    url = os.environ.get(URL_ENV) or DEFAULT_URL
    return url if url.endswith("/") else url + "/"


def read_svhn_mat(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """x (N, 3*32*32) uint8 in (C, H, W) order and y (N,) int64 in 0..9 (SVHN's label 10 is digit 0)."""
    mat = read_mat(path, {"X", "y"})  # our strict reader: scipy.io.loadmat can segfault on damaged files
    x, y = mat.get("X"), mat.get("y")
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.shape[:3] != (32, 32, 3) or x.dtype != np.uint8:
        got = getattr(x, "shape", None)
        raise DataError(f"{path}: expected 'X' uint8 of shape (32, 32, 3, N), got {got}; replace the file")
    n = x.shape[3]
    if not isinstance(y, np.ndarray) or y.size != n:
        got = getattr(y, "shape", None)
        raise DataError(f"{path}: expected 'y' with {n} labels, got shape {got}; replace the file")
    y = y.reshape(-1).astype(np.int64)
    if n and (y.min() < 0 or y.max() > 10):
        raise DataError(f"{path}: labels outside 1..10; replace the file")
    y[y == 10] = 0
    # MATLAB layout (H, W, C, N) -> rows of C-major (C, H, W) images.
    return np.ascontiguousarray(x.transpose(3, 2, 0, 1)).reshape(n, -1), y


def _ensure_files(name: str, folder: Path, needed: list[str], download: bool) -> set[str]:
    """Download whatever is missing (when allowed); return the names fetched now (their md5 was checked)."""
    missing = [f for f in needed if not (folder / f).is_file()]
    if missing and not download:
        raise DataError(
            f"{name}: {', '.join(missing)} not found in {folder}; rerun with --download to fetch them from "
            f"{base_url()}, or put {TRAIN}, {TEST} and {EXTRA} (extra only for svhn-extra) there by hand"
        )
    for f in missing:
        url = base_url() + f
        fetch(url, folder / f, SVHN_MD5[f], manual_hint=f"; or fetch {url} yourself and put it in {folder}")
    return set(missing)


def _load(name: str, data_dir: Path, download: bool, with_extra: bool) -> DataSplits:
    folder = data_dir / "svhn"
    needed = [TRAIN, TEST] + ([EXTRA] if with_extra else [])
    fetched = _ensure_files(name, folder, needed, download)
    x, y = read_svhn_mat(folder / TRAIN)
    n = len(x)
    if n <= SVHN_VALIDATION:
        raise DataError(f"{folder / TRAIN}: {n} images, need more than {SVHN_VALIDATION}; replace the file")
    cut = n - SVHN_VALIDATION
    validation = Split(x[cut:].copy(), y[cut:].copy())
    train_x, train_y = x[:cut], y[:cut]
    split = f"train = first {cut} of the {n} {TRAIN} rows"
    if with_extra:
        ex, ey = read_svhn_mat(folder / EXTRA)
        train_x, train_y = np.concatenate([train_x, ex]), np.concatenate([train_y, ey])
        split += f" followed by all {len(ex)} {EXTRA} rows"
        del ex, ey
    test = Split(*read_svhn_mat(folder / TEST))
    split += f", validation = last {SVHN_VALIDATION} {TRAIN} rows, test = all {len(test)} {TEST} rows"
    return DataSplits(
        name=name,
        train=Split(train_x, train_y),
        validation=validation,
        test=test,
        image_shape=(3, 32, 32),
        n_classes=10,
        source={
            "dataset": name,
            "folder": str(folder),
            "url": base_url(),
            "files": {f: {"md5": SVHN_MD5[f], "md5_verified": f in fetched} for f in needed},
            "labels": "SVHN label 10 is stored as class 0",
            "split": split,
        },
    )


@register_dataset("svhn", "SVHN digits, 32x32 RGB, 68k/5k/26k (<data dir>/svhn, --download)")
def load_svhn(data_dir: Path, download: bool) -> DataSplits:
    return _load("svhn", data_dir, download, with_extra=False)


@register_dataset("svhn-extra", "SVHN plus the 531k extra images in training (<data dir>/svhn, --download)")
def load_svhn_extra(data_dir: Path, download: bool) -> DataSplits:
    return _load("svhn-extra", data_dir, download, with_extra=True)
