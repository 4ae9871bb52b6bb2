"""Rebuild a trained model from its checkpoint alone (for sample, eval, viz)."""

from __future__ import annotations

from pathlib import Path

import torch

from aae_cli.checkpoint import Checkpoint, load_checkpoint
from aae_cli.config import TrainConfig
from aae_cli.engine.session import info_from_meta
from aae_cli.errors import CheckpointError
from aae_cli.variants import Variant, get_variant


def load_model(path: str | Path, device: torch.device) -> tuple[Variant, Checkpoint]:
    ck = load_checkpoint(path)
    cfg = TrainConfig.from_dict(ck.config, where=str(path))
    model = get_variant(cfg.variant)(cfg, info_from_meta(ck.data), ck.priors.get("z"))
    try:
        for name, net in model.nets.items():
            net.load_state_dict(ck.nets[name])
    except (KeyError, RuntimeError) as e:
        raise CheckpointError(f"{path}: network weights do not match the stored config ({e})") from None
    return model.to(device).eval(), ck
