"""`aae sample`: prior draws decoded to an image grid (paper Fig. 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aae_cli.cli.common import cli_errors, print_result
from aae_cli.errors import AAEError

Opt = typer.Option


@cli_errors
def sample(
    checkpoint: Annotated[Path, typer.Argument(help="a checkpoint written by aae train")],
    n: Annotated[int, Opt("--n", help="how many samples")] = 100,
    out: Annotated[Path | None, Opt(help="PNG grid to write (default: beside the checkpoint)")] = None,
    npy: Annotated[Path | None, Opt(help="also save the raw samples (n, D) as .npy")] = None,
    nearest: Annotated[bool, Opt(help="put each sample's nearest training image beside it")] = False,
    seed: Annotated[int, Opt(help="seed of the prior draws")] = 0,
    device: Annotated[str, Opt(help="auto | cpu | cuda")] = "auto",
    data_dir: Annotated[str | None, Opt(help="folder of dataset files, for --nearest")] = None,
    json_: Annotated[bool, Opt("--json", help="print the result as one JSON object")] = False,
) -> None:
    """Decode draws from the prior into a grid of images (conditional models: a row per style/cluster)."""
    import numpy as np
    import torch

    from aae_cli.data import load_dataset
    from aae_cli.engine.model_io import load_model
    from aae_cli.engine.session import resolve_device
    from aae_cli.metrics.nearest import nearest_rows
    from aae_cli.viz.grid import grid, to_images

    if n < 1:
        raise AAEError(f"--n must be at least 1, got {n}")
    dev = resolve_device(device)
    model, ck = load_model(checkpoint, dev)
    gen = torch.Generator(device=dev).manual_seed(seed)
    x, ncol = model.sample_grid(n, gen)  # conditional models: one row per style, cluster or class
    x = x.float().cpu()  # (n', D)
    shape, unit = model.info.image_shape, model.info.unit_range
    out = out or checkpoint.with_name(f"{checkpoint.stem}-samples.png")
    if npy is not None:
        np.save(npy, x.numpy())
    imgs = to_images(x.numpy(), shape, unit)
    group = 1
    if nearest:
        data = load_dataset(ck.data["dataset"], data_dir, limit=ck.data.get("limit"))
        pool = torch.from_numpy(np.asarray(data.train.x))
        idx = nearest_rows(x, pool).numpy()
        near = to_images(np.asarray(data.train.x[idx], dtype=np.float32) / (255.0 if pool.dtype == torch.uint8
                                                                           else 1.0), shape, unit)
        imgs = np.stack([imgs, near], axis=1).reshape(-1, *imgs.shape[1:])  # sample, nearest, sample, ...
        ncol, group = 2 * (ncol or int(np.ceil(np.sqrt(len(x))))), 2
    try:
        grid(imgs, ncol=ncol, group=group).save(out)
    except OSError as e:
        raise AAEError(f"cannot write {out}: {e}") from None
    result = {"grid": str(out), "n": len(x), "seed": seed, "epoch": ck.epoch}
    if npy is not None:
        result["npy"] = str(npy)
    print_result("aae sample", result, json_)
