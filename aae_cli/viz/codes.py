"""What the figures need from a trained model: the run it comes from, its held-out data, its codes, prior
draws in the same space, and decoders with the class input fixed, through the Variant API
(`representation`, `prior_representation`, `n_categories`, `decode`, `categories`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aae_cli.data.base import to_float32
from aae_cli.errors import AAEError
from aae_cli.variants import Variant

SPLITS = ("train", "validation", "test")
BATCH = 1000


@dataclass(frozen=True)
class RunInfo:
    """Which run a figure comes from, for its title."""

    variant: str
    dataset: str
    epoch: int
    source: str  # the checkpoint path as the user gave it (for messages)

    @classmethod
    def of(cls, ckpt: Any, source: str | Path) -> RunInfo:
        ds = str(ckpt.data.get("dataset", "?"))
        if "/" in ds or "\\" in ds:  # user data given by path: its file name is enough for a title
            ds = Path(ds).name
        return cls(str(ckpt.config.get("variant", "?")), ds, int(ckpt.epoch), str(source))

    def title(self, what: str) -> str:
        return f"{what}\n{self.variant} on {self.dataset}, epoch {self.epoch}"


def load_split(ckpt: Any, split: str, data_dir: str | None) -> tuple[np.ndarray, np.ndarray | None]:
    """(x (N, D) float32 in data space, y (N,) or None) of one split of the checkpoint's dataset."""
    from aae_cli.data import load_dataset

    if split not in SPLITS:
        raise AAEError(f"unknown split '{split}'; valid: {', '.join(SPLITS)}")
    data = load_dataset(str(ckpt.data["dataset"]), data_dir, limit=ckpt.data.get("limit"))
    part = getattr(data, split)
    if not len(part):
        raise AAEError(f"the {split} split of {data.name} is empty; choose another with --split")
    y = None if part.y is None else np.asarray(part.y, dtype=np.int64)
    return to_float32(np.asarray(part.x)), y


def device_of(model: Variant) -> torch.device:
    return next(model.parameters()).device


def class_inputs(model: Variant) -> int | None:
    """How many classes/clusters the decoder takes as an input (None: no class input)."""
    return model.n_categories() or None


def representation_name(model: Variant) -> str:
    return model.representation_name


@torch.no_grad()
def encode(model: Variant, x: np.ndarray, generator: torch.Generator) -> tuple[np.ndarray, np.ndarray | None]:
    """(codes (N, d), cluster/class argmax q(y|x) (N,) or None) of data-space rows, at the posterior mean.

    codes: W_C y + z (dim-reduction, y = softmax), the style z (semi-supervised, unsup-cluster), else z.
    """
    dev = device_of(model)
    codes, assign = [], []
    for i in range(0, len(x), BATCH):
        xb = model.to_model(torch.from_numpy(x[i:i + BATCH]).to(dev))
        code, logits = model.representation(xb)
        codes.append(code)
        if logits is not None:
            assign.append(logits.argmax(1))
    out = torch.cat(codes).float().cpu().numpy()
    return out, (torch.cat(assign).cpu().numpy() if assign else None)


@torch.no_grad()
def prior_draws(model: Variant, n: int, generator: torch.Generator) -> np.ndarray:
    """(n, d) draws of the prior in the space `encode` returns (dim-reduction: W_C y + z, y one-hot)."""
    return model.prior_representation(n, generator).float().cpu().numpy()


def heads(model: Variant) -> np.ndarray | None:
    """(m, n) cluster heads W_C of a dim-reduction model, else None."""
    if "heads" not in model.nets:
        return None
    return model.nets["heads"].weight.detach().float().cpu().numpy()


def decoder_for(model: Variant, label: int | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """z (B, z_dim) -> images (B, D) in data space, with the class input (if any) fixed to `label`."""
    k = class_inputs(model)
    if k is not None:
        label = 0 if label is None else label
        if not 0 <= label < k:
            raise AAEError(f"--label {label} is out of range: this model has classes 0..{k - 1}")
    elif label is not None:
        raise AAEError(f"--label applies to models with a class input (supervised, semi-supervised, "
                       f"unsup-cluster, dim-reduction), not {model.cfg.variant}")

    @torch.no_grad()
    def decode(z: torch.Tensor) -> torch.Tensor:
        outs = []
        for i in range(0, len(z), BATCH):
            zb = z[i:i + BATCH]
            y = None if k is None else model.one_hot(torch.full((len(zb),), int(label), device=zb.device), k)
            outs.append(model.to_data(model.decode(y, zb)))
        return torch.cat(outs).float().cpu()

    return decode
