"""Semi-supervised AAE (Section 5, Fig. 8, Table 2; appendix A.2).

q(y|x) (softmax) and q(z|x) share the encoder's hidden layers; the decoder sees [z, y]. One adversary
imposes a Categorical distribution on y, another a Gaussian on z. Three phases per minibatch:
reconstruction, regularization (both discriminators, then the encoder as generator), and semi-supervised
classification (cross-entropy of q(y|x) on a labelled minibatch).

`--set consistency=W` (a departure from the paper, off by default) adds a last phase to every variant with
q(y|x) (this one, dim-reduction, unsup-cluster): q(y|x) of a randomly shifted view of each image (or, with
`consistency_views=adversarial`, of the image moved where q(y|x) changes most) is trained towards q(y|x) of
the unshifted image, held fixed. `--set marginal_entropy=W` adds W (log K - H(p)) to that phase, p the
minibatch's mean q(y|x): zero when every category takes an equal share. Table 3's recipe of ours uses both
(aae_cli/variants/unsup_cluster.py says why); with labels they are the consistency regularisation of
semi-supervised learning (the Pi-model, VAT), which nothing in the paper's three phases provides.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from aae_cli.config import TrainConfig
from aae_cli.priors import build_prior
from aae_cli.priors.categorical import CategoricalPrior
from aae_cli.shard import global_mean, local_rows, randn_rows
from aae_cli.variants.base import RECONSTRUCTION, Batch, Phase, Variant, register_variant

DISCRIMINATORS = Phase("discriminator", ("disc_y", "disc_z"), "lr_disc", "momentum_adv", "discriminator")
GENERATOR_YZ = Phase("generator", ("encoder",), "lr_gen", "momentum_adv", "generator")
CLASSIFICATION = Phase("classification", ("encoder",), "lr_semi", "momentum_semi", "classification")

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
        self.phases = self.paper_phases() + ((CONSISTENCY,) if c.consistency_phase else ())

    def paper_phases(self) -> tuple[Phase, ...]:
        """The phases of the paper's model; the consistency phase (a departure) may follow them."""
        return type(self).phases

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
