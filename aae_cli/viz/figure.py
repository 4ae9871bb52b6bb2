"""Matplotlib plumbing shared by every figure: Agg-only figures (no pyplot state), titles, image panels and
deterministic PNG files (no timestamp or version in the bytes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from aae_cli.errors import AAEError
from aae_cli.viz.grid import grid

DPI = 110
MAX_W, MAX_H = 8.0, 8.5  # inches: fits a laptop screen at DPI

# No "Software" (matplotlib version) and no creation time: the same figure gives the same bytes.
PNG_METADATA: dict[str, Any] = {"Software": None}


def new_figure(width: float, height: float, layout: str | None = "constrained") -> Figure:
    """A figure bound to the Agg canvas directly: nothing touches pyplot's global state or a display."""
    fig = Figure(figsize=(min(width, MAX_W), min(height, MAX_H)), dpi=DPI, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise AAEError(f"--out must name a .png file, got {path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png", dpi=DPI, metadata=PNG_METADATA)
    except OSError as e:
        raise AAEError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def render(fig: Figure) -> np.ndarray:
    """(H, W, 4) uint8 pixels of the figure as it would be saved (for tests and checks)."""
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def grid_array(images: np.ndarray, ncol: int, pad: int = 2) -> np.ndarray:
    """(N, H, W, C) uint8 -> one (H', W'[, 3]) uint8 picture, white gaps, no upscaling (matplotlib scales)."""
    return np.asarray(grid(images, ncol=ncol, pad=pad, min_width=0))


def cell_centres(n: int, size: int, pad: int = 2) -> np.ndarray:
    """Pixel centre of each of n cells along one side of a `grid_array` picture."""
    return pad + np.arange(n) * (size + pad) + (size - 1) / 2


def show_image(ax: Axes, picture: np.ndarray) -> None:
    """An image grid in an axes: grey for one channel, no ticks, no frame."""
    if picture.ndim == 2:
        ax.imshow(picture, cmap="gray", vmin=0, vmax=255, interpolation="antialiased")
    else:
        ax.imshow(picture, interpolation="antialiased")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)


def image_figure_size(picture_hw: tuple[int, int], cols: int = 1, extra_h: float = 1.0,
                      extra_w: float = 0.7, min_w: float = 5.0) -> tuple[float, float]:
    """Inches for `cols` side-by-side pictures of (h, w) pixels (about 2 screen pixels per image pixel)
    plus room for the title and labels, shrunk as a whole to fit MAX_W x MAX_H."""
    h, w = picture_hw
    width, height = cols * w * 2 / DPI, h * 2 / DPI
    shrink = min(1.0, (MAX_W - extra_w) / width, (MAX_H - extra_h) / height)
    return max(min_w, width * shrink + extra_w), height * shrink + extra_h
