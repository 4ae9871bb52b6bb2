"""Unsupervised clustering (Section 6, Fig. 9, Table 3; appendix A.3).

The semi-supervised network without the classification phase; q(y|x) has one output per cluster.

`--set consistency=W` (a departure from the paper, off by default) adds a fourth phase: q(y|x) of one
randomly shifted view of each image is the soft target of q(y|x) of another view: another shift, or
(`consistency_views=adversarial`) the first view moved where q(y|x) changes most. The categorical adversary
alone only asks for confident, evenly used clusters; nothing in A.3 asks that a digit moved by a pixel
stays in its cluster, and without that the clusters split by stroke position and thickness.

`--set marginal_entropy=W` (also a departure, off by default) adds W (log K - H(p)) to that phase, p the
minibatch's mean q(y|x): zero when every cluster takes an equal share of the minibatch. The adversary asks
for this too, but only weakly: a dead cluster's one-hot vectors are easy for the discriminator to call
real, yet (our reading, not measured) its gradient at the encoder's outputs hardly points towards them,
and clusters stay dead for tens of epochs. The phase runs with either term on.

The target is q(y|x) of the unshifted image. Sessions 6-7 took it from a second shifted view
(`consistency_target=shift`, what older checkpoints resume with); the encoder then learned a near-uniform
q(y|x) for every moved digit in training mode, which met both terms without making q(y|x) shift-invariant
(docs/RESULTS.md, session 7).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from aae_cli.config import TrainConfig
from aae_cli.shard import global_mean, local_rows, randn_rows
from aae_cli.variants.base import RECONSTRUCTION, Batch, Phase, register_variant
from aae_cli.variants.semi_supervised import DISCRIMINATORS, GENERATOR_YZ, SemiSupervised

A3 = {
    "optimizer": "sgd", "hidden": [3000, 3000], "disc_hidden": [3000, 3000], "init_std": 0.01,
    "z_dim": 5, "prior": "gaussian", "prior_std": 1.0, "input_dropout": 0.2, "encoder_bn": True,
    "lr_recon": 0.01, "momentum_recon": 0.9, "lr_disc": 0.1, "lr_gen": 0.1, "momentum_adv": 0.1,
    "lr_decay_epochs": [50], "epochs": 1500,
}
# Trains the encoder only, with the classification phase's learning rate and momentum.
CONSISTENCY = Phase("consistency", ("encoder",), "lr_semi", "momentum_semi", "consistency")


def random_shift(x: torch.Tensor, shape: tuple[int, int, int], k: int, gen: torch.Generator) -> torch.Tensor:
    """(B, D) images each moved by its own (dy, dx) in [-k, k]^2; edges repeat the border pixels."""
    if k == 0:
        return x
    c, h, w = shape
    n = x.shape[0]
    d = local_rows(lambda m: torch.randint(0, 2 * k + 1, (m, 2), generator=gen, device=x.device), n)
    padded = nn.functional.pad(x.view(n, c, h, w), (k, k, k, k), mode="replicate").permute(0, 2, 3, 1)
    rows = d[:, :1] + torch.arange(h, device=x.device)  # (B, H) rows of the padded image to keep
    cols = d[:, 1:] + torch.arange(w, device=x.device)
    out = padded[torch.arange(n, device=x.device)[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out.permute(0, 3, 1, 2).reshape(n, -1)


@contextmanager
def batch_norm_statistics_kept(net: nn.Module) -> Iterator[None]:
    """Batch norm still normalises by the minibatch's statistics, but its running statistics (what
    evaluation uses) do not move: they must describe the images the model is evaluated on, not the
    shifted or adversarial views of the consistency phase."""
    norms = [m for m in net.modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m in norms:
            m.track_running_stats = True


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

    def build(self, prior_arrays: dict | None) -> None:
        super().build(prior_arrays)
        if self.cfg.consistency > 0 or self.cfg.marginal_entropy > 0:
            self.phases = (*self.phases, CONSISTENCY)

    def consistency(self, b: Batch, gen: torch.Generator) -> tuple[torch.Tensor, dict]:
        """Cross-entropy of q(y|view) against the target q(y|x), held fixed (no gradient), plus the
        marginal-entropy term on q(y|view) (on q(y|x) of the training input if consistency is 0).

        The target is q(y|x) of the unshifted image (`consistency_target=clean`), confident wherever the
        adversary has made q(y|x) one-hot, so a near-uniform q(y|view) costs up to log K. With a shifted
        target (`shift`, sessions 6-7) a near-uniform q(y|x) for every moved digit put the cross-entropy
        at its floor, H(target) = log K, and the encoder learned exactly that (docs/RESULTS.md)."""
        c = self.cfg
        extras: dict[str, torch.Tensor] = {}

        def view() -> torch.Tensor:
            return random_shift(self.train_input(b.x, gen), self.info.image_shape, c.consistency_shift, gen)

        with batch_norm_statistics_kept(self.nets["encoder"]):
            if c.consistency > 0:
                first = self.train_input(b.x, gen) if c.consistency_target == "clean" else view()
                with torch.no_grad():
                    target = self.codes(first, gen)[1]
                if c.consistency_views == "adversarial":
                    second = first + self._adversarial_move(first, target, gen)
                else:
                    second = view()
                logits, q = self.codes(second, gen)[:2]
                loss = c.consistency * nn.functional.cross_entropy(logits, target)
                extras["view_agreement"] = (logits.argmax(1) == target.argmax(1)).float().mean()
                extras["view_confidence"] = q.detach().max(1).values.mean()
            else:
                logits, q = self.codes(self.train_input(b.x, gen), gen)[:2]
                loss = logits.new_zeros(())
        if c.marginal_entropy > 0:
            p = global_mean(q)
            entropy = -(p * p.clamp_min(1e-12).log()).sum()
            loss = loss + c.marginal_entropy * (math.log(p.shape[0]) - entropy)
            extras["marginal_entropy"] = entropy.detach()
        return loss, extras

    def _adversarial_move(self, x: torch.Tensor, target: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """(B, D) the move of length vat_eps that most raises KL(target || q(y|x + move)), found by one
        power iteration from a random direction (Miyato et al. 2018, as IMSAT uses it for clustering)."""
        d = randn_rows(x, gen)
        # A start of length 0.1, not the paper's 1e-6: in float32 a KL that small is rounding noise.
        d = (0.1 * nn.functional.normalize(d, dim=1)).requires_grad_()
        with torch.enable_grad():
            log_q = self.codes(x + d, gen)[0].log_softmax(1)
            kl = nn.functional.kl_div(log_q, target, reduction="batchmean")
            (grad,) = torch.autograd.grad(kl, d)
        return self.cfg.vat_eps * nn.functional.normalize(grad, dim=1)

    @torch.no_grad()
    def sample_grid(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, int | None]:
        """One row per cluster: its head (z = 0), then draws of z with that cluster's one-hot y."""
        k = self.n_categories()
        per = max(2, n // k)
        z = self.priors["z"].sample(k * per, generator)
        z.view(k, per, -1)[:, 0] = 0  # first column: the cluster head
        y = self.one_hot(torch.arange(k, device=z.device).repeat_interleave(per), k)
        return self.to_data(self.decode(y, z)), per
