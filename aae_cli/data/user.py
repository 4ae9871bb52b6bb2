"""User data given as a path: .npy, .npz, HDF5 or a folder of images."""

from __future__ import annotations

import tokenize
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from aae_cli.data.arrays import Parts, build_splits
from aae_cli.data.base import DataSplits
from aae_cli.data.images import read_image_folder
from aae_cli.data.reason import reason
from aae_cli.errors import DataError

X_KEYS = ("x", "images", "X", "data", "arr_0")  # arr_0: what np.savez names a single unnamed array
Y_KEYS = ("y", "labels", "Y")
SPLIT_KEYS = {  # split -> (image keys, label keys)
    "train": (("x_train",), ("y_train",)),
    "validation": (("x_validation", "x_val"), ("y_validation", "y_val")),
    "test": (("x_test",), ("y_test",)),
}
NPY_SUFFIXES = (".npy", ".npz")
H5_SUFFIXES = (".h5", ".hdf5")
_H5_ERRORS = (OSError, ValueError, TypeError, KeyError, RuntimeError)
ACCEPTED = "a .npy, .npz or .h5/.hdf5 file, or a folder of images (png/jpg/jpeg/bmp/gif)"
# Damaged .npy headers reach numpy's header parser, which can raise SyntaxError or TokenError.
_NPZ_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    KeyError,
    SyntaxError,
    tokenize.TokenError,
    zipfile.BadZipFile,
    zlib.error,
)


def load_user_data(path: Path) -> DataSplits:
    """Read the file or folder at path and split it (see arrays.build_splits)."""
    where = str(path)
    source: dict = {"path": str(path.resolve())}
    if path.is_dir():
        x, y, extra = read_image_folder(path)
        source = {**source, "kind": "image-folder", **extra}
        return build_splits(path.resolve().name, {"all": (x, y)}, where, source)
    suffix = path.suffix.lower()
    if suffix in NPY_SUFFIXES:
        parts, info = _read_numpy(path)
    elif suffix in H5_SUFFIXES:
        parts, info = _read_h5(path)
    else:
        raise DataError(f"{path}: unsupported file type {suffix or '(no suffix)'!r}; give {ACCEPTED}")
    return build_splits(path.stem, parts, where, {**source, **info})


def _first(keys: Iterable[str], names: set[str]) -> str | None:
    return next((k for k in keys if k in names), None)


def parts_from_keys(names: set[str], read: Callable[[str], np.ndarray], where: str) -> tuple[Parts, dict]:
    """Pick images/labels by the key conventions: x/y (whole data) or x_train/x_validation/x_test (splits)."""
    split_x = {s: _first(xk, names) for s, (xk, _) in SPLIT_KEYS.items()}
    plain = _first(X_KEYS, names)
    explicit = any(split_x.values())
    if explicit and plain:
        raise DataError(f"{where}: has both {plain!r} and x_train/x_validation/x_test; keep one convention")
    if not explicit and not plain:
        raise DataError(
            f"{where}: no image array found (keys: {', '.join(sorted(names)) or 'none'}); store images under "
            f"'x' (or {', '.join(repr(k) for k in X_KEYS[1:4])}) with optional labels 'y', or as x_train/"
            "x_validation/x_test with y_train/y_validation/y_test"
        )
    parts: Parts = {}
    used: dict[str, dict[str, str | None]] = {}
    groups = {"all": ((plain,), Y_KEYS)} if plain else SPLIT_KEYS
    for split, (xk, yk) in groups.items():
        xkey, ykey = _first(xk, names), _first(yk, names)
        if xkey is None:
            if ykey is not None:
                raise DataError(f"{where}: labels {ykey!r} without images; add the matching x_ array")
            continue
        parts[split] = (read(xkey), None if ykey is None else read(ykey))
        used[split] = {"x": xkey, "y": ykey}
    return parts, {"keys": used}


def _read_numpy(path: Path) -> tuple[Parts, dict]:
    """np.load never unpickles here: pickled data can run arbitrary code."""
    try:
        obj = np.load(path, allow_pickle=False)
    except _NPZ_ERRORS as e:
        raise _numpy_error(path, e) from e
    if isinstance(obj, np.ndarray):
        return {"all": (obj, None)}, {"kind": "npy"}
    with obj:

        def read(key: str) -> np.ndarray:
            try:
                return obj[key]
            except _NPZ_ERRORS as e:
                raise _numpy_error(path, e, key) from e

        parts, info = parts_from_keys(set(obj.files), read, str(path))
    return parts, {"kind": "npz", **info}


def _numpy_error(path: Path, e: Exception, key: str | None = None) -> DataError:
    what = f"array {key!r} in {path}" if key else str(path)
    if "pickle" in str(e).lower():
        return DataError(
            f"{what}: holds pickled Python objects, which aae never loads (unsafe); save plain numeric arrays"
        )
    return DataError(f"{what}: cannot read it ({reason(e)}); the file is damaged or not a NumPy file")


def _read_h5(path: Path) -> tuple[Parts, dict]:
    import h5py  # imported here: only HDF5 users pay its start-up cost

    def read(key: str) -> np.ndarray:
        # Links and storage pointing outside the file could read arbitrary files: refuse them.
        if isinstance(f.get(key, getlink=True), h5py.ExternalLink):
            raise DataError(f"{path}: {key!r} is an external link; copy the data into the file itself")
        obj = f.get(key)
        if not isinstance(obj, h5py.Dataset):
            raise DataError(f"{path}: {key!r} is not a dataset in the root group; store arrays there")
        if obj.is_virtual or obj.external:
            raise DataError(f"{path}: {key!r} keeps its data in other files; copy the data into the file")
        return np.asarray(obj[()])

    try:
        with h5py.File(path, "r") as f:
            parts, info = parts_from_keys(set(f.keys()), read, str(path))
    except _H5_ERRORS as e:  # damaged files surface as any of these, from open or from a later read
        msg = f"{path}: cannot read it as HDF5 ({reason(e)}); the file is damaged or not HDF5"
        raise DataError(msg) from e
    return parts, {"kind": "hdf5", **info}
