"""The MLP builder every network of the paper is made of (appendix A: ReLU layers, N(0, 0.01) init)."""

from __future__ import annotations

import itertools

import torch
from torch import nn


def mlp(sizes: list[int], *, batch_norm: bool = False, out_batch_norm: bool = False) -> nn.Sequential:
    """Linear layers sizes[0] -> ... -> sizes[-1], ReLU between them, linear output (heads add their own)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        last = i == len(sizes) - 2
        layers.append(nn.Linear(a, b))
        if (batch_norm and not last) or (out_batch_norm and last):
            layers.append(nn.BatchNorm1d(b))
        if not last:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def init_gaussian(module: nn.Module, std: float, generator: torch.Generator) -> None:
    """Paper appendix A.1: weights ~ N(0, std^2), biases zero. std = 0 keeps PyTorch's default init."""
    if std <= 0:
        return
    for m in module.modules():
        if isinstance(m, nn.Linear):
            with torch.no_grad():
                m.weight.normal_(0.0, std, generator=generator)
                m.bias.zero_()
