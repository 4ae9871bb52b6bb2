"""The adversary: tells prior samples (real) from encoded codes (fake); optionally label-conditioned
(Section 2.3, Fig. 3: a one-hot vector with an extra class for unlabelled examples)."""

from __future__ import annotations

import torch
from torch import nn

from aae_cli.nets.mlp import mlp


class Discriminator(nn.Module):
    def __init__(self, in_dim: int, hidden: list[int], *, cond_dim: int = 0) -> None:
        super().__init__()
        self.cond_dim = cond_dim
        # No batch norm: RECIPES.md stabiliser 1 (it freezes discriminator accuracy at 50%).
        self.net = mlp([in_dim + cond_dim, *hidden, 1])

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, in_dim) -> logits (B,) of "drawn from the prior"."""
        if self.cond_dim:
            z = torch.cat([z, cond], dim=1)
        return self.net(z).squeeze(1)
