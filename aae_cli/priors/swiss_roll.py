"""Swiss roll prior (paper Fig. 4c-d): a Gaussian whose mean is uniform along a 2-D spiral.

The roll's axis is split into k equal segments; label i draws from the i-th segment
(the i-th tenth of the roll for digit i), an unlabelled draw from the whole roll.
"""

from __future__ import annotations

import math

import torch

from aae_cli.priors.base import Prior, register_prior


@register_prior
class SwissRollPrior(Prior):
    name = "swiss-roll"

    def __init__(self, dim: int, k: int = 10, scale: float = 3.0, turns: float = 2.0,
                 noise_std: float = 0.1) -> None:
        if dim != 2:
            raise ValueError(f"the swiss-roll prior is 2-D: use --z-dim 2 (got {dim})")
        super().__init__(dim)
        self.n_components = k
        self.scale, self.turns, self.noise_std = scale, turns, noise_std

    def point(self, t: torch.Tensor) -> torch.Tensor:
        """(n, 2) point of the roll's axis at position t in [0, 1]; sqrt keeps density even along the arc."""
        r = self.scale * t.sqrt()
        theta = 2 * math.pi * self.turns * t.sqrt()
        return torch.stack([r * theta.cos(), r * theta.sin()], dim=1)

    @classmethod
    def from_options(cls, dim: int, *, std: float, k: int) -> Prior:
        return cls(dim, k=k)

    def sample(self, n: int, generator: torch.Generator, labels: torch.Tensor | None = None) -> torch.Tensor:
        dev = generator.device
        t = torch.rand(n, generator=generator, device=dev)
        if labels is not None:
            self._check_labels(labels)
            labels = labels.to(dev)
            seg = (labels.clamp(min=0).to(torch.float32) + t) / self.n_components
            t = torch.where(labels >= 0, seg, t)
        noise = self.noise_std * torch.randn(n, 2, generator=generator, device=dev)
        return self.point(t) + noise
