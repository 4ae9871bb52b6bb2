"""Turn user arrays (images + optional labels, whole or pre-split) into checked DataSplits."""

from __future__ import annotations

import math

import numpy as np

from aae_cli.data.base import DataSplits, Split
from aae_cli.errors import DataError

SEED = 0
HOLDOUT = 10  # percent of rows each for validation and test when the data is not pre-split
MIN_ROWS = 10
SPLITS = ("train", "validation", "test")
SHAPES_OK = "(N, D) rows, (N, H, W) gray images, or (N, H, W, C) / (N, C, H, W) with C = 1, 3 or 4"

# One part per split name ("train", "validation", "test"), or a single "all" part to be split here.
Parts = dict[str, tuple[np.ndarray, np.ndarray | None]]


def guess_image_shape(d: int) -> tuple[int, int, int]:
    """(C, H, W) for D-wide rows: a square gray image, else a square RGB one, else a 1-pixel-high strip."""
    s = math.isqrt(d)
    if s * s == d:
        return (1, s, s)
    s = math.isqrt(d // 3)
    if d % 3 == 0 and s * s == d // 3:
        return (3, s, s)
    return (1, 1, d)


def as_rows(arr: np.ndarray, where: str) -> tuple[np.ndarray, tuple[int, int, int], bool]:
    """Images to (N, D) rows in C-major order, with their (C, H, W) and whether that shape was guessed."""
    if arr.dtype != np.bool_ and not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise DataError(f"{where}: dtype {arr.dtype} is not numeric; save images as uint8 or float arrays")
    if arr.ndim < 2 or arr.ndim > 4 or arr.shape[0] == 0 or arr[0].size == 0:
        raise DataError(f"{where}: shape {arr.shape} is not accepted; give {SHAPES_OK}, with N >= 1")
    n = arr.shape[0]
    if arr.ndim == 2:
        return arr, guess_image_shape(arr.shape[1]), True
    if arr.ndim == 3:
        return arr.reshape(n, -1), (1, *arr.shape[1:]), False
    if arr.shape[3] in (1, 3, 4):  # channels last (NumPy/PIL habit) wins when both readings fit
        arr = arr.transpose(0, 3, 1, 2)
    elif arr.shape[1] not in (1, 3, 4):
        raise DataError(f"{where}: shape {arr.shape} has no channel axis of size 1, 3 or 4; give {SHAPES_OK}")
    c, h, w = arr.shape[1:]
    return np.ascontiguousarray(arr).reshape(n, -1), (c, h, w), False


def pixels(x: np.ndarray, where: str) -> np.ndarray:
    """uint8 stays uint8 (pixel = value / 255); everything else becomes float32 used as is."""
    if x.dtype == np.uint8:
        return x
    with np.errstate(over="ignore"):  # float64 beyond float32's range turns inf and is reported below
        x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise DataError(f"{where}: contains NaN or infinite values (as float32); clean the data first")
    return x


def label_vector(y: np.ndarray, n: int, where: str) -> np.ndarray:
    """Labels as (N,) int64 >= 0; floats must hold whole numbers."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.reshape(-1)
    if y.ndim != 1:
        raise DataError(f"{where}: labels have shape {y.shape}; give one integer label per image, shape (N,)")
    if len(y) != n:
        raise DataError(f"{where}: {n} images but {len(y)} labels; give exactly one label per image")
    if np.issubdtype(y.dtype, np.floating):
        if not (np.isfinite(y).all() and (y == np.round(y)).all()):
            raise DataError(f"{where}: labels must be whole numbers (class ids), found fractions or NaN")
    elif y.dtype != np.bool_ and not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{where}: labels of dtype {y.dtype} are not integers; save class ids as integers")
    y = y.astype(np.int64)
    if n and y.min() < 0:
        raise DataError(f"{where}: negative label {int(y.min())}; class ids must be >= 0")
    return y


def build_splits(name: str, parts: Parts, where: str, source: dict) -> DataSplits:
    """Check and convert every part, remap labels to 0..K-1, and split "all" (seeded) when needed."""
    rows: dict[str, np.ndarray] = {}
    labels: dict[str, np.ndarray | None] = {}
    shapes: set[tuple[int, int, int]] = set()
    guessed = False
    for key, (x, y) in parts.items():
        at = where if key == "all" else f"{where} [{key}]"
        r, shape, g = as_rows(np.asarray(x), at)
        rows[key], guessed = r, guessed or g
        shapes.add(shape)
        labels[key] = None if y is None else label_vector(np.asarray(y), len(r), at)
    if len(shapes) > 1:
        raise DataError(f"{where}: the splits have different image shapes {sorted(shapes)}; make them match")
    if len({r.dtype == np.uint8 for r in rows.values()}) > 1:
        raise DataError(f"{where}: some splits are uint8 and others not; save all splits with one dtype")
    if len({y is None for y in labels.values()}) > 1:
        raise DataError(f"{where}: labels are given for some splits only; give labels for all splits or none")
    original_dtype = str(next(iter(rows.values())).dtype)
    for key in rows:
        rows[key] = pixels(rows[key], where)
    label_values = _remap_labels(labels)
    out, rule = _split(rows, labels, where)
    unit = all(r.dtype == np.uint8 or (r.min() >= 0.0 and r.max() <= 1.0) for r in rows.values())
    source = {**source, "dtype": original_dtype, "unit_range": bool(unit), "split": rule}
    if guessed:
        source["image_shape_guessed"] = True
    if label_values is not None:
        source["label_values"] = label_values
    return DataSplits(
        name=name,
        train=out["train"],
        validation=out["validation"],
        test=out["test"],
        image_shape=shapes.pop(),
        n_classes=None if label_values is None else len(label_values),
        source=source,
    )


def _remap_labels(labels: dict[str, np.ndarray | None]) -> list[int] | None:
    """Map the label values seen in any split to 0..K-1 in place; return the original values (or None)."""
    present = [y for y in labels.values() if y is not None]
    if not present:
        return None
    values = np.unique(np.concatenate(present))
    if not np.array_equal(values, np.arange(len(values))):
        for key, y in labels.items():
            labels[key] = np.searchsorted(values, y).astype(np.int64)
    return [int(v) for v in values]


def _split(
    rows: dict[str, np.ndarray], labels: dict[str, np.ndarray | None], where: str
) -> tuple[dict[str, Split], str]:
    """Explicit splits are kept; missing validation/test (or all of them) are carved from the rest."""
    base = "all" if "all" in rows else "train"
    if base == "train" and "train" not in rows:
        raise DataError(f"{where}: validation/test splits given but no x_train; add the training images")
    missing = [s for s in ("validation", "test") if s not in rows]
    out = {s: Split(rows[s], labels[s]) for s in SPLITS if s in rows and s != base}
    x, y = rows[base], labels[base]
    if not missing:
        out["train"] = Split(x, y)
        return out, "explicit train/validation/test arrays from the file"
    n = len(x)
    if n < MIN_ROWS:
        raise DataError(f"{where}: only {n} rows, too few to split off validation/test; give >= {MIN_ROWS}")
    k = n * HOLDOUT // 100
    # Permuted (not sorted) order, so --limit takes a random subset even when the rows are grouped by class.
    perm = np.random.default_rng(SEED).permutation(n)
    blocks = [f"{s} = perm[{i * k}:{(i + 1) * k}]" for i, s in enumerate(missing)]
    for i, s in enumerate(missing):
        out[s] = _take(x, y, perm[i * k : (i + 1) * k])
    out["train"] = _take(x, y, perm[len(missing) * k :])
    src = "rows" if base == "all" else "x_train rows"
    rule = (
        f"perm = np.random.default_rng({SEED}).permutation({n}) over the {src} ({HOLDOUT}% blocks): "
        f"{', '.join(blocks)}, train = perm[{len(missing) * k}:]"
    )
    return out, rule


def _take(x: np.ndarray, y: np.ndarray | None, idx: np.ndarray) -> Split:
    return Split(x[idx], None if y is None else y[idx])
