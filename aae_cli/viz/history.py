"""Training curves from a checkpoint's per-epoch history: one panel per group of metrics."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from aae_cli.errors import AAEError
from aae_cli.viz.figure import new_figure

PHASE_ORDER = ("reconstruction", "elbo", "recon", "kl", "discriminator", "generator", "classification")
NOT_PLOTTED = {"epoch", "step", "lr_scale", "seconds", "images_per_s"}

# panel title, y label, y scale
PANELS = {
    "losses": ("training losses, per phase (mean over the epoch)", "loss", "log"),
    "accuracies": ("discriminator accuracies", "accuracy", "linear"),
    "errors": ("classification errors", "error (%)", "linear"),
    "validation": ("held-out reconstruction cost", "½‖x̂ − x‖² per image", "linear"),
}


def group_keys(history: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Metric keys by panel, in first-seen order; panels without keys are left out."""
    keys: list[str] = []
    for rec in history:
        keys += [k for k, v in rec.items() if k not in NOT_PLOTTED and k not in keys
                 and isinstance(v, int | float) and not isinstance(v, bool)]
    rank = {k: i for i, k in enumerate(PHASE_ORDER)}
    keys.sort(key=lambda k: rank.get(k, len(rank)))  # phases in the order they run, then the rest
    groups: dict[str, list[str]] = {name: [] for name in PANELS}
    for k in keys:
        if k.endswith("_acc"):
            groups["accuracies"].append(k)
        elif "error" in k:
            groups["errors"].append(k)
        elif k.startswith(("val_", "test_")):
            groups["validation"].append(k)
        else:
            groups["losses"].append(k)
    return {name: ks for name, ks in groups.items() if ks}


def series(history: list[dict[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """(epochs, values) where the key was recorded."""
    pts = [(float(r.get("epoch", i + 1)), float(r[key])) for i, r in enumerate(history)
           if isinstance(r.get(key), int | float)]
    arr = np.array(pts, dtype=np.float64).reshape(-1, 2)
    return arr[:, 0], arr[:, 1]


def history_figure(history: list[dict[str, Any]], title: str) -> tuple[Figure, dict[str, Any]]:
    """Pure: the history records in, the figure and the keys of each panel out."""
    if not history:
        raise AAEError("the checkpoint has no training history yet (no epoch finished)")
    groups = group_keys(history)
    if not groups:
        raise AAEError("the checkpoint's history has no metrics to plot")
    n = len(groups)
    cols = 1 if n == 1 else 2
    rows = math.ceil(n / cols)
    fig = new_figure(8.0, 1.0 + 3.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    marker = "o" if len(history) <= 40 else None
    for ax, (name, keys) in zip(axes, groups.items(), strict=False):
        panel_title, ylabel, scale = PANELS[name]
        values = []
        for k in keys:
            x, y = series(history, k)
            values.append(y)
            ax.plot(x, y, marker=marker, ms=3, lw=1.4, label=k)
        finite = np.concatenate(values)
        finite = finite[np.isfinite(finite)]
        if scale == "log" and len(finite):
            if (finite > 0).all():
                ax.set_yscale("log")
            else:
                ax.set_yscale("symlog", linthresh=1e-2)
        if name == "accuracies":
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(panel_title, fontsize=9)
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, lw=0.4, alpha=0.5)
        ax.legend(fontsize=7, loc="best")
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(title, fontsize=10)
    return fig, {"epochs": len(history), "panels": groups}
