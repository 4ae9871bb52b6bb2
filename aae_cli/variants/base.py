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
from aae_cli.nets import Encoded, init_gaussian
from aae_cli.priors import Prior


@dataclass(frozen=True)
class Phase:
    name: str  # as the paper names it
    trains: tuple[str, ...]  # the sub-networks whose weights this phase updates (and only those)
    lr: str  # config field holding its learning rate
    momentum: str  # config field holding its momentum (Adam: beta1)
    loss: str  # method of the variant: (batch, generator) -> (loss, {extra metric: scalar tensor})


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
    y: torch.Tensor | None = None  # (B,) int64 labels, -1 where unlabelled


class Variant(nn.Module):
    """Base class: holds `nets` (a ModuleDict) and the priors; subclasses define build() and losses."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    phases: ClassVar[tuple[Phase, ...]] = ()
    preset: ClassVar[dict[str, Any]] = {}  # the paper's settings for this model (appendix A)
    needs_labels: ClassVar[bool] = False

    def __init__(self, cfg: TrainConfig, info: DataInfo, prior_arrays: dict | None = None) -> None:
        super().__init__()
        self.cfg, self.info = cfg, info
        self.nets = nn.ModuleDict()
        self.priors: dict[str, Prior] = {}
        self.build(prior_arrays)
        init_gen = torch.Generator().manual_seed(cfg.seed)
        init_gaussian(self.nets, cfg.init_std, init_gen)

    # -- to override -------------------------------------------------------------------------------
    def build(self, prior_arrays: dict | None) -> None:
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(n, D) decoded prior draws."""
        raise NotImplementedError

    # -- shared helpers ----------------------------------------------------------------------------
    @property
    def output(self) -> str:
        if self.cfg.output == "auto":
            return "sigmoid" if self.info.unit_range else "linear"
        return self.cfg.output

    def train_input(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Appendix A.2.1: Gaussian noise on the input layer, at training time only."""
        if self.cfg.input_noise > 0 and self.training:
            return x + self.cfg.input_noise * torch.randn(x.shape, generator=generator, device=x.device)
        return x

    def encode(self, x: torch.Tensor, generator: torch.Generator | None = None,
               sample: bool = True) -> Encoded:
        return self.nets["encoder"](x, generator, sample=sample)

    @staticmethod
    def recon_loss(x_hat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Half the squared Euclidean error per image (appendix A), averaged over the batch."""
        return 0.5 * (x_hat - x).pow(2).sum(dim=1).mean()

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
    def evaluate(self, x: torch.Tensor, batch_size: int = 1000) -> dict[str, float]:
        """Held-out metrics: mean reconstruction cost (posterior mean codes)."""
        total = 0.0
        for i in range(0, x.shape[0], batch_size):
            xb = x[i:i + batch_size]
            x_hat = self.nets["decoder"](self.encode(xb, sample=False).z)
            total += float(0.5 * (x_hat - xb).pow(2).sum())
        return {"recon": total / max(1, x.shape[0])}


VARIANTS: dict[str, type[Variant]] = {}


def register_variant(cls: type[Variant]) -> type[Variant]:
    assert cls.name and cls.name not in VARIANTS, f"variant name {cls.name!r} missing or taken"
    assert cls.phases, f"variant {cls.name} declares no phases"
    VARIANTS[cls.name] = cls
    return cls
