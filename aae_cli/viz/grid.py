"""Image grids with Pillow (no plotting library needed for pictures of digits)."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image


def to_images(x: np.ndarray, shape: tuple[int, int, int], unit_range: bool = True) -> np.ndarray:
    """(N, D) rows -> (N, H, W, C) uint8; values outside [0, 1] are min-max scaled for display."""
    c, h, w = shape
    imgs = x.reshape(-1, c, h, w).transpose(0, 2, 3, 1).astype(np.float32)
    if not unit_range:
        lo, hi = float(imgs.min()), float(imgs.max())
        imgs = (imgs - lo) / max(hi - lo, 1e-8)
    return (np.clip(imgs, 0, 1) * 255 + 0.5).astype(np.uint8)


def grid(images: np.ndarray, ncol: int | None = None, pad: int = 2, pad_value: int = 255,
         min_width: int = 560, group: int = 1, group_gap: int = 6) -> Image.Image:
    """(N, H, W, C) uint8 -> one picture, `ncol` images a row (square by default).

    group > 1 puts a wider gap after every `group` columns (sample | nearest pairs).
    """
    n, h, w, c = images.shape
    ncol = ncol or math.ceil(math.sqrt(n))
    nrow = math.ceil(n / ncol)
    gaps = [pad + (group_gap if group > 1 and j % group == 0 and j else 0) for j in range(ncol)]
    width = sum(gaps) + ncol * w + pad
    canvas = np.full((nrow * (h + pad) + pad, width, c), pad_value, np.uint8)
    for i in range(n):
        r, j = divmod(i, ncol)
        x0 = sum(gaps[: j + 1]) + j * w
        y0 = pad + r * (h + pad)
        canvas[y0:y0 + h, x0:x0 + w] = images[i]
    img = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    scale = max(1, min_width // width)
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST) if scale > 1 else img
