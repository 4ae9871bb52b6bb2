"""Unsupervised clustering (paper Fig. 9): one row per cluster, its head (style z = 0) then test images that
q(y|x) assigns to it."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from aae_cli.errors import AAEError
from aae_cli.variants import Variant
from aae_cli.viz import codes as C
from aae_cli.viz.figure import cell_centres, grid_array, image_figure_size, new_figure, show_image
from aae_cli.viz.grid import to_images


def check_cluster_model(model: Variant, run: C.RunInfo) -> None:
    if model.categories == "clusters":
        return
    v = model.cfg.variant
    why = f"{v}, trained with labels (its categories are classes)" if model.categories == "classes" else v
    raise AAEError(f"cluster figures need an unsupervised clustering model (unsup-cluster, or dim-reduction "
                   f"without --labels); {run.source} is {why}")


@torch.no_grad()
def cluster_heads(model: Variant) -> np.ndarray:
    """(K, D) data space: each one-hot y decoded with the style z fixed at zero."""
    return model.cluster_heads().float().cpu().numpy()


def pick_members(assign: np.ndarray, k: int, per_row: int, seed: int) -> list[np.ndarray]:
    """Per cluster, up to per_row indices of rows assigned to it, drawn at random (seeded), in index order."""
    rng = np.random.default_rng(seed)
    out = []
    for c in range(k):
        idx = np.flatnonzero(assign == c)
        if len(idx) > per_row:
            idx = np.sort(rng.choice(idx, per_row, replace=False))
        out.append(idx)
    return out


def clusters(model: Variant, run: C.RunInfo, x: np.ndarray, *, split: str = "test", per_row: int = 10,
             seed: int = 0) -> tuple[Figure, dict[str, Any]]:
    check_cluster_model(model, run)
    if not 1 <= per_row <= 30:
        raise AAEError(f"--per-row must be between 1 and 30, got {per_row}")
    k = model.n_categories()
    gen = torch.Generator(device=C.device_of(model)).manual_seed(seed)
    _, assign = C.encode(model, x, gen)
    assert assign is not None
    counts = np.bincount(assign, minlength=k)
    members = pick_members(assign, k, per_row, seed)
    shape, unit = model.info.image_shape, model.info.unit_range
    _, h, w = shape
    heads_pic = grid_array(to_images(cluster_heads(model), shape, unit), ncol=1)
    chosen = np.concatenate(members)
    imgs = to_images(x[chosen], shape, unit) if len(chosen) else np.zeros((0, h, w, shape[0]), np.uint8)
    cells = np.full((k * per_row, h, w, shape[0]), 255, np.uint8)  # white where a cluster has few members
    pos = np.concatenate([c * per_row + np.arange(len(m)) for c, m in enumerate(members)]).astype(int)
    cells[pos] = imgs
    members_pic = grid_array(cells, ncol=per_row)
    ph, pw = members_pic.shape[:2]
    fw, fh = image_figure_size((ph, pw + heads_pic.shape[1] + 8), extra_w=1.4, extra_h=1.3)
    fig = new_figure(fw, fh)
    left, right = fig.subplots(1, 2, width_ratios=[heads_pic.shape[1], pw])
    show_image(left, heads_pic)
    show_image(right, members_pic)
    for c in np.flatnonzero(counts == 0):
        right.text(pw / 2, cell_centres(k, h)[c], f"no {split} image assigned", ha="center", va="center",
                   fontsize=8, color="0.4")
    left.set_yticks(cell_centres(k, h), [f"{c} ({counts[c]})" for c in range(k)], fontsize=7)
    left.tick_params(axis="y", length=0)
    left.set_ylabel(f"cluster (number of {split} images)", fontsize=8)
    left.set_title("head\n(z = 0)", fontsize=8)
    right.set_title(f"{split} images with argmax q(y|x) = the row's cluster (random, seed {seed})",
                    fontsize=8)
    fig.suptitle(run.title(f"{k} clusters of {len(x)} {split} images"), fontsize=10)
    return fig, {"clusters": k, "split": split, "images": len(x), "per_row": per_row,
                 "sizes": counts.tolist(), "empty_clusters": int((counts == 0).sum())}
