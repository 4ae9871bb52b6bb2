"""Supervised AAE: the one-hot label goes to the decoder, so z learns only style (Section 4, Figs. 6-7)."""

from __future__ import annotations

import torch

from aae_cli.config import TrainConfig
from aae_cli.variants.base import Batch, register_variant
from aae_cli.variants.unsupervised import Unsupervised


@register_variant
class Supervised(Unsupervised):
    name = "supervised"
    description = "label to the decoder, z learns style (Section 4, Figs. 6-7)"
    presets = {"default": {"z_dim": 15, "prior_std": 1.0}}  # "forced into a 15-D Gaussian"
    categories = "classes"

    @classmethod
    def label_use(cls, cfg: TrainConfig) -> str:
        return "all"

    def build(self, prior_arrays: dict | None) -> None:
        super().build(prior_arrays)
        self.k = self.info.n_classes or 0
        self.nets["decoder"] = self.make_decoder(self.cfg.z_dim, cond_dim=self.k)

    def n_categories(self) -> int:
        return self.k

    def decode(self, y: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor:
        assert y is not None, "the supervised decoder needs the one-hot label"
        return self.nets["decoder"](z, y)

    def reconstruction(self, b: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        assert b.y is not None, "supervised needs labels in the batch"
        z = self.encode(self.train_input(b.x, gen), gen).z
        return self.recon_loss(self.nets["decoder"](z, self.one_hot(b.y, self.k)), b.x), {}

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        assert y is not None, "supervised reconstruction needs the labels"
        return self.nets["decoder"](self.encode(x, sample=False).z, self.one_hot(y, self.k))

    def decode_styles(self, z: torch.Tensor) -> torch.Tensor:
        """(S, z_dim) styles -> (S * K, D): each style decoded with every class, class varying fastest."""
        s = z.shape[0]
        cls = torch.arange(self.k, device=z.device).repeat(s)
        return self.to_data(self.nets["decoder"](z.repeat_interleave(self.k, 0), self.one_hot(cls, self.k)))

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        z = self.priors["z"].sample(n, generator)
        cls = torch.randint(0, self.k, (n,), generator=generator, device=generator.device)
        return self.to_data(self.nets["decoder"](z, self.one_hot(cls, self.k)))

    @torch.no_grad()
    def sample_grid(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, int | None]:
        """Fig. 7: style fixed along a row, class along the columns."""
        return self.decode_styles(self.priors["z"].sample(max(1, n // self.k), generator)), self.k
