"""The basic adversarial autoencoder (Section 2, Fig. 1; appendix A.1).

Per minibatch: reconstruction (encoder + decoder), then regularization: the discriminator learns to
tell prior samples from codes, then the generator (= the encoder) learns to fool it.
"""

from __future__ import annotations

import torch

from aae_cli.priors import build_prior
from aae_cli.variants.base import DISCRIMINATOR, GENERATOR, RECONSTRUCTION, Batch, Variant, register_variant


@register_variant
class Unsupervised(Variant):
    name = "unsupervised"
    description = "basic AAE, any prior and posterior (Section 2, A.1)"
    phases = (RECONSTRUCTION, DISCRIMINATOR, GENERATOR)

    def build(self, prior_arrays: dict | None) -> None:
        c = self.cfg
        self.nets["encoder"] = self.make_encoder(c.z_dim)
        self.nets["decoder"] = self.make_decoder(c.z_dim)
        self.nets["discriminator"] = self.make_discriminator(c.z_dim)
        self.priors["z"] = build_prior(c.prior, c.z_dim, std=c.prior_std, k=c.mixture_components,
                                       arrays=prior_arrays)

    def reconstruction(self, b: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        z = self.encode(self.train_input(b.x, gen), gen).z  # (B, z_dim)
        return self.recon_loss(self.nets["decoder"](z), b.x), {}

    def discriminator(self, b: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        with torch.no_grad():  # the encoder is not trained here: no graph through it
            z_fake = self.encode(self.train_input(b.x, gen), gen).z
        z_real = self.draw_prior("z", b.x.shape[0], gen)
        d = self.critic("discriminator", (z_real, z_fake), gen)  # one pass over both halves
        loss, acc = self.adversarial_losses(d[: len(z_real)], d[len(z_real):])
        return loss, {"disc_acc": acc}

    def generator(self, b: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        z = self.encode(self.train_input(b.x, gen), gen).z
        return self.fooling_loss(self.critic("discriminator", (z,), gen)), {}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.to_data(self.nets["decoder"](self.priors["z"].sample(n, generator)))
