"""Nothing lost: Ctrl-C saves an exactly resumable checkpoint; kill -9 at any moment leaves a loadable one."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aae_cli.checkpoint import load_checkpoint
from tests.test_checkpoint import assert_same_weights

ARGS = ["--limit", "2000", "--hidden", "128,128", "--set", "disc_hidden=[32]", "--batch-size", "20"]


def start(out: Path, epochs: int, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "aae_cli", "train", *ARGS, "--epochs", str(epochs),
                             "--out", str(out), *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)


def wait_for_training(proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until the first epoch line: the signal handlers are installed and training is under way."""
    deadline = time.time() + timeout
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("epoch 1/") or time.time() > deadline:
            return
    raise AssertionError("training ended before its first epoch line")


def test_ctrl_c_saves_and_resume_is_exact(tmp_path: Path, aae) -> None:
    ref, cut = tmp_path / "ref.h5", tmp_path / "cut.h5"
    assert aae("train", *ARGS, "--epochs", "3", "--out", ref).exit_code == 0
    proc = start(cut, 3)
    wait_for_training(proc)
    time.sleep(random.uniform(0.0, 0.3))
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived (machine too fast for this test)")
    assert proc.returncode == 130, out
    assert "interrupted: saved" in out and "Traceback" not in out
    ck = load_checkpoint(cut)
    assert ck.epoch < 3
    res = aae("train", "--resume", cut)
    assert res.exit_code == 0, res.output
    assert_same_weights(ref, cut, "after Ctrl-C and resume")


def test_time_limit_saves_and_resume_is_exact(tmp_path: Path, aae) -> None:
    """A scheduler's slot: --time-limit stops between minibatches, saves, exits 0, and resumes exactly."""
    ref, cut = tmp_path / "ref.h5", tmp_path / "cut.h5"
    assert aae("train", *ARGS, "--epochs", "3", "--out", ref).exit_code == 0
    res = aae("train", *ARGS, "--epochs", "3", "--out", cut, "--time-limit", "1s", "--json")
    assert res.exit_code == 0, res.output
    result = json.loads(res.output.strip().splitlines()[-1])
    if result["finished"]:
        pytest.skip("the run finished within the time limit (machine too fast for this test)")
    ck = load_checkpoint(cut)
    assert "time limit reached: saved" in res.output and ck.epoch < 3
    assert (result["epoch"], result["minibatches"]) == (ck.epoch, ck.batch)
    res = aae("train", "--resume", cut, "--json")
    assert res.exit_code == 0 and json.loads(res.output.strip().splitlines()[-1])["finished"], res.output
    assert_same_weights(ref, cut, "after --time-limit and resume")


def kill_repeatedly(tmp_path: Path, aae, times: int, seed: int) -> None:
    out = tmp_path / "run.h5"
    rng = random.Random(seed)
    kills = 0
    for _ in range(times):
        proc = start(out, 50, *(["--resume", str(out)] if out.exists() else []))
        if not out.exists():
            wait_for_training(proc)
        time.sleep(rng.uniform(0.5, 3.0))
        proc.kill()
        proc.wait()
        kills += 1
        if out.exists():
            load_checkpoint(out)  # never half-written
    assert kills == times and out.exists()
    res = aae("train", "--resume", out, "--epochs", str(load_checkpoint(out).epoch + 1))
    assert res.exit_code == 0, res.output


def test_kill_9_at_random_moments_never_breaks_the_checkpoint(tmp_path: Path, aae) -> None:
    kill_repeatedly(tmp_path, aae, 4, seed=0)


@pytest.mark.slow
def test_kill_9_many_times(tmp_path: Path, aae) -> None:
    kill_repeatedly(tmp_path, aae, 40, seed=1)


def test_divergence_stops_with_the_phase_named(aae, tmp_path: Path) -> None:
    out = tmp_path / "div.h5"
    res = aae("train", "--epochs", "2", "--limit", "200", "--hidden", "16", "--set", "disc_hidden=[8]",
              "--set", "optimizer=sgd", "--set", "lr_recon=1e12", "--set", "output=linear", "--out", out)
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert "diverged in epoch 1: the reconstruction phase loss is" in lines[-1]
    assert "nothing from this epoch was saved" in lines[-1]
    assert "Traceback" not in res.output
    assert not out.exists()  # nothing good to keep yet: no checkpoint is written from a diverged state
    assert not out.with_suffix(".jsonl").exists()  # nor an empty history beside it


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 2 MiB file system of its own (tmpfs); skipped where mounting is not allowed."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=False)


def test_full_disk_is_reported_before_training(aae, small_disk: Path) -> None:
    res = aae("train", "--epochs", "1", "--limit", "100", "--out", small_disk / "big.h5")  # 1000-unit nets
    assert res.exit_code == 2 and "not enough free space" in res.output
    assert len(res.output.strip().splitlines()) == 1 and not list(small_disk.iterdir())


def test_failed_save_on_a_full_disk_keeps_the_old_checkpoint(aae, small_disk: Path) -> None:
    out = small_disk / "run.h5"
    flags = ["--limit", "100", "--hidden", "16", "--set", "disc_hidden=[8]", "--z-dim", "2"]
    assert aae("train", "--epochs", "1", "--out", out, *flags).exit_code == 0
    before = out.read_bytes()
    filler = small_disk / "filler"
    with open(filler, "wb", buffering=0) as f:  # fill the disk to the last block
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    res = aae("train", "--resume", out, "--epochs", "2")
    assert res.exit_code == 2 and ("free space" in res.output or "cannot write checkpoint" in res.output)
    assert out.read_bytes() == before
    assert not [p for p in small_disk.iterdir() if p.name.startswith(".")]
