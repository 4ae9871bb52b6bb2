"""What a prior must do: only sample (paper Section 2.1: an AAE never needs the density)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch


class Prior:
    """Draws codes z ~ p(z). Subclasses set `name` and implement `sample`."""

    name = "prior"
    n_components: int | None = None  # how many label-selectable parts (mixture components, roll segments)

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def sample(self, n: int, generator: torch.Generator, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(n, dim) draws on the generator's device. labels (n,): component per row, -1 = whole prior."""
        raise NotImplementedError

    @classmethod
    def from_options(cls, dim: int, *, std: float, k: int) -> Prior:
        """Build from the config's prior settings; each prior takes the ones that apply to it."""
        return cls(dim)

    def arrays(self) -> dict[str, np.ndarray]:
        """Arrays the checkpoint must keep to rebuild this prior (only file-backed priors have any)."""
        return {}

    def _check_labels(self, labels: torch.Tensor) -> None:
        if self.n_components is None:
            raise ValueError(f"the {self.name} prior has no components to select with labels")
        if labels.numel() and int(labels.max()) >= self.n_components:
            raise ValueError(f"label {int(labels.max())} has no component in the {self.name} prior "
                             f"({self.n_components} components)")


PriorFactory = Callable[..., Prior]
PRIORS: dict[str, type[Prior]] = {}


def register_prior(cls: type[Prior]) -> type[Prior]:
    PRIORS[cls.name] = cls
    return cls
