"""Linear maps of codes to the plane (pure numpy): as is for 2-D codes, the paper's circle map for fixed
cluster heads (Fig. 11d), PCA otherwise."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Projection:
    """x -> (x - offset) @ matrix.T, with what to call the two axes."""

    matrix: np.ndarray  # (2, d)
    offset: np.ndarray  # (d,)
    method: str  # "identity" | "circle" | "pca"
    axis_labels: tuple[str, str]
    explained: tuple[float, float] | None = None  # PCA: fraction of the variance along each axis

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, dtype=np.float64) - self.offset) @ self.matrix.T


def circle_projection(heads: np.ndarray) -> np.ndarray:
    """(2, n) P with P @ w_i = r (cos 2πi/m, sin 2πi/m) for the m cluster heads w_i (rows of W_C, m x n).

    r is the heads' mean norm (W_C = 10 I: r = 10, P @ (10 e_i) = 10 (cos 2πi/m, sin 2πi/m)). Exact when
    the heads are linearly independent (m <= n), else the least-squares map.
    """
    w = np.asarray(heads, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] < 2:
        raise ValueError(f"need at least 2 cluster heads as rows of an (m, n) matrix, got shape {w.shape}")
    m = w.shape[0]
    radius = float(np.linalg.norm(w, axis=1).mean())
    angle = 2 * math.pi * np.arange(m) / m
    target = radius * np.stack([np.cos(angle), np.sin(angle)])  # (2, m)
    return target @ np.linalg.pinv(w.T)  # solves P @ w.T = target


def pca(codes: np.ndarray) -> Projection:
    """First two principal axes of the codes (SVD), each signed so its largest loading is positive."""
    x = np.asarray(codes, dtype=np.float64)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    vt = vt[:2]
    sign = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    vt = vt * np.where(sign == 0, 1.0, sign)[:, None]
    var = s**2
    frac = var[:2] / max(float(var.sum()), 1e-300)
    if len(vt) < 2:  # a single code: nothing to project along a second axis
        vt = np.vstack([vt, np.zeros((2 - len(vt), x.shape[1]))])
        frac = np.pad(frac, (0, 2 - len(frac)))
    return Projection(vt, mean, "pca", ("PCA 1", "PCA 2"), (float(frac[0]), float(frac[1])))


def choose_projection(codes: np.ndarray, name: str = "z", heads: np.ndarray | None = None,
                      fixed_heads: bool = False) -> Projection:
    """2-D codes as they are; fixed cluster heads (dim-reduction, W_C = 10 I): the circle map; else PCA."""
    d = codes.shape[1]
    if d == 2:
        return Projection(np.eye(2), np.zeros(2), "identity", (f"{name}[0]", f"{name}[1]"))
    if d == 1:
        return Projection(np.array([[1.0], [0.0]]), np.zeros(1), "identity", (f"{name}[0]", "(1-D code)"))
    if heads is not None and fixed_heads:
        return Projection(circle_projection(heads), np.zeros(d), "circle",
                          ("circle map 1 (heads on a circle)", "circle map 2"))
    return pca(codes)
