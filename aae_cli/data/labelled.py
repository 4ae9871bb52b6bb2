"""The labelled subset of semi-supervised training (PROTOCOLS.md: N/10 per class, seed recorded)."""

from __future__ import annotations

import numpy as np

from aae_cli.errors import DataError


def labelled_subset(y: np.ndarray, spec: str, n_classes: int, seed: int) -> np.ndarray:
    """Sorted indices into the training split: `spec` = "all" or N, drawn evenly across the classes."""
    if spec == "all":
        return np.arange(len(y))
    n = int(spec)
    if n > len(y):
        raise DataError(f"--labels {n} is more than the {len(y)} training images; use fewer labels or 'all'")
    if n % n_classes:
        raise DataError(f"--labels {n} is not divisible by the {n_classes} classes (labelled examples are "
                        f"drawn evenly, N/{n_classes} per class); use a multiple of {n_classes}")
    per = n // n_classes
    rng = np.random.default_rng(seed)
    picks = []
    for c in range(n_classes):
        pool = np.flatnonzero(y == c)
        if len(pool) < per:
            raise DataError(f"--labels {n} needs {per} examples of class {c} but the training data has "
                            f"{len(pool)}; use fewer labels")
        picks.append(rng.choice(pool, per, replace=False))
    return np.sort(np.concatenate(picks))
