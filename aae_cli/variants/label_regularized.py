"""Label information in the adversarial regularization (Section 2.3, Figs. 3-4).

The discriminator also receives a one-hot label with one extra class for unlabelled examples. Positive
(prior) samples of a labelled example come from its class's part of the prior (mixture component i, or the
i-th tenth of the swiss roll); those of an unlabelled example from the whole prior, with the extra class on.
"""

from __future__ import annotations

import torch

from aae_cli.config import TrainConfig
from aae_cli.errors import ConfigError
from aae_cli.variants.base import Batch, register_variant
from aae_cli.variants.unsupervised import Unsupervised


@register_variant
class LabelRegularized(Unsupervised):
    name = "label-regularized"
    description = "discriminator sees a one-hot label + an 'unlabelled' class (Section 2.3, Figs. 3-4)"
    presets = {"default": {"prior": "mixture", "z_dim": 2, "labels": "10000"}}  # 10K labelled, 40K not

    @classmethod
    def label_use(cls, cfg: TrainConfig) -> str:
        return "subset"

    def build(self, prior_arrays: dict | None) -> None:
        super().build(prior_arrays)
        k = self.info.n_classes or 0
        parts = self.priors["z"].n_components
        if parts is None or parts < k:
            raise ConfigError(f"label-regularized needs a prior with a part per class ({k}): use --prior "
                              f"mixture or swiss-roll with mixture_components={k}, or labelled prior samples")
        self.k = k
        self.nets["discriminator"] = self.make_discriminator(self.cfg.z_dim, cond_dim=k + 1)

    def condition(self, y: torch.Tensor) -> torch.Tensor:
        """(B, K+1) one-hot of the label, the extra last class where the label is unknown (-1)."""
        return self.one_hot(torch.where(y >= 0, y, self.k), self.k + 1)

    def discriminator(self, b: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        assert b.y is not None, "label-regularized needs labels in the batch"
        with torch.no_grad():
            z_fake = self.encode(self.train_input(b.x, gen), gen).z
        z_real = self.draw_prior("z", len(b.x), gen, labels=b.y)  # the label's part, or the whole prior
        c = self.condition(b.y)
        d = self.critic("discriminator", (z_real, z_fake), gen, torch.cat([c, c]))
        loss, acc = self.adversarial_losses(d[: len(z_real)], d[len(z_real):])
        return loss, {"disc_acc": acc}

    def generator(self, b: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        assert b.y is not None, "label-regularized needs labels in the batch"
        z = self.encode(self.train_input(b.x, gen), gen).z
        return self.fooling_loss(self.critic("discriminator", (z,), gen, self.condition(b.y))), {}

    @torch.no_grad()
    def sample_grid(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, int | None]:
        """One row per class: draws from that class's part of the prior."""
        per = max(1, n // self.k)
        labels = torch.arange(self.k, device=generator.device).repeat_interleave(per)
        z = self.priors["z"].sample(len(labels), generator, labels=labels)
        return self.to_data(self.nets["decoder"](z)), per
