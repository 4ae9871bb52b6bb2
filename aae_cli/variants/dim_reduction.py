"""Dimensionality reduction (Section 7, Figs. 10-11).

The n-D representation is W_C y + z: the one-hot/softmax cluster output y picks a cluster head (a row of
W_C, m x n) and the n-D style z is added. The decoder reconstructs from that representation. The heads are
learned by SGD in the reconstruction phase with an extra cost that penalises, linearly, every pair of heads
closer than eta. With --labels it is semi-supervised (m = classes, plus the classification phase); without,
unsupervised with m = --clusters (paper: 20). For n = 10, m = 10 the paper fixes W_C = 10 I (--set
fixed_heads=true). Fig. 10's caption maps "the one-hot label representation" to a head, Fig. 8's model
feeds the softmax; --set head_input picks which (default softmax, as in Fig. 8), and --set head_grad scales
the reconstruction's gradient into q(y|x) through the heads (default 1, unchanged). head_input=expected (a
departure) decodes every one-hot head and weights each reconstruction error by q(y|x), as M2 of Kingma et al.
(2014) marginalises y for unlabelled images: the decoder only sees one-hot heads, and q(y|x) learns which
head reconstructs the image best instead of taking the sum's gradient.
"""

from __future__ import annotations

import torch
from torch import nn

from aae_cli.config import TrainConfig
from aae_cli.errors import ConfigError
from aae_cli.variants.base import Phase, register_variant
from aae_cli.variants.semi_supervised import (
    CLASSIFICATION,
    DISCRIMINATORS,
    GENERATOR_YZ,
    MNIST_A21,
    SemiSupervised,
)

RECONSTRUCTION_HEADS = Phase("reconstruction", ("encoder", "decoder", "heads"), "lr_recon", "momentum_recon",
                             "reconstruction")


class ClusterHeads(nn.Module):
    """W_C (m, n): learned, or fixed to scale * I (the paper's scale is 10)."""

    def __init__(self, m: int, n: int, fixed: bool, scale: float = 10.0) -> None:
        super().__init__()
        self.fixed = fixed
        if fixed:
            if m != n:
                raise ConfigError(f"fixed_heads needs as many clusters as dimensions (W_C = 10 I), "
                                  f"got m={m}, n={n}")
            self.register_buffer("weight", scale * torch.eye(n))
        else:
            self.weight = nn.Parameter(torch.randn(m, n))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return y @ self.weight  # (B, m) @ (m, n) -> (B, n)

    def distance_penalty(self, eta: float) -> torch.Tensor:
        """sum over pairs i < j of max(0, eta - ||w_i - w_j||): zero once every pair is eta apart."""
        if self.fixed:
            return self.weight.new_zeros(())
        w = self.weight
        i, j = torch.triu_indices(len(w), len(w), offset=1, device=w.device)
        dist = (w[i] - w[j]).pow(2).sum(1).add(1e-12).sqrt()
        return torch.relu(eta - dist).sum()


@register_variant
class DimReduction(SemiSupervised):
    name = "dim-reduction"
    description = "representation W_C y + z with learned cluster heads (Section 7, Figs. 10-11)"
    # The paper gives no appendix for Section 7: A.2.1's settings, n = 2, m = 20 when unsupervised.
    presets = {"default": {**MNIST_A21, "z_dim": 2, "labels": None, "clusters": 20, "epochs": 1000}}

    representation_name = "W_C y + z"

    @classmethod
    def label_use(cls, cfg: TrainConfig) -> str:
        return "subset" if cfg.labels is not None else "none"

    @property
    def supervised(self) -> bool:
        return self.cfg.labels is not None

    def n_categories(self) -> int:
        return (self.info.n_classes or 0) if self.supervised else self.cfg.clusters

    def decoder_input_dim(self) -> int:
        return self.cfg.z_dim

    def build(self, prior_arrays: dict | None) -> None:
        super().build(prior_arrays)
        self.nets["heads"] = ClusterHeads(self.n_categories(), self.cfg.z_dim, self.cfg.fixed_heads,
                                          self.cfg.head_scale)
        self.labelled_batches = self.predicts_classes = self.supervised
        self.categories = "classes" if self.supervised else "clusters"

    def paper_phases(self) -> tuple[Phase, ...]:
        classify = (CLASSIFICATION,) if self.supervised else ()
        return (RECONSTRUCTION_HEADS, DISCRIMINATORS, GENERATOR_YZ, *classify)

    def represent(self, y: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """(B, n) = W_C y + z, y as head_input says (a one-hot y passes every mode unchanged); head_grad
        scales the gradient into q(y|x) through the heads and leaves the forward pass alone."""
        g = self.cfg.head_grad
        if g != 1.0:  # forward: y exactly (y - y.detach() is zero); backward: g times y's gradient
            y = y.detach() + g * (y - y.detach())
        if self.cfg.head_input != "softmax":  # expected: one head per image outside the reconstruction phase
            hard = self.one_hot(y.argmax(1), y.shape[1])
            # straight-through: the forward sees the one-hot head, the backward the softmax's gradient
            y = hard + y - y.detach() if self.cfg.head_input == "straight-through" else hard
        return self.nets["heads"](y) + z

    def decode(self, y: torch.Tensor | None, z: torch.Tensor) -> torch.Tensor:
        assert y is not None, "the representation needs y"
        return self.nets["decoder"](self.represent(y, z))

    def representation(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        logits, y, z = self.codes(x, None, sample=False)
        return self.represent(y, z), logits

    def prior_representation(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.represent(self.priors["y"].sample(n, generator), self.priors["z"].sample(n, generator))

    def reconstruction(self, b, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        if self.cfg.head_input == "expected":
            recon = self.expected_reconstruction(b.x, gen)
        else:
            recon, _ = super().reconstruction(b, gen)
        penalty = self.nets["heads"].distance_penalty(self.cfg.head_distance)
        return recon + penalty, {"head_penalty": penalty.detach()}

    def expected_reconstruction(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        _, q, z = self.codes(self.train_input(x, gen), gen)
        return self.expected_error(q, z, x)

    def expected_error(self, q: torch.Tensor, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """E over y ~ q(y|x) of the reconstruction error, exactly: every head decoded (m decoder passes)."""
        heads = self.nets["heads"].weight  # (m, n)
        m = len(heads)
        # one decoder batch of B*m rows: with decoder batch norm the m heads share its statistics
        x_hat = self.nets["decoder"]((heads.unsqueeze(0) + z.unsqueeze(1)).flatten(0, 1))  # (B*m, D)
        err = self.recon_error(x_hat.view(len(x), m, -1), x.unsqueeze(1))  # (B, m)
        return (q * err).sum(1).mean()
