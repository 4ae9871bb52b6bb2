"""Categorical prior over one-hot vectors (paper Sections 5-7: the label representation y)."""

from __future__ import annotations

import torch

from aae_cli.priors.base import Prior, register_prior


@register_prior
class CategoricalPrior(Prior):
    name = "categorical"

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.n_components = dim

    def sample(self, n: int, generator: torch.Generator, labels: torch.Tensor | None = None) -> torch.Tensor:
        dev = generator.device
        idx = torch.randint(0, self.dim, (n,), generator=generator, device=dev)
        if labels is not None:
            self._check_labels(labels)
            labels = labels.to(dev)
            idx = torch.where(labels >= 0, labels, idx)
        return torch.nn.functional.one_hot(idx, self.dim).to(torch.float32)
