"""Sample-quality metrics on feature arrays (N, d): Fréchet distance, kernel distance, precision/recall.

Pure functions of two sets of feature vectors (for `aae eval samples`: the 128 penultimate activations of
the shipped MNIST classifier, aae_cli/metrics/feature_net.py). Lower FD and KD are better; precision and
recall are fractions in [0, 1], higher is better.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import torch


def _as_2d(f: np.ndarray, name: str) -> np.ndarray:
    f = np.asarray(f, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"{name}: need a (N, d) array with N >= 2, got shape {f.shape}")
    return f


def _pair(f1: np.ndarray, f2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    f1, f2 = _as_2d(f1, "f1"), _as_2d(f2, "f2")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"feature sizes differ: {f1.shape[1]} and {f2.shape[1]}")
    return f1, f2


def _sqrtm(a: np.ndarray) -> np.ndarray:
    # A singular product (a feature constant over a set, e.g. a ReLU unit that never fires) still has a
    # square root; scipy warns all the same, and the caller checks the result is finite.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        return scipy.linalg.sqrtm(a)


def frechet_distance(f1: np.ndarray, f2: np.ndarray, eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)) of Gaussians fitted to the two sets (Heusel et
    al. 2017, FID); eps * I is added to both covariances when the product's square root is not finite."""
    f1, f2 = _pair(f1, f2)
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = _sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        off = eps * np.eye(len(s1))
        covmean = _sqrtm((s1 + off) @ (s2 + off))
    if np.iscomplexobj(covmean):
        # Round-off gives tiny imaginary parts; large ones mean the result is unreliable.
        covmean = covmean.real
    diff = mu1 - mu2
    fd = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))
    return max(fd, 0.0)


def _poly_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3 (equal-size sets)."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    m = len(x)
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def kernel_distance(f1: np.ndarray, f2: np.ndarray, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> tuple[float, float]:
    """KID (Bińkowski et al. 2018): unbiased MMD^2 with the cubic polynomial kernel, averaged over
    `subsets` random subsets of min(subset_size, N1, N2) rows of each set (drawn without replacement by a
    generator seeded with `seed`). Returns (mean, std over subsets); ~0 when the sets share a law. The
    value scales with the features' size (k grows as |x|^6), so compare it only within one feature space."""
    f1, f2 = _pair(f1, f2)
    m = min(subset_size, len(f1), len(f2))
    if m == len(f1) == len(f2):  # every "subset" is the whole of both sets
        return _poly_mmd2(f1, f2), 0.0
    rng = np.random.default_rng(seed)
    vals = np.array([
        _poly_mmd2(f1[rng.choice(len(f1), m, replace=False)], f2[rng.choice(len(f2), m, replace=False)])
        for _ in range(subsets)
    ])
    return float(vals.mean()), float(vals.std())


def _sqdist_chunks(a: torch.Tensor, b: torch.Tensor, chunk: int):
    """Yield (start, squared distances (chunk, len(b))) over row chunks of a."""
    bn = b.pow(2).sum(1)
    for start in range(0, len(a), chunk):
        q = a[start:start + chunk]
        d = q.pow(2).sum(1, keepdim=True) + bn[None, :] - 2.0 * q @ b.T
        yield start, d.clamp_min_(0.0)


def knn_radii(f: np.ndarray | torch.Tensor, k: int = 3, chunk: int = 1000) -> torch.Tensor:
    """(N,) squared distance of each row to its k-th nearest other row of the same set."""
    f = torch.as_tensor(np.asarray(f, dtype=np.float64))
    if not 1 <= k < len(f):
        raise ValueError(f"k must be in [1, N - 1] = [1, {len(f) - 1}], got {k}")
    radii = torch.empty(len(f), dtype=torch.float64)
    for start, d in _sqdist_chunks(f, f, chunk):
        # The row itself is its own nearest neighbour at 0: the k-th other row is the (k+1)-th smallest.
        # (topk is several times faster than kthvalue on CPU.)
        radii[start:start + len(d)] = d.topk(k + 1, dim=1, largest=False).values[:, k]
    return radii


def _coverage(queries: torch.Tensor, points: torch.Tensor, radii: torch.Tensor, chunk: int) -> float:
    """Fraction of queries inside at least one ball (point, radius)."""
    inside = 0
    for _start, d in _sqdist_chunks(queries, points, chunk):
        inside += int((d <= radii[None, :]).any(1).sum())
    return inside / len(queries)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3, chunk: int = 1000,
                     real_radii: torch.Tensor | None = None) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019): each set's manifold is the union of
    balls reaching each of its points' k-th nearest neighbour. Precision = fraction of fake rows inside
    the real manifold; recall = fraction of real rows inside the fake manifold. Distances are computed
    `chunk` rows at a time (float64), so 10,000 x 10,000 fits in memory. `real_radii`: knn_radii(real, k),
    when already computed.

    Precision alone can mislead: samples collapsed into one small region score high when the (large)
    ball of a single real outlier covers it; uniform noise does so on the MNIST classifier's features.
    Read it with recall and FD."""
    real_np, fake_np = _pair(real, fake)
    r, f = torch.from_numpy(real_np), torch.from_numpy(fake_np)
    if real_radii is None:
        real_radii = knn_radii(r, k, chunk)
    elif real_radii.shape != (len(r),):
        raise ValueError(f"real_radii: shape {tuple(real_radii.shape)}, expected ({len(r)},)")
    precision = _coverage(f, r, real_radii, chunk)
    recall = _coverage(r, f, knn_radii(f, k, chunk), chunk)
    return precision, recall


def all_metrics(real: np.ndarray, fake: np.ndarray, k: int = 3, kd_subsets: int = 100,
                kd_subset_size: int = 1000, seed: int = 0,
                real_radii: torch.Tensor | None = None) -> dict[str, float]:
    """FD, KD (mean and std), precision and recall of `fake` against `real` features."""
    kd, kd_std = kernel_distance(real, fake, kd_subsets, kd_subset_size, seed)
    precision, recall = precision_recall(real, fake, k, real_radii=real_radii)
    return {"fd": frechet_distance(real, fake), "kd": kd, "kd_std": kd_std,
            "precision": precision, "recall": recall}
