"""Spherical Gaussian prior N(0, std^2 I) (paper A.1: std 5 for MNIST, 1 for the style code z)."""

from __future__ import annotations

import math

import torch

from aae_cli.priors.base import Prior, register_prior


@register_prior
class GaussianPrior(Prior):
    name = "gaussian"

    def __init__(self, dim: int, std: float = 1.0) -> None:
        super().__init__(dim)
        self.std = std

    @classmethod
    def from_options(cls, dim: int, *, std: float, k: int) -> Prior:
        return cls(dim, std=std)

    def sample(self, n: int, generator: torch.Generator, labels: torch.Tensor | None = None) -> torch.Tensor:
        if labels is not None:
            self._check_labels(labels)
        return self.std * torch.randn(n, self.dim, generator=generator, device=generator.device)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """(n,) log N(z; 0, std^2 I)."""
        return (-0.5 * (z / self.std).pow(2) - math.log(self.std * math.sqrt(2 * math.pi))).sum(1)
