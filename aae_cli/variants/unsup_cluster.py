"""Unsupervised clustering (Section 6, Fig. 9, Table 3; appendix A.3).

The semi-supervised network without the classification phase; q(y|x) has one output per cluster.

Table 3's recipe of ours adds the consistency phase (`--set consistency=W`, `--set marginal_entropy=W`;
departures, off by default; aae_cli/variants/semi_supervised.py has it, as every variant with q(y|x) may use
it). The categorical adversary alone only asks for confident, evenly used clusters; nothing in A.3 asks
that a digit moved by a pixel stays in its cluster, and without that the clusters split by stroke position
and thickness. The marginal-entropy term keeps every cluster in use: a dead cluster's one-hot vectors are
easy for the discriminator to call real, yet (our reading, not measured) its gradient at the encoder's
outputs hardly points towards them, and clusters stay dead for tens of epochs.

The target is q(y|x) of the unshifted image. Sessions 6-7 took it from a second shifted view
(`consistency_target=shift`, what older checkpoints resume with); the encoder then learned a near-uniform
q(y|x) for every moved digit in training mode, which met both terms without making q(y|x) shift-invariant
(docs/RESULTS.md, session 7).
"""

from __future__ import annotations

import torch

from aae_cli.config import TrainConfig
from aae_cli.variants.base import RECONSTRUCTION, register_variant
from aae_cli.variants.semi_supervised import DISCRIMINATORS, GENERATOR_YZ, SemiSupervised

A3 = {
    "optimizer": "sgd", "hidden": [3000, 3000], "disc_hidden": [3000, 3000], "init_std": 0.01,
    "z_dim": 5, "prior": "gaussian", "prior_std": 1.0, "input_dropout": 0.2, "encoder_bn": True,
    "lr_recon": 0.01, "momentum_recon": 0.9, "lr_disc": 0.1, "lr_gen": 0.1, "momentum_adv": 0.1,
    "lr_decay_epochs": [50], "epochs": 1500,
}


@register_variant
class UnsupCluster(SemiSupervised):
    name = "unsup-cluster"
    description = "unsupervised clustering, --clusters K (Section 6, Table 3)"
    phases = (RECONSTRUCTION, DISCRIMINATORS, GENERATOR_YZ)
    presets = {"default": A3}
    labelled_batches = False
    predicts_classes = False
    categories = "clusters"

    @classmethod
    def label_use(cls, cfg: TrainConfig) -> str:
        return "none"

    def n_categories(self) -> int:
        return self.cfg.clusters

    @torch.no_grad()
    def sample_grid(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, int | None]:
        """One row per cluster: its head (z = 0), then draws of z with that cluster's one-hot y."""
        k = self.n_categories()
        per = max(2, n // k)
        z = self.priors["z"].sample(k * per, generator)
        z.view(k, per, -1)[:, 0] = 0  # first column: the cluster head
        y = self.one_hot(torch.arange(k, device=z.device).repeat_interleave(per), k)
        return self.to_data(self.decode(y, z)), per
