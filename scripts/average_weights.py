"""Average the weights of several checkpoints of one run (Polyak averaging over its last epochs).

A diagnostic for Table 1 (docs/RESULTS.md, session 29): does the model at the end of training score
below the average of its recent states, i.e. is the last iterate's noise what costs nats? Every floating
weight and batch-norm statistic is the uniform mean over the checkpoints; everything else (optimizer
state, history, counters) is the last checkpoint's, so `aae eval parzen OUT` scores the averaged model.

    .venv/bin/python scripts/average_weights.py avg.h5 run-e61.h5 run-e62.h5 ... run-e70.h5
    .venv/bin/aae eval parzen avg.h5
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from aae_cli.checkpoint import load_checkpoint, save_checkpoint
from aae_cli.errors import AAEError


def average(paths: list[Path], out: Path) -> list[int]:
    """Write the averaged model to out; the epochs of the checkpoints averaged."""
    cks = [load_checkpoint(p) for p in paths]
    last = cks[-1]
    def recipe(config: dict) -> dict:  # a resumed run's config differs only in its target epochs
        return {k: v for k, v in config.items() if k != "epochs"}

    for p, ck in zip(paths, cks, strict=True):
        if recipe(ck.config) != recipe(last.config):  # another recipe: its weights are not comparable
            raise AAEError(f"{p} is not from the same run as {paths[-1]} (its config differs)")
    for net, weights in last.nets.items():
        for key, value in weights.items():
            if torch.is_floating_point(value):
                weights[key] = torch.stack([ck.nets[net][key] for ck in cks]).mean(0)
    save_checkpoint(out, last)
    return [ck.epoch for ck in cks]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="checkpoint to write (the averaged model)")
    ap.add_argument("checkpoints", type=Path, nargs="+",
                    help="checkpoints of one run; the last gives the rest")
    args = ap.parse_args()
    if args.out.exists() or args.out in args.checkpoints:
        raise SystemExit(f"error: {args.out} exists; choose a new path for the averaged model")
    try:
        epochs = average(args.checkpoints, args.out)
    except AAEError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"{args.out}: the mean of epochs {epochs}")


if __name__ == "__main__":
    main()
