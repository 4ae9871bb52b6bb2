"""Priors p(z), one file each, registered by name; `build_prior` turns a config into one."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import numpy as np

from aae_cli.errors import ConfigError
from aae_cli.priors.base import PRIORS, Prior, register_prior
from aae_cli.priors.from_file import FilePrior

for _m in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["PRIORS", "FilePrior", "Prior", "build_prior", "prior_names", "register_prior"]


def prior_names() -> list[str]:
    return [n for n in PRIORS if n != "categorical"]


def build_prior(name: str, dim: int, *, std: float = 1.0, k: int = 10,
                arrays: dict[str, np.ndarray] | None = None) -> Prior:
    """A prior by registered name, or from a file path (`arrays` rebuilds a file prior from a checkpoint)."""
    try:
        if arrays:
            return FilePrior(dim, arrays["samples"], arrays.get("labels"))
        if name in PRIORS:
            return PRIORS[name].from_options(dim, std=std, k=k)
        if Path(name).exists():
            return FilePrior.from_path(name, dim)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    raise ConfigError(f"unknown prior '{name}'; valid priors: {', '.join(prior_names())}, "
                      "or a path to a .npy/.npz file of samples")
