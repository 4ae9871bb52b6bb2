"""`aae viz`: every figure from real (tiny) checkpoints, the projections, determinism and refusals."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner, Result

from aae_cli.cli import viz
from aae_cli.cli.app import app as aae_app
from aae_cli.viz.figure import DPI, MAX_H, MAX_W
from aae_cli.viz.history import history_figure
from aae_cli.viz.latent import scatter_figure
from aae_cli.viz.projection import Projection, choose_projection, circle_projection, pca

TRAIN = ["--limit", "200", "--hidden", "32,32", "--set", "disc_hidden=[16]", "--batch-size", "50",
         "--epochs", "1"]
RUNS = {
    "mixture": ["--prior", "mixture", "--z-dim", "2"],
    "gauss8": ["--z-dim", "8"],
    "swiss": ["--prior", "swiss-roll", "--z-dim", "2"],
    "supervised": ["--variant", "supervised"],
    "semi": ["--variant", "semi-supervised", "--labels", "50"],
    "cluster": ["--variant", "unsup-cluster", "--clusters", "4"],
    "dimred": ["--variant", "dim-reduction", "--z-dim", "10", "--labels", "50", "--set", "fixed_heads=true"],
}
LATENT_PX = (round(7.6 * DPI), round(6.4 * DPI))  # the scatter's figure size


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Path]]:
    """Checkpoint by name, trained (1 epoch, tiny nets) the first time a test asks for it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # far faster than 2 threads on a machine busy with other work
    folder = tmp_path_factory.mktemp("viz")
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            out = folder / f"{name}.h5"
            res = CliRunner().invoke(aae_app, ["train", *RUNS[name], *TRAIN, "--out", str(out)],
                                     catch_exceptions=False)
            assert res.exit_code == 0, res.output
            made[name] = out
        return made[name]

    yield get
    torch.set_num_threads(threads)


def aae_viz(*args: str | Path) -> Result:
    return CliRunner().invoke(viz.app, [str(a) for a in args], catch_exceptions=False)


def figure(*args: str | Path) -> tuple[dict, np.ndarray]:
    """Run a viz command with --json; (its result, the PNG's pixels)."""
    res = aae_viz(*args, "--json")
    assert res.exit_code == 0, res.output
    meta = json.loads(res.output.strip().splitlines()[-1])
    return meta, np.asarray(Image.open(meta["figure"]))


def assert_drawn(px: np.ndarray) -> None:
    """A picture that fits a screen and is not blank."""
    h, w = px.shape[:2]
    assert 300 <= w <= MAX_W * DPI + 1 and 300 <= h <= MAX_H * DPI + 1, (w, h)
    assert px[..., :3].std() > 10


def one_line_error(res: Result, *words: str) -> None:
    assert res.exit_code != 0
    lines = res.output.strip().splitlines()
    assert len(lines) == 1, res.output
    assert "Traceback" not in res.output
    for w in words:
        assert w in lines[0], lines[0]


# -- projections (pure) -------------------------------------------------------------------------------
def test_circle_projection_puts_fixed_heads_on_a_circle() -> None:
    heads = 10 * np.eye(10)  # W_C = 10 I (Fig. 11d)
    p = circle_projection(heads)
    assert p.shape == (2, 10)
    xy = heads @ p.T  # (m, 2): each head mapped
    np.testing.assert_allclose(np.linalg.norm(xy, axis=1), 10.0, atol=1e-9)
    angles = np.mod(np.arctan2(xy[:, 1], xy[:, 0]), 2 * math.pi)
    np.testing.assert_allclose(angles, 2 * math.pi * np.arange(10) / 10, atol=1e-9)


def test_circle_projection_of_learned_independent_heads_is_exact() -> None:
    heads = np.random.default_rng(1).normal(size=(4, 6))
    xy = heads @ circle_projection(heads).T
    r = np.linalg.norm(heads, axis=1).mean()
    angle = 2 * math.pi * np.arange(4) / 4
    np.testing.assert_allclose(xy, r * np.stack([np.cos(angle), np.sin(angle)], 1), atol=1e-9)


def test_pca_finds_the_main_axis_and_says_so() -> None:
    rng = np.random.default_rng(0)
    direction = np.array([3.0, 0, 0, 4.0]) / 5
    codes = rng.normal(size=(500, 1)) * 10 * direction + rng.normal(size=(500, 4)) * 0.1 + 7
    proj = choose_projection(codes)
    assert proj.method == "pca" and proj.axis_labels == ("PCA 1", "PCA 2")
    np.testing.assert_allclose(proj.matrix[0], direction, atol=0.01)
    assert proj.explained is not None and proj.explained[0] > 0.99
    assert abs(proj(codes).mean(0)).max() < 1e-9  # centred
    assert np.array_equal(pca(codes).matrix, proj.matrix)  # deterministic, signed


def test_two_d_codes_are_plotted_as_they_are() -> None:
    proj = choose_projection(np.ones((3, 2)))
    assert proj.method == "identity" and proj.axis_labels == ("z[0]", "z[1]")


def test_unlabelled_scatter_has_one_colour_and_no_legend() -> None:
    xy = np.random.default_rng(0).normal(size=(50, 2))
    proj = Projection(np.eye(2), np.zeros(2), "identity", ("z[0]", "z[1]"))
    fig = scatter_figure(xy, None, proj, "t")
    ax = fig.axes[0]
    assert ax.get_legend() is None
    assert len(np.unique(ax.collections[0].get_facecolors(), axis=0)) == 1
    labelled = scatter_figure(xy, np.arange(50) % 3, proj, "t").axes[0]
    assert [t.get_text() for t in labelled.get_legend().get_texts()] == ["0", "1", "2"]


def test_history_panels_group_the_metrics() -> None:
    hist = [{"epoch": e, "step": 4 * e, "reconstruction": 90.0 / e, "discriminator": 1.38, "disc_y_acc": 0.5,
             "train_lab_error": 50.0, "val_error": 40.0, "val_recon": 80.0 / e, "seconds": 1.0}
            for e in (1, 2, 3)]
    fig, meta = history_figure(hist, "title")
    assert meta["panels"] == {"losses": ["reconstruction", "discriminator"], "accuracies": ["disc_y_acc"],
                              "errors": ["train_lab_error", "val_error"], "validation": ["val_recon"]}
    assert fig.axes[0].get_xlabel() == "epoch" and fig.axes[2].get_ylabel() == "error (%)"


# -- latent ---------------------------------------------------------------------------------------------
def test_latent_2d_mixture_with_prior_draws(run: Callable[[str], Path]) -> None:
    meta, px = figure("latent", run("mixture"), "--n", "500", "--prior-samples", "300")
    assert meta["projection"] == "identity" and meta["points"] == 500 and meta["labelled"]
    assert px.shape[1::-1] == LATENT_PX
    assert_drawn(px)
    assert Path(meta["figure"]) == run("mixture").with_name("mixture-latent.png")  # default: beside it


def test_latent_of_8d_codes_is_a_labelled_pca(run: Callable[[str], Path], tmp_path: Path) -> None:
    meta, px = figure("latent", run("gauss8"), "--n", "500", "--out", tmp_path / "pca.png")
    assert meta["projection"] == "pca" and meta["axis_labels"] == ["PCA 1", "PCA 2"] and meta["code_dim"] == 8
    assert px.shape[1::-1] == LATENT_PX
    assert_drawn(px)


def test_latent_dim_reduction_uses_the_circle_map(run: Callable[[str], Path], tmp_path: Path) -> None:
    meta, px = figure("latent", run("dimred"), "--n", "300", "--prior-samples", "200",
                      "--out", tmp_path / "dr.png")
    assert meta["projection"] == "circle" and meta["representation"] == "W_C y + z"
    assert_drawn(px)


def test_latent_is_deterministic_per_seed(run: Callable[[str], Path], tmp_path: Path) -> None:
    args = ("latent", run("mixture"), "--n", "200", "--prior-samples", "200")
    a = figure(*args, "--out", tmp_path / "a.png")[1]
    b = figure(*args, "--out", tmp_path / "b.png")[1]
    c = figure(*args, "--seed", "1", "--out", tmp_path / "c.png")[1]
    assert np.array_equal(a, b)
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert not np.array_equal(a, c)  # other prior draws


# -- manifold ---------------------------------------------------------------------------------------------
def test_manifold_of_mixture_components(run: Callable[[str], Path], tmp_path: Path) -> None:
    meta, px = figure("manifold", run("mixture"), "--components", "0,1,2", "--out", tmp_path / "m.png")
    assert meta["kind"] == "mixture" and meta["components"] == [0, 1, 2] and meta["images"] == 3 * 10 * 10
    assert_drawn(px)


def test_manifold_along_chosen_axes_of_a_gaussian(run: Callable[[str], Path], tmp_path: Path) -> None:
    meta, px = figure("manifold", run("gauss8"), "--axes", "2,5", "--n", "8", "--out", tmp_path / "g.png")
    assert meta["kind"] == "percentiles" and meta["axes"] == [2, 5] and meta["images"] == 64
    assert_drawn(px)


def test_manifold_walks_the_swiss_roll(run: Callable[[str], Path], tmp_path: Path) -> None:
    meta, px = figure("manifold", run("swiss"), "--n", "6", "--out", tmp_path / "s.png")
    assert meta["kind"] == "swiss-roll" and meta["images"] == 36
    assert_drawn(px)


@pytest.mark.parametrize("name", ["supervised", "semi", "cluster"])
def test_style_manifold_of_one_class(run: Callable[[str], Path], tmp_path: Path, name: str) -> None:
    meta, px = figure("manifold", run(name), "--label", "3", "--n", "6", "--out", tmp_path / "c.png")
    assert meta["label"] == 3
    assert_drawn(px)


def test_manifold_rejects_options_that_do_not_apply(run: Callable[[str], Path]) -> None:
    one_line_error(aae_viz("manifold", run("gauss8"), "--axes", "0,9"), "--axes", "0..7")
    one_line_error(aae_viz("manifold", run("gauss8"), "--label", "1"), "--label")
    one_line_error(aae_viz("manifold", run("mixture"), "--components", "12"), "--components")


# -- style and clusters -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["supervised", "semi"])
def test_style_grid_is_seeded(run: Callable[[str], Path], tmp_path: Path, name: str) -> None:
    meta, a = figure("style", run(name), "--rows", "4", "--out", tmp_path / "a.png")
    assert meta["rows"] == 4 and meta["classes"] == 10 and meta["images"] == 40
    assert_drawn(a)
    b = figure("style", run(name), "--rows", "4", "--out", tmp_path / "b.png")[1]
    c = figure("style", run(name), "--rows", "4", "--seed", "7", "--out", tmp_path / "c.png")[1]
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_style_refuses_a_model_without_class_input(run: Callable[[str], Path]) -> None:
    one_line_error(aae_viz("style", run("gauss8")), "style grids need a model with a class input",
                   "is unsupervised")
    one_line_error(aae_viz("style", run("cluster")), "is unsup-cluster")


def test_clusters_of_unsup_cluster(run: Callable[[str], Path], tmp_path: Path) -> None:
    meta, px = figure("clusters", run("cluster"), "--per-row", "5", "--out", tmp_path / "k.png")
    assert meta["clusters"] == 4 and sum(meta["sizes"]) == meta["images"] == 10000
    assert_drawn(px)


def test_clusters_refuses_other_models(run: Callable[[str], Path]) -> None:
    one_line_error(aae_viz("clusters", run("supervised")), "unsupervised clustering model", "supervised")
    one_line_error(aae_viz("clusters", run("dimred")), "trained with labels")


# -- history ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["mixture", "dimred"])
def test_history_of_a_run(run: Callable[[str], Path], tmp_path: Path, name: str) -> None:
    meta, px = figure("history", run(name), "--out", tmp_path / "h.png")
    assert meta["epochs"] == 1 and "reconstruction" in meta["panels"]["losses"]
    assert ("errors" in meta["panels"]) == (name == "dimred")
    assert px.shape[1::-1] == (round(8 * DPI), round(7 * DPI))  # 2 x 2 panels
    assert_drawn(px)


def test_unwritable_out_is_one_line(run: Callable[[str], Path], tmp_path: Path) -> None:
    one_line_error(aae_viz("history", run("mixture"), "--out", tmp_path / "h.jpg"), ".png")
