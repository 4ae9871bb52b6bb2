"""The in-memory form every dataset reader returns, and the registry readers add themselves to."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Split:
    """One split: images flattened to rows, labels optional."""

    x: np.ndarray  # (N, D): uint8 (pixel = value / 255) or float32 (used as is)
    y: np.ndarray | None = None  # (N,) int64 class ids in [0, n_classes), or None

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class DataSplits:
    """train / validation / test of one dataset, plus what is needed to rebuild and describe it."""

    name: str
    train: Split
    validation: Split
    test: Split
    image_shape: tuple[int, int, int]  # (C, H, W); D = C * H * W, rows are C-major flattenings
    n_classes: int | None = None  # None when the data has no labels
    source: dict = field(default_factory=dict)  # JSON-able provenance (files, checksums, split rule)

    @property
    def dim(self) -> int:
        c, h, w = self.image_shape
        return c * h * w


def to_float32(x: np.ndarray) -> np.ndarray:
    """uint8 pixels to float32 in [0, 1] (PROTOCOLS.md: value / 255, never binarized)."""
    if x.dtype == np.uint8:
        return x.astype(np.float32) / np.float32(255.0)
    return np.asarray(x, dtype=np.float32)


# name -> (loader, one-line description). A loader takes (data_dir, download) and returns DataSplits.
Loader = Callable[[Path, bool], DataSplits]
DATASETS: dict[str, tuple[Loader, str]] = {}


def register_dataset(name: str, description: str) -> Callable[[Loader], Loader]:
    def deco(fn: Loader) -> Loader:
        DATASETS[name] = (fn, description)
        return fn

    return deco
