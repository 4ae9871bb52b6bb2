"""Codes of held-out images as a scatter coloured by label (paper Figs. 2a-d, 4a, 4c, 11a-d)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from aae_cli.variants import Variant
from aae_cli.viz import codes as C
from aae_cli.viz.figure import new_figure
from aae_cli.viz.projection import Projection, choose_projection

PRIOR_COLOUR = "0.6"


def class_colours(k: int) -> np.ndarray:
    """(k, 4) RGBA: tab10 (its grey made black: grey is for prior draws) / tab20 where they have enough
    colours, else evenly along a rainbow map."""
    from matplotlib import colormaps

    if k <= 10:
        colours = colormaps["tab10"](np.arange(k))
        colours[7:8] = (0.0, 0.0, 0.0, 1.0)
        return colours
    if k <= 20:
        return colormaps["tab20"](np.arange(k))
    return colormaps["turbo"](np.linspace(0.05, 0.95, k))


def scatter_figure(xy: np.ndarray, labels: np.ndarray | None, proj: Projection, title: str,
                   prior_xy: np.ndarray | None = None, heads_xy: np.ndarray | None = None) -> Figure:
    """The scatter itself (pure: arrays in, figure out). Points are drawn in a fixed shuffled order so no
    class hides another by being drawn last."""
    fig = new_figure(7.6, 6.4)
    ax = fig.add_subplot()
    order = np.random.default_rng(0).permutation(len(xy))
    size = 6 if len(xy) <= 2000 else 3
    handles: list[Line2D] = []
    if labels is None:
        ax.scatter(xy[order, 0], xy[order, 1], s=size, color="tab:blue", alpha=0.7, linewidths=0)
    else:
        classes = np.unique(labels)
        colours = class_colours(int(classes.max()) + 1)
        ax.scatter(xy[order, 0], xy[order, 1], s=size, c=colours[labels[order]], alpha=0.8, linewidths=0)
        handles = [Line2D([], [], ls="", marker="o", ms=6, color=colours[c], label=str(c)) for c in classes]
    if prior_xy is not None:
        ax.scatter(prior_xy[:, 0], prior_xy[:, 1], s=2, color=PRIOR_COLOUR, alpha=0.7, linewidths=0)
        handles.append(Line2D([], [], ls="", marker="o", ms=3, color=PRIOR_COLOUR, label="prior draw"))
    if heads_xy is not None:
        ax.scatter(heads_xy[:, 0], heads_xy[:, 1], s=80, marker="X", facecolors="white", edgecolors="black",
                   linewidths=1.2, zorder=3)
        for i, (hx, hy) in enumerate(heads_xy):
            ax.annotate(str(i), (hx, hy), xytext=(6, 4), textcoords="offset points", fontsize=8,
                        fontweight="bold")
        handles.append(Line2D([], [], ls="", marker="X", ms=8, markerfacecolor="white",
                              markeredgecolor="black", label="cluster head"))
    ax.set_xlabel(proj.axis_labels[0])
    ax.set_ylabel(proj.axis_labels[1])
    ax.set_aspect("equal", adjustable="datalim")
    ax.grid(True, lw=0.4, alpha=0.4)
    ax.set_title(title, fontsize=10)
    if handles:
        ax.legend(handles=handles, title="label" if labels is not None else None, loc="center left",
                  bbox_to_anchor=(1.01, 0.5), fontsize=8, title_fontsize=8, frameon=False)
    return fig


def latent(model: Variant, run: C.RunInfo, x: np.ndarray, y: np.ndarray | None, *, split: str = "test",
           n: int = 5000, prior_samples: int = 0, seed: int = 0) -> tuple[Figure, dict[str, Any]]:
    """Encode the first n rows of x (posterior mean) and plot them; returns the figure and what it shows."""
    gen = torch.Generator(device=C.device_of(model)).manual_seed(seed)
    x, y = x[:n], None if y is None else y[:n]
    codes, _ = C.encode(model, x, gen)
    name = C.representation_name(model)
    w = C.heads(model)
    proj = choose_projection(codes, "(W_C y + z)" if name == "W_C y + z" else name, heads=w,
                             fixed_heads=bool(model.cfg.fixed_heads))
    prior = C.prior_draws(model, prior_samples, gen) if prior_samples > 0 else None
    d = codes.shape[1]
    what = f"{name} of {len(codes)} {split} images"
    if name == "W_C y + z":
        what = f"representation W_C y + z ({d}-D) of {len(codes)} {split} images"
    elif d != 2:
        what = f"{what} ({d}-D)"
    if proj.method == "pca":
        assert proj.explained is not None
        what += f"\nPCA projection ({100 * sum(proj.explained):.0f}% of the variance)"
    elif proj.method == "circle":
        what += "\nlinear map placing the cluster heads on a circle"
    fig = scatter_figure(proj(codes), y, proj, run.title(what),
                         None if prior is None else proj(prior), None if w is None else proj(w))
    meta: dict[str, Any] = {"points": len(codes), "split": split, "code_dim": d, "representation": name,
                            "projection": proj.method, "axis_labels": list(proj.axis_labels),
                            "labelled": y is not None, "prior_samples": int(prior_samples)}
    if proj.explained is not None:
        meta["explained_variance"] = [round(v, 4) for v in proj.explained]
    return fig, meta
