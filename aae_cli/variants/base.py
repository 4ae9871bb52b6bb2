"""A variant = its networks + its phases. The engine runs every phase on every minibatch, in order,
each with its own optimizer (paper Section 2: "trained jointly with SGD in phases executed on each
mini-batch"). Adding a model of the paper means one new file that subclasses `Variant`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from aae_cli.config import TrainConfig
from aae_cli.errors import ConfigError
from aae_cli.nets import Decoder, Discriminator, Encoded, Encoder, init_gaussian
from aae_cli.nets.scaler import Standardizer
from aae_cli.priors import Prior
from aae_cli.shard import local_rows, randn_rows


@dataclass(frozen=True)
class Phase:
    name: str  # as the paper names it
    trains: tuple[str, ...]  # the sub-networks whose weights this phase updates (and only those)
    lr: str  # config field holding its learning rate
    momentum: str  # config field holding its momentum (Adam: beta1)
    loss: str  # method of the variant: (batch, generator) -> (loss, {extra metric: scalar tensor})


RECONSTRUCTION = Phase("reconstruction", ("encoder", "decoder"), "lr_recon", "momentum_recon",
                       "reconstruction")
DISCRIMINATOR = Phase("discriminator", ("discriminator",), "lr_disc", "momentum_adv", "discriminator")
GENERATOR = Phase("generator", ("encoder",), "lr_gen", "momentum_adv", "generator")


@dataclass(frozen=True)
class DataInfo:
    """What a model needs to know of its data to be rebuilt without loading it."""

    image_shape: tuple[int, int, int]
    n_classes: int | None
    unit_range: bool  # every value in [0, 1]: a sigmoid output fits

    @property
    def dim(self) -> int:
        c, h, w = self.image_shape
        return c * h * w


@dataclass
class Batch:
    x: torch.Tensor  # (B, D) float32
    y: torch.Tensor | None = None  # (B,) int64 labels, -1 where the label is not given to the model
    x_lab: torch.Tensor | None = None  # (B, D) a minibatch of the labelled subset (semi-supervised phase)
    y_lab: torch.Tensor | None = None  # (B,) its labels


class Variant(nn.Module):
    """Base class: holds `nets` (a ModuleDict) and the priors; subclasses define build() and losses."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    phases: tuple[Phase, ...] = ()  # a subclass may choose them per config in build()
    presets: ClassVar[dict[str, dict[str, Any]]] = {}  # the paper's settings: "default", or per dataset
    labelled_batches: ClassVar[bool] = False  # the engine adds a labelled minibatch to every batch
    # What the one-hot input of the decoder means: "none" (no such input), "classes" or "clusters".
    categories = "none"
    representation_name: ClassVar[str] = "z"  # what `representation` returns, for figures
    predicts_classes = False  # q(y|x) has one output per class of the data (its error is reported)

    def __init__(self, cfg: TrainConfig, info: DataInfo, prior_arrays: dict | None = None) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        self.nets = nn.ModuleDict()
        self.priors: dict[str, Prior] = {}
        self.build(prior_arrays)
        if cfg.consistency_phase and not self.has_class_output:
            raise ConfigError(f"consistency and marginal_entropy act on q(y|x), which --variant {self.name} "
                              "does not have; set them to 0, or use semi-supervised, dim-reduction or "
                              "unsup-cluster")
        if cfg.standardize:
            self.nets["scaler"] = Standardizer(info.dim)
        init_gaussian(self.nets, cfg.init_std, torch.Generator().manual_seed(cfg.seed))

    # -- to override -------------------------------------------------------------------------------
    def build(self, prior_arrays: dict | None) -> None:
        raise NotImplementedError

    @classmethod
    def label_use(cls, cfg: TrainConfig) -> str:
        """"none", "subset" (a --labels subset is given to the model) or "all" (every label is)."""
        return "none"

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, D) decoded prior draws."""
        raise NotImplementedError

    def sample_grid(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, int | None]:
        """Images for `aae sample` and the number of columns (None: square). Conditional models override."""
        return self.sample(n, generator), None

    def n_categories(self) -> int:
        """Size of the decoder's one-hot class/cluster input (0: it has none)."""
        return 0

    def decode(self, y: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor:
        """Decoder output in model space from a code z and, where the decoder takes one, a one-hot y."""
        return self.nets["decoder"](z)

    def representation(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(codes to plot (B, d), q(y|x) logits or None) at the posterior mean."""
        return self.encode(x, sample=False).z, None

    def prior_representation(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, d) prior draws in the space of `representation`."""
        return self.priors["z"].sample(n, generator)

    def classify(self, x: torch.Tensor) -> torch.Tensor | None:
        """(B, K) q(y|x) for models that have it, else None."""
        return None

    @property
    def has_class_output(self) -> bool:
        """The encoder has a q(y|x) head (classes or clusters)."""
        return bool(getattr(self.nets["encoder"], "y_dim", 0))

    # -- shared helpers ----------------------------------------------------------------------------
    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """Data space -> the space the model is trained in (standardised when cfg.standardize)."""
        return self.nets["scaler"](x) if "scaler" in self.nets else x

    def to_data(self, x: torch.Tensor) -> torch.Tensor:
        """Decoder output -> data space (pixels), for samples and figures."""
        return self.nets["scaler"].inverse(x) if "scaler" in self.nets else x

    @classmethod
    def preset_for(cls, dataset: str) -> dict[str, Any]:
        family = next((k for k in cls.presets if k != "default" and dataset.startswith(k)), "default")
        return dict(cls.presets.get(family, {}))

    @property
    def output(self) -> str:
        if self.cfg.output == "auto":
            return "sigmoid" if self.info.unit_range and not self.cfg.standardize else "linear"
        return self.cfg.output

    def make_encoder(self, z_dim: int, y_dim: int = 0) -> Encoder:
        c = self.cfg
        return Encoder(self.info.dim, c.hidden, z_dim, posterior=c.posterior, noise_dim=c.noise_dim,
                       y_dim=y_dim, batch_norm=c.encoder_bn, input_dropout=c.input_dropout)

    def make_decoder(self, in_dim: int, cond_dim: int = 0) -> Decoder:
        return Decoder(in_dim, list(reversed(self.cfg.hidden)), self.info.dim, cond_dim=cond_dim,
                       output=self.output, batch_norm=self.cfg.decoder_bn)

    def make_discriminator(self, in_dim: int, cond_dim: int = 0) -> Discriminator:
        return Discriminator(in_dim, self.cfg.disc_hidden, cond_dim=cond_dim)

    def train_input(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Appendix A.2.1: Gaussian noise on the input layer, at training time only."""
        if self.cfg.input_noise > 0 and self.training:
            return x + self.cfg.input_noise * randn_rows(x, generator)
        return x

    def critic(self, name: str, parts: tuple[torch.Tensor, ...], generator: torch.Generator,
               cond: torch.Tensor | None = None) -> torch.Tensor:
        """Discriminator `name`'s logits for the codes of each part (minibatch-sized: prior draws, encoder
        codes), in one pass. With disc_noise, every code is blurred by the same Gaussian at training time, so
        the discriminator cannot tell the classes apart on detail finer than the noise (RECIPES.md,
        stabiliser 2); the label condition is not. Noise is drawn per part, which keeps a sharded
        minibatch's numbers those of one process (aae_cli/shard.py)."""
        if self.cfg.disc_noise > 0 and self.training:
            parts = tuple(z + self.cfg.disc_noise * randn_rows(z, generator) for z in parts)
        return self.nets[name](torch.cat(parts) if len(parts) > 1 else parts[0], cond)

    def draw_prior(self, name: str, n: int, generator: torch.Generator,
                   labels: torch.Tensor | None = None) -> torch.Tensor:
        """(n, d) draws of prior `name` for a training minibatch's rows (the same numbers whether one or
        several processes share the minibatch: aae_cli/shard.py)."""
        prior = self.priors[name]
        if labels is None:
            return local_rows(lambda m: prior.sample(m, generator), n)
        return local_rows(lambda m, y: prior.sample(m, generator, labels=y), n, labels)

    def encode(self, x: torch.Tensor, generator: torch.Generator | None = None,
               sample: bool = True) -> Encoded:
        return self.nets["encoder"](x, generator, sample=sample)

    def reconstruct(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """x_hat from the posterior mean, for held-out reconstruction cost (y: labels, where used)."""
        return self.nets["decoder"](self.encode(x, sample=False).z)

    @staticmethod
    def one_hot(y: torch.Tensor, k: int) -> torch.Tensor:
        return nn.functional.one_hot(y, k).to(torch.float32)

    @staticmethod
    def recon_error(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Half the squared Euclidean error of each image (appendix A), over the last dimension."""
        return 0.5 * (x_hat - x).pow(2).sum(dim=-1)

    @classmethod
    def recon_loss(cls, x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """recon_error averaged over the batch."""
        return cls.recon_error(x_hat, x).mean()

    @staticmethod
    def adversarial_losses(d_real: torch.Tensor, d_fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Discriminator cross-entropy: prior samples are "real" (1), encoder codes "fake" (0)."""
        bce = nn.functional.binary_cross_entropy_with_logits
        real = bce(d_real, torch.ones_like(d_real))
        fake = bce(d_fake, torch.zeros_like(d_fake))
        return real + fake, ((d_real > 0).float().mean() + (d_fake < 0).float().mean()) / 2

    @staticmethod
    def fooling_loss(d_fake: torch.Tensor) -> torch.Tensor:
        """Generator: make the discriminator call the codes real (non-saturating GAN loss)."""
        return nn.functional.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))

    @torch.no_grad()
    def evaluate(self, x: torch.Tensor, y: torch.Tensor | None, batch_size: int = 1000) -> dict[str, float]:
        """Held-out metrics: reconstruction cost; classification error (%) where q(y|x) predicts classes."""
        recon, wrong, n = 0.0, 0, x.shape[0]
        scored = y is not None and self.predicts_classes
        for i in range(0, n, batch_size):
            xb = x[i:i + batch_size]
            yb = None if y is None else y[i:i + batch_size]
            recon += float(self.recon_error(self.reconstruct(xb, yb), xb).sum())
            if scored:
                wrong += int((self.classify(xb).argmax(1) != yb).sum())
        out = {"recon": recon / max(1, n)}
        if scored:
            out["error"] = 100.0 * wrong / max(1, n)
        return out


VARIANTS: dict[str, type[Variant]] = {}


def register_variant(cls: type[Variant]) -> type[Variant]:
    assert cls.name and cls.name not in VARIANTS, f"variant name {cls.name!r} missing or taken"
    VARIANTS[cls.name] = cls
    return cls
