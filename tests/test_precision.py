"""--set precision=bf16|tf32: reduced precision is an option, never a silent default."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from aae_cli.checkpoint import load_checkpoint
from aae_cli.reproduce import TARGETS, config_mismatch, target_config
from tests.conftest import TINY, one_line_error


def test_bf16_autocast_trains_close_to_fp32_but_not_equal(aae, tmp_path: Path):
    runs = {}
    for prec in ("fp32", "bf16"):
        out = tmp_path / f"{prec}.h5"
        res = aae("train", "--epochs", "2", "--out", out, *TINY, "--set", f"precision={prec}")
        assert res.exit_code == 0, res.output
        runs[prec] = load_checkpoint(out)
    assert runs["fp32"].config["precision"] == "fp32"  # the default, recorded
    w32 = runs["fp32"].nets["encoder"]
    w16 = runs["bf16"].nets["encoder"]
    diffs = [float(np.abs(np.asarray(w32[k]) - np.asarray(w16[k])).max()) for k in w32]
    assert max(diffs) > 0  # autocast changed the arithmetic
    for key in ("reconstruction", "val_recon"):
        a, b = runs["fp32"].history[-1][key], runs["bf16"].history[-1][key]
        assert np.isfinite(b) and abs(a - b) / abs(a) < 0.05, (key, a, b)


def test_precision_may_change_on_resume(aae, tiny_run: Path):
    res = aae("train", "--resume", tiny_run, "--epochs", "3", "--set", "precision=bf16")
    assert res.exit_code == 0, res.output
    assert load_checkpoint(tiny_run).config["precision"] == "bf16"


def test_bad_precision(aae, tmp_path: Path):
    line = one_line_error(aae("train", "--out", tmp_path / "a.h5", *TINY, "--set", "precision=fp16"))
    assert "unknown precision 'fp16'" in line
    line = one_line_error(aae("train", "--out", tmp_path / "b.h5", *TINY, "--set", "precision=tf32",
                              "--device", "cpu"))
    assert "CUDA" in line
    assert not (tmp_path / "b.h5").exists()


def test_checkpoint_from_before_a_new_setting_still_matches_its_target():
    cfg = target_config(TARGETS["table2-mnist-100"], 0)
    stored = dataclasses.asdict(cfg)
    del stored["precision"]  # written before the setting existed
    assert config_mismatch(stored, cfg) == []
    stored["labels"] = "1000"
    assert config_mismatch(stored, cfg) == ["labels"]
