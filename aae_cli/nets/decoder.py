"""p(x|z): the generator of images, optionally conditioned on a one-hot label (Section 4, Fig. 6)."""

from __future__ import annotations

import torch
from torch import nn

from aae_cli.nets.mlp import mlp


class Decoder(nn.Module):
    def __init__(self, z_dim: int, hidden: list[int], out_dim: int, *, cond_dim: int = 0,
                 output: str = "sigmoid", batch_norm: bool = False) -> None:
        super().__init__()
        if output not in ("sigmoid", "linear"):
            raise ValueError(f"unknown decoder output '{output}'; valid: sigmoid, linear")
        self.cond_dim, self.output = cond_dim, output
        # A.2.2 (SVHN): batch norm in every autoencoder layer, the linear output layer included
        self.net = mlp([z_dim + cond_dim, *hidden, out_dim], batch_norm=batch_norm,
                       out_batch_norm=batch_norm and output == "linear")

    def forward(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """z (B, z_dim), cond (B, cond_dim) -> x_hat (B, D)."""
        if self.cond_dim:
            z = torch.cat([z, cond], dim=1)
        out = self.net(z)
        return torch.sigmoid(out) if self.output == "sigmoid" else out
