"""Mixture of k 2-D Gaussians on a circle (paper Fig. 2b, 4a-b).

Component i is centred at angle 2*pi*i/k on a circle, elongated along its radius so the
components look like petals; label i selects component i (Section 2.3).
"""

from __future__ import annotations

import math

import torch

from aae_cli.priors.base import Prior, register_prior


@register_prior
class MixturePrior(Prior):
    name = "mixture"

    def __init__(self, dim: int, k: int = 10, radius: float = 4.0, radial_std: float = 1.0,
                 tangential_std: float = 0.25) -> None:
        if dim != 2:
            raise ValueError(f"the mixture prior is 2-D: use --z-dim 2 (got {dim})")
        if k < 1:
            raise ValueError(f"the mixture prior needs at least one component (got {k})")
        super().__init__(dim)
        self.n_components = k
        self.radius, self.radial_std, self.tangential_std = radius, radial_std, tangential_std

    def means(self) -> torch.Tensor:
        """(k, 2) component centres."""
        angle = 2 * math.pi * torch.arange(self.n_components, dtype=torch.float32) / self.n_components
        return self.radius * torch.stack([angle.cos(), angle.sin()], dim=1)

    @classmethod
    def from_options(cls, dim: int, *, std: float, k: int) -> Prior:
        return cls(dim, k=k)

    def sample(self, n: int, generator: torch.Generator, labels: torch.Tensor | None = None) -> torch.Tensor:
        dev = generator.device
        k = self.n_components
        comp = torch.randint(0, k, (n,), generator=generator, device=dev)
        if labels is not None:
            self._check_labels(labels)
            labels = labels.to(dev)
            comp = torch.where(labels >= 0, labels, comp)
        eps = torch.randn(n, 2, generator=generator, device=dev)
        # (n, 2) in the component's own frame: x along the radius, y tangential
        local = torch.stack([self.radius + self.radial_std * eps[:, 0], self.tangential_std * eps[:, 1]], 1)
        angle = 2 * math.pi * comp.to(torch.float32) / k
        cos, sin = angle.cos(), angle.sin()
        return torch.stack([cos * local[:, 0] - sin * local[:, 1], sin * local[:, 0] + cos * local[:, 1]], 1)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """(n,) log density: the VAE baseline needs it (an AAE never does)."""
        k = self.n_components
        angle = 2 * math.pi * torch.arange(k, dtype=z.dtype, device=z.device) / k
        cos, sin = angle.cos(), angle.sin()  # (k,)
        # each point in each component's own frame: rotate back by the component's angle
        u = cos * z[:, :1] + sin * z[:, 1:2] - self.radius  # (n, k) along the radius
        v = -sin * z[:, :1] + cos * z[:, 1:2]  # (n, k) tangential
        log_n = (-0.5 * ((u / self.radial_std) ** 2 + (v / self.tangential_std) ** 2)
                 - math.log(2 * math.pi * self.radial_std * self.tangential_std))
        return torch.logsumexp(log_n, dim=1) - math.log(k)
