"""Datasets: registered names (mnist, fashion-mnist, svhn, svhn-extra) or a path to user data."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

# Importing the reader modules registers their datasets in DATASETS.
from aae_cli.data import mnist_family, svhn  # noqa: F401
from aae_cli.data.base import DATASETS, DataSplits, Split, register_dataset, to_float32
from aae_cli.data.user import ACCEPTED, load_user_data
from aae_cli.errors import DataError

DATA_DIR_ENV = "AAE_DATA_DIR"

__all__ = [
    "DATASETS",
    "DataSplits",
    "Split",
    "dataset_names",
    "load_dataset",
    "register_dataset",
    "resolve_data_dir",
    "to_float32",
]


def dataset_names() -> list[str]:
    return sorted(DATASETS)


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The argument, else $AAE_DATA_DIR, else $XDG_CACHE_HOME/aae, else ~/.cache/aae (not created here)."""
    if data_dir:
        return Path(data_dir).expanduser()
    if env := os.environ.get(DATA_DIR_ENV):
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says relative values are invalid and must be ignored.
    base = Path(cache) if cache and Path(cache).is_absolute() else Path.home() / ".cache"
    return base / "aae"


def _registered(spec: str) -> str | None:
    for name in (spec, spec.lower(), spec.lower().replace("_", "-")):
        if name in DATASETS:
            return name
    return None


def load_dataset(
    spec: str, data_dir: str | Path | None = None, download: bool = False, limit: int | None = None
) -> DataSplits:
    """Load a registered dataset or user data at a path; limit keeps the first `limit` training rows."""
    if limit is not None and limit < 1:
        raise DataError(f"--limit must be a positive number of training rows (got {limit})")
    name = _registered(spec)
    if name is not None:
        splits = DATASETS[name][0](resolve_data_dir(data_dir), download)
    elif Path(spec).expanduser().exists():
        splits = load_user_data(Path(spec).expanduser())
    else:
        close = difflib.get_close_matches(spec.lower(), DATASETS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DataError(
            f"unknown dataset {spec!r}{hint}: not one of {', '.join(dataset_names())} and no such file or "
            f"folder; give a dataset name or a path to {ACCEPTED}"
        )
    if limit is not None:
        n = len(splits.train)
        if limit > n:
            raise DataError(
                f"--limit {limit} is larger than the {n} training rows of {splits.name}; use at most {n}"
            )
        t = splits.train
        splits.train = Split(t.x[:limit], None if t.y is None else t.y[:limit])
        splits.source["limit"] = f"train = first {limit} of the {n} training rows"
    return splits
