"""aae eval samples: FD, KD, precision/recall against closed forms and hand-built sets; the shipped
feature classifier (accuracy, checksum); the command end to end."""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import typer
from scipy.spatial.distance import cdist
from typer.testing import CliRunner, Result

from aae_cli.cli.eval_samples import samples
from aae_cli.errors import AAEError
from aae_cli.metrics.feature_net import (
    FEATURE_DIM,
    WEIGHTS_PATH,
    WEIGHTS_SHA256,
    compute_features,
    load_feature_net,
)
from aae_cli.metrics.sample_quality import (
    frechet_distance,
    kernel_distance,
    knn_radii,
    precision_recall,
)

# ---------------------------------------------------------------- Fréchet distance


def _gaussian(n: int, d: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d)) / np.sqrt(d)
    return rng.normal(size=(n, d)) @ a + rng.normal(size=d)  # correlated, non-zero mean


def test_fd_identical_sets_is_zero() -> None:
    f = _gaussian(2000, 16, 0)
    assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-8)


def test_fd_of_a_mean_shift_is_its_squared_norm() -> None:
    """Same covariance S: Tr(2S - 2 sqrtm(S S)) = 0, so FD(f, f + c) = ||c||^2 exactly."""
    f = _gaussian(2000, 16, 1)
    c = np.linspace(-1.0, 1.0, 16)
    fds = [frechet_distance(f, f + t * c) for t in (0.5, 1.0, 2.0)]
    for t, fd in zip((0.5, 1.0, 2.0), fds, strict=True):
        assert fd == pytest.approx(t * t * float(c @ c), rel=1e-6)
    assert fds[0] < fds[1] < fds[2]


def test_fd_between_gaussians_matches_the_closed_form() -> None:
    """Isotropic N(0, I) vs N(m, s^2 I) in d dims: FD = ||m||^2 + d (1 - s)^2."""
    rng = np.random.default_rng(2)
    d, s = 8, 2.0
    f1, f2 = rng.normal(size=(20000, d)), 1.0 + s * rng.normal(size=(20000, d))
    assert frechet_distance(f1, f2) == pytest.approx(d * 1.0 + d * (1 - s) ** 2, rel=0.03)


def test_fd_with_a_dead_feature_is_finite_and_quiet() -> None:
    f = _gaussian(1000, 8, 3)
    f[:, 0] = 0.0  # a ReLU unit that never fires: singular covariance
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert frechet_distance(f, f) == pytest.approx(0.0, abs=1e-6)
        assert frechet_distance(f, f + 1.0) == pytest.approx(8.0, rel=1e-5)


# ---------------------------------------------------------------- kernel distance


def test_kd_near_zero_for_one_law_and_positive_for_a_shift() -> None:
    f = _gaussian(4000, 16, 4)
    same, same_std = kernel_distance(f[:2000], f[2000:], subsets=20, subset_size=500)
    shifted, shifted_std = kernel_distance(f[:2000], f[2000:] + 0.5, subsets=20, subset_size=500)
    assert abs(same) < 3 * max(same_std, 1e-12) and abs(same) < 0.05 * shifted
    assert shifted > 10 * shifted_std > 0
    # Subsets as large as both sets: one exact value, std 0.
    assert kernel_distance(f[:500], f[500:1000], subset_size=1000)[1] == 0.0
    # Seeded: the same subsets every time.
    assert kernel_distance(f[:2000], f[2000:], subsets=5, subset_size=100, seed=7) == \
        kernel_distance(f[:2000], f[2000:], subsets=5, subset_size=100, seed=7)


# ---------------------------------------------------------------- precision and recall


def _modes(n_per: int, seed: int, d: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """10 unit Gaussians 100 apart on a circle: points and their mode ids."""
    rng = np.random.default_rng(seed)
    angle = np.arange(10) * 2 * np.pi / 10
    centres = np.zeros((10, d))
    centres[:, 0], centres[:, 1] = 100 * np.cos(angle), 100 * np.sin(angle)
    mode = np.repeat(np.arange(10), n_per)
    return centres[mode] + rng.normal(size=(10 * n_per, d)), mode


def test_precision_recall_on_hand_built_sets() -> None:
    real, mode = _modes(200, 5)
    assert precision_recall(real, real) == (1.0, 1.0)
    assert precision_recall(real, real + 1000.0) == (0.0, 0.0)
    # Exact copies of half the modes: everything fake is real, half the real is covered.
    assert precision_recall(real, real[mode < 5]) == (1.0, 0.5)
    # Fresh draws: from the same law, both ~1; from half the modes, precision ~1 and recall ~0.5.
    fresh, fresh_mode = _modes(200, 6)
    p, r = precision_recall(real, fresh)
    assert p > 0.9 and r > 0.9
    p, r = precision_recall(real, fresh[fresh_mode < 5])
    assert p > 0.9 and 0.4 < r <= 0.5


def test_precision_recall_chunks_agree_with_brute_force() -> None:
    rng = np.random.default_rng(8)
    real, fake = rng.normal(size=(300, 5)), 0.3 + rng.normal(size=(250, 5))
    d = cdist(real, real, "sqeuclidean")
    np.testing.assert_allclose(knn_radii(real, k=3, chunk=7).numpy(), np.sort(d, 1)[:, 3], rtol=1e-9,
                               atol=1e-9)
    r_fake = np.sort(cdist(fake, fake, "sqeuclidean"), 1)[:, 3]
    precision = np.mean((cdist(fake, real, "sqeuclidean") <= np.sort(d, 1)[:, 3][None, :]).any(1))
    recall = np.mean((cdist(real, fake, "sqeuclidean") <= r_fake[None, :]).any(1))
    assert precision_recall(real, fake, k=3, chunk=7) == pytest.approx((precision, recall))
    assert precision_recall(real, fake, k=3, chunk=7) == precision_recall(real, fake, k=3, chunk=1000)


# ---------------------------------------------------------------- the shipped classifier


@pytest.fixture(scope="module")
def mnist():
    from aae_cli.data import load_dataset

    return load_dataset("mnist")


def test_shipped_feature_net_classifies_mnist(mnist) -> None:
    assert WEIGHTS_PATH.stat().st_size < 1_500_000
    net = load_feature_net("cpu")
    x, y = mnist.test.x[:1000], mnist.test.y[:1000]
    import torch

    from aae_cli.data import to_float32

    with torch.no_grad():
        pred = net(torch.from_numpy(to_float32(x))).argmax(1).numpy()
    assert np.mean(pred == y) > 0.97
    f = compute_features(net, x[:10])
    assert f.shape == (10, FEATURE_DIM) and f.dtype == np.float64 and (f >= 0).all()


def test_a_changed_weights_file_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "feature_net_mnist.npz"
    shutil.copyfile(WEIGHTS_PATH, bad)
    raw = bytearray(bad.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(AAEError, match=r"sha256.*changed or corrupted"):
        load_feature_net("cpu", path=bad)
    with pytest.raises(AAEError, match="missing"):
        load_feature_net("cpu", path=tmp_path / "nothing.npz")


# ---------------------------------------------------------------- the command


@pytest.fixture
def eval_samples() -> Callable[..., Result]:
    """`aae eval samples` in-process (a stand-alone app, so this test does not depend on registration)."""
    app = typer.Typer()
    app.command("samples")(samples)

    @app.callback()
    def _group() -> None:
        pass

    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["samples", *map(str, args)], catch_exceptions=False)


def _finite(block: dict) -> bool:
    return all(np.isfinite(block[k]) for k in ("fd", "kd", "kd_std", "precision", "recall"))


def test_cli_on_a_checkpoint(tiny_run: Path, eval_samples: Callable[..., Result]) -> None:
    res = eval_samples(tiny_run, "--n", "300", "--json", "--device", "cpu")
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["n"] == 300 and r["seed"] == 0 and r["feature_net"] == WEIGHTS_SHA256[:12]
    assert _finite(r["samples"]) and _finite(r["reference"])
    assert r["reference"]["precision"] > 0.5 and r["reference"]["recall"] > 0.5
    # A model trained for 2 epochs on 300 images is far from the data; real-vs-real is close.
    assert r["samples"]["fd"] > r["reference"]["fd"]
    table = eval_samples(tiny_run, "--n", "300", "--device", "cpu")
    assert table.exit_code == 0, table.output
    assert "validation vs test (reference)" in table.stdout and "recall" in table.stdout


def test_cli_samples_file(tmp_path: Path, mnist, eval_samples: Callable[..., Result]) -> None:
    np.save(tmp_path / "real.npy", mnist.train.x[:300].astype(np.float32) / 255)
    np.save(tmp_path / "noise.npy", np.random.default_rng(0).random((300, 784), dtype=np.float32))
    out = {}
    for name in ("real", "noise"):
        res = eval_samples("--samples-file", tmp_path / f"{name}.npy", "--json")
        assert res.exit_code == 0, res.output
        out[name] = json.loads(res.stdout)
    assert out["real"]["n"] == 300 and out["real"]["reference"] == out["noise"]["reference"]
    assert 10 * out["real"]["samples"]["fd"] < out["noise"]["samples"]["fd"]
    assert 10 * abs(out["real"]["samples"]["kd"]) < out["noise"]["samples"]["kd"]
    assert out["real"]["samples"]["recall"] > 0.5 > out["noise"]["samples"]["recall"]
    # Not precision: noise features collapse to one small region, which the k-NN ball of a single
    # faint real digit can cover (a known weakness of k-NN precision), so noise may score high on it.


def test_cli_bad_input_is_one_line(tmp_path: Path, eval_samples: Callable[..., Result],
                                   aae: Callable[..., Result]) -> None:
    np.save(tmp_path / "wrong.npy", np.zeros((50, 100), np.float32))
    for args, words in [
        (("--samples-file", tmp_path / "wrong.npy"), "shape (50, 100)"),
        ((), "CHECKPOINT"),
        (("--samples-file", tmp_path / "none.npy"), "no such file"),
    ]:
        res = eval_samples(*args)
        assert res.exit_code == 2 and words in res.output and len(res.output.strip().splitlines()) == 1, \
            res.output
    # A model of data that is not MNIST-shaped.
    np.save(tmp_path / "small.npy", np.random.default_rng(0).random((60, 16), dtype=np.float32))
    ck = tmp_path / "small.h5"
    assert aae("train", "--dataset", tmp_path / "small.npy", "--epochs", "1", "--hidden", "8,8",
               "--set", "disc_hidden=[8,8]", "--batch-size", "20", "--out", ck).exit_code == 0
    res = eval_samples(ck, "--n", "20")
    assert res.exit_code == 2 and "MNIST-shaped" in res.output and len(res.output.strip().splitlines()) == 1
