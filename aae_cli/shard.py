"""Random draws that do not depend on how a minibatch is split across processes.

Under torchrun every process trains on its own contiguous slice of each global minibatch. The random
numbers a loss needs per row (prior samples, input noise, posterior noise, dropout masks) must be the
numbers one process would draw for those rows, or K processes would train a different model than one.
So inside `sharded` (active only while the training phases run) every process draws for the whole global
minibatch, from the same generator in the same state, and keeps its own rows: the generators stay in step
on every process and the result equals the single-process run up to floating-point reduction order. Outside
it (one process, evaluation, sampling) `local_rows(draw, n)` is just `draw(n)`: nothing changes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Shard:
    rank: int  # this process's slice of the minibatch: rows [rank * n, (rank + 1) * n)
    world: int  # processes sharing the minibatch, each with n = global batch / world rows
    gather: Callable[[torch.Tensor], torch.Tensor]  # (n, ...) on every rank -> (world * n, ...), rank order


_active: Shard | None = None


@contextlib.contextmanager
def sharded(shard: Shard | None) -> Iterator[None]:
    """Draws inside the block are for this process's rows of a global minibatch (None: no sharding)."""
    global _active
    previous, _active = _active, shard
    try:
        yield
    finally:
        _active = previous


def local_rows(draw: Callable[..., torch.Tensor], n: int, *rows: torch.Tensor) -> torch.Tensor:
    """`draw(n, *rows)`: n rows of random numbers for this process's n rows of the minibatch.

    `rows` are per-row inputs of the draw (e.g. labels selecting a prior component); inside `sharded`
    they are gathered from every process so the draw sees the global minibatch.
    """
    s = _active
    if s is None:
        return draw(n, *rows)
    full = draw(n * s.world, *(s.gather(r) for r in rows))
    return full[s.rank * n:(s.rank + 1) * n]


def global_mean(x: torch.Tensor) -> torch.Tensor:
    """(n, ...) -> (...): the mean over the rows of the global minibatch, for a loss that is not a sum
    over rows (one of the batch's marginal). Inside `sharded` the other processes' rows enter as
    constants, and this process's rows carry `world` times their one-process gradient: averaging the
    gradients over processes, as the trainer does, then gives exactly the one-process gradient."""
    s = _active
    if s is None:
        return x.mean(0)
    full = s.gather(x.detach())
    own = x.sum(0) - x.detach().sum(0)  # zero, with the gradient of this process's rows
    return full.mean(0) + own * (s.world / full.shape[0])


def randn_rows(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard normal noise shaped, typed and placed like `like`: this process's rows of the draw for
    the global minibatch."""
    return local_rows(lambda m: torch.randn((m, *like.shape[1:]), generator=generator, device=like.device,
                                            dtype=like.dtype), like.shape[0])


class InputDropout(nn.Dropout):
    """nn.Dropout whose mask, inside `sharded`, is this process's rows of the global minibatch's mask
    (drawn from the global torch generator like nn.Dropout's own; bitwise the same numbers on CPU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _active is None or not self.training or self.p == 0:
            return super().forward(x)
        # dropout of ones = the scaled keep mask: 0 or 1 / (1 - p), as nn.Dropout multiplies x by
        keep = local_rows(lambda m: nn.functional.dropout(x.new_ones((m, *x.shape[1:])), self.p, True),
                          x.shape[0])
        return x * keep
