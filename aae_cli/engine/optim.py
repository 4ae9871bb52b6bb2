"""Per-phase optimizers and the paper's step-decay schedule (appendix A.2.1: /10 after 50 and 1000 epochs)."""

from __future__ import annotations

import torch

from aae_cli.config import TrainConfig
from aae_cli.errors import ConfigError


def make_optimizer(cfg: TrainConfig, params: list[torch.nn.Parameter], lr: float,
                   momentum: float) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if cfg.optimizer == "adam":  # the phase's momentum setting is Adam's beta1 (RECIPES.md: low for D/G)
        return torch.optim.Adam(params, lr=lr, betas=(momentum, 0.999))
    raise ConfigError(f"unknown optimizer '{cfg.optimizer}'; valid optimizers: sgd, adam")


def lr_scale(cfg: TrainConfig, epoch: int) -> float:
    """Multiplier of every base learning rate during 0-based `epoch`: one factor per decay epoch passed."""
    return cfg.lr_decay_factor ** sum(1 for d in cfg.lr_decay_epochs if epoch >= d)
