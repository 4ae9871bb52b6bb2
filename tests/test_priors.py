"""Prior samplers: statistics, label-to-component mapping, file-backed priors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from aae_cli.errors import ConfigError
from aae_cli.priors import build_prior, prior_names


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_registry_lists_the_paper_priors() -> None:
    assert {"gaussian", "mixture", "swiss-roll"} <= set(prior_names())


def test_gaussian_mean_and_std() -> None:
    z = build_prior("gaussian", 8, std=5.0).sample(50_000, gen())
    assert z.shape == (50_000, 8)
    assert z.mean(0).abs().max() < 0.1
    assert torch.allclose(z.std(0), torch.full((8,), 5.0), atol=0.1)


def test_mixture_labels_select_their_component() -> None:
    prior = build_prior("mixture", 2, k=10)
    means = prior.means()
    for c in (0, 3, 9):
        z = prior.sample(4000, gen(c), labels=torch.full((4000,), c))
        assert torch.allclose(z.mean(0), means[c], atol=0.1)
        # every draw is nearer its own centre than any other centre
        nearest = torch.cdist(z, means).argmin(1)
        assert (nearest == c).float().mean() > 0.97


def test_mixture_unlabelled_draws_cover_all_components_evenly() -> None:
    prior = build_prior("mixture", 2, k=10)
    z = prior.sample(20_000, gen(), labels=torch.full((20_000,), -1))
    counts = torch.bincount(torch.cdist(z, prior.means()).argmin(1), minlength=10).float()
    assert counts.min() / counts.max() > 0.85
    # radial spread is wider than the tangential one (the petal shape of Fig. 2b)
    comp0 = prior.sample(5000, gen(1), labels=torch.zeros(5000, dtype=torch.long))
    assert comp0[:, 0].std() > 2 * comp0[:, 1].std()


def test_swiss_roll_segments_follow_the_roll_in_label_order() -> None:
    prior = build_prior("swiss-roll", 2, k=10)
    radii = []
    for c in range(10):
        z = prior.sample(2000, gen(c), labels=torch.full((2000,), c))
        radii.append(float(z.norm(dim=1).mean()))
        # segment c covers t in [c/10, (c+1)/10): its radius scale*sqrt(t) lies in that band (plus noise)
        lo, hi = prior.scale * math.sqrt(c / 10), prior.scale * math.sqrt((c + 1) / 10)
        assert lo - 0.3 < radii[-1] < hi + 0.3
    assert radii == sorted(radii)


def test_priors_reject_labels_without_components_and_wrong_dims() -> None:
    with pytest.raises(ValueError):
        build_prior("gaussian", 2).sample(5, gen(), labels=torch.zeros(5, dtype=torch.long))
    with pytest.raises(ConfigError, match="z-dim 2"):
        build_prior("mixture", 8)
    with pytest.raises(ConfigError, match="valid priors"):
        build_prior("banana", 2)


def test_file_prior_samples_rows_of_the_file(tmp_path) -> None:
    rows = np.array([[0.0, 0.0], [10.0, 10.0], [20.0, -5.0]], dtype=np.float32)
    path = tmp_path / "prior.npz"
    np.savez(path, z=rows, labels=np.array([0, 1, 1]))
    prior = build_prior(str(path), 2)
    z = prior.sample(500, gen()).numpy()
    assert {tuple(r) for r in z} == {tuple(r) for r in rows}
    z1 = prior.sample(200, gen(), labels=torch.ones(200, dtype=torch.long)).numpy()
    assert {tuple(r) for r in z1} == {tuple(r) for r in rows[1:]}
    # stored arrays rebuild the same prior without the file
    again = build_prior("ignored", 2, arrays=prior.arrays())
    assert torch.equal(again.sample(50, gen(3)), prior.sample(50, gen(3)))


def test_file_prior_of_wrong_shape_is_refused(tmp_path) -> None:
    path = tmp_path / "bad.npy"
    np.save(path, np.zeros((10, 3), dtype=np.float32))
    with pytest.raises(ConfigError, match=r"\(M, 2\)"):
        build_prior(str(path), 2)
