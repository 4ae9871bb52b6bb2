"""Per-dimension standardisation (appendix A.2.2: subtract the training mean, divide by the std).

Kept as buffers inside the model, so a checkpoint decodes samples back to pixels on its own.
"""

from __future__ import annotations

import torch
from torch import nn


class Standardizer(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, x: torch.Tensor, chunk: int = 10000) -> None:
        """Mean and std over the rows of x (N, D), in float64 chunks (SVHN is too big for one pass)."""
        total = torch.zeros(x.shape[1], dtype=torch.float64, device=x.device)
        squares = torch.zeros_like(total)
        for i in range(0, x.shape[0], chunk):
            xb = x[i:i + chunk].double()
            if x.dtype == torch.uint8:
                xb = xb / 255.0
            total += xb.sum(0)
            squares += xb.pow(2).sum(0)
        mean = total / x.shape[0]
        self.mean.copy_(mean.float())
        self.std.copy_((squares / x.shape[0] - mean.pow(2)).clamp(min=1e-12).sqrt().clamp(min=1e-3).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean
