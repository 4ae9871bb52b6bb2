"""The real commands end to end on small data, and every bad input getting one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aae_cli.checkpoint import load_checkpoint
from tests.conftest import TINY, one_line_error


def test_train_then_sample(aae, tiny_run: Path, tmp_path: Path) -> None:
    grid, npy = tmp_path / "grid.png", tmp_path / "s.npy"
    res = aae("sample", tiny_run, "--n", "16", "--out", grid, "--npy", npy, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["grid"] == str(grid)
    samples = np.load(npy)
    assert samples.shape == (16, 784) and samples.min() >= 0 and samples.max() <= 1
    img = np.asarray(Image.open(grid))
    assert img.shape[0] > 100 and img.std() > 10  # a 4x4 grid, not blank
    # same seed, same samples; another seed, other samples
    again = tmp_path / "again.npy"
    aae("sample", tiny_run, "--n", "16", "--out", grid, "--npy", again)
    assert np.array_equal(np.load(again), samples)
    aae("sample", tiny_run, "--n", "16", "--out", grid, "--npy", again, "--seed", "1")
    assert not np.array_equal(np.load(again), samples)


def test_sample_nearest_pairs_each_sample_with_a_training_image(aae, tiny_run: Path, tmp_path: Path) -> None:
    plain, paired = tmp_path / "plain.png", tmp_path / "paired.png"
    assert aae("sample", tiny_run, "--n", "9", "--out", plain).exit_code == 0
    res = aae("sample", tiny_run, "--n", "9", "--out", paired, "--nearest")
    assert res.exit_code == 0, res.output
    w_plain, w_paired = Image.open(plain).size[0], Image.open(paired).size[0]
    assert w_paired > 1.5 * w_plain or Image.open(paired).size[1] < Image.open(plain).size[1]


def test_config_file_and_flags(aae, tmp_path: Path) -> None:
    cfg = tmp_path / "run.toml"
    cfg.write_text('[train]\nz_dim = 2\nprior = "mixture"\nepochs = 1\nhidden = [32, 32]\nlimit = 100\n'
                   'disc_hidden = [16]\n')
    out = tmp_path / "m.h5"
    res = aae("train", "--config", cfg, "--epochs", "2", "--out", out)
    assert res.exit_code == 0, res.output
    ck = load_checkpoint(out)
    assert ck.config["prior"] == "mixture" and ck.config["z_dim"] == 2
    assert ck.epoch == 2  # the flag wins over the file


@pytest.mark.parametrize("posterior", ["deterministic", "gaussian", "universal"])
@pytest.mark.parametrize("prior", ["gaussian", "swiss-roll"])
def test_every_prior_and_posterior_trains(aae, tmp_path: Path, prior: str, posterior: str) -> None:
    out = tmp_path / "p.h5"
    res = aae("train", "--epochs", "1", "--prior", prior, "--posterior", posterior, "--z-dim", "2",
              "--out", out, "--limit", "100", "--hidden", "32", "--set", "disc_hidden=[16]", "--json")
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert np.isfinite(rec["reconstruction"]) and np.isfinite(rec["generator"])


def test_prior_from_file_is_kept_in_the_checkpoint(aae, tmp_path: Path) -> None:
    samples = tmp_path / "ring.npy"
    theta = np.random.default_rng(0).uniform(0, 2 * np.pi, 1000)
    np.save(samples, np.stack([np.cos(theta), np.sin(theta)], 1).astype(np.float32))
    out = tmp_path / "ring.h5"
    res = aae("train", "--epochs", "1", "--prior", samples, "--z-dim", "2", "--out", out,
              "--limit", "100", "--hidden", "32", "--set", "disc_hidden=[16]")
    assert res.exit_code == 0, res.output
    samples.unlink()  # the model must not need the file any more
    assert aae("sample", out, "--n", "4", "--out", tmp_path / "g.png").exit_code == 0


def test_user_array_dataset(aae, tmp_path: Path) -> None:
    data = tmp_path / "blobs.npy"
    np.save(data, np.random.default_rng(0).random((200, 8, 8), dtype=np.float32))
    out = tmp_path / "u.h5"
    res = aae("train", "--dataset", data, "--epochs", "1", "--out", out, "--hidden", "16",
              "--set", "disc_hidden=[8]", "--z-dim", "2", "--batch-size", "20")
    assert res.exit_code == 0, res.output
    assert load_checkpoint(out).data["image_shape"] == [1, 8, 8]


def test_default_output_goes_under_runs(aae, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = aae("train", "--epochs", "1", *TINY, "--json")
    assert res.exit_code == 0, res.output
    path = Path(json.loads(res.stdout)["checkpoint"])
    assert path.parent == Path("runs") and path.exists()


@pytest.mark.parametrize(("args", "expected"), [
    (["--variant", "nope"], "valid variants: "),
    (["--prior", "banana"], "valid priors: gaussian"),
    (["--posterior", "magic"], "valid posteriors: deterministic"),
    (["--dataset", "imagenet"], "mnist"),
    (["--limit", "99999"], "99999"),
    (["--set", "z_dim=abc"], "'z_dim' must be int"),
    (["--set", "wings=2"], "unknown setting 'wings'"),
    (["--prior", "mixture", "--z-dim", "8"], "--z-dim 2"),
    (["--device", "cuda:0"], "cuda"),
    (["--config", "/nonexistent.toml"], "does not exist"),
    (["--time-limit", "2 hours"], "--time-limit must be a duration"),
    (["--time-limit", "0s"], "more than zero"),
])
def test_bad_train_input(aae, tmp_path: Path, args: list[str], expected: str) -> None:
    if args[0] == "--device":
        import torch

        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
    res = aae("train", "--epochs", "1", "--out", tmp_path / "x.h5", "--hidden", "16", *args)
    assert expected in one_line_error(res)
    assert not (tmp_path / "x.h5").exists()


def test_user_file_of_wrong_shape(aae, tmp_path: Path) -> None:
    bad = tmp_path / "flat.npy"
    np.save(bad, np.zeros(50, dtype=np.float32))
    res = aae("train", "--dataset", bad, "--epochs", "1", "--out", tmp_path / "x.h5")
    one_line_error(res)


def test_unwritable_output_is_reported_before_training(aae, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    res = aae("train", "--epochs", "1", "--out", blocker / "sub" / "x.h5", *TINY)
    assert "cannot create folder" in one_line_error(res)


def test_missing_checkpoint_for_sample(aae, tmp_path: Path) -> None:
    assert "does not exist" in one_line_error(aae("sample", tmp_path / "none.h5"))


def test_log_progress_lines_within_a_long_epoch(capsys) -> None:
    """In a log (no terminal) a slow epoch prints a plain line at most every log_every seconds, never after
    its last minibatch, and nothing when quiet."""
    from aae_cli.cli.progress import TrainProgress

    def run(log_every: float, quiet: bool = False) -> list[str]:
        with TrainProgress(7, quiet=quiet, log_every=log_every) as prog:
            prog.epoch_start(3, 4)
            for i in range(1, 5):
                prog.step(i, 4)
        return [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]

    assert [ln.split(",")[0] for ln in run(0.0)] == [f"epoch 3/7: {i}/4 minibatches" for i in (1, 2, 3)]
    assert run(3600.0) == []
    assert run(0.0, quiet=True) == []


def test_result_table_prints_values_verbatim(capsys) -> None:
    # a value that looks like rich markup (a list of names, a user's file name) is printed, not parsed
    from aae_cli.cli.common import print_result

    print_result("t", {"data": "[bold]mine[/bold].npz"}, False)
    assert "[bold]mine[/bold].npz" in capsys.readouterr().out
