"""Nearest training image in Euclidean distance (paper Fig. 5, last column: is the model copying?)."""

from __future__ import annotations

import torch


def nearest_rows(queries: torch.Tensor, pool: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """Index into `pool` (N, D) of the nearest row to each query (n, D), by ||q||^2 + ||p||^2 - 2 q.p."""
    q = queries.float()
    qn = q.pow(2).sum(1, keepdim=True)  # (n, 1)
    best_d = torch.full((q.shape[0],), float("inf"), device=q.device)
    best_i = torch.zeros(q.shape[0], dtype=torch.long, device=q.device)
    for start in range(0, pool.shape[0], chunk):
        p = pool[start:start + chunk].to(q.device).float()
        if p.numel() and pool.dtype == torch.uint8:
            p = p / 255.0
        d = qn + p.pow(2).sum(1)[None, :] - 2 * q @ p.T  # (n, chunk)
        val, idx = d.min(dim=1)
        better = val < best_d
        best_d = torch.where(better, val, best_d)
        best_i = torch.where(better, idx + start, best_i)
    return best_i
