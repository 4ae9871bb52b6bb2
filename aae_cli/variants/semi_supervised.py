"""Semi-supervised AAE (Section 5, Fig. 8, Table 2; appendix A.2).

q(y|x) (softmax) and q(z|x) share the encoder's hidden layers; the decoder sees [z, y]. One adversary
imposes a Categorical distribution on y, another a Gaussian on z. Three phases per minibatch:
reconstruction, regularization (both discriminators, then the encoder as generator), and semi-supervised
classification (cross-entropy of q(y|x) on a labelled minibatch).
"""

from __future__ import annotations

import torch
from torch import nn

from aae_cli.config import TrainConfig
from aae_cli.priors import build_prior
from aae_cli.priors.categorical import CategoricalPrior
from aae_cli.variants.base import RECONSTRUCTION, Batch, Phase, Variant, register_variant

DISCRIMINATORS = Phase("discriminator", ("disc_y", "disc_z"), "lr_disc", "momentum_adv", "discriminator")
GENERATOR_YZ = Phase("generator", ("encoder",), "lr_gen", "momentum_adv", "generator")
CLASSIFICATION = Phase("classification", ("encoder",), "lr_semi", "momentum_semi", "classification")

# Appendix A.2.1 (MNIST) and A.2.2 (SVHN), as written.
MNIST_A21 = {
    "optimizer": "sgd", "hidden": [1000, 1000], "disc_hidden": [1000, 1000], "init_std": 0.01,
    "z_dim": 10, "prior": "gaussian", "prior_std": 1.0, "labels": "100", "input_noise": 0.3,
    "lr_recon": 0.01, "momentum_recon": 0.9, "lr_semi": 0.1, "momentum_semi": 0.9,
    "lr_disc": 0.1, "lr_gen": 0.1, "momentum_adv": 0.1, "lr_decay_epochs": [50, 1000], "epochs": 5000,
}
SVHN_A22 = {
    **MNIST_A21, "z_dim": 20, "labels": "1000", "input_noise": 0.0, "input_dropout": 0.2,
    "encoder_bn": True, "decoder_bn": True, "standardize": True, "lr_recon": 0.0001, "lr_semi": 0.1,
    "lr_disc": 0.01, "lr_gen": 0.01, "lr_decay_epochs": [250], "epochs": 1000,
}


@register_variant
class SemiSupervised(Variant):
    name = "semi-supervised"
    description = "q(y|x) + q(z|x), two adversaries, classification phase (Section 5, Table 2)"
    phases = (RECONSTRUCTION, DISCRIMINATORS, GENERATOR_YZ, CLASSIFICATION)
    presets = {"default": MNIST_A21, "svhn": SVHN_A22}
    labelled_batches = True
    predicts_classes = True
    categories = "classes"
    representation_name = "style z"

    @classmethod
    def label_use(cls, cfg: TrainConfig) -> str:
        return "subset"

    def n_categories(self) -> int:
        return self.info.n_classes or 0

    def decoder_input_dim(self) -> int:
        return self.cfg.z_dim + self.n_categories()

    def build(self, prior_arrays: dict | None) -> None:
        c, k = self.cfg, self.n_categories()
        self.nets["encoder"] = self.make_encoder(c.z_dim, y_dim=k)
        self.nets["decoder"] = self.make_decoder(self.decoder_input_dim())
        self.nets["disc_y"] = self.make_discriminator(k)
        self.nets["disc_z"] = self.make_discriminator(c.z_dim)
        self.priors["y"] = CategoricalPrior(k)
        self.priors["z"] = build_prior(c.prior, c.z_dim, std=c.prior_std, k=c.mixture_components,
                                       arrays=prior_arrays)

    # -- the representation ------------------------------------------------------------------------
    def codes(self, x: torch.Tensor, gen: torch.Generator | None, sample: bool = True
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(y_logits (B, K), y = softmax (B, K), z (B, z_dim))."""
        enc = self.encode(x, gen, sample=sample)
        assert enc.y_logits is not None
        return enc.y_logits, enc.y_logits.softmax(1), enc.z

    def decode(self, y: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor:
        assert y is not None, "the decoder needs y"
        return self.nets["decoder"](torch.cat([z, y], dim=1))

    def representation(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits, _, z = self.codes(x, None, sample=False)
        return z, logits

    @torch.no_grad()
    def cluster_heads(self) -> torch.Tensor:
        """(K, D) each one-hot y decoded with the style z fixed at zero (Fig. 9's first column)."""
        k = self.n_categories()
        y = self.one_hot(torch.arange(k, device=next(self.parameters()).device), k)
        return self.to_data(self.decode(y, torch.zeros(k, self.cfg.z_dim, device=y.device)))

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        _, y_soft, z = self.codes(x, None, sample=False)
        return self.decode(y_soft, z)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        return self.codes(x, None, sample=False)[1]

    # -- phases --------------------------------------------------------------------------------------
    def reconstruction(self, b: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        _, y, z = self.codes(self.train_input(b.x, gen), gen)
        return self.recon_loss(self.decode(y, z), b.x), {}

    def discriminator(self, b: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        with torch.no_grad():
            _, y_fake, z_fake = self.codes(self.train_input(b.x, gen), gen)
        n = len(b.x)
        y_real, z_real = self.draw_prior("y", n, gen), self.draw_prior("z", n, gen)
        dy = self.critic("disc_y", (y_real, y_fake), gen)
        dz = self.critic("disc_z", (z_real, z_fake), gen)
        loss_y, acc_y = self.adversarial_losses(dy[:n], dy[n:])
        loss_z, acc_z = self.adversarial_losses(dz[:n], dz[n:])
        return loss_y + loss_z, {"disc_y_acc": acc_y, "disc_z_acc": acc_z}

    def generator(self, b: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        _, y, z = self.codes(self.train_input(b.x, gen), gen)
        fool_y = self.fooling_loss(self.critic("disc_y", (y,), gen))
        return fool_y + self.fooling_loss(self.critic("disc_z", (z,), gen)), {}

    def classification(self, b: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        assert b.x_lab is not None and b.y_lab is not None, "the engine gives a labelled minibatch"
        logits = self.codes(self.train_input(b.x_lab, gen), gen)[0]
        loss = nn.functional.cross_entropy(logits, b.y_lab)
        return loss, {"train_lab_error": 100 * (logits.argmax(1) != b.y_lab).float().mean()}

    # -- sampling ----------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        y = self.priors["y"].sample(n, generator)
        return self.to_data(self.decode(y, self.priors["z"].sample(n, generator)))

    @torch.no_grad()
    def sample_grid(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, int | None]:
        """Style fixed along a row, category along the columns (Fig. 7 layout)."""
        k = self.n_categories()
        z = self.priors["z"].sample(max(1, n // k), generator).repeat_interleave(k, 0)
        y = self.one_hot(torch.arange(k, device=z.device).repeat(len(z) // k), k)
        return self.to_data(self.decode(y, z)), k
