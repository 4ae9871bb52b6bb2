"""HDF5 checkpoints: round trip, exact resume, atomic writes, refusal of bad files."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from aae_cli.checkpoint import FORMAT_VERSION, load_checkpoint, save_checkpoint, sign_file
from aae_cli.errors import CheckpointError
from tests.conftest import TINY


def weights(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        out = {}
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset)
                     and name.startswith(("nets/", "optim/", "rng/")) else None)
        return out


def assert_same_weights(a_path: Path, b_path: Path, what: str) -> None:
    """Networks, optimizer states and RNG states of two checkpoints are bitwise equal."""
    a, b = weights(a_path), weights(b_path)
    assert a.keys() == b.keys() and a
    for k in a:
        assert np.array_equal(a[k], b[k]), f"{k} differs {what}"


def test_checkpoint_holds_everything_needed(tiny_run: Path) -> None:
    ck = load_checkpoint(tiny_run)
    assert ck.epoch == 2 and ck.step == 2 * 6
    assert ck.config["variant"] == "unsupervised" and ck.config["hidden"] == [64, 64]
    assert ck.data["dataset"] == "mnist" and ck.data["limit"] == 300
    assert ck.data["image_shape"] == [1, 28, 28]
    assert [h["epoch"] for h in ck.history] == [1, 2]
    assert set(ck.nets) == {"encoder", "decoder", "discriminator"}
    assert set(ck.optim) == {"reconstruction", "discriminator", "generator"}
    assert {"torch_cpu", "generator"} <= set(ck.rng)
    with h5py.File(tiny_run, "r") as f:
        assert f.attrs["format"] == "aae-checkpoint" and f.attrs["format_version"] == FORMAT_VERSION
    lines = tiny_run.with_suffix(".jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]


def test_round_trip_is_lossless(tiny_run: Path, tmp_path: Path) -> None:
    ck = load_checkpoint(tiny_run)
    copy = tmp_path / "copy.h5"
    save_checkpoint(copy, ck)
    assert len(weights(tiny_run)) > 10
    assert_same_weights(tiny_run, copy, "after a save/load round trip")


@pytest.mark.parametrize("model", [
    ["--posterior", "gaussian"],
    # a fourth phase with random shifts and an adversarial move: its draws and optimizer resume too
    ["--variant", "unsup-cluster", "--clusters", "4", "--set", "consistency=0.5",
     "--set", "consistency_views=adversarial"],
], ids=["gaussian", "cluster-consistency"])
def test_resume_is_exact(aae, tmp_path: Path, model: list[str]) -> None:
    straight, split = tmp_path / "straight.h5", tmp_path / "split.h5"
    for args in (["--epochs", "4", "--out", straight], ["--epochs", "2", "--out", split]):
        assert aae("train", *args, *TINY, *model).exit_code == 0
    res = aae("train", "--resume", split, "--epochs", "4")
    assert res.exit_code == 0, res.output
    assert_same_weights(straight, split, "after resume")
    logs = [[json.loads(x) for x in run.with_suffix(".jsonl").read_text().splitlines()]
            for run in (straight, split)]
    assert len(logs[1]) == 4
    # the lines the resume rewrote from the checkpoint keep the order their epoch wrote them in
    assert [list(rec) for rec in logs[1]] == [list(rec) for rec in logs[0]]


def test_a_checkpoint_older_than_a_setting_resumes_as_it_ran(aae, tmp_path: Path) -> None:
    # consistency_target came after sessions 6-7's checkpoints, which ran with a shifted target: without
    # the key, a checkpoint must resume with that, not with the new default
    model = [*TINY, "--variant", "unsup-cluster", "--clusters", "4", "--set", "consistency=0.5"]
    straight, old = tmp_path / "straight.h5", tmp_path / "old.h5"
    for epochs, out in (("3", straight), ("2", old)):
        assert aae("train", "--epochs", epochs, "--out", out, *model, "--set",
                   "consistency_target=shift").exit_code == 0
    ck = load_checkpoint(old)
    del ck.config["consistency_target"]
    save_checkpoint(old, ck)
    res = aae("train", "--resume", old, "--epochs", "3")
    assert res.exit_code == 0, res.output
    assert load_checkpoint(old).config["consistency_target"] == "shift"
    assert_same_weights(straight, old, "after resuming a checkpoint without consistency_target")


def test_resume_refuses_to_change_the_model(aae, tiny_run: Path) -> None:
    res = aae("train", "--resume", tiny_run, "--epochs", "3", "--z-dim", "4")
    assert res.exit_code != 0
    assert "cannot change z_dim when resuming" in res.output


def test_existing_checkpoint_is_not_overwritten(aae, tiny_run: Path) -> None:
    before = tiny_run.read_bytes()
    res = aae("train", "--epochs", "1", "--out", tiny_run, *TINY)
    assert res.exit_code != 0 and "exists" in res.output
    assert tiny_run.read_bytes() == before


def test_failed_write_keeps_the_old_checkpoint(tiny_run: Path) -> None:
    before = tiny_run.read_bytes()
    ck = load_checkpoint(tiny_run)
    ck.nets["encoder"]["bad"] = object()  # cannot be stored: the write fails half-way
    with pytest.raises(Exception):  # noqa: B017 - any failure will do, the point is what is left behind
        save_checkpoint(tiny_run, ck)
    assert tiny_run.read_bytes() == before
    assert not list(tiny_run.parent.glob(".*.tmp-*"))


@pytest.mark.parametrize("kind", ["missing", "empty", "text", "truncated", "foreign", "newer", "external",
                                  "altered"])
def test_bad_checkpoints_get_one_clear_error(kind: str, tiny_run: Path, tmp_path: Path, aae) -> None:
    bad = tmp_path / f"{kind}.h5"
    if kind == "empty":
        bad.write_bytes(b"")
    elif kind == "text":
        bad.write_text("hello")
    elif kind == "truncated":
        bad.write_bytes(tiny_run.read_bytes()[:5000])
    elif kind == "foreign":
        with h5py.File(bad, "w") as f:
            f["x"] = np.zeros(3)
    elif kind == "newer":
        bad.write_bytes(tiny_run.read_bytes())
        sign_file(bad, version=FORMAT_VERSION + 1)
    elif kind == "external":  # a validly signed file that points elsewhere: the link itself is refused
        bad.write_bytes(tiny_run.read_bytes())
        with h5py.File(bad, "a") as f:
            f["nets/evil"] = h5py.ExternalLink("/etc/passwd", "/")
        sign_file(bad)
    elif kind == "altered":
        data = bytearray(tiny_run.read_bytes())
        data[-100] ^= 0xFF
        bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError):
        load_checkpoint(bad)
    res = aae("sample", bad, "--out", tmp_path / "g.png")
    assert res.exit_code == 2
    assert "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1, res.output
    if kind == "newer":
        assert f"version {FORMAT_VERSION + 1}" in res.output
    if kind == "external":
        assert "link" in res.output
    if kind in ("altered", "truncated"):
        assert "damaged" in res.output


def test_model_rebuilt_from_checkpoint_matches(tiny_run: Path) -> None:
    from aae_cli.engine.model_io import load_model

    model, ck = load_model(tiny_run, torch.device("cpu"))
    for name, net in model.nets.items():
        for k, v in net.state_dict().items():
            assert torch.equal(v, ck.nets[name][k])


def test_a_checkpoint_from_another_kind_of_device_resumes(tiny_run: Path, aae) -> None:
    """A CUDA run holds a 16-byte Philox generator state, which a CPU generator cannot take: resuming it
    on the CPU starts a new stream, says so, and trains on (no traceback)."""
    ck = load_checkpoint(tiny_run)
    ck.rng["generator"] = torch.tensor([7, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0], dtype=torch.uint8)
    save_checkpoint(tiny_run, ck)
    res = aae("train", "--resume", tiny_run, "--epochs", "3", "--device", "cpu")
    assert res.exit_code == 0, res.output
    assert "trained on another kind of device" in res.output
    assert load_checkpoint(tiny_run).epoch == 3


def test_average_weights_script(tiny_run: Path, aae, tmp_path: Path) -> None:
    """scripts/average_weights.py: the mean of a run's states, loadable; another recipe is refused."""
    import os
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "average_weights.py"

    def average(*paths: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(script), *map(str, paths)], capture_output=True, text=True,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})

    later = tmp_path / "later.h5"
    later.write_bytes(tiny_run.read_bytes())
    assert aae("train", "--resume", later, "--epochs", "3").exit_code == 0  # the same run, one epoch on
    done = average(tmp_path / "avg.h5", tiny_run, later)
    assert done.returncode == 0, done.stderr
    a, b, avg = (load_checkpoint(p) for p in (tiny_run, later, tmp_path / "avg.h5"))
    w = "decoder", next(k for k in a.nets["decoder"] if k.endswith("weight"))
    assert not torch.equal(a.nets[w[0]][w[1]], b.nets[w[0]][w[1]])
    assert torch.allclose(avg.nets[w[0]][w[1]], (a.nets[w[0]][w[1]] + b.nets[w[0]][w[1]]) / 2)
    assert avg.epoch == 3
    other = tmp_path / "other.h5"
    assert aae("train", "--epochs", "1", "--out", other, *TINY, "--z-dim", "3").exit_code == 0
    refused = average(tmp_path / "x.h5", tiny_run, other)
    assert refused.returncode != 0 and "not from the same run" in refused.stderr
    assert not (tmp_path / "x.h5").exists()
