"""Content and style (paper Fig. 7): each row one style z drawn from the prior, each column one class."""

from __future__ import annotations

from typing import Any

import torch
from matplotlib.figure import Figure

from aae_cli.errors import AAEError
from aae_cli.variants import Variant
from aae_cli.viz import codes as C
from aae_cli.viz.figure import cell_centres, grid_array, image_figure_size, new_figure, show_image
from aae_cli.viz.grid import to_images


def check_style_model(model: Variant, run: C.RunInfo) -> None:
    """Style grids need a decoder input that is a class (not a cluster) beside a style code z."""
    if model.categories != "classes":
        clusters = model.categories == "clusters"
        hint = " (its categories are clusters: try aae viz clusters)" if clusters else ""
        raise AAEError(f"style grids need a model with a class input (supervised or semi-supervised); "
                       f"{run.source} is {model.cfg.variant}{hint}")


@torch.no_grad()
def style_images(model: Variant, rows: int, generator: torch.Generator) -> torch.Tensor:
    """(rows * K, D) data space: style r with class c at index r * K + c."""
    k = C.class_inputs(model)
    assert k is not None
    z = model.priors["z"].sample(rows, generator)
    y = model.one_hot(torch.arange(k, device=z.device).repeat(rows), k)
    return model.to_data(model.decode(y, z.repeat_interleave(k, 0))).float().cpu()


def style(model: Variant, run: C.RunInfo, *, rows: int = 10, seed: int = 0) -> tuple[Figure, dict[str, Any]]:
    check_style_model(model, run)
    if not 1 <= rows <= 50:
        raise AAEError(f"--rows must be between 1 and 50, got {rows}")
    k = C.class_inputs(model)
    assert k is not None
    gen = torch.Generator(device=C.device_of(model)).manual_seed(seed)
    x = style_images(model, rows, gen).numpy()
    w = model.info.image_shape[2]
    picture = grid_array(to_images(x, model.info.image_shape, model.info.unit_range), ncol=k)
    fig = new_figure(*image_figure_size(picture.shape[:2], extra_h=1.4))
    ax = fig.add_subplot()
    show_image(ax, picture)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_xticks(cell_centres(k, w), [str(i) for i in range(k)], fontsize=8)
    ax.tick_params(axis="x", length=0)
    ax.set_xlabel(f"class input y (one per column); z_dim = {model.cfg.z_dim}", fontsize=8)
    ax.set_ylabel(f"style z ~ p(z), seed {seed} (one per row)", fontsize=8)
    fig.suptitle(run.title("content (columns) and style (rows)"), fontsize=10)
    return fig, {"rows": rows, "classes": k, "seed": seed, "images": len(x)}
