"""Models of the paper, one file each, found by scanning this package (no central if/elif)."""

from __future__ import annotations

import importlib
import pkgutil

from aae_cli.errors import ConfigError
from aae_cli.variants.base import VARIANTS, Batch, DataInfo, Phase, Variant, register_variant

for _m in pkgutil.iter_modules(__path__):
    if _m.name != "base":
        importlib.import_module(f"{__name__}.{_m.name}")

__all__ = ["VARIANTS", "Batch", "DataInfo", "Phase", "Variant", "get_variant", "register_variant"]


def get_variant(name: str) -> type[Variant]:
    if name not in VARIANTS:
        raise ConfigError(f"unknown variant '{name}'; valid variants: {', '.join(sorted(VARIANTS))}")
    return VARIANTS[name]
