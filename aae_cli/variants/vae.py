"""The VAE baseline (Section 2.1, Fig. 2c-d): the same encoder and decoder, with the KL divergence to the
prior instead of an adversary. It needs the prior's density, so only gaussian and mixture priors work:
the contrast the paper draws (an AAE only needs to sample the prior)."""

from __future__ import annotations

import math

import torch

from aae_cli.errors import ConfigError
from aae_cli.priors.gaussian import GaussianPrior
from aae_cli.variants.base import Batch, Phase, register_variant
from aae_cli.variants.unsupervised import Unsupervised

ELBO = Phase("elbo", ("encoder", "decoder"), "lr_recon", "momentum_recon", "elbo")


@register_variant
class VAE(Unsupervised):
    name = "vae"
    description = "VAE baseline: KL to the prior instead of an adversary (Section 2.1, Fig. 2c-d)"
    phases = (ELBO,)
    presets = {"default": {"posterior": "gaussian"}}

    def build(self, prior_arrays: dict | None) -> None:
        if self.cfg.posterior != "gaussian":
            raise ConfigError("the VAE needs --posterior gaussian (its KL term needs q(z|x)'s density)")
        if self.cfg.disc_noise > 0 or self.cfg.gen_steps > 1:  # they would silently do nothing
            raise ConfigError("disc_noise and gen_steps act on a discriminator, which --variant vae does not "
                              "have; drop them or pick an adversarial variant")
        super().build(prior_arrays)
        del self.nets["discriminator"]
        if not hasattr(self.priors["z"], "log_prob"):
            raise ConfigError(f"the VAE needs a prior with a density (gaussian or mixture), not "
                              f"'{self.cfg.prior}': only an AAE can use a prior it can merely sample")

    def kl(self, mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """(B,) KL(q(z|x) || p(z)): closed form for a Gaussian prior, one-sample Monte Carlo otherwise."""
        prior = self.priors["z"]
        if isinstance(prior, GaussianPrior):
            var_ratio = logvar.exp() / prior.std**2
            return 0.5 * (var_ratio + mu.pow(2) / prior.std**2 - 1 - var_ratio.log()).sum(1)
        log_q = (-0.5 * ((z - mu).pow(2) / logvar.exp() + logvar + math.log(2 * math.pi))).sum(1)
        return log_q - prior.log_prob(z)

    def elbo(self, b: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        enc = self.encode(self.train_input(b.x, gen), gen)
        assert enc.mu is not None and enc.logvar is not None
        recon = self.recon_loss(self.nets["decoder"](enc.z), b.x)
        kl = self.kl(enc.mu, enc.logvar, enc.z).mean()
        return recon + kl, {"recon": recon.detach(), "kl": kl.detach()}
