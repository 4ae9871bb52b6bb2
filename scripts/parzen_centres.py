"""Kernel centres for a Parzen diagnostic: where does a model's Table 1 score fall short?

Writes an (N, D) float32 .npy for `aae eval parzen --samples-file`:
  --kind train           the first N training images themselves (no model)
  --kind reconstruction  the model's reconstructions of those images: decoder(encoder(x)), i.e. samples
                         from the aggregated posterior q(z) instead of the prior p(z)

Scored beside `aae eval parzen CKPT` (prior draws), reconstructions separate the two parts of the score:
how well the decoder renders a code, and how well the prior's draws land where the encoder puts images
(docs/RESULTS.md, Table 1).

    .venv/bin/python scripts/parzen_centres.py --kind reconstruction --checkpoint RUN.h5 --out rec.npy
    .venv/bin/aae eval parzen --samples-file rec.npy
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from aae_cli.data import load_dataset, to_float32
from aae_cli.engine.model_io import load_model
from aae_cli.metrics.classification import batched


def centres(kind: str, n: int, checkpoint: Path | None, dataset: str) -> np.ndarray:
    images = np.asarray(load_dataset(dataset).train.x[:n])
    if kind == "train":
        return to_float32(images).reshape(len(images), -1)
    if checkpoint is None:
        raise SystemExit(f"--kind {kind} needs --checkpoint")
    model, _ = load_model(checkpoint, torch.device("cpu"))
    return batched(lambda m, xb: m.to_data(m.reconstruct(xb)).reshape(len(xb), -1), model, images,
                   torch.device("cpu"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kind", choices=("train", "reconstruction"), required=True)
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    c = centres(a.kind, a.n, a.checkpoint, a.dataset)
    np.save(a.out, c)
    print(f"{a.out}: {c.shape[0]} {a.kind} centres, values {c.min():.3f}..{c.max():.3f}")


if __name__ == "__main__":
    main()
