"""Decoded images on a grid of the prior (paper Fig. 2e: Gaussian percentiles along two axes of z; Fig. 4b:
along each mixture component's own axes; Fig. 4d: a walk along the swiss roll's axis)."""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import torch
from matplotlib.figure import Figure

from aae_cli.errors import AAEError
from aae_cli.priors.gaussian import GaussianPrior
from aae_cli.priors.mixture import MixturePrior
from aae_cli.priors.swiss_roll import SwissRollPrior
from aae_cli.variants import Variant
from aae_cli.viz import codes as C
from aae_cli.viz.figure import cell_centres, grid_array, image_figure_size, new_figure, show_image
from aae_cli.viz.grid import to_images

P_LO, P_HI = 0.05, 0.95  # the percentile range of the grid
_EMPIRICAL_DRAWS = 20000  # priors known only by samples: their per-axis mean and std from this many


def percentiles(n: int, lo: float = P_LO, hi: float = P_HI) -> np.ndarray:
    """(n,) standard-normal quantiles Phi^-1(p) of n percentiles evenly spaced in [lo, hi]."""
    nd = NormalDist()
    return np.array([nd.inv_cdf(p) for p in np.linspace(lo, hi, n)])


def plane_grid(q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n*n,) u and v of an n x n image grid, row-major: u grows to the right, v grows upwards."""
    n = len(q)
    return np.tile(q, n), np.repeat(q[::-1], n)


@dataclass
class Panel:
    title: str
    z: np.ndarray  # (rows * cols, z_dim) codes to decode, row-major
    cols: int
    xlabel: str = ""
    ylabel: str = ""
    row_labels: list[str] | None = None  # a tick label per row of images


def gaussian_panel(z_dim: int, axes: tuple[int, int], n: int, mean: np.ndarray, std: np.ndarray) -> Panel:
    """z_a, z_b = mean + std * Phi^-1(p) on the grid; every other coordinate at its mean (0 for N(0, s^2))."""
    a, b = axes
    u, v = plane_grid(percentiles(n))
    z = np.tile(mean, (n * n, 1))
    z[:, a] = mean[a] + std[a] * u
    z[:, b] = mean[b] + std[b] * v
    span = f"percentiles {P_LO:.0%} → {P_HI:.0%}"
    return Panel("", z, n, f"z[{a}]: {z[0, a]:.3g} → {z[-1, a]:.3g}  ({span}, left → right)",
                 f"z[{b}]: {z[-1, b]:.3g} → {z[0, b]:.3g}  ({span}, bottom → top)")


def mixture_panel(prior: MixturePrior, component: int, n: int) -> Panel:
    """Percentiles along component i's own axes: radial (columns, outwards to the right), tangential
    (rows)."""
    k = prior.n_components
    angle = 2 * np.pi * component / k
    radial, tangential = np.array([np.cos(angle), np.sin(angle)]), np.array([-np.sin(angle), np.cos(angle)])
    u, v = plane_grid(percentiles(n))
    centre = prior.radius * radial
    z = centre + (prior.radial_std * u)[:, None] * radial + (prior.tangential_std * v)[:, None] * tangential
    return Panel(f"component {component}", z, n, "radial: inner → outer", "tangential")


def swiss_roll_walk(prior: SwissRollPrior, n: int) -> Panel:
    """n rows of n images at evenly spaced positions t in [0, 1] along the roll's axis, row by row."""
    t = torch.linspace(0.0, 1.0, n * n)
    z = prior.point(t).numpy().astype(np.float64)
    rows = [f"t = {float(t[r * n]):.2f}" for r in range(n)]
    return Panel("", z, n, "walk along the swiss roll axis: t = 0 (top left) → 1 (bottom right), row by row",
                 row_labels=rows)


def parse_components(components: tuple[int, ...] | None, k: int) -> tuple[int, ...]:
    chosen = components if components is not None else tuple(range(min(3, k)))
    bad = [c for c in chosen if not 0 <= c < k]
    if bad or not chosen:
        raise AAEError(f"--components must name mixture components in 0..{k - 1}, got "
                       f"{','.join(map(str, chosen)) or 'none'}")
    return tuple(dict.fromkeys(chosen))


def prior_moments(model: Variant, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Per-axis mean and std of p(z): exact for the Gaussian prior, from seeded draws for any other."""
    prior = model.priors["z"]
    d = model.cfg.z_dim
    if isinstance(prior, GaussianPrior):
        return np.zeros(d), np.full(d, float(prior.std)), f"N(0, {prior.std:g}² I)"
    gen = torch.Generator().manual_seed(seed)
    draws = prior.sample(_EMPIRICAL_DRAWS, gen).double().cpu().numpy()
    return draws.mean(0), draws.std(0), f"{prior.name} prior (mean, std of {_EMPIRICAL_DRAWS} draws)"


def manifold(model: Variant, run: C.RunInfo, *, n: int | None = None, axes: tuple[int, int] | None = None,
             components: tuple[int, ...] | None = None, label: int | None = None,
             seed: int = 0) -> tuple[Figure, dict[str, Any]]:
    """n images a side (default 20; 10 when a mixture figure has several panels side by side)."""
    prior = model.priors["z"]
    if n is None:
        mixture = isinstance(prior, MixturePrior)
        n = 10 if mixture and len(parse_components(components, prior.n_components)) > 1 else 20
    if not 2 <= n <= 60:
        raise AAEError(f"--n must be between 2 and 60 images a side, got {n}")
    decode = C.decoder_for(model, label)  # checks --label
    k_in = C.class_inputs(model)
    label = (0 if label is None else label) if k_in is not None else None
    d = model.cfg.z_dim
    meta: dict[str, Any] = {"grid": n, "z_dim": d}
    if isinstance(prior, MixturePrior):
        if axes is not None:
            raise AAEError("--axes does not apply to a mixture prior: its panels follow each component's "
                           "own axes (choose them with --components)")
        chosen = parse_components(components, prior.n_components)
        panels = [mixture_panel(prior, c, n) for c in chosen]
        what = (f"manifold of mixture component{'s' if len(chosen) > 1 else ''} "
                f"{', '.join(map(str, chosen))}: Gaussian percentiles {P_LO:.0%}-{P_HI:.0%} along "
                "each component's axes")
        meta.update(kind="mixture", components=list(chosen))
    else:
        if components is not None:
            raise AAEError(f"--components applies to a mixture prior, not the {prior.name} prior")
        if isinstance(prior, SwissRollPrior):
            if axes is not None:
                raise AAEError("--axes does not apply to the swiss roll prior: its figure walks the roll's "
                               "axis")
            panels = [swiss_roll_walk(prior, n)]
            what = "images along the swiss roll's axis"
            meta.update(kind="swiss-roll")
        else:
            if d < 2:
                raise AAEError(f"a 2-D manifold needs a code of at least 2 dimensions; z has {d}")
            axes = axes if axes is not None else (0, 1)
            if len(axes) != 2 or axes[0] == axes[1] or not all(0 <= a < d for a in axes):
                raise AAEError(f"--axes needs two different dimensions of z in 0..{d - 1}, got "
                               f"{','.join(map(str, axes))}")
            mean, std, desc = prior_moments(model, seed)
            panels = [gaussian_panel(d, axes, n, mean, std)]
            others = " (other dims at the prior mean)" if d > 2 else ""
            what = (f"manifold of z[{axes[0]}], z[{axes[1]}]{others}: percentiles {P_LO:.0%}-{P_HI:.0%} "
                    f"of {desc}")
            meta.update(kind="percentiles", axes=list(axes))
    if label is not None:
        what = what.replace("manifold of", "style manifold of", 1) + f"; class input y = {label}"
        meta["label"] = label
    shape, unit = model.info.image_shape, model.info.unit_range
    dev = C.device_of(model)
    pictures = []
    for p in panels:
        x = decode(torch.from_numpy(p.z.astype(np.float32)).to(dev)).numpy()
        pictures.append(grid_array(to_images(x, shape, unit), ncol=p.cols))
    h, w = pictures[0].shape[:2]
    fig = new_figure(*image_figure_size((h, w), cols=len(pictures), extra_h=1.3))
    for i, (p, pic) in enumerate(zip(panels, pictures, strict=True)):
        ax = fig.add_subplot(1, len(panels), i + 1)
        show_image(ax, pic)
        if p.title:
            ax.set_title(p.title, fontsize=9)
        ax.set_xlabel(p.xlabel, fontsize=8)
        ax.set_ylabel(p.ylabel, fontsize=8)
        if p.row_labels:
            centres = cell_centres(len(p.row_labels), model.info.image_shape[1])
            ax.set_yticks(centres, p.row_labels, fontsize=7)
            ax.tick_params(axis="y", length=0)
    fig.suptitle(run.title(what), fontsize=10)
    meta["images"] = sum(len(p.z) for p in panels)
    return fig, meta
