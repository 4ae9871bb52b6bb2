"""q(z|x), and optionally q(y|x) sharing the same hidden layers (Section 5, Fig. 8).

Three posterior types (Section 2): deterministic z = f(x); Gaussian z = mu + sigma * eps
(reparametrisation); universal approximator z = f(x, eta) with eta ~ N(0, I) fed as an extra input.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from aae_cli.nets.mlp import mlp
from aae_cli.shard import InputDropout, local_rows, randn_rows

POSTERIORS = ("deterministic", "gaussian", "universal")


@dataclass
class Encoded:
    z: torch.Tensor  # (B, z_dim) a draw from q(z|x)
    mu: torch.Tensor | None = None  # (B, z_dim) Gaussian posterior mean
    logvar: torch.Tensor | None = None  # (B, z_dim) Gaussian posterior log-variance
    y_logits: torch.Tensor | None = None  # (B, y_dim) logits of q(y|x)


class Encoder(nn.Module):
    def __init__(self, in_dim: int, hidden: list[int], z_dim: int, *, posterior: str = "deterministic",
                 noise_dim: int = 0, y_dim: int = 0, batch_norm: bool = False,
                 input_dropout: float = 0.0) -> None:
        super().__init__()
        if posterior not in POSTERIORS:
            raise ValueError(f"unknown posterior '{posterior}'; valid posteriors: {', '.join(POSTERIORS)}")
        self.posterior, self.z_dim, self.y_dim = posterior, z_dim, y_dim
        self.noise_dim = noise_dim if posterior == "universal" else 0
        self.dropout = InputDropout(input_dropout) if input_dropout > 0 else nn.Identity()
        # trunk: input -> hidden layers, ReLU after the last one too (heads are linear on top)
        self.trunk = nn.Sequential(mlp([in_dim + self.noise_dim, *hidden], batch_norm=batch_norm,
                                       out_batch_norm=batch_norm), nn.ReLU())
        z_out = 2 * z_dim if posterior == "gaussian" else z_dim
        self.z_head = mlp([hidden[-1], z_out], out_batch_norm=batch_norm)
        self.y_head = mlp([hidden[-1], y_dim], out_batch_norm=batch_norm) if y_dim else None

    def forward(self, x: torch.Tensor, generator: torch.Generator | None = None,
                sample: bool = True) -> Encoded:
        """x (B, D). `sample=False` returns the posterior mean where the posterior is stochastic."""
        x = self.dropout(x)
        if self.noise_dim:
            eta = local_rows(lambda m: torch.randn(m, self.noise_dim, generator=generator, device=x.device),
                             x.shape[0])
            x = torch.cat([x, eta if sample else torch.zeros_like(eta)], dim=1)
        h = self.trunk(x)  # (B, hidden[-1])
        out = self.z_head(h)
        y_logits = self.y_head(h) if self.y_head is not None else None
        if self.posterior != "gaussian":
            return Encoded(z=out, y_logits=y_logits)
        mu, logvar = out.chunk(2, dim=1)
        if not sample:
            return Encoded(z=mu, mu=mu, logvar=logvar, y_logits=y_logits)
        z = mu + (0.5 * logvar).exp() * randn_rows(mu, generator)
        return Encoded(z=z, mu=mu, logvar=logvar, y_logits=y_logits)
